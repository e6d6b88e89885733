"""Word expansion as bash does it: ANSI-C strings, brace expansion, parameter values, splitting.

What is only known at run time (``$(...)``, unknown variables, globs) stays as its source text
and is flagged (:data:`~.syntax.EXP`, :data:`~.syntax.SPLIT`, :data:`~.syntax.GLOB`).
"""

from __future__ import annotations

from ..lean import lazy_regex
from .budget import MAX_BRACE, MAX_DEPTH, MAX_WORDS, Bound, Budget
from .syntax import EXP, GLOB, PROC, SPLIT, Field, Lit, Param, Part, ProcSubst, Word, has_glob

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TypeAlias

    from .context import Cx

_SEQ = lazy_regex(r"(-?[0-9]+)\.\.(-?[0-9]+)(?:\.\.(-?[0-9]+))?|([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?[0-9]+))?")
_IFS_SPLIT = lazy_regex("[ \t\n]+")
_C_ESC = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def ansi_c(s: str, i: int) -> tuple[int, str] | None:
    """Decode a $'...' string starting after the quote: (end index, text), None if unterminated."""
    n = len(s)
    out: list[str] = []
    while i < n:
        c = s[i]
        if c == "'":
            return i + 1, "".join(out)
        if c == "\\" and i + 1 < n:
            text, i = _escape(s, i + 1)
            out.append(text)
            continue
        out.append(c)
        i += 1
    return None


def _escape(s: str, i: int) -> tuple[str, int]:
    """What the escape whose letter is ``s[i]`` (after a backslash) stands for in $'...', and
    the index after it."""
    n = len(s)
    e = s[i]
    i += 1
    if e in _C_ESC:
        return _C_ESC[e], i
    if "0" <= e <= "7":  # up to three octal digits
        k = i - 1
        while k < n and k < i + 2 and "0" <= s[k] <= "7":
            k += 1
        return chr(int(s[i - 1 : k], 8) & 0xFF), k
    if e in "xuU":
        width = {"x": 2, "u": 4, "U": 8}[e]
        k = i
        while k < n and k < i + width and s[k] in "0123456789abcdefABCDEF":
            k += 1
        if k == i:
            return "\\" + e, i
        code = int(s[i:k], 16)
        return (chr(code) if code <= 0x10FFFF else "\ufffd"), k
    if e == "c" and i < n:
        return chr(ord(s[i]) & 0x1F), i + 1
    return "\\" + e, i


_Atom: TypeAlias = "str | Part"


def brace_expand(parts: list[Part], budget: Budget) -> list[list[Part]]:
    """The words a brace expansion ({a,b}, {1..3}) makes of one word's parts."""
    atoms: list[_Atom] = []
    for p in parts:
        if isinstance(p, Lit) and not p.quoted:
            atoms.extend(p.text)
        else:
            atoms.append(p)
    out: list[list[Part]] = []
    for seq in _brace(atoms, 0, budget):
        ps: list[Part] = []
        buf: list[str] = []
        for a in seq:
            if isinstance(a, str):
                buf.append(a)
                continue
            if buf:
                ps.append(Lit("".join(buf), False))
                buf = []
            ps.append(a)
        if buf:
            ps.append(Lit("".join(buf), False))
        out.append(ps or [Lit("", False)])
    return out


def _brace(atoms: list[_Atom], depth: int, budget: Budget) -> list[list[_Atom]]:
    """The expansion of the first brace group in ``atoms`` (recursively, the rest too)."""
    if depth > MAX_DEPTH:
        raise Bound("brace expansion nested too deeply")
    budget.tick()
    n = len(atoms)
    for i in range(n):
        if atoms[i] != "{":
            continue
        j, commas = _closing(atoms, i)
        if j >= n:
            continue
        alts = _alternatives(atoms, i, j, commas, depth, budget)
        if alts is None:
            continue
        posts = _brace(atoms[j + 1 :], depth + 1, budget)
        if len(alts) * len(posts) > MAX_BRACE:
            raise Bound("brace expansion too large")
        pre = atoms[:i]
        return [pre + a + p for a in alts for p in posts]
    return [atoms]


def _closing(atoms: list[_Atom], i: int) -> tuple[int, list[int]]:
    """The index of the brace closing the one at ``i`` (``len(atoms)`` if none), and of the
    commas between them at its level."""
    level = 0
    commas: list[int] = []
    for j in range(i + 1, len(atoms)):
        a = atoms[j]
        if a == "{":
            level += 1
        elif a == "}":
            if level == 0:
                return j, commas
            level -= 1
        elif a == "," and level == 0:
            commas.append(j)
    return len(atoms), commas


def _alternatives(atoms: list[_Atom], i: int, j: int, commas: list[int], depth: int,
                  budget: Budget) -> list[list[_Atom]] | None:
    """What the group ``atoms[i..j]`` expands to: ``{a,b}`` alternatives or a ``{1..3}``
    sequence; None when it is neither (then it stays literal)."""
    if commas:
        alts: list[list[_Atom]] = []
        prev = i + 1
        for c in [*commas, j]:
            alts.extend(_brace(atoms[prev:c], depth + 1, budget))
            prev = c + 1
        return alts
    inner = atoms[i + 1 : j]
    texts = [a for a in inner if isinstance(a, str)]
    seq = _sequence("".join(texts)) if len(texts) == len(inner) else None
    return None if seq is None else [list(x) for x in seq]


