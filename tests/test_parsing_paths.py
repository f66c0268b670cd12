"""One parser per answer: code generated from the models builds what the old fast path built.

The execute and messages answers used to have a second, hand-written parser for their common
shapes. Now every answer is read by a function generated from the model definitions (each
field's common case checked inline, anything else through the converter's hook for its type)
and, when that refuses a value, by the detailed converter, which names the field. These tests
pin what the hand-written fast path produced, and keep the generated code and the detailed
converter in agreement.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

import amas_async as amas
from amas_async import _readers, _serde
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
    """What the generated reader and the detailed converter make of the same fields (or the
    error type). The hot converter's hook for an answer class is the generated reader."""
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


# ---- the generated readers -----------------------------------------------------------------------

ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    " 42 ",
    "2.5",
    "1704067200",
    "1704067200.5",
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00",
    "2024-01-01T00:00:00.1234567+02:00",
    "true",
    "false",
    "nan",
    0,
    1,
    15,
    -1,
    10**20,
    2.5,
    15.0,
    1e300,
    float("nan"),
    True,
    False,
    [],
    ["a"],
    (),
    {},
    {"input_tokens": 3},
    {"input_tokens": True},
    [{"id": "m"}],
    [{"id": 7, "timestamp": 1.5}],
    ["hello"],
    datetime(2024, 1, 1),
    datetime(2024, 1, 1, tzinfo=UTC),
    b"bytes",
]


def _outcome(read: Any, *args: Any) -> tuple[str, Any]:
    try:
        value = read(*args)
    except Exception as error:
        return ("refused", type(error).__name__)
    return ("read", value)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types, down into tuples and messages (NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if attrs.has(type(a)):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(type(a)))
    if isinstance(a, datetime):
        return bool(a == b and a.tzinfo == b.tzinfo)
    return bool(a == b)


READ_CLASSES = [amas.Execution, amas.MessagePage, amas.SessionStatus, amas.Message, amas.Usage]


def _default(field: attrs.Attribute[Any]) -> Any:
    default: Any = field.default
    return default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (cls, field.name)
        for cls in READ_CLASSES
        for field in attrs.fields(cls)
        if field.name not in ("raw", "attempts")
    ],
)
def test_every_inline_check_agrees_with_the_converter(cls: type, field: str) -> None:
    """Each field of each answer model, given each odd value: the generated reader reads it
    exactly as the detailed converter does (same value, same types), or both refuse it."""
    complete = cls in _readers._complete
    read = _readers._read_fn(cls, complete, _readers._complete.get(cls, frozenset()))
    base: dict[str, Any] = {}
    if complete:  # the answer's shape mapping gives every field
        base = {f.name: _default(f) for f in attrs.fields(cls) if f.name != "attempts"}
    for value in ODD_VALUES:
        fields = {**base, field: value}
        fast = _outcome(read, fields)
        detailed = _outcome(_serde._converter.structure, fields, cls)
        assert fast[0] == detailed[0], (field, value, fast, detailed)
        if fast[0] == "read":
            assert _same(fast[1], detailed[1]), (field, value, fast, detailed)


def test_the_hot_converter_reads_answers_with_the_generated_code() -> None:
    fields = {f.name: _default(f) for f in attrs.fields(amas.Execution) if f.name != "attempts"}
    hook = _serde._fast.get_structure_hook(amas.Execution)
    assert hook(fields, amas.Execution) == amas.Execution()
    assert hook(fields, amas.Execution).attempts == 1
    assert "_cls(" not in _readers._read_fn(amas.Execution, True, frozenset({"attempts"})).__doc__


def test_messages_are_read_straight_from_the_answer() -> None:
    """Message's fields say where the answer holds them: no mapping is made per message."""
    items = [
        {"id": "a", "role": "user", "content": "hi", "timestamp": "2025-01-15T10:30:00Z"},
        {"id": "b", "created_at": 1704067210, "timestamp": "2025-01-15T10:30:00Z"},
        {"id": "c", "created_at": None, "timestamp": "2025-01-15T10:30:00Z"},
        {"id": "d", "extra": [1, 2]},
    ]
    page = runtime.parse_message_page({"messages": items}, limit=10, offset=0)
    assert [m.raw for m in page.messages] == items
    assert all(m.raw is item for m, item in zip(page.messages, items, strict=True))
    assert [m.created_at for m in page.messages] == [
        datetime(2025, 1, 15, 10, 30, tzinfo=UTC),
        at(1704067210),
        None,  # a null created_at is the answer's word: the timestamp is not looked at
        None,
    ]
    # The detailed converter reads a message alike.
    for item, message in zip(items, page.messages, strict=True):
        assert _same(_serde._converter.structure(item, amas.Message), message)


