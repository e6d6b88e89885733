"""Protected mode's standing exceptions and the one decision per hook call, in the service
itself (driven directly, as one client would over its socket; tests/test_protected.py does the
same through the real service, users and sockets)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from servicekit import PASSPHRASE, PROD_POLICY, new_service, state_dir, with_proof

from agentgate.errors import NotFound, PolicyError, StateError
from agentgate.policy.exemptions import Exemption
from agentgate.service import exceptions, protocol

POLICY = PROD_POLICY + """\
[[rule]]
id = "never"
decision = "deny"
commands = ["vercel ** --never **"]
"""


def _exemption(eid: str = "exc_0000000001", argv: tuple[str, ...] = ("vercel", "--prod")) -> Exemption:
    return Exemption(eid, "argv", argv, "/work", "prod", approved_by="me", request="apr_x")


# --------------------------------------------------------------------------- the file


def test_add_and_remove_keep_the_rest_of_the_file(tmp_path: Path) -> None:
    state = state_dir(tmp_path)
    path = exceptions.add(state, _exemption())
    assert Path(path).stat().st_mode & 0o777 == 0o600
    with open(path, "a") as f:
        f.write("\n# root's note about the next one\n")
    exceptions.add(state, _exemption("exc_0000000002", ("vercel", "--prod", "x")))
    assert [e.id for e in exceptions.read(state)[1]] == ["exc_0000000001", "exc_0000000002"]
    with pytest.raises(PolicyError, match="already there"):
        exceptions.add(state, _exemption("exc_0000000003"))
    exceptions.remove(state, "exc_0000000001")
    text = Path(path).read_text()
    assert "root's note" in text and "exc_0000000001" not in text
    assert [e.id for e in exceptions.read(state)[1]] == ["exc_0000000002"]
    with pytest.raises(NotFound):
        exceptions.remove(state, "exc_0000000001")


def test_a_file_that_does_not_parse_is_never_written(tmp_path: Path) -> None:
    state = state_dir(tmp_path)
    path = Path(exceptions.path_of(state))
    for bad in ("[[exception]]\nid = \n", "[[rule]]\nid = 'x'\n", "[[exception]]\nid = 'e'\n"):
        path.write_text(bad)
        path.chmod(0o600)
        with pytest.raises(PolicyError):
            exceptions.add(state, _exemption())
        assert path.read_text() == bad


def test_a_linked_or_shared_file_is_refused(tmp_path: Path) -> None:
    state = state_dir(tmp_path)
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text("")
    os.symlink(elsewhere, exceptions.path_of(state))
    with pytest.raises(StateError):
        exceptions.add(state, _exemption())
    os.unlink(exceptions.path_of(state))
    Path(exceptions.path_of(state)).write_text("")
    os.chmod(exceptions.path_of(state), 0o666)
    with pytest.raises(StateError):
        exceptions.read(state)


# --------------------------------------------------------------------------- the service


class _Client:
    """One client of a Service in this process."""

    def __init__(self, tmp_path: Path) -> None:
        self.service = new_service(tmp_path, POLICY)
        self.state = state_dir(tmp_path)
        self.peer = protocol.Peer(os.getpid(), os.getuid(), os.getgid())
        self.cwd = str(tmp_path)

    def ask(self, **msg: Any) -> dict[str, Any]:
        return self.service.handle(msg, self.peer)

    def authorize(self, *argv: str, call: str | None = None) -> dict[str, Any]:
        answer = self.ask(op="authorize", agent="codex", **({"call": call} if call else {}),
                          subject={"kind": "argv", "argv": list(argv), "cwd": self.cwd})
        assert answer["ok"], answer
        return answer

    def with_proof(self, fields: dict[str, Any], passphrase: str = PASSPHRASE,
                   signed: dict[str, Any] | None = None) -> dict[str, Any]:
        return with_proof(self.ask, fields, passphrase, signed)


def test_remember_and_forget_need_the_secret_and_relax_only_that_ask(tmp_path: Path) -> None:
    c = _Client(tmp_path)
    held = c.authorize("vercel", "--prod")["outcome"]
    rid = held["approval_id"]
    assert held["approval_required"]
    approve = {"op": "approve", "id": rid, "ttl": None, "remember": True}
    assert not c.with_proof(approve, "a wrong passphrase")["ok"]
    plain = {"op": "approve", "id": rid, "ttl": None}
    assert not c.with_proof(approve, signed=plain)["ok"]  # the proof must cover "remember"
    assert exceptions.read(c.state) == (None, ())
    done = c.with_proof(approve)
    assert done["ok"] and done["remembered"] == exceptions.path_of(c.state), done
    [kept] = exceptions.read(c.state)[1]
    assert (kept.command, kept.cwd, kept.rule, kept.request) == (("vercel", "--prod"), c.cwd,
                                                                 "prod", rid)
    for _ in range(3):
        assert c.authorize("vercel", "--prod")["outcome"]["allowed"]
    assert c.authorize("vercel", "--prod", "--other")["outcome"]["approval_required"]
    shown = c.ask(op="policy_show")["policy"]
    assert [e["id"] for e in shown["exceptions"]] == [done["exception"]]
    assert shown["sources"][-1]["kind"] == "service" and shown["sources"][-1]["rules"] == []

    forget = {"op": "forget", "exception": done["exception"]}
    assert not c.ask(**forget)["ok"]
    assert not c.with_proof(forget, "a wrong passphrase")["ok"]
    assert len(exceptions.read(c.state)[1]) == 1
    assert c.with_proof(forget)["ok"]
    assert exceptions.read(c.state)[1] == ()
    assert c.authorize("vercel", "--prod")["outcome"]["approval_required"]


def test_an_exception_is_the_users_it_was_remembered_from(tmp_path: Path) -> None:
    """The service's exceptions file serves every user: an exception remembered from one user's
    request never lets another user's agent through (a hand-written one without `user` does)."""
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    c = _Client(tmp_path)
    rid = c.authorize("vercel", "--prod")["outcome"]["approval_id"]
    assert c.with_proof({"op": "approve", "id": rid, "ttl": None, "remember": True})["ok"]
    [kept] = exceptions.read(c.state)[1]
    assert kept.user == me
    assert c.authorize("vercel", "--prod")["outcome"]["allowed"]
    exceptions.remove(c.state, kept.id)
    exceptions.add(c.state, Exemption("exc_0000000007", "argv", ("vercel", "--prod"), c.cwd,
                                      "prod", user="somebody-else"))
    first = c.authorize("vercel", "--prod")["outcome"]
    assert first["via_grant"] and first["standing"] is None  # the approval it came with, once
    assert c.authorize("vercel", "--prod")["outcome"]["approval_required"]
    exceptions.add(c.state, Exemption("exc_0000000008", "argv", ("vercel", "--prod"), c.cwd,
                                      "prod", user=me))
    assert c.authorize("vercel", "--prod")["outcome"]["allowed"]


