"""Many executions at once: bounded concurrency, per-session order, one result per request.

``execute_many`` returns one :class:`BatchResult` per request, in input order;
``iter_execute_many`` yields them as they complete and reads its input lazily, so a batch of a
million requests runs in bounded memory. Requests for the same session run one after another,
in input order (a conversation is sequential, and AMAS limits concurrent requests per
session); different sessions run concurrently, up to ``concurrency``. One failure never stops
the others: it becomes the ``error`` of its result.

A :class:`Throttle` shapes the batch: ``rate_limit`` is a number of requests per second or a
``Throttle``. Every batch adapts its concurrency to 429s (halving it, then recovering
gradually) and pauses all its workers for a 429's ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._throttle import Throttle
from .errors import AmasError, InvalidContentError, InvalidRequestError
from .models import Execution

if TYPE_CHECKING:
    from ._client import AsyncAmas
    from .resources.runtime import Content

__all__ = ["BatchResult", "ExecuteRequest", "execute_many", "iter_execute_many"]

#: The name of every task a batch starts begins with this.
TASK_PREFIX = "amas-batch-"
_REQUEST_KEYS = frozenset(("session_id", "content", "inputs", "correlation_id", "idempotency_key"))


@attrs.frozen(kw_only=True)
class ExecuteRequest:
    """One execution of a batch: what ``runtime.execute`` takes, as a value."""

    session_id: str
    content: Content
    inputs: Mapping[str, Any] | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None

    @classmethod
    def of(cls, value: ExecuteRequest | Mapping[str, Any]) -> ExecuteRequest:
        """An :class:`ExecuteRequest` from itself or from a mapping with the same keys."""
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
    error: AmasError | None = None
    """The typed SDK error, when the request failed."""
    attempts: int = 1
    elapsed: float = 0.0
    """Seconds from the start of the request to its end (waits for the throttle included)."""

    @property
    def ok(self) -> bool:
        """True when the request produced an execution."""
        return self.error is None


ResultCallback = Callable[[BatchResult], Any]
#: What a batch takes: an iterable or async iterable of requests (or mappings with their keys).
Requests = (
    Iterable[ExecuteRequest | Mapping[str, Any]] | AsyncIterable[ExecuteRequest | Mapping[str, Any]]
)


def _check(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError(f"concurrency must be an int >= 1, got {concurrency!r}")
    return concurrency


def _throttle_for(rate_limit: float | Throttle | None, concurrency: int) -> Throttle:
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


async def iter_execute_many(
    client: AsyncAmas,
    requests: Requests,
    *,
    concurrency: int = 16,
    rate_limit: float | Throttle | None = None,
) -> AsyncIterator[BatchResult]:
    """Run the requests; yield a :class:`BatchResult` for each as it completes.

    The input is read lazily: at most about ``4 x concurrency`` requests are buffered. Close
    the iterator (``async with contextlib.aclosing(...)``, or let it finish) to stop the batch:
    in-flight requests are cancelled and nothing is left running.
    """
    concurrency = _check(concurrency)
    throttle = _throttle_for(rate_limit, concurrency)
    worker_client = client._with_inner_middleware(throttle)
    results: asyncio.Queue[BatchResult | BaseException] = asyncio.Queue()
    buffered = asyncio.Semaphore(max(4 * concurrency, 64))  # read-ahead and unread results
    slots = asyncio.Semaphore(concurrency)  # one per session lane
    lanes: dict[str, collections.deque[tuple[int, ExecuteRequest]]] = {}
    tasks: set[asyncio.Task[None]] = set()
    pending = 0
    reading_done = False

    async def run_one(index: int, request: ExecuteRequest) -> BatchResult:
        started = time.monotonic()
        try:
            execution = await worker_client.runtime.execute(
                request.session_id,
                request.content,
                inputs=request.inputs,
                correlation_id=request.correlation_id,
                idempotency_key=request.idempotency_key,
            )
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

    async def lane(session_id: str) -> None:
        queue = lanes[session_id]
        try:
            while queue:
                index, request = queue[0]
                result = await run_one(index, request)
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
            results.put_nowait(_WAKE)

    start(dispatch(), "dispatch")
    try:
        while True:
            item = await results.get()
            if item is _WAKE:
                if pending == 0:
                    return
                continue
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, BatchResult)
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


_WAKE: Any = BatchResult(index=-1, request=None)


async def execute_many(
    client: AsyncAmas,
    requests: Requests,
    *,
    concurrency: int = 16,
    rate_limit: float | Throttle | None = None,
    on_result: ResultCallback | None = None,
) -> list[BatchResult]:
    """Run the requests; one :class:`BatchResult` per request, in input order.

    ``on_result`` (sync or async) is called with each result as it completes.
    """
    collected: list[BatchResult] = []
    stream = iter_execute_many(client, requests, concurrency=concurrency, rate_limit=rate_limit)
    try:
        async for result in stream:
            collected.append(result)
            if on_result is not None:
                outcome = on_result(result)
                if inspect.isawaitable(outcome):
                    await outcome
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    collected.sort(key=lambda r: r.index)
    return collected
