"""`agentgate hook install`: merge agentgate's hook entry into an agent's settings JSON, never
dropping what is already there, backing the file up and replacing it atomically.

The settings file is read only if it is a regular file (a FIFO would hang the install, a device
read forever), without blocking and up to a size cap; anything else fails closed, changing
nothing. A settings file that is a symbolic link (dotfiles) is updated where it points: the
temp file goes in the target's directory and is renamed over the target, so the link stays.

Where each agent keeps its settings, and the entry it gets, come from agents.py; the hook's
command line and how to recognise it, from agentgate.grammar. No printing: the CLI shows the
plan (a diff under ``--dry-run``) and the result.
"""

from __future__ import annotations

import copy
import difflib
import errno
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EXIT_CONFIG, AgentgateError
from ..fileio import read_at_most, replace_atomically
from ..grammar import is_hook_command_line
from .agents import Agent

MAX_SETTINGS_BYTES = 4 * 1024 * 1024  # an agent's settings are a few KiB; more is not settings
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True)
class InstallPlan:
    agent: str
    path: Path  # the agent's settings path
    before: str | None  # None: the file does not exist yet
    after: str
    target: Path | None = None  # where ``path`` points, when it is a symbolic link

    @property
    def written(self) -> Path:
        """The file that is replaced: the link's target for a symlinked settings file."""
        return self.target or self.path

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        old = (self.before or "").splitlines(keepends=True)
        new = self.after.splitlines(keepends=True)
        src = str(self.path) if self.before is not None else "/dev/null"
        return "".join(difflib.unified_diff(old, new, src, str(self.path)))


def _refuse(path: Path | str, why: str) -> AgentgateError:
    return AgentgateError(f"refusing to modify {path}: {why}",
                          "fix or move the file, then run `agentgate hook install` again; "
                          "nothing was changed", exit_code=EXIT_CONFIG)


def _hook_commands(value: Any) -> Iterator[str]:
    """Every hook command string in an event's list, flat (Cursor) or in matcher groups."""
    if not isinstance(value, list):
        return
    for item in value:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("command"), str):
            yield item["command"]
        for hook in item.get("hooks", []) if isinstance(item.get("hooks"), list) else []:
            if isinstance(hook, dict) and isinstance(hook.get("command"), str):
                yield hook["command"]


def already_installed(event_list: Any, agent: str) -> bool:
    return any(is_hook_command_line(c, agent) for c in _hook_commands(event_list))


def merge(doc: dict[str, Any], agent: Agent, command: str, path: Path) -> dict[str, Any]:
    """``doc`` with agentgate's hook added (a no-op when one is there); other keys untouched."""
    for key, value in agent.settings_header.items():
        doc.setdefault(key, value)
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise _refuse(path, "its 'hooks' is not a JSON object")
    event_list = hooks.setdefault(agent.event, [])
    if not isinstance(event_list, list):
        raise _refuse(path, f"its 'hooks.{agent.event}' is not a JSON array")
    if not already_installed(event_list, agent.name):
        event_list.append(agent.hook_entry(command))
    return doc


def _not_regular(st: os.stat_result) -> str | None:
    if stat.S_ISREG(st.st_mode):
        return None
    return next((what for test, what in _NOT_REGULAR if test(st.st_mode)), "not a regular file")


def read_settings(path: Path, shown: str | None = None) -> str | None:
    """The settings file's text, None when there is none. It must be a regular file (after
    symlinks) of at most :data:`MAX_SETTINGS_BYTES` in UTF-8: the open never blocks, the file
    opened is the one checked, and reading stops one byte past the cap; anything else is
    refused (78, naming ``shown``, default ``path``), before anything is written."""
    name = shown or str(path)
    try:
        st = os.stat(path)
        if (what := _not_regular(st)) is not None:
            raise _refuse(name, f"it is {what}, not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise _refuse(name, f"it is a symbolic link to {os.readlink(path)}, which does not "
                                "exist") from None
        return None
    except OSError as e:
        raise _refuse(name, f"cannot read it ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if (what := _not_regular(st)) is not None:  # swapped since the check
            raise _refuse(name, f"it is {what}, not a regular file")
        data = read_at_most(fd, MAX_SETTINGS_BYTES)
    except OSError as e:
        raise _refuse(name, f"cannot read it ({e.strerror or e})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SETTINGS_BYTES:
        raise _refuse(name, f"it is larger than {MAX_SETTINGS_BYTES // (1024 * 1024)} MiB, which "
                            "no agent's settings are")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _refuse(name, f"it is not UTF-8 text ({e})") from None


def _link_target(path: Path) -> Path | None:
    """Where a settings path that is a symbolic link finally points (links followed), else
    None."""
    if not os.path.islink(path):
        return None
    return Path(os.path.realpath(path))


def plan_install(agent: Agent, scope: str, project_dir: Path, command: str) -> InstallPlan:
    """Read the settings file and compute its new content; refuse a file that is not JSON."""
    path = agent.settings_path(scope, project_dir)
    target = _link_target(path)
    if target is not None and not os.path.lexists(target):
        raise _refuse(path, f"it is a symbolic link to {os.readlink(path)}, which does not exist")
    before = read_settings(target or path, f"{path} (a symbolic link to {target})" if target else None)
    doc: Any = {}
    if before is not None and before.strip():
        try:
            doc = json.loads(before)
        except ValueError as e:
            raise _refuse(path, f"it is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise _refuse(path, "it is not a JSON object")
    original = copy.deepcopy(doc)
    merged = merge(doc, agent, command, path)
    if before is not None and before.strip() and merged == original:
        return InstallPlan(agent.name, path, before, before, target)  # there: left byte for byte
    return InstallPlan(agent.name, path, before,
                       json.dumps(merged, indent=2, ensure_ascii=False) + "\n", target)


def backup_name(path: Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(time.time() if now is None else now))
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def apply_install(plan: InstallPlan) -> Path | None:
    """Back the file up (the content read, beside the file written), then replace it
    atomically: the link's target for a symlinked settings file, so that the link stays.
    Refuses a file that changed since it was read. Returns the backup's path, if any."""
    path = plan.written
    backup = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if plan.before is not None:
            mode = os.stat(path).st_mode & 0o777
            if read_settings(path) != plan.before:
                raise _refuse(path, "it changed while agentgate was reading it")
            backup = _write_backup(path, plan.before.encode("utf-8"), mode)
        else:
            mode = 0o666 & ~_umask()
        replace_atomically(path, plan.after.encode("utf-8"), mode)
    except OSError as e:
        raise AgentgateError(f"cannot write {path}: {e.strerror or e}",
                             "check the directory's permissions", exit_code=EXIT_CONFIG) from None
    return backup


def _write_backup(path: Path, data: bytes, mode: int) -> Path:
    """A new file beside ``path`` with ``data`` (created exclusively: never written through
    something planted at its name)."""
    for _ in range(100):
        backup = backup_name(path)
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_CLOEXEC", 0), mode)
        except FileExistsError:
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        return backup
    raise OSError(errno.EEXIST, f"no free backup name beside {path}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def on_path(executable: str) -> bool:
    """Can the agent find ``executable`` as this environment would (on PATH, or a path)?"""
    return shutil.which(executable) is not None
