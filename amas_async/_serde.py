"""The one private cattrs converter and the JSON codec; generic rules only, no model knowledge.

Lenient on what comes in: unknown keys ignored, timestamps as ISO 8601 or Unix seconds (always
timezone-aware), ``true``/``1``/``"true"`` for booleans, lists read as tuples (a string is never
split into characters), free-form mappings kept as they came. Exact on what goes out: the
classes registered with :func:`register_open_class` send only the fields a user set, under their
wire names, plus the unknown keys they were read with.

The converter comes in two modes built by one function with the same hooks: the detailed one
(for configs, for :func:`unstructure`, and for the error message) records the path of every
failure; the hot one has none of that bookkeeping. Answers are read by code generated from the
model definitions (``_readers``), which hands every value it does not read inline to the hot
converter's hook for its type, and an answer it refuses to the detailed converter, which either
reads it or says precisely what is wrong (``$.messages[0].created_at: ...``, by
:func:`cattrs.transform_error`).

JSON is encoded and decoded by orjson (a dependency on CPython), else by the standard library.
Both refuse NaN and Infinity in a request body (orjson alone would send them as ``null``) and
accept the same values: what orjson refuses is encoded by the standard library.
"""

from __future__ import annotations

import json
import math
import reprlib
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import (
    make_dict_structure_fn,
    make_dict_unstructure_fn,
    override,
)

from .errors import ResponseValidationError, clip

__all__ = [
    "decode_json",
    "dumps",
    "first_problem",
    "invalid_answer",
    "loads",
    "problems",
    "register_open_class",
    "shown",
    "structure",
    "unstructure",
]

T = TypeVar("T")

#: What a structure hook raises for a value it cannot read.
_FAILURES = (TypeError, ValueError, KeyError, AttributeError, OverflowError)
_UTC = timezone.utc

_short = reprlib.Repr()
_short.maxstring = _short.maxother = _short.maxlong = 60
_short.maxlevel = 3
#: The longest description of one problem in an error message; the rest is cut.
_MAX_PROBLEM = 200
#: How many problems an error message lists; the others are counted.
_MAX_PROBLEMS = 5
#: How many failing items of one list the detailed converter keeps (plus a count of the rest,
#: which makes the last of the problems listed).
_KEPT_FAILURES = _MAX_PROBLEMS - 1


def shown(value: object) -> str:
    """``repr(value)`` cut short, for a message: a hostile answer's 20 MB string stays out.

    Nested lists and objects are shown a few levels deep, so a deeply nested value never
    exhausts the stack either.
    """
    return _short.repr(value)


# ---- JSON ---------------------------------------------------------------------------------------


def _encode_other(value: object) -> object:
    """Dates as ISO 8601 text (what orjson writes; YAML configs hold them), else refused."""
    if isinstance(value, (date, time)):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_encode_other
)


def _stdlib_dumps(value: object) -> bytes:
    return _encoder.encode(value).encode("utf-8")


