"""The one private cattrs converter, and every conversion between models and the wire.

Lenient on what comes in (unknown keys ignored and kept in ``raw``, timestamps as ISO 8601 or
Unix seconds, the three documented execute shapes), exact on what goes out (only the fields a
user set, with the documented names: ``Edge.source`` is ``from`` on the wire).

Request bodies are encoded by the standard library, which refuses NaN and Infinity (orjson
would send them as ``null``); answers are decoded with orjson when it is installed
(``pip install amas-async[fast]``), else with the standard library.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import (
    ConfigValidationError,
    InputFileNotFoundError,
    InvalidContentError,
    InvalidRequestError,
    ResponseValidationError,
)
from .models import (
    AgentConfig,
    Edge,
    Execution,
    FilePart,
    ImagePart,
    ImageUpload,
    Message,
    MessagePage,
    SessionConfig,
    SessionStatus,
    TextPart,
    Usage,
)

T = TypeVar("T")

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> bytes:
    """Encode a JSON request body (ValueError for NaN/Infinity, TypeError for other types)."""
    return _encoder.encode(value).encode("utf-8")


loads: Callable[[bytes | str], Any]
try:  # pragma: no cover - which branch runs depends on the environment
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover
    loads = json.loads


# ---- the converter ----------------------------------------------------------------------------

_converter = cattrs.Converter(forbid_extra_keys=False)


def _parse_iso(text: str) -> datetime:
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


def _structure_datetime(value: Any, _: Any) -> datetime:
    """ISO 8601 text or Unix seconds; always timezone-aware (UTC when the text has no zone)."""
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parsed = datetime.fromtimestamp(value, tz=timezone.utc)
        elif isinstance(value, str):
            text = value.strip()
            try:
                seconds = float(text)
            except ValueError:
                parsed = _parse_iso(text)
            else:
                parsed = datetime.fromtimestamp(seconds, tz=timezone.utc)
        else:
            raise TypeError(
                f"expected an ISO 8601 string or Unix seconds, got {type(value).__name__}"
            )
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp out of range: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _structure_mapping(value: Any, _: Any) -> Any:
    # Free-form mappings (metadata, raw, llm_config ...) are kept as they came: no copy.
    if type(value) is dict:
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _structure_sequence(value: Any, _: Any) -> Any:
    # A string is not a list of tools (cattrs would split it into characters).
    if type(value) is tuple:
        return value
    if type(value) is list:
        return tuple(value)
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return tuple(value)


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TypeError(f"expected true or false, got {value!r}")


def _optional(convert: Callable[[Any], Any], exact: type) -> Callable[[Any, Any], Any]:
    """A hook for ``X | None`` fields: None and values of type X pass without dispatch."""

    def hook(value: Any, _: Any) -> Any:
        if value is None or type(value) is exact:
            return value
        return convert(value)

    return hook


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


# The answers' optional scalar fields are the hot path of parsing: give them direct hooks
# instead of cattrs' generic Optional handling.
_converter.register_structure_hook(str | None, _optional(str, str))
_converter.register_structure_hook(int | None, _optional(_to_int, int))
_converter.register_structure_hook(float | None, _optional(_to_float, float))
_converter.register_structure_hook(
    datetime | None, lambda v, _: None if v is None else _structure_datetime(v, datetime)
)
_converter.register_structure_hook(datetime, _structure_datetime)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook_func(
    lambda t: t in (Mapping[str, Any], Mapping[str, str]), _structure_mapping
)
_converter.register_structure_hook_func(
    lambda t: t in (Sequence[Any], Sequence[str]), _structure_sequence
)
_converter.register_unstructure_hook(datetime, lambda d: d.isoformat())


def _config_hooks(cls: type[Any], renames: Mapping[str, str]) -> None:
    """Hooks for a config class: renamed wire keys, None fields omitted, ``extra`` kept."""
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    wire = {f.name: renames.get(f.name, f.name) for f in fields}
    known = frozenset(wire.values())
    overrides = {name: override(rename=key) for name, key in wire.items() if key != name}
    structure = make_dict_structure_fn(
        cls,
        _converter,
        extra=override(omit=True),
        **overrides,  # type: ignore[arg-type]
    )
    unstructure = make_dict_unstructure_fn(
        cls,
        _converter,
        _cattrs_omit_if_default=True,
        extra=override(omit=True),
        **overrides,  # type: ignore[arg-type]
    )

    def structure_hook(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a mapping, got {type(data).__name__}")
        obj = structure(data, cls)
        extra = {k: v for k, v in data.items() if k not in known}
        return attrs.evolve(obj, extra=extra) if extra else obj

    def unstructure_hook(obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = unstructure(obj)
        data.update(obj.extra)
        return data

    _converter.register_structure_hook(cls, structure_hook)
    _converter.register_unstructure_hook(cls, unstructure_hook)


_config_hooks(Edge, {"source": "from", "target": "to"})
_config_hooks(AgentConfig, {})
_config_hooks(SessionConfig, {})


def _first_error(exc: BaseException) -> tuple[str, str]:
    """(dotted path, message) of the first leaf error of a cattrs validation error."""
    path: list[str] = []
    while isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        inner = exc.exceptions[0]
        note = next(iter(getattr(inner, "__notes__", ())), "")
        if "attribute " in note:
            path.append(note.rsplit("attribute ", 1)[1].split(" ")[0].strip("'"))
        elif "index " in note:
            path[-1:] = [f"{path[-1] if path else ''}[{note.rsplit('index ', 1)[1].split(' ')[0]}]"]
        exc = inner
    return ".".join(path) or "config", f"{type(exc).__name__}: {exc}"


# ---- configs ----------------------------------------------------------------------------------


def structure_config(data: Mapping[str, Any]) -> SessionConfig:
    """A :class:`SessionConfig` from the wire shape; a typed error naming the field otherwise."""
    if not isinstance(data, Mapping):
        raise ConfigValidationError(
            "config", f"a config must be a mapping of fields, got {type(data).__name__}"
        )
    agents = data.get("agents")
    if agents is not None and (not isinstance(agents, Sequence) or isinstance(agents, str)):
        raise ConfigValidationError("agents", "must be a list of agents")
    for index, agent in enumerate(agents or ()):
        if not isinstance(agent, Mapping):
            raise ConfigValidationError(f"agents[{index}]", "every agent must be a mapping")
        if "name" not in agent:
            raise ConfigValidationError(f"agents[{index}].name", "every agent needs a name")
    edges = data.get("edges")
    if edges is not None and (not isinstance(edges, Sequence) or isinstance(edges, str)):
        raise ConfigValidationError("edges", "must be a list of edges")
    for index, edge in enumerate(edges or ()):
        if not isinstance(edge, Mapping) or "from" not in edge:
            raise ConfigValidationError(f"edges[{index}].from", "every edge needs a 'from' node")
    try:
        return _converter.structure(data, SessionConfig)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        field, message = _first_error(exc)
        raise ConfigValidationError(field, message) from exc


def unstructure_config(config: SessionConfig) -> dict[str, Any]:
    """The wire shape of a :class:`SessionConfig`."""
    result: dict[str, Any] = _converter.unstructure(config)
    return result


@functools.cache
def _yaml_loader() -> Any:
    """A SafeLoader with YAML 1.2 booleans: ``routing: {yes: a, no: b}`` keeps string keys.

    Built on first use, so that importing the SDK does not import PyYAML.
    """
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


_INLINE = re.compile(r"^\s*[{\[]|^---|^\s*[\w.-]+\s*:(\s|$)", re.MULTILINE)


def _is_inline_text(source: str) -> bool:
    return "\n" in source or bool(_INLINE.match(source))


def _parse_text(text: str, origin: str, *, as_json: bool) -> Any:
    if as_json or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            if as_json:
                raise ConfigValidationError("config", f"{origin} is not valid JSON: {exc}") from exc
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        raise ConfigValidationError("config", f"{origin} is not valid YAML: {exc}") from exc


def load_config_source(source: str | os.PathLike[str]) -> Mapping[str, Any]:
    """Parse YAML (or JSON) text, or a YAML/JSON file's path, into a mapping."""
    as_json = False
    if isinstance(source, str) and _is_inline_text(source):
        text, origin = source, "YAML text"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise InvalidContentError("a config path must be a str or os.PathLike[str]")
        if not os.path.isfile(path):
            raise InputFileNotFoundError(path)
        with open(path, encoding="utf-8-sig") as handle:
            text, origin = handle.read(), path
        as_json = path.lower().endswith(".json")
    else:
        raise InvalidContentError(
            "a config is a SessionConfig, a mapping, YAML text, or a path to a YAML or JSON "
            f"file, not {type(source).__name__}"
        )
    data = _parse_text(text, origin, as_json=as_json)
    if not isinstance(data, Mapping):
        raise ConfigValidationError(
            "config", f"{origin} must hold a mapping of fields, got {type(data).__name__}"
        )
    return data


