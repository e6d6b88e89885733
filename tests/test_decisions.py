"""Deciding precisely and undoing (issue 12): grants for N runs or a period, revoke, deny's
confirmation, the human's commands without the policy, and the agent's message. Ledger units
with an injectable clock, then the installed console script in subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag, marker_lines

from agentgate import ledger as L
from agentgate.errors import Conflict, UsageError
from agentgate.paths import StatePaths

DEPLOY = ("deployer", "site", "--prod")


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _ledger(tmp_path: Path, clock: Clock) -> L.Ledger:
    return L.Ledger(StatePaths(tmp_path / "state"), clock=clock, lock_timeout=2,
                    boot_clock=lambda: (None, 0.0))


def _new(state: L.LedgerState, fp: str = "fp1") -> L.Request:
    req = L.make_request(fp=fp, kind="argv", argv=["vercel", "--prod"], cwd="/w", rule="r",
                         reason="why", agent="tester", now=state.now, request_ttl=3600,
                         approval_ttl=600)
    state.add(req)
    return req


# --------------------------------------------------------------------------- ledger


def test_a_grant_for_n_uses_is_used_n_times_then_consumed(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, Clock())
    with ledger.locked() as st:
        rid = _new(st).id
        st.approve(rid, 600, "alice", uses=3)
    for n in (1, 2, 3):
        with ledger.locked() as st:
            req = st.open_for("fp1", "tester")
            assert req is not None and req.status == L.APPROVED
            st.consume(req)
            assert (req.used, req.uses_left) == (n, 3 - n)
    st = ledger.read_only()
    req = st.get(rid)
    assert req.status == L.CONSUMED and st.open_for("fp1", "tester") is None
    assert [h["event"] for h in req.history] == ["approval_requested", "approved", "grant_consumed"]


def test_a_grant_for_a_period_allows_any_number_of_runs_until_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    ledger = _ledger(tmp_path, clock)
    with ledger.locked() as st:
        rid = _new(st).id
        st.approve(rid, 3600, "alice", uses=None)
    for _ in range(50):
        with ledger.locked() as st:
            req = st.open_for("fp1", "tester")
            assert req is not None
            st.consume(req)
    assert ledger.read_only().get(rid).status == L.APPROVED
    assert ledger.read_only().get(rid).used == 50
    assert len(ledger.read_only().get(rid).history) == 2  # uses are counted, not each noted
    clock.t += 3600
    with ledger.locked() as st:
        assert [r.id for r in st.expire()] == [rid]
        assert st.open_for("fp1", "tester") is None


def test_uses_out_of_range_are_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, Clock())
    with ledger.locked() as st:
        rid = _new(st).id
        for bad in (0, -1, L.MAX_USES + 1):
            with pytest.raises(UsageError, match=f"^--uses takes 1 to 1000, not {bad}$"):
                st.approve(rid, 60, "a", uses=bad)
        assert st.get(rid).status == L.PENDING


def test_revoke_withdraws_a_grant_and_lifts_a_denial(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, Clock())
    with ledger.locked() as st:
        granted = _new(st, "fp1").id
        denied = _new(st, "fp2").id
        pending = _new(st, "fp3").id
        st.approve(granted, 600, "alice", uses=None)
        st.deny(denied, "no", "alice", 3600)
        assert st.denied_for("fp2") is not None
        assert st.revoke(granted, "bob").status == L.REVOKED
        assert st.revoke(denied, "bob").status == L.REVOKED
        assert st.open_for("fp1", "tester") is None and st.denied_for("fp2") is None
        assert st.get(denied).history[-1] == {"at": st.now, "event": "revoked", "by": "bob",
                                              "was": "denied"}
        with pytest.raises(Conflict, match="deny it"):
            st.revoke(pending, "bob")
        with pytest.raises(Conflict, match="already revoked"):
            st.revoke(granted, "bob")
        with pytest.raises(Conflict, match="revoked"):
            st.approve(granted, 60, "bob")
    assert ledger.read_only().get(granted).status == L.REVOKED  # saved, and read back valid


def test_revoke_refuses_a_used_up_grant_and_a_denial_no_longer_in_force(tmp_path: Path) -> None:
    clock = Clock()
    ledger = _ledger(tmp_path, clock)
    with ledger.locked() as st:
        used = _new(st, "fp1").id
        old = _new(st, "fp2").id
        st.approve(used, 600, "a")
        st.consume(st.get(used))
        st.deny(old, None, "a", 10)
    clock.t += 11
    with ledger.locked() as st:
        with pytest.raises(Conflict, match="used up"):
            st.revoke(used, "b")
        with pytest.raises(Conflict, match="no longer in force"):
            st.revoke(old, "b")


def test_a_ledger_of_before_these_fields_reads_as_one_use_grants(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, Clock())
    with ledger.locked() as st:
        rid = _new(st).id
    path = Path(ledger.paths.ledger)
    doc = json.loads(path.read_bytes())
    for k in ("uses", "used", "grant_ttl", "deny_hold"):
        del doc["requests"][rid][k]
    path.write_text(json.dumps(doc))
    req = ledger.read_only().get(rid)
    assert (req.uses, req.used, req.standing, req.grant_ttl) == (1, 0, False, None)


# --------------------------------------------------------------------------- end to end


def block(*argv: str) -> str:
    r = ag("run", "--json", "--", *argv)
    assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
    return str(json.loads(r.stdout)["approvalId"])


def events(*filters: str) -> list[dict]:
    r = ag("log", "--json", *filters)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


e2e = pytest.mark.usefixtures("in_tmp_cwd", "policy_file", "fake_bin")


@e2e
def test_approve_uses_lets_the_command_run_n_times_each_audited(marker: Path) -> None:
    rid = block(*DEPLOY)
    r = ag("approve", rid, "--yes", "--uses", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["uses"] == 3 and "3 times" in r.stderr
    for n in range(3):
        r = ag("run", "--", *DEPLOY)
        assert r.returncode == 0, r.stderr
        left = f"{2 - n} of 3 runs left" if n < 2 else "that was the last of its 3 runs"
        assert "standing approval" in r.stderr and left in r.stderr, r.stderr
    assert ag("run", "--", *DEPLOY).returncode == 75  # the fourth asks again
    assert len(marker_lines(marker)) == 3
    used = events("--event", "grant_consumed", "--id", rid)
    assert [(e["use"], e["left"]) for e in used] == [(1, 2), (2, 1), (3, 0)]


@e2e
def test_approve_for_a_period_then_revoke(marker: Path) -> None:
    rid = block(*DEPLOY)
    assert ag("approve", rid, "--yes", "--for", "1h").returncode == 0
    for _ in range(4):
        r = ag("run", "--json", "--", *DEPLOY)
        assert r.returncode == 0, r.stderr
        assert "any number of runs" in r.stderr
    assert len(events("--event", "grant_consumed", "--id", rid)) == 4
    other = ag("run", "--", "deployer", "other", "--prod")  # not the same command: asks
    assert other.returncode == 75
    r = ag("revoke", rid, "--yes", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"id": rid, "status": "revoked", "was": "approved"}
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert len(marker_lines(marker)) == 4
    (ev,) = events("--event", "revoked")
    assert (ev["id"], ev["was"]) == (rid, "approved")
    assert ag("revoke", rid, "--yes").returncode != 0  # nothing left to withdraw


@e2e
def test_approve_options_that_contradict_are_usage_errors() -> None:
    rid = block(*DEPLOY)
    for extra in (("--ttl", "5m", "--for", "1h"), ("--uses", "0"), ("--uses", "100000")):
        r = ag("approve", rid, "--yes", *extra)
        assert r.returncode == 2, (extra, r.stderr)
        if extra[0] == "--uses":  # the one bound, with the one message the core gives
            assert f"--uses takes 1 to 1000, not {extra[1]}" in r.stderr, r.stderr
    assert ag("show", "--json", rid).returncode == 0
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "pending"


@e2e
def test_revoke_lifts_a_human_denial_and_the_next_try_asks_again() -> None:
    rid = block(*DEPLOY)
    assert ag("deny", rid, "--yes", "--reason", "not today").returncode == 0
    r = ag("run", "--", *DEPLOY)
    assert r.returncode == 77 and "not today" in r.stderr
    assert "Production deploys need a human" in r.stderr  # the rule's own reason, too
    r = ag("revoke", rid, "--yes")
    assert r.returncode == 0 and "denial is lifted" in r.stderr
    new = block(*DEPLOY)
    assert new != rid


@e2e
def test_deny_asks_for_confirmation_and_fails_closed_without_a_terminal() -> None:
    rid = block(*DEPLOY)
    r = ag("deny", rid, "--reason", "no")  # stdin is not a terminal, no --yes
    assert r.returncode == 1, r.stderr
    assert "refusing to deny without confirmation" in r.stderr and "--yes" in r.stderr
    assert "deployer site --prod" in r.stderr  # the request was shown
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "pending"


@e2e
def test_deny_at_a_terminal_defaults_to_no(tmp_path: Path) -> None:
    """A real pseudo-terminal: Enter takes the default answer, No; 'y' denies."""
    import os
    import pty

    rid = block(*DEPLOY)

    def at_terminal(answer: bytes) -> tuple[int, bytes]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: agentgate on the terminal
            os.execv(AGENTGATE, [AGENTGATE, "deny", rid, "--reason", "no"])
        out = b""
        while b"?" not in out:
            out += os.read(fd, 4096)
        os.write(fd, answer)
        try:
            while chunk := os.read(fd, 4096):
                out += chunk
        except OSError:
            pass
        return os.waitpid(pid, 0)[1] >> 8, out

    code, out = at_terminal(b"\r")
    assert code == 1 and b"Deny this command?" in out and b"not denied" in out
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "pending"
    code, out = at_terminal(b"y\r")
    assert code == 0, out
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "denied"


@e2e
def test_the_agents_message_carries_the_rules_reason() -> None:
    r = ag("run", "--json", "--", *DEPLOY)
    assert r.returncode == 75
    assert "The rule says: Production deploys need a human." in r.stderr
    assert json.loads(r.stdout)["ruleReason"] == "Production deploys need a human."


@e2e
def test_the_humans_commands_work_while_the_policy_is_broken(policy_file: Path) -> None:
    rid = block(*DEPLOY)
    other = block("deployer", "two", "--prod")
    third = block("deployer", "three", "--prod")
    policy_file.write_text("this is [ not toml")
    assert ag("run", "--", *DEPLOY).returncode == 78  # the gate fails closed
    r = ag("pending", "--json")
    assert r.returncode == 0, r.stderr
    assert {q["id"] for q in json.loads(r.stdout)} == {rid, other, third}
    assert ag("show", rid).returncode == 0
    assert ag("approve", rid, "--yes", "--uses", "2").returncode == 0
    assert ag("deny", other, "--yes").returncode == 0
    assert ag("revoke", rid, "--yes").returncode == 0
    r = ag("approve", third, "--yes")
    assert r.returncode == 0, r.stderr
    # the grant lasts the approval_ttl of the policy that made the request, not a default
    shown = json.loads(ag("show", "--json", third).stdout)
    assert shown["status"] == "approved"
    assert re.search(r"within (29|30)m", r.stderr), r.stderr
    assert ag("log", "verify").returncode == 0


@e2e
@pytest.mark.parametrize("words", [("revoke", "apr_abcdefghij"), ("policy", "forget", "x")])
def test_an_agent_cannot_revoke_or_forget_through_the_gate(words: tuple[str, ...]) -> None:
    r = ag("run", "--json", "--", "agentgate", *words)
    assert r.returncode == 77, r.stderr
    assert json.loads(r.stdout)["rule"] == "agentgate-self-approval"


def test_policy_option_is_refused_by_the_humans_commands() -> None:
    for argv in (("pending", "--policy", "p.toml"), ("show", "apr_x", "--policy", "p.toml"),
                 ("deny", "apr_x", "--policy", "p.toml"), ("revoke", "apr_x", "--policy", "p"),
                 ("approve", "apr_x", "--policy", "p")):
        r = subprocess.run([AGENTGATE, *argv], capture_output=True, text=True, check=False)
        assert r.returncode == 2, (argv, r.stderr)
        assert "does not read a policy" in r.stderr


# --------------------------------------------------------------------------- log --tail


def _big_log(tmp_path: Path, events: int = 400, roll: int = 8 * 1024) -> object:
    from agentgate.audit import AuditLog

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    log = AuditLog(str(state / "audit.jsonl"), max_bytes=roll)  # 8 KiB: ~30 lines a file
    for i in range(events):
        log.append([{"event": ("allowed", "denied", "exited")[i % 3], "agent": f"a{i % 4}",
                     "argv": ["echo", str(i), "é"], "kind": "argv", "cwd": "/w"}], durable=False)
    assert len(log.files()) > 3
    return log


@pytest.mark.parametrize("tail", [0, 1, 5, 31, 399, 400, 5000])
def test_tail_read_backwards_is_what_a_forward_read_gives(tmp_path: Path, tail: int) -> None:
    from agentgate.logview import Filter, select, select_tail

    log = _big_log(tmp_path)
    for flt in (Filter(), Filter(events=frozenset({"denied"})), Filter(agent="a3"),
                Filter(events=frozenset({"exited"}), agent="a1")):
        assert select_tail(log, flt, tail) == list(select(log, flt, tail)), (flt, tail)


def test_lines_backwards_in_small_blocks(tmp_path: Path) -> None:
    from agentgate.logview import _lines_backwards

    log = _big_log(tmp_path)
    forward = [(p, raw) for p, _n, raw in log.raw_lines()]
    for block in (1, 7, 100, 1 << 16):
        assert list(_lines_backwards(log.files(), block))[::-1] == forward
    odd = tmp_path / "odd"
    for text in (b"", b"\n", b"a", b"a\n", b"a\n\nb", b"\n\n"):
        odd.write_bytes(text)
        want = [(str(odd), ln) for ln in text.split(b"\n")]
        if text.endswith(b"\n"):
            want.pop()
        if not text:
            want = []
        assert list(_lines_backwards([str(odd)], 2))[::-1] == want, text


def test_tail_reads_the_end_of_the_log_only(tmp_path: Path) -> None:
    """A log of many rolled files: --tail 5 reads a block from its end (and the first line of
    each rolled file, which orders them), not the whole log."""
    import os

    from agentgate.logview import Filter, select_tail

    log = _big_log(tmp_path, 4000, 256 * 1024)
    size = sum(os.path.getsize(p) for p in log.files())
    read = [0]
    real_read, real_pread = os.read, os.pread

    def spy_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read[0] += len(data)
        return data

    def spy_pread(fd: int, n: int, at: int) -> bytes:
        data = real_pread(fd, n, at)
        read[0] += len(data)
        return data

    os.read, os.pread = spy_read, spy_pread
    try:
        assert len(select_tail(log, Filter(), 5)) == 5
    finally:
        os.read, os.pread = real_read, real_pread
    assert 0 < read[0] < size / 3, (read[0], size)


# --------------------------------------------------------------------------- approve --remember


def test_exception_tables_append_and_cut_out_leaving_the_rest_as_it_was() -> None:
    import tomllib

    from agentgate.policy.exemptions import Exemption, appended, parse_exemptions, without

    text = '# my policy\nversion = 1\n[settings]\ndefault = "allow"  # keep me\n'
    a = Exemption("exc_a", "argv", ("deploy", "it's \"quoted\"", "é"), "/w", "r1", "me")
    b = Exemption("exc_b", "script", ("cd x && make",), "/v", "r2")
    c = Exemption("exc_c", "argv", ("x",), "/", "r3")
    both = appended(appended(appended(text, a), b), c)
    assert both.startswith(text)
    assert parse_exemptions(tomllib.loads(both)["exception"], "p") == (a, b, c)
    for gone, left in (("exc_a", (b, c)), ("exc_b", (a, c)), ("exc_c", (a, b))):
        cut = without(both, gone)
        assert cut is not None and "keep me" in cut
        assert parse_exemptions(tomllib.loads(cut)["exception"], "p") == left
    assert without(appended(text, a), "exc_a") == text
    assert without(both, "exc_nope") is None


def _remember(*argv: str) -> str:
    rid = block(*argv)
    r = ag("approve", rid, "--yes", "--remember", "--json")
    assert r.returncode == 0, r.stderr
    return str(json.loads(r.stdout)["exception"])


@e2e
def test_remember_lets_this_exact_command_run_here_without_asking(
        policy_file: Path, marker: Path, tmp_path: Path) -> None:
    policy_file.write_text("# my own notes stay\n" + policy_file.read_text())
    exc = _remember(*DEPLOY)
    text = policy_file.read_text()
    assert text.startswith("# my own notes stay\n") and f'id = "{exc}"' in text
    for _ in range(2):
        r = ag("run", "--", *DEPLOY)
        assert r.returncode == 0, r.stderr
        assert f"standing exception ({exc}" in r.stderr
    assert len(marker_lines(marker)) == 2
    assert ag("run", "--", "deployer", "other", "--prod").returncode == 75  # another command
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert ag("run", "--", *DEPLOY, cwd=str(elsewhere)).returncode == 75  # another directory
    check = json.loads(ag("check", "--json", "--", *DEPLOY).stdout)
    assert check["decision"] == "allow" and exc in check["reason"]
    shown = json.loads(ag("policy", "show", "--json").stdout)
    assert [e["id"] for e in shown["exceptions"]] == [exc]
    assert shown["sources"][0]["exceptions"][0]["applies"] is True
    assert {r["id"] for r in shown["sources"][0]["rules"]} == {"deploy-prod", "nuke"}
    r = ag("policy", "forget", exc)
    assert r.returncode == 0, r.stderr
    assert f'"{exc}"' not in policy_file.read_text()
    assert policy_file.read_text().startswith("# my own notes stay\n")
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert [e["event"] for e in events("--event", "exception_added", "--event",
                                       "exception_removed")] == ["exception_added",
                                                                 "exception_removed"]
    assert ag("log", "verify").returncode == 0


@e2e
def test_an_exception_never_relaxes_a_deny_or_another_rule(policy_file: Path) -> None:
    policy_file.write_text(policy_file.read_text() + f"""
