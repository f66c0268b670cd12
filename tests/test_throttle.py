"""The throttle alone (token bucket, adaptive concurrency, pauses), on an injected clock.

Two clocks: ``FakeClock`` sleeps instantly (it moves its time on and yields once), for
schedules; ``ManualClock`` sleeps until the test moves its time on, so a caller can be held in a
known wait and cancelled there. No test sleeps for real; ``asyncio.wait_for(..., 1)`` only
guards against a hang (a lost wake-up) and never decides a result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

import amas_async as amas


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class ManualClock:
    """A clock whose sleeps end only when :meth:`advance` moves the time past their end."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []  # every sleep asked for, in order
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    @property
    def sleeping(self) -> int:
        """Sleeps still running (not ended, not cancelled)."""
        return sum(1 for _, future in self._sleepers if not future.done())

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for end, future in self._sleepers:
            if end <= self.now and not future.done():
                future.set_result(None)
        self._sleepers = [(end, f) for end, f in self._sleepers if not f.done()]


def response(status: int, headers: dict[str, str] | None = None) -> amas.Response:
    request = amas.Request("POST", "http://x/api/v1/runtime/s/execute/")
    return amas.Response(status=status, headers=headers or {}, content=b"", request=request, url="")


def manual(**kwargs: Any) -> tuple[amas.Throttle, ManualClock]:
    clock = ManualClock()
    return amas.Throttle(**kwargs, clock=clock.monotonic, sleep=clock.sleep), clock


async def steps(count: int = 5) -> None:
    """Let every ready task run ``count`` times (event-loop steps, no time passes)."""
    for _ in range(count):
        await asyncio.sleep(0)


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.ensure_future(coro)


async def cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and let it finish; it must end cancelled."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)


# ---- rate and adaptation ----------------------------------------------------------------------


async def test_token_bucket_rate_within_tolerance() -> None:
    clock = FakeClock()
    throttle = amas.Throttle(
        requests_per_second=10, burst=5, clock=clock.monotonic, sleep=clock.sleep
    )
    started = clock.now

    async def one() -> None:
        await throttle.acquire()
        throttle.release(response(200))

    await asyncio.gather(*(one() for _ in range(105)))
    elapsed = clock.now - started
    # 5 at once from the burst, then 100 at 10/s
    assert elapsed == pytest.approx(10.0, rel=0.02)


async def test_an_idle_bucket_holds_no_more_than_the_burst() -> None:
    throttle, clock = manual(requests_per_second=10, burst=2)
    clock.advance(100.0)  # idle: 1,000 tokens' worth of time, but the bucket holds 2
    await asyncio.wait_for(throttle.acquire(), 1)
    await asyncio.wait_for(throttle.acquire(), 1)
    assert clock.sleeps == []
    third = start(throttle.acquire())
    await steps()
    assert clock.sleeps == [pytest.approx(0.1)]
    assert not third.done()
    clock.advance(0.1)
    await asyncio.wait_for(third, 1)


async def test_adaptive_concurrency_halves_and_recovers() -> None:
    clock = FakeClock()
    throttle = amas.Throttle(max_concurrency=16, clock=clock.monotonic, sleep=clock.sleep)
    assert throttle.concurrency_limit == 16
    await throttle.acquire()
    await throttle.acquire()
    throttle.release(response(429, {"Retry-After": "3"}))
    throttle.release(response(429))
    assert throttle.concurrency_limit == 8  # a burst of 429s: one decrease
    assert throttle.throttled == 2
    await throttle.acquire()  # paused for Retry-After on the injected clock
    assert clock.now == pytest.approx(1003.0)
    throttle.release(response(429))
    assert throttle.concurrency_limit == 4  # more than a second later: another one
    clock.now += 1.5
    for _ in range(40):
        await throttle.acquire()
        throttle.release(response(200))
    assert throttle.concurrency_limit == 9  # +1/limit each: about +1 per round of `limit`
    for _ in range(200):
        await throttle.acquire()
        throttle.release(response(200))
    assert throttle.concurrency_limit == 16


async def test_errors_and_failures_do_not_raise_the_limit() -> None:
    clock = FakeClock()
    throttle = amas.Throttle(max_concurrency=8, clock=clock.monotonic, sleep=clock.sleep)
    await throttle.acquire()
    throttle.release(response(429))
    assert throttle.concurrency_limit == 4
    for outcome in (response(500), response(404), response(400), None):
        for _ in range(20):
            await throttle.acquire()
            throttle.release(outcome)
    assert throttle.concurrency_limit == 4  # only successes recover
    assert throttle.throttled == 1
    await throttle.acquire()
    throttle.release(response(302))  # a redirect is not a failure
    assert throttle.concurrency_limit == 4  # 4.25
    assert throttle.in_flight == 0