def config_body(config: object) -> tuple[bytes, SessionConfig]:
    """The JSON body for ``POST /sessions/`` and the validated config it carries.

    A mapping is sent exactly as given (after checking it); a :class:`SessionConfig` as
    ``to_dict()``; a path or YAML text as the mapping it holds.
    """
    if isinstance(config, SessionConfig):
        wire: Mapping[str, Any] = config.to_dict()
        parsed = config
    elif isinstance(config, Mapping):
        wire, parsed = config, structure_config(config)
    elif isinstance(config, (str, os.PathLike)):
        wire = load_config_source(config)
        parsed = structure_config(wire)
    else:
        raise InvalidContentError(
            "config must be a SessionConfig, a mapping in the wire shape, YAML text, or a path "
            f"to a YAML or JSON file, not {type(config).__name__}"
        )
    parsed.validate()
    try:
        return dumps(wire), parsed
    except (TypeError, ValueError) as exc:
        raise ConfigValidationError("config", f"cannot be encoded as JSON: {exc}") from exc


# ---- execute requests ------------------------------------------------------------------------

_CONTENT_HELP = (
    "content must be a str, or a list of TextPart / ImagePart / FilePart / ImageUpload "
    "or mappings in the wire shape"
)
_PART_TYPES = frozenset(("text", "image_url", "file"))


