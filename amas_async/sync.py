"""``Amas``: the blocking shim over :class:`AsyncAmas`, on an event loop run by its callers.

Each client owns one asyncio event loop, made on first use, on which its ``AsyncAmas`` and
its connection pool live for the client's whole life (the clients ``with_options`` derives
from it share both). The loop has no thread of its own. A blocking call made from a thread
with no running event loop (a script, a worker thread) runs the loop in that thread until
the call is done: no thread hand-off, so a sync call costs little more than awaiting the
async one. Every sync method is one such call, with no logic of its own.

Many threads may share one client. The first caller to find the loop idle drives it; a call
made meanwhile from another thread is handed to the running loop
(``loop.call_soon_threadsafe``) and its thread waits. When the driving thread's own call is
done while others are still in flight, it hands the loop to a helper thread
(``amas-sync-loop``, started on first need, idle otherwise), which runs the loop until no call
is left; the next caller drives again. A call from code that runs inside an event loop (a
Jupyter cell, a sync function called from async code) cannot run a second loop in its
thread: it blocks its thread while the helper thread runs the call. Who drives is decided
under one lock, so every call reaches a loop that someone is running, and one thread at a
time runs it. A sync call from the client's own loop (a middleware) is refused.

Between calls nothing runs the loop: a call that starts it first lets the loop look at what
its sockets got meanwhile, so a pooled connection that the server closed is not reused.

Ctrl-C during a blocking call in the main thread works as under :class:`asyncio.Runner`:
while the call runs, the SIGINT handler in force is wrapped so that what it raises (the
default one raises ``KeyboardInterrupt``) cancels the request on the loop and is raised once
the cancellation has wound down, never from the middle of the loop's own code; another press
while waiting raises at once. The client stays usable. Closing cancels the calls in flight
(they raise :class:`AmasError`), closes the pool and then the loop. A client that is never
closed is closed when it is garbage-collected or at interpreter exit, without noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import signal
import sys
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
from types import FrameType, TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ._client import AsyncAmas
from ._config import NOT_GIVEN, Limits, NotGiven, Timeout, TimeoutTypes
from ._http import AsyncTransport, Middleware
from ._multipart import FileTypes
from ._retry import RetryPolicy
from ._throttle import Throttle
from .batch import BatchResult, Requests
from .errors import AmasError
from .models import (
    AddFilesResult,
    Agent,
    ChunkingStrategy,
    Collection,
    ConfigValidation,
    Content,
    EmbeddingConfig,
    Execution,
    File,
    ImageUpload,
    KnowledgeBase,
    KnowledgeBaseStatus,
    Message,
    MessagePage,
    SessionStatus,
)
from .resources._config_body import ConfigTypes
from .resources.sessions import Session as AsyncSession

__all__ = [
    "Agents",
    "Amas",
    "Collections",
    "Files",
    "Images",
    "KnowledgeBases",
    "Runtime",
    "Session",
    "Sessions",
]

T = TypeVar("T")

_CLOSED = "this client is closed; create a new Amas"
_OWN_LOOP = (
    "a sync Amas method was called on the client's own event loop (from a middleware?); "
    "use the AsyncAmas there"
)
#: Seconds an interrupted call waits for its cancelled request to wind down on the loop.
_CANCEL_GRACE = 5.0
#: Seconds closing waits for the calls it cancels, and for the helper thread, to finish.
_JOIN_TIMEOUT = 10.0
#: Seconds between the main thread's checks for a signal while it waits for another thread's
#: loop: a signal that lands just before a lock wait begins does not interrupt the wait.
_SIGNAL_CHECK = 0.1
_LOOP_THREAD = "amas-sync-loop"

# The C functions under ``signal.getsignal``/``signal.signal``: the wrappers turn the handler
# into an enum member by trying and failing, ~4 us each, and a call swaps the handler twice.
_signals: Any = sys.modules.get("_signal", signal)
_getsignal: Callable[[int], Any] = _signals.getsignal
_setsignal: Callable[[int, Any], Any] = _signals.signal
_SIGINT = int(signal.SIGINT)


class _Helper(enum.Enum):
    """The helper thread, as the loop's driver."""

    HELPER = "HELPER"


_HELPER = _Helper.HELPER


