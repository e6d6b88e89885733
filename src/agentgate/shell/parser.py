"""A hand-written tokenizer and recursive-descent parser for the bash subset agents use.

Chosen over bashlex: no dependency, each unsupported construct is a :class:`ParseError` that
fails closed instead of a best-effort tree, and the :class:`~.budget.Budget` (time) and the
depth bound are checked where the work happens. It builds the :mod:`.syntax` tree and knows
no programs.
"""

from __future__ import annotations

from collections.abc import Callable

from ..lean import lazy_regex
from .budget import Budget, check_depth
from .context import NAME
from .expand import ansi_c
from .syntax import (
    AndOr,
    Body,
    Compound,
    Func,
    Heredoc,
    Lit,
    Node,
    Param,
    Part,
    Pipe,
    ProcSubst,
    Redir,
    Simple,
    Subst,
    Word,
)

_RUN_UNQ = lazy_regex(r"[^ \t\n;&|()<>\\'\"$`]+")
_RUN_DQ = lazy_regex(r"[^\"\\$`]+")
_RUN_HD = lazy_regex(r"[^\\$`]+")
_ARRAY_START = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_SIMPLE_PARAM = lazy_regex(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!0-]")


class ParseError(Exception):
    """The shell text does not parse."""


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


class Parser:
    """Recursive descent over one piece of shell text; builds a small tree of Node."""

    __slots__ = ("bg", "budget", "depth", "done", "heredocs", "i", "n", "s")

    def __init__(self, text: str, budget: Budget, depth: int = 0,
                 done: list[Simple] | None = None) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.budget = budget
        self.depth = depth
        self.heredocs: list[Heredoc] = []
        # every simple command parsed, also inside substitutions (partial results, variables)
        self.done: list[Simple] = [] if done is None else done
        self.bg: set[int] = set()  # ids of nodes run in the background (``&``, coproc)

    def parse(self) -> list[Node]:
        nodes = self._list(_NONE)
        self._newlines()
        if self.i < self.n:
            raise ParseError(f"unexpected {self._what()}")
        return nodes

    def _what(self) -> str:
        if self.i >= self.n:
            return "end of input"
        return repr(self.s[self.i : self.i + 12])

    def _enter(self) -> None:
        self.depth += 1
        check_depth(self.depth)

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
            raise ParseError(f"expected {word!r} before {self._what()}")
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

    def _list(self, closers: frozenset[str]) -> list[Node]:
        nodes: list[Node] = []
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
                raise ParseError("unexpected ';'")
            w = self._peek_word()
            if w is not None and w in _CLOSERS:
                if w in closers:
                    return nodes
                raise ParseError(f"unexpected {w!r}")
            nodes.append(self._and_or())
            if not self._separator(nodes[-1]):
                return nodes

    def _separator(self, node: Node) -> bool:
        """Read the ';', '&' or newline after ``node``, if one follows (``&`` puts it in the
        background; a newline reads pending here-documents)."""
        self._blank()
        if not self._at_sep():
            return False
        c = self.s[self.i]
        self.i += 1
        if c == "&":
            self.bg.add(id(node))
        if c == "\n" and self.heredocs:
            self._read_heredocs()
        return True

    def _and_or(self) -> Node:
        first = self._pipeline()
        ops = [""]
        cmds = [first]
        while True:
            self._blank()
            op = self.s[self.i : self.i + 2]
            if op not in ("&&", "||"):
                break
            self.i += 2
            self._newlines()
            ops.append(op)
            cmds.append(self._pipeline())
        return first if len(cmds) == 1 else AndOr(ops, cmds)

    def _pipeline(self) -> Node:
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
            return Simple([], [], [])
        cmds = [self._command()]
        while True:
            self._blank()
            if self.s.startswith("|", self.i) and not self.s.startswith("||", self.i):
                self.i += 2 if self.s.startswith("|&", self.i) else 1
                self._newlines()
                cmds.append(self._command())
            else:
                break
        return cmds[0] if len(cmds) == 1 else Pipe(cmds)

    def _command(self) -> Node:
        self.budget.tick()
        self._enter()
        node = self._command_inner()
        self.depth -= 1
        return node

    def _command_inner(self) -> Node:
        if self.i >= self.n:
            raise ParseError("unexpected end of input")
        if self.s[self.i] == "(":
            return self._finish(self._paren())
        w = self._peek_word()
        if w is not None:
            compound = _COMPOUNDS.get(w)
            if compound is not None:
                return self._finish(compound(self, w))
            if w == "function":
                return self._function()
            if w == "coproc":
                return self._coproc()
            if w in _CLOSERS:
                raise ParseError(f"unexpected {w!r}")
        return self._simple()

    def _paren(self) -> Compound:
        """``( list )``, or ``(( arithmetic ))``."""
        s, i = self.s, self.i
        if s.startswith("((", i):
            end = self._arith_end(i + 2)
            if end is not None:
                arith = Word(self._expansions(s[i + 2 : end]))
                self.i = end + 2
                return Compound(None, [], [arith])
        self.i = i + 1
        body = self._list(_NONE)
        self._newlines()
        if not s.startswith(")", self.i):
            raise ParseError("unterminated '('")
        self.i += 1
        return Compound("( )", body)

    def _group(self, kw: str) -> Compound:
        self.i += 1
        body = self._list(_BRACE_CLOSE)
        self._expect("}")
        return Compound(None, body)

    def _loop(self, kw: str) -> Compound:
        """``while|until list; do list; done``."""
        self.i += len(kw)
        body = self._list(_DO)
        self._expect("do")
        body += self._list(_DONE)
        self._expect("done")
        return Compound(None, body)

    def _finish(self, node: Compound) -> Node:
        while True:
            self._blank()
            r = self._redir()
            if r is None:
                return node
            node.redirs.append(r)

    def _if(self, kw: str) -> Compound:
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
        return Compound(None, body)

    def _for(self, kw: str) -> Compound:
        """``for|select NAME [in WORDS]; do list; done`` (or ``{ list; }``), ``for ((...))``."""
        self.i += len(kw)
        self._blank()
        words: list[Word] = []
        var = None
        if self.s.startswith("((", self.i):
            end = self._arith_end(self.i + 2)
            if end is None:
                raise ParseError("unterminated 'for (('")
            words.append(Word(self._expansions(self.s[self.i + 2 : end])))
            self.i = end + 2
        else:
            v = self._word()
            if v is None or v.plain is None or not NAME().fullmatch(v.plain):
                raise ParseError(f"bad '{kw}' variable")
            var = v.plain
            # the loop assigns it: recorded for script_vars like an assignment
            self.done.append(Simple([Word([Lit(var + "=", False)])], [], []))
            self._newlines()
            if self._peek_word() == "in":
                self.i += 2
                words = self._for_words(kw)
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
            raise ParseError(f"expected 'do' before {self._what()}")
        return Compound(None, body, words, var)

    def _for_words(self, kw: str) -> list[Word]:
        """The words after ``for NAME in``, up to the end of the line or a ';'."""
        words: list[Word] = []
        while True:
            self._blank()
            if self.i >= self.n or self.s[self.i] in "\n;":
                return words
            w = self._word()
            if w is None:
                raise ParseError(f"unexpected {self._what()} in '{kw}' list")
            words.append(w)

    def _case(self, kw: str) -> Compound:
        """``case WORD in PATTERN) list ;; ... esac``."""
        self.i += 4
        self._blank()
        subject = self._word()
        if subject is None:
            raise ParseError("case needs a word")
        words = [subject]
        body: list[Node] = []
        self._newlines()
        if self._peek_word() != "in":
            raise ParseError("expected 'in' after case word")
        self.i += 2
        while True:
            self._newlines()
            if self._peek_word() == "esac":
                self.i += 4
                return Compound(None, body, words)
            if self.i >= self.n:
                raise ParseError("unterminated case")
            if self.s[self.i] == "(":
                self.i += 1
            self._case_patterns(words)
            body += self._list(_ESAC)
            self._blank()
            for op in (";;&", ";;", ";&"):
                if self.s.startswith(op, self.i):
                    self.i += len(op)
                    break

    def _case_patterns(self, words: list[Word]) -> None:
        """``PATTERN | PATTERN )``: the patterns are added to ``words``."""
        while True:
            self._blank()
            w = self._word()
            if w is None:
                raise ParseError(f"bad case pattern at {self._what()}")
            words.append(w)
            self._blank()
            c = self.s[self.i : self.i + 1]
            self.i += 1
            if c == ")":
                return
            if c != "|":
                raise ParseError("bad case pattern")

    def _function(self) -> Node:
        self.i += 8
        self._blank()
        w = self._word()
        if w is None or w.plain is None:
            raise ParseError("bad function name")
        self._blank()
        if self.s.startswith("(", self.i):
            j = self.i + 1
            while j < self.n and self.s[j] in " \t":
                j += 1
            if not self.s.startswith(")", j):
                raise ParseError("expected ')' in function definition")
            self.i = j + 1
        return self._funcbody(w.plain)

    def _funcbody(self, name: str) -> Node:
        self._newlines()
        body = self._command()
        if isinstance(body, Simple):
            raise ParseError(f"function {name} needs a compound body")
        return Func(name, body)

    def _dbracket(self, kw: str) -> Compound:
        self.i += 2
        words: list[Word] = []
        while True:
            self._newlines()
            if self.i >= self.n:
                raise ParseError("unterminated '[['")
            if self._peek_word() == "]]":
                self.i += 2
                return Compound(None, [], words)
            c = self.s[self.i]
            if c in "()|&<>" and not self.s.startswith(("<(", ">("), self.i):
                self.i += 1
                continue
            if c == ";":
                raise ParseError("unexpected ';' in '[[ ]]'")
            w = self._word()
            if w is None:
                raise ParseError(f"unexpected {self._what()} in '[[ ]]'")
            words.append(w)

    def _coproc(self) -> Node:
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

    def _simple(self) -> Node:
        s, n = self.s, self.n
        assigns: list[Word] = []
        words: list[Word] = []
        redirs: list[Redir] = []
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
                return self._name_parens(assigns, words)
            w = self._word()
            if w is None:
                raise ParseError(f"unexpected {self._what()}")
            if not words and w.assign is not None:
                assigns.append(w)
            else:
                words.append(w)
        if not (assigns or words or redirs):
            raise ParseError(f"unexpected {self._what()}")
        node = Simple(assigns, words, redirs)
        self.done.append(node)
        return node

    def _name_parens(self, assigns: list[Word], words: list[Word]) -> Node:
        """``NAME ( )`` starts a function definition; any other '(' here is an error."""
        if len(words) == 1 and not assigns and words[0].plain is not None:
            j = self.i + 1
            while j < self.n and self.s[j] in " \t":
                j += 1
            if self.s.startswith(")", j):
                self.i = j + 1
                return self._funcbody(words[0].plain)
        raise ParseError("unexpected '('")

    def _redir(self) -> Redir | None:
        s, n, i = self.s, self.n, self.i
        j = i
        while j < n and "0" <= s[j] <= "9":
            j += 1
        if j == i and s.startswith("{", i):
            k = s.find("}", i, i + 80)
            if k > i + 1 and NAME().fullmatch(s, i + 1, k) and s.startswith(("<", ">"), k + 1):
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
            raise ParseError(f"missing target after {op!r}")
        if op in ("<<", "<<-"):
            hd = Heredoc(target.source(), op == "<<-", target.quoted)
            self.heredocs.append(hd)
            return Redir(op, target, hd, s[i:j])
        return Redir(op, target, None, s[i:j])

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
                hd.word = Word(self._expansions(body))

    def _expansions(self, text: str) -> list[Part]:
        """Parts of here-document or arithmetic text: only $ and ` are special."""
        sub = Parser(text, self.budget, self.depth, self.done)
        parts = sub._dq(heredoc=True)
        return parts or [Lit("", True)]

    # -- words

    def _word(self) -> Word | None:
        """The word at the current position (None if there is none): runs of plain text, and
        the quoted and expanded parts between them."""
        s, n = self.s, self.n
        start = i = self.i
        parts: list[Part] = []
        buf: list[str] = []
        run = _RUN_UNQ()
        while i < n:
            m = run.match(s, i)
            if m is not None:
                buf.append(m.group())
                i = m.end()
                continue
            c = s[i]
            if c in " \t\n;&|)" or (c in "<>" and not s.startswith("(", i + 1)):
                break
            if c == "(":
                if not parts and buf and _ARRAY_START().fullmatch("".join(buf)):
                    self.i = i + 1
                    items = self._array()
                    return Word([Lit(s[start : self.i], False)], items)
                break
            if c == "\\" and (i + 1 >= n or s[i + 1] == "\n"):
                if i + 1 >= n:
                    buf.append("\\")  # a backslash at the very end stays
                    i += 1
                else:
                    i += 2  # a backslash-newline vanishes
                continue
            if buf:
                parts.append(Lit("".join(buf), False))
                buf = []
            i = self._part(c, i, parts)
        if buf:
            parts.append(Lit("".join(buf), False))
        self.i = i
        return Word(parts) if parts else None

    def _part(self, c: str, i: int, parts: list[Part]) -> int:
        """Read the quoted or expanded part starting with ``c`` at ``i`` into ``parts``; the
        index after it."""
        s = self.s
        if c == "\\":
            parts.append(Lit(s[i + 1], True))
            return i + 2
        if c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise ParseError("unterminated single quote")
            parts.append(Lit(s[i + 1 : j], True))
            return j + 1
        self.i = i
        if c == '"':
            self.i = i + 1
            parts.extend(self._dq())
        elif c == "$":
            self._dollar(False, parts)
        elif c in "<>":
            parts.append(self._procsub())
        else:  # backquote
            parts.append(self._backtick(False))
        return self.i

    def _array(self) -> list[Word]:
        items: list[Word] = []
        while True:
            self._newlines()
            if self.i >= self.n:
                raise ParseError("unterminated array assignment")
            if self.s[self.i] == ")":
                self.i += 1
                return items
            w = self._word()
            if w is None:
                raise ParseError(f"unexpected {self._what()} in array assignment")
            items.append(w)

    def _dq(self, heredoc: bool = False) -> list[Part]:
        """Read double-quoted text after the opening quote (or a here-document body)."""
        s, n = self.s, self.n
        i = self.i
        parts: list[Part] = []
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
                    parts.append(Lit("".join(buf), True))
                self.i = i + 1
                return parts
            if c == "\\":
                i = self._dq_escape(i, buf, heredoc)
                continue
            if buf:
                parts.append(Lit("".join(buf), True))
                buf = []
            self.i = i
            if c == "$":
                self._dollar(True, parts)
            else:
                parts.append(self._backtick(True))
            i = self.i
        if not heredoc:
            raise ParseError("unterminated double quote")
        if buf:
            parts.append(Lit("".join(buf), True))
        self.i = n
        return parts

    def _dq_escape(self, i: int, buf: list[str], heredoc: bool) -> int:
        """A backslash inside double quotes (or a here-document): only $, `, \\ (and " in
        quotes) are escaped, and a newline removed; the index after it."""
        nx = self.s[i + 1 : i + 2]
        if nx == "\n":
            return i + 2
        if nx in ("$", "`", "\\") or (nx == '"' and not heredoc):
            buf.append(nx)
            return i + 2
        buf.append("\\")
        return i + 1

    def _dollar(self, quoted: bool, out: list[Part]) -> None:
        """Read the expansion starting with ``$`` into ``out``."""
        s, i = self.s, self.i
        nx = s[i + 1 : i + 2]
        if nx == "(":
            out.append(self._dollar_paren(quoted))
        elif nx == "{":
            out.append(self._brace_param(quoted))
        elif nx == "'" and not quoted:
            decoded = ansi_c(s, i + 2)
            if decoded is None:
                raise ParseError("unterminated $'...' string")
            self.i, text = decoded
            out.append(Lit(text, True))
        elif nx == '"' and not quoted:
            self.i = i + 2
            out.extend(self._dq())
        else:
            m = NAME().match(s, i + 1)
            if m is not None:
                self.i = m.end()
                out.append(Param(s[i : self.i], quoted, m.group()))
            elif nx and ("0" <= nx <= "9" or nx in "@*#?$!-"):
                self.i = i + 2
                out.append(Param(s[i : i + 2], quoted, nx))
            else:
                self.i = i + 1
                out.append(Lit("$", quoted))

    def _dollar_paren(self, quoted: bool) -> Subst:
        """``$(list)`` or ``$((arithmetic))``."""
        s, i = self.s, self.i
        if s.startswith("((", i + 1):
            end = self._arith_end(i + 3)
            if end is not None:
                inner = self._expansions(s[i + 3 : end])
                self.i = end + 2
                return Subst(s[i : end + 2], quoted, tuple(x for p in inner for x in p.subs))
        self.i = i + 2
        nodes = self._list(_NONE)
        self._newlines()
        if not s.startswith(")", self.i):
            raise ParseError("unterminated '$('")
        self.i += 1
        return Subst(s[i : self.i], quoted, (Body("$()", nodes),))

    def _brace_param(self, quoted: bool) -> Part:
        s, n = self.s, self.n
        start = self.i
        j = start + 2
        subs: list[Body] = []
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
                    raise ParseError("unterminated single quote")
                j = k + 1
                continue
            if c in "\"$`":
                ps: list[Part] = []
                if c == '"':
                    self.i = j + 1
                    ps = self._dq()
                elif c == "$":
                    self.i = j
                    self._dollar(True, ps)
                else:
                    self.i = j
                    ps.append(self._backtick(True))
                subs.extend(x for p in ps for x in p.subs)
                j = self.i
                continue
            j += 1
        else:
            raise ParseError("unterminated '${'")
        self.depth -= 1
        self.i = j + 1
        raw = s[start : j + 1]
        inner = s[start + 2 : j]
        if _SIMPLE_PARAM().fullmatch(inner):
            return Param(raw, quoted, inner)
        return Subst(raw, quoted, tuple(subs))

    def _backtick(self, quoted: bool) -> Part:
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
            raise ParseError("unterminated backquote")
        self.i = i + 1
        nodes = Parser("".join(buf), self.budget, self.depth, self.done).parse()
        return Subst(s[start : i + 1], quoted, (Body("``", nodes),))

    def _procsub(self) -> Part:
        s = self.s
        start = self.i
        label = s[start] + "()"
        self.i = start + 2
        nodes = self._list(_NONE)
        self._newlines()
        if not s.startswith(")", self.i):
            raise ParseError(f"unterminated '{s[start]}('")
        self.i += 1
        return ProcSubst(s[start : self.i], (Body(label, nodes),))

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


# reserved words that start a compound command (which may take redirections), and its reader
_COMPOUNDS: dict[str, Callable[[Parser, str], Compound]] = {
    "{": Parser._group, "if": Parser._if, "while": Parser._loop, "until": Parser._loop,
    "for": Parser._for, "select": Parser._for, "case": Parser._case, "[[": Parser._dbracket,
}
