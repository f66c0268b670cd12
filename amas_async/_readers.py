"""Answers read by code generated from the model definitions: the hot path of parsing.

For each answer class a function is generated (once, on first use, then cached) that reads a
mapping into the class field by field, checking the common case of each field's type inline
(``v is None or type(v) is str`` ...). A value that fails the inline check goes to the hot
converter's hook for its type (``_serde``), so every lenient reading is the converter's own.
Whatever raises sends the caller to the detailed converter, which reads the same mapping with
the same hooks, or names the field that does not fit (``$.messages[0].created_at: ...``).

Field metadata (:func:`wire`, :func:`as_received`) says which keys of an answer hold a field;
the generated code and both converters follow it. The models stay the one source of truth:
nothing here names a model.

What the generated code builds costs little. An answer class based on :class:`Record` is
built by storing its fields into an instance of a plain twin class of the same layout, which
then becomes the answer class (``__class__`` assignment): neither the frozen ``__setattr__``
nor ``__init__`` runs. A timestamp field of a class decorated with :func:`lazy_timestamps` is
given Unix seconds as sent, once they are known to convert, and holds the ``datetime`` from
its first read on: the parse checks, the conversion waits for a reader.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MemberDescriptorType, UnionType
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from ._serde import (
    _FAILURES,
    _UTC,
    _converter,
    _datetime_from_text,
    _fast,
    _open,
    invalid_answer,
)

__all__ = ["Record", "as_received", "lazy_timestamps", "reader", "wire"]

T = TypeVar("T")

#: Field metadata key: where the answer holds the field (see :func:`wire`, :func:`as_received`).
_WIRE = "amas_async.wire"


class _Missing:
    """The type of :data:`_MISSING`: a key the mapping does not hold."""


_MISSING = _Missing()
_NONE = type(None)
_FREE_MAPPINGS = (Mapping[str, Any], Mapping[str, str])
_FREE_SEQUENCES = (Sequence[Any], Sequence[str])
#: Classes read by :func:`reader`, with the fields never read: their mappings hold every field.
_complete: dict[type, frozenset[str]] = {}
_readers: dict[tuple[type, bool, frozenset[str]], Callable[[Any], Any]] = {}


def wire(*keys: str) -> dict[str, object]:
    """Field metadata: the answer holds the field under the first of ``keys`` it has."""
    if not keys:
        raise ValueError("wire() needs at least one key")
    return {_WIRE: keys}


def as_received() -> dict[str, object]:
    """Field metadata: the field is the whole mapping the object is read from (``raw``)."""
    return {_WIRE: None}


class Record:
    """The base of the answer classes: lets the generated code build them cheaply.

    A class that declares ``__weakref__`` among its own slots cannot take ``__class__``
    assignment from a twin (CPython compares the slots the two classes add); attrs adds no
    ``__weakref__`` to a class whose base has one, so its instances stay weak-referenceable.
    """

    __slots__ = ("__weakref__",)


#: Seconds in this range convert on every platform (``datetime.fromtimestamp``): the reader
#: keeps them for later. Others (negative, beyond the year 3000, NaN) convert at once, so the
#: parse raises for the same values as ever.
_LAZY_SECONDS = (0, 32503680000)


class _AsGiven:
    """A number stored in a timestamp field by ``__init__``: read back as it was given."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _LazyTimestamp:
    """A timestamp field that converts the Unix seconds a reader stored on first read.

    The ``datetime`` is kept in the slot; a value stored any other way is read back as stored.
    """

    __slots__ = ("_delete", "_get", "_set")

    def __init__(self, slot: Any) -> None:
        self._get = slot.__get__
        self._set = slot.__set__
        self._delete = slot.__delete__

    def __get__(self, obj: object, owner: object = None) -> Any:
        if obj is None:
            return self
        value = self._get(obj)
        kind = type(value)
        if kind is int or kind is float:  # stored by a reader, checked to convert
            value = datetime.fromtimestamp(value, _UTC)
            self._set(obj, value)
        elif kind is _AsGiven:
            return value.value
        return value

    def __set__(self, obj: object, value: object) -> None:
        kind = type(value)
        self._set(obj, _AsGiven(value) if kind is int or kind is float else value)

    def __delete__(self, obj: object) -> None:
        self._delete(obj)


def _timestamp_type(t: Any) -> bool:
    return t is datetime or _optional_of(t) is datetime


