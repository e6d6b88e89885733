"""Protected mode's standing exceptions (``approve --remember``): the service keeps them in
``<state>/exceptions.toml``, a file of ``[[exception]]`` tables only, the service user's (0600).

Not in root's ``/etc/agentgate/policy.toml``: the service cannot write that file, and a service
that could would be able to rewrite its deny rules. Only the service writes here, and only on
a request that carries the approver secret's proof; the agent's user cannot write the state
directory, and no personal or repo-local file can add an exception (the service reads neither
for that). Each exception relaxes exactly what a personal one does (see
agentgate.policy.exemptions): its rule's ask, for its command and directory, never a deny.

The file is edited as agentgate.policy.edit edits a policy: read and validate it first (one that
does not is never written), append with tomli-w or cut out exactly one table, check the result,
then replace it atomically.
"""

from __future__ import annotations

import os

from ..errors import NotFound, PolicyError
from ..fileio import read_state_file, replace_atomically
from ..policy.exemptions import Exemption, appended, parse_exemptions, without

FILE = "exceptions.toml"
HEAD = ("# The agentgate service's standing exceptions (`agentgate approve --remember` in\n"
        "# protected mode). The service writes this file; `agentgate policy forget ID` removes one.\n")


def path_of(state: str) -> str:
    return os.path.join(state, FILE)


def parse(data: bytes, path: str) -> tuple[Exemption, ...]:
    """The exceptions in ``data``; anything else in the file, or a malformed table, fails it."""
    from ..policy.loader import read_toml

    raw = read_toml(data, path)
    unknown = set(raw) - {"exception"}
    if unknown:
        raise PolicyError(f"unknown top-level key(s): {', '.join(sorted(unknown))}",
                          "this file holds [[exception]] tables only", path=path)
    return parse_exemptions(raw.get("exception"), path)


def read(state: str) -> tuple[bytes | None, tuple[Exemption, ...]]:
    """(the file's bytes or None when there is none, its exceptions). A file that is a link,
    someone else's or writable by others is a StateError; one that does not parse a
    PolicyError: either way nothing is decided until it is fixed."""
    path = path_of(state)
    data = read_state_file(path, label="standing exceptions")
    if data is None:
        return None, ()
    return data, parse(data, path)


def add(state: str, exemption: Exemption) -> str:
    """Append ``exemption``; refused when one for the same command, directory and rule is
    there already. Returns the file written."""
    path = path_of(state)
    data, existing = read(state)
    same = [e for e in existing
            if e.matches(exemption.kind, exemption.command, exemption.cwd, exemption.rule,
                         exemption.user)]
    if same:
        raise PolicyError(f"a standing exception for this command is already there ({same[0].id})",
                          path=path)
    text = HEAD if data is None else data.decode("utf-8")
    _write(state, data, appended(text, exemption))
    return path


def remove(state: str, exemption_id: str) -> tuple[str, Exemption]:
    """Cut ``exemption_id``'s table out, checking that the result holds the others unchanged."""
    path = path_of(state)
    data, existing = read(state)
    gone = [e for e in existing if e.id == exemption_id]
    if data is None or not gone:
        raise NotFound(f"no standing exception {exemption_id!r} is kept by the service",
                       "see `agentgate policy show` for the ids")
    text = data.decode("utf-8")
    new = without(text, exemption_id)
    want = [e for e in existing if e.id != exemption_id]
    if new is None or parse(new.encode("utf-8"), path) != tuple(want):
        raise PolicyError(f"cannot cut {exemption_id} out of the file safely; nothing was written",
                          "as root: remove its [[exception]] table by hand", path=path)
    _write(state, data, new)
    return path, gone[0]


def _write(state: str, before: bytes | None, text: str) -> None:
    """Replace the file by ``text`` (0600) once it parses and the file still holds ``before``."""
    path = path_of(state)
    data = text.encode("utf-8")
    parse(data, path)
    if read_state_file(path, label="standing exceptions") != before:
        raise PolicyError("the standing exceptions changed while this ran; nothing was written",
                          "run the command again", path=path)
    try:
        replace_atomically(path, data, 0o600, prefix=".agentgate-exceptions-")
    except OSError as e:
        raise PolicyError(f"cannot write the standing exceptions: {e.strerror or e}; they are "
                          "unchanged", path=path) from None
