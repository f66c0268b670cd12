"""The HTTP endpoints: one handler per documented AMAS call, plus the uploaded-image URLs.

Handlers read the request body from ``request[BODY]`` (the pipeline has read it already),
raise :class:`~.errors.ApiError` for every error and return JSON answers. The rules they
follow are in ``docs/emulator.md``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import mimetypes
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from aiohttp import hdrs, web

from .bodies import canonical_json, iso, parse_body
from .engine import ExecuteRequest, parse_execute_body, run_turn
from .errors import ApiError, invalid, json_response, not_found
from .faults import EXECUTION_FAILURES, Faults
from .state import AgentLookup, EmulatorState, Session, StoredMessage, Upload
from .workflow import parse_config

API_PREFIX: Final = "/api/v1"
"""Path prefix of every API endpoint [DOC]."""
MAX_MESSAGES_LIMIT: Final = 100
"""Largest accepted ``limit`` of ``GET /runtime/{id}/messages/`` [OURS]."""

FROM_AGENT_ANSWERS: Final[dict[AgentLookup, tuple[str, ...]]] = {
    # GET /sessions/from-agent/?agent_key=K [DOC: the tutorial's shape]
    "agent_key": ("success", "session_id", "config_hash", "agent_id", "agent_name"),
    # POST /sessions/from-agent/{agent_id}/ [DOC: the API reference's shape]
    "agent_id": ("success", "session_id", "agent_id", "config_hash"),
}
"""The fields each from-agent call answers with, in the documented order."""

_T = TypeVar("_T")


def request_key(name: str, kind: type[_T]) -> web.RequestKey[_T]:
    """A typed key for per-request storage (``request[key]``).

    aiohttp < 3.14 has no ``web.RequestKey``; there a plain string key does the same job
    (and only 3.14+ warns about string keys).
    """
    factory = getattr(web, "RequestKey", None)
    if factory is None:
        return name  # type: ignore[return-value]
    key: web.RequestKey[_T] = factory(name, kind)
    return key


BODY: Final = request_key("amas_emulator.body", bytes)
"""The request body, read (and capped) by the pipeline before any handler runs."""

Sleep = Callable[[float], Awaitable[None]]
"""``await sleep(seconds)``: a sleep that ends early when the server stops."""


class Routes:
    """The endpoints of one :class:`Emulator`; :meth:`table` lists them for the router."""

    def __init__(
        self,
        state: EmulatorState,
        faults: Faults,
        *,
        session_concurrency: int,
        max_upload_bytes: int,
        origin: Callable[[], str],
        sleep: Sleep,
    ) -> None:
        self._state = state
        self._faults = faults
        self._session_concurrency = session_concurrency
        self._max_upload_bytes = max_upload_bytes
        self._origin = origin
        self._sleep = sleep

    def table(self) -> list[web.RouteDef]:
        """Every route: ``/api/v1`` paths end with ``/`` [DOC]; media URLs need no key."""
        api = API_PREFIX
        return [
            web.post(f"{api}/sessions/", self.create_session),
            web.get(f"{api}/sessions/from-agent/", self.from_agent),
            web.post(f"{api}/sessions/from-agent/{{agent_id}}/", self.from_agent),
            web.get(f"{api}/sessions/{{session_id}}/", self.get_session),
            web.post(f"{api}/runtime/{{session_id}}/execute/", self.execute),
            web.get(f"{api}/runtime/{{session_id}}/messages/", self.messages),
            web.get(f"{api}/runtime/{{session_id}}/status/", self.status),
            web.post(f"{api}/images/upload/", self.upload_image),
            web.get("/media/images/{upload_id}/{filename}", self.media),
        ]

    # ---------------------------------------------------------------- sessions

    async def create_session(self, request: web.Request) -> web.Response:
        """``POST /sessions/``: validate the config, answer ``{success, session_id, ...}``."""
        config = parse_body(request[BODY], request.content_type)
        session = self._state.add_session(config, parse_config(config), agent_id=None)
        return json_response(
            {"success": True, "session_id": session.id, "config_hash": session.config_hash}
        )

    async def get_session(self, request: web.Request) -> web.Response:
        """``GET /sessions/{id}/``: the config as sent, with hash and creation time."""
        session = self._state.session(request.match_info["session_id"])
        return json_response(
            {
                "session_id": session.id,
                "config_hash": session.config_hash,
                "created_at": iso(session.created_at),
                "status": "active",
                "agent_config": session.config,
            }
        )

    async def from_agent(self, request: web.Request) -> web.Response:
        """Start a session from a saved agent, by key or by id.

        ``GET /sessions/from-agent/?agent_key=K`` (400 without a key) and
        ``POST /sessions/from-agent/{agent_id}/``; 404 for an unknown agent. Each answers
        the fields :data:`FROM_AGENT_ANSWERS` lists for it.
        """
        by: AgentLookup
        agent_id = request.match_info.get("agent_id")
        if agent_id is not None:
            by, value = "agent_id", agent_id
        else:
            by, value = "agent_key", request.query.get("agent_key", "").strip()
            if not value:
                raise invalid("Query parameter 'agent_key' is required", "agent_key")
        agent = self._state.find_agent(by, value)
        config: dict[str, Any] = json.loads(canonical_json(agent.config))
        session = self._state.add_session(config, parse_config(config), agent_id=agent.id)
        fields = {
            "success": True,
            "session_id": session.id,
            "config_hash": session.config_hash,
            "agent_id": agent.id,
            "agent_name": agent.name,
        }
        return json_response({name: fields[name] for name in FROM_AGENT_ANSWERS[by]})

    # ---------------------------------------------------------------- runtime

    async def execute(self, request: web.Request) -> web.Response:
        """``POST /runtime/{id}/execute/``: run one turn (409 when the session is busy)."""
        session = self._state.session(request.match_info["session_id"])
        body = parse_execute_body(parse_body(request[BODY], request.content_type))
        self._state.claim(session, self._session_concurrency)
        try:
            return await self._run_turn(session, body)
        finally:
            self._state.release(session)

    async def _run_turn(self, session: Session, body: ExecuteRequest) -> web.Response:
        values, started = self._state.begin_turn(session, body)
        failure = self._faults.take_execution_failure()
        clock = time.monotonic()

        await self._sleep(self._faults.turn_delay)

        metadata: dict[str, Any] = {
            "correlation_id": body.correlation_id,
            "event_count": 2,
            "execution_id": str(uuid.uuid4()),
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        messages: list[dict[str, Any]] = []
        if failure is not None:
            error_type, error_message = EXECUTION_FAILURES[failure]
            metadata["error"] = {"type": error_type, "message": error_message}
            status = failure
        else:
            result = run_turn(session.workflow, body.user_input, values)
            now = time.time()
            stored: list[StoredMessage] = []
            for step in result.steps:
                message = StoredMessage(str(uuid.uuid4()), "assistant", step.text, now, step.agent)
                stored.append(message)
                messages.append(
                    {
                        "id": message.id,
                        "role": "assistant",
                        "content": step.text,
                        "created_at": int(now),
                        "agent": step.agent,
                    }
                )
            self._state.save_replies(session, stored)
            metadata["event_count"] = len(result.steps) + 2
            metadata["usage"] = {
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
            }
            status = "completed"
        completed = time.time()
        return json_response(
            {
                "id": session.id,
                "object": "agent.session",
                "status": status,
                "created_at": int(started),
                "completed_at": int(completed),
                "config": {},
                "messages": messages,
                "execution_time": round(time.monotonic() - clock, 6),
                "metadata": metadata,
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        """``GET /runtime/{id}/messages/?limit&offset``: one page of history, oldest first."""
        session = self._state.session(request.match_info["session_id"])
        limit = int_query(request, "limit", 50, 1, MAX_MESSAGES_LIMIT)
        offset = int_query(request, "offset", 0, 0, 2**62)
        with self._state.lock:
            history = list(session.history)
        page = history[offset : offset + limit]
        return json_response(
            {
                "messages": [
                    {
                        "id": m.id,
                        "role": m.role,
                        "content": m.content,
                        "timestamp": iso(m.timestamp),
                    }
                    for m in page
                ],
                "total": len(history),
                "has_more": offset + len(page) < len(history),
            }
        )

    async def status(self, request: web.Request) -> web.Response:
        """``GET /runtime/{id}/status/``: processing, idle or active, and the counts."""
        session = self._state.session(request.match_info["session_id"])
        with self._state.lock:
            data = {
                "session_id": session.id,
                "status": session.status(time.time()),
                "message_count": len(session.history),
                "last_activity": iso(session.last_activity),
                "created_at": iso(session.created_at),
                "health": "healthy",
            }
        return json_response(data)

    # ---------------------------------------------------------------- images

    async def upload_image(self, request: web.Request) -> web.Response:
        """``POST /images/upload/``: keep the ``image`` part, answer its URL, type and size."""
        if request.content_type != "multipart/form-data":
            raise invalid("Expected a multipart/form-data body with an 'image' file field", "image")
        found = image_part(request.headers.get(hdrs.CONTENT_TYPE, ""), request[BODY])
        if found is None:
            raise invalid("The multipart field 'image' is required", "image")
        raw_name, part_type, data = found
        if len(data) > self._max_upload_bytes:
            raise ApiError(
                413,
                "invalid_request_error",
                f"Image exceeds the maximum upload size of {self._max_upload_bytes} bytes",
                field="image",
            )
        if not data:
            raise invalid("The uploaded image is empty", "image")
        header_type = (part_type or "").split(";", 1)[0].strip().lower()
        filename = clean_filename(raw_name, header_type)
        media_type = guess_media_type(header_type, filename)
        if media_type is None or not media_type.startswith("image/"):
            raise invalid(
                f"Unsupported media type {media_type or 'unknown'!s}: only image/* uploads "
                "are accepted",
                "image",
            )
        upload_id = str(uuid.uuid4())
        url = f"{self._origin()}/media/images/{upload_id}/{urllib.parse.quote(filename)}"
        self._state.add_upload(Upload(upload_id, filename, media_type, data, url))
        return json_response({"url": url, "media_type": media_type, "size": len(data)})

    async def media(self, request: web.Request) -> web.Response:
        """``GET /media/images/{id}/{filename}``: the uploaded bytes (no key needed)."""
        upload = self._state.find_upload(request.match_info["upload_id"])
        if upload is None or upload.filename != request.match_info["filename"]:
            raise not_found(f"Not found: {request.path}")
        return web.Response(body=upload.data, content_type=upload.media_type)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in ``low..high`` (400 naming the parameter otherwise)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise invalid(f"'{name}' must be an integer, got {raw!r}", name) from None
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low} and {high}, got {value}", name)
    return value


def clean_filename(filename: str | None, media_type: str | None, stem: str = "image") -> str:
    """Percent-decode an upload's filename and strip directories (``<stem>.<ext>`` if none)."""
    name = urllib.parse.unquote(filename or "")
    name = re.split(r"[\\/]", name)[-1].strip()
    if name in ("", ".", ".."):
        ext = mimetypes.guess_extension(media_type or "") or ""
        name = f"{stem}{ext}"
    return name


