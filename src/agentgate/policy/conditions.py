"""Conditions of action rules: a small, typed language over the attributes of a checkpoint.

    amount > 100 and currency == "USD"
    vendor not in ["acme", "globex"]
    domain(recipient) not in settings.internal_domains
    recipient like "*@example.com" or recipient matches "^ops-[a-z]+@"
    agent == "release-bot" and not dry_run
    time not in "Mon-Fri 09:00-18:00 Europe/Berlin"

A test names an attribute (or ``agent``, ``action``, ``resource``) and compares it with a
literal: ``== != < <= > >=`` (ordering for numbers only), ``in [..]`` / ``not in [..]``,
``like "glob"`` (case-sensitive fnmatch), ``matches "regex"`` (Python ``re.search``, the same
refusals as rule regexes), a bare name for a boolean attribute. ``domain(NAME)`` is the
lower-cased domain of a value that is exactly one e-mail address. ``settings.internal_domains``
is that list from ``[settings]``. ``time in "DAYS HH:MM-HH:MM ZONE"`` is a time window (days
like ``Mon-Fri`` or ``Sat,Sun``, hours with the end excluded, a range like ``22:00-06:00``
crossing midnight and belonging to the day it starts on, the zone ``local`` (the machine's, /etc/localtime: never $TZ, which the
agent's environment sets), ``UTC`` or an IANA name). ``not``, ``and``, ``or`` and
parentheses combine tests, in that order of binding. Nothing is evaluated as Python.

Each attribute has one kind in a condition (number, string or boolean): a condition that uses
one both ways, or orders strings, is refused when it is parsed. At check time a test whose
attribute is missing or of another kind is *unknown*; ``not``/``and``/``or`` follow Kleene's
three-valued logic, and the rule decides what an unknown result means (the strictest reading:
an ask or deny rule matches, an allow rule does not; see ``model.Rule.matches_action``).

This module is imported only when a condition is parsed or checked: the `run` and hook paths
never evaluate action rules, and a policy whose examples passed before is not re-parsed here.
"""

from __future__ import annotations

import fnmatch
import os
import time

from ..lean import Record, field

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    import re
    from collections.abc import Mapping
    from typing import Any, TypeAlias

    Value: TypeAlias = "str | int | float | bool"

NUMBER, STRING, BOOL = "number", "string", "boolean"
BUILTINS = {"agent": STRING, "action": STRING, "resource": STRING}  # what every check knows
SETTING_LISTS = ("internal_domains",)  # the [settings] lists a condition may name
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "matches", "true", "false", "time",
                      "settings"})
RESERVED = frozenset(BUILTINS) | KEYWORDS  # not attribute names
MAX_TEXT = 4096
MAX_DEPTH = 32
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ORDER = ("<", "<=", ">", ">=")


class ConditionError(ValueError):
    """A condition that does not parse or whose kinds disagree; ``column`` is 1-based."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message if column is None else f"at column {column}: {message}")
        self.message = message
        self.column = column


# --------------------------------------------------------------------------- the tree


class SettingRef(Record):
    """``settings.NAME``: a list from the policy's [settings], read at check time."""

    name: str


class Test(Record):
    """``[fn(]name[)] op value``; ``op`` is one of == != < <= > >= in, not in, like, not like,
    matches, not matches. ``value`` is a literal, a tuple of literals, a SettingRef, or the
    glob or regex text."""

    __test__ = False  # not a test case for pytest

    name: str
    op: str
    value: Any
    fn: str = ""  # "" | "domain"
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)


class Window(Record):
    """``time [not] in "..."``: minutes since midnight, [start, end) (crossing midnight when
    start > end), on the weekdays listed (0 = Monday), in ``zone``."""

    days: tuple[int, ...]
    start: int
    end: int
    zone: str
    negated: bool = False


class Not(Record):
    arg: Any


class All(Record):
    args: tuple[Any, ...]


class Any_(Record):
    args: tuple[Any, ...]