async def test_the_limit_never_goes_under_min_concurrency() -> None:
    clock = FakeClock()
    throttle = amas.Throttle(
        max_concurrency=16, min_concurrency=3, clock=clock.monotonic, sleep=clock.sleep
    )
    for _ in range(10):
        await throttle.acquire()
        throttle.release(response(429))
        clock.now += 1.0
    assert throttle.concurrency_limit == 3
    floor_above_max = amas.Throttle(max_concurrency=2, min_concurrency=5)
    assert floor_above_max.min_concurrency == 2  # clamped to the maximum
    assert amas.Throttle(max_concurrency=4, min_concurrency=0).min_concurrency == 1


async def test_without_adaptation_a_429_pauses_but_keeps_the_limit() -> None:
    throttle, clock = manual(max_concurrency=4, adaptive=False)
    await throttle.acquire()
    throttle.release(response(429, {"Retry-After": "2"}))
    assert throttle.concurrency_limit == 4
    assert throttle.throttled == 1
    waiting = start(throttle.acquire())
    await steps()
    assert clock.sleeps == [2.0]
    clock.advance(2.0)
    await asyncio.wait_for(waiting, 1)


async def test_no_concurrency_cap_means_no_limit_and_no_adaptation() -> None:
    clock = FakeClock()
    throttle = amas.Throttle(requests_per_second=1000, clock=clock.monotonic, sleep=clock.sleep)
    assert throttle.concurrency_limit is None
    for _ in range(50):
        await throttle.acquire()
    assert throttle.in_flight == 50
    throttle.release(response(429))
    assert throttle.concurrency_limit is None


# ---- pauses ordered by Retry-After ------------------------------------------------------------


async def test_callers_wait_out_a_pause_without_holding_a_slot() -> None:
    throttle, clock = manual(max_concurrency=4)
    await throttle.acquire()
    throttle.release(response(429, {"Retry-After": "5"}))
    waiting = [start(throttle.acquire()) for _ in range(2)]
    await steps()
    assert clock.sleeps == [5.0, 5.0]
    assert throttle.in_flight == 0  # nobody holds a slot while paused
    assert not throttle.ready()
    clock.advance(4.9)
    await steps()
    assert not any(task.done() for task in waiting)
    clock.advance(0.1)
    await asyncio.wait_for(asyncio.gather(*waiting), 1)
    assert throttle.in_flight == 2


async def test_a_pause_is_capped_by_max_pause_and_never_shortened() -> None:
    throttle, clock = manual(max_pause=30.0)
    await throttle.acquire()
    await throttle.acquire()
    throttle.release(response(429, {"Retry-After": "600"}))  # capped at 30 s
    throttle.release(response(429, {"retry-after-ms": "1000"}))  # shorter: the pause stays
    waiting = start(throttle.acquire())
    await steps()
    assert clock.sleeps == [30.0]
    clock.advance(30.0)
    await asyncio.wait_for(waiting, 1)


async def test_a_pause_extended_during_the_wait_is_waited_out_too() -> None:
    throttle, clock = manual()
    await throttle.acquire()
    await throttle.acquire()
    throttle.release(response(429, {"Retry-After": "3"}))
    waiting = start(throttle.acquire())
    await steps()
    assert clock.sleeps == [3.0]
    throttle.release(response(429, {"Retry-After": "10"}))  # longer: it extends the pause
    clock.advance(3.0)
    await steps()
    assert not waiting.done()
    assert clock.sleeps == [3.0, 7.0]
    assert throttle.in_flight == 0  # it waits before taking a slot
    clock.advance(7.0)
    await asyncio.wait_for(waiting, 1)


async def test_a_pause_that_starts_while_waiting_for_a_slot_is_honoured() -> None:
    throttle, clock = manual(max_concurrency=1)
    await throttle.acquire()
    waiting = start(throttle.acquire())
    await steps()
    assert clock.sleeps == []  # no pause yet: it waits for the slot
    throttle.release(response(429, {"Retry-After": "3"}))  # frees the slot, orders a pause
    await steps()
    assert not waiting.done()
    assert clock.sleeps == [3.0]
    clock.advance(3.0)
    await asyncio.wait_for(waiting, 1)
    assert throttle.in_flight == 1


async def test_a_429_without_headers_or_retry_after_orders_no_pause() -> None:
    throttle, clock = manual(max_concurrency=4)
    await throttle.acquire()
    await throttle.acquire()
    throttle.release_status(429, None)  # an attempt that raised after a 429 status line
    throttle.release(response(429))  # no Retry-After
    assert throttle.throttled == 2
    await asyncio.wait_for(throttle.acquire(), 1)
    assert clock.sleeps == []


