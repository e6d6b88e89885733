"""Every agent agentgate answers, as data: the name in `agentgate hook NAME`, the hook event it
answers, the tools whose input it reads, where the agent keeps its hook settings (for a project,
for the user, and machine-wide for protected mode), and the shape of the answer it reads.

One table, read by the hook adapters (hooks.py), `hook install` (install.py), the CLI's help
texts and the built-in guard, which keeps an agent from changing its own hook settings. The guard
sits below the gate, so this module imports only the lowest layer (lean, errors, jsontext).

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

A hook that fails answers the agent's deny (where it reads one) and exits 2 with the reason on
stderr: every one of these agents blocks a tool call on exit 2, and treats a crash (exit 1, a
traceback, unparseable output) as "go ahead".
"""

from __future__ import annotations

import os

from ..errors import EXIT_BLOCK, EXIT_OK
from ..jsontext import dumps
from ..lean import Record, suppress
from ..paths import expand_user, pure
from . import rewrite

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any


class Verdict(Record):
    """The gate's answer, before it is put into an agent's words.

    ``opinion`` is False for a tool call agentgate does not gate (the agent's own rules apply).
    """

    allowed: bool
    reason: str
    user_message: str = ""
    via_grant: bool = False
    opinion: bool = True
    approval_id: str | None = None  # the grant it used up, when ``via_grant``


PASS = Verdict(True, "", opinion=False)


class Reply(Record):
    """What the hook process writes, and how it exits."""

    stdout: str
    stderr: str
    exit_code: int


class Setting(Record):
    """One key of an agent's machine-wide settings: its path of keys in the file and a value."""

    keys: tuple[str, ...]
    value: Any
    meaning: str = ""  # what it does, for the output of `hook install --system`

    @property
    def name(self) -> str:
        return ".".join(self.keys)


class SystemSettings(Record):
    """Where an agent reads machine-wide, administrator-managed hook settings (``hook install
    --system``), by ``sys.platform``; see docs/protected-mode-hooks.md for the sources.

    ``locks`` are settings that make user and project settings unable to switch the hook off or
    run hooks of their own; they go in ``locks_files`` (the hooks file when None). ``hooks_off``
    are values there that switch every hook off, agentgate's too: install refuses them."""

    files: dict[str, str]
    header: dict[str, Any]  # keys the file gets when missing (Cursor's "version")
    locks: tuple[Setting, ...] = ()
    hooks_off: tuple[Setting, ...] = ()
    locks_files: dict[str, str] | None = None


