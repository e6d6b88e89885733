"""The command bodies: plain functions that take arguments and return data.

cli.py wires each command to one of these and hands the result to agentgate.output; nothing
here prints or exits (an expected failure is an AgentgateError). Where a command needs a person
in the middle (a confirmation) or a progress display, the caller passes it in. `run` and
`hook AGENT` live in hotpath.py: they write as they go, beside the command they run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence

from .errors import (
    DECISION_EXIT,
    EXIT_CONFIG,
    EXIT_DENIED,
    EXIT_REFUSED,
    AgentgateError,
    UsageError,
)
from .lean import Record, suppress
from .paths import agent_name, current_dir, inside_gate

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .audit import AuditLog, VerifyResult
    from .backend import AnyGate, AnyReader
    from .gate import Outcome, RequestView
    from .integrations.agents import Agent
    from .integrations.install import InstallPlan, SystemPlan
    from .integrations.status import Status
    from .ledger import Request
    from .outcome import Subject
    from .policy.exemptions import Exemption
    from .remote import RemoteGate

Line = tuple[str, int, bytes]
Progress = Callable[[Iterable[Line], int], Iterator[Line]]


def no_progress(lines: Iterable[Line], total: int) -> Iterator[Line]:
    """A :data:`Progress` that shows nothing (for callers without a progress display)."""
    return iter(lines)


# --------------------------------------------------------------------------- shared


def gate(policy: str | None, cwd: str | Path | None = None) -> AnyGate:
    """The gate for ``policy`` (a --policy value, or None), with repo-local policies above
    ``cwd`` (default: the working directory)."""
    from .backend import open_gate

    return open_gate(policy, cwd or current_dir())


def refuse_when_gated(what: str) -> None:
    """Approvals, denials and trust come from a human, never from a command the gate runs."""
    if inside_gate():
        raise AgentgateError(f"refusing to {what} from inside `agentgate run`",
                             "approvals, denials and trust come from a human, outside the gate",
                             exit_code=EXIT_DENIED)


def duration(text: str, what: str) -> int:
    from .policy import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise UsageError(f"{what}: {e}") from None


# --------------------------------------------------------------------------- decisions


def check(policy: str | None, cmd: list[str], *, script: bool) -> dict[str, Any]:
    """The decision for ``cmd`` and the rules behind it, running and recording nothing."""
    from .subjects import command_subject

    cwd = current_dir()
    g = gate(policy, cwd)
    if script and len(cmd) != 1:
        raise UsageError("--script takes exactly one argument: the whole command string",
                         "quote it: agentgate check --script 'cd app && make deploy'")
    subject = command_subject(cmd[0] if script else cmd, str(cwd))
    ev = g.evaluate(subject)
    return {
        "allowed": ev.decision == "allow",
        "approvalRequired": ev.decision == "ask",
        "approvalId": None,
        "reason": ev.reason,
        "rule": ev.rule,
        "command": list(subject.argv),
        "next": "run it through `agentgate run`; a human will have to approve it" if ev.decision == "ask" else None,
        "decision": ev.decision,
        "exitCode": DECISION_EXIT[ev.decision],
        "parts": [p.to_dict() for p in ev.parts],
        "policies": g.source_dicts(),
    }


def verify(policy: str | None, action: str, resource: str | None, agent: str | None,
           attrs: Sequence[str] = ()) -> Outcome:
    """Checkpoint ``action`` (on ``resource``, with ``--attr NAME=VALUE`` attributes): decided
    and recorded, nothing run."""
    from .subjects import action_subject

    if not action.strip():
        raise UsageError("ACTION must not be empty")
    attributes = attr_options(attrs)
    cwd = current_dir()
    return gate(policy, cwd).authorize(action_subject(action, resource, str(cwd), attributes),
                                       agent_name(agent, "unknown"))


def attr_options(attrs: Sequence[str]) -> dict[str, object]:
    """``--attr NAME=VALUE`` options as attributes, each value typed as conditions read one
    (policy.conditions.parse_value); a malformed or repeated one is a UsageError."""
    from .policy.conditions import parse_value

    out: dict[str, object] = {}
    for a in attrs:
        name, sep, value = a.partition("=")
        if not sep or not name:
            raise UsageError(f"--attr {a!r} is not NAME=VALUE", "e.g. --attr amount=4000")
        if name in out:
            raise UsageError(f"--attr {name} is given twice")
        out[name] = parse_value(value)
    return out


# --------------------------------------------------------------------------- humans


def human_gate() -> AnyGate:
    """The gate for a human's decisions: the ledger and the audit log without the policy (so
    they work while it is broken), or the service's in protected mode."""
    from .backend import open_human_gate

    return open_human_gate(current_dir())