[[exception]]
id = "exc_nuke"
command = ["nuke"]
cwd = "{Path.cwd().resolve()}"
rule = "nuke"

[[exception]]
id = "exc_other_rule"
command = ["deployer", "site", "--prod"]
cwd = "{Path.cwd().resolve()}"
rule = "some-other-rule"
""")
    assert ag("run", "--", "nuke").returncode == 77
    assert ag("run", "--", *DEPLOY).returncode == 75


@e2e
def test_remember_refuses_a_policy_it_cannot_parse_and_writes_nothing(policy_file: Path) -> None:
    rid = block(*DEPLOY)
    policy_file.write_text("version = 1\n[[rule]]\nid = 'x'\n")  # not a valid policy
    before = policy_file.read_bytes()
    r = ag("approve", rid, "--yes", "--remember")
    assert r.returncode == 78, r.stderr
    assert policy_file.read_bytes() == before
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "pending"
    assert ag("approve", rid, "--yes", "--remember", "--uses", "2").returncode == 2


@pytest.mark.usefixtures("in_tmp_cwd", "fake_bin")
def test_remember_without_a_user_policy_creates_it_from_the_starter(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from agentgate.policy import embedded_policy_text

    config = tmp_path / "config"
    monkeypatch.setenv("AGENTGATE_CONFIG_DIR", str(config))
    where = json.loads(ag("where", "--json").stdout)
    assert where["policyKind"] == "embedded"
    r = ag("run", "--json", "--", "vercel", "--prod")
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    assert ag("approve", rid, "--yes", "--remember").returncode == 0
    user = Path(json.loads(ag("where", "--json").stdout)["userPolicy"])
    assert user.read_bytes().startswith(embedded_policy_text())
    assert ag("run", "--", "vercel", "--prod").returncode == 127  # allowed; no such program here


@e2e
def test_an_untrusted_repo_policys_exception_is_ignored() -> None:
    Path(".agentgate.toml").write_text(f"""version = 1
