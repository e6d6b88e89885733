"""shell.expand: $'...' strings, brace expansion, and the fields a word becomes."""

from __future__ import annotations

import pytest

from agentgate.shell.budget import MAX_BRACE, Bound, Budget
from agentgate.shell.context import Cx
from agentgate.shell.expand import ansi_c, brace_expand, fields
from agentgate.shell.parser import Parser
from agentgate.shell.syntax import EXP, GLOB, PROC, SPLIT, Field, Lit, Part, Simple


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
