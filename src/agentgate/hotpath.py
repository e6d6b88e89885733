"""The two commands on every gated call, `agentgate run` and `agentgate hook AGENT`, for both
the typer-free fast paths (entry.py) and the typer app (cli.py).

Unlike agentgate.commands, these write as they go: a command's own output follows the decision
on the same terminal. Every import is inside the functions and light (tests/test_entry.py checks
the set), since every gated command pays for it.
"""

from __future__ import annotations

import gc
import os
import sys

from . import output
from .errors import EXIT_BLOCK, AgentgateError, CannotStart, UsageError
from .lean import suppress

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType

    from .backend import AnyGate
    from .outcome import Outcome


def _short_lived() -> None:
    """This process decides, maybe runs one command, and exits. Python's cycle collector would
    only cost it time (some 1.5 ms of collections while the gate's modules load, and a pass
    over every object left at exit) and free nothing that exiting does not free: switched off
    for the rest of the process. See :func:`_exiting`."""
    gc.disable()


def _exiting() -> None:
    """What exists now is kept out of the collector's last pass at interpreter exit (a full
    pass, about 1 ms): only what is made after this is looked at."""
    gc.freeze()


def _cannot_start(program: str) -> AgentgateError | None:
    from .runner import startable

    res = startable(program)
    return None if res is None else CannotStart(str(res.error), exit_code=res.exit_code)


def run_command(cmd: Sequence[str], *, policy: str | None, as_json: bool, agent: str | None,
                wait: str | bool | None = None) -> int:
    """`agentgate run`: decide, record, run if allowed; return the exit code. ``wait`` (``--wait``:
    True, or its DURATION): when held, wait for the human's decision (agentgate.waiting)."""
    _short_lived()
    from .backend import open_gate, record_blocked
    from .paths import StatePaths, agent_name, current_dir, gated_env
    from .runner import run as run_child
    from .subjects import command_subject

    who = agent_name(agent, "unknown")
    subject = None
    try:
        paths = StatePaths.default()
        if not cmd:
            raise UsageError("no command given", "usage: agentgate run [OPTIONS] -- CMD [ARG...]")
        cwd = current_dir()
        subject = command_subject(list(cmd), str(cwd))
        try:
            gate = open_gate(policy, cwd, paths)
        except AgentgateError as e:
            record_blocked(paths, subject, who, e)
            raise
        seconds = _wait_seconds(wait)

        def authorize() -> Outcome:
            return gate.authorize(subject, who, startable=lambda: _cannot_start(cmd[0]))

        outcome = authorize()
        if wait and outcome.approval_required:
            outcome = _wait(gate, outcome, authorize, seconds)
    except AgentgateError as e:
        return output.error(e, as_json)
    if not outcome.allowed:
        return output.blocked(outcome, as_json)
    output.allowed(outcome, as_json)
    _exiting()
    result = run_child(list(cmd), gated_env())
    output.ran(result)
    try:
        gate.record_exit(outcome, result.exit_code, who)
    except AgentgateError as e:
        output.exit_not_logged(result.exit_code, e.message)
    except Exception as e:  # a bug, after the command ran: say so, and keep its exit code
        from . import errorlog

        log = errorlog.record(e)
        output.exit_not_logged(result.exit_code, f"internal error: {type(e).__name__}: {e}"
                               + (f"; details in {log}" if log else ""))
    return result.exit_code


def _wait_seconds(wait: str | bool | None) -> float | None:
    """``--wait``'s seconds (None: until the request expires, or no wait at all)."""
    if not isinstance(wait, str):
        return None
    from .waiting import wait_seconds

    return wait_seconds(wait)


