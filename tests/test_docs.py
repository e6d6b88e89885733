"""The README and --help texts stay true to the code (in the spirit of sqlite-utils' doc tests)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import VENV_BIN, ag, write_policy

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
        if getattr(cmd, "commands", None) and name in ("hook", "policy", "service"):
            continue  # groups: their subcommands are listed
        assert f"`agentgate {name}" in table, f"`agentgate {name}` is missing from the README"


def _options(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}


def test_every_option_of_a_command_is_in_its_readme_row() -> None:
    """The Commands table shows each command's options (--help, and --policy, which the
    paragraph under the table covers, aside)."""
    table = README[README.index("## Commands"):README.index("## Exit codes")]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        m = re.match(r"\| `(?:sudo )?agentgate ([a-z-]+)(?: ([a-z-]+))?", line)
        if m:
            key = f"{m.group(1)} {m.group(2)}" if m.group(2) else m.group(1)
            rows[key] = rows.get(key, "") + line
    for name, cmd in all_commands():
        if name in ("hook", "policy", "service") or (name.startswith("hook ") and name not in rows):
            continue  # groups; the agents' hooks share one row (checked above)
        row = rows.get(name, "")
        for opt in sorted(_options(cmd) - {"--help", "--policy"}):
            assert re.search(re.escape(opt) + r"(?![\w-])", row), \
                f"`agentgate {name}` takes {opt}, which its README row does not show"


def test_every_option_a_help_text_names_exists() -> None:
    """An option named in a command's help is that command's (or the root's), unless the
    words just before it name the command that has it (`hook install --wait`)."""
    root = typer.main.get_command(app)
    commands = all_commands()
    for name, cmd in commands:
        text = "\n".join([cmd.help or "", *(getattr(p, "help", None) or "" for p in cmd.params)])
        for m in re.finditer(r"(?<![\w-])--[a-z][a-z-]*", text):
            opt, before = m.group(), text[max(0, m.start() - 40):m.start()]
            if opt in _options(cmd) | _options(root):
                continue
            assert any(opt in _options(other) and re.search(
                rf"(?<![\w-]){re.escape(n.split()[-1])}\b", before) for n, other in commands), \
                f"`agentgate {name} --help` names {opt}, which it does not take"


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
    texts = [README, *(p.read_text() for p in (ROOT / "docs").glob("*") if p.suffix != ".png")]
    for t in texts:
        assert "pypi.org" not in t and "registry.npmjs" not in t


# --------------------------------------------------------------------------- install instructions

# Texts a user reads for install instructions: every doc page and example, and the --help texts.
DOC_FILES = [ROOT / "README.md", ROOT / "policies.example.toml",
             ROOT / "src" / "agentgate" / "policies.example.toml",
             *sorted(p for p in (ROOT / "docs").rglob("*")
                     if p.is_file() and p.suffix != ".png")]  # a screenshot is no text

_INSTALL = re.compile(
    r"(?:\bpython3?\s+-m\s+pip|(?<![\w-])(?:\S*/)?pip3?|\bpipx|\buv\s+pip|\buv\s+tool)\s+install\b"
    r"|\b(?:uv|poetry|pdm|rye|pixi)\s+add\b"
    r"|(?P<run>\buvx|\bpipx\s+run|\buv\s+tool\s+run)\b")
_ARGS_END = re.compile(r"[\n`#;&|)]")
_OPTION_TAKES_VALUE = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i",
                       "--index-url", "--extra-index-url", "-f", "--find-links", "--python",
                       "--pip-args", "--suffix", "-t", "--target", "--prefix", "--root", "--with"}
_OPTION_NAMES_PACKAGE = {"--spec", "--from"}
# agentgate's own names, optionally with extras and a version, but no direct reference (`@ url`)
_OUR_NAME = re.compile(r"agentgate(?:-checkpoint|_checkpoint)?(?:\[[^\]]*\])?(?:[<>=!~]=?\S*)?",
                       re.I)


def registry_installs(text: str) -> list[str]:
    """Install commands in ``text`` that would fetch agentgate from the registry by name."""
    import shlex

    found = []
    for m in _INSTALL.finditer(text):
        rest = text[m.end():]
        args = rest[:e.start()] if (e := _ARGS_END.search(rest)) else rest
        try:
            words = shlex.split(args)
        except ValueError:
            words = args.split()
        names: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            if w in _OPTION_NAMES_PACKAGE and i + 1 < len(words):
                names.append(words[i + 1])
                i += 2
                continue
            if w.startswith("-"):
                i += 2 if w in _OPTION_TAKES_VALUE else 1
                continue
            is_reference = i + 1 < len(words) and words[i + 1].startswith("@")
            if not is_reference:
                names.append(w)
            if m.group("run"):
                break  # `uvx NAME args...`: only the first word names a package
            i += 3 if is_reference else 1
        if any(_OUR_NAME.fullmatch(n) for n in names):
            found.append(m.group(0) + args)
    return found


@pytest.mark.parametrize(("text", "bad"), [
    ("pip install agentgate-checkpoint", True),
    ("pipx install agentgate", True),
    ("   pipx install 'agentgate-checkpoint[mcp]'      # or: pip install .", True),
    ("run: python -m pip install -q agentgate-checkpoint==0.1.0", True),
    ("`uv tool install agentgate`", True),
    ("uvx --from agentgate-checkpoint agentgate run -- ls", True),
    ("poetry add agentgate_checkpoint", True),
    ("pipx install .  # or: pip install agentgate", True),
    (".venv/bin/pip install -q agentgate", True),
    ("pip install .", False),
    ("pip install -q '.[test]' && pytest", False),
    ("pip install -e '.[mcp]'", False),
    ('pip install "git+<repository URL>"', False),
    ('pipx install "agentgate-checkpoint[mcp] @ git+<repository URL>"', False),
    ("pip install agentgate-checkpoint[mcp] @ git+https://example.invalid/agentgate.git", False),
    ("pip install /path/to/agentgate", False),
    ("uvx ruff check agentgate", False),
    ("the PyPI project named `agentgate` is an unrelated one", False),
])
def test_the_registry_install_detector(text: str, bad: bool) -> None:
    assert bool(registry_installs(text)) is bad, registry_installs(text)


def _help_texts() -> str:
    parts = []
    for _, cmd in all_commands():
        parts.append(cmd.help or "")
        parts.extend(getattr(p, "help", None) or "" for p in cmd.params)
    return "\n".join(parts)


def test_no_doc_installs_agentgate_from_the_registry_by_name() -> None:
    """agentgate is not on PyPI; `agentgate` there is an unrelated project."""
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in DOC_FILES if p.exists()}
    texts["--help"] = _help_texts()
    assert "README.md" in texts and "docs/python.md" in texts
    bad = {name: hits for name, t in texts.items() if (hits := registry_installs(t))}
    assert not bad, f"install from a clone or a git URL instead: {bad}"


def test_the_docs_say_the_package_is_not_on_pypi() -> None:
    install = README[README.index("## Install"):]
    install = install[:install.index("\n## ")]
    assert "not published on PyPI yet" in install
    assert "pipx install ." in install and 'pip install "git+<repository URL>"' in install
    for page in ("claude-code", "codex", "cursor", "gemini-cli", "mcp", "python", "ci"):
        assert "not published on PyPI yet" in (ROOT / "docs" / f"{page}.md").read_text(), page


# --------------------------------------------------------------------------- workflow examples

WORKFLOWS = sorted(p for p in (ROOT / "docs").rglob("*") if p.suffix in (".yml", ".yaml"))


def _tool(name: str) -> str:
    """A linter the test extra installs; missing means the environment is wrong, not a skip."""
    path = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    assert path, f"`{name}` is not installed: pip install -e '.[test]'"
    return path


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("actionlint"), "-no-color", "-shellcheck", _tool("shellcheck"),
                           *map(str, files)], capture_output=True, text=True, timeout=120,
                          check=False, stdin=subprocess.DEVNULL)


def test_every_workflow_example_passes_actionlint() -> None:
    assert WORKFLOWS, "docs/ holds the example workflow"
    r = _actionlint(*WORKFLOWS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_catches_what_github_rejects(tmp_path: Path) -> None:
    """The check can fail: the runner context in a job's env, and shellcheck findings in run:."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: workflow_dispatch\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    env:\n      AGENTGATE_HOME: ${{ runner.temp }}/agentgate\n"
                   "    steps:\n      - run: cat $AGENTGATE_HOME/audit.jsonl\n")
    r = _actionlint(bad)
    assert r.returncode == 1
    assert 'context "runner" is not allowed here' in r.stdout
    assert "shellcheck reported issue" in r.stdout and "SC2086" in r.stdout


