"""The audit log at scale, through the real CLI: rotation, streaming memory, `log summary`,
timestamp windows, the progress bar, and the CI check step documented in docs/ci.md.

Big logs are written directly (correct chain, no CLI per line) so that these tests stay fast.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag

from agentgate.audit import GENESIS, AuditLog, line_hash, now_iso
from agentgate.ledger import ARCHIVE_KEEP, Ledger, make_request
from agentgate.paths import StatePaths

REPO = Path(__file__).resolve().parent.parent

POLICY = """\
version = 1

[settings]
default = "allow"
{settings}

[[rule]]
id = "deploy-prod"
decision = "ask"
reason = "Production deploys need a human."
commands = ["deployer ** --prod"]
match = ["deployer --prod"]

[[rule]]
id = "nuke"
decision = "deny"
reason = "Never."
commands = ["nuke"]
match = ["nuke"]
"""

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


@pytest.fixture(autouse=True)
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY.format(settings=""))
    monkeypatch.setenv("AGENTGATE_POLICY", str(policy))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("deployer", "nuke"):
        (bindir / name).write_text("#!/bin/sh\nexit 0\n")
        (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def state(isolated_env: Path) -> Path:
    isolated_env.mkdir(exist_ok=True)
    return isolated_env


def write_chain(path: Path, events: Iterable[dict], *, t0: float = T0, step: float = 1.0,
                seq: int = 0, prev: str = GENESIS, ts: Iterable[str] | None = None) -> tuple[int, str]:
    """Append events as audit lines with a correct chain; returns (last seq, last hash)."""
    stamps = iter(ts) if ts is not None else None
    with open(path, "ab") as f:
        for i, ev in enumerate(events):
            seq += 1
            stamp = next(stamps) if stamps is not None else now_iso(t0 + i * step)
            raw = json.dumps({"ts": stamp, "seq": seq, **ev, "prev": prev},
                             separators=(",", ":"), ensure_ascii=False).encode()
            prev = line_hash(raw)
            f.write(raw + b"\n")
    # the head, as the writer records it (log verify fails a log whose head is missing)
    path.with_name("audit.head").write_text(json.dumps({"seq": seq, "sha256": prev}))
    path.with_name("audit.head").chmod(0o600)
    path.chmod(0o600)
    return seq, prev


def json_lines(r: subprocess.CompletedProcess[str]) -> list[dict]:
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


# --------------------------------------------------------------------------- rotation


def test_rotation_end_to_end_log_and_verify_read_across_files(
        tmp_path: Path, state: Path) -> None:
    (tmp_path / "policy.toml").write_text(POLICY.format(settings="audit_max_bytes = 4096"))
    log = AuditLog(state / "audit.jsonl", max_bytes=4096)
    t = [T0]

    def clock() -> float:
        t[0] += 1.0
        return t[0]

    log.clock = clock
    n = 0
    while len(log.rolled_files()) < 3 or os.stat(log.path).st_size < 4096:
        n += 1
        log.append([{"event": "allowed", "argv": ["echo", str(n)], "agent": "bulk"}])
    rolled_before = log.rolled_files()

    for i in range(2):  # the CLI rolls the full file on its first append, then keeps the chain
        assert ag("run", "--agent", "cli", "--", "deployer", f"x{i}").returncode == 0
    rolled = log.rolled_files()
    assert len(rolled) == len(rolled_before) + 1
    assert rolled[:-1] == rolled_before

    events = json_lines(ag("log", "--json"))
    assert [e["seq"] for e in events] == list(range(1, n + 5))
    assert [e["event"] for e in events[-4:]] == ["allowed", "exited", "allowed", "exited"]
    assert json_lines(ag("log", "--json", "--agent", "cli", "--tail", "1"))[0]["argv"] == ["deployer", "x1"]
    assert len(json_lines(ag("log", "--json", "--agent", "bulk"))) == n
    res = json.loads(ag("log", "verify", "--json").stdout)
    assert res["ok"] and res["verifiedLines"] == n + 4, res

    middle = Path(rolled[1])
    lines = middle.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"echo"', b'"ECHO"')
    middle.write_bytes(b"\n".join(lines))
    r = ag("log", "verify")
    assert r.returncode == 1
    assert f"BROKEN at {middle}:3" in r.stderr


def test_rolls_within_one_second_keep_their_order(state: Path) -> None:
    log = AuditLog(state / "audit.jsonl", max_bytes=100, clock=lambda: T0)
    for i in range(14):
        log.append([{"event": "allowed", "argv": ["echo", str(i)]}])
    names = [os.path.basename(p) for p in log.rolled_files()]
    assert names[0] == "audit-20260528T202640Z.jsonl"
    assert names[1:] == [f"audit-20260528T202640Z-{k}.jsonl" for k in range(1, 13)]
    assert [e["seq"] for e in log.events()] == list(range(1, 15))
    assert log.verify().ok
    (state / "audit-backup.jsonl").write_text("not part of the chain\n")  # a stray file
    assert log.verify().ok and log.verify().lines == 14


# --------------------------------------------------------------------------- memory


# The process reports its own peak RSS (VmHWM of its memory map) on exit; wait4's ru_maxrss
# would include the high-water mark inherited from pytest through fork.
PEAK_PROBE = """\
import atexit, sys
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\nVmHWM " + line.split()[1] + "\\n")
atexit.register(_hwm)
from agentgate.entry import main
sys.argv = ["agentgate", *sys.argv[1:]]
main()
"""


def _peak_kib(*args: str) -> int:
    """Peak RSS of one `agentgate ARGS` process, in KiB."""
    r = subprocess.run([sys.executable, "-c", PEAK_PROBE, *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, timeout=120)
    assert r.returncode == 0, (args, r.returncode, r.stderr[-500:])
    return int(r.stderr.rsplit(b"VmHWM ", 1)[1].split()[0])


def test_reading_a_big_log_keeps_memory_flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bulk(n: int) -> Iterable[dict]:
        for i in range(n):
            yield {"event": "allowed" if i % 3 else "exited", "id": f"apr_{i:010d}",
                   "rule": "r", "agent": f"a{i % 7}", "argv": ["make", "test", str(i)]}

    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    write_chain(small / "audit.jsonl", bulk(1_000))
    write_chain(big / "audit.jsonl", bulk(120_000))
    for args in (("log", "--json", "--event", "denied"), ("log", "--tail", "5"),
                 ("log", "--json", "--id", "apr_0000119999"), ("log", "summary", "--json"),
                 ("log", "verify")):
        monkeypatch.setenv("AGENTGATE_HOME", str(small))
        base = _peak_kib(*args)
        monkeypatch.setenv("AGENTGATE_HOME", str(big))
        grown = _peak_kib(*args) - base
        assert grown < 8 * 1024, (args, f"peak RSS grew by {grown} KiB for 120x the events")
    r = ag("log", "--json", "--id", "apr_0000119999")
    assert json_lines(r)[0]["seq"] == 120_000


# --------------------------------------------------------------------------- summary and windows


def _story() -> list[dict]:
    out = []
    for i in range(30):
        agent = "claude" if i % 2 else "codex"
        if i % 10 == 0:
            out.append({"event": "approval_requested", "rule": "deploy-prod", "decision": "ask",
                        "agent": agent, "id": f"apr_{i}"})
        elif i % 10 == 5:
            out.append({"event": "denied", "rule": "nuke", "decision": "deny", "agent": agent})
        else:
            out.append({"event": "allowed", "decision": "allow", "agent": agent})
    return out


def test_log_summary_counts_per_event_rule_and_agent_over_a_period(state: Path) -> None:
    write_chain(state / "audit.jsonl", _story(), step=60.0)  # one event a minute from T0

    whole = json.loads(ag("log", "summary", "--json").stdout)
    assert whole["events"] == 30
    assert whole["byEvent"] == {"allowed": 24, "approval_requested": 3, "denied": 3}
    assert whole["byRule"] == {"deploy-prod": {"approval_requested": 3}, "nuke": {"denied": 3}}
    assert whole["byAgent"] == {"claude": {"allowed": 12, "denied": 3},
                                "codex": {"allowed": 12, "approval_requested": 3}}
    assert whole["first"] == now_iso(T0) and whole["last"] == now_iso(T0 + 29 * 60)

    # minutes 10..19 inclusive: requests at 10, denial at 15, eight allowed
    since, until = now_iso(T0 + 600), now_iso(T0 + 19 * 60)
    r = ag("log", "summary", "--json", "--since", since, "--until", until)
    part = json.loads(r.stdout)
    assert part["events"] == 10 and part["since"] == since and part["until"] == until
    assert part["byEvent"] == {"allowed": 8, "approval_requested": 1, "denied": 1}
    assert part["byAgent"]["codex"] == {"approval_requested": 1, "allowed": 4}

    r = ag("log", "summary", "--since", since, "--until", until)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^events\s+10 ", r.stdout, re.M)
    assert re.search(r"^  nuke\s+denied=1$", r.stdout, re.M)
    assert re.search(r"^  codex\s+allowed=4  approval_requested=1$", r.stdout, re.M)


def test_since_and_until_use_the_timestamps(state: Path) -> None:
    stamps = [now_iso(T0 + i) for i in range(8)]
    stamps[5] = "2026-05-28T20:26:45Z"  # no milliseconds: still a timestamp
    stamps[6] = "2026-05-28T20:26:46.000+00:00"
    write_chain(state / "audit.jsonl", ({"event": "allowed", "n": i} for i in range(8)), ts=stamps)
    got = json_lines(ag("log", "--json", "--since", now_iso(T0 + 2), "--until", now_iso(T0 + 6)))
    assert [e["n"] for e in got] == [2, 3, 4, 5, 6]
    got = json_lines(ag("log", "--json", "--since", "2026-05-28T20:26:46.5Z"))
    assert [e["n"] for e in got] == [7]
    r = ag("log", "--since", "yesterday")
    assert r.returncode == 2 and "neither a duration" in r.stderr


def test_summary_of_a_real_approval_cycle(state: Path) -> None:
    r = ag("run", "--json", "--agent", "bot", "--", "deployer", "--prod")
    rid = json.loads(r.stdout)["approvalId"]
    assert ag("approve", rid, "--yes").returncode == 0
    assert ag("run", "--agent", "bot", "--", "deployer", "--prod").returncode == 0
    assert ag("run", "--agent", "bot", "--", "nuke").returncode == 77
    got = json.loads(ag("log", "summary", "--json", "--since", "1h").stdout)
    assert got["byEvent"] == {"approval_requested": 1, "approved": 1, "grant_consumed": 1,
                              "exited": 1, "denied": 1}
    assert got["byRule"] == {"deploy-prod": {"approval_requested": 1, "approved": 1,
                                             "grant_consumed": 1, "exited": 1},
                             "nuke": {"denied": 1}}
    assert got["byAgent"]["bot"]["denied"] == 1


# --------------------------------------------------------------------------- progress bar


def test_progress_bar_only_on_a_terminal_and_only_for_long_reads(state: Path) -> None:
    pad = "x" * 1000
    write_chain(state / "audit.jsonl", ({"event": "allowed", "pad": pad} for _ in range(17_500)))
    assert (state / "audit.jsonl").stat().st_size > 16 * 1024 * 1024

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    p = subprocess.Popen([str(AGENTGATE), "log", "--json", "--event", "denied"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, "no output and no exit within 30 s"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = p.communicate(timeout=30)
    os.close(master)
    assert p.returncode == 0
    assert out == b""
    assert b"reading the audit log" in seen, seen[:400]

    # not a terminal: no bar, and rich is never imported
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: sys.stderr.write(f'RICH={\"rich\" in sys.modules}\\n'))\n"
             "from agentgate.entry import main\n"
             "sys.argv = ['agentgate', 'log', '--json', '--event', 'denied']\n"
             "main()\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, check=False)
    assert r.returncode == 0, r.stderr
    assert "RICH=False" in r.stderr and "reading the audit log" not in r.stderr


# --------------------------------------------------------------------------- CI


def ci_script() -> str:
    doc = (REPO / "docs" / "ci.md").read_text()
    m = re.search(r"<!-- ci-check -->\n```sh\n(.*?)```", doc, re.S)
    assert m, "docs/ci.md lost its marked check step"
    return m.group(1)


def test_the_example_workflow_runs_the_documented_check() -> None:
    workflow = (REPO / "docs" / "github-workflow.example.yml").read_text()
    for line in ci_script().splitlines():
        assert line.strip() in workflow, line


def _ci(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", ci_script()], capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("scenario", ["clean", "denied", "pending", "tampered"])
def test_ci_check_step(scenario: str, state: Path) -> None:
    assert ag("run", "--", "deployer", "build").returncode == 0
    # nobody can approve inside a CI run: any approval request fails the check (docs/ci.md)
    rid = ""
    if scenario != "clean":
        rid = json.loads(ag("run", "--json", "--", "deployer", "--prod").stdout)["approvalId"]
    if scenario in ("denied", "tampered"):
        assert ag("approve", rid, "--yes").returncode == 0
        assert ag("run", "--", "deployer", "--prod").returncode == 0
    if scenario == "denied":
        assert ag("run", "--", "nuke").returncode == 77
    if scenario == "tampered":
        audit = state / "audit.jsonl"
        audit.write_bytes(audit.read_bytes().replace(b'"build"', b'"BUILD"', 1))
    r = _ci(state)
    if scenario == "clean":
        assert r.returncode == 0, r.stdout + r.stderr
        return
    assert r.returncode == 1, r.stdout + r.stderr
    expected = {"denied": "denied commands in this run", "pending": "nobody can approve inside a CI run",
                "tampered": "BROKEN at"}[scenario]
    assert expected in r.stdout + r.stderr
    if scenario == "denied":
        assert json.loads(r.stdout.splitlines()[-1])["argv"] == ["nuke"]
    if scenario == "pending":
        assert rid in r.stdout


# --------------------------------------------------------------------------- ledger history


def test_ledger_json_keeps_recent_finished_requests_and_archives_the_rest(state: Path) -> None:
    """However long the history, the file every decision reads stays small; `show` and the
    error messages still find archived requests until the retention period prunes them."""
    now = [time.time() - 3 * 86400]
    ledger = Ledger(StatePaths(state), clock=lambda: now[0])
    ids = []
    for batch in range((ARCHIVE_KEEP + 50) // 10):
        with ledger.locked() as st:
            for j in range(10):
                req = make_request(fp=f"{batch:032x}{j:032x}", kind="argv", argv=["deployer", "--prod"],
                                   cwd="/", rule="deploy-prod", reason="x", agent="a", now=st.now,
                                   request_ttl=3600)
                st.add(req)
                st.approve(req.id, 60, "human")
                st.consume(st.get(req.id))
                ids.append(req.id)
        now[0] += 60
    doc = json.loads((state / "ledger.json").read_text())
    assert sorted(doc["requests"]) == sorted(ids[50:])
    archived = (state / "ledger-done.jsonl").read_bytes().splitlines()
    assert [json.loads(x)["id"] for x in archived] == ids[:50]

    oldest = ids[0]
    r = ag("show", "--json", oldest)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "consumed"
    r = ag("approve", oldest, "--yes")
    assert r.returncode == 2 and "its grant has been used" in r.stderr

    # a day past the retention period (7 days), a sweep prunes both files
    now[0] = time.time() + 5 * 86400
    with ledger.locked() as st:
        assert st.prune(7 * 86400) == ARCHIVE_KEEP
    assert json.loads((state / "ledger.json").read_text())["requests"] == {}
    assert (state / "ledger-done.jsonl").read_bytes() == b""
    r = ag("show", oldest)
    assert r.returncode == 2 and "no request with id" in r.stderr
