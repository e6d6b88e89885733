"""typer wiring: options, help texts, and one call per command (a body from agentgate.commands,
its result handed to agentgate.output; `run` and `hook AGENT` go to agentgate.hotpath).

Human text goes to stderr; ``--json`` puts data (or an error object) on stdout. Exit codes are
agentgate.errors'. The options agentgate reads on its fast paths too come from agentgate.grammar,
so typer and the fast paths read them alike. What one invocation was told (``--policy``,
``--json``) lives on click's context object, never in module state.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core

try:  # typer vendors click as typer._click since 0.2x: subclass and catch the classes it uses
    from typer import _click as click
    from typer._click.globals import get_current_context
except ImportError:  # an older typer, on click itself
    import click  # type: ignore[no-redef]
    from click import get_current_context  # type: ignore[no-redef]

from . import __version__, commands, hotpath, output
from .errors import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_VERIFY_FAILED,
    AgentgateError,
    UsageError,
)
from .grammar import (
    AGENT,
    HELP_NAMES,
    HOOK_WAIT,
    JSON,
    POLICY,
    RUN_OPTIONS,
    WAIT,
    Opt,
    bad_value,
    no_policy_reason,
)
from .integrations.agents import AGENTS, NAMES
from .paths import json_wanted

if TYPE_CHECKING:
    from .gate import RequestView

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- help texts


def summary_of(help_text: str | None) -> str:
    """A command's one-line summary: the first sentence of its help, whole (click would cut it
    to fit the listing's width)."""
    para = " ".join((help_text or "").strip().split("\n\n")[0].split())
    for i in range(len(para) - 1):
        if para[i] in ".!?" and para[i + 1] == " " and i + 2 < len(para) and \
                (para[i + 2].isupper() or para[i + 2] == "`"):
            return para[:i + 1]
    return para


def refuse_unusable_options(ctx: click.Context, words: list[str]) -> None:
    """Before a command (or a group's callback) runs, a usage error (exit 2) for an option
    that would be misread: a value that is empty or is one of agentgate's own options (see
    agentgate.grammar.bad_value), and ``--policy``, in any position, for a command ``words``
    that does not read the policy (agentgate.grammar.NO_POLICY says why)."""
    own = _all_options(ctx.find_root().command)
    for p in ctx.command.params:
        if p.param_type_name != "option" or getattr(p, "is_flag", False) or p.name is None \
                or ctx.get_parameter_source(p.name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params.get(p.name)
        if value == "" and p.name == "wait" and isinstance(ctx.command, RunCommand):
            continue  # `run --wait -- CMD`: no DURATION (RunCommand.parse_args)
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, str) and (bad := bad_value(v, own)) is not None:
                raise click.exceptions.UsageError(f"{p.opts[0]} needs a value, not {bad}", ctx)
    why = no_policy_reason(words)
    inv = ctx.find_object(Invocation)
    if why is not None and (ctx.params.get("policy") or (inv is not None and inv.global_policy)):
        raise click.exceptions.UsageError(f"`agentgate {' '.join(words)}` does not read a policy, so "
                               f"{POLICY.name} would be ignored: {why}", ctx)


def _all_options(cmd: click.Command) -> set[str]:
    """Every option name of ``cmd`` and of the commands below it: agentgate's own options."""
    names = {o for p in cmd.params if p.param_type_name == "option"
             for o in (*p.opts, *p.secondary_opts)}
    for sub in getattr(cmd, "commands", {}).values():
        names |= _all_options(sub)
    return names


def _words(ctx: click.Context) -> list[str]:
    """The command's words below the program name (``["log", "summary"]``)."""
    names = []
    c: click.Context | None = ctx
    while c is not None and c.parent is not None:
        names.append(c.info_name or "")
        c = c.parent
    return names[::-1]


