"""How much work one analysis may do: the bounds, and the budget object that enforces them.

Every bound is checked where the work happens (the parser, brace expansion, the analyzer), and
exceeding one raises :class:`Bound`: the whole input is then reported as unparseable.
"""

from __future__ import annotations

from time import thread_time

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


class Bound(Exception):
    """A size, depth, count or time bound was exceeded: stop and report opaque."""


class Budget:
    """The CPU time and the expanded text one analysis may still spend (see the module doc)."""

    __slots__ = ("deadline", "expanded", "seconds", "ticks")

    def __init__(self, seconds: float = TIME_BUDGET) -> None:
        self.seconds = seconds
        self.deadline = thread_time() + seconds
        self.ticks = 0
        self.expanded = 0

    def tick(self) -> None:
        """One unit of work (a command parsed or analysed, a brace expanded); the clock is
        read every eighth."""
        self.ticks += 1
        if not self.ticks & 7 and thread_time() > self.deadline:
            raise Bound(f"analysis took more than {self.seconds * 1000:.0f} ms of CPU")

    def grow(self, n: int) -> None:
        """``n`` more characters substituted for parameters."""
        self.expanded += n
        if self.expanded > MAX_EXPANDED:
            raise Bound("parameter substitution produces too much text")


def check_depth(depth: int) -> None:
    """Nesting (commands, substitutions, shells, wrappers) stays within MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise Bound(f"nested deeper than {MAX_DEPTH} levels")