class Agent(Record):
    """One agent's hook protocol and settings."""

    name: str  # as in `agentgate hook NAME`
    product: str
    event: str  # the hook event agentgate answers
    shell_tools: tuple[str, ...]  # tools whose tool_input.command is a shell command
    write_tools: dict[str, str]  # tools that write a file -> the tool_input key naming it
    workdir_keys: tuple[str, ...]  # tool_input keys that move the command's directory
    matcher: str | None  # the tools the installed entry matches; None: a flat list of hooks
    folder: str  # in the project, and under $HOME unless ``home_env`` moves it
    settings: str  # the file in ``folder`` that holds the hooks
    home_env: str | None
    also_protected: tuple[str, ...]  # other files in ``folder`` with settings an agent must not change
    settings_header: dict[str, Any]  # keys `hook install` adds to the settings file when missing
    entry_fields: dict[str, Any]  # more fields of the hook entry `hook install` adds
    answer: Callable[[Agent, Verdict], Reply]
    system: SystemSettings | None = None  # the machine-wide settings, for protected mode
    patch_tools: tuple[str, ...] = ()  # tools whose tool_input.command is a patch (apply_patch)
    # The agent feeds a running program's stdin later without a hook (Codex's write_stdin): a
    # command that opens an interactive shell or REPL is held, since what it reads goes unchecked.
    unhooked_stdin: bool = False
    # What the agent does to a shell command before running it (agentgate.integrations.rewrite):
    # the gate judges the result.
    rewrite: Callable[[str], str] | None = None
    # Names of the agent's own configuration that no file-writing tool may touch: a directory
    # of that name anywhere on the target's path, or a file of that name (see guarded()).
    guarded: tuple[str, ...] = ()
    # Seconds the agent lets the hook run before it goes ahead without it: the hook fails
    # closed HOOK_MARGIN seconds before that (agentgate.hotpath).
    hook_timeout: float | None = None
    # Units per second of the installed entry's "timeout" field, which `hook install --wait`
    # writes above the wait: Claude Code, Codex and Cursor count seconds, Gemini CLI milliseconds.
    timeout_units: int = 1
    # The events in which the agent reports how an allowed tool call ended (the same `hook
    # AGENT` command answers them: agentgate.integrations.post); never blocking.
    post_events: tuple[str, ...] = ()
    # Events that say the agent's turn is over (every tool call of it has ended): a grant used
    # in it with no report of its call is overdue at once. No matcher; never blocking.
    end_events: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How the help texts name the hook: "Claude Code's PreToolUse"."""
        return f"{self.product}'s {self.event}"

    def home_dir(self) -> str:
        """The agent's user settings directory, as a str (the hook path does without pathlib):
        ``$<home_env>`` when set, else ``~/<folder>``. RuntimeError when ``~`` cannot be
        expanded, as Path.expanduser."""
        moved = os.environ.get(self.home_env) if self.home_env else None
        home = expand_user(moved or "~")
        if home is None:
            raise RuntimeError("Could not determine home directory.")
        return pure(home) if moved else os.path.join(pure(home), self.folder)

    def home(self) -> Path:
        """The agent's user settings directory."""
        from pathlib import Path

        return Path(self.home_dir())

    def settings_path(self, scope: str, project_dir: Path) -> Path:
        """The settings file of ``scope`` ("project" or "user") that holds the hooks."""
        base = project_dir / self.folder if scope == "project" else self.home()
        return base / self.settings

    def hook_entry(self, command: str) -> dict[str, Any]:
        """The entry `hook install` adds to the event's list."""
        if self.matcher is None:
            return {"command": command, "failClosed": True}
        return {"matcher": self.matcher,
                "hooks": [{"type": "command", "command": command, **self.entry_fields}]}

    def post_entry(self, command: str) -> dict[str, Any]:
        """The entry `hook install` adds to each of :attr:`post_events`: the same tools, and
        nothing that makes a failure block (a report never blocks)."""
        fields = {k: v for k, v in self.entry_fields.items() if k != "onFailure"}
        return {"matcher": self.matcher,
                "hooks": [{"type": "command", "command": command, **fields}]}

    def end_entry(self, command: str) -> dict[str, Any]:
        """The entry `hook install` adds to each of :attr:`end_events` (they take no matcher)."""
        fields = {k: v for k, v in self.entry_fields.items() if k != "onFailure"}
        return {"hooks": [{"type": "command", "command": command, **fields}]}

    def report_entries(self, command: str) -> list[tuple[str, dict[str, Any]]]:
        """(event, entry) for every event in which the agent reports back."""
        return [*((e, self.post_entry(command)) for e in self.post_events),
                *((e, self.end_entry(command)) for e in self.end_events)]


# --------------------------------------------------------------------------- answers


def _json(obj: dict[str, Any]) -> str:
    """A reply for an agent to parse: ASCII, so that it is the same JSON whatever the hook's
    stdout can carry, and strict (a word that is not UTF-8 shown as U+FFFD: agentgate.jsontext)."""
    return dumps(obj, ensure_ascii=True) + "\n"


def _claude(agent: Agent, v: Verdict) -> Reply:
    if not v.opinion or (v.allowed and not v.via_grant):
        return Reply("", "", EXIT_OK)
    body = {"hookSpecificOutput": {"hookEventName": agent.event,
                                   "permissionDecision": "allow" if v.allowed else "deny",
                                   "permissionDecisionReason": v.reason}}
    return Reply(_json(body), "" if v.allowed else v.reason + "\n", EXIT_OK)


def _codex(agent: Agent, v: Verdict) -> Reply:
    if v.allowed:
        return Reply("", "", EXIT_OK)
    return Reply("", v.reason + "\n", EXIT_BLOCK)


def _cursor(agent: Agent, v: Verdict) -> Reply:
    body = {"permission": "allow" if v.allowed else "deny",
            "user_message": v.user_message, "agent_message": v.reason}
    return Reply(_json(body), "", EXIT_OK)


def _gemini(agent: Agent, v: Verdict) -> Reply:
    if not v.opinion:
        return Reply("{}\n", "", EXIT_OK)
    body: dict[str, Any] = {"decision": "allow" if v.allowed else "deny"}
    if not v.allowed:
        body["reason"] = v.reason
    if v.via_grant or not v.allowed:
        body["systemMessage"] = v.user_message
    return Reply(_json(body), "", EXIT_OK)


