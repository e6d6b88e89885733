"""The protected-mode client: a gate whose every decision, record and approval is the service's.

:class:`RemoteGate` answers what :class:`agentgate.gate.Gate` answers (authorize, record_exit,
evaluate, pending, get, approve, deny), by asking the service on its socket; it reads no state,
no policy and no environment variable that could change a decision. What it sends about itself
(its working directory, home directory, the repo-local policies above it) can only make a
decision stricter: the service applies repo files as restrictions only. Light on purpose: it is
all a gated command loads in protected mode.
"""

from __future__ import annotations

import os
import stat

from .errors import ConfigError, UsageError
from .outcome import Outcome, RequestView, Subject
from .service import protocol
from .system import ClientConfig

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from .errors import AgentgateError
    from .ledger import Request
    from .policy import Evaluation

MAX_REPO_POLICY = 1 << 20
# thread id -> the uid a decision made in that thread is made for: the service's own dashboard
# (agentgate.dashboard.app) deciding for the user logged in to the session (the service
# honours it from its own process alone; see Service._decided_by)
DECIDING_FOR: dict[int, int] = {}


def _deciding_for() -> dict[str, Any]:
    import _thread

    uid = DECIDING_FOR.get(_thread.get_ident())
    return {} if uid is None else {"for_uid": uid}


