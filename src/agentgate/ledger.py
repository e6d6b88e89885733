"""Requests and grants: a small state machine kept in one JSON file under a file lock.

    pending  --approve-->  approved  --its last use-->  consumed
       |                      |
       +--deny--> denied      +--approval_ttl passes--> expired
       |            |         +--revoke--> revoked
       |            +--revoke--> revoked  (the denial lifted: the next try asks again)
       +--request_ttl passes--> expired

A grant is good for ``uses`` runs of the very same command (one by default; ``None``: any
number until it expires, like sudo's timestamp), each counted in ``used``, by the agent that
asked for it (``agent``, the name its calling path gave; see :meth:`LedgerState.open_for`).

Every read-modify-write happens inside :meth:`Ledger.locked`: take the lock (bounded wait), read
the file (a corrupt or future-version file is an error and is never overwritten), let the caller
change the state, then write a temp file in the same directory, fsync it and ``os.replace`` it.
A crash at any instant leaves either the old or the new file, never a mix.

Only open requests, denials in force and the ``ARCHIVE_KEEP`` most recently finished requests stay
in ``ledger.json``; older finished ones move to ``ledger-done.jsonl`` (appended before the ledger
is replaced, so a crash between the two leaves a duplicate, never a loss) and are pruned from there
after the retention period. The file every decision reads stays small however long the history.

Time only moves forward here. The ledger stores the latest time it has used (its high-water
mark) with the boot id and the boot's monotonic clock (CLOCK_BOOTTIME, which counts suspend too)
read at that moment. Ledger time is the wall clock, or, when that is behind, the mark plus the
real time known to have passed since: the monotonic time elapsed on the same boot, or the whole
uptime of a later boot (all of it came after the mark). So a clock set back, or one that once
jumped years ahead, never stalls the expiry of grants, requests and denials. A grant also records
the boot and monotonic clock of its approval: it expires when ledger time or the monotonic clock
says its TTL has passed, and a grant approved on another boot is expired, since no clock can
prove it is still within its TTL (see :meth:`LedgerState.grant_overdue`).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator

from .audit import MARK_KEY
from .errors import Conflict, NotFound, StateError, UsageError
from .faults import test_boot_clock, test_clock
from .fileio import (
    Staged,
    check_state_dir,
    make_state_dir,
    open_state_file,
    read_state_file,
    replace_atomically,
    staged_state_file,
)
from .jsontext import json_dumps, loads
from .lean import Record, asdict, contextmanager, field, sha256_hex, suppress
from .paths import StatePaths

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

LEDGER_VERSION = 1
ARCHIVE_KEEP = 200  # finished requests kept in ledger.json; older ones go to the archive
PENDING, APPROVED, DENIED, EXPIRED, CONSUMED = "pending", "approved", "denied", "expired", "consumed"
REVOKED = "revoked"
OPEN = (PENDING, APPROVED)
STATUSES = frozenset({PENDING, APPROVED, DENIED, EXPIRED, CONSUMED, REVOKED})
MAX_USES = 1000  # a counted grant's ceiling: more than that is a standing one (--for)
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: easy to read aloud and type


def checked_uses(uses: object) -> int:
    """``uses`` when it is a count a grant may allow (1 to MAX_USES); else the one UsageError
    that the CLI, watch, the dashboard and the service all give."""
    if isinstance(uses, bool) or not isinstance(uses, int) or not 1 <= uses <= MAX_USES:
        raise UsageError(f"--uses takes 1 to {MAX_USES}, not {uses!r}",
                         "for any number of runs over a period: --for DURATION")
    return uses


def new_id() -> str:
    import secrets  # 4 ms of imports (hmac, OpenSSL): only a new request pays them

    return "apr_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def fingerprint(subject: dict[str, Any]) -> str:
    """sha256 of canonical JSON of what would run (argv or script, and the resolved cwd)."""
    canon = json_dumps(subject, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(canon.encode("utf-8", "surrogateescape"))


def hostname() -> str:
    """The node name (what socket.gethostname() returns, without importing socket)."""
    return os.uname().nodename


def current_user() -> str:
    """What getpass.getuser() answers, without importing getpass (and termios)."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid())[0]
    except Exception:  # no passwd entry, no env: still record something
        return str(os.getuid())


