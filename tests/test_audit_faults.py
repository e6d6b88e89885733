"""The audit log under faults, through the real CLI: `log verify` and the head, damage recorded
as a break for ever after, torn writes (also right after a roll-over), full disks (a real tmpfs
and RLIMIT_FSIZE), failing renames and head writes, crashes before the head write, symlinks and
the umask.

After every fault the same two promises are checked: `agentgate log verify` tells the truth, and
no audit line claims a state change (a request, an approval, a denial, a used grant, a run) that
the ledger and the marker file of the fake programs do not show, unless a later `retracted` line
names it. Crashes use the test-only hooks of ``agentgate.faults`` (AGENTGATE_TEST_HOOKS=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag, marker_lines

from agentgate.audit import CLAIMS, AuditLog
from agentgate.ledger import APPROVED, CONSUMED, DENIED, PENDING, Ledger
from agentgate.paths import StatePaths

DEPLOY = ("deployer", "site", "--prod")
LEDGER_EVENTS = {"approval_requested", "approved", "human_denied", "grant_consumed", "expired"}
KINDS = ["allowed", "grant_consumed", "approved", "human_denied"]

# As in tests/test_faults.py: every file this process writes is capped at LIMIT bytes.
FSIZE_WRAPPER = """\
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.fixture(autouse=True)
def _env(policy_file: Path, fake_bin: Path, marker: Path, in_tmp_cwd: Path) -> None:
    """The test policy (ask `deployer ** --prod`), fake programs, a scratch cwd."""


def hooked(spec: str) -> dict[str, str | None]:
    return {"AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": spec}


def block(*argv: str) -> str:
    r = ag("run", "--json", "--", *argv)
    assert r.returncode == 75, (r.returncode, r.stderr)
    return str(json.loads(r.stdout)["approvalId"])


def status(state: Path, rid: str) -> str:
    return Ledger(StatePaths(state)).read_only().get(rid).status


def verify(**env: str) -> tuple[int, dict, str]:
    r = ag("log", "verify", "--json")
    text = ag("log", "verify")
    assert r.returncode == text.returncode
    assert "Traceback" not in text.stderr
    return r.returncode, json.loads(r.stdout), text.stderr


def log_events() -> list[dict]:
    r = ag("log", "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def assert_no_false_claims(state: Path, marker: Path, *, killed_after_commit: bool = False) -> None:
    """Every audit claim that stands (not named by a `retracted` line) is true: each request
    event has its note in the ledger's history and the other way round, and the `allowed` and
    `grant_consumed` lines of the fake programs are exactly the runs its marker file shows
    (``killed_after_commit``: a process was killed after its decision was saved and before the
    command started, so one such line has no run)."""
    evs = log_events()
    retracted = {s for e in evs if e["event"] == "retracted" for s in e["seqs"]}
    live = [e for e in evs if e["seq"] not in retracted]
    claimed = Counter((e["id"], e["event"]) for e in live if e["event"] in LEDGER_EVENTS)
    ledger = Ledger(StatePaths(state)).read_only()
    shown = Counter((r.id, h["event"]) for r in ledger.requests.values() for h in r.history
                    if h["event"] in LEDGER_EVENTS)
    assert claimed == shown, (claimed, shown)
    runs = [e for e in live if e["event"] in ("allowed", "grant_consumed")
            and e.get("argv", [""])[0] == "deployer"]
    assert len(runs) - killed_after_commit == len(marker_lines(marker)), (runs, marker_lines(marker))


def temp_files(state: Path) -> list[str]:
    return sorted(p.name for p in state.iterdir() if p.name.endswith(".tmp"))


def snapshot(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state.iterdir())
            if p.is_file() and p.name != "ledger.lock"}


def _history(marker: Path) -> str:
    """A little of everything: runs, a request approved and used, one denied, one waiting."""
    assert ag("run", "--", "deployer", "build").returncode == 0
    rid = block(*DEPLOY)
    assert ag("approve", rid, "--yes").returncode == 0
    assert ag("run", "--", *DEPLOY).returncode == 0
    denied = block("deployer", "db", "--prod")
    assert ag("deny", "--yes", denied, "--reason", "no").returncode == 0
    return block("deployer", "later", "--prod")


