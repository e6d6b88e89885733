"""`agentgate hook install`: merge agentgate's hook entry into an agent's settings JSON, never
dropping what is already there, backing the file up and replacing it atomically.

Where each agent keeps its settings, and the entry it gets, come from agents.py; the hook's
command line and how to recognise it, from agentgate.grammar. No printing: the CLI shows the
plan (a diff under ``--dry-run``) and the result.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EXIT_CONFIG, AgentgateError
from ..fileio import replace_atomically
from ..grammar import is_hook_command_line
from .agents import Agent


@dataclass(frozen=True)
class InstallPlan:
    agent: str
    path: Path
    before: str | None  # None: the file does not exist yet
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        old = (self.before or "").splitlines(keepends=True)
        new = self.after.splitlines(keepends=True)
        src = str(self.path) if self.before is not None else "/dev/null"
        return "".join(difflib.unified_diff(old, new, src, str(self.path)))


def _refuse(path: Path, why: str) -> AgentgateError:
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


def plan_install(agent: Agent, scope: str, project_dir: Path, command: str) -> InstallPlan:
    """Read the settings file and compute its new content; refuse a file that is not JSON."""
    path = agent.settings_path(scope, project_dir)
    try:
        before: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = None
    except (OSError, UnicodeDecodeError) as e:
        raise _refuse(path, f"cannot read it ({e})") from None
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
        return InstallPlan(agent.name, path, before, before)  # already there: leave it byte for byte
    return InstallPlan(agent.name, path, before,
                       json.dumps(merged, indent=2, ensure_ascii=False) + "\n")


def backup_name(path: Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(time.time() if now is None else now))
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def apply_install(plan: InstallPlan) -> Path | None:
    """Back the file up, then replace it atomically. Returns the backup's path, if any."""
    path = plan.path
    backup = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if plan.before is not None:
            backup = backup_name(path)
            shutil.copy2(path, backup)
        mode = path.stat().st_mode & 0o777 if plan.before is not None else 0o666 & ~_umask()
        replace_atomically(path, plan.after.encode("utf-8"), mode)
    except OSError as e:
        raise AgentgateError(f"cannot write {path}: {e.strerror or e}",
                             "check the directory's permissions", exit_code=EXIT_CONFIG) from None
    return backup


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def on_path(executable: str) -> bool:
    """Can the agent find ``executable`` as this environment would (on PATH, or a path)?"""
    return shutil.which(executable) is not None