class Command(typer.core.TyperCommand):
    """A command whose usage line reads like the README (``agentgate run [OPTIONS] -- CMD
    [ARG...]``, arguments by their metavar, no type labels) and whose summary is never cut."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary_of(self.help)

    def invoke(self, ctx: click.Context) -> Any:
        refuse_unusable_options(ctx, _words(ctx))
        return super().invoke(ctx)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if p.param_type_name == "argument":
                pieces.append(_arg_name(p))
        return pieces

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        args = [(_arg_name(p), getattr(p, "help", None) or "") for p in self.get_params(ctx)
                if p.param_type_name == "argument"]
        opts = [rv for p in self.get_params(ctx)
                if p.param_type_name == "option" and (rv := p.get_help_record(ctx)) is not None]
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


class RunCommand(Command):
    """`run`: its --wait takes a DURATION as ``--wait=D`` or ``--wait D``, or none (``--wait --
    CMD``): an optional value, which typer has no spelling for (grammar.WAIT, read the same way
    on the fast path)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """A --wait followed by an option (or by nothing) has no DURATION, as the fast path
        reads it: click would take that option for the value."""
        args = list(args)
        takes = {o.name for o in RUN_OPTIONS if o.metavar is not None and not o.optional}
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):
            if args[i] == WAIT.name and (i + 1 == len(args) or args[i + 1].startswith("-")):
                args[i] = WAIT.name + "="
            i += 2 if args[i] in takes else 1
        return super().parse_args(ctx, args)


def _arg_name(p: click.Parameter) -> str:
    name = p.metavar or (p.name or "ARG").upper()
    return name if p.required or name.startswith("[") else f"[{name}]"


class Group(typer.core.TyperGroup):
    """A command group whose summary is never cut (see :class:`Command`), and whose options
    (and callback) are checked as a command's are."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary_of(self.help)

    def invoke(self, ctx: click.Context) -> Any:
        refuse_unusable_options(ctx, _words(ctx))  # before the callback (and any subcommand)
        return super().invoke(ctx)


app = typer.Typer(
    name="agentgate",
    cls=Group,
    help="A fail-closed, human-in-the-loop checkpoint in front of the commands an AI agent runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": list(HELP_NAMES)},
)
log_app = typer.Typer(cls=Group, help=(
    "Read the audit log, or summarize or verify it. Filters combine; with --json the matching "
    "lines are printed as they are stored (JSONL)."), invoke_without_command=True,
    no_args_is_help=False, subcommand_metavar="[summary|verify] [ARGS]...")
policy_app = typer.Typer(cls=Group, help="Show the rules in force, validate policy files, trust a repo-local one, or forget a standing exception.",
                         no_args_is_help=True)
hook_app = typer.Typer(cls=Group, help="Answer an agent's pre-tool hook, or install one.",
                       no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(policy_app, name="policy")
service_app = typer.Typer(cls=Group, help=(
    "Protected mode: the service that owns the policy, the ledger and the audit log as its own "
    "user, so that an agent cannot approve itself or relax the policy."), no_args_is_help=True)
app.add_typer(hook_app, name="hook")
app.add_typer(service_app, name="service")


def _option(opt: Opt, *extra: str) -> Any:
    """The typer declaration of one of agentgate's own options (agentgate.grammar)."""
    return typer.Option(opt.name, *extra, metavar=opt.metavar, help=opt.help)


JsonOpt = Annotated[bool, _option(JSON)]
PolicyOpt = Annotated[list[str] | None, _option(POLICY)]
# For the commands of agentgate.grammar.NO_POLICY: declared (hidden) only so that --policy after
# their name is refused with the reason, as it is before it (see refuse_unusable_options).
NoPolicyOpt = Annotated[list[str] | None, typer.Option(POLICY.name, metavar=POLICY.metavar,
                                                       hidden=True)]
AgentOpt = Annotated[str | None, _option(AGENT)]


# --------------------------------------------------------------------------- plumbing


