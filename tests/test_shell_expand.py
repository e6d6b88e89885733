"""shell.expand: $'...' strings, brace expansion, the fields a word becomes, and which variables
of a script are followed (plain, in-order assignments only)."""

from __future__ import annotations

import pytest

from agentgate.shell import analyze_script
from agentgate.shell.budget import MAX_BRACE, Bound, Budget
from agentgate.shell.context import EXP, GLOB, PROC, SPLIT, Cx, Field, Vars
from agentgate.shell.expand import ansi_c, brace_expand, fields, script_vars, sets_vars
from agentgate.shell.parser import Parser
from agentgate.shell.syntax import Lit, Part, Simple


def word_parts(text: str) -> list[Part]:
    nd = Parser(text, Budget()).parse()[0]
    assert isinstance(nd, Simple)
    return nd.words[0].parts


def expanded(text: str, cx: Cx | None = None) -> list[tuple[str, int]]:
    return [(f.text, f.flags) for f in fields(word_parts(text), cx or Cx(), Budget())]


@pytest.mark.parametrize(("source", "text"), [
    ("a\\nb'", "a\nb"), ("\\x41\\101\\u00e9'", "AAé"), ("\\cA\\e'", "\x01\x1b"),
    ("\\q\\x'", "\\q\\x"), ("it\\'s'", "it's"), ("'", ""),
])
def test_ansi_c_strings(source: str, text: str) -> None:
    end, got = ansi_c(source, 0) or (None, None)
    assert (end, got) == (len(source), text)


def test_an_unterminated_ansi_c_string_is_none() -> None:
    assert ansi_c("abc", 0) is None


def texts(groups: list[list[Part]]) -> list[str]:
    return ["".join(p.text for p in g) for g in groups]


def test_brace_expansion() -> None:
    assert texts(brace_expand([Lit("a{b,c}d", False)], Budget())) == ["abd", "acd"]
    assert texts(brace_expand([Lit("{1..3}", False)], Budget())) == ["1", "2", "3"]
    assert texts(brace_expand([Lit("{01..03}", False)], Budget())) == ["01", "02", "03"]
    assert texts(brace_expand([Lit("{a..e..2}", False)], Budget())) == ["a", "c", "e"]
    assert texts(brace_expand([Lit("{x,{y,z}}", False)], Budget())) == ["x", "y", "z"]
    assert texts(brace_expand([Lit("{a}", False)], Budget())) == ["{a}"]


def test_brace_expansion_is_bounded() -> None:
    with pytest.raises(Bound, match="too large"):
        brace_expand([Lit("{1..40}{1..40}", False)], Budget())
    with pytest.raises(Bound, match="sequence too large"):
        brace_expand([Lit(f"{{1..{MAX_BRACE + 1}}}", False)], Budget())


def test_unknown_values_keep_their_source_and_are_flagged() -> None:
    assert expanded("$X") == [("$X", EXP | SPLIT)]
    assert expanded('"$X"') == [("$X", EXP)]
    assert expanded("a$(date)") == [("a$(date)", EXP | SPLIT)]
    assert expanded("<(ls)") == [("<(ls)", EXP | PROC)]
    assert expanded("*.txt$X") == [("*.txt$X", GLOB | EXP | SPLIT)]


def test_positional_parameters_of_sh_c_are_substituted() -> None:
    cx = Cx(pos=(Field("sh"), Field("a b"), Field("c*")))
    assert expanded('"$@"', cx) == [("a b", 0), ("c*", 0)]
    assert expanded('"$*"', cx) == [("a b c*", 0)]
    assert expanded("$@", cx) == [("a", 0), ("b", 0), ("c*", GLOB)]  # split, and a glob again
    assert expanded("$#", cx) == [("2", 0)]
    assert expanded("x$9", cx) == [("x", 0)]  # known to be unset
    assert expanded("$9", Cx(pos=(Field("sh"),), pos_open=True)) == [("$9", EXP | SPLIT)]


def test_an_empty_quoted_word_is_one_empty_field() -> None:
    assert expanded('""') == [("", 0)]
    assert expanded("$1", Cx(pos=(Field("sh"),))) == []


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
