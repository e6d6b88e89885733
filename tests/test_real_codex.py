"""Conformance: the real Codex CLI, `codex exec` with approvals and sandbox off, against a scripted
OpenAI Responses server on 127.0.0.1 (tests/fakemodel.py), with the hook installed by
`agentgate hook install codex`.

Codex runs a user or project hook only once its hash has been reviewed in the TUI's /hooks (the
first test proves it: installed for the user, the hook never runs and a held command does), so
the other tests install it machine-wide, `hook install codex --system`, which Codex trusts as
managed. /etc/codex and /opt/agentgate (the protected-mode client's place) are this test's own
directories, bind-mounted in a private mount namespace around each process that reads them;
the client there runs this checkout's agentgate. Each session runs in a network namespace that
has only loopback, where the model server listens too (agentpins.loopback_net; without root the
tests fail, never fall back to the host's network).

The pinned CLI is installed by .ci/run into .ci/node/ (README, Development); a missing or other
version fails these tests rather than skipping them. A stand-in `vercel` on PATH appends its
arguments to $MARKER, which is the proof of what ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agentpins import INSTALL, HumanSide, NetworkProbe, bench_measures, loopback_net, pinned
from conftest import AGENTGATE, marker_lines
from fakemodel import FINAL_TEXT, FakeResponses, function_outputs

REPO = Path(__file__).resolve().parent.parent
CODEX_VERSION = "0.171.0"  # bump in .ci/node/package.json too (README, Development)
CODEX = REPO / ".ci" / "node" / "node_modules" / ".bin" / "codex"
MACHINE_DIRS = ("/etc/codex", "/opt/agentgate")  # bind-mounted over, per process

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
ID_RE = re.compile(r"apr_[a-z0-9]+")

Turn = tuple[str, dict[str, Any] | Callable[[list[str]], dict[str, Any]]]


def shell(command: str) -> Turn:
    return ("exec_command", {"cmd": command, "login": False})  # a login shell resets PATH


@pytest.fixture(scope="module")
def codex() -> Path:
    """The pinned Codex CLI; fails (never skips) when it is missing or another version."""
    if not CODEX.exists():
        pytest.fail(f"Codex is not installed at {CODEX}: run `{INSTALL}` in the clone")
    out = subprocess.run([str(CODEX), "--version"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert out.stdout.strip() == f"codex-cli {CODEX_VERSION}", (out.stdout, out.stderr, INSTALL)
    loopback_net()  # every session runs in it: fail here when it cannot be made
    for d in MACHINE_DIRS:
        if not os.path.isdir(d):
            if os.geteuid() != 0:
                pytest.fail(f"{d} must exist (an empty directory) as a mount point for these tests")
            os.makedirs(d, mode=0o755)
    return CODEX


@dataclass(frozen=True)
class Session:
    returncode: int
    stdout: str
    stderr: str
    conversation: list[dict[str, Any]]

    def outputs(self) -> list[str]:
        """What the tools returned to the model, in order (the last request holds them all)."""
        return function_outputs(self.conversation[-1])


@dataclass(frozen=True)
class Harness(HumanSide):
    codex: Path
    tmp: Path
    work: Path
    marker: Path
    env: dict[str, str]

    @property
    def codex_home(self) -> Path:
        return Path(self.env["CODEX_HOME"])

    def machine(self, *argv: str) -> list[str]:
        """``argv`` in a private mount namespace where /etc/codex and /opt/agentgate are this
        test's directories."""
        mounts = " && ".join(f'mount --bind "${i + 1}" {d}' for i, d in enumerate(MACHINE_DIRS))
        userns = [] if os.geteuid() == 0 else ["--map-root-user"]
        return ["unshare", "--mount", "--propagation", "private", *userns, "sh", "-c",
                f'{mounts} && shift {len(MACHINE_DIRS)} && exec "$@"', "sh",
                str(self.tmp / "etc-codex"), str(self.tmp / "opt-agentgate"), *argv]

    def session(self, *turns: Turn) -> Session:
        """One `codex exec` whose model makes ``turns`` (tool calls), then stops."""
        net = loopback_net()  # the agent and its model server: only loopback
        model = FakeResponses(turns=list(turns), net=net).start()
        try:
            proc = subprocess.run(
                net.argv(*self.machine(str(self.codex), "exec", "--skip-git-repo-check",
                                       "--dangerously-bypass-approvals-and-sandbox",
                                       "-c", f'model_providers.fake.base_url="{model.url}"',
                                       "go")),
                cwd=self.work, env=self.env, capture_output=True, text=True,
                stdin=subprocess.DEVNULL, timeout=180, check=False)
        finally:
            model.stop()
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert proc.stdout.strip().endswith(FINAL_TEXT), (proc.stdout, proc.stderr)
        conversation = model.conversation()
        assert len(conversation) == len(turns) + 1, [r.path for r in model.requests]
        return Session(proc.returncode, proc.stdout, proc.stderr, conversation)

    def install_machine_wide(self) -> subprocess.CompletedProcess[str]:
        assert AGENTGATE
        return subprocess.run(self.machine(AGENTGATE, "hook", "install", "codex", "--system"),
                              cwd=self.work, env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60, check=False)

    def status(self, *, machine: bool = False) -> subprocess.CompletedProcess[str]:
        """`agentgate hook status codex` (in the namespace with the machine-wide files)."""
        assert AGENTGATE
        argv = [AGENTGATE, "hook", "status", "codex"]
        return subprocess.run(self.machine(*argv) if machine else argv, cwd=self.work,
                              env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=90, check=False)


