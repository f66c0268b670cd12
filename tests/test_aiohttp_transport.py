"""The aiohttp transport itself: what reaches aiohttp, what comes back, how failures map.

aioresponses intercepts aiohttp's requests (``mock_api`` and ``client`` come from
``conftest.py``; the client uses the default :class:`amas_async.AiohttpTransport`), so these
tests read the kwargs aiohttp was called with: headers, body, multipart form, timeouts,
``allow_redirects``. Where aioresponses would only test itself (how a query is escaped on
the wire, what a real server's headers look like), the emulator serves real HTTP on
127.0.0.1. What the SDK builds above the transport is tested on ``MockTransport`` in
``tests/test_wire.py`` and ``tests/test_errors.py``.
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from helpers import upload_sources
from multidict import CIMultiDict
from yarl import URL

import amas_async as amas
from amas_async.testing import Emulator, instant_retries

BASE = "https://amas.test/api/v1"
KEY = "test-key"
SID = "session_abc123"
GET_URL = f"{BASE}/sessions/{SID}/"
EXECUTION = {
    "id": SID,
    "object": "agent.session",
    "status": "completed",
    "messages": [{"id": "m1", "role": "assistant", "content": "Hi there"}],
}
PNG = (
    b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x06\x00\x00\x00"
)
UPLOAD_ANSWER = {"url": "https://cdn.amas.test/i/1.png", "media_type": "image/png", "size": 29}
FLAT = {"name": "Flat", "agent_type": "llm_agent", "system_prompt": "Be brief."}


# ---- helpers ----------------------------------------------------------------------------------


def all_calls(mock: aioresponses) -> list[tuple[str, URL, RequestCall]]:
    assert mock.requests is not None
    return [(method, url, call) for (method, url), items in mock.requests.items() for call in items]


def only_call(mock: aioresponses) -> tuple[str, URL, RequestCall]:
    found = all_calls(mock)
    assert len(found) == 1, found
    return found[0]


def headers_of(call: RequestCall) -> CIMultiDict[str]:
    return CIMultiDict(call.kwargs["headers"])


def pool_open(client: amas.AsyncAmas) -> bool:
    """Whether the client's aiohttp session exists (a function, so mypy does not narrow it)."""
    transport = client.transport
    assert isinstance(transport, amas.AiohttpTransport)
    return transport.is_open


def assert_sdk_error(error: BaseException) -> None:
    """Only amas_async exceptions reach the caller; never aiohttp's; never the key."""
    assert isinstance(error, amas.AmasError)
    assert not isinstance(error, aiohttp.ClientError)
    assert type(error).__module__.startswith("amas_async")
    seen: BaseException | None = error
    while seen is not None:
        assert KEY not in str(seen)
        assert KEY not in repr(seen)
        seen = seen.__cause__ or seen.__context__


