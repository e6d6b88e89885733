"""Turn what an agent asked to run into the simple commands it would really execute.

INTERFACE (stable; policy.py and gate.py depend on it):

    analyze_argv(argv)   -> Analysis   # an argv as `agentgate run -- ...` receives it (no shell)
    analyze_script(text) -> Analysis   # a shell command string (hooks, `sh -c` payloads)

An Analysis lists every simple command found (each a normalized argv plus the path by which it
was reached) and every opaque construct the gate cannot see through. The caller evaluates every
command against the rules and every opaque part as ``settings.unparseable``; strictest wins.

This module is pure: no I/O, no printing, no environment access. It never raises on any input:
anything it cannot understand becomes an Opaque entry.

How it works
------------
A small hand-written tokenizer and recursive-descent parser for the bash subset agents use
(chosen over bashlex: no dependency, each unsupported construct is a syntax error that fails
closed instead of a best-effort tree, and every bound - size, depth, command count, time - is
checked where the work happens). Words are unquoted exactly like bash, brace expansion is done,
``$1``/``"$@"`` are substituted inside ``sh -c STRING ARGS`` when known, and so is ``$NAME`` when
the script itself gave NAME a literal value it cannot have changed since (see ``_Vars``). Each
simple command is reported, then, if it is a wrapper (sudo, env, timeout, xargs, npx, find
-exec, bash -c, eval, tmux, ssh, ...), what it runs is analysed again and reported too. A rule
therefore sees ``kubectl apply`` in ``sudo -E kubectl apply`` as well as the sudo command
itself. A program without a handler that is given ``-- CMD ARGS`` has CMD checked as well (via
``-- (after)``): an unknown wrapper is then still seen, and a false alarm only adds a part.
Programs that tools start from their configuration or environment (``git -c core.pager=..``,
``GIT_SSH_COMMAND=..``, ``EDITOR=..``) are analysed as the shell text they are. A literal
here-document or here-string fed to a shell is read as its script, fed to an interpreter it is
reported as code.

Choices: a package runner's tool loses its version and scope (``vercel@33`` -> ``vercel``,
``@scope/pkg@1`` -> ``pkg``); a program name also reported in lower case when it has capitals
(case-insensitive file systems); ``git``/``terraform``/``npm`` are reported a second time
without their global options so ``git -C x push -f`` meets a ``git push ** -f`` rule.
``SimpleCommand.dynamic`` lists argv positions whose value is only known at run time (an
expansion, an unquoted glob pattern, or ``INPUT_WORD``, appended where xargs or parallel add
words they read); ``SimpleCommand.env`` lists the ``NAME=value`` assignments that may reach it.

Known gaps (not modelled; documented so rules can compensate):
- values of ``$(...)``, of variables from the environment or set anywhere but in plain
  top-level assignments, and what globs match are unknown (kept as literal text, flagged in
  ``dynamic``); a variable or substitution as a *command name* is opaque unless its literal
  value is known; a dynamic ``sed`` script is checked for ``e`` only in its literal text;
- aliases defined outside the input (one defined earlier in it is expanded where used), functions are
  analysed where defined rather than where called, ``hash -p`` and PATH tricks are not followed;
- script files run by ``bash file.sh``/``source file``, ``sed -f``/``awk -f`` programs, config
  files (``git config`` files, ``~/.ssh/config``, ``GIT_CONFIG_GLOBAL``, ``BASH_ENV``) and
  package.json/Makefile/mise task scripts (``npm run x``) are not read;
- commands started by other tools' own options (``tar --to-command``, ``make``, container
  ``exec`` without ``--``, ``bwrap``, ``vim -c``, ``LD_PRELOAD``-style injection) beyond the
  wrappers listed in ``_HANDLERS``; unknown options of a wrapper make it opaque, but a few
  (uv, pnpm, yarn, bun, systemd-run, firejail, secret injectors) accept unknown ``--flags``
  as switches;
- xargs/parallel input is one dynamic word (``INPUT_WORD``) however many words it brings;
- fish/csh/PowerShell strings are parsed with sh rules (a parse failure is opaque);
- arithmetic side effects (``x='a[$(cmd)]'; (( x ))``) and ``$IFS`` games outside ``sh -c``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from time import thread_time

from .lean import Record, field, lazy_regex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import TypeAlias


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


# Appended (and listed in ``dynamic``) to a command that xargs or parallel extends with words
# read at run time. Written as a parameter expansion, so anything shaped like one matches it.
INPUT_WORD = "${xargs-input}"


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
    commands: tuple[SimpleCommand, ...]
    opaque: tuple[Opaque, ...] = ()


# -- bounds -------------------------------------------------------------------------------

MAX_INPUT = 65_536  # characters of script text, or of all argv words together
MAX_DEPTH = 20  # nested commands, substitutions, shells and wrappers
MAX_COMMANDS = 500  # distinct simple commands reported
MAX_WORDS = 4_096  # words of one command after brace expansion and "$@"
MAX_BRACE = 1_024  # words one brace expansion may produce
MAX_EXPANDED = 1_048_576  # characters substituted for "$@", "$*", $1 ... in one call
# CPU seconds of this thread per call. CPU time, not wall-clock: parsing does no I/O, so this
# bounds the work just as well, and a busy machine descheduling us must not turn a two-word
# command into "unparseable" (seen with 100 parallel gate processes).
TIME_BUDGET = 0.05

# -- words --------------------------------------------------------------------------------

_EXP = 1  # holds an expansion whose value is unknown here
_SPLIT = 2  # ... unquoted, so it may become zero or several words
_GLOB = 4  # unquoted pattern characters (pathname expansion)
_PROC = 8  # a process substitution (a /dev/fd path at run time)

_LIT, _PARAM, _DYN, _PSUB = 0, 1, 2, 3
# (kind, text, quoted, substitutions to analyse, parameter name); text is the unquoted
# literal, or the source text of an expansion.
_Sub: TypeAlias = "tuple[str, list[_Node]]"
_Part: TypeAlias = "tuple[int, str, bool, tuple[_Sub, ...], str]"
_Field: TypeAlias = tuple[str, int]  # (text, flags)

# Every simple command (an argv too) needs the first two; the others only serve to read script
# text or unusual names, so they are compiled when first used.
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")
_PYTHON = re.compile(r"(?:python|pypy)[0-9.]*")
_BAD_NAME = lazy_regex("[\x00-\x1f\x7f\ud800-\udfff]")  # 0.3 ms to compile
_RUN_UNQ = lazy_regex(r"[^ \t\n;&|()<>\\'\"$`]+")
_RUN_DQ = lazy_regex(r"[^\"\\$`]+")
_RUN_HD = lazy_regex(r"[^\\$`]+")
_NAME = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*")
_ARRAY_START = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_SIMPLE_PARAM = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!0-]")
_SEQ = lazy_regex(r"(-?[0-9]+)\.\.(-?[0-9]+)(?:\.\.(-?[0-9]+))?|([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?[0-9]+))?")
_IFS_SPLIT = lazy_regex("[ \t\n]+")

_C_ESC = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


class _Bound(Exception):
    """A size, depth, count or time bound was exceeded: stop and report opaque."""


class _Syntax(Exception):
    """The shell text does not parse."""


class _Unclear(Exception):
    """What a command runs cannot be followed; becomes an Opaque for that command only."""


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _has_glob(text: str) -> bool:
    return "*" in text or "?" in text or ("[" in text and "]" in text[text.index("[") :])


class _Word:
    __slots__ = ("arr", "assign", "brace", "flags", "lit", "parts", "plain", "quoted")

    def __init__(self, parts: list[_Part], arr: list[_Word] | None = None) -> None:
        self.parts = parts
        self.arr = arr
        literal = True
        texts: list[str] = []
        unq: list[str] = []
        quoted = False
        for kind, text, q, _s, _n in parts:
            if kind == _LIT:
                texts.append(text)
                if q:
                    quoted = True
                else:
                    unq.append(text)
            else:
                literal = False
        self.quoted = quoted
        self.lit = "".join(texts) if literal else None
        u = "".join(unq)
        self.flags = _GLOB if u and _has_glob(u) else 0
        self.brace = "{" in u and "}" in u and ("," in u or ".." in u) and arr is None
        first = parts[0]
        self.plain = first[1] if len(parts) == 1 and first[0] == _LIT and not first[2] else None
        m = _ASSIGN.match(first[1]) if first[0] == _LIT and not first[2] else None
        self.assign = m.group(1) if m else None

    def source(self) -> str:
        return "".join(p[1] for p in self.parts)


class _Heredoc:
    __slots__ = ("body", "delim", "quoted", "strip", "word")

    def __init__(self, delim: str, strip: bool, quoted: bool) -> None:
        self.delim = delim
        self.strip = strip
        self.quoted = quoted
        self.body = ""  # the text as written
        self.word: _Word | None = None  # unquoted delimiter: the body with $, ` and \ processed


class _Redir:
    __slots__ = ("fd", "feeds", "heredoc", "op", "target")

    def __init__(self, op: str, target: _Word, heredoc: _Heredoc | None, fd: str = "") -> None:
        self.op = op
        self.target = target
        self.heredoc = heredoc
        self.fd = fd  # the file descriptor number written before the operator, if any
        # does it put data (not a plain file) on the command's stdin?
        self.feeds = op in ("<<", "<<-", "<<<") or (op == "<" and target.parts[0][0] == _PSUB)


class _Simple:
    __slots__ = ("assigns", "redirs", "words")

    def __init__(self, assigns: list[_Word], words: list[_Word], redirs: list[_Redir]) -> None:
        self.assigns = assigns
        self.words = words
        self.redirs = redirs


class _AndOr:
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, _Node]]) -> None:
        self.items = items


class _Pipe:
    __slots__ = ("cmds",)

    def __init__(self, cmds: list[_Node]) -> None:
        self.cmds = cmds


class _Compound:
    """Subshells, groups, loops, if/case, [[ ]], (( )): what matters is the commands inside."""

    __slots__ = ("body", "label", "redirs", "var", "words")

    def __init__(self, label: str | None, body: list[_Node], words: list[_Word] | None = None,
                 var: str | None = None) -> None:
        self.label = label
        self.body = body
        self.words = words or []
        self.var = var
        self.redirs: list[_Redir] = []


class _Func:
    __slots__ = ("body", "name")

    def __init__(self, name: str, body: _Node) -> None:
        self.name = name
        self.body = body


_Node: TypeAlias = "_Simple | _AndOr | _Pipe | _Compound | _Func"

# -- parser -------------------------------------------------------------------------------

_META = " \t\n;&|()<>"
_CLOSERS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}"})
_NONE: frozenset[str] = frozenset()
_THEN = frozenset({"then"})
_ELSE_FI = frozenset({"elif", "else", "fi"})
_FI = frozenset({"fi"})
_DO = frozenset({"do"})
_DONE = frozenset({"done"})
_ESAC = frozenset({"esac"})
_BRACE_CLOSE = frozenset({"}"})
_COMPOUND_KW = frozenset({"{", "if", "while", "until", "for", "select", "case", "[[", "(("})
_REDIR_OPS = ("<<<", "<<-", "<<", "<>", "<&", "<", ">>", ">&", ">|", ">")


class _Parser:
    """Recursive descent over one piece of shell text; builds a small tree of _Node."""

    __slots__ = ("an", "bg", "depth", "done", "heredocs", "i", "n", "s")

    def __init__(self, text: str, an: _Analyzer, depth: int, done: list[_Simple] | None = None):
        self.s = text
        self.n = len(text)
        self.i = 0
        self.an = an
        self.depth = depth
        self.heredocs: list[_Heredoc] = []
        # every simple command parsed, also inside substitutions (partial results, variables)
        self.done: list[_Simple] = [] if done is None else done
        self.bg: set[int] = set()  # ids of nodes run in the background (``&``, coproc)

    def parse(self) -> list[_Node]:
        nodes = self._list(_NONE)
        self._newlines()
        if self.i < self.n:
            raise _Syntax(f"unexpected {self._what()}")
        return nodes

    def _what(self) -> str:
        if self.i >= self.n:
            return "end of input"
        return repr(self.s[self.i : self.i + 12])

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Bound(f"nested deeper than {MAX_DEPTH} levels")

    # -- lexical helpers

    def _blank(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n:
            c = s[i]
            if c == " " or c == "\t":
                i += 1
            elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
                i += 2
            elif c == "#":
                j = s.find("\n", i)
                i = n if j < 0 else j
            else:
                break
        self.i = i

    def _newlines(self) -> None:
        while True:
            self._blank()
            if self.i < self.n and self.s[self.i] == "\n":
                self.i += 1
                if self.heredocs:
                    self._read_heredocs()
            else:
                return

    def _peek_word(self) -> str | None:
        """The next word if it is plain unquoted text (a reserved-word candidate)."""
        m = _RUN_UNQ().match(self.s, self.i)
        if m is None:
            return None
        j = m.end()
        if j < self.n and self.s[j] not in _META:
            return None
        return m.group()

    def _expect(self, word: str) -> None:
        self._newlines()
        if self._peek_word() != word:
            raise _Syntax(f"expected {word!r} before {self._what()}")
        self.i += len(word)

    def _at_sep(self) -> bool:
        """At ';', '&' or newline ending a command (not ';;', '&&', '&>')?"""
        if self.i >= self.n:
            return False
        c = self.s[self.i]
        if c == "\n":
            return True
        nxt = self.s[self.i + 1 : self.i + 2]
        if c == ";":
            return nxt not in (";", "&")
        return c == "&" and nxt not in ("&", ">")

    # -- grammar

    def _list(self, closers: frozenset[str]) -> list[_Node]:
        nodes: list[_Node] = []
        while True:
            self._newlines()
            if self.i >= self.n:
                return nodes
            c = self.s[self.i]
            if c == ")":
                return nodes
            if c == ";":
                if self.s.startswith((";;", ";&"), self.i):
                    return nodes
                raise _Syntax("unexpected ';'")
            w = self._peek_word()
            if w is not None and w in _CLOSERS:
                if w in closers:
                    return nodes
                raise _Syntax(f"unexpected {w!r}")
            nodes.append(self._and_or())
            self._blank()
            if self._at_sep():
                c = self.s[self.i]
                self.i += 1
                if c == "&":
                    self.bg.add(id(nodes[-1]))
                if c == "\n" and self.heredocs:
                    self._read_heredocs()
                continue
            return nodes

    def _and_or(self) -> _Node:
        first = self._pipeline()
        items: list[tuple[str, _Node]] | None = None
        while True:
            self._blank()
            op = self.s[self.i : self.i + 2]
            if op not in ("&&", "||"):
                break
            self.i += 2
            self._newlines()
            if items is None:
                items = [("", first)]
            items.append((op, self._pipeline()))
        return first if items is None else _AndOr(items)

    def _pipeline(self) -> _Node:
        self._blank()
        prefixed = False
        while True:
            w = self._peek_word()
            if w == "!":
                self.i += 1
            elif w == "time":
                self.i += 4
                self._blank()
                while self._peek_word() in ("-p", "--"):
                    self.i += 2
                    self._blank()
            else:
                break
            prefixed = True
            self._blank()
        if prefixed and (self.i >= self.n or self.s[self.i] in "\n;&|)"):
            return _Simple([], [], [])
        cmds = [self._command()]
        while True:
            self._blank()
            if self.s.startswith("|", self.i) and not self.s.startswith("||", self.i):
                self.i += 2 if self.s.startswith("|&", self.i) else 1
                self._newlines()
                cmds.append(self._command())
            else:
                break
        return cmds[0] if len(cmds) == 1 else _Pipe(cmds)

    def _command(self) -> _Node:
        self.an.tick()
        self._enter()
        node = self._command_inner()
        self.depth -= 1
        return node

    def _command_inner(self) -> _Node:
        s, i = self.s, self.i
        if i >= self.n:
            raise _Syntax("unexpected end of input")
        if s[i] == "(":
            if s.startswith("((", i):
                end = self._arith_end(i + 2)
                if end is not None:
                    arith = _Word(self._expansions(s[i + 2 : end]))
                    self.i = end + 2
                    return self._finish(_Compound(None, [], [arith]))
            self.i = i + 1
            body = self._list(_NONE)
            self._newlines()
            if not s.startswith(")", self.i):
                raise _Syntax("unterminated '('")
            self.i += 1
            return self._finish(_Compound("( )", body))
        w = self._peek_word()
        if w is not None:
            if w == "{":
                self.i += 1
                body = self._list(_BRACE_CLOSE)
                self._expect("}")
                return self._finish(_Compound(None, body))
            if w == "if":
                return self._finish(self._if())
            if w in ("while", "until"):
                self.i += len(w)
                body = self._list(_DO)
                self._expect("do")
                body += self._list(_DONE)
                self._expect("done")
                return self._finish(_Compound(None, body))
            if w in ("for", "select"):
                return self._finish(self._for(w))
            if w == "case":
                return self._finish(self._case())
            if w == "function":
                return self._function()
            if w == "[[":
                return self._finish(self._dbracket())
            if w == "coproc":
                return self._coproc()
            if w in _CLOSERS:
                raise _Syntax(f"unexpected {w!r}")
        return self._simple()

    def _finish(self, node: _Compound) -> _Node:
        while True:
            self._blank()
            r = self._redir()
            if r is None:
                return node
            node.redirs.append(r)

    def _if(self) -> _Compound:
        self.i += 2
        body = self._list(_THEN)
        self._expect("then")
        body += self._list(_ELSE_FI)
        while True:
            w = self._peek_word()
            if w == "elif":
                self.i += 4
                body += self._list(_THEN)
                self._expect("then")
                body += self._list(_ELSE_FI)
                continue
            if w == "else":
                self.i += 4
                body += self._list(_FI)
            break
        self._expect("fi")
        return _Compound(None, body)

    def _for(self, kw: str) -> _Compound:
        self.i += len(kw)
        self._blank()
        words: list[_Word] = []
        var = None
        if self.s.startswith("((", self.i):
            end = self._arith_end(self.i + 2)
            if end is None:
                raise _Syntax("unterminated 'for (('")
            words.append(_Word(self._expansions(self.s[self.i + 2 : end])))
            self.i = end + 2
        else:
            v = self._word()
            if v is None or v.plain is None or not _NAME().fullmatch(v.plain):
                raise _Syntax(f"bad '{kw}' variable")
            var = v.plain
            # the loop assigns it: recorded for _script_vars like an assignment
            self.done.append(_Simple([_Word([(_LIT, var + "=", False, (), "")])], [], []))
            self._newlines()
            if self._peek_word() == "in":
                self.i += 2
                while True:
                    self._blank()
                    if self.i >= self.n or self.s[self.i] in "\n;":
                        break
                    w = self._word()
                    if w is None:
                        raise _Syntax(f"unexpected {self._what()} in '{kw}' list")
                    words.append(w)
        self._blank()
        if self.s.startswith(";", self.i) and not self.s.startswith(";;", self.i):
            self.i += 1
        self._newlines()
        kw2 = self._peek_word()
        if kw2 == "do":
            self.i += 2
            body = self._list(_DONE)
            self._expect("done")
        elif kw2 == "{":
            body = [self._command()]
        else:
            raise _Syntax(f"expected 'do' before {self._what()}")
        return _Compound(None, body, words, var)

    def _case(self) -> _Compound:
        self.i += 4
        self._blank()
        subject = self._word()
        if subject is None:
            raise _Syntax("case needs a word")
        words = [subject]
        body: list[_Node] = []
        self._newlines()
        if self._peek_word() != "in":
            raise _Syntax("expected 'in' after case word")
        self.i += 2
        while True:
            self._newlines()
            if self._peek_word() == "esac":
                self.i += 4
                return _Compound(None, body, words)
            if self.i >= self.n:
                raise _Syntax("unterminated case")
            if self.s[self.i] == "(":
                self.i += 1
            while True:
                self._blank()
                w = self._word()
                if w is None:
                    raise _Syntax(f"bad case pattern at {self._what()}")
                words.append(w)
                self._blank()
                c = self.s[self.i : self.i + 1]
                self.i += 1
                if c == ")":
                    break
                if c != "|":
                    raise _Syntax("bad case pattern")
            body += self._list(_ESAC)
            self._blank()
            for op in (";;&", ";;", ";&"):
                if self.s.startswith(op, self.i):
                    self.i += len(op)
                    break

    def _function(self) -> _Node:
        self.i += 8
        self._blank()
        w = self._word()
        if w is None or w.plain is None:
            raise _Syntax("bad function name")
        self._blank()
        if self.s.startswith("(", self.i):
            j = self.i + 1
            while j < self.n and self.s[j] in " \t":
                j += 1
            if not self.s.startswith(")", j):
                raise _Syntax("expected ')' in function definition")
            self.i = j + 1
        return self._funcbody(w.plain)

    def _funcbody(self, name: str) -> _Node:
        self._newlines()
        body = self._command()
        if isinstance(body, _Simple):
            raise _Syntax(f"function {name} needs a compound body")
        return _Func(name, body)

    def _dbracket(self) -> _Compound:
        self.i += 2
        words: list[_Word] = []
        while True:
            self._newlines()
            if self.i >= self.n:
                raise _Syntax("unterminated '[['")
            if self._peek_word() == "]]":
                self.i += 2
                return _Compound(None, [], words)
            c = self.s[self.i]
            if c in "()|&<>" and not self.s.startswith(("<(", ">("), self.i):
                self.i += 1
                continue
            if c == ";":
                raise _Syntax("unexpected ';' in '[[ ]]'")
            w = self._word()
            if w is None:
                raise _Syntax(f"unexpected {self._what()} in '[[ ]]'")
            words.append(w)

    def _coproc(self) -> _Node:
        self.i += 6
        self._blank()
        w = self._peek_word()
        if w is not None and w not in _COMPOUND_KW:
            save = self.i
            self.i += len(w)
            self._blank()
            if not (self.s.startswith(("(", "{"), self.i) or self._peek_word() in _COMPOUND_KW):
                self.i = save
        node = self._command()
        self.bg.add(id(node))
        return node

    def _simple(self) -> _Node:
        s, n = self.s, self.n
        assigns: list[_Word] = []
        words: list[_Word] = []
        redirs: list[_Redir] = []
        while True:
            self._blank()
            if self.i >= n:
                break
            c = s[self.i]
            if c in "<>&0123456789{":
                r = self._redir()
                if r is not None:
                    redirs.append(r)
                    continue
            if c in "\n;&|)":
                break
            if c == "(":
                if len(words) == 1 and not assigns and words[0].plain is not None:
                    j = self.i + 1
                    while j < n and s[j] in " \t":
                        j += 1
                    if s.startswith(")", j):
                        self.i = j + 1
                        return self._funcbody(words[0].plain)
                raise _Syntax("unexpected '('")
            w = self._word()
            if w is None:
                raise _Syntax(f"unexpected {self._what()}")
            if not words and w.assign is not None:
                assigns.append(w)
            else:
                words.append(w)
        if not (assigns or words or redirs):
            raise _Syntax(f"unexpected {self._what()}")
        node = _Simple(assigns, words, redirs)
        self.done.append(node)
        return node

    def _redir(self) -> _Redir | None:
        s, n, i = self.s, self.n, self.i
        j = i
        while j < n and "0" <= s[j] <= "9":
            j += 1
        if j == i and s.startswith("{", i):
            k = s.find("}", i, i + 80)
            if k > i + 1 and _NAME().fullmatch(s, i + 1, k) and s.startswith(("<", ">"), k + 1):
                j = k + 1
        if j < n and s[j] in "<>":
            if s.startswith("(", j + 1):
                return None
            op = next(o for o in _REDIR_OPS if s.startswith(o, j))
        elif j == i and s.startswith("&>", i):
            op = "&>>" if s.startswith("&>>", i) else "&>"
        else:
            return None
        self.i = j + len(op)
        self._blank()
        target = self._word()
        if target is None:
            raise _Syntax(f"missing target after {op!r}")
        if op in ("<<", "<<-"):
            hd = _Heredoc(target.source(), op == "<<-", target.quoted)
            self.heredocs.append(hd)
            return _Redir(op, target, hd, s[i:j])
        return _Redir(op, target, None, s[i:j])

    def _read_heredocs(self) -> None:
        pending, self.heredocs = self.heredocs, []
        s, n = self.s, self.n
        for hd in pending:
            i = start = self.i
            body = s[start:]
            self.i = n
            while i < n:
                j = s.find("\n", i)
                end = n if j < 0 else j
                line = s[i:end]
                if (line.lstrip("\t") if hd.strip else line) == hd.delim:
                    body = s[start:i]
                    self.i = n if j < 0 else end + 1
                    break
                i = end + 1
            if hd.strip:
                body = "\n".join(line.lstrip("\t") for line in body.split("\n"))
            hd.body = body
            if not hd.quoted and ("$" in body or "`" in body or "\\" in body):
                hd.word = _Word(self._expansions(body))

    def _expansions(self, text: str) -> list[_Part]:
        """Parts of here-document or arithmetic text: only $ and ` are special."""
        sub = _Parser(text, self.an, self.depth, self.done)
        parts = sub._dq(heredoc=True)
        return parts or [(_LIT, "", True, (), "")]

    # -- words

    def _word(self) -> _Word | None:
        s, n = self.s, self.n
        start = i = self.i
        parts: list[_Part] = []
        buf: list[str] = []
        while i < n:
            m = _RUN_UNQ().match(s, i)
            if m is not None:
                buf.append(m.group())
                i = m.end()
                continue
            c = s[i]
            if c in " \t\n;&|)":
                break
            if c == "(":
                if not parts and buf and _ARRAY_START().fullmatch("".join(buf)):
                    self.i = i + 1
                    items = self._array()
                    return _Word([(_LIT, s[start : self.i], False, (), "")], items)
                break
            if c in "<>":
                if s.startswith("(", i + 1):
                    if buf:
                        parts.append((_LIT, "".join(buf), False, (), ""))
                        buf = []
                    self.i = i
                    parts.append(self._procsub())
                    i = self.i
                    continue
                break
            if c == "\\":
                if i + 1 >= n:
                    buf.append("\\")
                    i += 1
                    continue
                if s[i + 1] == "\n":
                    i += 2
                    continue
            if buf:
                parts.append((_LIT, "".join(buf), False, (), ""))
                buf = []
            if c == "\\":
                parts.append((_LIT, s[i + 1], True, (), ""))
                i += 2
            elif c == "'":
                j = s.find("'", i + 1)
                if j < 0:
                    raise _Syntax("unterminated single quote")
                parts.append((_LIT, s[i + 1 : j], True, (), ""))
                i = j + 1
            elif c == '"':
                self.i = i + 1
                parts.extend(self._dq())
                i = self.i
            elif c == "$":
                self.i = i
                self._dollar(False, parts)
                i = self.i
            else:  # backquote
                self.i = i
                parts.append(self._backtick(False))
                i = self.i
        if buf:
            parts.append((_LIT, "".join(buf), False, (), ""))
        self.i = i
        return _Word(parts) if parts else None

    def _array(self) -> list[_Word]:
        items: list[_Word] = []
        while True:
            self._newlines()
            if self.i >= self.n:
                raise _Syntax("unterminated array assignment")
            if self.s[self.i] == ")":
                self.i += 1
                return items
            w = self._word()
            if w is None:
                raise _Syntax(f"unexpected {self._what()} in array assignment")
            items.append(w)

    def _dq(self, heredoc: bool = False) -> list[_Part]:
        """Read double-quoted text after the opening quote (or a here-document body)."""
        s, n = self.s, self.n
        i = self.i
        parts: list[_Part] = []
        buf: list[str] = []
        run = _RUN_HD() if heredoc else _RUN_DQ()
        while i < n:
            m = run.match(s, i)
            if m is not None:
                buf.append(m.group())
                i = m.end()
                continue
            c = s[i]
            if c == '"':
                if buf or not parts:
                    parts.append((_LIT, "".join(buf), True, (), ""))
                self.i = i + 1
                return parts
            if c == "\\":
                nx = s[i + 1 : i + 2]
                if nx == "\n":
                    i += 2
                elif nx in ("$", "`", "\\") or (nx == '"' and not heredoc):
                    buf.append(nx)
                    i += 2
                else:
                    buf.append("\\")
                    i += 1
                continue
            if buf:
                parts.append((_LIT, "".join(buf), True, (), ""))
                buf = []
            self.i = i
            if c == "$":
                self._dollar(True, parts)
            else:
                parts.append(self._backtick(True))
            i = self.i
        if not heredoc:
            raise _Syntax("unterminated double quote")
        if buf:
            parts.append((_LIT, "".join(buf), True, (), ""))
        self.i = n
        return parts

    def _dollar(self, quoted: bool, out: list[_Part]) -> None:
        s, n, i = self.s, self.n, self.i
        nx = s[i + 1 : i + 2]
        if nx == "(":
            if s.startswith("((", i + 1):
                end = self._arith_end(i + 3)
                if end is not None:
                    inner = self._expansions(s[i + 3 : end])
                    self.i = end + 2
                    subs = tuple(x for p in inner for x in p[3])
                    out.append((_DYN, s[i : end + 2], quoted, subs, ""))
                    return
            self.i = i + 2
            nodes = self._list(_NONE)
            self._newlines()
            if not s.startswith(")", self.i):
                raise _Syntax("unterminated '$('")
            self.i += 1
            out.append((_DYN, s[i : self.i], quoted, (("$()", nodes),), ""))
        elif nx == "{":
            out.append(self._brace_param(quoted))
        elif nx == "'" and not quoted:
            self.i, text = _ansi_c(s, i + 2)
            out.append((_LIT, text, True, (), ""))
        elif nx == '"' and not quoted:
            self.i = i + 2
            out.extend(self._dq())
        else:
            m = _NAME().match(s, i + 1)
            if m is not None:
                self.i = m.end()
                out.append((_PARAM, s[i : self.i], quoted, (), m.group()))
            elif nx and ("0" <= nx <= "9" or nx in "@*#?$!-"):
                self.i = i + 2
                out.append((_PARAM, s[i : i + 2], quoted, (), nx))
            else:
                self.i = i + 1
                out.append((_LIT, "$", quoted, (), ""))
        del n

    def _brace_param(self, quoted: bool) -> _Part:
        s, n = self.s, self.n
        start = self.i
        j = start + 2
        subs: list[_Sub] = []
        self._enter()
        while j < n:
            c = s[j]
            if c == "}":
                break
            if c == "\\":
                j += 2
                continue
            if c == "'" and not quoted:
                k = s.find("'", j + 1)
                if k < 0:
                    raise _Syntax("unterminated single quote")
                j = k + 1
                continue
            if c in "\"$`":
                ps: list[_Part] = []
                if c == '"':
                    self.i = j + 1
                    ps = self._dq()
                elif c == "$":
                    self.i = j
                    self._dollar(True, ps)
                else:
                    self.i = j
                    ps.append(self._backtick(True))
                subs.extend(x for p in ps for x in p[3])
                j = self.i
                continue
            j += 1
        else:
            raise _Syntax("unterminated '${'")
        self.depth -= 1
        self.i = j + 1
        raw = s[start : j + 1]
        inner = s[start + 2 : j]
        if _SIMPLE_PARAM().fullmatch(inner):
            return (_PARAM, raw, quoted, (), inner)
        return (_DYN, raw, quoted, tuple(subs), "")

    def _backtick(self, quoted: bool) -> _Part:
        s, n = self.s, self.n
        start = i = self.i
        i += 1
        buf: list[str] = []
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and (s[i + 1] in "$`\\" or (quoted and s[i + 1] == '"')):
                buf.append(s[i + 1])
                i += 2
                continue
            if c == "`":
                break
            buf.append(c)
            i += 1
        else:
            raise _Syntax("unterminated backquote")
        self.i = i + 1
        nodes = _Parser("".join(buf), self.an, self.depth, self.done).parse()
        return (_DYN, s[start : i + 1], quoted, (("``", nodes),), "")

    def _procsub(self) -> _Part:
        s = self.s
        start = self.i
        label = s[start] + "()"
        self.i = start + 2
        nodes = self._list(_NONE)
        self._newlines()
        if not s.startswith(")", self.i):
            raise _Syntax(f"unterminated '{s[start]}('")
        self.i += 1
        return (_PSUB, s[start : self.i], False, ((label, nodes),), "")

    def _arith_end(self, j: int) -> int | None:
        """Index of the '))' closing arithmetic that starts at j, or None if it is not one."""
        s, n = self.s, self.n
        depth = 0
        while j < n:
            c = s[j]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    return j if s.startswith(")", j + 1) else None
                depth -= 1
            j += 1
        return None


