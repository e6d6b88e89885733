"""One decision per tool call. An agent may run agentgate's hook more than once for one tool
call (Codex runs every copy it finds: both scopes, hooks.json and ``[hooks]`` in config.toml), at
once or one after the other; each copy would otherwise decide anew, and the copy after the one
that used an approved grant would hold the very retry the human approved. So the first
invocation for a tool-use id decides, under a lock of its own, and the others get its answer.

The answers live in ``<state>/hook-calls/`` (the user's, 0700), one small file per call, kept
for :data:`KEEP_S`; personal mode only. In protected mode a file the agent's own user can write
must not decide anything, so nothing is read from there: the hook tells the service which call
it decides (``hooks._service_factory``), and the service gives its own allow for that call again
(agentgate.service.server, ``Service.calls``); a hold or a deny is simply decided again.
"""

from __future__ import annotations

import os
import time

from ..errors import StateError
from ..fileio import make_state_dir, open_state_file, replace_atomically, state_subdir
from ..jsontext import dumps, loads
from ..lean import sha256_hex
from .agents import Reply

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

KEEP_S = 600.0  # how long a tool call's answer is given again
WITHDRAWN = ".withdrawn"  # touched when a human withdraws an approval: older answers are void
_PRUNE_AT = 256  # answers kept before old ones are removed
_LOCK_WAIT_S = 60.0  # the first invocation holds the lock while the gate decides


def answer_once(state_root: str, agent: str, call_id: str, what: str,
                decide: Callable[[], Reply]) -> Reply:
    """``decide()``'s reply for the tool call ``call_id`` (the agent's session and tool-use id)
    of ``agent``, made once: later invocations for the same call and the same ``what`` (the
    command or file it is about) get it again, without deciding."""
    path = _path(state_root, agent, call_id)
    folder = os.path.dirname(path)
    make_state_dir(state_root)
    state_subdir(folder, create=True)
    fd = open_state_file(path + ".lock", os.O_RDWR, label="a hook call's lock", create=True)
    assert fd is not None
    try:
        _lock(fd, path)
        known = _read(path, what)
        if known is not None:
            return known
        reply = decide()
        body = {"what": what, "at": time.time(), "stdout": reply.stdout,
                "stderr": reply.stderr, "exit_code": reply.exit_code}
        replace_atomically(path, dumps(body).encode("utf-8", "surrogatepass"), 0o600)
        _prune(folder)
        return reply
    finally:
        os.close(fd)  # releases the lock


def decided_at(state_root: str, agent: str, call_id: str) -> float | None:
    """When the tool call ``call_id`` of ``agent`` was decided, if its answer is still kept."""
    body = _load(_path(state_root, agent, call_id))
    at = body.get("at") if body is not None else None
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None


def _path(state_root: str, agent: str, call_id: str) -> str:
    """The file of the answer to the tool call ``call_id`` of ``agent``."""
    name = sha256_hex(f"{agent}\0{call_id}".encode("utf-8", "surrogatepass"))[:40]
    return os.path.join(state_root, "hook-calls", name + ".json")


def _load(path: str) -> dict[str, Any] | None:
    """A recorded answer's body as written (None: no file, or not one of ours)."""
    try:
        with open(path, "rb") as f:
            body = loads(f.read(65536 * 16))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _lock(fd: int, path: str) -> None:
    import fcntl

    deadline = time.monotonic() + _LOCK_WAIT_S
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StateError(f"timed out waiting for {path}.lock (another invocation of the "
                                 "hook for the same tool call holds it)",
                                 "retry; locks of dead processes are released by the OS") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def withdrawn(state_root: str) -> None:
    """A human withdrew an approval (``revoke``, ``policy forget``): every answer recorded
    before now is decided anew, so a replayed tool call never gets an allow that came from
    what was withdrawn (a copy of the hook for a call in flight is then held: the safe side)."""
    folder = os.path.join(state_root, "hook-calls")
    if not os.path.isdir(folder):
        return  # no answer was ever recorded
    try:
        replace_atomically(os.path.join(folder, WITHDRAWN), b"", 0o600)
    except OSError as e:
        raise StateError(f"the approval was withdrawn, but the hooks' recorded answers in {folder} "
                         f"could not be voided ({e.strerror or e})",
                         f"remove {folder} by hand: a replayed tool call could get its old "
                         "answer for up to 10 minutes") from None


def _withdrawn_at(path: str) -> float:
    try:
        return os.stat(os.path.join(os.path.dirname(path), WITHDRAWN)).st_mtime
    except FileNotFoundError:
        return 0.0
    except OSError:
        return float("inf")  # cannot tell: nothing recorded counts


def _read(path: str, what: str) -> Reply | None:
    """The answer recorded for this call, if it is about ``what``, recent and younger than the
    last withdrawal; else None (a corrupt or foreign file is decided anew and replaced)."""
    body = _load(path)
    if (body is None or body.get("what") != what
            or not isinstance(body.get("at"), int | float) or time.time() - body["at"] > KEEP_S
            or body["at"] <= _withdrawn_at(path)):
        return None
    out, err, code = body.get("stdout"), body.get("stderr"), body.get("exit_code")
    if not (isinstance(out, str) and isinstance(err, str) and isinstance(code, int)):
        return None
    return Reply(out, err, code)


def _prune(folder: str) -> None:
    """Past :data:`_PRUNE_AT` entries, remove the answers (and locks) older than KEEP_S."""
    try:
        entries = list(os.scandir(folder))
        if len(entries) < _PRUNE_AT:
            return
        old = time.time() - KEEP_S
        for entry in entries:
            if entry.stat(follow_symlinks=False).st_mtime < old:
                os.unlink(entry.path)
    except OSError:  # best effort: the next new answer tries again
        return
