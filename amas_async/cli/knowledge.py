"""``amas files``, ``amas collections`` and ``amas kb``: knowledge for agents.

Files are uploaded and processed (``uploading`` -> ``active``), gathered into collections, and
indexed into knowledge bases, which process in the background: ``amas kb create --wait``
follows that with a progress bar on stderr and prints the final state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from .._client import AsyncAmas
from ..errors import InvalidRequestError, WaitTimeoutError
from ..models import (
    ChunkingStrategy,
    Collection,
    File,
    KnowledgeBase,
    KnowledgeBaseStatus,
)
from ..resources.files import FILE_STATUSES, FILE_TYPES
from ._support import (
    err,
    fail,
    json_option,
    out,
    print_fields,
    print_json,
    print_rows,
    text,
    with_client,
)

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["collections", "files", "kb"]

_COLLECTION_STATUSES = ("pending", "running", "completed", "failed")
_FILE_FIELDS = (
    "id",
    "original_filename",
    "file_type",
    "size_bytes",
    "status",
    "tags",
    "created_at",
    "updated_at",
)
_COLLECTION_FIELDS = (
    "id",
    "name",
    "description",
    "status",
    "progress",
    "data_source_count",
    "total_size",
    "created_at",
    "updated_at",
)
_KB_FIELDS = (
    "id",
    "name",
    "description",
    "status",
    "progress",
    "processing_engine",
    "normalized_dataset_name",
    "datasource_count",
    "total_datasources",
    "collection_count",
    "success_rate",
    "created_by_name",
    "created_at",
    "updated_at",
)
_STATUS_FIELDS = (
    "id",
    "name",
    "status",
    "progress",
    "phase",
    "message",
    "total_chunks",
    "processed_chunks",
    "total_datasources",
    "processed_datasources",
    "failed_count",
    "success_rate",
    "updated_at",
)


def _wait_timeout(exc: WaitTimeoutError, command: str) -> str:
    """The one-line message of a wait that ran out of time."""
    return f"{exc} (processing goes on on the server; see: amas {command} {exc.id})"


# ---- files --------------------------------------------------------------------------------------


@click.group()
def files() -> None:
    """Upload, list, inspect and delete knowledge documents."""


_FILE_HEADER = ("id", "status", "type", "size", "name", "tags")


def _file_row(f: File) -> tuple[Any, ...]:
    return (f.id, f.status, f.file_type, f.size_bytes, f.original_filename, f.tags)


@files.command("upload")
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option("--tag", "tags", multiple=True, help="A tag for every file (repeatable).")
@click.option("--wait", is_flag=True, help="Wait until every file is processed (active).")
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds --wait waits for each file.",
)
@json_option
@with_client
async def files_upload(
    client: AsyncAmas,
    paths: tuple[Path, ...],
    tags: tuple[str, ...],
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Upload documents; print each file's id and status.

    With --json, a list of the upload answers (with --wait, of the processed files).
    Exit 1 if a file is missing, or (with --wait) fails to process.
    """
    uploaded = [await client.files.upload(path, tags=list(tags) or None) for path in paths]
    if wait:
        if not as_json:
            err.print(f"[dim]waiting for {len(uploaded)} file(s) to be processed...[/]")
        try:
            uploaded = [await client.files.wait(f.id, timeout=timeout) for f in uploaded]
        except WaitTimeoutError as exc:
            fail(_wait_timeout(exc, "files get"))
    if as_json:
        print_json([f.raw for f in uploaded])
        return
    print_rows((_file_row(f) for f in uploaded), header=_FILE_HEADER, empty="no files")


@files.command("list")
@click.option("--type", "file_type", type=click.Choice(FILE_TYPES), help="Only this type.")
@click.option("--status", type=click.Choice(FILE_STATUSES), help="Only this status.")
@click.option("--search", default=None, help="Only files whose name contains this.")
@click.option("--tag", "tags", multiple=True, help="Only files with this tag (repeatable).")
@click.option("--include-deleted", is_flag=True, help="Also list deleted files.")
@json_option
@with_client
async def files_list(
    client: AsyncAmas,
    file_type: str | None,
    status: str | None,
    search: str | None,
    tags: tuple[str, ...],
    include_deleted: bool,
    as_json: bool,
) -> None:
    """List files: id, status, type, size, name and tags."""
    found = await client.files.list(
        file_type=file_type,
        status=status,
        search=search,
        tags=list(tags) or None,
        include_deleted=include_deleted or None,
    )
    if as_json:
        print_json([f.raw for f in found])
        return
    print_rows((_file_row(f) for f in found), header=_FILE_HEADER, empty="no files")


