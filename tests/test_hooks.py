"""`agentgate hook <agent>` end to end: each agent's real hook JSON through the console script.

Every walkthrough in docs/<agent>.md is backed here: the command is blocked with an approval id,
a human approves it in another process, the very same hook input is then allowed once, and the
next identical call is blocked again. Broken input of any kind must still block.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENTGATE, ag

ID_RE = re.compile(r"apr_[a-z0-9]+")
AGENTS = ("claude-code", "codex", "cursor", "gemini")

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file")


# --------------------------------------------------------------------------- the agents' shapes


def claude_input(command: str, cwd: Path, tool: str = "Bash") -> dict[str, Any]:
    return {"session_id": "sess-1", "transcript_path": "/tmp/t.jsonl", "cwd": str(cwd),
            "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": tool,
            "tool_input": {"command": command, "description": "run it"},
            "tool_use_id": "toolu_01"}


def codex_input(command: str, cwd: Path) -> dict[str, Any]:
    return {"session_id": "s-1", "turn_id": "t-1", "transcript_path": None, "cwd": str(cwd),
            "hook_event_name": "PreToolUse", "model": "gpt-5", "permission_mode": "default",
            "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "call-1"}


def cursor_input(command: str, cwd: Path) -> dict[str, Any]:
    return {"hook_event_name": "beforeShellExecution", "conversation_id": "c-1",
            "generation_id": "g-1", "workspace_roots": [str(cwd)], "command": command,
            "cwd": str(cwd)}


def gemini_input(command: str, cwd: Path) -> dict[str, Any]:
    return {"session_id": "s-1", "transcript_path": "/tmp/t.json", "cwd": str(cwd),
            "hook_event_name": "BeforeTool", "timestamp": "2026-11-30T10:00:00Z",
            "tool_name": "run_shell_command", "tool_input": {"command": command}}


INPUTS: dict[str, Callable[[str, Path], dict[str, Any]]] = {
    "claude-code": claude_input, "codex": codex_input, "cursor": cursor_input,
    "gemini": gemini_input}


_CALLS = itertools.count(1)


def hook(agent: str, payload: dict[str, Any] | str | bytes,
         env: dict[str, str | None] | None = None,
         same_call: bool = False) -> subprocess.CompletedProcess[str]:
    """One hook invocation; each is a new tool call (a fresh tool_use_id) unless ``same_call``
    (the agent running the hook again for the call it made last)."""
    if isinstance(payload, dict) and "tool_use_id" in payload and not same_call:
        payload = {**payload, "tool_use_id": f"{payload['tool_use_id']}-{next(_CALLS)}"}
    text = payload if isinstance(payload, str) else (
        payload.decode("latin-1") if isinstance(payload, bytes) else json.dumps(payload))
    return ag("hook", agent, input=text, env=env)


def verdict(agent: str, r: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """("allow" | "deny" | "none", the text the agent's model reads), per each protocol."""
    assert "Traceback" not in r.stderr, r.stderr
    if agent == "codex":
        assert r.stdout == ""
        if r.returncode == 2:
            assert r.stderr.strip()
            return "deny", r.stderr
        assert r.returncode == 0, r
        return "none", ""
    if r.returncode == 2:  # fail-closed: blocked on the exit code; stdout still says deny
        assert r.stderr.strip()
    else:
        assert r.returncode == 0, r
    if agent == "claude-code":
        if not r.stdout:
            assert r.returncode == 0
            return "none", ""
        out = json.loads(r.stdout)["hookSpecificOutput"]
        assert out["hookEventName"] == "PreToolUse"
        decision = out["permissionDecision"]
        return decision, out["permissionDecisionReason"]
    if agent == "cursor":
        out = json.loads(r.stdout)
        return out["permission"], out["agent_message"]
    out = json.loads(r.stdout)
    return out.get("decision", "none"), out.get("reason", "")


def approve(rid: str) -> None:
    r = ag("approve", rid, "--yes")
    assert r.returncode == 0, r.stderr


def audit_events(state: Path) -> list[dict[str, Any]]:
    path = state / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --------------------------------------------------------------------------- the walkthrough


@pytest.mark.parametrize("agent", AGENTS)
def test_block_approve_retry_once_then_blocked(agent: str, in_tmp_cwd: Path,
                                               state_dir: Path) -> None:
    payload = INPUTS[agent]("deployer site --prod", in_tmp_cwd)

    decision, text = verdict(agent, hook(agent, payload))
    assert decision == "deny"
    rid = ID_RE.search(text).group(0)  # type: ignore[union-attr]
    assert f"agentgate approve {rid}" in text and "STOP" in text
    assert "retry the very same command" in text

    decision, text = verdict(agent, hook(agent, payload))  # still pending: same id, still blocked
    assert decision == "deny" and rid in text

    approve(rid)  # a human, in another process
    allowed = hook(agent, payload)
    decision, _ = verdict(agent, allowed)
    assert decision == {"codex": "none"}.get(agent, "allow")

    decision, text = verdict(agent, hook(agent, payload))  # the grant was single-use
    assert decision == "deny"
    assert ID_RE.search(text).group(0) != rid  # type: ignore[union-attr]

    events = [e for e in audit_events(state_dir) if e.get("id") == rid]
    assert [e["event"] for e in events][-1] == "grant_consumed"
    assert {e["agent"] for e in events if "agent" in e} == {agent}


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_one_decision_per_tool_call(agent: str, in_tmp_cwd: Path, state_dir: Path) -> None:
    """The hook run twice for one tool call (two copies installed) answers the same, and the
    second never uses up a grant: the approved retry runs though two copies judge it."""
    payload = INPUTS[agent]("deployer site --prod", in_tmp_cwd)
    _, text = verdict(agent, hook(agent, payload))
    rid = ID_RE.search(text).group(0)  # type: ignore[union-attr]
    approve(rid)
    retry = {**payload, "tool_use_id": "the-retry"}
    first = hook(agent, retry, same_call=True)
    second = hook(agent, retry, same_call=True)  # the other copy, same call
    assert verdict(agent, first)[0] == verdict(agent, second)[0] == {"codex": "none"}.get(agent, "allow")
    assert (first.stdout, first.stderr, first.returncode) == (second.stdout, second.stderr,
                                                              second.returncode)
    assert [e["event"] for e in audit_events(state_dir) if e.get("id") == rid].count(
        "grant_consumed") == 1
    # copies running at once: one decides, the others wait for its answer
    together = {**payload, "tool_use_id": "at-once"}
    procs = [subprocess.Popen([str(AGENTGATE), "hook", agent], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(json.dumps(together), timeout=60) for p in procs]
    assert len(set(outs)) == 1 and len({p.returncode for p in procs}) == 1
    assert verdict(agent, subprocess.CompletedProcess([], procs[0].returncode, *outs[0]))[0] == "deny"
    assert len(json.loads(ag("pending", "--json").stdout)) == 1
    # the same id about another command is another call
    other = {**together, "tool_input": {**together["tool_input"], "command": "ls"}}
    assert verdict(agent, hook(agent, other, same_call=True))[0] == "none"


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_a_revoked_grant_is_not_given_again_to_a_replayed_call(agent: str, in_tmp_cwd: Path,
                                                               state_dir: Path) -> None:
    """The allow a hook call got from a grant is its answer for the call's other copies, until
    the human withdraws the grant: a replay of that call after `revoke` is decided again (held)."""
    payload = INPUTS[agent]("deployer site --prod", in_tmp_cwd)
    _, text = verdict(agent, hook(agent, payload))
    rid = ID_RE.search(text).group(0)  # type: ignore[union-attr]
    assert ag("approve", rid, "--uses", "3", "--yes").returncode == 0
    retry = {**payload, "tool_use_id": "the-retry"}
    allowed = {"codex": "none"}.get(agent, "allow")
    assert verdict(agent, hook(agent, retry, same_call=True))[0] == allowed
    assert verdict(agent, hook(agent, retry, same_call=True))[0] == allowed  # its other copy
    r = ag("revoke", rid, "--yes")
    assert r.returncode == 0, r.stderr
    assert verdict(agent, hook(agent, retry, same_call=True))[0] == "deny"
    consumed = [e for e in audit_events(state_dir) if e.get("id") == rid
                and e["event"] == "grant_consumed"]
    assert len(consumed) == 1


def test_claude_grant_answers_allow_with_reason(in_tmp_cwd: Path) -> None:
    payload = claude_input("deployer --prod", in_tmp_cwd)
    _, text = verdict("claude-code", hook("claude-code", payload))
    rid = ID_RE.search(text).group(0)  # type: ignore[union-attr]
    approve(rid)
    out = json.loads(hook("claude-code", payload).stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow"
    assert rid in out["permissionDecisionReason"]


def test_a_grant_is_used_only_by_the_agent_that_asked(in_tmp_cwd: Path, state_dir: Path) -> None:
    """Claude Code's approved request does not let Codex's or Gemini CLI's identical command
    through: each is a request of its own, and the grant waits for Claude Code's retry. The
    hook's agent is the one its command line names, whatever AGENTGATE_AGENT says."""
    command = "deployer site --prod"
    _, text = verdict("claude-code", hook("claude-code", claude_input(command, in_tmp_cwd)))
    rid = ID_RE.search(text).group(0)  # type: ignore[union-attr]
    approve(rid)
    others = set()
    for agent in ("codex", "gemini"):
        decision, text = verdict(agent, hook(agent, INPUTS[agent](command, in_tmp_cwd),
                                             env={"AGENTGATE_AGENT": "claude-code"}))
        assert decision == "deny" and rid not in text
        others.add(ID_RE.search(text).group(0))  # type: ignore[union-attr]
    assert len(others) == 2
    pending = {r["id"]: r["agent"] for r in json.loads(ag("pending", "--json").stdout)}
    assert sorted(pending.values()) == ["codex", "gemini"] and rid not in pending
    decision, text = verdict("claude-code", hook("claude-code", claude_input(command, in_tmp_cwd)))
    assert decision == "allow" and rid in text
    used = [e for e in audit_events(state_dir) if e["event"] == "grant_consumed"]
    assert [(e["id"], e["agent"]) for e in used] == [(rid, "claude-code")]


def test_retry_in_another_directory_is_a_new_request(in_tmp_cwd: Path, tmp_path: Path) -> None:
    _, text = verdict("claude-code", hook("claude-code", claude_input("deployer --prod", in_tmp_cwd)))
    approve(ID_RE.search(text).group(0))  # type: ignore[union-attr]
    other = tmp_path / "elsewhere"
    other.mkdir()
    decision, _ = verdict("claude-code", hook("claude-code", claude_input("deployer --prod", other)))
    assert decision == "deny"


@pytest.mark.parametrize("agent", AGENTS)
def test_allowed_and_denied_commands(agent: str, in_tmp_cwd: Path) -> None:
    decision, _ = verdict(agent, hook(agent, INPUTS[agent]("ls -la", in_tmp_cwd)))
    # a plain allow leaves Claude Code's and Codex's own permission prompts in charge
    assert decision == {"claude-code": "none", "codex": "none"}.get(agent, "allow")
    r = hook(agent, INPUTS[agent]("nuke everything", in_tmp_cwd))
    decision, text = verdict(agent, r)
    assert decision == "deny" and "DENIED by rule nuke" in text
    assert not ID_RE.search(text)


def test_cursor_messages_for_the_human_and_the_agent(in_tmp_cwd: Path) -> None:
    out = json.loads(hook("cursor", cursor_input("deployer --prod", in_tmp_cwd)).stdout)
    rid = ID_RE.search(out["agent_message"]).group(0)  # type: ignore[union-attr]
    assert f"agentgate approve {rid}" in out["user_message"]


def test_gemini_other_tools_pass_through(in_tmp_cwd: Path) -> None:
    payload = {"tool_name": "read_file", "tool_input": {"file_path": "x"}, "cwd": str(in_tmp_cwd)}
    r = hook("gemini", payload)
    assert r.returncode == 0 and json.loads(r.stdout) == {}


def test_gemini_dir_path_is_the_working_directory(in_tmp_cwd: Path, tmp_path: Path) -> None:
    payload = gemini_input("deployer --prod", in_tmp_cwd)
    payload["tool_input"]["dir_path"] = "sub"
    (in_tmp_cwd / "sub").mkdir()
    hook("gemini", payload)
    pending = json.loads(ag("pending", "--json").stdout)
    assert pending[0]["cwd"] == str((in_tmp_cwd / "sub").resolve())


@pytest.mark.parametrize("command", ["bash -c 'deployer --prod'", "BASH -c deployer --prod",
                                     'sh -c "deployer --prod"', "  deployer --prod  "])
def test_gemini_judges_the_command_it_will_run(in_tmp_cwd: Path, command: str) -> None:
    """Gemini CLI strips a leading sh/bash/zsh -c and the outer quotes before running a command
    (integrations.rewrite): the gate holds, and records, what runs."""
    r = hook("gemini", gemini_input(command, in_tmp_cwd))
    assert verdict("gemini", r)[0] == "deny"
    assert [p["argv"] for p in json.loads(ag("pending", "--json").stdout)] == [["deployer --prod"]]


@pytest.mark.parametrize(("tool", "target"), [
    ("write_file", ".gemini/settings.json"), ("replace", ".gemini/settings.json"),
    ("write_file", "sub/.gemini/extensions/x/hooks/hooks.json")])
def test_gemini_file_tools_cannot_touch_its_configuration(in_tmp_cwd: Path, tool: str,
                                                          target: str) -> None:
    payload = {**gemini_input("", in_tmp_cwd), "tool_name": tool,
               "tool_input": {"file_path": target, "content": "{}"}}
    r = hook("gemini", payload)
    assert verdict("gemini", r)[0] == "deny" and "agentgate-protected-files" in r.stdout
    ok = {**payload, "tool_input": {"file_path": "src/app.py", "content": "x"}}
    assert json.loads(hook("gemini", ok).stdout) == {}


def test_a_stalled_hook_denies_before_the_agent_stops_waiting(in_tmp_cwd: Path) -> None:
    """With the ledger lock held elsewhere and a lock wait longer than the agent waits for its
    hook, the hook answers the agent's deny and exits 2 on its own: here under --wait 1s, whose
    installed timeout is 16 s, at 6 s (without --wait, 10 s before the agent's own timeout:
    tests/test_real_gemini.py)."""
    import time

    lock = Path(os.environ["AGENTGATE_HOME"]) / "ledger.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        r = ag("hook", "gemini", "--wait", "1s", input=json.dumps(gemini_input(
            "deployer --prod", in_tmp_cwd)), env={"AGENTGATE_LOCK_TIMEOUT": "100"})
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 2 and json.loads(r.stdout)["decision"] == "deny"
    assert "did not decide within 6s" in r.stdout and 6 <= took < 15, (took, r.stderr)


