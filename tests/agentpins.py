"""What the real-agent conformance tests share: the CLIs' pins (.ci/node/package.json and its
lockfile, which .ci/run installs with `npm ci`, README, Development; each test file names its
version and checks it here), and the human's side of a harness (agentgate in the same state)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import ag

NODE = Path(__file__).resolve().parent.parent / ".ci" / "node"
INSTALL = "npm ci --prefix .ci/node"


def pinned(package: str) -> str:
    """The exact version package.json pins for `package`, after checking the lockfile agrees."""
    wanted = json.loads((NODE / "package.json").read_text())["dependencies"][package]
    lock = json.loads((NODE / "package-lock.json").read_text())["packages"]
    assert lock[""]["dependencies"][package] == wanted, "package-lock.json is stale: run npm install --prefix .ci/node"
    assert lock[f"node_modules/{package}"]["version"] == wanted, (package, wanted)
    return str(wanted)


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
