"""Models and config conversion: SessionConfig <-> wire, YAML/JSON loading, parts, results."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from aioresponses import aioresponses

import amas_async as amas

BASE = "https://amas.test/api/v1"
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\rIHDR"
    + b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    + b"\x1f\x15\xc4\x89"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07"

FLAT: dict[str, Any] = {
    "name": "Support Session",
    "agent_type": "llm_agent",
    "system_prompt": "You are a helpful customer support agent.",
    "llm_config": {"model": "gpt-4o", "temperature": 0.7},
    "tools": ["tavily_search"],
}

FULL: dict[str, Any] = {
    "name": "Content pipeline",
    "description": "Everything the docs describe",
    "architecture": "workflow",
    "recursion_limit": 25,
    "entry_point": "writer",
    "save_messages": True,
    "persistent_state": True,
    "variables": {
        "user_id": {"type": "str", "required": True},
        "tone": {"type": "str", "default": "warm", "require_every_execution": True},
    },
    "memory_config": {"llm_model": "gemini-2.5-flash", "modules": [{"name": "m", "scope": "user"}]},
    "tools": [],
    "agents": [
        {
            "name": "writer",
            "agent_type": "llm_agent",
            "description": "writes",
            "prompt_config": {"system_prompt": "Write for {{ variables.user_id }}."},
            "llm_config": {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 500},
            "streaming_config": {"enable_streaming": True, "show_output_to_user": False},
            "knowledge_bases": [{"name": "kb", "knowledge_base_type": "milvus", "id": "kb_1"}],
            "memory_config": {"auto_save": True},
        },
        {
            "name": "reviewer",
            "agent_type": "react_agent",
            "system_prompt": "Review.",
            "tools": ["calculator", {"tavily_search": {"max_results": 3}}],
            "tool_calling": {"enabled": True, "max_iterations": 4},
        },
        {"name": "publisher", "agent_type": "llm_agent"},
        {"name": "classifier", "agent_type": "llm_agent"},
        {
            "name": "boss",
            "agent_type": "supervisor",
            "supervised_agents": ["writer", "reviewer"],
            "return_to_supervisor": True,
            "max_handoffs": 15,
            "supervisor_prompt": "Route well.",
        },
    ],
    "edges": [
        {"from": "__start__", "to": "writer"},
        {"from": "writer", "to": "reviewer"},
        {
            "from": "reviewer",
            "condition": "Publish? {{reviewer.output.ok}}",
            "condition_type": "boolean",
            "routing": {"yes": "publisher", "no": "writer"},
            "llm_model": "mistral-large-latest",
        },
        {
            "from": "classifier",
            "condition": "Route {{classifier.output.category}}",
            "condition_type": "literal",
            "possible_outputs": ["writer", "publisher"],
        },
        {"from": "publisher", "to": "__end__"},
    ],
}


# ---- SessionConfig <-> the wire ---------------------------------------------------------------


@pytest.mark.parametrize("wire", [FLAT, FULL], ids=["flat", "multi-agent"])
def test_from_dict_to_dict_round_trip(wire: dict[str, Any]) -> None:
    config = amas.SessionConfig.from_dict(wire)
    assert config.to_dict() == wire
    assert amas.SessionConfig.from_dict(config.to_dict()) == config
    assert config.validate() is config


def test_flat_form_fields() -> None:
    config = amas.SessionConfig.from_dict(FLAT)
    assert config.is_flat
    assert config.name == "Support Session"
    assert config.agent_type == "llm_agent"
    assert config.system_prompt == FLAT["system_prompt"]
    assert config.llm_config == FLAT["llm_config"]
    assert list(config.tools or ()) == ["tavily_search"]
    assert config.agents is None
    assert config.extra == {}


def test_multi_agent_form_fields() -> None:
    config = amas.SessionConfig.from_dict(FULL)
    assert not config.is_flat
    assert config.agents is not None
    assert [a.name for a in config.agents] == [
        "writer",
        "reviewer",
        "publisher",
        "classifier",
        "boss",
    ]
    writer, reviewer, _, _, boss = config.agents
    assert isinstance(writer, amas.AgentConfig)
    assert writer.prompt_config == FULL["agents"][0]["prompt_config"]
    assert writer.knowledge_bases is not None
    assert list(writer.knowledge_bases) == FULL["agents"][0]["knowledge_bases"]
    assert list(reviewer.tools or ()) == FULL["agents"][1]["tools"]
    assert list(boss.supervised_agents or ()) == ["writer", "reviewer"]
    assert boss.max_handoffs == 15
    assert config.recursion_limit == 25
    assert config.variables == FULL["variables"]


def test_edges_use_source_and_target() -> None:
    config = amas.SessionConfig.from_dict(FULL)
    assert config.edges is not None
    start, plain, boolean, literal, end = config.edges
    assert (start.source, start.target) == ("__start__", "writer")
    assert (plain.source, plain.target) == ("writer", "reviewer")
    assert boolean.target is None
    assert boolean.condition_type == "boolean"
    assert boolean.routing == {"yes": "publisher", "no": "writer"}
    assert boolean.llm_model == "mistral-large-latest"
    assert boolean.targets == ("publisher", "writer")
    assert literal.condition_type == "literal"
    assert list(literal.possible_outputs or ()) == ["writer", "publisher"]
    assert literal.targets == ("writer", "publisher")
    assert end.targets == ("__end__",)


def test_config_built_in_python_goes_out_in_the_wire_shape() -> None:
    config = amas.SessionConfig(
        name="Built",
        entry_point="a",
        agents=[
            amas.AgentConfig(name="a", agent_type="llm_agent", system_prompt="Hi"),
            amas.AgentConfig(name="b", agent_type="llm_agent", extra={"future_key": 1}),
        ],
        edges=[
            amas.Edge("__start__", "a"),
            amas.Edge(
                "a", condition="c", condition_type="boolean", routing={"yes": "b", "no": "a"}
            ),
            amas.Edge("b", "__end__", extra={"weight": 2}),
        ],
    )
    assert config.to_dict() == {
        "name": "Built",
        "entry_point": "a",
        "agents": [
            {"name": "a", "agent_type": "llm_agent", "system_prompt": "Hi"},
            {"name": "b", "agent_type": "llm_agent", "future_key": 1},
        ],
        "edges": [
            {"from": "__start__", "to": "a"},
            {
                "from": "a",
                "condition": "c",
                "condition_type": "boolean",
                "routing": {"yes": "b", "no": "a"},
            },
            {"from": "b", "to": "__end__", "weight": 2},
        ],
    }
    config.validate()


def test_unknown_keys_are_kept_at_every_level() -> None:
    wire = {
        "name": "x",
        "future_top": {"a": [1, 2]},
        "agents": [{"name": "a", "agent_type": "llm_agent", "future_agent": True}],
        "edges": [{"from": "__start__", "to": "a", "future_edge": "e"}],
    }
    config = amas.SessionConfig.from_dict(wire)
    assert config.extra == {"future_top": {"a": [1, 2]}}
    assert config.agents is not None
    assert config.agents[0].extra == {"future_agent": True}
    assert config.edges is not None
    assert config.edges[0].extra == {"future_edge": "e"}
    assert config.to_dict() == wire


async def test_unknown_keys_are_sent_back(client: amas.AsyncAmas, mock_api: aioresponses) -> None:
    wire = {"name": "x", "agent_type": "llm_agent", "brand_new_option": {"on": True}}
    mock_api.post(f"{BASE}/sessions/", payload={"session_id": "s1"})
    await client.sessions.create(amas.SessionConfig.from_dict(wire))
    assert mock_api.requests is not None
    ((call,),) = mock_api.requests.values()
    assert json.loads(call.kwargs["data"]) == wire


def test_models_are_frozen() -> None:
    config = amas.SessionConfig.from_dict(FLAT)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.name = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        amas.Edge("a", "b").source = "c"  # type: ignore[misc]


def test_a_mapping_that_is_not_a_config() -> None:
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_dict(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert caught.value.field == "config"


# ---- from_yaml --------------------------------------------------------------------------------


@pytest.mark.parametrize("wire", [FLAT, FULL], ids=["flat", "multi-agent"])
def test_from_yaml_text(wire: dict[str, Any]) -> None:
    for text in (yaml.safe_dump(wire), yaml.safe_dump(wire, sort_keys=False)):
        assert amas.SessionConfig.from_yaml(text).to_dict() == wire


def test_from_yaml_inline_json_text() -> None:
    assert amas.SessionConfig.from_yaml(json.dumps(FLAT)).to_dict() == FLAT


@pytest.mark.parametrize("as_str", [False, True], ids=["Path", "str"])
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_from_yaml_path(suffix: str, as_str: bool, tmp_path: Path) -> None:
    path = tmp_path / f"config{suffix}"
    text = json.dumps(FULL, indent=2) if suffix == ".json" else yaml.safe_dump(FULL)
    path.write_text(text, encoding="utf-8")
    source: str | Path = str(path) if as_str else path
    assert amas.SessionConfig.from_yaml(source).to_dict() == FULL


def test_from_yaml_documented_tutorial_yaml() -> None:
    text = """
