"""`agentgate hook status AGENT`: will agentgate's hook actually run, right now, for this user in
this directory? Where it is installed (each copy: the agent would run every one), whether its
command can start (the client by absolute path, or found on PATH), and, for Codex, what Codex
itself says of it: ``codex app-server``'s ``hooks/list`` gives each hook's source, whether it
is enabled and its trust status (a user or project hook runs only once trusted in /hooks;
managed ones need no review). No printing: the CLI renders the report.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AgentgateError
from ..grammar import is_hook_command_line
from .agents import Agent
from .install import _hook_commands, read_settings

CODEX_TIMEOUT_S = 30.0  # starting codex app-server and listing its hooks takes about a second


@dataclass(frozen=True)
class Copy:
    """One installed copy of agentgate's hook."""

    path: str  # the settings file
    command: str
    runs: bool | None = None  # what the agent says: None when it was not asked
    why: str = ""  # when it does not run, or what the agent said


@dataclass(frozen=True)
class Status:
    agent: str
    product: str
    copies: tuple[Copy, ...]
    problems: tuple[str, ...]  # each a reason the hook will not run (or not once), with the fix
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems and any(c.runs is not False for c in self.copies)


def _commands_in(doc: Any, agent: Agent) -> list[str]:
    hooks = doc.get("hooks") if isinstance(doc, dict) else None
    groups = hooks.get(agent.event) if isinstance(hooks, dict) else None
    return [c for c in _hook_commands(groups) if is_hook_command_line(c, agent.name)]


def _files(agent: Agent, project: Path) -> list[Path]:
    files = [agent.settings_path("project", project), agent.settings_path("user", project)]
    files += [f.with_name(n) for f in files[:2] for n in agent.also_protected if n.endswith(".toml")]
    if agent.system is not None and sys.platform in agent.system.files:
        files.append(Path(agent.system.files[sys.platform]))
    return files


def installed_copies(agent: Agent, project: Path) -> tuple[list[Copy], list[str]]:
    """Every copy of agentgate's hook in the agent's settings files; and the files that could
    not be read (a copy may hide there)."""
    copies, unreadable = [], []
    for path in _files(agent, project):
        try:
            text = read_settings(path)
        except AgentgateError as e:
            unreadable.append(e.message)
            continue
        if not text or not text.strip():
            continue
        try:
            doc = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except ValueError as e:
            unreadable.append(f"{path} cannot be parsed ({e})")
            continue
        copies += [Copy(str(path), c) for c in _commands_in(doc, agent)]
    return copies, unreadable


def _startable(command: str) -> str | None:
    """Why the hook's command cannot start, or None."""
    try:
        words = shlex.split(command)
    except ValueError as e:
        return f"its command cannot be read as a shell command ({e})"
    words = [w for w in words if not ("=" in w and w.split("=", 1)[0].isidentifier())]
    if not words:
        return "its command is empty"
    exe = words[0]
    if "/" in exe:
        return None if os.access(exe, os.X_OK) else f"{exe} is not an executable file"
    return None if shutil.which(exe) else (f"`{exe}` is not on this PATH (the agent's may differ)"
                                           ": reinstall to write its absolute path")


def check(agent: Agent, project: Path, codex: str | None = None) -> Status:
    """The report for ``agent`` in ``project``; ``codex`` the Codex CLI to ask (default: on
    PATH)."""
    copies, problems = installed_copies(agent, project)
    notes: list[str] = []
    for c in copies:
        why = _startable(c.command)
        if why:
            problems.append(f"{c.path}: {why}")
    if agent.name == "codex" and copies:
        copies, more, notes = _ask_codex(copies, project, codex)
        problems += more
    notes += _reports_unwired(agent, copies)
    notes += _older_entries(agent, copies)
    running = [c for c in copies if c.runs is not False]
    if not copies:
        problems.append(f"agentgate's hook for {agent.product} is not installed: run "
                        f"`agentgate hook install {agent.name}` (--user for every project)")
    elif len(running) > 1:
        problems.append(f"{len(running)} copies of the hook run on every call "
                        f"({', '.join(c.path for c in running)}); remove all but one")
    return Status(agent.name, agent.product, tuple(copies), tuple(problems), tuple(notes))


