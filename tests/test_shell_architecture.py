"""The shell package's layers: the tree and the parser know no programs, imports run one way.

Read from the source (every import, also under ``if TYPE_CHECKING:`` and inside functions),
and checked at run time in a fresh interpreter for the modules that must load alone.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import agentgate.shell

PACKAGE = "agentgate.shell"
ROOT = Path(agentgate.shell.__file__).parent

# lower layers first: a module may import only modules of its own layer or a lower one
LAYERS = [
    {"budget"},
    {"context"},
    {"syntax"},
    {"expand"},
    {"parser"},
    {"options"},
    {"features"},  # bash features that run text: read beside the commands, by the analyzer
    {"programs.common"},
    {"programs.*"},  # the family modules (and the registry they are found through)
    {"analyzer"},
    {"__init__"},
]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] if rel.name == "__init__" and len(rel.parts) > 1 else list(rel.parts)
    return ".".join(parts) if parts else "__init__"


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """The modules of this package that ``name`` imports (relative names: ``parser``,
    ``programs.git``, ``programs``), wherever the import statement is."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                if node.level - 1 > len(package):
                    continue  # above the shell package (agentgate.lean)
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith(PACKAGE + "."):
                target = node.module[len(PACKAGE) + 1 :].split(".")
            else:
                continue
            for alias in node.names:  # `from . import parser` names a module
                sub = ".".join([*target, alias.name])
                found.add(sub if sub in modules() else ".".join(target) or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :])
    found.discard(name)
    return {f for f in found if f in modules()}


def layer(name: str) -> int:
    for k, names in enumerate(LAYERS):
        if name in names or (name.startswith("programs.") and "programs.*" in names and name != "programs.common"):
            return k
    if name == "programs":
        return next(k for k, names in enumerate(LAYERS) if "programs.*" in names)
    raise AssertionError(f"module {name} is in no layer of this test: add it to LAYERS")


def closure(start: str) -> set[str]:
    graph = {n: imports_of(n, p) for n, p in modules().items()}
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_source_files_are_every_module_of_the_package() -> None:
    """What a cache keyed on the analysis code must stat (policy's validation key)."""
    assert sorted(agentgate.shell.source_files()) == sorted(str(p) for p in ROOT.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        layer(name)


@pytest.mark.parametrize("name", ["syntax", "parser"])
def test_the_tree_and_the_parser_know_no_programs(name: str) -> None:
    """Nothing they import, directly or through other modules, is program knowledge or the
    analyzer."""
    reached = closure(name)
    assert not {m for m in reached if m == "programs" or m.startswith("programs.")}, reached
    assert "analyzer" not in reached and "options" not in reached, reached


def test_imports_run_from_higher_layers_to_lower_ones() -> None:
    wrong = []
    for name, path in modules().items():
        for dep in imports_of(name, path):
            if layer(dep) > layer(name):
                wrong.append(f"{name} imports {dep}")
    assert not wrong


def test_no_import_cycles() -> None:
    graph = {n: imports_of(n, p) for n, p in modules().items()}
    for name in graph:
        assert name not in closure(name), f"{name} reaches itself through its imports"


# Run time: each of these loads alone (a stub stands in for the package __init__, which would
# load the analyzer), and what it loads is listed.
PROBE = """
import importlib, json, sys, types
pkg = types.ModuleType("agentgate.shell"); pkg.__path__ = [sys.argv[1]]
sys.modules["agentgate.shell"] = pkg
importlib.import_module("agentgate.shell." + sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("agentgate.shell."))))
"""


@pytest.mark.parametrize("name", ["syntax", "parser", "expand"])
def test_loading_the_parser_loads_no_program_knowledge(name: str) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), name], capture_output=True,
                         text=True, check=True).stdout
    loaded = json.loads(out)
    assert f"agentgate.shell.{name}" in loaded
    assert not [m for m in loaded if m.startswith(("agentgate.shell.programs", "agentgate.shell.analyzer",
                                                   "agentgate.shell.options"))], loaded


LAZY = """
import json, sys
import agentgate.shell as shell
before = sorted(m for m in sys.modules if m.startswith("agentgate.shell"))
shell.analyze_argv(sys.argv[1:])
after_argv = sorted(m for m in sys.modules if m.startswith("agentgate.shell"))
shell.analyze_script("ls -la | grep x")
after_script = sorted(m for m in sys.modules if m.startswith("agentgate.shell"))
print(json.dumps([before, after_argv, after_script]))
"""


def lazy_probe(*argv: str) -> tuple[list[str], list[str], list[str]]:
    out = subprocess.run([sys.executable, "-c", LAZY, *argv], capture_output=True, text=True,
                         check=True).stdout
    before, after_argv, after_script = json.loads(out)
    return before, after_argv, after_script


def test_importing_the_package_loads_no_program_family_and_no_parser() -> None:
    before, after_argv, after_script = lazy_probe("true")
    families = [m for m in before if m.startswith("agentgate.shell.programs.")]
    assert families == []
    assert "agentgate.shell.parser" not in before
    # an argv run directly needs no parser either; a script does, but no family for ls/grep
    assert "agentgate.shell.parser" not in after_argv
    assert "agentgate.shell.parser" in after_script
    assert [m for m in after_script if m.startswith("agentgate.shell.programs.")] == []


def test_a_family_module_loads_when_one_of_its_programs_is_met() -> None:
    _before, after_argv, _after_script = lazy_probe("sudo", "-u", "root", "ls")
    families = {m for m in after_argv if m.startswith("agentgate.shell.programs.")}
    assert families - {"agentgate.shell.programs.common"} == {"agentgate.shell.programs.privilege"}
