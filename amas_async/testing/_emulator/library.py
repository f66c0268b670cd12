"""Files, collections and knowledge bases: what the emulator keeps and how it shows them.

Each object carries a :class:`~.processing.Job`; its status is worked out when it is read
(:meth:`Library.refresh_file` and friends) and stored, with a new ``updated_at`` when it
changed. The ``*_body`` functions render the documented JSON shapes. The rules are in
``docs/emulator.md``; the lock of the emulator's state guards everything here.
"""

from __future__ import annotations

import math
import mimetypes
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .agents import agent_key_for
from .bodies import iso
from .errors import not_found
from .faults import check_seconds
from .processing import Job, ProcessingClock, check_progress

FILE_TYPES: Final = ("document", "image", "video", "audio", "archive", "code", "data", "other")
"""The documented ``file_type`` values [DOC]."""
FILE_STATUSES: Final = ("uploading", "active", "archived", "deleted", "error")
"""The documented file ``status`` values [DOC]; the emulator never archives a file."""
PROCESSING_STATUSES: Final = ("pending", "running", "completed", "failed")
"""The documented collection and knowledge-base ``status`` values [DOC]."""
DEFAULT_FAILURE: Final = "Processing failed (injected by the emulator)"
"""The message of :meth:`Emulator.fail_processing` when none is given [OURS]."""
KB_CREATED_BY: Final = "Emulator User"
"""``created_by_name`` of every knowledge base [OURS]."""
KB_COMPANY: Final = "Emulator Company"
"""``company_name`` of every knowledge base [OURS]."""
KB_DATASOURCE_TYPE: Final = "file-upload"
"""``type`` of a knowledge base's datasources [DOC: the example's value]."""
CHARS_PER_PAGE: Final = 3000
"""A document's ``pages_extracted`` is its text length over this, rounded up [OURS]."""

_EXTENSIONS: Final = {
    "document": "pdf doc docx odt rtf txt md markdown rst tex ppt pptx odp epub html htm",
    "image": "png jpg jpeg gif webp bmp tif tiff svg heic ico",
    "video": "mp4 mov avi mkv webm m4v wmv flv mpeg mpg",
    "audio": "mp3 wav ogg flac m4a aac wma opus",
    "archive": "zip tar gz tgz bz2 xz 7z rar zst",
    "code": "py js ts tsx jsx java c h cpp hpp cc cs go rs rb php swift kt scala sh bash ps1 "
    "css scss sql lua pl ipynb",
    "data": "csv tsv xlsx xls ods json jsonl ndjson xml yaml yml parquet avro toml",
}
"""File extensions by ``file_type`` [OURS]."""
_TYPE_BY_EXTENSION: Final = {
    ext: kind for kind, exts in _EXTENSIONS.items() for ext in exts.split()
}
_TYPE_BY_MEDIA_PREFIX: Final = {"image/": "image", "video/": "video", "audio/": "audio"}
_TEXT_TYPES: Final = frozenset({"document", "code", "data"})


def file_type_for(filename: str, media_type: str | None) -> str:
    """The ``file_type`` of an upload: by extension first, then by media type [OURS].

    The extension table is in ``docs/emulator.md``; without a known extension,
    ``image/*``, ``video/*`` and ``audio/*`` media types give their kind, ``text/*`` and
    PDF/Office types ``document``, zip/tar/gzip types ``archive``; anything else is
    ``other``.
    """
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in _TYPE_BY_EXTENSION:
        return _TYPE_BY_EXTENSION[ext]
    media = (media_type or mimetypes.guess_type(filename)[0] or "").lower()
    for prefix, kind in _TYPE_BY_MEDIA_PREFIX.items():
        if media.startswith(prefix):
            return kind
    if media.startswith("text/") or media in ("application/pdf", "application/msword"):
        return "document"
    if "officedocument" in media or "opendocument" in media:
        return "document"
    if any(word in media for word in ("zip", "tar", "gzip", "compressed")):
        return "archive"
    if media in ("application/json", "text/csv", "application/xml"):
        return "data"
    return "other"


@dataclass(frozen=True)
class StoredFile:
    """A file received by ``POST /files/``: its id, name, type, tags and exact bytes."""

    id: str
    original_filename: str
    media_type: str
    file_type: str
    data: bytes
    tags: tuple[str, ...]

    @property
    def size(self) -> int:
        """Size of the file in bytes (its ``size_bytes``)."""
        return len(self.data)


