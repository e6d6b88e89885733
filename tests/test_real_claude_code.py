"""Conformance: the real Claude Code CLI, headless in bypassPermissions mode, against a scripted
model on 127.0.0.1 (tests/fakemodel.py), with the hook installed by `agentgate hook install`.

The pinned CLI is installed by .ci/run into .ci/node/ (README, Development); a missing or other
version fails these tests rather than skipping them. A stand-in `vercel` on PATH appends its
arguments to $MARKER, which is the proof of what ran.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import agentpins
import pytest
from agentpins import INSTALL, HumanSide, pinned
from conftest import marker_lines
from fakemodel import FINAL_TEXT, FakeModel, ScriptedModel, result_text, tool_results

REPO = Path(__file__).resolve().parent.parent
CLAUDE_CODE_VERSION = "2.1.197"  # bump in .ci/node/package.json too (README, Development)
CLAUDE = REPO / ".ci" / "node" / "node_modules" / ".bin" / "claude"

POLICY = """\
version = 1

[settings]
default = "allow"

[[rule]]
id = "prod-deploy"
decision = "ask"
reason = "Production deploys need a human."
commands = ["vercel ** --prod **"]
"""

VERCEL = """\
#!/bin/sh
printf '%s\\n' "$*" >> "$MARKER"
echo "vercel ran: $*"
"""

HELD = "vercel deploy --prod"


@pytest.fixture(scope="module")
def claude() -> Path:
    """The pinned Claude Code CLI; fails (never skips) when it is missing or another version."""
    if not CLAUDE.exists():
        pytest.fail(f"Claude Code is not installed at {CLAUDE}: run `{INSTALL}` in the clone")
    out = subprocess.run([str(CLAUDE), "--version"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert out.stdout.startswith(f"{CLAUDE_CODE_VERSION} "), (out.stdout, out.stderr, INSTALL)
    return CLAUDE


@dataclass(frozen=True)
class Session:
    returncode: int
    result: dict[str, Any]
    stderr: str
    conversation: list[dict[str, Any]]

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the last request the model received."""
        return tool_results(self.conversation[-1])


@dataclass(frozen=True)
class Harness(HumanSide):
    claude: Path
    work: Path
    marker: Path
    env: dict[str, str]

    def session(self, command: str,
                turns: list[tuple[str, dict[str, Any]]] | None = None) -> Session:
        """One `claude -p` session whose model runs ``command`` with Bash (or makes the tool
        calls ``turns``), then stops."""
        net = agentpins.loopback_net()  # the agent and its model server: only loopback
        model = (FakeModel(command=command, net=net) if turns is None
                 else ScriptedModel(turns=turns, net=net)).start()
        try:
            env = dict(self.env, ANTHROPIC_BASE_URL=model.url)
            proc = subprocess.run(
                net.argv(str(self.claude), "-p", "go", "--permission-mode", "bypassPermissions",
                         "--output-format", "json"),
                cwd=self.work, env=env, capture_output=True, text=True,
                stdin=subprocess.DEVNULL, timeout=120, check=False)
        finally:
            model.stop()
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        result = json.loads(proc.stdout)
        assert result["result"] == FINAL_TEXT, result
        conversation = model.conversation_requests()
        assert len(conversation) == 1 + (1 if turns is None else len(turns)), [
            r.path for r in model.requests]
        return Session(proc.returncode, result, proc.stderr, conversation)


