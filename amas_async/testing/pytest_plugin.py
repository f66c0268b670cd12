"""pytest fixtures for code that uses amas_async: a running emulator and a client bound to it.

Registered through the ``pytest11`` entry point, so installing amas-async is enough::

    async def test_reply(amas_client):
        session = await amas_client.sessions.create({"name": "t", "agent_type": "llm_agent"})
        assert (await session.execute("hi")).text

``amas_emulator`` is an :class:`~amas_async.testing.Emulator` on 127.0.0.1 (fault injection,
counters and the recorded requests are on it); ``amas_client`` is an
:class:`~amas_async.AsyncAmas` connected to it, whose retries do not sleep
(``amas_retry_clock`` records the waits). Both are function-scoped and need an async
test runner (pytest-asyncio or anyio's plugin).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from .._client import AsyncAmas

if TYPE_CHECKING:
    from ._emulator import Emulator
    from ._retries import RetryClock

F = TypeVar("F", bound=Callable[..., Any])


def _fixture(func: F) -> F:
    """An async fixture for pytest-asyncio (strict mode needs its decorator) or anyio."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - anyio's plugin handles plain async fixtures
        return cast(F, pytest.fixture(func))
    return cast(F, pytest_asyncio.fixture(func))


@_fixture
async def amas_emulator() -> AsyncIterator[Emulator]:
    """A running AMAS emulator on 127.0.0.1, stopped after the test.

    Files, collections and knowledge bases finish processing at their next read
    (``processing_seconds=0``), so ``wait()`` returns at once; ``set_processing_seconds``,
    ``hold_processing`` / ``finish_processing`` / ``fail_processing`` script other courses.
    """
    from ._emulator import Emulator

    async with Emulator(processing_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def amas_retry_clock() -> Iterator[RetryClock]:
    """Instant retries for the test: backoff sleeps are recorded in ``.sleeps``, not slept."""
    from ._retries import instant_retries

    with instant_retries() as retry_clock:
        yield retry_clock


@_fixture
async def amas_client(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> AsyncIterator[AsyncAmas]:
    """An :class:`~amas_async.AsyncAmas` connected to ``amas_emulator``, closed after the test.

    Retries are on (the default policy) but never sleep: see ``amas_retry_clock``.
    """
    async with AsyncAmas(base_url=amas_emulator.base_url, api_key=amas_emulator.api_key) as client:
        yield client
