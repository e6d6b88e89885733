"""Repo-local policy files (``.agentgate.toml``): where they are, from the repository root (or
``/``) down to a working directory. Light, for the protected-mode client, which sends them to the
service; agentgate.policy.sources loads them in personal mode.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_POLICY_NAME = ".agentgate.toml"


def present(path: Path) -> bool:
    """Is anything at ``path``, a dangling symlink or a FIFO included? What cannot be looked at
    counts as present, so that loading it reports the problem instead of skipping the file."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def repo_policy_files(cwd: Path) -> list[Path]:
    """``.agentgate.toml`` entries from the repository root (or /) down to ``cwd``: any kind of
    file, so that one which is not a readable regular file fails the load instead of vanishing."""
    found: list[Path] = []
    d = cwd
    while True:
        candidate = d / REPO_POLICY_NAME
        if present(candidate):
            found.append(candidate)
        if os.path.exists(d / ".git") or d.parent == d:  # never raises: a file above reports
            break
        d = d.parent
    return list(reversed(found))
