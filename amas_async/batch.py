"""Many executions at once: bounded concurrency, per-session order, one result per request.

A batch is a pure function over a ``send`` callable (one :class:`ExecuteRequest` in, one
:class:`~amas_async.models.Execution` out); it knows nothing about clients, HTTP or retries.
``execute_many`` returns one :class:`BatchResult` per request, in input order;
``iter_execute_many`` yields them as they complete and reads its input lazily, so a batch of a
million requests runs in bounded memory. Requests for the same session run one after another,
in input order (a conversation is sequential, and AMAS limits concurrent requests per
session); different sessions run concurrently, up to ``concurrency``. One failure never stops
the others: it becomes the ``error`` of its result.

Rate shaping belongs to whoever builds ``send``: ``client.runtime.execute_many`` turns its
``rate_limit`` into a :class:`Throttle` with :func:`throttle_for` and puts it under the retry
layer, so every attempt passes it.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
)
from typing import Any, TypeAlias

import attrs

from ._checks import check_int
from ._throttle import Throttle
from .errors import AmasError, InvalidContentError, InvalidRequestError
from .models import Content, Execution

__all__ = [
    "TASK_PREFIX",
    "BatchResult",
    "ExecuteRequest",
    "Requests",
    "ResultCallback",
    "Send",
    "execute_many",
    "iter_execute_many",
    "throttle_for",
]

#: The name of every task a batch starts begins with this.
TASK_PREFIX = "amas-batch-"
_REQUEST_KEYS = frozenset(("session_id", "content", "inputs", "correlation_id", "idempotency_key"))


@attrs.frozen(kw_only=True)
class ExecuteRequest:
    """One execution of a batch: what ``runtime.execute`` takes, as a value.

    ``ExecuteRequest(session_id=..., content=...)``, keyword arguments only; a batch also
    takes a mapping with these keys (see :meth:`of`). The values are checked when the request
    is sent, as ``runtime.execute`` checks them: a bad one becomes that result's ``error``.
    """

    session_id: str
    """The session to execute in."""
    content: Content
    """The message: text, one part, or a list of parts (as ``runtime.execute`` takes)."""
    inputs: Mapping[str, Any] | None = None
    """Values for the config's variables (None: none sent)."""
    correlation_id: str | None = None
    """A tracking id the server echoes back (None: none sent)."""
    idempotency_key: str | None = None
    """The ``Idempotency-Key`` of the call (None: the SDK makes one)."""

    @classmethod
    def of(cls, value: ExecuteRequest | Mapping[str, Any]) -> ExecuteRequest:
        """An :class:`ExecuteRequest` from itself or from a mapping with the same keys.

        A mapping with unknown keys, or without ``session_id`` and ``content``, raises
        :class:`InvalidRequestError`; a value of another type :class:`InvalidContentError`.
        """
        if isinstance(value, ExecuteRequest):
            return value
        if not isinstance(value, Mapping):
            raise InvalidContentError(
                f"a batch request is an ExecuteRequest or a mapping, not {type(value).__name__}"
            )
        unknown = set(value) - _REQUEST_KEYS
        if unknown:
            raise InvalidRequestError(
                f"unknown keys in a batch request: {sorted(unknown)}; "
                f"expected {sorted(_REQUEST_KEYS)}"
            )
        missing = {"session_id", "content"} - set(value)
        if missing:
            raise InvalidRequestError(f"a batch request needs {sorted(missing)}")
        return cls(**value)


@attrs.frozen(kw_only=True)
class BatchResult:
    """The outcome of one request of a batch: its ``execution`` or its ``error``."""

    index: int
    """The request's position in the input (0-based)."""
    request: ExecuteRequest | Any
    """The request as given (an :class:`ExecuteRequest`, or the raw item if it was invalid)."""
    execution: Execution | None = None
    """The execution, when the request succeeded (None when it failed)."""
    error: AmasError | None = None
    """The typed SDK error, when the request failed."""
    attempts: int = 1
    """How many attempts the request took (retries included)."""
    elapsed: float = 0.0
    """Seconds from the start of the request to its end (waits for the throttle included)."""

    @property
    def ok(self) -> bool:
        """True when the request produced an execution."""
        return self.error is None


#: How a batch sends one request: ``runtime.execute`` with the request's fields, say.
Send: TypeAlias = Callable[[ExecuteRequest], Awaitable[Execution]]
#: Called with each result as it completes; it may return an awaitable, which is awaited.
ResultCallback: TypeAlias = Callable[[BatchResult], Any]
#: What a batch takes: an iterable or async iterable of requests (or mappings with their keys).
Requests: TypeAlias = (
    Iterable[ExecuteRequest | Mapping[str, Any]] | AsyncIterable[ExecuteRequest | Mapping[str, Any]]
)


