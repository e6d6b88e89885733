"""The analyzer: walks the parsed tree and reports every simple command that would run.

It follows the shell around each command (``sh -c`` arguments, variables with a literal value,
exported assignments, stdin fed by pipes and here-documents, the working directory that ``cd``,
``pushd`` and ``popd`` set), expands words (:mod:`.expand`), and hands each command to the
handler of its program (:mod:`.programs`), which reports what that program runs in turn.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable

from ..lean import Record, field, lazy_regex
from . import features
from .budget import MAX_COMMANDS, MAX_WORDS, Bound, Budget
from .context import (
    EXP,
    GLOB,
    INPUT_WORD,
    NAME,
    PROC,
    SPLIT,
    Cx,
    Field,
    Unclear,
    Vars,
    assigned_name,
    merge_env,
    program_name,
    wordset,
)
from .options import option_values
from .programs import COMMAND_VARS, NO_EXEC, RUNS_TEXT, lookup, unversioned

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TypeAlias

    from .syntax import AndOr, Compound, Func, Node, Pipe, Redir, Simple, Word

    # a directory the shell may be in: (the working directory, the pushd stack), None unknown
    Place: TypeAlias = tuple[str | None, tuple[str | None, ...]]


class SimpleCommand(Record):
    """One command that would run. ``argv[0]`` is the program's basename, unquoted."""

    argv: tuple[str, ...]
    via: tuple[str, ...] = ()  # how it was reached, outermost first: ("bash -c", "&&", "sudo")
    # argv positions whose value is only known at run time: an expansion ($X, $(...), find's
    # {}), an unquoted glob pattern (/[a-z]*, kept as written), or INPUT_WORD.
    dynamic: tuple[int, ...] = field(default=(), compare=False)
    # ``NAME=value`` assignments that may reach this command's environment, in order: exported
    # shell assignments made earlier in the script (``export X=1; cmd``, ``X=1; export X; cmd``,
    # ``set -a; X=1; cmd``), then wrapper and prefix assignments (``sudo X=1 cmd``, ``env X=1
    # cmd``, ``X=1 cmd``); a later one replaces an earlier one of the same name (a value set in
    # a branch or loop is kept beside the one before it, and the same argv and via met again
    # in the same directory with another env is reported once with both). A value that is not
    # literal appears as its source text (``X=$(date)``). Policy matches rules against
    # ``argv + env``.
    env: tuple[str, ...] = field(default=(), compare=False)
    # The directory it runs in, absolute: the starting directory moved by the literal ``cd``,
    # ``pushd`` and ``popd`` before it (``~`` and ``$HOME`` as the home directory given); None
    # when that is unknown (no starting directory, ``cd "$X"``, ``cd -``, a function body,
    # after ``source``). A ``cd`` may fail, so a command after ``cd x;`` may run in either
    # directory: it is reported once for each (after ``cd x &&`` only in x). Part of the
    # command's identity: the same argv in two directories is two commands.
    cwd: str | None = None
    # argv positions where a command may start that the program (one the gate does not know,
    # and not one known never to run its operands) could run: literal words that could be a
    # program (``setarch x86_64 git push -f``, ``docker run img rm -rf /``). The policy checks
    # the argv from each one whose basename an ask or deny rule names (the backstop).
    nested: tuple[int, ...] = field(default=(), compare=False)
    # the positions in ``dynamic`` that may become several words or none: an unquoted
    # expansion (``$X`` may be ``--context prod``), an unquoted glob, INPUT_WORD
    split: tuple[int, ...] = field(default=(), compare=False)
    # the positions in ``dynamic`` known to be the value of the option before them (``-m
    # "$MSG"``: not an option itself); elsewhere a run-time word may be any option
    valued: tuple[int, ...] = field(default=(), compare=False)

    @property
    def guessed(self) -> bool:
        """Reached only through :attr:`nested`: it may not run at all, so it counts only when
        an ask or deny rule matches it (never by settings.default or an allow rule)."""
        return any(v[:1] == GUESS for v in self.via)


GUESS = "?"  # first character of a via label for a command the backstop only guesses runs


class Opaque(Record):
    """Something the gate cannot see through.

    kind:
      "unparseable"  - always needs settings.unparseable (variable command names, pipes into
                       interpreters, bounds exceeded, syntax errors, a here-document that is
                       not literal fed to a shell, sed's e command, git hooks, ...)
      "code"         - an interpreter code string (python -c, node -e, perl -e, ruby -e, awk
                       programs, a literal here-document fed to python/node/perl, gdb -ex,
                       ...): needs settings.unparseable only when ``text`` names a program that
                       a policy rule names; the caller decides.
    """

    kind: str
    reason: str
    text: str = ""
    via: tuple[str, ...] = ()
    cwd: str | None = None  # the directory it runs in, as SimpleCommand.cwd
    # "code" in a command language (make recipes, editor, debugger and PowerShell commands):
    # a guarded program's name anywhere in it counts, also inside a string; in an
    # interpreter's code, a name only inside a plain string literal is data
    commands: bool = False


class Redirect(Record):
    """A file a redirection opens (``> out``, ``2>> log``, ``< in``; ``op`` as written), or,
    for ``op`` ``<<``, ``<<-`` and ``<<<``, the text of a here-document or here-string: what a
    command reads or writes beside its argv. ``dynamic``: it holds run-time values."""

    op: str
    target: str
    cwd: str | None = None
    dynamic: bool = False


