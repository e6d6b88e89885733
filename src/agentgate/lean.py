"""Lean stand-ins for stdlib conveniences whose start-up cost lands on every `agentgate run`.

Every gated command pays the gate's start-up, so the modules on that path (entry, gate, policy,
shell, ledger, audit, paths, trust, runner) do without:

- ``dataclasses``: importing it brings in ``inspect`` (about 6 ms), and ``@dataclass`` writes and
  compiles up to six methods per class while its module loads (9 ms for the 22 records `run`
  needs). A :class:`Record` subclass behaves like a ``@dataclass(frozen=True)`` from shared
  methods instead: ``__init__`` over the annotated fields in order (class-level defaults and
  :func:`field` as in dataclasses), ``==`` and ``hash`` over the compared fields, the same
  ``repr``, no assignment after ``__init__``; ``class R(Record, frozen=False)`` is a plain
  ``@dataclass`` (mutable, unhashable). The price: creating one costs about 0.4 us more than
  a generated ``__init__`` (some 4 us per policy check).
- ``hashlib``: it loads OpenSSL (about 2 ms) for one sha256, which :func:`sha256_hex` computes
  with CPython's built-in implementation (the same digest).
- regexes compiled at import that most runs never use: :func:`lazy_regex`.
- ``typing``: 3 ms to import, for names that only annotations use (never evaluated, with
  ``from __future__ import annotations``). Modules on the run path write ``TYPE_CHECKING =
  False`` (mypy reads it as true) and import from typing under ``if TYPE_CHECKING:``.
- ``contextlib`` (about 1 ms: a dozen ABC-based classes) for ``@contextmanager`` alone:
  :func:`contextmanager` is its generator protocol, without the rest; ``suppress`` is a
  ``try``/``except``.
- ``pathlib`` (5 ms: it imports ``urllib.parse`` and ``ipaddress``): the run and hook paths
  handle paths as ``str`` with ``os.path`` (agentgate.paths has pathlib's spelling rules).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Generator, Iterator
    from contextlib import AbstractContextManager
    from types import TracebackType
    from typing import Any, ClassVar, ParamSpec, TypeVar, dataclass_transform

    P = ParamSpec("P")
    T = TypeVar("T")
else:
    def dataclass_transform(**kwargs: object) -> Callable[[type], type]:
        """typing.dataclass_transform only marks the class for type checkers."""
        return lambda cls: cls


def _sha256_constructor() -> Callable[[], Any]:
    for name in ("_sha256", "_sha2"):  # CPython 3.11, 3.12+
        try:
            return __import__(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


_new_sha256 = _sha256_constructor()


def sha256_hex(*chunks: bytes) -> str:
    """The hex sha256 of the concatenated ``chunks``."""
    h = _new_sha256()
    for chunk in chunks:
        h.update(chunk)
    return str(h.hexdigest())


def lazy_regex(pattern: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """``re.compile(pattern, flags)`` done at the first call, the same object after that (re
    itself is imported then: a protected-mode client never needs it)."""

    def compiled() -> re.Pattern[str]:
        import re

        return re.compile(pattern, flags)

    return functools.cache(compiled)


# --------------------------------------------------------------------------- contextmanager


class _GeneratorContext:
    """What :func:`contextmanager` returns: contextlib's generator protocol (the code before the
    ``yield`` on entry, the rest on exit; an exception in the block is thrown in at the
    ``yield``, and is suppressed only when the generator catches it)."""

    __slots__ = ("gen",)

    def __init__(self, gen: Generator[Any, None, None]) -> None:
        self.gen = gen

    def __enter__(self) -> Any:
        try:
            return next(self.gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None

    def __exit__(self, typ: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        if typ is None:
            try:
                next(self.gen)
            except StopIteration:
                return False
            raise RuntimeError("generator didn't stop")
        if value is None:
            value = typ()
        try:
            self.gen.throw(value)
        except StopIteration as exc:
            return exc is not value  # the generator caught it and returned: suppressed
        except RuntimeError as exc:
            if exc is value or (isinstance(value, StopIteration) and exc.__cause__ is value):
                value.__traceback__ = traceback
                return False
            raise
        except BaseException as exc:
            if exc is not value:
                raise
            exc.__traceback__ = traceback
            return False
        raise RuntimeError("generator didn't stop after throw()")


class suppress:
    """:class:`contextlib.suppress`: the block's exception, when one of ``kinds``, ends it
    quietly."""

    __slots__ = ("kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self.kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        return typ is not None and issubclass(typ, self.kinds)


def contextmanager(func: Callable[P, Iterator[T]]) -> Callable[P, AbstractContextManager[T]]:
    """:func:`contextlib.contextmanager` without importing contextlib (see the module
    docstring); the generator must yield exactly once."""

    @functools.wraps(func)
    def helper(*args: P.args, **kwargs: P.kwargs) -> AbstractContextManager[T]:
        return _GeneratorContext(func(*args, **kwargs))  # type: ignore[arg-type]

    return helper


# --------------------------------------------------------------------------- records


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen :class:`Record` (dataclasses' FrozenInstanceError)."""


