"""Turn what an agent asked to run into the simple commands it would really execute.

INTERFACE (stable; policy.py and gate.py depend on it):

    analyze_argv(argv)   -> Analysis   # an argv as `agentgate run -- ...` receives it (no shell)
    analyze_script(text) -> Analysis   # a shell command string (hooks, `sh -c` payloads)

An Analysis lists every simple command found (each a normalized argv plus the path by which it
was reached) and every opaque construct the gate cannot see through. The caller evaluates every
command against the rules and every opaque part as ``settings.unparseable``; strictest wins.

This module is pure: no I/O, no printing, no environment access. It never raises on any input:
anything it cannot understand becomes an Opaque entry.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SimpleCommand:
    """One command that would run. ``argv[0]`` is the program's basename, unquoted."""

    argv: tuple[str, ...]
    via: tuple[str, ...] = ()  # how it was reached, outermost first: ("bash -c", "&&", "sudo")


@dataclass(frozen=True)
class Opaque:
    """Something the gate cannot see through.

    kind:
      "unparseable"  - always needs settings.unparseable (variable command names, pipes into
                       interpreters, bounds exceeded, syntax errors, heredoc into a shell, ...)
      "code"         - an interpreter code string (python -c, node -e, perl -e, ruby -e, ...):
                       needs settings.unparseable only when ``text`` names a program that a
                       policy rule names; the caller decides.
    """

    kind: str
    reason: str
    text: str = ""
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analysis:
    commands: tuple[SimpleCommand, ...]
    opaque: tuple[Opaque, ...] = ()


def _basename(word: str) -> str:
    return word.lstrip("\\").rsplit("/", 1)[-1] or word


def analyze_argv(argv: Sequence[str]) -> Analysis:
    # Provisional version: full wrapper/shell analysis is being written.
    if not argv:
        return Analysis(commands=())
    words = tuple(argv)
    return Analysis(commands=(SimpleCommand((_basename(words[0]), *words[1:])),))


def analyze_script(text: str) -> Analysis:
    # Provisional version: full parser is being written.
    try:
        words = shlex.split(text, comments=True)
    except ValueError as exc:
        return Analysis(commands=(), opaque=(Opaque("unparseable", str(exc), text),))
    return analyze_argv(words)
