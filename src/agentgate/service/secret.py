"""The approver secret and the lockout after wrong ones.

The service keeps ``approver.json``: the scrypt parameters, a salt and the derived key
(``hashlib.scrypt``, 32 MiB of memory per try, so a guess costs the guesser). A client derives
the same key from the passphrase the human types and proves it with an HMAC over a one-time
nonce (see :mod:`.protocol`); the passphrase itself never leaves the human's terminal.

Wrong proofs are counted in ``attempts.json``, which survives a restart of the service: after
:data:`FREE_TRIES` wrong ones in a row every further try waits out a lockout window that doubles
each time (up to an hour); a right one resets the count.
"""

from __future__ import annotations

import hashlib
import json
import secrets as _random
from pathlib import Path

from ..errors import NotAuthorized, StateError
from ..fileio import read_state_file, replace_atomically

N, R, P = 1 << 15, 8, 1  # 32 MiB, about 0.1 s on one core
MAXMEM = 64 << 20
MIN_PASSPHRASE = 8
FREE_TRIES = 5
FIRST_LOCKOUT = 30.0
MAX_LOCKOUT = 3600.0
KEY_FILE = "approver.json"
ATTEMPTS_FILE = "attempts.json"


def derive(passphrase: str, salt: bytes, n: int = N, r: int = R, p: int = P) -> bytes:
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM,
                          dklen=32)


def check_passphrase(passphrase: str) -> None:
    from ..errors import UsageError

    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the approver passphrase must have at least {MIN_PASSPHRASE} characters")


def new_verifier(passphrase: str) -> dict[str, object]:
    """What the service stores for a new passphrase."""
    check_passphrase(passphrase)
    salt = _random.token_bytes(16)
    return {"version": 1, "kdf": "scrypt", "n": N, "r": R, "p": P, "salt": salt.hex(),
            "key": derive(passphrase, salt).hex()}


