"""pytest fixtures for code that uses amas_async: a running emulator and a client bound to it.

Registered through the ``pytest11`` entry point, so installing amas-async is enough:

```python
import pytest

@pytest.mark.asyncio  # or asyncio_mode = "auto", or @pytest.mark.anyio
async def test_reply(amas_client):
    session = await amas_client.sessions.create({"name": "t", "agent_type": "llm_agent"})
    assert (await session.execute("hi")).text
```

- ``amas_emulator``: an :class:`~amas_async.testing.Emulator` on 127.0.0.1, running on the
  test's event loop (fault injection, counters and the recorded requests are on it);
- ``amas_client``: an :class:`~amas_async.AsyncAmas` connected to it, whose retries do not
  sleep;
- ``amas_retry_clock``: instant retry backoff; the skipped waits are in ``.sleeps``;
- ``amas_emulator_sync``: the emulator served from a background thread, for synchronous
  tests (``amas.Amas(base_url=emu.base_url, api_key=emu.api_key)``).

The two async fixtures need an async test, run by pytest-asyncio (strict mode with
``@pytest.mark.asyncio``, or ``asyncio_mode = "auto"``) or by anyio's plugin
(``@pytest.mark.anyio``). A synchronous test that asks for them fails at once, naming
``amas_emulator_sync``. ``docs/testing.md`` is the guide.

This module lives outside the ``amas_async`` package and imports it only inside the fixtures:
pytest loads its plugins before ``pytest-cov`` starts measuring, so a plugin that imported the
package would leave every module-level line of it unmeasured. Users who list plugins by hand
can keep ``pytest_plugins = ["amas_async.testing.pytest_plugin"]``, which re-exports these.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from amas_async import AsyncAmas
    from amas_async.testing import Emulator, RetryClock

__all__ = [
    "amas_client",
    "amas_emulator",
    "amas_emulator_sync",
    "amas_retry_clock",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The fixtures that run on the test's event loop, so only an async test can use them.
ASYNC_FIXTURES = ("amas_client", "amas_emulator")


def _async_fixture(func: F) -> F:
    """An async fixture for pytest-asyncio (strict mode needs its decorator) or anyio."""
    try:
        import pytest_asyncio
    except ImportError:  # anyio's plugin runs plain async fixtures
        return cast(F, pytest.fixture(func))
    return cast(F, pytest_asyncio.fixture(func))


def _is_async_test(item: object) -> bool | None:
    """Whether ``item`` is a coroutine test function (None: not a test function at all)."""
    function = getattr(item, "obj", None)
    if function is None:
        return None
    # Hypothesis wraps an async test in a sync function and keeps the original here.
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", function)
    return inspect.iscoroutinefunction(inner) or inspect.isasyncgenfunction(inner)


def _asyncio_mode(config: pytest.Config) -> str | None:
    """pytest-asyncio's mode ("strict"/"auto"), or None when pytest-asyncio is not active."""
    if not config.pluginmanager.hasplugin("asyncio"):
        return None
    try:
        return str(config.getini("asyncio_mode"))
    except ValueError:  # pragma: no cover - a pytest-asyncio without that option
        return None


@pytest.fixture
def _amas_async_test_only(request: pytest.FixtureRequest) -> None:
    """Fail at once, and say why, where an async fixture could only hang or misbehave.

    A synchronous test has no running event loop: pytest-asyncio would start the emulator on a
    loop of its own that is idle while the test runs, and the test's requests would wait for
    its answer until they time out.
    """
    names = [f"`{name}`" for name in ASYNC_FIXTURES if name in request.fixturenames]
    wanted = " and ".join(names)
    test = request.node
    if _is_async_test(test) is False:
        kind = "is an async fixture" if len(names) == 1 else "are async fixtures"
        pytest.fail(
            f"{test.name} is a synchronous test, but {wanted} {kind}, run on the test's "
            "event loop, which a synchronous test does not have. Use the `amas_emulator_sync` "
            "fixture (the emulator served from a background thread, with .base_url and "
            ".api_key for amas.Amas(...)), or make the test `async def` (marked "
            "@pytest.mark.asyncio, or asyncio_mode = 'auto', or @pytest.mark.anyio).",
            pytrace=False,
        )
    if "anyio_backend" in request.fixturenames and _asyncio_mode(request.config) == "auto":
        pytest.fail(
            f"{test.name} runs on anyio's plugin, but pytest-asyncio is in auto mode, which "
            f"runs {wanted} on an event loop of its own, not the test's. Use "
            "pytest-asyncio's strict mode (its default: remove asyncio_mode = 'auto') or "
            "disable it for this run with `-p no:asyncio`.",
            pytrace=False,
        )


@_async_fixture
async def amas_emulator(_amas_async_test_only: None) -> AsyncIterator[Emulator]:
    """A running AMAS emulator on 127.0.0.1, on the test's event loop; stopped after the test.

    Files, collections and knowledge bases finish processing at their next read
    (``processing_seconds=0``), so ``wait()`` returns at once; ``set_processing_seconds``,
    ``hold_processing`` / ``finish_processing`` / ``fail_processing`` script other courses.
    For a synchronous test, use ``amas_emulator_sync``.
    """
    from amas_async.testing import Emulator

    async with Emulator(processing_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def amas_emulator_sync() -> Iterator[Emulator]:
    """The AMAS emulator served from a background thread, for synchronous tests.

    The same :class:`~amas_async.testing.Emulator` as ``amas_emulator`` (``.base_url``,
    ``.api_key``, fault injection, counters, recorded requests; every method may be called
    from the test's thread), on its own event loop in a daemon thread, stopped after the test:

    ```python
    def test_reply(amas_emulator_sync):
        emu = amas_emulator_sync
        with amas.Amas(base_url=emu.base_url, api_key=emu.api_key) as client:
            ...
    ```

    It works in async tests too (any event loop, any runner).
    """
    from amas_async.testing import Emulator

    with Emulator(processing_seconds=0).run_in_thread() as emulator:
        yield emulator


@pytest.fixture
def amas_retry_clock() -> Iterator[RetryClock]:
    """Instant retries for the test: backoff sleeps are recorded in ``.sleeps``, not slept.

    It covers every client, sync ones included (``amas.Amas`` retries on its own thread).
    """
    from amas_async.testing import instant_retries

    with instant_retries() as retry_clock:
        yield retry_clock


@_async_fixture
async def amas_client(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> AsyncIterator[AsyncAmas]:
    """An :class:`~amas_async.AsyncAmas` connected to ``amas_emulator``, closed after the test.

    Retries are on (the default policy) but never sleep: see ``amas_retry_clock``.
    """
    from amas_async import AsyncAmas

    async with AsyncAmas(base_url=amas_emulator.base_url, api_key=amas_emulator.api_key) as client:
        yield client
