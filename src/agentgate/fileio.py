"""State on disk: a state directory nobody else can change, files opened without following links,
and replacing a file so that a crash at any instant leaves the old content or the new, never a mix.

Every state file agentgate creates is 0600 and every directory 0700, whatever the umask. A state
directory that another user could change is refused, as ssh's StrictModes refuses ``~/.ssh``:
whoever can write there can plant an approved grant. A state file that is a symbolic link, not
a regular file, has other hard links, is someone else's or writable by others is refused too,
naming it.

:func:`replace_atomically` is used for every state file agentgate rewrites (ledger, its archive,
trust records) and for the agent settings that `hook install` edits. The audit log is appended to,
not replaced (audit.py).
"""

from __future__ import annotations

import errno
import os
import stat

from .errors import ConfigError, StateError
from .faults import fault
from .lean import contextmanager, suppress

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Iterator

    # A path as a str (what the run path uses: no pathlib there) or a Path (cold callers).
    StrPath = str | os.PathLike[str]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_SYMLINK_ERRNOS = (errno.ELOOP, errno.EMLINK)  # what O_NOFOLLOW on a link gives (Linux, BSD)
FILE_MODE, DIR_MODE = 0o600, 0o700


def _uid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _who(uid: int) -> str:
    name = _name(uid)
    return f"{name} (uid {uid})" if name != str(uid) else f"uid {uid}"


_MAX_LINKS = 40  # what the kernel follows before ELOOP


def check_state_dir(root: StrPath) -> None:
    """Refuse (StateError) a state directory someone else could change: it must be a directory
    of the current user that neither group nor others can write, and every directory on the way
    to it, also through symbolic links, must belong to the user or root and be writable by
    nobody else unless it is sticky (like /tmp). A symbolic link on the way must belong to the
    user or root as well: its owner can re-point it at any time (ssh's StrictModes, and what
    fs.protected_symlinks enforces in sticky directories). A directory that does not exist yet
    passes when what exists above it does. Root's own root-owned state directory is fine."""
    uid = _uid()
    if uid is None:  # pragma: no cover - not POSIX
        return
    _walk_checked(root, os.path.abspath(root), uid)


def walk_path(path: str) -> Iterator[tuple[str, os.stat_result, bool]]:
    """The entries met resolving the absolute ``path`` one component at a time, as the kernel
    does: ``/``, then each directory and each symbolic link (links inside a link's target
    included) and the entry it ends at, as (level, its lstat, whether it is the last component).
    Stops at the first component that does not exist and after one that is not a directory; an
    entry that cannot be looked at is an OSError naming it, more than 40 links OSError(ELOOP).
    The one walk behind :func:`check_state_dir` and :func:`check_not_writable_by_others`."""
    todo = [p for p in reversed(path.split("/")) if p]  # components still to walk, next last
    cur, hops = "/", 0
    try:
        st = os.lstat(cur)
    except (FileNotFoundError, NotADirectoryError):
        return
    yield cur, st, not todo
    while todo:
        part = todo.pop()
        if part == ".":
            continue
        if part == "..":
            cur = os.path.dirname(cur)  # cur has no links in it: .. is its parent
            continue
        level = os.path.join(cur, part)
        try:
            st = os.lstat(level)
        except (FileNotFoundError, NotADirectoryError):
            return
        yield level, st, not todo
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            target = os.readlink(level)
            if hops > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), level)
            if target.startswith("/"):
                cur = "/"
            todo.extend(p for p in reversed(target.split("/")) if p)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return
        cur = level


def _walk_checked(root: StrPath, path: str, uid: int) -> None:
    """Check each directory and each symbolic link met resolving ``path`` (:func:`walk_path`);
    what does not exist yet is checked by the caller that creates it."""
    try:
        for level, st, final in walk_path(path):
            if stat.S_ISLNK(st.st_mode):
                _check_link(root, level, st, uid)
            elif not stat.S_ISDIR(st.st_mode):
                if final:
                    raise StateError(f"the state directory {root} is not a directory",
                                     "point AGENTGATE_HOME at a directory")
                return  # the caller's attempt to create the directory reports it
            else:
                _check_dir(root, level, st, uid, final)
    except OSError as e:
        level = str(e.filename)
        if e.errno == errno.ELOOP:
            raise StateError(f"cannot use the state directory {root}: too many levels of "
                             f"symbolic links at {level}",
                             "point AGENTGATE_HOME at a real directory") from None
        raise StateError(f"cannot use the state directory {root}: cannot look at {level}: "
                         f"{e.strerror or e}",
                         f"give yourself access to {level}, or set AGENTGATE_HOME to a directory "
                         "of your own; nothing was run") from None


