"""Agent hook adapters: an agent's pre-tool hook JSON -> Subject -> Gate.authorize -> its answer.

Every adapter is a thin translation; the decision is always ``Gate.authorize`` (same policy,
ledger, grants and audit log as ``agentgate run``). The hooks fail closed *inside each protocol*:
these agents treat a crashed hook (exit 1, a traceback, unparseable output) as "go ahead", so any
error here still becomes a well-formed deny, written as that agent's JSON and, for errors, also
as exit 2 with the reason on stderr (every one of these agents blocks a tool call on exit 2).

What each agent gets (checked against each agent's hook reference; see docs/<agent>.md):

=============  ==========================  ==========================  =======================
agent          allowed by policy           allowed once by a grant     blocked (ask or deny)
=============  ==========================  ==========================  =======================
claude-code    nothing (exit 0): Claude's  ``permissionDecision``      ``permissionDecision``
               own permissions still       ``allow``                   ``deny`` + reason, exit 0
               apply
codex          nothing (exit 0)            nothing (exit 0)            reason on stderr, exit 2
cursor         ``permission: allow``       ``permission: allow``       ``permission: deny``
gemini         ``decision: allow``         ``decision: allow``         ``decision: deny``
=============  ==========================  ==========================  =======================

This module also holds the settings-file logic of ``agentgate hook install``: it merges one hook
entry into the agent's settings JSON, never dropping what is already there.

Pure in the sense of the house style: no printing and no exiting; the CLI renders a HookReply.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EXIT_CONFIG, AgentgateError
from .fileio import replace_atomically
from .gate import Gate, Outcome, Subject, record_blocked
from .guard import PROTECTED_RULE
from .guard import is_protected as gate_is_protected
from .paths import StatePaths

AGENTS = ("claude-code", "codex", "cursor", "gemini")
MAX_INPUT_BYTES = 16 * 1024 * 1024  # a Write tool call carries the whole file; more is not sane
MAX_COMMAND_CHARS = 100_000  # beyond this the gate will not pretend to have read the command
EXIT_BLOCK = 2  # the one non-zero exit code that every supported agent treats as "block"

CLAUDE_WRITE_TOOLS = {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path",
                      "NotebookEdit": "notebook_path"}
SHELL_TOOLS = {"claude-code": {"Bash"}, "codex": {"Bash"}, "gemini": {"run_shell_command"}}

GateFactory = Callable[[Path], Gate]


class HookInputError(Exception):
    """The hook input is not what the agent's protocol promises: the hook must deny."""


@dataclass(frozen=True)
class HookReply:
    """What the hook process writes and how it exits."""

    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True)
class ToolCall:
    """The part of a hook input the gate cares about."""

    tool: str
    cwd: Path
    command: str | tuple[str, ...] | None = None  # a shell string, or an argv
    path: str | None = None  # the target of a file-writing tool


@dataclass(frozen=True)
class Verdict:
    """The gate's answer, before it is put into an agent's words.

    ``opinion`` is False for a tool call agentgate does not gate (the agent's own rules apply).
    """

    allowed: bool
    reason: str
    user_message: str = ""
    via_grant: bool = False
    opinion: bool = True


PASS = Verdict(True, "", opinion=False)


# --------------------------------------------------------------------------- entry point


def handle(agent: str, raw: bytes, gate_factory: GateFactory, *, fallback_cwd: Path,
           explicit_policy: str | None = None) -> HookReply:
    """Answer one hook call. Never raises: every failure is a deny in the agent's format."""
    try:
        call = parse(agent, raw, fallback_cwd)
        verdict = decide(agent, call, gate_factory, explicit_policy)
        return render(agent, verdict)
    except AgentgateError as e:
        hint = f" Fix: {_sentence(e.hint)}" if e.hint else ""
        return render_failure(agent, f"{_sentence(e.message)}{hint}")
    except HookInputError as e:
        return render_failure(agent, _sentence(f"unreadable hook input: {e}"))
    except Exception as e:  # fail closed on anything at all
        return render_failure(agent, _sentence(f"internal error: {type(e).__name__}: {e}"))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# --------------------------------------------------------------------------- parsing


