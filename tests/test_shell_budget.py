"""shell.budget: the bounds of one analysis, and the Budget that enforces time and size."""

from __future__ import annotations

import pytest

from agentgate.shell import analyze_script
from agentgate.shell.budget import MAX_DEPTH, MAX_EXPANDED, Bound, Budget, check_depth


def test_the_clock_is_read_every_eighth_tick() -> None:
    b = Budget(seconds=0.0)
    for _ in range(7):
        b.tick()
    with pytest.raises(Bound, match="took more than 0 ms of CPU"):
        b.tick()


def test_a_fresh_budget_allows_work() -> None:
    b = Budget()
    for _ in range(1000):
        b.tick()


def test_expanded_text_is_bounded() -> None:
    b = Budget()
    b.grow(MAX_EXPANDED)
    with pytest.raises(Bound, match="too much text"):
        b.grow(1)


def test_depth() -> None:
    check_depth(MAX_DEPTH)
    with pytest.raises(Bound, match=f"deeper than {MAX_DEPTH}"):
        check_depth(MAX_DEPTH + 1)


def test_a_bound_makes_the_analysis_unparseable() -> None:
    a = analyze_script("sudo " * (MAX_DEPTH + 5) + "ls")
    assert [o.reason for o in a.opaque] == [
        f"too large/too deep to analyse: nested deeper than {MAX_DEPTH} levels"]
