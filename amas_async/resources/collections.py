"""``client.collections``: groups of files (``/collections/``) that knowledge bases index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from .._validation import path_segment
from ..errors import InvalidRequestError
from ..models import AddFilesResult, Collection
from ._answers import parse_add_files, parse_collection
from ._base import AsyncResource, collect, iterate, json_body, query, str_list, text_arg


class AsyncCollections(AsyncResource):
    """Collections: list, create, read (with their datasources), add files.

    The docs list update, delete and file removal without describing them; they are not
    offered.
    """

    __slots__ = ()

    async def list(
        self, *, status: str | None = None, search: str | None = None
    ) -> list[Collection]:
        """The account's collections (all pages, if the server paginates).

        ``status``: pending, running, completed or failed; ``search``: part of a name or
        description (the docs do not name this parameter; the SDK sends ``search``). A filter
        left None is not sent. Returns a list of :class:`Collection`; ``datasources`` is None
        in a list, :meth:`get` gives them.
        """
        return await collect(self.iter(status=status, search=search))

    def iter(
        self, *, status: str | None = None, search: str | None = None
    ) -> AsyncIterator[Collection]:
        """The collections :meth:`list` returns, fetched a page at a time."""
        params = query(status=status, search=search)
        return iterate(self._client, "/collections/", params, parse_collection, "collection")

    async def create(self, name: str, *, description: str | None = None) -> Collection:
        """Create an empty collection (status ``pending``); returns the :class:`Collection`.

        ``name`` must be a non-empty str (else :class:`InvalidRequestError`); ``description``
        is sent only when given. Not retried where it may have run.
        """
        body: dict[str, str] = {"name": text_arg(name, "name")}
        if description is not None:
            body["description"] = text_arg(description, "description", empty_ok=True)
        return await self._client._request(
            "POST",
            "/collections/",
            content=json_body(body, "the collection"),
            idempotent=False,
            parse=parse_collection,
        )

    async def get(self, collection_id: str) -> Collection:
        """One collection, with its ``datasources``; an unknown id raises :class:`NotFoundError`."""
        return await self._client._request("GET", _path(collection_id), parse=parse_collection)

    async def add_files(self, collection_id: str, file_ids: Sequence[str]) -> AddFilesResult:
        """Add files to a collection: ``POST {"file_ids": [...]}``.

        ``file_ids`` is a non-empty list of file ids (a lone str, or an empty list, raises
        :class:`InvalidRequestError`). Returns an :class:`AddFilesResult`: how many were added
        and failed, with a result per file; a file the server could not add is reported there,
        not raised. Not retried where it may have run.
        """
        ids = str_list(file_ids, "file_ids")
        if not ids:
            raise InvalidRequestError("file_ids must name at least one file")
        return await self._client._request(
            "POST",
            _path(collection_id) + "files/",
            content=json_body({"file_ids": ids}, "file_ids"),
            idempotent=False,
            parse=parse_add_files,
        )


def _path(collection_id: str) -> str:
    return f"/collections/{path_segment(collection_id, 'collection_id')}/"


__all__ = ["AsyncCollections"]
