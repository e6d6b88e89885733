"""Did an approved call run? A grant that a hook call used up is a promise that the call may
run, not a record that it did: a permission rule or another hook may refuse it after agentgate
allowed it, or the agent may die. Where an agent reports back after a tool call (its post-tool
event: agentgate.integrations.post), agentgate can say so.

So when a hook call uses up a grant, a record of that use waits in ``<state>/hook-reports/``
(the user's, 0700; personal mode only): "consumed at T, awaiting the agent's report". The
agent's report for that call closes it ("ran", with how it ended). A record still open when
its report is overdue is shown as "the agent never reported that it ran": once a later call
of the same agent session has been reported (the agent went on without reporting this one),
or :data:`DUE_S` after it was consumed. Nothing here says a call did not run: only that no
report came. ``agentgate show ID`` and ``agentgate pending`` read these records; the audit log
has the same story in its ``grant_consumed`` and ``ran`` events.
"""

from __future__ import annotations

import os
import time

from ..fileio import make_state_dir, replace_atomically, state_subdir
from ..jsontext import dumps, loads
from ..lean import sha256_hex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

FOLDER = "hook-reports"
DUE_S = 1800.0  # past this a use without a report is overdue (agents cap a command at 10 min)
KEEP_S = 14 * 86400.0  # records are removed after this
_PRUNE_AT = 512
_MARK_KEEP_S = 600.0
_MAX_BYTES = 64 * 1024
AWAITING, RAN, NO_REPORT = "awaiting report", "ran", "no report"
# A record's state is also in its name, so that a report reads only the open records:
# <grant>.<call key>.<state>.json
_OPEN, _FLAGGED, _CLOSED = "awaiting", "flagged", "ran"


def call_key(agent: str, call_id: str) -> str:
    """The name part of one tool call's records (``call_id``: the agent's session and tool-use
    id, or its session and what the call does when it sends no tool-use id)."""
    return sha256_hex(f"{agent}\0{call_id}".encode("utf-8", "surrogatepass"))[:32]


def session_key(agent: str, session: str) -> str:
    return sha256_hex(f"{agent}\0session\0{session}".encode("utf-8", "surrogatepass"))[:32]


def _folder(state_root: str, create: bool) -> str:
    folder = os.path.join(state_root, FOLDER)
    if create:
        make_state_dir(state_root)
        state_subdir(folder, create=True)
    return folder


def _write(path: str, body: dict[str, Any]) -> None:
    replace_atomically(path, dumps(body).encode("utf-8", "surrogatepass"), 0o600)


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            body = loads(f.read(_MAX_BYTES))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def await_report(state_root: str, agent: str, call_id: str, grant: str, session: str | None,
                 tool_use_id: str | None, subject: dict[str, Any] | None = None,
                 at: float | None = None) -> None:
    """Note that the hook call ``call_id`` of ``agent`` used up a use of ``grant``: its
    report is awaited. ``subject``: what the call runs (kind, argv, cwd), for the audit log."""
    folder = _folder(state_root, create=True)
    body = {"id": grant, "agent": agent, "session": session, "tool_use_id": tool_use_id,
            "at": time.time() if at is None else at, "status": AWAITING,
            "subject": subject}
    _write(os.path.join(folder, f"{grant}.{call_key(agent, call_id)}.{_OPEN}.json"), body)
    _prune(folder)


class Closed:
    """What a report changed: the grant its call used (None: none), and the records of other
    calls whose report is now overdue (each once: they are marked as told)."""

    def __init__(self, grant: str | None, overdue: list[dict[str, Any]]) -> None:
        self.grant = grant
        self.overdue = overdue


def close(state_root: str, agent: str, call_id: str | None, session: str | None,
          outcome: str, exit_code: int | None, decided_at: float | None) -> Closed:
    """The agent reported that its call ``call_id`` ran: close the record of the grant it
    used, note that the session went on (``decided_at``: when the call was decided, if known),
    and find the open records whose report this makes overdue."""
    folder = os.path.join(state_root, FOLDER)
    try:
        names = os.listdir(folder)
    except OSError:
        return Closed(None, [])
    now = time.time()
    grant = None
    if call_id is not None:
        key = call_key(agent, call_id)
        for rid in sorted({n.split(".")[0] for n in names if f".{key}." in n}):
            closed = os.path.join(folder, f"{rid}.{key}.{_CLOSED}.json")
            if not any(_claim(os.path.join(folder, f"{rid}.{key}.{state}.json"), closed)
                       for state in (_OPEN, _FLAGGED)):
                continue
            body = _read(closed)
            if body is None:
                continue
            body.update({"status": RAN, "outcome": outcome, "exit_code": exit_code,
                         "reported_at": now})
            _write(closed, body)
            grant = body.get("id") if isinstance(body.get("id"), str) else None
            if decided_at is None:
                decided_at = _time(body.get("at"))
    if session is not None:
        path = os.path.join(folder, f"session.{session_key(agent, session)}.json")
        known = _read(path) or {}
        last = _time(known.get("decided")) or 0.0
        mark = max(last, decided_at if decided_at is not None else now)
        _write(path, {"agent": agent, "decided": mark, "at": now,
                      **({"ended": known["ended"]} if "ended" in known else {})})
    return Closed(grant, _flag_overdue(folder, names, now))