@files.command("get")
@click.argument("file_id")
@json_option
@with_client
async def files_get(client: AsyncAmas, file_id: str, as_json: bool) -> None:
    """Show a file, with what processing found."""
    found = await client.files.get(file_id)
    if as_json:
        print_json(found.raw)
        return
    print_fields(found, _FILE_FIELDS)
    for key, value in (found.processing_info or {}).items():
        out.print(f"processing_info.{escape(str(key))}: {escape(text(value))}")


@files.command("delete")
@click.argument("file_id")
@json_option
@with_client
async def files_delete(client: AsyncAmas, file_id: str, as_json: bool) -> None:
    """Delete a file."""
    await client.files.delete(file_id)
    if as_json:
        print_json({"id": file_id, "deleted": True})  # the API answers with no body
        return
    out.print(f"deleted file {escape(file_id)}")


# ---- collections --------------------------------------------------------------------------------


@click.group()
def collections() -> None:
    """Create, list and inspect collections, and add files to them."""


def _print_collection(collection: Collection) -> None:
    print_fields(collection, _COLLECTION_FIELDS)
    if collection.datasources is not None:
        out.print(f"datasources: {len(collection.datasources)}")
        print_rows(
            (
                ("  " + text(d.data_source), d.data_source_name, d.data_source_type)
                for d in collection.datasources
            ),
            empty="  (none)",
        )


@collections.command("list")
@click.option("--status", type=click.Choice(_COLLECTION_STATUSES), help="Only this status.")
@click.option("--search", default=None, help="Only collections whose name contains this.")
@json_option
@with_client
async def collections_list(
    client: AsyncAmas, status: str | None, search: str | None, as_json: bool
) -> None:
    """List collections: id, status, file count and name."""
    found = await client.collections.list(status=status, search=search)
    if as_json:
        print_json([c.raw for c in found])
        return
    print_rows(
        ((c.id, c.status, c.data_source_count, c.name) for c in found),
        header=("id", "status", "files", "name"),
        empty="no collections",
    )


@collections.command("get")
@click.argument("collection_id")
@json_option
@with_client
async def collections_get(client: AsyncAmas, collection_id: str, as_json: bool) -> None:
    """Show a collection, with its files."""
    found = await client.collections.get(collection_id)
    if as_json:
        print_json(found.raw)
        return
    _print_collection(found)


@collections.command("create")
@click.argument("name")
@click.option("--description", default=None, help="What the collection holds.")
@json_option
@with_client
async def collections_create(
    client: AsyncAmas, name: str, description: str | None, as_json: bool
) -> None:
    """Create an empty collection named NAME."""
    created = await client.collections.create(name, description=description)
    if as_json:
        print_json(created.raw)
        return
    _print_collection(created)


@collections.command("add-files")
@click.argument("collection_id")
@click.argument("file_ids", metavar="FILE_ID...", nargs=-1, required=True)
@json_option
@with_client
async def collections_add_files(
    client: AsyncAmas, collection_id: str, file_ids: tuple[str, ...], as_json: bool
) -> None:
    """Add files to a collection; exit 1 if any could not be added."""
    result = await client.collections.add_files(collection_id, list(file_ids))
    if as_json:
        print_json(result.raw)
    else:
        out.print(f"added: {text(result.added)}, failed: {text(result.failed)}")
        rows = [
            ("  " + text(item.get("file_id")), item.get("status"), item.get("error"))
            for item in result.results
            if isinstance(item, Mapping)
        ]
        if rows:
            print_rows(rows, empty="")
    if result.success is False or (result.failed or 0) > 0:
        raise SystemExit(1)


# ---- knowledge bases ----------------------------------------------------------------------------


@click.group()
def kb() -> None:
    """Create knowledge bases and follow their processing."""


def _print_kb(found: KnowledgeBase) -> None:
    print_fields(found, _KB_FIELDS)
    metadata = found.processing_metadata or {}
    for key in ("phase", "message", "total_chunks", "processed_chunks"):
        if metadata.get(key) is not None:
            out.print(f"{key}: {escape(text(metadata[key]))}")
    if found.chunking_strategy:
        strategy = found.chunking_strategy
        out.print(f"chunking: {escape(text(strategy.get('strategy')))}")
    if found.failed_datasources:
        out.print(f"failed_datasources: {escape(text(found.failed_datasources))}")


def _chunking(
    strategy: str | None, chunk_size: int | None, chunk_overlap: int | None
) -> ChunkingStrategy | None:
    """The ``--chunking`` options as a strategy; None leaves the server's default."""
    if strategy is None and chunk_size is None and chunk_overlap is None:
        return None
    overlap = 50 if chunk_overlap is None else chunk_overlap  # the documented default
    try:
        if strategy == "hierarchical":
            if chunk_size is not None:
                raise click.BadParameter(
                    "a hierarchical strategy has fixed block sizes", param_hint="--chunk-size"
                )
            return ChunkingStrategy.hierarchical(overlap)
        size = 500 if chunk_size is None else chunk_size  # the documented default
        if strategy == "fixed":
            return ChunkingStrategy.fixed(size, overlap)
        return ChunkingStrategy.recursive(size, overlap)  # the server's default strategy
    except InvalidRequestError as exc:
        raise click.UsageError(str(exc)) from exc