def reader() -> AnyReader:
    """What `pending` and `show` read: the ledger alone (light: they must feel instant), or
    the service's gate in protected mode."""
    from .backend import open_reader

    return open_reader(current_dir())


class Grant(Record):
    """What ``approve`` is asked to allow: ``uses`` runs (None: any number) within ``ttl``
    seconds (None: the approval_ttl of the policy that made the request)."""

    ttl: float | None
    uses: int | None

    @classmethod
    def build(cls, ttl: str | None, uses: int | None, for_: str | None) -> Grant:
        from .ledger import checked_uses

        if ttl and for_:
            raise UsageError("--ttl and --for both say how long the grant lasts: give one",
                             "--for DURATION allows any number of runs for that long; "
                             "--uses N --for DURATION, N runs within it")
        if uses is not None:
            checked_uses(uses)  # before the human is asked anything
        if for_:
            return cls(float(duration(for_, "--for")), uses)
        return cls(float(duration(ttl, "--ttl")) if ttl else None, 1 if uses is None else uses)

    def words(self) -> str:
        """What the confirmation asks, e.g. "to run 3 times within 30m"."""
        from .output import fmt_duration

        within = f" within {fmt_duration(self.ttl)}" if self.ttl is not None else ""
        if self.uses is None:
            return f"to run any number of times for {fmt_duration(self.ttl or 0)}"
        return ("to run once" if self.uses == 1 else f"to run {self.uses} times") + within


class Approved(Record):
    request: Request
    now: float
    remembered: str | None = None  # the policy file a standing exception was written into
    exception: str | None = None  # its id


def approve(request_id: str, grant: Grant,
            confirm: Callable[[RequestView, str], None],
            secret: Callable[[], str] | None = None,
            code: Callable[[], str] | None = None, *, remember: bool = False) -> Approved:
    """Approve a pending request as ``grant`` says once ``confirm`` (shown the request and
    what is asked) returns; it raises to decline. In protected mode ``secret`` reads the
    approver passphrase and ``code`` the authenticator's code (asked for only when one is
    enrolled). ``remember``: also a standing exception for this exact command and directory
    in the policy file (agentgate.policy.exemptions), written before the approval."""
    refuse_when_gated("approve")
    g = human_gate()
    if remember:
        _can_remember(grant)
    view = g.get(request_id)
    what = grant.words()
    exemption = None
    if remember:
        exemption = _exemption_for(view)  # checked here too, before the secret is asked for
        from .gate import Gate
        from .policy.edit import policy_target

        where = (f"in {policy_target()[0]}" if isinstance(g, Gate)
                 else "by the agentgate service")  # protected: its answer says where
        what = f"to run now and from now on without asking (remembered {where})"
    confirm(view, what)
    remembered = None
    if exemption is not None:
        from .gate import Gate
        from .policy.edit import add

        if not isinstance(g, Gate):  # protected mode: the service writes it, with the secret
            req, remembered, eid = g.remember(request_id, secret=secret, code=code)
            return Approved(req, g.now(), remembered, eid)
        remembered = add(exemption)
        g.note("exception_added", _subject_of(view.request), id=view.request.id,
               exception=exemption.id, rule=exemption.rule, file=remembered)
    req = g.approve(request_id, grant.ttl, uses=grant.uses, secret=secret, code=code)
    return Approved(req, view.now, remembered, exemption.id if exemption else None)


def _can_remember(grant: Grant) -> None:
    if grant.uses != 1 or grant.ttl is not None:
        raise UsageError("--remember goes without --uses, --for and --ttl: it is a standing "
                         "exception already")


def _exemption_for(view: RequestView) -> Exemption:
    """The standing exception that would let ``view``'s command run without asking."""
    from .audit import now_iso
    from .ledger import current_user
    from .policy.exemptions import remembered

    return remembered(view.request, current_user(), now_iso(view.now))