class Invocation:
    """What this command line said about agentgate itself: the ``--policy`` values (before
    the command name, then the one in force) and whether JSON was asked for, at any level."""

    def __init__(self) -> None:
        self.global_policy: list[str] = []
        self.policy: str | None = None
        self.json = False

    def set_policy(self, after: list[str] | None) -> None:
        """``--policy`` is one option, before or after the command name: given twice (with any
        values) or empty, it is a usage error, never a silent choice."""
        given = [*self.global_policy, *(after or [])]
        if len(given) > 1:
            raise UsageError(f"{POLICY.name} was given {len(given)} times",
                             "give it once, before or after the command name")
        if given and not given[0]:
            raise UsageError(f"{POLICY.name} needs a path, not an empty string")
        self.policy = given[0] if given else None


def _invocation() -> Invocation:
    inv: Invocation = get_current_context().find_root().ensure_object(Invocation)
    return inv


def handled(fn: F) -> F:
    """Turn AgentgateError into one stderr line (plus JSON) and its exit code; take the
    command's own ``--json`` and ``--policy`` (see :meth:`Invocation.set_policy`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inv = _invocation()
        if "json_" in kwargs:  # `log --json verify` counts too: either level may ask for JSON
            inv.json = inv.json or json_wanted(kwargs["json_"])
        try:
            if "policy" in kwargs:
                inv.set_policy(kwargs["policy"])
            return fn(*args, **kwargs)
        except AgentgateError as e:
            raise typer.Exit(output.error(e, inv.json)) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        output.version(f"agentgate {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    policy: PolicyOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """A fail-closed, human-in-the-loop checkpoint in front of the commands an AI agent runs."""
    inv = _invocation()
    inv.global_policy = list(policy or [])
    try:
        inv.set_policy(None)
    except AgentgateError as e:
        raise typer.Exit(output.error(e, inv.json)) from None


# Everything after CMD belongs to it: options are agentgate's only before the first word that
# is not one of them (or before `--`); an unknown option there is a usage error, never a command.
_COMMAND_LINE = {"allow_interspersed_args": False}
command = functools.partial(app.command, cls=Command)
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")]


# --------------------------------------------------------------------------- commands


@command(cls=RunCommand, context_settings=_COMMAND_LINE)
@handled
def run(
    cmd: Annotated[list[str], typer.Argument(metavar="-- CMD [ARG...]", help="The command to run.")],
    json_: JsonOpt = False,
    agent: AgentOpt = None,
    policy: PolicyOpt = None,
    wait: Annotated[str | None, typer.Option(WAIT.name, metavar=WAIT.metavar,
                                             help=WAIT.help)] = None,
) -> None:
    """Run CMD if the policy allows it, else hold it for a human (exit 75) or deny it (exit 77).

    CMD runs directly, without a shell, and agentgate exits with its exit code. With --wait, a
    held CMD waits for the human's decision."""
    inv = _invocation()
    waiting: str | bool | None = wait or (wait is not None) or None  # "": --wait, no DURATION
    raise typer.Exit(hotpath.run_command(cmd, policy=inv.policy, as_json=inv.json, agent=agent,
                                         wait=waiting))


@command(context_settings=_COMMAND_LINE)
@handled
def check(
    cmd: Annotated[list[str], typer.Argument(metavar="-- CMD [ARG...]", help="The command to check.")],
    json_: JsonOpt = False,
    script: Annotated[bool, typer.Option(
        "--script", help="Treat the single CMD argument as a shell command string.")] = False,
    policy: PolicyOpt = None,
) -> None:
    """Show the decision for CMD and the rules behind it, running and recording nothing."""
    inv = _invocation()
    raise typer.Exit(output.check(commands.check(inv.policy, cmd, script=script), inv.json))


