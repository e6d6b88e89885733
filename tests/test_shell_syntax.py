"""shell.syntax: the typed word parts, and what a Word knows at once."""

from __future__ import annotations

from agentgate.shell.context import GLOB
from agentgate.shell.syntax import Body, Lit, Param, ProcSubst, Subst, Word


def test_a_bare_literal_word() -> None:
    w = Word([Lit("X=*.txt", False)])
    assert (w.lit, w.plain, w.assign, w.quoted, w.flags, w.brace) == ("X=*.txt", "X=*.txt", "X", False, GLOB, False)


def test_a_quoted_literal_is_no_glob_and_no_assignment() -> None:
    w = Word([Lit("X=*", True)])
    assert (w.lit, w.plain, w.assign, w.quoted, w.flags) == ("X=*", None, None, True, 0)


def test_a_word_with_an_expansion_has_no_literal_text() -> None:
    body = Body("$()", [])
    w = Word([Lit("a", False), Param("$X", True, "X"), Subst("$(date)", False, (body,))])
    assert w.lit is None and w.plain is None
    assert w.source() == "a$X$(date)"
    assert [p.subs for p in w.parts] == [(), (), (body,)]


def test_brace_expansion_is_noted_on_unquoted_text_only() -> None:
    assert Word([Lit("{a,b}", False)]).brace
    assert Word([Lit("x{1..3}", False)]).brace
    assert not Word([Lit("{a,b}", True)]).brace
    assert not Word([Lit("{a}", False)]).brace


def test_a_process_substitution_is_never_quoted() -> None:
    p = ProcSubst("<(ls)", (Body("<()", []),))
    assert p.quoted is False and p.subs[0].label == "<()"
