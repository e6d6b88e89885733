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

import errno
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from .errors import EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_TIMEOUT, signal_exit
from .lean import Record, suppress

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    import signal
    from typing import IO, Literal

    from .fileio import StrPath
else:
    try:  # the built-in module: signal wraps it in enums, 1 ms of imports on every `run`
        import _signal as signal
    except ImportError:  # pragma: no cover - not CPython
        import signal

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)
# What a terminal sends to its whole foreground process group (keys, resizes).
TERMINAL_SIGNALS = frozenset({signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH})
SI_KERNEL = 0x80  # siginfo's si_code for a signal the kernel sent (Linux)
_POLL_S = 0.25  # how often the wait loop looks up, for a signal another thread took


class RunResult(Record):
    exit_code: int
    error: str | None = None  # set when the command could not be started


def startable(program: str, search_path: str | None = None, *, cwd: str | None = None,
              first_error: bool = False) -> RunResult | None:
    """None when ``program`` would start; else the result a start would give (127 not found,
    126 not executable), without starting anything.

    Why a check and not a start: only a successful exec proves that a program starts, and once
    exec succeeded the program runs. Holding a forked child before its exec (a pre-exec wait
    on a pipe) learns of an exec failure only after it was let go, that is after the grant was
    used up; starting it first would run the program before the grant is taken, and run it
    even if taking the grant then fails. So this answers as ``execve`` will, from what it
    reads: the file (a regular file with execute permission, ``access(2)``, which also knows
    noexec mounts), then its first bytes: a ``#!`` line whose interpreter (a path, from the
    directory the command runs in, never searched on PATH; itself checked the same way, up to
    Linux's nesting limit) is missing (127) or not executable (126); an ELF binary whose
    dynamic loader is missing (127); anything else that no binfmt_misc handler takes, where
    the platform's formats are known (ENOEXEC: 126; posix_spawn and subprocess do not fall
    back to ``/bin/sh`` as a shell does). A file it cannot read, or a format it does not know,
    counts as startable: a wrong "cannot start" would keep an approved command from ever
    running, a wrong "starts" costs only the grant. What changes between this check and the
    start (a file replaced, an ELF for another machine) is still reported by the start.

    Looks the name up as :func:`run` (``posix_spawnp``, glibc's execvp without the shell
    fallback) does: a name with a slash is a path from ``cwd`` (default: the current
    directory); otherwise each entry of ``search_path`` (default: this process's ``PATH``,
    the one posix_spawnp searches; without one, ``os.defpath``) in turn, an empty entry meaning
    that directory. A file that is missing, or whose interpreter is, is passed over; one that
    is not executable is passed over but remembered (126 if nothing else starts); any other
    failure stops the search. With ``first_error`` the search goes on past every failure and
    the first one other than "missing" is the answer, as Python's subprocess does (the MCP
    server's :func:`run_captured`)."""
    if not program or "\0" in program:
        return RunResult(EXIT_NOT_FOUND, f"command not found: {program!r}")
    if "/" in program:
        candidates = [program]
    else:
        search = os.environ.get("PATH", os.defpath) if search_path is None else search_path
        candidates = [os.path.join(d or ".", program) for d in search.split(os.pathsep)]
    missing: _Failure | None = None  # the first whose interpreter is missing
    refused: _Failure | None = None
    for path in candidates:
        failure = _exec_failure(path, cwd, 0)
        if failure is None:
            return None
        if failure.errno == errno.ENOENT:
            missing = missing or (failure if failure.error else None)
        elif not first_error and failure.errno != errno.EACCES:
            return failure.result()
        else:
            refused = refused or failure
    found = refused or missing
    return found.result() if found else RunResult(EXIT_NOT_FOUND, f"command not found: {program}")


_BUF = 256  # BINPRM_BUF_SIZE: the bytes of a file that execve reads to know its format
_MAX_DEPTH = 5  # Linux's exec_binprm: more interpreter rewrites than this is ELOOP
_BINFMT_MISC = "/proc/sys/fs/binfmt_misc"


