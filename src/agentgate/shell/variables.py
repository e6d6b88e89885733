"""Which shell variables of a script the analysis can follow, and their values so far.

A variable's literal value is substituted for $NAME only when the script gives it no way to
change behind our back: every assignment to it is a plain ``NAME=value`` (or ``export``/
``readonly NAME=value``) at the top level of the script, run in order (not in a loop, branch,
function, pipeline, subshell, background job or && tail), and the script uses nothing that
assigns variables out of sight (read, eval, source, declare, let, (( )), ${X:=v}, traps,
aliases, namerefs, IFS changes, ...). Anything else leaves the variable dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence

from .syntax import AndOr, Node, Simple, Word, assigned_name, program_name, wordset


class Vars:
    """The shell variables of one script (see the module docstring)."""

    __slots__ = ("_words", "allexport", "env", "exported", "off", "stable", "top", "vals")

    def __init__(self, stable: frozenset[str] | set[str] = frozenset(), top: set[int] | None = None,
                 off: bool = True) -> None:
        self.stable = stable  # names whose value is followed
        self.top = top or set()  # ids of the simple commands run in order at the top level
        self.off = off  # values are not followed at all
        self.vals: dict[str, str | None] = {}  # stable name -> its value now (None: unknown)
        self.env: dict[str, list[str]] = {}  # name -> NAME=value texts assigned so far
        self.exported: set[str] = set()  # export NAME, declare -x NAME
        self.allexport = False  # set -a: every assignment is exported
        self._words: tuple[str, ...] | None = ()  # env_words() until the next change

    def value(self, name: str) -> str | None:
        return None if self.off else self.vals.get(name)

    def assign(self, name: str, value: str | None, text: str, in_order: bool) -> None:
        if name in self.stable:
            self.vals[name] = value
        seen = self.env.get(name)
        if seen is None or in_order:
            self.env[name] = [text]
        elif text not in seen:
            seen.append(text)
        if self.allexport or name in self.exported:
            self._words = None

    def export(self, name: str) -> None:
        self.exported.add(name)
        self._words = None

    def export_all(self) -> None:
        """``set -a``: every assignment from now on is exported."""
        self.allexport = True
        self._words = None

    def env_words(self) -> tuple[str, ...]:
        """The exported assignments so far: what reaches the environment of later commands."""
        if self._words is None:
            self._words = tuple(t for name, texts in self.env.items()
                                if self.allexport or name in self.exported for t in texts)
        return self._words


# builtins that assign variables in ways not followed here (or run code that may)
_VAR_RISKY = wordset("read mapfile readarray getopts declare typeset local let unset eval source "
                     ". trap alias enable builtin shopt")


# the shell sets these itself
_SPECIAL_VARS = wordset("PWD OLDPWD RANDOM SRANDOM SECONDS LINENO BASHPID PPID UID EUID GROUPS "
                        "PIPESTATUS REPLY OPTARG OPTIND OPTERR IFS HISTCMD EPOCHSECONDS "
                        "EPOCHREALTIME COLUMNS LINES _ BASH_REMATCH BASH_COMMAND BASH_SUBSHELL "
                        "BASH_ARGV0 BASH_LINENO BASH_SOURCE FUNCNAME DIRSTACK MAPFILE COPROC "
                        "HOSTNAME SHLVL PS4")


_ARITH_TESTS = ("-eq", "-ne", "-lt", "-le", "-gt", "-ge")


def sets_vars(name: str, args: Sequence[str]) -> bool:
    """Can the builtin ``name`` assign shell variables that are not followed here?"""
    if name in _VAR_RISKY:
        return True
    if name == "printf":
        return any(a.startswith("-v") for a in args[:3])
    if name == "wait":
        return any(a.startswith("-") and "p" in a for a in args)
    if name == "command":
        return any(a in _VAR_RISKY or a in ("export", "readonly") for a in args)
    return False


def script_vars(text: str, nodes: list[Node], done: list[Simple], bg: set[int]) -> Vars:
    """Decide which variables of a script can be followed (see the module docstring):
    ``nodes`` are its top-level commands, ``done`` every simple command parsed in it, ``bg``
    the ids of those run in the background."""
    if _untrackable(text):
        return Vars()
    top = _top_level(nodes, bg)
    in_order: set[str] = set()
    other: set[str] = set()
    for nd in done:
        if not _note_assignments(nd, id(nd) in top, in_order, other):
            return Vars()
    if "IFS" in in_order or "IFS" in other:
        return Vars()
    return Vars(frozenset(in_order - other - _SPECIAL_VARS), top, False)


def _untrackable(text: str) -> bool:
    """Does the script assign variables in ways not followed here (arithmetic, coprocesses,
    ``{fd}>`` redirections, ``${X:=v}``)?"""
    if "$[" in text or "((" in text or "coproc" in text or "}>" in text or "}<" in text:
        return True
    if "[[" in text and any(op in text for op in _ARITH_TESTS):
        return True
    k = text.find("${")
    while k >= 0:  # ${X:=v}, ${X=v}, ${a[i=1]} assign
        e = text.find("}", k)
        if e < 0 or "=" in text[k:e]:
            return True
        k = text.find("${", e)
    return False


def _top_level(nodes: list[Node], bg: set[int]) -> set[int]:
    """The ids of the simple commands a script runs in order at its top level."""
    top: set[int] = set()
    for nd in nodes:
        if id(nd) in bg:
            continue
        if isinstance(nd, AndOr):
            nd = nd.cmds[0]
        if isinstance(nd, Simple) and not nd.redirs and id(nd) not in bg:
            top.add(id(nd))
    return top


def _note_assignments(nd: Simple, at_top: bool, in_order: set[str], other: set[str]) -> bool:
    """Add the variables ``nd`` assigns to ``in_order`` (plain assignments run in order) or
    ``other``; False when it may assign variables out of sight."""
    if not nd.words:
        for a in nd.assigns:
            if a.assign is not None:
                (in_order if at_top else other).add(a.assign)
        return True
    for a in nd.assigns:  # NAME=value cmd: kept by special builtins in POSIX mode
        if a.assign is not None:
            other.add(a.assign)
    w0 = nd.words[0].lit
    if w0 is None or nd.words[0].brace:
        return at_top  # a command name known only later, where it cannot be followed
    prog = program_name(w0)
    if prog in ("export", "readonly"):
        return _note_exports(nd.words[1:], in_order if at_top and not nd.assigns else other)
    return not sets_vars(prog, [w.lit if w.lit is not None else "" for w in nd.words[1:]])


def _note_exports(args: list[Word], names: set[str]) -> bool:
    """Add the variables ``export``/``readonly`` ARGS assign to ``names``; False when one of
    the arguments is not known."""
    for w in args:
        if w.lit is None:
            if w.assign is None:
                return False
            names.add(w.assign)
        else:
            name = assigned_name(w.lit)
            if name is not None:
                names.add(name)
    return True
