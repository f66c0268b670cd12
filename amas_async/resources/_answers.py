"""Reading the answers of agents, files, collections and knowledge bases into their models.

Each ``parse_*`` takes the decoded JSON body and returns its model, or raises
:class:`~amas_async.errors.ResponseValidationError` naming what does not fit (never a
``KeyError`` or ``TypeError``). The models are read by code generated from their definitions
(``amas_async._readers``): an agent, a file, a collection, an add-files result and a knowledge
base straight from the answer, whose keys are their field names; a validation verdict and a
knowledge-base status from the answer mapped onto their fields, since several shapes fill
them. What each answer must carry is said by its function; everything else is optional, and
``raw`` keeps the answer as received.

A list answer is read by the resources (a bare array or a ``{results, next}`` envelope), which
call the parser of one item for each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeGuard, TypeVar

import attrs

from .. import _readers, _serde
from ..models import (
    AddFilesResult,
    Agent,
    Collection,
    ConfigValidation,
    File,
    KnowledgeBase,
    KnowledgeBaseStatus,
)

__all__ = [
    "parse_add_files",
    "parse_agent",
    "parse_collection",
    "parse_file",
    "parse_kb_status",
    "parse_knowledge_base",
    "parse_validation",
]

T = TypeVar("T")

_read_agent = _readers.reader(Agent, "agent", complete=False)
_read_file = _readers.reader(File, "file", complete=False)
_read_collection = _readers.reader(Collection, "collection", complete=False)
_read_add_files = _readers.reader(AddFilesResult, "add files", complete=False)
_read_knowledge_base = _readers.reader(KnowledgeBase, "knowledge base", complete=False)
_read_validation = _readers.reader(ConfigValidation, "validate")
_read_kb_status = _readers.reader(KnowledgeBaseStatus, "knowledge base status")

#: The fields that are never None: a null in the answer reads as empty, as a missing key does.
_AGENT_NULLS: Mapping[str, Callable[[], object]] = {"system_config": dict}
_FILE_NULLS: Mapping[str, Callable[[], object]] = {"tags": tuple}
_ADD_FILES_NULLS: Mapping[str, Callable[[], object]] = {"results": tuple}
_NO_NULLS: Mapping[str, Callable[[], object]] = {}


def _is_mapping(body: object) -> TypeGuard[Mapping[str, Any]]:
    return type(body) is dict or isinstance(body, Mapping)


def _has_id(body: Mapping[str, Any]) -> bool:
    """True when ``body`` has an ``id``: a non-empty str, or an int (read as its text)."""
    ident = body.get("id")
    if type(ident) is str:
        return bool(ident)
    return isinstance(ident, int) and not isinstance(ident, bool)


def _object_with_id(body: object, what: str) -> Mapping[str, Any]:
    if not _is_mapping(body):
        raise _serde.invalid_answer(what, body)
    if not _has_id(body):
        raise _serde.invalid_answer(what, body, "no 'id' string")
    return body


def _read(
    read: Callable[[Mapping[str, Any], object], T],
    body: Mapping[str, Any],
    nulls: Mapping[str, Callable[[], object]] = _NO_NULLS,
) -> T:
    """``read`` of the answer itself; a null in a field that is never None reads as empty."""
    for key in nulls:
        if key in body and body[key] is None:
            fixed = dict(body)
            for name, empty in nulls.items():
                if name in fixed and fixed[name] is None:
                    fixed[name] = empty()
            return attrs.evolve(read(fixed, body), raw=body)  # type: ignore[misc]
    return read(body, body)


def parse_agent(body: Any) -> Agent:
    """An :class:`Agent` from ``GET/POST/PATCH /agent/...`` or one item of the list.

    Requires an object with an ``id``.
    """
    return _read(_read_agent, _object_with_id(body, "agent"), _AGENT_NULLS)


def parse_file(body: Any) -> File:
    """A :class:`File` from ``POST /files/``, ``GET /files/{id}/`` or one item of the list.

    Requires an object with an ``id``.
    """
    return _read(_read_file, _object_with_id(body, "file"), _FILE_NULLS)


def parse_collection(body: Any) -> Collection:
    """A :class:`Collection` from ``POST /collections/``, ``GET /collections/{id}/`` or a list.

    Requires an object with an ``id``; its ``datasources``, when present, a list of objects.
    """
    return _read(_read_collection, _object_with_id(body, "collection"))


def parse_add_files(body: Any) -> AddFilesResult:
    """An :class:`AddFilesResult` from ``POST /collections/{id}/files/``.

    Requires an object.
    """
    if not _is_mapping(body):
        raise _serde.invalid_answer("add files", body)
    return _read(_read_add_files, body, _ADD_FILES_NULLS)


def parse_knowledge_base(body: Any) -> KnowledgeBase:
    """A :class:`KnowledgeBase` from ``/knowledge-bases/...``, either documented shape.

    Requires an object with an ``id``.
    """
    return _read(_read_knowledge_base, _object_with_id(body, "knowledge base"))


# ---- validation ----------------------------------------------------------------------------------

#: The keys of an error answer that are not field names.
_ENVELOPE = ("error", "detail", "errors", "message")


def parse_validation(body: Any) -> ConfigValidation:
    """A :class:`ConfigValidation` from ``POST /agent/validate/``'s answer, 2xx or 4xx.

    ``{valid, message, errors}`` as documented (``errors`` a list of ``{field, message}``
    objects or of strings, or Django REST field errors). Without ``valid`` the answer is an
    error body, read as ``valid=False``: ``{"error": {"type", "message"}}``,
    ``{"detail": ...}``, ``{"errors": ...}``, ``{"message": ...}``, or Django REST field
    errors (``{"llm_config": {"model": ["..."]}}``, one :class:`FieldError` per message, at
    the dotted path; ``non_field_errors`` at the path of the object they are about). Anything
    else, including an object that is none of these, raises ResponseValidationError.
    """
    what = "validate"
    if not _is_mapping(body):
        raise _serde.invalid_answer(what, body)
    valid = body.get("valid")
    if valid is not None:
        message = body.get("message")
        errors = _error_items(body.get("errors"))
    else:
        valid = False
        message, errors = _error_body(body)
        if message is None and not errors:
            raise _serde.invalid_answer(what, body, "no 'valid' and no error in it")
    fields = {"valid": valid, "message": message, "errors": errors, "raw": body}
    return _read_validation(fields, body)


def _error_body(body: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The message and the field errors of an error answer (no ``valid``)."""
    message: Any = None
    errors: list[Any] = []
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message", error.get("type"))
    elif error is not None:
        message = error
    detail = body.get("detail")
    if isinstance(detail, str):
        message = detail if message is None else message
    elif detail is not None:
        _flatten(detail, "", errors)
    listed = body.get("errors")
    if listed is not None:
        if not isinstance(listed, (list, tuple)) and not _is_mapping(listed):
            kind = type(listed).__name__
            raise _serde.invalid_answer(
                "validate", body, f"'errors' must be a list or an object, got {kind}"
            )
        errors.extend(_error_items(listed))
    if message is None:
        message = body.get("message")
    if any(key in body for key in _ENVELOPE):
        return message, errors
    # Django REST field errors: every value a list of messages or an object of them.
    if all(isinstance(v, (list, tuple)) or _is_mapping(v) for v in body.values()):
        _flatten(body, "", errors)
    return message, errors


