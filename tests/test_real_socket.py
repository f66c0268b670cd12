"""The client against real sockets: redirects, timeouts, broken answers, disconnects, retries.

Every test here talks to a scripted HTTP/1.1 server on a loopback socket (``tests/loopback.py``),
not a mock, so what is proven is what aiohttp and the SDK do with real bytes on a real
connection. The mapping tests run on both of the client's paths: the lean one (no user
middleware) and the layered one (a pass-through middleware forces the whole chain).

Timeouts here are real time; they are kept to a tenth of a second or so, and nothing asserts
an upper bound on how long a call took.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until
from loopback import (
    OTHER_HOST,
    Action,
    Loopback,
    Received,
    can_bind,
    chunked,
    disconnect,
    head,
    raw,
    redirect,
    reply,
    stall,
    stall_after_head,
    truncated,
    unaccepting_port,
)

import amas_async as amas
from amas_async.testing import instant_retries

KEY = "sk-loopback-7f3a9c1e5b2d4f60"
EXAMPLES = Path(__file__).parent / "data" / "examples"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


SESSION = example("sessions-get.response")
EXECUTION = example("execute-text.response")
SESSION_CONFIG = example("sessions-create-flat.request")
SESSION_CREATED = example("sessions-create-flat.response")


@dataclass(frozen=True)
class Call:
    """One client call, what it sends, and a 2xx body it parses."""

    send: Callable[[amas.AsyncAmas], Awaitable[object]]
    method: str
    path: str
    answer: Any


CALLS = {
    "get": Call(lambda client: client.sessions.get("s1"), "GET", "/api/v1/sessions/s1/", SESSION),
    "execute": Call(
        lambda client: client.runtime.execute("s1", "hi"),
        "POST",
        "/api/v1/runtime/s1/execute/",
        EXECUTION,
    ),
}


def passthrough(request: amas.Request, handler: amas.Handler) -> Awaitable[amas.Response]:
    return handler(request)


ClientFactory = Callable[..., amas.AsyncAmas]


@pytest.fixture(params=["lean", "layered"])
def make_client(request: pytest.FixtureRequest) -> ClientFactory:
    """Makes a client for a base URL on one of the two paths (lean: no user middleware)."""
    middlewares = [passthrough] if request.param == "layered" else []

    def make(base_url: str, **options: Any) -> amas.AsyncAmas:
        return amas.AsyncAmas(api_key=KEY, base_url=base_url, middlewares=middlewares, **options)

    return make


@pytest.fixture(params=list(CALLS))
def call(request: pytest.FixtureRequest) -> Call:
    """A GET (idempotent) and an execute (not), in turn."""
    return CALLS[request.param]


@pytest.fixture
async def server() -> AsyncIterator[Loopback]:
    async with Loopback() as running:
        yield running


def assert_key_hidden(exc: BaseException) -> None:
    """The key is nowhere in the error: message, repr, or the formatted chain of causes."""
    assert KEY not in str(exc)
    assert KEY not in repr(exc)
    assert KEY not in "".join(traceback.format_exception(exc))


def keys_of(requests: list[Received]) -> list[str | None]:
    return [r.headers.get("x-api-key") for r in requests]


# ---- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
async def test_same_origin_307_308_repeat_method_body_and_key(
    server: Loopback,
    make_client: ClientFactory,
    call: Call,
    status: int,
    absolute: bool,
) -> None:
    location = "/api/v1/moved/"
    server.script(redirect(status, server.url + location if absolute else location))
    server.script(reply(200, call.answer))

    async with make_client(server.base_url) as client:
        await call.send(client)

    first, second = server.requests
    assert (first.method, first.target) == (call.method, call.path)
    assert (second.method, second.target) == (call.method, location)
    assert second.body == first.body
    assert keys_of(server.requests) == [KEY, KEY]
    assert second.headers.get("Idempotency-Key") == first.headers.get("Idempotency-Key")


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_post_redirected_by_301_302_303_continues_as_get_without_body(
    server: Loopback, make_client: ClientFactory, status: int
) -> None:
    server.script(redirect(status, "/api/v1/runs/r1/"), reply(200, EXECUTION))

    async with make_client(server.base_url) as client:
        execution = await client.runtime.execute("s1", "hi")

    assert execution.raw == EXECUTION
    post, get = server.requests
    assert post.method == "POST"
    assert post.json()["content"] == "hi"
    assert (get.method, get.target, get.body) == ("GET", "/api/v1/runs/r1/", b"")
    assert "Content-Type" not in get.headers
    assert keys_of(server.requests) == [KEY, KEY]


async def test_get_redirected_by_303_stays_get(
    server: Loopback, make_client: ClientFactory
) -> None:
    server.script(redirect(303, "/api/v1/sessions/s2/"), reply(200, SESSION))

    async with make_client(server.base_url) as client:
        await client.sessions.get("s1")

    assert [(r.method, r.target) for r in server.requests] == [
        ("GET", "/api/v1/sessions/s1/"),
        ("GET", "/api/v1/sessions/s2/"),
    ]


async def test_redirect_loop_stops_with_the_last_3xx(
    server: Loopback, make_client: ClientFactory
) -> None:
    server.handler = lambda request: redirect(307, request.path + "x/")

    async with make_client(server.base_url) as client:
        with pytest.raises(amas.APIStatusError) as caught:
            await client.sessions.get("s1")

    assert caught.value.status_code == 307
    assert len(server.requests) == 6  # the call and five hops
    assert keys_of(server.requests) == [KEY] * 6


@pytest.fixture(params=["other-host", "other-port"])
async def elsewhere(request: pytest.FixtureRequest) -> AsyncIterator[Loopback]:
    """A second server: on another loopback address, or on another port of 127.0.0.1."""
    host = OTHER_HOST if request.param == "other-host" else "127.0.0.1"
    if not can_bind(host):
        pytest.skip(f"{host} is not a loopback address here")
    async with Loopback(host=host) as running:
        yield running


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_origin_is_not_followed(
    server: Loopback,
    elsewhere: Loopback,
    make_client: ClientFactory,
    call: Call,
    status: int,
) -> None:
    elsewhere.handler = lambda _: reply(200, call.answer)
    server.script(redirect(status, elsewhere.base_url + "/sessions/s1/"))

    async with make_client(server.base_url) as client:
        with pytest.raises(amas.APIStatusError) as caught:
            await call.send(client)

    assert caught.value.status_code == status
    assert elsewhere.connections == 0
    assert elsewhere.requests == []
    assert keys_of(server.requests) == [KEY]
    assert_key_hidden(caught.value)


@pytest.mark.parametrize(
    "location",
    [
        "http://localhost:{port}/api/v1/sessions/s2/",
        "https://127.0.0.1:{port}/api/v1/sessions/s2/",
        "//localhost:{port}/api/v1/sessions/s2/",
    ],
    ids=["host-name", "scheme", "scheme-relative"],
)
async def test_redirect_to_the_same_server_by_another_origin_is_not_followed(
    server: Loopback, make_client: ClientFactory, location: str
) -> None:
    server.script(redirect(307, location.format(port=server.port)))
    server.handler = lambda _: reply(200, SESSION)

    async with make_client(server.base_url) as client:
        with pytest.raises(amas.APIStatusError) as caught:
            await client.sessions.get("s1")

    assert caught.value.status_code == 307
    assert len(server.requests) == 1
    assert server.connections == 1
    assert_key_hidden(caught.value)


# ---- timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "timeout"),
    [
        (stall, amas.Timeout(connect=2, read=0.1, total=10)),
        (stall_after_head, amas.Timeout(connect=2, read=0.1, total=10)),
        (stall, amas.Timeout(connect=2, total=0.2)),
    ],
    ids=["read-no-answer", "read-body", "total"],
)
async def test_stalled_server_times_out_with_request_sent(
    server: Loopback,
    make_client: ClientFactory,
    call: Call,
    answer: Callable[[], Any],
    timeout: amas.Timeout,
) -> None:
    server.script(answer())

    async with make_client(server.base_url, timeout=timeout, max_retries=0) as client:
        with pytest.raises(amas.APITimeoutError) as caught:
            await call.send(client)

    assert caught.value.request_sent is True
    assert caught.value.attempts == 1
    assert_key_hidden(caught.value)
    await wait_until(lambda: len(server.requests) == 1, what="the request reached the server")
    # The client gave the connection up: the stalled handler sees it closed.
    await wait_until(lambda: server.open_connections == 0, what="the connection closed")


@pytest.fixture(scope="module")
def hanging_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connects hang (see ``loopback.unaccepting_port``)."""
    with unaccepting_port() as port:
        yield port


