"""The tree the parser builds: words made of parts, redirections, commands and lists.

It knows no programs; :mod:`.parser` builds it and :mod:`.analyzer` walks it.
"""

from __future__ import annotations

from ..lean import lazy_regex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TypeAlias

# What a word (or a field after expansion) holds, as bit flags.
EXP = 1  # an expansion whose value is unknown here
SPLIT = 2  # ... unquoted, so it may become zero or several words
GLOB = 4  # unquoted pattern characters (pathname expansion)
PROC = 8  # a process substitution (a /dev/fd path at run time)

LIT, PARAM, DYN, PSUB = 0, 1, 2, 3
# (kind, text, quoted, substitutions to analyse, parameter name); text is the unquoted
# literal, or the source text of an expansion.
Sub: TypeAlias = "tuple[str, list[Node]]"
Part: TypeAlias = "tuple[int, str, bool, tuple[Sub, ...], str]"
Field: TypeAlias = tuple[str, int]  # (text, flags)

NAME = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*")


def wordset(text: str) -> frozenset[str]:
    """The space-separated words of ``text``, as a set (for tables of names)."""
    return frozenset(text.split())


def assigned_name(text: str) -> str | None:
    """NAME when ``text`` starts like an assignment (``NAME=`` or ``NAME+=``), else None.
    (The regex ``[A-Za-z_][A-Za-z0-9_]*\\+?=`` without compiling one: every word meets it.)"""
    eq = text.find("=")
    if eq <= 0:
        return None
    name = text[: eq - 1] if text[eq - 1] == "+" else text[:eq]
    return name if name.isascii() and name.isidentifier() else None


def has_glob(text: str) -> bool:
    """Does unquoted text hold pathname-expansion characters?"""
    return "*" in text or "?" in text or ("[" in text and "]" in text[text.index("[") :])


class Word:
    __slots__ = ("arr", "assign", "brace", "flags", "lit", "parts", "plain", "quoted")

    def __init__(self, parts: list[Part], arr: list[Word] | None = None) -> None:
        self.parts = parts
        self.arr = arr
        literal = True
        texts: list[str] = []
        unq: list[str] = []
        quoted = False
        for kind, text, q, _s, _n in parts:
            if kind == LIT:
                texts.append(text)
                if q:
                    quoted = True
                else:
                    unq.append(text)
            else:
                literal = False
        self.quoted = quoted
        self.lit = "".join(texts) if literal else None
        u = "".join(unq)
        self.flags = GLOB if u and has_glob(u) else 0
        self.brace = "{" in u and "}" in u and ("," in u or ".." in u) and arr is None
        first = parts[0]
        self.plain = first[1] if len(parts) == 1 and first[0] == LIT and not first[2] else None
        self.assign = assigned_name(first[1]) if first[0] == LIT and not first[2] else None

    def source(self) -> str:
        return "".join(p[1] for p in self.parts)


class Heredoc:
    __slots__ = ("body", "delim", "quoted", "strip", "word")

    def __init__(self, delim: str, strip: bool, quoted: bool) -> None:
        self.delim = delim
        self.strip = strip
        self.quoted = quoted
        self.body = ""  # the text as written
        self.word: Word | None = None  # unquoted delimiter: the body with $, ` and \ processed


class Redir:
    __slots__ = ("fd", "feeds", "heredoc", "op", "target")

    def __init__(self, op: str, target: Word, heredoc: Heredoc | None, fd: str = "") -> None:
        self.op = op
        self.target = target
        self.heredoc = heredoc
        self.fd = fd  # the file descriptor number written before the operator, if any
        # does it put data (not a plain file) on the command's stdin?
        self.feeds = op in ("<<", "<<-", "<<<") or (op == "<" and target.parts[0][0] == PSUB)


class Simple:
    __slots__ = ("assigns", "redirs", "words")

    def __init__(self, assigns: list[Word], words: list[Word], redirs: list[Redir]) -> None:
        self.assigns = assigns
        self.words = words
        self.redirs = redirs


class AndOr:
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Node]]) -> None:
        self.items = items


class Pipe:
    __slots__ = ("cmds",)

    def __init__(self, cmds: list[Node]) -> None:
        self.cmds = cmds


class Compound:
    """Subshells, groups, loops, if/case, [[ ]], (( )): what matters is the commands inside."""

    __slots__ = ("body", "label", "redirs", "var", "words")

    def __init__(self, label: str | None, body: list[Node], words: list[Word] | None = None,
                 var: str | None = None) -> None:
        self.label = label
        self.body = body
        self.words = words or []
        self.var = var
        self.redirs: list[Redir] = []


class Func:
    __slots__ = ("body", "name")

    def __init__(self, name: str, body: Node) -> None:
        self.name = name
        self.body = body


Node: TypeAlias = "Simple | AndOr | Pipe | Compound | Func"
