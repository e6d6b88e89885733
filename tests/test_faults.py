"""Faults, with real processes: crashes at exact instants, a full disk, a hung lock holder,
corrupt inputs and clocks that jump.

Crashes use the test-only hook in ``agentgate.faults`` (inert unless AGENTGATE_TEST_HOOKS=1):
``AGENTGATE_TEST_FAULT=POINT:ACTION`` SIGKILLs, tears a write or stalls a real ``agentgate``
process in the middle of its ledger or audit write. A random kill loop covers the instants the
named points do not. After every fault: the ledger loads, no grant ran its command twice (the
fake ``deployer`` appends one line per run to a marker file), an approved grant is either still
usable exactly once or consumed, and ``log verify`` tells the truth.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag
from test_audit_faults import assert_no_false_claims

from agentgate.ledger import APPROVED, CONSUMED, EXPIRED, PENDING, Ledger, make_request
from agentgate.paths import StatePaths

POLICY = """\
version = 1

[settings]
default = "allow"

[[rule]]
id = "deploy-prod"
decision = "ask"
reason = "Production deploys need a human."
commands = ["deployer ** --prod"]
match = ["deployer --prod", "deployer site --prod"]
not_match = ["deployer site"]
"""

DEPLOYER = """\
#!/bin/sh
printf '%s\\n' "$*" >> "$MARKER"
"""

# A wrapper that makes the disk "full" for one process: every file it writes is capped at
# LIMIT bytes (RLIMIT_FSIZE holds for root too, unlike chmod), and SIGXFSZ is ignored so that
# the write fails with EFBIG instead of killing the process.
FSIZE_WRAPPER = """\
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
os.execv(sys.argv[2], sys.argv[2:])
"""

DEPLOY = ("deployer", "site", "--prod")


@pytest.fixture(autouse=True)
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    monkeypatch.setenv("AGENTGATE_POLICY", str(policy))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "deployer").write_text(DEPLOYER)
    (bindir / "deployer").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MARKER", str(tmp_path / "marker.txt"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def state(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker.txt"


def runs(marker: Path, what: str = "site --prod") -> int:
    """How many times the fake deployer ran with these arguments."""
    return marker.read_text().splitlines().count(what) if marker.exists() else 0


def hooked(spec: str, **extra: str) -> dict[str, str | None]:
    return {"AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": spec, **extra}


def block(*argv: str) -> str:
    r = ag("run", "--json", "--", *argv)
    assert r.returncode == 75, (r.returncode, r.stderr)
    return str(json.loads(r.stdout)["approvalId"])


def status(state: Path, rid: str) -> str:
    """The request's status, read through the Ledger API (which must load)."""
    return Ledger(StatePaths(state)).read_only().get(rid).status


def verify(state: Path) -> dict:
    r = ag("log", "verify", "--json")
    res = json.loads(r.stdout)
    assert r.returncode == (0 if res["ok"] else 1), r.stderr
    return res


def assert_audit_whole(state: Path, res: dict) -> None:
    """Every audit line is a JSON object, except fragments verify names as interrupted writes."""
    audit = state / "audit.jsonl"
    skipped = {int(w.rsplit(":", 1)[1]) for w in res["interrupted"] if w.startswith(str(audit))}
    for n, raw in enumerate(audit.read_bytes().split(b"\n")[:-1], 1):
        if n not in skipped:
            assert isinstance(json.loads(raw), dict), (n, raw)
    assert audit.read_bytes().endswith(b"\n")


# --------------------------------------------------------------------------- crash points

POINTS = ["audit.write:kill", "audit.write:torn", "audit.written:kill",
          "ledger.tmp_written:kill", "ledger.replaced:kill"]


@pytest.mark.parametrize("point", POINTS)
def test_crash_while_approving(point: str, state: Path, marker: Path) -> None:
    rid = block(*DEPLOY)
    r = ag("approve", rid, "--yes", env=hooked(point))
    assert r.returncode == -signal.SIGKILL

    # The approval is durable exactly when the new ledger was in place before the crash.
    expected = APPROVED if point == "ledger.replaced:kill" else PENDING
    assert status(state, rid) == expected
    if expected == PENDING:
        assert ag("run", "--", *DEPLOY).returncode == 75  # still waiting: same request
        assert status(state, rid) == PENDING
        assert ag("approve", rid, "--yes").returncode == 0
    assert not list(state.glob(".ledger-*.tmp")), "a later write cleans a crashed temp file"

    assert ag("run", "--", *DEPLOY).returncode == 0
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert runs(marker) == 1

    res = verify(state)
    assert res["ok"], res
    assert bool(res["interrupted"]) == (point == "audit.write:torn")
    assert_audit_whole(state, res)
    assert_no_false_claims(state, marker)  # a line left by the crash is retracted