class Analysis(Record):
    """Every simple command found, every construct the gate cannot see through, every
    redirection, and where the analysis started: ``cwd`` and ``home`` as given (``home`` None
    when the input may change ``$HOME``, so that ``~`` is not known)."""

    commands: tuple[SimpleCommand, ...]
    opaque: tuple[Opaque, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    cwd: str | None = None
    home: str | None = None


_BAD_NAME = lazy_regex("[\x00-\x1f\x7f\ud800-\udfff]")  # 0.3 ms to compile


class _Reading:
    """The tree, the parser and word expansion, loaded the first time there is shell text to
    read: an argv run directly (``agentgate run -- CMD``) needs none of them."""

    def __init__(self) -> None:
        from . import expand, parser, syntax

        self.Parser = parser.Parser
        self.ParseError = parser.ParseError
        self.fields = expand.fields
        self.brace_expand = expand.brace_expand
        self.assign_value = expand.assign_value
        self.script_vars = expand.script_vars
        self.sets_vars = expand.sets_vars
        self.Simple = syntax.Simple
        # how the analyzer walks each kind of node of the tree
        self.walkers: dict[type, Callable[..., None]] = {
            syntax.Simple: Analyzer.simple, syntax.AndOr: Analyzer.and_or, syntax.Pipe: Analyzer.pipe,
            syntax.Compound: Analyzer.compound, syntax.Func: Analyzer.function}


_reading = functools.cache(_Reading)


def _sets_allexport(args: list[Word]) -> bool:
    """Do ``set`` ARGS turn on allexport (``set -a``, ``set -o allexport``)?"""
    return any(w.lit == "allexport" or (
        w.lit is not None and w.lit[:1] == "-" and w.lit[:2] != "--" and "a" in w.lit) for w in args)


def _environment(cx: Cx) -> tuple[str, ...]:
    """The assignments that reach a command's environment: the script's exported variables,
    then what wrappers and prefixes pass down."""
    v = cx.vars
    if v is not None and (v.exported or v.allexport):
        shell_env = v.env_words()
        if shell_env:
            return merge_env(shell_env, cx.env) if cx.env else shell_env
    return cx.env


def clip(text: str, limit: int = 500) -> str:
    """``text``, cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- the directory

UNKNOWN_PLACE: Place = (None, ())
MAX_PLACES = 8  # directories followed at once; beyond, the oldest give way to "unknown"
_DIR_BUILTINS = frozenset(("cd", "pushd", "popd"))
_CD_OPTIONS = frozenset("LPe@")
_RUNTIME = EXP | GLOB | PROC


def _union(*groups: tuple[Place, ...]) -> tuple[Place, ...]:
    """The places of all ``groups``, each once, at most MAX_PLACES (then "unknown" is one)."""
    out: list[Place] = []
    for g in groups:
        for p in g:
            if p not in out:
                out.append(p)
    if len(out) > MAX_PLACES:
        known = [p for p in out if p != UNKNOWN_PLACE]
        out = [UNKNOWN_PLACE, *known[len(known) - MAX_PLACES + 1:]]
    return tuple(out)


def absolute(base: str | None, path: str) -> str | None:
    """``path`` (literal) made absolute from the directory ``base`` and normalized as the shell's
    logical ``cd`` does (``a/../b`` is ``b``; ``//x`` is ``/x``); None when ``base`` is unknown."""
    if path.startswith("/"):
        full = path
    elif base is None:
        return None
    else:
        full = base + "/" + path
    return "/" + posixpath.normpath(full).lstrip("/")


def _dir_operand(low: str, words: list[Field]) -> tuple[bool, Field | None]:
    """The operand of ``cd``/``pushd``/``popd`` past its options: (understood, operand or None
    when there is none). ``pushd +2``, ``popd -n``, several operands: not understood."""
    rest = words[1:]
    while rest:
        t = rest[0].text
        if rest[0].flags & _RUNTIME or t[:1] not in ("-", "+") or t == "-":
            break
        if t == "--":
            rest = rest[1:]
            break
        if low == "cd" and t[0] == "-" and set(t[1:]) <= _CD_OPTIONS:
            rest = rest[1:]
            continue
        return False, None
    if len(rest) > 1 or (rest and low == "popd"):
        return False, None
    return True, (rest[0] if rest else None)


def _uses_cdpath(target: str) -> bool:
    """Would ``cd TARGET`` search ``$CDPATH``? (Not for /x, ., .., ./x, ../x.)"""
    return not (target.startswith(("/", "./", "../")) or target in (".", ".."))


class Analyzer:
    """One analysis: the commands and opaque parts found so far, the budget left, and the
    directories the shell may be in at the point reached (``where``).

    ``cwd``: the absolute directory the input starts in; ``home``: the home directory (``~``,
    ``$HOME``); ``cdpath``: ``$CDPATH`` is set, so ``cd NAME`` may go elsewhere (unknown)."""

    def __init__(self, cwd: str | None = None, home: str | None = None,
                 cdpath: bool = False) -> None:
        self.commands: list[SimpleCommand] = []
        self.opaque: list[Opaque] = []
        self.redirects: list[Redirect] = []
        self._seen: dict[tuple[tuple[str, ...], tuple[str, ...], str | None], int] = {}  # -> index
        self._oseen: set[Opaque] = set()
        self._rseen: set[Redirect] = set()
        self.budget = Budget()
        self.aliases: dict[str, str] = {}  # alias definitions seen so far in this input
        # files this input writes before it may run them (path -> text, None: not known), and
        # copies or links of programs it makes (path or bare name -> the program)
        self.written: dict[str, str | None] = {}
        self.links: dict[str, str] = {}
        self.git_aliases: dict[str, str] = {}  # saved by ``git config alias.x ...`` earlier
        self._expanding: set[str] = set()
        self.start = absolute(None, cwd) if cwd else None
        self.home = absolute(None, home) if home else None
        self.home_changed = False  # the input assigns HOME: ``~`` is no longer known
        self.cdpath = cdpath
        self.where: tuple[Place, ...] = ((self.start, ()),)
        self._moved: tuple[Place, ...] | None = None  # where the last cd went, when it succeeded
        self._moves = 0  # directory changes met so far
        self._movers: set[str] = set()  # functions whose body changes directory

    def cwds(self) -> tuple[str | None, ...]:
        """The directories the shell may be in now, each once."""
        w = self.where
        if len(w) == 1:
            return (w[0][0],)
        out: list[str | None] = []
        for cwd, _stack in w:
            if cwd not in out:
                out.append(cwd)
        return tuple(out)

    def add_opaque(self, kind: str, reason: str, text: str, via: tuple[str, ...],
                   commands: bool = False) -> None:
        """Report a part the gate cannot see through (once per directory it may run in; code in
        full, other text clipped)."""
        body = text if kind == "code" else clip(text)
        for cwd in self.cwds():
            op = Opaque(kind, reason, body, via, cwd, commands)
            if op not in self._oseen:
                self._oseen.add(op)
                self.opaque.append(op)

    def emit(self, argv: tuple[str, ...], via: tuple[str, ...], dyn: tuple[int, ...],
             env: tuple[str, ...] = (), nested: tuple[int, ...] = (), *,
             split: tuple[int, ...] = (), valued: tuple[int, ...] = ()) -> None:
        """Report a simple command, once for each directory it may run in; met again (same
        argv, via and directory), it gains the new env only."""
        if env and not self.home_changed and any(e.startswith("HOME=") for e in env):
            self.home_changed = True
        for cwd in self.cwds():
            key = (argv, via, cwd)
            k = self._seen.get(key)
            if k is not None:  # seen before: its env may now hold more
                old = self.commands[k]
                if env and env != old.env:
                    have = set(old.env)
                    more = [e for e in env if e not in have]
                    if more:
                        self.commands[k] = SimpleCommand(argv, via, old.dynamic, (*old.env, *more),
                                                         cwd, old.nested, split=old.split,
                                                         valued=old.valued)
                continue
            if len(self.commands) >= MAX_COMMANDS:
                raise Bound(f"more than {MAX_COMMANDS} commands")
            self._seen[key] = len(self.commands)
            self.commands.append(SimpleCommand(argv, via, dyn, env, cwd, nested, split=split, valued=valued))

    def redirect(self, op: str, target: str, dynamic: bool) -> None:
        """Report a redirection (or a here-document's text), once per directory."""
        for cwd in self.cwds():
            r = Redirect(op, target, cwd, dynamic)
            if r not in self._rseen:
                self._rseen.add(r)
                self.redirects.append(r)

    def result(self) -> Analysis:
        home = None if self.home_changed else self.home
        return Analysis(tuple(self.commands), tuple(self.opaque), tuple(self.redirects),
                        self.start, home)

    # -- the working directory

    def change_dir(self, low: str, words: list[Field], cx: Cx) -> None:
        """``cd``/``pushd``/``popd``: the directories later commands may run in. Each may fail,
        leaving the directory as it was: both stay possible (and_or narrows it after ``&&``)."""
        ok, operand = _dir_operand(low, words)
        before = self.where
        if ok:
            moved = _union(tuple(self._after(low, operand, p, cx) for p in before))
        else:
            moved = (UNKNOWN_PLACE,)
        self._moves += 1
        self._moved = moved
        self.where = _union(before, moved)

    def _after(self, low: str, operand: Field | None, place: Place, cx: Cx) -> Place:
        cwd, stack = place
        if low == "popd":  # an empty stack: popd fails, nothing moves
            return (stack[0], stack[1:]) if stack else place
        if low == "pushd" and operand is None:  # swap the top two
            return (stack[0], (cwd, *stack[1:])) if stack else place
        new = self._target(operand, cwd, cx)
        return (new, (cwd, *stack)) if low == "pushd" else (new, stack)

    def _home(self, cx: Cx) -> str | None:
        """The home directory ``~`` and ``$HOME`` mean here: None once the input may have
        changed HOME (an assignment met so far, or one passed down to this command)."""
        if self.home is None or self.home_changed or cx.vars is None or "HOME" in cx.vars.env:
            return None
        if cx.env and any(e.startswith("HOME=") for e in cx.env):
            return None
        return self.home

    def _target(self, operand: Field | None, cwd: str | None, cx: Cx) -> str | None:
        """The directory ``cd OPERAND`` goes to from ``cwd``; None when it is not known."""
        if operand is None:
            return self._home(cx)
        text = operand.text
        if operand.flags & _RUNTIME:
            for var in ("$HOME", "${HOME}"):
                rest = text[len(var):]
                if text.startswith(var) and rest[:1] in ("", "/") and not (
                        "$" in rest or "`" in rest or operand.flags & (GLOB | PROC)):
                    home = self._home(cx)
                    return absolute(home, rest.lstrip("/")) if home else None
            return None
        if text == "-" or (text.startswith("~") and not (text == "~" or text.startswith("~/"))):
            return None  # OLDPWD, ~user, ~+, ~-
        if text.startswith("~"):
            home = self._home(cx)
            return absolute(home, text[2:]) if home else None
        if cwd is not None and _uses_cdpath(text) and self._cdpath(cx):
            return None
        return absolute(cwd, text)

    def _cdpath(self, cx: Cx) -> bool:
        """May ``$CDPATH`` be set for this command (given, assigned, or passed down)?"""
        return self.cdpath or cx.vars is None or "CDPATH" in cx.vars.env or any(
            e.startswith("CDPATH=") for e in cx.env)

    def and_or(self, nd: AndOr, cx: Cx) -> None:
        """``a && b || c``: each part is reached through its operator, in the directories the
        parts before leave it in: after ``cd x &&`` only x, after ``cd x ||`` only where it was."""
        simple = _reading().Simple
        ok: tuple[Place, ...] = self.where
        failed: tuple[Place, ...] = ()
        for op, sub in zip(nd.ops, nd.cmds, strict=True):
            entry = ok if op != "||" else failed
            if not entry:
                entry = self.where
            self.where = entry
            self._moved = None
            self.walk(sub, cx.child(op) if op else cx)
            after = self.where
            if self._moved is not None and isinstance(sub, simple) and sub.words and \
                    sub.words[0].lit in _DIR_BUILTINS:
                s, f = self._moved, entry  # a cd that worked, or one that failed
            else:
                s = f = after
            if op == "&&":
                ok, failed = s, _union(failed, f)
            elif op == "||":
                ok, failed = _union(ok, s), f
            else:
                ok, failed = s, f
        self.where = _union(ok, failed)

    # -- shell text

    def script(self, text: str, cx: Cx) -> None:
        """Shell text: parsed, then walked with its own variables (a parse error is opaque, and
        what parsed before it is still reported)."""
        reading = _reading()
        features.script(self, text, cx)
        parser = reading.Parser(text, self.budget, cx.depth)
        try:
            nodes = parser.parse()
        except reading.ParseError as exc:
            self.add_opaque("unparseable", f"cannot parse shell syntax: {exc}", text, cx.via)
            self._partial(parser.done, cx)
            return
        except Bound:
            self._partial(parser.done, cx)
            raise
        # each script has its own variables; what the one around it assigned may be in the env
        outer = cx.vars
        words = outer.env_words() if outer is not None else ()
        env = merge_env(words, cx.env) if words else cx.env
        sv = reading.script_vars(text, nodes, parser.done, parser.bg) if "=" in text else Vars()
        pos = cx.pos
        if pos and "BASH_ARGV0" in text:  # an assignment to it sets $0
            pos = (Field("$0", EXP | SPLIT), *pos[1:])
        self.walk_list(nodes, Cx(cx.via, cx.depth, cx.stdin, cx.tail, pos, cx.pos_open, env,
                                  sv, cx.feed))

    def _partial(self, done: list[Simple], cx: Cx) -> None:
        """Report what parsed before an error, so a deny rule still sees it."""
        part = Cx((*cx.via, "partial parse"), cx.depth, cx.stdin, env=cx.env)
        try:
            for nd in done:
                self.simple(nd, part)
        except Bound:
            pass

    def walk_list(self, nodes: list[Node], cx: Cx) -> None:
        for nd in nodes:
            self.walk(nd, cx)

    def walk(self, nd: Node, cx: Cx) -> None:
        """One node of the tree, by its kind (simple, and-or, pipe, compound, function)."""
        _reading().walkers[type(nd)](self, nd, cx)

    def pipe(self, nd: Pipe, cx: Cx) -> None:
        """Every command after the first reads the one before on its stdin (and knows what
        each item read starts with when that one is a ``find`` that prints paths)."""
        for k, sub in enumerate(nd.cmds):
            inner = cx
            if k:
                inner = cx.child("|", stdin=True)
                inner.items = _items(nd.cmds[k - 1])
            self.walk(sub, inner)

    def compound(self, nd: Compound, cx: Cx) -> None:
        """A subshell, group, loop, if/case, [[ ]] or (( )): its words and the commands inside."""
        stdin, feed = self.stdin_of(nd.redirs, cx) if nd.redirs else (cx.stdin, cx.feed)
        inner = cx.child(nd.label, stdin) if (nd.label or stdin != cx.stdin) else cx
        if feed is not inner.feed:
            inner = inner.with_env(inner.env, stdin, feed)
        if nd.var == "IFS" and cx.pos is not None:
            self.add_opaque("unparseable", "changes IFS, so word splitting is unknown", "IFS", cx.via)
        for w in nd.words:
            self.expand(w, inner)
        self.redirs(nd.redirs, inner)
        before, moves = self.where, self._moves
        self.walk_list(nd.body, inner)
        if nd.label == "( )":  # a subshell: its cd stays inside
            self.where = before
        elif self._moves != moves and UNKNOWN_PLACE not in before:
            # a loop runs its body again from where the last round left it, any number of
            # times: walked once more from "unknown" as well
            self.where = _union(before, self.where, (UNKNOWN_PLACE,))
            self.walk_list(nd.body, inner)

    def function(self, nd: Func, cx: Cx) -> None:
        """The body runs when called, when variables may hold anything and the directory is
        unknown: walked without them. A call of a function that changes directory leaves the
        directory unknown."""
        before, moves = self.where, self._moves
        self.where = (UNKNOWN_PLACE,)
        try:
            self.walk(nd.body, Cx((*cx.via, f"function {nd.name}"), cx.depth, cx.stdin, env=cx.env))
        finally:
            self.where = before
        if self._moves != moves:
            self._movers.add(nd.name)

    def redirs(self, redirs: list[Redir], cx: Cx) -> None:
        """The substitutions in redirection targets and here-documents run; the files and
        texts are reported (not ``2>&1``)."""
        for r in redirs:
            hd = r.heredoc
            if hd is None:
                fields = self.expand(r.target, cx)
                if r.op in ("<&", ">&") and all(f.text.isdigit() or f.text == "-" for f in fields):
                    continue
                for f in fields:
                    self.redirect(r.op, f.text, bool(f.flags & _RUNTIME))
            else:
                if hd.word is not None:
                    self.expand(hd.word, cx)
                self.redirect(r.op, hd.body, hd.word is not None and hd.word.lit is None)

    def simple(self, nd: Simple, cx: Cx) -> None:
        """A simple command: its assignments, redirections and words, then the command."""
        if nd.assigns:
            self.assignment_words(nd.assigns, cx)
        stdin, feed = cx.stdin, cx.feed
        if nd.redirs:
            self.redirs(nd.redirs, cx)
            stdin, feed = self.stdin_of(nd.redirs, cx)
            if stdin and not cx.stdin and len(nd.words) == 1 and nd.words[0].lit == "exec":
                self.add_opaque("unparseable", "exec points the shell's own stdin at data, which a "
                                "later shell or interpreter may run as code", "exec", cx.via)
        v = cx.vars
        if not nd.words:  # assignments to shell variables, in order
            for a in nd.assigns:
                self.assigned(a, cx, v is not None and id(nd) in v.top)
            return
        lead = tuple(self.assigned(a, cx, None) for a in nd.assigns)
        expanded = self.expand_words(nd.words, cx)
        if not expanded:
            return
        sub = cx if stdin == cx.stdin and feed is cx.feed else cx.with_env(cx.env, stdin, feed)
        w0 = nd.words[0].lit if not nd.words[0].brace else None
        self.command(expanded, sub, lead, direct=w0 is not None)
        if nd.redirs or program_name(expanded[0].text) in _WRITERS:
            self.note_writes(expanded, nd.redirs, sub)
        if w0 is None:
            return
        prog = program_name(w0)
        if prog in _DECLARE:
            self.declared(nd, prog, v, cx)
        elif prog == "set" and v is not None and _sets_allexport(nd.words[1:]):
            v.export_all()

    # -- files written, copied or linked in this input, then run (sh f, ./f, ./g after ln -s)

    def note_writes(self, words: list[Field], redirs: list[Redir], cx: Cx) -> None:
        """What ``words`` (a command with ``redirs``) writes to files, copies or links."""
        from .programs import writes

        for r in redirs:
            if (r.heredoc is None and r.op in (">", ">>", ">|", "&>", "&>>") and r.fd in ("", "1")
                    and r.target.lit is not None):
                self._wrote(r.target.lit, writes.output_text(words, cx.feed, cx.stdin), r.op.endswith(">>"))
        prog = program_name(words[0].text)
        if prog == "tee":
            feed = cx.feed
            text = feed.text if cx.stdin and feed is not None and not feed.flags & EXP else None
            for f in writes.tee_files(words):
                if not f.flags & _RUNTIME:
                    self._wrote(f.text, text, "-a" in (w.text for w in words))
        for out in writes.named_outputs(words):  # dd of=F, curl -o F: stdin's text or unknown
            self._wrote(out, writes.stdin_text(words, cx.feed, cx.stdin), False)
        for dest, source in writes.copies(words):
            found, text = self.written_file(source)
            if writes.kernel_file(source):  # cp /dev/stdin x <<< '...': what stdin holds, if known
                self._wrote(dest.text, writes.stdin_text(words, cx.feed, cx.stdin, source), False)
            elif found:
                self._wrote(dest.text, text, False)
            else:
                target = next((self.links[k] for k in self._file_keys(source) if k in self.links),
                              program_name(source))
                for key in (*self._file_keys(dest.text), program_name(dest.text)):
                    self.links[key] = target

    def _file_keys(self, path: str) -> list[str]:
        keys = [posixpath.normpath(path)]
        for cwd in self.cwds():
            full = absolute(cwd, path)
            if full is not None and full not in keys:
                keys.append(full)
        return keys

    def _wrote(self, path: str, text: str | None, append: bool) -> None:
        for key in self._file_keys(path):
            old = self.written.get(key, "")
            self.written[key] = (None if old is None or text is None else old + text) if append else text
            self.links.pop(key, None)

    def written_file(self, path: str) -> tuple[bool, str | None]:
        """Was ``path`` written earlier in this input, and with what text (None: not known)?"""
        if self.written:
            for key in self._file_keys(path):
                if key in self.written:
                    return True, self.written[key]
        return False, None

    def run_written(self, word: Field, text: str | None, cx: Cx) -> None:
        """``./f`` runs a file this input wrote: read as the script it is (a ``#!`` line naming
        something other than a shell makes it code)."""
        if text is None:
            self.add_opaque("unparseable", f"runs {word.text}, written earlier in this command line "
                            "with text the gate cannot read", word.text, cx.via)
            return
        first = text.split("\n", 1)[0]
        if first.startswith("#!"):
            parts = first[2:].split()
            interp = program_name(parts[0]) if parts else "sh"
            if interp == "env" and len(parts) > 1:
                interp = program_name(parts[1])
            if unversioned(interp) not in RUNS_TEXT or unversioned(interp) in _CODE_INTERPRETERS:
                self.add_opaque("code", f"{word.text}, written earlier in this command line, runs as "
                                f"{interp} code", text, cx.via)
                return
        self.script(text, cx.wrap(f"{word.text} (written here)"))

    def reads_written(self, low: str, words: list[Field], env: tuple[str, ...], cx: Cx) -> None:
        """A program that reads its commands from a file of its own (make's Makefile or -f FILE,
        npm's package.json, git's .git/config) that this input wrote: what it runs is in that
        text, which is not shell, so it is code a human must read."""
        from .programs import writes

        for path in writes.command_files(unversioned(low), words, self.home, env):
            found, text = self.written_file(path)
            if found:
                what = f"{low} reads {path}, written earlier in this command line, and runs what it says"
                if text is None:
                    self.add_opaque("unparseable", what + " (text the gate cannot read)", path, cx.via)
                else:
                    self.add_opaque("code", what, text, cx.via, commands=True)
                return
        exts = writes.LANGUAGE_FILES.get(unversioned(low))
        hooks = unversioned(low) == "git"
        if exts or hooks:
            for path, text in list(self.written.items()):
                if (exts and path.endswith(exts)) or (hooks and "/.git/hooks/" in "/" + path):
                    what = f"{low} may load or run {path}, written earlier in this command line"
                    if text is None:
                        self.add_opaque("unparseable", what + " with text the gate cannot read", path, cx.via)
                    else:
                        self.add_opaque("code", what, text, cx.via, commands=hooks)

    def assignment_words(self, assigns: list[Word], cx: Cx) -> None:
        """The substitutions inside ``NAME=value`` words run; IFS changes are noted."""
        for a in assigns:
            if a.assign == "IFS" and cx.pos is not None:
                self.add_opaque("unparseable", "changes IFS, so word splitting is unknown", a.source(), cx.via)
            if a.lit is None or a.arr:
                self.expand(a, cx)

    def expand_words(self, words: list[Word], cx: Cx) -> list[Field]:
        """The fields of a command's words."""
        expanded: list[Field] = []
        for w in words:
            if w.lit is not None and not w.brace:
                expanded.append(Field(w.lit, w.flags))
            else:
                expanded.extend(self.expand(w, cx))
                if len(expanded) > MAX_WORDS:
                    raise Bound(f"more than {MAX_WORDS} words in one command")
        return expanded

    def declared(self, nd: Simple, prog: str, v: Vars | None, cx: Cx) -> None:
        """``export``/``declare``/``local``/... NAME[=value]: assignments, and what is exported."""
        in_order = v is not None and id(nd) in v.top and not nd.assigns
        exports = prog == "export" or any(
            w.lit is not None and w.lit[:1] == "-" and "x" in w.lit for w in nd.words[1:])
        for w in nd.words[1:]:
            if w.assign is not None or (w.lit is not None and assigned_name(w.lit)):
                name = self.assigned(w, cx, in_order).split("=", 1)[0].rstrip("+")
            elif w.lit is not None and NAME().fullmatch(w.lit):
                name = w.lit
            else:
                continue
            if exports and v is not None:
                v.export(name)

    def assigned(self, w: Word, cx: Cx, in_order: bool | None) -> str:
        """Note an assignment word: the variable's value (``in_order``: an assignment the script
        runs in order; None: a prefix of a command, not a shell variable), the program it may
        start (GIT_SSH_COMMAND=...). Returns its NAME=value text."""
        value = _reading().assign_value(w, cx)
        key = w.parts[0].text.split("=", 1)[0] if w.lit is None else w.lit.split("=", 1)[0]
        name = key.rstrip("+")
        text = f"{name}={value}" if value is not None else w.source()
        if name in COMMAND_VARS:
            if value is not None:
                self.cmd_var(name, value, 0, cx)
            else:
                self.cmd_var(name, w.source().split("=", 1)[-1], EXP, cx)
        if in_order is not None and cx.vars is not None:
            cx.vars.assign(name, value, text, in_order)
        if name == "HOME":
            self.home_changed = True
        if name in features.NAMES or name.startswith("BASH_FUNC_"):
            features.assignment(self, name, value, w.source(), cx)
        return text

    def cmd_var(self, name: str, value: str, flag: int, cx: Cx) -> None:
        """An environment variable naming a program that tools start (GIT_SSH_COMMAND, PAGER)."""
        kind = COMMAND_VARS.get(name)
        if kind is None:
            return
        label = f"{name}="
        try:
            if kind == "opaque":
                raise Unclear(f"{name} sets git configuration from the environment")
            if kind == "lessopen":
                value = value.lstrip("|-")
            parts = value.split(":") if kind == "browser" and ":" in value else [value]
            for part in parts:
                self.shell_text(part, flag, label, cx)
        except Unclear as exc:
            self.add_opaque("unparseable", str(exc), f"{name}={value}", cx.via)

    def stdin_of(self, redirs: list[Redir], cx: Cx) -> tuple[bool, Field | None]:
        """Whether stdin carries data after these redirections, and the text when it is a
        here-document or here-string."""
        stdin, feed = cx.stdin, cx.feed
        for r in redirs:
            if r.fd in ("", "0") and r.op == "<&" and r.target.lit != "-":
                stdin, feed = True, None  # stdin is another descriptor: whatever it holds
                continue
            if r.fd not in ("", "0") or r.op not in ("<", "<<", "<<-", "<<<", "<>"):
                stdin = stdin or r.feeds
                continue
            if r.op == "<<<":
                w = r.target
                stdin = True
                feed = Field(w.lit + "\n") if w.lit is not None and not w.brace else Field(w.source(), EXP)
            elif r.heredoc is not None:
                hd = r.heredoc
                stdin = True
                if hd.word is None:
                    feed = Field(hd.body)
                else:
                    feed = Field(hd.word.lit) if hd.word.lit is not None else Field(hd.body, EXP)
            else:
                stdin = stdin or r.feeds
                feed = None
                if r.op == "<" and r.target.lit is not None and self.written:
                    found, text = self.written_file(r.target.lit)
                    if found:  # a file this input wrote: stdin holds its text (None: unknown)
                        stdin, feed = True, None if text is None else Field(text)
        return stdin, feed

    def expand(self, w: Word, cx: Cx) -> list[Field]:
        if w.lit is not None and not w.brace and not w.arr:
            return [Field(w.lit, w.flags)]
        for p in w.parts:
            for body in p.subs:
                self.walk_list(body.nodes, cx.child(body.label, cx.stdin or body.label == ">()"))
        if w.arr:
            for x in w.arr:
                self.expand(x, cx)
            return [Field(w.parts[0].text)]
        if w.brace:
            out: list[Field] = []
            for alt in _reading().brace_expand(w.parts, self.budget):
                out.extend(_reading().fields(alt, cx, self.budget))
            return out
        return _reading().fields(w.parts, cx, self.budget)

    # -- one simple command

    def command(self, words: list[Field], cx: Cx, lead: tuple[str, ...] = (),
                direct: bool = False) -> None:
        """One simple command (its words expanded); ``lead``: NAME=value prefixes written before
        it; ``direct``: the shell runs it as written in the script (not through a wrapper)."""
        self.budget.tick()
        if words[0].text.startswith("BASH_FUNC_"):  # env 'BASH_FUNC_ls%%=() { ..; }' CMD
            words = features.exported_functions(self, words, cx)
            if not words:
                return
        k = self.prefix_assignments(words, cx) if "=" in words[0].text else 0
        if k:
            lead = (*lead, *(w.text for w in words[:k]))
        if k == len(words):
            return
        if k:
            words = words[k:]
        name = self.program(words[0], cx)
        if name is None:
            return
        argv = (name, *[w.text for w in words[1:]])
        dyn = tuple(j for j, w in enumerate(words) if w.flags & (EXP | GLOB))
        split = tuple(j for j in dyn if words[j].flags & (SPLIT | GLOB))
        if cx.tail:  # xargs/parallel append words read at run time
            items = cx.items  # each one a path that starts like this (find . -print0 |)
            argv = (*argv, items + INPUT_WORD if items else INPUT_WORD)
            dyn = (*dyn, len(argv) - 1)
            if not items:
                split = (*split, len(argv) - 1)
        valued = option_values(name, words, dyn) if dyn else ()
        v = cx.vars
        if lead:
            cx = cx.with_env(merge_env(cx.env, lead), cx.stdin, cx.feed)
        env = _environment(cx) if v is not None and (v.exported or v.allexport) else cx.env
        low = name.lower()
        nested = _nested(words) if lookup(low) is None and unversioned(low) not in NO_EXEC else ()
        self.emit(argv, cx.via, dyn, env, nested, split=split, valued=valued)
        if low != name:
            self.emit((low, *argv[1:]), cx.via, dyn, env, nested, split=split, valued=valued)
        if v is not None and not direct and not v.off and (
                low in ("export", "readonly") or _reading().sets_vars(low, argv[1:])):
            v.off = True  # assigns variables where script_vars could not see it
        if words[0].text in self.aliases:
            self.alias_use(words, cx)
        if self.written and "/" in words[0].text:
            found, text = self.written_file(words[0].text)
            if found:
                self.run_written(words[0], text, cx)
        if self.written:
            self.reads_written(low, words, env, cx)
        try:
            features.command(self, low, words, env, cx)
        except Unclear as exc:
            self.add_opaque("unparseable", str(exc), " ".join(argv), cx.via)
        self.dispatch(low, argv, words, cx)
        if low in _DIR_BUILTINS:
            self.change_dir(low, words, cx)
        elif low in _MOVES_UNSEEN or argv[0] in self._movers:
            self.where = _union(self.where, (UNKNOWN_PLACE,))

    def prefix_assignments(self, words: list[Field], cx: Cx) -> int:
        """How many ``NAME=value`` words lead the command (the ones naming a program that tools
        start, GIT_SSH_COMMAND=..., are analysed)."""
        k = 0
        while k < len(words):
            var = assigned_name(words[k].text)
            if var is None:
                break
            if var == "IFS" and cx.pos is not None:
                self.add_opaque("unparseable", "changes IFS, so word splitting is unknown", words[k].text, cx.via)
            if var in COMMAND_VARS:
                self.cmd_var(var, words[k].text.partition("=")[2], words[k].flags, cx)
            if var in features.NAMES:
                value = words[k].text.partition("=")[2]
                features.assignment(self, var, None if words[k].flags & EXP else value, words[k].text, cx)
            k += 1
        return k

    def program(self, word: Field, cx: Cx) -> str | None:
        """The program a command name runs; None (and an opaque part) when it is not known."""
        if word.flags & (EXP | PROC):
            self.add_opaque("unparseable", "the command name comes from a variable or substitution",
                            word.text, cx.via)
            return None
        if word.flags & GLOB:
            self.add_opaque("unparseable", "the command name is a glob pattern", word.text, cx.via)
            return None
        if "/" in word.text and self._kernel_path(word.text):
            self.add_opaque("unparseable", "the command name is a /proc or /dev path (the running "
                            "program, an open file), so what it runs is not known", word.text, cx.via)
            return None
        name = program_name(word.text)
        if self.links:
            linked = self.links.get(name) if "/" not in word.text else next(
                (self.links[k] for k in self._file_keys(word.text) if k in self.links), None)
            name = linked or name
        if name and _bad_name(name):
            self.add_opaque("unparseable", "the command name holds control characters or undecodable bytes",
                            name.encode("unicode_escape").decode("ascii"), cx.via)
            return None
        return name or None

    def _kernel_path(self, text: str) -> bool:
        """``/proc/self/exe``, ``/proc/PID/exe``, ``/dev/fd/3``, ``/dev/stdin`` (any spelling,
        relative ones from a known directory): a name the kernel resolves to the running program
        or an open file, whatever its last component says."""
        for cwd in (None, *self.cwds()) if not text.startswith("/") else (None,):
            full = text if cwd is None else absolute(cwd, text)
            if full is not None and full.startswith("/"):
                norm = "/" + posixpath.normpath(full).lstrip("/")
                if norm.startswith(("/proc/", "/dev/")):
                    return True
        return False

    def alias_use(self, words: list[Field], cx: Cx) -> None:
        """A command named like an alias defined earlier: its expansion is checked too. (bash
        expands aliases only with expand_aliases, zsh always: this only adds parts.)"""
        name0 = words[0].text
        if name0 in self._expanding:
            return
        import shlex

        args = " ".join(w.text if w.flags & EXP else shlex.quote(w.text) for w in words[1:])
        self._expanding.add(name0)
        try:
            self.script(f"{self.aliases[name0]} {args}", cx.wrap(f"alias {name0}"))
        finally:
            self._expanding.discard(name0)

    def dispatch(self, low: str, argv: tuple[str, ...], words: list[Field], cx: Cx) -> None:
        """What the program runs, by its handler; an unknown program given ``-- CMD ARGS`` may
        well run CMD (a wrapper not known here), so CMD is checked too (this only adds parts)."""
        handler = lookup(low)
        if handler is not None:
            try:
                handler(self, low, words, cx)
            except Unclear as exc:
                self.add_opaque("unparseable", str(exc), " ".join(argv), cx.via)
        elif unversioned(low) not in NO_EXEC:
            j = argv.index("--", 1) if "--" in argv[1:] else 0
            rest = words[j + 1 :] if j else []
            if rest and not rest[0].flags & (EXP | GLOB | PROC) and not rest[0].text.startswith("-"):
                self.command(rest, cx.wrap("-- (after)"))
            # the backstop: a word naming a program the gate knows (a shell, a wrapper, git...)
            # may be where this unknown program starts a command (setarch x86_64 bash -c ...)
            after = j + 1 if j else -1
            for k in _nested(words):
                if k != after and unversioned(program_name(words[k].text).lower()) in RUNS_TEXT:
                    self.command(words[k:], cx.wrap(f"{GUESS}{low} may run it"))

    def shell_text(self, text: str, flag: int, label: str, cx: Cx,
                   pos: tuple[Field, ...] | None = None, pos_open: bool = False) -> None:
        if flag & EXP:
            raise Unclear(f"{label}: the shell code is not literal")
        self.script(text, cx.wrap(label, tail=False, pos=pos, pos_open=pos_open))


def _nested(words: list[Field]) -> tuple[int, ...]:
    """The positions of ``words`` (past the program) that could name a program: literal, not
    an option, an assignment or text with spaces."""
    return tuple(k for k in range(1, len(words)) if not words[k].flags & _RUNTIME and _could_run(words[k].text))


def _could_run(t: str) -> bool:
    return bool(t) and t[0] not in "-+" and "=" not in t and not any(c.isspace() for c in t) \
        and not t.endswith("/")


def _items(nd: Node) -> str | None:
    """What each item a pipeline's command prints starts with, when known (``find .``)."""
    simple = _reading().Simple
    if not isinstance(nd, simple) or not nd.words or any(w.lit is None or w.brace for w in nd.words):
        return None
    words = [w.lit for w in nd.words if w.lit is not None]
    if program_name(words[0]) != "find":
        return None
    from .programs.fanout import find_items

    return find_items(words)


def _bad_name(name: str) -> bool:
    """Control characters or undecodable bytes (surrogates) in a command name. In ASCII these
    are exactly the characters isprintable() rejects, which spares compiling the regex."""
    if name.isascii():
        return not name.isprintable()
    return _BAD_NAME().search(name) is not None


_DECLARE = wordset("export readonly declare typeset local")
_WRITERS = wordset("tee cp ln install mv dd curl wget sort")
_CODE_INTERPRETERS = wordset("python node nodejs perl ruby php lua luajit rscript julia osascript "
                             "tclsh pwsh powershell deno")
_MOVES_UNSEEN = wordset("source .")  # a script not read here may change directory
