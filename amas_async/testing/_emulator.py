"""A local, deterministic emulator of the Atthene AMAS REST API, for tests.

:class:`Emulator` is an :mod:`aiohttp.web` server that answers the documented AMAS
endpoints with the documented JSON shapes, runs "agents" deterministically (there is no
LLM), and lets a test script failures: injected HTTP errors, dropped connections, slow
answers, rate limiting, raw scripted answers and failed runs. It never imports the SDK.

Legend: **[DOC]** is documented AMAS behaviour (see the project's API notes);
**[OURS]** is a choice made by the emulator where the docs are silent or vague. Tests
that rely on an [OURS] rule test the emulator, not AMAS.

Usage::

    async with Emulator() as emu:               # binds 127.0.0.1 on an ephemeral port
        emu.base_url                            # "http://127.0.0.1:<port>/api/v1"
        emu.api_key                             # "amas-test-key"

    with Emulator().run_in_thread() as emu:     # for synchronous code: own loop + thread
        ...

``python -m amas_async.testing`` serves an emulator from the command line.

Transport
---------
* [DOC] Every API path is under ``/api/v1`` and ends with ``/``. [OURS] A path without
  the trailing slash is a 404 (the message says so); unknown paths answer 404
  ``not_found_error``; a known path with the wrong method answers 405
  ``method_not_allowed_error`` with an ``Allow`` header. All errors use the documented
  body ``{"error": {"type": ..., "message": ...}}``; [OURS] validation errors add
  ``"field"`` (a dotted path such as ``agents.0.agent_type`` or ``inputs.user_id``).
* [DOC] Every ``/api/v1`` call needs the header ``x-api-key``; a missing or wrong key
  answers 401 ``{"error": {"type": "authentication_error", "message": "Invalid or
  missing authentication credentials"}}``. The uploaded-image URLs under ``/media/`` need
  no key.
* [DOC] POST bodies may be JSON or YAML (``application/yaml``; [OURS] also
  ``application/x-yaml``, ``text/yaml`` and ``text/x-yaml``); any other content type is
  parsed as JSON. Bad JSON/YAML, an empty body or invalid UTF-8 answer 400
  ``invalid_request_error``.
* [DOC] Successful answers are JSON. [OURS] They use status 200 (the docs show none,
  even for creation).
* [OURS] Request bodies are read in 64 KiB chunks up to ``max_upload_bytes`` + 1 MiB;
  a bigger body answers 413 ``invalid_request_error`` (the recorded body is truncated).
* Order of processing for every request: record it (:attr:`Emulator.requests`), count
  it in :attr:`Emulator.in_flight`, sleep the latency, apply the first matching scripted
  rule (:meth:`Emulator.fail_next` / :meth:`Emulator.respond_next`), then, for
  ``/api/v1`` paths only, the random fault (:meth:`Emulator.set_fault_rate`), the API key
  check and the rate limit (:meth:`Emulator.set_rate_limit`), then the 413 size check,
  idempotency, and finally the endpoint.

Sessions
--------
* ``POST /sessions/`` [DOC] takes a configuration in either documented form: multi-agent
  (``name, description, save_messages, persistent_state, variables, agents[], edges[],
  entry_point``) or flat single-agent (``name, agent_type, system_prompt, llm_config,
  tools``; chosen when there is no ``agents`` key but an ``agent_type``). It answers
  ``{"success": true, "session_id": <uuid>, "config_hash": "object:<hex>:u:anon"}``.
  [OURS] The hex is the SHA-256 of the canonical JSON (sorted keys, no whitespace) of
  the config. Validation (400 naming the field) covers: a non-object body, a missing
  ``name``, no agents, an agent without a name, duplicate or reserved
  (``__start__``/``__end__``) agent names, an ``agent_type`` other than [DOC]
  ``llm_agent``/``react_agent``/``supervisor``, an ``entry_point`` that is not an agent,
  edges from/to unknown nodes (including ``routing`` and ``possible_outputs`` targets),
  unknown ``supervised_agents``, non-boolean ``save_messages``/``persistent_state``, a
  non-positive ``recursion_limit`` and malformed ``variables``. [OURS] Everything else
  (llm_config, tools, knowledge bases, ...) is accepted unchecked. [OURS]
  ``save_messages`` and ``persistent_state`` default to true when absent.
* ``GET /sessions/{id}/`` [DOC] ``{session_id, config_hash, created_at, status:
  "active", agent_config}`` where ``agent_config`` is the config as sent (as JSON:
  YAML-only types become strings, the YAML key ``yes`` becomes ``"true"``). Unknown id:
  404 ``not_found_error`` "Session not found: <id>".
* ``GET /sessions/from-agent/?agent_key=K`` [DOC, tutorial shape] ``{success,
  session_id, config_hash, agent_id, agent_name}``; ``POST
  /sessions/from-agent/{agent_id}/`` [DOC] ``{success, session_id, agent_id,
  config_hash}``. Agents exist only through :meth:`Emulator.register_agent`. [OURS] A
  missing ``agent_key`` is 400 (field ``agent_key``); an unknown key or id is 404.

Execution (``POST /runtime/{id}/execute/``)
-------------------------------------------
* [DOC] Body ``{content, inputs?, correlation_id?}``; ``content`` is a string or a list
  of parts ``{"type": "text", "text"}``, ``{"type": "image_url", "image_url": {"url"}}``,
  ``{"type": "file", "file_url"}``. [OURS] Empty content, unknown part types and badly
  shaped parts are 400 naming the field (``content.1.image_url.url``).
* [DOC] The answer is the "agent.session" object: ``id`` (the session id), ``object``,
  ``status: "completed"``, ``created_at``/``completed_at`` (unix seconds), ``config:
  {}``, ``messages`` (only the new assistant messages of this turn: ``{id, role:
  "assistant", content, created_at}``; [OURS] plus ``agent``, the agent's name),
  ``execution_time`` (seconds) and ``metadata: {correlation_id (echoed or null),
  event_count, execution_id, usage: {input_tokens, output_tokens}}``.
* [OURS] Agents are deterministic. The run follows the workflow from ``__start__``: from
  each node the first unconditional edge; a conditional edge is never evaluated: a
  boolean (``routing``) edge takes its ``yes`` target, a literal (``possible_outputs``)
  edge its first output. Without an edge out of ``__start__`` the run starts at
  ``entry_point`` (default: the first agent). A node without outgoing edges ends the
  run, and so does reaching ``recursion_limit`` (default 25) agent steps (the run is
  cut short and still completes). A supervisor is followed by each of its
  ``supervised_agents`` once. The flat form is one agent.
* [OURS] Each agent on the path adds one assistant message with the text
  ``[{agent_name}] {rendered_system_prompt} | {user_input}``. The system prompt is
  ``prompt_config.system_prompt`` or ``system_prompt`` (empty if none); ``{{
  variables.NAME }}``, ``{{ user_input }}`` and ``{{ AGENT.output }}`` (that agent's text
  earlier in this run) are substituted, whitespace inside the braces is optional, and
  unknown placeholders stay as written. Non-string variable values are rendered as JSON.
  ``user_input`` is a string content as is, or the text parts joined by one space
  followed by `` [image: URL]`` / `` [file: URL]`` per media part in order (a base64
  ``data:`` URL shows as ``data:<media type>;base64 (<N> bytes)``).
* [OURS] Usage: ``input_tokens`` = sum over the agents on the path of the words
  (whitespace-separated) in the rendered prompt plus the words in ``user_input``;
  ``output_tokens`` = words in the produced message texts. ``event_count`` = number of
  agent steps + 2. ``execution_time`` is the measured wall time of the turn.
* Variables [DOC]: a ``required`` (default true) variable without a default must be in
  ``inputs`` on the first execution, else 400 ``invalid_request_error`` with field
  ``inputs.<name>`` ([OURS] the error shape); with ``persistent_state`` the value
  persists and later calls may send ``inputs: {}`` or no ``inputs``.
  ``require_every_execution`` variables must be in every call's ``inputs`` (400
  otherwise) and are never persisted. Defaults apply when a value is not given (a
  ``default: null`` counts as no default; string defaults are rendered as templates, so
  ``{{ variables.other }}`` works). [OURS]
  With ``persistent_state: false`` nothing persists, so required variables must be sent
  on every call; input keys that are not configured variables are ignored; a later
  call's value replaces the persisted one.
* History [DOC]: with ``save_messages`` the user message (content as sent: a string, or
  the list of parts) and every assistant message are stored for ``/messages/``.
* Idempotency [OURS; the docs have none]: a POST to ``/api/v1`` with an
  ``Idempotency-Key`` header that repeats a key already used on the same path gets the
  first answer again (same status and body) with ``Idempotent-Replayed: true`` and
  nothing runs again; if the first request is still running the repeat waits for it.
  Keys are scoped per path. Answers with status 409 or >= 500 are not stored (a retry
  runs normally), nor are answers produced before the endpoint (injected faults, 401,
  429).
* Concurrency [DOC: "Limited per session"; OURS: the limit and the answer]: at most
  ``session_concurrency`` (default 1) executes run at once per session; one more answers
  409 ``{"error": {"type": "conflict_error", "message": "Session is busy: ..."}}``.
* :meth:`Emulator.fail_execution_next` [DOC: CONNECT lists run statuses ``error`` and
  ``timeout``; OURS: they come back as HTTP 200]: the turn runs (it counts in
  :attr:`Emulator.executed_turns` and the user message is stored) but reports that
  status with ``messages: []``, zero usage and ``metadata.error: {type, message}``.

Runtime reads
-------------
* ``GET /runtime/{id}/messages/?limit=50&offset=0`` [DOC] ``{messages: [{id, role,
  content, timestamp}], total, has_more}``, oldest first. [OURS] ``limit`` must be
  1..100 and ``offset`` >= 0; anything else (or a non-integer) is 400 naming the
  parameter.
* ``GET /runtime/{id}/status/`` [DOC] ``{session_id, status, message_count,
  last_activity, created_at, health: "healthy"}``. [OURS] ``status`` is "processing"
  while an execute runs in the session, "idle" when the last activity is more than
  :data:`IDLE_AFTER_SECONDS` ago, else "active".
* [OURS] Timestamps in ISO form are UTC with a ``Z`` and whole seconds, like the docs.

Images
------
* ``POST /images/upload/`` [DOC] multipart field ``image``; answers ``{url, media_type,
  size}``. [OURS] The media type is the part's Content-Type, or (when absent or
  ``application/octet-stream``) guessed from the filename; only ``image/*`` is accepted
  (400 otherwise, field ``image``), as are a missing part or an empty file. The image is
  read in chunks; more than ``max_upload_bytes`` (default :data:`MAX_UPLOAD_BYTES`,
  20 MiB) is 413. Percent-escapes in the filename are decoded (aiohttp's client encodes
  them) and directories are stripped. The ``url`` is
  ``http://<host>:<port>/media/images/<upload id>/<filename>``, served back without a key
  with the exact bytes and media type; uploads are kept in :attr:`Emulator.uploads`.

Faults and scripting ([OURS] throughout)
----------------------------------------
See :meth:`Emulator.fail_next`, :meth:`Emulator.respond_next`,
:meth:`Emulator.fail_execution_next`, :meth:`Emulator.set_latency`,
:meth:`Emulator.set_fault_rate`, :meth:`Emulator.set_rate_limit` and
:meth:`Emulator.reset_faults`. Injected error bodies use the documented shape with
``type`` by status: 400/422 ``invalid_request_error``, 401 ``authentication_error``, 403
``permission_error``, 404 ``not_found_error``, 409 ``conflict_error``, 429
``rate_limit_error``, other 4xx ``invalid_request_error``, 5xx ``api_error``. The rate
limit answers 429 ``{"error": {"type": "rate_limit_error", "message": "Too many
requests"}}`` [DOC: the message] with ``Retry-After`` in whole seconds (at least 1)
[OURS: the docs mention no header].

Two knobs beyond fault injection: ``turn_delay`` (:meth:`Emulator.set_turn_delay`) makes
every execute hold its session for that long, so "processing" and 409 are observable;
``max_upload_bytes`` lowers the upload cap so 413 is cheap to test.

All scripting methods may be called from any thread, also while the server runs in
:meth:`Emulator.run_in_thread`.

Observation
-----------
:attr:`Emulator.requests` (every request as a :class:`RecordedRequest`, in arrival order),
:attr:`Emulator.uploads` (:class:`Upload` by id), :attr:`Emulator.executed_turns`,
:attr:`Emulator.in_flight` / :attr:`Emulator.peak_in_flight`,
:meth:`Emulator.session_state` (a :class:`SessionState` snapshot: config, history as
:class:`StoredMessage` items, persisted variables, turns, status) and
:attr:`Emulator.session_ids`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import email.parser
import email.policy
import hmac
import http
import json
import logging
import math
import mimetypes
import random
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Final, Literal

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from ._engine import (
    ApiError,
    ExecuteRequest,
    Workflow,
    canonical_json,
    config_hash,
    invalid,
    parse_body,
    parse_config,
    parse_execute_body,
    resolve_variables,
    run_turn,
    to_jsonable,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_API_KEY",
    "IDLE_AFTER_SECONDS",
    "MAX_MESSAGES_LIMIT",
    "MAX_UPLOAD_BYTES",
    "Emulator",
    "RecordedRequest",
    "RegisteredAgent",
    "SessionState",
    "StoredMessage",
    "Upload",
]

logger = logging.getLogger("amas_async.testing")

API_PREFIX: Final = "/api/v1"
"""Path prefix of every API endpoint [DOC]."""
DEFAULT_API_KEY: Final = "amas-test-key"
"""The API key an :class:`Emulator` accepts unless told otherwise."""
MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
"""Default largest accepted image upload (20 MiB) [OURS]; bigger uploads answer 413."""
MAX_MESSAGES_LIMIT: Final = 100
"""Largest accepted ``limit`` of ``GET /runtime/{id}/messages/`` [OURS]."""
IDLE_AFTER_SECONDS: Final = 300.0
"""A session whose last activity is older than this reports status ``idle`` [OURS]."""

_CHUNK = 64 * 1024
_REQUEST_BODY: contextvars.ContextVar[bytes] = contextvars.ContextVar("amas_emulator_body")
_IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_REPLAY_HEADER: Final = "Idempotent-Replayed"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_EXECUTION_FAILURES: Final = {
    "error": ("execution_error", "The agent execution failed (injected by the emulator)"),
    "timeout": ("timeout_error", "The agent execution timed out (injected by the emulator)"),
}

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received, recorded before anything else happens to it.

    ``headers`` is case-insensitive (``headers["X-API-KEY"]`` works); ``query`` maps
    each parameter to its first value; ``body`` holds the raw bytes (truncated at the
    size cap for an oversized body).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises :class:`ValueError` if it is not JSON)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class RegisteredAgent:
    """A saved agent that ``/sessions/from-agent/`` endpoints can start sessions from."""

    id: str
    key: str
    name: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Upload:
    """An image received by ``POST /images/upload/``."""

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
class _Session:
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
        if self.active > 0:
            return "processing"
        if now - self.last_activity > IDLE_AFTER_SECONDS:
            return "idle"
        return "active"


@dataclass
class _Rule:
    remaining: int
    path: str | None
    method: str | None
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    error: bool = True
    drop: bool = False
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path in path


@dataclass(frozen=True)
class _Stored:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]

    def replay(self) -> web.Response:
        headers = CIMultiDict(self.headers)
        headers[_REPLAY_HEADER] = "true"
        return web.Response(status=self.status, body=self.body, headers=headers)


@dataclass
class _Bucket:
    rate: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take one token; return None on success or the seconds until one is available."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def _error_type(status: int) -> str:
    return {
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        409: "conflict_error",
        429: "rate_limit_error",
    }.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _error_message(status: int) -> str:
    if status == 401:
        return "Invalid or missing authentication credentials"
    if status == 429:
        return "Too many requests"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _error_response(error: ApiError) -> web.Response:
    return _json_response(error.body(), status=error.status, headers=error.headers)


def _format_retry_after(value: str | float | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"retry_after must be a non-negative number or a string: {value!r}")
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def _check_status(status: int) -> int:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status code, got {status!r}")
    return status


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    return count


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
    return float(value)


def _agent_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _clean_filename(filename: str | None, media_type: str | None) -> str:
    name = urllib.parse.unquote(filename or "")
    name = re.split(r"[\\/]", name)[-1].strip()
    if name in ("", ".", ".."):
        ext = mimetypes.guess_extension(media_type or "") or ""
        name = f"image{ext}"
    return name


def _media_type(header: str, filename: str) -> str | None:
    media = header
    if media in ("", "application/octet-stream"):
        media = (mimetypes.guess_type(filename)[0] or "").lower()
    return media or None


# --------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------


class Emulator:
    """An in-process AMAS API server for tests; see the module docstring for every rule.

    Args:
        api_key: The only key accepted in ``x-api-key``.
        host: Interface to bind.
        port: Port to bind; 0 picks a free ephemeral port (see :attr:`port`).
        latency: Seconds to wait before handling every request.
        fault_rate: Probability (0..1) that an ``/api/v1`` request fails with a random
            status out of ``fault_statuses``.
        seed: Seed of the random-fault generator (same seed and requests, same faults).
        fault_statuses: Statuses random faults pick from.
        rate_limit: Token-bucket refill rate in requests per second (None: no limit).
        rate_burst: Token-bucket size.
        session_concurrency: Executes allowed to run at once in one session.
        turn_delay: Seconds every execute spends "thinking" while it holds the session
            (makes concurrent and "processing" states observable).
        max_upload_bytes: Largest accepted image upload.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        seed: int | None = None,
        fault_statuses: Sequence[int] = (500, 502, 503),
        rate_limit: float | None = None,
        rate_burst: int = 10,
        session_concurrency: int = 1,
        turn_delay: float = 0.0,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        if session_concurrency < 1:
            raise ValueError("session_concurrency must be at least 1")
        if max_upload_bytes < 1:
            raise ValueError("max_upload_bytes must be positive")
        self._api_key = api_key
        self._host = host
        self._requested_port = port
        self._session_concurrency = session_concurrency
        self._max_upload_bytes = max_upload_bytes
        self._lock = threading.RLock()

        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order (clear it freely)."""
        self.uploads: dict[str, Upload] = {}
        """Uploaded images keyed by upload id."""
        self.executed_turns = 0
        """Turns actually run by execute (idempotent replays and injected faults excluded)."""
        self.in_flight = 0
        """Requests being handled right now."""
        self.peak_in_flight = 0
        """The highest :attr:`in_flight` seen."""

        self._sessions: dict[str, _Session] = {}
        self._agents_by_id: dict[str, RegisteredAgent] = {}
        self._agents_by_key: dict[str, RegisteredAgent] = {}
        self._rules: list[_Rule] = []
        self._exec_failures: list[str] = []
        self._latency = _check_seconds("latency", latency)
        self._turn_delay = _check_seconds("turn_delay", turn_delay)
        self._fault_rate = 0.0
        self._fault_statuses: tuple[int, ...] = ()
        self._rng = random.Random(seed)
        self.set_fault_rate(fault_rate, statuses=fault_statuses)
        self._bucket: _Bucket | None = None
        self.set_rate_limit(rate_limit, rate_burst)
        self._idem_done: dict[tuple[str, str], _Stored] = {}
        self._idem_pending: dict[tuple[str, str], asyncio.Event] = {}

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing: asyncio.Event | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind and start serving (port 0 picks an ephemeral port)."""
        if self._runner is not None:
            raise RuntimeError("Emulator is already running")
        self._closing = asyncio.Event()
        self._idem_pending = {}
        runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and close every connection; calling it again does nothing."""
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        if self._closing is not None:
            self._closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()

    def run_in_thread(self) -> contextlib.AbstractContextManager[Emulator]:
        """Serve on a private event loop in a daemon thread while the context is open.

        For synchronous code and tests: ``with Emulator().run_in_thread() as emu: ...``.
        The server is stopped (and the thread joined) when the block exits.
        """
        return self._thread_context()

    @contextlib.contextmanager
    def _thread_context(self) -> Iterator[Emulator]:
        ready: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = (
            concurrent.futures.Future()
        )

        async def serve() -> None:
            try:
                await self.start()
            except BaseException as exc:
                ready.set_exception(exc)
                return
            stop_event = asyncio.Event()
            ready.set_result((asyncio.get_running_loop(), stop_event))
            try:
                await stop_event.wait()
            finally:
                await self.stop()

        thread = threading.Thread(
            target=lambda: asyncio.run(serve()), name="amas-emulator", daemon=True
        )
        thread.start()
        try:
            loop, stop_event = ready.result()
        except BaseException:
            thread.join()
            raise
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop_event.set)
            thread.join()

    # ---------------------------------------------------------------- addresses

    @property
    def port(self) -> int:
        """The bound port (the requested one before :meth:`start`)."""
        if self._port is not None:
            return self._port
        if self._requested_port == 0:
            raise RuntimeError("The emulator has not been started; the port is not known yet")
        return self._requested_port

    @property
    def origin(self) -> str:
        """``http://<host>:<port>`` (a wildcard host is shown as the loopback address)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self._host, self._host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://127.0.0.1:<port>/api/v1``."""
        return f"{self.origin}{API_PREFIX}"

    @property
    def api_key(self) -> str:
        """The accepted API key."""
        return self._api_key

    # ---------------------------------------------------------------- scripting

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        retry_after: str | float | None = None,
        path: str | None = None,
        method: str | None = None,
        drop: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``count`` matching requests fail; they never reach the endpoint.

        Args:
            count: How many requests to fail.
            status: HTTP status of the error (body in the documented error shape).
            retry_after: ``Retry-After`` header: a number becomes a seconds string
                (``2`` -> ``"2"``, ``1.5`` -> ``"1.5"``), a string is sent as is (e.g. an
                HTTP date).
            path: Only requests whose path contains this string (an exact path works).
            method: Only requests with this HTTP method.
            drop: Close the connection without any answer instead (after reading the
                request).
            delay: Seconds to wait before answering or dropping.

        Scripted rules (this and :meth:`respond_next`) are consumed in the order they
        were added; a request uses the first rule that matches it.
        """
        headers: dict[str, str] = {}
        formatted = _format_retry_after(retry_after)
        if formatted is not None:
            headers["Retry-After"] = formatted
        rule = _Rule(
            remaining=_check_count(count),
            path=path,
            method=method.upper() if method else None,
            status=_check_status(status),
            headers=headers,
            drop=drop,
            delay=_check_seconds("delay", delay),
        )
        with self._lock:
            self._rules.append(rule)

    def respond_next(
        self,
        count: int = 1,
        *,
        status: int = 200,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with a raw scripted response.

        ``body``: bytes are sent as is, a string as UTF-8 (default type ``text/plain``),
        a mapping or list as JSON (default type ``application/json``), None as an empty
        body. ``content_type`` (sent verbatim, parameters allowed) and ``headers``
        override the defaults. The endpoint does not run (no turn is executed).
        ``path``/``method`` filter as in :meth:`fail_next`.
        """
        raw: bytes | None
        default_type: str | None
        if body is None:
            raw, default_type = None, None
        elif isinstance(body, bytes):
            raw, default_type = body, "application/octet-stream"
        elif isinstance(body, str):
            raw, default_type = body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            raw, default_type = json.dumps(body).encode("utf-8"), "application/json"
        merged: dict[str, str] = {}
        if content_type or default_type:
            merged["Content-Type"] = content_type or default_type or ""
        merged.update(headers or {})
        rule = _Rule(
            remaining=_check_count(count),
            path=path,
            method=method.upper() if method else None,
            status=_check_status(status),
            headers=merged,
            body=raw,
            error=False,
        )
        with self._lock:
            self._rules.append(rule)

    def fail_execution_next(self, status: str = "error", count: int = 1) -> None:
        """Make the next ``count`` executes report run status ``"error"`` or ``"timeout"``.

        The HTTP answer is still 200; the turn runs (and counts) but produces no message.
        """
        if status not in _EXECUTION_FAILURES:
            raise ValueError(f"status must be 'error' or 'timeout', got {status!r}")
        with self._lock:
            self._exec_failures.extend([status] * _check_count(count))

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` before handling every request (0 disables)."""
        self._latency = _check_seconds("latency", seconds)

    def set_turn_delay(self, seconds: float) -> None:
        """Make every execute spend ``seconds`` inside the turn, holding the session."""
        self._turn_delay = _check_seconds("turn_delay", seconds)

    def set_fault_rate(
        self, rate: float, *, seed: int | None = None, statuses: Sequence[int] | None = None
    ) -> None:
        """Fail a random fraction ``rate`` of ``/api/v1`` requests.

        A faulted request gets a status drawn from ``statuses`` (kept from before when
        None) and never reaches the endpoint; 429 faults carry ``Retry-After: 1``. Passing
        ``seed`` restarts the generator, so the same seed and request sequence gives the
        same faults. Scripted rules take precedence.
        """
        if isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        with self._lock:
            if statuses is not None:
                checked = tuple(_check_status(s) for s in statuses)
                if not checked:
                    raise ValueError("statuses must not be empty")
                self._fault_statuses = checked
            if seed is not None:
                self._rng = random.Random(seed)
            self._fault_rate = float(rate)

    def set_rate_limit(self, rate: float | None, burst: int = 10) -> None:
        """Limit ``/api/v1`` requests with a token bucket (None disables).

        The bucket holds ``burst`` tokens, starts full and refills at ``rate`` tokens per
        second (monotonic clock). A request without a token answers 429 with
        ``Retry-After`` = the whole seconds until a token is available (at least 1).
        """
        if rate is None:
            with self._lock:
                self._bucket = None
            return
        if isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        if isinstance(burst, bool) or burst < 1:
            raise ValueError(f"burst must be a positive integer, got {burst!r}")
        with self._lock:
            self._bucket = _Bucket(float(rate), burst, float(burst), time.monotonic())

    def reset_faults(self) -> None:
        """Remove all injected faults and slowness.

        Clears the scripted rules and execution failures and switches off random faults,
        latency, turn delay and the rate limit.
        """
        with self._lock:
            self._rules.clear()
            self._exec_failures.clear()
            self._fault_rate = 0.0
            self._latency = 0.0
            self._turn_delay = 0.0
            self._bucket = None

    def register_agent(
        self,
        config: Mapping[str, Any],
        *,
        agent_key: str | None = None,
        agent_id: str | None = None,
    ) -> RegisteredAgent:
        """Save an agent so ``/sessions/from-agent/`` can start sessions from it.

        The config is validated like ``POST /sessions/`` (:class:`ValueError` if
        invalid). ``agent_key`` defaults to the name in snake case ("Support Agent" ->
        ``support_agent``); ``agent_id`` to a new UUID. Registering the same key or id
        again replaces the agent.
        """
        data = to_jsonable(config)
        try:
            workflow = parse_config(data)
        except ApiError as exc:
            where = f" (field {exc.field})" if exc.field else ""
            raise ValueError(f"Invalid agent config: {exc.message}{where}") from None
        agent = RegisteredAgent(
            id=agent_id or str(uuid.uuid4()),
            key=agent_key or _agent_key(workflow.name),
            name=workflow.name,
            config=data,
        )
        with self._lock:
            self._agents_by_id[agent.id] = agent
            self._agents_by_key[agent.key] = agent
        return agent

    # ---------------------------------------------------------------- observation

    def session_state(self, session_id: str) -> SessionState:
        """Return a snapshot of a session (:class:`KeyError` if it does not exist)."""
        with self._lock:
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

    @property
    def session_ids(self) -> list[str]:
        """Ids of all sessions, oldest first."""
        with self._lock:
            return list(self._sessions)

    # ---------------------------------------------------------------- app

    def _build_app(self) -> web.Application:
        @web.middleware
        async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
            return await self._process(request, handler)

        app = web.Application(middlewares=[middleware])
        api = API_PREFIX
        router = app.router
        router.add_post(f"{api}/sessions/", self._create_session)
        router.add_get(f"{api}/sessions/from-agent/", self._from_agent_key)
        router.add_post(f"{api}/sessions/from-agent/{{agent_id}}/", self._from_agent_id)
        router.add_get(f"{api}/sessions/{{session_id}}/", self._get_session)
        router.add_post(f"{api}/runtime/{{session_id}}/execute/", self._execute)
        router.add_get(f"{api}/runtime/{{session_id}}/messages/", self._messages)
        router.add_get(f"{api}/runtime/{{session_id}}/status/", self._status)
        router.add_post(f"{api}/images/upload/", self._upload_image)
        router.add_get("/media/images/{upload_id}/{filename}", self._media)
        return app

    async def _process(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            body, too_large = await self._read_body(request)
            _REQUEST_BODY.set(body)
            self._record(request, body)
            await self._sleep(self._latency)

            rule = self._take_rule(request.method, request.path)
            if rule is not None:
                return await self._apply_rule(request, rule)

            is_api = request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")
            if is_api:
                fault = self._random_fault()
                if fault is not None:
                    headers = {"Retry-After": "1"} if fault == 429 else None
                    return _error_response(
                        ApiError(fault, _error_type(fault), _error_message(fault), headers=headers)
                    )
                supplied = request.headers.get("x-api-key", "")
                if not hmac.compare_digest(supplied.encode(), self._api_key.encode()):
                    return _error_response(
                        ApiError(401, "authentication_error", _error_message(401))
                    )
                wait = self._take_token()
                if wait is not None:
                    retry = str(max(1, math.ceil(wait)))
                    return _error_response(
                        ApiError(
                            429,
                            "rate_limit_error",
                            "Too many requests",
                            headers={"Retry-After": retry},
                        )
                    )
            if too_large:
                # aiohttp drains (and discards) the unread rest of the body after answering.
                return _error_response(
                    ApiError(
                        413,
                        "invalid_request_error",
                        f"Request body too large (limit {self._max_body_bytes} bytes)",
                    )
                )

            key = request.headers.get(_IDEMPOTENCY_HEADER)
            if is_api and key and request.method not in _SAFE_METHODS:
                return await self._idempotent(request, key, handler)
            return await self._dispatch(request, handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    @property
    def _max_body_bytes(self) -> int:
        return self._max_upload_bytes + 1024 * 1024

    async def _read_body(self, request: web.Request) -> tuple[bytes, bool]:
        if not request.body_exists:
            return b"", False
        limit = self._max_body_bytes
        data = bytearray()
        async for chunk in request.content.iter_chunked(_CHUNK):
            if len(data) + len(chunk) > limit:
                data += chunk[: limit - len(data)]
                return bytes(data), True
            data += chunk
        return bytes(data), False

    def _record(self, request: web.Request, body: bytes) -> None:
        query: dict[str, str] = {}
        for name, value in request.query.items():
            query.setdefault(name, value)
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=query,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
        )
        with self._lock:
            self.requests.append(recorded)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the server is stopping."""
        if seconds <= 0:
            return
        closing = self._closing
        if closing is None or closing.is_set():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(closing.wait(), seconds)

    def _take_rule(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self._rules[index]
                    return rule
        return None

    async def _apply_rule(self, request: web.Request, rule: _Rule) -> web.StreamResponse:
        await self._sleep(rule.delay)
        if rule.drop:
            transport = request.transport
            if transport is not None:
                transport.close()
            # aiohttp notices the closed transport when it writes this and discards it.
            return web.Response(status=rule.status)
        if rule.error:
            error = ApiError(
                rule.status,
                _error_type(rule.status),
                _error_message(rule.status),
                headers=rule.headers,
            )
            return _error_response(error)
        return web.Response(status=rule.status, body=rule.body, headers=rule.headers)

    def _random_fault(self) -> int | None:
        with self._lock:
            if self._fault_rate <= 0.0 or not self._fault_statuses:
                return None
            if self._rng.random() >= self._fault_rate:
                return None
            return self._rng.choice(self._fault_statuses)

    def _take_token(self) -> float | None:
        with self._lock:
            if self._bucket is None:
                return None
            return self._bucket.take(time.monotonic())

    async def _idempotent(
        self, request: web.Request, key: str, handler: _Handler
    ) -> web.StreamResponse:
        scope = (request.path, key)
        while True:
            stored = self._idem_done.get(scope)
            if stored is not None:
                return stored.replay()
            pending = self._idem_pending.get(scope)
            if pending is None:
                break
            await pending.wait()
        event = asyncio.Event()
        self._idem_pending[scope] = event
        try:
            response = await self._dispatch(request, handler)
            if (
                isinstance(response, web.Response)
                and isinstance(response.body, bytes)
                and response.status < 500
                and response.status != 409
            ):
                headers = tuple(
                    (name, value)
                    for name, value in response.headers.items()
                    if name.lower() != "content-length"
                )
                self._idem_done[scope] = _Stored(response.status, response.body, headers)
            return response
        finally:
            del self._idem_pending[scope]
            event.set()

    async def _dispatch(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error_response(exc)
        except web.HTTPException as exc:
            return self._http_error(request, exc)
        except Exception:
            logger.exception("AMAS emulator: unexpected error handling %s", request.path)
            return _error_response(ApiError(500, "api_error", "Internal server error"))

    def _http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        status = exc.status
        headers: dict[str, str] = {}
        if status == 404:
            message = f"Not found: {request.path}"
            if not request.path.endswith("/"):
                message += " (AMAS API paths end with '/')"
        elif status == 405:
            allow = exc.headers.get(hdrs.ALLOW, "")
            headers[hdrs.ALLOW] = allow
            message = f"Method {request.method} not allowed on {request.path} (allowed: {allow})"
            return _error_response(
                ApiError(405, "method_not_allowed_error", message, headers=headers)
            )
        else:
            message = exc.reason or _error_message(status)
        return _error_response(ApiError(status, _error_type(status), message))

    # ---------------------------------------------------------------- sessions

    def _new_session(
        self, config: dict[str, Any], workflow: Workflow, agent_id: str | None
    ) -> _Session:
        now = time.time()
        session = _Session(
            id=str(uuid.uuid4()),
            config=config,
            workflow=workflow,
            config_hash=config_hash(config),
            agent_id=agent_id,
            created_at=now,
            last_activity=now,
        )
        with self._lock:
            self._sessions[session.id] = session
        return session

    def _session(self, session_id: str) -> _Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise ApiError(404, "not_found_error", f"Session not found: {session_id}")
        return session

    async def _create_session(self, request: web.Request) -> web.Response:
        config = parse_body(_REQUEST_BODY.get(), request.content_type)
        workflow = parse_config(config)
        session = self._new_session(config, workflow, agent_id=None)
        return _json_response(
            {"success": True, "session_id": session.id, "config_hash": session.config_hash}
        )

    async def _get_session(self, request: web.Request) -> web.Response:
        session = self._session(request.match_info["session_id"])
        return _json_response(
            {
                "session_id": session.id,
                "config_hash": session.config_hash,
                "created_at": _iso(session.created_at),
                "status": "active",
                "agent_config": session.config,
            }
        )

    def _session_from_agent(self, agent: RegisteredAgent) -> _Session:
        config: dict[str, Any] = json.loads(canonical_json(agent.config))
        return self._new_session(config, parse_config(config), agent_id=agent.id)

    async def _from_agent_key(self, request: web.Request) -> web.Response:
        key = request.query.get("agent_key", "").strip()
        if not key:
            raise invalid("Query parameter 'agent_key' is required", "agent_key")
        with self._lock:
            agent = self._agents_by_key.get(key)
        if agent is None:
            raise ApiError(404, "not_found_error", f"Agent not found: {key}")
        session = self._session_from_agent(agent)
        return _json_response(
            {
                "success": True,
                "session_id": session.id,
                "config_hash": session.config_hash,
                "agent_id": agent.id,
                "agent_name": agent.name,
            }
        )

    async def _from_agent_id(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        with self._lock:
            agent = self._agents_by_id.get(agent_id)
        if agent is None:
            raise ApiError(404, "not_found_error", f"Agent not found: {agent_id}")
        session = self._session_from_agent(agent)
        return _json_response(
            {
                "success": True,
                "session_id": session.id,
                "agent_id": agent.id,
                "config_hash": session.config_hash,
            }
        )

    # ---------------------------------------------------------------- runtime

    async def _execute(self, request: web.Request) -> web.Response:
        session = self._session(request.match_info["session_id"])
        body = parse_execute_body(parse_body(_REQUEST_BODY.get(), request.content_type))
        with self._lock:
            if session.active >= self._session_concurrency:
                raise ApiError(
                    409,
                    "conflict_error",
                    f"Session is busy: {session.id} already has {session.active} execution(s) "
                    f"in progress (limit {self._session_concurrency})",
                )
            session.active += 1
        try:
            return await self._run_execute(session, body)
        finally:
            with self._lock:
                session.active -= 1
                session.last_activity = time.time()

    async def _run_execute(self, session: _Session, body: ExecuteRequest) -> web.Response:
        workflow = session.workflow
        with self._lock:
            persisted = session.variables if workflow.persistent_state else {}
            values, to_persist = resolve_variables(workflow, body.inputs, persisted)
            if workflow.persistent_state:
                session.variables.update(to_persist)
            failure = self._exec_failures.pop(0) if self._exec_failures else None
            started = time.time()
            clock = time.monotonic()
            self.executed_turns += 1
            session.turns += 1
            session.last_activity = started
            if workflow.save_messages:
                session.history.append(
                    StoredMessage(str(uuid.uuid4()), "user", body.content, started)
                )

        await self._sleep(self._turn_delay)

        metadata: dict[str, Any] = {
            "correlation_id": body.correlation_id,
            "event_count": 2,
            "execution_id": str(uuid.uuid4()),
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        messages: list[dict[str, Any]] = []
        if failure is not None:
            error_type, error_message = _EXECUTION_FAILURES[failure]
            metadata["error"] = {"type": error_type, "message": error_message}
            status = failure
        else:
            result = run_turn(workflow, body.user_input, values)
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
            if workflow.save_messages:
                with self._lock:
                    session.history.extend(stored)
            metadata["event_count"] = len(result.steps) + 2
            metadata["usage"] = {
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
            }
            status = "completed"
        completed = time.time()
        return _json_response(
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

    @staticmethod
    def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
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

    async def _messages(self, request: web.Request) -> web.Response:
        session = self._session(request.match_info["session_id"])
        limit = self._int_query(request, "limit", 50, 1, MAX_MESSAGES_LIMIT)
        offset = self._int_query(request, "offset", 0, 0, 2**62)
        with self._lock:
            history = list(session.history)
        page = history[offset : offset + limit]
        return _json_response(
            {
                "messages": [
                    {
                        "id": m.id,
                        "role": m.role,
                        "content": m.content,
                        "timestamp": _iso(m.timestamp),
                    }
                    for m in page
                ],
                "total": len(history),
                "has_more": offset + len(page) < len(history),
            }
        )

    async def _status(self, request: web.Request) -> web.Response:
        session = self._session(request.match_info["session_id"])
        with self._lock:
            data = {
                "session_id": session.id,
                "status": session.status(time.time()),
                "message_count": len(session.history),
                "last_activity": _iso(session.last_activity),
                "created_at": _iso(session.created_at),
                "health": "healthy",
            }
        return _json_response(data)

    # ---------------------------------------------------------------- images

    async def _upload_image(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            raise invalid("Expected a multipart/form-data body with an 'image' file field", "image")
        found = _image_part(request.headers.get(hdrs.CONTENT_TYPE, ""), _REQUEST_BODY.get())
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
        filename = _clean_filename(raw_name, header_type)
        media_type = _media_type(header_type, filename)
        if media_type is None or not media_type.startswith("image/"):
            raise invalid(
                f"Unsupported media type {media_type or 'unknown'!s}: only image/* uploads "
                "are accepted",
                "image",
            )
        upload_id = str(uuid.uuid4())
        url = f"{self.origin}/media/images/{upload_id}/{urllib.parse.quote(filename)}"
        upload = Upload(upload_id, filename, media_type, data, url)
        with self._lock:
            self.uploads[upload_id] = upload
        return _json_response({"url": url, "media_type": media_type, "size": len(data)})

    async def _media(self, request: web.Request) -> web.Response:
        with self._lock:
            upload = self.uploads.get(request.match_info["upload_id"])
        if upload is None or upload.filename != request.match_info["filename"]:
            raise ApiError(404, "not_found_error", f"Not found: {request.path}")
        return web.Response(body=upload.data, content_type=upload.media_type)


def _image_part(content_type: str, body: bytes) -> tuple[str | None, str | None, bytes] | None:
    """(filename, Content-Type, bytes) of the first multipart field named ``image``, or None.

    Parsed with the standard library's MIME parser (a public, stable API); a body that is not
    multipart at all is a 400.
    """
    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
    except (UnicodeEncodeError, ValueError) as exc:
        raise invalid(f"Malformed multipart body: {exc}", "image") from None
    if not message.is_multipart():
        raise invalid("Malformed multipart body: no parts", "image")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "image":
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        return part.get_filename(), part.get("Content-Type"), data
    return None
