"""Red team of the agent hook adapters (issue 11): crafted hook JSON through the installed
`agentgate hook AGENT`, state in temp dirs, no real agent CLI. Each case is a way a held command
or a write to an agent's own configuration (or agentgate's policy) could have been let through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ag
from test_hooks import claude_input, codex_input, gemini_input, hook, verdict

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file")

PATCH = "*** Begin Patch\n*** Update File: {path}\n@@\n-a\n+b\n*** End Patch\n"


def codex_tool(tool: str, command: str, cwd: Path) -> dict[str, Any]:
    return {**codex_input(command, cwd), "tool_name": tool}


def claude_write(tool: str, key: str, path: str, cwd: Path) -> dict[str, Any]:
    return {**claude_input("", cwd, tool), "tool_input": {key: path, "content": "{}"}}


def gemini_write(tool: str, path: str, cwd: Path) -> dict[str, Any]:
    return {**gemini_input("", cwd), "tool_name": tool,
            "tool_input": {"file_path": path, "content": "{}"}}


# ------------------------------------------------------------------- Codex: apply_patch in a shell


@pytest.mark.parametrize("command", [
    # Codex intercepts `apply_patch PATCH` (the patch as its argument), not only a here-document
    "apply_patch '" + PATCH.format(path=".codex/hooks.json") + "'",
    "applypatch '" + PATCH.format(path=".codex/hooks.json") + "'",
    # and `cd DIR && apply_patch <<EOF`: the patch's paths are relative to DIR
    "cd .codex && apply_patch <<'EOF'\n" + PATCH.format(path="hooks.json") + "EOF",
])
def test_codex_shell_apply_patch_into_own_config_is_denied(command: str, in_tmp_cwd: Path) -> None:
    decision, text = verdict("codex", hook("codex", codex_input(command, in_tmp_cwd)))
    assert decision == "deny", command
    assert "agentgate-protected" in text or "protected" in text.lower()


@pytest.mark.parametrize("command", [
    # the patch's paths are relative to the directory cd went to, which names nothing guarded
    "cd ../home/.config && apply_patch <<'EOF'\n" + PATCH.format(path="agentgate/policy.toml")
    + "EOF",
    "cd ../home/.config && apply_patch '" + PATCH.format(path="agentgate/policy.toml") + "'",
    "cd /tmp; cd ../home/.config && apply_patch '" + PATCH.format(path="agentgate/policy.toml")
    + "'",
])
def test_codex_shell_apply_patch_after_cd_is_placed(command: str, in_tmp_cwd: Path,
                                                    tmp_path: Path) -> None:
    policy = tmp_path / "home" / ".config" / "agentgate" / "policy.toml"
    policy.parent.mkdir(parents=True)
    policy.write_text("")
    decision, text = verdict("codex", hook("codex", codex_input(command, in_tmp_cwd),
                                           env={"AGENTGATE_POLICY": str(policy)}))
    assert decision == "deny" and "agentgate-protected" in text, command


@pytest.mark.parametrize("command", [
    'apply_patch "$P"', "apply_patch \"$(cat p.patch)\"", "cat p.patch | apply_patch",
    "apply_patch < p.patch", "cd \"$D\" && apply_patch <<'EOF'\n" + PATCH.format(path="x") + "EOF",
    "apply_patch <<EOF\n" + PATCH.format(path="$F") + "EOF",
])
def test_codex_shell_apply_patch_it_cannot_read_is_denied(command: str, in_tmp_cwd: Path) -> None:
    decision, text = verdict("codex", hook("codex", codex_input(command, in_tmp_cwd)))
    assert decision == "deny" and "agentgate-unread-patch" in text, (command, text)


def test_codex_shell_apply_patch_of_an_ordinary_file_runs(in_tmp_cwd: Path) -> None:
    for command in ("apply_patch <<'EOF'\n" + PATCH.format(path="notes.txt") + "EOF",
                    "apply_patch '" + PATCH.format(path="src/a.py") + "'"):
        assert verdict("codex", hook("codex", codex_input(command, in_tmp_cwd)))[0] == "none"


def test_codex_patch_tool_cd_style_target_in_own_config(in_tmp_cwd: Path) -> None:
    (in_tmp_cwd / ".codex").mkdir()
    patch = PATCH.format(path="x").replace("*** Update File: x",
                                           "*** Update File: x\n*** Move to: .codex/hooks.json")
    decision, _ = verdict("codex", hook("codex", codex_tool("apply_patch", patch, in_tmp_cwd)))
    assert decision == "deny"


# ------------------------------------------------------------------- file tools: path forms


@pytest.mark.parametrize("written", [
    ".Claude/settings.json",  # a case-insensitive file system (macOS, Windows) writes .claude
    ".CLAUDE/skills/x/SKILL.md",
    ".MCP.json",
    "~/.config/agentgate/policy.toml",  # Claude Code expands a leading ~ in file paths
    "~/.claude/settings.json",
])
def test_claude_write_forms_of_protected_paths(written: str, in_tmp_cwd: Path) -> None:
    decision, _ = verdict("claude-code",
                          hook("claude-code", claude_write("Write", "file_path", written, in_tmp_cwd)))
    assert decision == "deny", written


def test_claude_write_through_symlink_made_earlier(in_tmp_cwd: Path) -> None:
    (in_tmp_cwd / ".claude").mkdir()
    (in_tmp_cwd / "innocent").symlink_to(in_tmp_cwd / ".claude")
    decision, _ = verdict("claude-code", hook("claude-code", claude_write(
        "Write", "file_path", "innocent/settings.json", in_tmp_cwd)))
    assert decision == "deny"


@pytest.mark.parametrize("tool", ["write_file", "replace"])
def test_gemini_write_case_variant(tool: str, in_tmp_cwd: Path) -> None:
    decision, _ = verdict("gemini", hook("gemini", gemini_write(tool, ".GEMINI/settings.json",
                                                                in_tmp_cwd)))
    assert decision == "deny"


# ------------------------------------------------------------------- the dedupe of one tool call


def test_same_tool_use_id_other_command_is_decided_anew(in_tmp_cwd: Path) -> None:
    ok = claude_input("echo fine", in_tmp_cwd)
    assert verdict("claude-code", hook("claude-code", ok, same_call=True))[0] == "none"
    held = claude_input("deployer site --prod", in_tmp_cwd)
    assert verdict("claude-code", hook("claude-code", held, same_call=True))[0] == "deny"


@pytest.mark.parametrize("use_id", ["../../../../tmp/x", "a/b\\c", "x" * 100000, "\udcff"])
def test_odd_tool_use_ids_still_decide(use_id: str, in_tmp_cwd: Path) -> None:
    held = {**claude_input("deployer site --prod", in_tmp_cwd), "tool_use_id": use_id}
    assert verdict("claude-code", hook("claude-code", held, same_call=True))[0] == "deny"


# ------------------------------------------------------------------- interactive shells (Codex)


@pytest.mark.parametrize("command", [
    "bash", "bash -i", "exec bash", "sh -s", "python3 -i", "node", "env bash", "nohup bash",
    "script", "ssh -t host", "tmux", "tmux new -s x", "screen", "sudo -i", "sudo -s", "su",
    "docker exec -it c bash", "expect", "busybox sh", "exec -a x bash", "doas -s",
    "sudo -u root -i", "sqlite3 x.db", "ed notes.txt", "gdb ./a.out", "psql mydb", "bc -l x",
    "vim notes.txt", "less README", "man bash", "tmux send-keys -t x 'deployer site --prod' Enter",
    # another command's input redirection does not feed the shell
    "cat </dev/null; bash", "bash; cat <<EOF\nx\nEOF", "cat <<< x; python3",
    # a pager or editor reads the terminal, not its piped stdin (less's !cmd)
    "git log | less", "cat notes | vim -", "less < README",
])
def test_codex_interactive_programs_are_held(command: str, in_tmp_cwd: Path) -> None:
    decision, text = verdict("codex", hook("codex", codex_input(command, in_tmp_cwd)))
    assert decision == "deny", command
    assert "agentgate-interactive-shell" in text or "approval" in text, text


@pytest.mark.parametrize("command", [
    "python3 script.py", "tmux ls", "screen -ls", "sqlite3 x.db 'select 1'",
    "psql -c 'select 1' mydb", "gdb -batch -ex bt ./a.out", "sudo ls", "bash -c 'echo hi'",
    "bash < script.sh", "python3 <<EOF\nprint(1)\nEOF", "(bash) < /dev/null",
])
def test_codex_programs_given_their_work_are_not_held(command: str, in_tmp_cwd: Path) -> None:
    decision, text = verdict("codex", hook("codex", codex_input(command, in_tmp_cwd)))
    assert decision == "none", (command, text)


# ------------------------------------------------------------------- malformed input


@pytest.mark.parametrize("raw", [
    "[]", "null", "1", '"x"', "{", b"\xff\xfe{}", '{"tool_name": "Bash", "tool_input": "x"}',
    '{"tool_name": "Bash", "tool_input": {"command": ["deployer", "site", "--prod"]}}',
    '{"tool_name": "Bash", "tool_input": {"command": 5}}',
    '{"tool_name": "Bash", "tool_input": {}}',
])
def test_malformed_input_denies(raw: str | bytes) -> None:
    r = hook("claude-code", raw)
    decision, _ = verdict("claude-code", r)
    assert decision == "deny", (raw, r.stdout, r.stderr)


@pytest.mark.parametrize("written", ["a\u0000b", "\ud800/x", "x" * 5000, "/" + "a/" * 3000])
def test_odd_file_paths_do_not_allow_silently(written: str, in_tmp_cwd: Path) -> None:
    r = hook("claude-code", claude_write("Write", "file_path", written, in_tmp_cwd))
    assert "Traceback" not in r.stderr
    decision, _ = verdict("claude-code", r)
    assert decision in ("deny", "none"), (written, r)
    if "\u0000" in written or "\ud800" in written:
        assert decision == "deny"


def test_huge_and_deep_input_denies(in_tmp_cwd: Path) -> None:
    deep = "[" * 100000 + "]" * 100000
    for raw in (deep, '{"a": "' + "x" * (17 * 1024 * 1024) + '"}'):
        decision, _ = verdict("claude-code", hook("claude-code", raw))
        assert decision == "deny"


def test_unusable_call_cache_fails_closed(in_tmp_cwd: Path, state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "hook-calls").write_text("not a directory")
    r = hook("claude-code", claude_input("echo fine", in_tmp_cwd))
    decision, text = verdict("claude-code", r)
    assert decision == "deny" and r.returncode == 2, r
    assert "hook-calls" in text and "fail-closed" in text, text


def test_planted_allow_for_other_content_is_not_reused(in_tmp_cwd: Path) -> None:
    """A call's recorded answer is bound to what the call does: the held command under the id of
    an allowed one is decided again (and held), also after the allowed answer was recorded."""
    ok = {**codex_input("echo fine", in_tmp_cwd), "tool_use_id": "same"}
    held = {**codex_input("deployer site --prod", in_tmp_cwd), "tool_use_id": "same"}
    assert verdict("codex", hook("codex", ok, same_call=True))[0] == "none"
    assert verdict("codex", hook("codex", held, same_call=True))[0] == "deny"
    assert verdict("codex", hook("codex", ok, same_call=True))[0] == "none"
    assert verdict("codex", hook("codex", held, same_call=True))[0] == "deny"


def test_write_to_the_policy_through_a_link_and_dotdot(in_tmp_cwd: Path, tmp_path: Path) -> None:
    """``link/../policy.toml``: the system follows the link before ``..``, a lexical
    normalisation does not."""
    conf = tmp_path / "conf"
    (conf / "sub").mkdir(parents=True)
    policy = conf / "policy.toml"
    policy.write_text("")
    (in_tmp_cwd / "s").symlink_to(conf / "sub")
    for tool in ("Write", "Edit"):
        r = hook("claude-code", claude_write(tool, "file_path", "s/../policy.toml", in_tmp_cwd),
                 env={"AGENTGATE_POLICY": str(policy)})
        assert verdict("claude-code", r)[0] == "deny"
    patch = PATCH.format(path="s/../policy.toml")
    r = hook("codex", codex_tool("apply_patch", patch, in_tmp_cwd),
             env={"AGENTGATE_POLICY": str(policy)})
    assert verdict("codex", r)[0] == "deny"


def test_concurrent_calls_with_one_id_keep_their_own_answers(in_tmp_cwd: Path) -> None:
    """Two calls under one id at once: the lock orders them, and neither gets the other's."""
    import json
    import subprocess

    from conftest import AGENTGATE

    ok = json.dumps({**codex_input("echo fine", in_tmp_cwd), "tool_use_id": "race"})
    held = json.dumps({**codex_input("deployer site --prod", in_tmp_cwd), "tool_use_id": "race"})
    procs = []
    for text in (ok, held) * 3:
        p = subprocess.Popen([AGENTGATE, "hook", "codex"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdin is not None
        p.stdin.write(text)
        p.stdin.close()
        procs.append((text, p))
    for text, p in procs:
        assert p.wait(timeout=60) == (0 if text == ok else 2), text


@pytest.mark.parametrize("command", ["deployer site --prod\u0000", "deployer\u0000 site --prod",
                                     "deployer site --prod \ud800"])
def test_odd_characters_in_a_held_command_still_hold(command: str, in_tmp_cwd: Path) -> None:
    for agent, make in (("claude-code", claude_input), ("codex", codex_input),
                        ("gemini", gemini_input)):
        r = hook(agent, make(command, in_tmp_cwd))
        assert verdict(agent, r)[0] == "deny", (agent, command, r)


def test_gemini_trims_what_bash_would_not(in_tmp_cwd: Path) -> None:
    """Gemini CLI trims JavaScript's whitespace (U+FEFF, U+00A0 ...) before it runs the command:
    to bash a BOM is part of the program's name, to Gemini it is gone."""
    for command in ("\ufeffdeployer site --prod", "\u00a0\u2028deployer site --prod\u3000",
                    "\ufeffbash -c 'deployer site --prod'"):
        assert verdict("gemini", hook("gemini", gemini_input(command, in_tmp_cwd)))[0] == "deny"


@pytest.mark.parametrize("written", [
    ".codex/config.toml", ".codex/hooks.json", ".codex/rules/default.rules", ".cursor/hooks.json",
    "{home}/.codex/config.toml", "{codex_home}/hooks.json", "{codex_home}/rules/x.rules",
    "{home}/.gemini/extensions/x/gemini-extension.json",
    ".cursor/mcp.json", "{home}/.cursor/mcp.json",  # MCP servers whose commands Cursor starts
])
@pytest.mark.parametrize("agent", ["claude-code", "gemini"])
def test_file_tools_cannot_rewire_another_agent(agent: str, written: str, in_tmp_cwd: Path,
                                                tmp_path: Path) -> None:
    """One agent's file tool must not change another agent's hooks either (the human may run
    both on one project)."""
    codex_home = tmp_path / "codexhome"
    path = written.format(home=tmp_path / "home", codex_home=codex_home)
    payload = (claude_write("Write", "file_path", path, in_tmp_cwd) if agent == "claude-code"
               else gemini_write("write_file", path, in_tmp_cwd))
    r = hook(agent, payload, env={"CODEX_HOME": str(codex_home)})
    assert verdict(agent, r)[0] == "deny", (agent, path)


# ------------------------------------------------------------------- the agent's report after a call


def test_a_forged_report_is_logged_as_the_agents_word_never_as_a_run(in_tmp_cwd: Path) -> None:
    """An agent can run `agentgate hook claude-code` itself with a PostToolUse for a command that
    never ran (no PreToolUse was ever asked about it): `agentgate log` must not read as if
    agentgate saw it run, only as what the agent reported."""
    forged = {**claude_input("deployer --prod", in_tmp_cwd), "hook_event_name": "PostToolUse",
              "tool_use_id": "toolu_forged", "tool_response": {"stdout": "", "stderr": "",
                                                               "interrupted": False}}
    r = hook("claude-code", forged)
    assert r.returncode == 0, r.stderr
    log = ag("log")
    assert log.returncode == 0, log.stderr
    [line] = [ln for ln in log.stdout.splitlines() if " ran " in f" {ln} "]
    assert "reported by the agent: succeeded" in line and "deployer --prod" in line, line