_MISSING: Any = object()
_set_field = object.__setattr__


class _Field:
    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, compare: bool,
                 repr: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True, repr: bool = True) -> Any:
    """Like :func:`dataclasses.field`, for a :class:`Record`: a default or a default factory,
    and whether the field takes part in ``==``/``hash`` and in the ``repr``."""
    if default is not _MISSING and default_factory is not None:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory, compare, repr)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """Base class of the records on the run path (see the module docstring)."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()
    _fields: tuple[str, ...] = ()
    _compared: tuple[str, ...] = ()
    _shown: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}  # noqa: RUF012 - replaced per subclass, never mutated
    _factories: dict[str, Callable[[], Any]] = {}  # noqa: RUF012
    _key: Callable[[Any], tuple[Any, ...]] = staticmethod(lambda record: ())
    _frozen = True

    def __init_subclass__(cls, *, frozen: bool = True, **kwargs: Any) -> None:
        # Runs for each record class as its module loads, some 30 on every `run`: plain
        # fields (most of them) take the short way, without a _Field.
        super().__init_subclass__(**kwargs)
        fields = list(cls._fields)
        compared, shown = list(cls._compared), list(cls._shown)
        defaults, factories = dict(cls._defaults), dict(cls._factories)
        attrs = cls.__dict__
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect costs 5 ms
        for name, annotation in own.items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = attrs.get(name, _MISSING)
            compare = show = True
            factory = None
            if isinstance(value, _Field):
                if value.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value.default)
                compare, show, factory = value.compare, value.repr, value.default_factory
                value = value.default
            if value is not _MISSING:
                defaults[name] = value
            elif factory is not None:
                factories[name] = factory
            elif defaults or factories:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            if name not in fields:
                fields.append(name)
            if compare and name not in compared:
                compared.append(name)
            if show and name not in shown:
                shown.append(name)
        cls._fields, cls._compared, cls._shown = tuple(fields), tuple(compared), tuple(shown)
        cls._defaults, cls._factories = defaults, factories
        cls._key = staticmethod(_getter(cls._compared))
        cls._frozen = frozen
        cls.__match_args__ = tuple(fields)  # type: ignore[misc]  # as dataclasses set it
        if not frozen:
            cls.__hash__ = None  # type: ignore[assignment]  # mutable and compared: unhashable

    # Fields are set and read as attributes, never through self.__dict__: asking for the dict
    # makes CPython build one, and every later attribute read of that object slower.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self._fields
        if len(args) == len(names) and not kwargs:  # the usual call: every field, in order
            for name, value in zip(names, args, strict=True):
                _set_field(self, name, value)
        else:
            self._init_from(args, kwargs)

    def _init_from(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        cls = type(self)
        names = cls._fields
        n = len(args)
        if n > len(names):
            raise TypeError(f"{cls.__qualname__}() takes {len(names)} arguments but {n} were given")
        for name, value in zip(names, args, strict=False):
            _set_field(self, name, value)
        for name in names[n:]:
            if name in kwargs:
                _set_field(self, name, kwargs.pop(name))
            elif name in cls._defaults:
                _set_field(self, name, cls._defaults[name])
            elif name in cls._factories:
                _set_field(self, name, cls._factories[name]())
            else:
                raise TypeError(f"{cls.__qualname__}() missing required argument: {name!r}")
        if kwargs:
            raise TypeError(f"{cls.__qualname__}() got an unexpected or repeated argument: "
                            f"{next(iter(kwargs))!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise FrozenRecordError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self._frozen:
            raise FrozenRecordError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key(self) == self._key(other)

    def __hash__(self) -> int:
        return hash(self._key(self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._shown)
        return f"{type(self).__qualname__}({inner})"


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving the values of the fields ``names`` of a record, as a tuple."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        get = operator.attrgetter(names[0])
        return lambda record: (get(record),)
    return lambda record: ()


def _copy(value: Any) -> Any:
    if isinstance(value, Record):
        return asdict(value)
    if isinstance(value, list | tuple):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_copy(k), _copy(v)) for k, v in value.items())
    return value


def asdict(record: Record) -> dict[str, Any]:
    """:func:`dataclasses.asdict` for JSON-like fields: a deep copy as nested dicts and lists."""
    return {f: _copy(getattr(record, f)) for f in record._fields}


# --------------------------------------------------------------------------- text for people


_UNSAFE = lazy_regex("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def safe(text: object) -> str:
    """Text that cannot move the cursor or hide itself on a terminal: control characters,
    bidi overrides and undecodable bytes are shown as escapes (``\\r``, ``\\x1b``, ``\\u202e``),
    so what a human approves is what will run."""
    return _UNSAFE().sub(lambda m: _escape(m.group()), str(text))


def _escape(c: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if c in named:
        return named[c]
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"
