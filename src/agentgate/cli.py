"""typer wiring: options, help texts, one call into the core per command, rendering.

Human text goes to stderr; ``--json`` puts data (or an error object) on stdout. Exit codes:
0 ok (or the command's own code for ``run``), 75 approval required, 77 denied, 78 policy/state
unusable, 2 usage, 1 refused (e.g. declined confirmation), 70 internal error.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core

try:  # typer vendors click as typer._click since 0.2x: subclass and catch the classes it uses
    from typer import _click as click
except ImportError:  # an older typer, on click itself
    import click  # type: ignore[no-redef]

from . import __version__
from .entry import AGENT, HELP_NAMES, JSON, POLICY, Opt, report_error
from .entry import emit_json as _emit_json
from .entry import err as _err
from .entry import want_json as _want_json
from .errors import EXIT_CONFIG, EXIT_DENIED, AgentgateError, UsageError

if TYPE_CHECKING:
    from .audit import AuditLog
    from .gate import Gate

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


class Command(typer.core.TyperCommand):
    """A command whose usage line reads like the README (``agentgate run [OPTIONS] -- CMD
    [ARG...]``, arguments by their metavar, no type labels) and whose summary is never cut."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary_of(self.help)

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


def _arg_name(p: click.Parameter) -> str:
    name = p.metavar or (p.name or "ARG").upper()
    return name if p.required or name.startswith("[") else f"[{name}]"


class Group(typer.core.TyperGroup):
    """A command group whose summary is never cut (see :class:`Command`)."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary_of(self.help)


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
policy_app = typer.Typer(cls=Group, help="Validate policy files, or trust a repo-local one.",
                         no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(policy_app, name="policy")

EXIT_REFUSED = 1
_state: dict[str, Any] = {"policy": None, "global_policy": [], "json": False}


def _option(opt: Opt, *extra: str) -> Any:
    """The typer declaration of one of agentgate's own options (defined in entry.py)."""
    return typer.Option(opt.name, *extra, metavar=opt.metavar, help=opt.help)


JsonOpt = Annotated[bool, _option(JSON)]
PolicyOpt = Annotated[list[str] | None, _option(POLICY)]
AgentOpt = Annotated[str | None, _option(AGENT)]


# --------------------------------------------------------------------------- plumbing


def _fail(e: AgentgateError) -> None:
    raise typer.Exit(report_error(e, _state["json"]))


