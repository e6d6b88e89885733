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
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import EXIT_CONFIG, AgentgateError


def serve(port: int, announce: Callable[[str], None]) -> None:
    """Serve the dashboard on 127.0.0.1:``port`` (0: a free one) until interrupted.
    ``announce`` is given the login URL (with its token) and a newline before the first
    request can arrive."""
    from ..commands import refuse_when_gated

    refuse_when_gated("serve the dashboard")
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