class RemoteGate:
    """A gate in protected mode. ``read_secret`` returns the approver passphrase (from the
    terminal, or standard input with ``--secret-stdin``) when an approval needs it."""

    def __init__(self, config: ClientConfig, cwd: str) -> None:
        self.config = config
        self.cwd = cwd
        self._now = 0.0
        self._sources: list[dict[str, Any]] = []
        self._runs: dict[int, str] = {}  # id(outcome) -> the service's run token
        self.call: str | None = None  # the hook's tool call (integrations.calls.remote_factory)
        # the hook's report key, session and tool-use id (integrations.hooks._service_factory)
        self.report: dict[str, Any] | None = None

    # -- what the service is told about this client ---------------------------------------

    def _context(self) -> dict[str, Any]:
        from .integrations.agents import user_settings_files

        home = os.path.expanduser("~")
        return {"home": home if home.startswith("/") else "",
                "cdpath": bool(os.environ.get("CDPATH")),
                "protect": [str(p) for p in user_settings_files()],
                "repo": _repo_policies(self.cwd)}

    def _ask(self, request: dict[str, Any], context: bool = True) -> dict[str, Any]:
        if context:
            request = {**request, **self._context()}
        with protocol.Connection(self.config.socket, self.config.service_uid,
                                 self.config.timeout) as conn:
            return conn.ask(request)

    # -- decisions ------------------------------------------------------------------------

    def evaluate(self, subject: Subject, agent: str | None = None) -> Evaluation:
        from .policy import Evaluation, PartResult

        answer = self._ask({"op": "evaluate", "subject": _subject_dict(subject),
                            **({"agent": agent} if agent else {})})
        raw = _dict(answer.get("evaluation"))
        self._sources = [s for s in _list(answer.get("sources")) if isinstance(s, dict)]
        parts = tuple(PartResult(tuple(p.get("argv", [])), tuple(p.get("via", [])),
                                 str(p.get("decision")), tuple(p.get("rules", [])),
                                 str(p.get("reason", "")), bool(p.get("opaque")))
                      for p in _list(raw.get("parts")) if isinstance(p, dict))
        return Evaluation(_decision(raw.get("decision")), _opt_str(raw.get("rule")),
                          str(raw.get("reason", "")), parts, str(raw.get("source", "rule")))

    def source_dicts(self) -> list[dict[str, Any]]:
        return self._sources

    def policy_files(self) -> list[str]:
        from .system import POLICY_FILE

        return [POLICY_FILE, *(p["path"] for p in _repo_policies(self.cwd))]

    def authorize(self, subject: Subject, agent: str, *,
                  startable: Callable[[], AgentgateError | None] | None = None,
                  evaluation: Evaluation | None = None) -> Outcome:
        request: dict[str, Any] = {"op": "authorize", "subject": _subject_dict(subject),
                                   "agent": agent}
        if self.call is not None:
            request["call"] = self.call
        if self.report is not None:
            request.update({k: v for k, v in self.report.items() if v is not None})
        cannot = startable() if startable is not None else None
        if cannot is not None:
            request["cannot_start"] = {"message": cannot.message, "exitCode": cannot.exit_code}
        answer = self._ask(request)
        raw = _dict(answer.get("outcome"))
        flags = [raw.get(k) for k in ("allowed", "approval_required", "via_grant", "by_human")]
        if not all(isinstance(f, bool) for f in flags) or not isinstance(raw.get("reason"), str):
            raise protocol.garbled(self.config.socket, "an outcome that is not one")
        allowed, approval_required, via_grant, by_human = flags
        decision = _decision(raw.get("decision"))
        if (allowed and decision == "deny") or (allowed and approval_required):
            raise protocol.garbled(self.config.socket, "an outcome that contradicts itself")
        out = Outcome(decision, bool(allowed), bool(approval_required),
                      _opt_str(raw.get("approval_id")), str(raw["reason"]),
                      _opt_str(raw.get("rule")), subject, None, via_grant=bool(via_grant),
                      by_human=bool(by_human), rule_reason=_opt_str(raw.get("rule_reason")),
                      standing=_opt_str(raw.get("standing")) if allowed else None,
                      resend=raw.get("resend") is True and not allowed and not approval_required)
        token = answer.get("run_token")
        if out.allowed and isinstance(token, str):
            self._runs[id(out)] = token  # what record_exit shows the service
        return out

    def record_exit(self, outcome: Outcome, exit_code: int, agent: str) -> None:
        import time

        self._ask({"op": "exited", "run_token": self._runs.pop(id(outcome), None),
                   "exit_code": exit_code, "agent": agent,
                   "duration_ms": int((time.monotonic() - outcome.started) * 1000)}, False)

    def send_report(self, report: dict[str, Any], timeout: float = 3.0) -> None:
        """The agent's report after a tool call (integrations.post): the service records it
        as the agent's word. Waits at most ``timeout`` (the agent waits for the hook)."""
        with protocol.Connection(self.config.socket, self.config.service_uid,
                                 min(timeout, self.config.timeout)) as conn:
            conn.ask({"op": "report", **report})

    def hook_uses(self, rid: str) -> list[dict[str, Any]]:
        """`show ID`: each hook use of the grant ``rid`` and what the agent reported of it."""
        return [u for u in _list(self._ask({"op": "hook_uses", "id": rid}, False).get("uses"))
                if isinstance(u, dict)]

    def unreported(self) -> list[dict[str, Any]]:
        """`pending`: the used grants whose call the agent never reported as run."""
        return [u for u in _list(self._ask({"op": "unreported"}, False).get("unreported"))
                if isinstance(u, dict)]

    # -- humans ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def pending(self) -> list[Request]:
        from .ledger import Request

        answer = self._ask({"op": "pending"}, False)
        self._now = _number(answer.get("now"))
        return [Request.from_dict(r) for r in _list(answer.get("requests"))]

    def get(self, rid: str) -> RequestView:
        from .ledger import Request

        answer = self._ask({"op": "get", "id": rid}, False)
        self._now = _number(answer.get("now"))
        return RequestView(Request.from_dict(_dict(answer.get("request"))), self._now)

    def approve(self, rid: str, ttl: float | None = None, by: str | None = None, *,
                uses: int | None = 1, secret: Callable[[], str] | None = None,
                code: Callable[[], str] | None = None) -> Request:
        """Approve with the approver secret: a proof over the service's one-time nonce and this
        request's id, ttl and uses (the passphrase never leaves this process)."""
        from .ledger import Request

        fields: dict[str, Any] = {"op": "approve", "id": rid, "ttl": ttl}
        if uses != 1:  # as an older service reads it: absent is once
            fields["uses"] = "any" if uses is None else uses
        answer = self._with_proof(fields, secret, code, "approving")
        self._now = _number(answer.get("now"))
        return Request.from_dict(_dict(answer.get("request")))

    def remember(self, rid: str, *, secret: Callable[[], str] | None = None,
                 code: Callable[[], str] | None = None) -> tuple[Request, str, str]:
        """``approve --remember``: approve once and have the service keep a standing exception
        for this exact command and directory (the proof covers it); (the request, the file the
        service wrote, the exception's id)."""
        from .ledger import Request

        answer = self._with_proof({"op": "approve", "id": rid, "ttl": None, "remember": True},
                                  secret, code, "approving")
        self._now = _number(answer.get("now"))
        path, eid = answer.get("remembered"), answer.get("exception")
        if not (isinstance(path, str) and isinstance(eid, str)):
            raise protocol.garbled(self.config.socket, "an approval that remembered nothing")
        return Request.from_dict(_dict(answer.get("request"))), path, eid

    def forget(self, exception_id: str, *, secret: Callable[[], str] | None = None,
               code: Callable[[], str] | None = None) -> tuple[str, dict[str, Any]]:
        """`policy forget` through the service, with the approver secret: (the file, the
        exception as it was)."""
        answer = self._with_proof({"op": "forget", "exception": exception_id}, secret, code,
                                  "forgetting a standing exception")
        path = answer.get("file")
        if not isinstance(path, str):
            raise protocol.garbled(self.config.socket, "a removal without its file")
        return path, _dict(answer.get("exception"))

    def revoke(self, rid: str, by: str | None = None, *, secret: Callable[[], str] | None = None,
               code: Callable[[], str] | None = None) -> Request:
        """Withdraw a grant (the owner or root), or lift a denial: that relaxes a decision, so
        it carries the approver secret's proof, as an approval does."""
        from .ledger import Request

        current = self.get(rid).request
        fields: dict[str, Any] = {"op": "revoke", "id": rid}
        if current.status == "denied":
            answer = self._with_proof(fields, secret, code, "lifting a denial")
        else:
            answer = self._ask({**fields, **_deciding_for()}, False)
        self._now = _number(answer.get("now"))
        return Request.from_dict(_dict(answer.get("request")))

    def _with_proof(self, fields: dict[str, Any], secret: Callable[[], str] | None,
                    code: Callable[[], str] | None, doing: str) -> dict[str, Any]:
        """Send ``fields`` with a proof of the approver key over the service's one-time nonce
        (and the authenticator's code, when one is enrolled): the service's answer."""
        from .service.secret import derive

        if secret is None:
            raise UsageError(f"{doing} needs the approver secret in protected mode",
                             "run it in a terminal, or pass --secret-stdin")
        passphrase = secret()
        with protocol.Connection(self.config.socket, self.config.service_uid,
                                 self.config.timeout) as conn:
            challenge = conn.ask({"op": "challenge"})
            kdf = _dict(challenge.get("kdf"))
            nonce = str(challenge.get("nonce", ""))
            try:
                key = derive(passphrase, bytes.fromhex(str(kdf.get("salt", ""))),
                             int(kdf.get("n", 0)), int(kdf.get("r", 0)), int(kdf.get("p", 0)))
            except (ValueError, TypeError) as e:
                raise protocol.garbled(self.config.socket, f"key parameters: {e}") from None
            fields = dict(fields)
            if challenge.get("totp") is True:
                if code is None:
                    raise UsageError(f"{doing} needs the authenticator code too",
                                     "run it in a terminal")
                fields["code"] = code().strip()
            return conn.ask({**fields, **_deciding_for(), "nonce": nonce,
                             "proof": protocol.make_proof(key, fields, nonce)})

    def deny(self, rid: str, reason: str | None = None, by: str | None = None) -> Request:
        from .ledger import Request

        answer = self._ask({"op": "deny", "id": rid, "reason": reason, **_deciding_for()}, False)
        return Request.from_dict(_dict(answer.get("request")))

    def policy_show(self) -> dict[str, Any]:
        """`policy show`: the service's policy with the repo files above this directory."""
        return _dict(self._ask({"op": "policy_show"}).get("policy"))

    def trust(self, files: Sequence[object]) -> list[tuple[str, str]]:
        from .system import POLICY_FILE

        raise UsageError("protected mode: repo-local policy files apply as restrictions only and "
                         "cannot be trusted to relax anything",
                         f"put allow rules in {POLICY_FILE} (as root)")

    def log_lines(self, filters: dict[str, Any]) -> list[str]:
        """``agentgate log``: the matching audit lines, as stored (the service filters)."""
        return [ln for ln in _list(self._ask({"op": "log", **filters}, False).get("lines"))
                if isinstance(ln, str)]

    def log_summary(self, filters: dict[str, Any], chain: bool) -> dict[str, Any]:
        answer = self._ask({"op": "log_summary", **filters, "chain": chain}, False)
        return {"counts": _dict(answer.get("counts")), "chain": answer.get("chain")}

    def verify_log(self) -> dict[str, Any]:
        return _dict(self._ask({"op": "verify"}, False).get("result"))

    def status(self) -> dict[str, Any]:
        return self._ask({"op": "status"}, False)


