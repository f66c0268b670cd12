"""OpenTelemetry tracing for the AMAS client: ``AsyncAmas(middlewares=[TracingMiddleware()])``.

Needs the ``otel`` extra (``pip install 'amas-async[otel]'``, the OpenTelemetry API only); the
application brings the SDK and its exporters. Two layers, one object:

- the middleware itself wraps the whole call (every attempt, retries and their waits): one
  span of kind INTERNAL, named ``amas {method} {route}`` (``amas POST
  /runtime/{session_id}/execute/``), with an ``amas.retry`` event before each retry;
- its ``attempt_middleware`` (the client places it under the retry layer, above logging and
  the API key) makes one span of kind CLIENT per HTTP attempt, named per the HTTP semantic
  conventions ``{method} {url.template}``, and injects that span's W3C trace context
  (``traceparent``) into the attempt's headers with the global propagator.

Attributes are the stable HTTP client ones (``http.request.method``, ``url.full``,
``server.address``, ``server.port``, ``http.response.status_code``, ``error.type``,
``http.request.resend_count``) and the AMAS ones (``amas.session_id`` and the other ids in the
path, ``amas.idempotency_key``, ``amas.attempts``). Ids never go into span names: they are
replaced by placeholders. Request and response headers and bodies are never recorded, and the
API key cannot be: it is added below every middleware.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import unquote, urlencode, urlsplit

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:
    raise ImportError(
        "amas_async.otel needs OpenTelemetry: pip install 'amas-async[otel]'"
    ) from exc

from ._clock import clock
from ._http import Handler, Request, Response
from ._version import __version__
from .errors import make_status_error

__all__ = ["TracingMiddleware"]

#: The segment before an id in the API's paths, and the name the id goes by.
_ID_AFTER = {
    "runtime": "session_id",
    "sessions": "session_id",
    "from-agent": "agent_id",
    "agent": "agent_id",
    "files": "file_id",
    "collections": "collection_id",
    "knowledge-bases": "knowledge_base_id",
}
#: Path segments that stand where an id could, but are routes of their own.
_LITERALS = frozenset({"from-agent", "validate", "upload"})
#: The first segment of each of the API's routes (what the call span's name starts from).
_RESOURCES = frozenset({*_ID_AFTER, "images"} - {"from-agent"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RETRY_EVENT = "amas.retry"

Attributes = dict[str, str | int | float | bool]


class _Call:
    """What the call layer shares with the attempt layer through ``request.extensions``."""

    __slots__ = ("attributes", "ended_at", "ended_ns", "name", "outcome", "span")

    def __init__(self, span: Span, name: str, attributes: Attributes) -> None:
        self.span = span
        self.name = name  # the attempts' span name
        self.attributes = attributes  # the request's attributes, the same for every attempt
        self.outcome: int | BaseException | None = None  # the last attempt's status or error
        self.ended_at = 0.0  # when it ended, on the retry clock
        self.ended_ns = 0  # and on the wall clock, for the retry event


class TracingMiddleware:
    """OpenTelemetry spans for every call and every attempt; see the module docstring.

    ``tracer_provider`` defaults to the global one (``opentelemetry.trace``), looked up
    through the API's proxy so a provider set later is still used. With ``propagate=False``
    no trace context is added to the requests.

    Pass it in ``middlewares=`` of :class:`~amas_async.AsyncAmas` or :class:`~amas_async.Amas`;
    the client installs :attr:`attempt_middleware` under its retries on its own.
    """

    __slots__ = ("_key", "_propagate", "_tracer", "attempt_middleware")

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, propagate: bool = True
    ) -> None:
        self._tracer = trace.get_tracer("amas_async", __version__, tracer_provider)
        self._propagate = propagate
        self._key = f"amas_async.otel.{id(self):x}"
        self.attempt_middleware = self._attempt
        """The per-attempt layer (a middleware); the client places it under the retry layer.

        It makes one CLIENT span per HTTP attempt and, unless ``propagate=False``, sends its
        trace context in the attempt's headers; you never call it yourself."""

    def __repr__(self) -> str:
        return f"TracingMiddleware(propagate={self._propagate})"

    async def __call__(self, request: Request, handler: Handler) -> Response:
        """Trace one call: the INTERNAL span around all its attempts."""
        attributes, template, route = _describe(request)
        method = request.method
        with self._tracer.start_as_current_span(
            f"amas {method} {route}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            call = _Call(span, f"{method} {template}", attributes)
            extensions = {**request.extensions, self._key: call}
            try:
                response = await handler(request.replace(extensions=extensions))
            except BaseException as exc:
                _failed(span, exc)
                raise
            span.set_attribute("amas.attempts", response.attempts)
            if _answered(span, response.status):
                # What the client is about to raise for this answer (built the same way).
                error = make_status_error(
                    response.status,
                    response.headers,
                    response.content,
                    method=method,
                    url=response.url,
                    reason=response.reason,
                    attempts=response.attempts,
                )
                span.record_exception(error)
            return response

    async def _attempt(self, request: Request, handler: Handler) -> Response:
        """Trace one attempt: a CLIENT span, its context sent in the request's headers."""
        call: _Call | None = request.extensions.get(self._key)
        if call is None:  # not under this middleware's call layer: describe it here
            attributes, template, _ = _describe(request)
            name = f"{request.method} {template}"
        else:
            attributes, name = call.attributes, call.name
            if request.attempt > 1 and call.outcome is not None:
                _retry_event(call, request.attempt)
        if request.attempt > 1:
            attributes = {**attributes, "http.request.resend_count": request.attempt - 1}
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if self._propagate:
                carrier: dict[str, str] = {}
                propagate.inject(carrier, context=trace.set_span_in_context(span))
                if carrier:
                    request = request.replace(headers={**request.headers, **carrier})
            try:
                response = await handler(request)
            except BaseException as exc:
                _failed(span, exc)
                if call is not None:
                    _ended(call, exc)
                raise
            _answered(span, response.status)
            if call is not None:
                _ended(call, response.status)
            return response


def _describe(request: Request) -> tuple[Attributes, str, str]:
    """The request's attributes, its path template and its API route (ids as placeholders)."""
    parts = urlsplit(request.url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    url = request.url
    if "@" in parts.netloc:  # credentials in a URL are never recorded (the client refuses them)
        netloc = "REDACTED:REDACTED@" + parts.netloc.rpartition("@")[2]
        url = parts._replace(netloc=netloc).geturl()
    if request.params:
        url += ("&" if parts.query else "?") + urlencode(request.params)
    segments: list[str] = []
    ids: dict[str, str] = {}
    previous = ""
    start = None
    for segment in parts.path.split("/"):
        name = _ID_AFTER.get(previous)
        if name is not None and segment and segment not in _LITERALS:
            ids[name] = unquote(segment)
            segments.append("{" + name + "}")
            previous = ""
            continue
        if start is None and segment in _RESOURCES:
            start = len(segments)
        segments.append(segment)
        previous = segment
    template = "/".join(segments) or "/"
    route = "/" + "/".join(segments[start:]) if start is not None else template
    attributes: Attributes = {
        "http.request.method": request.method,
        "url.full": url,
        "url.template": template,
        "server.address": host,
    }
    if port is not None:
        attributes["server.port"] = port
    for name, value in ids.items():
        attributes[f"amas.{name}"] = value
    key = _header(request.headers, "idempotency-key")
    if key is not None:
        attributes["amas.idempotency_key"] = key
    return attributes, template, route


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (lower case) in a mapping of any case."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _answered(span: Span, status: int) -> bool:
    """Record an answer's status on ``span``; True (and the span an error) from 400 up."""
    span.set_attribute("http.response.status_code", status)
    if status < 400:
        return False
    span.set_attribute("error.type", str(status))
    span.set_status(Status(StatusCode.ERROR))
    return True


def _failed(span: Span, exc: BaseException) -> None:
    """Record a failure (no answer, or a cancellation) on ``span``."""
    span.set_attribute("error.type", _error_type(exc))
    if isinstance(exc, Exception):
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc) or None))
    else:
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _ended(call: _Call, outcome: int | BaseException) -> None:
    call.outcome = outcome
    call.ended_at = clock.monotonic()
    call.ended_ns = time.time_ns()


def _retry_event(call: _Call, attempt: int) -> None:
    """The ``amas.retry`` event on the call span, stamped when the failed attempt ended."""
    outcome = call.outcome
    attributes: Attributes = {
        "amas.retry.attempt": attempt - 1,
        "amas.retry.wait_seconds": max(0.0, clock.monotonic() - call.ended_at),
    }
    if isinstance(outcome, int):
        attributes["http.response.status_code"] = outcome
        attributes["error.type"] = str(outcome)
        attributes["amas.retry.reason"] = str(outcome)
    elif outcome is not None:
        attributes["error.type"] = _error_type(outcome)
        attributes["amas.retry.reason"] = f"{type(outcome).__name__}: {outcome}"
    call.span.add_event(_RETRY_EVENT, attributes, timestamp=call.ended_ns)
