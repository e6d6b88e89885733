"""The analyzer: walks the parsed tree and reports every simple command that would run.

It follows the shell around each command (``sh -c`` arguments, variables with a literal value,
exported assignments, stdin fed by pipes and here-documents), expands words (:mod:`.expand`),
and hands each command to the handler of its program (:mod:`.programs`), which reports what
that program runs in turn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..lean import Record, field, lazy_regex
from .budget import MAX_COMMANDS, MAX_WORDS, Bound, Budget
from .context import (
    EXP,
    GLOB,
    INPUT_WORD,
    NAME,
    PROC,
    Cx,
    Field,
    Unclear,
    Vars,
    assigned_name,
    merge_env,
    program_name,
    wordset,
)
from .programs import COMMAND_VARS, NO_EXEC, lookup

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from .syntax import AndOr, Compound, Func, Node, Pipe, Redir, Simple, Word


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
    # with another env is reported once with both). A value that is not literal appears as
    # its source text (``X=$(date)``). Policy matches rules against ``argv + env``.
    env: tuple[str, ...] = field(default=(), compare=False)


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


class Analysis(Record):
    """Every simple command found, and every construct the gate cannot see through."""

    commands: tuple[SimpleCommand, ...]
    opaque: tuple[Opaque, ...] = ()


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


class Analyzer:
    """One analysis: the commands and opaque parts found so far, and the budget left."""

    def __init__(self) -> None:
        self.commands: list[SimpleCommand] = []
        self.opaque: list[Opaque] = []
        self._seen: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}  # -> index
        self._oseen: set[Opaque] = set()
        self.budget = Budget()
        self.aliases: dict[str, str] = {}  # alias definitions seen so far in this input
        self._expanding: set[str] = set()

    def add_opaque(self, kind: str, reason: str, text: str, via: tuple[str, ...]) -> None:
        """Report a part the gate cannot see through (once; code in full, other text clipped)."""
        op = Opaque(kind, reason, text if kind == "code" else clip(text), via)
        if op not in self._oseen:
            self._oseen.add(op)
            self.opaque.append(op)

    def emit(self, argv: tuple[str, ...], via: tuple[str, ...], dyn: tuple[int, ...],
             env: tuple[str, ...] = ()) -> None:
        """Report a simple command; met again (same argv and via), it gains the new env only."""
        key = (argv, via)
        k = self._seen.get(key)
        if k is not None:  # seen before: its env may now hold more
            old = self.commands[k]
            if env and env != old.env:
                have = set(old.env)
                more = [e for e in env if e not in have]
                if more:
                    self.commands[k] = SimpleCommand(argv, via, old.dynamic, (*old.env, *more))
            return
        if len(self.commands) >= MAX_COMMANDS:
            raise Bound(f"more than {MAX_COMMANDS} commands")
        self._seen[key] = len(self.commands)
        self.commands.append(SimpleCommand(argv, via, dyn, env))

    def result(self) -> Analysis:
        return Analysis(tuple(self.commands), tuple(self.opaque))

    # -- shell text

    def script(self, text: str, cx: Cx) -> None:
        """Shell text: parsed, then walked with its own variables (a parse error is opaque, and
        what parsed before it is still reported)."""
        reading = _reading()
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
        self.walk_list(nodes, Cx(cx.via, cx.depth, cx.stdin, cx.tail, cx.pos, cx.pos_open, env,
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

    def and_or(self, nd: AndOr, cx: Cx) -> None:
        """``a && b || c``: each part is reached through its operator."""
        for op, sub in zip(nd.ops, nd.cmds, strict=True):
            self.walk(sub, cx.child(op) if op else cx)

    def pipe(self, nd: Pipe, cx: Cx) -> None:
        """Every command after the first reads the one before on its stdin."""
        for k, sub in enumerate(nd.cmds):
            self.walk(sub, cx.child("|", stdin=True) if k else cx)

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
        self.walk_list(nd.body, inner)

    def function(self, nd: Func, cx: Cx) -> None:
        """The body runs when called, when variables may hold anything: walked without them."""
        self.walk(nd.body, Cx((*cx.via, f"function {nd.name}"), cx.depth, cx.stdin, env=cx.env))

    def redirs(self, redirs: list[Redir], cx: Cx) -> None:
        """The substitutions in redirection targets and here-documents run."""
        for r in redirs:
            if r.heredoc is None:
                self.expand(r.target, cx)
            elif r.heredoc.word is not None:
                self.expand(r.heredoc.word, cx)

    def simple(self, nd: Simple, cx: Cx) -> None:
        """A simple command: its assignments, redirections and words, then the command."""
        if nd.assigns:
            self.assignment_words(nd.assigns, cx)
        stdin, feed = cx.stdin, cx.feed
        if nd.redirs:
            self.redirs(nd.redirs, cx)
            stdin, feed = self.stdin_of(nd.redirs, cx)
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
        if w0 is None:
            return
        prog = program_name(w0)
        if prog in _DECLARE:
            self.declared(nd, prog, v, cx)
        elif prog == "set" and v is not None and _sets_allexport(nd.words[1:]):
            v.export_all()

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
        if cx.tail:  # xargs/parallel append words read at run time
            argv = (*argv, INPUT_WORD)
            dyn = (*dyn, len(argv) - 1)
        v = cx.vars
        if lead:
            cx = cx.with_env(merge_env(cx.env, lead), cx.stdin, cx.feed)
        env = _environment(cx) if v is not None and (v.exported or v.allexport) else cx.env
        self.emit(argv, cx.via, dyn, env)
        low = name.lower()
        if low != name:
            self.emit((low, *argv[1:]), cx.via, dyn, env)
        if v is not None and not direct and not v.off and (
                low in ("export", "readonly") or _reading().sets_vars(low, argv[1:])):
            v.off = True  # assigns variables where script_vars could not see it
        if words[0].text in self.aliases:
            self.alias_use(words, cx)
        self.dispatch(low, argv, words, cx)

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
        name = program_name(word.text)
        if name and _bad_name(name):
            self.add_opaque("unparseable", "the command name holds control characters or undecodable bytes",
                            name.encode("unicode_escape").decode("ascii"), cx.via)
            return None
        return name or None

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
        elif "--" in argv and low not in NO_EXEC:
            j = argv.index("--", 1) if "--" in argv[1:] else 0
            rest = words[j + 1 :] if j else []
            if rest and not rest[0].flags & (EXP | GLOB | PROC) and not rest[0].text.startswith("-"):
                self.command(rest, cx.wrap("-- (after)"))

    def shell_text(self, text: str, flag: int, label: str, cx: Cx,
                   pos: tuple[Field, ...] | None = None, pos_open: bool = False) -> None:
        if flag & EXP:
            raise Unclear(f"{label}: the shell code is not literal")
        self.script(text, cx.wrap(label, tail=False, pos=pos, pos_open=pos_open))


def _bad_name(name: str) -> bool:
    """Control characters or undecodable bytes (surrogates) in a command name. In ASCII these
    are exactly the characters isprintable() rejects, which spares compiling the regex."""
    if name.isascii():
        return not name.isprintable()
    return _BAD_NAME().search(name) is not None


_DECLARE = wordset("export readonly declare typeset local")
