"""``client.sessions`` and the :class:`Session` handle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from .. import _readers, _serde
from .._validation import path_segment
from ..errors import InvalidRequestError
from ..models import Content, Execution, Message, MessagePage, SessionStatus
from ._base import AsyncResource, Client
from ._config_body import ConfigTypes, config_body
from .runtime import AsyncRuntime, check_idempotency_key


class Session:
    """A handle on one AMAS session: its id, what the API said about it, and its calls.

    ``client.session(id)`` makes one without a request; ``sessions.create``, ``from_agent``
    and ``get`` fill in what the server answered (``raw`` keeps the whole body; a field the
    answer lacks is None). ``state`` is the ``status`` string of ``GET /sessions/{id}/``
    (``"active"``); :meth:`status` fetches the runtime status. Two handles are equal when they
    name the same session on the same client.
    """

    __slots__ = (
        "_client",
        "_runtime",
        "agent_config",
        "agent_id",
        "agent_key",
        "agent_name",
        "config_hash",
        "created_at",
        "id",
        "raw",
        "state",
    )

    def __init__(
        self,
        client: Client,
        id: str,
        *,
        config_hash: str | None = None,
        agent_id: str | None = None,
        agent_name: str | None = None,
        agent_key: str | None = None,
        created_at: datetime | None = None,
        state: str | None = None,
        agent_config: Mapping[str, Any] | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._runtime = AsyncRuntime(client)
        self.id = id
        """The session id."""
        self.config_hash = config_hash
        """The config hash the API gave, if any."""
        self.agent_id = agent_id
        """The saved agent's id, for sessions made from one."""
        self.agent_name = agent_name
        """The saved agent's name, for sessions made from one."""
        self.agent_key = agent_key
        """The saved agent's key, where the API gave it."""
        self.created_at = created_at
        """When the session was created (timezone-aware), where the API said."""
        self.state = state
        """The ``status`` string of ``GET /sessions/{id}/`` (``"active"``), if the API gave it."""
        self.agent_config = agent_config
        """The session's config, as ``GET /sessions/{id}/`` returned it."""
        self.raw: Mapping[str, Any] = raw if raw is not None else {}
        """The body the API answered with (empty for a handle made by ``client.session``)."""

    def __repr__(self) -> str:
        extra = f", config_hash={self.config_hash!r}" if self.config_hash else ""
        return f"Session(id={self.id!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and other.id == self.id and other._client is self._client

    def __hash__(self) -> int:
        return hash(self.id)

    async def execute(
        self,
        content: Content,
        *,
        inputs: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Send a message in this session and wait for the run to finish.

        The arguments, the :class:`Execution` returned and the errors raised are those of
        :meth:`AsyncRuntime.execute`; an ``error`` or ``timeout`` run raises
        :class:`ExecutionError`.
        """
        return await self._runtime.execute(
            self.id,
            content,
            inputs=inputs,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )

    async def messages(self, limit: int = 50, offset: int = 0) -> MessagePage:
        """One page of this session's history, oldest first: a :class:`MessagePage`.

        At most ``limit`` messages (default 50) from ``offset`` (default 0); the page's
        ``next_offset`` is where the next one starts. The server keeps history only when the
        config sets ``save_messages``. See :meth:`AsyncRuntime.messages`.
        """
        return await self._runtime.messages(self.id, limit=limit, offset=offset)

    def iter_messages(self, *, page_size: int = 50, offset: int = 0) -> AsyncIterator[Message]:
        """Every message of this session's history from ``offset``, oldest first.

        Use it with ``async for``; pages of ``page_size`` messages are fetched as the loop
        needs them. See :meth:`AsyncRuntime.iter_messages`.
        """
        return self._runtime.iter_messages(self.id, page_size=page_size, offset=offset)

    async def status(self) -> SessionStatus:
        """The runtime status of this session (``GET /runtime/{id}/status/``).

        A :class:`SessionStatus`; its ``status`` is ``active``, ``processing``, ``idle`` or
        ``error`` per the docs.
        """
        return await self._runtime.status(self.id)

    async def refresh(self) -> Session:
        """A new handle with what ``GET /sessions/{id}/`` says now; this one is not changed.

        Raises :class:`NotFoundError` when the session no longer exists.
        """
        return await AsyncSessions(self._client).get(self.id)


class AsyncSessions(AsyncResource):
    """Session creation and lookup (``/sessions/...``)."""

    __slots__ = ()

    async def _session(self, method: str, path: str, **kwargs: Any) -> Session:
        fields = await self._client._request(method, path, parse=parse_session_fields, **kwargs)
        return Session(self._client, **fields)

    async def create(self, config: ConfigTypes, *, idempotency_key: str | None = None) -> Session:
        """Create a session from a config.

        ``config`` is a :class:`SessionConfig`, a mapping in the wire shape (sent as given),
        YAML text, or a path to a YAML or JSON file (sent as written, YAML as
        ``application/yaml``). Both documented forms are accepted: multi-agent (``agents``,
        ``edges``, ``entry_point``) and flat single-agent (``agent_type`` at the top). A
        config that cannot be valid raises :class:`ConfigValidationError` before any request,
        and a missing file :class:`InputFileNotFoundError`. ``idempotency_key`` replaces the
        key the SDK makes for the call: a server that honours keys answers a repeat with the
        session it made the first time (a re-run then reuses it).

        Returns a :class:`Session` holding the new id and ``config_hash``.
        """
        content, content_type = config_body(config)
        return await self._session(
            "POST",
            "/sessions/",
            content=content,
            content_type=content_type,
            idempotency_key=check_idempotency_key(idempotency_key),
        )

    async def from_agent(
        self,
        agent_key: str | None = None,
        *,
        agent_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Create a session from a saved agent's deployed version.

        By key: ``GET /sessions/from-agent/?agent_key=...`` (the tutorial's form). By id:
        ``from_agent(agent_id=...)`` sends ``POST /sessions/from-agent/{agent_id}/`` (the API
        reference's form). Give exactly one (both or neither raise
        :class:`InvalidRequestError`). ``idempotency_key`` goes with the POST form only (a GET
        carries none): give ``agent_id`` with it.

        Returns a :class:`Session`; both documented answer shapes are read, so ``agent_id``,
        ``agent_name``, ``agent_key`` and ``created_at`` are filled where the answer has them.
        An unknown agent raises :class:`NotFoundError`.
        """
        if (agent_key is None) == (agent_id is None):
            raise InvalidRequestError("give exactly one of agent_key or agent_id")
        if idempotency_key is not None and agent_id is None:
            raise InvalidRequestError(
                "idempotency_key needs agent_id: the agent_key form is a GET, which carries no key"
            )
        if agent_id is not None:
            path = f"/sessions/from-agent/{path_segment(agent_id, 'agent_id')}/"
            return await self._session(
                "POST", path, idempotency_key=check_idempotency_key(idempotency_key)
            )
        if not isinstance(agent_key, str) or not agent_key.strip():
            raise InvalidRequestError("agent_key must be a non-empty str")
        return await self._session("GET", "/sessions/from-agent/", params={"agent_key": agent_key})

    async def get(self, session_id: str) -> Session:
        """A session's details: config hash, creation time, status and agent config.

        Returns a :class:`Session` (``state`` holds the answer's ``status``); an unknown id
        raises :class:`NotFoundError`.
        """
        path = f"/sessions/{path_segment(session_id, 'session_id')}/"
        return await self._session("GET", path)


# ---- the wire: the config body sent, the session answer read ------------------------------------


@attrs.frozen(kw_only=True)
class _SessionFields(_readers.Record):
    """What a session answer says: the keyword arguments of :class:`Session` but the client."""

    id: str
    config_hash: str | None
    agent_id: str | None
    agent_name: str | None
    agent_key: str | None
    created_at: datetime | None
    state: str | None
    agent_config: Mapping[str, Any] | None
    raw: Mapping[str, Any]


_read_session = _readers.reader(_SessionFields, "session")


def parse_session_fields(body: Any) -> dict[str, Any]:
    """The handle fields of a session answer (create, get, both from-agent shapes)."""
    if not isinstance(body, Mapping):
        raise _serde.invalid_answer("session", body)
    if body.get("success") is False:
        raise _serde.invalid_answer("session", body, "it says success: false")
    session_id = body.get("session_id", body.get("id"))
    if not isinstance(session_id, str) or not session_id:
        raise _serde.invalid_answer("session", body, "no 'session_id' string")
    agent_config = body.get("agent_config")
    fields = {
        "id": session_id,
        "config_hash": body.get("config_hash"),
        "agent_id": body.get("agent_id"),
        "agent_name": body.get("agent_name"),
        "agent_key": body.get("agent_key"),
        "created_at": body.get("created_at"),
        "state": body.get("status"),
        "agent_config": agent_config if isinstance(agent_config, Mapping) else None,
        "raw": body,
    }
    return attrs.asdict(_read_session(fields, body), recurse=False)
