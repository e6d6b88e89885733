"""shell.programs: one table finds every family; each family module knows exactly its programs."""

from __future__ import annotations

import importlib

import pytest

from agentgate.shell import analyze_argv
from agentgate.shell.programs import COMMAND_VARS, FAMILIES, NO_EXEC, lookup

NAMES = [name for names in FAMILIES.values() for name in names.split()]


def test_each_family_module_handles_exactly_the_programs_the_table_gives_it() -> None:
    for family, names in FAMILIES.items():
        module = importlib.import_module(f"agentgate.shell.programs.{family}")
        assert set(module.HANDLERS) == set(names.split()), family


def test_no_program_is_in_two_families_and_names_are_lower_case() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert all(n == n.lower() for n in NAMES)
    assert not set(NAMES) & NO_EXEC


def test_lookup() -> None:
    assert lookup("sudo") is importlib.import_module("agentgate.shell.programs.privilege").HANDLERS["sudo"]
    python = lookup("python")
    assert python is not None
    assert lookup("python3") is python and lookup("python3.12") is python and lookup("pypy3") is python
    assert lookup("pythonx") is None and lookup("ls") is None and lookup("SUDO") is None


@pytest.mark.parametrize("name", NAMES)
def test_every_handler_takes_odd_arguments_without_failing(name: str) -> None:
    """Analysing a known program with unusual words reports parts, never an internal error."""
    for argv in ([name], [name, "--"], [name, "-", "x"], [name, "--", "ls"], [name, "-x", "$HOME", ":::"]):
        a = analyze_argv(argv)
        assert a.commands[0].argv == tuple(argv)
        assert not [o for o in a.opaque if "internal" in o.reason], (argv, a.opaque)


def test_the_variables_naming_programs() -> None:
    assert COMMAND_VARS["GIT_SSH_COMMAND"] == "sh" and COMMAND_VARS["GIT_CONFIG_COUNT"] == "opaque"
    a = analyze_argv(["env", "GIT_SSH_COMMAND=ssh -o ProxyCommand=evil", "git", "fetch"])
    assert ("ssh", "-o", "ProxyCommand=evil") in [c.argv for c in a.commands]
