"""One error type for every expected failure: a message, a hint and the exit code; and every
exit code agentgate itself uses.

The core raises; only the CLI turns an error into a stderr line (or a JSON error object) and an
exit code. Codes follow sysexits(3) so that agents and CI can branch on them; a command that
ran exits with its own code, in the shell's conventions (126, 127, 128+N). An unexpected
exception is a bug: exit 70, its traceback in the error log (agentgate.errorlog).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1  # a human declined (or gave no terminal to ask on); a file not overwritten
EXIT_VERIFY_FAILED = 1  # `log verify`: the audit log is broken, missing or empty
EXIT_USAGE = 2  # click's code for a usage error, and agentgate's for a request that makes no sense
EXIT_BLOCK = 2  # hooks: the one non-zero code that every supported agent treats as "block"
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug; nothing was run
EXIT_APPROVAL_REQUIRED = 75  # EX_TEMPFAIL: a human must approve, then retry the same command
EXIT_DENIED = 77  # EX_NOPERM: denied by a rule or by a human
EXIT_CONFIG = 78  # EX_CONFIG: policy, ledger or audit log missing, unreadable, invalid, unwritable
EXIT_TIMEOUT = 124  # the MCP server's run_command: the command outlived its timeout (timeout(1))
EXIT_CANNOT_EXECUTE = 126  # the shell's: found, but not executable
EXIT_NOT_FOUND = 127  # the shell's: no such program
EXIT_SIGNAL_BASE = 128  # the shell's: 128 + N when signal N ended the command
EXIT_INTERRUPTED = 130  # agentgate itself was interrupted (128 + SIGINT)

# The exit code of each policy decision, for a check that runs nothing.
DECISION_EXIT = {"allow": EXIT_OK, "ask": EXIT_APPROVAL_REQUIRED, "deny": EXIT_DENIED}


def signal_exit(signum: int) -> int:
    """The shell's exit code for a command that signal ``signum`` ended."""
    return EXIT_SIGNAL_BASE + signum


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
    exit_code = EXIT_NOT_FOUND


class UsageError(AgentgateError):
    """A request that makes no sense, e.g. approving an unknown id (exit 2)."""

    kind = "usage_error"
    exit_code = EXIT_USAGE


class NotFound(UsageError):
    kind = "not_found"


class Conflict(UsageError):
    """The request exists but is in a state that does not allow the operation."""

    kind = "conflict"


class NotAuthorized(AgentgateError):
    """Protected mode: the approver secret is missing or wrong, or locked out after wrong ones;
    or the caller may not do this at all (exit 77)."""

    kind = "not_authorized"
    exit_code = EXIT_DENIED
