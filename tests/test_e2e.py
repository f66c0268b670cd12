"""End to end: the SDK against the emulator, a real HTTP server on 127.0.0.1.

Every test asserts what crossed the wire (the emulator records each request) and what came back.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async.cli.demo import tiny_png
from amas_async.testing import Emulator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

MULTI = {
    "name": "E2E",
    "save_messages": True,
    "persistent_state": True,
    "variables": {
        "user": {"type": "str"},
        "tone": {"type": "str", "require_every_execution": True},
    },
    "agents": [
        {
            "name": "greeter",
            "agent_type": "llm_agent",
            "prompt_config": {
                "system_prompt": "Greet {{ variables.user }} in a {{ variables.tone }} tone."
            },
        },
        {"name": "closer", "agent_type": "llm_agent", "system_prompt": "Close politely."},
    ],
    "edges": [
        {"from": "__start__", "to": "greeter"},
        {"from": "greeter", "to": "closer"},
        {"from": "closer", "to": "__end__"},
    ],
    "entry_point": "greeter",
}
FLAT = {"name": "Flat", "agent_type": "llm_agent", "system_prompt": "Be brief."}


def last_request(emu: Emulator, method: str, path_part: str) -> Any:
    matching = [r for r in emu.requests if r.method == method and path_part in r.path]
    assert matching, f"no {method} request to {path_part}"
    return matching[-1]


async def test_create_execute_continue_variables(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    session = await amas_client.sessions.create(MULTI)
    assert session.id
    assert session.config_hash
    assert session.config_hash.startswith("object:")
    sent = last_request(amas_emulator, "POST", "/sessions/")
    assert sent.path == "/api/v1/sessions/"
    assert json.loads(sent.body) == MULTI
    assert sent.headers["x-api-key"] == amas_emulator.api_key
    assert sent.headers["User-Agent"] == f"amas-async/{amas.__version__}"

    first = await session.execute(
        "Hi", inputs={"user": "Ada", "tone": "warm"}, correlation_id="c-1"
    )
    assert first.status == "completed"
    assert [m.text for m in first.messages] == [
        "[greeter] Greet Ada in a warm tone. | Hi",
        "[closer] Close politely. | Hi",
    ]
    assert first.text == "[closer] Close politely. | Hi"
    assert first.correlation_id == "c-1"
    assert first.usage is not None
    assert first.usage.input_tokens > 0
    assert first.created_at is not None
    assert first.created_at.tzinfo is not None
    body = json.loads(last_request(amas_emulator, "POST", "/execute/").body)
    assert body == {
        "content": "Hi",
        "inputs": {"user": "Ada", "tone": "warm"},
        "correlation_id": "c-1",
    }

    # session-level variable persisted; the request-level one is sent again
    second = await session.execute("Again", inputs={"tone": "dry"})
    assert second.messages[0].text == "[greeter] Greet Ada in a dry tone. | Again"
    assert amas_emulator.executed_turns == 2

    # the request-level variable is required on every call: the server says 400
    with pytest.raises(amas.BadRequestError) as info:
        await session.execute("No tone")
    assert info.value.status_code == 400
    assert "tone" in info.value.message


async def test_yaml_file_and_flat_form(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    session = await amas_client.sessions.create(EXAMPLES / "support_agent.yaml")
    result = await session.execute("Hello", inputs={"user_name": "Ada", "tone": "calm"})
    assert "Ada" in result.text
    assert "calm" in result.text

    flat = await amas_client.sessions.create(amas.SessionConfig.from_dict(FLAT))
    reply = await flat.execute("Ping")
    assert reply.text.endswith("| Ping")
    assert json.loads(last_request(amas_emulator, "POST", "/sessions/").body) == FLAT


async def test_get_status_history_and_paging(amas_client: amas.AsyncAmas) -> None:
    session = await amas_client.sessions.create(FLAT)
    for i in range(3):
        await session.execute(f"message {i}")
    info = await amas_client.sessions.get(session.id)
    assert info.id == session.id
    assert info.config_hash == session.config_hash
    assert info.state == "active"
    assert info.created_at is not None
    assert info.agent_config is not None
    assert info.agent_config["name"] == "Flat"

    page = await session.messages(limit=4, offset=0)
    assert page.total == 6
    assert page.has_more
    assert len(page.messages) == 4
    assert [m.role for m in page.messages] == ["user", "assistant", "user", "assistant"]
    assert page.messages[0].text == "message 0"
    everything = [m async for m in session.iter_messages(page_size=4)]
    assert [m.text for m in everything if m.role == "user"] == [
        "message 0",
        "message 1",
        "message 2",
    ]

    status = await session.status()
    assert status.session_id == session.id
    assert status.message_count == 6
    assert status.health == "healthy"


async def test_from_agent_by_key_and_by_id(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    agent = amas_emulator.register_agent(FLAT, agent_key="support agent&co")
    by_key = await amas_client.sessions.from_agent("support agent&co")
    assert by_key.agent_id == agent.id
    assert by_key.agent_name == "Flat"
    sent = last_request(amas_emulator, "GET", "/sessions/from-agent/")
    assert sent.path == "/api/v1/sessions/from-agent/"
    assert sent.query == {"agent_key": "support agent&co"}

    by_id = await amas_client.sessions.from_agent(agent_id=agent.id)
    assert by_id.agent_id == agent.id
    assert by_id.id != by_key.id
    assert (
        last_request(amas_emulator, "POST", "/from-agent/").path
        == f"/api/v1/sessions/from-agent/{agent.id}/"
    )
    assert (await by_id.execute("hi")).text.endswith("| hi")


async def test_multipart_upload_arrives_exactly(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, tmp_path: Path
) -> None:
    png = tiny_png(16, 16)
    path = tmp_path / "photo.png"
    path.write_bytes(png)
    upload = await amas_client.images.upload(path)
    assert upload.media_type == "image/png"
    assert upload.size == len(png)
    (stored,) = amas_emulator.uploads.values()
    assert stored.data == png
    assert stored.filename == "photo.png"
    assert stored.media_type == "image/png"
    assert (
        "multipart/form-data"
        in last_request(amas_emulator, "POST", "/images/upload/").headers["Content-Type"]
    )

    # bytes and file objects, with an explicit name and type
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    await amas_client.images.upload(jpeg, filename="raw.jpg")
    await amas_client.images.upload(io.BytesIO(png), filename="stream.png", media_type="image/png")
    stored_by_name = {u.filename: u for u in amas_emulator.uploads.values()}
    assert stored_by_name["raw.jpg"].data == jpeg
    assert stored_by_name["raw.jpg"].media_type == "image/jpeg"
    assert stored_by_name["stream.png"].data == png

    # the upload is usable as an image part, and the emulator serves it back
    session = await amas_client.sessions.create(FLAT)
    result = await session.execute([amas.TextPart("What is it?"), upload])
    assert f"[image: {upload.url}]" in result.text
    sent = json.loads(last_request(amas_emulator, "POST", "/execute/").body)
    assert sent["content"][1] == {"type": "image_url", "image_url": {"url": upload.url}}


async def test_every_part_kind(amas_emulator: Emulator, amas_client: amas.AsyncAmas) -> None:
    session = await amas_client.sessions.create(FLAT)
    png = tiny_png()
    result = await session.execute(
        [
            amas.TextPart("Look"),
            amas.ImagePart.from_bytes(png),
            amas.ImagePart("https://example.com/image.jpg"),
            amas.FilePart("https://example.com/doc.pdf"),
            {"type": "text", "text": "please"},
        ]
    )
    assert "[image: data:image/png;base64" in result.text
    assert "[image: https://example.com/image.jpg]" in result.text
    assert "[file: https://example.com/doc.pdf]" in result.text
    sent = json.loads(last_request(amas_emulator, "POST", "/execute/").body)["content"]
    assert [p["type"] for p in sent] == ["text", "image_url", "image_url", "file", "text"]


# ---- every error class, from a real server -------------------------------------------------


async def test_authentication_error(amas_emulator: Emulator) -> None:
    async with amas.AsyncAmas(base_url=amas_emulator.base_url, api_key="wrong-secret") as client:
        with pytest.raises(amas.AuthenticationError) as info:
            await client.sessions.create(FLAT)
    exc = info.value
    assert exc.status_code == 401
    assert exc.error_type == "authentication_error"
    assert exc.message == "Invalid or missing authentication credentials"
    assert "wrong-secret" not in str(exc)
    assert "wrong-secret" not in repr(exc)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, amas.BadRequestError),
        (403, amas.PermissionDeniedError),
        (404, amas.NotFoundError),
        (409, amas.ConflictError),
        (422, amas.UnprocessableEntityError),
        (429, amas.RateLimitError),
        (500, amas.InternalServerError),
        (502, amas.InternalServerError),
        (503, amas.InternalServerError),
        (418, amas.APIStatusError),
    ],
)
async def test_status_classes(
    amas_emulator: Emulator,
    amas_client: amas.AsyncAmas,
    status: int,
    cls: type[amas.APIStatusError],
) -> None:
    amas_emulator.respond_next(
        status=status,
        body={"error": {"type": "some_error", "message": f"failed with {status}"}},
        headers={"x-request-id": "req-42"},
    )
    with pytest.raises(cls) as info:
        await amas_client.with_options(max_retries=0).sessions.get("abc")
    exc = info.value
    assert type(exc) is cls
    assert (exc.status_code, exc.error_type, exc.message, exc.request_id) == (
        status,
        "some_error",
        f"failed with {status}",
        "req-42",
    )
    assert exc.body == {"error": {"type": "some_error", "message": f"failed with {status}"}}
    assert exc.headers["x-request-id"] == "req-42"


async def test_not_found_and_rate_limit_from_the_emulator(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    with pytest.raises(amas.NotFoundError) as info:
        await amas_client.runtime.execute("no-such-session", "hi")
    assert info.value.error_type == "not_found_error"

    amas_emulator.fail_next(status=429, retry_after=7)
    with pytest.raises(amas.RateLimitError) as limited:
        await amas_client.with_options(max_retries=0).runtime.status("no-such-session")
    assert limited.value.retry_after == 7.0
    assert amas_emulator.executed_turns == 0


async def test_malformed_answers(amas_emulator: Emulator, amas_client: amas.AsyncAmas) -> None:
    amas_client = amas_client.with_options(max_retries=0)
    html = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    amas_emulator.respond_next(status=502, body=html, content_type="text/html")
    with pytest.raises(amas.InternalServerError) as bad_gateway:
        await amas_client.sessions.get("abc")
    assert bad_gateway.value.message == "Bad Gateway"  # the page title, without its status
    assert str(bad_gateway.value).startswith("502 Bad Gateway (GET ")
    assert bad_gateway.value.body == html

    amas_emulator.respond_next(status=200, body=b"")
    with pytest.raises(amas.ResponseValidationError) as empty:
        await amas_client.sessions.get("abc")
    assert empty.value.status_code == 200

    amas_emulator.respond_next(status=200, body=html, content_type="text/html")
    with pytest.raises(amas.ResponseValidationError):
        await amas_client.runtime.status("abc")

    amas_emulator.respond_next(status=200, body=[1, 2, 3])
    with pytest.raises(amas.ResponseValidationError):
        await amas_client.sessions.get("abc")

    amas_emulator.respond_next(status=200, body={"messages": "nope"})
    with pytest.raises(amas.ResponseValidationError):
        await amas_client.runtime.messages("abc")


async def test_execution_error(amas_emulator: Emulator, amas_client: amas.AsyncAmas) -> None:
    session = await amas_client.sessions.create(FLAT)
    amas_emulator.fail_execution_next("timeout")
    with pytest.raises(amas.ExecutionError) as info:
        await session.execute("hi")
    assert info.value.execution.status == "timeout"
    assert info.value.status == "timeout"
    assert info.value.execution.session_id == session.id


async def test_connection_errors(amas_emulator: Emulator) -> None:
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        timeout=amas.Timeout(read=0.2),
        max_retries=0,
    ) as client:
        # a POST: aiohttp itself resends an idempotent GET once on a dropped connection
        amas_emulator.fail_next(drop=True)
        with pytest.raises(amas.APIConnectionError) as dropped:
            await client.sessions.create(FLAT)
        assert type(dropped.value) is amas.APIConnectionError
        assert dropped.value.request_sent
        assert amas_emulator.session_ids == []

        amas_emulator.fail_next(delay=1.0)
        with pytest.raises(amas.APITimeoutError):
            await client.sessions.get("abc")


async def test_connection_refused_is_typed() -> None:
    emu = Emulator()
    await emu.start()
    url, key = emu.base_url, emu.api_key
    await emu.stop()
    async with amas.AsyncAmas(base_url=url, api_key=key) as client:
        with pytest.raises(amas.APIConnectionError) as info:
            await client.sessions.get("abc")
    assert info.value.request_sent is False


async def test_server_side_config_validation_names_the_field(amas_client: amas.AsyncAmas) -> None:
    # passes the local checks (unknown keys are the server's to judge) but not the server's
    config = dict(FLAT, agent_type="llm_agent")
    del config["name"]
    with pytest.raises(amas.ConfigValidationError):
        await amas_client.sessions.create(config)  # caught locally: name is required


async def test_plugin_fixtures_are_wired(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    assert amas_client.base_url == amas_emulator.base_url
    session = await amas_client.sessions.create(FLAT)
    assert (await session.execute("x")).text == "[Flat] Be brief. | x"


async def test_closing_the_client_during_a_request_says_so(amas_emulator: Emulator) -> None:
    amas_emulator.set_latency(0.5)
    client = amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, max_retries=0
    )
    call = asyncio.create_task(client.sessions.create(FLAT))
    while amas_emulator.in_flight == 0:  # noqa: ASYNC110 - polls the emulator's counter
        await asyncio.sleep(0.01)
    await client.aclose()
    with pytest.raises(amas.APIConnectionError, match="client was closed"):
        await call
