"""The Python checkpoint (`verify`, `@gated`) and `agentgate verify`, against real state on disk.

Approvals always come from another process (`agentgate approve ID --yes`), as a human's would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_POLICY, ag

from agentgate import ApprovalRequired, Denied, gated, verify
from agentgate.errors import AgentgateError

ACTION_RULES = """
[[rule]]
id = "prod-deploy-action"
decision = "ask"
reason = "Production deploys need a human."
actions = ["deploy_production"]
resources = ["vercel.com", "*.prod.example.com"]

[[rule]]
id = "no-wire-transfers"
decision = "deny"
reason = "Wire transfers are never automated."
actions = ["wire_transfer*"]
"""

pytestmark = pytest.mark.usefixtures("in_tmp_cwd")


@pytest.fixture(autouse=True)
def action_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "actions.toml"
    path.write_text(TEST_POLICY.format(extra_settings="") + ACTION_RULES)
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


def approve(rid: str | None) -> None:
    assert rid
    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr


def test_verify_allow_ask_grant_once_deny() -> None:
    assert verify("deploy_staging", "vercel.com").allowed  # no rule: the default, allow
    first = verify("deploy_production", "api.prod.example.com", agent="billing-bot")
    assert not first and first.approval_required and first.approvalRequired
    assert first.approval_id and first.approvalId == first.approval_id
    assert first.rule == "prod-deploy-action"
    assert first.to_dict()["next"] == f"ask a human to run: agentgate approve {first.approval_id}"
    again = verify("deploy_production", "api.prod.example.com", agent="billing-bot")
    assert again.approval_id == first.approval_id and not again.allowed

    approve(first.approval_id)
    granted = verify("deploy_production", "api.prod.example.com", agent="billing-bot")
    assert granted.allowed and granted.via_grant and granted.approval_id == first.approval_id
    after = verify("deploy_production", "api.prod.example.com", agent="billing-bot")
    assert after.approval_required and after.approval_id != first.approval_id

    denied = verify("wire_transfer_eur")
    assert not denied.allowed and not denied.approval_required and denied.decision == "deny"


def test_a_grant_is_the_agent_that_asked_for_it() -> None:
    """Another agent's identical call is a request of its own: it neither reuses the first
    agent's pending request nor uses up its grant, which stays for the agent that asked."""
    mine = verify("deploy_production", "vercel.com", agent="billing-bot")
    theirs = verify("deploy_production", "vercel.com", agent="ops-bot")
    default = verify("deploy_production", "vercel.com")  # the API's own name: "python"
    ids = {mine.approval_id, theirs.approval_id, default.approval_id}
    assert len(ids) == 3 and all(r.approval_required for r in (mine, theirs, default))

    approve(mine.approval_id)
    for agent in ("ops-bot", None):
        held = verify("deploy_production", "vercel.com", agent=agent)
        assert not held.allowed and held.approval_required and not held.via_grant
        assert held.approval_id in ids - {mine.approval_id}
    shown = json.loads(ag("show", "--json", str(mine.approval_id)).stdout)
    assert shown["agent"] == "billing-bot" and shown["status"] == "approved"
    text = ag("show", str(mine.approval_id)).stdout
    assert "agent    billing-bot (pid" in text and "for this agent's retries only" in text, text
    listed = ag("pending").stdout
    assert all(any(i in ln and name in ln for ln in listed.splitlines())
               for i, name in ((theirs.approval_id, "ops-bot"), (default.approval_id, "python"))), listed

    used = verify("deploy_production", "vercel.com", agent="billing-bot")
    assert used.allowed and used.via_grant and used.approval_id == mine.approval_id
    assert verify("deploy_production", "vercel.com", agent="billing-bot").approval_required
    shown = json.loads(ag("show", "--json", str(mine.approval_id)).stdout)
    assert shown["status"] == "consumed"
    consumed = [json.loads(ln) for ln in ag("log", "--json", "--event", "grant_consumed").stdout.splitlines()]
    assert [(e["id"], e["agent"]) for e in consumed] == [(mine.approval_id, "billing-bot")]


def test_a_standing_grant_is_the_asking_agents_and_a_denial_holds_for_every_agent() -> None:
    asked = verify("deploy_production", "vercel.com", agent="billing-bot")
    r = ag("approve", str(asked.approval_id), "--uses", "2", "--yes")
    assert r.returncode == 0, r.stderr
    other = verify("deploy_production", "vercel.com", agent="ops-bot")
    assert other.approval_required and other.approval_id != asked.approval_id
    for _ in range(2):
        assert verify("deploy_production", "vercel.com", agent="billing-bot").via_grant
    assert verify("deploy_production", "vercel.com", agent="billing-bot").approval_required

    held = verify("deploy_production", "api.prod.example.com", agent="billing-bot")
    r = ag("deny", str(held.approval_id), "--reason", "not today", "--yes")
    assert r.returncode == 0, r.stderr
    for agent in ("billing-bot", "ops-bot"):  # another name does not step round a denial
        denied = verify("deploy_production", "api.prod.example.com", agent=agent)
        assert not denied.allowed and not denied.approval_required
        assert denied.approval_id == held.approval_id and "not today" in denied.reason


