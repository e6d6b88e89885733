"""Hostile input: random and mutated policy files, and command lines no one would type.

Contracts under test: loading a policy raises PolicyError or returns a policy, never another
exception; evaluating any command against a default-deny policy never raises and never says
"allow"; the console script never shows a traceback and never lets such a command run.
Example counts are bounded so that the file stays fast (hypothesis' database is off).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import tomli_w
from conftest import AGENTGATE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgate import policy as pol
from agentgate import shell
from agentgate.errors import PolicyError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = (REPO / "policies.example.toml").read_text()

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DENY_BY_DEFAULT = pol.parse_policy("""\
version = 1
[settings]
default = "deny"
unparseable = "ask"

[[rule]]
id = "ask-deploy"
decision = "ask"
commands = ["deployer ** --prod"]
match = ["deployer --prod"]
not_match = ["deployer"]

[[rule]]
id = "deny-nuke"
decision = "deny"
commands = ["nuke"]
regex = ['rm\\s+-rf\\s+/']
match = ["nuke all"]
""", "deny-by-default.toml")


def load_or_policy_error(text: str | bytes) -> None:
    try:
        pol.parse_policy(text, "fuzz.toml")
    except PolicyError as e:
        assert e.exit_code == 78
        assert str(e).startswith("fuzz.toml")


# --------------------------------------------------------------------------- policy files


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_random_policy_text_raises_only_policy_error(text: str | bytes) -> None:
    load_or_policy_error(text)


def _mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        i = data.draw(st.integers(0, max(0, len(lines) - 1)), label="line")
        op = data.draw(st.sampled_from(["drop", "dup", "swap", "char", "insert", "cut"]), label="op")
        if not lines:
            break
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1), label="other")
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "char" and lines[i]:
            k = data.draw(st.integers(0, len(lines[i]) - 1), label="pos")
            c = data.draw(st.sampled_from([*list("\"'[]{}=#*\\,\n 0aZ"), "\x00", "\udcff", "\U0001f980"]))
            lines[i] = lines[i][:k] + c + lines[i][k + 1:]
        elif op == "insert":
            lines.insert(i, data.draw(st.sampled_from([
                'decision = "allow"\n', "[[rule]]\n", 'id = "x"\n', "[settings]\n",
                'default = ["deny"]\n', "approval_ttl = -5\n", 'commands = ["**"]\n',
                'commands = ["a ** ** ** b"]\n', "version = 2\n", "audit_max_bytes = 1e9\n",
                'regex = ["(unclosed"]\n', 'match = [""]\n', "request_ttl = \"0s\"\n"])))
        else:
            lines = lines[:i]
    return "".join(lines)


@settings(FUZZ, max_examples=40)
@given(st.data())
def test_mutated_example_policy_raises_only_policy_error(data: st.DataObject) -> None:
    load_or_policy_error(_mutate(EXAMPLE, data))


_SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
            | st.text(max_size=30) | st.sampled_from(["allow", "ask", "deny", "30m", "**", "-r"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_RULE_KEYS = [*sorted(pol._RULE_KEYS), "extra"]
_SETTING_KEYS = [*sorted(pol._SETTINGS_KEYS), "extra"]


def _strip_none(v: object) -> object:
    """TOML has no null: drop None values (tomli_w refuses them)."""
    if isinstance(v, dict):
        return {k: _strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_none(x) for x in v if x is not None]
    return v


@FUZZ
@given(st.fixed_dictionaries({}, optional={
    "version": _VALUES,
    "settings": st.dictionaries(st.sampled_from(_SETTING_KEYS), _VALUES, max_size=6),
    "rule": st.lists(st.dictionaries(st.sampled_from(_RULE_KEYS), _VALUES, max_size=9), max_size=4),
}))
def test_structurally_valid_toml_with_wrong_types_raises_only_policy_error(doc: dict) -> None:
    try:
        text = tomli_w.dumps(_strip_none(doc))
    except (TypeError, ValueError):  # e.g. NaN keys or integers TOML cannot hold
        return
    load_or_policy_error(text)


# --------------------------------------------------------------------------- command lines

_WORD = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40) | st.sampled_from(
    ["bash", "sh", "-c", "sudo", "env", "xargs", "eval", "$(", "`", "'", '"', "\\", ";", "&&",
     "|", "(", ")", "{", "}", "<<EOF", "**", "--prod", "deployer", "nuke", "rm", "-rf", "/",
     "\x00", "\udcff", "\udc80abc", "a\nb"])


def check(policy: pol.Policy, command: str | list[str]) -> pol.Evaluation:
    """The policy's decision for a command line (a string) or an argv, analysed as the gate does."""
    if isinstance(command, str):
        return policy.decide(shell.analyze_script(command, "/srv/app", "/home/u"))
    return policy.decide(shell.analyze_argv(command, "/srv/app", "/home/u"))


