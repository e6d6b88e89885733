"""Reading a policy: the file's bytes within limits (a small regular file), its TOML, and every
check a policy must pass (known keys, decisions, durations, patterns, regexes that cannot
backtrack for ever, a file that says something, each rule's inline examples); the pre-parsed
starter policy, the embedded default, and the key that names "this content, checked by this
code".
"""

from __future__ import annotations

import errno
import os
import re
import stat

from .. import shell
from ..errors import ConfigError, PolicyError
from ..fileio import check_not_writable_by_others, read_at_most
from ..jsontext import loads
from ..lean import Record, sha256_hex
from ..paths import expand_user, pure, resolve
from .model import ALLOW, DECISIONS, ActionFacts, Policy, Rule, Settings, Source
from .patterns import Pattern, normalize_argv
from .regexes import RefusedRegex, SearchBudget, compile_rule_regex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from ..fileio import StrPath

PACKAGE_DIR = os.path.dirname(os.path.dirname(__file__))  # agentgate/, beside its data files
EMBEDDED_NAME = "<embedded default>"
MAX_DURATION = 365 * 86400
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``1d`` or a sum like ``1h30m`` -> seconds (> 0). (Read
    without a regex: compiling one cost every policy load with a duration 0.2 ms.)"""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string like '30m', not {type(text).__name__}")
    t = text.strip().lower()
    pos, total, n = 0, 0, len(t)
    while pos < n:  # each part: digits (\d, any decimal digit), then a unit
        end = pos
        while end < n and t[end].isdecimal():
            end += 1
        if end in (pos, n) or t[end] not in _UNIT:
            break
        total += int(t[pos:end]) * _UNIT[t[end]]
        pos = end + 1
    if not t or pos != len(t) or total <= 0:
        raise ValueError(f"bad duration {text!r}: use a number and a unit s|m|h|d, e.g. 90s, 30m, 2h, 1d")
    if total > MAX_DURATION:
        raise ValueError(f"duration {text!r} is longer than a year (365d)")
    return total


_TOP_KEYS = {"version", "settings", "rule", "notify", "exception"}
_SETTINGS_KEYS = {"default", "approval_ttl", "request_ttl", "unparseable", "retention",
                  "audit_max_bytes", "internal_domains"}
_RULE_KEYS = {"id", "decision", "reason", "commands", "regex", "actions", "resources",
              "match", "not_match", "condition"}


def _str_list(value: Any, key: str, path: str, rule: str | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        hint = f'write {key} = ["..."]' if isinstance(value, str) else None
        raise PolicyError(f"{key!r} must be a list of non-empty strings", hint, path=path, rule=rule)
    return tuple(value)


_NOTIFY_KEYS = {"urls", "desktop"}
MAX_NOTIFY_URLS = 16


def _with_notify(settings: Settings, raw: Any, path: str, kind: str) -> Settings:
    """``[notify]``: ``urls``, apprise URLs told of each new request, and ``desktop``, a desktop
    notification where a session bus is present (default true). Only the policy in force by
    itself may say where requests go: a repo-local file that tries is refused."""
    if kind == "repo":
        raise PolicyError("[notify] is not allowed in a repo-local policy",
                          "a repository's file must not send your commands anywhere: put [notify] "
                          "in your own policy (agentgate where shows it)", path=path)
    if not isinstance(raw, dict):
        raise PolicyError("[notify] must be a table", 'write [notify] then urls = ["..."]', path=path)
    unknown = set(raw) - _NOTIFY_KEYS
    if unknown:
        raise PolicyError(f"unknown key(s) in [notify]: {', '.join(sorted(unknown))}",
                          f"known keys: {', '.join(sorted(_NOTIFY_KEYS))}", path=path)
    urls = raw.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise PolicyError("notify.urls must be a list of apprise URLs (strings)",
                          'e.g. urls = ["ntfy://ntfy.sh/my-topic"]', path=path)
    if len(urls) > MAX_NOTIFY_URLS:
        raise PolicyError(f"notify.urls lists {len(urls)} URLs, more than {MAX_NOTIFY_URLS}",
                          path=path)
    for n, url in enumerate(urls, 1):
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme or not rest or not scheme.replace("+", "").isalnum() \
                or len(url) > 2000 or any(c.isspace() or not c.isprintable() for c in url):
            raise PolicyError(f"notify.urls #{n} is not a URL apprise can read (SCHEME://...)",
                              "see apprise's list of services, e.g. ntfy://ntfy.sh/TOPIC, "
                              "json://HOST/PATH, mailto://USER:PASSWORD@HOST", path=path)
    desktop = raw.get("desktop", True)
    if not isinstance(desktop, bool):
        raise PolicyError("notify.desktop must be true or false", path=path)
    return Settings(**{**settings.__dict__, "notify_urls": tuple(urls), "notify_desktop": desktop})


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
    if "internal_domains" in raw:
        domains = _str_list(raw["internal_domains"], "settings.internal_domains", path, None)
        kw["internal_domains"] = tuple(dict.fromkeys(d.strip().lower().rstrip(".") for d in domains))
        if not all(d and all(c.isascii() and (c.isalnum() or c in ".-") for c in d)
                   for d in kw["internal_domains"]):
            raise PolicyError("settings.internal_domains holds e-mail domains such as "
                              '"example.com" (no @, no wildcards)', path=path)
    return Settings(**kw)


def _parse_rule(raw: Any, n: int, path: str, check_examples: bool = True,
                settings: Settings | None = None, data: bytes = b"") -> Rule:
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
            regexes.append(compile_rule_regex(text))
        except RefusedRegex as e:
            raise PolicyError(e.message, e.hint, path=path, rule=rid) from None
    actions = _str_list(raw.get("actions", []), "actions", path, rid)
    resources = _str_list(raw.get("resources", []), "resources", path, rid)
    if resources and not actions:
        raise PolicyError("'resources' needs 'actions'", path=path, rule=rid)
    if not (patterns or regexes or actions):
        raise PolicyError("a rule needs 'commands', 'regex' or 'actions'", path=path, rule=rid)
    condition = raw.get("condition", "")
    if not isinstance(condition, str) or ("condition" in raw and not condition.strip()):
        raise PolicyError("'condition' must be a non-empty string, e.g. \"amount > 100\"",
                          path=path, rule=rid)
    if condition and (patterns or regexes or not actions):
        raise PolicyError("'condition' is for action rules: it needs 'actions' (and no "
                          "'commands' or 'regex')", path=path, rule=rid)
    if condition and check_examples:  # else it passed before, or is parsed when first checked
        _check_condition(condition, path, rid, data)
    rule = Rule(
        id=rid, decision=decision, reason=reason or f"Rule {rid!r} ({decision}).",
        patterns=tuple(patterns), regex=tuple(regexes), actions=actions, resources=resources,
        match=_str_list(raw.get("match", []), "match", path, rid),
        not_match=_str_list(raw.get("not_match", []), "not_match", path, rid), source=path,
        condition=condition,
    )
    if check_examples:
        _check_examples(rule, path, settings)
    return rule


def _check_condition(text: str, path: str, rid: str, data: bytes) -> None:
    from . import conditions

    try:
        conditions.parse(text)
    except conditions.ConditionError as e:
        line = _line_of(data, rid, "condition")
        where = f" (line {line})" if line else ""
        raise PolicyError(f"condition{where} {text!r} {e}",
                          "see README \"Actions and conditions\" for what a condition may say",
                          path=path, rule=rid) from None


def _line_of(data: bytes, rid: str, key: str) -> int | None:
    """The line of ``key = ...`` in the [[rule]] whose id is ``rid`` (for an error message),
    found by reading the lines; None when it cannot be told."""
    lines = data.decode("utf-8", "replace").splitlines()
    inside = False
    for no, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("[["):
            inside = False
        elif text.replace(" ", "") in (f'id="{rid}"', f"id='{rid}'"):
            inside = True
        if inside and text.split("=", 1)[0].strip() == key:
            return no
    return None


def rule_matches_command(rule: Rule, text: str, budget: SearchBudget | None = None) -> bool:
    """Does ``rule`` match any simple command of the example command line ``text``? Its regexes
    search within ``budget`` (one of their own when None)."""
    analysis = shell.analyze_script(text)
    if budget is None:
        with SearchBudget() as own:
            return rule_matches_command(rule, text, own)
    return any(rule.matches_argv(normalize_argv((*c.argv, *c.env)), budget) for c in analysis.commands)


def rule_matches_example(rule: Rule, text: str, budget: SearchBudget | None = None,
                         settings: Settings | None = None) -> bool:
    """An example is a command line for command rules, ``ACTION [RESOURCE] [key=value ...]``
    for action rules (see :func:`action_example`), checked with ``settings``'s internal
    domains."""
    if rule.patterns or rule.regex:
        return rule_matches_command(rule, text, budget)
    ex = action_example(text)
    facts = ActionFacts(ex.attributes, ex.agent, ex.now,
                        settings.internal_domains if settings else ())
    return rule.matches_action(ex.action, ex.resource, facts)


class ActionExample(Record):
    action: str
    resource: str | None
    attributes: dict[str, Any]
    agent: str | None
    now: Any  # a conditions.WallTime, or None: the time is unknown


def action_example(text: str) -> ActionExample:
    """``"ACTION [RESOURCE] [key=value ...]"``: values typed as ``agentgate verify --attr``
    types them; ``agent=NAME`` is the agent's name and ``time=YYYY-MM-DDTHH:MM`` the wall-clock
    time in each window's zone (without it, the time is unknown). ValueError when malformed."""
    from . import conditions

    words = conditions.split_example(text)
    if not words:
        raise ValueError("the example is empty")
    resource: str | None = None
    attrs: dict[str, Any] = {}
    agent: str | None = None
    now: Any = None
    for w in words[1:]:
        key, sep, value = w.partition("=")
        if sep and key.isidentifier() and key.isascii():
            if key == "agent":
                agent = str(conditions.parse_value(value))
            elif key == "time":
                now = conditions.parse_wall_time(value)
            else:
                if key in attrs:
                    raise ValueError(f"example {text!r} gives {key!r} twice")
                attrs[key] = conditions.parse_value(value)
        elif resource is None and not attrs:
            resource = w
        else:
            raise ValueError(f"example {text!r}: after ACTION [RESOURCE] come only key=value words")
    return ActionExample(words[0], resource, attrs, agent, now)


