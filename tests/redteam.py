"""What the red-team corpora (tests/test_redteam_shell.py, _more.py, _programs.py) share: where
their command lines run, how one is decided, the embedded default policy, and the stand-in
programs that prove in real bash what a held string runs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agentgate import policy as pol
from agentgate import shell

WHERE = ("/home/u/app", "/home/u")  # the working directory and the home the analysis assumes
DEFAULT = pol.parse_policy(pol.embedded_policy_text(), "<embedded default>")


def decide(p: pol.Policy, text: str) -> pol.Evaluation:
    return p.decide(shell.analyze_script(text, *WHERE))


def case_id(text: str) -> str:
    return text[:70]


def write_stand_ins(d: Path, names: Iterable[str], *, cwd: bool = False) -> Path:
    """Stand-in programs in ``d`` that append ``NAME ARGS`` (and, with ``cwd``, the directory they
    ran in) to the file $MARK names."""
    line = '"$(basename "$0") $*"' + (' "cwd=$(pwd)"' if cwd else "")
    for name in names:
        f = d / name
        f.write_text(f'#!/bin/sh\nprintf "%s\\n" {line} >> "$MARK"\n')
        f.chmod(0o755)
    return d
