"""Standing exceptions (``approve --remember``): a human's "yes, and don't ask again" for one
exact command in one directory, kept in the policy file as ``[[exception]]`` tables.

Where they sit in "strictest wins": after the policy and the built-in guards have decided. An
exception turns the final ``ask`` of the rule it names into ``allow`` for exactly its command
(the argv, or the script text) in exactly its directory; it never relaxes a ``deny``, a
command that asks by another rule, the guards' own asks (agentgate's files, an agent's hook
settings), or anything in another directory. Only a file whose allow rules count (the user
policy, ``$AGENTGATE_POLICY``, a trusted repo policy) contributes exceptions.

Written with tomli-w and appended to the file's text (its comments stay); removed by cutting
exactly its table out again, and every write is checked by parsing the result first.
"""

from __future__ import annotations

from ..errors import PolicyError
from ..lean import Record

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

    from ..ledger import Request

KEYS = {"id", "kind", "command", "cwd", "rule", "user", "approved_by", "approved_at", "request"}
KINDS = ("argv", "script")


class Exemption(Record):
    id: str
    kind: str  # "argv" | "script"
    command: tuple[str, ...]
    cwd: str
    rule: str  # the ask rule it relaxes
    approved_by: str = ""
    approved_at: str = ""
    request: str = ""  # the approval id it was remembered from
    user: str = ""  # the user whose request it was remembered from; "" (hand-written): anyone's

    def matches(self, kind: str, argv: tuple[str, ...], cwd: str, rule: str | None,
                user: str) -> bool:
        """Exactly this command in this directory held by this rule, for ``user``'s agents (an
        exception remembered from a user's request is that user's: in protected mode the
        service's exceptions file serves every user, and another user's agent never gets it)."""
        return (kind, argv, cwd, rule) == (self.kind, self.command, self.cwd, self.rule) \
            and (not self.user or self.user == user)

    def reason(self) -> str:
        by = f" by {self.approved_by}" if self.approved_by else ""
        mine = f" of {self.user}'s" if self.user else ""
        on = f" on {self.approved_at[:10]}" if self.approved_at else ""
        return (f"a standing exception ({self.id}, approved{by}{on} with `approve --remember`) "
                f"for this exact command in this directory{mine}; rule {self.rule} would ask")

    def to_toml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "command": list(self.command),
                             "cwd": self.cwd, "rule": self.rule}
        d.update({k: v for k, v in (("user", self.user), ("approved_by", self.approved_by),
                                    ("approved_at", self.approved_at),
                                    ("request", self.request)) if v})
        return d

    def to_dict(self) -> dict[str, Any]:
        return self.to_toml()  # the table as written: already plain (the command a list)


def parse_exemptions(raw: object, path: str) -> tuple[Exemption, ...]:
    """The ``[[exception]]`` tables of a policy file (a malformed one fails the file)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError("'exception' must be an array of tables: write [[exception]]", path=path)
    out: list[Exemption] = []
    for n, t in enumerate(raw, 1):
        where = f"exception #{n}"
        if not isinstance(t, dict):
            raise PolicyError(f"{where} is not a table", path=path)
        unknown = set(t) - KEYS
        if unknown:
            raise PolicyError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}",
                              f"known: {', '.join(sorted(KEYS))}", path=path)
        for key in ("id", "cwd", "rule"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise PolicyError(f"{where}: '{key}' must be a non-empty string", path=path)
        kind = t.get("kind", "argv")
        cmd = t.get("command")
        if kind not in KINDS:
            raise PolicyError(f"{where}: 'kind' must be one of {', '.join(KINDS)}", path=path)
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd) \
                or (kind == "script" and len(cmd) != 1):
            raise PolicyError(f"{where}: 'command' must be the argv (a script: its one text)",
                              path=path)
        if not t["cwd"].startswith("/"):
            raise PolicyError(f"{where}: 'cwd' must be an absolute directory", path=path)
        if any(e.id == t["id"] for e in out):
            raise PolicyError(f"{where}: duplicate exception id {t['id']!r}", path=path)
        extra = {k: t[k] for k in ("user", "approved_by", "approved_at", "request") if k in t}
        if any(not isinstance(v, str) for v in extra.values()):
            raise PolicyError(f"{where}: user, approved_by, approved_at and request are strings",
                              path=path)
        out.append(Exemption(t["id"], kind, tuple(cmd), t["cwd"], t["rule"], **extra))
    return tuple(out)


def appended(text: str, exemption: Exemption) -> str:
    """``text`` with ``exemption`` appended as one ``[[exception]]`` table (tomli-w)."""
    import tomli_w

    table = tomli_w.dumps({"exception": [exemption.to_toml()]})
    head = "# Standing exception added by `agentgate approve --remember`; remove it with\n" \
           f"# `agentgate policy forget {exemption.id}`.\n"
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + head + table


def without(text: str, exemption_id: str) -> str | None:
    """``text`` with the ``[[exception]]`` table of ``exemption_id`` cut out (and the comment
    lines `approve --remember` put above it), or None when no single table of it can be found
    by its header and id line alone (the caller then checks and refuses)."""
    import tomllib

    lines = text.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if ln.strip() == "[[exception]]"]
    found = []
    for s in starts:
        end = s + 1
        while end < len(lines) and not lines[end].lstrip().startswith("["):
            end += 1
        try:
            body = tomllib.loads("".join(lines[s + 1:end]))
        except tomllib.TOMLDecodeError:
            continue
        if body.get("id") == exemption_id:
            while end > s + 1 and (not lines[end - 1].strip()
                                   or lines[end - 1].lstrip().startswith("#")):
                end -= 1  # comments before the next table stay with it
            found.append((s, end))
    if len(found) != 1:
        return None
    s, end = found[0]
    while s > 0 and _ours(lines[s - 1]):
        s -= 1
    while s > 0 and not lines[s - 1].strip():
        s -= 1
    rest = lines[end:]
    return "".join(lines[:s]) + ("\n" if s and rest else "") + "".join(rest)


def _ours(line: str) -> bool:
    """A comment line that `approve --remember` writes above its table."""
    return line.startswith("# ") and ("approve --remember" in line or "policy forget" in line)


def remembered(req: Request, by: str, at: str) -> Exemption:
    """The standing exception that lets pending request ``req``'s command run without asking
    from now on (``approve --remember``; ``by`` approved it at ISO time ``at``)."""
    from ..errors import UsageError

    if req.status != "pending":
        raise UsageError(f"cannot remember {req.id}: it is {req.status}, not pending")
    if req.kind not in KINDS or not req.rule:
        raise UsageError(f"cannot remember {req.id}: a standing exception is for a command held "
                         "by an ask rule (not an action checkpoint)")
    return Exemption(new_exemption_id(), req.kind, tuple(req.argv), req.cwd, req.rule,
                     approved_by=by, approved_at=at, request=req.id, user=req.user or "")


def new_exemption_id() -> str:
    import secrets

    return "exc_" + secrets.token_hex(5)
