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
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EXIT_CONFIG, AgentgateError, ConfigError, UsageError
from ..fileio import read_at_most, replace_atomically, walk_path
from ..grammar import is_hook_command_line
from ..lean import lazy_regex
from .agents import Agent, Setting

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


def merge(doc: dict[str, Any], agent: Agent, command: str, path: Path,
          wait: int | None = None) -> dict[str, Any]:
    """``doc`` with agentgate's hook added (a no-op when one is there, but for its ``--wait``);
    other keys untouched. ``wait``: seconds the hook waits for a human (see :func:`set_wait`)."""
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
    _add_entry_fields(event_list, agent)
    set_wait(event_list, agent, wait)
    for event, entry in agent.report_entries(command):  # the agent's reports: `ran` events
        reports = hooks.setdefault(event, [])
        if not isinstance(reports, list):
            raise _refuse(path, f"its 'hooks.{event}' is not a JSON array")
        if not already_installed(reports, agent.name):
            reports.append(entry)
    return doc


def _add_entry_fields(event_list: list[Any], agent: Agent) -> None:
    """An entry an older install wrote gets the fields a new one has (e.g. Claude Code's
    ``onFailure``); a value already there is left as it is."""
    for item in event_list:
        hooks = item.get("hooks") if isinstance(item, dict) else None
        for hook in hooks if isinstance(hooks, list) else []:
            command = hook.get("command") if isinstance(hook, dict) else None
            if isinstance(command, str) and is_hook_command_line(command, agent.name):
                for key, value in agent.entry_fields.items():
                    hook.setdefault(key, value)


WAIT_MARGIN_S = 15  # how far the hook's timeout in the agent's settings stays above its wait
MAX_HOOK_WAIT_S = 600 - WAIT_MARGIN_S  # within the 600 s Claude Code and Codex allow by default


def set_wait(event_list: list[Any], agent: Agent, wait: int | None) -> None:
    """Make agentgate's installed hooks for ``agent`` wait ``wait`` seconds for a human's
    decision (None: not at all): the ``--wait=`` of their command, and, with a wait, the
    entry's timeout (in ``agent.timeout_units``) at ``WAIT_MARGIN_S`` above it, so that the agent never
    cuts the wait short (a hook it kills answers nothing)."""
    for item in event_list if isinstance(event_list, list) else []:
        hooks = item.get("hooks") if isinstance(item, dict) else None
        for hook in [item, *(hooks if isinstance(hooks, list) else [])]:
            command = hook.get("command") if isinstance(hook, dict) else None
            if not isinstance(command, str) or not is_hook_command_line(command, agent.name):
                continue
            words = [w for w in command.split(" ") if not w.startswith("--wait=")]
            hook["command"] = " ".join([*words, *([f"--wait={wait}s"] if wait else [])])
            if wait:
                hook["timeout"] = (wait + WAIT_MARGIN_S) * agent.timeout_units


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


def plan_install(agent: Agent, scope: str, project_dir: Path, command: str,
                 wait: int | None = None) -> InstallPlan:
    """Read the settings file and compute its new content; refuse a file that is not JSON."""
    path = agent.settings_path(scope, project_dir)
    target = _link_target(path)
    if target is not None and not os.path.lexists(target):
        raise _refuse(path, f"it is a symbolic link to {os.readlink(path)}, which does not exist")
    before = read_settings(target or path, f"{path} (a symbolic link to {target})" if target else None)
    doc = _load_json(path, before, _refuse)
    original = copy.deepcopy(doc)
    merged = merge(doc, agent, command, path, wait)
    return InstallPlan(agent.name, path, before, _dump_json(before, original, merged), target)


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


# What `hook install` carries into the hook's command line from the installer's environment, so
# that the hook uses the same state and policy whatever environment the agent gives it.
CARRIED_ENV = ("AGENTGATE_HOME", "AGENTGATE_CONFIG_DIR")