def handled(fn: F) -> F:
    """Turn AgentgateError into one stderr line (plus JSON) and its exit code; take the
    command's own ``--policy`` (see :func:`_set_policy`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "json_" in kwargs:  # `log --json verify` counts too: either level may ask for JSON
            _state["json"] = _state["json"] or _want_json(kwargs["json_"])
        try:
            if "policy" in kwargs:
                _set_policy(kwargs["policy"])
            return fn(*args, **kwargs)
        except AgentgateError as e:
            _fail(e)

    return wrapper  # type: ignore[return-value]


def _set_policy(after: list[str] | None) -> None:
    """``--policy`` is one option, before or after the command name: given twice (with any
    values) or empty, it is a usage error, never a silent choice."""
    given = [*_state["global_policy"], *(after or [])]
    if len(given) > 1:
        raise UsageError(f"{POLICY.name} was given {len(given)} times",
                         "give it once, before or after the command name")
    if given and not given[0]:
        raise UsageError(f"{POLICY.name} needs a path, not an empty string")
    _state["policy"] = given[0] if given else None


def _gate(cwd: Path | None = None) -> Gate:
    from .gate import open_gate

    return open_gate(_state["policy"], cwd or _cwd())


def _cwd() -> Path:
    try:
        return Path(os.getcwd()).resolve()
    except OSError as e:
        raise UsageError(f"the current directory is not accessible: {e.strerror or e}") from None


def _agent(name: str | None) -> str:
    return name or os.environ.get("AGENTGATE_AGENT") or "unknown"


def _refuse_when_gated(what: str) -> None:
    from .gate import GATED_ENV

    if os.environ.get(GATED_ENV):
        raise AgentgateError(
            f"refusing to {what} from inside `agentgate run`",
            "approvals, denials and trust come from a human, outside the gate",
            exit_code=EXIT_DENIED)


def _iso(t: float) -> str:
    from .audit import now_iso

    return now_iso(t)


def _duration(text: str, what: str) -> int:
    from .policy import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise UsageError(f"{what}: {e}") from None


# --------------------------------------------------------------------------- commands


def _version(value: bool) -> None:
    if value:
        print(f"agentgate {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    policy: PolicyOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """A fail-closed, human-in-the-loop checkpoint in front of the commands an AI agent runs."""
    _state["global_policy"] = list(policy or [])
    try:
        _set_policy(None)
    except AgentgateError as e:
        _fail(e)


# Everything after CMD belongs to it: options are agentgate's only before the first word that
# is not one of them (or before `--`); an unknown option there is a usage error, never a command.
_COMMAND_LINE = {"allow_interspersed_args": False}
command = functools.partial(app.command, cls=Command)


@command(context_settings=_COMMAND_LINE)
@handled
def run(
    cmd: Annotated[list[str], typer.Argument(metavar="-- CMD [ARG...]", help="The command to run.")],
    json_: JsonOpt = False,
    agent: AgentOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Run CMD if the policy allows it, else hold it for a human (exit 75) or deny it (exit 77).

    CMD runs directly, without a shell, and agentgate exits with its exit code."""
    from .entry import run_command

    raise typer.Exit(run_command(cmd, policy=_state["policy"], as_json=_state["json"], agent=agent))


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
    from .gate import Subject
    from .render import print_check

    cwd = _cwd()
    gate = _gate(cwd)
    if script:
        if len(cmd) != 1:
            raise UsageError("--script takes exactly one argument: the whole command string",
                             "quote it: agentgate check --script 'cd app && make deploy'")
        subject = Subject("script", (cmd[0],), str(cwd))
    else:
        subject = Subject("argv", tuple(cmd), str(cwd))
    ev = gate.evaluate(subject)
    code = {"allow": 0, "ask": 75, "deny": 77}[ev.decision]
    obj = {
        "allowed": ev.decision == "allow",
        "approvalRequired": ev.decision == "ask",
        "approvalId": None,
        "reason": ev.reason,
        "rule": ev.rule,
        "command": list(subject.argv),
        "next": "run it through `agentgate run`; a human will have to approve it" if ev.decision == "ask" else None,
        "decision": ev.decision,
        "exitCode": code,
        "parts": [p.to_dict() for p in ev.parts],
        "policies": [s.to_dict() for s in gate.policy.sources],
    }
    if _state["json"]:
        _emit_json(obj)
    else:
        print_check(obj)
    raise typer.Exit(code)


@command()
@handled
def approve(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")],
    ttl: Annotated[str | None, typer.Option(
        "--ttl", metavar="DURATION", help="How long the grant stays usable (default: the policy's approval_ttl).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOpt = False,
    policy: PolicyOpt = None,
) -> None:
    """Approve a pending request, so that the very same command may run once."""
    from .render import describe_request, fmt_duration

    _refuse_when_gated("approve")
    ttl_s = _duration(ttl, "--ttl") if ttl else None
    gate = _gate()
    view = gate.get(request_id)
    _err(describe_request(view.request, view.now))
    if not yes:
        if not sys.stdin.isatty():
            raise AgentgateError("refusing to approve without confirmation: no terminal to ask on",
                                 "pass --yes to approve non-interactively", exit_code=EXIT_REFUSED)
        if not typer.confirm("Approve this command to run once?", default=False, err=True):
            raise AgentgateError("not approved", exit_code=EXIT_REFUSED)
    req = gate.approve(request_id, ttl_s)
    left = fmt_duration(req.expires_at - view.now)
    _err(f"approved {req.id}: the same command may now run once, within {left}.")
    if _state["json"]:
        _emit_json({"id": req.id, "status": req.status, "expiresAt": _iso(req.expires_at)})


@command()
@handled
def deny(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")],
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT",
                                               help="Why; shown to the agent.")] = None,
    json_: JsonOpt = False,
    policy: PolicyOpt = None,
) -> None:
    """Deny a pending request, so that repeats of the command exit 77 with your reason."""
    _refuse_when_gated("deny")
    req = _gate().deny(request_id, reason)
    _err(f"denied {req.id}.")
    if _state["json"]:
        _emit_json({"id": req.id, "status": req.status, "reason": reason})


