"""Retries against the emulator's fault injection (real HTTP on 127.0.0.1), with sleeps injected.

The ``amas_client`` fixture retries under the default policy without sleeping;
``amas_retry_clock`` records every backoff wait and advances a fake clock, so deadlines behave
as if the time had passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async.cli.demo import tiny_png
from amas_async.testing import Emulator, MockTransport, RetryClock, instant_retries

FLAT = {"name": "Flat", "agent_type": "llm_agent", "system_prompt": "Be brief."}


def requests_to(emu: Emulator, method: str, part: str) -> list[Any]:
    return [r for r in emu.requests if r.method == method and part in r.path]


@pytest.fixture
async def session(amas_client: amas.AsyncAmas) -> amas.Session:
    return await amas_client.sessions.create(FLAT)


# ---- the backoff schedule ------------------------------------------------------------------


def test_backoff_schedule_bounds_with_jitter() -> None:
    policy = amas.RetryPolicy()
    expected = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for attempt, base in enumerate(expected, start=1):
        assert policy.backoff(attempt, rand=lambda: 0.0) == base  # no jitter drawn
        assert policy.backoff(attempt, rand=lambda: 1.0) == base * 0.5  # the most jitter
        rng = random.Random(attempt)
        for _ in range(200):
            assert base * 0.5 <= policy.backoff(attempt, rand=rng.random) <= base


def test_backoff_without_jitter_is_exact() -> None:
    policy = amas.RetryPolicy(initial_backoff=0.1, multiplier=3, max_backoff=1.0, jitter=0)
    assert [policy.backoff(n) for n in range(1, 5)] == pytest.approx([0.1, 0.3, 0.9, 1.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"jitter": 1.5},
        {"initial_backoff": -1},
        {"deadline": -1},
        {"max_retry_after": "soon"},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        amas.RetryPolicy(**kwargs)


def test_client_options_build_the_policy() -> None:
    client = amas.AsyncAmas(api_key="k", max_retries=5)
    assert client.retry_policy.max_attempts == 6
    assert amas.AsyncAmas(api_key="k", max_retries=0).retry_policy.max_attempts == 1
    custom = amas.RetryPolicy(max_attempts=4, deadline=10)
    assert amas.AsyncAmas(api_key="k", retry=custom).retry_policy is custom
    assert amas.AsyncAmas(api_key="k", retry=custom, max_retries=1).retry_policy.deadline == 10
    with pytest.raises(amas.InvalidRequestError):
        amas.AsyncAmas(api_key="k", max_retries=-1)
    with pytest.raises(TypeError):
        amas.AsyncAmas(api_key="k", retry=3)  # type: ignore[arg-type]


# ---- what is retried -----------------------------------------------------------------------


async def test_429_with_retry_after_seconds_then_200(
    amas_emulator: Emulator, session: amas.Session, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(status=429, retry_after=3, path="/execute/")
    result = await session.execute("hi")
    assert result.text.endswith("| hi")
    assert result.attempts == 2
    assert amas_retry_clock.sleeps == [3.0]
    assert len(requests_to(amas_emulator, "POST", "/execute/")) == 2
    assert amas_emulator.executed_turns == 1


async def test_429_with_retry_after_as_http_date(
    amas_emulator: Emulator, session: amas.Session, amas_retry_clock: RetryClock
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    amas_emulator.fail_next(status=429, retry_after=when, path="/execute/")
    result = await session.execute("hi")
    assert result.attempts == 2
    (wait,) = amas_retry_clock.sleeps
    assert 27.0 <= wait <= 30.0  # whole seconds in the date, and a little time has passed


async def test_retry_after_ms_is_honoured(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.respond_next(
        status=503,
        body={"error": {"type": "api_error", "message": "busy"}},
        headers={"retry-after-ms": "250"},
    )
    await amas_client.sessions.create(FLAT)
    assert amas_retry_clock.sleeps == [0.25]


async def test_503_503_200_follows_the_backoff(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(2, status=503)
    session = await amas_client.sessions.create(FLAT)
    assert session.id
    assert len(requests_to(amas_emulator, "POST", "/sessions/")) == 3
    first, second = amas_retry_clock.sleeps
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0
    assert len(amas_emulator.session_ids) == 1


async def test_every_attempt_fails_and_the_error_says_how_many(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(5, status=502)
    with pytest.raises(amas.InternalServerError) as info:
        await amas_client.sessions.get("abc")
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)
    assert len(amas_retry_clock.sleeps) == 2
    assert len(requests_to(amas_emulator, "GET", "/sessions/abc/")) == 3


async def test_retry_after_over_the_cap_fails_at_once(
    amas_emulator: Emulator, session: amas.Session, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(status=429, retry_after=3600, path="/execute/")
    with pytest.raises(amas.RateLimitError) as info:
        await session.execute("hi")
    assert info.value.retry_after == 3600.0
    assert info.value.attempts == 1
    assert amas_retry_clock.sleeps == []
    assert len(requests_to(amas_emulator, "POST", "/execute/")) == 1


async def test_the_cap_is_configurable(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    patient = amas_client.with_options(retry=amas.RetryPolicy(max_retry_after=7200, deadline=None))
    amas_emulator.fail_next(status=429, retry_after=3600)
    await patient.sessions.create(FLAT)
    assert amas_retry_clock.sleeps == [3600.0]


# A Retry-After between the cap (max_retry_after, default 60 s) and the deadline (300 s): only
# the cap refuses it. On both paths: lean (no user middleware) and layered (a pass-through one).

RETRY_AFTER_HEADERS = {"seconds": {"Retry-After": "120"}, "ms": {"retry-after-ms": "120000"}}


def _pass_through(
    request: amas.Request, handler: Callable[[amas.Request], Awaitable[amas.Response]]
) -> Awaitable[amas.Response]:
    return handler(request)


@contextlib.asynccontextmanager
async def client_on(
    emu: Emulator, path: str, policy: amas.RetryPolicy | None = None
) -> AsyncIterator[amas.AsyncAmas]:
    middlewares = [_pass_through] if path == "layered" else []
    async with amas.AsyncAmas(
        base_url=emu.base_url,
        api_key=emu.api_key,
        retry=policy,
        middlewares=middlewares,
    ) as client:
        yield client


def throttled_once(emu: Emulator, header: str) -> None:
    """The next execute answers 429 with a 120 s Retry-After (or retry-after-ms)."""
    emu.respond_next(
        status=429,
        body={"error": {"type": "rate_limit_error", "message": "Too many requests"}},
        headers=RETRY_AFTER_HEADERS[header],
        path="/execute/",
    )


@pytest.mark.parametrize("header", ["seconds", "ms"])
@pytest.mark.parametrize("path", ["lean", "layered"])
async def test_retry_after_over_the_cap_but_within_the_deadline_fails_at_once(
    amas_emulator: Emulator, amas_retry_clock: RetryClock, path: str, header: str
) -> None:
    policy = amas.RetryPolicy()
    assert policy.max_retry_after < 120 < (policy.deadline or 0)  # the case under test
    async with client_on(amas_emulator, path) as client:
        session = await client.sessions.create(FLAT)
        throttled_once(amas_emulator, header)
        with pytest.raises(amas.RateLimitError) as info:
            await session.execute("hi")
    assert info.value.retry_after == 120.0
    assert info.value.attempts == 1
    assert amas_retry_clock.sleeps == []
    assert len(requests_to(amas_emulator, "POST", "/execute/")) == 1
    assert amas_emulator.executed_turns == 0


@pytest.mark.parametrize("header", ["seconds", "ms"])
@pytest.mark.parametrize("path", ["lean", "layered"])
async def test_retry_after_under_a_raised_cap_is_waited(
    amas_emulator: Emulator, amas_retry_clock: RetryClock, path: str, header: str
) -> None:
    async with client_on(amas_emulator, path, amas.RetryPolicy(max_retry_after=200)) as client:
        session = await client.sessions.create(FLAT)
        throttled_once(amas_emulator, header)
        result = await session.execute("hi")
    assert result.text.endswith("| hi")
    assert result.attempts == 2
    assert amas_retry_clock.sleeps == [pytest.approx(120.0)]
    first, second = requests_to(amas_emulator, "POST", "/execute/")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert amas_emulator.executed_turns == 1


@pytest.mark.parametrize("path", ["lean", "layered"])
async def test_retry_after_equal_to_the_cap_is_waited(
    amas_emulator: Emulator, amas_retry_clock: RetryClock, path: str
) -> None:
    async with client_on(amas_emulator, path) as client:
        session = await client.sessions.create(FLAT)
        amas_emulator.fail_next(status=429, retry_after=60, path="/execute/")
        result = await session.execute("hi")
    assert result.attempts == 2
    assert amas_retry_clock.sleeps == [pytest.approx(60.0)]
    assert amas_emulator.executed_turns == 1


@pytest.mark.parametrize("path", ["lean", "layered"])
async def test_a_later_retry_after_over_the_cap_ends_the_retries(
    amas_emulator: Emulator, amas_retry_clock: RetryClock, path: str
) -> None:
    async with client_on(amas_emulator, path) as client:
        amas_emulator.fail_next(status=503, path="/sessions/")
        amas_emulator.fail_next(status=503, retry_after=120, path="/sessions/")
        with pytest.raises(amas.InternalServerError) as info:
            await client.sessions.create(FLAT)
    assert info.value.attempts == 2
    assert len(amas_retry_clock.sleeps) == 1  # the backoff after the first; none after 120 s
    assert amas_retry_clock.sleeps[0] <= 0.5
    assert amas_emulator.session_ids == []


@pytest.mark.parametrize("status", [500, 502, 504, 408])
async def test_execute_is_not_retried_on_other_failures_by_default(
    amas_emulator: Emulator, session: amas.Session, status: int, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(status=status, path="/execute/")
    with pytest.raises(amas.APIStatusError) as info:
        await session.execute("hi")
    assert info.value.status_code == status
    assert info.value.attempts == 1
    assert len(requests_to(amas_emulator, "POST", "/execute/")) == 1
    assert amas_retry_clock.sleeps == []


async def test_execute_is_retried_on_500_when_the_policy_opts_in(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    bold = amas_client.with_options(retry=amas.RetryPolicy(retry_non_idempotent=True))
    session = await bold.sessions.create(FLAT)
    amas_emulator.fail_next(status=500, path="/execute/")
    result = await session.execute("hi")
    assert result.attempts == 2
    assert amas_emulator.executed_turns == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_execute_is_retried_where_the_turn_cannot_have_run(
    amas_emulator: Emulator, session: amas.Session, status: int, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(status=status, path="/execute/")
    assert (await session.execute("hi")).attempts == 2
    assert amas_emulator.executed_turns == 1


async def test_idempotency_key_is_the_same_on_every_attempt(
    amas_emulator: Emulator, session: amas.Session, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(2, status=503, path="/execute/")
    await session.execute("hi")
    await session.execute("again")
    attempts = requests_to(amas_emulator, "POST", "/execute/")
    keys = [r.headers["Idempotency-Key"] for r in attempts]
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2]  # one logical call, three attempts
    assert keys[3] != keys[0]  # a new call, a new key
    assert amas_emulator.executed_turns == 2  # no duplicated turn
    history = await session.messages()
    assert [m.text for m in history.messages if m.role == "user"] == ["hi", "again"]


async def test_a_callers_own_idempotency_key_is_sent_and_honoured(
    amas_emulator: Emulator, session: amas.Session
) -> None:
    first = await session.execute("hi", idempotency_key="order-42")
    replay = await session.execute("hi", idempotency_key="order-42")
    assert replay.raw == first.raw
    assert amas_emulator.executed_turns == 1
    keys = {r.headers["Idempotency-Key"] for r in requests_to(amas_emulator, "POST", "/execute/")}
    assert keys == {"order-42"}
    with pytest.raises(amas.InvalidRequestError):
        await session.execute("hi", idempotency_key="bad\nkey")


async def test_every_post_carries_a_key_and_gets_do_not(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    session = await amas_client.sessions.create(FLAT)
    await amas_client.images.upload(tiny_png(), filename="x.png")
    await session.status()
    for request in amas_emulator.requests:
        assert ("Idempotency-Key" in request.headers) == (request.method == "POST")


# ---- connections and timeouts -----------------------------------------------------------------


async def test_dropped_connection_is_retried_for_session_creation(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(drop=True, path="/sessions/")
    session = await amas_client.sessions.create(FLAT)
    assert session.id
    assert len(requests_to(amas_emulator, "POST", "/sessions/")) == 2
    assert len(amas_retry_clock.sleeps) == 1


async def test_dropped_connection_on_execute_is_not_retried_by_default(
    amas_emulator: Emulator, session: amas.Session, amas_retry_clock: RetryClock
) -> None:
    amas_emulator.fail_next(drop=True, path="/execute/")
    with pytest.raises(amas.APIConnectionError) as info:
        await session.execute("hi")
    assert info.value.request_sent
    assert info.value.attempts == 1
    assert len(requests_to(amas_emulator, "POST", "/execute/")) == 1


async def test_dropped_get_is_retried(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    session = await amas_client.sessions.create(FLAT)
    amas_emulator.fail_next(2, drop=True, path="/status/")
    assert (await session.status()).session_id == session.id
    assert len(amas_retry_clock.sleeps) == 2
    # one request per attempt: aiohttp re-sends nothing by itself behind the policy's back
    assert len(requests_to(amas_emulator, "GET", "/status/")) == 3


async def test_refused_connection_is_retried_even_for_execute(
    amas_retry_clock: RetryClock,
) -> None:
    emu = Emulator()
    await emu.start()
    url = emu.base_url
    await emu.stop()
    async with amas.AsyncAmas(base_url=url, api_key="k") as client:
        with pytest.raises(amas.APIConnectionError) as info:
            await client.runtime.execute("s1", "hi")
    assert info.value.request_sent is False
    assert info.value.attempts == 3
    assert len(amas_retry_clock.sleeps) == 2


async def test_read_timeout_is_retried_for_reads(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        timeout=amas.Timeout(read=0.1),
    ) as client:
        session = await client.sessions.create(FLAT)
        amas_emulator.fail_next(delay=0.5, path="/status/")
        status = await session.status()
        assert status.session_id == session.id
        assert len(requests_to(amas_emulator, "GET", "/status/")) == 2

        amas_emulator.fail_next(delay=0.5, path="/execute/")
        with pytest.raises(amas.APITimeoutError) as info:
            await session.execute("hi")
        assert info.value.attempts == 1  # a read timeout on execute: the turn may have run


async def test_the_deadline_cuts_retries_short(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    hurried = amas_client.with_options(retry=amas.RetryPolicy(max_attempts=10, deadline=5.0))
    amas_emulator.fail_next(10, status=503, retry_after=2)
    with pytest.raises(amas.InternalServerError) as info:
        await hurried.sessions.get("abc")
    # waits of 2 s: after two of them (4 s), a third would pass the 5 s deadline
    assert amas_retry_clock.sleeps == [2.0, 2.0]
    assert info.value.attempts == 3


async def test_the_deadline_bounds_each_attempts_timeout(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    policy = amas.RetryPolicy(deadline=0.3)
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, retry=policy
    ) as client:
        amas_emulator.fail_next(delay=2.0, path="/sessions/abc/")
        started = time.monotonic()
        with pytest.raises(amas.APITimeoutError):
            await client.sessions.get("abc")
        assert time.monotonic() - started < 1.5  # not the 300 s total timeout


# ---- uploads, resources, cancellation -----------------------------------------------------


async def test_upload_is_re_streamed_byte_identical_after_a_503(
    amas_emulator: Emulator,
    amas_client: amas.AsyncAmas,
    tmp_path: Path,
    amas_retry_clock: RetryClock,
) -> None:
    image = tiny_png(64, 64)
    path = tmp_path / "photo.png"
    path.write_bytes(image)
    amas_emulator.fail_next(status=503, path="/images/upload/")
    upload = await amas_client.images.upload(path)
    assert upload.attempts == 2
    first, second = requests_to(amas_emulator, "POST", "/images/upload/")
    assert image in first.body
    assert image in second.body
    assert len(first.body) == len(second.body)  # only the boundary differs
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    (stored,) = amas_emulator.uploads.values()
    assert stored.data == image
    assert stored.filename == "photo.png"


async def test_no_connection_is_left_behind(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    # One connection in the pool: a failed attempt whose answer is not released would hold it
    # and every later request would wait for it forever (the timeout turns that into a failure).
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        limits=amas.Limits(max_connections=1),
    ) as client:
        amas_emulator.fail_next(2, status=503)
        amas_emulator.fail_next(2, status=429, retry_after=1)
        creates = (client.sessions.create(FLAT) for _ in range(4))
        await asyncio.wait_for(asyncio.gather(*creates), timeout=10)
        await asyncio.wait_for(client.sessions.create(FLAT), timeout=10)
    assert sum(r.method == "POST" for r in amas_emulator.requests) == 9  # 4 retried + 5 made


async def test_cancellation_during_a_backoff_sleep_stops_at_once(
    amas_emulator: Emulator,
) -> None:
    sleeping = asyncio.Event()
    policy = amas.RetryPolicy(on_retry=lambda event: sleeping.set())
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, retry=policy
    ) as client:
        amas_emulator.fail_next(status=503, retry_after=30)
        call = asyncio.create_task(client.sessions.create(FLAT))
        await asyncio.wait_for(sleeping.wait(), 5)
        started = time.monotonic()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert time.monotonic() - started < 1.0
        assert len(requests_to(amas_emulator, "POST", "/sessions/")) == 1
        # the client is still usable
        assert (await client.sessions.create(FLAT)).id


# ---- observability -------------------------------------------------------------------------


async def test_on_retry_hook_and_logs(
    amas_emulator: Emulator, amas_retry_clock: RetryClock, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[amas.RetryEvent] = []

    async def record(event: amas.RetryEvent) -> None:
        events.append(event)

    policy = amas.RetryPolicy(on_retry=record, jitter=0)
    caplog.set_level(logging.DEBUG, logger="amas_async")
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, retry=policy
    ) as client:
        amas_emulator.fail_next(status=503)
        amas_emulator.fail_next(status=429, retry_after=2)
        await client.sessions.create(FLAT)
    assert [(e.attempt, e.wait, e.reason, e.status) for e in events] == [
        (1, 0.5, "503", 503),
        (2, 2.0, "429", 429),
    ]
    assert events[0].method == "POST"
    assert events[0].url.endswith("/sessions/")
    retries = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(retries) == 2
    assert "retrying POST" in retries[0].getMessage()
    requests = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(requests) == 3  # one line per request
    assert amas_emulator.api_key not in caplog.text


async def test_on_retry_hook_for_exceptions(amas_retry_clock: RetryClock) -> None:
    events: list[amas.RetryEvent] = []
    emu = Emulator()
    await emu.start()
    url = emu.base_url
    await emu.stop()
    policy = amas.RetryPolicy(on_retry=events.append, max_attempts=2)
    async with amas.AsyncAmas(base_url=url, api_key="k", retry=policy) as client:
        with pytest.raises(amas.APIConnectionError):
            await client.sessions.get("abc")
    (event,) = events
    assert event.status is None
    assert isinstance(event.exception, amas.APIConnectionError)
    assert event.reason.startswith("APIConnectionError")


# ---- per-call options ---------------------------------------------------------------------


async def test_with_options_shares_the_pool(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    client = amas.AsyncAmas(base_url=amas_emulator.base_url, api_key=amas_emulator.api_key)
    async with client:
        once = client.with_options(max_retries=0, timeout=5)
        assert once.transport is client.transport
        assert once.timeout == amas.Timeout(connect=5, read=None, total=5)
        amas_emulator.fail_next(status=503)
        with pytest.raises(amas.InternalServerError):
            await once.sessions.create(FLAT)
        amas_emulator.fail_next(status=503)
        assert (await client.sessions.create(FLAT)).id  # the original still retries
        await once.aclose()  # retires only the derived client
        assert once.is_closed
        assert not client.is_closed
        assert (await client.sessions.create(FLAT)).id
    assert once.is_closed
    with pytest.raises(amas.AmasError, match="closed"):
        await client.with_options(max_retries=1).sessions.create(FLAT)


async def test_no_retries_when_retries_are_off() -> None:
    calls: list[amas.Request] = []

    def unavailable(request: amas.Request) -> amas.Response:
        calls.append(request)
        return amas.Response(503, json={"detail": "busy"})

    transport = MockTransport(unavailable)
    async with amas.AsyncAmas(api_key="k", max_retries=0, transport=transport) as client:
        with pytest.raises(amas.InternalServerError) as caught:
            await client.sessions.get("s1")
    assert len(calls) == 1
    assert caught.value.attempts == 1


def test_a_call_that_succeeds_first_time_never_imports_tenacity() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        import amas_async as amas
        from amas_async.testing import MockTransport

        def ok(request):
            return amas.Response(200, json={"session_id": "s1"})

        async def main():
            async with amas.AsyncAmas(api_key="k", transport=MockTransport(ok)) as client:
                await client.sessions.get("s1")

        asyncio.run(main())
        print("tenacity" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr


async def test_instant_retries_restores_the_clock() -> None:
    answers = iter([503, 200, 503, 200])

    def flaky(request: amas.Request) -> amas.Response:
        return amas.Response(next(answers), json={"session_id": "s1"})

    policy = amas.RetryPolicy(initial_backoff=0.0, jitter=0.0)
    async with amas.AsyncAmas(api_key="k", retry=policy, transport=MockTransport(flaky)) as c:
        with instant_retries() as fake:
            await c.sessions.get("s1")
            assert fake.sleeps == [0.0]
        await c.sessions.get("s1")  # retried on the real clock: the fake hears nothing
    assert fake.sleeps == [0.0]
