"""Helpers the program families share: script operands of interpreters, inline code, shell text
made of several words, package runners' tool names, global options before a subcommand."""

from __future__ import annotations

from ..context import EXP, GLOB, PROC, Field, Unclear
from ..options import reads_stdin

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Walker

STDIN_PATHS = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def script_operand(name: str, word: Field, cx: Cx, always: bool = False,
                   an: Walker | None = None, kind: str = "") -> None:
    """Check the program file an interpreter runs; ``always``: stdin paths are opaque even
    when nothing is piped (``source /dev/stdin``)."""
    if word.flags & PROC:
        raise Unclear(f"{name} runs code from a process substitution")
    if an is not None and not word.flags & (EXP | GLOB):
        found, text = an.written_file(word.text)
        if found:  # written earlier in this command line: read as what it is
            if text is None:
                raise Unclear(f"{name} runs {word.text}, written earlier in this command line "
                              "with text the gate cannot read")
            if kind == "shell":
                an.script(text, cx.wrap(f"{name} {word.text} (written here)", tail=False))
            else:
                an.add_opaque("code", f"{name} runs {word.text}, written earlier in this command line",
                              text, cx.via)
            return
    path = fd_path(word.text)
    if path in STDIN_PATHS:
        if always:
            raise Unclear(f"{name} runs code read from stdin")
        reads_stdin(name, cx, an, kind)
    elif path.startswith(("/dev/fd/", "/proc/")) and "/fd/" in path:
        raise Unclear(f"{name} runs code from a file descriptor")


def fd_path(text: str) -> str:
    """A path as the kernel resolves it, for the spellings of a file descriptor: ``/dev//stdin``
    and ``/dev/./stdin`` are ``/dev/stdin``; ``/proc/PID/fd/N``, ``/proc/thread-self/fd/N`` and
    ``/proc/PID/task/TID/fd/N`` are ``/proc/self/fd/N``."""
    if not text.startswith("/"):
        return text
    import posixpath

    path = "/" + posixpath.normpath(text).lstrip("/")
    parts = path.split("/")
    if len(parts) >= 5 and parts[1] == "proc" and parts[3] == "fd":
        return "/proc/self/fd/" + "/".join(parts[4:])
    if len(parts) >= 7 and parts[1] == "proc" and parts[3] == "task" and parts[5] == "fd":
        return "/proc/self/fd/" + "/".join(parts[6:])
    return path


def report_code(an: Walker, name: str, opt: str, word: Field, cx: Cx, always: bool = False) -> None:
    """``word`` is code ``name`` runs inline (``python -c``, ``node -e``): reported as code
    (kind "code"); ``always``: code that runs commands as such (make recipes, editor and
    debugger commands, PowerShell), which the policy holds whenever it mentions a guarded
    program, even inside a string (see ``Opaque.commands``)."""
    if word.flags & EXP:
        raise Unclear(f"{name} {opt}: the code is not literal")
    an.add_opaque("code", f"{name} {opt} runs inline code", word.text, cx.via, commands=always)


def joined(words: list[Field]) -> Field:
    """The words joined by spaces, as the shell text a program runs (``ssh host cmd args``)."""
    flags = 0
    for w in words:
        flags |= w.flags
    return Field(" ".join(w.text for w in words), flags)


def run_joined(an: Walker, words: list[Field], label: str, cx: Cx) -> None:
    """Analyse the words, joined, as shell text (nothing when there are none)."""
    if words:
        text = joined(words)
        an.shell_text(text.text, text.flags, label, cx)


def split_words(w: Field, label: str, what: str) -> list[Field]:
    """The words of a command string a program splits itself (a tmux or screen command, a git
    alias), as ``shlex`` splits them; ``what`` names it in the errors."""
    if w.flags & EXP:
        raise Unclear(f"{label}: {what} is not literal")
    import shlex

    try:
        return [Field(t) for t in shlex.split(w.text)]
    except ValueError as exc:
        raise Unclear(f"{label}: cannot split {what}: {exc}") from None


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
    """A package runner runs the tool ``words[i]`` (without its version) with the rest."""
    if i >= len(words):
        if cx.tail:
            raise Unclear(f"{label}: the tool to run comes from input")
        return
    w = words[i]
    if w.flags & (EXP | GLOB):
        raise Unclear(f"{label}: the tool name is not literal ({w.text})")
    an.command([Field(tool_name(w.text)), *words[i + 1 :]], cx.wrap(label))


def skip_global(words: list[Field], value_opts: frozenset[str]) -> int:
    """Index of a CLI's subcommand after its global options (unknown ones are switches)."""
    i = 1
    while i < len(words):
        w = words[i]
        if w.flags & EXP:
            raise Unclear(f"an option or subcommand is not literal ({w.text})")
        if w.text == "--":
            return i + 1
        if not w.text.startswith("-") or w.text == "-":
            return i
        i += 2 if w.text in value_opts else 1
    return i


def renormalized(an: Walker, name: str, words: list[Field], i: int, cx: Cx) -> None:
    """Report ``name SUBCOMMAND ...`` without the global options in front."""
    if 1 < i < len(words):
        an.command([Field(name), *words[i:]], cx.wrap(f"{name} options"))
