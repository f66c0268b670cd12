"""One rate limit for a whole Ray cluster: a named actor that leases tokens in chunks.

Every Ray actor of a stage runs its own client, so a per-client :class:`Throttle` would let N
actors send N times the account's rate. Instead one small actor (named, so every worker finds
it) keeps the cluster's token bucket, a :class:`RateLedger`, and hands tokens out in chunks of
about a tenth of a second's worth: an actor asks again only when its chunk is spent, not once
per request. A 429 seen by any actor is reported to the ledger, which halves the rate for
everyone (at most once a second) and pauses every lease for the ``Retry-After``; the rate then
recovers additively, a tenth of the configured rate per quiet second.

Bound: whatever the number of actors, the tokens granted over any ``T`` seconds are at most
two chunks plus ``rate x T``, and every attempt spends one token; an actor holds at most one
chunk it has not spent. So N actors send at most ``rate x T + (N + 2) x chunk`` in any ``T``
seconds: the limit plus a tenth of a second's worth per actor at the edges of a window. They
may send slower: tokens an actor leased and did not use are lost.

The ledger actor is created on first use by the first worker that asks (``get_if_exists``), or
by the driver with :meth:`ClusterRateLimit.start`. A worker-created ledger shares its creator's
fate: if that worker dies, the next lease makes a new ledger (its state starts afresh, full
rate and one chunk of burst). Start it from the driver to keep one for the whole job.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._checks import check_int, check_number
from .._retry import parse_retry_after
from .._throttle import Throttle
from ..errors import InvalidRequestError

__all__ = ["ClusterRateLimit", "RateLedger"]

_DECREASE_EVERY = 1.0  # seconds: one halving per burst of 429s
_RECOVER_PER_SECOND = 0.1  # of the configured rate, per second without a 429
DEFAULT_NAME = "amas_async.rate_limit"


class RateLedger:
    """The cluster's token bucket with an adaptive rate; the state of the ledger actor.

    ``rate`` is requests per second for the whole cluster. :meth:`lease` grants one whole
    chunk (``rate x lease_seconds`` tokens, at least 1) from a bucket that holds two chunks
    and refills at the current rate, or says how long to wait for one. :meth:`throttled` (a
    429 somewhere) halves the current rate, not below ``min_rate`` (default ``rate / 16``), at
    most once a second, and pauses all leases for ``retry_after`` seconds (at most 60); after
    a quiet second the rate climbs back to the configured one gradually. ``clock`` can be
    injected (tests).

    ``configured_rate`` is the rate given and ``rate`` the current one; ``lease_seconds``
    (default 0.1) sizes a chunk; ``granted``, ``leases`` and ``throttles`` count the tokens
    granted, the leases that granted some and the 429s reported (see :meth:`stats`). A rate
    or ``lease_seconds`` that is not a positive number raises :class:`InvalidRequestError`.
    """

    def __init__(
        self,
        rate: float,
        *,
        lease_seconds: float = 0.1,
        min_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.configured_rate = float(check_number(rate, "rate"))
        self.lease_seconds = float(check_number(lease_seconds, "lease_seconds"))
        floor = self.configured_rate / 16 if min_rate is None else min_rate
        self.min_rate = float(min(check_number(floor, "min_rate"), self.configured_rate))
        self.rate = self.configured_rate
        self._clock = clock
        self._stamp = clock()
        self._tokens = float(self.chunk)
        self._paused_until = -math.inf
        self._last_decrease = -math.inf
        self.granted = 0
        self.leases = 0
        self.throttles = 0

    @property
    def chunk(self) -> int:
        """Tokens granted by one lease at most, at the current rate (the bucket holds two)."""
        return max(1, int(self.rate * self.lease_seconds))

    def _advance(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(2.0 * self.chunk, self._tokens + elapsed * self.rate)
        quiet = now - max(self._last_decrease, self._paused_until)
        if self.rate < self.configured_rate and quiet >= _DECREASE_EVERY:
            step = self.configured_rate * _RECOVER_PER_SECOND * elapsed
            self.rate = min(self.configured_rate, self.rate + step)

    def lease(self) -> tuple[int, float]:
        """Grant tokens now: ``(count, 0.0)``; or ``(0, seconds)`` to wait before asking again."""
        now = self._clock()
        self._advance(now)
        if now < self._paused_until:
            return 0, self._paused_until - now
        granted = self.chunk
        if self._tokens < granted:
            # only whole chunks: under contention, partial grants would mean a lease per token
            # or two. Wait until a chunk is there (the bucket holds two, so tokens that pile up
            # while leases are on their way are not lost).
            return 0, (granted - self._tokens) / self.rate
        self._tokens -= granted
        self.granted += granted
        self.leases += 1
        return granted, 0.0

    def throttled(self, retry_after: float | None = None) -> None:
        """A 429 was seen: halve the rate (at most once a second); pause for ``retry_after``."""
        now = self._clock()
        self._advance(now)
        self.throttles += 1
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + min(retry_after, 60.0))
        if now - self._last_decrease >= _DECREASE_EVERY:
            self._last_decrease = now
            self.rate = max(self.min_rate, self.rate / 2)
            self._tokens = min(self._tokens, 2.0 * self.chunk)

    def stats(self) -> dict[str, float]:
        """The ledger's counters: current and configured rate, tokens granted, leases, 429s."""
        return {
            "rate": self.rate,
            "configured_rate": self.configured_rate,
            "granted": self.granted,
            "leases": self.leases,
            "throttles": self.throttles,
        }


