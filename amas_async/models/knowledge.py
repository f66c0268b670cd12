"""Knowledge: uploaded files, collections of them, and the knowledge bases built from them.

The answer models are lenient like the others: every field the API may omit is optional (None
when the answer does not carry it), a field of an unexpected type is read as the converter
reads it, and ``raw`` keeps the answer as received, so a key the model lacks is never lost.
Timestamps are timezone-aware ``datetime`` whether the server sent ISO 8601 text or Unix
seconds.

:class:`ChunkingStrategy` and :class:`EmbeddingConfig` go the other way: values built by the
user for ``knowledge_bases.create``, checked when built, sent by ``to_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .. import _readers
from ..errors import InvalidRequestError

__all__ = [
    "AddFilesResult",
    "ChunkingStrategy",
    "Collection",
    "CollectionDatasource",
    "EmbeddingConfig",
    "File",
    "KnowledgeBase",
    "KnowledgeBaseStatus",
]


# ---- files --------------------------------------------------------------------------------------


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class File(_readers.Record):
    """An uploaded file (``/files/``): what the upload, ``get`` and ``list`` answer.

    A file starts ``uploading`` and becomes ``active`` once processed (``files.wait``);
    ``processing_info`` comes with ``get`` only.
    """

    id: str
    """The file's id; the one field a file answer must carry."""
    original_filename: str | None = None
    """The name it was uploaded under."""
    file_type: str | None = None
    """``document``, ``image``, ``video``, ``audio``, ``archive``, ``code``, ``data`` or
    ``other``."""
    size_bytes: int | None = None
    """Its size in bytes."""
    status: str | None = None
    """``uploading``, ``active``, ``archived``, ``deleted`` or ``error``."""
    tags: Sequence[str] = ()
    """Its tags (empty when it has none or the answer sends null)."""
    created_at: datetime | None = None
    """When it was uploaded."""
    updated_at: datetime | None = None
    """When it last changed (not in the upload answer)."""
    processing_info: Mapping[str, Any] | None = None
    """What processing found (``pages_extracted``, ``text_length``), from ``get``."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The answer as received."""


# ---- collections --------------------------------------------------------------------------------


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class CollectionDatasource(_readers.Record):
    """One file in a collection (an item of ``Collection.datasources``)."""

    id: str | None = None
    """The entry's id in the collection (not the file's)."""
    data_source: str | None = None
    """The file's id."""
    data_source_name: str | None = None
    """The file's name."""
    data_source_type: str | None = None
    """The file's type (``document`` ...)."""
    data_source_size: int | None = None
    """The file's size in bytes."""
    created_at: datetime | None = None
    """When it was added."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The entry as received."""


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class Collection(_readers.Record):
    """A collection of files (``/collections/``): what ``create``, ``get`` and ``list`` answer."""

    id: str
    """The collection's id; the one field a collection answer must carry."""
    name: str | None = None
    """Its name."""
    description: str | None = None
    """Its description."""
    status: str | None = None
    """``pending``, ``running``, ``completed`` or ``failed``."""
    progress: float | None = None
    """Processing progress, 0 to 100."""
    data_source_count: int | None = None
    """How many files it holds."""
    total_size: int | None = None
    """Their total size in bytes."""
    datasources: Sequence[CollectionDatasource] | None = None
    """Its files, from ``get``; None when the answer does not list them (``list``,
    ``create``)."""
    created_at: datetime | None = None
    """When it was created."""
    updated_at: datetime | None = None
    """When it last changed."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The answer as received."""


@attrs.frozen(kw_only=True)
class AddFilesResult(_readers.Record):
    """What ``POST /collections/{id}/files/`` answers: how many files went in."""

    success: bool | None = None
    """The server's overall verdict."""
    added: int | None = None
    """How many files were added."""
    failed: int | None = None
    """How many could not be."""
    results: Sequence[Any] = ()
    """One mapping per file as sent (``{"file_id": ..., "status": "added"}``)."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The answer as received."""