class Upload:
    """An aioresponses callback that renders each multipart body aiohttp was asked to send."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []

    async def record(self, url: URL, **kwargs: Any) -> None:
        form = kwargs["data"]
        assert isinstance(form, aiohttp.FormData)
        payload = form()
        self.bodies.append((payload.content_type, await payload.as_bytes()))

    @property
    def content_type(self) -> str:
        return self.bodies[-1][0]

    def parts(self, index: int = -1) -> list[tuple[str | None, str | None, str, bytes]]:
        content_type, body = self.bodies[index]
        raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
        message = email.parser.BytesParser().parsebytes(raw)
        assert message.is_multipart()
        found = []
        for part in message.get_payload():
            assert not isinstance(part, str)
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found.append(
                (
                    name if isinstance(name, str) else None,
                    part.get_filename(),
                    part.get_content_type(),
                    payload,
                )
            )
        return found


# ---- what reaches aiohttp -----------------------------------------------------------------------


async def test_a_json_post_reaches_aiohttp_with_its_headers_and_body(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    config = {"name": "S", "agent_type": "llm_agent", "system_prompt": "Be nice."}
    mock_api.post(f"{BASE}/sessions/", payload={"success": True, "session_id": "s1"})

    session = await client.sessions.create(config)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("POST", f"{BASE}/sessions/")
    headers = headers_of(call)
    assert headers["x-api-key"] == KEY
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["Idempotency-Key"]
    data = call.kwargs["data"]
    assert isinstance(data, bytes)
    assert json.loads(data) == config
    assert session.id == "s1"


async def test_a_get_reaches_aiohttp_without_body_or_content_type(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(GET_URL, payload={"session_id": SID})

    await client.sessions.get(SID)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("GET", GET_URL)
    headers = headers_of(call)
    assert headers["x-api-key"] == KEY
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"
    assert "Content-Type" not in headers
    assert call.kwargs.get("data") is None


@pytest.mark.parametrize(
    ("method", "url", "call"),
    [
        ("POST", f"{BASE}/sessions/", lambda c: c.sessions.create(FLAT)),
        ("GET", GET_URL, lambda c: c.sessions.get(SID)),
    ],
    ids=["post", "get"],
)
async def test_aiohttp_never_follows_redirects_itself(
    method: str,
    url: str,
    call: Callable[[amas.AsyncAmas], Any],
    client: amas.AsyncAmas,
    mock_api: aioresponses,
) -> None:
    # the client follows same-origin redirects itself, adding the key only for its origin
    mock_api.add(url, method=method, payload={"session_id": "s1"})
    await call(client)
    _, _, sent = only_call(mock_api)
    assert sent.kwargs["allow_redirects"] is False


async def test_a_redirect_answer_is_handed_up_as_is(mock_api: aioresponses) -> None:
    location = "https://elsewhere.test/x"
    mock_api.get(GET_URL, status=302, headers={"Location": location})
    transport = amas.AiohttpTransport()
    try:
        response = await transport.handle(amas.Request("GET", GET_URL))
    finally:
        await transport.aclose()
    assert response.status == 302
    assert response.headers["location"] == location
    assert len(all_calls(mock_api)) == 1


async def test_from_agent_key_is_escaped_in_the_query(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(re.compile(r".*/sessions/from-agent/.*"), payload={"session_id": "s1"})
    await client.sessions.from_agent("a b&c")
    _, url, _ = only_call(mock_api)
    assert url.raw_query_string in ("agent_key=a+b%26c", "agent_key=a%20b%26c")
    assert list(url.query.items()) == [("agent_key", "a b&c")]


@pytest.mark.parametrize(
    "agent_key", ["agent_456def", "support agent", "a&b=c", "x+y", "ünïcode", "a#b;c/d?e"]
)
async def test_agent_key_reaches_a_real_server_intact(
    agent_key: str, amas_emulator: Emulator
) -> None:
    emu = amas_emulator
    agent = emu.register_agent(FLAT, agent_key=agent_key)
    async with amas.AsyncAmas(api_key=emu.api_key, base_url=emu.base_url) as client:
        session = await client.sessions.from_agent(agent_key)
    assert session.agent_id == agent.id
    (recorded,) = [r for r in emu.requests if "from-agent" in r.path]
    assert recorded.query == {"agent_key": agent_key}


# ---- multipart forms ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["path", "str-path", "bytes", "bytearray", "BytesIO"])
async def test_images_upload_is_a_multipart_form_on_the_wire(
    source: str, tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    make, filename = upload_sources(tmp_path, PNG)[source]
    capture = Upload()
    mock_api.post(f"{BASE}/images/upload/", payload=UPLOAD_ANSWER, callback=capture.record)

    upload = await client.images.upload(make())

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("POST", f"{BASE}/images/upload/")
    headers = headers_of(call)
    assert headers["x-api-key"] == KEY
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"
    # aiohttp sets the multipart Content-Type (with its boundary); nothing may override it
    assert "Content-Type" not in headers
    assert capture.content_type.startswith("multipart/form-data; boundary=")
    assert capture.parts() == [("image", filename, "image/png", PNG)]
    assert upload.url == UPLOAD_ANSWER["url"]


async def test_a_retried_upload_sends_the_whole_file_again(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(PNG * 1000)
    capture = Upload()
    url = f"{BASE}/images/upload/"
    mock_api.post(url, status=503, payload={"detail": "busy"}, callback=capture.record)
    mock_api.post(url, payload=UPLOAD_ANSWER, callback=capture.record)

    with instant_retries():
        upload = await client.images.upload(path)

    assert upload.attempts == 2
    assert len(capture.bodies) == 2
    for attempt in (0, 1):  # a fresh form each attempt, streamed from the start of the file
        assert capture.parts(attempt) == [("image", "big.png", "image/png", PNG * 1000)]


# ---- what comes back ----------------------------------------------------------------------------


async def test_an_answer_comes_back_in_the_sdks_own_types(mock_api: aioresponses) -> None:
    mock_api.get(
        GET_URL,
        status=404,
        payload={"detail": "Not found."},
        headers={"X-Request-Id": "req-7"},
        reason="Not Found",
    )
    request = amas.Request("GET", GET_URL, attempt=2)
    transport = amas.AiohttpTransport()
    try:
        response = await transport.handle(request)
    finally:
        await transport.aclose()
    assert isinstance(response, amas.Response)
    assert response.status == 404
    assert response.reason == "Not Found"
    assert isinstance(response.headers, amas.Headers)
    assert response.headers["x-request-id"] == "req-7"
    assert response.headers["X-REQUEST-ID"] == "req-7"
    assert isinstance(response.content, bytes)
    assert response.json() == {"detail": "Not found."}
    assert response.request is request
    assert response.url == GET_URL
    assert response.attempts == 2
    assert response.elapsed >= 0


async def test_status_error_headers_are_ours_not_aiohttps(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(GET_URL, status=404, payload={"detail": "no"}, headers={"X-Request-Id": "r-1"})
    with pytest.raises(amas.NotFoundError) as caught:
        await client.sessions.get(SID)
    headers = caught.value.headers
    assert isinstance(headers, amas.Headers)
    assert headers["X-Request-ID"] == "r-1"
    assert caught.value.request_id == "r-1"


async def test_an_explicit_aiohttp_transport_talks_to_a_real_server(
    amas_emulator: Emulator,
) -> None:
    emu = amas_emulator
    transport = amas.AiohttpTransport(limits=amas.Limits(max_connections=2))
    client = amas.AsyncAmas(api_key=emu.api_key, base_url=emu.base_url, transport=transport)
    async with client:
        assert client.transport is transport
        assert not pool_open(client)
        session = await client.sessions.create(FLAT)
        assert (await session.execute("hi")).ok
        assert pool_open(client)
    assert not pool_open(client)  # closing the client closed it


# ---- lifecycle: the aiohttp session -----------------------------------------------------------


async def test_connection_pool_is_created_lazily_inside_the_loop(
    api_key: str, base_url: str, mock_api: aioresponses
) -> None:
    mock_api.get(GET_URL, payload={"session_id": SID})
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    assert not pool_open(client)
    assert "new" in repr(client)
    client.session(SID)  # a handle makes no request ...
    assert not pool_open(client)  # ... and opens no pool
    try:
        await client.sessions.get(SID)
        assert pool_open(client)
        assert "open" in repr(client)
    finally:
        await client.aclose()
    assert not pool_open(client)
    assert "closed" in repr(client)


def test_client_can_be_constructed_outside_a_loop(api_key: str, base_url: str) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)  # no running loop: fine
    assert isinstance(client.transport, amas.AiohttpTransport)
    assert not pool_open(client)
    assert not client.is_closed
    asyncio.run(client.aclose())
    assert client.is_closed


async def test_async_with_opens_no_pool_until_the_first_request(
    api_key: str, base_url: str
) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    async with client as entered:
        assert entered is client
        assert not pool_open(client)  # the pool opens with the first request
    assert client.is_closed
    assert not pool_open(client)


async def test_aiohttp_transport_aclose_is_idempotent(mock_api: aioresponses) -> None:
    mock_api.get(GET_URL, payload={"session_id": SID})
    transport = amas.AiohttpTransport()
    await transport.aclose()  # never opened
    await transport.aclose()
    assert not transport.is_open

    opened = amas.AiohttpTransport()
    await opened.handle(amas.Request("GET", GET_URL))
    assert opened.is_open
    await opened.aclose()
    await opened.aclose()
    assert not opened.is_open


async def test_a_closed_aiohttp_transport_refuses_requests(mock_api: aioresponses) -> None:
    mock_api.get(GET_URL, payload={"session_id": SID})
    transport = amas.AiohttpTransport()
    await transport.aclose()
    with pytest.raises(amas.AmasError, match="closed"):
        await transport.handle(amas.Request("GET", GET_URL))
    assert not transport.is_open
    assert all_calls(mock_api) == []


def test_client_is_bound_to_one_event_loop(api_key: str, base_url: str) -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        with aioresponses() as mock:
            mock.get(GET_URL, payload={"session_id": SID}, repeat=True)
            client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
            first.run_until_complete(client.sessions.get(SID))
            with pytest.raises(amas.AmasError, match="loop"):
                second.run_until_complete(client.sessions.get(SID))
            assert len(all_calls(mock)) == 1  # nothing reached aiohttp from the other loop
            first.run_until_complete(client.aclose())
    finally:
        first.close()
        second.close()


# ---- timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, aiohttp.ClientTimeout(total=300.0, sock_connect=10.0, sock_read=None)),
        (30, aiohttp.ClientTimeout(total=30.0, sock_connect=10.0, sock_read=None)),
        (2.5, aiohttp.ClientTimeout(total=2.5, sock_connect=2.5, sock_read=None)),
        (
            amas.Timeout(connect=1, read=2, total=3),
            aiohttp.ClientTimeout(total=3, sock_connect=1, sock_read=2),
        ),
        (
            amas.Timeout(connect=None, read=None, total=None),
            aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
        ),
    ],
)
async def test_timeout_reaches_aiohttp(
    timeout: amas.Timeout | float | None, expected: aiohttp.ClientTimeout, api_key: str
) -> None:
    with aioresponses() as mock:
        mock.get(GET_URL, payload={"session_id": SID})
        async with amas.AsyncAmas(
            api_key=api_key, base_url=BASE, timeout=timeout, max_retries=0
        ) as client:
            await client.sessions.get(SID)
        _, _, call = only_call(mock)
    assert call.kwargs["timeout"] == expected


async def test_the_retry_deadline_bounds_an_attempt_without_a_total_timeout(api_key: str) -> None:
    with aioresponses() as mock:
        mock.get(GET_URL, payload={"session_id": SID})
        timeout = amas.Timeout(connect=None, read=None, total=None)
        policy = amas.RetryPolicy(deadline=42.0)
        async with amas.AsyncAmas(
            api_key=api_key, base_url=BASE, timeout=timeout, retry=policy
        ) as client:
            await client.sessions.get(SID)
        _, _, call = only_call(mock)
    assert call.kwargs["timeout"] == aiohttp.ClientTimeout(total=42.0)


async def test_a_middleware_can_set_a_per_request_timeout(api_key: str) -> None:
    async def quick(request: amas.Request, handler: amas.Handler) -> amas.Response:
        return await handler(attrs.evolve(request, timeout=amas.Timeout(total=5)))

    with aioresponses() as mock:
        mock.get(GET_URL, payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=BASE, middlewares=[quick]) as c:
            await c.sessions.get(SID)
        _, _, call = only_call(mock)
    assert call.kwargs["timeout"].total == 5


# ---- aiohttp's and asyncio's failures become the SDK's errors -----------------------------------


CALLS: dict[str, tuple[str, str, Callable[[amas.AsyncAmas], Any]]] = {
    "get": ("GET", GET_URL, lambda c: c.sessions.get(SID)),
    "execute": ("POST", f"{BASE}/runtime/{SID}/execute/", lambda c: c.runtime.execute(SID, "hi")),
    "upload": (
        "POST",
        f"{BASE}/images/upload/",
        lambda c: c.images.upload(b"GIF89a" + b"\x00" * 8),
    ),
}


def _connector_error() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("amas.test", 443, True, True, None, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


def _dns_error() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("amas.test", 443, True, True, None, None, None, None)
    return aiohttp.ClientConnectorError(key, socket.gaierror(-2, "Name or service not known"))


TRANSPORT_FAILURES: list[
    tuple[str, Callable[[], BaseException], type[amas.AmasError], bool | None]
] = [
    ("connector", _connector_error, amas.APIConnectionError, False),
    ("dns", _dns_error, amas.APIConnectionError, False),
    ("asyncio-timeout", asyncio.TimeoutError, amas.APITimeoutError, True),
    ("builtin-timeout", lambda: TimeoutError("slow"), amas.APITimeoutError, True),
    (
        "server-timeout",
        lambda: aiohttp.ServerTimeoutError("read timeout"),
        amas.APITimeoutError,
        True,
    ),
    (
        "connection-timeout",
        lambda: aiohttp.ConnectionTimeoutError("connect timeout"),
        amas.APITimeoutError,
        False,
    ),
    ("disconnected", aiohttp.ServerDisconnectedError, amas.APIConnectionError, True),
    (
        "client-os",
        lambda: aiohttp.ClientOSError(104, "Connection reset by peer"),
        amas.APIConnectionError,
        True,
    ),
    ("payload", lambda: aiohttp.ClientPayloadError("truncated"), amas.APIConnectionError, True),
    (
        "client-connection",
        lambda: aiohttp.ClientConnectionError("boom"),
        amas.APIConnectionError,
        True,
    ),
    ("os-error", lambda: ConnectionResetError(104, "reset"), amas.APIConnectionError, True),
    (
        "invalid-url",
        lambda: aiohttp.InvalidURL("https://amas.test/\x00"),
        amas.InvalidRequestError,
        None,
    ),
]


@pytest.mark.parametrize("name", ["get", "execute", "upload"])
@pytest.mark.parametrize(
    ("make", "error_class", "request_sent"),
    [case[1:] for case in TRANSPORT_FAILURES],
    ids=[case[0] for case in TRANSPORT_FAILURES],
)
async def test_transport_failures_become_sdk_errors(
    name: str,
    make: Callable[[], BaseException],
    error_class: type[amas.AmasError],
    request_sent: bool | None,
    api_key: str,
    base_url: str,
    mock_api: aioresponses,
) -> None:
    exception = make()
    assert isinstance(exception, Exception)
    method, url, call = CALLS[name]
    mock_api.add(url, method=method, exception=exception)

    async with amas.AsyncAmas(api_key=KEY, base_url=base_url, max_retries=0) as strict_client:
        with pytest.raises(amas.AmasError) as caught:
            await call(strict_client)

    error = caught.value
    assert type(error) is error_class
    assert_sdk_error(error)
    if isinstance(error, amas.APIConnectionError):
        assert error.request_sent is request_sent
        assert error.method == method
        assert error.url is not None
        assert error.url.startswith(BASE)
        assert error.__cause__ is exception  # the original is chained, not lost


async def test_unregistered_route_is_a_connection_error(
    base_url: str, mock_api: aioresponses
) -> None:
    async with amas.AsyncAmas(api_key=KEY, base_url=base_url, max_retries=0) as strict_client:
        with pytest.raises(amas.APIConnectionError) as caught:
            await strict_client.sessions.get(SID)
    assert type(caught.value) is amas.APIConnectionError
    assert_sdk_error(caught.value)


async def test_a_refused_connection_to_a_real_port_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/api/v1"
    async with amas.AsyncAmas(api_key=KEY, base_url=base, max_retries=0) as client:
        with pytest.raises(amas.APIConnectionError) as caught:
            await client.sessions.get(SID)
    assert type(caught.value) is amas.APIConnectionError
    assert caught.value.request_sent is False
    assert_sdk_error(caught.value)