def _subject_of(req: Request) -> Subject:
    from .outcome import Subject

    return Subject(req.kind, tuple(req.argv), req.cwd)


def deny(request_id: str, reason: str | None,
         confirm: Callable[[RequestView, str], None]) -> Request:
    """Deny a pending request once ``confirm`` (shown the request) returns."""
    refuse_when_gated("deny")
    g = human_gate()
    confirm(g.get(request_id), "")
    return g.deny(request_id, reason)


def revoke(request_id: str, confirm: Callable[[RequestView, str], None],
           secret: Callable[[], str] | None = None,
           code: Callable[[], str] | None = None) -> Request:
    """Withdraw an approved grant, or lift a human denial, once ``confirm`` returns. Lifting
    a denial relaxes a decision: in protected mode it needs the approver secret."""
    refuse_when_gated("revoke")
    g = human_gate()
    confirm(g.get(request_id), "")
    req = g.revoke(request_id, secret=secret, code=code)
    if _local():  # the service voids its own (agentgate.service.server)
        from .integrations.calls import withdrawn

        withdrawn(_state_root())  # the hooks' allows recorded from the grant are void
    return req


class Pending(Record):
    requests: list[Request]
    now: float
    # Grants a hook call used up whose call the agent never reported as run (see hook_uses)
    unreported: tuple[dict[str, Any], ...] = ()


def pending() -> Pending:
    """Open approval requests, newest first; and the used grants whose report is overdue."""
    g = reader()
    reqs = g.pending()
    unreported: tuple[dict[str, Any], ...] = ()
    if _local():
        from .integrations.reports import unreported as overdue

        unreported = tuple(overdue(_state_root()))
    else:  # the service keeps them (protected mode)
        from .remote import RemoteGate

        if isinstance(g, RemoteGate):
            unreported = tuple(g.unreported())
    return Pending(reqs, g.now() if reqs or unreported else 0.0, unreported)


def show(request_id: str) -> RequestView:
    return reader().get(request_id)


def hook_uses(request_id: str) -> list[dict[str, Any]]:
    """Each time a hook call used up the grant ``request_id``, and whether the agent reported
    that the call ran (agentgate.integrations.reports; in protected mode the service keeps
    these records, and answers for them)."""
    if not _local():
        from .remote import RemoteGate

        g = reader()
        return g.hook_uses(request_id) if isinstance(g, RemoteGate) else []
    from .integrations.reports import uses

    return uses(_state_root(), request_id)


def _state_root() -> str:
    from .paths import StatePaths

    return str(StatePaths.default().root)


def _local() -> bool:
    from .backend import protected_quietly

    return not protected_quietly()


# --------------------------------------------------------------------------- where things are


def where(policy: str | None) -> dict[str, Any]:
    """Where the policy, ledger and audit log live (the service's, in protected mode)."""
    from .backend import protected, refuse_redirection
    from .paths import StatePaths, user_policy_path
    from .policy import locate_primary, repo_policy_files

    if protected():
        from .system import CLIENT_FILE, POLICY_FILE, SOCKET, STATE

        refuse_redirection(policy)
        state = StatePaths(STATE)
        from .service.exceptions import path_of

        return {"mode": "protected", "policy": POLICY_FILE, "policyKind": "system",
                "repoPolicies": [str(p) for p in repo_policy_files(current_dir())],
                "clientFile": CLIENT_FILE, "socket": SOCKET, "stateDir": STATE,
                "ledger": str(state.ledger), "audit": str(state.audit),
                "exceptions": path_of(STATE)}

    paths = StatePaths.default()
    path, kind = locate_primary(policy)
    return {"policy": str(path) if path else "<embedded default>", "policyKind": kind,
            "repoPolicies": [str(p) for p in repo_policy_files(current_dir())],
            "userPolicy": str(user_policy_path()), "stateDir": str(paths.root),
            "ledger": str(paths.ledger), "audit": str(paths.audit)}


def starter_policy() -> str:
    from .policy import embedded_policy_text

    return embedded_policy_text().decode()


