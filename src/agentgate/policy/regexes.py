"""Rule regexes: which may load, and searching them under a CPU-time budget.

A regex in a policy (a repo-local one included: its deny rules apply untrusted) must never hang
the gate. Two mechanisms, because neither is complete alone:

- At load, :func:`compile_rule_regex` refuses what cannot compile and the classic shapes of
  catastrophic backtracking: a repeated group that holds a quantifier (``(a+)+``) or
  alternatives (``(a|b)*``, which is exponential when the alternatives overlap, as in
  ``(.|.)*X``). A static check cannot see everything (``.*.*.*.*X`` is polynomial, and slow
  enough on 64 KiB of text; verbose-mode spacing hides a quantifier from it).
- At run time, the searches of one decision share :data:`SEARCH_BUDGET` seconds of CPU
  (:class:`SearchBudget`). CPython's ``re`` checks for signals while it matches, so a CPU-time
  interval timer whose handler raises stops a runaway search. A search that runs out counts
  as a match for an ask or deny rule and as no match for an allow rule (fail closed).

Signal handlers exist only in the main thread. Elsewhere (``verify()`` from a worker thread,
say) no timer is armed: the static checks stand, and a text longer than
:data:`UNTIMED_MAX_TEXT` is not searched at all, which also fails closed. A polynomial regex
on shorter text is bounded there only by that length.
"""

from __future__ import annotations

import re

from ..lean import lazy_regex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from types import FrameType, ModuleType
    from typing import Any

SEARCH_BUDGET = 0.1  # seconds of CPU for all the rule-regex searches of one decision
UNTIMED_MAX_TEXT = 4096  # without a timer (off the main thread): the longest text searched
_COUNT = lazy_regex(r"\{(\d*)(,(\d*))?\}")


# --------------------------------------------------------------------------- at load


class RefusedRegex(ValueError):
    """A rule regex that may not load: what is wrong, and how to write it instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def compile_rule_regex(text: str) -> re.Pattern[str]:
    """``text`` compiled, or RefusedRegex: it does not compile (any exception re.compile
    raises: re.error, OverflowError for ``a{99999999999}``, RecursionError for deep nesting),
    or it repeats a group that holds a quantifier or alternatives."""
    try:
        rx = re.compile(text)
    except Exception as e:  # whatever re.compile raises, the regex cannot be used
        detail = str(e) if isinstance(e, re.error) else f"{type(e).__name__}: {e}"
        raise RefusedRegex(f"regex {text!r} does not compile: {detail}",
                           "fix the regular expression (Python's re syntax)") from None
    shape = backtracking_shape(text)
    if shape == "nested":
        raise RefusedRegex(f"regex {text!r} repeats a group that itself repeats, which can take "
                           "exponential time on some commands",
                           "rewrite it without nesting quantifiers, e.g. (a+)+ as a+")
    if shape == "alternation":
        raise RefusedRegex(f"regex {text!r} repeats a group of alternatives (|), which can take "
                           "exponential time on some commands when they overlap, as in (.|.)*",
                           "repeat a character class instead, e.g. (a|b)* as [ab]*, or (x|.)* "
                           "as .*; alternatives that are not repeated are fine: (a|b)c*")
    return rx


def _repeats(pattern: str, i: int) -> bool:
    """Does the quantifier at ``pattern[i]`` (just after a group) allow two or more times?"""
    c = pattern[i:i + 1]
    if c in ("*", "+"):
        return True
    if c != "{":
        return False
    m = _COUNT().match(pattern, i)
    if m is None or m.group(0) == "{}":
        return False  # a literal brace
    high = m.group(3) if m.group(2) else m.group(1)
    return not high or int(high) >= 2


def _is_quantifier(pattern: str, i: int) -> bool:
    c = pattern[i]
    if c in "*+":
        return True
    if c == "?":
        return not (i > 0 and pattern[i - 1] == "(")  # (?:, (?P<..>, (?= are group syntax
    return c == "{" and (m := _COUNT().match(pattern, i)) is not None and m.group(0) != "{}"


def backtracking_shape(pattern: str) -> str | None:
    """``"nested"`` when a repeated group holds a quantifier (``(a+)+``, ``(a*b)*``,
    ``(x?){2,}``), ``"alternation"`` when it holds alternatives, at any depth (``(a|b)*``,
    ``((a|b)c)+``), else None. A group is repeated by ``*``, ``+`` or a count above one;
    ``?`` and ``{0,1}`` are not repetition. Escapes and character classes are skipped."""
    stack: list[list[bool]] = []  # per open group: [holds a quantifier, holds alternatives]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            stack.append([False, False])
        elif c == ")":
            quantified, alternatives = stack.pop() if stack else (False, False)
            if _repeats(pattern, i + 1):
                if quantified:
                    return "nested"
                if alternatives:
                    return "alternation"
            if stack:
                outer = stack[-1]
                outer[0] = outer[0] or quantified or (i + 1 < n and _is_quantifier(pattern, i + 1))
                outer[1] = outer[1] or alternatives
        elif c == "|":
            if stack:
                stack[-1][1] = True
        elif stack and _is_quantifier(pattern, i):
            stack[-1][0] = True
        i += 1
    return None


# --------------------------------------------------------------------------- at run time


def _signal_module() -> ModuleType | None:
    """The built-in ``_signal`` (``signal`` wraps it in enums: 1 ms of imports on every gated
    command), else ``signal``; None without either."""
    for name in ("_signal", "signal"):
        try:
            return __import__(name)
        except ImportError:  # pragma: no cover - CPython on POSIX has both
            continue
    return None  # pragma: no cover


class OutOfTime(Exception):
    """Raised by the timer's handler inside a search that used up the budget."""