def _load(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_INPUT_BYTES:
        raise HookInputError(f"more than {MAX_INPUT_BYTES} bytes on stdin")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise HookInputError(f"stdin is not a JSON document ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise HookInputError("stdin is not a JSON object")
    return data


_KIND_NAMES: dict[type, str] = {str: "a string", dict: "an object", list: "a list"}


def _field(obj: dict[str, Any], key: str, kind: type, where: str, *, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        want = _KIND_NAMES.get(kind, kind.__name__)
        raise HookInputError(f"{where}{key} must be {want}")
    return value


def _command(value: Any) -> str | tuple[str, ...]:
    """A shell string, or an argv list (some agents send the shell tool's argv)."""
    if isinstance(value, str):
        if not value.strip():
            raise HookInputError("the command is empty")
        if len(value) > MAX_COMMAND_CHARS:
            raise HookInputError(f"the command is longer than {MAX_COMMAND_CHARS} characters")
        return value
    if isinstance(value, list) and value and all(isinstance(w, str) for w in value):
        if sum(len(w) for w in value) > MAX_COMMAND_CHARS:
            raise HookInputError(f"the command is longer than {MAX_COMMAND_CHARS} characters")
        return tuple(value)
    raise HookInputError("the command must be a non-empty string")


def _cwd(value: str | None, base: Path) -> Path:
    """The directory the command runs in, absolute and resolved (it is part of the fingerprint)."""
    if not value:
        return base.resolve()
    if "\0" in value:
        raise HookInputError("cwd contains a NUL byte")
    return (base / value).resolve()


def parse(agent: str, raw: bytes, fallback_cwd: Path) -> ToolCall:
    """Read one hook input in ``agent``'s shape."""
    data = _load(raw)
    if agent == "cursor":
        return _parse_cursor(data, fallback_cwd)
    if agent not in SHELL_TOOLS:
        raise HookInputError(f"unknown agent {agent!r}")
    tool = _field(data, "tool_name", str, "")
    cwd = _cwd(_field(data, "cwd", str, "", required=False), fallback_cwd)
    if tool in SHELL_TOOLS[agent]:
        tool_input = _field(data, "tool_input", dict, "")
        command = _command(tool_input.get("command"))
        sub = tool_input.get("dir_path", tool_input.get("directory")) if agent == "gemini" else None
        if sub is not None:
            if not isinstance(sub, str):
                raise HookInputError("tool_input.dir_path must be a string")
            cwd = _cwd(sub, cwd)
        return ToolCall(tool, cwd, command=command)
    if agent == "claude-code" and tool in CLAUDE_WRITE_TOOLS:
        tool_input = _field(data, "tool_input", dict, "")
        path = _field(tool_input, CLAUDE_WRITE_TOOLS[tool], str, "tool_input.")
        return ToolCall(tool, cwd, path=path)
    return ToolCall(tool, cwd)


def _parse_cursor(data: dict[str, Any], fallback_cwd: Path) -> ToolCall:
    event = data.get("hook_event_name", "beforeShellExecution")
    if event != "beforeShellExecution":
        raise HookInputError(f"`agentgate hook cursor` answers beforeShellExecution, not {event!r}")
    command = _command(data.get("command"))
    cwd = _field(data, "cwd", str, "", required=False)
    if not cwd:
        roots = data.get("workspace_roots")
        if isinstance(roots, list) and roots and isinstance(roots[0], str):
            cwd = roots[0]
    return ToolCall("shell", _cwd(cwd, fallback_cwd), command=command)


# --------------------------------------------------------------------------- deciding


def decide(agent: str, call: ToolCall, gate_factory: GateFactory,
           explicit_policy: str | None = None) -> Verdict:
    if call.path is not None:
        return _protect(agent, call, gate_factory, explicit_policy)
    if call.command is None:
        return PASS
    if isinstance(call.command, str):
        subject = Subject("script", (call.command,), str(call.cwd))
    else:
        subject = Subject("argv", call.command, str(call.cwd))
    outcome = gate_factory(call.cwd).authorize(subject, agent)
    return _verdict(outcome)


def _verdict(outcome: Outcome) -> Verdict:
    if outcome.allowed:
        if outcome.via_grant:
            msg = f"agentgate: allowed once by approved grant {outcome.approval_id}."
            return Verdict(True, f"{msg} {outcome.reason}", msg, via_grant=True)
        return Verdict(True, outcome.reason, f"agentgate: allowed ({outcome.reason})")
    cmd = outcome.subject.display
    if outcome.approval_required:
        user = (f"agentgate: `{cmd}` needs your approval. To let it run once, run in a terminal: "
                f"agentgate approve {outcome.approval_id}")
    else:
        user = f"agentgate denied `{cmd}`: {outcome.reason}"
    return Verdict(False, outcome.message(), user)


def is_protected(target: Path, explicit_policy: str | None = None,
                 extra: Iterable[str] = ()) -> bool:
    """Would writing ``target`` change agentgate's policy, state or the agent's hook settings?"""
    return gate_is_protected(target, [*([explicit_policy] if explicit_policy else []), *extra])


def _policy_files(gate_factory: GateFactory, cwd: Path) -> list[str]:
    """The gate's own list (policies in force, repo-local ones included), when it loads."""
    try:
        return gate_factory(cwd).policy_files()
    except Exception:  # the fixed list above still applies
        return []


def _protect(agent: str, call: ToolCall, gate_factory: GateFactory,
             explicit_policy: str | None) -> Verdict:
    assert call.path is not None
    target = call.cwd / call.path
    if not is_protected(target, explicit_policy, _policy_files(gate_factory, call.cwd)):
        return PASS
    reason = (f"agentgate: DENIED [{PROTECTED_RULE}]: {call.tool} of {call.path} would change "
              "agentgate's policy, state or hook settings; an agent must not change the rules that "
              "gate it. Do not retry or work around this; a human edits these files.")
    record_blocked(StatePaths.default(), Subject("action", (call.tool, str(target)), str(call.cwd)),
                   agent, AgentgateError(reason))  # best effort: the deny stands regardless
    return Verdict(False, reason, f"agentgate blocked {call.tool} of {call.path}: "
                                  "it is agentgate's policy, state or hook settings.")


# --------------------------------------------------------------------------- answering


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _claude(decision: str, reason: str) -> str:
    return _json({"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                         "permissionDecision": decision,
                                         "permissionDecisionReason": reason}})


def render(agent: str, v: Verdict) -> HookReply:
    """Put a verdict in the agent's words (exit 0, except Codex blocks with exit 2)."""
    if agent == "claude-code":
        if not v.opinion or (v.allowed and not v.via_grant):
            return HookReply("", "", 0)
        return HookReply(_claude("allow" if v.allowed else "deny", v.reason),
                         "" if v.allowed else v.reason + "\n", 0)
    if agent == "codex":
        if v.allowed:
            return HookReply("", "", 0)
        return HookReply("", v.reason + "\n", EXIT_BLOCK)
    if agent == "cursor":
        body = {"permission": "allow" if v.allowed else "deny",
                "user_message": v.user_message, "agent_message": v.reason}
        return HookReply(_json(body), "", 0)
    if agent == "gemini":
        if not v.opinion:
            return HookReply("{}\n", "", 0)
        obj: dict[str, Any] = {"decision": "allow" if v.allowed else "deny"}
        if not v.allowed:
            obj["reason"] = v.reason
        if v.via_grant or not v.allowed:
            obj["systemMessage"] = v.user_message
        return HookReply(_json(obj), "", 0)
    raise ValueError(f"unknown agent {agent!r}")


def render_failure(agent: str, problem: str) -> HookReply:
    """Fail closed: the agent's deny JSON (where it reads one) plus exit 2 and the reason."""
    reason = (f"agentgate: BLOCKED (fail-closed): {problem} The command was not checked, so it "
              "must not run. Do not work around this; ask a human to fix agentgate.")
    v = Verdict(False, reason, f"agentgate could not check this command: {problem}")
    stdout = render(agent, v).stdout if agent in AGENTS and agent != "codex" else ""
    return HookReply(stdout, reason + "\n", EXIT_BLOCK)


# --------------------------------------------------------------------------- hook install

@dataclass(frozen=True)
class HookSpec:
    """Where an agent keeps its hooks, and the entry agentgate adds there."""

    project_file: str  # relative to the project directory
    user_file: str  # relative to the agent's home directory
    home_env: str | None  # environment variable that moves that home directory
    home_default: str  # relative to $HOME
    event: str
    matcher: str | None  # None: a flat list of hooks (Cursor)

    def entry(self, command: str, agent: str) -> dict[str, Any]:
        if self.matcher is None:
            return {"command": command, "failClosed": True}
        hook: dict[str, Any] = {"type": "command", "command": command}
        if agent == "gemini":
            hook["name"] = "agentgate"
        return {"matcher": self.matcher, "hooks": [hook]}


SPECS = {
    "claude-code": HookSpec(".claude/settings.json", "settings.json", "CLAUDE_CONFIG_DIR",
                            ".claude", "PreToolUse", "Bash|Edit|Write|MultiEdit|NotebookEdit"),
    "codex": HookSpec(".codex/hooks.json", "hooks.json", "CODEX_HOME", ".codex", "PreToolUse",
                      "Bash"),
    "cursor": HookSpec(".cursor/hooks.json", "hooks.json", None, ".cursor",
                       "beforeShellExecution", None),
    "gemini": HookSpec(".gemini/settings.json", "settings.json", None, ".gemini", "BeforeTool",
                       "run_shell_command"),
}


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


def settings_path(agent: str, scope: str, project_dir: Path) -> Path:
    spec = SPECS[agent]
    if scope == "project":
        return project_dir / spec.project_file
    home = os.environ.get(spec.home_env) if spec.home_env else None
    base = Path(home).expanduser() if home else Path.home() / spec.home_default
    return base / spec.user_file


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
    pattern = re.compile(rf"agentgate\S*\s+(?:.*\s)?hook\s+{re.escape(agent)}(?:\s|$)")
    return any(pattern.search(c) for c in _hook_commands(event_list))


def merge(doc: dict[str, Any], agent: str, command: str, path: Path) -> dict[str, Any]:
    """``doc`` with agentgate's hook added (a no-op when one is there); other keys untouched."""
    spec = SPECS[agent]
    if agent == "cursor":
        doc.setdefault("version", 1)
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise _refuse(path, "its 'hooks' is not a JSON object")
    event_list = hooks.setdefault(spec.event, [])
    if not isinstance(event_list, list):
        raise _refuse(path, f"its 'hooks.{spec.event}' is not a JSON array")
    if not already_installed(event_list, agent):
        event_list.append(spec.entry(command, agent))
    return doc


def plan_install(agent: str, scope: str, project_dir: Path, command: str) -> InstallPlan:
    """Read the settings file and compute its new content; refuse a file that is not JSON."""
    path = settings_path(agent, scope, project_dir)
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
        return InstallPlan(agent, path, before, before)  # already there: leave it byte for byte
    return InstallPlan(agent, path, before, json.dumps(merged, indent=2, ensure_ascii=False) + "\n")


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
