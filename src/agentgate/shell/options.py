"""Per-program knowledge as data: getopt-style option tables (:class:`Opts`, :func:`opts`),
the parser that reads a command's options with them (:func:`parse_opts`), and the handler
every simple wrapper is made of (:func:`wrapper`).

A handler is called with the analyzer (a :class:`Walker`), the program's lower-case name, the
command's fields (``words[0]`` is the program) and the command's :class:`~.context.Cx`; it
reports what the command runs through the walker and raises :class:`~.context.Unclear` when
that cannot be followed.
"""

from __future__ import annotations

from ..lean import Record
from .context import Unclear
from .syntax import EXP, SPLIT, Field

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol, TypeAlias

    from .context import Cx

    class Walker(Protocol):
        """What handlers may ask of the analyzer."""

        aliases: dict[str, str]

        def command(self, words: list[Field], cx: Cx, lead: tuple[str, ...] = (),
                    direct: bool = False) -> None: ...

        def shell_text(self, text: str, flag: int, label: str, cx: Cx,
                       pos: tuple[Field, ...] | None = None, pos_open: bool = False) -> None: ...

        def script(self, text: str, cx: Cx) -> None: ...

        def add_opaque(self, kind: str, reason: str, text: str, via: tuple[str, ...]) -> None: ...

    Handler: TypeAlias = Callable[[Walker, str, list[Field], Cx], None]
    Found: TypeAlias = list[tuple[str, str, int]]  # (option, its value, the value's flags)


class Opts(Record):
    """getopt-style option table of a wrapper. Unknown options make the command opaque."""

    flags: str = ""  # short options without an argument
    args: str = ""  # short options with an argument (attached or next word)
    optattached: str = ""  # short options whose optional argument must be attached
    long_flags: frozenset[str] = frozenset()
    long_args: frozenset[str] = frozenset()  # argument after '=' or in the next word
    long_optional: frozenset[str] = frozenset()  # optional argument, only after '='
    numeric: bool = False  # nice: -5 / --5
    lenient: int = 0  # 1: unknown --opt=value is fine; 2: any unknown --opt is a switch


def opts(flags: str = "", args: str = "", lf: str = "", la: str = "", lo: str = "",
         optattached: str = "", numeric: bool = False, lenient: int = 0) -> Opts:
    """An :class:`Opts` from strings: long options (``lf`` flags, ``la`` with an argument,
    ``lo`` with an optional one) are space-separated."""
    return Opts(flags, args, optattached, frozenset(lf.split()), frozenset(la.split()),
                frozenset(lo.split()), numeric, lenient)


def parse_opts(words: list[Field], i: int, spec: Opts, name: str) -> tuple[int, Found]:
    """Skip a wrapper's options; return the index of its first operand and what was seen."""
    found: Found = []
    n = len(words)
    while i < n:
        t, f = words[i]
        if f & EXP:
            raise Unclear(f"{name}: an option or the command is not literal ({t})")
        if t == "--":
            return i + 1, found
        if len(t) < 2 or t[0] != "-":
            return i, found
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key in spec.long_args:
                if eq:
                    found.append((key, val, f))
                elif i + 1 < n:
                    i += 1
                    if words[i][1] & SPLIT:
                        raise Unclear(f"{name}: the value of {key} may split into several words")
                    found.append((key, words[i][0], words[i][1]))
                else:
                    return n, found
            elif key in spec.long_flags or key in spec.long_optional:
                found.append((key, val, f))
            elif spec.numeric and t[2:].isdigit():
                found.append(("-n", t[2:], f))
            elif spec.lenient >= 2 or (spec.lenient and eq):
                found.append((key, val, f))
            else:
                raise Unclear(f"{name}: unrecognised option {key}")
            i += 1
            continue
        j = 1
        while j < len(t):
            ch = t[j]
            if ch in spec.args:
                if j + 1 < len(t):
                    found.append(("-" + ch, t[j + 1 :], f))
                elif i + 1 < n:
                    i += 1
                    if words[i][1] & SPLIT:
                        raise Unclear(f"{name}: the value of -{ch} may split into several words")
                    found.append(("-" + ch, words[i][0], words[i][1]))
                else:
                    return n, found
                break
            if ch in spec.optattached:
                found.append(("-" + ch, t[j + 1 :], f))
                break
            if ch in spec.flags:
                found.append(("-" + ch, "", f))
                j += 1
                continue
            if spec.numeric and t[j:].isdigit():
                found.append(("-n", t[j:], f))
                break
            raise Unclear(f"{name}: unrecognised option -{ch}")
        i += 1
    return i, found


def seen(found: Found, *names: str) -> bool:
    """Was one of the options ``names`` given?"""
    return any(o in names for o, _, _ in found)


def run(an: Walker, words: list[Field], i: int, label: str, cx: Cx, *,
        stdin: bool | None = None, tail: bool | None = None) -> None:
    """Analyse ``words[i:]`` as the command a wrapper runs (nothing to run is fine, unless the
    words come from input)."""
    if i >= len(words):
        if cx.tail:
            raise Unclear(f"{label}: the command to run comes from input")
        return
    an.command(words[i:], cx.wrap(label, stdin=stdin, tail=tail))


def wrapper(spec: Opts, operands: int = 0, none_if: str = "") -> Handler:
    """A command that runs the rest of its argv after options and ``operands`` fixed words."""
    stop = frozenset(none_if.split())

    def handler(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
        i, found = parse_opts(words, 1, spec, name)
        if any(o in stop for o, _, _ in found):
            return
        for _ in range(operands):
            if i >= len(words):
                return run(an, words, i, name, cx)
            if words[i][1] & EXP:
                raise Unclear(f"{name}: an operand is not literal ({words[i][0]})")
            i += 1
        run(an, words, i, name, cx)

    return handler
