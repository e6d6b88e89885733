"""Races and locks with real processes: one grant runs once; parallel runs keep state whole."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag, marker_lines

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file", "fake_bin")

DEPLOY = ("deployer", "site", "--prod")


def test_sixteen_retries_of_one_grant_run_it_exactly_once(state_dir: Path, marker: Path) -> None:
    first = ag("run", "--json", "--", *DEPLOY)
    assert first.returncode == 75
    rid = json.loads(first.stdout)["approvalId"]
    assert ag("approve", rid, "--yes").returncode == 0

    procs = [subprocess.Popen([AGENTGATE, "run", "--json", "--", *DEPLOY], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(16)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [75] * 15, [(c, e) for c, _, e in results]
    assert marker_lines(marker) == ["site --prod"]
    new_ids = {json.loads(out)["approvalId"] for code, out, _ in results if code == 75}
    assert len(new_ids) == 1 and rid not in new_ids, new_ids  # one new request, then the same id
    ledger = json.loads((state_dir / "ledger.json").read_text())
    assert ledger["requests"][rid]["status"] == "consumed"
    assert [r["id"] for r in json.loads(ag("pending", "--json").stdout)] == list(new_ids)
    assert len(ag("log", "--json", "--event", "grant_consumed").stdout.splitlines()) == 1
    assert ag("log", "verify").returncode == 0


def test_hundred_parallel_runs_keep_ledger_and_audit_whole(state_dir: Path, marker: Path) -> None:
    jobs: list[tuple[str, ...]] = [("deployer", f"job{i}") for i in range(100)]
    asks = [("deployer", f"ask{i}", "--prod") for i in range(8)]  # 8 distinct requests
    asks += [DEPLOY] * 8  # 8 repeats of one command: a single request
    for n, job in enumerate(asks):  # spread the asks among the allowed runs
        jobs.insert(n * 7, job)

    def one(argv: tuple[str, ...]) -> tuple[int, str]:
        r = ag("run", "--", *argv, timeout=120)
        return r.returncode, r.stderr

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, jobs))

    expected = [75 if j[-1] == "--prod" else 0 for j in jobs]
    wrong = [(j, code, err) for j, want, (code, err) in zip(jobs, expected, results, strict=True)
             if code != want]
    assert wrong == []
    assert sorted(marker_lines(marker)) == sorted(f"job{i}" for i in range(100))

    ledger = json.loads((state_dir / "ledger.json").read_text())
    assert len(ledger["requests"]) == 9
    assert all(r["status"] == "pending" for r in ledger["requests"].values())

    raw = (state_dir / "audit.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    events = [json.loads(line) for line in raw.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["event"] for e in events]
    assert kinds.count("allowed") == 100 and kinds.count("exited") == 100
    assert kinds.count("approval_requested") == 9 and kinds.count("approval_pending") == 7
    verify = ag("log", "verify")
    assert verify.returncode == 0, verify.stderr


def _hold_lock(lock_path: Path, ready: Path) -> subprocess.Popen[bytes]:
    code = ("import sys, time, pathlib\n"
            "from filelock import FileLock\n"
            "lock = FileLock(sys.argv[1])\n"
            "lock.acquire()\n"
            "pathlib.Path(sys.argv[2]).write_text('held')\n"
            "time.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(lock_path), str(ready)])
    deadline = time.monotonic() + 15
    while not ready.exists():
        assert p.poll() is None, "lock holder died"
        assert time.monotonic() < deadline, "lock holder never took the lock"
        time.sleep(0.02)
    return p


def test_held_lock_times_out_with_78_and_a_dead_holder_does_not_block(
        state_dir: Path, tmp_path: Path, marker: Path) -> None:
    state_dir.mkdir()
    held = ag("run", "--json", "--", *DEPLOY)  # a request for deny to find (it reads it first)
    assert held.returncode == 75, held.stderr
    rid = json.loads(held.stdout)["approvalId"]
    holder = _hold_lock(state_dir / "ledger.lock", tmp_path / "held")
    try:
        for argv in (("deployer", "site"), DEPLOY):
            start = time.monotonic()
            r = ag("run", "--", *argv, env={"AGENTGATE_LOCK_TIMEOUT": "1"})
            elapsed = time.monotonic() - start
            assert r.returncode == 78, r.stderr
            assert "lock" in r.stderr
            assert str(state_dir / "ledger.lock") in r.stderr
            assert elapsed < 6, elapsed
        r = ag("deny", "--yes", rid, env={"AGENTGATE_LOCK_TIMEOUT": "1"})
        assert r.returncode == 78, r.stderr
        assert not marker.exists(), "nothing may run without the lock"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)

    r = ag("run", "--", "deployer", "site", env={"AGENTGATE_LOCK_TIMEOUT": "1"})
    assert r.returncode == 0, r.stderr
    assert marker_lines(marker) == ["site"]
