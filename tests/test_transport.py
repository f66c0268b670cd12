"""The transport seam: ``AsyncAmas(transport=...)``, ``MockTransport``, a user's own transport,
and the seam's value types ``amas.Request``, ``amas.Response`` and ``amas.Headers``.

Every resource call must run on any object with ``async handle(request) -> Response`` and
``async aclose()``, with no network at all; retries, redirects and the API key are handled
above the transport, so they behave the same whatever transport is used.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
from mockapi import MockAPI, forbid_network, full_url, headers_of, query_of, sent_json

import amas_async as amas
from amas_async.testing import Emulator, MockTransport, instant_retries

BASE = "https://amas.test/api/v1"
KEY = "seam-key-0123456789"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


# ---- a small fake API answering every resource call -----------------------------------------


def fake_api(request: amas.Request) -> amas.Response:
    """Answers every call of the SDK by method and path (a sync mock handler)."""
    assert request.url.startswith(BASE), request.url
    assert headers_of(request)["x-api-key"] == KEY
    path = request.url[len(BASE) :]
    query = dict(query_of(request))
    route = (request.method, path)
    if route == ("POST", "/sessions/"):
        return amas.Response(201, json={"session_id": "s1", "config_hash": "h1"})
    if route == ("GET", "/sessions/from-agent/"):
        return amas.Response(200, json={"session_id": "s2", "agent_key": query["agent_key"]})
    if m := re.fullmatch(r"/sessions/from-agent/([^/]+)/", path):
        assert request.method == "POST"
        return amas.Response(200, json={"session_id": "s3", "agent_id": m[1]})
    if m := re.fullmatch(r"/sessions/([^/]+)/", path):
        assert request.method == "GET"
        return amas.Response(200, json={"session_id": m[1], "status": "active"})
    if m := re.fullmatch(r"/runtime/([^/]+)/execute/", path):
        assert request.method == "POST"
        said = sent_json(request)["content"]
        reply = {"id": "r", "role": "assistant", "content": f"{m[1]}: {said}"}
        return amas.Response(200, json={"status": "completed", "messages": [reply]})
    if re.fullmatch(r"/runtime/[^/]+/messages/", path):
        limit, offset = int(query["limit"]), int(query["offset"])
        ids = range(offset, min(offset + limit, 3))
        messages = [{"id": f"m{i}", "role": "user", "content": f"c{i}"} for i in ids]
        more = offset + limit < 3
        return amas.Response(200, json={"messages": messages, "total": 3, "has_more": more})
    if m := re.fullmatch(r"/runtime/([^/]+)/status/", path):
        return amas.Response(200, json={"session_id": m[1], "status": "idle"})
    if route == ("POST", "/images/upload/"):
        form = request.multipart
        assert form is not None
        (part,) = form.files
        with part.source.open() as handle:
            size = len(handle.read())
        url = f"https://cdn.test/{part.filename}"
        return amas.Response(200, json={"url": url, "media_type": part.media_type, "size": size})
    return amas.Response(404, json={"detail": f"no route {request.method} {path}"})


async def fake_api_async(request: amas.Request) -> amas.Response:
    """The same answers from an async handler."""
    return fake_api(request)


class PlainTransport:
    """A user's own transport: a plain class, inheriting nothing, answering from a function."""

    def __init__(self, answer: Callable[[amas.Request], amas.Response] = fake_api) -> None:
        self.answer = answer
        self.requests: list[amas.Request] = []
        self.closes = 0

    async def handle(self, request: amas.Request) -> amas.Response:
        self.requests.append(request)
        return self.answer(request).replace(request=request, url=request.url)

    async def aclose(self) -> None:
        self.closes += 1


def make_transport(kind: str) -> MockTransport | PlainTransport:
    if kind == "sync-handler":
        return MockTransport(fake_api)
    if kind == "async-handler":
        return MockTransport(fake_api_async)
    return PlainTransport()


