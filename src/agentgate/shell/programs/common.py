"""Helpers the program families share: stdin and script operands of interpreters, inline
code, package runners' tool names, global options before a subcommand."""

from __future__ import annotations

from ..context import Unclear
from ..syntax import EXP, GLOB, PROC

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Walker
    from ..syntax import Field


STDIN_PATHS = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def reads_stdin(name: str, cx: Cx, an: Walker | None = None, kind: str = "") -> None:
    """``name`` runs what its stdin holds. A here-document or here-string is read: as a script
    (``kind`` "shell") or reported as code ("code"); other data on stdin is opaque."""
    if cx.stdin:
        if cx.feed is not None and an is not None and kind:
            text, flag = cx.feed
            if flag & EXP:
                raise Unclear(f"the here-document fed to {name} is not literal")
            if kind == "code":
                an.add_opaque("code", f"{name} runs the here-document or here-string on its stdin as code", text, cx.via)
                return
            inner = cx.wrap(f"{name} <<", stdin=True, tail=False, pos=None)
            inner.feed = None  # commands in it read the rest of the script
            an.script(text, inner)
            return
        raise Unclear(f"input is piped or fed into {name}, which runs it as code")
    if cx.tail:
        raise Unclear(f"{name} would run code named by its input")


def script_operand(name: str, word: Field, cx: Cx, always: bool = False,
                    an: Walker | None = None, kind: str = "") -> None:
    """Check the program file an interpreter runs; ``always``: stdin paths are opaque even
    when nothing is piped (``source /dev/stdin``)."""
    t, f = word
    if f & PROC:
        raise Unclear(f"{name} runs code from a process substitution")
    if t in STDIN_PATHS:
        if always:
            raise Unclear(f"{name} runs code read from stdin")
        reads_stdin(name, cx, an, kind)
    elif t.startswith(("/dev/fd/", "/proc/self/fd/")):
        raise Unclear(f"{name} runs code from a file descriptor")


def report_code(an: Walker, name: str, opt: str, word: Field, cx: Cx) -> None:
    if word[1] & EXP:
        raise Unclear(f"{name} {opt}: the code is not literal")
    an.add_opaque("code", f"{name} {opt} runs inline code", word[0], cx.via)


def tool_name(word: str) -> str:
    """``vercel@33`` -> ``vercel``; ``@scope/pkg@1`` -> ``pkg``; ``black==24`` -> ``black``."""
    t = word
    for prefix in ("npm:", "jsr:", "pypi:"):
        if t.startswith(prefix):
            t = t[len(prefix) :]
    if t.startswith("@") and "/" in t:
        t = t.split("/", 1)[1]
    elif "/" in t:
        t = t.rstrip("/").rsplit("/", 1)[-1]
    if "@" in t[1:]:
        t = t[0] + t[1:].split("@", 1)[0]
    for sep in ("==", ">=", "<=", "~=", "!=", "<", ">", "["):
        t = t.split(sep, 1)[0]
    return t or word


def run_tool(an: Walker, words: list[Field], i: int, label: str, cx: Cx) -> None:
    if i >= len(words):
        if cx.tail:
            raise Unclear(f"{label}: the tool to run comes from input")
        return
    t, f = words[i]
    if f & (EXP | GLOB):
        raise Unclear(f"{label}: the tool name is not literal ({t})")
    an.command([(tool_name(t), 0), *words[i + 1 :]], cx.wrap(label))


def run_joined(an: Walker, words: list[Field], label: str, cx: Cx) -> None:
    flag = 0
    for _, f in words:
        flag |= f
    if words:
        an.shell_text(" ".join(t for t, _ in words), flag, label, cx)


def skip_global(words: list[Field], value_opts: frozenset[str]) -> int:
    """Index of a CLI's subcommand after its global options (unknown ones are switches)."""
    i = 1
    while i < len(words):
        t, f = words[i]
        if f & EXP:
            raise Unclear(f"an option or subcommand is not literal ({t})")
        if t == "--":
            return i + 1
        if not t.startswith("-") or t == "-":
            return i
        i += 2 if t in value_opts else 1
    return i


def renormalized(an: Walker, name: str, words: list[Field], i: int, cx: Cx) -> None:
    """Report ``name SUBCOMMAND ...`` without the global options in front."""
    if 1 < i < len(words):
        an.command([(name, 0), *words[i:]], cx.wrap(f"{name} options"))
