"""Policies: load and validate TOML rules, and decide allow | ask | deny for a command.

Pure: this module reads policy files but writes nothing. The decision for a command is the
strictest (deny > ask > allow) over every simple command the shell analysis finds, over every
rule that matches it, across every policy file in force. A part that no rule matches gets
``settings.default``; a part the analysis cannot see through gets ``settings.unparseable``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import shell
from .errors import PolicyError
from .lean import Record, field, lazy_regex, sha256_hex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from .shell import Analysis

ALLOW, ASK, DENY = "allow", "ask", "deny"
DECISIONS = (ALLOW, ASK, DENY)
RANK = {ALLOW: 0, ASK: 1, DENY: 2}

# Loading a policy and checking an argv need only _LONG_OPT; the others compile at first use.
_DURATION_PART = lazy_regex(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LONG_OPT = re.compile(r"--[A-Za-z0-9][A-Za-z0-9_.-]*=")
_SHORT_CLUSTER = lazy_regex(r"-[A-Za-z][A-Za-z0-9]+")
_WORD = lazy_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_ESCAPED_ONLY = lazy_regex(r"(?:[^*?\[\]]|\[[^\]]\])*")
_BRACKET_CHAR = lazy_regex(r"\[([^\]])\]")
_EXPANSION = lazy_regex(r"\$\{[^}]*\}|\$\([^)]*\)?|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]|`[^`]*`?|\{\}")


def unknown_shape(word: str) -> Shape:
    """A regex for the values a word with run-time expansions (``$X``, ``$(..)``, ``{}``) may take."""
    out, pos = [], 0
    for m in _EXPANSION().finditer(word):
        out.append(glob_regex(word[pos:m.start()]))
        # find's {} is a path that starts with a start point, never with "-"
        out.append("(?!-).*" if m.group() == "{}" else ".*")
        pos = m.end()
    out.append(glob_regex(word[pos:]))
    return Shape(re.compile("".join(out), re.DOTALL), _EXPANSION().sub("", word))


class Shape:
    """The values a run-time word may take (a regex), and its literal text without expansions."""

    __slots__ = ("literal", "rx")

    def __init__(self, rx: re.Pattern[str], literal: str):
        self.rx = rx
        self.literal = literal

    def fullmatch(self, value: str) -> bool:
        return self.rx.fullmatch(value) is not None


def _glob_sample(glob: str) -> str:
    """One word a glob accepts: ``*`` empty, ``?`` and ``[...]`` one character of theirs."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        j = glob.find("]", i + 2) if c == "[" else -1
        if c == "?":
            out.append("a")
        elif j > 0:
            body = glob[i + 1:j]
            out.append("a" if body[:1] in ("!", "^") else body[0])
            i = j
        elif c != "*":
            out.append(c)
        i += 1
    return "".join(out)


def glob_regex(text: str) -> str:
    """Regex text for a glob as bash expands it: ``*``, ``?`` and ``[...]`` stand for what they
    may expand to, within one path segment (a literal stretch of a run-time word, or a path)."""
    if not any(c in text for c in "*?["):
        return re.escape(text)
    out, i = [], 0
    while i < len(text):
        c = text[i]
        j = text.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif j > 0:
            body = text[i + 1:j].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body[:1] in ("!", "^") else "[" + body + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)

