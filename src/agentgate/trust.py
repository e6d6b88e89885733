"""Trust records for repo-local policies: path -> sha256 of the content a human trusted.

A repo-local ``.agentgate.toml`` can come from anyone who can push to the repository, so until a
human runs ``agentgate policy trust`` only its restrictions (deny and ask rules) apply. Any change
to the file changes its hash and so untrusts it again.
"""

from __future__ import annotations

import os

from .audit import MARK_KEY
from .errors import StateError
from .fileio import Staged, check_state_dir, read_state_file, staged_state_file
from .jsontext import json_dumps, loads
from .lean import contextmanager, sha256_hex

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .fileio import StrPath

TRUST_VERSION = 1


def file_sha256(path: StrPath) -> str:
    with open(path, "rb") as f:
        return sha256_hex(f.read())


def read_trust(path: StrPath) -> dict[str, str]:
    """The records in the state directory holding ``path`` (checked first: whoever could write
    there could trust a repo policy's allow rules)."""
    check_state_dir(os.path.dirname(path) or ".")
    data = read_state_file(path, label="trust records")
    if data is None:
        return {}
    try:
        doc = loads(data)
        files = doc["files"]
        if doc.get("version") != TRUST_VERSION or not isinstance(files, dict):
            raise ValueError("unexpected structure")
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError) as e:
        raise StateError(f"trust records {path} are corrupt ({e})",
                         f"move the file aside (mv {path} {path}.bad) and trust the repo "
                         "policies again; the file was left untouched") from None


@contextmanager
def staging(path: StrPath, files: dict[str, str], mark: dict[str, Any] | None) -> Iterator[Staged]:
    """The new trust records (caller holds the ledger lock), in a complete, fsynced temp file
    that records ``mark``, the last line of the audit append that goes with them (see
    audit.MARK_KEY). The body writes those lines and calls ``Staged.replace``, the commit
    point; otherwise the records are replaced when the body returns. OSError is a StateError
    saying whether the new records are in place."""
    data = json_dumps({"version": TRUST_VERSION, "files": files, MARK_KEY: mark},
                      indent=1).encode()
    with staged_state_file(path, data, label="trust records", prefix=".trusted-",
                           fault_point="trust", kept="the previous records are intact") as staged:
        yield staged
