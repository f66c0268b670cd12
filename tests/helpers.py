"""Helpers shared by the tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def serving(command: list[str], *args: str) -> Iterator[list[str]]:
    """``python -m <command> --port 0 <args>`` serving the emulator; yields its banner's lines.

    Stopped with Ctrl-C at the end, which must end it with status 0 and no traceback.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", *command, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Press Ctrl-C"):
            line = proc.stdout.readline()
            assert line, banner  # it did not exit
            banner.append(line.rstrip("\n"))
        yield banner
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:  # pragma: no cover - only when the test already failed
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


# ---- JSONL files of `amas batch` ------------------------------------------------------------

BATCH_INPUTS = {"user_name": "Ada", "tone": "warm"}


def write_input(path: Path, lines: list[Any]) -> Path:
    """A JSONL input file: each line a JSON object, or a raw string (malformed lines)."""
    with path.open("w") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL output file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def lines_for(count: int, sessions: int | None = None, start: int = 0) -> list[dict[str, Any]]:
    """Input lines ``q{start}``..., spread over ``sessions`` session keys if given."""
    out = []
    for i in range(start, start + count):
        line: dict[str, Any] = {"id": f"q{i}", "content": f"question {i}", "inputs": BATCH_INPUTS}
        if sessions:
            line["session"] = f"s{i % sessions}"
        out.append(line)
    return out