def text_length(stored: StoredFile) -> int:
    """Characters of text extracted [OURS]: the UTF-8 text of documents, code and data files."""
    if stored.file_type not in _TEXT_TYPES:
        return 0
    return len(stored.data.decode("utf-8", "ignore"))


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


@dataclass
class FileRecord:
    """A stored file and its state (``status`` as last worked out)."""

    file: StoredFile
    created_at: float
    updated_at: float
    job: Job
    status: str = "uploading"
    deleted: bool = False
    processing_info: dict[str, int] | None = None


@dataclass
class Datasource:
    """A file in a collection."""

    id: str
    file_id: str
    created_at: float


@dataclass
class CollectionRecord:
    """A collection, its files and processing state."""

    id: str
    name: str
    description: str
    created_at: float
    updated_at: float
    datasources: list[Datasource] = field(default_factory=list)
    job: Job | None = None
    status: str = "pending"
    progress: int = 0


@dataclass
class KnowledgeBaseRecord:
    """A knowledge base: its settings, its files (fixed at creation) and processing state."""

    id: str
    name: str
    description: str
    processing_engine: str
    collection_ids: list[str]
    datasource_ids: list[str]
    file_ids: list[str]
    chunking_strategy: dict[str, Any]
    embedding_config: dict[str, Any]
    llm_config: dict[str, Any]
    created_at: float
    updated_at: float
    job: Job
    status: str = "pending"
    progress: int = 0
    dataset_key: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    checked_status: str | None = None


@dataclass(frozen=True)
class KbProgress:
    """A knowledge base's processing as worked out from its progress and its files."""

    status: str
    progress: int
    phase: str | None
    total_chunks: int
    processed_chunks: int
    ingested: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    pending: tuple[str, ...]
    message: str


# --------------------------------------------------------------------------------------
# The library
# --------------------------------------------------------------------------------------


