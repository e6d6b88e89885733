"""Start the allowed command directly (no shell), pass signals on, return its exit code; or,
for the MCP server, run it with its output captured (bounded) and a timeout. Every process
agentgate starts is started here.

Exit codes follow the shell's conventions: the child's own code; 128+N when signal N killed it;
127 when the program is not found; 126 when it cannot be executed (all in agentgate.errors).

Signals sent to agentgate reach the child once. The child stays in agentgate's process group, so
a key a terminal turns into a signal (Ctrl-C, Ctrl-\\) or a resize already reaches it: such a
signal, which the kernel sends to the whole foreground group, is not sent again. Every other one
(``kill -INT <agentgate's pid>``, a supervisor's SIGTERM, SIGHUP) is passed on. On Linux the
signals are taken with ``sigtimedwait``, which tells the kernel's signals from a process's; where
that is missing, signal handlers pass everything on except SIGINT while in a terminal's
foreground group (the best guess without that information).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from .errors import EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_TIMEOUT, signal_exit
from .lean import Record

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)
# What a terminal sends to its whole foreground process group (keys, resizes).
TERMINAL_SIGNALS = frozenset({signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH})
SI_KERNEL = 0x80  # siginfo's si_code for a signal the kernel sent (Linux)
_POLL_S = 0.25  # how often the wait loop looks up, for a signal another thread took


class RunResult(Record):
    exit_code: int
    error: str | None = None  # set when the command could not be started


def startable(program: str, search_path: str | None = None) -> RunResult | None:
    """None when ``program`` would start; else the result a start would give (127 not found,
    126 not executable), without starting anything.

    Looks the name up as :func:`run` (``posix_spawnp``, like execvp) does: a name with a slash
    is a path from the current directory; otherwise each entry of ``search_path`` (default: this
    process's ``PATH``, the one posix_spawnp searches; without one, ``os.defpath``) in turn, an
    empty entry meaning the current directory, and a file found without the execute permission
    is skipped but remembered (126 if nothing else is found)."""
    if not program or "\0" in program:
        return RunResult(EXIT_NOT_FOUND, f"command not found: {program!r}")
    if "/" in program:
        candidates = [program]
    else:
        search = os.environ.get("PATH", os.defpath) if search_path is None else search_path
        candidates = [os.path.join(d or ".", program) for d in search.split(os.pathsep)]
    refused = None
    for path in candidates:
        try:
            if not os.path.exists(path):
                continue
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return None
        except (OSError, ValueError):
            continue
        refused = refused or path
    if refused is not None:
        return RunResult(EXIT_CANNOT_EXECUTE, f"permission denied: {refused} is not an executable file")
    return RunResult(EXIT_NOT_FOUND, f"command not found: {program}")


def _start_failure(program: str, e: OSError | ValueError) -> RunResult:
    """What a failed start gives, as the shell would: 127 not found, 126 not executable."""
    if isinstance(e, FileNotFoundError):
        return RunResult(EXIT_NOT_FOUND, f"command not found: {program}")
    if isinstance(e, ValueError):  # an empty program name, or one with a NUL byte: nothing to find
        return RunResult(EXIT_NOT_FOUND, f"command not found: {program!r}")
    if isinstance(e, PermissionError):
        return RunResult(EXIT_CANNOT_EXECUTE, f"permission denied: {program}")
    return RunResult(EXIT_CANNOT_EXECUTE, f"cannot execute {program}: {e.strerror or e}")


def _exit_code(code: int) -> int:
    """A child's exit code from its status (negative: the signal that ended it)."""
    return signal_exit(-code) if code < 0 else code


def _foreground() -> bool:
    """True when our process group is the foreground group of a terminal on stdin, stdout or
    stderr (so that a Ctrl-C on it reaches the child too)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


def _same_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except OSError:
        return False


def run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> RunResult:
    if not argv:
        return RunResult(EXIT_NOT_FOUND, "empty command")
    pid: int | None = None
    done = False
    pending: list[int] = []
    tty_sigint = _foreground()

    def deliver(signum: int) -> None:
        if pid is None:
            pending.append(signum)
        elif not done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        """For a signal that reaches a handler (another thread took it, or no sigtimedwait)."""
        if signum == signal.SIGINT and tty_sigint and waited is None:
            return  # without siginfo: assume the terminal sent it to the whole group
        deliver(signum)

    waited: set[int] | None = None
    blocked_before: set[int] | None = None
    previous = {}
    for sig in FORWARDED:
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, on_signal)
    if previous and hasattr(signal, "sigtimedwait"):  # the main thread, on Linux
        waited = {*FORWARDED, signal.SIGCHLD}
        blocked_before = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        try:
            pid = os.posix_spawnp(argv[0], list(argv), dict(env if env is not None else os.environ),
                                  setsigdef=(*FORWARDED, signal.SIGPIPE), setsigmask=())
        except (OSError, ValueError) as e:
            return _start_failure(argv[0], e)
        for signum in pending:
            deliver(signum)
        if waited is None:
            _, status = os.waitpid(pid, 0)
        else:
            status = _wait_forwarding(pid, waited, deliver)
        done = True
        return RunResult(_exit_code(os.waitstatus_to_exitcode(status)))
    finally:
        done = True
        if waited is not None and blocked_before is not None:
            while signal.sigtimedwait(waited, 0) is not None:
                pass  # the child is gone: what arrived for it since is dropped, not re-raised
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked_before)
        for sig, handler in previous.items():
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, handler)
        sys.stdout.flush()


def _wait_forwarding(pid: int, waited: set[int], deliver: Callable[[int], None]) -> int:
    """Wait for ``pid`` to exit with ``waited`` blocked, passing each signal on; its wait status."""
    while True:
        info = signal.sigtimedwait(waited, _POLL_S)
        if info is None or info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            continue
        if (info.si_signo in TERMINAL_SIGNALS and info.si_code == SI_KERNEL
                and _same_group(pid)):
            continue  # a terminal sent it to its foreground group: the child has it already
        deliver(info.si_signo)


# --------------------------------------------------------------------------- captured (MCP)


class Capture:
    """Keeps the first and last bytes of a stream, and counts what was dropped between them."""

    def __init__(self, limit: int):
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        dropped = self.total - len(self.head) - len(self.tail)
        return (self.head.decode("utf-8", "replace")
                + f"\n[... agentgate: {dropped} bytes truncated ...]\n"
                + self.tail.decode("utf-8", "replace"))


def _drain(stream: IO[bytes], sink: Capture) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := stream.read(65536):
            sink.feed(chunk)


class CapturedRun(Record):
    exit_code: int
    stdout: Capture
    stderr: Capture
    timed_out: bool = False
    error: str | None = None  # set when the command could not be started


def run_captured(argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float,
                 limit: int) -> CapturedRun:
    """Run ``argv`` (no shell added) in its own session with stdin closed, keeping at most
    ``limit`` bytes of each output stream; after ``timeout`` seconds its process group is
    killed (exit 124)."""
    import subprocess
    import threading

    out, err = Capture(limit), Capture(limit)
    if not argv:
        return CapturedRun(EXIT_NOT_FOUND, out, err, error="empty command")
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except (OSError, ValueError) as e:
        failed = _start_failure(argv[0], e)
        return CapturedRun(failed.exit_code, out, err, error=failed.error)
    assert proc.stdout is not None and proc.stderr is not None
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
    for t in readers:
        t.start()
    timed_out = False
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = EXIT_TIMEOUT
    for t in readers:
        t.join(timeout=5)
    return CapturedRun(_exit_code(code), out, err, timed_out=timed_out)