def _check_examples(rule: Rule, path: str, settings: Settings | None = None) -> None:
    """Each example must match (``match``) or not (``not_match``), each within a regex budget
    of its own; a regex that runs out of it on an example is a load error, not a guess."""
    for key, expected in (("match", True), ("not_match", False)):
        for ex in getattr(rule, key):
            with SearchBudget() as budget:
                try:
                    hit = rule_matches_example(rule, ex, budget, settings)
                except ValueError as e:
                    raise PolicyError(f"in {key!r}: {e}", "write ACTION [RESOURCE] [key=value ...]",
                                      path=path, rule=rule.id) from None
            for _, why in budget.undecided[:1]:
                raise PolicyError(f"on the example {ex!r} in {key!r}, the regex {why}",
                                  "simplify the regex: avoid several unbounded repeats such as "
                                  ".*.*.* that can all match the same text", path=path, rule=rule.id)
            if hit != expected:
                listed = "listed in 'match' but the rule does not match it" if expected else \
                    "listed in 'not_match' but the rule matches it"
                raise PolicyError(f"example {ex!r} is {listed}", "fix the pattern or the example",
                                  path=path, rule=rule.id)


class PolicyFile(Record):
    settings: Settings
    rules: tuple[Rule, ...]
    explicit: frozenset[str]  # settings keys the file set itself
    source: Source


