"""Protected mode's machine-wide locations, and the one file that says a machine is protected.

A protected machine has a root-owned ``/etc/agentgate/client.toml``. While it exists every entry
point talks to the agentgate service on its Unix socket and never falls back to local files;
nothing in the environment (``AGENTGATE_*``, ``XDG_*``, ``HOME``) can move it or turn it off.
The locations are fixed on purpose: a location an agent can choose is a location an agent can
fake.
"""

from __future__ import annotations

import os
import stat

from .errors import ConfigError
from .lean import Record

ETC = "/etc/agentgate"  # root-owned: the policy and the client file
CLIENT_FILE = ETC + "/client.toml"
POLICY_FILE = ETC + "/policy.toml"
PREFIX = "/opt/agentgate"  # root-owned: the installed code and its launcher
LIB = PREFIX + "/lib"  # holds a copy of the agentgate package
CLIENT_BIN = PREFIX + "/bin/agentgate"  # what the agents' managed hook settings run
STATE = "/var/lib/agentgate"  # the service user's: ledger, audit log, approver secret
RUN = "/run/agentgate"  # the socket's directory
SOCKET = RUN + "/agentgate.sock"
SERVICE_USER = "agentgate"  # the service runs as this system user; gated users join its group
MAX_CLIENT_FILE = 64 * 1024

CHECK_SERVICE = ("check the service: `agentgate service status` (as root: `systemctl status "
                 "agentgate` or `sudo agentgate service install` to start it again)")


class ClientConfig(Record):
    """What ``client.toml`` says: where the service listens and which user must own it."""

    socket: str
    service_user: str
    service_uid: int
    timeout: float  # seconds to wait for an answer before failing closed
    dashboard_port: int = 0  # where the service serves the dashboard (0: a free port)


def _refuse(why: str) -> ConfigError:
    return ConfigError(f"{CLIENT_FILE}: {why}; this machine is in protected mode and nothing "
                       "runs until the file is fixed",
                       "as root: `sudo agentgate service install` writes it again")


def client_config(path: str = CLIENT_FILE) -> ClientConfig | None:
    """The protected-mode client settings, or None on a machine in personal mode (no file).

    The file must be a regular root-owned file that nobody else can write, in root-owned
    directories: anything else is refused (exit 78), never read as "personal mode", since an
    agent that could make it unreadable would otherwise switch the protection off."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if _exists_anyhow(path):
            raise _refuse("it exists but cannot be opened") from None
        return None
    except OSError as e:
        raise _refuse(f"cannot be opened ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse("is not a regular file")
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise _refuse("must be owned by root and writable by root alone")
        data = os.read(fd, MAX_CLIENT_FILE + 1)
    except OSError as e:
        raise _refuse(f"cannot be read ({e.strerror or e})") from None
    finally:
        os.close(fd)
    _check_root_owned_dirs(os.path.dirname(path))
    if len(data) > MAX_CLIENT_FILE:
        raise _refuse("is too large")
    return _parse(data)


def _exists_anyhow(path: str) -> bool:
    """A dangling symlink, or a file in a directory we cannot search, is not "no file"."""
    try:
        os.lstat(path)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _check_root_owned_dirs(directory: str) -> None:
    d = directory
    while True:
        try:
            st = os.lstat(d)
        except OSError as e:
            raise _refuse(f"its directory {d} cannot be checked ({e.strerror or e})") from None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or (
                st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            raise _refuse(f"its directory {d} must be a root-owned directory nobody else can write")
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent


def _simple_toml(text: str) -> dict[str, object] | None:
    """The file as :func:`render_client_file` writes it (comments, one ``[service]`` table,
    ``key = "string"`` or ``key = number``), read without tomllib, which would cost every gated
    command 10 ms; None for anything else, which tomllib then reads."""
    from .jsontext import loads

    doc: dict[str, object] = {}
    table: dict[str, object] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "[service]" and "service" not in doc:
            table = {}
            doc["service"] = table
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if table is None or not eq or not key.isidentifier() or key in table:
            return None
        if value.startswith('"') and value.endswith('"') and "\\" not in value and len(value) > 1:
            table[key] = loads(value)
        elif value.isdigit():
            table[key] = int(value)
        else:
            return None
    return doc


def _parse(data: bytes) -> ClientConfig:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("is not UTF-8") from None
    doc = _simple_toml(text)
    if doc is None:
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise _refuse(f"is not valid TOML ({e})") from None
    service = doc.get("service")
    if not isinstance(service, dict):
        raise _refuse("has no [service] table")
    sock = service.get("socket", SOCKET)
    user = service.get("user", SERVICE_USER)
    timeout = service.get("timeout", 30.0)
    if not isinstance(sock, str) or not sock.startswith("/"):
        raise _refuse("service.socket must be an absolute path")
    if not isinstance(user, str) or not user:
        raise _refuse("service.user must be a user name")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise _refuse("service.timeout must be a number of seconds (0-600]")
    port = service.get("dashboard_port", 0)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise _refuse("service.dashboard_port must be a port number, 0 to 65535")
    import pwd

    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        raise _refuse(f"names the service user {user!r}, who does not exist") from None
    return ClientConfig(sock, user, uid, float(timeout), port)


def render_client_file(socket: str = SOCKET, user: str = SERVICE_USER) -> str:
    return ("# Written by `agentgate service install`. While this file exists, every agentgate\n"
            "# command on this machine asks the agentgate service and never its own files.\n"
            "# Remove it only with `sudo agentgate service uninstall`.\n"
            "[service]\n"
            f"socket = {_toml_string(socket)}\n"
            f"user = {_toml_string(user)}\n"
            "timeout = 30\n")


def _toml_string(s: str) -> str:
    import json

    return json.dumps(s)
