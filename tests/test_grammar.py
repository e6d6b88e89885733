"""grammar: agentgate's own command line, read the same way by the fast paths, the guard and
`hook install` (typer's side is checked in test_cli_input)."""

from __future__ import annotations

import pytest

from agentgate import grammar
from agentgate.grammar import POLICY, RUN_OPTIONS, parse_options


def test_options_read_as_click_reads_them() -> None:
    parsed = parse_options(["--json", "--agent=x", "--policy", "p", "cmd", "--json"], 0, RUN_OPTIONS)
    assert parsed is not None
    assert parsed.values == {"--json": True, "--agent": "x", "--policy": "p"} and parsed.stop == 4
    assert parse_options(["--", "--json"], 0, RUN_OPTIONS) == grammar.Parsed({}, 1)


@pytest.mark.parametrize("argv", [["--nope", "x"], ["--agent"], ["--agent="], ["--json=1"],
                                  ["--json", "--json", "x"], ["--agent", "--policy", "p.toml"],
                                  ["--agent", "-x", "cmd"], ["--policy=--json", "cmd"]])
def test_anything_unusual_is_left_to_typer(argv: list[str]) -> None:
    assert parse_options(argv, 0, RUN_OPTIONS) is None


@pytest.mark.parametrize(("args", "human"), [
    (["approve", "apr_x"], True),
    (["deny", "apr_x", "--reason", "no"], True),
    (["policy", "trust"], True),
    (["--policy", "p.toml", "approve", "apr_x"], True),
    (["--policy=p.toml", "deny", "apr_x"], True),
    (["--unknown", "policy", "trust", "x"], True),  # an unknown option cannot hide the command
    (["--policy", "approve", "apr_x"], False),  # `approve` is --policy's value here
    (["log", "--agent", "approve"], False),
    (["run", "--", "echo", "approve"], False),
    (["policy", "validate"], False),
    ([], False),
])
def test_human_only_commands(args: list[str], human: bool) -> None:
    assert grammar.is_human_only(args) is human


def test_the_guards_option_with_a_value_is_the_global_one() -> None:
    assert [o.name for o in grammar.GLOBAL_OPTIONS if o.metavar] == [POLICY.name]


@pytest.mark.parametrize(("command", "agent", "ours"), [
    ("agentgate hook codex", "codex", True),
    ("agentgate --policy p.toml hook gemini", "gemini", True),
    ("python -m agentgate hook cursor", "cursor", True),
    ("/opt/bin/agentgate-wrapper x hook claude-code", "claude-code", True),
    ("agentgate hook claude-code", "codex", False),
    ("agentgate hook codex-next", "codex", False),
    ("hook codex agentgate", "codex", False),
    ("./fmt.sh", "codex", False),
])
def test_an_installed_hook_is_recognised(command: str, agent: str, ours: bool) -> None:
    assert grammar.is_hook_command_line(command, agent) is ours


def test_the_hook_command_line_quotes_the_executable() -> None:
    line = grammar.hook_command_line("/opt/my tools/agentgate", "codex")
    assert line == "'/opt/my tools/agentgate' hook codex"
    assert grammar.is_hook_command_line(line, "codex")


@pytest.mark.parametrize(("value", "bad"), [
    ("", "an empty string"), ("--policy", "the option --policy"), ("--policy=x", "the option --policy"),
    ("--", "the option --"), ("-h", "the option -h"), ("-x", None), ("--polic", None), ("p.toml", None),
])
def test_an_option_value_is_neither_empty_nor_an_option(value: str, bad: str | None) -> None:
    assert grammar.bad_value(value, {"--policy", "--json"}) == bad


def test_the_commands_that_do_not_read_the_policy_say_why() -> None:
    for words in (["init"], ["log"], ["log", "summary"], ["log", "verify"], ["hook", "install"]):
        assert grammar.no_policy_reason(words), words
    for words in (["run"], ["hook", "codex"], ["policy", "validate"], ["logs"], []):
        assert grammar.no_policy_reason(words) is None, words
