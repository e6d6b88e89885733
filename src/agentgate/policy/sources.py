"""Which policies are in force, and loading them: the primary policy (``--policy``,
``AGENTGATE_POLICY``, the user policy, else the embedded default), every repo-local
``.agentgate.toml`` from the repository root down to the working directory (restrictions only
until a human trusts its content), merged strictest-wins.

A load under a state directory keeps two records in ``<state>/validated/``, both named by
:func:`~.loader.validation_key` (the content's sha256 and the code that checks it): an empty
marker once a content passed its inline examples, so they are not re-run on every command, and
``<key>.json``, what tomllib made of those bytes, so a policy of one's own is not parsed by
tomllib (with typing, 8 ms) on every command. Every check after the TOML parse still runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import StateError
from ..fileio import (
    check_state_dir,
    make_state_dir,
    open_state_file,
    read_state_file,
    replace_atomically,
    state_file_exists,
    state_subdir,
)
from ..jsontext import json_dumps, loads
from ..lean import sha256_hex
from ..paths import StatePaths, env_policy, user_policy_path
from ..repofiles import REPO_POLICY_NAME as REPO_POLICY_NAME
from ..repofiles import present as _present
from ..repofiles import repo_policy_files as repo_policy_files
from .loader import (
    EMBEDDED_NAME,
    PolicyFile,
    embedded_policy_text,
    parse_policy_file,
    policy_path,
    preparsed,
    read_policy_bytes,
    read_toml,
    real_path,
    validation_key,
)
from .model import ALLOW, Policy, Settings, Source

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from ..fileio import StrPath

VALIDATED = "validated"


def locate_primary(explicit: str | None) -> tuple[str | None, str]:
    """Which policy is in force: (path or None for the embedded default, kind)."""
    if explicit:
        return policy_path(explicit), "explicit"
    env = env_policy()
    if env:
        return policy_path(env), "env"
    user = user_policy_path()
    if _present(user):  # a user policy that is a FIFO or a broken link is an error, not absent
        return user, "user"
    return None, "embedded"


def _cached_toml(path: str, digest: str) -> dict[str, Any] | None:
    """The parsed TOML recorded at ``path`` for the content of sha256 ``digest``, if it is
    there and whole. A link, a file of someone else's or one others can write is a StateError
    (78), like any state file; a record that does not parse or is for other bytes is passed by
    (tomllib reads the policy, and the record is written again)."""
    data = read_state_file(path, label="parsed policy")
    if data is None:
        return None
    try:
        doc = loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("sha256") != digest or not isinstance(doc.get("toml"), dict):
        return None
    toml: dict[str, Any] = doc["toml"]
    return toml


def _record(folder: str, key: str, marker: bool, toml: dict[str, Any] | None, digest: str) -> None:
    """Best effort: the marker of a content that passed, and its parsed TOML (0600, atomically).
    Only a speed-up: a state directory that cannot take them is reported by the ledger."""
    try:
        make_state_dir(os.path.dirname(folder))
        state_subdir(folder, create=True)
        if marker:
            fd = open_state_file(os.path.join(folder, key), os.O_WRONLY, label="policy marker",
                                 create=True)
            if fd is not None:
                os.close(fd)
        if toml is not None:
            try:  # strict JSON: NaN or a date has no exact JSON form, and is not cached
                text = json_dumps({"sha256": digest, "toml": toml}, allow_nan=False)
            except (TypeError, ValueError):
                return
            replace_atomically(os.path.join(folder, f"{key}.json"), text.encode(), durable=False)
    except (StateError, OSError):
        pass


def _parse_checked(data: bytes, name: str, kind: str, paths: StatePaths | None) -> PolicyFile:
    """Parse a policy; its inline examples are re-run only for a content (and code) that has not
    passed them before, and tomllib reads it only when no parsed copy is recorded (or shipped,
    for the starter policy). Every other check runs on every load, and a policy that fails is
    never recorded."""
    if paths is None:
        return parse_policy_file(data, name, kind)
    check_state_dir(paths.root)  # a planted marker would skip the examples, a planted record more
    folder = os.path.join(paths.root, VALIDATED)
    key = validation_key(data)
    digest = sha256_hex(data)
    known = state_subdir(folder, create=False)
    passed = known and state_file_exists(os.path.join(folder, key), label="policy marker")
    toml = preparsed(digest)
    fresh = False
    if toml is None and known:
        toml = _cached_toml(os.path.join(folder, f"{key}.json"), digest)
    if toml is None:
        toml, fresh = read_toml(data, name), True
    pf = parse_policy_file(data, name, kind, check_examples=not passed, toml=toml)
    if not passed or fresh:
        _record(folder, key, not passed, toml if fresh else None, digest)
    return pf


def load_policy(explicit: str | None, cwd: StrPath, paths: StatePaths, *,
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
    trusted: dict[str, str] = {}
    if repo_files:
        from ..trust import read_trust  # not on the run path of a directory without one

        trusted = read_trust(paths.trust)
    for f in repo_files:
        real = real_path(f)
        if path is not None and real == real_path(path):
            continue
        pf = _parse_checked(read_policy_bytes(f), str(f), "repo", known)
        ok = trusted.get(real) == pf.source.sha256
        note = "trusted" if ok else (
            "untrusted: only its deny and ask rules apply; its allow rules and settings are "
            f"ignored until a human runs `agentgate policy trust {f}`")
        src = Source(real, pf.source.sha256, "repo", ok, note, pf.source.exemptions)
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



def load_service_policy(primary: StrPath, repo: Sequence[tuple[str, bytes]],
                        paths: StatePaths, standing: Source | None = None) -> Policy:
    """Protected mode, in the service: the machine's policy file, and the repo-local policies a
    client sent (their paths and bytes). No repo file is trusted there: each adds only its deny
    and ask rules, so what a client sends can never relax anything. ``standing``: the service's
    own standing exceptions (agentgate.service.exceptions), a source with no rules."""
    pf = _parse_checked(read_policy_bytes(primary), str(primary), "system", paths)
    extras = []
    for name, data in repo:
        # A client's bytes: nothing recorded, and its examples are not run (they are the
        # author's check; here they would only be work any client could hand the service).
        rf = parse_policy_file(data, name, "repo", check_examples=False)
        src = Source(name, rf.source.sha256, "repo", False,
                     "protected mode: only its deny and ask rules apply; allow rules belong in "
                     f"{primary}")
        extras.append(PolicyFile(rf.settings, rf.rules, rf.explicit, src))
    policy = combine(pf, extras)
    if standing is None:
        return policy
    return Policy.build(policy.settings, policy.rules, (*policy.sources, standing))