def _error_items(items: object) -> list[Any]:
    """The ``errors`` of an answer as ``{field, message}`` objects for the reader.

    Objects go as they are (the reader reads and checks them); a string is a message with no
    field; Django REST field errors are flattened. Anything else goes to the reader, which
    names it.
    """
    if items is None:
        return []
    if _is_mapping(items):
        found: list[Any] = []
        _flatten(items, "", found)
        return found
    if not isinstance(items, (list, tuple)):
        return items  # type: ignore[return-value]  # the reader names it
    return [{"field": None, "message": item} if isinstance(item, str) else item for item in items]


def _flatten(value: object, path: str, out: list[Any]) -> None:
    """Django REST field errors as ``{field, message}`` objects, fields as dotted paths.

    Walked with a stack of its own, not by recursion: an answer nested a thousand levels deep
    (which the JSON decoder accepts) reads like any other.
    """
    pending: list[tuple[object, str]] = [(value, path)]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            out.append({"field": path or None, "message": value})
        elif _is_mapping(value):
            children = []
            for key, item in value.items():
                name = str(key)
                # non_field_errors are about the object at ``path`` itself
                sub = path if name == "non_field_errors" else f"{path}.{name}" if path else name
                children.append((item, sub))
            pending.extend(reversed(children))  # popped in the answer's order
        elif isinstance(value, (list, tuple)):
            children = []
            for index, item in enumerate(value):
                # a nested list or object holds the errors of the item at its index; a message
                # is about the list's own path
                nested = _is_mapping(item) or isinstance(item, (list, tuple))
                children.append((item, f"{path}[{index}]" if nested else path))
            pending.extend(reversed(children))
        elif value is not None:
            out.append({"field": path or None, "message": str(value)})