EMBEDDED_NAME = "<embedded default>"
MAX_DURATION = 365 * 86400


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``1d`` or a sum like ``1h30m`` -> seconds (> 0)."""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string like '30m', not {type(text).__name__}")
    t = text.strip().lower()
    pos, total = 0, 0
    for m in _DURATION_PART().finditer(t):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not t or pos != len(t) or total <= 0:
        raise ValueError(f"bad duration {text!r}: use a number and a unit s|m|h|d, e.g. 90s, 30m, 2h, 1d")
    if total > MAX_DURATION:
        raise ValueError(f"duration {text!r} is longer than a year (365d)")
    return total


def _nested_quantifier(pattern: str) -> bool:
    """Does a quantified group contain a quantifier (``(a+)+``, ``(a*b)*``, ``(x{2,})+``)?

    Python's ``re`` cannot be interrupted, so a regex that backtracks catastrophically would
    hang the gate; such patterns are refused when the policy loads."""
    stack: list[bool] = []  # per open group: has a quantifier inside
    i, n = 0, len(pattern)
    inner = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            stack.append(False)
        elif c == ")":
            inner = stack.pop() if stack else False
            nxt = pattern[i + 1:i + 2]
            if inner and (nxt in ("*", "+") or (nxt == "{" and re.match(r"\{\d*,\d*\}", pattern[i + 1:]))):
                return True
            if stack:
                stack[-1] = stack[-1] or inner or nxt in ("*", "+", "?", "{")
            i += 1
            continue
        elif c in "*+?{" and stack and not (c == "?" and i > 0 and pattern[i - 1] == "("):
            stack[-1] = True  # (?:, (?P<..> are group syntax, not a quantifier
        i += 1
    return False


def stricter(a: str, b: str) -> str:
    return a if RANK[a] >= RANK[b] else b


# --------------------------------------------------------------------------- patterns


def split_long_options(words: Iterable[str]) -> list[str]:
    """``--context=prod`` -> ``--context``, ``prod`` (applied to argv and patterns alike)."""
    out: list[str] = []
    for w in words:
        m = _LONG_OPT.match(w)
        if m:
            out.append(w[: m.end() - 1])
            out.append(w[m.end():])
        else:
            out.append(w)
    return out


class _Word:
    """One pattern word compiled: literal, glob, short flag (cluster-aware) or alternatives."""

    __slots__ = ("alts", "text")

    def __init__(self, text: str):
        self.text = text
        alts: list[tuple[str, str]] = []
        body = text[1:-1] if (len(text) > 2 and text[0] == "{" and text[-1] == "}" and "," in text) else None
        for alt in (body.split(",") if body is not None else [text]):
            if len(alt) == 2 and alt[0] == "-" and alt[1].isalpha():
                alts.append(("flag", alt))
            elif "[" in alt and _ESCAPED_ONLY().fullmatch(alt):
                alts.append(("lit", _BRACKET_CHAR().sub(r"\1", alt)))  # /[*] is the word /*
            elif any(c in alt for c in "*?["):
                alts.append(("glob", alt))
            else:
                alts.append(("lit", alt))
        self.alts = tuple(alts)

    @property
    def is_option(self) -> bool:
        """Every alternative is an option (``-f``, ``--force*``)."""
        return all(alt.startswith("-") for _, alt in self.alts)

    def could_match(self, unknown: Shape) -> bool:
        """Could a word whose value is only known at run time (``unknown``: its shape, see
        :func:`unknown_shape`) match this pattern word? Exact for literals; for globs and flags
        a close approximation: a value the pattern word accepts and the shape allows, or the
        word's own literal text (expansions empty) accepted by the pattern word."""
        literal = unknown.literal
        for kind, alt in self.alts:
            if kind == "lit":
                if unknown.fullmatch(alt):
                    return True
            elif kind == "flag":
                if any(unknown.fullmatch(v) for v in (alt, alt + "x", "-x" + alt[1])):
                    return True
            elif unknown.fullmatch(_glob_sample(alt)) or fnmatch.fnmatchcase(literal, alt):
                return True
        return False

    def matches(self, word: str) -> bool:
        for kind, alt in self.alts:
            if kind == "lit":
                if word == alt:
                    return True
            elif kind == "flag":
                if word == alt or (_SHORT_CLUSTER().fullmatch(word) and alt[1] in word[1:]):
                    return True
            elif fnmatch.fnmatchcase(word, alt):
                return True
        return False

    @property
    def literals(self) -> tuple[str, ...] | None:
        """The exact words this can match, or None when a glob or flag makes it open."""
        if all(kind == "lit" for kind, _ in self.alts):
            return tuple(alt for _, alt in self.alts)
        return None