def _ansi_c(s: str, i: int) -> tuple[int, str]:
    """Decode a $'...' string starting after the quote; return (end index, text)."""
    n = len(s)
    out: list[str] = []
    while i < n:
        c = s[i]
        if c == "'":
            return i + 1, "".join(out)
        if c == "\\" and i + 1 < n:
            e = s[i + 1]
            i += 2
            if e in _C_ESC:
                out.append(_C_ESC[e])
            elif "0" <= e <= "7":
                k = i - 1
                while k < n and k < i + 2 and "0" <= s[k] <= "7":
                    k += 1
                out.append(chr(int(s[i - 1 : k], 8) & 0xFF))
                i = k
            elif e in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[e]
                k = i
                while k < n and k < i + width and s[k] in "0123456789abcdefABCDEF":
                    k += 1
                if k == i:
                    out.append("\\" + e)
                else:
                    code = int(s[i:k], 16)
                    out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                    i = k
            elif e == "c" and i < n:
                out.append(chr(ord(s[i]) & 0x1F))
                i += 1
            else:
                out.append("\\" + e)
            continue
        out.append(c)
        i += 1
    raise _Syntax("unterminated $'...' string")


# -- brace expansion ----------------------------------------------------------------------

_Atom: TypeAlias = "str | _Part"


def _brace_expand(parts: list[_Part], an: _Analyzer) -> list[list[_Part]]:
    atoms: list[_Atom] = []
    for p in parts:
        if p[0] == _LIT and not p[2]:
            atoms.extend(p[1])
        else:
            atoms.append(p)
    out: list[list[_Part]] = []
    for seq in _brace(atoms, 0, an):
        ps: list[_Part] = []
        buf: list[str] = []
        for a in seq:
            if isinstance(a, str):
                buf.append(a)
                continue
            if buf:
                ps.append((_LIT, "".join(buf), False, (), ""))
                buf = []
            ps.append(a)
        if buf:
            ps.append((_LIT, "".join(buf), False, (), ""))
        out.append(ps or [(_LIT, "", False, (), "")])
    return out


