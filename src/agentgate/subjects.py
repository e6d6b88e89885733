"""What the gate is asked about, built from what a caller holds: a command as a shell string or a
list of words, or a named action. One constructor for `run`, `check`, `verify`, the hooks, the
MCP server and the Python API, so that a string always means a script and a list an argv.
"""

from __future__ import annotations

from .errors import UsageError
from .outcome import Subject

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

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


def action_subject(action: str, resource: str | None, cwd: str,
                   attributes: object = None) -> Subject:
    """A named action (``deploy_production``), on a resource (``vercel.com``) if given, with
    its attributes (``amount=4000``; see :func:`clean_attributes`)."""
    return Subject("action", (action,) if resource is None else (action, resource), cwd,
                   clean_attributes(attributes))


MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_CHARS = 4096


def clean_attributes(attributes: object) -> tuple[tuple[str, Any], ...]:
    """An action's attributes as the gate keeps them: (name, value) sorted by name; a value
    is a string, a number or a boolean, kept as that exact type (a subclass's own comparisons
    never reach a condition; a whole float is the int it equals, so 4000.0 and 4000 are one grant); None leaves the attribute out. Anything else is a UsageError that
    says what: a nested value, NaN, a name that is not an identifier or that conditions
    reserve (agent, action, resource, time, ...)."""
    if attributes is None:
        return ()
    if not isinstance(attributes, dict):
        raise UsageError("attributes must be an object of name: value")
    if len(attributes) > MAX_ATTRIBUTES:
        raise UsageError(f"at most {MAX_ATTRIBUTES} attributes")
    out: list[tuple[str, Any]] = []
    for name, value in attributes.items():
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or \
                len(name) > 64:
            raise UsageError(f"attribute name {name!r} is not an identifier (letters, digits, _)")
        from .policy.conditions import RESERVED  # only for a checkpoint with attributes

        if name in RESERVED:
            raise UsageError(f"{name!r} cannot be an attribute name: conditions use it "
                             f"({', '.join(sorted(RESERVED))} are reserved)")
        if value is None:
            continue
        # Exact types from here on: a subclass (an IntEnum, a str type with its own __eq__) would
        # answer the conditions' comparisons itself (an int whose > says False is no amount).
        if isinstance(value, float):
            value = float.__float__(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise UsageError(f"attribute {name!r} is {value!r}, not a finite number")
            if value.is_integer() and abs(value) < 2 ** 53:
                value = int(value)
        elif isinstance(value, str):
            value = str.__str__(value)
            if len(value) > MAX_ATTRIBUTE_CHARS:
                raise UsageError(f"attribute {name!r} is longer than {MAX_ATTRIBUTE_CHARS} characters")
        elif isinstance(value, int):  # bool included
            if not isinstance(value, bool):
                value = int.__int__(value)
                if len(str(abs(value))) > 30:
                    raise UsageError(f"attribute {name!r} is a number of more than 30 digits")
        else:
            raise UsageError(f"attribute {name!r} is a {type(value).__name__}: attribute values "
                             "are strings, numbers or booleans (give each part of a nested "
                             "value its own attribute)")
        out.append((name, value))
    return tuple(sorted(out))
