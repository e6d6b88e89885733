"""shell.analyzer: every simple command once, opaque parts for what cannot be followed."""

from __future__ import annotations

from agentgate.shell import analyze_argv, analyze_script
from agentgate.shell.budget import MAX_COMMANDS


def test_a_command_met_twice_is_reported_once_with_both_environments() -> None:
    a = analyze_script("A=1 git push; B=2 git push")
    assert [(c.argv, c.env) for c in a.commands] == [(("git", "push"), ("A=1", "B=2"))]


def test_a_name_with_capitals_is_reported_in_lower_case_too() -> None:
    assert [c.argv for c in analyze_argv(["Git", "push"]).commands] == [("Git", "push"), ("git", "push")]


def test_command_names_that_are_not_known_are_opaque() -> None:
    for text, reason in (("$X a", "comes from a variable"), ("/bin/r? a", "glob pattern"),
                         ("$'r\\x01m' a", "control characters")):
        a = analyze_script(text)
        assert a.commands == () and reason in a.opaque[0].reason, text


def test_an_unknown_program_given_a_command_after_double_dash_has_it_checked() -> None:
    a = analyze_argv(["mywrapper", "--flag", "--", "rm", "-rf", "/"])
    assert [(c.argv, c.via) for c in a.commands][-1] == (("rm", "-rf", "/"), ("-- (after)",))
    assert len(analyze_argv(["grep", "--", "rm"]).commands) == 1  # grep never runs its operands


def test_an_alias_defined_earlier_is_expanded_where_it_is_used() -> None:
    a = analyze_script("alias ll='rm -rf'; ll /")
    assert ("rm", "-rf", "/") in [c.argv for c in a.commands]


def test_the_number_of_commands_is_bounded() -> None:
    a = analyze_script("; ".join(f"c{k}" for k in range(MAX_COMMANDS + 10)))
    assert len(a.commands) <= MAX_COMMANDS
    assert any("too large/too deep" in o.reason for o in a.opaque)


def test_a_parse_error_still_reports_what_parsed_before_it() -> None:
    a = analyze_script("rm -rf / && echo 'unterminated")
    assert [(c.argv, c.via) for c in a.commands] == [(("rm", "-rf", "/"), ("partial parse",))]
    assert a.opaque[0].reason.startswith("cannot parse shell syntax")
