"""Shells and the builtins that run or redefine code: sh -c, eval, source, trap, alias, ..."""

from __future__ import annotations

from ..context import Unclear
from ..options import opts, parse_opts, run
from ..syntax import EXP, PROC, wordset
from .common import reads_stdin, script_operand

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field




def _h_shell(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    cmd = stdin_mode = False
    while i < n:
        t, f = words[i]
        if f & EXP:
            if cmd:
                break  # the shell code itself; checked below
            if f & PROC:
                raise Unclear(f"{name} runs code from a process substitution")
            raise Unclear(f"{name}: an option or the script is not literal ({t})")
        if t in ("--", "-"):
            i += 1
            break
        if len(t) < 2 or t[0] not in "-+":
            break
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key in ("--command", "--init-command"):  # fish
                if eq:
                    an.shell_text(val, f, f"{name} -c", cx)
                    if key == "--command":
                        return
                else:
                    cmd = True
            elif key in ("--rcfile", "--init-file") and not eq:
                i += 1
            i += 1
            continue
        nargs = 0
        for ch in t[1:]:
            if ch == "c":
                cmd = True
            elif ch == "s":
                stdin_mode = True
            elif ch in "oO" or (ch == "C" and name == "fish"):
                if ch == "C" and i + nargs + 1 < n:
                    w = words[i + nargs + 1]
                    an.shell_text(w[0], w[1], f"{name} -C", cx)
                nargs += 1
        i += 1 + nargs
    rest = words[i:]
    if cmd:
        if not rest:
            if cx.tail:
                raise Unclear(f"{name} -c: the shell code comes from input")
            return
        pos = tuple(rest[1:]) if len(rest) > 1 else ((name, 0),)
        an.shell_text(rest[0][0], rest[0][1], f"{name} -c", cx, pos, cx.tail)
        return
    if stdin_mode or not rest:
        reads_stdin(name, cx, an, "shell")
        return
    script_operand(name, rest[0], cx, an=an, kind="shell")


def _h_source(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i = 2 if len(words) > 2 and words[1][0] == "--" else 1
    if i < len(words):
        script_operand(name, words[i], cx, always=True)


def _h_eval(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    rest = words[2:] if len(words) > 1 and words[1][0] == "--" else words[1:]
    if not rest:
        return
    for t, f in rest:
        if f & (EXP | PROC):
            raise Unclear(f"eval of a string that is not literal ({t})")
    an.script(" ".join(t for t, _ in rest), cx.wrap("eval", tail=False))


def _h_trap(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    ops = [w for w in words[1:] if not w[0].startswith("-")]
    if len(ops) >= 2 and ops[0][0]:
        an.shell_text(ops[0][0], ops[0][1], "trap", cx)


def _h_alias(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    for t, f in words[1:]:
        key, eq, val = t.partition("=")
        if eq and val:
            an.shell_text(val, f, f"alias {key}", cx)
            an.aliases[key] = val  # later uses of `key` are checked as `val ...` too


def _h_hash(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    if any(t.startswith("-") and "p" in t for t, _ in words[1:]):
        raise Unclear("hash -p makes a command name run another program")


def _h_positional(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """set/shift/declare inside sh -c with known arguments: substitution may be wrong after."""
    if cx.pos is None:
        return
    args = [t for t, _ in words[1:]]
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


_O_SCRIPT = opts("aefqkE", "cEomIOBT", optattached="t",
               lf="--append --return --flush --force --quiet --logging-format --echo",
               la="--command --echo --output-limit --log-in --log-out --log-io --log-timing "
                  "--logging-format", lo="--timing")


def _h_script(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_SCRIPT, name)
    for o, v, f in found:
        if o in ("-c", "--command"):
            return an.shell_text(v, f, f"{name} -c", cx)
    if len(words) - i >= 2:  # BSD: script [file [command ...]]
        return run(an, words, i + 1, name, cx)
    reads_stdin(f"{name}'s shell", cx, an, "shell")


def _h_at(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    if not any(t == "-f" or t.startswith("-f") for t, _ in words[1:]):
        if any(t in ("-l", "-r", "-d", "-c") for t, _ in words[1:]):
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
