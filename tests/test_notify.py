"""Notifications of new requests (agentgate.notify): delivered by apprise's json:// to a receiver on
127.0.0.1 in this test, never off the machine; from a detached process, so that a slow or dead
channel never delays the gate; every delivery and failure an audit event; never a secret."""

from __future__ import annotations

import json
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ag, write_policy

from agentgate.errors import PolicyError
from agentgate.notify import command_text, dashboard_url, message, redact
from agentgate.policy import parse_policy_file

DEPLOY = ("deployer", "site", "--prod")

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "fake_bin")


class Receiver:
    """A JSON webhook on 127.0.0.1 that keeps what it is sent."""

    def __init__(self) -> None:
        self.got: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.append({"path": self.path, **json.loads(body)})
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
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def notify_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *urls: str,
                  desktop: bool = False) -> Path:
    path = write_policy(tmp_path / "policy.toml")
    listed = ", ".join(json.dumps(u) for u in urls)
    path.write_text(path.read_text() + f"\n[notify]\nurls = [{listed}]\n"
                    f"desktop = {'true' if desktop else 'false'}\n")
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    return path


def audit_events(state: Path, *names: str) -> list[dict[str, object]]:
    log = state / "audit.jsonl"
    lines = [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []
    return [ev for ev in lines if ev.get("event") in names]


def wait_events(state: Path, *names: str, n: int = 1, timeout: float = 15.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = audit_events(state, *names)
        if len(found) >= n:
            return found
        time.sleep(0.05)
    return audit_events(state, *names)


def test_a_new_request_is_notified_with_what_the_human_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, state_dir: Path,
        in_tmp_cwd: Path) -> None:
    url = f"json://hookuser:pw-SECRET-1@127.0.0.1:{receiver.port}/hook/tok-SECRET-2"
    notify_policy(tmp_path, monkeypatch, url)
    res = ag("run", "--agent", "tester", "--", *DEPLOY)
    assert res.returncode == 75
    rid = json.loads(ag("pending", "--json").stdout)[0]["id"]
    [got] = receiver.wait_for(1)
    text = got["title"] + "\n" + got["message"]
    for part in ("deployer site --prod", str(in_tmp_cwd), "tester", "deploy-prod",
                 "Production deploys need a human", rid, f"agentgate approve {rid}"):
        assert part in text, part
    assert got["path"] == "/hook/tok-SECRET-2"
    [ev] = wait_events(state_dir, "notified")
    assert ev["id"] == rid and ev["channel"] == "url 1" and ev["agent"] == "tester"
    assert ev["rule"] == "deploy-prod"
    assert "SECRET" not in (state_dir / "audit.jsonl").read_text()  # no URL, no token
    assert "pw-SECRET" not in text


def test_a_repeat_of_a_pending_request_is_not_notified_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver,
        state_dir: Path) -> None:
    notify_policy(tmp_path, monkeypatch, f"json://127.0.0.1:{receiver.port}/")
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert ag("run", "--", *DEPLOY).returncode == 75  # the same request, still pending
    assert ag("run", "--", "deployer", "other", "--prod").returncode == 75  # a new one
    wait_events(state_dir, "notified", n=2)
    time.sleep(1.0)  # a second notification for the repeat would have come by now
    assert len(receiver.got) == 2
    assert [g["message"].count("deployer other --prod") for g in receiver.got].count(1) == 1
    assert len(audit_events(state_dir, "notified")) == 2


def test_allowed_and_denied_commands_notify_nobody(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver,
        state_dir: Path) -> None:
    notify_policy(tmp_path, monkeypatch, f"json://127.0.0.1:{receiver.port}/")
    assert ag("run", "--", "deployer", "site").returncode == 0
    assert ag("run", "--", "nuke", "it").returncode == 77
    time.sleep(1.0)
    assert receiver.got == [] and audit_events(state_dir, "notified", "notify_failed") == []


