"""The decision flow itself (gate.Gate), without a subprocess: policy -> ledger -> audit -> Outcome.

Each test builds a Gate over a policy given as text and state in tmp_path, with a clock it moves
by hand, and checks both the Outcome and what was recorded (ledger state and audit events).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgate import policy as pol
from agentgate import shell
from agentgate.errors import EXIT_APPROVAL_REQUIRED, EXIT_DENIED, EXIT_OK, AgentgateError
from agentgate.gate import REASON_GRANT, Gate, Subject
from agentgate.paths import StatePaths

POLICY = """\
version = 1
[settings]
default = "allow"
approval_ttl = "10m"
request_ttl = "1h"

[[rule]]
id = "prod"
decision = "ask"
reason = "Production deploys need a human."
commands = ["deployer ** --prod"]

[[rule]]
id = "nuke"
decision = "deny"
reason = "Never."
commands = ["nuke"]
"""


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(tmp_path: Path, clock: Clock) -> Gate:
    return make_gate(tmp_path, clock)


def make_gate(tmp_path: Path, clock: Clock, text: str = POLICY) -> Gate:
    paths = StatePaths(tmp_path / "state")
    return Gate(pol.parse_policy(text), paths, clock=clock, lock_timeout=2.0)


def argv(*words: str, cwd: str = "/srv/app") -> Subject:
    return Subject("argv", tuple(words), cwd)


def events(gate: Gate) -> list[dict[str, object]]:
    path = Path(gate.paths.audit)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def names(gate: Gate) -> list[str]:
    return [str(e["event"]) for e in events(gate)]


def test_allowed_command_runs_and_is_logged_without_a_request(gate: Gate) -> None:
    out = gate.authorize(argv("ls", "-la"), "tester")
    assert out.allowed and out.decision == pol.ALLOW and out.exit_code == EXIT_OK
    assert out.approval_id is None
    assert names(gate) == ["allowed"]
    assert gate.pending() == []


def test_rule_denial_never_opens_a_request(gate: Gate) -> None:
    out = gate.authorize(argv("nuke", "everything"), "tester")
    assert not out.allowed and not out.approval_required
    assert out.rule == "nuke" and out.exit_code == EXIT_DENIED
    assert names(gate) == ["denied"]
    assert gate.pending() == []


def test_ask_opens_one_request_and_repeats_return_the_same_id(gate: Gate) -> None:
    first = gate.authorize(argv("deployer", "--prod"), "tester")
    assert first.approval_required and not first.allowed
    assert first.exit_code == EXIT_APPROVAL_REQUIRED
    assert first.approval_id and first.approval_id.startswith("apr_")
    again = gate.authorize(argv("deployer", "--prod"), "tester")
    assert again.approval_id == first.approval_id
    assert [r.id for r in gate.pending()] == [first.approval_id]
    assert names(gate) == ["approval_requested", "approval_pending"]


def test_approved_grant_lets_exactly_one_retry_through(gate: Gate) -> None:
    rid = gate.authorize(argv("deployer", "--prod"), "tester").approval_id
    assert rid is not None
    gate.approve(rid, by="human")
    used = gate.authorize(argv("deployer", "--prod"), "tester")
    assert used.allowed and used.via_grant and used.approval_id == rid
    assert used.reason == REASON_GRANT
    after = gate.authorize(argv("deployer", "--prod"), "tester")
    assert after.approval_required and after.approval_id not in (None, rid)
    assert names(gate) == ["approval_requested", "approved", "grant_consumed",
                           "approval_requested"]


def test_grant_is_bound_to_argv_and_directory(gate: Gate) -> None:
    rid = gate.authorize(argv("deployer", "--prod", cwd="/srv/a"), "tester").approval_id
    assert rid is not None
    gate.approve(rid, by="human")
    other_dir = gate.authorize(argv("deployer", "--prod", cwd="/srv/b"), "tester")
    assert not other_dir.allowed and other_dir.approval_id != rid
    other_args = gate.authorize(argv("deployer", "x", "--prod", cwd="/srv/a"), "tester")
    assert not other_args.allowed and other_args.approval_id != rid
    same = gate.authorize(argv("deployer", "--prod", cwd="/srv/a"), "tester")
    assert same.allowed and same.approval_id == rid


def test_grant_expires_after_its_ttl(gate: Gate, clock: Clock) -> None:
    rid = gate.authorize(argv("deployer", "--prod"), "tester").approval_id
    assert rid is not None
    gate.approve(rid, ttl=60, by="human")
    clock.t += 61
    out = gate.authorize(argv("deployer", "--prod"), "tester")
    assert not out.allowed and out.approval_required and out.approval_id != rid
    assert "expired" in names(gate)


def test_pending_request_expires_after_request_ttl(gate: Gate, clock: Clock) -> None:
    rid = gate.authorize(argv("deployer", "--prod"), "tester").approval_id
    assert rid is not None
    clock.t += 3601
    assert gate.pending() == []
    with pytest.raises(AgentgateError) as e:
        gate.approve(rid, by="human")
    assert e.value.exit_code == 2


def test_human_denial_holds_for_request_ttl(gate: Gate, clock: Clock) -> None:
    rid = gate.authorize(argv("deployer", "--prod"), "tester").approval_id
    assert rid is not None
    gate.deny(rid, "not today", by="human")
    held = gate.authorize(argv("deployer", "--prod"), "tester")
    assert not held.allowed and not held.approval_required and held.by_human
    assert held.reason == "not today" and held.exit_code == EXIT_DENIED
    assert held.to_dict()["deniedBy"] == "human"
    clock.t += 3601
    later = gate.authorize(argv("deployer", "--prod"), "tester")
    assert later.approval_required and later.approval_id != rid


def test_deciding_twice_is_a_usage_error_and_changes_nothing(gate: Gate) -> None:
    rid = gate.authorize(argv("deployer", "--prod"), "tester").approval_id
    assert rid is not None
    gate.approve(rid, by="human")
    for decide in (lambda: gate.approve(rid, by="human"), lambda: gate.deny(rid, None, by="human")):
        with pytest.raises(AgentgateError) as e:
            decide()
        assert e.value.exit_code == 2
    assert gate.get(rid).request.status == "approved"
    with pytest.raises(AgentgateError) as e:
        gate.approve("apr_doesnotexist", by="human")
    assert e.value.exit_code == 2


def test_strictest_part_of_a_compound_command_wins(gate: Gate) -> None:
    ask = gate.authorize(Subject("script", ("ls && deployer --prod",), "/srv/app"), "tester")
    assert ask.approval_required and ask.rule == "prod"
    deny = gate.authorize(Subject("script", ("deployer --prod; nuke",), "/srv/app"), "tester")
    assert not deny.allowed and not deny.approval_required and deny.rule == "nuke"


def test_self_approval_is_denied_whatever_the_policy(tmp_path: Path, clock: Clock) -> None:
    permissive = 'version = 1\n[settings]\ndefault = "allow"\n'
    gate = make_gate(tmp_path, clock, permissive)
    for words in (("agentgate", "approve", "apr_abcdef12"),
                  ("python3", "-m", "agentgate", "deny", "apr_abcdef12"),
                  ("bash", "-c", "agentgate approve apr_abcdef12 --yes")):
        out = gate.authorize(argv(*words), "tester")
        assert not out.allowed and out.rule == "agentgate-self-approval", words


def test_changing_the_gates_own_state_needs_a_human(gate: Gate) -> None:
    state = str(gate.paths.root)
    out = gate.authorize(argv("rm", "-rf", state), "tester")
    assert out.approval_required and out.rule == "agentgate-protected-files"


def test_actions_are_decided_like_commands(tmp_path: Path, clock: Clock) -> None:
    text = POLICY + """
