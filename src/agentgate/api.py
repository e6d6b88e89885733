"""The Python checkpoint: ``verify(action, resource)`` and the ``@gated`` decorator.

For code that performs a risky action itself (a deploy through an SDK, a payment, a DNS change)
rather than through a shell command. Same policy rules (``actions`` / ``resources`` globs), same
ledger, single-use grants and audit log as ``agentgate run``; nothing here decides on its own.

    from agentgate import verify, gated, ApprovalRequired

    @gated("deploy_production", "vercel.com")
    def deploy() -> None: ...

A blocked call raises before the function body runs; the human approves the printed id with
``agentgate approve <id>`` and the very same call (same action, resource and working directory)
then goes through once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .backend import open_gate
from .errors import EXIT_APPROVAL_REQUIRED, EXIT_DENIED, AgentgateError, UsageError
from .paths import agent_name
from .subjects import action_subject

if TYPE_CHECKING:
    from .backend import AnyGate

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class VerifyResult:
    """The checkpoint's answer. Truthy exactly when the action may proceed now."""

    allowed: bool
    approval_required: bool
    approval_id: str | None
    reason: str
    rule: str | None
    decision: str  # the policy's: allow | ask | deny
    next: str | None
    action: str
    resource: str | None
    via_grant: bool = False

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def approvalRequired(self) -> bool:  # the JSON response's spelling
        return self.approval_required

    @property
    def approvalId(self) -> str | None:  # the JSON response's spelling
        return self.approval_id

    def to_dict(self) -> dict[str, Any]:
        """The same keys as ``agentgate verify --json``."""
        d = asdict(self)
        return {"allowed": d["allowed"], "approvalRequired": d["approval_required"],
                "approvalId": d["approval_id"], "reason": d["reason"], "rule": d["rule"],
                "decision": d["decision"], "next": d["next"], "action": d["action"],
                "resource": d["resource"]}


class ApprovalRequired(AgentgateError):
    """The action needs a human's ``agentgate approve <approval_id>`` first."""

    kind = "approval_required"
    exit_code = EXIT_APPROVAL_REQUIRED

    def __init__(self, result: VerifyResult):
        super().__init__(f"approval required: {result.reason}", result.next)
        self.result = result
        self.approval_id = result.approval_id


class Denied(AgentgateError):
    """The policy or a human denied the action."""

    kind = "denied"
    exit_code = EXIT_DENIED

    def __init__(self, result: VerifyResult):
        super().__init__(f"denied: {result.reason}")
        self.result = result


def _open_gate(policy: str | os.PathLike[str] | None, cwd: Path) -> AnyGate:
    return open_gate(os.fspath(policy) if policy else None, cwd)


def verify(action: str, resource: str | None = None, *, agent: str | None = None,
           policy: str | os.PathLike[str] | None = None,
           cwd: str | os.PathLike[str] | None = None) -> VerifyResult:
    """Decide and record whether ``action`` on ``resource`` may happen now.

    An approved grant for exactly this action, resource and directory is consumed by the call
    that returns ``allowed``. Raises ``AgentgateError`` (exit code 78) when the policy or the
    state cannot be used: a broken checkpoint never answers "allowed".
    """
    if not isinstance(action, str) or not action.strip():
        raise UsageError("verify() needs an action name, e.g. 'deploy_production'")
    if resource is not None and not isinstance(resource, str):
        raise UsageError("the resource must be a string or None")
    where = Path(cwd if cwd is not None else os.getcwd()).resolve()
    outcome = _open_gate(policy, where).authorize(action_subject(action, resource, str(where)),
                                                  agent_name(agent, "python"))
    return VerifyResult(outcome.allowed, outcome.approval_required, outcome.approval_id,
                        outcome.reason, outcome.rule, outcome.decision, outcome.next_step,
                        action, resource, outcome.via_grant)


def _check(result: VerifyResult) -> None:
    if result.allowed:
        return
    if result.approval_required:
        raise ApprovalRequired(result)
    raise Denied(result)


def gated(action: str, resource: str | None = None, *, agent: str | None = None,
          policy: str | os.PathLike[str] | None = None) -> Callable[[F], F]:
    """Decorate a function (sync or async) so that each call passes the checkpoint first.

    Raises ``ApprovalRequired`` (with ``.approval_id``) or ``Denied`` before the body runs.
    """

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                # the ledger lock may be waited for: keep the event loop free meanwhile
                result = await asyncio.to_thread(verify, action, resource, agent=agent,
                                                 policy=policy)
                _check(result)
                return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _check(verify(action, resource, agent=agent, policy=policy))
            return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
