"""Which gate answers: the local one (personal mode: the user's own files) or the service's
(protected mode: ``/etc/agentgate/client.toml`` exists). Every entry point opens its gate here,
so no command can take a path around the service on a protected machine.
"""

from __future__ import annotations

import os

from .errors import AgentgateError, ConfigError

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from pathlib import Path

    from .gate import Gate
    from .outcome import Subject
    from .paths import StatePaths
    from .remote import RemoteGate

    AnyGate = Gate | RemoteGate  # what every entry point holds: the same methods either way
    from .outcome import Reader

    AnyReader = Reader | RemoteGate  # pending, get, now

# What would point a personal-mode gate at other files; on a protected machine each is refused
# rather than silently ignored, so nobody believes a policy of theirs is in force.
REDIRECTING = ("AGENTGATE_POLICY", "AGENTGATE_HOME", "AGENTGATE_CONFIG_DIR")


def open_gate(policy: str | None, cwd: Path | str, paths: StatePaths | None = None) -> AnyGate:
    """The gate for a command run in ``cwd``: the service's on a protected machine, else the
    local one (see :func:`agentgate.gate.open_gate`)."""
    from .system import client_config

    config = client_config()
    if config is None:
        from .gate import open_gate as local_gate

        return local_gate(policy, cwd, paths)
    from .remote import RemoteGate

    refuse_redirection(policy)
    return RemoteGate(config, str(cwd))


def open_human_gate(cwd: Path | str) -> AnyGate:
    """The gate for a human's decisions (pending, show, approve, deny, revoke): the service's
    on a protected machine, else the local ledger without a policy (see
    :func:`agentgate.gate.open_ledger`), so that they work while the policy is broken."""
    from .system import client_config

    config = client_config()
    if config is None:
        from .gate import open_ledger

        return open_ledger()
    from .remote import RemoteGate

    refuse_redirection(None)
    return RemoteGate(config, str(cwd))


def open_reader(cwd: Path | str) -> AnyReader:
    """What `pending` and `show` read: the ledger alone in personal mode (no policy, no audit
    log, nothing of the gate's), the service's gate in protected mode."""
    from .system import client_config

    config = client_config()
    if config is None:
        from .ledger import Ledger
        from .outcome import Reader
        from .paths import StatePaths

        return Reader(Ledger(StatePaths.default()))
    from .remote import RemoteGate

    refuse_redirection(None)
    return RemoteGate(config, str(cwd))


def protected() -> bool:
    from .system import client_config

    return client_config() is not None


def refuse_redirection(policy: str | None) -> None:
    """Refuse what would choose another policy or state on a protected machine (the client
    reads none of it: saying so beats ignoring it). The service's own process is exempt from
    the variables: its environment (`service install`) sets AGENTGATE_HOME to the state it
    owns, and its dashboard is a client of it (agentgate.dashboard.Hosted)."""
    from .system import POLICY_FILE, client_config

    given = ["--policy"] if policy else []
    config = client_config()
    if config is None or os.getuid() != config.service_uid:
        given += [v for v in REDIRECTING if os.environ.get(v)]
    if given:
        raise ConfigError(f"this machine is in protected mode: {', '.join(given)} cannot choose "
                          f"another policy or state; the service's policy ({POLICY_FILE}) "
                          "decides",
                          f"unset {' and '.join(given)} (an administrator edits {POLICY_FILE})")


def record_blocked(paths: StatePaths, subject: Subject | None, agent: str,
                   error: AgentgateError) -> bool:
    """Note a fail-closed block in the local audit log (personal mode only: in protected mode
    the log is the service's, and the block is what the service's absence or answer caused)."""
    if protected_quietly():
        return False
    from .gate import record_blocked as local_record

    return local_record(paths, subject, agent, error)


def protected_quietly() -> bool:
    """:func:`protected`, where a broken client file counts as protected (nothing local)."""
    try:
        return protected()
    except AgentgateError:
        return True
