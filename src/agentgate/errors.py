"""One error type for every expected failure: a message, a hint and the exit code.

The core raises; only the CLI turns an error into a stderr line (or a JSON error object) and an
exit code. Codes follow sysexits(3) so that agents and CI can branch on them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_APPROVAL_REQUIRED = 75  # EX_TEMPFAIL: a human must approve, then retry the same command
EXIT_DENIED = 77  # EX_NOPERM: denied by a rule or by a human
EXIT_CONFIG = 78  # EX_CONFIG: policy, ledger or audit log missing, unreadable, invalid, unwritable


class AgentgateError(Exception):
    """An expected failure. ``exit_code`` is what the process exits with."""

    exit_code: int = EXIT_CONFIG
    kind: str = "error"

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def to_dict(self) -> dict[str, object]:
        return {"error": self.kind, "message": self.message, "hint": self.hint,
                "exitCode": self.exit_code}


class ConfigError(AgentgateError):
    """The policy, ledger or audit log cannot be used: fail closed with 78."""

    kind = "config_error"


class PolicyError(ConfigError):
    """A policy file that does not load or does not validate."""

    kind = "policy_error"

    def __init__(self, message: str, hint: str | None = None, *, path: str | None = None,
                 rule: str | None = None):
        where = path or "<policy>"
        if rule:
            where += f": rule {rule!r}"
        super().__init__(f"{where}: {message}", hint)
        self.path = path
        self.rule = rule


class StateError(ConfigError):
    """The ledger or the audit log cannot be read, locked or written."""

    kind = "state_error"


class CannotStart(AgentgateError):
    """The program of a command that may run cannot be started: 127 not found, 126 not
    executable (the shell's codes)."""

    kind = "cannot_start"
    exit_code = 127


class UsageError(AgentgateError):
    """A request that makes no sense, e.g. approving an unknown id (exit 2)."""

    kind = "usage_error"
    exit_code = EXIT_USAGE


class NotFound(UsageError):
    kind = "not_found"


class Conflict(UsageError):
    """The request exists but is in a state that does not allow the operation."""

    kind = "conflict"
