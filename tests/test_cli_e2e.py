"""End to end through the installed console script, in real subprocesses, as an agent uses it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag, marker_lines, write_policy

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "policies.example.toml"
ID_RE = re.compile(r"^apr_[a-z0-9]+$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DEPLOY = ("deployer", "site", "--prod")

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file", "fake_bin")


# --------------------------------------------------------------------------- helpers


def block(*argv: str, cwd: Path | None = None) -> str:
    """Run an ask command; assert it is held (75); return the approval id."""
    r = ag("run", "--json", "--", *argv, cwd=cwd)
    assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
    obj = json.loads(r.stdout)
    assert ID_RE.match(obj["approvalId"]), obj
    return str(obj["approvalId"])


def approve(rid: str, *extra: str) -> None:
    r = ag("approve", rid, "--yes", *extra)
    assert r.returncode == 0, r.stderr


def show(rid: str) -> dict:
    r = ag("show", "--json", rid)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def pending_ids() -> list[str]:
    r = ag("pending", "--json")
    assert r.returncode == 0, r.stderr
    return [req["id"] for req in json.loads(r.stdout)]


def log_events(*filters: str) -> list[dict]:
    r = ag("log", "--json", *filters)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _seconds(iso: str) -> float:
    assert TS_RE.match(iso), iso
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def stderr_json(stderr: str) -> dict:
    """The decision object that `run --json` puts on stderr when the command is allowed."""
    objs = [json.loads(ln) for ln in stderr.splitlines() if ln.startswith("{")]
    assert len(objs) == 1, stderr
    return objs[0]


# --------------------------------------------------------------------------- the approve cycle


def test_block_approve_exactly_one_retry_then_blocked_again(marker: Path) -> None:
    rid = block(*DEPLOY)
    assert not marker.exists(), "a held command must not start"

    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr
    assert rid in r.stderr
    assert show(rid)["status"] == "approved"

    retry = ag("run", "--json", "--", *DEPLOY, env={"RC": "3"})
    assert retry.returncode == 3, retry.stderr  # the command's own exit code, through a grant
    assert marker_lines(marker) == ["site --prod"]
    decision = stderr_json(retry.stderr)
    assert decision["allowed"] is True
    assert decision["approvalId"] == rid
    assert decision["reason"] == "Action allowed by approved permission grant."
    assert retry.stdout == ""  # stdout belongs to the command

    again = block(*DEPLOY)
    assert again != rid
    assert marker_lines(marker) == ["site --prod"], "the grant must allow one run only"
    assert show(rid)["status"] == "consumed"
    assert pending_ids() == [again]

    exited = log_events("--event", "exited", "--id", rid)
    assert [e["exit_code"] for e in exited] == [3]


def test_repeat_while_pending_returns_same_id_without_a_second_request(state_dir: Path) -> None:
    rid = block(*DEPLOY)
    assert block(*DEPLOY) == rid
    assert block(*DEPLOY) == rid
    assert pending_ids() == [rid]
    ledger = json.loads((state_dir / "ledger.json").read_text())
    assert list(ledger["requests"]) == [rid]
    assert len(log_events("--event", "approval_requested")) == 1
    assert len(log_events("--event", "approval_pending", "--id", rid)) == 2


def test_human_deny_blocks_repeats_with_the_reason(marker: Path) -> None:
    rid = block(*DEPLOY)
    r = ag("deny", "--yes", rid, "--reason", "not on a Friday")
    assert r.returncode == 0, r.stderr

    for _ in range(2):
        rep = ag("run", "--json", "--", *DEPLOY)
        assert rep.returncode == 77
        assert "not on a Friday" in rep.stderr
        obj = json.loads(rep.stdout)
        assert obj["allowed"] is False and obj["approvalRequired"] is False
        assert "not on a Friday" in obj["reason"]
        assert obj["deniedBy"] == "human"
    assert not marker.exists()
    assert pending_ids() == []
    assert show(rid)["humanReason"] == "not on a Friday"
    assert len(log_events("--event", "human_denied", "--id", rid)) == 1


def test_approve_and_deny_refuse_unknown_and_decided_ids() -> None:
    for args in (("approve", "apr_nosuchthing", "--yes"), ("deny", "--yes", "apr_nosuchthing")):
        r = ag(*args)
        assert r.returncode != 0
        assert "no request with id 'apr_nosuchthing'" in r.stderr

    approved = block(*DEPLOY)
    approve(approved)
    denied = block("deployer", "other", "--prod")
    assert ag("deny", "--yes", denied).returncode == 0

    cases = [
        (("approve", approved, "--yes"), "already approved"),
        (("deny", "--yes", approved), "already approved"),
        (("approve", denied, "--yes"), "already denied"),
        (("deny", "--yes", denied), "already denied"),
    ]
    for args, text in cases:
        r = ag(*args)
        assert r.returncode != 0, args
        assert text in r.stderr, (args, r.stderr)
    assert show(approved)["status"] == "approved"
    assert show(denied)["status"] == "denied"

    assert ag("run", "--", *DEPLOY).returncode == 0  # consume the grant
    r = ag("approve", approved, "--yes")
    assert r.returncode != 0
    assert "grant has been used" in r.stderr


def test_approve_without_terminal_and_without_yes_refuses() -> None:
    rid = block(*DEPLOY)
    r = ag("approve", rid)  # stdin is /dev/null
    assert r.returncode != 0
    assert "--yes" in r.stderr
    assert show(rid)["status"] == "pending"


def _approve_on_tty(rid: str, answer: str) -> subprocess.CompletedProcess[str]:
    master, slave = os.openpty()
    try:
        p = subprocess.Popen([AGENTGATE, "approve", rid], stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        os.close(slave)
        os.write(master, answer.encode())
        out, err = p.communicate(timeout=30)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_approve_on_a_terminal_asks_and_defaults_to_no() -> None:
    rid = block(*DEPLOY)
    for answer in ("n\n", "\n"):
        r = _approve_on_tty(rid, answer)
        assert r.returncode != 0, r.stderr
        assert "deployer site --prod" in r.stderr  # the request is shown before the question
        assert show(rid)["status"] == "pending"
    r = _approve_on_tty(rid, "y\n")
    assert r.returncode == 0, r.stderr
    assert show(rid)["status"] == "approved"


@pytest.mark.parametrize("inner", [
    ["agentgate", "approve", "{rid}", "--yes"],
    ["agentgate", "deny", "{rid}"],
    ["agentgate", "--policy", "{policy}", "approve", "{rid}", "--yes"],
    ["{python}", "-m", "agentgate", "approve", "{rid}", "--yes"],
    ["{agentgate}", "approve", "{rid}", "--yes"],
    ["sh", "-c", "agentgate approve {rid} --yes"],
    ["agentgate", "run", "--", "agentgate", "approve", "{rid}", "--yes"],
    ["{python}", "-c", "import sys; from agentgate.entry import main; "
                       "sys.argv = ['agentgate', 'approve', '{rid}', '--yes']; main()"],
    ["env", "-u", "AGENTGATE_GATED", "agentgate", "approve", "{rid}", "--yes"],
], ids=["approve", "deny", "approve-with-policy", "python-m", "full-path", "sh-c", "nested-run",
        "python-c", "env-unset"])
def test_approve_or_deny_through_the_gate_is_denied(inner: list[str], policy_file: Path) -> None:
    rid = block(*DEPLOY)
    argv = [w.format(rid=rid, policy=policy_file, python=sys.executable, agentgate=AGENTGATE)
            for w in inner]
    r = ag("run", "--", *argv)
    assert r.returncode == 77, (r.returncode, r.stderr)
    assert show(rid)["status"] == "pending", "an agent approved its own request"


def test_policy_trust_through_the_gate_is_denied(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    local = repo / ".agentgate.toml"
    local.write_text('version = 1\n[settings]\ndefault = "allow"\n')
    r = ag("run", "--", "agentgate", "policy", "trust", str(local), cwd=repo)
    assert r.returncode == 77, r.stderr
    assert not (Path(os.environ["AGENTGATE_HOME"]) / "trusted.json").exists()


# --------------------------------------------------------------------------- expiry


def test_expiry_of_pending_requests_grants_and_denials(
        tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = write_policy(tmp_path / "short.toml", request_ttl="2s", approval_ttl="2s")
    monkeypatch.setenv("AGENTGATE_POLICY", str(policy))
    grant = block("deployer", "grant", "--prod")
    approve(grant)
    short = block("deployer", "short", "--prod")
    approve(short, "--ttl", "1s")
    denied = block("deployer", "denied", "--prod")
    assert ag("deny", "--yes", denied, "--reason", "later").returncode == 0
    g, s = show(grant), show(short)
    assert _seconds(g["expiresAt"]) - _seconds(g["decidedAt"]) == pytest.approx(2)
    assert _seconds(s["expiresAt"]) - _seconds(s["decidedAt"]) == pytest.approx(1)
    waiting = block("deployer", "waiting", "--prod")
    created = time.monotonic()
    assert pending_ids() == [waiting]

    time.sleep(max(0.0, created + 2.5 - time.monotonic()))
    r = ag("approve", waiting, "--yes")
    assert r.returncode != 0
    assert "expired" in r.stderr
    assert pending_ids() == []

    for rid, argv in ((grant, ("deployer", "grant", "--prod")),
                      (short, ("deployer", "short", "--prod")),
                      (waiting, ("deployer", "waiting", "--prod"))):
        new = block(*argv)
        assert new != rid
        assert show(rid)["status"] == "expired"
    # the human denial has run out too: the command asks again instead of 77
    assert block("deployer", "denied", "--prod") != denied
    assert not marker.exists(), "an expired grant must not run the command"

    for rid in (grant, short, waiting):
        assert len(log_events("--event", "expired", "--id", rid)) == 1, rid


# --------------------------------------------------------------------------- JSON responses


@pytest.mark.parametrize("how", ["flag", "env"])
def test_blocked_json_shape(how: str) -> None:
    if how == "flag":
        r = ag("run", "--json", "--", *DEPLOY)
    else:
        r = ag("run", "--", *DEPLOY, env={"AGENTGATE_JSON": "1"})
    assert r.returncode == 75
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["allowed"] is False
    assert obj["approvalRequired"] is True
    rid = obj["approvalId"]
    assert ID_RE.match(rid)
    assert obj["reason"] == "Permission requires approval before execution."
    assert obj["rule"] == "deploy-prod"
    assert obj["command"] == list(DEPLOY)
    assert f"agentgate approve {rid}" in obj["next"]
    # the human line on stderr tells an agent to stop and what to ask for
    assert f"agentgate approve {rid}" in r.stderr
    assert "STOP" in r.stderr


def test_rule_deny_json_and_allowed_json(marker: Path) -> None:
    r = ag("run", "--json", "--", "nuke", "everything")
    assert r.returncode == 77
    obj = json.loads(r.stdout)
    assert obj["allowed"] is False and obj["approvalRequired"] is False
    assert obj["approvalId"] is None
    assert obj["rule"] == "nuke"
    assert "nuke" in r.stderr
    assert not marker.exists()

    ok = ag("run", "--json", "--", "echo", "hi")
    assert ok.returncode == 0
    assert ok.stdout == "hi\n"
    assert stderr_json(ok.stderr)["allowed"] is True


# --------------------------------------------------------------------------- fingerprint


def test_grant_does_not_cover_other_cwd_or_args(tmp_path: Path, marker: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    rid = block(*DEPLOY, cwd=here)
    approve(rid)

    assert block(*DEPLOY, cwd=there) != rid
    assert block("deployer", "other", "--prod", cwd=here) != rid
    assert block("deployer", "site", "--prod", "--force", cwd=here) != rid
    full = str(Path(os.environ["PATH"].split(os.pathsep)[0]) / "deployer")
    assert block(full, "site", "--prod", cwd=here) != rid
    assert not marker.exists()
    assert show(rid)["status"] == "approved", "a different command must not consume the grant"

    r = ag("run", "--", *DEPLOY, cwd=here)
    assert r.returncode == 0, r.stderr
    assert marker_lines(marker) == ["site --prod"]


def test_grant_does_not_cover_another_agent(marker: Path) -> None:
    asked = ag("run", "--json", "--agent", "claude-code", "--", *DEPLOY)
    assert asked.returncode == 75, asked.stderr
    rid = json.loads(asked.stdout)["approvalId"]
    done = ag("approve", rid, "--yes")
    assert done.returncode == 0 and "agent    claude-code (pid" in done.stderr, done.stderr
    assert f"approved {rid}: the same command may now run once, within " in done.stderr
    assert ", by claude-code." in done.stderr, done.stderr  # the human is told whose retry
    for other in ({"AGENTGATE_AGENT": "codex"}, {}):  # a nameless run is "unknown"
        r = ag("run", "--json", "--", *DEPLOY, env=other)
        assert r.returncode == 75 and json.loads(r.stdout)["approvalId"] != rid, r.stderr
    assert not marker.exists() and show(rid)["status"] == "approved"
    r = ag("run", "--", *DEPLOY, env={"AGENTGATE_AGENT": "claude-code"})
    assert r.returncode == 0 and f"allowed once by approved grant {rid}" in r.stderr, r.stderr
    assert marker_lines(marker) == ["site --prod"] and show(rid)["status"] == "consumed"


# --------------------------------------------------------------------------- exit codes


def test_exit_codes(tmp_path: Path, marker: Path) -> None:
    assert ag("run", "--", "deployer", "site", env={"RC": "5"}).returncode == 5
    assert marker_lines(marker) == ["site"]
    assert ag("run", "--", "sh", "-c", "exit 0").returncode == 0

    missing = ag("run", "--", "no-such-program-agentgate-test")
    assert missing.returncode == 127
    assert "not found" in missing.stderr

    noexec = tmp_path / "noexec"
    noexec.write_text("#!/bin/sh\nexit 0\n")
    noexec.chmod(0o644)
    assert ag("run", "--", str(noexec)).returncode == 126

    assert ag("run", "--", "sh", "-c", "kill -TERM $$").returncode == 128 + 15
    assert ag("run", "--", "sh", "-c", "kill -KILL $$").returncode == 128 + 9
    assert ag("run", "--", "nuke").returncode == 77
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert marker_lines(marker) == ["site"], "blocked commands must not run"


def test_usage_errors_exit_2() -> None:
    assert ag("run").returncode == 2
    assert ag("no-such-subcommand").returncode == 2
    assert ag("approve").returncode == 2
    assert ag("log", "--tail", "-1").returncode == 2
    r = ag("approve", "apr_x", "--yes", "--ttl", "soon")
    assert r.returncode == 2
    assert "--ttl" in r.stderr


def test_agent_name_is_recorded() -> None:
    rid = block(*DEPLOY)
    assert show(rid)["agent"] == "unknown"
    r = ag("run", "--agent", "claude", "--", "deployer", "x", "--prod")
    assert r.returncode == 75
    r = ag("run", "--json", "--", "deployer", "y", "--prod", env={"AGENTGATE_AGENT": "codex"})
    rid_y = json.loads(r.stdout)["approvalId"]
    assert show(rid_y)["agent"] == "codex"
    assert {e["agent"] for e in log_events("--event", "approval_requested")} == {"unknown", "claude", "codex"}


# --------------------------------------------------------------------------- check


def test_check_exit_codes_json_and_no_state(state_dir: Path, policy_file: Path, marker: Path) -> None:
    assert ag("check", "--", "echo", "hi").returncode == 0
    assert ag("check", "--", "nuke").returncode == 77
    human = ag("check", "--", *DEPLOY)
    assert human.returncode == 75
    assert "deploy-prod" in human.stdout
    assert str(policy_file) in human.stdout  # says which policy decided

    r = ag("check", "--json", "--", *DEPLOY)
    assert r.returncode == 75
    obj = json.loads(r.stdout)
    assert obj["decision"] == "ask"
    assert obj["rule"] == "deploy-prod"
    assert obj["approvalRequired"] is True and obj["allowed"] is False
    assert obj["parts"][0]["argv"] == list(DEPLOY)
    assert obj["parts"][0]["rules"] == ["deploy-prod"]
    assert obj["policies"][0]["path"] == str(policy_file)

    deny = json.loads(ag("check", "--json", "--", "nuke").stdout)
    assert deny["decision"] == "deny" and deny["rule"] == "nuke"
    allow = json.loads(ag("check", "--json", "--", "deployer", "site").stdout)
    assert allow["decision"] == "allow" and allow["rule"] is None

    assert not marker.exists(), "check must run nothing"
    assert not (state_dir / "ledger.json").exists()
    assert not (state_dir / "audit.jsonl").exists()


# --------------------------------------------------------------------------- policy files


def test_policy_validate_example_policy() -> None:
    r = ag("policy", "validate", str(EXAMPLE_POLICY))
    assert r.returncode == 0, r.stderr


def test_policy_validate_test_policy(policy_file: Path) -> None:
    r = ag("policy", "validate", str(policy_file))
    assert r.returncode == 0, r.stderr
    assert "2 rules" in r.stderr
    r = ag("policy", "validate", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["valid"] is True


RULE = '''
[[rule]]
id = "{id}"
decision = "{decision}"
commands = ["deployer ** --prod"]
{extra}
'''

BROKEN = {
    "duplicate-id": ("", RULE.format(id="twice", decision="ask", extra="")
                     + RULE.format(id="twice", decision="deny", extra=""), ["twice", "duplicate"]),
    "bad-decision": ("", RULE.format(id="r1", decision="maybe", extra=""), ["r1", "decision", "maybe"]),
    "missing-decision": ("", '[[rule]]\nid = "r0"\ncommands = ["x"]\n', ["r0", "decision"]),
    "bad-duration": ('approval_ttl = "soon"', "", ["approval_ttl", "soon"]),
    "unknown-rule-key": ("", RULE.format(id="r2", decision="ask", extra='comands = ["x"]'),
                         ["r2", "unknown key", "comands"]),
    "unknown-settings-key": ('defualt = "allow"', "", ["unknown key", "defualt"]),
    "match-contradicts": ("", RULE.format(id="r3", decision="ask", extra='match = ["deployer --preview"]'),
                          ["r3", "match", "deployer --preview"]),
    "not-match-contradicts": ("", RULE.format(id="r4", decision="ask", extra='not_match = ["deployer --prod"]'),
                              ["r4", "not_match", "deployer --prod"]),
    "unparseable-allow": ('unparseable = "allow"', "", ["unparseable", "allow"]),
    "toml-syntax": ("", "[[rule]\nid = ", ["TOML"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_policy_validate_broken_policy(case: str, tmp_path: Path, marker: Path) -> None:
    settings, rules, expected = BROKEN[case]
    bad = tmp_path / "bad.toml"
    bad.write_text(f'version = 1\n[settings]\ndefault = "allow"\n{settings}\n{rules}')
    r = ag("policy", "validate", str(bad))
    assert r.returncode == 78, r.stderr
    assert str(bad) in r.stderr
    for text in expected:
        assert text in r.stderr, (text, r.stderr)

    # the same file in force: nothing runs, not even an otherwise harmless command
    run = ag("run", "--", "deployer", "site", env={"AGENTGATE_POLICY": str(bad)})
    assert run.returncode == 78
    assert str(bad) in run.stderr
    assert not marker.exists()


def test_missing_policy_file_fails_closed(tmp_path: Path, marker: Path) -> None:
    gone = tmp_path / "gone.toml"
    r = ag("run", "--", "deployer", "site", env={"AGENTGATE_POLICY": str(gone)})
    assert r.returncode == 78
    assert str(gone) in r.stderr
    r = ag("--policy", str(gone), "run", "--", "deployer", "site")
    assert r.returncode == 78
    assert not marker.exists()


# --------------------------------------------------------------------------- broken state


@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'{"version": 99, "requests": {}}',
                                     b'{"version": 1, "requests": {"apr_x": {"id": 1}}}'],
                         ids=["not-json", "empty", "list", "future-version", "bad-record"])
def test_corrupt_ledger_fails_closed_and_is_left_untouched(
        content: bytes, state_dir: Path, marker: Path) -> None:
    state_dir.mkdir()
    ledger = state_dir / "ledger.json"
    ledger.write_bytes(content)
    r = ag("run", "--", *DEPLOY)
    assert r.returncode == 78
    assert str(ledger) in r.stderr
    r = ag("run", "--json", "--", *DEPLOY)
    assert r.returncode == 78
    err = json.loads(r.stdout)
    assert err["allowed"] is False and err["exitCode"] == 78
    assert ag("pending").returncode == 78
    assert ag("approve", "apr_x", "--yes").returncode == 78
    assert ag("deny", "--yes", "apr_x").returncode == 78
    assert ledger.read_bytes() == content
    assert list(state_dir.glob(".ledger-*")) == []
    assert not marker.exists()


def test_unwritable_state_dir_fails_closed(tmp_path: Path, marker: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("a regular file, so nothing can be created below it, not even by root\n")
    home = afile / "state"
    for argv in (("deployer", "site"), DEPLOY):
        r = ag("run", "--", *argv, env={"AGENTGATE_HOME": str(home)})
        assert r.returncode == 78, r.stderr
        assert str(home) in r.stderr
    assert not marker.exists()


def test_unwritable_audit_log_fails_closed_and_leaves_ledger(state_dir: Path, marker: Path) -> None:
    (state_dir / "audit.jsonl").mkdir(parents=True)  # appending to it fails, even for root
    for argv in (("deployer", "site"), DEPLOY):
        r = ag("run", "--", *argv)
        assert r.returncode == 78, r.stderr
        assert "audit" in r.stderr
    assert not marker.exists()
    ledger = state_dir / "ledger.json"
    assert not ledger.exists() or json.loads(ledger.read_text())["requests"] == {}


# --------------------------------------------------------------------------- the audit log


def _some_history(marker: Path) -> str:
    assert ag("run", "--", "echo", "hi").returncode == 0
    rid = block(*DEPLOY)
    block(*DEPLOY)
    assert ag("run", "--", "nuke").returncode == 77
    approve(rid)
    assert ag("run", "--", *DEPLOY).returncode == 0
    return rid


def test_log_json_lines_and_filters(policy_file: Path, marker: Path) -> None:
    rid = _some_history(marker)
    events = log_events()
    names = [e["event"] for e in events]
    assert names == ["allowed", "exited", "approval_requested", "approval_pending", "denied",
                     "approved", "grant_consumed", "exited"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["prev"] == "0" * 64
    policy_sha = hashlib.sha256(policy_file.read_bytes()).hexdigest()
    for e in events:
        assert TS_RE.match(e["ts"]), e["ts"]
        assert re.fullmatch(r"[0-9a-f]{64}", e["prev"])
        for key in ("argv", "cwd", "user", "host", "pid"):
            assert key in e, (key, e)
        assert e["policy"] == policy_sha
    assert events[1]["exit_code"] == 0 and "duration_ms" in events[1]

    assert [e["event"] for e in log_events("--event", "denied")] == ["denied"]
    assert [e["event"] for e in log_events("--event", "approved", "--event", "denied")] == ["denied", "approved"]
    assert [e["event"] for e in log_events("--id", rid)] == [
        "approval_requested", "approval_pending", "approved", "grant_consumed", "exited"]
    assert log_events("--tail", "2") == events[-2:]
    assert log_events("--since", "1h") == events
    assert log_events("--since", "2999-01-01T00:00:00Z") == []

    human = ag("log")
    assert human.returncode == 0
    assert len(human.stdout.splitlines()) == len(events)
    assert "grant_consumed" in human.stdout and rid in human.stdout


def _audit_lines(state_dir: Path) -> list[bytes]:
    return (state_dir / "audit.jsonl").read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("damage", ["edit", "delete", "swap"])
def test_log_verify_detects_damage(damage: str, state_dir: Path, marker: Path) -> None:
    _some_history(marker)
    ok = ag("log", "verify")
    assert ok.returncode == 0, ok.stderr
    lines = _audit_lines(state_dir)
    assert len(lines) == 8
    k = 4  # 1-based line number of the damaged line
    if damage == "edit":
        edited = lines[k - 1].replace(b'"agent":"unknown"', b'"agent":"mallory"')
        assert edited != lines[k - 1]
        lines[k - 1] = edited
        bad = {k, k + 1}  # the edit shows where the chain no longer links
    elif damage == "delete":
        del lines[k - 1]
        bad = {k}
    else:
        lines[k - 1], lines[k] = lines[k], lines[k - 1]
        bad = {k}
    (state_dir / "audit.jsonl").write_bytes(b"".join(lines))
    r = ag("log", "verify")
    assert r.returncode == 1
    named = re.search(r"audit\.jsonl:(\d+)", r.stderr)
    assert named, r.stderr
    assert int(named.group(1)) in bad, r.stderr
    j = ag("log", "verify", "--json")
    assert j.returncode == 1
    assert json.loads(j.stdout)["ok"] is False


# --------------------------------------------------------------------------- other commands


def test_init_writes_user_policy_once(tmp_path: Path) -> None:
    target = Path(os.environ["XDG_CONFIG_HOME"]) / "agentgate" / "policy.toml"
    r = ag("init")
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == EXAMPLE_POLICY.read_bytes()
    assert str(target) in r.stderr

    target.write_text("# my own edits\n")
    again = ag("init")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert target.read_text() == "# my own edits\n"

    printed = ag("init", "--print")
    assert printed.returncode == 0
    assert printed.stdout.encode() == EXAMPLE_POLICY.read_bytes()

    where = json.loads(ag("where", "--json", env={"AGENTGATE_POLICY": None}).stdout)
    assert where["policy"] == str(target) and where["policyKind"] == "user"


def test_pending_newest_first_and_show_history() -> None:
    first = block("deployer", "one", "--prod")
    second = block("deployer", "two", "--prod")
    third = block("deployer", "three", "--prod")
    assert pending_ids() == [third, second, first]
    human = ag("pending")
    assert human.returncode == 0
    order = [human.stdout.index(rid) for rid in (third, second, first)]
    assert order == sorted(order)

    approve(second)
    assert pending_ids() == [third, first]
    assert ag("run", "--", "deployer", "two", "--prod").returncode == 0
    req = show(second)
    assert req["argv"] == ["deployer", "two", "--prod"]
    assert req["rule"] == "deploy-prod"
    assert [h["event"] for h in req["history"]] == ["approval_requested", "approved", "grant_consumed"]
    text = ag("show", second)
    assert text.returncode == 0
    assert "grant_consumed" in text.stdout and "deployer two --prod" in text.stdout
    assert ag("show", "apr_nosuchthing").returncode != 0


def test_where(state_dir: Path, policy_file: Path) -> None:
    r = ag("where", "--json")
    assert r.returncode == 0
    info = json.loads(r.stdout)
    assert info["stateDir"] == str(state_dir)
    assert info["ledger"] == str(state_dir / "ledger.json")
    assert info["audit"] == str(state_dir / "audit.jsonl")
    assert info["policy"] == str(policy_file) and info["policyKind"] == "env"
    assert info["userPolicy"].startswith(os.environ["XDG_CONFIG_HOME"])
    human = ag("where")
    assert str(state_dir) in human.stdout


# --------------------------------------------------------------------------- signals


CHILD = """\
import pathlib, signal, sys, time
out, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def on_signal(signum, frame):
    out.write_text(signal.Signals(signum).name)
    sys.exit(42)
if sys.argv[3] == "trap":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
ready.write_text("ready")
time.sleep(30)
sys.exit(1)
"""


def _start_child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out, ready = tmp_path / "got-signal", tmp_path / "ready"
    p = subprocess.Popen([AGENTGATE, "run", "--", sys.executable, str(script), str(out), str(ready), mode],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 15
    while not ready.exists():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "child never became ready"
        time.sleep(0.02)
    return p, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_is_forwarded_to_the_child(sig: signal.Signals, tmp_path: Path) -> None:
    p, out = _start_child(tmp_path, "trap")
    os.kill(p.pid, sig)
    _, err = p.communicate(timeout=15)
    assert p.returncode == 42, err
    assert out.read_text() == sig.name
    exited = log_events("--event", "exited")
    assert [e["exit_code"] for e in exited] == [42]


def test_sigterm_kills_an_untrapping_child_and_exit_is_143(tmp_path: Path) -> None:
    p, out = _start_child(tmp_path, "default")
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=15)
    assert p.returncode == 128 + 15, err
    assert not out.exists()
