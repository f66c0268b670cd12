"""Errors: the status table, lenient error bodies, Retry-After, bad 2xx answers.

Answers are canned on ``amas_async.testing.MockTransport`` (``tests/mockapi.py``), with the
network forbidden. The client is built with ``max_retries=0`` so that every canned answer is
seen exactly once, whatever the SDK's default retry policy becomes. How the aiohttp
transport maps aiohttp's and asyncio's failures to these errors is tested in
``tests/test_aiohttp_transport.py``.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from mockapi import MockAPI, forbid_network

import amas_async as amas
from amas_async import errors
from amas_async._retry import parse_retry_after

BASE = "https://amas.test/api/v1"
SID = "session_abc123"
KEY = "test-key-for-errors-0123456789"
GET_URL = f"{BASE}/sessions/{SID}/"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> MockAPI:
    """Canned answers on a MockTransport; the network is forbidden for the test."""
    forbid_network(monkeypatch)
    return MockAPI(base_url=BASE, api_key=KEY)


@pytest.fixture
async def strict_client(api: MockAPI) -> AsyncIterator[amas.AsyncAmas]:
    async with api.client(max_retries=0) as client:
        yield client


def assert_secret_free(error: BaseException) -> None:
    seen: BaseException | None = error
    while seen is not None:
        assert KEY not in str(seen)
        assert KEY not in repr(seen)
        seen = seen.__cause__ or seen.__context__


def assert_sdk_error(error: BaseException) -> None:
    """Only amas_async exceptions reach the caller; never aiohttp's or a bare KeyError."""
    assert isinstance(error, amas.AmasError)
    assert not isinstance(error, aiohttp.ClientError)
    assert type(error).__module__.startswith("amas_async")
    assert_secret_free(error)


# ---- the status table -------------------------------------------------------------------------

STATUS_CLASSES: list[tuple[int, type[amas.APIStatusError]]] = [
    (400, amas.BadRequestError),
    (401, amas.AuthenticationError),
    (403, amas.PermissionDeniedError),
    (404, amas.NotFoundError),
    (409, amas.ConflictError),
    (422, amas.UnprocessableEntityError),
    (429, amas.RateLimitError),
    (500, amas.InternalServerError),
    (502, amas.InternalServerError),
    (503, amas.InternalServerError),
    (504, amas.InternalServerError),
    (501, amas.InternalServerError),
    (402, amas.APIStatusError),
    (405, amas.APIStatusError),
    (408, amas.APIStatusError),
    (410, amas.APIStatusError),
    (418, amas.APIStatusError),
    (451, amas.APIStatusError),
]


@pytest.mark.parametrize(("status", "error_class"), STATUS_CLASSES)
async def test_status_to_class(
    status: int,
    error_class: type[amas.APIStatusError],
    strict_client: amas.AsyncAmas,
    api: MockAPI,
) -> None:
    body = {"error": {"type": "some_error", "message": f"failed with {status}"}}
    api.get(GET_URL, status=status, json=body, headers={"X-Request-Id": "req-42"})

    with pytest.raises(amas.APIStatusError) as caught:
        await strict_client.sessions.get(SID)

    error = caught.value
    assert type(error) is error_class
    assert isinstance(error, amas.AmasError)
    assert error.status_code == status
    assert error.message == f"failed with {status}"
    assert error.error_type == "some_error"
    assert error.body == body
    assert isinstance(error.headers, amas.Headers)
    assert error.headers["x-request-id"] == "req-42"
    assert error.request_id == "req-42"
    assert (error.method, error.url) == ("GET", GET_URL)
    text = str(error)
    assert str(status) in text
    assert f"failed with {status}" in text
    assert "req-42" in text
    assert_sdk_error(error)


@pytest.mark.parametrize(("status", "error_class"), STATUS_CLASSES)
def test_status_error_class_table(status: int, error_class: type[amas.APIStatusError]) -> None:
    assert errors.status_error_class(status) is error_class


def test_every_status_error_has_the_documented_attributes() -> None:
    for status, error_class in STATUS_CLASSES:
        error = errors.make_status_error(
            status, {"request-id": "r-1"}, b'{"error": {"type": "t", "message": "m"}}'
        )
        assert type(error) is error_class
        for attribute in ("status_code", "message", "error_type", "body", "headers", "request_id"):
            assert hasattr(error, attribute), (error_class, attribute)
        assert error.request_id == "r-1"


