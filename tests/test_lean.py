"""lean: Record behaves like the dataclass it replaces; sha256_hex is hashlib's sha256;
contextmanager is contextlib's."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
from collections.abc import Iterator

import pytest

from agentgate.lean import FrozenRecordError, Record, field, lazy_regex, sha256_hex
from agentgate.lean import contextmanager as lean_contextmanager


class Point(Record):
    x: int
    label: str = "p"
    tags: list[str] = field(default_factory=list)
    note: str = field(default="", compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    label: str = "p"
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", compare=False, repr=False)


class Box(Record, frozen=False):
    items: list[int]
    size: int = 0


@dataclasses.dataclass
class DBox:
    items: list[int]
    size: int = 0


def test_init_defaults_and_factories() -> None:
    a, b = Point(1), Point(2, "q", ["t"], note="n")
    assert (a.x, a.label, a.tags, a.note) == (1, "p", [], "")
    assert (b.x, b.label, b.tags, b.note) == (2, "q", ["t"], "n")
    assert Point(1).tags is not Point(1).tags
    assert Point(x=3, label="r").label == "r"
    assert Point.label == "p" and "tags" not in Point.__dict__
    for bad in (lambda: Point(), lambda: Point(1, x=2), lambda: Point(1, nope=2),
                lambda: Point(1, "a", [], "n", 5)):
        with pytest.raises(TypeError):
            bad()


def test_eq_hash_repr_match_dataclasses() -> None:
    a, d = Point(1, "a", note="x"), DPoint(1, "a", note="x")
    assert repr(a).replace("Point", "DPoint", 1) == repr(d)
    assert a == Point(1, "a", note="other")  # note is not compared
    assert a != Point(2, "a")
    assert a != d and (a == d) is (d == a) is False
    frozen_a = Point(1, "a", ())  # type: ignore[arg-type]
    assert hash(frozen_a) == hash(DPoint(1, "a", ())) == hash((1, "a", ()))  # type: ignore[arg-type]
    assert Point.__match_args__ == DPoint.__match_args__


def test_frozen_and_mutable() -> None:
    a = Point(1)
    with pytest.raises(FrozenRecordError):
        a.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.label  # type: ignore[misc]
    b = Box([1])
    b.size = 3
    assert b == Box([1], 3) and repr(b) == repr(DBox([1], 3)).replace("DBox", "Box", 1)
    with pytest.raises(TypeError):
        hash(b)


def test_non_default_after_default_is_refused() -> None:
    with pytest.raises(TypeError):
        class Bad(Record):
            a: int = 0
            b: int


@pytest.mark.parametrize("chunks", [(), (b"",), (b"abc",), (b"a", b"bc"), (bytes(range(256)) * 300,)])
def test_sha256_hex_is_sha256(chunks: tuple[bytes, ...]) -> None:
    assert sha256_hex(*chunks) == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_lazy_regex_compiles_once() -> None:
    get = lazy_regex(r"a+", re.IGNORECASE)
    assert get() is get() and get().fullmatch("AA")


def _steps(cm_factory: object, body: object) -> list[str]:
    """What a generator context manager and its block do, in order, and how the block ends."""
    seen: list[str] = []
    try:
        with cm_factory(seen) as value:  # type: ignore[operator]
            seen.append(f"block got {value}")
            body(seen)  # type: ignore[operator]
        seen.append("after")
    except BaseException as e:
        seen.append(f"raised {type(e).__name__}: {e}")
    return seen


def _managers(gen: object) -> tuple[object, object]:
    return lean_contextmanager(gen), contextlib.contextmanager(gen)  # type: ignore[arg-type]


def _clean(seen: list[str]) -> Iterator[int]:
    seen.append("enter")
    try:
        yield 1
    finally:
        seen.append("exit")


def _suppressing(seen: list[str]) -> Iterator[int]:
    try:
        yield 2
    except KeyError as e:
        seen.append(f"caught {e}")


def _translating(seen: list[str]) -> Iterator[int]:
    try:
        yield 3
    except KeyError:
        raise ValueError("translated") from None


def _no_yield(seen: list[str]) -> Iterator[int]:
    if seen is not None:
        return
    yield 0


def _two_yields(seen: list[str]) -> Iterator[int]:
    yield 4
    yield 5


def _reraise(seen: list[str]) -> Iterator[int]:
    try:
        yield 6
    except BaseException:
        seen.append("cleanup")
        raise


def _ok(seen: list[str]) -> None:
    seen.append("ran")


def _key_error(seen: list[str]) -> None:
    raise KeyError("k")


def _stop(seen: list[str]) -> None:
    raise StopIteration("s")


def _interrupt(seen: list[str]) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("gen", [_clean, _suppressing, _translating, _no_yield, _two_yields,
                                 _reraise])
@pytest.mark.parametrize("body", [_ok, _key_error, _stop, _interrupt])
def test_contextmanager_behaves_like_contextlibs(gen: object, body: object) -> None:
    ours, theirs = _managers(gen)
    assert _steps(ours, body) == _steps(theirs, body)


def test_contextmanager_keeps_the_exception_and_its_traceback() -> None:
    @lean_contextmanager
    def passing() -> Iterator[None]:
        yield

    error = KeyError("k")
    with pytest.raises(KeyError) as exc, passing():
        raise error
    assert exc.value is error
    assert exc.traceback[-1].name == "test_contextmanager_keeps_the_exception_and_its_traceback"
    assert passing.__name__ == "passing"