def init() -> Path:
    """Write the starter policy to the user policy path; refuses to overwrite, and refuses in
    protected mode (where a user policy would decide nothing)."""
    from .backend import protected
    from .paths import user_policy_path
    from .policy import embedded_policy_text

    if protected():
        from .system import POLICY_FILE

        raise AgentgateError(f"this machine is in protected mode: a user policy would decide "
                             f"nothing; the service's policy is {POLICY_FILE}",
                             f"as root, edit {POLICY_FILE} (it is read on every request)",
                             exit_code=EXIT_CONFIG)

    from pathlib import Path

    target = Path(user_policy_path())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as f:
            f.write(embedded_policy_text())
    except FileExistsError:
        raise AgentgateError(f"{target} already exists; not overwriting it",
                             "edit it, or move it aside and run `agentgate init` again",
                             exit_code=EXIT_REFUSED) from None
    except OSError as e:
        raise AgentgateError(f"cannot write {target}: {e.strerror or e}", exit_code=EXIT_CONFIG) from None
    return target


# --------------------------------------------------------------------------- policy


def validate(policy: str | None, path: Path | None) -> dict[str, Any]:
    """Load and validate ``path`` (default: the policy in force), every rule's examples too."""
    from .paths import StatePaths
    from .policy import (
        EMBEDDED_NAME,
        REPO_POLICY_NAME,
        Policy,
        embedded_policy_text,
        load_policy,
        locate_primary,
        parse_policy_file,
        read_policy_file,
    )

    if path is not None:
        pf = read_policy_file(path, "repo" if path.name == REPO_POLICY_NAME else "explicit")
        pol = Policy.build(pf.settings, pf.rules, (pf.source,))
    else:
        located, _ = locate_primary(policy)
        pol = load_policy(policy, current_dir(), StatePaths.default(), cached=False)
        if located is None:
            parse_policy_file(embedded_policy_text(), EMBEDDED_NAME, "embedded")
    return {"valid": True, "rules": len(pol.rules), "sources": [s.to_dict() for s in pol.sources]}


def policy_show(policy: str | None) -> dict[str, Any]:
    """The policy in force: each file (its kind, trust status and note), every rule with the
    file it comes from and whether it applies, the merged settings (notification URLs without
    their tokens), and the standing exceptions (which apply, and which are ignored with their
    file's allow rules). In protected mode the service's, with the repo files above here."""
    from .backend import protected
    from .paths import StatePaths
    from .policy import load_policy, read_policy_bytes
    from .policy.edit import report
    from .policy.loader import embedded_policy_text

    if protected():
        remote = _remote_gate()
        assert remote is not None
        return remote.policy_show()
    pol = load_policy(policy, current_dir(), StatePaths.default())
    return report(pol, lambda s: embedded_policy_text() if s.kind == "embedded"
                  else read_policy_bytes(s.path))


def policy_forget(exception_id: str, secret: Callable[[], str] | None = None,
                  code: Callable[[], str] | None = None) -> tuple[str, Exemption]:
    """Remove a standing exception from the policy file (audited); (file, the exception). In
    protected mode the service removes it from its own file, given the approver secret."""
    from .backend import protected
    from .policy.edit import remove

    refuse_when_gated("forget a standing exception")
    if protected():
        from .policy.exemptions import parse_exemptions

        remote = _remote_gate()
        assert remote is not None
        path, raw = remote.forget(exception_id, secret=secret, code=code)
        return path, parse_exemptions([raw], path)[0]
    path, gone = remove(exception_id)
    from .errors import Conflict, NotFound
    from .gate import open_ledger
    from .outcome import Subject

    g = open_ledger()
    g.note("exception_removed", Subject(gone.kind, gone.command, gone.cwd),
           exception=gone.id, rule=gone.rule, file=path)
    from .integrations.calls import withdrawn

    withdrawn(_state_root())  # the hooks' allows recorded under the exception are void
    if gone.request:  # the approval it was remembered with: asking again means from now on
        with suppress(Conflict, NotFound):
            if g.get(gone.request).request.status == "approved":
                g.revoke(gone.request)
    return path, gone


def trust(policy: str | None, path: Path | None) -> list[tuple[str, str]]:
    """Trust repo-local policies as they are now: (file, sha256) each."""
    from .policy import repo_policy_files

    refuse_when_gated("trust a policy")
    files = [path] if path is not None else repo_policy_files(current_dir())
    if not files:
        raise UsageError("no .agentgate.toml found from here up to the repository root")
    return gate(policy).trust(files)


# --------------------------------------------------------------------------- log


