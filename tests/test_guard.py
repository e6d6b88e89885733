"""guard: the built-in checks read the gate's one analysis, each command in its own directory.

The `cd` class of issue 9: a command that reaches agentgate's state or policy directory through
the directory it runs in (`cd <parent> && rm -rf <name>`) is held like the absolute path is, in
every spelling; unit tests over the analysis, then end to end through the console script.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ag

from agentgate import guard
from agentgate.gate import Subject, analyze

HELD = "agentgate-protected-files"


def reference(text: str, cwd: Path | str) -> str | None:
    """What the protected-files guard finds in ``text`` run from ``cwd`` (None: nothing)."""
    return guard.protected_reference(analyze(Subject("script", (text,), str(cwd))))


@pytest.fixture
def xdg_state(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state directory in its default place, ~/.local/state/agentgate (no AGENTGATE_HOME)."""
    monkeypatch.delenv("AGENTGATE_HOME")
    state = Path.home() / ".local" / "state" / "agentgate"
    state.mkdir(parents=True)
    return state


def test_cd_to_the_parent_of_the_state_dir_then_its_name(state_dir: Path, tmp_path: Path) -> None:
    state_dir.mkdir()
    parent, name = state_dir.parent, state_dir.name
    for text in [
        f"cd {parent} && rm -rf {name}",
        f"cd {parent}; rm -rf {name}",
        f"pushd {parent} && rm -rf {name} && popd",
        f"pushd {parent}; rm -rf {name}/ledger.json; popd",
        f"bash -c 'cd {parent} && rm -rf {name}'",
        f"sh -c \"cd {parent.parent}; cd {parent.name}; rm -rf {name}\"",
        f"cd {parent.parent}; cd {parent.name}; rm -rf {name}",
        f"(cd {parent} && mv {name} /tmp/elsewhere)",
        f"cd {parent} && find {name} -delete",
        f"cd {parent} && rm -rf ./{name}",
        f"cd {parent} && rm -rf {name[:2]}*",
        f"cd {parent} && echo x > {name}/ledger.json",
        f"cd {parent} && python3 -c \"import shutil; shutil.rmtree('{name}')\"",
        f"cd / && rm -rf {str(state_dir).lstrip('/')}",
        f"cd {state_dir}/.. && rm -rf {name}",
        f"cd {parent} && cd {name} && rm -f ledger.json",
        f"if true; then cd {parent}; fi; rm -rf {name}",
    ]:
        assert reference(text, tmp_path / "work") is not None, text


def test_relative_names_from_home_and_the_default_state_dir(xdg_state: Path) -> None:
    home = Path.home()
    (home / ".config" / "agentgate").mkdir(parents=True)
    for text, cwd in [
        ("cd .config && rm -rf agentgate", home),
        ("rm -rf .config/agentgate", home),
        ("cd ~/.local/state && rm -rf agentgate", home / "proj"),
        ("cd $HOME/.local/state && rm -rf agentgate", home / "proj"),
        ("cd && cd .local/state && rm -rf agentgate", "/tmp"),
        ("cd ~/.local && mv state /tmp", "/tmp"),
        ("pushd ~/.config && rm -rf agentgate; popd", "/tmp"),
        ("bash -c 'cd ~/.local/state && rm -rf agentgate'", "/tmp"),
        ("cd .local; cd state; rm -rf agentgate", home),
        ("(cd ~/.local/state && mv agentgate /tmp)", "/tmp"),
        ("rm -rf agentgate", xdg_state.parent),
        ("ls", xdg_state),  # a command that runs inside the state directory
    ]:
        assert reference(text, cwd) is not None, (text, cwd)


