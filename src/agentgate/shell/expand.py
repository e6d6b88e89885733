"""Word expansion as bash does it: ANSI-C strings, brace expansion, parameter values, splitting.

What is only known at run time (``$(...)``, unknown variables, globs) stays as its source text
and is flagged (:data:`~.context.EXP`, :data:`~.context.SPLIT`, :data:`~.context.GLOB`).

Parameter values: ``$1``, ``"$@"`` are known inside ``sh -c STRING ARGS``; a variable's literal
value is substituted for $NAME only when the script gives it no way to change behind our back:
every assignment to it is a plain ``NAME=value`` (or ``export``/``readonly NAME=value``) at the
top level of the script, run in order (not in a loop, branch, function, pipeline, subshell,
background job or && tail), and the script uses nothing that assigns variables out of sight
(read, eval, source, declare, let, (( )), ${X:=v}, traps, aliases, namerefs, IFS changes, ...).
Anything else leaves the variable dynamic (:func:`script_vars` decides; :class:`~.context.Vars`
holds the values).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..lean import lazy_regex
from .budget import MAX_BRACE, MAX_DEPTH, MAX_WORDS, Bound, Budget
from .context import (
    EXP,
    GLOB,
    PROC,
    SPLIT,
    Field,
    Vars,
    assigned_name,
    has_glob,
    program_name,
    wordset,
)
from .syntax import AndOr, Lit, Node, Param, Part, ProcSubst, Simple, Word

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TypeAlias

    from .context import Cx

_SEQ = lazy_regex(r"(-?[0-9]+)\.\.(-?[0-9]+)(?:\.\.(-?[0-9]+))?|([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?[0-9]+))?")
_IFS_SPLIT = lazy_regex("[ \t\n]+")
_C_ESC = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def ansi_c(s: str, i: int) -> tuple[int, str] | None:
    """Decode a $'...' string starting after the quote: (end index, text), None if unterminated.
    bash ends the string's value at a NUL byte (``$'--prod\\0x'`` is ``--prod``)."""
    n = len(s)
    out: list[str] = []
    cut = False
    while i < n:
        c = s[i]
        if c == "'":
            return i + 1, "".join(out)
        if c == "\\" and i + 1 < n:
            text, i = _escape(s, i + 1)
            if text == "\x00":
                cut = True
            if not cut:
                out.append(text)
            continue
        if not cut:
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


# -- which variables a script lets us follow (see the module docstring)

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
