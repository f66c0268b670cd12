"""What the SDK asks the transport to send for every call, the client's lifecycle, middlewares
and security.

Every test runs on ``amas_async.testing.MockTransport`` (through the small router in
``tests/mockapi.py``) with the network forbidden; the assertions read the
:class:`amas_async.Request` objects the transport received (method, URL, params, headers,
body, multipart form, timeout), which already carry the API key and the default headers. What
the aiohttp transport makes of such a request (aiohttp's kwargs, the multipart encoding, the
escaping of the query) is tested in ``tests/test_aiohttp_transport.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest
from helpers import upload_sources
from mockapi import BASE, MockAPI, forbid_network, full_url, headers_of, query_of, sent_json

import amas_async as amas
import amas_async._client as amas_client_module
from amas_async._config import ClientConfig, make_config

KEY = "test-key"
SID = "session_abc123"
EXECUTION = {
    "id": SID,
    "object": "agent.session",
    "status": "completed",
    "messages": [{"id": "m1", "role": "assistant", "content": "Hi there"}],
}
PNG = (
    b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x06\x00\x00\x00"
)
USER_AGENT = f"amas-async/{amas.__version__}"


# ---- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> MockAPI:
    """Canned answers on a MockTransport; the network is forbidden for the test."""
    forbid_network(monkeypatch)
    return MockAPI(base_url=BASE, api_key=KEY)


@pytest.fixture
async def client(api: MockAPI) -> AsyncIterator[amas.AsyncAmas]:
    """An open client on the mock transport, closed after the test."""
    async with api.client() as opened:
        yield opened


def assert_secret_free(error: BaseException, secret: str = KEY) -> None:
    """The key is in no message, repr or argument of the error or of its causes."""
    seen: BaseException | None = error
    while seen is not None:
        assert secret not in str(seen)
        assert secret not in repr(seen)
        assert all(secret not in repr(arg) for arg in seen.args)
        seen = seen.__cause__ or seen.__context__


def assert_json_headers(request: amas.Request, key: str = KEY) -> None:
    headers = headers_of(request)
    assert headers["x-api-key"] == key
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"


def assert_get_headers(request: amas.Request, key: str = KEY) -> None:
    headers = headers_of(request)
    assert headers["x-api-key"] == key
    assert headers["User-Agent"] == USER_AGENT
    assert "Content-Type" not in headers
    assert request.content is None
    assert request.multipart is None


def form_parts(request: amas.Request) -> list[tuple[str, str, str, bytes]]:
    """The file fields of the request's multipart form: (field, filename, media type, bytes)."""
    form = request.multipart
    assert form is not None, "the request has no multipart form"
    assert list(form.fields) == []  # an image upload has no plain fields
    found = []
    for part in form.files:
        with part.source.open() as handle:
            data = handle.read()
        found.append((part.name, part.filename, part.media_type, data))
    return found


def transport_closed(api: MockAPI) -> bool:
    """Whether the mock transport was closed (a function, so mypy does not narrow it)."""
    return api.transport.closed


class ClosingCounter:
    """A transport that answers nothing and counts how often it is closed."""

    def __init__(self) -> None:
        self.closes = 0

    async def handle(self, request: amas.Request) -> amas.Response:
        raise AssertionError(f"no request expected, got {request!r}")

    async def aclose(self) -> None:
        self.closes += 1


# ---- sessions -----------------------------------------------------------------------------------


async def test_sessions_create(client: amas.AsyncAmas, api: MockAPI) -> None:
    config = {"name": "S", "agent_type": "llm_agent", "system_prompt": "Be nice."}
    api.post(f"{BASE}/sessions/", json={"success": True, "session_id": "s1"})

    session = await client.sessions.create(config)

    request = api.only_call()
    assert (request.method, request.url, request.params) == ("POST", f"{BASE}/sessions/", None)
    assert_json_headers(request)
    assert headers_of(request)["Idempotency-Key"]
    assert sent_json(request) == config
    assert request.multipart is None
    assert session.id == "s1"