def test_a_message_field_that_does_not_fit_is_named_by_its_field() -> None:
    body = {"messages": [{"id": "m"}, {"timestamp": {"when": "now"}}]}
    with pytest.raises(amas.ResponseValidationError) as caught:
        runtime.parse_message_page(body, limit=10, offset=0)
    assert "$.messages[1].created_at: TypeError" in caught.value.message


def test_answers_that_are_mappings_but_not_dicts() -> None:
    from types import MappingProxyType

    body = MappingProxyType(copy.deepcopy(EXECUTE))
    body_dict = copy.deepcopy(EXECUTE)
    assert runtime.parse_execution(body) == runtime.parse_execution(body_dict)
    message = MappingProxyType({"id": "m", "timestamp": 5})
    page = runtime.parse_message_page({"messages": [message]}, limit=1, offset=0)
    assert page.messages[0].raw is message
    assert page.messages[0].created_at == at(5)


def test_importing_the_sdk_generates_no_code() -> None:
    import subprocess
    import sys

    script = (
        "import amas_async, amas_async.resources.runtime\n"
        "from amas_async import _readers\n"
        "assert not _readers._readers, _readers._readers\n"
        "amas_async.resources.runtime.parse_execution({})\n"
        "assert _readers._readers\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@attrs.frozen(kw_only=True)
class _Checked:
    name: str = attrs.field(validator=attrs.validators.min_len(2))
    tags: Any = attrs.field(factory=list, metadata=_readers.wire("tags", "labels"))
    whole: Any = attrs.field(default=None, metadata=_readers.as_received())


@attrs.define(slots=False)
class _Plain:
    name: str | None = None
    count: int = 3
    when: datetime | None = None
    note: str = "n/a"
    items: list[Any] = attrs.field(factory=list)


def test_generated_readers_run_validators_and_defaults_like_init() -> None:
    read = _readers.reader(_Checked, "test")
    assert read({"name": "ab"}, None) == _Checked(name="ab", whole={"name": "ab"})
    assert read({"name": "ab", "labels": [1]}, None).tags == [1]
    assert read({"name": "ab", "tags": None, "labels": [1]}, None).tags is None
    assert read({"name": "ab"}, None).whole == {"name": "ab"}
    with pytest.raises(amas.ResponseValidationError, match="the test answer"):
        read({"name": "a"}, None)  # the validator ran
    with pytest.raises(amas.ResponseValidationError, match=r"\$\.name: required field missing"):
        read({}, None)

    plain = _readers._read_fn(_Plain)  # not slotted: built by __init__
    assert "_cls(" in plain.__doc__
    assert plain({"when": 0, "count": "4", "items": ("a",)}) == _Plain(
        when=at(0), count=4, note="n/a", items=["a"]
    )
    for data in ({}, {"note": None}, {"count": None}, {"name": 5, "items": None}, {"when": "x"}):
        fast = _outcome(plain, data)
        detailed = _outcome(_serde._converter.structure, data, _Plain)
        assert fast[0] == detailed[0], (data, fast, detailed)
        assert fast[0] == "refused" or _same(fast[1], detailed[1])


def test_the_generated_code_builds_what_init_builds() -> None:
    parsed = runtime.parse_execution(copy.deepcopy(EXECUTE))
    rebuilt = attrs.evolve(parsed)  # through __init__
    for field in attrs.fields(amas.Execution):
        assert getattr(parsed, field.name) is getattr(rebuilt, field.name)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        parsed.status = "x"  # type: ignore[misc]


# ---- timestamps in Unix seconds: checked at parse, converted on first read ----------------------


@pytest.mark.parametrize(
    "seconds",
    [0, 1, 15, 2.5, 1704067200, 1704067200.5, 1704067200.123456789, 32503679999, 32503679999.5],
)
def test_seconds_read_later_give_what_the_eager_reading_gave(seconds: float) -> None:
    body = {
        "created_at": seconds,
        "completed_at": seconds,
        "messages": [{"id": "m", "created_at": seconds}, {"id": "n", "timestamp": seconds}],
    }
    parsed = runtime.parse_execution(body)
    eager = _serde._converter.structure(  # the detailed converter converts at once
        {"created_at": seconds, "completed_at": seconds}, amas.Execution
    )
    for value in (
        parsed.created_at,
        parsed.completed_at,
        parsed.messages[0].created_at,
        parsed.messages[1].created_at,
    ):
        assert type(value) is datetime
        assert value == at(seconds) == eager.created_at
        assert value.tzinfo is UTC
    assert parsed.created_at is parsed.created_at  # converted once, then kept
    status = runtime.parse_status({"created_at": seconds, "last_activity": seconds})
    assert status.created_at == status.last_activity == at(seconds)


@pytest.mark.parametrize(
    "seconds", [-1, -86400.5, 32503680000, 10**11, 2.5e10 + 0.25], ids=lambda s: repr(s)
)
def test_seconds_outside_the_lazy_range_convert_at_once(seconds: float) -> None:
    parsed = runtime.parse_execution({"created_at": seconds})
    assert parsed.created_at == at(seconds)
    assert parsed.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    "seconds",
    [float("nan"), float("inf"), float("-inf"), 10**20, -(10**20), 1e300, True],
    ids=repr,
)
def test_a_bad_timestamp_still_fails_at_parse(seconds: object) -> None:
    """Nothing about a timestamp is left to fail when the field is read."""
    for body, field in (
        ({"created_at": seconds}, r"\$\.created_at: "),
        ({"completed_at": seconds}, r"\$\.completed_at: "),
        ({"messages": [{"id": "m", "created_at": seconds}]}, r"\$\.messages\[0\]\.created_at: "),
        ({"messages": [{"id": "m", "timestamp": seconds}]}, r"\$\.messages\[0\]\.created_at: "),
    ):
        with pytest.raises(amas.ResponseValidationError, match=field) as caught:
            runtime.parse_execution(body)
        assert caught.value.body is body
    with pytest.raises(amas.ResponseValidationError, match=r"\$\.last_activity: "):
        runtime.parse_status({"last_activity": seconds})
    with pytest.raises(amas.ResponseValidationError, match=r"\$\.messages\[0\]\.created_at: "):
        runtime.parse_message_page({"messages": [{"timestamp": seconds}]}, limit=1, offset=0)