def _audit() -> AuditLog:
    from .audit import AuditLog
    from .backend import protected
    from .errors import ConfigError
    from .fileio import check_state_dir
    from .paths import StatePaths
    from .system import STATE

    if protected():  # the log is the service's: never a local one
        raise ConfigError(f"protected mode: the audit log is the service's ({STATE}), read "
                          "through it", "`agentgate log` and `log verify` ask the service")
    paths = StatePaths.default()
    check_state_dir(paths.root)  # a log that others can write proves nothing
    return AuditLog(paths.audit)


def _lines(audit: AuditLog, progress: Progress) -> Iterator[Line]:
    """The log's lines through ``progress``, which is told the bytes to read."""
    import contextlib

    total = 0
    for p in audit.files():
        with contextlib.suppress(OSError):
            total += os.stat(p).st_size
    return progress(audit.raw_lines(), total)


def log(*, since: str | None, until: str | None, events: list[str], request_id: str | None,
        rule: str | None, agent: str | None, tail: int | None,
        progress: Progress) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """The matching audit lines, (stored bytes, event) each, oldest first; in protected mode
    the service's (a user sees their own)."""
    from .logview import Filter, select

    flt = Filter.build(since=since, until=until, events=events, request_id=request_id,
                       rule=rule, agent=agent)
    remote = _remote_gate()
    if remote is not None:
        from .jsontext import loads

        found = remote.log_lines({"since": since, "until": until, "events": events,
                                  "id": request_id, "rule": rule, "agent": agent, "tail": tail})
        return iter([(line.encode(), loads(line)) for line in found])
    audit = _audit()
    if tail is not None:  # from the end backwards: the last lines cost the same in any log
        from .logview import select_tail

        return iter(select_tail(audit, flt, tail))
    return select(audit, flt, tail, _lines(audit, progress))


class Summary(Record):
    counts: dict[str, Any]
    chain: dict[str, Any] | None  # the hash chain's status, when asked for


def log_summary(*, since: str | None, until: str | None, with_chain: bool,
                progress: Progress) -> Summary:
    from .logview import Filter, summarize

    flt = Filter.build(since=since, until=until, events=[], request_id=None, rule=None, agent=None)
    remote = _remote_gate()
    if remote is not None:
        got = remote.log_summary({"since": since, "until": until}, with_chain)
        return Summary(got["counts"], got["chain"])
    audit = _audit()
    counts = summarize(audit, flt, _lines(audit, progress)).to_dict()
    return Summary(counts, audit.verify().to_dict() if with_chain else None)


def _remote_gate() -> RemoteGate | None:
    """The service's gate on a protected machine (the log is the service's), else None."""
    from .backend import open_gate, protected

    if not protected():
        return None
    from .remote import RemoteGate

    g = open_gate(None, current_dir())
    return g if isinstance(g, RemoteGate) else None


def log_verify(progress: Progress) -> VerifyResult:
    """The chain's check; in protected mode the service checks its own log."""
    remote = _remote_gate()
    if remote is not None:
        from .audit import VerifyResult

        r = remote.verify_log()
        return VerifyResult(r.get("ok") is True, int(r.get("verifiedLines") or 0),
                            r.get("firstBad"), r.get("problem"),
                            tuple(r.get("interrupted") or ()), tuple(r.get("otherProblems") or ()))
    return _audit().verify(progress)


# --------------------------------------------------------------------------- integrations


class Installed(Record):
    plan: InstallPlan
    backup: Path | None  # the previous file's copy, when one was replaced
    on_path: bool  # can the agent find the executable (checked once installed)


def hook_install(agent: str, *, user: bool, dry_run: bool, executable: str | None,
                 policy: str | None = None, wait: str | None = None) -> Installed:
    """Add agentgate's hook to an agent's settings file (idempotent; backs the file up first):
    the client by absolute path, with the state, config and policy in its command line;
    refused when another settings file already runs it (the agent would run both)."""
    from .errors import ConfigError
    from .integrations.agents import AGENTS
    from .integrations.install import apply_install, on_path, plan_install

    spec = AGENTS.get(agent)
    if spec is None:
        raise UsageError(f"unknown agent {agent!r}; choose one of: {', '.join(AGENTS)}")
    from pathlib import Path

    from .integrations.install import client_command, installed_elsewhere

    scope, project = "user" if user else "project", Path(current_dir())
    elsewhere = installed_elsewhere(spec, scope, project)
    if elsewhere:
        raise ConfigError(f"agentgate's hook for {spec.product} is already installed in "
                          f"{', '.join(elsewhere)}; a second copy would run on every call, and "
                          "the copy after the one that uses an approval would hold the retry",
                          "keep that one, or remove it there first; nothing was changed")
    exe = executable or "agentgate"
    plan = plan_install(spec, scope, project, client_command(agent, executable, policy),
                        _hook_wait(wait))
    if not plan.changed or dry_run:
        return Installed(plan, None, True)
    backup = apply_install(plan)
    return Installed(plan, backup, on_path(exe) if executable else True)


