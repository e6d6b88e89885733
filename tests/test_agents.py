"""integrations.agents: every agent's data in one table, and the answers in each agent's words
(end to end through real hook calls in test_hooks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgate import guard
from agentgate.integrations import agents
from agentgate.integrations.agents import AGENTS, Verdict, failure_reply, reply


def test_the_table() -> None:
    assert agents.NAMES == ("claude-code", "codex", "cursor", "gemini")
    assert [a.label for a in AGENTS.values()] == [
        "Claude Code's PreToolUse", "Codex's PreToolUse", "Cursor's beforeShellExecution",
        "Gemini CLI's BeforeTool"]


def test_the_guard_protects_every_agents_settings(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every settings file of the table, in a project and in the user's settings directories
    (CODEX_HOME and CLAUDE_CONFIG_DIR moved elsewhere included), is a protected location."""
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-home"))
    project = tmp_path / "project"
    for rel in agents.SETTINGS_FILES:
        assert guard.is_protected(project / rel), rel
    for path in agents.user_settings_files():
        assert guard.is_protected(path), path
    assert not guard.is_protected(project / "README.md")


def test_settings_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path.home()
    assert AGENTS["claude-code"].settings_path("project", tmp_path) == tmp_path / ".claude/settings.json"
    assert AGENTS["gemini"].settings_path("user", tmp_path) == home / ".gemini/settings.json"
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    assert AGENTS["codex"].settings_path("user", tmp_path) == tmp_path / "codex/hooks.json"
    assert str(tmp_path / "codex/config.toml") in agents.user_settings_files()


ALLOW, GRANT, DENY = Verdict(True, "ok"), Verdict(True, "once", "msg", via_grant=True), \
    Verdict(False, "no", "shown")