# --------------------------------------------------------------------------- verify and the head


@pytest.mark.parametrize("damage", ["cut two lines", "cut the last line short", "edit last line",
                                    "delete the log", "delete the head", "garble the head"])
def test_log_verify_checks_the_head(damage: str, state_dir: Path, marker: Path) -> None:
    _history(marker)
    code, res, _ = verify()
    assert code == 0 and res["ok"], res
    audit, head = state_dir / "audit.jsonl", state_dir / "audit.head"
    data = audit.read_bytes()
    if damage == "cut two lines":
        audit.write_bytes(b"".join(data.splitlines(keepends=True)[:-2]))
    elif damage == "cut the last line short":
        audit.write_bytes(data[:-30])
    elif damage == "edit last line":
        lines = data.splitlines(keepends=True)
        edited = lines[-1].replace(b'"agent":"unknown"', b'"agent":"mallory"')
        assert edited != lines[-1]
        audit.write_bytes(b"".join([*lines[:-1], edited]))
    elif damage == "delete the log":
        audit.unlink()
    elif damage == "delete the head":
        head.unlink()
    else:
        head.write_bytes(b"{not json")
    code, res, text = verify()
    assert code == 1 and res["ok"] is False, res
    assert "hash chain intact" not in text
    assert "BROKEN at" in text, text
    # and the damage stays reported after more commands (a cut is not papered over)
    assert ag("run", "--", "deployer", "after").returncode == 0
    code, res, text = verify()
    assert code == 1 and res["ok"] is False, (damage, res)
    assert "found damaged" in text, text


@pytest.mark.parametrize("exists", [False, True])
def test_log_verify_without_any_log_fails_with_a_clear_message(exists: bool, state_dir: Path) -> None:
    """A CI check pointed at the wrong (or an empty) state directory must not pass."""
    if exists:
        state_dir.mkdir(mode=0o700)
    r = ag("log", "verify")
    assert r.returncode == 1
    assert f"no audit log at {state_dir / 'audit.jsonl'}" in r.stderr
    assert "AGENTGATE_HOME" in r.stderr and "Traceback" not in r.stderr
    j = ag("log", "verify", "--json")
    assert j.returncode == 1
    assert json.loads(j.stdout)["ok"] is False


def test_a_cut_is_recorded_once_and_reported_for_ever(state_dir: Path, marker: Path) -> None:
    _history(marker)
    audit = state_dir / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    audit.write_bytes(b"".join(lines[:-2]))
    for word in ("a", "b", "c"):
        assert ag("run", "--", "deployer", word).returncode == 0
        code, res, _ = verify()
        assert code == 1, res
        assert res["firstBad"] == f"{audit}:{len(lines) - 1}", res
        assert "lines were removed from the end" in res["problem"]
    breaks = json.loads(ag("log", "--json", "--event", "audit_break").stdout)
    assert breaks["head"]["seq"] == len(lines) and breaks["log_end"]["seq"] == len(lines) - 2
    summary = json.loads(ag("log", "summary", "--json").stdout)
    assert summary["byEvent"]["audit_break"] == 1
    assert [e["seq"] for e in log_events()] == list(range(1, len(lines) + 6))


# --------------------------------------------------------------------------- torn writes