@pytest.mark.parametrize("command", ["echo '{}' > .mcp.json", "cp x ~/.claude.json"])
def test_a_shell_command_cannot_write_mcp_server_configs(in_tmp_cwd: Path, command: str) -> None:
    r = hook("claude-code", claude_input(command, in_tmp_cwd))
    assert verdict("claude-code", r)[0] == "deny"
    assert "agentgate-protected-files" in verdict("claude-code", r)[1]


# --------------------------------------------------------------------------- fail closed

BAD_INPUTS = {
    "garbage": "this is not json",
    "empty": "",
    "array": "[1, 2]",
    "tool_name_wrong_type": {"tool_name": 5, "tool_input": {"command": "ls"}},
    "no_command": {"tool_name": "Bash", "hook_event_name": "beforeShellExecution", "cwd": "/"},
    "command_wrong_type": {"tool_name": "Bash", "tool_input": {"command": ["ls", 1]},
                           "command": 42},
    "cwd_wrong_type": {"tool_name": "Bash", "tool_input": {"command": "ls"}, "command": "ls",
                       "cwd": ["/"]},
    "huge_command": {"tool_name": "Bash", "tool_input": {"command": "echo " + "a" * 200_000},
                     "command": "echo " + "a" * 200_000},
    "deep_nesting": "[" * 100_000 + "]" * 100_000,
    "not_utf8": b'{"tool_name": "Bash", "tool_input": {"command": "ls \xff"}, "command": "x"}',
}
# every case through Claude Code; the others get a rotating subset (each case, one more agent)
BAD_CASES = [(case, "claude-code") for case in BAD_INPUTS] + [
    (case, AGENTS[1 + i % 3]) for i, case in enumerate(BAD_INPUTS)]


