"""The pytest plugin, as a user meets it: installed, a test file of three lines just works."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

NO_ASYNCIO = ("-p", "no:cacheprovider", "-W", "error", "-p", "no:asyncio")
ARGS = (
    "-p",
    "no:cacheprovider",
    "-W",
    "error",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)


def test_user_test_with_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        async def test_reply(amas_client, amas_emulator):
            session = await amas_client.sessions.create({"name": "t", "agent_type": "llm_agent"})
            assert (await session.execute("hi")).text == "[t]  | hi"
            assert amas_emulator.executed_turns == 1
        """
    )
    result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1)


def test_fixtures_work_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_reply(amas_client):
            session = await amas_client.sessions.create({"name": "t", "agent_type": "llm_agent"})
            assert (await session.status()).health == "healthy"
        """
    )
    result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=1)


def test_every_test_of_this_suite_has_a_timeout(request: pytest.FixtureRequest) -> None:
    """A hang (a batch that never cancels its tasks, a lost wake-up) fails its own test."""
    assert request.config.pluginmanager.hasplugin("timeout")
    assert float(request.config.getini("timeout")) > 0


def test_a_hanging_test_fails_on_its_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio

        async def test_hangs():
            await asyncio.Event().wait()
        """
    )
    result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=auto", "--timeout=0.5")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


# ---- the ways to run async tests, the sync fixture, the clear error ----------------------------

ANYIO_TEST = """
    import pytest

    @pytest.fixture
    def anyio_backend():
        return "asyncio"

    @pytest.mark.anyio
    async def test_reply(amas_client, amas_emulator):
        session = await amas_client.sessions.create({"name": "t", "agent_type": "llm_agent"})
        assert (await session.execute("hi")).text == "[t]  | hi"
        amas_emulator.fail_next(status=503)
        assert (await session.status()).health == "healthy"  # retried, without sleeping
        assert amas_emulator.executed_turns == 1
    """


def test_anyio_plugin_beside_pytest_asyncio_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ANYIO_TEST)
    result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=1)


def test_anyio_plugin_with_pytest_asyncio_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ANYIO_TEST)
    result = pytester.runpytest(*NO_ASYNCIO)
    result.assert_outcomes(passed=1)


def test_anyio_plugin_without_pytest_asyncio_installed(pytester: pytest.Pytester) -> None:
    """In a fresh process where ``import pytest_asyncio`` fails: the fixtures are plain ones."""
    pytester.makepyfile(ANYIO_TEST)
    pytester.makepyfile(pytest_asyncio="raise ImportError('pytest-asyncio is not installed')")
    result = pytester.runpytest_subprocess(*NO_ASYNCIO)
    result.assert_outcomes(passed=1)


def test_anyio_test_under_auto_mode_fails_at_once_saying_why(pytester: pytest.Pytester) -> None:
    """pytest-asyncio's auto mode would run the fixtures on a loop other than the test's."""
    pytester.makepyfile(ANYIO_TEST)
    result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=auto", "--timeout=20")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*runs on anyio's plugin, but pytest-asyncio is in auto mode*"])
    result.stdout.no_fnmatch_line("*Timeout*")


def test_sync_test_with_the_threaded_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import amas_async as amas

        def test_reply(amas_emulator_sync, amas_retry_clock):
            emu = amas_emulator_sync
            with amas.Amas(base_url=emu.base_url, api_key=emu.api_key) as client:
                session = client.sessions.create({"name": "t", "agent_type": "llm_agent"})
                emu.fail_next(status=503, path="/execute/")
                assert session.execute("hi").text == "[t]  | hi"
                emu.fail_next(status=429, retry_after=120)
                with pytest.raises(amas.RateLimitError) as caught:
                    session.status()
            assert caught.value.retry_after == 120
            assert emu.executed_turns == 1
            assert len(amas_retry_clock.sleeps) == 1  # the 503, retried without sleeping

        async def test_also_in_an_async_test(amas_emulator_sync):
            emu = amas_emulator_sync
            async with amas.AsyncAmas(base_url=emu.base_url, api_key=emu.api_key) as client:
                session = await client.sessions.create({"name": "t", "agent_type": "llm_agent"})
                assert (await session.execute("hi")).text == "[t]  | hi"
        """
    )
    result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("fixture", "mode"), [("amas_emulator", "strict"), ("amas_client", "auto")]
)
def test_sync_test_asking_for_an_async_fixture_fails_at_once_saying_why(
    pytester: pytest.Pytester, fixture: str, mode: str
) -> None:
    pytester.makepyfile(
        f"""
        import amas_async as amas

        def test_sync({fixture}):
            raise AssertionError("never runs")
        """
    )
    # Before, the test's first request waited on a loop that was not running until it timed out.
    result = pytester.runpytest(*ARGS, "-o", f"asyncio_mode={mode}", "--timeout=20")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*test_sync is a synchronous test, but *`{fixture}`* async fixture*"]
    )
    result.stdout.fnmatch_lines(["*Use the `amas_emulator_sync` fixture*"])
    result.stdout.no_fnmatch_line("*Timeout*")
    result.stdout.no_fnmatch_line("*never runs*")


def test_the_fixtures_from_an_explicit_pytest_plugins_line(pytester: pytest.Pytester) -> None:
    """``pytest_plugins = ["amas_async.testing.pytest_plugin"]`` still works, alone or not."""
    pytester.makeconftest('pytest_plugins = ["amas_async.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        async def test_reply(amas_client):
            session = await amas_client.sessions.create({"name": "t", "agent_type": "llm_agent"})
            assert (await session.execute("hi")).text == "[t]  | hi"

        def test_sync(amas_emulator_sync):
            assert amas_emulator_sync.base_url.startswith("http://127.0.0.1:")
        """
    )
    for extra in ((), ("-p", "no:amas_async")):
        result = pytester.runpytest(*ARGS, "-o", "asyncio_mode=auto", *extra)
        result.assert_outcomes(passed=2)


def test_the_entry_point_module_does_not_import_the_package() -> None:
    """pytest loads plugins before pytest-cov starts: the package must not be imported yet."""
    code = (
        "import sys, pytest_amas_async\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'amas_async'], sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    (entry_point,) = [
        ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "amas_async"
    ]
    assert entry_point.value == "pytest_amas_async"