def end_turn(state_root: str, agent: str, session: str) -> list[dict[str, Any]]:
    """The agent's turn in ``session`` is over (every call of it has ended): mark that session
    as ended and return its open records, now overdue (each once)."""
    folder = os.path.join(state_root, FOLDER)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    now = time.time()
    _write(os.path.join(folder, f"session.{session_key(agent, session)}.json"),
           {"agent": agent, "decided": now, "at": now, "ended": now})
    return _flag_overdue(folder, names, now)


def no_report_event(record: dict[str, Any]) -> dict[str, Any]:
    """A ``no_report`` event: a grant a hook call used up, whose call the agent has not
    reported as run by now (that it did not run, nobody knows)."""
    from ..audit import now_iso

    event: dict[str, Any] = {"event": "no_report"}
    subject = record.get("subject")
    if isinstance(subject, dict):
        event.update({k: subject[k] for k in ("kind", "argv", "cwd") if k in subject})
    at = record.get("at")
    event.update({"id": record.get("id"), "agent": record.get("agent"),
                  "session": record.get("session"), "tool_use_id": record.get("tool_use_id"),
                  "consumed_at": now_iso(at) if isinstance(at, int | float) else None,
                  "why": record.get("why")})
    return {k: v for k, v in event.items() if v is not None}


def first_report(state_root: str, agent: str, call_id: str) -> bool:
    """Is this the first report of the call ``call_id``? An agent that runs two copies of the
    hook (Codex: both scopes) reports each call twice; the second is not recorded again."""
    folder = _folder(state_root, create=True)
    try:
        fd = os.open(os.path.join(folder, f"reported.{call_key(agent, call_id)}"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    _prune(folder)
    return True


def _flag_overdue(folder: str, names: list[str], now: float) -> list[dict[str, Any]]:
    """The open records whose report is overdue, renamed as told."""
    found = []
    for name in names:
        parts = name.split(".")
        if len(parts) != 4 or parts[2] != _OPEN:
            continue
        path = os.path.join(folder, name)
        body = _read(path)
        if body is None or body.get("status") != AWAITING:
            continue
        told = _status(folder, body, now)
        if told["status"] == NO_REPORT and _claim(
                path, os.path.join(folder, f"{parts[0]}.{parts[1]}.{_FLAGGED}.json")):
            found.append({**body, "why": told["why"]})
    return found


def _claim(path: str, new: str) -> bool:
    """Move a record to its next state; False when another process moved it first."""
    try:
        os.rename(path, new)
    except FileNotFoundError:
        return False
    return True


def _status(folder: str, body: dict[str, Any], now: float) -> dict[str, Any]:
    """One record as `show` and `pending` tell it: ran, awaiting report, or no report."""
    at = _time(body.get("at")) or 0.0
    out: dict[str, Any] = {"id": body.get("id"), "agent": body.get("agent"),
                           "session": body.get("session"), "toolUseId": body.get("tool_use_id"),
                           "consumedAt": at}
    if body.get("status") == RAN:
        out.update({"status": RAN, "outcome": body.get("outcome"),
                    "exitCode": body.get("exit_code"), "reportedAt": body.get("reported_at")})
        return out
    overdue_by = None
    agent, session = body.get("agent"), body.get("session")
    if isinstance(agent, str) and isinstance(session, str):
        mark = _read(os.path.join(folder, f"session.{session_key(agent, session)}.json")) or {}
        decided, ended = _time(mark.get("decided")), _time(mark.get("ended"))
        if ended is not None and ended > at:
            overdue_by = "the agent's turn ended without a report of it"
        elif decided is not None and decided > at:
            overdue_by = "a later call of the same agent session was reported"
    if overdue_by is None and now - at > DUE_S:
        overdue_by = f"no report within {DUE_S / 60:g} minutes"
    out.update({"status": AWAITING if overdue_by is None else NO_REPORT, "why": overdue_by})
    return out


def uses(state_root: str, grant: str, now: float | None = None) -> list[dict[str, Any]]:
    """Every recorded hook use of ``grant``, oldest first, with what the agent reported."""
    return _statuses(state_root, now, lambda name: name.startswith(grant + "."))


def unreported(state_root: str, now: float | None = None) -> list[dict[str, Any]]:
    """Every recorded grant use whose report is overdue, oldest first."""
    return [s for s in _statuses(state_root, now, lambda name: name.startswith("apr_"))
            if s["status"] == NO_REPORT]


def _statuses(state_root: str, now: float | None, want: Any) -> list[dict[str, Any]]:
    folder = os.path.join(state_root, FOLDER)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and want(n))
    except OSError:
        return []
    when = time.time() if now is None else now
    found = [_status(folder, body, when) for body in map(_read, (os.path.join(folder, n)
                                                                 for n in names))
             if body is not None]
    return sorted(found, key=lambda s: s["consumedAt"])


def _prune(folder: str) -> None:
    """Past :data:`_PRUNE_AT` entries, remove the records older than KEEP_S and the marks of
    first reports older than _MARK_KEEP_S (a second copy of a report comes within seconds)."""
    try:
        entries = list(os.scandir(folder))
        if len(entries) < _PRUNE_AT:
            return
        now = time.time()
        for entry in entries:
            keep = _MARK_KEEP_S if entry.name.startswith("reported.") else KEEP_S
            if entry.stat(follow_symlinks=False).st_mtime < now - keep:
                os.unlink(entry.path)
    except OSError:  # best effort
        return
