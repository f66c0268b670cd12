"""What goes over the wire for every call, the client's lifecycle, middlewares and security.

Every request is intercepted by aioresponses; the assertions read what aiohttp was asked to
send (method, URL, headers, body) from ``mock.requests``.
"""

from __future__ import annotations

import asyncio
import email.parser
import io
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from multidict import CIMultiDict
from yarl import URL

import amas_async as amas
import amas_async._client as amas_client_module
from amas_async._config import ClientConfig

BASE = "https://amas.test/api/v1"
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


def sent_json(call: RequestCall) -> Any:
    data = call.kwargs["data"]
    assert isinstance(data, bytes)
    return json.loads(data)


def assert_secret_free(error: BaseException, secret: str = KEY) -> None:
    """The key is in no message, repr or argument of the error or of its causes."""
    seen: BaseException | None = error
    while seen is not None:
        assert secret not in str(seen)
        assert secret not in repr(seen)
        assert all(secret not in repr(arg) for arg in seen.args)
        seen = seen.__cause__ or seen.__context__


def assert_json_headers(call: RequestCall, key: str = KEY) -> None:
    headers = headers_of(call)
    assert headers["x-api-key"] == key
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"


def assert_get_headers(call: RequestCall, key: str = KEY) -> None:
    headers = headers_of(call)
    assert headers["x-api-key"] == key
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"
    assert "Content-Type" not in headers
    assert call.kwargs.get("data") is None


def pool_open(client: amas.AsyncAmas) -> bool:
    """Whether the client's aiohttp session exists (a function, so mypy does not narrow it)."""
    return client._pool.transport.is_open


def no_request_was_made(mock: aioresponses) -> None:
    assert all_calls(mock) == []


# ---- sessions -----------------------------------------------------------------------------------


async def test_sessions_create(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    config = {"name": "S", "agent_type": "llm_agent", "system_prompt": "Be nice."}
    mock_api.post(f"{BASE}/sessions/", payload={"success": True, "session_id": "s1"})

    session = await client.sessions.create(config)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("POST", f"{BASE}/sessions/")
    assert_json_headers(call)
    assert sent_json(call) == config
    assert call.kwargs["allow_redirects"] is False
    assert session.id == "s1"


@pytest.mark.parametrize(
    "agent_key", ["agent_456def", "support agent", "a&b=c", "x+y", "ünïcode", "a#b;c/d?e"]
)
async def test_sessions_from_agent_by_key(
    agent_key: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(
        re.compile(r"https://amas\.test/api/v1/sessions/from-agent/\?.*"),
        payload={"session_id": "s1", "agent_key": agent_key},
    )

    session = await client.sessions.from_agent(agent_key)

    method, url, call = only_call(mock_api)
    assert method == "GET"
    assert str(url.with_query(None)) == f"{BASE}/sessions/from-agent/"
    # one parameter, decoded back to exactly the key: '&', '=', '#', '+' were escaped
    assert list(url.query.items()) == [("agent_key", agent_key)]
    assert_get_headers(call)
    assert session.id == "s1"
    assert session.agent_key == agent_key


async def test_sessions_from_agent_by_key_url_is_escaped(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(re.compile(r".*/sessions/from-agent/.*"), payload={"session_id": "s1"})
    await client.sessions.from_agent("a b&c")
    _, url, _ = only_call(mock_api)
    assert url.raw_query_string in ("agent_key=a+b%26c", "agent_key=a%20b%26c")


async def test_sessions_from_agent_by_id(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    agent_id = "550e8400-e29b-41d4-a716-446655440000"
    mock_api.post(f"{BASE}/sessions/from-agent/{agent_id}/", payload={"session_id": "s2"})

    session = await client.sessions.from_agent(agent_id=agent_id)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("POST", f"{BASE}/sessions/from-agent/{agent_id}/")
    assert call.kwargs["data"] is None  # no body
    headers = headers_of(call)
    assert headers["x-api-key"] == KEY
    assert headers.get("Content-Type") != "application/json"
    assert session.id == "s2"


@pytest.mark.parametrize(
    "kwargs", [{}, {"agent_key": "k", "agent_id": "i"}, {"agent_key": ""}, {"agent_key": "  "}]
)
async def test_sessions_from_agent_needs_exactly_one(
    kwargs: dict[str, str], client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.sessions.from_agent(**kwargs)
    no_request_was_made(mock_api)


async def test_sessions_get(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    mock_api.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID, "status": "active"})

    session = await client.sessions.get(SID)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("GET", f"{BASE}/sessions/{SID}/")
    assert_get_headers(call)
    assert session.id == SID
    assert session.state == "active"


async def test_session_refresh_gets_the_session(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID, "config_hash": "h2"})
    fresh = await client.session(SID).refresh()
    assert fresh.config_hash == "h2"
    assert fresh == client.session(SID)


async def test_client_session_makes_no_request(
    api_key: str, base_url: str, mock_api: aioresponses
) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    session = client.session(SID)
    assert session.id == SID
    assert session.config_hash is None
    assert session.raw == {}
    assert SID in repr(session)
    no_request_was_made(mock_api)
    assert not pool_open(client)  # not even a connection pool
    await client.aclose()


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
    mock_api: aioresponses,
) -> None:
    mock_api.post(f"{BASE}/runtime/{SID}/execute/", payload=EXECUTION)

    result = await _execute(client, via, content(), **kwargs)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("POST", f"{BASE}/runtime/{SID}/execute/")
    assert_json_headers(call)
    assert sent_json(call) == expected  # exactly: no null fields for what was not given
    assert result.text == "Hi there"


async def test_execute_is_marked_non_idempotent(api_key: str, base_url: str) -> None:
    seen: list[amas.Request] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        seen.append(request)
        return await handler(request)

    with aioresponses() as mock:
        mock.post(f"{BASE}/runtime/{SID}/execute/", payload=EXECUTION)
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[spy]) as c:
            await c.runtime.execute(SID, "hi")
            await c.sessions.get(SID)
    assert [(r.method, r.idempotent) for r in seen] == [("POST", False), ("GET", True)]


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
    via: str,
    kwargs: dict[str, int],
    query: str,
    client: amas.AsyncAmas,
    mock_api: aioresponses,
) -> None:
    mock_api.get(
        f"{BASE}/runtime/{SID}/messages/?{query}",
        payload={"messages": [], "total": 0, "has_more": False},
    )
    if via == "runtime":
        page = await client.runtime.messages(SID, **kwargs)
    else:
        page = await client.session(SID).messages(**kwargs)

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("GET", f"{BASE}/runtime/{SID}/messages/?{query}")
    assert_get_headers(call)
    assert page.limit == kwargs.get("limit", 50)
    assert page.offset == kwargs.get("offset", 0)