@command()
@handled
def pending(json_: JsonOpt = False, policy: PolicyOpt = None) -> None:
    """List open approval requests, newest first."""
    from .render import print_pending, request_json

    gate = _gate()
    reqs = gate.pending()
    if _state["json"]:
        _emit_json([request_json(r) for r in reqs])
    else:
        print_pending(reqs, gate.ledger.read_only().now if reqs else 0.0)


@command()
@handled
def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")],
    json_: JsonOpt = False,
    policy: PolicyOpt = None,
) -> None:
    """Show one request with its full history."""
    from .render import print_request, request_json

    view = _gate().get(request_id)
    if _state["json"]:
        _emit_json(request_json(view.request))
    else:
        print_request(view.request, view.now)


@command()
@handled
def where(json_: JsonOpt = False, policy: PolicyOpt = None) -> None:
    """Show where the policy, ledger and audit log live."""
    from .gate import _repo_policy_files, locate_primary
    from .paths import StatePaths, user_policy_path

    paths = StatePaths.default()
    path, kind = locate_primary(_state["policy"])
    info: dict[str, Any] = {
        "policy": str(path) if path else "<embedded default>", "policyKind": kind,
        "repoPolicies": [str(p) for p in _repo_policy_files(_cwd())],
        "userPolicy": str(user_policy_path()), "stateDir": str(paths.root),
        "ledger": str(paths.ledger), "audit": str(paths.audit)}
    if _state["json"]:
        _emit_json(info)
    else:
        for k, v in info.items():
            print(f"{k:12} {', '.join(v) or '-' if isinstance(v, list) else v}")


@command()
@handled
def init(
    force: Annotated[bool, typer.Option("--print", help="Print the starter policy instead of writing it.")] = False,
) -> None:
    """Write the starter policy to the user policy path (refuses to overwrite)."""
    from .paths import user_policy_path
    from .policy import embedded_policy_text

    text = embedded_policy_text()
    if force:
        sys.stdout.write(text.decode())
        return
    target = user_policy_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as f:
            f.write(text)
    except FileExistsError:
        raise AgentgateError(f"{target} already exists; not overwriting it",
                             "edit it, or move it aside and run `agentgate init` again",
                             exit_code=EXIT_REFUSED) from None
    except OSError as e:
        raise AgentgateError(f"cannot write {target}: {e.strerror or e}", exit_code=EXIT_CONFIG) from None
    _err(f"wrote {target}")


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
    from .gate import load_policy, locate_primary
    from .paths import StatePaths
    from .policy import (
        EMBEDDED_NAME,
        Policy,
        embedded_policy_text,
        parse_policy_file,
        read_policy_file,
    )

    if path is not None:
        from .guard import REPO_POLICY_NAME

        pf = read_policy_file(path, "repo" if path.name == REPO_POLICY_NAME else "explicit")
        pol = Policy.build(pf.settings, pf.rules, (pf.source,))
    else:
        located, _ = locate_primary(_state["policy"])
        pol = load_policy(_state["policy"], _cwd(), StatePaths.default(), cached=False)
        if located is None:
            parse_policy_file(embedded_policy_text(), EMBEDDED_NAME, "embedded")
    info = {"valid": True, "rules": len(pol.rules), "sources": [s.to_dict() for s in pol.sources]}
    if _state["json"]:
        _emit_json(info)
    else:
        for s in pol.sources:
            _err(f"ok: {s.path} ({'trusted' if s.trusted else s.note})")
        _err(f"{len(pol.rules)} rules valid, every example holds.")


