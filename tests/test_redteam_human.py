"""Red team of the human's side (issue 12): an agent on the same machine, as the same user,
trying to get a held command approved or run without the human, or to learn a secret, through
`agentgate dashboard`, `agentgate watch` and the notifications.

Real processes throughout: the installed console script serving the dashboard, Debian's
Chromium driven by playwright (as in tests/test_dashboard.py), plain http.client for what a
process (not a browser) can send, and `agentgate run` for what the agent gets. Tests marked
xfail(strict=True) are findings in modules this file's author does not own; the reason says what
is wrong and where.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import test_dashboard
from conftest import AGENTGATE, ag, marker_lines, write_policy
from test_dashboard import Dashboard, held, stop

dash, page = test_dashboard.dash, test_dashboard.page  # the fixtures, shared

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "fake_bin")


def raw(d: Dashboard, request: bytes) -> bytes:
    """``request`` sent as it is (what no well-behaved client would send) and the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# --------------------------------------------------------------------------- DNS rebinding


def test_host_header_spellings_that_are_not_the_dashboards_are_refused(dash: Dashboard) -> None:
    """A rebinding page's name in any spelling: trailing dot, IPv6 loopback, no port, a port
    with a leading zero, userinfo tricks, spaces. Only the two printed spellings log in."""
    p = dash.port
    for host in (f"localhost.:{p}", f"127.0.0.1.:{p}", f"[::1]:{p}", "localhost", "127.0.0.1",
                 f"127.0.0.1:0{p}", f"evil.example@127.0.0.1:{p}", f"127.0.0.1:{p}@evil.example",
                 f"127.1:{p}", f"2130706433:{p}", f"0x7f000001:{p}", f"127.0.0.1:{p}.evil.example",
                 ""):
        answer = raw(dash, f"GET /login?token={dash.token} HTTP/1.1\r\nHost: {host}\r\n"
                           "Connection: close\r\n\r\n".encode())
        assert status_of(answer) in (400, 422), (host, answer[:200])
    # two Host headers (one of them right) and none at all
    two = (f"GET /login?token={dash.token} HTTP/1.1\r\nHost: evil.example\r\n"
           f"Host: 127.0.0.1:{p}\r\nConnection: close\r\n\r\n").encode()
    assert status_of(raw(dash, two)) == 400
    none = f"GET /login?token={dash.token} HTTP/1.0\r\n\r\n".encode()
    assert status_of(raw(dash, none)) == 400
    # an absolute-form request line naming another host, with the Host a rebinding page sends
    absolute = (f"GET http://evil.example:{p}/login?token={dash.token} HTTP/1.1\r\n"
                f"Host: evil.example:{p}\r\nConnection: close\r\n\r\n").encode()
    assert status_of(raw(dash, absolute)) == 400
    # the name in capitals is the same name: allowed
    upper = (f"GET /login?token={dash.token} HTTP/1.1\r\nHost: LOCALHOST:{p}\r\n"
             "Connection: close\r\n\r\n").encode()
    assert status_of(raw(dash, upper)) == 303


# --------------------------------------------------------------------------- CSRF


def test_cross_site_posts_change_nothing(dash: Dashboard, marker: Path) -> None:
    """What a page on another site can make a browser send: a form post (urlencoded, multipart,
    text/plain holding JSON), with the session cookie, without the CSRF header; Origin null
    (a sandboxed frame, a data: URL), or a sibling port. None approves."""
    rid = held()
    cookie, csrf = dash.login()
    body = json.dumps({"id": rid})
    tries: list[dict[str, str]] = [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "text/plain", "Origin": "null", "X-CSRF-Token": csrf},
        {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{dash.port + 1}",
         "X-CSRF-Token": csrf},
        {"Content-Type": "application/json", "Origin": f"http://localhost.:{dash.port}",
         "X-CSRF-Token": csrf},
        {"X-CSRF-Token": csrf + "x"},
        {"X-CSRF-Token": csrf[:-1]},
        {"X-CSRF-Token": ""},
    ]
    for extra in tries:
        for path in ("/api/approve", "/api/revoke", "/api/deny", "/api/logout"):
            status, _, _ = dash.http("POST", path, body=body, headers={"Cookie": cookie, **extra})
            assert status == 403, (path, extra)
    # a GET never changes anything
    for path in ("/api/approve", f"/api/approve?id={rid}"):
        assert dash.http("GET", path, headers={"Cookie": cookie})[0] == 405
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == []


def test_a_session_is_not_another_sessions_and_logout_ends_it(dash: Dashboard) -> None:
    """One session's CSRF token is worth nothing with another session's cookie; the login token
    is not a session; a logged-out cookie is dead even with its CSRF token."""
    rid = held()
    c1, t1 = dash.login()
    c2, t2 = dash.login()
    assert c1 != c2 and t1 != t2
    body = json.dumps({"id": rid})
    assert dash.http("POST", "/api/approve", body=body,
                     headers={"Cookie": c1, "X-CSRF-Token": t2})[0] == 403
    name = c1.split("=")[0]
    assert dash.http("POST", "/api/approve", body=body,
                     headers={"Cookie": f"{name}={dash.token}", "X-CSRF-Token": dash.token})[0] == 401
    assert dash.http("POST", "/api/logout", body="{}",
                     headers={"Cookie": c1, "X-CSRF-Token": t1})[0] == 200
    assert dash.http("POST", "/api/approve", body=body,
                     headers={"Cookie": c1, "X-CSRF-Token": t1})[0] == 401
    assert ag("run", "--", "deployer", "--prod").returncode == 75


# --------------------------------------------------------------------------- one click, one run


def test_a_double_click_approves_one_run(dash: Dashboard, marker: Path) -> None:
    """Two Confirm clicks (or a replayed POST), at the same moment: one approval, one run."""
    rid = held()
    cookie, csrf = dash.login()
    results: list[int] = []

    def click() -> None:
        results.append(dash.http("POST", "/api/approve", body=json.dumps({"id": rid}),
                                 headers={"Cookie": cookie, "X-CSRF-Token": csrf})[0])

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [200, 409, 409, 409], results
    assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == ["--prod"]
    # the used request approved again from the history (a stale page): refused
    status, _, text = dash.http("POST", "/api/approve", body=json.dumps({"id": rid}),
                                headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 409, text
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == ["--prod"]


def test_an_approval_is_for_the_command_shown_and_only_in_its_directory(
        dash: Dashboard, marker: Path, tmp_path: Path) -> None:
    """The approved request's argv in its directory: the agent cannot spend it on another
    command, or in another directory."""
    rid = held()
    cookie, csrf = dash.login()
    assert dash.http("POST", "/api/approve", body=json.dumps({"id": rid}),
                     headers={"Cookie": cookie, "X-CSRF-Token": csrf})[0] == 200
    assert ag("run", "--", "deployer", "api", "--prod").returncode == 75
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert ag("run", "--", "deployer", "--prod", cwd=other).returncode == 75
    assert marker_lines(marker) == []
    assert ag("run", "--", "deployer", "--prod").returncode == 0


# --------------------------------------------------------------------------- markup as text


HTML = '<img src=x onerror="document.title=1">'


def test_markup_in_every_field_is_shown_as_text(dash: Dashboard, page: object,
                                                tmp_path: Path) -> None:
    """The agent chooses the command, its directory and its own name, and can get a reason
    shown (the human's, but typed after reading the agent's text): none is markup, in the
    card, its history, or the history table with any filter."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    where = tmp_path / '<svg onload="document.title=2">'
    where.mkdir()
    r = ag("run", "--json", "--agent", '<b id="injected">x</b>', "--", "deployer", HTML,
           "--prod", cwd=where)
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    page.goto(dash.url)
    card = page.locator(f'.card[data-id="{rid}"]')
    expect(card).to_contain_text(HTML)
    expect(card).to_contain_text('<svg onload="document.title=2">')
    expect(card).to_contain_text('<b id="injected">x</b>')
    card.locator("summary").click()
    card.get_by_role("button", name="Deny").click()
    card.locator('input[name="reason"]').fill('<script>document.title=3</script>' + HTML)
    card.get_by_role("button", name="Confirm deny").click()
    expect(page.locator("#msg")).to_contain_text(f"denied {rid}")
    page.fill('input[name="agent"]', '<b id="injected">x</b>')
    row = page.locator('#history tr[data-event="human_denied"]')
    expect(row).to_contain_text("<script>document.title=3</script>")
    expect(page.locator('#history tr[data-event="approval_requested"]')).to_contain_text(HTML)
    assert page.locator("#injected").count() == 0
    assert page.locator("#history img, #pending img, svg, script:not([nonce])").count() == 0
    assert page.title() == "agentgate"


def test_a_bidi_override_or_newline_in_the_directory_or_agent_is_shown_escaped(
        dash: Dashboard, tmp_path: Path) -> None:
    """U+202E turns the rest of a line around on screen, a newline starts a line that looks
    like another field: in the directory (where the approval applies) and the agent's name
    they are shown as escapes, as the terminal commands show them."""
    where = tmp_path / "prod\u202etset"
    where.mkdir()
    r = ag("run", "--json", "--agent", "bot\nrule: none", "--", "deployer", "--prod", cwd=where)
    assert r.returncode == 75, r.stderr
    cookie, csrf = dash.login()
    status, _, text = dash.http("GET", "/api/state", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 200
    state = json.loads(text)
    [req] = state["pending"]
    assert req["cwd"].endswith("prod\\u202etset") and "\u202e" not in req["cwd"]
    assert req["agent"] == "bot\\nrule: none"
    assert all("\u202e" not in json.dumps(ev, ensure_ascii=False) and "\n" not in str(ev.get("agent"))
               for ev in state["history"])


def test_a_denied_or_used_request_cannot_be_approved_from_a_stale_page(
        dash: Dashboard, marker: Path) -> None:
    rid = held()
    cookie, csrf = dash.login()
    h = {"Cookie": cookie, "X-CSRF-Token": csrf}
    assert dash.http("POST", "/api/deny", body=json.dumps({"id": rid}), headers=h)[0] == 200
    status, _, text = dash.http("POST", "/api/approve", body=json.dumps({"id": rid}), headers=h)
    assert status == 409, text
    assert ag("run", "--", "deployer", "--prod").returncode == 77
    assert dash.http("POST", "/api/approve", body=json.dumps({"id": "apr_nosuchid"}),
                     headers=h)[0] == 409
    assert marker_lines(marker) == []


# --------------------------------------------------------------------------- the session cookie


class CookieJar:
    """A server on another port of 127.0.0.1, as an agent's dev server is (`npm run dev`, which
    the gate allows): it keeps the Cookie header of every request the human's browser sends it."""

    def __init__(self) -> None:
        self.cookies: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.cookies.append(self.headers.get("Cookie") or "")
                body = b"<!doctype html><title>my app</title><p>it works</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def jar() -> Iterator[CookieJar]:
    j = CookieJar()
    yield j
    j.server.shutdown()