def test_an_exception_never_relaxes_a_deny(tmp_path: Path) -> None:
    c = _Client(tmp_path)
    exceptions.add(c.state, Exemption("exc_0000000009", "argv", ("vercel", "--prod", "--never"),
                                      c.cwd, "prod"))
    out = c.authorize("vercel", "--prod", "--never")["outcome"]
    assert out["decision"] == "deny" and not out["allowed"]


def test_a_broken_exceptions_file_fails_closed(tmp_path: Path) -> None:
    c = _Client(tmp_path)
    path = Path(exceptions.path_of(c.state))
    path.write_text("[[exception]]\nid = 'x'\n")
    path.chmod(0o600)
    answer = c.ask(op="authorize", agent="codex",
                   subject={"kind": "argv", "argv": ["vercel", "ls"], "cwd": c.cwd})
    assert answer["ok"] is False and "exceptions.toml" in answer["error"]["message"]


def test_one_allow_per_hook_call_is_given_again_never_a_second_grant(tmp_path: Path) -> None:
    c = _Client(tmp_path)
    rid = c.authorize("vercel", "--prod", call="held")["outcome"]["approval_id"]
    again = c.authorize("vercel", "--prod", call="held")["outcome"]
    assert again["approval_required"] and again["approval_id"] == rid  # decided again: held
    assert c.with_proof({"op": "approve", "id": rid, "ttl": None})["ok"]
    first = c.authorize("vercel", "--prod", call="retry")
    assert first["outcome"]["allowed"] and first["outcome"]["via_grant"]
    for _ in range(3):
        copy = c.authorize("vercel", "--prod", call="retry")
        assert copy["outcome"] == first["outcome"] and copy["repeated"] is True
        assert "run_token" not in copy
    assert c.authorize("vercel", "--prod", "--x", call="retry")["outcome"]["approval_required"]
    assert c.authorize("vercel", "--prod", call="another")["outcome"]["approval_required"]
    assert c.authorize("vercel", "--prod")["outcome"]["approval_required"]
    request = c.ask(op="get", id=rid)["request"]
    assert request["status"] == "consumed", request


def test_a_withdrawn_approval_is_never_given_again_to_a_replayed_call(tmp_path: Path) -> None:
    """The allow kept for a hook call's other copies goes with the approval it came from: after
    a revoke (or a forgotten exception) the same call key is decided again, and held."""
    c = _Client(tmp_path)
    rid = c.authorize("vercel", "--prod")["outcome"]["approval_id"]
    assert c.with_proof({"op": "approve", "id": rid, "ttl": None, "uses": "any"})["ok"]
    kept = c.authorize("vercel", "--prod", call="kept")["outcome"]
    assert kept["allowed"] and kept["approval_id"] == rid
    other = c.authorize("ls", call="other")["outcome"]  # a plain allow: no approval behind it
    assert c.ask(op="revoke", id=rid)["ok"]
    replay = c.authorize("vercel", "--prod", call="kept")
    assert replay["outcome"]["approval_required"] and "repeated" not in replay, replay
    assert c.authorize("ls", call="other") == {"ok": True, "outcome": other, "repeated": True}

    rid = replay["outcome"]["approval_id"]
    done = c.with_proof({"op": "approve", "id": rid, "ttl": None, "remember": True})
    assert done["ok"], done
    assert c.authorize("vercel", "--prod", call="standing")["outcome"]["allowed"]
    assert c.with_proof({"op": "forget", "exception": done["exception"]})["ok"]
    replay = c.authorize("vercel", "--prod", call="standing")
    assert replay["outcome"]["approval_required"] and "repeated" not in replay, replay
