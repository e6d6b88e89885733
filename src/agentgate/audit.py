"""The append-only JSONL audit log with a hash chain.

Each line is one JSON object. ``prev`` holds the sha256 (hex) of the previous line's bytes (without
its newline), ``seq`` counts up by one, so an edited, deleted or reordered line breaks the chain and
``verify`` names the first bad line. Appends happen under the ledger lock (the caller holds it),
as whole lines written with one ``write`` on an ``O_APPEND`` descriptor, then fsync.

When the log grows past ``max_bytes`` it is rolled to ``audit-YYYYMMDDTHHMMSSZ.jsonl`` beside it;
the chain continues into the new file, and readers walk the rolled files oldest first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import StateError
from .faults import fault
from .jsontext import AUDIT_SUFFIX, dumps_bytes
from .lean import Record, sha256_hex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

GENESIS = "0" * 64
# Every event name the gate writes (README "The audit log, and CI" documents each).
EVENTS = frozenset({"allowed", "denied", "approval_requested", "approval_pending", "approved",
                    "human_denied", "grant_consumed", "expired", "exited", "blocked",
                    "policy_trusted"})
_TAIL_CHUNK = 64 * 1024


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
    return json.loads(raw.decode("utf-8", "surrogateescape"))


def _dumps(event: dict[str, Any]) -> bytes:
    """One line, always valid UTF-8: a value holding bytes that are not UTF-8 shows them as
    U+FFFD and gets an exact ``<key>_base64`` companion (see agentgate.jsontext)."""
    return dumps_bytes(event, AUDIT_SUFFIX, separators=(",", ":"))


class Tail(Record):
    """What an append needs to know about the end of the chain."""

    seq: int
    prev: str
    torn: bool  # the file does not end with a newline (a crash mid-line)


class AuditLog:
    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024,
                 clock: Callable[[], float] = time.time):
        self.path = path
        self.max_bytes = max_bytes
        self.clock = clock

    # -- files ---------------------------------------------------------------------------

    def rolled_files(self) -> list[Path]:
        """Rolled logs, oldest first: by time stamp, then by the ``-N`` of a same-second roll."""
        import re

        name = re.compile(re.escape(self.path.stem) + r"-(\d{8}T\d{6}Z)(?:-(\d+))?"
                          + re.escape(self.path.suffix))
        found = []
        try:
            for p in self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"):
                m = name.fullmatch(p.name)
                if m and p.is_file():
                    found.append((m.group(1), int(m.group(2) or 0), p))
        except OSError as e:
            raise StateError(f"cannot list {self.path.parent}: {e.strerror or e}") from None
        return [p for _, _, p in sorted(found)]

    def files(self) -> list[Path]:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise StateError(f"the state directory {parent} is not a directory",
                             "point AGENTGATE_HOME at a directory")
        out = self.rolled_files()
        if self.path.exists():
            out.append(self.path)
        return out

    def _last_line(self, path: Path) -> tuple[bytes | None, bool]:
        """The last complete line of ``path`` and whether a torn fragment follows it."""
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size == 0:
                return None, False
            pos = size
            buf = b""
            while pos > 0:
                step = min(_TAIL_CHUNK, pos)
                pos -= step
                f.seek(pos)
                buf = f.read(step) + buf
                body = buf[:-1] if buf.endswith(b"\n") else buf
                nl = body.rfind(b"\n")
                if nl >= 0 or pos == 0:
                    break
            torn = not buf.endswith(b"\n")
            # the last element is the torn fragment, or the empty string after the final newline
            lines = buf.split(b"\n")[:-1]
            complete = [ln for ln in lines if ln]
            return (complete[-1] if complete else None), torn

    def tail(self) -> Tail:
        """Where the chain ends: the last line of the current file, else of the newest rolled one."""
        try:
            candidates = [self.path] if self.path.exists() else []
            if not candidates or self.path.stat().st_size == 0:
                rolled = self.rolled_files()
                candidates = ([rolled[-1]] if rolled else []) + candidates
            torn = False
            for p in reversed(candidates):
                last, t = self._last_line(p)
                torn = torn or (t and p == self.path)
                if last is None:
                    continue
                try:
                    seq = int(parse_line(last)["seq"])
                except (ValueError, KeyError, TypeError):
                    # A damaged last line: continue the chain from its bytes; verify reports it.
                    seq = -1
                return Tail(seq, line_hash(last), torn)
            return Tail(0, GENESIS, torn)
        except OSError as e:
            raise StateError(f"cannot read audit log {self.path}: {e.strerror or e}",
                             "check the state directory's permissions") from None

    # -- writing -------------------------------------------------------------------------

    def append(self, events: list[dict[str, Any]], *, durable: bool = True) -> list[dict[str, Any]]:
        """Append events (caller holds the ledger lock). Adds ts/seq/prev; returns the lines.

        ``durable`` fsyncs before returning; callers pass False only for lines that record no
        state change (a decision by rule, an exit code), since a crash of the process loses
        nothing either way and the next durable append flushes the whole file."""
        if not events:
            return []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tail = self.tail()
            if tail.seq >= 0 and self.path.exists() and self.path.stat().st_size >= self.max_bytes:
                self._roll()
            # A damaged last line (seq unknown) restarts the count; verify reports the damage.
            seq, prev = max(tail.seq, 0), tail.prev
            chunks: list[bytes] = []
            if tail.torn:
                chunks.append(b"\n")  # never glue a new line onto a torn fragment
            written = []
            for ev in events:
                seq += 1
                line = {"ts": now_iso(self.clock()), "seq": seq, **ev, "prev": prev}
                raw = _dumps(line)
                prev = line_hash(raw)
                chunks.append(raw + b"\n")
                written.append(line)
            data = b"".join(chunks)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                try:
                    fault("audit.write", fd, data)
                    n = os.write(fd, data)
                    if n != len(data):
                        raise OSError(errno.ENOSPC, f"short write ({n} of {len(data)} bytes)")
                    if durable:
                        os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)  # leave no partial line behind (disk full)
                    raise
            finally:
                os.close(fd)
            fault("audit.written")
            self._write_head(seq, prev)
            return written
        except OSError as e:
            raise StateError(f"cannot append to audit log {self.path}: {e.strerror or e}",
                             "the command did not run; make the state directory writable "
                             "(see `agentgate where`) and free disk space") from None

    @property
    def head_path(self) -> Path:
        """Where the end of the chain is recorded, so a cut or edited *last* line shows too."""
        return self.path.with_name(self.path.stem + ".head")

    def _write_head(self, seq: int, digest: str) -> None:
        """Record (seq, sha256) of the last line: temp file + rename, so it is whole or old.

        It may lag behind the log after a crash between the two writes; verify accepts a head
        that points at an earlier line of the chain, never one past its end."""
        tmp = self.head_path.with_name(f".{self.head_path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps({"seq": seq, "sha256": digest}))
        os.replace(tmp, self.head_path)

    def read_head(self) -> tuple[int, str] | None:
        try:
            doc = json.loads(self.head_path.read_bytes())
            return int(doc["seq"]), str(doc["sha256"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return (-1, "")

    def _roll(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        target = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.stem}-{stamp}-{n}{self.path.suffix}")
            n += 1
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)  # lines appended without fsync are durable before the file is closed off
        finally:
            os.close(fd)
        os.replace(self.path, target)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # -- reading -------------------------------------------------------------------------

    def raw_lines(self) -> Iterator[tuple[Path, int, bytes]]:
        """(file, line number, raw bytes without newline) across rolled files, oldest first."""
        for p in self.files():
            try:
                f = open(p, "rb")  # noqa: SIM115 - a generator: closed by the with below
            except OSError as e:
                raise StateError(f"cannot read audit log {p}: {e.strerror or e}") from None
            with f:
                for n, raw in enumerate(f, 1):
                    yield p, n, raw.rstrip(b"\n")

    def events(self) -> Iterator[dict[str, Any]]:
        """Parsed events, across files (see :func:`parse_lines` for lines that are not JSON)."""
        for _raw, ev in parse_lines(self.raw_lines()):
            yield ev

    def verify(self, lines: Iterable[tuple[Path, int, bytes]] | None = None) -> VerifyResult:
        """Walk the chain across every file. A line that is not JSON fails verification, except a
        fragment of an interrupted write that the next line provably chains over (its ``prev``
        and ``seq`` continue from the line before the fragment): that is listed, not fatal."""
        prev, seq, count = GENESIS, 0, 0
        head = self.read_head() if lines is None else None
        head_hash: str | None = None  # the hash of the line whose seq the head names
        fragments: list[str] = []  # consecutive non-JSON lines not yet bridged
        interrupted: list[str] = []
        for p, n, raw in self.raw_lines() if lines is None else lines:
            where = f"{p}:{n}"
            try:
                ev = parse_line(raw)
                if not isinstance(ev, dict):
                    raise ValueError
            except ValueError:
                fragments.append(where)
                continue
            if fragments:
                if ev.get("prev") != prev or ev.get("seq") != seq + 1:
                    return VerifyResult(False, count, fragments[0],
                                        "line is not a JSON object, and the next line does not "
                                        "chain over it (an edited line, not an interrupted write)",
                                        tuple(interrupted))
                interrupted.extend(fragments)
                fragments.clear()
            count += 1
            if ev.get("prev") != prev:
                return VerifyResult(False, count - 1, where,
                                    "hash chain broken: 'prev' does not match the previous line "
                                    "(a line was edited, deleted or reordered)", tuple(interrupted))
            if ev.get("seq") != seq + 1:
                return VerifyResult(False, count - 1, where,
                                    f"sequence broken: expected seq {seq + 1}, found {ev.get('seq')!r}",
                                    tuple(interrupted))
            seq, prev = seq + 1, line_hash(raw)
            if head is not None and seq == head[0]:
                head_hash = prev
        if fragments:
            last_file = Path(fragments[-1].rsplit(":", 1)[0])
            problem = ("line is not a JSON object" if _ends_with_newline(last_file) else
                       "an incomplete last line: a write was interrupted (a crash or a full disk); "
                       "the next append starts a new line and continues the chain from the last "
                       "whole line")
            return VerifyResult(False, count, fragments[0], problem, tuple(interrupted))
        if lines is None:
            bad = self._check_head(head, seq, head_hash)
            if bad is not None:
                return VerifyResult(False, count, str(self.head_path), bad, tuple(interrupted))
        return VerifyResult(True, count, None, None, tuple(interrupted))

    def _check_head(self, head: tuple[int, str] | None, last_seq: int,
                    head_hash: str | None) -> str | None:
        """Compare the chain's end with the recorded head; a problem description or None."""
        if head is None:
            if last_seq == 0:
                return None
            return ("the head record is missing, so the end of the log cannot be vouched for "
                    "(deleted, or the very first append was interrupted)")
        seq, digest = head
        if seq < 0:
            return "the head record is unreadable"
        if seq > last_seq:
            return (f"the log ends at seq {last_seq} but the head records seq {seq}: lines were "
                    "removed from the end (or the whole log was replaced)")
        if seq > 0 and head_hash != digest:
            return f"line seq {seq} does not match the head record: the last line was edited"
        return None