async def test_connect_timeout_says_not_sent(
    hanging_port: int, make_client: ClientFactory, call: Call
) -> None:
    timeout = amas.Timeout(connect=0.1, total=10)
    url = f"http://127.0.0.1:{hanging_port}/api/v1"
    async with make_client(url, timeout=timeout, max_retries=0) as client:
        with pytest.raises(amas.APITimeoutError) as caught:
            await call.send(client)

    assert caught.value.request_sent is False
    assert caught.value.attempts == 1
    assert_key_hidden(caught.value)


async def test_execute_is_retried_after_a_connect_timeout(
    hanging_port: int, make_client: ClientFactory
) -> None:
    # Nothing was sent, so even a non-idempotent call may be retried.
    timeout = amas.Timeout(connect=0.1, total=10)
    url = f"http://127.0.0.1:{hanging_port}/api/v1"
    with instant_retries() as retry_clock:
        async with make_client(url, timeout=timeout, max_retries=1) as client:
            with pytest.raises(amas.APITimeoutError) as caught:
                await client.runtime.execute("s1", "hi")

    assert caught.value.request_sent is False
    assert caught.value.attempts == 2
    assert len(retry_clock.sleeps) == 1


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (just released by the kernel)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connection_says_not_sent_and_execute_is_retried(
    make_client: ClientFactory,
) -> None:
    with instant_retries() as retry_clock:
        async with make_client(f"http://127.0.0.1:{closed_port()}/api/v1") as client:
            with pytest.raises(amas.APIConnectionError) as caught:
                await client.runtime.execute("s1", "hi")

    assert not isinstance(caught.value, amas.APITimeoutError)
    assert caught.value.request_sent is False
    assert caught.value.attempts == 3
    assert len(retry_clock.sleeps) == 2
    assert_key_hidden(caught.value)


