"""What the analyzer knows around a command (:class:`Cx`): how it was reached, its stdin, the
positional parameters, the environment and the variables of the script it is in."""

from __future__ import annotations

from collections.abc import Sequence

from .budget import check_depth
from .syntax import Field

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from .variables import Vars

# Appended (and listed in ``dynamic``) to a command that xargs or parallel extends with words
# read at run time. Written as a parameter expansion, so anything shaped like one matches it.
INPUT_WORD = "${xargs-input}"


class Unclear(Exception):
    """What a command runs cannot be followed; becomes an Opaque for that command only."""

KEEP: tuple[Field, ...] = (Field("", -1),)  # sentinel: keep the positional parameters


class Cx:
    """Where a command sits: how it was reached and what the shell knows around it."""

    __slots__ = ("depth", "env", "feed", "pos", "pos_open", "stdin", "tail", "vars", "via")

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

    def child(self, label: str | None = None, stdin: bool | None = None) -> Cx:
        same = stdin is None or stdin == self.stdin
        return Cx((*self.via, label) if label else self.via, self.depth,
                  self.stdin if stdin is None else stdin, False, self.pos, self.pos_open,
                  self.env, self.vars, self.feed if same else None)

    def wrap(self, label: str, *, stdin: bool | None = None, tail: bool | None = None,
             pos: tuple[Field, ...] | None = KEEP, pos_open: bool = False) -> Cx:
        check_depth(self.depth + 1)
        keep = pos is KEEP
        same = stdin is None or stdin == self.stdin
        return Cx((*self.via, label), self.depth + 1, self.stdin if stdin is None else stdin,
                  self.tail if tail is None else tail, self.pos if keep else pos,
                  self.pos_open if keep else pos_open, self.env, self.vars,
                  self.feed if same else None)

    def with_env(self, env: tuple[str, ...], stdin: bool, feed: Field | None) -> Cx:
        return Cx(self.via, self.depth, stdin, self.tail, self.pos, self.pos_open, env,
                  self.vars, feed)


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