def test_a_torn_write_right_after_a_rollover_recovers(tmp_path: Path, state_dir: Path,
                                                      marker: Path) -> None:
    policy = tmp_path / "small.toml"
    policy.write_text('version = 1\n[settings]\ndefault = "allow"\naudit_max_bytes = 4096\n')
    env = {"AGENTGATE_POLICY": str(policy)}
    while not (state_dir / "audit.jsonl").exists() or (state_dir / "audit.jsonl").stat().st_size < 4096:
        assert ag("run", "--", "deployer", "fill", env=env).returncode == 0
    log = AuditLog(state_dir / "audit.jsonl")
    rolled = log.rolled_files()
    n = len(log_events())

    r = ag("run", "--", "deployer", "torn", env={**env, **hooked("audit.write:torn")})
    assert r.returncode == -signal.SIGKILL
    assert len(log.rolled_files()) == len(rolled) + 1, "the roll happened, then the write tore"
    fragment = Path(log.path).read_bytes()
    assert fragment and b"\n" not in fragment

    assert ag("run", "--", "deployer", "after", env=env).returncode == 0
    code, res, text = verify()
    assert code == 0, res
    assert res["interrupted"] == [f"{log.path}:1"]
    assert "interrupted" in text
    evs = log_events()
    assert [e["seq"] for e in evs] == list(range(1, n + 3)), "seq continues across the roll"
    assert evs[-2]["argv"] == ["deployer", "after"]
    r = ag("log")
    assert r.returncode == 0, r.stderr
    assert ag("log", "summary").returncode == 0
    assert marker_lines(marker)[-1] == "after" and "torn" not in marker_lines(marker)
    assert_no_false_claims(state_dir, marker)


def test_a_real_torn_write_verifies_after_the_next_append_and_planted_junk_does_not(
        state_dir: Path, marker: Path) -> None:
    assert ag("run", "--", "deployer", "one").returncode == 0
    r = ag("run", "--", "deployer", "two", env=hooked("audit.write:torn"))
    assert r.returncode == -signal.SIGKILL
    assert ag("run", "--", "deployer", "three").returncode == 0
    code, res, _ = verify()
    assert code == 0 and len(res["interrupted"]) == 1, res
    assert_no_false_claims(state_dir, marker)

    audit = state_dir / "audit.jsonl"
    good = audit.read_bytes()
    lines = good.splitlines(keepends=True)
    audit.write_bytes(b"".join([*lines[:2], b'{"ts":"2026-01-01T00:00:00.000Z","seq":3\n', *lines[2:]]))
    code, res, text = verify()
    assert code == 1 and res["firstBad"] == f"{audit}:3", res
    assert "not an interrupted write" in text
    r = ag("log")
    assert r.returncode == 78 and f"{audit}:3" in r.stderr


# --------------------------------------------------------------------------- full disks


@contextlib.contextmanager
def tmpfs(where: Path, size: int) -> Iterator[Path]:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(where)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}; the "
                    "RLIMIT_FSIZE tests cover the same writes")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(disk: Path, free_pages: int) -> None:
    """Leave exactly ``free_pages`` pages of the tmpfs free (tmpfs allocates whole pages)."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    st = os.statvfs(disk)
    size = max(0, st.f_bavail - free_pages) * st.f_frsize
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * size)
    assert os.statvfs(disk).f_bavail <= free_pages


def pad_audit(state: Path, slack: int) -> None:
    """Append one harmless line so that the log's last page has ``slack`` bytes free."""
    log = AuditLog(state / "audit.jsonl")
    size = Path(log.path).stat().st_size
    probe = len(json.dumps({"ts": "2026-01-01T00:00:00.000Z", "seq": log.end().seq + 1,
                            "event": "denied", "pad": "", "prev": "0" * 64},
                           separators=(",", ":"))) + 1
    n = (4096 - slack - size - probe) % 4096
    log.append([{"event": "denied", "pad": "x" * n}])
    assert (4096 - Path(log.path).stat().st_size % 4096) % 4096 == slack


def prepare(kind: str) -> tuple[list[str], str | None]:
    """Set the stage for one kind of state change; returns the command that makes it."""
    assert ag("run", "--", "deployer", "first").returncode == 0
    if kind == "allowed":
        return ["run", "--", "deployer", "second"], None
    rid = block(*DEPLOY)
    if kind == "grant_consumed":
        assert ag("approve", rid, "--yes").returncode == 0
        return ["run", "--", *DEPLOY], rid
    if kind == "approved":
        return ["approve", rid, "--yes"], rid
    return ["deny", "--yes", rid, "--reason", "full disk test"], rid


