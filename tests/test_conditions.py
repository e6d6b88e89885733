"""policy.conditions: the condition language of action rules. Property tests for parsing (text
round-trips, no input but a ConditionError fails), evaluation (Python's comparisons, Kleene's
logic: a missing attribute never turns an answer around), time windows and attribute values."""

from __future__ import annotations

import calendar
import contextlib
import datetime
import fnmatch
import json
import operator
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentgate import policy as pol
from agentgate.errors import PolicyError
from agentgate.outcome import attribute_words
from agentgate.policy import conditions as c
from agentgate.policy.conditions import All, Any_, ConditionError, Not, SettingRef, Test, Window

# --------------------------------------------------------------------------- trees

NUMS, STRS, BOOLS = ("amount", "count"), ("vendor", "recipient", "domain", "agent"), ("urgent",)
finite = st.floats(allow_nan=False, allow_infinity=False)
number = st.one_of(st.integers(-10**12, 10**12), finite)
text = st.text(max_size=12)
SAFE_REGEXES = ("^a", "b$", "[0-9]+", "x.y", "^(ops|dev)-[a-z]*@")
ZONES = ("local", "UTC", "Europe/Berlin", "America/New_York")


@st.composite
def num_test(draw: st.DrawFn) -> Test:
    name = draw(st.sampled_from(NUMS))
    if draw(st.booleans()):
        op = draw(st.sampled_from(["in", "not in"]))
        return Test(name, op, tuple(draw(st.lists(number, max_size=4))))
    return Test(name, draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), draw(number))


@st.composite
def str_test(draw: st.DrawFn) -> Test:
    name = draw(st.sampled_from(STRS))
    fn = "" if name == "agent" or draw(st.booleans()) else "domain"
    kind = draw(st.sampled_from(["eq", "in", "settings", "like", "matches"]))
    neg = "not " if draw(st.booleans()) else ""
    if kind == "eq":
        return Test(name, draw(st.sampled_from(["==", "!="])), draw(text), fn)
    if kind == "in":
        return Test(name, neg + "in", tuple(draw(st.lists(text, max_size=4))), fn)
    if kind == "settings":
        return Test(name, neg + "in", SettingRef("internal_domains"), fn)
    if kind == "like":
        return Test(name, neg + "like", draw(text), fn)
    rx = draw(st.sampled_from(SAFE_REGEXES))
    return Test(name, neg + "matches", rx, fn, re.compile(rx))


@st.composite
def bool_test(draw: st.DrawFn) -> Test:
    return Test(draw(st.sampled_from(BOOLS)), draw(st.sampled_from(["==", "!="])), draw(st.booleans()))


@st.composite
def window(draw: st.DrawFn) -> Window:
    days = tuple(sorted(draw(st.sets(st.integers(0, 6), min_size=1))))
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(1, 24 * 60).filter(lambda e: e != start))
    return Window(days, start, end, draw(st.sampled_from(ZONES)), draw(st.booleans()))


leaf = st.one_of(num_test(), str_test(), bool_test(), window())
trees = st.recursive(leaf, lambda sub: st.one_of(
    st.builds(Not, sub),
    st.builds(lambda xs: All(tuple(xs)), st.lists(sub, min_size=2, max_size=3)),
    st.builds(lambda xs: Any_(tuple(xs)), st.lists(sub, min_size=2, max_size=3))), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_printed_conditions_parse_back_to_the_same_tree(tree: Any) -> None:
    printed = c.to_text(tree)
    parsed = c.parse(printed)
    assert parsed.tree == tree, printed
    assert c.parse(parsed.to_text()).tree == tree


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_condition_error(source: str) -> None:
    try:
        cond = c.parse(source)
    except ConditionError as e:
        assert e.message
        return
    assert c.parse(cond.to_text()).tree == cond.tree


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["amount", ">", "100", "and", "or", "not", "(", ")", "in", "[",
                                 "]", ",", '"a"', "true", "like", "time", "==", "vendor",
                                 "domain(", "settings.internal_domains", "matches", "-1.5e3"]),
                max_size=12))
def test_token_soup_parses_or_is_a_condition_error(words: list[str]) -> None:
    with contextlib.suppress(ConditionError):
        c.parse(" ".join(words))


# --------------------------------------------------------------------------- evaluation

OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
       ">": operator.gt, ">=": operator.ge}


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(number, st.sampled_from(sorted(OPS)), number)
def test_number_comparisons_are_pythons(value: int | float, op: str, literal: int | float) -> None:
    cond = c.parse(f"amount {op} {c.literal_text(literal)}")
    assert cond.evaluate({"amount": value}) is OPS[op](value, literal)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(text, st.sampled_from(["==", "!="]), text)
def test_string_equality_is_pythons(value: str, op: str, literal: str) -> None:
    assert c.parse(f"vendor {op} {c.literal_text(literal)}").evaluate({"vendor": value}) \
        is OPS[op](value, literal)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(number, st.lists(number, max_size=5), st.booleans())
def test_membership_is_pythons(value: int | float, items: list[int | float], negated: bool) -> None:
    listed = "[" + ", ".join(c.literal_text(v) for v in items) + "]"
    cond = c.parse(f"amount {'not in' if negated else 'in'} {listed}")
    assert cond.evaluate({"amount": value}) is ((value in items) != negated)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.text(alphabet="ab*?.@", max_size=8), st.text(alphabet="ab.@", max_size=8))
def test_like_is_fnmatchcase(pattern: str, value: str) -> None:
    cond = c.parse(f"recipient like {c.literal_text(pattern)}")
    assert cond.evaluate({"recipient": value}) is fnmatch.fnmatchcase(value, pattern)


def _facts_for(cond: c.Condition, draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in cond.kinds:
        if kind == c.NUMBER:
            out[name] = draw(number)
        elif kind == c.BOOL:
            out[name] = draw(st.booleans())
        else:
            out[name] = draw(st.one_of(text, st.sampled_from(["a@corp.example", "b@else.example"])))
    return out


@settings(max_examples=300, deadline=None)
@given(trees, st.data())
def test_a_missing_attribute_never_turns_an_answer_around(tree: Any, data: st.DataObject) -> None:
    """Kleene: with fewer facts (or the time unknown) the answer is the same or unknown, never
    the opposite; an attribute of the wrong kind counts as missing."""
    cond = c.parse(c.to_text(tree))
    full = _facts_for(cond, data.draw)
    now = data.draw(st.floats(0, 4e9))
    lists = {"internal_domains": ("corp.example",)}
    known = cond.evaluate(full, now, lists)
    names = [n for n, _ in cond.kinds]
    gone = data.draw(st.sets(st.sampled_from(names))) if names else set()
    partial = {k: v for k, v in full.items() if k not in gone}
    less = cond.evaluate(partial, data.draw(st.sampled_from([now, None])), lists)
    assert less is None or less is known
    other = {c.NUMBER: "x", c.STRING: 7, c.BOOL: "x"}
    wrong = {k: other[dict(cond.kinds)[k]] if k in gone else v for k, v in full.items()}
    assert cond.evaluate(wrong, now, lists) == cond.evaluate(partial, now, lists)


def _walk(node: Any) -> list[Any]:
    if isinstance(node, All | Any_):
        return [node, *(m for a in node.args for m in _walk(a))]
    if isinstance(node, Not):
        return [node, *_walk(node.arg)]
    return [node]


@settings(max_examples=200, deadline=None)
@given(trees, st.data())
def test_unknown_is_the_strictest_outcome_of_the_rule(tree: Any, data: st.DataObject) -> None:
    """The same condition on an allow, an ask and a deny rule: whenever the answer depends on
    a missing attribute, the ask and deny rules match and the allow rule does not."""
    text_ = c.to_text(tree)
    body = "".join(f'[[rule]]\nid = "{d}"\ndecision = "{d}"\nactions = ["pay"]\ncondition = '
                   f"{_toml(text_)}\n" for d in ("allow", "ask", "deny"))
    policy = pol.parse_policy('[settings]\ndefault = "ask"\n' + body)
    cond = c.parse(text_)
    facts = _facts_for(cond, data.draw)
    facts = {k: v for k, v in facts.items() if data.draw(st.booleans())}
    agent = facts.pop("agent", None)
    ev = policy.check_action("pay", None, facts, agent=agent, now=None)
    result = cond.evaluate({**facts, "action": "pay", "agent": agent}, None, {})
    rules = set(ev.parts[0].rules)
    if result is None:
        assert rules == {"ask", "deny"} and ev.decision == "deny"
        assert "fail closed" in ev.reason
    elif result:
        assert rules == {"allow", "ask", "deny"} and ev.decision == "deny"
    else:
        assert rules == set() and ev.decision == "ask"  # settings.default


def _toml(s: str) -> str:
    # a JSON string is a TOML basic string, but for DEL and surrogate-pair escapes
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("source", "what", "column"), [
    ("amount >> 100", "expected a value", 9),
    ('amount > "100"', "compares numbers", 10),
    ('amount > 1 and amount == "x"', "one kind", 16),
    ("agent > 3", "agent is a string", 1),
    ('amount in [1, "a"]', "one kind", 11),
    ("amount = 3", "write ==", 8),
    ('vendor matches "(a+)+"', "repeats a group", 16),
    ("01 < amount", "leading zeros", 1),
    ("amount > 1e999", "finite", 10),
    ('time in "Mon-Fri Mars/Olympus"', "unknown time zone", 9),
    ('time in "Mon-Fri 09:00"', "time zone", 9),
    ('time in "Funday UTC"', "not a day", 9),
    ('time in "09:00-09:00 UTC"', "empty range", 9),
    ('time in "Mon Tue UTC"', "days twice", 9),
    ('time in "09:00-10:00 11:00-12:00 UTC"', "hours twice", 9),
    ("time > 3", "time is tested with", 6),
    ("settings.internal_domains", "attribute name", 1),
    ("vendor in settings.nope", "not a list", 20),
    ('domain(amount) == "x" and amount > 1', "one kind", 27),
    ("(amount > 1", "')'", 12),
    ("amount > 1 amount", "the end", 12),
    ('vendor == "open', "not closed", 11),
    ("", "empty", None),
    ("not " * 40 + "urgent", "nested", None),
])
def test_what_does_not_parse_says_where(source: str, what: str, column: int | None) -> None:
    with pytest.raises(ConditionError) as e:
        c.parse(source)
    assert what in str(e.value)
    if column is not None:
        assert e.value.column == column