def test_a_directory_that_is_not_known_holds_the_protected_names(xdg_state: Path) -> None:
    """After `cd "$X"` the directory could be the parent of the state dir: a relative word
    that is (or may expand to) the name of a protected location is held, fail closed."""
    for text in [
        'cd "$(dirname ~/.local/state/agentgate)" && rm -rf agentgate',
        'cd "$D" && mv agentgate /tmp',
        'cd "$D" && rm -rf *',                      # * may expand to agentgate
        'cd "$D" && cat policy.toml',
        'cd "$D" && rm -rf .claude',
        'rm -rf "$D/agentgate"',                     # a path below a run-time directory
        'rm -rf "$(echo ~/.local)"/state/agentgate',
        'f() { rm -rf agentgate; }; cd ~/.local/state && f',
        "CDPATH=~/.local/state cd agentgate && rm -rf *",
    ]:
        assert reference(text, "/tmp") is not None, text
    for text in [
        'cd "$D" && npm test',
        'cd "$D" && rm -rf build dist *.pyc',
        'rm -rf "$TMP/build/x"',
        'cd "$D" && cat README.md',
    ]:
        assert reference(text, "/tmp") is None, text


def test_run_time_words_are_compared_by_their_shape(xdg_state: Path) -> None:
    assert reference('rm -rf "$HOME/.config/$NAME"', "/tmp") is not None
    assert reference("rm -rf ~/.local/state/agentgate/$F", "/tmp") is not None
    assert reference('rm -rf "$HOME/projects/$NAME"', "/tmp") is None
    assert reference('echo "$PATH"', "/tmp") is None


def test_symlinked_directories_lead_to_the_same_files(state_dir: Path, tmp_path: Path) -> None:
    state_dir.mkdir()
    link = tmp_path / "link"
    link.symlink_to(state_dir.parent)
    assert reference(f"cd {link} && rm -rf {state_dir.name}", tmp_path) is not None
    assert reference(f"rm -rf {link}/{state_dir.name}", tmp_path) is not None


def test_tilde_plus_is_the_directory_and_tilde_minus_one_not_known(state_dir: Path,
                                                                   tmp_path: Path) -> None:
    """bash expands ``~+`` to $PWD, ``~-`` to $OLDPWD and ``~N``, ``~+N``, ``~-N`` to the
    directory stack: ``~+/x`` is ``x`` where the command runs, the others a directory the
    gate does not know (held when a segment is a protected name)."""
    state_dir.mkdir()
    parent, name = state_dir.parent, state_dir.name
    assert reference(f"rm -rf ~+/{name}", parent) is not None
    assert reference(f"cd {parent} && rm -rf ~+/{name}", tmp_path) is not None
    assert reference(f"rm -rf ~+/{name}/ledger.json", parent) is not None
    for stack in ("~-", "~1", "~+2", "~-0"):
        assert reference(f"rm -rf {stack}/{name}", tmp_path) is not None, stack
    assert reference("rm -rf ~+/build", parent) is None
    assert reference("ls ~-/src ~1/src", tmp_path) is None


def test_a_home_of_root_is_root(monkeypatch: pytest.MonkeyPatch, state_dir: Path,
                                tmp_path: Path) -> None:
    """A system user's home is often ``/``: ``~daemon`` is ``/`` (not the empty word, which
    named the directory the command runs in) and ``~daemon/x`` is ``/x``."""
    import pwd

    real = pwd.getpwnam

    def getpwnam(user: str) -> pwd.struct_passwd:
        if user == "sysd":
            return pwd.struct_passwd(("sysd", "x", 999, 999, "", "/", "/usr/sbin/nologin"))
        return real(user)

    monkeypatch.setattr(pwd, "getpwnam", getpwnam)
    p = guard._Protected((), str(Path.home()))
    assert p.known_vars("~sysd", str(tmp_path)) == "/"
    assert p.known_vars("~sysd/", None) == "/"
    assert p.known_vars("~sysd/x", None) == "/x"
    assert p.known_vars("~root/x", None) == real("root").pw_dir.rstrip("/") + "/x"
    state_dir.mkdir()
    assert reference(f"rm -rf ~sysd{state_dir}", tmp_path) is not None
    assert reference(f"rm -rf ~sysd/{state_dir.name}", state_dir.parent) is None


