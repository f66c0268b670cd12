"""The one private cattrs converter and the JSON codec; generic rules only, no model knowledge.

Lenient on what comes in: unknown keys ignored, timestamps as ISO 8601 or Unix seconds (always
timezone-aware), ``true``/``1``/``"true"`` for booleans, lists read as tuples (a string is never
split into characters), free-form mappings kept as they came. Exact on what goes out: the
classes registered with :func:`register_open_class` send only the fields a user set, under their
wire names, plus the unknown keys they were read with.

The converter comes in two modes built by one function with the same hooks: the detailed one
(for configs, for :func:`unstructure`, and for the error message) records the path of every
failure; the hot one has none of that bookkeeping. Answers are read by code generated from the
model definitions (:func:`reader`): for each class, a function that checks the common case of
each field inline (``type(v) is str`` ...) and hands any other value to the hot converter's hook
for the field's type. An answer it refuses is structured again in the detailed mode, which
either reads it or says precisely what is wrong (``$.messages[0].created_at: ...``, by
:func:`cattrs.transform_error`). Field metadata (:func:`wire`, :func:`as_received`) says which
keys of an answer hold a field; the generated code and both converters follow it.

Request bodies are encoded by the standard library, which refuses NaN and Infinity (orjson
would send them as ``null``); answers are decoded with orjson when it is installed
(``pip install amas-async[fast]``), else with the standard library.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from types import MemberDescriptorType, UnionType
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import (
    make_dict_structure_fn,
    make_dict_unstructure_fn,
    override,
)

from .errors import ResponseValidationError

__all__ = [
    "as_received",
    "decode_json",
    "dumps",
    "first_problem",
    "invalid_answer",
    "loads",
    "problems",
    "reader",
    "register_open_class",
    "structure",
    "unstructure",
    "wire",
]

T = TypeVar("T")

#: What a structure hook raises for a value it cannot read.
_FAILURES = (TypeError, ValueError, KeyError, AttributeError, OverflowError)
_UTC = timezone.utc

# ---- JSON ---------------------------------------------------------------------------------------

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: object) -> bytes:
    """Encode a JSON request body (ValueError for NaN/Infinity, TypeError for other types)."""
    return _encoder.encode(value).encode("utf-8")


loads: Callable[[bytes | str], Any]
try:  # pragma: no cover - which branch runs depends on the environment
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover
    loads = json.loads


def decode_json(content: bytes) -> Any:
    """Parse a JSON body; raise ValueError when it is not JSON."""
    return loads(content)


# ---- generic hooks -------------------------------------------------------------------------------


def _parse_iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)  # Python 3.11+ reads "Z" and any fraction
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        # Python 3.10 only reads 3 or 6 fractional digits: normalise to 6.
        head, dot, tail = text.partition(".")
        if not dot:
            raise
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        return datetime.fromisoformat(f"{head}.{(digits + '000000')[:6]}{zone}")


def _from_seconds(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, _UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp out of range: {seconds!r}") from exc


def _datetime_from_text(value: str) -> datetime:
    """ISO 8601 text, or Unix seconds as text; timezone-aware (UTC when the text has none)."""
    text = value.strip()
    if text.replace(".", "", 1).isdigit():  # "1704067200" or "1704067200.5"
        return _from_seconds(float(text))
    try:
        parsed = _parse_iso(text)
    except ValueError:
        try:
            seconds = float(text)  # "-1.5", "1e9"
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
        return _from_seconds(seconds)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def _structure_datetime(value: object, _: object) -> datetime:
    """ISO 8601 text or Unix seconds; always timezone-aware (UTC when the text has no zone)."""
    if type(value) is int or type(value) is float:
        return _from_seconds(value)
    if isinstance(value, str):
        return _datetime_from_text(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_seconds(value)
    raise TypeError(f"expected an ISO 8601 string or Unix seconds, got {type(value).__name__}")


def _structure_optional_datetime(value: object, _: object) -> datetime | None:
    return None if value is None else _structure_datetime(value, _)


def _structure_mapping(value: object, _: object) -> object:
    # Free-form mappings (metadata, raw, llm_config ...) are kept as they came: no copy.
    if type(value) is dict or isinstance(value, Mapping):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _structure_sequence(value: object, _: object) -> tuple[object, ...]:
    # A string is not a list of tools (cattrs would split it into characters).
    if type(value) is tuple:
        return value
    if type(value) is list:
        return tuple(value)
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return tuple(value)


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TypeError(f"expected true or false, got {value!r}")


def _structure_optional_str(value: object, _: object) -> str | None:
    if value is None or type(value) is str:
        return value
    return str(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _structure_optional_float(value: object, _: object) -> float | None:
    if value is None or type(value) is float:
        return value
    if type(value) is int:  # ``"execution_time": 15``
        return float(value)
    return _to_float(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def _optional(convert: Callable[[Any], object], exact: type) -> Callable[[object, object], Any]:
    """A hook for ``X | None`` fields: None and values of type X pass without dispatch."""

    def hook(value: object, _: object) -> object:
        if value is None or type(value) is exact:
            return value
        return convert(value)

    return hook


def _optional_class_of(t: Any) -> type | None:
    """``C`` when ``t`` is ``C | None`` for an attrs class ``C``, else None."""
    args = typing.get_args(t)
    if len(args) == 2 and type(None) in args:
        inner = args[0] if args[1] is type(None) else args[1]
        if isinstance(inner, type) and attrs.has(inner):
            return inner
    return None


def _optional_class_hook(t: Any, converter: cattrs.Converter) -> Callable[[object, object], Any]:
    cls = _optional_class_of(t)
    structure_cls = converter.get_structure_hook(cls)

    def hook(value: object, _: object) -> object:
        return None if value is None else structure_cls(value, cls)

    return hook


def _is_class_sequence(t: Any) -> bool:
    args = typing.get_args(t)
    return (
        typing.get_origin(t) is Sequence
        and len(args) == 1
        and isinstance(args[0], type)
        and attrs.has(args[0])
    )


def _class_sequence_hook(t: Any, converter: cattrs.Converter) -> Callable[[Any, object], Any]:
    """``Sequence[C]`` of an attrs class: a tuple; a list is required, never a str or mapping."""
    structure_items = homogenous_tuple_structure_factory(t, converter)  # notes a failure's index

    def hook(value: Any, _: object) -> object:
        _check_list(value)
        return structure_items(value, t)

    return hook


def _check_list(value: object) -> None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(f"expected a list, got {type(value).__name__}")


def _new_converter(*, detailed: bool) -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=False, detailed_validation=detailed)
    converter.register_structure_hook(str | None, _structure_optional_str)
    converter.register_structure_hook(int | None, _optional(_to_int, int))
    converter.register_structure_hook(float | None, _structure_optional_float)
    converter.register_structure_hook(bool | None, _optional(lambda v: _structure_bool(v, 0), bool))
    converter.register_structure_hook(datetime | None, _structure_optional_datetime)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook_func(
        lambda t: t in (Mapping[str, Any], Mapping[str, str]), _structure_mapping
    )
    converter.register_structure_hook_func(
        lambda t: t in (Mapping[str, Any] | None, Mapping[str, str] | None),
        lambda v, _: None if v is None else _structure_mapping(v, _),
    )
    converter.register_structure_hook_func(
        lambda t: t in (Sequence[Any], Sequence[str]), _structure_sequence
    )
    converter.register_structure_hook_func(
        lambda t: t in (Sequence[Any] | None, Sequence[str] | None),
        lambda v, _: None if v is None else _structure_sequence(v, _),
    )
    converter.register_structure_hook_factory(
        lambda t: _optional_class_of(t) is not None, _optional_class_hook
    )
    converter.register_structure_hook_factory(_is_class_sequence, _class_sequence_hook)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook_func(_is_free_form, _free_form_unstructurer(converter))
    return converter


_FREE_FORM = (Mapping[str, Any], Mapping[str, str], Sequence[Any], Sequence[str])


def _is_free_form(t: Any) -> bool:
    return t in _FREE_FORM or (
        type(None) in typing.get_args(t) and any(a in _FREE_FORM for a in typing.get_args(t))
    )


def _free_form_unstructurer(converter: cattrs.Converter) -> Callable[[Any], Any]:
    """Free-form mappings and lists go out as copies; other values go out as they are.

    So a config built in Python with a value of the wrong type reaches the reading side, which
    names the field, instead of crashing here.
    """

    def hook(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: converter.unstructure(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [converter.unstructure(v) for v in value]
        return value

    return hook


#: Records the path of every failure: configs, unstructuring, and the error of a bad answer.
_converter = _new_converter(detailed=True)
#: The same hooks without the bookkeeping: the hot path of answers.
_fast = _new_converter(detailed=False)


# ---- model-specific hooks, registered by the models --------------------------------------------


def register_open_class(cls: type, renames: Mapping[str, str] | None = None) -> None:
    """Wire hooks for a class with an ``extra`` field, such as a config section.

    Reading keeps unknown keys in ``extra``; writing leaves out the fields that are None (or
    at their default) and sends ``extra`` back. ``renames`` maps field names to wire names
    (``{"source": "from"}``).
    """
    renames = dict(renames or {})
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    wire = {f.name: renames.get(f.name, f.name) for f in fields}
    known = frozenset(wire.values())
    overrides = {name: override(rename=key) for name, key in wire.items() if key != name}

    def structure_factory(_: Any, converter: cattrs.Converter) -> Callable[[object, object], Any]:
        structure_fields: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(
            cls,
            converter,
            extra=override(omit=True),
            **overrides,  # type: ignore[arg-type]
        )

        def hook(data: object, _: object) -> object:
            if not isinstance(data, Mapping):
                raise TypeError(f"expected a mapping, got {type(data).__name__}")
            obj = structure_fields(data, cls)
            extra = {k: v for k, v in data.items() if k not in known}
            return attrs.evolve(obj, extra=extra) if extra else obj

        return hook

    def unstructure_factory(_: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
        unstructure_fields: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls,
            converter,
            _cattrs_omit_if_default=True,
            extra=override(omit=True),
            **overrides,  # type: ignore[arg-type]
        )

        def hook(obj: Any) -> dict[str, Any]:
            data: dict[str, Any] = unstructure_fields(obj)
            data.update(obj.extra)
            return data

        return hook

    _open.add(cls)
    for converter in (_converter, _fast):
        converter.register_structure_hook_factory(lambda t: t is cls, structure_factory)
        converter.register_unstructure_hook_factory(lambda t: t is cls, unstructure_factory)


# ---- readers generated from the models -----------------------------------------------------------
#
# The hot path of answers. For each answer class a function is generated (once, on first use)
# that reads a mapping into the class field by field, checking the common case of each field's
# type inline (``v is None or type(v) is str`` ...). A value that fails the inline check goes
# to the hot converter's hook for its type, so every lenient reading is the converter's own.
# Whatever raises sends the caller to the detailed converter, which reads the same mapping with
# the same hooks, or names the field that does not fit.

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
#: Classes with hooks of their own (:func:`register_open_class`), never read inline.
_open: set[type] = set()
_readers: dict[tuple[type, bool, frozenset[str]], Callable[[Any], Any]] = {}


def wire(*keys: str) -> dict[str, object]:
    """Field metadata: the answer holds the field under the first of ``keys`` it has."""
    if not keys:
        raise ValueError("wire() needs at least one key")
    return {_WIRE: keys}


def as_received() -> dict[str, object]:
    """Field metadata: the field is the whole mapping the object is read from (``raw``)."""
    return {_WIRE: None}


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


def _conversion(t: Any, v: str, i: int, names: dict[str, Any]) -> list[str]:
    """Lines converting the local ``v`` of type ``t`` in place (``v`` None passes if optional).

    The common case of each type is checked inline; other values go to the hot converter's
    hook for ``t``, which reads them leniently or raises.
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
        lines = [
            f"if type({v}) is int or type({v}) is float:",
            f"    {v} = _fromtimestamp({v}, _UTC)",
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
    field: attrs.Attribute[Any], v: str, i: int, complete: bool, names: dict[str, Any]
) -> list[str]:
    """Lines reading ``field`` from the mapping ``o`` into the local ``v``, converted."""
    source = field.metadata.get(_WIRE, _MISSING)
    if source is None:  # as_received()
        return [f"{v} = o"]
    convert = _conversion(field.type, v, i, names)
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


