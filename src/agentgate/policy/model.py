"""The policy model: settings, rules, the sources in force, and the decision for an analysis.

The decision for a command is the strictest (deny > ask > allow) over every simple command of
its shell analysis (each also with its path words placed in the directory it runs in), over
every rule that matches it, across every policy file in force. A part that no rule matches gets
``settings.default``; a part the analysis cannot see through gets ``settings.unparseable``. The
model reads no file and no shell text: :meth:`Policy.decide` is given the analysis.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import re
from collections.abc import Sequence

from ..lean import Record, field, lazy_regex, sha256_hex
from .patterns import Pattern, normalize_argv, normalize_dynamic
from .regexes import SearchBudget

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from ..shell import Analysis
    from .exemptions import Exemption

ALLOW, ASK, DENY = "allow", "ask", "deny"
DECISIONS = (ALLOW, ASK, DENY)
RANK = {ALLOW: 0, ASK: 1, DENY: 2}
_WORD = lazy_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def stricter(a: str, b: str) -> str:
    return a if RANK[a] >= RANK[b] else b


class Settings(Record):
    default: str = ALLOW
    approval_ttl: int = 30 * 60
    request_ttl: int = 24 * 3600
    unparseable: str = ASK
    retention: int = 7 * 86400
    audit_max_bytes: int = 64 * 1024 * 1024
    notify_urls: tuple[str, ...] = ()  # [notify] urls: apprise URLs told of each new request
    notify_desktop: bool = True  # [notify] desktop: a desktop notification where a bus is
    internal_domains: tuple[str, ...] = ()  # e-mail domains of one's own (conditions' domain())

    def merged(self, other: Settings) -> Settings:
        """Strictest of both: stricter decisions, shorter lifetimes, the domains both count as
        internal."""
        return Settings(
            default=stricter(self.default, other.default),
            approval_ttl=min(self.approval_ttl, other.approval_ttl),
            request_ttl=min(self.request_ttl, other.request_ttl),
            unparseable=stricter(self.unparseable, other.unparseable),
            retention=max(self.retention, other.retention),
            audit_max_bytes=min(self.audit_max_bytes, other.audit_max_bytes),
            notify_urls=self.notify_urls,  # the policy in force by itself says where (loader)
            notify_desktop=self.notify_desktop,
            internal_domains=tuple(d for d in self.internal_domains if d in other.internal_domains),
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
    condition: str = ""  # action rules: parsed by policy.conditions when first checked

    def matches_argv(self, argv: Sequence[str], budget: SearchBudget | None = None) -> bool:
        """Does a pattern match ``argv``, or a regex find a match in its words joined by spaces?
        The regexes search within ``budget`` (one of their own when None). One that gives no
        answer in it (out of time) fails closed: an ask or deny rule counts as matching, an
        allow rule does not, and the budget notes the rule."""
        if any(p.matches(argv) for p in self.patterns):
            return True
        if self.decision != ALLOW and any(p.matches(full) for full in self._unabbreviated(argv)
                                          for p in self.patterns):
            return True
        if not self.regex:
            return False
        if budget is None:
            with SearchBudget() as own:
                return self.matches_argv(argv, own)
        text = " ".join(argv)
        for r in self.regex:
            found = budget.search(r, text)
            if found is None:
                budget.note(self.id)
                return self.decision != ALLOW
            if found:
                return True
        return False

    def _unabbreviated(self, argv: Sequence[str]) -> list[tuple[str, ...]]:
        """``argv`` with its abbreviated long options written out as this rule's patterns spell
        them: GNU getopt and most option parsers take any unambiguous prefix (``rm --rec`` is
        ``rm --recursive``, ``git push --forc`` is ``--force``). Only for ask and deny rules,
        where reading an abbreviation as the option it may stand for is the stricter reading; an
        allow rule never widens this way. One list per choice where a prefix fits several."""
        longs = _long_options(self.patterns)
        if not longs:
            return []
        fits = {i: [o for o in longs if o.startswith(w)] for i, w in enumerate(argv)
                if w[:2] == "--" and len(w) >= 4 and w not in longs and "=" not in w}
        fits = {i: c for i, c in fits.items() if c}
        out = []
        for i, choices in fits.items():
            for choice in choices:
                full = [fits[k][0] if k in fits else w for k, w in enumerate(argv)]
                full[i] = choice
                out.append(tuple(full))
        return out

    def matches_action(self, action: str, resource: str | None,
                       facts: ActionFacts | None = None) -> bool:
        return self.action_match(action, resource, facts)[0]

    def action_match(self, action: str, resource: str | None,
                     facts: ActionFacts | None = None) -> tuple[bool, tuple[str, ...]]:
        """Does this action rule match, and what its condition did not know when it matched
        only for want of it (a missing attribute, one of another kind, the time). An unknown
        resource or condition is read strictly: restrictions apply, permissions do not."""
        if not self.actions or not any(fnmatch.fnmatchcase(action, a) for a in self.actions):
            return False, ()
        if self.resources:
            if resource is None:
                if self.decision == ALLOW:  # it might be one of ours: restrictions apply
                    return False, ()
            elif not any(fnmatch.fnmatchcase(resource, r) for r in self.resources):
                return False, ()
        if not self.condition:
            return True, ()
        from . import conditions  # only where a condition is checked: not on the run path

        facts = facts or ActionFacts()
        known = {**facts.attributes, "action": action, "agent": facts.agent,
                 "resource": resource}
        missing: list[str] = []
        try:
            cond = conditions.parse(self.condition)
        except conditions.ConditionError as e:  # a policy whose checks were skipped
            from ..errors import PolicyError

            raise PolicyError(f"condition {self.condition!r}: {e}", "fix the condition",
                              path=self.source, rule=self.id) from None
        result = cond.evaluate(known, facts.now, {"internal_domains": facts.internal_domains},
                               missing)
        if result is None:
            if self.decision == ALLOW:
                return False, ()
            return True, tuple(dict.fromkeys(missing))
        return result, ()


@functools.lru_cache(maxsize=1024)
def _long_options(patterns: tuple[Pattern, ...]) -> tuple[str, ...]:
    """The long options (five characters and up) the patterns spell out, sorted: computed once
    per rule's patterns, not on every command a rule is tried against."""
    return tuple(sorted({alt for p in patterns for w in p.words if w is not None
                         for kind, alt in w.alts
                         if kind == "lit" and alt[:2] == "--" and len(alt) > 4}))


