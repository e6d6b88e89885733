"""Agent hook adapters: an agent's pre-tool hook JSON -> Subject -> Gate.authorize -> its answer.

Every adapter is a thin translation; the decision is always ``Gate.authorize`` (same policy,
ledger, grants and audit log as ``agentgate run``). The hooks fail closed *inside each protocol*
(see agents.py): any expected failure here becomes a well-formed deny in the agent's words, and
exit 2. An unexpected exception (a bug) is left to the caller, which logs it and answers the same
way.

No printing and no exiting: the caller writes the Reply. On every tool call of a wired agent, so
as light as `run` (tests/test_entry.py checks the imports).
"""

from __future__ import annotations

import os

from ..backend import record_blocked
from ..errors import AgentgateError
from ..guard import PROTECTED_RULE
from ..guard import is_protected as gate_is_protected
from ..jsontext import loads
from ..lean import Record
from ..outcome import Outcome, Subject
from ..paths import StatePaths, pure, resolve
from ..subjects import action_subject, command_problem, command_subject
from .agents import AGENTS, PASS, Agent, Reply, Verdict, failure_reply, reply

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from ..backend import AnyGate

    GateFactory = Callable[[str], AnyGate]

MAX_INPUT_BYTES = 16 * 1024 * 1024  # a Write tool call carries the whole file; more is not sane


class HookInputError(Exception):
    """The hook input is not what the agent's protocol promises: the hook must deny."""


class ToolCall(Record):
    """The part of a hook input the gate cares about."""

    tool: str
    cwd: str  # absolute, resolved
    subject: Subject | None = None  # a shell command to gate
    path: str | None = None  # the target of a file-writing tool


# --------------------------------------------------------------------------- entry point


def handle(agent: str, raw: bytes, gate_factory: GateFactory, *, fallback_cwd: str,
           explicit_policy: str | None = None, wait: str | None = None) -> Reply:
    """Answer one hook call. Every expected failure is a deny in the agent's format; an
    unexpected exception propagates (see :func:`internal_failure`). ``wait`` (``--wait``'s
    DURATION): a held command waits that long for a human's decision."""
    try:
        spec = AGENTS.get(agent)
        if spec is None:
            raise HookInputError(f"unknown agent {agent!r}")
        seconds = None
        if wait is not None:
            from ..waiting import wait_seconds

            seconds = wait_seconds(wait)
        call = parse(spec, raw, fallback_cwd)
        return reply(spec, decide(agent, call, gate_factory, explicit_policy, seconds))
    except AgentgateError as e:
        hint = f" Fix: {_sentence(e.hint)}" if e.hint else ""
        return failure(agent, f"{_sentence(e.message)}{hint}")
    except HookInputError as e:
        return failure(agent, _sentence(f"unreadable hook input: {e}"))


def failure(agent: str, problem: str) -> Reply:
    """Fail closed: the agent's deny JSON (where it reads one) plus exit 2 and the reason."""
    reason = (f"agentgate: BLOCKED (fail-closed): {problem} The command was not checked, so it "
              "must not run. Do not work around this; ask a human to fix agentgate.")
    return failure_reply(AGENTS.get(agent), reason,
                         f"agentgate could not check this command: {problem}")


def internal_failure(agent: str, error: BaseException, log: str | None) -> Reply:
    """The answer to a bug: a deny, naming the error and where its traceback was logged."""
    where = f" (details in {log})" if log else ""
    return failure(agent, _sentence(f"internal error: {type(error).__name__}: {error}{where}"))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# --------------------------------------------------------------------------- parsing