def confirmation(yes: bool, verb: str, done: str) -> Callable[[RequestView, str], None]:
    """pipx's model: the request is shown; --yes skips the question; no terminal, no
    decision; the default answer is No (``done``: "approved", ...)."""

    def confirm(view: RequestView, what: str = "") -> None:
        output.approval_prompt(view)
        if yes:
            return
        if not sys.stdin.isatty():
            raise AgentgateError(f"refusing to {verb} without confirmation: no terminal to ask on",
                                 f"pass --yes to {verb} non-interactively", exit_code=EXIT_REFUSED)
        question = f"{verb.capitalize()} this command{' ' + what if what else ''}?"
        if not typer.confirm(question, default=False, err=True):
            raise AgentgateError(f"not {done}", exit_code=EXIT_REFUSED)

    return confirm


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
_SECRET_STDIN_HELP = ("Protected mode: read the approver secret from the first line of standard "
                      "input instead of the terminal{yes}, and the authenticator code, when one "
                      "is enrolled, from the second.")
SecretStdinOpt = Annotated[bool, typer.Option(
    "--secret-stdin", help=_SECRET_STDIN_HELP.format(yes=" (with --yes)"))]
ForgetSecretStdinOpt = Annotated[bool, typer.Option(  # forget asks for no confirmation
    "--secret-stdin", help=_SECRET_STDIN_HELP.format(yes=""))]


@command()
@handled
def approve(
    request_id: IdArg,
    ttl: Annotated[str | None, typer.Option(
        "--ttl", metavar="DURATION", help="How long the grant stays usable (default: the "
                                          "approval_ttl of the policy that made the request).")] = None,
    uses: Annotated[int | None, typer.Option(
        "--uses", metavar="N", help="Let the very same command run N times (in this directory), "
                                    "within --ttl or --for; each run is audited.")] = None,
    for_: Annotated[str | None, typer.Option(
        "--for", metavar="DURATION", help="Let the very same command run any number of times "
                                          "(in this directory) for DURATION, like sudo's "
                                          "timestamp; each run is audited.")] = None,
    remember: Annotated[bool, typer.Option(
        "--remember", help="Also never ask again for this exact command in this directory: a "
                           "standing exception written into the policy file ($AGENTGATE_POLICY, "
                           "else the user policy; in protected mode the service's own file, "
                           "with the approver secret); it relaxes that ask rule only, never a "
                           "deny. See `agentgate policy show`, `policy forget`.")] = False,
    yes: YesOpt = False,
    secret_stdin: SecretStdinOpt = False,
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Approve a pending request, so that the very same command may run once (or as --uses,
    --for or --remember say).

    In protected mode this asks for the approver secret (on the terminal, never in argv or
    the environment)."""
    inv = _invocation()
    grant = commands.Grant.build(ttl, uses, for_)
    done = commands.approve(request_id, grant,
                            confirmation(yes, "approve", "approved"),
                            secret=lambda: read_secret(secret_stdin),
                            code=lambda: read_secret(secret_stdin, "Authenticator code: "),
                            remember=remember)
    output.approved(done.request, done.now, inv.json, done.remembered, done.exception)


def read_secret(from_stdin: bool, prompt: str = "Approver secret: ") -> str:
    """The approver secret: the first line of standard input, or typed on the controlling
    terminal without echo. Never from argv or the environment."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise AgentgateError("--secret-stdin: standard input holds no secret",
                                 exit_code=EXIT_REFUSED)
        return line.rstrip("\r\n")
    import getpass

    try:
        with open("/dev/tty", "r+b", buffering=0):
            pass
    except OSError:
        raise AgentgateError("no terminal to read the approver secret from",
                             "run it in a terminal, or pass --secret-stdin", exit_code=EXIT_REFUSED) from None
    return getpass.getpass(prompt)


@command()
@handled
def deny(
    request_id: IdArg,
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT",
                                               help="Why; shown to the agent.")] = None,
    yes: YesOpt = False,
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Deny a pending request, so that repeats of the command exit 77 with your reason.

    Shows the request and asks for confirmation, like approve (--yes skips it; without a
    terminal it is refused)."""
    inv = _invocation()
    req = commands.deny(request_id, reason, confirmation(yes, "deny", "denied"))
    output.denied(req, reason, inv.json)


@command()
@handled
def revoke(
    request_id: IdArg,
    yes: YesOpt = False,
    secret_stdin: SecretStdinOpt = False,
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Withdraw an approved grant that still has runs, or lift a human denial (the next try
    asks a human again).

    In protected mode lifting a denial asks for the approver secret."""
    inv = _invocation()
    req = commands.revoke(request_id, confirmation(yes, "revoke", "revoked"),
                          secret=lambda: read_secret(secret_stdin),
                          code=lambda: read_secret(secret_stdin, "Authenticator code: "))
    output.revoked(req, inv.json)


