"""Instant retries for tests: backoff sleeps return at once and advance a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from .._clock import clock

__all__ = ["RetryClock", "instant_retries"]


class RetryClock:
    """The clock retries use inside :func:`instant_retries`.

    ``sleeps`` lists every backoff wait asked for, in order, in seconds. Each sleep returns at
    once (after yielding to the event loop) and moves the clock forward by its length
    (``offset`` is the sum so far), so deadlines behave as if the time had passed.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.offset = 0.0

    def monotonic(self) -> float:
        """Real monotonic time plus every sleep skipped so far."""
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        """Record the wait, advance the clock, and return at once."""
        self.sleeps.append(seconds)
        self.offset += seconds
        await asyncio.sleep(0)


@contextlib.contextmanager
def instant_retries() -> Iterator[RetryClock]:
    """Make retry backoff sleeps instant within the block (for every client).

    Yields the :class:`RetryClock` in use; the real clock is back when the block exits.

    ```python
    with instant_retries() as retry_clock:
        await client.sessions.get(session_id)      # the emulator failed it twice
    assert len(retry_clock.sleeps) == 2
    ```
    """
    fake = RetryClock()
    saved = clock.monotonic, clock.sleep
    clock.monotonic, clock.sleep = fake.monotonic, fake.sleep
    try:
        yield fake
    finally:
        clock.monotonic, clock.sleep = saved
