"""typer wiring for the agent integrations: ``hook``, ``hook install``, ``mcp``, ``verify``.

Kept out of cli.py so that file stays about the gate's own commands; ``register(app)`` adds these.
The helpers (``handled``, ``_gate``, ``_err``...) come from ``agentgate.cli`` and are imported
inside functions, because cli.py imports this module at its end.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from .entry import AGENT, JSON, POLICY
from .errors import EXIT_CONFIG, AgentgateError, UsageError

# agentgate's own options, as entry.py defines them for the fast paths and cli.py
JsonOpt = Annotated[bool, typer.Option(JSON.name, help=JSON.help)]
AgentOpt = Annotated[str | None, typer.Option(AGENT.name, metavar=AGENT.metavar, help=AGENT.help)]
PolicyOpt = Annotated[list[str] | None, typer.Option(POLICY.name, metavar=POLICY.metavar,
                                                     help=POLICY.help)]

_LABELS = {"claude-code": "Claude Code's PreToolUse", "codex": "Codex's PreToolUse",
           "cursor": "Cursor's beforeShellExecution", "gemini": "Gemini CLI's BeforeTool"}


# --------------------------------------------------------------------------- hook <agent>


def _answer_hook(agent: str) -> None:
    """Read the hook JSON, answer in the agent's format (see entry.hook_command)."""
    from .cli import _state
    from .entry import hook_command

    raise typer.Exit(hook_command(agent, _state["policy"]))


def _hook_command(agent: str) -> Callable[..., None]:
    def command(policy: PolicyOpt = None) -> None:
        _answer_hook(agent)

    command.__doc__ = (f"Answer {_LABELS[agent]} hook: the hook JSON on stdin, the decision on "
                       "stdout. Fails closed: any error blocks the command.")
    return command


def hook_install(
    agent: Annotated[str, typer.Argument(metavar="AGENT",
                                         help="claude-code | codex | cursor | gemini")],
    user: Annotated[bool, typer.Option(
        "--user/--project",
        help="Install into the user's settings (~/...) instead of this project's (default).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the change as a diff; write nothing.")] = False,
    executable: Annotated[str | None, typer.Option(
        "--executable", metavar="PATH",
        help="How the agent should call agentgate (default: `agentgate` from PATH).")] = None,
) -> None:
    """Add agentgate's hook to an agent's settings file (idempotent; backs the file up first)."""
    from .cli import _cwd
    from .entry import err as _err
    from .hooks import AGENTS, apply_install, plan_install

    if agent not in AGENTS:
        raise UsageError(f"unknown agent {agent!r}; choose one of: {', '.join(AGENTS)}")
    exe = executable or "agentgate"
    plan = plan_install(agent, "user" if user else "project", _cwd(),
                        f"{shlex.quote(exe)} hook {agent}")
    if not plan.changed:
        _err(f"agentgate's {agent} hook is already in {plan.path}; nothing to do.")
        return
    if dry_run:
        sys.stdout.write(plan.diff())
        _err(f"dry run: {plan.path} was not changed.")
        return
    backup = apply_install(plan)
    _err(f"installed agentgate's {agent} hook in {plan.path}"
         + (f" (backup of the previous file: {backup})" if backup else ""))
    if shutil.which(exe) is None:
        _err(f"warning: `{exe}` is not on this PATH; the agent must be able to run it, or its "
             "hook fails (and most agents then let the command through). See --executable.")


# --------------------------------------------------------------------------- mcp, verify


def mcp(agent: AgentOpt = None, policy: PolicyOpt = None) -> None:
    """Serve the gate over MCP on stdio: run_command, verify_action, approval_status."""
    from .cli import _gate

    try:
        from . import mcp_server
    except ImportError as e:
        if (e.name or "").split(".")[0] != "mcp":
            raise
        raise AgentgateError("`agentgate mcp` needs the MCP SDK, which is not installed",
                             "pip install 'agentgate-checkpoint[mcp]'",
                             exit_code=EXIT_CONFIG) from None
    mcp_server.serve(_gate, agent or os.environ.get("AGENTGATE_AGENT") or "mcp")


def verify(
    action: Annotated[str, typer.Argument(metavar="ACTION", help="e.g. deploy_production")],
    resource: Annotated[str | None, typer.Argument(
        metavar="[RESOURCE]", help="e.g. vercel.com")] = None,
    json_: JsonOpt = False,
    agent: AgentOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Checkpoint an action without running anything: exit 0 allowed, 75 approval required, 77 denied.

    An approved request for the same ACTION, RESOURCE and directory is used up by the call
    that exits 0.
    """
    from .cli import _agent, _cwd, _gate, _state
    from .entry import emit_json as _emit_json
    from .entry import err as _err
    from .gate import Subject

    if not action.strip():
        raise UsageError("ACTION must not be empty")
    cwd = _cwd()
    argv = (action,) if resource is None else (action, resource)
    outcome = _gate(cwd).authorize(Subject("action", argv, str(cwd)), _agent(agent))
    _err(outcome.message())
    if _state["json"]:
        _emit_json({**outcome.to_dict(), "action": action, "resource": resource})
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``hook`` (with ``hook install``), ``mcp`` and ``verify`` to the agentgate app."""
    from .cli import Command, Group, handled

    hook_app = typer.Typer(cls=Group, help="Answer an agent's pre-tool hook, or install one.",
                           no_args_is_help=True)
    for agent in _LABELS:
        hook_app.command(agent, cls=Command)(handled(_hook_command(agent)))
    hook_app.command("install", cls=Command)(handled(hook_install))
    app.add_typer(hook_app, name="hook")
    app.command("mcp", cls=Command)(handled(mcp))
    app.command("verify", cls=Command)(handled(verify))
