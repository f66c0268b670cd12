"""Shared fixtures.

The emulator: async tests take the package's own pytest-plugin fixtures (``amas_emulator``,
``amas_client``, ``amas_retry_clock``: what our users get); synchronous tests (the sync client,
the CLI) take ``threaded_emulator``, which is the plugin's ``amas_emulator_sync``. Unit
tests with canned answers use ``amas_async.testing.MockTransport``; the aiohttp transport's own
tests use aioresponses (``mock_api``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aioresponses import aioresponses

import amas_async as amas
from amas_async.testing import Emulator


@pytest.fixture
def api_key() -> str:
    return "test-key"


@pytest.fixture
def base_url() -> str:
    return "https://amas.test/api/v1"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's AMAS_* settings."""
    monkeypatch.delenv("AMAS_API_KEY", raising=False)
    monkeypatch.delenv("AMAS_BASE_URL", raising=False)


@pytest.fixture
def threaded_emulator(amas_emulator_sync: Emulator) -> Emulator:
    """The plugin's ``amas_emulator_sync`` (what our users get): served from a thread."""
    return amas_emulator_sync


@pytest.fixture
def served_emulator(threaded_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """``threaded_emulator`` with ``AMAS_BASE_URL`` / ``AMAS_API_KEY`` pointing at it (the CLI)."""
    monkeypatch.setenv("AMAS_BASE_URL", threaded_emulator.base_url)
    monkeypatch.setenv("AMAS_API_KEY", threaded_emulator.api_key)
    return threaded_emulator


@pytest.fixture
async def client(api_key: str, base_url: str) -> AsyncIterator[amas.AsyncAmas]:
    """An open client on the aiohttp transport (to be used with ``mock_api``)."""
    async with amas.AsyncAmas(api_key=api_key, base_url=base_url) as opened:
        yield opened


@pytest.fixture
def mock_api() -> Iterator[aioresponses]:
    """aioresponses: every aiohttp request is intercepted; unregistered URLs fail to connect."""
    with aioresponses() as mocked:
        yield mocked
