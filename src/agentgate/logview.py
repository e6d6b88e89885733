"""Filtering the audit log for `agentgate log` (streams: memory stays flat)."""

from __future__ import annotations

import functools
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator

from .audit import EVENTS, AuditLog, backwards, now_iso, parse_iso, parse_line, parse_lines
from .errors import StateError, UsageError
from .jsontext import AUDIT_SUFFIX, dumps_bytes, restore

TYPE_CHECKING = False  # not from typing: `log --tail` must start quickly (see agentgate.lean)
if TYPE_CHECKING:
    from typing import Any

_CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_CANONICAL_TS_BYTES = re.compile(_CANONICAL_TS.pattern.encode())


def _json_text(value: str) -> bytes | None:
    """``value`` as the writer encodes it inside a JSON line; None when it holds undecodable
    bytes (written as U+FFFD plus a ``_base64`` companion, or raw by older versions)."""
    import json

    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None


_COMPANION = AUDIT_SUFFIX.encode() + b'"'


def json_line(raw: bytes) -> bytes:
    """A stored line for `log --json`: as it is, unless an older version wrote bytes that are not
    UTF-8 into it; then re-encoded as lines are now (U+FFFD and ``_base64`` companions), so
    that every line printed is valid JSON."""
    if raw.isascii():
        return raw
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        return dumps_bytes(parse_line(raw), AUDIT_SUFFIX, separators=(",", ":"))


def parse_when(text: str, now: float | None = None) -> float:
    """A duration back from now (``2h``) or an ISO timestamp -> epoch seconds."""
    from .policy import parse_duration

    now = time.time() if now is None else now
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise UsageError(f"{text!r} is neither a duration (30m, 2h, 1d) nor a timestamp "
                         "(2026-11-30T10:00:00Z)") from None


class Filter:
    """What `agentgate log` keeps. A plain class: dataclasses brings inspect, ast and
    tokenize, which `log --tail` cannot afford."""

    def __init__(self, since: float | None = None, until: float | None = None,
                 events: frozenset[str] = frozenset(), request_id: str | None = None,
                 rule: str | None = None, agent: str | None = None) -> None:
        self.since, self.until, self.events = since, until, events
        self.request_id, self.rule, self.agent = request_id, rule, agent

    def _key(self) -> tuple[object, ...]:
        return (self.since, self.until, self.events, self.request_id, self.rule, self.agent)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Filter" + repr(self._key())

    @classmethod
    def build(cls, *, since: str | None, until: str | None, events: list[str],
              request_id: str | None, rule: str | None, agent: str | None) -> Filter:
        unknown = sorted(set(events) - EVENTS)
        if unknown:  # a typo in a CI filter must not pass silently as "nothing found"
            raise UsageError(f"unknown event name(s): {', '.join(unknown)}",
                             f"events are: {', '.join(sorted(EVENTS))}")
        return cls(parse_when(since) if since else None, parse_when(until) if until else None,
                   frozenset(events), request_id, rule, agent)

    def quick_reject(self, raw: bytes) -> bool:
        """Cheap byte-level pre-check before JSON parsing (never rejects a real match)."""
        if any(needle not in raw for needle in self._needles):
            return True
        if self._event_needles and not any(n in raw for n in self._event_needles):
            return True
        if (self.since is not None or self.until is not None) and raw.startswith(b'{"ts":"'):
            ts = raw[7:31]  # the writer puts ts first, in now_iso's fixed format
            if raw[31:33] == b'",' and _CANONICAL_TS_BYTES.fullmatch(ts):
                text = ts.decode("ascii")
                return ((self.since is not None and text < self._since_ts)
                        or (self.until is not None and text > self._until_ts))
        return False

    @functools.cached_property
    def _needles(self) -> tuple[bytes, ...]:
        """The id and agent exactly as the writer encodes them inside a JSON string."""
        texts = (_json_text(v) for v in (self.request_id, self.agent) if v)
        return tuple(t[1:-1] for t in texts if t is not None)

    @functools.cached_property
    def _event_needles(self) -> tuple[bytes, ...]:
        """Each wanted event name as a whole JSON string (one of them must appear)."""
        texts = [_json_text(e) for e in sorted(self.events)]
        return () if None in texts else tuple(t for t in texts if t is not None)

    def matches(self, ev: dict[str, Any]) -> bool:
        if self.events and ev.get("event") not in self.events:
            return False
        if self.request_id and ev.get("id") != self.request_id:
            return False
        if self.rule and ev.get("rule") != self.rule:
            return False
        if self.agent and ev.get("agent") != self.agent:
            return False
        if self.since is not None or self.until is not None:
            ts = ev.get("ts")
            if isinstance(ts, str) and _CANONICAL_TS.fullmatch(ts):
                # now_iso's fixed format sorts like time: compare text, not parsed dates
                if self.since is not None and ts < self._since_ts:
                    return False
                return not (self.until is not None and ts > self._until_ts)
            try:
                t = parse_iso(str(ts))
            except ValueError:
                return False
            if self.since is not None and t < self.since:
                return False
            if self.until is not None and t > self.until:
                return False
        return True

    @functools.cached_property
    def _since_ts(self) -> str:
        return now_iso(self.since)

    @functools.cached_property
    def _until_ts(self) -> str:
        return now_iso(self.until)