def raw_hook(agent: str, data: bytes) -> subprocess.CompletedProcess[str]:
    """Feed bytes that are not UTF-8 text (``ag`` speaks text)."""
    assert AGENTGATE
    r = subprocess.run([AGENTGATE, "hook", agent], input=data, capture_output=True, check=False)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


@pytest.mark.parametrize(("case", "agent"), BAD_CASES)
def test_bad_input_fails_closed(agent: str, case: str) -> None:
    payload = BAD_INPUTS[case]
    if agent == "gemini" and isinstance(payload, dict) and payload.get("tool_name") == "Bash":
        payload = {**payload, "tool_name": "run_shell_command"}
    r = raw_hook(agent, payload) if isinstance(payload, bytes) else hook(agent, payload)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "fail-closed" in r.stderr and "Traceback" not in r.stderr
    decision, _ = verdict(agent, r)
    assert decision == "deny"


@pytest.mark.parametrize("agent", AGENTS)
def test_broken_policy_fails_closed(agent: str, in_tmp_cwd: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("version = 1\n[[rule]]\nid = 'x'\ndecision = 'maybe'\ncommands = ['ls']\n")
    r = hook(agent, INPUTS[agent]("ls", in_tmp_cwd), env={"AGENTGATE_POLICY": str(bad)})
    assert r.returncode == 2
    decision, _ = verdict(agent, r)
    assert decision == "deny"
    assert "broken.toml" in r.stderr


@pytest.mark.parametrize("agent", AGENTS)
def test_a_fail_closed_block_is_audited_and_the_fix_goes_to_the_human(
        agent: str, in_tmp_cwd: Path, tmp_path: Path, state_dir: Path) -> None:
    """The model reads what happened and to tell the human; the audit log's `blocked` event
    holds the fix (the error's hint), which the model is not given to act on."""
    bad = tmp_path / "broken.toml"
    bad.write_text("version = [\n")
    r = hook(agent, INPUTS[agent]("ls -la", in_tmp_cwd), env={"AGENTGATE_POLICY": str(bad)})
    _, text = verdict(agent, r)
    assert r.returncode == 2 and "tell the human" in text and "Fix:" not in text
    [event] = [e for e in audit_events(state_dir) if e["event"] == "blocked"]
    assert event["agent"] == agent and event["argv"] == ["ls -la"]
    assert "broken.toml" in event["error"] and "Fix:" in event["error"]


def test_corrupt_ledger_fails_closed(in_tmp_cwd: Path, state_dir: Path) -> None:
    state_dir.mkdir()
    (state_dir / "ledger.json").write_text("{not json")
    r = hook("claude-code", claude_input("deployer --prod", in_tmp_cwd))
    assert r.returncode == 2 and "ledger" in r.stderr
    assert (state_dir / "ledger.json").read_text() == "{not json"
    # As docs/claude-code.md says: only a held command needs the ledger.
    assert verdict("claude-code", hook("claude-code", claude_input("deployer site", in_tmp_cwd)))[0] == "none"
    r = hook("claude-code", claude_input("nuke", in_tmp_cwd))
    assert r.returncode == 0 and verdict("claude-code", r)[0] == "deny" and "ledger" not in r.stdout


def test_cursor_refuses_other_events(in_tmp_cwd: Path) -> None:
    payload = {"hook_event_name": "beforeMCPExecution", "tool_name": "x", "command": "ls"}
    assert verdict("cursor", hook("cursor", payload))[0] == "deny"


# --------------------------------------------------------------------------- protections


SELF_APPROVALS = [
    "agentgate approve apr_abc123 --yes",
    "agentgate deny apr_abc123",
    "agentgate policy trust .agentgate.toml",
    "python -m agentgate approve apr_abc123 --yes",
    "/usr/local/bin/agentgate --policy p.toml approve apr_abc123 --yes",
]


@pytest.mark.parametrize(("command", "agent"),
                         [(c, AGENTS[i % 4]) for i, c in enumerate(SELF_APPROVALS)])
def test_self_approval_is_denied(agent: str, command: str, in_tmp_cwd: Path) -> None:
    decision, text = verdict(agent, hook(agent, INPUTS[agent](command, in_tmp_cwd)))
    assert decision == "deny" and "agentgate-self-approval" in text


@pytest.mark.parametrize("command", [
    "echo ok && agentgate approve apr_abc123 --yes",
    "sudo agentgate approve apr_abc123 --yes",
    "bash -c 'agentgate approve apr_abc123 --yes'",
    "env X=1 timeout 5 agentgate deny apr_abc123",
])
def test_self_approval_through_wrappers_is_denied(command: str, in_tmp_cwd: Path) -> None:
    decision, text = verdict("claude-code", hook("claude-code", claude_input(command, in_tmp_cwd)))
    assert decision == "deny" and "agentgate-self-approval" in text


def write_call(tool: str, path: str, cwd: Path) -> dict[str, Any]:
    key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    return {"session_id": "s", "cwd": str(cwd), "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_input": {key: path, "content": "x", "old_string": "a",
                                              "new_string": "b"}}


def test_file_tools_cannot_touch_agentgate_files(in_tmp_cwd: Path, policy_file: Path,
                                                 state_dir: Path, tmp_path: Path) -> None:
    user_policy = Path(os.environ["XDG_CONFIG_HOME"]) / "agentgate" / "policy.toml"
    link = in_tmp_cwd / "innocent.toml"
    link.symlink_to(policy_file)
    denied = [
        ("Write", str(policy_file)),
        ("Edit", str(user_policy)),
        ("Write", ".agentgate.toml"),
        ("MultiEdit", "sub/dir/.agentgate.toml"),
        ("NotebookEdit", str(state_dir / "ledger.json")),
        ("Write", str(state_dir / "new-file")),
        ("Edit", "innocent.toml"),
        ("Write", "../work/../work/.claude/settings.json"),
        ("Edit", str(Path(os.environ["HOME"]) / ".claude" / "settings.json")),
    ]
    for tool, path in denied:
        decision, text = verdict("claude-code", hook("claude-code", write_call(tool, path, in_tmp_cwd)))
        assert decision == "deny", (tool, path)
        assert "agentgate-protected-files" in text
    blocked = [e for e in audit_events(state_dir) if e["event"] == "blocked"]
    assert len(blocked) == len(denied) and {e["agent"] for e in blocked} == {"claude-code"}


def codex_patch(patch: str, cwd: Path) -> dict[str, Any]:
    return {**codex_input("x", cwd), "tool_name": "apply_patch", "tool_input": {"command": patch}}


def test_codex_apply_patch_is_checked_file_by_file(in_tmp_cwd: Path, policy_file: Path,
                                                   state_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    fine = "*** Begin Patch\n*** Add File: notes.txt\n+x\n*** End Patch\n"
    assert verdict("codex", hook("codex", codex_patch(fine, in_tmp_cwd)))[0] == "none"
    for target in (str(policy_file), str(tmp_path / "codex-home" / "rules" / "default.rules"),
                   ".codex/hooks.json", "sub/.codex/config.toml", str(state_dir / "ledger.json")):
        patch = f"*** Begin Patch\n*** Add File: notes.txt\n+x\n*** Update File: {target}\n@@\n-a\n+b\n*** End Patch\n"
        decision, text = verdict("codex", hook("codex", codex_patch(patch, in_tmp_cwd)))
        assert decision == "deny" and "[agentgate-protected-files]" in text and target in text
    # the shell form Codex intercepts reaches the hook as Bash
    cmd = "apply_patch <<'EOF'\n*** Begin Patch\n*** Delete File: .codex/hooks.json\n*** End Patch\nEOF\n"
    decision, text = verdict("codex", hook("codex", codex_input(cmd, in_tmp_cwd)))
    assert decision == "deny" and "[agentgate-protected-files]" in text
    blocked = [e for e in audit_events(state_dir) if e["event"] == "blocked"]
    assert len(blocked) == 6 and {e["agent"] for e in blocked} == {"codex"}


@pytest.mark.parametrize(("command", "held"), [("bash", True), ("python3", True),
                                               ("bash -c 'ls'", False), ("python3 x.py", False)])
def test_codex_interactive_shells_are_held(command: str, held: bool, in_tmp_cwd: Path,
                                           state_dir: Path) -> None:
    """write_stdin feeds a running session without a hook: the session is not opened."""
    decision, text = verdict("codex", hook("codex", codex_input(command, in_tmp_cwd)))
    assert decision == ("deny" if held else "none")
    if held:
        assert "[agentgate-interactive-shell]" in text and "write_stdin" in text
        [event] = [e for e in audit_events(state_dir) if e["event"] == "blocked"]
        assert event["argv"] == [command]
    # other agents type into no session behind the hook's back
    assert verdict("claude-code", hook("claude-code", claude_input(command, in_tmp_cwd)))[0] == "none"


def test_file_tools_elsewhere_pass_through(in_tmp_cwd: Path) -> None:
    for tool, path in [("Write", "src/app.py"), ("Edit", "/tmp/notes.md"),
                       ("NotebookEdit", "analysis.ipynb"), ("Write", "agentgate.toml.txt")]:
        r = hook("claude-code", write_call(tool, path, in_tmp_cwd))
        assert (r.returncode, r.stdout) == (0, ""), (tool, path, r.stdout)
    r = hook("claude-code", {"tool_name": "Read", "tool_input": {"file_path": "x"}, "cwd": "/"})
    assert (r.returncode, r.stdout) == (0, "")


def test_file_tool_without_a_path_fails_closed(in_tmp_cwd: Path) -> None:
    r = hook("claude-code", {"tool_name": "Write", "tool_input": {"content": "x"}})
    assert r.returncode == 2 and verdict("claude-code", r)[0] == "deny"


# --------------------------------------------------------------------------- hook install


def install(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return ag("hook", "install", *args, cwd=cwd)


SETTINGS = {"claude-code": ".claude/settings.json", "codex": ".codex/hooks.json",
            "cursor": ".cursor/hooks.json", "gemini": ".gemini/settings.json"}


@pytest.mark.parametrize("agent", AGENTS)
def test_install_writes_a_hook_that_works(agent: str, in_tmp_cwd: Path) -> None:
    r = install(agent, cwd=in_tmp_cwd)
    assert r.returncode == 0, r.stderr
    doc = json.loads((in_tmp_cwd / SETTINGS[agent]).read_text())
    event = {"claude-code": "PreToolUse", "codex": "PreToolUse", "cursor": "beforeShellExecution",
             "gemini": "BeforeTool"}[agent]
    entries = doc["hooks"][event]
    assert len(entries) == 1
    command = entries[0]["command"] if agent == "cursor" else entries[0]["hooks"][0]["command"]
    assert command == installed_command(agent)
    if agent == "cursor":
        assert doc["version"] == 1
    # the snippet, run the way the agent runs it (with neither agentgate on its PATH nor
    # agentgate's variables in its environment), blocks a production deploy
    payload = json.dumps(INPUTS[agent]("deployer --prod", in_tmp_cwd))
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGATE_")}
    run = subprocess.run(command, shell=True, input=payload, capture_output=True, text=True,
                         cwd=in_tmp_cwd, check=False, env=dict(bare, PATH="/usr/bin:/bin"))
    assert verdict(agent, run)[0] == "deny"
    assert ID_RE.search(verdict(agent, run)[1])  # held in the state the installer uses
    assert json.loads(ag("pending", "--json").stdout)[0]["agent"] == agent


def installed_command(agent: str) -> str:
    """What `hook install` writes here: this venv's agentgate by its real path, with the state
    directory and the policy of the installer's environment in the command line."""
    return (f"AGENTGATE_HOME={os.environ['AGENTGATE_HOME']} {os.path.realpath(str(AGENTGATE))} "
            f"hook {agent} --policy {os.environ['AGENTGATE_POLICY']}")


def test_install_keeps_the_files_layout(in_tmp_cwd: Path) -> None:
    """Only the new entry shows in the diff: the file's indentation (a tab here), key order and
    missing final newline are kept."""
    path = in_tmp_cwd / ".codex" / "hooks.json"
    path.parent.mkdir()
    path.write_text('{\n\t"z": 1,\n\t"a": [1, 2],\n\t"hooks": {}\n}')
    assert install("codex", cwd=in_tmp_cwd).returncode == 0
    text = path.read_text()
    assert text.startswith('{\n\t"z": 1,\n\t"a": [\n\t\t1,') and not text.endswith("\n")
    assert '\n\t"hooks": {\n\t\t"PreToolUse": [' in text


@pytest.mark.parametrize("other", ["user-json", "user-toml", "project-toml"])
def test_install_refuses_a_second_copy(other: str, in_tmp_cwd: Path) -> None:
    """Codex runs every copy of a hook on each call (both scopes, hooks.json and [hooks] in
    config.toml): the copy after the one that used a grant would hold the retry."""
    home = Path(os.environ["HOME"]) / ".codex"
    where = {"user-json": home / "hooks.json", "user-toml": home / "config.toml",
             "project-toml": in_tmp_cwd / ".codex" / "config.toml"}[other]
    where.parent.mkdir(parents=True, exist_ok=True)
    if where.suffix == ".toml":
        where.write_text('model = "x"\n\n[[hooks.PreToolUse]]\nmatcher = "Bash"\n\n'
                         '[[hooks.PreToolUse.hooks]]\ntype = "command"\n'
                         'command = "/opt/bin/agentgate hook codex"\n')
    else:
        where.write_text(json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "command", "command": "agentgate hook codex"}]}]}}))
    r = install("codex", cwd=in_tmp_cwd)
    assert r.returncode == 78 and str(where) in r.stderr and "already installed" in r.stderr
    assert not (in_tmp_cwd / ".codex" / "hooks.json").exists()