async def _invoke(
    func: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    return await func(*args, **kwargs)


async def _driven(call: _Call) -> Any:
    """The call of the thread that drives the loop; it stops the loop itself when done.

    Stopping here, rather than in a done callback, saves the loop an iteration per call.
    """
    task = call.task
    if task is not None:  # the done callback was there in case this never started
        task.remove_done_callback(call.settled)
    try:
        # The loop was idle until now: let it handle what its sockets got meanwhile (a server
        # closing a pooled connection, say) before the call picks a connection.
        await asyncio.sleep(0)
        return await call.func(*call.args, **call.kwargs)
    finally:
        call.runner.account(call)


class _Call:
    """One blocking call: its task on the loop, and how its thread learns that it is done."""

    __slots__ = (
        "accounted",
        "args",
        "blocking",
        "func",
        "interrupt",
        "interrupted",
        "kwargs",
        "previous",
        "runner",
        "task",
        "wake",
    )

    def __init__(
        self,
        runner: _Runner,
        func: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.runner = runner
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.task: asyncio.Task[Any] | None = None
        #: Held until the call is done, for a thread that waits (not for the loop's driver).
        self.wake: threading.Lock | None = None
        #: Cancelled by Ctrl-C (or another interruption) in its thread.
        self.interrupted = False
        #: What the SIGINT handler raised, to raise once the cancelled call has wound down.
        self.interrupt: BaseException | None = None
        #: The SIGINT handler in force before this call's (in the main thread).
        self.previous: Callable[[int, FrameType | None], Any] | None = None
        #: Its thread is blocked in the wait or in the loop (where a second Ctrl-C may raise).
        self.blocking = False
        #: No longer counted as pending.
        self.accounted = False

    def start(self, loop: asyncio.AbstractEventLoop, driven: bool) -> None:
        """Make its task (on the loop, or in the driver's thread before it runs the loop)."""
        if driven:
            task = loop.create_task(_driven(self))
        else:
            task = loop.create_task(_invoke(self.func, self.args, self.kwargs))
        # (A driven call accounts for itself once started, and removes this then.)
        task.add_done_callback(self.settled)
        self.task = task  # (only once it will settle)
        if self.interrupted:  # Ctrl-C came before the task existed
            task.cancel()

    def settled(self, task: asyncio.Task[Any]) -> None:
        """On the loop: its task is done."""
        self.runner.settle(self)

    def begin(self) -> None:
        """On the loop: start a call handed over by a thread that waits."""
        loop = self.runner.loop
        assert loop is not None
        self.start(loop, False)

    def cancel(self) -> None:
        """On the loop: cancel the call (if its task does not exist yet, ``start`` will)."""
        if self.task is not None:
            self.task.cancel()

    def on_sigint(self, signum: int, frame: FrameType | None) -> None:
        """The SIGINT handler while this call runs in the main thread.

        It runs the handler it replaced (``signal.default_int_handler`` raises
        ``KeyboardInterrupt``) and, as :class:`asyncio.Runner` does, turns what that raises
        into a cancellation of the call on the loop, raised once the call has wound down:
        never from the middle of the loop's own code. Another signal while the thread waits
        runs the handler as it is.
        """
        previous = self.previous
        assert previous is not None
        if self.interrupted:
            if self.blocking:
                previous(signum, frame)
            return
        try:
            previous(signum, frame)
        except BaseException as exc:
            self.interrupt = exc
            self.interrupted = True
            loop = self.runner.loop
            if loop is not None:
                # (also wakes the loop if the main thread waits in it; closed: nothing to do)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self.cancel)

    def outcome(self) -> Any:
        """The call's result, once its task is done."""
        task = self.task
        if task is None or task.cancelled():
            if self.interrupted:
                raise self.interrupt or KeyboardInterrupt()
            # Not ours: close() in another thread cancelled it.
            raise AmasError(_CLOSED)
        return task.result()


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

    A lazy iterable (a generator, say) is the caller's code: stepped on the loop, it
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
    """The event loop shared by a client and the clients derived from it, and who drives it.

    It holds the root :class:`AsyncAmas` (whose pool every derived client shares) but no
    reference to any sync client, so a forgotten client can be garbage-collected and its
    finalizer can close this.

    Under ``_lock``: ``_driver`` is who runs the loop (a caller's :class:`_Call`, the helper
    thread, or nobody); ``_pending`` counts the calls accepted and not yet settled. A caller
    that finds no driver becomes it; others hand their call to the loop and wait. The loop
    stops when its driver's own call settles, or when no call is left; a caller leaving with
    calls still pending hands the loop to the helper thread, which leaves only when none is.
    """

    def __init__(self, root: AsyncAmas) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._wanted = threading.Condition(self._lock)  # the helper waits on it
        self.loop: asyncio.AbstractEventLoop | None = None
        self._driver: _Call | _Helper | None = None
        self._pending = 0
        self._helper: threading.Thread | None = None
        self.closed = False
        self._finishing: _Call | None = None  # the call that closes the pool and the loop
        self._ended = False  # the loop is closed

    @property
    def started(self) -> bool:
        """True once the loop exists (after the first call)."""
        return self.loop is not None

    def on_own_loop(self) -> bool:
        """True when called from a callback or task running on this runner's loop."""
        running = asyncio._get_running_loop()
        return running is not None and running is self.loop

    # ---- calls ------------------------------------------------------------------------------

    def call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop and wait; Ctrl-C cancels it there."""
        running = asyncio._get_running_loop()
        if running is not None and running is self.loop:
            raise AmasError(_OWN_LOOP)  # blocking the loop on itself would deadlock
        call = _Call(self, func, args, kwargs)
        handler = None
        main = threading.current_thread() is threading.main_thread()
        if main:
            previous = _getsignal(_SIGINT)
            if callable(previous):  # a Python handler (not SIG_IGN or SIG_DFL)
                call.previous = previous
                handler = call.on_sigint
                _setsignal(_SIGINT, handler)
        try:
            if self._admit(call, running):
                self._drive(call)
            else:
                self._wait(call, main)
        finally:
            if handler is not None and _getsignal(_SIGINT) is handler:
                _setsignal(_SIGINT, call.previous)
        result: T = call.outcome()
        return result

    def _admit(self, call: _Call, running: object) -> bool:
        """Accept ``call``; True if the calling thread is to drive the loop for it."""
        with self._lock:
            if self.closed:
                raise AmasError(_CLOSED)
            return self._accept(call, running)

    def _accept(self, call: _Call, running: object) -> bool:
        """``_admit`` with the lock held."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.new_event_loop()
        self._pending += 1
        if self._driver is None and running is None:
            self._driver = call
            return True
        wake = call.wake = threading.Lock()
        wake.acquire()
        if self._driver is None:  # called from inside another event loop
            self._call_helper()
        loop.call_soon_threadsafe(call.begin)
        return False

    def _drive(self, call: _Call) -> None:
        """Run the loop in this thread until ``call`` is done, then hand the loop on."""
        loop = self.loop
        assert loop is not None
        try:
            call.start(loop, True)
            task = call.task
            assert task is not None
            call.blocking = True
            try:
                # A client closed meanwhile finishes closing here, rather than in the helper.
                while not task.done() or self._closing():
                    loop.run_forever()
            except BaseException:
                if not task.done() and not call.interrupted:
                    # Interrupted otherwise (by a signal handler installed meanwhile, say):
                    # cancel the request and give the cancellation a moment to finish, so
                    # that its connection is released before the caller goes on.
                    call.interrupted = True
                    task.cancel()
                    task.add_done_callback(call.settled)  # its outcome, should it be left
                    timer = loop.call_later(_CANCEL_GRACE, loop.stop)
                    try:
                        loop.run_forever()  # until the call settles or the grace runs out
                    finally:
                        timer.cancel()
                raise
            finally:
                call.blocking = False
        finally:
            with self._lock:
                if call.task is None:  # interrupted before its task existed: it never settles
                    call.accounted = True
                    self._pending -= 1
                self._leave()

    def _closing(self) -> bool:
        """True while the closing call is still to finish."""
        finishing = self._finishing
        return finishing is not None and (finishing.task is None or not finishing.task.done())

    def _wait(self, call: _Call, main: bool) -> None:
        """Wait for a call that another thread's loop runs."""
        wake = call.wake
        assert wake is not None
        call.blocking = True
        try:
            if main:  # where signal handlers run (between the waits)
                while not wake.acquire(timeout=_SIGNAL_CHECK):
                    pass
            else:
                wake.acquire()
        except BaseException:
            if not call.interrupted:
                call.interrupted = True
                loop = self.loop
                assert loop is not None
                with contextlib.suppress(RuntimeError):  # closed: the call is over already
                    loop.call_soon_threadsafe(call.cancel)
                wake.acquire(timeout=_CANCEL_GRACE)
            raise
        finally:
            call.blocking = False

    def account(self, call: _Call) -> None:
        """On the loop: ``call`` is over; stop the loop if its driver was waiting for that."""
        with self._lock:
            if call.accounted:
                return
            call.accounted = True
            self._pending -= 1
            if self._driver is call or not self._pending or self.closed:
                assert self.loop is not None
                self.loop.stop()  # its driver looks at what is left, and goes on or leaves

    def settle(self, call: _Call) -> None:
        """On the loop: ``call``'s task is done; wake its thread if one waits."""
        self.account(call)
        task = call.task
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: its thread reads it, or is gone (interrupted)
        if call.wake is not None:
            call.wake.release()

    def _leave(self) -> None:
        """The driver stops driving; the lock is held."""
        if self._pending:
            self._call_helper()
            return
        self._driver = None
        if self.closed:
            self._end()

    def _call_helper(self) -> None:
        """Make the helper thread the driver (starting it on first need); the lock is held."""
        self._driver = _HELPER
        if self._helper is None:
            self._helper = threading.Thread(target=self._help, name=_LOOP_THREAD, daemon=True)
            self._helper.start()
        else:
            self._wanted.notify()

    def _help(self) -> None:
        """The helper thread: drive the loop whenever asked, until no call is pending."""
        while True:
            with self._lock:
                while self._driver is not _HELPER:
                    if self._ended:
                        return
                    self._wanted.wait()
                loop = self.loop
            assert loop is not None
            while True:
                # SystemExit or KeyboardInterrupt raised by a call's own code: its task
                # carries it to the call's thread.
                with contextlib.suppress(KeyboardInterrupt, SystemExit):
                    loop.run_forever()
                with self._lock:
                    if not self._pending:
                        self._leave()
                        break

    def _end(self) -> None:
        """Close the loop: closed, nothing pending, nobody driving; the lock is held."""
        loop = self.loop
        assert loop is not None
        loop.close()
        self._ended = True
        self._wanted.notify_all()

    # ---- closing ----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Cancel the calls in flight, close the root client's pool and the loop. Idempotent."""
        if threading.current_thread() is self._helper:
            # A GC pass on the helper thread, perhaps inside one of its locked sections.
            threading.Thread(target=self.shutdown, name="amas-sync-close", daemon=True).start()
            return
        running = asyncio._get_running_loop()
        call = _Call(self, self._finish, (), {})
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self.loop is None:  # never used: there is nothing to close
                self._ended = True
                return
            self._finishing = call
            drive = self._accept(call, running)
        if drive:
            self._drive(call)
        elif running is self.loop:
            return  # on the loop itself: its driver finishes closing when this callback ends
        else:
            assert call.wake is not None
            call.wake.acquire()
        helper = self._helper
        if helper is not None:
            helper.join(_JOIN_TIMEOUT)

    async def _finish(self) -> None:
        """On the loop: cancel every other task, close the pool, then what the loop holds."""
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=_JOIN_TIMEOUT)
        try:
            await self._root.aclose()
        finally:
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()
            await asyncio.sleep(0)  # the transports' connection_lost callbacks


class Amas:
    """The blocking AMAS client: the same names and arguments as :class:`AsyncAmas`.

    ``api_key`` defaults to ``AMAS_API_KEY`` and ``base_url`` to ``AMAS_BASE_URL`` (else the
    public API); ``timeout``, ``retry``, ``max_retries``, ``limits``, ``default_headers``,
    ``middlewares``, ``throttle``, ``transport`` and ``allow_insecure_http`` mean what they
    mean for :class:`AsyncAmas` (middlewares and the transport stay async: they run on the
    client's own event loop). Every method blocks until its call is done and returns what
    the async one returns; iterators are plain iterators. The calls are grouped as in the
    async client: ``sessions`` (:class:`Sessions`), ``runtime`` (:class:`Runtime`),
    ``images`` (:class:`Images`), ``agents`` (:class:`Agents`), ``files`` (:class:`Files`),
    ``collections`` (:class:`Collections`) and ``knowledge_bases`` (:class:`KnowledgeBases`).

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
        allow_insecure_http: bool | None = None,
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
            allow_insecure_http=allow_insecure_http,
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
        self.agents = Agents(self)
        self.files = Files(self)
        self.collections = Collections(self)
        self.knowledge_bases = KnowledgeBases(self)

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
        """The transport that sends this client's requests (on the client's event loop)."""
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
            if aclose is not None and not self.is_closed and not self._runner.on_own_loop():
                # Nothing to report from here: a closed client, or a generator still running
                # after an interrupted step, leave it to the loop's own finalization.
                with contextlib.suppress(AmasError, RuntimeError):
                    self._run(aclose)

    def session(self, session_id: str) -> Session:
        """A handle on an existing session; no request is made."""
        return Session(self, self._async.session(session_id))

    def close(self) -> None:
        """Close the connection pool and the client's event loop. Idempotent.

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
    """A blocking handle on one AMAS session (see :class:`amas_async.Session`).

    ``client.session(id)`` makes one without a request; ``sessions.create``, ``from_agent``
    and ``get`` fill in what the server answered. Two handles are equal when they name the
    same session on the same client.
    """

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
        """When the session was created (timezone-aware), where the API said."""
        return self._handle.created_at

    @property
    def state(self) -> str | None:
        """The ``status`` string of ``GET /sessions/{id}/`` (``"active"``), if the API gave it."""
        return self._handle.state

    @property
    def agent_config(self) -> Mapping[str, Any] | None:
        """The session's config, as ``GET /sessions/{id}/`` returned it."""
        return self._handle.agent_config

    @property
    def raw(self) -> Mapping[str, Any]:
        """The body the API answered with (empty for a handle made by ``client.session``)."""
        return self._handle.raw

    def execute(
        self,
        content: Content,
        *,
        inputs: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Send a message in this session and wait for the run to finish.

        The arguments, the :class:`Execution` returned and the errors raised are those of
        :meth:`Runtime.execute`; an ``error`` or ``timeout`` run raises
        :class:`ExecutionError`.
        """
        return self._client._run(
            self._handle.execute,
            content,
            inputs=inputs,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )

    def messages(self, limit: int = 50, offset: int = 0) -> MessagePage:
        """One page of this session's history, oldest first: a :class:`MessagePage`.

        At most ``limit`` messages (default 50) from ``offset`` (default 0); the page's
        ``next_offset`` is where the next one starts.
        """
        return self._client._run(self._handle.messages, limit=limit, offset=offset)

    def iter_messages(self, *, page_size: int = 50, offset: int = 0) -> Iterator[Message]:
        """Every message of this session's history from ``offset``, oldest first.

        A plain iterator; pages of ``page_size`` messages are fetched as the loop needs them.
        """
        return self._client._iterate(self._handle.iter_messages(page_size=page_size, offset=offset))

    def status(self) -> SessionStatus:
        """The runtime status of this session: a :class:`SessionStatus`."""
        return self._client._run(self._handle.status)

    def refresh(self) -> Session:
        """A new handle with what ``GET /sessions/{id}/`` says now; this one is not changed."""
        return Session(self._client, self._client._run(self._handle.refresh))


class Sessions:
    """Blocking ``client.sessions`` (see :class:`amas_async.resources.AsyncSessions`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def create(self, config: ConfigTypes, *, idempotency_key: str | None = None) -> Session:
        """Create a session from a config; returns a :class:`Session`.

        ``config`` is a :class:`SessionConfig`, a wire-shape mapping, YAML text, or a path to a
        YAML or JSON file, in either documented form. A config that cannot be valid raises
        :class:`ConfigValidationError` before any request. ``idempotency_key`` replaces the
        key the SDK makes for the call.
        """
        client = self._client
        handle = client._run(client._async.sessions.create, config, idempotency_key=idempotency_key)
        return Session(client, handle)

    def from_agent(
        self,
        agent_key: str | None = None,
        *,
        agent_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Create a session from a saved agent's deployed version; returns a :class:`Session`.

        Give exactly one: ``agent_key`` sends ``GET /sessions/from-agent/?agent_key=...``,
        ``agent_id=`` sends ``POST /sessions/from-agent/{agent_id}/`` (which alone takes an
        ``idempotency_key``).
        """
        client = self._client
        handle = client._run(
            client._async.sessions.from_agent,
            agent_key,
            agent_id=agent_id,
            idempotency_key=idempotency_key,
        )
        return Session(client, handle)

    def get(self, session_id: str) -> Session:
        """A session's details (config hash, creation time, status, agent config).

        An unknown id raises :class:`NotFoundError`.
        """
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

        ``requests`` is an iterable of :class:`ExecuteRequest` (or mappings with its keys).
        Requests for one session run in input order, different sessions concurrently, up to
        ``concurrency`` (default 16); ``rate_limit`` is requests per second or a
        :class:`Throttle`. One failure never stops the others: it is the ``error`` of its
        result. A lazy iterable of requests is read, and ``on_result`` is called, in worker
        threads, not on the client's loop: they may block, and may call this client.
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
        """Send a message to a session's agents and wait for the run to finish.

        ``content`` is a string, a part (:class:`TextPart`, :class:`ImagePart`,
        :class:`FilePart`, :class:`ImageUpload`, a wire-shape mapping) or a list of parts;
        ``inputs`` fills the config's variables; ``correlation_id`` is echoed back;
        ``idempotency_key`` replaces the key the SDK makes. Returns the :class:`Execution`
        (its ``text`` is the reply), from any of the three documented answer shapes. A run
        that ended ``error`` or ``timeout`` raises :class:`ExecutionError`; an execution is
        retried only where it cannot have run.
        """
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
        """One page of a session's history, oldest first: a :class:`MessagePage`.

        ``limit`` (default 50, at least 1) and ``offset`` (default 0) are sent as given.
        """
        client = self._client
        return client._run(client._async.runtime.messages, session_id, limit=limit, offset=offset)

    def iter_messages(
        self, session_id: str, *, page_size: int = 50, offset: int = 0
    ) -> Iterator[Message]:
        """Every message of a session's history from ``offset``, fetching pages lazily.

        A plain iterator; each page asks for ``page_size`` messages (default 50).
        """
        client = self._client
        return client._iterate(
            client._async.runtime.iter_messages(session_id, page_size=page_size, offset=offset)
        )

    def status(self, session_id: str) -> SessionStatus:
        """A session's runtime status: a :class:`SessionStatus` (``active``, ``processing`` ...)."""
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
        """Upload an image; returns an :class:`ImageUpload` (its URL, media type and size).

        ``file`` is a path (streamed from disk), bytes or a binary file object; the media type
        is read from the content, else the name, unless ``media_type`` is given. A missing,
        empty or non-image file raises before anything is sent.
        """
        client = self._client
        return client._run(
            client._async.images.upload, file, filename=filename, media_type=media_type
        )


class Agents:
    """Blocking ``client.agents`` (see :class:`amas_async.resources.AsyncAgents`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def list(self) -> list[Agent]:
        """Every saved agent of the account (all pages, if the server paginates)."""
        client = self._client
        return client._run(client._async.agents.list)

    def iter(self) -> Iterator[Agent]:
        """Every saved agent, as a plain iterator, fetched a page at a time."""
        client = self._client
        return client._iterate(client._async.agents.iter())

    def get(self, agent_id: str) -> Agent:
        """One saved agent, by id; an unknown id raises :class:`NotFoundError`."""
        client = self._client
        return client._run(client._async.agents.get, agent_id)

    def create(self, config: ConfigTypes) -> Agent:
        """Save an agent from a config; sends ``{"system_config": <config>}``.

        ``config`` is a :class:`SessionConfig`, an :class:`AgentConfig` (the flat
        single-agent form), a wire-shape mapping, YAML text or a path to a YAML or JSON file;
        it needs a ``name`` and is checked locally first. Returns the saved :class:`Agent`.
        Not retried where it may have run.
        """
        client = self._client
        return client._run(client._async.agents.create, config)

    def update(self, agent_id: str, partial: Mapping[str, Any]) -> Agent:
        """Change part of a saved agent's config: ``PATCH {"system_config": partial}``.

        ``partial`` holds only the fields to change; returns the updated :class:`Agent`.
        """
        client = self._client
        return client._run(client._async.agents.update, agent_id, partial)

    def delete(self, agent_id: str) -> None:
        """Delete a saved agent (``DELETE /agent/{id}/``); any 2xx is success."""
        client = self._client
        client._run(client._async.agents.delete, agent_id)

    def validate(self, config: ConfigTypes) -> ConfigValidation:
        """Ask the server whether a config is valid; returns a :class:`ConfigValidation`.

        Its ``valid``, ``message`` and ``errors`` are read whether the server answers an
        invalid config with 200 or with 400 or 422. Nothing is checked locally.
        """
        client = self._client
        return client._run(client._async.agents.validate, config)


class Files:
    """Blocking ``client.files`` (see :class:`amas_async.resources.AsyncFiles`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def upload(
        self,
        file: FileTypes,
        *,
        tags: Sequence[str] | None = None,
        filename: str | None = None,
        media_type: str | None = None,
    ) -> File:
        """Upload a document; it starts ``uploading``, :meth:`wait` follows it to ``active``.

        ``file`` is a path (streamed from disk), bytes (with ``filename``) or a binary file
        object; ``tags`` go as one comma-separated field (a tag cannot hold a comma). Returns
        the :class:`File`. A missing, empty or unreadable file raises before anything is sent.
        Not retried where it may have run.
        """
        client = self._client
        return client._run(
            client._async.files.upload, file, tags=tags, filename=filename, media_type=media_type
        )

    def list(
        self,
        *,
        file_type: str | None = None,
        status: str | None = None,
        search: str | None = None,
        tags: Sequence[str] | None = None,
        include_deleted: bool | None = None,
    ) -> list[File]:
        """The account's files, filtered (all pages): a list of :class:`File`.

        ``file_type``, ``status``, ``search`` (part of a name), ``tags`` (sent as
        ``tags=a&tags=b``) and ``include_deleted`` filter; a filter left None is not sent.
        """
        client = self._client
        return client._run(
            client._async.files.list,
            file_type=file_type,
            status=status,
            search=search,
            tags=tags,
            include_deleted=include_deleted,
        )

    def iter(
        self,
        *,
        file_type: str | None = None,
        status: str | None = None,
        search: str | None = None,
        tags: Sequence[str] | None = None,
        include_deleted: bool | None = None,
    ) -> Iterator[File]:
        """The files :meth:`list` returns, as a plain iterator, fetched a page at a time."""
        client = self._client
        return client._iterate(
            client._async.files.iter(
                file_type=file_type,
                status=status,
                search=search,
                tags=tags,
                include_deleted=include_deleted,
            )
        )

    def get(self, file_id: str) -> File:
        """One file, with ``processing_info`` once processed.

        An unknown id raises :class:`NotFoundError`.
        """
        client = self._client
        return client._run(client._async.files.get, file_id)

    def delete(self, file_id: str) -> None:
        """Delete a file (``DELETE /files/{id}/``); any 2xx is success."""
        client = self._client
        client._run(client._async.files.delete, file_id)

    def wait(
        self,
        file_id: str,
        *,
        timeout: float | None = 300.0,
        poll_interval: float = 1.0,
        on_poll: Callable[[File], Any] | None = None,
    ) -> File:
        """Poll a file until it is ``active``; returns it.

        Reads it every ``poll_interval`` seconds (default 1). Raises :class:`ProcessingError`
        if it ends in ``error`` (or is ``deleted``), :class:`WaitTimeoutError` after
        ``timeout`` seconds (default 300; None: no limit). ``on_poll`` gets every file read;
        it runs on the client's loop (in the calling thread when that thread drives it), so it
        must not block for long nor call this client.
        """
        client = self._client
        return client._run(
            client._async.files.wait,
            file_id,
            timeout=timeout,
            poll_interval=poll_interval,
            on_poll=on_poll,
        )


class Collections:
    """Blocking ``client.collections`` (see :class:`amas_async.resources.AsyncCollections`)."""

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def list(self, *, status: str | None = None, search: str | None = None) -> list[Collection]:
        """The account's collections (all pages): a list of :class:`Collection`.

        ``status`` and ``search`` (part of a name or description) filter; a filter left None
        is not sent.
        """
        client = self._client
        return client._run(client._async.collections.list, status=status, search=search)

    def iter(self, *, status: str | None = None, search: str | None = None) -> Iterator[Collection]:
        """The collections :meth:`list` returns, as a plain iterator, a page at a time."""
        client = self._client
        return client._iterate(client._async.collections.iter(status=status, search=search))

    def create(self, name: str, *, description: str | None = None) -> Collection:
        """Create an empty collection; returns it. Not retried where it may have run."""
        client = self._client
        return client._run(client._async.collections.create, name, description=description)

    def get(self, collection_id: str) -> Collection:
        """One collection, with its ``datasources``; an unknown id raises :class:`NotFoundError`."""
        client = self._client
        return client._run(client._async.collections.get, collection_id)

    def add_files(self, collection_id: str, file_ids: Sequence[str]) -> AddFilesResult:
        """Add files to a collection; returns an :class:`AddFilesResult`.

        A file the server could not add is reported there, not raised. Not retried where it
        may have run.
        """
        client = self._client
        return client._run(client._async.collections.add_files, collection_id, file_ids)


class KnowledgeBases:
    """Blocking ``client.knowledge_bases``.

    See :class:`amas_async.resources.AsyncKnowledgeBases`.
    """

    __slots__ = ("_client",)

    def __init__(self, client: Amas) -> None:
        self._client = client

    def create(
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

        At least one ``selected_*`` id is required (or ``collections``, the older field name),
        and ``new_collection_name`` with ``save_as_collection``; ``chunking_strategy`` and
        ``embedding_config`` take a :class:`ChunkingStrategy` / :class:`EmbeddingConfig` or a
        mapping. Options left at their default are not sent. Returns the
        :class:`KnowledgeBase`. Not retried where it may have run; follow the processing with
        :meth:`check_status` or :meth:`wait`.
        """
        client = self._client
        return client._run(
            client._async.knowledge_bases.create,
            name,
            selected_collections=selected_collections,
            selected_datasources=selected_datasources,
            processing_engine=processing_engine,
            description=description,
            chunking_strategy=chunking_strategy,
            embedding_config=embedding_config,
            save_as_collection=save_as_collection,
            new_collection_name=new_collection_name,
            new_collection_description=new_collection_description,
            collections=collections,
        )

    def get(self, kb_id: str) -> KnowledgeBase:
        """One knowledge base (either documented answer shape); unknown: :class:`NotFoundError`."""
        client = self._client
        return client._run(client._async.knowledge_bases.get, kb_id)

    def update(self, kb_id: str, **fields: Any) -> KnowledgeBase:
        """Change documented fields (``name``, ``description`` ...): a PATCH.

        Only the fields the docs list are accepted (another raises before sending); returns
        the updated :class:`KnowledgeBase`.
        """
        client = self._client
        return client._run(client._async.knowledge_bases.update, kb_id, **fields)

    def check_status(self, kb_id: str) -> KnowledgeBaseStatus:
        """The processing status: a :class:`KnowledgeBaseStatus`.

        Asks ``.../check_status/``, or the older ``.../status/`` when that answers 404 (and
        first from then on).
        """
        client = self._client
        return client._run(client._async.knowledge_bases.check_status, kb_id)

    def wait(
        self,
        kb_id: str,
        *,
        timeout: float | None = 1800.0,
        poll_interval: float = 2.0,
        on_poll: Callable[[KnowledgeBaseStatus], Any] | None = None,
    ) -> KnowledgeBase:
        """Poll :meth:`check_status` until ``completed``; returns the knowledge base.

        Reads the status every ``poll_interval`` seconds (default 2). Raises
        :class:`ProcessingError` if processing fails, :class:`WaitTimeoutError` after
        ``timeout`` seconds (default 1800; None: no limit). ``on_poll`` gets every status
        read; it runs on the client's loop (in the calling thread when that thread drives
        it), so it must not block for long nor call this client.
        """
        client = self._client
        return client._run(
            client._async.knowledge_bases.wait,
            kb_id,
            timeout=timeout,
            poll_interval=poll_interval,
            on_poll=on_poll,
        )