@pytest.mark.parametrize(
    "kwargs", [{"limit": 0}, {"limit": -1}, {"limit": True}, {"offset": -1}, {"offset": 1.5}]
)
async def test_messages_rejects_bad_paging(
    kwargs: dict[str, Any], client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.runtime.messages(SID, **kwargs)
    no_request_was_made(mock_api)


def _page(first: int, count: int, has_more: bool, total: int | None = 5) -> dict[str, Any]:
    return {
        "messages": [
            {"id": f"m{i}", "role": "user" if i % 2 == 0 else "assistant", "content": f"c{i}"}
            for i in range(first, first + count)
        ],
        "total": total,
        "has_more": has_more,
    }


@pytest.mark.parametrize("via", ["runtime", "session"])
async def test_iter_messages_follows_has_more(
    via: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    mock_api.get(f"{url}?limit=2&offset=0", payload=_page(0, 2, True))
    mock_api.get(f"{url}?limit=2&offset=2", payload=_page(2, 2, True))
    mock_api.get(f"{url}?limit=2&offset=4", payload=_page(4, 1, False))

    if via == "runtime":
        ids = [m.id async for m in client.runtime.iter_messages(SID, page_size=2)]
    else:
        ids = [m.id async for m in client.session(SID).iter_messages(page_size=2)]

    assert ids == ["m0", "m1", "m2", "m3", "m4"]
    urls = [str(u) for _, u, _ in all_calls(mock_api)]
    assert urls == [f"{url}?limit=2&offset={n}" for n in (0, 2, 4)]


async def test_iter_messages_starts_at_offset_and_stops_on_an_empty_page(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    mock_api.get(f"{url}?limit=3&offset=7", payload=_page(7, 3, True, total=20))
    mock_api.get(f"{url}?limit=3&offset=10", payload={"messages": [], "has_more": True})

    ids = [m.id async for m in client.runtime.iter_messages(SID, page_size=3, offset=7)]

    assert ids == ["m7", "m8", "m9"]
    assert len(all_calls(mock_api)) == 2  # an empty page ends the loop even if has_more lies


async def test_iter_messages_stops_at_total_even_if_has_more_lies(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    mock_api.get(f"{url}?limit=3&offset=0", payload=_page(0, 3, True, total=3))
    ids = [m.id async for m in client.runtime.iter_messages(SID, page_size=3)]
    assert ids == ["m0", "m1", "m2"]
    assert len(all_calls(mock_api)) == 1


async def test_iter_messages_refuses_a_server_that_ignores_offset(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    mock_api.get(f"{url}?limit=2&offset=0", payload=_page(0, 2, True, total=None))
    mock_api.get(f"{url}?limit=2&offset=2", payload=_page(0, 2, True, total=None))
    with pytest.raises(amas.ResponseValidationError, match="ignores 'offset'"):
        [m async for m in client.runtime.iter_messages(SID, page_size=2)]


async def test_iter_messages_can_stop_early(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    url = f"{BASE}/runtime/{SID}/messages/"
    mock_api.get(f"{url}?limit=2&offset=0", payload=_page(0, 2, True))
    first = None
    async for message in client.runtime.iter_messages(SID, page_size=2):
        first = message
        break
    assert first is not None
    assert first.id == "m0"
    assert len(all_calls(mock_api)) == 1  # pages are fetched lazily


@pytest.mark.parametrize("via", ["runtime", "session"])
async def test_status(via: str, client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    mock_api.get(f"{BASE}/runtime/{SID}/status/", payload={"session_id": SID, "status": "idle"})

    if via == "runtime":
        status = await client.runtime.status(SID)
    else:
        status = await client.session(SID).status()

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("GET", f"{BASE}/runtime/{SID}/status/")
    assert_get_headers(call)
    assert status.status == "idle"


# ---- images.upload --------------------------------------------------------------------------


class Upload:
    """An aioresponses callback that renders the multipart body aiohttp was asked to send."""

    def __init__(self) -> None:
        self.content_type = ""
        self.body = b""
        self.form: object = None

    async def record(self, url: URL, **kwargs: Any) -> None:
        form = kwargs["data"]
        self.form = form
        assert isinstance(form, aiohttp.FormData)
        payload = form()
        self.content_type = payload.content_type
        self.body = await payload.as_bytes()

    def parts(self) -> list[tuple[str | None, str | None, str, bytes]]:
        raw = f"Content-Type: {self.content_type}\r\n\r\n".encode() + self.body
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


UPLOAD_ANSWER = {"url": "https://cdn.amas.test/i/1.png", "media_type": "image/png", "size": 29}


def _upload_sources(tmp_path: Path) -> dict[str, tuple[Callable[[], Any], str]]:
    png = tmp_path / "photo.png"
    png.write_bytes(PNG)
    return {
        "path": (lambda: png, "photo.png"),
        "str-path": (lambda: str(png), "photo.png"),
        "bytes": (lambda: PNG, "upload.png"),
        "bytearray": (lambda: bytearray(PNG), "upload.png"),
        "BytesIO": (lambda: io.BytesIO(PNG), "upload.png"),
    }


@pytest.mark.parametrize("source", ["path", "str-path", "bytes", "bytearray", "BytesIO"])
async def test_images_upload(
    source: str, tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    make, filename = _upload_sources(tmp_path)[source]
    capture = Upload()
    mock_api.post(f"{BASE}/images/upload/", payload=UPLOAD_ANSWER, callback=capture.record)

    upload = await client.images.upload(make())

    method, url, call = only_call(mock_api)
    assert (method, str(url)) == ("POST", f"{BASE}/images/upload/")
    headers = headers_of(call)
    assert headers["x-api-key"] == KEY
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"
    # aiohttp sets the multipart Content-Type (with its boundary); the SDK must not override it
    assert "Content-Type" not in headers
    assert capture.content_type.startswith("multipart/form-data; boundary=")
    assert capture.parts() == [("image", filename, "image/png", PNG)]
    assert upload.url == UPLOAD_ANSWER["url"]


async def test_images_upload_open_binary_file(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(PNG)
    capture = Upload()
    mock_api.post(f"{BASE}/images/upload/", payload=UPLOAD_ANSWER, callback=capture.record)

    with path.open("rb") as handle:
        await client.images.upload(handle)

    assert capture.parts() == [("image", "pic.png", "image/png", PNG)]


async def test_images_upload_filename_and_media_type_overrides(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    capture = Upload()
    mock_api.post(f"{BASE}/images/upload/", payload=UPLOAD_ANSWER, callback=capture.record)

    await client.images.upload(b"raw-bytes", filename="shot.webp", media_type="image/webp")

    assert capture.parts() == [("image", "shot.webp", "image/webp", b"raw-bytes")]


async def test_images_upload_jpeg_name_from_content(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    capture = Upload()
    mock_api.post(f"{BASE}/images/upload/", payload=UPLOAD_ANSWER, callback=capture.record)
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 8

    await client.images.upload(jpeg)

    ((name, filename, media_type, data),) = capture.parts()
    assert (name, media_type, data) == ("image", "image/jpeg", jpeg)
    assert filename is not None
    assert filename.startswith("upload.")


# ---- lifecycle ------------------------------------------------------------------------------


async def test_connection_pool_is_created_lazily_inside_the_loop(
    api_key: str, base_url: str, mock_api: aioresponses
) -> None:
    mock_api.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    assert not pool_open(client)
    assert "new" in repr(client)
    try:
        await client.sessions.get(SID)
        assert pool_open(client)
        session = client._pool.transport._session
        assert session is not None
        assert session._loop is asyncio.get_running_loop()
        assert "open" in repr(client)
    finally:
        await client.aclose()
    assert "closed" in repr(client)


def test_client_can_be_constructed_outside_a_loop(api_key: str, base_url: str) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)  # no running loop: fine
    assert not pool_open(client)
    assert not client.is_closed
    asyncio.run(client.aclose())


async def test_async_with_returns_the_client_and_closes_it(api_key: str, base_url: str) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    async with client as entered:
        assert entered is client
        assert pool_open(client)
    assert client.is_closed
    assert not pool_open(client)


async def test_aclose_is_idempotent(api_key: str, base_url: str) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    await client.aclose()  # never opened
    await client.aclose()
    async with amas.AsyncAmas(api_key=api_key, base_url=base_url) as other:
        await other.aclose()
        await other.aclose()
    assert other.is_closed


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
    call: Callable[[amas.AsyncAmas], Awaitable[object]],
    api_key: str,
    base_url: str,
    mock_api: aioresponses,
) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    await client.aclose()
    with pytest.raises(amas.AmasError, match="closed") as caught:
        await call(client)
    assert_secret_free(caught.value)
    no_request_was_made(mock_api)


async def test_closed_client_cannot_be_reentered(api_key: str, base_url: str) -> None:
    client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
    async with client:
        pass
    with pytest.raises(amas.AmasError):
        async with client:
            pass  # pragma: no cover


def test_client_is_bound_to_one_event_loop(api_key: str, base_url: str) -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        with aioresponses() as mock:
            mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID}, repeat=True)
            client = amas.AsyncAmas(api_key=api_key, base_url=base_url)
            first.run_until_complete(client.sessions.get(SID))
            with pytest.raises(amas.AmasError, match="loop"):
                second.run_until_complete(client.sessions.get(SID))
            first.run_until_complete(client.aclose())
    finally:
        first.close()
        second.close()


async def test_repr_and_str_never_show_the_key(base_url: str) -> None:
    secret = "sk-very-secret-0123456789"
    client = amas.AsyncAmas(api_key=secret, base_url=base_url)
    config = client._config
    assert isinstance(config, ClientConfig)
    for text in (repr(client), str(client), repr(config), str(config)):
        assert secret not in text
    assert base_url in repr(client)
    async with client:
        assert secret not in repr(client)
        assert secret not in repr(client.session(SID))


# ---- configuration from the environment -----------------------------------------------------


async def test_env_vars_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAS_API_KEY", "env-key")
    monkeypatch.setenv("AMAS_BASE_URL", "https://env.amas.test/api/v1/")
    with aioresponses() as mock:
        mock.get(f"https://env.amas.test/api/v1/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas() as client:
            assert client.base_url == "https://env.amas.test/api/v1"
            await client.sessions.get(SID)
        _, url, call = only_call(mock)
    assert str(url) == f"https://env.amas.test/api/v1/sessions/{SID}/"
    assert headers_of(call)["x-api-key"] == "env-key"


async def test_explicit_arguments_win_over_env(
    monkeypatch: pytest.MonkeyPatch, api_key: str, base_url: str
) -> None:
    monkeypatch.setenv("AMAS_API_KEY", "env-key")
    monkeypatch.setenv("AMAS_BASE_URL", "https://env.amas.test/api/v1")
    with aioresponses() as mock:
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url) as client:
            await client.sessions.get(SID)
        _, url, call = only_call(mock)
    assert str(url) == f"{BASE}/sessions/{SID}/"
    assert headers_of(call)["x-api-key"] == api_key


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


async def test_default_headers_are_sent(api_key: str, base_url: str) -> None:
    with aioresponses() as mock:
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(
            api_key=api_key, base_url=base_url, default_headers={"X-Tenant": "t1"}
        ) as client:
            await client.sessions.get(SID)
        _, _, call = only_call(mock)
    assert headers_of(call)["X-Tenant"] == "t1"
    assert headers_of(call)["x-api-key"] == api_key


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
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(
            api_key=api_key, base_url=BASE, timeout=timeout, max_retries=0
        ) as client:
            await client.sessions.get(SID)
        _, _, call = only_call(mock)
    assert call.kwargs["timeout"] == expected


async def test_the_retry_deadline_bounds_an_attempt_without_a_total_timeout(api_key: str) -> None:
    with aioresponses() as mock:
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
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
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=BASE, middlewares=[quick]) as c:
            await c.sessions.get(SID)
        _, _, call = only_call(mock)
    assert call.kwargs["timeout"].total == 5


# ---- middlewares ----------------------------------------------------------------------------


async def test_middleware_sees_request_and_response_once_per_call(
    api_key: str, base_url: str
) -> None:
    requests: list[amas.Request] = []
    responses: list[amas.Response] = []

    async def spy(request: amas.Request, handler: amas.Handler) -> amas.Response:
        requests.append(request)
        response = await handler(request)
        responses.append(response)
        return response

    with aioresponses() as mock:
        mock.post(f"{BASE}/runtime/{SID}/execute/", payload=EXECUTION)
        mock.get(f"{BASE}/runtime/{SID}/status/", payload={"status": "idle"})
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[spy]) as c:
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
    assert [r.status for r in responses] == [200, 200]
    assert all(isinstance(r, amas.Response) for r in responses)
    assert json.loads(responses[0].content) == EXECUTION
    assert responses[0].request is not None


async def test_middleware_order_first_is_outermost(api_key: str, base_url: str) -> None:
    trail: list[str] = []

    def named(name: str) -> amas.Middleware:
        async def middleware(request: amas.Request, handler: amas.Handler) -> amas.Response:
            trail.append(f"{name}>")
            response = await handler(request)
            trail.append(f"<{name}")
            return response

        return middleware

    with aioresponses() as mock:
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(
            api_key=api_key, base_url=base_url, middlewares=[named("a"), named("b"), named("c")]
        ) as client:
            await client.sessions.get(SID)

    assert trail == ["a>", "b>", "c>", "<c", "<b", "<a"]


async def test_middleware_can_modify_headers(api_key: str, base_url: str) -> None:
    async def trace(request: amas.Request, handler: amas.Handler) -> amas.Response:
        headers = {**request.headers, "X-Trace-Id": "t-1", "User-Agent": "mine/1"}
        return await handler(attrs.evolve(request, headers=headers))

    with aioresponses() as mock:
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[trace]) as c:
            await c.sessions.get(SID)
        _, _, call = only_call(mock)
    headers = headers_of(call)
    assert headers["X-Trace-Id"] == "t-1"
    assert headers["User-Agent"] == "mine/1"
    assert headers["x-api-key"] == api_key


async def test_in_place_header_change_does_not_leak_into_later_requests(
    api_key: str, base_url: str, monkeypatch: pytest.MonkeyPatch
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

    with aioresponses() as mock:
        mock.get(f"{BASE}/sessions/{SID}/", payload={"session_id": SID}, repeat=True)
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[once]) as c:
            await c.sessions.get(SID)
            await c.sessions.get(SID)
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url) as other:
            await other.sessions.get(SID)
        assert mock.requests is not None
        (first, second, third) = mock.requests[("GET", URL(f"{BASE}/sessions/{SID}/"))]
    assert headers_of(first).get("X-Only-Once") == "1"
    assert "X-Only-Once" not in headers_of(second)
    assert "X-Only-Once" not in headers_of(third)


async def test_middleware_can_short_circuit(api_key: str, base_url: str) -> None:
    async def canned(request: amas.Request, handler: amas.Handler) -> amas.Response:
        body = json.dumps({"session_id": "from-cache"}).encode()
        return amas.Response(status=200, headers={}, content=body, request=request, url=request.url)

    with aioresponses() as mock:
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[canned]) as c:
            session = await c.sessions.get(SID)
        no_request_was_made(mock)
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
    foreign: str, api_key: str, base_url: str
) -> None:
    target = f"{foreign}/api/v1/sessions/{SID}/"

    async def reroute(request: amas.Request, handler: amas.Handler) -> amas.Response:
        return await handler(attrs.evolve(request, url=target))

    with aioresponses() as mock:
        mock.get(target, payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[reroute]) as c:
            await c.sessions.get(SID)
        _, url, call = only_call(mock)
    assert str(url) == target
    headers = headers_of(call)
    assert "x-api-key" not in headers
    assert api_key not in repr(call.kwargs)
    assert headers["User-Agent"] == f"amas-async/{amas.__version__}"


async def test_key_smuggled_in_headers_is_stripped_for_another_host(
    api_key: str, base_url: str
) -> None:
    target = f"https://evil.test/sessions/{SID}/"

    async def smuggle(request: amas.Request, handler: amas.Handler) -> amas.Response:
        headers = {**request.headers, "X-Api-Key": "copied"}
        return await handler(attrs.evolve(request, url=target, headers=headers))

    with aioresponses() as mock:
        mock.get(target, payload={"session_id": SID})
        async with amas.AsyncAmas(api_key=api_key, base_url=base_url, middlewares=[smuggle]) as c:
            await c.sessions.get(SID)
        _, _, call = only_call(mock)
    assert "x-api-key" not in headers_of(call)


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
    status: int, location: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(f"{BASE}/sessions/{SID}/", status=status, headers={"Location": location})
    mock_api.get(re.compile(r".*evil\.test.*"), payload={"session_id": "stolen"})
    mock_api.get(re.compile(r"http://amas\.test/.*"), payload={"session_id": "stolen"})

    with pytest.raises(amas.APIStatusError) as caught:
        await client.sessions.get(SID)

    assert caught.value.status_code == status
    assert_secret_free(caught.value)
    _, url, _ = only_call(mock_api)  # nothing was sent to the other origin
    assert str(url) == f"{BASE}/sessions/{SID}/"


@pytest.mark.parametrize(
    "location", ["/api/v1/sessions/moved/", f"{BASE}/sessions/moved/", "../moved/"]
)
async def test_same_origin_redirect_is_followed_with_the_key(
    location: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(f"{BASE}/sessions/{SID}/", status=302, headers={"Location": location})
    mock_api.get(f"{BASE}/sessions/moved/", payload={"session_id": "moved"})

    session = await client.sessions.get(SID)

    assert session.id == "moved"
    found = all_calls(mock_api)
    assert [str(url) for _, url, _ in found] == [
        f"{BASE}/sessions/{SID}/",
        f"{BASE}/sessions/moved/",
    ]
    assert all(headers_of(call)["x-api-key"] == KEY for _, _, call in found)


async def test_307_redirect_keeps_method_and_body(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.post(
        f"{BASE}/runtime/{SID}/execute/",
        status=307,
        headers={"Location": f"{BASE}/runtime/other/execute/"},
    )
    mock_api.post(f"{BASE}/runtime/other/execute/", payload=EXECUTION)

    await client.runtime.execute(SID, "hi", correlation_id="c1")

    found = all_calls(mock_api)
    assert [(m, str(u)) for m, u, _ in found] == [
        ("POST", f"{BASE}/runtime/{SID}/execute/"),
        ("POST", f"{BASE}/runtime/other/execute/"),
    ]
    assert sent_json(found[1][2]) == {"content": "hi", "correlation_id": "c1"}


async def test_303_redirect_after_post_becomes_get(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.post(f"{BASE}/sessions/", status=303, headers={"Location": f"{BASE}/sessions/s9/"})
    mock_api.get(f"{BASE}/sessions/s9/", payload={"session_id": "s9"})

    session = await client.sessions.create({"name": "n", "agent_type": "llm_agent"})

    assert session.id == "s9"
    method, _, call = all_calls(mock_api)[1]
    assert method == "GET"
    assert call.kwargs.get("data") is None


async def test_redirect_loop_ends_in_an_error(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.get(
        f"{BASE}/sessions/{SID}/",
        status=302,
        headers={"Location": f"{BASE}/sessions/{SID}/"},
        repeat=True,
    )
    with pytest.raises(amas.APIStatusError) as caught:
        await client.sessions.get(SID)
    assert caught.value.status_code == 302
    assert 1 < len(all_calls(mock_api)) <= 10
