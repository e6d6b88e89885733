"""entry: the `run` fast path imports only what it uses (every gated command pays for imports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Heavy modules `agentgate run` has no use for: typer and rich (the full CLI), dataclasses and
# inspect, typing, platformdirs (on Linux), hashlib and secrets (OpenSSL), filelock (on POSIX),
# tomllib (for the starter policy, which ships pre-parsed), and helpers of rare paths.
NOT_ON_THE_RUN_PATH = ["typer", "rich", "dataclasses", "inspect", "typing", "platformdirs",
                       "hashlib", "_hashlib", "secrets", "filelock", "tomllib", "getpass",
                       "tempfile", "shlex", "datetime", "importlib.resources"]

PROBE = """
import json, sys
from agentgate.hotpath import run_command
codes = [run_command(["true"], policy=None, as_json=False, agent=None) for _ in range(2)]
print(json.dumps([codes, sorted(m for m in sys.argv[1:] if m in sys.modules)]))
"""


def probe(cwd: Path) -> tuple[list[int], list[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, *NOT_ON_THE_RUN_PATH], cwd=cwd,
                         capture_output=True, text=True, check=True).stdout
    codes, loaded = json.loads(out)
    return codes, loaded


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs and filelock are used elsewhere")
def test_run_with_the_starter_policy_imports_nothing_heavy(in_tmp_cwd: Path) -> None:
    codes, loaded = probe(in_tmp_cwd)  # the first run also checks the inline examples
    assert codes == [0, 0]
    assert loaded == []


def test_hook_fast_path_answers_without_the_typer_app(in_tmp_cwd: Path) -> None:
    """`agentgate hook AGENT` runs on every tool call of a wired agent: no typer, no rich."""
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls -la"},
                          "cwd": str(in_tmp_cwd), "session_id": "s", "hook_event_name": "PreToolUse"})
    code = ("import sys; from agentgate.entry import main; sys.argv = ['agentgate', 'hook', "
            "'claude-code']\ntry:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('\\n' + repr((rc, sorted(m for m in ('typer', 'rich', 'pydantic') if m in sys.modules))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=in_tmp_cwd, input=hook_in,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "(0, [])"
