"""The documented JSON examples: what the SDK sends for them, and how it reads them back.

The examples are the docs' own sample bodies, copied from ``shared/amas-api/examples`` into
``tests/data/examples`` (see its README) so that they are tested in every checkout; a test keeps
the copy identical to the shared spec wherever that is present. Every request example must go
out JSON-equal, whatever form the user gave it in; every response example must parse without
losing a field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from yarl import URL

import amas_async as amas

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "amas-api" / "examples"
BASE = "https://amas.test/api/v1"
SESSION_ID = "session_abc123"


@pytest.mark.skipif(not SHARED.is_dir(), reason="no shared/ checkout beside this one")
def test_vendored_examples_match_the_shared_spec() -> None:
    """tests/data/examples is a copy of shared/amas-api/examples: keep them identical."""
    for copy in EXAMPLES.glob("*.json"):
        assert copy.read_bytes() == (SHARED / copy.name).read_bytes(), copy.name
    assert {p.name for p in SHARED.glob("*.json")} == {p.name for p in EXAMPLES.glob("*.json")}
    # The examples' README links to ../SPEC.md: the spec is vendored beside them, also identical.
    assert (EXAMPLES / "README.md").read_bytes() == (SHARED / "README.md").read_bytes()
    assert (EXAMPLES.parent / "SPEC.md").read_bytes() == (SHARED.parent / "SPEC.md").read_bytes()


def test_the_examples_readme_links_resolve() -> None:
    """Every relative link of the vendored examples' README points at a file that is here."""
    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"`(\.\./[^`]+|[\w-]+\.json)`", text)
    assert "../SPEC.md" in targets
    for target in targets:
        assert (EXAMPLES / target).exists(), target


CREATE_REQUESTS = {
    # request example -> the response example the server answers with
    "sessions-create-flat.request.json": "sessions-create-flat.response.json",
    "sessions-create-inline-basic.request.json": "sessions-create-inline-basic.response.json",
    "sessions-create-inline.request.json": "sessions-create-inline-basic.response.json",
}
EXECUTE_REQUESTS = [
    "execute-text.request.json",
    "execute-text-followup.request.json",
    "execute-legacy.request.json",
    "execute-multimodal.request.json",
    "execute-inputs-first.request.json",
    "execute-inputs-second.request.json",
    "execute-inputs-generic.request.json",
    "execute-inputs-session-level.request.json",
]


