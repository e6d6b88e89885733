"""`hook install AGENT --system`: agentgate's hook in each agent's machine-wide managed settings.

The body functions take the machine's root directory, so these tests write into a tmp_path
"machine" instead of the real /etc; the end-to-end tests run the console script as root with
``--root``, and as another OS user (``nobody``) for the refusals. Everything here writes
root-owned files, as the real thing does, so it needs root (CI runs as root).
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from test_state_safety import IS_ROOT, OtherUser, agx  # a second OS user, as those tests make one
from test_state_safety import other_user as other_user  # fixtures
from test_state_safety import shared_tmp as shared_tmp

from agentgate.errors import EXIT_CONFIG, EXIT_USAGE, AgentgateError, ConfigError
from agentgate.integrations.agents import AGENTS
from agentgate.integrations.install import (
    apply_system,
    check_client,
    plan_system_install,
    plan_system_uninstall,
    system_files,
)
from agentgate.system import CLIENT_BIN

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="machine-wide settings are root's")

FILES = {"claude-code": "etc/claude-code/managed-settings.json", "codex": "etc/codex/hooks.json",
         "cursor": "etc/cursor/hooks.json", "gemini": "etc/gemini-cli/settings.json"}
REQUIREMENTS = "etc/codex/requirements.toml"


def command(agent: str) -> str:
    return f"{CLIENT_BIN} hook {agent}"


def install(root: Path, agent: str) -> tuple[Any, list[Path]]:
    plan = plan_system_install(AGENTS[agent], root, command(agent), "linux")
    return plan, apply_system(plan)


def machine(tmp_path: Path) -> Path:
    root = tmp_path / "machine"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    return root


def make_client(root: Path) -> Path:
    client = root / CLIENT_BIN.lstrip("/")
    client.parent.mkdir(parents=True)
    for d in (client.parent, client.parent.parent, client.parent.parent.parent):
        d.chmod(0o755)
    client.write_text("#!/bin/sh\nexit 0\n")
    client.chmod(0o755)
    return client


def commands_in(doc: dict[str, Any], event: str) -> list[str]:
    found = []
    for item in doc["hooks"][event]:
        if "command" in item:
            found.append(item["command"])
        found += [h["command"] for h in item.get("hooks", [])]
    return found


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- what each agent gets


@pytest.mark.parametrize("agent", sorted(FILES))
def test_an_empty_machine_gets_the_hook_root_owned_and_readable_by_all(
        tmp_path: Path, agent: str) -> None:
    root = machine(tmp_path)
    old = os.umask(0o077)  # a strict root umask must not leave files the agents cannot read
    try:
        plan, backups = install(root, agent)
    finally:
        os.umask(old)
    assert backups == []
    path = root / FILES[agent]
    doc = json.loads(path.read_text())
    spec = AGENTS[agent]
    assert commands_in(doc, spec.event) == [command(agent)]
    st = path.stat()
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644
    for d in (path.parent, *([root / "etc/codex"] if agent == "codex" else [])):
        assert d.stat().st_uid == 0 and stat.S_IMODE(d.stat().st_mode) == 0o755
    locks: dict[str, dict[str, Any]] = {"claude-code": {"allowManagedHooksOnly": True},
                                        "gemini": {"hooksConfig": {"enabled": True}}}
    expected_locks = locks.get(agent, {})
    for key, value in expected_locks.items():
        assert doc[key] == value
    if agent == "cursor":
        assert doc["version"] == 1 and doc["hooks"]["beforeShellExecution"][0]["failClosed"]
    if agent == "codex":
        assert set(doc) == {"hooks"}  # Codex's hooks.json: nothing else at the top
        req = tomllib.loads((root / REQUIREMENTS).read_text())
        assert req == {"allow_managed_hooks_only": True, "features": {"hooks": True}}
        assert stat.S_IMODE((root / REQUIREMENTS).stat().st_mode) == 0o644
    assert {n.state for n in plan.locks} <= {"set"}
    assert spec.system is not None
    assert [n.setting.name for n in plan.locks] == [s.name for s in spec.system.locks]


def test_the_locations_are_the_agents_documented_ones() -> None:
    root = Path("/")
    assert {a: str(system_files(AGENTS[a], root, "linux")[0]) for a in FILES} == {
        a: "/" + f for a, f in FILES.items()}
    assert str(system_files(AGENTS["codex"], root, "linux")[1]) == "/" + REQUIREMENTS
    assert {a: str(system_files(AGENTS[a], root, "darwin")[0]) for a in FILES} == {
        "claude-code": "/Library/Application Support/ClaudeCode/managed-settings.json",
        "codex": "/etc/codex/hooks.json",
        "cursor": "/Library/Application Support/Cursor/hooks.json",
        "gemini": "/Library/Application Support/GeminiCli/settings.json"}
    with pytest.raises(AgentgateError, match="no machine-wide settings"):
        system_files(AGENTS["codex"], root, "win32")


# --------------------------------------------------------------------------- merging


def test_other_settings_and_hooks_in_the_managed_file_are_kept(tmp_path: Path) -> None:
    root = machine(tmp_path)
    path = root / FILES["claude-code"]
    path.parent.mkdir(parents=True, mode=0o755)
    original: dict[str, Any] = {
        "permissions": {"deny": ["Read(./.env)"], "disableBypassPermissionsMode": "disable"},
        "env": {"CORP": "1"},
        "hooks": {"PreToolUse": [{"matcher": "Write", "hooks": [{"type": "command",
                                                                 "command": "/usr/bin/audit"}]}],
                  "PostToolUse": [{"hooks": [{"type": "command", "command": "/usr/bin/log"}]}]},
    }
    text = json.dumps(original, indent=4) + "\n"
    path.write_text(text)
    path.chmod(0o644)
    _, backups = install(root, "claude-code")
    doc = json.loads(path.read_text())
    assert doc["permissions"] == original["permissions"] and doc["env"] == original["env"]
    assert doc["hooks"]["PostToolUse"][0] == original["hooks"]["PostToolUse"][0]
    assert commands_in(doc, "PreToolUse") == ["/usr/bin/audit", command("claude-code")]
    assert commands_in(doc, "PostToolUse") == ["/usr/bin/log", command("claude-code")]
    assert commands_in(doc, "PostToolUseFailure") == [command("claude-code")]
    assert doc["allowManagedHooksOnly"] is True
    [backup] = backups
    assert backup.parent == path.parent and backup.read_text() == text
    assert backup.stat().st_uid == 0 and not backup.stat().st_mode & 0o022


def test_codex_requirements_keep_their_text_and_gain_only_the_locks(tmp_path: Path) -> None:
    root = machine(tmp_path)
    req = root / REQUIREMENTS
    req.parent.mkdir(parents=True, mode=0o755)
    text = ("# Managed by IT: do not edit by hand\n"
            'allowed_approval_policies = ["untrusted", "on-request"]\n'
            'allowed_sandbox_modes = ["read-only", "workspace-write"]\n\n'
            "# feature pins\n[features]\nweb_search = false  # no browsing\n\n"
            '[mcp_servers.docs]\nidentity = { command = "docs-mcp" }\n')
    req.write_text(text)
    req.chmod(0o644)
    before = tomllib.loads(text)
    install(root, "codex")
    after_text = req.read_text()
    after = tomllib.loads(after_text)
    assert after == {**before, "allow_managed_hooks_only": True,
                     "features": {"web_search": False, "hooks": True}}
    for line in text.splitlines():
        assert line in after_text.splitlines()  # comments and layout kept
    plan = plan_system_install(AGENTS["codex"], root, command("codex"), "linux")
    assert not plan.changed and {n.state for n in plan.locks} == {"on"}


@pytest.mark.parametrize("features", ["features = { web_search = true }",
                                      "features.web_search = true"])
def test_codex_requirements_in_a_layout_agentgate_cannot_edit_are_refused_untouched(
        tmp_path: Path, features: str) -> None:
    root = machine(tmp_path)
    req = root / REQUIREMENTS
    req.parent.mkdir(parents=True, mode=0o755)
    req.write_text(f"allow_managed_hooks_only = true\n{features}\n")
    req.chmod(0o644)
    before = snapshot(root)
    with pytest.raises(ConfigError, match="cannot add its lock settings to this file's layout") as e:
        install(root, "codex")
    assert "add features.hooks = true to it by hand" in (e.value.hint or "")
    assert snapshot(root) == before  # not even hooks.json: every file is planned first


def test_a_lock_an_administrator_set_otherwise_is_kept_and_reported(tmp_path: Path) -> None:
    root = machine(tmp_path)
    path = root / FILES["claude-code"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text('{"allowManagedHooksOnly": false}\n')
    path.chmod(0o644)
    plan, _ = install(root, "claude-code")
    doc = json.loads(path.read_text())
    assert doc["allowManagedHooksOnly"] is False and commands_in(doc, "PreToolUse") == [
        command("claude-code")]
    assert [(n.setting.name, n.state) for n in plan.locks] == [
        ("allowManagedHooksOnly", "kept"), ("disableSkillShellExecution", "set")]
    assert doc["disableSkillShellExecution"] is True


def test_installing_twice_gives_one_hook_and_leaves_the_file_alone(tmp_path: Path) -> None:
    root = machine(tmp_path)
    for agent in FILES:
        install(root, agent)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    for agent in FILES:
        plan, backups = install(root, agent)
        assert not plan.changed and backups == []
        assert commands_in(json.loads((root / FILES[agent]).read_text()),
                           AGENTS[agent].event) == [command(agent)]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*")
            if p.is_file()} == before


def test_a_path_based_agentgate_hook_is_kept_and_the_clients_is_added(tmp_path: Path) -> None:
    """`agentgate hook gemini` resolves through PATH, which the user controls: it does not count
    as the machine-wide hook."""
    root = machine(tmp_path)
    path = root / FILES["gemini"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text(json.dumps({"hooks": {"BeforeTool": [{"matcher": "run_shell_command", "hooks": [
        {"type": "command", "command": "agentgate hook gemini", "name": "agentgate"}]}]}}))
    path.chmod(0o644)
    install(root, "gemini")
    assert commands_in(json.loads(path.read_text()), "BeforeTool") == [
        "agentgate hook gemini", command("gemini")]


# --------------------------------------------------------------------------- failing closed


BAD_FILES: dict[str, bytes] = {
    "invalid JSON": b'{"hooks": ',
    "a JSON array": b"[]",
    "not UTF-8": b'{"env": "\xff"}',
    "hooks not an object": b'{"hooks": []}',
    "the event not a list": b'{"hooks": {"PreToolUse": {}}}',
    "a lock of the wrong type": b'{"allowManagedHooksOnly": "yes"}',
    "every hook switched off": b'{"disableAllHooks": true}',
}


@pytest.mark.parametrize("why", sorted(BAD_FILES))
def test_a_managed_file_that_cannot_be_merged_is_refused_untouched(
        tmp_path: Path, why: str) -> None:
    root = machine(tmp_path)
    path = root / FILES["claude-code"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_bytes(BAD_FILES[why])
    path.chmod(0o644)
    before = snapshot(root)
    with pytest.raises(AgentgateError) as e:
        install(root, "claude-code")
    assert e.value.exit_code == EXIT_CONFIG and str(path) in e.value.message
    assert snapshot(root) == before


@pytest.mark.parametrize(("agent", "where", "text"), [
    ("gemini", FILES["gemini"], '{"hooksConfig": {"enabled": false}}'),
    ("codex", REQUIREMENTS, "[features]\nhooks = false\n"),
    ("codex", REQUIREMENTS, "[features]\ncodex_hooks = false\n"),
    ("codex", REQUIREMENTS, "allow_managed_hooks_only = tru\n"),
])
def test_hooks_switched_off_or_broken_lock_files_are_refused_untouched(
        tmp_path: Path, agent: str, where: str, text: str) -> None:
    root = machine(tmp_path)
    path = root / where
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text(text)
    path.chmod(0o644)
    before = snapshot(root)
    with pytest.raises(AgentgateError, match=r"switches every hook|not valid TOML") as e:
        install(root, agent)
    assert e.value.exit_code == EXIT_CONFIG
    assert snapshot(root) == before


def test_what_only_root_may_change_is_checked_before_anything_is_written(
        tmp_path: Path, other_user: OtherUser) -> None:
    root = machine(tmp_path)
    path = root / FILES["cursor"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text('{"version": 1}\n')
    path.chmod(0o644)

    def refused(match: str) -> None:
        before = snapshot(root)
        with pytest.raises(AgentgateError, match=match) as e:
            install(root, "cursor")
        assert e.value.exit_code == EXIT_CONFIG
        assert snapshot(root) == before

    path.chmod(0o664)
    refused(r"hooks.json \(the file\) is writable by others than root \(mode 0664\)")
    path.chmod(0o644)
    os.chown(path, other_user.uid, other_user.gid)
    refused(rf"is owned by uid {other_user.uid}, not by root")
    os.chown(path, 0, 0)
    path.parent.chmod(0o777)
    refused(r"cursor \(a directory\) is writable by others than root \(mode 0777\)")
    path.parent.chmod(0o755)
    real = root / "elsewhere.json"
    real.write_text('{"version": 1}\n')
    real.chmod(0o644)
    path.unlink()
    path.symlink_to(real)
    refused("it is a symbolic link")
    path.unlink()
    path.mkdir()
    refused("it is a directory, not a regular file")


def test_a_file_changed_after_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    root = machine(tmp_path)
    path = root / FILES["claude-code"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text("{}\n")
    path.chmod(0o644)
    plan = plan_system_install(AGENTS["claude-code"], root, command("claude-code"), "linux")
    path.write_text('{"model": "changed meanwhile"}\n')
    with pytest.raises(AgentgateError, match="changed while agentgate was reading it"):
        apply_system(plan)
    assert path.read_text() == '{"model": "changed meanwhile"}\n'


def test_the_client_must_be_installed_and_roots(tmp_path: Path, other_user: OtherUser) -> None:
    root = machine(tmp_path)
    with pytest.raises(ConfigError, match="is not installed") as e:
        check_client(root, CLIENT_BIN)
    assert "sudo agentgate service install" in (e.value.hint or "")
    client = make_client(root)
    check_client(root, CLIENT_BIN)
    client.chmod(0o644)
    with pytest.raises(ConfigError, match="not an executable file"):
        check_client(root, CLIENT_BIN)
    client.chmod(0o775)
    with pytest.raises(ConfigError, match=r"refusing to point the hook at .*writable by others"):
        check_client(root, CLIENT_BIN)
    client.chmod(0o755)
    os.chown(client.parent, other_user.uid, other_user.gid)
    with pytest.raises(ConfigError, match=rf"bin \(a directory\) is owned by uid {other_user.uid}"):
        check_client(root, CLIENT_BIN)


# --------------------------------------------------------------------------- uninstall


def test_uninstall_takes_out_agentgates_hook_only_and_leaves_the_locks(tmp_path: Path) -> None:
    root = machine(tmp_path)
    path = root / FILES["claude-code"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text(json.dumps({"env": {"A": "1"}, "hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/bin/audit"},
                                      {"type": "command", "command": "agentgate hook claude-code"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "/usr/bin/notify"}]}]}}))
    path.chmod(0o644)
    install(root, "claude-code")
    plan = plan_system_uninstall(AGENTS["claude-code"], root, "linux")
    assert [(n.setting.name, n.state) for n in plan.locks] == [
        ("allowManagedHooksOnly", "on"), ("disableSkillShellExecution", "on")]
    backups = apply_system(plan)
    doc = json.loads(path.read_text())
    assert doc == {"env": {"A": "1"}, "allowManagedHooksOnly": True,
                   "disableSkillShellExecution": True, "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                                                      "command": "/usr/bin/audit"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "/usr/bin/notify"}]}]}}
    assert len(backups) == 1 and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not plan_system_uninstall(AGENTS["claude-code"], root, "linux").changed


def test_uninstall_of_codex_and_cursor_leaves_no_empty_lists(tmp_path: Path) -> None:
    root = machine(tmp_path)
    for agent in ("codex", "cursor"):
        install(root, agent)
        apply_system(plan_system_uninstall(AGENTS[agent], root, "linux"))
    assert json.loads((root / FILES["codex"]).read_text()) == {}
    assert json.loads((root / FILES["cursor"]).read_text()) == {"version": 1}
    assert tomllib.loads((root / REQUIREMENTS).read_text()) == {
        "allow_managed_hooks_only": True, "features": {"hooks": True}}  # left, and reported


def test_uninstall_on_a_machine_without_the_file_changes_nothing(tmp_path: Path) -> None:
    root = machine(tmp_path)
    plan = plan_system_uninstall(AGENTS["gemini"], root, "linux")
    assert plan.files == () and not plan.changed and apply_system(plan) == []
    assert snapshot(root) == {}


# --------------------------------------------------------------------------- the console script


def test_the_console_script_installs_as_root_under_root(tmp_path: Path) -> None:
    root = machine(tmp_path)
    make_client(root)
    r = agx("hook", "install", "claude-code", "--system", "--root", str(root), umask=0o077)
    assert r.returncode == 0, r.stderr
    path = root / FILES["claude-code"]
    assert (f"installed agentgate's claude-code hook in the machine-wide settings {path}: "
            f"Claude Code runs `{command('claude-code')}`") in r.stderr
    assert f"set allowManagedHooksOnly = true in {path}: only managed hooks run" in r.stderr
    assert commands_in(json.loads(path.read_text()), "PreToolUse") == [command("claude-code")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    again = agx("hook", "install", "claude-code", "--system", "--root", str(root))
    assert again.returncode == 0 and "is already in" in again.stderr, again.stderr
    codex = agx("hook", "install", "codex", "--system", "--root", str(root))
    assert codex.returncode == 0, codex.stderr
    assert f"set features.hooks = true in {root / REQUIREMENTS}" in codex.stderr


def test_the_console_script_reports_a_lock_it_kept(tmp_path: Path) -> None:
    root = machine(tmp_path)
    make_client(root)
    path = root / FILES["gemini"]
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text('{"hooksConfig": {"notifications": false}}')
    path.chmod(0o644)
    r = agx("hook", "install", "gemini", "--system", "--root", str(root))
    assert r.returncode == 0, r.stderr
    assert json.loads(path.read_text())["hooksConfig"] == {"notifications": False,
                                                           "enabled": True}
    assert "backup of the previous file:" in r.stderr


def test_the_console_script_refuses_without_the_client(tmp_path: Path) -> None:
    root = machine(tmp_path)
    r = agx("hook", "install", "cursor", "--system", "--root", str(root))
    assert r.returncode == EXIT_CONFIG
    assert f"the protected-mode client {CLIENT_BIN} is not installed" in r.stderr
    assert "sudo agentgate service install" in r.stderr
    assert snapshot(root) == {} and not (root / "etc").exists()


def test_a_dry_run_prints_the_change_and_writes_nothing(tmp_path: Path) -> None:
    root = machine(tmp_path)
    r = agx("hook", "install", "codex", "--system", "--root", str(root), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f'"command": "{command("codex")}"' in r.stdout
    assert "+allow_managed_hooks_only = true" in r.stdout and "+hooks = true" in r.stdout
    assert "dry run: nothing was written." in r.stderr
    assert "would set allow_managed_hooks_only = true" in r.stderr
    assert "warning: for real this would be refused" in r.stderr  # no client yet
    assert snapshot(root) == {} and not (root / "etc").exists()


@pytest.mark.parametrize("args", [["--system", "--user"], ["--root", "/x"],
                                  ["--system", "--executable", "/usr/bin/agentgate"]])
def test_option_combinations_that_make_no_sense_are_usage_errors(args: list[str]) -> None:
    r = agx("hook", "install", "claude-code", *args)
    assert r.returncode == EXIT_USAGE and "--system goes without --user" in r.stderr


def test_a_relative_root_is_a_usage_error() -> None:
    r = agx("hook", "install", "claude-code", "--system", "--root", "machine", "--dry-run")
    assert r.returncode == EXIT_USAGE and "--root must be an absolute path" in r.stderr


def test_another_user_is_refused_and_may_only_look(shared_tmp: Path,
                                                  other_user: OtherUser) -> None:
    root = shared_tmp / "machine"
    root.mkdir(mode=0o755)
    make_client(root)
    r = agx("hook", "install", "claude-code", "--system", "--root", str(root), user=other_user)
    assert r.returncode == EXIT_USAGE, r.stderr
    assert "must run as root" in r.stderr
    assert f"sudo agentgate hook install claude-code --system --root {root}" in r.stderr
    assert not (root / "etc").exists()
    look = agx("hook", "install", "claude-code", "--system", "--root", str(root), "--dry-run",
               user=other_user)
    assert look.returncode == 0, look.stderr
    assert f'"command": "{command("claude-code")}"' in look.stdout
    assert not (root / "etc").exists()
    path = root / FILES["claude-code"]  # a managed file only root can read: fail closed
    path.parent.mkdir(parents=True, mode=0o755)
    path.write_text("{}")
    path.chmod(0o600)
    hidden = agx("hook", "install", "claude-code", "--system", "--root", str(root), "--dry-run",
                 user=other_user)
    assert hidden.returncode == EXIT_CONFIG and "cannot read it (Permission denied)" in hidden.stderr