@pytest.mark.parametrize("point", POINTS)
def test_crash_while_consuming_a_grant(point: str, state: Path, marker: Path) -> None:
    rid = block(*DEPLOY)
    assert ag("approve", rid, "--yes").returncode == 0
    r = ag("run", "--", *DEPLOY, env=hooked(point))
    assert r.returncode == -signal.SIGKILL
    assert runs(marker) == 0, "the command starts only after the consumption is on disk"

    consumed = point == "ledger.replaced:kill"
    assert status(state, rid) == (CONSUMED if consumed else APPROVED)
    r = ag("run", "--", *DEPLOY)
    if consumed:  # the grant is gone: a new request, and the command never ran
        assert r.returncode == 75
        assert runs(marker) == 0
    else:  # the grant is still usable, exactly once
        assert r.returncode == 0, r.stderr
        assert runs(marker) == 1
        assert ag("run", "--", *DEPLOY).returncode == 75
        assert runs(marker) == 1
        assert status(state, rid) == CONSUMED

    res = verify(state)
    assert res["ok"], res
    assert_audit_whole(state, res)
    assert_no_false_claims(state, marker, killed_after_commit=consumed)


def test_torn_last_line_is_explained_and_the_next_append_starts_a_new_line(
        state: Path, marker: Path) -> None:
    assert ag("run", "--", "deployer", "one").returncode == 0
    r = ag("run", "--", "deployer", "two", env=hooked("audit.write:torn"))
    assert r.returncode == -signal.SIGKILL
    assert not (state / "audit.jsonl").read_bytes().endswith(b"\n")
    assert marker.read_text().splitlines() == ["one"]

    r = ag("log", "verify")
    assert r.returncode == 1
    assert f"{state / 'audit.jsonl'}:3" in r.stderr
    assert "incomplete last line" in r.stderr and "interrupted" in r.stderr
    r = ag("log", "--json")  # readers step over a torn tail instead of failing
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["event"] for x in r.stdout.splitlines()] == ["allowed", "exited"]

    assert ag("run", "--", "deployer", "three").returncode == 0
    lines = (state / "audit.jsonl").read_bytes().split(b"\n")
    assert lines[2].startswith(b'{"ts"') and b"\n" not in lines[2]
    assert json.loads(lines[3])["argv"] == ["deployer", "three"]  # not glued onto the fragment
    r = ag("log", "verify")
    assert r.returncode == 0, r.stderr
    assert "interrupted" in r.stderr and f"{state / 'audit.jsonl'}:3" in r.stderr
    r = ag("log", "--json")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 4


def test_random_kills_never_duplicate_a_grant(state: Path, marker: Path) -> None:
    """SIGKILL `approve` and the retry at random instants; after each round the invariants hold."""
    rng = random.Random(5)
    start = time.monotonic()
    assert ag("run", "--", "deployer", "warmup").returncode == 0
    duration = time.monotonic() - start
    for i in range(8):
        argv = ("deployer", f"s{i}", "--prod")
        rid = block(*argv)
        for cmd in (["approve", rid, "--yes"], ["run", "--", *argv]):
            p = subprocess.Popen([str(AGENTGATE), *cmd], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.4, 1.1) * duration)
            p.send_signal(signal.SIGKILL)
            p.wait()
            st = status(state, rid)
            if cmd[0] == "approve" and st == PENDING:
                assert ag("approve", rid, "--yes").returncode == 0
        time.sleep(0.05)  # a child orphaned by the kill may still be writing its marker line
        ran = runs(marker, f"s{i} --prod")
        st = status(state, rid)
        assert st in (APPROVED, CONSUMED), st
        assert ran <= 1
        if st == APPROVED:
            assert ran == 0
            assert ag("run", "--", *argv).returncode == 0
        else:
            assert ag("run", "--", *argv).returncode == 75
        assert runs(marker, f"s{i} --prod") <= 1
        assert runs(marker, f"s{i} --prod") == 1 or st == CONSUMED
    res = verify(state)
    assert res["ok"], res
    assert_audit_whole(state, res)


# --------------------------------------------------------------------------- full disk