# ---- knowledge bases ----------------------------------------------------------------------------


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class KnowledgeBase(_readers.Record):
    """A knowledge base (``/knowledge-bases/``), from either documented answer shape.

    The current shape and the older one carry different keys (the older has
    ``collection_count`` and no ``chunking_strategy``, ``embedding_config`` ...); a field the
    answer does not carry is None, so None means "not said", an empty list "none".
    ``chunking_strategy`` and ``embedding_config`` are mappings as received: a strategy or
    provider this SDK does not know still reads.
    """

    id: str
    """The knowledge base's id; the one field a knowledge-base answer must carry."""
    name: str | None = None
    """Its name."""
    description: str | None = None
    """Its description."""
    processing_engine: str | None = None
    """The vector store (``milvus``)."""
    dataset_name: str | None = None
    """The dataset's name as given."""
    normalized_dataset_name: str | None = None
    """The dataset's name as the server stores it (``product_knowledge_base``)."""
    status: str | None = None
    """``pending``, ``running``, ``completed`` or ``failed``."""
    progress: float | None = None
    """Processing progress, 0 to 100."""
    datasources: Sequence[Any] | None = None
    """Its data sources, as sent."""
    datasource_count: int | None = None
    """How many data sources it holds."""
    total_datasources: int | None = None
    """How many data sources it processes in all."""
    collection_count: int | None = None
    """How many collections it was built from (older shape)."""
    ingested_datasources: Sequence[Any] | None = None
    """The data sources ingested so far, as sent (their keys differ between the shapes)."""
    failed_datasources: Sequence[Any] | None = None
    """The data sources that failed, as sent."""
    datasource_errors: Mapping[str, Any] | None = None
    """The errors of the failed data sources, by data source."""
    datasource_snapshots: Mapping[str, Any] | None = None
    """What the server recorded of each data source, by data source id."""
    success_rate: float | None = None
    """The share of data sources ingested, 0 to 100."""
    chunking_strategy: Mapping[str, Any] | None = None
    """How documents were split, as received (the wire shape of :class:`ChunkingStrategy`)."""
    embedding_config: Mapping[str, Any] | None = None
    """The embedding model, as received (``{provider, model, dimensions}``)."""
    llm_config: Mapping[str, Any] | None = None
    """The language-model settings, as received."""
    processing_metadata: Mapping[str, Any] | None = None
    """The state of processing (``phase``, ``total_chunks``, ``processed_chunks``,
    ``message``), as received."""
    created_by_name: str | None = None
    """The name of the user who created it."""
    company_name: str | None = None
    """The owning company's name."""
    created_at: datetime | None = None
    """When it was created."""
    updated_at: datetime | None = None
    """When it last changed."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The answer as received."""


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class KnowledgeBaseStatus(_readers.Record):
    """A knowledge base's processing status, from either documented status answer.

    The current ``GET .../check_status/`` answers ``{success, message, knowledge_base{...},
    status_updated}``; the older ``GET .../status/`` answers a flat object. Both fill the same
    fields: ``status``, ``progress`` and ``failed_count`` mean the same whichever answered.
    The older answer sends ``failed_datasources`` as a count, the current one as a list: the
    count is ``failed_count`` either way, and ``failed_datasources`` the list (empty when
    only a count was sent). ``phase``, ``total_chunks``, ``processed_chunks`` and ``message``
    come from the current answer's ``processing_metadata``.
    """

    id: str | None = None
    """The knowledge base's id."""
    name: str | None = None
    """Its name (current answer only)."""
    status: str | None = None
    """``pending``, ``running``, ``completed`` or ``failed``."""
    progress: float | None = None
    """Processing progress, 0 to 100."""
    processing_engine: str | None = None
    """The vector store (``milvus``)."""
    collection_count: int | None = None
    """How many collections it is built from (older answer)."""
    datasource_count: int | None = None
    """How many data sources it holds (current answer)."""
    total_datasources: int | None = None
    """How many data sources it processes in all."""
    processed_datasources: int | None = None
    """How many are processed so far (older answer; None when not sent)."""
    failed_count: int | None = None
    """How many data sources failed: the older answer's count, or the length of the current
    answer's list; None when neither was sent."""
    failed_datasources: Sequence[Any] = ()
    """The data sources that failed, as sent (empty when the answer sent only a count)."""
    success_rate: float | None = None
    """The share of data sources ingested, 0 to 100."""
    phase: str | None = None
    """The processing phase (``batch_embedding`` ...)."""
    total_chunks: int | None = None
    """How many chunks the documents were split into."""
    processed_chunks: int | None = None
    """How many chunks are embedded so far."""
    message: str | None = None
    """The progress message (``"Generating Embeddings: 562/1,250 chunks"``)."""
    estimated_completion: Any = None
    """When processing should end, as sent (null in the docs, which do not give its type)."""
    updated_at: datetime | None = None
    """When the status last changed (``updated_at``, or the older ``last_updated``)."""
    knowledge_base: KnowledgeBase | None = None
    """The knowledge base the current answer carries; None for the older answer."""
    success: bool | None = None
    """Whether the status check itself worked (current answer)."""
    status_updated: bool | None = None
    """Whether this check changed the status (current answer)."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
    """The answer as received."""

    @property
    def done(self) -> bool:
        """True when processing completed (``status == "completed"``)."""
        return self.status == "completed"

    @property
    def failed(self) -> bool:
        """True when processing failed (``status == "failed"``)."""
        return self.status == "failed"

    @property
    def finished(self) -> bool:
        """True when processing ended, completed or failed: polling can stop."""
        return self.status in ("completed", "failed")


# ---- what a knowledge base is built with ---------------------------------------------------------

_SPLIT_BY = {"recursive": ("word", "char"), "hierarchical": ("word",), "fixed": ("word",)}
_TABLE_FORMATS = ("csv", "markdown")
_CSV_MODES = ("row", "file")
_DEFAULT_SEPARATORS = ("\n\n", "\n", ". ", " ")
_DEFAULT_BLOCK_SIZES = (700, 350, 150)
_STRUCTURED = ("rows_per_batch", "table_format", "csv_content_column", "csv_conversion_mode")


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(name: str, value: object) -> int:
    if not _int(value) or value <= 0:  # type: ignore[operator]
        raise InvalidRequestError(f"{name} must be a positive int, got {value!r}")
    return value  # type: ignore[return-value]


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _one_of(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise InvalidRequestError(f"{name} must be {choices}, got {value!r}")


def _tuple(value: object) -> object:
    """A list given for a sequence field, as a tuple (the value stays frozen and hashable)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, tuple)):
        return tuple(value)
    return value


