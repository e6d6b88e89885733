"""What Codex can do that its PreToolUse hook does not show plainly, read from the hook's input.

- apply_patch: the tool (``tool_name: "apply_patch"``, the patch in ``tool_input.command``) and
  the shell form Codex intercepts (``apply_patch <<'EOF' ... EOF``, which reaches the hook as a
  Bash command) both write every file the patch names: :func:`patch_targets`.
- write_stdin feeds a session that exec_command started earlier and fires no hook, so a command
  that opens an interactive shell or REPL would let everything typed into it later go unchecked:
  :func:`interactive_program` finds such a command, and the adapter holds it.

On every hook call of Codex, so light: the shell analysis is the gate's own (agentgate.shell).
"""

from __future__ import annotations

from ..shell import analyze_script

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from ..shell.analyzer import Analysis

PATCH_PROGRAMS = frozenset({"apply_patch", "applypatch"})
_PATCH_MARKERS = ("*** Add File:", "*** Delete File:", "*** Update File:", "*** Move to:")

# Programs that read commands from standard input when given no script or code to run.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "tcsh", "csh", "ash",
                    "busybox", "rbash", "elvish", "nu", "xonsh", "pwsh", "powershell"})
REPLS = frozenset({"python", "python2", "python3", "ipython", "pypy", "pypy3", "node", "nodejs",
                   "deno", "bun", "irb", "ruby", "perl", "php", "lua", "luajit", "R", "julia",
                   "ghci", "scala", "tclsh", "wish", "expect", "guile", "racket", "sbcl", "erl",
                   "iex"})
# Programs whose operands are data (a database, a file, a program to debug, a host), not a
# script: they read commands from the session unless given code to run (these short options;
# sqlite3 also runs the SQL given after the database, gdb and lldb their batch mode).
DATA_REPLS = {"sqlite3": "", "psql": "cf", "mysql": "e", "mariadb": "e", "bc": "", "dc": "ef",
              "ed": "", "ex": "", "gdb": "", "lldb": "", "ftp": "", "sftp": "b", "telnet": "",
              "mongosh": "", "mongo": ""}
_BATCH = frozenset({"-batch", "--batch"})
# Programs that read keys from the terminal whatever their operands, and can run a command
# from there (an editor's :!, a pager's !, a terminal multiplexer's windows and send-keys).
TERMINAL_PROGRAMS = frozenset({"vi", "vim", "nvim", "view", "vimdiff", "emacs", "nano", "pico",
                               "mg", "joe", "micro", "kak", "hx", "less", "more", "most", "man",
                               "tmux", "screen", "zellij", "byobu", "dtach", "abduco"})
# What a terminal multiplexer does without starting or feeding a session.
_MUX_LISTING = frozenset({"ls", "list-sessions", "-V", "-v", "-ls", "-list", "-version",
                          "--version", "list"})
# sudo and doas start a shell with these options and no command; their options taking a value.
_ROOT_SHELL = frozenset({"-i", "-s", "--login", "--shell"})
_SUDO_VALUED = frozenset("CDghpRrTtUu")
# Programs that start a shell reading the session (a remote or a new login), unless given -c.
LOGINS = frozenset({"ssh", "su", "login", "script", "machinectl", "nsenter", "chroot"})
# Short options (alone or in a cluster) after which the program runs the code given instead.
_SHELL_CODE = "c"
_REPL_CODE = "cemprf"
_STDIN_OPTIONS = frozenset({"-i", "-s", "--interactive", "-"})
_INPUT_OPS = ("<", "<<", "<<-", "<<<", "<>")
# ssh's options that take a value (the next word is not the host or the remote command).
_SSH_VALUED = frozenset("BbcDEeFIiJLlmOoPpQRSWw")


def patch_targets(patch: str) -> list[str]:
    """Every path a patch in Codex's apply_patch format adds, deletes, updates or moves to."""
    targets = []
    for line in patch.splitlines():
        stripped = line.strip()
        for marker in _PATCH_MARKERS:
            if stripped.startswith(marker):
                path = stripped[len(marker):].strip()
                if path:
                    targets.append(path)
    return targets


def _python_like_version(name: str) -> str:
    """``python3.12`` -> ``python3``: versioned interpreter names count as the interpreter."""
    base = name.rstrip("0123456789.")
    return base if base and base != name and base[-1:] != "-" else name


def _runs_code(args: tuple[str, ...], letters: str) -> bool:
    return any((a.startswith("--") and a[2:] in ("command", "eval", "exec", "execute", "file"))
               or (a[:1] == "-" and a[1:2] != "-" and any(ch in letters for ch in a[1:]))
               for a in args)