async def test_total_timeout_while_connecting_says_not_sent(
    hanging_port: int, make_client: ClientFactory
) -> None:
    # timeout=0.1 is Timeout(connect=0.1, total=0.1): the usual way to give a number.
    url = f"http://127.0.0.1:{hanging_port}/api/v1"
    async with make_client(url, timeout=0.1, max_retries=0) as client:
        with pytest.raises(amas.APITimeoutError) as caught:
            await client.runtime.execute("s1", "hi")

    assert caught.value.request_sent is False
    assert "before a connection was made" in str(caught.value)


async def test_an_execute_whose_total_timeout_hit_while_connecting_is_retried(
    hanging_port: int, make_client: ClientFactory
) -> None:
    """Nothing was sent, so even a non-idempotent call may go again."""
    url = f"http://127.0.0.1:{hanging_port}/api/v1"
    with instant_retries():
        async with make_client(url, timeout=0.1) as client:
            with pytest.raises(amas.APITimeoutError) as caught:
                await client.runtime.execute("s1", "hi")
    assert caught.value.request_sent is False
    assert caught.value.attempts == 3


# ---- broken answers and disconnects -------------------------------------------------------------


def broken_answers(body: Any) -> dict[str, Action]:
    """Answers that end before they are complete, or are no HTTP: each a connection failure."""
    data = json.dumps(body).encode()
    gzipped = gzip.compress(data)
    return {
        "truncated": truncated(body),
        "truncated-after-head": truncated(body, send=0),
        "truncated-chunked": raw(
            head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}),
            list(chunked([data[:10], data[10:]]))[:-1],  # no last chunk
        ),
        "truncated-gzip": raw(
            head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(gzipped))}),
            gzipped[: len(gzipped) // 2],
        ),
        "corrupt-gzip": raw(
            head(200, {"Content-Encoding": "gzip", "Content-Length": "15"}), b"not gzip at all"
        ),
        "garbage": raw(b"this is not HTTP\r\n\r\n"),
        "disconnect": disconnect(),
        "reset": disconnect(reset=True),
    }