def test_a_server_on_another_port_cannot_approve_with_the_cookie_it_is_sent(
        dash: Dashboard, page: object, jar: CookieJar, marker: Path) -> None:
    """Cookies are not kept apart by port: the human's browser sends the dashboard's session
    cookie to every server on 127.0.0.1, the agent's dev server among them. With only that
    cookie (and everything a process can send), the agent must get no CSRF token and approve
    nothing (in protected mode an approval also needs the approver secret in its own request,
    which no session holds)."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    rid = held()
    page.goto(dash.url)
    expect(page.locator(f'.card[data-id="{rid}"]')).to_have_count(1)
    page.goto(f"http://127.0.0.1:{jar.port}/")  # "open http://127.0.0.1:3000 to see the app"
    expect(page.locator("p")).to_contain_text("it works")
    stolen = next((c for c in jar.cookies if f"agentgate_{dash.port}=" in c), "")
    assert stolen, jar.cookies  # the browser does send it: the dashboard must not rely on it alone
    status, _, text = dash.http("GET", "/", headers={"Cookie": stolen})
    tokens = set(re.findall(r'data-csrf="([^"]*)"', text)) - {""}
    for token in tokens or {""}:
        status, _, answer = dash.http("POST", "/api/approve", body=json.dumps({"id": rid}),
                                      headers={"Cookie": stolen, "X-CSRF-Token": token,
                                               "Content-Type": "application/json"})
        assert status != 200, answer
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == []
    # and the human's own page still works: its approval lets the command run once
    page.goto(f"http://127.0.0.1:{dash.port}/")
    card = page.locator(f'.card[data-id="{rid}"]')
    card.get_by_role("button", name="Approve").click()
    card.get_by_role("button", name="Confirm approve").click()
    expect(page.locator("#msg")).to_contain_text(f"approved {rid}")
    assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert marker_lines(marker) == ["--prod"]


# --------------------------------------------------------------------------- the process


READER = r"""
import json, sys
pid, wanted = int(sys.argv[1]), [w.encode() for w in sys.argv[2:]]
out = {"mem": False, "environ": False, "found": []}
try:
    open(f"/proc/{pid}/environ", "rb").read()
    out["environ"] = True
except PermissionError:
    pass
try:
    mem = open(f"/proc/{pid}/mem", "rb")
