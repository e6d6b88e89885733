"""A protected-mode Service driven in this process, as its clients would over the socket (the
tests of its exceptions and reports; tests/test_protected.py runs the real one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgate.service import protocol, secret
from agentgate.service.server import Service

PASSPHRASE = "a long passphrase"
PROD_POLICY = """\
version = 1
[settings]
default = "allow"
[[rule]]
id = "prod"
decision = "ask"
reason = "Production deploys need a human."
commands = ["vercel ** --prod **"]
"""


def state_dir(tmp_path: Path) -> str:
    d = tmp_path / "state"
    d.mkdir(mode=0o700, exist_ok=True)
    return str(d)


def new_service(tmp_path: Path, policy: str = PROD_POLICY) -> Service:
    """A Service on a fresh state directory (the approver secret PASSPHRASE) and ``policy``."""
    state = state_dir(tmp_path)
    secret.write_verifier(state, secret.new_verifier(PASSPHRASE))
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    return Service(state, str(path))


def with_proof(ask: Callable[..., dict[str, Any]], fields: dict[str, Any],
               passphrase: str = PASSPHRASE, signed: dict[str, Any] | None = None) -> dict[str, Any]:
    """``fields`` sent through ``ask`` with the proof of ``passphrase`` over ``signed`` (by
    default the fields themselves), on a fresh challenge."""
    challenge = ask(op="challenge")
    kdf = challenge["kdf"]
    key = secret.derive(passphrase, bytes.fromhex(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
    nonce = challenge["nonce"]
    return ask(**fields, nonce=nonce, proof=protocol.make_proof(key, signed or fields, nonce))