def lazy_timestamps(cls: type[T]) -> type[T]:
    """Class decorator, above ``attrs.frozen``: ``datetime`` fields convert seconds when read.

    The reader checks the seconds while it parses (a bad value still fails the parse) and
    stores them; the field turns them into the timezone-aware ``datetime`` the eager reading
    gives when first read, and keeps it. Equality, hashing, ``repr``, ``attrs.evolve`` and
    pickling read the fields, so they see the ``datetime``. Any other value (one passed to
    ``__init__``, a number included) is read back as it was stored.
    """
    attrs.resolve_types(cls)  # type: ignore[type-var]
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if _timestamp_type(field.type):
            slot = vars(cls).get(field.name)
            if type(slot) is not MemberDescriptorType:
                raise TypeError(f"{cls.__qualname__}.{field.name} is not a slot")
            setattr(cls, field.name, _LazyTimestamp(slot))
    return cls


def _has_wire_view(t: Any) -> bool:
    return (
        isinstance(t, type) and attrs.has(t) and any(_WIRE in f.metadata for f in attrs.fields(t))
    )


def _class_factory(cls: Any, converter: cattrs.Converter) -> Callable[[object, object], Any]:
    """The detailed converter's hook for an attrs class, under the keys its fields name.

    It reads from a mapping only: cattrs' own would read a string as an object with no keys.
    """
    structure_fields: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(
        cls, converter
    )
    sources = [(f.name, f.metadata.get(_WIRE, (f.name,))) for f in attrs.fields(cls) if f.init]
    renamed = _has_wire_view(cls)

    def hook(data: object, _: object) -> object:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        if not renamed:
            return structure_fields(data, cls)
        fields: dict[str, object] = {}
        for name, keys in sources:
            if keys is None:
                fields[name] = data
                continue
            for key in keys:
                if key in data:
                    fields[name] = data[key]
                    break
        return structure_fields(fields, cls)

    return hook


def _generated_factory(cls: Any, _: cattrs.Converter) -> Callable[[object, object], Any]:
    """The hot converter's hook for the classes read by generated code."""
    read = _read_fn(cls, cls in _complete, _complete.get(cls, frozenset()))
    return lambda data, _: read(data)


_converter.register_structure_hook_factory(
    lambda t: isinstance(t, type) and attrs.has(t) and t not in _open, _class_factory
)
_fast.register_structure_hook_factory(
    lambda t: isinstance(t, type) and (t in _complete or _has_wire_view(t)), _generated_factory
)


def _read_fn(cls: type, complete: bool = False, omit: frozenset[str] = frozenset()) -> Any:
    """The generated function reading a mapping into ``cls`` (made on first use, then cached).

    ``complete``: the mapping holds every field under its name but those in ``omit``.
    """
    key = (cls, complete, omit)
    read = _readers.get(key)
    if read is None:
        # A class that contains itself finds this trampoline while its code is generated.
        _readers[key] = lambda data: _readers[key](data)
        try:
            _readers[key] = read = _generate(cls, complete, omit)
        except BaseException:
            del _readers[key]
            raise
    return read


def _optional_of(t: Any) -> Any:
    """``X`` when ``t`` is ``X | None``, else None."""
    args = typing.get_args(t)
    if len(args) == 2 and _NONE in args and typing.get_origin(t) in (typing.Union, UnionType):
        return args[0] if args[1] is _NONE else args[1]
    return None


def _inline_class(t: Any) -> bool:
    return isinstance(t, type) and attrs.has(t) and t not in _open