def check_outcome(kind: str, rc: int, stderr: str, before: dict[str, bytes], state: Path,
                  marker: Path, rid: str | None) -> bool:
    """After one attempt on a full disk: refused and nothing changed, or done and true."""
    assert "Traceback" not in stderr
    assert not temp_files(state), temp_files(state)
    if rc == 78:
        assert "did not run" in stderr or "intact" in stderr or "nothing was run" in stderr, stderr
        assert snapshot(state) == before, "a refused command leaves every state file as it was"
        return False
    assert rc == 0, (rc, stderr)
    expected = {"grant_consumed": CONSUMED, "approved": APPROVED, "human_denied": DENIED}
    if rid is not None:
        assert status(state, rid) == expected[kind]
    return True


def retry_after_space_returns(kind: str, args: list[str], state: Path, marker: Path,
                              rid: str | None) -> None:
    r = ag(*args)
    assert r.returncode == 0, r.stderr
    code, res, _ = verify()
    assert code == 0, res
    assert res["interrupted"] == []
    assert_no_false_claims(state, marker)
    if rid is not None:
        assert status(state, rid) != PENDING


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_tmpfs_never_leaves_a_false_claim(kind: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 marker: Path) -> None:
    """A real full file system, at every point of the write sequence: the ledger's temp file,
    the audit line (which needs a new page or fits in the last one) and the head's temp file."""
    done_once = refused_once = False
    with tmpfs(tmp_path / "disk", 512 * 1024) as disk:
        for free_pages in (0, 1, 2, 3):
            for slack in (4000, 0):
                state = disk / f"state-{free_pages}-{slack}"
                monkeypatch.setenv("AGENTGATE_HOME", str(state))
                marker.unlink(missing_ok=True)
                args, rid = prepare(kind)
                pad_audit(state, slack)
                before = snapshot(state)
                fill_disk(disk, free_pages)
                r = ag(*args)
                (disk / "filler").unlink()
                done = check_outcome(kind, r.returncode, r.stderr, before, state, marker, rid)
                done_once |= done
                refused_once |= not done
                code, res, _ = verify()
                assert code == 0, (free_pages, slack, res)
                assert_no_false_claims(state, marker)
                if not done:
                    retry_after_space_returns(kind, args, state, marker, rid)
    assert refused_once and done_once, "the sweep reached both sides of the boundary"


