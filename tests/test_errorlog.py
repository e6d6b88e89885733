"""Internal errors (bugs) through the real console script: one line on stderr naming the log,
exit 70, nothing run; the traceback, versions, platform and argv in ``<state>/errors.log``; hooks
still answer a well-formed deny in each agent's protocol.

The bug is the test-only fault ``raise`` of agentgate.faults (AGENTGATE_TEST_HOOKS=1): an
unexpected exception inside the gate, at its first audit append.
"""

from __future__ import annotations

import json
import os
import platform
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ag, marker_lines

from agentgate import __version__, errorlog

BUG = {"AGENTGATE_TEST_HOOKS": "1", "AGENTGATE_TEST_FAULT": "audit.write:raise"}

pytestmark = pytest.mark.usefixtures("in_tmp_cwd")


def _report(state: Path) -> str:
    log = state / "errors.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    return log.read_text()


def test_run_logs_the_traceback_and_names_the_log(state_dir: Path, fake_bin: Path,
                                                   marker: Path) -> None:
    r = ag("run", "--", "deployer", "site", env=BUG)
    assert r.returncode == 70, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0] == ("agentgate: internal error: RuntimeError: test fault at audit.write "
                        f"(nothing was run); details in {state_dir / 'errors.log'}")
    assert marker_lines(marker) == []  # the command did not run
    report = _report(state_dir)
    assert "Traceback (most recent call last)" in report
    assert "RuntimeError: test fault at audit.write" in report and "in authorize" in report
    assert f"agentgate {__version__}, Python {platform.python_version()}" in report
    assert platform.platform() in report
    assert "'run', '--', 'deployer', 'site'" in report
    assert r.stdout == ""


def test_reports_are_appended(state_dir: Path) -> None:
    assert ag("run", "--", "true", env=BUG).returncode == 70
    assert ag("run", "--json", "--", "true", env=BUG).returncode == 70
    report = _report(state_dir)
    assert report.count("Traceback (most recent call last)") == 2
    assert "'--json'" in report


def test_the_typer_path_logs_too(state_dir: Path) -> None:
    r = ag("verify", "deploy_production", env=BUG)
    assert r.returncode == 70
    assert r.stderr.strip().endswith(f"details in {state_dir / 'errors.log'}")
    assert "'verify', 'deploy_production'" in _report(state_dir)


DENY_SHAPES = {
    "claude-code": lambda out: json.loads(out)["hookSpecificOutput"]["permissionDecision"],
    "cursor": lambda out: json.loads(out)["permission"],
    "gemini": lambda out: json.loads(out)["decision"],
    "codex": lambda out: "deny" if out == "" else "no: codex reads no stdout",
}


@pytest.mark.parametrize("agent", sorted(DENY_SHAPES))
def test_a_hook_denies_in_its_protocol(agent: str, state_dir: Path, in_tmp_cwd: Path) -> None:
    if agent == "cursor":
        payload = {"hook_event_name": "beforeShellExecution", "command": "ls",
                   "cwd": str(in_tmp_cwd)}
    else:
        tool = "run_shell_command" if agent == "gemini" else "Bash"
        payload = {"tool_name": tool, "tool_input": {"command": "ls"}, "cwd": str(in_tmp_cwd)}
    r = ag("hook", agent, input=json.dumps(payload), env=BUG)
    assert r.returncode == 2, r
    assert DENY_SHAPES[agent](r.stdout) == "deny"
    assert "fail-closed" in r.stderr and "internal error: RuntimeError" in r.stderr
    assert f"details in {state_dir / 'errors.log'}" in r.stderr
    assert "Traceback" not in r.stderr
    assert f"'hook', '{agent}'" in _report(state_dir)


def test_an_unusable_log_falls_back_to_a_temp_file(state_dir: Path, tmp_path: Path) -> None:
    state_dir.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text("not agentgate's\n")
    (state_dir / "errors.log").symlink_to(elsewhere)  # never written through
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = ag("run", "--", "true", env={**BUG, "TMPDIR": str(tmp)})
    assert r.returncode == 70
    [written] = list(tmp.glob("agentgate-error-*.log"))
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert "RuntimeError: test fault at audit.write" in written.read_text()
    assert r.stderr.strip().endswith(f"details in {written}")
    assert elsewhere.read_text() == "not agentgate's\n"


def test_the_log_keeps_one_older_file_past_its_cap(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    old = state_dir / "errors.log"
    old.write_bytes(b"x" * (errorlog.MAX_BYTES - 10))
    old.chmod(0o600)
    assert ag("run", "--", "true", env=BUG).returncode == 70
    assert (state_dir / "errors.log.1").read_bytes() == b"x" * (errorlog.MAX_BYTES - 10)
    assert _report(state_dir).startswith("### ")


def test_without_any_log_the_traceback_goes_to_stderr(state_dir: Path) -> None:
    """The last resort: neither the state directory nor a temp file can take the report."""
    code = ("import sys, tempfile\n"
            "from agentgate import errorlog\n"
            "def refuse(*a, **k): raise OSError(28, 'No space left on device')\n"
            "errorlog._to_state_dir = refuse; tempfile.mkstemp = refuse\n"
            "sys.argv = ['agentgate', 'run', '--', 'true']\n"
            "from agentgate.entry import main\nmain()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       env={**os.environ, **BUG}, stdin=subprocess.DEVNULL)
    assert r.returncode == 70
    assert "Traceback (most recent call last)" in r.stderr
    assert r.stderr.splitlines()[-1] == (
        "agentgate: internal error: RuntimeError: test fault at audit.write (nothing was run); "
        "no error log could be written, the traceback is above")


def test_a_bug_after_the_command_ran_keeps_its_exit_code(state_dir: Path) -> None:
    """Once the command ran, agentgate must not claim otherwise: its exit code, and a warning."""
    code = ("import sys\n"
            "from agentgate import gate\n"
            "def broken(*a, **k): raise KeyError('boom')\n"
            "gate.Gate.record_exit = broken\n"
            "sys.argv = ['agentgate', 'run', '--', 'sh', '-c', 'exit 3']\n"
            "from agentgate.entry import main\nmain()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 3, r.stderr
    assert ("agentgate: warning: the command ran (exit 3) but its exit could not be logged: "
            f"internal error: KeyError: 'boom'; details in {state_dir / 'errors.log'}") in r.stderr
    assert "KeyError: 'boom'" in _report(state_dir)


def test_the_fault_is_inert_without_the_test_switch(state_dir: Path) -> None:
    r = ag("run", "--", "true", env={"AGENTGATE_TEST_FAULT": "audit.write:raise"})
    assert r.returncode == 0, r.stderr
    assert not (state_dir / "errors.log").exists()