@command()
@handled
def pending(json_: JsonOpt = False, policy: NoPolicyOpt = None) -> None:
    """List open approval requests, newest first (and, but with --json, the used grants whose
    call the agent never reported as run)."""
    inv = _invocation()
    found = commands.pending()
    output.pending(found.requests, found.now, inv.json, found.unreported)


@command()
@handled
def show(request_id: IdArg, json_: JsonOpt = False, policy: NoPolicyOpt = None) -> None:
    """Show one request with its full history, and what the agent reported of each hook call
    that used its grant."""
    inv = _invocation()
    output.request(commands.show(request_id), inv.json, commands.hook_uses(request_id))


@command()
@handled
def watch(policy: NoPolicyOpt = None) -> None:
    """A live full-screen view of pending requests and recent decisions, with keys to approve,
    deny, revoke and open details.

    Keys: up/down (or j/k) select, a approve (asks y/N), d deny (asks for a reason), r revoke
    a grant or a denial (asks for its id), enter details, q quit. In protected mode approving
    asks for the approver secret."""
    from .watch import watch as live_view

    live_view()


@command()
@handled
def dashboard(
    port: Annotated[int, typer.Option("--port", metavar="N", min=0, max=65535, show_default=False,
                                      help="The port on 127.0.0.1 (default: a free one; in "
                                           "protected mode, dashboard_port in client.toml). "
                                           "In protected mode it counts when the service "
                                           "starts serving; later runs get that same port.")] = 0,
    policy: NoPolicyOpt = None,
) -> None:
    """A web page on 127.0.0.1 to approve and deny pending requests, and read the audit log.

    Prints the URL to open, with a login token in it, as its first line on standard output;
    runs until Ctrl-C. In protected mode the service serves it (login also takes the approver
    secret): this asks the service, prints the URL and exits. Needs the `dashboard` extra
    (Starlette and uvicorn)."""
    from .dashboard import serve

    serve(port, output.to_stdout)


@command()
@handled
def where(json_: JsonOpt = False, policy: PolicyOpt = None) -> None:
    """Show where the policy, ledger and audit log live."""
    inv = _invocation()
    output.where(commands.where(inv.policy), inv.json)


