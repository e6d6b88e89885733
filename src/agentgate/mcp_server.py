"""``agentgate mcp``: the gate as an MCP server on stdio (official ``mcp`` Python SDK).

Tools: ``run_command`` (a gated run with bounded, captured output), ``verify_action`` (the
checkpoint for non-shell actions) and ``approval_status``. There is deliberately no tool to
approve or deny: approvals come from a human at a terminal, out of band, never from the agent
the gate is holding back.

A command string runs with ``/bin/sh -c`` only after the gate has allowed that exact string (it is
analysed and fingerprinted as a script); an argv list runs directly, without a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:  # mcp >= 2 renamed FastMCP to MCPServer
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # pragma: no cover - mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef,attr-defined]

from .audit import now_iso
from .errors import AgentgateError, UsageError
from .gate import GATED_ENV, Gate, Outcome, Subject
from .ledger import APPROVED, PENDING

MAX_OUTPUT_BYTES = 64 * 1024  # per stream, returned to the agent; the rest is dropped (marked)
MAX_COMMAND_CHARS = 100_000
DEFAULT_TIMEOUT = 600.0

GateFactory = Callable[[Path], Gate]

INSTRUCTIONS = """\
agentgate is a human-in-the-loop checkpoint. Run shell commands through `run_command`.
When a result has approvalRequired=true: STOP. Do not try another way to do the same thing.
Tell the user the approvalId and ask them to run `agentgate approve <approvalId>` in a terminal,
then call run_command again with exactly the same command and cwd; that retry runs once.
When a result has allowed=false and approvalRequired=false, the action is denied: do not retry."""


# --------------------------------------------------------------------------- bounded capture


class _Capture:
    """Keeps the first and last bytes of a stream, and counts what was dropped between them."""

    def __init__(self, limit: int):
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        dropped = self.total - len(self.head) - len(self.tail)
        return (self.head.decode("utf-8", "replace")
                + f"\n[... agentgate: {dropped} bytes truncated ...]\n"
                + self.tail.decode("utf-8", "replace"))


def _drain(stream: IO[bytes], sink: _Capture) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := stream.read(65536):
            sink.feed(chunk)


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: _Capture
    stderr: _Capture
    timed_out: bool = False
    error: str | None = None


def run_captured(argv: list[str], cwd: Path, timeout: float) -> Ran:
    """Run ``argv`` (no shell added) with stdin closed; bounded output; 124 on timeout."""
    out, err = _Capture(MAX_OUTPUT_BYTES), _Capture(MAX_OUTPUT_BYTES)
    env = dict(os.environ)
    env[GATED_ENV] = "1"
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError:
        return Ran(127, out, err, error=f"command not found: {argv[0]}")
    except PermissionError:
        return Ran(126, out, err, error=f"permission denied: {argv[0]}")
    except OSError as e:
        return Ran(126, out, err, error=f"cannot execute {argv[0]}: {e.strerror or e}")
    assert proc.stdout is not None and proc.stderr is not None
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
    for t in readers:
        t.start()
    timed_out = False
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = 124
    for t in readers:
        t.join(timeout=5)
    code = 128 - code if code < 0 else code
    return Ran(code, out, err, timed_out=timed_out)


# --------------------------------------------------------------------------- tool bodies


def _error(e: AgentgateError) -> dict[str, Any]:
    return {"allowed": False, "approvalRequired": False, "approvalId": None,
            "reason": e.message, "hint": e.hint, "error": e.kind, "exitCode": e.exit_code}


def _decision(outcome: Outcome) -> dict[str, Any]:
    d = outcome.to_dict()
    d["message"] = outcome.message()
    return d


def _subject(command: list[str] | str, cwd: Path) -> Subject:
    if isinstance(command, str):
        if not command.strip():
            raise UsageError("the command is empty")
        if len(command) > MAX_COMMAND_CHARS:
            raise UsageError(f"the command is longer than {MAX_COMMAND_CHARS} characters")
        return Subject("script", (command,), str(cwd))
    if not command or not all(isinstance(w, str) for w in command):
        raise UsageError("the command must be a non-empty list of strings, or a string")
    return Subject("argv", tuple(command), str(cwd))


def _workdir(cwd: str | None, base: Path) -> Path:
    where = (base / cwd).resolve() if cwd else base
    if not where.is_dir():
        raise UsageError(f"cwd {where} is not a directory")
    return where


def run_command_tool(gate_factory: GateFactory, agent: str, base: Path,
                     command: list[str] | str, cwd: str | None, timeout: float) -> dict[str, Any]:
    """Gate, then run: the whole body of the ``run_command`` tool (blocking)."""
    try:
        where = _workdir(cwd, base)
        subject = _subject(command, where)
        gate = gate_factory(where)
        outcome = gate.authorize(subject, agent)
    except AgentgateError as e:
        return _error(e)
    result = _decision(outcome)
    if not outcome.allowed:
        return result
    argv = ["/bin/sh", "-c", subject.argv[0]] if subject.kind == "script" else list(subject.argv)
    ran = run_captured(argv, where, max(1.0, float(timeout)))
    result.update({"exitCode": ran.exit_code, "stdout": ran.stdout.text(),
                   "stderr": ran.stderr.text(), "stdoutTruncated": ran.stdout.truncated,
                   "stderrTruncated": ran.stderr.truncated, "timedOut": ran.timed_out})
    if ran.error:
        result["error"] = ran.error
    try:
        gate.record_exit(outcome, ran.exit_code, agent)
    except AgentgateError as e:
        result["warning"] = f"the command ran but its exit could not be logged: {e.message}"
    return result


def verify_action_tool(gate_factory: GateFactory, agent: str, base: Path, action: str,
                       resource: str | None) -> dict[str, Any]:
    if not action.strip():
        return _error(UsageError("the action name is empty"))
    argv = (action,) if resource is None else (action, resource)
    try:
        outcome = gate_factory(base).authorize(Subject("action", argv, str(base)), agent)
    except AgentgateError as e:
        return _error(e)
    d = _decision(outcome)
    d.update({"action": action, "resource": resource})
    return d


_NEXT = {
    PENDING: "waiting for a human to run `agentgate approve {id}`",
    APPROVED: "approved: retry the very same command now; the grant allows one run",
}


def approval_status_tool(gate_factory: GateFactory, base: Path, request_id: str) -> dict[str, Any]:
    try:
        view = gate_factory(base).get(request_id)
    except AgentgateError as e:
        return {"id": request_id, "status": "unknown", "reason": e.message, "hint": e.hint}
    r = view.request
    status = r.status
    if status in (PENDING, APPROVED) and r.expires_at <= view.now:
        status = "expired"
    return {"id": r.id, "status": status, "command": list(r.argv), "kind": r.kind, "cwd": r.cwd,
            "rule": r.rule, "reason": r.reason, "agent": r.agent,
            "createdAt": now_iso(r.created_at), "expiresAt": now_iso(r.expires_at),
            "decidedBy": r.decided_by, "humanReason": r.human_reason,
            "next": _NEXT.get(status, "").format(id=r.id) or None}


# --------------------------------------------------------------------------- the server


def build_server(gate_factory: GateFactory, agent: str, base: Path | None = None) -> Any:
    """An MCP server exposing the three tools. No approve or deny tool, on purpose."""
    home = (base or Path.cwd()).resolve()
    server = _Server("agentgate", instructions=INSTRUCTIONS)

    @server.tool()
    async def run_command(command: list[str] | str, cwd: str | None = None,
                          timeout_seconds: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Run a command if agentgate's policy allows it; otherwise block it.

        `command` is an argv list (run directly, no shell) or one shell command string (run with
        /bin/sh -c only once the gate allowed that exact string). `cwd` defaults to the server's
        directory. Returns the decision (allowed, approvalRequired, approvalId, reason, rule)
        and, when it ran, exitCode, stdout and stderr (each bounded; stdoutTruncated /
        stderrTruncated tell when bytes were dropped). When approvalRequired is true: STOP, ask
        the user to run `agentgate approve <approvalId>`, then retry exactly the same command
        and cwd.
        """
        return await asyncio.to_thread(run_command_tool, gate_factory, agent, home, command,
                                       cwd, timeout_seconds)

    @server.tool()
    async def verify_action(action: str, resource: str | None = None) -> dict[str, Any]:
        """Checkpoint for a non-shell action (e.g. action="deploy_production",
        resource="vercel.com"): returns allowed, approvalRequired, approvalId and reason.
        Proceed only when allowed is true; an approved request is used up by the call that
        returns allowed."""
        return await asyncio.to_thread(verify_action_tool, gate_factory, agent, home, action,
                                       resource)

    @server.tool()
    async def approval_status(id: str) -> dict[str, Any]:
        """Status of an approval request (pending, approved, denied, consumed, expired)."""
        return await asyncio.to_thread(approval_status_tool, gate_factory, home, id)

    return server


def serve(gate_factory: GateFactory, agent: str) -> None:
    build_server(gate_factory, agent).run("stdio")
