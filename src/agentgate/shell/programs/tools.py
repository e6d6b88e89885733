"""Tools whose own options or input carry commands: editors (vim -c, +cmd, emacs --eval, ed and
ex scripts on stdin), sqlite3 dot-commands, make --eval and -f -, tar's command options, zip -TT,
crontab input, scp/sftp (ssh options, sftp's ! lines) and capsh's shell."""

from __future__ import annotations

from ..context import EXP, PROC, Field, Unclear
from .common import STDIN_PATHS, report_code
from .remote import ssh_option

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..context import Cx
    from ..options import Handler, Walker


def _stdin_lines(an: Walker, name: str, cx: Cx) -> list[str] | None:
    """The lines a command-reading tool gets on stdin: a literal here-document or here-string,
    None when nothing is fed; anything else fed (a pipe, a here-document with expansions) is
    text the gate cannot read."""
    if not cx.stdin:
        return None
    feed = cx.feed
    if feed is None or feed.flags & EXP:
        raise Unclear(f"{name} reads commands from its stdin, which the gate cannot read")
    return feed.text.splitlines()


def _bang(an: Walker, name: str, line: str, cx: Cx) -> None:
    """An ed/ex/vim command line: ``!cmd``, ``r !cmd``, ``w !cmd``, ``silent !cmd``, ``.!cmd``
    and ``%!cmd`` run ``cmd`` in a shell, analysed; the line is also reported as editor code."""
    text = line.strip().lstrip(":").strip()
    for head in ("silent!", "silent", "sil!", "sil"):
        if text.startswith(head):
            text = text[len(head):].lstrip()
            break
    k = text.find("!")
    if k >= 0 and text[:k].lstrip("0123456789,.$%;+- ").strip() in _BANG_LEADS:
        an.shell_text(text[k + 1 :], 0, f"{name} !", cx)


_BANG_LEADS = frozenset({"", "r", "read", "w", "write", "e", "edit", "W"})


def _editor_code(an: Walker, name: str, opt: str, w: Field, cx: Cx) -> None:
    if w.flags & EXP:
        raise Unclear(f"{name} {opt}: the editor command is not literal")
    for part in w.text.split("\n"):
        _bang(an, name, part, cx)
    report_code(an, name, opt, w, cx, always=True)


_VIM_VALUE = frozenset({"-c", "--cmd", "-S", "-s", "-w", "-W", "-u", "-U", "-i", "-T", "-t", "-q",
                        "--servername", "--remote-send", "--remote-expr", "-r", "--startuptime"})


