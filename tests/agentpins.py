"""The real agent CLIs' pins: .ci/node/package.json and its lockfile, which .ci/run installs with
`npm ci` (README, Development). Each conformance test file names its version and checks it here."""

from __future__ import annotations

import json
from pathlib import Path

NODE = Path(__file__).resolve().parent.parent / ".ci" / "node"
INSTALL = "npm ci --prefix .ci/node"


def pinned(package: str) -> str:
    """The exact version package.json pins for `package`, after checking the lockfile agrees."""
    wanted = json.loads((NODE / "package.json").read_text())["dependencies"][package]
    lock = json.loads((NODE / "package-lock.json").read_text())["packages"]
    assert lock[""]["dependencies"][package] == wanted, "package-lock.json is stale: run npm install --prefix .ci/node"
    assert lock[f"node_modules/{package}"]["version"] == wanted, (package, wanted)
    return str(wanted)
