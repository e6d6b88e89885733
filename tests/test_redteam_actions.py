"""Red team of action checkpoints (issue 14): an agent that wants a $4,000 payment, an external
e-mail or a production deploy through without a human, or one approval reused for another
action. Each test runs the real thing (verify(), the installed `agentgate` in subprocesses,
the MCP server) against the starter policy with state in a temp dir; approvals come from
another process, as a human's would."""

from __future__ import annotations

import asyncio
import enum
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENTGATE, ag

from agentgate import policy as pol
from agentgate import verify
from agentgate.policy import conditions

pytestmark = pytest.mark.usefixtures("in_tmp_cwd")

NIGHT_DENY = """

[[rule]]
id = "no-deploy-now"
decision = "deny"
reason = "Not in these hours (machine time)."
actions = ["deploy_now"]
condition = "time in '{window} local'"
"""


@pytest.fixture(autouse=True)
def starter_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The starter policy, with example.com as the user's own domain."""
    text = pol.embedded_policy_text().decode()
    text = text.replace("[settings]\n", '[settings]\ninternal_domains = ["example.com"]\n', 1)
    path = tmp_path / "starter.toml"
    path.write_text(text)
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


def approve(rid: str | None) -> None:
    assert rid
    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr


def cli_verify(*args: str, env: dict[str, str | None] | None = None) -> dict[str, Any]:
    r = ag("verify", *args, "--json", env=env)
    assert r.stdout, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    out["rc"] = r.returncode
    return out


# --------------------------------------------------------------------------- amounts


class Gentle(int):
    """An amount type whose comparisons always say no (a tool's own Money(int), an IntEnum)."""

    def __gt__(self, other: object) -> bool:
        return False

    def __lt__(self, other: object) -> bool:
        return False


class AnyVendor(str):
    """A string type that equals everything (a case-insensitive str, done badly)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


class Currency(str, enum.Enum):  # noqa: UP042 (str() is 'Currency.USD', the value is 'USD')
    USD = "USD"


def test_an_int_subclass_cannot_answer_amount_over_100() -> None:
    """Finding: Gentle(4000) was allowed (its own > said False); attributes are exact types."""
    r = verify("payment", amount=Gentle(4000), currency=Currency.USD, vendor=AnyVendor("acme"))
    assert r.approval_required and r.rule == "purchase-over-100", r
    assert r.attributes == {"amount": 4000, "currency": "USD", "vendor": "acme"}
    assert [type(v) for v in r.attributes.values()] == [int, str, str]
    approve(r.approval_id)
    # the grant is for the plain values: the same call with plain types uses it
    assert verify("payment", amount=4000, currency="USD", vendor="acme").via_grant


def test_a_str_subclass_cannot_answer_membership(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding: `vendor in [...]` compared with the subclass's own __eq__ (reflected first)."""
    path = tmp_path / "allow-list.toml"
    path.write_text('version = 1\n[settings]\ndefault = "ask"\n\n[[rule]]\nid = "known-vendors"\n'
                    'decision = "allow"\nactions = ["payment"]\n'
                    "condition = 'vendor in [\"acme\"] and amount <= 100'\n")
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    assert verify("payment", vendor="acme", amount=5).allowed
    r = verify("payment", vendor=AnyVendor("evilcorp"), amount=5)
    assert not r.allowed and r.approval_required, r


@pytest.mark.parametrize("word", ["4000", "4e3", "4000.0", "1e6", "-5", "true", "'4000'",
                                  " 4000", "4000 ", "0x10", "inf", "nan", "1e309", "4_000",
                                  "\uff14\uff10\uff10\uff10", "+4000", "04000", ""])
def test_cli_amount_words_over_100_or_not_a_number_are_held(word: str) -> None:
    """Whatever --attr amount=WORD becomes (a number over 100, a negative, a string, a
    boolean), payment is held: only a plain number in [0, 100] passes."""
    out = cli_verify("payment", "--attr", f"amount={word}", "--attr", "currency=USD")
    assert out["approvalRequired"] and out["rule"] == "purchase-over-100", (word, out)


@pytest.mark.parametrize("word", ["100", "0", "-0", "99.99", "1e2", "100.0"])
def test_cli_amounts_up_to_100_pass(word: str) -> None:
    assert cli_verify("payment", "--attr", f"amount={word}")["allowed"], word


