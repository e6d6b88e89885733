"""policy.model: the decision for a given analysis, each command's path words in its own directory."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentgate import policy as pol
from agentgate import shell
from agentgate.policy import model

EXAMPLE = pol.parse_policy(pol.embedded_policy_text(), "<embedded default>")
HOME = "/home/u"


def decide(text: str, cwd: str | None = "/srv/app", home: str | None = HOME) -> pol.Evaluation:
    return EXAMPLE.decide(shell.analyze_script(text, cwd, home))


@pytest.mark.parametrize(("cmd", "cwd", "decision"), [
    ("rm -rf *", "/", "deny"),                   # the starting directory counts, no cd needed
    ("rm -rf .", HOME, "deny"),                  # the home directory, as rules spell it: ~
    ("rm -rf ./*", HOME, "deny"),
    ("rm -rf ../..", f"{HOME}/a", "deny"),       # climbs to /
    ("rm -rf /home/u", "/srv", "deny"),          # an absolute path below home, also as ~
    ("cd /tmp; rm -rf *", "/", "deny"),          # cd may fail: rm may run in / too
    ("cd /tmp && rm -rf *", "/", "allow"),       # ... not after &&
    ("(cd /; rm -rf *)", "/srv", "deny"),
    ("bash -c 'cd / && rm -rf *'", "/srv", "deny"),
    ("pushd / && rm -rf *", "/srv", "deny"),
    ("cd && rm -rf *", "/srv", "deny"),
    ("cd ~/proj && rm -rf ./dist", "/srv", "allow"),
    ("rm -rf build", "/", "ask"),                # in / a bare name is placed too: /build
    ("rm -rf etc", "/", "deny"),                 # cd / && rm -rf etc (tests/test_redteam_more.py)
    ("rm -rf build", "/srv/app", "allow"),       # deeper, a bare name may be a subcommand: not placed
    ("rm -rf *", "/srv/app", "allow"),
    ('cd "$D" && rm -rf *', "/", "allow"),        # the directory is not known: no guess
])
def test_relative_paths_are_checked_where_each_command_runs(cmd: str, cwd: str, decision: str) -> None:
    assert decide(cmd, cwd).decision == decision


def test_a_placed_part_is_shown_only_when_it_matches_more() -> None:
    ev = decide("rm -rf *", "/")
    assert [(p.argv, p.via) for p in ev.parts] == [(("rm", "-rf", "*"), ()),
                                                   (("rm", "-rf", "/*"), ("in /",))]
    assert [p.argv for p in decide("ls *", "/").parts] == [("ls", "*")]


def test_placed_forms() -> None:
    assert model.placed(("rm", "-rf", "*", "x", "-f"), "/w/v", None) == [("rm", "-rf", "/w/v/*", "x", "-f")]
    assert model.placed(("rm", "-rf", "*", "x", "-f"), "/w", None) == [("rm", "-rf", "/w/*", "/w/x", "-f")]
    assert model.placed(("rm", "-r", "~/../../etc"), "/w/v", "/home/u") == [("rm", "-r", "/etc")]
    assert model.placed(("cp", "a/b", "../c", "."), f"{HOME}/p", HOME) == [
        ("cp", f"{HOME}/p/a/b", f"{HOME}/c", f"{HOME}/p"), ("cp", "~/p/a/b", "~/c", "~/p")]
    assert model.placed(("ls", "/etc", "$X/y", "--f=./z", "host:./p"), "/w", HOME) == []
    assert model.placed(("rm", "/home/u"), None, HOME) == [("rm", "~")]


def test_the_same_opaque_part_in_two_directories_is_one_part() -> None:
    ev = decide("cd /x; echo hi | sh", "/srv")
    assert sum(1 for p in ev.parts if p.opaque) == 1 and ev.decision == "ask"


def test_the_model_never_reads_shell_text() -> None:
    """decide is given an analysis; nothing in the model or the patterns imports the shell."""
    import ast
    from pathlib import Path

    for module in (model, pol.patterns):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        runtime = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                   and "shell" in n.module]
        assert not runtime, (module.__name__, imported)


def _regex_program_by_regex(pattern: str) -> str | None:
    m = re.match(r"\^([A-Za-z0-9_][A-Za-z0-9_+-]*)( |\\s)", pattern)
    return m.group(1) if m else None


@given(st.text(alphabet="^rmgit_+-9 \\sé(.*", max_size=10))
def test_the_program_a_regex_is_anchored_to_is_read_as_the_regex_read_it(pattern: str) -> None:
    assert model._regex_program(pattern) == _regex_program_by_regex(pattern)
    for anchored in ("^rm ", "^rm\\s+-r", "^git-lfs ", "^c++ -o", "^_x ", "^rm(", "^-rm ", "^ rm "):
        assert model._regex_program(anchored) == _regex_program_by_regex(anchored), anchored

