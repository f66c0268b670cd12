"""Batches and client-side rate limiting, against the emulator with faults."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from helpers import wait_until

import amas_async as amas
from amas_async import batch
from amas_async.batch import TASK_PREFIX
from amas_async.testing import Emulator, RetryClock

FLAT = {"name": "F", "agent_type": "llm_agent", "system_prompt": "p"}


def batch_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(TASK_PREFIX)]


async def make_sessions(client: amas.AsyncAmas, count: int) -> list[str]:
    return [(await client.sessions.create(FLAT)).id for _ in range(count)]


# ---- the big one -----------------------------------------------------------------------------


async def test_2000_requests_over_50_sessions_with_faults_and_a_rate_limit(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    sessions = await make_sessions(amas_client, 50)
    requests = [
        amas.ExecuteRequest(session_id=sessions[i % 50], content=f"turn {i}") for i in range(2000)
    ]
    amas_emulator.set_fault_rate(0.2, seed=11, statuses=(429, 503))
    amas_emulator.peak_in_flight = 0
    seen: list[int] = []

    results = await amas_client.runtime.execute_many(
        requests, concurrency=12, rate_limit=5000.0, on_result=lambda r: seen.append(r.index)
    )

    assert len(results) == 2000
    assert [r.index for r in results] == list(range(2000))  # input order
    assert [r.request for r in results] == requests
    assert sorted(seen) == list(range(2000))  # on_result saw every one
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    assert len(ok) >= 1950  # 20% faults, 3 attempts: about 0.8% fail for good
    for result in failed:
        assert isinstance(result.error, (amas.RateLimitError, amas.InternalServerError))
        assert result.attempts == 3
        assert result.execution is None
    assert any(r.attempts > 1 for r in ok)
    # no duplicated turn: only requests that succeeded ran, each once
    assert amas_emulator.executed_turns == len(ok)
    # per-session order: each session's history holds its turns in input order
    for sid in sessions:
        history = amas_emulator.session_state(sid).history
        said = [m.content for m in history if m.role == "user"]
        expected = [r.request.content for r in ok if r.request.session_id == sid]
        assert said == expected
    # concurrency never above the limit
    assert amas_emulator.peak_in_flight <= 12


async def test_same_session_runs_sequentially_and_others_concurrently(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    amas_emulator.set_turn_delay(0.02)
    sessions = await make_sessions(amas_client, 4)
    amas_emulator.peak_in_flight = 0
    requests = [{"session_id": sessions[i % 4], "content": f"m{i}"} for i in range(16)]
    results = await amas_client.runtime.execute_many(requests, concurrency=8)
    assert all(r.ok for r in results)  # the emulator answers 409 to a 2nd concurrent execute
    assert amas_emulator.peak_in_flight == 4  # one per session, never two in one session


async def test_concurrency_bounds_the_lanes(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    amas_emulator.set_turn_delay(0.01)
    sessions = await make_sessions(amas_client, 10)
    amas_emulator.peak_in_flight = 0
    requests = [amas.ExecuteRequest(session_id=s, content="x") for s in sessions]
    results = await amas_client.runtime.execute_many(requests, concurrency=3)
    assert all(r.ok for r in results)
    assert amas_emulator.peak_in_flight == 3


async def test_failures_never_stop_the_others(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    (sid,) = await make_sessions(amas_client, 1)
    requests: list[Any] = [
        {"session_id": sid, "content": "fine"},
        {"session_id": "no-such-session", "content": "lost"},
        {"session_id": sid, "content": 42},  # not content
        {"session_id": sid},  # no content
        "not a request",
        {"session_id": sid, "content": "also fine", "inputs": {"a": 1}},
    ]
    results = await amas_client.runtime.execute_many(requests)
    assert [r.ok for r in results] == [True, False, False, False, False, True]
    assert isinstance(results[1].error, amas.NotFoundError)
    assert isinstance(results[2].error, amas.InvalidContentError)
    assert isinstance(results[3].error, amas.InvalidRequestError)
    assert isinstance(results[4].error, amas.InvalidContentError)
    assert results[4].request == "not a request"
    assert results[5].execution is not None
    assert results[5].execution.text == "[F] p | also fine"
    assert results[0].elapsed > 0


async def test_bad_arguments_raise(amas_client: amas.AsyncAmas) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await amas_client.runtime.execute_many([], concurrency=0)
    with pytest.raises(amas.InvalidContentError):
        await amas_client.runtime.execute_many(42)  # type: ignore[arg-type]
    assert await amas_client.runtime.execute_many([]) == []


async def test_async_iterable_input_and_async_callback(amas_client: amas.AsyncAmas) -> None:
    sessions = await make_sessions(amas_client, 3)

    async def produce() -> AsyncIterator[amas.ExecuteRequest]:
        for i in range(9):
            await asyncio.sleep(0)
            yield amas.ExecuteRequest(session_id=sessions[i % 3], content=f"m{i}")

    seen: list[int] = []

    async def record(result: amas.BatchResult) -> None:
        seen.append(result.index)

    results = await amas_client.runtime.execute_many(produce(), concurrency=2, on_result=record)
    assert [r.index for r in results] == list(range(9))
    assert sorted(seen) == list(range(9))


async def test_streaming_reads_input_lazily(amas_client: amas.AsyncAmas) -> None:
    sessions = await make_sessions(amas_client, 4)
    consumed = 0

    def endless() -> Iterator[amas.ExecuteRequest]:
        nonlocal consumed
        for i in itertools.count():
            consumed += 1
            yield amas.ExecuteRequest(session_id=sessions[i % 4], content=f"m{i}")

    got = 0
    stream = amas_client.runtime.iter_execute_many(endless(), concurrency=4)
    async with contextlib.aclosing(stream):
        async for result in stream:
            assert result.ok
            got += 1
            if got == 100:
                break
    assert consumed <= 100 + 64 + 1  # what was yielded, plus a bounded read-ahead
    assert batch_tasks() == []  # nothing left running


async def test_cancelling_a_batch_cancels_in_flight_and_leaks_nothing(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    client = amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        limits=amas.Limits(max_connections=8),
    )
    async with client:
        await cancel_a_batch_then_reuse_the_pool(amas_emulator, client)


async def cancel_a_batch_then_reuse_the_pool(
    amas_emulator: Emulator, client: amas.AsyncAmas
) -> None:
    sessions = await make_sessions(client, 8)
    amas_emulator.set_turn_delay(0.05)
    finished: list[amas.BatchResult] = []
    ten_done = asyncio.Event()

    async def run() -> None:
        stream = client.runtime.iter_execute_many(
            (amas.ExecuteRequest(session_id=sessions[i % 8], content=f"m{i}") for i in range(400)),
            concurrency=8,
        )
        async for result in stream:
            finished.append(result)
            if len(finished) == 10:
                ten_done.set()

    task = asyncio.create_task(run())
    await asyncio.wait_for(ten_done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 10 <= len(finished) < 400  # the results finished so far were reported
    assert batch_tasks() == []
    # the client is still fine, and its whole pool is free: its 8 connections serve 8 sessions
    # at once (a connection kept by a cancelled request would leave one of them waiting)
    # the emulator finishes the turns it had started
    await wait_until(lambda: not amas_emulator.in_flight, timeout=10, what="emulator idle")
    amas_emulator.set_turn_delay(0)
    after = await asyncio.wait_for(
        client.runtime.execute_many(
            [amas.ExecuteRequest(session_id=s, content="after") for s in sessions], concurrency=8
        ),
        10,
    )
    assert all(r.ok for r in after)


async def test_a_429_pauses_every_worker_and_lowers_concurrency(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    sessions = await make_sessions(amas_client, 8)
    throttle = amas.Throttle(max_concurrency=8)
    amas_emulator.fail_next(status=429, retry_after=2, path="/execute/")
    results = await amas_client.runtime.execute_many(
        [amas.ExecuteRequest(session_id=s, content="x") for s in sessions], rate_limit=throttle
    )
    assert all(r.ok for r in results)
    assert throttle.throttled == 1
    assert throttle.concurrency_limit is not None
    assert throttle.concurrency_limit < 8  # lowered, recovering
    assert 2.0 in amas_retry_clock.sleeps  # the pause (and the retry) waited Retry-After


async def test_client_wide_throttle(amas_emulator: Emulator, amas_retry_clock: RetryClock) -> None:
    throttle = amas.Throttle(requests_per_second=100, burst=1)
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, throttle=throttle
    ) as client:
        for _ in range(5):
            await client.sessions.create(FLAT)
    # one token at a time at 100/s: four waits of about 10 ms on the (instant) clock
    waits = [w for w in amas_retry_clock.sleeps if w > 0]
    assert len(waits) == 4
    assert all(w <= 0.011 for w in waits)
    with pytest.raises(TypeError):
        amas.AsyncAmas(api_key="k", throttle=5)  # type: ignore[arg-type]


# ---- the batch alone: a pure function over a send callable -----------------------------------


async def test_a_batch_needs_only_a_send_callable() -> None:
    running: set[str] = set()
    peak = 0
    said: dict[str, list[str]] = {}

    async def send(request: amas.ExecuteRequest) -> amas.Execution:
        nonlocal peak
        assert request.session_id not in running  # one request at a time per session
        running.add(request.session_id)
        peak = max(peak, len(running))
        try:
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            running.discard(request.session_id)
        said.setdefault(request.session_id, []).append(str(request.content))
        if request.content == "m7":
            error = amas.APIConnectionError("boom")
            error.attempts = 3
            raise error
        return amas.Execution(session_id=request.session_id, status="completed", attempts=2)

    requests = [amas.ExecuteRequest(session_id=f"s{i % 5}", content=f"m{i}") for i in range(40)]
    results = await batch.execute_many(send, requests, concurrency=3)

    assert [r.index for r in results] == list(range(40))
    assert peak == 3  # bounded by concurrency, and reached
    assert said == {f"s{k}": [f"m{i}" for i in range(k, 40, 5)] for k in range(5)}  # in order
    assert isinstance(results[7].error, amas.APIConnectionError)
    assert results[7].attempts == 3  # from the error
    assert [r.attempts for r in results if r.ok] == [2] * 39  # from the execution
    assert batch_tasks() == []


async def test_closing_a_pure_batch_early_cancels_its_sends() -> None:
    started = 0
    cancelled = 0

    async def send(request: amas.ExecuteRequest) -> amas.Execution:
        nonlocal started, cancelled
        started += 1
        try:
            if request.content != "quick":
                await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return amas.Execution(status="completed")

    requests = [
        amas.ExecuteRequest(session_id="a", content="quick"),
        *(amas.ExecuteRequest(session_id=f"b{i}", content="slow") for i in range(3)),
    ]
    stream = batch.iter_execute_many(send, requests, concurrency=4)
    async with contextlib.aclosing(stream):
        first = await anext(stream)
    assert first.index == 0
    assert first.ok
    assert started == 4
    assert cancelled == 3
    assert batch_tasks() == []


def test_throttle_for_a_batch() -> None:
    given = amas.Throttle(requests_per_second=3)
    assert batch.throttle_for(given, 4) is given
    made = batch.throttle_for(None, 4)
    assert made.max_concurrency == 4
    assert made.requests_per_second is None
    paced = batch.throttle_for(2.5, 6)
    assert paced.requests_per_second == 2.5
    assert paced.max_concurrency == 6
    for wrong in (0, -1, True, 2.0):
        with pytest.raises(amas.InvalidRequestError, match="concurrency"):
            batch.throttle_for(None, wrong)  # type: ignore[arg-type]