name: "Support Agent Session"
description: "Customer support agent from inline config"
save_messages: true
persistent_state: true
agents:
  - name: "support_agent"
    agent_type: "llm_agent"
    description: "Handles customer inquiries"
    prompt_config:
      system_prompt: |
        You are a helpful customer support agent.
    llm_config:
      temperature: 0.7
edges:
  - from: "__start__"
    to: "support_agent"
  - from: "support_agent"
    to: "__end__"
entry_point: "support_agent"
"""
    config = amas.SessionConfig.from_yaml(text)
    assert config.entry_point == "support_agent"
    assert config.to_dict()["edges"] == [
        {"from": "__start__", "to": "support_agent"},
        {"from": "support_agent", "to": "__end__"},
    ]


def test_yaml_boolean_edge_with_yes_no_routing_keys_from_the_docs() -> None:
    """SPEC 6.3 / COND: ``routing: {yes: ..., no: ...}`` must keep the keys "yes" and "no".

    YAML 1.1 (PyYAML's safe_load) reads bare yes/no as booleans; the SDK must not send
    ``{true: ..., false: ...}`` nor fail to encode the config.
    """
    text = """
name: review flow
agents:
  - {name: reviewer, agent_type: llm_agent}
  - {name: publisher, agent_type: llm_agent}
  - {name: writer, agent_type: llm_agent}
edges:
  - {from: __start__, to: writer}
  - {from: writer, to: reviewer}
  - from: "reviewer"
    condition: "Decision prompt with {{reviewer.output.field}}"
    condition_type: boolean
    routing: {yes: "publisher", no: "writer"}
  - {from: publisher, to: __end__}
"""
    config = amas.SessionConfig.from_yaml(text)
    assert config.to_dict()["edges"][2]["routing"] == {"yes": "publisher", "no": "writer"}


async def test_yaml_yes_no_routing_is_sent_as_written(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    """YAML text goes to the server as the user wrote it; the local checks read the
    documented ``routing: {yes: b, no: a}`` with string keys."""
    text = (
        "name: r\nagents:\n  - {name: a, agent_type: llm_agent}\n"
        "  - {name: b, agent_type: llm_agent}\n"
        "edges:\n  - {from: __start__, to: a}\n"
        "  - {from: a, condition: ok, condition_type: boolean, routing: {yes: b, no: a}}\n"
    )
    mock_api.post(f"{BASE}/sessions/", payload={"session_id": "s1"})
    await client.sessions.create(text)
    assert mock_api.requests is not None
    ((call,),) = mock_api.requests.values()
    assert call.kwargs["data"] == text.encode()
    assert call.kwargs["headers"]["Content-Type"] == "application/yaml"
    config = amas.SessionConfig.from_yaml(text)
    assert config.edges is not None
    assert config.edges[1].routing == {"yes": "b", "no": "a"}


def test_json_file_indented_with_tabs(tmp_path: Path) -> None:
    """A valid JSON file is a valid config file, whatever its indentation."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(FLAT, indent="\t"), encoding="utf-8")
    assert amas.SessionConfig.from_yaml(path).to_dict() == FLAT


def test_json_file_with_escaped_non_bmp_characters(tmp_path: Path) -> None:
    """json.dump's default output (ensure_ascii) escapes emoji as surrogate pairs."""
    wire = {**FLAT, "system_prompt": "Answer with a smile \U0001f600"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(wire), encoding="utf-8")  # "\\ud83d\\ude00" in the file
    assert amas.SessionConfig.from_yaml(path).system_prompt == wire["system_prompt"]


@pytest.mark.parametrize("missing", ["nope.yaml", "dir/nope.json", "config"])
def test_from_yaml_missing_file(missing: str, tmp_path: Path) -> None:
    path = tmp_path / missing
    with pytest.raises(amas.InputFileNotFoundError) as caught:
        amas.SessionConfig.from_yaml(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


def test_from_yaml_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(amas.InputFileNotFoundError):
        amas.SessionConfig.from_yaml(tmp_path)


@pytest.mark.parametrize(
    "text", ["name: [unclosed\n", "a: b\n  c: d\n", "{name: x", "- just\n- a list\n", "\n", "42\n"]
)
def test_from_yaml_bad_text(text: str) -> None:
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_yaml(text)
    assert caught.value.field == "config"


def test_from_yaml_wrong_type() -> None:
    with pytest.raises(TypeError) as caught:
        amas.SessionConfig.from_yaml(42)  # type: ignore[arg-type]
    assert isinstance(caught.value, amas.AmasError)


# ---- values that do not fit the declared field types ---------------------------------------


def _from_dict_or_error(wire: dict[str, Any]) -> amas.SessionConfig | amas.ConfigValidationError:
    try:
        return amas.SessionConfig.from_dict(wire)
    except amas.ConfigValidationError as error:
        return error


async def _raised(awaitable: Awaitable[object]) -> BaseException | None:
    try:
        await awaitable
    except Exception as error:
        return error
    return None


def test_a_string_where_a_list_of_tools_is_expected_is_not_split_into_characters() -> None:
    wire = {
        "name": "x",
        "agents": [{"name": "a", "agent_type": "react_agent", "tools": "calculator"}],
    }
    outcome = _from_dict_or_error(wire)
    if isinstance(outcome, amas.ConfigValidationError):  # rejecting it, naming the field, is fine
        assert outcome.field.startswith("agents[0].tools")
    else:  # keeping it is fine too; turning it into ["c", "a", "l", ...] is not
        assert outcome.to_dict() == wire


def test_a_string_where_a_mapping_is_expected_never_crashes() -> None:
    wire = {"name": "x", "agent_type": "llm_agent", "llm_config": "gpt-4o"}
    outcome = _from_dict_or_error(wire)
    if isinstance(outcome, amas.ConfigValidationError):
        assert outcome.field == "llm_config"
    else:
        assert outcome.to_dict() == wire


async def test_create_with_a_misshaped_session_config_raises_an_sdk_error(
    client: amas.AsyncAmas, mock_api: aioresponses
) -> None:
    """A SessionConfig built in Python with a field of the wrong type (from_dict would refuse
    the same wire data) is refused by ``create`` with the SDK's error, before anything is sent."""
    mock_api.post(f"{BASE}/sessions/", payload={"session_id": "s1"})
    wire = {"name": "x", "agents": [{"name": "a", "agent_type": "llm_agent", "llm_config": "m"}]}
    refused = _from_dict_or_error(wire)
    assert isinstance(refused, amas.ConfigValidationError)
    assert refused.field == "agents[0].llm_config"
    misshaped = amas.SessionConfig(
        name="x",
        agents=[amas.AgentConfig(name="a", agent_type="llm_agent", llm_config="m")],  # type: ignore[arg-type]
    )
    error = await _raised(client.sessions.create(misshaped))
    assert isinstance(error, amas.AmasError), f"{type(error).__name__}: {error}"
    assert isinstance(error, amas.ConfigValidationError)
    assert error.field == "agents[0].llm_config"
    assert mock_api.requests == {}
    with pytest.raises(amas.ConfigValidationError) as caught:
        misshaped.validate()
    assert caught.value.field == "agents[0].llm_config"


# ---- content parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_image_part_from_bytes(data: bytes, media_type: str) -> None:
    part = amas.ImagePart.from_bytes(data)
    assert part.url == f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    prefix, encoded = part.url.split(",", 1)
    assert prefix == f"data:{media_type};base64"
    assert base64.b64decode(encoded) == data


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_image_part_from_path(data: bytes, media_type: str, tmp_path: Path) -> None:
    path = tmp_path / "image.bin"  # the name says nothing: the content decides
    path.write_bytes(data)
    part = amas.ImagePart.from_path(path)
    assert part == amas.ImagePart.from_bytes(data)
    assert part.url.startswith(f"data:{media_type};base64,")
    assert amas.ImagePart.from_path(str(path)) == part


def test_image_part_from_bytes_accepts_bytearray_and_memoryview() -> None:
    expected = amas.ImagePart.from_bytes(PNG)
    assert amas.ImagePart.from_bytes(bytearray(PNG)) == expected
    assert amas.ImagePart.from_bytes(memoryview(PNG)) == expected


def test_image_part_explicit_media_type() -> None:
    part = amas.ImagePart.from_bytes(b"opaque", media_type="image/x-custom")
    assert part.url == "data:image/x-custom;base64," + base64.b64encode(b"opaque").decode()


@pytest.mark.parametrize("data", [b"hello world", b"%PDF-1.7\n", b"\x00" * 64])
def test_image_part_unknown_bytes(data: bytes) -> None:
    with pytest.raises(amas.InvalidRequestError, match="media_type"):
        amas.ImagePart.from_bytes(data)


def test_image_part_from_path_falls_back_to_the_name(tmp_path: Path) -> None:
    path = tmp_path / "drawing.png"
    path.write_bytes(b"not really a png")
    assert amas.ImagePart.from_path(path).url.startswith("data:image/png;base64,")


def test_image_part_from_path_unknown(tmp_path: Path) -> None:
    path = tmp_path / "mystery"
    path.write_bytes(b"???")
    with pytest.raises(amas.InvalidRequestError):
        amas.ImagePart.from_path(path)


def test_image_part_from_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.png"
    with pytest.raises(amas.InputFileNotFoundError) as caught:
        amas.ImagePart.from_path(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)


def test_image_part_from_bytes_wrong_type() -> None:
    with pytest.raises(TypeError):
        amas.ImagePart.from_bytes("not bytes")  # type: ignore[arg-type]


def test_parts_validate_their_field_types() -> None:
    with pytest.raises(TypeError):
        amas.TextPart(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        amas.ImagePart(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        amas.FilePart(b"https://x")  # type: ignore[arg-type]


def test_image_upload_equality_ignores_raw() -> None:
    a = amas.ImageUpload("u", media_type="image/png", size=1, raw={"url": "u", "extra": 1})
    b = amas.ImageUpload("u", media_type="image/png", size=1)
    assert a == b
    assert "extra" not in repr(a)


# ---- results ---------------------------------------------------------------------------------


def _message(role: str | None, content: Any) -> amas.Message:
    return amas.Message(role=role, content=content)


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ([], ""),
        ([_message("user", "q")], ""),
        ([_message("assistant", "only")], "only"),
        ([_message("user", "q"), _message("assistant", "a1"), _message("assistant", "a2")], "a2"),
        ([_message("assistant", "a"), _message("user", "follow-up")], "a"),
        ([_message("assistant", "a"), _message("tool", "{}")], "a"),
        (
            [
                _message(
                    "assistant",
                    [
                        {"type": "text", "text": "x"},
                        {"type": "image_url", "image_url": {"url": "u"}},
                        {"type": "text", "text": "y"},
                    ],
                )
            ],
            "xy",
        ),
        ([_message("assistant", None)], ""),
    ],
)
def test_execution_text_is_the_last_assistant_message(
    messages: list[amas.Message], text: str
) -> None:
    assert amas.Execution(messages=messages).text == text


def test_execution_ok() -> None:
    assert amas.Execution(status="completed").ok
    assert amas.Execution().ok
    assert not amas.Execution(status="error").ok
    assert not amas.Execution(status="timeout").ok


def test_message_text() -> None:
    assert amas.Message(content="plain").text == "plain"
    assert amas.Message(content=[{"type": "text", "text": "a"}, "junk", 5]).text == "a"
    assert amas.Message(content={"unexpected": "shape"}).text == ""


@pytest.mark.parametrize(
    ("usage", "total"),
    [
        (amas.Usage(input_tokens=125, output_tokens=42), 167),
        (amas.Usage(), 0),
        (amas.Usage(input_tokens=7), 7),
    ],
)
def test_usage_total_tokens(usage: amas.Usage, total: int) -> None:
    assert usage.total_tokens == total


@pytest.mark.parametrize(
    ("count", "has_more", "offset", "expected"),
    [
        (2, True, 10, 12),
        (50, True, 0, 50),
        (2, False, 10, None),
        (0, True, 10, None),
        (0, False, 0, None),
    ],
)
def test_message_page_next_offset(
    count: int, has_more: bool, offset: int, expected: int | None
) -> None:
    page = amas.MessagePage(
        messages=[amas.Message(id=str(i)) for i in range(count)],
        has_more=has_more,
        offset=offset,
        limit=50,
    )
    assert page.next_offset == expected


def test_result_models_compare_without_raw() -> None:
    a = amas.Message(id="m", role="assistant", content="x", raw={"id": "m", "extra": 1})
    b = amas.Message(id="m", role="assistant", content="x")
    assert a == b
    assert "extra" not in repr(a)


# ---- parsed results behave like results built by hand -----------------------------------------

EXECUTE_ANSWER = (
    Path(__file__).resolve().parent / "data" / "examples" / "execute-text.response.json"
)


def _parsed_and_built() -> tuple[amas.Execution, amas.Execution]:
    """The documented execute answer parsed (timestamps not read yet) and the same built by
    hand with datetimes."""
    from datetime import datetime, timezone

    from amas_async.resources.runtime import parse_execution

    body = json.loads(EXECUTE_ANSWER.read_text())

    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, timezone.utc)

    built = amas.Execution(
        session_id="session_abc123",
        status="completed",
        messages=(
            amas.Message(
                id="msg_def456",
                role="assistant",
                content=body["messages"][0]["content"],
                created_at=at(1704067210),
                raw=body["messages"][0],
            ),
        ),
        usage=amas.Usage(input_tokens=125, output_tokens=42),
        metadata=body["metadata"],
        execution_id="exec_789",
        created_at=at(1704067200),
        completed_at=at(1704067215),
        execution_time=15.0,
        raw=body,
    )
    return parse_execution(body), built


def test_parsed_results_compare_hash_and_print_like_built_ones() -> None:
    parsed, built = _parsed_and_built()
    assert repr(parsed) == repr(built)
    parsed, built = _parsed_and_built()
    assert parsed == built
    parsed, built = _parsed_and_built()
    assert hash(parsed.messages[0]) == hash(built.messages[0])
    assert hash(parsed.usage) == hash(built.usage)
    assert {parsed.messages[0], built.messages[0]} == {built.messages[0]}


def test_parsed_results_evolve_copy_pickle_and_weakref() -> None:
    import copy
    import pickle
    import weakref

    makers: list[Callable[[amas.Execution], amas.Execution]] = [
        lambda e: attrs.evolve(e),
        lambda e: attrs.evolve(e, status="error"),
        copy.copy,
        copy.deepcopy,
        lambda e: pickle.loads(pickle.dumps(e)),
    ]
    for make in makers:
        parsed, built = _parsed_and_built()  # each from an untouched parse
        made = make(parsed)
        assert type(made) is amas.Execution
        assert made.created_at == built.created_at
        assert made.completed_at == built.completed_at
        assert made.messages == built.messages
        assert made.messages[0].created_at == built.messages[0].created_at
        assert attrs.evolve(made, status=built.status) == built
    parsed, _ = _parsed_and_built()
    assert weakref.ref(parsed)() is parsed
    assert weakref.ref(parsed.messages[0])() is parsed.messages[0]
    assert attrs.asdict(parsed, recurse=False)["created_at"] == parsed.created_at
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        parsed.created_at = None  # type: ignore[misc]


def test_result_model_fields_are_unchanged() -> None:
    assert [f.name for f in attrs.fields(amas.Execution)] == [
        "session_id",
        "status",
        "messages",
        "usage",
        "metadata",
        "execution_id",
        "correlation_id",
        "created_at",
        "completed_at",
        "execution_time",
        "tool_calls",
        "raw",
        "attempts",
    ]
    assert [f.name for f in attrs.fields(amas.Message)] == [
        "id",
        "role",
        "content",
        "created_at",
        "raw",
    ]
    assert [f.name for f in attrs.fields(amas.Usage)] == ["input_tokens", "output_tokens"]


def test_timestamps_given_to_a_model_are_kept_as_given() -> None:
    """Only seconds read from an answer become datetimes; a model built by hand keeps what it
    was given, numbers included."""
    from datetime import datetime, timezone

    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    values: list[Any] = [None, when, 5, 2.5, True, "2024-01-01"]
    for value in values:
        execution = amas.Execution(created_at=value)
        assert execution.created_at is value
        assert attrs.evolve(execution).created_at is value
        assert amas.Message(created_at=value).created_at is value
        assert amas.SessionStatus(last_activity=value).last_activity is value
    five: Any = 5
    assert amas.Execution(created_at=five) == amas.Execution(created_at=five)
    assert amas.Execution(created_at=five) != amas.Execution(
        created_at=datetime.fromtimestamp(5, timezone.utc)
    )