except PermissionError:
    mem = None
if mem is not None:
    out["mem"] = True
    data = bytearray()
    for line in open(f"/proc/{pid}/maps"):
        span, perms = line.split()[:2]
        if perms.startswith("rw"):
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                data += mem.read(min(end - start, 64 << 20))
            except (OSError, ValueError, OverflowError):
                pass
    out["found"] = [w.decode() for w in wanted if w in data]
print(json.dumps(out))
"""


# as root, what a same-uid agent that is not root has: no CAP_SYS_PTRACE, for the reader and
# for what it reads (a process with capabilities its reader lacks is refused for that alone)
NO_PTRACE = (["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"]
             if os.geteuid() == 0 else [])


def as_the_agent(pid: int, *wanted: str) -> dict[str, object]:
    """What another process of the same user reads of ``pid``: its environment, its memory,
    and which of ``wanted`` is in that memory."""
    out = subprocess.run([*NO_PTRACE, sys.executable, "-c", READER, str(pid), *wanted],
                         capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout))


def test_the_dashboards_memory_is_out_of_the_agents_reach(
        policy_file: Path) -> None:
    """The dashboard keeps its login token and session ids in memory, and in protected mode the
    approver secret while an approval that carries it is decided. A process of the same user (an agent's allowed
    script) must not read them out of /proc/PID/mem (no Yama here: ptrace is open to the same
    uid), nor ptrace it, nor find them in a core dump: the process is not dumpable."""
    assert AGENTGATE
    proc = subprocess.Popen([*NO_PTRACE, AGENTGATE, "dashboard"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    d = Dashboard(proc, proc.stdout.readline().strip())
    try:
        cookie, csrf = d.login()
        secrets = [d.token, csrf, cookie.split("=", 1)[1]]
        # the control: an ordinary process of this user holding a value is read, value and all
        control = subprocess.Popen([*NO_PTRACE, sys.executable, "-c", "import sys, time; "
                                    "v = sys.stdin.readline().strip() * 1; time.sleep(60)"],
                                   stdin=subprocess.PIPE, text=True)
        try:
            assert control.stdin is not None
            control.stdin.write(secrets[0][::-1] + "\n")
            control.stdin.flush()
            time.sleep(0.5)
            seen = as_the_agent(control.pid, secrets[0][::-1])
            assert seen == {"mem": True, "environ": True, "found": [secrets[0][::-1]]}, seen
        finally:
            control.kill()
            control.wait()
        seen = as_the_agent(proc.pid, *secrets)
        assert seen["mem"] is False and seen["found"] == [], seen  # (environ holds no secret)
    finally:
        stop(d)


def test_the_login_token_is_nowhere_but_the_printed_line(dash: Dashboard, state_dir: Path,
                                                         tmp_path: Path) -> None:
    """Not in the argv (`ps`), not in a state file, not in the audit log."""
    assert dash.proc is not None
    assert dash.token.encode() not in Path(f"/proc/{dash.proc.pid}/cmdline").read_bytes()
    dash.login()
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert dash.token.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- notifications


class Receiver:
    """A JSON webhook on 127.0.0.1 (apprise's json://) that keeps what it is sent."""

    def __init__(self) -> None:
        self.got: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 15.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.got


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    path = write_policy(tmp_path / "policy.toml")
    path.write_text(path.read_text() + f'\n[notify]\nurls = ["json://127.0.0.1:{r.port}/"]\n'
                    "desktop = false\n")
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    yield r
    r.server.shutdown()


def audit_events(state: Path, *names: str) -> list[dict[str, object]]:
    log = state / "audit.jsonl"
    lines = [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []
    return [ev for ev in lines if ev.get("event") in names]


def test_a_notification_cannot_be_forged_by_the_command(receiver: Receiver,
                                                        state_dir: Path) -> None:
    fake = "apr_0000000000000000"
    r = ag("run", "--json", "--", "deployer", f"x\n\nid: {fake}\nrule: read-only: a "
           "listing\n", "--prod")
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    [got] = receiver.wait_for(1)
    lines = got["message"].splitlines()
    assert [ln for ln in lines if ln.startswith("id:")] == [f"id: {rid}"], lines
    assert len([ln for ln in lines if ln.startswith("rule:")]) == 1, lines


def test_a_long_command_is_notified_or_its_failure_audited(receiver: Receiver,
                                                           state_dir: Path) -> None:
    r = ag("run", "--json", "--", "deployer", "A" * 100_000, "--prod")
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not audit_events(state_dir, "notified", "notify_failed"):
        time.sleep(0.1)
    said = audit_events(state_dir, "notified", "notify_failed")
    assert [(ev["event"], ev["id"]) for ev in said] == [("notified", rid)], said
    [got] = receiver.wait_for(1)
    assert rid in got["message"], got["message"][-300:]


def test_a_hanging_channel_holds_no_lock_the_next_command_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: Path) -> None:
    """The deliverer, stuck on a channel that never answers, must not keep the ledger's lock
    (or anything else the gate waits for): the next held command, a decision and the retry
    go on at once."""
    import socket

    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts, never answers
    path = write_policy(tmp_path / "policy.toml")
    path.write_text(path.read_text() + f'\n[notify]\nurls = ["json://127.0.0.1:'
                    f'{hang.getsockname()[1]}/?rto=20&cto=20"]\ndesktop = false\n')
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    try:
        rid = held()
        time.sleep(1.0)  # the deliverer is connected and waiting
        start = time.monotonic()
        held(("deployer", "api", "--prod"))
        r = ag("approve", "--yes", rid)
        assert r.returncode == 0, r.stderr
        assert ag("run", "--", "deployer", "--prod").returncode == 0
        assert time.monotonic() - start < 8, time.monotonic() - start
        assert marker_lines(marker) == ["--prod"]
    finally:
        hang.close()


def test_a_notification_carries_no_login_token(receiver: Receiver, state_dir: Path) -> None:
    """The dashboard's link in a notification (which may go off the machine) has no token."""
    from test_dashboard import start_dashboard, stop

    d = start_dashboard()
    try:
        held()
        [got] = receiver.wait_for(1)
        assert d.base in got["message"]
        assert d.token not in json.dumps(got) and "token=" not in got["message"]
    finally:
        stop(d)


# --------------------------------------------------------------------------- watch


@pytest.fixture
def term(tmp_path: Path, policy_file: Path, fake_bin: Path, marker: Path,
         in_tmp_cwd: Path) -> Iterator[object]:
    from test_watch import Term

    t = Term(tmp_path)
    try:
        t.wait_for("no pending requests")
        yield t
    finally:
        t.close()


def test_a_long_word_cannot_push_the_rest_of_the_command_off_the_watch_screen(
        term: object, marker: Path) -> None:
    """`deployer status AAAA...(8000)... --prod`: the list, the selected panel and the question
    used to fold the word over more lines than the terminal has, so `--prod` and the [y/N]
    question itself were never on the screen, and the usual `a` `y` approved it unseen. Both
    ends of the command, the amount cut, and the question stay in view."""
    from test_watch import Term

    assert isinstance(term, Term)
    rid = held(("deployer", "status", "A" * 8000, "--prod"))
    term.wait_for(rid)
    screen = term.screen()
    assert "--prod" in screen and "characters cut" in screen, screen
    term.keys("a")
    term.wait_for("o (enter) once")
    choice = term.screen().split("Approve deployer status", 1)[1]
    assert "--prod: o (enter) once" in choice.replace("\n", " "), choice  # its end shows here too
    term.keys("Enter")
    term.wait_for("[y/N]")
    question = term.screen().split("Approve deployer status", 1)[1]
    assert "--prod to run once? [y/N]" in question.replace("\n", " "), question
    term.keys("n")
    term.wait_for("not approved")
    assert ag("run", "--", "deployer", "status", "A" * 8000, "--prod").returncode == 75
    assert marker_lines(marker) == []


def test_the_agent_cannot_start_a_decider_of_its_own(tmp_path: Path) -> None:
    """watch and dashboard from inside the gate are refused (the agent would be the human)."""
    for cmd in (("agentgate", "watch"), ("agentgate", "dashboard"),
                ("env", "agentgate", "dashboard", "--port", "0")):
        r = ag("run", "--", *cmd)
        assert r.returncode == 77, (cmd, r.stderr)
    assert AGENTGATE and os.path.exists(AGENTGATE)


def test_a_plain_http_client_with_no_session_gets_no_state(dash: Dashboard) -> None:
    """What an agent gets by asking the dashboard itself (it can find the port: `ss`, `ps`,
    dashboard.json): nothing without the login token."""
    held()
    for path in ("/", "/api/state", "/api/state?limit=1000", "/api/verify"):
        conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=10)
        conn.request("GET", path, headers={"Cookie": f"agentgate_{dash.port}=x"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 401 and b"deployer" not in body, path
