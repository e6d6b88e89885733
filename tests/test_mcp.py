"""`agentgate mcp` driven through the official SDK's stdio client, as an MCP client would.

One server per test (start-up costs most of the time); approvals come from another process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENTGATE, TEST_POLICY, ag, marker_lines

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "fake_bin")

ACTION_RULE = """
[[rule]]
id = "prod-deploy-action"
decision = "ask"
reason = "Production deploys need a human."
actions = ["deploy_production"]
resources = ["vercel.com"]
"""

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


@pytest.fixture(autouse=True)
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(TEST_POLICY.format(extra_settings="") + ACTION_RULE)
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


def _payload(result: Any) -> dict[str, Any]:
    """The tool's JSON object, from structured content (mcp >= 1.10) or the text block."""
    is_error = getattr(result, "is_error", None) or getattr(result, "isError", False)
    assert not is_error, result
    structured = getattr(result, "structured_content", None) or getattr(
        result, "structuredContent", None)
    if structured is not None:
        return dict(structured)
    return dict(json.loads(result.content[0].text))


def with_server(cwd: Path, body: Callable[[ClientSession, Call], Awaitable[None]]) -> None:
    assert AGENTGATE
    params = StdioServerParameters(command=AGENTGATE, args=["mcp", "--agent", "test-client"],
                                   env=dict(os.environ), cwd=str(cwd))

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()

            async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
                return _payload(await session.call_tool(name, args))

            await body(session, call)

    asyncio.run(asyncio.wait_for(main(), timeout=60))


def approve(rid: str) -> None:
    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr


def test_an_unnamed_server_names_each_client_and_binds_grants_to_it(in_tmp_cwd: Path,
                                                                    marker: Path) -> None:
    """Without --agent or AGENTGATE_AGENT the agent is the client's own name from the
    handshake, so two MCP clients' identical commands are two requests, and one client's grant
    is used by that client only."""
    from mcp import types

    assert AGENTGATE
    env = {k: v for k, v in os.environ.items() if k != "AGENTGATE_AGENT"}
    params = StdioServerParameters(command=AGENTGATE, args=["mcp"], env=env, cwd=str(in_tmp_cwd))

    async def as_client(name: str, command: str) -> dict[str, Any]:
        info = types.Implementation(name=name, version="1.0")
        async with stdio_client(params) as (read, write), \
                ClientSession(read, write, client_info=info) as session:
            await session.initialize()
            return _payload(await session.call_tool("run_command", {"command": command}))

    def run(name: str) -> dict[str, Any]:
        return asyncio.run(asyncio.wait_for(as_client(name, "deployer site --prod"), timeout=60))

    first = run("claude-code")
    assert first["approvalRequired"]
    approve(first["approvalId"])
    other = run("codex")
    assert other["approvalRequired"] and other["approvalId"] != first["approvalId"]
    assert marker_lines(marker) == []
    agents = {r["id"]: r["agent"] for r in json.loads(ag("pending", "--json").stdout)}
    assert agents == {other["approvalId"]: "mcp:codex"}
    shown = json.loads(ag("show", "--json", first["approvalId"]).stdout)
    assert shown["agent"] == "mcp:claude-code" and shown["status"] == "approved"
    again = run("claude-code")
    assert again["allowed"] and again["approvalId"] == first["approvalId"]
    assert marker_lines(marker) == ["site --prod"]


def test_tools_run_block_approve_retry(in_tmp_cwd: Path, marker: Path) -> None:
    async def body(session: ClientSession, call: Call) -> None:
        tools = {t.name for t in (await session.list_tools()).tools}
        assert tools == {"run_command", "verify_action", "approval_status", "wait_for_approval"}
        assert not any("approve" in t or "deny" in t for t in tools)

        out = await call("run_command", {"command": ["echo", "hello", "$HOME"]})
        assert out["allowed"] and out["exitCode"] == 0 and out["stdout"] == "hello $HOME\n"
        out = await call("run_command", {"command": "echo a && echo b >&2; exit 3"})
        assert (out["stdout"], out["stderr"], out["exitCode"]) == ("a\n", "b\n", 3)

        blocked = await call("run_command", {"command": "deployer site --prod"})
        assert blocked["approvalRequired"] and not blocked["allowed"]
        rid = blocked["approvalId"]
        assert f"agentgate approve {rid}" in blocked["message"] and "stdout" not in blocked
        assert marker_lines(marker) == []
        assert (await call("approval_status", {"id": rid}))["status"] == "pending"

        approve(rid)  # out of band, by a human
        status = await call("approval_status", {"id": rid})
        assert status["status"] == "approved" and status["agent"] == "test-client"
        ran = await call("run_command", {"command": "deployer site --prod"})
        assert ran["allowed"] and ran["exitCode"] == 0 and ran["approvalId"] == rid
        assert marker_lines(marker) == ["site --prod"]
        again = await call("run_command", {"command": "deployer site --prod"})
        assert again["approvalRequired"] and again["approvalId"] != rid
        assert (await call("approval_status", {"id": rid}))["status"] == "consumed"
        assert marker_lines(marker) == ["site --prod"]

        denied = await call("run_command", {"command": ["nuke", "it"]})
        assert not denied["allowed"] and not denied["approvalRequired"]
        assert denied["rule"] == "nuke" and marker_lines(marker) == ["site --prod"]

    with_server(in_tmp_cwd, body)