def client_words() -> list[str]:
    """This agentgate's console script, absolute and with links resolved (the agent's PATH,
    e.g. a login shell's, need not find it); ``python -m agentgate`` when run that way."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if argv0 and os.path.basename(argv0) not in ("__main__.py", "-c") and os.path.exists(argv0):
        return [os.path.realpath(argv0)]
    found = shutil.which("agentgate")
    if found:
        return [os.path.realpath(found)]
    return [os.path.realpath(sys.executable), "-m", "agentgate"]


def client_command(agent: str, executable: str | None, policy: str | None = None,
                   env: dict[str, str] | None = None) -> str:
    """The hook's command line: ``VAR=value ... CLIENT hook AGENT [--policy PATH]``, with the
    state and config directories (:data:`CARRIED_ENV`) and the policy the installer uses, so
    that they do not depend on the environment the agent gives its hooks."""
    import shlex

    from ..grammar import HOOK

    source = os.environ if env is None else env
    words = [f"{k}={os.path.abspath(os.path.expanduser(source[k]))}"
             for k in CARRIED_ENV if source.get(k)]
    words += client_words() if executable is None else [executable]
    words += [HOOK, agent]
    chosen = policy or source.get("AGENTGATE_POLICY")
    if chosen:
        words += ["--policy", os.path.abspath(os.path.expanduser(chosen))]
    return " ".join(shlex.quote(w) for w in words)


def installed_elsewhere(agent: Agent, scope: str, project_dir: Path) -> list[str]:
    """Every other file that already runs agentgate's hook for ``agent`` (the other scope's
    settings, and for Codex the ``[hooks]`` of either scope's config.toml and the machine-wide
    hooks.json): the agent would run each copy on every call, and a retry after an approval
    would be held by the copy after the one that used the grant."""
    found = []
    for other in ("project", "user"):
        path = agent.settings_path(other, project_dir)
        if other != scope and _runs_hook(path, agent, "json"):
            found.append(str(path))
        for name in agent.also_protected:
            if name.endswith(".toml") and _runs_hook(path.with_name(name), agent, "toml"):
                found.append(str(path.with_name(name)))
    if agent.system is not None and sys.platform in agent.system.files:
        machine = Path(agent.system.files[sys.platform])
        if _runs_hook(machine, agent, "json"):
            found.append(str(machine))
    return found


def _runs_hook(path: Path, agent: Agent, kind: str) -> bool:
    """Does the settings file hold agentgate's hook for ``agent``? Unreadable: no (the install
    itself reads and refuses the file it writes)."""
    try:
        text = read_settings(path)
    except AgentgateError:
        return False
    if not text:
        return False
    try:
        if kind == "toml":
            import tomllib

            doc: Any = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except ValueError:
        return False
    hooks = doc.get("hooks") if isinstance(doc, dict) else None
    return isinstance(hooks, dict) and already_installed(hooks.get(agent.event), agent.name)


def on_path(executable: str) -> bool:
    """Can the agent find ``executable`` as this environment would (on PATH, or a path)?"""
    return shutil.which(executable) is not None


# --------------------------------------------------------------------------- machine-wide (protected mode)
#
# `hook install AGENT --system` writes the agent's administrator-managed settings (agents.py's
# SystemSettings), pointing at the root-owned protected-mode client by absolute path, and sets
# the agent's lock settings where it has them. Everything is read and checked first; a file,
# a directory on the way or the client that someone other than root could change is refused,
# as is a file that is not what its format says or that switches every hook off. ``root`` is
# where the machine's "/" is (another one for an image being built, or a test).

_TABLE_HEADER = lazy_regex(r"^\s*\[\[?\s*[^\[\]]+\]\]?\s*(#.*)?$")
_MISSING = object()


@dataclass(frozen=True)
class LockNote:
    """What became of one lock setting: "set" now, already "on", or "kept" as the file has it
    (an administrator's explicit other value; the hook still runs)."""

    setting: Setting
    path: Path
    state: str


@dataclass(frozen=True)
class SystemPlan:
    agent: str
    product: str
    path: Path  # the agent's machine-wide hooks file
    command: str  # the hook's command line
    files: tuple[InstallPlan, ...]  # each file to write, with its content before and after
    locks: tuple[LockNote, ...]
    removing: bool = False  # an uninstall: ``locks`` are left as they are

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.files)


def system_files(agent: Agent, root: Path, platform: str | None = None) -> tuple[Path, Path]:
    """The agent's machine-wide hooks file and the file of its lock settings, under ``root``."""
    system = agent.system
    where = platform or sys.platform
    if system is None or where not in system.files:
        raise UsageError(f"agentgate knows no machine-wide settings of {agent.product} on this "
                         f"platform ({where})", "install the hook per user or project instead")
    hooks = _under(root, system.files[where])
    locks = system.locks_files[where] if system.locks_files else None
    return hooks, _under(root, locks) if locks else hooks


