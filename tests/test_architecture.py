"""The house's rules, read from the source (in the spirit of cc-safety-net's architecture test):
imports run one way through the layers below, with no cycle; nothing below the CLI prints, exits
or writes to the terminal.

Every import counts, wherever it is written: at module level, inside a function (a lazy import
still runs), under ``if TYPE_CHECKING:`` (a reference all the same). Except one: the package
``agentgate`` itself, which Python loads before any of its modules anyway (``from . import
__version__`` adds nothing); it holds the Python API's lazy re-exports, so it sits with api.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agentgate

ROOT = Path(agentgate.__file__).parent

# Highest first. A module may import modules of its own layer or of a lower one, never of a
# higher one. A name ending in ".*" covers a package's modules (and the package itself).
LAYERS: list[tuple[str, list[str]]] = [
    ("front: console script, typer wiring, the run and hook commands, the live terminal view",
     ["agentgate.entry", "agentgate.__main__", "agentgate.cli", "agentgate.hotpath",
      "agentgate.watch"]),
    ("interface: command bodies, rendering, integrations, the Python API",
     ["agentgate.commands", "agentgate.output", "agentgate.logview", "agentgate.api",
      "agentgate.subjects", "agentgate.integrations.hooks", "agentgate.integrations.install",
      "agentgate.integrations.mcp", "agentgate.integrations.status",
      "agentgate.integrations.post", "agentgate", "agentgate.service.server",
      "agentgate.service.install", "agentgate.dashboard.*"]),
    ("the decision flow: which gate, the local one, the service's client, the outcome",
     ["agentgate.backend", "agentgate.gate", "agentgate.remote", "agentgate.outcome",
      "agentgate.waiting"]),
    ("core: analysis, policy, guards, state, processes, the error log",
     ["agentgate.shell.*", "agentgate.policy.*", "agentgate.guard", "agentgate.ledger",
      "agentgate.audit", "agentgate.trust", "agentgate.runner", "agentgate.errorlog",
      "agentgate.service", "agentgate.service.protocol", "agentgate.service.secret",
      "agentgate.service.exceptions",
      "agentgate.notify", "agentgate.integrations.calls", "agentgate.integrations.codex",
      "agentgate.integrations.reports"]),
    ("base: files, locations and variables, errors, lean records, test faults, JSON, "
     "agentgate's own grammar, the agents' data",
     ["agentgate.fileio", "agentgate.paths", "agentgate.system", "agentgate.repofiles", "agentgate.errors", "agentgate.lean",
      "agentgate.faults", "agentgate.jsontext", "agentgate.grammar",
      "agentgate.integrations.agents", "agentgate.integrations", "agentgate.integrations.rewrite"]),
]
FRONT = 0

# Inside the shell package: the tree and the parser know nothing of programs or the analyzer.
KNOWS_NO_PROGRAMS = {"agentgate.shell.syntax", "agentgate.shell.parser"}
PROGRAM_KNOWLEDGE = ("agentgate.shell.analyzer", "agentgate.shell.programs")

# Below the front layer, nothing prints, exits or touches the terminal's streams; except:
TERMINAL_ALLOWED = {
    "agentgate.output": "the one place that renders for people and machines; the front layer "
                        "calls it",
    "agentgate.runner": "process handling: flushes stdout before agentgate writes after the "
                        "child it ran",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def imports_of(name: str) -> set[str]:
    """The agentgate modules ``name`` imports (``from . import x`` names module ``x`` when
    there is one; otherwise the package it is taken from)."""
    is_package = MODULES[name].name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {m for m in found if m in MODULES and m not in (name, "agentgate")}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    for k, (_, names) in enumerate(LAYERS):
        for pattern in names:
            if name == pattern or (pattern.endswith(".*") and
                                   (name == pattern[:-2] or name.startswith(pattern[:-1]))):
                return k
    raise AssertionError(f"{name} is in no layer: add it to LAYERS in tests/test_architecture.py")


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_the_graph_is_read() -> None:
    """The reader finds lazy and relative imports (else every other test here would pass)."""
    assert "agentgate.cli" in GRAPH["agentgate.entry"]  # inside a function
    assert "agentgate.outcome" in GRAPH["agentgate.integrations.hooks"]  # from ..outcome import
    assert "agentgate.output" in GRAPH["agentgate.hotpath"]  # from . import output
    assert "agentgate.errorlog" in GRAPH["agentgate.integrations.mcp"]  # from .. import errorlog


def test_no_lower_layer_imports_a_higher_one() -> None:
    wrong = [f"{name} ({LAYERS[layer_of(name)][0].split(':')[0]}) imports {dep} "
             f"({LAYERS[layer_of(dep)][0].split(':')[0]})"
             for name, deps in GRAPH.items() for dep in sorted(deps)
             if layer_of(dep) < layer_of(name)]
    assert wrong == []


def test_no_import_cycle() -> None:
    """Tarjan's strongly connected components: any component of more than one module is a
    cycle (a module importing itself is left out by imports_of)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == []


def test_the_tree_and_the_parser_know_no_programs() -> None:
    for name in KNOWS_NO_PROGRAMS:
        assert not {d for d in GRAPH[name] if d.startswith(PROGRAM_KNOWLEDGE)}, name


def _terminal_uses(tree: ast.AST) -> list[str]:
    """print(...), sys.exit/os._exit, typer.Exit, and any use of sys.stdout or sys.stderr."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"line {node.lineno}: print()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if pair in {("sys", "exit"), ("os", "_exit"), ("typer", "Exit"), ("click", "Exit"),
                        ("sys", "stdout"), ("sys", "stderr"), ("sys", "__stdout__"),
                        ("sys", "__stderr__")}:
                found.append(f"line {node.lineno}: {pair[0]}.{pair[1]}")
    return found


def test_nothing_below_the_cli_prints_or_exits() -> None:
    wrong = {name: uses for name in MODULES if layer_of(name) > FRONT
             and name not in TERMINAL_ALLOWED and (uses := _terminal_uses(TREES[name]))}
    assert wrong == {}


def test_the_allow_list_is_needed() -> None:
    """An exception that is no longer used is taken off the list."""
    for name in TERMINAL_ALLOWED:
        assert _terminal_uses(TREES[name]), f"{name} no longer touches the terminal"


def test_the_front_layer_is_where_typer_lives() -> None:
    """typer and click are imported by cli.py alone (help and usage errors are its job)."""
    for name, tree in TREES.items():
        imported = {a.name.split(".")[0] for n in ast.walk(tree)
                    if isinstance(n, ast.Import | ast.ImportFrom)
                    for a in (n.names if isinstance(n, ast.Import) else
                              [ast.alias(n.module or "")] if not n.level else [])}
        if imported & {"typer", "click"}:
            assert name == "agentgate.cli", name