class Library:
    """Every file, collection and knowledge base of one emulator, oldest first.

    Args:
        lock: The emulator state's lock (held for every call).
        processing_seconds: Seconds an object takes to process (:attr:`seconds`).
    """

    def __init__(self, lock: threading.RLock, processing_seconds: float) -> None:
        self.lock = lock
        self.clock = ProcessingClock()
        self.seconds = processing_seconds
        """Seconds a file, collection or knowledge base takes to process (live setting)."""
        self.files: dict[str, FileRecord] = {}
        self.collections: dict[str, CollectionRecord] = {}
        self.knowledge_bases: dict[str, KnowledgeBaseRecord] = {}

    def new_job(self) -> Job:
        """A job starting now at 0 percent."""
        return Job(since=self.clock.now())

    # ---------------------------------------------------------------- files

    def add_file(self, stored: StoredFile) -> FileRecord:
        """Keep an uploaded file; it starts ``uploading``."""
        now = time.time()
        record = FileRecord(stored, now, now, self.new_job())
        with self.lock:
            self.files[stored.id] = record
        return record

    def file(self, file_id: str) -> FileRecord:
        """The file with this id, refreshed; a 404 ``File not found: <id>`` if there is none."""
        with self.lock:
            record = self.files.get(file_id)
            if record is None:
                raise not_found(f"File not found: {file_id}")
            self.refresh_file(record)
            return record

    def refresh_file(self, record: FileRecord) -> None:
        """Work out the file's status: ``uploading`` until its job is done, then ``active``.

        A failed job gives ``error``; a deleted file stays ``deleted``. A change sets
        ``updated_at``; becoming active fills ``processing_info``.
        """
        if record.deleted:
            status = "deleted"
        elif record.job.outcome == "failed":
            status = "error"
        elif record.job.progress(self.clock, self.seconds) >= 100.0:
            status = "active"
        else:
            status = "uploading"
        if status == record.status:
            return
        record.status = status
        record.updated_at = time.time()
        if status == "active" and record.processing_info is None:
            length = text_length(record.file)
            pages = math.ceil(length / CHARS_PER_PAGE) if record.file.file_type == "document" else 0
            if record.file.file_type == "document" and record.file.size:
                pages = max(1, pages)
            record.processing_info = {"pages_extracted": pages, "text_length": length}

    def delete_file(self, file_id: str) -> None:
        """Soft-delete a file: its status becomes ``deleted`` (it stays readable by id)."""
        with self.lock:
            record = self.file(file_id)
            if not record.deleted:
                record.deleted = True
                self.refresh_file(record)

    # ---------------------------------------------------------------- collections

    def add_collection(self, name: str, description: str) -> CollectionRecord:
        """A new, empty collection (``pending``)."""
        now = time.time()
        record = CollectionRecord(str(uuid.uuid4()), name, description, now, now)
        with self.lock:
            self.collections[record.id] = record
        return record

    def collection(self, collection_id: str) -> CollectionRecord:
        """The collection with this id, refreshed; a 404 if there is none."""
        with self.lock:
            record = self.collections.get(collection_id)
            if record is None:
                raise not_found(f"Collection not found: {collection_id}")
            self.refresh_collection(record)
            return record

    def refresh_collection(self, record: CollectionRecord) -> None:
        """Work out status and progress (``pending`` without files or at 0 percent)."""
        if record.job is None:
            status, progress = "pending", 0
        else:
            percent = record.job.progress(self.clock, self.seconds)
            progress = math.floor(percent)
            if record.job.outcome == "failed":
                status = "failed"
            elif percent >= 100.0:
                status = "completed"
            elif percent > 0.0:
                status = "running"
            else:
                status = "pending"
        if (status, progress) != (record.status, record.progress):
            record.status, record.progress = status, progress
            record.updated_at = time.time()

    def add_to_collection(self, collection_id: str, file_ids: Sequence[str]) -> dict[str, Any]:
        """Add files; answer ``{success, added, failed, results}`` [DOC: the shape].

        A file that does not exist, is deleted or failed processing, or is already in the
        collection gets ``{"file_id", "status": "failed", "error": <why>}`` [OURS]; the others
        ``{"file_id", "status": "added"}``. ``success`` is true when none failed [OURS]. Adding
        a file (re)starts the collection's processing unless it is already running.
        """
        with self.lock:
            record = self.collection(collection_id)
            present = {ds.file_id for ds in record.datasources}
            results: list[dict[str, Any]] = []
            now = time.time()
            for file_id in file_ids:
                error = self._cannot_use(file_id)
                if error is None and file_id in present:
                    error = "File is already in the collection"
                if error is not None:
                    results.append({"file_id": file_id, "status": "failed", "error": error})
                    continue
                record.datasources.append(Datasource(str(uuid.uuid4()), file_id, now))
                present.add(file_id)
                results.append({"file_id": file_id, "status": "added"})
            added = sum(r["status"] == "added" for r in results)
            if added:
                if record.status != "running" or record.job is None:
                    record.job = self.new_job()
                record.updated_at = now
                self.refresh_collection(record)
        failed = len(results) - added
        return {"success": failed == 0, "added": added, "failed": failed, "results": results}

    def _cannot_use(self, file_id: str) -> str | None:
        record = self.files.get(file_id)
        if record is None:
            return f"File not found: {file_id}"
        self.refresh_file(record)
        if record.status in ("deleted", "error"):
            return f"File is {record.status}: {file_id}"
        return None

    def collection_files(self, record: CollectionRecord) -> list[str]:
        """The collection's file ids, in the order they were added."""
        return [ds.file_id for ds in record.datasources]

    # ---------------------------------------------------------------- knowledge bases

    def add_knowledge_base(self, record: KnowledgeBaseRecord) -> None:
        """Keep a (validated) knowledge base; its dataset name is fixed from its name now."""
        record.dataset_key = agent_key_for(record.name)
        with self.lock:
            self.knowledge_bases[record.id] = record

    def knowledge_base(self, kb_id: str) -> KnowledgeBaseRecord:
        """The knowledge base with this id, refreshed; a 404 if there is none."""
        with self.lock:
            record = self.knowledge_bases.get(kb_id)
            if record is None:
                raise not_found(f"Knowledge base not found: {kb_id}")
            self.refresh_kb(record)
            return record

    def refresh_kb(self, record: KnowledgeBaseRecord) -> KbProgress:
        """Work out the knowledge base's processing; a changed status/progress sets updated_at."""
        state = self.kb_progress(record)
        if (state.status, state.progress) != (record.status, record.progress):
            record.status, record.progress = state.status, state.progress
            record.updated_at = time.time()
        return state

    def kb_progress(self, record: KnowledgeBaseRecord) -> KbProgress:
        """The phase, chunk counts and datasource outcomes at the current progress [OURS].

        Phases by progress: 0 pending; below 20 ``loading``; below 40 ``chunking``; below 95
        ``batch_embedding`` (chunks embedded in proportion); below 100 ``indexing``; 100
        ``completed``. Datasources are processed in order as embedding advances; one whose
        file is deleted or in error then fails. A run where every datasource failed ends
        ``failed``.
        """
        job = record.job
        percent = job.progress(self.clock, self.seconds)
        total_chunks = sum(
            self._chunks(file_id, record.chunking_strategy) for file_id in record.file_ids
        )
        count = len(record.file_ids)
        done = count if percent >= 95.0 else math.floor(count * max(0.0, percent - 40.0) / 55.0)
        ingested: list[str] = []
        failed: list[tuple[str, str]] = []
        for file_id in record.file_ids[:done]:
            error = self._cannot_use(file_id)
            if error is None:
                ingested.append(file_id)
            else:
                failed.append((file_id, error))
        pending = tuple(record.file_ids[done:])
        if percent >= 95.0:
            processed = total_chunks
        elif percent >= 40.0:
            processed = math.floor(total_chunks * (percent - 40.0) / 55.0)
        else:
            processed = 0
        progress = math.floor(percent)
        if job.outcome == "failed":
            status, phase = "failed", "failed"
            message = job.message or DEFAULT_FAILURE
        elif percent >= 100.0:
            if count and not ingested:
                status, phase = "failed", "failed"
                message = "All datasources failed to ingest"
            else:
                status, phase = "completed", "completed"
                message = (
                    f"Ingestion completed: {total_chunks:,} chunks from {len(ingested)} datasources"
                )
        elif percent <= 0.0:
            status, phase, message = "pending", None, "Waiting to start"
        else:
            status = "running"
            if percent < 20.0:
                phase, message = "loading", f"Loading datasources: {count} files"
            elif percent < 40.0:
                phase, message = "chunking", f"Chunking documents: {total_chunks:,} chunks"
            elif percent < 95.0:
                phase = "batch_embedding"
                message = f"Generating Embeddings: {processed:,}/{total_chunks:,} chunks"
            else:
                phase, message = "indexing", f"Indexing {total_chunks:,} chunks in Milvus"
        return KbProgress(
            status=status,
            progress=progress,
            phase=phase,
            total_chunks=total_chunks,
            processed_chunks=processed,
            ingested=tuple(ingested),
            failed=tuple(failed),
            pending=pending,
            message=message,
        )

    def _chunks(self, file_id: str, strategy: Mapping[str, Any]) -> int:
        """Chunks of one file [OURS]: its words (or characters) over the chunk size, at least 1.

        A hierarchical strategy counts the chunks of every block size.
        """
        record = self.files.get(file_id)
        if record is None:
            return 0
        text = record.file.data.decode("utf-8", "ignore")
        units = len(text) if strategy.get("split_by") == "char" else len(text.split())
        if strategy.get("strategy") == "hierarchical":
            sizes = [int(s) for s in strategy.get("hierarchical_block_sizes") or [500]]
        else:
            sizes = [int(strategy.get("chunk_size") or 500)]
        return sum(max(1, math.ceil(units / max(1, size))) for size in sizes)

    # ---------------------------------------------------------------- controls

    def job_of(self, object_id: str) -> Job:
        """The job of a file, collection or knowledge base (:class:`KeyError` if unknown).

        A collection without files gets a job here (so a test can drive it anyway).
        """
        with self.lock:
            if object_id in self.files:
                return self.files[object_id].job
            if object_id in self.knowledge_bases:
                return self.knowledge_bases[object_id].job
            collection = self.collections.get(object_id)
            if collection is None:
                raise KeyError(f"No file, collection or knowledge base with id {object_id!r}")
            if collection.job is None:
                collection.job = self.new_job()
            return collection.job