def _check_link(root: StrPath, level: str, st: os.stat_result, uid: int) -> None:
    """A symbolic link on the way to the state directory: its owner decides where it leads."""
    if st.st_uid in (0, uid):
        return
    raise StateError(
        f"{level}, on the way to the state directory {root}, is a symbolic link owned by "
        f"{_who(st.st_uid)}, not by you ({_name(uid)}){' or root' if uid else ''}: that user "
        "can re-point it at another directory at any time",
        f"set AGENTGATE_HOME to the real directory (not through {level}), or replace the link "
        "by one of your own; nothing was run")


def _check_dir(root: StrPath, level: str, st: os.stat_result, uid: int, final: bool) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if final:
        what = f"the state directory {root}" + (f" ({level})" if level != str(root) else "")
    else:
        what = f"{level}, above the state directory {root},"
    if (st.st_uid != uid) if final else (st.st_uid not in (0, uid)):
        raise StateError(
            f"{what} is owned by {_who(st.st_uid)}, not by you ({_name(uid)}): another user "
            "could plant or change approvals there",
            f"if it is yours, run `chown {_name(uid)} {level}` (as root); otherwise set "
            "AGENTGATE_HOME to a directory of your own; nothing was run")
    if mode & 0o022 and (final or not mode & stat.S_ISVTX):
        who = {0o022: "its group and others", 0o002: "others"}.get(mode & 0o022, "its group")
        fix = f"chmod 700 {level}" if final else f"chmod go-w {level}"
        raise StateError(
            f"{what} is writable by {who} (mode {mode:04o}): another user could plant or change "
            "approvals there",
            f"run `{fix}`, or set AGENTGATE_HOME to a directory only you can write; nothing was run")
    if final and uid != 0 and mode & 0o500 != 0o500:  # writers fail on their own, naming the file
        raise StateError(f"{what} is not readable by you (mode {mode:04o})",
                         f"run `chmod 700 {level}`; nothing was run")


def check_not_writable_by_others(path: StrPath) -> None:
    """Refuse (ConfigError) a file that someone other than the user or root could change, or
    swap for another: every directory met resolving ``path`` (:func:`walk_path`, through every
    symbolic link) must belong to the user or root and be writable by nobody else unless it is
    sticky, like the directories above a state directory; every symbolic link met must belong to
    the user or root (its owner can re-point it); and the file it leads to must belong to the
    user or root and be writable by neither its group nor others. What does not exist ends the
    walk (opening the file reports it); an entry that cannot be looked at, or a loop, is an
    OSError naming it. For files agentgate reads but does not own, such as a policy."""
    uid = _uid()
    if uid is None:  # pragma: no cover - not POSIX
        return
    for level, st, final in walk_path(os.path.abspath(path)):
        mode = stat.S_IMODE(st.st_mode)
        what = (f"{level}, a symbolic link on the way," if stat.S_ISLNK(st.st_mode) else
                f"{level}, a directory on the way," if not final else level)
        if st.st_uid not in (0, uid):
            me = f"you ({_name(uid)})" if uid == 0 else f"you ({_name(uid)}) or root"
            raise ConfigError(f"{what} is owned by {_who(st.st_uid)}, not by {me}",
                              f"if it is yours, run `chown {_name(uid)} {level}` (as root); "
                              "otherwise use a copy of your own")
        if stat.S_ISLNK(st.st_mode):
            continue
        sticky_dir = stat.S_ISDIR(st.st_mode) and not final and mode & stat.S_ISVTX
        if mode & 0o022 and not sticky_dir:
            who = {0o022: "its group and others", 0o002: "others"}.get(mode & 0o022, "its group")
            raise ConfigError(f"{what} is writable by {who} (mode {mode:04o})",
                              f"run `chmod go-w {level}`")