def iter_matching(log: AuditLog, flt: Filter,
                  lines: Iterable[tuple[str, int, bytes]] | None = None,
                  ) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Matching (raw, event) pairs; ``lines`` defaults to ``log.raw_lines()`` (e.g. wrapped in a
    progress display)."""
    for raw, ev in parse_lines(log.raw_lines() if lines is None else lines, flt.quick_reject):
        if _COMPANION in raw:  # match and show the exact words, undecodable bytes included
            ev = restore(ev, AUDIT_SUFFIX)
        if flt.matches(ev):
            yield raw, ev


def select(log: AuditLog, flt: Filter, tail: int | None,
           lines: Iterable[tuple[str, int, bytes]] | None = None,
           ) -> Iterator[tuple[bytes, dict[str, Any]]]:
    it = iter_matching(log, flt, lines)
    if tail is None:
        return it
    return iter(deque(it, maxlen=min(tail, sys.maxsize)))  # more than there can be: all of them


def select_tail(log: AuditLog, flt: Filter, tail: int) -> list[tuple[bytes, dict[str, Any]]]:
    """The last ``tail`` matching events, read from the end of the log backwards: the lines
    after the ``tail``-th match from the end are then read forwards as :func:`select` reads
    them, so the answer is the same (a line that is not JSON there, which a forward read
    reports with its line number: the whole log is read forwards)."""
    if tail <= 0:
        return []
    window: list[tuple[str, int, bytes]] = []
    found = 0
    for path, raw in _lines_backwards(log.files()):
        window.append((path, 0, raw))
        if not flt.quick_reject(raw):
            ev = _event_or_none(raw)
            if ev is not None and flt.matches(restore(ev, AUDIT_SUFFIX) if _COMPANION in raw else ev):
                found += 1
                if found >= tail:
                    break
    window.reverse()
    try:
        return list(select(log, flt, tail, window))
    except StateError:
        return list(select(log, flt, tail))


def _event_or_none(raw: bytes) -> dict[str, Any] | None:
    try:
        ev = parse_line(raw)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


def _lines_backwards(files: list[str], chunk: int = 4096) -> Iterator[tuple[str, bytes]]:
    """(file, line without its newline) from the last line of the newest file back to the first
    of the oldest, read from each file's end by :func:`agentgate.audit.backwards` (its first
    read ``chunk`` bytes)."""
    import os

    for path in reversed(files):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise StateError(f"cannot read audit log {path}: {e.strerror or e}") from None
        try:
            size = os.fstat(fd).st_size
            lines = backwards(fd, size, sys.maxsize, chunk)
            if last := next(lines):  # b"" when the file ends with a newline (or is empty)
                yield path, last
            for line in lines:
                yield path, line
        except OSError as e:
            raise StateError(f"cannot read audit log {path}: {e.strerror or e}") from None
        finally:
            os.close(fd)


class Summary:
    """Counts over the events of a period: per event name, per rule and per agent."""

    def __init__(self, since: float | None, until: float | None) -> None:
        self.since, self.until = since, until
        self.total = 0
        self.first: str | None = None
        self.last: str | None = None
        self.by_event: Counter[str] = Counter()
        self.by_rule: dict[str, Counter[str]] = {}
        self.by_agent: dict[str, Counter[str]] = {}

    def add(self, ev: dict[str, Any]) -> None:
        name = str(ev.get("event"))
        self.total += 1
        ts = ev.get("ts")
        if isinstance(ts, str):
            self.first = self.first or ts
            self.last = ts
        self.by_event[name] += 1
        rule = ev.get("rule")
        if rule is not None:
            self.by_rule.setdefault(str(rule), Counter())[name] += 1
        agent = ev.get("agent")
        if agent is not None:
            self.by_agent.setdefault(str(agent), Counter())[name] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": now_iso(self.since) if self.since is not None else None,
            "until": now_iso(self.until) if self.until is not None else None,
            "events": self.total, "first": self.first, "last": self.last,
            "byEvent": dict(self.by_event.most_common()),
            "byRule": {k: dict(v.most_common()) for k, v in sorted(self.by_rule.items())},
            "byAgent": {k: dict(v.most_common()) for k, v in sorted(self.by_agent.items())},
        }


def summarize(log: AuditLog, flt: Filter,
              lines: Iterable[tuple[str, int, bytes]] | None = None) -> Summary:
    """Count the matching events in one streaming pass (memory grows with names, not events)."""
    out = Summary(flt.since, flt.until)
    for _raw, ev in iter_matching(log, flt, lines):
        out.add(ev)
    return out