# --------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------


def file_body(record: FileRecord, *, detail: bool) -> dict[str, Any]:
    """A file as ``GET /files/`` lists it; ``detail`` adds ``processing_info`` (GET by id).

    ``processing_info`` is null until the file is active [OURS].
    """
    stored = record.file
    body: dict[str, Any] = {
        "id": stored.id,
        "original_filename": stored.original_filename,
        "file_type": stored.file_type,
        "size_bytes": stored.size,
        "status": record.status,
        "tags": list(stored.tags),
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    if detail:
        body["processing_info"] = (
            dict(record.processing_info) if record.processing_info is not None else None
        )
    if record.status == "error":
        body["error_message"] = record.job.message or DEFAULT_FAILURE
    return body


def upload_body(record: FileRecord) -> dict[str, Any]:
    """The answer to ``POST /files/``: the file as uploaded (no ``updated_at``) [DOC]."""
    body = file_body(record, detail=False)
    del body["updated_at"]
    return body


def collection_body(library: Library, record: CollectionRecord, *, detail: bool) -> dict[str, Any]:
    """A collection as listed; ``detail`` adds ``datasources`` (GET by id) [DOC]."""
    sizes = {
        ds.file_id: library.files[ds.file_id].file.size
        for ds in record.datasources
        if ds.file_id in library.files
    }
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "status": record.status,
        "progress": record.progress,
        "data_source_count": len(record.datasources),
        "total_size": sum(sizes.values()),
    }
    if detail:
        datasources = []
        for ds in record.datasources:
            stored = library.files[ds.file_id].file
            datasources.append(
                {
                    "id": ds.id,
                    "data_source": ds.file_id,
                    "data_source_name": stored.original_filename,
                    "data_source_type": stored.file_type,
                    "data_source_size": stored.size,
                    "created_at": iso(ds.created_at),
                }
            )
        body["datasources"] = datasources
    body["created_at"] = iso(record.created_at)
    body["updated_at"] = iso(record.updated_at)
    if record.status == "failed" and record.job is not None:
        body["error_message"] = record.job.message or DEFAULT_FAILURE
    return body


