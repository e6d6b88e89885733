"""Filtering the audit log for `agentgate log` (streams: memory stays flat)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .audit import AuditLog, parse_iso
from .errors import StateError, UsageError


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


@dataclass(frozen=True)
class Filter:
    since: float | None = None
    until: float | None = None
    events: frozenset[str] = frozenset()
    request_id: str | None = None
    rule: str | None = None
    agent: str | None = None

    @classmethod
    def build(cls, *, since: str | None, until: str | None, events: list[str],
              request_id: str | None, rule: str | None, agent: str | None) -> Filter:
        return cls(parse_when(since) if since else None, parse_when(until) if until else None,
                   frozenset(events), request_id, rule, agent)

    def quick_reject(self, raw: bytes) -> bool:
        """Cheap byte-level pre-check before JSON parsing (never rejects a real match)."""
        if self.request_id and self.request_id.encode() not in raw:
            return True
        return bool(self.agent and self.agent.encode() not in raw)

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
            try:
                t = parse_iso(str(ev.get("ts")))
            except ValueError:
                return False
            if self.since is not None and t < self.since:
                return False
            if self.until is not None and t > self.until:
                return False
        return True


def iter_matching(log: AuditLog, flt: Filter) -> Iterator[tuple[bytes, dict[str, Any]]]:
    for path, n, raw in log.raw_lines():
        if not raw or flt.quick_reject(raw):
            continue
        try:
            ev = json.loads(raw)
        except ValueError:
            raise StateError(f"{path}:{n}: audit line is not JSON (a torn or edited line?)",
                             "run `agentgate log verify` for details") from None
        if isinstance(ev, dict) and flt.matches(ev):
            yield raw, ev


def select(log: AuditLog, flt: Filter, tail: int | None) -> Iterator[tuple[bytes, dict[str, Any]]]:
    it = iter_matching(log, flt)
    if tail is None:
        return it
    return iter(deque(it, maxlen=tail))