@pytest.mark.parametrize("kind", list(broken_answers({})))
async def test_broken_answer_is_a_connection_error_with_request_sent(
    server: Loopback, make_client: ClientFactory, call: Call, kind: str
) -> None:
    server.handler = lambda _: broken_answers(call.answer)[kind]

    async with make_client(server.base_url, max_retries=0) as client:
        with pytest.raises(amas.AmasError) as caught:
            await call.send(client)

    assert type(caught.value) is amas.APIConnectionError
    assert caught.value.request_sent is True
    assert caught.value.attempts == 1
    assert server.requests
    assert_key_hidden(caught.value)


async def test_well_formed_chunked_and_gzip_answers_parse(
    server: Loopback, make_client: ClientFactory
) -> None:
    data = json.dumps(SESSION).encode()
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    gzipped = gzip.compress(data)
    server.script(
        raw(head(200, {"Transfer-Encoding": "chunked"}), chunked(pieces), close=False),
        raw(head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(gzipped))}), gzipped),
    )

    async with make_client(server.base_url) as client:
        first = await client.sessions.get("s1")
        second = await client.sessions.get("s1")

    assert first.raw == second.raw == SESSION
    assert server.requests[0].sent > len(data)


# ---- retries against the socket -----------------------------------------------------------------


@pytest.mark.parametrize("first", ["truncated", "disconnect", "reset"])
async def test_get_is_retried_after_a_broken_answer(
    server: Loopback, make_client: ClientFactory, first: str
) -> None:
    server.script(broken_answers(SESSION)[first], reply(200, SESSION))

    with instant_retries():
        async with make_client(server.base_url) as client:
            session = await client.sessions.get("s1")

    assert session.raw == SESSION
    assert len(server.requests) == 2
    assert keys_of(server.requests) == [KEY, KEY]


async def test_get_retried_after_a_truncated_answer_backs_off_once(
    server: Loopback, make_client: ClientFactory
) -> None:
    # aiohttp resends nothing once the head has arrived: this retry is the SDK's own.
    server.script(truncated(SESSION), reply(200, SESSION))

    with instant_retries() as retry_clock:
        async with make_client(server.base_url) as client:
            await client.sessions.get("s1")

    assert len(retry_clock.sleeps) == 1
    assert len(server.requests) == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: Loopback, make_client: ClientFactory
) -> None:
    # The first answer says nothing about closing, then the server closes the connection.
    data = json.dumps(EXECUTION).encode()
    server.script(raw(head(200, {"Content-Length": str(len(data))}), data))
    server.handler = lambda _: reply(200, EXECUTION)

    async with make_client(server.base_url, max_retries=0) as client:
        await client.runtime.execute("s1", "one")
        await wait_until(lambda: server.open_connections == 0, what="the server closed it")
        await client.runtime.execute("s1", "two")

    assert [r.json()["content"] for r in server.requests] == ["one", "two"]
    assert [r.connection for r in server.requests] == [1, 2]


@pytest.mark.parametrize("first", ["truncated", "disconnect", "reset"])
async def test_execute_is_not_retried_once_sent(
    server: Loopback, make_client: ClientFactory, first: str
) -> None:
    server.script(broken_answers(EXECUTION)[first])
    server.handler = lambda _: reply(200, EXECUTION)

    with instant_retries() as retry_clock:
        async with make_client(server.base_url) as client:
            with pytest.raises(amas.APIConnectionError) as caught:
                await client.runtime.execute("s1", "hi")

    assert caught.value.request_sent is True
    assert len(server.requests) == 1
    assert retry_clock.sleeps == []


