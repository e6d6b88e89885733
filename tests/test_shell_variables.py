"""shell.variables: which variables of a script are followed (plain, in-order assignments only)."""

from __future__ import annotations

import pytest

from agentgate.shell import analyze_script
from agentgate.shell.budget import Budget
from agentgate.shell.parser import Parser
from agentgate.shell.variables import Vars, script_vars, sets_vars


def decided(text: str) -> Vars:
    p = Parser(text, Budget())
    nodes = p.parse()
    return script_vars(text, nodes, p.done, p.bg)


def test_plain_top_level_assignments_are_followed() -> None:
    v = decided("X=1; Y=2 && echo $X; export Z=3; cmd")
    assert not v.off and v.stable == {"X", "Y", "Z"}


@pytest.mark.parametrize("text", [
    "for i in 1; do X=2; done; X=1",  # assigned in a loop too
    "X=1 cmd",  # a prefix assignment (kept by special builtins)
    "X=1 & Y=2",  # X in the background
    "f() { X=2; }; X=1",  # in a function
])
def test_assignments_out_of_order_are_not(text: str) -> None:
    v = decided(text)
    assert "X" not in v.stable


@pytest.mark.parametrize("text", [
    "read X", "X=1; eval x", "X=1; (( y++ ))", "X=1; echo ${Y:=2}", "X=1; IFS=:",
    "X=1; declare -n r=X", "X=1; export $N", "X=1; coproc c", "X=1; if a; then $CMD; fi",
])
def test_scripts_that_assign_out_of_sight_follow_nothing(text: str) -> None:
    assert decided(text).off


def test_builtins_that_set_variables() -> None:
    assert sets_vars("read", []) and sets_vars("mapfile", [])
    assert sets_vars("printf", ["-v", "x", "1"]) and not sets_vars("printf", ["%s", "x"])
    assert sets_vars("wait", ["-n", "-p", "x"]) and not sets_vars("wait", [])
    assert sets_vars("command", ["export"]) and not sets_vars("ls", [])


def test_followed_values_reach_the_commands() -> None:
    a = analyze_script("P=/; rm -rf $P")
    assert ("rm", "-rf", "/") in [c.argv for c in a.commands]
    a = analyze_script("read P; rm -rf $P")
    assert ("rm", "-rf", "$P") in [c.argv for c in a.commands]


def test_exported_assignments_are_in_the_environment_of_later_commands() -> None:
    v = Vars()
    v.assign("A", "1", "A=1", True)
    assert v.env_words() == ()
    v.export("A")
    assert v.env_words() == ("A=1",)
    v.assign("A", "2", "A=2", False)  # in a branch: kept beside the first
    assert v.env_words() == ("A=1", "A=2")
    v.assign("B", "3", "B=3", True)
    v.export_all()
    assert v.env_words() == ("A=1", "A=2", "B=3")