def full_disk(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`agentgate ARGS` in a process that cannot grow any file past ``limit`` bytes."""
    wrapper = Path(os.environ["MARKER"]).with_name("fsize_wrapper.py")
    wrapper.write_text(FSIZE_WRAPPER)
    return subprocess.run([sys.executable, str(wrapper), str(limit), str(AGENTGATE), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                          check=False)


def state_files(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state.iterdir())
            if p.is_file() and p.name != "ledger.lock"}


@pytest.mark.parametrize("room", [0, 40])
def test_full_disk_blocks_an_allowed_command_and_leaves_no_partial_line(
        room: int, state: Path, marker: Path) -> None:
    assert ag("run", "--", "deployer", "first").returncode == 0
    before = state_files(state)
    size = len(before["audit.jsonl"])
    r = full_disk(size + room, "run", "--", "deployer", "second")
    assert r.returncode == 78, r.stderr
    assert f"cannot append to audit log {state / 'audit.jsonl'}" in r.stderr
    assert "File too large" in r.stderr or "short write" in r.stderr
    assert "Traceback" not in r.stderr
    assert marker.read_text().splitlines() == ["first"]
    assert state_files(state) == before, "no partial line, no temp file"
    assert ag("run", "--", "deployer", "third").returncode == 0
    assert verify(state) == {"ok": True, "verifiedLines": 4, "firstBad": None, "problem": None,
                             "interrupted": [], "otherProblems": []}


def test_full_disk_never_spends_a_grant(state: Path, marker: Path) -> None:
    rid = block(*DEPLOY)
    assert ag("approve", rid, "--yes").returncode == 0
    before = state_files(state)
    r = full_disk(len(before["audit.jsonl"]), "run", "--", *DEPLOY)
    assert r.returncode == 78, r.stderr
    assert runs(marker) == 0
    assert state_files(state) == before
    assert status(state, rid) == APPROVED
    assert ag("run", "--", *DEPLOY).returncode == 0
    assert runs(marker) == 1


def test_full_disk_while_writing_the_ledger_keeps_the_old_one(state: Path, marker: Path) -> None:
    """A big ledger (40 finished requests) cannot be rewritten; the audit line still fits."""
    rid = block(*DEPLOY)
    paths = StatePaths(state)
    with Ledger(paths).locked() as st:
        for i in range(40):
            req = make_request(fp=f"{i:064x}", kind="argv", argv=["deployer", str(i)], cwd="/",
                               rule="deploy-prod", reason="x", agent="a", now=st.now,
                               request_ttl=60)
            req.status, req.finished_at = CONSUMED, st.now
            st.add(req)
    before = state_files(state)
    assert len(before["ledger.json"]) > len(before["audit.jsonl"]) + 4096
    r = full_disk(len(before["audit.jsonl"]) + 4096, "approve", rid, "--yes")
    assert r.returncode == 78, r.stderr
    assert f"cannot write ledger {state / 'ledger.json'}" in r.stderr
    assert "previous ledger is intact" in r.stderr
    after = state_files(state)
    assert after == before, "the ledger's temp file fails first: no audit line claims it"
    assert not [n for n in after if n.endswith(".tmp")], after.keys()
    assert status(state, rid) == PENDING
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert runs(marker) == 0


def test_failed_ledger_write_removes_its_temp_file(state: Path, marker: Path) -> None:
    rid = block(*DEPLOY)
    before = state_files(state)["ledger.json"]
    r = ag("approve", rid, "--yes", env=hooked("ledger.tmp_written:enospc"))
    assert r.returncode == 78
    assert "No space left on device" in r.stderr and "Traceback" not in r.stderr
    assert (state / "ledger.json").read_bytes() == before
    assert not list(state.glob(".ledger-*.tmp"))
    assert status(state, rid) == PENDING


def test_state_dir_that_cannot_exist_fails_closed(tmp_path: Path, marker: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = ag("run", "--", "deployer", "x", env={"AGENTGATE_HOME": str(blocker / "state")})
    assert r.returncode == 78
    assert f"cannot create state directory {blocker / 'state'}" in r.stderr
    assert not marker.exists()


# --------------------------------------------------------------------------- a hung lock holder


def _lock_is_held(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_an_agentgate_stalled_mid_write_times_waiters_out_and_its_death_frees_them(
        state: Path, marker: Path) -> None:
    env = {**os.environ, "AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": "audit.write:sleep=60"}
    holder = subprocess.Popen([str(AGENTGATE), "run", "--", "deployer", "holder"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _lock_is_held(state / "ledger.lock"):
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        t0 = time.monotonic()
        r = ag("run", "--", "deployer", "waiter", env={"AGENTGATE_LOCK_TIMEOUT": "1"})
        waited = time.monotonic() - t0
        assert r.returncode == 78
        assert f"timed out after 1s waiting for the ledger lock {state / 'ledger.lock'}" in r.stderr
        assert 1.0 <= waited < 8, waited
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    t0 = time.monotonic()
    r = ag("run", "--", "deployer", "waiter", env={"AGENTGATE_LOCK_TIMEOUT": "5"})
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 5
    assert marker.read_text().splitlines() == ["waiter"]


# --------------------------------------------------------------------------- corrupt inputs


def _truncated_ledger(state: Path) -> bytes:
    return (state / "ledger.json").read_bytes()[:100]


LEDGERS = {
    "truncated": _truncated_ledger,
    "not-json": lambda _s: b"this is not json\n",
    "wrong-structure": lambda _s: b"[1, 2, 3]\n",
    "future-version": lambda _s: b'{"version": 99, "clock": 0, "requests": {}}\n',
    "bad-record": lambda _s: b'{"version": 1, "requests": {"apr_x": {"id": "apr_x"}}}\n',
}


@pytest.mark.parametrize("kind", sorted(LEDGERS))
def test_corrupt_ledger_is_a_clear_error_and_never_rewritten(
        kind: str, state: Path, marker: Path) -> None:
    rid = block(*DEPLOY)
    ledger = state / "ledger.json"
    ledger.write_bytes(LEDGERS[kind](state))
    before = ledger.read_bytes()
    for args in (["run", "--", *DEPLOY], ["approve", rid, "--yes"], ["pending"]):
        r = ag(*args)
        assert r.returncode == 78, (args, r.stderr)
        assert f"ledger {ledger}" in r.stderr
        assert "Traceback" not in r.stderr
        if kind == "future-version":
            assert "newer agentgate" in r.stderr
        assert ledger.read_bytes() == before
    assert runs(marker) == 0


def test_audit_line_that_is_not_json(state: Path, marker: Path) -> None:
    for word in ("a", "b"):
        assert ag("run", "--", "deployer", word).returncode == 0
    audit = state / "audit.jsonl"
    lines = audit.read_bytes().split(b"\n")
    lines[1] = b"this line is not JSON"
    audit.write_bytes(b"\n".join(lines))
    before = audit.read_bytes()

    r = ag("log")
    assert r.returncode == 78
    assert f"{audit}:2: audit line is not JSON" in r.stderr
    r = ag("log", "verify")
    assert r.returncode == 1
    assert f"BROKEN at {audit}:2" in r.stderr and "not an interrupted write" in r.stderr
    assert ag("run", "--", "deployer", "c").returncode == 0
    assert audit.read_bytes().startswith(before), "appends never rewrite what is there"


BAD_POLICIES = {
    "version-string": ('version = "1"\n', "unsupported policy version"),
    "default-int": ("version = 1\n[settings]\ndefault = 1\n", "settings.default must be one of"),
    "ttl-int": ("[settings]\napproval_ttl = 30\n", "a duration must be a string"),
    "max-bytes-string": ('[settings]\naudit_max_bytes = "64MiB"\n', "audit_max_bytes must be an integer"),
    "settings-string": ('settings = "strict"\n', "[settings] must be a table"),
    "rule-string": ('rule = "deny everything"\n', "'rule' must be an array of tables"),
    "decision-bool": ('[[rule]]\nid = "r"\ndecision = true\ncommands = ["x"]\n', "'decision' must be one of"),
    "commands-int": ('[[rule]]\nid = "r"\ndecision = "deny"\ncommands = [1]\n', "'commands' must be a list"),
    "reason-int": ('[[rule]]\nid = "r"\ndecision = "deny"\nreason = 5\ncommands = ["x"]\n', "'reason' must be a string"),
    "id-int": ('[[rule]]\nid = 5\ndecision = "deny"\ncommands = ["x"]\n', "has no 'id'"),
    "match-bool": ('[[rule]]\nid = "r"\ndecision = "deny"\ncommands = ["x"]\nmatch = [true]\n', "'match' must be a list"),
    "not-utf8": ("version = 1 # \udcff\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_policy_with_wrong_types_is_a_clear_error_naming_the_file(
        case: str, tmp_path: Path, marker: Path) -> None:
    text, expected = BAD_POLICIES[case]
    policy = tmp_path / "bad.toml"
    policy.write_bytes(text.encode("utf-8", "surrogateescape"))
    r = ag("run", "--", "deployer", "x", env={"AGENTGATE_POLICY": str(policy)})
    assert r.returncode == 78
    assert f"error: {policy}" in r.stderr and expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert policy.read_bytes() == text.encode("utf-8", "surrogateescape")
    assert not marker.exists()


# --------------------------------------------------------------------------- clocks


class Clocks:
    """A wall clock and a boot clock the test moves by hand."""

    def __init__(self, wall: float, mono: float = 100.0):
        self.wall, self.mono = wall, mono

    def advance(self, seconds: float, wall_jump: float = 0.0) -> None:
        self.mono += seconds
        self.wall += seconds + wall_jump

    def ledger(self, state: Path) -> Ledger:
        return Ledger(StatePaths(state), clock=lambda: self.wall,
                      boot_clock=lambda: ("boot-1", self.mono))


def _approved_grant(ledger: Ledger, ttl: float) -> str:
    with ledger.locked() as st:
        req = make_request(fp="f" * 64, kind="argv", argv=["deployer", "--prod"], cwd="/",
                           rule="deploy-prod", reason="x", agent="a", now=st.now,
                           request_ttl=3600)
        st.add(req)
        st.approve(req.id, ttl, "human")
    return req.id


def _usable(ledger: Ledger) -> bool:
    with ledger.locked() as st:
        st.expire()
        return st.open_for("f" * 64, "a") is not None and st.open_for("f" * 64, "a").status == APPROVED


@pytest.mark.parametrize("age", [0.0, 59.0, 59.999, 60.0, 61.0, 3600.0])
def test_a_grant_never_lives_past_its_ttl(age: float, state: Path) -> None:
    clocks = Clocks(wall=1_000_000.0)
    ledger = clocks.ledger(state)
    rid = _approved_grant(ledger, ttl=60)
    clocks.advance(age)
    assert _usable(ledger) == (age < 60)
    if age >= 60:
        assert ledger.read_only().get(rid).status == EXPIRED


@pytest.mark.parametrize("jump", [-10.0, -59.0, -3600.0, -86400.0 * 365])
def test_a_clock_that_jumps_back_never_extends_a_grant(jump: float, state: Path) -> None:
    clocks = Clocks(wall=1_000_000.0)
    ledger = clocks.ledger(state)
    _approved_grant(ledger, ttl=60)
    clocks.advance(30, wall_jump=jump)  # 30 s pass, and the wall clock is set back
    assert _usable(ledger)
    clocks.advance(30)  # 60 s of real time since the approval
    assert not _usable(ledger)


def test_a_grant_approved_while_the_clock_is_behind_still_lasts_only_its_ttl(state: Path) -> None:
    clocks = Clocks(wall=1_000_000.0)
    ledger = clocks.ledger(state)
    with ledger.locked() as st:
        st.dirty = True  # the ledger has seen this time
    clocks.advance(1, wall_jump=-7200)  # the clock is now two hours behind the ledger's time
    _approved_grant(ledger, ttl=60)
    clocks.advance(59)
    assert _usable(ledger)
    clocks.advance(1)
    assert not _usable(ledger)


def test_high_water_time_holds_when_the_boot_clock_is_unknown(state: Path) -> None:
    """After a reboot (another boot id) the ledger's own time still never goes back."""
    clocks = Clocks(wall=1_000_000.0)
    ledger = clocks.ledger(state)
    _approved_grant(ledger, ttl=60)
    clocks.advance(61)
    with ledger.locked() as st:
        st.dirty = True  # a process saw the grant's end (and wrote that time down) ...
    rebooted = Ledger(StatePaths(state), clock=lambda: 1_000_000.0 - 3600,
                      boot_clock=lambda: ("boot-2", 5.0))
    assert not _usable(rebooted)  # ... so a clock set back by an hour cannot revive it


def test_cli_grant_expires_by_real_time_even_with_the_clock_set_back(
        state: Path, marker: Path) -> None:
    back = hooked("clock:offset=-3600")
    rid = block(*DEPLOY)
    assert ag("approve", rid, "--yes", "--ttl", "1s").returncode == 0
    time.sleep(1.2)
    r = ag("run", "--json", "--", *DEPLOY, env=back)
    assert r.returncode == 75, r.stderr
    assert json.loads(r.stdout)["approvalId"] != rid
    assert runs(marker) == 0
    assert status(state, rid) == EXPIRED

    rid = block(*DEPLOY, "again")
    assert ag("approve", rid, "--yes", "--ttl", "1m").returncode == 0
    assert ag("run", "--", *DEPLOY, "again", env=back).returncode == 0  # a fresh grant still works
    assert runs(marker, "site --prod again") == 1
