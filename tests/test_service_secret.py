"""The approver secret's pieces, without a service: scrypt keys, the lockout by uid, TOTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgate.errors import NotAuthorized
from agentgate.service import protocol, secret


def test_totp_matches_rfc_6238s_test_values() -> None:
    key = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1, eight digits
    for t, code in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                    (1234567890, "89005924"), (2000000000, "69279037")):
        assert secret.totp_code(key, t // 30, 8) == code


def _state(tmp_path: Path) -> str:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return str(d)


def test_a_code_is_accepted_once_and_only_near_now(tmp_path: Path) -> None:
    state = _state(tmp_path)
    enrolment = secret.new_totp()
    secret.write_totp(state, enrolment)
    now = 1_800_000_000.0
    totp = secret.Totp(state)
    code = secret.totp_code(totp.key, int(now // 30))
    assert not secret.Totp(state).accept(secret.totp_code(totp.key, int(now // 30) - 5), now)
    assert secret.Totp(state).accept(code, now)
    assert not secret.Totp(state).accept(code, now)  # replayed: refused, also by a new reader
    earlier = secret.totp_code(totp.key, int(now // 30) - 1)
    assert not secret.Totp(state).accept(earlier, now)  # older than the one used
    assert secret.Totp(state).accept(secret.totp_code(totp.key, int(now // 30) + 1), now + 30)
    for bad in (None, "", "12345", "1234567", "abcdef", 123456):
        assert not secret.Totp(state).accept(bad, now)
    assert "secret=" + str(enrolment["secret"]) in secret.totp_uri(enrolment, "host")


def test_the_stored_key_is_not_the_passphrase_and_proves_it(tmp_path: Path) -> None:
    state = _state(tmp_path)
    secret.write_verifier(state, secret.new_verifier("a long passphrase"))
    text = Path(state, secret.KEY_FILE).read_text()
    assert "a long passphrase" not in text
    v = secret.load_verifier(state)
    key = secret.derive("a long passphrase", v.salt, v.n, v.r, v.p)
    assert key == v.key and "key" not in json.dumps(v.params())
    fields: dict[str, object] = {"op": "approve", "id": "apr_x", "ttl": None}
    proof = protocol.make_proof(key, fields, "nonce1")
    assert protocol.proof_matches(v.key, fields, "nonce1", proof)
    assert not protocol.proof_matches(v.key, fields, "nonce2", proof)
    assert not protocol.proof_matches(v.key, {**fields, "id": "apr_y"}, "nonce1", proof)
    with pytest.raises(Exception, match="at least"):
        secret.new_verifier("short")


def test_the_lockout_is_per_uid_and_survives_a_new_reader(tmp_path: Path) -> None:
    state = _state(tmp_path)
    now = 1000.0
    for _ in range(secret.FREE_TRIES):
        secret.Lockout(state, 1001).failed(now)
    refused = secret.Lockout(state, 1001).refusal(now + 1)
    assert isinstance(refused, NotAuthorized) and "locked" in refused.message
    assert secret.Lockout(state, 0).refusal(now + 1) is None  # another uid is not locked out
    assert secret.Lockout(state, 1001).refusal(now + secret.FIRST_LOCKOUT + 1) is None
    lock = secret.Lockout(state, 1001)
    lock.failed(now + 100)  # one more after the window: twice as long
    assert lock.until == pytest.approx(now + 100 + 2 * secret.FIRST_LOCKOUT)
    lock.succeeded()
    assert secret.Lockout(state, 1001).failures == 0
