"""RetryPolicy and the retry middleware. tenacity stays private in here.

The first attempt runs outside the retry machinery: a call that succeeds never touches
tenacity. Only after a retryable failure does the middleware build an ``AsyncRetrying`` loop,
which replays that first outcome (without resending) and then retries under the policy.

What is retried (the safety rule). Every POST carries an ``Idempotency-Key`` that stays the
same on every attempt. Still, a server may ignore it, and running an execution twice duplicates
a conversation turn and costs tokens. So a request marked non-idempotent (execute) is retried
by default only where the turn cannot have run: a 429, a 503, or a connection that failed
before the request was sent. Its other failures (500, 502, 504, 408, read timeouts, a connection
lost after sending) are retried only with ``RetryPolicy(retry_non_idempotent=True)``. Everything
else (session creation, uploads, GETs) is retried on every retryable condition.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ._config import Timeout
from ._transport import Handler, Request, Response
from .errors import APIConnectionError, parse_retry_after

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["RetryEvent", "RetryPolicy", "RetryMiddleware"]

logger = logging.getLogger("amas_async")

#: Statuses retried for every request (subject to the safety rule for non-idempotent ones).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses at which a non-idempotent request cannot have run.
NOT_RUN_STATUSES = frozenset({429, 503})


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "deadline":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be a number >= 0, got {value!r}")


def _attempts(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RetryPolicy.max_attempts must be an int >= 1, got {value!r}")


def _jitter(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"RetryPolicy.jitter must be between 0 and 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """What the ``on_retry`` hook is told before each backoff sleep."""

    attempt: int
    """The attempt that failed (1 for the first)."""
    wait: float
    """Seconds the client will sleep before the next attempt."""
    reason: str
    """``"503"`` for a status, or the exception's class and message."""
    status: int | None
    """The failed attempt's HTTP status, or None for a connection failure."""
    exception: BaseException | None
    """The failed attempt's exception, or None for a status."""
    method: str
    url: str


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How calls are retried. Frozen; ``AsyncAmas(retry=...)`` or ``with_options(retry=...)``.

    The defaults: 3 attempts in all; exponential backoff from 0.5 s, doubling, capped at 8 s,
    each wait drawn from ``[(1 - jitter) x backoff, backoff]``; a ``deadline`` of 300 s across
    all attempts and sleeps (each attempt's timeout is cut to what is left of it); a server's
    ``Retry-After`` / ``retry-after-ms`` honoured up to ``max_retry_after`` seconds, beyond which
    the call fails at once with :class:`RateLimitError` (``retry_after`` set) instead of
    sleeping for minutes. Retried: 408, 429, 5xx and connection failures and timeouts, per the
    safety rule for executions (see ``retry_non_idempotent``).
    """

    max_attempts: int = attrs.field(default=3, validator=_attempts)
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=8.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    jitter: float = attrs.field(default=0.5, validator=_jitter)
    deadline: float | None = attrs.field(default=300.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    retry_statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=frozenset)
    retry_non_idempotent: bool = False
    """Also retry executions on 500/502/504/408, read timeouts and connections lost after the
    request was sent. Safe only if the server honours ``Idempotency-Key``; AMAS does not
    document that it does, so this is off by default."""
    on_retry: Callable[[RetryEvent], Any] | None = attrs.field(default=None, eq=False)
    """Called (sync or async) before each backoff sleep."""

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), jitter included."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return base * (1.0 - self.jitter * rand())

    def should_retry_status(self, status: int, idempotent: bool) -> bool:
        """Whether an answer with ``status`` may be retried for such a request."""
        if status not in self.retry_statuses:
            return False
        return idempotent or self.retry_non_idempotent or status in NOT_RUN_STATUSES

    def should_retry_exception(self, exc: BaseException, idempotent: bool) -> bool:
        """Whether a failure may be retried for such a request."""
        if not isinstance(exc, APIConnectionError):
            return False
        return idempotent or self.retry_non_idempotent or not exc.request_sent


class _Clock:
    """The clock and sleep used while retrying; ``testing.instant_retries`` swaps them."""

    def __init__(self) -> None:
        self.monotonic: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


clock = _Clock()


class RetryMiddleware:
    """The retry middleware: a plain first attempt, tenacity only after a retryable failure."""

    __slots__ = ("_clip_first", "_policy", "_timeout")

    def __init__(self, policy: RetryPolicy, timeout: Timeout) -> None:
        self._policy = policy
        self._timeout = timeout
        # Only when the deadline is shorter than an attempt may be does the first attempt
        # need a cut timeout; otherwise it goes out untouched.
        self._clip_first = policy.deadline is not None and (
            timeout.total is None or policy.deadline < timeout.total
        )

    async def __call__(self, request: Request, handler: Handler) -> Response:
        policy = self._policy
        started = clock.monotonic()
        if self._clip_first:
            assert policy.deadline is not None
            request = self._clip(request, policy.deadline)
        try:
            response = await handler(request)
        except APIConnectionError as exc:
            if policy.max_attempts > 1 and policy.should_retry_exception(exc, request.idempotent):
                return await self._retry(request, handler, exc, started)
            raise
        if (
            response.status in policy.retry_statuses
            and policy.max_attempts > 1
            and policy.should_retry_status(response.status, request.idempotent)
        ):
            return await self._retry(request, handler, response, started)
        return response

    def _clip(self, request: Request, remaining: float) -> Request:
        timeout = request.timeout or self._timeout
        total = remaining if timeout.total is None else min(timeout.total, remaining)
        return attrs.evolve(request, timeout=attrs.evolve(timeout, total=max(total, 0.001)))

    async def _retry(
        self,
        request: Request,
        handler: Handler,
        first: Response | APIConnectionError,
        started: float,
    ) -> Response:
        from tenacity import AsyncRetrying  # here: a call that never retries never imports it

        policy = self._policy
        pending: list[Response | APIConnectionError] = [first]
        attempts = 0
        planned: dict[int, float] = {}

        async def attempt() -> Response:
            nonlocal attempts
            attempts += 1
            if pending:
                outcome = pending.pop()
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
            current = request
            if policy.deadline is not None:
                current = self._clip(request, policy.deadline - (clock.monotonic() - started))
            return await handler(current)

        def plan(state: RetryCallState) -> float:
            """The wait after this attempt, or _GiveUp; computed once per attempt."""
            number = state.attempt_number
            if number not in planned:
                wait = policy.backoff(number)
                outcome = state.outcome
                if outcome is not None and not outcome.failed:
                    response: Response = outcome.result()
                    retry_after = parse_retry_after(response.headers)
                    if retry_after is not None:
                        if retry_after > policy.max_retry_after:
                            planned[number] = -1.0
                            return -1.0
                        wait = retry_after
                if policy.deadline is not None:
                    left = policy.deadline - (clock.monotonic() - started)
                    if wait >= left:
                        wait = -1.0
                planned[number] = wait
            return planned[number]

        def retry(state: RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None:  # pragma: no cover - tenacity always sets it
                return False
            if outcome.failed:
                exc = outcome.exception()
                return exc is not None and policy.should_retry_exception(exc, request.idempotent)
            status = outcome.result().status
            return policy.should_retry_status(status, request.idempotent)

        def stop(state: RetryCallState) -> bool:
            return state.attempt_number >= policy.max_attempts or plan(state) < 0

        def wait(state: RetryCallState) -> float:
            return max(plan(state), 0.0)

        async def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            assert outcome is not None
            status: int | None = None
            exc: BaseException | None = None
            if outcome.failed:
                exc = outcome.exception()
                reason = f"{type(exc).__name__}: {exc}"
            else:
                status = outcome.result().status
                reason = str(status)
            delay = wait(state)
            logger.info(
                "retrying %s %s after %s (attempt %d of %d), waiting %.2fs",
                request.method,
                request.url,
                reason,
                state.attempt_number,
                policy.max_attempts,
                delay,
            )
            if policy.on_retry is not None:
                event = RetryEvent(
                    attempt=state.attempt_number,
                    wait=delay,
                    reason=reason,
                    status=status,
                    exception=exc,
                    method=request.method,
                    url=request.url,
                )
                result = policy.on_retry(event)
                if asyncio.iscoroutine(result):
                    await result

        def give_up(state: RetryCallState) -> Response:
            outcome = state.outcome
            assert outcome is not None
            result: Response = outcome.result()  # re-raises a final exception
            return result

        retrying = AsyncRetrying(
            sleep=lambda seconds: clock.sleep(seconds),
            stop=stop,
            wait=wait,
            retry=retry,
            before_sleep=before_sleep,
            retry_error_callback=give_up,
            reraise=True,
        )
        try:
            response: Response = await retrying(attempt)
        except APIConnectionError as exc:
            exc.attempts = attempts
            raise
        return attrs.evolve(response, attempts=attempts)