def read_toml(data: bytes, path: str) -> dict[str, Any]:
    """What tomllib makes of a policy's bytes (tomllib, with typing, loads only here)."""
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PolicyError(f"not UTF-8 text ({e})", path=path) from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"TOML syntax error: {e}", "fix the line named above", path=path) from None


def parse_policy_file(text: str | bytes, path: str = "<string>", kind: str = "explicit", *,
                      check_examples: bool = True, toml: dict[str, Any] | None = None) -> PolicyFile:
    """Parse and validate. ``check_examples=False`` skips re-running the inline examples, for a
    content whose :func:`validation_key` already passed them; every other check still runs.
    ``toml``: what tomllib made of these very bytes before (a cache keyed by their sha256),
    checked here like tomllib's own result.

    A file must say something: at least one ``[[rule]]``, or an explicit ``settings.default``
    (a ``kind="repo"`` file, which only adds to the policy in force: any ``[settings]`` key)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    digest = sha256_hex(data)
    raw = toml if toml is not None else preparsed(digest)
    if raw is None:
        raw = read_toml(data, path)
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"unknown top-level key(s): {', '.join(sorted(unknown))}",
                          "known: version, [settings], [notify], [[rule]], [[exception]]", path=path)
    version = raw.get("version", 1)
    if type(version) is not int or version != 1:  # not true, not 1.0
        raise PolicyError(f"unsupported policy version {version!r}", "this agentgate reads version = 1", path=path)
    settings = _parse_settings(raw.get("settings"), path)
    if "notify" in raw:
        settings = _with_notify(settings, raw["notify"], path, kind)
    rules_raw = raw.get("rule", [])
    if not isinstance(rules_raw, list):
        raise PolicyError("'rule' must be an array of tables: write [[rule]]", path=path)
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, r in enumerate(rules_raw, 1):
        rule = _parse_rule(r, n, path, check_examples, settings, data)
        if rule.id in seen:
            raise PolicyError("duplicate rule id", "rule ids must be unique within a file", path=path, rule=rule.id)
        seen.add(rule.id)
        rules.append(rule)
    explicit = frozenset(raw.get("settings", {}) or {})
    if not rules and ("default" not in explicit if kind != "repo" else not explicit):
        raise _says_nothing(path, kind)
    src = Source(path, digest, kind)
    if "exception" in raw:  # approve --remember's standing exceptions
        from .exemptions import parse_exemptions

        src = Source(path, digest, kind, exemptions=parse_exemptions(raw["exception"], path))
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


STARTER_FILE = "policies.example.toml"  # the embedded default, beside the package's modules
PREPARSED_NAME = "policies.example.parsed.json"


def preparsed(digest: str) -> dict[str, Any] | None:
    """What tomllib makes of the starter policy (embedded, or copied by `init`), if ``digest`` is
    the sha256 of its text: shipped beside this module as ``{"sha256": ..., "toml": ...}``. For
    that content `run` need not import tomllib (4 ms); every other check still runs on the
    result. Any other content, or a missing or stale file, goes through tomllib."""
    try:
        with open(os.path.join(PACKAGE_DIR, STARTER_FILE), "rb") as f:
            if sha256_hex(f.read()) != digest:
                return None  # not the starter's text (a policy of one's own): no JSON to parse
        with open(os.path.join(PACKAGE_DIR, PREPARSED_NAME), "rb") as f:
            doc = loads(f.read())
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


def read_policy_bytes(path: StrPath) -> bytes:
    """The bytes of a policy file, which must be a regular file (after symlinks) of at most
    :data:`MAX_POLICY_BYTES`. A FIFO would block the gate forever and ``/dev/zero`` would read
    until memory runs out, so anything else is a PolicyError (78) before a byte is read; the
    open never blocks (O_NONBLOCK), and reading stops one byte past the cap. A policy another
    user could change (the file, or a directory or link on its way: see
    :func:`~agentgate.fileio.check_not_writable_by_others`) is refused too: they could relax it."""
    name = str(path)
    try:
        _refuse_unless_small_regular(os.stat(path), name)
        _refuse_if_others_can_change(path, name)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise PolicyError("the policy is a symlink to a file that does not exist",
                              "fix or remove the link", path=name) from None
        raise PolicyError("policy file not found", "check the path, or run `agentgate init`", path=name) from None
    except OSError as e:
        raise _path_error(e, name) from None
    try:
        _refuse_unless_small_regular(os.fstat(fd), name)  # the file opened, not a swapped one
        data = read_at_most(fd, MAX_POLICY_BYTES)
    except OSError as e:
        raise PolicyError(f"cannot read policy file: {e.strerror or e}", path=name) from None
    finally:
        os.close(fd)
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError("the policy grew past the 1 MiB a policy may be while it was read",
                          "check that the path names the right file", path=name)
    return data


def _refuse_if_others_can_change(path: StrPath, name: str) -> None:
    try:
        check_not_writable_by_others(path)
    except ConfigError as e:
        raise PolicyError(f"another user could change this policy: {e.message}",
                          f"{e.hint}; agentgate uses no policy that someone else can change",
                          path=name) from None


def _path_error(e: OSError | RuntimeError, name: str) -> PolicyError:
    """A policy location that cannot be looked at or resolved, as a 78 naming it."""
    if isinstance(e, RuntimeError) or e.errno == errno.ELOOP:  # resolve: "Symlink loop"
        return PolicyError("the policy is a symbolic link that leads back to itself (a loop), "
                           "or through too many links", "fix or remove the link", path=name)
    return PolicyError(f"cannot read policy file: {e.strerror or e}", path=name)


def real_path(path: StrPath) -> str:
    """Where ``path`` leads, every symbolic link resolved (the name trust records use). A loop
    (resolve's RuntimeError) or a part that cannot be looked at is a PolicyError (78) naming
    the file."""
    try:
        return resolve(path)
    except (OSError, RuntimeError) as e:
        raise _path_error(e, str(path)) from None


def policy_path(text: str) -> str:
    """A policy path as given (``--policy``, ``AGENTGATE_POLICY``), ``~`` expanded; ``~nobody``
    with no such user is a PolicyError (78)."""
    expanded = expand_user(text)
    if expanded is None:
        raise PolicyError("cannot expand ~ in the policy path: Could not determine home "
                          "directory.",
                          "write the path without ~, or with the name of an existing user",
                          path=text)
    return pure(expanded)


def read_policy_file(path: StrPath, kind: str) -> PolicyFile:
    return parse_policy_file(read_policy_bytes(path), str(path), kind)


def source_files() -> tuple[str, ...]:
    """The modules that decide whether a policy loads and what its examples match: this
    package's and the shell analysis's (``shell.source_files``)."""
    here = os.path.dirname(__file__)
    own = tuple(os.path.join(here, f) for f in sorted(os.listdir(here)) if f.endswith(".py"))
    return own + shell.source_files()


def validation_key(data: bytes) -> str:
    """Names "this policy content, checked by this code": the content's sha256 with agentgate's
    version and the identity (size, mtime) of every module of the policy and shell packages, so
    that editing the parser or a program module invalidates what was recorded under it."""
    from .. import __version__

    chunks = [data, __version__.encode()]
    for module in source_files():
        st = os.stat(module)
        chunks.append(f"\0{st.st_size}:{st.st_mtime_ns}".encode())
    return sha256_hex(*chunks)


def embedded_policy_text() -> bytes:
    """The packaged default policy: read beside this module (importlib.resources costs ~3 ms of
    imports on every `run`), through importlib.resources only when installed as a zip."""
    try:
        with open(os.path.join(PACKAGE_DIR, STARTER_FILE), "rb") as f:
            return f.read()
    except OSError:
        from importlib import resources

        return resources.files("agentgate").joinpath("policies.example.toml").read_bytes()