# ---- ready(): the no-wait path ----------------------------------------------------------------


async def test_ready_takes_a_token_and_a_slot_only_when_both_are_free() -> None:
    throttle, clock = manual(requests_per_second=2, burst=1, max_concurrency=2)
    assert throttle.ready()
    assert throttle.in_flight == 1
    assert not throttle.ready()  # the one token is spent
    assert throttle.in_flight == 1
    clock.advance(0.5)  # one token refilled
    assert throttle.ready()
    assert throttle.in_flight == 2
    clock.advance(0.5)
    assert not throttle.ready()  # a token, but no slot
    throttle.release(response(200))
    assert throttle.ready()
    assert throttle.in_flight == 2
    assert clock.sleeps == []


async def test_ready_refuses_during_a_pause() -> None:
    throttle, clock = manual()
    assert throttle.ready()
    throttle.release(response(429, {"Retry-After": "2"}))
    assert not throttle.ready()
    clock.advance(1.9)
    assert not throttle.ready()
    clock.advance(0.1)
    assert throttle.ready()


async def test_ready_does_not_take_a_slot_a_waiter_was_woken_for() -> None:
    throttle, _ = manual(max_concurrency=1)
    assert throttle.ready()
    first = start(throttle.acquire())
    second = start(throttle.acquire())
    await steps()
    throttle.release(response(200))  # wakes `first`, which has not run yet
    assert not throttle.ready()  # `second` still queues: no jumping the queue
    await asyncio.wait_for(first, 1)
    assert throttle.in_flight == 1
    assert not second.done()
    throttle.release(response(200))
    await asyncio.wait_for(second, 1)


# ---- concurrency slots, wake-ups and cancellation ----------------------------------------------


async def test_concurrency_limit_blocks_and_wakes() -> None:
    throttle, _ = manual(max_concurrency=2)
    await throttle.acquire()
    await throttle.acquire()
    third = start(throttle.acquire())
    await steps()
    assert not third.done()
    throttle.release(response(200))
    await asyncio.wait_for(third, 1)
    assert throttle.in_flight == 2


async def test_waiters_are_woken_in_arrival_order() -> None:
    throttle, _ = manual(max_concurrency=1)
    await throttle.acquire()
    order: list[int] = []

    async def take(number: int) -> None:
        await throttle.acquire()
        order.append(number)

    tasks = [start(take(n)) for n in range(4)]
    await steps()
    for _ in range(4):
        throttle.release(response(200))
        await steps()
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert order == [0, 1, 2, 3]


async def test_a_waiter_cancelled_before_the_wake_up_does_not_lose_it() -> None:
    throttle, _ = manual(max_concurrency=1)
    await throttle.acquire()
    first = start(throttle.acquire())
    second = start(throttle.acquire())
    await steps()
    first.cancel()  # cancelled while queued, and the release comes before it runs
    throttle.release(response(200))
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    assert throttle.in_flight == 1


async def test_a_waiter_cancelled_and_gone_before_the_release_is_skipped() -> None:
    throttle, _ = manual(max_concurrency=1)
    await throttle.acquire()
    first = start(throttle.acquire())
    second = start(throttle.acquire())
    await steps()
    await cancelled(first)  # it has left the queue before the release
    throttle.release(response(200))
    await asyncio.wait_for(second, 1)
    assert throttle.in_flight == 1


async def test_a_woken_waiter_cancelled_before_it_runs_passes_the_wake_up_on() -> None:
    throttle, _ = manual(max_concurrency=1)
    await throttle.acquire()
    first = start(throttle.acquire())
    second = start(throttle.acquire())
    await steps()
    throttle.release(response(200))  # wakes `first`: the free slot is promised to it ...
    first.cancel()  # ... but it is cancelled before it runs
    await asyncio.wait_for(second, 1)  # so `second` must get the slot
    assert first.cancelled()
    assert throttle.in_flight == 1
    throttle.release(response(200))
    assert throttle.in_flight == 0


async def test_cancelled_during_the_token_wait_gives_the_token_back() -> None:
    throttle, clock = manual(requests_per_second=1, burst=1)
    await throttle.acquire()  # the one token
    waiting = start(throttle.acquire())
    await steps()
    assert clock.sleeps == [1.0]  # it reserved the next token and waits for it
    await cancelled(waiting)
    assert throttle.in_flight == 1  # its slot is given back
    clock.advance(1.0)  # the next token is refilled: it is free, not owed to the cancelled one
    assert throttle.ready()
    after = start(throttle.acquire())
    await steps()
    assert clock.sleeps == [1.0, 1.0]  # one token's wait, not two
    clock.advance(1.0)
    await asyncio.wait_for(after, 1)