@pytest.mark.parametrize("kind", KINDS)
def test_rlimit_fsize_never_leaves_a_false_claim(kind: str, tmp_path: Path, marker: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without root: every file the process writes is capped, at limits around the
    sizes of the log and the ledger, so that each write in turn is the one that fails (the
    log cannot grow at all, only part of the line fits, the ledger's temp file does not fit)."""
    wrapper = tmp_path / "fsize_wrapper.py"
    wrapper.write_text(FSIZE_WRAPPER)
    refused = 0
    for case in ("no room", "part of a line", "ledger too big"):
        state = tmp_path / f"state-{case.replace(' ', '-')}"
        monkeypatch.setenv("AGENTGATE_HOME", str(state))
        marker.unlink(missing_ok=True)
        args, rid = prepare(kind)
        before = snapshot(state)
        audit, ledger = len(before["audit.jsonl"]), len(before.get("ledger.json", b""))
        limit = {"no room": audit, "part of a line": audit + 150,
                 "ledger too big": ledger - 1}[case]
        if case == "ledger too big" and ledger - 1 <= audit + 600:
            continue  # the log would hit the cap first: the case needs a ledger bigger than it
        r = subprocess.run([sys.executable, str(wrapper), str(limit), str(AGENTGATE), *args],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                           check=False)
        if not check_outcome(kind, r.returncode, r.stderr, before, state, marker, rid):
            refused += 1
            retry_after_space_returns(kind, args, state, marker, rid)
        code, res, _ = verify()
        assert code == 0, (case, res)
        assert_no_false_claims(state, marker)
    assert refused >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_head_write_leaves_nothing_behind(kind: str, state_dir: Path, marker: Path) -> None:
    args, rid = prepare(kind)
    before = snapshot(state_dir)
    r = ag(*args, env=hooked("audit.head.tmp_written:enospc"))
    assert r.returncode == 78, r.stderr
    assert f"cannot append to audit log {state_dir / 'audit.jsonl'}" in r.stderr
    assert "No space left on device" in r.stderr
    assert not check_outcome(kind, r.returncode, r.stderr, before, state_dir, marker, rid)
    assert_no_false_claims(state_dir, marker)
    retry_after_space_returns(kind, args, state_dir, marker, rid)


@pytest.mark.parametrize("fault", ["ledger.renaming:enospc", "ledger.renaming:raise"])
@pytest.mark.parametrize("kind", ["grant_consumed", "approved", "human_denied"])
def test_a_failed_ledger_rename_leaves_no_line(fault: str, kind: str, state_dir: Path,
                                               marker: Path) -> None:
    """The lines are written and the rename fails (or a bug raises just before it): the lines
    are cut back, so nothing is claimed and nothing needs retracting."""
    args, rid = prepare(kind)
    before = snapshot(state_dir)
    r = ag(*args, env=hooked(fault))
    if fault.endswith("enospc"):
        assert r.returncode == 78, r.stderr
        assert f"cannot write ledger {state_dir / 'ledger.json'}" in r.stderr
        assert "previous ledger is intact" in r.stderr
    else:
        assert r.returncode == 70 and "internal error" in r.stderr, r.stderr
        (state_dir / "errors.log").unlink()  # the bug's traceback
    assert snapshot(state_dir) == before, "every state file as it was, the log cut back"
    assert not temp_files(state_dir) and marker_lines(marker) == ["first"]
    assert_no_false_claims(state_dir, marker)
    assert verify()[0] == 0
    retry_after_space_returns(kind, args, state_dir, marker, rid)
    assert "retracted" not in [e["event"] for e in log_events()]


def test_a_failed_trust_rename_leaves_no_line(state_dir: Path, in_tmp_cwd: Path) -> None:
    repo = in_tmp_cwd / "repo"
    (repo / ".git").mkdir(parents=True)
    policy = repo / ".agentgate.toml"
    policy.write_text('version = 1\n[[rule]]\nid = "r"\ndecision = "deny"\ncommands = ["nuke"]\n'
                      'match = ["nuke"]\n')
    assert ag("run", "--", "deployer", "x").returncode == 0
    before = snapshot(state_dir)
    r = ag("policy", "trust", str(policy), env=hooked("trust.renaming:enospc"))
    assert r.returncode == 78, r.stderr
    assert "cannot write trust records" in r.stderr and "previous records are intact" in r.stderr
    assert snapshot(state_dir) == before
    assert "policy_trusted" not in [e["event"] for e in log_events()]
    assert not temp_files(state_dir)
    assert verify()[0] == 0


# --------------------------------------------------------------------------- after the commit point

AFTER_COMMIT = ["ledger.replaced:enospc", "audit.head.renaming:enospc", "audit.head.replaced:enospc"]
CHANGED = {"approved": APPROVED, "human_denied": DENIED}


@pytest.mark.parametrize("fault", AFTER_COMMIT)
@pytest.mark.parametrize("kind", ["approved", "human_denied", "approval_requested"])
def test_an_error_after_the_ledger_rename_never_says_the_change_did_not_happen(
        fault: str, kind: str, state_dir: Path, marker: Path) -> None:
    """Once the new ledger is renamed into place the change has happened and its lines are
    true: a failure after it (the directory's fsync, the head's rename or fsync) says so,
    and no line is retracted, now or by the next append (the ledger records the lines)."""
    if kind == "approval_requested":
        assert ag("run", "--", "deployer", "first").returncode == 0
        args, rid = ["run", "--", *DEPLOY], None
    else:
        args, rid = prepare(kind)
    r = ag(*args, env=hooked(fault))
    assert r.returncode == 78, r.stderr
    assert "saved and logged, but then" in r.stderr, r.stderr
    assert "intact" not in r.stderr and "did not run" not in r.stderr
    if rid is not None:
        assert status(state_dir, rid) == CHANGED[kind]
    else:
        rid = next(e["id"] for e in log_events() if e["event"] == "approval_requested")
        assert status(state_dir, rid) == PENDING
    assert verify()[0] == 0
    assert ag("run", "--", "deployer", "next").returncode == 0  # the next append
    evs = log_events()
    assert "retracted" not in [e["event"] for e in evs] and "audit_break" not in [
        e["event"] for e in evs]
    assert [e["event"] for e in evs if e.get("id") == rid][-1] == kind
    assert_no_false_claims(state_dir, marker)
    assert verify()[0] == 0
    assert not temp_files(state_dir)


@pytest.mark.parametrize("fault", ["ledger.replaced:enospc", "audit.head.replaced:enospc"])
def test_a_grant_used_up_then_an_error_never_runs_and_is_given_back(
        fault: str, state_dir: Path, marker: Path) -> None:
    """The consumption is saved, then the state directory fails: the command does not run
    (fail closed: a consumption that may not survive a crash could hand the grant out again),
    the grant is given back and a `retracted` line says so; the retry runs it exactly once."""
    args, rid = prepare("grant_consumed")
    r = ag(*args, env=hooked(fault))
    assert r.returncode == 78, r.stderr
    assert f"the command was not run; the grant {rid} is kept" in r.stderr
    assert marker_lines(marker) == ["first"]
    assert status(state_dir, rid) == APPROVED
    evs = log_events()
    used = [e for e in evs if e["event"] == "grant_consumed"]
    assert len(used) == 1
    back = [e for e in evs if e["event"] == "retracted"]
    assert len(back) == 1 and back[0]["seqs"] == [used[0]["seq"]] and back[0]["id"] == rid
    assert "the command was not run and the grant was given back" in back[0]["reason"]
    assert_no_false_claims(state_dir, marker)
    assert verify()[0] == 0
    assert ag(*args).returncode == 0
    assert ag(*args).returncode == 75  # used once
    assert marker_lines(marker) == ["first", "site --prod"]
    assert_no_false_claims(state_dir, marker)
    assert verify()[0] == 0


def test_a_grant_used_up_on_a_disk_that_fails_every_head_write_is_said_so(
        state_dir: Path, marker: Path) -> None:
    """When even giving the grant back cannot be recorded (every head rename fails), the
    command still does not run and the error says the grant is used up; the log holds the
    consumption (the ledger records it), never a retraction of it."""
    args, rid = prepare("grant_consumed")
    r = ag(*args, env=hooked("audit.head.renaming:enospc"))
    assert r.returncode == 78, r.stderr
    assert f"the command was not run; the grant {rid} is used up (giving it back failed" in r.stderr
    assert marker_lines(marker) == ["first"] and status(state_dir, rid) == CONSUMED
    assert ag(*args).returncode == 75  # a new request: the grant is gone
    assert "retracted" not in [e["event"] for e in log_events()]
    assert_no_false_claims(state_dir, marker, killed_after_commit=True)
    assert verify()[0] == 0


def test_a_trust_saved_then_an_error_stands(state_dir: Path, in_tmp_cwd: Path) -> None:
    repo = in_tmp_cwd / "repo"
    (repo / ".git").mkdir(parents=True)
    policy = repo / ".agentgate.toml"
    policy.write_text('version = 1\n[[rule]]\nid = "r"\ndecision = "deny"\ncommands = ["nuke"]\n'
                      'match = ["nuke"]\n')
    assert ag("run", "--", "deployer", "x").returncode == 0
    r = ag("policy", "trust", str(policy), env=hooked("trust.replaced:enospc"))
    assert r.returncode == 78 and "saved and logged, but then" in r.stderr, r.stderr
    assert str(policy.resolve()) in json.loads((state_dir / "trusted.json").read_text())["files"]
    assert ag("run", "--", "deployer", "y").returncode == 0
    assert [e["event"] for e in log_events()].count("retracted") == 0
    assert verify()[0] == 0


def _interrupt(args: list[str], fault: str, sig: int) -> int:
    """Start `agentgate ARGS` stalled just before its ledger rename, send ``sig`` while it
    is stalled; its exit code."""
    env = {**os.environ, "AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": fault}
    p = subprocess.Popen([str(AGENTGATE), *args], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not [n for n in os.listdir(os.environ["AGENTGATE_HOME"]) if n.startswith(".ledger-")]:
        assert time.monotonic() < deadline and p.poll() is None, "never reached the rename"
        time.sleep(0.01)
    time.sleep(0.3)  # inside the stall
    p.send_signal(sig)
    p.communicate(timeout=30)
    return p.returncode


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("kind", ["approved", "human_denied", "grant_consumed"])
def test_a_signal_in_the_critical_section_waits_for_its_end(
        sig: int, kind: str, state_dir: Path, marker: Path) -> None:
    """Ctrl-C, kill or a closed terminal between the audit lines and the ledger rename: held
    until the state change is complete, then it takes effect. Whatever was logged is true.
    A used grant's command never runs: after Ctrl-C (KeyboardInterrupt) the grant is given
    back; SIGTERM and SIGHUP end the process as soon as they are let through, like a kill
    right after the decision was saved."""
    args, rid = prepare(kind)
    rc = _interrupt(args, "ledger.renaming:sleep=2", sig)
    assert rc == (130 if sig == signal.SIGINT else -sig), rc
    killed_after_commit = False
    if kind == "grant_consumed":
        assert marker_lines(marker) == ["first"]
        killed_after_commit = sig != signal.SIGINT
        assert status(state_dir, rid) == (CONSUMED if killed_after_commit else APPROVED)
    else:
        assert status(state_dir, rid) == CHANGED[kind]
    assert not temp_files(state_dir)
    assert_no_false_claims(state_dir, marker, killed_after_commit=killed_after_commit)
    assert verify()[0] == 0
    assert ag("run", "--", "deployer", "next").returncode == 0
    assert "audit_break" not in [e["event"] for e in log_events()]
    assert_no_false_claims(state_dir, marker, killed_after_commit=killed_after_commit)
    assert verify()[0] == 0


@pytest.mark.parametrize("kind", ["approved", "human_denied", "grant_consumed"])
def test_a_kill_between_the_ledger_rename_and_the_head_is_no_false_retraction(
        kind: str, state_dir: Path, marker: Path) -> None:
    """SIGKILL cannot be held: killed after the new ledger is in place and before the head
    names its lines. The ledger records them (its audit mark), so the next append knows they
    took effect and retracts nothing; the state change holds."""
    args, rid = prepare(kind)
    r = ag(*args, env=hooked("audit.head.renaming:kill"))
    assert r.returncode == -signal.SIGKILL
    assert status(state_dir, rid) == {**CHANGED, "grant_consumed": CONSUMED}[kind]
    assert verify()[0] == 0  # one append after the head: what a crash leaves
    assert ag("run", "--", "deployer", "next").returncode == 0
    evs = log_events()
    assert "retracted" not in [e["event"] for e in evs] and "audit_break" not in [
        e["event"] for e in evs]
    assert_no_false_claims(state_dir, marker, killed_after_commit=kind == "grant_consumed")
    assert verify()[0] == 0


# --------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("kind", KINDS)
def test_a_crash_before_the_head_write_is_retracted_by_the_next_append(
        kind: str, state_dir: Path, marker: Path) -> None:
    """Killed after the lines are on disk but before the head (so before the ledger rename and
    the command's start): a head one append behind is a crash, not tampering; the next append
    retracts what those lines claimed."""
    args, rid = prepare(kind)
    n = len(log_events())
    r = ag(*args, env=hooked("audit.written:kill"))
    assert r.returncode == -signal.SIGKILL
    evs = log_events()
    crashed = evs[n:]
    assert crashed and crashed[-1]["event"] == kind, "the line is there"
    if rid is not None:
        assert status(state_dir, rid) in (PENDING, APPROVED), "but the ledger never changed"
    code, res, _ = verify()
    assert code == 0, res  # a lagging head is what a crash leaves: accepted
    assert ag("run", "--", "deployer", "next").returncode == 0
    evs = log_events()
    assert evs[len(crashed) + n]["event"] == "retracted"
    assert evs[len(crashed) + n]["seqs"] == [e["seq"] for e in crashed if e["event"] in CLAIMS]
    assert "audit_break" not in [e["event"] for e in evs]
    code, res, _ = verify()
    assert code == 0, res
    assert_no_false_claims(state_dir, marker)
    retry_after_space_returns(kind, args, state_dir, marker, rid)


@pytest.mark.parametrize("kind", KINDS)
def test_a_crash_in_the_head_write_leaves_no_temp_file_for_long(
        kind: str, state_dir: Path, marker: Path) -> None:
    args, rid = prepare(kind)
    r = ag(*args, env=hooked("audit.head.tmp_written:kill"))
    assert r.returncode == -signal.SIGKILL
    assert any(n.startswith(".audit.head-") for n in temp_files(state_dir))
    assert ag("run", "--", "deployer", "next").returncode == 0
    assert not any(n.startswith(".audit.head-") for n in temp_files(state_dir))
    assert "retracted" in [e["event"] for e in log_events()]
    retry_after_space_returns(kind, args, state_dir, marker, rid)
    assert not temp_files(state_dir)


def test_a_crash_during_the_very_first_append_is_not_a_break(state_dir: Path, marker: Path) -> None:
    r = ag("run", "--", "deployer", "first", env=hooked("audit.written:kill"))
    assert r.returncode == -signal.SIGKILL
    assert json.loads((state_dir / "audit.head").read_text())["seq"] == 0  # written before line 1
    assert verify()[0] == 0
    assert ag("run", "--", "deployer", "second").returncode == 0
    evs = log_events()
    assert "audit_break" not in [e["event"] for e in evs]
    assert [e["event"] for e in evs] == ["allowed", "retracted", "allowed", "exited"]
    assert verify()[0] == 0
    assert_no_false_claims(state_dir, marker)


# --------------------------------------------------------------------------- files


def test_a_symlink_at_the_log_is_refused(state_dir: Path, marker: Path, tmp_path: Path) -> None:
    assert ag("run", "--", "deployer", "first").returncode == 0
    audit = state_dir / "audit.jsonl"
    target = tmp_path / "planted.jsonl"
    target.write_bytes(audit.read_bytes())
    audit.unlink()
    audit.symlink_to(target)
    before = target.read_bytes()
    r = ag("run", "--", "deployer", "second")
    assert r.returncode == 78, r.stderr
    assert f"audit log {audit} is a symbolic link" in r.stderr
    assert marker_lines(marker) == ["first"]
    assert target.read_bytes() == before
    r = ag("log", "verify")
    assert r.returncode == 78 and str(audit) in r.stderr


def test_audit_files_are_0600_under_umask_000(tmp_path: Path, state_dir: Path) -> None:
    policy = tmp_path / "small.toml"
    policy.write_text('version = 1\n[settings]\ndefault = "allow"\naudit_max_bytes = 4096\n')
    script = (f"umask 000; for i in 1 2 3 4 5 6 7 8; do {AGENTGATE} run -- deployer $i || exit 9; "
              "done")
    r = subprocess.run(["sh", "-c", script], env={**os.environ, "AGENTGATE_POLICY": str(policy)},
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    log = AuditLog(state_dir / "audit.jsonl")
    files = [Path(p) for p in (log.path, log.head_path, *log.rolled_files())]
    assert len(files) >= 3
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert not temp_files(state_dir)
    assert verify()[0] == 0
