"""`agentgate dashboard`: a web page on 127.0.0.1 to approve and deny pending requests and read
the audit log (Starlette and uvicorn, the optional ``dashboard`` extra).

Nothing here is imported by any other command. Every decision goes through agentgate.commands'
approve and deny, as the CLI's do; in protected mode those talk to the service, and the
approver secret typed into each approval's confirmation signs that one approval (the session
keeps none; see agentgate.dashboard.app).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import EXIT_CONFIG, AgentgateError


def serve(port: int, announce: Callable[[str], None]) -> None:
    """Serve the dashboard on 127.0.0.1:``port`` (0: a free one) until interrupted.
    ``announce`` is given the login URL (with its token) and a newline before the first
    request can arrive. In protected mode the service serves it (:func:`hosted`): this asks
    the service for it, announces the URL it gives and returns."""
    from ..commands import refuse_when_gated

    refuse_when_gated("serve the dashboard")
    from ..system import client_config

    client = client_config()
    if client is not None:
        from ..service import protocol

        with protocol.Connection(client.socket, client.service_uid, client.timeout) as conn:
            answer = conn.ask({"op": "dashboard", "port": port or client.dashboard_port})
        url, token = answer.get("url"), answer.get("token")
        if not (isinstance(url, str) and url.startswith("http://127.0.0.1:")
                and isinstance(token, str)):
            raise protocol.garbled(client.socket, "a dashboard without its URL")
        announce(f"{url}login?token={token}\n")
        return
    try:
        import uvicorn

        from .app import build
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("starlette", "uvicorn"):
            raise
        raise AgentgateError("`agentgate dashboard` needs Starlette and uvicorn, which are not "
                             "installed", "install the dashboard extra: pip install '.[dashboard]' in a clone of "
                             "agentgate (README, Install)",
                             exit_code=EXIT_CONFIG) from None
    from ..backend import protected

    _undumpable()
    sock = _listen(port)
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    token = secrets.token_urlsafe(32)
    is_protected = protected()
    app = build(port=port, token=token, protected=is_protected)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, date_header=False)
    marker = None if is_protected else _state_file()
    server = _server(uvicorn.Server)(config)
    stops = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, server.handle_exit) for sig in stops}
    try:
        if marker is not None:
            _write_state(marker, base)
        announce(f"{base}login?token={token}\n")
        server.run(sockets=[sock])
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        sock.close()
        if marker is not None:
            _remove_state(marker, base)


def _undumpable() -> None:
    """Keep this process's memory from the user's other processes before anything secret is in
    it: the login token, the session ids and CSRF tokens, and in protected mode the approver
    secret while one approval that carries it is decided. A process that is not dumpable cannot be read through
    /proc/PID/mem or environ, ptraced or core-dumped by the same uid (only with CAP_SYS_PTRACE,
    that is, by root). Linux's prctl; elsewhere nothing is done."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_dumpable = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        raise AgentgateError("cannot keep the dashboard's memory from other processes: prctl("
                             f"PR_SET_DUMPABLE) failed: {os.strerror(ctypes.get_errno())}",
                             exit_code=EXIT_CONFIG)


def _server(base: type[Any]) -> type[Any]:
    """uvicorn's server, whose SIGINT and SIGTERM handlers :func:`serve` installs before the
    URL is out (a stop that comes first is not lost) and which does not raise the signal again
    once it has shut down: this process then removes its dashboard.json and exits 0."""

    class Server(base):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        sock.set_inheritable(True)
    except OSError as e:
        sock.close()
        raise AgentgateError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}",
                             "choose another --port, or leave it out for a free one",
                             exit_code=EXIT_CONFIG) from None
    return sock


def _state_file() -> str:
    from ..fileio import make_state_dir
    from ..notify import DASHBOARD_FILE  # {"url": ..., "pid": ...} while one runs: notify reads it
    from ..paths import StatePaths

    root = StatePaths.default().root
    make_state_dir(root)
    return os.path.join(root, DASHBOARD_FILE)


def _write_state(path: str, url: str) -> None:
    from ..fileio import replace_atomically
    from ..jsontext import dumps

    try:
        replace_atomically(path, (dumps({"url": url, "pid": os.getpid()}) + "\n").encode(),
                           durable=False)
    except OSError as e:
        raise AgentgateError(f"cannot write {path}: {e.strerror or e}",
                             exit_code=EXIT_CONFIG) from None


def _remove_state(path: str, url: str) -> None:
    """Remove the file if it still names this dashboard (another may have started since)."""
    from ..jsontext import loads

    with contextlib.suppress(OSError, ValueError):
        with open(path, "rb") as f:
            if loads(f.read().decode()).get("url") != url:
                return
        os.unlink(path)


# --------------------------------------------------------------------------- served by the service

TOKEN_TTL = 12 * 3600.0  # a login link works for a working day
MAX_TOKENS = 16  # login links given out and still good (the oldest makes room)


