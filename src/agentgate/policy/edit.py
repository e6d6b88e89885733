"""Writing standing exceptions into a policy file and cutting them out again (`approve
--remember`, `policy forget`): read and validate the file first (one that does not load is
never written), validate the new text, check that the file did not change meanwhile, then
replace it atomically. The format and the matching are agentgate.policy.exemptions'.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import NotFound, PolicyError
from .exemptions import Exemption, appended, without

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from .model import Policy, Source

ORDER = ("deny > ask > allow across every file; then a standing exception may turn the final ask "
         "of its own rule into allow for exactly its command and directory (never a deny, never "
         "the built-in checks)")


def report(pol: Policy, data_of: Callable[[Source], bytes]) -> dict[str, Any]:
    """`policy show`: each file in force (kind, trust status, note), its rules and whether each
    applies (an untrusted file's allow rules do not), its exceptions likewise, the merged
    settings. ``data_of`` gives a file's bytes (the service has the client's repo files); it
    is not asked for the protected service's exceptions file (kind "service": no rules)."""
    from .loader import parse_policy_file

    files = []
    for s in pol.sources:
        rules = []
        if s.kind != "service":
            pf = parse_policy_file(data_of(s), s.path, s.kind, check_examples=False)
            rules = [{"id": r.id, "decision": r.decision, "reason": r.reason,
                      "applies": s.trusted or r.decision != "allow"} for r in pf.rules]
        files.append({**s.to_dict(), "rules": rules,
                      "exceptions": [{**e.to_dict(), "applies": s.trusted} for e in s.exemptions]})
    from ..notify import shown_url

    settings = {**pol.settings.__dict__,
                "notify_urls": [shown_url(u) for u in pol.settings.notify_urls]}  # no tokens
    return {"sources": files, "settings": settings,
            "exceptions": [e.to_dict() for e in pol.exemptions], "order": ORDER}


def policy_target() -> tuple[str, str]:
    """Where `approve --remember` writes and `policy forget` reads: the primary policy file
    ($AGENTGATE_POLICY, else the user policy), and its kind; the user policy path with kind
    "embedded" when none exists yet (it is then created from the starter policy, so the rules
    in force stay the same)."""
    from ..paths import user_policy_path
    from .sources import locate_primary

    path, kind = locate_primary(None)
    return (path, kind) if path is not None else (user_policy_path(), "embedded")


def _load(path: str, kind: str) -> tuple[str, str, tuple[Exemption, ...]]:
    """(file to write, its text, its exceptions): the file must read and validate, or nothing
    is written (PolicyError)."""
    import os

    from .loader import embedded_policy_text, parse_policy_file, read_policy_bytes

    if kind == "embedded":
        data = embedded_policy_text()
    else:
        data = read_policy_bytes(path)
        path = os.path.realpath(path)  # a link (a dotfiles checkout) is kept: write its target
    pf = parse_policy_file(data, path, kind if kind != "embedded" else "user")
    return path, data.decode("utf-8"), pf.source.exemptions


def _write(path: str, kind: str, before: str, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (temp file, fsync, rename), once the new text
    validates and the file still holds ``before`` (else nothing is written)."""
    import os

    from ..fileio import replace_atomically
    from .loader import parse_policy_file, read_policy_bytes

    parse_policy_file(text.encode("utf-8"), path, kind if kind != "embedded" else "user")
    if kind == "embedded":
        if os.path.lexists(path):
            raise PolicyError("a user policy appeared while this ran; nothing was written",
                              "run the command again", path=path)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        mode = 0o600
    else:
        if read_policy_bytes(path).decode("utf-8", "replace") != before:
            raise PolicyError("the policy changed while this ran; nothing was written",
                              "run the command again", path=path)
        mode = os.stat(path).st_mode & 0o7777
    try:
        replace_atomically(path, text.encode("utf-8"), mode, prefix=".agentgate-policy-")
    except OSError as e:
        raise PolicyError(f"cannot write the policy: {e.strerror or e}; it is unchanged",
                          path=path) from None


def add(exemption: Exemption) -> str:
    """Append ``exemption`` to the primary policy file; returns the file written."""
    path, kind = policy_target()
    path, text, existing = _load(path, kind)
    same = [e for e in existing if e.matches(exemption.kind, exemption.command, exemption.cwd,
                                             exemption.rule, exemption.user)]
    if same:
        raise PolicyError(f"a standing exception for this command is already there ({same[0].id})",
                          path=path)
    new = appended(text, exemption)
    _write(path, kind, text, new)
    return path


def remove(exemption_id: str) -> tuple[str, Exemption]:
    """Cut ``exemption_id``'s table out of the primary policy file, checking that the result
    holds the same policy without it (else nothing is written)."""
    import tomllib

    path, kind = policy_target()
    if kind == "embedded":
        raise PolicyError(f"no standing exception {exemption_id!r}: there is no policy file",
                          "see `agentgate policy show`", path=path)
    path, text, existing = _load(path, kind)
    gone = [e for e in existing if e.id == exemption_id]
    if not gone:
        raise NotFound(f"{path}: no standing exception {exemption_id!r} in this file",
                       "see `agentgate policy show` for the ids")
    new = without(text, exemption_id)
    want = tomllib.loads(text)
    want["exception"] = [t for t in want.get("exception", []) if t.get("id") != exemption_id]
    if not want["exception"]:
        del want["exception"]
    if new is None or tomllib.loads(new) != want:
        raise PolicyError(f"cannot cut {exemption_id} out of the file safely; nothing was written",
                          "remove its [[exception]] table by hand", path=path)
    _write(path, kind, text, new)
    return path, gone[0]