class Condition(Record):
    """A parsed condition: its tree and the kind of each attribute it names."""

    text: str
    tree: Any
    kinds: tuple[tuple[str, str], ...]

    def evaluate(self, facts: Mapping[str, Any], now: float | WallTime | None = None,
                 lists: Mapping[str, tuple[str, ...]] | None = None,
                 missing: list[str] | None = None) -> bool | None:
        """True, False or None (unknown: a value it needs is missing or of another kind; its
        name is appended to ``missing``)."""
        return _eval(self.tree, _Env(facts, now, lists or {}, dict(self.kinds),
                                     missing if missing is not None else []))

    def to_text(self) -> str:
        return to_text(self.tree)


class WallTime(Record):
    """A clock reading without a zone (an example's ``time=2026-12-05T10:00``): it is that
    wall-clock time in every window's own zone."""

    weekday: int
    minute: int


# --------------------------------------------------------------------------- lexing


class _Tok(Record):
    kind: str  # name | number | string | op | ( | ) | [ | ] | , | . | end
    text: str
    value: Any
    col: int


def _lex(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append(_Tok("name", text[i:j], text[i:j], i + 1))
            i = j
        elif c.isdigit() or (c == "-" and i + 1 < n and text[i + 1].isdigit()):
            j = _number_end(text, i)
            word = text[i:j]
            try:
                value = parse_number(word)
            except ConditionError as e:
                raise ConditionError(e.message, i + 1) from None
            out.append(_Tok("number", word, value, i + 1))
            i = j
        elif c in "\"'":
            chars, j = _string(text, i)
            out.append(_Tok("string", text[i:j], chars, i + 1))
            i = j
        elif text.startswith(("==", "!=", "<=", ">="), i):
            out.append(_Tok("op", text[i:i + 2], None, i + 1))
            i += 2
        elif c in "<>":
            out.append(_Tok("op", c, None, i + 1))
            i += 1
        elif c in "()[],.":
            out.append(_Tok(c, c, None, i + 1))
            i += 1
        else:
            hint = " (write == to compare)" if c == "=" else ""
            raise ConditionError(f"unexpected character {c!r}{hint}", i + 1)
    out.append(_Tok("end", "", None, n + 1))
    return out


def _scan_number(text: str, i: int) -> int:
    """The end of ``-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`` at ``text[i]``, or -1."""
    n = len(text)
    j = i + 1 if text[i:i + 1] == "-" else i

    def digits(k: int) -> int:
        while k < n and "0" <= text[k] <= "9":
            k += 1
        return k

    k = digits(j)
    if k == j or (text[j] == "0" and k > j + 1):
        return -1
    if k + 1 < n and text[k] == "." and "0" <= text[k + 1] <= "9":
        k = digits(k + 1)
    if k < n and text[k] in "eE":
        e = k + 2 if text[k + 1:k + 2] in ("+", "-") and k + 1 < n else k + 1
        if e < n and "0" <= text[e] <= "9":
            k = digits(e)
    return k


def _number_end(text: str, i: int) -> int:
    j = _scan_number(text, i)
    if j < 0 or (j < len(text) and (text[j].isalnum() or text[j] in "_.")):
        end = i + 1
        while end < len(text) and (text[end].isalnum() or text[end] in "_.-+"):
            end += 1
        raise ConditionError(f"{text[i:end]!r} is not a number (write 12, -3, 0.5 or 1e6; "
                             "no leading zeros)", i + 1)
    return j


def parse_number(word: str) -> int | float:
    """An int when ``word`` has no fraction or exponent, else a float (finite)."""
    if any(c in word for c in ".eE"):
        v = float(word)
        if v - v != 0:  # inf (nan cannot be written)
            raise ConditionError(f"{word!r} is not a finite number")
        return v
    return int(word)


def _string(text: str, i: int) -> tuple[str, int]:
    """A quoted string from ``text[i]``: ``\\\\``, ``\\"`` and ``\\'`` are escapes, any other
    backslash is kept (so regexes need no doubling)."""
    quote, j, n = text[i], i + 1, len(text)
    chars: list[str] = []
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n and text[j + 1] in "\\\"'":
            chars.append(text[j + 1])
            j += 2
        elif c == quote:
            return "".join(chars), j + 1
        else:
            chars.append(c)
            j += 1
    raise ConditionError("a string is not closed", i + 1)


# --------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _lex(text)
        self.pos = 0
        self.kinds: dict[str, tuple[str, int]] = {}
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def word(self, *words: str) -> bool:
        t = self.tok
        if t.kind == "name" and t.text in words:
            self.pos += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> _Tok:
        t = self.tok
        if t.kind != kind:
            raise ConditionError(f"expected {what}, found {_shown(t)}", t.col)
        return self.take()

    def parse(self) -> Any:
        tree = self.or_()
        if self.tok.kind != "end":
            raise ConditionError(f"expected 'and', 'or' or the end, found {_shown(self.tok)}",
                                 self.tok.col)
        return tree

    def or_(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"nested more than {MAX_DEPTH} deep", self.tok.col)
        args = [self.and_()]
        while self.word("or"):
            args.append(self.and_())
        self.depth -= 1
        return args[0] if len(args) == 1 else Any_(tuple(args))

    def and_(self) -> Any:
        args = [self.not_()]
        while self.word("and"):
            args.append(self.not_())
        return args[0] if len(args) == 1 else All(tuple(args))

    def not_(self) -> Any:
        if self.word("not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ConditionError(f"nested more than {MAX_DEPTH} deep", self.tok.col)
            arg = self.not_()
            self.depth -= 1
            return Not(arg)
        if self.tok.kind == "(":
            self.take()
            inner = self.or_()
            self.expect(")", "')'")
            return inner
        return self.test()

    def test(self) -> Any:
        t = self.tok
        if t.kind != "name" or t.text in ("and", "or", "in", "like", "matches", "true", "false",
                                          "settings"):
            raise ConditionError(f"expected an attribute name, found {_shown(t)}", t.col)
        self.take()
        if t.text == "time":
            return self.window(t)
        fn = ""
        name, col = t.text, t.col
        if name == "domain" and self.tok.kind == "(":  # else an attribute named domain
            self.take()
            inner = self.expect("name", "an attribute name inside domain(...)")
            self.expect(")", "')'")
            fn, name, col = "domain", inner.text, inner.col
        if name in KEYWORDS:
            raise ConditionError(f"{name!r} is a keyword, not an attribute name", col)
        op_tok = self.tok
        if op_tok.kind == "op":
            self.take()
            value_tok = self.tok
            value = self.literal()
            kind = _kind(value)
            if op_tok.text in _ORDER and kind != NUMBER:
                raise ConditionError(f"{op_tok.text} compares numbers, not a {kind}", value_tok.col)
            self.note(name, STRING if fn else kind, col)
            if fn and kind != STRING:
                raise ConditionError("domain(...) is a string", value_tok.col)
            return Test(name, op_tok.text, value, fn)
        negated = False
        if op_tok.kind == "name" and op_tok.text == "not":
            self.take()
            negated = True
            if not (self.tok.kind == "name" and self.tok.text in ("in", "like", "matches")):
                raise ConditionError(f"expected 'in', 'like' or 'matches' after 'not', found "
                                     f"{_shown(self.tok)}", self.tok.col)
        prefix = "not " if negated else ""
        if self.word("in"):
            return self.membership(name, fn, col, prefix)
        if self.tok.kind == "name" and self.tok.text in ("like", "matches"):
            op = self.take().text
            pat = self.expect("string", f"a quoted {'glob' if op == 'like' else 'regex'} after {op!r}")
            self.note(name, STRING, col)
            rx = None
            if op == "matches":
                from .regexes import RefusedRegex, compile_rule_regex

                try:
                    rx = compile_rule_regex(pat.value)
                except RefusedRegex as e:
                    raise ConditionError(f"{e.message} ({e.hint})", pat.col) from None
            return Test(name, prefix + op, pat.value, fn, rx)
        if fn:
            raise ConditionError(f"expected a comparison after domain({name})", self.tok.col)
        self.note(name, BOOL, col)  # a bare name: a boolean attribute that is true
        return Test(name, "==", True)

    def membership(self, name: str, fn: str, col: int, prefix: str) -> Test:
        if self.word("settings"):
            self.expect(".", "'.' after settings")
            key = self.expect("name", "a setting's name")
            if key.text not in SETTING_LISTS:
                raise ConditionError(f"settings.{key.text} is not a list a condition can use "
                                     f"(known: {', '.join(SETTING_LISTS)})", key.col)
            self.note(name, STRING, col)
            return Test(name, prefix + "in", SettingRef(key.text), fn)
        open_tok = self.expect("[", "a list [...] or settings.NAME after 'in'")
        items: list[Any] = []
        if self.tok.kind != "]":
            while True:
                items.append(self.literal())
                if self.tok.kind != ",":
                    break
                self.take()
        self.expect("]", "',' or ']'")
        kinds = {_kind(v) for v in items}
        if len(kinds) > 1:
            raise ConditionError("a list holds values of one kind (numbers, strings or "
                                 "booleans), not " + " and ".join(sorted(kinds)), open_tok.col)
        if kinds:
            kind = kinds.pop()
            if fn and kind != STRING:
                raise ConditionError("domain(...) is a string", open_tok.col)
            self.note(name, kind, col)
        return Test(name, prefix + "in", tuple(items), fn)

    def literal(self) -> Value:
        t = self.tok
        if t.kind in ("number", "string"):
            self.take()
            v: Value = t.value
            return v
        if self.word("true"):
            return True
        if self.word("false"):
            return False
        raise ConditionError(f"expected a value (a number, a quoted string, true or false), "
                             f"found {_shown(t)}", t.col)

    def window(self, t: _Tok) -> Window:
        negated = self.word("not")
        if not self.word("in"):
            raise ConditionError("time is tested with: time in \"Mon-Fri 09:00-18:00 ZONE\" "
                                 "(or time not in ...)", self.tok.col)
        s = self.expect("string", 'a quoted window such as "Mon-Fri 09:00-18:00 Europe/Berlin"')
        try:
            days, start, end, zone = parse_window(s.value)
        except ValueError as e:
            raise ConditionError(str(e), s.col) from None
        return Window(days, start, end, zone, negated)

    def note(self, name: str, kind: str, col: int) -> None:
        want = BUILTINS.get(name)
        if want is not None and kind != want:
            raise ConditionError(f"{name} is a {want}, compared here with a {kind}", col)
        seen = self.kinds.get(name)
        if seen is not None and seen[0] != kind:
            raise ConditionError(f"{name!r} is used as a {seen[0]} at column {seen[1]} and as a "
                                 f"{kind} here: an attribute has one kind", col)
        self.kinds.setdefault(name, (kind, col))


def _shown(t: _Tok) -> str:
    return "the end" if t.kind == "end" else repr(t.text)


def _kind(v: object) -> str:
    if isinstance(v, bool):
        return BOOL
    return NUMBER if isinstance(v, int | float) else STRING


_CACHE: dict[str, Condition] = {}


def parse(text: str) -> Condition:
    """The condition ``text``, parsed and kind-checked (ConditionError), once per process."""
    done = _CACHE.get(text)
    if done is not None:
        return done
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("the condition is empty")
    if len(text) > MAX_TEXT:
        raise ConditionError(f"a condition is at most {MAX_TEXT} characters")
    p = _Parser(text)
    tree = p.parse()
    cond = Condition(text, tree, tuple(sorted((k, v[0]) for k, v in p.kinds.items())))
    if len(_CACHE) < 1024:
        _CACHE[text] = cond
    return cond


# --------------------------------------------------------------------------- time windows


def parse_window(text: str) -> tuple[tuple[int, ...], int, int, str]:
    """``"[DAYS] [HH:MM-HH:MM] ZONE"`` -> (days, start, end, zone); ValueError with the reason."""
    words = text.split()
    if not words:
        raise ValueError("the time window is empty")
    zone = words[-1]
    check_zone(zone)
    days: tuple[int, ...] = tuple(range(7))
    start, end = 0, 24 * 60
    rest = words[:-1]
    if not rest:
        raise ValueError(f"time window {text!r} names a zone but no days or hours")
    if len(rest) > 2:
        raise ValueError(f"time window {text!r}: write [DAYS] [HH:MM-HH:MM] ZONE")
    seen: set[str] = set()
    for w in rest:
        part = "hours" if ":" in w else "days"
        if part in seen:
            raise ValueError(f"time window {text!r} gives its {part} twice: write [DAYS] "
                             "[HH:MM-HH:MM] ZONE, e.g. Mon-Fri,Sun 09:00-18:00 UTC")
        seen.add(part)
        if part == "hours":
            start, end = _hours(w)
        else:
            days = _days(w)
    return days, start, end, zone


def _days(word: str) -> tuple[int, ...]:
    out: set[int] = set()
    for part in word.split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(e.lower() in DAY_NAMES for e in ends):
            raise ValueError(f"{part!r} is not a day or a range of days (Mon, Tue, ... Sun; "
                             "e.g. Mon-Fri or Sat,Sun)")
        a, b = (DAY_NAMES.index(e.lower()) for e in (ends[0], ends[-1]))
        d = a
        out.add(d)
        while d != b:
            d = (d + 1) % 7
            out.add(d)
    return tuple(sorted(out))


def _clock(text: str) -> int:
    h, sep, m = text.partition(":")
    if not (sep and len(h) == 2 and len(m) == 2 and h.isdigit() and m.isdigit() and h.isascii()
            and m.isascii()):
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    minutes = int(h) * 60 + int(m)
    if int(m) > 59 or minutes > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return minutes


def _hours(word: str) -> tuple[int, int]:
    a, sep, b = word.partition("-")
    if not sep:
        raise ValueError(f"{word!r} is not a range of hours HH:MM-HH:MM")
    start, end = _clock(a), _clock(b)
    if start == end or start == 24 * 60:
        raise ValueError(f"{word!r} is an empty range of hours")
    return start, end


def check_zone(zone: str) -> None:
    """``local``, ``UTC``, or an IANA time zone this machine has (zoneinfo, loaded only then)."""
    if zone in ("local", "UTC"):
        return
    if "/" not in zone and not zone.isalpha():
        raise ValueError(f"{zone!r} is not a time zone: end the window with local, UTC or an "
                         "IANA name such as Europe/Berlin")
    try:
        _zone(zone)
    except Exception:  # ZoneInfoNotFoundError, a malformed key (ValueError), a directory
        raise ValueError(f"unknown time zone {zone!r}: use local, UTC or an IANA name such as "
                         "Europe/Berlin (the tzdata package supplies them where the system has "
                         "none)") from None


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


LOCALTIME = "/etc/localtime"  # the machine's zone (the C library's, when $TZ is not set)


def _machine_zone() -> Any:
    """The zone in LOCALTIME; UTC where there is none (as the C library reads it). ValueError
    when the file is there but is not a zone."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    try:
        with open(LOCALTIME, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except FileNotFoundError:
        return UTC
    except OSError as e:
        raise ValueError(f"cannot read {LOCALTIME}: {e.strerror}") from None


def wall_time(now: float | WallTime, zone: str) -> WallTime:
    """Weekday (0 = Monday) and minute of the day of ``now`` in ``zone``."""
    if isinstance(now, WallTime):
        return now
    if zone == "local" and "TZ" in os.environ:
        # The machine's zone, not the one $TZ names: whoever starts the checkpoint (the agent,
        # in personal mode) sets its environment, and TZ=Pacific/Kiritimati would move a night
        # deploy into working hours. ValueError: /etc/localtime cannot be read as a zone.
        from datetime import datetime

        d = datetime.fromtimestamp(now, _machine_zone())
        return WallTime(d.weekday(), d.hour * 60 + d.minute)
    if zone == "local":
        t = time.localtime(now)
    elif zone == "UTC":
        t = time.gmtime(now)
    else:
        from datetime import datetime

        d = datetime.fromtimestamp(now, _zone(zone))
        return WallTime(d.weekday(), d.hour * 60 + d.minute)
    return WallTime(t.tm_wday, t.tm_hour * 60 + t.tm_min)


def parse_wall_time(text: str) -> WallTime:
    """``YYYY-MM-DDTHH:MM`` (an example's ``time=``) -> its weekday and minute; ValueError."""
    date, sep, clock = text.partition("T")
    parts = date.split("-")
    if not sep or len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise ValueError(f"time={text!r}: write YYYY-MM-DDTHH:MM (a wall-clock time in the "
                         "window's zone)")
    y, mo, d = (int(p) for p in parts)
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo)):
        raise ValueError(f"time={text!r}: no such date")
    minute = _clock(clock)
    if minute == 24 * 60:
        raise ValueError(f"time={text!r}: write 00:00 of the next day")
    return WallTime(_weekday(y, mo, d), minute)


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _weekday(y: int, m: int, d: int) -> int:
    """0 = Monday (Sakamoto's method)."""
    t = (0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4)
    yy = y - (m < 3)
    return (yy + yy // 4 - yy // 100 + yy // 400 + t[m - 1] + d + 6) % 7


def in_window(w: Window, at: WallTime) -> bool:
    """A range crossing midnight belongs to the day it starts on: ``Fri 22:00-06:00`` is Friday
    night, up to Saturday 06:00 (read by the moment's own day it would be two pieces of Friday,
    and a rule against Friday nights would miss Saturday's first hours)."""
    if w.start < w.end:
        return w.start <= at.minute < w.end and at.weekday in w.days
    if at.minute >= w.start:
        return at.weekday in w.days
    return at.minute < w.end and (at.weekday - 1) % 7 in w.days


# --------------------------------------------------------------------------- evaluation


def email_domain(value: str) -> str | None:
    """The lower-cased domain of a value that is exactly one address ``local@domain``; None for
    anything else (a list, a display name, quotes, a second @, spaces, an empty label such as
    ``example.com..``) and for a local part that routes on by itself: ``x%evil.com@example.com``
    (the "percent hack" mail servers such as Postfix still honour) and ``evil.com!x@...`` (a
    bang path) may be delivered to evil.com, so they are no address *at* example.com."""
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or "@" in local:
        return None
    if any(c in value for c in " \t\r\n,;<>\"'()[]\\:%!"):
        return None
    domain = domain.lower()
    domain = domain[:-1] if domain.endswith(".") else domain  # the root's dot: the same domain
    if not domain or not all(c.isascii() and (c.isalnum() or c in ".-") for c in domain) or \
            "" in domain.split("."):
        return None
    return domain


class _Env(Record):
    facts: Mapping[str, Any]
    now: float | WallTime | None
    lists: Mapping[str, tuple[str, ...]]
    kinds: dict[str, str]  # what the condition takes each attribute to be
    missing: list[str]


def _eval(node: Any, env: _Env) -> bool | None:
    if isinstance(node, (All, Any_)):
        settles = isinstance(node, Any_)  # one true settles any(), one false all()
        out: bool | None = not settles
        for a in node.args:
            v = _eval(a, env)
            if v is settles:
                return settles
            if v is None:
                out = None
        return out
    if isinstance(node, Not):
        v = _eval(node.arg, env)
        return None if v is None else not v
    if isinstance(node, Window):
        if env.now is None:
            env.missing.append("time")
            return None
        try:
            at = wall_time(env.now, node.zone)
        except ValueError:  # the machine's zone cannot be read: the time is unknown
            env.missing.append("time")
            return None
        return in_window(node, at) != node.negated
    return _test(node, env)


def _test(t: Test, env: _Env) -> bool | None:
    value = env.facts.get(t.name)
    want = env.kinds.get(t.name)  # the one kind the condition uses it as (none: `x in []` only)
    if value is not None and want is not None and _kind(value) != want:
        value = None
    if t.fn == "domain":
        value = email_domain(value) if isinstance(value, str) else None
    if value is None:
        env.missing.append(f"domain({t.name})" if t.fn else t.name)
        return None
    op, target = t.op, t.value
    negated = op.startswith("not ")
    if negated:
        op = op[4:]
    if op == "in":
        items = env.lists.get(target.name, ()) if isinstance(target, SettingRef) else target
        hit = any(_kind(v) == _kind(value) and v == value for v in items)
    elif op == "like":
        hit = fnmatch.fnmatchcase(value, target)
    elif op == "matches":
        from .regexes import SearchBudget

        assert t.regex is not None
        with SearchBudget() as budget:
            found = budget.search(t.regex, value)
        if found is None:  # out of time: no answer
            env.missing.append(t.name)
            return None
        hit = found
    else:
        return _compare(op, value, target)
    return hit != negated


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


# --------------------------------------------------------------------------- printing


def literal_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def window_text(w: Window) -> str:
    bits = []
    if w.days != tuple(range(7)):
        runs: list[list[int]] = []
        for d in w.days:
            if runs and runs[-1][-1] == d - 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        bits.append(",".join(DAY_NAMES[r[0]].capitalize() + (
            f"-{DAY_NAMES[r[-1]].capitalize()}" if len(r) > 1 else "") for r in runs))
    if (w.start, w.end) != (0, 24 * 60):
        bits.append(f"{w.start // 60:02d}:{w.start % 60:02d}-{w.end // 60:02d}:{w.end % 60:02d}")
    if not bits:
        bits.append("Mon-Sun")
    return " ".join([*bits, w.zone])


def to_text(node: Any) -> str:
    """Condition text that parses back to ``node``."""
    def sub(n: Any) -> str:
        return f"({to_text(n)})" if isinstance(n, All | Any_) else to_text(n)

    if isinstance(node, Any_):
        return " or ".join(sub(a) for a in node.args)
    if isinstance(node, All):
        return " and ".join(sub(a) for a in node.args)
    if isinstance(node, Not):
        return "not " + sub(node.arg)
    if isinstance(node, Window):
        return f"time {'not in' if node.negated else 'in'} {literal_text(window_text(node))}"
    t: Test = node
    name = f"domain({t.name})" if t.fn else t.name
    if isinstance(t.value, SettingRef):
        value = f"settings.{t.value.name}"
    elif isinstance(t.value, tuple):
        value = "[" + ", ".join(literal_text(v) for v in t.value) + "]"
    else:
        value = literal_text(t.value)
    return f"{name} {t.op} {value}"


# --------------------------------------------------------------------------- attribute values


def parse_value(text: str) -> Value:
    """An attribute value written as text (``--attr k=v``, an example's ``k=v``): ``true`` and
    ``false`` are booleans, a number as a condition writes one (``12``, ``-3``, ``0.5``,
    ``1e6``; ``0123`` is not one) an int or a float, a value in quotes the string inside them
    (with a condition string's escapes ``\\\\``, ``\\"`` and ``\\'``, as pending and show
    print it), anything else the string itself."""
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] in "\"'":
        try:
            inner, end = _string(text, 0)
        except ConditionError:
            end = -1
        if end == len(text):
            return inner
        if text[0] == text[-1]:  # quotes inside it that no escape marks: the text between
            return text[1:-1]
    if text and _scan_number(text, 0) == len(text):
        try:
            return parse_number(text)
        except ValueError:  # 1e999: not a finite number, so the text
            return text
    return text


def split_example(text: str) -> list[str]:
    """An example's words: split at blanks, a quoted part (``k='a b'``) kept whole with its
    quotes."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    has = False
    for c in text:
        if quote:
            cur.append(c)
            if c == quote:
                quote = ""
        elif c in " \t\r\n":
            if has:
                words.append("".join(cur))
                cur, has = [], False
        else:
            cur.append(c)
            has = True
            if c in "\"'":
                quote = c
    if quote:
        raise ValueError(f"example {text!r} has an unclosed quote")
    if has:
        words.append("".join(cur))
    return words