@pytest.fixture
def cc(claude: Path, tmp_path: Path) -> Harness:
    """Claude Code with agentgate's hook installed for the user, all state in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vercel").write_text(VERCEL)
    (bin_dir / "vercel").chmod(0o755)
    (tmp_path / "policy.toml").write_text(POLICY)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDE_", "AGENTGATE_"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        CLAUDE_CONFIG_DIR=str(Path(env["HOME"]) / ".claude"),
        AGENTGATE_HOME=os.environ["AGENTGATE_HOME"],
        AGENTGATE_CONFIG_DIR=str(tmp_path / "agentgate-config"),
        AGENTGATE_POLICY=str(tmp_path / "policy.toml"),
        MARKER=str(tmp_path / "marker.txt"),
        ANTHROPIC_API_KEY="dummy",
        # No traffic but to the fake model: no telemetry, error reports or update checks.
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_AUTOUPDATER="1",
    )
    if os.geteuid() == 0:
        env["IS_SANDBOX"] = "1"  # Claude Code refuses bypassPermissions as root without it
    h = Harness(claude, work, tmp_path / "marker.txt", env)
    out = h.ag("hook", "install", "claude-code", "--user")
    assert out.returncode == 0, out.stderr
    assert "agentgate hook claude-code" in (Path(env["CLAUDE_CONFIG_DIR"]) / "settings.json").read_text()
    return h


def test_held_command_does_not_run_and_the_model_gets_the_reason(cc: Harness) -> None:
    s = cc.session(HELD)
    assert marker_lines(cc.marker) == []
    [request] = cc.pending()
    assert request["argv"] == [HELD]
    assert request["agent"] == "claude-code"
    assert request["rule"] == "prod-deploy"
    [block] = s.tool_results()
    assert block["is_error"] is True
    text = result_text(block)
    assert "agentgate: BLOCKED, approval required [prod-deploy]" in text
    assert f"agentgate approve {request['id']}" in text
    assert "vercel ran" not in text
    assert [d["tool_input"]["command"] for d in s.result["permission_denials"]] == [HELD]


def test_approved_command_runs_exactly_once_then_is_held_again(cc: Harness) -> None:
    cc.session(HELD)
    [first] = cc.pending()
    out = cc.ag("approve", first["id"], "--yes")
    assert out.returncode == 0, out.stderr

    s = cc.session(HELD)
    assert marker_lines(cc.marker) == ["deploy --prod"]
    [block] = s.tool_results()
    assert not block.get("is_error")
    assert "vercel ran: deploy --prod" in result_text(block)
    assert s.result["permission_denials"] == []
    assert cc.pending() == []
    assert [e["id"] for e in cc.audit("--event", "grant_consumed")] == [first["id"]]

    s = cc.session(HELD)
    assert marker_lines(cc.marker) == ["deploy --prod"]
    [again] = cc.pending()
    assert again["id"] != first["id"]
    [block] = s.tool_results()
    assert block["is_error"] is True
    assert f"agentgate approve {again['id']}" in result_text(block)


def test_benign_command_runs(cc: Harness) -> None:
    s = cc.session("vercel deploy")
    assert marker_lines(cc.marker) == ["deploy"]
    [block] = s.tool_results()
    assert not block.get("is_error")
    assert "vercel ran: deploy" in result_text(block)
    assert cc.pending() == []
    [event] = cc.audit("--event", "allowed")  # the hook saw the call: it did not go around it
    assert event["argv"] == ["vercel deploy"]
    assert event["agent"] == "claude-code"


def test_ci_installs_the_pinned_version() -> None:
    assert pinned("@anthropic-ai/claude-code") == CLAUDE_CODE_VERSION
    assert INSTALL in (REPO / ".ci" / "run").read_text()
    assert INSTALL in (REPO / "README.md").read_text()


SKILL = """\
---
name: ship
description: Ship the site to production.
---
Shipping: !`vercel deploy --prod`
"""


def test_a_skills_inline_shell_does_not_run(cc: Harness) -> None:
    """2.1.197 runs a skill's !`...` through the Bash tool with no PreToolUse hook: hook install
    turns inline shell off (disableSkillShellExecution), so invoking the skill runs nothing."""
    settings = json.loads((Path(cc.env["CLAUDE_CONFIG_DIR"]) / "settings.json").read_text())
    assert settings["disableSkillShellExecution"] is True
    skill = cc.work / ".claude" / "skills" / "ship" / "SKILL.md"  # there already (a clone's)
    skill.parent.mkdir(parents=True)
    skill.write_text(SKILL)
    s = cc.session("", turns=[("Skill", {"skill": "ship"})])
    assert marker_lines(cc.marker) == []
    assert "vercel ran" not in json.dumps(s.conversation[-1])


def test_without_the_setting_a_skills_inline_shell_goes_around_the_hook(cc: Harness) -> None:
    """The hole the setting closes, for the record (and so that the test above can fail)."""
    path = Path(cc.env["CLAUDE_CONFIG_DIR"]) / "settings.json"
    path.write_text(path.read_text().replace('"disableSkillShellExecution": true',
                                             '"disableSkillShellExecution": false'))
    skill = cc.work / ".claude" / "skills" / "ship" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text(SKILL)
    cc.session("", turns=[("Skill", {"skill": "ship"})])
    assert marker_lines(cc.marker) == ["deploy --prod"]
    assert cc.audit("--event", "allowed") == []  # no hook saw it


@pytest.mark.parametrize("target", [".claude/skills/ship/SKILL.md", ".claude/agents/x.md",
                                    ".mcp.json"])
def test_the_agent_cannot_write_skills_agents_or_mcp_servers(cc: Harness, target: str) -> None:
    """A skill or agent file (inline shell, frontmatter hooks) or an .mcp.json (a server command
    the next session starts) written by the model: refused, and logged."""
    path = cc.work / target
    s = cc.session("", turns=[("Write", {"file_path": str(path), "content": SKILL})])
    assert not path.exists()
    [block] = s.tool_results()
    assert "agentgate-protected-files" in result_text(block)
    [event] = cc.audit("--event", "blocked")
    assert event["agent"] == "claude-code" and str(path) in json.dumps(event)


def test_claude_code_and_its_commands_have_only_loopback(cc: Harness, tmp_path: Path) -> None:
    """Every session runs in a network namespace with only loopback (agentpins.loopback_net),
    its model server listening there on 127.0.0.1: the session ran, and a command the model ran
    through the hook reached neither this machine's address nor the host's loopback."""
    probe = agentpins.NetworkProbe(tmp_path)
    s = cc.session(probe.command)
    [block] = s.tool_results()
    probe.check(result_text(block))
    [event] = cc.audit("--event", "allowed")
    assert event["argv"] == [probe.command] and event["agent"] == "claude-code"
