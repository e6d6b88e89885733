"""The Python checkpoint: ``verify(action, resource, **attributes)`` and the ``@gated``
decorator.

For code that performs a risky action itself (a deploy through an SDK, a payment, a DNS change)
rather than through a shell command. Same policy rules (``actions`` / ``resources`` globs and
``condition`` over the attributes), same ledger, grants and audit log as ``agentgate run``;
nothing here decides on its own.

    from agentgate import verify, gated, ApprovalRequired

    @gated("payment", attributes=["amount", "currency", "vendor"])
    def pay(amount: float, currency: str, vendor: str) -> None: ...

A blocked call raises before the function body runs; the human approves the printed id with
``agentgate approve <id>`` and the very same call (same action, resource, attributes and working
directory) then goes through once: a grant for 4000 to one vendor allows neither 40000 nor
another vendor.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
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
    attributes: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def approvalRequired(self) -> bool:  # the JSON response's spelling
        return self.approval_required

    @property
    def approvalId(self) -> str | None:  # the JSON response's spelling
        return self.approval_id

    def to_dict(self) -> dict[str, Any]:
        """The result's keys as ``agentgate verify --json`` spells them (which adds ``command``,
        ``exitCode`` and ``ruleReason``)."""
        d = asdict(self)
        return {"allowed": d["allowed"], "approvalRequired": d["approval_required"],
                "approvalId": d["approval_id"], "reason": d["reason"], "rule": d["rule"],
                "decision": d["decision"], "next": d["next"], "action": d["action"],
                "resource": d["resource"], "attributes": d["attributes"]}


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
           cwd: str | os.PathLike[str] | None = None, **attributes: Any) -> VerifyResult:
    """Decide and record whether ``action`` on ``resource``, with ``attributes`` (``amount=4000,
    vendor="acme"``: strings, numbers, booleans; None leaves one out), may happen now.

    An approved grant for exactly this action, resource, attributes and directory is used by
    the call that returns ``allowed``. Raises ``UsageError`` for an attribute that is not a
    plain value, and ``AgentgateError`` (exit code 78) when the policy or the state cannot be
    used: a broken checkpoint never answers "allowed".
    """
    return _verify(action, resource, attributes, agent, policy, cwd)


def _verify(action: str, resource: str | None, attributes: Mapping[str, Any], agent: str | None,
            policy: str | os.PathLike[str] | None,
            cwd: str | os.PathLike[str] | None = None) -> VerifyResult:
    if not isinstance(action, str) or not action.strip():
        raise UsageError("verify() needs an action name, e.g. 'deploy_production'")
    if resource is not None and not isinstance(resource, str):
        raise UsageError("the resource must be a string or None")
    where = Path(cwd if cwd is not None else os.getcwd()).resolve()
    subject = action_subject(action, resource, str(where), dict(attributes))
    outcome = _open_gate(policy, where).authorize(subject, agent_name(agent, "python"))
    return VerifyResult(outcome.allowed, outcome.approval_required, outcome.approval_id,
                        outcome.reason, outcome.rule, outcome.decision, outcome.next_step,
                        action, resource, outcome.via_grant, dict(subject.attributes))


def _check(result: VerifyResult) -> None:
    if result.allowed:
        return
    if result.approval_required:
        raise ApprovalRequired(result)
    raise Denied(result)


AttributeSpec = Sequence[str] | Mapping[str, str] | Callable[..., Mapping[str, Any]]


def gated(action: str, resource: str | None = None, *, agent: str | None = None,
          policy: str | os.PathLike[str] | None = None, attributes: AttributeSpec | None = None,
          **fixed: Any) -> Callable[[F], F]:
    """Decorate a function (sync or async) so that each call passes the checkpoint first.

    The checkpoint's attributes come from the call: ``attributes=["amount", "vendor"]`` takes
    those arguments by name (defaults applied), ``{"attribute": "argument"}`` renames them, and
    a callable gets the call's arguments and returns the attributes; ``**fixed`` adds constant
    ones. Raises ``ApprovalRequired`` (with ``.approval_id``) or ``Denied`` before the body
    runs.
    """

    def decorate(fn: F) -> F:
        pick = _picker(fn, attributes, fixed)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                attrs = pick(args, kwargs)
                # the ledger lock may be waited for: keep the event loop free meanwhile
                result = await asyncio.to_thread(_verify, action, resource, attrs, agent, policy)
                _check(result)
                return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _check(_verify(action, resource, pick(args, kwargs), agent, policy))
            return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def _picker(fn: Callable[..., Any], spec: AttributeSpec | None,
            fixed: Mapping[str, Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """How one call's arguments become the checkpoint's attributes (see :func:`gated`). An
    argument name the function does not take is an error when it is decorated."""
    if spec is None:
        return lambda args, kwargs: dict(fixed)
    if callable(spec):
        compute = spec

        def computed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            got = compute(*args, **kwargs)
            if not isinstance(got, Mapping):
                raise UsageError(f"the attributes callable of @gated returned a "
                                 f"{type(got).__name__}, not a mapping of name: value")
            return {**fixed, **got}

        return computed
    if isinstance(spec, str):
        raise UsageError("@gated(attributes=...) takes a list of argument names, not one string",
                         f"write attributes=[{spec!r}]")
    names = dict(spec) if isinstance(spec, Mapping) else {n: n for n in spec}
    sig = inspect.signature(fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [a for a in names.values() if a not in sig.parameters and not takes_any]
    if unknown:
        raise UsageError(f"@gated: {fn.__qualname__}() has no argument {unknown[0]!r}",
                         f"its arguments: {', '.join(sig.parameters) or 'none'}")

    def picked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = sig.bind(*args, **kwargs)  # a call the function would refuse: its TypeError
        bound.apply_defaults()
        values = dict(bound.arguments)
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                values.update(values.pop(p.name, {}))
        return {**fixed, **{attr: values.get(arg) for attr, arg in names.items()}}

    return picked