def _settings_hooks(copies: list[Copy]) -> list[tuple[str, object]]:
    """The ``hooks`` value of each JSON settings file that holds an installed copy (a file that
    no longer reads is left to the copies' own problems)."""
    out = []
    for path in sorted({c.path for c in copies if not c.path.endswith(".toml")}):
        try:
            doc = json.loads(read_settings(Path(path)) or "{}")
        except (AgentgateError, ValueError):
            continue
        out.append((path, doc.get("hooks") if isinstance(doc, dict) else None))
    return out


def _reports_unwired(agent: Agent, copies: list[Copy]) -> list[str]:
    """A note for each settings file with the hook whose post-tool events (the agent's report
    after a call) do not run it: the hook still gates, but no ``ran`` event says what ran."""
    out = []
    for path, hooks in _settings_hooks(copies):
        missing = [e for e in (*agent.post_events, *agent.end_events) if not (
            isinstance(hooks, dict) and any(is_hook_command_line(c, agent.name)
                                            for c in _hook_commands(hooks.get(e))))]
        if missing:
            verb = "do" if len(missing) > 1 else "does"
            out.append(f"{path}: {' and '.join(missing)} {verb} not run agentgate, so no `ran` "
                       "audit event says whether an allowed call ran: run `agentgate hook "
                       f"install {agent.name}` again to add {'them' if len(missing) > 1 else 'it'}")
    return out


def _older_entries(agent: Agent, copies: list[Copy]) -> list[str]:
    """A note for each installed hook entry without a field `hook install` now writes
    (Claude Code's ``onFailure: "block"``), or with another value there: the hook runs, but
    one that cannot start or crashes lets the call through (Claude Code 2.1.332 blocks it only
    with ``onFailure: "block"``)."""
    out = []
    for path, hooks in _settings_hooks(copies):
        groups = hooks.get(agent.event) if isinstance(hooks, dict) else None
        for item in groups if isinstance(groups, list) else []:
            entries = item.get("hooks") if isinstance(item, dict) else None
            for hook in entries if isinstance(entries, list) else []:
                command = hook.get("command") if isinstance(hook, dict) else None
                if not (isinstance(command, str) and is_hook_command_line(command, agent.name)):
                    continue
                for key, value in agent.entry_fields.items():
                    if key not in hook:
                        out.append(f"{path}: agentgate's {agent.event} entry has no "
                                   f"{key}: {json.dumps(value)} (an older install), so a hook "
                                   "command that cannot start or crashes lets the call "
                                   "through instead of blocking it; run `agentgate hook "
                                   f"install {agent.name}` again to add it")
                    elif hook[key] != value:
                        out.append(f"{path}: agentgate's {agent.event} entry has {key}: "
                                   f"{json.dumps(hook[key])}: a hook command that cannot start "
                                   "or crashes lets the call through; set it to "
                                   f"{json.dumps(value)} (`hook install` keeps a value set "
                                   "there)")
    return out


_CODEX_REPORTS = {"postToolUse": "PostToolUse", "stop": "Stop"}  # hooks/list's eventName


