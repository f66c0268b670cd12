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

    @property
    def clips_first(self) -> bool:
        """True when the deadline is shorter than an attempt may be (the first attempt is cut)."""
        return self._clip_first

    async def __call__(self, request: Request, handler: Handler) -> Response:
        started = clock.monotonic()
        if self._clip_first:
            request = prepare_attempt(self._policy, self._timeout, request, 1, started)
        first: Response | APIConnectionError
        try:
            first = await handler(request)
        except APIConnectionError as exc:
            first = exc
        else:
            if first.status not in self._policy.retry_statuses:
                return first
        return await self.after_first(request, handler, first, started)

    async def after_first(
        self,
        request: Request,
        handler: Handler,
        first: Response | APIConnectionError,
        started: float,
    ) -> Response:
        """Go on from a call's first outcome: retry it if the policy says so, else end.

        ``handler`` sends one attempt (the layers under this one); ``started`` is when the
        call began, on the retry clock. A failure that is not retried is raised, an answer
        that is not retried is returned.
        """
        policy = self._policy
        if isinstance(first, APIConnectionError):
            if not policy.should_retry_exception(first, request.idempotent):
                raise first
        elif not policy.should_retry_status(first.status, request.idempotent):
            return first
        from .loop import retry  # tenacity is imported on the first retry only

        return await retry(policy, self._timeout, request, handler, first, started)