class Pattern(Record):
    text: str
    words: tuple[_Word | None, ...]  # None is ``**``

    @classmethod
    def compile(cls, text: str) -> Pattern:
        if text.isprintable() and not any(c in text for c in "'\"\\"):
            raw = text.split()  # what shlex.split gives when there is nothing to unquote
        else:
            import shlex

            try:
                raw = shlex.split(text)
            except ValueError as e:
                raise ValueError(f"pattern {text!r} does not split into words: {e}") from None
        if not raw:
            raise ValueError("empty pattern")
        if raw[0] == "**":
            words: list[_Word | None] = [None]
        else:
            first = raw[0].rstrip("/").rsplit("/", 1)[-1] if "/" in raw[0] else raw[0]
            words = [_Word(first)]
        for w in split_long_options(raw[1:]):
            words.append(None if w == "**" else _Word(w))
        return cls(text, tuple(words))

    def subcommand_index(self) -> int:
        """The index of the pattern's subcommand word (the first word after the program, past
        ``**``, that is a plain literal such as ``publish`` or ``{apply,destroy}``), else -1."""
        for i, w in enumerate(self.words[1:], 1):
            if w is None:
                continue
            return i if not any(kind == "flag" or alt.startswith("-") for kind, alt in w.alts) else -1
        return -1

    @property
    def programs(self) -> tuple[str, ...] | None:
        """The program names this pattern can match, for indexing; None if any may match."""
        first = self.words[0]
        return first.literals if first is not None else None

    def matches(self, argv: Sequence[str],
                unknown: dict[int, Shape] | None = None) -> bool:
        """True when the pattern consumes a prefix of ``argv`` (already normalized).

        With ``unknown`` (argv index -> shape of a run-time value), True when it *could*."""
        words = self.words
        n, m = len(words), len(argv)
        failed: set[tuple[int, int]] = set()
        unknown = unknown or {}
        sub = self.subcommand_index() if unknown else -1

        def go(i: int, j: int) -> bool:
            while True:
                if i == n:
                    return True
                w = words[i]
                if w is None:
                    if i == n - 1:
                        return True
                    if (i, j) in failed:
                        return False
                    for k in range(j, m + 1):
                        if go(i + 1, k):
                            return True
                    failed.add((i, j))
                    return False
                if j == m:
                    return False
                shape = unknown.get(j)
                if shape is None:
                    if not w.matches(argv[j]):
                        return False
                elif not w.could_match(shape) or (i == sub and not all(
                        a.startswith("-") for a in argv[1:j])) or (
                        w.is_option and j > 1 and argv[j - 1].startswith("-") and "=" not in argv[j - 1]):
                    # A run-time word may stand for the subcommand only where no literal
                    # subcommand came before it (`npm install $PKG` cannot be `npm publish`),
                    # and right after an option it is that option's value, not another option
                    # (`git commit -m "$MSG"`, `docker build -t "$TAG"`).
                    return False
                i += 1
                j += 1

        return go(0, 0)


def normalize_dynamic(argv: Sequence[str], dynamic: Sequence[int]) -> tuple[tuple[str, ...], dict[int, Shape]]:
    """Like :func:`normalize_argv`, also mapping run-time-valued words to their new indexes."""
    out: list[str] = []
    shapes: dict[int, Shape] = {}
    dyn = set(dynamic)
    for i, w in enumerate(argv):
        pieces = split_long_options([w]) if i else [w]
        for piece in pieces:
            if i in dyn and _EXPANSION().search(piece):
                shapes[len(out)] = unknown_shape(piece)
            out.append(piece)
    return tuple(out), shapes


def normalize_argv(argv: Sequence[str]) -> tuple[str, ...]:
    if not argv:
        return ()
    return (argv[0], *split_long_options(argv[1:]))


# --------------------------------------------------------------------------- policy model


class Settings(Record):
    default: str = ALLOW
    approval_ttl: int = 30 * 60
    request_ttl: int = 24 * 3600
    unparseable: str = ASK
    retention: int = 7 * 86400
    audit_max_bytes: int = 64 * 1024 * 1024

    def merged(self, other: Settings) -> Settings:
        """Strictest of both: stricter decisions, shorter lifetimes."""
        return Settings(
            default=stricter(self.default, other.default),
            approval_ttl=min(self.approval_ttl, other.approval_ttl),
            request_ttl=min(self.request_ttl, other.request_ttl),
            unparseable=stricter(self.unparseable, other.unparseable),
            retention=max(self.retention, other.retention),
            audit_max_bytes=min(self.audit_max_bytes, other.audit_max_bytes),
        )


class Rule(Record):
    id: str
    decision: str
    reason: str
    patterns: tuple[Pattern, ...] = ()
    regex: tuple[re.Pattern[str], ...] = ()
    actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()
    source: str = ""

    def matches_argv(self, argv: Sequence[str]) -> bool:
        if any(p.matches(argv) for p in self.patterns):
            return True
        if self.regex:
            text = " ".join(argv)
            return any(r.search(text) for r in self.regex)
        return False

    def matches_action(self, action: str, resource: str | None) -> bool:
        if not self.actions or not any(fnmatch.fnmatchcase(action, a) for a in self.actions):
            return False
        if not self.resources:
            return True
        if resource is None:
            # Unknown resource: it might be one of ours. Restrictions apply, permissions do not.
            return self.decision != ALLOW
        return any(fnmatch.fnmatchcase(resource, r) for r in self.resources)


class Source(Record):
    """One policy file in force."""

    path: str
    sha256: str
    kind: str  # "explicit" | "env" | "user" | "embedded" | "repo"
    trusted: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "kind": self.kind,
                "trusted": self.trusted, "note": self.note}


class PartResult(Record):
    """The decision for one simple command (or one opaque construct)."""

    argv: tuple[str, ...]
    via: tuple[str, ...]
    decision: str
    rules: tuple[str, ...]
    reason: str
    opaque: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"argv": list(self.argv), "via": list(self.via), "decision": self.decision,
                "rules": list(self.rules), "reason": self.reason, "opaque": self.opaque}