def _under(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def _machine_refusal(path: Path | str, why: str, fix: str) -> AgentgateError:
    return ConfigError(f"refusing to write the machine-wide settings {path}: {why}",
                       f"{fix}, then run `sudo agentgate hook install` again; nothing was changed")


def _broken(path: Path | str, why: str) -> AgentgateError:
    return _machine_refusal(path, why, "fix or move the file")


def check_machine_path(path: Path, *, what: str = "file") -> None:
    """Only root may be able to change ``path``: every directory and link met resolving it is
    root's and writable by nobody else (sticky ones excepted); the file itself, when it exists,
    is root's and neither its group nor others can write it. Otherwise ConfigError: a user who
    can change the agent's managed settings can remove the hook."""
    try:
        for level, st, final in walk_path(os.path.abspath(path)):
            mode = stat.S_IMODE(st.st_mode)
            kind = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else
                    "a directory" if stat.S_ISDIR(st.st_mode) else "the " + what)
            if st.st_uid != 0:
                raise _machine_refusal(path, f"{level} ({kind}) is owned by uid {st.st_uid}, "
                                             "not by root, who alone must be able to change it",
                                       f"check what is in it, then `chown root {level}`")
            if stat.S_ISLNK(st.st_mode):
                continue
            sticky = stat.S_ISDIR(st.st_mode) and not final and mode & stat.S_ISVTX
            if mode & 0o022 and not sticky:
                raise _machine_refusal(path, f"{level} ({kind}) is writable by others than root "
                                             f"(mode {mode:04o})",
                                       f"check what is in it, then `chmod go-w {level}`")
    except OSError as e:
        raise _machine_refusal(path, f"cannot look at {e.filename}: {e.strerror or e}",
                               "fix its permissions") from None


def check_client(root: Path, client: str) -> None:
    """The protected-mode client the hook runs must be installed, root's, and executable."""
    path = _under(root, client)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"the protected-mode client {client} is not installed"
                          + (f" (under {root})" if str(root) != "/" else ""),
                          "run `sudo agentgate service install` first: it installs the client "
                          "the machine-wide hook runs") from None
    except OSError as e:
        raise ConfigError(f"cannot look at the protected-mode client {path}: {e.strerror or e}",
                          "run `sudo agentgate service install` again") from None
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        raise ConfigError(f"the protected-mode client {path} is not an executable file",
                          "run `sudo agentgate service install` again")
    try:
        check_machine_path(path, what="client")
    except ConfigError as e:
        raise ConfigError(e.message.replace("refusing to write the machine-wide settings",
                                            "refusing to point the hook at", 1),
                          "run `sudo agentgate service install` again, or fix it by hand "
                          "(see the message); nothing was changed") from None


def _read_machine_file(path: Path) -> str | None:
    if os.path.islink(path):
        raise _machine_refusal(path, f"it is a symbolic link (to {os.readlink(path)})",
                               "replace the link by the file it points to")
    check_machine_path(path)
    return read_settings(path)


def _get(doc: dict[str, Any], keys: tuple[str, ...], path: Path) -> Any:
    cur: Any = doc
    for i, key in enumerate(keys):
        if not isinstance(cur, dict):
            raise _broken(path, f"its {'.'.join(keys[:i])!r} is not a table/object")
        cur = cur.get(key, _MISSING)
        if cur is _MISSING:
            return _MISSING
    return cur