# analytics off: Codex exports metrics to a host of its own and waits for the lookup at exit,
# which in the loopback-only namespace costs each session seconds (the resolver's timeout).
CONFIG = """\
model = "gpt-5-fake"
model_provider = "fake"

[analytics]
enabled = false

[model_providers.fake]
name = "fake"
base_url = "http://127.0.0.1:9/v1"
wire_api = "responses"
env_key = "FAKE_API_KEY"
"""


@pytest.fixture
def bare(codex: Path, tmp_path: Path) -> Harness:
    """Codex and agentgate with all state in tmp_path; no hook installed yet."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vercel").write_text(VERCEL)
    (bin_dir / "vercel").chmod(0o755)
    (tmp_path / "policy.toml").write_text(POLICY)
    work = tmp_path / "work"
    work.mkdir()
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(CONFIG)
    (tmp_path / "etc-codex").mkdir(mode=0o755)
    client = tmp_path / "opt-agentgate" / "bin" / "agentgate"
    client.parent.mkdir(parents=True, mode=0o755)
    client.write_text(f'#!/bin/sh\nexec {AGENTGATE} "$@"\n')
    client.chmod(0o755)
    for d in (tmp_path, tmp_path / "opt-agentgate", client.parent):
        d.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "CODEX_", "AGENTGATE_"))}
    env.update(
        PATH=os.pathsep.join([str(bin_dir), str(CODEX.parent), os.environ["PATH"]]),
        SHELL="/bin/sh",
        CODEX_HOME=str(codex_home),
        FAKE_API_KEY="dummy",
        AGENTGATE_HOME=os.environ["AGENTGATE_HOME"],
        AGENTGATE_CONFIG_DIR=str(tmp_path / "agentgate-config"),
        AGENTGATE_POLICY=str(tmp_path / "policy.toml"),
        MARKER=str(tmp_path / "marker.txt"),
    )
    return Harness(codex, tmp_path, work, tmp_path / "marker.txt", env)


@pytest.fixture
def cx(bare: Harness) -> Harness:
    """Codex with agentgate's hook installed machine-wide (managed: no review needed)."""
    out = bare.install_machine_wide()
    assert out.returncode == 0, out.stderr
    hooks = json.loads((bare.tmp / "etc-codex" / "hooks.json").read_text())
    [entry] = hooks["hooks"]["PreToolUse"]
    assert entry["hooks"][0]["command"] == "/opt/agentgate/bin/agentgate hook codex"
    assert "allow_managed_hooks_only = true" in (bare.tmp / "etc-codex" / "requirements.toml").read_text()
    status = bare.status(machine=True)  # Codex itself says it trusts it: managed
    assert status.returncode == 0 and "(Codex: managed)" in status.stderr, status.stderr
    return bare


def held_text(outputs: list[str]) -> str:
    [text] = [o for o in outputs if "agentgate" in o]
    return text


# --------------------------------------------------------------------------- which scope runs