@command()
@handled
def init(
    print_: Annotated[bool, typer.Option("--print", help="Print the starter policy instead of writing it.")] = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Write the starter policy to the user policy path (refuses to overwrite)."""
    if print_:
        output.to_stdout(commands.starter_policy())
    else:
        output.wrote(commands.init())


@command("mcp")
@handled
def mcp(agent: Annotated[str | None, typer.Option(
        AGENT.name, metavar=AGENT.metavar,
        help="Who is asking (else $AGENTGATE_AGENT, else the client's name from its MCP "
             "handshake, as mcp:NAME, else 'mcp').")] = None,
        policy: PolicyOpt = None) -> None:
    """Serve the gate over MCP on stdio: run_command, verify_action, approval_status,
    wait_for_approval."""
    commands.mcp(_invocation().policy, agent)


@command("verify")
@handled
def verify(
    action: Annotated[str, typer.Argument(metavar="ACTION", help="e.g. deploy_production")],
    resource: Annotated[str | None, typer.Argument(
        metavar="[RESOURCE]", help="e.g. vercel.com")] = None,
    attr: Annotated[list[str] | None, typer.Option(
        "--attr", metavar="NAME=VALUE",
        help="An attribute the policy's conditions test, e.g. --attr amount=4000 (repeatable). "
             "true/false are booleans, 12, -3, 0.5, 1e6 numbers, anything else (or a value in "
             "quotes, --attr \"zip='0123'\") a string.")] = None,
    json_: JsonOpt = False,
    agent: AgentOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Checkpoint an action without running anything: exit 0 allowed, 75 approval required, 77 denied.

    An approved request for the same ACTION, RESOURCE, attributes and directory is used up by
    the call that exits 0.
    """
    inv = _invocation()
    outcome = commands.verify(inv.policy, action, resource, agent, attr or [])
    raise typer.Exit(output.verified(outcome, action, resource, inv.json))


# --------------------------------------------------------------------------- policy


@policy_app.command("validate", cls=Command)
@handled
def policy_validate(
    path: Annotated[Path | None, typer.Argument(
        metavar="[PATH]", help="Policy file (default: the policy in force).")] = None,
    json_: JsonOpt = False,
    policy: PolicyOpt = None,
) -> None:
    """Load and validate a policy file, including every rule's examples (exit 0 or 78)."""
    inv = _invocation()
    output.validated(commands.validate(inv.policy, path), inv.json)


@policy_app.command("show", cls=Command)
@handled
def policy_show(json_: JsonOpt = False, policy: PolicyOpt = None) -> None:
    """Show the policy in force: its files with their trust status, every rule and where it
    comes from, the settings and the standing exceptions."""
    inv = _invocation()
    output.policy_shown(commands.policy_show(inv.policy), inv.json)


@policy_app.command("forget", cls=Command)
@handled
def policy_forget(
    exception_id: Annotated[str, typer.Argument(metavar="EXCEPTION_ID",
                                                help="The standing exception's id (exc_...).")],
    secret_stdin: ForgetSecretStdinOpt = False,
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Remove a standing exception (from `approve --remember`) from the policy file.

    In protected mode the service removes it from its own file, and this asks for the approver
    secret."""
    path, gone = commands.policy_forget(exception_id, secret=lambda: read_secret(secret_stdin),
                                        code=lambda: read_secret(secret_stdin,
                                                                 "Authenticator code: "))
    output.forgotten(path, gone.to_dict(), _invocation().json)


@policy_app.command("trust", cls=Command)
@handled
def policy_trust(
    path: Annotated[Path | None, typer.Argument(
        metavar="[PATH]",
        help="A repo-local .agentgate.toml (default: those found from here up to the repo root).")] = None,
    policy: PolicyOpt = None,
) -> None:
    """Trust a repo-local policy as it is now, so that its allow rules and settings apply too."""
    output.trusted(commands.trust(_invocation().policy, path))


# --------------------------------------------------------------------------- log


@log_app.callback()
@handled
def log(
    ctx: typer.Context,
    json_: JsonOpt = False,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DURATION|TIMESTAMP", help="Only events newer than this (e.g. 2h, 2026-11-30T10:00:00Z).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DURATION|TIMESTAMP", help="Only events older than this.")] = None,
    event: Annotated[list[str] | None, typer.Option("--event", metavar="NAME", help="Only this event (repeatable).")] = None,
    request_id: Annotated[str | None, typer.Option("--id", metavar="APPROVAL_ID", help="Only events of this request.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", metavar="RULE_ID", help="Only events decided by this rule.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", metavar="NAME", help="Only events of this agent.")] = None,
    tail: Annotated[int | None, typer.Option("--tail", metavar="N", min=0, help="Only the last N matching events (read from the end of the log).")] = None,
    policy: NoPolicyOpt = None,
) -> None:
    """Read the audit log, or summarize or verify it."""
    if ctx.invoked_subcommand is not None:
        return
    lines = commands.log(since=since, until=until, events=event or [], request_id=request_id,
                         rule=rule, agent=agent, tail=tail, progress=output.progress_lines)
    output.log_lines(lines, _invocation().json)


@log_app.command("summary", cls=Command)
@handled
def log_summary(
    json_: JsonOpt = False,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DURATION|TIMESTAMP", help="Only events newer than this (e.g. 24h).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DURATION|TIMESTAMP", help="Only events older than this.")] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print Markdown tables (e.g. for a CI step summary), with the hash "
                           "chain's status.")] = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Count events over a period, per event, per rule and per agent."""
    inv = _invocation()
    if markdown and inv.json:
        raise UsageError("--markdown and --json are two formats: choose one")
    found = commands.log_summary(since=since, until=until, with_chain=markdown,
                                 progress=output.progress_lines)
    output.log_summary(found.counts, found.chain, as_json=inv.json, markdown=markdown)


@log_app.command("verify", cls=Command)
@handled
def log_verify(json_: JsonOpt = False, policy: NoPolicyOpt = None) -> None:
    """Check the audit log's hash chain and head: exit 0 intact, 1 broken, missing or empty."""
    res = commands.log_verify(output.progress_lines)
    output.log_verified(res, _invocation().json)
    raise typer.Exit(EXIT_OK if res.ok else EXIT_VERIFY_FAILED)


# --------------------------------------------------------------------------- hook


def _hook_command(agent: str) -> Callable[..., None]:
    def answer(policy: PolicyOpt = None,
               wait: Annotated[str | None, _option(HOOK_WAIT)] = None) -> None:
        raise typer.Exit(hotpath.hook_command(agent, _invocation().policy, wait))

    answer.__doc__ = (f"Answer {AGENTS[agent].label} hook: the hook JSON on stdin, the decision "
                      "on stdout. Fails closed: any error blocks the command.")
    return answer


def _add_hook_commands() -> None:
    """`hook claude-code`, `hook codex`, ...: one command per agent of agents.py."""
    for name in NAMES:
        hook_app.command(name, cls=Command)(handled(_hook_command(name)))


_add_hook_commands()


@hook_app.command("install", cls=Command)
@handled
def hook_install(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help=" | ".join(NAMES))],
    user: Annotated[bool, typer.Option(
        "--user/--project",
        help="Install into the user's settings (~/...) instead of this project's (default).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the change as a diff; write nothing.")] = False,
    executable: Annotated[str | None, typer.Option(
        "--executable", metavar="PATH",
        help="How the agent should call agentgate (default: this agentgate's absolute "
             "path, with $AGENTGATE_HOME, $AGENTGATE_CONFIG_DIR and $AGENTGATE_POLICY).")] = None,
    system: Annotated[bool, typer.Option(
        "--system", help="Protected mode, as root: the agent's machine-wide managed settings, "
                         "running the root-owned client; users and projects cannot remove it.")
    ] = False,
    root: Annotated[str | None, typer.Option(
        "--root", metavar="DIR",
        help="With --system: write under DIR instead of / (an image being built).")] = None,
    wait: Annotated[str | None, typer.Option(
        "--wait", metavar="DURATION",
        help="The hook waits up to DURATION (at most 585s) for a human to decide a held command, "
             "and the agent's hook timeout is set above it.")] = None,
    policy: NoPolicyOpt = None,
) -> None:
    """Add agentgate's hook to an agent's settings file (idempotent; backs the file up first)."""
    if system or root is not None:
        if not system or user or executable is not None or wait is not None:
            raise UsageError("--system goes without --user, --executable and --wait (the machine-wide "
                             "hook always runs the protected-mode client), and --root with it")
        done_system = commands.hook_install_system(agent, dry_run=dry_run, root=root)
        output.hook_installed_system(done_system.plan, dry_run=dry_run,
                                     backups=done_system.backups, warning=done_system.warning)
        return
    done = commands.hook_install(agent, user=user, dry_run=dry_run, executable=executable,
                                 wait=wait)
    output.hook_installed(done.plan, dry_run=dry_run, backup=done.backup,
                          executable=executable or "agentgate", on_path=done.on_path)
    if not dry_run:  # will it run? what the human must still do
        output.hook_status(commands.hook_status(agent), as_json=False, after_install=True)