[[rule]]
id = "prod-actions"
decision = "ask"
reason = "Production actions need a human."
actions = ["deploy_*"]
resources = ["*.prod.example.com"]
"""
    gate = make_gate(tmp_path, clock, text)
    assert gate.authorize(Subject("action", ("deploy_site", "a.staging.example.com"), "/"), "t").allowed
    held = gate.authorize(Subject("action", ("deploy_site", "a.prod.example.com"), "/"), "t")
    assert held.approval_required and held.rule == "prod-actions"


def test_every_audit_event_is_chained_and_attributed(gate: Gate) -> None:
    gate.authorize(argv("ls"), "agent-a")
    rid = gate.authorize(argv("deployer", "--prod"), "agent-b").approval_id
    assert rid is not None
    gate.approve(rid, by="human")
    evs = events(gate)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert evs[0]["agent"] == "agent-a" and evs[1]["agent"] == "agent-b"
    assert all(e["policy"] == gate.policy.sha256 for e in evs)
    assert evs[2]["event"] == "approved" and evs[2]["id"] == rid and evs[2]["by"] == "human"
    assert gate.audit.verify().ok


def test_a_command_is_analysed_once_for_the_policy_and_the_guards(
        gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object, object]] = []
    for name in ("analyze_script", "analyze_argv"):
        real = getattr(shell, name)

        def counted(command: object, cwd: object = None, *rest: object, _real: object = real,
                    _name: str = name) -> shell.Analysis:
            calls.append((_name, command, cwd))
            return _real(command, cwd, *rest)  # type: ignore[operator, no-any-return]

        monkeypatch.setattr(shell, name, counted)
    held = gate.authorize(Subject("script", ("cd /srv && deployer --prod",), "/srv/app"), "tester")
    assert held.approval_required and held.rule == "prod"
    assert gate.authorize(argv("ls", "-la"), "tester").allowed
    assert calls == [("analyze_script", "cd /srv && deployer --prod", "/srv/app"),
                     ("analyze_argv", ("ls", "-la"), "/srv/app")]


def test_the_guards_see_each_command_in_its_own_directory(gate: Gate) -> None:
    state = Path(gate.paths.root)
    state.mkdir(parents=True, exist_ok=True)
    for text in (f"cd {state.parent} && rm -rf {state.name}", f"pushd {state.parent}; mv {state.name} x"):
        out = gate.authorize(Subject("script", (text,), "/srv/app"), "tester")
        assert out.approval_required and out.rule == "agentgate-protected-files", text
    assert gate.authorize(Subject("script", (f"cd {state.parent} && ls -d other",), "/"), "t").allowed