async def test_request_id_absent_is_none(strict_client: amas.AsyncAmas, api: MockAPI) -> None:
    api.get(GET_URL, status=404, json={"detail": "Not found."})
    with pytest.raises(amas.NotFoundError) as caught:
        await strict_client.sessions.get(SID)
    assert caught.value.request_id is None
    assert caught.value.error_type is None
    assert caught.value.message == "Not found."


# ---- error bodies of every shape --------------------------------------------------------------

HTML_502 = (
    """<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title><style>body { color: red }</style></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center>
"""
    + ("<p>padding</p>\n" * 200)
    + "</body></html>"
)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "message", "error_type", "parsed"),
    [
        (
            401,
            '{"error": {"type": "authentication_error", "message": "API key has expired"}}',
            "application/json",
            "API key has expired",
            "authentication_error",
            {"error": {"type": "authentication_error", "message": "API key has expired"}},
        ),
        (
            404,
            '{"detail": "Not found."}',
            "application/json",
            "Not found.",
            None,
            {"detail": "Not found."},
        ),
        (
            422,
            '{"detail": [{"loc": ["body", "content"], "msg": "field required"}]}',
            "application/json",
            None,
            None,
            {"detail": [{"loc": ["body", "content"], "msg": "field required"}]},
        ),
        (
            400,
            '{"name": ["This field is required."], "agents": ["Expected a list."]}',
            "application/json",
            None,
            None,
            {"name": ["This field is required."], "agents": ["Expected a list."]},
        ),
        (400, '{"error": "bad things"}', "application/json", "bad things", None, None),
        (400, '{"message": "plain message"}', "application/json", "plain message", None, None),
        (400, '["first problem", "second"]', "application/json", None, None, None),
        (500, "Internal Server Error", "text/plain", "Internal Server Error", None, None),
        (502, HTML_502, "text/html", "Bad Gateway", None, HTML_502),
        (503, "", "text/plain", None, None, ""),
        (500, '{"error": {"type": "x", "message"', "application/json", None, None, None),
        (500, "\xff\xfe garbage \x00", "application/octet-stream", None, None, None),
        (500, b"\xff\xfe\x00 not utf-8 \xc3", "application/octet-stream", None, None, None),
        (429, "null", "application/json", None, None, None),
        (400, "[1, 2]", "application/json", None, None, [1, 2]),
        (
            400,
            '{"error": {"code": "E42", "detail": "nested"}}',
            "application/json",
            "nested",
            "E42",
            None,
        ),
    ],
    ids=[
        "documented",
        "drf-detail",
        "detail-list",
        "field-errors",
        "error-str",
        "message",
        "list-of-str",
        "plain-text",
        "html-502",
        "empty",
        "invalid-json",
        "binary",
        "not-utf-8",
        "json-null",
        "list-of-int",
        "error-code-detail",
    ],
)
async def test_error_bodies_never_crash(
    status: int,
    body: str | bytes,
    content_type: str,
    message: str | None,
    error_type: str | None,
    parsed: Any,
    strict_client: amas.AsyncAmas,
    api: MockAPI,
) -> None:
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    api.get(GET_URL, status=status, content=data, headers={"Content-Type": content_type})

    with pytest.raises(amas.APIStatusError) as caught:
        await strict_client.sessions.get(SID)

    error = caught.value
    assert error.status_code == status
    assert isinstance(error.message, str)
    assert error.message  # never empty: at worst the reason phrase or "HTTP <status>"
    assert "\n" not in error.message
    assert len(error.message) <= 201
    if message is not None:
        assert error.message == message
    assert error.error_type == error_type
    if parsed is not None:
        assert error.body == parsed
    assert_sdk_error(error)


