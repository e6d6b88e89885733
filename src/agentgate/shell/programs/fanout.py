"""Programs that run a command once per input or file: find -exec, fd -x, xargs, parallel."""

from __future__ import annotations

from ..context import EXP, GLOB, INPUT_WORD, PROC, Field, Unclear
from ..options import Opt, opts, parse_opts, reads_stdin
from .common import joined

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


_XARGS = opts("0prtxo", "aEdILnPs", optattached="eil",
               lf="--null --interactive --no-run-if-empty --verbose --exit --open-tty "
                  "--show-limits --help --version",
               la="--arg-file --delimiter --max-args --max-procs --max-chars --process-slot-var",
               lo="--eof --replace --max-lines")


def _h_xargs(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``xargs [opts] CMD ARGS``: CMD gets words read at run time (INPUT_WORD), or has the
    ``-I`` string replaced."""
    i, found = parse_opts(words, 1, _XARGS, name)
    repl = None
    for o in found:
        if o.name in ("-I", "--replace", "-i"):
            repl = o.value or "{}"
    rest = words[i:] or [Field("echo")]
    if repl is not None:  # the replacement string, however spelled, is a run-time value
        rest = [Field(w.text.replace(repl, INPUT_WORD), w.flags | EXP) if repl in w.text else w
                for w in rest]
    # xargs gives its command /dev/null as stdin and appends input words unless -I is used
    inner = cx.wrap(name, stdin=False, tail=repl is None)
    if not any(o.name in ("-0", "--null", "-d", "--delimiter") for o in found):
        inner.items = None  # items split at blanks: a word of one may be anything
    an.command(rest, inner)


def _marked(w: Field) -> Field:
    """``w`` holds a file name or input put in at run time."""
    return Field(w.text, w.flags | EXP)


_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_OTHER_OUTPUT = frozenset({"-printf", "-fprintf", "-ls", "-fls", "-fprint", "-fprint0", "-exec",
                                "-execdir", "-ok", "-okdir"})


def find_items(words: list[str]) -> str | None:
    """What every path ``find START... EXPR`` prints starts with (its one literal start
    point, ``.`` when none is given), when it prints only paths; None otherwise."""
    starts: list[str] = []
    for w in words[1:]:
        if w[:1] in ("-", "(", "!") or w in ("", ")"):
            break
        starts.append(w)
    if len(starts) > 1 or any(w in _FIND_OTHER_OUTPUT for w in words) or any(
            w.startswith("-") and w != "-" for w in starts):
        return None
    return starts[0] if starts else "."


def _h_find(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``find ... -exec CMD {} ;`` (``+``, -execdir, -ok, -okdir)."""
    i, n = 1, len(words)
    while i < n:
        t = words[i].text
        if t not in _FIND_EXEC:
            i += 1
            continue
        j = i + 1
        while j < n:
            w = words[j].text
            if w in (";", "\\;") or (w == "+" and words[j - 1].text == "{}"):
                break
            j += 1
        below = "." if t in ("-execdir", "-okdir") else _start_below(words)
        cmd = [(Field(f"{below}/{{}}") if below is not None and w.text == "{}" else _marked(w))
               if "{}" in w.text else w for w in words[i + 1 : j]]
        if cmd:
            an.command(cmd, cx.wrap(f"{name} {t}", tail=False))
        i = j + 1


def _start_below(words: list[Field]) -> str | None:
    """The one starting point of a find command when it is a literal relative path that stays
    below the working directory (``.``, ``src``, ``./build``): every ``{}`` is then that path
    or a path under it (``./{}``), not any path at all. -execdir's ``{}`` is always ``./NAME``."""
    i = 1
    while i < len(words) and words[i].text in ("-H", "-L", "-P"):
        i += 1
    starts: list[Field] = []
    while i < len(words) and not words[i].text.startswith(("-", "(", "!", ")")):
        starts.append(words[i])
        i += 1
    if len(starts) != 1 or starts[0].flags & (EXP | GLOB | PROC):
        return None
    t = starts[0].text.rstrip("/")
    if not t or t.startswith(("/", "~")) or ".." in t.split("/"):
        return None
    return t


_FD_EXEC = frozenset({"-x", "--exec", "-X", "--exec-batch"})


def _h_fd(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``fd ... -x CMD ...`` (-X, --exec, --exec-batch); ``{}``, ``{/}``, ... are file names."""
    for i, w in enumerate(words):
        t = w.text
        if t in _FD_EXEC or t.startswith(("--exec=", "--exec-batch=")):
            end = next((j for j in range(i + 1, len(words)) if words[j].text in (";", "\\;")), len(words))
            cmd = [_marked(x) if "{" in x.text and "}" in x.text else x for x in words[i + 1 : end]]
            if cmd:
                an.command(cmd, cx.wrap(f"{name} {t}", tail=False))


_PARALLEL = opts("0kqvtuXmeg", "jSadEILnNPsx", lenient=1,
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
_PARALLEL_RENAMES = frozenset({"--extensionreplace", "--basenamereplace", "--dirnamereplace",
                               "--basenameextensionreplace", "--seqreplace", "--slotreplace"})
_SEPS = frozenset({":::", "::::", ":::+", "::::+"})


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
    i, found = parse_opts(words, 1, _PARALLEL, name)
    end = next((k for k in range(i, len(words)) if words[k].text in _SEPS), len(words))
    if i < end:
        return _parallel_jobs(an, name, words, i, end, found, cx)
    if end < len(words) and words[end].text == ":::":  # no command: each value is one
        for w in words[end + 1 :]:
            if w.text in _SEPS:
                break
            an.shell_text(w.text, w.flags, name, cx)
        return
    reads_stdin(name, cx, an, "shell")


def _parallel_jobs(an: Walker, name: str, words: list[Field], i: int, end: int, found: list[Opt],
                   cx: Cx) -> None:
    """Analyse the jobs of ``parallel CMD ... ::: values``: CMD with each value put in."""
    if "{" in words[i].text:
        raise Unclear(f"{name}: the command comes from its arguments")
    cmd = joined(words[i:end])
    if name == "sem":
        return an.shell_text(cmd.text, cmd.flags, name, cx)
    repl = None
    for o in found:
        if o.name in ("-I", "--replace"):
            repl = o.value or "{}"
        elif o.name in _PARALLEL_RENAMES:
            raise Unclear(f"{name}: {o.name} makes the command text unknown")
    marked = _parallel_marks(cmd.text, repl)
    for val in _parallel_values(words, end, found, marked):
        if not marked:
            job = f"{cmd.text} {val}"
        elif repl is not None:
            job = cmd.text.replace(repl, val)
        else:
            job = _parallel_fill(cmd.text, val)
        an.shell_text(job, cmd.flags, name, cx)


def _parallel_values(words: list[Field], end: int, found: list[Opt], marked: bool) -> list[str]:
    """What each job gets, as shell text: the values of one ``:::`` group when they are
    literal and few; otherwise INPUT_WORD (once per group, or once where it is put in)."""
    group = words[end + 1 :] if end < len(words) and words[end].text == ":::" else None
    if (group is None or len(group) > _PARALLEL_MAX_ARGS or any(o.name in _PARALLEL_MULTI for o in found)
            or any(w.text in _SEPS or w.flags & EXP for w in group)):
        groups = max(1, sum(1 for w in words[end:] if w.text in _SEPS))
        return [" ".join([f'"{INPUT_WORD}"'] * (1 if marked else groups))]
    import shlex

    return [shlex.quote(w.text) for w in group]  # parallel quotes what it substitutes


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
