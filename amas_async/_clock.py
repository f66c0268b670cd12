"""The clock and sleep that retries and throttles wait on, swappable in tests.

``amas_async.testing.instant_retries()`` swaps both for a fake clock whose sleeps return at
once, so retry and throttle tests never sleep for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Clock", "clock"]


class Clock:
    """A monotonic clock and an async sleep; both are plain attributes so tests can swap them."""

    __slots__ = ("monotonic", "sleep")

    def __init__(self) -> None:
        self.monotonic: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


#: The process-wide clock of the retry and throttle layers.
clock = Clock()
