"""The tree the parser builds: words made of typed parts, redirections, commands and lists.

It knows no programs; :mod:`.parser` builds it and :mod:`.analyzer` walks it (loading it only
once there is shell text to read).
"""

from __future__ import annotations

from .context import GLOB, assigned_name, has_glob

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TypeAlias

# -- the parts of a word: each has ``text`` (a literal's unquoted text, an expansion's source),
# ``quoted`` (inside quotes, or escaped) and ``subs`` (command lists inside it, to analyse)


class Lit:
    """Literal text."""

    __slots__ = ("quoted", "text")
    subs: tuple[Body, ...] = ()

    def __init__(self, text: str, quoted: bool) -> None:
        self.text = text
        self.quoted = quoted


class Param:
    """A plain parameter whose value may be known: ``$NAME``, ``${NAME}``, ``$1``, ``"$@"``."""

    __slots__ = ("name", "quoted", "text")
    subs: tuple[Body, ...] = ()

    def __init__(self, text: str, quoted: bool, name: str) -> None:
        self.text = text
        self.quoted = quoted
        self.name = name


class Subst:
    """An expansion whose value is only known at run time: ``$(...)``, backquotes, ``$((..))``,
    ``${X:-...}``; ``subs`` holds the commands inside it."""

    __slots__ = ("quoted", "subs", "text")

    def __init__(self, text: str, quoted: bool, subs: tuple[Body, ...]) -> None:
        self.text = text
        self.quoted = quoted
        self.subs = subs


class ProcSubst:
    """A process substitution, ``<(...)`` or ``>(...)``: a /dev/fd path at run time."""

    __slots__ = ("subs", "text")
    quoted = False

    def __init__(self, text: str, subs: tuple[Body, ...]) -> None:
        self.text = text
        self.subs = subs


Part: TypeAlias = "Lit | Param | Subst | ProcSubst"


class Body:
    """The commands inside a substitution, and the label they are reported under ("$()")."""

    __slots__ = ("label", "nodes")

    def __init__(self, label: str, nodes: list[Node]) -> None:
        self.label = label
        self.nodes = nodes


class Word:
    """A word as written: its parts, and what the parser could tell at once (``lit``: the
    unquoted text when it is all literal; ``plain``: the text when it is one bare literal;
    ``assign``: NAME of a ``NAME=...`` word; ``brace``: brace expansion may apply; ``arr``: the
    items of a ``NAME=(...)`` array assignment)."""

    __slots__ = ("arr", "assign", "brace", "flags", "lit", "parts", "plain", "quoted")
    lit: str | None
    plain: str | None
    assign: str | None

    def __init__(self, parts: list[Part], arr: list[Word] | None = None) -> None:
        self.parts = parts
        self.arr = arr
        first = parts[0]
        if len(parts) == 1 and isinstance(first, Lit):  # most words: the same, sooner
            text = first.text
            self.lit = text
            self.quoted = first.quoted
            if first.quoted:
                self.flags, self.brace, self.plain, self.assign = 0, False, None, None
            else:
                self.flags = GLOB if text and has_glob(text) else 0
                self.brace = "{" in text and "}" in text and ("," in text or ".." in text) and arr is None
                self.plain = text
                self.assign = assigned_name(text) if "=" in text else None
            return
        literal = True
        texts: list[str] = []
        unq: list[str] = []
        quoted = False
        for p in parts:
            if isinstance(p, Lit):
                texts.append(p.text)
                if p.quoted:
                    quoted = True
                else:
                    unq.append(p.text)
            else:
                literal = False
        self.quoted = quoted
        self.lit = "".join(texts) if literal else None
        u = "".join(unq)
        self.flags = GLOB if u and has_glob(u) else 0
        self.brace = "{" in u and "}" in u and ("," in u or ".." in u) and arr is None
        bare = isinstance(first, Lit) and not first.quoted
        self.plain = first.text if bare and len(parts) == 1 else None
        self.assign = assigned_name(first.text) if bare else None

    def source(self) -> str:
        """The word's parts' texts joined (literals unquoted)."""
        return "".join(p.text for p in self.parts)


class Heredoc:
    """A here-document; its body is read at the end of the line that opened it."""

    __slots__ = ("body", "delim", "quoted", "strip", "word")

    def __init__(self, delim: str, strip: bool, quoted: bool) -> None:
        self.delim = delim
        self.strip = strip
        self.quoted = quoted
        self.body = ""  # the text as written
        self.word: Word | None = None  # unquoted delimiter: the body with $, ` and \ processed


class Redir:
    """A redirection: the operator, its target word, the here-document it opens."""

    __slots__ = ("fd", "feeds", "heredoc", "op", "target")

    def __init__(self, op: str, target: Word, heredoc: Heredoc | None, fd: str = "") -> None:
        self.op = op
        self.target = target
        self.heredoc = heredoc
        self.fd = fd  # the file descriptor number written before the operator, if any
        # does it put data (not a plain file) on the command's stdin?
        self.feeds = op in ("<<", "<<-", "<<<") or (op == "<" and isinstance(target.parts[0], ProcSubst))


class Simple:
    """A simple command: leading ``NAME=value`` words, the words, the redirections."""

    __slots__ = ("assigns", "redirs", "words")

    def __init__(self, assigns: list[Word], words: list[Word], redirs: list[Redir]) -> None:
        self.assigns = assigns
        self.words = words
        self.redirs = redirs


class AndOr:
    """``a && b || c``: the commands, and the operator before each ("" before the first)."""

    __slots__ = ("cmds", "ops")

    def __init__(self, ops: list[str], cmds: list[Node]) -> None:
        self.ops = ops
        self.cmds = cmds


class Pipe:
    """``a | b``."""

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
    """A function definition (its body is analysed where it is defined)."""

    __slots__ = ("body", "name")

    def __init__(self, name: str, body: Node) -> None:
        self.name = name
        self.body = body


Node: TypeAlias = "Simple | AndOr | Pipe | Compound | Func"