class Evaluation(Record):
    decision: str
    rule: str | None
    reason: str
    parts: tuple[PartResult, ...] = ()
    source: str = "rule"  # "rule" | "default" | "unparseable"


UNPARSEABLE_RULE = "unparseable"


def _regex_program(pattern: str) -> str | None:
    """The program a regex is anchored to (``^rm `` or ``^rm(`` ... -> ``rm``), for indexing;
    None when it could match any program. The text it searches starts with the program."""
    m = re.match(r"\^([A-Za-z0-9_][A-Za-z0-9_+-]*)( |\\s)", pattern)
    return m.group(1) if m else None


def _path_word(w: str) -> bool:
    """Is ``w`` a relative path word the shell resolves in the working directory: ``.``, ``..``,
    ``./x``, ``../x``, ``dir/x``, ``*``, ``*.txt``? A bare name (``build``) is not taken as one:
    it may as well be a subcommand or a value."""
    if not w or w[0] in "-/~$`{" or "=" in w or ":" in w:
        return False
    return w in (".", "..") or "/" in w or any(c in w for c in "*?[")


def placed(argv: Sequence[str], cwd: str | None, home: str | None) -> list[tuple[str, ...]]:
    """``argv`` with its path words written where they lead: relative ones placed in ``cwd``
    (``cd / && rm -rf *`` is ``rm -rf /*``), and, when a path is the home directory or below it,
    also in the ``~`` spelling rules use (``rm -rf /home/me`` is ``rm -rf ~``). Empty when no
    word changes."""
    out, tilde = [argv[0]], [argv[0]]
    moved = home_form = False
    for w in argv[1:]:
        full = w
        if cwd is not None and _path_word(w):
            full = posixpath.normpath(posixpath.join(cwd, w))
            if w.endswith("*") and not full.endswith("*"):
                full += "/*"
            moved = True
        out.append(full)
        if home and full.startswith("/") and (full == home or full.startswith(home + "/")):
            tilde.append("~" + full[len(home):])
            home_form = True
        else:
            tilde.append(full)
    forms = [tuple(out)] if moved else []
    if home_form:
        forms.append(tuple(tilde))
    return forms


