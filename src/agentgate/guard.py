"""Built-in guards that no policy can switch off: an agent must not approve, deny or trust on
its own behalf, and must not change the files that gate it (policies, state, the installed
package, the agent's hook settings). Pure functions over command text and paths; the gate turns
their findings into decisions (rules ``agentgate-self-approval`` and ``agentgate-protected-files``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .paths import state_dir, user_policy_path
from .policy import glob_regex

REPO_POLICY_NAME = ".agentgate.toml"
SELF_APPROVAL_RULE = "agentgate-self-approval"
PROTECTED_RULE = "agentgate-protected-files"

# --------------------------------------------------------------------------- self-approval

_APPROVAL_ID = re.compile(r"\bapr_[a-z0-9]{4,}\b")
_VERB = re.compile(r"\b(approve|deny)\b")
_TRUST = re.compile(r"\bpolicy\b\W{1,8}trust\b")


def _launches_agentgate(words: Sequence[str]) -> list[str] | None:
    """The agentgate argv if ``words`` starts agentgate (by name, script path or -m), else None."""
    prog = words[0]
    if prog.startswith("agentgate"):
        return list(words)
    if prog.startswith(("python", "pypy")):
        for i, w in enumerate(words[1:], 1):
            if w == "-m" and i + 1 < len(words) and words[i + 1].startswith("agentgate"):
                return list(words[i + 1:])
            if w.startswith("-magentgate"):
                return list(words[i:])
            if not w.startswith("-"):  # a script: python path/to/bin/agentgate ...
                return list(words[i:]) if os.path.basename(w).startswith("agentgate") else None
    return None


def is_self_approval(argv: Sequence[str]) -> bool:
    """Does this simple command approve, deny or trust? Checked on every part of a command.

    By name (``agentgate``, ``python -m agentgate[.__main__]``, ``python .../bin/agentgate``), and,
    for launchers the name does not show (a symlink, a copy), by the words themselves: ``approve``
    or ``deny`` together with an approval id, or ``policy trust``."""
    if not argv:
        return False
    words = [w for w in argv if w]
    if not words:
        return False
    for i, w in enumerate(words[:-1]):
        if w == "policy" and words[i + 1] == "trust":
            return True
    if any(w in ("approve", "deny") for w in words[1:]) and any(_APPROVAL_ID.fullmatch(w) for w in words):
        return True
    ag = _launches_agentgate(words)
    if ag is None:
        return False
    rest = [w for w in ag[1:] if not w.startswith("-")]
    if "--policy" in ag:  # skip the value of --policy PATH
        i = ag.index("--policy")
        if i + 1 < len(ag) and ag[i + 1] in rest:
            rest.remove(ag[i + 1])
    return bool(rest) and rest[0] in ("approve", "deny")


def mentions_self_approval(text: str) -> bool:
    """Code or text (``python -c``, a hook's command string) that approves, denies or trusts."""
    return bool(_TRUST.search(text) or (_VERB.search(text) and _APPROVAL_ID.search(text)))


# --------------------------------------------------------------------------- protected files

AGENT_SETTINGS = (".claude/settings.json", ".claude/settings.local.json", ".cursor/hooks.json",
                  ".gemini/settings.json", ".codex/hooks.json", ".codex/config.toml")
AGENT_DIRS = (".claude", ".cursor", ".gemini", ".codex")


def protected_locations(policy_files: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """(files, directories) an agent must not change on its own: the policies that gate it,
    agentgate's config and state directories, the installed package (it holds the embedded
    default policy) and the agent settings that hold the hooks."""
    files = [Path(p) for p in policy_files if p and not p.startswith("<")]
    files.append(user_policy_path())
    env_policy = os.environ.get("AGENTGATE_POLICY")
    if env_policy:
        files.append(Path(env_policy).expanduser())
    claude_home = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    files += [claude_home / "settings.json", claude_home / "settings.local.json"]
    dirs = [user_policy_path().parent, state_dir(), Path(__file__).resolve().parent]
    return files, dirs


def _forms(path: Path) -> set[Path]:
    """The path as written (normalised) and with symlinks resolved."""
    forms = {Path(os.path.normpath(os.path.abspath(path)))}
    with contextlib.suppress(OSError, RuntimeError):
        forms.add(path.resolve())
    return forms


def _protected_forms(policy_files: Sequence[str]) -> tuple[set[Path], set[Path]]:
    """(files, directories) of :func:`protected_locations`, as written and resolved."""
    files, dirs = protected_locations(policy_files)
    return set().union(*(_forms(p) for p in files)), set().union(*(_forms(d) for d in dirs))


def is_protected(target: Path, policy_files: Sequence[str] = (),
                 forms: tuple[set[Path], set[Path]] | None = None) -> bool:
    """Would changing ``target`` change agentgate's policy, state, code or the agent's hooks?"""
    target_forms = _forms(target)
    for f in target_forms:
        text = f.as_posix()
        if f.name == REPO_POLICY_NAME or text.endswith(tuple("/" + s for s in AGENT_SETTINGS)):
            return True
    file_forms, dir_forms = forms or _protected_forms(policy_files)
    return any(f in file_forms or any(f.is_relative_to(d) for d in dir_forms) for f in target_forms)


_TOKEN_SPLIT = re.compile(r"""[\s;&|()<>'"`=,]+""")


def _path_tokens(text: str) -> set[str]:
    return {t for t in _TOKEN_SPLIT.split(text) if t}


def _shell_glob(pattern: str) -> re.Pattern[str]:
    """A path glob as bash expands it (see policy.glob_regex), where a segment that starts with
    a wildcard does not match a name starting with a dot."""
    return re.compile("/".join((r"(?!\.)" if seg[:1] in ("*", "?", "[") else "") + glob_regex(seg)
                               for seg in pattern.split("/")))


def _with_parents(paths: set[str], home: str) -> set[str]:
    """The paths and their parents below the home directory (``~/.config`` holds the policy:
    removing or moving it removes the policy); never ``/`` or home itself."""
    out = set(paths)
    for p in paths:
        parent = os.path.dirname(p)
        while parent.startswith(home + "/") and len(parent) > len(home) + 1:
            out.add(parent)
            parent = os.path.dirname(parent)
    return out


def protected_reference(text: str, words: Sequence[str], cwd: Path,
                        policy_files: Sequence[str] = ()) -> str | None:
    """The first word of a command that names a protected location, in any spelling: ``~``,
    ``$HOME``, ``//``, ``..``, relative to ``cwd``, a parent directory of one inside the home
    directory, or a glob that bash could expand to one of those."""
    forms = _protected_forms(policy_files)
    if is_protected(cwd, policy_files, forms):
        return str(cwd)
    home = os.path.expanduser("~").rstrip("/")
    file_forms = {str(f) for f in forms[0]}
    dir_forms = {str(f) for f in forms[1]}
    hits = _with_parents(file_forms | dir_forms, home) if home else file_forms | dir_forms
    for word in sorted(set(words) | _path_tokens(text)):
        w = word
        for prefix in ("~", "$HOME", "${HOME}"):
            if w == prefix or w.startswith(prefix + "/"):
                w = home + w[len(prefix):]
                break
        glob = any(c in w for c in "*?[")
        base = os.path.basename(w.rstrip("/"))
        if base in AGENT_DIRS or base == REPO_POLICY_NAME or (
                glob and _shell_glob(base).fullmatch(REPO_POLICY_NAME)):
            return word
        if "/" not in w:  # a bare name: only the basename checks above apply
            continue
        full = os.path.normpath(os.path.join(str(cwd), w))
        if full.endswith(tuple("/" + s for s in AGENT_SETTINGS)):
            return word
        if glob:
            rx = _shell_glob(full)
            if any(rx.fullmatch(t) for t in hits):
                return word
        elif full in hits or any(full.startswith(d + "/") for d in dir_forms):
            return word
    return None
