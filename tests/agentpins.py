"""What the real-agent conformance tests share: the CLIs' pins (.ci/node/package.json and its
lockfile, which .ci/run installs with `npm ci`, README, Development; each test file names its
version and checks it here), the network namespace with only loopback that every agent runs in
(and its model server listens in), and the human's side of a harness (agentgate in the same
state)."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import ag

NODE = Path(__file__).resolve().parent.parent / ".ci" / "node"
INSTALL = "npm ci --prefix .ci/node"
T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NO_NETNS = ("the real-agent tests run each agent in a network namespace with only loopback, and "
            "this process cannot make one (it needs root or CAP_SYS_ADMIN): run them as root, "
            "e.g. `sudo .venv/bin/python -m pytest -q tests/test_real_codex.py` (README, "
            "Development)")

# The holder: a process alone in a new network namespace, where it brings `lo` up (ioctl, so
# that no iproute2 is needed), says which interfaces there are, and stays until its stdin closes
# (when the test process ends, however it ends).
_HOLDER = """\
import ctypes, fcntl, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x40000000) != 0:
    print("unshare(CLONE_NEWNET):", os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCSIFFLAGS: IFF_UP
print("ready", os.readlink("/proc/self/ns/net"), *(n for _, n in socket.if_nameindex()), flush=True)
sys.stdin.read()
"""


class LoopbackNet:
    """A network namespace that has only loopback, held open by a process of its own: the agent
    CLIs run in it (:meth:`argv`) and the fake model servers listen in it (:meth:`call`)."""

    def __init__(self) -> None:
        self._holder = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self._holder.stdout is not None
        words = self._holder.stdout.readline().split()
        if words[:1] != ["ready"]:
            self._holder.wait()
            raise OSError(" ".join(words) or f"the holder exited {self._holder.returncode}")
        self.inode, self.interfaces = words[1], words[2:]
        self.path = f"/proc/{self._holder.pid}/ns/net"

    def argv(self, *argv: str) -> list[str]:
        """``argv`` run in the namespace (util-linux's nsenter)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a thread that has entered the namespace: a socket it makes stays there."""
        result: list[T] = []
        failed: list[BaseException] = []

        def inside() -> None:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNET)")
                result.append(fn())
            except BaseException as e:  # re-raised in the caller's thread
                failed.append(e)
            finally:
                os.close(fd)

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if failed:
            raise failed[0]
        return result[0]


_NET: list[LoopbackNet] = []


def loopback_net() -> LoopbackNet:
    """This test process's namespace with only loopback (made on first use); fails the test,
    never skips it or falls back to the host's network, when it cannot be made."""
    if not _NET:
        try:
            net = LoopbackNet()
        except OSError as e:
            pytest.fail(f"{NO_NETNS}: {e}")
        assert net.interfaces == ["lo"], net.interfaces
        _NET.append(net)
    return _NET[0]


def _ipv4_addresses() -> list[str]:
    """This namespace's IPv4 addresses other than loopback's (SIOCGIFADDR on each interface)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s, 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address
            address = socket.inet_ntoa(raw[20:24])
            if not address.startswith("127."):
                found.append(address)
    return found


class NetworkProbe:
    """What an agent's shell tool runs to show where it is: its network namespace, and a TCP
    connect to this machine's own non-loopback address and to 127.0.0.1, at a port this test
    process listens on (in the host's network) for the whole scenario."""

    def __init__(self, tmp: Path) -> None:
        addresses = _ipv4_addresses()
        assert addresses, "this machine has no non-loopback IPv4 address to try to reach"
        self.address = addresses[0]
        self.listener = socket.create_server(("0.0.0.0", 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        script = tmp / "netprobe.py"
        script.write_text(
            "import os, socket\n"
            "print('netns', os.readlink('/proc/self/ns/net'))\n"
            f"for host in ({self.address!r}, '127.0.0.1'):\n"
            "    with socket.socket() as s:\n"
            "        s.settimeout(10)\n"
            f"        print('connect', host, s.connect_ex((host, {self.port})))\n")
        self.command = f"{sys.executable} {script}"

    def check(self, output: str) -> None:
        """The agent's command ran in the loopback-only namespace: nothing outside it reached
        the listener, which this process (outside) reaches at the same address and port."""
        lines = [found.split() for found in re.findall(r"\b(?:netns \S+|connect \S+ \d+)$", output, re.M)]
        host_netns = os.readlink("/proc/self/ns/net")
        assert lines == [["netns", loopback_net().inode],
                         ["connect", self.address, str(errno.ENETUNREACH)],
                         ["connect", "127.0.0.1", str(errno.ECONNREFUSED)]], (output, host_netns)
        assert loopback_net().inode != host_netns
        with pytest.raises(BlockingIOError):
            self.listener.accept()  # no connection came from the agent's side
        with socket.create_connection((self.address, self.port), timeout=10):
            pass  # the control: from the host's network the address and port answer
        self.listener.close()


def pinned(package: str, node: Path = NODE) -> str:
    """The exact version ``node``/package.json pins for `package` (.ci/node, or .ci/node22 for
    what needs Node 22), after checking the lockfile agrees."""
    wanted = json.loads((node / "package.json").read_text())["dependencies"][package]
    lock = json.loads((node / "package-lock.json").read_text())["packages"]
    assert lock[""]["dependencies"][package] == wanted, f"package-lock.json is stale: run npm install --prefix .ci/{node.name}"
    assert lock[f"node_modules/{package}"]["version"] == wanted, (package, wanted)
    return str(wanted)


BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench.py"


def bench_measures(agent: str, sent: dict[str, Any]) -> None:
    """bench/bench.py's per-call hook latency (part 1d) feeds `agentgate hook AGENT` what the
    agent sends (``sent``, captured from a real call: the same keys, event and tool), and the
    measurement runs (a run of one round; no figure is judged here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ours = bench.hook_payload(agent, Path(sent["cwd"]), 0)
    assert sorted(ours) == sorted(sent), (ours, sent)
    assert sorted(ours["tool_input"]) == sorted(sent["tool_input"]), (ours, sent)
    assert (ours["hook_event_name"], ours["tool_name"]) == (sent["hook_event_name"], sent["tool_name"])
    out = subprocess.run([sys.executable, str(BENCH), "--only-hooks", "--runs", "1"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(rf"^\| agentgate hook {agent} +\| \d+\.\d ms ", out.stdout, re.M), out.stdout


class HumanSide:
    """agentgate run as the human beside an agent session: in the harness's ``work`` directory
    with its ``env`` (the same state and policy as the agent's hook)."""

    work: Path
    env: dict[str, str]

    def ag(self, *args: str) -> subprocess.CompletedProcess[str]:
        return ag(*args, cwd=self.work, env=self.env)

    def pending(self) -> list[dict[str, Any]]:
        out = self.ag("pending", "--json")
        assert out.returncode == 0, out.stderr
        requests: list[dict[str, Any]] = json.loads(out.stdout)
        return requests

    def audit(self, *args: str) -> list[dict[str, Any]]:
        out = self.ag("log", "--json", *args)
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines()]
