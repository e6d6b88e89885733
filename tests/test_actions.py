"""Action checkpoints with attributes and conditions, through every surface: verify() and
@gated, `agentgate verify --attr`, the MCP tool verify_action; grants bound to the attributes;
the starter policy's action rules. Approvals come from another process, as a human's would."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENTGATE, TEST_POLICY, ag

from agentgate import ApprovalRequired, Denied, gated, verify
from agentgate import policy as pol
from agentgate.errors import UsageError

RULES = """
internal_domains = ["corp.example"]

[[rule]]
id = "big-payment"
decision = "ask"
reason = "Payments over 100 need a human."
actions = ["payment"]
condition = "amount > 100 or amount < 0"
match = ["payment amount=4000 currency=USD vendor=acme", "payment vendor=acme"]
not_match = ["payment amount=100 currency=USD vendor=acme"]

[[rule]]
id = "sanctioned"
decision = "deny"
reason = "Never pay this vendor."
actions = ["payment"]
condition = 'vendor in ["evilcorp"]'
match = ["payment vendor=evilcorp amount=1"]
not_match = ["payment vendor=acme amount=1"]

[[rule]]
id = "mail-out"
decision = "ask"
reason = "Mail outside the company needs a human."
actions = ["send_email"]
condition = "domain(recipient) not in settings.internal_domains"
match = ["send_email recipient=x@else.example"]
not_match = ["send_email recipient=al@corp.example"]

