"""Programs that run a command once per input or file: find -exec, fd -x, xargs, parallel."""

from __future__ import annotations

from ..context import INPUT_WORD, Unclear
from ..options import opts, parse_opts
from ..syntax import EXP
from .common import reads_stdin

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker
    from ..syntax import Field


_O_XARGS = opts("0prtxo", "aEdILnPs", optattached="eil",
              lf="--null --interactive --no-run-if-empty --verbose --exit --open-tty --show-limits "
                 "--help --version",
              la="--arg-file --delimiter --max-args --max-procs --max-chars --process-slot-var",
              lo="--eof --replace --max-lines")


def _h_xargs(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, found = parse_opts(words, 1, _O_XARGS, name)
    repl = None
    for o, v, _f in found:
        if o in ("-I", "--replace", "-i"):
            repl = v or "{}"
    rest = words[i:] or [("echo", 0)]
    if repl is not None:
        rest = [(t, f | EXP if repl in t else f) for t, f in rest]
    # xargs gives its command /dev/null as stdin and appends input words unless -I is used
    an.command(rest, cx.wrap(name, stdin=False, tail=repl is None))


_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def _h_find(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t = words[i][0]
        if t not in _FIND_EXEC:
            i += 1
            continue
        j = i + 1
        while j < n:
            w = words[j][0]
            if w in (";", "\\;") or (w == "+" and words[j - 1][0] == "{}"):
                break
            j += 1
        cmd = [(w, f | EXP if "{}" in w else f) for w, f in words[i + 1 : j]]
        if cmd:
            an.command(cmd, cx.wrap(f"{name} {t}", tail=False))
        i = j + 1


_FD_EXEC = frozenset({"-x", "--exec", "-X", "--exec-batch"})


def _h_fd(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    for i, (t, _f) in enumerate(words):
        if t in _FD_EXEC or t.startswith(("--exec=", "--exec-batch=")):
            end = next((j for j in range(i + 1, len(words)) if words[j][0] in (";", "\\;")), len(words))
            cmd = [(w, f | EXP if "{" in w and "}" in w else f) for w, f in words[i + 1 : end]]
            if cmd:
                an.command(cmd, cx.wrap(f"{name} {t}", tail=False))


_O_PARALLEL = opts("0kqvtuXmeg", "jSadEILnNPsx", lenient=1,
              lf="--keep-order --bar --progress --eta --verbose --dry-run --null --group --ungroup "
                 "--line-buffer --tag --xargs --quote --halt-on-error --no-notice --will-cite "
                 "--citation --shellquote --pipe --pipepart --jobs-stable --fg --bg --wait "
                 "--semaphore",
              la="--jobs --sshlogin --arg-file --delimiter --eof --replace --max-args "
                 "--max-replace-args --max-lines --max-procs --max-chars --colsep --results "
                 "--joblog --tmpdir --workdir --timeout --retries --delay --halt --env --block "
                 "--id --semaphorename --semaphoretimeout --st --extensionreplace "
                 "--basenamereplace --dirnamereplace --basenameextensionreplace --seqreplace "
                 "--slotreplace")


_PARALLEL_MULTI = frozenset({"-X", "-m", "--xargs", "-n", "--max-args", "-N", "--max-replace-args",
                             "-L", "--max-lines", "--colsep", "-C", "--pipe", "--pipepart"})


_PARALLEL_MAX_ARGS = 64  # ::: values analysed one by one; beyond that they count as unknown


def _parallel_marks(text: str, repl: str | None) -> bool:
    """Does a parallel command hold replacement strings ({}, {.}, {/}, {1}, {#}, ... or -I's)?"""
    if repl is not None:
        return repl in text
    k = text.find("{")
    while k >= 0:
        e = text.find("}", k)
        if e < 0:
            return False
        inner = text[k + 1 : e]
        if all(c in "0123456789./#%" for c in inner) or inner.startswith("="):
            return True
        k = text.find("{", k + 1)
    return False


def _h_parallel(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """GNU parallel (and sem): the command is shell text; each job appends one argument from
    every ::: group (or puts it where replacement strings such as {} stand)."""
    i, found = parse_opts(words, 1, _O_PARALLEL, name)
    seps = {":::", "::::", ":::+", "::::+"}
    end = next((k for k in range(i, len(words)) if words[k][0] in seps), len(words))
    cmd = words[i:end]
    if cmd:
        if "{" in cmd[0][0]:
            raise Unclear(f"{name}: the command comes from its arguments")
        flag = 0
        for _, f in cmd:
            flag |= f
        text = " ".join(t for t, _ in cmd)
        if name == "sem":
            return an.shell_text(text, flag, name, cx)
        repl = None
        for o, v, _f in found:
            if o in ("-I", "--replace"):
                repl = v or "{}"
            elif o in ("--extensionreplace", "--basenamereplace", "--dirnamereplace",
                       "--basenameextensionreplace", "--seqreplace", "--slotreplace"):
                raise Unclear(f"{name}: {o} makes the command text unknown")
        if any(o in _PARALLEL_MULTI for o, _, _ in found):
            values = None  # several arguments per job
        elif end < len(words) and words[end][0] == ":::":
            group = words[end + 1 :]
            values = [t for t, f in group] if not any(t in seps or f & EXP for t, f in group) else None
            if values is not None and len(values) > _PARALLEL_MAX_ARGS:
                values = None
        else:
            values = None  # arguments from stdin, files or several groups
        groups = max(1, sum(1 for t, _ in words[end:] if t in seps))
        marked = _parallel_marks(text, repl)
        if values is None:
            jobs = [" ".join([f'"{INPUT_WORD}"'] * (1 if marked else groups))]
        else:
            import shlex

            jobs = [shlex.quote(v) for v in values]  # parallel quotes what it substitutes
        for val in jobs:
            if not marked:
                job = f"{text} {val}"
            elif repl is not None:
                job = text.replace(repl, val)
            else:
                job = _parallel_fill(text, val)
            an.shell_text(job, flag, name, cx)
        return
    if end < len(words) and words[end][0] == ":::":
        for t, f in words[end + 1 :]:
            if t in seps:
                break
            an.shell_text(t, f, name, cx)
        return
    reads_stdin(name, cx, an, "shell")


def _parallel_fill(text: str, val: str) -> str:
    """Put ``val`` where parallel's replacement strings stand ({}, {.}, {1}, ...)."""
    out: list[str] = []
    k = 0
    while True:
        b = text.find("{", k)
        e = text.find("}", b) if b >= 0 else -1
        if b < 0 or e < 0:
            out.append(text[k:])
            return "".join(out)
        inner = text[b + 1 : e]
        if all(c in "0123456789./#%" for c in inner):
            out.append(text[k:b])
            out.append(val)
            k = e + 1
        elif inner.startswith("="):
            raise Unclear("parallel: a {= perl expression =} makes the command text unknown")
        else:
            out.append(text[k : b + 1])
            k = b + 1


HANDLERS: dict[str, Handler] = {
    "xargs": _h_xargs,
    "find": _h_find,
    "fd": _h_fd,
    "fdfind": _h_fd,
    "parallel": _h_parallel,
    "sem": _h_parallel,
}
