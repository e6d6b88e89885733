"""What a program's handler is given: the command's words as fields (:class:`Field`, with the
flags saying what a word holds) and the context around the command (:class:`Cx`): how it was
reached, its stdin, the positional parameters, the environment and the script's variables.
Also the tests of word text that every layer uses."""

from __future__ import annotations

from collections.abc import Sequence

from ..lean import lazy_regex
from .budget import check_depth

# What a word (or a field after expansion) holds, as bit flags.
EXP = 1  # an expansion whose value is unknown here
SPLIT = 2  # ... unquoted, so it may become zero or several words
GLOB = 4  # unquoted pattern characters (pathname expansion)
PROC = 8  # a process substitution (a /dev/fd path at run time)


class Field:
    """A word after expansion: its text and what it holds (the flags above)."""

    __slots__ = ("flags", "text")

    def __init__(self, text: str, flags: int = 0) -> None:
        self.text = text
        self.flags = flags

    def __repr__(self) -> str:
        return f"Field({self.text!r}, {self.flags})"


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


def program_name(word: str) -> str:
    """Normalize a command name: no leading backslashes, basename of a path."""
    name = word.lstrip("\\") or word
    if "/" in name:
        base = name.rsplit("/", 1)[1]
        name = base or name
    return name


def has_glob(text: str) -> bool:
    """Does unquoted text hold pathname-expansion characters?"""
    return "*" in text or "?" in text or ("[" in text and "]" in text[text.index("[") :])


# Appended (and listed in ``dynamic``) to a command that xargs or parallel extends with words
# read at run time. Written as a parameter expansion, so anything shaped like one matches it.
INPUT_WORD = "${xargs-input}"


class Unclear(Exception):
    """What a command runs cannot be followed; becomes an Opaque for that command only."""


KEEP: tuple[Field, ...] = (Field("", -1),)  # sentinel: keep the positional parameters


class Cx:
    """Where a command sits: how it was reached and what the shell knows around it."""

    __slots__ = ("depth", "env", "feed", "items", "pos", "pos_open", "stdin", "tail", "vars", "via")

    def __init__(self, via: tuple[str, ...] = (), depth: int = 0, stdin: bool = False,
                 tail: bool = False, pos: tuple[Field, ...] | None = None,
                 pos_open: bool = False, env: tuple[str, ...] = (), vars: Vars | None = None,
                 feed: Field | None = None) -> None:
        self.via = via  # labels from the outermost command inward
        self.depth = depth
        self.stdin = stdin  # stdin carries data (pipe, here-doc): a shell reading it is opaque
        self.tail = tail  # more arguments will be appended at run time (xargs)
        self.pos = pos  # $0, $1, ... when known (inside sh -c STRING ARGS); None if unknown
        self.pos_open = pos_open  # positional parameters beyond ``pos`` are unknown
        self.env = env  # NAME=value passed down by wrappers and prefixes (env X=1, X=1 cmd)
        self.vars = vars  # the shell variables of the script being walked; None: all unknown
        self.feed = feed  # a here-document or here-string on stdin
        # what every NUL- or line-separated item on stdin starts with (``find . |``: ``./``)
        self.items: str | None = None

    def child(self, label: str | None = None, stdin: bool | None = None) -> Cx:
        same = stdin is None or stdin == self.stdin
        out = Cx((*self.via, label) if label else self.via, self.depth,
                 self.stdin if stdin is None else stdin, False, self.pos, self.pos_open,
                 self.env, self.vars, self.feed if same else None)
        out.items = self.items if same else None
        return out

    def wrap(self, label: str, *, stdin: bool | None = None, tail: bool | None = None,
             pos: tuple[Field, ...] | None = KEEP, pos_open: bool = False) -> Cx:
        check_depth(self.depth + 1)
        keep = pos is KEEP
        same = stdin is None or stdin == self.stdin
        out = Cx((*self.via, label), self.depth + 1, self.stdin if stdin is None else stdin,
                 self.tail if tail is None else tail, self.pos if keep else pos,
                 self.pos_open if keep else pos_open, self.env, self.vars,
                 self.feed if same else None)
        out.items = self.items  # xargs reads them, then gives its command no stdin
        return out

    def with_env(self, env: tuple[str, ...], stdin: bool, feed: Field | None) -> Cx:
        out = Cx(self.via, self.depth, stdin, self.tail, self.pos, self.pos_open, env,
                 self.vars, feed)
        out.items = self.items if stdin == self.stdin and feed is self.feed else None
        return out


class Vars:
    """The shell variables of one script: which are followed, their values, what is exported."""

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


def merge_env(*groups: Sequence[str]) -> tuple[str, ...]:
    """Concatenate NAME=value groups; a name set in a later group drops earlier entries."""
    out: list[str] = []
    for g in groups:
        if not g:
            continue
        if out:
            names = {t.split("=", 1)[0].rstrip("+") for t in g}
            out = [t for t in out if t.split("=", 1)[0].rstrip("+") not in names]
        out.extend(g)
    return tuple(out)
