"""The endpoints of saved agents, files, collections and knowledge bases.

Like :mod:`.routes`: handlers read the body from ``request[BODY]``, raise
:class:`~.errors.ApiError` for every error and answer JSON (a DELETE answers 204 with no
body). Lists are bare arrays [DOC], or Django REST pages when ``page_size`` is set [OURS].
The rules are in ``docs/emulator.md``.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aiohttp import hdrs, web

from .agents import agent_body, check_config, check_settings
from .bodies import parse_body
from .errors import ApiError, invalid, json_response, not_found
from .knowledge import parse_kb_create, parse_kb_patch
from .library import (
    FILE_STATUSES,
    FILE_TYPES,
    PROCESSING_STATUSES,
    KbProgress,
    KnowledgeBaseRecord,
    StoredFile,
    check_status_body,
    collection_body,
    file_body,
    file_type_for,
    kb_body,
    legacy_status_body,
    unique,
    upload_body,
)
from .routes import API_PREFIX, BODY, clean_filename, form_parts, guess_media_type
from .state import EmulatorState
from .workflow import parse_config

KB_STATUS_PATHS: Final = ("check_status", "status")
"""The two documented knowledge-base status paths: the current one and the older one [DOC]."""
VALIDATE_INVALID_STATUSES: Final = (200, 400, 422)
"""Statuses ``POST /agent/validate/`` may answer an invalid config with (a setting)."""
NON_FIELD: Final = "non_field_errors"
"""The ``field`` of a validation error that names no field (Django REST's name) [OURS]."""
TRUE_WORDS: Final = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS: Final = frozenset({"false", "0", "no", "off"})


def parse_tags(values: Sequence[str]) -> list[str]:
    """Tags from form fields or query values: each comma-separated, or a JSON list [OURS].

    Blank tags are dropped and repeats removed (first one kept).
    """
    tags: list[str] = []
    for value in values:
        text = value.strip()
        items: list[Any] = []
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                items = [str(item) for item in loaded]
        if not items:
            items = text.split(",")
        tags.extend(str(item).strip() for item in items)
    return unique(tag for tag in tags if tag)


def bool_query(request: web.Request, name: str, default: bool) -> bool:
    """A boolean query parameter (true/false, 1/0, yes/no, on/off); 400 otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise invalid(f"'{name}' must be true or false, got {raw!r}", name)


def choice_query(request: web.Request, name: str, allowed: Sequence[str]) -> str | None:
    """A query parameter that must be one of ``allowed`` when present (400 otherwise)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise invalid(f"'{name}' must be one of: {', '.join(allowed)}; got {raw!r}", name)
    return raw


def page_url(request: web.Request, page: int) -> str:
    """The request's absolute URL on page ``page`` (page 1 has no ``page``), others kept."""
    pairs = [(k, v) for k, v in request.query.items() if k != "page"]
    if page > 1:
        pairs.append(("page", str(page)))
    base = str(request.url.with_query(None))
    return f"{base}?{urllib.parse.urlencode(pairs)}" if pairs else base


def no_content() -> web.Response:
    """A 204 with an empty body (bytes, so an ``Idempotency-Key`` repeat replays it)."""
    return web.Response(status=204, body=b"")


def json_object(request: web.Request) -> Mapping[str, Any]:
    """The request body parsed (JSON or YAML); a 400 unless it is an object."""
    body = parse_body(request[BODY], request.content_type)
    if not isinstance(body, Mapping):
        raise invalid("Request body must be a JSON object")
    return body


class ResourceRoutes:
    """The ``/agent/``, ``/files/``, ``/collections/`` and ``/knowledge-bases/`` endpoints."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        max_upload_bytes: int,
        page_size: int | None,
        validate_invalid_status: int,
        kb_status_paths: Sequence[str],
    ) -> None:
        self._state = state
        self._library = state.library
        self._max_upload_bytes = max_upload_bytes
        self._page_size = page_size
        self._validate_invalid_status = validate_invalid_status
        self._kb_status_paths = tuple(kb_status_paths)

    def table(self) -> list[web.RouteDef]:
        """Every route (``/api/v1`` paths end with ``/`` [DOC])."""
        api = API_PREFIX
        routes = [
            web.get(f"{api}/agent/", self.list_agents),
            web.post(f"{api}/agent/", self.create_agent),
            web.post(f"{api}/agent/validate/", self.validate_agent),
            web.get(f"{api}/agent/{{agent_id}}/", self.get_agent),
            web.patch(f"{api}/agent/{{agent_id}}/", self.update_agent),
            web.delete(f"{api}/agent/{{agent_id}}/", self.delete_agent),
            web.get(f"{api}/files/", self.list_files),
            web.post(f"{api}/files/", self.upload_file),
            web.get(f"{api}/files/{{file_id}}/", self.get_file),
            web.delete(f"{api}/files/{{file_id}}/", self.delete_file),
            web.get(f"{api}/collections/", self.list_collections),
            web.post(f"{api}/collections/", self.create_collection),
            web.get(f"{api}/collections/{{collection_id}}/", self.get_collection),
            web.post(f"{api}/collections/{{collection_id}}/files/", self.add_files),
            web.post(f"{api}/knowledge-bases/", self.create_knowledge_base),
            web.get(f"{api}/knowledge-bases/{{kb_id}}/", self.get_knowledge_base),
            web.patch(f"{api}/knowledge-bases/{{kb_id}}/", self.update_knowledge_base),
        ]
        if "check_status" in self._kb_status_paths:
            routes.append(
                web.get(f"{api}/knowledge-bases/{{kb_id}}/check_status/", self.check_status)
            )
        if "status" in self._kb_status_paths:
            routes.append(web.get(f"{api}/knowledge-bases/{{kb_id}}/status/", self.legacy_status))
        return routes

    def _list(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """A bare array, or with ``page_size`` the page ``?page=N`` in Django REST's envelope.

        ``{count, next, previous, results}`` with absolute ``next``/``previous`` URLs that
        keep the other query parameters; a page that is not a positive integer or lies
        beyond the last page is 404 "Invalid page." (Django REST's answer).
        """
        size = self._page_size
        if size is None:
            return json_response(items)
        raw = request.query.get("page", "1")
        try:
            page = int(raw)
        except ValueError:
            page = 0
        pages = max(1, math.ceil(len(items) / size))
        if not 1 <= page <= pages:
            raise not_found("Invalid page.")
        return json_response(
            {
                "count": len(items),
                "next": page_url(request, page + 1) if page < pages else None,
                "previous": page_url(request, page - 1) if page > 1 else None,
                "results": items[(page - 1) * size : page * size],
            }
        )

    # ---------------------------------------------------------------- agents

    async def list_agents(self, request: web.Request) -> web.Response:
        """``GET /agent/``: every saved agent, oldest first."""
        return self._list(request, [agent_body(agent) for agent in self._state.agents.all()])

    async def create_agent(self, request: web.Request) -> web.Response:
        """``POST /agent/`` ``{system_config, ...}``: validate, save, answer 201 and the agent."""
        body = json_object(request)
        raw = body.get("system_config")
        if not isinstance(raw, Mapping):
            raise invalid("'system_config' is required and must be an object", "system_config")
        config = dict(raw)
        workflow = check_config(config, "system_config")
        agent = self._state.agents.create(config, workflow, settings=check_settings(body))
        return json_response(agent_body(agent), status=201)

    async def get_agent(self, request: web.Request) -> web.Response:
        """``GET /agent/{id}/``."""
        return json_response(agent_body(self._state.agents.get(request.match_info["agent_id"])))

    async def update_agent(self, request: web.Request) -> web.Response:
        """``PATCH /agent/{id}/`` ``{system_config: partial}``: deep-merge, answer the agent."""
        agent_id = request.match_info["agent_id"]
        self._state.agents.get(agent_id)  # 404 before any body error
        body = json_object(request)
        partial = body.get("system_config")
        if partial is not None and not isinstance(partial, Mapping):
            raise invalid("'system_config' must be an object", "system_config")
        agent = self._state.agents.update(agent_id, partial, check_settings(body))
        return json_response(agent_body(agent))

    async def delete_agent(self, request: web.Request) -> web.Response:
        """``DELETE /agent/{id}/``: 204, no body."""
        self._state.agents.delete(request.match_info["agent_id"])
        return no_content()

    async def validate_agent(self, request: web.Request) -> web.Response:
        """``POST /agent/validate/`` with the config itself: ``{valid, message}`` or ``errors``.

        An invalid config answers ``validate_invalid_status`` (default 200); a body that
        cannot be read at all is a plain 400 error.
        """
        config = parse_body(request[BODY], request.content_type)
        try:
            parse_config(config)
        except ApiError as exc:
            if exc.status != 400:
                raise
            error = {"field": exc.field or NON_FIELD, "message": exc.message}
            return json_response(
                {"valid": False, "errors": [error]}, status=self._validate_invalid_status
            )
        return json_response({"valid": True, "message": "Configuration is valid"})

    # ---------------------------------------------------------------- files

    async def upload_file(self, request: web.Request) -> web.Response:
        """``POST /files/``: multipart ``file`` (and ``tags``); 201, status ``uploading``."""
        if request.content_type != "multipart/form-data":
            raise invalid("Expected a multipart/form-data body with a 'file' field", "file")
        parts = form_parts(request.headers.get(hdrs.CONTENT_TYPE, ""), request[BODY], "file")
        found = next((part for part in parts if part.name == "file"), None)
        if found is None:
            raise invalid("The multipart field 'file' is required", "file")
        if len(found.data) > self._max_upload_bytes:
            raise ApiError(
                413,
                "invalid_request_error",
                f"File exceeds the maximum upload size of {self._max_upload_bytes} bytes",
                field="file",
            )
        if not found.data:
            raise invalid("The uploaded file is empty", "file")
        header_type = (found.content_type or "").split(";", 1)[0].strip().lower()
        filename = clean_filename(found.filename, header_type, stem="file")
        media_type = guess_media_type(header_type, filename) or "application/octet-stream"
        stored = StoredFile(
            id=str(uuid.uuid4()),
            original_filename=filename,
            media_type=media_type,
            file_type=file_type_for(filename, media_type),
            data=found.data,
            tags=tuple(parse_tags([part.text for part in parts if part.name == "tags"])),
        )
        record = self._library.add_file(stored)
        return json_response(upload_body(record), status=201)

    async def list_files(self, request: web.Request) -> web.Response:
        """``GET /files/``, filtered by the query parameters.

        ``file_type`` and ``status`` as given; ``search`` matches part of the filename (any
        case); every ``tags`` value must be on the file; deleted files are listed only with
        ``include_deleted=true`` or ``status=deleted``.
        """
        file_type = choice_query(request, "file_type", FILE_TYPES)
        status = choice_query(request, "status", FILE_STATUSES)
        search = request.query.get("search", "").strip().lower()
        tags = set(parse_tags(request.query.getall("tags", [])))
        include_deleted = bool_query(request, "include_deleted", False) or status == "deleted"
        items: list[dict[str, Any]] = []
        with self._library.lock:
            for record in self._library.files.values():
                self._library.refresh_file(record)
                stored = record.file
                if record.status == "deleted" and not include_deleted:
                    continue
                if status is not None and record.status != status:
                    continue
                if file_type is not None and stored.file_type != file_type:
                    continue
                if search and search not in stored.original_filename.lower():
                    continue
                if not tags <= set(stored.tags):
                    continue
                items.append(file_body(record, detail=False))
        return self._list(request, items)

    async def get_file(self, request: web.Request) -> web.Response:
        """``GET /files/{id}/`` (a deleted file too, with status ``deleted``)."""
        with self._library.lock:
            record = self._library.file(request.match_info["file_id"])
            return json_response(file_body(record, detail=True))

    async def delete_file(self, request: web.Request) -> web.Response:
        """``DELETE /files/{id}/``: a soft delete; 204, no body (again for a deleted file)."""
        self._library.delete_file(request.match_info["file_id"])
        return no_content()

    # ---------------------------------------------------------------- collections

    async def list_collections(self, request: web.Request) -> web.Response:
        """``GET /collections/`` with ``status`` and ``search`` (name or description)."""
        status = choice_query(request, "status", PROCESSING_STATUSES)
        search = request.query.get("search", "").strip().lower()
        items: list[dict[str, Any]] = []
        with self._library.lock:
            for record in self._library.collections.values():
                self._library.refresh_collection(record)
                if status is not None and record.status != status:
                    continue
                text = f"{record.name}\n{record.description}".lower()
                if search and search not in text:
                    continue
                items.append(collection_body(self._library, record, detail=False))
        return self._list(request, items)

    async def create_collection(self, request: web.Request) -> web.Response:
        """``POST /collections/`` ``{name, description?}``: 201, ``pending`` and empty."""
        body = json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("'name' is required and must be a non-empty string", "name")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid("'description' must be a string", "description")
        record = self._library.add_collection(name, description or "")
        with self._library.lock:
            return json_response(collection_body(self._library, record, detail=False), status=201)

    async def get_collection(self, request: web.Request) -> web.Response:
        """``GET /collections/{id}/``: with ``datasources``."""
        with self._library.lock:
            record = self._library.collection(request.match_info["collection_id"])
            return json_response(collection_body(self._library, record, detail=True))

    async def add_files(self, request: web.Request) -> web.Response:
        """``POST /collections/{id}/files/`` ``{file_ids}``: per-file results, 200."""
        collection_id = request.match_info["collection_id"]
        self._library.collection(collection_id)  # 404 before any body error
        body = json_object(request)
        file_ids = body.get("file_ids")
        if not isinstance(file_ids, list) or not file_ids:
            raise invalid("'file_ids' is required and must be a non-empty list", "file_ids")
        for i, file_id in enumerate(file_ids):
            if not isinstance(file_id, str) or not file_id:
                raise invalid("Each file id must be a non-empty string", f"file_ids.{i}")
        return json_response(self._library.add_to_collection(collection_id, file_ids))

    # ---------------------------------------------------------------- knowledge bases

    async def create_knowledge_base(self, request: web.Request) -> web.Response:
        """``POST /knowledge-bases/``: validate, start processing, answer 201 ``pending``."""
        request_body = parse_kb_create(json_object(request))
        library = self._library
        with library.lock:
            file_ids: list[str] = []
            for i, collection_id in enumerate(request_body.collection_ids):
                collection = library.collections.get(collection_id)
                if collection is None:
                    raise invalid(
                        f"Collection not found: {collection_id}", f"selected_collections.{i}"
                    )
                file_ids.extend(library.collection_files(collection))
            for i, file_id in enumerate(request_body.datasource_ids):
                record = library.files.get(file_id)
                if record is None or record.deleted:
                    raise invalid(f"File not found: {file_id}", f"selected_datasources.{i}")
                file_ids.append(file_id)
            now = time.time()
            kb = KnowledgeBaseRecord(
                id=str(uuid.uuid4()),
                name=request_body.name,
                description=request_body.description,
                processing_engine=request_body.processing_engine,
                collection_ids=request_body.collection_ids,
                datasource_ids=request_body.datasource_ids,
                file_ids=unique(file_ids),
                chunking_strategy=request_body.chunking_strategy,
                embedding_config=request_body.embedding_config,
                llm_config=request_body.llm_config,
                created_at=now,
                updated_at=now,
                job=library.new_job(),
            )
            library.add_knowledge_base(kb)
            if request_body.save_as_collection:
                saved = library.add_collection(
                    request_body.new_collection_name or request_body.name,
                    request_body.new_collection_description,
                )
                library.add_to_collection(saved.id, kb.file_ids)
            initial = KbProgress(
                status="pending",
                progress=0,
                phase=None,
                total_chunks=0,
                processed_chunks=0,
                ingested=(),
                failed=(),
                pending=tuple(kb.file_ids),
                message="",
            )
            return json_response(kb_body(library, kb, initial), status=201)

    async def get_knowledge_base(self, request: web.Request) -> web.Response:
        """``GET /knowledge-bases/{id}/``: the current shape."""
        with self._library.lock:
            kb = self._library.knowledge_base(request.match_info["kb_id"])
            state = self._library.refresh_kb(kb)
            return json_response(kb_body(self._library, kb, state))

    async def update_knowledge_base(self, request: web.Request) -> web.Response:
        """``PATCH /knowledge-bases/{id}/``: the documented fields; answers the KB."""
        library = self._library
        kb_id = request.match_info["kb_id"]
        library.knowledge_base(kb_id)  # 404 before any body error
        changes = parse_kb_patch(json_object(request))
        with library.lock:
            kb = library.knowledge_base(kb_id)
            self._apply(kb, changes)
            kb.updated_at = time.time()
            state = library.refresh_kb(kb)
            return json_response(kb_body(library, kb, state))

    def _apply(self, kb: KnowledgeBaseRecord, changes: Mapping[str, Any]) -> None:
        """Apply validated PATCH changes.

        [OURS] ``status``/``progress`` drive the processing; the datasource lists and
        ``processing_metadata`` are shown as given from then on.
        """
        library = self._library
        for key in ("name", "description", "chunking_strategy", "embedding_config", "llm_config"):
            if key in changes:
                setattr(kb, key, changes[key])
        if "progress" in changes:
            kb.job.set_progress(library.clock, float(changes["progress"]))
        status = changes.get("status")
        current = kb.job.progress(library.clock, library.seconds)
        if status == "completed":
            kb.job.finish()
        elif status == "failed":
            kb.job.fail(library.clock, library.seconds, "Marked as failed by PATCH")
        elif status == "pending":
            kb.job.set_progress(library.clock, 0.0)
        elif status == "running" and (kb.job.outcome is not None or not 0 < current < 100):
            kb.job.set_progress(library.clock, min(max(current, 1.0), 99.0))
        for key in ("datasources", "ingested_datasources", "failed_datasources"):
            if key in changes:
                kb.overrides[key] = changes[key]
        if "processing_metadata" in changes:
            kb.overrides["processing_metadata"] = changes["processing_metadata"]

    async def check_status(self, request: web.Request) -> web.Response:
        """``GET /knowledge-bases/{id}/check_status/``: the current status shape."""
        with self._library.lock:
            kb = self._library.knowledge_base(request.match_info["kb_id"])
            state = self._library.refresh_kb(kb)
            return json_response(check_status_body(self._library, kb, state))

    async def legacy_status(self, request: web.Request) -> web.Response:
        """``GET /knowledge-bases/{id}/status/``: the older shape."""
        with self._library.lock:
            kb = self._library.knowledge_base(request.match_info["kb_id"])
            state = self._library.refresh_kb(kb)
            return json_response(legacy_status_body(self._library, kb, state))


def check_kb_status_paths(paths: Sequence[str]) -> tuple[str, ...]:
    """Validate the ``kb_status_paths`` setting: a non-empty subset of the two paths."""
    if isinstance(paths, str):
        raise ValueError("kb_status_paths must be a sequence of path names, not a string")
    chosen = tuple(paths)
    unknown = [p for p in chosen if p not in KB_STATUS_PATHS]
    if unknown or not chosen:
        raise ValueError(
            f"kb_status_paths must name one or both of {KB_STATUS_PATHS}, got {chosen!r}"
        )
    return chosen


def check_page_size(page_size: int | None) -> int | None:
    """Validate the ``page_size`` setting: None or a positive integer."""
    if page_size is None:
        return None
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be None or a positive integer, got {page_size!r}")
    return page_size


def check_validate_status(status: int) -> int:
    """Validate the ``validate_invalid_status`` setting (200, 400 or 422)."""
    if status not in VALIDATE_INVALID_STATUSES or isinstance(status, bool):
        raise ValueError(
            f"validate_invalid_status must be one of {VALIDATE_INVALID_STATUSES}, got {status!r}"
        )
    return status