@hook_app.command("status", cls=Command)
@handled
def hook_status(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help=" | ".join(NAMES))],
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """Will agentgate's hook run right now, here: each installed copy, whether its command
    starts, and for Codex whether Codex trusts it (exit 0 yes, 78 no, with what to do)."""
    status = commands.hook_status(agent)
    output.hook_status(status, as_json=_invocation().json)
    raise typer.Exit(EXIT_OK if status.ok else EXIT_CONFIG)


# --------------------------------------------------------------------------- protected mode


@service_app.command("install", cls=Command)
@handled
def service_install(
    for_: Annotated[list[str] | None, typer.Option(
        "--for", metavar="USER", help="A user whose agents are gated (joins the service's group; "
                                      "repeatable).")] = None,
    secret_stdin: Annotated[bool, typer.Option(
        "--secret-stdin", help="Read the approver passphrase from the first line of standard "
                               "input instead of the terminal.")] = False,
    reset_secret: Annotated[bool, typer.Option(
        "--reset-secret", help="Set a new approver passphrase (else an existing one is kept).")] = False,
    totp: Annotated[bool | None, typer.Option(
        "--totp/--no-totp", help="Enrol a new TOTP authenticator as a second factor for approvals "
                                 "(shown as a QR code), or remove it (default: as it is).")] = None,
    policy_file: Annotated[str | None, typer.Option(
        "--policy-file", metavar="PATH", help="The policy to install when /etc/agentgate has none "
                                              "(default: the sudo user's policy, else the "
                                              "embedded default).")] = None,
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """As root: set up protected mode (service user, root-owned install, policy, approver
    secret, the service) in one step; run it again to update or restart."""
    from .service.install import install

    def passphrase() -> str:
        if secret_stdin:
            return read_secret(True)
        first = read_secret(False, "New approver passphrase: ")
        if read_secret(False, "Repeat it: ") != first:
            raise UsageError("the two passphrases differ; nothing was set")
        return first

    report = install(users=for_ or [], read_secret=passphrase, reset_secret=reset_secret,
                     policy_source=policy_file, totp=totp)
    output.service_report(report, _invocation().json)


@service_app.command("status", cls=Command)
@handled
def service_status(json_: JsonOpt = False, policy: NoPolicyOpt = None) -> None:
    """Is the service reachable; its version, policy and what is pending (exit 0 only when it
    answers)."""
    from .service.install import status

    output.service_status(status(), _invocation().json)


@service_app.command("uninstall", cls=Command)
@handled
def service_uninstall(
    purge: Annotated[bool, typer.Option(
        "--purge", help="Also remove the state (audit log, ledger), the policy and the service "
                        "user.")] = False,
    json_: JsonOpt = False,
    policy: NoPolicyOpt = None,
) -> None:
    """As root: switch the machine back to personal mode (keeps the audit log unless --purge)."""
    from .service.install import uninstall

    output.service_report(uninstall(purge=purge), _invocation().json)


@service_app.command("run", cls=Command)
@handled
def service_run(policy: NoPolicyOpt = None) -> None:
    """Run the service in the foreground (what the systemd unit or a supervisor starts, as the
    service user)."""
    from .service.server import run

    run()


# --------------------------------------------------------------------------- entry


def run_app(argv: list[str]) -> int:
    """The full CLI on ``argv``; its exit code. A usage error is click's message on stderr and,
    under --json (or AGENTGATE_JSON), a JSON error object on stdout like every other error."""
    try:
        rv = app(args=argv, prog_name="agentgate", standalone_mode=False, obj=Invocation())
    except click.exceptions.UsageError as e:
        e.show()
        words = argv[:argv.index("--")] if "--" in argv else argv
        if json_wanted("--json" in words):
            output.usage_error_json(e.format_message(),
                                    e.ctx.get_usage() if e.ctx is not None else None, e.exit_code)
        return e.exit_code
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    except typer.Abort:
        output.err("Aborted!")
        return EXIT_REFUSED
    return rv if isinstance(rv, int) else 0
