"""``agentgate service run``: the protected-mode service.

It runs as its own unprivileged user, owns the state directory (ledger, audit log, approver
key) and reads the machine's policy; clients reach it on a Unix socket. Every decision, request,
grant consumption and audit append happens here, in one thread, with the ledger's own lock
besides: the grant and race guarantees of personal mode hold unchanged (the same Gate does the
work). Each connection is read without blocking the others (a client that sends half a line
and waits holds only its own buffer, and is dropped after :data:`IDLE_TIMEOUT`).

Who asks is taken from the socket (SO_PEERCRED), never from the message: that uid and pid go
into every audit line of the request, and the user name of that uid is the ``user``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import __version__
from .. import policy as pol
from ..audit import AuditLog
from ..errors import AgentgateError, CannotStart, ConfigError, NotAuthorized, UsageError
from ..fileio import make_state_dir
from ..gate import Gate, Outcome, Subject
from ..ledger import checked_uses, hostname
from ..paths import StatePaths
from ..subjects import MAX_COMMAND_CHARS, clean_attributes
from ..system import CLIENT_FILE, POLICY_FILE, SOCKET, STATE, client_config
from . import exceptions, protocol, secret

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..ledger import Request
    from ..logview import Filter

IDLE_TIMEOUT = 30.0  # seconds a connection may sit without completing a request
MAX_UNSENT = 4 << 20  # answers a client has not read: beyond this it is not read from
NONCE_TTL = 120.0
MAX_CHALLENGES_PER_UID = 16
LOG_ANSWER_BYTES = 48 << 20  # `agentgate log` through the service: one answer's worth
MAX_RUNS_PER_UID = 256  # allowed runs not yet exited, per uid (the oldest is forgotten)
MAX_REPO_POLICY = 256 * 1024  # bytes of each repo-local policy a client sends
MAX_REPO_FILES = 16
RUN_TOKEN_TTL = 7 * 86400.0  # a command may run for days; its exit is still its own
MAX_CONNECTIONS = 256
MAX_PENDING_PER_USER = 100  # open requests per user: a flood cannot fill the disk
KINDS = ("argv", "script", "action")
CALL_TTL = 600.0  # how long a tool call's allow is given again (integrations.calls.KEEP_S)
MAX_CALL_REPEATS = 8  # copies of one hook an agent runs for one call (Codex: up to 4)
MAX_CALLS_PER_UID = 256
REPORTS = "reports"  # <state>/reports/<uid>/hook-reports/: each user's awaiting-report records
OUTCOMES = ("succeeded", "failed", "interrupted", "unknown")  # integrations.post


class Service:
    """What the service knows and does, apart from sockets (so tests can drive it directly)."""

    def __init__(self, state: str = STATE, policy_file: str = POLICY_FILE, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.paths = StatePaths(Path(state))
        self.policy_file = Path(policy_file)
        self.clock = clock
        self.nonces: dict[str, tuple[float, int]] = {}  # nonce -> (expires, peer uid)
        self._policies: dict[tuple[object, ...], pol.Policy] = {}
        # run token -> (expires, peer uid, subject, approval id, rule): allows not yet exited
        self.runs: dict[str, tuple[float, int, Subject, str | None, str | None]] = {}
        # (peer uid, agent, the hook's tool call, subject) -> (expires, repeats left, outcome):
        # the allow a hook's other copies for the same tool call are given (integrations.calls)
        self.calls: dict[tuple[int, str, str, str], tuple[float, int, dict[str, Any]]] = {}
        # (peer uid, agent, the hook's report key) -> when the call was decided (for the report)
        self.decided: dict[tuple[int, str, str], float] = {}

    # -- the gate for one request ----------------------------------------------------------

    def gate(self, msg: dict[str, Any], peer: protocol.Peer) -> Gate:
        repo = _repo_files(msg.get("repo", []))
        gate = Gate(self._policy(repo), self.paths, clock=self.clock)
        gate.user = _user_name(peer.uid)
        gate.max_pending = MAX_PENDING_PER_USER
        gate.caller = peer.to_dict()
        gate.home = _home_of(peer.uid)  # the account's, not what the client says
        gate.cdpath = bool(msg.get("cdpath"))
        protect = msg.get("protect", [])
        if isinstance(protect, list):
            gate.also_protected = [p for p in protect if isinstance(p, str) and p.startswith("/")]
        return gate

    def _policy(self, repo: list[tuple[str, bytes]]) -> pol.Policy:
        """The machine's policy with these repo files and the service's standing exceptions,
        loaded once for each version of the policy file and of the exceptions file (inode,
        size, mtime and ctime) and each set of repo contents."""
        import hashlib

        try:
            st = os.stat(self.policy_file)
        except OSError:  # let the loader say what is wrong
            return pol.load_service_policy(self.policy_file, repo, self.paths, self._standing())
        try:
            ex = os.stat(exceptions.path_of(str(self.paths.root)))
            standing: tuple[int, ...] = (ex.st_ino, ex.st_size, ex.st_mtime_ns, ex.st_ctime_ns)
        except FileNotFoundError:
            standing = ()
        except OSError:  # let the reader say what is wrong
            return pol.load_service_policy(self.policy_file, repo, self.paths, self._standing())
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, standing,
               tuple((name, hashlib.sha256(data).hexdigest()) for name, data in repo))
        policy = self._policies.get(key)
        if policy is None:
            policy = pol.load_service_policy(self.policy_file, repo, self.paths, self._standing())
            if len(self._policies) >= 64:
                self._policies.clear()
            self._policies[key] = policy
        return policy

    def _standing(self) -> pol.Source | None:
        """The service's standing exceptions as a source without rules (None: no file)."""
        from ..lean import sha256_hex

        data, found = exceptions.read(str(self.paths.root))
        if data is None:
            return None
        return pol.Source(exceptions.path_of(str(self.paths.root)), sha256_hex(data), "service",
                          True, "the service's standing exceptions (`approve --remember`)", found)

    # -- requests --------------------------------------------------------------------------

    def handle(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """The answer to one request (an AgentgateError becomes an error answer)."""
        op = msg.get("op")
        handler = getattr(self, f"op_{op}", None) if isinstance(op, str) and op.isidentifier() else None
        if handler is None:
            return _error(UsageError(f"unknown request {op!r}"))
        try:
            answer: dict[str, Any] = handler(msg, peer)
        except AgentgateError as e:
            return _error(e)
        return {"ok": True, **answer}

    def op_hello(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        return {"version": __version__, "protocol": protocol.VERSION, "pid": os.getpid()}

    def op_status(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        gate = self.gate(msg, peer)
        pending = self._visible(gate, peer, gate.pending())
        state = str(self.paths.root)
        return {"version": __version__, "protocol": protocol.VERSION, "pid": os.getpid(),
                "state": state, "policy": str(self.policy_file),
                "policySha256": gate.policy.sha256, "pending": len(pending),
                "pendingRequests": [{"id": r.id, "command": r.argv, "kind": r.kind,
                                     "cwd": r.cwd, "user": r.user, "agent": r.agent,
                                     "createdAt": r.created_at} for r in pending[:20]],
                "secret": os.path.exists(os.path.join(state, secret.KEY_FILE)),
                "totp": secret.Totp(state).enrolled}

    @staticmethod
    def _visible(gate: Gate, peer: protocol.Peer, requests: list[Request]) -> list[Request]:
        """What this caller may see: root everything, a user their own requests."""
        return [r for r in requests if _all_seeing(peer) or r.user == gate.user]

    def op_policy_show(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """`policy show`: the machine's policy file and the client's repo files (untrusted:
        their allow rules and exceptions shown as not applying), as the service reads them."""
        from ..policy.edit import report
        from ..policy.loader import read_policy_bytes

        repo = dict(_repo_files(msg.get("repo", [])))
        gate = self.gate(msg, peer)
        return {"policy": report(gate.policy, lambda s: repo[s.path] if s.kind == "repo"
                                 else read_policy_bytes(self.policy_file))}

    def op_evaluate(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        gate = self.gate(msg, peer)
        ev = gate.evaluate(_subject(msg), _agent(msg) if msg.get("agent") else None)
        return {"evaluation": _evaluation_dict(ev),
                "sources": [s.to_dict() for s in gate.policy.sources]}

    def op_authorize(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        gate = self.gate(msg, peer)
        subject = _subject(msg)
        cannot = msg.get("cannot_start")
        startable = None
        if isinstance(cannot, dict):
            err = CannotStart(str(cannot.get("message", "the program cannot be started")),
                              exit_code=_exit_code(cannot.get("exitCode"), 127))
            startable = lambda: err  # noqa: E731
        call = _call_key(msg, peer, subject)
        now = self.clock()
        known = self.calls.get(call) if call is not None else None
        if call is not None and known is not None and known[0] > now and known[1] > 0:
            self.calls[call] = (known[0], known[1] - 1, known[2])
            return {"outcome": known[2], "repeated": True}  # nothing run is logged twice
        out = gate.authorize(subject, _agent(msg), startable=startable)
        answer: dict[str, Any] = {"outcome": _outcome_dict(out)}
        if out.allowed and call is not None:  # the hook's other copies get this very allow
            self.calls = {k: v for k, v in self.calls.items() if v[0] > now}
            _room_for_one(self.calls, peer.uid, lambda v: v[0])
            self.calls[call] = (now + CALL_TTL, MAX_CALL_REPEATS, answer["outcome"])
        if out.allowed:
            self._await_report(msg, peer, subject, out, now)
        if out.allowed:  # what `exited` must show: this allow, for this caller, once
            now = self.clock()
            self.runs = {t: v for t, v in self.runs.items() if v[0] > now}
            mine = sorted((v[0], t) for t, v in self.runs.items() if v[1] == peer.uid)
            for _, old in mine[:max(0, len(mine) - MAX_RUNS_PER_UID + 1)]:
                del self.runs[old]
            token = secrets.token_hex(16)
            self.runs[token] = (now + RUN_TOKEN_TTL, peer.uid, subject, out.approval_id, out.rule)
            answer["run_token"] = token
        return answer

    def op_exited(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """The client ran an allowed command; what it says of the exit is logged as its word
        (with its uid and pid), since the service cannot see the command."""
        token = msg.get("run_token")
        run = self.runs.pop(token, None) if isinstance(token, str) else None
        if run is None or run[1] != peer.uid:
            raise UsageError("no run of this caller's is known by that token: an exit is logged "
                             "only for a command this service allowed")
        _, _, subject, rid, rule = run
        gate = self.gate(msg, peer)
        duration = msg.get("duration_ms", 0)
        seconds = duration / 1000 if isinstance(duration, int) and 0 <= duration < 10**10 else 0.0
        out = Outcome(pol.ALLOW, True, False, rid, "", rule, subject, None,
                      started=time.monotonic() - seconds)
        gate.record_exit(out, _exit_code(msg.get("exit_code"), 0, low=-255), _agent(msg))
        return {}

    # -- the agent's report after a hook call (integrations.post, .reports) ---------------

    def _reports_root(self, uid: int) -> str:
        """Where this uid's awaiting-report records live: the service's own state, which no
        gated user can write (so none can forge or close another's record)."""
        return os.path.join(str(self.paths.root), REPORTS, str(uid))

    def _await_report(self, msg: dict[str, Any], peer: protocol.Peer, subject: Subject,
                      out: Outcome, now: float) -> None:
        """A hook call was allowed: note when (its report's session mark), and, when it used up
        a grant, that its report is awaited (best effort: the grant is used either way, and
        the audit log says so)."""
        from ..integrations.reports import DUE_S, await_report

        key = _report_key(msg.get("report"))
        if key is None:
            return
        agent = _agent(msg)
        self.decided = {k: v for k, v in self.decided.items() if v > now - DUE_S}
        _room_for_one(self.decided, peer.uid, lambda v: v)
        self.decided[(peer.uid, agent, key)] = now
        if not out.via_grant or out.approval_id is None:
            return
        with contextlib.suppress(OSError, AgentgateError):
            await_report(self._reports_root(peer.uid), agent, key, out.approval_id,
                         _clip(msg.get("session")), _clip(msg.get("tool_use_id")),
                         {"kind": subject.kind, "argv": list(subject.argv), "cwd": subject.cwd},
                         at=now)

    def op_report(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """The agent's report after a tool call, sent by its report hook: a ``ran`` event (the
        agent's word, with the caller's uid and pid), the caller's own awaiting record closed,
        and a ``no_report`` event for each of the caller's records this makes overdue. ``end``:
        the agent's turn in ``session`` is over. Never touches a decision or a grant."""
        from ..integrations import reports

        agent, session = _agent(msg), _clip(msg.get("session"))
        root = self._reports_root(peer.uid)
        if msg.get("end") is True:
            if session is None:
                raise UsageError("the end of a turn names its session")
            overdue = reports.end_turn(root, agent, session)
            self._report_events(peer, [reports.no_report_event(r) for r in overdue])
            return {"events": len(overdue)}
        subject = _subject(msg)
        outcome = msg.get("outcome")
        if outcome not in OUTCOMES:
            raise UsageError(f"a report's outcome is one of {', '.join(OUTCOMES)}")
        code = msg.get("exit_code")
        exit_code = code if isinstance(code, int) and not isinstance(code, bool) and \
            -(1 << 31) <= code < (1 << 31) else None
        key = _report_key(msg.get("report"))
        decided = None
        if key is not None:
            if not reports.first_report(root, agent, key):
                return {"events": 0}  # the second copy of a report (Codex: both scopes)
            decided = self.decided.pop((peer.uid, agent, key), None)
        took = msg.get("duration_ms")
        if decided is None and isinstance(took, int) and not isinstance(took, bool) and \
                0 <= took < 10**10:
            decided = self.clock() - took / 1000
        closed = reports.close(root, agent, key, session, str(outcome), exit_code, decided)
        event: dict[str, Any] = {"event": "ran", "kind": subject.kind, "argv": list(subject.argv),
                                 "cwd": subject.cwd}
        if subject.attributes:
            event["attributes"] = dict(subject.attributes)
        event.update({"agent": agent, "tool": _clip(msg.get("tool")),
                      "report": _clip(msg.get("event")), "outcome": outcome})
        if exit_code is not None:
            event["exit_code"] = exit_code
        event.update({k: v for k, v in (("id", closed.grant), ("session", session),
                                        ("tool_use_id", _clip(msg.get("tool_use_id"))))
                      if v is not None})
        events = [{k: v for k, v in event.items() if v is not None},
                  *(reports.no_report_event(r) for r in closed.overdue)]
        self._report_events(peer, events)
        return {"events": len(events), "id": closed.grant}

    def _report_events(self, peer: protocol.Peer, events: list[dict[str, Any]]) -> None:
        """Append a report's events, as the caller's (no policy needed: a broken policy file
        loses no report)."""
        if not events:
            return
        from ..ledger import Ledger

        who = {"user": _user_name(peer.uid), "host": hostname(), "pid": os.getpid(),
               **peer.to_dict()}
        ledger = Ledger(self.paths, clock=self.clock)
        with ledger.lock():
            AuditLog(self.paths.audit, clock=self.clock,
                     confirming=(self.paths.ledger, self.paths.trust)).append(
                [{**e, **who} for e in events], durable=False)

    def _report_roots(self, peer: protocol.Peer) -> list[str]:
        """The record folders this caller may read: root every user's, a user their own."""
        if not _all_seeing(peer):
            return [self._reports_root(peer.uid)]
        base = os.path.join(str(self.paths.root), REPORTS)
        try:
            return [os.path.join(base, n) for n in sorted(os.listdir(base)) if n.isdigit()]
        except OSError:
            return []

    def op_hook_uses(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """`show ID`: each hook use of the grant and what the agent reported of it."""
        from ..integrations.reports import uses

        gate = self.gate(msg, peer)
        rid = _request_id(msg)
        if not _all_seeing(peer) and gate.get(rid).request.user != gate.user:
            raise NotAuthorized(f"{rid} is another user's request", "ask root")
        now = self.clock()
        found = [u for root in self._report_roots(peer) for u in uses(root, rid, now)]
        return {"uses": sorted(found, key=lambda u: u["consumedAt"])}

    def op_unreported(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """`pending`: the used grants whose call the agent never reported as run."""
        from ..integrations.reports import unreported

        now = self.clock()
        found = [u for root in self._report_roots(peer) for u in unreported(root, now)]
        return {"unreported": sorted(found, key=lambda u: u["consumedAt"])}

    def op_pending(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        gate = self.gate(msg, peer)
        mine = self._visible(gate, peer, gate.pending())
        return {"requests": [r.to_dict() for r in mine], "now": gate.clock()}

    def op_get(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        gate = self.gate(msg, peer)
        view = gate.get(_request_id(msg))
        if not _all_seeing(peer) and view.request.user != gate.user:
            raise NotAuthorized(f"{view.request.id} is another user's request", "ask root")
        return {"request": view.request.to_dict(), "now": view.now}

    def op_challenge(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        now = self.clock()
        self.nonces = {n: v for n, v in self.nonces.items() if v[0] > now}
        mine = sorted((v[0], n) for n, v in self.nonces.items() if v[1] == peer.uid)
        for _, old in mine[:max(0, len(mine) - MAX_CHALLENGES_PER_UID + 1)]:
            del self.nonces[old]  # a uid's oldest make room for its newest: never another's
        nonce = secrets.token_hex(16)
        self.nonces[nonce] = (now + NONCE_TTL, peer.uid)
        return {"nonce": nonce, "kdf": secret.load_verifier(str(self.paths.root)).params(),
                "totp": secret.Totp(str(self.paths.root)).enrolled}

    def op_approve(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        rid = _request_id(msg)
        ttl = msg.get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)
                                or not 0 < ttl <= pol.MAX_DURATION):
            raise UsageError("ttl must be a number of seconds")
        raw_uses = msg.get("uses", 1)
        uses = None if raw_uses == "any" else checked_uses(raw_uses)
        gate = self.gate(msg, peer)
        fields: dict[str, Any] = {"op": "approve", "id": rid, "ttl": ttl}
        if "uses" in msg:
            fields["uses"] = msg["uses"]  # the proof covers how much is granted
        if "code" in msg:
            fields["code"] = msg["code"]
        remember = msg.get("remember") is True
        if remember:
            if ttl is not None or uses != 1:
                raise UsageError("remember goes without uses and ttl: it is a standing exception")
            fields["remember"] = True  # the proof covers it: an approval cannot become one
        by = self._decided_by(gate, msg, peer)
        self._check_secret(gate, msg, peer, fields, rid)
        answer: dict[str, Any] = {}
        if remember:
            answer = self._remember(gate, rid, by)
        req = gate.approve(rid, None if ttl is None else float(ttl), by, uses=uses)
        return {"request": req.to_dict(), "now": gate.clock(), **answer}

    def _remember(self, gate: Gate, rid: str, by: str | None = None) -> dict[str, Any]:
        """``approve --remember``: the standing exception for ``rid``'s command, made from the
        request as the ledger holds it (never from what the client says), in the service's
        exceptions file, audited; before the approval, as in personal mode."""
        from ..audit import now_iso
        from ..policy.exemptions import remembered

        req = gate.get(rid).request
        exemption = remembered(req, by or gate.user, now_iso(gate.clock()))
        path = exceptions.add(str(self.paths.root), exemption)
        gate.note("exception_added", Subject(req.kind, tuple(req.argv), req.cwd), id=rid,
                  exception=exemption.id, rule=exemption.rule, file=path)
        return {"remembered": path, "exception": exemption.id}

    def op_forget(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """`policy forget`: cut a standing exception out of the service's file, with the
        approver secret's proof (only the human adds or removes them); audited, and the
        approval it was remembered with, if still unused, is withdrawn (as in personal mode)."""
        from ..errors import Conflict, NotFound

        eid = msg.get("exception")
        if not isinstance(eid, str) or not eid:
            raise UsageError("the request names no standing exception")
        gate = self.gate(msg, peer)
        fields: dict[str, Any] = {"op": "forget", "exception": eid}
        if "code" in msg:
            fields["code"] = msg["code"]
        by = self._decided_by(gate, msg, peer)
        self._check_secret(gate, msg, peer, fields, eid)
        ours = {e.id for s in gate.policy.sources if s.kind == "service" for e in s.exemptions}
        if eid not in ours and any(e.id == eid for e in gate.policy.exemptions):
            raise UsageError(f"{eid} is in {self.policy_file}, root's policy: the service does "
                             "not write that file",
                             f"as root: remove its [[exception]] table from {self.policy_file}")
        path, gone = exceptions.remove(str(self.paths.root), eid)
        self._withdrawn(gone.request, standing=True)
        gate.note("exception_removed", Subject(gone.kind, gone.command, gone.cwd),
                  exception=gone.id, rule=gone.rule, file=path, by=by)
        if gone.request:
            with contextlib.suppress(Conflict, NotFound):
                if gate.get(gone.request).request.status == "approved":
                    gate.revoke(gone.request, by)
        return {"file": path, "exception": gone.to_dict()}

    def op_revoke(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """Withdraw a grant (its owner or root, like deny), or lift a denial: that relaxes a
        decision, so it needs the approver secret's proof, like an approval."""
        gate = self.gate(msg, peer)
        rid = _request_id(msg)
        by = self._decided_by(gate, msg, peer)
        current = gate.get(rid).request
        if current.status == "denied":
            fields: dict[str, Any] = {"op": "revoke", "id": rid}
            if "code" in msg:
                fields["code"] = msg["code"]
            self._check_secret(gate, msg, peer, fields, rid)
        elif not _all_seeing(peer) and current.user != gate.user:
            raise NotAuthorized(f"{rid} is {current.user}'s request: only they (or root) may "
                                "revoke its grant")
        req = gate.revoke(rid, by)
        self._withdrawn(rid)
        return {"request": req.to_dict(), "now": gate.clock()}

    def op_deny(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        reason = msg.get("reason")
        gate = self.gate(msg, peer)
        rid = _request_id(msg)
        by = self._decided_by(gate, msg, peer)
        owner = gate.get(rid).request.user
        if not _all_seeing(peer) and owner != gate.user:
            raise NotAuthorized(f"{rid} is {owner}'s request: only they (or root) may deny it")
        req = gate.deny(rid, reason if isinstance(reason, str) else None, by)
        self._withdrawn(rid)
        return {"request": req.to_dict()}

    def _decided_by(self, gate: Gate, msg: dict[str, Any], peer: protocol.Peer) -> str | None:
        """Who a human's decision is recorded as made by: None, the caller's user; for the
        service's own dashboard, the user whose login (a login token given to them, and the
        approver secret) opened the session it came from (``for_uid``, which any other caller
        is refused), its audit lines marked ``via: "dashboard"``. It names who decided and
        nothing more: what the dashboard may see and decide stays as it was."""
        uid = msg.get("for_uid")
        if uid is None:
            return None
        if not _is_self(peer):
            raise NotAuthorized("only the service's own dashboard decides for a user logged in "
                                "to it")
        if isinstance(uid, bool) or not isinstance(uid, int) or uid < 0:
            raise UsageError("for_uid must be a uid")
        gate.caller = {**gate.caller, "via": "dashboard"}
        return _user_name(uid)

    def _withdrawn(self, rid: str | None, standing: bool = False) -> None:
        """Forget the allows kept for hook calls' other copies that came from ``rid``'s
        approval (and with ``standing``, every one a standing exception gave): a replayed call
        is decided again once a human withdrew what allowed it."""
        self.calls = {k: v for k, v in self.calls.items()
                      if not ((rid is not None and v[2].get("approval_id") == rid)
                              or (standing and v[2].get("standing") is not None
                                  and not v[2].get("via_grant")))}

    def _log_events(self, flt: Filter, peer: protocol.Peer) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """The audit lines ``flt`` matches; a user other than root sees the lines of their own
        requests and commands only."""
        from ..logview import select

        user = _user_name(peer.uid)
        for raw, ev in select(AuditLog(self.paths.audit), flt, None):
            if _all_seeing(peer) or ev.get("user") == user:
                yield raw, ev

    def op_log(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        from collections import deque

        tail = msg.get("tail")
        keep = tail if isinstance(tail, int) and not isinstance(tail, bool) and tail >= 0 else None
        lines: deque[str] | list[str] = deque(maxlen=keep) if keep is not None else []
        size = 0
        for raw, _ in self._log_events(_log_filter(msg), peer):
            lines.append(raw.decode("utf-8", "replace"))
            size += len(raw)
            if keep is None and size > LOG_ANSWER_BYTES:
                raise UsageError("more matching audit lines than one answer holds",
                                 "narrow it down: --since, --until, --event, --id or --tail")
        return {"lines": list(lines)}

    def op_log_summary(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        from ..logview import Summary

        flt = _log_filter(msg)
        out = Summary(flt.since, flt.until)
        for _, ev in self._log_events(flt, peer):
            out.add(ev)
        chain = AuditLog(self.paths.audit).verify().to_dict() if msg.get("chain") else None
        return {"counts": out.to_dict(), "chain": chain}

    def op_verify(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        return {"result": AuditLog(self.paths.audit).verify().to_dict()}

    # -- the dashboard it serves -----------------------------------------------------------

    def op_dashboard(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """`agentgate dashboard`: serve the dashboard on 127.0.0.1 in this process (once;
        ``port`` the first time, 0 a free one) and give out a new login token. The token alone
        opens nothing: login also takes the approver secret (agentgate.dashboard.Hosted)."""
        from ..dashboard import hosted

        port = msg.get("port", 0)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError("port must be 0 to 65535")
        config = client_config()  # root's choice, read here: a client's word does not move it
        fixed = config.dashboard_port if config is not None else 0
        if fixed and port not in (0, fixed):
            raise UsageError(f"the dashboard's port is {fixed} (dashboard_port in {CLIENT_FILE}); "
                             f"--port {port} is not taken", "leave out --port")
        return hosted(fixed or port, str(self.paths.root), peer.uid)

    def op_dashboard_login(self, msg: dict[str, Any], peer: protocol.Peer) -> dict[str, Any]:
        """The service's dashboard checks a login's approver secret (the proof, audited, the
        lockout) as an approval's; asked by this process alone. A wrong secret counts towards
        the lockout of the user the login token was given to, as if they had sent it: an agent
        that asks for a token of its own and guesses locks out its own uid, never every
        user's dashboard, and gets no second count of tries."""
        from ..dashboard import login_owner

        if not _is_self(peer):
            raise NotAuthorized("only the service's own dashboard logs in")
        token = msg.get("token")
        owner = login_owner(token) if isinstance(token, str) else None
        if owner is None:
            raise NotAuthorized("the login token is not one this service gave out",
                                "run `agentgate dashboard` again")
        fields: dict[str, Any] = {"op": "dashboard_login", "token": token}
        if "code" in msg:
            fields["code"] = msg["code"]
        self._check_secret(self.gate(msg, peer), msg, peer, fields, "dashboard",
                           lockout_uid=owner, token_of=_user_name(owner))
        return {}

    # -- the approver secret ---------------------------------------------------------------

    def _check_secret(self, gate: Gate, msg: dict[str, Any], peer: protocol.Peer,
                      fields: dict[str, Any], rid: str, lockout_uid: int | None = None,
                      **extra: str) -> None:
        """A proof of the approver key for exactly these fields, over a nonce this service
        issued and nobody has used; every try is audited (with ``extra``), wrong ones count
        towards the lockout (of ``lockout_uid``, else the caller's). The nonce is used up
        either way."""
        now = self.clock()
        nonce = msg.get("nonce")
        issued = self.nonces.pop(nonce, None) if isinstance(nonce, str) else None
        lockout = secret.Lockout(str(self.paths.root),
                                 peer.uid if lockout_uid is None else lockout_uid)
        refused = lockout.refusal(now)
        if refused is None and (issued is None or issued[0] < now or issued[1] != peer.uid):
            refused = NotAuthorized("the approval carries no valid challenge (a used, expired or "
                                    "unknown nonce)", "run the approve command again")
        if refused is None:
            verifier = secret.load_verifier(str(self.paths.root))
            totp = secret.Totp(str(self.paths.root))
            if not protocol.proof_matches(verifier.key, fields, str(nonce), msg.get("proof")):
                lockout.failed(now)
                refused = NotAuthorized("wrong approver secret: nothing was approved",
                                        "enter the passphrase set by `agentgate service install`")
            elif totp.enrolled and not totp.accept(fields.get("code"), now):
                lockout.failed(now)
                refused = NotAuthorized("wrong or used authenticator code: nothing was approved",
                                        "enter the current code from the authenticator app "
                                        "(each code approves once)")
            else:
                lockout.succeeded()
        self._audit(gate, {"event": "secret_checked", "id": rid, "op": fields["op"], **extra,
                           "result": "ok" if refused is None else "refused",
                           **({} if refused is None else {"reason": refused.message})})
        if refused is not None:
            raise refused

    def _audit(self, gate: Gate, event: dict[str, Any]) -> None:
        event.update({"user": gate.user, "host": hostname(), "pid": os.getpid(), **gate.caller})
        with gate.ledger.lock():
            gate.audit.append([event], durable=False)


# --------------------------------------------------------------------------- message fields


def _error(e: AgentgateError) -> dict[str, Any]:
    return {"ok": False, "error": e.to_dict()}


def _is_self(peer: protocol.Peer) -> bool:
    """Is the caller this very process (the dashboard it serves, in a thread of its own)?"""
    return peer.uid == os.getuid() and peer.pid == os.getpid()


def _all_seeing(peer: protocol.Peer) -> bool:
    """May the caller see and deny every user's requests: root, or this process (its
    dashboard, whose decisions still carry the approver secret's proof)? The service's user
    owns the state directory already: its own process sees nothing it could not read."""
    return peer.uid == 0 or _is_self(peer)


def _subject(msg: dict[str, Any]) -> Subject:
    raw = msg.get("subject")
    if not isinstance(raw, dict):
        raise UsageError("the request has no subject")
    kind, argv, cwd = raw.get("kind"), raw.get("argv"), raw.get("cwd")
    if kind not in KINDS or not isinstance(argv, list) or not argv or \
            not all(isinstance(a, str) for a in argv) or not isinstance(cwd, str) or \
            not cwd.startswith("/"):
        raise UsageError("the request's subject is not a command (kind, argv, absolute cwd)")
    if sum(len(a) for a in argv) + len(cwd) > MAX_COMMAND_CHARS:
        raise UsageError(f"a command longer than {MAX_COMMAND_CHARS} characters is not checked")
    attributes = raw.get("attributes")
    if attributes is not None and kind != "action":
        raise UsageError("only an action has attributes")
    return Subject(str(kind), tuple(argv), cwd, clean_attributes(attributes))


def _log_filter(msg: dict[str, Any]) -> Filter:
    """``agentgate log``'s options, as the client sent them."""
    from ..logview import Filter

    def text(key: str) -> str | None:
        v = msg.get(key)
        return v if isinstance(v, str) else None

    events = msg.get("events")
    return Filter.build(since=text("since"), until=text("until"),
                        events=[e for e in events if isinstance(e, str)] if isinstance(events, list) else [],
                        request_id=text("id"), rule=text("rule"), agent=text("agent"))


def _call_key(msg: dict[str, Any], peer: protocol.Peer,
              subject: Subject) -> tuple[int, str, str, str] | None:
    """Which hook tool call an authorize is for (the client's digest of agent, session,
    tool-use id and what the call does), with who asks and about what; None without one."""
    from ..jsontext import json_dumps

    call = msg.get("call")
    if not isinstance(call, str) or not 0 < len(call) <= 128:
        return None
    about = json_dumps([subject.kind, list(subject.argv), subject.cwd, subject.attributes],
                       default=str)
    return (peer.uid, _agent(msg), call, about)


def _room_for_one(entries: dict[Any, Any], uid: int, when: Callable[[Any], float]) -> None:
    """Make room in ``entries`` (keyed by tuples that start with the caller's uid) for one more
    of ``uid``'s: its oldest by ``when`` go, past MAX_CALLS_PER_UID - 1 of them."""
    mine = sorted((when(v), k) for k, v in entries.items() if k[0] == uid)
    for _, oldest in mine[:max(0, len(mine) - MAX_CALLS_PER_UID + 1)]:
        del entries[oldest]


def _report_key(value: object) -> str | None:
    """The hook's name for one tool call across its decision and its report (a digest)."""
    return value if isinstance(value, str) and 0 < len(value) <= 128 and value.isalnum() \
        and value.isascii() else None


def _clip(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


def _agent(msg: dict[str, Any]) -> str:
    agent = msg.get("agent")
    return agent[:200] if isinstance(agent, str) and agent else "unknown"


def _request_id(msg: dict[str, Any]) -> str:
    rid = msg.get("id")
    if not isinstance(rid, str) or not rid:
        raise UsageError("the request names no approval id")
    return rid


def _exit_code(value: object, default: int, low: int = 1) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value < 256:
        return value
    return default


def _repo_files(raw: object) -> list[tuple[str, bytes]]:
    if not isinstance(raw, list) or len(raw) > MAX_REPO_FILES:
        raise UsageError(f"repo policies must be a list (at most {MAX_REPO_FILES})")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or \
                not isinstance(item.get("text"), str):
            raise UsageError("a repo policy must have a path and a text")
        data = item["text"].encode("utf-8", "surrogateescape")
        if len(data) > MAX_REPO_POLICY:
            raise UsageError(f"{item['path']}: a repo policy of more than {MAX_REPO_POLICY} bytes "
                             "is not read in protected mode", "make it smaller")
        out.append((item["path"], data))
    return out


def _home_of(uid: int) -> str:
    try:
        home = pwd.getpwuid(uid).pw_dir
    except KeyError:
        return ""
    return home if home.startswith("/") else ""


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _outcome_dict(out: Outcome) -> dict[str, Any]:
    return {"decision": out.decision, "allowed": out.allowed,
            "approval_required": out.approval_required, "approval_id": out.approval_id,
            "reason": out.reason, "rule": out.rule, "via_grant": out.via_grant,
            "by_human": out.by_human, "rule_reason": out.rule_reason, "standing": out.standing,
            "resend": out.resend}


def _evaluation_dict(ev: pol.Evaluation) -> dict[str, Any]:
    return {"decision": ev.decision, "rule": ev.rule, "reason": ev.reason,
            "parts": [p.to_dict() for p in ev.parts], "source": ev.source}


# --------------------------------------------------------------------------- the socket loop


class _Client:
    """One connection: what it sent that is not answered yet, what is not sent to it yet."""

    __slots__ = ("inbuf", "last", "outbuf", "peer", "sock")

    def __init__(self, sock: socket.socket, peer: protocol.Peer) -> None:
        self.sock, self.peer, self.last = sock, peer, time.monotonic()
        self.inbuf = b""
        self.outbuf = b""

    def ready(self) -> bool:
        """Has a whole request waiting, and room for its answer?"""
        return b"\n" in self.inbuf and len(self.outbuf) < MAX_UNSENT


def listen(path: str = SOCKET) -> socket.socket:
    """The listening socket at ``path``, group read-write (gated users are in the group); a
    socket an earlier run of this user left there is replaced, anything else is refused."""
    if os.path.lexists(path):
        if not protocol.socket_owner_ok(path, os.getuid()):
            raise ConfigError(f"{path} exists and is not this service's socket",
                              "as root: remove it, then start the service again")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o660)
    sock.listen(64)
    return sock


class _Loop:
    """The service's one thread: reads and writes never block, and each round answers at most
    one request per connection (a client that pipelines thousands of requests, or never reads
    its answers, holds its own connection only: the others are answered in the same rounds)."""

    def __init__(self, service: Service, sock: socket.socket) -> None:
        self.service = service
        self.sock = sock
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, None)

    def round(self, timeout: float) -> None:
        busy = any(c.ready() for c in self.clients.values())
        for key, events in self.sel.select(timeout=0 if busy else timeout):
            if key.data is None:
                self._accept()
                continue
            c = key.data
            if events & selectors.EVENT_WRITE:
                self._flush(c)
            if events & selectors.EVENT_READ and c.sock.fileno() in self.clients:
                self._read(c)
        for c in [c for c in self.clients.values() if c.ready()]:
            line, _, c.inbuf = c.inbuf.partition(b"\n")
            try:
                c.outbuf += protocol.encode(_answer(self.service, line, c.peer), protocol.MAX_ANSWER)
            except Exception as e:  # an answer that cannot be sent is an error answer
                c.outbuf += protocol.encode(_error(ConfigError(
                    f"the service could not encode its answer ({type(e).__name__})")))
            self._flush(c)
        cutoff = time.monotonic() - IDLE_TIMEOUT
        for c in [c for c in self.clients.values() if c.last < cutoff]:
            self._drop(c)

    def close(self) -> None:
        for c in list(self.clients.values()):
            self._drop(c)
        self.sel.close()

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # out of descriptors: the oldest idle connection makes room next time
            if self.clients:
                self._drop(min(self.clients.values(), key=lambda c: c.last))
            return
        if len(self.clients) >= MAX_CONNECTIONS:  # drop the one idle longest, not the newcomer
            self._drop(min(self.clients.values(), key=lambda c: c.last))
        conn.setblocking(False)
        client = _Client(conn, protocol.peer_of(conn))
        self.clients[conn.fileno()] = client
        self.sel.register(conn, selectors.EVENT_READ, client)

    def _read(self, c: _Client) -> None:
        try:
            chunk = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(c)
            return
        c.inbuf += chunk
        c.last = time.monotonic()
        if len(c.inbuf) > protocol.MAX_MESSAGE and b"\n" not in c.inbuf:
            c.outbuf += protocol.encode(_error(UsageError("a request longer than the protocol allows")))
            c.inbuf = b""
            self._flush(c)
            self._drop(c)

    def _flush(self, c: _Client) -> None:
        if c.outbuf:
            try:
                sent = c.sock.send(c.outbuf)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop(c)
                return
            c.outbuf = c.outbuf[sent:]
            if sent:
                c.last = time.monotonic()
        reading = len(c.outbuf) < MAX_UNSENT and len(c.inbuf) <= protocol.MAX_MESSAGE
        want = (selectors.EVENT_READ if reading else 0) | (selectors.EVENT_WRITE if c.outbuf else 0)
        want = want or selectors.EVENT_READ
        with contextlib.suppress(KeyError, ValueError):
            if self.sel.get_key(c.sock).events != want:
                self.sel.modify(c.sock, want, c)

    def _drop(self, c: _Client) -> None:
        self.clients.pop(c.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(c.sock)
        c.sock.close()


def serve(service: Service, sock: socket.socket, *, on_ready: Callable[[], None] | None = None) -> None:
    """Answer clients until SIGTERM, SIGINT or SIGHUP."""
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, stop)
    loop = _Loop(service, sock)
    if on_ready is not None:
        on_ready()
    try:
        while not stopping:
            loop.round(1.0)
    finally:
        loop.close()


def _answer(service: Service, line: bytes, peer: protocol.Peer) -> dict[str, Any]:
    try:
        msg = protocol.decode(line)
    except (ValueError, RecursionError) as e:  # UnicodeError is a ValueError
        return _error(UsageError(f"not a valid request ({type(e).__name__})"))
    try:
        return service.handle(msg, peer)
    except Exception as e:  # a bug: the client fails closed; the service goes on
        log = _log(e)
        return _error(ConfigError(f"internal error in the service: {type(e).__name__}: {e}",
                                  f"details in {log}" if log else None))


def _log(error: Exception) -> str | None:
    try:
        from .. import errorlog

        return errorlog.record(error)
    except Exception:  # the log itself failed: the answer still says what went wrong
        return None


def run(state: str = STATE, policy_file: str = POLICY_FILE, socket_path: str = SOCKET,
        on_ready: Callable[[], None] | None = None) -> None:
    """``agentgate service run``: refuses root (the service must not hold more than its state),
    checks the state directory and the policy, then serves."""
    if os.geteuid() == 0:
        raise UsageError("the service must not run as root",
                         "run it as its own user: `sudo agentgate service install` sets that up")
    make_state_dir(Path(state))
    service = Service(state, policy_file)
    pol.load_service_policy(Path(policy_file), [], service.paths,  # fail now, not per request
                            service._standing())
    sock = listen(socket_path)
    try:
        serve(service, sock, on_ready=on_ready)
    finally:
        sock.close()
        if protocol.socket_owner_ok(socket_path, os.getuid()):
            os.unlink(socket_path)

