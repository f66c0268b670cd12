"""What the emulator remembers: sessions, saved agents, uploads, the request log, counters.

Also the public value types a test reads back: :class:`RecordedRequest`, :class:`Upload`,
:class:`StoredMessage` and :class:`SessionState` (and, from their own modules,
:class:`~.agents.RegisteredAgent` and :class:`~.library.StoredFile`). Saved agents live in an
:class:`~.agents.AgentStore`, files, collections and knowledge bases in a
:class:`~.library.Library`.
Handlers run on the server's event loop while the test scripts and reads from its own thread
(see :meth:`Emulator.run_in_thread`), so every access goes through :attr:`EmulatorState.lock`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from multidict import CIMultiDictProxy

from .agents import AgentLookup, AgentStore, RegisteredAgent, agent_key_for
from .bodies import config_hash
from .engine import ExecuteRequest, resolve_variables
from .errors import ApiError, not_found
from .library import Library, StoredFile
from .workflow import Workflow

__all__ = [
    "IDLE_AFTER_SECONDS",
    "AgentLookup",
    "EmulatorState",
    "RecordedRequest",
    "RegisteredAgent",
    "Session",
    "SessionState",
    "StoredFile",
    "StoredMessage",
    "Upload",
    "agent_key_for",
]

IDLE_AFTER_SECONDS: Final = 300.0
"""A session whose last activity is older than this reports status ``idle`` [OURS]."""

# --------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received, recorded before anything else happens to it.

    ``headers`` is case-insensitive (``headers["X-API-KEY"]`` works); ``query`` maps
    each parameter to its first value and ``query_items`` holds every (name, value) pair in
    order (``tags=a&tags=b``); ``body`` holds the raw bytes (truncated at the size cap for
    an oversized body). ``received_at`` is when it arrived, on :func:`time.time`'s clock
    (comparable across processes on one machine: rates and gaps seen by the server).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    query_items: tuple[tuple[str, str], ...] = ()
    received_at: float = 0.0

    def query_values(self, name: str) -> list[str]:
        """Every value of the query parameter ``name``, in order (empty if absent)."""
        return [value for key, value in self.query_items if key == name]

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises :class:`ValueError` if it is not JSON)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Upload:
    """An image received by ``POST /images/upload/``.

    ``id`` is the upload's id (the key of :attr:`Emulator.uploads`), ``filename`` the form's
    file name, ``media_type`` the image type it was stored as, ``data`` the exact bytes and
    ``url`` the URL the answer gave (served by the emulator under ``/media/``, without a key).
    """

    id: str
    filename: str
    media_type: str
    data: bytes
    url: str

    @property
    def size(self) -> int:
        """Size of the image in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class StoredMessage:
    """One message of a session's history.

    ``content`` is what the user sent (a string or the list of content parts) or the
    assistant's text; ``agent`` names the agent for assistant messages; ``timestamp`` is
    unix time in seconds.
    """

    id: str
    role: Literal["user", "assistant"]
    content: Any
    timestamp: float
    agent: str | None = None


@dataclass(frozen=True)
class SessionState:
    """A snapshot of one session, returned by :meth:`Emulator.session_state`.

    ``config`` is the config the session was created with, ``config_hash`` the hash its
    answers carry and ``agent_id`` the saved agent it came from (None for an inline config).
    ``history`` holds the stored messages (empty when ``save_messages`` is off);
    ``variables`` the persisted variable values; ``turns`` the executes run in this
    session; ``active_executes`` those running now; ``status`` what
    ``/runtime/{id}/status/`` would report. Times are unix seconds.
    """

    session_id: str
    config: Mapping[str, Any]
    config_hash: str
    agent_id: str | None
    created_at: float
    last_activity: float
    status: str
    history: tuple[StoredMessage, ...]
    variables: Mapping[str, Any]
    turns: int
    active_executes: int


# --------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------


@dataclass
class Session:
    """One session: its config and workflow, history, persisted variables and counters."""

    id: str
    config: dict[str, Any]
    workflow: Workflow
    config_hash: str
    agent_id: str | None
    created_at: float
    last_activity: float
    history: list[StoredMessage] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    turns: int = 0
    active: int = 0

    def status(self, now: float) -> str:
        """``processing`` while an execute runs, ``idle`` after :data:`IDLE_AFTER_SECONDS`."""
        if self.active > 0:
            return "processing"
        if now - self.last_activity > IDLE_AFTER_SECONDS:
            return "idle"
        return "active"