def _brace(atoms: list[_Atom], depth: int, an: _Analyzer) -> list[list[_Atom]]:
    if depth > MAX_DEPTH:
        raise _Bound("brace expansion nested too deeply")
    an.tick()
    n = len(atoms)
    i = 0
    while i < n:
        if atoms[i] != "{":
            i += 1
            continue
        level = 0
        commas: list[int] = []
        j = i + 1
        while j < n:
            a = atoms[j]
            if a == "{":
                level += 1
            elif a == "}":
                if level == 0:
                    break
                level -= 1
            elif a == "," and level == 0:
                commas.append(j)
            j += 1
        if j >= n:
            i += 1
            continue
        alts: list[list[_Atom]] = []
        if commas:
            prev = i + 1
            for c in [*commas, j]:
                alts.extend(_brace(atoms[prev:c], depth + 1, an))
                prev = c + 1
        else:
            inner = atoms[i + 1 : j]
            seq = _sequence("".join(inner)) if all(isinstance(a, str) for a in inner) else None  # type: ignore[arg-type]
            if seq is None:
                i += 1
                continue
            alts = [list(x) for x in seq]
        posts = _brace(atoms[j + 1 :], depth + 1, an)
        if len(alts) * len(posts) > MAX_BRACE:
            raise _Bound("brace expansion too large")
        pre = atoms[:i]
        return [pre + a + p for a in alts for p in posts]
    return [atoms]


def _sequence(text: str) -> list[str] | None:
    m = _SEQ().fullmatch(text)
    if m is None:
        return None
    if m.group(1) is not None:
        a, b = int(m.group(1)), int(m.group(2))
        step = abs(int(m.group(3) or 1)) or 1
        if abs(b - a) // step + 1 > MAX_BRACE:
            raise _Bound("brace sequence too large")
        width = max(len(m.group(1)), len(m.group(2)))
        pad = any(g.lstrip("-").startswith("0") and len(g.lstrip("-")) > 1 for g in (m.group(1), m.group(2)))
        rng = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
        return [f"{v:0{width}d}" if pad else str(v) for v in rng]
    x, y = ord(m.group(4)), ord(m.group(5))
    step = abs(int(m.group(6) or 1)) or 1
    rng = range(x, y + 1, step) if x <= y else range(x, y - 1, -step)
    return [chr(v) for v in rng]


# -- analysis -----------------------------------------------------------------------------

_KEEP: tuple[_Field, ...] = (("", -1),)  # sentinel: keep the positional parameters


class _Cx:
    """Where a command sits: how it was reached and what the shell knows around it."""

    __slots__ = ("depth", "env", "feed", "pos", "pos_open", "stdin", "tail", "vars", "via")

    def __init__(self, via: tuple[str, ...] = (), depth: int = 0, stdin: bool = False,
                 tail: bool = False, pos: tuple[_Field, ...] | None = None,
                 pos_open: bool = False, env: tuple[str, ...] = (), vars: _Vars | None = None,
                 feed: _Field | None = None) -> None:
        self.via = via  # labels from the outermost command inward
        self.depth = depth
        self.stdin = stdin  # stdin carries data (pipe, here-doc): a shell reading it is opaque
        self.tail = tail  # more arguments will be appended at run time (xargs)
        self.pos = pos  # $0, $1, ... when known (inside sh -c STRING ARGS); None if unknown
        self.pos_open = pos_open  # positional parameters beyond ``pos`` are unknown
        self.env = env  # NAME=value passed down by wrappers and prefixes (env X=1, X=1 cmd)
        self.vars = vars  # the shell variables of the script being walked; None: all unknown
        self.feed = feed  # (text, flags) of a here-document or here-string on stdin

    def child(self, label: str | None = None, stdin: bool | None = None) -> _Cx:
        same = stdin is None or stdin == self.stdin
        return _Cx((*self.via, label) if label else self.via, self.depth,
                   self.stdin if stdin is None else stdin, False, self.pos, self.pos_open,
                   self.env, self.vars, self.feed if same else None)

    def wrap(self, label: str, *, stdin: bool | None = None, tail: bool | None = None,
             pos: tuple[_Field, ...] | None = _KEEP, pos_open: bool = False) -> _Cx:
        if self.depth + 1 > MAX_DEPTH:
            raise _Bound(f"nested deeper than {MAX_DEPTH} levels")
        keep = pos is _KEEP
        same = stdin is None or stdin == self.stdin
        return _Cx((*self.via, label), self.depth + 1, self.stdin if stdin is None else stdin,
                   self.tail if tail is None else tail, self.pos if keep else pos,
                   self.pos_open if keep else pos_open, self.env, self.vars,
                   self.feed if same else None)

    def with_env(self, env: tuple[str, ...], stdin: bool, feed: _Field | None) -> _Cx:
        return _Cx(self.via, self.depth, stdin, self.tail, self.pos, self.pos_open, env,
                   self.vars, feed)


# -- shell variables ----------------------------------------------------------------------
#
# A variable's literal value is substituted for $NAME only when the script gives it no way to
# change behind our back: every assignment to it is a plain ``NAME=value`` (or ``export``/
# ``readonly NAME=value``) at the top level of the script, run in order (not in a loop, branch,
# function, pipeline, subshell, background job or && tail), and the script uses nothing that
# assigns variables out of sight (read, eval, source, declare, let, (( )), ${X:=v}, traps,
# aliases, namerefs, IFS changes, ...). Anything else leaves the variable dynamic.

# builtins that assign variables in ways not followed here (or run code that may)
_VAR_RISKY = _set("read mapfile readarray getopts declare typeset local let unset eval source . "
                  "trap alias enable builtin shopt")
# the shell sets these itself
_SPECIAL_VARS = _set("PWD OLDPWD RANDOM SRANDOM SECONDS LINENO BASHPID PPID UID EUID GROUPS "
                     "PIPESTATUS REPLY OPTARG OPTIND OPTERR IFS HISTCMD EPOCHSECONDS "
                     "EPOCHREALTIME COLUMNS LINES _ BASH_REMATCH BASH_COMMAND BASH_SUBSHELL "
                     "BASH_ARGV0 BASH_LINENO BASH_SOURCE FUNCNAME DIRSTACK MAPFILE COPROC "
                     "HOSTNAME SHLVL PS4")
_ARITH_TESTS = ("-eq", "-ne", "-lt", "-le", "-gt", "-ge")


def _sets_vars(name: str, args: Sequence[str]) -> bool:
    """Can the builtin ``name`` assign shell variables that are not followed here?"""
    if name in _VAR_RISKY:
        return True
    if name == "printf":
        return any(a.startswith("-v") for a in args[:3])
    if name == "wait":
        return any(a.startswith("-") and "p" in a for a in args)
    if name == "command":
        return any(a in _VAR_RISKY or a in ("export", "readonly") for a in args)
    return False


class _Vars:
    """The shell variables of one script: see the comment above."""

    __slots__ = ("_words", "allexport", "env", "exported", "off", "stable", "top", "vals")

    def __init__(self, stable: frozenset[str] | set[str] = frozenset(), top: set[int] | None = None,
                 off: bool = True) -> None:
        self.stable = stable  # names whose value is followed
        self.top = top or set()  # ids of the simple commands run in order at the top level
        self.off = off  # values are not followed at all
        self.vals: dict[str, str | None] = {}  # stable name -> its value now (None: unknown)
        self.env: dict[str, list[str]] = {}  # name -> NAME=value texts assigned so far
        self.exported: set[str] = set()  # export NAME, declare -x NAME
        self.allexport = False  # set -a: every assignment is exported
        self._words: tuple[str, ...] | None = ()  # env_words() until the next change

    def value(self, name: str) -> str | None:
        return None if self.off else self.vals.get(name)

    def assign(self, name: str, value: str | None, text: str, in_order: bool) -> None:
        if name in self.stable:
            self.vals[name] = value
        seen = self.env.get(name)
        if seen is None or in_order:
            self.env[name] = [text]
        elif text not in seen:
            seen.append(text)
        if self.allexport or name in self.exported:
            self._words = None

    def export(self, name: str) -> None:
        self.exported.add(name)
        self._words = None

    def env_words(self) -> tuple[str, ...]:
        """The exported assignments so far: what reaches the environment of later commands."""
        if self._words is None:
            self._words = tuple(t for name, texts in self.env.items()
                                if self.allexport or name in self.exported for t in texts)
        return self._words


def _arg_text(w: _Word) -> str:
    return w.lit if w.lit is not None else ""


def _script_vars(text: str, nodes: list[_Node], done: list[_Simple], bg: set[int]) -> _Vars:
    """Decide which variables of a script can be followed (see the comment above)."""
    top: set[int] = set()
    for nd in nodes:
        if id(nd) in bg:
            continue
        if isinstance(nd, _AndOr):
            nd = nd.items[0][1]
        if isinstance(nd, _Simple) and not nd.redirs and id(nd) not in bg:
            top.add(id(nd))
    off = "$[" in text or "((" in text or "coproc" in text or "}>" in text or "}<" in text
    if not off and "[[" in text:
        off = any(op in text for op in _ARITH_TESTS)
    k = text.find("${")
    while not off and k >= 0:  # ${X:=v}, ${X=v}, ${a[i=1]} assign
        e = text.find("}", k)
        off = e < 0 or "=" in text[k:e]
        k = text.find("${", e)
    in_order: set[str] = set()
    other: set[str] = set()
    for nd in done:
        if off:
            break
        at_top = id(nd) in top
        if not nd.words:
            for a in nd.assigns:
                if a.assign is not None:
                    (in_order if at_top else other).add(a.assign)
            continue
        for a in nd.assigns:  # NAME=value cmd: kept by special builtins in POSIX mode
            if a.assign is not None:
                other.add(a.assign)
        w0 = nd.words[0].lit
        if w0 is None or nd.words[0].brace:
            off = not at_top  # a command name known only later, where it cannot be followed
            continue
        prog = _program(w0)
        if prog in ("export", "readonly"):
            for w in nd.words[1:]:
                if w.lit is None:
                    if w.assign is None:
                        off = True
                        break
                    name: str | None = w.assign
                else:
                    m = _ASSIGN.match(w.lit)
                    name = m.group(1) if m else None
                if name is not None:
                    (in_order if at_top and not nd.assigns else other).add(name)
        elif _sets_vars(prog, [_arg_text(w) for w in nd.words[1:]]):
            off = True
    if off or "IFS" in in_order or "IFS" in other:
        return _Vars()
    return _Vars(frozenset(in_order - other - _SPECIAL_VARS), top, False)


def _assign_value(w: _Word, cx: _Cx) -> str | None:
    """The value an assignment word (``NAME=...``, also an ``export`` argument) gives, if known."""
    if w.arr:
        return None
    out: list[str] = []
    for kind, text, quoted, _s, name in w.parts:
        if kind == _LIT:
            if not quoted and "~" in text:
                return None  # tilde expansion
            out.append(text)
        elif kind == _PARAM:
            vals = _param_values(name, cx)
            if vals is None or len(vals) != 1:
                return None
            out.append(vals[0][0])
        else:
            return None
    key, _eq, value = "".join(out).partition("=")
    if key.endswith("+"):
        old = cx.vars.value(key[:-1]) if cx.vars is not None else None
        return None if old is None else old + value
    return value