# --------------------------------------------------------------------------- helpers


def _subject_dict(subject: Subject) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": subject.kind, "argv": list(subject.argv), "cwd": subject.cwd}
    if subject.attributes:
        d["attributes"] = dict(subject.attributes)
    return d


def _repo_policies(cwd: str) -> list[dict[str, str]]:
    """The repo-local policies above ``cwd``, read here (the service cannot read them): a file
    that cannot be read fails closed, as in personal mode."""
    from .repofiles import repo_policy_files

    out = []
    for path in repo_policy_files(cwd):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ConfigError(f"{path}: not a regular file",
                                      "a repo policy must be a regular file")
                data = os.read(fd, MAX_REPO_POLICY + 1)
            finally:
                os.close(fd)
        except OSError as e:
            raise ConfigError(f"{path}: cannot be read ({e.strerror or e})",
                              "fix its permissions or remove it") from None
        if len(data) > MAX_REPO_POLICY:
            raise ConfigError(f"{path}: larger than {MAX_REPO_POLICY} bytes")
        try:
            out.append({"path": str(path), "text": data.decode("utf-8")})
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text", "a policy file is UTF-8 TOML") from None
    return out


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise protocol.garbled("the service socket", "an answer without its fields")
    return value


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _decision(value: object) -> str:
    if value not in ("allow", "ask", "deny"):
        raise protocol.garbled("the service socket", f"a decision {value!r}")
    return str(value)
