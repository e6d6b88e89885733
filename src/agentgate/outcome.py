"""What the gate answers, shared by the local gate (agentgate.gate) and the protected-mode client
(agentgate.remote): the subject asked about, the outcome, a request as seen now. Light on
purpose: a protected-mode client imports this and not the policy, the shell analysis or the
ledger.
"""

from __future__ import annotations

import time

from .errors import EXIT_APPROVAL_REQUIRED, EXIT_DENIED, EXIT_OK
from .lean import Record, field

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .ledger import Ledger, LedgerState, Request
    from .policy import Evaluation

REASON_ASK = "Permission requires approval before execution."
REASON_PENDING = "Permission requires approval before execution; the request is still waiting for a human."
REASON_GRANT = "Action allowed by approved permission grant."


class Subject(Record):
    """What is being authorized."""

    kind: str  # "argv" | "script" | "action"
    argv: tuple[str, ...]  # the argv; for a script (text,); for an action (action[, resource])
    cwd: str
    attributes: tuple[tuple[str, Any], ...] = ()  # an action's (name, value), sorted by name

    @property
    def display(self) -> str:
        import shlex

        if self.kind == "argv":
            return shlex.join(self.argv)
        return " ".join((*self.argv, *attribute_words(self.attributes)))

    def fingerprint(self) -> str:
        """What a grant is for. An action's attributes are part of it (canonical JSON: keys
        sorted, 4000.0 already written 4000), so approving 4000 to one vendor allows neither
        40000 nor another vendor."""
        from .ledger import fingerprint

        what: dict[str, Any] = {"kind": self.kind, "argv": list(self.argv), "cwd": self.cwd}
        if self.attributes:
            what["attributes"] = dict(self.attributes)
        return fingerprint(what)


def attribute_words(attributes: Sequence[tuple[str, Any]] | dict[str, Any]) -> list[str]:
    """``name=value`` words as ``agentgate verify --attr`` takes them: a string that would
    read as a number or boolean, or holds a blank or a quote, in double quotes (``\\`` and
    ``\"`` escaped, as conditions.parse_value reads them)."""
    out = []
    for k, v in (attributes.items() if isinstance(attributes, dict) else attributes):
        if isinstance(v, bool):
            text = "true" if v else "false"
        elif isinstance(v, int | float):
            text = repr(v)
        else:
            text = str(v)
            if not text or text in ("true", "false") or text[:1] in "-0123456789\"'" or \
                    any(c.isspace() for c in text):
                # what --attr reads back; \ and " escaped, so that a value cannot close its
                # quotes and show the human attributes of its own (x" amount=5 y=")
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{k}={text}")
    return out


class Outcome(Record):
    decision: str  # the policy's decision: allow | ask | deny
    allowed: bool  # may run now
    approval_required: bool
    approval_id: str | None
    reason: str
    rule: str | None
    subject: Subject
    evaluation: Evaluation | None  # the policy's evaluation (None from the service: not sent)
    via_grant: bool = False
    by_human: bool = False
    started: float = field(default_factory=time.monotonic)
    rule_reason: str | None = None  # the rule's own reason, when ``reason`` is the gate's words
    standing: str | None = None  # what the human's standing approval allows, when one let it run
    resend: bool = False  # held on a run-time word: no grant can cover it; send the literal values

    @property
    def exit_code(self) -> int:
        if self.allowed:
            return EXIT_OK
        return EXIT_APPROVAL_REQUIRED if self.approval_required else EXIT_DENIED

    @property
    def next_step(self) -> str | None:
        if self.approval_required and self.approval_id:
            return f"ask a human to run: agentgate approve {self.approval_id}"
        return None

    def message(self) -> str:
        """One line for a person or an agent reading stderr."""
        if self.allowed:
            if self.standing:
                return f"agentgate: allowed by {self.standing}"
            return f"agentgate: allowed ({self.reason})"
        why = f" {_sentence(self.rule_reason)}" if self.rule_reason else ""
        if self.approval_required:
            return (f"agentgate: BLOCKED, approval required [{self.rule or 'policy'}]: {self.reason}"
                    f"{' The rule says:' + why if why else ''} STOP: do not work around this. Ask "
                    f"a human to run `agentgate approve {self.approval_id}`, then retry the very "
                    "same command.")
        if self.resend:
            return (f"agentgate: BLOCKED [{self.rule or 'policy'}]: {_sentence(self.reason)} STOP: do "
                    "not work around this. Send the command again with those values written out "
                    "literally; it is then decided on what it says.")
        who = "a human" if self.by_human else f"rule {self.rule or 'policy'}"
        rule = f" (rule {self.rule or 'policy'}:{why})" if self.by_human and why else ""
        return (f"agentgate: DENIED by {who}: {_sentence(self.reason)}{rule} Do not retry or work "
                "around this.")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "allowed": self.allowed,
            "approvalRequired": self.approval_required,
            "approvalId": self.approval_id,
            "reason": self.reason,
            "rule": self.rule,
            "command": list(self.subject.argv),
            "next": self.next_step,
            "decision": self.decision,
            "exitCode": self.exit_code,
        }
        if self.by_human:
            d["deniedBy"] = "human"
        if self.rule_reason is not None:
            d["ruleReason"] = self.rule_reason
        if self.standing is not None:
            d["standingApproval"] = self.standing
        return d


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text + "." if text and text[-1] not in ".!?" else text


class RequestView(Record):
    request: Request
    now: float


class Reader:
    """A human's look at the ledger (`pending`, `show`): a snapshot without the lock, overdue
    requests shown as expired (in the snapshot only: the ledger's own rule for what is
    overdue). The gate answers the same through these."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._now = 0.0

    def _state(self) -> LedgerState:
        state = self.ledger.read_only()
        state.expire()
        self._now = state.now
        return state

    def now(self) -> float:
        return self._now

    def pending(self) -> list[Request]:
        reqs = [r for r in self._state().requests.values() if r.status == "pending"]
        return sorted(reqs, key=lambda r: r.created_at, reverse=True)

    def get(self, rid: str) -> RequestView:
        state = self._state()
        return RequestView(state.get(rid), state.now)


def fmt_duration(seconds: float) -> str:
    """A time span as a person reads it: ``45s``, ``29m``, ``3h05m``, ``7d``."""
    s = int(max(0, seconds))
    if s < 90:
        return f"{s}s"
    if s < 90 * 60:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"
