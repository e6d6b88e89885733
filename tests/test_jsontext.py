"""agentgate.jsontext's JSON (the ``_json`` accelerator without the json package) gives what
the json package gives: the same text for every value it can encode, the same values (or a
ValueError) for every text."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from agentgate.jsontext import json_dumps, loads

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


@given(values, st.booleans(), st.booleans(),
       st.sampled_from([None, (",", ":"), (", ", ": ")]))
def test_the_same_text_as_json_dumps(value: object, ascii_only: bool, sort_keys: bool,
                                     separators: tuple[str, str] | None) -> None:
    kw = {"ensure_ascii": ascii_only, "sort_keys": sort_keys, "separators": separators}
    assert json_dumps(value, **kw) == json.dumps(value, **kw)  # type: ignore[arg-type]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _outcome(fn: object, text: str | bytes) -> object:
    try:
        return ("ok", fn(text))  # type: ignore[operator]
    except ValueError as e:
        return ("error", str(e))


@given(st.one_of(values.map(json.dumps), st.text(max_size=30),
                 st.text(alphabet=' \t\n\r[]{}",:0123456789.eE+-aeflnrstu\\', max_size=30)))
def test_the_same_values_as_json_loads(text: str) -> None:
    mine, theirs = _outcome(loads, text), _outcome(json.loads, text)
    assert mine[0] == theirs[0], (text, mine, theirs)
    assert _same(mine[1], theirs[1]) if mine[0] == "ok" else mine[1] == theirs[1]


def test_bytes_with_a_bom_or_another_encoding_are_read_as_json_reads_them() -> None:
    for raw in (b"\xef\xbb\xbf[1]", "[1]".encode("utf-16"), "[1]".encode("utf-32-le"), b" [2] ",
                b'"\xed\xb2\x80"', b'"\xff"'):  # an encoded lone surrogate; a byte not UTF-8
        assert _outcome(loads, raw) == _outcome(json.loads, raw)
    assert _outcome(loads, "\ufeff1") == _outcome(json.loads, "\ufeff1")


def test_objects_json_cannot_encode_are_a_type_error() -> None:
    for value in ({"x": object()}, {1j: 1}, b"bytes"):
        try:
            json.dumps(value)
        except TypeError:
            pass
        else:  # pragma: no cover
            raise AssertionError(value)
        try:
            json_dumps(value)
        except TypeError:
            continue
        raise AssertionError(f"{value!r} was encoded")


def test_importing_it_imports_neither_json_nor_re() -> None:
    code = ("import sys; from agentgate.jsontext import json_dumps, loads; "
            "loads(json_dumps({'a': [1, 'b']})); "
            "print(sorted({'json', 're', 'enum'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          f"import sys; sys.path[:0] = {sys.path!r}; {code}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_a_parse_error_without_the_json_package_loaded_is_still_jsons_error() -> None:
    """The C scanner names its error class only when json.decoder is loaded; the run path does
    not load it, so a corrupt state file must still be a JSONDecodeError (a ValueError), never
    a SystemError (an internal error)."""
    code = ("import sys; from agentgate.jsontext import loads\n"
            "assert 'json' not in sys.modules\n"
            "for text in ['{not json', '[1,]', '{\"a\" 1}', '\"\\\\x\"']:\n"
            "    try:\n        loads(text)\n"
            "    except ValueError as e:\n        print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = []
    for text in ['{not json', '[1,]', '{"a" 1}', '"\\x"']:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            expected.append(f"JSONDecodeError {e}")
    assert out.stdout.splitlines() == expected