def _h_vim(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """vim and kin: ``-c CMD``, ``--cmd CMD``, ``+CMD``, ``--remote-send``/``--remote-expr`` are
    editor commands (``!cmd`` runs a shell); ``-e``/``-E``/``-es`` and ex read them on stdin;
    ``-s FILE`` reads them from a file (stdin and substitutions are refused)."""
    ex_mode = name in ("ex",)
    i, n = 1, len(words)
    while i < n:
        w = words[i]
        t = w.text
        if t == "--":
            break
        if t.startswith("+") and len(t) > 1 and not t[1:].isdigit():
            _editor_code(an, name, "+", Field(t[1:], w.flags), cx)
        elif t in ("-c", "--cmd", "--remote-send", "--remote-expr") and i + 1 < n:
            _editor_code(an, name, t, words[i + 1], cx)
        elif t in ("-s", "-S") and i + 1 < n:
            v = words[i + 1]
            if v.flags & PROC or v.text in STDIN_PATHS:
                raise Unclear(f"{name} {t}: reads editor commands from stdin or a substitution")
        elif t[:1] == "-" and t[1:2] != "-" and ("e" in t[1:] or "E" in t[1:]) and t not in _VIM_VALUE:
            ex_mode = True
        i += 2 if t in _VIM_VALUE else 1
    if ex_mode:
        _ed_input(an, name, cx)


def _ed_input(an: Walker, name: str, cx: Cx) -> None:
    lines = _stdin_lines(an, name, cx)
    if lines:
        for line in lines:
            _bang(an, name, line, cx)
        report_code(an, name, "<<", Field("\n".join(lines)), cx, always=True)


def _h_ed(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``ed FILE`` reads its commands on stdin: ``!cmd`` lines (and ``r !``/``w !``) are shell
    text; ``ed !cmd`` edits the output of cmd."""
    for w in words[1:]:
        if w.text.startswith("!"):
            an.shell_text(w.text[1:], w.flags, f"{name} !", cx)
    _ed_input(an, name, cx)


_EMACS_EVAL = frozenset({"--eval", "-eval", "--execute", "-execute", "-e", "--funcall", "-f", "-funcall"})


def _h_emacs(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """emacs/emacsclient ``--eval EXPR`` (``-e``, ``--execute``, ``-f``): elisp, reported as code;
    the literal text of ``(shell-command "...")`` and kin is analysed as shell text."""
    n = len(words)
    for i in range(1, n):
        t = words[i].text
        key, eq, val = t.partition("=")
        if key in _EMACS_EVAL:
            w = Field(val, words[i].flags) if eq else (words[i + 1] if i + 1 < n else None)
            if w is None:
                continue
            report_code(an, name, key, w, cx, always=True)
            for text in _elisp_shell_strings(w.text):
                an.shell_text(text, 0, f"{name} {key} shell-command", cx)


def _elisp_shell_strings(code: str) -> list[str]:
    """The literal strings given to shell-command, shell-command-to-string, async-shell-command
    and start-process-shell-command in elisp ``code``."""
    out: list[str] = []
    for fn in ("shell-command-to-string", "async-shell-command", "shell-command",
               "start-process-shell-command", "call-process-shell-command"):
        k = code.find(fn)
        while k >= 0:
            q = code.find('"', k)
            if q >= 0:
                end, buf = q + 1, []
                while end < len(code) and code[end] != '"':
                    if code[end] == "\\" and end + 1 < len(code):
                        end += 1
                    buf.append(code[end])
                    end += 1
                out.append("".join(buf))
            k = code.find(fn, k + len(fn))
    return out


_SQLITE_VALUE = frozenset({"-cmd", "--cmd", "-init", "--init", "-separator", "--separator",
                           "-newline", "--newline", "-nullvalue", "--nullvalue", "-vfs", "--vfs",
                           "-lookaside", "-maxsize", "-mmap", "-pagecache", "-heap", "-key",
                           "-hexkey", "-textkey", "-escape"})


def _sqlite_line(an: Walker, name: str, line: str, flags: int, cx: Cx) -> None:
    """A sqlite3 command line: ``.shell``/``.system CMD`` and ``.once|.output|.import|.read
    |CMD`` run CMD in a shell; ``.load`` loads code; the rest is SQL."""
    t = line.strip()
    if not t.startswith("."):
        return
    if flags & EXP:
        raise Unclear(f"{name}: a dot-command is not literal")
    head, _, rest = t.partition(" ")
    cmd = head[1:].lower()
    if cmd in ("shell", "system", "sh"):
        an.shell_text(rest, 0, f"{name} .{cmd}", cx)
    elif cmd in ("once", "output", "out", "import", "read", "excel") and "|" in rest:
        text = rest.split("|", 1)[1]
        if cmd == "import":
            text = text.rsplit(None, 1)[0]
        an.shell_text(text.strip("'\" "), 0, f"{name} .{cmd} |", cx)
    elif cmd in ("load", "edit"):
        raise Unclear(f"{name} .{cmd} loads or runs code")


def _h_sqlite(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """sqlite3 [opts] DB [SQL...]: its SQL operands, ``-cmd`` values and stdin (a literal
    here-document; a pipe or another fed input is refused) may hold dot-commands."""
    i, n, db = 1, len(words), False
    sql: list[Field] = []
    while i < n:
        w = words[i]
        t = w.text
        if t.startswith("-") and not db:
            if t in ("-cmd", "--cmd") and i + 1 < n:
                sql.append(words[i + 1])
            i += 2 if t in _SQLITE_VALUE else 1
            continue
        if not db:
            db = True
        else:
            sql.append(w)
        i += 1
    for w in sql:
        for line in w.text.split("\n"):
            _sqlite_line(an, name, line, w.flags, cx)
    if not sql or cx.stdin:
        if cx.stdin and cx.feed is None:
            raise Unclear(f"input is piped into {name}, which runs its dot-commands (.shell)")
        lines = _stdin_lines(an, name, cx) or []
        for line in lines:
            _sqlite_line(an, name, line, 0, cx)


def _h_make(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """make ``--eval TEXT``/``-E TEXT`` is makefile text (its recipes run in a shell),
    reported as code; ``-f -`` reads the makefile from stdin; ``SHELL=``/``.SHELLFLAGS=`` on
    the command line change the shell recipes run in."""
    n = len(words)
    for i in range(1, n):
        w = words[i]
        t = w.text
        if t == "--":
            break
        key, eq, val = t.partition("=")
        if key in ("--eval", "-E"):
            v = Field(val, w.flags) if eq else (words[i + 1] if i + 1 < n else None)
            if v is not None:
                report_code(an, name, "--eval", v, cx, always=True)
        elif t.startswith("-E") and len(t) > 2:
            report_code(an, name, "-E", Field(t[2:], w.flags), cx, always=True)
        elif key in ("-f", "--file", "--makefile") or (t.startswith("-f") and len(t) > 2):
            if t in ("-f", "--file", "--makefile"):
                v = words[i + 1] if i + 1 < n else None
            elif eq and key != "-f":
                v = Field(val, w.flags)
            else:
                v = Field(t[2:], w.flags)
            if v is not None and (v.flags & PROC or v.text in STDIN_PATHS):
                if v.flags & PROC:
                    raise Unclear(f"{name} -f: the makefile comes from a process substitution")
                lines = _stdin_lines(an, name, cx)
                if lines is not None:
                    report_code(an, name, "-f -", Field("\n".join(lines)), cx, always=True)
        elif key in ("SHELL", ".SHELLFLAGS", "MAKESHELL") and eq:
            an.shell_text(val, w.flags, f"{name} {key}=", cx)


# tar options whose value is a command tar runs (through the shell or as a program)
_TAR_CMD_LONG = frozenset({"--to-command", "--use-compress-program", "--rsh-command", "--info-script",
                           "--new-volume-script", "--rmt-command"})
_TAR_CMD_SHORT = "IF"
_TAR_VALUE_SHORT = "fbCgHKLNTVX"  # other short options with a value


def _h_tar(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """tar's ``--to-command``, ``--checkpoint-action=exec=``, ``-I``/``--use-compress-program``,
    ``--rsh-command``, ``-F``/``--info-script``: commands tar starts, analysed as shell text
    (also in the old bundled form, ``tar cIf CMD out.tar``)."""
    i, n = 1, len(words)
    pending: list[str] = []  # old-style letters waiting for their values
    if n > 1 and not words[1].text.startswith("-"):
        pending = [c for c in words[1].text if c in _TAR_CMD_SHORT + _TAR_VALUE_SHORT]
        i = 2
    while i < n:
        w = words[i]
        t = w.text
        if pending:
            letter = pending.pop(0)
            if letter in _TAR_CMD_SHORT:
                an.shell_text(t, w.flags, f"{name} -{letter}", cx)
            i += 1
            continue
        if t == "--":
            break
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            full = next((k for k in (*_TAR_CMD_LONG, "--checkpoint-action")
                         if k == key or (k.startswith(key) and len(key) > 4 and key != "--checkpoint")), "")
            if full:
                if not eq:
                    if i + 1 >= n:
                        break
                    i += 1
                    val, flags = words[i].text, words[i].flags
                else:
                    flags = w.flags
                if full == "--checkpoint-action":
                    if val.startswith("exec="):
                        an.shell_text(val[5:], flags, f"{name} --checkpoint-action=exec", cx)
                    elif flags & EXP:
                        raise Unclear(f"{name} --checkpoint-action: the action is not literal")
                else:
                    an.shell_text(val, flags, f"{name} {full}", cx)
        elif t.startswith("-") and len(t) > 1:
            for j in range(1, len(t)):
                c = t[j]
                if c in _TAR_CMD_SHORT + _TAR_VALUE_SHORT:
                    if j + 1 < len(t):
                        val, flags = t[j + 1 :], w.flags
                    elif i + 1 < n:
                        i += 1
                        val, flags = words[i].text, words[i].flags
                    else:
                        break
                    if c in _TAR_CMD_SHORT:
                        an.shell_text(val, flags, f"{name} -{c}", cx)
                    break
        i += 1


def _h_zip(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``zip -TT CMD`` / ``--unzip-command CMD``: the command zip runs to test the archive."""
    for i, w in enumerate(words):
        key, eq, val = w.text.partition("=")
        if key in ("-TT", "--unzip-command"):
            if eq:
                an.shell_text(val, w.flags, f"{name} {key}", cx)
            elif i + 1 < len(words):
                an.shell_text(words[i + 1].text, words[i + 1].flags, f"{name} {key}", cx)


def _h_crontab(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``crontab -`` (or no file) installs the table on stdin: each entry's command is shell
    text (a literal here-document; piped input is refused). A file operand is not read."""
    operands = []
    i = 1
    while i < len(words):
        t = words[i].text
        if t in ("-l", "-r", "-e", "-i", "-T", "-V", "--help", "--version"):
            return
        if t in ("-u", "-s"):
            i += 2 if t == "-u" else 1
            continue
        if t.startswith("-") and t != "-":
            i += 1
            continue
        operands.append(words[i])
        i += 1
    if operands and operands[0].text != "-":
        if operands[0].flags & PROC or operands[0].text in STDIN_PATHS:
            raise Unclear(f"{name} installs a table from stdin or a substitution")
        return
    lines = _stdin_lines(an, name, cx)
    if lines is None:
        return
    for line in lines:
        t = line.strip()
        if not t or t.startswith("#"):
            continue
        fields = t.split(None, 1 if t.startswith("@") else 5)
        head = fields[0]
        if "=" in head and not t.startswith("@") and len(fields) < 6:
            continue  # NAME=value
        cmd = fields[-1] if len(fields) == (2 if t.startswith("@") else 6) else ""
        if cmd:
            an.shell_text(cmd.replace("\\%", "%").replace("%", "\n"), 0, f"{name} entry", cx)


def _h_scp(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """scp/sftp: ``-o ProxyCommand=..``/``LocalCommand`` run locally, ``-S PROGRAM`` (and sftp's
    ``-D PATH``) is a program they start; sftp reads commands (``!cmd`` runs a local shell)
    from ``-b FILE`` or, without a tty, from stdin."""
    batch = None
    n = len(words)
    i = 1
    while i < n:
        w = words[i]
        t = w.text
        if not t.startswith("-") or t == "--":
            i += 1
            continue
        for j in range(1, len(t)):
            c = t[j]
            if c in "oSDbcFiJlPRBX" + ("s" if name == "sftp" else ""):
                if j + 1 < len(t):
                    val = Field(t[j + 1 :], w.flags)
                elif i + 1 < n:
                    i += 1
                    val = words[i]
                else:
                    break
                if c == "o":
                    ssh_option(an, name, val.text, val.flags, cx)
                elif c == "S" or (c == "D" and name == "sftp") or (c == "s" and val.text.startswith("/")):
                    if val.flags & EXP:
                        raise Unclear(f"{name} -{c}: the program is not literal")
                    an.command([val], cx.wrap(f"{name} -{c}"))
                elif c == "b":
                    batch = val
                break
        i += 1
    if name != "sftp":
        return
    if batch is not None and batch.text not in STDIN_PATHS:
        if batch.flags & PROC:
            raise Unclear(f"{name} -b: the batch file comes from a process substitution")
        return
    lines = _stdin_lines(an, name, cx)
    for line in lines or ():
        t = line.strip().lstrip("-@").lstrip()
        if t.startswith("!"):
            an.shell_text(t[1:], 0, f"{name} !", cx)


def _h_capsh(an: Walker, name: str, words: list[Field], cx: Cx) -> None:
    """``capsh [opts] -- ARGS`` runs ``bash ARGS`` (``--shell=PROG``: PROG); ``== ARGS`` runs
    capsh again."""
    shell = "bash"
    for i, w in enumerate(words[1:], 1):
        t = w.text
        if t.startswith("--shell="):
            shell = t[8:]
        elif t in ("--", "=="):
            rest = words[i + 1 :]
            if t == "==":
                return _h_capsh(an, name, [words[0], *rest], cx.wrap(f"{name} =="))
            return an.command([Field(shell), *rest], cx.wrap(f"{name} --"))


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(("vi", "vim", "nvim", "gvim", "view", "ex", "rvim", "vimdiff"), _h_vim),
    "emacs": _h_emacs,
    "emacsclient": _h_emacs,
    "ed": _h_ed,
    "red": _h_ed,
    "sqlite3": _h_sqlite,
    "make": _h_make,
    "gmake": _h_make,
    **dict.fromkeys(("tar", "gtar", "bsdtar"), _h_tar),
    "zip": _h_zip,
    "crontab": _h_crontab,
    "scp": _h_scp,
    "sftp": _h_scp,
    "capsh": _h_capsh,
}