def answer_time(policy: Path) -> float:
    began = time.monotonic()
    res = ag("run", "--", "deployer", f"s{time.monotonic_ns()}", "--prod",  # always a new one
             env={"AGENTGATE_POLICY": str(policy)})
    took = time.monotonic() - began
    assert res.returncode == 75
    return took


def test_a_channel_that_hangs_does_not_delay_the_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    """A receiver that accepts the connection and never answers: the gate answers as fast as
    without any channel (runs taken in turns, so that the machine's load falls on both alike;
    the run's pipes close at once: nothing of the deliverer holds them), and the failure is
    recorded once apprise gives up."""
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    try:
        plain = write_policy(tmp_path / "plain.toml")
        hanging = notify_policy(tmp_path, monkeypatch,
                                f"json://127.0.0.1:{hang.getsockname()[1]}/?rto=2&cto=2")
        answer_time(plain)  # warm up
        times: dict[Path, list[float]] = {plain: [], hanging: []}
        for _ in range(6):
            for policy in (plain, hanging):
                times[policy].append(answer_time(policy))
        delay = statistics.median(times[hanging]) - statistics.median(times[plain])
        assert delay < 0.2, times  # the spawn costs ~2 ms; the rest is the machine's noise
        assert max(times[hanging]) < 3.0
        failed = wait_events(state_dir, "notify_failed", n=6, timeout=60)
        assert len(failed) == 6
        assert all(ev["channel"] == "url 1" and ev["error"] for ev in failed)
    finally:
        hang.close()


def test_a_channel_that_is_down_is_an_audited_failure_without_its_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    notify_policy(tmp_path, monkeypatch, f"json://127.0.0.1:{port}/api/key-SECRET-3",
                  "nosuchscheme://whatever-SECRET-4")
    began = time.monotonic()
    assert ag("run", "--", *DEPLOY).returncode == 75
    assert time.monotonic() - began < 3.0
    failed = wait_events(state_dir, "notify_failed", n=2)
    assert [ev["channel"] for ev in failed] == ["url 1", "url 2"]
    assert "does not understand" in str(failed[1]["error"])
    assert "SECRET" not in (state_dir / "audit.jsonl").read_text()
    assert audit_events(state_dir, "notified") == []


def test_the_dashboard_link_is_given_without_its_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver,
        state_dir: Path) -> None:
    notify_policy(tmp_path, monkeypatch, f"json://127.0.0.1:{receiver.port}/")
    state_dir.mkdir(mode=0o700, exist_ok=True)
    (state_dir / "dashboard.json").write_text(json.dumps(
        {"url": "http://127.0.0.1:8765/?token=LOGIN-SECRET#t=x", "pid": os.getpid()}))
    assert ag("run", "--", *DEPLOY).returncode == 75
    [got] = receiver.wait_for(1)
    assert "dashboard: http://127.0.0.1:8765/" in got["message"]
    assert "LOGIN-SECRET" not in got["message"]


def test_a_secret_in_the_command_is_masked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    notify_policy(tmp_path, monkeypatch, f"json://127.0.0.1:{receiver.port}/")
    assert ag("run", "--", "deployer", "--token=hunter2-abc", "API_KEY=xyz123", "site",
              "--prod").returncode == 75
    [got] = receiver.wait_for(1)
    assert "hunter2" not in got["message"] and "xyz123" not in got["message"]
    assert "--token=****" in got["message"] and "site --prod" in got["message"]


# --------------------------------------------------------------------------- units


def test_redact_masks_secret_looking_values_only() -> None:
    assert redact("curl -H 'Authorization: Bearer abcdef123456' https://x") == \
        "curl -H 'Authorization: **** https://x"
    assert redact("mysql --password s3cr3t -h db") == "mysql --password **** -h db"
    assert redact("git push https://me:ghp_abc123@github.com/x") == \
        "git push https://me:****@github.com/x"
    assert redact("deploy --prod site") == "deploy --prod site"


