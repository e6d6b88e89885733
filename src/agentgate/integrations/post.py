"""The agent's report after a tool call (Claude Code's ``PostToolUse`` and
``PostToolUseFailure``, Codex's ``PostToolUse``, Gemini CLI's ``AfterTool``): a ``ran`` audit
event saying that a call agentgate gates ran and how it ended, as the agent reports it, linked
to the decision for that call (the agent's session and tool-use id; the grant it used, if any:
agentgate.integrations.reports closes that grant's "awaiting report" record).

What each agent reports (read from its source; docs/<agent>.md):

- Claude Code: ``PostToolUse`` with ``tool_response`` (the Bash tool's has ``interrupted``)
  when the tool succeeded; ``PostToolUseFailure`` with ``error`` (for a shell command, first
  ``Exit code N``) and ``is_interrupt`` when it failed; both with ``tool_use_id``.
- Codex: ``PostToolUse`` with ``tool_use_id`` and ``tool_response``, for Bash the output text
  alone: it ran, with no exit status.
- Gemini CLI: ``AfterTool`` with ``tool_response`` ``{llmContent, returnDisplay, error}``; a
  shell command's ``llmContent`` ends with ``Exit Code: N`` when that is not 0, and says it
  was cancelled when it was. No tool-use id: the call is its session and what it does.

Never the output: the event holds what was run, how it ended and the ids. The report changes
nothing for the agent: the answer is always the agent's "no opinion" (exit 0), fast, and a
failure to record it goes to the error log (agentgate.errorlog), never to the agent. On every
tool call, so as light as the pre-tool hook (tests/test_entry.py).
"""

from __future__ import annotations

import os
import time

from ..jsontext import loads
from .agents import AGENTS, PASS, Reply, reply

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from .agents import Agent
    from .hooks import ToolCall

SUCCEEDED, FAILED, INTERRUPTED, UNKNOWN = "succeeded", "failed", "interrupted", "unknown"
_ID_CHARS = 200  # an id longer than this is clipped in the audit event


def post_event(agent: str, raw: bytes) -> dict[str, Any] | None:
    """The hook input, when it is ``agent``'s post-tool event; else None (the pre-tool hook
    answers it, and fails closed on what it cannot read)."""
    spec = AGENTS.get(agent)
    if spec is None or not spec.post_events:
        return None
    try:
        data = loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and data.get("hook_event_name") in (*spec.post_events,
                                                                   *spec.end_events):
        return data
    return None


def quiet(agent: str) -> Reply:
    """The agent's "no opinion": exit 0, and nothing or ``{}`` on stdout."""
    spec = AGENTS.get(agent)
    return Reply("", "", 0) if spec is None else reply(spec, PASS)


def report(agent: str, data: dict[str, Any], fallback_cwd: str) -> Reply:
    """Record the agent's report ``data`` (see :func:`post_event`); always :func:`quiet`."""
    try:
        record(agent, data, fallback_cwd)
    except Exception as e:  # never the agent's problem: the error log has it
        try:
            from .. import errorlog

            errorlog.record(e)
        except Exception:  # even that failed: nothing to be done that helps the agent
            pass
    return quiet(agent)


def record(agent: str, data: dict[str, Any], fallback_cwd: str) -> dict[str, Any] | None:
    """Append the ``ran`` event for the report ``data``; the event, or None when the call is
    not one agentgate gates. In protected mode the service records it (the report is sent to
    it: :func:`_to_service`). Raises on what cannot be read or written."""
    from ..backend import protected_quietly

    spec = AGENTS[agent]
    if protected_quietly():
        return _to_service(agent, spec, data, fallback_cwd)
    from ..paths import StatePaths
    from .hooks import call_key, parse_data

    if data.get("hook_event_name") in spec.end_events:
        return _turn_ended(agent, data, StatePaths.default())
    call = parse_data(spec, data, fallback_cwd)
    if call.subject is None and call.path is None and not call.paths:
        return None
    outcome, exit_code = how_it_ended(spec, data)
    session, use = _id(data.get("session_id")), _id(data.get("tool_use_id"))
    paths = StatePaths.default()
    key = call_key(call, session)
    decided = None
    if call.call_id is not None:
        from .calls import decided_at
        from .reports import first_report

        if not first_report(paths.root, agent, call.call_id):
            return None

        decided = decided_at(paths.root, agent, call.call_id)
    took = data.get("duration_ms")
    if decided is None and isinstance(took, int | float) and not isinstance(took, bool):
        decided = time.time() - took / 1000
    from .reports import close, no_report_event

    closed = close(paths.root, agent, key, session, outcome, exit_code, decided)
    event: dict[str, Any] = {"event": "ran", **_subject_fields(call), "agent": agent,
                             "tool": call.tool, "report": data.get("hook_event_name"),
                             "outcome": outcome}
    if exit_code is not None:
        event["exit_code"] = exit_code
    event.update({k: v for k, v in (("id", closed.grant), ("session", session),
                                    ("tool_use_id", use)) if v is not None})
    _append(paths, [event, *(no_report_event(r) for r in closed.overdue)])
    return event


