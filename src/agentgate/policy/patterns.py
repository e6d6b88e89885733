"""What a rule's ``commands`` entry means: pattern words (literals, globs, single-letter flags
that match inside a cluster, ``{a,b}`` alternatives, ``**``) and how a :class:`Pattern` matches
an argv; ``--opt=value`` split in two on both sides; the :class:`Shape` of a word whose value is
only known at run time, and the glob-to-regex translation the built-in guard uses too.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Iterator, Sequence

from ..lean import Record, lazy_regex

# Compiled at first use: most runs need none of them.
_LONG_OPT = lazy_regex(r"--[A-Za-z0-9][A-Za-z0-9_.-]*=")
_SHORT_CLUSTER = lazy_regex(r"-[A-Za-z][A-Za-z0-9]+")
_EXPANSION = lazy_regex(r"\$\{[^}]*\}|\$\([^)]*\)?|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]|`[^`]*`?|\{\}")


def unknown_shape(word: str, split: bool = False, value: bool = False) -> Shape:
    """A regex for the values a word with run-time expansions (``$X``, ``$(..)``, ``{}``) or
    pathname patterns may take. ``split``: unquoted, so it may become several words (or none,
    when nothing but expansions); ``value``: it is the value of the option before it."""
    out, pos = [], 0
    first: list[str] = []
    for m in _EXPANSION().finditer(word):
        out.append(glob_regex(word[pos:m.start()]))
        if not first:
            first = [*out, ".*"]
        # find's {} is a path that starts with a start point, never with "-"
        out.append("(?!-).*" if m.group() == "{}" else ".*")
        pos = m.end()
    out.append(glob_regex(word[pos:]))
    literal = _EXPANSION().sub("", word)
    rx = re.compile("".join(out), re.DOTALL)
    if not split:
        return Shape(rx, literal, value=value)
    if first:  # an expansion splits: the first piece starts as the word does, the rest are open
        return Shape(rx, literal, True, value, re.compile("".join(first), re.DOTALL), _ANY,
                     empty=not literal)
    # a glob alone: each word it becomes is a file name it matches, not an option unless the
    # glob starts with "-" (a file named like an option must exist: out of reach on purpose)
    names = word[:1] != "-"
    return Shape(rx, literal, True, value, rx, rx, names=names)


class Shape:
    """The values a run-time word may take (a regex), and its literal text without expansions.
    A ``split`` word may become several words: ``first`` is what the first of them may be,
    ``piece`` what each later one may be, ``empty`` whether it may vanish; a ``value`` word
    is the value of the option before it (so it is not an option itself)."""

    __slots__ = ("empty", "first", "literal", "names", "piece", "rx", "split", "tilde", "value")

    def __init__(self, rx: re.Pattern[str], literal: str, split: bool = False, value: bool = False,
                 first: re.Pattern[str] | None = None, piece: re.Pattern[str] | None = None,
                 empty: bool = False, names: bool = False):
        self.rx = rx
        self.literal = literal
        self.split = split
        self.value = value
        self.first = first or rx
        self.piece = piece or rx
        self.empty = empty
        self.names = names  # each word it becomes is a file name a glob matches
        # a ``~`` only a written word starts with is the home directory (``$X`` or a glob
        # that becomes ``~`` is a file of that name)
        self.tilde = literal[:1] == "~"

    def fullmatch(self, value: str) -> bool:
        return self.rx.fullmatch(value) is not None

    def part(self, rx: re.Pattern[str]) -> Shape:
        """The shape of one of the words a split word becomes."""
        return Shape(rx, "" if rx is _ANY else self.literal, names=self.names)


_ANY = re.compile(".*", re.DOTALL)


def _glob_pieces(glob: str) -> Iterator[tuple[str, str]]:
    """A glob's pieces, as bash reads them: ``("*", "")``, ``("?", "")``, ``("[", body)`` for a
    bracket expression (``body`` between the brackets), ``("", c)`` for a literal character."""
    i = 0
    while i < len(glob):
        c = glob[i]
        j = glob.find("]", i + 2) if c == "[" else -1
        if c in "*?":
            yield c, ""
        elif j > 0:
            yield "[", glob[i + 1:j]
            i = j
        else:
            yield "", c
        i += 1


def _glob_sample(glob: str) -> str:
    """One word a glob accepts: ``*`` empty, ``?`` and ``[...]`` one character of theirs."""
    out = []
    for kind, value in _glob_pieces(glob):
        if kind == "?":
            out.append("a")
        elif kind == "[":
            out.append("a" if value[:1] in ("!", "^") else value[0])
        elif kind == "":
            out.append(value)
    return "".join(out)


def glob_regex(text: str) -> str:
    """Regex text for a glob as bash expands it: ``*``, ``?`` and ``[...]`` stand for what they
    may expand to, within one path segment (a literal stretch of a run-time word, or a path)."""
    if not any(c in text for c in "*?["):
        return re.escape(text)
    out = []
    for kind, value in _glob_pieces(text):
        if kind == "*":
            out.append("[^/]*")
        elif kind == "?":
            out.append("[^/]")
        elif kind == "[":
            body = value.replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body[:1] in ("!", "^") else "[" + body + "]")
        else:
            out.append(re.escape(value))
    return "".join(out)


def split_long_options(words: Iterable[str]) -> list[str]:
    """``--context=prod`` -> ``--context``, ``prod`` (applied to argv and patterns alike)."""
    out: list[str] = []
    for w in words:
        m = _LONG_OPT().match(w) if w[:2] == "--" and "=" in w else None
        if m:
            out.append(w[: m.end() - 1])
            out.append(w[m.end():])
        else:
            out.append(w)
    return out


def _unescaped(glob: str) -> str | None:
    """The one word ``glob`` matches when its only special characters are single characters in
    brackets (``/[*]`` is ``/*``, ``[[]`` is ``[``); None when it holds a real wildcard, a
    class of more than one character, or a stray ``]``."""
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "[":
            if i + 2 >= n or glob[i + 1] == "]" or glob[i + 2] != "]":
                return None
            out.append(glob[i + 1])
            i += 3
            continue
        if c in "*?]":
            return None
        out.append(c)
        i += 1
    return "".join(out)


class _Word:
    """One pattern word compiled: literal, glob, short flag (cluster-aware) or alternatives."""

    __slots__ = ("alts", "text")

    def __init__(self, text: str):
        self.text = text
        alts: list[tuple[str, str]] = []
        body = text[1:-1] if (len(text) > 2 and text[0] == "{" and text[-1] == "}" and "," in text) else None
        for alt in (body.split(",") if body is not None else [text]):
            if len(alt) == 2 and alt[0] == "-" and alt[1].isalpha():
                alts.append(("flag", alt))
            elif "[" in alt and (lit := _unescaped(alt)) is not None:
                alts.append(("lit", lit))  # /[*] is the word /*
            elif "*" in alt or "?" in alt or "[" in alt:
                alts.append(("glob", alt))
            else:
                alts.append(("lit", alt))
        self.alts = tuple(alts)

    @property
    def is_option(self) -> bool:
        """Every alternative is an option (``-f``, ``--force*``)."""
        return all(alt.startswith("-") for _, alt in self.alts)

    def could_match(self, unknown: Shape) -> bool:
        """Could a word whose value is only known at run time (``unknown``: its shape, see
        :func:`unknown_shape`) match this pattern word? Exact for literals; for globs and flags
        a close approximation: a value the pattern word accepts and the shape allows, or the
        word's own literal text (expansions empty) accepted by the pattern word."""
        literal = unknown.literal
        for kind, alt in self.alts:
            if (alt[:1] == "~" and not unknown.tilde) or alt[:1] == "$":
                continue  # ``~`` and ``$HOME`` written in a rule are the home directory
            if kind == "lit":
                if unknown.fullmatch(alt):
                    return True
            elif kind == "flag":
                if any(unknown.fullmatch(v) for v in (alt, alt + "x", "-x" + alt[1])):
                    return True
            elif unknown.fullmatch(_glob_sample(alt)) or fnmatch.fnmatchcase(literal, alt):
                return True
        return False

    def matches(self, word: str) -> bool:
        for kind, alt in self.alts:
            if kind == "lit":
                if word == alt:
                    return True
            elif kind == "flag":
                if word == alt or (_SHORT_CLUSTER().fullmatch(word) and alt[1] in word[1:]):
                    return True
            elif fnmatch.fnmatchcase(word, alt):
                return True
        return False

    @property
    def literals(self) -> tuple[str, ...] | None:
        """The exact words this can match, or None when a glob or flag makes it open."""
        if all(kind == "lit" for kind, _ in self.alts):
            return tuple(alt for _, alt in self.alts)
        return None


# A word compiled once per process (it holds no state): the starter policy repeats its long
# alternatives (every root directory, every branch spelling) in several rules.
_word = functools.lru_cache(maxsize=4096)(_Word)


class Pattern(Record):
    text: str
    words: tuple[_Word | None, ...]  # None is ``**``

    @classmethod
    def compile(cls, text: str) -> Pattern:
        if text.isprintable() and "'" not in text and '"' not in text and "\\" not in text:
            raw = text.split()  # what shlex.split gives when there is nothing to unquote
        else:
            import shlex

            try:
                raw = shlex.split(text)
            except ValueError as e:
                raise ValueError(f"pattern {text!r} does not split into words: {e}") from None
        if not raw:
            raise ValueError("empty pattern")
        if raw[0] == "**":
            words: list[_Word | None] = [None]
        else:
            first = raw[0].rstrip("/").rsplit("/", 1)[-1] if "/" in raw[0] else raw[0]
            words = [_word(first)]
        for w in split_long_options(raw[1:]):
            words.append(None if w == "**" else _word(w))
        return cls(text, tuple(words))

    def subcommand_index(self) -> int:
        """The index of the pattern's subcommand word (the first word after the program, past
        ``**``, that is a plain literal such as ``publish`` or ``{apply,destroy}``), else -1."""
        for i, w in enumerate(self.words[1:], 1):
            if w is None:
                continue
            return i if not any(kind == "flag" or alt.startswith("-") for kind, alt in w.alts) else -1
        return -1

    @property
    def programs(self) -> tuple[str, ...] | None:
        """The program names this pattern can match, for indexing; None if any may match."""
        first = self.words[0]
        return first.literals if first is not None else None

    def matches(self, argv: Sequence[str],
                unknown: dict[int, Shape] | None = None) -> bool:
        """True when the pattern consumes a prefix of ``argv`` (already normalized).

        With ``unknown`` (argv index -> shape of a run-time value), True when it *could*: a
        run-time word stands for one pattern word, or, when it may split (an unquoted
        expansion, a glob, xargs input), for none or several in a row."""
        if not unknown:
            return self._literal_match(argv)
        words = self.words
        n, m = len(words), len(argv)
        failed: set[tuple[int, int, bool]] = set()
        sub = self.subcommand_index()

        def free(j: int) -> bool:
            # A run-time word may stand for the subcommand only where no literal subcommand
            # came before it (`npm install $PKG` cannot be `npm publish`); a word after an
            # option may be that option's value (`kubectl --context x $X`), not a subcommand.
            return all(a[:1] in ("-", "+") or (k > 1 and argv[k - 1][:1] == "-" and "=" not in argv[k - 1])
                       for k, a in enumerate(argv[1:j], 1))

        def one(w: _Word, i: int, j: int, shape: Shape) -> bool:
            # right after an option known to take a value it is that value, neither an option
            # nor the subcommand (`git commit -m "$MSG"`); the analysis says where that is known.
            # A file name a glob matches is not an option either.
            if (shape.value or shape.names) and w.is_option:
                return False
            return w.could_match(shape) and (i != sub or (free(j) and not shape.value))

        def go(i: int, j: int, rest: bool) -> bool:
            # ``rest``: argv[j] is a split word whose first words were used already
            if i == n:
                return True
            key = (i, j, rest)
            if key in failed:
                return False
            ok = step(i, j, rest)
            if not ok:
                failed.add(key)
            return ok

        def step(i: int, j: int, rest: bool) -> bool:
            w = words[i]
            if w is None:
                if i == n - 1:
                    return True
                if go(i + 1, j, rest):
                    return True
                for k in range(j + (1 if rest else 0), m + 1):
                    if go(i + 1, k, False):
                        return True
                    shape = unknown.get(k)
                    if k < m and shape is not None and shape.split and go(i + 1, k, True):
                        return True
                return False
            if j == m:
                return False
            shape = unknown.get(j)
            if rest:
                assert shape is not None
                return go(i, j + 1, False) or (
                    one(w, i, j, shape.part(shape.piece)) and go(i + 1, j, True))
            if shape is None:
                return w.matches(argv[j]) and go(i + 1, j + 1, False)
            if one(w, i, j, shape) and go(i + 1, j + 1, False):
                return True
            if not shape.split:
                return False
            if shape.empty and go(i, j + 1, False):
                return True
            return one(w, i, j, shape.part(shape.first)) and go(i + 1, j, True)

        return go(0, 0, False)

    def _literal_match(self, argv: Sequence[str]) -> bool:
        words = self.words
        n, m = len(words), len(argv)
        failed: set[tuple[int, int]] = set()

        def go(i: int, j: int) -> bool:
            while True:
                if i == n:
                    return True
                w = words[i]
                if w is None:
                    if i == n - 1:
                        return True
                    if (i, j) in failed:
                        return False
                    for k in range(j, m + 1):
                        if go(i + 1, k):
                            return True
                    failed.add((i, j))
                    return False
                if j == m or not w.matches(argv[j]):
                    return False
                i += 1
                j += 1

        return go(0, 0)


def normalize_dynamic(argv: Sequence[str], dynamic: Sequence[int], split: Sequence[int] = (),
                      valued: Sequence[int] = ()) -> tuple[tuple[str, ...], dict[int, Shape]]:
    """Like :func:`normalize_argv`, also mapping run-time-valued words to their new indexes and
    shapes: ``split`` lists the words that may become several, ``valued`` those known to be
    the value of the option before them (``--opt=$X`` is an option with a run-time value)."""
    out: list[str] = []
    shapes: dict[int, Shape] = {}
    dyn = set(dynamic)
    for i, w in enumerate(argv):
        pieces = split_long_options([w]) if i else [w]
        for k, piece in enumerate(pieces):
            if i in dyn and k == len(pieces) - 1:
                if _EXPANSION().search(piece) or any(c in piece for c in "*?["):
                    shapes[len(out)] = unknown_shape(piece, i in split, i in valued or k > 0)
                elif k == 0:  # a run-time value written as plain text (xargs -I's string)
                    shapes[len(out)] = Shape(_ANY, "", i in split, i in valued)
            out.append(piece)
    return tuple(out), shapes


def normalize_argv(argv: Sequence[str]) -> tuple[str, ...]:
    if not argv:
        return ()
    return (argv[0], *split_long_options(argv[1:]))

