"""The console-script entry point, with a typer-free fast path for `agentgate run`.

`run` is on every gated command's path, so its start-up cost matters: this module parses the plain
`agentgate [--policy P] run [--json] [--agent NAME] [--] CMD...` form itself and imports only the
gate. Anything else (help, other commands, unusual spellings) goes to the typer app in cli.py.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

EXIT_INTERNAL = 70


def want_json(flag: bool) -> bool:
    return flag or os.environ.get("AGENTGATE_JSON", "") not in ("", "0", "false", "no")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def emit_json(obj: object) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict")
    except (UnicodeEncodeError, LookupError):  # e.g. argv bytes that are not UTF-8
        text = json.dumps(obj)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def report_error(e: Exception, as_json: bool) -> int:
    """One stderr line (plus a hint), a JSON error object under --json; returns the exit code."""
    from .errors import AgentgateError

    assert isinstance(e, AgentgateError)
    msg = f"agentgate: error: {e.message}"
    if e.hint:
        msg += f"\n  hint: {e.hint}"
    err(msg)
    if as_json:
        emit_json({"allowed": False, **e.to_dict()})
    return e.exit_code


def run_command(cmd: Sequence[str], *, policy: str | None, as_json: bool, agent: str | None) -> int:
    """`agentgate run`: decide, record, run if allowed; return the exit code."""
    from pathlib import Path

    from .errors import AgentgateError, UsageError
    from .gate import GATED_ENV, Subject, open_gate, record_blocked
    from .paths import StatePaths
    from .runner import run as run_child

    agent_name = agent or os.environ.get("AGENTGATE_AGENT") or "unknown"
    subject = None
    try:
        paths = StatePaths.default()
        if not cmd:
            raise UsageError("no command given", "usage: agentgate run [--json] [--agent NAME] -- CMD [ARG...]")
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
        outcome = gate.authorize(subject, agent_name)
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
        err(json.dumps(outcome.to_dict(), ensure_ascii=False))
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


def parse_fast_run(argv: Sequence[str]) -> tuple[str | None, bool, str | None, list[str]] | None:
    """(policy, json, agent, cmd) for the plain `run` form, else None (typer handles it)."""
    i, n = 0, len(argv)
    policy: str | None = None
    if i < n and argv[i].startswith("--policy"):
        if argv[i] == "--policy" and i + 1 < n:
            policy, i = argv[i + 1], i + 2
        elif argv[i].startswith("--policy="):
            policy, i = argv[i][len("--policy="):], i + 1
        else:
            return None
    if i >= n or argv[i] != "run":
        return None
    i += 1
    as_json, agent = False, None
    while i < n:
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a == "--json":
            as_json, i = True, i + 1
        elif a == "--agent" and i + 1 < n:
            agent, i = argv[i + 1], i + 2
        elif a.startswith("--agent="):
            agent, i = a[len("--agent="):], i + 1
        elif a.startswith("-"):
            return None  # --help and anything unexpected: let typer answer
        else:
            break
    cmd = list(argv[i:])
    if not cmd:
        return None
    return policy, as_json, agent, cmd


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


def parse_fast_hook(argv: Sequence[str]) -> tuple[str | None, str] | None:
    """(policy, agent) for exactly `agentgate [--policy P] hook AGENT`, else None."""
    policy: str | None = None
    rest = list(argv)
    if len(rest) >= 2 and rest[0] == "--policy":
        policy, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--policy="):
        policy, rest = rest[0][len("--policy="):], rest[1:]
    if len(rest) == 2 and rest[0] == "hook" and rest[1] in HOOK_AGENTS:
        return policy, rest[1]
    return None


def main() -> None:
    try:
        hook = parse_fast_hook(sys.argv[1:])
        if hook is not None:
            sys.exit(hook_command(hook[1], hook[0]))
        fast = parse_fast_run(sys.argv[1:])
        if fast is not None:
            policy, flag, agent, cmd = fast
            sys.exit(run_command(cmd, policy=policy, as_json=want_json(flag), agent=agent))
        from .cli import app

        app()
    except KeyboardInterrupt:
        err("agentgate: interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # a bug: fail closed, never a silent allow
        err(f"agentgate: internal error: {type(e).__name__}: {e} (nothing was run)")
        sys.exit(EXIT_INTERNAL)
