"""Waiting instead of stalling (agentgate.waiting): `run --wait`, a hook installed with `--wait`,
end to end through the installed console script, with the human deciding from another process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENTGATE, ag, marker_lines

from agentgate.errors import UsageError
from agentgate.waiting import wait_seconds

DEPLOY = ("deployer", "site", "--prod")
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file", "fake_bin")


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    assert AGENTGATE
    return subprocess.Popen([AGENTGATE, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def pending_id(timeout: float = 10.0) -> str:
    """The id of the one pending request, once the waiting process has opened it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = ag("pending", "--json")
        if res.returncode == 0 and json.loads(res.stdout):
            found: list[dict[str, str]] = json.loads(res.stdout)
            assert len(found) == 1
            return found[0]["id"]
        time.sleep(0.05)
    raise AssertionError("no request was opened")


def finish(proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_approved_from_another_process_runs_the_command_once_and_quickly(marker: Path) -> None:
    proc = start("run", "--wait=30s", "--", *DEPLOY)
    rid = pending_id()
    time.sleep(0.3)
    assert proc.poll() is None and marker_lines(marker) == []  # held, waiting, nothing ran
    approved = ag("approve", "--yes", rid)
    assert approved.returncode == 0, approved.stderr
    decided = time.monotonic()
    code, _, err = finish(proc)
    woke = time.monotonic() - decided
    assert code == 0, err
    assert marker_lines(marker) == ["site --prod"]  # exactly once
    assert woke < 1.5  # within a second of the decision (the poll is 0.2 s), plus the run itself
    assert f"allowed once by approved grant {rid}" in err
    again = ag("run", "--", *DEPLOY)  # the grant was used by the waiting run
    assert again.returncode == 75
    assert marker_lines(marker) == ["site --prod"]


def test_denied_exits_77_with_the_humans_reason(marker: Path) -> None:
    proc = start("run", "--wait=30s", "--", *DEPLOY)
    rid = pending_id()
    denied = ag("deny", "--yes", rid, "--reason", "not on a Friday")
    if denied.returncode == 2 and "--yes" in denied.stderr:  # a deny without confirmation
        denied = ag("deny", rid, "--reason", "not on a Friday")
    assert denied.returncode == 0, denied.stderr
    code, _, err = finish(proc)
    assert code == 77
    assert "DENIED by a human: not on a Friday" in err
    assert marker_lines(marker) == []


def test_no_decision_within_the_wait_exits_75_as_without_it(marker: Path) -> None:
    began = time.monotonic()
    res = ag("run", "--wait=1s", "--", *DEPLOY)
    took = time.monotonic() - began
    assert res.returncode == 75
    assert "approval required" in res.stderr and "agentgate approve apr_" in res.stderr
    assert 1.0 <= took < 5.0
    assert marker_lines(marker) == []
    assert "waiting for a human" not in res.stderr  # no status line without a terminal


def test_without_wait_a_held_command_still_exits_at_once(marker: Path) -> None:
    began = time.monotonic()
    res = ag("run", "--", *DEPLOY)
    assert res.returncode == 75 and time.monotonic() - began < 5.0


def test_wait_never_delays_what_the_policy_decides_alone(marker: Path) -> None:
    assert ag("run", "--wait=30s", "--", "deployer", "site").returncode == 0  # allowed
    res = ag("run", "--wait=30s", "--", "nuke", "everything")  # denied by a rule
    assert res.returncode == 77
    assert marker_lines(marker) == ["site"]


@pytest.mark.parametrize("spelling", [["--wait", "--"], ["--wait", "20s", "--"], ["--wait=20s"]])
def test_wait_spellings(spelling: list[str], marker: Path) -> None:
    """`--wait` alone (before --), `--wait 20s` and `--wait=20s` as click reads them."""
    proc = start("run", *spelling, *DEPLOY)
    rid = pending_id()
    assert ag("approve", "--yes", rid).returncode == 0
    code, _, err = finish(proc)
    assert code == 0, err
    assert marker_lines(marker) == ["site --prod"]


def test_a_bad_duration_is_a_usage_error_and_nothing_is_recorded(marker: Path) -> None:
    res = ag("run", "--wait", "deployer", "site")  # `deployer` read as the duration, as click does
    assert res.returncode == 2
    assert "--wait" in res.stderr and "--wait=30s" in res.stderr
    assert json.loads(ag("pending", "--json").stdout) == []


def test_wait_seconds_reads_durations_and_numbers() -> None:
    assert wait_seconds("30s") == 30 and wait_seconds("1h30m") == 5400 and wait_seconds("2.5") == 2.5
    for bad in ("", "0", "soon", "-5", "30x", "8d"):
        with pytest.raises(UsageError):
            wait_seconds(bad)


# --------------------------------------------------------------------------- hooks


def claude_call(command: str, cwd: Path) -> str:
    return json.dumps({"tool_name": "Bash", "tool_input": {"command": command}, "cwd": str(cwd),
                       "session_id": "s", "hook_event_name": "PreToolUse"})


def test_a_hook_with_wait_answers_allow_once_the_human_approves(in_tmp_cwd: Path) -> None:
    assert AGENTGATE
    proc = subprocess.Popen([AGENTGATE, "hook", "claude-code", "--wait", "30s"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdin is not None
    proc.stdin.write(claude_call("deployer site --prod", in_tmp_cwd))
    proc.stdin.close()
    rid = pending_id()
    assert ag("approve", "--yes", rid).returncode == 0
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.wait(timeout=20) == 0
    decision = json.loads(out)["hookSpecificOutput"]
    assert decision["permissionDecision"] == "allow"
    assert rid in decision["permissionDecisionReason"]


def test_a_hook_with_wait_denies_when_the_wait_runs_out(in_tmp_cwd: Path) -> None:
    res = ag("hook", "claude-code", "--wait", "1s",
             input=claude_call("deployer site --prod", in_tmp_cwd))
    assert res.returncode == 0
    decision = json.loads(res.stdout)["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny"
    assert "agentgate approve apr_" in decision["permissionDecisionReason"]


def test_hook_install_wait_sets_the_agents_timeout_above_the_wait(in_tmp_cwd: Path) -> None:
    res = ag("hook", "install", "claude-code", "--wait", "50s")
    assert res.returncode == 0, res.stderr
    settings = json.loads((in_tmp_cwd / ".claude" / "settings.json").read_text())
    hook = settings["hooks"]["PreToolUse"][0]["hooks"][0]
    assert " hook claude-code" in hook["command"] and hook["command"].endswith(" --wait=50s")
    assert hook["timeout"] == 65
    res = ag("hook", "install", "gemini", "--wait", "1m")
    assert res.returncode == 0, res.stderr
    gemini = json.loads((in_tmp_cwd / ".gemini" / "settings.json").read_text())
    ghook = gemini["hooks"]["BeforeTool"][0]["hooks"][0]
    assert ghook["command"].endswith("--wait=60s") and ghook["timeout"] == 75_000  # milliseconds
    # installed again with another wait: the same entry changes, no second one
    assert ag("hook", "install", "claude-code", "--wait", "2m").returncode == 0
    settings = json.loads((in_tmp_cwd / ".claude" / "settings.json").read_text())
    [entry] = settings["hooks"]["PreToolUse"]
    assert entry["hooks"][0]["command"].endswith("--wait=120s")
    assert entry["hooks"][0]["timeout"] == 135


def test_hook_install_refuses_a_wait_longer_than_agents_allow(in_tmp_cwd: Path) -> None:
    res = ag("hook", "install", "codex", "--wait", "20m")
    assert res.returncode == 2
    assert "at most 585s" in res.stderr
    assert not (in_tmp_cwd / ".codex" / "hooks.json").exists()


# --------------------------------------------------------------------------- MCP


def with_mcp(cwd: Path, body: Callable[[Call], Awaitable[None]]) -> None:
    """`agentgate mcp` through the official SDK's stdio client (see tests/test_mcp.py)."""
    mcp = pytest.importorskip("mcp")
    from mcp.client.stdio import stdio_client

    assert AGENTGATE
    params = mcp.StdioServerParameters(command=AGENTGATE, args=["mcp", "--agent", "mcp-client"],
                                       env=dict(os.environ), cwd=str(cwd))

    async def main() -> None:
        async with stdio_client(params) as (read, write), mcp.ClientSession(read, write) as session:
            await session.initialize()

            async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
                result = await session.call_tool(name, args)
                assert not (getattr(result, "isError", False) or getattr(result, "is_error", False))
                structured = getattr(result, "structuredContent", None)
                return dict(structured) if structured else dict(json.loads(result.content[0].text))

            await body(call)

    asyncio.run(asyncio.wait_for(main(), timeout=90))


def test_mcp_run_command_with_a_wait_runs_once_when_approved(in_tmp_cwd: Path,
                                                              marker: Path) -> None:
    async def body(call: Call) -> None:
        task = asyncio.ensure_future(call("run_command", {"command": "deployer site --prod",
                                                          "wait_seconds": 30}))
        rid = await asyncio.to_thread(pending_id)
        await asyncio.sleep(0.3)
        assert not task.done() and marker_lines(marker) == []
        assert (await asyncio.to_thread(ag, "approve", "--yes", rid)).returncode == 0
        ran = await asyncio.wait_for(task, 10)
        assert ran["allowed"] and ran["exitCode"] == 0 and ran["approvalId"] == rid
        assert marker_lines(marker) == ["site --prod"]

        held = await call("run_command", {"command": "deployer site --prod", "wait_seconds": 1})
        assert held["approvalRequired"] and not held["allowed"]  # the wait ran out: still held
        assert marker_lines(marker) == ["site --prod"]

    with_mcp(in_tmp_cwd, body)


def test_mcp_wait_for_approval_returns_the_decision_and_approves_nothing(
        in_tmp_cwd: Path, marker: Path) -> None:
    async def body(call: Call) -> None:
        blocked = await call("run_command", {"command": "deployer site --prod"})
        rid = blocked["approvalId"]
        began = time.monotonic()
        still = await call("wait_for_approval", {"id": rid, "timeout_seconds": 1})
        assert still["status"] == "pending" and time.monotonic() - began >= 1.0
        task = asyncio.ensure_future(call("wait_for_approval", {"id": rid,
                                                                "timeout_seconds": 30}))
        await asyncio.sleep(0.5)
        deny = await asyncio.to_thread(ag, "deny", rid, "--yes", "--reason", "no")
        if deny.returncode == 2:  # a deny without the confirmation option
            deny = await asyncio.to_thread(ag, "deny", rid, "--reason", "no")
        assert deny.returncode == 0, deny.stderr
        decided = await asyncio.wait_for(task, 10)
        assert decided["status"] == "denied" and decided["humanReason"] == "no"
        assert marker_lines(marker) == []

    with_mcp(in_tmp_cwd, body)


def test_a_terminal_gets_one_status_line_while_it_waits(marker: Path) -> None:
    """On a terminal (stderr a pty), one line, rewritten in place, says what to run and the time
    left; it is cleared once the human decided."""
    import pty
    import select

    assert AGENTGATE
    master, slave = pty.openpty()
    proc = subprocess.Popen([AGENTGATE, "run", "--wait=30s", "--", *DEPLOY],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""

    def read_for(seconds: float, until: bytes | None = None) -> None:
        nonlocal seen
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (until is None or until not in seen):
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # the other end closed
                    return

    try:
        rid = pending_id()
        status = f"\ragentgate: waiting for a human: agentgate approve {rid}, ".encode()
        read_for(10, status)
        assert status in seen and b"s left" in seen
        assert b"\n" not in seen.split(status)[0]  # nothing but the status line before it
        assert ag("approve", "--yes", rid).returncode == 0
        assert proc.wait(timeout=20) == 0
        read_for(1)
        assert b"\r\x1b[K" in seen and f"allowed once by approved grant {rid}".encode() in seen
    finally:
        os.close(master)
    assert marker_lines(marker) == ["site --prod"]


@pytest.mark.parametrize(("argv", "want"), [
    (["run", "--wait", "--", "x"], True), (["run", "--wait=5s", "--", "x"], "5s"),
    (["run", "--wait", "5s", "x"], "5s"), (["run", "--wait", "--agent", "a", "x"], True),
    (["run", "--", "x"], None)])
def test_the_typer_app_reads_wait_as_the_fast_path_does(
        argv: list[str], want: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentgate import cli, hotpath
    from agentgate.entry import parse_fast_run

    seen: list[object] = []

    def fake_run(cmd: list[str], **kw: object) -> int:
        seen.append(kw["wait"])
        return 0

    monkeypatch.setattr(hotpath, "run_command", fake_run)
    assert cli.run_app(argv) == 0
    fast = parse_fast_run(argv)
    assert fast is not None
    assert seen == [want] and fast.wait == want