class Request(Record, frozen=False):
    id: str
    fingerprint: str
    kind: str  # "argv" | "script" | "action"
    argv: list[str]
    cwd: str
    rule: str | None
    reason: str
    agent: str
    pid: int
    user: str
    host: str
    status: str
    created_at: float
    expires_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    human_reason: str | None = None
    consumed_at: float | None = None
    finished_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    approved_boot: str | None = None  # boot id and boot-clock reading when approved
    approved_mono: float | None = None
    attributes: dict[str, Any] | None = None  # an action's attributes (what the grant binds)
    uses: int | None = 1  # runs the grant allows (None: any number until it expires)
    used: int = 0
    grant_ttl: float | None = None  # the policy's approval_ttl and request_ttl when requested:
    deny_hold: float | None = None  # approve and deny read them here, not in the policy
    policy: str | None = None  # the sha256 of that policy (the human's audit lines name it)

    @property
    def standing(self) -> bool:
        """A grant for more than one run (``approve --uses N`` or ``--for DURATION``)."""
        return self.uses != 1

    @property
    def uses_left(self) -> int | None:
        return None if self.uses is None else max(0, self.uses - self.used)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Request:
        """A record read from the ledger; wrong types are corruption (ValueError), so a damaged
        file is reported as such instead of failing later in a comparison."""
        if not isinstance(d, dict):
            raise ValueError("a request is not an object")
        req = cls(**d)
        num = (int, float)
        checks: list[tuple[object, type | tuple[type, ...]]] = [
            (req.id, str), (req.fingerprint, str), (req.kind, str), (req.cwd, str),
            (req.reason, str), (req.agent, str), (req.status, str),
            (req.created_at, num), (req.expires_at, num), (req.history, list),
        ]
        if any(isinstance(v, bool) or not isinstance(v, t) for v, t in checks):
            raise ValueError(f"request {req.id!r} has a field of the wrong type")
        if not isinstance(req.argv, list) or not all(isinstance(a, str) for a in req.argv):
            raise ValueError(f"request {req.id!r}: argv is not a list of strings")
        if req.attributes is not None and (not isinstance(req.attributes, dict) or not all(
                isinstance(k, str) and isinstance(v, str | int | float) for k, v in req.attributes.items())):
            raise ValueError(f"request {req.id!r}: attributes are not names with plain values")
        if req.status not in STATUSES:
            raise ValueError(f"request {req.id!r} has unknown status {req.status!r}")
        for v in (req.decided_at, req.consumed_at, req.finished_at, req.approved_mono,
                  req.grant_ttl, req.deny_hold):
            if v is not None and (isinstance(v, bool) or not isinstance(v, num)):
                raise ValueError(f"request {req.id!r} has a time of the wrong type")
        if req.policy is not None and not isinstance(req.policy, str):
            raise ValueError(f"request {req.id!r} names its policy wrongly")
        for n in (req.used, 1 if req.uses is None else req.uses):
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"request {req.id!r} has a use count of the wrong type")
        return req

    def note(self, at: float, event: str, **extra: Any) -> None:
        self.history.append({"at": at, "event": event, **extra})


class Mark(Record):
    """The ledger's high-water time and the clocks read when it was recorded."""

    clock: float = 0.0
    boot: str | None = None
    mono: float = 0.0
    host: str | None = None


def ledger_time(wall: float, mark: Mark, boot: str | None, mono: float, host: str) -> float:
    """The wall clock, or, when it is behind ``mark``, the mark plus the real time known to have
    passed since it: the monotonic time elapsed on the same boot, or a later boot's whole uptime.
    Nothing is added when the mark's boot or host is unknown or another machine's (a shared home
    directory): then ledger time holds at the mark, and grants rely on their own boot check."""
    elapsed = 0.0
    if boot is not None and mark.boot is not None and mark.host == host:
        elapsed = max(0.0, mono - mark.mono) if mark.boot == boot else mono
    return max(wall, mark.clock + elapsed)