def _finite(value: object) -> bool:
    """False when ``value`` holds a NaN or an infinity anywhere (JSON has neither)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


loads: Callable[[bytes | str], Any]
dumps: Callable[[object], bytes]

try:  # pragma: no cover - which branch runs depends on the environment
    import orjson
except ImportError:  # pragma: no cover
    loads = json.loads
    dumps = _stdlib_dumps
else:
    loads = orjson.loads
    _orjson_dumps = orjson.dumps
    _ORJSON_FAILURE = orjson.JSONEncodeError

    def dumps(value: object) -> bytes:
        """Encode a JSON request body (ValueError for NaN/Infinity, TypeError for other types).

        orjson first; what it refuses (integers beyond 64 bits, keys that are not strings) is
        encoded as the standard library would, so both accept the same values.
        """
        try:
            encoded = _orjson_dumps(value)
        except _ORJSON_FAILURE:
            return _stdlib_dumps(value)
        # orjson writes NaN and Infinity as null: look for them only when a null was written.
        if b"null" in encoded and not _finite(value):
            raise ValueError("Out of range float values are not JSON compliant (NaN, Infinity)")
        # orjson's bytes hold a 4 KiB buffer whatever their length: keep a right-sized copy.
        return memoryview(encoded).tobytes()


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
        raise ValueError(f"timestamp out of range: {shown(seconds)}") from exc


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
            raise ValueError(f"not an ISO 8601 timestamp: {shown(value)}") from None
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


_TRUE_WORDS = frozenset({"true", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"false", "no", "n", "off"})


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):  # also YAML 1.1's words, which a YAML 1.2 reader leaves as text
        word = value.lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise TypeError(f"expected true or false, got {shown(value)}")


def _structure_optional_str(value: object, _: object) -> str | None:
    if value is None or type(value) is str:
        return value
    return str(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {shown(value)}")
    return float(value)


def _structure_optional_float(value: object, _: object) -> float | None:
    if value is None or type(value) is float:
        return value
    if type(value) is int:  # ``"execution_time": 15``
        return float(value)
    return _to_float(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"expected an integer, got {shown(value)}")
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


class _MoreItems(Exception):
    """Stands for the failing items of a list past the first few, in a detailed error."""

    def __init__(self, count: int) -> None:
        super().__init__(f"and {count} more items that do not fit")


def _class_sequence_hook(t: Any, converter: cattrs.Converter) -> Callable[[Any, object], Any]:
    """``Sequence[C]`` of an attrs class: a tuple; a list is required, never a str or mapping.

    The detailed converter notes the index of each failing item, as cattrs does, but keeps
    only the first few failures and counts the others: a hostile answer of 100,000 bad items
    would otherwise keep 100,000 exceptions (and their tracebacks) alive at once, which costs
    the garbage collector time that grows faster than the list.
    """
    if not converter.detailed_validation:
        structure_items = homogenous_tuple_structure_factory(t, converter)

        def hook(value: Any, _: object) -> object:
            _check_list(value)
            return structure_items(value, t)

        return hook

    item_type = typing.get_args(t)[0]
    structure_item = converter.get_structure_hook(item_type)

    def detailed_hook(value: Any, _: object) -> object:
        _check_list(value)
        items: list[object] = []
        failures: list[Exception] = []
        more = 0
        for index, item in enumerate(value):
            try:
                items.append(structure_item(item, item_type))
            except Exception as exc:
                if len(failures) == _KEPT_FAILURES:
                    more += 1
                    continue
                note = IterableValidationNote(f"Structuring {t} @ index {index}", index, item_type)
                setattr(exc, "__notes__", [*getattr(exc, "__notes__", []), note])  # noqa: B010
                failures.append(exc)
        if failures:
            if more:
                failures.append(_MoreItems(more))
            raise IterableValidationError(f"While structuring {t!r}", failures, t)
        return tuple(items)

    return detailed_hook


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


#: Classes with hooks of their own (:func:`register_open_class`), never read inline.
_open: set[type] = set()


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
    if isinstance(exc, _MoreItems):
        return str(exc)
    # Cut: Python's own messages quote the value whole (float() of a 20 MB string).
    return clip(f"{type(exc).__name__}: {exc}", _MAX_PROBLEM)


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
    """The error for a 2xx answer that is not what the API documents.

    The message names at most the first few problems, each cut short; ``body`` keeps the answer.
    """
    if problem is None:
        problem = f"expected a JSON object, got {type(body).__name__}"
    elif isinstance(problem, BaseException):
        found = problems(problem)
        problem = "; ".join(f"{path}: {message}" for path, message in found[:_MAX_PROBLEMS])
        if len(found) > _MAX_PROBLEMS:
            problem += f"; and {len(found) - _MAX_PROBLEMS} more"
    return ResponseValidationError(f"the {what} answer is not as documented: {problem}", body=body)