def _assert_never_allowed(ev: pol.Evaluation) -> None:
    assert ev.decision in ("ask", "deny"), ev
    assert isinstance(ev.reason, str)


@FUZZ
@given(st.lists(_WORD, min_size=1, max_size=30))
def test_any_argv_is_never_allowed_by_a_default_deny_policy(argv: list[str]) -> None:
    _assert_never_allowed(check(DENY_BY_DEFAULT, argv))


@FUZZ
@given(st.binary(min_size=1, max_size=200))
def test_any_bytes_as_argv_or_script_are_never_allowed(raw: bytes) -> None:
    argv = [w.decode("utf-8", "surrogateescape") for w in raw.split(b" ")]
    _assert_never_allowed(check(DENY_BY_DEFAULT, argv))
    _assert_never_allowed(check(DENY_BY_DEFAULT, raw.decode("utf-8", "surrogateescape")))


@FUZZ
@given(st.lists(_WORD, max_size=40).map(" ".join))
def test_any_script_is_never_allowed_by_a_default_deny_policy(text: str) -> None:
    _assert_never_allowed(check(DENY_BY_DEFAULT, text))


@pytest.mark.parametrize("depth", [1, 5, 19, 20, 21, 50, 200, 2000])
def test_deep_nesting_is_never_allowed_and_never_raises(depth: int) -> None:
    nested_c = "true"
    for _ in range(min(depth, 12)):  # each level doubles the escaping
        nested_c = "bash -c " + json.dumps(nested_c)
    scripts = [
        "$(" * depth + "true" + ")" * depth,
        "(" * depth + "true" + ")" * depth,
        "{ " * depth + "true; " + "}; " * depth,
        "`" * depth,
        "sudo " * depth + "true",
        "env " * depth + "true",
        nested_c,
        "echo " + "'" * depth,
        "a | " * depth + "b",
    ]
    for text in scripts:
        _assert_never_allowed(check(DENY_BY_DEFAULT, text))
        _assert_never_allowed(check(DENY_BY_DEFAULT, ["bash", "-c", text]))
    _assert_never_allowed(check(DENY_BY_DEFAULT, ["sudo"] * depth + ["true"]))


@pytest.mark.parametrize("argv", [
    ["x"] * 100_000,
    ["deployer", "a" * 1_000_000, "--prod"],
    ["bash", "-c", "true; " * 50_000],
    ["\x00"] * 10,
    ["nuke\x00", "\x00"],
    ["\udcff\udcfe", "--prod"],
    [""],
    ["/", "//", "/./"],
])
def test_huge_and_odd_argv_is_never_allowed(argv: list[str]) -> None:
    _assert_never_allowed(check(DENY_BY_DEFAULT, argv))


def test_known_rules_still_decide_under_fuzz_policy() -> None:
    """The fuzz policy itself works: a guarded command asks, a denied one is denied."""
    assert check(DENY_BY_DEFAULT, ["deployer", "x", "--prod"]).decision == "ask"
    assert check(DENY_BY_DEFAULT, ["nuke"]).decision == "deny"
    assert check(DENY_BY_DEFAULT, "echo hi && nuke").decision == "deny"


# --------------------------------------------------------------------------- the console script

DENY_POLICY_TOML = """\
version = 1
[settings]
default = "deny"
"""

HOSTILE_ARGV: list[list[bytes]] = [
    [b"\xff\xfe", b"--prod"],
    [b"bash", b"-c", b"$(" * 500 + b"true" + b")" * 500],
    [b"x"] * 20_000,
    [b"echo", b"a" * 100_000],
    [b"agentgate", b"approve", b"apr_aaaaaaaaaa", b"--yes"],
    [b"sh", b"-c", b"\xc3\x28 ; touch ran"],
    [b"touch", b"ran", b"\xff"],
    [b"--json"],
    [b"-"],
]


@pytest.mark.parametrize("argv", HOSTILE_ARGV, ids=range(len(HOSTILE_ARGV)))
def test_console_script_with_hostile_argv_fails_closed(
        argv: list[bytes], tmp_path: Path) -> None:
    policy = tmp_path / "deny.toml"
    policy.write_text(DENY_POLICY_TOML)
    env = {**os.environ, "AGENTGATE_POLICY": str(policy)}
    for sub in ([b"run", b"--json", b"--"], [b"check", b"--json", b"--"]):
        cmd = [os.fsencode(AGENTGATE), *sub, *argv]
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60, check=False, cwd=tmp_path)
        err = r.stderr.decode("utf-8", "replace")
        assert "Traceback" not in err and "internal error" not in err, err[-2000:]
        assert r.returncode in (75, 77), (sub, r.returncode, err[-500:])
        obj = json.loads(r.stdout.decode("utf-8", "surrogateescape"))
        assert obj["allowed"] is False
    assert not (tmp_path / "ran").exists()
    r = subprocess.run([os.fsencode(AGENTGATE), b"log", b"verify"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