@pytest.mark.parametrize(
    "agent_key", ["agent_456def", "support agent", "a&b=c", "x+y", "ünïcode", "a#b;c/d?e"]
)
async def test_sessions_from_agent_by_key(
    agent_key: str, client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(
        re.compile(r"^https://amas\.test/api/v1/sessions/from-agent/\?"),
        json={"session_id": "s1", "agent_key": agent_key},
    )

    session = await client.sessions.from_agent(agent_key)

    request = api.only_call()
    assert request.method == "GET"
    # the key travels as a parameter, exactly as given: it is never pasted into the URL, so
    # '&', '=', '#', '+' and '?' are left for the transport to escape
    assert request.url == f"{BASE}/sessions/from-agent/"
    assert query_of(request) == [("agent_key", agent_key)]
    assert_get_headers(request)
    assert session.id == "s1"
    assert session.agent_key == agent_key


async def test_sessions_from_agent_by_id(client: amas.AsyncAmas, api: MockAPI) -> None:
    agent_id = "550e8400-e29b-41d4-a716-446655440000"
    api.post(f"{BASE}/sessions/from-agent/{agent_id}/", json={"session_id": "s2"})

    session = await client.sessions.from_agent(agent_id=agent_id)

    request = api.only_call()
    assert (request.method, full_url(request)) == (
        "POST",
        f"{BASE}/sessions/from-agent/{agent_id}/",
    )
    assert request.content is None  # no body
    assert request.multipart is None
    headers = headers_of(request)
    assert headers["x-api-key"] == KEY
    assert headers.get("Content-Type") != "application/json"
    assert session.id == "s2"


@pytest.mark.parametrize(
    "kwargs", [{}, {"agent_key": "k", "agent_id": "i"}, {"agent_key": ""}, {"agent_key": "  "}]
)
async def test_sessions_from_agent_needs_exactly_one(
    kwargs: dict[str, str], client: amas.AsyncAmas, api: MockAPI
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.sessions.from_agent(**kwargs)
    assert api.calls == []


async def test_sessions_get(client: amas.AsyncAmas, api: MockAPI) -> None:
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID, "status": "active"})

    session = await client.sessions.get(SID)

    request = api.only_call()
    assert (request.method, full_url(request)) == ("GET", f"{BASE}/sessions/{SID}/")
    assert_get_headers(request)
    assert session.id == SID
    assert session.state == "active"


async def test_session_refresh_gets_the_session(client: amas.AsyncAmas, api: MockAPI) -> None:
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID, "config_hash": "h2"})
    fresh = await client.session(SID).refresh()
    assert fresh.config_hash == "h2"
    assert fresh == client.session(SID)
    request = api.only_call()
    assert (request.method, full_url(request)) == ("GET", f"{BASE}/sessions/{SID}/")


async def test_client_session_makes_no_request(api: MockAPI) -> None:
    client = api.client()
    session = client.session(SID)
    assert session.id == SID
    assert session.config_hash is None
    assert session.raw == {}
    assert SID in repr(session)
    assert api.calls == []
    await client.aclose()
    assert api.calls == []


# ---- runtime ------------------------------------------------------------------------------------


async def _execute(client: amas.AsyncAmas, via: str, content: Any, **kwargs: Any) -> amas.Execution:
    if via == "runtime":
        return await client.runtime.execute(SID, content, **kwargs)
    return await client.session(SID).execute(content, **kwargs)


EXECUTE_CASES: list[tuple[str, Callable[[], Any], dict[str, Any], dict[str, Any]]] = [
    ("str", lambda: "Hello!", {}, {"content": "Hello!"}),
    (
        "parts",
        lambda: [amas.TextPart("Look:"), amas.ImagePart("https://x.test/a.png")],
        {},
        {
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
            ]
        },
    ),
    (
        "image-upload-in-list",
        lambda: [
            amas.TextPart("Look:"),
            amas.ImageUpload("https://cdn.test/u.png", media_type="image/png", size=3),
        ],
        {},
        {
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "https://cdn.test/u.png"}},
            ]
        },
    ),
    (
        "file-part",
        lambda: [amas.FilePart("https://x.test/doc.pdf")],
        {},
        {"content": [{"type": "file", "file_url": "https://x.test/doc.pdf"}]},
    ),
    (
        "single-part",
        lambda: amas.TextPart("alone"),
        {},
        {"content": [{"type": "text", "text": "alone"}]},
    ),
    (
        "inputs",
        lambda: "Hi",
        {"inputs": {"user_id": "u1", "n": 2, "flag": True, "tags": ["a"], "obj": {"k": None}}},
        {
            "content": "Hi",
            "inputs": {"user_id": "u1", "n": 2, "flag": True, "tags": ["a"], "obj": {"k": None}},
        },
    ),
    ("empty-inputs", lambda: "Hi", {"inputs": {}}, {"content": "Hi", "inputs": {}}),
    (
        "correlation-id",
        lambda: "Hi",
        {"correlation_id": "corr-1"},
        {"content": "Hi", "correlation_id": "corr-1"},
    ),
    (
        "everything",
        lambda: "Hi",
        {"inputs": {"a": 1}, "correlation_id": "c"},
        {"content": "Hi", "inputs": {"a": 1}, "correlation_id": "c"},
    ),
    ("none-kwargs", lambda: "Hi", {"inputs": None, "correlation_id": None}, {"content": "Hi"}),
    ("unicode", lambda: "Grüße 👋", {}, {"content": "Grüße 👋"}),
]


