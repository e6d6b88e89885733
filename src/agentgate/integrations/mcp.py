"""``agentgate mcp``: the gate as an MCP server on stdio (official ``mcp`` Python SDK).

Tools: ``run_command`` (a gated run with bounded, captured output), ``verify_action`` (the
checkpoint for non-shell actions), ``approval_status`` and ``wait_for_approval`` (``run_command``
too can wait for the human, ``wait_seconds``: agentgate.waiting). There is deliberately no tool to
approve or deny: approvals come from a human at a terminal, out of band, never from the agent
the gate is holding back.

A command string runs with ``/bin/sh -c`` only after the gate has allowed that exact string (it is
analysed and fingerprinted as a script); an argv list runs directly, without a shell. A tool that
hits a bug answers a refusal (exit 70) and logs the traceback (agentgate.errorlog).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

try:  # mcp >= 2 renamed FastMCP to MCPServer
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # pragma: no cover - mcp 1.x
    from mcp.server.fastmcp import Context  # type: ignore[no-redef,attr-defined]
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef,attr-defined]

from typing import TYPE_CHECKING

from .. import errorlog
from ..audit import now_iso
from ..errors import EXIT_INTERNAL, AgentgateError, CannotStart, UsageError
from ..gate import Outcome, Subject
from ..lean import Record
from ..ledger import APPROVED, PENDING
from ..paths import gated_env
from ..policy import Evaluation
from ..runner import run_captured, startable
from ..subjects import action_subject, command_problem, command_subject
from ..waiting import until_decided, until_not_pending

if TYPE_CHECKING:
    from ..backend import AnyGate

MAX_OUTPUT_BYTES = 64 * 1024  # per stream, returned to the agent; the rest is dropped (marked)
DEFAULT_TIMEOUT = 600.0
MAX_WAIT = 3600.0  # the longest a tool call waits for a human (wait_seconds, wait_for_approval)

GateFactory = Callable[[Path], "AnyGate"]

INSTRUCTIONS = """\
agentgate is a human-in-the-loop checkpoint. Run shell commands through `run_command`.
When a result has approvalRequired=true: STOP. Do not try another way to do the same thing.
Tell the user the approvalId and ask them to run `agentgate approve <approvalId>` in a terminal,
then call run_command again with exactly the same command and cwd; that retry runs once.
For verify_action, call again with exactly the same action, resource and attributes.
To wait for the human instead, pass wait_seconds to run_command (it runs once approved), or
call wait_for_approval with the approvalId, then retry.
When a result has allowed=false and approvalRequired=false, the action is denied: do not retry."""


# --------------------------------------------------------------------------- tool bodies


def _error(e: AgentgateError) -> dict[str, Any]:
    return {"allowed": False, "approvalRequired": False, "approvalId": None,
            "reason": e.message, "hint": e.hint, "error": e.kind, "exitCode": e.exit_code}


def _internal(e: Exception) -> dict[str, Any]:
    """A bug: logged, and answered as a refusal (nothing ran)."""
    log = errorlog.record(e)
    return {"allowed": False, "approvalRequired": False, "approvalId": None,
            "reason": f"internal error: {type(e).__name__}: {e} (nothing was run)",
            "hint": f"details in {log}" if log else None, "error": "internal_error",
            "exitCode": EXIT_INTERNAL}


def _note_blocked(agent: str, subject: Subject | None, answer: dict[str, Any]) -> dict[str, Any]:
    """A fail-closed refusal (``answer`` from :func:`_error` or :func:`_internal`) leaves a
    ``blocked`` line in the audit log, with the fix for the human; best effort. Returns it."""
    from ..backend import record_blocked
    from ..paths import StatePaths

    fix = f" Fix: {answer['hint']}" if answer.get("hint") else ""
    with suppress(Exception):  # the refusal stands whether or not it could be logged
        record_blocked(StatePaths.default(), subject, agent,
                       AgentgateError(f"{answer['reason']}{fix}"))
    return answer


def _subject_of(command: list[str] | str, cwd: str | None, base: Path) -> Subject | None:
    """The subject a refused ``run_command`` was about, when it has one."""
    if command_problem(command) is not None:
        return None
    return command_subject(command, str(base / cwd) if cwd else str(base))


def _decision(outcome: Outcome) -> dict[str, Any]:
    d = outcome.to_dict()
    d["message"] = outcome.message()
    return d


def _workdir(cwd: str | None, base: Path) -> Path:
    where = (base / cwd).resolve() if cwd else base
    if not where.is_dir():
        raise UsageError(f"cwd {where} is not a directory")
    return where


def _cannot_start(argv: list[str], where: Path, env: dict[str, str]) -> AgentgateError | None:
    """What :func:`run_captured` (subprocess, searching ``env``'s PATH from ``where``) would
    say of a program that cannot start, asked before an approved grant is used up."""
    res = startable(argv[0], env.get("PATH", os.defpath), cwd=str(where), first_error=True)
    return None if res is None else CannotStart(str(res.error), exit_code=res.exit_code)


class _Plan(Record):
    """A gated run decided but not yet recorded: the decision is made in the server's main
    thread, where the policy's regex time budget can be armed (policy.regexes); recording it
    (which may wait for the ledger lock) and running the command happen in a worker thread."""

    gate: AnyGate
    subject: Subject
    evaluation: Evaluation
    argv: list[str]
    where: Path
    env: dict[str, str]


def plan_run(gate_factory: GateFactory, base: Path, command: list[str] | str,
             cwd: str | None) -> _Plan | dict[str, Any]:
    """Decide a ``run_command`` call (in the calling thread); an answer dict on any error."""
    try:
        where = _workdir(cwd, base)
        problem = command_problem(command)
        if problem is not None:
            raise UsageError(problem)
        subject = command_subject(command, str(where))
        argv = ["/bin/sh", "-c", subject.argv[0]] if subject.kind == "script" else list(subject.argv)
        gate = gate_factory(where)
        return _Plan(gate, subject, gate.evaluate(subject), argv, where, gated_env())
    except AgentgateError as e:
        return _error(e)
    except Exception as e:  # a bug: nothing ran
        return _internal(e)


def run_planned(plan: _Plan, agent: str, timeout: float, wait: float = 0.0) -> dict[str, Any]:
    """Record a decided ``run_command`` call and run it if allowed (blocking); held, it waits up
    to ``wait`` seconds for a human's decision (agentgate.waiting), then runs once approved."""
    gate, where, env, argv = plan.gate, plan.where, plan.env, plan.argv
    try:
        outcome = gate.authorize(plan.subject, agent, evaluation=plan.evaluation,
                                 startable=lambda: _cannot_start(argv, where, env))
    except AgentgateError as e:
        return _note_blocked(agent, plan.subject, _error(e))
    except Exception as e:  # a bug: nothing ran
        return _note_blocked(agent, plan.subject, _internal(e))
    if wait > 0 and outcome.approval_required:
        try:
            outcome = until_decided(gate, outcome, lambda: gate.authorize(
                plan.subject, agent, evaluation=plan.evaluation,
                startable=lambda: _cannot_start(argv, where, env)), min(wait, MAX_WAIT))
        except AgentgateError as e:
            return _note_blocked(agent, plan.subject, _error(e))
        except Exception as e:  # a bug: nothing ran
            return _note_blocked(agent, plan.subject, _internal(e))
    result = _decision(outcome)
    if not outcome.allowed:
        return result
    ran = run_captured(argv, where, env, max(1.0, float(timeout)), MAX_OUTPUT_BYTES)
    result.update({"exitCode": ran.exit_code, "stdout": ran.stdout.text(),
                   "stderr": ran.stderr.text(), "stdoutTruncated": ran.stdout.truncated,
                   "stderrTruncated": ran.stderr.truncated, "timedOut": ran.timed_out})
    if ran.error:
        result["error"] = ran.error
    try:
        gate.record_exit(outcome, ran.exit_code, agent)
    except AgentgateError as e:
        result["warning"] = f"the command ran but its exit could not be logged: {e.message}"
    except Exception as e:  # a bug, after the command ran: say so, never "not run"
        log = errorlog.record(e)
        result["warning"] = (f"the command ran but its exit could not be logged: internal error: "
                             f"{type(e).__name__}: {e}" + (f" (details in {log})" if log else ""))
    return result


def run_command_tool(gate_factory: GateFactory, agent: str, base: Path,
                     command: list[str] | str, cwd: str | None, timeout: float) -> dict[str, Any]:
    """Gate, then run: the whole body of the ``run_command`` tool, in one thread (blocking)."""
    plan = plan_run(gate_factory, base, command, cwd)
    if isinstance(plan, dict):
        return _note_blocked(agent, _subject_of(command, cwd, base), plan)
    return run_planned(plan, agent, timeout)


def plan_action(gate_factory: GateFactory, base: Path, action: str, resource: str | None,
                attributes: object = None,
                agent: str | None = None) -> tuple[AnyGate, Subject, Evaluation] | dict[str, Any]:
    """Decide a ``verify_action`` call (in the calling thread); an answer dict on any error."""
    if not action.strip():
        return _error(UsageError("the action name is empty"))
    try:
        subject = action_subject(action, resource, str(base), attributes)
        gate = gate_factory(base)
        return gate, subject, gate.evaluate(subject, agent)
    except AgentgateError as e:
        return _error(e)
    except Exception as e:
        return _internal(e)


def record_action(gate: AnyGate, subject: Subject, evaluation: Evaluation, agent: str) -> dict[str, Any]:
    """Record a decided ``verify_action`` call (blocking: may wait for the ledger lock)."""
    try:
        outcome = gate.authorize(subject, agent, evaluation=evaluation)
    except AgentgateError as e:
        return _note_blocked(agent, subject, _error(e))
    except Exception as e:
        return _note_blocked(agent, subject, _internal(e))
    d = _decision(outcome)
    d.update({"action": subject.argv[0], "resource": subject.argv[1] if len(subject.argv) > 1 else None,
              "attributes": dict(subject.attributes)})
    return d


def verify_action_tool(gate_factory: GateFactory, agent: str, base: Path, action: str,
                       resource: str | None, attributes: object = None) -> dict[str, Any]:
    planned = plan_action(gate_factory, base, action, resource, attributes, agent)
    if isinstance(planned, dict):
        return _note_blocked(agent, action_subject(action, resource, str(base)), planned)
    gate, subject, evaluation = planned
    return record_action(gate, subject, evaluation, agent)


_NEXT = {
    PENDING: "waiting for a human to run `agentgate approve {id}`",
    APPROVED: "approved: retry the very same command now; the grant allows one run",
}


def wait_for_approval_tool(gate_factory: GateFactory, base: Path, request_id: str,
                           timeout: float) -> dict[str, Any]:
    """Wait for a human's decision on ``request_id`` (blocking), then its status."""
    try:
        gate = gate_factory(base)
        until_not_pending(gate, request_id, min(max(0.0, float(timeout)), MAX_WAIT))
    except AgentgateError as e:
        return {"id": request_id, "status": "unknown", "reason": e.message, "hint": e.hint}
    except Exception as e:
        return _internal(e)
    return approval_status_tool(gate_factory, base, request_id)


def approval_status_tool(gate_factory: GateFactory, base: Path, request_id: str) -> dict[str, Any]:
    try:
        r = gate_factory(base).get(request_id).request  # expired ones as expired
    except AgentgateError as e:
        return {"id": request_id, "status": "unknown", "reason": e.message, "hint": e.hint}
    except Exception as e:
        log = errorlog.record(e)
        return {"id": request_id, "status": "unknown",
                "reason": f"internal error: {type(e).__name__}: {e}",
                "hint": f"details in {log}" if log else None}
    return {"id": r.id, "status": r.status, "command": list(r.argv), "kind": r.kind, "cwd": r.cwd,
            "attributes": dict(r.attributes or {}),
            "rule": r.rule, "reason": r.reason, "agent": r.agent,
            "createdAt": now_iso(r.created_at), "expiresAt": now_iso(r.expires_at),
            "decidedBy": r.decided_by, "humanReason": r.human_reason,
            "next": _NEXT.get(r.status, "").format(id=r.id) or None}


# --------------------------------------------------------------------------- the server


def caller(agent: str | None, ctx: Any) -> str:
    """Who is asking: the name ``agentgate mcp`` was given (``--agent``, ``AGENTGATE_AGENT``),
    else the client's own name from its MCP handshake (``mcp:claude-code``), else ``mcp``: so
    that two unnamed clients do not share one agent's grants. A label, like every agent name."""
    if agent:
        return agent
    try:
        params = ctx.session.client_params
    except (AttributeError, ValueError):  # no context, or none outside a request
        return "mcp"
    info = getattr(params, "client_info", None) or getattr(params, "clientInfo", None)  # mcp 2, 1
    name = getattr(info, "name", None)
    return f"mcp:{name.strip()[:100]}" if isinstance(name, str) and name.strip() else "mcp"


def build_server(gate_factory: GateFactory, agent: str | None, base: Path | None = None) -> Any:
    """An MCP server exposing the four tools. No approve or deny tool, on purpose. ``agent``:
    the name it was given, if any (see :func:`caller`)."""
    home = (base or Path.cwd()).resolve()
    server = _Server("agentgate", instructions=INSTRUCTIONS)

    @server.tool()
    async def run_command(ctx: Context, command: list[str] | str, cwd: str | None = None,
                          timeout_seconds: float = DEFAULT_TIMEOUT,
                          wait_seconds: float = 0.0) -> dict[str, Any]:
        """Run a command if agentgate's policy allows it; otherwise block it.

        `command` is an argv list (run directly, no shell) or one shell command string (run with
        /bin/sh -c only once the gate allowed that exact string). `cwd` defaults to the server's
        directory. Returns the decision (allowed, approvalRequired, approvalId, reason, rule)
        and, when it ran, exitCode, stdout and stderr (each bounded; stdoutTruncated /
        stderrTruncated tell when bytes were dropped). When approvalRequired is true: STOP, ask
        the user to run `agentgate approve <approvalId>`, then retry exactly the same command
        and cwd. With `wait_seconds` (at most 3600), a held command waits that long for the
        human's decision and runs once approved.
        """
        who = caller(agent, ctx)
        plan = plan_run(gate_factory, home, command, cwd)  # here: the regex budget needs it
        if isinstance(plan, dict):
            return _note_blocked(who, _subject_of(command, cwd, home), plan)
        return await asyncio.to_thread(run_planned, plan, who, timeout_seconds,
                                       max(0.0, float(wait_seconds)))

    @server.tool()
    async def verify_action(ctx: Context, action: str, resource: str | None = None,
                            attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """Checkpoint for a non-shell action (e.g. action="payment", resource="acme",
        attributes={"amount": 4000, "currency": "USD"}): returns allowed, approvalRequired,
        approvalId and reason. Attribute values are strings, numbers or booleans. Proceed only
        when allowed is true; after a human approves, call again with exactly the same action,
        resource and attributes: that call returns allowed and uses the approval up."""
        who = caller(agent, ctx)
        planned = plan_action(gate_factory, home, action, resource, attributes, who)
        if isinstance(planned, dict):
            return _note_blocked(who, action_subject(action, resource, str(home)), planned)
        gate, subject, evaluation = planned
        return await asyncio.to_thread(record_action, gate, subject, evaluation, who)

    @server.tool()
    async def approval_status(id: str) -> dict[str, Any]:
        """Status of an approval request (pending, approved, denied, consumed, expired)."""
        return await asyncio.to_thread(approval_status_tool, gate_factory, home, id)

    @server.tool()
    async def wait_for_approval(id: str, timeout_seconds: float = 60.0) -> dict[str, Any]:
        """Wait up to `timeout_seconds` (at most 3600) for a human to decide the request `id`;
        returns its status as approval_status does. Approved: retry the very same command now
        (it runs once). Still pending: wait again or stop. Nothing is approved or run here."""
        return await asyncio.to_thread(wait_for_approval_tool, gate_factory, home, id,
                                       timeout_seconds)

    return server


def serve(gate_factory: GateFactory, agent: str | None) -> None:
    build_server(gate_factory, agent).run("stdio")