class LedgerState(Record, frozen=False):
    """The ledger's content while the lock is held. ``now`` never goes backwards."""

    requests: dict[str, Request]
    now: float
    dirty: bool = False
    boot: str | None = None  # this boot's id and its monotonic clock (see boot_clock)
    mono: float = 0.0
    archive: Callable[[str], Request | None] | None = None  # lookup of archived requests
    prune_window: tuple[float, float] | None = None  # (cutoff, retention) of the last prune
    audit_mark: dict[str, Any] | None = None  # the audit lines the saved ledger goes with

    def grant_overdue(self, req: Request) -> bool:
        """Has this approved grant's TTL passed by any clock the gate can read? Ledger time, or
        the monotonic clock since the approval on this boot. A grant approved on another boot
        (or with a boot clock known at one end only) is overdue: nothing can tell how long the
        machine was down. Only where there is no boot clock at all does ledger time decide alone."""
        if req.expires_at <= self.now:
            return True
        if self.boot is None and req.approved_boot is None:
            return False
        if req.approved_boot != self.boot or req.approved_mono is None:
            return True
        ttl = req.expires_at - (req.decided_at if req.decided_at is not None else req.expires_at)
        elapsed = self.mono - req.approved_mono
        return elapsed < 0 or elapsed >= ttl

    def get(self, rid: str) -> Request:
        req = self.requests.get(rid)
        if req is None and self.archive is not None:
            req = self.archive(rid)
        if req is None:
            raise NotFound(f"no request with id {rid!r}",
                           "list open requests with `agentgate pending`; finished ones may have "
                           "been pruned (see `agentgate log --id ...`)")
        return req

    def open_for(self, fp: str, agent: str) -> Request | None:
        """The pending or approved request ``agent`` made for this fingerprint, if any: a
        request and its grant belong to the agent that asked (the name recorded on it), so
        another agent's identical command is a request of its own."""
        for req in self.requests.values():
            if req.fingerprint == fp and req.agent == agent and req.status in OPEN:
                return req
        return None

    def denied_for(self, fp: str) -> Request | None:
        """A human denial that is still in force for this fingerprint, whichever agent asked:
        a denial holds the command for every agent (the strictest reading of a name that is a
        label, not a proof)."""
        for req in self.requests.values():
            if req.fingerprint == fp and req.status == DENIED and req.expires_at > self.now:
                return req
        return None

    def add(self, req: Request) -> None:
        while req.id in self.requests:
            req.id = new_id()
        self.requests[req.id] = req
        self.dirty = True

    def expire(self) -> list[Request]:
        """Move overdue pending requests and unused grants to ``expired``; return them."""
        out = []
        for req in self.requests.values():
            if (req.status == PENDING and req.expires_at <= self.now) or (
                    req.status == APPROVED and self.grant_overdue(req)):
                was = req.status
                req.status = EXPIRED
                req.finished_at = self.now
                req.note(self.now, "expired", was=was)
                out.append(req)
        if out:
            self.dirty = True
        return out

    def prune(self, retention: float) -> int:
        """Drop finished requests older than ``retention`` seconds (the audit log keeps them)."""
        cutoff = self.now - retention
        drop = [rid for rid, r in self.requests.items()
                if r.status not in OPEN and _finished_at(r) < cutoff
                and not (r.status == DENIED and r.expires_at > self.now)]
        for rid in drop:
            del self.requests[rid]
        if drop:
            self.dirty = True
        self.prune_window = (cutoff, retention)
        return len(drop)

    def retire(self, keep: int) -> list[Request]:
        """Remove and return finished requests beyond the ``keep`` most recent (for the archive)."""
        done = [r for r in self.requests.values() if r.status not in OPEN
                and not (r.status == DENIED and r.expires_at > self.now)]
        if len(done) <= keep:
            return []
        done.sort(key=_finished_at)
        old = done[:len(done) - keep]
        for r in old:
            del self.requests[r.id]
        return old

    def approve(self, rid: str, ttl: float, by: str, uses: int | None = 1) -> Request:
        """Approve for ``uses`` runs (None: any number) within ``ttl`` seconds."""
        if uses is not None:
            checked_uses(uses)
        req = self._decidable(rid, "approve")
        req.status = APPROVED
        req.decided_at = self.now
        req.decided_by = by
        req.expires_at = self.now + ttl
        req.approved_boot, req.approved_mono = self.boot, self.mono
        req.uses, req.used = uses, 0
        extra = {} if uses == 1 else {"uses": uses}
        req.note(self.now, "approved", by=by, ttl=ttl, **extra)
        self.dirty = True
        return req

    def deny(self, rid: str, reason: str | None, by: str, hold: float) -> Request:
        req = self._decidable(rid, "deny")
        req.status = DENIED
        req.decided_at = self.now
        req.decided_by = by
        req.human_reason = reason
        req.finished_at = self.now
        req.expires_at = self.now + hold
        req.note(self.now, "human_denied", by=by, reason=reason)
        self.dirty = True
        return req

    def consume(self, req: Request) -> None:
        """Use the grant once: its last use finishes it (``consumed``). A standing grant's
        uses are counted, not each noted here (the audit log has a line for every one)."""
        if req.status != APPROVED or self.grant_overdue(req) or req.uses_left == 0:
            raise Conflict(f"grant {req.id} is not usable (status {req.status})")
        req.used += 1
        req.consumed_at = self.now
        if req.uses_left == 0:
            req.status = CONSUMED
            req.finished_at = self.now
            req.note(self.now, "grant_consumed", **({"use": req.used} if req.standing else {}))
        self.dirty = True

    def revoke(self, rid: str, by: str) -> Request:
        """Withdraw an approved grant (used or not, while it still has runs), or lift a human
        denial that is in force, so that the next try asks a human again."""
        req = self.get(rid)
        self.expire()
        if req.status == DENIED and req.expires_at <= self.now:
            raise Conflict(f"cannot revoke {rid}: its denial is no longer in force")
        if req.status not in (APPROVED, DENIED):
            detail = {
                PENDING: "it is still pending: deny it (agentgate deny ID) instead",
                CONSUMED: "its grant has been used up; nothing is left to withdraw",
                EXPIRED: "it has expired; nothing is left to withdraw",
                REVOKED: "it was already revoked",
            }.get(req.status, f"its status is {req.status}")
            raise Conflict(f"cannot revoke {rid}: {detail}")
        was = req.status
        req.status = REVOKED
        req.finished_at = self.now
        req.note(self.now, "revoked", by=by, was=was)
        self.dirty = True
        return req

    def _decidable(self, rid: str, verb: str) -> Request:
        req = self.get(rid)
        if req.status == PENDING and req.expires_at <= self.now:
            self.expire()
        if req.status != PENDING:
            detail = {
                APPROVED: "it is already approved",
                DENIED: "it was already denied",
                CONSUMED: "it was approved and its grant has been used",
                EXPIRED: "it has expired; retry the command to open a new request",
                REVOKED: "it was revoked; retry the command to open a new request",
            }.get(req.status, f"its status is {req.status}")
            raise Conflict(f"cannot {verb} {rid}: {detail}")
        return req