def _file_name(library: Library, file_id: str) -> str:
    record = library.files.get(file_id)
    return record.file.original_filename if record is not None else file_id


def processing_metadata(state: KbProgress) -> dict[str, Any]:
    """``{phase, total_chunks, processed_chunks, message}``; ``{}`` while pending [DOC: keys]."""
    if state.phase is None:
        return {}
    return {
        "phase": state.phase,
        "total_chunks": state.total_chunks,
        "processed_chunks": state.processed_chunks,
        "message": state.message,
    }


def success_rate(state: KbProgress, total: int) -> int:
    """Ingested datasources as a whole percentage of all of them (0 without any)."""
    return round(100 * len(state.ingested) / total) if total else 0


def kb_body(library: Library, record: KnowledgeBaseRecord, state: KbProgress) -> dict[str, Any]:
    """A knowledge base in the current documented shape (every key of the GET example)."""
    names = {file_id: _file_name(library, file_id) for file_id in record.file_ids}
    ingested = [
        {"id": fid, "name": names[fid], "type": KB_DATASOURCE_TYPE, "status": "active"}
        for fid in state.ingested
    ]
    failed = [
        {"id": fid, "name": names[fid], "type": KB_DATASOURCE_TYPE, "status": "failed"}
        for fid, _ in state.failed
    ]
    snapshots: dict[str, Any] = {}
    outcome = {fid: "ingested" for fid in state.ingested}
    outcome.update({fid: "failed" for fid, _ in state.failed})
    for fid in record.file_ids:
        snapshots[fid] = {
            "id": fid,
            "name": names[fid],
            "type": KB_DATASOURCE_TYPE,
            "ingestion_status": outcome.get(fid, "pending"),
        }
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "processing_engine": record.processing_engine,
        "dataset_name": "",
        "normalized_dataset_name": record.dataset_key,
        "status": state.status,
        "progress": state.progress,
        "datasources": list(record.datasource_ids),
        "datasource_count": len(record.file_ids),
        "total_datasources": len(record.file_ids),
        "ingested_datasources": ingested,
        "failed_datasources": failed,
        "datasource_errors": dict(state.failed),
        "datasource_snapshots": snapshots,
        "success_rate": success_rate(state, len(record.file_ids)),
        "chunking_strategy": dict(record.chunking_strategy),
        "embedding_config": dict(record.embedding_config),
        "llm_config": dict(record.llm_config),
        "processing_metadata": processing_metadata(state),
        "created_by_name": KB_CREATED_BY,
        "company_name": KB_COMPANY,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    body.update(record.overrides)
    return body


