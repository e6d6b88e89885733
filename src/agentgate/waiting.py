"""Waiting for the human instead of stalling: a held command (``run --wait``, a hook installed
with ``--wait``, the MCP server's ``wait_seconds``) stays blocked until a human decides its
request or the wait ends.

The request is polled through the gate's own ``get`` (the ledger read without the lock in
personal mode, the service's answer in protected mode) every :data:`POLL_S` seconds, so a
decision is seen well within a second. Once it is no longer pending, the very same command is
authorized again, as a retry by the agent would be: an approval's grant is used up there, under
the ledger lock, so the command runs once however many processes wait on it, and a human denial
comes back as that retry's answer. Nothing here prints (the caller's ``tick`` shows a status);
light on purpose, since `run` and the hooks import it when they wait.
"""

from __future__ import annotations

import os
import time

from .errors import AgentgateError, UsageError

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable

    from .backend import AnyGate
    from .outcome import Outcome

POLL_S = 0.2  # how often a waiting process looks at its request
REREAD_S = 2.0  # the ledger is read again this often even when its file did not change
MAX_WAIT_S = 7 * 86400  # longer than any request lives; a bigger number is a mistake


def wait_seconds(text: str) -> float:
    """``--wait``'s value as seconds: a duration (``30s``, ``5m``, ``1h30m``) or a plain
    number of seconds. UsageError (exit 2) for anything else."""
    from .policy.loader import parse_duration

    t = text.strip()
    try:
        seconds = float(t) if t.replace(".", "", 1).isdecimal() else float(parse_duration(t))
    except ValueError as e:
        raise UsageError(f"--wait: {e}" if "duration" in str(e) else f"--wait: bad duration {text!r}",
                         "write --wait=30s (or 5m, 1h), or --wait alone to wait until the request "
                         "expires; put -- before the command") from None
    if not 0 < seconds <= MAX_WAIT_S:
        raise UsageError(f"--wait: {text!r} is not between 0 and 7 days",
                         "write e.g. --wait=30s, --wait=10m")
    return seconds


def until_decided(gate: AnyGate, first: Outcome, retry: Callable[[], Outcome],
                  seconds: float | None, tick: Callable[[str, float], None] | None = None,
                  clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Wait while ``first`` (held: approval required) stays pending, at most ``seconds`` (None:
    until the request expires), then ``retry()`` (the same authorize call) once it was decided.
    Returns the last outcome: allowed (approved: the caller runs it), denied by the human, or
    still held (the wait ran out, or the request expired or was used by another process).
    ``tick(request id, seconds left)`` is called on every poll, for a status line."""
    out = first
    deadline = None if seconds is None else clock() + seconds
    while out.approval_required and out.approval_id is not None:
        rid = out.approval_id
        status = _decided(gate, rid, deadline, tick, clock)
        if status is None:
            return out  # the wait ran out (or the request is gone): held, as without --wait
        if status not in ("approved", "denied"):
            return out  # expired, or used by another process: a new request needs a retry
        out = retry()
        if out.approval_required and out.approval_id == rid:
            return out  # decided, yet held: nothing more to wait for on this request
    return out


def until_not_pending(gate: AnyGate, rid: str, seconds: float,
                      clock: Callable[[], float] = time.monotonic) -> str | None:
    """Wait at most ``seconds`` for request ``rid`` to be decided (or to expire); its status
    then, or None when it is still pending (the MCP server's ``wait_for_approval``)."""
    return _decided(gate, rid, clock() + seconds, None, clock)


def _decided(gate: AnyGate, rid: str, deadline: float | None,
             tick: Callable[[str, float], None] | None, clock: Callable[[], float]) -> str | None:
    """The request's status once it is no longer pending; None when the wait ends first."""
    stamp: tuple[int, int, int] | None = None
    looked = -REREAD_S
    while True:
        now = clock()
        if deadline is not None and now >= deadline:
            return None
        seen = _ledger_stamp(gate)
        if seen is None or seen != stamp or now - looked >= REREAD_S:
            stamp, looked = seen, now  # the service, a change, or time that may expire it
            try:
                view = gate.get(rid)
            except AgentgateError:
                return None
            status = view.request.status
            if status != "pending":
                return status
            if deadline is None:
                deadline = now + max(0.0, view.request.expires_at - view.now) + POLL_S
        if tick is not None:
            tick(rid, (deadline - now) if deadline is not None else 0.0)
        time.sleep(POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - clock())))


def _ledger_stamp(gate: AnyGate) -> tuple[int, int, int] | None:
    """What tells that the local ledger file changed (its inode, size and modification time:
    every change is a rename of a new file); None for the service's gate, which is asked
    every time."""
    paths = getattr(gate, "paths", None)
    if paths is None:
        return None
    try:
        st = os.stat(paths.ledger)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