async def test_cancelled_during_the_token_wait_frees_the_slot_for_a_waiter() -> None:
    throttle, clock = manual(requests_per_second=1, burst=1, max_concurrency=2)
    await throttle.acquire()  # slot 1, the token
    holder = start(throttle.acquire())  # slot 2, then waits for a token
    queued = start(throttle.acquire())  # no slot: queued
    await steps()
    assert throttle.in_flight == 2
    assert clock.sleeps == [1.0]
    await cancelled(holder)
    await steps()
    assert throttle.in_flight == 2  # `queued` got the freed slot ...
    assert clock.sleeps == [1.0, 1.0]  # ... and waits for its token (the one given back)
    clock.advance(1.0)
    await asyncio.wait_for(queued, 1)


async def test_cancelled_during_a_pause_while_holding_a_slot_frees_it() -> None:
    throttle, clock = manual(max_concurrency=1)
    await throttle.acquire()
    holder = start(throttle.acquire())
    queued = start(throttle.acquire())
    await steps()
    throttle.release(response(429, {"Retry-After": "5"}))  # `holder` gets the slot, then pauses
    await steps()
    assert throttle.in_flight == 1
    assert clock.sleeps == [5.0]
    await cancelled(holder)
    await steps()
    assert throttle.in_flight == 1  # `queued` took the freed slot and waits out the pause
    assert clock.sleeps == [5.0, 5.0]
    clock.advance(5.0)
    await asyncio.wait_for(queued, 1)
    assert throttle.in_flight == 1


async def test_cancelled_during_a_pause_before_taking_a_slot_holds_nothing() -> None:
    throttle, clock = manual(requests_per_second=1, burst=1, max_concurrency=1)
    assert throttle.ready()
    throttle.release(response(429, {"Retry-After": "5"}))
    waiting = start(throttle.acquire())
    await steps()
    await cancelled(waiting)
    assert throttle.in_flight == 0
    assert clock.sleeping == 0
    clock.advance(5.0)
    assert throttle.ready()  # the slot and the refilled token are free


async def test_the_middleware_holds_a_slot_for_the_attempt_and_learns_from_it() -> None:
    throttle, clock = manual(max_concurrency=2)
    request = amas.Request("GET", "http://x/api/v1/sessions/s/")
    seen: list[int | None] = []

    async def handler(sent: amas.Request) -> amas.Response:
        seen.append(throttle.in_flight)
        return response(429, {"Retry-After": "1"})

    async def broken(sent: amas.Request) -> amas.Response:
        raise amas.APIConnectionError("reset", request_sent=True)

    assert (await throttle(request, handler)).status == 429
    assert seen == [1]
    assert throttle.in_flight == 0
    assert throttle.throttled == 1
    assert throttle.concurrency_limit == 1
    clock.advance(1.0)
    with pytest.raises(amas.APIConnectionError):
        await asyncio.wait_for(throttle(request, broken), 1)
    assert throttle.in_flight == 0


def test_throttle_rejects_nonsense() -> None:
    with pytest.raises(amas.InvalidRequestError):
        amas.Throttle(requests_per_second=0)
    with pytest.raises(amas.InvalidRequestError):
        amas.Throttle(max_concurrency=0)
    with pytest.raises(amas.InvalidRequestError):
        amas.Throttle(requests_per_second=5, burst=0)
    assert amas.Throttle(requests_per_second=2.5).burst == 3
    assert amas.Throttle().burst == 1
    assert "limit=4" in repr(amas.Throttle(max_concurrency=4))


async def test_a_caller_that_comes_straight_back_queues_behind_the_waiter() -> None:
    throttle, _ = manual(max_concurrency=1)
    await throttle.acquire()
    waiter = start(throttle.acquire())
    await steps()
    throttle.release(response(200))  # the slot is the waiter's now ...
    assert not throttle.ready()  # ... not the no-wait path's
    again = start(throttle.acquire())  # ... nor the releasing caller's, coming straight back
    await steps()
    assert waiter.done()
    assert not again.done()
    assert throttle.in_flight == 1
    throttle.release(response(200))
    await asyncio.wait_for(again, 1)


async def test_a_busy_caller_does_not_starve_a_queued_one() -> None:
    throttle, _ = manual(max_concurrency=1)
    turns: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(3):
            await throttle.acquire()
            turns.append(name)
            await steps(3)  # the attempt
            throttle.release(response(200))

    busy = start(worker("busy"))
    await steps(1)
    patient = start(worker("patient"))
    await asyncio.wait_for(asyncio.gather(busy, patient), 1)
    assert turns == ["busy", "patient"] * 3  # the slot goes round, first come first served