class Policy(Record):
    settings: Settings
    rules: tuple[Rule, ...]
    sources: tuple[Source, ...] = ()
    _index: dict[str, tuple[Rule, ...]] = field(default_factory=dict, repr=False, compare=False)
    _wild: tuple[Rule, ...] = field(default=(), repr=False, compare=False)
    _named: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def build(cls, settings: Settings, rules: Sequence[Rule], sources: Sequence[Source] = ()) -> Policy:
        index: dict[str, list[Rule]] = {}
        wild: list[Rule] = []
        named: set[str] = set()
        for r in rules:
            progs: set[str] = set()
            is_wild = False
            for rx in r.regex:
                prog = _regex_program(rx.pattern)
                if prog is None:
                    is_wild = True
                else:
                    progs.add(prog)
            for p in r.patterns:
                names = p.programs
                if names is None:
                    is_wild = True
                else:
                    progs.update(names)
            if is_wild:
                wild.append(r)
            for prog in sorted(progs):
                index.setdefault(prog, []).append(r)
            if r.decision != ALLOW:
                named.update(progs)
        frozen = {k: tuple(v) for k, v in index.items()}
        return cls(settings, tuple(rules), tuple(sources), frozen, tuple(wild), frozenset(named))

    @property
    def sha256(self) -> str:
        if len(self.sources) == 1:
            return self.sources[0].sha256
        return sha256_hex(*(f"{s.path}\0{s.sha256}\0{s.trusted}\n".encode() for s in self.sources))

    # -- decisions ---------------------------------------------------------------------

    def rules_for(self, argv: Sequence[str]) -> list[Rule]:
        if not argv:
            return []
        cands = self._index.get(argv[0], ())
        hits = [r for r in cands if r.matches_argv(argv)]
        hits.extend(r for r in self._wild if r not in hits and r.matches_argv(argv))
        return hits

    def _part(self, argv: Sequence[str], via: tuple[str, ...], dynamic: Sequence[int] = (),
              env: Sequence[str] = ()) -> tuple[PartResult, Rule | None]:
        shown = tuple(argv)
        # NAME=value assignments that reach the command are matched as trailing words, so
        # `rails ** db:* ** RAILS_ENV=production` sees `RAILS_ENV=production rails db:migrate`.
        argv = (*argv, *env)
        norm = normalize_argv(argv)
        hits = self.rules_for(norm)
        if hits:
            best = hits[0]
            for r in hits[1:]:
                if RANK[r.decision] > RANK[best.decision]:
                    best = r
            part = PartResult(shown, via, best.decision, tuple(r.id for r in hits), best.reason)
        else:
            d = self.settings.default
            part, best = PartResult(shown, via, d, (), f"No rule matched; settings.default is {d!r}."), None
        if dynamic:
            maybe = self._maybe(argv, dynamic, hits)
            if maybe is not None and RANK[maybe[0]] > RANK[part.decision]:
                d, rule = maybe
                reason = (f"A word whose value is only known at run time could make this match rule "
                          f"{rule.id!r} ({rule.reason.rstrip('.')}); a human must look.")
                return PartResult(shown, via, d, (*part.rules, rule.id), reason), rule
        return part, best

    def _maybe(self, argv: Sequence[str], dynamic: Sequence[int],
               hits: Sequence[Rule]) -> tuple[str, Rule] | None:
        """The strictest non-allow rule that ``$X``/``$(..)`` words could satisfy at run time.

        A possible deny needs a human (settings.unparseable), a possible ask is an ask."""
        norm, shapes = normalize_dynamic(argv, dynamic)
        if not shapes or not norm:
            return None
        found: tuple[str, Rule] | None = None
        for r in (*self._index.get(norm[0], ()), *self._wild):
            if r.decision == ALLOW or r in hits or not any(p.matches(norm, shapes) for p in r.patterns):
                continue
            d = self.settings.unparseable if r.decision == DENY else ASK
            if found is None or RANK[d] > RANK[found[0]]:
                found = (d, r)
        return found

    def names_program(self, text: str) -> str | None:
        """A program that a non-allow rule names, if it appears as a word in ``text``."""
        for word in _WORD().findall(text):
            if word in self._named:
                return str(word)
        return None

    def decide(self, analysis: Analysis) -> Evaluation:
        """The decision for the commands of ``analysis``: the strictest over every simple
        command (its argv, and its path words placed in its own directory, see :func:`placed`)
        and every opaque part. The analysis is given: the policy never reads shell text."""
        parts: list[PartResult] = []
        best_rank, best_rule, best_reason, best_source = -1, None, "", "default"

        def consider(part: PartResult, rule: Rule | None) -> None:
            nonlocal best_rank, best_rule, best_reason, best_source
            parts.append(part)
            if RANK[part.decision] > best_rank:
                best_rank = RANK[part.decision]
                best_rule = rule.id if rule else None
                best_reason = part.reason
                best_source = "rule" if rule else "default"

        for cmd in analysis.commands:
            part, rule = self._part(cmd.argv, cmd.via, cmd.dynamic, cmd.env)
            consider(part, rule)
            if cmd.cwd is None and analysis.home is None:
                continue
            for argv in placed(cmd.argv, cmd.cwd, analysis.home):
                where = f"in {cmd.cwd}" if cmd.cwd else "home as ~"
                other, orule = self._part(argv, (*cmd.via, where), cmd.dynamic, cmd.env)
                if not set(other.rules) <= set(part.rules):  # shown when it matches more
                    consider(other, orule)
        seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
        for op in analysis.opaque:
            key = (op.kind, op.reason, op.text, op.via)
            if key in seen:  # the same part in another directory
                continue
            seen.add(key)
            if op.kind == "code":
                named = self.names_program(op.text)
                if named is None:
                    continue
                reason = f"{op.reason}; the code mentions {named!r}, which a rule guards"
            else:
                reason = op.reason
            d = self.settings.unparseable
            parts.append(PartResult((op.text[:200],) if op.text else (), op.via, d,
                                    (UNPARSEABLE_RULE,), reason, opaque=True))
            if RANK[d] > best_rank:
                best_rank, best_rule, best_reason, best_source = RANK[d], UNPARSEABLE_RULE, (
                    f"The gate cannot see through this command ({reason}); "
                    f"settings.unparseable is {d!r}."), "unparseable"
        if best_rank < 0:  # nothing to run at all, e.g. an empty script
            d = self.settings.default
            return Evaluation(d, None, f"No command found; settings.default is {d!r}.", tuple(parts), "default")
        return Evaluation(DECISIONS[best_rank], best_rule, best_reason, tuple(parts), best_source)

    def check_action(self, action: str, resource: str | None = None) -> Evaluation:
        hits = [r for r in self.rules if r.actions and r.matches_action(action, resource)]
        argv = (action,) if resource is None else (action, resource)
        if not hits:
            d = self.settings.default
            part = PartResult(argv, (), d, (), f"No rule matched; settings.default is {d!r}.")
            return Evaluation(d, None, part.reason, (part,), "default")
        best = hits[0]
        for r in hits[1:]:
            if RANK[r.decision] > RANK[best.decision]:
                best = r
        part = PartResult(argv, (), best.decision, tuple(r.id for r in hits), best.reason)
        return Evaluation(best.decision, best.id, best.reason, (part,), "rule")