class SearchBudget:
    """The rule-regex searches of one decision, under one CPU-time budget of ``seconds``.

    ``with SearchBudget() as budget: budget.search(rx, text)``. The first search arms a
    CPU-time timer (``ITIMER_VIRTUAL``) with a handler that raises inside the match; each
    search runs with what is left, and the timer is stopped between searches. On leaving, the
    previous handler is put back and the timer is left as it was found (stopped). The timer is
    used only in the main thread and only when no one else's virtual timer is running;
    otherwise a search is bounded by :data:`UNTIMED_MAX_TEXT` (see the module docstring).
    """

    def __init__(self, seconds: float = SEARCH_BUDGET) -> None:
        self.seconds = seconds
        self.left = seconds
        self.timed: bool | None = None  # None until the first search finds out
        self.undecided: list[tuple[str, str]] = []  # (rule id, why its regex gave no answer)
        self._why = ""
        self._signal: ModuleType | None = None
        self._old_handler: Any = None
        self._in_search = False
        self._fired = False

    def __enter__(self) -> SearchBudget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, rx: re.Pattern[str], text: str) -> bool | None:
        """Whether ``rx`` finds a match in ``text``; None when it could not be told within the
        budget (then :meth:`note` records why for a rule)."""
        if self.timed is None:
            self.timed = self._arm()
        if not self.timed:
            if len(text) > UNTIMED_MAX_TEXT:
                self._why = (f"was not run on this command of {len(text)} characters: no timer "
                             "can bound a regex outside the main thread, where it searches at "
                             f"most {UNTIMED_MAX_TEXT}")
                return None
            return rx.search(text) is not None
        if self.left <= 0:
            return None
        return self._timed_search(rx, text)

    def note(self, rule: str) -> None:
        """Record that ``rule``'s regex gave no answer (after :meth:`search` returned None)."""
        self.undecided.append((rule, self._why))

    def close(self) -> None:
        """Stop the timer and put the previous handler back (idempotent)."""
        sig = self._signal
        if sig is None:
            return
        self._signal = None
        self.timed = None
        sig.setitimer(sig.ITIMER_VIRTUAL, 0)
        sig.signal(sig.SIGVTALRM, self._old_handler)

    def _arm(self) -> bool:
        """Install the handler, if this thread may and no virtual timer is running."""
        signal = _signal_module()
        if signal is None:  # pragma: no cover - every POSIX Python has it
            return False
        if not hasattr(signal, "setitimer") or not hasattr(signal, "SIGVTALRM"):
            return False  # pragma: no cover - not POSIX
        try:
            if signal.getitimer(signal.ITIMER_VIRTUAL) != (0.0, 0.0):
                return False  # someone else's timer: leave it alone
            old = signal.getsignal(signal.SIGVTALRM)
            if old is None:
                return False  # a handler set outside Python could not be put back
            signal.signal(signal.SIGVTALRM, self._on_timer)
        except (ValueError, OSError):  # ValueError: not the main thread
            return False
        self._signal, self._old_handler = signal, old
        return True

    def _on_timer(self, signum: int, frame: FrameType | None) -> None:
        """Raise only inside a search, and once: a late delivery is only noted."""
        self._fired = True
        if self._in_search:
            self._in_search = False
            raise OutOfTime

    def _timed_search(self, rx: re.Pattern[str], text: str) -> bool | None:
        sig = self._signal
        assert sig is not None
        found: bool | None = None
        left = 0.0
        self._fired = False  # a stray signal between searches is no verdict on this one
        try:
            try:
                self._in_search = True
                sig.setitimer(sig.ITIMER_VIRTUAL, self.left)
                found = rx.search(text) is not None
            finally:
                self._in_search = False
                left = sig.setitimer(sig.ITIMER_VIRTUAL, 0)[0]
        except OutOfTime:
            found = None
        if found is None or self._fired or left <= 0:
            self.left = 0.0
            self._why = (f"ran out of time on this command (the rule regexes of one decision "
                         f"get {self.seconds:g} s of CPU in all)")
            return None
        self.left = left
        return found
