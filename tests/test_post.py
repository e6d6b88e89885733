"""The agent's report after a tool call: a `ran` audit event linked to the call's decision, and a
visible record when a grant a hook call used up was never reported as run.

The payloads are each agent's own (read from its source: Claude Code's bundle builds
PostToolUse/PostToolUseFailure with ``tool_response`` / ``error`` + ``is_interrupt``; Codex's
post-tool-use.command.input schema has ``tool_use_id`` and a ``tool_response`` that is the
output text for Bash; Gemini CLI's AfterTool has ``tool_response`` ``{llmContent,
returnDisplay, error}`` and no tool-use id). End to end through the installed console script.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ag

from agentgate.integrations import post, reports
from agentgate.integrations.agents import AGENTS

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file")
HELD = "deployer --prod"
_IDS = itertools.count(1)


def pre(agent: str, command: str, cwd: Path, use: str | None, session: str = "s-1") -> dict[str, Any]:
    tool = "run_shell_command" if agent == "gemini" else "Bash"
    event = "BeforeTool" if agent == "gemini" else "PreToolUse"
    body: dict[str, Any] = {"session_id": session, "cwd": str(cwd), "hook_event_name": event,
                            "tool_name": tool, "tool_input": {"command": command}}
    if use is not None:
        body["tool_use_id"] = use
    return body


def after(agent: str, call: dict[str, Any], **report: Any) -> dict[str, Any]:
    """The agent's post-tool event for ``call`` (a :func:`pre` body)."""
    event = {"claude-code": "PostToolUse", "codex": "PostToolUse", "gemini": "AfterTool"}[agent]
    body = {**call, "hook_event_name": event, **report}
    if "hook_event_name" in report:
        body["hook_event_name"] = report["hook_event_name"]
    return body


def hook(agent: str, payload: dict[str, Any], env: dict[str, str | None] | None = None) -> Any:
    return ag("hook", agent, input=json.dumps(payload), env=env)


def audit(state: Path, event: str | None = None) -> list[dict[str, Any]]:
    path = state / "audit.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [e for e in lines if event is None or e["event"] == event]


def held_then_approved(agent: str, cwd: Path, session: str = "s-1") -> str:
    """A held call, approved by the human: the request id."""
    r = hook(agent, pre(agent, HELD, cwd, f"u-{next(_IDS)}", session))
    [rid] = [line for line in json.loads(ag("pending", "--json").stdout)]
    assert "apr_" in r.stdout + r.stderr
    assert ag("approve", rid["id"], "--yes").returncode == 0
    return str(rid["id"])


def quiet(agent: str, r: Any) -> None:
    """The agent's "no opinion": exit 0, nothing on stderr, and nothing (or {}) on stdout."""
    assert r.returncode == 0 and r.stderr == "", r
    assert r.stdout == ("{}\n" if agent == "gemini" else "")


# --------------------------------------------------------------------------- how it ended


@pytest.mark.parametrize(("agent", "report", "expected"), [
    ("claude-code", {"tool_response": {"stdout": "ok", "stderr": "", "interrupted": False}},
     ("succeeded", None)),
    ("claude-code", {"tool_response": {"stdout": "", "interrupted": True}}, ("interrupted", None)),
    ("claude-code", {"hook_event_name": "PostToolUseFailure", "error": "Exit code 3\nboom",
                     "is_interrupt": False}, ("failed", 3)),
    ("claude-code", {"hook_event_name": "PostToolUseFailure", "error": "Exit code 130",
                     "is_interrupt": True}, ("interrupted", None)),
    ("claude-code", {"hook_event_name": "PostToolUseFailure", "error": "File not read yet",
                     "is_interrupt": False}, ("failed", None)),
    ("codex", {"tool_response": "Exit code: 0\nhello"}, ("unknown", None)),
    ("codex", {"tool_response": {"exit_code": 4}}, ("failed", 4)),
    ("gemini", {"tool_response": {"llmContent": "<untrusted_context>\nOutput: hi\nProcess Group "
                                                "PGID: 7\n</untrusted_context>",
                                  "returnDisplay": "hi"}}, ("succeeded", None)),
    ("gemini", {"tool_response": {"llmContent": "<untrusted_context>\nOutput: no\nExit Code: 2\n"
                                                "Process Group PGID: 7\n</untrusted_context>"}},
     ("failed", 2)),
    ("gemini", {"tool_response": {"llmContent": "<untrusted_context>\nCommand was cancelled by "
                                                "user before it could complete. There was no "
                                                "output before it was cancelled.\n"
                                                "</untrusted_context>"}}, ("interrupted", None)),
    ("gemini", {"tool_response": {"llmContent": "<untrusted_context>\nOutput: Exit Code: 9\n"
                                                "done\nProcess Group PGID: 7\n"
                                                "</untrusted_context>"}}, ("succeeded", None)),
    ("gemini", {"tool_response": {"llmContent": "x", "error": {"message": "no such dir",
                                                               "type": "shell_execute_error"}}},
     ("failed", None)),
])
def test_how_it_ended_is_read_as_each_agent_reports_it(agent: str, report: dict[str, Any],
                                                       expected: tuple[str, int | None]) -> None:
    body = after(agent, pre(agent, "ls", Path("/"), "u"), **report)
    assert post.how_it_ended(AGENTS[agent], body) == expected


