"""``Amas``: the blocking shim over :class:`AsyncAmas`, one background event loop per client.

Each client starts, on first use, a daemon thread running an event loop under anyio's blocking
portal; that loop owns the ``AsyncAmas`` and its connection pool for the client's whole life
(and for the clients ``with_options`` derives from it, which share it). Every sync method is
one call onto that loop, with no logic of its own. It works in plain scripts, from many
threads sharing one client, and from code that runs inside an event loop (a Jupyter cell, a
sync function called from async code), where the call blocks the caller.

A blocking call interrupted by Ctrl-C cancels its request on the loop (and waits, briefly, for
the cancellation to finish) and leaves the client usable. A client that is never closed is
closed when it is garbage-collected or at interpreter exit, without noise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import inspect
import threading
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal

from ._client import AsyncAmas
from ._config import NOT_GIVEN, Limits, NotGiven, Timeout, TimeoutTypes
from ._http import AsyncTransport, Middleware
from ._multipart import FileTypes
from ._retry import RetryPolicy
from ._throttle import Throttle
from .batch import BatchResult, Requests
from .errors import AmasError
from .models import Content, Execution, ImageUpload, Message, MessagePage, SessionStatus
from .resources.sessions import ConfigTypes
from .resources.sessions import Session as AsyncSession

__all__ = ["Amas", "Images", "Runtime", "Session", "Sessions"]

T = TypeVar("T")

_CLOSED = "this client is closed; create a new Amas"
#: Seconds an interrupted call waits for its cancelled request to wind down on the loop.
_CANCEL_GRACE = 5.0
#: Seconds closing waits for the loop thread to finish.
_JOIN_TIMEOUT = 10.0


class _Call:
    """What the caller's thread knows of one call running on the loop."""

    __slots__ = ("done", "started")

    def __init__(self) -> None:
        self.started = False
        self.done = threading.Event()