def guess_media_type(header: str, filename: str) -> str | None:
    """The part's Content-Type, or (when absent or octet-stream) a guess from the filename."""
    media = header
    if media in ("", "application/octet-stream"):
        media = (mimetypes.guess_type(filename)[0] or "").lower()
    return media or None


@dataclass(frozen=True)
class FormPart:
    """One field of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        """The value as UTF-8 text (invalid bytes replaced)."""
        return self.data.decode("utf-8", "replace")


def form_parts(content_type: str, body: bytes, field: str) -> list[FormPart]:
    """Every field of a multipart body, in order; a 400 naming ``field`` if it is malformed.

    Parsed with the standard library's MIME parser (a public, stable API).
    """
    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
    except (UnicodeEncodeError, ValueError) as exc:
        raise invalid(f"Malformed multipart body: {exc}", field) from None
    if not message.is_multipart():
        raise invalid("Malformed multipart body: no parts", field)
    parts: list[FormPart] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        parts.append(FormPart(name, part.get_filename(), part.get("Content-Type"), data))
    return parts


def image_part(content_type: str, body: bytes) -> tuple[str | None, str | None, bytes] | None:
    """(filename, Content-Type, bytes) of the first multipart field named ``image``, or None.

    A body that is not multipart at all is a 400.
    """
    for part in form_parts(content_type, body, "image"):
        if part.name == "image":
            return part.filename, part.content_type, part.data
    return None
