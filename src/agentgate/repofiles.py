"""Repo-local policy files (``.agentgate.toml``): where they are, from the repository root (or
``/``) down to a working directory. Light, for the protected-mode client, which sends them to the
service; agentgate.policy.sources loads them in personal mode.
"""

from __future__ import annotations

import os

from .paths import pure

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from .fileio import StrPath

REPO_POLICY_NAME = ".agentgate.toml"


def present(path: StrPath) -> bool:
    """Is anything at ``path``, a dangling symlink or a FIFO included? What cannot be looked at
    counts as present, so that loading it reports the problem instead of skipping the file."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def repo_policy_files(cwd: StrPath) -> list[str]:
    """``.agentgate.toml`` entries from the repository root (or /) down to ``cwd``: any kind of
    file, so that one which is not a readable regular file fails the load instead of vanishing.
    Paths as str (no pathlib on the run path), spelled as pathlib would."""
    found: list[str] = []
    d = pure(cwd)
    while True:
        candidate = os.path.join(d, REPO_POLICY_NAME)
        if present(candidate):
            found.append(candidate)
        parent = os.path.dirname(d) or "."
        if os.path.exists(os.path.join(d, ".git")) or parent == d:  # never raises: a file above reports
            break
        d = parent
    return list(reversed(found))
