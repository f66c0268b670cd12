"""The common case and the layered case behave the same, against the emulator.

A client with no user middleware and no throttle sends its calls on a lean path (one attempt
straight to the transport, Request/Response objects built only after a failure); a client with
middlewares, a throttle or DEBUG logging goes through the whole chain. Every test here runs in
each of those configurations and asserts the same wire traffic and the same outcome: headers,
retries and their idempotency keys, the safety rule, typed errors, redirects, closing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from helpers import wait_until

import amas_async as amas
from amas_async.testing import Emulator, RetryClock

MODES = ("lean", "middleware", "throttle", "debug-logging")
FLAT = {"name": "Flat", "agent_type": "llm_agent", "system_prompt": "Be brief."}
HEX_KEY = re.compile(r"[0-9a-f]{32}")


def _pass_through(
    request: amas.Request, handler: Callable[[amas.Request], Awaitable[amas.Response]]
) -> Awaitable[amas.Response]:
    return handler(request)


@pytest.fixture(params=MODES)
async def mode_client(
    request: pytest.FixtureRequest,
    amas_emulator: Emulator,
    amas_retry_clock: RetryClock,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[amas.AsyncAmas]:
    mode = request.param
    options: dict[str, Any] = {}
    if mode == "middleware":
        options["middlewares"] = [_pass_through]
    elif mode == "throttle":
        options["throttle"] = amas.Throttle(max_concurrency=4)
    elif mode == "debug-logging":
        caplog.set_level(logging.DEBUG, logger="amas_async")
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        default_headers={"X-Team": "blue"},
        **options,
    ) as client:
        yield client
    if mode == "debug-logging":  # the layered path ran: every exchange was logged
        assert any("/api/v1/" in r.getMessage() for r in caplog.get_records("call"))


async def _session(client: amas.AsyncAmas, emu: Emulator) -> str:
    session = await client.sessions.create(FLAT)
    emu.requests.clear()
    return session.id


def _posts(emu: Emulator, part: str = "/execute/") -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and part in r.path]


async def test_headers_on_the_wire(mode_client: amas.AsyncAmas, amas_emulator: Emulator) -> None:
    sid = await _session(mode_client, amas_emulator)
    await mode_client.runtime.execute(sid, "Hi")
    await mode_client.runtime.status(sid)
    post, get = amas_emulator.requests
    for sent in (post, get):
        assert sent.headers["x-api-key"] == amas_emulator.api_key
        assert sent.headers["Accept"] == "application/json"
        assert sent.headers["User-Agent"] == f"amas-async/{amas.__version__}"
        assert sent.headers["X-Team"] == "blue"
        assert len(sent.headers.getall("x-api-key")) == 1
    assert post.headers["Content-Type"] == "application/json"
    assert HEX_KEY.fullmatch(post.headers["Idempotency-Key"])
    assert post.json() == {"content": "Hi"}
    assert "Idempotency-Key" not in get.headers
    assert "Content-Type" not in get.headers


async def test_each_call_gets_its_own_key_and_a_given_key_is_sent(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    await mode_client.runtime.execute(sid, "one")
    await mode_client.runtime.execute(sid, "two")
    await mode_client.runtime.execute(sid, "three", idempotency_key="mine-1")
    keys = [r.headers["Idempotency-Key"] for r in _posts(amas_emulator)]
    assert keys[0] != keys[1]
    assert keys[2] == "mine-1"


async def test_a_503_is_retried_with_the_same_key(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.fail_next(2, status=503, path="/execute/")
    execution = await mode_client.runtime.execute(sid, "Hi")
    assert execution.attempts == 3
    assert execution.text
    sent = _posts(amas_emulator)
    assert len(sent) == 3
    assert len({r.headers["Idempotency-Key"] for r in sent}) == 1
    assert len(amas_retry_clock.sleeps) == 2


async def test_a_429_waits_its_retry_after(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.fail_next(1, status=429, retry_after=7, path="/execute/")
    execution = await mode_client.runtime.execute(sid, "Hi")
    assert execution.attempts == 2
    assert amas_retry_clock.sleeps == [7.0]


async def test_a_500_on_execute_is_not_retried(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.fail_next(1, status=500, path="/execute/")
    with pytest.raises(amas.InternalServerError) as caught:
        await mode_client.runtime.execute(sid, "Hi")
    assert caught.value.status_code == 500
    assert caught.value.attempts == 1
    assert len(_posts(amas_emulator)) == 1
    assert amas_retry_clock.sleeps == []


async def test_retries_that_run_out_raise_with_the_attempt_count(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.fail_next(3, status=503, path="/status/")
    with pytest.raises(amas.InternalServerError) as caught:
        await mode_client.runtime.status(sid)
    assert caught.value.attempts == 3


async def test_a_dropped_connection_is_retried_only_where_safe(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.fail_next(1, drop=True, path="/execute/")
    with pytest.raises(amas.APIConnectionError) as caught:
        await mode_client.runtime.execute(sid, "Hi")
    assert caught.value.request_sent
    assert len(_posts(amas_emulator)) == 1  # the turn may have run: never sent twice
    amas_emulator.fail_next(1, drop=True, path="/status/")
    status = await mode_client.runtime.status(sid)
    assert status.session_id == sid
    assert len([r for r in amas_emulator.requests if "/status/" in r.path]) == 2


async def test_a_client_error_is_typed(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.respond_next(
        status=400, body={"error": {"type": "validation_error", "message": "Bad content"}}
    )
    with pytest.raises(amas.BadRequestError) as caught:
        await mode_client.runtime.execute(sid, "Hi")
    assert caught.value.status_code == 400
    assert "Bad content" in str(caught.value)
    assert caught.value.attempts == 1
    with pytest.raises(amas.NotFoundError):
        await mode_client.runtime.status("no-such-session")


async def test_a_2xx_that_is_not_json_is_a_validation_error(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.respond_next(body="<html>oops</html>", content_type="text/html")
    with pytest.raises(amas.ResponseValidationError) as caught:
        await mode_client.runtime.execute(sid, "Hi")
    assert caught.value.status_code == 200
    assert "oops" in str(caught.value)


async def test_a_same_origin_redirect_is_followed_with_the_key(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    target = f"/api/v1/runtime/{sid}/status/"
    amas_emulator.respond_next(status=307, headers={"Location": target}, path="/moved/")
    status = await mode_client._request(  # a path the API might redirect one day
        "GET", "/moved/", parse=lambda body: body
    )
    assert status["session_id"] == sid
    followed = [r for r in amas_emulator.requests if r.path == target]
    assert followed
    assert followed[0].headers["x-api-key"] == amas_emulator.api_key


async def test_a_redirect_to_another_host_is_not_followed_and_gets_no_key(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator, threaded_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    elsewhere = f"{threaded_emulator.base_url}/runtime/{sid}/status/"
    amas_emulator.respond_next(status=302, headers={"Location": elsewhere}, path="/status/")
    with pytest.raises(amas.APIStatusError) as caught:
        await mode_client.runtime.status(sid)
    assert caught.value.status_code == 302
    assert threaded_emulator.requests == []
    assert amas_emulator.api_key not in str(caught.value)


async def test_closing_while_a_call_is_in_flight_ends_it(
    mode_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    sid = await _session(mode_client, amas_emulator)
    amas_emulator.set_latency(30.0)
    call = asyncio.ensure_future(mode_client.runtime.execute(sid, "Hi"))
    await wait_until(lambda: bool(_posts(amas_emulator)))
    await mode_client.aclose()
    with pytest.raises(amas.APIConnectionError):
        await call
    assert len(_posts(amas_emulator)) == 1
    with pytest.raises(amas.AmasError, match="closed"):
        await mode_client.runtime.status(sid)


async def test_a_throttle_bounds_calls_and_learns_from_a_429(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    throttle = amas.Throttle(max_concurrency=3)
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, throttle=throttle
    ) as client:
        sid = await _session(client, amas_emulator)
        seen: list[int] = []
        amas_emulator.set_latency(0.02)

        async def watch() -> None:
            while True:
                seen.append(throttle.in_flight)
                await asyncio.sleep(0.001)

        watcher = asyncio.ensure_future(watch())
        others = [(await client.sessions.create(FLAT)).id for _ in range(8)]
        results = await asyncio.gather(*(client.runtime.execute(s, "Hi") for s in others))
        watcher.cancel()
        assert all(r.text for r in results)
        assert max(seen) == 3
        assert throttle.in_flight == 0

        amas_emulator.set_latency(0.0)
        amas_emulator.fail_next(1, status=429, retry_after=5, path="/execute/")
        execution = await client.runtime.execute(sid, "Hi")
        assert execution.attempts == 2
        assert throttle.throttled == 1
        assert throttle.concurrency_limit == 2  # halved to 1.5, then +1/1.5 for the success
        assert 5.0 in amas_retry_clock.sleeps


async def test_a_cancelled_throttled_call_gives_its_slot_back(amas_emulator: Emulator) -> None:
    throttle = amas.Throttle(max_concurrency=1)
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, throttle=throttle
    ) as client:
        sid = await _session(client, amas_emulator)
        amas_emulator.set_latency(30.0)
        call = asyncio.ensure_future(client.runtime.execute(sid, "Hi"))
        await wait_until(lambda: bool(_posts(amas_emulator)))
        assert throttle.in_flight == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert throttle.in_flight == 0
        amas_emulator.set_latency(0.0)
        assert (await client.runtime.status(sid)).session_id == sid


async def test_a_transport_subclass_sees_every_attempt(amas_emulator: Emulator) -> None:
    seen: list[str] = []

    class Recording(amas.AiohttpTransport):
        async def handle(self, request: amas.Request) -> amas.Response:
            seen.append(f"{request.method} {request.url}")
            return await super().handle(request)

    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, transport=Recording()
    ) as client:
        sid = await _session(client, amas_emulator)
        await client.runtime.execute(sid, "Hi")
    assert seen[-1] == f"POST {amas_emulator.base_url}/runtime/{sid}/execute/"
    assert len(seen) == 2  # the session, then the execute: none went around the override