def _part_to_wire(part: object, index: int) -> Any:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, (ImagePart, ImageUpload)):
        return {"type": "image_url", "image_url": {"url": part.url}}
    if isinstance(part, FilePart):
        return {"type": "file", "file_url": part.url}
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if isinstance(part, Mapping):
        kind = part.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidRequestError(
                f"content[{index}] has no 'type' (one of text, image_url, file)"
            )
        if kind in _PART_TYPES:
            needed = {"text": "text", "image_url": "image_url", "file": "file_url"}[kind]
            if needed not in part:
                raise InvalidRequestError(f"content[{index}] of type {kind!r} needs {needed!r}")
        return part
    raise InvalidContentError(f"{_CONTENT_HELP}; content[{index}] is a {type(part).__name__}")


def content_to_wire(content: object) -> Any:
    """The wire form of execute's ``content``: a string, or a list of part objects."""
    if isinstance(content, str):
        return content
    if isinstance(content, (TextPart, ImagePart, FilePart, ImageUpload, Mapping)):
        return [_part_to_wire(content, 0)]
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        if not content:
            raise InvalidRequestError("content is an empty list; give at least one part")
        return [_part_to_wire(part, i) for i, part in enumerate(content)]
    raise InvalidContentError(f"{_CONTENT_HELP}, not {type(content).__name__}")


def execute_body(content: object, inputs: object, correlation_id: object) -> bytes:
    """The JSON body of ``POST /runtime/{id}/execute/``; only the fields given are sent."""
    body: dict[str, Any] = {"content": content_to_wire(content)}
    if inputs is not None:
        if not isinstance(inputs, Mapping):
            raise InvalidContentError(f"inputs must be a mapping, not {type(inputs).__name__}")
        bad = [k for k in inputs if not isinstance(k, str)]
        if bad:
            raise InvalidRequestError(f"inputs keys must be variable names (str), got {bad[0]!r}")
        body["inputs"] = dict(inputs)
    if correlation_id is not None:
        if not isinstance(correlation_id, str):
            raise InvalidContentError("correlation_id must be a str")
        body["correlation_id"] = correlation_id
    try:
        return dumps(body)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"content or inputs cannot be encoded as JSON: {exc}") from exc


# ---- responses --------------------------------------------------------------------------------


def _invalid(
    what: str, body: Any, problem: str | BaseException | None = None
) -> ResponseValidationError:
    """The error for a 2xx answer that is not what the API documents."""
    if problem is None:
        problem = f"expected a JSON object, got {type(body).__name__}"
    elif isinstance(problem, cattrs.BaseValidationError):
        field, message = _first_error(problem)
        problem = f"{field}: {message}"
    elif isinstance(problem, BaseException):
        problem = f"{type(problem).__name__}: {problem}"
    return ResponseValidationError(f"the {what} answer is not as documented: {problem}", body=body)