class ActionFacts(Record):
    """What an action checkpoint knows besides the action and resource: the caller's
    attributes, the agent's name, the time (epoch seconds, or an example's wall time; None
    unknown) and the policy's internal e-mail domains."""

    attributes: dict[str, Any] = field(default_factory=dict)
    agent: str | None = None
    now: Any = None
    internal_domains: tuple[str, ...] = ()


class Source(Record):
    """One policy file in force."""

    path: str
    sha256: str
    kind: str  # "explicit" | "env" | "user" | "embedded" | "repo"
    trusted: bool = True
    note: str = ""
    exemptions: tuple[Exemption, ...] = ()  # its [[exception]] tables (policy.exemptions)

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
    # the decision came from a word whose value is only known at run time (it could match)
    runtime: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"argv": list(self.argv), "via": list(self.via), "decision": self.decision,
             "rules": list(self.rules), "reason": self.reason, "opaque": self.opaque}
        if self.runtime:
            d["runtime"] = True
        return d


class Evaluation(Record):
    decision: str
    rule: str | None
    reason: str
    parts: tuple[PartResult, ...] = ()
    source: str = "rule"  # "rule" | "default" | "unparseable" | "exception"
    standing: str | None = None  # what a standing exception that allowed it is (its own words)

    def runtime_word(self) -> PartResult | None:
        """A part held only because a run-time word could make it match a rule: the text's
        grant would cover whatever that word expands to next time, so it cannot be granted."""
        return next((p for p in self.parts if p.runtime and p.decision != ALLOW), None)


UNPARSEABLE_RULE = "unparseable"