def _ray() -> Any:
    import ray  # the extra: imported where a ledger actor is looked up or made

    return ray


class ClusterRateLimit:
    """A rate limit shared by every actor of a Ray cluster (the handle of the ledger actor).

    ``ClusterRateLimit(rate)`` names the ledger (``name``, default one per job's namespace)
    without starting anything; the first :meth:`lease` finds or creates the actor. It pickles
    by name, so pass it in ``fn_constructor_kwargs``. :meth:`start` (on the driver) creates the
    actor at once, owned by the driver, so it lives as long as the job.
    :meth:`throttle` gives a :class:`Throttle` for an ``AsyncAmas`` that takes its tokens here.

    ``rate`` is requests per second for the whole cluster and ``lease_seconds`` (default 0.1)
    how many seconds' worth of tokens one lease takes at most. A rate or ``lease_seconds``
    that is not a positive number, or an empty ``name``, raises :class:`InvalidRequestError`.
    """

    def __init__(
        self, rate: float, *, name: str = DEFAULT_NAME, lease_seconds: float = 0.1
    ) -> None:
        self.rate = float(check_number(rate, "rate_limit"))
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("name must be a non-empty str")
        self.name = name
        self.lease_seconds = float(check_number(lease_seconds, "lease_seconds"))
        self._handle: Any = None

    def __repr__(self) -> str:
        return f"ClusterRateLimit(rate={self.rate}, name={self.name!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"rate": self.rate, "name": self.name, "lease_seconds": self.lease_seconds}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.rate, self.name = state["rate"], state["name"]
        self.lease_seconds = state["lease_seconds"]
        self._handle = None

    def start(self) -> ClusterRateLimit:
        """Create (or find) the ledger actor now, from this process; returns ``self``."""
        self._actor()
        return self

    def stop(self) -> None:
        """Kill the ledger actor if there is one (a later lease would make a new one)."""
        ray = _ray()
        handle = self._handle
        if handle is None:
            try:
                handle = ray.get_actor(self.name)
            except ValueError:
                return
        ray.kill(handle)
        self._handle = None

    def _actor(self) -> Any:
        if self._handle is None:
            ray = _ray()
            ledger = ray.remote(num_cpus=0, max_restarts=0)(RateLedger)
            self._handle = ledger.options(name=self.name, get_if_exists=True).remote(
                self.rate, lease_seconds=self.lease_seconds
            )
        return self._handle

    async def lease(self) -> tuple[int, float]:
        """Ask the ledger for tokens: ``(count, 0.0)`` or ``(0, seconds to wait)``.

        A ledger that died (its creator did) is replaced by a new one.
        """
        ray = _ray()
        try:
            result: tuple[int, float] = await self._actor().lease.remote()
        except ray.exceptions.RayActorError:
            self._handle = None
            result = await self._actor().lease.remote()
        return result

    def throttled(self, retry_after: float | None) -> None:
        """Report a 429 to the ledger (not awaited: the caller goes on)."""
        self._actor().throttled.remote(retry_after)

    def stats(self) -> dict[str, float]:
        """The ledger's counters (blocking; from the driver or a test)."""
        result: dict[str, float] = _ray().get(self._actor().stats.remote())
        return result

    def throttle(self, max_concurrency: int | None = None) -> Throttle:
        """A :class:`Throttle` whose tokens come from this ledger (one per attempt).

        ``max_concurrency`` caps this client's attempts in flight and adapts to 429s as a
        plain :class:`Throttle` does.
        """
        if max_concurrency is not None:
            check_int(max_concurrency, "max_concurrency")
        return _LeasedThrottle(self, max_concurrency=max_concurrency)


class _LeasedThrottle(Throttle):
    """A :class:`Throttle` that spends tokens leased in chunks from a :class:`ClusterRateLimit`."""

    def __init__(self, source: ClusterRateLimit, *, max_concurrency: int | None) -> None:
        super().__init__(None, max_concurrency=max_concurrency)
        self.requests_per_second = source.rate  # shown in repr; the bucket is the ledger's
        self._source = source
        self._leased = 0
        self._refill = asyncio.Lock()

    def _try_token(self) -> bool:
        if self._leased > 0:
            self._leased -= 1
            return True
        return False

    async def _take_token(self) -> None:
        while self._leased <= 0:
            async with self._refill:  # one lease in flight; the others wait for its chunk
                if self._leased > 0:
                    break
                granted, wait = await self._source.lease()
                self._leased += granted
                if not granted:
                    await self._sleep(wait)
        self._leased -= 1

    def release_status(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        super().release_status(status, headers)
        if status == 429:
            self._source.throttled(parse_retry_after(headers) if headers is not None else None)
