"""The append-only JSONL audit log with a hash chain, and the head that vouches for its end.

Each line is one JSON object. ``prev`` holds the sha256 (hex) of the previous line's bytes (without
its newline) and ``seq`` counts up by one, so an edited, deleted or reordered line breaks the
chain. ``audit.head`` records the seq and sha256 of the last line, so a cut or edited *last* line,
or a deleted log, shows too. :meth:`AuditLog.verify` always checks both; there is no way to walk
the chain without the head.

An append (the caller holds the ledger lock) first compares the head with the file's actual end.
A head that is behind by exactly one append's lines (chained to the head's line, one process,
as many as that append's first line says in ``batch``, fewer only when the write was torn) is
what a crash before that append's commit point leaves; a head further behind is damage (an older
head put back). Those lines did not take effect, so the append records a ``retracted`` line
naming the ones that claim something (:data:`CLAIMS`), unless a state file in ``confirming``
(ledger, trust records) records their last line under :data:`MARK_KEY`: their commit point was
that file's rename, which happened, and the head just catches up. Anything else (lines cut from
the end, an edited last line, a missing or garbled head) is recorded as an ``audit_break`` line,
chained like any other, so that ``verify`` reports the damage for ever after while new events
are still recorded.

The lines are written with one ``write`` on an ``O_APPEND`` descriptor, then the head is
replaced. For a plain append (:meth:`AuditLog.append`) the head's rename is the commit point
(before the command starts), and when anything fails before it the file is cut back to where
it was. A state change (gate.Gate._record) uses the steps apart: :meth:`AuditLog.prepare` (the
lines and their mark), the state file's temp file recording the mark, :meth:`AuditLog.write`,
:meth:`AuditLog.stage_head`, the state file's rename (its commit point), then
:meth:`AuditLog.replace_head`.

A process killed mid-write leaves a fragment without a newline. The next append starts a new
line and marks its first line with ``torn``, the sha256 of each fragment it steps over; verify
accepts a fragment only there, and only when it is a prefix of what the writer would have
written (``{"ts":"...","seq":N,"event":"...``). Junk inserted anywhere, or a line cut short on
purpose, is reported.

When the log grows past ``max_bytes`` it is rolled to ``audit-YYYYMMDDTHHMMSSZ.jsonl`` beside it;
the chain continues into the new file, and readers walk the rolled files in the order of the first
seq each holds (the time in the name is the wall clock's, for people: a clock set back at a roll
must not reorder the chain). Audit files are opened without following symbolic links and created
0600.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterable, Iterator

from .errors import StateError
from .faults import fault
from .fileio import (
    Staged,
    make_state_dir,
    open_state_file,
    read_state_file,
    remove_stale_temps,
    replace_atomically,
    signals_deferred,
    stage_file,
    state_file_exists,
)
from .jsontext import AUDIT_SUFFIX, dumps_bytes, json_dumps, loads
from .lean import Record, sha256_hex, suppress
from .paths import pure

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from .fileio import StrPath

GENESIS = "0" * 64
# Every event name written to the log (README "The audit log, and CI" documents each).
EVENTS = frozenset({"allowed", "denied", "approval_requested", "approval_pending", "approved",
                    "human_denied", "grant_consumed", "expired", "exited", "blocked",
                    "ran", "no_report", "notified", "notify_failed",
                    "policy_trusted", "retracted", "audit_break", "revoked", "exception_added",
                    "exception_removed"})
# Events whose claim holds only once the commit point of the append that wrote them passed (the
# head write before a command starts, the rename of the ledger or trust records); the others (a
# denial, an exit code, a block) are true as soon as written.
CLAIMS = frozenset({"allowed", "approval_requested", "approved", "human_denied", "grant_consumed",
                    "expired", "policy_trusted", "revoked", "exception_added",
                    "exception_removed"})
# The key under which a state file (ledger, trust records) records the last audit line of the
# append that went with its commit (Batch.mark).
MARK_KEY = "audit"
_TAIL_CHUNK = 64 * 1024
_SCAN_LIMIT = 4 * 1024 * 1024  # how far back an append looks for the chain's end or the head's line
_LABEL = "audit log"
_TS_SHAPE = b"####-##-##T##:##:##.###Z"  # now_iso's fixed format; # is a digit
_EVENT_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz_")

Line = tuple[str, int, bytes]  # (file, line number, raw bytes without the newline)


def now_iso(t: float | None = None) -> str:
    """UTC timestamp with milliseconds, e.g. ``2026-11-30T04:35:00.123Z``."""
    t = time.time() if t is None else t
    ms = round(t * 1000)
    secs, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ms:03d}Z"


def parse_iso(text: str) -> float:
    """Inverse of :func:`now_iso` (also accepts no fraction and ``+00:00``)."""
    from datetime import UTC, datetime

    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def line_hash(raw: bytes) -> str:
    return sha256_hex(raw)


def parse_line(raw: bytes) -> Any:
    """json.loads for one audit line; argv bytes that are not UTF-8 come back as surrogates."""
    return loads(raw.decode("utf-8", "surrogateescape"))


def _event_of(raw: bytes) -> dict[str, Any] | None:
    """The line as a JSON object, or None for anything else (a fragment, junk)."""
    try:
        ev = parse_line(raw)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


def _seq_of(ev: dict[str, Any]) -> int:
    seq = ev.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else -1


def _dumps(event: dict[str, Any]) -> bytes:
    """One line, always valid UTF-8: a value holding bytes that are not UTF-8 shows them as
    U+FFFD and gets an exact ``<key>_base64`` companion (see agentgate.jsontext)."""
    return dumps_bytes(event, AUDIT_SUFFIX, separators=(",", ":"))


def looks_torn(raw: bytes, seq: int) -> bool:
    """Could ``raw`` be what a crash leaves of the line ``seq``: a proper prefix of what the
    writer writes, ``{"ts":"<now_iso>","seq":<seq>,"event":"<a known event>",...``?"""
    template = b'{"ts":"' + _TS_SHAPE + b'","seq":' + str(seq).encode() + b',"event":"'
    if not raw or _event_of(raw) is not None:
        return False
    for got, want in zip(raw, template, strict=False):
        if not (got == want or (want == 0x23 and 0x30 <= got <= 0x39)):
            return False
    name, quote, _ = raw[len(template):].partition(b'"')
    if not set(name) <= _EVENT_CHARS:
        return False
    return not quote or name.decode("ascii") in EVENTS


class End(Record):
    """Where the chain ends in the files: what an append continues from."""

    seq: int  # the last whole line's seq; 0 when there is none; -1 when it has no valid seq
    digest: str  # that line's sha256 (GENESIS when there is none)
    fragments: tuple[bytes, ...]  # lines after it that are not JSON objects, oldest first
    torn: bool  # the current file does not end with a newline (a crash mid-line)


class Head(Record):
    """What ``audit.head`` says: the seq and sha256 of the chain's last line."""

    seq: int  # -1: the head exists but cannot be read as a head record
    digest: str

    def to_dict(self) -> dict[str, Any] | None:
        return {"seq": self.seq, "sha256": self.digest} if self.seq >= 0 else None


_UNREADABLE = Head(-1, "")


def _head_problem(head: Head | None, last_seq: int, last_digest: str,
                  lagging: Callable[[], str | None]) -> str | None:
    """Compare the recorded head with the chain's actual end; a description of the damage, or
    None. ``lagging`` checks a head behind the end: None when the lines after it are what a
    crash leaves (see :func:`_one_append`), else what is wrong with them."""
    if head is None:
        if last_seq == 0:
            return None
        return ("the head record is missing, so nothing vouches for the end of the log (it was "
                "deleted: agentgate writes it before the first line)")
    if head.seq < 0:
        return "the head record is unreadable (garbled, replaced or not a regular file)"
    if last_seq < 0:
        return "the last line of the log is not a valid audit line (it was edited)"
    if head.seq > last_seq:
        return (f"the log ends at seq {last_seq} but the head records seq {head.seq}: lines were "
                "removed from the end (or the whole log was replaced or deleted)")
    if head.seq == last_seq:
        if head.digest == last_digest:
            return None
        return f"line seq {head.seq} does not match the head record: the last line was edited"
    return lagging()


def _one_append(head: Head, first: dict[str, Any] | None, count: int, one_pid: bool,
                torn: bool) -> str | None:
    """Are the ``count`` whole lines after the head (``first`` the line right after it) what a
    crash leaves: one append's lines, written and never confirmed by the head write? They
    chain to the head, come from one process, and are as many as the append wrote (its first
    line's ``batch``, 1 when absent), or fewer when its write was torn. None when they are,
    else what is wrong. Anything more (an older head put back, lines added) is damage."""
    if first is None or first.get("prev") != head.digest:
        return (f"the head records seq {head.seq}, but that line of the log does not match it: "
                "lines were edited or replaced")
    batch = first.get("batch", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        batch = 1
    if one_pid and (count == batch or (torn and count < batch)):
        return None
    return (f"the head records seq {head.seq}, but the {count} line(s) after it are not what a "
            "crash leaves (the lines of one append, by one process, as many as it wrote): an "
            "older head was put back, or lines were added or cut and the head replaced")


def backwards(fd: int, size: int, limit: int, chunk: int = 4096) -> Iterator[bytes]:
    """The lines of a file from its end: first the piece after the last newline (b"" when the
    file ends with one), then each line before it. Stops after reading ``limit`` bytes. The
    first read is ``chunk`` bytes (most lines are short: a page), each next one four times
    more, up to 64 KiB."""
    pos, rest, top = size, b"", max(chunk, _TAIL_CHUNK)
    while pos > 0:
        if size - pos >= limit:
            return
        step = min(chunk, pos)
        chunk = min(chunk * 4, top)
        pos -= step
        parts = (os.pread(fd, step, pos) + rest).split(b"\n")
        rest = parts[0]
        yield from reversed(parts[1:])
    yield rest


class Batch(Record):
    """An append prepared under the lock (:meth:`AuditLog.prepare`), not written yet."""

    data: bytes  # whole lines, one write
    lines: list[dict[str, Any]]
    seq: int  # the last line's seq and sha256: what the head will record
    digest: str
    durable: bool

    @property
    def mark(self) -> dict[str, Any]:
        """What a state file saved with these lines records under :data:`MARK_KEY`."""
        return {"seq": self.seq, "sha256": self.digest}


class AuditLog:
    """``confirming``: the state files (ledger, trust records) whose rename commits a state
    change; each records under :data:`MARK_KEY` the last line of the append that went with it,
    so that lines a crash left after the head can be told apart: taken effect (a file records
    them) or not (retracted)."""

    def __init__(self, path: StrPath, max_bytes: int = 64 * 1024 * 1024,
                 clock: Callable[[], float] = time.time, confirming: Iterable[StrPath] = ()):
        self.path = pure(path)
        self.max_bytes = max_bytes
        self.clock = clock
        self.confirming = tuple(os.fspath(p) for p in confirming)
        self._dir = os.path.dirname(self.path) or "."
        # Path.stem and Path.suffix: the name's last suffix, unless the name starts or ends
        # with its only dot.
        name = os.path.basename(self.path)
        dot = name.rfind(".")
        self._stem, self._suffix = (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")

    # -- files ---------------------------------------------------------------------------

    @property
    def head_path(self) -> str:
        """Where the end of the chain is recorded, so a cut or edited *last* line shows too."""
        return os.path.join(self._dir, self._stem + ".head")

    def rolled_files(self) -> list[str]:
        """Rolled logs, oldest first: in the order of the first seq each holds, so that the
        chain's order never depends on the wall clock that named them (a clock set back at a
        roll names a newer file before older ones). Files whose first line cannot be read go
        last, by name (time stamp, then the ``-N`` of a same-second roll); reading them
        reports why."""
        import re

        name = re.compile(re.escape(self._stem) + r"-(\d{8}T\d{6}Z)(?:-(\d+))?"
                          + re.escape(self._suffix))
        found = []
        try:
            names = os.listdir(self._dir) if os.path.isdir(self._dir) else []
        except PermissionError:  # as Path.glob: nothing to list
            names = []
        except OSError as e:
            raise StateError(f"cannot list {self._dir}: {e.strerror or e}") from None
        for entry in names:
            m = name.fullmatch(entry)
            p = os.path.join(self._dir, entry)
            if m and (os.path.isfile(p) or os.path.islink(p)):  # a link is refused when read
                first = self._first_seq(p)
                found.append((first is None, first or 0, m.group(1), int(m.group(2) or 0), p))
        return [p for *_, p in sorted(found)]

    def _first_seq(self, path: str) -> int | None:
        """The seq of the first audit line in a file (after any fragment of a torn write), or
        None when none can be read from its start."""
        try:
            fd = self._open(path)
        except StateError:
            return None
        if fd is None:
            return None
        try:
            head = os.pread(fd, _TAIL_CHUNK, 0)
        except OSError:
            return None
        finally:
            os.close(fd)
        for raw in head.split(b"\n")[:-1]:  # whole lines only
            ev = _event_of(raw)
            if ev is not None:
                seq = _seq_of(ev)
                return seq if seq > 0 else None
        return None

    def files(self) -> list[str]:
        parent = self._dir
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise StateError(f"the state directory {parent} is not a directory",
                             "point AGENTGATE_HOME at a directory")
        out = self.rolled_files()
        if state_file_exists(self.path, label=_LABEL):
            out.append(self.path)
        return out

    def _newest_first(self) -> Iterator[str]:
        """The current file (it may be missing), then the rolled ones, newest first: listed only
        when the current file does not end the chain, so an append does not scan the directory."""
        yield self.path
        yield from reversed(self.rolled_files())

    def _open(self, path: str, flags: int = os.O_RDONLY, create: bool = False) -> int | None:
        """An fd on an audit file, never through a symlink (StateError naming it)."""
        return open_state_file(path, flags, label=_LABEL, create=create)

    def end(self) -> End:
        """Where the chain ends: the last JSON line of the current file, else of the newest
        rolled one that has one, with the fragments of interrupted writes after it."""
        fragments: list[bytes] = []
        torn = False
        scanned = 0
        for p in self._newest_first():
            fd = self._open(p)
            if fd is None:
                continue
            try:
                size = os.fstat(fd).st_size
                pieces = backwards(fd, size, _SCAN_LIMIT - scanned)
                last = next(pieces)
                if last and p == self.path:
                    torn = True
                    fragments.append(last)
                    last = b""
                for raw in _chain_pieces(last, pieces):
                    ev = _event_of(raw)
                    if ev is None:
                        fragments.append(raw)
                        continue
                    return End(_seq_of(ev), line_hash(raw), tuple(reversed(fragments)), torn)
                scanned += size
            except OSError as e:
                raise StateError(f"cannot read audit log {p}: {e.strerror or e}",
                                 "check the state directory's permissions") from None
            finally:
                os.close(fd)
            if scanned >= _SCAN_LIMIT:
                break
        if scanned >= _SCAN_LIMIT:
            raise StateError(f"the end of the audit log {self.path} is not audit lines (more than "
                             f"{_SCAN_LIMIT >> 20} MiB of them): nothing more can be appended",
                             "run `agentgate log verify` to see where the damage starts; move the "
                             f"file aside (mv {self.path} {self.path}.bad) to start over (verify "
                             "will report the break)")
        return End(0, GENESIS, tuple(reversed(fragments)), torn)

    def after_head(self, head: Head) -> list[dict[str, Any]] | None:
        """The lines after the head's line, oldest first, when the first of them (seq
        ``head.seq + 1``) chains to the head's hash; None when it does not. Looks back from the
        end of the log, at most ``_SCAN_LIMIT`` bytes (a crash leaves one append's lines)."""
        found: list[dict[str, Any]] = []
        scanned = 0
        for p in self._newest_first():
            fd = self._open(p)
            if fd is None:
                continue
            try:
                size = os.fstat(fd).st_size
                for raw in backwards(fd, size, _SCAN_LIMIT - scanned):
                    ev = _event_of(raw)
                    if ev is None:
                        continue
                    seq = _seq_of(ev)
                    if 0 <= seq <= head.seq:
                        return None
                    found.append(ev)
                    if seq == head.seq + 1:
                        return found[::-1] if ev.get("prev") == head.digest else None
            except OSError:
                return None
            finally:
                os.close(fd)
            scanned += size
            if scanned >= _SCAN_LIMIT:
                return None
        return None

    # -- the head ------------------------------------------------------------------------

    def read_head(self) -> Head | None:
        """The head record; None when there is none; ``Head(-1, "")`` when it cannot be read
        as one (garbled, a symlink, someone else's file)."""
        try:
            fd = self._open(self.head_path)
        except StateError:
            return _UNREADABLE
        if fd is None:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                doc = loads(f.read(4096))
            seq, digest = doc["seq"], doc["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            return _UNREADABLE
        if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0
                or not isinstance(digest, str) or len(digest) != 64):
            return _UNREADABLE
        return Head(seq, digest)

    def _confirmed(self, end: End) -> bool:
        """Does a state file record the chain's last line as the end of its commit's append
        (so those lines took effect although the head never named them)?"""
        want = {"seq": end.seq, "sha256": end.digest}
        for path in self.confirming:
            data = read_state_file(path, label="state file")
            if data is None:
                continue
            try:
                doc = loads(data.decode("utf-8", "surrogateescape"))
            except ValueError:
                raise StateError(f"{path} is corrupt (not JSON), so the audit lines after the "
                                 "head cannot be told to have taken effect or not",
                                 "see `agentgate where`; the file was left untouched") from None
            if isinstance(doc, dict) and doc.get(MARK_KEY) == want:
                return True
        return False

    # -- writing -------------------------------------------------------------------------

    def append(self, events: list[dict[str, Any]], *, durable: bool = True) -> list[dict[str, Any]]:
        """Append events (caller holds the ledger lock). Adds ts/seq/prev; returns the lines.

        :meth:`prepare`, :meth:`write`, then the head (:meth:`stage_head`): its rename is the
        commit point. When this raises, nothing was appended and the head is unchanged, or
        (after the head's rename, only its directory fsync failed) the StateError says the
        lines stand. ``durable`` fsyncs before returning; callers pass False only for lines that record no
        state change (a decision by rule, an exit code), since a crash of the process loses
        nothing either way and the next durable append flushes the whole file."""
        batch = self.prepare(events, durable=durable)
        if batch is None:
            return []
        with signals_deferred():
            start = self.write(batch)
            head: Staged | None = None
            try:
                head = self.stage_head(batch)
                self.replace_head(head, took_effect=False)
            except BaseException:
                if head is not None:
                    head.discard()
                if head is None or not head.replaced:
                    self.cut_back(start)  # leave no line the head does not vouch for
                raise
        return batch.lines

    def prepare(self, events: list[dict[str, Any]], *, durable: bool = True) -> Batch | None:
        """The lines for ``events`` (None when there are none), after comparing the head with
        the file's end: damage is recorded as an ``audit_break`` line before the events, and
        the claims of lines a crashed process left after the head are retracted unless a state
        file records them (see :meth:`_confirmed`). Writes no line; rolls the log when it is
        full, and writes the first head of a new log."""
        if not events:
            return None
        try:
            if not os.path.isdir(self._dir):
                make_state_dir(self._dir)
            end = self.end()
            head = self.read_head()
            unconfirmed: list[dict[str, Any]] = []  # lines of a process that died mid-append

            def lagging() -> str | None:
                assert head is not None
                after = self.after_head(head) or []
                bad = _one_append(head, after[0] if after else None, len(after),
                                  len({ev.get("pid") for ev in after}) == 1,
                                  end.torn or bool(end.fragments))
                if bad is None:
                    unconfirmed.extend(after)
                return bad

            problem = _head_problem(head, end.seq, end.digest, lagging)
            if head != Head(end.seq, end.digest):
                self._remove_stale_temps()  # a crash before the head's rename leaves its temp
            if unconfirmed and not end.torn and not end.fragments and self._confirmed(end):
                # Their state file's rename happened (then a kill, or the head write failed):
                # they took effect. The head catches up first, so it never lags more than one
                # append, whatever happens to this one.
                unconfirmed = []
                self._write_head(end.seq, end.digest, durable=True)
            claims = [ev["seq"] for ev in unconfirmed if ev.get("event") in CLAIMS]
            if claims:
                # Its process stopped after writing them and before the commit point (the
                # head write, or the rename of a state file that would record them), so
                # before anything they claim (a ledger change, a command run) could happen.
                events = [{"event": "retracted", "seqs": claims,
                           "reason": "written by a process that stopped before confirming them "
                                     "(a crash): they did not take effect", "pid": os.getpid()},
                          *events]
                durable = True
            if problem is not None:
                events = [{"event": "audit_break", "problem": problem,
                           "head": head.to_dict() if head is not None else None,
                           "log_end": {"seq": end.seq, "sha256": end.digest},
                           "pid": os.getpid()}, *events]
                durable = True
            elif head is None and end.seq == 0 and not end.fragments:
                # The very first append: a head of seq 0 first, so that a missing head always
                # means a deleted one (a crash before this append's head write leaves seq 0).
                self._write_head(0, GENESIS, durable=True)
            if end.seq >= 0 and not end.fragments and self._size() >= self.max_bytes:
                self._roll()
        except OSError as e:
            raise self._append_error(e) from None
        seq = end.seq  # after a damaged last line: count on from the head (verify reports it)
        if seq < 0:
            seq = head.seq if head is not None and head.seq >= 0 else 0
        prev = end.digest
        chunks: list[bytes] = [b"\n"] if end.torn else []  # never glue onto a fragment
        lines = []
        for i, ev in enumerate(events):
            seq += 1
            line = {"ts": now_iso(self.clock()), "seq": seq, **ev}
            if i == 0 and end.fragments:
                line["torn"] = [line_hash(f) for f in end.fragments]
            if i == 0 and len(events) > 1:
                line["batch"] = len(events)  # what a crash can leave after the head
            line["prev"] = prev
            raw = _dumps(line)
            prev = line_hash(raw)
            chunks.append(raw + b"\n")
            lines.append(line)
        return Batch(b"".join(chunks), lines, seq, prev, durable)

    def write(self, batch: Batch) -> int:
        """Write the prepared lines with one ``write`` on an O_APPEND descriptor (fsynced when
        durable); returns the log's size before them (for :meth:`cut_back`). When it fails or
        is interrupted, the file is cut back and the error raised (StateError for OSError)."""
        try:
            fd = self._open(self.path, os.O_WRONLY | os.O_APPEND, create=True)
            assert fd is not None
            try:
                size = os.fstat(fd).st_size
                try:
                    fault("audit.write", fd, batch.data)
                    n = os.write(fd, batch.data)
                    if n != len(batch.data):
                        raise OSError(errno.ENOSPC, f"short write ({n} of {len(batch.data)} bytes)")
                    if batch.durable:
                        os.fsync(fd)
                    fault("audit.written")
                except BaseException:
                    with suppress(OSError):
                        os.ftruncate(fd, size)  # leave no line the head does not vouch for
                        os.fsync(fd)
                    raise
            finally:
                os.close(fd)
        except OSError as e:
            raise self._append_error(e) from None
        return size

    def cut_back(self, size: int) -> None:
        """Remove the lines written after ``size``: they will not take effect. Best effort:
        lines left after the head are retracted by the next append (see :meth:`prepare`)."""
        with suppress(OSError, StateError):
            fd = self._open(self.path, os.O_WRONLY)
            if fd is None:
                return
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)

    def stage_head(self, batch: Batch) -> Staged:
        """The head for the batch's lines, in a complete temp file (fsynced when durable),
        staged after the lines are written: a crash leaves its temp file only after lines the
        head does not name yet, which the next append finds (and removes it). StateError when
        it cannot be written; :meth:`replace_head` puts it in place."""
        data = json_dumps({"seq": batch.seq, "sha256": batch.digest}).encode()
        try:
            return stage_file(self.head_path, data, prefix=f".{self._stem}.head-",
                              fault_point="audit.head", durable=batch.durable)
        except OSError as e:
            raise self._append_error(e) from None

    def replace_head(self, head: Staged, *, took_effect: bool) -> None:
        """Rename the staged head into place. OSError is a StateError: that the append failed,
        or that the lines stand when the head's rename happened (only the directory's fsync
        failed) or ``took_effect`` (a state file records them: the head lags, and the next
        append brings it up to date)."""
        try:
            head.replace()
        except OSError as e:
            if head.replaced:
                raise StateError(
                    "syncing the state directory after writing the audit head "
                    f"{self.head_path} failed: {e.strerror or e}",
                    f"the audit lines in {self.path} stand, but may not survive a crash of the "
                    "machine; free disk space or check the disk") from None
            if took_effect:
                raise StateError(f"writing the audit head {self.head_path} failed: "
                                 f"{e.strerror or e}",
                                 f"the audit lines in {self.path} stand (a state file records "
                                 "them, and the next append brings the head up to date); free "
                                 "disk space or check the disk") from None
            raise self._append_error(e) from None

    def _append_error(self, e: OSError) -> StateError:
        return StateError(f"cannot append to audit log {self.path}: {e.strerror or e}",
                          "the command did not run; make the state directory writable "
                          "(see `agentgate where`) and free disk space")

    def _write_head(self, seq: int, digest: str, durable: bool) -> None:
        """Record (seq, sha256) of the last line: a new file renamed over the old, so it is
        whole or old (fileio.replace_atomically: unpredictable temp name, 0600)."""
        data = json_dumps({"seq": seq, "sha256": digest}).encode()
        replace_atomically(self.head_path, data, prefix=f".{self._stem}.head-",
                           fault_point="audit.head", durable=durable)

    def _remove_stale_temps(self) -> None:
        """Temp files of head writes that never finished (the caller holds the lock, so none is
        in use)."""
        remove_stale_temps(self._dir, f".{self._stem}.head-")

    def _size(self) -> int:
        try:
            return os.lstat(self.path).st_size
        except FileNotFoundError:
            return 0

    def _roll(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        target = os.path.join(self._dir, f"{self._stem}-{stamp}{self._suffix}")
        n = 1
        while os.path.lexists(target):
            target = os.path.join(self._dir, f"{self._stem}-{stamp}-{n}{self._suffix}")
            n += 1
        fd = self._open(self.path)
        if fd is None:
            return
        try:
            os.fsync(fd)  # lines appended without fsync are durable before the file is closed off
        finally:
            os.close(fd)
        os.replace(self.path, target)
        dfd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # -- reading -------------------------------------------------------------------------

    def raw_lines(self) -> Iterator[Line]:
        """(file, line number, raw bytes without newline) across rolled files, oldest first."""
        for p in self.files():
            fd = self._open(p)
            if fd is None:
                continue
            try:
                with open(fd, "rb") as f:
                    for n, raw in enumerate(f, 1):
                        yield p, n, raw.rstrip(b"\n")
            except OSError as e:
                raise StateError(f"cannot read audit log {p}: {e.strerror or e}") from None

    def events(self) -> Iterator[dict[str, Any]]:
        """Parsed events, across files (see :func:`parse_lines` for lines that are not JSON)."""
        for _raw, ev in parse_lines(self.raw_lines()):
            yield ev

    def verify(self, progress: Callable[[Iterator[Line], int], Iterable[Line]] | None = None,
               ) -> VerifyResult:
        """Walk the chain across every file, then compare its end with the head.

        Fails when there is no log at all or it holds no event (so that a check pointed at the
        wrong directory cannot pass), on any line that does not chain, on a recorded
        ``audit_break``, and when the head does not vouch for the end. A fragment of an
        interrupted write is accepted only when the next line steps over it (see the module
        docstring); it is listed, not fatal. ``progress(lines, total_bytes)`` may wrap the
        line stream (a progress bar); it sees every line and cannot skip the head check."""
        files = self.files()
        head = self.read_head()
        if not files and head is None:
            return VerifyResult(False, 0, None,
                                f"no audit log at {self.path}: nothing has been recorded in this "
                                "state directory (is AGENTGATE_HOME the directory the gated "
                                "commands used? `agentgate where` shows it)")
        lines: Iterable[Line] = self.raw_lines()
        if progress is not None:
            total = 0
            for p in files:
                with suppress(OSError):
                    total += os.lstat(p).st_size
            lines = progress(iter(lines), total)
        walk = _Walk(head)
        walk.run(lines)
        if walk.stopped is None:
            walk.finish(self)
        return walk.result()


class _Walk:
    """One pass of :meth:`AuditLog.verify` over the lines (state kept between lines)."""

    def __init__(self, head: Head | None) -> None:
        self.head = head
        self.prev, self.seq, self.count = GENESIS, 0, 0
        self.fragments: list[tuple[str, bytes]] = []  # non-JSON lines not yet stepped over
        self.interrupted: list[str] = []
        self.problems: list[tuple[str | None, str, int]] = []  # (where, problem, lines before)
        self.after: dict[str, Any] | None = None  # the line after the head's line
        self.after_count = 0  # lines after the head's line
        self.after_pids: set[object] = set()
        self.stopped: str | None = None  # where a broken chain stopped the walk

    def fail(self, where: str | None, problem: str) -> None:
        self.problems.append((where, problem, self.count))

    def run(self, lines: Iterable[Line]) -> None:
        for p, n, raw in lines:
            where = f"{p}:{n}"
            ev = _event_of(raw)
            if ev is None:
                self.fragments.append((where, raw))
                continue
            if not self._step_over(where, ev) or not self._link(where, raw, ev):
                self.stopped = where
                return

    def _step_over(self, where: str, ev: dict[str, Any]) -> bool:
        """Accept the fragments before this line if it is the line that stepped over them."""
        torn = ev.get("torn")
        if not self.fragments:
            if torn is not None:
                self.fail(where, "the line says it follows an interrupted write, but no "
                                 "fragment precedes it (a line before it was removed)")
                return False
            return True
        first = self.fragments[0][0]
        if torn != [line_hash(raw) for _, raw in self.fragments]:
            self.fail(first, "line is not a JSON object, and the next line does not step over "
                             "it (junk or an edited line, not an interrupted write)")
            return False
        if not all(looks_torn(raw, self.seq + 1) for _, raw in self.fragments):
            self.fail(first, "line is not the beginning of an audit line, so it is not what an "
                             "interrupted write leaves (junk or an edited line)")
            return False
        self.interrupted.extend(w for w, _ in self.fragments)
        self.fragments.clear()
        return True

    def _link(self, where: str, raw: bytes, ev: dict[str, Any]) -> bool:
        if ev.get("prev") != self.prev:
            self.fail(where, "hash chain broken: 'prev' does not match the previous line "
                             "(a line was edited, deleted or reordered)")
            return False
        if ev.get("seq") != self.seq + 1:
            self.fail(where, f"sequence broken: expected seq {self.seq + 1}, found "
                             f"{ev.get('seq')!r}")
            return False
        if self.head is not None and self.seq >= self.head.seq >= 0:
            if self.seq == self.head.seq:
                self.after = ev
            self.after_count += 1
            if len(self.after_pids) < 2:
                self.after_pids.add(ev.get("pid"))
        if ev.get("event") == "audit_break":
            said = ev.get("head")
            found = ev.get("log_end")
            self.fail(where, "the log was found damaged when this line was written: "
                             f"{ev.get('problem')} (the head recorded "
                             f"{_describe(said)}, the log ended at {_describe(found)}); the "
                             "lines before it cannot be vouched for")
        self.count += 1
        self.seq += 1
        self.prev = line_hash(raw)
        return True

    def finish(self, log: AuditLog) -> None:
        if self.fragments:
            first = self.fragments[0][0]
            if all(looks_torn(raw, self.seq + 1) for _, raw in self.fragments):
                self.fail(first, "an incomplete last line: a write was interrupted (a crash); "
                                 "the next append starts a new line, steps over it and continues "
                                 "the chain from the last whole line")
            else:
                self.fail(first, "line is not a JSON object (junk or an edited line, not an "
                                 "interrupted write)")
        head = self.head

        def lagging() -> str | None:
            assert head is not None
            return _one_append(head, self.after, self.after_count, len(self.after_pids) == 1,
                               bool(self.fragments))

        bad = _head_problem(head, self.seq, self.prev, lagging)
        if bad is not None:
            self.fail(str(log.head_path), bad)
        elif self.count == 0 and not self.problems:
            self.fail(None, f"the audit log {log.path} holds no events yet: nothing has been "
                            "recorded in this state directory")

    def result(self) -> VerifyResult:
        interrupted = tuple(self.interrupted)
        if not self.problems:
            return VerifyResult(True, self.count, None, None, interrupted)
        where, problem, before = self.problems[0]
        others = tuple(f"{w}: {p}" if w else p for w, p, _ in self.problems[1:])
        return VerifyResult(False, before, where, problem, interrupted, others)


def _describe(mark: object) -> str:
    if isinstance(mark, dict) and "seq" in mark:
        return f"seq {mark['seq']}"
    return "nothing"


def _chain_pieces(last: bytes, pieces: Iterator[bytes]) -> Iterator[bytes]:
    if last:
        yield last
    yield from pieces


def parse_lines(lines: Iterable[Line],
                skip: Callable[[bytes], bool] | None = None) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(raw, event) for each JSON object line, streaming; ``skip(raw)`` drops a line unparsed.

    Lines that are not JSON objects are stepped over where verify accepts them: fragments of an
    interrupted write that the next line marks as stepped over (``torn``), or that end the log
    and could be a prefix of a line. Any other such line raises StateError naming the file and
    line (``log verify`` tells more)."""
    pending: list[Line] = []  # fragments not yet stepped over
    seq = 0
    for path, n, raw in lines:
        if not pending and skip is not None and skip(raw):
            continue
        ev = _event_of(raw)
        if ev is None:
            pending.append((path, n, raw))
            continue
        if pending:
            torn = ev.get("torn")
            hashes = [line_hash(r) for _, _, r in pending]  # ``skip`` may have dropped earlier ones
            if not isinstance(torn, list) or torn[len(torn) - len(hashes):] != hashes:
                raise _not_json(pending[0])
            pending.clear()
        seq = _seq_of(ev)
        yield raw, ev
    if pending and not all(looks_torn(r, seq + 1) for _, _, r in pending):
        raise _not_json(pending[0])


def _not_json(where: Line) -> StateError:
    return StateError(f"{where[0]}:{where[1]}: audit line is not JSON (an edited line?)",
                      "run `agentgate log verify` for details")


class VerifyResult(Record):
    ok: bool
    lines: int  # lines that verified before the first problem (all of them when ok)
    first_bad: str | None  # "file:line", the head's path, or None (no log at all, or empty)
    problem: str | None
    interrupted: tuple[str, ...] = ()  # "file:line" of fragments the chain provably steps over
    others: tuple[str, ...] = ()  # further problems after the first, "where: problem"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "verifiedLines": self.lines, "firstBad": self.first_bad,
                "problem": self.problem, "interrupted": list(self.interrupted),
                "otherProblems": list(self.others)}
