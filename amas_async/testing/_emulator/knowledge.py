"""Knowledge-base request bodies: ``POST`` and ``PATCH /knowledge-bases/`` validated.

The documented fields and values [DOC] (KB-CREATE): ``name`` and ``processing_engine``
(only ``milvus``) required; ``selected_collections`` / ``selected_datasources`` (at least
one non-empty; the older ``collections`` list counts as ``selected_collections``); the three
chunking strategies and their fields; ``embedding_config{provider, model, dimensions}``;
``save_as_collection`` with ``new_collection_name``. Errors are 400s naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import invalid
from .library import PROCESSING_STATUSES, unique

PROCESSING_ENGINES: Final = ("milvus",)
"""The documented ``processing_engine`` values [DOC]."""
CHUNKING_STRATEGIES: Final = ("recursive", "hierarchical", "fixed")
"""The documented chunking strategies [DOC]."""
EMBEDDING_PROVIDERS: Final = ("azure_openai", "mistral", "telekom_otc")
"""The documented embedding providers [DOC]."""
DEFAULT_SEPARATORS: Final = ("\n\n", "\n", ". ", " ")
"""``recursive_separators`` when not given [DOC: the example's value]."""
CHUNKING_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "recursive": {
        "chunk_size": 500,
        "chunk_overlap": 50,
        "split_by": "word",
        "recursive_separators": list(DEFAULT_SEPARATORS),
    },
    "hierarchical": {
        "chunk_overlap": 50,
        "split_by": "word",
        "hierarchical_block_sizes": [700, 350, 150],
    },
    "fixed": {"chunk_size": 500, "chunk_overlap": 50, "split_by": "word"},
}
"""Fields a strategy gets when not given [DOC: default recursive, 500 words, overlap 50]."""
DEFAULT_EMBEDDING: Final = {"provider": "mistral", "model": "mistral-embed", "dimensions": 1024}
"""``embedding_config`` when not given [OURS: the documented example's value]."""
PATCH_FIELDS: Final = (
    "name",
    "description",
    "status",
    "progress",
    "datasources",
    "ingested_datasources",
    "failed_datasources",
    "chunking_strategy",
    "llm_config",
    "embedding_config",
    "processing_metadata",
)
"""The fields ``PATCH /knowledge-bases/{id}/`` updates [DOC]; other keys are ignored [OURS]."""


def _text(value: Any, field: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"'{field}' is required and must be a non-empty string", field)
    return value


def _optional_text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"'{field}' must be a string", field)
    return value