def _structure(data: Mapping[str, Any], cls: type[T], what: str, body: Any) -> T:
    try:
        return _converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        raise _invalid(what, body, exc) from exc


def _message_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": data.get("id"),
        "role": data.get("role"),
        "content": data.get("content"),
        "created_at": data.get("created_at", data.get("timestamp")),
        "raw": data,
    }


def _messages(items: Any, what: str, body: Any) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(m, Mapping) for m in items):
        raise _invalid(what, body, "'messages' must be a list of objects")
    return [_message_fields(m) for m in items]


# ---- the fast path of the hot answers ---------------------------------------------------------
#
# Executions and messages are read on every call, so they get a direct path that accepts only
# exact JSON types (str, int, float, dict, list) and raises _Unusual on anything else; the
# caller then takes the general path through the converter, which is lenient where it can be
# and gives the detailed error where it cannot. Both paths build equal objects (a test keeps
# them so).


class _Unusual(Exception):
    """The fast path met a value it does not handle: take the general path."""


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Unusual


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is int or type(value) is float:
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _Unusual from None
    raise _Unusual


def _fast_message(data: Any) -> Message:
    if type(data) is not dict:
        raise _Unusual
    created = data.get("created_at", data.get("timestamp"))
    return Message(
        id=_text(data.get("id")),
        role=_text(data.get("role")),
        content=data.get("content"),
        created_at=_when(created)
        if type(created) is not str
        else _structure_datetime(created, None),
        raw=data,
    )


def _fast_messages(items: Any) -> tuple[Message, ...]:
    if items is None:
        return ()
    if type(items) is not list:
        raise _Unusual
    return tuple([_fast_message(m) for m in items])


def _fast_execution(body: dict[str, Any]) -> Execution:
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    elif type(metadata) is not dict:
        raise _Unusual
    usage = metadata.get("usage", body.get("usage"))
    usage_value = None
    if usage is not None:
        if type(usage) is not dict:
            raise _Unusual
        tokens_in, tokens_out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
        if type(tokens_in) is not int or type(tokens_out) is not int:
            raise _Unusual
        usage_value = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    session_id = body.get("session_id")
    if session_id is None and body.get("object", "agent.session") == "agent.session":
        session_id = body.get("id")
    status = _text(body.get("status"))
    if status is None and body.get("success") is False:
        status = "error"
    seconds = body.get("execution_time")
    if seconds is not None and type(seconds) is not float:
        if type(seconds) is not int:
            raise _Unusual
        seconds = float(seconds)
    tool_calls = body.get("tool_calls") or ()
    if type(tool_calls) is list:
        tool_calls = tuple(tool_calls)
    elif type(tool_calls) is not tuple:
        raise _Unusual
    return Execution(
        session_id=_text(session_id),
        status=status,
        messages=_fast_messages(body.get("messages")),
        usage=usage_value,
        metadata=metadata,
        execution_id=_text(metadata.get("execution_id", body.get("execution_id"))),
        correlation_id=_text(metadata.get("correlation_id", body.get("correlation_id"))),
        created_at=_when(body.get("created_at")),
        completed_at=_when(body.get("completed_at")),
        execution_time=seconds,
        tool_calls=tool_calls,
        raw=body,
    )


def parse_execution(body: Any) -> Execution:
    """An :class:`Execution` from any of the three documented execute answers."""
    if type(body) is dict and "response" not in body:
        try:
            return _fast_execution(body)
        except (_Unusual, TypeError, ValueError):
            pass  # the general path below reads it, or says precisely what is wrong
    return _parse_execution(body)