def test_only_an_agents_own_post_event_is_a_report() -> None:
    claude = after("claude-code", pre("claude-code", "ls", Path("/"), "u"), tool_response={})
    assert post.post_event("claude-code", json.dumps(claude).encode()) is not None
    assert post.post_event("gemini", json.dumps(claude).encode()) is None  # AfterTool only
    assert post.post_event("cursor", json.dumps(claude).encode()) is None  # no post event
    for pre_tool in (pre("claude-code", "ls", Path("/"), "u"), {"tool_name": "Bash"}):
        assert post.post_event("claude-code", json.dumps(pre_tool).encode()) is None
    assert post.post_event("claude-code", b"\xff not json") is None  # the pre hook denies it


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("agent", ["claude-code", "codex", "gemini"])
def test_an_approved_retry_that_ran_is_recorded_with_how_it_ended(agent: str, in_tmp_cwd: Path,
                                                                  state_dir: Path) -> None:
    rid = held_then_approved(agent, in_tmp_cwd)
    call = pre(agent, HELD, in_tmp_cwd, None if agent == "gemini" else "u-retry")
    r = hook(agent, call)
    assert r.returncode == 0
    assert r.stdout == "" if agent == "codex" else "allowed once by approved grant" in r.stdout
    [consumed] = audit(state_dir, "grant_consumed")
    assert consumed["session"] == "s-1"
    shown = json.loads(ag("show", "--json", rid).stdout)
    assert [u["status"] for u in shown["hookUses"]] == ["awaiting report"]
    report = {"claude-code": {"hook_event_name": "PostToolUseFailure", "error": "Exit code 3",
                              "is_interrupt": False, "duration_ms": 40},
              "codex": {"tool_response": "deployed\n"},
              "gemini": {"tool_response": {"llmContent": "Output: no\nExit Code: 3"}}}[agent]
    quiet(agent, hook(agent, after(agent, call, **report)))
    [ran] = audit(state_dir, "ran")
    assert ran["id"] == rid and ran["agent"] == agent and ran["session"] == "s-1"
    assert ran["argv"] == consumed["argv"] and ran["cwd"] == consumed["cwd"]
    if agent == "codex":  # Codex reports the output alone: no exit status is claimed
        assert ran["outcome"] == "unknown" and "exit_code" not in ran
        assert ran["tool_use_id"] == consumed["tool_use_id"] == "u-retry"
    else:
        assert ran["outcome"] == "failed" and ran["exit_code"] == 3
    assert "deployed" not in json.dumps(ran)  # never the output
    shown = json.loads(ag("show", "--json", rid).stdout)
    [use] = shown["hookUses"]
    assert use["status"] == "ran" and "reported that it ran" in use["text"]
    text = ag("show", rid).stdout
    assert "reported that it ran" in text and "never reported" not in text
    assert "never reported" not in ag("pending").stdout
    assert ag("log", "verify").returncode == 0