class _Failure(Record):
    """Why execve would fail: its errno, and what to tell (empty for a file that is missing)."""

    errno: int
    error: str

    def result(self) -> RunResult:
        code = EXIT_NOT_FOUND if self.errno == errno.ENOENT else EXIT_CANNOT_EXECUTE
        return RunResult(code, self.error)


def _exec_failure(path: str, cwd: str | None, depth: int) -> _Failure | None:
    """Why ``execve(path)`` would fail, or None (see :func:`startable`)."""
    full = os.path.join(cwd, path) if cwd and not os.path.isabs(path) else path
    try:
        st = os.stat(full)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return _Failure(errno.ENOENT, "")
    except OSError as e:
        return _Failure(e.errno or errno.EACCES, f"cannot execute {path}: {e.strerror or e}")
    if not stat.S_ISREG(st.st_mode) or not os.access(full, os.X_OK):
        return _Failure(errno.EACCES, f"permission denied: {path} is not an executable file")
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None  # execute-only, or gone: the kernel may still start it
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # swapped since: the start will tell
        head = os.pread(fd, _BUF, 0)
        if head[:2] == b"#!":
            return _script_failure(path, head, cwd, depth)
        if head[:4] == b"\x7fELF":
            return _elf_failure(path, fd, head, cwd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if head[:4] in _MACH_O and sys.platform == "darwin":
        return None
    if not sys.platform.startswith(_ELF_PLATFORMS) or _binfmt_misc_takes(full, head):
        return None  # a format this does not know: the start will tell
    return _Failure(errno.ENOEXEC, f"cannot execute {path}: exec format error (no #! line, and "
                                   "not a binary this system runs)")


_ELF_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos")
_MACH_O = frozenset({b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf",
                     b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xbe\xba\xfe\xca"})


def _script_failure(path: str, head: bytes, cwd: str | None, depth: int) -> _Failure | None:
    """A ``#!`` file: its interpreter as Linux's binfmt_script reads it (the first word after
    ``#!``, spaces and tabs skipped, on a line of at most 256 bytes), checked in turn."""
    line = head[2:]
    newline = line.find(b"\n")
    if newline >= 0:
        line = line[:newline]
    line = line.lstrip(b" \t")
    end = min((i for i in (line.find(b" "), line.find(b"\t"), line.find(b"\0")) if i >= 0),
              default=-1)
    if end < 0 and newline < 0 and len(head) >= _BUF:
        end = 0  # the interpreter's name runs past what the kernel reads
    name = os.fsdecode(line if end < 0 else line[:end])
    if not name:
        return _Failure(errno.ENOEXEC, f"cannot execute {path}: its #! line names no "
                                       "interpreter (exec format error)")
    if depth >= _MAX_DEPTH:
        return _Failure(errno.ELOOP, f"cannot execute {path}: too many levels of #! interpreters")
    inner = _exec_failure(name, cwd, depth + 1)
    if inner is None or inner.error.startswith("cannot "):
        return inner  # it starts, or it fails for a reason that names its own file
    what = "was not found" if inner.errno == errno.ENOENT else "is not an executable file"
    return _Failure(inner.errno, f"cannot start {path}: its interpreter {name} (from its #! "
                                 f"line) {what}")


def _elf_failure(path: str, fd: int, head: bytes, cwd: str | None) -> _Failure | None:
    """An ELF file: its dynamic loader (``PT_INTERP``), which the kernel opens, must exist and
    be executable (a binary built for another C library: "No such file or directory")."""
    order: Literal["little", "big"] = "little" if head[5:6] == b"\x01" else "big"

    def num(at: int, size: int, data: bytes = head) -> int:
        return int.from_bytes(data[at:at + size], order)

    if head[4:5] == b"\x02":  # 64-bit
        phoff, entsize, count, off_at, size_at, word = num(32, 8), num(54, 2), num(56, 2), 8, 32, 8
    elif head[4:5] == b"\x01":
        phoff, entsize, count, off_at, size_at, word = num(28, 4), num(42, 2), num(44, 2), 4, 16, 4
    else:
        return None
    if not 0 < entsize <= 256 or not 0 < count <= 4096:
        return None
    table = os.pread(fd, entsize * count, phoff)
    for i in range(0, len(table) - entsize + 1, entsize):
        entry = table[i:i + entsize]
        if num(0, 4, entry) != 3:  # PT_INTERP
            continue
        size = num(size_at, word, entry)
        if not 0 < size <= 4096:
            return None
        loader = os.fsdecode(os.pread(fd, size, num(off_at, word, entry)).split(b"\0")[0])
        inner = _exec_failure(loader, cwd, _MAX_DEPTH) if loader else None
        if inner is None:
            return None
        if inner.errno == errno.ENOENT:
            return _Failure(errno.ENOENT, f"cannot start {path}: its dynamic loader {loader} "
                                          "was not found (built for another system?)")
        return _Failure(inner.errno, f"cannot start {path}: its dynamic loader {loader} is not "
                                     "an executable file")
    return None


def _binfmt_misc_takes(path: str, head: bytes) -> bool:
    """Does an enabled binfmt_misc handler (Linux: Wine, qemu, Java...) take this file, by its
    magic bytes or its name's extension?"""
    try:
        names = os.listdir(_BINFMT_MISC)
        if "status" in names and _small(os.path.join(_BINFMT_MISC, "status")).strip() != b"enabled":
            return False
    except OSError:
        return False
    for entry in names:
        if entry in ("status", "register"):
            continue
        try:
            lines = _small(os.path.join(_BINFMT_MISC, entry)).decode("ascii", "replace").splitlines()
        except OSError:
            continue
        if not lines or lines[0] != "enabled":
            continue
        fields = dict(line.partition(" ")[::2] for line in lines[1:])
        if "extension" in fields:
            ext = fields["extension"].strip().lstrip(".")
            if ext and "." in path and path.rpartition(".")[2] == ext:
                return True
            continue
        try:
            magic = bytes.fromhex(fields.get("magic", ""))
            mask = bytes.fromhex(fields.get("mask", "")) or b"\xff" * len(magic)
            offset = int(fields.get("offset", "0"))
        except ValueError:
            continue
        data = head[offset:offset + len(magic)]
        if magic and len(data) == len(magic) and len(mask) >= len(magic) and all(
                (d ^ m) & k == 0 for d, m, k in zip(data, magic, mask, strict=False)):
            return True
    return False


def _small(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(4096)


def _start_failure(program: str, e: OSError | ValueError, *, search_path: str | None = None,
                   cwd: str | None = None, first_error: bool = False) -> RunResult:
    """What a failed start gives, as the shell would: 127 not found, 126 not executable; said
    as :func:`startable` says it when it agrees (a missing interpreter, an exec format error)."""
    failed = _start_code(program, e)
    explained = startable(program, search_path, cwd=cwd, first_error=first_error)
    return explained if explained is not None and explained.exit_code == failed.exit_code else failed


def _start_code(program: str, e: OSError | ValueError) -> RunResult:
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
            with suppress(ProcessLookupError):
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
        with suppress(OSError, ValueError):
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
            with suppress(OSError, ValueError):
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
    with suppress(OSError, ValueError):
        while chunk := stream.read(65536):
            sink.feed(chunk)


class CapturedRun(Record):
    exit_code: int
    stdout: Capture
    stderr: Capture
    timed_out: bool = False
    error: str | None = None  # set when the command could not be started


def run_captured(argv: Sequence[str], cwd: StrPath, env: Mapping[str, str], timeout: float,
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
        failed = _start_failure(argv[0], e, search_path=env.get("PATH", os.defpath), cwd=str(cwd),
                                first_error=True)
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
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = EXIT_TIMEOUT
    for t in readers:
        t.join(timeout=5)
    return CapturedRun(_exit_code(code), out, err, timed_out=timed_out)
