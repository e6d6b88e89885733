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

from . import __version__
from .entry import emit_json as _emit_json
from .entry import err as _err
from .entry import report_error
from .entry import want_json as _want_json
from .errors import EXIT_CONFIG, EXIT_DENIED, AgentgateError, UsageError

if TYPE_CHECKING:
    from .audit import AuditLog
    from .gate import Gate

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="agentgate",
    help="A fail-closed, human-in-the-loop checkpoint in front of the commands an AI agent runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
log_app = typer.Typer(help="Read and verify the audit log.", invoke_without_command=True,
                      no_args_is_help=False)
policy_app = typer.Typer(help="Validate and trust policy files.", no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(policy_app, name="policy")

EXIT_REFUSED = 1
_state: dict[str, Any] = {"policy": None, "json": False}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON object (or lines) on stdout.")]


# --------------------------------------------------------------------------- plumbing


def _fail(e: AgentgateError) -> None:
    raise typer.Exit(report_error(e, _state["json"]))


def handled(fn: F) -> F:
    """Turn AgentgateError into one stderr line (plus JSON) and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "json_" in kwargs:  # `log --json verify` counts too: either level may ask for JSON
            _state["json"] = _state["json"] or _want_json(kwargs["json_"])
        try:
            return fn(*args, **kwargs)
        except AgentgateError as e:
            _fail(e)

    return wrapper  # type: ignore[return-value]


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
    policy: Annotated[str | None, typer.Option(
        "--policy", metavar="PATH",
        help="Policy file to use (else $AGENTGATE_POLICY, the user policy, the embedded default).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """agentgate: run agent commands only when policy allows; hold risky ones for a human."""
    _state["policy"] = policy


_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True,
                "allow_interspersed_args": False}


@app.command(context_settings=_PASSTHROUGH)
@handled
def run(
    cmd: Annotated[list[str], typer.Argument(metavar="-- CMD [ARG...]", help="The command to run.")],
    json_: JsonOpt = False,
    agent: Annotated[str | None, typer.Option(
        "--agent", metavar="NAME", help="Who is asking (else $AGENTGATE_AGENT, else 'unknown').")] = None,
) -> None:
    """Run CMD if the policy allows it; otherwise block it (exit 75 approval required, 77 denied)."""
    from .entry import run_command

    raise typer.Exit(run_command(cmd, policy=_state["policy"], as_json=_state["json"], agent=agent))


@app.command(context_settings=_PASSTHROUGH)
@handled
def check(
    cmd: Annotated[list[str], typer.Argument(metavar="-- CMD [ARG...]", help="The command to check.")],
    json_: JsonOpt = False,
    script: Annotated[bool, typer.Option(
        "--script", help="Treat the single CMD argument as a shell command string.")] = False,
) -> None:
    """Show the decision for CMD and the rules behind it; run nothing, record nothing."""
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


@app.command()
@handled
def approve(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")],
    ttl: Annotated[str | None, typer.Option(
        "--ttl", metavar="DURATION", help="How long the grant stays usable (default: the policy's approval_ttl).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Approve a pending request: the very same command may then run once."""
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
        _emit_json({"id": req.id, "status": req.status, "expiresAt": req.expires_at})


@app.command()
@handled
def deny(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")],
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT",
                                               help="Why; shown to the agent.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Deny a pending request: repeats of the command exit 77 with your reason until it expires."""
    _refuse_when_gated("deny")
    req = _gate().deny(request_id, reason)
    _err(f"denied {req.id}.")
    if _state["json"]:
        _emit_json({"id": req.id, "status": req.status, "reason": reason})


@app.command()
@handled
def pending(json_: JsonOpt = False) -> None:
    """List open approval requests, newest first."""
    from .render import print_pending

    gate = _gate()
    reqs = gate.pending()
    if _state["json"]:
        _emit_json([r.to_dict() for r in reqs])
    else:
        print_pending(reqs, gate.ledger.read_only().now if reqs else 0.0)


@app.command()
@handled
def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id (apr_...).")],
    json_: JsonOpt = False,
) -> None:
    """Show one request with its full history."""
    from .render import print_request

    view = _gate().get(request_id)
    if _state["json"]:
        _emit_json(view.request.to_dict())
    else:
        print_request(view.request, view.now)


@app.command()
@handled
def where(json_: JsonOpt = False) -> None:
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


@app.command()
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


@policy_app.command("validate")
@handled
def policy_validate(
    path: Annotated[Path | None, typer.Argument(help="Policy file (default: the policy in force).")] = None,
    json_: JsonOpt = False,
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
        pf = read_policy_file(path, "explicit")
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


@policy_app.command("trust")
@handled
def policy_trust(
    path: Annotated[Path | None, typer.Argument(
        help="A repo-local .agentgate.toml (default: those found from here up to the repo root).")] = None,
) -> None:
    """Trust a repo-local policy as it is now, so its allow rules and settings apply too."""
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
    """Read the audit log (filters combine); `--json` prints the matching raw JSONL lines."""
    if ctx.invoked_subcommand is not None:
        return
    from .logview import Filter, select
    from .render import print_events

    flt = Filter.build(since=since, until=until, events=event or [], request_id=request_id,
                       rule=rule, agent=agent)
    audit = _audit()
    lines = select(audit, flt, tail, _with_progress(audit))
    if _state["json"]:
        out = sys.stdout.buffer
        for raw, _ev in lines:
            out.write(raw + b"\n")
        out.flush()
    else:
        print_events(ev for _raw, ev in lines)


def _audit() -> AuditLog:
    from .audit import AuditLog
    from .paths import StatePaths

    return AuditLog(StatePaths.default().audit)


def _with_progress(audit: AuditLog) -> Iterator[tuple[Path, int, bytes]]:
    """The log's lines, with a progress bar on a terminal when the read is long."""
    from .render import progress_lines

    total = 0
    for p in audit.files():
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return progress_lines(audit.raw_lines(), total)


@log_app.command("summary")
@handled
def log_summary(
    json_: JsonOpt = False,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DURATION|TIMESTAMP", help="Only events newer than this (e.g. 24h).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DURATION|TIMESTAMP", help="Only events older than this.")] = None,
) -> None:
    """Count events over a period, per event, per rule and per agent."""
    from .logview import Filter, summarize
    from .render import print_summary

    flt = Filter.build(since=since, until=until, events=[], request_id=None, rule=None, agent=None)
    audit = _audit()
    summary = summarize(audit, flt, _with_progress(audit)).to_dict()
    if _state["json"]:
        _emit_json(summary)
    else:
        print_summary(summary)


@log_app.command("verify")
@handled
def log_verify(json_: JsonOpt = False) -> None:
    """Check the audit log's hash chain: exit 0 intact, 1 broken (naming the first bad line)."""
    audit = _audit()
    res = audit.verify(_with_progress(audit))
    if _state["json"]:
        _emit_json(res.to_dict())
    elif res.ok:
        _err(f"ok: {res.lines} lines, hash chain intact.")
    else:
        _err(f"BROKEN at {res.first_bad}: {res.problem} ({res.lines} lines verified before it).")
    if res.interrupted and not _state["json"]:
        _err(f"note: {len(res.interrupted)} fragment(s) of interrupted writes, which the chain "
             f"continues over: {', '.join(res.interrupted)}")
    raise typer.Exit(0 if res.ok else 1)


from .cli_agents import register as _register_agents  # noqa: E402

_register_agents(app)


def main() -> None:
    """Console-script entry point (see entry.py for the fast path of `run`)."""
    from .entry import main as entry_main

    entry_main()
