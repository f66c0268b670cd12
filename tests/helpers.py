"""Helpers shared by the tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def upload_sources(tmp_path: Path, png: bytes) -> dict[str, tuple[Callable[[], Any], str]]:
    """Every kind of file argument an upload takes, each with the file name it should send."""
    path = tmp_path / "photo.png"
    path.write_bytes(png)
    return {
        "path": (lambda: path, "photo.png"),
        "str-path": (lambda: str(path), "photo.png"),
        "bytes": (lambda: png, "upload.png"),
        "bytearray": (lambda: bytearray(png), "upload.png"),
        "BytesIO": (lambda: io.BytesIO(png), "upload.png"),
    }