def test_claude_code_answers() -> None:
    claude = AGENTS["claude-code"]
    assert reply(claude, ALLOW) == agents.Reply("", "", 0)
    assert reply(claude, agents.PASS) == agents.Reply("", "", 0)
    body = json.loads(reply(claude, DENY).stdout)["hookSpecificOutput"]
    assert body == {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                    "permissionDecisionReason": "no"}
    assert json.loads(reply(claude, GRANT).stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_codex_reads_the_exit_code_only() -> None:
    codex = AGENTS["codex"]
    assert reply(codex, GRANT) == agents.Reply("", "", 0)
    assert reply(codex, DENY) == agents.Reply("", "no\n", 2)


def test_cursor_and_gemini_answers() -> None:
    assert json.loads(reply(AGENTS["cursor"], DENY).stdout) == {
        "permission": "deny", "user_message": "shown", "agent_message": "no"}
    gemini = AGENTS["gemini"]
    assert reply(gemini, agents.PASS).stdout == "{}\n"
    assert json.loads(reply(gemini, ALLOW).stdout) == {"decision": "allow"}
    assert json.loads(reply(gemini, DENY).stdout) == {"decision": "deny", "reason": "no",
                                                      "systemMessage": "shown"}


@pytest.mark.parametrize("name", agents.NAMES)
def test_a_failure_blocks_with_exit_2(name: str) -> None:
    r = failure_reply(AGENTS[name], "broken.", "shown")
    assert r.exit_code == 2 and r.stderr == "broken.\n"
    assert (r.stdout == "") is (name == "codex")
    assert failure_reply(None, "unknown agent.", "x") == agents.Reply("", "unknown agent.\n", 2)


def test_hook_entries() -> None:
    assert AGENTS["cursor"].hook_entry("c") == {"command": "c", "failClosed": True}
    assert AGENTS["claude-code"].hook_entry("c") == {  # a hook that fails blocks (2.1.332)
        "matcher": "Bash|Edit|Write|MultiEdit|NotebookEdit",
        "hooks": [{"type": "command", "command": "c", "onFailure": "block"}]}
    assert AGENTS["gemini"].hook_entry("c") == {
        "matcher": "run_shell_command|write_file|replace",
        "hooks": [{"type": "command", "command": "c", "name": "agentgate", "timeout": 60000}]}


def test_gemini_waits_longer_than_the_hook_takes_to_fail_closed() -> None:
    """Gemini CLI goes ahead without a hook that has not answered in `timeout` ms: the hook's
    own deadline (hook_timeout - HOOK_MARGIN) must come first, and after the ledger lock wait."""
    gemini = AGENTS["gemini"]
    assert gemini.hook_timeout is not None
    assert gemini.entry_fields["timeout"] >= gemini.hook_timeout * 1000
    assert 10 < gemini.hook_timeout - agents.HOOK_MARGIN < gemini.hook_timeout
    from agentgate.integrations.install import WAIT_MARGIN_S  # under --wait: after the wait

    assert agents.HOOK_MARGIN / 2 < WAIT_MARGIN_S


@pytest.mark.parametrize("target", [
    "proj/.gemini/settings.json", "proj/.gemini/extensions/x/gemini-extension.json",
    "proj/sub/.gemini/settings.json", "home/.gemini/settings.json",
    "/etc/gemini-cli/settings.json", "/etc/gemini-cli/system-defaults.json",
    "proj/.claude/skills/x/SKILL.md", "proj/.claude/agents/a.md", "proj/.mcp.json",
    "home/.claude.json", "proj/.claude/settings.json"])
def test_agent_configuration_is_guarded(tmp_path: Path, target: str) -> None:
    assert agents.guarded(target if target.startswith("/") else str(tmp_path / target))


@pytest.mark.parametrize("target", ["proj/README.md", "proj/gemini/settings.json",
                                    "proj/.geminirc", "proj/docs/mcp.json", "proj/claude.md"])
def test_other_files_are_not_guarded(tmp_path: Path, target: str) -> None:
    assert not agents.guarded(str(tmp_path / target))


def test_guarded_through_a_link_and_the_variables(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".gemini").mkdir()
    (tmp_path / "innocent.json").symlink_to(tmp_path / ".gemini" / "settings.json")
    assert agents.guarded(str(tmp_path / "innocent.json"))
    monkeypatch.setenv("GEMINI_CLI_SYSTEM_SETTINGS_PATH", str(tmp_path / "sys.json"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cc"))
    assert agents.guarded(str(tmp_path / "sys.json"))
    assert agents.guarded(str(tmp_path / "cc" / "CLAUDE.md"))
    assert not agents.guarded(str(tmp_path / "other.json"))


# --------------------------------------------------------------------------- Codex's paths around the hook


def test_patch_targets_are_every_file_a_patch_names() -> None:
    from agentgate.integrations.codex import patch_targets

    text = ("*** Begin Patch\n*** Add File: a.txt\n+x\n*** Delete File: /etc/b\n"
            "*** Update File: c/d.py\n*** Move to: e.py\n@@\n-old\n+new\n"
            "  *** Update File:  spaced.txt  \n*** End Patch\n")
    assert patch_targets(text) == ["a.txt", "/etc/b", "c/d.py", "e.py", "spaced.txt"]
    assert patch_targets("*** Begin Patch\n*** End Patch\n") == []


@pytest.mark.parametrize(("command", "held"), [
    ("bash", "bash"), ("sh -i", "sh -i"), ("bash -l", "bash -l"), ("exec zsh", "zsh"),
    ("cd /tmp && python3", "python3"), ("python3.12", "python3.12"), ("node", "node"),
    ("sudo bash", "bash"), ("env X=1 sh", "sh"), ("ssh host", "ssh host"),
    ("ssh -p 22 host", "ssh -p 22 host"), ("su", "su"), ("bash | tee log", "bash"),
    ("python3 -", "python3 -"), ("busybox sh", "busybox sh"),
    ("bash -c 'ls'", None), ("bash -lc ls", None), ("bash x.sh", None), ("python3 x.py", None),
    ("python3 -m http.server", None), ("node -e 1", None), ("ssh host ls", None),
    ("su -c id", None), ("echo ls | bash", None), ("bash <<EOF\nls\nEOF\n", None),
    ("bash < script.sh", None), ("ls -la", None), ("git status", None)])
def test_interactive_shells_are_found(command: str, held: str | None) -> None:
    from agentgate.integrations.codex import analyze, interactive_program

    assert interactive_program(analyze(command, "/tmp")) == held


def test_the_intercepted_apply_patch_command_names_its_files() -> None:
    from agentgate.integrations.codex import analyze, shell_patch_targets

    cmd = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: .codex/hooks.json\n+{}\n*** End Patch\nEOF\n"
    assert shell_patch_targets(analyze(cmd, "/tmp")) == [".codex/hooks.json"]
    assert shell_patch_targets(analyze("cat <<EOF\n*** Add File: x\nEOF\n", "/tmp")) == []