def test_an_approval_binds_every_attribute_exactly() -> None:
    """One approval is one call: not with an attribute more or less, not a string or a bool for
    the number, not another action or resource; reordered keys and 4000.0 are the same call."""
    held = verify("payment", "stripe", amount=4000, currency="USD", vendor="acme")
    assert held.approval_required
    approve(held.approval_id)
    for action, resource, attrs in (
            ("payment", "stripe", {"amount": 4000, "currency": "USD", "vendor": "acme", "to": "x"}),
            ("payment", "stripe", {"amount": 4000, "currency": "USD"}),
            ("payment", "stripe", {"amount": "4000", "currency": "USD", "vendor": "acme"}),
            ("payment", "stripe", {"amount": 4000, "currency": "usd", "vendor": "acme"}),
            ("payment", "stripe", {"amount": 4000, "currency": "JPY", "vendor": "acme"}),
            ("payment", None, {"amount": 4000, "currency": "USD", "vendor": "acme"}),
            ("payment", "paypal", {"amount": 4000, "currency": "USD", "vendor": "acme"}),
            ("purchase", "stripe", {"amount": 4000, "currency": "USD", "vendor": "acme"})):
        r = verify(action, resource, **attrs)
        assert not r.allowed and r.approval_id != held.approval_id, (action, resource, attrs)
    again = verify("payment", "stripe", vendor="acme", currency="USD", amount=4000.0)
    assert again.allowed and again.via_grant and again.approval_id == held.approval_id


def test_bool_and_one_are_different_calls() -> None:
    """True == 1 in Python; not for a grant, and a boolean is no amount."""
    held = verify("payment", amount=True)
    assert held.approval_required  # a boolean is not a number: unknown, held
    approve(held.approval_id)
    one = verify("payment", amount=1)
    assert one.allowed and not one.via_grant  # 1 passes on its own, the grant stays
    assert verify("payment", amount=True).via_grant


def test_cli_and_mcp_and_python_agree_on_the_fingerprint() -> None:
    """An approval asked for through the CLI is used by the same call through MCP (by the
    same agent: the name both are given)."""
    pytest.importorskip("mcp")
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    held = cli_verify("payment", "acme", "--attr", "amount=4000.0", "--attr", "vendor=acme",
                      "--attr", "urgent=true", "--agent", "bot")
    assert held["approvalRequired"], held
    approve(held["approvalId"])
    assert AGENTGATE
    params = StdioServerParameters(command=AGENTGATE, args=["mcp", "--agent", "bot"],
                                   env=dict(os.environ), cwd=os.getcwd())

    async def main() -> list[dict[str, Any]]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            outs = []
            for attrs in ({"amount": "4000", "vendor": "acme", "urgent": True},
                          {"amount": 4000, "vendor": "acme", "urgent": 1},
                          {"amount": 4000, "vendor": "acme", "urgent": True}):
                res = await session.call_tool("verify_action", {
                    "action": "payment", "resource": "acme", "attributes": attrs})
                sc = getattr(res, "structuredContent", None)
                outs.append(dict(sc) if sc is not None else json.loads(res.content[0].text))
            return outs

    as_string, as_one, same = asyncio.run(asyncio.wait_for(main(), timeout=90))
    assert not as_string["allowed"] and not as_one["allowed"]
    assert same["allowed"] and same["approvalId"] == held["approvalId"], same


# --------------------------------------------------------------------------- recipients


@pytest.mark.parametrize("recipient", [
    "x%evil.com@example.com",           # the percent hack: Postfix delivers it to evil.com
    "evil.com!x@example.com",           # a bang path
    "x@example.com..",                  # not a domain
    "x@example..com",
    "x@.example.com",
    "x@example.com, y@evil.com",
    "x@evil.com,x@example.com",
    "Name <x@evil.com>",
    '"x@evil.com"@example.com',
    "x@evil.com@example.com",
    "x@evil.example.com",
    "x@example.com.evil.com",
    "x@example.com\n",
    "x@example.com\nBcc: y@evil.com",
    "x@exampl\u0435.com",              # a Cyrillic e
    "x@example.com\u200b",
    "@example.com",
    "x@",
])
def test_recipients_that_are_not_one_address_at_the_domain_are_held(recipient: str) -> None:
    r = verify("send_email", recipient=recipient)
    assert r.approval_required and r.rule == "message-outside-domain", (recipient, r)


@pytest.mark.parametrize("recipient", ["x@example.com", "X.Y+tag@EXAMPLE.COM", "x@example.com."])
def test_one_address_at_the_domain_passes(recipient: str) -> None:
    assert verify("send_email", recipient=recipient).allowed, recipient


