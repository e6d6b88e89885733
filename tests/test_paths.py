"""paths: the user directories computed without platformdirs must be exactly platformdirs' own
(as pathlib spells them); pure, expand_user and resolve answer as pathlib does."""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath
from typing import Any

import platformdirs
import pytest

from agentgate import paths

ENVS = [
    pytest.param({}, id="xdg-set"),
    pytest.param({"XDG_CONFIG_HOME": None, "XDG_STATE_HOME": None}, id="xdg-unset"),
    pytest.param({"XDG_CONFIG_HOME": "", "XDG_STATE_HOME": ""}, id="xdg-empty"),
    pytest.param({"XDG_CONFIG_HOME": "rel/cfg", "XDG_STATE_HOME": "~/state"}, id="xdg-relative"),
    pytest.param({"XDG_CONFIG_HOME": "/x/cfg/", "XDG_STATE_HOME": "/x//state"}, id="xdg-odd-slashes"),
    pytest.param({"XDG_CONFIG_HOME": None, "XDG_STATE_HOME": None, "HOME": "/x/home/"}, id="home-slash"),
    pytest.param({"XDG_CONFIG_HOME": None, "XDG_STATE_HOME": None, "HOME": "/"}, id="home-root"),
    pytest.param({"XDG_CONFIG_HOME": None, "XDG_STATE_HOME": None, "HOME": None}, id="home-unset"),
    pytest.param({"XDG_CONFIG_HOME": None, "XDG_STATE_HOME": None, "HOME": ""}, id="home-empty"),
    pytest.param({"XDG_CONFIG_HOME": None, "XDG_STATE_HOME": None, "HOME": "rel"}, id="home-relative"),
    pytest.param({"ANDROID_DATA": "/data", "ANDROID_ROOT": "/system"}, id="android-markers"),
]


