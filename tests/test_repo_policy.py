"""Repo-local `.agentgate.toml`: found upward to the repo root, restrictions only until trusted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ag

REPO_POLICY = """\
version = 1
[settings]
default = "ask"
[[rule]]
id = "repo-no-curl"
decision = "deny"
reason = "No network from this repo."
commands = ["curl"]
[[rule]]
id = "repo-allow-deploy"
decision = "allow"
commands = ["deployer"]
"""


@pytest.fixture
def repo(tmp_path: Path, policy_file: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".agentgate.toml").write_text(REPO_POLICY)
    return root


def check(*cmd: str, cwd: Path) -> tuple[int, dict[str, object]]:
    r = ag("check", "--json", "--", *cmd, cwd=cwd)
    return r.returncode, json.loads(r.stdout)


def test_untrusted_repo_policy_only_restricts(repo: Path) -> None:
    cwd = repo / "sub" / "deeper"
    code, obj = check("curl", "https://example.com", cwd=cwd)
    assert (code, obj["decision"], obj["rule"]) == (77, "deny", "repo-no-curl")
    code, obj = check("deployer", "--prod", cwd=cwd)     # its allow rule is ignored
    assert (code, obj["rule"]) == (75, "deploy-prod")
    code, obj = check("ls", cwd=cwd)                      # its default "ask" is ignored
    assert code == 0
    sources = obj["policies"]
    assert [s["kind"] for s in sources] == ["env", "repo"]
    assert sources[1]["trusted"] is False
    assert "untrusted" in sources[1]["note"]
    human = ag("check", "--", "ls", cwd=cwd).stdout
    assert "UNTRUSTED" in human and ".agentgate.toml" in human


def test_trust_then_any_change_untrusts(repo: Path) -> None:
    r = ag("policy", "trust", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "trusted" in r.stderr
    code, obj = check("deployer", "--prod", cwd=repo)    # a trusted allow rule counts, but ...
    assert obj["parts"][0]["rules"] == ["deploy-prod", "repo-allow-deploy"]
    assert code == 75                                    # ... the strictest decision still wins
    code, obj = check("ls", cwd=repo)                    # its stricter default now applies
    assert (code, obj["decision"]) == (75, "ask")
    assert obj["policies"][1]["trusted"] is True
    (repo / ".agentgate.toml").write_text(REPO_POLICY + "\n# edited\n")
    code, obj = check("ls", cwd=repo)
    assert code == 0 and obj["policies"][1]["trusted"] is False
    events = [json.loads(x) for x in ag("log", "--json", "--event", "policy_trusted").stdout.splitlines()]
    assert len(events) == 1 and events[0]["files"] == [str((repo / ".agentgate.toml").resolve())]


def test_search_stops_at_the_repository_root(tmp_path: Path, repo: Path) -> None:
    (tmp_path / ".agentgate.toml").write_text(
        '[[rule]]\nid = "outside"\ndecision = "deny"\ncommands = ["ls"]\n')
    code, obj = check("ls", cwd=repo / "sub")
    assert code == 0
    assert all("outside" not in p["rules"] for p in obj["parts"])


def test_trust_through_the_gate_is_refused(repo: Path) -> None:
    r = ag("run", "--", "agentgate", "policy", "trust", cwd=repo)
    assert r.returncode == 77
    r = ag("policy", "trust", cwd=repo, env={"AGENTGATE_GATED": "1"})
    assert r.returncode == 77
    assert "outside the gate" in r.stderr
    _code, obj = check("ls", cwd=repo)
    assert obj["policies"][1]["trusted"] is False


def test_invalid_repo_policy_fails_closed(repo: Path, fake_bin: Path, marker: Path) -> None:
    (repo / ".agentgate.toml").write_text('[[rule]]\nid = "x"\ndecision = "sometimes"\ncommands = ["a"]\n')
    r = ag("run", "--", "deployer", "site", cwd=repo)
    assert r.returncode == 78
    assert ".agentgate.toml" in r.stderr and "rule 'x'" in r.stderr
    assert not marker.exists()
    assert ag("policy", "trust", cwd=repo).returncode == 78  # an invalid file cannot be trusted


def sources(obj: dict[str, object]) -> list[dict[str, object]]:
    policies = obj["policies"]
    assert isinstance(policies, list)
    return policies


def test_every_file_from_the_root_down_applies_and_is_trusted_on_its_own(repo: Path) -> None:
    sub = repo / "sub"
    (sub / ".agentgate.toml").write_text(
        '[[rule]]\nid = "sub-ask-make"\ndecision = "ask"\ncommands = ["make"]\n'
        '[[rule]]\nid = "sub-allow-nuke"\ndecision = "allow"\ncommands = ["nuke"]\n')
    code, obj = check("make", cwd=sub / "deeper")
    assert (code, obj["rule"]) == (75, "sub-ask-make")
    assert [(s["kind"], s["path"]) for s in sources(obj)[1:]] == [  # the root first, then down
        ("repo", str((repo / ".agentgate.toml").resolve())),
        ("repo", str((sub / ".agentgate.toml").resolve()))]
    assert check("make", cwd=repo)[0] == 0                 # above sub/, only the root file applies
    assert ag("policy", "trust", cwd=sub).returncode == 0  # trusts both files as they are now
    code, obj = check("nuke", cwd=sub)                     # a trusted allow never beats a deny
    assert (code, obj["rule"]) == (77, "nuke")
    (sub / ".agentgate.toml").write_text('[[rule]]\nid = "x"\ndecision = "deny"\ncommands = ["x"]\n')
    _code, obj = check("ls", cwd=sub)
    assert [s["trusted"] for s in sources(obj)] == [True, True, False]


def test_the_readme_layering_example_holds(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### Repo-local policies and trust"):readme.index("## How agentgate reads")]
    user_text, repo_text = re.findall(r"```toml\n(.*?)```", section, re.S)
    config, app = tmp_path / "config", tmp_path / "src" / "app"
    config.mkdir()
    (config / "policy.toml").write_text(user_text)
    (app / ".git").mkdir(parents=True)
    (app / "sub").mkdir()
    (app / ".agentgate.toml").write_text(repo_text)
    env = {"AGENTGATE_CONFIG_DIR": str(config)}

    def decide(*cmd: str) -> int:
        return ag("check", "--", *cmd, cwd=app / "sub", env=env).returncode

    assert (decide("make", "deploy"), decide("ls"), decide("make", "test")) == (77, 0, 75)
    assert ag("policy", "trust", cwd=app, env=env).returncode == 0
    assert decide("make", "test") == 0
    (app / ".agentgate.toml").write_text(repo_text + "# edited\n")
    assert (decide("make", "test"), decide("make", "deploy")) == (75, 77)


# --------------------------------------------------------------------------- regexes that could hang the gate

DEADLINE = 10.0  # seconds for a whole process; a runaway regex used to hang it for hours


def hook_payload(command: str, cwd: Path) -> str:
    return json.dumps({"session_id": "s", "cwd": str(cwd), "hook_event_name": "PreToolUse",
                       "tool_name": "Bash", "tool_input": {"command": command}})


def test_an_untrusted_repo_regex_too_slow_to_answer_denies_quickly(repo: Path, fake_bin: Path,
                                                                  marker: Path) -> None:
    """Anyone who can push can add a deny rule (it applies untrusted). `.*.*.*.*X` passes every
    static check and takes hours on 20,000 characters: the decision's CPU budget stops it and
    the rule counts as matching, in `run`, `check` and the hook alike."""
    (repo / ".agentgate.toml").write_text(
        '[[rule]]\nid = "slow"\ndecision = "deny"\nreason = "No X."\nregex = [".*.*.*.*X"]\n')
    long_arg = "a" * 20_000
    r = ag("run", "--", "deployer", long_arg, cwd=repo, timeout=DEADLINE)
    assert r.returncode == 77, r.stderr
    assert "rule slow" in r.stderr and "ran out of time" in r.stderr
    assert not marker.exists()
    r = ag("check", "--json", "--", "deployer", long_arg, cwd=repo, timeout=DEADLINE)
    obj = json.loads(r.stdout)
    assert (r.returncode, obj["decision"], obj["rule"]) == (77, "deny", "slow")
    assert "fail closed" in obj["reason"]
    r = ag("hook", "claude-code", input=hook_payload(f"deployer {long_arg}", repo), cwd=repo,
           timeout=DEADLINE)
    out = json.loads(r.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "ran out of time" in out["permissionDecisionReason"]
    assert not marker.exists()
    assert check("deployer", "site", cwd=repo)[0] == 0  # a short command is answered for real


@pytest.mark.parametrize("regex", ["(.|.)*X", "(a|a)*b"])
def test_a_repo_regex_of_repeated_alternatives_is_refused_at_load(regex: str, repo: Path,
                                                                 fake_bin: Path, marker: Path) -> None:
    (repo / ".agentgate.toml").write_text(
        f'[[rule]]\nid = "x"\ndecision = "deny"\nregex = ["{regex}"]\n')
    needle = "rule 'x': regex"
    for args in (["policy", "validate", ".agentgate.toml"], ["run", "--", "deployer", "site"],
                 ["check", "--", "git", "status", "--porcelain", "--branch"]):
        r = ag(*args, cwd=repo, timeout=DEADLINE)
        assert r.returncode == 78 and needle in r.stderr and "alternatives" in r.stderr, r.stderr
    r = ag("hook", "claude-code", input=hook_payload("git status --porcelain --branch", repo),
           cwd=repo, timeout=DEADLINE)
    assert r.returncode == 2
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert not marker.exists()
