"""`agentgate dashboard`: the installed console script serving on 127.0.0.1, driven in a real
headless Chromium (Debian's, through the playwright package), its refusals checked over plain
HTTP, and what it decides checked through `agentgate run`, as the agent meets it."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import AGENTGATE, ag, audit_of, held, marker_lines, runs_until_a_6s_grant_ends

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class Dashboard:
    """One `agentgate dashboard` process (None: an app served in this process) and the URL it
    printed."""

    def __init__(self, proc: subprocess.Popen[str] | None, url: str) -> None:
        self.proc, self.url = proc, url
        parts = urlsplit(url)
        self.port = parts.port or 0
        self.base = f"http://127.0.0.1:{self.port}/"
        self.token = parts.query.removeprefix("token=")

    def http(self, method: str, path: str, *, headers: dict[str, str] | None = None,
             body: str | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
        finally:
            conn.close()

    def login(self) -> tuple[str, str]:
        """(the session cookie, the page's CSRF token), as a browser would get them."""
        status, h, _ = self.http("GET", f"/login?token={self.token}")
        assert status == 303, status
        cookie = h["set-cookie"].split(";")[0]
        assert "HttpOnly" in h["set-cookie"] and "SameSite=strict" in h["set-cookie"]
        status, _, page = self.http("GET", "/", headers={"Cookie": cookie})
        assert status == 200
        m = re.fullmatch(r"/#csrf=([\w-]+)", h["location"])  # only in the login's fragment
        assert m and m.group(1) not in page
        return cookie, m.group(1)


def start_dashboard(*args: str) -> Dashboard:
    assert AGENTGATE
    proc = subprocess.Popen([AGENTGATE, "dashboard", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    if not ready:
        proc.kill()
        raise AssertionError("the dashboard printed no URL within 20s")
    line = proc.stdout.readline().strip()
    assert line.startswith("http://127.0.0.1:"), (line, proc.stderr.read() if proc.stderr else "")
    return Dashboard(proc, line)


def stop(d: Dashboard) -> int:
    assert d.proc is not None
    d.proc.terminate()
    try:
        return d.proc.wait(10)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        return d.proc.wait(10)


@pytest.fixture
def dash(policy_file: Path, fake_bin: Path, marker: Path, in_tmp_cwd: Path) -> Iterator[Dashboard]:
    d = start_dashboard()
    try:
        yield d
    finally:
        stop(d)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    """A page in a fresh headless Chromium (Debian's: never a browser playwright downloads)."""
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "tests/test_dashboard.py needs Debian's chromium " \
                                     "(apt-get install chromium; .ci/run does)"
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1200, "height": 800})
        try:
            pg = ctx.new_page()
            errors: list[str] = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.set_default_timeout(10_000)
            yield pg
            # no script error, no CSP violation, nothing missing (a refusal a test asks for aside)
            assert [e for e in errors if "status of 401" not in e
                    and "status of 409" not in e] == []  # 409: the gate refused, on #msg
        finally:
            ctx.close()


# --------------------------------------------------------------------------- in the browser


def test_approve_in_the_browser_lets_exactly_one_retry_run(dash: Dashboard, page: object,
                                                           marker: Path, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    rid = held()
    page.goto(dash.url)
    assert page.url == dash.base  # the token leaves the address bar at once
    card = page.locator(f'.card[data-id="{rid}"]')
    expect(card).to_contain_text("deployer --prod")
    expect(card).to_contain_text("Production deploys need a human.")
    expect(page.locator("#chain")).to_contain_text("audit chain verified")
    expect(page.locator("#history")).to_contain_text("approval_requested")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_contain_text("Approve this command to run once?")
    assert marker_lines(marker) == []  # the first click only asks
    card.get_by_role("button", name="Confirm approve").click()
    expect(page.locator("#msg")).to_contain_text(f"approved {rid}")
    expect(page.locator(".card")).to_have_count(0)
    assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert marker_lines(marker) == ["--prod"]
    again = ag("run", "--", "deployer", "--prod")
    assert again.returncode == 75  # used up: held again
    assert marker_lines(marker) == ["--prod"]
    expect(page.locator(".card")).to_have_count(1)  # the new request shows without a reload


def test_a_click_on_approve_lets_the_waiting_agents_command_run_once(
        dash: Dashboard, page: object, marker: Path) -> None:
    """The agent waits (`run --wait`) instead of stalling: the click alone gets its command run."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page) and AGENTGATE
    agent = subprocess.Popen([AGENTGATE, "run", "--wait=60s", "--", "deployer", "--prod"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        page.goto(dash.url)
        card = page.locator(".card")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("deployer --prod")
        assert agent.poll() is None and marker_lines(marker) == []  # waiting, nothing ran
        card.get_by_role("button", name="Approve").click()
        card.get_by_role("button", name="Confirm approve").click()
        assert agent.wait(15) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert marker_lines(marker) == ["--prod"]
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # the waiting run used it


def _approve_choice(page: Any, dash: Dashboard, rid: str, how: str) -> Any:
    """The card of ``rid`` on the dashboard, Approve clicked and ``how`` (once, uses, for)
    chosen: its fields next."""
    page.goto(dash.url)
    card = page.locator(f'.card[data-id="{rid}"]')
    card.get_by_role("button", name="Approve").click()
    card.locator('select[name="how"]').select_option(how)
    return card


def test_approve_for_n_uses_in_the_browser_lets_exactly_n_runs(dash: Dashboard, page: object,
                                                               marker: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    rid = held()
    page.goto(dash.url)
    card = page.locator(f'.card[data-id="{rid}"]')
    card.get_by_role("button", name="Approve").click()
    expect(card.locator('input[name="uses"]')).to_be_hidden()  # once, unless asked for more
    card.locator('select[name="how"]').select_option("uses")
    expect(card).to_contain_text("Approve this command to run this many times:")
    card.locator('input[name="uses"]').fill("3")
    card.locator('input[name="ttl"]').fill("10m")
    assert marker_lines(marker) == []
    card.get_by_role("button", name="Confirm approve").click()
    expect(page.locator("#msg")).to_contain_text(
        f"approved {rid}: the same command may now run 3 times, within 10m")
    for _ in range(3):
        assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert marker_lines(marker) == ["--prod"] * 3
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # used up: held again
    assert marker_lines(marker) == ["--prod"] * 3
    [ev] = audit_of(rid, "approved")  # audited as `approve --uses 3 --ttl 10m` is
    assert ev["uses"] == 3 and ev["standing"] is True and ev["ttl"] == 600
    assert len(audit_of(rid, "grant_consumed")) == 3


def test_approve_for_a_duration_in_the_browser_lets_runs_through_until_it_ends(
        dash: Dashboard, page: object, marker: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    rid = held()
    card = _approve_choice(page, dash, rid, "for")
    card.locator('input[name="for"]').fill("6s")
    card.get_by_role("button", name="Confirm approve").click()
    expect(page.locator("#msg")).to_contain_text(
        f"approved {rid}: the same command may now run any number of times in this directory")
    runs_until_a_6s_grant_ends(rid, time.monotonic(), marker)


def test_a_grant_out_of_bounds_in_the_browser_is_refused_with_the_clis_message(
        dash: Dashboard, page: object, marker: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    rid = held()
    card = _approve_choice(page, dash, rid, "uses")
    card.locator('input[name="uses"]').fill("1001")
    card.get_by_role("button", name="Confirm approve").click()
    expect(page.locator("#msg")).to_contain_text("--uses takes 1 to 1000, not 1001")
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == [] and audit_of(rid, "approved") == []


@pytest.mark.parametrize(("asked", "message"), [
    ({"uses": "0"}, "--uses takes 1 to 1000, not 0"),
    ({"uses": 1001}, "--uses takes 1 to 1000, not 1001"),
    ({"uses": "three"}, "--uses takes 1 to 1000, not 'three'"),
    ({"uses": True}, "--uses takes 1 to 1000, not True"),
    ({"uses": 2.5}, "--uses takes 1 to 1000, not 2.5"),
    ({"uses": "2", "ttl": "soon"}, "--ttl: bad duration 'soon'"),
    ({"for": "3x"}, "--for: bad duration '3x'"),
    ({"for": "400d"}, "--for: duration '400d' is longer than a year"),
    ({"for": 30}, "--for takes a duration as text"),
    ({"for": "1h", "ttl": "1h"}, "--ttl and --for both say how long the grant lasts"),
])
def test_a_grant_out_of_bounds_is_refused_before_anything_is_decided(
        dash: Dashboard, marker: Path, asked: dict[str, object], message: str) -> None:
    rid = held()
    cookie, csrf = dash.login()
    status, _, text = dash.http("POST", "/api/approve", body=json.dumps({"id": rid, **asked}),
                                headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 409 and message in json.loads(text)["error"], text
    assert [r["id"] for r in json.loads(ag("pending", "--json").stdout)] == [rid]
    assert ag("run", "--", "deployer", "--prod").returncode == 75
    assert marker_lines(marker) == [] and audit_of(rid, "approved") == []


def test_deny_in_the_browser_gives_the_agent_the_reason(dash: Dashboard, page: object,
                                                        marker: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(dash.url)
    expect(page.locator("#pending")).to_contain_text("No pending requests.")
    rid = held()
    card = page.locator(f'.card[data-id="{rid}"]')
    expect(card).to_have_count(1, timeout=2000)  # the page looks every second
    card.get_by_role("button", name="Deny").click()
    card.locator('input[name="reason"]').fill("not on a friday <b>x</b>")
    card.get_by_role("button", name="Confirm deny").click()
    expect(page.locator("#msg")).to_contain_text(f"denied {rid}")
    r = ag("run", "--", "deployer", "--prod")
    assert r.returncode == 77
    assert "not on a friday <b>x</b>" in r.stderr
    assert marker_lines(marker) == []
    # the history's filter, and the denial taken back from it
    page.select_option('select[name="event"]', "human_denied")
    row = page.locator('#history tr[data-event="human_denied"]')
    expect(row).to_have_count(1)
    expect(page.locator('#history tr[data-event="approval_requested"]')).to_have_count(0)
    expect(row).to_contain_text("not on a friday <b>x</b>")  # shown as text, never as markup
    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Confirm revoke").click()
    expect(page.locator("#msg")).to_contain_text(f"revoked {rid}")
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # a human is asked again


def test_screenshot(dash: Dashboard, page: object, tmp_path: Path) -> None:
    """The picture in docs/dashboard.md: `DOCS_SCREENSHOT=docs/dashboard.png pytest -k
    screenshot tests/test_dashboard.py` refreshes it."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    earlier = held(("deployer", "site", "--prod"))
    page.goto(dash.url)
    card = page.locator(f'.card[data-id="{earlier}"]')
    card.get_by_role("button", name="Deny").click()
    card.locator('input[name="reason"]').fill("not on a Friday")
    card.get_by_role("button", name="Confirm deny").click()
    expect(page.locator(".card")).to_have_count(0)
    assert ag("run", "--agent", "claude-code", "--", "deployer", "api", "--prod").returncode == 75
    rid = held(("deployer", "--prod"))
    card = page.locator(f'.card[data-id="{rid}"]')
    card.get_by_role("button", name="Approve").click()
    expect(page.locator(".card")).to_have_count(2)
    # the chain is checked again after changes (at most every 3 s): all four lines
    expect(page.locator("#chain")).to_contain_text("audit chain verified (4 lines)", timeout=10_000)
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DOCS_SCREENSHOT"):
        shutil.copy(shot, os.environ["DOCS_SCREENSHOT"])


def test_log_out_ends_the_session(dash: Dashboard, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(dash.url)
    expect(page.locator("#chain")).to_contain_text("audit chain")
    cookie = next(c for c in page.context.cookies() if c["name"] == f"agentgate_{dash.port}")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("body")).to_contain_text("Logged out.")
    assert dash.http("GET", "/api/state",
                     headers={"Cookie": f"{cookie['name']}={cookie['value']}"})[0] == 401
    resp = page.goto(dash.base)
    assert resp is not None and resp.status == 401


def test_a_page_without_the_token_gets_nothing(dash: Dashboard, page: object) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    resp = page.goto(dash.base)
    assert resp is not None and resp.status == 401
    resp = page.goto(dash.base + "login?token=wrong")
    assert resp is not None and resp.status == 401


# --------------------------------------------------------------------------- over plain HTTP


def test_no_session_is_401(dash: Dashboard) -> None:
    for path in ("/", "/api/state", "/api/verify"):
        assert dash.http("GET", path)[0] == 401, path
    assert dash.http("POST", "/api/approve", body='{"id": "apr_x"}')[0] == 401
    assert dash.http("GET", "/login")[0] == 401
    assert dash.http("GET", "/login?token=" + "x" * len(dash.token))[0] == 401


def test_a_state_change_without_the_csrf_token_is_403(dash: Dashboard, marker: Path) -> None:
    rid = held()
    cookie, csrf = dash.login()
    body = json.dumps({"id": rid})
    for extra in ({}, {"X-CSRF-Token": "wrong"},
                  {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}):
        status, _, _ = dash.http("POST", "/api/approve", body=body,
                                 headers={"Cookie": cookie, "Content-Type": "application/json",
                                          **extra})
        assert status == 403, extra
        assert dash.http("POST", "/api/deny", body=body,
                         headers={"Cookie": cookie, **extra})[0] == 403
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # still only pending
    status, _, text = dash.http("POST", "/api/approve", body=body, headers={
        "Cookie": cookie, "X-CSRF-Token": csrf, "Origin": dash.base.rstrip("/")})
    assert status == 200, text
    assert ag("run", "--", "deployer", "--prod").returncode == 0
    assert marker_lines(marker) == ["--prod"]


def test_each_card_names_the_agent_whose_retry_may_use_the_grant(dash: Dashboard,
                                                                  page: object) -> None:
    """The same command from two agents is two cards, each with its agent."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    ids = {}
    for agent in ("claude-code", "codex"):
        r = ag("run", "--json", "--agent", agent, "--", "deployer", "--prod")
        assert r.returncode == 75, r.stderr
        ids[agent] = json.loads(r.stdout)["approvalId"]
    assert ids["claude-code"] != ids["codex"]
    page.goto(dash.url)
    for agent, rid in ids.items():
        expect(page.locator(f'.card[data-id="{rid}"]')).to_contain_text(f"agent{agent} (pid")


def test_a_corrupt_ledger_is_shown_and_nothing_is_decided(dash: Dashboard, state_dir: Path) -> None:
    rid = held()
    cookie, csrf = dash.login()
    (state_dir / "ledger.json").write_text("{not json")
    status, _, text = dash.http("GET", "/api/state", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 409 and "ledger" in json.loads(text)["error"]
    status, _, text = dash.http("POST", "/api/approve", body=json.dumps({"id": rid}),
                                headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 409 and json.loads(text)["ok"] is False
    assert (state_dir / "ledger.json").read_text() == "{not json"  # never overwritten


def test_a_wrong_host_header_is_refused(dash: Dashboard) -> None:
    """DNS rebinding: a page on another name that resolves to 127.0.0.1."""
    for host in ("evil.example", f"evil.example:{dash.port}", "127.0.0.1", f"127.0.0.1:{dash.port + 1}",
                 f"localhost.evil.example:{dash.port}"):
        status, _, _ = dash.http("GET", f"/login?token={dash.token}", headers={"Host": host})
        assert status == 400, host
    for host in (f"127.0.0.1:{dash.port}", f"localhost:{dash.port}"):
        assert dash.http("GET", f"/login?token={dash.token}", headers={"Host": host})[0] == 303


def test_pages_are_self_contained_under_a_strict_csp(dash: Dashboard) -> None:
    cookie, csrf = dash.login()
    status, h, page = dash.http("GET", "/", headers={"Cookie": cookie})
    assert status == 200
    csp = h["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert re.search(r"script-src 'nonce-[^']+'", csp) and "unsafe-inline" not in csp
    assert h["x-frame-options"] == "DENY" and h["referrer-policy"] == "no-referrer"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from the network
    assert "<link" not in page
    status, h, state = dash.http("GET", "/api/state?event=approved&limit=5",
                                 headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 200 and h["content-type"].startswith("application/json")
    assert json.loads(state)["pending"] == []


def test_dashboard_json_names_the_running_dashboard(policy_file: Path, state_dir: Path) -> None:
    d = start_dashboard()
    try:
        info = json.loads((state_dir / "dashboard.json").read_text())
        assert info == {"url": d.base, "pid": d.proc.pid if d.proc else None}  # no token
        assert d.token not in (state_dir / "dashboard.json").read_text()
    finally:
        assert stop(d) == 0  # SIGTERM: a clean stop
    assert not (state_dir / "dashboard.json").exists()
    d = start_dashboard()
    assert d.proc is not None
    d.proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert d.proc.wait(10) == 0
    assert not (state_dir / "dashboard.json").exists()


def test_a_port_in_use_is_an_error(policy_file: Path) -> None:
    d = start_dashboard()
    try:
        r = ag("dashboard", "--port", str(d.port), timeout=30)
        assert r.returncode != 0 and r.stdout == ""
        assert f"cannot listen on 127.0.0.1:{d.port}" in r.stderr
    finally:
        stop(d)


def test_an_agent_cannot_start_the_dashboard(policy_file: Path) -> None:
    r = ag("run", "--", "agentgate", "dashboard")
    assert r.returncode == 77, r.stderr


def test_the_web_stack_stays_off_every_other_path() -> None:
    code = ("import sys, agentgate.cli, agentgate.commands, agentgate.watch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('starlette', 'uvicorn', 'anyio', 'playwright') or m.startswith('agentgate.dashboard')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_first_line_comes_at_once(policy_file: Path) -> None:
    start = time.monotonic()
    d = start_dashboard()
    try:
        assert time.monotonic() - start < 10
        assert dash_ok(d)
    finally:
        stop(d)


def dash_ok(d: Dashboard) -> bool:
    return d.http("GET", f"/login?token={d.token}")[0] == 303


# --------------------------------------------------------------------------- protected mode's login


@pytest.fixture
def protected_app(request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    """The application as a protected machine's dashboard builds it (``protected=True``),
    served by uvicorn on 127.0.0.1 in a thread of this process. What it decides still goes to
    this test's personal-mode gate: it is the login that is under test here."""
    import socket
    import threading

    import uvicorn

    from agentgate.dashboard.app import build

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build(port=port, token="t" * 43, protected=True,
                session_ttl=getattr(request, "param", 3600.0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Dashboard(None, f"http://127.0.0.1:{port}/login?token={'t' * 43}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sessions_held() -> list[dict[str, object]]:
    """Every session the dashboards served in this process hold, attribute by attribute."""
    import gc

    from agentgate.dashboard.app import Session

    return [dict(vars(o)) for o in gc.get_objects() if isinstance(o, Session)]


def test_protected_login_takes_the_token_and_keeps_no_secret(protected_app: Dashboard) -> None:
    d = protected_app
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = d.http("POST", "/login", headers=form, body="token=wrong&secret=s3cret")
    assert status == 401
    status, h, _ = d.http("POST", "/login", headers=form, body=f"token={d.token}&secret=s3cret")
    assert status == 303 and h["location"].startswith("/#csrf=")
    cookie = h["set-cookie"].split(";")[0]
    status, _, page = d.http("GET", "/", headers={"Cookie": cookie})
    assert status == 200 and "protected mode" in page and 'data-protected="1"' in page
    assert "s3cret" not in page
    held_now = sessions_held()
    assert held_now and all(set(v) == {"csrf", "started", "uid"} for v in held_now), held_now
    assert "s3cret" not in repr(held_now)  # the session store holds no secret
    # the page asks for the secret in each approval's confirmation, and sends it with that one
    assert 'name: "secret"' in page and 'type: "password"' in page


def test_a_protected_approval_without_the_secret_approves_nothing(
        protected_app: Dashboard, policy_file: Path, fake_bin: Path, marker: Path,
        in_tmp_cwd: Path) -> None:
    """Cookie and CSRF token are not the approver secret's power: without the secret in the
    request's body the approval is refused before the gate is asked, and the request stays
    pending. (The gate behind this app is the test's personal-mode one, which takes no secret:
    it is the dashboard's own refusal that is under test.)"""
    d = protected_app
    rid = held()
    cookie, csrf = d.login()
    assert sessions_held()
    for body in ({"id": rid}, {"id": rid, "secret": ""}, {"id": rid, "secret": None},
                 {"id": rid, "secret": 1234, "code": "123456"}):
        status, _, text = d.http("POST", "/api/approve", body=json.dumps(body), headers={
            "Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
        assert status == 409 and "needs the approver secret" in json.loads(text)["error"], text
    pending = json.loads(ag("pending", "--json").stdout)
    assert [r["id"] for r in pending] == [rid]
    assert ag("run", "--", "deployer", "--prod").returncode == 75  # still held
    assert marker_lines(marker) == []
    # with the secret it goes on to the gate, and the secret is not left in the session
    status, _, text = d.http("POST", "/api/approve", body=json.dumps({"id": rid, "secret": "s3cret"}),
                             headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert status == 200 and json.loads(text)["ok"] is True, text
    assert "s3cret" not in repr(sessions_held())


@pytest.mark.parametrize("protected_app", [1.0], indirect=True)
def test_a_session_ends_after_its_time(protected_app: Dashboard) -> None:
    d = protected_app
    status, h, _ = d.http("GET", f"/login?token={d.token}")
    assert status == 303
    cookie = h["set-cookie"].split(";")[0]
    both = {"Cookie": cookie, "X-CSRF-Token": h["location"].removeprefix("/#csrf=")}
    assert d.http("GET", "/api/verify", headers=both)[0] == 200
    time.sleep(1.2)
    assert d.http("GET", "/api/verify", headers=both)[0] == 401  # log in again


# --------------------------------------------------------------------------- the service's dashboard


@pytest.fixture
def service_app() -> Iterator[tuple[Dashboard, list[tuple[str, str]]]]:
    """The application as the protected-mode service builds it (agentgate.dashboard.Hosted):
    login tokens it gave out, and a login that checks the approver secret (here: a stand-in
    that takes "s3cret" and records what it was asked)."""
    import socket
    import threading

    import uvicorn

    from agentgate.dashboard import Hosted
    from agentgate.dashboard.app import build
    from agentgate.errors import NotAuthorized

    asked: list[tuple[str, str]] = []

    def check(passphrase: str, code: str, token: str) -> None:
        assert hosted.owner(token) == os.getuid()  # the token the login came with
        asked.append((passphrase, code))
        if passphrase != "s3cret":
            raise NotAuthorized("wrong approver secret: nothing was approved")

    hosted = Hosted()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build(port=port, token="", protected=True, tokens=hosted.accepts, login_secret=check)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Dashboard(None, f"http://127.0.0.1:{port}/login?token={hosted.token(os.getuid())}"), asked
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_the_services_login_takes_the_token_and_the_secret(
        service_app: tuple[Dashboard, list[tuple[str, str]]]) -> None:
    d, asked = service_app
    status, h, text = d.http("GET", f"/login?token={d.token}")
    assert status == 200 and "set-cookie" not in h  # a form, not a session
    assert 'type="password" name="secret"' in text and "<script" not in text
    assert h["referrer-policy"] == "same-origin" and "default-src 'none'" in h["content-security-policy"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (f"token={d.token}", f"token={d.token}&secret=", "token=wrong&secret=s3cret",
                 f"token={d.token}&secret=guess&code=123456"):
        status, h, _ = d.http("POST", "/login", headers=form, body=body)
        assert status == 401 and "set-cookie" not in h, body
    assert asked == [("guess", "123456")]  # a wrong token or no secret asks nothing
    status, h, _ = d.http("POST", "/login", headers={**form, "Origin": "http://evil.example"},
                          body=f"token={d.token}&secret=s3cret")
    assert status == 403 and len(asked) == 1
    status, h, _ = d.http("POST", "/login", headers={**form, "Origin": d.base.rstrip("/")},
                          body=f"token={d.token}&secret=s3cret")
    assert status == 303 and h["location"].startswith("/#csrf=")
    cookie = h["set-cookie"].split(";")[0]
    status, _, page = d.http("GET", "/", headers={"Cookie": cookie})
    assert status == 200 and 'data-protected="1"' in page
    assert "s3cret" not in repr(sessions_held())  # the session keeps no secret


def test_a_cookie_an_agents_server_caught_reads_nothing(
        dash: Dashboard, service_app: tuple[Dashboard, list[tuple[str, str]]]) -> None:
    """Browsers send 127.0.0.1's cookies to every port, so an agent's local server the human
    visits catches the session cookie: alone it reads neither the requests nor the log (the
    service's dashboard sees every user's); the page's own reads carry the CSRF token."""
    held()
    mine = dash.login()
    for d, cookie, csrf in ((dash, *mine), (service_app[0], *_service_login(service_app[0]))):
        for path in ("/api/state", "/api/state?limit=1000", "/api/verify"):
            for extra in ({}, {"X-CSRF-Token": "wrong"}):
                status, _, body = d.http("GET", path, headers={"Cookie": cookie, **extra})
                assert status == 403 and "deployer" not in body, (d.port, path, extra)
            status, _, body = d.http("GET", path, headers={"Cookie": cookie, "X-CSRF-Token": csrf})
            assert status == 200, (d.port, path, body)
    status, _, body = dash.http("GET", "/api/state", headers={"Cookie": mine[0], "X-CSRF-Token": mine[1]})
    assert "deployer" in body  # the page itself still sees the held command


def _service_login(d: Dashboard) -> tuple[str, str]:
    status, h, _ = d.http("POST", "/login", headers={
        "Content-Type": "application/x-www-form-urlencoded"}, body=f"token={d.token}&secret=s3cret")
    assert status == 303, status
    return h["set-cookie"].split(";")[0], h["location"].removeprefix("/#csrf=")


SERVICE_POLICY = """\
version = 1
[settings]
default = "allow"
[[rule]]
id = "prod"
decision = "ask"
commands = ["deployer ** --prod **"]
"""


def test_the_services_dashboard_records_who_logged_in_as_the_decider(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's dashboard decides as the service's own process (its uid and pid), for
    every user: each approve, deny and revoke made on it names the user whose login token
    (and the approver secret) opened the session, with ``via: "dashboard"``. Driven end to
    end in this process: the app as Hosted builds it, its gate the RemoteGate, a real Service
    behind a real socket."""
    import pwd
    import socket
    import threading

    import uvicorn
    from servicekit import PASSPHRASE, new_service

    from agentgate import system
    from agentgate.dashboard import _HOSTED, _login_secret
    from agentgate.dashboard.app import build
    from agentgate.service import protocol
    from agentgate.service.server import _Loop

    service = new_service(tmp_path, SERVICE_POLICY)
    path = str(tmp_path / "sock")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(path)
    listening.listen(16)
    loop, stop = _Loop(service, listening), threading.Event()
    looping = threading.Thread(target=lambda: [loop.round(0.1) for _ in iter(stop.is_set, True)],
                               daemon=True)
    looping.start()
    config = system.ClientConfig(path, pwd.getpwuid(os.getuid()).pw_name, os.getuid(), 10.0)
    monkeypatch.setattr(system, "client_config", lambda *a, **k: config)
    agent = protocol.Peer(1, os.getuid(), os.getgid())  # not the service's own process

    def held() -> str:
        out = service.handle({"op": "authorize", "agent": "claude-code", "subject": {
            "kind": "argv", "argv": ["deployer", "--prod", str(time.time_ns())],
            "cwd": str(tmp_path)}}, agent)
        return str(out["outcome"]["approval_id"])

    nobody = pwd.getpwnam("nobody")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build(port=port, token="", protected=True, tokens=_HOSTED.accepts,
                login_secret=_login_secret, owner=_HOSTED.owner)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        d = Dashboard(None, f"http://127.0.0.1:{port}/login?token={_HOSTED.token(nobody.pw_uid)}")
        status, h, _ = d.http("POST", "/login", headers={
            "Content-Type": "application/x-www-form-urlencoded"},
            body=f"token={d.token}&secret=a+long+passphrase")
        assert status == 303, status
        cookie, csrf = h["set-cookie"].split(";")[0], h["location"].removeprefix("/#csrf=")
        both = {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"}
        approved, denied = held(), held()
        for api, body in (("approve", {"id": approved, "secret": PASSPHRASE}),
                          ("deny", {"id": denied, "reason": "not today"}),
                          ("revoke", {"id": approved})):
            status, _, text = d.http("POST", f"/api/{api}", body=json.dumps(body), headers=both)
            assert status == 200 and json.loads(text)["ok"], (api, text)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        stop.set()
        looping.join(10)
        loop.close()
    events = [json.loads(line) for line in Path(service.paths.audit).read_text().splitlines()]
    decided = {e["event"]: e for e in events if e.get("id") in (approved, denied)
               and e["event"] in ("approved", "human_denied", "revoked")}
    assert set(decided) == {"approved", "human_denied", "revoked"}, events
    for e in decided.values():
        assert e["by"] == "nobody" and e["via"] == "dashboard", e
        assert e["peer_pid"] == os.getpid()  # still the service's process that did it
    [checked] = [e for e in events if e["event"] == "secret_checked" and e["id"] == approved]
    assert checked["via"] == "dashboard" and checked["result"] == "ok"
    login = [e for e in events if e["event"] == "secret_checked" and e["op"] == "dashboard_login"]
    assert [e["token_of"] for e in login] == ["nobody"]
    ledger = {r["id"]: r for r in service.handle({"op": "pending"}, agent)["requests"]}
    assert approved not in ledger and denied not in ledger
    # only the service's own process may say whom a decision is for
    other = held()
    refused = service.handle({"op": "deny", "id": other, "for_uid": nobody.pw_uid}, agent)
    assert refused["ok"] is False and "own dashboard" in refused["error"]["message"]
    plain = service.handle({"op": "deny", "id": other}, agent)
    assert plain["ok"] and plain["request"]["decided_by"] == pwd.getpwuid(os.getuid()).pw_name
    assert "via" not in [e for e in Path(service.paths.audit).read_text().splitlines()][-1]


def test_the_services_login_tokens_are_its_own_and_bounded() -> None:
    from agentgate.dashboard import MAX_TOKENS, Hosted

    h = Hosted()
    first = h.token(1000)
    assert h.accepts(first) and not h.accepts("x" * len(first)) and not h.accepts("")
    later = [h.token(1001) for _ in range(MAX_TOKENS)]
    assert len(set(later)) == MAX_TOKENS and all(h.accepts(t) for t in later)
    assert not h.accepts(first)  # the oldest made room
    assert h.owner(first) is None and {h.owner(t) for t in later} == {1001}
    assert h.owner("x" * len(later[0])) is None  # whose a login's wrong secret counts against


def test_the_service_without_the_dashboard_extra_fails_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from agentgate.dashboard import Hosted
    from agentgate.errors import EXIT_CONFIG, AgentgateError

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(AgentgateError) as e:
        Hosted().start(0)
    assert "not installed in its Python environment (uvicorn is missing)" in e.value.message
    assert e.value.hint and "service install" in e.value.hint and e.value.exit_code == EXIT_CONFIG


@pytest.mark.parametrize(("line", "port"), [("", 0), ("dashboard_port = 8765\n", 8765),
                                            ("dashboard_port = 0\n", 0)])
def test_client_toml_may_choose_the_services_dashboard_port(line: str, port: int) -> None:
    from agentgate.system import _parse, render_client_file

    assert _parse((render_client_file(user="root") + line).encode()).dashboard_port == port


@pytest.mark.parametrize("value", ["65536", "-1", '"8080"', "true", "80.5"])
def test_a_bad_dashboard_port_in_client_toml_fails_closed(value: str) -> None:
    from agentgate.errors import ConfigError
    from agentgate.system import _parse, render_client_file

    with pytest.raises(ConfigError, match="dashboard_port must be a port number"):
        _parse((render_client_file(user="root") + f"dashboard_port = {value}\n").encode())
