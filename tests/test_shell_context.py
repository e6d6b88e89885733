"""shell.context: what the analyzer knows around a command, and how wrappers pass it down."""

from __future__ import annotations

import pytest

from agentgate.shell.budget import MAX_DEPTH, Bound
from agentgate.shell.context import Cx, merge_env
from agentgate.shell.syntax import Field


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