def boot_clock() -> tuple[str | None, float]:
    """(boot id, seconds since boot including suspend); (None, 0.0) where there is no such clock."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            boot = f.read().strip().decode("ascii")
        return boot, time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError, UnicodeDecodeError):
        return None, 0.0


class Ledger:
    def __init__(self, paths: StatePaths, *, lock_timeout: float = 10.0,
                 clock: Callable[[], float] = time.time,
                 boot_clock: Callable[[], tuple[str | None, float]] = boot_clock):
        self.paths = paths
        self.lock_timeout = lock_timeout
        self.clock = test_clock(clock)
        self.boot_clock = test_boot_clock(boot_clock)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the ledger lock (bounded wait). Audit appends happen under it too.

        On POSIX this takes ``flock(2)`` on the lock file directly: the same lock that filelock's
        UnixFileLock takes (so the two exclude each other), without filelock's import cost on
        every gated command. The kernel drops it when its holder dies. Elsewhere: filelock.

        The state directory is checked (and created 0700) first: see fileio.check_state_dir."""
        make_state_dir(self.paths.root)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            with self._portable_lock():
                yield
            return
        fd = open_state_file(self.paths.lock, os.O_RDWR, label="the lock file", create=True)
        assert fd is not None
        try:
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise self._timeout() from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
                except OSError as e:
                    raise StateError(f"cannot lock {self.paths.lock}: {e.strerror or e}",
                                     "make the state directory writable (AGENTGATE_HOME)") from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _timeout(self) -> StateError:
        return StateError(f"timed out after {self.lock_timeout:g}s waiting for the ledger lock "
                          f"{self.paths.lock}",
                          "another agentgate process holds it; if none is running, retry "
                          "(locks of dead processes are released by the OS)")

    @contextmanager
    def _portable_lock(self) -> Iterator[None]:  # pragma: no cover - not POSIX
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.paths.lock), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise self._timeout() from None
        except OSError as e:
            raise StateError(f"cannot lock {self.paths.lock}: {e.strerror or e}") from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def locked(self) -> Iterator[LedgerState]:
        """Hold the lock, load the state, yield it, and write it back if it changed."""
        with self.lock():
            state = self._load()
            yield state
            if state.dirty:
                self.commit(state)

    def read_only(self) -> LedgerState:
        """A snapshot without the lock (for listings); writes go through :meth:`locked`."""
        check_state_dir(self.paths.root)
        return self._load()

    def _load(self) -> LedgerState:
        state, mark = self._read()
        state.boot, state.mono = self.boot_clock()
        state.now = ledger_time(self.clock(), mark, state.boot, state.mono, hostname())
        state.archive = self._archived
        return state

    def _read(self) -> tuple[LedgerState, Mark]:
        path = self.paths.ledger
        data = read_state_file(path, label="ledger")
        if data is None:
            return LedgerState({}, 0.0), Mark()
        hint = (f"the file was left untouched; move it aside (mv {path} {path}.bad) to start "
                "with an empty ledger, or restore it from a backup")
        try:
            doc = loads(data.decode("utf-8", "surrogateescape"))  # argv bytes, not UTF-8
        except ValueError as e:
            raise StateError(f"ledger {path} is corrupt (not JSON: {e})", hint) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("requests"), dict):
            raise StateError(f"ledger {path} is corrupt (unexpected structure)", hint)
        version = doc.get("version")
        if version != LEDGER_VERSION:
            if isinstance(version, int) and version > LEDGER_VERSION:
                raise StateError(f"ledger {path} was written by a newer agentgate (version {version})",
                                 "upgrade agentgate; the file was left untouched")
            raise StateError(f"ledger {path} has unknown version {version!r}", hint)
        try:
            reqs = {rid: Request.from_dict(r) for rid, r in doc["requests"].items()}
            if any(rid != r.id for rid, r in reqs.items()):
                raise ValueError("a request is filed under another id")
        except (TypeError, ValueError) as e:
            raise StateError(f"ledger {path} is corrupt (bad request record: {e})", hint) from None
        clock, boot, mono, host = (doc.get(k) for k in ("clock", "clock_boot", "clock_mono",
                                                        "clock_host"))
        num = (int, float)
        mark = Mark(float(clock) if isinstance(clock, num) else 0.0,
                    boot if isinstance(boot, str) else None,
                    float(mono) if isinstance(mono, num) else 0.0,
                    host if isinstance(host, str) else None)
        audit_mark = doc.get(MARK_KEY)
        return LedgerState(reqs, 0.0, audit_mark=audit_mark if isinstance(audit_mark, dict)
                           else None), mark

    def commit(self, state: LedgerState) -> None:
        """Save ``state`` (caller holds the lock) when it changed, with no audit lines (a state
        change that has some goes through :meth:`staging`)."""
        if state.dirty:
            with self.staging(state):
                pass

    @contextmanager
    def staging(self, state: LedgerState, mark: dict[str, Any] | None = None) -> Iterator[Staged]:
        """The new ledger for ``state`` (caller holds the lock), written and fsynced to a temp
        file before the body runs, so a full disk fails before anything is recorded. It
        records ``mark``, the last line of the audit append that goes with it (see
        audit.MARK_KEY; the previous mark when None). The body writes those lines and calls
        ``Staged.replace``, the commit point; otherwise the ledger is replaced when the body
        returns. Finished requests beyond ``ARCHIVE_KEEP`` go to the archive first (a crash
        before the rename leaves a duplicate there, never a loss), and the archive is pruned
        after the rename. OSError is a StateError saying whether the new ledger is in place."""
        retired = state.retire(ARCHIVE_KEEP)
        if retired:
            self._append_archive(retired)
        if mark is None:
            mark = state.audit_mark
        path = self.paths.ledger
        doc = {"version": LEDGER_VERSION, "clock": state.now, "clock_boot": state.boot,
               "clock_mono": state.mono, "clock_host": hostname(), MARK_KEY: mark,
               "requests": {rid: r.to_dict() for rid, r in state.requests.items()}}
        data = json_dumps(doc, indent=1, ensure_ascii=False).encode("utf-8", "surrogateescape")
        staged: Staged | None = None
        try:
            with staged_state_file(path, data, label="ledger", prefix=".ledger-",
                                   fault_point="ledger",
                                   kept="the previous ledger is intact") as staged:
                yield staged
        finally:
            if staged is not None and staged.replaced:  # also when something failed after it
                state.dirty = False
                state.audit_mark = mark
        if state.prune_window is not None:
            self._compact_archive(*state.prune_window)

    # -- the archive of finished requests ---------------------------------------------------

    def _archived(self, rid: str) -> Request | None:
        """The last archived record of ``rid`` (a crash can leave a duplicate; lines that do not
        parse are fragments of an interrupted append)."""
        prefix = b'{"id":' + json_dumps(rid, ensure_ascii=False).encode("utf-8", "surrogateescape")
        found = None
        fd = open_state_file(self.paths.archive, os.O_RDONLY, label="the archive")
        if fd is None:
            return None
        try:
            with open(fd, "rb") as f:
                for line in f:
                    if line.startswith(prefix):
                        found = line
        except OSError as e:
            raise StateError(f"cannot read {self.paths.archive}: {e.strerror or e}",
                             "fix the permissions of the state directory (AGENTGATE_HOME)") from None
        if found is None:
            return None
        try:
            return Request.from_dict(loads(found.decode("utf-8", "surrogateescape")))
        except (ValueError, TypeError):
            return None

    def _append_archive(self, reqs: list[Request]) -> None:
        path = self.paths.archive
        data = b"".join(_archive_line(r) for r in reqs)
        fd = open_state_file(path, os.O_RDWR | os.O_APPEND, label="the archive", create=True)
        assert fd is not None
        size: int | None = None
        try:
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # never glue onto the fragment of a crashed append
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            except OSError:
                if size is not None:
                    with suppress(OSError):
                        os.ftruncate(fd, size)
                raise
            finally:
                os.close(fd)
        except OSError as e:
            raise StateError(f"cannot append to {path}: {e.strerror or e}",
                             "free disk space or fix permissions of the state directory; "
                             "the ledger is intact") from None

    def _compact_archive(self, cutoff: float, retention: float) -> None:
        """Drop archived requests that finished before ``cutoff``; rewrites only when the oldest
        is a tenth of the retention past it, so that this happens rarely."""
        path = self.paths.archive
        fd = open_state_file(path, os.O_RDONLY, label="the archive")
        if fd is None:
            return
        try:
            with open(fd, "rb") as f:
                first = f.readline()
                if _line_finished_at(first) >= cutoff - retention / 10:
                    return
                f.seek(0)
                keep = [ln if ln.endswith(b"\n") else ln + b"\n" for ln in f
                        if _line_finished_at(ln) >= cutoff]
            replace_atomically(path, b"".join(keep), prefix=".ledger-done-")
        except OSError as e:
            raise StateError(f"cannot prune {path}: {e.strerror or e}",
                             "free disk space or fix permissions of the state directory") from None