def test_a_policy_with_a_bad_condition_does_not_load_and_names_the_line() -> None:
    text_ = ('[settings]\ndefault = "allow"\n\n[[rule]]\nid = "pay"\ndecision = "ask"\n'
             'actions = ["payment"]\ncondition = "amount >> 100"\n')
    with pytest.raises(PolicyError) as e:
        pol.parse_policy(text_, "p.toml")
    msg = e.value.message
    assert "p.toml: rule 'pay': condition (line 8)" in msg and "column 9" in msg
    with pytest.raises(PolicyError, match="is for action rules"):
        pol.parse_policy('[[rule]]\nid = "x"\ndecision = "ask"\ncommands = ["ls"]\n'
                         'condition = "amount > 1"\n')
    with pytest.raises(PolicyError, match="non-empty string"):
        pol.parse_policy('[[rule]]\nid = "x"\ndecision = "ask"\nactions = ["a"]\ncondition = 3\n')


def test_a_condition_not_checked_at_load_fails_closed_when_first_used() -> None:
    pf = pol.parse_policy_file('[[rule]]\nid = "x"\ndecision = "ask"\nactions = ["pay"]\n'
                               'condition = "amount >> 1"\n', "p.toml", check_examples=False)
    policy = pol.Policy.build(pf.settings, pf.rules, (pf.source,))
    with pytest.raises(PolicyError, match="amount >> 1"):
        policy.check_action("pay", None, {"amount": 5})
    assert policy.check_action("read", None, {}).decision == "allow"  # other actions unharmed


# --------------------------------------------------------------------------- time windows


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(window(), st.integers(0, 6), st.integers(0, 24 * 60 - 1))
def test_a_window_holds_its_days_and_minutes(w: Window, day: int, minute: int) -> None:
    if w.start < w.end:
        inside = w.start <= minute < w.end and day in w.days
    else:  # crossing midnight: the night belongs to the day it starts on
        inside = (minute >= w.start and day in w.days) or (minute < w.end and (day - 1) % 7 in w.days)
    assert c.in_window(w, c.WallTime(day, minute)) is inside


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.floats(0, 4e9), st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "local"]))
def test_wall_time_in_a_zone_is_what_datetime_says(now: float, zone: str) -> None:
    tz = ZoneInfo(zone) if zone not in ("local",) else None
    d = datetime.datetime.fromtimestamp(now, tz) if tz else datetime.datetime.fromtimestamp(now)
    assert c.wall_time(now, zone) == c.WallTime(d.weekday(), d.hour * 60 + d.minute)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.dates(datetime.date(1900, 1, 1), datetime.date(2400, 12, 31)),
       st.integers(0, 23), st.integers(0, 59))
