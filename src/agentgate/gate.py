"""The decision flow: analyse once -> policy + guards -> ledger -> audit -> Outcome. No printing,
no exiting.

``Gate.authorize`` decides whether a command (an argv, a shell string from a hook, or a named
action) may run now, and records that decision: a new or repeated approval request in the ledger,
a consumed grant, and an audit line in every case. The caller runs the command only when
``Outcome.allowed`` is true, then calls ``Gate.record_exit``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from . import policy as pol
from . import shell
from .audit import AuditLog
from .errors import AgentgateError, StateError
from .fileio import Staged, signals_deferred
from .guard import PROTECTED_RULE, SELF_APPROVAL_RULE, approves_itself, protected_reference
from .lean import Record, suppress
from .ledger import (
    APPROVED,
    PENDING,
    Ledger,
    LedgerState,
    Request,
    current_user,
    hostname,
    make_request,
)
from .outcome import REASON_ASK, REASON_GRANT, REASON_PENDING, Reader, fmt_duration
from .outcome import Outcome as Outcome  # where callers have imported these from
from .outcome import RequestView as RequestView
from .outcome import Subject as Subject
from .paths import GATED_ENV as GATED_ENV  # where entry points have imported it from
from .paths import StatePaths, lock_timeout

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Any

    from .fileio import StrPath


def analyze(subject: Subject, home: str | None = None, cdpath: bool | None = None) -> shell.Analysis:
    """The one shell analysis of a command (an argv run directly, or a script), started in its
    directory, with the caller's home directory (``~``, ``$HOME``) and whether ``$CDPATH`` is
    set (this process's when not given): what the policy and the guards decide on."""
    home = os.path.expanduser("~") if home is None else home
    cdpath = bool(os.environ.get("CDPATH")) if cdpath is None else cdpath
    where = (subject.cwd, home if home.startswith("/") else None, cdpath)
    if subject.kind == "script":
        return shell.analyze_script(subject.argv[0], *where)
    return shell.analyze_argv(subject.argv, *where)


# --------------------------------------------------------------------------- the gate


def open_gate(policy: str | None, cwd: StrPath, paths: StatePaths | None = None) -> Gate:
    """The gate every entry point uses: the policy located as usual (``--policy`` value,
    ``AGENTGATE_POLICY``, the user policy, the embedded default, plus repo-local files above
    ``cwd``), state in ``AGENTGATE_HOME``, the lock wait from ``AGENTGATE_LOCK_TIMEOUT``."""
    paths = paths or StatePaths.default()
    return Gate(pol.load_policy(policy, cwd, paths), paths, lock_timeout=lock_timeout())


def record_blocked(paths: StatePaths, subject: Subject | None, agent: str,
                   error: AgentgateError) -> bool:
    """Best effort: note a fail-closed block (e.g. an invalid policy) in the audit log.

    Returns False when that is impossible too (the state itself is the problem)."""
    try:
        ledger = Ledger(paths, lock_timeout=2.0)
        with ledger.lock():
            ev: dict[str, Any] = {"event": "blocked", "agent": agent, "decision": pol.DENY,
                                  "error": error.message}
            if subject is not None:
                ev.update({"kind": subject.kind, "argv": list(subject.argv), "cwd": subject.cwd})
            ev.update({"user": current_user(), "host": hostname(), "pid": os.getpid()})
            AuditLog(paths.audit, confirming=(paths.ledger, paths.trust)).append(
                [ev], durable=False)
        return True
    except AgentgateError:
        return False


def open_ledger(paths: StatePaths | None = None) -> Gate:
    """The gate for a human's decisions (pending, show, approve, deny, revoke): the ledger and
    the audit log, no policy, so that they work while the policy file is broken. What a
    decision needs from the policy (approval_ttl, request_ttl) the request recorded when it
    was made."""
    return Gate(None, paths or StatePaths.default(), lock_timeout=lock_timeout())


class Gate:
    def __init__(self, policy: pol.Policy | None, paths: StatePaths, *,
                 clock: Callable[[], float] = time.time, lock_timeout: float = 10.0):
        self._policy = policy
        self.paths = paths
        self.clock = clock
        self.ledger = Ledger(paths, clock=clock, lock_timeout=lock_timeout)
        settings = policy.settings if policy is not None else pol.Settings()
        self.settings = settings
        self.audit = AuditLog(paths.audit, max_bytes=settings.audit_max_bytes, clock=clock,
                              confirming=(paths.ledger, paths.trust))
        self.user = current_user()
        self._host = hostname()
        # The service (protected mode) sets these for each client: who it is (its user name,
        # and its uid and pid in every audit line), its home directory and $CDPATH, and files
        # of that user's that the guards protect as well (the agents' hook settings).
        self.caller: dict[str, Any] = {}
        self.home: str | None = None
        self.cdpath: bool | None = None
        self.also_protected: list[str] = []
        self.max_pending: int | None = None  # the service: open requests one user may hold

    @property
    def policy(self) -> pol.Policy:
        """The policy in force; a gate opened for a human's decisions has none."""
        if self._policy is None:
            raise AssertionError("this gate was opened without a policy (open_ledger)")
        return self._policy

    # -- evaluation (no writes) ----------------------------------------------------------

    def evaluate(self, subject: Subject, agent: str | None = None) -> pol.Evaluation:
        """The decision for ``subject``, without recording it: the command analysed once, that
        analysis decided by the policy, then checked by the built-in guards (an agent approving
        for itself is denied; one touching agentgate's own files needs a human)."""
        if subject.kind == "action":
            return self.policy.check_action(subject.argv[0], subject.argv[1] if len(subject.argv) > 1 else None,
                                            dict(subject.attributes), agent=agent, now=self.clock())
        analysis = analyze(subject, self.home, self.cdpath)
        ev = self.policy.decide(analysis)
        if approves_itself(analysis, " ".join(subject.argv)):
            reason = ("An agent must not approve, deny or trust on its own behalf; a human "
                      "runs these outside the gate.")
            part = pol.PartResult((), ("built-in check",), pol.DENY, (SELF_APPROVAL_RULE,), reason)
            return pol.Evaluation(pol.DENY, SELF_APPROVAL_RULE, reason, (*ev.parts, part), "rule")
        if ev.decision == pol.ASK:  # a human's standing exception, then the guards as for any allow
            ev = self._exempted(subject, ev)
        if pol.RANK[ev.decision] < pol.RANK[pol.ASK]:
            hit = protected_reference(analysis, [*self.policy_files(), *self.also_protected])
            if hit is not None:
                reason = (f"The command refers to agentgate's own files or an agent's hook settings "
                          f"({hit}); changes to the policy, the state or the hooks need a human.")
                part = pol.PartResult((hit,), ("built-in check",), pol.ASK, (PROTECTED_RULE,), reason)
                return pol.Evaluation(pol.ASK, PROTECTED_RULE, reason, (*ev.parts, part), "rule")
        return ev

    def _exempted(self, subject: Subject, ev: pol.Evaluation) -> pol.Evaluation:
        """``ev`` (an ask) as allowed when a standing exception names exactly this command,
        directory and asking rule (see agentgate.policy.exemptions); else ``ev``."""
        for e in self.policy.exemptions:
            if e.matches(subject.kind, subject.argv, subject.cwd, ev.rule, self.user):
                return pol.Evaluation(pol.ALLOW, ev.rule, f"Allowed by {e.reason()}.", ev.parts,
                                      "exception", e.reason())
        return ev

    def source_dicts(self) -> list[dict[str, Any]]:
        """The policy files in force, as `check --json` shows them."""
        return [s.to_dict() for s in self.policy.sources]

    def now(self) -> float:
        """The ledger's clock (what ``expires in`` is counted from)."""
        return self.ledger.read_only().now

    def policy_files(self) -> list[str]:
        """The policy files in force (the embedded default has no path)."""
        return [s.path for s in self.policy.sources if not s.path.startswith("<")]

    # -- audit helpers -------------------------------------------------------------------

    def _event(self, event: str, subject: Subject | None = None, **extra: Any) -> dict[str, Any]:
        ev: dict[str, Any] = {"event": event}
        if subject is not None:
            ev.update({"kind": subject.kind, "argv": list(subject.argv), "cwd": subject.cwd})
            if subject.attributes:
                ev["attributes"] = dict(subject.attributes)
        ev.update({"user": self.user, "host": self._host, "pid": os.getpid()})
        if self._policy is not None:
            ev["policy"] = self._policy.sha256
        ev.update(self.caller)
        ev.update({k: v for k, v in extra.items() if v is not None})
        return ev

    def _req_event(self, event: str, req: Request, **extra: Any) -> dict[str, Any]:
        subj = Subject(req.kind, tuple(req.argv), req.cwd, tuple(sorted((req.attributes or {}).items())))
        if self._policy is None:  # a human's decision: the policy the request was made under
            extra.setdefault("policy", req.policy)
        return self._event(event, subj, id=req.id, rule=req.rule, agent=req.agent, **extra)

    def _sweep(self, state: LedgerState) -> list[dict[str, Any]]:
        events = [self._req_event("expired", r, decision=pol.ASK) for r in state.expire()]
        if self._policy is not None:  # the retention period is the policy's: a human's gate keeps all
            state.prune(self._policy.settings.retention)
        return events

    # -- authorize ------------------------------------------------------------------------

    def authorize(self, subject: Subject, agent: str, *,
                  startable: Callable[[], AgentgateError | None] | None = None,
                  evaluation: pol.Evaluation | None = None) -> Outcome:
        """Decide and record. Raises AgentgateError (exit 78) when state cannot be used.

        ``startable`` (the runner's check, for a command that will be started) is asked before
        an approved grant is used up: when it returns an error (program not found, 127), the
        grant is kept, a ``blocked`` line says why, and that error is raised. ``evaluation`` is
        :meth:`evaluate`'s answer for ``subject`` when the caller decided it already (the MCP
        server decides in its main thread, where the policy's regex time budget can be armed)."""
        ev = self.evaluate(subject, agent) if evaluation is None else evaluation
        base = {"agent": agent, "rule": ev.rule, "decision": ev.decision}
        if ev.decision == pol.ALLOW:
            with self.ledger.lock():
                self.audit.append([self._event("allowed", subject, reason=ev.reason, **base)],
                                  durable=False)
            return Outcome(pol.ALLOW, True, False, None, ev.reason, ev.rule, subject, ev,
                           standing=ev.standing)
        if ev.decision == pol.DENY:
            with self.ledger.lock():
                self.audit.append([self._event("denied", subject, reason=ev.reason, **base)],
                                  durable=False)
            return Outcome(pol.DENY, False, False, None, ev.reason, ev.rule, subject, ev)
        return self._ask(subject, agent, ev, startable)

    def _ask(self, subject: Subject, agent: str, ev: pol.Evaluation,
             startable: Callable[[], AgentgateError | None] | None = None) -> Outcome:
        if subject.kind != "action" and (part := ev.runtime_word()) is not None:
            return self._resend(subject, agent, ev, part)
        fp = subject.fingerprint()
        if "peer_uid" in self.caller:  # the service: a grant is its requester's alone
            from .ledger import fingerprint

            fp = fingerprint({"fp": fp, "uid": self.caller["peer_uid"]})
        cannot: AgentgateError | None = None
        with self.ledger.locked() as state:
            events = self._sweep(state)
            base = {"agent": agent, "rule": ev.rule, "decision": ev.decision}
            denied = state.denied_for(fp)
            existing = state.open_for(fp, agent)
            if denied is not None:
                reason = denied.human_reason or "A human denied this command (no reason given)."
                events.append(self._event("denied", subject, id=denied.id, reason=reason,
                                          by="human", **base))
                out = Outcome(pol.ASK, False, False, denied.id, reason, ev.rule, subject, ev,
                              by_human=True, rule_reason=ev.reason)
            elif existing is not None and existing.status == APPROVED and startable is not None \
                    and (cannot := startable()) is not None:  # nothing would start: keep the grant
                events.append(self._event("blocked", subject, id=existing.id, reason=cannot.message,
                                          error=cannot.message, **base))
                cannot.hint = (f"nothing ran and the approved grant {existing.id} is kept: make the "
                               "program available, then retry the very same command")
                out = Outcome(pol.ASK, False, False, existing.id, cannot.message, ev.rule, subject, ev)
            elif existing is not None and existing.status == APPROVED:
                unused = Request.from_dict(existing.to_dict())  # to give back if it cannot run
                state.consume(existing)
                standing = standing_text(existing, state.now) if existing.standing else None
                use = {"use": existing.used, "left": existing.uses_left} if existing.standing else {}
                events.append(self._event("grant_consumed", subject, id=existing.id,
                                          reason=REASON_GRANT, standing=standing, **use, **base))
                out = Outcome(pol.ASK, True, False, existing.id, REASON_GRANT, ev.rule, subject, ev,
                              via_grant=True, rule_reason=ev.reason, standing=standing)
            elif existing is not None and existing.status == PENDING:
                events.append(self._event("approval_pending", subject, id=existing.id,
                                          reason=ev.reason, **base))
                out = Outcome(pol.ASK, False, True, existing.id, REASON_PENDING, ev.rule, subject, ev,
                              rule_reason=ev.reason)
            else:
                if self.max_pending is not None:
                    self._check_pending_cap(state)
                req = make_request(fp=fp, kind=subject.kind, argv=list(subject.argv), cwd=subject.cwd,
                                   rule=ev.rule, reason=ev.reason, agent=agent, now=state.now,
                                   request_ttl=self.policy.settings.request_ttl,
                                   approval_ttl=self.policy.settings.approval_ttl,
                                   policy=self.policy.sha256,
                                   user=self.user, pid=self.caller.get("peer_pid"))
                req.attributes = dict(subject.attributes) or None
                state.add(req)
                events.append(self._event("approval_requested", subject, id=req.id,
                                          reason=ev.reason, **base))
                out = Outcome(pol.ASK, False, True, req.id, REASON_ASK, ev.rule, subject, ev,
                              rule_reason=ev.reason)
            saved = self._save(state, events)
            if saved.late is not None:
                if out.via_grant:
                    raise self._grant_not_run(state, unused, saved, out)
                raise _saved_but(saved.late)
        if cannot is not None:
            raise cannot
        if out.approval_required:
            self._announce(events)
        return out

    def _announce(self, events: list[dict[str, Any]]) -> None:
        """Tell the human about a request this call opened (agentgate.notify): a detached
        deliverer, so that no channel delays this answer or changes it."""
        opened = [e for e in events if e.get("event") == "approval_requested"]
        settings = self.policy.settings
        if opened and (settings.notify_urls or settings.notify_desktop):
            from .notify import announce

            announce(self.paths, opened[-1], settings.notify_urls, settings.notify_desktop,
                     settings.audit_max_bytes)

    def _resend(self, subject: Subject, agent: str, ev: pol.Evaluation, part: pol.PartResult) -> Outcome:
        """Held because a word known only at run time could make ``part`` match a rule: a grant
        for the command's text would cover whatever that word expands to on the retry (``git
        push origin $(cat .branch)``), so no request is made; the agent is told to send the
        values written out. Audited as ``blocked``: nothing ran, nothing was asked."""
        words = " ".join(part.argv)
        rule = f"rule {part.rules[-1]!r}" if part.rules else "a rule"
        reason = (f"`{words[:200]}` holds a word whose value is only known at run time, which could "
                  f"make it match {rule}; a grant for this text would also cover whatever that "
                  "word expands to next time, so it cannot be approved as written")
        with self.ledger.lock():
            self.audit.append([self._event("blocked", subject, agent=agent, rule=ev.rule,
                                           decision=ev.decision, reason=reason)], durable=False)
        return Outcome(pol.ASK, False, False, None, reason, ev.rule, subject, ev, resend=True)

    def _check_pending_cap(self, state: LedgerState) -> None:
        from .errors import NotAuthorized

        mine = sum(1 for r in state.requests.values() if r.status == PENDING and r.user == self.user)
        if self.max_pending is not None and mine >= self.max_pending:
            raise NotAuthorized(f"{self.user} has {mine} requests waiting for a human already: "
                                "this one was not recorded and nothing ran",
                                "ask a human to decide them (agentgate pending), then retry")

    def record_exit(self, outcome: Outcome, exit_code: int, agent: str) -> None:
        duration_ms = int((time.monotonic() - outcome.started) * 1000)
        with self.ledger.lock():
            self.audit.append([self._event("exited", outcome.subject, id=outcome.approval_id,
                                           rule=outcome.rule, decision=pol.ALLOW, agent=agent,
                                           exit_code=exit_code,
                                           duration_ms=duration_ms)], durable=False)

    # -- humans ---------------------------------------------------------------------------

    def get(self, rid: str) -> RequestView:
        """One request as the gate would act on it now (an overdue one as expired, in this
        snapshot only)."""
        return Reader(self.ledger).get(rid)

    def pending(self) -> list[Request]:
        return Reader(self.ledger).pending()

    def approve(self, rid: str, ttl: float | None = None, by: str | None = None, *,
                uses: int | None = 1, secret: Callable[[], str] | None = None,
                code: Callable[[], str] | None = None) -> Request:
        """Approve ``rid`` for ``uses`` runs (None: any number) within ``ttl`` seconds (by
        default the approval_ttl of the policy that made the request). A local gate (personal
        mode) has no approver secret: ``secret`` and ``code`` are protected mode's and are not
        asked for here."""
        by = by or self.user

        def change(st: LedgerState) -> Request:
            req = st.get(rid)
            seconds = ttl if ttl is not None else req.grant_ttl or self.settings.approval_ttl
            return st.approve(rid, seconds, by, uses)

        return self._decide(change, lambda req: self._req_event(
            "approved", req, decision=pol.ASK, by=by, ttl=req.expires_at - (req.decided_at or 0),
            uses=req.uses if req.standing else None, standing=req.standing or None))

    def deny(self, rid: str, reason: str | None = None, by: str | None = None) -> Request:
        """Deny ``rid``: repeats are refused for the request_ttl of the policy that made it."""
        who = by or self.user

        def change(st: LedgerState) -> Request:
            hold = st.get(rid).deny_hold or self.settings.request_ttl
            return st.deny(rid, reason, who, hold)

        return self._decide(change, lambda req: self._req_event("human_denied", req, decision=pol.DENY,
                                                               by=who, reason=reason))

    def note(self, event: str, subject: Subject | None = None, **fields: Any) -> None:
        """One audit line for something a human did outside the ledger (a standing exception
        written into or cut out of a policy file), after it happened."""
        with self.ledger.lock():
            self.audit.append([self._event(event, subject, **fields)])

    def revoke(self, rid: str, by: str | None = None, *, secret: Callable[[], str] | None = None,
               code: Callable[[], str] | None = None) -> Request:
        """Withdraw an approved grant, or lift a human denial (the next try asks again). As
        with :meth:`approve`, ``secret`` and ``code`` are protected mode's."""
        who = by or self.user
        return self._decide(lambda st: st.revoke(rid, who),
                            lambda req: self._req_event("revoked", req, by=who,
                                                        was=req.history[-1].get("was")))

    def _decide(self, change: Callable[[LedgerState], Request],
                event: Callable[[Request], dict[str, Any]]) -> Request:
        """A human's decision under the lock, with its audit line. A refused decision (unknown
        id, wrong state) still saves the expiry sweep, or its expiries are logged again later."""
        failed: AgentgateError | None = None
        req: Request | None = None
        with self.ledger.locked() as state:
            events = self._sweep(state)
            try:
                req = change(state)
                events.append(event(req))
            except AgentgateError as e:
                failed = e
            saved = self._save(state, events)
        if failed is not None:
            raise failed
        if saved.late is not None:
            raise _saved_but(saved.late)
        assert req is not None
        return req

    def trust(self, files: Sequence[StrPath]) -> list[tuple[str, str]]:
        """Record the current sha256 of each repo-local policy file as trusted."""
        from .trust import read_trust
        from .trust import staging as stage_trust

        out = []
        with self.ledger.lock():
            records = read_trust(self.paths.trust)
            for f in files:
                # The hash of the very bytes that loaded: a file that does not load is refused.
                digest = pol.read_policy_file(f, "repo").source.sha256
                real = pol.real_path(f)
                records[real] = digest
                out.append((real, digest))
            event = self._event("policy_trusted", None, files=[p for p, _ in out],
                                sha256=[d for _, d in out])
            saved = self._record(lambda mark: stage_trust(self.paths.trust, records, mark), [event])
            if saved.late is not None:
                raise _saved_but(saved.late)
        return out

    def _save(self, state: LedgerState, events: list[dict[str, Any]]) -> Recorded:
        """:meth:`_record` for the ledger: the change in ``state`` (if any) with ``events``."""
        stage = (lambda mark: self.ledger.staging(state, mark)) if state.dirty else None
        return self._record(stage, events)

    def _record(self, stage: Callable[[dict[str, Any] | None],
                                      AbstractContextManager[Staged]] | None,
                events: list[dict[str, Any]]) -> Recorded:
        """Save a state change with its audit lines so that the log never claims what did not
        happen; returns the lines and what failed after the commit point, if anything (for the
        caller to raise, through :func:`_saved_but`).

        ``stage(mark)`` writes the new state file (Ledger.staging, trust.staging) to a complete,
        fsynced temp file that records ``mark``, the last of these lines; None: nothing to
        save, the append alone. Then the lines are written, and the head's temp file, so that
        a full disk fails before the commit point; then the state file is renamed into place
        (the commit point, known exactly: ``Staged.replaced``) and the head after it, with
        SIGINT, SIGTERM and SIGHUP held until the end. Anything that fails or interrupts before
        the rename (a KeyboardInterrupt included) cuts the lines back and is raised: nothing
        happened (lines the cut leaves are retracted by the next append, since no state file
        records them). Once the rename is done the change HAS happened and its lines are true,
        whatever fails after it (a directory fsync, the head's rename, pruning the archive; a
        SIGKILL leaves the lines after the head, and the state file vouches for them): that
        failure is returned."""
        if stage is None:
            return Recorded(self.audit.append(events), None)
        batch = self.audit.prepare(events)
        if batch is None:  # a change without lines (old finished requests pruned)
            with stage(None):
                return Recorded([], None)
        staged: Staged | None = None
        start: int | None = None
        try:
            with signals_deferred(), stage(batch.mark) as staged:
                start = self.audit.write(batch)
                head = self.audit.stage_head(batch)  # a full disk has failed by now, if at all
                try:
                    staged.replace()  # the commit point
                    self.audit.replace_head(head, took_effect=True)
                finally:
                    head.discard()
        except BaseException as e:
            if staged is None or not staged.replaced:
                if start is not None:
                    self.audit.cut_back(start)
                raise
            return Recorded(batch.lines, e)
        return Recorded(batch.lines, None)

    def _grant_not_run(self, state: LedgerState, unused: Request, saved: Recorded,
                       out: Outcome) -> BaseException:
        """A grant was used up (saved and logged), then the state directory failed or the user
        interrupted: the command does not run (fail closed: a consumption that may not survive
        a crash could hand the grant out a second time), and the grant is given back, with a
        ``retracted`` line for its consumption. When even that cannot be saved, a ``blocked``
        line says the command did not run (best effort). Returns what to raise."""
        late = saved.late
        assert late is not None
        cause = (late.message if isinstance(late, AgentgateError)
                 else "agentgate was interrupted" if isinstance(late, KeyboardInterrupt)
                 else f"an internal error ({type(late).__name__}: {late})")
        consumed = [ln["seq"] for ln in saved.lines if ln.get("event") == "grant_consumed"]
        state.requests[unused.id] = unused
        state.dirty = True
        try:
            self._save(state, [self._event(
                "retracted", None, id=unused.id, seqs=consumed,
                reason=f"the grant was used up, but then: {cause}; the command was not run and "
                       "the grant was given back")])
            kept = f"the grant {unused.id} is kept"
        except Exception as e:  # the disk, or a bug: say what holds
            kept = f"the grant {unused.id} is used up (giving it back failed too: {e})"
            with suppress(AgentgateError):
                self.audit.append([self._event(
                    "blocked", out.subject, id=unused.id, rule=out.rule, decision=out.decision,
                    reason=f"the grant was used up, but then: {cause}; the command was not run",
                    error=cause)])
        if not isinstance(late, AgentgateError):
            return late
        return StateError(f"{cause}: the command was not run; {kept}",
                          "free disk space or check the disk, then retry the very same command")


def standing_text(req: Request, now: float) -> str:
    """What a human's standing approval allows, for the agent's message and the audit line."""
    by = f"a standing approval by {req.decided_by or 'a human'} ({req.id})"
    if req.uses is not None and not req.uses_left:
        return f"{by}: that was the last of its {req.uses} runs"
    left = "any number of runs" if req.uses is None else f"{req.uses_left} of {req.uses} runs left"
    return f"{by}: {left}, for {fmt_duration(req.expires_at - now)} more"


class Recorded(Record):
    """What :meth:`Gate._record` did: the audit lines it wrote, and what failed after the
    commit point (the change was made and logged), if anything."""

    lines: list[dict[str, Any]]
    late: BaseException | None


def _saved_but(late: BaseException) -> BaseException:
    """What to raise for a failure after a state change's commit point: a StateError that
    says the change was saved and logged (an interruption or a bug as itself)."""
    if isinstance(late, AgentgateError):
        return StateError(f"the change was saved and logged, but then: {late.message}", late.hint)
    return late
