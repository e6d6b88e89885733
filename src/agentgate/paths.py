"""Where agentgate's files live. ``AGENTGATE_HOME`` overrides every state path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = "agentgate"


def state_dir() -> Path:
    """The directory holding the ledger, its lock, the audit log and trust records."""
    home = os.environ.get("AGENTGATE_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def user_policy_path() -> Path:
    """The user policy: ``$AGENTGATE_CONFIG_DIR/policy.toml`` if set, else platformdirs' config dir."""
    home = os.environ.get("AGENTGATE_CONFIG_DIR")
    if home:
        return Path(home).expanduser() / "policy.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "policy.toml"


@dataclass(frozen=True)
class StatePaths:
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