class EmulatorState:
    """Everything one :class:`Emulator` remembers, guarded by :attr:`lock`.

    The request log and counters are public attributes (:class:`Emulator` exposes them);
    sessions and saved agents are reached through the methods.
    """

    def __init__(self, lock: threading.RLock, *, processing_seconds: float) -> None:
        self.lock = lock
        """Held for every read and write (the fault script shares it)."""
        self.requests: list[RecordedRequest] = []
        self.uploads: dict[str, Upload] = {}
        self.executed_turns = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.agents = AgentStore(lock)
        """The saved agents."""
        self.library = Library(lock, processing_seconds)
        """Files, collections and knowledge bases."""
        self._sessions: dict[str, Session] = {}

    # ---------------------------------------------------------------- requests

    def record(self, request: RecordedRequest) -> None:
        """Append a request to the log."""
        with self.lock:
            self.requests.append(request)

    def enter(self) -> None:
        """Count a request that starts being handled."""
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        """Count a request that is done."""
        with self.lock:
            self.in_flight -= 1

    # ---------------------------------------------------------------- sessions and agents

    def add_session(
        self, config: dict[str, Any], workflow: Workflow, agent_id: str | None
    ) -> Session:
        """Create a session with a new UUID."""
        now = time.time()
        session = Session(
            id=str(uuid.uuid4()),
            config=config,
            workflow=workflow,
            config_hash=config_hash(config),
            agent_id=agent_id,
            created_at=now,
            last_activity=now,
        )
        with self.lock:
            self._sessions[session.id] = session
        return session

    def session(self, session_id: str) -> Session:
        """The session with this id; a 404 ``Session not found: <id>`` if there is none."""
        with self.lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise not_found(f"Session not found: {session_id}")
        return session

    def session_ids(self) -> list[str]:
        """Ids of all sessions, oldest first."""
        with self.lock:
            return list(self._sessions)

    def snapshot(self, session_id: str) -> SessionState:
        """A :class:`SessionState` copy (:class:`KeyError` for an unknown id)."""
        with self.lock:
            session = self._sessions[session_id]
            return SessionState(
                session_id=session.id,
                config=json.loads(json.dumps(session.config)),
                config_hash=session.config_hash,
                agent_id=session.agent_id,
                created_at=session.created_at,
                last_activity=session.last_activity,
                status=session.status(time.time()),
                history=tuple(session.history),
                variables=dict(session.variables),
                turns=session.turns,
                active_executes=session.active,
            )

    def find_agent(self, by: AgentLookup, value: str) -> RegisteredAgent:
        """The saved agent with this key or id; a 404 ``Agent not found`` if there is none."""
        return self.agents.find(by, value)

    def add_upload(self, upload: Upload) -> None:
        """Keep an uploaded image."""
        with self.lock:
            self.uploads[upload.id] = upload

    def find_upload(self, upload_id: str) -> Upload | None:
        """The upload with this id, if any."""
        with self.lock:
            return self.uploads.get(upload_id)

    # ---------------------------------------------------------------- turns

    def claim(self, session: Session, limit: int) -> None:
        """Start an execute in the session; a 409 when ``limit`` executes already run."""
        with self.lock:
            if session.active >= limit:
                raise ApiError(
                    409,
                    "conflict_error",
                    f"Session is busy: {session.id} already has {session.active} execution(s) "
                    f"in progress (limit {limit})",
                )
            session.active += 1

    def release(self, session: Session) -> None:
        """End an execute started with :meth:`claim`."""
        with self.lock:
            session.active -= 1
            session.last_activity = time.time()

    def begin_turn(self, session: Session, body: ExecuteRequest) -> tuple[dict[str, Any], float]:
        """Resolve the turn's variables, count the turn and store the user message.

        Returns the variable values and the start time. Raises the 400 of
        :func:`~.engine.resolve_variables` before anything is counted.
        """
        workflow = session.workflow
        with self.lock:
            persisted = session.variables if workflow.persistent_state else {}
            values, to_persist = resolve_variables(workflow, body.inputs, persisted)
            if workflow.persistent_state:
                session.variables.update(to_persist)
            started = time.time()
            self.executed_turns += 1
            session.turns += 1
            session.last_activity = started
            if workflow.save_messages:
                session.history.append(
                    StoredMessage(str(uuid.uuid4()), "user", body.content, started)
                )
        return values, started

    def save_replies(self, session: Session, messages: list[StoredMessage]) -> None:
        """Append the assistant messages of a turn to the history (with ``save_messages``)."""
        if session.workflow.save_messages:
            with self.lock:
                session.history.extend(messages)
