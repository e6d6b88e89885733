"""JSON text that every strict parser accepts, for each surface agentgate writes.

A command's words, its directory and an agent's name are bytes on POSIX; Python holds the bytes
that are not UTF-8 as lone surrogates (PEP 383), which strict JSON parsers reject (``\\udcff``)
and UTF-8 cannot encode. Such a string is written with each undecodable byte shown as U+FFFD,
and the object that holds it gains a companion key with the exact bytes in base64:
``<key>Base64`` in the CLI's camelCase JSON, ``<key>_base64`` in the audit log's snake_case
lines. The companion of a string is a string, the companion of a list of strings a list with one
entry per item. :func:`restore` turns such an object back into the exact strings.

On the run path: imports nothing but the C accelerator ``_json`` (base64 only when a companion
is written). :func:`json_dumps` and :func:`loads` are ``json.dumps`` and ``json.loads`` made of
``_json``'s encoder and scanner, which is what the json package uses itself; the package (with
``re`` and ``enum``, 9 ms of a protected-mode client's start) is imported only for what they do
not cover (``indent``, ``default``, a Python without ``_json``) and to describe a parse error.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not from typing: see agentgate.lean
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_INF = float("inf")
_CONSTANTS = {"-Infinity": -_INF, "Infinity": _INF, "NaN": _INF - _INF}
_WHITESPACE = " \t\n\r"


def _no_default(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def json_dumps(obj: Any, *, ensure_ascii: bool = True, sort_keys: bool = False,
               separators: tuple[str, str] | None = None, **kwargs: Any) -> str:
    """``json.dumps(obj, ...)``, the same text (tests/test_jsontext.py compares them)."""
    try:
        import _json
    except ImportError:
        _json = None  # type: ignore[assignment]
    if kwargs or _json is None:
        import json

        return json.dumps(obj, ensure_ascii=ensure_ascii, sort_keys=sort_keys,
                          separators=separators, **kwargs)
    item_sep, key_sep = separators or (", ", ": ")
    encode = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    chunks = _json.make_encoder({}, _no_default, encode, None, key_sep, item_sep, sort_keys, False,
                          True)(obj, 0)
    return "".join(chunks)


class _Context:
    """What ``_json.make_scanner`` reads from a decoder: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scanner: list[Callable[[str, int], tuple[Any, int]]] = []


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``: the same values, and a ValueError (json.JSONDecodeError) where it
    raises one."""
    if isinstance(text, bytes | bytearray):
        if 0 in text[:4] or text.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            import json  # UTF-16, UTF-32 or a BOM: json's own detection

            return json.loads(text)
        text = text.decode("utf-8", "surrogatepass")  # as json.loads decodes bytes
    if text.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    if not _scanner:
        try:
            from _json import make_scanner
        except ImportError:
            import json

            return json.loads(text)
        _scanner.append(make_scanner(_Context()))  # type: ignore[arg-type]  # duck-typed
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        try:
            value, end = _scanner[0](text, start)
        except SystemError:
            # The C scanner raises json.decoder.JSONDecodeError only when that module is loaded
            # (it looks the class up without importing it): load it, and scan again for the error.
            import json.decoder

            value, end = _scanner[0](text, start)
    except StopIteration as e:
        raise _error("Expecting value", text, e.value) from None
    tail = text[end:]
    end += len(tail) - len(tail.lstrip(_WHITESPACE))
    if end != len(text):
        raise _error("Extra data", text, end)
    return value


def _error(what: str, text: str, pos: int) -> ValueError:
    from json import JSONDecodeError

    return JSONDecodeError(what, text, pos)

CLI_SUFFIX = "Base64"
AUDIT_SUFFIX = "_base64"


def dumps(obj: Any, suffix: str = CLI_SUFFIX, *, ensure_ascii: bool = False, **kwargs: Any) -> str:
    """``json.dumps(obj, **kwargs)``, with undecodable bytes handled as the module docstring
    says; the result always encodes to UTF-8, and with ``ensure_ascii`` it is ASCII (every other
    character a ``\\u`` escape: for a stream that cannot carry UTF-8)."""
    text = json_dumps(obj, ensure_ascii=False, **kwargs)
    if _has_surrogates(text):
        obj = clean(obj, suffix)
    elif not ensure_ascii:
        return text
    return json_dumps(obj, ensure_ascii=ensure_ascii, **kwargs)


def dumps_bytes(obj: Any, suffix: str = CLI_SUFFIX, **kwargs: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes (one encode in the usual case)."""
    text = json_dumps(obj, ensure_ascii=False, **kwargs)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json_dumps(clean(obj, suffix), ensure_ascii=False, **kwargs).encode("utf-8")


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
