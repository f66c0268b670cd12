"""Helpers shared by the tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(
    condition: Callable[[], bool], *, timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``condition`` every 5 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.005)


def wait_until_sync(
    condition: Callable[[], bool], *, timeout: float = 5.0, what: str = "condition"
) -> None:
    """:func:`wait_until` for synchronous tests (polls every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.02)
