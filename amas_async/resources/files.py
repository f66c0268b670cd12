"""``client.files``: knowledge documents (``/files/``): upload, list, read, delete, wait."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .._multipart import FileTypes, document_form
from .._validation import path_segment
from ..errors import InvalidRequestError
from ..models import File
from ._answers import parse_file
from ._base import AsyncResource, collect, ignore_body, iterate, query, wait_until

#: The file statuses the docs list; ``active`` is ready, ``error`` failed.
FILE_STATUSES = ("uploading", "active", "archived", "deleted", "error")
#: The file types the docs list for the ``file_type`` filter.
FILE_TYPES = ("document", "image", "video", "audio", "archive", "code", "data", "other")


class AsyncFiles(AsyncResource):
    """Knowledge documents: upload (multipart), list with filters, read, delete, wait."""

    __slots__ = ()

    async def upload(
        self,
        file: FileTypes,
        *,
        tags: Sequence[str] | None = None,
        filename: str | None = None,
        media_type: str | None = None,
    ) -> File:
        """Upload a document; it starts ``uploading`` and turns ``active`` once processed.

        ``file`` is a path (streamed from disk, never read whole), bytes, or a binary file
        object (bytes need ``filename``). ``media_type`` defaults to what the name (or, for an
        image, the content) says, else ``application/octet-stream``. ``tags`` go as one
        ``tags`` field, comma-separated, as the docs' ``-F "tags=manual,product"`` shows (so a
        tag cannot hold a comma). A missing, empty or unreadable file, or a bad tag, raises
        before anything is sent (:class:`InputFileNotFoundError`, :class:`InvalidFileError`,
        :class:`InvalidRequestError`). Returns the :class:`File` as the server recorded it.
        Not retried where it may have run (a retry could store the file twice); see
        :meth:`wait` for processing.
        """
        fields = [("tags", ",".join(_tags(tags)))] if tags else []
        form = document_form(file, filename=filename, media_type=media_type, fields=fields)
        return await self._client._request(
            "POST", "/files/", multipart=form, idempotent=False, parse=parse_file
        )

    async def list(
        self,
        *,
        file_type: str | None = None,
        status: str | None = None,
        search: str | None = None,
        tags: Sequence[str] | None = None,
        include_deleted: bool | None = None,
    ) -> list[File]:
        """The account's files, filtered (all pages, if the server paginates).

        ``file_type``: document, image, video, audio, archive, code, data or other;
        ``status``: uploading, active, archived, deleted or error; ``search``: part of a file
        name (the docs do not name this parameter; the SDK sends ``search``); ``tags``: sent
        as ``tags=a&tags=b``; ``include_deleted``: the server's default is false. A filter
        left None is not sent; the values are not checked against the lists above, so a
        value the server adds works too. Returns a list of :class:`File`.
        """
        return await collect(
            self.iter(
                file_type=file_type,
                status=status,
                search=search,
                tags=tags,
                include_deleted=include_deleted,
            )
        )

    def iter(
        self,
        *,
        file_type: str | None = None,
        status: str | None = None,
        search: str | None = None,
        tags: Sequence[str] | None = None,
        include_deleted: bool | None = None,
    ) -> AsyncIterator[File]:
        """The files :meth:`list` returns, fetched a page at a time."""
        if include_deleted is not None and not isinstance(include_deleted, bool):
            raise InvalidRequestError(f"include_deleted must be a bool, got {include_deleted!r}")
        params = query(
            file_type=file_type,
            status=status,
            search=search,
            tags=None if tags is None else _tags(tags),
            include_deleted=include_deleted,
        )
        return iterate(self._client, "/files/", params, parse_file, "file")

    async def get(self, file_id: str) -> File:
        """One file, with ``processing_info`` once processed.

        An unknown id raises :class:`NotFoundError`.
        """
        return await self._client._request("GET", _path(file_id), parse=parse_file)

    async def delete(self, file_id: str) -> None:
        """Delete a file: ``DELETE /files/{id}/`` (listed in the docs, not described).

        The docs suggest a soft delete (status ``deleted``, listed with ``include_deleted``).
        Any 2xx is success; returns None.
        """
        await self._client._request("DELETE", _path(file_id), parse=ignore_body)

    async def wait(
        self,
        file_id: str,
        *,
        timeout: float | None = 300.0,
        poll_interval: float = 1.0,
        on_poll: Callable[[File], Any] | None = None,
    ) -> File:
        """Poll a file until it is ``active``; returns it.

        Reads the file every ``poll_interval`` seconds (default 1; the first read is
        immediate). Raises :class:`ProcessingError` if it ends in ``error`` (or is
        ``deleted``), its message quoting the server's reason when the answer gives one
        (``error_message``), and :class:`WaitTimeoutError` if it is still processing after
        ``timeout`` seconds (default 300; None: no limit); both carry the last :class:`File`
        read in ``result``. ``on_poll`` (plain or async) is called with every file read, for a
        progress display.
        """
        path = _path(file_id)

        async def fetch() -> File:
            return await self._client._request("GET", path, parse=parse_file)

        return await wait_until(
            fetch,
            kind="file",
            id=file_id,
            ready="active",
            failed=("error", "deleted"),
            timeout=timeout,
            interval=poll_interval,
            on_poll=on_poll,
            detail=_failure_reason,
        )


def _failure_reason(file: File) -> str | None:
    """What a failed file's answer says went wrong, if anything (the docs name no field).

    Read from ``error_message`` (the emulator's field), else ``error`` (a string, or an
    object's ``message``).
    """
    raw = file.raw
    error = raw.get("error")
    for said in (
        raw.get("error_message"),
        error.get("message") if isinstance(error, Mapping) else error,
    ):
        if isinstance(said, str) and said.strip():
            return said.strip()
    return None


def _tags(tags: object) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise InvalidRequestError(f"tags must be a list of str, not {type(tags).__name__}")
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidRequestError(f"every tag must be a non-empty str, got {tag!r}")
        if "," in tag:
            raise InvalidRequestError(
                f"the tag {tag!r} holds a comma: the API takes tags comma-separated"
            )
    return list(tags)


def _path(file_id: str) -> str:
    return f"/files/{path_segment(file_id, 'file_id')}/"


__all__ = ["FILE_STATUSES", "FILE_TYPES", "AsyncFiles"]