# --------------------------------------------------------------------------- the CI check step


def ci_check_script() -> str:
    doc = (ROOT / "docs" / "ci.md").read_text()
    m = re.search(r"<!-- ci-check -->\n```sh\n(.*?)```", doc, re.S)
    assert m, "docs/ci.md lost its marked check step"
    return m.group(1)


def _run_blocks(workflow: str) -> list[str]:
    """The `run: |` block scalars of a workflow, dedented."""
    import textwrap

    blocks = []
    lines = workflow.splitlines(keepends=True)
    for i, line in enumerate(lines):
        key = re.match(r"( *)(?:- )?run: [|]\s*$", line)
        if not key:
            continue
        body = []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip(" ")) <= len(key.group(1)):
                break
            body.append(nxt)
        blocks.append(textwrap.dedent("".join(body)).rstrip("\n") + "\n")
    return blocks


def test_readme_docs_and_workflow_carry_the_same_check_step() -> None:
    script = ci_check_script()
    m = re.search(r"<!-- ci-check -->\n```sh\n(.*?)```", README, re.S)
    assert m, "the README's CI step is marked <!-- ci-check -->"
    assert m.group(1) == script, "README.md and docs/ci.md disagree on the CI check step"
    workflow = (ROOT / "docs" / "github-workflow.example.yml").read_text()
    assert script in _run_blocks(workflow), "the example workflow's check step drifted from docs/ci.md"


