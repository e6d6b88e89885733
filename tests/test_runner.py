"""The process runner: exit codes, signals, and stdio passed straight through."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest
from conftest import AGENTGATE

from agentgate import runner


def test_exit_code_is_the_childs() -> None:
    assert runner.run(["sh", "-c", "exit 0"]) == runner.RunResult(0)
    assert runner.run(["sh", "-c", "exit 7"]) == runner.RunResult(7)
    assert runner.run(["sh", "-c", "exit 255"]).exit_code == 255


def test_killed_by_signal_is_128_plus_n() -> None:
    assert runner.run(["sh", "-c", "kill -TERM $$"]).exit_code == 128 + signal.SIGTERM
    assert runner.run(["sh", "-c", "kill -KILL $$"]).exit_code == 128 + signal.SIGKILL


def test_missing_program_is_127_with_a_message() -> None:
    res = runner.run(["no-such-program-agentgate-test", "x"])
    assert res.exit_code == 127
    assert res.error and "no-such-program-agentgate-test" in res.error
    assert runner.run([]).exit_code == 127


def test_unexecutable_file_is_126(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)  # no execute bit: refused even for root
    res = runner.run([str(script)])
    assert res.exit_code == 126
    assert res.error
    assert runner.run([str(tmp_path)]).exit_code == 126  # a directory


def test_env_is_passed_and_no_shell_is_added(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.run(["sh", "-c", 'printf "%s|%s" "$GATE_TEST" "$1" > "$0"', str(out), "$HOME;x"],
                     {**os.environ, "GATE_TEST": "yes"})
    assert res.exit_code == 0
    assert out.read_text() == "yes|$HOME;x"  # the argument arrived literally


def test_signal_handlers_are_restored() -> None:
    def mine(signum: int, frame: FrameType | None) -> None:
        pass

    old = signal.signal(signal.SIGUSR2, mine)
    try:
        before = {s: signal.getsignal(s) for s in runner.FORWARDED}
        runner.run(["true"])
        assert {s: signal.getsignal(s) for s in runner.FORWARDED} == before
        assert signal.getsignal(signal.SIGUSR2) is mine
        runner.run(["no-such-program-agentgate-test"])  # also after a failed start
        assert {s: signal.getsignal(s) for s in runner.FORWARDED} == before
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_signal_to_the_runner_is_forwarded_in_process(tmp_path: Path) -> None:
    ready, got = tmp_path / "ready", tmp_path / "got"
    child = ("import pathlib, signal, sys, time\n"
             "def h(n, f):\n"
             "    pathlib.Path(sys.argv[2]).write_text(str(n)); sys.exit(42)\n"
             "signal.signal(signal.SIGUSR1, h)\n"
             "pathlib.Path(sys.argv[1]).write_text('ready')\n"
             "time.sleep(20)\n")
    caught: list[int] = []
    # If forwarding were broken, this keeps SIGUSR1 from killing the test process.
    old = signal.signal(signal.SIGUSR1, lambda n, f: caught.append(n))

    def poke() -> None:
        deadline = time.monotonic() + 15
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGUSR1)

    t = threading.Thread(target=poke)
    t.start()
    try:
        res = runner.run([sys.executable, "-c", child, str(ready), str(got)])
    finally:
        t.join()
        signal.signal(signal.SIGUSR1, old)
    assert res.exit_code == 42
    assert got.read_text() == str(int(signal.SIGUSR1))
    assert caught == []


# --------------------------------------------------------------------------- through the CLI


@pytest.mark.usefixtures("in_tmp_cwd", "policy_file")
def test_stdin_passes_through() -> None:
    r = subprocess.run(f"echo hi | {AGENTGATE} run -- cat", shell=True, capture_output=True,
                       text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"


@pytest.mark.usefixtures("in_tmp_cwd", "policy_file")
def test_stdout_and_stderr_are_separate_and_streamed(tmp_path: Path) -> None:
    go = tmp_path / "go"
    child = ("import pathlib, sys, time\n"
             "print('first', flush=True)\n"
             "print('to-stderr', file=sys.stderr, flush=True)\n"
             "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.02)\n"
             "print('second', flush=True)\n")
    p = subprocess.Popen([AGENTGATE, "run", "--", sys.executable, "-c", child, str(go)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None
        # The first line arrives while the child is still running: nothing buffers it.
        assert p.stdout.readline() == "first\n"
        assert p.poll() is None
        go.write_text("")
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0
    assert out == "second\n"
    assert "to-stderr" in err and "first" not in err


@pytest.mark.parametrize("program", ["", "a\x00b"])
def test_unusable_program_names_are_not_found(program: str) -> None:
    from agentgate.runner import run

    res = run([program, "x"])
    assert res.exit_code == 127 and res.error and "command not found" in res.error


# --------------------------------------------------------------------------- startable


def _script(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_startable_looks_programs_up_as_the_start_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """startable() answers what run() (posix_spawnp, which searches our own PATH) would do,
    without starting anything."""
    from agentgate.runner import startable

    monkeypatch.chdir(tmp_path)
    _script(tmp_path / "a" / "prog", 0o644)  # found first, but not executable: skipped
    _script(tmp_path / "b" / "prog")
    (tmp_path / "c" / "dir").mkdir(parents=True)
    a_then_b = f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"
    assert startable("prog", a_then_b) is None
    monkeypatch.setenv("PATH", a_then_b)
    assert startable("prog") is None
    assert runner.run(["prog"]).exit_code == 0  # and it does start
    monkeypatch.setenv("PATH", str(tmp_path / "a"))
    only_a = startable("prog")
    assert only_a is not None and only_a.exit_code == 126
    assert runner.run(["prog"]).exit_code == 126
    assert startable("prog", "c") == runner.RunResult(127, "command not found: prog")
    dir_result = startable("dir", "c")
    assert dir_result is not None and dir_result.exit_code == 126  # a directory
    assert startable("prog", "b") is None  # a relative entry, from the cwd
    no_cwd = startable("prog", f"{tmp_path / 'a'}{os.pathsep}")
    assert no_cwd is not None and no_cwd.exit_code == 126
    _script(tmp_path / "prog")
    assert startable("prog", f"{tmp_path / 'a'}{os.pathsep}") is None  # "" is the cwd
    assert startable("./prog", "") is None and startable("b/prog", "") is None
    in_a = startable(str(tmp_path / "a" / "prog"))
    assert in_a is not None and in_a.exit_code == 126
    monkeypatch.delenv("PATH")
    assert startable("sh") is None  # no PATH: the default search path
    monkeypatch.undo()
    for name in ("", "a\x00b", "no-such-program-agentgate-test"):
        res = startable(name)
        assert res is not None and res.exit_code == 127
        assert res.exit_code == runner.run([name]).exit_code


def _elf_with_loader(loader: bytes) -> bytes | None:
    """This Python's ELF binary with its dynamic loader's path swapped for ``loader`` (same
    length), or None when it has none (static, or not ELF)."""
    import re

    data = Path(os.path.realpath(sys.executable)).read_bytes()
    if not data.startswith(b"\x7fELF"):
        return None
    found = re.search(rb"/[\w/.+-]*ld[\w.+-]*\.so[\w.]*\x00", data[:4096])
    if found is None:
        return None
    old = found.group()[:-1]
    return data.replace(old, loader[:len(old)].ljust(len(old), b"x"), 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's execve and binfmt")
def test_startable_answers_what_the_start_answers_for_every_format(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files that pass an "exists and is executable" check but that execve refuses: no #!
    line (ENOEXEC, 126), a #! interpreter that is missing (127) or not executable (126), a #!
    line naming nothing, an ELF binary whose dynamic loader is missing (127); and the ones it
    takes (nested #! interpreters, a relative interpreter from the cwd). For each, startable()
    and a real start (posix_spawnp, and subprocess for run_captured) agree."""
    from agentgate.runner import run_captured, startable

    monkeypatch.chdir(tmp_path)
    d = tmp_path / "bin"
    d.mkdir()
    (d / "noexec-interp").write_text("#!/bin/sh\nexit 0\n")
    (d / "noexec-interp").chmod(0o644)
    files = {
        "noshebang": ("exit 0\n", 126, "exec format error"),
        "binary-junk": ("\x00\x01\x02junk", 126, "exec format error"),
        "badinterp": ("#!/nonexistent/interp -x\nexit 0\n", 127, "/nonexistent/interp"),
        "deninterp": (f"#! {d}/noexec-interp\nexit 0\n", 126, "not an executable file"),
        "emptyinterp": ("#!   \nexit 0\n", 126, "names no interpreter"),
        "nested": (f"#!{d}/good\n", None, None),
        "good": ("#!/bin/sh\nexit 0\n", None, None),
        "relinterp": ("#!bin/good\n", None, None),  # from the cwd, as the kernel opens it
        "deep": (f"#!{d}/nested\n", None, None),
    }
    for name, (text, _code, _said) in files.items():
        (d / name).write_text(text)
        (d / name).chmod(0o755)
    elf = _elf_with_loader(b"/nonexistent/ld.so")
    if elf is not None:
        (d / "badloader").write_bytes(elf)
        (d / "badloader").chmod(0o755)
        files["badloader"] = ("", 127, "dynamic loader /nonexistent/ld")
    for name, (_text, code, said) in files.items():
        path = str(d / name)
        res = startable(path)
        started = runner.run([path])
        captured = run_captured([path], tmp_path, dict(os.environ), 10, 1024)
        if code is None:
            assert res is None and started.exit_code == 0 and captured.exit_code == 0, name
            continue
        assert res is not None and res.exit_code == code, (name, res)
        assert said is not None and res.error and said in res.error, (name, res)
        assert started.exit_code == code and started.error == res.error, (name, started)
        assert captured.exit_code == code and captured.error == res.error, (name, captured)

    # The search, as each start does it: posix_spawnp passes over a file whose interpreter is
    # missing but stops at an exec format error; subprocess (first_error) passes over both.
    later = tmp_path / "later"
    later.mkdir()
    for name in ("badinterp", "noshebang"):
        (later / name).write_text("#!/bin/sh\nexit 3\n")
        (later / name).chmod(0o755)
    search = f"{d}{os.pathsep}{later}"
    monkeypatch.setenv("PATH", search)
    assert startable("badinterp") is None and runner.run(["badinterp"]).exit_code == 3
    res = startable("noshebang")
    assert res is not None and res.exit_code == 126 == runner.run(["noshebang"]).exit_code
    assert startable("noshebang", first_error=True) is None
    assert run_captured(["noshebang"], tmp_path, dict(os.environ), 10, 1024).exit_code == 3
    monkeypatch.setenv("PATH", str(d))
    res = startable("badinterp")
    assert res is not None and res.exit_code == 127 and "/nonexistent/interp" in str(res.error)