def _structured(
    rows_per_batch: int | None,
    table_format: str | None,
    csv_content_column: str | None,
    csv_conversion_mode: str | None,
) -> None:
    if rows_per_batch is not None and (not _int(rows_per_batch) or not 1 <= rows_per_batch <= 20):
        raise InvalidRequestError(
            f"rows_per_batch must be an int from 1 to 20, got {rows_per_batch!r}"
        )
    if table_format is not None:
        _one_of("table_format", table_format, _TABLE_FORMATS)
    if csv_content_column is not None:
        _text("csv_content_column", csv_content_column)
    if csv_conversion_mode is not None:
        _one_of("csv_conversion_mode", csv_conversion_mode, _CSV_MODES)


@attrs.frozen(kw_only=True)
class ChunkingStrategy:
    """How a knowledge base splits its documents: the ``chunking_strategy`` it is created with.

    Build one with :meth:`recursive` (the server's default: 500 words, overlap 50),
    :meth:`hierarchical` or :meth:`fixed`; ``to_dict()`` is the body the docs show. The options
    for structured files (``.csv``, ``.xlsx``, ``.xls``) are sent only when given; so is any
    other field left None (the server's default applies). A value that cannot be valid raises
    :class:`~amas_async.errors.InvalidRequestError` when built: sizes are positive ints, the
    overlap is smaller than the chunks, ``split_by`` is ``word`` or ``char`` for
    ``recursive`` and ``word`` for the others, and each strategy takes only its own fields.
    For a strategy the docs do not show, pass ``knowledge_bases.create`` a mapping instead.
    """

    strategy: str
    """``recursive``, ``hierarchical`` or ``fixed``."""
    chunk_size: int | None = None
    """The size of a chunk, in ``split_by`` units (``recursive`` and ``fixed``)."""
    chunk_overlap: int = 50
    """How much consecutive chunks share, in ``split_by`` units (0 or more)."""
    split_by: str = "word"
    """What sizes count: ``word``, or ``char`` (``recursive`` only)."""
    recursive_separators: Sequence[str] | None = attrs.field(default=None, converter=_tuple)
    """The separators tried in turn, a tuple (``recursive`` only)."""
    hierarchical_block_sizes: Sequence[int] | None = attrs.field(default=None, converter=_tuple)
    """The chunk size of each level, largest first, a tuple (``hierarchical`` only)."""
    rows_per_batch: int | None = None
    """Structured files: how many rows go in one chunk, 1 to 20."""
    table_format: str | None = None
    """Structured files: how a table is written, ``csv`` or ``markdown``."""
    csv_content_column: str | None = None
    """Structured files: the column that holds the text."""
    csv_conversion_mode: str | None = None
    """Structured files: a document per ``row`` or per ``file``."""

    def __attrs_post_init__(self) -> None:
        _one_of("strategy", self.strategy, tuple(_SPLIT_BY))
        _one_of(f"split_by of a {self.strategy} strategy", self.split_by, _SPLIT_BY[self.strategy])
        overlap = self.chunk_overlap
        if not _int(overlap) or overlap < 0:
            raise InvalidRequestError(f"chunk_overlap must be an int of 0 or more, got {overlap!r}")
        smallest: int | None = None
        if self.strategy == "hierarchical":
            if self.chunk_size is not None:
                raise InvalidRequestError(
                    "a hierarchical strategy takes hierarchical_block_sizes, not chunk_size"
                )
            sizes = self.hierarchical_block_sizes
            if sizes is not None:
                if (
                    not isinstance(sizes, tuple)
                    or not sizes
                    or not all(_int(s) and s > 0 for s in sizes)
                ):
                    raise InvalidRequestError(
                        "hierarchical_block_sizes must be a non-empty list of positive ints, "
                        f"got {sizes!r}"
                    )
                smallest = min(sizes)
        else:
            if self.hierarchical_block_sizes is not None:
                raise InvalidRequestError("hierarchical_block_sizes is for a hierarchical strategy")
            if self.chunk_size is not None:
                smallest = _positive("chunk_size", self.chunk_size)
        if smallest is not None and overlap >= smallest:
            what = "chunk_size" if self.strategy != "hierarchical" else "the smallest block size"
            raise InvalidRequestError(
                f"chunk_overlap ({overlap}) must be smaller than {what} ({smallest})"
            )
        separators = self.recursive_separators
        if self.strategy != "recursive":
            if separators is not None:
                raise InvalidRequestError("recursive_separators is for a recursive strategy")
        elif separators is not None and (
            not isinstance(separators, tuple)
            or not separators
            or not all(isinstance(s, str) for s in separators)
        ):
            raise InvalidRequestError(
                f"recursive_separators must be a non-empty list of str, got {separators!r}"
            )
        _structured(
            self.rows_per_batch,
            self.table_format,
            self.csv_content_column,
            self.csv_conversion_mode,
        )

    @classmethod
    def recursive(
        cls,
        chunk_size: int = 500,
        chunk_overlap: int = 50,
        *,
        split_by: str = "word",
        recursive_separators: Sequence[str] = _DEFAULT_SEPARATORS,
        rows_per_batch: int | None = None,
        table_format: str | None = None,
        csv_content_column: str | None = None,
        csv_conversion_mode: str | None = None,
    ) -> ChunkingStrategy:
        """Split at the first separator that gives chunks small enough (the server's default).

        ``split_by`` is ``word`` or ``char``; ``recursive_separators`` are tried in turn.
        """
        return cls(
            strategy="recursive",
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            split_by=split_by,
            recursive_separators=recursive_separators,
            rows_per_batch=rows_per_batch,
            table_format=table_format,
            csv_content_column=csv_content_column,
            csv_conversion_mode=csv_conversion_mode,
        )

    @classmethod
    def hierarchical(
        cls,
        chunk_overlap: int = 50,
        *,
        hierarchical_block_sizes: Sequence[int] = _DEFAULT_BLOCK_SIZES,
        split_by: str = "word",
        rows_per_batch: int | None = None,
        table_format: str | None = None,
        csv_content_column: str | None = None,
        csv_conversion_mode: str | None = None,
    ) -> ChunkingStrategy:
        """Chunks at several sizes, each level nested in the one above (``split_by`` word)."""
        return cls(
            strategy="hierarchical",
            chunk_overlap=chunk_overlap,
            split_by=split_by,
            hierarchical_block_sizes=hierarchical_block_sizes,
            rows_per_batch=rows_per_batch,
            table_format=table_format,
            csv_content_column=csv_content_column,
            csv_conversion_mode=csv_conversion_mode,
        )

    @classmethod
    def fixed(
        cls,
        chunk_size: int = 500,
        chunk_overlap: int = 50,
        *,
        split_by: str = "word",
        rows_per_batch: int | None = None,
        table_format: str | None = None,
        csv_content_column: str | None = None,
        csv_conversion_mode: str | None = None,
    ) -> ChunkingStrategy:
        """Chunks of one size (``split_by`` word)."""
        return cls(
            strategy="fixed",
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            split_by=split_by,
            rows_per_batch=rows_per_batch,
            table_format=table_format,
            csv_content_column=csv_content_column,
            csv_conversion_mode=csv_conversion_mode,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``chunking_strategy`` body, keys in the documented order.

        The structured-file options given come last; a field left None is not sent.
        """
        body: dict[str, Any] = {"strategy": self.strategy}
        if self.chunk_size is not None:
            body["chunk_size"] = self.chunk_size
        body["chunk_overlap"] = self.chunk_overlap
        body["split_by"] = self.split_by
        if self.recursive_separators is not None:
            body["recursive_separators"] = list(self.recursive_separators)
        if self.hierarchical_block_sizes is not None:
            body["hierarchical_block_sizes"] = list(self.hierarchical_block_sizes)
        for name in _STRUCTURED:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@attrs.frozen
class EmbeddingConfig:
    """The embedding model of a knowledge base: its ``embedding_config``.

    ``EmbeddingConfig("mistral", "mistral-embed", 1024)``. The docs name the providers
    ``azure_openai``, ``mistral`` and ``telekom_otc``; any non-empty provider name is accepted,
    so a provider the server adds needs no SDK upgrade. A provider or model that is not a
    non-empty str, or dimensions that are not a positive int, raise
    :class:`~amas_async.errors.InvalidRequestError` when built.
    """

    provider: str
    """The embedding provider (``azure_openai``, ``mistral``, ``telekom_otc`` ...)."""
    model: str
    """The provider's model (``mistral-embed``, ``text-embedding-ada-002`` ...)."""
    dimensions: int
    """The size of the vectors the model makes (1024 for ``mistral-embed``)."""

    def __attrs_post_init__(self) -> None:
        _text("provider", self.provider)
        _text("model", self.model)
        _positive("dimensions", self.dimensions)

    def to_dict(self) -> dict[str, Any]:
        """The ``embedding_config`` body: ``{provider, model, dimensions}``."""
        return {"provider": self.provider, "model": self.model, "dimensions": self.dimensions}