TRANSPORT_KINDS = ["sync-handler", "async-handler", "user-class"]


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here touches the network, except those that take the emulator (127.0.0.1)."""
    if "amas_emulator" not in request.fixturenames:
        forbid_network(monkeypatch)


# ---- every call on any transport -----------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORT_KINDS)
async def test_every_resource_call_runs_on_the_transport(kind: str) -> None:
    transport = make_transport(kind)
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport) as client:
        assert client.transport is transport
        created = await client.sessions.create({"name": "n", "agent_type": "llm_agent"})
        by_key = await client.sessions.from_agent("support agent")
        by_id = await client.sessions.from_agent(agent_id="a1")
        got = await client.sessions.get("s1")

        handle = client.session("s1")
        handle_run = await handle.execute("hello")
        handle_page = await handle.messages(limit=2)
        handle_all = [m.id async for m in handle.iter_messages(page_size=2)]
        handle_status = await handle.status()
        refreshed = await handle.refresh()

        run = await client.runtime.execute("s2", "hi")
        page = await client.runtime.messages("s2", limit=5)
        everything = [m.id async for m in client.runtime.iter_messages("s2", page_size=1)]
        status = await client.runtime.status("s2")
        batch = await client.runtime.execute_many(
            [
                amas.ExecuteRequest(session_id="s1", content="one"),
                amas.ExecuteRequest(session_id="s2", content="two"),
            ]
        )
        upload = await client.images.upload(PNG, filename="pic.png")

    assert (created.id, created.config_hash) == ("s1", "h1")
    assert (by_key.id, by_key.agent_key) == ("s2", "support agent")
    assert (by_id.id, by_id.agent_id) == ("s3", "a1")
    assert (got.id, got.state) == ("s1", "active")
    assert handle_run.text == "s1: hello"
    assert [m.id for m in handle_page.messages] == ["m0", "m1"]
    assert handle_all == ["m0", "m1", "m2"]
    assert handle_status.status == "idle"
    assert (refreshed.id, refreshed.state) == ("s1", "active")
    assert run.text == "s2: hi"
    assert [m.id for m in page.messages] == ["m0", "m1", "m2"]
    assert everything == ["m0", "m1", "m2"]
    assert status.status == "idle"
    assert [r.ok for r in batch] == [True, True]
    assert [r.execution.text for r in batch if r.execution] == ["s1: one", "s2: two"]
    assert (upload.url, upload.media_type, upload.size) == (
        "https://cdn.test/pic.png",
        "image/png",
        len(PNG),
    )

    sent = [(r.method, r.url[len(BASE) :]) for r in transport.requests]
    before_batch = [
        ("POST", "/sessions/"),
        ("GET", "/sessions/from-agent/"),
        ("POST", "/sessions/from-agent/a1/"),
        ("GET", "/sessions/s1/"),
        ("POST", "/runtime/s1/execute/"),
        ("GET", "/runtime/s1/messages/"),
        *[("GET", "/runtime/s1/messages/")] * 2,  # iter_messages: offsets 0 and 2
        ("GET", "/runtime/s1/status/"),
        ("GET", "/sessions/s1/"),
        ("POST", "/runtime/s2/execute/"),
        ("GET", "/runtime/s2/messages/"),
        *[("GET", "/runtime/s2/messages/")] * 3,  # iter_messages: offsets 0, 1 and 2
        ("GET", "/runtime/s2/status/"),
    ]
    batch_sent = [("POST", "/runtime/s1/execute/"), ("POST", "/runtime/s2/execute/")]
    assert len(sent) == len(before_batch) + len(batch_sent) + 1
    assert sent[: len(before_batch)] == before_batch
    # execute_many runs its two sessions concurrently: in either order
    assert sorted(sent[len(before_batch) : -1]) == batch_sent
    assert sent[-1] == ("POST", "/images/upload/")
    assert all(isinstance(r, amas.Request) for r in transport.requests)
    assert all(headers_of(r)["x-api-key"] == KEY for r in transport.requests)


@pytest.mark.parametrize("kind", TRANSPORT_KINDS)
def test_the_sync_client_runs_on_the_transport(kind: str) -> None:
    transport = make_transport(kind)
    with amas.Amas(api_key=KEY, base_url=BASE, transport=transport) as client:
        assert client.transport is transport
        session = client.sessions.create({"name": "n", "agent_type": "llm_agent"})
        assert session.execute("hi").text == "s1: hi"
    assert [r.method for r in transport.requests] == ["POST", "POST"]


# ---- what counts as a transport ----------------------------------------------------------------


async def test_a_user_transport_is_an_async_transport_and_is_closed_once() -> None:
    transport = PlainTransport()
    assert isinstance(transport, amas.AsyncTransport)
    assert not isinstance(transport, MockTransport)
    assert type(transport).__mro__ == (PlainTransport, object)

    client = amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport)
    derived = client.with_options(max_retries=0)
    async with client:
        await derived.sessions.get("s1")
        await derived.aclose()  # a derived client does not own the transport ...
        assert transport.closes == 0
        await client.sessions.get("s1")  # ... and the original still works
    assert transport.closes == 1  # closing the client closed it, once
    await client.aclose()
    assert transport.closes == 1
    assert [r.url for r in transport.requests] == [f"{BASE}/sessions/s1/"] * 2


def test_mock_transport_is_an_async_transport() -> None:
    assert isinstance(MockTransport(fake_api), amas.AsyncTransport)


class HandleOnly:
    async def handle(self, request: amas.Request) -> amas.Response:
        raise AssertionError("never called")  # pragma: no cover


class CloseOnly:
    async def aclose(self) -> None:
        raise AssertionError("never called")  # pragma: no cover


@pytest.mark.parametrize(
    "transport",
    [object(), "https://amas.test", fake_api, HandleOnly(), CloseOnly(), 42],
    ids=["object", "str", "function", "no-aclose", "no-handle", "int"],
)
def test_a_non_transport_is_refused(transport: object) -> None:
    with pytest.raises(amas.InvalidContentError, match="transport"):
        amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport)  # type: ignore[arg-type]


def test_a_transport_class_instead_of_an_instance_is_refused() -> None:
    with pytest.raises(amas.InvalidContentError):
        amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=MockTransport)  # type: ignore[arg-type]


def test_transport_and_limits_together_are_refused() -> None:
    with pytest.raises(amas.InvalidRequestError, match="limits"):
        amas.AsyncAmas(
            api_key=KEY,
            base_url=BASE,
            transport=MockTransport(fake_api),
            limits=amas.Limits(max_connections=1),
        )


def test_the_default_transport_is_aiohttps() -> None:
    client = amas.AsyncAmas(api_key=KEY, base_url=BASE)
    assert isinstance(client.transport, amas.AiohttpTransport)
    assert isinstance(client.transport, amas.AsyncTransport)


def test_mock_transport_needs_a_callable() -> None:
    with pytest.raises(TypeError):
        MockTransport("not callable")  # type: ignore[arg-type]


async def test_a_mock_handler_must_answer_with_a_response() -> None:
    def wrong(request: amas.Request) -> Any:
        return {"session_id": "s1"}

    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=MockTransport(wrong)) as c:
        with pytest.raises(TypeError, match="Response"):
            await c.sessions.get("s1")


# ---- what the transport gets and gives back ----------------------------------------------------


@pytest.mark.parametrize("handler", [fake_api, fake_api_async], ids=["sync", "async"])
async def test_mock_transport_fills_request_url_and_attempts(
    handler: Callable[[amas.Request], amas.Response | Awaitable[amas.Response]],
) -> None:
    transport = MockTransport(handler)
    request = amas.Request(
        "GET", f"{BASE}/sessions/s1/", headers={"x-api-key": KEY}, attempt=3, idempotent=True
    )
    response = await transport.handle(request)
    assert response.request is request
    assert response.url == request.url
    assert response.attempts == 3
    assert response.json() == {"session_id": "s1", "status": "active"}
    assert transport.requests == [request]


async def test_answers_come_back_with_attempts_and_request() -> None:
    seen: list[amas.Response] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        response = await handler(request)
        seen.append(response)
        return response

    transport = MockTransport(fake_api)
    async with amas.AsyncAmas(
        api_key=KEY, base_url=BASE, transport=transport, middlewares=[spy]
    ) as client:
        await client.sessions.get("s1")
    (response,) = seen
    (sent,) = transport.requests
    assert response.attempts == 1
    assert response.request is not None
    assert (response.request.method, response.request.url) == ("GET", f"{BASE}/sessions/s1/")
    assert response.request.attempt == sent.attempt == 1
    assert response.url == f"{BASE}/sessions/s1/"


async def test_no_middleware_sees_the_key_on_an_answer() -> None:
    seen: list[amas.Response] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        response = await handler(request)
        seen.append(response)
        return response

    async with amas.AsyncAmas(
        api_key=KEY, base_url=BASE, transport=MockTransport(fake_api), middlewares=[spy]
    ) as client:
        await client.sessions.get("s1")
    (response,) = seen
    assert response.request is not None
    assert all(KEY not in value for value in response.request.headers.values())


async def test_a_retried_call_numbers_its_attempts_and_keeps_its_idempotency_key() -> None:
    statuses = iter([503, 200])

    def flaky(request: amas.Request) -> amas.Response:
        status = next(statuses)
        if status != 200:
            return amas.Response(status, json={"detail": "busy"})
        return fake_api(request)

    seen: list[amas.Response] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        response = await handler(request)
        seen.append(response)
        return response

    transport = MockTransport(flaky)
    async with amas.AsyncAmas(
        api_key=KEY, base_url=BASE, transport=transport, middlewares=[spy]
    ) as client:
        with instant_retries() as retry_clock:
            result = await client.runtime.execute("s1", "hi")
    assert result.text == "s1: hi"
    assert result.attempts == 2
    assert len(retry_clock.sleeps) == 1
    first, second = transport.requests
    assert (first.attempt, second.attempt) == (1, 2)
    key = headers_of(first)["Idempotency-Key"]
    assert key
    assert headers_of(second)["Idempotency-Key"] == key
    assert sent_json(first) == sent_json(second) == {"content": "hi"}
    (answer,) = seen  # the user's middleware sees the call once, with its attempt count
    assert answer.attempts == 2


async def test_a_connection_error_from_the_transport_is_retried_like_any_other() -> None:
    outcomes: list[amas.Response | amas.APIConnectionError] = [
        amas.APIConnectionError("refused", request_sent=False),
        amas.Response(200, json={"session_id": "s1"}),
    ]

    def flaky(request: amas.Request) -> amas.Response:
        outcome = outcomes.pop(0)
        if isinstance(outcome, amas.APIConnectionError):
            raise outcome
        return outcome

    transport = MockTransport(flaky)
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport) as client:
        with instant_retries():
            session = await client.sessions.get("s1")
    assert session.id == "s1"
    assert [r.attempt for r in transport.requests] == [1, 2]


# ---- redirects and the key are handled above the transport ----------------------------------


def _redirecting(
    status: int, location: str, target: Callable[[amas.Request], amas.Response]
) -> Callable[[amas.Request], amas.Response]:
    def answer(request: amas.Request) -> amas.Response:
        if request.url.startswith(f"{BASE}/runtime/s1/") or request.url == f"{BASE}/sessions/":
            return amas.Response(status, headers={"Location": location})
        return target(request)

    return answer


async def test_a_same_origin_307_is_followed_with_its_body() -> None:
    transport = PlainTransport(_redirecting(307, f"{BASE}/runtime/s2/execute/", fake_api))
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport) as client:
        result = await client.runtime.execute("s1", "hi", correlation_id="c1")
    assert result.text == "s2: hi"
    first, second = transport.requests
    assert (second.method, second.url) == ("POST", f"{BASE}/runtime/s2/execute/")
    assert sent_json(second) == sent_json(first) == {"content": "hi", "correlation_id": "c1"}
    assert headers_of(second)["x-api-key"] == KEY
    assert headers_of(second)["Content-Type"] == "application/json"


async def test_a_303_becomes_a_get_without_body() -> None:
    transport = PlainTransport(_redirecting(303, f"{BASE}/sessions/s9/", fake_api))
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport) as client:
        session = await client.sessions.create({"name": "n", "agent_type": "llm_agent"})
    assert session.id == "s9"
    first, second = transport.requests
    assert first.method == "POST"
    assert first.content is not None
    assert (second.method, second.url) == ("GET", f"{BASE}/sessions/s9/")
    assert second.content is None
    assert second.multipart is None
    assert "content-type" not in headers_of(second)
    assert headers_of(second)["x-api-key"] == KEY


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_cross_origin_redirect_is_not_followed_and_the_key_stays_home(
    status: int,
) -> None:
    def answer(request: amas.Request) -> amas.Response:
        if request.url.startswith(BASE):
            location = "https://evil.test/api/v1/runtime/s1/execute/"
            return amas.Response(status, headers={"Location": location})
        return amas.Response(200, json={"status": "completed", "messages": []})

    transport = PlainTransport(answer)
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport) as client:
        with pytest.raises(amas.APIStatusError) as caught:
            await client.runtime.execute("s1", "hi")
    assert caught.value.status_code == status
    assert KEY not in str(caught.value)
    assert [r.url for r in transport.requests] == [f"{BASE}/runtime/s1/execute/"]
    assert not any(r.url.startswith("https://evil.test") for r in transport.requests)


# ---- APIStatusError.headers is amas.Headers, whatever the transport -------------------------


async def test_status_error_headers_under_the_mock_transport() -> None:
    api = MockAPI(base_url=BASE, api_key=KEY)
    api.get(f"{BASE}/sessions/nope/", status=404, json={"detail": "no"}, headers={"X-Trace": "t"})
    async with api.client(max_retries=0) as client:
        with pytest.raises(amas.NotFoundError) as caught:
            await client.sessions.get("nope")
    headers = caught.value.headers
    assert isinstance(headers, amas.Headers)
    assert headers["x-trace"] == headers["X-TRACE"] == "t"
    assert "content-type" in headers
    assert full_url(api.only_call()) == f"{BASE}/sessions/nope/"


async def test_status_error_headers_under_the_aiohttp_transport(amas_emulator: Emulator) -> None:
    emu = amas_emulator
    async with amas.AsyncAmas(api_key=emu.api_key, base_url=emu.base_url, max_retries=0) as client:
        assert isinstance(client.transport, amas.AiohttpTransport)
        with pytest.raises(amas.NotFoundError) as caught:
            await client.sessions.get("no_such_session")
    headers = caught.value.headers
    assert isinstance(headers, amas.Headers)
    assert headers["content-type"].startswith("application/json")
    assert headers["CONTENT-TYPE"] == headers["Content-Type"]
    assert "Content-Length" in headers
    assert "content-length" in headers


# ---- amas.Headers ---------------------------------------------------------------------------


def test_headers_look_names_up_in_any_case() -> None:
    headers = amas.Headers({"Content-Type": "application/json", "X-Request-Id": "r1"})
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "application/json"
    assert headers.get("x-request-id") == "r1"
    assert headers.get("X-Missing") is None
    assert headers.get("X-Missing", "d") == "d"
    assert "x-REQUEST-id" in headers
    assert "x-missing" not in headers
    not_a_name: object = 42
    assert not_a_name not in headers
    assert list(headers) == ["Content-Type", "X-Request-Id"]  # names as given
    assert len(headers) == 2
    with pytest.raises(KeyError):
        headers["x-missing"]


def test_headers_join_repeated_names() -> None:
    headers = amas.Headers([("Vary", "Accept"), ("vary", "Origin"), ("X-One", "1")])
    assert headers["VARY"] == "Accept, Origin"
    assert len(headers) == 2
    assert list(headers) == ["Vary", "X-One"]


def test_headers_from_raw_bytes() -> None:
    headers = amas.Headers.from_raw(
        [(b"Set-Thing", b"a"), (b"set-thing", b"b"), (b"X", b"\xc3\xa9")]
    )
    assert headers["set-thing"] == "a, b"
    assert headers["x"] == "é"
    assert headers == {"set-thing": "a, b", "x": "é"}


def test_headers_equal_a_dict_whatever_the_case_of_names() -> None:
    headers = amas.Headers({"Content-Type": "text/plain"})
    assert headers == {"content-type": "text/plain"}
    assert {"CONTENT-TYPE": "text/plain"} == headers  # noqa: SIM300 - the reflected ==
    assert headers == amas.Headers([("content-TYPE", "text/plain")])
    assert headers != {"content-type": "TEXT/PLAIN"}  # values compare exactly
    assert headers != {"content-type": "text/plain", "x": "1"}
    assert headers != [("content-type", "text/plain")]
    assert amas.Headers() == {}


def test_headers_are_immutable() -> None:
    headers = amas.Headers({"A": "1"})
    with pytest.raises(TypeError):
        headers["B"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        del headers["A"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        headers.update({"B": "2"})  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        hash(headers)
    assert dict(headers) == {"A": "1"}


def test_headers_from_a_mapping_do_not_follow_it() -> None:
    source = {"A": "1"}
    headers = amas.Headers(source)
    source["A"] = "2"
    source["B"] = "3"
    assert dict(headers) == {"A": "1"}


# ---- amas.Response and amas.Request -------------------------------------------------------------


def test_response_json_sets_content_and_content_type() -> None:
    response = amas.Response(200, json={"a": [1, "é"]})
    assert json.loads(response.content) == {"a": [1, "é"]}
    assert response.json() == {"a": [1, "é"]}
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.headers, amas.Headers)
    assert response.is_success
    assert (response.request, response.url, response.attempts) == (None, "", 1)


def test_response_text_sets_content_and_content_type() -> None:
    response = amas.Response(503, text="Grüße")
    assert response.content == "Grüße".encode()
    assert response.text() == "Grüße"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not response.is_success


def test_response_keeps_a_given_content_type_and_other_headers() -> None:
    response = amas.Response(
        200, json=[1], headers={"content-type": "application/x+json", "X": "1"}
    )
    assert response.headers == {"Content-Type": "application/x+json", "X": "1"}
    assert response.content == b"[1]"


def test_response_from_bytes_has_no_invented_content_type() -> None:
    response = amas.Response(200, content=b"\x00\x01")
    assert response.content == b"\x00\x01"
    assert "content-type" not in response.headers
    assert response.headers == {}


@pytest.mark.parametrize(
    "kwargs",
    [{"json": {}, "text": "x"}, {"json": {}, "content": b"x"}, {"text": "x", "content": b"x"}],
    ids=["json+text", "json+content", "text+content"],
)
def test_response_takes_one_body(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        amas.Response(200, **kwargs)


def test_response_replace_keeps_the_rest() -> None:
    request = amas.Request("GET", f"{BASE}/x/")
    response = amas.Response(200, json={"a": 1}, headers={"X": "1"})
    changed = response.replace(request=request, attempts=3)
    assert (changed.request, changed.attempts) == (request, 3)
    assert (changed.status, changed.content, changed.headers) == (
        response.status,
        response.content,
        response.headers,
    )
    assert response.attempts == 1  # a copy: the original is unchanged


def test_request_is_a_value_that_hides_its_headers() -> None:
    request = amas.Request("POST", f"{BASE}/x/", headers={"x-api-key": KEY}, content=b"{}")
    assert KEY not in repr(request)
    assert attrs.evolve(request, attempt=3) == request.replace(attempt=3)
    with pytest.raises(TypeError, match="no attribute"):
        request.replace(uri="https://evil.test/")
    moved = request.replace(url=f"{BASE}/y/", attempt=2)
    assert (moved.url, moved.attempt, moved.content) == (f"{BASE}/y/", 2, b"{}")
    assert (request.url, request.attempt) == (f"{BASE}/x/", 1)


def test_the_seams_names_are_public() -> None:
    for name in ("Request", "Response", "Headers", "AsyncTransport", "AiohttpTransport"):
        assert name in amas.__all__
    import amas_async.testing as testing

    assert "MockTransport" in testing.__all__
    assert inspect.iscoroutinefunction(MockTransport.handle)
    assert inspect.iscoroutinefunction(MockTransport.aclose)