def _ci_check(env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    return _ci_check_like(ci_check_script(), env)


def _ci_check_like(script: str,
                   env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env=full, timeout=60, check=False, stdin=subprocess.DEVNULL)


@pytest.mark.usefixtures("fake_bin")
@pytest.mark.parametrize("scenario", ["allowed", "held", "held-then-expired", "approved-in-the-run",
                                      "denied", "missing-state", "empty-state", "unset-home"])
def test_the_documented_ci_check_step(scenario: str, state_dir: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # only the expiry case needs a short life: on a loaded machine a 1 s request can expire
    # between the hold and the approval of the other cases
    ttl = "1s" if scenario == "held-then-expired" else "10m"
    policy = write_policy(tmp_path / "policy.toml", request_ttl=ttl)
    monkeypatch.setenv("AGENTGATE_POLICY", str(policy))
    env: dict[str, str | None] = {}
    rid = ""
    if scenario not in ("missing-state", "empty-state", "unset-home"):
        assert ag("run", "--", "deployer", "build").returncode == 0
    if scenario in ("held", "held-then-expired", "approved-in-the-run"):
        r = ag("run", "--json", "--", "deployer", "--prod")
        assert r.returncode == 75, r.stderr
        rid = json.loads(r.stdout)["approvalId"]
    if scenario == "held-then-expired":
        time.sleep(1.5)
        assert json.loads(ag("pending", "--json").stdout) == []
    if scenario == "approved-in-the-run":
        assert ag("approve", rid, "--yes").returncode == 0
        assert ag("run", "--", "deployer", "--prod").returncode == 0
    if scenario == "denied":
        assert ag("run", "--", "nuke").returncode == 77
    if scenario == "empty-state":
        state_dir.mkdir(mode=0o700)
    if scenario == "unset-home":
        env["AGENTGATE_HOME"] = None

    r = _ci_check(env)
    out = r.stdout + r.stderr
    if scenario == "allowed":
        assert r.returncode == 0, out
        _check_the_summary_step(tmp_path)
        return
    assert r.returncode == 1, out
    expected = {
        "held": "nobody can approve inside a CI run",
        "held-then-expired": "nobody can approve inside a CI run",
        "approved-in-the-run": "nobody can approve inside a CI run",
        "denied": "agentgate denied commands in this run",
        "missing-state": f"no agentgate state directory at {state_dir}",
        "empty-state": f"no agentgate audit log at {state_dir / 'audit.jsonl'}",
        "unset-home": "set AGENTGATE_HOME",
    }[scenario]
    assert expected in out
    if rid:
        assert rid in r.stdout and "deployer --prod" in r.stdout


def _check_the_summary_step(tmp_path: Path) -> None:
    """The example workflow's summary step, run as written, appends Markdown tables."""
    workflow = (ROOT / "docs" / "github-workflow.example.yml").read_text()
    steps = [line.split("run: ", 1)[1] for line in workflow.splitlines()
             if "run: agentgate log summary" in line]
    assert steps == ['agentgate log summary --markdown >> "$GITHUB_STEP_SUMMARY"']
    summary = tmp_path / "step-summary.md"
    r = _ci_check_like(steps[0], {"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 0, r.stderr
    text = summary.read_text()
    assert "| allowed | 1 |" in text and "intact" in text, text


def _gate_invocations(text: str) -> list[list[str]]:
    """`agentgate ...` commands in shell code (up to a redirection, pipe or comment)."""
    import shlex

    calls = []
    at_command = r"(?:^\s*(?:- )?(?:run:\s*)?|\$\(|&&\s*|;\s*)"
    for m in re.finditer(at_command + r"agentgate((?: [^\n#>|)`]*)?)", text, re.M):
        words = shlex.split(m.group(1))
        if words:
            calls.append(words)
    return calls


def test_every_option_the_ci_docs_use_exists() -> None:
    """`log summary --markdown` and the rest: the CI docs may only use what the CLI accepts."""
    root = typer.main.get_command(app)
    ci = (ROOT / "docs" / "ci.md").read_text()
    texts = [ci, *(p.read_text() for p in WORKFLOWS)]
    code = "\n".join(b for t in texts for b in re.findall(r"```(?:sh|yaml)\n(.*?)```", t, re.S))
    code += "\n".join(b for p in WORKFLOWS for b in re.findall(r"run: (.+)", p.read_text()))
    code += "\n".join(b for p in WORKFLOWS for b in _run_blocks(p.read_text()))
    calls = _gate_invocations(code)
    assert ["log", "summary", "--markdown"] in calls, calls
    for words in calls:
        cmd: Any = root
        for w in words:
            if w == "--":
                break
            sub = getattr(cmd, "commands", {}).get(w)
            if sub is not None:
                cmd = sub
                continue
            if w.startswith("-"):
                opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
                assert w.split("=")[0] in opts, f"`agentgate {' '.join(words)}`: {w} does not exist"