def test_message_and_command_text() -> None:
    req = {"id": "apr_x", "kind": "script", "argv": ["ls | wc -l"], "cwd": "/w", "agent": "a",
           "rule": "r", "reason": "why"}
    title, body = message(req, None)
    assert "approval needed" in title
    assert "apr_x" in body and "ls | wc -l" in body and "dashboard" not in body
    assert command_text({"kind": "argv", "argv": ["echo", "a b"]}) == "echo 'a b'"
    assert len(command_text({"kind": "argv", "argv": ["x" * 5000]})) < 1100


def test_dashboard_url_is_none_for_a_dead_writer_or_another_scheme(tmp_path: Path) -> None:
    (tmp_path / "dashboard.json").write_text(json.dumps({"url": "http://127.0.0.1:1/", "pid": 2**22 + 7}))
    assert dashboard_url(str(tmp_path)) is None
    (tmp_path / "dashboard.json").write_text(json.dumps({"url": "javascript:alert(1)"}))
    assert dashboard_url(str(tmp_path)) is None
    (tmp_path / "dashboard.json").write_text(json.dumps({"url": "http://u:p@127.0.0.1:1/"}))
    assert dashboard_url(str(tmp_path)) is None
    assert dashboard_url(str(tmp_path / "none")) is None


BASE = 'version = 1\n[settings]\ndefault = "allow"\n'


@pytest.mark.parametrize(("notify", "says"), [
    ('[notify]\nurls = "json://x"\n', "list of apprise URLs"),
    ('[notify]\nurls = ["not a url"]\n', "#1 is not a URL"),
    ('[notify]\nurls = ["json://ok", "://nothing"]\n', "#2 is not a URL"),
    ('[notify]\nurl = ["json://x"]\n', "unknown key(s) in [notify]: url"),
    ('[notify]\ndesktop = "yes"\n', "notify.desktop must be true or false"),
    ('notify = ["json://x"]\n', "[notify] must be a table"),
])
def test_a_malformed_notify_section_is_a_load_error(notify: str, says: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy_file(BASE.replace("version = 1\n", "version = 1\n" + notify)
                          if notify.startswith("notify =") else BASE + notify, "p.toml")
    assert says in e.value.message


def test_a_repo_policy_may_not_say_where_requests_go() -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy_file(BASE + '[notify]\nurls = ["json://127.0.0.1:1/"]\n', "r.toml", "repo")
    assert "repo-local" in e.value.message


def test_notify_settings_load() -> None:
    pf = parse_policy_file(BASE + '[notify]\nurls = ["ntfy://ntfy.sh/t", "json://h/p"]\n'
                                  'desktop = false\n', "p.toml")
    assert pf.settings.notify_urls == ("ntfy://ntfy.sh/t", "json://h/p")
    assert pf.settings.notify_desktop is False
    assert parse_policy_file(BASE, "p.toml").settings.notify_desktop is True


def test_a_broken_notify_section_fails_closed_end_to_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_policy(tmp_path / "policy.toml")
    path.write_text(path.read_text() + '\n[notify]\nurls = "json://127.0.0.1:1/"\n')
    monkeypatch.setenv("AGENTGATE_POLICY", str(path))
    res = ag("run", "--", "deployer", "site")
    assert res.returncode == 78
    assert "notify.urls must be a list" in res.stderr


# --------------------------------------------------------------------------- the desktop


class FakeNotificationServer:
    """A private session bus (Debian's dbus-daemon; .ci/run installs it) with a stand-in for the
    desktop's notification service on it (org.freedesktop.Notifications, through jeepney)."""

    def __init__(self, where: Path) -> None:
        import subprocess

        from jeepney import HeaderFields, MessageType, new_method_return
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.address = f"unix:path={where / 'bus'}"
        self.daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                        f"--address={self.address}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (where / "bus").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.conn = open_dbus_connection(bus=self.address)
        self.conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
        self.got: list[tuple[object, ...]] = []
        self.stop = False

        def serve() -> None:
            while not self.stop:
                try:
                    msg = self.conn.receive(timeout=0.2)
                except TimeoutError:
                    continue
                except Exception:
                    return
                member = msg.header.fields.get(HeaderFields.member)
                if msg.header.message_type == MessageType.method_call and member == "Notify":
                    self.got.append(tuple(msg.body))
                    self.conn.send(new_method_return(msg, "u", (1,)))

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=2)
        self.conn.close()
        self.daemon.terminate()
        self.daemon.wait(timeout=5)


