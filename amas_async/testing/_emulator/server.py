"""The :class:`Emulator`: its lifecycle (async, or in a thread), addresses and observation.

It wires the parts together: :class:`~.state.EmulatorState` (what it remembers),
:class:`~.faults.Faults` (the fault script), :class:`~.routes.Routes` (the endpoints) and
:class:`~.pipeline.Pipeline` (the middlewares every request passes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol

from aiohttp import web

from .bodies import config_file, load_config, to_jsonable
from .errors import ApiError
from .faults import Faults, FaultScripting, check_seconds
from .library import ProcessingControls, StoredFile
from .pipeline import Pipeline, ReplayStore
from .processing import DEFAULT_PROCESSING_SECONDS
from .resource_routes import (
    KB_STATUS_PATHS,
    ResourceRoutes,
    check_kb_status_paths,
    check_page_size,
    check_validate_status,
)
from .routes import API_PREFIX, Routes
from .state import EmulatorState, RecordedRequest, RegisteredAgent, SessionState, Upload
from .workflow import parse_config

DEFAULT_API_KEY: Final = "amas-test-key"
"""The API key an :class:`Emulator` accepts unless told otherwise."""
MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
"""The default largest accepted image or file upload (20 MiB) [OURS]; bigger ones answer 413."""
BODY_SLACK_BYTES: Final = 1024 * 1024
"""A request body may exceed ``max_upload_bytes`` by this much (multipart framing) [OURS]."""


class SupportsToDict(Protocol):
    """Anything with a ``to_dict()`` giving a config mapping (such as ``amas.SessionConfig``)."""

    def to_dict(self) -> Mapping[str, Any]:
        """The config in its wire shape."""
        ...


class Emulator(FaultScripting, ProcessingControls):
    """An in-process AMAS API server for tests; ``docs/emulator.md`` describes every rule.

    Use it as ``async with Emulator() as emu:`` (or :meth:`start` and :meth:`stop`), or from
    synchronous code with ``with Emulator().run_in_thread() as emu:``; point a client at
    :attr:`base_url` with :attr:`api_key`. Every argument is keyword-only. A
    ``session_concurrency`` or ``max_upload_bytes`` below 1, or a setting out of its range,
    raises :class:`ValueError`.

    Args:
        api_key: The only key accepted in ``x-api-key``.
        host: Interface to bind.
        port: Port to bind; 0 picks a free ephemeral port (see :attr:`port`).
        latency: Seconds to wait before handling every request.
        fault_rate: Probability (0..1) that an ``/api/v1`` request fails with a random
            fault out of ``fault_statuses``.
        seed: Seed of the random-fault generator (same seed and requests, same faults).
        fault_statuses: Faults random faults pick from: HTTP statuses, and the connection
            drops ``"drop"``, ``"reset"`` and ``"drop_after"`` (see :meth:`set_fault_rate`).
        rate_limit: Token-bucket refill rate in requests per second (None: no limit).
        rate_burst: Token-bucket size.
        session_concurrency: Executes allowed to run at once in one session; one more
            answers 409.
        turn_delay: Seconds every execute spends "thinking" while it holds the session
            (makes concurrent and "processing" states observable).
        max_upload_bytes: Largest accepted image or file upload; a bigger one answers 413.
        processing_seconds: Seconds a file, collection or knowledge base takes to process
            (0: done at its next read); see also the processing controls.
        validate_invalid_status: HTTP status of ``POST /agent/validate/`` for an invalid
            config (200, 400 or 422; undocumented, so a setting).
        kb_status_paths: Which knowledge-base status paths exist: ``"check_status"`` (the
            current one) and/or ``"status"`` (the older one).
        page_size: None answers lists as bare arrays (documented); a number answers
            ``/agent/``, ``/files/`` and ``/collections/`` in Django REST's envelope
            ``{count, next, previous, results}``, that many per page.
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
        fault_statuses: Sequence[int | str] = (500, 502, 503),
        rate_limit: float | None = None,
        rate_burst: int = 10,
        session_concurrency: int = 1,
        turn_delay: float = 0.0,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        processing_seconds: float = DEFAULT_PROCESSING_SECONDS,
        validate_invalid_status: int = 200,
        kb_status_paths: Sequence[str] = KB_STATUS_PATHS,
        page_size: int | None = None,
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
        self._validate_invalid_status = check_validate_status(validate_invalid_status)
        self._kb_status_paths = check_kb_status_paths(kb_status_paths)
        self._page_size = check_page_size(page_size)
        lock = threading.RLock()
        self._state = EmulatorState(
            lock, processing_seconds=check_seconds("processing_seconds", processing_seconds)
        )
        self._library = self._state.library
        self._faults = Faults(
            lock,
            latency=latency,
            turn_delay=turn_delay,
            fault_rate=fault_rate,
            seed=seed,
            fault_statuses=fault_statuses,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
        )
        self._replays: ReplayStore = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing: asyncio.Event | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind and start serving (port 0 picks an ephemeral port)."""
        if self._runner is not None:
            raise RuntimeError("Emulator is already running")
        self._closing = asyncio.Event()
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

    def _build_app(self) -> web.Application:
        routes = Routes(
            self._state,
            self._faults,
            session_concurrency=self._session_concurrency,
            max_upload_bytes=self._max_upload_bytes,
            origin=lambda: self.origin,
            sleep=self._sleep,
        )
        pipeline = Pipeline(
            state=self._state,
            faults=self._faults,
            api_key=self._api_key,
            max_body_bytes=self._max_upload_bytes + BODY_SLACK_BYTES,
            replays=self._replays,
            sleep=self._sleep,
        )
        resources = ResourceRoutes(
            self._state,
            max_upload_bytes=self._max_upload_bytes,
            page_size=self._page_size,
            validate_invalid_status=self._validate_invalid_status,
            kb_status_paths=self._kb_status_paths,
        )
        app = web.Application(middlewares=pipeline.middlewares())
        app.add_routes(routes.table() + resources.table())
        return app

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the server is stopping."""
        if seconds <= 0:
            return
        closing = self._closing
        if closing is None or closing.is_set():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(closing.wait(), seconds)

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

    # ---------------------------------------------------------------- saved agents

    def register_agent(
        self,
        config: Mapping[str, Any] | SupportsToDict | str | os.PathLike[str],
        *,
        agent_key: str | None = None,
        agent_id: str | None = None,
    ) -> RegisteredAgent:
        """Save an agent in the store behind ``/agent/`` and ``/sessions/from-agent/``.

        ``config`` is a mapping, anything with a ``to_dict()`` giving one (such as
        ``amas.SessionConfig``: duck-typed, the emulator never imports the client), the path
        of a YAML or JSON file, or YAML or JSON text (a string with a line break, or one that
        starts with ``{``). It is validated like ``POST /sessions/``: :class:`ValueError` if
        invalid or unparsable (naming the file), :class:`OSError` if the file cannot be read.
        ``agent_key`` defaults to the name in snake case ("Support Agent" ->
        ``support_agent``); ``agent_id`` to a new UUID. Unlike ``POST /agent/``, registering
        the same key or id again replaces the agent.
        """
        origin = ""
        if isinstance(config, (str, os.PathLike)):
            file = config_file(config)
            origin = "" if file is None else f" in {file}"
            config = load_config(config)
        elif not isinstance(config, Mapping):
            to_dict = getattr(config, "to_dict", None)
            if not callable(to_dict):
                raise TypeError(
                    "config must be a mapping, have a to_dict() method, or be a file path, got "
                    f"{type(config).__name__}"
                )
            config = to_dict()
        data = to_jsonable(config)
        try:
            workflow = parse_config(data)
        except ApiError as exc:
            where = f" (field {exc.field})" if exc.field else ""
            raise ValueError(f"Invalid agent config{origin}: {exc.message}{where}") from None
        return self._state.agents.create(
            data, workflow, agent_key=agent_key, agent_id=agent_id, replace=True
        )

    @property
    def agents(self) -> list[RegisteredAgent]:
        """Every saved agent (registered or created over HTTP), oldest first."""
        return self._state.agents.all()

    @property
    def files(self) -> dict[str, StoredFile]:
        """Files received by ``POST /files/`` (also deleted ones) by id, oldest first."""
        with self._library.lock:
            return {file_id: record.file for file_id, record in self._library.files.items()}

    # ---------------------------------------------------------------- observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (clear it freely)."""
        return self._state.requests

    @requests.setter
    def requests(self, value: list[RecordedRequest]) -> None:
        self._state.requests = value

    @property
    def uploads(self) -> dict[str, Upload]:
        """Uploaded images keyed by upload id."""
        return self._state.uploads

    @uploads.setter
    def uploads(self, value: dict[str, Upload]) -> None:
        self._state.uploads = value

    @property
    def executed_turns(self) -> int:
        """Turns actually run by execute (idempotent replays and injected faults excluded)."""
        return self._state.executed_turns

    @executed_turns.setter
    def executed_turns(self, value: int) -> None:
        self._state.executed_turns = value

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._state.in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._state.in_flight = value

    @property
    def peak_in_flight(self) -> int:
        """The highest :attr:`in_flight` seen."""
        return self._state.peak_in_flight

    @peak_in_flight.setter
    def peak_in_flight(self, value: int) -> None:
        self._state.peak_in_flight = value

    def session_state(self, session_id: str) -> SessionState:
        """Return a snapshot of a session (:class:`KeyError` if it does not exist)."""
        return self._state.snapshot(session_id)

    @property
    def session_ids(self) -> list[str]:
        """Ids of all sessions, oldest first."""
        return self._state.session_ids()