@pytest.mark.parametrize("via", ["runtime", "session"])
@pytest.mark.parametrize(
    ("content", "kwargs", "expected"),
    [case[1:] for case in EXECUTE_CASES],
    ids=[case[0] for case in EXECUTE_CASES],
)
async def test_execute(
    via: str,
    content: Callable[[], Any],
    kwargs: dict[str, Any],
    expected: dict[str, Any],
    client: amas.AsyncAmas,
    api: MockAPI,
) -> None:
    api.post(f"{BASE}/runtime/{SID}/execute/", json=EXECUTION)

    result = await _execute(client, via, content(), **kwargs)

    request = api.only_call()
    assert (request.method, full_url(request)) == ("POST", f"{BASE}/runtime/{SID}/execute/")
    assert_json_headers(request)
    assert sent_json(request) == expected  # exactly: no null fields for what was not given
    assert result.text == "Hi there"


async def test_execute_is_marked_non_idempotent(api: MockAPI) -> None:
    seen: list[amas.Request] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        seen.append(request)
        return await handler(request)

    api.post(f"{BASE}/runtime/{SID}/execute/", json=EXECUTION)
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with api.client(middlewares=[spy]) as c:
        await c.runtime.execute(SID, "hi")
        await c.sessions.get(SID)
    assert [(r.method, r.idempotent) for r in seen] == [("POST", False), ("GET", True)]
    assert [(r.method, r.idempotent) for r in api.calls] == [("POST", False), ("GET", True)]


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({}, "limit=50&offset=0"),
        ({"limit": 10, "offset": 20}, "limit=10&offset=20"),
        ({"limit": 1}, "limit=1&offset=0"),
    ],
)
@pytest.mark.parametrize("via", ["runtime", "session"])
async def test_messages(
    via: str, kwargs: dict[str, int], query: str, client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(
        f"{BASE}/runtime/{SID}/messages/?{query}",
        json={"messages": [], "total": 0, "has_more": False},
    )
    if via == "runtime":
        page = await client.runtime.messages(SID, **kwargs)
    else:
        page = await client.session(SID).messages(**kwargs)

    request = api.only_call()
    assert (request.method, request.url) == ("GET", f"{BASE}/runtime/{SID}/messages/")
    assert sorted(query_of(request)) == sorted(parse_qsl(query))
    assert_get_headers(request)
    assert page.limit == kwargs.get("limit", 50)
    assert page.offset == kwargs.get("offset", 0)


@pytest.mark.parametrize(
    "kwargs", [{"limit": 0}, {"limit": -1}, {"limit": True}, {"offset": -1}, {"offset": 1.5}]
)
async def test_messages_rejects_bad_paging(
    kwargs: dict[str, Any], client: amas.AsyncAmas, api: MockAPI
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.runtime.messages(SID, **kwargs)
    assert api.calls == []


def _page(first: int, count: int, has_more: bool, total: int | None = 5) -> dict[str, Any]:
    return {
        "messages": [
            {"id": f"m{i}", "role": "user" if i % 2 == 0 else "assistant", "content": f"c{i}"}
            for i in range(first, first + count)
        ],
        "total": total,
        "has_more": has_more,
    }


def _pages_asked(api: MockAPI) -> list[dict[str, str]]:
    return [dict(query_of(request)) for request in api.calls]


@pytest.mark.parametrize("via", ["runtime", "session"])
async def test_iter_messages_follows_has_more(
    via: str, client: amas.AsyncAmas, api: MockAPI
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    api.get(f"{url}?limit=2&offset=0", json=_page(0, 2, True))
    api.get(f"{url}?limit=2&offset=2", json=_page(2, 2, True))
    api.get(f"{url}?limit=2&offset=4", json=_page(4, 1, False))

    if via == "runtime":
        ids = [m.id async for m in client.runtime.iter_messages(SID, page_size=2)]
    else:
        ids = [m.id async for m in client.session(SID).iter_messages(page_size=2)]

    assert ids == ["m0", "m1", "m2", "m3", "m4"]
    assert {request.url for request in api.calls} == {url}
    assert _pages_asked(api) == [{"limit": "2", "offset": str(n)} for n in (0, 2, 4)]


async def test_iter_messages_starts_at_offset_and_stops_on_an_empty_page(
    client: amas.AsyncAmas, api: MockAPI
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    api.get(f"{url}?limit=3&offset=7", json=_page(7, 3, True, total=20))
    api.get(f"{url}?limit=3&offset=10", json={"messages": [], "has_more": True})

    ids = [m.id async for m in client.runtime.iter_messages(SID, page_size=3, offset=7)]

    assert ids == ["m7", "m8", "m9"]
    # an empty page ends the loop even if has_more lies
    assert _pages_asked(api) == [{"limit": "3", "offset": "7"}, {"limit": "3", "offset": "10"}]


async def test_iter_messages_stops_at_total_even_if_has_more_lies(
    client: amas.AsyncAmas, api: MockAPI
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    api.get(f"{url}?limit=3&offset=0", json=_page(0, 3, True, total=3))
    ids = [m.id async for m in client.runtime.iter_messages(SID, page_size=3)]
    assert ids == ["m0", "m1", "m2"]
    assert len(api.calls) == 1


async def test_iter_messages_refuses_a_server_that_ignores_offset(
    client: amas.AsyncAmas, api: MockAPI
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    api.get(f"{url}?limit=2&offset=0", json=_page(0, 2, True, total=None))
    api.get(f"{url}?limit=2&offset=2", json=_page(0, 2, True, total=None))
    with pytest.raises(amas.ResponseValidationError, match="ignores 'offset'"):
        [m async for m in client.runtime.iter_messages(SID, page_size=2)]
    assert len(api.calls) == 2


async def test_iter_messages_can_stop_early(client: amas.AsyncAmas, api: MockAPI) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    api.get(f"{url}?limit=2&offset=0", json=_page(0, 2, True))
    first = None
    async for message in client.runtime.iter_messages(SID, page_size=2):
        first = message
        break
    assert first is not None
    assert first.id == "m0"
    assert len(api.calls) == 1  # pages are fetched lazily


@pytest.mark.parametrize("via", ["runtime", "session"])
async def test_status(via: str, client: amas.AsyncAmas, api: MockAPI) -> None:
    api.get(f"{BASE}/runtime/{SID}/status/", json={"session_id": SID, "status": "idle"})

    if via == "runtime":
        status = await client.runtime.status(SID)
    else:
        status = await client.session(SID).status()

    request = api.only_call()
    assert (request.method, full_url(request)) == ("GET", f"{BASE}/runtime/{SID}/status/")
    assert_get_headers(request)
    assert status.status == "idle"


# ---- images.upload --------------------------------------------------------------------------

UPLOAD_ANSWER = {"url": "https://cdn.amas.test/i/1.png", "media_type": "image/png", "size": 29}


@pytest.mark.parametrize("source", ["path", "str-path", "bytes", "bytearray", "BytesIO"])
async def test_images_upload(
    source: str, tmp_path: Path, client: amas.AsyncAmas, api: MockAPI
) -> None:
    make, filename = upload_sources(tmp_path, PNG)[source]
    api.post(f"{BASE}/images/upload/", json=UPLOAD_ANSWER)

    upload = await client.images.upload(make())

    request = api.only_call()
    assert (request.method, full_url(request)) == ("POST", f"{BASE}/images/upload/")
    headers = headers_of(request)
    assert headers["x-api-key"] == KEY
    assert headers["User-Agent"] == USER_AGENT
    # the transport sets the multipart Content-Type (with its boundary); the SDK must not
    assert "Content-Type" not in headers
    assert request.content is None
    assert form_parts(request) == [("image", filename, "image/png", PNG)]
    assert upload.url == UPLOAD_ANSWER["url"]


async def test_images_upload_open_binary_file(
    tmp_path: Path, client: amas.AsyncAmas, api: MockAPI
) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(PNG)
    api.post(f"{BASE}/images/upload/", json=UPLOAD_ANSWER)

    with path.open("rb") as handle:
        await client.images.upload(handle)

    assert form_parts(api.only_call()) == [("image", "pic.png", "image/png", PNG)]


async def test_images_upload_filename_and_media_type_overrides(
    client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.post(f"{BASE}/images/upload/", json=UPLOAD_ANSWER)

    await client.images.upload(b"raw-bytes", filename="shot.webp", media_type="image/webp")

    assert form_parts(api.only_call()) == [("image", "shot.webp", "image/webp", b"raw-bytes")]


async def test_images_upload_jpeg_name_from_content(client: amas.AsyncAmas, api: MockAPI) -> None:
    api.post(f"{BASE}/images/upload/", json=UPLOAD_ANSWER)
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 8

    await client.images.upload(jpeg)

    ((name, filename, media_type, data),) = form_parts(api.only_call())
    assert (name, media_type, data) == ("image", "image/jpeg", jpeg)
    assert filename.startswith("upload.")


# ---- lifecycle ------------------------------------------------------------------------------


async def test_async_with_returns_the_client_and_closes_it(api: MockAPI) -> None:
    client = api.client()
    async with client as entered:
        assert entered is client
        assert client.transport is api.transport
        assert not transport_closed(api)
        assert "closed" not in repr(client)
    assert client.is_closed
    assert transport_closed(api)  # closing the client closed its transport


async def test_aclose_is_idempotent() -> None:
    transport = ClosingCounter()
    client = amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=transport)
    await client.aclose()  # never opened
    await client.aclose()
    assert client.is_closed
    assert transport.closes == 1

    other_transport = ClosingCounter()
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=other_transport) as other:
        await other.aclose()
        await other.aclose()
    assert other.is_closed
    assert other_transport.closes == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.sessions.get(SID),
        lambda c: c.sessions.create({"name": "n", "agent_type": "llm_agent"}),
        lambda c: c.runtime.execute(SID, "hi"),
        lambda c: c.runtime.status(SID),
        lambda c: c.images.upload(PNG),
    ],
    ids=["get", "create", "execute", "status", "upload"],
)
async def test_closed_client_raises(
    call: Callable[[amas.AsyncAmas], Awaitable[object]], api: MockAPI
) -> None:
    client = api.client()
    await client.aclose()
    with pytest.raises(amas.AmasError, match="closed") as caught:
        await call(client)
    assert_secret_free(caught.value)
    assert api.calls == []


async def test_closed_client_cannot_be_reentered(api: MockAPI) -> None:
    client = api.client()
    async with client:
        pass
    with pytest.raises(amas.AmasError):
        async with client:
            pass  # pragma: no cover
    assert api.calls == []


def test_client_is_bound_to_one_event_loop(api: MockAPI) -> None:
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID}, repeat=True)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        client = api.client()
        first.run_until_complete(client.sessions.get(SID))
        with pytest.raises(amas.AmasError, match="loop"):
            second.run_until_complete(client.sessions.get(SID))
        assert len(api.calls) == 1  # the call from the other loop never reached the transport
        first.run_until_complete(client.sessions.get(SID))  # its own loop still works
        first.run_until_complete(client.aclose())
    finally:
        first.close()
        second.close()
    assert len(api.calls) == 2


async def test_repr_and_str_never_show_the_key(api: MockAPI) -> None:
    secret = "sk-very-secret-0123456789"
    client = api.client(api_key=secret)
    config = make_config(
        api_key=secret, base_url=BASE, timeout=None, limits=None, default_headers=None
    )
    assert isinstance(config, ClientConfig)
    for text in (repr(client), str(client), repr(config), str(config)):
        assert secret not in text
    assert BASE in repr(client)
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with client:
        session = await client.sessions.get(SID)
        assert secret not in repr(client)
        assert secret not in repr(client.session(SID))
        assert secret not in repr(session)
    request = api.only_call()
    assert headers_of(request)["x-api-key"] == secret  # it was sent ...
    assert secret not in repr(request)  # ... but a request's repr never shows headers
    assert secret not in repr(client.transport)


# ---- configuration from the environment -----------------------------------------------------


async def test_env_vars_are_used(monkeypatch: pytest.MonkeyPatch, api: MockAPI) -> None:
    monkeypatch.setenv("AMAS_API_KEY", "env-key")
    monkeypatch.setenv("AMAS_BASE_URL", "https://env.amas.test/api/v1/")
    api.get(f"https://env.amas.test/api/v1/sessions/{SID}/", json={"session_id": SID})
    async with amas.AsyncAmas(transport=api.transport) as client:
        assert client.base_url == "https://env.amas.test/api/v1"
        await client.sessions.get(SID)
    request = api.only_call()
    assert full_url(request) == f"https://env.amas.test/api/v1/sessions/{SID}/"
    assert headers_of(request)["x-api-key"] == "env-key"


async def test_explicit_arguments_win_over_env(
    monkeypatch: pytest.MonkeyPatch, api: MockAPI
) -> None:
    monkeypatch.setenv("AMAS_API_KEY", "env-key")
    monkeypatch.setenv("AMAS_BASE_URL", "https://env.amas.test/api/v1")
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with amas.AsyncAmas(api_key=KEY, base_url=BASE, transport=api.transport) as client:
        await client.sessions.get(SID)
    request = api.only_call()
    assert full_url(request) == f"{BASE}/sessions/{SID}/"
    assert headers_of(request)["x-api-key"] == KEY


def test_default_base_url() -> None:
    client = amas.AsyncAmas(api_key="k")
    assert client.base_url == "https://api-be.atthene.com/api/v1"


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_key_fails_at_construction(key: str | None) -> None:
    with pytest.raises(amas.AmasError, match="AMAS_API_KEY"):
        amas.AsyncAmas(api_key=key)


def test_key_with_line_break_is_rejected() -> None:
    with pytest.raises(amas.AmasError) as caught:
        amas.AsyncAmas(api_key="abc\r\nX-Evil: 1")
    assert "abc" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["amas.test/api", "ftp://amas.test", "https://", "https://amas.test/api?x=1", "/api"]
)
def test_bad_base_url(url: str) -> None:
    with pytest.raises(amas.AmasError):
        amas.AsyncAmas(api_key="k", base_url=url)


