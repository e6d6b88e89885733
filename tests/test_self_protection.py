"""An agent cannot approve its own requests or change the files that gate it, in any spelling."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import AGENTGATE, ag

from agentgate.gate import Gate, Subject
from agentgate.paths import StatePaths
from agentgate.policy import load_policy


@pytest.fixture
def gate(policy_file: Path) -> Gate:
    paths = StatePaths.default()
    return Gate(load_policy(None, Path.cwd(), paths), paths)


def decide(gate: Gate, text: str) -> tuple[str, str | None]:
    ev = gate.evaluate(Subject("script", (text,), str(Path.cwd())))
    return ev.decision, ev.rule


@pytest.mark.parametrize("cmd", [
    "agentgate approve apr_abcd2345 --yes",
    "python3 -m agentgate.__main__ approve apr_abcd2345 --yes",
    "python3 -m agentgate approve apr_abcd2345 --yes",
    "python3 .venv/bin/agentgate approve apr_abcd2345 --yes",
    "/tmp/gk approve apr_abcd2345 --yes",                       # a symlink with another name
    "env -u AGENTGATE_GATED agentgate deny apr_abcd2345",
    "sh -c 'agentgate --policy x.toml approve apr_abcd2345 -y'",
    "python3 -c \"import subprocess; subprocess.run(['agentgate', 'approve', 'apr_abcd2345'])\"",
    "/tmp/gk policy trust",
    "agentgate policy trust .agentgate.toml",
])
def test_self_approval_in_any_spelling_is_denied(gate: Gate, cmd: str) -> None:
    assert decide(gate, cmd) == ("deny", "agentgate-self-approval")


@pytest.mark.parametrize("cmd", [
    "git log --oneline | grep approve", "npm run deny-list", "echo policy; echo trust",
    "agentgate pending", "agentgate log --tail 5", "agentgate show apr_abcd2345",
])
def test_talking_about_approval_is_fine(gate: Gate, cmd: str) -> None:
    assert decide(gate, cmd)[0] == "allow"


def test_changes_to_policy_state_package_or_hooks_need_a_human(gate: Gate, tmp_path: Path) -> None:
    home = Path.home()
    config = home / ".config" / "agentgate"
    import agentgate

    pkg = Path(agentgate.__file__).resolve().parent
    state = os.environ["AGENTGATE_HOME"]
    for cmd in [
        f"cd {config} && printf 'version = 1' > policy.toml",
        "sed -i s/ask/allow/ ~/.config/agentgate/*.toml",
        "cat ~/.config//agentgate/policy.toml",
        "echo x > $HOME/.config/agentgate/../agentgate/policy.toml",
        f"rm {state}/ledger.json",
        f"sed -i s/ask/allow/ {pkg}/policies.example.toml",
        "rm .agent*",
        "rm .claude/settings.json",
        "echo {} > .cursor/hooks.json",
        f"cp evil.toml {os.environ['AGENTGATE_POLICY']}",
    ]:
        assert decide(gate, cmd) == ("ask", "agentgate-protected-files"), cmd
    assert decide(gate, "ls -la ~")[0] == "allow"
    assert decide(gate, "python3 -c \"print('x' * 3)\"")[0] == "allow"  # `*` is not a path
    assert decide(gate, "ls * && cat *.md")[0] == "allow"  # a bare glob skips dotfiles, as bash
    assert decide(gate, f"ls {state}2")[0] == "allow"  # a sibling with a longer name


def test_symlinked_agentgate_cannot_approve_through_run(tmp_path: Path, policy_file: Path,
                                                        fake_bin: Path, marker: Path) -> None:
    r = ag("run", "--json", "--", "deployer", "--prod")
    rid = json.loads(r.stdout)["approvalId"]
    link = tmp_path / "gk"
    link.symlink_to(AGENTGATE)
    for argv in ([str(link), "approve", rid, "--yes"],
                 ["env", "-u", "AGENTGATE_GATED", sys.executable, "-m", "agentgate.__main__",
                  "approve", rid, "--yes"]):
        r = ag("run", "--", *argv)
        assert r.returncode == 77, r.stderr
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "pending"
    assert not marker.exists()
