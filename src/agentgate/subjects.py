"""What the gate is asked about, built from what a caller holds: a command as a shell string or a
list of words, or a named action. One constructor for `run`, `check`, `verify`, the hooks, the
MCP server and the Python API, so that a string always means a script and a list an argv.
"""

from __future__ import annotations

from .outcome import Subject

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_COMMAND_CHARS = 100_000  # beyond this the gate will not pretend to have read the command


def command_subject(command: str | Sequence[str], cwd: str) -> Subject:
    """A shell string is a script (it runs with ``/bin/sh -c`` once allowed, and is analysed as
    such); a list of words is an argv, run directly."""
    if isinstance(command, str):
        return Subject("script", (command,), cwd)
    return Subject("argv", tuple(command), cwd)


def command_problem(command: object) -> str | None:
    """What is wrong with a command an agent sent (a hook input, an MCP call), or None: it must
    be a non-empty string or list of strings, of at most MAX_COMMAND_CHARS characters."""
    if isinstance(command, str):
        if not command.strip():
            return "the command is empty"
        size = len(command)
    elif isinstance(command, list | tuple) and command and all(isinstance(w, str) for w in command):
        size = sum(len(w) for w in command)
    else:
        return "the command must be a non-empty string or list of strings"
    if size > MAX_COMMAND_CHARS:
        return f"the command is longer than {MAX_COMMAND_CHARS} characters"
    return None


def action_subject(action: str, resource: str | None, cwd: str) -> Subject:
    """A named action (``deploy_production``), on a resource (``vercel.com``) if given."""
    return Subject("action", (action,) if resource is None else (action, resource), cwd)
