"""A bounded fault soak: thousands of executions under ~20% injected faults, 0 lost, 0 doubled.

Every assertion about what ran comes from the SERVER'S OWN COUNT: ``executed_turns`` and the
sessions' histories in the emulator, never from what the client believes. The faults are
statuses answered before the endpoint (429, 503), connections closed or reset before it
(``drop``, ``reset``), and connections closed after the turn ran and its answer was stored for
``Idempotency-Key`` replay (``drop_after``): the case a client cannot tell from a drop before.

The seeds are fixed, but which request draws which fault depends on how the requests
interleave, so the assertions hold for any interleaving: no count that scheduling can change is
asserted exactly, only rules every request must follow.
"""

from __future__ import annotations

import collections
import time

import amas_async as amas
from amas_async.testing import Emulator, RetryClock

SESSIONS = 50
TURNS_PER_SESSION = 30  # 1,500 executions per soak
FAULTS = (429, 503, "drop", "reset", "drop_after")
FLAT = {"name": "Soak", "agent_type": "llm_agent", "system_prompt": "p"}


async def _requests(client: amas.AsyncAmas) -> list[amas.ExecuteRequest]:
    sessions = [(await client.sessions.create(FLAT)).id for _ in range(SESSIONS)]
    return [
        amas.ExecuteRequest(session_id=sessions[i % SESSIONS], content=f"turn {i}")
        for i in range(SESSIONS * TURNS_PER_SESSION)
    ]


def _ran(emu: Emulator, requests: list[amas.ExecuteRequest]) -> collections.Counter[str]:
    """How many times the server ran each turn, read from the sessions' histories.

    Also checks, per session, that only that session's turns are in it and that they are in
    input order.
    """
    ran: collections.Counter[str] = collections.Counter()
    for session_id in dict.fromkeys(r.session_id for r in requests):
        said = [m.content for m in emu.session_state(session_id).history if m.role == "user"]
        mine = [r.content for r in requests if r.session_id == session_id]
        position = {content: i for i, content in enumerate(mine)}
        assert all(content in position for content in said), "a turn in the wrong session"
        order = [position[content] for content in said]
        assert order == sorted(order), f"session {session_id}: turns out of input order"
        ran.update(said)
    return ran


async def test_soak_without_retrying_executions_that_may_have_run(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    requests = await _requests(amas_client)
    amas_emulator.set_fault_rate(0.2, seed=2024, statuses=FAULTS)
    started = time.monotonic()

    results = await amas_client.runtime.execute_many(requests, concurrency=12)

    elapsed = time.monotonic() - started
    amas_emulator.set_fault_rate(0.0)
    ran = _ran(amas_emulator, requests)
    assert max(ran.values()) == 1  # no turn ran twice
    assert amas_emulator.executed_turns == sum(ran.values())  # the count and the histories agree
    assert [r.index for r in results] == list(range(len(requests)))
    may_have_run = ran_anyway = 0
    for result in results:
        content = str(result.request.content)
        if result.ok:
            assert ran[content] == 1, f"{content}: answered but not run once"
            continue
        error = result.error
        if isinstance(error, amas.APIStatusError):
            # answered before the endpoint, every attempt: it cannot have run
            assert error.status_code in (429, 503), error
            assert ran[content] == 0, f"{content}: failed with {error.status_code} but ran"
            assert result.attempts == 3
        elif isinstance(error, amas.APIConnectionError):
            if not error.request_sent:
                assert ran[content] == 0
            else:  # dropped or reset: it may have run, at most once, and was not retried
                assert ran[content] <= 1
                assert error.attempts == result.attempts
                may_have_run += 1
                ran_anyway += ran[content]
        else:
            raise AssertionError(f"{content}: unexpected {error!r}")
    assert sum(r.ok for r in results) >= len(requests) * 0.7
    # both kinds of lost answer happened: the turn ran (drop_after), the turn did not (drop/reset)
    assert 0 < ran_anyway < may_have_run
    assert elapsed < 60  # a hang guard only; it takes about a second


async def test_soak_retrying_everything_against_a_server_that_honours_keys(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    replayed: list[str] = []

    async def watch(request: amas.Request, handler: amas.Handler) -> amas.Response:
        response = await handler(request)  # after the retries: the call's answer
        if response.headers.get("Idempotent-Replayed") == "true":
            replayed.append(request.headers["Idempotency-Key"])
        return response

    policy = amas.RetryPolicy(retry_non_idempotent=True, max_attempts=12)
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        retry=policy,
        middlewares=[watch],  # the layered path (the other soak takes the lean one)
    ) as client:
        requests = await _requests(client)
        amas_emulator.set_fault_rate(0.2, seed=7, statuses=FAULTS)
        started = time.monotonic()

        results = await client.runtime.execute_many(requests, concurrency=12)

        elapsed = time.monotonic() - started
    amas_emulator.set_fault_rate(0.0)
    failed = [(r.request.content, r.error) for r in results if not r.ok]
    assert failed == []
    ran = _ran(amas_emulator, requests)
    assert ran == collections.Counter(r.content for r in requests)  # every turn exactly once
    assert amas_emulator.executed_turns == len(requests)
    # the answers lost after their turn ran (drop_after) came back by replay, not by a rerun
    assert replayed
    assert len(set(replayed)) == len(replayed)
    executes = [r for r in amas_emulator.requests if r.path.endswith("/execute/")]
    keys = collections.Counter(r.headers["Idempotency-Key"] for r in executes)
    assert len(keys) == len(requests)  # one key per execution, the same on every attempt
    assert len(executes) <= sum(r.attempts for r in results)
    assert elapsed < 60  # a hang guard only
