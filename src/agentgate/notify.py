"""Telling the human at once: a new approval request is announced through the channels the policy
configures (``[notify] urls``: apprise URLs, for ntfy, Slack, Discord, Telegram, Matrix, e-mail,
Pushover, JSON webhooks and the rest apprise knows) and, where a desktop session bus is present
(``DBUS_SESSION_BUS_ADDRESS``), as a desktop notification (``[notify] desktop``, on by default).

Two halves. :func:`announce` runs in the gate, right after a new request was saved: it starts a
detached deliverer (``posix_spawn`` of this Python, in a session of its own, its standard
streams on a pipe and /dev/null, so that no agent waits on it) and hands it what to say on the
pipe; no channel is contacted there, so a slow or dead channel never delays the gate's answer or
changes a decision, and only a failure to start the deliverer is recorded there. :func:`main`
is the deliverer: apprise (the ``notify`` extra) sends to each URL in turn, within a time limit,
and each delivery and each failure is an audit event (``notified``, ``notify_failed``), naming
the channel by its kind and its place in the list, never by its URL (URLs carry tokens).

What is said: the command, its directory, the agent, the rule and its reason, the request id and
how to approve it (the command, and the dashboard's address when one is running: it writes
``<state dir>/dashboard.json`` as ``{"url": ..., "pid": ...}``, the address without its login
token; only scheme, host, port and path are ever used from it). Never a secret: words of the
command that look like a password or token are masked. Light at module level: `run` and the
hooks import it when a request is new.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from .paths import StatePaths

DASHBOARD_FILE = "dashboard.json"  # in the state directory, written by a running dashboard
CHANNEL_TIMEOUT_S = 20  # the most one channel may take, connection and answer
MAX_URLS = 16
MAX_URL_CHARS = 2000
MAX_TEXT = 1000  # characters of the command (and of the reason) a notification carries
_BOOT = "import sys; sys.path.append(sys.argv[1]); from agentgate.notify import main; main()"
_children: list[int] = []  # deliverers started by this process, reaped once they are done


# --------------------------------------------------------------------------- in the gate


def announce(paths: StatePaths, event: Mapping[str, Any], urls: Sequence[str], desktop: bool,
             audit_max_bytes: int) -> None:
    """Start the deliverer for a new request (``event``: its ``approval_requested`` audit line).
    Returns at once; never raises. A deliverer that cannot be started is a ``notify_failed``
    event (best effort)."""
    desktop = desktop and bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))
    if not urls and not desktop:
        return
    payload = {"request": {k: event.get(k) for k in _REQUEST_KEYS},
               "who": {k: v for k, v in event.items() if k not in _REQUEST_KEYS and k != "event"
                       and k != "decision" and k != "pid"},
               "state": paths.root, "audit_max_bytes": audit_max_bytes,
               "urls": [str(u)[:MAX_URL_CHARS] for u in list(urls)[:MAX_URLS]],
               "desktop": desktop}
    try:
        _spawn(_fitting(payload))
    except Exception as e:  # nothing must reach the gate's caller
        try:
            _record(paths.root, audit_max_bytes, payload, [_failed(payload, "all",
                    f"the notifier could not be started: {type(e).__name__}: {e}")])
        except Exception:  # the state directory too: the gate's own append says so
            return


_REQUEST_KEYS = ("id", "kind", "argv", "cwd", "agent", "rule", "reason")


PIPE_SAFE = 32 * 1024  # what the deliverer is handed stays well inside a pipe's buffer (64 KiB)


def _fitting(payload: dict[str, Any]) -> bytes:
    """``payload`` as the deliverer reads it, or, when it would not fit the pipe in one write (a
    very long command), the same with the command already as the notification's clipped text
    and the directory and the reason clipped: the request is announced all the same."""
    from .jsontext import dumps

    data = dumps(payload, ensure_ascii=True).encode("ascii")
    if len(data) <= PIPE_SAFE:
        return data
    req = dict(payload["request"])
    req["argv"], req["kind"] = [command_text(req)], "text"
    req["cwd"], req["reason"] = _clip(str(req.get("cwd"))), _clip(str(req.get("reason") or ""))
    return dumps({**payload, "request": req}, ensure_ascii=True).encode("ascii")


def _spawn(data: bytes) -> None:
    _reap()
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r, w = os.pipe()
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", _BOOT, package_parent],
                             os.environ, setsid=True,
                             file_actions=[(os.POSIX_SPAWN_DUP2, r, 0),
                                           (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                           (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    finally:
        os.close(r)
    _children.append(pid)
    try:
        os.set_blocking(w, False)  # what is said fits the pipe: never wait for the deliverer
        if os.write(w, data) != len(data):  # cannot happen below PIPE_SAFE; said if it does
            raise OSError(f"only part of the notification's {len(data)} bytes reached the notifier")
    finally:
        os.close(w)


def _reap() -> None:
    """Collect deliverers that finished (a long-lived process, the MCP server or the service,
    would otherwise keep one zombie per request)."""
    for pid in list(_children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _children.remove(pid)


# --------------------------------------------------------------------------- what is said


def message(request: Mapping[str, Any], dashboard: str | None) -> tuple[str, str]:
    """(title, body) of the notification for ``request``."""
    from .lean import safe  # the agent's text cannot write lines of its own (a forged "id:")

    rid = safe(request.get("id") or "")
    agent = safe(request.get("agent") or "an agent")
    lines = [f"{agent} wants to run: {safe(command_text(request))}",
             f"in: {safe(_clip(str(request.get('cwd'))))}",
             f"rule: {safe(request.get('rule') or 'policy')}: "
             f"{safe(_clip(str(request.get('reason') or '')))}",
             f"id: {rid}",
             f"approve: agentgate approve {rid}",
             f"deny: agentgate deny {rid} --reason \"...\""]
    if dashboard:
        lines.append(f"dashboard: {dashboard}")
    return f"agentgate: approval needed ({agent})", "\n".join(lines)


def command_text(request: Mapping[str, Any]) -> str:
    """The command as a person reads it, clipped, with secret-looking values masked. Long words
    and long commands are cut before the masking (which is quadratic in a word's length), each
    word in its middle and the command between whole words, keeping both ends; the marks have
    no spaces, so a masked value runs on through them."""
    argv = [str(a) for a in request.get("argv") or []]
    if request.get("kind") == "argv":
        import shlex

        words = [shlex.quote(_clip_word(a)) for a in argv]
    else:
        words = [_clip_word(w) for w in " ".join(argv).split(" ")]
    return _clip(redact(_keep_ends(words)))


def _clip_word(word: str) -> str:
    if len(word) <= MAX_TEXT:
        return word
    head, tail = MAX_TEXT * 3 // 10, MAX_TEXT // 5
    return f"{word[:head]}...[{len(word) - head - tail}-characters-cut]...{word[-tail:]}"


def _keep_ends(words: list[str]) -> str:
    """``words`` joined, or, past 4 * MAX_TEXT characters, the first and the last whole words
    that fit with how many were cut between them."""
    if sum(len(w) + 1 for w in words) <= 4 * MAX_TEXT:
        return " ".join(words)
    first, last, size = 0, len(words), 0
    while first < last and size + len(words[first]) <= 2 * MAX_TEXT:
        size += len(words[first]) + 1
        first += 1
    size = 0
    while last > first and size + len(words[last - 1]) <= MAX_TEXT:
        size += len(words[last - 1]) + 1
        last -= 1
    return " ".join([*words[:first], f"...[{last - first}-words-cut]...", *words[last:]])


def _clip(text: str) -> str:
    """``text`` cut in the middle to at most about MAX_TEXT characters, keeping both ends (the
    flag that matters is often the last word), saying how much was cut."""
    if len(text) <= MAX_TEXT:
        return text
    head, tail = MAX_TEXT * 3 // 5, MAX_TEXT * 2 // 5
    return f"{text[:head]} ...[{len(text) - head - tail} characters cut]... {text[-tail:]}"


_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "api_key",
                 "api-key", "access_key", "private_key", "credential", "auth")


def redact(text: str) -> str:
    """``text`` with the values of secret-looking settings masked: ``NAME=value`` and
    ``--name=value`` / ``--name value`` whose name says password, token, secret, key...,
    ``Authorization: ...`` and ``Bearer ...`` headers, and a URL's password."""
    import re

    names = "|".join(re.escape(w) for w in _SECRET_WORDS)
    text = re.sub(r"(?i)(authorization\s*:\s*)[^'\"\n]*", r"\1****", text)
    text = re.sub(rf"(?i)(\b[\w.-]*(?:{names})[\w.-]*\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)",
                  r"\1****", text)
    text = re.sub(rf"(?i)(--?[\w-]*(?:{names})[\w-]*\s+)(\"[^\"]*\"|'[^']*'|[^\s-]\S*)",
                  r"\1****", text)
    text = re.sub(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{6,}", r"\1 ****", text)
    return re.sub(r"(\w+://[^/\s:@]+:)[^@\s/]+@", r"\1****@", text)


def shown_url(url: str) -> str:
    """A [notify] URL as it may be shown (`policy show`): its scheme only, since the rest carries
    tokens and passwords."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://****" if sep else "****"


def dashboard_url(state: str) -> str | None:
    """The running dashboard's address from ``<state>/dashboard.json``: scheme, host, port and
    path only (never a query or fragment, where a login token would be); None when there is
    none, it is not http(s), or the process that wrote it is gone."""
    from .jsontext import loads

    try:
        with open(os.path.join(state, DASHBOARD_FILE), "rb") as f:
            doc = loads(f.read(65536))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
        return None
    pid = doc.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass  # another user's process (the service): it exists
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(doc["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


# --------------------------------------------------------------------------- the deliverer


class _Deadline(Exception):
    pass


def main() -> None:
    """The detached deliverer: the payload on stdin, every result an audit event."""
    from .jsontext import loads

    os.chdir("/")
    payload = loads(sys.stdin.buffer.read(1 << 20))
    state, max_bytes = str(payload["state"]), int(payload["audit_max_bytes"])
    try:
        dashboard = dashboard_url(state)
        title, body = message(payload["request"], dashboard)
        for n, url in enumerate(payload.get("urls") or [], 1):
            _record(state, max_bytes, payload, [_send(payload, n, str(url), title, body)])
        if payload.get("desktop"):
            _record(state, max_bytes, payload, [_desktop(payload, title, body)])
    except Exception as e:  # a bug: said in the log, and where to find the traceback
        from . import errorlog

        log = errorlog.record(e)
        _record(state, max_bytes, payload, [_failed(
            payload, "all", f"internal error: {type(e).__name__}: {e}"
            + (f" (details in {log})" if log else ""))])


def _within(seconds: float) -> Any:
    """A context in which SIGALRM after ``seconds`` raises :class:`_Deadline`."""
    import signal
    from contextlib import contextmanager

    @contextmanager
    def limit() -> Any:
        def expired(signum: int, frame: object) -> None:
            raise _Deadline

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return limit()


def _send(payload: Mapping[str, Any], n: int, url: str, title: str, body: str) -> dict[str, Any]:
    """One apprise URL: a ``notified`` or ``notify_failed`` event."""
    where = f"url {n}"
    try:
        import logging

        import apprise
    except ImportError:
        return _failed(payload, where, "apprise is not installed: install agentgate with its "
                                       "notify extra (README: Knowing at once: notifications)")
    sender = apprise.Apprise()
    if not sender.add(url):
        return _failed(payload, where, "apprise does not understand this URL (see [notify] urls "
                                       "in the policy)")
    kind = str(getattr(sender[0], "service_name", "") or url.partition(":")[0])
    try:
        with _within(CHANNEL_TIMEOUT_S), apprise.LogCapture(  # type: ignore[no-untyped-call,unused-ignore]
                level=logging.WARNING, fmt="%(message)s") as logs:
            ok = sender.notify(body=body, title=title)
    except _Deadline:
        return _failed(payload, where, f"no answer within {CHANNEL_TIMEOUT_S}s", kind)
    except Exception as e:
        return _failed(payload, where, _scrub(f"{type(e).__name__}: {e}", url), kind)
    if not ok:
        said = [ln for ln in logs.getvalue().splitlines() if ln.strip()]
        return _failed(payload, where, _scrub("; ".join(said[-2:]) or "apprise reported a failure",
                                              url), kind)
    return _event(payload, "notified", channel=where, service=kind)


def _desktop(payload: Mapping[str, Any], title: str, body: str) -> dict[str, Any]:
    """A desktop notification on the session bus (org.freedesktop.Notifications, through the
    pure-Python jeepney of the notify extra)."""
    try:
        from jeepney import DBusAddress, new_method_call  # type: ignore[import-untyped,unused-ignore]
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped,unused-ignore]
        from jeepney.wrappers import unwrap_msg  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return _failed(payload, "desktop", "jeepney is not installed: install agentgate with its "
                                           "notify extra (README: Knowing at once: notifications)",
                       "desktop")
    from html import escape

    target = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                         interface="org.freedesktop.Notifications")
    call = new_method_call(target, "Notify", "susssasa{sv}i",
                           ("agentgate", 0, "dialog-warning", title, escape(body, quote=False),
                            [], {}, -1))
    try:
        with _within(CHANNEL_TIMEOUT_S), open_dbus_connection(bus="SESSION") as conn:
            unwrap_msg(conn.send_and_get_reply(call, timeout=CHANNEL_TIMEOUT_S))
    except _Deadline:
        return _failed(payload, "desktop", f"no answer within {CHANNEL_TIMEOUT_S}s", "desktop")
    except Exception as e:
        return _failed(payload, "desktop", f"{type(e).__name__}: {e}", "desktop")
    return _event(payload, "notified", channel="desktop", service="desktop")


def _scrub(text: str, url: str) -> str:
    """An error message without any piece of the URL that could be a secret (its user, password,
    host, path and query words), at most 300 characters."""
    import re

    rest = url.partition("://")[2]
    for word in sorted(set(re.split(r"[/:@?&=#,;+]+", rest)), key=len, reverse=True):
        if len(word) >= 4:
            text = text.replace(word, "****")
    return text[:300]


def _event(payload: Mapping[str, Any], event: str, **fields: Any) -> dict[str, Any]:
    req = payload.get("request") or {}
    ev: dict[str, Any] = {"event": event, "id": req.get("id"), "agent": req.get("agent"),
                          "rule": req.get("rule")}
    ev.update(payload.get("who") or {})
    ev.update(fields)
    ev["pid"] = os.getpid()
    return ev


def _failed(payload: Mapping[str, Any], channel: str, error: str,
            service: str | None = None) -> dict[str, Any]:
    extra = {"service": service} if service else {}
    return _event(payload, "notify_failed", channel=channel, error=error, **extra)


def _record(state: str, max_bytes: int, payload: Mapping[str, Any],
            events: list[dict[str, Any]]) -> None:
    """Append ``events`` to the audit log under the ledger lock (as every append is)."""
    from .audit import AuditLog
    from .ledger import Ledger
    from .paths import StatePaths

    paths = StatePaths(state)
    with Ledger(paths, lock_timeout=10.0).lock():
        AuditLog(paths.audit, max_bytes=max_bytes,
                 confirming=(paths.ledger, paths.trust)).append(events, durable=False)