def make_state_dir(root: StrPath) -> None:
    """:func:`check_state_dir`, then create each missing level 0700 (whatever the umask)."""
    check_state_dir(root)
    missing: list[StrPath] = []
    d = root
    while not os.path.lexists(d):
        missing.append(d)
        parent = _parent(d)
        if parent == os.fspath(d):
            break
        d = parent
    try:
        for level in reversed(missing):
            _mkdir_private(level)
    except OSError as e:
        raise StateError(f"cannot create state directory {root}: {e.strerror or e}",
                         "set AGENTGATE_HOME to a writable directory of your own") from None
    if missing:
        check_state_dir(root)


def _mkdir_private(path: StrPath) -> None:
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return  # another process made it: the check after creation looks at it
    os.chmod(path, DIR_MODE)  # the umask may have taken bits away; the parent is ours alone


def state_subdir(path: StrPath, *, create: bool) -> bool:
    """A directory inside the (checked) state directory, like ``validated/``: no symlink, the
    user's, writable only by the user; created 0700 when ``create``. Whether it exists now."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        if not create:
            return False
        try:
            _mkdir_private(path)
            st = os.lstat(path)
        except OSError as e:
            raise StateError(f"cannot create {path}: {e.strerror or e}",
                             "make the state directory writable (AGENTGATE_HOME)") from None
    except OSError as e:
        raise StateError(f"cannot look at {path}: {e.strerror or e}",
                         "fix the permissions of the state directory (AGENTGATE_HOME)") from None
    if stat.S_ISLNK(st.st_mode):
        raise StateError(f"{path} is a symbolic link; agentgate does not follow links in its "
                         "state directory", f"remove it (rm {path}); it is recreated as needed")
    uid = _uid()
    if not stat.S_ISDIR(st.st_mode):
        raise StateError(f"{path} is not a directory", f"remove it (rm {path})")
    if uid is not None:
        _check_dir(path, str(path), st, uid, True)
    return True


def open_state_file(path: StrPath, flags: int, *, label: str, create: bool = False) -> int | None:
    """An fd for a state file, never through a symlink; None when it is missing (and not
    ``create``). A file this creates is 0600; an existing one must be a regular file of the
    user that others cannot write. Every failure is a StateError naming the file."""
    flags |= _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK  # a FIFO planted here must not hang us
    for _ in range(5):
        if create:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
            except FileExistsError:
                pass
            except OSError as e:
                raise _open_error(path, label, e) from None
            else:
                try:
                    os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away
                except OSError as e:
                    os.close(fd)
                    raise _open_error(path, label, e) from None
                return fd
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            if create:
                continue  # removed since our O_EXCL attempt: try again
            return None
        except OSError as e:
            raise _open_error(path, label, e) from None
        try:
            check_state_file(path, os.fstat(fd), label=label)
        except BaseException:
            os.close(fd)
            raise
        return fd
    raise StateError(f"cannot open {label} {path}: it keeps disappearing",
                     "is another program deleting files in the state directory?")


def state_file_exists(path: StrPath, *, label: str) -> bool:
    """Is there a state file at ``path`` (checked as by :func:`check_state_file`)?"""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise StateError(f"cannot look at {label} {path}: {e.strerror or e}",
                         "fix the permissions of the state directory (AGENTGATE_HOME)") from None
    check_state_file(path, st, label=label)
    return True


def check_state_file(path: StrPath, st: os.stat_result, *, label: str = "state file") -> None:
    """Refuse a state file that is a link or not a regular file, has other (hard) links, is
    someone else's, or others can write."""
    if stat.S_ISLNK(st.st_mode):
        raise _open_error(path, label, OSError(errno.ELOOP, os.strerror(errno.ELOOP)))
    if not stat.S_ISREG(st.st_mode):
        raise StateError(f"{label} {path} is not a regular file",
                         f"move it aside (mv {path} {path}.bad); nothing was run")
    if st.st_nlink > 1:  # a hard link: appending here would write into the other name's file
        raise StateError(f"{label} {path} has {st.st_nlink} hard links: the same file has "
                         "another name elsewhere, and agentgate neither writes into nor trusts "
                         "such a file",
                         f"inspect it, then replace it by a copy of its own (cp -p {path} "
                         f"{path}.copy && mv {path}.copy {path}); nothing was run")
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        raise StateError(f"{label} {path} is owned by {_who(st.st_uid)}, not by you ({_name(uid)}): "
                         "another user may have planted it",
                         "inspect it, then remove it or `chown` it to yourself; nothing was run")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise StateError(f"{label} {path} is writable by group or others (mode {mode:04o})",
                         f"inspect it, then run `chmod 600 {path}`; nothing was run")


