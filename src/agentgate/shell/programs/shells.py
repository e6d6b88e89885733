"""Shells and the builtins that run or redefine code: sh -c, eval, source, trap, alias, ..."""

from __future__ import annotations

from ..context import EXP, INPUT_WORD, PROC, SPLIT, Field, Unclear, wordset
from ..options import opts, parse_opts, reads_stdin, run, value
from .common import joined, script_operand

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


def _h_shell(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``sh -c TEXT [ARG0 ARGS]`` (TEXT analysed with $0, $1, ... known), ``sh -s``/``sh``
    (reads stdin), ``sh FILE`` (not read; stdin paths and fds are opaque)."""
    read = _shell_options(an, name, words, cx)
    if read is None:
        return  # fish --command=TEXT, analysed
    i, cmd, stdin_mode = read
    rest = words[i:]
    if cmd:
        if rest:
            # $0 is the shell's name, or the first word xargs appends
            zero = Field(INPUT_WORD, EXP | SPLIT) if cx.tail else Field(name)
            pos = tuple(rest[1:]) if len(rest) > 1 else (zero,)
            an.shell_text(rest[0].text, rest[0].flags, f"{name} -c", cx, pos, cx.tail)
        elif cx.tail:
            raise Unclear(f"{name} -c: the shell code comes from input")
    elif stdin_mode or not rest:
        reads_stdin(name, cx, an, "shell")
    else:
        script_operand(name, rest[0], cx, an=an, kind="shell")


def _shell_options(an: Walker, name: str, words: list[Field], cx: Cx) -> tuple[int, bool, bool] | None:
    """Read a shell's options: the index of its first operand, and whether -c and -s were
    given; None when ``--command=TEXT`` (fish) said it all."""
    i, n = 1, len(words)
    cmd = stdin_mode = False
    while i < n:
        w = words[i]
        t = w.text
        if w.flags & EXP:
            if cmd:
                break  # the shell code itself; checked by the caller
            if w.flags & PROC:
                raise Unclear(f"{name} runs code from a process substitution")
            raise Unclear(f"{name}: an option or the script is not literal ({t})")
        if t in ("--", "-"):
            return i + 1, cmd, stdin_mode
        if len(t) < 2 or t[0] not in "-+":
            break
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key in ("--command", "--init-command") and eq:  # fish
                an.shell_text(val, w.flags, f"{name} -c", cx)
                if key == "--command":
                    return None
            cmd = cmd or (key in ("--command", "--init-command") and not eq)
            i += 2 if key in ("--rcfile", "--init-file") and not eq else 1
            continue
        cmd = cmd or "c" in t
        stdin_mode = stdin_mode or "s" in t
        i += _shell_short(an, name, words, i, cx)
    return i, cmd, stdin_mode


def _shell_short(an: Walker, name: str, words: list[Field], i: int, cx: Cx) -> int:
    """The words the short options ``words[i]`` use: -o NAME, -O NAME and fish's -C TEXT (which
    is analysed) take the next ones."""
    nargs = 0
    for ch in words[i].text[1:]:
        if ch in "oO" or (ch == "C" and name == "fish"):
            if ch == "C" and i + nargs + 1 < len(words):
                text = words[i + nargs + 1]
                an.shell_text(text.text, text.flags, f"{name} -C", cx)
            nargs += 1
    return 1 + nargs


def _h_source(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``source FILE`` (not read; stdin and fds are opaque)."""
    i = 2 if len(words) > 2 and words[1].text == "--" else 1
    if i < len(words):
        script_operand(name, words[i], cx, always=True, an=an, kind="shell")


def _h_eval(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``eval WORDS``: the words joined are a script."""
    rest = words[2:] if len(words) > 1 and words[1].text == "--" else words[1:]
    if not rest:
        return
    for w in rest:
        if w.flags & (EXP | PROC):
            raise Unclear(f"eval of a string that is not literal ({w.text})")
    an.script(joined(rest).text, cx.wrap("eval", tail=False))


def _h_trap(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``trap TEXT SIGNAL...``: TEXT runs later."""
    ops = [w for w in words[1:] if not w.text.startswith("-")]
    if len(ops) >= 2 and ops[0].text:
        an.shell_text(ops[0].text, ops[0].flags, "trap", cx)


def _h_alias(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``alias NAME=TEXT``: TEXT is checked now, and where NAME is used later."""
    for w in words[1:]:
        key, eq, val = w.text.partition("=")
        if eq and val:
            an.shell_text(val, w.flags, f"alias {key}", cx)
            an.aliases[key] = val  # later uses of `key` are checked as `val ...` too


def _h_hash(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``hash -p PATH NAME`` makes NAME run another program."""
    if any(w.text.startswith("-") and "p" in w.text for w in words[1:]):
        raise Unclear("hash -p makes a command name run another program")


def _h_positional(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """set/shift/declare inside sh -c with known arguments: substitution may be wrong after."""
    if cx.pos is None:
        return
    args = [w.text for w in words[1:]]
    if name == "shift":
        raise Unclear("shift changes the positional parameters")
    if name == "set":
        k = 0
        while k < len(args):
            a = args[k]
            if len(a) > 1 and a[0] in "-+" and a != "--":
                k += 1 + a.count("o", 1)
                continue
            raise Unclear("set changes the positional parameters")
        return
    if any(a == "IFS" or a.startswith(("IFS=", "IFS+=")) for a in args):
        raise Unclear("changes IFS, so word splitting is unknown")


_SCRIPT = opts("aefqkE", "cEomIOBT", optattached="t",
               lf="--append --return --flush --force --quiet --logging-format --echo",
               la="--command --echo --output-limit --log-in --log-out --log-io --log-timing "
                  "--logging-format", lo="--timing")


def _h_script(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``script -c TEXT``, BSD ``script FILE CMD...``; otherwise the user's shell reads stdin."""
    i, found = parse_opts(words, 1, _SCRIPT, name)
    text = value(found, "-c", "--command")
    if text is not None:
        return an.shell_text(text.value, text.flags, f"{name} -c", cx)
    if len(words) - i >= 2:  # BSD: script [file [command ...]]
        return run(an, words, i + 1, name, cx)
    reads_stdin(f"{name}'s shell", cx, an, "shell")


def _h_at(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``at TIME``/``batch`` run the script on stdin later (``-f FILE``: not read)."""
    if not any(w.text.startswith("-f") for w in words[1:]):
        if any(w.text in ("-l", "-r", "-d", "-c") for w in words[1:]):
            return
        reads_stdin(name, cx, an, "shell")


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(wordset("sh bash zsh dash ksh mksh fish ash yash posh rbash ksh93 pdksh oksh "
                            "loksh csh tcsh"), _h_shell),
    "eval": _h_eval,
    "source": _h_source,
    ".": _h_source,
    "trap": _h_trap,
    "alias": _h_alias,
    "hash": _h_hash,
    "shift": _h_positional,
    "set": _h_positional,
    "export": _h_positional,
    "declare": _h_positional,
    "typeset": _h_positional,
    "local": _h_positional,
    "readonly": _h_positional,
    "read": _h_positional,
    "script": _h_script,
    "at": _h_at,
    "batch": _h_at,
}