def _regex_program(pattern: str) -> str | None:
    """The program a regex is anchored to (``^rm `` or ``^rm(`` ... -> ``rm``), for indexing;
    None when it could match any program. The text it searches starts with the program."""
    if pattern[:1] != "^":  # ^([A-Za-z0-9_][A-Za-z0-9_+-]*)( |\s), without compiling it
        return None
    end = 1
    while end < len(pattern) and pattern[end].isascii() and (
            pattern[end].isalnum() or pattern[end] in ("_+-" if end > 1 else "_")):
        end += 1
    return pattern[1:end] if end > 1 and pattern.startswith((" ", "\\s"), end) else None


def _normal_path(w: str) -> str:
    """An absolute path word as the kernel reads it (``//``, ``/./``, ``/x/..``; a trailing
    ``/`` kept), ``~user`` as that user's home directory (``/root``, else ``/home/user``)."""
    if w[:1] == "~":
        user, sep, rest = w[1:].partition("/")
        w = ("/root" if user == "root" else f"/home/{user}") + (sep + rest if sep else "")
    full = "/" + posixpath.normpath(w).lstrip("/")
    return full + "/" if w.endswith(("/", "/.")) and full != "/" else full


def _path_word(w: str) -> bool:
    """Is ``w`` a relative path word the shell resolves in the working directory: ``.``, ``..``,
    ``./x``, ``../x``, ``dir/x``, ``*``, ``*.txt``? A bare name (``build``) is not taken as one:
    it may as well be a subcommand or a value."""
    if not w or w[0] in "-/~$`{" or "=" in w or ":" in w:
        return False
    return w in (".", "..") or "/" in w or any(c in w for c in "*?[")


def _bare_name(w: str) -> bool:
    return bool(w) and w[0] not in "-/~$`{+." and "=" not in w and ":" not in w and "\n" not in w


def placed(argv: Sequence[str], cwd: str | None, home: str | None) -> list[tuple[str, ...]]:
    """``argv`` with its path words written where they lead: relative ones placed in ``cwd``
    (``cd / && rm -rf *`` is ``rm -rf /*``), and, when a path is the home directory or below it,
    also in the ``~`` spelling rules use (``rm -rf /home/me`` is ``rm -rf ~``). Empty when no
    word changes."""
    out, tilde = [argv[0]], [argv[0]]
    moved = home_form = False
    # in / or a directory just below it, or in home, a bare name is placed too: after
    # ``cd / && rm -rf etc`` it is /etc (deeper, a bare word may as well be a value)
    shallow = cwd is not None and (cwd.rstrip("/").count("/") <= 1 or cwd == home)
    for w in argv[1:]:
        full = w
        if home and w[:2] == "~/" and ("/." in w or "//" in w) and "$" not in w and "`" not in w:
            full = _normal_path(home.rstrip("/") + w[1:])  # ~/../../etc is /etc
            moved = moved or full != w
        elif cwd is not None and (_path_word(w) or (shallow and _bare_name(w))):
            full = posixpath.normpath(posixpath.join(cwd, w))
            if w.endswith("*") and not full.endswith("*"):
                full += "/*"
            moved = True
        elif (w[:1] == "/" and ("//" in w or "/." in w)) or (
                w[:1] == "~" and w[1:2] not in ("", "/") and "$" not in w and "`" not in w):
            full = _normal_path(w)
            moved = moved or full != w
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


# What in an interpreter's code may start a program or evaluate text: a call of the language's
# process or eval API, a module that has one, backticks, pipes, ``$``. Code without any of them
# outside its plain string literals (``print("git push -f")``) holds a program's name as data.
_MAY_RUN = lazy_regex(
    r"[`|$]|\b(system|exec\w*|spawn\w*|popen\w*|Popen|subprocess|shell\w*|passthru|proc_\w+|"
    r"pcntl_\w+|child_process|execSync|fork\w*|run\w*|call\w*|check_\w+|\w*output|os|posix|"
    r"pty|ctypes|cffi|eval\w*|compile|__\w+__|getattr|setattr|importlib|builtins|globals|locals|"
    r"vars|require\w*|import|load\w*|dofile|include\w*|open\w*|Open3|IO|Kernel|Process\w*|"
    r"Runtime|Command|Deno|Bun|process|globalThis|global|Function|Reflect|constructor|send|"
    r"public_send|\w+_eval|method|qx|do|sh|bash|cmd|getline|uplevel|source|subst|interp)\b")