def _conversion(t: Any, v: str, i: int, names: dict[str, Any], lazy: bool = False) -> list[str]:
    """Lines converting the local ``v`` of type ``t`` in place (``v`` None passes if optional).

    The common case of each type is checked inline; other values go to the hot converter's
    hook for ``t``, which reads them leniently or raises. ``lazy``: a timestamp in Unix
    seconds that converts is left as it is, for the field to convert on first read.
    """
    if t is Any or t is object:
        return []
    hook, typ = f"_h{i}", f"_t{i}"
    names[hook], names[typ] = _fast.get_structure_hook(t), t
    slow = f"{v} = {hook}({v}, {typ})"
    inner = _optional_of(t)
    optional = inner is not None
    if not optional:
        inner = t
    lines: list[str]
    if inner in (str, int, bool):
        test = f"{v} is not None and " if optional else ""
        return [f"if {test}type({v}) is not {inner.__name__}:", f"    {slow}"]
    if inner is float:
        test = f"{v} is not None and " if optional else ""
        return [
            f"if {test}type({v}) is not float:",
            f"    {v} = float({v}) if type({v}) is int else {hook}({v}, {typ})",
        ]
    if inner is datetime:
        convert = f"{v} = _fromtimestamp({v}, _UTC)"
        if lazy:  # NaN fails the range test too: it converts (and fails) now
            convert = f"if not _LAZY_MIN <= {v} < _LAZY_MAX: {convert}"
        lines = [
            f"if type({v}) is int or type({v}) is float:",
            f"    {convert}",
            f"elif type({v}) is str:",
            f"    {v} = _datetime_from_text({v})",
            "else:",
            f"    {slow}",
        ]
    elif inner in _FREE_MAPPINGS:
        lines = [f"if type({v}) is not dict:", f"    {slow}"]
    elif inner in _FREE_SEQUENCES:
        lines = [f"if type({v}) is list:", f"    {v} = tuple({v})", f"elif type({v}) is not tuple:"]
        lines.append(f"    {slow}")
    elif _inline_class(inner):
        names[f"_r{i}"] = _read_fn(inner)
        lines = [f"{v} = _r{i}({v})"]
    elif typing.get_origin(inner) is Sequence and _inline_class(typing.get_args(inner)[0]):
        names[f"_r{i}"] = _read_fn(typing.get_args(inner)[0])
        lines = [  # a loop costs less than a comprehension for the usual few items
            f"if type({v}) is list:",
            "    items = []",
            f"    for item in {v}:",
            f"        items.append(_r{i}(item))",
            f"    {v} = tuple(items)",
            "else:",
            f"    {slow}",
        ]
    else:
        lines = [slow]
    if optional:
        return [f"if {v} is not None:", *(f"    {line}" for line in lines)]
    return lines


def _passes(t: Any, default: object) -> bool:
    """True when the inline check of type ``t`` leaves ``default`` as it is."""
    if default is attrs.NOTHING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return False
    if t is Any or t is object:
        return True
    inner = _optional_of(t)
    if default is None:
        return inner is not None
    return type(default) in (str, int, bool, float) and type(default) is (inner or t)


def _fetch(
    field: attrs.Attribute[Any],
    v: str,
    i: int,
    complete: bool,
    names: dict[str, Any],
    lazy: bool = False,
) -> list[str]:
    """Lines reading ``field`` from the mapping ``o`` into the local ``v``, converted."""
    source = field.metadata.get(_WIRE, _MISSING)
    if source is None:  # as_received()
        return [f"{v} = o"]
    convert = _conversion(field.type, v, i, names, lazy)
    if source is _MISSING:
        if complete:
            return [f"{v} = o[{field.name!r}]", *convert]
        source = (field.name,)
    default = field.default
    lines = []
    if _passes(field.type, default):  # read the default like a value: it comes out unchanged
        names[f"_d{i}"] = default
        for n, key in enumerate(source):
            last = n == len(source) - 1
            fallback = "_MISSING" if not last else "" if default is None else f"_d{i}"
            get = f"o.get({key!r}, {fallback})" if fallback else f"o.get({key!r})"
            lines.append(f"{v} = {get}" if n == 0 else f"if {v} is _MISSING: {v} = {get}")
        return lines + convert
    for n, key in enumerate(source):
        get = f"o.get({key!r}, _MISSING)"
        lines.append(f"{v} = {get}" if n == 0 else f"if {v} is _MISSING: {v} = {get}")
    value = _default(field, i, names)
    otherwise = f"raise KeyError({field.name!r})" if value is None else f"{v} = {value}"
    return [*lines, f"if {v} is _MISSING:", f"    {otherwise}", "else:"] + [
        f"    {line}" for line in convert or ["pass"]
    ]


def _default(field: attrs.Attribute[Any], i: int, names: dict[str, Any]) -> str | None:
    """The expression of ``field``'s default in generated code; None when it has none."""
    default: Any = field.default
    if default is attrs.NOTHING:
        return None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            raise TypeError(f"{field.name}: a default that takes self cannot be read inline")
        names[f"_d{i}"] = default.factory
        return f"_d{i}()"
    names[f"_d{i}"] = default
    return f"_d{i}"