def test_output_bounds_errors_and_verify_action(in_tmp_cwd: Path, tmp_path: Path) -> None:
    async def body(session: ClientSession, call: Call) -> None:
        big = await call("run_command", {"command": [
            sys.executable, "-c", "import sys; sys.stdout.write('x' * 300000 + 'END')"]})
        assert big["stdoutTruncated"] and not big["stderrTruncated"]
        assert len(big["stdout"]) < 70_000 and big["stdout"].endswith("END")
        assert "bytes truncated" in big["stdout"]

        missing = await call("run_command", {"command": ["no-such-program-xyz"]})
        assert missing["exitCode"] == 127 and "not found" in missing["error"]
        sub = tmp_path / "sub"
        sub.mkdir()
        where = await call("run_command", {"command": "pwd", "cwd": str(sub)})
        assert where["stdout"].strip() == str(sub.resolve())
        bad_cwd = await call("run_command", {"command": "pwd", "cwd": str(tmp_path / "nope")})
        assert not bad_cwd["allowed"] and "not a directory" in bad_cwd["reason"]
        selfish = await call("run_command", {"command": "agentgate approve apr_x --yes"})
        assert not selfish["allowed"] and selfish["rule"] == "agentgate-self-approval"

        checked = await call("verify_action", {"action": "deploy_production",
                                               "resource": "vercel.com"})
        assert checked["approvalRequired"] and checked["approvalId"].startswith("apr_")
        approve(checked["approvalId"])
        granted = await call("verify_action", {"action": "deploy_production",
                                               "resource": "vercel.com"})
        assert granted["allowed"]
        assert (await call("verify_action", {"action": "deploy_production",
                                             "resource": "vercel.com"}))["approvalRequired"]
        assert (await call("verify_action", {"action": "read_docs"}))["allowed"]
        assert (await call("approval_status", {"id": "apr_nope"}))["status"] == "unknown"

    with_server(in_tmp_cwd, body)


def test_broken_policy_blocks_every_run(in_tmp_cwd: Path, policy: Path, marker: Path,
                                       state_dir: Path) -> None:
    async def body(session: ClientSession, call: Call) -> None:
        policy.write_text("this is = = not toml")
        out = await call("run_command", {"command": ["deployer", "--preview"]})
        assert not out["allowed"] and out["exitCode"] == 78
        assert marker_lines(marker) == []
        assert not (await call("verify_action", {"action": "read_docs"}))["allowed"]

    with_server(in_tmp_cwd, body)
    # each refusal made while failing closed is in the audit log, with the fix for the human
    lines = (state_dir / "audit.jsonl").read_text().splitlines()
    blocked = [e for e in map(json.loads, lines) if e["event"] == "blocked"]
    assert [e["argv"] for e in blocked] == [["deployer", "--preview"], ["read_docs"]]
    assert all(e["agent"] == "test-client" and "TOML" in e["error"] and "Fix:" in e["error"]
               for e in blocked)