def _sequence(text: str) -> list[str] | None:
    m = _SEQ().fullmatch(text)
    if m is None:
        return None
    if m.group(1) is not None:
        a, b = int(m.group(1)), int(m.group(2))
        step = abs(int(m.group(3) or 1)) or 1
        if abs(b - a) // step + 1 > MAX_BRACE:
            raise Bound("brace sequence too large")
        width = max(len(m.group(1)), len(m.group(2)))
        pad = any(g.lstrip("-").startswith("0") and len(g.lstrip("-")) > 1 for g in (m.group(1), m.group(2)))
        rng = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
        return [f"{v:0{width}d}" if pad else str(v) for v in rng]
    x, y = ord(m.group(4)), ord(m.group(5))
    step = abs(int(m.group(6) or 1)) or 1
    rng = range(x, y + 1, step) if x <= y else range(x, y - 1, -step)
    return [chr(v) for v in rng]


def param_values(name: str, cx: Cx) -> list[Field] | None:
    """The fields ``$name`` stands for where its value is known (a followed variable, a
    positional parameter of ``sh -c``); None when unknown."""
    v = cx.vars
    if v is not None and not v.off:
        val = v.vals.get(name)
        if val is not None:
            return [Field(val)]
    pos = cx.pos
    if pos is None:
        return None
    if name.isdigit():
        k = int(name)
        if k < len(pos):
            return [pos[k]]
        return None if cx.pos_open else []
    if cx.pos_open:
        return None
    if name in ("@", "*"):
        return list(pos[1:])
    if name == "#":
        return [Field(str(len(pos) - 1))]
    return None


def assign_value(w: Word, cx: Cx) -> str | None:
    """The value an assignment word (``NAME=...``, also an ``export`` argument) gives, if known."""
    if w.arr:
        return None
    out: list[str] = []
    for p in w.parts:
        if isinstance(p, Lit):
            if not p.quoted and "~" in p.text:
                return None  # tilde expansion
            out.append(p.text)
        elif isinstance(p, Param):
            vals = param_values(p.name, cx)
            if vals is None or len(vals) != 1:
                return None
            out.append(vals[0].text)
        else:
            return None
    key, _eq, value = "".join(out).partition("=")
    if key.endswith("+"):
        old = cx.vars.value(key[:-1]) if cx.vars is not None else None
        return None if old is None else old + value
    return value


def fields(parts: list[Part], cx: Cx, budget: Budget) -> list[Field]:
    """Bash word expansion of one word's parts: positional values, IFS splitting, flags."""
    out = _Fields()
    for p in parts:
        if isinstance(p, Lit):
            out.add(p.text, GLOB if not p.quoted and has_glob(p.text) else 0, p.quoted or bool(p.text))
        elif isinstance(p, Param):
            out.param(p, param_values(p.name, cx), budget)
        else:
            out.add(p.text, EXP | PROC if isinstance(p, ProcSubst) else (EXP if p.quoted else EXP | SPLIT))
    out.close()
    return out.done


class _Fields:
    """The fields of one word being built: the current one's pieces and flags."""

    __slots__ = ("cur", "done", "flags", "has")

    def __init__(self) -> None:
        self.done: list[Field] = []
        self.cur: list[str] = []
        self.flags = 0
        self.has = False  # the current field exists (even empty, from quotes)

    def add(self, text: str, flags: int, has: bool = True) -> None:
        self.cur.append(text)
        self.flags |= flags
        self.has = self.has or has

    def close(self) -> None:
        if self.has:
            self.done.append(Field("".join(self.cur), self.flags))
            if len(self.done) > MAX_WORDS:
                raise Bound(f"more than {MAX_WORDS} words in one command")
        self.cur, self.flags, self.has = [], 0, False

    def param(self, p: Param, vals: list[Field] | None, budget: Budget) -> None:
        """A parameter: its source text when its value is unknown, else its values ("$@" one
        field each, "$*" joined, unquoted ones split)."""
        if vals is None:
            self.add(p.text, EXP if p.quoted else EXP | SPLIT)
            return
        if vals:
            budget.grow(sum(len(v.text) + 1 for v in vals))
        if not p.quoted:
            for k, v in enumerate(vals):
                if k:
                    self.close()
                self.split(v)
        elif p.name == "@":  # "$@": one field per parameter
            for k, v in enumerate(vals):
                if k:
                    self.close()
                self.add(v.text, v.flags)
        else:
            flags = 0
            for v in vals:
                flags |= v.flags
            self.add(" ".join(v.text for v in vals), flags)

    def split(self, v: Field) -> None:
        """An unquoted value: split at blanks (IFS), its pieces checked for glob characters."""
        text = v.text
        if not text:
            return
        if text[0] in " \t\n":
            self.close()
        for j, tok in enumerate(t for t in _IFS_SPLIT().split(text) if t):
            if j:
                self.close()
            self.add(tok, v.flags | (GLOB if has_glob(tok) else 0))
        if text[-1] in " \t\n":
            self.close()