def _is_interactive(argv: tuple[str, ...]) -> bool:
    name = argv[0].rsplit("/", 1)[-1]
    prog = name if name in DATA_REPLS else _python_like_version(name)  # sqlite3 is not "sqlite"
    args = argv[1:]
    if prog == "busybox":
        return bool(args) and args[0] in SHELLS and _is_interactive(args)
    if prog == "ssh":
        operands, skip = [], False
        for a in args:
            if skip:
                skip = False
            elif a.startswith("-") and len(a) > 1:
                skip = a[-1] in _SSH_VALUED and len(a) == 2
            else:
                operands.append(a)
        return len(operands) <= 1  # a host and no remote command: a login shell
    if prog in LOGINS:
        return not _runs_code(args, _SHELL_CODE)
    if prog in TERMINAL_PROGRAMS:
        return _terminal(argv)
    if prog in ("sudo", "doas"):
        return _root_shell(args)
    if prog in DATA_REPLS:
        operands = [a for a in args if not a.startswith("-")]
        return not (_runs_code(args, DATA_REPLS[prog]) if DATA_REPLS[prog] else False) and not (
            prog == "sqlite3" and len(operands) > 1) and not any(a in _BATCH for a in args)
    if prog not in SHELLS and prog not in REPLS:
        return False
    if any(a in _STDIN_OPTIONS for a in args):
        return True
    if _runs_code(args, _SHELL_CODE if prog in SHELLS else _REPL_CODE):
        return False
    return all(a.startswith("-") for a in args)  # no script operand: commands come from stdin


def _terminal(argv: tuple[str, ...]) -> bool:
    """A terminal program, not only listing a multiplexer's sessions."""
    return argv[0].rsplit("/", 1)[-1] in TERMINAL_PROGRAMS and not (
        argv[1:2] and argv[1] in _MUX_LISTING)


def _root_shell(args: tuple[str, ...]) -> bool:
    """``sudo -i``, ``sudo -u x -s``, ``doas -s``: a shell, when no command follows."""
    shell, skip = False, False
    for a in args:
        if skip:
            skip = False
        elif a == "--":
            continue
        elif a.startswith("--"):
            shell = shell or a in _ROOT_SHELL
        elif a.startswith("-") and len(a) > 1:
            shell = shell or "i" in a[1:] or "s" in a[1:]
            skip = a[-1] in _SUDO_VALUED
        else:
            return False  # a command: the analysis judges it on its own
    return shell


def interactive_program(analysis: Analysis) -> str | None:
    """The first simple command that would start an interactive shell or REPL reading the
    session's standard input (not a pipe, file or here-document), as it is written; None.
    A redirection is not tied to its command in the analysis, so an input redirection spares
    only a command that is the only one (``bash < script``, not ``cat < f; bash``). A terminal
    program (``git log | less``) reads the terminal whatever its stdin is."""
    for command in analysis.commands:
        if command.argv and _terminal(command.argv):
            return " ".join(command.argv)
    own = [c for c in analysis.commands if not any(v.endswith("<") for v in c.via)]
    if len(own) == 1 and any(r.op in _INPUT_OPS for r in analysis.redirects):
        return None  # (the commands a here-document feeds a shell are its input's, not others)
    for command in analysis.commands:
        if command.via[-1:] == ("|",):
            continue
        if command.argv and _is_interactive(command.argv):
            return " ".join(command.argv)
    return None


def shell_patch_targets(analysis: Analysis) -> list[str] | None:
    """The files a shell command running apply_patch writes: Codex intercepts ``apply_patch
    <<EOF`` (also after ``cd DIR &&``), and runs its own apply_patch for the name on PATH, which
    takes the patch as its argument too. Relative to the analysis' directory, or absolute when a
    ``cd`` moved it; None when a patch cannot be read from the command (a run-time word, stdin
    from a pipe or a file, a directory not known): then what it writes is not known."""
    patchers = [c for c in analysis.commands if c.argv and c.argv[0] in PATCH_PROGRAMS]
    if not patchers:
        return []
    docs = [r for r in analysis.redirects if r.op.startswith("<<")]
    if any(r.dynamic or r.cwd is None for r in docs):
        return None
    targets = [_placed(analysis, r.cwd, t) for r in docs for t in patch_targets(r.target)]
    for c in patchers:
        if c.cwd is None or any(i > 0 for i in c.dynamic) or (len(c.argv) == 1 and not docs):
            return None
        targets += [_placed(analysis, c.cwd, t) for word in c.argv[1:] for t in patch_targets(word)]
    return targets


def _placed(analysis: Analysis, cwd: str | None, target: str) -> str:
    import os

    return target if cwd == analysis.cwd or cwd is None else os.path.join(cwd, target)


def analyze(command: str, cwd: str) -> Analysis:
    return analyze_script(command, cwd)
