"""sed: GNU sed's ``e`` command and ``s///e`` flag run shell commands."""

from __future__ import annotations

from ..context import EXP, PROC, Field, Unclear
from .common import STDIN_PATHS

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


def _sed_regex_end(s: str, i: int, d: str) -> int:
    """Index after the delimiter ``d`` closing a sed regex that starts at ``i``; -1 if none."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == d:
            return i + 1
        if c == "[":  # a bracket expression may hold the delimiter
            j = i + 1
            if j < n and s[j] == "^":
                j += 1
            if j < n and s[j] == "]":
                j += 1
            while j < n and s[j] != "]":
                if s.startswith(("[:", "[.", "[="), j):
                    k = s.find(s[j + 1] + "]", j + 2)
                    j = n if k < 0 else k + 2
                    continue
                j += 1
            i = j + 1
            continue
        if c == "\n" and d != "\n":
            return -1
        i += 1
    return -1


_SED_ONE = frozenset(" \t\n;}{!,=dDgGhHlLnNpPqQxzF")  # separators, one-letter commands


def _sed_executes(s: str) -> bool:
    """Does a sed script use GNU sed's ``e`` command or the ``e`` flag of ``s///``? Read like
    sed reads it; anything not understood counts as yes."""
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in _SED_ONE:
            i += 1
        elif c == "#":
            i = _line_end(s, i)
        elif c.isdigit() or c in "$+~":  # an address: N, first~step, $, +N, ~N
            i = _sed_number(s, i + 1)
        elif c in "/\\":  # an address: /regex/ or \cregexc
            i = _sed_regex_address(s, i)
        elif c in "sy":
            i = _sed_substitute(s, i)
        elif c in "aicrRwWbtTv:":  # the rest of the line is text, a file name or a label
            i = _sed_argument(s, i)
        else:
            return True  # e, or something not understood
        if i < 0:
            return True
    return False


def _line_end(s: str, i: int) -> int:
    j = s.find("\n", i)
    return len(s) if j < 0 else j


def _sed_number(s: str, i: int) -> int:
    while i < len(s) and (s[i].isdigit() or s[i] == "~"):
        i += 1
    return i


def _sed_regex_address(s: str, i: int) -> int:
    r"""The index after ``/regex/`` or ``\cregexc`` (and its I/M flags); -1 if unterminated."""
    n = len(s)
    if s[i] == "\\":
        if i + 1 >= n:
            return -1
        d, i = s[i + 1], i + 2
    else:
        d, i = "/", i + 1
    i = _sed_regex_end(s, i, d)
    if i < 0:
        return -1
    while i < n and s[i] in "IM":
        i += 1
    return i


def _sed_substitute(s: str, i: int) -> int:
    """The index after ``s/re/text/flags`` or ``y/abc/xyz/``; -1 if it executes (the ``e``
    flag) or cannot be read."""
    c = s[i]
    if i + 1 >= len(s) or s[i + 1] in "\n\\":
        return -1
    d = s[i + 1]
    i = _sed_regex_end(s, i + 2, d)
    if i < 0:
        return -1
    i = _sed_regex_end(s, i, d) if c == "s" else s.find(d, i) + 1
    if i <= 0:
        return -1
    while c == "s" and i < len(s) and s[i] not in ";\n}":
        if s[i] == "e":
            return -1
        if s[i] == "w":  # the rest of the line is a file name
            return _line_end(s, i)
        i += 1
    return i


def _sed_argument(s: str, i: int) -> int:
    """The index after a command whose argument is the rest of the line (a label ends at ';';
    text continues over lines ending in a backslash)."""
    c = s[i]
    j = s.find("\n", i)
    if c in "btTv:":
        k = s.find(";", i)
        j = k if k >= 0 and (j < 0 or k < j) else j
    while c in "aic" and j > 0 and s[j - 1] == "\\":
        j = s.find("\n", j + 1)
    return len(s) if j < 0 else j


def _h_sed(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """GNU sed's ``e`` command and ``s///e`` flag run shell commands nobody can see here."""
    scripts = _sed_scripts(words)
    if scripts is not None and any(_sed_executes(text) for text in scripts):
        raise Unclear("sed e executes its input as a command")
    if scripts is not None:
        for f in _script_files(words):
            if f.flags & PROC or f.text.startswith(("/dev/fd/", "/proc/")):
                raise Unclear(f"{name} -f reads its script from a substitution or a descriptor")
            if f.text in STDIN_PATHS and cx.stdin:
                if cx.feed is None or cx.feed.flags & EXP:
                    raise Unclear(f"{name} -f reads its script from stdin, which the gate cannot read")
                if _sed_executes(cx.feed.text):
                    raise Unclear("sed e executes its input as a command")


def _script_files(words: list[Field]) -> list[Field]:
    """The values of sed's ``-f``/``--file`` options."""
    out: list[Field] = []
    for k in range(1, len(words)):
        t, nxt = words[k].text, words[k + 1] if k + 1 < len(words) else None
        if t == "--":
            break
        if t.startswith("--file="):
            out.append(Field(t[7:], words[k].flags))
        elif (t == "--file" or (t[:1] == "-" and t[1:2] != "-" and t.endswith("f"))) and nxt is not None:
            out.append(nxt)
        elif t[:1] == "-" and t[1:2] != "-" and "f" in t[1:-1]:
            out.append(Field(t[t.index("f", 1) + 1 :], words[k].flags))
    return out


def _sed_scripts(words: list[Field]) -> list[str] | None:
    """The scripts of a sed command: its ``-e`` values, or its first operand when there is no
    ``-e`` or ``-f``; None with ``--sandbox`` (which refuses e, r and w)."""
    exprs: list[str] = []
    operands: list[Field] = []
    has_file = False
    i, n = 1, len(words)
    while i < n:
        t = words[i].text
        if t == "--":
            operands.extend(words[i + 1 :])
            break
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key == "--sandbox":
                return None
            if key in ("--expression", "--file", "--line-length") and not eq and i + 1 < n:
                i += 1
                val = words[i].text
            if key == "--expression":
                exprs.append(val)
            has_file = has_file or key == "--file"
            i += 1
        elif len(t) >= 2 and t[0] == "-":
            used, file = _sed_short(words, i, exprs)
            has_file = has_file or file
            i += used
        else:
            operands.append(words[i])
            i += 1
    if not exprs and not has_file and operands:
        exprs.append(operands[0].text)
    return exprs


def _sed_short(words: list[Field], i: int, exprs: list[str]) -> tuple[int, bool]:
    """Read the short options in ``words[i]``: the words used, and whether ``-f`` was given."""
    t = words[i].text
    for j in range(1, len(t)):
        ch = t[j]
        if ch in "efl":
            used, arg = 1, t[j + 1 :]
            if j + 1 == len(t) and i + 1 < len(words):
                used, arg = 2, words[i + 1].text
            if ch == "e":
                exprs.append(arg)
            return used, ch == "f"
        if ch == "i":
            break  # -i[SUFFIX]
    return 1, False


HANDLERS: dict[str, Handler] = {
    "sed": _h_sed,
    "gsed": _h_sed,
}