[[rule]]
id = "repo-ask"
decision = "ask"
reason = "repo says ask"
commands = ["deployer local"]

[[exception]]
id = "exc_sneaky"
command = ["deployer", "site", "--prod"]
cwd = "{Path.cwd().resolve()}"
rule = "deploy-prod"
""")
    assert ag("run", "--", *DEPLOY).returncode == 75
    shown = json.loads(ag("policy", "show", "--json").stdout)
    repo = next(s for s in shown["sources"] if s["kind"] == "repo")
    assert repo["trusted"] is False and repo["exceptions"][0]["applies"] is False
    assert shown["exceptions"] == []


# --------------------------------------------------------------------------- the quick looks


QUICK_PROBE = """
import sys
from agentgate.entry import dispatch
code = dispatch(sys.argv[1].split())
heavy = ["typer", "click", "rich", "dataclasses", "inspect", "typing", "agentgate.policy",
         "agentgate.shell", "agentgate.gate", "agentgate.remote", "socket", "pathlib"]
sys.stderr.write("\\n" + repr([code, [m for m in heavy if m in sys.modules]]) + "\\n")
"""


@e2e
@pytest.mark.parametrize("words", ["pending", "pending --json", "show {rid}", "show --json {rid}",
                                   "log --tail 5", "log --json --tail 2"])
def test_the_quick_looks_skip_typer_the_policy_and_the_gate(words: str, tmp_path: Path) -> None:
    import ast
    import sys

    rid = block(*DEPLOY)
    r = subprocess.run([sys.executable, "-c", QUICK_PROBE, words.format(rid=rid)],
                       capture_output=True, text=True, check=False)
    code, loaded = ast.literal_eval(r.stderr.strip().splitlines()[-1])
    assert code == 0, r.stderr
    assert loaded == [], loaded
    if words.startswith(("show", "pending")):
        assert rid in r.stdout


def test_the_fast_path_leaves_unusual_spellings_to_typer() -> None:
    from agentgate.entry import parse_fast_read

    assert parse_fast_read(["pending"]) is not None
    assert parse_fast_read(["show", "apr_abc", "--json"]) is not None
    assert parse_fast_read(["log", "--tail", "5", "--json"]) is not None
    for argv in (["pending", "--policy", "p"], ["show"], ["show", "x"], ["show", "apr_a", "b"],
                 ["log"], ["log", "--tail", "-1"], ["log", "--tail", "٣"], ["log", "--tail", "5",
                 "--event", "denied"], ["pending", "--help"], ["--policy", "p", "pending"]):
        assert parse_fast_read(argv) is None, argv


@e2e
def test_a_hooks_deny_reason_carries_the_rules_reason() -> None:
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "deployer site --prod"},
                          "cwd": str(Path.cwd()), "session_id": "s",
                          "hook_event_name": "PreToolUse"})
    r = ag("hook", "claude-code", input=hook_in)
    out = json.loads(r.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert "The rule says: Production deploys need a human." in out["permissionDecisionReason"]
