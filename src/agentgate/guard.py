"""Built-in guards that no policy can switch off: an agent must not approve, deny or trust on
its own behalf, and must not change the files that gate it (policies, state, the installed
package, the agent's hook settings). They read the gate's one shell analysis of the command
(every simple command with its own working directory and typed run-time words, the redirections,
the code strings) and the command's text; the gate turns their findings into decisions (rules
``agentgate-self-approval`` and ``agentgate-protected-files``). No shell text is parsed here.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable, Sequence

from .grammar import HUMAN_ONLY, is_human_only
from .integrations.agents import FOLDERS, SETTINGS_FILES, user_settings_files
from .lean import lazy_regex, suppress
from .paths import env_policy, path_vars, pure, state_dir, user_policy_path
from .repofiles import REPO_POLICY_NAME as REPO_POLICY_NAME

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    import re

    from .fileio import StrPath
    from .shell import Analysis

SELF_APPROVAL_RULE = "agentgate-self-approval"
PROTECTED_RULE = "agentgate-protected-files"

# --------------------------------------------------------------------------- self-approval

# compiled at first use (1 ms at import, on every run): most commands never get that far
_APPROVAL_ID = lazy_regex(r"\bapr_[a-z0-9]{4,}\b")
# agentgate's human-only commands (grammar.HUMAN_ONLY): one-word verbs, and the two-word ones
_ONE_WORD = tuple(c[0] for c in HUMAN_ONLY if len(c) == 1)
_TWO_WORD = tuple(c for c in HUMAN_ONLY if len(c) == 2)
_VERB = lazy_regex(r"\b(" + "|".join(_ONE_WORD) + r")\b")
_TRUST = lazy_regex("|".join(rf"\b{a}\b\W{{1,8}}{b}\b" for a, b in _TWO_WORD))


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
        if (w, words[i + 1]) in _TWO_WORD:
            return True
    if any(w in _ONE_WORD for w in words[1:]) and any(_APPROVAL_ID().fullmatch(w) for w in words):
        return True
    ag = _launches_agentgate(words)
    return ag is not None and is_human_only(ag[1:])


def mentions_self_approval(text: str) -> bool:
    """Code or text (``python -c``, a hook's command string) that approves, denies or trusts."""
    if "trust" in text and _TRUST().search(text):
        return True
    return "apr_" in text and _VERB().search(text) is not None and _APPROVAL_ID().search(text) is not None


def approves_itself(analysis: Analysis, text: str) -> bool:
    """Does the command approve, deny or trust: a simple command of it (by name or by its
    words), or anywhere in its text, its words, code strings and here-documents (text that may
    run later, or that another program runs)?"""
    if any(is_self_approval(c.argv) for c in analysis.commands):
        return True
    texts: list[str] = [text]
    texts.extend(" ".join(c.argv) for c in analysis.commands)
    texts.extend(op.text for op in analysis.opaque)
    texts.extend(r.target for r in analysis.redirects if r.op.startswith("<<"))
    return any(mentions_self_approval(t) for t in texts)


# --------------------------------------------------------------------------- protected files

AGENT_SETTINGS = SETTINGS_FILES  # every agent's hook settings, relative to its folder
AGENT_DIRS = FOLDERS
_SETTINGS_SUFFIXES = tuple("/" + s for s in AGENT_SETTINGS)


def protected_locations(policy_files: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(files, directories) an agent must not change on its own: the policies that gate it,
    agentgate's config and state directories, the installed package (it holds the embedded
    default policy) and the agent settings that hold the hooks."""
    files = [pure(p) for p in policy_files if p and not p.startswith("<")]
    user_policy = user_policy_path()
    files.append(user_policy)
    policy = env_policy()  # absolute, ~ expanded
    if policy:
        files.append(policy)
    files += user_settings_files()  # CLAUDE_CONFIG_DIR and CODEX_HOME included
    dirs = [os.path.dirname(user_policy), state_dir(), _package_dir()]
    return files, dirs


@functools.cache
def _package_dir() -> str:
    """The installed agentgate package (it holds the embedded default policy)."""
    return os.path.dirname(os.path.realpath(__file__))


def _forms(path: StrPath) -> set[str]:
    """The path as written (normalised, absolute) and with symlinks resolved."""
    forms = {os.path.normpath(os.path.abspath(path))}
    with suppress(OSError, ValueError):
        forms.add(os.path.realpath(path))
    return forms


def _protected_forms(policy_files: Sequence[str]) -> tuple[set[str], set[str]]:
    """(files, directories) of :func:`protected_locations`, as written and resolved."""
    files, dirs = protected_locations(policy_files)
    return set().union(*(_forms(p) for p in files)), set().union(*(_forms(d) for d in dirs))


def is_protected(target: StrPath, policy_files: Sequence[str] = (),
                 forms: tuple[set[str], set[str]] | None = None) -> bool:
    """Would changing ``target`` change agentgate's policy, state, code or the agent's hooks?"""
    target_forms = _forms(target)
    for f in target_forms:
        if os.path.basename(f) == REPO_POLICY_NAME or f.endswith(_SETTINGS_SUFFIXES):
            return True
    file_forms, dir_forms = forms or _protected_forms(policy_files)
    return any(f in file_forms or f in dir_forms or any(f.startswith(d.rstrip("/") + "/") for d in dir_forms)
               for f in target_forms)


# Where words hold other words: code, option values (--config=PATH), lists (a,b), strings.
_TOKEN_SPLIT = lazy_regex(r"""[\s;&|()<>'"`=,]+""")
_RUNTIME = lazy_regex(r"\$|`|\{\}")  # a run-time value in a word the analysis marked dynamic
_HOME_PREFIXES = ("~", "$HOME", "${HOME}")
_DIR_STACK = lazy_regex(r"~(?:[+-]\d*|\d+)(?=/|$)")  # ~+ $PWD, ~- $OLDPWD, ~N ~+N ~-N dirs
_VAR_PREFIX = lazy_regex(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_PATH_MAX = 4096


def _tokens(word: str) -> Iterable[str]:
    """The word, and the words inside it when it holds some (a string, code, ``--opt=PATH``)."""
    yield word
    if _TOKEN_SPLIT().search(word):
        for t in _TOKEN_SPLIT().split(word):
            if t and t != word:
                yield t


def _shell_glob(pattern: str) -> re.Pattern[str]:
    """A path glob as bash expands it (see policy.glob_regex), where a segment that starts with
    a wildcard does not match a name starting with a dot."""
    import re

    from .policy.patterns import glob_regex  # the policy package only where a word is checked

    return re.compile("/".join((r"(?!\.)" if seg[:1] in ("*", "?", "[") else "") + glob_regex(seg)
                               for seg in pattern.split("/")))


def _with_parents(paths: set[str], home: str) -> set[str]:
    """The paths and their parents below the home directory (``~/.config`` holds the policy:
    removing or moving it removes the policy); never ``/`` or home itself."""
    out = set(paths)
    home = home.rstrip("/")  # "" for a home of "/" (a system user's)
    for p in paths:
        parent = os.path.dirname(p)
        while parent.startswith(home + "/") and len(parent) > len(home) + 1:
            out.add(parent)
            parent = os.path.dirname(parent)
    return out


class _Protected:
    """The protected locations in every spelling a word is compared with, for one check:
    ``hits`` (files, directories and their parents below home, as written and resolved),
    ``dirs`` (a path below one is protected too) and ``names``, their last segments, which a
    path in a directory that is not known may end in."""

    def __init__(self, policy_files: Sequence[str], home: str | None) -> None:
        files, dirs = _protected_forms(policy_files)
        self.forms = (files, dirs)
        self.dirs = dirs
        both = files | dirs
        self.hits = _with_parents(both, home) if home else both
        self.names = {os.path.basename(h) for h in self.hits} | {*AGENT_DIRS, REPO_POLICY_NAME}
        self.home = home
        self.vars = path_vars(home)
        self._real: dict[str, str] = {}
        self._seen: set[tuple[str, str | None, bool]] = set()

    def real(self, path: str) -> str:
        """``path`` (absolute) as the kernel resolves it, links and ``..`` in order: one lstat
        per directory met, remembered for the words after. A path longer than PATH_MAX names
        nothing the kernel would open: it is kept as written."""
        if len(path) > _PATH_MAX:
            return os.path.normpath(path)
        out, prefix = "/", ""
        for name in path.split("/"):
            if not name or name == ".":
                continue
            prefix += "/" + name
            known = self._real.get(prefix)
            if known is None:
                if name == "..":
                    known = os.path.dirname(out)
                else:
                    full = out.rstrip("/") + "/" + name
                    try:
                        link = stat.S_ISLNK(os.lstat(full).st_mode)
                    except (OSError, ValueError):
                        link = False
                    known = os.path.realpath(full) if link else full
                self._real[prefix] = known
            out = known
        return out

    def holds(self, path: str) -> bool:
        return path in self.hits or any(path.startswith(d + "/") for d in self.dirs)

    def word(self, word: str, cwd: str | None, dynamic: bool) -> str | None:
        """The token of ``word`` that names a protected location, or None (each word once)."""
        key = (word, cwd, dynamic)
        if key in self._seen:
            return None
        self._seen.add(key)
        for t in _tokens(word):
            if t[:1] != "-" and self.token(t, cwd, dynamic):
                return t
        return None

    def token(self, t: str, cwd: str | None, dynamic: bool) -> bool:
        """Does the path ``t``, in the directory ``cwd`` (None: unknown), name a protected
        location? ``dynamic``: ``$X``, ``$(..)`` and ``{}`` in it are values known at run time
        (the analysis says so), which may be anything: it is compared by its shape."""
        w = self.known_vars(t, cwd)
        if _DIR_STACK().match(w):  # $OLDPWD or the directory stack: a directory not known
            return self.names_hit(w.partition("/")[2])
        for prefix in _HOME_PREFIXES:  # also in text a later shell may expand
            if w == prefix or w.startswith(prefix + "/"):
                if self.home is None:
                    return self.names_hit(w[len(prefix):])
                w = (self.home.rstrip("/") + w[len(prefix):]) or "/"
                break
        base = os.path.basename(w.rstrip("/"))
        glob = any(c in w for c in "*?[")
        if base in AGENT_DIRS or base == REPO_POLICY_NAME or (
                glob and _shell_glob(base).fullmatch(REPO_POLICY_NAME)):
            return True
        runtime = dynamic and _RUNTIME().search(w) is not None
        absolute = w.startswith("/")
        if (runtime and w[0] in "$`{") or (cwd is None and not absolute):
            return self.names_hit(w)  # in a directory that is not known
        full = w if absolute or cwd is None else f"{cwd}/{w}"
        if runtime:
            return self.shape_hit(full)
        forms = {os.path.normpath(full), self.real(full)}
        for f in forms:
            if f.endswith(_SETTINGS_SUFFIXES):
                return True
            if glob:
                rx = _shell_glob(f)
                if any(rx.fullmatch(h) for h in self.hits) or any(_glob_reaches(f, d) for d in self.dirs):
                    return True
            elif self.holds(f):
                return True
        return False

    def known_vars(self, t: str, cwd: str | None) -> str:
        """``t`` with the path variables the gate knows put in where they start it or a segment
        (``$AGENTGATE_HOME/ledger.json``, ``$XDG_CONFIG_HOME``, ``$PWD/..`` in a known
        directory); ``~user`` is that user's home directory (``/`` for a system user's), ``~+``
        the directory it runs in. Other variables stay: their value may be anything."""
        if t[:1] == "~" and t[1:2] not in ("", "/"):
            user, _sep, rest = t[1:].partition("/")
            if user == "+" and cwd is not None:
                return cwd + ("/" + rest if _sep else "")
            if "$" not in user and "`" not in user and not _DIR_STACK().match(t):
                with suppress(Exception):
                    import pwd

                    home = pwd.getpwnam(user).pw_dir
                    return home.rstrip("/") + "/" + rest if _sep else home
            return t
        if "$" not in t:
            return t

        def value(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            if name == "PWD" and cwd is not None:
                return cwd
            return self.vars.get(name, m.group())

        return _VAR_PREFIX().sub(value, t)

    def shape_hit(self, full: str) -> bool:
        """Could a path with run-time parts be a protected location or lie in one?"""
        from .policy.patterns import unknown_shape

        rx = unknown_shape(full).rx
        if any(rx.fullmatch(h) for h in self.hits):
            return True
        m = _RUNTIME().search(full)
        head = full[:m.start()] if m else full
        folder = os.path.normpath(head[:head.rfind("/") + 1] or "/")
        return folder in self.dirs or any(folder.startswith(d + "/") for d in self.dirs)

    def names_hit(self, w: str) -> bool:
        """A path in an unknown directory: protected when a literal segment of it is the name
        of a protected location (``$D/agentgate``, ``agentgate`` after ``cd "$X"``) or a glob
        that may expand to one (``*``); fail closed, since that directory may be its parent."""
        if ("/" + w).endswith(_SETTINGS_SUFFIXES):
            return True
        for seg in w.split("/"):
            if not seg or seg in (".", "..") or _RUNTIME().search(seg):
                continue
            if any(c in seg for c in "*?["):
                rx = _shell_glob(seg)
                if any(rx.fullmatch(n) for n in self.names):
                    return True
            elif seg in self.names:
                return True
        return False


def _glob_reaches(glob: str, folder: str) -> bool:
    """Could the path glob name something inside ``folder`` (its leading segments match it)?"""
    gs, ds = glob.rstrip("/").split("/"), folder.split("/")
    if len(gs) <= len(ds):
        return False
    return _shell_glob("/".join(gs[:len(ds)])).fullmatch(folder) is not None


def protected_reference(analysis: Analysis, policy_files: Sequence[str] = ()) -> str | None:
    """The first word of a command that names a protected location, in any spelling: ``~``,
    ``$HOME``, ``//``, ``..``, a symlink, relative to the directory that command runs in (after
    ``cd``, ``pushd``, in a subshell, in ``sh -c``), a parent directory of one inside the home
    directory, a glob that bash could expand to one of those, a word with run-time parts whose
    shape could be one, or a name of one in a directory that is not known (``cd "$X" && rm -rf
    agentgate``). Also a command that runs inside a protected directory. Words are the commands'
    arguments and environment, redirection targets, and the words inside strings, code and
    here-documents."""
    p = _Protected(policy_files, analysis.home)
    cwds = {analysis.cwd, *(c.cwd for c in analysis.commands)}
    for where in sorted(c for c in cwds if c is not None):
        if is_protected(where, policy_files, p.forms):
            return f"runs in {where}"
    found: list[tuple[str, str | None, bool]] = [
        (w, c.cwd, i in c.dynamic) for c in analysis.commands for i, w in enumerate(c.argv[1:], 1)]
    found += [(e, c.cwd, True) for c in analysis.commands for e in c.env]
    found += [(r.target, r.cwd, r.dynamic or r.op.startswith("<<")) for r in analysis.redirects]
    found += [(op.text, op.cwd, True) for op in analysis.opaque]
    for word, cwd, dynamic in found:
        hit = p.word(word, cwd, dynamic)
        if hit is not None:
            return hit if hit.startswith(("/", "~", "$")) or cwd is None else f"{hit} in {cwd}"
    return None
