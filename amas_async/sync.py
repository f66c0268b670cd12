"""``Amas``: the blocking shim over :class:`AsyncAmas`, one background event loop per client.

Each client starts, on first use, a daemon thread running an anyio event loop with a blocking
portal; that loop owns the ``AsyncAmas`` and its aiohttp session for the client's whole life.
Every sync method is one call through the portal, with no logic of its own. It works in plain
scripts, from many threads sharing one client, and from code that runs inside an event loop
(a Jupyter cell, a sync function called from async code), where the call blocks the caller.

A blocking call interrupted by Ctrl-C cancels its request and leaves the client usable. A
client that is never closed is closed at interpreter exit, without noise.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._client import AsyncAmas
from ._config import Limits, TimeoutTypes
from ._multipart import FileTypes
from ._transport import Middleware
from .errors import AmasError
from .models import Execution, ImageUpload, Message, MessagePage, SessionStatus
from .resources.runtime import Content
from .resources.sessions import ConfigTypes
from .resources.sessions import Session as AsyncSession

__all__ = ["Amas", "Images", "Runtime", "Session", "Sessions"]

T = TypeVar("T")

_live: weakref.WeakSet[Amas] = weakref.WeakSet()


@atexit.register
def _close_forgotten_clients() -> None:  # pragma: no cover - runs at interpreter exit
    for client in list(_live):
        with contextlib.suppress(BaseException):
            client.close()


class _LoopThread:
    """A daemon thread running an anyio event loop, reachable through a blocking portal."""

    def __init__(self) -> None:
        ready = threading.Event()
        self.portal: BlockingPortal | None = None
        self.error: BaseException | None = None

        async def main() -> None:
            async with BlockingPortal() as portal:
                self.portal = portal
                ready.set()
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(main)
            except BaseException as exc:  # pragma: no cover - surfaced to the caller below
                self.error = exc
                ready.set()

        self.thread = threading.Thread(target=run, name="amas-sync-loop", daemon=True)
        self.thread.start()
        ready.wait()
        if self.portal is None:  # pragma: no cover
            raise AmasError(f"could not start the client's event loop: {self.error!r}")

    def call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``func(*args, **kwargs)`` on the loop and wait; Ctrl-C cancels it there."""
        assert self.portal is not None
        if threading.current_thread() is self.thread:
            raise AmasError("a sync Amas method was called from its own event loop thread")
        future: Future[T] = self.portal.start_task_soon(_call_with_kwargs, func, args, kwargs)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt (or any interruption of the wait): cancel the request itself.
            if not future.done():
                future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        if self.portal is not None:
            with contextlib.suppress(RuntimeError):
                self.portal.call(self.portal.stop)
        self.thread.join(timeout=10)


async def _call_with_kwargs(
    func: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    return await func(*args, **kwargs)


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
        retry: None = None,
        max_retries: int | None = None,
        *,
        limits: Limits | None = None,
        default_headers: Mapping[str, str] | None = None,
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        self._async = AsyncAmas(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            max_retries=max_retries,
            limits=limits,
            default_headers=default_headers,
            middlewares=middlewares,
        )
        self._init_shared()

    def _init_shared(self) -> None:
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.sessions = Sessions(self)
        self.runtime = Runtime(self)
        self.images = Images(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._loop else "new"
        return f"Amas(base_url={self._async.base_url!r}, {state})"

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._async.base_url

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    @property
    def async_client(self) -> AsyncAmas:
        """The :class:`AsyncAmas` this client drives (it lives on the background loop)."""
        return self._async

    def _run(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._closed:
                    raise AmasError("this client is closed; create a new Amas")
                if self._loop is None:
                    self._loop = _LoopThread()
                    _live.add(self)
                loop = self._loop
        return loop.call(func, *args, **kwargs)

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """A plain iterator over an async iterator, one step per portal call."""
        try:
            while True:
                try:
                    yield self._run(iterator.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and not self._closed:
                self._run(aclose)

    def session(self, session_id: str) -> Session:
        """A handle on an existing session; no request is made."""
        return Session(self, self._async.session(session_id))

    def close(self) -> None:
        """Close the connection pool and stop the background loop. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, self._loop = self._loop, None
        _live.discard(self)
        if loop is not None:
            try:
                loop.call(self._async.aclose)
            finally:
                loop.stop()

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
        """Send a message in this session (see ``AsyncAmas.runtime.execute``)."""
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
