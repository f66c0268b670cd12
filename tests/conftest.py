"""Shared fixtures for the unit tests (aioresponses-based; no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aioresponses import aioresponses

import amas_async as amas


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
async def client(api_key: str, base_url: str) -> AsyncIterator[amas.AsyncAmas]:
    """An open client, closed after the test."""
    async with amas.AsyncAmas(api_key=api_key, base_url=base_url) as opened:
        yield opened


@pytest.fixture
def mock_api() -> Iterator[aioresponses]:
    """aioresponses: every aiohttp request is intercepted; unregistered URLs fail to connect."""
    with aioresponses() as mocked:
        yield mocked
