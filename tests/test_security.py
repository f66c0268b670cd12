"""Security by default: where the key may go, what an answer may cost, what a message may quote.

The base URL is checked at construction (no user info; plain http only to this machine unless
the user opts in); an answer larger than ``Limits.max_response_bytes`` is refused while it is
read, on a real socket; error messages quote at most a bounded excerpt of the body they carry.
"""

from __future__ import annotations

import gzip
import json
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import amas_async as amas
from amas_async.testing import Emulator, MockTransport

SECRET = "hunter2-very-secret"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
SESSION = {"session_id": "s1", "status": "active"}


def everything_said(exc: BaseException) -> str:
    """str, repr and the formatted traceback of ``exc``: what could end up in a log."""
    return "\n".join(
        [str(exc), repr(exc), *traceback.format_exception(type(exc), exc, exc.__traceback__)]
    )


# ---- base_url: user info ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{SECRET}@127.0.0.1:8000/api/v1",
        f"https://user:{SECRET}@api.amas.test/api/v1",
        f"https://{SECRET}@api.amas.test/api/v1",
        f"https://a:b@c:{SECRET}@api.amas.test/api/v1",
        f"user:{SECRET}@api.amas.test/api/v1",
        f"ftp://user:{SECRET}@api.amas.test",
    ],
)
def test_base_url_with_user_info_is_refused_and_never_quoted(url: str) -> None:
    with pytest.raises(amas.InvalidRequestError, match="user info") as caught:
        amas.AsyncAmas(api_key="k", base_url=url)
    assert SECRET not in everything_said(caught.value)
    assert "api_key" in str(caught.value)  # says what to do instead
    with pytest.raises(amas.InvalidRequestError) as caught_sync:
        amas.Amas(api_key="k", base_url=url)
    assert SECRET not in everything_said(caught_sync.value)


def test_base_url_with_user_info_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAS_BASE_URL", f"https://me:{SECRET}@api.amas.test/api/v1")
    with pytest.raises(amas.InvalidRequestError) as caught:
        amas.AsyncAmas(api_key="k")
    text = everything_said(caught.value)
    assert SECRET not in text
    assert "https://api.amas.test/api/v1" in text  # the URL, with the user info removed


def test_an_at_sign_in_the_path_is_not_user_info() -> None:
    client = amas.AsyncAmas(api_key="k", base_url="https://api.amas.test/team@x/api/v1")
    assert client.base_url == "https://api.amas.test/team@x/api/v1"


@pytest.mark.parametrize(
    "url", ["https://api.amas.test:99999/api/v1", "https://api.amas.test:port/api/v1"]
)
def test_base_url_with_a_bad_port_fails_at_construction(url: str) -> None:
    with pytest.raises(amas.AmasError, match="not a valid URL"):
        amas.AsyncAmas(api_key="k", base_url=url)


# ---- base_url: plain http ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["api.amas.test", "10.0.0.5", "192.168.1.20:8000", "[2001:db8::1]", "localhost.evil"]
)
def test_plain_http_to_another_host_is_refused_and_the_error_says_how(host: str) -> None:
    url = f"http://{host}/api/v1"
    with pytest.raises(amas.InvalidRequestError) as caught:
        amas.AsyncAmas(api_key=SECRET, base_url=url)
    message = str(caught.value)
    assert "unencrypted" in message
    assert "allow_insecure_http=True" in message
    assert "AMAS_ALLOW_INSECURE_HTTP=1" in message
    assert SECRET not in everything_said(caught.value)
    with pytest.raises(amas.InvalidRequestError):
        amas.Amas(api_key="k", base_url=url)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8765",
        "127.1.2.3",
        "localhost:8000",
        "LOCALHOST",
        "app.localhost",
        "[::1]:8000",
        "[::ffff:127.0.0.1]",
    ],
)
def test_plain_http_to_this_machine_is_allowed(host: str) -> None:
    client = amas.AsyncAmas(api_key="k", base_url=f"http://{host}/api/v1")
    assert client.base_url == f"http://{host}/api/v1"