def test_default_headers_cannot_carry_the_key() -> None:
    with pytest.raises(amas.AmasError):
        amas.AsyncAmas(api_key="k", default_headers={"X-API-Key": "other"})


async def test_default_headers_are_sent(api: MockAPI) -> None:
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with api.client(default_headers={"X-Tenant": "t1"}) as client:
        await client.sessions.get(SID)
    headers = headers_of(api.only_call())
    assert headers["X-Tenant"] == "t1"
    assert headers["x-api-key"] == KEY
    assert headers["User-Agent"] == USER_AGENT


# ---- timeouts: what each attempt carries to the transport -------------------------------------


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, amas.Timeout(total=300.0, connect=10.0, read=None)),
        (30, amas.Timeout(total=30.0, connect=10.0, read=None)),
        (2.5, amas.Timeout(total=2.5, connect=2.5, read=None)),
        (amas.Timeout(connect=1, read=2, total=3), amas.Timeout(total=3, connect=1, read=2)),
        (
            amas.Timeout(connect=None, read=None, total=None),
            amas.Timeout(total=None, connect=None, read=None),
        ),
    ],
)
async def test_timeout_reaches_the_transport(
    timeout: amas.Timeout | float | None, expected: amas.Timeout, api: MockAPI
) -> None:
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with api.client(timeout=timeout, max_retries=0) as client:
        await client.sessions.get(SID)
    assert api.only_call().timeout == expected


