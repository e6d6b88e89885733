"""Which policies are in force, and loading them: the primary policy (``--policy``,
``AGENTGATE_POLICY``, the user policy, else the embedded default), every repo-local
``.agentgate.toml`` from the repository root down to the working directory (restrictions only
until a human trusts its content), merged strictest-wins.

A content (and code) whose inline examples passed once gets an empty marker in
``<state>/validated/`` named by :func:`~.loader.validation_key`, so they are not re-run on every
command.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import StateError
from ..fileio import (
    check_state_dir,
    make_state_dir,
    open_state_file,
    state_file_exists,
    state_subdir,
)
from ..paths import StatePaths, env_policy, user_policy_path
from ..trust import read_trust
from .loader import (
    EMBEDDED_NAME,
    PolicyFile,
    embedded_policy_text,
    parse_policy_file,
    read_policy_bytes,
    validation_key,
)
from .model import ALLOW, Policy, Settings, Source

REPO_POLICY_NAME = ".agentgate.toml"
VALIDATED = "validated"


def _present(path: Path) -> bool:
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
        if _present(candidate):
            found.append(candidate)
        if (d / ".git").exists() or d.parent == d:
            break
        d = d.parent
    return list(reversed(found))


def locate_primary(explicit: str | None) -> tuple[Path | None, str]:
    """Which policy is in force: (path or None for the embedded default, kind)."""
    if explicit:
        return Path(explicit).expanduser(), "explicit"
    env = env_policy()
    if env:
        return Path(env).expanduser(), "env"
    user = user_policy_path()
    if _present(user):  # a user policy that is a FIFO or a broken link is an error, not absent
        return user, "user"
    return None, "embedded"


def _parse_checked(data: bytes, name: str, kind: str, paths: StatePaths | None) -> PolicyFile:
    """Parse a policy; its inline examples are re-run only for a content (and code) that has not
    passed them before, as recorded by an empty marker file under ``<state>/validated/``. Every
    other check runs on every load, and a policy that fails never gets a marker."""
    if paths is None:
        return parse_policy_file(data, name, kind)
    check_state_dir(paths.root)  # a planted marker would skip the examples
    folder = paths.root / VALIDATED
    marker = folder / validation_key(data)
    if state_subdir(folder, create=False) and state_file_exists(marker, label="policy marker"):
        return parse_policy_file(data, name, kind, check_examples=False)
    pf = parse_policy_file(data, name, kind)
    try:
        make_state_dir(paths.root)
        state_subdir(folder, create=True)
        fd = open_state_file(marker, os.O_WRONLY, label="policy marker", create=True)
        if fd is not None:
            os.close(fd)
    except StateError:
        pass  # only a speed-up (and the ledger reports an unusable state directory)
    return pf


def load_policy(explicit: str | None, cwd: Path, paths: StatePaths, *,
                cached: bool = True) -> Policy:
    """Load the primary policy and every repo-local policy above ``cwd``; fail closed on error.

    ``cached=False`` reads nothing from ``<state>/validated/``: tomllib parses every file and
    every inline example runs, even for contents checked before."""
    path, kind = locate_primary(explicit)
    known = paths if cached else None
    if path is None:
        primary = _parse_checked(embedded_policy_text(), EMBEDDED_NAME, "embedded", known)
    else:
        primary = _parse_checked(read_policy_bytes(path), str(path), kind, known)
    extras = []
    repo_files = repo_policy_files(cwd)
    trusted = read_trust(paths.trust) if repo_files else {}
    for f in repo_files:
        real = str(f.resolve())
        if path is not None and real == str(path.resolve()):
            continue
        pf = _parse_checked(read_policy_bytes(f), str(f), "repo", known)
        ok = trusted.get(real) == pf.source.sha256
        note = "trusted" if ok else (
            "untrusted: only its deny and ask rules apply; its allow rules and settings are "
            f"ignored until a human runs `agentgate policy trust {f}`")
        src = Source(real, pf.source.sha256, "repo", ok, note)
        extras.append(PolicyFile(pf.settings, pf.rules, pf.explicit, src))
    return combine(primary, extras)


def combine(primary: PolicyFile, extras: Sequence[PolicyFile]) -> Policy:
    """Merge the primary policy with repo-local ones, strictest wins.

    An untrusted extra contributes only its deny and ask rules (restrictions are safe to take
    from anyone); its allow rules and its settings are ignored.
    """
    settings = primary.settings
    rules = list(primary.rules)
    sources = [primary.source]
    for pf in extras:
        if pf.source.trusted:
            overrides = {k: getattr(pf.settings, k) for k in pf.explicit}
            settings = settings.merged(Settings(**{**settings.__dict__, **overrides}))
            rules.extend(pf.rules)
        else:
            rules.extend(r for r in pf.rules if r.decision != ALLOW)
        sources.append(pf.source)
    return Policy.build(settings, rules, sources)