def _int(value: Any, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{field}' must be an integer", field)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"'{field}' must be {bounds}, got {value}", field)
    return value


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise invalid(f"'{field}' must be one of: {', '.join(allowed)}; got {value!r}", field)
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(f"'{field}' must be an object", field)
    return dict(value)


def id_list(value: Any, field: str) -> list[str]:
    """A list of string ids (null is an empty list); 400 naming the bad item otherwise."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"'{field}' must be a list of ids", field)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise invalid("Each id must be a non-empty string", f"{field}.{i}")
    return unique(value)


def check_chunking(value: Any, field: str = "chunking_strategy") -> dict[str, Any]:
    """A validated chunking strategy with the missing fields of its kind filled in.

    ``strategy`` is required. ``chunk_size`` (recursive, fixed) is a positive integer;
    ``chunk_overlap`` an integer from 0 to below the chunk size (the smallest block size
    for hierarchical); ``split_by`` ``word`` or ``char`` (recursive), only ``word`` for
    the others; ``recursive_separators`` a list of strings; ``hierarchical_block_sizes`` a
    non-empty list of positive integers. The options for structured files are checked
    when present: ``rows_per_batch`` 1..20, ``table_format`` csv|markdown,
    ``csv_content_column`` a string, ``csv_conversion_mode`` row|file. Unknown keys are
    kept [OURS].
    """
    given = _object(value, field)
    strategy = _choice(given.get("strategy"), f"{field}.strategy", CHUNKING_STRATEGIES)
    merged: dict[str, Any] = {"strategy": strategy, **CHUNKING_DEFAULTS[strategy]}
    merged.update({k: v for k, v in given.items() if v is not None})
    split_by = ("word", "char") if strategy == "recursive" else ("word",)
    _choice(merged["split_by"], f"{field}.split_by", split_by)
    if strategy == "hierarchical":
        sizes = merged["hierarchical_block_sizes"]
        where = f"{field}.hierarchical_block_sizes"
        if not isinstance(sizes, list) or not sizes:
            raise invalid(f"'{where}' must be a non-empty list of positive integers", where)
        for i, size in enumerate(sizes):
            _int(size, f"{where}.{i}", 1)
        smallest = min(sizes)
    else:
        smallest = _int(merged["chunk_size"], f"{field}.chunk_size", 1)
    overlap = _int(merged["chunk_overlap"], f"{field}.chunk_overlap", 0)
    if overlap >= smallest:
        raise invalid(
            f"'{field}.chunk_overlap' ({overlap}) must be smaller than the chunk size ({smallest})",
            f"{field}.chunk_overlap",
        )
    if strategy == "recursive":
        separators = merged["recursive_separators"]
        where = f"{field}.recursive_separators"
        if not isinstance(separators, list) or not all(isinstance(s, str) for s in separators):
            raise invalid(f"'{where}' must be a list of strings", where)
    if "rows_per_batch" in merged:
        _int(merged["rows_per_batch"], f"{field}.rows_per_batch", 1, 20)
    if "table_format" in merged:
        _choice(merged["table_format"], f"{field}.table_format", ("csv", "markdown"))
    if "csv_content_column" in merged:
        _text(merged["csv_content_column"], f"{field}.csv_content_column")
    if "csv_conversion_mode" in merged:
        _choice(merged["csv_conversion_mode"], f"{field}.csv_conversion_mode", ("row", "file"))
    return merged


def check_embedding(value: Any, field: str = "embedding_config") -> dict[str, Any]:
    """A validated ``{provider, model, dimensions}`` (all three required; extra keys kept)."""
    given = _object(value, field)
    _choice(given.get("provider"), f"{field}.provider", EMBEDDING_PROVIDERS)
    _text(given.get("model"), f"{field}.model")
    _int(given.get("dimensions"), f"{field}.dimensions", 1)
    return given


@dataclass(frozen=True)
class KbCreate:
    """A validated ``POST /knowledge-bases/`` body."""

    name: str
    description: str
    processing_engine: str
    collection_ids: list[str]
    datasource_ids: list[str]
    chunking_strategy: dict[str, Any]
    embedding_config: dict[str, Any]
    llm_config: dict[str, Any]
    save_as_collection: bool
    new_collection_name: str | None
    new_collection_description: str


def parse_kb_create(body: Any) -> KbCreate:
    """Validate a create body (the ids are checked against the store by the caller)."""
    if not isinstance(body, Mapping):
        raise invalid("Request body must be a JSON object")
    name = _text(body.get("name"), "name")
    description = _optional_text(body.get("description"), "description")
    engine = _choice(body.get("processing_engine"), "processing_engine", PROCESSING_ENGINES)
    collections = id_list(body.get("selected_collections"), "selected_collections")
    if "collections" in body:  # the older overview page's name
        collections = unique([*collections, *id_list(body["collections"], "collections")])
    datasources = id_list(body.get("selected_datasources"), "selected_datasources")
    if not collections and not datasources:
        raise invalid(
            "At least one of 'selected_collections' or 'selected_datasources' must be a "
            "non-empty list",
            "selected_collections",
        )
    chunking = body.get("chunking_strategy")
    embedding = body.get("embedding_config")
    llm_config = body.get("llm_config")
    save = body.get("save_as_collection", False)
    if save is None:
        save = False
    if not isinstance(save, bool):
        raise invalid("'save_as_collection' must be a boolean", "save_as_collection")
    new_name = None
    if save:
        new_name = _text(body.get("new_collection_name"), "new_collection_name")
    return KbCreate(
        name=name,
        description=description,
        processing_engine=engine,
        collection_ids=collections,
        datasource_ids=datasources,
        chunking_strategy=(
            check_chunking(chunking)
            if chunking is not None
            else {"strategy": "recursive", **CHUNKING_DEFAULTS["recursive"]}
        ),
        embedding_config=(
            check_embedding(embedding) if embedding is not None else dict(DEFAULT_EMBEDDING)
        ),
        llm_config={} if llm_config is None else _object(llm_config, "llm_config"),
        save_as_collection=save,
        new_collection_name=new_name,
        new_collection_description=_optional_text(
            body.get("new_collection_description"), "new_collection_description"
        ),
    )


def parse_kb_patch(body: Any) -> dict[str, Any]:
    """Validate a PATCH body: the documented fields present in it, checked.

    ``name`` a non-empty string; ``description`` a string (null: empty); ``status`` one
    of the four statuses; ``progress`` 0..100; ``datasources``, ``ingested_datasources``
    and ``failed_datasources`` lists; ``chunking_strategy`` and ``embedding_config`` as on
    create; ``llm_config`` and ``processing_metadata`` objects. Other keys are ignored.
    """
    if not isinstance(body, Mapping):
        raise invalid("Request body must be a JSON object")
    changes: dict[str, Any] = {}
    for key in PATCH_FIELDS:
        if key not in body:
            continue
        value = body[key]
        if key == "name":
            changes[key] = _text(value, key)
        elif key == "description":
            changes[key] = _optional_text(value, key)
        elif key == "status":
            changes[key] = _choice(value, key, PROCESSING_STATUSES)
        elif key == "progress":
            changes[key] = _int(value, key, 0, 100)
        elif key in ("datasources", "ingested_datasources", "failed_datasources"):
            if not isinstance(value, list):
                raise invalid(f"'{key}' must be a list", key)
            changes[key] = value
        elif key == "chunking_strategy":
            changes[key] = check_chunking(value)
        elif key == "embedding_config":
            changes[key] = check_embedding(value)
        else:  # llm_config, processing_metadata
            changes[key] = _object(value, key)
    return changes
