"""``client.knowledge_bases``: indexed knowledge for agents (``/knowledge-bases/``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._validation import path_segment
from ..errors import (
    InvalidContentError,
    InvalidRequestError,
    NotFoundError,
)
from ..models import ChunkingStrategy, EmbeddingConfig, KnowledgeBase, KnowledgeBaseStatus
from ._answers import parse_kb_status, parse_knowledge_base
from ._base import AsyncResource, Client, json_body, str_list, text_arg, wait_until

#: The fields ``PATCH /knowledge-bases/{id}/`` documents.
UPDATABLE_FIELDS = frozenset(
    {
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
    }
)
#: The only processing engine the docs name.
PROCESSING_ENGINES = ("milvus",)


class AsyncKnowledgeBases(AsyncResource):
    """Knowledge bases: create (processing runs in the background), read, update, status, wait.

    The docs list listing and deleting knowledge bases without describing them; they are not
    offered.
    """

    __slots__ = ("_legacy_status",)

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._legacy_status = False  # the server answered check_status/ with 404, status/ not

    async def create(
        self,
        name: str,
        *,
        selected_collections: Sequence[str] = (),
        selected_datasources: Sequence[str] = (),
        processing_engine: str = "milvus",
        description: str | None = None,
        chunking_strategy: ChunkingStrategy | Mapping[str, Any] | None = None,
        embedding_config: EmbeddingConfig | Mapping[str, Any] | None = None,
        save_as_collection: bool = False,
        new_collection_name: str | None = None,
        new_collection_description: str | None = None,
        collections: Sequence[str] = (),
    ) -> KnowledgeBase:
        """Create a knowledge base from collections and/or files; it is processed afterwards.

        At least one collection id or file id (``selected_datasources``) is required, and
        ``new_collection_name`` when ``save_as_collection``; both are checked before sending.
        ``collections`` sends collection ids under the older field name of the knowledge-base
        overview page (``{"collections": [...]}``), for a server that predates
        ``selected_collections``; give one or the other.
        ``chunking_strategy`` is a :class:`ChunkingStrategy` (the server's default is
        recursive, 500 words, overlap 50) and ``embedding_config`` an
        :class:`EmbeddingConfig`; a mapping is sent as given. Options left at their default
        are not sent; ``processing_engine`` defaults to ``milvus``, the only one the docs
        name. A rule broken here raises :class:`InvalidRequestError` before sending. Returns
        the :class:`KnowledgeBase` the server answers with (it needs an ``id``). Not retried
        where it may have run (a retry could create two); follow the processing with
        :meth:`check_status` or :meth:`wait`.
        """
        selected = str_list(selected_collections, "selected_collections")
        datasources = str_list(selected_datasources, "selected_datasources")
        legacy = str_list(collections, "collections")
        if selected and legacy:
            raise InvalidRequestError(
                "give collection ids as selected_collections or (the older field) collections, "
                "not both"
            )
        if not selected and not datasources and not legacy:
            raise InvalidRequestError(
                "a knowledge base needs at least one of selected_collections or "
                "selected_datasources"
            )
        if not isinstance(save_as_collection, bool):
            raise InvalidRequestError(
                f"save_as_collection must be a bool, got {save_as_collection!r}"
            )
        if save_as_collection and not (
            isinstance(new_collection_name, str) and new_collection_name.strip()
        ):
            raise InvalidRequestError("save_as_collection=True needs a new_collection_name")
        if not save_as_collection and (
            new_collection_name is not None or new_collection_description is not None
        ):
            raise InvalidRequestError(
                "new_collection_name and new_collection_description need save_as_collection=True"
            )
        body: dict[str, Any] = {"name": text_arg(name, "name")}
        if description is not None:
            body["description"] = text_arg(description, "description", empty_ok=True)
        body["processing_engine"] = text_arg(processing_engine, "processing_engine")
        if selected:
            body["selected_collections"] = selected
        if datasources:
            body["selected_datasources"] = datasources
        if legacy:
            body["collections"] = legacy
        if chunking_strategy is not None:
            body["chunking_strategy"] = _setting(
                chunking_strategy, ChunkingStrategy, "chunking_strategy"
            )
        if embedding_config is not None:
            body["embedding_config"] = _setting(
                embedding_config, EmbeddingConfig, "embedding_config"
            )
        if save_as_collection:
            body["save_as_collection"] = True
            body["new_collection_name"] = new_collection_name
            if new_collection_description is not None:
                body["new_collection_description"] = text_arg(
                    new_collection_description, "new_collection_description", empty_ok=True
                )
        return await self._client._request(
            "POST",
            "/knowledge-bases/",
            content=json_body(body, "the knowledge base"),
            idempotent=False,
            parse=parse_knowledge_base,
        )

    async def get(self, kb_id: str) -> KnowledgeBase:
        """One knowledge base, from either documented answer shape.

        A field the answer does not carry is None. An unknown id raises
        :class:`NotFoundError`.
        """
        return await self._client._request("GET", _path(kb_id), parse=parse_knowledge_base)

    async def update(self, kb_id: str, **fields: Any) -> KnowledgeBase:
        """Change documented fields (most often ``name`` and ``description``): a PATCH.

        ``update(kb_id, name="New name")``. Only the fields the docs list for this call are
        accepted: ``name``, ``description``, ``status``, ``progress``, ``datasources``,
        ``ingested_datasources``, ``failed_datasources``, ``chunking_strategy``,
        ``llm_config``, ``embedding_config`` and ``processing_metadata``; another, or none at
        all, raises :class:`InvalidRequestError` before sending. A :class:`ChunkingStrategy`
        or :class:`EmbeddingConfig` goes in its wire shape, other values as given. Returns the
        updated :class:`KnowledgeBase`.
        """
        path = _path(kb_id)
        if not fields:
            raise InvalidRequestError("update needs at least one field to change")
        unknown = sorted(set(fields) - UPDATABLE_FIELDS)
        if unknown:
            raise InvalidRequestError(
                f"cannot update {', '.join(unknown)}; the fields are "
                f"{', '.join(sorted(UPDATABLE_FIELDS))}"
            )
        body = dict(fields)
        for key, kind in (
            ("chunking_strategy", ChunkingStrategy),
            ("embedding_config", EmbeddingConfig),
        ):
            if body.get(key) is not None:
                body[key] = _setting(body[key], kind, key)
        return await self._client._request(
            "PATCH", path, content=json_body(body, "the knowledge base"), parse=parse_knowledge_base
        )

    async def check_status(self, kb_id: str) -> KnowledgeBaseStatus:
        """The processing status: ``GET .../check_status/``, or the older ``.../status/``.

        When ``check_status/`` answers 404 the older path is asked; if that works, this
        client asks it first from then on. Both documented answers read into the same
        :class:`KnowledgeBaseStatus`. When both paths answer 404 (no such knowledge base),
        the first :class:`NotFoundError` is raised.
        """
        path = _path(kb_id)
        paths = (
            ("status/", "check_status/") if self._legacy_status else ("check_status/", "status/")
        )
        try:
            return await self._client._request("GET", path + paths[0], parse=parse_kb_status)
        except NotFoundError as first:
            try:
                result = await self._client._request("GET", path + paths[1], parse=parse_kb_status)
            except NotFoundError:
                raise first from None
        self._legacy_status = paths[1] == "status/"
        return result

    async def wait(
        self,
        kb_id: str,
        *,
        timeout: float | None = 1800.0,
        poll_interval: float = 2.0,
        on_poll: Callable[[KnowledgeBaseStatus], Any] | None = None,
    ) -> KnowledgeBase:
        """Poll :meth:`check_status` until ``completed``; returns the knowledge base.

        Reads the status every ``poll_interval`` seconds (default 2; the first read is
        immediate), then returns :meth:`get`'s :class:`KnowledgeBase` once ``completed``.
        Raises :class:`ProcessingError` if processing ends ``failed`` (its message quotes the
        status ``message`` when there is one), and :class:`WaitTimeoutError` if it is still
        going after ``timeout`` seconds (default 1800; None: no limit; processing goes on on
        the server either way); both carry the last :class:`KnowledgeBaseStatus` in
        ``result``.
        ``on_poll`` (plain or async) is called with every status read, for a progress display.
        """
        path_segment(kb_id, "kb_id")

        async def fetch() -> KnowledgeBaseStatus:
            return await self.check_status(kb_id)

        await wait_until(
            fetch,
            kind="knowledge base",
            id=kb_id,
            ready="completed",
            failed=("failed",),
            timeout=timeout,
            interval=poll_interval,
            on_poll=on_poll,
            detail=lambda status: status.message,
        )
        return await self.get(kb_id)


def _setting(value: object, kind: type[ChunkingStrategy] | type[EmbeddingConfig], name: str) -> Any:
    if isinstance(value, kind):
        return value.to_dict()
    if isinstance(value, Mapping):
        return value
    raise InvalidContentError(
        f"{name} must be a {kind.__name__} or a mapping, not {type(value).__name__}"
    )


def _path(kb_id: str) -> str:
    return f"/knowledge-bases/{path_segment(kb_id, 'kb_id')}/"


__all__ = ["PROCESSING_ENGINES", "UPDATABLE_FIELDS", "AsyncKnowledgeBases"]
