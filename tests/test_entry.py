"""entry: the `run` and `hook AGENT` fast paths import only what they use (every gated command
and every tool call of a wired agent pays for imports)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Heavy modules neither path has any use for: typer, click and rich (the full CLI), dataclasses
# and inspect, typing, copy, difflib, shutil and tempfile (`hook install`, writers), asyncio,
# pydantic and mcp (the MCP server), platformdirs (on Linux), hashlib and secrets (OpenSSL),
# filelock (on POSIX), tomllib (for the starter policy, which ships pre-parsed), pathlib (with
# urllib.parse and ipaddress, 5 ms: paths are str there), contextlib (agentgate.lean has its
# contextmanager), signal (its enums; the runner uses _signal), subprocess and threading (the
# MCP server's captured runs), the json package (agentgate.jsontext reads and writes JSON with
# its C accelerator alone), and helpers of rare paths.
NOT_ON_THE_HOT_PATHS = ["typer", "click", "rich", "dataclasses", "inspect", "typing", "copy",
                        "difflib", "shutil", "tempfile", "asyncio", "pydantic", "mcp",
                        "platformdirs", "hashlib", "_hashlib", "secrets", "filelock", "tomllib",
                        "getpass", "shlex", "datetime", "importlib.resources", "pathlib",
                        "urllib", "urllib.parse", "ipaddress", "contextlib", "signal",
                        "subprocess", "threading", "json"]

# Each probe takes its path twice: the first call also checks the policy's inline examples.
RUN_PROBE = """
import sys
from agentgate.entry import dispatch
codes = [dispatch(["run", "--", "true"]) for _ in range(2)]
print(repr([codes, sorted(m for m in sys.argv[1:] if m in sys.modules)]))
"""

HOOK_PROBE = """
import io, sys
from agentgate.entry import dispatch
hook_input = sys.stdin.buffer.read()
codes = []
for _ in range(2):
    sys.stdin = io.TextIOWrapper(io.BytesIO(hook_input))
    codes.append(dispatch(["hook", "claude-code"]))
print("\\n" + repr([codes, sorted(m for m in sys.argv[1:] if m in sys.modules)]))
"""


def probe(code: str, cwd: Path, stdin: str = "") -> tuple[list[int], list[str]]:
    out = subprocess.run([sys.executable, "-c", code, *NOT_ON_THE_HOT_PATHS], cwd=cwd,
                         input=stdin, capture_output=True, text=True, check=True).stdout
    codes, loaded = ast.literal_eval(out.strip().splitlines()[-1])
    return codes, loaded


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs and filelock are used elsewhere")
def test_run_with_the_starter_policy_imports_nothing_heavy(in_tmp_cwd: Path) -> None:
    codes, loaded = probe(RUN_PROBE, in_tmp_cwd)
    assert codes == [0, 0]
    assert loaded == []


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs and filelock are used elsewhere")
def test_run_with_a_policy_of_ones_own_imports_nothing_heavy_once_it_was_read(
        in_tmp_cwd: Path) -> None:
    """A user policy is parsed by tomllib once; the runs after that take the recorded parse (a
    regex rule's CPU budget included) and import no more than with the starter policy."""
    policy = Path(os.environ["XDG_CONFIG_HOME"]) / "agentgate" / "policy.toml"
    policy.parent.mkdir(parents=True)
    policy.write_text('version = 1\n[settings]\ndefault = "allow"\n'
                      '[[rule]]\nid = "prod"\ndecision = "ask"\ncommands = ["vercel --prod"]\n'
                      '[[rule]]\nid = "drop"\ndecision = "deny"\nregex = ["drop +table"]\n')
    codes, first = probe(RUN_PROBE, in_tmp_cwd)
    assert codes == [0, 0] and "tomllib" in first  # the first run parses and records it
    codes, loaded = probe(RUN_PROBE, in_tmp_cwd)
    assert codes == [0, 0]
    assert loaded == []


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs and filelock are used elsewhere")
def test_a_hook_call_imports_nothing_heavy(in_tmp_cwd: Path) -> None:
    """`agentgate hook AGENT` runs on every tool call of a wired agent: as light as `run`."""
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls -la"},
                          "cwd": str(in_tmp_cwd), "session_id": "s", "hook_event_name": "PreToolUse"})
    codes, loaded = probe(HOOK_PROBE, in_tmp_cwd, hook_in)
    assert codes == [0, 0]
    assert loaded == []


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs and filelock are used elsewhere")
def test_the_agents_report_after_a_call_imports_nothing_heavy(in_tmp_cwd: Path) -> None:
    """Claude Code's PostToolUse (agentgate.integrations.post) is on every tool call too."""
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls -la"},
                          "cwd": str(in_tmp_cwd), "session_id": "s", "tool_use_id": "t",
                          "hook_event_name": "PostToolUse", "tool_response": {"stdout": ""}})
    codes, loaded = probe(HOOK_PROBE, in_tmp_cwd, hook_in)
    assert codes == [0, 0]
    assert loaded == []
    audit = Path(os.environ["AGENTGATE_HOME"]) / "audit.jsonl"
    assert audit.read_text().count('"event":"ran"') == 1  # recorded, once for the one call


def test_the_hook_fast_path_answers_without_the_typer_app(in_tmp_cwd: Path) -> None:
    """The console script's own path: a benign command passes (exit 0, no opinion)."""
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls -la"},
                          "cwd": str(in_tmp_cwd), "session_id": "s", "hook_event_name": "PreToolUse"})
    code = ("import sys; from agentgate.entry import main; sys.argv = ['agentgate', 'hook', "
            "'claude-code']\ntry:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('\\n' + repr((rc, sorted(m for m in ('typer', 'rich', 'pydantic') if m in sys.modules))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=in_tmp_cwd, input=hook_in,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "(0, [])"


GC_PROBE = """
import gc, io, json, sys
from agentgate.entry import dispatch
sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[2].encode()))
code = dispatch(sys.argv[1].split())
print("\\n" + json.dumps([code, gc.isenabled(), gc.get_freeze_count() > 0]))
"""


@pytest.mark.parametrize(("argv", "collecting"), [("run -- true", False), ("hook claude-code", False),
                                                   ("where", True)])
def test_only_the_fast_paths_switch_the_cycle_collector_off(argv: str, collecting: bool,
                                                            in_tmp_cwd: Path) -> None:
    """`run` and `hook` exit right after their command: collections would only cost them time
    (hotpath._short_lived). Every other command keeps the collector (`mcp` runs for hours)."""
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls -la"},
                          "cwd": str(in_tmp_cwd), "session_id": "s", "hook_event_name": "PreToolUse"})
    out = subprocess.run([sys.executable, "-c", GC_PROBE, argv, hook_in], cwd=in_tmp_cwd,
                         capture_output=True, text=True, check=True).stdout
    code, enabled, frozen = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert (enabled, frozen) == (collecting, not collecting)
