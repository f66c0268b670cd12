"""Local validation: bad configs, ids, content, inputs, uploads and timeouts fail before sending.

``mock_api`` has no routes unless a test adds one: a request that did go out would surface as an
APIConnectionError instead of the expected error, and ``mock_api.requests`` stays empty.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aioresponses import aioresponses

import amas_async as amas

BASE = "https://amas.test/api/v1"
SID = "session_abc123"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
EXECUTION = {"status": "completed", "messages": [{"role": "assistant", "content": "ok"}]}


def nothing_sent(mock: aioresponses) -> None:
    assert mock.requests == {}


def agent(name: str, agent_type: str = "llm_agent", **more: Any) -> dict[str, Any]:
    return {"name": name, "agent_type": agent_type, **more}


def multi(agents: Any, edges: Any = None, **more: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"name": "cfg", "agents": agents, **more}
    if edges is not None:
        config["edges"] = edges
    return config


AB = [agent("a"), agent("b")]

# (id, config, the field ConfigValidationError must name)
BAD_CONFIGS: list[tuple[str, Any, str]] = [
    ("entry-point-not-an-agent", multi(AB, entry_point="c"), "entry_point"),
    ("entry-point-is-start", multi(AB, entry_point="__start__"), "entry_point"),
    (
        "edge-to-unknown",
        multi(AB, [{"from": "__start__", "to": "a"}, {"from": "a", "to": "ghost"}]),
        "edges[1].to",
    ),
    ("edge-from-unknown", multi(AB, [{"from": "ghost", "to": "a"}]), "edges[0].from"),
    ("edge-from-end", multi(AB, [{"from": "__end__", "to": "a"}]), "edges[0].from"),
    ("edge-to-start", multi(AB, [{"from": "a", "to": "__start__"}]), "edges[0].to"),
    ("edge-without-from", multi(AB, [{"to": "a"}]), "edges[0].from"),
    ("edge-without-target", multi(AB, [{"from": "a"}]), "edges[0].to"),
    ("edge-not-a-mapping", multi(AB, ["a->b"]), "edges[0].from"),
    ("edges-not-a-list", multi(AB, "a->b"), "edges"),
    (
        "routing-to-unknown",
        multi(
            AB,
            [
                {
                    "from": "a",
                    "condition": "ok?",
                    "condition_type": "boolean",
                    "routing": {"yes": "b", "no": "ghost"},
                }
            ],
        ),
        "edges[0].to",
    ),
    (
        "possible-outputs-unknown",
        multi(
            AB,
            [
                {
                    "from": "a",
                    "condition": "which?",
                    "condition_type": "literal",
                    "possible_outputs": ["b", "ghost"],
                }
            ],
        ),
        "edges[0].to",
    ),
    ("no-agents", {"name": "cfg"}, "agents"),
    ("no-agents-but-a-prompt", {"name": "cfg", "system_prompt": "hi"}, "agents"),
    ("empty-agents", multi([]), "agents"),
    ("agents-not-a-list", multi({"a": agent("a")}), "agents"),
    ("agents-a-string", multi("a, b"), "agents"),
    ("agent-not-a-mapping", multi([agent("a"), 5]), "agents[1]"),
    ("unknown-agent-type", multi([agent("a", "wizard")]), "agents[0].agent_type"),
    ("unknown-agent-type-second", multi([agent("a"), agent("b", "LLM")]), "agents[1].agent_type"),
    ("unknown-agent-type-flat", {"name": "cfg", "agent_type": "wizard"}, "agent_type"),
    ("missing-config-name", {"agent_type": "llm_agent"}, "name"),
    ("blank-config-name", {"name": "  ", "agent_type": "llm_agent"}, "name"),
    ("missing-agent-name", multi([agent("a"), {"agent_type": "llm_agent"}]), "agents[1].name"),
    ("blank-agent-name", multi([agent("")]), "agents[0].name"),
    ("duplicate-agent-names", multi([agent("a"), agent("b"), agent("a")]), "agents[2].name"),
    ("reserved-agent-name", multi([agent("__end__")]), "agents[0].name"),
    (
        "supervised-unknown",
        multi([agent("boss", "supervisor", supervised_agents=["a", "ghost"]), agent("a")]),
        "agents[0].supervised_agents",
    ),
    ("recursion-limit-not-a-number", {**multi(AB), "recursion_limit": "deep"}, "recursion_limit"),
]


@pytest.mark.parametrize(
    ("config", "field"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
@pytest.mark.parametrize("form", ["mapping", "yaml-text"])
async def test_bad_config_fails_before_sending(
    form: str, config: Any, field: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    source = config if form == "mapping" else yaml.safe_dump(config)
    with pytest.raises(amas.ConfigValidationError) as caught:
        await client.sessions.create(source)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert caught.value.reason
    assert isinstance(caught.value, amas.InvalidRequestError)
    assert isinstance(caught.value, ValueError)
    nothing_sent(mock_api)


@pytest.mark.parametrize(
    ("config", "field"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_fails_in_session_config(config: Any, field: str) -> None:
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_dict(config).validate()
    assert caught.value.field == field


async def test_bad_config_file_fails_before_sending(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(multi([agent("a", "wizard")])), encoding="utf-8")
    with pytest.raises(amas.ConfigValidationError) as caught:
        await client.sessions.create(path)
    assert caught.value.field == "agents[0].agent_type"
    nothing_sent(mock_api)


async def test_bad_session_config_object_fails_before_sending(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    config = amas.SessionConfig(
        name="x",
        agents=[amas.AgentConfig(name="a", agent_type="llm_agent")],
        edges=[amas.Edge("a", "b")],
    )
    with pytest.raises(amas.ConfigValidationError) as caught:
        await client.sessions.create(config)
    assert caught.value.field == "edges[0].to"
    nothing_sent(mock_api)


async def test_missing_config_file_fails_before_sending(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(amas.InputFileNotFoundError) as caught:
        await client.sessions.create(path)
    assert str(path) in str(caught.value)
    nothing_sent(mock_api)


@pytest.mark.parametrize("config", [42, None, ["name", "x"], b"name: x\n", 1.5])
async def test_config_of_the_wrong_type(
    config: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(TypeError) as caught:
        await client.sessions.create(config)
    assert isinstance(caught.value, amas.InvalidContentError)
    assert "SessionConfig" in str(caught.value)
    nothing_sent(mock_api)


async def test_valid_edge_cases_are_accepted(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.post(f"{BASE}/sessions/", payload={"session_id": "s"}, repeat=True)
    for config in (
        multi([agent("a"), {"name": "b"}]),  # agent_type may be left to the server
        multi(AB, [{"from": "__start__", "to": "a"}, {"from": "a", "to": "__end__"}]),
        {"name": "flat", "agent_type": "supervisor"},
        multi(
            [agent("boss", "supervisor", supervised_agents=["a"]), agent("a")], entry_point="boss"
        ),
    ):
        await client.sessions.create(config)
    assert mock_api.requests is not None
    assert sum(len(v) for v in mock_api.requests.values()) == 4


# ---- session ids --------------------------------------------------------------------------

BAD_IDS: list[Any] = [
    "",
    "   ",
    5,
    None,
    b"abc",
    "a/b",
    "/",
    "a?b",
    "a#b",
    "..",
    ".",
    "a/../b",
    "a\\b",
    "a\nb",
    "a\x00b",
]


def _id_calls() -> dict[str, Callable[[amas.AsyncAmas, Any], Awaitable[object] | object]]:
    async def iterate(client: amas.AsyncAmas, sid: Any) -> None:
        async for _ in client.runtime.iter_messages(sid):
            pass  # pragma: no cover

    return {
        "client.session": lambda c, sid: c.session(sid),
        "sessions.get": lambda c, sid: c.sessions.get(sid),
        "execute": lambda c, sid: c.runtime.execute(sid, "hi"),
        "messages": lambda c, sid: c.runtime.messages(sid),
        "iter_messages": iterate,
        "status": lambda c, sid: c.runtime.status(sid),
        "from_agent-by-id": lambda c, sid: c.sessions.from_agent(agent_id=sid),
    }


async def _invoke(call: str, client: amas.AsyncAmas, session_id: Any) -> None:
    result = _id_calls()[call](client, session_id)
    if isinstance(result, Awaitable):
        await result


@pytest.mark.parametrize("call", list(_id_calls()))
@pytest.mark.parametrize("bad_id", BAD_IDS, ids=[repr(i) for i in BAD_IDS])
async def test_bad_ids_are_rejected_before_sending(
    call: str, bad_id: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await _invoke(call, client, bad_id)
    nothing_sent(mock_api)


@pytest.mark.parametrize(
    ("session_id", "segment"),
    [
        ("session_abc123", "session_abc123"),
        ("820d6859-60d0-48f2-a4fc-c8dad229d311", "820d6859-60d0-48f2-a4fc-c8dad229d311"),
        ("my session", "my%20session"),
        ("sessión", "sessi%C3%B3n"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        ("a%2Fb", "a%252Fb"),
        ("a:b@c", "a:b@c"),
        ("a+b", None),  # '+' and the sub-delims below are legal in a path: escaped or not
        ("a;b", None),
        ("a&b=c", None),
        ("it's(1)!", None),
    ],
)
@pytest.mark.parametrize("call", ["get", "status", "execute"])
async def test_ids_are_percent_escaped_in_the_path(
    call: str,
    session_id: str,
    segment: str | None,
    client: amas.AsyncAmas,
    mock_api: aioresponses,
) -> None:
    anything = re.compile(r"https://amas\.test/.*")
    if call == "get":
        mock_api.get(anything, payload={"session_id": session_id})
        await client.sessions.get(session_id)
        template = "/api/v1/sessions/{}/"
    elif call == "status":
        mock_api.get(anything, payload={"status": "active"})
        await client.session(session_id).status()
        template = "/api/v1/runtime/{}/status/"
    else:
        mock_api.post(anything, payload=EXECUTION)
        await client.session(session_id).execute("hi")
        template = "/api/v1/runtime/{}/execute/"
    assert mock_api.requests is not None
    ((_, url),) = mock_api.requests.keys()
    assert url.host == "amas.test"
    assert url.query_string == ""
    assert url.fragment == ""
    assert url.path == template.format(session_id)  # the id is exactly one segment
    assert url.raw_path.count("/") == template.count("/")
    if segment is not None:
        assert url.raw_path == template.format(segment)


# ---- execute content and inputs -------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        42,
        None,
        b"bytes",
        bytearray(b"x"),
        {"a set"},
        3.5,
        [1],
        [amas.TextPart("ok"), 2],
        [None],
        [b"x"],
        [["nested"]],
        object(),
    ],
    ids=[
        "int",
        "None",
        "bytes",
        "bytearray",
        "set",
        "float",
        "list-int",
        "list-part-int",
        "list-None",
        "list-bytes",
        "nested-list",
        "object",
    ],
)
async def test_content_of_the_wrong_type(
    content: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(TypeError) as caught:
        await client.runtime.execute(SID, content)
    assert isinstance(caught.value, amas.InvalidContentError)
    message = str(caught.value)
    for accepted in ("str", "TextPart", "ImagePart", "FilePart", "ImageUpload", "mapping"):
        assert accepted in message
    nothing_sent(mock_api)


@pytest.mark.parametrize(
    "content",
    [
        [],
        (),
        [{"text": "no type"}],
        [{"type": "", "text": "blank type"}],
        [{"type": None}],
        [{"type": "text"}],
        [{"type": "image_url", "url": "https://x"}],
        [{"type": "file", "url": "https://x"}],
        [amas.TextPart("ok"), {"image_url": {"url": "u"}}],
    ],
    ids=[
        "empty-list",
        "empty-tuple",
        "no-type",
        "blank-type",
        "none-type",
        "text-without-text",
        "image-without-image_url",
        "file-without-file_url",
        "second-part-without-type",
    ],
)
async def test_content_with_bad_parts(
    content: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.runtime.execute(SID, content)
    nothing_sent(mock_api)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("javascript:alert(1)", "javascript"),
        ("ftp://files.test/a.png", "ftp"),
        ("gopher://x.test/", "gopher"),
        ("FILE:///etc/passwd", "file"),
    ],
)
def test_part_urls_with_other_schemes_are_refused(url: str, scheme: str) -> None:
    for make in (amas.ImagePart, amas.FilePart):
        with pytest.raises(amas.InvalidContentError) as caught:
            make(url)
        message = str(caught.value)
        assert message.startswith(f"{make.__name__}: ")  # names the part
        assert f"scheme {scheme!r}" in message  # and the scheme


@pytest.mark.parametrize(
    "url", ["/etc/passwd", "photo.png", "", " https://x.test/a.png", "https:///a.png", "http://"]
)
def test_part_urls_must_be_absolute_with_a_host(url: str) -> None:
    with pytest.raises(amas.InvalidContentError, match=r"^ImagePart: "):
        amas.ImagePart(url)


def test_data_urls_only_for_images() -> None:
    assert amas.ImagePart("data:image/png;base64,AAAA").url.startswith("data:image/png")
    with pytest.raises(amas.InvalidContentError, match="no image"):
        amas.ImagePart("data:text/html,<script>x</script>")
    with pytest.raises(amas.InvalidContentError, match="scheme 'data'"):
        amas.FilePart("data:application/pdf;base64,AAAA")
    assert amas.ImagePart("http://images.test/a.png").url == "http://images.test/a.png"
    assert amas.FilePart("https://files.test/a.pdf").url == "https://files.test/a.pdf"


@pytest.mark.parametrize(
    ("part", "named"),
    [
        (
            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
            "content[1] (image_url)",
        ),
        ({"type": "image_url", "image_url": "javascript:x"}, "content[1] (image_url)"),
        ({"type": "image_url", "image_url": {"url": 42}}, "content[1] (image_url)"),
        ({"type": "file", "file_url": "file:///etc/passwd"}, "content[1] (file)"),
        ({"type": "file", "file_url": "data:image/png;base64,AA"}, "content[1] (file)"),
    ],
)
async def test_mapping_parts_with_bad_urls_are_refused_before_sending(
    part: dict[str, Any], named: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidContentError) as caught:
        await client.runtime.execute(SID, [amas.TextPart("look"), part])
    assert str(caught.value).startswith(named)
    nothing_sent(mock_api)


async def test_an_upload_with_a_hostile_url_is_not_sent_back(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    """An ImageUpload's URL comes from the server; it is checked like a user's."""
    upload = amas.ImageUpload(url="file:///etc/shadow")
    with pytest.raises(amas.InvalidContentError, match=r"^content\[0\] \(ImageUpload\).*'file'"):
        await client.runtime.execute(SID, [upload])
    nothing_sent(mock_api)


async def test_unknown_part_types_are_passed_through(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    mock_api.post(f"{BASE}/runtime/{SID}/execute/", payload=EXECUTION)
    part = {"type": "audio_url", "audio_url": {"url": "https://x.test/a.mp3"}}
    await client.runtime.execute(SID, [part])
    assert mock_api.requests is not None
    ((call,),) = mock_api.requests.values()
    assert json.loads(call.kwargs["data"]) == {"content": [part]}


async def test_a_single_mapping_part_is_content(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    """The ``Content`` type admits one ContentPart, and ContentPart includes a mapping.

    A single TextPart is accepted and wrapped in a list; a single wire-shape mapping should be
    treated the same way (or the type should not admit it).
    """
    mock_api.post(f"{BASE}/runtime/{SID}/execute/", payload=EXECUTION)
    part = {"type": "text", "text": "hello"}
    await client.runtime.execute(SID, part)
    assert mock_api.requests is not None
    ((call,),) = mock_api.requests.values()
    assert json.loads(call.kwargs["data"]) == {"content": [part]}


@pytest.mark.parametrize("inputs", [["user_id", "u1"], "user_id=u1", 5, ("a", 1), {("a",): 1}])
async def test_inputs_must_be_a_mapping(
    inputs: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises((TypeError, amas.InvalidRequestError)) as caught:
        await client.runtime.execute(SID, "hi", inputs=inputs)
    assert isinstance(caught.value, amas.AmasError)
    nothing_sent(mock_api)


@pytest.mark.parametrize("inputs", [["user_id", "u1"], "user_id=u1", 5])
async def test_inputs_not_a_mapping_is_a_type_error(
    inputs: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(TypeError, match="inputs"):
        await client.runtime.execute(SID, "hi", inputs=inputs)
    nothing_sent(mock_api)


async def test_inputs_with_non_str_keys(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    with pytest.raises(amas.InvalidRequestError, match="inputs"):
        await client.runtime.execute(SID, "hi", inputs={1: "x"})  # type: ignore[dict-item]
    nothing_sent(mock_api)


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes"])
async def test_inputs_that_are_not_json(
    value: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.runtime.execute(SID, "hi", inputs={"v": value})
    nothing_sent(mock_api)


async def _send_with(where: str, client: amas.AsyncAmas, value: float) -> None:
    if where == "inputs":
        await client.runtime.execute(SID, "hi", inputs={"temperature": value})
    else:
        config = {"name": "x", "agent_type": "llm_agent", "llm_config": {"temperature": value}}
        await client.sessions.create(config)


@pytest.mark.parametrize(("where", "value"), [("inputs", float("nan")), ("config", float("inf"))])
async def test_nan_and_infinity_are_rejected_not_sent_as_null(
    where: str, value: float, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    """JSON has no NaN/Infinity. The stdlib encoder path (allow_nan=False) rejects them; the
    orjson path must too, instead of silently sending ``null``."""
    mock_api.post(re.compile(r".*"), payload={"session_id": "s", **EXECUTION}, repeat=True)
    with pytest.raises(amas.InvalidRequestError):
        await _send_with(where, client, value)
    nothing_sent(mock_api)


@pytest.mark.parametrize("correlation_id", [5, b"c", ["c"]])
async def test_correlation_id_must_be_a_str(
    correlation_id: Any, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(TypeError):
        await client.runtime.execute(SID, "hi", correlation_id=correlation_id)
    nothing_sent(mock_api)


# ---- uploads ----------------------------------------------------------------------------------


async def test_upload_missing_path(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "missing.png"
    for source in (path, str(path)):
        with pytest.raises(amas.InputFileNotFoundError) as caught:
            await client.images.upload(source)
        assert caught.value.path == str(path)
        assert str(path) in str(caught.value)
        assert isinstance(caught.value, FileNotFoundError)
    nothing_sent(mock_api)


async def test_upload_directory(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    for upload in (client.images.upload, client.files.upload):
        with pytest.raises(amas.InvalidFileError, match="is a directory") as caught:
            await upload(tmp_path)
        assert caught.value.path == str(tmp_path)
        assert not isinstance(caught.value, FileNotFoundError)  # it is there: not "not found"
    with pytest.raises(amas.InvalidFileError, match="is a directory"):
        amas.ImagePart.from_path(tmp_path)
    nothing_sent(mock_api)


async def test_upload_empty_file_is_refused(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    """A 0-byte ``.png`` used to go out as an image (its type guessed from the name)."""
    path = tmp_path / "photo.png"
    path.write_bytes(b"")
    for upload in (client.images.upload, client.files.upload):
        with pytest.raises(amas.InvalidFileError, match=r"empty \(0 bytes\)") as caught:
            await upload(path)
        assert caught.value.path == str(path)
        assert isinstance(caught.value, amas.InvalidRequestError)
    with pytest.raises(amas.InvalidFileError, match="empty"):
        await client.images.upload(b"", media_type="image/png")
    with pytest.raises(amas.InvalidFileError, match="empty"):
        await client.files.upload(b"", filename="notes.txt")
    with path.open("rb") as handle, pytest.raises(amas.InvalidFileError, match="0 bytes"):
        await client.files.upload(handle)
    with pytest.raises(amas.InvalidFileError, match="empty"):
        amas.ImagePart.from_path(path)
    with pytest.raises(amas.InvalidFileError, match="empty"):
        amas.ImagePart.from_bytes(b"", "image/png")
    nothing_sent(mock_api)


async def test_upload_of_a_device_or_an_unreadable_file(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidFileError, match="not a regular file"):
        await client.files.upload("/dev/null")
    # a path the system cannot even look at (a file used as a directory): unreadable, as root too
    blocked = tmp_path / "photo.png"
    blocked.write_bytes(PNG)
    for upload in (client.images.upload, client.files.upload):
        with pytest.raises(amas.InvalidFileError, match=r"cannot be read \(Not a directory\)"):
            await upload(blocked / "inside.png")
    with pytest.raises(amas.InvalidFileError, match="cannot be read"):
        amas.ImagePart.from_path(blocked / "inside.png")
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    secret.chmod(0)
    try:
        readable = os.access(secret, os.R_OK)  # root reads anything
        if not readable:
            with pytest.raises(amas.InvalidFileError, match="cannot be read"):
                await client.images.upload(secret)
    finally:
        secret.chmod(0o600)
    nothing_sent(mock_api)


async def test_upload_text_file_is_not_an_image(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just text", encoding="utf-8")
    with pytest.raises(amas.InvalidRequestError, match="image"):
        await client.images.upload(path)
    nothing_sent(mock_api)


async def test_upload_pdf_is_not_an_image(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"%PDF-1.7\n")
    with pytest.raises(amas.InvalidRequestError):
        await client.images.upload(path)
    nothing_sent(mock_api)


async def test_upload_text_mode_file_object(
    tmp_path: Path, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(PNG)
    with path.open("r", encoding="latin-1") as handle, pytest.raises(TypeError, match="rb"):
        await client.images.upload(handle)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await client.images.upload(io.StringIO("text"))  # type: ignore[arg-type]
    nothing_sent(mock_api)


@pytest.mark.parametrize("file", [42, None, ["photo.png"], 1.5])
async def test_upload_wrong_type(file: Any, client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    with pytest.raises(TypeError) as caught:
        await client.images.upload(file)
    assert isinstance(caught.value, amas.InvalidContentError)
    nothing_sent(mock_api)


async def test_upload_unknown_bytes_need_a_media_type(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError, match="media_type"):
        await client.images.upload(b"who knows")
    with pytest.raises(amas.InvalidRequestError):
        await client.images.upload(PNG, media_type="text/plain")
    nothing_sent(mock_api)


@pytest.mark.parametrize("filename", ['a"b.png', "a\r\nb.png", "x\n.png"])
async def test_upload_filename_cannot_break_the_header(
    filename: str, client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    with pytest.raises(amas.InvalidRequestError):
        await client.images.upload(PNG, filename=filename)
    nothing_sent(mock_api)


# ---- timeouts -----------------------------------------------------------------------------------


def test_timeout_defaults() -> None:
    assert amas.Timeout() == amas.Timeout(connect=10.0, read=None, total=300.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, amas.Timeout()),
        (30, amas.Timeout(connect=10.0, read=None, total=30.0)),
        (5.5, amas.Timeout(connect=5.5, read=None, total=5.5)),
        (amas.Timeout(connect=1, read=None, total=2), amas.Timeout(connect=1, read=None, total=2)),
    ],
)
def test_timeout_of(value: amas.Timeout | float | None, expected: amas.Timeout) -> None:
    assert amas.Timeout.of(value) == expected
    client = amas.AsyncAmas(api_key="k", timeout=value)
    assert client.timeout == expected


@pytest.mark.parametrize(
    "value", [0, -1, -0.5, True, False, float("inf"), float("nan"), "10", [10]]
)
def test_bad_client_timeout(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        amas.AsyncAmas(api_key="k", timeout=value)


@pytest.mark.parametrize("field", ["connect", "read", "total"])
@pytest.mark.parametrize("value", [0, -3, True, "5", float("inf")])
def test_bad_timeout_fields(field: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        amas.Timeout(**{field: value})


def test_invalid_arguments_raise_amas_errors() -> None:
    """PUBLIC_API: ``AmasError`` is the base of everything the SDK raises.

    The SDK already has InvalidRequestError (a ValueError) and InvalidContentError (a
    TypeError), so callers catching either the builtin or AmasError both work.
    """
    attempts: dict[str, Callable[[], object]] = {
        "AsyncAmas(timeout=-1)": lambda: amas.AsyncAmas(api_key="k", timeout=-1),
        "AsyncAmas(timeout=True)": lambda: amas.AsyncAmas(api_key="k", timeout=True),
        "AsyncAmas(timeout='10')": lambda: amas.AsyncAmas(api_key="k", timeout="10"),  # type: ignore[arg-type]
        "Timeout(read=0)": lambda: amas.Timeout(read=0),
        "AsyncAmas(base_url=5)": lambda: amas.AsyncAmas(api_key="k", base_url=5),  # type: ignore[arg-type]
        "AsyncAmas(middlewares=[1])": lambda: amas.AsyncAmas(api_key="k", middlewares=[1]),  # type: ignore[list-item]
        "ImagePart.from_bytes('x')": lambda: amas.ImagePart.from_bytes("x"),  # type: ignore[arg-type]
    }
    escaped = {}
    for name, attempt in attempts.items():
        try:
            attempt()
        except amas.AmasError:
            continue
        except Exception as error:
            escaped[name] = type(error).__name__
    assert escaped == {}, f"raised a non-AmasError: {escaped}"