def _parse_execution(body: Any) -> Execution:
    """The general path of :func:`parse_execution`, through the converter."""
    if not isinstance(body, Mapping):
        raise _invalid("execute", body)
    response = body.get("response")
    if isinstance(response, Mapping) and "messages" not in body:  # legacy shape (C)
        succeeded = body.get("success", True)
        data: dict[str, Any] = {
            "status": "completed" if succeeded else "error",
            "messages": [
                {
                    "id": body.get("message_id"),
                    "role": "assistant",
                    "content": response.get("content"),
                    "raw": response,
                }
            ],
            "metadata": {},
            "execution_id": body.get("message_id"),
            "correlation_id": body.get("correlation_id"),
            "tool_calls": response.get("tool_calls") or (),
            "raw": body,
        }
        return _structure(data, Execution, "execute", body)
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, Mapping):
        raise _invalid("execute", body, "'metadata' must be an object")
    session_id = body.get("session_id")
    if session_id is None and body.get("object", "agent.session") == "agent.session":
        session_id = body.get("id")
    usage = metadata.get("usage", body.get("usage"))
    data = {
        "session_id": session_id,
        "status": body.get("status"),
        "messages": _messages(body.get("messages"), "execute", body),
        "usage": usage if isinstance(usage, Mapping) else None,
        "metadata": metadata,
        "execution_id": metadata.get("execution_id", body.get("execution_id")),
        "correlation_id": metadata.get("correlation_id", body.get("correlation_id")),
        "created_at": body.get("created_at"),
        "completed_at": body.get("completed_at"),
        "execution_time": body.get("execution_time"),
        "tool_calls": body.get("tool_calls") or (),
        "raw": body,
    }
    if body.get("success") is False and data["status"] is None:
        data["status"] = "error"
    return _structure(data, Execution, "execute", body)


def parse_message_page(body: Any, *, limit: int, offset: int) -> MessagePage:
    """A :class:`MessagePage` from ``GET /runtime/{id}/messages/``."""
    if type(body) is dict:
        try:
            total = body.get("total")
            has_more = body.get("has_more", False)
            if (total is None or type(total) is int) and type(has_more) is bool:
                return MessagePage(
                    messages=_fast_messages(body.get("messages")),
                    total=total,
                    has_more=has_more,
                    limit=limit,
                    offset=offset,
                    raw=body,
                )
        except (_Unusual, TypeError, ValueError):
            pass
    if not isinstance(body, Mapping):
        raise _invalid("messages", body)
    data = {
        "messages": _messages(body.get("messages"), "messages", body),
        "total": body.get("total"),
        "has_more": body.get("has_more", False),
        "limit": limit,
        "offset": offset,
        "raw": body,
    }
    return _structure(data, MessagePage, "messages", body)


def parse_status(body: Any) -> SessionStatus:
    """A :class:`SessionStatus` from ``GET /runtime/{id}/status/``."""
    if not isinstance(body, Mapping):
        raise _invalid("status", body)
    data = {name: body.get(name) for name in _STATUS_FIELDS}
    data["raw"] = body
    return _structure(data, SessionStatus, "status", body)


_STATUS_FIELDS = ("session_id", "status", "message_count", "last_activity", "created_at", "health")


def parse_image_upload(body: Any) -> ImageUpload:
    """An :class:`ImageUpload` from ``POST /images/upload/``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("url"), str):
        raise _invalid("image upload", body, "no 'url' string")
    data = {
        "url": body["url"],
        "media_type": body.get("media_type"),
        "size": body.get("size"),
        "raw": body,
    }
    return _structure(data, ImageUpload, "image upload", body)


def parse_session_fields(body: Any) -> dict[str, Any]:
    """The handle fields of a session answer (create, get, both from-agent shapes)."""
    if not isinstance(body, Mapping):
        raise _invalid("session", body)
    if body.get("success") is False:
        raise _invalid("session", body, "it says success: false")
    session_id = body.get("session_id", body.get("id"))
    if not isinstance(session_id, str) or not session_id:
        raise _invalid("session", body, "no 'session_id' string")
    created = body.get("created_at")
    try:
        created_at = None if created is None else _structure_datetime(created, datetime)
    except (TypeError, ValueError) as exc:
        raise _invalid("session", body, exc) from exc
    agent_config = body.get("agent_config")
    return {
        "id": session_id,
        "config_hash": _opt_str(body.get("config_hash")),
        "agent_id": _opt_str(body.get("agent_id")),
        "agent_name": _opt_str(body.get("agent_name")),
        "agent_key": _opt_str(body.get("agent_key")),
        "created_at": created_at,
        "state": _opt_str(body.get("status")),
        "agent_config": agent_config if isinstance(agent_config, Mapping) else None,
        "raw": body,
    }


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def decode_json(content: bytes) -> Any:
    """Parse a JSON body; raise ValueError when it is not JSON."""
    return loads(content)