def _code_may_run(code: str) -> bool:
    """Could interpreter ``code`` start a program or evaluate text? Its plain string literals
    ('...' and "..." holding no ``{ $ # @``, backslash or backtick: no interpolation, no
    escape) are data and not read."""
    out: list[str] = []
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c in "'\"":
            end = code.find(c, i + 1)
            if end > 0 and not any(x in code[i + 1 : end] for x in "{$#@\\`"):
                out.append(" ")
                i = end + 1
                continue
        out.append(c)
        i += 1
    return _MAY_RUN().search("".join(out)) is not None


class Policy(Record):
    settings: Settings
    rules: tuple[Rule, ...]
    sources: tuple[Source, ...] = ()
    _index: dict[str, tuple[Rule, ...]] = field(default_factory=dict, repr=False, compare=False)
    _wild: tuple[Rule, ...] = field(default=(), repr=False, compare=False)
    _named: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def exemptions(self) -> list[Exemption]:
        """The standing exceptions in force: those of files whose allow rules count (an
        untrusted repo policy's are ignored, like its allow rules); see policy.exemptions."""
        return [e for s in self.sources if s.trusted for e in s.exemptions]

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

    def rules_for(self, argv: Sequence[str], budget: SearchBudget | None = None) -> list[Rule]:
        """The rules that match ``argv``, their regexes searching within ``budget``."""
        if not argv:
            return []
        if budget is None:
            with SearchBudget() as own:
                return self.rules_for(argv, own)
        cands = self._index.get(argv[0], ())
        hits = [r for r in cands if r.matches_argv(argv, budget)]
        hits.extend(r for r in self._wild if r not in hits and r.matches_argv(argv, budget))
        return hits

    def _part(self, argv: Sequence[str], via: tuple[str, ...], dynamic: Sequence[int],
              env: Sequence[str], budget: SearchBudget, split: Sequence[int] = (),
              valued: Sequence[int] = ()) -> tuple[PartResult, Rule | None]:
        shown = tuple(argv)
        # NAME=value assignments that reach the command are matched as trailing words, so
        # `rails ** db:* ** RAILS_ENV=production` sees `RAILS_ENV=production rails db:migrate`.
        argv = (*argv, *env)
        norm = normalize_argv(argv)
        mark = len(budget.undecided)
        hits = self.rules_for(norm, budget)
        if hits:
            unsure = dict(budget.undecided[mark:])  # rules that count only for want of time
            best = hits[0]
            for r in hits[1:]:
                if RANK[r.decision] > RANK[best.decision] or (
                        r.decision == best.decision and best.id in unsure and r.id not in unsure):
                    best = r
            reason = best.reason
            if best.id in unsure:
                reason = (f"The regex of rule {best.id!r} {unsure[best.id]}, so the rule counts "
                          f"as matching (fail closed): {best.reason}")
            part = PartResult(shown, via, best.decision, tuple(r.id for r in hits), reason)
        else:
            d = self.settings.default
            part, best = PartResult(shown, via, d, (), f"No rule matched; settings.default is {d!r}."), None
        if dynamic:
            maybe = self._maybe(argv, dynamic, hits, split, valued)
            if maybe is not None and RANK[maybe[0]] > RANK[part.decision]:
                d, rule = maybe
                reason = (f"A word whose value is only known at run time could make this match rule "
                          f"{rule.id!r} ({rule.reason.rstrip('.')}); a human must look.")
                return PartResult(shown, via, d, (*part.rules, rule.id), reason, runtime=True), rule
        return part, best

    def _maybe(self, argv: Sequence[str], dynamic: Sequence[int], hits: Sequence[Rule],
               split: Sequence[int] = (), valued: Sequence[int] = ()) -> tuple[str, Rule] | None:
        """The strictest non-allow rule that ``$X``/``$(..)`` words could satisfy at run time.

        A possible deny needs a human (settings.unparseable), a possible ask is an ask."""
        norm, shapes = normalize_dynamic(argv, dynamic, split, valued)
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
        with SearchBudget() as budget:  # every rule-regex search of this decision
            return self._decide(analysis, budget)

    def _decide(self, analysis: Analysis, budget: SearchBudget) -> Evaluation:
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

        def command(argv: Sequence[str], via: tuple[str, ...], dynamic: Sequence[int],
                    env: Sequence[str], cwd: str | None, guessed: bool, split: Sequence[int] = (),
                    valued: Sequence[int] = ()) -> None:
            part, rule = self._part(argv, via, dynamic, env, budget, split, valued)
            if not guessed or (part.rules and part.decision != ALLOW):
                consider(part, rule)
            if cwd is None and analysis.home is None:
                return
            for moved in placed(argv, cwd, analysis.home):
                where = f"in {cwd}" if cwd else "home as ~"
                other, orule = self._part(moved, (*via, where), dynamic, env, budget, split, valued)
                if (not set(other.rules) <= set(part.rules)  # shown when it matches more
                        or RANK[other.decision] > RANK[part.decision]) and (
                        not guessed or other.decision != ALLOW):
                    consider(other, orule)

        for cmd in analysis.commands:
            guessed = cmd.guessed
            command(cmd.argv, cmd.via, cmd.dynamic, cmd.env, cmd.cwd, guessed, cmd.split, cmd.valued)
            for k in cmd.nested:  # the backstop: an unknown program may run what follows
                name = cmd.argv[k].rsplit("/", 1)[-1].lstrip("\\").lower()
                if name in self._named:
                    dyn = tuple(d - k for d in cmd.dynamic if d > k)
                    via = (*cmd.via, f"?{cmd.argv[0]} may run {name}")
                    command((name, *cmd.argv[k + 1 :]), via, dyn, cmd.env, cmd.cwd, True)
        seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
        for op in analysis.opaque:
            key = (op.kind, op.reason, op.text, op.via)
            if key in seen:  # the same part in another directory
                continue
            seen.add(key)
            if op.kind == "code":
                named = self.names_program(op.text)
                if named is None or not (op.commands or _code_may_run(op.text)):
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

    def check_action(self, action: str, resource: str | None = None,
                     attributes: dict[str, Any] | None = None, *, agent: str | None = None,
                     now: Any = None) -> Evaluation:
        """The strictest action rule that matches ``action`` on ``resource`` with these
        ``attributes`` (from ``agent``, at ``now``: epoch seconds; None when unknown). A rule
        that matches only because something it tests is unknown says so in the reason."""
        facts = ActionFacts(dict(attributes or {}), agent, now, self.settings.internal_domains)
        hits: list[tuple[Rule, tuple[str, ...]]] = []
        for r in self.rules:
            if r.actions:
                hit, unknown = r.action_match(action, resource, facts)
                if hit:
                    hits.append((r, unknown))
        argv = (action,) if resource is None else (action, resource)
        if not hits:
            d = self.settings.default
            part = PartResult(argv, (), d, (), f"No rule matched; settings.default is {d!r}.")
            return Evaluation(d, None, part.reason, (part,), "default")
        best, unsure = hits[0]
        for r, unknown in hits[1:]:
            if RANK[r.decision] > RANK[best.decision] or (
                    r.decision == best.decision and unsure and not unknown):
                best, unsure = r, unknown
        reason = best.reason
        if unsure:
            what = ", ".join(repr(u) for u in unsure)
            reason = (f"Rule {best.id!r} cannot tell without {what} (missing, or not of the kind "
                      f"it tests), so it counts as matching (fail closed): {best.reason}")
        part = PartResult(argv, (), best.decision, tuple(r.id for r, _ in hits), reason)
        return Evaluation(best.decision, best.id, reason, (part,), "rule")


