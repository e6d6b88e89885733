"""The console-script entry point, with typer-free fast paths for `agentgate run` and `hook`.

`run` is on every gated command's path, so its start-up cost matters: this module parses the
plain `agentgate [--policy P] run [--json] [--agent NAME] [--policy P] [--] CMD...` form itself
and imports only the gate. Anything else (help, other commands, unusual spellings) goes to the
typer app in cli.py.

agentgate's own options are defined once, in the tables below; the fast paths parse them and
cli.py declares its typer options from them, so a spelling means the same wherever it is read.
The fast path hands anything it does not know to typer, which refuses an unknown option (exit 2)
instead of running it as the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .errors import AgentgateError, CannotStart, UsageError
from .jsontext import dumps
from .lean import Record

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TextIO

EXIT_INTERNAL = 70


class Opt(Record):
    """One of agentgate's own options: ``metavar`` None for a flag."""

    name: str
    metavar: str | None
    help: str


POLICY = Opt("--policy", "PATH", "Policy file to use (else $AGENTGATE_POLICY, the user policy, "
                                 "the embedded default). Give it once, before or after the command name.")
JSON = Opt("--json", None, "Print the result as JSON on stdout (errors too).")
AGENT = Opt("--agent", "NAME", "Who is asking (else $AGENTGATE_AGENT, else 'unknown').")
RUN_OPTIONS = (JSON, AGENT, POLICY)  # `agentgate run`; typer's `run` declares exactly these
HOOK_OPTIONS = (POLICY,)  # `agentgate hook AGENT`
GLOBAL_OPTIONS = (POLICY,)  # before the command name (plus typer's --version and -h/--help)
HELP_NAMES = ("-h", "--help")