@policy_app.command("trust", cls=Command)
@handled
def policy_trust(
    path: Annotated[Path | None, typer.Argument(
        metavar="[PATH]",
        help="A repo-local .agentgate.toml (default: those found from here up to the repo root).")] = None,
    policy: PolicyOpt = None,
) -> None:
    """Trust a repo-local policy as it is now, so that its allow rules and settings apply too."""
    from .gate import _repo_policy_files

    _refuse_when_gated("trust a policy")
    files = [path] if path is not None else _repo_policy_files(_cwd())
    if not files:
        raise UsageError("no .agentgate.toml found from here up to the repository root")
    for p, digest in _gate().trust(files):
        _err(f"trusted {p} (sha256 {digest[:12]}...); any change untrusts it again.")


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
    tail: Annotated[int | None, typer.Option("--tail", metavar="N", min=0, help="Only the last N matching events.")] = None,
) -> None:
    """Read the audit log, or summarize or verify it."""
    if ctx.invoked_subcommand is not None:
        return
    from .logview import Filter, json_line, select
    from .render import print_events

    flt = Filter.build(since=since, until=until, events=event or [], request_id=request_id,
                       rule=rule, agent=agent)
    audit = _audit()
    lines = select(audit, flt, tail, _with_progress(audit))
    if _state["json"]:
        out = sys.stdout.buffer
        for raw, _ev in lines:
            out.write(json_line(raw) + b"\n")
        out.flush()
    else:
        print_events(ev for _raw, ev in lines)


def _audit() -> AuditLog:
    from .audit import AuditLog
    from .fileio import check_state_dir
    from .paths import StatePaths

    paths = StatePaths.default()
    check_state_dir(paths.root)  # a log that others can write proves nothing
    return AuditLog(paths.audit)


def _with_progress(audit: AuditLog) -> Iterator[tuple[Path, int, bytes]]:
    """The log's lines, with a progress bar on a terminal when the read is long."""
    from .render import progress_lines

    total = 0
    for p in audit.files():
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return progress_lines(audit.raw_lines(), total)


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
) -> None:
    """Count events over a period, per event, per rule and per agent."""
    from .logview import Filter, summarize
    from .render import markdown_summary, print_summary

    if markdown and _state["json"]:
        raise UsageError("--markdown and --json are two formats: choose one")
    flt = Filter.build(since=since, until=until, events=[], request_id=None, rule=None, agent=None)
    audit = _audit()
    summary = summarize(audit, flt, _with_progress(audit)).to_dict()
    if _state["json"]:
        _emit_json(summary)
    elif markdown:
        sys.stdout.write(markdown_summary(summary, audit.verify().to_dict()))
    else:
        print_summary(summary)


@log_app.command("verify", cls=Command)
@handled
def log_verify(json_: JsonOpt = False) -> None:
    """Check the audit log's hash chain and head: exit 0 intact, 1 broken, missing or empty."""
    from .render import progress_lines

    res = _audit().verify(progress_lines)
    if _state["json"]:
        _emit_json(res.to_dict())
    elif res.ok:
        _err(f"ok: {res.lines} lines, hash chain intact.")
    elif res.first_bad is None:
        _err(f"FAILED: {res.problem}.")
    else:
        _err(f"BROKEN at {res.first_bad}: {res.problem} ({res.lines} lines verified before it).")
    for other in () if _state["json"] else res.others:
        _err(f"also: {other}")
    if res.interrupted and not _state["json"]:
        _err(f"note: {len(res.interrupted)} fragment(s) of interrupted writes, which the chain "
             f"continues over: {', '.join(res.interrupted)}")
    raise typer.Exit(0 if res.ok else 1)


from .cli_agents import register as _register_agents  # noqa: E402

_register_agents(app)


def run_app(argv: list[str]) -> int:
    """The full CLI on ``argv``; its exit code. A usage error is click's message on stderr and,
    under --json (or AGENTGATE_JSON), a JSON error object on stdout like every other error."""
    try:
        rv = app(args=argv, prog_name="agentgate", standalone_mode=False)
    except click.exceptions.UsageError as e:
        e.show()
        words = argv[:argv.index("--")] if "--" in argv else argv
        if _want_json("--json" in words):
            _emit_json({"allowed": False, "error": "usage_error", "message": e.format_message(),
                        "hint": e.ctx.get_usage() if e.ctx is not None else None,
                        "exitCode": e.exit_code})
        return e.exit_code
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    except typer.Abort:
        _err("Aborted!")
        return EXIT_REFUSED
    return rv if isinstance(rv, int) else 0


def main() -> None:
    """Console-script entry point (see entry.py for the fast path of `run`)."""
    from .entry import main as entry_main

    entry_main()
