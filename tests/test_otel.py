"""OpenTelemetry tracing (``amas_async.otel``) against the emulator, spans read from the SDK.

Each test hands its own TracerProvider (with the SDK's in-memory exporter) to the middleware;
the global provider is never set. Trace context goes out with the default global propagator
(W3C tracecontext), and the emulator's recorded requests show the ``traceparent`` that arrived.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from helpers import wait_until
from loopback import unaccepting_port
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import amas_async as amas
from amas_async.otel import TracingMiddleware
from amas_async.testing import Emulator, RetryClock

FLAT = {"name": "Traced", "agent_type": "llm_agent", "system_prompt": "Be brief."}
SECRET = "sk-this-key-must-never-be-recorded"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


def traced(
    emulator: Emulator, provider: TracerProvider, *, api_key: str | None = None, **options: Any
) -> amas.AsyncAmas:
    return amas.AsyncAmas(
        base_url=emulator.base_url,
        api_key=api_key or emulator.api_key,
        middlewares=[TracingMiddleware(tracer_provider=provider)],
        **options,
    )


def of_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    spans = [
        span
        for span in exporter.get_finished_spans()
        if span.kind is kind
        and span.instrumentation_scope is not None
        and span.instrumentation_scope.name == "amas_async"
    ]
    return sorted(spans, key=lambda span: span.start_time or 0)


def calls(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return of_kind(exporter, SpanKind.INTERNAL)


def attempts(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return of_kind(exporter, SpanKind.CLIENT)


def attrs_of(item: ReadableSpan | Event) -> dict[str, Any]:
    return dict(item.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def assert_nothing_holds(exporter: InMemorySpanExporter, *secrets: str) -> None:
    """No span, attribute, event (exception stack traces included) or status holds them."""
    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        text = span.to_json()
        for secret in secrets:
            assert secret not in text, f"{secret!r} recorded in {span.name}"


def session_path(session_id: str) -> str:
    return f"/api/v1/runtime/{session_id}/execute/"


async def new_session(emulator: Emulator) -> str:
    async with amas.AsyncAmas(base_url=emulator.base_url, api_key=emulator.api_key) as plain:
        return (await plain.sessions.create(FLAT)).id


# ---- one call, one attempt ----------------------------------------------------------------------


async def test_execute_makes_a_call_span_over_one_client_span(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    session_id = await new_session(amas_emulator)
    amas_emulator.requests.clear()
    async with traced(amas_emulator, provider) as client:
        result = await client.runtime.execute(session_id, "Hi", idempotency_key="key-1")
    assert result.text
    [call] = calls(exporter)
    [attempt] = attempts(exporter)
    assert call.name == "amas POST /runtime/{session_id}/execute/"
    assert attempt.name == "POST /api/v1/runtime/{session_id}/execute/"
    assert session_id not in call.name + attempt.name
    assert parent_id(attempt) == call.context.span_id
    host, port = amas_emulator.base_url.split("//")[1].split("/")[0].split(":")
    expected = {
        "http.request.method": "POST",
        "url.full": amas_emulator.base_url + f"/runtime/{session_id}/execute/",
        "url.template": "/api/v1/runtime/{session_id}/execute/",
        "server.address": host,
        "server.port": int(port),
        "amas.session_id": session_id,
        "amas.idempotency_key": "key-1",
        "http.response.status_code": 200,
    }
    assert attrs_of(attempt) == expected
    assert attrs_of(call) == {**expected, "amas.attempts": 1}
    assert call.status.status_code is StatusCode.UNSET
    assert attempt.status.status_code is StatusCode.UNSET
    assert not call.events
    # The attempt's context went out with it: the server's side would continue this trace.
    [sent] = amas_emulator.requests
    assert sent.headers["traceparent"] == traceparent_of(attempt)
    assert sent.headers["Idempotency-Key"] == "key-1"
    assert_nothing_holds(exporter, amas_emulator.api_key)


async def test_the_callers_span_is_the_call_spans_parent(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("the-app")
    async with traced(amas_emulator, provider) as client:
        with tracer.start_as_current_span("handle request") as parent:
            session = await client.sessions.create(FLAT)
            await session.status()
    call_spans = calls(exporter)
    assert [span.name for span in call_spans] == [
        "amas POST /sessions/",
        "amas GET /runtime/{session_id}/status/",
    ]
    for call in call_spans:
        assert parent_id(call) == parent.get_span_context().span_id
        assert call.context.trace_id == parent.get_span_context().trace_id
    # The created session's key is its Idempotency-Key; the status call is a GET, without one.
    create, status = attempts(exporter)
    assert "amas.idempotency_key" in attrs_of(create)
    assert "amas.idempotency_key" not in attrs_of(status)
    assert attrs_of(status)["amas.session_id"] == session.id


async def test_ids_and_query_go_to_attributes_not_names(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with traced(amas_emulator, provider) as client:
        agent = await client.agents.create(
            {"name": "Helper", "agent_type": "llm_agent", "system_prompt": "Help."}
        )
        session = await client.sessions.from_agent(agent_id=agent.id)
        await session.messages(limit=5, offset=0)
    names = [span.name for span in attempts(exporter)]
    assert names == [
        "POST /api/v1/agent/",
        "POST /api/v1/sessions/from-agent/{agent_id}/",
        "GET /api/v1/runtime/{session_id}/messages/",
    ]
    from_agent, messages = attempts(exporter)[1:]
    assert attrs_of(from_agent)["amas.agent_id"] == agent.id
    assert attrs_of(messages)["url.full"].endswith(
        f"/runtime/{session.id}/messages/?limit=5&offset=0"
    )


# ---- retries ------------------------------------------------------------------------------------


async def test_each_retry_is_an_attempt_span_and_an_event(
    amas_emulator: Emulator,
    amas_retry_clock: RetryClock,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    session_id = await new_session(amas_emulator)
    amas_emulator.requests.clear()
    amas_emulator.fail_next(2, status=503, path="/execute/")
    async with traced(amas_emulator, provider) as client:
        result = await client.runtime.execute(session_id, "Hi")
    assert result.attempts == 3
    [call] = calls(exporter)
    spans = attempts(exporter)
    assert len(spans) == 3
    assert {parent_id(span) for span in spans} == {call.context.span_id}
    keys = {attrs_of(span)["amas.idempotency_key"] for span in spans}
    assert len(keys) == 1  # the same key on every attempt
    assert [attrs_of(span).get("http.request.resend_count") for span in spans] == [None, 1, 2]
    assert [attrs_of(span)["http.response.status_code"] for span in spans] == [503, 503, 200]
    assert [span.status.status_code for span in spans] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert [attrs_of(span).get("error.type") for span in spans] == ["503", "503", None]
    # The call succeeded in the end.
    assert call.status.status_code is StatusCode.UNSET
    assert attrs_of(call)["http.response.status_code"] == 200
    assert attrs_of(call)["amas.attempts"] == 3
    assert "error.type" not in attrs_of(call)
    # One event per retry, on the call span, with what failed and how long the wait was.
    assert [event.name for event in call.events] == ["amas.retry", "amas.retry"]
    for number, (event, slept) in enumerate(
        zip(call.events, amas_retry_clock.sleeps, strict=True), start=1
    ):
        details = attrs_of(event)
        assert details["amas.retry.attempt"] == number
        assert details["amas.retry.reason"] == "503"
        assert details["http.response.status_code"] == 503
        assert details["amas.retry.wait_seconds"] >= slept
    # Every attempt carried its own span's context.
    sent = [r.headers["traceparent"] for r in amas_emulator.requests]
    assert sent == [traceparent_of(span) for span in spans]
    assert len(set(sent)) == 3
    assert_nothing_holds(exporter, amas_emulator.api_key)


async def test_a_dropped_connection_is_an_exception_on_its_attempt(
    amas_emulator: Emulator,
    amas_retry_clock: RetryClock,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    async with traced(amas_emulator, provider) as client:
        session = await client.sessions.create(FLAT)
        exporter.clear()
        amas_emulator.fail_next(drop=True)
        await session.refresh()
    [call] = calls(exporter)
    failed, answered = attempts(exporter)
    error_type = attrs_of(failed)["error.type"]
    assert error_type.startswith("amas_async.errors.")
    assert "http.response.status_code" not in attrs_of(failed)
    assert failed.status.status_code is StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert attrs_of(failed.events[0])["exception.type"] == error_type
    assert answered.status.status_code is StatusCode.UNSET
    [retry] = call.events
    assert attrs_of(retry)["error.type"] == error_type
    assert "http.response.status_code" not in attrs_of(retry)
    assert call.status.status_code is StatusCode.UNSET


async def test_max_retries_0_still_traces_the_one_attempt(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    session_id = await new_session(amas_emulator)
    amas_emulator.requests.clear()
    amas_emulator.fail_next(status=503, path="/execute/")
    async with traced(amas_emulator, provider, max_retries=0) as client:
        with pytest.raises(amas.APIStatusError):
            await client.runtime.execute(session_id, "Hi")
    [call] = calls(exporter)
    [attempt] = attempts(exporter)
    assert parent_id(attempt) == call.context.span_id
    assert attrs_of(attempt)["error.type"] == "503"
    assert attrs_of(call)["error.type"] == "503"
    assert [event.name for event in call.events] == ["exception"]  # no retry event
    [sent] = amas_emulator.requests
    assert sent.headers["traceparent"] == traceparent_of(attempt)


async def test_with_options_and_batches_keep_tracing(
    amas_emulator: Emulator,
    amas_retry_clock: RetryClock,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    session_id = await new_session(amas_emulator)
    async with traced(amas_emulator, provider, max_retries=0) as client:
        amas_emulator.fail_next(status=503, path="/execute/")
        await client.with_options(max_retries=1).runtime.execute(session_id, "Hi")
        assert len(attempts(exporter)) == 2
        exporter.clear()
        # execute_many adds a throttle under the retries (a derived client): still traced.
        results = await client.runtime.execute_many(
            [{"session_id": session_id, "content": "One"}], rate_limit=100
        )
    assert results[0].ok
    [call] = calls(exporter)
    [attempt] = attempts(exporter)
    assert parent_id(attempt) == call.context.span_id


# ---- failures -----------------------------------------------------------------------------------


async def test_a_4xx_fails_both_spans_and_records_the_error(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with traced(amas_emulator, provider) as client:
        with pytest.raises(amas.NotFoundError) as caught:
            await client.sessions.get("no-such-session")
    [call] = calls(exporter)
    [attempt] = attempts(exporter)
    for span in (call, attempt):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs_of(span)["error.type"] == "404"
        assert attrs_of(span)["http.response.status_code"] == 404
    assert call.name == "amas GET /sessions/{session_id}/"
    # The call span records the error the call raised.
    [event] = call.events
    assert event.name == "exception"
    recorded = attrs_of(event)
    assert recorded["exception.type"] == "amas_async.errors.NotFoundError"
    assert recorded["exception.message"] == str(caught.value)
    assert not attempt.events
    assert_nothing_holds(exporter, amas_emulator.api_key)


async def test_the_api_key_is_never_recorded(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with traced(amas_emulator, provider, api_key=SECRET) as client:
        with pytest.raises(amas.AuthenticationError):
            await client.sessions.create(FLAT)
    [sent] = amas_emulator.requests
    assert sent.headers["x-api-key"] == SECRET  # it was sent, below the tracing layers
    [call] = calls(exporter)
    assert attrs_of(call)["error.type"] == "401"
    assert_nothing_holds(exporter, SECRET)


async def test_a_connection_failure_records_the_exception(
    amas_retry_clock: RetryClock, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with unaccepting_port() as port:
        async with amas.AsyncAmas(
            base_url=f"http://127.0.0.1:{port}/api/v1",
            api_key=SECRET,
            timeout=amas.Timeout(connect=0.05, total=10),
            max_retries=1,
            middlewares=[TracingMiddleware(tracer_provider=provider)],
        ) as client:
            with pytest.raises(amas.APITimeoutError) as caught:
                await client.sessions.get("s1")
    [call] = calls(exporter)
    spans = attempts(exporter)
    assert len(spans) == 2
    for span in (call, *spans):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs_of(span)["error.type"] == "amas_async.errors.APITimeoutError"
        assert "http.response.status_code" not in attrs_of(span)
        [event] = [e for e in span.events if e.name == "exception"]
        assert attrs_of(event)["exception.type"] == attrs_of(span)["error.type"]
    [raised] = [e for e in call.events if e.name == "exception"]
    assert attrs_of(raised)["exception.message"] == str(caught.value)
    assert attrs_of(spans[1])["http.request.resend_count"] == 1
    assert attrs_of(call)["server.port"] == port
    [retry] = [e for e in call.events if e.name == "amas.retry"]
    assert attrs_of(retry)["amas.retry.reason"].startswith("APITimeoutError: ")
    assert_nothing_holds(exporter, SECRET)


async def test_a_cancelled_call_ends_its_spans_as_errors(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with traced(amas_emulator, provider) as client:
        amas_emulator.fail_next(delay=30)
        task = asyncio.create_task(client.sessions.get("abc"))
        await wait_until(lambda: bool(amas_emulator.requests), what="the request arrived")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert attrs_of(span)["error.type"].endswith(".CancelledError")
        assert not span.events


# ---- options, the sync client, the hook ---------------------------------------------------------


async def test_propagate_false_sends_no_trace_context(
    amas_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = TracingMiddleware(tracer_provider=provider, propagate=False)
    assert repr(tracing) == "TracingMiddleware(propagate=False)"
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, middlewares=[tracing]
    ) as client:
        await client.sessions.create(FLAT)
    [sent] = amas_emulator.requests
    assert "traceparent" not in sent.headers
    assert len(attempts(exporter)) == 1


def test_the_sync_client_traces_under_the_callers_span(
    threaded_emulator: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("the-app")
    with (
        amas.Amas(
            base_url=threaded_emulator.base_url,
            api_key=threaded_emulator.api_key,
            middlewares=[TracingMiddleware(tracer_provider=provider)],
        ) as client,
        tracer.start_as_current_span("sync caller") as parent,
    ):
        session = client.sessions.create(FLAT)
        session.execute("Hi")
    call_spans = calls(exporter)
    assert len(call_spans) == 2
    assert {parent_id(span) for span in call_spans} == {parent.get_span_context().span_id}
    execute = attempts(exporter)[1]
    assert attrs_of(execute)["amas.session_id"] == session.id
    sent = threaded_emulator.requests[-1]
    assert sent.headers["traceparent"] == traceparent_of(execute)


async def test_an_attempt_middleware_sees_every_attempt_without_the_key(
    amas_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    seen: list[tuple[int, bool]] = []

    async def below(request: amas.Request, handler: amas.Handler) -> amas.Response:
        seen.append((request.attempt, "x-api-key" in {k.lower() for k in request.headers}))
        return await handler(request)

    class Outer:
        attempt_middleware = staticmethod(below)

        async def __call__(self, request: amas.Request, handler: amas.Handler) -> amas.Response:
            return await handler(request)

    amas_emulator.fail_next(2, status=503)
    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, middlewares=[Outer()]
    ) as client:
        await client.sessions.create(FLAT)
    assert seen == [(1, False), (2, False), (3, False)]


@pytest.mark.parametrize(
    ("url", "full", "port"),
    [
        ("https://user:pw@amas.test/api/v1/agent/a1/", "https://REDACTED:REDACTED@amas.test", 443),
        ("http://amas.test:99999/api/v1/agent/a1/", "http://amas.test:99999", None),
    ],
    ids=["credentials", "bad-port"],
)
async def test_the_attempt_layer_alone_describes_the_request(
    url: str, full: str, port: int | None, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = TracingMiddleware(tracer_provider=provider, propagate=False)
    sent: list[amas.Request] = []

    async def answer(request: amas.Request) -> amas.Response:
        sent.append(request)
        return amas.Response(204, request=request)

    request = amas.Request("DELETE", url, params=[("force", "1")])
    assert tracing.attempt_middleware is not None
    await tracing.attempt_middleware(request, answer)
    [span] = exporter.get_finished_spans()
    assert span.name == "DELETE /api/v1/agent/{agent_id}/"
    assert attrs_of(span)["url.full"] == full + "/api/v1/agent/a1/?force=1"
    assert attrs_of(span).get("server.port") == port
    assert attrs_of(span)["amas.agent_id"] == "a1"
    assert "pw" not in span.to_json()
    assert sent[0].headers == {}  # propagate=False


@pytest.mark.parametrize("value", [42, "not callable"])
def test_a_non_callable_attempt_middleware_is_refused(value: object) -> None:
    class Odd:
        attempt_middleware = value

        async def __call__(self, request: amas.Request, handler: amas.Handler) -> amas.Response:
            return await handler(request)

    with pytest.raises(amas.InvalidContentError, match="attempt_middleware"):
        amas.AsyncAmas(api_key="k", middlewares=[Odd()])


def test_without_opentelemetry_the_import_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hidden: Sequence[str] = [name for name in sys.modules if name.startswith("opentelemetry")]
    for name in hidden:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "amas_async.otel")
    with pytest.raises(ImportError, match=r"pip install 'amas-async\[otel\]'"):
        importlib.import_module("amas_async.otel")