def test_the_answer_classes_are_built_without_init_as_their_own_type() -> None:
    parsed = runtime.parse_execution(copy.deepcopy(EXECUTE))
    assert type(parsed) is amas.Execution
    assert type(parsed.messages[0]) is amas.Message
    assert type(parsed.usage) is amas.Usage
    page = runtime.parse_message_page(MESSAGES, limit=50, offset=0)
    assert type(page) is amas.MessagePage
    assert type(runtime.parse_status({})) is amas.SessionStatus
    for cls in (amas.Execution, amas.Message, amas.Usage, amas.MessagePage, amas.SessionStatus):
        assert "_cls(" not in _readers._read_fn(cls).__doc__


@attrs.frozen
class _OwnWeakref:
    """Slotted, but attrs adds __weakref__ to its own slots: built by __init__."""

    when: datetime | None = None
    name: str | None = None


@_readers.lazy_timestamps
@attrs.frozen
class _LazyRecord(_readers.Record):
    when: datetime | None = None
    name: str | None = None


@_readers.lazy_timestamps
@attrs.frozen
class _LazyChecked(_readers.Record):
    """A validator: built by __init__, so its seconds convert at parse."""

    when: datetime | None = None
    name: str | None = attrs.field(default=None, validator=attrs.validators.instance_of(str))


def test_classes_the_twin_cannot_build_are_built_by_init_and_read_alike() -> None:
    assert "_cls(" in _readers._read_fn(_OwnWeakref).__doc__
    assert "_cls(" not in _readers._read_fn(_LazyRecord).__doc__
    assert "_cls(" in _readers._read_fn(_LazyChecked).__doc__
    for value in (None, 5, 2.5, "2024-01-01T00:00:00Z", -1):
        expected = _serde._converter.structure({"when": value}, _OwnWeakref).when
        assert _readers._read_fn(_OwnWeakref)({"when": value}).when == expected
        assert _readers._read_fn(_LazyRecord)({"when": value}).when == expected
        checked = _readers._read_fn(_LazyChecked)({"when": value, "name": "x"})
        assert checked.when == expected
        assert value is None or type(checked.when) is datetime  # converted, not left as seconds


def test_lazy_timestamps_needs_slots() -> None:
    with pytest.raises(TypeError, match="is not a slot"):

        @_readers.lazy_timestamps
        @attrs.frozen(slots=False)
        class _NotSlotted:
            when: datetime | None = None