def test_an_agent_whose_home_is_root_keeps_the_parents_below_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME=/ (a service account): ``/.config`` holds the policy as ``~/.config`` does."""
    monkeypatch.delenv("AGENTGATE_HOME")
    monkeypatch.setenv("HOME", "/")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/.config")
    monkeypatch.setenv("XDG_STATE_HOME", "/.local/state")
    for text in ("rm -rf /.config", "rm -rf ~/.local", "mv /.local/state /tmp",
                 "cd / && rm -rf .config", "rm -rf ~/.local/state/agentgate"):
        assert reference(text, "/tmp") is not None, text
    for text in ("rm -rf /tmp/build", "ls ~ /", "cd ~ && ls"):
        assert reference(text, "/tmp") is None, text


def test_ordinary_commands_stay_allowed(xdg_state: Path) -> None:
    home = Path.home()
    for text, cwd in [
        ("cd src && rm -rf build", home / "proj"),
        ("cd /tmp && rm -rf agentgate-test", home),
        ("ls -la ~ && cd ~/proj && git status", "/tmp"),
        ("cd ~/proj && ls share", "/tmp"),
        ("python3 -c \"print('x' * 3)\"", home / "proj"),
        ("cd .. && ls", home / "proj"),
        ("echo done > out.txt 2>&1", home / "proj"),
    ]:
        assert reference(text, cwd) is None, (text, cwd)


def test_self_approval_reads_the_analysis_and_the_text() -> None:
    def approves(text: str) -> bool:
        return guard.approves_itself(analyze(Subject("script", (text,), "/tmp")), text)

    assert approves("agentgate app''rove apr_abcd2345")  # the words, after quoting
    assert approves("cat <<'E' > a.sh\nagentgate approve apr_abcd2345\nE")
    assert approves("python3 -c \"import os; os.system('agentgate deny apr_abcd2345')\"")
    assert not approves("git log --grep approve")


# --------------------------------------------------------------------------- end to end


@pytest.mark.usefixtures("policy_file")
def test_run_holds_cd_then_rm_of_the_state_dir(state_dir: Path, tmp_path: Path) -> None:
    assert ag("run", "--", "true").returncode == 0  # the state dir exists now
    parent, name = state_dir.parent, state_dir.name
    for script in (f"cd {parent} && rm -rf {name}", f"cd {parent.parent}; cd {parent.name}; rm -rf {name}",
                   f"pushd {parent} >/dev/null && mv {name} {name}.old"):
        r = ag("run", "--json", "--", "bash", "-c", script, cwd=tmp_path)
        assert r.returncode == 75, (script, r.stderr)
        assert json.loads(r.stdout)["rule"] == HELD
        assert (state_dir / "ledger.json").exists()
    r = ag("run", "--", "bash", "-c", f"cd {parent} && ls {name} >/dev/null", cwd=tmp_path)
    assert r.returncode == 75  # reading counts too: the gate cannot tell a read from a write


@pytest.mark.usefixtures("policy_file")
def test_hook_holds_cd_into_the_config_dir_from_home(tmp_path: Path) -> None:
    home = Path.home()
    config = home / ".config" / "agentgate"
    config.mkdir(parents=True)
    (config / "policy.toml").write_text('[settings]\ndefault = "allow"\n')
    for command in ("cd .config && rm -rf agentgate", "cd .config/agentgate && : > policy.toml",
                    'cd "$(dirname "$XDG_CONFIG_HOME")/.config" && rm -rf agentgate'):
        payload = {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_input": {"command": command}, "cwd": str(home)}
        r = ag("hook", "claude-code", input=json.dumps(payload), cwd=home)
        out = json.loads(r.stdout)["hookSpecificOutput"]
        assert r.returncode == 0 and out["permissionDecision"] == "deny", (command, r.stdout)
        assert HELD in out["permissionDecisionReason"], command
    (home / "proj").mkdir()
    payload = {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": "cd proj && ls -la"}, "cwd": str(home)}
    r = ag("hook", "claude-code", input=json.dumps(payload), cwd=home)
    assert r.returncode == 0 and "deny" not in r.stdout, r.stdout
    assert os.path.isdir(config)
