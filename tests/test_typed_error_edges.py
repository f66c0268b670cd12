"""Typed errors where the SDK used to leak raw ones, or said less than it knew.

Malformed and too-large answers say how many attempts were made; bad content parts, text-mode
file objects and bad limits raise the SDK's own errors before anything is sent; the legacy
execute answer gets its session id from the call; a failed file's reason is in the message.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async.testing import Emulator, MockTransport, RetryClock

FLAT = {"name": "Edges", "agent_type": "llm_agent", "system_prompt": "Be brief."}
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x80\x81"  # not UTF-8 from byte 0
API = "https://amas.test/api/v1"


async def passthrough(request: amas.Request, handler: Any) -> amas.Response:
    """A user middleware: the client then takes the layered path instead of the lean one."""
    response: amas.Response = await handler(request)
    return response


@pytest.fixture(params=["lean", "layered"])
async def client(
    request: pytest.FixtureRequest, amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> AsyncIterator[amas.AsyncAmas]:
    """A client on the emulator, with or without a user middleware (both sending paths)."""
    middlewares = [passthrough] if request.param == "layered" else []
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, middlewares=middlewares
    ) as opened:
        yield opened


def sent_to(emu: Emulator, path_part: str) -> list[str]:
    return [r.method for r in emu.requests if path_part in r.path]


# ---- 1. malformed and too-large answers carry attempts ----------------------------------------


async def test_a_malformed_2xx_says_one_attempt(
    amas_emulator: Emulator, client: amas.AsyncAmas
) -> None:
    session = await client.sessions.create(FLAT)
    amas_emulator.respond_next(status=200, body="<html>", content_type="text/html")
    with pytest.raises(amas.ResponseValidationError) as caught:
        await session.status()
    assert caught.value.attempts == 1
    assert "attempts]" not in str(caught.value)
    assert sent_to(amas_emulator, "/status/") == ["GET"]


async def test_a_malformed_2xx_after_a_retry_says_two_attempts(
    amas_emulator: Emulator, client: amas.AsyncAmas, amas_retry_clock: RetryClock
) -> None:
    session = await client.sessions.create(FLAT)
    amas_emulator.fail_next(status=503, path="/status/")
    amas_emulator.respond_next(status=200, body="<html>", content_type="text/html")
    with pytest.raises(amas.ResponseValidationError) as caught:
        await session.status()
    assert caught.value.attempts == 2
    assert str(caught.value).endswith(" [after 2 attempts]")
    assert sent_to(amas_emulator, "/status/") == ["GET", "GET"]
    assert len(amas_retry_clock.sleeps) == 1


async def test_json_of_the_wrong_shape_after_a_retry_says_two_attempts(
    amas_emulator: Emulator, client: amas.AsyncAmas
) -> None:
    session = await client.sessions.create(FLAT)
    amas_emulator.fail_next(status=503, path="/status/")
    amas_emulator.respond_next(status=200, body=["not", "an", "object"])
    with pytest.raises(amas.ResponseValidationError) as caught:
        await session.status()
    assert caught.value.attempts == 2
    assert caught.value.status_code == 200
    assert caught.value.body == ["not", "an", "object"]
    assert str(caught.value).endswith(" [after 2 attempts]")


@pytest.mark.parametrize("middlewares", [[], [passthrough]], ids=["lean", "layered"])
async def test_a_too_large_answer_says_how_many_attempts(
    amas_emulator: Emulator, amas_retry_clock: RetryClock, middlewares: list[Any]
) -> None:
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        limits=amas.Limits(max_response_bytes=1000),
        middlewares=middlewares,
    ) as small:
        session = await small.sessions.create(FLAT)
        amas_emulator.respond_next(status=200, body="x" * 5000, path="/status/")
        with pytest.raises(amas.ResponseTooLargeError) as first:
            await session.status()
        assert first.value.attempts == 1
        assert "attempts]" not in str(first.value)

        amas_emulator.fail_next(status=503, path="/status/")
        amas_emulator.respond_next(status=200, body="x" * 5000, path="/status/")
        with pytest.raises(amas.ResponseTooLargeError) as caught:
            await session.status()
    assert caught.value.attempts == 2
    assert caught.value.limit == 1000
    assert str(caught.value).endswith(" [after 2 attempts]")
    assert sent_to(amas_emulator, "/status/") == ["GET", "GET", "GET"]  # never retried itself


def test_the_errors_take_attempts_when_built() -> None:
    error = amas.ResponseValidationError("bad", status_code=200, attempts=3)
    assert error.attempts == 3
    assert str(error) == "200 bad [after 3 attempts]"
    placed = error.at(status_code=201, method="GET", url="https://x.test/a/")
    assert placed.attempts == 3
    assert placed.status_code == 201
    assert amas.ResponseValidationError("bad").attempts == 1
    assert amas.ResponseTooLargeError(limit=5).attempts == 1
    assert (
        amas.ResponseTooLargeError(limit=5, attempts=2)
        .at(status_code=200, method="GET", url="https://x.test/a/")
        .attempts
        == 2
    )


# ---- 2. a text part of another type -------------------------------------------------------------


@pytest.mark.parametrize("text", [3, None, b"bytes", ["a"]])
def test_a_text_part_that_is_not_a_str_raises_invalid_content(text: object) -> None:
    with pytest.raises(amas.InvalidContentError) as caught:
        amas.TextPart(text)  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)
    message = str(caught.value)
    assert message == f"TextPart: the text must be a str, not {type(text).__name__}"
    assert "Attribute(" not in message


@pytest.mark.parametrize("part", [amas.ImagePart, amas.FilePart])
def test_image_and_file_parts_refuse_a_url_that_is_not_a_str(part: Any) -> None:
    with pytest.raises(amas.InvalidContentError, match=rf"^{part.__name__}: the URL must be a str"):
        part(3)


# ---- 3. a text-mode file object -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["images", "files"])
async def test_a_text_mode_file_of_binary_content_is_refused_before_sending(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(PNG_HEAD * 4)
    upload = amas_client.images.upload if kind == "images" else amas_client.files.upload
    with path.open(encoding="utf-8") as handle:  # text mode: the mistake under test
        with pytest.raises(amas.InvalidContentError) as caught:
            await upload(handle)  # type: ignore[arg-type]
        assert handle.tell() == 0  # refused before it was read
    assert isinstance(caught.value, TypeError)
    assert str(caught.value) == (
        f"the file object {str(path)!r} is open in text mode; open it with 'rb' for an upload"
    )
    assert amas_emulator.requests == []


async def test_a_text_stream_is_refused_before_it_is_read(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    text = io.StringIO("plain text")
    with pytest.raises(amas.InvalidContentError, match="open in text mode"):
        await amas_client.files.upload(text, filename="notes.txt")  # type: ignore[arg-type]
    assert text.tell() == 0
    assert amas_emulator.requests == []


async def test_a_decoding_reader_of_binary_content_is_refused(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    reader = codecs.getreader("utf-8")(io.BytesIO(PNG_HEAD))  # not an io.TextIOBase
    with pytest.raises(amas.InvalidContentError, match="open in text mode"):
        await amas_client.images.upload(reader, filename="photo.png")
    assert amas_emulator.requests == []


async def test_a_binary_file_object_still_uploads(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"Opening hours: 9 to 5.")
    with path.open("rb") as handle:
        stored = await amas_client.files.upload(handle)
    assert stored.original_filename == "notes.txt"
    assert sent_to(amas_emulator, "/files/") == ["POST"]


# ---- 4. the message for empty content -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["images", "files"])
async def test_empty_bytes_say_so_plainly(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, kind: str
) -> None:
    upload = amas_client.images.upload if kind == "images" else amas_client.files.upload
    with pytest.raises(amas.InvalidFileError) as caught:
        await upload(b"", filename="empty.png")
    assert str(caught.value) == "cannot upload: the bytes given are empty (0 bytes)"
    assert caught.value.path is None
    assert amas_emulator.requests == []


def test_empty_inline_image_and_empty_path_messages(tmp_path: Path) -> None:
    with pytest.raises(amas.InvalidFileError, match=r"^cannot upload: the image is empty"):
        amas.ImagePart.from_bytes(b"")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(amas.InvalidFileError) as caught:
        amas.ImagePart.from_path(empty)
    assert str(caught.value) == f"cannot upload {str(empty)!r}: it is empty (0 bytes)"


# ---- 5. limits and a deadline that cannot work --------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_connections": -1},
        {"max_connections": 0},
        {"max_per_host": -1},
        {"keepalive_timeout": -1},
        {"keepalive_timeout": 0},
        {"keepalive_timeout": float("nan")},
        {"keepalive_timeout": float("inf")},
    ],
)
def test_limits_out_of_range_are_refused(kwargs: dict[str, Any]) -> None:
    (name,) = kwargs
    with pytest.raises(amas.InvalidRequestError, match=rf"^Limits\.{name} must be"):
        amas.Limits(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_connections": "10"},
        {"max_connections": 2.5},
        {"max_connections": True},
        {"max_per_host": None},
        {"keepalive_timeout": "30"},
        {"keepalive_timeout": None},
    ],
)
def test_limits_of_the_wrong_type_are_refused(kwargs: dict[str, Any]) -> None:
    (name,) = kwargs
    with pytest.raises(amas.InvalidContentError, match=rf"^Limits\.{name} must be"):
        amas.Limits(**kwargs)


def test_limits_in_range_are_kept() -> None:
    limits = amas.Limits(max_connections=1, max_per_host=0, keepalive_timeout=0.5)
    assert (limits.max_connections, limits.max_per_host, limits.keepalive_timeout) == (1, 0, 0.5)
    assert amas.Limits(max_per_host=4, keepalive_timeout=2).max_per_host == 4


@pytest.mark.parametrize("deadline", [0, 0.0, -1])
def test_a_deadline_of_zero_or_less_is_refused(deadline: float) -> None:
    with pytest.raises(amas.InvalidRequestError, match=r"^RetryPolicy\.deadline must be"):
        amas.RetryPolicy(deadline=deadline)


async def test_no_deadline_and_a_short_one_still_work(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    assert amas.RetryPolicy(deadline=None).deadline is None
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url,
        api_key=amas_emulator.api_key,
        retry=amas.RetryPolicy(deadline=0.5),
    ) as client:
        session = await client.sessions.create(FLAT)
        assert (await session.status()).session_id == session.id


# ---- 6. the legacy execute answer gets the call's session id ------------------------------------


def legacy_client(answer: dict[str, Any]) -> tuple[amas.AsyncAmas, MockTransport]:
    transport = MockTransport(lambda request: amas.Response(200, json=answer))
    return amas.AsyncAmas(api_key="sk-test", base_url=API, transport=transport), transport


async def test_the_legacy_answer_gets_the_session_id_of_the_call() -> None:
    client, transport = legacy_client(
        {"success": True, "message_id": "m-1", "response": {"content": "Hello C"}}
    )
    async with client:
        result = await client.session("s-1").execute("Hi")
        direct = await client.runtime.execute("s-2", "Hi")
    assert (result.session_id, result.text, result.execution_id) == ("s-1", "Hello C", "m-1")
    assert direct.session_id == "s-2"
    assert [r.url for r in transport.requests] == [
        f"{API}/runtime/s-1/execute/",
        f"{API}/runtime/s-2/execute/",
    ]


async def test_a_failed_legacy_run_carries_the_session_id() -> None:
    client, _ = legacy_client({"success": False, "message_id": "m-2", "response": {}})
    async with client:
        with pytest.raises(amas.ExecutionError) as caught:
            await client.runtime.execute("s-9", "Hi")
    assert caught.value.execution.session_id == "s-9"
    assert caught.value.status == "error"


async def test_a_batch_result_of_the_legacy_answer_names_its_session() -> None:
    client, _ = legacy_client(
        {"success": True, "message_id": "m-3", "response": {"content": "Hello"}}
    )
    async with client:
        (result,) = await client.runtime.execute_many([{"session_id": "s-5", "content": "Hi"}])
    assert result.ok
    assert result.execution is not None
    assert result.execution.session_id == "s-5"


async def test_an_answer_naming_its_session_keeps_it() -> None:
    client, _ = legacy_client(
        {
            "type": "execution_result",
            "session_id": "from-the-answer",
            "status": "completed",
            "messages": [{"role": "assistant", "content": "B"}],
        }
    )
    async with client:
        result = await client.runtime.execute("s-1", "Hi")
    assert result.session_id == "from-the-answer"


async def test_a_filled_in_session_id_keeps_the_timestamps() -> None:
    client, _ = legacy_client(
        {
            "type": "execution_result",
            "status": "completed",
            "created_at": 1736935800,
            "messages": [{"role": "assistant", "content": "B", "created_at": 1736935815}],
        }
    )
    async with client:
        result = await client.runtime.execute("s-1", "Hi")
    assert result.session_id == "s-1"
    assert result.created_at is not None
    assert result.created_at.year == 2025
    assert result.messages[0].created_at is not None


# ---- 7. a failed file's reason ------------------------------------------------------------------


async def test_a_failed_file_quotes_the_servers_reason(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    stored = await amas_client.files.upload(b"Opening hours: 9 to 5.", filename="notes.txt")
    amas_emulator.fail_processing(stored.id, "cannot read")
    with pytest.raises(amas.ProcessingError) as caught:
        await amas_client.files.wait(stored.id)
    assert str(caught.value) == f"file {stored.id} ended with status 'error': cannot read"
    assert caught.value.status == "error"
    assert caught.value.result.id == stored.id


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({}, None),
        ({"error_message": "   "}, None),
        ({"error": "bad encoding"}, "bad encoding"),
        ({"error": {"message": "too many pages"}}, "too many pages"),
    ],
)
async def test_a_failed_file_without_error_message(extra: dict[str, Any], said: str | None) -> None:
    answer = {"id": "f-1", "status": "error", **extra}
    transport = MockTransport(lambda request: amas.Response(200, json=answer))
    async with amas.AsyncAmas(api_key="sk-test", base_url=API, transport=transport) as client:
        with pytest.raises(amas.ProcessingError) as caught:
            await client.files.wait("f-1")
    expected = "file f-1 ended with status 'error'"
    assert str(caught.value) == (expected if said is None else f"{expected}: {said}")