def test_resource_globs_must_match() -> None:
    assert verify("deploy_production", "staging.example.com").allowed
    assert verify("deploy_production", "vercel.com").approval_required


def test_gated_sync_raises_before_the_body_runs() -> None:
    calls: list[str] = []

    @gated("deploy_production", "vercel.com")
    def deploy(version: str) -> str:
        calls.append(version)
        return f"deployed {version}"

    with pytest.raises(ApprovalRequired) as blocked:
        deploy("v1")
    assert calls == [] and blocked.value.approval_id
    assert blocked.value.exit_code == 75 and deploy.__name__ == "deploy"
    approve(blocked.value.approval_id)
    assert deploy("v1") == "deployed v1" and calls == ["v1"]
    with pytest.raises(ApprovalRequired):
        deploy("v1")
    assert calls == ["v1"]

    @gated("wire_transfer")
    def pay() -> None:
        calls.append("paid")

    with pytest.raises(Denied) as no:
        pay()
    assert no.value.exit_code == 77 and "never automated" in str(no.value)
    assert calls == ["v1"]


def test_gated_async() -> None:
    calls: list[int] = []

    @gated("deploy_production", "vercel.com", agent="async-bot")
    async def deploy(n: int) -> int:
        calls.append(n)
        await asyncio.sleep(0)
        return n * 2

    with pytest.raises(ApprovalRequired) as blocked:
        asyncio.run(deploy(21))
    assert calls == []
    approve(blocked.value.approval_id)
    assert asyncio.run(deploy(21)) == 42 and calls == [21]
    with pytest.raises(ApprovalRequired):
        asyncio.run(deploy(21))

    @gated("anything_else")
    async def fine() -> str:
        return "ok"

    assert asyncio.run(fine()) == "ok"


def test_broken_policy_raises_never_allows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[settings]\ndefault = 'sometimes'\n")
    with pytest.raises(AgentgateError) as err:
        verify("deploy_staging", policy=bad)
    assert err.value.exit_code == 78
    with pytest.raises(AgentgateError):
        verify("")


def test_import_agentgate_stays_light() -> None:
    code = ("import sys, agentgate; print(sorted(m for m in ('agentgate.api', 'agentgate.gate', "
            "'typer', 'rich') if m in sys.modules)); from agentgate import verify, gated; "
            "print(callable(verify) and callable(gated))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "True"]


# --------------------------------------------------------------------------- agentgate verify


def test_cli_verify_exit_codes_and_json() -> None:
    r = ag("verify", "--json", "deploy_production", "vercel.com", "--agent", "ci")
    assert r.returncode == 75
    obj = json.loads(r.stdout)
    assert obj["approvalRequired"] and obj["action"] == "deploy_production"
    assert obj["resource"] == "vercel.com" and obj["rule"] == "prod-deploy-action"
    assert "agentgate approve" in r.stderr
    approve(obj["approvalId"])
    ok = ag("verify", "deploy_production", "vercel.com", "--agent", "ci")
    assert ok.returncode == 0 and ok.stdout == ""
    assert ag("verify", "deploy_production", "vercel.com", "--agent", "ci").returncode == 75
    assert ag("verify", "wire_transfer").returncode == 77
    assert ag("verify", "deploy_staging").returncode == 0
    shown = json.loads(ag("show", "--json", obj["approvalId"]).stdout)
    assert shown["agent"] == "ci" and shown["status"] == "consumed"


def test_cli_verify_retry_by_another_agent_is_held_and_keeps_the_grant() -> None:
    asked = json.loads(ag("verify", "--json", "deploy_production", "vercel.com", "--agent", "ci").stdout)
    approve(asked["approvalId"])
    for other in (["--agent", "deploy-bot"], [], ["--agent", "CI"]):  # no --agent: "unknown"
        r = ag("verify", "--json", "deploy_production", "vercel.com", *other)
        assert r.returncode == 75, r.stderr
        assert json.loads(r.stdout)["approvalId"] != asked["approvalId"]
    by_env = ag("verify", "--json", "deploy_production", "vercel.com", env={"AGENTGATE_AGENT": "ci"})
    assert by_env.returncode == 0 and json.loads(by_env.stdout)["approvalId"] == asked["approvalId"]
    assert json.loads(ag("show", "--json", asked["approvalId"]).stdout)["status"] == "consumed"


def test_cli_verify_config_error_is_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("not toml ===")
    r = ag("verify", "--json", "deploy_staging", env={"AGENTGATE_POLICY": str(bad)})
    assert r.returncode == 78 and json.loads(r.stdout)["allowed"] is False