def test_an_examples_time_is_its_weekday_and_minute(day: datetime.date, h: int, m: int) -> None:
    assert c.parse_wall_time(f"{day.isoformat()}T{h:02d}:{m:02d}") == c.WallTime(day.weekday(), h * 60 + m)


def test_a_window_at_check_time_uses_the_clock_in_its_zone() -> None:
    cond = c.parse('time in "Mon-Fri 09:00-18:00 Europe/Berlin"')
    monday_8_utc = calendar.timegm((2026, 12, 7, 8, 30, 0))  # 09:30 in Berlin (CET, +1)
    assert cond.evaluate({}, monday_8_utc) is True
    assert cond.evaluate({}, monday_8_utc - 3600) is False  # 08:30 in Berlin
    assert cond.evaluate({}, monday_8_utc + 5 * 86400) is False  # Saturday
    assert cond.evaluate({}, None) is None
    night = c.parse('time in "22:00-06:00 UTC"')
    assert night.evaluate({}, calendar.timegm((2026, 12, 7, 23, 0, 0))) is True
    assert night.evaluate({}, calendar.timegm((2026, 12, 7, 5, 59, 0))) is True
    assert night.evaluate({}, calendar.timegm((2026, 12, 7, 6, 0, 0))) is False
    assert c.parse('time in "Mon-Sun local"').evaluate({}, time.time()) is True


# --------------------------------------------------------------------------- values and e-mail


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.one_of(st.integers(-10**20, 10**20), finite, st.booleans(), st.text(max_size=20)))
def test_an_attribute_shown_reads_back_as_itself(value: Any) -> None:
    """What pending/show/the log print (``name=value``) is what --attr reads back."""
    word = attribute_words({"k": value})[0]
    assert word.startswith("k=")
    back = c.parse_value(word[2:])
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize(("written", "value"), [
    ("4000", 4000), ("-3", -3), ("0.5", 0.5), ("1e6", 1e6), ("true", True), ("false", False),
    ("0123", "0123"), ("'12'", "12"), ('"true"', "true"), ("USD", "USD"), ("", ""),
    ("1e999", "1e999"), ("12abc", "12abc"), ("+5", "+5"), ("1.", "1."),
])
def test_attribute_values_are_typed_as_documented(written: str, value: Any) -> None:
    got = c.parse_value(written)
    assert got == value and type(got) is type(value)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.from_regex(r"[a-z0-9._+-]{1,10}", fullmatch=True),
       st.from_regex(r"[a-zA-Z0-9-]{1,10}(\.[a-zA-Z0-9-]{1,8}){0,2}", fullmatch=True))
def test_the_domain_of_one_address(local: str, domain: str) -> None:
    assert c.email_domain(f"{local}@{domain}") == domain.lower()
    assert c.email_domain(f"{local}@{domain}.") == domain.lower()
    for joined in (f"{local}@{domain}, x@corp.example", f"Name <{local}@{domain}>",
                   f"{local}@evil@{domain}", f'"{local}"@{domain}', f"{local}@{domain} x"):
        assert c.email_domain(joined) is None
    assert c.email_domain(local) is None


def test_domain_of_recipient_against_the_settings_list() -> None:
    policy = pol.parse_policy(
        '[settings]\ninternal_domains = ["Corp.Example"]\n[[rule]]\nid = "out"\ndecision = "ask"\n'
        'actions = ["send_email"]\ncondition = "domain(recipient) not in settings.internal_domains"\n'
        'match = ["send_email recipient=x@else.example", "send_email recipient=\'a@corp.example,b@else.example\'"]\n'
        'not_match = ["send_email recipient=Al@CORP.example"]\n')
    assert policy.settings.internal_domains == ("corp.example",)
    assert policy.check_action("send_email", None, {"recipient": "al@corp.example"}).decision == "allow"
    for r in ("al@corp.example.evil.example", "al@corp.example@evil.example", "x@else.example"):
        assert policy.check_action("send_email", None, {"recipient": r}).decision == "ask", r
    with pytest.raises(PolicyError, match="internal_domains"):
        pol.parse_policy('[settings]\ndefault = "allow"\ninternal_domains = ["*.corp"]\n')


def test_settings_internal_domains_merge_to_those_both_list() -> None:
    a = pol.Settings(internal_domains=("a.example", "b.example"))
    assert a.merged(pol.Settings(internal_domains=("b.example",))).internal_domains == ("b.example",)
    assert a.merged(pol.Settings()).internal_domains == ()