def test_a_bug_in_a_tool_is_a_refusal_and_logged(in_tmp_cwd: Path, marker: Path, state_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception inside the gate (the test-only fault ``raise``): nothing runs, the
    answer says so with exit 70, and the traceback is in the error log."""
    monkeypatch.setenv("AGENTGATE_TEST_HOOKS", "1")
    monkeypatch.setenv("AGENTGATE_TEST_FAULT", "audit.write:raise")

    async def body(session: ClientSession, call: Call) -> None:
        out = await call("run_command", {"command": ["deployer", "site"]})
        assert not out["allowed"] and out["exitCode"] == 70 and out["error"] == "internal_error"
        assert "RuntimeError: test fault at audit.write" in out["reason"]
        assert out["hint"] == f"details in {state_dir / 'errors.log'}"
        verified = await call("verify_action", {"action": "deploy_staging"})
        assert not verified["allowed"] and verified["exitCode"] == 70
        assert marker_lines(marker) == []

    with_server(in_tmp_cwd, body)
    assert (state_dir / "errors.log").read_text().count("Traceback") == 2


def test_approval_status_says_expired_as_the_gate_would(
        in_tmp_cwd: Path, tmp_path: Path, policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request past its TTL, and a grant approved on another boot (which the gate no longer
    honours), are both reported expired."""
    async def on_another_boot(session: ClientSession, call: Call) -> None:
        rid = (await call("run_command", {"command": "deployer b --prod"}))["approvalId"]
        other_boot = {"AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": "boot:id=another-boot"}
        r = ag("approve", rid, "--yes", env=other_boot)
        assert r.returncode == 0, r.stderr
        status = await call("approval_status", {"id": rid})
        assert status["status"] == "expired" and status["next"] is None
        assert not (await call("run_command", {"command": "deployer b --prod"}))["allowed"]

    with_server(in_tmp_cwd, on_another_boot)

    short = tmp_path / "short.toml"
    short.write_text(TEST_POLICY.format(extra_settings='request_ttl = "1s"'))
    monkeypatch.setenv("AGENTGATE_POLICY", str(short))

    async def past_its_ttl(session: ClientSession, call: Call) -> None:
        rid = (await call("run_command", {"command": "deployer a --prod"}))["approvalId"]
        assert (await call("approval_status", {"id": rid}))["status"] == "pending"
        await asyncio.sleep(1.2)
        assert (await call("approval_status", {"id": rid}))["status"] == "expired"

    with_server(in_tmp_cwd, past_its_ttl)


def test_mcp_without_the_sdk_exits_78() -> None:
    code = ("import sys; sys.modules['mcp'] = None; sys.argv = ['agentgate', 'mcp']; "
            "from agentgate.entry import main; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 78, r.stderr
    assert "pip install '.[mcp]'" in r.stderr and r.stdout == ""  # the extra, as README installs it


def test_run_command_keeps_a_grant_when_exec_would_fail(in_tmp_cwd: Path, fake_bin: Path,
                                                        marker: Path) -> None:
    """run_command asks the runner's check before a grant is used up, as `agentgate run` does:
    a program that execve refuses (here a script without a #! line) answers 126, nothing
    runs and the grant stays approved; the same grant runs it once it can start."""
    deployer = fake_bin / "deployer"
    script = deployer.read_text()
    deployer.write_text(script.split("\n", 1)[1])  # the #! line gone: an exec format error

    async def body(session: ClientSession, call: Call) -> None:
        rid = (await call("run_command", {"command": ["deployer", "site", "--prod"]}))["approvalId"]
        approve(rid)
        for _ in range(2):
            out = await call("run_command", {"command": ["deployer", "site", "--prod"]})
            assert not out["allowed"] and out["exitCode"] == 126, out
            assert out["error"] == "cannot_start" and "exec format error" in out["reason"]
            assert f"grant {rid} is kept" in out["hint"] and "stdout" not in out
            assert (await call("approval_status", {"id": rid}))["status"] == "approved"
        deployer.write_text(script)
        ran = await call("run_command", {"command": ["deployer", "site", "--prod"]})
        assert ran["allowed"] and ran["exitCode"] == 0 and ran["approvalId"] == rid
        assert (await call("approval_status", {"id": rid}))["status"] == "consumed"
        assert marker_lines(marker) == ["site --prod"]

    with_server(in_tmp_cwd, body)


def test_a_regex_too_slow_to_answer_is_stopped_by_the_budget(tmp_path: Path, policy: Path,
                                                             marker: Path, fake_bin: Path) -> None:
    """The server decides in its main thread, where the policy's CPU budget for regexes can be
    armed: a rule regex that would take hours (`.*.*.*.*X` on 3,000 characters passes every
    static check) is stopped and counts as matching, so the call is denied within seconds."""
    policy.write_text(policy.read_text() + '\n[[rule]]\nid = "slow"\ndecision = "deny"\n'
                      'reason = "No X."\nregex = [".*.*.*.*X"]\n')
    long_arg = "a" * 3_000
    start = time.monotonic()

    async def body(session: ClientSession, call: Call) -> None:
        out = await call("run_command", {"command": ["deployer", long_arg]})
        assert out["allowed"] is False and out["rule"] == "slow", out
        assert "ran out of time" in out["reason"]
        out = await call("run_command", {"command": "deployer site"})
        assert out["allowed"] is True and out["exitCode"] == 0, out  # a short one is answered

    with_server(tmp_path, body)
    assert time.monotonic() - start < 30
    assert marker_lines(marker) == ["site"]
