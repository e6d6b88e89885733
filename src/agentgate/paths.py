"""Where agentgate's files live, and every ``AGENTGATE_*`` variable, read here and nowhere else.

``AGENTGATE_HOME`` overrides every state path, ``AGENTGATE_CONFIG_DIR`` the user policy's
directory; these and ``AGENTGATE_POLICY`` must be absolute paths. The others: ``AGENTGATE_POLICY`` (the policy file when no ``--policy`` is given),
``AGENTGATE_LOCK_TIMEOUT`` (seconds to wait for the ledger lock), ``AGENTGATE_AGENT`` (who is
asking), ``AGENTGATE_JSON`` (JSON output, as ``--json``) and ``AGENTGATE_GATED``, which agentgate
sets for the commands it runs. (``AGENTGATE_TEST_HOOKS`` and ``AGENTGATE_TEST_FAULT`` belong to
the test-only agentgate.faults.)

Every location is a ``str`` spelled as pathlib spells it (:func:`pure`): the run and hook paths
do without pathlib (see agentgate.lean).
"""

from __future__ import annotations

import errno
import os
import sys

from .lean import Record

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from .fileio import StrPath

APP = "agentgate"


def pure(path: StrPath) -> str:
    """``str(PurePosixPath(path))``: repeated slashes and ``.`` parts dropped, ``..`` kept (a
    link may come before it), no trailing slash, ``.`` for nothing, two leading slashes kept
    (POSIX leaves their meaning to the system), more than two made one."""
    text = os.fspath(path)
    rest = text.lstrip("/")
    lead = len(text) - len(rest)
    root = "//" if lead == 2 else "/" if lead else ""
    parts = [p for p in rest.split("/") if p and p != "."]
    return root + "/".join(parts) if root or parts else "."


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


def resolve(path: StrPath) -> str:
    """``str(Path(path).resolve())``: absolute, every symbolic link resolved, what does not
    exist kept as written; a loop of links is pathlib's RuntimeError."""
    real = os.path.realpath(path)
    try:
        os.stat(real)  # realpath leaves a loop as it is: only this finds it
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RuntimeError(f"Symlink loop from {e.filename!r}") from None
    return real


def current_dir() -> str:
    """The working directory, resolved: commands are checked and recorded against it."""
    try:
        return resolve(os.getcwd())
    except OSError as e:
        from .errors import UsageError

        raise UsageError(f"the current directory is not accessible: {e.strerror or e}") from None


def expand_user(text: str) -> str | None:
    """``text`` with a leading ``~`` or ``~user`` expanded (Path.expanduser, as a str); None
    when it cannot be (no such user, or no home directory), where pathlib raises."""
    if not text.startswith("~"):
        return text
    head, _, rest = text.partition("/")
    home = os.path.expanduser(head)
    if home.startswith("~"):
        return None
    rest = rest.lstrip("/")
    return os.path.join(home, rest) if rest else home


def _absolute_env(name: str) -> str | None:
    """A path variable's value (``~`` expanded), None when unset or empty. A relative one is a
    ConfigError (78): read from each command's working directory, it would name another file
    (another policy, another ledger) in each directory an agent works in."""
    raw = os.environ.get(name)
    if not raw:
        return None
    expanded = expand_user(raw)
    if expanded is None:  # ~user with no such user, or no home directory to expand ~ to
        from .errors import ConfigError

        raise ConfigError(f"{name}={raw!r}: cannot expand ~ (no such user, or no home directory)",
                          f"set {name} to an absolute path without ~")
    path = pure(expanded)
    if not path.startswith("/"):
        from .errors import ConfigError

        raise ConfigError(f"{name} must be an absolute path, not {raw!r}",
                          f"e.g. export {name}={pure(os.path.join(os.getcwd(), path))}")
    return path


def state_dir() -> str:
    """The directory holding the ledger, its lock, the audit log and trust records."""
    home = _absolute_env("AGENTGATE_HOME")
    if home is not None:
        return home
    fast = _linux_user_dir("XDG_STATE_HOME", "~/.local/state")
    if fast is not None:
        return pure(fast)
    import platformdirs

    return pure(platformdirs.user_state_dir(APP, appauthor=False))


def user_policy_path() -> str:
    """The user policy: ``$AGENTGATE_CONFIG_DIR/policy.toml`` if set, else platformdirs' config dir."""
    home = _absolute_env("AGENTGATE_CONFIG_DIR")
    if home is not None:
        return os.path.join(home, "policy.toml")
    fast = _linux_user_dir("XDG_CONFIG_HOME", "~/.config")
    if fast is not None:
        return os.path.join(pure(fast), "policy.toml")
    import platformdirs

    return os.path.join(pure(platformdirs.user_config_dir(APP, appauthor=False)), "policy.toml")


class StatePaths(Record):
    """The state directory and its files, as str (a Path given is taken as its str)."""

    root: str

    def __init__(self, root: StrPath) -> None:
        super().__init__(pure(root))

    @property
    def ledger(self) -> str:
        return os.path.join(self.root, "ledger.json")

    @property
    def archive(self) -> str:
        """Finished requests that left ledger.json (JSONL, append-only, pruned by retention)."""
        return os.path.join(self.root, "ledger-done.jsonl")

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "ledger.lock")

    @property
    def audit(self) -> str:
        return os.path.join(self.root, "audit.jsonl")

    @property
    def trust(self) -> str:
        return os.path.join(self.root, "trusted.json")

    @classmethod
    def default(cls) -> StatePaths:
        return cls(state_dir())


# --------------------------------------------------------------------------- the other variables

GATED_ENV = "AGENTGATE_GATED"  # set to 1 in the environment of every command agentgate runs

# Path variables the gate itself reads (its own, the XDG base directories, the agents'), and
# what an unset one means to the programs that read it.
_PATH_VARS = {"AGENTGATE_HOME": "", "AGENTGATE_CONFIG_DIR": "", "AGENTGATE_POLICY": "",
              "XDG_CONFIG_HOME": "~/.config", "XDG_STATE_HOME": "~/.local/state",
              "XDG_DATA_HOME": "~/.local/share", "XDG_CACHE_HOME": "~/.cache",
              "CODEX_HOME": "~/.codex", "CLAUDE_CONFIG_DIR": "~/.claude",
              "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "", "GEMINI_CLI_TRUSTED_FOLDERS_PATH": ""}


def path_vars(home: str | None) -> dict[str, str]:
    """The absolute values the path variables the gate knows have here (``home`` for ``~`` in
    a default): what ``$NAME`` in a command's path word stands for. Unset ones without a
    default, and relative values, are left out (their value is not known)."""
    out: dict[str, str] = {}
    for name, default in _PATH_VARS.items():
        raw = os.environ.get(name) or default
        if raw.startswith("~/") and home:
            raw = home + raw[1:]
        if raw.startswith("/"):
            out[name] = raw
    return out


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
