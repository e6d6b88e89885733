"""shell.context: a command's fields, what is known around it and how wrappers pass it down,
and the word-text tests every layer uses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentgate.shell.budget import MAX_DEPTH, Bound
from agentgate.shell.context import Cx, Field, assigned_name, has_glob, merge_env, program_name

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


def test_a_wrapper_adds_its_label_and_a_level() -> None:
    cx = Cx(("bash -c",), depth=1, stdin=True, pos=(Field("sh"),))
    inner = cx.wrap("sudo")
    assert (inner.via, inner.depth, inner.stdin, inner.pos) == (("bash -c", "sudo"), 2, True, cx.pos)
    fresh = cx.wrap("eval", stdin=False, tail=True, pos=None)
    assert (fresh.stdin, fresh.tail, fresh.pos) == (False, True, None)


def test_nesting_is_bounded() -> None:
    cx = Cx(depth=MAX_DEPTH)
    with pytest.raises(Bound):
        cx.wrap("x")
    assert cx.child("|").depth == MAX_DEPTH  # a pipeline or && is no deeper


def test_a_here_document_is_kept_only_while_stdin_is_the_same() -> None:
    cx = Cx(stdin=True, feed=Field("ls\n"))
    assert cx.child("&&").feed is cx.feed
    assert cx.child("|", stdin=False).feed is None
    assert cx.wrap("xargs", stdin=False).feed is None


def test_merge_env_lets_a_later_assignment_replace_an_earlier_one() -> None:
    assert merge_env(("A=1", "B=2"), ["A=3"], ()) == ("B=2", "A=3")
    assert merge_env(("A=1",), ["A+=x"]) == ("A+=x",)
    assert merge_env((), ()) == ()