def test_a_desktop_notification_on_the_session_bus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    notify_policy(tmp_path, monkeypatch, desktop=True)
    desk = FakeNotificationServer(tmp_path)
    try:
        res = ag("run", "--", *DEPLOY, env={"DBUS_SESSION_BUS_ADDRESS": desk.address})
        assert res.returncode == 75
        [ev] = wait_events(state_dir, "notified", "notify_failed")
        assert ev["event"] == "notified" and ev["channel"] == "desktop", ev
        [(app, _, _, title, body, *_)] = desk.got
        rid = json.loads(ag("pending", "--json").stdout)[0]["id"]
        assert app == "agentgate" and "approval needed" in str(title)
        assert f"agentgate approve {rid}" in str(body) and "deployer site --prod" in str(body)
    finally:
        desk.close()


def test_no_session_bus_no_desktop_notification_and_a_dead_one_is_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    notify_policy(tmp_path, monkeypatch, desktop=True)
    assert ag("run", "--", *DEPLOY, env={"DBUS_SESSION_BUS_ADDRESS": None}).returncode == 75
    time.sleep(1.0)
    assert audit_events(state_dir, "notified", "notify_failed") == []  # no bus: nothing to say
    gone = f"unix:path={tmp_path / 'no-bus-here'}"
    assert ag("run", "--", "deployer", "x", "--prod",
              env={"DBUS_SESSION_BUS_ADDRESS": gone}).returncode == 75
    [ev] = wait_events(state_dir, "notify_failed")
    assert ev["channel"] == "desktop" and ev["error"]


def test_announcing_costs_the_gate_a_few_milliseconds(tmp_path: Path, state_dir: Path) -> None:
    """The in-process cost of starting the deliverer (what the gate's answer waits for)."""
    from agentgate.notify import announce
    from agentgate.paths import StatePaths

    event = {"id": "apr_cost", "kind": "argv", "argv": ["x"], "cwd": "/", "agent": "a",
             "rule": "r", "reason": "why", "user": "u"}
    costs = []
    for _ in range(5):
        began = time.perf_counter()
        announce(StatePaths(state_dir), event, ["json://127.0.0.1:9/"], False, 1 << 20)
        costs.append(time.perf_counter() - began)
    assert statistics.median(costs) < 0.02, costs
    wait_events(state_dir, "notify_failed", n=5, timeout=60)  # they all finish and say so


def test_a_notify_url_is_shown_by_its_scheme_only() -> None:
    from agentgate.notify import shown_url

    assert shown_url("tgram://123456:TOKEN/999") == "tgram://****"
    assert shown_url("nonsense") == "****"


@pytest.mark.parametrize("kind", ["argv", "text"])
def test_long_commands_are_cut_keeping_both_ends_and_still_masked(kind: str) -> None:
    """A 100,000-character word or a 100,000-word command is said cut in the middle, its first
    and last words kept (the flag that matters is often last), and a long secret value is still
    masked: the words are cut before the masking, whose regexes are quadratic in a word."""
    from agentgate.notify import MAX_TEXT, command_text

    for argv in (["deployer", "A" * 100_000, "--prod"], ["x"] * 100_000 + ["--prod"]):
        text = command_text({"kind": kind, "argv": argv})
        assert text.startswith("deployer" if argv[0] == "deployer" else "x x")
        assert text.endswith("--prod") and "cut]" in text and len(text) <= MAX_TEXT + 100
    secret = "S3cr3t" * 20_000
    for argv in (["deploy", f"--token={secret}"], ["deploy", "--api-key", secret, "--prod"]):
        text = command_text({"kind": kind, "argv": argv})
        assert "S3cr3t" not in text and "****" in text, text[:200]