# ---- knowledge-base status -----------------------------------------------------------------------

_MISSING: Any = object()


def parse_kb_status(body: Any) -> KnowledgeBaseStatus:
    """A :class:`KnowledgeBaseStatus` from either documented status answer.

    The current ``check_status/`` answer nests the knowledge base under ``knowledge_base``
    (the status fields are read from there, a key it lacks from the answer's top level); the
    older ``status/`` answer is flat, with ``failed_datasources`` a count and ``last_updated``
    for ``updated_at``. Requires an object with a ``status`` string (at the top level or in
    ``knowledge_base``); ``knowledge_base`` and ``processing_metadata``, when present, must be
    objects, and ``failed_datasources`` a list or a count. A nested knowledge base without an
    ``id`` leaves ``knowledge_base`` None.
    """
    what = "knowledge base status"
    if not _is_mapping(body):
        raise _serde.invalid_answer(what, body)
    inner = body.get("knowledge_base")
    if inner is None:
        source = body
    elif _is_mapping(inner):
        source = inner
    else:
        raise _serde.invalid_answer(what, body, "'knowledge_base' must be an object")

    def get(key: str) -> Any:
        value = source.get(key, _MISSING)
        if value is _MISSING:
            value = body.get(key) if source is not body else None
        return value

    status = get("status")
    if not isinstance(status, str) or not status:
        problem = "no 'status' string"
        if body.get("success") is False:
            problem = f"it says success: false ({_serde.shown(body.get('message'))})"
        raise _serde.invalid_answer(what, body, problem)
    failed = get("failed_datasources")
    failed_list: Any = ()
    failed_count: Any = None
    if isinstance(failed, (list, tuple)):
        failed_list, failed_count = failed, len(failed)
    elif isinstance(failed, int) and not isinstance(failed, bool):
        failed_count = failed
    elif isinstance(failed, float) and failed.is_integer():
        failed_count = int(failed)
    elif failed is not None:
        raise _serde.invalid_answer(what, body, "'failed_datasources' must be a list or a count")
    metadata = get("processing_metadata")
    if metadata is None:
        metadata = {}
    elif not _is_mapping(metadata):
        raise _serde.invalid_answer(what, body, "'processing_metadata' must be an object")
    updated_at = get("updated_at")
    if updated_at is None:
        updated_at = get("last_updated")
    fields = {
        "id": get("id"),
        "name": get("name"),
        "status": status,
        "progress": get("progress"),
        "processing_engine": get("processing_engine"),
        "collection_count": get("collection_count"),
        "datasource_count": get("datasource_count"),
        "total_datasources": get("total_datasources"),
        "processed_datasources": get("processed_datasources"),
        "failed_count": failed_count,
        "failed_datasources": failed_list,
        "success_rate": get("success_rate"),
        "phase": metadata.get("phase"),
        "total_chunks": metadata.get("total_chunks"),
        "processed_chunks": metadata.get("processed_chunks"),
        "message": metadata.get("message"),
        "estimated_completion": get("estimated_completion"),
        "updated_at": updated_at,
        "knowledge_base": inner if inner is not None and _has_id(inner) else None,
        "success": body.get("success"),
        "status_updated": body.get("status_updated"),
        "raw": body,
    }
    return _read_kb_status(fields, body)