def test_hook_status_says_whether_the_hook_will_run(in_tmp_cwd: Path) -> None:
    r = ag("hook", "status", "claude-code")
    assert r.returncode == 78 and "is not installed" in r.stderr and "will NOT run" in r.stderr
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 0
    r = ag("hook", "status", "claude-code", "--json")
    status = json.loads(r.stdout)
    assert r.returncode == 0 and status["ok"] and status["problems"] == []
    assert [c["command"] for c in status["copies"]] == [installed_command("claude-code")]
    # a second copy (here by hand, in the user's settings) and a command that cannot start
    user = Path(os.environ["HOME"]) / ".claude" / "settings.json"
    user.parent.mkdir()
    user.write_text(json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "/nowhere/agentgate hook claude-code"}]}]}}))
    r = ag("hook", "status", "claude-code")
    assert r.returncode == 78 and "2 copies of the hook run on every call" in r.stderr
    assert "/nowhere/agentgate is not an executable file" in r.stderr


def test_hook_status_notes_an_older_entry_without_on_failure_block(in_tmp_cwd: Path) -> None:
    """An entry an older agentgate wrote has no onFailure: the hook runs (exit 0), but a note
    says a crashing hook would let the call through; `hook install` again adds the key."""
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 0
    path = in_tmp_cwd / SETTINGS["claude-code"]
    doc = json.loads(path.read_text())
    [hook] = doc["hooks"]["PreToolUse"][0]["hooks"]
    del hook["onFailure"]
    path.write_text(json.dumps(doc, indent=2))
    r = ag("hook", "status", "claude-code", "--json")
    status = json.loads(r.stdout)
    assert r.returncode == 0 and status["ok"] and status["problems"] == [], r.stdout
    [note] = [n for n in status["notes"] if "onFailure" in n]
    assert note.startswith(f"{path}: ") and "lets the call through" in note
    assert "hook install claude-code" in note
    r = ag("hook", "status", "claude-code")
    assert r.returncode == 0 and 'note: ' in r.stderr and 'no onFailure: "block"' in r.stderr
    hook["onFailure"] = "ignore"  # a value someone set: install keeps it, so the note says so
    path.write_text(json.dumps(doc, indent=2))
    [note] = [n for n in json.loads(ag("hook", "status", "claude-code", "--json").stdout)[
        "notes"] if "onFailure" in n]
    assert 'onFailure: "ignore"' in note and 'set it to "block"' in note
    del hook["onFailure"]
    path.write_text(json.dumps(doc, indent=2))
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 0
    status = json.loads(ag("hook", "status", "claude-code", "--json").stdout)
    assert status["ok"] and not any("onFailure" in n for n in status["notes"]), status