def load(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def calls(mock: aioresponses, method: str, url: str) -> list[RequestCall]:
    assert mock.requests is not None
    parsed = URL(url)
    key = (method, parsed.with_query(sorted(parsed.query.items())))
    return list(mock.requests.get(key, []))


def sent_json(call: RequestCall) -> Any:
    data = call.kwargs["data"]
    assert isinstance(data, bytes), f"the body should be encoded bytes, got {type(data)}"
    return json.loads(data)


def sent_body(call: RequestCall) -> tuple[str, Any]:
    """The body's Content-Type and the value it holds (YAML configs go as YAML)."""
    data = call.kwargs["data"]
    assert isinstance(data, bytes), f"the body should be encoded bytes, got {type(data)}"
    headers = {k.lower(): v for k, v in (call.kwargs.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json")
    if content_type == "application/yaml":
        return content_type, yaml.safe_load(data)
    return content_type, json.loads(data)


def aware(value: int | str) -> datetime:
    """What a documented timestamp means: Unix seconds or ISO 8601 with a zone."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_utc(value: datetime | None, expected: int | str) -> None:
    assert isinstance(value, datetime)
    assert value.tzinfo is not None, "timestamps must be timezone-aware"
    assert value == aware(expected)


def test_every_request_example_is_covered() -> None:
    on_disk = {p.name for p in EXAMPLES.glob("sessions-create-*.request.json")}
    on_disk |= {p.name for p in EXAMPLES.glob("execute-*.request.json")}
    assert on_disk == set(CREATE_REQUESTS) | set(EXECUTE_REQUESTS)


# ---- sessions.create: every config form sends the example unchanged -------------------------

CONFIG_FORMS: dict[str, Callable[[dict[str, Any], Path], object]] = {
    "mapping": lambda example, _: example,
    "SessionConfig.from_dict": lambda example, _: amas.SessionConfig.from_dict(example),
    "yaml-file": lambda example, tmp: _write(tmp / "config.yaml", yaml.safe_dump(example)),
    "yaml-file-as-str": lambda example, tmp: str(
        _write(tmp / "config.yml", yaml.safe_dump(example, sort_keys=False))
    ),
    "yaml-text": lambda example, _: yaml.safe_dump(example),
    "yaml-text-unsorted": lambda example, _: yaml.safe_dump(example, sort_keys=False),
    "json-file": lambda example, tmp: _write(tmp / "config.json", json.dumps(example, indent=2)),
    "SessionConfig.from_yaml(path)": lambda example, tmp: amas.SessionConfig.from_yaml(
        _write(tmp / "c.yaml", yaml.safe_dump(example))
    ),
    "SessionConfig.from_yaml(text)": lambda example, _: amas.SessionConfig.from_yaml(
        yaml.safe_dump(example)
    ),
}


def _written(config: object) -> bytes:
    """The bytes of YAML text, or of the YAML file a path names."""
    if isinstance(config, str) and "\n" in config:
        return config.encode()
    assert isinstance(config, (str, Path))
    return Path(config).read_bytes()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("form", list(CONFIG_FORMS))
@pytest.mark.parametrize("request_name", list(CREATE_REQUESTS))
async def test_sessions_create_sends_the_documented_body(
    request_name: str,
    form: str,
    tmp_path: Path,
    client: amas.AsyncAmas,
    mock_api: aioresponses,
) -> None:
    example = load(request_name)
    answer = load(CREATE_REQUESTS[request_name])
    mock_api.post(f"{BASE}/sessions/", payload=answer)

    config = CONFIG_FORMS[form](load(request_name), tmp_path)
    session = await client.sessions.create(config)  # type: ignore[arg-type]

    (call,) = calls(mock_api, "POST", f"{BASE}/sessions/")
    content_type, sent = sent_body(call)
    assert sent == example
    # Text and files go as written: YAML as YAML, JSON as JSON; models and mappings as JSON.
    written_yaml = form.startswith("yaml-")
    assert content_type == ("application/yaml" if written_yaml else "application/json")
    if written_yaml:
        assert call.kwargs["data"] == _written(config)
    assert session.id == answer["session_id"]


# ---- execute: every documented request body -------------------------------------------------


def _execute_kwargs(example: Mapping[str, Any]) -> dict[str, Any]:
    assert set(example) <= {"content", "inputs", "correlation_id"}, example
    return {"inputs": example.get("inputs"), "correlation_id": example.get("correlation_id")}


@pytest.mark.parametrize("via", ["runtime", "session"])
@pytest.mark.parametrize("request_name", EXECUTE_REQUESTS)
async def test_execute_sends_the_documented_body(
    request_name: str, via: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    url = f"{BASE}/runtime/{SESSION_ID}/execute/"
    mock_api.post(url, payload=load("execute-text.response.json"))
    example = load(request_name)

    if via == "runtime":
        await client.runtime.execute(SESSION_ID, example["content"], **_execute_kwargs(example))
    else:
        session = client.session(SESSION_ID)
        await session.execute(example["content"], **_execute_kwargs(example))

    (call,) = calls(mock_api, "POST", url)
    assert sent_json(call) == example


MULTIMODAL_CONTENT: dict[str, Callable[[], Any]] = {
    "parts": lambda: [
        amas.TextPart("What's in this image?"),
        amas.ImagePart("https://example.com/image.jpg"),
    ],
    "parts-tuple": lambda: (
        amas.TextPart("What's in this image?"),
        amas.ImagePart("https://example.com/image.jpg"),
    ),
    "upload": lambda: [
        amas.TextPart("What's in this image?"),
        amas.ImageUpload("https://example.com/image.jpg", media_type="image/jpeg", size=10),
    ],
    "str-and-part": lambda: [
        "What's in this image?",
        amas.ImagePart("https://example.com/image.jpg"),
    ],
    "raw-mappings": lambda: load("execute-multimodal.request.json")["content"],
    "mixed": lambda: [
        {"type": "text", "text": "What's in this image?"},
        amas.ImagePart("https://example.com/image.jpg"),
    ],
}


@pytest.mark.parametrize("form", list(MULTIMODAL_CONTENT))
async def test_multimodal_content_forms_send_the_documented_body(
    form: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    url = f"{BASE}/runtime/{SESSION_ID}/execute/"
    mock_api.post(url, payload=load("execute-text.response.json"))

    await client.session(SESSION_ID).execute(MULTIMODAL_CONTENT[form]())

    (call,) = calls(mock_api, "POST", url)
    assert sent_json(call) == load("execute-multimodal.request.json")


# ---- response examples: parsed without losing a field ----------------------------------------

# response key -> Session attribute; keys only kept in .raw are listed in SESSION_RAW_ONLY
SESSION_FIELDS = {
    "session_id": "id",
    "config_hash": "config_hash",
    "agent_id": "agent_id",
    "agent_key": "agent_key",
    "agent_name": "agent_name",
    "created_at": "created_at",
    "status": "state",
    "agent_config": "agent_config",
}
SESSION_RAW_ONLY = {"success"}


def _check_session(session: amas.Session, example: Mapping[str, Any]) -> None:
    for key, value in example.items():
        if key in SESSION_RAW_ONLY:
            continue
        assert key in SESSION_FIELDS, f"response key {key!r} is not mapped to a Session field"
        attribute = getattr(session, SESSION_FIELDS[key])
        if key == "created_at":
            assert_utc(attribute, value)
        else:
            assert attribute == value, key
    for key, attribute_name in SESSION_FIELDS.items():
        if key not in example:
            assert getattr(session, attribute_name) is None, attribute_name
    assert session.raw == example


@pytest.mark.parametrize(
    "response_name",
    ["sessions-create-flat.response.json", "sessions-create-inline-basic.response.json"],
)
async def test_sessions_create_response(
    response_name: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    example = load(response_name)
    mock_api.post(f"{BASE}/sessions/", payload=example)
    session = await client.sessions.create(load("sessions-create-flat.request.json"))
    _check_session(session, example)


async def test_sessions_get_response(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    example = load("sessions-get.response.json")
    mock_api.get(f"{BASE}/sessions/{SESSION_ID}/", payload=example)
    session = await client.sessions.get(SESSION_ID)
    _check_session(session, example)
    assert session.state == "active"
    assert session.agent_config == example["agent_config"]


async def test_sessions_from_agent_by_id_response(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    example = load("sessions-from-agent-by-id.response.json")
    agent_id = example["agent_id"]
    mock_api.post(f"{BASE}/sessions/from-agent/{agent_id}/", payload=example)
    session = await client.sessions.from_agent(agent_id=agent_id)
    _check_session(session, example)


async def test_sessions_from_agent_by_key_response(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    example = load("sessions-from-agent-by-key.response.json")
    mock_api.get(f"{BASE}/sessions/from-agent/?agent_key=agent_456def", payload=example)
    session = await client.sessions.from_agent("agent_456def")
    _check_session(session, example)


async def test_sessions_from_agent_tutorial_response(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    # SPEC 2.2: the tutorial's version of the same call (no example file exists for it).
    example = {
        "success": True,
        "session_id": "sess_1",
        "config_hash": "h",
        "agent_id": "550e8400-e29b-41d4-a716-446655440000",
        "agent_name": "Support Agent",
    }
    mock_api.get(f"{BASE}/sessions/from-agent/?agent_key=support_agent", payload=example)
    session = await client.sessions.from_agent("support_agent")
    _check_session(session, example)


async def test_execute_text_response(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    example = load("execute-text.response.json")
    mock_api.post(f"{BASE}/runtime/{SESSION_ID}/execute/", payload=example)

    result = await client.runtime.execute(SESSION_ID, "Hello! I need help with my account.")

    assert isinstance(result, amas.Execution)
    assert result.session_id == example["id"]
    assert result.status == "completed"
    assert result.ok
    assert_utc(result.created_at, example["created_at"])
    assert_utc(result.completed_at, example["completed_at"])
    assert result.execution_time == example["execution_time"]
    assert result.metadata == example["metadata"]
    assert result.execution_id == "exec_789"
    assert result.correlation_id is None
    assert result.usage == amas.Usage(input_tokens=125, output_tokens=42)
    assert result.usage is not None
    assert result.usage.total_tokens == 167
    assert len(result.messages) == 1
    message, wire = result.messages[0], example["messages"][0]
    assert (message.id, message.role, message.content) == (
        wire["id"],
        wire["role"],
        wire["content"],
    )
    assert_utc(message.created_at, wire["created_at"])
    assert message.raw == wire
    assert result.text == wire["content"]
    assert result.raw == example
    # "object" and "config" have no field of their own: they must survive in raw
    assert result.raw["object"] == "agent.session"
    assert result.raw["config"] == {}


async def test_execute_legacy_response(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    example = load("execute-legacy.response.json")
    mock_api.post(f"{BASE}/runtime/{SESSION_ID}/execute/", payload=example)

    result = await client.runtime.execute(SESSION_ID, "What is the weather like today?")

    assert result.status == "completed"
    assert result.text == example["response"]["content"]
    assert result.correlation_id == "corr_123"
    assert list(result.tool_calls) == example["response"]["tool_calls"]
    assert len(result.messages) == 1
    assert result.messages[0].id == example["message_id"]
    assert result.messages[0].role == "assistant"
    assert result.usage is None
    assert result.raw == example


async def test_execute_result_shape_b(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    # SPEC 3.1 (B): the CONNECT page's field list (prose only, so built by hand here)
    example = {
        "type": "execution_result",
        "client_type": "backend",
        "session_id": SESSION_ID,
        "status": "completed",
        "execution_time": 2.5,
        "messages": [
            {"id": "m1", "role": "user", "content": "Hi", "created_at": "2025-01-15T10:30:00Z"},
            {"id": "m2", "role": "assistant", "content": "Hello!", "created_at": 1704067210},
        ],
    }
    mock_api.post(f"{BASE}/runtime/{SESSION_ID}/execute/", payload=example)

    result = await client.runtime.execute(SESSION_ID, "Hi")

    assert result.session_id == SESSION_ID
    assert result.status == "completed"
    assert result.execution_time == 2.5
    assert [m.id for m in result.messages] == ["m1", "m2"]
    assert [m.role for m in result.messages] == ["user", "assistant"]
    assert_utc(result.messages[0].created_at, "2025-01-15T10:30:00Z")
    assert_utc(result.messages[1].created_at, 1704067210)
    assert result.text == "Hello!"
    assert result.usage is None
    assert result.raw == example


async def test_runtime_messages_response(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    example = load("runtime-messages.response.json")
    mock_api.get(f"{BASE}/runtime/{SESSION_ID}/messages/?limit=50&offset=0", payload=example)

    page = await client.runtime.messages(SESSION_ID)

    assert isinstance(page, amas.MessagePage)
    assert page.total == 2
    assert page.has_more is False
    assert page.next_offset is None
    assert len(page.messages) == len(example["messages"])
    for message, wire in zip(page.messages, example["messages"], strict=True):
        assert set(wire) == {"id", "role", "content", "timestamp"}
        assert message.id == wire["id"]
        assert message.role == wire["role"]
        assert message.content == wire["content"]
        assert message.text == wire["content"]
        assert_utc(message.created_at, wire["timestamp"])
        assert message.raw == wire
    assert page.raw == example


async def test_runtime_status_response(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    example = load("runtime-status.response.json")
    mock_api.get(f"{BASE}/runtime/{SESSION_ID}/status/", payload=example)

    status = await client.runtime.status(SESSION_ID)

    assert isinstance(status, amas.SessionStatus)
    assert status.session_id == example["session_id"]
    assert status.status == "active"
    assert status.message_count == 12
    assert_utc(status.last_activity, example["last_activity"])
    assert_utc(status.created_at, example["created_at"])
    assert status.health == "healthy"
    assert status.raw == example
    assert set(example) == {
        "session_id",
        "status",
        "message_count",
        "last_activity",
        "created_at",
        "health",
    }


@pytest.mark.parametrize(
    ("response_name", "status", "error_class"),
    [
        ("error-401-unauthorized.response.json", 401, amas.AuthenticationError),
        ("error-401-expired-key.response.json", 401, amas.AuthenticationError),
        ("error-403-forbidden.response.json", 403, amas.PermissionDeniedError),
    ],
)
async def test_error_responses(
    response_name: str,
    status: int,
    error_class: type[amas.APIStatusError],
    client: amas.AsyncAmas,
    mock_api: aioresponses,
) -> None:
    example = load(response_name)
    mock_api.get(f"{BASE}/sessions/{SESSION_ID}/", status=status, payload=example)

    with pytest.raises(error_class) as caught:
        await client.sessions.get(SESSION_ID)

    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message == example["error"]["message"]
    assert error.error_type == example["error"]["type"]
    assert error.body == example
    assert example["error"]["message"] in str(error)
    assert "test-key" not in str(error)
    assert "test-key" not in repr(error)


async def test_images_upload_response(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    # SPEC 2.4: the REST tutorial's prose shape {url, media_type, size}
    example = {"url": "https://cdn.amas.test/img/abc.png", "media_type": "image/png", "size": 24}
    mock_api.post(f"{BASE}/images/upload/", payload=example)

    upload = await client.images.upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)

    assert isinstance(upload, amas.ImageUpload)
    assert (upload.url, upload.media_type, upload.size) == (
        example["url"],
        example["media_type"],
        example["size"],
    )
    assert upload.raw == example
