"""Protected mode end to end: the real `agentgate service install`, the real service as its own
OS user, and an unprivileged agent user who tries to get a held command through.

Needs root (CI runs as root): the module creates the users ``agentgate`` (by the install) and
``agprot``, and runs in a private mount namespace with tmpfs over ``/etc/agentgate``,
``/opt/agentgate``, ``/var/lib/agentgate`` and ``/run/agentgate``, so the rest of the machine
(and the other tests, which run in personal mode) never see a protected machine. The namespace
is left and the service stopped when the module ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AGENTGATE

from agentgate.service import protocol, secret
from agentgate.system import CLIENT_BIN, CLIENT_FILE, ETC, POLICY_FILE, PREFIX, RUN, SOCKET, STATE

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="protected mode's tests need root (CI runs as root)")

AGENT = "agprot"  # a user of its own (red-team scripts use agtest)
SECRET = "correct horse battery staple"
CLONE_NEWNS = 0x00020000
# The agents' machine-wide settings too: `hook install --system` writes there.
DIRS = (ETC, PREFIX, STATE, RUN, "/etc/claude-code", "/etc/codex", "/etc/gemini-cli", "/etc/cursor")
POLICY = """\
version = 1
[settings]
default = "allow"
[[rule]]
id = "prod"
decision = "ask"
reason = "Production deploys need a human."
commands = ["vercel ** --prod **"]
"""
FAKE_VERCEL = """#!/bin/sh
echo "$*" >> "$HOME/vercel-ran"
"""


class Machine:
    def __init__(self, work: Path, home: Path) -> None:
        self.work = work
        self.home = home
        self.marker = home / "vercel-ran"

    def agent_env(self, **extra: str) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": f"{self.home}/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8", **extra}

    def as_agent(self, *argv: str, input: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``argv`` as the agent user (in the service's group), from its work directory."""
        return subprocess.run(list(argv), user=AGENT, group=AGENT, extra_groups=["agentgate"],
                              env=env or self.agent_env(), cwd=self.work, input=input,
                              capture_output=True, text=True, timeout=timeout)

    def agent_run(self, *cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.as_agent(CLIENT_BIN, "run", "--", *cmd, **kw)  # type: ignore[arg-type]

    def root(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The human: the installed console script, as root."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGATE_")}
        return subprocess.run([AGENTGATE, *args], env=env, cwd=self.work, input=input,
                              capture_output=True, text=True, timeout=120)

    def ran(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.exists() else 0

    def held_id(self) -> str:
        r = self.as_agent(CLIENT_BIN, "run", "--json", "--", "vercel", "--prod")
        assert r.returncode == 75, r.stderr
        rid = json.loads(r.stdout)["approvalId"]
        assert rid.startswith("apr_")
        return str(rid)

    def approve(self, rid: str, secret_text: str = SECRET) -> subprocess.CompletedProcess[str]:
        return self.root("approve", rid, "--yes", "--secret-stdin", input=secret_text + "\n")

    def status_of(self, rid: str) -> str:
        r = self.root("show", rid, "--json")
        assert r.returncode == 0, r.stderr
        return str(json.loads(r.stdout)["status"])

    def service_pid(self) -> int:
        return int(Path(RUN, "service.pid").read_text())


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    original = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare")
    try:
        subprocess.run(["mount", "--make-rprivate", "/"], check=True)
        for d in DIRS:
            os.makedirs(d, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
        try:
            pwd.getpwnam(AGENT)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", AGENT], check=True)
        home = Path(pwd.getpwnam(AGENT).pw_dir)
        for leftover in ("vercel-ran", "work", "bin"):
            shutil.rmtree(home / leftover, ignore_errors=True)
            (home / leftover).unlink(missing_ok=True) if (home / leftover).is_file() else None
        (home / "bin").mkdir()
        (home / "bin" / "vercel").write_text(FAKE_VERCEL)
        (home / "bin" / "vercel").chmod(0o755)
        work = home / "work"
        work.mkdir()
        for p in (home / "bin", home / "bin" / "vercel", work):
            os.chown(p, pwd.getpwnam(AGENT).pw_uid, pwd.getpwnam(AGENT).pw_gid)
        policy = tmp_path_factory.mktemp("protected") / "policy.toml"
        policy.write_text(POLICY)
        m = Machine(work, home)
        r = m.root("service", "install", "--for", AGENT, "--secret-stdin", "--policy-file",
                   str(policy), input=SECRET + "\n")
        assert r.returncode == 0, r.stderr
        yield m
    finally:
        subprocess.run([AGENTGATE, "service", "uninstall", "--purge"], capture_output=True)
        subprocess.run(["pkill", "-KILL", "-f", f"{CLIENT_BIN} service run"], capture_output=True)
        for d in reversed(DIRS):
            subprocess.run(["umount", "-l", d], capture_output=True)
        _check(libc.setns(original, CLONE_NEWNS), "setns")
        os.close(original)


# --------------------------------------------------------------------------- set-up


def test_install_lays_out_the_machine(machine: Machine) -> None:
    st = os.stat(STATE)
    assert (st.st_mode & 0o777, pwd.getpwuid(st.st_uid).pw_name) == (0o700, "agentgate")
    for path in (CLIENT_FILE, POLICY_FILE, CLIENT_BIN, Path(PREFIX, "lib", "agentgate", "gate.py")):
        s = os.stat(path)
        assert s.st_uid == 0 and not s.st_mode & 0o022, path
    assert Path(CLIENT_BIN).read_text().startswith("#!/") and " -IS\n" in Path(CLIENT_BIN).read_text()
    sock = os.stat(SOCKET)
    assert sock.st_mode & 0o777 == 0o660
    key = os.stat(Path(STATE, secret.KEY_FILE))
    assert key.st_mode & 0o777 == 0o600 and SECRET not in Path(STATE, secret.KEY_FILE).read_text()
    service = pwd.getpwnam("agentgate").pw_uid
    assert os.stat(f"/proc/{machine.service_pid()}").st_uid == service


def test_status_answers_for_the_agent_too(machine: Machine) -> None:
    r = machine.as_agent(CLIENT_BIN, "service", "status", "--json")
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["mode"] == "protected" and status["secret"] is True


# --------------------------------------------------------------------------- the agent's tries


def test_a_held_command_is_held_and_a_benign_one_runs(machine: Machine) -> None:
    before = machine.ran()
    machine.held_id()
    assert machine.ran() == before
    r = machine.agent_run("vercel", "ls")
    assert r.returncode == 0, r.stderr
    assert machine.ran() == before + 1


def test_approving_without_the_secret_approves_nothing(machine: Machine) -> None:
    rid = machine.held_id()
    tries = [
        machine.as_agent(CLIENT_BIN, "approve", rid, "--yes", "--secret-stdin", input="guess\n"),
        machine.as_agent(CLIENT_BIN, "approve", rid, "--yes"),  # no terminal, no secret
        machine.as_agent("/usr/bin/python3", "-c",
                         "import sys; sys.path.insert(0, '/opt/agentgate/lib'); "
                         "from agentgate.entry import main; "
                         f"sys.argv = ['agentgate', 'approve', '{rid}', '--yes']; main()"),
    ]
    for r in tries:
        assert r.returncode != 0, r.stdout
    assert machine.status_of(rid) == "pending"
    assert machine.agent_run("vercel", "--prod").returncode == 75
    _reset_lockout()


def _raw(requests: list[dict[str, object]], user: str = AGENT) -> list[dict[str, object]]:
    """Hand-written requests on the service's socket, as ``user``: the answers."""
    code = ("import json, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rwb')\n"
            "for line in sys.stdin:\n"
            "    f.write(line.encode()); f.flush(); print(f.readline().decode().strip())\n")
    proc = subprocess.run(["/usr/bin/python3", "-c", code, SOCKET], user=user, group=user,
                          extra_groups=["agentgate"], env={"PATH": "/usr/bin:/bin"},
                          input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _reset_lockout() -> None:
    Path(STATE, secret.ATTEMPTS_FILE).unlink(missing_ok=True)


def test_hand_written_approvals_on_the_socket_are_refused(machine: Machine) -> None:
    rid = machine.held_id()
    nonce_answer = _raw([{"op": "challenge"}])[0]
    assert nonce_answer["ok"] is True and "key" not in json.dumps(nonce_answer["kdf"])
    answers = _raw([
        {"op": "approve", "id": rid, "ttl": None},
        {"op": "approve", "id": rid, "ttl": None, "nonce": "0" * 32, "proof": "0" * 64},
        {"op": "approve", "id": rid, "ttl": None, "nonce": nonce_answer["nonce"], "proof": "ab" * 32},
        {"op": "status; rm -rf /"},
        {"op": "approve", "id": rid, "ttl": None, "nonce": nonce_answer["nonce"],
         "proof": "ab" * 32},
        {"op": "approve", "id": rid, "ttl": None, "uses": 1001},
    ])
    assert [a["ok"] for a in answers] == [False] * 6
    assert "--uses takes 1 to 1000, not 1001" in json.dumps(answers[-1])  # the core's one message
    assert machine.status_of(rid) == "pending"
    _reset_lockout()


def test_a_replayed_approval_message_approves_nothing(machine: Machine) -> None:
    """A message captured from a real approval (built here with the key) works once, for its
    own request, and never again."""
    verifier = secret.Verifier(json.loads(Path(STATE, secret.KEY_FILE).read_text()))
    first, second = machine.held_id(), _second_request(machine)
    nonce = str(_raw([{"op": "challenge"}])[0]["nonce"])
    fields: dict[str, object] = {"op": "approve", "id": first, "ttl": None}
    message = {**fields, "nonce": nonce, "proof": protocol.make_proof(verifier.key, fields, nonce)}
    answers = _raw([message, message, {**message, "id": second}])
    assert [a["ok"] for a in answers] == [True, False, False], answers
    assert machine.status_of(second) == "pending"
    assert machine.agent_run("vercel", "--prod").returncode == 0  # the one approved, once
    assert machine.agent_run("vercel", "--prod").returncode == 75
    _reset_lockout()


def _second_request(machine: Machine) -> str:
    r = machine.as_agent(CLIENT_BIN, "run", "--json", "--", "vercel", "deploy", "--prod")
    assert r.returncode == 75, r.stderr
    return str(json.loads(r.stdout)["approvalId"])


def test_redirecting_the_client_is_refused_and_nothing_runs(machine: Machine) -> None:
    allow_all = machine.home / "allow.toml"
    allow_all.write_text('version = 1\n[settings]\ndefault = "allow"\n')
    os.chown(allow_all, pwd.getpwnam(AGENT).pw_uid, -1)
    before = machine.ran()
    tries = [
        machine.agent_run("vercel", "--prod", env=machine.agent_env(AGENTGATE_HOME=str(machine.home))),
        machine.agent_run("vercel", "--prod", env=machine.agent_env(AGENTGATE_POLICY=str(allow_all))),
        machine.agent_run("vercel", "--prod", env=machine.agent_env(AGENTGATE_CONFIG_DIR=str(machine.home))),
        machine.agent_run("vercel", "--prod", env=machine.agent_env(
            XDG_CONFIG_HOME=str(machine.home / ".config"), XDG_STATE_HOME=str(machine.home),
            PYTHONPATH=str(machine.home), PYTHONSTARTUP=str(allow_all))),
        machine.as_agent(CLIENT_BIN, "--policy", str(allow_all), "run", "--", "vercel", "--prod"),
    ]
    for r in tries:
        assert r.returncode in (75, 78), (r.returncode, r.stderr)
    assert machine.ran() == before


def test_the_agent_cannot_touch_the_state_the_policy_or_the_service(machine: Machine) -> None:
    tries = [
        ("sh", "-c", f"echo x >> {POLICY_FILE}"),
        ("sh", "-c", f"echo '{{}}' > {STATE}/ledger.json"),
        ("rm", "-f", CLIENT_FILE),
        ("sh", "-c", f"rm -f {SOCKET}"),
        ("sh", "-c", f"echo x >> {CLIENT_BIN}"),
        ("kill", "-9", str(machine.service_pid())),
        ("kill", "-STOP", str(machine.service_pid())),
    ]
    for argv in tries:
        r = machine.as_agent(*argv)
        assert r.returncode != 0, argv
    assert machine.root("service", "status").returncode == 0
    assert machine.agent_run("vercel", "--prod").returncode == 75


def test_the_human_approves_with_the_secret_and_exactly_one_retry_runs(machine: Machine) -> None:
    rid = machine.held_id()
    before = machine.ran()
    r = machine.approve(rid)
    assert r.returncode == 0, r.stderr
    assert machine.agent_run("vercel", "--prod").returncode == 0
    assert machine.ran() == before + 1
    assert machine.agent_run("vercel", "--prod").returncode == 75
    assert machine.ran() == before + 1


def test_sixteen_racers_on_one_grant_exactly_one_runs(machine: Machine) -> None:
    rid = machine.held_id()
    assert machine.approve(rid).returncode == 0
    before = machine.ran()
    procs = [subprocess.Popen([CLIENT_BIN, "run", "--", "vercel", "--prod"], user=AGENT,
                              group=AGENT, extra_groups=["agentgate"], env=machine.agent_env(),
                              cwd=machine.work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(16)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes.count(0) == 1 and codes.count(75) == 15, codes
    assert machine.ran() == before + 1


def test_brute_forcing_the_secret_locks_approvals(machine: Machine) -> None:
    rid = machine.held_id()
    for i in range(secret.FREE_TRIES):
        r = machine.as_agent(CLIENT_BIN, "approve", rid, "--yes", "--secret-stdin",
                             input=f"guess number {i}\n")
        assert r.returncode == 77, r.stderr
    r = machine.as_agent(CLIENT_BIN, "approve", rid, "--yes", "--secret-stdin",
                         input=SECRET + "\n")  # even the right secret waits out the lockout
    assert r.returncode == 77 and "locked" in r.stderr, r.stderr
    assert machine.status_of(rid) == "pending"
    log = Path(STATE, "audit.jsonl").read_text().splitlines()
    checked = [json.loads(line) for line in log if '"secret_checked"' in line]
    uid = pwd.getpwnam(AGENT).pw_uid
    assert sum(1 for e in checked if e.get("peer_uid") == uid and e["result"] == "refused") >= 5
    assert all("peer_pid" in e for e in checked)
    assert machine.approve(rid).returncode == 0  # the agent's guesses lock out its uid, not root
    assert machine.agent_run("vercel", "--prod").returncode == 0  # the grant, used up
    _reset_lockout()


def test_hooks_fail_closed_while_the_service_is_down_and_it_comes_back(machine: Machine) -> None:
    hook_input = json.dumps({"session_id": "s", "hook_event_name": "PreToolUse",
                             "tool_name": "Bash", "cwd": str(machine.work),
                             "tool_input": {"command": "vercel --prod"}})
    r = machine.as_agent(CLIENT_BIN, "hook", "claude-code", input=hook_input)
    assert r.returncode in (0, 2) and "deny" in r.stdout + r.stderr, (r.stdout, r.stderr)
    os.kill(machine.service_pid(), signal.SIGKILL)
    time.sleep(0.2)
    down = machine.agent_run("true")
    assert down.returncode == 78 and "service status" in down.stderr, down.stderr
    r = machine.as_agent(CLIENT_BIN, "hook", "claude-code", input=hook_input)
    assert r.returncode == 2 or '"deny"' in r.stdout, (r.returncode, r.stdout, r.stderr)
    report = json.dumps({**json.loads(hook_input), "hook_event_name": "PostToolUse",
                         "tool_use_id": "u-down", "tool_response": {"interrupted": False}})
    started = time.monotonic()
    r = machine.as_agent(CLIENT_BIN, "hook", "claude-code", input=report)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r  # a report never blocks
    assert time.monotonic() - started < 10
    errors = machine.as_agent("/bin/sh", "-c", "cat \"${XDG_STATE_HOME:-$HOME/.local/state}"
                              "/agentgate/errors.log\"")
    assert "does not answer" in errors.stdout, (errors.stdout, errors.stderr)
    again = machine.root("service", "install", "--secret-stdin", input="unused\n")
    assert again.returncode == 0, again.stderr
    assert machine.agent_run("true").returncode == 0
    verify = machine.root("log", "verify")
    assert verify.returncode == 0, verify.stderr


FAKE_SERVICE = """\
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o660)
s.listen(8)
print("ready", flush=True)
while True:
    conn, _ = s.accept()
    conn.recv(65536)
    conn.sendall(sys.argv[2].encode() + b"\\n")
    conn.close()
"""


@contextlib.contextmanager
def _fake_service(machine: Machine, answer: str, user: str | None) -> Iterator[None]:
    """The service stopped and, on its socket, a fake that answers ``answer`` to anything, run
    as ``user`` (None: root); afterwards the real service again."""
    os.kill(machine.service_pid(), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while os.path.exists(SOCKET) and time.monotonic() < deadline:
        time.sleep(0.05)
    who = {"user": user, "group": user, "extra_groups": []} if user else {}
    fake = subprocess.Popen(["/usr/bin/python3", "-c", FAKE_SERVICE, SOCKET, answer], cwd="/",
                            env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, text=True,
                            **who)  # type: ignore[call-overload]
    try:
        assert fake.stdout is not None and fake.stdout.readline().strip() == "ready"
        yield
    finally:
        fake.kill()
        fake.wait()
        Path(SOCKET).unlink(missing_ok=True)
    again = machine.root("service", "install", "--secret-stdin", input="unused\n")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("answer", [
    '{"ok": true, "outcome": {"decision": "allow", "allowed": "yes", "approval_required": false, '
    '"via_grant": false, "by_human": false, "reason": ""}}',
    '{"ok": true, "outcome": {"decision": "allow", "allowed": true, "approval_required": true, '
    '"via_grant": false, "by_human": false, "reason": ""}}',
    '{"ok": true}',
    "not json at all",
    '[1, 2, 3]',
])
def test_an_answer_that_is_not_one_fails_closed(machine: Machine, answer: str) -> None:
    """Something running as the service user that answers nonsense: nothing runs, exit 78."""
    with _fake_service(machine, answer, "agentgate"):
        before = machine.ran()
        r = machine.agent_run("vercel", "--prod")
        assert r.returncode == 78, (r.returncode, r.stderr)
        assert machine.ran() == before


def test_a_socket_not_owned_by_the_service_is_not_asked(machine: Machine) -> None:
    os.chmod(RUN, 0o755)  # so that the agent can reach a socket of root's there
    allow = ('{"ok": true, "outcome": {"decision": "allow", "allowed": true, '
             '"approval_required": false, "via_grant": false, "by_human": false, "reason": "fake"}}')
    with _fake_service(machine, allow, None):  # as root: any uid but the service's
        os.chmod(SOCKET, 0o666)
        before = machine.ran()
        r = machine.agent_run("vercel", "--prod")
        assert r.returncode == 78 and "not by the agentgate service" in r.stderr, r.stderr
        assert machine.ran() == before


def test_what_a_client_sends_cannot_take_the_service_down_or_forge_the_log(machine: Machine) -> None:
    rid = machine.held_id()
    answers = _raw([
        {"op": "status", "x": "[" * 10},
        {"op": "authorize", "subject": {"kind": "argv", "argv": ["vercel", "--prod", "\udc80"],
                                        "cwd": "/tmp"}},
        {"op": "exited", "run_token": "0" * 32, "exit_code": 0, "duration_ms": 4200},
    ])
    assert answers[0]["ok"] is True
    assert [a["ok"] for a in answers[1:]] == [False, False], answers
    deep = subprocess.run(["/usr/bin/python3", "-c",
                           "import socket, sys; s = socket.socket(socket.AF_UNIX); "
                           "s.connect(sys.argv[1]); s.sendall(b'[' * 100000 + b'\\n'); "
                           "print(s.recv(65536).decode())", SOCKET],
                          user=AGENT, group=AGENT, extra_groups=["agentgate"], capture_output=True,
                          text=True, timeout=60, cwd="/")
    assert '"ok":false' in deep.stdout, deep.stdout + deep.stderr
    assert machine.root("service", "status").returncode == 0  # still up
    log = Path(STATE, "audit.jsonl").read_text()
    assert '"exit_code":0,"duration_ms":4200' not in log
    assert machine.status_of(rid) == "pending"


def test_a_grant_is_the_requesters_alone(machine: Machine) -> None:
    r = machine.root("run", "--json", "--", "vercel", "--prod", "--from-root")
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    assert machine.approve(rid).returncode == 0
    before = machine.ran()
    assert machine.agent_run("vercel", "--prod", "--from-root").returncode == 75
    assert machine.ran() == before
    denied = machine.as_agent(CLIENT_BIN, "deny", "--yes", rid, "--reason", "agent says no")
    assert denied.returncode == 77, denied.stderr


def test_a_grant_is_the_asking_agents_alone_through_the_service(machine: Machine) -> None:
    """The same user's other agent (another name on the same uid) gets a request of its own;
    the grant waits for the agent that asked, and is used once."""
    def run(agent: str | None) -> subprocess.CompletedProcess[str]:
        named = ["--agent", agent] if agent else []
        return machine.as_agent(CLIENT_BIN, "run", "--json", *named, "--", "vercel", "--prod",
                                "--by-agent")

    asked = run("claude-code")
    assert asked.returncode == 75, asked.stderr
    rid = json.loads(asked.stdout)["approvalId"]
    assert machine.approve(rid).returncode == 0
    before = machine.ran()
    others = set()
    for agent in ("codex", None):
        held = run(agent)
        assert held.returncode == 75, held.stderr
        others.add(json.loads(held.stdout)["approvalId"])
    assert rid not in others and len(others) == 2 and machine.ran() == before
    pending = {r["id"]: r["agent"] for r in json.loads(machine.root("pending", "--json").stdout)}
    assert {pending[i] for i in others} == {"codex", "unknown"} and rid not in pending
    assert machine.status_of(rid) == "approved"
    used = run("claude-code")
    assert used.returncode == 0, used.stderr
    assert f"allowed once by approved grant {rid}" in used.stderr
    assert machine.ran() == before + 1 and machine.status_of(rid) == "consumed"
    assert run("claude-code").returncode == 75
    for other in others:  # leave nothing pending for the tests after this one
        assert machine.root("deny", other, "--yes").returncode == 0


def test_clients_that_pipeline_and_never_read_do_not_stall_the_others(machine: Machine) -> None:
    flood = ("import socket, sys, time\n"
             "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
             "s.setblocking(False)\n"
             "data = b'{\"op\": \"status\"}\\n' * 4000\n"
             "try:\n    s.sendall(data)\nexcept BlockingIOError:\n    pass\n"
             "print('sent', flush=True); time.sleep(60)\n")
    attackers = [subprocess.Popen(["/usr/bin/python3", "-c", flood, SOCKET], user=AGENT,
                                  group=AGENT, extra_groups=["agentgate"], cwd="/",
                                  env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, text=True)
                 for _ in range(8)]
    try:
        for a in attackers:
            assert a.stdout is not None and a.stdout.readline().strip() == "sent"
        r = machine.agent_run("true")  # the client gives up (78) after its 30 s timeout
        assert r.returncode == 0, r.stderr
        assert machine.root("service", "status").returncode == 0
    finally:
        for a in attackers:
            a.kill()
            a.wait()


def test_with_an_authenticator_each_approval_needs_a_fresh_code(machine: Machine) -> None:
    import base64

    enrol = machine.root("service", "install", "--totp", "--secret-stdin", input="unused\n")
    assert enrol.returncode == 0 and "otpauth://totp/agentgate:" in enrol.stderr, enrol.stderr
    assert "\u2580" in enrol.stderr or "\u2584" in enrol.stderr or "\u2588" in enrol.stderr  # the QR
    try:
        key = base64.b32decode(json.loads(Path(STATE, secret.TOTP_FILE).read_text())["secret"])

        def code() -> str:
            return secret.totp_code(key, int(time.time() // secret.TOTP_PERIOD))

        first, second = machine.held_id(), _second_request(machine)
        assert machine.approve(first).returncode != 0  # the passphrase alone
        r = machine.root("approve", first, "--yes", "--secret-stdin",
                         input=f"{SECRET}\n{(int(code()) + 1) % 10**6:06d}\n")
        assert r.returncode == 77 and "authenticator" in r.stderr, r.stderr
        now_code = code()
        r = machine.root("approve", first, "--yes", "--secret-stdin", input=f"{SECRET}\n{now_code}\n")
        assert r.returncode == 0, r.stderr
        r = machine.root("approve", second, "--yes", "--secret-stdin", input=f"{SECRET}\n{now_code}\n")
        assert r.returncode == 77, r.stderr  # that code is used up
        assert machine.status_of(second) == "pending"
        assert machine.agent_run("vercel", "--prod").returncode == 0  # the first one, once
    finally:
        off = machine.root("service", "install", "--no-totp", "--secret-stdin", input="unused\n")
        assert off.returncode == 0, off.stderr
        _reset_lockout()


def test_a_service_killed_mid_request_restarts_with_its_state_and_chain(machine: Machine) -> None:
    racers = [subprocess.Popen([CLIENT_BIN, "run", "--", "vercel", "--prod", f"--n{i}"],
                               user=AGENT, group=AGENT, extra_groups=["agentgate"],
                               env=machine.agent_env(), cwd=machine.work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for i in range(12)]
    time.sleep(0.15)
    os.kill(machine.service_pid(), signal.SIGKILL)
    codes = [p.wait(timeout=120) for p in racers]
    assert set(codes) <= {75, 78}, codes  # held, or failed closed: never run
    again = machine.root("service", "install", "--secret-stdin", input="unused\n")
    assert again.returncode == 0, again.stderr
    verify = machine.root("log", "verify", "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True, verify.stdout
    assert machine.agent_run("vercel", "--prod", "--n0").returncode == 75


def test_the_machine_wide_hook_runs_the_root_owned_client(machine: Machine) -> None:
    r = machine.root("hook", "install", "claude-code", "--system")
    assert r.returncode == 0, r.stderr
    managed = json.loads(Path("/etc/claude-code/managed-settings.json").read_text())
    assert managed.get("allowManagedHooksOnly") is True
    commands = [h["command"] for entry in managed["hooks"]["PreToolUse"] for h in entry["hooks"]]
    assert any(c.startswith(CLIENT_BIN + " hook claude-code") for c in commands), commands
    command = next(c for c in commands if c.startswith(CLIENT_BIN))
    hook_input = json.dumps({"session_id": "s", "hook_event_name": "PreToolUse",
                             "tool_name": "Bash", "cwd": str(machine.work),
                             "tool_input": {"command": "vercel --prod"}})
    r = machine.as_agent("sh", "-c", command, input=hook_input)
    assert '"deny"' in r.stdout, (r.returncode, r.stdout, r.stderr)


def test_the_mcp_server_asks_the_service(machine: Machine) -> None:
    """The root-owned install carries the mcp extra; run_command is held like `run`."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-03-26", "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "run_command", "arguments": {"command": ["vercel", "--prod", "--mcp"],
                                                         "cwd": str(machine.work)}}},
    ]
    proc = subprocess.Popen([CLIENT_BIN, "mcp", "--agent", "mcp-test"], user=AGENT, group=AGENT,
                            extra_groups=["agentgate"], env=machine.agent_env(),
                            cwd=machine.work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    answers: dict[int, dict[str, object]] = {}
    try:
        for m in messages:
            proc.stdin.write(json.dumps(m) + "\n")
            proc.stdin.flush()
            while "id" in m and m["id"] not in answers:
                line = proc.stdout.readline()
                assert line, proc.stderr.read() if proc.stderr else ""
                got = json.loads(line)
                if "id" in got:
                    answers[got["id"]] = got
    finally:
        proc.kill()
        proc.wait()
    result = answers[2]["result"]
    assert isinstance(result, dict)
    payload = result.get("structuredContent") or json.loads(result["content"][0]["text"])
    assert payload["approvalRequired"] is True and payload["approvalId"].startswith("apr_"), payload
    pending = machine.root("pending", "--json")
    assert any(r["agent"] == "mcp-test" for r in json.loads(pending.stdout))


def test_an_agent_cannot_use_up_the_challenges_or_read_others_requests(machine: Machine) -> None:
    r = machine.root("run", "--json", "--", "vercel", "--prod", "--token=ROOTS-SECRET")
    assert r.returncode == 75, r.stderr
    rid = json.loads(r.stdout)["approvalId"]
    own = machine.held_id()
    status = json.loads(machine.as_agent(CLIENT_BIN, "service", "status", "--json").stdout)
    assert own in [p["id"] for p in status["pendingRequests"]]
    assert "ROOTS-SECRET" not in json.dumps(status)
    shown = machine.root("service", "status")
    assert shown.returncode == 0 and rid in shown.stderr and "pending requests:" in shown.stderr
    answers = _raw([{"op": "challenge"}] * 1100 + [{"op": "get", "id": rid}])
    assert all(a["ok"] for a in answers[:-1]) and answers[-1]["ok"] is False
    mine = machine.as_agent(CLIENT_BIN, "pending", "--json")
    assert mine.returncode == 0 and "ROOTS-SECRET" not in mine.stdout
    assert machine.approve(rid).returncode == 0  # root's room for challenges is its own
    deny = machine.root("deny", "--yes", rid)  # approved: a conflict, not a crash
    assert deny.returncode != 0


def test_the_log_is_read_through_the_service_each_user_their_own(machine: Machine) -> None:
    r = machine.root("run", "--", "vercel", "--prod", "--roots-own-line")
    assert r.returncode == 75, r.stderr
    machine.held_id()
    mine = machine.as_agent(CLIENT_BIN, "log", "--json", "--event", "approval_requested")
    assert mine.returncode == 0, mine.stderr
    events = [json.loads(line) for line in mine.stdout.splitlines()]
    assert events and all(e["user"] == AGENT for e in events)
    assert "--roots-own-line" not in mine.stdout
    everyone = machine.root("log", "--json", "--event", "approval_requested", "--tail", "500")
    assert "--roots-own-line" in everyone.stdout and f'"user":"{AGENT}"' in everyone.stdout
    summary = machine.as_agent(CLIENT_BIN, "log", "summary", "--json")
    assert summary.returncode == 0 and json.loads(summary.stdout)["events"] >= len(events)
    assert machine.as_agent(CLIENT_BIN, "log", "--event", "nonsense").returncode == 2


def test_install_warns_about_a_gated_user_with_passwordless_sudo(machine: Machine) -> None:
    assert shutil.which("sudo"), "sudo is needed here (.ci/run installs it)"
    d = "/etc/sudoers.d"
    os.makedirs(d, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
    try:
        quiet = machine.root("service", "install", "--for", AGENT, "--secret-stdin", input="x\n")
        assert quiet.returncode == 0 and "WARNING" not in quiet.stderr, quiet.stderr
        rule = Path(d, "agprot-test")
        rule.write_text(f"{AGENT} ALL=(ALL) NOPASSWD: ALL\n")
        rule.chmod(0o440)
        loud = machine.root("service", "install", "--for", AGENT, "--secret-stdin", input="x\n")
        assert loud.returncode == 0, loud.stderr
        assert f"WARNING: {AGENT} can run sudo without a password" in loud.stderr, loud.stderr
    finally:
        subprocess.run(["umount", "-l", d], check=True)


def _held(machine: Machine, *extra: str) -> str:
    r = machine.as_agent(CLIENT_BIN, "run", "--json", "--", "vercel", "--prod", *extra)
    assert r.returncode == 75, r.stderr
    return str(json.loads(r.stdout)["approvalId"])


def test_approve_uses_and_for_through_the_service_with_the_secret(machine: Machine) -> None:
    """issue 12: counted and standing grants in protected mode, each with the approver secret
    (the proof covers how much is granted); the agent is told a standing approval let it run."""
    rid = _held(machine, "--twice")
    wrong = machine.root("approve", rid, "--yes", "--uses", "2", "--secret-stdin", input="guess\n")
    assert wrong.returncode != 0 and machine.status_of(rid) == "pending"
    r = machine.root("approve", rid, "--yes", "--uses", "2", "--secret-stdin", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    before = machine.ran()
    for left in (1, 0):
        run = machine.agent_run("vercel", "--prod", "--twice")
        assert run.returncode == 0, run.stderr
        said = f"{left} of 2 runs left" if left else "that was the last of its 2 runs"
        assert said in run.stderr, run.stderr
    assert machine.agent_run("vercel", "--prod", "--twice").returncode == 75
    assert machine.ran() == before + 2

    rid = _held(machine, "--period")
    r = machine.root("approve", rid, "--yes", "--for", "1h", "--secret-stdin", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    for _ in range(3):
        assert machine.agent_run("vercel", "--prod", "--period").returncode == 0
    withdrawn = machine.root("revoke", rid, "--yes")  # stricter: no secret needed
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert machine.status_of(rid) == "revoked"
    assert machine.agent_run("vercel", "--prod", "--period").returncode == 75


def test_lifting_a_denial_through_the_service_needs_the_secret(machine: Machine) -> None:
    rid = _held(machine, "--lift")
    assert machine.root("deny", rid, "--yes", "--reason", "no").returncode == 0
    assert machine.agent_run("vercel", "--prod", "--lift").returncode == 77
    by_agent = machine.as_agent(CLIENT_BIN, "revoke", rid, "--yes", "--secret-stdin",
                                input="guess\n")
    assert by_agent.returncode != 0 and machine.status_of(rid) == "denied"
    no_secret = machine.root("revoke", rid, "--yes", "--secret-stdin", input="wrong\n")
    assert no_secret.returncode != 0 and machine.status_of(rid) == "denied"
    r = machine.root("revoke", rid, "--yes", "--secret-stdin", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert machine.status_of(rid) == "revoked"
    assert machine.agent_run("vercel", "--prod", "--lift").returncode == 75  # asks again
    lines = [json.loads(ln) for ln in machine.root("log", "--json", "--id", rid).stdout.splitlines()]
    checked = [(e.get("op"), e.get("result")) for e in lines if e["event"] == "secret_checked"]
    assert checked[-1] == ("revoke", "ok"), lines
    assert lines[-1]["event"] == "revoked" and lines[-1]["was"] == "denied", lines


def test_policy_show_through_the_service(machine: Machine) -> None:
    """issue 12: `policy show` shows the service's policy (as the agent's user too)."""
    for r in (machine.root("policy", "show", "--json"),
              machine.as_agent(CLIENT_BIN, "policy", "show", "--json")):
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["sources"][0]["path"] == POLICY_FILE
        assert [x["id"] for x in shown["sources"][0]["rules"]] == ["prod"]
        assert shown["exceptions"] == []


def _exceptions_shown(machine: Machine) -> list[dict[str, object]]:
    r = machine.as_agent(CLIENT_BIN, "policy", "show", "--json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout)["exceptions"])


def test_remember_through_the_service_with_the_secret(machine: Machine) -> None:
    """issue 12: `approve --remember` in protected mode. The service writes the standing
    exception into its own file (never root's policy) when the approver secret's proof covers
    "remember"; the agent's user cannot add one through its personal policy, a repo policy, the
    file itself or the socket; the exception never relaxes a deny; `policy forget` takes the
    secret too, and then the command asks again."""
    cmd = ("vercel", "--prod", "--remember-me")
    exceptions_file = Path(STATE, "exceptions.toml")
    fake = (f'[[exception]]\nid = "exc_agent0001"\nkind = "argv"\ncommand = {json.dumps(list(cmd))}\n'
            f'cwd = "{machine.work}"\nrule = "prod"\n')
    personal = machine.home / ".config" / "agentgate" / "policy.toml"
    repo = machine.work / ".agentgate.toml"
    uid = pwd.getpwnam(AGENT).pw_uid
    personal.parent.mkdir(parents=True, exist_ok=True)
    personal.write_text(POLICY.replace('"ask"', '"allow"') + fake)
    repo.write_text('[[rule]]\nid = "unrelated"\ndecision = "deny"\ncommands = ["never-this"]\n'
                    + fake)
    for p in (machine.home / ".config", personal.parent, personal, repo):
        os.chown(p, uid, uid)
    try:
        rid = _held(machine, "--remember-me")  # neither file's exception (nor allow) counts
        assert _exceptions_shown(machine) == []
    finally:
        repo.unlink()
        shutil.rmtree(machine.home / ".config")
    # the agent: a wrong secret, no secret, the file, the socket without a proof of "remember"
    tries = [machine.as_agent(CLIENT_BIN, "approve", rid, "--yes", "--remember", "--secret-stdin",
                              input="guess\n"),
             machine.as_agent(CLIENT_BIN, "approve", rid, "--yes", "--remember"),
             machine.as_agent("/usr/bin/python3", "-c",
                              f"open({str(exceptions_file)!r}, 'a').write({fake!r})")]
    assert all(r.returncode != 0 for r in tries), [(r.returncode, r.stderr) for r in tries]
    verifier = secret.Verifier(json.loads(Path(STATE, secret.KEY_FILE).read_text()))
    nonce = str(_raw([{"op": "challenge"}])[0]["nonce"])
    once: dict[str, object] = {"op": "approve", "id": rid, "ttl": None}  # a proof of a plain approval
    [answer] = _raw([{**once, "remember": True, "nonce": nonce,
                      "proof": protocol.make_proof(verifier.key, once, nonce)}])
    assert answer["ok"] is False, answer
    assert not exceptions_file.exists() and machine.status_of(rid) == "pending"
    _reset_lockout()

    r = machine.root("approve", rid, "--yes", "--remember", "--secret-stdin", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert str(exceptions_file) in r.stdout + r.stderr
    st = exceptions_file.stat()
    assert (pwd.getpwuid(st.st_uid).pw_name, st.st_mode & 0o777) == ("agentgate", 0o600)
    assert "[[exception]]" in exceptions_file.read_text()
    assert "exception" not in Path(POLICY_FILE).read_text()  # root's policy is untouched
    [shown] = _exceptions_shown(machine)
    assert (shown["command"], shown["cwd"], shown["rule"]) == (list(cmd), str(machine.work), "prod")
    eid = str(shown["id"])
    before = machine.ran()
    for _ in range(3):
        run = machine.agent_run(*cmd)
        assert run.returncode == 0, run.stderr
    assert machine.ran() == before + 3
    assert machine.agent_run("vercel", "--prod", "--remember-me", "--other").returncode == 75
    elsewhere = subprocess.run([CLIENT_BIN, "run", "--", *cmd], user=AGENT, group=AGENT,
                               extra_groups=["agentgate"], env=machine.agent_env(),
                               cwd=machine.home, capture_output=True, text=True, timeout=60)
    assert elsewhere.returncode == 75, elsewhere.stderr  # that directory only
    repo.write_text('[[rule]]\nid = "no-remember"\ndecision = "deny"\n'
                    'commands = ["vercel ** --remember-me"]\n')
    try:
        assert machine.agent_run(*cmd).returncode == 77  # never relaxes a deny
    finally:
        repo.unlink()

    tries = [machine.as_agent(CLIENT_BIN, "policy", "forget", eid, "--secret-stdin",
                              input="guess\n"),
             machine.as_agent(CLIENT_BIN, "policy", "forget", eid)]
    assert all(r.returncode != 0 for r in tries), [(r.returncode, r.stderr) for r in tries]
    assert _raw([{"op": "forget", "exception": eid}])[0]["ok"] is False
    assert [e["id"] for e in _exceptions_shown(machine)] == [eid]
    _reset_lockout()
    r = machine.root("policy", "forget", eid, "--secret-stdin", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert _exceptions_shown(machine) == [] and "[[exception]]" not in exceptions_file.read_text()
    assert machine.agent_run(*cmd).returncode == 75  # asks again
    events = [json.loads(ln) for ln in machine.root("log", "--json").stdout.splitlines()]
    assert [(e["event"], e.get("exception")) for e in events
            if e["event"] in ("exception_added", "exception_removed")][-2:] == [
        ("exception_added", eid), ("exception_removed", eid)], events[-10:]
    checked = [(e.get("op"), e.get("result")) for e in events if e["event"] == "secret_checked"]
    assert checked[-1] == ("forget", "ok")


def _codex_call(machine: Machine, use: str, command: str) -> str:
    return json.dumps({"session_id": "s-dedupe", "turn_id": "t-1", "transcript_path": None,
                       "cwd": str(machine.work), "hook_event_name": "PreToolUse",
                       "model": "gpt-5", "permission_mode": "default", "tool_name": "Bash",
                       "tool_input": {"command": command}, "tool_use_id": use})


def _consumed(machine: Machine, rid: str) -> int:
    lines = machine.root("log", "--json", "--id", rid).stdout.splitlines()
    return [json.loads(ln)["event"] for ln in lines].count("grant_consumed")


def test_one_decision_per_tool_call_through_the_service(machine: Machine) -> None:
    """issue 11: the copies of a hook an agent runs for one tool call (Codex runs every copy it
    finds) get one decision in protected mode too: the approved retry is allowed for each copy,
    one after the other or at once, and its grant is used once; the service remembers that
    allow (for that user, agent, call and command only), nothing the agent can write does."""
    command = "vercel --prod --dedupe"

    def hook(use: str, what: str = command) -> subprocess.CompletedProcess[str]:
        return machine.as_agent(CLIENT_BIN, "hook", "codex", input=_codex_call(machine, use, what))

    held = [hook("call-1"), hook("call-1")]
    assert [h.returncode for h in held] == [2, 2], held
    rid = re.search(r"apr_[a-z0-9]+", held[0].stderr).group(0)  # type: ignore[union-attr]
    assert rid in held[1].stderr  # the same request, not a second one
    assert machine.approve(rid).returncode == 0
    retry = [hook("call-retry"), hook("call-retry")]
    assert [(r.returncode, r.stdout) for r in retry] == [(0, "")] * 2, retry
    assert _consumed(machine, rid) == 1
    assert hook("call-next").returncode == 2  # a new call: the grant is used up

    again = re.search(r"apr_[a-z0-9]+", hook("call-2").stderr).group(0)  # type: ignore[union-attr]
    assert machine.approve(again).returncode == 0
    copies = [subprocess.Popen([CLIENT_BIN, "hook", "codex"], user=AGENT, group=AGENT,
                               extra_groups=["agentgate"], env=machine.agent_env(),
                               cwd=machine.work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(_codex_call(machine, "call-at-once", command), timeout=60)
            for p in copies]
    assert [p.returncode for p in copies] == [0] * 4, outs
    assert _consumed(machine, again) == 1
    assert hook("call-other", command + " --other").returncode == 2  # another command: asked

    from agentgate.integrations.agents import AGENTS
    from agentgate.integrations.hooks import parse
    from agentgate.lean import sha256_hex

    call = parse(AGENTS["codex"], _codex_call(machine, "call-retry", command).encode(),
                 str(machine.work))
    key = sha256_hex(f"codex\0{call.call_id}\0{call.about()}".encode())
    [other] = _raw([{"op": "authorize", "agent": "codex", "call": key,
                     "subject": {"kind": "argv", "argv": ["vercel", "--prod", "--forged"],
                                 "cwd": str(machine.work)}}])
    assert other["ok"] is True and other["outcome"]["allowed"] is False, other  # type: ignore[index]


def test_a_forged_hook_call_record_cannot_allow_a_held_command(machine: Machine) -> None:
    """The agent's user writes the record personal mode would reuse (an allow for this very
    call, under its own state directory): in protected mode the hook never reads it."""
    raw = _codex_call(machine, "call-forged", "vercel --prod --forged-record")
    forge = (
        "import sys; sys.path.insert(0, '/opt/agentgate/lib')\n"
        "from agentgate.integrations import calls\n"
        "from agentgate.integrations.agents import AGENTS, Reply\n"
        "from agentgate.integrations.hooks import parse\n"
        "from agentgate.paths import StatePaths\n"
        f"call = parse(AGENTS['codex'], sys.stdin.buffer.read(), {str(machine.work)!r})\n"
        "root = str(StatePaths.default().root)\n"
        "calls.answer_once(root, 'codex', call.call_id, call.about(), lambda: Reply('', '', 0))\n"
        "again = calls.answer_once(root, 'codex', call.call_id, call.about(),\n"
        "                          lambda: Reply('', 'decided anew', 2))\n"
        "print(again.exit_code, root)\n")
    r = machine.as_agent("/usr/bin/python3", "-I", "-c", forge, input=raw)
    assert r.returncode == 0 and r.stdout.startswith("0 "), (r.stdout, r.stderr)  # a good forgery
    hooked = machine.as_agent(CLIENT_BIN, "hook", "codex", input=raw)
    assert hooked.returncode == 2 and "approval" in hooked.stderr, hooked
    shutil.rmtree(r.stdout.split(" ", 1)[1].strip())


# Issue 14 (was tests/test_protected_actions.py: a file of its own would run on another xdist
# worker at the same time as this one, and both set up the machine's users and service).
ACTION_RULE = """
[[rule]]
id = "big-payment"
decision = "ask"
reason = "Payments over 100 need a human."
actions = ["payment"]
condition = "amount > 100"
match = ["payment amount=4000 vendor=acme"]
not_match = ["payment amount=5 vendor=acme"]
"""


def test_the_service_decides_and_binds_an_actions_attributes(machine: Machine) -> None:
    Path(POLICY_FILE).write_text(POLICY + ACTION_RULE)  # root's policy, read per request

    def pay(amount: str, vendor: str = "acme") -> tuple[int, dict[str, object]]:
        r = machine.as_agent(CLIENT_BIN, "verify", "--json", "payment", "--attr",
                             f"amount={amount}", "--attr", f"vendor={vendor}")
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {"stderr": r.stderr}

    assert pay("5")[0] == 0
    code, held = pay("4000")
    assert code == 75 and held["rule"] == "big-payment", held
    rid = str(held["approvalId"])
    shown = machine.root("show", rid)
    assert "payment amount=4000 vendor=acme" in shown.stdout, shown.stdout
    r = machine.approve(rid)
    assert r.returncode == 0, r.stderr
    assert pay("40000")[0] == 75
    assert pay("4000", "globex")[0] == 75
    code, done = pay("4000")
    assert code == 0 and done["approvalId"] == rid, done
    assert pay("4000")[0] == 75


def _listener_uid(port: int) -> int | None:
    """The uid owning the socket that listens on 127.0.0.1:``port`` (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == f"0100007F:{port:04X}" and f[3] == "0A":
            return int(f[7])
    return None


def test_the_service_serves_the_dashboard_and_the_secret_decides(machine: Machine) -> None:
    """Issue 12: `agentgate dashboard` (the human) asks the service, which serves the page as
    its own user; login takes the token and the approver secret; a click on Approve with the
    secret lets a waiting agent's command run once, a wrong secret approves nothing."""
    import socket

    from playwright.sync_api import expect, sync_playwright
    from test_dashboard import CHROMIUM, CHROMIUM_ARGS

    with socket.socket() as probe:  # a free port, for the administrator's choice
        probe.bind(("127.0.0.1", 0))
        chosen = probe.getsockname()[1]
    original = Path(CLIENT_FILE).read_text()
    Path(CLIENT_FILE).write_text(original + f"dashboard_port = {chosen}\n")  # in [service]
    try:
        # a gated user's first call cannot move the page off the port root chose
        squat = machine.as_agent(CLIENT_BIN, "dashboard", "--port",
                                 str(chosen + 1 if chosen < 65535 else chosen - 1))
        assert squat.returncode != 0 and f"the dashboard's port is {chosen}" in squat.stderr, \
            squat.stdout + squat.stderr
        r = machine.root("dashboard")
    finally:
        Path(CLIENT_FILE).write_text(original)
    assert r.returncode == 0, r.stderr
    url = r.stdout.splitlines()[0]
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/login\?token=([\w-]+)", url)
    assert m, r.stdout
    port = int(m.group(1))
    assert port == chosen  # client.toml's dashboard_port
    assert _listener_uid(port) == pwd.getpwnam("agentgate").pw_uid  # the service's user serves it
    named = json.loads(Path(STATE, "dashboard.json").read_text())  # notifications link to it
    assert named["url"] == f"http://127.0.0.1:{port}/" and named["pid"] == machine.service_pid()
    again = machine.root("dashboard")  # the same page, a new login token
    assert again.returncode == 0 and again.stdout.startswith(f"http://127.0.0.1:{port}/login?token=")
    assert again.stdout.splitlines()[0] != url
    moved = machine.root("dashboard", "--port", str(port + 1 if port < 65535 else port - 1))
    assert moved.returncode != 0 and f"already serves the dashboard on port {port}" in moved.stderr
    # the agent may ask for a login link too: without the secret it opens nothing
    agent_link = machine.as_agent(CLIENT_BIN, "dashboard")
    assert agent_link.returncode != 0 or "login?token=" in agent_link.stdout
    before = machine.ran()
    waiting = subprocess.Popen([CLIENT_BIN, "run", "--wait=90s", "--", "vercel", "--prod",
                                "--dash"], user=AGENT, group=AGENT, extra_groups=["agentgate"],
                               env=machine.agent_env(), cwd=machine.work,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                page.goto(url)  # the link opens a form: the token alone logs nobody in
                expect(page.locator("h2")).to_contain_text("Log in with the approver secret")
                page.locator('input[name="secret"]').fill("a wrong guess")
                page.get_by_role("button", name="Log in").click()
                expect(page.locator("body")).to_contain_text("wrong approver secret")
                assert page.locator("#pending").count() == 0
                page.goto(url)
                page.locator('input[name="secret"]').fill(SECRET)
                page.get_by_role("button", name="Log in").click()
                expect(page.locator("header")).to_contain_text("protected mode")
                card = page.locator(".card", has_text="vercel --prod --dash")
                expect(card).to_have_count(1)
                assert waiting.poll() is None and machine.ran() == before
                card.get_by_role("button", name="Approve").click()
                card.locator('input[name="secret"]').fill("another wrong guess")
                card.get_by_role("button", name="Confirm approve").click()
                expect(page.locator("#msg")).to_contain_text("wrong approver secret")
                time.sleep(1)
                assert waiting.poll() is None and machine.ran() == before  # nothing approved
                # the question stays open after the refusal: the secret again, the right one
                card.locator('input[name="secret"]').fill(SECRET)
                card.get_by_role("button", name="Confirm approve").click()
                expect(page.locator("#msg")).to_contain_text("may now run once")
            finally:
                browser.close()
        _, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0, err
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
        _reset_lockout()
    assert machine.ran() == before + 1
    assert machine.agent_run("vercel", "--prod", "--dash").returncode == 75  # once only
    lines = [json.loads(ln) for ln in machine.root("log", "--json", "--tail", "60").stdout.splitlines()]
    logins = [e["result"] for e in lines
              if e.get("event") == "secret_checked" and e.get("op") == "dashboard_login"]
    assert logins[-2:] == ["refused", "ok"], lines
    approvals = [e["result"] for e in lines
                 if e.get("event") == "secret_checked" and e.get("op") == "approve"]
    assert approvals[-2:] == ["refused", "ok"], lines  # each click presented the secret
    [approved] = [e for e in lines if e.get("event") == "approved"
                  and e.get("argv") == ["vercel", "--prod", "--dash"]]
    assert approved["by"] == "root" and approved["via"] == "dashboard", approved  # who logged in
    # a login link opens nothing without the secret, over plain HTTP as well
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/login", body=f"token={m.group(2)}",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert conn.getresponse().status == 401
    conn.close()


def test_an_agents_wrong_logins_lock_out_its_own_uid_not_the_dashboard(machine: Machine) -> None:
    """The agent asks the service for a login link of its own and guesses the secret at the
    dashboard's login: the tries count towards the agent's uid (as its `approve` tries do),
    never the service's own, which would lock the dashboard for root's login too and give the
    agent a second count of tries."""
    import http.client

    def login(link: str, secret_text: str) -> tuple[int, str]:
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/login\?token=([\w-]+)", link)
        assert m, link
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=30)
        try:
            conn.request("POST", "/login", body=f"token={m.group(2)}&secret={secret_text}",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    _reset_lockout()
    try:
        agents = machine.as_agent(CLIENT_BIN, "dashboard")
        assert agents.returncode == 0, agents.stderr
        link = agents.stdout.splitlines()[0]
        answers = [login(link, f"guess{n}") for n in range(7)]
        assert all(status == 401 for status, _ in answers), answers
        assert "too many wrong approver secrets" in answers[-1][1], answers[-1]
        assert login(link, SECRET.replace(" ", "+"))[0] == 401  # the agent's uid is locked
        roots = machine.root("dashboard")
        assert roots.returncode == 0, roots.stderr
        status, text = login(roots.stdout.splitlines()[0], SECRET.replace(" ", "+"))
        assert status == 303, text  # root's login is not locked by the agent's guesses
    finally:
        _reset_lockout()
    lines = [json.loads(ln) for ln in machine.root("log", "--json", "--tail", "40").stdout.splitlines()]
    logins = [(e.get("token_of"), e["result"]) for e in lines
              if e.get("event") == "secret_checked" and e.get("op") == "dashboard_login"]
    assert logins[-1] == ("root", "ok") and (AGENT, "refused") in logins, logins


def _claude_call(machine: Machine, session: str, use: str, command: str,
                 event: str = "PreToolUse", **extra: object) -> str:
    return json.dumps({"session_id": session, "transcript_path": None, "cwd": str(machine.work),
                       "hook_event_name": event, "tool_name": "Bash",
                       "tool_input": {"command": command}, "tool_use_id": use, **extra})


def _managed_hook(event: str) -> str:
    """The command the machine-wide Claude Code hook runs for ``event`` (installed by
    test_the_machine_wide_hook_runs_the_root_owned_client)."""
    managed = json.loads(Path("/etc/claude-code/managed-settings.json").read_text())
    return next(h["command"] for entry in managed["hooks"][event] for h in entry["hooks"]
                if h["command"].startswith(CLIENT_BIN))


def _id_events(machine: Machine, rid: str) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in machine.root("log", "--json", "--id", rid).stdout.splitlines()]


def test_the_agents_reports_go_to_the_service(machine: Machine) -> None:
    """Issue 11 in protected mode: the machine-wide report hooks send the agent's report to the
    service, which keeps the awaiting-report records in its own state and writes `ran` and
    `no_report` in its audit log; the agent's user reports on its own calls only, and cannot
    forge a record."""

    def hook(event: str, payload: str, as_root: bool = False) -> subprocess.CompletedProcess[str]:
        if as_root:
            return machine.root("hook", "claude-code", input=payload)
        return machine.as_agent("sh", "-c", _managed_hook(event), input=payload)

    def consumed(session: str, command: str, as_root: bool = False) -> str:
        held = hook("PreToolUse", _claude_call(machine, session, "held", command), as_root)
        rid = re.search(r"apr_[a-z0-9]+", held.stdout + held.stderr)
        assert rid is not None and '"deny"' in held.stdout, (held.stdout, held.stderr)
        assert machine.approve(rid.group(0)).returncode == 0
        retry = hook("PreToolUse", _claude_call(machine, session, "retry", command), as_root)
        assert retry.returncode == 0 and '"deny"' not in retry.stdout, (retry.stdout, retry.stderr)
        return rid.group(0)

    uid = pwd.getpwnam(AGENT).pw_uid
    rid = consumed("s-report", "vercel --prod --reported")
    assert "awaiting claude-code's report" in machine.root("show", rid).stdout
    report = hook("PostToolUseFailure", _claude_call(
        machine, "s-report", "retry", "vercel --prod --reported", "PostToolUseFailure",
        error="Exit code 3\nboom", is_interrupt=False))
    assert (report.returncode, report.stdout) == (0, ""), (report.stdout, report.stderr)
    [ran] = [e for e in _id_events(machine, rid) if e["event"] == "ran"]
    assert (ran["outcome"], ran["exit_code"], ran["tool_use_id"], ran["peer_uid"], ran["user"]) \
        == ("failed", 3, "retry", uid, AGENT), ran
    assert "claude-code reported that it ran: it failed (exit code 3)" in \
        machine.root("show", rid).stdout

    quiet = consumed("s-quiet", "vercel --prod --never-reported")
    stop = hook("Stop", json.dumps({"session_id": "s-quiet", "hook_event_name": "Stop",
                                    "cwd": str(machine.work), "stop_hook_active": False}))
    assert (stop.returncode, stop.stdout) == (0, ""), (stop.stdout, stop.stderr)
    [told] = [e for e in _id_events(machine, quiet) if e["event"] == "no_report"]
    assert told["peer_uid"] == uid and "turn ended" in str(told["why"]), told
    shown = machine.root("show", quiet).stdout
    assert "but claude-code never reported that it ran" in shown, shown
    assert quiet in machine.root("pending").stdout
    assert quiet in machine.as_agent(CLIENT_BIN, "pending").stdout  # the agent's own, too

    # Another user's call (root's own request and grant, used through its hook): the agent's
    # report of the very same session, tool-use id and command is its own word, closes nothing
    theirs = consumed("s-root", "vercel --prod --roots-call", as_root=True)
    forged = hook("PostToolUse", _claude_call(machine, "s-root", "retry",
                                              "vercel --prod --roots-call", "PostToolUse",
                                              tool_response={"interrupted": False}))
    assert forged.returncode == 0, forged.stderr
    assert [e for e in _id_events(machine, theirs) if e["event"] == "ran"] == []
    assert "awaiting claude-code's report" in machine.root("show", theirs).stdout
    peek = _raw([{"op": "hook_uses", "id": theirs}])[0]
    assert peek["ok"] is False and "another user's" in str(peek["error"]), peek

    # nor can it write a record: the service's state is not its own, and a record under its
    # own state directory (personal mode's) is not read in protected mode
    plant = ("import os, sys; sys.path.insert(0, '/opt/agentgate/lib')\n"
             "from agentgate.integrations import reports\n"
             "from agentgate.paths import StatePaths\n"
             "root = str(StatePaths.default().root)\n"
             f"reports.await_report(root, 'claude-code', 'k', {quiet!r}, 's-quiet', 'retry')\n"
             "reports.close(root, 'claude-code', 'k', 's-quiet', 'succeeded', 0, None)\n"
             "try:\n"
             f"    os.makedirs({os.path.join(STATE, 'reports', str(uid), 'x')!r})\n"
             "except OSError as e:\n"
             "    print('refused', e.errno)\n"
             "print(root)\n")
    r = machine.as_agent("/usr/bin/python3", "-I", "-c", plant)
    assert r.returncode == 0 and r.stdout.startswith("refused"), (r.stdout, r.stderr)
    assert "never reported that it ran" in machine.as_agent(CLIENT_BIN, "show", quiet).stdout
    shutil.rmtree(r.stdout.splitlines()[-1].strip())
    assert machine.root("log", "verify").returncode == 0


def test_the_service_notifies_and_a_waiting_agent_runs_once_approved(machine: Machine) -> None:
    """Issue 12: the service announces a new request (its own deliverer, its audit log; apprise
    from the root-owned install, to a receiver on 127.0.0.1), and `run --wait` polls the service
    until the human approves with the secret: the command runs once."""
    import re
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    original = Path(POLICY_FILE).read_text()
    Path(POLICY_FILE).write_text(original + "\n[notify]\nurls = [\"json://127.0.0.1:"
                                 f"{server.server_address[1]}/\"]\ndesktop = false\n")
    try:
        before = machine.ran()
        waiting = subprocess.Popen([CLIENT_BIN, "run", "--wait=60s", "--", "vercel", "--prod",
                                    "--notified"], user=AGENT, group=AGENT,
                                   extra_groups=["agentgate"], env=machine.agent_env(),
                                   cwd=machine.work, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got, "no notification from the service"
        found = re.search(r"agentgate approve (apr_[a-z0-9]+)", got[0]["message"])
        assert found and "vercel --prod --notified" in got[0]["message"]
        rid = found.group(1)
        assert waiting.poll() is None and machine.ran() == before
        r = machine.approve(rid)
        assert r.returncode == 0, r.stderr
        _, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0, err
        assert machine.ran() == before + 1
        lines = [json.loads(ln) for ln in
                 machine.root("log", "--json", "--id", rid).stdout.splitlines()]
        assert [e["channel"] for e in lines if e["event"] == "notified"] == ["url 1"], lines
    finally:
        Path(POLICY_FILE).write_text(original)
        server.shutdown()


def test_one_user_cannot_flood_the_ledger(machine: Machine) -> None:
    from agentgate.service.server import MAX_PENDING_PER_USER

    open_now = len(json.loads(machine.root("pending", "--json").stdout))
    n = MAX_PENDING_PER_USER - open_now + 5
    script = (f"for i in $(seq 1 {n}); do {CLIENT_BIN} run -- vercel --prod --n $i >/dev/null "
              f"2>&1; done; {CLIENT_BIN} run -- vercel --prod --one-more")
    r = machine.as_agent("sh", "-c", script, timeout=600)
    assert r.returncode == 77 and "waiting for a human already" in r.stderr, r.stderr
    assert machine.root("run", "--", "vercel", "--prod", "--root-still-asks").returncode == 75


def test_uninstall_takes_the_hooks_out_before_the_client(machine: Machine) -> None:
    """Last: personal mode again (the fixture then purges)."""
    r = machine.root("service", "uninstall")
    assert r.returncode == 0, r.stderr
    managed = Path("/etc/claude-code/managed-settings.json").read_text()
    assert CLIENT_BIN not in managed
    assert not os.path.exists(CLIENT_FILE) and not os.path.exists(CLIENT_BIN)
    assert os.path.exists(Path(STATE, "audit.jsonl"))  # the log is kept without --purge