[[rule]]
id = "deploy-bot"
decision = "ask"
reason = "Deploys by anyone but the release bot need a human."
actions = ["deploy_production"]
condition = 'agent != "release-bot" or time not in "Mon-Sun 00:00-24:00 UTC"'
match = ["deploy_production agent=claude"]
not_match = ["deploy_production agent=release-bot time=2026-12-07T10:00"]
"""


def _policy_text() -> str:
    text = TEST_POLICY.format(extra_settings="")
    settings_end = text.index("\n[[rule]]")  # internal_domains goes into [settings]
    head, rules = RULES.split("\n[[rule]]", 1)
    return text[:settings_end] + head + text[settings_end:] + "\n[[rule]]" + rules


pytestmark = pytest.mark.usefixtures("in_tmp_cwd")


@pytest.fixture(autouse=True)
def action_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "actions.toml"
    path.write_text(_policy_text())
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


def approve(rid: str | None) -> None:
    assert rid
    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- verify()


def test_a_grant_covers_these_attributes_only() -> None:
    """Approving 4000 USD to acme allows exactly that once: not 40000, not another vendor, not
    another currency; 4000.0 is the same amount."""
    assert verify("payment", amount=50, currency="USD", vendor="acme").allowed
    first = verify("payment", amount=4000, currency="USD", vendor="acme")
    assert first.approval_required and first.rule == "big-payment"
    assert first.attributes == {"amount": 4000, "currency": "USD", "vendor": "acme"}
    approve(first.approval_id)
    for other in ({"amount": 40000, "currency": "USD", "vendor": "acme"},
                  {"amount": 4000, "currency": "USD", "vendor": "globex"},
                  {"amount": 4000, "currency": "EUR", "vendor": "acme"}):
        r = verify("payment", **other)
        assert not r.allowed and r.approval_required and r.approval_id != first.approval_id, other
    unnamed = verify("payment", amount=4000, currency="USD")  # no vendor: it may be "evilcorp"
    assert not unnamed.allowed and unnamed.decision == "deny" and unnamed.rule == "sanctioned"
    granted = verify("payment", amount=4000.0, vendor="acme", currency="USD")
    assert granted.allowed and granted.via_grant and granted.approval_id == first.approval_id
    again = verify("payment", amount=4000, currency="USD", vendor="acme")
    assert again.approval_required and again.approval_id != first.approval_id


def test_a_missing_or_mistyped_attribute_is_the_strictest_reading() -> None:
    missing = verify("payment", vendor="acme")
    assert missing.approval_required and missing.rule == "big-payment"
    why = json.loads(ag("show", "--json", str(missing.approval_id)).stdout)["reason"]
    assert "'amount'" in why and "fail closed" in why  # what the human reads
    assert verify("payment", amount="50", vendor="acme").approval_required  # a string: not a number
    assert verify("payment", amount=None, vendor="acme").approval_required  # None: left out
    denied = verify("payment", amount=5, vendor="evilcorp")
    assert not denied.allowed and not denied.approval_required and denied.rule == "sanctioned"


def test_conditions_see_the_agent_and_e_mail_domains() -> None:
    assert verify("deploy_production", agent="release-bot").allowed
    assert verify("deploy_production", agent="claude").approval_required
    assert verify("send_email", recipient="al@CORP.example").allowed
    for r in ("x@else.example", "al@corp.example, x@else.example", "al@corp.example.else.example"):
        assert verify("send_email", recipient=r).approval_required, r


def test_attribute_values_must_be_plain() -> None:
    for bad in ({"amount": [1, 2]}, {"amount": {"value": 1}}, {"amount": float("nan")},
                {"amount": b"1"}):
        with pytest.raises(UsageError, match="amount"):
            verify("payment", **bad)
    with pytest.raises(UsageError, match="reserved"):
        verify("payment", time=3)


def test_gated_takes_attributes_from_the_call() -> None:
    paid: list[tuple[float, str]] = []

    @gated("payment", attributes=["amount", "currency", "vendor"])
    def pay(amount: float, vendor: str, currency: str = "USD") -> str:
        paid.append((amount, vendor))
        return "paid"

    assert pay(20, "acme") == "paid"
    with pytest.raises(ApprovalRequired) as held:
        pay(4000, vendor="acme")
    assert paid == [(20, "acme")]
    approve(held.value.approval_id)
    with pytest.raises(ApprovalRequired):
        pay(4000, "acme", currency="EUR")  # another currency: not what was approved
    assert pay(4000, "acme") == "paid"
    with pytest.raises(ApprovalRequired):
        pay(4000, "acme")  # used once
    with pytest.raises(Denied):
        pay(1, "evilcorp")
    assert paid == [(20, "acme"), (4000, "acme")]

    @gated("send_email", attributes={"recipient": "to"}, channel="smtp")
    def mail(to: str, body: str) -> None: ...

    mail("al@corp.example", "hi")
    with pytest.raises(ApprovalRequired) as e:
        mail(to="x@else.example", body="hi")
    assert e.value.result.attributes == {"channel": "smtp", "recipient": "x@else.example"}

    @gated("payment", attributes=lambda order: {"amount": order["total"], "vendor": order["to"]})
    def checkout(order: dict[str, Any]) -> None: ...

    checkout({"total": 10, "to": "acme"})
    with pytest.raises(ApprovalRequired):
        checkout({"total": 1000, "to": "acme"})

    with pytest.raises(UsageError, match="no argument 'amount'"):
        gated("payment", attributes=["amount"])(lambda total: None)


def test_gated_async_takes_attributes_too() -> None:
    @gated("payment", attributes=["amount"], vendor="acme")  # vendor: a constant attribute
    async def pay(amount: int) -> int:
        return amount

    assert asyncio.run(pay(5)) == 5
    with pytest.raises(ApprovalRequired):
        asyncio.run(pay(500))


# --------------------------------------------------------------------------- agentgate verify --attr


def test_cli_verify_attr_blocks_approves_retries(state_dir: Path) -> None:
    args = ["verify", "payment", "acme-corp", "--attr", "amount=4000", "--attr", "currency=USD",
            "--attr", "vendor=acme"]
    r = ag(*args, "--json", "--agent", "ci")
    assert r.returncode == 75, r.stderr
    obj = json.loads(r.stdout)
    assert obj["attributes"] == {"amount": 4000, "currency": "USD", "vendor": "acme"}
    assert obj["rule"] == "big-payment" and obj["resource"] == "acme-corp"
    rid = obj["approvalId"]
    shown = ag("show", rid)
    assert "payment acme-corp amount=4000 currency=USD vendor=acme" in shown.stdout, shown.stdout
    pending = json.loads(ag("pending", "--json").stdout)
    assert any(p["id"] == rid and p["attributes"]["amount"] == 4000 for p in pending), pending
    approve(rid)
    more = ag("verify", "payment", "acme-corp", "--attr", "amount=40000", "--attr", "currency=USD",
              "--attr", "vendor=acme", "--agent", "ci")
    assert more.returncode == 75
    assert ag(*args, "--agent", "ci").returncode == 0  # the agent that asked
    assert ag(*args, "--agent", "ci").returncode == 75
    log = ag("log").stdout
    assert "grant_consumed" in log and "amount=4000 currency=USD vendor=acme" in log
    lines = [json.loads(x) for x in (state_dir / "audit.jsonl").read_text().splitlines()]
    consumed = [x for x in lines if x.get("event") == "grant_consumed"]
    assert consumed[-1]["attributes"] == {"amount": 4000, "currency": "USD", "vendor": "acme"}


def test_cli_attr_values_are_typed() -> None:
    assert ag("verify", "payment", "--attr", "amount=50", "--attr", "vendor=acme").returncode == 0
    assert ag("verify", "payment", "--attr", "amount='50'", "--attr", "vendor=acme").returncode == 75
    assert ag("verify", "payment", "--attr", "amount=-0.5", "--attr", "vendor=acme").returncode == 75
    assert ag("verify", "payment", "--attr", "amount=1e2", "--attr", "vendor=acme").returncode == 0
    assert ag("verify", "payment", "--attr", "amount=1e2").returncode == 77  # vendor unknown
    bad = ag("verify", "payment", "--attr", "amount")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
    twice = ag("verify", "payment", "--attr", "a=1", "--attr", "a=2")
    assert twice.returncode == 2 and "twice" in twice.stderr
    reserved = ag("verify", "payment", "--attr", "agent=x")
    assert reserved.returncode == 2 and "reserved" in reserved.stderr
    assert "--attr" in ag("verify", "--help").stdout


def test_cli_a_bad_condition_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[settings]\ndefault = "allow"\n\n[[rule]]\nid = "p"\ndecision = "ask"\n'
                   'actions = ["payment"]\ncondition = "amount > \'a\'"\n')
    r = ag("verify", "payment", "--attr", "amount=5", env={"AGENTGATE_POLICY": str(bad)})
    assert r.returncode == 78 and "line 8" in r.stderr and "compares numbers" in r.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[settings]\ndefault = "allow"\n\n[[rule]]\nid = "p"\ndecision = "ask"\n'
                     'actions = ["payment"]\ncondition = "amount > 100"\nmatch = ["payment amount=5"]\n')
    r = ag("verify", "payment", env={"AGENTGATE_POLICY": str(wrong)})
    assert r.returncode == 78 and "payment amount=5" in r.stderr


# --------------------------------------------------------------------------- MCP


def test_mcp_verify_action_with_attributes(tmp_path: Path) -> None:
    mcp = pytest.importorskip("mcp")
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    assert AGENTGATE and mcp
    params = StdioServerParameters(command=AGENTGATE, args=["mcp", "--agent", "mcp-client"],
                                   env=dict(os.environ), cwd=os.getcwd())

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()

            async def call(args: dict[str, Any]) -> dict[str, Any]:
                res = await session.call_tool("verify_action", args)
                structured = getattr(res, "structured_content", None) or getattr(
                    res, "structuredContent", None)
                return dict(structured) if structured is not None else dict(
                    json.loads(res.content[0].text))

            order = {"action": "payment", "resource": "acme-corp",
                     "attributes": {"amount": 4000, "currency": "USD", "vendor": "acme"}}
            held = await call(order)
            assert held["approvalRequired"] and held["rule"] == "big-payment", held
            assert held["attributes"] == order["attributes"]
            await asyncio.to_thread(approve, held["approvalId"])
            other = {**order, "attributes": {**order["attributes"], "vendor": "globex"}}
            assert (await call(other))["approvalRequired"]
            done = await call(order)
            assert done["allowed"] and done["approvalId"] == held["approvalId"], done
            assert (await call(order))["approvalRequired"]
            small = {"action": "payment", "attributes": {"amount": 5, "vendor": "acme"}}
            assert (await call(small))["allowed"]
            nested = await call({"action": "payment", "attributes": {"amount": {"usd": 5}}})
            assert not nested["allowed"] and nested["exitCode"] == 2
            assert "strings, numbers or booleans" in nested["reason"]
            mail = await call({"action": "send_email", "attributes": {"recipient": "x@else.example"}})
            assert mail["approvalRequired"] and mail["rule"] == "mail-out"
            assert (await call({"action": "deploy_production"}))["approvalRequired"]  # mcp-client

    asyncio.run(asyncio.wait_for(main(), timeout=90))


# --------------------------------------------------------------------------- the starter policy


def _at(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))  # local time, as the rule reads it


@pytest.fixture
def starter() -> pol.Policy:
    return pol.parse_policy(pol.embedded_policy_text(), pol.EMBEDDED_NAME)


def test_starter_policy_payments_over_100(starter: pol.Policy) -> None:
    def decide(**attrs: Any) -> str:
        return starter.check_action("payment", None, attrs).decision

    assert decide(amount=100, currency="USD", vendor="acme") == "allow"
    assert decide(amount=100.5, currency="USD", vendor="acme") == "ask"
    assert decide(amount=-20, currency="USD", vendor="acme") == "ask"
    assert decide(currency="USD", vendor="acme") == "ask"
    assert starter.check_action("purchase", None, {"amount": 4000}).rule == "purchase-over-100"


def test_starter_policy_mail_outside_the_users_domains(starter: pol.Policy) -> None:
    assert starter.check_action("send_email", None, {"recipient": "al@corp.example"}).decision == "ask"
    mine = pol.Policy.build(pol.Settings(internal_domains=("corp.example",)), starter.rules)
    assert mine.check_action("send_email", None, {"recipient": "al@corp.example"}).decision == "allow"
    assert mine.check_action("send_message", None, {"recipient": "x@else.example"}).decision == "ask"
    assert mine.check_action("send_message", None, {"recipient": "@alice"}).decision == "ask"


def test_starter_policy_deploys_and_the_rest(starter: pol.Policy) -> None:
    monday_10, monday_20, saturday_10 = _at(2026, 12, 7, 10, 0), _at(2026, 12, 7, 20, 0), _at(2026, 12, 5, 10, 0)
    assert starter.check_action("deploy_production", "vercel.com", now=monday_10).decision == "ask"
    for night in (monday_20, saturday_10):
        ev = starter.check_action("deploy_production", "vercel.com", now=night)
        assert ev.decision == "deny" and ev.rule == "deploy-production-after-hours"
    assert starter.check_action("grant_access", None, {"role": "admin", "user": "bob"}).rule == "grant-access"
    assert starter.check_action("drop_database", "db1").decision == "ask"
    assert starter.check_action("read_docs").decision == "allow"


def test_gate_reads_the_clock_for_time_windows(tmp_path: Path) -> None:
    from agentgate.gate import Gate
    from agentgate.paths import StatePaths
    from agentgate.subjects import action_subject

    starter = pol.parse_policy(pol.embedded_policy_text(), pol.EMBEDDED_NAME)
    subject = action_subject("deploy_production", "vercel.com", str(tmp_path))
    paths = StatePaths(str(tmp_path / "st"))
    day = Gate(starter, paths, clock=lambda: _at(2026, 12, 7, 10, 0)).authorize(subject, "t")
    night = Gate(starter, paths, clock=lambda: _at(2026, 12, 7, 23, 0)).authorize(subject, "t")
    assert day.approval_required and night.decision == "deny" and not night.allowed


# --------------------------------------------------------------------------- protected mode's wire


def test_the_service_reads_an_actions_attributes_from_the_wire() -> None:
    """What RemoteGate sends is what the service's _subject builds, attributes checked alike."""
    from agentgate.remote import _subject_dict
    from agentgate.service.server import _subject
    from agentgate.subjects import action_subject

    subject = action_subject("payment", "stripe", "/srv", {"amount": 4000.0, "vendor": "acme"})
    sent = _subject_dict(subject)
    assert sent["attributes"] == {"amount": 4000, "vendor": "acme"}
    got = _subject(json.loads(json.dumps({"subject": sent})))
    assert got == subject and got.fingerprint() == subject.fingerprint()
    for bad in ({**sent, "attributes": {"amount": [1]}}, {**sent, "attributes": "amount=1"},
                {"kind": "argv", "argv": ["ls"], "cwd": "/", "attributes": {"a": 1}}):
        with pytest.raises(UsageError):
            _subject({"subject": bad})
    assert "attributes" not in _subject_dict(action_subject("read_docs", None, "/srv"))
