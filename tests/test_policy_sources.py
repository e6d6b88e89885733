"""policy.sources: the records under <state>/validated/ (the examples' marker, tomllib's parse of
a policy of one's own), and the key that names them (the content and the code that checks it)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import TEST_POLICY

from agentgate import policy as pol
from agentgate import shell
from agentgate.errors import PolicyError, StateError
from agentgate.paths import StatePaths
from agentgate.policy import loader, sources

TEXT = TEST_POLICY.format(extra_settings="")


@pytest.fixture
def own(tmp_path: Path) -> Path:
    path = tmp_path / "own.toml"
    path.write_text(TEXT)
    return path


def record_of(path: Path, state: Path) -> Path:
    return state / "validated" / f"{pol.validation_key(path.read_bytes())}.json"


def load(path: Path, state: Path, cached: bool = True) -> pol.Policy:
    return pol.load_policy(str(path), path.parent, StatePaths(state), cached=cached)


def test_a_policy_of_ones_own_is_parsed_by_tomllib_once(own: Path, state_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first = load(own, state_dir)
    record = record_of(own, state_dir)
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert (record.parent / record.stem).exists()  # the examples' marker beside it
    doc = json.loads(record.read_bytes())
    assert doc == {"sha256": hashlib.sha256(own.read_bytes()).hexdigest(), "toml": tomllib.loads(TEXT)}

    def no_tomllib(data: bytes, path: str) -> dict[str, object]:
        raise AssertionError("tomllib read a content whose parse is recorded")

    monkeypatch.setattr(sources, "read_toml", no_tomllib)
    monkeypatch.setattr(loader, "_check_examples", no_tomllib)
    again = load(own, state_dir)
    assert [r.id for r in again.rules] == [r.id for r in first.rules] and again.sha256 == first.sha256


def test_run_with_a_policy_of_ones_own_imports_no_tomllib_the_second_time(own: Path, in_tmp_cwd: Path) -> None:
    probe = ("import sys\nfrom agentgate.entry import main\n"
             f"sys.argv = ['agentgate', '--policy', {str(own)!r}, 'run', '--', 'true']\n"
             "try:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
             "print(rc, sorted(m for m in ('tomllib', 'typing') if m in sys.modules))")
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=in_tmp_cwd, capture_output=True,
                           text=True, check=True).stdout.split("\n")[-2] for _ in range(2)]
    assert runs == ["0 ['tomllib', 'typing']", "0 []"]


def test_every_check_still_runs_on_a_recorded_parse(own: Path, state_dir: Path) -> None:
    load(own, state_dir)
    record = record_of(own, state_dir)
    doc = json.loads(record.read_bytes())
    doc["toml"]["rule"][0]["decision"] = "sometimes"
    record.write_text(json.dumps(doc))
    with pytest.raises(PolicyError, match="'decision' must be one of") as e:
        load(own, state_dir)
    assert e.value.exit_code == 78 and str(own) in str(e.value)
    assert [r.id for r in load(own, state_dir, cached=False).rules] == ["deploy-prod", "nuke"]


def test_a_record_for_other_bytes_or_not_json_is_parsed_again(own: Path, state_dir: Path) -> None:
    load(own, state_dir)
    record = record_of(own, state_dir)
    for junk in (b"{", json.dumps({"sha256": "0" * 64, "toml": {"rule": []}}).encode()):
        record.write_bytes(junk)
        assert [r.id for r in load(own, state_dir).rules] == ["deploy-prod", "nuke"]
        assert json.loads(record.read_bytes())["toml"] == tomllib.loads(TEXT)  # written again


def test_a_record_that_is_a_link_or_writable_by_others_fails_closed(own: Path, state_dir: Path,
                                                                   tmp_path: Path) -> None:
    load(own, state_dir)
    record = record_of(own, state_dir)
    record.chmod(0o666)
    with pytest.raises(StateError, match="writable by group or others") as e:
        load(own, state_dir)
    assert e.value.exit_code == 78
    record.unlink()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"sha256": hashlib.sha256(own.read_bytes()).hexdigest(),
                                     "toml": tomllib.loads(TEXT)}))
    record.symlink_to(elsewhere)
    with pytest.raises(StateError, match="symbolic link"):
        load(own, state_dir)


def test_a_policy_that_fails_is_never_recorded(tmp_path: Path, state_dir: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nid = "x"\ndecision = "deny"\ncommands = ["x"]\nmatch = ["y"]\n')
    with pytest.raises(PolicyError):
        load(bad, state_dir)
    assert not (state_dir / "validated").exists() or not any((state_dir / "validated").iterdir())


def test_the_starter_policy_needs_no_record(state_dir: Path) -> None:
    """It ships pre-parsed: only the examples' marker is written for it."""
    pol.load_policy(None, state_dir.parent, StatePaths(state_dir))
    assert [p.suffix for p in (state_dir / "validated").iterdir()] == [""]


def test_the_key_covers_the_policy_and_the_shell_code(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    files = set(loader.source_files())
    assert set(shell.source_files()) <= files
    assert {Path(m.__file__).name for m in (pol, pol.loader, pol.model, pol.patterns, pol.sources)} <= {
        Path(f).name for f in files}
    assert any(f.endswith(os.path.join("programs", "git.py")) for f in files)
    module = tmp_path / "program.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(shell, "source_files", lambda: (str(module),))
    before = pol.validation_key(b"same content")
    module.write_text("x = 22\n")  # an edited program module
    assert pol.validation_key(b"same content") != before