async def _run_call(
    call: _Call,
    func: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> T:
    call.started = True
    try:
        return await func(*args, **kwargs)
    finally:
        call.done.set()


class _End(enum.Enum):
    """The end of an iterator pulled from a worker thread."""

    END = "END"


def _next_or_end(iterator: Iterator[T]) -> T | _End:
    return next(iterator, _End.END)


async def _pulled_in_threads(items: Iterable[T]) -> AsyncIterator[T]:
    """``items`` as an async iterator whose every step runs in a worker thread."""
    iterator = await anyio.to_thread.run_sync(iter, items)
    while True:
        item = await anyio.to_thread.run_sync(_next_or_end, iterator)
        if isinstance(item, _End):
            return
        yield item


def _user_input(requests: Any) -> Any:
    """A batch's input, read off the loop when reading it runs the caller's code.

    A lazy iterable (a generator, say) is the caller's code: stepped on the loop thread it
    would stall every request, and a call to the sync client from inside it could not work.
    So it is stepped in worker threads. Lists and tuples, async iterables and what the batch
    will reject anyway are passed as they are.
    """
    if isinstance(requests, (list, tuple, str, bytes, Mapping, AsyncIterable)) or not isinstance(
        requests, Iterable
    ):
        return requests
    return _pulled_in_threads(requests)


def _user_callback(
    on_result: Callable[[BatchResult], Any] | None,
) -> Callable[[BatchResult], Any] | None:
    """``on_result`` run in a worker thread (it may block, or call the sync client)."""
    if on_result is None or inspect.iscoroutinefunction(on_result):
        return on_result
    callback = on_result

    async def in_thread(result: BatchResult) -> Any:
        outcome = await anyio.to_thread.run_sync(callback, result)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        return outcome

    return in_thread


class _Runner:
    """The background event loop shared by a client and the clients derived from it.

    It holds the root :class:`AsyncAmas` (whose pool every derived client shares) but no
    reference to any sync client, so a forgotten client can be garbage-collected and its
    finalizer can close this.

    The loop runs under anyio's blocking portal, which starts and stops it. Calls are handed
    to the loop with ``asyncio.run_coroutine_threadsafe`` rather than the portal's
    ``start_task_soon``: that one waits for the loop to acknowledge every spawn, a second
    thread handoff per call (50 to 150 us more per call against a local server, see
    ``benchmarks/bench_sync_overhead.py``). Submitting under the lock that :meth:`shutdown`
    takes guarantees that every call is either refused or reaches the loop before it stops.
    """

    def __init__(self, root: AsyncAmas) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self.closed = False

    @property
    def started(self) -> bool:
        """True once the loop has been started."""
        return self._loop is not None

    def _start(self) -> asyncio.AbstractEventLoop:
        """Start the loop thread; the caller holds the lock."""
        ready = threading.Event()
        box: dict[str, Any] = {}

        async def main() -> None:
            async with BlockingPortal() as portal:
                box["portal"], box["loop"] = portal, asyncio.get_running_loop()
                ready.set()
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(main)
            except BaseException as exc:  # pragma: no cover - reported to the caller below
                box["error"] = exc
            finally:
                ready.set()

        thread = threading.Thread(target=run, name="amas-sync-loop", daemon=True)
        thread.start()
        ready.wait()
        if "loop" not in box:  # pragma: no cover
            raise AmasError(f"could not start the client's event loop: {box.get('error')!r}")
        loop: asyncio.AbstractEventLoop = box["loop"]
        self._thread, self._portal, self._loop = thread, box["portal"], loop
        return loop

    def call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop and wait; Ctrl-C cancels it there."""
        if threading.current_thread() is self._thread:
            raise AmasError(
                "a sync Amas method was called on the client's own event loop (from a "
                "middleware?); use the AsyncAmas there"
            )
        call = _Call()
        coro = _run_call(call, func, args, kwargs)
        future: concurrent.futures.Future[T] | None = None
        try:
            with self._lock:
                if self.closed:
                    raise AmasError(_CLOSED)
                loop = self._loop or self._start()
                future = asyncio.run_coroutine_threadsafe(coro, loop)
        except BaseException:
            if future is None:
                coro.close()  # never scheduled
            else:  # pragma: no cover - interrupted right after scheduling it
                future.cancel()
            raise
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # Not ours: the loop cancelled it while stopping, close() ran in another thread.
            raise AmasError(_CLOSED) from None
        except BaseException:
            # KeyboardInterrupt (or anything else interrupting the wait): cancel the request
            # itself, and give the cancellation a moment to finish so that its connection is
            # released before the caller goes on.
            if future.cancel() and call.started:
                call.done.wait(_CANCEL_GRACE)
            raise

    def shutdown(self) -> None:
        """Close the root client's pool and stop the loop. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            portal, thread = self._portal, self._thread
        if portal is None or thread is None:
            return
        if threading.current_thread() is thread:
            # Collected by a GC pass on the loop itself: it cannot wait for itself.
            threading.Thread(
                target=self._stop, args=(portal, thread), name="amas-sync-close", daemon=True
            ).start()
        else:
            self._stop(portal, thread)

    def _stop(self, portal: BlockingPortal, thread: threading.Thread) -> None:
        # A RuntimeError here means the portal is not running (its loop is gone already).
        try:
            with contextlib.suppress(RuntimeError):
                portal.call(self._root.aclose)
        finally:
            with contextlib.suppress(RuntimeError):
                portal.call(portal.stop)
            thread.join(_JOIN_TIMEOUT)

    def on_loop_thread(self) -> bool:
        """True when running on this runner's loop thread."""
        return threading.current_thread() is self._thread


class Amas:
    """The blocking AMAS client: the same names and arguments as :class:`AsyncAmas`.

    Use it as ``with Amas() as client:`` or call :meth:`close` (idempotent). It may be shared
    by many threads. Errors are the same classes as the async client's.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        *,
        limits: Limits | None = None,
        default_headers: Mapping[str, str] | None = None,
        middlewares: Sequence[Middleware] = (),
        throttle: Throttle | None = None,
        transport: AsyncTransport | None = None,
    ) -> None:
        root = AsyncAmas(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            max_retries=max_retries,
            limits=limits,
            default_headers=default_headers,
            middlewares=middlewares,
            throttle=throttle,
            transport=transport,
        )
        runner = _Runner(root)
        self._setup(root, runner, None)
        # Closes the pool and stops the loop when this client and every client derived from
        # it are gone, or at interpreter exit, whichever comes first (or on close()).
        self._finalizer = weakref.finalize(self, runner.shutdown)

    def _setup(self, async_client: AsyncAmas, runner: _Runner, root: Amas | None) -> None:
        self._async = async_client
        self._runner = runner
        self._root = root  # a derived client keeps the root (and so the shared loop) alive
        self._closed = False
        self.sessions = Sessions(self)
        self.runtime = Runtime(self)
        self.images = Images(self)

    def with_options(
        self,
        *,
        retry: RetryPolicy | NotGiven | None = NOT_GIVEN,
        max_retries: int | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> Amas:
        """A client with other retry or timeout settings, sharing this one's loop and pool.

        ``client.with_options(max_retries=0).runtime.execute(...)`` changes one call. The new
        client needs no closing of its own: closing it only retires it, closing the original
        closes the shared pool and loop.
        """
        derived = self._async.with_options(retry=retry, max_retries=max_retries, timeout=timeout)
        clone = object.__new__(Amas)
        clone._setup(derived, self._runner, self._root or self)
        return clone

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else "open" if self._runner.started else "new"
        return f"Amas(base_url={self._async.base_url!r}, {state})"

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._async.base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force for this client."""
        return self._async.retry_policy

    @property
    def timeout(self) -> Timeout:
        """The time limits of each attempt."""
        return self._async.timeout

    @property
    def transport(self) -> AsyncTransport:
        """The transport that sends this client's requests (on the client's loop thread)."""
        return self._async.transport

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` has run (on this client or the one it derives from)."""
        return self._closed or self._runner.closed

    def _run(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        if self._closed:
            raise AmasError(_CLOSED)
        return self._runner.call(func, *args, **kwargs)

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """A plain iterator over an async one: one step on the loop per item, closed after."""
        try:
            while True:
                try:
                    item = self._run(iterator.__anext__)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and not self.is_closed and not self._runner.on_loop_thread():
                # Nothing to report from here: a closed client, or a generator still running
                # after an interrupted step, leave it to the loop's own finalization.
                with contextlib.suppress(AmasError, RuntimeError):
                    self._run(aclose)

    def session(self, session_id: str) -> Session:
        """A handle on an existing session; no request is made."""
        return Session(self, self._async.session(session_id))

    def close(self) -> None:
        """Close the connection pool and stop the background loop. Idempotent.

        On a client made by :meth:`with_options` this only retires that client; the pool and
        the loop belong to the client it was derived from.
        """
        self._closed = True
        if self._root is None:
            self._finalizer()

    def __enter__(self) -> Amas:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Session:
    """A blocking handle on one AMAS session (see :class:`amas_async.Session`)."""

    __slots__ = ("_client", "_handle")

    def __init__(self, client: Amas, handle: AsyncSession) -> None:
        self._client = client
        self._handle = handle

    def __repr__(self) -> str:
        return repr(self._handle)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and other._handle == self._handle

    def __hash__(self) -> int:
        return hash(self._handle)

    @property
    def id(self) -> str:
        """The session id."""
        return self._handle.id

    @property
    def config_hash(self) -> str | None:
        """The config hash the API gave, if any."""
        return self._handle.config_hash

    @property
    def agent_id(self) -> str | None:
        """The saved agent's id, for sessions made from one."""
        return self._handle.agent_id

    @property
    def agent_name(self) -> str | None:
        """The saved agent's name, for sessions made from one."""
        return self._handle.agent_name

    @property
    def agent_key(self) -> str | None:
        """The saved agent's key, where the API gave it."""
        return self._handle.agent_key

    @property
    def created_at(self) -> datetime | None:
        """When the session was created, where the API said."""
        return self._handle.created_at

    @property
    def state(self) -> str | None:
        """The ``status`` string of ``GET /sessions/{id}/``."""
        return self._handle.state

    @property
    def agent_config(self) -> Mapping[str, Any] | None:
        """The session's config, as ``GET /sessions/{id}/`` returned it."""
        return self._handle.agent_config

    @property
    def raw(self) -> Mapping[str, Any]:
        """The body the API answered with."""
        return self._handle.raw

    def execute(
        self,
        content: Content,
        *,
        inputs: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Send a message in this session (see ``client.runtime.execute``)."""
        return self._client._run(
            self._handle.execute,
            content,
            inputs=inputs,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )

    def messages(self, limit: int = 50, offset: int = 0) -> MessagePage:
        """One page of this session's history."""
        return self._client._run(self._handle.messages, limit=limit, offset=offset)

    def iter_messages(self, *, page_size: int = 50, offset: int = 0) -> Iterator[Message]:
        """Every message of this session's history, fetching pages lazily."""
        return self._client._iterate(self._handle.iter_messages(page_size=page_size, offset=offset))

    def status(self) -> SessionStatus:
        """The runtime status of this session."""
        return self._client._run(self._handle.status)

    def refresh(self) -> Session:
        """A new handle with what ``GET /sessions/{id}/`` says now."""
        return Session(self._client, self._client._run(self._handle.refresh))


class Sessions:
    """Blocking ``client.sessions`` (see :class:`amas_async.resources.AsyncSessions`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def create(self, config: ConfigTypes) -> Session:
        """Create a session from a config (SessionConfig, mapping, YAML text or file path)."""
        client = self._client
        return Session(client, client._run(client._async.sessions.create, config))

    def from_agent(self, agent_key: str | None = None, *, agent_id: str | None = None) -> Session:
        """Create a session from a saved agent, by key (GET) or by id (POST)."""
        client = self._client
        handle = client._run(client._async.sessions.from_agent, agent_key, agent_id=agent_id)
        return Session(client, handle)

    def get(self, session_id: str) -> Session:
        """A session's details."""
        client = self._client
        return Session(client, client._run(client._async.sessions.get, session_id))


class Runtime:
    """Blocking ``client.runtime`` (see :class:`amas_async.resources.AsyncRuntime`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def execute_many(
        self,
        requests: Requests,
        *,
        concurrency: int = 16,
        rate_limit: float | Throttle | None = None,
        on_result: Callable[[BatchResult], Any] | None = None,
    ) -> list[BatchResult]:
        """Run many executions at once; one :class:`BatchResult` per request, in input order.

        See ``AsyncAmas.runtime.execute_many``. A lazy iterable of requests is read, and
        ``on_result`` is called, in worker threads, not on the client's loop: they may block,
        and may call this client.
        """
        client = self._client
        return client._run(
            client._async.runtime.execute_many,
            _user_input(requests),
            concurrency=concurrency,
            rate_limit=rate_limit,
            on_result=_user_callback(on_result),
        )

    def iter_execute_many(
        self,
        requests: Requests,
        *,
        concurrency: int = 16,
        rate_limit: float | Throttle | None = None,
    ) -> Iterator[BatchResult]:
        """Like :meth:`execute_many`, yielding results as they complete; reads input lazily.

        Leaving the loop early (``break``, or ``close()`` on the iterator) cancels what is in
        flight. A lazy iterable of requests is read in worker threads, as in
        :meth:`execute_many`.
        """
        client = self._client
        return client._iterate(
            client._async.runtime.iter_execute_many(
                _user_input(requests), concurrency=concurrency, rate_limit=rate_limit
            )
        )

    def execute(
        self,
        session_id: str,
        content: Content,
        *,
        inputs: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Send a message to a session's agents and wait for the run to finish."""
        client = self._client
        return client._run(
            client._async.runtime.execute,
            session_id,
            content,
            inputs=inputs,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )

    def messages(self, session_id: str, limit: int = 50, offset: int = 0) -> MessagePage:
        """One page of a session's history."""
        client = self._client
        return client._run(client._async.runtime.messages, session_id, limit=limit, offset=offset)

    def iter_messages(
        self, session_id: str, *, page_size: int = 50, offset: int = 0
    ) -> Iterator[Message]:
        """Every message of a session's history, fetching pages lazily."""
        client = self._client
        return client._iterate(
            client._async.runtime.iter_messages(session_id, page_size=page_size, offset=offset)
        )

    def status(self, session_id: str) -> SessionStatus:
        """A session's runtime status."""
        client = self._client
        return client._run(client._async.runtime.status, session_id)


class Images:
    """Blocking ``client.images`` (see :class:`amas_async.resources.AsyncImages`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def upload(
        self, file: FileTypes, *, filename: str | None = None, media_type: str | None = None
    ) -> ImageUpload:
        """Upload an image; returns its URL, media type and size."""
        client = self._client
        return client._run(
            client._async.images.upload, file, filename=filename, media_type=media_type
        )