@pytest.mark.parametrize("env", ENVS)
def test_user_dirs_equal_platformdirs(env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTGATE_HOME")
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    assert paths.state_dir() == str(Path(platformdirs.user_state_dir("agentgate", appauthor=False)))
    assert paths.user_policy_path() == str(
        Path(platformdirs.user_config_dir("agentgate", appauthor=False)) / "policy.toml")


@pytest.mark.skipif(sys.platform != "linux", reason="the direct computation is for Linux only")
def test_usual_linux_environments_skip_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths._linux_user_dir("XDG_STATE_HOME", "~/.local/state") is not None
    monkeypatch.delenv("XDG_STATE_HOME")
    assert paths._linux_user_dir("XDG_STATE_HOME", "~/.local/state") is not None
    monkeypatch.setenv("HOME", "relative")
    assert paths._linux_user_dir("XDG_STATE_HOME", "~/.local/state") is None


def test_overrides_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTGATE_HOME", str(tmp_path / "s"))
    monkeypatch.setenv("AGENTGATE_CONFIG_DIR", str(tmp_path / "c"))
    assert paths.state_dir() == str(tmp_path / "s")
    assert paths.user_policy_path() == str(tmp_path / "c" / "policy.toml")
    assert paths.StatePaths.default().ledger == str(tmp_path / "s" / "ledger.json")
    assert paths.StatePaths(tmp_path / "s" / ".") == paths.StatePaths(str(tmp_path / "s"))


SPELLINGS = ["", ".", "./", "/", "//", "///", "////a", "//a//b/", "a", "a/", "a//b", "./a/./b/.",
             "/a/../b", "../a/..", "a/.../b", "/x/ y /", "~", "~/a//b/", "~root/a", "~nosuchuser9/a",
             ".hidden/", "/a/b.c."]


@pytest.mark.parametrize("text", SPELLINGS)
def test_pure_spells_a_path_as_pathlib(text: str) -> None:
    assert paths.pure(text) == str(PurePosixPath(text))
    assert paths.pure(Path(text)) == str(Path(text))


@pytest.mark.parametrize("home", ["/home/u", "/home/u/", "/", None])
@pytest.mark.parametrize("text", SPELLINGS)
def test_expand_user_expands_as_pathlib(text: str, home: str | None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        monkeypatch.setenv("HOME", home)
    try:
        want: str | None = str(Path(text).expanduser())
    except RuntimeError:
        want = None
    got = paths.expand_user(text)
    assert (None if got is None else paths.pure(got)) == want


def test_resolve_resolves_as_pathlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to("d")
    (tmp_path / "loop").symlink_to("loop")
    monkeypatch.chdir(tmp_path)
    for text in ["d", "link", "link/../x", "link/new/..", "missing/x", str(tmp_path / "link"), "/"]:
        assert paths.resolve(text) == str(Path(text).resolve()), text
    for looping in ["loop", "loop/x", str(tmp_path / "loop")]:
        with pytest.raises(RuntimeError, match="Symlink loop"):
            Path(looping).resolve()
        with pytest.raises(RuntimeError, match="Symlink loop"):
            paths.resolve(looping)


def test_a_relative_agentgate_home_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """State that moved with the working directory would split the ledger between directories."""
    from agentgate.errors import ConfigError

    monkeypatch.setenv("AGENTGATE_HOME", "relative/state")
    with pytest.raises(ConfigError, match="absolute path"):
        paths.state_dir()


@pytest.mark.parametrize(("var", "read"), [("AGENTGATE_HOME", paths.state_dir),
                                           ("AGENTGATE_CONFIG_DIR", paths.user_policy_path),
                                           ("AGENTGATE_POLICY", paths.env_policy)])
def test_every_path_variable_must_be_absolute(var: str, read: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The three path variables alike: a relative one is a ConfigError (78) with a hint; ~ is
    expanded; empty is unset."""
    from agentgate.errors import EXIT_CONFIG, ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, "rel/x")
    with pytest.raises(ConfigError, match=f"{var} must be an absolute path") as e:
        read()
    assert e.value.exit_code == EXIT_CONFIG and e.value.hint == f"e.g. export {var}={tmp_path}/rel/x"
    monkeypatch.setenv(var, "~/x")
    assert str(read()).startswith(str(Path.home() / "x"))
    if var != "AGENTGATE_HOME":
        monkeypatch.setenv(var, "")
        assert read() != "" and (var == "AGENTGATE_CONFIG_DIR" or read() is None)


def test_the_other_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AGENTGATE_* variable is read in paths.py (the test switches aside)."""
    from agentgate.errors import ConfigError

    assert paths.lock_timeout() == 10.0
    monkeypatch.setenv("AGENTGATE_LOCK_TIMEOUT", "2.5")
    assert paths.lock_timeout() == 2.5
    for bad in ("soon", "-1", "nan", "86400"):
        monkeypatch.setenv("AGENTGATE_LOCK_TIMEOUT", bad)
        with pytest.raises(ConfigError, match="AGENTGATE_LOCK_TIMEOUT"):
            paths.lock_timeout()
    assert paths.env_policy() is None
    monkeypatch.setenv("AGENTGATE_POLICY", "")
    assert paths.env_policy() is None
    monkeypatch.setenv("AGENTGATE_POLICY", "/p.toml")
    assert paths.env_policy() == "/p.toml"
    assert paths.agent_name(None, "unknown") == "unknown"
    monkeypatch.setenv("AGENTGATE_AGENT", "ci")
    assert paths.agent_name(None, "unknown") == "ci" and paths.agent_name("me", "x") == "me"
    assert not paths.json_wanted(False) and paths.json_wanted(True)
    for value, wanted in (("1", True), ("yes", True), ("0", False), ("no", False), ("false", False)):
        monkeypatch.setenv("AGENTGATE_JSON", value)
        assert paths.json_wanted(False) is wanted
    assert not paths.inside_gate()
    assert paths.gated_env()[paths.GATED_ENV] == "1"
    monkeypatch.setenv(paths.GATED_ENV, "1")
    assert paths.inside_gate()


def test_no_other_module_reads_an_agentgate_variable() -> None:
    """paths.py reads every AGENTGATE_* variable (faults.py keeps the test-only switch)."""
    import re

    root = Path(paths.__file__).parent
    reader = re.compile(r"""environ(?:\.get)?[\[(]\s*["']AGENTGATE_|getenv\(\s*["']AGENTGATE_""")
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if reader.search(p.read_text()) and p.name not in ("paths.py", "faults.py"))
    assert found == [], found