async def test_retried_posts_send_the_same_idempotency_key(
    server: Loopback, make_client: ClientFactory
) -> None:
    server.script(reply(503, {"detail": "busy"}), disconnect(), reply(201, SESSION_CREATED))

    with instant_retries() as retry_clock:
        async with make_client(server.base_url) as client:
            session = await client.sessions.create(SESSION_CONFIG)

    assert session.id == SESSION_CREATED["session_id"]
    assert len(retry_clock.sleeps) == 2
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    assert len(server.requests) == 3
    assert len(keys) == 1
    assert keys != {""}
    assert {r.body for r in server.requests} == {server.requests[0].body}
    assert keys_of(server.requests) == [KEY] * 3


async def test_execute_retried_on_503_keeps_its_idempotency_key(
    server: Loopback, make_client: ClientFactory
) -> None:
    server.script(reply(503, {"detail": "busy"}), reply(200, EXECUTION))

    with instant_retries():
        async with make_client(server.base_url) as client:
            execution = await client.runtime.execute("s1", "hi", idempotency_key="turn-1")

    assert execution.attempts == 2
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["turn-1", "turn-1"]


async def test_get_with_retries_off_is_sent_once(
    server: Loopback, make_client: ClientFactory
) -> None:
    server.script(disconnect(), reply(200, SESSION))

    async with make_client(server.base_url, max_retries=0) as client:
        with pytest.raises(amas.APIConnectionError):
            await client.sessions.get("s1")

    assert len(server.requests) == 1


# ---- both paths, the same bytes -----------------------------------------------------------------


async def test_lean_and_layered_paths_send_the_same_headers(server: Loopback) -> None:
    server.handler = lambda request: reply(200, SESSION if request.method == "GET" else EXECUTION)
    lean = amas.AsyncAmas(api_key=KEY, base_url=server.base_url)
    layered = amas.AsyncAmas(api_key=KEY, base_url=server.base_url, middlewares=[passthrough])
    async with lean, layered:
        for client in (lean, layered):
            await client.sessions.get("s1")
            await client.runtime.execute("s1", "hi")

    def sent(request: Received) -> dict[str, str]:
        headers = {name.lower(): value for name, value in request.headers.items()}
        headers.pop("idempotency-key", None)
        return headers

    lean_get, lean_post, layered_get, layered_post = server.requests
    assert sent(lean_get) == sent(layered_get)
    assert sent(lean_post) == sent(layered_post)
    assert lean_post.body == layered_post.body
    assert sent(lean_get)["x-api-key"] == KEY


# ---- the loopback server itself -----------------------------------------------------------------


async def test_loopback_stop_closes_stalled_connections() -> None:
    async with Loopback(stall(), stall_after_head()) as server:
        pairs = [await asyncio.open_connection(server.host, server.port) for _ in range(2)]
        for _reader, writer in pairs:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await wait_until(lambda: len(server.requests) == 2)
        assert server.open_connections == 2
    assert server.open_connections == 0
    for reader, writer in pairs:
        await reader.read()  # the server closed it: EOF
        writer.close()
        await writer.wait_closed()


async def test_loopback_unscripted_request_gets_418(server: Loopback) -> None:
    async with amas.AsyncAmas(api_key=KEY, base_url=server.base_url) as client:
        with pytest.raises(amas.APIStatusError, match="no answer scripted") as caught:
            await client.sessions.get("s1")
    assert caught.value.status_code == 418


async def test_loopback_streams_a_huge_chunked_body_until_the_client_leaves(
    server: Loopback,
) -> None:
    chunk = b"x" * 65536
    server.script(
        raw(head(200, {"Transfer-Encoding": "chunked"}), chunked(chunk for _ in range(100_000)))
    )
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readexactly(1_000_000)
    writer.close()
    await writer.wait_closed()

    await wait_until(lambda: server.open_connections == 0, what="the server gave up")
    assert 1_000_000 <= server.requests[0].sent < 100_000 * len(chunk)


async def test_loopback_raises_a_handler_error_when_it_stops() -> None:
    def broken(request: Received) -> Any:
        raise LookupError(request.target)

    server = Loopback(handler=broken)
    await server.__aenter__()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /oops HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await reader.read() == b""  # the connection is closed, nothing answered
    writer.close()
    await writer.wait_closed()
    with pytest.raises(LookupError, match="/oops"):
        await server.aclose()
