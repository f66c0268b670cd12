"""One parser per answer: the converter builds what the deleted hand-written fast path built.

The execute and messages answers used to have a second, hand-written parser for their common
shapes. The converter now reads every answer, in two modes built from the same hooks: a hot mode
without per-field bookkeeping and, when that refuses a value, the detailed mode that names the
field. These tests pin what the fast path produced, and keep both modes in agreement.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async import _serde
from amas_async.resources import runtime

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"
EXECUTE = json.loads((EXAMPLES / "execute-text.response.json").read_text())
MESSAGES = json.loads((EXAMPLES / "runtime-messages.response.json").read_text())
UTC = timezone.utc


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def reply(body: Mapping[str, Any], **fields: Any) -> amas.Message:
    (message,) = body["messages"]
    return amas.Message(
        id=message["id"], role="assistant", content=message["content"], raw=message, **fields
    )


def variants() -> list[tuple[str, dict[str, Any], amas.Execution]]:
    """(name, answer, the Execution the hand-written fast path built for it)."""
    current = amas.Execution(
        session_id="session_abc123",
        status="completed",
        messages=(reply(EXECUTE, created_at=at(1704067210)),),
        usage=amas.Usage(input_tokens=125, output_tokens=42),
        metadata=EXECUTE["metadata"],
        execution_id="exec_789",
        correlation_id=None,
        created_at=at(1704067200),
        completed_at=at(1704067215),
        execution_time=15.0,
        tool_calls=(),
    )
    shape_b = {
        "type": "execution_result",
        "client_type": "backend",
        "session_id": "s1",
        "status": "completed",
        "execution_time": 2.5,
        "messages": [
            {"id": "m", "role": "assistant", "content": "hi", "timestamp": "2025-01-15T10:30:00Z"}
        ],
    }
    no_usage = copy.deepcopy(EXECUTE)
    del no_usage["metadata"]["usage"]
    failed = {"success": False, "messages": [], "id": "s2"}
    naive = copy.deepcopy(EXECUTE)
    naive["messages"][0]["created_at"] = "2025-01-15T10:30:00"
    float_times = copy.deepcopy(EXECUTE)
    float_times["created_at"] = 1704067200.5
    jan_15 = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    return [
        ("agent.session", EXECUTE, current),
        (
            "execution_result",
            shape_b,
            amas.Execution(
                session_id="s1",
                status="completed",
                execution_time=2.5,
                messages=(amas.Message(id="m", role="assistant", content="hi", created_at=jan_15),),
            ),
        ),
        (
            "no-usage",
            no_usage,
            amas.Execution(**{**_fields(current), "usage": None, "metadata": no_usage["metadata"]}),
        ),
        ("success-false", failed, amas.Execution(session_id="s2", status="error")),
        (
            "naive-iso-message-time",
            naive,
            amas.Execution(**{**_fields(current), "messages": (reply(naive, created_at=jan_15),)}),
        ),
        (
            "float-seconds",
            float_times,
            amas.Execution(**{**_fields(current), "created_at": at(1704067200.5)}),
        ),
        ("empty", {}, amas.Execution()),
    ]


def _fields(execution: amas.Execution) -> dict[str, Any]:
    return {
        name: getattr(execution, name)
        for name in (
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
        )
    }


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[str, Any]]:
    """The field mappings that parse_execution hands to the converter."""
    seen: list[Mapping[str, Any]] = []
    read = runtime._read_execution

    def spy(fields: Mapping[str, Any], body: object) -> amas.Execution:
        seen.append(fields)
        return read(fields, body)

    monkeypatch.setattr(runtime, "_read_execution", spy)
    return seen


def both_modes(fields: Mapping[str, Any]) -> tuple[Any, Any]:
    """What the hot mode and the detailed mode make of the same fields (or the error type)."""
    outcomes: list[Any] = []
    for structure in (
        lambda: _serde._fast.get_structure_hook(amas.Execution)(fields, amas.Execution),
        lambda: _serde._converter.structure(fields, amas.Execution),
    ):
        try:
            outcomes.append(structure())
        except Exception as error:
            outcomes.append(type(error))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize(("name", "body", "expected"), variants(), ids=[v[0] for v in variants()])
def test_the_converter_builds_what_the_fast_path_built(
    name: str, body: dict[str, Any], expected: amas.Execution, captured: list[Mapping[str, Any]]
) -> None:
    parsed = runtime.parse_execution(body)
    assert parsed == expected
    assert parsed.messages == expected.messages
    assert type(parsed.messages) is tuple
    assert [m.created_at for m in parsed.messages] == [m.created_at for m in expected.messages]
    assert all(m.created_at is None or m.created_at.tzinfo for m in parsed.messages)
    assert [m.raw for m in parsed.messages] == list(body.get("messages", []))
    assert parsed.raw is body
    hot, detailed = both_modes(captured[-1])
    assert hot == detailed == parsed


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"metadata": {"usage": {"input_tokens": "12", "output_tokens": 3}}}, None),
        ({"status": 5}, None),
        ({"execution_time": "2.5"}, None),
        ({"created_at": "2024-01-01T00:00:00Z"}, None),
        ({"messages": [{"id": 7}]}, None),
        ({"created_at": "yesterday"}, r"\$\.created_at: ValueError"),
        ({"execution_time": "slow"}, r"\$\.execution_time: ValueError"),
        ({"messages": [{"id": "m", "timestamp": "never"}]}, r"\$\.messages\[0\]\.created_at: "),
        ({"metadata": {"usage": {"input_tokens": "many"}}}, r"\$\.usage\.input_tokens: "),
    ],
)
def test_unusual_values_are_read_leniently_or_named(
    body: dict[str, Any], expected: str | None, captured: list[Mapping[str, Any]]
) -> None:
    """Values the fast path left to the converter: both modes read them alike, or refuse them
    and the detailed mode names the field (``$.path: ...``)."""
    if expected is None:
        parsed = runtime.parse_execution(body)
        assert parsed.raw is body
        hot, detailed = both_modes(captured[-1])
        assert hot == detailed == parsed
    else:
        with pytest.raises(amas.ResponseValidationError, match=expected) as caught:
            runtime.parse_execution(body)
        assert caught.value.body is body
        assert "the execute answer is not as documented" in caught.value.message
        hot, detailed = both_modes(captured[-1])
        assert isinstance(hot, type)  # both modes refuse it
        assert isinstance(detailed, type)


def test_lenient_values_read_as_the_fast_path_read_exact_ones() -> None:
    assert runtime.parse_execution(
        {"metadata": {"usage": {"input_tokens": "12", "output_tokens": 3}}}
    ).usage == amas.Usage(input_tokens=12, output_tokens=3)
    assert runtime.parse_execution({"status": 5}).status == "5"
    assert runtime.parse_execution({"execution_time": "2.5"}).execution_time == 2.5
    assert runtime.parse_execution({"created_at": "2024-01-01T00:00:00Z"}).created_at == at(
        1704067200
    )
    assert runtime.parse_execution({"messages": [{"id": 7}]}).messages[0].id == "7"


def test_messages_that_are_not_a_list_of_objects() -> None:
    for messages in ("nope", {"role": "x"}, ["hello"], [["nested"]]):
        body = {"messages": messages}
        with pytest.raises(amas.ResponseValidationError, match="'messages' must be a list"):
            runtime.parse_execution(body)
        with pytest.raises(amas.ResponseValidationError, match="'messages' must be a list"):
            runtime.parse_message_page(body, limit=5, offset=0)


def test_lenient_values_still_parse() -> None:
    execution = runtime.parse_execution({"metadata": {"usage": {"input_tokens": "12"}}})
    assert execution.usage == amas.Usage(input_tokens=12, output_tokens=0)
    page = runtime.parse_message_page({"messages": [], "has_more": "false"}, limit=5, offset=0)
    assert page.has_more is False


def test_message_pages_agree() -> None:
    fast = runtime.parse_message_page(MESSAGES, limit=50, offset=0)
    general = runtime.parse_message_page({**MESSAGES, "has_more": "false"}, limit=50, offset=0)
    assert fast == general
    assert [m.created_at for m in fast.messages] == [m.created_at for m in general.messages]
    assert fast == amas.MessagePage(
        messages=tuple(
            amas.Message(
                id=m["id"],
                role=m["role"],
                content=m["content"],
                created_at=datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")),
            )
            for m in MESSAGES["messages"]
        ),
        total=2,
        has_more=False,
        limit=50,
        offset=0,
    )
    assert fast.raw is MESSAGES
    assert [m.raw for m in fast.messages] == MESSAGES["messages"]


def test_the_legacy_shape_reads_through_the_converter(
    captured: list[Mapping[str, Any]],
) -> None:
    body = json.loads((EXAMPLES / "execute-legacy.response.json").read_text())
    parsed = runtime.parse_execution(body)
    assert parsed == amas.Execution(
        status="completed",
        messages=(
            amas.Message(id="msg_789", role="assistant", content=body["response"]["content"]),
        ),
        execution_id="msg_789",
        correlation_id="corr_123",
        tool_calls=(),
    )
    assert parsed.messages[0].raw is body["response"]
    hot, detailed = both_modes(captured[-1])
    assert hot == detailed == parsed