def want_json(flag: bool) -> bool:
    return flag or os.environ.get("AGENTGATE_JSON", "") not in ("", "0", "false", "no")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def emit_json(obj: object, stream: TextIO | None = None) -> None:
    """One JSON document and a newline on ``stream`` (stdout): always valid JSON, in any locale
    (undecodable bytes as agentgate.jsontext says; ``\\u`` escapes if the stream is not UTF-8)."""
    out = sys.stdout if stream is None else stream
    text = dumps(obj)
    try:
        text.encode(getattr(out, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = dumps(obj, ensure_ascii=True)
    out.write(text + "\n")
    out.flush()


def report_error(e: Exception, as_json: bool) -> int:
    """One stderr line (plus a hint), a JSON error object under --json; returns the exit code."""
    assert isinstance(e, AgentgateError)
    msg = f"agentgate: error: {e.message}"
    if e.hint:
        msg += f"\n  hint: {e.hint}"
    err(msg)
    if as_json:
        emit_json({"allowed": False, **e.to_dict()})
    return e.exit_code


def _cannot_start(program: str) -> AgentgateError | None:
    from .runner import startable

    res = startable(program)
    return None if res is None else CannotStart(str(res.error), exit_code=res.exit_code)


def run_command(cmd: Sequence[str], *, policy: str | None, as_json: bool, agent: str | None) -> int:
    """`agentgate run`: decide, record, run if allowed; return the exit code."""
    from pathlib import Path

    from .gate import GATED_ENV, Subject, open_gate, record_blocked
    from .paths import StatePaths
    from .runner import run as run_child

    agent_name = agent or os.environ.get("AGENTGATE_AGENT") or "unknown"
    subject = None
    try:
        paths = StatePaths.default()
        if not cmd:
            raise UsageError("no command given", "usage: agentgate run [OPTIONS] -- CMD [ARG...]")
        try:
            cwd = Path(os.getcwd()).resolve()
        except OSError as e:
            raise UsageError(f"the current directory is not accessible: {e.strerror or e}") from None
        subject = Subject("argv", tuple(cmd), str(cwd))
        try:
            gate = open_gate(policy, cwd, paths)
        except AgentgateError as e:
            record_blocked(paths, subject, agent_name, e)
            raise
        outcome = gate.authorize(subject, agent_name,
                                 startable=lambda: _cannot_start(cmd[0]))
    except AgentgateError as e:
        return report_error(e, as_json)
    if not outcome.allowed:
        err(outcome.message())
        if as_json:
            emit_json(outcome.to_dict())
        return outcome.exit_code
    if outcome.via_grant:
        err(f"agentgate: allowed once by approved grant {outcome.approval_id}")
    if as_json:  # stdout belongs to the command: the decision goes to stderr
        emit_json(outcome.to_dict(), sys.stderr)
    env = dict(os.environ)
    env[GATED_ENV] = "1"
    result = run_child(list(cmd), env)
    if result.error:
        err(f"agentgate: {result.error}")
    try:
        gate.record_exit(outcome, result.exit_code, agent_name)
    except AgentgateError as e:
        err(f"agentgate: warning: the command ran (exit {result.exit_code}) but its exit could "
            f"not be logged: {e.message}")
    return result.exit_code


# --------------------------------------------------------------------------- fast parsing


class Parsed(Record):
    """What a fast path read: option values by name (a flag is True), and where it stopped."""

    values: dict[str, str | bool]
    stop: int


def parse_options(argv: Sequence[str], i: int, specs: Sequence[Opt], *,
                  until_dash: bool = True) -> Parsed | None:
    """Read ``specs`` options from ``argv[i:]`` as click does (``--opt V``, ``--opt=V``, flags),
    up to the first word that is not an option (or past ``--`` when ``until_dash``). None for
    anything else (an unknown option, a missing or empty value, an option given twice): typer
    then answers, with the same grammar and its usage errors."""
    by_name = {o.name: o for o in specs}
    values: dict[str, str | bool] = {}
    n = len(argv)
    while i < n:
        a = argv[i]
        if a == "--" and until_dash:
            return Parsed(values, i + 1)
        if not a.startswith("-") or a == "-":
            break
        name, eq, inline = a.partition("=")
        opt = by_name.get(name)
        if opt is None or name in values:
            return None
        if opt.metavar is None:
            if eq:
                return None
            values[name], i = True, i + 1
            continue
        if eq:
            value, i = inline, i + 1
        elif i + 1 < n:
            value, i = argv[i + 1], i + 2
        else:
            return None
        if not value:
            return None
        values[name] = value
    return Parsed(values, i)


def _global_policy(argv: Sequence[str]) -> Parsed | None:
    """The global options before the command name."""
    return parse_options(argv, 0, GLOBAL_OPTIONS, until_dash=False)


def _policies(*found: Parsed) -> list[str]:
    """Every --policy value given, before and after the command name (more than one is a
    usage error, which typer reports)."""
    return [str(p.values[POLICY.name]) for p in found if POLICY.name in p.values]


class FastRun(Record):
    policy: str | None
    as_json: bool
    agent: str | None
    cmd: list[str]


def parse_fast_run(argv: Sequence[str]) -> FastRun | None:
    """The plain `run` form, else None (typer handles it, and its errors)."""
    head = _global_policy(argv)
    if head is None or head.stop >= len(argv) or argv[head.stop] != "run":
        return None
    opts = parse_options(argv, head.stop + 1, RUN_OPTIONS)
    if opts is None:
        return None
    policies = _policies(head, opts)
    cmd = list(argv[opts.stop:])
    if len(policies) > 1 or not cmd:
        return None
    agent = opts.values.get(AGENT.name)
    return FastRun(policies[0] if policies else None, bool(opts.values.get(JSON.name)),
                   agent if isinstance(agent, str) else None, cmd)


HOOK_AGENTS = ("claude-code", "codex", "cursor", "gemini")


def hook_command(agent: str, policy: str | None) -> int:
    """`agentgate hook AGENT`: read the agent's hook JSON on stdin, answer in its format.

    Runs on every tool call of a wired agent, so it skips typer like `run`. Never a traceback
    and never exit 1 (which these agents read as "go ahead"): any failure blocks with exit 2."""
    try:
        from pathlib import Path

        from .gate import Gate, open_gate
        from .hooks import MAX_INPUT_BYTES, handle

        def gate_for(cwd: Path) -> Gate:
            return open_gate(policy, cwd)

        raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        try:
            base = Path(os.getcwd())
        except OSError:
            base = Path("/")
        reply = handle(agent, raw, gate_for, fallback_cwd=base, explicit_policy=policy)
        out, errs, code = reply.stdout, reply.stderr, reply.exit_code
    except Exception as e:  # fail closed, with the one exit code every agent blocks on
        out, errs, code = "", f"agentgate: BLOCKED (fail-closed): internal error: {e!r}\n", 2
    for stream, text in ((sys.stdout, out), (sys.stderr, errs)):
        if text:
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                code = 2
    return code


class FastHook(Record):
    policy: str | None
    agent: str


def parse_fast_hook(argv: Sequence[str]) -> FastHook | None:
    """`agentgate [--policy P] hook AGENT [--policy P]`, else None."""
    head = _global_policy(argv)
    if head is None or argv[head.stop:head.stop + 1] != ["hook"]:
        return None
    i = head.stop + 1
    if i >= len(argv) or argv[i] not in HOOK_AGENTS:
        return None
    opts = parse_options(argv, i + 1, HOOK_OPTIONS, until_dash=False)
    if opts is None or opts.stop != len(argv):
        return None
    policies = _policies(head, opts)
    if len(policies) > 1:
        return None
    return FastHook(policies[0] if policies else None, argv[i])


# --------------------------------------------------------------------------- main


def main() -> None:
    argv = sys.argv[1:]
    try:
        hook = parse_fast_hook(argv)
        if hook is not None:
            sys.exit(hook_command(hook.agent, hook.policy))
        fast = parse_fast_run(argv)
        if fast is not None:
            sys.exit(run_command(fast.cmd, policy=fast.policy, as_json=want_json(fast.as_json),
                                 agent=fast.agent))
        from .cli import run_app

        sys.exit(run_app(argv))
    except KeyboardInterrupt:
        err("agentgate: interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # a bug: fail closed, never a silent allow
        err(f"agentgate: internal error: {type(e).__name__}: {e} (nothing was run)")
        sys.exit(EXIT_INTERNAL)
