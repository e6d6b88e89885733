"""What a protected-mode client and the service say to each other.

One request per line, one answer per line: a JSON object, at most :data:`MAX_MESSAGE` bytes, on
a Unix stream socket. Every request has an ``op``; every answer has ``ok`` (true, or false with
an ``error`` object: :meth:`AgentgateError.to_dict`). The service learns who is asking from the
socket itself (SO_PEERCRED: pid, uid, gid, which the kernel vouches for), never from the
message. A client checks the same way that the socket belongs to the service user before it
sends anything, so a socket planted elsewhere cannot answer in the service's name.

An approval carries a proof, not the secret: HMAC-SHA256, keyed with the approver key (scrypt
of the passphrase, see :mod:`.secret`), over a nonce the service issued for that connection and
the request's own fields. A captured message is worth nothing: its nonce is used up, and it
approves that one request with that one ttl only.
"""

from __future__ import annotations

import _socket  # socket.py wraps it in enums and a makefile: 2 ms a gated command does not need
import os
import struct

from ..errors import ConfigError
from ..jsontext import json_dumps, loads

VERSION = 1
MAX_MESSAGE = 1 << 20  # a request
MAX_ANSWER = 64 << 20  # an answer: `pending` lists up to 100 open requests of each user
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Peer:
    __slots__ = ("gid", "pid", "uid")

    def __init__(self, pid: int, uid: int, gid: int) -> None:
        self.pid, self.uid, self.gid = pid, uid, gid

    def to_dict(self) -> dict[str, int]:
        return {"peer_uid": self.uid, "peer_pid": self.pid}


def peer_of(sock: _socket.socket) -> Peer:
    """The process at the other end of a connected Unix socket, as the kernel knows it."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return Peer(pid, uid, gid)


def encode(message: dict[str, object], limit: int = MAX_MESSAGE) -> bytes:
    """One line; a request (or an answer, with ``limit=MAX_ANSWER``) that is too long or holds
    text that is not text (a lone surrogate) is a ConfigError, never sent."""
    try:
        data = json_dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    except (UnicodeEncodeError, ValueError, RecursionError) as e:
        raise ConfigError(f"this request cannot be sent to the agentgate service: it holds "
                          f"something that is not text ({type(e).__name__}); nothing ran") from None
    if len(data) > limit:
        raise ConfigError(f"a message of {len(data)} bytes is more than the protocol allows "
                          f"({limit}); nothing ran")
    return data


def decode(line: bytes) -> dict[str, object]:
    """One message; ValueError for anything that is not a JSON object."""
    value = loads(line.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    json_dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate: UnicodeEncodeError
    return value


def proof_payload(fields: dict[str, object], nonce: str) -> bytes:
    """The bytes an approval proof covers: the request's fields and the nonce, canonical."""
    return json_dumps({**fields, "nonce": nonce}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def make_proof(key: bytes, fields: dict[str, object], nonce: str) -> str:
    import hmac

    return hmac.new(key, proof_payload(fields, nonce), "sha256").hexdigest()


def proof_matches(key: bytes, fields: dict[str, object], nonce: str, proof: object) -> bool:
    import hmac

    return isinstance(proof, str) and hmac.compare_digest(make_proof(key, fields, nonce), proof)


class Connection:
    """A client's connection to the service: requests in order, each answered before the next."""

    def __init__(self, path: str, service_uid: int, timeout: float) -> None:
        self.path = path
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self._buf = b""
        try:
            self.sock.connect(path)
            peer = peer_of(self.sock)
        except OSError as e:
            self.sock.close()
            raise unreachable(path, e.strerror or str(e)) from None
        if peer.uid != service_uid:
            self.sock.close()
            raise ConfigError(f"{path} is answered by uid {peer.uid}, not by the agentgate service "
                              f"(uid {service_uid}); nothing is sent to it",
                              "as root: check who created the socket, then `sudo agentgate "
                              "service install` to restart the service")

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def ask(self, request: dict[str, object]) -> dict[str, object]:
        """Send one request and return the answer's fields; an error answer is raised as the
        AgentgateError it describes; no answer, or garbage, is a ConfigError (exit 78)."""
        data = encode(request)  # the client's own request: its error is not the service's
        try:
            self.sock.sendall(data)
            line = self._line()
            answer = decode(line)
        except OSError as e:
            raise unreachable(self.path, e.strerror or str(e) or type(e).__name__) from None
        except ValueError as e:
            raise garbled(self.path, str(e)) from None
        if answer.get("ok") is True:
            return answer
        raise error_from(answer.get("error"), self.path)

    def _line(self) -> bytes:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("the service closed the connection without an answer")
            self._buf += chunk
            if len(self._buf) > MAX_ANSWER:
                raise ValueError("an answer longer than the protocol allows")
        line, _, self._buf = self._buf.partition(b"\n")
        return line


def unreachable(path: str, why: str) -> ConfigError:
    from ..system import CHECK_SERVICE

    return ConfigError(f"the agentgate service does not answer on {path} ({why}); this machine "
                       "is in protected mode, so nothing runs without it", CHECK_SERVICE)


def garbled(path: str, why: str) -> ConfigError:
    from ..system import CHECK_SERVICE

    return ConfigError(f"the agentgate service on {path} answered something that is not a valid "
                       f"message ({why}); nothing runs", CHECK_SERVICE)


def error_from(raw: object, path: str) -> Exception:
    """The AgentgateError an error answer describes (its kind, message, hint and exit code)."""
    from .. import errors

    if not isinstance(raw, dict) or not isinstance(raw.get("message"), str):
        return garbled(path, "an error without a message")
    code = raw.get("exitCode")
    hint = raw.get("hint")
    kinds: dict[str, type[errors.AgentgateError]] = {
        c.kind: c for c in (errors.AgentgateError, errors.ConfigError, errors.StateError,
                            errors.CannotStart, errors.UsageError, errors.NotFound,
                            errors.Conflict, errors.NotAuthorized)}
    cls = kinds.get(str(raw.get("error")), errors.ConfigError)
    return cls(raw["message"], hint if isinstance(hint, str) else None,
               exit_code=code if isinstance(code, int) and not isinstance(code, bool)
               and 0 < code < 256 else errors.EXIT_CONFIG)


def socket_owner_ok(path: str, uid: int) -> bool:
    """Is ``path`` a socket owned by ``uid`` (the service's own, left by an earlier run)?"""
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(st.st_mode) and st.st_uid == uid