class Hosted:
    """The dashboard the protected-mode service serves, in a thread of the service's own
    process (the service user's: the agent can neither read its memory nor ptrace it). It
    decides through the service's socket like any client (the service knows this process by
    its pid), so the page's authority is the approver secret typed into it: login takes a
    login link's token and the secret, and each approval (and each lifted denial) carries the
    secret again. Each decision is recorded as made by the user the login's token was given
    to (:meth:`owner`; agentgate.remote.DECIDING_FOR, Service._decided_by)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.port = 0
        # token -> (when it stops opening a login, the uid it was given to: whose lockout a
        # wrong secret typed with it counts towards)
        self._tokens: dict[str, tuple[float, int]] = {}

    def start(self, port: int) -> int:
        """Serve on 127.0.0.1:``port`` (0: a free one) unless already serving; the port."""
        with self._lock:
            if self.port:
                if port not in (0, self.port):
                    raise AgentgateError(f"the service already serves the dashboard on port "
                                         f"{self.port}", "leave out --port, or restart the "
                                         "service to move it", exit_code=EXIT_CONFIG)
                return self.port
            try:
                import uvicorn

                from .app import build
            except ImportError as e:
                if (e.name or "").split(".")[0] not in ("starlette", "uvicorn", "anyio", "h11",
                                                        "click", "sniffio", "idna"):
                    raise
                raise AgentgateError(
                    "the agentgate service cannot serve the dashboard: Starlette and uvicorn are "
                    f"not installed in its Python environment ({e.name} is missing)",
                    "install agentgate with the dashboard extra (pip install '.[dashboard]'), "
                    "then run `sudo agentgate service install` again: it copies the extra "
                    "into the service's root-owned library", exit_code=EXIT_CONFIG) from None
            _undumpable()
            sock = _listen(port)
            bound: int = sock.getsockname()[1]
            app = build(port=bound, token="", protected=True, tokens=self.accepts,
                        login_secret=_login_secret, owner=self.owner)
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                    server_header=False, date_header=False)
            server = _server(uvicorn.Server)(config)
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                      name="agentgate-dashboard", daemon=True)
            thread.start()
            deadline = time.monotonic() + 10
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not server.started:
                server.should_exit = True
                sock.close()
                raise AgentgateError("the service's dashboard did not start",
                                     exit_code=EXIT_CONFIG)
            self.port = bound
            return bound

    def token(self, uid: int) -> str:
        """A new login link's token for the user ``uid`` (each `agentgate dashboard` gets
        its own)."""
        now = time.monotonic()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            for old in sorted(self._tokens, key=self._tokens.__getitem__)[
                    :max(0, len(self._tokens) - MAX_TOKENS + 1)]:
                del self._tokens[old]
            token = secrets.token_urlsafe(32)
            self._tokens[token] = (now + TOKEN_TTL, uid)
            return token

    def accepts(self, given: str) -> bool:
        return self.owner(given) is not None

    def owner(self, given: str) -> int | None:
        """The uid a still good login token was given to; None for any other text."""
        now = time.monotonic()
        with self._lock:
            found = [uid for t, (end, uid) in self._tokens.items()
                     if secrets.compare_digest(given.encode(), t.encode()) and end > now]
        return found[0] if found else None


_HOSTED = Hosted()


def hosted(port: int, state: str, uid: int) -> dict[str, str]:
    """What the service answers `agentgate dashboard` of the user ``uid``: the URL of the
    dashboard it serves (started on ``port`` the first time) and a new login token, that
    user's (a wrong secret at its login counts towards that uid's lockout, never the
    service's own, which an agent's tries would lock for everyone). ``state``'s dashboard.json
    names it (without a token) for the service's notifications to link to."""
    from ..notify import DASHBOARD_FILE

    bound = _HOSTED.start(port)
    base = f"http://127.0.0.1:{bound}/"
    _write_state(os.path.join(state, DASHBOARD_FILE), base)
    return {"url": base, "token": _HOSTED.token(uid)}


def login_owner(token: str) -> int | None:
    """The uid the service gave the login token ``token`` to (None: not one of its own)."""
    return _HOSTED.owner(token)


def _login_secret(passphrase: str, code: str, token: str) -> None:
    """Check the approver secret (and the authenticator code when one is enrolled) with the
    service, as an approval's is checked: a proof over its one-time nonce, audited as
    ``secret_checked`` with ``op: dashboard_login``, wrong ones counting towards the lockout."""
    from ..commands import human_gate
    from ..remote import RemoteGate

    gate = human_gate()
    if not isinstance(gate, RemoteGate):
        raise AgentgateError("the service's dashboard runs in protected mode only",
                             exit_code=EXIT_CONFIG)
    # RemoteGate's own proof-making, the one every approval uses
    gate._with_proof({"op": "dashboard_login", "token": token}, lambda: passphrase, lambda: code,
                     "logging in to the dashboard")