def _ask_codex(copies: list[Copy], project: Path,
               codex: str | None) -> tuple[list[Copy], list[str], list[str]]:
    exe = codex or shutil.which("codex")
    if exe is None:
        return copies, [], ["codex is not on this PATH, so whether Codex trusts the hook was not "
                            "checked (a user or project hook runs only once trusted in /hooks)"]
    try:
        listed = codex_hooks(exe, project)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return copies, [f"could not ask Codex which hooks it runs ({e})"], []
    by_source: dict[tuple[str, str], dict[str, Any]] = {}
    unreviewed: dict[tuple[str, str], list[str]] = {}  # its report hooks Codex will skip
    for h in listed:
        if not isinstance(h, dict):
            continue
        where = (str(h.get("sourcePath")), str(h.get("command")))
        if h.get("eventName") == "preToolUse":
            by_source[where] = h
        elif h.get("eventName") in _CODEX_REPORTS and h.get("trustStatus") not in (
                "managed", "trusted"):
            unreviewed.setdefault(where, []).append(_CODEX_REPORTS[h["eventName"]])
    notes = [f"{c.path}: Codex skips agentgate's {' and '.join(names)} "
             f"{'hooks until they are' if len(names) > 1 else 'hook until it is'} reviewed, so no "
             "`ran` or `no_report` audit event says whether an allowed call ran: trust "
             f"{'them' if len(names) > 1 else 'it'} in /hooks too"
             for c in copies if (names := unreviewed.get((c.path, c.command), []))]
    out, problems = [], []
    for c in copies:
        found = by_source.get((c.path, c.command))
        if found is None:
            out.append(Copy(c.path, c.command, False, "Codex does not load this file here"))
            problems.append(f"{c.path}: Codex does not load this file here (it reads a "
                            "project's .codex/ only once the project is trusted): trust the "
                            "project in Codex and review the hook in /hooks, or install it "
                            "with --user or --system")
            continue
        h = found
        trust = h.get("trustStatus")
        if not h.get("enabled", True):
            out.append(Copy(c.path, c.command, False, "disabled in Codex's /hooks"))
            problems.append(f"{c.path}: Codex has the hook disabled: enable it in /hooks")
        elif trust in ("managed", "trusted"):
            out.append(Copy(c.path, c.command, True, f"Codex: {trust}"))
        else:
            out.append(Copy(c.path, c.command, False, f"Codex: {trust}, not reviewed"))
            problems.append(f"{c.path}: Codex skips this hook until it is reviewed ({trust}): "
                            "start `codex`, open /hooks and trust agentgate's PreToolUse hook, "
                            "or install it machine-wide: sudo agentgate hook install codex "
                            "--system (managed hooks need no review)")
    return out, problems, notes


def codex_hooks(exe: str, project: Path,
                env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``hooks/list`` from ``codex app-server`` for ``project``: every hook Codex found, with
    its source, trust status and whether it is enabled (``env``: Codex's environment)."""
    proc = subprocess.Popen([exe, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=project, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    deadline = time.monotonic() + CODEX_TIMEOUT_S
    try:
        send = proc.stdin
        send.write(_line({"id": 1, "method": "initialize",
                          "params": {"clientInfo": {"name": "agentgate", "version": "1"}}}))
        send.flush()
        _answer(proc, 1, deadline)
        send.write(_line({"method": "initialized"}) + _line(
            {"id": 2, "method": "hooks/list", "params": {"cwds": [str(project)]}}))
        send.flush()
        result = _answer(proc, 2, deadline)
        data = result.get("data") if isinstance(result, dict) else None
        return [h for d in data if isinstance(d, dict) for h in d.get("hooks") or []] \
            if isinstance(data, list) else []
    finally:
        proc.kill()
        proc.wait()


def _line(msg: dict[str, Any]) -> bytes:
    return (json.dumps(msg) + "\n").encode()


def _answer(proc: subprocess.Popen[bytes], rid: int, deadline: float) -> Any:
    """The result of request ``rid`` (notifications in between are skipped)."""
    import select

    assert proc.stdout is not None
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line) if line.strip() else {}
            if isinstance(msg, dict) and msg.get("id") == rid:
                if "error" in msg:
                    raise ValueError(f"codex app-server: {msg['error']}")
                return msg.get("result")
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired("codex app-server", CODEX_TIMEOUT_S)
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise ValueError("codex app-server ended without answering")
            buf += chunk