@pytest.mark.parametrize("agent", AGENTS)
def test_install_is_idempotent_and_keeps_other_settings(agent: str, in_tmp_cwd: Path) -> None:
    path = in_tmp_cwd / SETTINGS[agent]
    path.parent.mkdir()
    event = {"claude-code": "PreToolUse", "codex": "PreToolUse", "cursor": "beforeShellExecution",
             "gemini": "BeforeTool"}[agent]
    other = ({"command": "./audit.sh"} if agent == "cursor"
             else {"matcher": "Write", "hooks": [{"type": "command", "command": "./fmt.sh"}]})
    original = {"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]},
                "hooks": {event: [other], "PostToolUse": [{"hooks": []}]}}
    path.write_text(json.dumps(original, indent=4))
    before = path.read_text()

    assert install(agent, cwd=in_tmp_cwd).returncode == 0
    doc = json.loads(path.read_text())
    assert doc["model"] == "opus" and doc["permissions"] == original["permissions"]
    post = {"claude-code": "PostToolUse", "codex": "PostToolUse", "gemini": "AfterTool"}
    if agent in post:  # the report after a call is wired beside what was there
        assert doc["hooks"]["PostToolUse"][0] == {"hooks": []}
        assert [c for e in doc["hooks"][post[agent]][-1:] for c in
                [h["command"] for h in e["hooks"]]] == [installed_command(agent)]
    else:
        assert doc["hooks"]["PostToolUse"] == [{"hooks": []}]
    assert doc["hooks"][event][0] == other and len(doc["hooks"][event]) == 2
    backups = list(path.parent.glob(f"{path.name}.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == before

    after_first = path.read_text()
    r = install(agent, cwd=in_tmp_cwd)
    assert r.returncode == 0 and "already" in r.stderr
    assert path.read_text() == after_first
    assert len(list(path.parent.glob(f"{path.name}.bak-*"))) == 1


def test_install_makes_a_failing_claude_code_hook_block(in_tmp_cwd: Path) -> None:
    """onFailure "block" (Claude Code 2.1.332; tests/test_real_claude_code.py proves it with the
    real CLI): written on a new entry, added to one an older install wrote, and a value the human
    set is kept."""
    path = in_tmp_cwd / SETTINGS["claude-code"]
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 0
    [entry] = json.loads(path.read_text())["hooks"]["PreToolUse"]
    assert entry["hooks"] == [{"type": "command", "command": installed_command("claude-code"),
                               "onFailure": "block"}]
    doc = json.loads(path.read_text())
    del doc["hooks"]["PreToolUse"][0]["hooks"][0]["onFailure"]  # as an older agentgate wrote it
    path.write_text(json.dumps(doc, indent=2))
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 0
    [entry] = json.loads(path.read_text())["hooks"]["PreToolUse"]
    assert entry["hooks"][0]["onFailure"] == "block"
    path.write_text(path.read_text().replace('"onFailure": "block"', '"onFailure": "continue"'))
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 0
    assert json.loads(path.read_text())["hooks"]["PreToolUse"][0]["hooks"][0]["onFailure"] == "continue"


def test_install_dry_run_prints_the_diff_and_writes_nothing(in_tmp_cwd: Path) -> None:
    r = install("claude-code", "--dry-run", cwd=in_tmp_cwd)
    assert r.returncode == 0
    assert "+++" in r.stdout and f'"command": "{installed_command("claude-code")}"' in r.stdout
    assert not (in_tmp_cwd / ".claude").exists()


def test_install_refuses_invalid_json(in_tmp_cwd: Path) -> None:
    path = in_tmp_cwd / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"model": "opus",,}')
    r = install("claude-code", cwd=in_tmp_cwd)
    assert r.returncode == 78 and "not valid JSON" in r.stderr
    assert path.read_text() == '{"model": "opus",,}'
    assert list(path.parent.iterdir()) == [path]  # no backup, no temp file
    path.write_text('{"hooks": []}')
    assert install("claude-code", cwd=in_tmp_cwd).returncode == 78


def test_install_user_scope_and_unknown_agent(in_tmp_cwd: Path) -> None:
    assert install("gemini", "--user", cwd=in_tmp_cwd).returncode == 0
    assert (Path(os.environ["HOME"]) / ".gemini" / "settings.json").is_file()
    assert not (in_tmp_cwd / ".gemini").exists()
    r = install("vim", cwd=in_tmp_cwd)
    assert r.returncode == 2 and "claude-code" in r.stderr


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "too-big", "not-utf8", "dangling"])
@pytest.mark.parametrize("dry_run", [False, True], ids=["install", "dry-run"])
def test_install_reads_only_a_regular_settings_file(kind: str, dry_run: bool, in_tmp_cwd: Path,
                                                    tmp_path: Path) -> None:
    """A FIFO at the settings path used to hang `hook install` (even --dry-run) forever; a
    device would read forever. Only a regular file of at most 4 MiB of UTF-8 is read (without
    blocking); anything else is a 78 naming what is there, and nothing is written."""
    from agentgate.integrations.install import MAX_SETTINGS_BYTES

    path = in_tmp_cwd / ".claude" / "settings.json"
    path.parent.mkdir()
    said = {"fifo": "it is a FIFO (named pipe), not a regular file",
            "directory": "it is a directory, not a regular file",
            "device": "it is a character device, not a regular file",
            "too-big": "larger than 4 MiB", "not-utf8": "not UTF-8 text",
            "dangling": "a symbolic link to"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "too-big":
        path.write_bytes(b"{" + b" " * MAX_SETTINGS_BYTES + b"}")
    elif kind == "not-utf8":
        path.write_bytes(b'{"model": "caf\xe9"}')
    else:
        path.symlink_to(tmp_path / "gone.json")
    before = sorted(p.name for p in path.parent.iterdir())
    r = install("claude-code", *(["--dry-run"] if dry_run else []), cwd=in_tmp_cwd)
    assert r.returncode == 78, r.stderr
    assert f"refusing to modify {path}" in r.stderr and said in r.stderr, r.stderr
    assert "nothing was changed" in r.stderr
    assert r.stdout == "" and sorted(p.name for p in path.parent.iterdir()) == before
    assert not (tmp_path / "gone.json").exists()


def test_install_writes_a_symlinked_settings_file_through_to_its_target(
        in_tmp_cwd: Path, tmp_path: Path) -> None:
    """A settings file kept in dotfiles and linked into place used to be replaced by a regular
    file (the link gone, its target without the hook). The target is updated atomically (its
    backup beside it, its mode kept), the link stays, and the output says so; through a chain
    of links too."""
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "claude.json"
    target.write_text('{"model": "opus"}\n')
    target.chmod(0o640)
    middle = tmp_path / "middle.json"
    middle.symlink_to(target)
    link = in_tmp_cwd / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(middle)

    dry = install("claude-code", "--dry-run", cwd=in_tmp_cwd)
    assert dry.returncode == 0 and f"(a symbolic link to {target})" in dry.stderr
    assert target.read_text() == '{"model": "opus"}\n'
    r = install("claude-code", cwd=in_tmp_cwd)
    assert r.returncode == 0, r.stderr
    assert f"{link} (a symbolic link: written to its target {target}, the link kept)" in r.stderr
    assert link.is_symlink() and os.readlink(link) == str(middle) and middle.is_symlink()
    doc = json.loads(target.read_text())
    assert doc["model"] == "opus"
    assert doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == installed_command("claude-code")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    backups = list(dotfiles.glob("claude.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == '{"model": "opus"}\n'
    assert f"backup of the previous file: {backups[0]}" in r.stderr
    assert sorted(p.name for p in dotfiles.iterdir()) == sorted(["claude.json", backups[0].name])
    assert sorted(p.name for p in link.parent.iterdir()) == ["settings.json"]
    again = install("claude-code", cwd=in_tmp_cwd)
    assert again.returncode == 0 and "already" in again.stderr
