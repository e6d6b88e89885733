"""Turn what an agent asked to run into the simple commands it would really execute.

    analyze_argv(argv, cwd, home)   -> Analysis   # an argv as `agentgate run -- ...` receives it
    analyze_script(text, cwd, home) -> Analysis   # a shell command string (hooks, `sh -c` payloads)

An :class:`Analysis` lists every :class:`SimpleCommand` found (a normalized argv, the path by
which it was reached, its run-time words, environment and working directory), every
:class:`Opaque` construct the gate cannot see through and every :class:`Redirect`. The caller
checks every command against the rules and every opaque part as ``settings.unparseable``;
strictest wins. ``cwd`` (absolute) is where the input starts, ``home`` the directory ``~`` and
``$HOME`` stand for, ``cdpath`` whether ``$CDPATH`` is set: the caller reads them, the analysis
only follows them through ``cd``, ``pushd`` and ``popd``. Pure: no I/O, no printing, no
environment access, and it never raises: anything it cannot understand becomes an Opaque.

The package, lowest layer first: :mod:`.budget` (the bounds), :mod:`.context` (a command's
words as fields, and what is known around it), :mod:`.syntax` (the typed tree), :mod:`.expand`
(word expansion, parameter values), :mod:`.parser` (text to tree; knows no programs),
:mod:`.options` (option tables), :mod:`.programs` (what each program runs, one module per
family), :mod:`.analyzer` (walks the tree: the shell around each command, variables, run-time
words). The tree, the parser and expansion load with the first shell text to read; a family of
programs with the first of its programs met.

What it reports, beyond the plain commands:
- a wrapper (sudo, env, timeout, xargs, npx, find -exec, bash -c, eval, tmux, ssh, ...) is
  reported, then what it runs, analysed again: a rule sees ``kubectl apply`` in ``sudo -E
  kubectl apply``; an unknown program given ``-- CMD ARGS`` has CMD checked too;
- programs that tools start from configuration or environment (``git -c core.pager=..``,
  ``GIT_SSH_COMMAND=..``, ``EDITOR=..``) are analysed as the shell text they are; a literal
  here-document fed to a shell is read as its script, fed to an interpreter it is code;
- ``$1``/``"$@"`` inside ``sh -c STRING ARGS`` and ``$NAME`` given a literal value the script
  cannot have changed since (see :mod:`.expand`) are substituted; brace expansion is done;
- a package runner's tool loses its version and scope (``@scope/pkg@1`` -> ``pkg``), a name
  with capitals is reported in lower case too, and ``git``/``terraform``/``npm`` are reported a
  second time without their global options (``git -C x push -f`` meets ``git push ** -f``).

Known gaps (not modelled; documented so rules can compensate):
- values of ``$(...)``, of variables from the environment or set anywhere but in plain
  top-level assignments, and what globs match are unknown (kept as literal text, flagged in
  ``dynamic``); a variable or substitution as a *command name* is opaque unless its literal
  value is known; a dynamic ``sed`` script is checked for ``e`` only in its literal text;
- aliases defined outside the input (one defined earlier in it is expanded where used),
  functions are analysed where defined rather than where called, ``hash -p`` and PATH tricks
  are not followed;
- script files (``bash file.sh``, ``source file``, ``sed -f``/``awk -f``), config files (git's,
  ``~/.ssh/config``) and package.json/Makefile/mise task scripts are not read (start-up files,
  ``BASH_ENV``, ``--rcfile``, are opaque: see :mod:`.features`);
- commands started by other tools' own options (``LD_PRELOAD``, a command given as one
  string to a program not known here) beyond the programs known in :mod:`.programs` and the
  backstop (a word of an unknown program's argv naming a shell or a guarded program, see
  ``SimpleCommand.nested``); unknown options of a wrapper make it opaque, but a few (uv, pnpm,
  yarn, bun, systemd-run, firejail, secret injectors) accept unknown ``--flags`` as switches;
- xargs/parallel input is one dynamic word (``INPUT_WORD``) that may stand for several
  (``SimpleCommand.split``), or a path that starts like ``find START``'s when that feeds it;
- fish/csh/PowerShell strings are parsed with sh rules (a parse failure is opaque);
- arithmetic that runs ``$(...)`` from data read at run time (``(( $(cat f) ))``; from quoted
  data in the input it is opaque, see :mod:`.features`) and ``$IFS`` games outside ``sh -c``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

from .analyzer import Analysis, Analyzer, Opaque, Redirect, SimpleCommand, absolute, clip
from .budget import MAX_INPUT, Bound
from .context import INPUT_WORD, Cx, Field

__all__ = ["INPUT_WORD", "Analysis", "Opaque", "Redirect", "SimpleCommand", "absolute",
           "analyze_argv", "analyze_script", "source_files"]


def _guarded(an: Analyzer, work: Callable[[], None]) -> Analysis:
    try:
        work()
    except (Bound, RecursionError) as exc:
        an.add_opaque("unparseable", f"too large/too deep to analyse: {exc or 'recursion'}", "", ())
    except Exception as exc:  # the gate must fail closed, never crash
        an.add_opaque("unparseable", f"internal parser error: {type(exc).__name__}: {exc}", "", ())
    return an.result()


def analyze_argv(argv: Sequence[str], cwd: str | None = None, home: str | None = None,
                 cdpath: bool = False) -> Analysis:
    """The commands an argv runs when executed directly (no shell), started in ``cwd``."""
    an = Analyzer(cwd, home, cdpath)

    def work() -> None:
        words = list(argv)
        if not all(isinstance(w, str) for w in words):
            an.add_opaque("unparseable", "argv holds something other than strings", "", ())
            return
        if sum(len(w) for w in words) > MAX_INPUT:
            raise Bound(f"argv longer than {MAX_INPUT} characters")
        if any("\x00" in w for w in words):
            an.add_opaque("unparseable", "argv holds a NUL byte", "", ())
            words = [w.split("\x00", 1)[0] for w in words]
        if words:
            an.command([Field(w) for w in words], Cx())

    return _guarded(an, work)


def analyze_script(text: str, cwd: str | None = None, home: str | None = None,
                   cdpath: bool = False) -> Analysis:
    """The commands a shell command string runs, started in ``cwd``."""
    an = Analyzer(cwd, home, cdpath)

    def work() -> None:
        if not isinstance(text, str):
            an.add_opaque("unparseable", "the command is not a string", "", ())
            return
        if len(text) > MAX_INPUT:
            raise Bound(f"script longer than {MAX_INPUT} characters")
        if "\x00" in text:
            an.add_opaque("unparseable", "the command holds a NUL byte", clip(text.replace("\x00", "\\0")), ())
            an.script(text.split("\x00", 1)[0], Cx())
            an.script(text.replace("\x00", ""), Cx())
            return
        an.script(text, Cx())

    return _guarded(an, work)


@functools.cache
def source_files() -> tuple[str, ...]:
    """The paths of every module of this package: the code that decides an analysis. A cache
    keyed on that code (policy's validation key) stats them all, not just this file."""
    root = os.path.dirname(__file__)
    out: list[str] = []
    for sub in ("", "programs"):
        folder = os.path.join(root, sub)
        out.extend(os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py"))
    return tuple(out)