class Verifier:
    """The stored key and its parameters, as read from ``approver.json``."""

    def __init__(self, raw: dict[str, object]) -> None:
        try:
            self.n, self.r, self.p = (int(raw[k]) for k in ("n", "r", "p"))  # type: ignore[call-overload]
            self.salt = bytes.fromhex(str(raw["salt"]))
            self.key = bytes.fromhex(str(raw["key"]))
        except (KeyError, TypeError, ValueError):
            raise StateError(f"{KEY_FILE} is not a valid approver key file",
                             "as root: `sudo agentgate service install --reset-secret`") from None
        if raw.get("kdf") != "scrypt" or len(self.key) != 32 or self.n < 2:
            raise StateError(f"{KEY_FILE} is not a valid approver key file",
                             "as root: `sudo agentgate service install --reset-secret`")

    def params(self) -> dict[str, object]:
        """What a client needs to derive the key: never the key itself."""
        return {"kdf": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": self.salt.hex()}


def load_verifier(state: str) -> Verifier:
    data = read_state_file(Path(state, KEY_FILE), label="approver key")
    if data is None:
        raise NotAuthorized("the service has no approver secret, so nothing can be approved",
                            "as root: `sudo agentgate service install --reset-secret`")
    try:
        raw = json.loads(data)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise StateError(f"{KEY_FILE} is not a valid approver key file",
                         "as root: `sudo agentgate service install --reset-secret`")
    return Verifier(raw)


def write_verifier(state: str, verifier: dict[str, object]) -> None:
    replace_atomically(Path(state, KEY_FILE), json.dumps(verifier).encode(), 0o600)


class Lockout:
    """One uid's wrong tries so far and until when its new ones are refused, kept in
    ``attempts.json`` by uid: an agent that guesses locks out its own uid, never root's."""

    def __init__(self, state: str, uid: int) -> None:
        self.path = Path(state, ATTEMPTS_FILE)
        self.uid = str(uid)
        data = read_state_file(self.path, label="approval attempts")
        try:
            raw = json.loads(data) if data else {}
            self.all = {k: {"failures": int(v["failures"]), "until": float(v["until"])}
                        for k, v in raw.items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            raise StateError(f"{self.path} is not valid", "remove it as the service user") from None
        mine = self.all.get(self.uid, {})
        self.failures = int(mine.get("failures", 0))
        self.until = float(mine.get("until", 0.0))

    def refusal(self, now: float) -> NotAuthorized | None:
        if now < self.until:
            return NotAuthorized(f"too many wrong approver secrets: approvals are locked for "
                                 f"{int(self.until - now) + 1} more seconds",
                                 "wait, then try again with the right secret")
        return None

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.failures >= FREE_TRIES:
            window = min(MAX_LOCKOUT, FIRST_LOCKOUT * 2 ** (self.failures - FREE_TRIES))
            self.until = now + window
        self._save()

    def succeeded(self) -> None:
        if self.failures or self.until:
            self.failures, self.until = 0, 0.0
            self._save()

    def _save(self) -> None:
        self.all[self.uid] = {"failures": self.failures, "until": self.until}
        if not self.failures and not self.until:
            del self.all[self.uid]
        replace_atomically(self.path, json.dumps(self.all).encode(), 0o600)


# --------------------------------------------------------------------------- TOTP (RFC 6238)

TOTP_FILE = "totp.json"
TOTP_DIGITS = 6
TOTP_PERIOD = 30
TOTP_WINDOW = 1  # steps either side of now, for a clock that is a little off


def totp_code(key: bytes, counter: int, digits: int = TOTP_DIGITS) -> str:
    """RFC 4226's HOTP value of ``counter`` (RFC 6238 uses the time step as the counter)."""
    import hmac
    import struct

    mac = hmac.new(key, struct.pack(">Q", counter), "sha1").digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def new_totp() -> dict[str, object]:
    import base64

    key = _random.token_bytes(20)
    return {"version": 1, "secret": base64.b32encode(key).decode("ascii"), "digits": TOTP_DIGITS,
            "period": TOTP_PERIOD, "last": 0}


def totp_uri(enrolment: dict[str, object], account: str) -> str:
    from urllib.parse import quote

    return (f"otpauth://totp/agentgate:{quote(account)}?secret={enrolment['secret']}"
            f"&issuer=agentgate&algorithm=SHA1&digits={enrolment['digits']}"
            f"&period={enrolment['period']}")


class Totp:
    """The enrolled authenticator, and the last time step a code was accepted for (a code is
    accepted once: a replayed one, or an older one, is refused)."""

    def __init__(self, state: str) -> None:
        import base64

        self.path = Path(state, TOTP_FILE)
        data = read_state_file(self.path, label="TOTP enrolment")
        self.enrolled = data is not None
        self.raw: dict[str, object] = {}
        if data is None:
            return
        try:
            self.raw = json.loads(data)
            self.key = base64.b32decode(str(self.raw["secret"]))
            self.digits = int(self.raw["digits"])  # type: ignore[call-overload]
            self.period = int(self.raw["period"])  # type: ignore[call-overload]
            self.last = int(self.raw.get("last", 0))  # type: ignore[call-overload]
        except (ValueError, TypeError, KeyError):
            raise StateError(f"{self.path} is not a valid TOTP enrolment",
                             "as root: `sudo agentgate service install --totp` enrols again") from None

    def accept(self, code: object, now: float) -> bool:
        """Is ``code`` right for a time step near ``now`` that is later than the last one
        used? Then that step is the last one used."""
        import hmac

        if not isinstance(code, str) or len(code) != self.digits or not code.isascii() \
                or not code.isdigit():
            return False
        step = int(now // self.period)
        for counter in range(step - TOTP_WINDOW, step + TOTP_WINDOW + 1):
            if counter > self.last and hmac.compare_digest(totp_code(self.key, counter, self.digits), code):
                self.last = counter
                self.raw["last"] = counter
                replace_atomically(self.path, json.dumps(self.raw).encode(), 0o600)
                return True
        return False


def write_totp(state: str, enrolment: dict[str, object] | None) -> None:
    path = Path(state, TOTP_FILE)
    if enrolment is None:
        path.unlink(missing_ok=True)
        return
    replace_atomically(path, json.dumps(enrolment).encode(), 0o600)