def _set(doc: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    cur = doc
    for key in keys[:-1]:
        cur = cur.setdefault(key, {})
    cur[keys[-1]] = value


def _check_hooks_on(doc: dict[str, Any], agent: Agent, path: Path) -> None:
    assert agent.system is not None
    for off in agent.system.hooks_off:
        if _get(doc, off.keys, path) == off.value:
            raise _machine_refusal(path, f"it sets {off.name} = {json.dumps(off.value)}, which "
                                         f"switches every hook of {agent.product} off, "
                                         "agentgate's too",
                                   f"remove {off.name} from it (an administrator's decision)")


def _plan_locks(doc: dict[str, Any], agent: Agent, path: Path) -> list[LockNote]:
    """Set each missing lock in ``doc``; an explicit other value of the same type is kept."""
    assert agent.system is not None
    notes = []
    for lock in agent.system.locks:
        cur = _get(doc, lock.keys, path)
        if cur is _MISSING:
            _set(doc, lock.keys, lock.value)
            notes.append(LockNote(lock, path, "set"))
        elif cur == lock.value and type(cur) is type(lock.value):
            notes.append(LockNote(lock, path, "on"))
        elif type(cur) is type(lock.value):
            notes.append(LockNote(lock, path, "kept"))
        else:
            raise _broken(path, f"its {lock.name} is {json.dumps(cur)}, not "
                                f"{type(lock.value).__name__}")
    return notes


def _load_json(path: Path, text: str | None,
               refuse: Callable[[Path | str, str], AgentgateError] = _broken) -> dict[str, Any]:
    """A settings file's JSON object ({} for a missing or blank file); anything else is
    ``refuse``'d (a per-user file's message, or a machine-wide one's)."""
    if text is None or not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise refuse(path, f"it is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise refuse(path, "it is not a JSON object")
    return doc


def _dump_json(before: str | None, original: dict[str, Any], doc: dict[str, Any]) -> str:
    """``doc`` as text in the layout of ``before``: its indentation (spaces, a tab, or none for
    a one-line file) and final newline, keys in their order, so the diff is the change only."""
    if before is not None and before.strip() and doc == original:
        return before  # nothing to change: left byte for byte
    indent: int | str | None = 2
    if before is not None and before.strip():
        found = _INDENT().search(before)
        indent = None if found is None else (found.group(1) if "\t" in found.group(1)
                                             else len(found.group(1)))
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    return text + ("\n" if before is None or not before.strip() or before.endswith("\n") else "")


_INDENT = lazy_regex(r"\n([ \t]+)\S")


def _event_list(doc: dict[str, Any], agent: Agent, path: Path,
                event: str | None = None) -> list[Any]:
    """The list of ``event`` (by default the agent's pre-tool event) in ``doc``, made when
    missing."""
    event = event or agent.event
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise _broken(path, "its 'hooks' is not a JSON object")
    event_list = hooks.setdefault(event, [])
    if not isinstance(event_list, list):
        raise _broken(path, f"its 'hooks.{event}' is not a JSON array")
    return event_list


def plan_system_install(agent: Agent, root: Path, command: str,
                        platform: str | None = None) -> SystemPlan:
    """Read the agent's machine-wide settings and compute them with agentgate's hook (exactly
    ``command``, added once) and the agent's lock settings; refuse what cannot be merged."""
    hooks_path, locks_path = system_files(agent, root, platform)
    assert agent.system is not None  # system_files refuses an agent without
    before = _read_machine_file(hooks_path)
    doc = _load_json(hooks_path, before)
    original = copy.deepcopy(doc)
    _check_hooks_on(doc, agent, hooks_path)
    for key, value in agent.system.header.items():
        doc.setdefault(key, value)
    event_list = _event_list(doc, agent, hooks_path)
    if command not in _hook_commands(event_list):
        event_list.append(agent.hook_entry(command))
    for event, entry in agent.report_entries(command):
        reports = _event_list(doc, agent, hooks_path, event)
        if command not in _hook_commands(reports):
            reports.append(entry)
    notes: list[LockNote] = []
    locks = () if locks_path == hooks_path else (_plan_toml_locks(agent, locks_path, notes),)
    if locks_path == hooks_path:
        notes = _plan_locks(doc, agent, hooks_path)
    hooks_file = InstallPlan(agent.name, hooks_path, before, _dump_json(before, original, doc))
    return SystemPlan(agent.name, agent.product, hooks_path, command, (hooks_file, *locks),
                      tuple(notes))


def plan_system_uninstall(agent: Agent, root: Path, platform: str | None = None) -> SystemPlan:
    """The machine-wide settings without agentgate's hook for ``agent`` (every entry that runs
    it, whatever its path); the lock settings are left as they are (an administrator may have
    set them), and reported."""
    hooks_path, locks_path = system_files(agent, root, platform)
    before = _read_machine_file(hooks_path)
    doc = _load_json(hooks_path, before)
    original = copy.deepcopy(doc)
    hooks = doc.get("hooks")
    emptied = False
    for event in (agent.event, *agent.post_events, *agent.end_events):
        if isinstance(hooks, dict) and isinstance(hooks.get(event), list):
            kept = [e for e in (_without_hook(e, agent.name) for e in hooks[event])
                    if e is not None]
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
                emptied = True
    if emptied and not hooks:
        del doc["hooks"]
    after = _dump_json(before, original, doc) if before is not None else None
    files = (InstallPlan(agent.name, hooks_path, before, after),) if after is not None else ()
    notes = []
    if agent.system is not None and agent.system.locks:
        locks_text = before if locks_path == hooks_path else _read_machine_file(locks_path)
        locks_doc = doc if locks_path == hooks_path else _load_toml(locks_path, locks_text)
        for lock in agent.system.locks:
            if _get(locks_doc, lock.keys, locks_path) == lock.value:
                notes.append(LockNote(lock, locks_path, "on"))
    return SystemPlan(agent.name, agent.product, hooks_path, "", files, tuple(notes),
                      removing=True)


def _without_hook(entry: Any, agent: str) -> Any:
    """``entry`` of an event's list without agentgate's hook for ``agent``; None when nothing
    of it is left."""
    if not isinstance(entry, dict):
        return entry
    if isinstance(entry.get("command"), str) and is_hook_command_line(entry["command"], agent):
        return None
    inner = entry.get("hooks")
    if not isinstance(inner, list):
        return entry
    left = [h for h in inner if not (isinstance(h, dict) and isinstance(h.get("command"), str)
                                     and is_hook_command_line(h["command"], agent))]
    if len(left) == len(inner):
        return entry
    return {**entry, "hooks": left} if left else None


def _load_toml(path: Path, text: str | None) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text or "")
    except tomllib.TOMLDecodeError as e:
        raise _broken(path, f"it is not valid TOML ({e})") from None


def _plan_toml_locks(agent: Agent, path: Path, notes: list[LockNote]) -> InstallPlan:
    """The lock settings in a TOML file (Codex's requirements.toml). Python reads TOML but does
    not write it, so the keys are added as text, and the result must parse to exactly the old
    document plus those keys; anything else is refused, with what to add by hand."""
    before = _read_machine_file(path)
    doc = _load_toml(path, before)
    _check_hooks_on(doc, agent, path)
    expected = copy.deepcopy(doc)
    notes.extend(_plan_locks(expected, agent, path))
    text = before or ""
    for note in notes:
        if note.state == "set":
            text = _toml_add(text, note.setting)
    if text != (before or "") and _load_toml_or_none(text) != expected:
        by_hand = "; ".join(f"{n.setting.name} = {json.dumps(n.setting.value)}"
                            for n in notes if n.state == "set")
        raise _machine_refusal(path, "agentgate cannot add its lock settings to this file's "
                                     "layout safely", f"add {by_hand} to it by hand")
    return InstallPlan(agent.name, path, before, text)


def _load_toml_or_none(text: str) -> dict[str, Any] | None:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _toml_add(text: str, setting: Setting) -> str:
    """``text`` with ``setting`` added: a top-level key before the first table, a key of a table
    right under that table's header (the table appended when there is none)."""
    line = (f"{setting.keys[-1]} = {json.dumps(setting.value)}  "
            "# agentgate hook install --system\n")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    headers = [i for i, ln in enumerate(lines) if _TABLE_HEADER().match(ln)]
    if len(setting.keys) == 1:
        at = headers[0] if headers else len(lines)
        while at and (not lines[at - 1].strip() or lines[at - 1].lstrip().startswith("#")):
            at -= 1  # above the first table's comments and the blank lines before them
        lines.insert(at, line)
        return "".join(lines)
    table = ".".join(setting.keys[:-1])
    own = re.compile(r"^\s*\[\s*" + re.escape(table) + r"\s*\]\s*(#.*)?$")
    for i in headers:
        if own.match(lines[i]):
            lines.insert(i + 1, line)
            return "".join(lines)
    if lines and lines[-1].strip():
        lines.append("\n")
    return "".join([*lines, f"[{table}]\n", line])


def apply_system(plan: SystemPlan) -> list[Path]:
    """Write each changed file of ``plan``: parent directories created root's and 0755, the
    previous content backed up beside it, the new one root's and 0644 (the agents run as their
    users and must read it), replaced atomically. A file that changed since it was read is
    refused. Returns the backups' paths."""
    backups = []
    for f in plan.files:
        if not f.changed:
            continue
        try:
            _make_dirs(f.path.parent)
            if f.before is not None:
                if read_settings(f.path) != f.before:
                    raise _broken(f.path, "it changed while agentgate was reading it")
                backups.append(_write_backup(f.path, f.before.encode("utf-8"), 0o644))
            replace_atomically(f.path, f.after.encode("utf-8"), 0o644)
        except OSError as e:
            raise AgentgateError(f"cannot write {f.path}: {e.strerror or e}",
                                 "check that it runs as root and that the directory is writable"
                                 + ("; the files before it were written" if backups else ""),
                                 exit_code=EXIT_CONFIG) from None
    return backups


def _make_dirs(directory: Path) -> None:
    missing = []
    d = directory
    while not os.path.lexists(d):
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        os.chmod(d, 0o755)  # whatever the umask
