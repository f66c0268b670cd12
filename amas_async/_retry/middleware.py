"""The retry middleware: the first attempt goes out plainly; tenacity only after a failure."""

from __future__ import annotations

from .._clock import clock
from .._config import Timeout
from .._http import Handler, Request, Response
from ..errors import APIConnectionError
from .policy import RetryPolicy, prepare_attempt

__all__ = ["RetryMiddleware"]


class RetryMiddleware:
    """Retries a call under a :class:`RetryPolicy`.

    A call whose first attempt succeeds (or fails in a way that is not retried) never touches
    tenacity, nor imports it. After a retryable failure, :func:`.loop.retry` takes over from
    that outcome.
    """

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
            request = prepare_attempt(policy, self._timeout, request, 1, started)
        first: Response | APIConnectionError
        try:
            first = await handler(request)
        except APIConnectionError as exc:
            if not policy.should_retry_exception(exc, request.idempotent):
                raise
            first = exc
        else:
            if first.status not in policy.retry_statuses or not policy.should_retry_status(
                first.status, request.idempotent
            ):
                return first
        from .loop import retry  # tenacity is imported on the first retry only

        return await retry(policy, self._timeout, request, handler, first, started)