def _slot_setters(cls: type) -> dict[str, Any] | None:
    """For each field of ``cls``, the setter of its slot; None when ``__init__`` must run.

    An attrs ``__init__`` that only stores its arguments (no validators, converters or hooks)
    is replaced by storing them straight into the slots: the frozen ``__setattr__`` is not
    called, and neither is ``__init__`` with a dozen keywords.
    """
    init = getattr(cls, "__init__", None)
    if (
        "__slots__" not in vars(cls)
        or not getattr(getattr(init, "__code__", None), "co_filename", "").startswith("<attrs")
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
        or any(
            f.validator is not None
            or f.converter is not None
            or getattr(f.default, "takes_self", False)
            for f in attrs.fields(cls)
        )
    ):
        return None
    setters = {}
    for field in attrs.fields(cls):
        slot = next((vars(c)[field.name] for c in cls.__mro__ if field.name in vars(c)), None)
        if type(slot) is not MemberDescriptorType:
            return None
        setters[field.name] = slot.__set__
    slots = {name for c in cls.__mro__ for name in vars(c).get("__slots__", ())}
    return None if slots - set(setters) - {"__weakref__"} else setters


def _generate(cls: type, complete: bool, omit: frozenset[str]) -> Callable[[Any], Any]:
    attrs.resolve_types(cls)
    names: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_Mapping": Mapping,
        "_MISSING": _MISSING,
        "_UTC": _UTC,
        "_fromtimestamp": datetime.fromtimestamp,
        "_datetime_from_text": _datetime_from_text,
    }
    body = [
        "if type(o) is not dict and not isinstance(o, _Mapping):",
        "    raise TypeError(f'expected an object, got {type(o).__name__}')",
    ]
    setters = _slot_setters(cls)
    arguments, stores = [], ["self = _new(_cls)"]
    for i, field in enumerate(attrs.fields(cls)):
        if field.name in omit or not field.init:
            value = _default(field, i, names) if setters is not None else None
            if value is not None:  # what __init__ would store
                stores.append(f"_s{i}(self, {value})")
        else:
            body += _fetch(field, f"v{i}", i, complete, names)
            arguments.append(f"{field.alias}=v{i}")
            stores.append(f"_s{i}(self, v{i})")
        if setters is not None:
            names[f"_s{i}"] = setters[field.name]
    if setters is None:
        body.append(f"return _cls({', '.join(arguments)})")
    else:
        body += [*stores, "return self"]
    source = "def read(o):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, f"<amas_async reader of {cls.__qualname__}>", "exec"), names)
    read: Callable[[Any], Any] = names["read"]
    read.__doc__ = source  # what was generated, for a reader of this code
    return read


