"""Where agentgate's files live, and every ``AGENTGATE_*`` variable, read here and nowhere else.

``AGENTGATE_HOME`` overrides every state path, ``AGENTGATE_CONFIG_DIR`` the user policy's
directory; these and ``AGENTGATE_POLICY`` must be absolute paths. The others: ``AGENTGATE_POLICY`` (the policy file when no ``--policy`` is given),
``AGENTGATE_LOCK_TIMEOUT`` (seconds to wait for the ledger lock), ``AGENTGATE_AGENT`` (who is
asking), ``AGENTGATE_JSON`` (JSON output, as ``--json``) and ``AGENTGATE_GATED``, which agentgate
sets for the commands it runs. (``AGENTGATE_TEST_HOOKS`` and ``AGENTGATE_TEST_FAULT`` belong to
the test-only agentgate.faults.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .lean import Record

APP = "agentgate"


def _linux_user_dir(xdg_var: str, default: str) -> str | None:
    """What platformdirs answers on Linux for the usual environments, without importing it
    (8 ms on every `run`): ``$XDG_..._HOME/agentgate`` when that is absolute, else the default
    under the home directory. None for anything unusual (another OS, Android, a relative HOME, no
    home at all): the caller then asks platformdirs itself."""
    if sys.platform != "linux" or hasattr(sys, "getandroidapilevel") or (
            os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system"):
        return None
    base = os.environ.get(xdg_var, "")
    if not base.startswith("/"):
        home = os.environ.get("HOME")
        if home is not None and not home.startswith("/"):
            return None
        base = os.path.expanduser(default)
        if not base.startswith("/"):
            return None
    return os.path.join(base, APP)


def current_dir() -> Path:
    """The working directory, resolved: commands are checked and recorded against it."""
    try:
        return Path(os.getcwd()).resolve()
    except OSError as e:
        from .errors import UsageError

        raise UsageError(f"the current directory is not accessible: {e.strerror or e}") from None


def _absolute_env(name: str) -> Path | None:
    """A path variable's value (``~`` expanded), None when unset or empty. A relative one is a
    ConfigError (78): read from each command's working directory, it would name another file
    (another policy, another ledger) in each directory an agent works in."""
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # ~user with no such user, or no home directory to expand ~ to
        from .errors import ConfigError

        raise ConfigError(f"{name}={raw!r}: cannot expand ~ (no such user, or no home directory)",
                          f"set {name} to an absolute path without ~") from None
    if not path.is_absolute():
        from .errors import ConfigError

        raise ConfigError(f"{name} must be an absolute path, not {raw!r}",
                          f"e.g. export {name}={path.absolute()}")
    return path


def state_dir() -> Path:
    """The directory holding the ledger, its lock, the audit log and trust records."""
    home = _absolute_env("AGENTGATE_HOME")
    if home is not None:
        return home
    fast = _linux_user_dir("XDG_STATE_HOME", "~/.local/state")
    if fast is not None:
        return Path(fast)
    import platformdirs

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def user_policy_path() -> Path:
    """The user policy: ``$AGENTGATE_CONFIG_DIR/policy.toml`` if set, else platformdirs' config dir."""
    home = _absolute_env("AGENTGATE_CONFIG_DIR")
    if home is not None:
        return home / "policy.toml"
    fast = _linux_user_dir("XDG_CONFIG_HOME", "~/.config")
    if fast is not None:
        return Path(fast) / "policy.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "policy.toml"


class StatePaths(Record):
    root: Path

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.json"

    @property
    def archive(self) -> Path:
        """Finished requests that left ledger.json (JSONL, append-only, pruned by retention)."""
        return self.root / "ledger-done.jsonl"

    @property
    def lock(self) -> Path:
        return self.root / "ledger.lock"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def trust(self) -> Path:
        return self.root / "trusted.json"

    @classmethod
    def default(cls) -> StatePaths:
        return cls(state_dir())


# --------------------------------------------------------------------------- the other variables

GATED_ENV = "AGENTGATE_GATED"  # set to 1 in the environment of every command agentgate runs


def env_policy() -> str | None:
    """``AGENTGATE_POLICY``: the policy file to use when no ``--policy`` is given (None when
    unset or empty), an absolute path (``--policy`` may be relative: it is given where it is
    meant)."""
    path = _absolute_env("AGENTGATE_POLICY")
    return None if path is None else str(path)


def lock_timeout() -> float:
    """Seconds to wait for the ledger lock: ``AGENTGATE_LOCK_TIMEOUT`` (default 10)."""
    raw = os.environ.get("AGENTGATE_LOCK_TIMEOUT", "10")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 86400:
        from .errors import ConfigError

        raise ConfigError(f"AGENTGATE_LOCK_TIMEOUT must be a number of seconds, not {raw!r}",
                          "unset it (default 10) or set e.g. AGENTGATE_LOCK_TIMEOUT=5")
    return value


def agent_name(given: str | None, default: str) -> str:
    """Who is asking: ``--agent`` when given, else ``AGENTGATE_AGENT``, else ``default``."""
    return given or os.environ.get("AGENTGATE_AGENT") or default


def json_wanted(flag: bool) -> bool:
    """``--json``, or ``AGENTGATE_JSON`` set to anything but empty, 0, false or no."""
    return flag or os.environ.get("AGENTGATE_JSON", "") not in ("", "0", "false", "no")


def inside_gate() -> bool:
    """Is this process a command that `agentgate run` (or the MCP server) started?"""
    return bool(os.environ.get(GATED_ENV))


def gated_env() -> dict[str, str]:
    """The environment for a command the gate allowed: this one, marked with ``GATED_ENV``."""
    env = dict(os.environ)
    env[GATED_ENV] = "1"
    return env
