"""How calls are retried: :class:`RetryPolicy`, the safety rule, and reading ``Retry-After``.

What is retried (the safety rule). Every POST carries an ``Idempotency-Key`` that stays the
same on every attempt. Still, a server may ignore it: running an execution twice duplicates a
conversation turn and costs tokens, and creating an agent, a file, a collection or a knowledge
base twice (or adding files twice) leaves two objects. So a request marked non-idempotent
(execute, those creates, ``add_files``) is retried by default only where it cannot have run: a
429, a 503, or a connection that failed before the request was sent. Its other failures (500,
502, 504, 408, read timeouts, a connection lost after sending) are retried only with
``RetryPolicy(retry_non_idempotent=True)``. Everything else (GETs, PATCHes of the same fields,
DELETEs, config validation, session creation and image uploads) is retried on every retryable
condition.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._checks import check_fraction, check_int, check_number, validator
from .._clock import clock
from .._config import Timeout
from .._http import Request
from ..errors import APIConnectionError

__all__ = ["RetryEvent", "RetryPolicy", "parse_retry_after", "prepare_attempt"]

#: Statuses retried for every request (subject to the safety rule for non-idempotent ones).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses at which a non-idempotent request cannot have run.
NOT_RUN_STATUSES = frozenset({429, 503})


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    Header names are matched in any case. Returns None when neither header is present or
    parseable; never a negative number.
    """
    ms = _header(headers, "retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = _header(headers, "retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict: look for the name in any case
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


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
    """The request's HTTP method."""
    url: str
    """The request's URL (it never carries the API key)."""


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How calls are retried. Frozen; ``AsyncAmas(retry=...)`` or ``with_options(retry=...)``.

    The defaults: 3 attempts in all; exponential backoff from 0.5 s, doubling, capped at 8 s,
    each wait drawn from ``[(1 - jitter) x backoff, backoff]``; a ``deadline`` of 300 s across
    all attempts and sleeps (each attempt's timeout is cut to what is left of it, and a retry
    whose wait would end past the deadline is not made); a server's ``Retry-After`` /
    ``retry-after-ms`` honoured up to ``max_retry_after`` seconds, beyond which the call fails
    at once with :class:`RateLimitError` (``retry_after`` set) instead of sleeping for minutes.
    Retried: 408, 429, 500, 502, 503 and 504 (``retry_statuses``), connection failures and
    timeouts, per the safety rule for executions and creates (see ``retry_non_idempotent``):
    those are retried only where they cannot have run (429, 503, or a connection that failed
    before the request was sent). Every argument is keyword-only; a value out of range raises
    :class:`InvalidRequestError`.
    """

    max_attempts: int = attrs.field(default=3, validator=validator(check_int))
    """Attempts in all, the first included (1: no retries; see :meth:`disabled`)."""
    initial_backoff: float = attrs.field(
        default=0.5, validator=validator(check_number, allow_zero=True)
    )
    """Seconds of the first backoff, before jitter."""
    max_backoff: float = attrs.field(
        default=8.0, validator=validator(check_number, allow_zero=True)
    )
    """The longest backoff in seconds, before jitter."""
    multiplier: float = attrs.field(default=2.0, validator=validator(check_number, allow_zero=True))
    """Each backoff is the previous one times this."""
    jitter: float = attrs.field(default=0.5, validator=validator(check_fraction))
    """The share of each backoff drawn at random, 0 to 1 (0: exact waits)."""
    deadline: float | None = attrs.field(
        default=300.0, validator=validator(check_number, optional=True)
    )
    """Seconds for the whole call, attempts and waits included, more than 0 (None: no limit)."""
    max_retry_after: float = attrs.field(
        default=60.0, validator=validator(check_number, allow_zero=True)
    )
    """The longest ``Retry-After`` the client waits for; a longer one fails the call at once."""
    retry_statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=frozenset)
    """The HTTP statuses that may be retried (any iterable of ints is taken)."""
    retry_non_idempotent: bool = False
    """Also retry executions and creates on 500/502/504/408, read timeouts and connections
    lost after the request was sent. Safe only if the server honours ``Idempotency-Key``; AMAS
    does not document that it does, so this is off by default."""
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


def prepare_attempt(
    policy: RetryPolicy, timeout: Timeout, request: Request, attempt: int, started: float
) -> Request:
    """``request`` as attempt number ``attempt``, its timeout cut to what the deadline leaves.

    ``timeout`` applies when the request carries none; ``started`` is when the call began, on
    the retry clock.
    """
    if policy.deadline is None:
        return request.replace(attempt=attempt)
    elapsed = 0.0 if attempt == 1 else clock.monotonic() - started
    remaining = policy.deadline - elapsed
    current = request.timeout or timeout
    total = remaining if current.total is None else min(current.total, remaining)
    cut = attrs.evolve(current, total=max(total, 0.001))
    return request.replace(attempt=attempt, timeout=cut)