def test_a_format_a_binfmt_misc_handler_takes_is_startable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux's binfmt_misc (Wine, qemu, Java) runs files that are neither #! nor native, by
    magic bytes (under a mask, at an offset) or by extension: those count as startable, a
    disabled handler or a disabled binfmt_misc does not. (Registering a handler needs root
    and changes the machine: the entries are read from a directory laid out as the kernel's.)"""
    misc = tmp_path / "binfmt_misc"
    misc.mkdir()
    (misc / "status").write_text("enabled\n")
    (misc / "register").write_text("")
    (misc / "mz").write_text("enabled\ninterpreter /usr/bin/wine\nflags: \noffset 2\n"
                             "magic 4d5a\nmask ff7f\n")
    (misc / "jar").write_text("enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n")
    (misc / "off").write_text("disabled\ninterpreter /x\nflags: \noffset 0\nmagic 4242\n")
    monkeypatch.setattr(runner, "_BINFMT_MISC", str(misc))
    takes = runner._binfmt_misc_takes
    assert takes("/p/prog", b"..MZrest") and takes("/p/prog", b"..M\xdarest")  # the mask
    assert not takes("/p/prog", b"MZ......") and not takes("/p/prog", b"..M")
    assert takes("/p/app.jar", b"PK") and not takes("/p.jar/app", b"PK")
    assert not takes("/p/prog", b"BB")  # a disabled handler
    (misc / "status").write_text("disabled\n")
    assert not takes("/p/prog", b"..MZrest")
    monkeypatch.setattr(runner, "_BINFMT_MISC", str(tmp_path / "not-mounted"))
    assert not takes("/p/prog", b"..MZrest")
    if sys.platform.startswith("linux"):
        prog = tmp_path / "prog"
        prog.write_bytes(b"..MZ-not-a-script")
        prog.chmod(0o755)
        res = runner.startable(str(prog))
        assert res is not None and res.exit_code == 126
        (misc / "status").write_text("enabled\n")
        monkeypatch.setattr(runner, "_BINFMT_MISC", str(misc))
        assert runner.startable(str(prog)) is None