def parse_lines(lines: Iterable[tuple[Path, int, bytes]],
                skip: Callable[[bytes], bool] | None = None) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(raw, event) for each JSON object line, streaming; ``skip(raw)`` drops a line unparsed.

    A line that is not JSON is stepped over when it is the fragment of an interrupted write: the
    next whole line chains over it (its ``prev`` is the hash of the line before), or it ends the
    log without a newline. Any other such line raises StateError naming the file and line
    (``log verify`` tells more)."""
    last: bytes | None = None  # the last line that was not a fragment
    pending: tuple[Path, int, str] | None = None  # a fragment and the prev that must bridge it
    for path, n, raw in lines:
        if not raw:
            continue
        if pending is None and skip is not None and skip(raw):
            last = raw
            continue
        try:
            ev = parse_line(raw)
        except ValueError:
            if pending is None:
                pending = (path, n, GENESIS if last is None else line_hash(last))
            continue
        if pending is not None:
            if not isinstance(ev, dict) or ev.get("prev") != pending[2]:
                raise StateError(f"{pending[0]}:{pending[1]}: audit line is not JSON (an edited "
                                 "line?)", "run `agentgate log verify` for details")
            pending = None
        last = raw
        if isinstance(ev, dict):
            yield raw, ev
    if pending is not None and _ends_with_newline(pending[0]):
        raise StateError(f"{pending[0]}:{pending[1]}: audit line is not JSON (an edited line?)",
                         "run `agentgate log verify` for details")


def _ends_with_newline(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:
        return True


class VerifyResult(Record):
    ok: bool
    lines: int  # lines that verified
    first_bad: str | None  # "file:line"
    problem: str | None
    interrupted: tuple[str, ...] = ()  # "file:line" of fragments the chain provably skips

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "verifiedLines": self.lines, "firstBad": self.first_bad,
                "problem": self.problem, "interrupted": list(self.interrupted)}
