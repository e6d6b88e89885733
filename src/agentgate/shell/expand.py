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
            e = s[i + 1]
            i += 2
            if e in _C_ESC:
                out.append(_C_ESC[e])
            elif "0" <= e <= "7":
                k = i - 1
                while k < n and k < i + 2 and "0" <= s[k] <= "7":
                    k += 1
                out.append(chr(int(s[i - 1 : k], 8) & 0xFF))
                i = k
            elif e in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[e]
                k = i
                while k < n and k < i + width and s[k] in "0123456789abcdefABCDEF":
                    k += 1
                if k == i:
                    out.append("\\" + e)
                else:
                    code = int(s[i:k], 16)
                    out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                    i = k
            elif e == "c" and i < n:
                out.append(chr(ord(s[i]) & 0x1F))
                i += 1
            else:
                out.append("\\" + e)
            continue
        out.append(c)
        i += 1
    return None


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
    if depth > MAX_DEPTH:
        raise Bound("brace expansion nested too deeply")
    budget.tick()
    n = len(atoms)
    i = 0
    while i < n:
        if atoms[i] != "{":
            i += 1
            continue
        level = 0
        commas: list[int] = []
        j = i + 1
        while j < n:
            a = atoms[j]
            if a == "{":
                level += 1
            elif a == "}":
                if level == 0:
                    break
                level -= 1
            elif a == "," and level == 0:
                commas.append(j)
            j += 1
        if j >= n:
            i += 1
            continue
        alts: list[list[_Atom]] = []
        if commas:
            prev = i + 1
            for c in [*commas, j]:
                alts.extend(_brace(atoms[prev:c], depth + 1, budget))
                prev = c + 1
        else:
            inner = atoms[i + 1 : j]
            seq = _sequence("".join(inner)) if all(isinstance(a, str) for a in inner) else None  # type: ignore[arg-type]
            if seq is None:
                i += 1
                continue
            alts = [list(x) for x in seq]
        posts = _brace(atoms[j + 1 :], depth + 1, budget)
        if len(alts) * len(posts) > MAX_BRACE:
            raise Bound("brace expansion too large")
        pre = atoms[:i]
        return [pre + a + p for a in alts for p in posts]
    return [atoms]


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
            vals = param_values(p.name, cx)
            if vals is None:
                out.add(p.text, EXP if p.quoted else EXP | SPLIT)
                continue
            if vals:
                budget.grow(sum(len(v.text) + 1 for v in vals))
            if not p.quoted:
                for k, v in enumerate(vals):
                    if k:
                        out.close()
                    out.split(v)
            elif p.name == "@":  # "$@": one field per parameter
                for k, v in enumerate(vals):
                    if k:
                        out.close()
                    out.add(v.text, v.flags)
            else:
                flags = 0
                for v in vals:
                    flags |= v.flags
                out.add(" ".join(v.text for v in vals), flags)
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