def _twin(cls: type) -> type | None:
    """A plain class of ``cls``'s layout, or None when ``__init__`` must build ``cls``.

    The generated code stores the fields into an instance of the twin (plain attribute
    stores, which the interpreter makes cheap), then makes it a ``cls`` by assigning
    ``__class__``: the frozen ``__setattr__`` is not called, and neither is ``__init__`` with
    a dozen keywords. Only for an attrs class whose ``__init__`` would only store its
    arguments (no validators, converters or hooks) and whose own slots are its fields
    (a :class:`Record`); the assignment is tried once here.
    """
    init = getattr(cls, "__init__", None)
    own = vars(cls).get("__slots__")
    if (
        own is None
        or not attrs.has(cls)
        or not getattr(getattr(init, "__code__", None), "co_filename", "").startswith("<attrs")
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
        or set(own) != {f.name for f in attrs.fields(cls)}
        or any(
            f.validator is not None
            or f.converter is not None
            or getattr(f.default, "takes_self", False)
            for f in attrs.fields(cls)
        )
    ):
        return None
    twin: Any = type(cls.__name__, cls.__bases__, {"__slots__": tuple(own), "__module__": __name__})
    plain: Any = object  # made by calling it, filled by plain stores
    if (
        twin.__new__ is not plain.__new__
        or twin.__init__ is not plain.__init__
        or twin.__setattr__ is not plain.__setattr__
    ):
        return None
    try:
        twin().__class__ = cls
    except TypeError:  # another layout (a class of its own adding __weakref__ ...)
        return None
    return typing.cast(type, twin)


def _generate(cls: type, complete: bool, omit: frozenset[str]) -> Callable[[Any], Any]:
    attrs.resolve_types(cls)
    twin = _twin(cls)
    names: dict[str, Any] = {
        "_cls": cls,
        "_twin": twin,
        "_Mapping": Mapping,
        "_MISSING": _MISSING,
        "_UTC": _UTC,
        "_LAZY_MIN": _LAZY_SECONDS[0],
        "_LAZY_MAX": _LAZY_SECONDS[1],
        "_fromtimestamp": datetime.fromtimestamp,
        "_datetime_from_text": _datetime_from_text,
    }
    body = [
        "if type(o) is not dict and not isinstance(o, _Mapping):",
        "    raise TypeError(f'expected an object, got {type(o).__name__}')",
    ]
    arguments, stores = [], ["self = _twin()"]
    for i, field in enumerate(attrs.fields(cls)):
        if field.name in omit or not field.init:
            value = _default(field, i, names) if twin is not None else None
            if value is not None:  # what __init__ would store
                stores.append(f"self.{field.name} = {value}")
        else:
            # Seconds are left for the field to convert only when they go straight to its slot.
            lazy = twin is not None and isinstance(vars(cls).get(field.name), _LazyTimestamp)
            body += _fetch(field, f"v{i}", i, complete, names, lazy)
            arguments.append(f"{field.alias}=v{i}")
            stores.append(f"self.{field.name} = v{i}")
    if twin is None:
        body.append(f"return _cls({', '.join(arguments)})")
    else:
        body += [*stores, "self.__class__ = _cls", "return self"]
    source = "def read(o):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, f"<amas_async reader of {cls.__qualname__}>", "exec"), names)
    read: Callable[[Any], Any] = names["read"]
    read.__doc__ = source  # what was generated, for a reader of this code
    return read


def reader(
    cls: type[T],
    what: str,
    *,
    omit: Sequence[str] = (),
    check: Callable[[Mapping[str, Any], object], None] | None = None,
    complete: bool = True,
) -> Callable[[Mapping[str, Any], object], T]:
    """A function reading one kind of answer: ``read(fields, body) -> cls``.

    ``fields`` is the answer mapped onto ``cls``'s field names, every one present but those in
    ``omit`` (a key missing after all only takes the slower path); ``body`` is the answer as
    received, for the error. ``read`` raises :class:`ResponseValidationError` naming every
    field that does not fit; ``what`` names the answer in it (``"the execute answer is not as
    documented"``). ``check(fields, body)``, when given, runs before the detailed pass, to
    raise an error of its own for a shape the paths would describe less well.

    ``complete=False``: ``fields`` is the answer itself, read as it is read when nested in
    another answer: each field from the keys its metadata names (its own name by default), a
    key the answer lacks giving the field's default, the fields in ``omit`` never read. For a
    class whose ``raw`` is :func:`as_received` that is also read at the top level.
    """
    if complete:
        _complete[cls] = frozenset(omit)
    hot: Callable[[Mapping[str, Any]], T] | None = None

    def read(fields: Mapping[str, Any], body: object) -> T:
        nonlocal hot
        if hot is None:  # generated on first use: importing the SDK generates no code
            hot = (
                _read_fn(cls, True, _complete[cls])
                if complete
                else _read_fn(cls, False, frozenset(omit))
            )
        try:
            return hot(fields)
        except Exception:  # the detailed pass reads it, or says what is wrong
            pass
        if check is not None:
            check(fields, body)
        try:
            return _converter.structure(fields, cls)
        except (cattrs.BaseValidationError, *_FAILURES) as exc:
            raise invalid_answer(what, body, exc) from exc

    return read