def _wait(gate: AnyGate, outcome: Outcome, authorize: Callable[[], Outcome],
          seconds: float | None) -> Outcome:
    """Wait for the human (agentgate.waiting), with a one-line status on stderr when it is a
    terminal: what to run, and the time left."""
    from .waiting import until_decided

    shown = False

    def tick(rid: str, left: float) -> None:
        nonlocal shown
        more = f", {left:.0f}s left" if left > 0 else ""
        sys.stderr.write(f"\ragentgate: waiting for a human: agentgate approve {rid}{more}\x1b[K")
        sys.stderr.flush()
        shown = True

    try:
        return until_decided(gate, outcome, authorize, seconds,
                             tick if _stderr_is_terminal() else None)
    finally:
        if shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def hook_command(agent: str, policy: str | None, wait: str | None = None) -> int:
    """`agentgate hook AGENT`: read the agent's hook JSON on stdin, answer in its format.

    Runs on every tool call of a wired agent, so it skips typer like `run`. Never a traceback
    and never exit 1 (which these agents read as "go ahead"): any failure blocks with exit 2;
    a bug is logged (agentgate.errorlog) and blocks the same way. ``wait`` (``--wait DURATION``):
    a held command waits that long for a human's decision (agentgate.waiting)."""
    _short_lived()
    with suppress(ImportError, ValueError, OSError):  # no timer (not the main thread): decide
        _fail_closed_in_time(agent, wait)
    report = None
    try:
        from .backend import open_gate
        from .integrations.hooks import MAX_INPUT_BYTES, handle

        def gate_for(cwd: str) -> AnyGate:
            return open_gate(policy, cwd)

        raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        try:
            base = os.getcwd()
        except OSError:
            base = "/"
        from .integrations.post import post_event

        report = post_event(agent, raw)
        if report is not None:  # the agent's report after a call: never blocks, never fails
            _stop_timer()
            from .integrations.post import report as record_report

            reply = record_report(agent, report, base)
        else:
            reply = handle(agent, raw, gate_for, fallback_cwd=base, explicit_policy=policy,
                           wait=wait)
        out, errs, code = reply.stdout, reply.stderr, reply.exit_code
    except Exception as e:  # a bug: fail closed, in the agent's words when that still works
        out, errs, code = _internal_failure(agent, e)
    _stop_timer()
    _exiting()
    for stream, text in ((sys.stdout, out), (sys.stderr, errs)):
        if text:
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                code = code if report is not None else EXIT_BLOCK  # a report never blocks
    return code


def _fail_closed_in_time(agent: str, wait: str | None) -> None:
    """Answer the agent's deny and exit 2 before it stops waiting for the hook (Gemini CLI runs
    the tool when its hook has not answered in 60 s), whatever holds the hook up (a ledger lock
    wait, a slow disk): ``HOOK_MARGIN`` seconds before the agent's timeout, or, under
    ``--wait``, half that after the wait (whose installed timeout is install.WAIT_MARGIN_S
    after it, which may come before the agent's default)."""
    from .integrations.agents import AGENTS, HOOK_MARGIN

    spec = AGENTS.get(agent)
    if spec is None or spec.hook_timeout is None:
        return
    seconds = spec.hook_timeout - HOOK_MARGIN
    if wait is not None:
        with suppress(AgentgateError):  # the hook itself refuses it
            waited = _wait_seconds(wait)
            if waited:  # the installed timeout is the wait plus WAIT_MARGIN_S, maybe less
                seconds = waited + HOOK_MARGIN / 2

    def expired(signum: int, frame: object) -> None:
        from .integrations.agents import failure_reply

        problem = (f"agentgate did not decide within {seconds:g}s, before {spec.product} "
                   "would stop waiting for its hook")
        reply = failure_reply(spec, f"agentgate: BLOCKED (fail-closed): {problem}. The command "
                                    "was not checked, so it must not run. Do not work around "
                                    "this; tell the human.",
                             f"{problem}: nothing ran. Something held it up: a process holding "
                             "agentgate's ledger lock, a slow disk or service.")
        for fd, text in ((1, reply.stdout), (2, reply.stderr)):
            with suppress(OSError):
                os.write(fd, text.encode("utf-8", "replace"))
        os._exit(EXIT_BLOCK)

    signal = _signals()
    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _stop_timer() -> None:
    with suppress(ValueError, OSError, ImportError):
        signal = _signals()
        signal.setitimer(signal.ITIMER_REAL, 0)


def _signals() -> ModuleType:
    """The built-in _signal module (signal wraps it in enums: 1 ms of imports), as runner."""
    try:
        import _signal  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - not CPython
        import signal as _signal
    return _signal  # type: ignore[no-any-return]


def _internal_failure(agent: str, error: Exception) -> tuple[str, str, int]:
    try:
        from . import errorlog
        from .integrations.hooks import internal_failure

        reply = internal_failure(agent, error, errorlog.record(error))
        return reply.stdout, reply.stderr, reply.exit_code
    except Exception:  # even that failed: the one exit code every agent blocks on
        return "", f"agentgate: BLOCKED (fail-closed): internal error: {error!r}\n", EXIT_BLOCK
