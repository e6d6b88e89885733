"""Shared fixtures: every test runs against state, config and a policy inside its own tmp_path.

The autouse ``isolated_env`` fixture scrubs ``AGENTGATE_*`` and points every user directory
(HOME, XDG_*) into tmp_path, so no test can read or write a developer's real policy, ledger or
audit log. ``ag`` runs the installed console script in a subprocess, as an agent would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent  # not resolved: the venv's bin dir, not the base python's
AGENTGATE = shutil.which("agentgate", path=str(VENV_BIN))

TEST_POLICY = """\
version = 1

[settings]
default = "allow"
{extra_settings}

[[rule]]
id = "deploy-prod"
decision = "ask"
reason = "Production deploys need a human."
commands = ["deployer ** --prod"]
match = ["deployer --prod", "deployer site --prod"]
not_match = ["deployer site", "deployer --preview"]

[[rule]]
id = "nuke"
decision = "deny"
reason = "Nuking is never allowed."
commands = ["nuke"]
match = ["nuke", "nuke everything"]
not_match = ["deployer nuke"]
"""

# A fake program: appends its arguments as one line to $MARKER (if set), then exits with $RC.
FAKE_SCRIPT = """\
#!/bin/sh
if [ -n "$MARKER" ]; then printf '%s\\n' "$*" >> "$MARKER"; fi
exit "${RC:-0}"
"""


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Scrub AGENTGATE_*, keep every user directory inside tmp_path; returns the state dir."""
    for key in list(os.environ):
        if key.startswith("AGENTGATE_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "state"
    monkeypatch.setenv("AGENTGATE_HOME", str(state))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    # `agentgate` must resolve to this venv's script also inside `agentgate run -- ...`.
    path = os.environ.get("PATH", "")
    if str(VENV_BIN) not in path.split(os.pathsep):
        monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{path}")
    return state


@pytest.fixture
def in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a directory of tmp_path, away from the repository's own files."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def state_dir(isolated_env: Path) -> Path:
    """$AGENTGATE_HOME (not created yet)."""
    return isolated_env


def write_policy(path: Path, **settings: str) -> Path:
    """Write the test policy, with extra [settings] such as request_ttl="2s"."""
    extra = "\n".join(f'{k} = "{v}"' for k, v in settings.items())
    path.write_text(TEST_POLICY.format(extra_settings=extra))
    return path


@pytest.fixture
def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test policy (ask `deployer ** --prod`, deny `nuke`, default allow) as $AGENTGATE_POLICY."""
    path = write_policy(tmp_path / "policy.toml")
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first on PATH with harmless fake `deployer` and `nuke` programs."""
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("deployer", "nuke"):
        script = d / name
        script.write_text(FAKE_SCRIPT)
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
    return d


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file fake programs append to ($MARKER); it does not exist until one runs."""
    path = tmp_path / "marker.txt"
    monkeypatch.setenv("MARKER", str(path))
    return path


def marker_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def ag(*args: str, input: str | None = None, cwd: str | os.PathLike[str] | None = None,
       env: Mapping[str, str | None] | None = None,
       timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the installed `agentgate` console script; stdin is /dev/null unless ``input`` is given.

    ``env`` overrides the current environment; a value of None removes that variable.
    """
    assert AGENTGATE, f"agentgate console script not found in {VENV_BIN}"
    full = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run(
        [AGENTGATE, *args], input=input, stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True, text=True, cwd=cwd, env=full, timeout=timeout, check=False)


def held(cmd: tuple[str, ...] = ("deployer", "--prod")) -> str:
    """``run --json`` of ``cmd``, held (75): its approval id."""
    import json

    r = ag("run", "--json", "--", *cmd)
    assert r.returncode == 75, r.stderr
    return str(json.loads(r.stdout)["approvalId"])


def audit_of(rid: str, event: str) -> list[dict[str, object]]:
    """The audit events ``event`` of request ``rid`` (``log --json``)."""
    import json

    r = ag("log", "--json", "--id", rid, "--event", event)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def runs_until_a_6s_grant_ends(rid: str, approved_at: float, marker: Path) -> None:
    """``deployer --prod`` approved for 6 s at monotonic ``approved_at`` (``--for 6s``): any
    number of runs go through within it, the next after it is held, and it was audited so."""
    import time

    for _ in range(4):
        assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert time.monotonic() - approved_at < 6, "too slow to test a 6s grant"
    assert marker_lines(marker) == ["--prod"] * 4
    time.sleep(max(0.0, 6.5 - (time.monotonic() - approved_at)))
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # its time is up: held
    assert marker_lines(marker) == ["--prod"] * 4
    [ev] = audit_of(rid, "approved")
    assert "uses" not in ev and ev["standing"] is True and ev["ttl"] == 6  # any number


@pytest.fixture(name="ag")
def ag_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    return ag
