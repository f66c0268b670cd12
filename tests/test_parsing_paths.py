"""The fast path of the hot answers builds exactly what the general path (cattrs) builds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async import _serde

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"
EXECUTE = json.loads((EXAMPLES / "execute-text.response.json").read_text())
MESSAGES = json.loads((EXAMPLES / "runtime-messages.response.json").read_text())


def variants() -> list[dict[str, Any]]:
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
    return [EXECUTE, shape_b, no_usage, failed, naive, float_times, {}]


@pytest.mark.parametrize("body", variants())
def test_fast_and_general_paths_agree(body: dict[str, Any]) -> None:
    fast = _serde._fast_execution(body)
    general = _serde._parse_execution(body)
    assert fast == general
    assert fast.messages == general.messages
    assert [m.created_at for m in fast.messages] == [m.created_at for m in general.messages]
    assert fast.raw is body


@pytest.mark.parametrize(
    "body",
    [
        {"messages": "nope"},
        {"metadata": {"usage": {"input_tokens": "12", "output_tokens": 3}}},
        {"status": 5},
        {"execution_time": "2.5"},
        {"created_at": "2024-01-01T00:00:00Z"},
        {"messages": [{"id": 7}]},
    ],
)
def test_unusual_values_take_the_general_path(body: dict[str, Any]) -> None:
    with pytest.raises(_serde._Unusual):
        _serde._fast_execution(body)
    try:
        expected: Any = _serde._parse_execution(body)
    except amas.ResponseValidationError as exc:
        with pytest.raises(amas.ResponseValidationError, match=str(exc.message)[:30]):
            _serde.parse_execution(body)
    else:
        assert _serde.parse_execution(body) == expected


def test_lenient_values_still_parse() -> None:
    execution = _serde.parse_execution({"metadata": {"usage": {"input_tokens": "12"}}})
    assert execution.usage == amas.Usage(input_tokens=12, output_tokens=0)
    page = _serde.parse_message_page({"messages": [], "has_more": "false"}, limit=5, offset=0)
    assert page.has_more is False


def test_message_pages_agree() -> None:
    fast = _serde.parse_message_page(MESSAGES, limit=50, offset=0)
    general = _serde.parse_message_page({**MESSAGES, "has_more": "false"}, limit=50, offset=0)
    assert fast == general
    assert [m.created_at for m in fast.messages] == [m.created_at for m in general.messages]