def reply(agent: Agent, v: Verdict) -> Reply:
    """Put a verdict in the agent's words."""
    return agent.answer(agent, v)


def failure_reply(agent: Agent | None, reason: str, user_message: str) -> Reply:
    """Fail closed: the agent's deny (where it reads one), the reason on stderr, exit 2."""
    stdout = "" if agent is None else reply(agent, Verdict(False, reason, user_message)).stdout
    return Reply(stdout, reason + "\n", EXIT_BLOCK)


# --------------------------------------------------------------------------- the agents

# Machine-wide settings (docs/protected-mode-hooks.md has each agent's sources). Claude Code:
# managed settings outrank every other file; a user's or project's disableAllHooks leaves
# managed hooks running, allowManagedHooksOnly (honoured only there) drops all other hooks.
CLAUDE_SYSTEM = SystemSettings(
    {"linux": "/etc/claude-code/managed-settings.json",
     "darwin": "/Library/Application Support/ClaudeCode/managed-settings.json"}, {},
    (Setting(("allowManagedHooksOnly",), True,
             "only managed hooks run: user, project and plugin hooks are ignored"),
     Setting(("disableSkillShellExecution",), True,
             "skills' inline shell (!`...`) is off: it runs with no hook (docs/claude-code.md)")),
    (Setting(("disableAllHooks",), True),))
# Codex: hooks.json beside the system config layer (/etc/codex/config.toml) is a managed source
# (trusted without review, cannot be disabled); the locks live in requirements.toml.
CODEX_SYSTEM = SystemSettings(
    {"linux": "/etc/codex/hooks.json", "darwin": "/etc/codex/hooks.json"}, {},
    (Setting(("allow_managed_hooks_only",), True,
             "only managed hooks run: user, project, session and plugin hooks are ignored"),
     Setting(("features", "hooks"), True, "hooks stay on: a user's [features] hooks = false "
                                          "cannot turn them off")),
    (Setting(("features", "hooks"), False), Setting(("features", "codex_hooks"), False)),
    {"linux": "/etc/codex/requirements.toml", "darwin": "/etc/codex/requirements.toml"})
# Cursor: the enterprise hooks.json runs beside every other level; it has no lock setting.
CURSOR_SYSTEM = SystemSettings(
    {"linux": "/etc/cursor/hooks.json",
     "darwin": "/Library/Application Support/Cursor/hooks.json"}, {"version": 1})
# Gemini CLI: the system settings file overrides user and workspace ones for single values
# (hooksConfig.enabled); hook lists are concatenated across files.
GEMINI_SYSTEM = SystemSettings(
    {"linux": "/etc/gemini-cli/settings.json",
     "darwin": "/Library/Application Support/GeminiCli/settings.json"}, {},
    (Setting(("hooksConfig", "enabled"), True, "hooks stay on: a user's or project's "
                                               "hooksConfig.enabled = false cannot turn them off"),),
    (Setting(("hooksConfig", "enabled"), False),))

CLAUDE_CODE = Agent(
    "claude-code", "Claude Code", "PreToolUse", ("Bash",),
    {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path",
     "NotebookEdit": "notebook_path"}, (), "Bash|Edit|Write|MultiEdit|NotebookEdit",
    # 2.1.197 runs a skill's inline shell (!`...`) through the Bash tool's call with no
    # PreToolUse hook, and has no hook event for it: the install switches it off.
    ".claude", "settings.json", "CLAUDE_CONFIG_DIR", ("settings.local.json",),
    # onFailure "block" (2.1.332; 2.1.197 ignores the key): a hook command that is missing,
    # crashes or times out blocks the call instead of letting it run (docs/claude-code.md).
    {"disableSkillShellExecution": True}, {"onFailure": "block"}, _claude, CLAUDE_SYSTEM,
    # .claude/ holds settings, skills and agents (whose frontmatter hooks run commands); an
    # .mcp.json or ~/.claude.json names MCP servers whose commands the next session starts.
    guarded=(".claude", ".mcp.json", ".claude.json"), hook_timeout=600,
    post_events=("PostToolUse", "PostToolUseFailure"), end_events=("Stop",))