def _to_service(agent: str, spec: Agent, data: dict[str, Any],
                fallback_cwd: str) -> dict[str, Any] | None:
    """Protected mode: send the report to the service, which keeps the awaiting records and
    writes the ``ran`` and ``no_report`` events in its own audit log (this user cannot write
    either). What was sent, or None when there is nothing to report."""
    from ..remote import RemoteGate
    from ..system import client_config
    from .hooks import call_key, parse_data, report_key

    config = client_config()
    if config is None:
        return None
    session = _id(data.get("session_id"))
    message: dict[str, Any] = {"agent": agent, "session": session}
    if data.get("hook_event_name") in spec.end_events:
        if session is None:
            return None
        message["end"] = True
    else:
        call = parse_data(spec, data, fallback_cwd)
        if call.subject is None and call.path is None and not call.paths:
            return None
        outcome, exit_code = how_it_ended(spec, data)
        key = call_key(call, session)
        took = data.get("duration_ms")
        message.update({"subject": _subject_fields(call), "tool": call.tool,
                        "event": data.get("hook_event_name"), "outcome": outcome,
                        "exit_code": exit_code, "tool_use_id": _id(data.get("tool_use_id")),
                        "report": None if key is None else report_key(agent, key),
                        "duration_ms": int(took) if isinstance(took, int | float)
                        and not isinstance(took, bool) and 0 <= took < 10**10 else None})
    message = {k: v for k, v in message.items() if v is not None}
    RemoteGate(config, fallback_cwd).send_report(message)
    return message


def _turn_ended(agent: str, data: dict[str, Any], paths: Any) -> dict[str, Any] | None:
    """The agent's turn is over (Claude Code's Stop): every grant used in it whose call was not
    reported is overdue now; a ``no_report`` event for each. None when there was none."""
    session = _id(data.get("session_id"))
    if session is None:
        return None
    from .reports import end_turn, no_report_event

    overdue = end_turn(paths.root, agent, session)
    if not overdue:
        return None
    events = [no_report_event(r) for r in overdue]
    _append(paths, events)
    return events[0]


def _id(value: Any) -> str | None:
    return value[:_ID_CHARS] if isinstance(value, str) and value else None


def _subject_fields(call: ToolCall) -> dict[str, Any]:
    from ..paths import pure

    subject = call.subject
    if subject is None:
        from ..subjects import action_subject

        written = call.path if call.path is not None else call.paths[0]
        subject = action_subject(call.tool, pure(os.path.join(call.cwd, written)), call.cwd)
    fields: dict[str, Any] = {"kind": subject.kind, "argv": list(subject.argv),
                              "cwd": subject.cwd}
    if subject.attributes:
        fields["attributes"] = dict(subject.attributes)
    return fields


def _append(paths: Any, events: list[dict[str, Any]]) -> None:
    from ..audit import AuditLog
    from ..ledger import Ledger, current_user, hostname

    who = {"user": current_user(), "host": hostname(), "pid": os.getpid()}
    for event in events:
        event.update(who)
    ledger = Ledger(paths, lock_timeout=2.0)  # the agent waits for this answer: not long
    with ledger.lock():
        AuditLog(paths.audit, confirming=(paths.ledger, paths.trust)).append(events,
                                                                             durable=False)


# --------------------------------------------------------------------------- how it ended


def how_it_ended(agent: Agent, data: dict[str, Any]) -> tuple[str, int | None]:
    """(outcome, exit code) as the agent reports them: the exit code only where it says it."""
    event = data.get("hook_event_name")
    if agent.name == "gemini":
        return _gemini(data.get("tool_response"))
    if event == "PostToolUseFailure":  # Claude Code
        if data.get("is_interrupt") is True:
            return INTERRUPTED, None
        return FAILED, _leading_code(data.get("error"), "Exit code ")
    response = data.get("tool_response")
    if agent.name == "claude-code":
        if isinstance(response, dict) and response.get("interrupted") is True:
            return INTERRUPTED, None
        return SUCCEEDED, None
    if isinstance(response, dict):  # a Codex that reports an object: its exit code, if any
        code = response.get("exit_code")
        if isinstance(code, int) and not isinstance(code, bool):
            return (SUCCEEDED if code == 0 else FAILED), code
    return UNKNOWN, None  # Codex reports the output alone: it ran, how it ended is not said


def _leading_code(text: Any, prefix: str) -> int | None:
    """N of a first line ``<prefix>N``."""
    if not isinstance(text, str) or not text.startswith(prefix):
        return None
    digits = text[len(prefix):].split("\n", 1)[0].strip()
    return int(digits) if digits.isdigit() and digits.isascii() and len(digits) < 10 else None


_GEMINI_CANCELLED = ("Command was cancelled", "Command was automatically cancelled")
_GEMINI_WRAP = ("<untrusted_context>", "</untrusted_context>")  # its wrapUntrusted
# The sections Gemini CLI writes after a command's output, last first (Exit Code only when not 0)
_GEMINI_AFTER = ("Process Group PGID: ", "Background PIDs: ", "Signal: ")


def _gemini(response: Any) -> tuple[str, int | None]:
    if not isinstance(response, dict):
        return UNKNOWN, None
    text = response.get("llmContent")
    lines = (text if isinstance(text, str) else "").strip().splitlines()
    if lines and lines[0] == _GEMINI_WRAP[0]:
        lines = lines[1:]
    if lines and lines[-1] == _GEMINI_WRAP[1]:
        lines = lines[:-1]
    if lines and lines[0].startswith(_GEMINI_CANCELLED):
        return INTERRUPTED, None
    code = None
    for line in reversed(lines):  # only the sections after the output, never the output
        if line.startswith(_GEMINI_AFTER):
            continue
        code = _leading_code(line, "Exit Code: ")
        break
    if code is not None:
        return FAILED, code
    if response.get("error"):
        return FAILED, None
    return SUCCEEDED, None