def throttle_for(rate_limit: float | Throttle | None, concurrency: int) -> Throttle:
    """The :class:`Throttle` of a batch: ``rate_limit`` itself, or one built from it.

    ``rate_limit`` is requests per second (or None for no rate cap); the throttle then allows
    ``concurrency`` attempts in flight and adapts that number to 429s. Raises
    :class:`InvalidRequestError` for a ``concurrency`` that is not an int >= 1.
    """
    concurrency = check_int(concurrency, "concurrency")
    if isinstance(rate_limit, Throttle):
        return rate_limit
    if rate_limit is None:
        return Throttle(max_concurrency=concurrency)
    return Throttle(requests_per_second=rate_limit, max_concurrency=concurrency)


async def _items(requests: Requests) -> AsyncIterator[Any]:
    if isinstance(requests, AsyncIterable):
        async for item in requests:
            yield item
    elif isinstance(requests, Iterable) and not isinstance(requests, (str, bytes, Mapping)):
        for item in requests:
            yield item
    else:
        raise InvalidContentError(
            "requests must be an iterable or async iterable of ExecuteRequest or mappings, "
            f"not {type(requests).__name__}"
        )


async def _run_one(send: Send, index: int, request: ExecuteRequest) -> BatchResult:
    started = time.monotonic()
    try:
        execution = await send(request)
    except AmasError as exc:
        return BatchResult(
            index=index,
            request=request,
            error=exc,
            attempts=getattr(exc, "attempts", 1),
            elapsed=time.monotonic() - started,
        )
    return BatchResult(
        index=index,
        request=request,
        execution=execution,
        attempts=execution.attempts,
        elapsed=time.monotonic() - started,
    )


async def iter_execute_many(
    send: Send, requests: Requests, *, concurrency: int = 16
) -> AsyncGenerator[BatchResult, None]:
    """Send the requests; yield a :class:`BatchResult` for each as it completes.

    At most ``concurrency`` sessions run at once, each one request at a time. The input is read
    lazily: at most about ``4 x concurrency`` requests are buffered. Close the iterator
    (``async with contextlib.aclosing(...)``, or let it finish) to stop the batch: in-flight
    requests are cancelled and nothing is left running.
    """
    concurrency = check_int(concurrency, "concurrency")
    # None wakes the reader when the input ends; an exception is a bug that stops the batch.
    results: asyncio.Queue[BatchResult | BaseException | None] = asyncio.Queue()
    buffered = asyncio.Semaphore(max(4 * concurrency, 64))  # read-ahead and unread results
    slots = asyncio.Semaphore(concurrency)  # one per session lane
    lanes: dict[str, collections.deque[tuple[int, ExecuteRequest]]] = {}
    tasks: set[asyncio.Task[None]] = set()
    pending = 0
    reading_done = False

    async def lane(session_id: str) -> None:
        queue = lanes[session_id]
        try:
            while queue:
                index, request = queue[0]
                result = await _run_one(send, index, request)
                queue.popleft()
                results.put_nowait(result)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                results.put_nowait(exc)  # a bug, not a request's failure: stop the batch
            raise
        finally:
            if lanes.get(session_id) is queue and not queue:
                del lanes[session_id]
            slots.release()

    def start(coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{TASK_PREFIX}{name}")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def dispatch() -> None:
        nonlocal pending, reading_done
        index = 0
        try:
            async for item in _items(requests):
                await buffered.acquire()
                pending += 1
                try:
                    request = ExecuteRequest.of(item)
                except AmasError as exc:
                    results.put_nowait(BatchResult(index=index, request=item, error=exc))
                    index += 1
                    continue
                queue = lanes.get(request.session_id)
                if queue is not None:
                    queue.append((index, request))
                else:
                    await slots.acquire()
                    lanes[request.session_id] = collections.deque([(index, request)])
                    start(lane(request.session_id), f"lane-{request.session_id}")
                index += 1
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                results.put_nowait(exc)
            raise
        finally:
            reading_done = True
            results.put_nowait(None)

    start(dispatch(), "dispatch")
    try:
        while True:
            item = await results.get()
            if item is None:
                if pending == 0:
                    return
                continue
            if isinstance(item, BaseException):
                raise item
            pending -= 1
            buffered.release()
            yield item
            if reading_done and pending == 0:
                return
    finally:
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def execute_many(
    send: Send,
    requests: Requests,
    *,
    concurrency: int = 16,
    on_result: ResultCallback | None = None,
) -> list[BatchResult]:
    """Send the requests; one :class:`BatchResult` per request, in input order.

    The same rules as :func:`iter_execute_many`. ``on_result`` (sync or async) is called with
    each result as it completes.
    """
    collected: list[BatchResult] = []
    stream = iter_execute_many(send, requests, concurrency=concurrency)
    try:
        async for result in stream:
            collected.append(result)
            if on_result is not None:
                outcome = on_result(result)
                if inspect.isawaitable(outcome):
                    await outcome
    finally:
        await stream.aclose()
    collected.sort(key=lambda r: r.index)
    return collected
