"""JSON text that every strict parser accepts, for each surface agentgate writes.

A command's words, its directory and an agent's name are bytes on POSIX; Python holds the bytes
that are not UTF-8 as lone surrogates (PEP 383), which strict JSON parsers reject (``\\udcff``)
and UTF-8 cannot encode. Such a string is written with each undecodable byte shown as U+FFFD,
and the object that holds it gains a companion key with the exact bytes in base64:
``<key>Base64`` in the CLI's camelCase JSON, ``<key>_base64`` in the audit log's snake_case
lines. The companion of a string is a string, the companion of a list of strings a list with one
entry per item. :func:`restore` turns such an object back into the exact strings.

On the run path: imports nothing beyond json (base64 only when a companion is written).
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from typing import Any

CLI_SUFFIX = "Base64"
AUDIT_SUFFIX = "_base64"


def dumps(obj: Any, suffix: str = CLI_SUFFIX, *, ensure_ascii: bool = False, **kwargs: Any) -> str:
    """``json.dumps(obj, **kwargs)``, with undecodable bytes handled as the module docstring
    says; the result always encodes to UTF-8, and with ``ensure_ascii`` it is ASCII (every other
    character a ``\\u`` escape: for a stream that cannot carry UTF-8)."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if _has_surrogates(text):
        obj = clean(obj, suffix)
    elif not ensure_ascii:
        return text
    return json.dumps(obj, ensure_ascii=ensure_ascii, **kwargs)


def dumps_bytes(obj: Any, suffix: str = CLI_SUFFIX, **kwargs: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes (one encode in the usual case)."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(clean(obj, suffix), ensure_ascii=False, **kwargs).encode("utf-8")


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def exact_bytes(text: str) -> bytes:
    """The bytes a str holds: each surrogateescape'd byte as itself, other lone surrogates as
    their (CESU-style) three bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        out = bytearray()
        for c in text:
            o = ord(c)
            if 0xDC80 <= o <= 0xDCFF:
                out.append(o - 0xDC00)
            else:
                out += c.encode("utf-8", "surrogatepass")
        return bytes(out)


def _shown(text: str) -> str:
    return exact_bytes(text).decode("utf-8", "replace")


def _b64(text: str) -> str:
    import binascii

    return binascii.b2a_base64(exact_bytes(text), newline=False).decode("ascii")


def clean(obj: Any, suffix: str = CLI_SUFFIX) -> Any:
    """A copy of ``obj`` in which no string holds a surrogate (see the module docstring)."""
    if isinstance(obj, str):
        return _shown(obj) if _has_surrogates(obj) else obj
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = clean(k, suffix) if isinstance(k, str) else k
            out[key] = clean(v, suffix)
            if isinstance(v, str) and _has_surrogates(v):
                out[f"{key}{suffix}"] = _b64(v)
            elif (isinstance(v, list | tuple) and all(isinstance(x, str) for x in v)
                  and any(_has_surrogates(x) for x in v)):
                out[f"{key}{suffix}"] = [_b64(x) for x in v]
        return out
    if isinstance(obj, list | tuple):
        return [clean(v, suffix) for v in obj]
    return obj


def restore(obj: Any, suffix: str = CLI_SUFFIX) -> Any:
    """The inverse of :func:`clean`: each value with a companion key gets its exact string back
    (undecodable bytes as surrogates again) and the companion is dropped."""
    if isinstance(obj, list):
        return [restore(v, suffix) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: restore(v, suffix) for k, v in obj.items()}
    for key in [k for k in out if isinstance(k, str) and k.endswith(suffix)]:
        base = key[:-len(suffix)]
        try:
            out[base] = _unb64(out[key])
        except (ValueError, TypeError):
            continue  # not one of ours: leave both as they are
        del out[key]
    return out


def _unb64(value: Any) -> Any:
    import binascii

    if isinstance(value, list):
        return [_unb64(v) for v in value]
    if not isinstance(value, str):
        raise TypeError("not base64 text")
    return binascii.a2b_base64(value.encode("ascii"), strict_mode=True).decode(
        "utf-8", "surrogateescape")