def test_a_consumed_grant_that_never_ran_is_shown_as_never_reported(in_tmp_cwd: Path,
                                                                    state_dir: Path) -> None:
    """The retry used the grant, then (say) a permission rule refused it: no report came. Once
    the agent reports a later call of the same session, `show`, `pending` and their JSON say
    so, and never that it ran or that it did not."""
    rid = held_then_approved("claude-code", in_tmp_cwd)
    assert hook("claude-code", pre("claude-code", HELD, in_tmp_cwd, "u-refused")).returncode == 0
    assert "never reported" not in ag("show", rid).stdout  # not overdue yet: awaiting
    later = pre("claude-code", "echo next", in_tmp_cwd, "u-later")
    assert hook("claude-code", later).returncode == 0
    quiet("claude-code", hook("claude-code", after("claude-code", later,
                                                   tool_response={"stdout": "next"})))
    [ran] = audit(state_dir, "ran")
    assert ran["argv"] == ["echo next"] and "id" not in ran and ran["outcome"] == "succeeded"
    [told] = audit(state_dir, "no_report")  # the log says so too, once
    assert (told["id"], told["tool_use_id"], told["argv"]) == (rid, "u-refused", [HELD])
    assert told["consumed_at"].startswith(audit(state_dir, "grant_consumed")[0]["ts"][:10])
    assert "never reported as run" in ag("log", "--tail", "5").stdout
    again = pre("claude-code", "echo again", in_tmp_cwd, "u-again")
    assert hook("claude-code", again).returncode == 0
    quiet("claude-code", hook("claude-code", after("claude-code", again, tool_response={})))
    assert len(audit(state_dir, "no_report")) == 1
    text = ag("show", rid).stdout
    assert "approved and consumed at" in text and "never reported that it ran" in text
    [use] = json.loads(ag("show", "--json", rid).stdout)["hookUses"]
    assert use["status"] == "no report" and use["toolUseId"] == "u-refused"
    assert "ran" not in {use["status"]} and "did not run" not in use["text"]
    listed = ag("pending")
    assert listed.returncode == 0 and rid in listed.stdout and "never reported" in listed.stdout
    assert json.loads(ag("pending", "--json").stdout) == []  # its JSON lists open requests only
    # A report that comes after all (a slow call) is recorded, and `show` says it ran then.
    late = pre("claude-code", HELD, in_tmp_cwd, "u-refused")
    quiet("claude-code", hook("claude-code", after("claude-code", late, tool_response={})))
    [use] = json.loads(ag("show", "--json", rid).stdout)["hookUses"]
    assert use["status"] == "ran" and [e.get("id") for e in audit(state_dir, "ran")][-1] == rid


def test_the_end_of_the_agents_turn_makes_a_missing_report_overdue(in_tmp_cwd: Path,
                                                                   state_dir: Path) -> None:
    """Claude Code's Stop: every call of the turn has ended, so a grant used in it with no
    report of its call is told at once (and only for that session)."""
    rid = held_then_approved("claude-code", in_tmp_cwd)
    assert hook("claude-code", pre("claude-code", HELD, in_tmp_cwd, "u-refused")).returncode == 0
    other = {"session_id": "s-other", "cwd": str(in_tmp_cwd), "hook_event_name": "Stop",
             "stop_hook_active": False}
    quiet("claude-code", hook("claude-code", other))
    assert audit(state_dir, "no_report") == []
    quiet("claude-code", hook("claude-code", {**other, "session_id": "s-1"}))
    [told] = audit(state_dir, "no_report")
    assert told["id"] == rid and told["why"] == "the agent's turn ended without a report of it"
    [use] = json.loads(ag("show", "--json", rid).stdout)["hookUses"]
    assert use["status"] == "no report"
    quiet("claude-code", hook("claude-code", {**other, "session_id": "s-1"}))
    assert len(audit(state_dir, "no_report")) == 1  # told once


def test_a_report_is_overdue_after_a_time_bound_too(in_tmp_cwd: Path, state_dir: Path) -> None:
    rid = held_then_approved("gemini", in_tmp_cwd)
    assert hook("gemini", pre("gemini", HELD, in_tmp_cwd, None)).returncode == 0
    [use] = reports.uses(str(state_dir), rid)
    assert use["status"] == "awaiting report"
    [late] = reports.uses(str(state_dir), rid, now=time.time() + reports.DUE_S + 1)
    assert late["status"] == "no report" and "minutes" in late["why"]
    assert [u["id"] for u in reports.unreported(str(state_dir), time.time() + reports.DUE_S + 1)] \
        == [rid]


