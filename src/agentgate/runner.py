"""Start the allowed command directly (no shell), pass signals on, return its exit code.

Exit codes follow the shell's conventions: the child's own code; 128+N when signal N killed it;
127 when the program is not found; 126 when it cannot be executed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from .lean import Record

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)


class RunResult(Record):
    exit_code: int
    error: str | None = None  # set when the command could not be started


def _terminal_delivers_sigint() -> bool:
    """True when a Ctrl-C on our terminal already reaches the child (same foreground group)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> RunResult:
    if not argv:
        return RunResult(127, "empty command")
    pid: int | None = None
    pending: list[int] = []
    tty_sigint = _terminal_delivers_sigint()

    def forward(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT and tty_sigint:
            return  # the terminal sent it to the whole foreground group, child included
        if pid is None:
            pending.append(signum)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {}
    for sig in FORWARDED:
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, forward)
    try:
        try:
            pid = os.posix_spawnp(argv[0], list(argv), dict(env if env is not None else os.environ),
                                  setsigdef=(*FORWARDED, signal.SIGPIPE), setsigmask=())
        except FileNotFoundError:
            return RunResult(127, f"command not found: {argv[0]}")
        except ValueError:  # an empty program name, or one with a NUL byte: nothing to find
            return RunResult(127, f"command not found: {argv[0]!r}")
        except PermissionError:
            return RunResult(126, f"permission denied: {argv[0]}")
        except OSError as e:
            return RunResult(126, f"cannot execute {argv[0]}: {e.strerror or e}")
        for signum in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return RunResult(128 - code if code < 0 else code)
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, handler)
        sys.stdout.flush()