def _merge_env(*groups: Sequence[str]) -> tuple[str, ...]:
    """Concatenate NAME=value groups; a name set in a later group drops earlier entries."""
    out: list[str] = []
    for g in groups:
        if not g:
            continue
        if out:
            names = {t.split("=", 1)[0].rstrip("+") for t in g}
            out = [t for t in out if t.split("=", 1)[0].rstrip("+") not in names]
        out.extend(g)
    return tuple(out)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _Analyzer:
    def __init__(self) -> None:
        self.commands: list[SimpleCommand] = []
        self.opaque: list[Opaque] = []
        self._seen: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}  # -> index
        self._oseen: set[Opaque] = set()
        self.ticks = 0
        self.expanded = 0
        self.deadline = thread_time() + TIME_BUDGET
        self.aliases: dict[str, str] = {}  # alias definitions seen so far in this input
        self._expanding: set[str] = set()

    def tick(self) -> None:
        self.ticks += 1
        if not self.ticks & 7 and thread_time() > self.deadline:
            raise _Bound(f"analysis took more than {TIME_BUDGET * 1000:.0f} ms of CPU")

    def grow(self, n: int) -> None:
        self.expanded += n
        if self.expanded > MAX_EXPANDED:
            raise _Bound("parameter substitution produces too much text")

    def add_opaque(self, kind: str, reason: str, text: str, via: tuple[str, ...]) -> None:
        op = Opaque(kind, reason, text if kind == "code" else _clip(text), via)
        if op not in self._oseen:
            self._oseen.add(op)
            self.opaque.append(op)

    def emit(self, argv: tuple[str, ...], via: tuple[str, ...], dyn: tuple[int, ...],
             env: tuple[str, ...] = ()) -> None:
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
            raise _Bound(f"more than {MAX_COMMANDS} commands")
        self._seen[key] = len(self.commands)
        self.commands.append(SimpleCommand(argv, via, dyn, env))

    def result(self) -> Analysis:
        return Analysis(tuple(self.commands), tuple(self.opaque))

    # -- shell text

    def script(self, text: str, cx: _Cx) -> None:
        parser = _Parser(text, self, cx.depth)
        try:
            nodes = parser.parse()
        except _Syntax as exc:
            self.add_opaque("unparseable", f"cannot parse shell syntax: {exc}", text, cx.via)
            self._partial(parser.done, cx)
            return
        except _Bound:
            self._partial(parser.done, cx)
            raise
        # each script has its own variables; what the one around it assigned may be in the env
        outer = cx.vars
        words = outer.env_words() if outer is not None else ()
        env = _merge_env(words, cx.env) if words else cx.env
        sv = _script_vars(text, nodes, parser.done, parser.bg) if "=" in text else _Vars()
        self.walk_list(nodes, _Cx(cx.via, cx.depth, cx.stdin, cx.tail, cx.pos, cx.pos_open, env,
                                  sv, cx.feed))

    def _partial(self, done: list[_Simple], cx: _Cx) -> None:
        """Report what parsed before an error, so a deny rule still sees it."""
        part = _Cx((*cx.via, "partial parse"), cx.depth, cx.stdin, env=cx.env)
        try:
            for nd in done:
                self.simple(nd, part)
        except _Bound:
            pass

    def walk_list(self, nodes: list[_Node], cx: _Cx) -> None:
        for nd in nodes:
            self.walk(nd, cx)

    def walk(self, nd: _Node, cx: _Cx) -> None:
        if isinstance(nd, _Simple):
            self.simple(nd, cx)
        elif isinstance(nd, _AndOr):
            for op, sub in nd.items:
                self.walk(sub, cx.child(op) if op else cx)
        elif isinstance(nd, _Pipe):
            for k, sub in enumerate(nd.cmds):
                self.walk(sub, cx.child("|", stdin=True) if k else cx)
        elif isinstance(nd, _Compound):
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
        else:  # the body runs when called, when variables may hold anything
            self.walk(nd.body, _Cx((*cx.via, f"function {nd.name}"), cx.depth, cx.stdin, env=cx.env))

    def redirs(self, redirs: list[_Redir], cx: _Cx) -> None:
        for r in redirs:
            if r.heredoc is None:
                self.expand(r.target, cx)
            elif r.heredoc.word is not None:
                self.expand(r.heredoc.word, cx)

    def simple(self, nd: _Simple, cx: _Cx) -> None:
        for a in nd.assigns:
            if a.assign == "IFS" and cx.pos is not None:
                self.add_opaque("unparseable", "changes IFS, so word splitting is unknown", a.source(), cx.via)
            if a.lit is None or a.arr:
                self.expand(a, cx)
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
        fields: list[_Field] = []
        for w in nd.words:
            if w.lit is not None and not w.brace:
                fields.append((w.lit, w.flags))
            else:
                fields.extend(self.expand(w, cx))
                if len(fields) > MAX_WORDS:
                    raise _Bound(f"more than {MAX_WORDS} words in one command")
        if fields:
            sub = cx if stdin == cx.stdin and feed is cx.feed else cx.with_env(cx.env, stdin, feed)
            w0 = nd.words[0].lit if not nd.words[0].brace else None
            self.command(fields, sub, lead, direct=w0 is not None)
            prog = _program(w0) if w0 is not None else ""
            if prog in _DECLARE:
                in_order = v is not None and id(nd) in v.top and not nd.assigns
                exports = prog == "export" or any(
                    w.lit is not None and w.lit[:1] == "-" and "x" in w.lit for w in nd.words[1:])
                for w in nd.words[1:]:
                    if w.assign is not None or (w.lit is not None and _ASSIGN.match(w.lit)):
                        name = self.assigned(w, cx, in_order).split("=", 1)[0].rstrip("+")
                    elif w.lit is not None and _NAME().fullmatch(w.lit):
                        name = w.lit
                    else:
                        continue
                    if exports and v is not None:
                        v.export(name)
            elif prog == "set" and v is not None and any(
                    w.lit == "allexport" or (w.lit is not None and w.lit[:1] == "-" and w.lit[:2] != "--"
                                             and "a" in w.lit) for w in nd.words[1:]):
                v.allexport = True
                v._words = None

    def assigned(self, w: _Word, cx: _Cx, in_order: bool | None) -> str:
        """Note an assignment word: the variable's value (``in_order``: an assignment the script
        runs in order; None: a prefix of a command, not a shell variable), the program it may
        start (GIT_SSH_COMMAND=...). Returns its NAME=value text."""
        value = _assign_value(w, cx)
        key = w.parts[0][1].split("=", 1)[0] if w.lit is None else w.lit.split("=", 1)[0]
        name = key.rstrip("+")
        text = f"{name}={value}" if value is not None else w.source()
        if name in _CMD_VARS:
            if value is not None:
                self.cmd_var(name, value, 0, cx)
            else:
                self.cmd_var(name, w.source().split("=", 1)[-1], _EXP, cx)
        if in_order is not None and cx.vars is not None:
            cx.vars.assign(name, value, text, in_order)
        return text

    def cmd_var(self, name: str, value: str, flag: int, cx: _Cx) -> None:
        """An environment variable naming a program that tools start (GIT_SSH_COMMAND, PAGER)."""
        kind = _CMD_VARS.get(name)
        if kind is None:
            return
        label = f"{name}="
        try:
            if kind == "opaque":
                raise _Unclear(f"{name} sets git configuration from the environment")
            if kind == "lessopen":
                value = value.lstrip("|-")
            parts = value.split(":") if kind == "browser" and ":" in value else [value]
            for part in parts:
                self.shell_text(part, flag, label, cx)
        except _Unclear as exc:
            self.add_opaque("unparseable", str(exc), f"{name}={value}", cx.via)

    def stdin_of(self, redirs: list[_Redir], cx: _Cx) -> tuple[bool, _Field | None]:
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
                feed = (w.lit + "\n", 0) if w.lit is not None and not w.brace else (w.source(), _EXP)
            elif r.heredoc is not None:
                hd = r.heredoc
                stdin = True
                if hd.word is None:
                    feed = (hd.body, 0)
                else:
                    feed = (hd.word.lit, 0) if hd.word.lit is not None else (hd.body, _EXP)
            else:
                stdin = stdin or r.feeds
                feed = None
        return stdin, feed

    def expand(self, w: _Word, cx: _Cx) -> list[_Field]:
        if w.lit is not None and not w.brace and not w.arr:
            return [(w.lit, w.flags)]
        for p in w.parts:
            for label, nodes in p[3]:
                self.walk_list(nodes, cx.child(label, cx.stdin or label == ">()"))
        if w.arr:
            for x in w.arr:
                self.expand(x, cx)
            return [(w.parts[0][1], 0)]
        if w.brace:
            out: list[_Field] = []
            for alt in _brace_expand(w.parts, self):
                out.extend(self._fields(alt, cx))
            return out
        return self._fields(w.parts, cx)

    def _fields(self, parts: list[_Part], cx: _Cx) -> list[_Field]:
        """Bash word expansion of one word's parts: positional values, IFS splitting, flags."""
        out: list[_Field] = []
        cur: list[str] = []
        flag = 0
        has = False

        def close() -> None:
            nonlocal cur, flag, has
            if has:
                out.append(("".join(cur), flag))
                if len(out) > MAX_WORDS:
                    raise _Bound(f"more than {MAX_WORDS} words in one command")
            cur, flag, has = [], 0, False

        for kind, text, quoted, _subs, name in parts:
            if kind == _LIT:
                cur.append(text)
                has = has or quoted or bool(text)
                if not quoted and _has_glob(text):
                    flag |= _GLOB
            elif kind == _PARAM:
                vals = _param_values(name, cx)
                if vals:
                    self.grow(sum(len(v) + 1 for v, _ in vals))
                if vals is None:
                    cur.append(text)
                    has = True
                    flag |= _EXP if quoted else _EXP | _SPLIT
                elif quoted:
                    if name == "@":
                        for k, (v, f) in enumerate(vals):
                            if k:
                                close()
                            cur.append(v)
                            has = True
                            flag |= f
                    else:
                        cur.append(" ".join(v for v, _ in vals))
                        has = True
                        for _, f in vals:
                            flag |= f
                else:
                    for k, (v, f) in enumerate(vals):
                        if k:
                            close()
                        if not v:
                            continue
                        if v[0] in " \t\n":
                            close()
                        for j, tok in enumerate(t for t in _IFS_SPLIT().split(v) if t):
                            if j:
                                close()
                            cur.append(tok)
                            has = True
                            flag |= f | (_GLOB if _has_glob(tok) else 0)
                        if v[-1] in " \t\n":
                            close()
            else:
                cur.append(text)
                has = True
                flag |= _EXP | _PROC if kind == _PSUB else (_EXP if quoted else _EXP | _SPLIT)
        close()
        return out

    # -- one simple command

    def command(self, words: list[_Field], cx: _Cx, lead: tuple[str, ...] = (),
                direct: bool = False) -> None:
        """One simple command (its words expanded); ``lead``: NAME=value prefixes written before
        it; ``direct``: the shell runs it as written in the script (not through a wrapper)."""
        self.tick()
        k = 0
        n = len(words)
        while k < n:
            m = _ASSIGN.match(words[k][0])
            if m is None:
                break
            if m.group(1) == "IFS" and cx.pos is not None:
                self.add_opaque("unparseable", "changes IFS, so word splitting is unknown", words[k][0], cx.via)
            if m.group(1) in _CMD_VARS:
                self.cmd_var(m.group(1), words[k][0][m.end() :], words[k][1], cx)
            k += 1
        if k:
            lead = (*lead, *(t for t, _ in words[:k]))
        if k == n:
            return
        if k:
            words = words[k:]
        name0, f0 = words[0]
        if f0 & (_EXP | _PROC):
            self.add_opaque("unparseable", "the command name comes from a variable or substitution",
                            name0, cx.via)
            return
        if f0 & _GLOB:
            self.add_opaque("unparseable", "the command name is a glob pattern", name0, cx.via)
            return
        name = _program(name0)
        if not name:
            return
        if _bad_name(name):
            self.add_opaque("unparseable", "the command name holds control characters or undecodable bytes",
                            name.encode("unicode_escape").decode("ascii"), cx.via)
            return
        argv = (name, *[t for t, _ in words[1:]])
        dyn = tuple(j for j, (_, f) in enumerate(words) if f & (_EXP | _GLOB))
        if cx.tail:  # xargs/parallel append words read at run time
            argv = (*argv, INPUT_WORD)
            dyn = (*dyn, len(argv) - 1)
        v = cx.vars
        if lead:
            cx = cx.with_env(_merge_env(cx.env, lead), cx.stdin, cx.feed)
        env = cx.env
        if v is not None and (v.exported or v.allexport):
            shell_env = v.env_words()
            if shell_env:
                env = _merge_env(shell_env, cx.env) if cx.env else shell_env
        self.emit(argv, cx.via, dyn, env)
        low = name.lower()
        if low != name:
            self.emit((low, *argv[1:]), cx.via, dyn, env)
        if v is not None and not direct and not v.off and (
                low in ("export", "readonly") or _sets_vars(low, argv[1:])):
            v.off = True  # assigns variables where _script_vars could not see it
        alias = self.aliases.get(name0)
        if alias is not None and name0 not in self._expanding:
            # bash expands aliases only with expand_aliases (zsh always): check the expansion
            # whenever a definition was seen. This only adds parts.
            import shlex

            args = " ".join(t if f & _EXP else shlex.quote(t) for t, f in words[1:])
            self._expanding.add(name0)
            try:
                self.script(f"{alias} {args}", cx.wrap(f"alias {name0}"))
            finally:
                self._expanding.discard(name0)
        handler = _HANDLERS.get(low)
        if handler is None and _PYTHON.fullmatch(low):
            handler = _h_python
        if handler is not None:
            try:
                handler(self, low, words, cx)
            except _Unclear as exc:
                self.add_opaque("unparseable", str(exc), " ".join(argv), cx.via)
        elif "--" in argv and low not in _NO_EXEC:
            # an unknown program given "-- CMD ARGS" may well run CMD (a wrapper not listed in
            # _HANDLERS): check it too. This only adds parts.
            j = argv.index("--", 1) if "--" in argv[1:] else 0
            rest = words[j + 1 :] if j else []
            if rest and not rest[0][1] & (_EXP | _GLOB | _PROC) and not rest[0][0].startswith("-"):
                self.command(rest, cx.wrap("-- (after)"))

    def shell_text(self, text: str, flag: int, label: str, cx: _Cx,
                   pos: tuple[_Field, ...] | None = None, pos_open: bool = False) -> None:
        if flag & _EXP:
            raise _Unclear(f"{label}: the shell code is not literal")
        self.script(text, cx.wrap(label, tail=False, pos=pos, pos_open=pos_open))


def _program(word: str) -> str:
    """Normalize a command name: no leading backslashes, basename of a path."""
    name = word.lstrip("\\") or word
    if "/" in name:
        base = name.rsplit("/", 1)[1]
        name = base or name
    return name


def _bad_name(name: str) -> bool:
    """Control characters or undecodable bytes (surrogates) in a command name. In ASCII these
    are exactly the characters isprintable() rejects, which spares compiling the regex."""
    if name.isascii():
        return not name.isprintable()
    return _BAD_NAME().search(name) is not None


def _param_values(name: str, cx: _Cx) -> list[_Field] | None:
    v = cx.vars
    if v is not None and not v.off:
        val = v.vals.get(name)
        if val is not None:
            return [(val, 0)]
    pos = cx.pos
    if pos is None:
        return None
    if name.isdigit():
        k = int(name)
        if k < len(pos):
            return [pos[k]]
        return None if cx.pos_open else []
    if cx.pos_open:
        return None
    if name in ("@", "*"):
        return list(pos[1:])
    if name == "#":
        return [(str(len(pos) - 1), 0)]
    return None


# -- wrappers and what they run -----------------------------------------------------------

_Handler: TypeAlias = Callable[[_Analyzer, str, list[_Field], _Cx], None]
_Found: TypeAlias = list[tuple[str, str, int]]

_DECLARE = _set("export readonly declare typeset local")
# Environment variables whose value is a command other programs start (git, less, man, sudo,
# xdg-open, ...): an assignment to one anywhere is analysed as shell text.
_CMD_VARS = {
    **dict.fromkeys(_set("GIT_SSH_COMMAND GIT_SSH GIT_EXTERNAL_DIFF GIT_PAGER PAGER GIT_EDITOR "
                         "EDITOR VISUAL GIT_SEQUENCE_EDITOR GIT_ASKPASS SSH_ASKPASS SUDO_ASKPASS "
                         "SUDO_EDITOR GIT_PROXY_COMMAND MANPAGER SYSTEMD_PAGER"), "sh"),
    "LESSOPEN": "lessopen", "LESSCLOSE": "lessopen", "BROWSER": "browser",
    "GIT_CONFIG_PARAMETERS": "opaque", "GIT_CONFIG_COUNT": "opaque",
}
# Programs that never run their operands: "-- WORDS" after them is not a command.
_NO_EXEC = _set("echo printf grep egrep fgrep rg ag ack ls cat rm cp mv mkdir rmdir touch chmod "
                "chown chgrp ln head tail wc sort uniq cut tr diff cmp test [ basename dirname "
                "realpath readlink stat file du df kill pkill pgrep printenv getopt jq yq tar zip "
                "unzip gzip gunzip tee less more which type true false : cd pushd popd mktemp "
                "install shred truncate")


class _Opts(Record):
    """getopt-style option table of a wrapper. Unknown options make the command opaque."""

    flags: str = ""  # short options without an argument
    args: str = ""  # short options with an argument (attached or next word)
    optattached: str = ""  # short options whose optional argument must be attached
    long_flags: frozenset[str] = frozenset()
    long_args: frozenset[str] = frozenset()  # argument after '=' or in the next word
    long_optional: frozenset[str] = frozenset()  # optional argument, only after '='
    numeric: bool = False  # nice: -5 / --5
    lenient: int = 0  # 1: unknown --opt=value is fine; 2: any unknown --opt is a switch


def _o(flags: str = "", args: str = "", lf: str = "", la: str = "", lo: str = "",
       optattached: str = "", numeric: bool = False, lenient: int = 0) -> _Opts:
    return _Opts(flags, args, optattached, frozenset(lf.split()), frozenset(la.split()),
                 frozenset(lo.split()), numeric, lenient)


def _parse_opts(words: list[_Field], i: int, spec: _Opts, name: str) -> tuple[int, _Found]:
    """Skip a wrapper's options; return the index of its first operand and what was seen."""
    found: _Found = []
    n = len(words)
    while i < n:
        t, f = words[i]
        if f & _EXP:
            raise _Unclear(f"{name}: an option or the command is not literal ({t})")
        if t == "--":
            return i + 1, found
        if len(t) < 2 or t[0] != "-":
            return i, found
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key in spec.long_args:
                if eq:
                    found.append((key, val, f))
                elif i + 1 < n:
                    i += 1
                    if words[i][1] & _SPLIT:
                        raise _Unclear(f"{name}: the value of {key} may split into several words")
                    found.append((key, words[i][0], words[i][1]))
                else:
                    return n, found
            elif key in spec.long_flags or key in spec.long_optional:
                found.append((key, val, f))
            elif spec.numeric and t[2:].isdigit():
                found.append(("-n", t[2:], f))
            elif spec.lenient >= 2 or (spec.lenient and eq):
                found.append((key, val, f))
            else:
                raise _Unclear(f"{name}: unrecognised option {key}")
            i += 1
            continue
        j = 1
        while j < len(t):
            ch = t[j]
            if ch in spec.args:
                if j + 1 < len(t):
                    found.append(("-" + ch, t[j + 1 :], f))
                elif i + 1 < n:
                    i += 1
                    if words[i][1] & _SPLIT:
                        raise _Unclear(f"{name}: the value of -{ch} may split into several words")
                    found.append(("-" + ch, words[i][0], words[i][1]))
                else:
                    return n, found
                break
            if ch in spec.optattached:
                found.append(("-" + ch, t[j + 1 :], f))
                break
            if ch in spec.flags:
                found.append(("-" + ch, "", f))
                j += 1
                continue
            if spec.numeric and t[j:].isdigit():
                found.append(("-n", t[j:], f))
                break
            raise _Unclear(f"{name}: unrecognised option -{ch}")
        i += 1
    return i, found


def _seen(found: _Found, *names: str) -> bool:
    return any(o in names for o, _, _ in found)


def _run(an: _Analyzer, words: list[_Field], i: int, label: str, cx: _Cx, *,
         stdin: bool | None = None, tail: bool | None = None) -> None:
    if i >= len(words):
        if cx.tail:
            raise _Unclear(f"{label}: the command to run comes from input")
        return
    an.command(words[i:], cx.wrap(label, stdin=stdin, tail=tail))