# ---- structuring, unstructuring, errors ----------------------------------------------------------


def structure(data: object, cls: type[T]) -> T:
    """``cls`` from wire data, or the detailed cattrs error saying where it does not fit."""
    try:
        return _fast.structure(data, cls)
    except _FAILURES:
        pass
    return _converter.structure(data, cls)


def unstructure(obj: object) -> Any:
    """The wire shape of a model."""
    return _converter.unstructure(obj)


def _describe(exc: BaseException, _: object) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return f"{type(exc).__name__}: {exc}"


def problems(exc: BaseException) -> list[tuple[str, str]]:
    """Every failure in a structuring error: ``(path, message)``, the path like ``$.a[0].b``."""
    found = []
    for line in cattrs.transform_error(exc, path="$", format_exception=_describe):
        message, _, path = line.rpartition(" @ ")
        found.append((path, message))
    return found


def first_problem(exc: BaseException) -> tuple[str, str]:
    """The first failure in a structuring error, the path dotted without ``$`` (``a[0].b``)."""
    path, message = problems(exc)[0]
    return path.removeprefix("$").removeprefix(".") or "$", message


def invalid_answer(
    what: str, body: object, problem: str | BaseException | None = None
) -> ResponseValidationError:
    """The error for a 2xx answer that is not what the API documents."""
    if problem is None:
        problem = f"expected a JSON object, got {type(body).__name__}"
    elif isinstance(problem, BaseException):
        problem = "; ".join(f"{path}: {message}" for path, message in problems(problem))
    return ResponseValidationError(f"the {what} answer is not as documented: {problem}", body=body)


def reader(
    cls: type[T],
    what: str,
    *,
    omit: Sequence[str] = (),
    check: Callable[[Mapping[str, Any], object], None] | None = None,
) -> Callable[[Mapping[str, Any], object], T]:
    """A function reading one kind of answer: ``read(fields, body) -> cls``.

    ``fields`` is the answer mapped onto ``cls``'s field names, every one present but those in
    ``omit`` (a key missing after all only takes the slower path); ``body`` is the answer as
    received, for the error. ``read`` raises :class:`ResponseValidationError` naming every
    field that does not fit; ``what`` names the answer in it (``"the execute answer is not as
    documented"``). ``check(fields, body)``, when given, runs before the detailed pass, to
    raise an error of its own for a shape the paths would describe less well.
    """
    _complete[cls] = frozenset(omit)
    hot: Callable[[Mapping[str, Any]], T] | None = None

    def read(fields: Mapping[str, Any], body: object) -> T:
        nonlocal hot
        if hot is None:  # generated on first use: importing the SDK generates no code
            hot = _read_fn(cls, True, _complete[cls])
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
