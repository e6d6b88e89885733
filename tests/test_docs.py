"""The README and --help texts stay true to the code (in the spirit of sqlite-utils' doc tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from agentgate.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _commands(cmd: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        path = f"{prefix} {name}".strip()
        yield path, sub
        yield from _commands(sub, path)


def all_commands() -> list[tuple[str, Any]]:
    return list(_commands(typer.main.get_command(app)))


def test_there_are_commands() -> None:
    names = {n for n, _ in all_commands()}
    assert {"run", "check", "approve", "deny", "pending", "show", "log", "log verify",
            "policy validate", "policy trust", "init"} <= names


def test_every_command_has_help() -> None:
    for name, cmd in all_commands():
        assert (cmd.help or "").strip(), f"`agentgate {name}` has no help text"


def test_every_command_is_in_the_readme() -> None:
    table = README[README.index("## Commands"):README.index("## Exit codes")]
    for name, cmd in all_commands():
        if name.startswith("hook ") and name != "hook install":
            assert "`agentgate hook claude-code\\|codex\\|cursor\\|gemini`" in table
            continue
        if getattr(cmd, "commands", None) and name in ("hook", "policy"):
            continue  # groups: their subcommands are listed
        assert f"`agentgate {name}" in table, f"`agentgate {name}` is missing from the README"


def test_ci_runs_the_readme_test_command() -> None:
    m = re.search(r"One command sets up and runs the test suite.*?```sh\n(.+?)\n```", README, re.S)
    assert m, "the README names its test command"
    command = m.group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines(), "the CI script must run the README's test command verbatim"


def test_readme_exit_codes_match_the_code() -> None:
    from agentgate import errors

    for code in (errors.EXIT_APPROVAL_REQUIRED, errors.EXIT_DENIED, errors.EXIT_CONFIG, errors.EXIT_USAGE):
        assert f"| {code} |" in README


def test_no_registry_host_is_named() -> None:
    texts = [README, *(p.read_text() for p in (ROOT / "docs").glob("*"))]
    for t in texts:
        assert "pypi.org" not in t and "registry.npmjs" not in t