def test_cli_percent_hack_recipient_is_held() -> None:
    out = cli_verify("send_email", "--attr", "recipient=ceo%rival.example@example.com")
    assert out["approvalRequired"] and out["rule"] == "message-outside-domain", out


def test_email_domain_refuses_routing_local_parts() -> None:
    for v in ("x%evil.com@example.com", "a!b@example.com", "x@example.com..", "x@a..b"):
        assert conditions.email_domain(v) is None, v
    assert conditions.email_domain("x@Example.COM.") == "example.com"


# --------------------------------------------------------------------------- time windows


def _machine_now() -> datetime:
    from zoneinfo import ZoneInfo

    try:
        with open("/etc/localtime", "rb") as f:
            zone: Any = ZoneInfo.from_file(f)
    except FileNotFoundError:
        zone = UTC
    return datetime.now(zone)


def _window_around_now() -> str:
    h = _machine_now().hour
    return f"Mon-Sun {(h - 2) % 24:02d}:00-{(h + 3) % 24:02d}:00"


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Etc/GMT+11", "XYZ-12", "UTC+12", ""])
def test_tz_in_the_agents_environment_does_not_move_local_windows(
        tz: str, starter_policy: Path) -> None:
    """Finding: `local` followed $TZ, which the agent sets for `agentgate verify` (and for a
    tool that calls verify()): TZ=<12 hours away> moved the machine's night into the day."""
    with starter_policy.open("a") as f:
        f.write(NIGHT_DENY.format(window=_window_around_now()))
    plain = cli_verify("deploy_now")
    assert plain["decision"] == "deny" and plain["rule"] == "no-deploy-now", plain
    moved = cli_verify("deploy_now", env={"TZ": tz})
    assert moved["decision"] == "deny" and moved["rule"] == "no-deploy-now", (tz, moved)