async def test_field_errors_message_names_the_fields(
    strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(GET_URL, status=400, json={"name": ["This field is required."]})
    with pytest.raises(amas.BadRequestError) as caught:
        await strict_client.sessions.get(SID)
    assert caught.value.message == "name: This field is required."


async def test_detail_list_message_keeps_the_detail(
    strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(GET_URL, status=422, json={"detail": [{"msg": "field required"}]})
    with pytest.raises(amas.UnprocessableEntityError) as caught:
        await strict_client.sessions.get(SID)
    assert "field required" in caught.value.message


async def test_html_error_message_is_a_short_snippet(
    strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    page = "<html><body><h1>Oops</h1><p>" + "x" * 1000 + "</p></body></html>"
    api.get(GET_URL, status=500, content=page.encode(), headers={"Content-Type": "text/html"})
    with pytest.raises(amas.InternalServerError) as caught:
        await strict_client.sessions.get(SID)
    assert caught.value.message.startswith("Oops")
    assert "<" not in caught.value.message
    assert len(caught.value.message) <= 201


@pytest.mark.parametrize(
    ("reason", "message"),
    [("Service Unavailable", "Service Unavailable"), (None, "HTTP 503")],
    ids=["reason", "no-reason"],
)
async def test_empty_error_body_uses_the_reason(
    reason: str | None, message: str, strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.get(GET_URL, status=503, content=b"", reason=reason)
    with pytest.raises(amas.InternalServerError) as caught:
        await strict_client.sessions.get(SID)
    assert caught.value.message == message
    assert caught.value.body == ""


# ---- Retry-After ---------------------------------------------------------------------------

NOW = 1_700_000_000.0  # a fixed "now" for HTTP dates


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": " 7 "}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After-Ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "10"}, 0.25),
        ({"retry-after-ms": "soon", "Retry-After": "10"}, 10.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "Mon, 99 Foo 2024 99:99:99 GMT"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_parse_retry_after_http_date_in_the_future() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    when = email.utils.parsedate_to_datetime(date).timestamp()
    assert parse_retry_after({"Retry-After": date}, now=when - 90) == pytest.approx(90.0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "20"}, 0.02),
        ({}, None),
        ({"Retry-After": "x"}, None),
    ],
)
async def test_rate_limit_error_retry_after(
    headers: dict[str, str],
    expected: float | None,
    strict_client: amas.AsyncAmas,
    api: MockAPI,
) -> None:
    api.get(GET_URL, status=429, json={"detail": "Too many requests"}, headers=headers)
    with pytest.raises(amas.RateLimitError) as caught:
        await strict_client.sessions.get(SID)
    assert caught.value.retry_after == (pytest.approx(expected) if expected is not None else None)
    assert caught.value.message == "Too many requests"


# ---- 2xx answers that are not what the API documents ----------------------------------------

Call = Callable[[amas.AsyncAmas], Awaitable[object]]

CALLS: dict[str, tuple[str, str, Call]] = {
    "create": (
        "POST",
        f"{BASE}/sessions/",
        lambda c: c.sessions.create({"name": "n", "agent_type": "llm_agent"}),
    ),
    "get": ("GET", GET_URL, lambda c: c.sessions.get(SID)),
    "from-agent-id": (
        "POST",
        f"{BASE}/sessions/from-agent/a1/",
        lambda c: c.sessions.from_agent(agent_id="a1"),
    ),
    "execute": ("POST", f"{BASE}/runtime/{SID}/execute/", lambda c: c.runtime.execute(SID, "hi")),
    "messages": (
        "GET",
        f"{BASE}/runtime/{SID}/messages/?limit=50&offset=0",
        lambda c: c.runtime.messages(SID),
    ),
    "status": ("GET", f"{BASE}/runtime/{SID}/status/", lambda c: c.runtime.status(SID)),
    "upload": (
        "POST",
        f"{BASE}/images/upload/",
        lambda c: c.images.upload(b"GIF89a" + b"\x00" * 8),
    ),
}


def _register(api: MockAPI, name: str, **kwargs: Any) -> Call:
    method, url, call = CALLS[name]
    api.add(method, url, **kwargs)
    return call


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Welcome to nginx!</body></html>", "text/html"),
        ("", "application/json"),
        ("   ", "application/json"),
        ("not json", "text/plain"),
        ('{"session_id": "s1"', "application/json"),
        ("[]", "application/json"),
        ('[{"session_id": "s1"}]', "application/json"),
        ('"a string"', "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
    ],
    ids=[
        "html",
        "empty",
        "blank",
        "text",
        "truncated-json",
        "empty-list",
        "list",
        "json-str",
        "json-int",
        "json-null",
    ],
)
async def test_2xx_with_a_non_object_body_is_a_validation_error(
    name: str,
    body: str,
    content_type: str,
    strict_client: amas.AsyncAmas,
    api: MockAPI,
) -> None:
    call = _register(
        api, name, status=200, content=body.encode(), headers={"Content-Type": content_type}
    )
    with pytest.raises(amas.ResponseValidationError) as caught:
        await call(strict_client)
    assert_sdk_error(caught.value)


WRONG_SHAPES: list[tuple[str, str, Any]] = [
    ("create-no-session-id", "create", {"success": True, "config_hash": "h"}),
    ("create-success-false", "create", {"success": False, "session_id": "s1"}),
    ("create-session-id-int", "create", {"session_id": 123}),
    ("create-session-id-empty", "create", {"session_id": ""}),
    ("get-session-id-null", "get", {"session_id": None}),
    ("get-created_at-garbage", "get", {"session_id": SID, "created_at": "not a date"}),
    ("get-created_at-list", "get", {"session_id": SID, "created_at": [2025]}),
    ("get-created_at-out-of-range", "get", {"session_id": SID, "created_at": 1e20}),
    ("from-agent-no-session-id", "from-agent-id", {"agent_id": "a1"}),
    ("execute-messages-str", "execute", {"status": "completed", "messages": "hello"}),
    ("execute-messages-object", "execute", {"status": "completed", "messages": {"role": "x"}}),
    ("execute-messages-of-str", "execute", {"status": "completed", "messages": ["hello"]}),
    ("execute-metadata-list", "execute", {"status": "completed", "metadata": ["x"]}),
    ("execute-created_at-garbage", "execute", {"status": "completed", "created_at": "yesterday"}),
    ("execute-created_at-out-of-range", "execute", {"status": "completed", "created_at": 1e20}),
    ("execute-execution_time-str", "execute", {"status": "completed", "execution_time": "slow"}),
    (
        "execute-usage-str",
        "execute",
        {"status": "completed", "metadata": {"usage": {"input_tokens": "many"}}},
    ),
    ("messages-messages-str", "messages", {"messages": "none", "total": 0}),
    ("messages-messages-of-int", "messages", {"messages": [1, 2], "total": 2}),
    ("messages-total-str", "messages", {"messages": [], "total": "abc"}),
    (
        "messages-timestamp-garbage",
        "messages",
        {"messages": [{"id": "m", "timestamp": "never"}], "total": 1},
    ),
    ("status-message_count-str", "status", {"status": "active", "message_count": "lots"}),
    ("status-last_activity-garbage", "status", {"status": "active", "last_activity": "later"}),
    ("upload-no-url", "upload", {"media_type": "image/gif", "size": 14}),
    ("upload-url-int", "upload", {"url": 5}),
    ("upload-size-str", "upload", {"url": "https://x.test/i.gif", "size": "big"}),
]


@pytest.mark.parametrize(
    ("name", "payload"), [c[1:] for c in WRONG_SHAPES], ids=[c[0] for c in WRONG_SHAPES]
)
async def test_2xx_with_the_wrong_shape_is_a_validation_error(
    name: str, payload: Any, strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    call = _register(api, name, status=200, json=payload)
    with pytest.raises(amas.ResponseValidationError) as caught:
        await call(strict_client)
    assert_sdk_error(caught.value)
    assert caught.value.body == payload  # what was received is kept


async def test_non_json_2xx_keeps_status_and_text(
    strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    page = b"<html>maintenance</html>"
    api.get(GET_URL, status=200, content=page, headers={"Content-Type": "text/html"})
    with pytest.raises(amas.ResponseValidationError) as caught:
        await strict_client.sessions.get(SID)
    assert caught.value.status_code == 200
    assert caught.value.body == "<html>maintenance</html>"
    assert "maintenance" in str(caught.value)


# ---- executions that ran but failed ---------------------------------------------------------


@pytest.mark.parametrize("status", ["error", "timeout"])
@pytest.mark.parametrize("shape", ["agent.session", "execution_result"])
async def test_execution_error(
    status: str, shape: str, strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    if shape == "agent.session":
        body: dict[str, Any] = {
            "id": SID,
            "object": "agent.session",
            "status": status,
            "messages": [{"id": "m1", "role": "assistant", "content": "partial"}],
            "metadata": {"error": {"message": "tool failed"}, "execution_id": "e1"},
        }
    else:
        body = {
            "type": "execution_result",
            "client_type": "backend",
            "session_id": SID,
            "status": status,
            "execution_time": 30,
            "messages": [],
        }
    api.post(f"{BASE}/runtime/{SID}/execute/", json=body)

    with pytest.raises(amas.ExecutionError) as caught:
        await strict_client.session(SID).execute("hi")

    error = caught.value
    assert isinstance(error.execution, amas.Execution)
    assert error.execution.status == status
    assert error.status == status
    assert error.execution.session_id == SID
    assert error.execution.raw == body
    assert not error.execution.ok
    assert status in str(error)
    if shape == "agent.session":
        assert "tool failed" in str(error)
        assert error.execution.text == "partial"
    assert_sdk_error(error)


async def test_legacy_success_false_is_an_execution_error(
    strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    body = {"success": False, "message_id": "m", "response": {"content": ""}}
    api.post(f"{BASE}/runtime/{SID}/execute/", json=body)
    with pytest.raises(amas.ExecutionError) as caught:
        await strict_client.runtime.execute(SID, "hi")
    assert caught.value.execution.status == "error"


async def test_completed_execution_is_not_an_error(
    strict_client: amas.AsyncAmas, api: MockAPI
) -> None:
    api.post(f"{BASE}/runtime/{SID}/execute/", json={"status": "completed", "messages": []})
    result = await strict_client.runtime.execute(SID, "hi")
    assert result.ok
    assert result.text == ""


# ---- transport failures ----------------------------------------------------------------------
# (what the aiohttp transport makes of aiohttp's and asyncio's failures is tested in
# tests/test_aiohttp_transport.py; here: the client passes a transport's errors on as they are)


def _refused(method: str, url: str) -> amas.APIConnectionError:
    return amas.APIConnectionError(
        "could not connect: refused", method=method, url=url, request_sent=False
    )


def _timed_out(method: str, url: str) -> amas.APIConnectionError:
    return amas.APITimeoutError("request timed out", method=method, url=url, request_sent=True)


@pytest.mark.parametrize("name", ["get", "execute", "upload"])
@pytest.mark.parametrize("make", [_refused, _timed_out], ids=["refused", "timeout"])
async def test_transport_errors_reach_the_caller_unchanged(
    name: str,
    make: Callable[[str, str], amas.APIConnectionError],
    strict_client: amas.AsyncAmas,
    api: MockAPI,
) -> None:
    method, url, _ = CALLS[name]
    exception = make(method, url)
    call = _register(api, name, raises=exception)

    with pytest.raises(amas.APIConnectionError) as caught:
        await call(strict_client)

    assert caught.value is exception
    assert_sdk_error(caught.value)
    assert len(api.calls) == 1


def test_timeout_error_is_a_connection_error() -> None:
    assert issubclass(amas.APITimeoutError, amas.APIConnectionError)


# ---- the exception tree ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parents"),
    [
        (amas.InvalidRequestError, (amas.AmasError, ValueError)),
        (amas.ConfigValidationError, (amas.InvalidRequestError,)),
        (amas.InputFileNotFoundError, (amas.InvalidRequestError, FileNotFoundError)),
        (amas.InvalidContentError, (amas.AmasError, TypeError)),
        (amas.APIConnectionError, (amas.AmasError,)),
        (amas.APITimeoutError, (amas.APIConnectionError,)),
        (amas.APIStatusError, (amas.AmasError,)),
        (amas.BadRequestError, (amas.APIStatusError,)),
        (amas.AuthenticationError, (amas.APIStatusError,)),
        (amas.PermissionDeniedError, (amas.APIStatusError,)),
        (amas.NotFoundError, (amas.APIStatusError,)),
        (amas.ConflictError, (amas.APIStatusError,)),
        (amas.UnprocessableEntityError, (amas.APIStatusError,)),
        (amas.RateLimitError, (amas.APIStatusError,)),
        (amas.InternalServerError, (amas.APIStatusError,)),
        (amas.ResponseValidationError, (amas.AmasError,)),
        (amas.ExecutionError, (amas.AmasError,)),
    ],
)
def test_exception_tree(
    child: type[BaseException], parents: tuple[type[BaseException], ...]
) -> None:
    for parent in parents:
        assert issubclass(child, parent)


def test_status_error_str_without_context() -> None:
    error = amas.APIStatusError("boom", status_code=418)
    assert str(error) == "418 boom"
    assert error.headers == {}
    assert error.body is None


def test_execution_like_lists_every_public_attribute_of_execution() -> None:
    # ExecutionError.execution is typed by this protocol (errors imports no model): keep the
    # two in step, so that code reading any attribute of the execution type-checks.
    import inspect

    from amas_async.errors import ExecutionLike

    def public(cls: type) -> set[str]:
        names = {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
        return names | {n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_")}

    members = public(amas.Execution) - {"__attrs_attrs__"}
    assert members <= public(ExecutionLike), sorted(members - public(ExecutionLike))
    error = amas.ExecutionError(amas.Execution(status="error"))
    assert isinstance(error.execution, amas.Execution)