async def test_the_retry_deadline_bounds_an_attempt_without_a_total_timeout(
    api: MockAPI,
) -> None:
    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    timeout = amas.Timeout(connect=None, read=None, total=None)
    policy = amas.RetryPolicy(deadline=42.0)
    async with api.client(timeout=timeout, retry=policy) as client:
        await client.sessions.get(SID)
    assert api.only_call().timeout == amas.Timeout(connect=None, read=None, total=42.0)


async def test_a_middleware_can_set_a_per_request_timeout(api: MockAPI) -> None:
    async def quick(request: amas.Request, handler: amas.Handler) -> amas.Response:
        return await handler(attrs.evolve(request, timeout=amas.Timeout(total=5)))

    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with api.client(middlewares=[quick]) as c:
        await c.sessions.get(SID)
    sent = api.only_call().timeout
    assert sent is not None
    assert sent.total == 5


# ---- middlewares ----------------------------------------------------------------------------


async def test_middleware_sees_request_and_response_once_per_call(api: MockAPI) -> None:
    requests: list[amas.Request] = []
    responses: list[amas.Response] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        requests.append(request)
        response = await handler(request)
        responses.append(response)
        return response

    api.post(f"{BASE}/runtime/{SID}/execute/", json=EXECUTION)
    api.get(f"{BASE}/runtime/{SID}/status/", json={"status": "idle"})
    async with api.client(middlewares=[spy]) as c:
        await c.runtime.execute(SID, "hi")
        assert len(requests) == 1
        await c.runtime.status(SID)

    assert [(r.method, r.url) for r in requests] == [
        ("POST", f"{BASE}/runtime/{SID}/execute/"),
        ("GET", f"{BASE}/runtime/{SID}/status/"),
    ]
    assert requests[0].content is not None
    assert json.loads(requests[0].content) == {"content": "hi"}
    for request in requests:
        assert isinstance(request, amas.Request)
        assert all(name.lower() != "x-api-key" for name in request.headers)
        assert KEY not in repr(request)
    # the key is added below the user's middlewares: the transport did get it
    assert all(headers_of(sent)["x-api-key"] == KEY for sent in api.calls)
    assert [r.status for r in responses] == [200, 200]
    assert all(isinstance(r, amas.Response) for r in responses)
    assert json.loads(responses[0].content) == EXECUTION
    assert responses[0].request is not None