def test_tz_for_verify_in_python_does_not_move_local_windows(
        starter_policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    with starter_policy.open("a") as f:
        f.write(NIGHT_DENY.format(window=_window_around_now()))
    far = (_machine_now().utcoffset() or timedelta()) + timedelta(hours=12)  # 12 hours away
    monkeypatch.setenv("TZ", f"XYZ{-far.total_seconds() / 3600:+.0f}")
    time.tzset()
    try:
        assert verify("deploy_now").decision == "deny"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_an_unreadable_machine_zone_is_an_unknown_time(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "localtime"
    bad.write_bytes(b"not a zone file")
    monkeypatch.setattr(conditions, "LOCALTIME", str(bad))
    monkeypatch.setenv("TZ", "UTC")
    cond = conditions.parse("time in 'Mon-Sun 00:00-24:00 local'")
    missing: list[str] = []
    assert cond.evaluate({}, 1_700_000_000.0, None, missing) is None and missing == ["time"]


def test_an_approved_deploy_is_still_denied_after_hours(state_dir: Path) -> None:
    """A grant never beats a deny: one approved in working hours (here: a deny rule added after
    the approval) is not used while the deny rule matches."""
    from agentgate.gate import Gate
    from agentgate.paths import StatePaths
    from agentgate.subjects import action_subject

    starter = pol.parse_policy(pol.embedded_policy_text(), pol.EMBEDDED_NAME)
    subject = action_subject("deploy_production", "vercel.com", os.getcwd())
    paths = StatePaths(str(state_dir))
    monday_10 = datetime(2026, 12, 7, 10, 0).timestamp()
    monday_23 = datetime(2026, 12, 7, 23, 0).timestamp()
    held = Gate(starter, paths, clock=lambda: monday_10).authorize(subject, "t")
    assert held.approval_required
    approve(held.approval_id)
    night = Gate(starter, paths, clock=lambda: monday_23).authorize(subject, "t")
    assert night.decision == "deny" and not night.allowed
    day = Gate(starter, paths, clock=lambda: monday_10 + 60).authorize(subject, "t")
    assert day.allowed and day.via_grant


# --------------------------------------------------------------------------- names and the parser


def test_attribute_names_cannot_shadow_what_conditions_read() -> None:
    from agentgate.errors import UsageError

    for name in ("time", "not", "settings", "and", "true"):
        with pytest.raises(UsageError):
            verify("payment", **{name: 1})
    for name in ("agent", "action", "resource", "time"):  # agent= is verify()'s own argument
        out = cli_verify("payment", "--attr", f"{name}=release-bot", "--attr", "amount=5")
        assert out["rc"] == 2 and not out["allowed"], (name, out)
    for bad in ("amount ", "amo\u0075nt\u0301", "\u0430mount", "1amount", "a-b"):
        with pytest.raises(UsageError):
            verify("payment", **{bad: 5})
    assert cli_verify("payment", "--attr", "amount=5", "--attr", "amount=5000")["rc"] == 2
    # Amount is another attribute: amount is missing, so the payment is held
    assert cli_verify("payment", "--attr", "Amount=5")["approvalRequired"]


@pytest.mark.parametrize(("text", "facts", "want"), [
    ("not amount > 100", {}, None),                     # unknown stays unknown through not
    ("not (amount > 100 or vendor == 'x')", {"vendor": "y"}, None),
    ("not amount > 100 and vendor == 'x'", {"amount": 5, "vendor": "x"}, True),  # (not a) and b
    ("amount > 100 or vendor == 'x' and urgent", {"amount": 500, "vendor": "y"}, True),
    ("amount > 100 or vendor == 'x' and urgent", {"amount": 5, "vendor": "x"}, None),
    ("vendor not in []", {}, None),
    ("vendor not in ['a']", {"vendor": True}, None),   # a boolean is no vendor
    ("amount in [1]", {"amount": True}, None),
    ("amount == 1", {"amount": True}, None),
])
def test_kleene_logic_never_turns_unknown_into_a_match_that_allows(
        text: str, facts: dict[str, Any], want: bool | None) -> None:
    assert conditions.parse(text).evaluate(facts) is want


def test_a_night_window_runs_into_the_next_morning(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding: `time in "Fri 22:00-06:00 UTC"` (no deploys on Friday night) read Saturday 03:00
    by Saturday's own day, so the deny rule never matched after midnight."""
    import calendar

    from agentgate.gate import Gate
    from agentgate.paths import StatePaths
    from agentgate.subjects import action_subject

    path = tmp_path / "nights.toml"
    path.write_text('version = 1\n[settings]\ndefault = "allow"\n\n[[rule]]\nid = "friday-night"\n'
                    'decision = "deny"\nactions = ["deploy_production"]\n'
                    "condition = \"time in 'Fri 22:00-06:00 UTC'\"\n"
                    'match = ["deploy_production time=2026-12-04T23:00", '
                    '"deploy_production time=2026-12-05T03:00"]\n'
                    'not_match = ["deploy_production time=2026-12-04T03:00", '
                    '"deploy_production time=2026-12-05T06:00"]\n')
    pf = pol.parse_policy_file(path.read_text(), str(path))
    policy = pol.Policy.build(pf.settings, pf.rules, (pf.source,))
    subject = action_subject("deploy_production", None, os.getcwd())
    paths = StatePaths(str(tmp_path / "st"))
    for (d, h), want in (((4, 23), "deny"), ((5, 3), "deny"), ((4, 3), "allow"),
                         ((5, 6), "allow"), ((7, 3), "allow")):
        at = calendar.timegm((2026, 12, d, h, 0, 0))
        got = Gate(policy, paths, clock=lambda at=at: at).authorize(subject, "t").decision
        assert got == want, (d, h, got)
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    assert ag("policy", "validate").returncode == 0  # the examples hold at load


def test_a_value_cannot_forge_attributes_in_what_the_human_reads() -> None:
    """Finding: a string holding `" amount=5 ... "` was shown in quotes it closed itself, so
    `pending`/`show` read `payment aaa="x" amount=5 ... amount=4000`: the human saw 5 first.
    Inner quotes are escaped as --attr reads them back."""
    forged = 'x" amount=5 currency=USD vendor=acme bbb="'
    held = verify("payment", amount=4000, currency="USD", vendor="acme", aaa=forged)
    assert held.approval_required
    shown = json.loads(ag("show", "--json", str(held.approval_id)).stdout)
    text = ag("show", str(held.approval_id)).stdout
    line = next(ln for ln in text.splitlines() if ln.startswith("command"))
    aaa = '"x\\" amount=5 currency=USD vendor=acme bbb=\\""'  # one quoted word, escapes inside
    assert line.split(None, 1)[1] == f"payment aaa={aaa} amount=4000 currency=USD vendor=acme", line
    assert shown["attributes"]["aaa"] == forged
    assert conditions.parse_value(aaa) == forged  # what the human reads, --attr reads back
    again = cli_verify("payment", "--attr", f"aaa={aaa}", "--attr", "amount=4000",
                       "--attr", "currency=USD", "--attr", "vendor=acme", "--agent", "python")
    assert again["approvalId"] == held.approval_id  # the same request, not a new one
