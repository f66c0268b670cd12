"""The retry loop on tenacity's own primitives, entered after a first retryable failure.

The strategies are tenacity's: ``stop_after_attempt | stop_before_deadline |
stop_on_long_retry_after``, ``wait_retry_after(wait_backoff)`` and ``retry_if_exception |
retry_if_result``. The two deadline/Retry-After stops and the two waits are small
``stop_base``/``wait_base`` subclasses because tenacity has no Retry-After wait and its own
time-based stops read ``time.monotonic`` directly, where ours must read the swappable retry
clock (``amas_async.testing.instant_retries``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
)
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from .._clock import clock
from .._config import Timeout
from .._http import Handler, Request, Response
from ..errors import APIConnectionError, ResponseValidationError
from .policy import RetryEvent, RetryPolicy, parse_retry_after, prepare_attempt

__all__ = ["retry"]

logger = logging.getLogger("amas_async")


def _retry_after(state: RetryCallState) -> float | None:
    """The server's Retry-After on the attempt that just ended, if it answered with one."""
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    response: Response = outcome.result()
    return parse_retry_after(response.headers)


class stop_before_deadline(stop_base):
    """Stop when the coming wait would end past the deadline (read on the retry clock)."""

    def __init__(self, deadline: float, started: float) -> None:
        self.deadline = deadline
        self.started = started

    def __call__(self, retry_state: RetryCallState) -> bool:
        elapsed = clock.monotonic() - self.started
        return elapsed + retry_state.upcoming_sleep >= self.deadline


class stop_on_long_retry_after(stop_base):
    """Stop at once when the server asks for a longer wait than ``cap`` seconds."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> bool:
        retry_after = _retry_after(retry_state)
        return retry_after is not None and retry_after > self.cap


class wait_retry_after(wait_base):
    """The server's Retry-After when it sent one, else the ``fallback`` wait."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        retry_after = _retry_after(retry_state)
        return self.fallback(retry_state) if retry_after is None else retry_after


class wait_backoff(wait_base):
    """Exponential backoff with proportional jitter, as :meth:`RetryPolicy.backoff` draws it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.policy.backoff(retry_state.attempt_number)


def _stop(policy: RetryPolicy, started: float) -> stop_base:
    stop = stop_after_attempt(policy.max_attempts) | stop_on_long_retry_after(
        policy.max_retry_after
    )
    if policy.deadline is not None:
        stop = stop | stop_before_deadline(policy.deadline, started)
    return stop


def _retry_on(policy: RetryPolicy, idempotent: bool) -> retry_base:
    def status_is_retried(response: Response) -> bool:
        return policy.should_retry_status(response.status, idempotent)

    exception_is_retried = functools.partial(policy.should_retry_exception, idempotent=idempotent)
    return retry_if_exception(exception_is_retried) | retry_if_result(status_is_retried)


class _Attempts:
    """The attempts of one call, as tenacity calls them: the known first, then fresh sends.

    The first call hands back what the first attempt (run before tenacity was involved)
    produced; every later call sends the request again, numbered, its timeout cut to what the
    deadline leaves. ``count`` is how many attempts were made; an answer too large to read
    (:class:`ResponseTooLargeError`, raised by the transport) ends the call with that count.
    """

    __slots__ = ("count", "first", "handler", "policy", "request", "started", "timeout")

    def __init__(
        self,
        policy: RetryPolicy,
        timeout: Timeout,
        request: Request,
        handler: Handler,
        first: Response | APIConnectionError,
        started: float,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.request = request
        self.handler = handler
        self.first: Response | APIConnectionError | None = first
        self.started = started
        self.count = 0

    async def __call__(self) -> Response:
        self.count += 1
        first, self.first = self.first, None
        if isinstance(first, APIConnectionError):
            raise first
        if first is not None:
            return first
        request = prepare_attempt(self.policy, self.timeout, self.request, self.count, self.started)
        try:
            return await self.handler(request)
        except ResponseValidationError as exc:  # an answer too large: never retried, it ends here
            exc.attempts = self.count
            raise


def _last_outcome(retry_state: RetryCallState) -> Response:
    """Out of attempts or time: the last answer is the call's answer (or its error raises)."""
    assert retry_state.outcome is not None
    response: Response = retry_state.outcome.result()
    return response


async def retry(
    policy: RetryPolicy,
    timeout: Timeout,
    request: Request,
    handler: Handler,
    first: Response | APIConnectionError,
    started: float,
) -> Response:
    """Retry ``request`` under ``policy``, starting from its first attempt's outcome ``first``.

    Returns the last answer, with ``attempts`` set to the number of attempts made; raises the
    last attempt's error when that was a connection failure (built with its attempt number).
    """
    attempts = _Attempts(policy, timeout, request, handler, first, started)
    retrying = AsyncRetrying(
        sleep=lambda seconds: clock.sleep(seconds),
        stop=_stop(policy, started),
        wait=wait_retry_after(wait_backoff(policy)),
        retry=_retry_on(policy, request.idempotent),
        before_sleep=functools.partial(_before_sleep, policy, request),
        retry_error_callback=_last_outcome,
        reraise=True,
    )
    response: Response = await retrying(attempts)
    if response.attempts != attempts.count:
        response = response.replace(attempts=attempts.count)
    return response


async def _before_sleep(policy: RetryPolicy, request: Request, retry_state: RetryCallState) -> None:
    """Log the coming retry and tell the policy's ``on_retry`` hook."""
    outcome = retry_state.outcome
    assert outcome is not None
    status: int | None = None
    exc: BaseException | None = None
    if outcome.failed:
        exc = outcome.exception()
        reason = f"{type(exc).__name__}: {exc}"
    else:
        status = outcome.result().status
        reason = str(status)
    delay = retry_state.upcoming_sleep
    logger.info(
        "retrying %s %s after %s (attempt %d of %d), waiting %.2fs",
        request.method,
        request.url,
        reason,
        retry_state.attempt_number,
        policy.max_attempts,
        delay,
    )
    if policy.on_retry is not None:
        event = RetryEvent(
            attempt=retry_state.attempt_number,
            wait=delay,
            reason=reason,
            status=status,
            exception=exc,
            method=request.method,
            url=request.url,
        )
        result = policy.on_retry(event)
        if isinstance(result, Awaitable):
            await result