async def test_middleware_order_first_is_outermost(api: MockAPI) -> None:
    trail: list[str] = []

    def named(name: str) -> amas.Middleware:
        async def middleware(request: amas.Request, handler: amas.Handler) -> amas.Response:
            trail.append(f"{name}>")
            response = await handler(request)
            trail.append(f"<{name}")
            return response

        return middleware

    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with api.client(middlewares=[named("a"), named("b"), named("c")]) as client:
        await client.sessions.get(SID)

    assert trail == ["a>", "b>", "c>", "<c", "<b", "<a"]


async def test_middleware_can_modify_headers(api: MockAPI) -> None:
    async def trace(request: amas.Request, handler: amas.Handler) -> amas.Response:
        headers = {**request.headers, "X-Trace-Id": "t-1", "User-Agent": "mine/1"}
        return await handler(attrs.evolve(request, headers=headers))

    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with api.client(middlewares=[trace]) as c:
        await c.sessions.get(SID)
    headers = headers_of(api.only_call())
    assert headers["X-Trace-Id"] == "t-1"
    assert headers["User-Agent"] == "mine/1"
    assert headers["x-api-key"] == KEY


async def test_in_place_header_change_does_not_leak_into_later_requests(
    api: MockAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A middleware that mutates request.headers must not change other requests' headers."""
    # If the SDK hands out a shared module-level dict, keep the damage inside this test.
    for name, value in list(vars(amas_client_module).items()):
        if isinstance(value, dict):
            monkeypatch.setattr(amas_client_module, name, dict(value))
    calls_seen = 0

    async def once(request: amas.Request, handler: amas.Handler) -> amas.Response:
        nonlocal calls_seen
        calls_seen += 1
        if calls_seen == 1 and isinstance(request.headers, dict):
            request.headers["X-Only-Once"] = "1"
        return await handler(request)

    api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID}, repeat=True)
    async with api.client(middlewares=[once]) as c:
        await c.sessions.get(SID)
        await c.sessions.get(SID)
    other_api = MockAPI(base_url=BASE, api_key=KEY)
    other_api.get(f"{BASE}/sessions/{SID}/", json={"session_id": SID})
    async with other_api.client() as other:
        await other.sessions.get(SID)
    first, second = api.calls
    assert headers_of(first).get("X-Only-Once") == "1"
    assert "X-Only-Once" not in headers_of(second)
    assert "X-Only-Once" not in headers_of(other_api.only_call())


