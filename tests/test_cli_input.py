"""Input and signals, end to end through the installed console script in real subprocesses.

Odd numbers and bytes that are not UTF-8 never make an internal error or invalid JSON; signals
sent to agentgate reach the command, in a terminal's foreground too; `--policy` means the same
before and after the command name (or is a usage error); a grant is not used up by a command that
cannot start; every command's help renders, with -h; JSON keys follow one convention per surface.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import AGENTGATE, ag, marker_lines

from agentgate import jsontext

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
DEPLOY = ("deployer", "site", "--prod")
BAD = "caf\udce9-\udcff"  # the bytes b"caf\xe9-\xff": not UTF-8 (Latin-1 text, a stray byte)
BAD_BYTES = b"caf\xe9-\xff"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

pytestmark = pytest.mark.usefixtures("in_tmp_cwd", "policy_file", "fake_bin")


# --------------------------------------------------------------------------- helpers


def strict_json(data: bytes) -> Any:
    """Parse as a strict parser would: UTF-8 only, and no lone surrogate in any string (Python's
    json accepts "\\udcff"; Go, Rust's serde_json and JSON Schema validators do not)."""
    text = data.decode("utf-8")  # raises on bytes that are not UTF-8
    obj = json.loads(text)

    def walk(v: Any) -> None:
        if isinstance(v, str):
            v.encode("utf-8")  # raises on a lone surrogate
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(obj)
    return obj


def agb(*args: str, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """`ag` with bytes output (arguments may hold surrogateescape'd bytes)."""
    assert AGENTGATE
    return subprocess.run([AGENTGATE, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=60, check=False)


def block(*argv: str) -> str:
    r = ag("run", "--json", "--", *argv)
    assert r.returncode == 75, (r.returncode, r.stderr)
    return str(json.loads(r.stdout)["approvalId"])


def log_events(*filters: str) -> list[dict[str, Any]]:
    r = agb("log", "--json", *filters)
    assert r.returncode == 0, r.stderr
    return [strict_json(line) for line in r.stdout.splitlines()]


# --------------------------------------------------------------------------- jsontext


def test_jsontext_writes_undecodable_bytes_losslessly_and_strictly() -> None:
    obj = {"command": ["echo", BAD], "cwd": "/tmp/" + BAD, "n": 1, "plain": "ok",
           "parts": [{"argv": [BAD]}]}
    text = jsontext.dumps(obj)
    back = strict_json(text.encode("utf-8"))
    assert back["command"] == ["echo", "caf\ufffd-\ufffd"]
    assert [base64.b64decode(x) for x in back["commandBase64"]] == [b"echo", BAD_BYTES]
    assert base64.b64decode(back["cwdBase64"]) == b"/tmp/" + BAD_BYTES
    assert "plainBase64" not in back and "nBase64" not in back
    assert back["parts"][0]["argvBase64"] == [base64.b64encode(BAD_BYTES).decode()]
    assert jsontext.restore(back) == obj
    # the same text as before when nothing needs it; the audit log's snake_case suffix
    assert jsontext.dumps({"a": "é"}) == json.dumps({"a": "é"}, ensure_ascii=False)
    line = jsontext.dumps_bytes({"argv": [BAD]}, jsontext.AUDIT_SUFFIX)
    assert "argv_base64" in strict_json(line)
    assert jsontext.restore(json.loads(line), jsontext.AUDIT_SUFFIX) == {"argv": [BAD]}


def test_jsontext_ascii_is_the_same_strict_json() -> None:
    """ensure_ascii (for a stream that is not UTF-8) gives the same document, all ASCII, with
    undecodable bytes handled as without it."""
    obj = {"command": ["echo", BAD, "caf\u00e9 \u263a \U0001f600"], "n": 1}
    text = jsontext.dumps(obj, ensure_ascii=True)
    assert text.isascii() and strict_json(text.encode()) == strict_json(jsontext.dumps(obj).encode())
    assert jsontext.restore(json.loads(text))["command"][1] == BAD
    assert jsontext.dumps({"a": "\u00e9"}, ensure_ascii=True, indent=1) == '{\n "a": "\\u00e9"\n}'


# --------------------------------------------------------------------------- odd numbers


@pytest.mark.parametrize("n", ["99999999999999999999999", str(sys.maxsize), str(sys.maxsize + 1),
                               "0009", "0"])
def test_log_tail_takes_any_integer(n: str) -> None:
    for argv in (("echo", "a"), ("echo", "b")):
        assert ag("run", "--", *argv).returncode == 0
    r = ag("log", "--json", "--tail", n)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == min(int(n), 4)


@pytest.mark.parametrize("n", ["-1", "1e3", "1.5", "many", ""])
def test_log_tail_nonsense_is_a_usage_error(n: str) -> None:
    r = ag("log", "--tail", n)
    assert r.returncode == 2, r.stderr
    assert "internal error" not in r.stderr


ODD_INPUTS = [
    ("log", "--since", "99999999999d"), ("log", "--since", "0001-01-01T00:00:00Z"),
    ("log", "--until", "9999-12-31T23:59:59Z"), ("log", "--since", "10000-01-01"),
    ("log", "--since", "nan"), ("log", "--since", "1e400"), ("log", "--since", BAD),
    ("log", "--event", ""), ("log", "--event", BAD), ("log", "--id", BAD), ("log", "--agent", BAD),
    ("log", "summary", "--since", "-5h"), ("log", "summary", "--until", "2026-13-01"),
    ("approve", "apr_x", "--yes", "--ttl", "9999999999999999999d"),
    ("approve", "apr_x", "--yes", "--ttl", "nan"), ("approve", "", "--yes"),
    ("approve", BAD, "--yes"), ("show", ""), ("show", "a" * 5000), ("show", BAD),
    ("deny", "--yes", BAD, "--reason", BAD), ("verify", ""), ("verify", BAD, BAD),
    ("check", "--script"), ("check", "--script", "a", "b"), ("check", "--", BAD),
    ("check", "--script", f"echo {BAD}"), ("hook", "install", BAD), ("policy", "validate", BAD),
    ("policy", "validate", "/dev/null"), ("policy", "trust", BAD), ("run", "--agent", BAD, "--", "true"),
    ("run", "--", BAD), ("run", "--", ""), ("--policy", BAD, "run", "--", "true"),
    ("run", "--policy", "", "--", "true"), ("run", "--agent"), ("run", "--json"),
]


@pytest.mark.parametrize("args", ODD_INPUTS, ids=lambda a: " ".join(a)[:40])
def test_no_input_is_an_internal_error(args: tuple[str, ...]) -> None:
    for as_json in (False, True):
        r = agb(*args, env={"AGENTGATE_JSON": "1"} if as_json else None)
        assert r.returncode != 70 and b"internal error" not in r.stderr, (args, r.stderr)
        if as_json and r.stdout.strip() and args[:2] != ("run", "--"):
            for line in r.stdout.splitlines():
                strict_json(line)


# --------------------------------------------------------------------------- JSON surfaces


def _restored(obj: Any) -> Any:
    return jsontext.restore(obj)


def test_every_json_surface_is_strict_json_with_undecodable_bytes(tmp_path: Path) -> None:
    """run (allowed, held, denied, error), check, verify, approve, deny, pending, show, where,
    log --json, log summary --json: valid for a strict parser, exact bytes recoverable."""
    ok = agb("run", "--json", "--", "echo", BAD)
    assert ok.returncode == 0
    assert ok.stdout == BAD_BYTES + b"\n"  # the command got the very bytes
    decision = strict_json(ok.stderr.splitlines()[-1])
    assert _restored(decision)["command"] == ["echo", BAD]

    held = agb("run", "--json", "--", "deployer", BAD, "--prod")
    assert held.returncode == 75
    held_obj = strict_json(held.stdout)
    assert _restored(held_obj)["command"] == ["deployer", BAD, "--prod"]
    rid = held_obj["approvalId"]

    denied = agb("run", "--json", "--", "nuke", BAD)
    assert denied.returncode == 77
    assert _restored(strict_json(denied.stdout))["command"] == ["nuke", BAD]

    error = agb("run", "--json", "--policy", str(tmp_path / BAD), "--", "true")
    assert error.returncode == 78
    err_obj = strict_json(error.stdout)
    assert err_obj["exitCode"] == 78 and BAD in _restored(err_obj)["message"]

    check = agb("check", "--json", "--", "deployer", BAD, "--prod")
    assert check.returncode == 75
    check_obj = _restored(strict_json(check.stdout))
    assert check_obj["command"] == ["deployer", BAD, "--prod"]
    assert check_obj["parts"][0]["argv"] == ["deployer", BAD, "--prod"]

    verify = agb("verify", "--json", "deploy_" + BAD, BAD)
    assert verify.returncode == 0
    assert _restored(strict_json(verify.stdout))["resource"] == BAD

    pending = strict_json(agb("pending", "--json").stdout)
    assert [_restored(p)["argv"] for p in pending] == [["deployer", BAD, "--prod"]]
    show = _restored(strict_json(agb("show", "--json", rid).stdout))
    assert show["argv"] == ["deployer", BAD, "--prod"]

    approved = agb("approve", "--json", rid, "--yes")
    assert approved.returncode == 0 and strict_json(approved.stdout)["status"] == "approved"
    assert agb("run", "--", "deployer", BAD, "--prod").returncode == 0
    other = block("deployer", "x", "--prod")
    denied_by_human = agb("deny", "--yes", "--json", other, "--reason", BAD)
    assert denied_by_human.returncode == 0
    assert _restored(strict_json(denied_by_human.stdout))["reason"] == BAD

    weird = tmp_path / BAD
    weird.mkdir()
    where = agb("where", "--json", cwd=weird)
    assert where.returncode == 0
    strict_json(where.stdout)

    events = log_events()  # each line, as printed and as stored, is strict JSON
    stored = (Path(os.environ["AGENTGATE_HOME"]) / "audit.jsonl").read_bytes().splitlines()
    assert [strict_json(line) for line in stored] == events
    held_line = next(e for e in events if e["event"] == "approval_requested" and e["id"] == rid)
    assert held_line["argv"] == ["deployer", "caf\ufffd-\ufffd", "--prod"]
    assert jsontext.restore(held_line, "_base64")["argv"] == ["deployer", BAD, "--prod"]
    assert [e["event"] for e in log_events("--agent", "unknown", "--id", rid)][:1] == [
        "approval_requested"]
    human = agb("log", "--id", rid)
    assert b"caf\\xe9-\\xff" in human.stdout  # people see the bytes escaped

    summary = agb("log", "summary", "--json")
    assert summary.returncode == 0
    strict_json(summary.stdout)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_every_output_path_works_when_stdout_is_not_utf8(encoding: str, tmp_path: Path) -> None:
    """PYTHONIOENCODING=ascii (an ASCII or Latin-1 terminal, a Windows console) used to make
    --json an internal error (70) and `pending`, `log` crash on a non-ASCII word. JSON is then
    ASCII with \\u escapes (the same strict JSON), text for people escapes what the stream cannot
    carry (a character as \\u00e9, never as \\xe9, which is how a byte that is not UTF-8 shows),
    and a held `run --json` still exits 75 with its id."""
    env = {"PYTHONIOENCODING": encoding}
    word, shown = "caf\u00e9-\u263a", "caf\u00e9-\\u263a" if encoding == "latin-1" else "caf\\u00e9-\\u263a"

    def ascii_json(r: subprocess.CompletedProcess[bytes], code: int) -> Any:
        assert r.returncode == code, r.stderr
        assert r.stdout.isascii(), r.stdout
        return strict_json(r.stdout)

    held = ascii_json(agb("run", "--json", "--", "deployer", word, "--prod", env=env), 75)
    assert held["command"] == ["deployer", word, "--prod"] and held["approvalId"].startswith("apr_")
    rid = held["approvalId"]
    ascii_json(agb("run", "--json", "--", "deployer", BAD, "--prod", env=env), 75)
    ran = agb("run", "--json", "--", "echo", word, env=env)
    assert ran.returncode == 0 and ran.stdout == f"{word}\n".encode()  # the command's own bytes
    assert strict_json(ran.stderr.splitlines()[-1])["command"] == ["echo", word]
    assert ascii_json(agb("run", "--json", "--", "nuke", word, env=env), 77)["rule"] == "nuke"
    error = ascii_json(agb("run", "--json", "--policy", str(tmp_path / word), "--", "x", env=env), 78)
    assert word in error["message"]
    assert ascii_json(agb("check", "--json", "--", "deployer", word, "--prod", env=env), 75)[
        "command"] == ["deployer", word, "--prod"]
    pending = ascii_json(agb("pending", "--json", env=env), 0)
    assert {p["id"] for p in pending} >= {rid}
    assert ascii_json(agb("show", "--json", rid, env=env), 0)["argv"][1] == word
    assert ascii_json(agb("log", "summary", "--json", env=env), 0)["events"] >= 4
    usage = agb("run", "--json", "--agent", "", "--", word, env=env)
    assert usage.returncode == 2 and strict_json(usage.stdout)["error"] == "usage_error"

    for argv in (("pending",), ("show", rid), ("log",), ("log", "--id", rid), ("log", "summary"),
                 ("log", "summary", "--markdown"), ("where",), ("check", "--", "deployer", word)):
        r = agb(*argv, env=env)
        assert r.returncode in (0, 75), (argv, r.stderr)
        assert b"internal error" not in r.stderr
        out = r.stdout.decode(encoding)
        if argv[0] in ("pending", "show", "log") and "summary" not in argv:
            assert shown in out, (argv, out)
            assert "caf\\xe9-\\xff" in out or argv[0] == "show" or "--id" in argv
    blocked = agb("run", "--", "deployer", word, "--prod", env=env)
    assert blocked.returncode == 75 and b"internal error" not in blocked.stderr
    weird = tmp_path / word
    weird.mkdir()
    assert agb("where", cwd=weird, env=env).returncode == 0

    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": f"nuke {word}"},
                          "cwd": str(tmp_path), "session_id": "s", "hook_event_name": "PreToolUse"})
    hook = subprocess.run([str(AGENTGATE), "hook", "claude-code"], input=hook_in.encode(),
                          capture_output=True, env={**os.environ, **env}, timeout=60, check=False)
    assert ascii_json(hook, 0)["hookSpecificOutput"]["permissionDecision"] == "deny"
    broken = subprocess.run(  # a reason with the word in it: the missing policy's path
        [str(AGENTGATE), "hook", "claude-code", "--policy", str(tmp_path / f"{word}.toml")],
        input=hook_in.encode(), capture_output=True, env={**os.environ, **env}, timeout=60,
        check=False)
    answer = ascii_json(broken, 2)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "deny" and word in answer["permissionDecisionReason"]
    assert b"internal error" not in broken.stderr and shown.encode(encoding) in broken.stderr


def test_log_json_reencodes_lines_older_versions_wrote_with_raw_bytes(state_dir: Path) -> None:
    assert ag("run", "--", "echo", "x").returncode == 0
    log = state_dir / "audit.jsonl"
    raw = log.read_bytes().splitlines()
    legacy = json.loads(raw[0])
    legacy["argv"] = ["echo", BAD]
    legacy_line = json.dumps(legacy, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogateescape")
    assert BAD_BYTES in legacy_line  # what agentgate wrote before: not UTF-8
    log.write_bytes(legacy_line + b"\n" + b"\n".join(raw[1:]) + b"\n")
    r = agb("log", "--json")
    assert r.returncode == 0
    first = strict_json(r.stdout.splitlines()[0])
    assert jsontext.restore(first, "_base64")["argv"] == ["echo", BAD]


JSON_SURFACES = {
    "run": ("run", "--json", "--", *DEPLOY),
    "check": ("check", "--json", "--", *DEPLOY),
    "verify": ("verify", "--json", "deploy_staging"),
    "pending": ("pending", "--json"),
    "show": ("show", "--json", "{rid}"),
    "approve": ("approve", "--json", "{rid}", "--yes"),
    "deny": ("deny", "--yes", "--json", "{other}", "--reason", "no"),
    "where": ("where", "--json"),
    "policy validate": ("policy", "validate", "--json"),
    "log summary": ("log", "summary", "--json"),
    "log verify": ("log", "verify", "--json"),
    "error": ("show", "--json", "apr_nosuchthing"),
    "usage error": ("run", "--json", "--no-such-option", "--", "true"),
}
DATA_KEYS = {"byEvent", "byRule", "byAgent"}  # their keys are event, rule and agent names
TIME_KEYS = {"at", "since", "until", "first", "last"}


def _keys(obj: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path, k, v
            if k not in DATA_KEYS:
                yield from _keys(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for v in obj:
            yield from _keys(v, path + "[]")


def test_cli_json_is_camel_case_with_iso_times() -> None:
    rid = block(*DEPLOY)
    other = block("deployer", "other", "--prod")
    assert ag("run", "--", "nuke").returncode == 77
    assert ag("run", "--", "echo", "hi").returncode == 0
    for name, argv in JSON_SURFACES.items():
        r = agb(*(a.format(rid=rid, other=other) for a in argv))
        assert r.stdout.strip(), (name, r.stderr)
        obj = strict_json(r.stdout)
        for where, key, value in _keys(obj):
            assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", key), f"{name}: {where}.{key} is not camelCase"
            if key.endswith("At") or key in TIME_KEYS:
                assert value is None or (isinstance(value, str) and ISO.match(value)), (
                    f"{name}: {where}.{key} = {value!r} is not an ISO-8601 UTC time")
    shown = strict_json(agb("show", "--json", rid).stdout)
    for key in ("createdAt", "expiresAt", "decidedAt"):
        assert ISO.match(shown[key]), shown
    assert all(ISO.match(h["at"]) for h in shown["history"])
    # the audit log keeps its own documented format: snake_case, ISO `ts`
    line = log_events("--event", "exited")[0]
    assert "exit_code" in line and "duration_ms" in line and ISO.match(line["ts"])


def test_readme_documents_the_json_conventions() -> None:
    section = README[README.index("### JSON conventions"):]
    section = section[:section.index("\n## ")]
    for text in ("camelCase", "ISO-8601", "snake_case", "Base64", "_base64"):
        assert text in section, text


# --------------------------------------------------------------------------- signals

LAUNCHER = """\
import fcntl, os, signal, sys, termios
# A job-control shell in miniature: a session on the terminal, the job in its own foreground
# process group, agentgate's pid written to a file.
os.setsid()
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(0, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    os.execv(sys.argv[2], sys.argv[2:])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(pid))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""

CHILD = """\
import pathlib, signal, sys, time
out, ready, mode = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
got = []
def on_signal(signum, frame):
    got.append(signal.Signals(signum).name)
if mode == "trap":
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(s, on_signal)
ready.write_text("ready")
deadline = time.monotonic() + 20
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)  # a second delivery of the same signal would arrive in this time
out.write_text(",".join(got))
sys.exit(42)
"""


def _in_terminal(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    """agentgate run in the foreground process group of a fresh pseudo-terminal."""
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    (tmp_path / "child.py").write_text(CHILD)
    pidfile, out, ready = tmp_path / "pid", tmp_path / "got", tmp_path / "ready"
    master, slave = os.openpty()
    assert AGENTGATE
    p = subprocess.Popen(
        [sys.executable, str(tmp_path / "launcher.py"), str(pidfile), AGENTGATE, "run", "--",
         sys.executable, str(tmp_path / "child.py"), str(out), str(ready), mode],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    deadline = time.monotonic() + 20
    while not (ready.exists() and pidfile.exists()):
        assert p.poll() is None, os.read(master, 65536)
        assert time.monotonic() < deadline, "the child never became ready"
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    assert os.tcgetpgrp(master) == os.getpgid(pid), "agentgate is not in the foreground"
    return p, master, pid, out


def _finish(p: subprocess.Popen[bytes], master: int) -> bytes:
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    return seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=lambda s: signal.Signals(s).name)
def test_signal_to_agentgate_reaches_the_child_in_a_terminals_foreground(
        sig: int, tmp_path: Path) -> None:
    p, master, pid, out = _in_terminal(tmp_path, "trap")
    os.kill(pid, sig)
    seen = _finish(p, master)
    assert out.read_text() == signal.Signals(sig).name, seen  # once, not zero times or twice
    assert p.returncode == 42, seen
    assert [e["exit_code"] for e in log_events("--event", "exited")] == [42]


@pytest.mark.parametrize("key,sig", [(b"\x03", signal.SIGINT), (b"\x1c", signal.SIGQUIT)],
                         ids=["ctrl-c", "ctrl-backslash"])
def test_a_key_on_the_terminal_reaches_the_child_once(key: bytes, sig: int, tmp_path: Path) -> None:
    p, master, _pid, out = _in_terminal(tmp_path, "trap")
    os.write(master, key)
    seen = _finish(p, master)
    assert out.read_text() == signal.Signals(sig).name, seen
    assert p.returncode == 42, seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_the_exit_code_is_the_childs_fate(sig: int, tmp_path: Path) -> None:
    p, master, pid, out = _in_terminal(tmp_path, "default")
    os.kill(pid, sig)
    seen = _finish(p, master)
    assert p.returncode == 128 + sig, seen
    assert not out.exists()
    assert [e["exit_code"] for e in log_events("--event", "exited")] == [128 + sig]


# --------------------------------------------------------------------------- --policy


DENY_ALL = 'version = 1\n[settings]\ndefault = "deny"\n'


@pytest.fixture
def deny_all(tmp_path: Path) -> Path:
    path = tmp_path / "deny-all.toml"
    path.write_text(DENY_ALL)
    return path


def test_run_policy_after_the_command_name_is_the_policy(deny_all: Path, marker: Path) -> None:
    for argv in (("run", "--policy", str(deny_all), "--", "deployer", "x"),
                 ("run", f"--policy={deny_all}", "deployer", "x"),
                 ("run", "--json", "--policy", str(deny_all), "--agent", "a", "--", "deployer", "x"),
                 ("--policy", str(deny_all), "run", "--", "deployer", "x")):
        r = ag(*argv)
        assert r.returncode == 77, (argv, r.stderr)
    assert not marker.exists()
    events = log_events()
    assert {e["event"] for e in events} == {"denied"}
    assert all(e["argv"] == ["deployer", "x"] for e in events), "an option was taken as the command"


@pytest.mark.parametrize("argv", [
    ("run", "--policy"), ("run", "--policy", "", "--", "deployer"),
    ("run", "--bogus", "--", "deployer"), ("run", "-x", "deployer"),
    ("--policy", "{p}", "run", "--policy", "{p}", "--", "deployer"),
    ("run", "--policy", "{p}", "--policy", "{p}", "--", "deployer"),
    ("check", "--bogus", "--", "deployer"), ("check", "--policy", "{p}", "--policy", "{p}", "--", "ls"),
    ("log", "--policy", "{p}"), ("log", "summary", "--policy", "{p}"), ("init", "--policy", "{p}"),
    ("hook", "install", "claude-code", "--policy", "{p}"),
    ("hook", "claude-code", "--policy", "{p}", "--policy", "{p}"),
], ids=lambda a: " ".join(a))
def test_misplaced_or_repeated_options_are_usage_errors(
        argv: tuple[str, ...], deny_all: Path, marker: Path, state_dir: Path) -> None:
    r = ag(*(a.format(p=deny_all) for a in argv))
    assert r.returncode == 2, r.stderr
    assert not marker.exists()
    assert not (state_dir / "audit.jsonl").exists(), "a usage error must not be logged as a decision"


@pytest.mark.parametrize("argv", [
    ("--policy", "{p}", "hook", "install", "claude-code"),
    ("hook", "install", "claude-code", "--policy", "{p}"),
    ("hook", "install", "--policy={p}", "claude-code", "--dry-run"),
    ("--policy", "{p}", "log"), ("log", "--policy", "{p}"), ("--policy", "{p}", "log", "summary"),
    ("log", "--policy", "{p}", "summary"), ("log", "summary", "--policy", "{p}"),
    ("--policy", "{p}", "log", "verify"), ("log", "verify", "--policy", "{p}"),
    ("--policy", "{p}", "init"), ("--policy", "{p}", "init", "--print"), ("init", "--policy", "{p}"),
    ("log", "--json", "--policy", "{p}"),
], ids=lambda a: " ".join(a))
def test_a_command_that_does_not_read_the_policy_refuses_it_anywhere(
        argv: tuple[str, ...], deny_all: Path, state_dir: Path, in_tmp_cwd: Path,
        tmp_path: Path) -> None:
    """`agentgate --policy P hook install ...` used to install a hook that never reads P (exit
    0): --policy, before or after the name of a command that does not read it, is a usage
    error (2) that says why, and the command does nothing."""
    from agentgate.grammar import no_policy_reason

    words = [a for a in argv if not a.startswith("-") and a not in ("{p}", "claude-code")]
    why = no_policy_reason(words)
    assert why is not None
    r = ag(*(a.format(p=deny_all) for a in argv))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "does not read a policy, so --policy would be ignored" in r.stderr
    assert " ".join(why.split()[:6]) in " ".join(r.stderr.split())
    assert not (in_tmp_cwd / ".claude").exists() and not (tmp_path / "home" / ".config").exists()
    assert not (state_dir / "audit.jsonl").exists()
    if "--json" in argv:
        assert json.loads(r.stdout)["error"] == "usage_error"


def test_every_command_takes_policy_or_says_why_not() -> None:
    """One rule (agentgate.grammar.NO_POLICY): every command declares --policy, shown in its
    help when it reads the policy, hidden (and refused) when it does not; the README lists the
    ones that read it."""
    from agentgate.grammar import POLICY, no_policy_reason

    readers = []
    for path, cmd in _all_commands():
        opts = [p for p in cmd.params if POLICY.name in getattr(p, "opts", ())]
        if getattr(cmd, "commands", None) and not opts:
            assert path in ("policy", "hook", "service"), path  # a group without a callback
            continue
        assert len(opts) == 1, path
        assert opts[0].hidden is (no_policy_reason(path.split()) is not None), path
        if not opts[0].hidden:
            readers.append(path)
    agents = {w for w in readers if w.startswith("hook ")}
    listed = re.search(r"by every command that reads the policy \(([^)]*)\)", " ".join(README.split()))
    assert listed is not None
    documented = {w.strip().strip("`") for w in listed.group(1).split(",")}
    assert documented == {*(set(readers) - agents), "hook AGENT"}, documented


@pytest.mark.parametrize(("argv", "said"), [
    (("run", "--agent", "--policy", "{p}", "--", "deployer", "x"), "--agent needs a value, not the option --policy"),
    (("run", "--agent=--json", "deployer", "x"), "--agent needs a value, not the option --json"),
    (("run", "--json", "--agent", "--", "deployer", "x"), "--agent needs a value, not the option --"),
    (("run", "--agent", "--since", "deployer", "x"), "--agent needs a value, not the option --since"),
    (("run", "--agent", "", "deployer", "x"), "--agent needs a value, not an empty string"),
    (("--policy", "--json", "run", "deployer", "x"), "--policy needs a value, not the option --json"),
    (("check", "--policy", "-h", "deployer"), "--policy needs a value, not the option -h"),
    (("approve", "{id}", "--yes", "--ttl", ""), "--ttl needs a value, not an empty string"),
    (("approve", "{id}", "--ttl", "--yes"), "--ttl needs a value, not the option --yes"),
    (("deny", "--yes", "{id}", "--reason", "--json"), "--reason needs a value, not the option --json"),
    (("log", "--event", ""), "--event needs a value, not an empty string"),
    (("hook", "install", "claude-code", "--executable", "--dry-run"), "--executable needs a value"),
], ids=lambda a: " ".join(a) if isinstance(a, tuple) else None)
def test_an_option_value_that_is_an_option_or_empty_is_a_usage_error(
        argv: tuple[str, ...], said: str, deny_all: Path, marker: Path, in_tmp_cwd: Path) -> None:
    """`run --agent --policy p.toml -- x` used to take "--policy" as the agent and run
    p.toml; `approve --ttl ""` used the default TTL. Both are usage errors now; nothing runs
    and the request stays pending."""
    rid = block(*DEPLOY)
    r = ag(*(a.format(p=deny_all, id=rid) for a in argv))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert said in r.stderr
    assert not marker.exists() and not (in_tmp_cwd / ".claude").exists()
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "pending"
    assert [e["event"] for e in log_events()] == ["approval_requested"]


def test_a_value_that_merely_starts_with_a_dash_is_a_value(marker: Path) -> None:
    """Only agentgate's own option names are refused as values: an agent named -x is one."""
    r = ag("run", "--agent", "-x", "--", "deployer", "y")
    assert r.returncode == 0, r.stderr
    assert marker_lines(marker) == ["y"] and log_events()[-1]["agent"] == "-x"


@pytest.mark.parametrize("var", ["AGENTGATE_POLICY", "AGENTGATE_CONFIG_DIR", "AGENTGATE_HOME"])
def test_a_relative_path_variable_is_refused(var: str, marker: Path, in_tmp_cwd: Path) -> None:
    """Read from each command's directory, a relative path would name another policy (or
    ledger) wherever the agent works: each is a 78 with a hint, and nothing runs."""
    (in_tmp_cwd / "rel").mkdir()
    (in_tmp_cwd / "rel" / "policy.toml").write_text('version = 1\n[settings]\ndefault = "allow"\n')
    value = "rel/policy.toml" if var == "AGENTGATE_POLICY" else "rel"
    for argv in (("run", "--", "deployer", "x"), ("check", "--", "deployer"), ("where",)):
        r = ag(*argv, env={var: value})
        assert r.returncode == 78, (argv, r.stderr)
        assert f"{var} must be an absolute path, not {value!r}" in r.stderr
        assert f"hint: e.g. export {var}={in_tmp_cwd / value}" in r.stderr
    assert not marker.exists()
    assert ag("run", "--", "deployer", "x", env={var: str(in_tmp_cwd / value)}).returncode in (0, 75)


def test_check_policy_after_the_command_name_is_the_policy(deny_all: Path) -> None:
    r = ag("check", "--json", "--policy", str(deny_all), "--", "deployer", "site")
    assert r.returncode == 77, r.stderr
    obj = json.loads(r.stdout)
    assert obj["command"] == ["deployer", "site"]
    assert [p["path"] for p in obj["policies"]] == [str(deny_all)]


def test_every_command_that_reads_the_policy_takes_it_after_its_name(tmp_path: Path) -> None:
    """A missing policy file given after the command name makes each command fail (78, naming
    it): the option is used, not ignored. Without it, the same command works."""
    rid = block(*DEPLOY)
    gone = str(tmp_path / "gone.toml")
    local = tmp_path / "work" / ".agentgate.toml"
    local.write_text('version = 1\n[settings]\ndefault = "allow"\n')
    hook_in = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls"},
                          "cwd": str(tmp_path / "work"), "session_id": "s",
                          "hook_event_name": "PreToolUse"})
    commands = {
        "run": (("run", "--policy", gone, "--", "true"), 78),
        "check": (("check", "--policy", gone, "--", "true"), 78),
        "verify": (("verify", "--policy", gone, "deploy_staging"), 78),
        "policy validate": (("policy", "validate", "--policy", gone), 78),
        "policy trust": (("policy", "trust", str(local), "--policy", gone), 78),
        "hook claude-code": (("hook", "claude-code", "--policy", gone), 2),  # blocks, fail-closed
    }
    for name, (argv, code) in commands.items():
        r = ag(*argv, input=hook_in if name.startswith("hook") else None)
        assert r.returncode == code, (name, r.stdout, r.stderr)
        assert gone in r.stderr + r.stdout, (name, r.stdout, r.stderr)
        if name.startswith("hook"):
            assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    where = json.loads(ag("where", "--json", "--policy", gone).stdout)
    assert where["policy"] == gone and where["policyKind"] == "explicit"
    assert ag("show", rid).returncode == 0  # the request is still there, untouched
    for argv, _code in commands.values():  # the same words before the command name
        assert "--policy" in argv


def test_mcp_policy_after_the_command_name_is_the_policy(deny_all: Path, in_tmp_cwd: Path) -> None:
    pytest.importorskip("mcp")
    import asyncio

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    assert AGENTGATE
    params = StdioServerParameters(command=AGENTGATE, args=["mcp", "--policy", str(deny_all)],
                                   env=dict(os.environ), cwd=str(in_tmp_cwd))
    answers: list[Any] = []

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("verify_action", {"action": "deploy_staging"})
            structured = getattr(result, "structured_content", None) or getattr(
                result, "structuredContent", None)
            answers.append(structured or json.loads(result.content[0].text))

    asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert answers[0]["allowed"] is False and answers[0]["decision"] == "deny", answers


def test_the_fast_path_and_typer_read_options_alike(deny_all: Path, marker: Path) -> None:
    """`agentgate run` takes a typer-free fast path; the same words through the typer app must
    give the same answer."""
    typer_app = [sys.executable, "-c",
                 "import sys; from agentgate.cli import run_app; sys.exit(run_app(sys.argv[1:]))"]
    spellings = [
        ("run", "--", "deployer", "a"), ("run", "deployer", "b", "--json"),
        ("run", "--json", "--agent", "x", "deployer", "c"), ("run", "--agent=x", "--", "deployer"),
        ("run", "--policy", str(deny_all), "deployer"), (f"--policy={deny_all}", "run", "deployer"),
        ("run", "--policy", str(deny_all), "--policy", str(deny_all), "deployer"),
        ("run", "--nope", "deployer"), ("run", "--agent"), ("run", "--", "--policy", "x"),
        ("run", "--", *DEPLOY), ("run", "nuke"),
    ]
    for words in spellings:
        fast = ag(*words)
        slow = subprocess.run([*typer_app, *words], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, check=False)
        assert fast.returncode == slow.returncode, (words, fast.stderr, slow.stderr)
    assert marker_lines(marker) == ["a", "a", "b --json", "b --json", "c", "c", "", ""]


def test_one_definition_of_agentgates_own_options() -> None:
    import typer

    from agentgate import grammar
    from agentgate.cli import app
    from agentgate.integrations.agents import NAMES

    root = typer.main.get_command(app)

    def names(cmd: Any) -> set[str]:
        return {o for p in cmd.params for o in p.opts if p.param_type_name == "option"}

    assert names(root.commands["run"]) == {o.name for o in grammar.RUN_OPTIONS}
    assert set(root.commands["hook"].commands) == {*NAMES, "install", "status"}
    for agent in NAMES:
        assert names(root.commands["hook"].commands[agent]) == {o.name for o in grammar.HOOK_OPTIONS}
    assert {o.name for o in grammar.GLOBAL_OPTIONS} <= names(root)
    for p in root.commands["run"].params:
        spec = next((o for o in grammar.RUN_OPTIONS if o.name in p.opts), None)
        if spec is not None:
            assert p.help == spec.help and (p.metavar or None) == spec.metavar


# --------------------------------------------------------------------------- grants and 127


GHOST_POLICY = """\
version = 1
[settings]
default = "allow"

[[rule]]
id = "ghost"
decision = "ask"
commands = ["ghost"]
"""


def _ghost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "ghost.toml"
    policy.write_text(GHOST_POLICY)
    monkeypatch.setenv("AGENTGATE_POLICY", str(policy))


def test_a_grant_is_kept_when_the_program_is_not_found(
        tmp_path: Path, in_tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ghost(tmp_path, monkeypatch)
    rid = block("ghost", "--boo")
    assert ag("approve", rid, "--yes").returncode == 0
    for _ in range(2):
        r = ag("run", "--json", "--", "ghost", "--boo")
        assert r.returncode == 127, r.stderr
        assert "command not found: ghost" in r.stderr and f"grant {rid} is kept" in r.stderr
        err = json.loads(r.stdout)
        assert err["allowed"] is False and err["exitCode"] == 127 and err["error"] == "cannot_start"
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "approved"
    blocked = log_events("--event", "blocked", "--id", rid)
    assert len(blocked) == 2 and "command not found: ghost" in blocked[0]["error"]
    assert log_events("--event", "grant_consumed") == []

    # PATH entries are looked up as the start will do it: a relative one from the cwd
    (in_tmp_cwd / "bin").mkdir()
    ghost = in_tmp_cwd / "bin" / "ghost"
    ghost.write_text("#!/bin/sh\necho ghost ran \"$@\"\n")
    ghost.chmod(0o644)
    path = f"bin{os.pathsep}{os.environ['PATH']}"
    r = ag("run", "--", "ghost", "--boo", env={"PATH": path})
    assert r.returncode == 126, r.stderr  # found, but not executable: still kept
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "approved"
    ghost.chmod(0o755)
    r = ag("run", "--", "ghost", "--boo", env={"PATH": path})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ghost ran --boo\n"
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "consumed"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's execve formats")
def test_a_grant_is_kept_when_exec_would_fail(
        tmp_path: Path, in_tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An executable file that execve refuses (no #! line: 126; a #! interpreter that is
    missing: 127, or not executable: 126) leaves the grant approved, with a `blocked` line
    and no `grant_consumed`; once the file can start, the same grant runs it once."""
    policy = tmp_path / "held.toml"
    policy.write_text('version = 1\n[settings]\ndefault = "allow"\n[[rule]]\nid = "held"\n'
                      'decision = "ask"\ncommands = ["held*"]\n')
    monkeypatch.setenv("AGENTGATE_POLICY", str(policy))
    bindir = in_tmp_cwd / "bin"
    bindir.mkdir()
    (bindir / "interp").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "interp").chmod(0o644)
    cases = {"heldnoshebang": ("echo it-ran\n", 126, "exec format error"),
             "heldbadinterp": ("#!/nonexistent/interp\necho it-ran\n", 127,
                               "its interpreter /nonexistent/interp (from its #! line) was not found"),
             "helddenied": (f"#!{bindir}/interp\necho it-ran\n", 126, "is not an executable file")}
    path = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    for name, (text, code, said) in cases.items():
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
        rid = block(name)
        assert ag("approve", rid, "--yes").returncode == 0
        r = ag("run", "--json", "--", name, env={"PATH": path})
        assert r.returncode == code, (name, r.stderr)
        assert said in r.stderr and f"grant {rid} is kept" in r.stderr, r.stderr
        assert json.loads(r.stdout)["error"] == "cannot_start"
        assert json.loads(ag("show", "--json", rid).stdout)["status"] == "approved"
        assert said in log_events("--event", "blocked", "--id", rid)[0]["error"]
        assert "it-ran" not in r.stdout
    assert log_events("--event", "grant_consumed") == []
    (bindir / "heldnoshebang").write_text("#!/bin/sh\necho it-ran\n")
    r = ag("run", "--", "heldnoshebang", env={"PATH": path})
    assert (r.returncode, r.stdout) == (0, "it-ran\n"), r.stderr
    assert len(log_events("--event", "grant_consumed")) == 1


def test_a_path_with_a_slash_is_looked_up_from_the_cwd(
        tmp_path: Path, in_tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ghost(tmp_path, monkeypatch)
    rid = block("./ghost")
    assert ag("approve", rid, "--yes").returncode == 0
    assert ag("run", "--", "./ghost").returncode == 127
    (in_tmp_cwd / "ghost").write_text("#!/bin/sh\nexit 5\n")
    (in_tmp_cwd / "ghost").chmod(0o755)
    assert ag("run", "--", "./ghost").returncode == 5
    assert json.loads(ag("show", "--json", rid).stdout)["status"] == "consumed"


# --------------------------------------------------------------------------- help


def _all_commands() -> list[tuple[str, Any]]:
    import typer

    from agentgate.cli import app

    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, prefix: str) -> None:
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            path = f"{prefix} {name}".strip()
            out.append((path, sub))
            walk(sub, path)

    walk(typer.main.get_command(app), "")
    return out


def test_every_command_has_readable_help_with_h(tmp_path: Path) -> None:
    table = README[README.index("## Commands"):README.index("## Exit codes")]
    for path, cmd in [("", None), *_all_commands()]:
        words = path.split()
        long, short = ag(*words, "--help"), ag(*words, "-h")
        assert long.returncode == 0 and short.returncode == 0, (path, long.stderr, short.stderr)
        assert long.stdout == short.stdout, path
        usage = long.stdout.splitlines()[0]
        assert usage.startswith(f"Usage: agentgate {path}".rstrip() + " "), usage
        for ugly in ("{", "}", "<list", "<text>", "<path>", "<int>", "..."):
            assert ugly not in usage.replace("[ARG...]", "").replace("[ARGS]...", ""), usage
        assert "<list[" not in long.stdout and "<text>" not in long.stdout, path
        if cmd is None:
            continue
        summary = cmd.get_short_help_str()
        assert summary.endswith((".", ")")) and not summary.endswith("..."), (path, summary)
        assert summary in " ".join(long.stdout.split()), (path, summary)
        if path.startswith("hook ") and path != "hook install":
            assert "`agentgate hook claude-code\\|codex\\|cursor\\|gemini`" in table
        elif path not in ("hook", "policy", "service"):  # groups: their subcommands are listed
            assert f"`agentgate {path}" in table, f"`agentgate {path}` is missing from the README"
    listing = ag("--help").stdout
    assert "..." not in listing.split("Commands:")[1], "a summary was cut"


def test_the_run_usage_line_reads_like_the_readme() -> None:
    r = ag("run", "-h")
    assert r.stdout.splitlines()[0] == "Usage: agentgate run [OPTIONS] -- CMD [ARG...]"
    assert ag("check", "-h").stdout.splitlines()[0] == (
        "Usage: agentgate check [OPTIONS] -- CMD [ARG...]")
    assert ag("approve", "-h").stdout.splitlines()[0] == "Usage: agentgate approve [OPTIONS] ID"
    # after `--` (or CMD), -h belongs to the command
    assert ag("run", "--", "sh", "-c", 'echo "$0"', "-h").stdout == "-h\n"


# --------------------------------------------------------------------------- log summary --markdown


def test_log_summary_markdown(state_dir: Path) -> None:
    assert ag("run", "--agent", "claude|code", "--", "echo", "hi").returncode == 0
    rid = block(*DEPLOY)
    assert ag("run", "--", "nuke").returncode == 77
    assert ag("approve", rid, "--yes").returncode == 0
    r = ag("log", "summary", "--markdown")
    assert r.returncode == 0, r.stderr
    md = r.stdout
    assert "Hash chain: intact (5 lines)." in md
    assert "| event | count |" in md and "| allowed | 1 |" in md and "| denied | 1 |" in md
    rule_rows = [ln for ln in md.splitlines() if ln.startswith("| deploy-prod |")]
    assert len(rule_rows) == 1 and rule_rows[0].split("|")[2].strip() == "2"  # requested, approved
    assert "| claude\\|code | 2 |" in md  # a pipe in a name does not break the table
    for table in re.findall(r"(?:^\|.*\|\n)+", md, re.M):
        widths = {ln.count("|") - ln.count("\\|") for ln in table.splitlines()}
        assert len(widths) == 1, table

    lines = (state_dir / "audit.jsonl").read_bytes().splitlines(keepends=True)
    edited = lines[2].replace(b'"agent":"unknown"', b'"agent":"mallory"')
    assert edited != lines[2]
    lines[2] = edited
    (state_dir / "audit.jsonl").write_bytes(b"".join(lines))
    broken = ag("log", "summary", "--markdown")
    assert "Hash chain: **BROKEN** at " in broken.stdout
    assert ag("log", "summary", "--markdown", "--json").returncode == 2
