"""The dashboard's web application (Starlette): what it serves, and who may ask.

Who may ask: a request whose Host is not exactly ``127.0.0.1:PORT`` or ``localhost:PORT`` is
refused (400) before anything else, against DNS rebinding; a request without the session
cookie that the login link set gets 401; a state change (approve, deny) without the session's
CSRF token in ``X-CSRF-Token`` gets 403, as does one whose Origin is another site.

The cookie alone is not enough to change or read anything, and never yields the CSRF token:
browsers send 127.0.0.1's cookies to every port of it, so any other local server the human's
browser visits (an agent's dev server) receives the session cookie. So the page's reads
(``/api/state``, ``/api/verify``) take the CSRF token too (403 without it): in protected mode
the service's dashboard sees every user's requests and audit lines, which a cookie an agent's
server caught must not show it. The CSRF token is handed out once,
in the login redirect's fragment (``/#csrf=...``, which a browser never sends to a server), and
the page keeps it in sessionStorage, which belongs to this origin (its port) alone; the page at
``/`` carries no token. Login takes the token printed on stdout, and nothing else.

In protected mode the session holds no approver secret: cookie and CSRF token together still
cannot relax a decision. Each approval (and each lifted denial) carries the secret, and the
authenticator code when one is enrolled, in that one request's body; it signs that one decision
as `agentgate approve` does and is dropped when the request ends.
Every page has a strict Content-Security-Policy; the page's CSS and JS are inline, with a nonce.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import commands
from ..errors import EXIT_REFUSED, AgentgateError, UsageError
from ..output import approved_text, command_text, request_json
from . import page

if TYPE_CHECKING:
    from ..gate import RequestView

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                Awaitable[None]]
HISTORY_LIMIT = 100
SESSION_TTL = 12 * 3600.0  # a login lasts a working day
MAX_BODY = 16 * 1024


class Session:
    """A logged-in browser: its CSRF token, when it logged in and, on the service's dashboard,
    the uid of the user whose login token opened it (whom its decisions are recorded as
    made by); no approver secret."""

    def __init__(self, uid: int | None = None) -> None:
        self.csrf = secrets.token_urlsafe(32)
        self.started = time.monotonic()
        self.uid = uid


class Sessions:
    """The logged-in browsers, each for at most ``ttl`` seconds (then: log in again)."""

    def __init__(self, ttl: float) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}
        self.ttl = ttl

    def new(self, uid: int | None = None) -> tuple[str, Session]:
        sid, s = secrets.token_urlsafe(32), Session(uid)
        with self._lock:
            self._by_id[sid] = s
        return sid, s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            s = self._by_id.get(sid)
            if s is not None and time.monotonic() - s.started > self.ttl:
                del self._by_id[sid]
                return None
            return s

    def end(self, sid: str) -> None:
        with self._lock:
            self._by_id.pop(sid, None)


def headers(nonce: str | None = None) -> dict[str, str]:
    """The headers of every answer: nothing from the network, no framing, no caching."""
    src = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Content-Security-Policy": (f"default-src 'none'; script-src {src}; style-src {src}; "
                                    "connect-src 'self'; img-src 'self'; form-action 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def host_check(app: ASGI, allowed: set[str]) -> ASGI:
    """Refuse (400) any request whose Host header is not one of ``allowed``: a page on another
    name that resolves to 127.0.0.1 (DNS rebinding) cannot talk to the dashboard."""

    async def checked(scope: Scope, receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http":
            hosts = [v for k, v in scope.get("headers", []) if k == b"host"]
            if len(hosts) != 1 or hosts[0].decode("latin-1").lower() not in allowed:
                await refusal(400, "wrong Host header: open the URL that `agentgate "
                                        "dashboard` printed")(scope, receive, send)
                return
        await app(scope, receive, send)

    return checked


def refusal(status: int, text: str) -> Response:
    return Response(text + "\n", status, headers=headers(), media_type="text/plain")


def build(*, port: int, token: str, protected: bool, session_ttl: float = SESSION_TTL,
          tokens: Callable[[str], bool] | None = None,
          login_secret: Callable[[str, str, str], None] | None = None,
          owner: Callable[[str], int | None] | None = None) -> ASGI:
    """The application for one `agentgate dashboard` run. ``tokens`` (instead of the one
    ``token``) says whether a login token is good; ``login_secret`` (the service's dashboard)
    checks the approver secret and code that login then also takes (with the login token
    they came with), raising when wrong; ``owner`` gives the uid a login token was given to,
    whom the session's decisions are then recorded as made by."""
    sessions = Sessions(session_ttl)
    good = tokens or (lambda given: secrets.compare_digest(given.encode(), token.encode()))
    cookie = f"agentgate_{port}"
    origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}

    def session_of(request: Request) -> Session | None:
        return sessions.get(request.cookies.get(cookie))

    def reader(request: Request) -> Response | None:
        """The refusal of a read without the session and its CSRF token, else None."""
        s = session_of(request)
        if s is None:
            return unauthorized()
        given = request.headers.get("x-csrf-token", "")
        if not given or not secrets.compare_digest(given.encode(), s.csrf.encode()):
            return refusal(403, "missing or wrong CSRF token: open the URL that `agentgate "
                                "dashboard` printed again")
        return None

    def unauthorized() -> Response:
        return refusal(401, "not logged in: open the URL (with its token) that "
                                 "`agentgate dashboard` printed")

    def logged_in(uid: int | None) -> Response:
        sid, s = sessions.new(uid)
        # the CSRF token goes in the fragment, which no browser sends to a server: the page
        # keeps it in this origin's sessionStorage (see the module's docstring)
        resp = RedirectResponse(f"/#csrf={s.csrf}", 303, headers=headers())
        resp.set_cookie(cookie, sid, httponly=True, samesite="strict", path="/")
        return resp

    async def login(request: Request) -> Response:
        if request.method == "GET":
            form = {k: request.query_params.get(k, "") for k in ("token",)}
        else:
            body = await request.body()
            if len(body) > MAX_BODY:
                return refusal(413, "request too large")
            from urllib.parse import parse_qs

            fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form = {k: v[0] for k, v in fields.items() if len(v) == 1}
        given = form.get("token", "")
        if not given or not good(given):
            return refusal(401, "wrong or missing login token: open the URL that "
                                     "`agentgate dashboard` printed")
        uid = owner(given) if owner is not None else None
        if login_secret is None:
            return logged_in(uid)
        if request.method == "GET":  # the link opens the form that asks for the secret
            nonce = secrets.token_urlsafe(16)
            # same-origin: the form's POST then carries this origin (no-referrer sends
            # "Origin: null"), and nothing of this URL leaves it
            return HTMLResponse(page.login(nonce, given), headers={
                **headers(nonce), "Referrer-Policy": "same-origin"})
        origin = request.headers.get("origin")
        if origin is not None and origin not in origins:
            return refusal(403, "a request from another site")
        passphrase, code = form.get("secret", ""), form.get("code", "")
        if not passphrase:
            return refusal(401, "login needs the approver secret")
        try:
            await _threaded_call(lambda: login_secret(passphrase, code, given))
        except AgentgateError as e:
            return refusal(401, f"not logged in: {e.message}")
        return logged_in(uid)

    async def index(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return unauthorized()
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(page.index(nonce, protected), headers=headers(nonce))

    def state(request: Request) -> Response:
        if (refused := reader(request)) is not None:
            return refused
        q = request.query_params
        try:
            found = commands.pending()
            limit = int(q.get("limit") or HISTORY_LIMIT)
            history = [ev for _, ev in commands.log(
                since=q.get("since") or None, until=None,
                events=[e for e in q.getlist("event") if e], request_id=q.get("id") or None,
                rule=q.get("rule") or None, agent=q.get("agent") or None,
                tail=max(1, min(limit, 1000)), progress=commands.no_progress)]
        except ValueError:
            return _json({"error": "limit must be a number"}, 400)
        except AgentgateError as e:
            return _failed(e)
        return _json({"protected": protected, "now": found.now,
                       "pending": [_shown({**request_json(r), "command": command_text(r)})
                                   for r in found.requests],
                       "history": [_shown({**ev, "command": _event_command(ev)})
                                   for ev in reversed(history)]})

    def verify(request: Request) -> Response:
        if (refused := reader(request)) is not None:
            return refused
        try:
            return _json(commands.log_verify(commands.no_progress).to_dict())
        except AgentgateError as e:
            return _failed(e)

    async def change(request: Request,
                     needs_id: bool = True) -> tuple[Session, dict[str, Any]] | Response:
        """The session and JSON body of a state change, or the refusal."""
        s = session_of(request)
        if s is None:
            return unauthorized()
        origin = request.headers.get("origin")
        if origin is not None and origin not in origins:
            return refusal(403, "a request from another site")
        given = request.headers.get("x-csrf-token", "")
        if not given or not secrets.compare_digest(given.encode(), s.csrf.encode()):
            return refusal(403, "missing or wrong CSRF token: open the URL that `agentgate "
                                "dashboard` printed again")
        body = await request.body()
        if len(body) > MAX_BODY:
            return refusal(413, "request too large")
        from ..jsontext import loads

        try:
            data = loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict) or (needs_id and not isinstance(data.get("id"), str)):
            return _json({"error": "the body must be a JSON object with an id"}, 400)
        return s, data

    async def approve(request: Request) -> Response:
        got = await change(request)
        if isinstance(got, Response):
            return got
        s, data = got
        try:
            grant = grant_of(data)
        except AgentgateError as e:
            return _failed(e)
        proof = Proof(data)
        if protected and not proof.given_secret:
            # every approval relaxes a decision: refused here, before the gate is asked
            return _failed(proof.missing_secret())
        return await _threaded(lambda: _approve(data["id"], grant, proof, s.uid))

    async def deny(request: Request) -> Response:
        got = await change(request)
        if isinstance(got, Response):
            return got
        s, data = got
        reason = data.get("reason")
        reason = reason.strip() if isinstance(reason, str) else ""
        return await _threaded(lambda: _deny(data["id"], reason or None, s.uid))

    async def revoke(request: Request) -> Response:
        got = await change(request)
        if isinstance(got, Response):
            return got
        s, data = got
        return await _threaded(lambda: _revoke(data["id"], Proof(data), s.uid))

    async def logout(request: Request) -> Response:
        got = await change(request, needs_id=False)
        if isinstance(got, Response):
            return got
        sessions.end(request.cookies.get(cookie, ""))
        resp = _json({"ok": True, "message": "logged out"})
        resp.delete_cookie(cookie, path="/")
        return resp

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204, headers=headers())

    app = Starlette(routes=[
        Route("/", index),
        Route("/favicon.ico", no_icon),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/api/state", state),
        Route("/api/verify", verify),
        Route("/api/approve", approve, methods=["POST"]),
        Route("/api/deny", deny, methods=["POST"]),
        Route("/api/revoke", revoke, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
    ])
    return host_check(app, {f"127.0.0.1:{port}", f"localhost:{port}"})


class Proof:
    """What signs one decision in protected mode: the approver secret and the authenticator
    code (asked for only when one is enrolled) sent in this one request's body, kept for this
    request alone (never in the session)."""

    def __init__(self, data: dict[str, Any]) -> None:
        secret, code = data.get("secret"), data.get("code")
        self.given_secret = secret if isinstance(secret, str) else ""
        self.given_code = code if isinstance(code, str) else ""

    @staticmethod
    def missing_secret() -> AgentgateError:
        return AgentgateError("this needs the approver secret",
                              "type the approver secret in the confirmation and try again",
                              exit_code=EXIT_REFUSED)

    def secret(self) -> str:
        if not self.given_secret:
            raise self.missing_secret()
        return self.given_secret

    def code(self) -> str:
        if not self.given_code:
            raise AgentgateError("this needs the authenticator code too",
                                 "type the code from your authenticator and try again",
                                 exit_code=EXIT_REFUSED)
        return self.given_code


def _confirmed(view: RequestView, what: str = "") -> None:
    """The page asked "Approve this command to run once?" (or deny, or revoke) before it sent
    the click: the confirmation is done."""


def grant_of(data: dict[str, Any]) -> commands.Grant:
    """What an approval's body asks to allow, as `approve` takes it: ``uses`` (``--uses N``,
    a whole number as digits), ``ttl`` (``--ttl``) and ``for`` (``--for``), each absent, null
    or empty for its default; read by commands.Grant.build, so the bounds and the messages are
    the CLI's."""
    from ..ledger import MAX_USES

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise UsageError(f"--{key} takes a duration as text, e.g. 30m")
        return value.strip() or None

    uses = data.get("uses")
    if isinstance(uses, str):
        uses = uses.strip() or None
    if uses is not None:
        if isinstance(uses, str) and uses.isdecimal():
            uses = int(uses)
        elif isinstance(uses, bool) or not isinstance(uses, int):
            raise UsageError(f"--uses takes 1 to {MAX_USES}, not {uses!r}")
    return commands.Grant.build(text("ttl"), uses, text("for"))


@contextlib.contextmanager
def _deciding_for(uid: int | None) -> Iterator[None]:
    """The decisions this thread makes in the block are the user ``uid``'s (the service's
    dashboard: the user logged in to the session; None: the dashboard's own user's)."""
    if uid is None:
        yield
        return
    from ..remote import DECIDING_FOR

    me = threading.get_ident()
    DECIDING_FOR[me] = uid
    try:
        yield
    finally:
        DECIDING_FOR.pop(me, None)


def _approve(rid: str, grant: commands.Grant, proof: Proof, uid: int | None) -> Response:
    try:
        with _deciding_for(uid):
            done = commands.approve(rid, grant, _confirmed, secret=proof.secret,
                                    code=proof.code)
    except AgentgateError as e:
        return _failed(e)
    return _json({"ok": True, "request": request_json(done.request),
                  "message": approved_text(done.request, done.now)})


def _deny(rid: str, reason: str | None, uid: int | None) -> Response:
    try:
        with _deciding_for(uid):
            done = commands.deny(rid, reason, _confirmed)
    except AgentgateError as e:
        return _failed(e)
    return _json({"ok": True, "request": request_json(done), "message": f"denied {done.id}"})


def _revoke(rid: str, proof: Proof, uid: int | None) -> Response:
    try:
        with _deciding_for(uid):
            done = commands.revoke(rid, _confirmed, secret=proof.secret, code=proof.code)
    except AgentgateError as e:
        return _failed(e)
    return _json({"ok": True, "request": request_json(done),
                  "message": f"revoked {done.id}: the next try asks a human again"})


async def _threaded(fn: Callable[[], Response]) -> Response:
    """Run a gate call (a file lock, or the service's socket) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


async def _threaded_call(fn: Callable[[], None]) -> None:
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(fn)


def _event_command(ev: dict[str, Any]) -> str:
    """An audit event's command as `agentgate log` shows it (what cannot be shown, escaped)."""
    import shlex

    from ..jsontext import AUDIT_SUFFIX, restore
    from ..output import safe

    if "argv" + AUDIT_SUFFIX in ev:
        ev = restore(ev, AUDIT_SUFFIX)
    argv = ev.get("argv")
    if not isinstance(argv, list):
        return ""
    words = [str(a) for a in argv]
    return safe(shlex.join(words) if ev.get("kind", "argv") == "argv" else " ".join(words))


def _shown(value: Any) -> Any:
    """``value`` with every string in it as the terminal shows it (agentgate.output.safe):
    the directory, agent name, reason and the rest are the agent's text too, and a bidi
    override or a newline in them must not change what the human reads."""
    from ..output import safe

    if isinstance(value, str):
        return safe(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _json(obj: object, status: int = 200) -> Response:
    from ..jsontext import dumps

    return Response(dumps(obj), status, headers=headers(), media_type="application/json")


def _failed(e: AgentgateError) -> Response:
    return _json({"ok": False, "error": e.message, "hint": e.hint}, 409)
