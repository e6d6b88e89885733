"""shell.syntax: the typed word parts, what a Word knows at once, the text tests every layer uses."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentgate.shell.syntax import (
    GLOB,
    Body,
    Lit,
    Param,
    ProcSubst,
    Subst,
    Word,
    assigned_name,
    has_glob,
    program_name,
)

# what assigned_name stands in for (without compiling a regex on every start)
ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from(list("aZ_09+=-.x é$")), max_size=10))
def test_assigned_name_is_the_assignment_regex(text: str) -> None:
    m = ASSIGN.match(text)
    assert assigned_name(text) == (m.group(1) if m else None)


def test_assigned_name_examples() -> None:
    assert assigned_name("X=1") == "X"
    assert assigned_name("PATH+=:/bin") == "PATH"
    assert assigned_name("_a1=") == "_a1"
    assert assigned_name("1X=1") is None
    assert assigned_name("=x") is None
    assert assigned_name("a-b=1") is None
    assert assigned_name("é=1") is None  # bash names are ASCII
    assert assigned_name("ls") is None


def test_program_name_is_the_basename_without_leading_backslashes() -> None:
    assert program_name("/usr/local/bin/git") == "git"
    assert program_name("\\rm") == "rm"
    assert program_name("./x/y") == "y"
    assert program_name("dir/") == "dir/"  # nothing after the slash: kept as written
    assert program_name("\\") == "\\"


def test_has_glob() -> None:
    assert has_glob("*.py") and has_glob("a?") and has_glob("[a-z]x")
    assert not has_glob("a]b[") and not has_glob("plain")


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