def _kb_progress() -> Progress:
    """The live display on stderr: phase, bar, percent, chunks and the time spent.

    Its console is made now, so that it follows the terminal settings in force when the
    command runs (``TTY_COMPATIBLE``, ``TTY_INTERACTIVE``, ``NO_COLOR``): on a terminal every
    status read is drawn; otherwise only the final state is printed.
    """
    from rich.console import Console
    from rich.progress import (  # here: only this command draws one
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[chunks]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
    )


async def _wait_with_progress(
    client: AsyncAmas, kb_id: str, *, timeout: float, poll_interval: float
) -> KnowledgeBase:
    """``knowledge_bases.wait`` with a progress bar fed by each status read."""
    progress = _kb_progress()
    task = progress.add_task("pending", total=100, chunks="")

    def on_poll(status: KnowledgeBaseStatus) -> None:
        chunks = ""
        if status.total_chunks is not None:
            chunks = f"{status.processed_chunks or 0}/{status.total_chunks} chunks"
        percent = 100.0 if status.done else status.progress or 0.0
        progress.update(
            task,
            completed=percent,
            description=escape(status.phase or status.status or "processing"),
            chunks=chunks,
            refresh=True,  # each status read is drawn at once (on a terminal)
        )

    with progress:
        try:
            return await client.knowledge_bases.wait(
                kb_id, timeout=timeout, poll_interval=poll_interval, on_poll=on_poll
            )
        except WaitTimeoutError as exc:
            progress.stop()
            fail(_wait_timeout(exc, "kb status"))


@kb.command("create")
@click.argument("name")
@click.option(
    "--collection", "collection_ids", multiple=True, help="A collection to index (repeatable)."
)
@click.option(
    "--datasource", "datasource_ids", multiple=True, help="A file id to index (repeatable)."
)
@click.option("--description", default=None, help="What the knowledge base holds.")
@click.option(
    "--chunking",
    type=click.Choice(("recursive", "hierarchical", "fixed")),
    default=None,
    help="How documents are split (server default: recursive).",
)
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, help="Words per chunk.")
@click.option(
    "--chunk-overlap",
    type=click.IntRange(min=0),
    default=None,
    help="Words consecutive chunks share.",
)
@click.option("--wait", is_flag=True, help="Show processing progress until it ends.")
@click.option(
    "--timeout",
    type=float,
    default=1800.0,
    show_default=True,
    help="Seconds --wait waits at most.",
)
@click.option(
    "--poll-interval",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds between --wait's status checks.",
)
@json_option
@with_client
async def kb_create(
    client: AsyncAmas,
    name: str,
    collection_ids: tuple[str, ...],
    datasource_ids: tuple[str, ...],
    description: str | None,
    chunking: str | None,
    chunk_size: int | None,
    chunk_overlap: int | None,
    wait: bool,
    timeout: float,
    poll_interval: float,
    as_json: bool,
) -> None:
    """Create a knowledge base from collections and/or files.

    It processes in the background. Give at least one --collection or --datasource. With
    --wait, a progress bar (on stderr) follows the processing and the final state is
    printed; exit 1 if processing fails or --timeout passes first.
    """
    if not collection_ids and not datasource_ids:
        raise click.UsageError("give at least one --collection or --datasource")
    strategy = _chunking(chunking, chunk_size, chunk_overlap)
    created = await client.knowledge_bases.create(
        name,
        selected_collections=collection_ids,
        selected_datasources=datasource_ids,
        description=description,
        chunking_strategy=strategy,
    )
    if wait:
        created = await _wait_with_progress(
            client, created.id, timeout=timeout, poll_interval=poll_interval
        )
    if as_json:
        print_json(created.raw)
        return
    _print_kb(created)


@kb.command("get")
@click.argument("kb_id")
@json_option
@with_client
async def kb_get(client: AsyncAmas, kb_id: str, as_json: bool) -> None:
    """Show a knowledge base."""
    found = await client.knowledge_bases.get(kb_id)
    if as_json:
        print_json(found.raw)
        return
    _print_kb(found)


@kb.command("status")
@click.argument("kb_id")
@json_option
@with_client
async def kb_status(client: AsyncAmas, kb_id: str, as_json: bool) -> None:
    """Show a knowledge base's processing status.

    The phase, progress, chunks processed and data sources failed so far.
    """
    status = await client.knowledge_bases.check_status(kb_id)
    if as_json:
        print_json(status.raw)
        return
    print_fields(status, _STATUS_FIELDS)
