"""Client-side rate limiting: a token bucket and adaptive concurrency, shared by all callers.

A :class:`Throttle` is a middleware that sits under the retry layer, so every attempt passes
through it. Before an attempt it waits for (1) the end of a pause ordered by a 429's
``Retry-After``, (2) a free slot under the current concurrency limit, (3) a token of the
bucket. After the attempt it adapts: a 429 halves the concurrency limit (at most once per
second) and, when the server sent ``Retry-After``, pauses every caller for that long; each
success raises the limit by ``1 / limit`` (additive increase, about +1 per round of requests)
back up to the maximum.

Its clock and sleep default to the retry layer's (``_clock``), so
``testing.instant_retries()`` makes throttles instant too.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Awaitable, Callable, Mapping

from ._checks import check_int, check_number
from ._clock import clock as retry_clock
from ._http import Handler, Request, Response
from ._retry import parse_retry_after

__all__ = ["Throttle"]

_DECREASE_EVERY = 1.0  # seconds: one multiplicative decrease per burst of 429s


class Throttle:
    """A token bucket plus adaptive concurrency, shared by every request that passes through.

    ``requests_per_second`` (None: no rate cap) and ``burst`` (default: one second's worth, at
    least 1) shape the request rate; ``max_concurrency`` (None: no cap) caps requests in
    flight. With ``adaptive`` (the default) a 429 halves that cap, at most once a second and
    not below ``min_concurrency`` (default 1), and each success after that raises it slowly
    back to ``max_concurrency``. Every 429 with a ``Retry-After`` also pauses every caller for
    that long, at most ``max_pause`` seconds (default 60), with or without a cap.
    ``throttled`` counts the 429s seen. ``clock`` and ``sleep`` can be injected (tests). A
    rate, burst or cap that is not a positive number raises :class:`InvalidRequestError`.

    Use it for a whole client, ``AsyncAmas(throttle=Throttle(requests_per_second=20))``, or
    for one batch, ``execute_many(..., rate_limit=Throttle(...))``. Every attempt of every
    call passes it (it sits under the retries), so retries are paced too.
    """

    def __init__(
        self,
        requests_per_second: float | None = None,
        burst: int | None = None,
        *,
        max_concurrency: int | None = None,
        adaptive: bool = True,
        min_concurrency: int = 1,
        max_pause: float = 60.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if requests_per_second is not None:
            check_number(requests_per_second, "requests_per_second")
        if max_concurrency is not None:
            check_int(max_concurrency, "max_concurrency")
        if burst is not None:
            check_int(burst, "burst")
        self.requests_per_second = requests_per_second
        self.burst = burst or (max(1, math.ceil(requests_per_second)) if requests_per_second else 1)
        self.max_concurrency = max_concurrency
        self.min_concurrency = max(1, min(min_concurrency, max_concurrency or min_concurrency))
        self.adaptive = adaptive
        self.max_pause = max_pause
        self._clock: Callable[[], float] = clock or (lambda: retry_clock.monotonic())
        self._sleep: Callable[[float], Awaitable[None]] = sleep or (
            lambda seconds: retry_clock.sleep(seconds)
        )
        self._tokens = float(self.burst)
        self._stamp = self._clock()
        self._limit = float(max_concurrency) if max_concurrency else math.inf
        self._in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._paused_until = 0.0
        self._last_decrease = -math.inf
        self.throttled = 0  # 429s seen

    def __repr__(self) -> str:
        return (
            f"Throttle(requests_per_second={self.requests_per_second}, burst={self.burst}, "
            f"max_concurrency={self.max_concurrency}, limit={self.concurrency_limit})"
        )

    @property
    def concurrency_limit(self) -> int | None:
        """The current effective concurrency limit (None when there is none)."""
        return None if math.isinf(self._limit) else int(self._limit)

    @property
    def in_flight(self) -> int:
        """Requests that hold a slot now."""
        return self._in_flight

    async def acquire(self) -> None:
        """Wait for the pause, a concurrency slot and a token; then hold a slot.

        Slots go to waiters first come, first served: a freed slot is handed to the first
        waiter (it counts as held from then on), so a caller that releases and comes straight
        back queues behind the waiters instead of taking the slot again.
        """
        await self._wait_for_pause()
        if self._in_flight >= self._slots():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # done: _wake handed a slot over
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():  # handed a slot, then cancelled: hand it on
                    self._in_flight -= 1
                    self._wake()
                raise
        else:
            self._in_flight += 1
        try:
            await self._take_token()
            await self._wait_for_pause()
        except BaseException:
            self._in_flight -= 1
            self._wake()
            raise

    def ready(self) -> bool:
        """Take a slot and a token now if both are free and no pause runs (no waiting).

        True when taken (then :meth:`release` must follow); False when the caller must
        ``await`` :meth:`acquire` instead.
        """
        if self._in_flight >= self._slots() or self._waiters:
            return False
        if self._paused_until > self._clock() or not self._try_token():
            return False
        self._in_flight += 1
        return True

    def release(self, response: Response | None) -> None:
        """Give the slot back and adapt to how the attempt ended (None: it raised)."""
        if response is None:
            self.release_status(None, None)
        else:
            self.release_status(response.status, response.headers)

    def release_status(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """:meth:`release` from an answer's status and headers (None: the attempt raised)."""
        self._in_flight -= 1
        if status == 429:
            self.throttled += 1
            now = self._clock()
            wait = parse_retry_after(headers) if headers is not None else None
            if wait is not None:
                self._paused_until = max(self._paused_until, now + min(wait, self.max_pause))
            if self.adaptive and now - self._last_decrease >= _DECREASE_EVERY:
                self._last_decrease = now
                self._limit = max(float(self.min_concurrency), self._limit / 2)
        elif (
            status is not None
            and status < 400
            and self.adaptive
            and self.max_concurrency
            and self._limit < self.max_concurrency
        ):
            self._limit = min(float(self.max_concurrency), self._limit + 1 / self._limit)
        self._wake()

    def _slots(self) -> float:
        return math.inf if math.isinf(self._limit) else max(1, int(self._limit))

    def _wake(self) -> None:
        """Hand the free slots to the first waiters (a cancelled waiter is skipped)."""
        while self._waiters and self._in_flight < self._slots():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    async def _wait_for_pause(self) -> None:
        while True:
            left = self._paused_until - self._clock()
            if left <= 0:
                return
            await self._sleep(left)

    # The token source: a local bucket here. A subclass may draw tokens from elsewhere (the
    # Ray integration leases them from a cluster-wide actor) by overriding these two.

    def _try_token(self) -> bool:
        """Take a token if one is there now (no waiting); False if the caller must wait."""
        rate = self.requests_per_second
        if rate is None:
            return True
        now = self._clock()
        tokens = min(float(self.burst), self._tokens + (now - self._stamp) * rate)
        if tokens < 1.0:
            return False
        self._tokens, self._stamp = tokens - 1.0, now
        return True

    async def _take_token(self) -> None:
        """Take a token, waiting for one if need be."""
        rate = self.requests_per_second
        if rate is None:
            return
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        self._tokens -= 1.0  # reserve now; a deficit is this caller's wait
        if self._tokens < 0:
            try:
                await self._sleep(-self._tokens / rate)
            except BaseException:
                self._tokens += 1.0  # give the unused reservation back
                raise

    async def __call__(self, request: Request, handler: Handler) -> Response:
        """The middleware: hold a slot for the attempt and learn from its answer."""
        await self.acquire()
        response: Response | None = None
        try:
            response = await handler(request)
            return response
        finally:
            self.release(response)