def test_a_second_copy_of_a_report_is_not_recorded_again(in_tmp_cwd: Path,
                                                          state_dir: Path) -> None:
    """Codex runs every copy of a hook it finds: one call, one `ran` event."""
    call = pre("codex", "echo hi", in_tmp_cwd, "u-twice")
    assert hook("codex", call).returncode == 0
    for _ in range(2):
        quiet("codex", hook("codex", after("codex", call, tool_response="hi\n")))
    assert len(audit(state_dir, "ran")) == 1


def test_a_report_for_a_call_agentgate_does_not_gate_records_nothing(state_dir: Path,
                                                                     in_tmp_cwd: Path) -> None:
    read = {"session_id": "s", "tool_use_id": "r", "cwd": str(in_tmp_cwd),
            "hook_event_name": "PostToolUse", "tool_name": "Read",
            "tool_input": {"file_path": "x"}, "tool_response": {}}
    quiet("claude-code", hook("claude-code", read))
    assert audit(state_dir, "ran") == []


def test_a_report_never_blocks_nor_tells_the_agent_anything(in_tmp_cwd: Path, tmp_path: Path,
                                                            state_dir: Path) -> None:
    """Unreadable report (no tool_input), or a state that cannot be written: still the agent's
    "no opinion", exit 0, and the error goes to the error log."""
    broken = {"session_id": "s", "tool_use_id": "b", "cwd": str(in_tmp_cwd),
              "hook_event_name": "PostToolUse", "tool_name": "Bash"}
    quiet("claude-code", hook("claude-code", broken))
    assert "tool_input must be an object" in (state_dir / "errors.log").read_text()
    bad_state = tmp_path / "not-a-dir"
    bad_state.write_text("a file where the state directory should be")
    for agent in ("claude-code", "codex", "gemini"):
        call = pre(agent, "echo hi", in_tmp_cwd, "u")
        quiet(agent, hook(agent, after(agent, call, tool_response={}),
                          env={"AGENTGATE_HOME": str(bad_state)}))


def test_hook_install_wires_the_report_once(in_tmp_cwd: Path) -> None:
    path = in_tmp_cwd / ".claude" / "settings.json"
    assert ag("hook", "install", "claude-code").returncode == 0
    doc = json.loads(path.read_text())
    for event in ("PostToolUse", "PostToolUseFailure", "Stop"):
        [entry] = doc["hooks"][event]
        [h] = entry["hooks"]
        assert "hook claude-code" in h["command"] and "onFailure" not in h
        assert "--wait" not in h["command"]
        assert ("matcher" in entry) == (event != "Stop")
    assert doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == h["command"]
    first = path.read_text()
    r = ag("hook", "install", "claude-code")
    assert r.returncode == 0 and path.read_text() == first  # no second copy
    status = json.loads(ag("hook", "status", "claude-code", "--json").stdout)
    assert not any("PostToolUse" in n for n in status["notes"])
    del doc["hooks"]["PostToolUseFailure"]
    path.write_text(json.dumps(doc, indent=2))
    status = json.loads(ag("hook", "status", "claude-code", "--json").stdout)
    assert any("PostToolUseFailure does not run agentgate" in n for n in status["notes"])
    assert ag("hook", "install", "claude-code").returncode == 0
    assert "PostToolUseFailure" in json.loads(path.read_text())["hooks"]


@pytest.mark.parametrize(("agent", "file", "events"), [
    ("codex", ".codex/hooks.json", ["PostToolUse", "Stop"]),
    ("gemini", ".gemini/settings.json", ["AfterTool", "AfterAgent"])])
def test_hook_install_wires_each_agents_post_event(agent: str, file: str, events: list[str],
                                                   in_tmp_cwd: Path) -> None:
    assert ag("hook", "install", agent).returncode == 0
    doc = json.loads((in_tmp_cwd / file).read_text())
    post = events[0]
    for event in events:
        [entry] = doc["hooks"][event]
        assert entry.get("matcher") == (AGENTS[agent].matcher if event == post else None)
        assert f"hook {agent}" in entry["hooks"][0]["command"]
