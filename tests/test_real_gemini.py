"""Conformance: the real Gemini CLI, headless (``-p``) in ``--yolo`` mode, against a scripted
Gemini API on 127.0.0.1 (tests/fakemodel.py FakeGemini), with the hook installed by
`agentgate hook install gemini --user`.

The pinned CLI is installed by .ci/run into .ci/node/ (README, Development); a missing or other
version fails these tests rather than skipping them. Each session runs in a network namespace that
has only loopback, where the model server listens too (agentpins.loopback_net; without root the
tests fail, never fall back to the host's network). A stand-in `vercel` on PATH appends its
arguments to a marker file (its path written into the script: Gemini strips most variables from
the commands it runs when GITHUB_SHA is set), which is the proof of what ran.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agentpins import INSTALL, HumanSide, NetworkProbe, bench_measures, loopback_net, pinned
from conftest import marker_lines
from fakemodel import FINAL_TEXT, FakeGemini, function_responses

from agentgate.integrations.rewrite import gemini as gemini_rewrite

REPO = Path(__file__).resolve().parent.parent
GEMINI_CLI_VERSION = "0.61.0"  # bump in .ci/node/package.json too (README, Development)
GEMINI = REPO / ".ci" / "node" / "node_modules" / ".bin" / "gemini"
BUNDLE = GEMINI.parent.parent / "@google" / "gemini-cli" / "bundle"
MODEL = "gemini-2.5-flash"  # named, so that no routing requests come before the conversation

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

HELD = "vercel deploy --prod"

# What a session needs besides the hook: API-key auth (then GOOGLE_GEMINI_BASE_URL is the
# endpoint), no usage statistics, telemetry or update checks.
SETTINGS = {"security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
            "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}}


@pytest.fixture(scope="module")
def gemini() -> Path:
    """The pinned Gemini CLI; fails (never skips) when it is missing or another version."""
    if not GEMINI.exists():
        pytest.fail(f"Gemini CLI is not installed at {GEMINI}: run `{INSTALL}` in the clone")
    out = subprocess.run([str(GEMINI), "--version"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert out.stdout.strip() == GEMINI_CLI_VERSION, (out.stdout, out.stderr, INSTALL)
    return GEMINI


@dataclass(frozen=True)
class Session:
    result: dict[str, Any]
    stderr: str
    conversation: list[dict[str, Any]]

    def responses(self) -> list[str]:
        """What each tool call answered the model, as text (the last request's)."""
        return [json.dumps(r.get("response")) for r in function_responses(self.conversation[-1])]


@dataclass(frozen=True)
class Harness(HumanSide):
    gemini: Path
    work: Path
    home: Path
    marker: Path
    env: dict[str, str]

    def session(self, *turns: tuple[str, dict[str, Any]], args: tuple[str, ...] = (),
                **env: str) -> Session:
        """One `gemini -p` session whose model makes ``turns`` (function calls), then stops."""
        net = loopback_net()  # the agent and its model server: only loopback
        model = FakeGemini(turns=list(turns), net=net).start()
        try:
            proc = subprocess.run(
                net.argv(str(self.gemini), "-p", "go", "--yolo", "--output-format", "json",
                         "-m", MODEL, *args),
                cwd=self.work, env=dict(self.env, GOOGLE_GEMINI_BASE_URL=model.url, **env),
                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180,
                check=False)
        finally:
            model.stop()
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        result = json.loads(proc.stdout)
        assert result["response"] == FINAL_TEXT, result
        conversation = model.conversation()
        assert len(conversation) == len(turns) + 1, [r.path for r in model.requests]
        return Session(result, proc.stderr, conversation)

    def shell(self, command: str, **env: str) -> Session:
        return self.session(("run_shell_command", {"command": command}), **env)


@pytest.fixture
def gm(gemini: Path, tmp_path: Path) -> Harness:
    """Gemini CLI with agentgate's hook installed for the user, all state in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "marker.txt"
    (bin_dir / "vercel").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{marker}'\n"
                                    "echo \"vercel ran: $*\"\n"
                                    f"if [ -e '{marker}.exit' ]; then exit 3; fi\n")
    (bin_dir / "vercel").chmod(0o755)
    (tmp_path / "policy.toml").write_text(POLICY)
    work = tmp_path / "work"
    work.mkdir()
    home = Path(os.environ["HOME"])
    (home / ".gemini").mkdir(exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS, indent=2) + "\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GEMINI_", "GOOGLE_", "AGENTGATE_", "GITHUB_"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        AGENTGATE_HOME=os.environ["AGENTGATE_HOME"],
        AGENTGATE_CONFIG_DIR=str(tmp_path / "agentgate-config"),
        AGENTGATE_POLICY=str(tmp_path / "policy.toml"),
        GEMINI_API_KEY="fake-key",
        GEMINI_CLI_TRUST_WORKSPACE="true",  # else --yolo falls back to the default mode
        TERM="dumb",
    )
    h = Harness(gemini, work, home, marker, env)
    out = h.ag("hook", "install", "gemini", "--user")
    assert out.returncode == 0, out.stderr
    settings = json.loads((home / ".gemini" / "settings.json").read_text())
    [entry] = settings["hooks"]["BeforeTool"]
    assert entry["matcher"] == "run_shell_command|write_file|replace"
    [hook] = entry["hooks"]
    assert hook["timeout"] == 60000
    assert hook["command"].split()[0].startswith("AGENTGATE_HOME=/")  # not the environment's
    assert settings["security"] == SETTINGS["security"]  # merged, not replaced
    return h


def test_benign_command_runs(gm: Harness) -> None:
    s = gm.shell("vercel deploy")
    assert marker_lines(gm.marker) == ["deploy"]
    assert any("vercel ran: deploy" in r for r in s.responses())
    assert gm.pending() == []
    [event] = gm.audit("--event", "allowed")  # the hook saw the call: it did not go around it
    assert event["argv"] == ["vercel deploy"]
    assert event["agent"] == "gemini"


def test_held_command_is_blocked_with_the_id(gm: Harness) -> None:
    s = gm.shell(HELD)
    assert marker_lines(gm.marker) == []
    [request] = gm.pending()
    assert request["argv"] == [HELD]
    assert request["agent"] == "gemini"
    assert request["rule"] == "prod-deploy"
    [text] = s.responses()
    assert "approval required [prod-deploy]" in text
    assert f"agentgate approve {request['id']}" in text
    assert "vercel ran" not in text


def test_approved_command_runs_exactly_once_then_is_held_again(gm: Harness) -> None:
    gm.shell(HELD)
    [first] = gm.pending()
    out = gm.ag("approve", first["id"], "--yes")  # another process: the human's terminal
    assert out.returncode == 0, out.stderr

    s = gm.shell(HELD)
    assert marker_lines(gm.marker) == ["deploy --prod"]
    assert any("vercel ran: deploy --prod" in r for r in s.responses())
    assert gm.pending() == []
    assert [e["id"] for e in gm.audit("--event", "grant_consumed")] == [first["id"]]

    s = gm.shell(HELD)
    assert marker_lines(gm.marker) == ["deploy --prod"]
    [again] = gm.pending()
    assert again["id"] != first["id"]
    assert f"agentgate approve {again['id']}" in s.responses()[0]


def test_an_approved_retry_that_ran_is_reported_with_its_exit_status(gm: Harness) -> None:
    """AfterTool for the retry (it exits 3): a `ran` event linked to the grant (Gemini CLI sends
    no tool-use id: the call is its session and command), with the exit code its text gives."""
    gm.shell(HELD)
    [first] = gm.pending()
    assert gm.ag("approve", first["id"], "--yes").returncode == 0
    gm.marker.with_name(gm.marker.name + ".exit").write_text("")
    gm.shell(HELD)
    assert marker_lines(gm.marker) == ["deploy --prod"]
    [consumed] = gm.audit("--event", "grant_consumed")
    [ran] = gm.audit("--event", "ran")
    assert ran["id"] == first["id"] and ran["argv"] == [HELD] and ran["agent"] == "gemini"
    assert (ran["report"], ran["outcome"], ran["exit_code"]) == ("AfterTool", "failed", 3)
    assert ran["session"] == consumed["session"] and "vercel ran" not in json.dumps(ran)
    [use] = json.loads(gm.ag("show", "--json", first["id"]).stdout)["hookUses"]
    assert use["status"] == "ran" and "it failed (exit code 3)" in use["text"]


def test_a_grant_another_hook_then_refuses_is_told_when_the_turn_ends(gm: Harness) -> None:
    """agentgate allows the approved retry (the grant is used), another BeforeTool hook denies
    it, so it never runs and no AfterTool comes; AfterAgent ends the turn, and the grant is
    recorded as consumed but never reported as run."""
    gm.shell(HELD)
    [first] = gm.pending()
    assert gm.ag("approve", first["id"], "--yes").returncode == 0
    path = gm.home / ".gemini" / "settings.json"
    settings = json.loads(path.read_text())
    settings["hooks"]["BeforeTool"].append({"matcher": "run_shell_command", "hooks": [{
        "type": "command", "name": "other",
        "command": "echo '{\"decision\": \"deny\", \"reason\": \"refused by another hook\"}'"}]})
    path.write_text(json.dumps(settings))
    gm.shell(HELD)
    assert marker_lines(gm.marker) == []
    assert [e["id"] for e in gm.audit("--event", "grant_consumed")] == [first["id"]]
    assert gm.audit("--event", "ran") == []
    [told] = gm.audit("--event", "no_report")
    assert told["id"] == first["id"] and "turn ended" in told["why"]
    assert "never reported that it ran" in gm.ag("show", first["id"]).stdout


# Gemini CLI runs what stripShellWrapper leaves: each of these runs `vercel deploy --prod`.
# Judged as sent, the last two would be allowed (bash runs `vercel` alone; BASH is no program
# agentgate knows).
WRAPPED = ["bash -c 'vercel deploy --prod'", 'sh -c "vercel deploy --prod"',
           "/bin/zsh -c 'vercel deploy --prod'", "bash -c vercel deploy --prod",
           "BASH -c vercel deploy --prod"]


@pytest.mark.parametrize("command", WRAPPED)
def test_what_gemini_runs_is_judged(gm: Harness, command: str) -> None:
    assert gemini_rewrite(command) == HELD
    s = gm.shell(command)
    assert marker_lines(gm.marker) == []
    [request] = gm.pending()
    assert request["argv"] == [HELD] and request["rule"] == "prod-deploy"
    assert f"agentgate approve {request['id']}" in s.responses()[0]


@pytest.mark.parametrize(("tool", "where"), [
    ("write_file", "project"), ("write_file", "user"), ("replace", "user")])
def test_gemini_cannot_rewrite_its_settings(gm: Harness, tool: str, where: str) -> None:
    """A project settings file with hooks disabled, or the user's without the hook: refused."""
    path = (gm.work if where == "project" else gm.home) / ".gemini" / "settings.json"
    before = path.read_text() if path.exists() else None
    args: dict[str, Any] = {"file_path": str(path)}
    if tool == "write_file":
        args["content"] = json.dumps({"hooksConfig": {"enabled": False}})
    else:
        args.update(instruction="Switch the hook off.", old_string='"BeforeTool"',
                    new_string='"Disabled"', allow_multiple=True)
    # the user's directory in the workspace: else Gemini refuses the path before any hook
    s = gm.session((tool, args), ("run_shell_command", {"command": HELD}),
                   args=("--include-directories", str(gm.home)) if where == "user" else ())
    assert (path.read_text() if path.exists() else None) == before
    assert "agentgate-protected-files" in s.responses()[0]
    assert marker_lines(gm.marker) == []  # and the hook still held the deploy
    assert len(gm.pending()) == 1
    [event] = gm.audit("--event", "blocked")
    assert event["agent"] == "gemini" and tool in json.dumps(event) and str(path) in json.dumps(event)


def test_github_sha_does_not_move_the_state(gm: Harness, tmp_path: Path) -> None:
    """With GITHUB_SHA set, Gemini strips AGENTGATE_* and XDG_* from the hook's environment:
    the installed command line carries them."""
    s = gm.shell(HELD, GITHUB_SHA="0123abc", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    assert marker_lines(gm.marker) == []
    [request] = gm.pending()  # in the configured state directory
    assert f"agentgate approve {request['id']}" in s.responses()[0]
    assert gm.ag("approve", request["id"], "--yes").returncode == 0
    gm.shell(HELD, GITHUB_SHA="0123abc")
    assert marker_lines(gm.marker) == ["deploy --prod"]


def test_a_stalled_hook_fails_closed_before_gemini_stops_waiting(gm: Harness) -> None:
    """Gemini runs the tool when its hook has not answered in 60 s (the installed timeout): with
    the ledger lock held by another process and a lock wait longer than that, the hook denies at
    its own deadline, 10 s before."""
    lock = Path(gm.env["AGENTGATE_HOME"]) / "ledger.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        s = gm.shell(HELD, AGENTGATE_LOCK_TIMEOUT="300")
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert marker_lines(gm.marker) == []
    [text] = s.responses()
    assert "BLOCKED (fail-closed)" in text and "did not decide within 50s" in text
    assert took >= 50, took  # the session's own start-up comes on top


def test_broken_policy_runs_nothing(gm: Harness, tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text("version = 1\n[[rule]\n")
    s = gm.shell("vercel deploy")
    assert marker_lines(gm.marker) == []
    [text] = s.responses()
    assert "BLOCKED (fail-closed)" in text and "vercel ran" not in text


def test_gemini_and_its_commands_have_only_loopback(gm: Harness, tmp_path: Path) -> None:
    """The session ran (its model answered on 127.0.0.1, inside the namespace), and a command
    the model ran through the hook reached neither this machine's address nor the host's
    loopback."""
    probe = NetworkProbe(tmp_path)
    s = gm.shell(probe.command)
    [text] = s.responses()
    probe.check(json.loads(text)["output"])
    [event] = gm.audit("--event", "allowed")
    assert event["argv"] == [probe.command] and event["agent"] == "gemini"


def test_the_benchmark_feeds_the_hook_what_gemini_sends(gm: Harness, tmp_path: Path) -> None:
    """README, Performance: per-call hook latency comes from bench/bench.py (part 1d), with the
    input Gemini CLI sends, captured here by a hook that runs first."""
    path = gm.home / ".gemini" / "settings.json"
    settings = json.loads(path.read_text())
    sent = tmp_path / "sent.json"
    settings["hooks"]["BeforeTool"].insert(0, {"matcher": "run_shell_command", "hooks": [{
        "type": "command", "name": "capture", "command": f"cat > {sent}"}]})
    path.write_text(json.dumps(settings))
    gm.shell("ls -la")
    bench_measures("gemini", json.loads(sent.read_text()))


def test_the_rewriting_is_the_bundles(tmp_path: Path) -> None:
    """agentgate.integrations.rewrite.gemini against the installed bundle's stripShellWrapper,
    on upstream's cases and thousands of generated ones."""
    chunks = sorted(p for p in BUNDLE.glob("chunk-*.js")
                    if "  stripShellWrapper,\n" in p.read_text(errors="replace"))
    assert chunks, f"no chunk of the bundle in {BUNDLE} exports stripShellWrapper"
    rng = random.Random(11)
    heads = ["sh -c ", "bash -c ", "/usr/bin/zsh -c ", "BASH -C ", "cmd.exe /c ",
             "powershell -NoProfile -Command ", "pwsh.exe -Command ", " ", ""]
    pieces = ['"', "'", "\\", "$", "${", "}", " ", "\t", "\n", "a", "vercel", "--prod", "#",
              "*", "?", ";", "&&", "|", "(", ")", "<", ">", "$x", "$?", "$_y", "\u00a0", "\ufeff"]
    cases = [h + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
             for _ in range(4000) for h in [rng.choice(heads)]]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    for chunk in chunks:  # the bundle carries copies; each must agree
        script = (f"import {{readFileSync}} from 'fs'; const m = await import("
                  f"{json.dumps(str(chunk))}); const cases = JSON.parse(readFileSync("
                  f"{json.dumps(str(tmp_path / 'cases.json'))}, 'utf8')); process.stdout.write("
                  "JSON.stringify(cases.map((c) => m.stripShellWrapper(c)))); process.exit(0);")
        out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
        assert out.returncode == 0, out.stderr[-2000:]
        expected = json.loads(out.stdout)
        assert [(c, gemini_rewrite(c)) for c in cases] == list(zip(cases, expected, strict=True))


def test_ci_installs_the_pinned_version() -> None:
    assert pinned("@google/gemini-cli") == GEMINI_CLI_VERSION
    assert INSTALL in (REPO / ".ci" / "run").read_text()
    assert INSTALL in (REPO / "README.md").read_text()