def _load(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_INPUT_BYTES:
        raise HookInputError(f"more than {MAX_INPUT_BYTES} bytes on stdin")
    try:
        data = loads(raw.decode("utf-8"))
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


def _check_command(value: Any) -> None:
    """A shell string, or an argv list (some agents send the shell tool's argv)."""
    problem = command_problem(value)
    if problem is not None:
        raise HookInputError(problem)


def _cwd(value: str | None, base: str) -> str:
    """The directory the command runs in, absolute and resolved (it is part of the fingerprint)."""
    if not value:
        return resolve(base)
    if "\0" in value:
        raise HookInputError("cwd contains a NUL byte")
    return resolve(os.path.join(base, value))


def parse(agent: Agent, raw: bytes, fallback_cwd: str) -> ToolCall:
    """Read one hook input in ``agent``'s shape."""
    data = _load(raw)
    if not agent.shell_tools:  # Cursor: the event itself is the shell command
        return _parse_shell_event(agent, data, fallback_cwd)
    tool = _field(data, "tool_name", str, "")
    cwd = _cwd(_field(data, "cwd", str, "", required=False), fallback_cwd)
    if tool in agent.shell_tools:
        tool_input = _field(data, "tool_input", dict, "")
        command = tool_input.get("command")
        _check_command(command)
        key = next((k for k in agent.workdir_keys if k in tool_input), None)
        if key is not None and tool_input[key] is not None:
            if not isinstance(tool_input[key], str):
                raise HookInputError(f"tool_input.{agent.workdir_keys[0]} must be a string")
            cwd = _cwd(tool_input[key], cwd)
        return ToolCall(tool, cwd, subject=command_subject(command, cwd))
    if tool in agent.write_tools:
        tool_input = _field(data, "tool_input", dict, "")
        path = _field(tool_input, agent.write_tools[tool], str, "tool_input.")
        return ToolCall(tool, cwd, path=path)
    return ToolCall(tool, cwd)


def _parse_shell_event(agent: Agent, data: dict[str, Any], fallback_cwd: str) -> ToolCall:
    event = data.get("hook_event_name", agent.event)
    if event != agent.event:
        raise HookInputError(f"`agentgate hook {agent.name}` answers {agent.event}, not {event!r}")
    command: Any = data.get("command")
    _check_command(command)
    cwd = _field(data, "cwd", str, "", required=False)
    if not cwd:
        roots = data.get("workspace_roots")
        if isinstance(roots, list) and roots and isinstance(roots[0], str):
            cwd = roots[0]
    where = _cwd(cwd, fallback_cwd)
    return ToolCall("shell", where, subject=command_subject(command, where))


# --------------------------------------------------------------------------- deciding


def decide(agent: str, call: ToolCall, gate_factory: GateFactory,
           explicit_policy: str | None = None, wait: float | None = None) -> Verdict:
    if call.path is not None:
        return _protect(agent, call, gate_factory, explicit_policy)
    if call.subject is None:
        return PASS
    gate = gate_factory(call.cwd)
    subject = call.subject
    outcome = gate.authorize(subject, agent)
    if wait is not None and outcome.approval_required:
        from ..waiting import until_decided

        outcome = until_decided(gate, outcome, lambda: gate.authorize(subject, agent), wait)
    return _verdict(outcome)


def _verdict(outcome: Outcome) -> Verdict:
    if outcome.allowed:
        if outcome.via_grant:
            msg = (f"agentgate: allowed by {outcome.standing}." if outcome.standing else
                   f"agentgate: allowed once by approved grant {outcome.approval_id}.")
            return Verdict(True, f"{msg} {outcome.reason}", msg, via_grant=True)
        return Verdict(True, outcome.reason, f"agentgate: allowed ({outcome.reason})")
    cmd = outcome.subject.display
    if outcome.approval_required:
        user = (f"agentgate: `{cmd}` needs your approval. To let it run once, run in a terminal: "
                f"agentgate approve {outcome.approval_id}")
    else:
        user = f"agentgate denied `{cmd}`: {outcome.reason}"
    return Verdict(False, outcome.message(), user)


def is_protected(target: str, explicit_policy: str | None = None,
                 extra: Iterable[str] = ()) -> bool:
    """Would writing ``target`` change agentgate's policy, state or the agent's hook settings?"""
    return gate_is_protected(target, [*([explicit_policy] if explicit_policy else []), *extra])


def _policy_files(gate_factory: GateFactory, cwd: str) -> list[str]:
    """The gate's own list (policies in force, repo-local ones included), when it loads."""
    try:
        return gate_factory(cwd).policy_files()
    except Exception:  # the fixed list of protected files still applies
        return []


def _protect(agent: str, call: ToolCall, gate_factory: GateFactory,
             explicit_policy: str | None) -> Verdict:
    assert call.path is not None
    target = pure(os.path.join(call.cwd, call.path))
    if not is_protected(target, explicit_policy, _policy_files(gate_factory, call.cwd)):
        return PASS
    reason = (f"agentgate: DENIED [{PROTECTED_RULE}]: {call.tool} of {call.path} would change "
              "agentgate's policy, state or hook settings; an agent must not change the rules that "
              "gate it. Do not retry or work around this; a human edits these files.")
    record_blocked(StatePaths.default(), action_subject(call.tool, target, call.cwd),
                   agent, AgentgateError(reason))  # best effort: the deny stands regardless
    return Verdict(False, reason, f"agentgate blocked {call.tool} of {call.path}: "
                                  "it is agentgate's policy, state or hook settings.")