# Codex (0.171): PreToolUse reaches shell commands (tool "Bash", also an `apply_patch <<EOF` that
# Codex intercepts) and the apply_patch tool (the patch in tool_input.command); write_stdin into
# a running session reaches no hook. Only exit 2 + stderr (or a deny with a reason) blocks.
CODEX = Agent("codex", "Codex", "PreToolUse", ("Bash",), {}, (), "Bash|apply_patch", ".codex",
              "hooks.json", "CODEX_HOME", ("config.toml", "requirements.toml"), {}, {}, _codex,
              CODEX_SYSTEM, patch_tools=("apply_patch",), unhooked_stdin=True,
              # .codex/ and $CODEX_HOME: hooks, config, rules (which approve commands), skills
              guarded=(".codex",), post_events=("PostToolUse",), end_events=("Stop",))
CURSOR = Agent("cursor", "Cursor", "beforeShellExecution", (), {}, (), None, ".cursor",
               "hooks.json", None, (), {"version": 1}, {}, _cursor, CURSOR_SYSTEM,
               # .cursor/ (project and user): hooks.json, mcp.json (servers Cursor starts), rules
               guarded=(".cursor",))
# Gemini CLI (0.61): BeforeTool reaches run_shell_command, whose command it rewrites first
# (rewrite.gemini), and the file tools write_file and replace; .gemini/ (project and user:
# settings, extensions with their own hooks), the system settings directory and the files the
# GEMINI_CLI_* variables name are its configuration. It goes ahead without a hook that has not
# answered in `timeout` ms (60000 by default), so the hook fails closed before that.
GEMINI = Agent("gemini", "Gemini CLI", "BeforeTool", ("run_shell_command",),
               {"write_file": "file_path", "replace": "file_path"},
               ("dir_path", "directory"), "run_shell_command|write_file|replace", ".gemini",
               "settings.json", None, (), {}, {"name": "agentgate", "timeout": 60000}, _gemini,
               GEMINI_SYSTEM, rewrite=rewrite.gemini,
               guarded=(".gemini", "$GEMINI_CLI_SYSTEM_SETTINGS_PATH",
                        "$GEMINI_CLI_TRUSTED_FOLDERS_PATH"), hook_timeout=60, timeout_units=1000,
               post_events=("AfterTool",), end_events=("AfterAgent",))

AGENTS = {a.name: a for a in (CLAUDE_CODE, CODEX, CURSOR, GEMINI)}
NAMES = tuple(AGENTS)

# For the guard: every agent's settings folder, and each settings file relative to a project.
FOLDERS = tuple(a.folder for a in AGENTS.values())
SETTINGS_FILES = tuple(f"{a.folder}/{name}" for a in AGENTS.values()
                       for name in (a.settings, *a.also_protected)) + tuple(
    n for a in AGENTS.values() for n in a.guarded if n != a.folder and not n.startswith("$"))


HOOK_MARGIN = 10.0  # seconds before the agent's own timeout at which the hook fails closed
GUARDED_NAMES = frozenset(n for a in AGENTS.values() for n in a.guarded if not n.startswith("$"))
_GUARDED_FOLDED = frozenset(n.casefold() for n in GUARDED_NAMES)


def guarded_paths() -> list[str]:
    """Every agent's own configuration as absolute paths (files or directories): its user
    settings directory, its machine-wide settings directory and the files its variables name."""
    import sys

    found = []
    for a in AGENTS.values():
        if not a.guarded:
            continue
        with suppress(RuntimeError):  # no home directory: the names still apply
            found.append(a.home_dir())
        if a.system is not None and sys.platform in a.system.files:
            found.append(os.path.dirname(a.system.files[sys.platform]))
        found += [pure(os.path.abspath(os.environ[n[1:]])) for n in a.guarded
                  if n.startswith("$") and os.environ.get(n[1:])]
    return found


def guarded(target: str) -> bool:
    """Would writing ``target`` change an agent's own configuration (where its hooks, skills,
    extensions and MCP servers are declared)? Checked as written and with links resolved, and
    without regard to case: on a case-insensitive file system (macOS, Windows) ``.Claude`` is
    ``.claude``, and the strictest reading wins everywhere."""
    forms = {pure(os.path.abspath(target)).casefold(), pure(os.path.realpath(target)).casefold()}
    roots = [r.casefold() for r in guarded_paths()]
    return any(part in _GUARDED_FOLDED for f in forms for part in f.split("/")) or any(
        f == r or f.startswith(r.rstrip("/") + "/") for f in forms for r in roots)


def user_settings_files() -> list[str]:
    """Every agent's settings files in the user's settings directories (``CLAUDE_CONFIG_DIR``
    and ``CODEX_HOME`` included)."""
    return [os.path.join(a.home_dir(), name) for a in AGENTS.values()
            for name in (a.settings, *a.also_protected)]