def test_a_user_hook_is_not_run_until_reviewed_so_install_says_so(bare: Harness) -> None:
    out = bare.ag("hook", "install", "codex", "--user")
    assert out.returncode == 0, out.stderr
    assert "the hook will not run yet" in out.stderr and "/hooks" in out.stderr
    assert "--system" in out.stderr
    status = bare.status()
    assert status.returncode == 78 and "Codex: untrusted" in status.stderr
    command = json.loads((bare.codex_home / "hooks.json").read_text())[
        "hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert f"{os.path.realpath(str(AGENTGATE))} hook codex --policy " in command
    s = bare.session(shell(HELD))
    # Codex skipped the unreviewed hook: the held command ran, agentgate never saw it.
    assert marker_lines(bare.marker) == ["deploy --prod"]
    assert bare.pending() == []
    assert "vercel ran" in s.outputs()[0]


def test_a_user_hook_runs_once_reviewed(bare: Harness) -> None:
    """What /hooks writes when a human trusts the hook (its hash, as Codex computes it), then
    Codex runs it: hook status says so, and a held command is held."""
    from agentgate.integrations.status import codex_hooks

    assert bare.ag("hook", "install", "codex", "--user").returncode == 0
    [hook] = [h for h in codex_hooks(str(bare.codex), bare.work, bare.env) if h["eventName"] == "preToolUse"]
    with (bare.codex_home / "config.toml").open("a") as f:
        f.write(f'\n[hooks.state."{hook["key"]}"]\ntrusted_hash = "{hook["currentHash"]}"\n')
    status = bare.status()
    assert status.returncode == 0 and "(Codex: trusted)" in status.stderr, status.stderr
    # its PostToolUse hook (what ran) has a review of its own, still to do: a note, no problem
    assert "Codex skips agentgate's PostToolUse and Stop hooks until they are reviewed" in status.stderr
    s = bare.session(shell(HELD))
    assert marker_lines(bare.marker) == []
    [request] = bare.pending()
    assert f"agentgate approve {request['id']}" in held_text(s.outputs())


# --------------------------------------------------------------------------- the gate, for real


def test_held_command_does_not_run_and_the_model_gets_the_reason(cx: Harness) -> None:
    s = cx.session(shell(HELD))
    assert marker_lines(cx.marker) == []
    [request] = cx.pending()
    assert request["argv"] == [HELD]
    assert request["agent"] == "codex"
    assert request["rule"] == "prod-deploy"
    text = held_text(s.outputs())
    assert "This is an approval hold, not an error." in text
    assert "[prod-deploy]" in text and f"agentgate approve {request['id']}" in text
    assert "vercel ran" not in text


def test_approved_command_runs_exactly_once_then_is_held_again(cx: Harness) -> None:
    cx.session(shell(HELD))
    [first] = cx.pending()
    assert cx.ag("approve", first["id"], "--yes").returncode == 0  # another process: a human

    s = cx.session(shell(HELD))
    assert marker_lines(cx.marker) == ["deploy --prod"]
    assert "vercel ran: deploy --prod" in s.outputs()[0]
    assert cx.pending() == []
    assert [e["id"] for e in cx.audit("--event", "grant_consumed")] == [first["id"]]

    s = cx.session(shell(HELD))
    assert marker_lines(cx.marker) == ["deploy --prod"]
    [again] = cx.pending()
    assert again["id"] != first["id"]
    assert f"agentgate approve {again['id']}" in held_text(s.outputs())


def test_an_approved_retry_that_ran_is_reported(cx: Harness) -> None:
    """Codex's PostToolUse for the retry: a `ran` event linked to the grant and the call's
    tool-use id. Codex reports the command's output alone, no exit status: the event says it
    ran and claims nothing about how it ended."""
    cx.session(shell(HELD))
    [first] = cx.pending()
    assert cx.ag("approve", first["id"], "--yes").returncode == 0
    cx.session(shell(HELD))
    assert marker_lines(cx.marker) == ["deploy --prod"]
    [consumed] = cx.audit("--event", "grant_consumed")
    [ran] = cx.audit("--event", "ran")
    assert ran["id"] == first["id"] and ran["argv"] == [HELD] and ran["agent"] == "codex"
    assert ran["report"] == "PostToolUse" and ran["outcome"] == "unknown"
    assert "exit_code" not in ran and "vercel ran" not in json.dumps(ran)
    assert ran["tool_use_id"] == consumed["tool_use_id"] and ran["session"] == consumed["session"]
    [use] = json.loads(cx.ag("show", "--json", first["id"]).stdout)["hookUses"]
    assert use["status"] == "ran" and "reported that it ran: not how it ended" in use["text"]


def test_a_grant_another_hook_then_refuses_is_told_when_the_turn_ends(cx: Harness) -> None:
    """agentgate allows the approved retry (the grant is used), another PreToolUse hook refuses
    it, so it never runs and no PostToolUse comes; Codex's Stop ends the turn, and the grant
    is recorded as consumed but never reported as run."""
    cx.session(shell(HELD))
    [first] = cx.pending()
    assert cx.ag("approve", first["id"], "--yes").returncode == 0
    hooks_file = cx.tmp / "etc-codex" / "hooks.json"
    hooks = json.loads(hooks_file.read_text())
    hooks["hooks"]["PreToolUse"].append({"matcher": "Bash", "hooks": [{
        "type": "command", "command": "echo 'refused by another hook' >&2; exit 2"}]})
    hooks_file.write_text(json.dumps(hooks))
    cx.session(shell(HELD))
    assert marker_lines(cx.marker) == []
    assert [e["id"] for e in cx.audit("--event", "grant_consumed")] == [first["id"]]
    assert cx.audit("--event", "ran") == []
    [told] = cx.audit("--event", "no_report")
    assert told["id"] == first["id"] and "turn ended" in told["why"]
    assert "never reported that it ran" in cx.ag("show", first["id"]).stdout


def test_benign_command_runs_and_is_audited(cx: Harness) -> None:
    s = cx.session(shell("vercel deploy"))
    assert marker_lines(cx.marker) == ["deploy"]
    assert "vercel ran: deploy" in s.outputs()[0]
    [event] = cx.audit("--event", "allowed")  # the hook saw the call: it did not go around it
    assert event["argv"] == ["vercel deploy"] and event["agent"] == "codex"


def test_broken_policy_runs_nothing(cx: Harness) -> None:
    Path(cx.env["AGENTGATE_POLICY"]).write_text("version = [\n")
    s = cx.session(shell("vercel deploy"))
    assert marker_lines(cx.marker) == []
    text = held_text(s.outputs())
    assert "fail-closed" in text and "tell the human" in text
    [event] = cx.audit("--event", "blocked")
    assert event["agent"] == "codex" and event["argv"] == ["vercel deploy"]
    assert "policy" in event["error"]


# --------------------------------------------------------------------------- paths around the hook


def patch(*sections: str) -> str:
    return "apply_patch <<'EOF'\n*** Begin Patch\n" + "".join(sections) + "*** End Patch\nEOF\n"


def test_apply_patch_on_protected_files_is_refused(cx: Harness) -> None:
    policy = Path(cx.env["AGENTGATE_POLICY"])
    before = policy.read_text()
    s = cx.session(
        shell(patch(f"*** Update File: {policy}\n@@\n-decision = \"ask\"\n+decision = \"allow\"\n")),
        shell(patch(f"*** Add File: {cx.codex_home / 'hooks.json'}\n+{{}}\n")),
        shell(patch("*** Add File: .codex/config.toml\n+[features]\n+hooks = false\n")),
        shell(patch("*** Add File: notes.txt\n+fine\n")))
    assert policy.read_text() == before
    assert not (cx.codex_home / "hooks.json").exists()
    assert not (cx.work / ".codex").exists()
    assert (cx.work / "notes.txt").read_text() == "fine\n"  # the control: patches do apply
    refused = [o for o in s.outputs() if "agentgate-protected-files" in o]
    assert len(refused) == 3, s.outputs()
    assert len(cx.audit("--event", "blocked")) == 3


def test_an_interactive_shell_is_held(cx: Harness) -> None:
    """write_stdin reaches no hook: the shell it would type into is never opened."""
    def type_into_it(outputs: list[str]) -> dict[str, Any]:
        found = re.search(r"session ID (\d+)", outputs[-1])
        return {"session_id": int(found.group(1)) if found else 1, "chars": f"{HELD}\n",
                "yield_time_ms": 2000}

    s = cx.session(("exec_command", {"cmd": "bash", "tty": True, "login": False}), ("write_stdin", type_into_it))
    assert marker_lines(cx.marker) == []
    assert "agentgate-interactive-shell" in s.outputs()[0]
    assert "session ID" not in s.outputs()[0]


def test_a_second_install_is_refused_and_the_grant_is_used_once(cx: Harness) -> None:
    assert AGENTGATE
    out = subprocess.run(cx.machine(AGENTGATE, "hook", "install", "codex", "--user"),
                         cwd=cx.work, env=cx.env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert out.returncode == 78 and "already installed in /etc/codex/hooks.json" in out.stderr
    assert not (cx.codex_home / "hooks.json").exists()
    cx.session(shell(HELD))
    [first] = cx.pending()
    assert cx.ag("approve", first["id"], "--yes").returncode == 0
    cx.session(shell(HELD))
    assert marker_lines(cx.marker) == ["deploy --prod"]


def test_two_copies_of_the_hook_use_one_grant_once(cx: Harness) -> None:
    """Codex runs every copy of a hook it finds on each call: one decision per tool call."""
    hooks_file = cx.tmp / "etc-codex" / "hooks.json"
    hooks = json.loads(hooks_file.read_text())
    copies = cx.tmp / "copies.txt"
    hooks["hooks"]["PreToolUse"].append({"matcher": "Bash", "hooks": [{
        "type": "command",
        "command": f"echo ran >> {copies}; exec /opt/agentgate/bin/agentgate hook codex"}]})
    hooks_file.write_text(json.dumps(hooks))
    cx.session(shell(HELD))
    [first] = cx.pending()
    assert cx.ag("approve", first["id"], "--yes").returncode == 0
    cx.session(shell(HELD))
    assert marker_lines(cx.marker) == ["deploy --prod"]
    assert marker_lines(copies) == ["ran", "ran"]  # the second copy ran on both calls
    assert [e["id"] for e in cx.audit("--event", "grant_consumed")] == [first["id"]]


# --------------------------------------------------------------------------- where it runs


def test_codex_and_its_commands_have_only_loopback(cx: Harness) -> None:
    """The session ran (its model answered on 127.0.0.1, inside the namespace), and a command
    the model ran through the hook reached neither this machine's address nor the host's
    loopback."""
    probe = NetworkProbe(cx.tmp)
    s = cx.session(shell(probe.command))
    probe.check(s.outputs()[0])
    [event] = cx.audit("--event", "allowed")
    assert event["argv"] == [probe.command] and event["agent"] == "codex"


def workdir_shell(command: str, workdir: str) -> Turn:
    return ("exec_command", {"cmd": command, "workdir": workdir, "login": False})


def test_the_directory_judged_is_the_workdir(cx: Harness) -> None:
    """Codex 0.171 puts the resolved `workdir` of an exec_command in the hook's `cwd`: the
    gate judges `mv policy.toml old.toml` where it will run. In the policy's directory it is
    held; in the session's directory (a file of the same name) it runs."""
    policy = Path(cx.env["AGENTGATE_POLICY"])
    decoy = cx.work / "policy.toml"
    decoy.write_text("not agentgate's\n")
    move = "mv policy.toml old.toml"
    s = cx.session(workdir_shell(move, ".."), shell(move))
    assert policy.exists() and (cx.work / "old.toml").exists(), s.outputs()
    assert not (cx.tmp / "old.toml").exists()
    [request] = cx.pending()
    assert request["rule"] == "agentgate-protected-files"
    assert request["cwd"] == os.path.realpath(policy.parent)
    assert f"agentgate approve {request['id']}" in s.outputs()[0]
    [event] = cx.audit("--event", "allowed")
    assert event["cwd"] == os.path.realpath(cx.work)


def test_a_grant_is_bound_to_the_workdir_it_was_asked_for(cx: Harness) -> None:
    (cx.work / "sub").mkdir()
    s = cx.session(workdir_shell(HELD, "sub"))
    [first] = cx.pending()
    assert first["cwd"] == os.path.realpath(cx.work / "sub")
    assert cx.ag("approve", first["id"], "--yes").returncode == 0
    s = cx.session(shell(HELD), workdir_shell(HELD, "sub"))
    assert marker_lines(cx.marker) == ["deploy --prod"]  # in sub/, once
    [again] = cx.pending()  # the session's directory is another place: asked again
    assert again["cwd"] == os.path.realpath(cx.work)
    assert f"agentgate approve {again['id']}" in s.outputs()[0]
    assert "vercel ran: deploy --prod" in s.outputs()[1]
    assert [e["id"] for e in cx.audit("--event", "grant_consumed")] == [first["id"]]


def test_the_benchmark_feeds_the_hook_what_codex_sends(cx: Harness) -> None:
    """README, Performance: per-call hook latency comes from bench/bench.py (part 1d), with the
    input Codex sends, captured here by a hook that runs first."""
    hooks_file = cx.tmp / "etc-codex" / "hooks.json"
    hooks = json.loads(hooks_file.read_text())
    sent = cx.tmp / "sent.json"
    hooks["hooks"]["PreToolUse"].insert(0, {"matcher": "Bash", "hooks": [{
        "type": "command", "command": f"cat > {sent}"}]})
    hooks_file.write_text(json.dumps(hooks))
    cx.session(shell("ls -la"))
    bench_measures("codex", json.loads(sent.read_text()))


def test_ci_installs_the_pinned_version() -> None:
    assert pinned("@openai/codex") == CODEX_VERSION
    assert INSTALL in (REPO / ".ci" / "run").read_text()
    assert INSTALL in (REPO / "README.md").read_text()