def _finished_at(r: Request) -> float:
    return r.finished_at or r.decided_at or r.created_at


def _archive_line(r: Request) -> bytes:
    return json_dumps(r.to_dict(), separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"


def _line_finished_at(line: bytes) -> float:
    """When an archived request finished; 0.0 (prune it) for a line that does not parse."""
    try:
        d = loads(line.decode("utf-8", "surrogateescape"))
        t = d.get("finished_at") or d.get("decided_at") or d.get("created_at")
        return float(t) if isinstance(t, (int, float)) else 0.0
    except (ValueError, AttributeError):
        return 0.0


def make_request(*, fp: str, kind: str, argv: list[str], cwd: str, rule: str | None, reason: str,
                 agent: str, now: float, request_ttl: float, user: str | None = None,
                 pid: int | None = None, approval_ttl: float | None = None,
                 policy: str | None = None) -> Request:
    """A new pending request, from this process and user unless the service names its client;
    it keeps the policy's ``approval_ttl`` and ``request_ttl`` for the human's decision."""
    req = Request(id=new_id(), fingerprint=fp, kind=kind, argv=argv, cwd=cwd, rule=rule,
                  reason=reason, agent=agent, pid=os.getpid() if pid is None else pid,
                  user=current_user() if user is None else user,
                  host=hostname(), status=PENDING, created_at=now,
                  expires_at=now + request_ttl, grant_ttl=approval_ttl, deny_hold=request_ttl,
                  policy=policy)
    req.note(now, "approval_requested", agent=agent)
    return req