def test_https_anywhere_is_allowed() -> None:
    assert amas.AsyncAmas(api_key="k", base_url="https://10.0.0.5/api/v1").base_url.startswith(
        "https://10.0.0.5"
    )


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_the_environment_variable_opts_in(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAS_ALLOW_INSECURE_HTTP", value)
    client = amas.AsyncAmas(api_key="k", base_url="http://amas.internal:8000/api/v1")
    assert client.base_url == "http://amas.internal:8000/api/v1"
    # the constructor's flag wins over the environment, both ways
    with pytest.raises(amas.InvalidRequestError):
        amas.AsyncAmas(
            api_key="k", base_url="http://amas.internal/api/v1", allow_insecure_http=False
        )


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off"])
def test_the_environment_variable_set_to_no(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAS_ALLOW_INSECURE_HTTP", value)
    with pytest.raises(amas.InvalidRequestError):
        amas.AsyncAmas(api_key="k", base_url="http://amas.internal/api/v1")
    monkeypatch.delenv("AMAS_ALLOW_INSECURE_HTTP")
    client = amas.AsyncAmas(
        api_key="k", base_url="http://amas.internal/api/v1", allow_insecure_http=True
    )
    assert client.base_url == "http://amas.internal/api/v1"


def test_a_nonsense_environment_value_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAS_ALLOW_INSECURE_HTTP", "maybe")
    with pytest.raises(amas.AmasError, match="AMAS_ALLOW_INSECURE_HTTP must be 1 or 0"):
        amas.AsyncAmas(api_key="k", base_url="http://amas.internal/api/v1")
    with pytest.raises(amas.InvalidContentError):
        amas.AsyncAmas(api_key="k", allow_insecure_http="yes")  # type: ignore[arg-type]


def lan_address() -> str | None:
    """This machine's address on a non-loopback interface, if it has one (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET: a UDP connect only picks the route
        address: str = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_opting_in_reaches_a_plain_http_server_on_another_address() -> None:
    """Over a real socket: refused by default, served once the user opts in."""
    address = lan_address()
    host = address or "127.0.0.1"
    async with Emulator(host="0.0.0.0") as emulator:
        url = f"http://{host}:{emulator.port}/api/v1"
        if address is not None:
            with pytest.raises(amas.InvalidRequestError):
                amas.AsyncAmas(api_key=emulator.api_key, base_url=url)
        async with amas.AsyncAmas(
            api_key=emulator.api_key, base_url=url, allow_insecure_http=True
        ) as client:
            session = await client.sessions.create(
                {"name": "A", "agent_type": "llm_agent", "system_prompt": "p"}
            )
        assert session.id
        assert emulator.requests[-1].headers["x-api-key"] == emulator.api_key


# ---- the answer-size cap, on a real socket ----------------------------------------------------

LIMIT = 4096
BIG = json.dumps({**SESSION, "padding": "x" * (LIMIT * 4)}).encode()
FITS = json.dumps({**SESSION, "padding": "x" * (LIMIT - 200)}).encode()


class Server:
    """An aiohttp.web server answering ``GET /api/v1/sessions/{kind}/`` in several framings."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        self.hits[kind] = self.hits.get(kind, 0) + 1
        body = FITS if kind.startswith("fits") else BIG
        status = 503 if kind.endswith("-503") else 200
        json_type = {"Content-Type": "application/json"}
        if kind.startswith(("declared", "fits-declared")):
            return web.Response(status=status, body=body, headers=json_type)
        if kind.startswith(("gzip", "fits-gzip")):
            compressed = gzip.compress(body)
            assert len(compressed) < LIMIT  # small on the wire, large once decoded
            headers = {**json_type, "Content-Encoding": "gzip"}
            return web.Response(status=status, body=compressed, headers=headers)
        response = web.StreamResponse(status=status, headers=json_type)  # chunked
        await response.prepare(request)
        for start in range(0, len(body), 1000):
            await response.write(body[start : start + 1000])
        await response.write_eof()
        return response

    async def __aenter__(self) -> Server:
        app = web.Application()
        app.router.add_get("/api/v1/sessions/{kind}/", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server() as running:
        yield running


def passthrough(request: amas.Request, handler: amas.Handler) -> Awaitable[amas.Response]:
    return handler(request)


PATHS = {"lean": (), "layered": (passthrough,)}


def capped_client(server: Server, path: str, limit: int = LIMIT) -> amas.AsyncAmas:
    return amas.AsyncAmas(
        api_key=SECRET,
        base_url=f"http://127.0.0.1:{server.port}/api/v1",
        limits=amas.Limits(max_response_bytes=limit),
        middlewares=PATHS[path],
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["declared", "chunked", "gzip", "declared-503", "chunked-503"])
async def test_an_answer_over_the_cap_fails_typed_and_is_not_retried(
    kind: str, path: str, server: Server
) -> None:
    async with capped_client(server, path) as client:
        with pytest.raises(amas.ResponseTooLargeError) as caught:
            await client.sessions.get(kind)
        error = caught.value
        assert isinstance(error, amas.ResponseValidationError)
        assert error.limit == LIMIT
        assert error.size == (len(BIG) if kind.startswith("declared") else None)
        assert error.status_code == (503 if kind.endswith("503") else 200)
        assert error.body is None
        assert error.method == "GET"
        assert f"/api/v1/sessions/{kind}/" in str(error)
        assert "max_response_bytes" in str(error)  # says how to raise it
        assert SECRET not in everything_said(error)
        assert server.hits[kind] == 1  # the same request would get the same answer
        # the half-read connection was dropped, not handed to the next call
        assert (await client.sessions.get("fits-declared")).id == "s1"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["fits-declared", "fits-chunked", "fits-gzip"])
async def test_an_answer_within_the_cap_is_read(kind: str, path: str, server: Server) -> None:
    async with capped_client(server, path) as client:
        assert (await client.sessions.get(kind)).raw["padding"] == "x" * (LIMIT - 200)
    async with capped_client(server, path, limit=len(FITS)) as client:  # exactly the cap
        assert (await client.sessions.get(kind)).id == "s1"


async def test_the_default_cap_is_generous_and_configurable(server: Server) -> None:
    assert amas.Limits().max_response_bytes == 64 * 1024 * 1024
    async with amas.AsyncAmas(
        api_key="k", base_url=f"http://127.0.0.1:{server.port}/api/v1"
    ) as client:
        assert (await client.sessions.get("chunked")).id == "s1"  # 16 KiB: far within
    with pytest.raises(amas.InvalidRequestError):
        amas.Limits(max_response_bytes=0)
    with pytest.raises(amas.InvalidContentError):
        amas.Limits(max_response_bytes=1.5)  # type: ignore[arg-type]
    transport = amas.AiohttpTransport(limits=amas.Limits(max_response_bytes=LIMIT))
    async with amas.AsyncAmas(
        api_key="k", base_url=f"http://127.0.0.1:{server.port}/api/v1", transport=transport
    ) as client:
        with pytest.raises(amas.ResponseTooLargeError):
            await client.sessions.get("chunked")


async def test_the_cap_holds_for_uploads_and_executes_against_the_emulator(
    amas_emulator: Emulator,
) -> None:
    big = {"url": "https://cdn.test/x.png", "padding": "y" * 20_000}
    async with amas.AsyncAmas(
        api_key=amas_emulator.api_key,
        base_url=amas_emulator.base_url,
        limits=amas.Limits(max_response_bytes=10_000),
    ) as client:
        amas_emulator.respond_next(body=big, path="/images/upload/")
        with pytest.raises(amas.ResponseTooLargeError):
            await client.images.upload(PNG, filename="a.png")
        amas_emulator.respond_next(body=big, path="/execute/")
        with pytest.raises(amas.ResponseTooLargeError):
            await client.runtime.execute("any", "hi")
        assert len(amas_emulator.requests) == 2  # one attempt each


# ---- error messages quote a bounded excerpt ---------------------------------------------------


async def test_a_20_mb_error_body_makes_a_short_message_and_keeps_the_body(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    huge = "e" * 20_000_000
    amas_emulator.respond_next(
        status=400, body={"error": {"type": "invalid_request_error", "message": huge}}
    )
    with pytest.raises(amas.BadRequestError) as caught:
        await amas_client.sessions.get("s1")
    error = caught.value
    assert len(str(error)) < 1000
    assert "more characters" in str(error)
    assert error.body["error"]["message"] == huge  # nothing lost
    assert error.error_type == "invalid_request_error"


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "d" * 100_000},
        {"detail": {"nested": ["d" * 100_000]}},
        {"error": "e" * 100_000},
        {"message": "m" * 100_000},
        {"field": ["f" * 100_000]},
        ["s" * 100_000],
        "plain text " * 10_000,
        "<html><body>" + "<p>para</p>" * 10_000 + "</body></html>",
    ],
)
async def test_every_error_shape_is_quoted_briefly(
    body: Any, amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    amas_emulator.respond_next(status=422, body=body)
    with pytest.raises(amas.UnprocessableEntityError) as caught:
        await amas_client.sessions.get("s1")
    assert len(str(caught.value)) < 1000
    assert caught.value.body == body


async def test_an_execution_error_message_is_bounded(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    amas_emulator.respond_next(
        body={
            "session_id": "s1",
            "status": "error",
            "messages": [],
            "metadata": {"error": {"message": "boom " * 100_000}},
        },
        path="/execute/",
    )
    with pytest.raises(amas.ExecutionError) as caught:
        await amas_client.runtime.execute("s1", "hi")
    assert len(str(caught.value)) < 1000


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


async def test_an_html_502_page_reads_once(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    amas_emulator.respond_next(status=502, body=NGINX_502, content_type="text/html", count=3)
    with pytest.raises(amas.InternalServerError) as caught:
        await amas_client.sessions.get("s1")
    text = str(caught.value)
    assert text.startswith("502 Bad Gateway (GET ")
    assert "502 502" not in text
    assert caught.value.message == "Bad Gateway"
    assert caught.value.body == NGINX_502


# ---- nothing sent for local mistakes, against the emulator ------------------------------------

Call = Callable[[amas.AsyncAmas, Path], Awaitable[object]]


async def _empty_png(client: amas.AsyncAmas, tmp: Path) -> object:
    path = tmp / "empty.png"
    path.write_bytes(b"")
    return await client.images.upload(path)


async def _directory(client: amas.AsyncAmas, tmp: Path) -> object:
    return await client.files.upload(tmp)


async def _file_url_part(client: amas.AsyncAmas, tmp: Path) -> object:
    return await client.runtime.execute(
        "s1", [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]
    )


async def _javascript_part(client: amas.AsyncAmas, tmp: Path) -> object:
    return await client.runtime.execute("s1", [{"type": "file", "file_url": "javascript:alert(1)"}])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (_empty_png, amas.InvalidFileError),
        (_directory, amas.InvalidFileError),
        (_file_url_part, amas.InvalidContentError),
        (_javascript_part, amas.InvalidContentError),
    ],
)
async def test_refused_before_anything_reaches_the_server(
    call: Call,
    error: type[Exception],
    tmp_path: Path,
    amas_emulator: Emulator,
    amas_client: amas.AsyncAmas,
) -> None:
    with pytest.raises(error):
        await call(amas_client, tmp_path)
    assert amas_emulator.requests == []


async def test_a_mock_transport_is_not_capped() -> None:
    """The cap belongs to the default transport; a custom one decides for itself."""
    body = {**SESSION, "padding": "z" * 100_000}
    transport = MockTransport(lambda request: amas.Response(200, json=body))
    async with amas.AsyncAmas(api_key="k", transport=transport) as client:
        assert (await client.sessions.get("s1")).raw["padding"] == "z" * 100_000


def test_a_too_large_error_placed_keeps_its_type_and_figures() -> None:
    error = amas.ResponseTooLargeError(limit=10, size=20)
    placed = error.at(status_code=200, method="GET", url="https://amas.test/api/v1/x/")
    assert type(placed) is amas.ResponseTooLargeError
    assert (placed.limit, placed.size, placed.status_code) == (10, 20, 200)
    assert str(placed).startswith("200 the answer declares 20 bytes, more than")
    assert str(placed).endswith("(GET https://amas.test/api/v1/x/)")