def _hook_wait(wait: str | None) -> int | None:
    """`hook install --wait`'s seconds: whole, and within what the agents allow a hook."""
    if wait is None:
        return None
    import math

    from .integrations.install import MAX_HOOK_WAIT_S
    from .waiting import wait_seconds

    seconds = math.ceil(wait_seconds(wait))
    if seconds > MAX_HOOK_WAIT_S:
        raise UsageError(f"--wait {wait}: a hook may wait at most {MAX_HOOK_WAIT_S}s",
                         "agents stop a hook after 600 s by default; for longer waits use "
                         "`agentgate run --wait` or the MCP server's wait_for_approval")
    return seconds


def hook_status(agent: str) -> Status:
    """`hook status AGENT`: will agentgate's hook run right now, in this directory?"""
    from pathlib import Path

    from .integrations.status import check

    return check(_agent_spec(agent), Path(current_dir()))


class InstalledSystem(Record):
    plan: SystemPlan
    backups: tuple[Path, ...]  # copies of the files replaced
    warning: str | None = None  # under --dry-run: why the real run would be refused


def hook_install_system(agent: str, *, dry_run: bool, root: str | None,
                        uninstall: bool = False) -> InstalledSystem:
    """`hook install AGENT --system`: agentgate's hook in the agent's machine-wide settings,
    run by the root-owned protected-mode client, with the agent's lock settings; as root, with
    that client installed (``--dry-run`` needs neither). ``uninstall``: the hook taken out."""
    import os

    from .grammar import hook_command_line
    from .integrations.install import (
        apply_system,
        check_client,
        plan_system_install,
        plan_system_uninstall,
    )
    from .system import CLIENT_BIN

    spec = _agent_spec(agent)
    from pathlib import Path

    base = Path(root or "/")
    if not base.is_absolute():
        raise UsageError(f"--root must be an absolute path, not {root!r}")
    verb = "uninstall" if uninstall else "install"
    if not dry_run and os.geteuid() != 0:
        raise UsageError(f"`hook {verb} --system` writes machine-wide settings and must run as "
                         "root", f"sudo agentgate hook {verb} {agent} --system"
                         + (f" --root {root}" if root else ""))
    warning = None
    if not uninstall:
        try:
            check_client(base, CLIENT_BIN)
        except AgentgateError as e:
            if not dry_run:
                raise
            warning = f"{e.message} ({e.hint})" if e.hint else e.message
    plan = (plan_system_uninstall(spec, base) if uninstall else
            plan_system_install(spec, base, hook_command_line(CLIENT_BIN, agent)))
    if dry_run or not plan.changed:
        return InstalledSystem(plan, (), warning)
    return InstalledSystem(plan, tuple(apply_system(plan)))


def _agent_spec(agent: str) -> Agent:
    from .integrations.agents import AGENTS

    spec = AGENTS.get(agent)
    if spec is None:
        raise UsageError(f"unknown agent {agent!r}; choose one of: {', '.join(AGENTS)}")
    return spec


def mcp(policy: str | None, agent: str | None) -> None:
    """Serve the gate over MCP on stdio until the client leaves."""
    try:
        from .integrations import mcp as server
    except ImportError as e:
        if (e.name or "").split(".")[0] != "mcp":
            raise
        raise AgentgateError("`agentgate mcp` needs the MCP SDK, which is not installed",
                             "install the mcp extra: pip install '.[mcp]' in a clone of agentgate (README, Install)",
                             exit_code=EXIT_CONFIG) from None
    server.serve(lambda cwd: gate(policy, cwd), agent_name(agent, "") or None)  # else the client's