CHECK_STATUS_KEYS: Final = (
    "id",
    "name",
    "status",
    "progress",
    "processing_engine",
    "datasource_count",
    "total_datasources",
    "success_rate",
    "ingested_datasources",
    "failed_datasources",
    "processing_metadata",
    "updated_at",
)
"""The keys of ``knowledge_base`` in the ``check_status`` answer [DOC]."""


def check_status_body(
    library: Library, record: KnowledgeBaseRecord, state: KbProgress
) -> dict[str, Any]:
    """``GET .../check_status/``: ``{success, message, knowledge_base{...}, status_updated}``.

    ``status_updated`` is true when the status differs from what the previous
    ``check_status`` call reported (always on the first call) [OURS].
    """
    full = kb_body(library, record, state)
    updated = record.checked_status != state.status
    record.checked_status = state.status
    return {
        "success": True,
        "message": f"Status checked for knowledge base '{record.name}'",
        "knowledge_base": {key: full[key] for key in CHECK_STATUS_KEYS},
        "status_updated": updated,
    }


def legacy_status_body(
    library: Library, record: KnowledgeBaseRecord, state: KbProgress
) -> dict[str, Any]:
    """``GET .../status/``: the older flat shape, ``failed_datasources`` as a count [DOC].

    ``estimated_completion`` is when the job should end (wall time) while it runs and is
    not held, else null [OURS].
    """
    remaining = record.job.remaining(library.clock, library.seconds)
    estimate = None
    if state.status == "running" and remaining is not None:
        estimate = iso(time.time() + remaining)
    return {
        "id": record.id,
        "status": state.status,
        "progress": state.progress,
        "processing_engine": record.processing_engine,
        "collection_count": len(record.collection_ids),
        "total_datasources": len(record.file_ids),
        "processed_datasources": len(state.ingested) + len(state.failed),
        "failed_datasources": len(state.failed),
        "success_rate": success_rate(state, len(record.file_ids)),
        "estimated_completion": estimate,
        "last_updated": iso(record.updated_at),
    }


def unique(values: Iterable[str]) -> list[str]:
    """The values without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------------------
# Test controls
# --------------------------------------------------------------------------------------


class ProcessingControls:
    """The processing controls of :class:`Emulator` [OURS]: drive objects without sleeping.

    Every method may be called from any thread, also while the server runs in
    :meth:`Emulator.run_in_thread`. ``object_id`` is the id of a file, a collection or a
    knowledge base (:class:`KeyError` for an unknown id).
    """

    _library: Library

    @property
    def processing_held(self) -> bool:
        """Whether processing is held (see :meth:`hold_processing`)."""
        with self._library.lock:
            return self._library.clock.held

    def hold_processing(self) -> None:
        """Stop the processing clock: every object keeps its progress until resumed.

        Objects created while held stay ``uploading``/``pending``; the other controls
        still work.
        """
        with self._library.lock:
            self._library.clock.hold()

    def resume_processing(self) -> None:
        """Start the processing clock again where it stopped."""
        with self._library.lock:
            self._library.clock.resume()

    def set_processing_seconds(self, seconds: float) -> None:
        """Seconds an object takes from 0 to 100 percent (0: done at its next read).

        Applies at once to everything still processing.
        """
        value = check_seconds("seconds", seconds)
        with self._library.lock:
            self._library.seconds = value

    def advance_processing(self, object_id: str, progress: float) -> None:
        """Set an object's progress (0..100) and let it go on from there.

        0 shows ``uploading``/``pending``, 1..99 ``running`` (a file stays ``uploading``),
        100 ``active``/``completed``. A failed or finished object resumes processing.
        """
        percent = check_progress(progress)
        with self._library.lock:
            self._library.job_of(object_id).set_progress(self._library.clock, percent)

    def finish_processing(self, object_id: str) -> None:
        """Finish an object now: a file becomes ``active``, others ``completed``."""
        with self._library.lock:
            self._library.job_of(object_id).finish()

    def fail_processing(self, object_id: str, message: str = DEFAULT_FAILURE) -> None:
        """Fail an object now: a file becomes ``error``, others ``failed``, with ``message``.

        A knowledge base reports it in ``processing_metadata.message``; files and
        collections in ``error_message``.
        """
        with self._library.lock:
            library = self._library
            library.job_of(object_id).fail(library.clock, library.seconds, message)