async def test_middleware_can_short_circuit(api: MockAPI) -> None:
    async def canned(request: amas.Request, handler: amas.Handler) -> amas.Response:
        body = json.dumps({"session_id": "from-cache"}).encode()
        return amas.Response(status=200, headers={}, content=body, request=request, url=request.url)

    async with api.client(middlewares=[canned]) as c:
        session = await c.sessions.get(SID)
    assert api.calls == []
    assert session.id == "from-cache"


def test_middlewares_must_be_callable() -> None:
    with pytest.raises(TypeError):
        amas.AsyncAmas(api_key="k", middlewares=["not callable"])  # type: ignore[list-item]


# ---- security: the key goes only to the base URL's origin ---------------------------------


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.test",
        "https://amas.test.evil.test",
        "http://amas.test",
        "https://amas.test:8443",
        "https://evil.test/https://amas.test",
    ],
)
async def test_key_is_not_sent_when_a_middleware_changes_the_host(
    foreign: str, api: MockAPI
) -> None:
    target = f"{foreign}/api/v1/sessions/{SID}/"

    async def reroute(request: amas.Request, handler: amas.Handler) -> amas.Response:
        return await handler(attrs.evolve(request, url=target))

    api.get(target, json={"session_id": SID})
    async with api.client(middlewares=[reroute]) as c:
        await c.sessions.get(SID)
    request = api.only_call()
    assert full_url(request) == target
    headers = headers_of(request)
    assert "x-api-key" not in headers
    assert KEY not in repr(request)
    assert all(KEY not in value for value in headers.values())
    assert headers["User-Agent"] == USER_AGENT


