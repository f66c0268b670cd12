"""The pytest plugin, as a user meets it: installed, a test file of three lines just works."""

from __future__ import annotations

import pytest

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
