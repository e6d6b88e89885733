"""Trust records for repo-local policies: path -> sha256 of the content a human trusted.

A repo-local ``.agentgate.toml`` can come from anyone who can push to the repository, so until a
human runs ``agentgate policy trust`` only its restrictions (deny and ask rules) apply. Any change
to the file changes its hash and so untrusts it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .errors import StateError
from .fileio import check_state_dir, read_state_file, remove_stale_temps, staged_replace
from .lean import sha256_hex

TRUST_VERSION = 1


def file_sha256(path: Path) -> str:
    return sha256_hex(path.read_bytes())


def read_trust(path: Path) -> dict[str, str]:
    """The records in the state directory ``path.parent`` (checked first: whoever could write
    there could trust a repo policy's allow rules)."""
    check_state_dir(path.parent)
    data = read_state_file(path, label="trust records")
    if data is None:
        return {}
    try:
        doc = json.loads(data)
        files = doc["files"]
        if doc.get("version") != TRUST_VERSION or not isinstance(files, dict):
            raise ValueError("unexpected structure")
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError) as e:
        raise StateError(f"trust records {path} are corrupt ({e})",
                         f"move the file aside (mv {path} {path}.bad) and trust the repo "
                         "policies again; the file was left untouched") from None


def write_trust(path: Path, files: dict[str, str],
                record: Callable[[], object] | None = None) -> None:
    """Atomic write (caller holds the ledger lock). ``record`` (the audit append) runs once the
    new content is on disk and before it replaces the old, so a failure leaves neither."""
    data = json.dumps({"version": TRUST_VERSION, "files": files}, indent=1).encode()
    try:
        remove_stale_temps(path.parent, ".trusted-")
        with staged_replace(path, data, prefix=".trusted-", fault_point="trust"):
            if record is not None:
                record()
    except OSError as e:
        raise StateError(f"cannot write trust records {path}: {e.strerror or e}",
                         "free disk space or fix permissions of the state directory; "
                         "the previous records are intact") from None