async def test_key_smuggled_in_headers_is_stripped_for_another_host(api: MockAPI) -> None:
    target = f"https://evil.test/sessions/{SID}/"

    async def smuggle(request: amas.Request, handler: amas.Handler) -> amas.Response:
        headers = {**request.headers, "X-Api-Key": "copied"}
        return await handler(attrs.evolve(request, url=target, headers=headers))

    api.get(target, json={"session_id": SID})
    async with api.client(middlewares=[smuggle]) as c:
        await c.sessions.get(SID)
    headers = headers_of(api.only_call())
    assert "x-api-key" not in headers
    assert "copied" not in headers.values()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "location",
    [
        "https://evil.test/api/v1/sessions/x/",
        "//evil.test/api/v1/sessions/x/",
        "http://amas.test/api/v1/sessions/x/",
    ],
)
async def test_redirect_to_another_origin_is_not_followed(
    status: int, location: str, client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(f"{BASE}/sessions/{SID}/", status=status, headers={"Location": location})
    api.get(re.compile(r".*evil\.test.*"), json={"session_id": "stolen"})
    api.get(re.compile(r"^http://amas\.test/.*"), json={"session_id": "stolen"})

    with pytest.raises(amas.APIStatusError) as caught:
        await client.sessions.get(SID)

    assert caught.value.status_code == status
    assert_secret_free(caught.value)
    request = api.only_call()  # nothing was sent to the other origin
    assert full_url(request) == f"{BASE}/sessions/{SID}/"


@pytest.mark.parametrize(
    "location", ["/api/v1/sessions/moved/", f"{BASE}/sessions/moved/", "../moved/"]
)
async def test_same_origin_redirect_is_followed_with_the_key(
    location: str, client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(f"{BASE}/sessions/{SID}/", status=302, headers={"Location": location})
    api.get(f"{BASE}/sessions/moved/", json={"session_id": "moved"})

    session = await client.sessions.get(SID)

    assert session.id == "moved"
    assert [full_url(request) for request in api.calls] == [
        f"{BASE}/sessions/{SID}/",
        f"{BASE}/sessions/moved/",
    ]
    assert all(headers_of(request)["x-api-key"] == KEY for request in api.calls)


async def test_307_redirect_keeps_method_and_body(client: amas.AsyncAmas, api: MockAPI) -> None:
    api.post(
        f"{BASE}/runtime/{SID}/execute/",
        status=307,
        headers={"Location": f"{BASE}/runtime/other/execute/"},
    )
    api.post(f"{BASE}/runtime/other/execute/", json=EXECUTION)

    await client.runtime.execute(SID, "hi", correlation_id="c1")

    first, second = api.calls
    assert [(r.method, full_url(r)) for r in (first, second)] == [
        ("POST", f"{BASE}/runtime/{SID}/execute/"),
        ("POST", f"{BASE}/runtime/other/execute/"),
    ]
    assert sent_json(second) == {"content": "hi", "correlation_id": "c1"}
    assert_json_headers(second)
    # the same call: the same idempotency key on both hops
    assert headers_of(second)["Idempotency-Key"] == headers_of(first)["Idempotency-Key"]


async def test_303_redirect_after_post_becomes_get(client: amas.AsyncAmas, api: MockAPI) -> None:
    api.post(f"{BASE}/sessions/", status=303, headers={"Location": f"{BASE}/sessions/s9/"})
    api.get(f"{BASE}/sessions/s9/", json={"session_id": "s9"})

    session = await client.sessions.create({"name": "n", "agent_type": "llm_agent"})

    assert session.id == "s9"
    _, follow = api.calls
    assert (follow.method, full_url(follow)) == ("GET", f"{BASE}/sessions/s9/")
    assert follow.content is None
    assert follow.multipart is None
    assert "Content-Type" not in headers_of(follow)
    assert headers_of(follow)["x-api-key"] == KEY


async def test_redirect_loop_ends_in_an_error(client: amas.AsyncAmas, api: MockAPI) -> None:
    api.get(
        f"{BASE}/sessions/{SID}/",
        status=302,
        headers={"Location": f"{BASE}/sessions/{SID}/"},
        repeat=True,
    )
    with pytest.raises(amas.APIStatusError) as caught:
        await client.sessions.get(SID)
    assert caught.value.status_code == 302
    assert 1 < len(api.calls) <= 10


async def test_a_followed_redirect_always_carries_the_key(
    client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(
        f"{BASE}/sessions/{SID}/",
        status=302,
        headers={"Location": "https://AMAS.TEST/api/v1/sessions/moved/"},
    )
    api.get(
        re.compile(r"(?i)^https://amas\.test/api/v1/sessions/moved/$"), json={"session_id": "m"}
    )
    with contextlib.suppress(amas.APIStatusError):
        await client.sessions.get(SID)  # not following it would be fine too
    # whatever the client decided to follow went with the key
    assert all(headers_of(request).get("x-api-key") == KEY for request in api.calls)