def _open_error(path: StrPath, label: str, e: OSError) -> StateError:
    if e.errno in _SYMLINK_ERRNOS:
        return StateError(f"{label} {path} is a symbolic link; agentgate does not follow links "
                          "in its state directory",
                          f"remove the link (rm {path}); if it pointed at a real file of yours, "
                          "move that file into its place; nothing was run")
    return StateError(f"cannot open {label} {path}: {e.strerror or e}",
                      "fix the permissions of the state directory (AGENTGATE_HOME) or free disk "
                      "space; nothing was run")


def read_state_file(path: StrPath, *, label: str) -> bytes | None:
    """The whole content of a state file (see :func:`open_state_file`); None when missing."""
    fd = open_state_file(path, os.O_RDONLY, label=label)
    if fd is None:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError as e:
        raise StateError(f"cannot read {label} {path}: {e.strerror or e}",
                         "fix its permissions; nothing was run") from None
    finally:
        os.close(fd)


def replace_atomically(path: StrPath, data: bytes, mode: int = FILE_MODE, *, prefix: str | None = None,
                       fault_point: str | None = None, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path`` (with ``mode``), fsync it, rename it over
    ``path`` and fsync the directory. The temp file is created exclusively under an
    unpredictable name, so nothing planted there is written through; the rename replaces a
    symlink at ``path`` rather than following it. On a failure before the rename the temp file
    is removed and OSError raised; ``path`` is then unchanged (a failed directory fsync after
    it raises too: see :class:`Staged`). ``durable=False`` skips both fsyncs (the audit head of
    lines that are not fsynced either). ``fault_point``: see :func:`staged_replace`."""
    with staged_replace(path, data, mode, prefix=prefix, fault_point=fault_point, durable=durable):
        pass


class Staged:
    """A complete temp file waiting to replace its target (see :func:`stage_file`).

    ``replaced`` tells exactly whether the rename, the commit point, happened: once it is
    True the new content is in place, whatever fails after it (the directory's fsync) or
    interrupts it (after :meth:`discard`, also an interruption right after the rename)."""

    __slots__ = ("durable", "fault_point", "path", "replaced", "tmp")

    def __init__(self, path: StrPath, tmp: str, fault_point: str | None, durable: bool) -> None:
        self.path, self.tmp, self.fault_point, self.durable = path, tmp, fault_point, durable
        self.replaced = False

    def replace(self) -> None:
        """Rename the temp file over the target, then fsync the directory (when durable).
        OSError before the rename leaves the target as it was; after it, ``replaced`` is
        True and only the new content's durability is in doubt."""
        if self.replaced:
            return
        if self.fault_point:
            fault(f"{self.fault_point}.renaming")
        os.replace(self.tmp, self.path)
        self.replaced = True
        if self.fault_point:
            fault(f"{self.fault_point}.replaced")
        if self.durable:
            sync_dir(_parent(self.path))

    def discard(self) -> None:
        """Remove the temp file unless it replaced the target (idempotent)."""
        if self.replaced:
            return
        if os.path.lexists(self.tmp):
            with suppress(OSError):
                os.unlink(self.tmp)
        else:  # renamed, and interrupted before that was noted (nobody else removes it)
            self.replaced = True


def sync_dir(path: StrPath) -> None:
    """fsync a directory, so that a rename in it survives a crash."""
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def stage_file(path: StrPath, data: bytes, mode: int = FILE_MODE, *, prefix: str | None = None,
               fault_point: str | None = None, durable: bool = True) -> Staged:
    """The first step of :func:`replace_atomically`: ``data`` in a complete temp file beside
    ``path`` (fsynced when durable), created exclusively under an unpredictable name. OSError
    when that fails, and nothing is left behind. The caller calls ``replace`` or ``discard``.
    ``fault_point``: see :func:`staged_replace`."""
    fd, tmp = _create_temp(path, prefix or f".{os.path.basename(path)}-")
    staged = Staged(path, tmp, fault_point, durable)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if fault_point:
            fault(f"{fault_point}.tmp_written")
    except BaseException:
        staged.discard()
        raise
    return staged


@contextmanager
def staged_replace(path: StrPath, data: bytes, mode: int = FILE_MODE, *, prefix: str | None = None,
                   fault_point: str | None = None, durable: bool = True) -> Iterator[Staged]:
    """:func:`replace_atomically` in steps, for a write that must be recorded elsewhere before
    it takes effect (the ledger and trust records: their audit lines go in between). The temp
    file is complete (and fsynced) when the body starts (:func:`stage_file`), so a full disk
    fails before anything is recorded. The body may call :meth:`Staged.replace` itself (to know
    exactly when the commit point passes); otherwise the temp file replaces ``path`` when the
    body returns. It is removed when the body raises before the rename. ``fault_point`` names
    the test-only fault hooks ``<point>.tmp_written`` (before the body), ``<point>.renaming``
    (just before the rename) and ``<point>.replaced`` (just after it, before the directory's
    fsync)."""
    staged = stage_file(path, data, mode, prefix=prefix, fault_point=fault_point, durable=durable)
    try:
        yield staged
        staged.replace()
    finally:
        staged.discard()


@contextmanager
def staged_state_file(path: StrPath, data: bytes, *, label: str, prefix: str, fault_point: str,
                      kept: str) -> Iterator[Staged]:
    """:func:`staged_replace` for a state file that a state change rewrites (the ledger, the
    trust records; the caller holds the lock): temp files a crash left are removed first, and
    every OSError becomes a StateError that says whether the new content is in place (``kept``
    says what holds when it is not)."""
    staged: Staged | None = None
    try:
        remove_stale_temps(_parent(path), prefix)
        with staged_replace(path, data, prefix=prefix, fault_point=fault_point) as staged:
            yield staged
    except OSError as e:
        if staged is not None and staged.replaced:
            raise StateError(f"syncing the state directory after replacing {label} {path} "
                             f"failed: {e.strerror or e}",
                             f"the new {label} is in place, but may not survive a crash of the "
                             "machine; free disk space or check the disk") from None
        raise StateError(f"cannot write {label} {path}: {e.strerror or e}",
                         f"free disk space or fix permissions of the state directory; {kept}"
                         ) from None


_DEFERRED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # Ctrl-C, kill, a closed terminal


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP while the block runs (a state write's critical section:
    its audit lines, the rename, the head), so that they take effect before it or after it,
    never between its commit points; they are delivered when it ends (a KeyboardInterrupt is
    then raised there). SIGKILL cannot be held: the next append recovers from it (audit.py).
    Uses the built-in ``_signal`` (``signal`` imports enum on every gated command)."""
    try:
        sig = __import__("_signal")
    except ImportError:  # pragma: no cover - not CPython
        sig = __import__("signal")
    mask = getattr(sig, "pthread_sigmask", None)
    if mask is None:  # pragma: no cover - not POSIX
        yield
        return
    signals = {getattr(sig, name) for name in _DEFERRED_SIGNALS if hasattr(sig, name)}
    old = mask(sig.SIG_BLOCK, signals)
    try:
        yield
    finally:
        mask(sig.SIG_SETMASK, old)


def remove_stale_temps(directory: StrPath, prefix: str) -> None:
    """Remove ``<prefix>*.tmp`` temp files that a crash left in ``directory`` (the caller holds
    the lock, so none is in use). Only regular files of the user are removed; anything else at
    such a name (a directory, a link) is left alone: temp names are random and created
    exclusively, so it is in no write's way."""
    uid = _uid()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    stale = [n for n in names if n.startswith(prefix) and n.endswith(".tmp")
             and len(n) >= len(prefix) + 4]
    for name in stale:
        p = os.path.join(directory, name)
        with suppress(OSError):
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and (uid is None or st.st_uid == uid):
                os.unlink(p)


def _create_temp(path: StrPath, prefix: str) -> tuple[int, str]:
    """An fd and name for a new temp file beside ``path``: ``<prefix><random>.tmp``, created
    with O_EXCL and O_NOFOLLOW (what mkstemp does, without importing tempfile on the `run`
    path, where the audit head is written)."""
    for _ in range(100):
        tmp = os.path.join(_parent(path), f"{prefix}{os.urandom(8).hex()}.tmp")
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                           FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temp file name beside {path}")


def _parent(path: StrPath) -> str:
    """The directory holding ``path`` (Path.parent, as a str: ``.`` for a bare name)."""
    return os.path.dirname(path) or "."


def read_at_most(fd: int, limit: int) -> bytes:
    """What ``fd`` holds, but at most ``limit + 1`` bytes: a result longer than ``limit`` tells
    the caller the file is too big without reading all of it (a device, a huge file)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