def _wrapper(spec: _Opts, operands: int = 0, none_if: str = "") -> _Handler:
    """A command that runs the rest of its argv after options and ``operands`` fixed words."""
    stop = frozenset(none_if.split())

    def handler(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
        i, found = _parse_opts(words, 1, spec, name)
        if any(o in stop for o, _, _ in found):
            return
        for _ in range(operands):
            if i >= len(words):
                return _run(an, words, i, name, cx)
            if words[i][1] & _EXP:
                raise _Unclear(f"{name}: an operand is not literal ({words[i][0]})")
            i += 1
        _run(an, words, i, name, cx)

    return handler


_O_SUDO = _o("ABbEeHiKklNnPSsVv", "aCcDgpRrTtUu", optattached="h",
             lf="--askpass --background --bell --edit --help --login --list --non-interactive "
                "--preserve-groups --remove-timestamp --reset-timestamp --set-home --shell "
                "--stdin --validate --version --no-update",
             la="--auth-type --chdir --chroot --close-from --command-timeout --group --host "
                "--login-class --other-user --prompt --role --type --user",
             lo="--preserve-env")


def _h_sudo(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_SUDO, name)
    if _seen(found, "-e", "--edit"):
        return  # sudoedit: the operands are files
    if _seen(found, "-s", "--shell", "-i", "--login"):
        rest = words[i:]
        while rest and _ASSIGN.match(rest[0][0]):
            rest = rest[1:]
        if not rest:
            return _reads_stdin(f"{name}'s shell", cx, an, "shell")
        flag = 0
        for _, f in rest:
            flag |= f
        an.shell_text(" ".join(t for t, _ in rest), flag, f"{name} -s", cx)
        return
    _run(an, words, i, name, cx)


_O_DOAS = _o("nsL", "aCu")


def _h_doas(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_DOAS, name)
    if _seen(found, "-s") and i >= len(words):
        return _reads_stdin(f"{name}'s shell", cx, an, "shell")
    _run(an, words, i, name, cx)


_O_ENV = _o("i0v", "uCSa", lf="--ignore-environment --null --debug --list-signal-handling --help --version",
            la="--unset --chdir --split-string --argv0",
            lo="--block-signal --default-signal --ignore-signal")


def _h_env(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i = 1
    while True:
        i, found = _parse_opts(words, i, _O_ENV, name)
        split = [(v, f) for o, v, f in found if o in ("-S", "--split-string")]
        if split:
            import shlex

            new: list[_Field] = [("env", 0)]
            for v, f in split:
                if f & _EXP:
                    raise _Unclear("env -S: the string is not literal")
                try:
                    toks = shlex.split(v)
                except ValueError as exc:
                    raise _Unclear(f"env -S: cannot split the string: {exc}") from None
                new.extend((t, _EXP if "$" in t else 0) for t in toks)
            new.extend(words[i:])
            return _h_env(an, name, new, cx.wrap("env -S"))
        if i < len(words) and words[i][0] == "-":  # a lone '-' means -i
            i += 1
            continue
        # GNU env stops at the first NAME=value; reading on is stricter (and harmless)
        j = i
        while j < len(words) and _ASSIGN.match(words[j][0]):
            j += 1
        if j > i and j < len(words) and words[j][0].startswith("-"):
            i = j
            continue
        break
    _run(an, words, i, name, cx)


_O_COMMAND = _o("pvV")


def _h_command(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_COMMAND, name)
    if not _seen(found, "-v", "-V"):  # -v/-V only look a name up
        _run(an, words, i, name, cx)


_O_FLOCK = _o("sexunoFvh", "wEc", lf="--shared --exclusive --unlock --nonblock --nb --close "
              "--no-fork --verbose --help", la="--timeout --wait --conflict-exit-code --command")


def _h_flock(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_FLOCK, name)
    for o, v, f in found:
        if o in ("-c", "--command"):
            return an.shell_text(v, f, f"{name} -c", cx)
    if i >= len(words):
        return
    if words[i][1] & _SPLIT:
        raise _Unclear(f"{name}: the lock file may split into several words")
    i += 1
    if i < len(words) and words[i][0] in ("-c", "--command"):
        if i + 1 < len(words):
            an.shell_text(words[i + 1][0], words[i + 1][1], f"{name} -c", cx)
        return
    if i < len(words):
        _run(an, words, i, name, cx)


_O_WATCH = _o("bcCeghprtwx", "nq", optattached="d",
              lf="--beep --color --no-color --errexit --chgexit --precise --no-rerun --no-title "
                 "--no-wrap --no-linewrap --exec --help --version",
              la="--interval --equexit", lo="--differences")


def _h_watch(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_WATCH, name)
    if _seen(found, "-x", "--exec"):
        return _run(an, words, i, name, cx)
    rest = words[i:]
    if rest:
        flag = 0
        for _, f in rest:
            flag |= f
        an.shell_text(" ".join(t for t, _ in rest), flag, f"{name} (sh -c)", cx)


_O_XARGS = _o("0prtxo", "aEdILnPs", optattached="eil",
              lf="--null --interactive --no-run-if-empty --verbose --exit --open-tty --show-limits "
                 "--help --version",
              la="--arg-file --delimiter --max-args --max-procs --max-chars --process-slot-var",
              lo="--eof --replace --max-lines")


def _h_xargs(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_XARGS, name)
    repl = None
    for o, v, _f in found:
        if o in ("-I", "--replace", "-i"):
            repl = v or "{}"
    rest = words[i:] or [("echo", 0)]
    if repl is not None:
        rest = [(t, f | _EXP if repl in t else f) for t, f in rest]
    # xargs gives its command /dev/null as stdin and appends input words unless -I is used
    an.command(rest, cx.wrap(name, stdin=False, tail=repl is None))


_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def _h_find(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
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
        cmd = [(w, f | _EXP if "{}" in w else f) for w, f in words[i + 1 : j]]
        if cmd:
            an.command(cmd, cx.wrap(f"{name} {t}", tail=False))
        i = j + 1


_FD_EXEC = frozenset({"-x", "--exec", "-X", "--exec-batch"})


def _h_fd(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    for i, (t, _f) in enumerate(words):
        if t in _FD_EXEC or t.startswith(("--exec=", "--exec-batch=")):
            end = next((j for j in range(i + 1, len(words)) if words[j][0] in (";", "\\;")), len(words))
            cmd = [(w, f | _EXP if "{" in w and "}" in w else f) for w, f in words[i + 1 : end]]
            if cmd:
                an.command(cmd, cx.wrap(f"{name} {t}", tail=False))


def _h_busybox(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    if len(words) > 1 and not words[1][0].startswith("-"):
        _run(an, words, 1, name, cx)


def _h_bang(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    _run(an, words, 1, name, cx)


# -- shells and interpreters

_SHELLS = _set("sh bash zsh dash ksh mksh fish ash yash posh rbash ksh93 pdksh oksh loksh "
                    "csh tcsh")
_STDIN_PATHS = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def _reads_stdin(name: str, cx: _Cx, an: _Analyzer | None = None, kind: str = "") -> None:
    """``name`` runs what its stdin holds. A here-document or here-string is read: as a script
    (``kind`` "shell") or reported as code ("code"); other data on stdin is opaque."""
    if cx.stdin:
        if cx.feed is not None and an is not None and kind:
            text, flag = cx.feed
            if flag & _EXP:
                raise _Unclear(f"the here-document fed to {name} is not literal")
            if kind == "code":
                an.add_opaque("code", f"{name} runs the here-document or here-string on its stdin as code", text, cx.via)
                return
            inner = cx.wrap(f"{name} <<", stdin=True, tail=False, pos=None)
            inner.feed = None  # commands in it read the rest of the script
            an.script(text, inner)
            return
        raise _Unclear(f"input is piped or fed into {name}, which runs it as code")
    if cx.tail:
        raise _Unclear(f"{name} would run code named by its input")


def _script_operand(name: str, word: _Field, cx: _Cx, always: bool = False,
                    an: _Analyzer | None = None, kind: str = "") -> None:
    """Check the program file an interpreter runs; ``always``: stdin paths are opaque even
    when nothing is piped (``source /dev/stdin``)."""
    t, f = word
    if f & _PROC:
        raise _Unclear(f"{name} runs code from a process substitution")
    if t in _STDIN_PATHS:
        if always:
            raise _Unclear(f"{name} runs code read from stdin")
        _reads_stdin(name, cx, an, kind)
    elif t.startswith(("/dev/fd/", "/proc/self/fd/")):
        raise _Unclear(f"{name} runs code from a file descriptor")


def _h_shell(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    cmd = stdin_mode = False
    while i < n:
        t, f = words[i]
        if f & _EXP:
            if cmd:
                break  # the shell code itself; checked below
            if f & _PROC:
                raise _Unclear(f"{name} runs code from a process substitution")
            raise _Unclear(f"{name}: an option or the script is not literal ({t})")
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
                raise _Unclear(f"{name} -c: the shell code comes from input")
            return
        pos = tuple(rest[1:]) if len(rest) > 1 else ((name, 0),)
        an.shell_text(rest[0][0], rest[0][1], f"{name} -c", cx, pos, cx.tail)
        return
    if stdin_mode or not rest:
        _reads_stdin(name, cx, an, "shell")
        return
    _script_operand(name, rest[0], cx, an=an, kind="shell")


class _Interp(Record):
    code: str = ""  # letters whose argument is inline code
    arg: str = ""  # letters taking the rest of the word or the next word
    rest: str = ""  # letters taking the rest of the word only
    digits: str = ""  # letters taking only the digits after them
    script: str = ""  # letters whose argument is the program file
    long_code: frozenset[str] = frozenset()
    long_arg: frozenset[str] = frozenset()


def _code(an: _Analyzer, name: str, opt: str, word: _Field, cx: _Cx) -> None:
    if word[1] & _EXP:
        raise _Unclear(f"{name} {opt}: the code is not literal")
    an.add_opaque("code", f"{name} {opt} runs inline code", word[0], cx.via)


def _interp(spec: _Interp) -> _Handler:
    """An interpreter: inline code is reported as code, stdin programs fed data are opaque."""

    def handler(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
        i, n = 1, len(words)
        codes: list[tuple[str, _Field]] = []
        has_script = False
        while i < n:
            t, f = words[i]
            if t == "--":
                i += 1
                break
            if len(t) < 2 or t[0] != "-":
                break
            if f & _EXP:
                raise _Unclear(f"{name}: an option is not literal ({t})")
            if t.startswith("--"):
                key, eq, val = t.partition("=")
                if key in spec.long_code:
                    if eq:
                        codes.append((key, (val, f)))
                    elif i + 1 < n:
                        i += 1
                        codes.append((key, words[i]))
                elif key in spec.long_arg and not eq:
                    i += 1
                i += 1
                continue
            j = 1
            while j < len(t):
                ch = t[j]
                if ch in spec.code or ch in spec.arg or ch in spec.script:
                    arg: _Field | None = None
                    if j + 1 < len(t):
                        arg = (t[j + 1 :], f)
                    elif i + 1 < n:
                        i += 1
                        arg = words[i]
                    if ch in spec.code and arg is not None:
                        codes.append(("-" + ch, arg))
                    has_script = has_script or ch in spec.script
                    break
                if ch in spec.rest:
                    break
                j += 1
                if ch in spec.digits:
                    while j < len(t) and "0" <= t[j] <= "9":
                        j += 1
            i += 1
        if codes:
            for opt, code in codes:
                _code(an, name, opt, code, cx)
            return
        if has_script:
            return
        if i >= n:
            _reads_stdin(name, cx, an, "code")
        else:
            _script_operand(name, words[i], cx, an=an, kind="code")

    return handler


def _h_python(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if f & _EXP:
            raise _Unclear(f"{name}: an option is not literal ({t})")
        if t.startswith("--"):
            i += 2 if t == "--check-hash-based-pycs" else 1
            continue
        j = 1
        while j < len(t):
            ch = t[j]
            if ch in "cm":
                if j + 1 < len(t):
                    val: _Field = (t[j + 1 :], f)
                elif i + 1 < n:
                    val = words[i + 1]
                else:
                    return
                if ch == "c":
                    _code(an, name, "-c", val, cx)
                elif val[0] == "agentgate":  # python -m agentgate ...: the same as agentgate ...
                    after = i + 2 if j + 1 == len(t) else i + 1
                    _h_agentgate(an, "agentgate", [("agentgate", 0), *words[after:]], cx)
                return  # -m: an ordinary module run
            if ch in "WX":
                if j + 1 == len(t):
                    i += 1
                break
            j += 1
        i += 1
    if i >= n:
        _reads_stdin(name, cx, an, "code")
    else:
        _script_operand(name, words[i], cx, an=an, kind="code")



def _h_agentgate(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``agentgate [--policy P] run [--json] [--agent N] [--] CMD``: CMD runs under another gate
    (maybe with another policy), so this gate checks it too."""
    i, n = 1, len(words)
    while i < n and words[i][0].startswith("--policy"):
        i += 2 if words[i][0] == "--policy" else 1
    if i >= n or words[i][0] != "run":
        return
    i += 1
    while i < n:
        t = words[i][0]
        if t == "--":
            i += 1
            break
        if t in ("--agent",):
            i += 2
        elif t.startswith("-"):
            i += 1
        else:
            break
    _run(an, words, i, "agentgate run", cx)


_NODE_CODE = frozenset({"-e", "--eval", "-p", "--print", "-pe", "-ep"})
_NODE_ARG = _set("-r --require --import --loader --experimental-loader -C --conditions "
                      "--input-type --title --env-file --inspect-port --disable-warning "
                      "--watch-path --redirect-warnings --test-name-pattern --test-reporter "
                      "--test-reporter-destination")


def _h_node(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    codes: list[_Field] = []
    while i < n:
        t, f = words[i]
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if f & _EXP:
            raise _Unclear(f"{name}: an option is not literal ({t})")
        key, eq, val = t.partition("=")
        if key in _NODE_CODE:
            if eq:
                codes.append((val, f))
            elif i + 1 < n:
                i += 1
                codes.append(words[i])
        elif key in _NODE_ARG and not eq:
            i += 1
        i += 1
    if codes:
        for c in codes:
            _code(an, name, "-e", c, cx)
    elif i >= n:
        _reads_stdin(name, cx, an, "code")
    else:
        _script_operand(name, words[i], cx, an=an, kind="code")


def _h_awk(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    program_file = False
    while i < n:
        t, f = words[i]
        if t == "--":
            i += 1
            break
        if len(t) < 2 or t[0] != "-":
            break
        if f & _EXP:
            raise _Unclear(f"{name}: an option is not literal ({t})")
        if t in ("-e", "--source") and i + 1 < n:
            _code(an, name, t, words[i + 1], cx)
            program_file = True
            i += 2
            continue
        if t.startswith("--source="):
            _code(an, name, "--source", (t[9:], f), cx)
            program_file = True
        elif t in ("-f", "--file", "-E", "--exec") or t.startswith(("-f", "--file=", "--exec=")):
            program_file = True
            i += 1 if t not in ("-f", "--file", "-E", "--exec") else 2
            continue
        elif t in ("-v", "-F", "--assign", "--field-separator", "-i", "--include", "-l", "--load"):
            i += 1
        i += 1
    if not program_file and i < n:
        _code(an, name, "program", words[i], cx)


def _sed_regex_end(s: str, i: int, d: str) -> int:
    """Index after the delimiter ``d`` closing a sed regex that starts at ``i``; -1 if none."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == d:
            return i + 1
        if c == "[":  # a bracket expression may hold the delimiter
            j = i + 1
            if j < n and s[j] == "^":
                j += 1
            if j < n and s[j] == "]":
                j += 1
            while j < n and s[j] != "]":
                if s.startswith(("[:", "[.", "[="), j):
                    k = s.find(s[j + 1] + "]", j + 2)
                    j = n if k < 0 else k + 2
                    continue
                j += 1
            i = j + 1
            continue
        if c == "\n" and d != "\n":
            return -1
        i += 1
    return -1


def _sed_executes(s: str) -> bool:
    """Does a sed script use GNU sed's ``e`` command or the ``e`` flag of ``s///``? Read like
    sed reads it; anything not understood counts as yes."""
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in " \t\n;}{!":
            i += 1
            continue
        if c == "#":
            j = s.find("\n", i)
            i = n if j < 0 else j
            continue
        # an address: line number, first~step, $, /regex/ or \cregexc (+ I/M), +N / ~N
        if c.isdigit() or c in "$+~":
            i += 1
            while i < n and (s[i].isdigit() or s[i] == "~"):
                i += 1
            continue
        if c == "/" or c == "\\":
            if c == "\\":
                if i + 1 >= n:
                    return True
                d, i = s[i + 1], i + 2
            else:
                d, i = "/", i + 1
            i = _sed_regex_end(s, i, d)
            if i < 0:
                return True
            while i < n and s[i] in "IM":
                i += 1
            continue
        if c == ",":
            i += 1
            continue
        if c == "e":
            return True
        if c in "sy":
            if i + 1 >= n or s[i + 1] in "\n\\":
                return True
            d = s[i + 1]
            i = _sed_regex_end(s, i + 2, d)
            if i < 0:
                return True
            i = _sed_regex_end(s, i, d) if c == "s" else s.find(d, i) + 1
            if i <= 0:
                return True
            while c == "s" and i < n and s[i] not in ";\n}":
                if s[i] == "e":
                    return True
                if s[i] == "w":  # the rest of the line is a file name
                    j = s.find("\n", i)
                    i = n if j < 0 else j
                    break
                i += 1
            continue
        if c in "aicrRwWbtTv:":  # the rest of the line is text, a file name or a label
            j = s.find("\n", i)
            if c in "btTv:":
                k = s.find(";", i)
                j = k if k >= 0 and (j < 0 or k < j) else j
            while c in "aic" and j >= 0 and j > 0 and s[j - 1] == "\\":
                j = s.find("\n", j + 1)
            i = n if j < 0 else j
            continue
        if c in "=dDgGhHlLnNpPqQxzF":
            i += 1
            continue
        return True
    return False


def _h_sed(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """GNU sed's ``e`` command and ``s///e`` flag run shell commands nobody can see here."""
    exprs: list[_Field] = []
    operands: list[_Field] = []
    has_file = False
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t == "--":
            operands.extend(words[i + 1 :])
            break
        if t.startswith("--"):
            key, eq, val = t.partition("=")
            if key == "--sandbox":
                return  # e, r and w are refused
            if key in ("--expression", "--file", "--line-length"):
                if not eq and i + 1 < n:
                    i += 1
                    val, f = words[i]
                if key == "--expression":
                    exprs.append((val, f))
                has_file = has_file or key == "--file"
            i += 1
            continue
        if len(t) >= 2 and t[0] == "-":
            for j in range(1, len(t)):
                ch = t[j]
                if ch in "efl":
                    arg: _Field = (t[j + 1 :], f)
                    if j + 1 == len(t) and i + 1 < n:
                        i += 1
                        arg = words[i]
                    if ch == "e":
                        exprs.append(arg)
                    has_file = has_file or ch == "f"
                    break
                if ch == "i":
                    break  # -i[SUFFIX]
            i += 1
            continue
        operands.append(words[i])
        i += 1
    if not exprs and not has_file and operands:
        exprs.append(operands[0])
    for text, _f in exprs:
        if _sed_executes(text):
            raise _Unclear("sed e executes its input as a command")


def _h_pwsh(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & _EXP:
            raise _Unclear(f"{name}: an argument is not literal ({t})")
        key = t.lower().lstrip("-/")
        if t[:1] in "-/" and key:
            if "command".startswith(key):
                rest = words[i + 1 :]
                if not rest or rest[0][0] == "-":
                    return _reads_stdin(name, cx)
                flag = 0
                for _, g in rest:
                    flag |= g
                return _code(an, name, "-Command", (" ".join(w for w, _ in rest), flag), cx)
            if "encodedcommand".startswith(key) or key in ("ec", "e"):
                raise _Unclear(f"{name} runs an encoded command")
            if "file".startswith(key):
                return
            if key in ("executionpolicy", "ex", "ep", "workingdirectory", "wd", "windowstyle", "w",
                       "inputformat", "inf", "if", "outputformat", "of", "o", "configurationname",
                       "config", "custompipename", "settingsfile", "version", "v"):
                i += 1
            i += 1
            continue
        if name.startswith("powershell"):
            return _code(an, name, "-Command", (" ".join(w for w, _ in words[i:]), f), cx)
        return
    _reads_stdin(name, cx)


def _h_deno(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    if len(words) < 2:
        return
    sub = words[1][0]
    rest = [w for w in words[2:] if not w[0].startswith("-")]
    if sub == "eval" and rest:
        _code(an, name, "eval", rest[0], cx)
    elif sub == "run":
        for k in range(2, len(words)):
            t, f = words[k]
            if t.startswith("-") and t != "-":
                continue
            if t.startswith("npm:"):
                return _tool(an, words, k, f"{name} run", cx)
            return _script_operand(name, (t, f), cx, an=an, kind="code")


def _h_source(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i = 2 if len(words) > 2 and words[1][0] == "--" else 1
    if i < len(words):
        _script_operand(name, words[i], cx, always=True)


def _h_eval(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    rest = words[2:] if len(words) > 1 and words[1][0] == "--" else words[1:]
    if not rest:
        return
    for t, f in rest:
        if f & (_EXP | _PROC):
            raise _Unclear(f"eval of a string that is not literal ({t})")
    an.script(" ".join(t for t, _ in rest), cx.wrap("eval", tail=False))


def _h_trap(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    ops = [w for w in words[1:] if not w[0].startswith("-")]
    if len(ops) >= 2 and ops[0][0]:
        an.shell_text(ops[0][0], ops[0][1], "trap", cx)


def _h_alias(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    for t, f in words[1:]:
        key, eq, val = t.partition("=")
        if eq and val:
            an.shell_text(val, f, f"alias {key}", cx)
            an.aliases[key] = val  # later uses of `key` are checked as `val ...` too


def _h_hash(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    if any(t.startswith("-") and "p" in t for t, _ in words[1:]):
        raise _Unclear("hash -p makes a command name run another program")


def _h_positional(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """set/shift/declare inside sh -c with known arguments: substitution may be wrong after."""
    if cx.pos is None:
        return
    args = [t for t, _ in words[1:]]
    if name == "shift":
        raise _Unclear("shift changes the positional parameters")
    if name == "set":
        k = 0
        while k < len(args):
            a = args[k]
            if len(a) > 1 and a[0] in "-+" and a != "--":
                k += 1 + a.count("o", 1)
                continue
            raise _Unclear("set changes the positional parameters")
        return
    if any(a == "IFS" or a.startswith(("IFS=", "IFS+=")) for a in args):
        raise _Unclear("changes IFS, so word splitting is unknown")


def _h_su(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t in ("-c", "--command", "--session-command") and i + 1 < n:
            return an.shell_text(words[i + 1][0], words[i + 1][1], f"{name} -c", cx)
        for key in ("--command=", "--session-command="):
            if t.startswith(key):
                return an.shell_text(t[len(key) :], f, f"{name} -c", cx)
        if len(t) > 2 and t[0] == "-" and t[1] != "-" and "c" in t:
            k = t.index("c")
            if not any(ch in "gGsw" for ch in t[1:k]):
                if k + 1 < len(t):
                    return an.shell_text(t[k + 1 :], f, f"{name} -c", cx)
                if i + 1 < n:
                    return an.shell_text(words[i + 1][0], words[i + 1][1], f"{name} -c", cx)
        if t in ("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"):
            i += 1
        i += 1
    _reads_stdin(f"{name}'s shell", cx, an, "shell")


def _h_sg(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    rest = [w for w in words[1:] if w[0] not in ("-", "-c")]
    if len(rest) >= 2:
        flag = 0
        for _, f in rest[1:]:
            flag |= f
        an.shell_text(" ".join(t for t, _ in rest[1:]), flag, f"{name} -c", cx)


_O_SCRIPT = _o("aefqkE", "cEomIOBT", optattached="t",
               lf="--append --return --flush --force --quiet --logging-format --echo",
               la="--command --echo --output-limit --log-in --log-out --log-io --log-timing "
                  "--logging-format", lo="--timing")


def _h_script(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_SCRIPT, name)
    for o, v, f in found:
        if o in ("-c", "--command"):
            return an.shell_text(v, f, f"{name} -c", cx)
    if len(words) - i >= 2:  # BSD: script [file [command ...]]
        return _run(an, words, i + 1, name, cx)
    _reads_stdin(f"{name}'s shell", cx, an, "shell")


_O_SSH = _o("46AaCfGgKkMNnqsTtVvXxYy", "BbcDEeFIiJLlmOoPpQRSWw")


def _h_ssh(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_SSH, name)
    if i < len(words) and not (i > 1 and words[i - 1][0] == "--"):
        j, more = _parse_opts(words, i + 1, _O_SSH, name)  # ssh reads options after the host too
        found += more
        rest = words[j:]
    else:
        rest = words[i + 1 :]
    for o, v, f in found:
        if o == "-o":
            v = v.strip()
            cut = min((k for k in (v.find("="), v.find(" "), v.find("\t")) if k > 0), default=len(v))
            key, val = v[:cut].strip(), v[cut:].strip().lstrip("=").strip()
            if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
                an.shell_text(val, f, f"{name} -o {key}", cx)
    if i >= len(words) or _seen(found, "-N"):
        return
    if not rest:
        return _reads_stdin(f"{name} (remote shell)", cx, an, "shell")
    flag = 0
    for _, f in rest:
        flag |= f
    an.shell_text(" ".join(t for t, _ in rest), flag, f"{name} (remote)", cx)


def _h_rsync(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    for k, (t, f) in enumerate(words):
        if t in ("-e", "--rsh") and k + 1 < len(words):
            an.shell_text(words[k + 1][0], words[k + 1][1], f"{name} -e", cx)
        elif t.startswith("--rsh="):
            an.shell_text(t[6:], f, f"{name} -e", cx)


def _h_at(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    if not any(t == "-f" or t.startswith("-f") for t, _ in words[1:]):
        if any(t in ("-l", "-r", "-d", "-c") for t, _ in words[1:]):
            return
        _reads_stdin(name, cx, an, "shell")


_O_PARALLEL = _o("0kqvtuXmeg", "jSadEILnNPsx", lenient=1,
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


def _h_parallel(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """GNU parallel (and sem): the command is shell text; each job appends one argument from
    every ::: group (or puts it where replacement strings such as {} stand)."""
    i, found = _parse_opts(words, 1, _O_PARALLEL, name)
    seps = {":::", "::::", ":::+", "::::+"}
    end = next((k for k in range(i, len(words)) if words[k][0] in seps), len(words))
    cmd = words[i:end]
    if cmd:
        if "{" in cmd[0][0]:
            raise _Unclear(f"{name}: the command comes from its arguments")
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
                raise _Unclear(f"{name}: {o} makes the command text unknown")
        if any(o in _PARALLEL_MULTI for o, _, _ in found):
            values = None  # several arguments per job
        elif end < len(words) and words[end][0] == ":::":
            group = words[end + 1 :]
            values = [t for t, f in group] if not any(t in seps or f & _EXP for t, f in group) else None
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
    _reads_stdin(name, cx, an, "shell")


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
            raise _Unclear("parallel: a {= perl expression =} makes the command text unknown")
        else:
            out.append(text[k : b + 1])
            k = b + 1


# -- package runners

def _tool_name(word: str) -> str:
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


def _tool(an: _Analyzer, words: list[_Field], i: int, label: str, cx: _Cx) -> None:
    if i >= len(words):
        if cx.tail:
            raise _Unclear(f"{label}: the tool to run comes from input")
        return
    t, f = words[i]
    if f & (_EXP | _GLOB):
        raise _Unclear(f"{label}: the tool name is not literal ({t})")
    an.command([(_tool_name(t), 0), *words[i + 1 :]], cx.wrap(label))


def _joined(an: _Analyzer, words: list[_Field], label: str, cx: _Cx) -> None:
    flag = 0
    for _, f in words:
        flag |= f
    if words:
        an.shell_text(" ".join(t for t, _ in words), flag, label, cx)


_O_NPX = _o("yqsd", "pcw", lenient=1,
            lf="--yes --no --quiet --silent --ignore-existing --no-install --prefer-offline "
               "--prefer-online --offline --workspaces --no-workspaces --include-workspace-root "
               "--legacy-peer-deps --verbose --global -g",
            la="--package --call --workspace --registry --cache --userconfig --loglevel "
               "--node-options --shell --script-shell")


def _npx_rest(an: _Analyzer, words: list[_Field], i: int, found: _Found, label: str, cx: _Cx) -> None:
    for o, v, f in found:
        if o in ("-c", "--call"):
            return an.shell_text(v, f, f"{label} -c", cx)
    _tool(an, words, i, label, cx)


def _h_npx(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_NPX, name)
    _npx_rest(an, words, i, found, name, cx)


def _skip_global(words: list[_Field], value_opts: frozenset[str]) -> int:
    """Index of a CLI's subcommand after its global options (unknown ones are switches)."""
    i = 1
    while i < len(words):
        t, f = words[i]
        if f & _EXP:
            raise _Unclear(f"an option or subcommand is not literal ({t})")
        if t == "--":
            return i + 1
        if not t.startswith("-") or t == "-":
            return i
        i += 2 if t in value_opts else 1
    return i


def _renormalized(an: _Analyzer, name: str, words: list[_Field], i: int, cx: _Cx) -> None:
    """Report ``name SUBCOMMAND ...`` without the global options in front."""
    if 1 < i < len(words):
        an.command([(name, 0), *words[i:]], cx.wrap(f"{name} options"))


_NPM_VALUE = _set("--prefix -C --workspace -w --registry --userconfig --cache --loglevel "
                       "--globalconfig --tag --otp")


def _h_npm(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i = _skip_global(words, _NPM_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return _renormalized(an, name, words, i, cx)
    if words[i][0] in ("exec", "x"):
        j, found = _parse_opts(words, i + 1, _O_NPX, "npm exec")
        _npx_rest(an, words, j, found, "npm exec", cx)


_PNPM_OWN = _set("add audit bin c cat-file cat-index config create dedupe deploy doctor env "
                      "fetch find-hash help i import init install install-test it licenses link "
                      "list ln ls outdated pack patch patch-commit patch-remove prune publish rb "
                      "rebuild recursive remove rm root server setup store t test un uninstall "
                      "unlink up update why self-update approve-builds ignored-builds start "
                      "completion")
_PNPM_VALUE = _set("-C --dir -F --filter --filter-prod --reporter --loglevel --workspace-concurrency")
_O_PNPM_EXEC = _o("crs", "F", lenient=2, lf="--shell-mode --recursive --parallel --silent",
                  la="--package --filter --allow-build --workspace-concurrency --reporter")


def _h_pnpm(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i = _skip_global(words, _PNPM_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return _renormalized(an, name, words, i, cx)
    sub = words[i][0]
    if sub in ("dlx", "exec", "run", "run-script"):
        j, found = _parse_opts(words, i + 1, _O_PNPM_EXEC, f"{name} {sub}")
        if _seen(found, "-c", "--shell-mode"):
            return _joined(an, words[j:], f"{name} {sub} -c", cx)
        _tool(an, words, j, f"{name} {sub}", cx)
    elif sub not in _PNPM_OWN:
        _tool(an, words, i, name, cx)


_YARN_VALUE = _set("--cwd --modules-folder --cache-folder --registry")
_O_YARN_RUN = _o("qT", "p", lenient=2, la="--package")
_YARN_OWN = _set("add audit autoclean bin cache check config constraints create dedupe explain "
                      "generate-lock-entry global help import info init install licenses link list "
                      "login logout npm outdated owner pack patch patch-commit plugin policies "
                      "publish rebuild remove search set stage tag team test unlink unplug up "
                      "upgrade upgrade-interactive version versions why workspaces")


def _h_yarn(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i = _skip_global(words, _YARN_VALUE)
    if i >= len(words):
        return
    if i > 1:
        return _renormalized(an, name, words, i, cx)
    sub = words[i][0]
    if sub == "workspace" and i + 2 < len(words):
        return an.command([(name, 0), *words[i + 2 :]], cx.wrap(f"{name} workspace"))
    if sub == "node":
        return an.command([("node", 0), *words[i + 1 :]], cx.wrap(f"{name} node"))
    if sub in ("dlx", "exec", "run"):
        j, _found = _parse_opts(words, i + 1, _O_YARN_RUN, f"{name} {sub}")
        return _tool(an, words, j, f"{name} {sub}", cx)
    if sub not in _YARN_OWN:
        _tool(an, words, i, name, cx)


_O_BUNX = _o("p", "", lenient=2, la="--package")
_BUN_RUN_VALUE = _set("--cwd --filter -F --env-file")
_BUN_OWN = _set("install i add a remove rm update outdated link unlink pm build test init create "
                     "c upgrade publish patch why audit info completions discord help repl")


def _h_bunx(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, _found = _parse_opts(words, 1, _O_BUNX, name)
    _tool(an, words, i, name, cx)


def _h_bun(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if t in ("-e", "--eval", "-p", "--print") and i + 1 < n:
            return _code(an, name, t, words[i + 1], cx)
        if t.startswith(("--eval=", "--print=")):
            return _code(an, name, t.split("=", 1)[0], (t.split("=", 1)[1], f), cx)
        if t in ("--cwd", "--filter", "-F", "--config", "-c", "--env-file", "--preload", "-r"):
            i += 2
            continue
        if not t.startswith("-"):
            break
        i += 1
    if i >= n:
        return
    sub = words[i][0]
    if sub == "x":
        j, _found = _parse_opts(words, i + 1, _O_BUNX, "bun x")
        _tool(an, words, j, "bun x", cx)
    elif sub == "exec":
        _joined(an, words[i + 1 :], "bun exec", cx)
    elif sub == "run":
        j = _skip_global([("", 0), *words[i + 1 :]], _BUN_RUN_VALUE)
        _tool(an, words, i + j, "bun run", cx)
    elif sub not in _BUN_OWN:
        _tool(an, words, i, name, cx)


_UV_ARGS = ("--from --with --with-editable --with-requirements --python --index --index-url "
            "--extra-index-url --find-links --constraints --overrides --cache-dir --config-file "
            "--directory --project --color --refresh-package --upgrade-package --reinstall-package "
            "--prerelease --resolution --exclude-newer --link-mode --python-preference "
            "--index-strategy --keyring-provider --config-setting --env-file --allow-insecure-host "
            "--default-index --package --extra --group --only-group --no-group --torch-backend")
_O_UV = _o("qvnU", "pfPC", lenient=2, la=_UV_ARGS)
_O_UVRUN = _o("qvnUsm", "pfPC", lenient=2, la=_UV_ARGS, lf="--module --script --gui-script")


def _h_uvx(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, _found = _parse_opts(words, 1, _O_UV, name)
    _tool(an, words, i, name, cx)


def _h_uv(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, _found = _parse_opts(words, 1, _O_UV, name)
    if i >= len(words):
        return
    sub = words[i][0]
    if sub == "tool" and i + 1 < len(words) and words[i + 1][0] == "run":
        j, _found = _parse_opts(words, i + 2, _O_UV, "uv tool run")
        return _tool(an, words, j, "uv tool run", cx)
    if sub == "run":
        j, found = _parse_opts(words, i + 1, _O_UVRUN, "uv run")
        if _seen(found, "-m", "--module"):
            return an.command([("python", 0), ("-m", 0), *words[j:]], cx.wrap("uv run"))
        _tool(an, words, j, "uv run", cx)


_O_PIPX = _o("eqv", lenient=1, la="--spec --python --pip-args --index-url --backend",
             lf="--no-cache --pypi --path --editable --system-site-packages "
                "--fetch-missing-python --quiet --verbose")


def _h_pipx(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    if len(words) > 1 and words[1][0] == "run":
        i, _found = _parse_opts(words, 2, _O_PIPX, "pipx run")
        _tool(an, words, i, "pipx run", cx)


def _subrunner(subs: str, pre: _Opts, post: _Opts, operands: int = 0) -> _Handler:
    """``TOOL [opts] run [opts] COMMAND...`` (poetry run, bundle exec, conda run, ...)."""
    names = frozenset(subs.split())

    def handler(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
        i, _found = _parse_opts(words, 1, pre, name)
        if i >= len(words) or words[i][0] not in names:
            return
        label = f"{name} {words[i][0]}"
        j, _found = _parse_opts(words, i + 1, post, label)
        _tool(an, words, j + operands, label, cx)

    return handler


_LENIENT = _o("qvnhV", "CPp", lenient=2, la="--directory --project --manifest-path --cwd")


def _h_nix_shell(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    for k, (t, _f) in enumerate(words):
        if t in ("--run", "--command") and k + 1 < len(words):
            an.shell_text(words[k + 1][0], words[k + 1][1], f"{name} {t}", cx)


def _h_nix(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    for k, (t, _f) in enumerate(words):
        if t in ("-c", "--command"):
            return _run(an, words, k + 1, f"{name} {t}", cx)
    ops = [k for k in range(1, len(words)) if not words[k][0].startswith("-")]
    if len(ops) >= 2 and words[ops[0]][0] == "run":  # nix run FLAKE#APP [-- ARGS]: APP's program
        t, f = words[ops[1]]
        if "#" in t and not f & _EXP:
            prog = t.split("#", 1)[1].rsplit(".", 1)[-1].strip('"')
            dash = next((k for k in range(ops[1] + 1, len(words)) if words[k][0] == "--"), None)
            args = words[dash + 1 :] if dash is not None else words[ops[1] + 1 :]
            if prog:
                an.command([(prog, 0), *args], cx.wrap(f"{name} run"))


_O_MISE = _o("qvy", "CEj", lenient=2, la="--cd --env --jobs --log-level --profile")


def _h_mise(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, _found = _parse_opts(words, 1, _O_MISE, name)
    if i < len(words) and words[i][0] in ("exec", "x"):
        for k in range(i + 1, len(words)):
            t = words[k][0]
            if t == "--":
                return _run(an, words, k + 1, f"{name} exec", cx)
            if t in ("-c", "--command") and k + 1 < len(words):
                return an.shell_text(words[k + 1][0], words[k + 1][1], f"{name} exec -c", cx)
            if t.startswith("--command="):
                return an.shell_text(t[10:], words[k][1], f"{name} exec -c", cx)


# -- namespaces, limits, sessions, secret injectors, version managers

_O_RUNUSER = _o("flmpP", "cgGsuw", lf="--fast --login --preserve-environment --pty --help --version",
                la="--command --session-command --group --supp-group --shell --user "
                   "--whitelist-environment")


def _h_runuser(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``runuser -u USER [--] CMD ...`` runs CMD itself; the other forms are su's."""
    try:
        i, found = _parse_opts(words, 1, _O_RUNUSER, name)
    except _Unclear:
        return _h_su(an, name, words, cx)
    for o, v, f in found:
        if o in ("-c", "--command", "--session-command"):
            return an.shell_text(v, f, f"{name} -c", cx)
    if _seen(found, "-u", "--user"):
        return _run(an, words, i, name, cx)
    _h_su(an, name, words, cx)


_O_UNSHARE = _o("frchV", "RwSG", optattached="muinpUCT", lenient=1,
                lf="--fork --map-root-user --map-current-user --map-auto --keep-caps --help "
                   "--version",
                la="--propagation --setgroups --root --wd --setuid --setgid --monotonic --boottime "
                   "--map-user --map-group --map-users --map-groups",
                lo="--mount --uts --ipc --net --pid --user --cgroup --time --kill-child --mount-proc")
_O_NSENTER = _o("aFZhV", "tSGW", optattached="muinpCUTrw", lenient=1,
                lf="--all --preserve-credentials --no-fork --follow-context --help --version",
                la="--target --setuid --setgid --wdns",
                lo="--mount --uts --ipc --net --pid --cgroup --user --time --root --wd")


def _h_ns(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """unshare / nsenter: the command, or the user's shell when there is none."""
    i, _found = _parse_opts(words, 1, _O_UNSHARE if name == "unshare" else _O_NSENTER, name)
    if i >= len(words):
        return _reads_stdin(f"{name}'s shell", cx, an, "shell")
    _run(an, words, i, name, cx)


def _h_gdb(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``gdb [opts] --args PROG ARGS``; ``-ex CMD`` debugger commands are reported as code."""
    for k, (t, f) in enumerate(words):
        key, eq, val = t.lstrip("-").partition("=")
        if t.startswith("-") and key in ("ex", "eval-command", "iex", "init-eval-command"):
            if eq:
                _code(an, name, "-ex", (val, f), cx)
            elif k + 1 < len(words):
                _code(an, name, "-ex", words[k + 1], cx)
        elif t in ("--args", "-args"):
            return _run(an, words, k + 1, f"{name} --args", cx)


# tmux: option letters of the commands that start a shell command or type keys
_TMUX_SPECS: dict[str, _Opts] = {
    "new-session": _o("AdDEPX", "cefFnsStxy"),
    "new-window": _o("abdkPS", "cenFt"),
    "split-window": _o("bdfhIvPZ", "celFpt"),
    "respawn-pane": _o("k", "cet"),
    "respawn-window": _o("k", "cet"),
    "run-shell": _o("bCE", "cdt"),
    "display-popup": _o("BCEkN", "bcdehsStTwxy"),
    "if-shell": _o("bF", "t"),
    "pipe-pane": _o("IOo", "t"),
    "send-keys": _o("FHKlMRX", "cNt"),
}
_TMUX_ALIASES = {"new": "new-session", "neww": "new-window", "splitw": "split-window",
                 "respawnp": "respawn-pane", "respawnw": "respawn-window", "run": "run-shell",
                 "popup": "display-popup", "if": "if-shell", "pipep": "pipe-pane", "send": "send-keys"}
_TMUX_ENTER = _set("enter c-m c-j kpenter ^m ^j")
_TMUX_KEYS = _set("bspace btab dc delete end escape home ic insert npage pagedown pgdn ppage pageup "
                  "pgup tab up down left right any space")


def _h_tmux(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _o("2CDlNuvV", "cfLST"), name)
    for o, v, f in found:
        if o == "-c":
            an.shell_text(v, f, f"{name} -c", cx)
    cmd: list[_Field] = []
    for t, f in words[i:]:  # commands are separated by ';' words (or a trailing ';')
        if t == ";" or (t.endswith(";") and not t.endswith("\\;")):
            if t != ";":
                cmd.append((t[:-1], f))
            _tmux_command(an, name, cmd, cx)
            cmd = []
        else:
            cmd.append((t, f))
    _tmux_command(an, name, cmd, cx)


def _tmux_command(an: _Analyzer, name: str, cmd: list[_Field], cx: _Cx) -> None:
    if not cmd:
        return
    t, f = cmd[0]
    if f & _EXP:
        raise _Unclear(f"{name}: the command is not literal ({t})")
    sub = _TMUX_ALIASES.get(t) or (t if t in _TMUX_SPECS else None)
    if sub is None:
        hits = [c for c in _TMUX_SPECS if c.startswith(t)]  # tmux takes unique prefixes
        if len(hits) != 1:
            return
        sub = hits[0]
    label = f"{name} {sub}"
    j, found = _parse_opts(cmd, 1, _TMUX_SPECS[sub], label)
    rest = cmd[j:]
    if not rest:
        return
    if sub == "send-keys":
        if _seen(found, "-X"):
            return  # copy-mode commands
        if _seen(found, "-H"):
            raise _Unclear(f"{label}: keys given in hexadecimal")
        literal = _seen(found, "-l")
        typed: list[str] = []
        flag = 0
        for key, g in rest:
            flag |= g
            low = key.lower()
            if literal:
                typed.append(key)
            elif low in _TMUX_ENTER:
                typed.append("\n")
            elif low == "space":
                typed.append(" ")
            elif low in _TMUX_KEYS or (len(key) >= 3 and key[1] == "-" and key[0] in "CMScms") or (
                    len(key) == 2 and key[0] == "^") or (key[:1] in "Ff" and key[1:].isdigit()):
                raise _Unclear(f"{label}: editing keys make the typed command unknown ({key})")
            else:
                typed.append(key)
        return an.shell_text("".join(typed), flag, label, cx)
    if sub == "if-shell" or (sub == "run-shell" and _seen(found, "-C")):
        tmux_cmds = rest[1:3] if sub == "if-shell" else rest[:1]
        if sub == "if-shell" and not _seen(found, "-F"):
            an.shell_text(rest[0][0], rest[0][1], label, cx)
        for text, g in tmux_cmds:
            if g & _EXP:
                raise _Unclear(f"{label}: a tmux command is not literal")
            import shlex

            try:
                toks = shlex.split(text)
            except ValueError as exc:
                raise _Unclear(f"{label}: cannot split a tmux command: {exc}") from None
            _h_tmux(an, name, [(name, 0), *((x, 0) for x in toks)], cx.wrap(label))
        return
    if sub in ("run-shell", "pipe-pane") or len(rest) == 1:
        return an.shell_text(rest[0][0], rest[0][1], label, cx)
    an.command(rest, cx.wrap(label, stdin=False))


def _h_screen(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``screen [-dmS name] CMD ...`` runs CMD; ``screen -X stuff TEXT`` types TEXT, ``-X exec``
    and ``-X screen`` run commands in a running session."""
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & _EXP:
            raise _Unclear(f"{name}: an option or the command is not literal ({t})")
        if len(t) < 2 or t[0] != "-":
            break
        if t in ("-ls", "-list", "-wipe", "-v", "-version", "--version", "-help", "--help"):
            return
        if t in ("-Logfile", "-logfile"):
            i += 2
            continue
        if t in ("-fn", "-fa", "-ln", "-U", "-O", "-q", "-a", "-A", "-l", "-i", "-L", "-f"):
            i += 1
            continue
        for j in range(1, len(t)):
            ch = t[j]
            if ch in "XQ":
                return _screen_command(an, name, words[i + 1 :], cx)
            if ch in "cehpsStT":
                if j + 1 == len(t):
                    i += 1
                break
        i += 1
    if i < n:
        _run(an, words, i, name, cx)


def _screen_command(an: _Analyzer, name: str, rest: list[_Field], cx: _Cx) -> None:
    if not rest:
        return
    c, f = rest[0]
    if f & _EXP:
        raise _Unclear(f"{name} -X: the command is not literal ({c})")
    label = f"{name} -X {c}"
    if c == "stuff":
        flag = 0
        for _, g in rest[1:]:
            flag |= g
        text = " ".join(t for t, _ in rest[1:])
        for esc in ("\\n", "\\r", "^M", "^J", "\\015", "\\012"):
            text = text.replace(esc, "\n")
        if "^" in text or "\\" in text:
            raise _Unclear(f"{label}: control characters make the typed command unknown")
        an.shell_text(text, flag, label, cx)
    elif c in ("exec", "screen"):
        k = 1  # screen's own options, exec's fd pattern (.!. and the like)
        while k < len(rest) and (rest[k][0].startswith("-") or (
                c == "exec" and rest[k][0] != "" and set(rest[k][0]) <= set(".!|:"))):
            k += 1
        if k < len(rest):
            an.command(rest[k:], cx.wrap(label, stdin=False))
    elif c == "eval":
        for t, g in rest[1:]:
            if g & _EXP:
                raise _Unclear(f"{label}: a screen command is not literal")
            import shlex

            try:
                toks = shlex.split(t)
            except ValueError as exc:
                raise _Unclear(f"{label}: cannot split a screen command: {exc}") from None
            _screen_command(an, name, [(x, 0) for x in toks], cx.wrap(label))


def _h_dotenv(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """python-dotenv ``dotenv [-f F] run [--override] CMD`` and dotenv-cli ``dotenv [-e F] [--] CMD``."""
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & _EXP:
            raise _Unclear(f"{name}: an option or the command is not literal ({t})")
        if t == "--":
            return _run(an, words, i + 1, name, cx)
        if t == "run":
            j, _found = _parse_opts(words, i + 1, _o(lenient=2), f"{name} run")
            return _run(an, words, j, f"{name} run", cx)
        if t in ("list", "get", "set", "unset"):
            return
        if t in ("-f", "--file", "-e", "--export", "-q", "--quote", "-v", "-p", "-c"):
            i += 2
        elif t.startswith("-"):
            i += 1
        else:
            return _run(an, words, i, name, cx)


_O_SECRETS = _o("", "pc", lenient=2,
                la="--account --config --encoding --session --format --env-file --project --token "
                   "--fallback --mount --mount-format --mount-template --mount-max-reads "
                   "--name-transformer --command --scope --configuration --api-host "
                   "--dashboard-host --fallback-passphrase --passphrase --dynamic-ttl")


def _h_secrets_run(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``op [plugin] run [opts] -- CMD`` (1Password), ``doppler run [opts] -- CMD`` (also
    ``--command 'shell text'``)."""
    i, _found = _parse_opts(words, 1, _O_SECRETS, name)
    if i + 1 < len(words) and words[i][0] == "plugin" and words[i + 1][0] == "run":
        i += 1
    if i >= len(words) or words[i][0] != "run":
        return
    j, found = _parse_opts(words, i + 1, _O_SECRETS, f"{name} run")
    for o, v, f in found:
        if o == "--command":
            return an.shell_text(v, f, f"{name} run --command", cx)
    _run(an, words, j, f"{name} run", cx)


_O_AWS_VAULT = _o("njs", "dt", lenient=2,
                  la="--duration --region --mfa-token --backend --keychain --prompt --pass-dir "
                     "--pass-cmd --pass-prefix --file-dir --secret-service-collection")


def _h_aws_vault(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``aws-vault exec [opts] PROFILE [opts] [--] [CMD ...]`` (no CMD: the user's shell)."""
    i, _found = _parse_opts(words, 1, _O_AWS_VAULT, name)
    if i >= len(words) or words[i][0] != "exec":
        return
    label = f"{name} exec"
    j, _found = _parse_opts(words, i + 1, _O_AWS_VAULT, label)
    if j >= len(words):
        return
    k, _found = _parse_opts(words, j + 1, _O_AWS_VAULT, label)
    if k >= len(words):
        return _reads_stdin(f"{name}'s shell", cx, an, "shell")
    _run(an, words, k, label, cx)


def _h_corepack(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``corepack pnpm@9 ...``: the rest is that package manager's command."""
    if len(words) > 1 and _tool_name(words[1][0]) in ("npm", "npx", "pnpm", "pnpx", "yarn", "yarnpkg"):
        _tool(an, words, 1, name, cx)


def _h_nvm(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``nvm exec [VERSION] CMD ...``; ``nvm run [VERSION] ARGS`` runs node."""
    if len(words) < 2 or words[1][0] not in ("exec", "run"):
        return
    sub = words[1][0]
    i = 2
    while i < len(words) and (words[i][0] in ("--silent", "--lts") or words[i][0].startswith("--lts=")):
        i += 1
    if i < len(words):
        v = words[i][0]
        if v[:1].isdigit() or (v[:1] == "v" and v[1:2].isdigit()) or v.startswith("lts/") or v in (
                "node", "stable", "unstable", "iojs", "system", "default"):
            i += 1
    if sub == "run":
        return an.command([("node", 0), *words[i:]], cx.wrap(f"{name} run"))
    _run(an, words, i, f"{name} exec", cx)


def _h_entr(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``entr [-acdnprsz] CMD ARGS`` (/_ is the changed file); with -s, CMD is shell text."""
    i, found = _parse_opts(words, 1, _o("acdnprsz"), name)
    if i >= len(words):
        return
    if _seen(found, "-s"):
        return an.shell_text(words[i][0], words[i][1], f"{name} -s", cx)
    cmd = [(t, f | _EXP if t == "/_" else f) for t, f in words[i:]]
    an.command(cmd, cx.wrap(name, stdin=False, tail=False))


_O_ENV_CMD = _o("hvx", "fer", lenient=1, la="--file --environments --rc-file",
                lf="--fallback --no-override --silent --use-shell --expand-envs --verbose --help "
                   "--version")


def _h_env_cmd(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i, found = _parse_opts(words, 1, _O_ENV_CMD, name)
    if _seen(found, "--use-shell"):
        return _joined(an, words[i:], f"{name} --use-shell", cx)
    _run(an, words, i, name, cx)


def _h_cross_env(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``cross-env A=1 CMD ARGS``; ``cross-env-shell A=1 'shell text'``."""
    if name == "cross-env":
        return _run(an, words, 1, name, cx)
    k = 1
    while k < len(words) and _ASSIGN.match(words[k][0]):
        k += 1
    env = _merge_env(cx.env, [t for t, _ in words[1:k]])
    _joined(an, words[k:], name, cx.with_env(env, cx.stdin, cx.feed))


def _h_sops(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``sops exec-env FILE 'shell text'`` / ``sops exec-file FILE 'shell text with {}'``."""
    for k, (t, _f) in enumerate(words):
        if t in ("exec-env", "exec-file"):
            ops = [w for w in words[k + 1 :] if not w[0].startswith("-")]
            if len(ops) >= 2:
                text = ops[1][0].replace("{}", f'"{INPUT_WORD}"')
                an.shell_text(text, ops[1][1], f"{name} {t}", cx)
            return


def _h_ip(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    """``ip [opts] netns exec NAME CMD ...`` and ``ip vrf exec NAME CMD ...``."""
    for k in range(1, len(words) - 2):
        if words[k][0] in ("netns", "net", "vrf") and words[k + 1][0] in ("exec", "exe", "ex", "e"):
            return _run(an, words, k + 3, f"{name} {words[k][0]} exec", cx)


# -- CLIs with global options in front of the subcommand

_GIT_VALUE = _set("-C -c --git-dir --work-tree --namespace --config-env --super-prefix "
                       "--list-cmds --attr-source")


def _h_git(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    aliases: dict[str, tuple[str, int]] = {}
    i, n = 1, len(words)
    while i < n:
        t, f = words[i]
        if f & _EXP:
            raise _Unclear(f"{name}: an option or the subcommand is not literal ({t})")
        if t in _GIT_VALUE:
            if i + 1 < n:
                v, g = words[i + 1]
                key, _eq, val = v.partition("=")
                if key.lower().startswith("alias."):
                    if t == "--config-env" or g & _EXP:
                        raise _Unclear(f"{name}: an alias is defined from the environment")
                    aliases[key[6:].lower()] = (val, g)
                elif t in ("-c", "--config-env"):
                    _git_config(an, name, t, key, val, g | (_EXP if t == "--config-env" else 0), cx)
            i += 2
            continue
        if t.startswith("--config-env="):
            key = t[13:].partition("=")[0]
            if key.lower().startswith("alias."):
                raise _Unclear(f"{name}: an alias is defined from the environment")
            _git_config(an, name, "--config-env", key, "", _EXP, cx)
        if not t.startswith("-"):
            break
        i += 1
    if i >= n:
        return
    sub = words[i][0]
    rest = words[i + 1 :]
    if i > 1 and sub.lower() not in aliases:
        return _renormalized(an, name, words, i, cx)  # analysed again without the options
    if sub.lower() in aliases:
        val, g = aliases[sub.lower()]
        if val.startswith("!"):
            code = val[1:] + (' "$@"' if rest else "")
            return an.shell_text(code, g, f"{name} alias {sub}", cx, ((val[1:], 0), *rest), cx.tail)
        import shlex

        try:
            expansion = [(w, 0) for w in shlex.split(val)]
        except ValueError as exc:
            raise _Unclear(f"{name}: cannot split alias {sub}: {exc}") from None
        return an.command([(name, 0), *expansion, *rest], cx.wrap(f"{name} alias {sub}"))
    if sub == "submodule":
        for k, (t, _f) in enumerate(rest):
            if t == "foreach":
                tail = [w for w in rest[k + 1 :] if w[0] not in ("--recursive", "-q", "--quiet")]
                return _joined(an, tail, f"{name} submodule foreach", cx)
    elif sub == "rebase":
        for k, (t, f) in enumerate(rest):
            if t in ("-x", "--exec") and k + 1 < len(rest):
                an.shell_text(rest[k + 1][0], rest[k + 1][1], f"{name} rebase --exec", cx)
            elif t.startswith("--exec="):
                an.shell_text(t[7:], f, f"{name} rebase --exec", cx)
            elif t.startswith("-x") and len(t) > 2:
                an.shell_text(t[2:], f, f"{name} rebase --exec", cx)
    elif sub == "bisect" and rest and rest[0][0] == "run":
        _run(an, rest, 1, f"{name} bisect run", cx)
    elif sub == "config":  # a program set now runs with later git commands
        ops: list[_Field] = []
        k = 0
        while k < len(rest):
            t, f = rest[k]
            if t.startswith(("--get", "--unset", "--rename", "--remove")) or t in ("-l", "--list", "-e", "--edit"):
                return
            if t in ("-f", "--file", "--blob", "--type", "--default", "--comment", "--value"):
                k += 2
                continue
            if not t.startswith("-"):
                ops.append((t, f))
            k += 1
        if ops and ops[0][0] in ("set", "add"):
            ops = ops[1:]
        elif ops and ops[0][0] in ("get", "unset", "list", "edit", "rename-section", "remove-section"):
            return
        if len(ops) >= 2:
            _git_config(an, name, "config", ops[0][0], ops[1][0], ops[1][1], cx)


_GIT_CMD_KEYS = _set("core.sshcommand core.pager core.editor sequence.editor diff.external "
                     "core.askpass core.fsmonitor core.alternaterefscommand gpg.program "
                     "interactive.difffilter core.gitproxy web.browser uploadpack.packobjectshook")
_GIT_CMD_SUBKEYS = frozenset({("diff", "command"), ("diff", "textconv"), ("filter", "clean"),
                              ("filter", "smudge"), ("filter", "process"), ("merge", "driver"),
                              ("gpg", "program"), ("difftool", "cmd"), ("mergetool", "cmd"),
                              ("browser", "cmd"), ("remote", "uploadpack"),
                              ("remote", "receivepack")})
_BOOLISH = _set("true false yes no on off 1 0")


def _git_config(an: _Analyzer, name: str, opt: str, key: str, val: str, flag: int, cx: _Cx) -> None:
    """A git configuration value that names a program git starts (core.sshCommand, diff.external,
    core.pager, credential.helper, filters, ...): analyse it as the shell text git runs."""
    k = key.lower()
    parts = k.split(".")
    sec, last = parts[0], parts[-1]
    label = f"{name} {opt} {key}"
    if k in ("core.hookspath", "include.path") or (sec == "includeif" and last == "path"):
        raise _Unclear(f"{label}: git would run hooks or read configuration from elsewhere")
    if k in _GIT_CMD_KEYS or (sec == "pager" and len(parts) == 2):
        if (k == "core.fsmonitor" or sec == "pager") and val.lower() in _BOOLISH:
            return
    elif sec == "credential" and last == "helper":
        if val.startswith("!"):
            val = val[1:]
        elif val and not val.startswith("/"):
            val = "git credential-" + val
    elif (sec == "submodule" and last == "update" and len(parts) == 3) or (
            sec == "alias" and opt == "config"):  # a shell alias saved now runs later
        if not val.startswith("!"):
            return
        val = val[1:]
    elif not (len(parts) == 3 and (sec, last) in _GIT_CMD_SUBKEYS):
        return
    an.shell_text(val, flag, label, cx)


def _h_terraform(an: _Analyzer, name: str, words: list[_Field], cx: _Cx) -> None:
    i = 1
    while i < len(words) and words[i][0].startswith("-") and not words[i][1] & _EXP:
        i += 1
    _renormalized(an, name, words, i, cx)


_HANDLERS: dict[str, _Handler] = {
    "sudo": _h_sudo,
    "doas": _h_doas,
    "pkexec": _wrapper(_o(la="--user", lf="--disable-internal-agent --keep-cwd --help --version")),
    "env": _h_env,
    "nice": _wrapper(_o(args="n", la="--adjustment", lf="--help --version", numeric=True)),
    "ionice": _wrapper(_o("tpPuhV", "cn", lf="--ignore --pid --pgid --uid --help --version",
                          la="--class --classdata"), none_if="-p -P -u --pid --pgid --uid"),
    "nohup": _wrapper(_o(lf="--help --version")),
    "timeout": _wrapper(_o("vpf", "sk", lf="--preserve-status --foreground --verbose --help --version",
                           la="--signal --kill-after"), operands=1),
    "time": _wrapper(_o("pvaq", "fo", lf="--portability --verbose --append --quiet --help --version",
                        la="--format --output")),
    "command": _h_command,
    "builtin": _wrapper(_o()),
    "exec": _wrapper(_o("cl", "a")),
    "!": _h_bang,
    "stdbuf": _wrapper(_o(args="ioe", la="--input --output --error", lf="--help --version")),
    "setsid": _wrapper(_o("cfwhV", lf="--ctty --fork --wait --help --version")),
    "chronic": _wrapper(_o("evh")),
    "caffeinate": _wrapper(_o("dimsu", "tw")),
    "unbuffer": _wrapper(_o("p")),
    "taskset": _wrapper(_o("acpV", lf="--all-tasks --cpu-list --pid --help --version"),
                        operands=1, none_if="-p --pid"),
    "chroot": _wrapper(_o(la="--userspec --groups", lf="--skip-chdir --help --version"), operands=1),
    "torsocks": _wrapper(_o("diq", "uapP", lenient=1, lf="--shell --isolate --quiet --debug")),
    "proxychains": _wrapper(_o("q", "f")),
    "proxychains4": _wrapper(_o("q", "f")),
    "fakeroot": _wrapper(_o("uhv", "lisb", la="--lib --faked", lf="--unknown-is-real --version --help")),
    "dbus-run-session": _wrapper(_o(lenient=1, la="--config-file --dbus-daemon")),
    "valgrind": _wrapper(_o("vqh", lenient=2)),
    "strace": _wrapper(_o("cCdDfFhiknqrtTvVwxyYzZ", "abeEIoOpPsSuUX", lenient=1)),
    "ltrace": _wrapper(_o("bcCfhiLrStTV", "aAeEFlnopsuwx", lenient=1)),
    "ssh-agent": _wrapper(_o("cDdks", "aEPt")),
    "flock": _h_flock,
    "watch": _h_watch,
    "xargs": _h_xargs,
    "find": _h_find,
    "fd": _h_fd,
    "fdfind": _h_fd,
    "busybox": _h_busybox,
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
    "su": _h_su,
    "runuser": _h_runuser,
    "sg": _h_sg,
    "script": _h_script,
    "ssh": _h_ssh,
    "rsync": _h_rsync,
    "at": _h_at,
    "batch": _h_at,
    "parallel": _h_parallel,
    "sem": _h_parallel,
    "node": _h_node,
    "nodejs": _h_node,
    "perl": _interp(_Interp(code="eE", arg="IMm", rest="idDx", digits="0lC")),
    "ruby": _interp(_Interp(code="e", arg="rICE", rest="FiWxTK0")),
    "php": _interp(_Interp(code="rBRE", arg="cdztS", script="fF")),
    "lua": _interp(_Interp(code="e", arg="l")),
    "luajit": _interp(_Interp(code="e", arg="lbj")),
    "rscript": _interp(_Interp(code="e", long_code=frozenset({"--eval"}))),
    "r": _interp(_Interp(code="e", arg="f")),
    "julia": _interp(_Interp(code="eE", arg="JLCtp", long_code=frozenset({"--eval", "--print"}))),
    "osascript": _interp(_Interp(code="e", arg="ls")),
    "tclsh": _interp(_Interp()),
    "pwsh": _h_pwsh,
    "powershell": _h_pwsh,
    "powershell.exe": _h_pwsh,
    "pwsh.exe": _h_pwsh,
    "deno": _h_deno,
    "awk": _h_awk,
    "sed": _h_sed,
    "gsed": _h_sed,
    "gawk": _h_awk,
    "mawk": _h_awk,
    "nawk": _h_awk,
    "npx": _h_npx,
    "npm": _h_npm,
    "pnpm": _h_pnpm,
    "pnpx": _h_npx,
    "yarn": _h_yarn,
    "bunx": _h_bunx,
    "bun": _h_bun,
    "uvx": _h_uvx,
    "uv": _h_uv,
    "pipx": _h_pipx,
    "poetry": _subrunner("run", _LENIENT, _o(lenient=2)),
    "pdm": _subrunner("run", _LENIENT, _o("ls", "p", lenient=2, la="--project")),
    "pipenv": _subrunner("run", _LENIENT, _o(lenient=2)),
    "rye": _subrunner("run", _LENIENT, _o("l", lenient=2, la="--pyproject")),
    "hatch": _subrunner("run", _LENIENT, _o(lenient=2)),
    "bundle": _subrunner("exec", _LENIENT, _o(lenient=2)),
    "bundler": _subrunner("exec", _LENIENT, _o(lenient=2)),
    "conda": _subrunner("run", _LENIENT, _o("v", "np", lenient=2, la="--name --prefix --cwd")),
    "mamba": _subrunner("run", _LENIENT, _o("v", "np", lenient=2, la="--name --prefix --cwd")),
    "micromamba": _subrunner("run", _LENIENT, _o("v", "np", lenient=2, la="--name --prefix --cwd")),
    "pixi": _subrunner("run exec", _LENIENT, _o("", "e", lenient=2, la="--environment --manifest-path")),
    "devbox": _subrunner("run", _LENIENT, _o("q", "ce", lenient=2, la="--config --env --env-file --environment")),
    "direnv": _subrunner("exec", _o(), _o(), operands=1),
    "nix-shell": _h_nix_shell,
    "nix": _h_nix,
    "mise": _h_mise,
    # namespaces, limits, sandboxes, sessions
    "systemd-run": _wrapper(_o("dGhqPrStv", "CEHMpu", lenient=2,
                               lf="--user --system --scope --remain-after-exit --send-sighup --pty "
                                  "--pipe --quiet --wait --collect --same-dir --shell --no-block "
                                  "--no-ask-password --slice-inherit --on-clock-change "
                                  "--on-timezone-change --verbose --help --version",
                               la="--unit --property --description --slice --service-type --uid "
                                  "--gid --nice --working-directory --setenv --on-active --on-boot "
                                  "--on-startup --on-unit-active --on-unit-inactive --on-calendar "
                                  "--timer-property --path-property --socket-property --host "
                                  "--machine --capsule")),
    "run0": _wrapper(_o("", "upgD", lenient=2,
                        la="--user --group --property --description --slice --nice --chdir "
                           "--setenv --machine --background --unit --shell-prefix")),
    "unshare": _h_ns,
    "nsenter": _h_ns,
    "setpriv": _wrapper(_o("dhV", lenient=1,
                           lf="--dump --nnp --no-new-privs --clear-groups --keep-groups "
                              "--init-groups --reset-env --help --version",
                           la="--ambient-caps --inh-caps --bounding-set --ruid --euid --rgid --egid "
                              "--reuid --regid --groups --securebits --pdeathsig --selinux-label "
                              "--apparmor-profile --landlock-access --landlock-rule "
                              "--seccomp-filter"), none_if="-d --dump"),
    "prlimit": _wrapper(_o("hV", "po", optattached="cdefilmnqrstuvxy",
                           lf="--noheadings --raw --verbose --help --version", la="--pid --output",
                           lo="--core --data --nice --fsize --sigpending --memlock --rss --nofile "
                              "--msgqueue --rtprio --stack --cpu --nproc --as --locks --rttime"),
                        none_if="-p --pid"),
    "chrt": _wrapper(_o("bdfiorRavhV", "TPD",
                        lf="--batch --deadline --fifo --idle --other --rr --reset-on-fork "
                           "--all-tasks --verbose --help --version",
                        la="--sched-runtime --sched-period --sched-deadline"),
                     operands=1, none_if="-p --pid -m --max"),
    "cgexec": _wrapper(_o("h", "g", lf="--sticky")),
    "numactl": _wrapper(_o("alsHbv", "ipmNCPw", lenient=1,
                           lf="--all --localalloc --show --hardware --balancing --verbose",
                           la="--interleave --preferred --membind --cpunodebind --physcpubind "
                              "--weighted-interleave"), none_if="-s --show -H --hardware"),
    "chpst": _wrapper(_o("vP012", "uUbe/nlLmdopfc")),
    "firejail": _wrapper(_o(lenient=2)),
    "flatpak-spawn": _wrapper(_o(lenient=2)),
    "xvfb-run": _wrapper(_o("adhl", "efnpsw", lf="--auto-servernum --auto-display --help --listen-tcp",
                            la="--error-file --auth-file --server-num --xauth-protocol "
                               "--server-args --wait")),
    "faketime": _wrapper(_o("mf", lf="--exclude-monotonic --help --version", la="--date-prog"),
                         operands=1),
    "catchsegv": _wrapper(_o()),
    "daemonize": _wrapper(_o("av", "ceEloOpu")),
    "gdb": _h_gdb,
    "tmux": _h_tmux,
    "screen": _h_screen,
    "entr": _h_entr,
    "ip": _h_ip,
    "expect": _interp(_Interp(code="c", arg="D", script="f")),
    # secrets and environment injectors
    "dotenv": _h_dotenv,
    "op": _h_secrets_run,
    "doppler": _h_secrets_run,
    "aws-vault": _h_aws_vault,
    "env-cmd": _h_env_cmd,
    "cross-env": _h_cross_env,
    "cross-env-shell": _h_cross_env,
    "sops": _h_sops,
    # version managers
    "corepack": _h_corepack,
    "volta": _subrunner("run", _LENIENT, _o(lenient=2, la="--node --npm --pnpm --yarn --env")),
    "fnm": _subrunner("exec", _o(lenient=2, la="--node-dist-mirror --fnm-dir --log-level --arch "
                                                "--version-file-strategy --shell"),
                      _o(lenient=2, la="--using")),
    "nvm": _h_nvm,
    "asdf": _subrunner("exec", _o(), _o()),
    "git": _h_git,
    "agentgate": _h_agentgate,
    "terraform": _h_terraform,
    "tofu": _h_terraform,
}
for _sh in _SHELLS:
    _HANDLERS[_sh] = _h_shell


# -- entry points -------------------------------------------------------------------------

def _guarded(an: _Analyzer, work: Callable[[], None]) -> Analysis:
    try:
        work()
    except (_Bound, RecursionError) as exc:
        an.add_opaque("unparseable", f"too large/too deep to analyse: {exc or 'recursion'}", "", ())
    except Exception as exc:  # the gate must fail closed, never crash
        an.add_opaque("unparseable", f"internal parser error: {type(exc).__name__}: {exc}", "", ())
    return an.result()


def analyze_argv(argv: Sequence[str]) -> Analysis:
    an = _Analyzer()

    def work() -> None:
        words = list(argv)
        if not all(isinstance(w, str) for w in words):
            an.add_opaque("unparseable", "argv holds something other than strings", "", ())
            return
        if sum(len(w) for w in words) > MAX_INPUT:
            raise _Bound(f"argv longer than {MAX_INPUT} characters")
        if any("\x00" in w for w in words):
            an.add_opaque("unparseable", "argv holds a NUL byte", "", ())
            words = [w.split("\x00", 1)[0] for w in words]
        if words:
            an.command([(w, 0) for w in words], _Cx())

    return _guarded(an, work)


def analyze_script(text: str) -> Analysis:
    an = _Analyzer()

    def work() -> None:
        if not isinstance(text, str):
            an.add_opaque("unparseable", "the command is not a string", "", ())
            return
        if len(text) > MAX_INPUT:
            raise _Bound(f"script longer than {MAX_INPUT} characters")
        if "\x00" in text:
            an.add_opaque("unparseable", "the command holds a NUL byte", _clip(text.replace("\x00", "\\0")), ())
            an.script(text.split("\x00", 1)[0], _Cx())
            an.script(text.replace("\x00", ""), _Cx())
            return
        an.script(text, _Cx())

    return _guarded(an, work)