# --------------------------------------------------------------------------- loading

_TOP_KEYS = {"version", "settings", "rule"}
_SETTINGS_KEYS = {"default", "approval_ttl", "request_ttl", "unparseable", "retention",
                  "audit_max_bytes"}
_RULE_KEYS = {"id", "decision", "reason", "commands", "regex", "actions", "resources",
              "match", "not_match"}


def _str_list(value: Any, key: str, path: str, rule: str | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        hint = f'write {key} = ["..."]' if isinstance(value, str) else None
        raise PolicyError(f"{key!r} must be a list of non-empty strings", hint, path=path, rule=rule)
    return tuple(value)


def _parse_settings(raw: Any, path: str) -> Settings:
    if raw is None:
        return Settings()
    if not isinstance(raw, dict):
        raise PolicyError("[settings] must be a table", path=path)
    unknown = set(raw) - _SETTINGS_KEYS
    if unknown:
        raise PolicyError(f"unknown key(s) in [settings]: {', '.join(sorted(unknown))}",
                          f"known keys: {', '.join(sorted(_SETTINGS_KEYS))}", path=path)
    kw: dict[str, Any] = {}
    for key in ("default", "unparseable"):
        if key in raw:
            if raw[key] not in DECISIONS:
                raise PolicyError(f"settings.{key} must be one of allow | ask | deny, not {raw[key]!r}", path=path)
            kw[key] = raw[key]
    if kw.get("unparseable") == ALLOW:
        raise PolicyError("settings.unparseable may be 'ask' or 'deny', never 'allow'",
                          "a command the gate cannot understand must not pass unseen", path=path)
    for key in ("approval_ttl", "request_ttl", "retention"):
        if key in raw:
            try:
                kw[key] = parse_duration(raw[key])
            except ValueError as e:
                raise PolicyError(f"settings.{key}: {e}", path=path) from None
    if "audit_max_bytes" in raw:
        v = raw["audit_max_bytes"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 4096:
            raise PolicyError("settings.audit_max_bytes must be an integer >= 4096", path=path)
        kw["audit_max_bytes"] = v
    return Settings(**kw)


def _parse_rule(raw: Any, n: int, path: str, check_examples: bool = True) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(f"[[rule]] #{n} must be a table", path=path)
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise PolicyError(f"[[rule]] #{n} has no 'id' (a unique, non-empty string)", path=path)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"unknown key(s): {', '.join(sorted(unknown))}",
                          f"known keys: {', '.join(sorted(_RULE_KEYS))}", path=path, rule=rid)
    decision = raw.get("decision")
    if decision not in DECISIONS:
        raise PolicyError(f"'decision' must be one of allow | ask | deny, not {decision!r}", path=path, rule=rid)
    reason = raw.get("reason", "")
    if not isinstance(reason, str):
        raise PolicyError("'reason' must be a string", path=path, rule=rid)
    patterns: list[Pattern] = []
    for text in _str_list(raw.get("commands", []), "commands", path, rid):
        try:
            patterns.append(Pattern.compile(text))
        except ValueError as e:
            raise PolicyError(str(e), path=path, rule=rid) from None
    regexes: list[re.Pattern[str]] = []
    for text in _str_list(raw.get("regex", []), "regex", path, rid):
        try:
            regexes.append(re.compile(text))
        except re.error as e:
            raise PolicyError(f"regex {text!r} does not compile: {e}", path=path, rule=rid) from None
        if _nested_quantifier(text):
            raise PolicyError(f"regex {text!r} repeats a group that itself repeats, which can take "
                              "exponential time on some commands", "rewrite it without nesting "
                              "quantifiers, e.g. (a+)+ as a+", path=path, rule=rid)
    actions = _str_list(raw.get("actions", []), "actions", path, rid)
    resources = _str_list(raw.get("resources", []), "resources", path, rid)
    if resources and not actions:
        raise PolicyError("'resources' needs 'actions'", path=path, rule=rid)
    if not (patterns or regexes or actions):
        raise PolicyError("a rule needs 'commands', 'regex' or 'actions'", path=path, rule=rid)
    rule = Rule(
        id=rid, decision=decision, reason=reason or f"Rule {rid!r} ({decision}).",
        patterns=tuple(patterns), regex=tuple(regexes), actions=actions, resources=resources,
        match=_str_list(raw.get("match", []), "match", path, rid),
        not_match=_str_list(raw.get("not_match", []), "not_match", path, rid), source=path,
    )
    if check_examples:
        _check_examples(rule, path)
    return rule


def rule_matches_command(rule: Rule, text: str) -> bool:
    """Does ``rule`` match any simple command of the example command line ``text``?"""
    analysis = shell.analyze_script(text)
    return any(rule.matches_argv(normalize_argv((*c.argv, *c.env))) for c in analysis.commands)


def rule_matches_example(rule: Rule, text: str) -> bool:
    """An example is a command line for command rules, ``ACTION [RESOURCE]`` for action rules."""
    if rule.patterns or rule.regex:
        return rule_matches_command(rule, text)
    words = text.split()
    if not words:
        return False
    return rule.matches_action(words[0], words[1] if len(words) > 1 else None)


def _check_examples(rule: Rule, path: str) -> None:
    for ex in rule.match:
        if not rule_matches_example(rule, ex):
            raise PolicyError(f"example {ex!r} is listed in 'match' but the rule does not match it",
                              "fix the pattern or the example", path=path, rule=rule.id)
    for ex in rule.not_match:
        if rule_matches_example(rule, ex):
            raise PolicyError(f"example {ex!r} is listed in 'not_match' but the rule matches it",
                              "fix the pattern or the example", path=path, rule=rule.id)


class PolicyFile(Record):
    settings: Settings
    rules: tuple[Rule, ...]
    explicit: frozenset[str]  # settings keys the file set itself
    source: Source


def parse_policy_file(text: str | bytes, path: str = "<string>", kind: str = "explicit", *,
                      check_examples: bool = True) -> PolicyFile:
    """Parse and validate. ``check_examples=False`` skips re-running the inline examples, for a
    content whose :func:`validation_key` already passed them; every other check still runs.

    A file must say something: at least one ``[[rule]]``, or an explicit ``settings.default``
    (a ``kind="repo"`` file, which only adds to the policy in force: any ``[settings]`` key)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    digest = sha256_hex(data)
    raw = preparsed(digest)
    if raw is None:
        import tomllib

        try:
            raw = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise PolicyError(f"not UTF-8 text ({e})", path=path) from None
        except tomllib.TOMLDecodeError as e:
            raise PolicyError(f"TOML syntax error: {e}", "fix the line named above", path=path) from None
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"unknown top-level key(s): {', '.join(sorted(unknown))}",
                          "known: version, [settings], [[rule]]", path=path)
    version = raw.get("version", 1)
    if type(version) is not int or version != 1:  # not true, not 1.0
        raise PolicyError(f"unsupported policy version {version!r}", "this agentgate reads version = 1", path=path)
    settings = _parse_settings(raw.get("settings"), path)
    rules_raw = raw.get("rule", [])
    if not isinstance(rules_raw, list):
        raise PolicyError("'rule' must be an array of tables: write [[rule]]", path=path)
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, r in enumerate(rules_raw, 1):
        rule = _parse_rule(r, n, path, check_examples)
        if rule.id in seen:
            raise PolicyError("duplicate rule id", "rule ids must be unique within a file", path=path, rule=rule.id)
        seen.add(rule.id)
        rules.append(rule)
    explicit = frozenset(raw.get("settings", {}) or {})
    if not rules and ("default" not in explicit if kind != "repo" else not explicit):
        raise _says_nothing(path, kind)
    src = Source(path, digest, kind)
    return PolicyFile(settings, tuple(rules), explicit, src)


def _says_nothing(path: str, kind: str) -> PolicyError:
    """A file with no rule (and, for a policy in force by itself, no settings.default) is an
    error: an empty or truncated file would otherwise allow every command."""
    allow_all = 'to allow every command on purpose, write [settings] default = "allow"'
    if kind == "repo":
        return PolicyError("the repo-local policy has no [[rule]] and no [settings], so it says nothing",
                           "add the rules it is meant to hold, or delete it", path=path)
    if kind == "user":
        hint = ("delete it to use the embedded default policy, or delete it and run `agentgate "
                f"init` for an editable copy of the starter policy; {allow_all}")
    elif kind == "env":
        hint = ("point AGENTGATE_POLICY at a policy with rules (`agentgate init --print` prints "
                f"the starter policy), or unset it to use the user policy or the embedded default; {allow_all}")
    else:
        hint = f"write its rules (`agentgate init --print` prints the starter policy to start from); {allow_all}"
    return PolicyError("the policy has no [[rule]] and does not set settings.default, so it "
                       "would allow every command", hint, path=path)


PREPARSED_NAME = "policies.example.parsed.json"


def preparsed(digest: str) -> dict[str, Any] | None:
    """What tomllib makes of the starter policy (embedded, or copied by `init`), if ``digest`` is
    the sha256 of its text: shipped beside this module as ``{"sha256": ..., "toml": ...}``. For
    that content `run` need not import tomllib (4 ms); every other check still runs on the
    result. Any other content, or a missing or stale file, goes through tomllib."""
    try:
        with open(os.path.join(os.path.dirname(__file__), PREPARSED_NAME), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("sha256") != digest or not isinstance(doc.get("toml"), dict):
        return None
    toml: dict[str, Any] = doc["toml"]
    return toml


def parse_policy(text: str | bytes, path: str = "<string>") -> Policy:
    pf = parse_policy_file(text, path)
    return Policy.build(pf.settings, pf.rules, (pf.source,))


MAX_POLICY_BYTES = 1024 * 1024
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def _refuse_unless_small_regular(st: os.stat_result, name: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        what = next((text for test, text in _NOT_REGULAR if test(st.st_mode)), "not a regular file")
        raise PolicyError(f"the policy is {what}, not a regular file",
                          "a policy is a TOML file (a symlink to one is fine): put one there, "
                          "or point the path at one", path=name)
    if st.st_size > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is {st.st_size} bytes, more than the 1 MiB a policy may be",
                          "check that the path names the right file", path=name)


def read_policy_bytes(path: Path) -> bytes:
    """The bytes of a policy file, which must be a regular file (after symlinks) of at most
    :data:`MAX_POLICY_BYTES`. A FIFO would block the gate forever and ``/dev/zero`` would read
    until memory runs out, so anything else is a PolicyError (78) before a byte is read; the
    open never blocks (O_NONBLOCK), and reading stops one byte past the cap."""
    name = str(path)
    try:
        _refuse_unless_small_regular(os.stat(path), name)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise PolicyError("the policy is a symlink to a file that does not exist",
                              "fix or remove the link", path=name) from None
        raise PolicyError("policy file not found", "check the path, or run `agentgate init`", path=name) from None
    except OSError as e:
        raise PolicyError(f"cannot read policy file: {e.strerror or e}", path=name) from None
    chunks: list[bytes] = []
    size = 0
    try:
        _refuse_unless_small_regular(os.fstat(fd), name)  # the file opened, not a swapped one
        while size <= MAX_POLICY_BYTES:
            chunk = os.read(fd, MAX_POLICY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise PolicyError(f"cannot read policy file: {e.strerror or e}", path=name) from None
    finally:
        os.close(fd)
    if size > MAX_POLICY_BYTES:
        raise PolicyError("the policy grew past the 1 MiB a policy may be while it was read",
                          "check that the path names the right file", path=name)
    return b"".join(chunks)


def read_policy_file(path: Path, kind: str) -> PolicyFile:
    return parse_policy_file(read_policy_bytes(path), str(path), kind)


def validation_key(data: bytes) -> str:
    """Names "this policy content, checked by this code": the content's sha256 with the version
    and the identity (size, mtime) of the two modules that decide what an example matches."""
    from . import __version__

    chunks = [data, __version__.encode()]
    for module in (__file__, shell.__file__):
        st = os.stat(module)
        chunks.append(f"\0{st.st_size}:{st.st_mtime_ns}".encode())
    return sha256_hex(*chunks)


def embedded_policy_text() -> bytes:
    """The packaged default policy: read beside this module (importlib.resources costs ~3 ms of
    imports on every `run`), through importlib.resources only when installed as a zip."""
    try:
        with open(os.path.join(os.path.dirname(__file__), "policies.example.toml"), "rb") as f:
            return f.read()
    except OSError:
        from importlib import resources

        return resources.files("agentgate").joinpath("policies.example.toml").read_bytes()


def combine(primary: PolicyFile, extras: Sequence[PolicyFile]) -> Policy:
    """Merge the primary policy with repo-local ones, strictest wins.

    An untrusted extra contributes only its deny and ask rules (restrictions are safe to take
    from anyone); its allow rules and its settings are ignored.
    """
    settings = primary.settings
    rules = list(primary.rules)
    sources = [primary.source]
    for pf in extras:
        if pf.source.trusted:
            overrides = {k: getattr(pf.settings, k) for k in pf.explicit}
            settings = settings.merged(Settings(**{**settings.__dict__, **overrides}))
            rules.extend(pf.rules)
        else:
            rules.extend(r for r in pf.rules if r.decision != ALLOW)
        sources.append(pf.source)
    return Policy.build(settings, rules, sources)
