"""The request pipeline: every request passes one aiohttp middleware per step.

The order is declared once, in :meth:`Pipeline.middlewares` (outermost first): count it,
read its body, record it, wait the latency, apply a scripted rule; for ``/api/v1`` paths the
random fault, the API key and the rate limit; then the size limit, idempotency, and the
endpoint, whose errors become the documented JSON body. A step that answers (a rule, a fault,
a 401, 429 or 413) ends the request there: the later steps and the endpoint do not run. A
drop closes the connection instead of answering: before the later steps, or (``"drop_after"``)
once they and the endpoint have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from .errors import ApiError, error_message, error_response, error_type
from .faults import Drop, Faults
from .routes import API_PREFIX, BODY, Sleep, request_key
from .state import EmulatorState, RecordedRequest

if TYPE_CHECKING:
    # Handler: what a middleware calls next; Middleware: middleware(request, handler).
    from aiohttp.typedefs import Handler, Middleware

logger = logging.getLogger("amas_async.testing")


IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
REPLAY_HEADER: Final = "Idempotent-Replayed"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CHUNK: Final = 64 * 1024
"""Request bodies are read in chunks of this size."""

_OVERSIZED: Final = request_key("amas_emulator.oversized", bool)


@dataclass(frozen=True)
class StoredAnswer:
    """An answer kept for idempotent replay (Content-Length is recomputed on replay)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]

    def replay(self) -> web.Response:
        """The stored answer again, marked ``Idempotent-Replayed: true``."""
        headers = CIMultiDict(self.headers)
        headers[REPLAY_HEADER] = "true"
        return web.Response(status=self.status, body=self.body, headers=headers)


ReplayStore = dict[tuple[str, str], StoredAnswer]
"""Stored answers by (path, Idempotency-Key)."""


def is_api(request: web.Request) -> bool:
    """Whether the request is for an ``/api/v1`` path (media URLs are not)."""
    path = request.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class Pipeline:
    """The middlewares of one running :class:`Emulator`.

    Args:
        state: Where requests are recorded and counted.
        faults: The fault script (rules, random faults, rate limit, latency).
        api_key: The only accepted ``x-api-key``.
        max_body_bytes: Larger request bodies are truncated and answered 413.
        replays: Stored idempotent answers (kept by the emulator across restarts).
        sleep: A sleep that ends early when the server stops.
    """

    def __init__(
        self,
        *,
        state: EmulatorState,
        faults: Faults,
        api_key: str,
        max_body_bytes: int,
        replays: ReplayStore,
        sleep: Sleep,
    ) -> None:
        self._state = state
        self._faults = faults
        self._api_key = api_key.encode()
        self._max_body_bytes = max_body_bytes
        self._replays = replays
        self._pending: dict[tuple[str, str], asyncio.Event] = {}
        self._sleep = sleep

    def middlewares(self) -> list[Middleware]:
        """The steps in order, outermost first (the order is part of the emulator's contract)."""
        return [
            self.count_in_flight,  # Emulator.in_flight, peak_in_flight
            self.read_body,  # request[BODY]
            self.record,  # Emulator.requests
            self.latency,  # set_latency
            self.scripted_rules,  # fail_next, respond_next
            self.random_faults,  # set_fault_rate (/api/v1 only)
            self.authenticate,  # x-api-key: 401 (/api/v1 only)
            self.rate_limit,  # set_rate_limit: 429 (/api/v1 only)
            self.size_limit,  # 413
            self.idempotency,  # Idempotency-Key replays (/api/v1, not GET/HEAD/OPTIONS)
            self.json_errors,  # the endpoint's errors as the documented body
        ]

    @web.middleware
    async def count_in_flight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count the request in ``in_flight`` (and ``peak_in_flight``) while it is handled."""
        self._state.enter()
        try:
            return await handler(request)
        finally:
            self._state.leave()

    @web.middleware
    async def read_body(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Read the body in chunks into ``request[BODY]``, at most ``max_body_bytes``.

        A longer body is truncated there and marked for :meth:`size_limit` (aiohttp drains
        and discards the unread rest after answering).
        """
        data = bytearray()
        oversized = False
        if request.body_exists:
            limit = self._max_body_bytes
            async for chunk in request.content.iter_chunked(CHUNK):
                if len(data) + len(chunk) > limit:
                    data += chunk[: limit - len(data)]
                    oversized = True
                    break
                data += chunk
        request[BODY] = bytes(data)
        request[_OVERSIZED] = oversized
        return await handler(request)

    @web.middleware
    async def record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Append a :class:`RecordedRequest` to ``Emulator.requests``."""
        query: dict[str, str] = {}
        for name, value in request.query.items():
            query.setdefault(name, value)
        self._state.record(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=query,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=request[BODY],
                query_items=tuple(request.query.items()),
                received_at=time.time(),
            )
        )
        return await handler(request)

    @web.middleware
    async def latency(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Wait the configured latency first."""
        if self._faults.latency > 0:
            await self._sleep(self._faults.latency)
        return await handler(request)

    @web.middleware
    async def scripted_rules(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer with the first matching ``fail_next``/``respond_next`` rule, if any."""
        rule = self._faults.take_rule(request.method, request.path)
        if rule is None:
            return await handler(request)
        await self._sleep(rule.delay)
        if rule.drop is not None:
            return await drop_connection(request, handler, rule.drop)
        if rule.error:
            return error_response(ApiError.for_status(rule.status, headers=rule.headers))
        return web.Response(status=rule.status, body=rule.body, headers=rule.headers)

    @web.middleware
    async def random_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Fail a random share of API requests (``set_fault_rate``); 429 adds Retry-After.

        A drawn drop closes or resets the connection (``"drop_after"``: after the request
        went on to the endpoint).
        """
        fault = self._faults.random_fault() if is_api(request) else None
        if fault is None:
            return await handler(request)
        if isinstance(fault, str):
            return await drop_connection(request, handler, fault)
        headers = {"Retry-After": "1"} if fault == 429 else None
        return error_response(ApiError.for_status(fault, headers=headers))

    @web.middleware
    async def authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 401 to an API request without the right ``x-api-key`` [DOC]."""
        if is_api(request):
            supplied = request.headers.get("x-api-key", "")
            if not hmac.compare_digest(supplied.encode(), self._api_key):
                return error_response(ApiError(401, "authentication_error", error_message(401)))
        return await handler(request)

    @web.middleware
    async def rate_limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 429 with ``Retry-After`` (whole seconds, >= 1) when no token is left."""
        wait = self._faults.take_token() if is_api(request) else None
        if wait is None:
            return await handler(request)
        retry = str(max(1, math.ceil(wait)))
        return error_response(
            ApiError(429, "rate_limit_error", "Too many requests", headers={"Retry-After": retry})
        )

    @web.middleware
    async def size_limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 413 when :meth:`read_body` had to truncate the body."""
        if request[_OVERSIZED]:
            return error_response(
                ApiError(
                    413,
                    "invalid_request_error",
                    f"Request body too large (limit {self._max_body_bytes} bytes)",
                )
            )
        return await handler(request)

    @web.middleware
    async def idempotency(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Replay the first answer to a repeated ``Idempotency-Key`` on the same path.

        Only for API requests with an unsafe method. A repeat that arrives while the first
        request still runs waits for it. Answers with status 409 or >= 500 are not stored,
        so a retry runs normally; nor are the answers of the earlier steps (they never get
        here).
        """
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key or request.method in SAFE_METHODS or not is_api(request):
            return await handler(request)
        scope = (request.path, key)
        while True:
            stored = self._replays.get(scope)
            if stored is not None:
                return stored.replay()
            pending = self._pending.get(scope)
            if pending is None:
                break
            await pending.wait()
        event = asyncio.Event()
        self._pending[scope] = event
        try:
            response = await handler(request)
            if (
                isinstance(response, web.Response)
                and isinstance(response.body, bytes)
                and response.status < 500
                and response.status != 409
            ):
                headers = tuple(
                    (name, value)
                    for name, value in response.headers.items()
                    if name.lower() != "content-length"
                )
                self._replays[scope] = StoredAnswer(response.status, response.body, headers)
            return response
        finally:
            del self._pending[scope]
            event.set()

    @web.middleware
    async def json_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the endpoint; answer its errors (and aiohttp's 404/405) as the documented body.

        An unexpected exception is logged and answered 500 ``api_error``.
        """
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except web.HTTPException as exc:
            return error_response(http_error(request, exc))
        except Exception:
            logger.exception("AMAS emulator: unexpected error handling %s", request.path)
            return error_response(ApiError(500, "api_error", "Internal server error"))


async def drop_connection(request: web.Request, handler: Handler, drop: Drop) -> web.StreamResponse:
    """End the request without an answer: close (or reset) its connection.

    ``"drop"`` closes it and ``"reset"`` resets it (TCP RST) before the request goes on;
    ``"drop_after"`` first lets it go on through the later steps to the endpoint (so an
    execute runs and its answer is stored for replay), then closes it. aiohttp notices the
    closed transport when it writes the returned response, and discards it.
    """
    response = await handler(request) if drop == "drop_after" else web.Response(status=500)
    transport = request.transport
    if transport is None:  # already gone
        return response
    if drop == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger on, 0 s: closing sends RST, not FIN
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    return response


def http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    """The documented error for aiohttp's own answers: unknown path, wrong method, ..."""
    status = exc.status
    if status == 404:
        message = f"Not found: {request.path}"
        if not request.path.endswith("/"):
            message += " (AMAS API paths end with '/')"
    elif status == 405:
        allow = exc.headers.get(hdrs.ALLOW, "")
        message = f"Method {request.method} not allowed on {request.path} (allowed: {allow})"
        return ApiError(405, "method_not_allowed_error", message, headers={hdrs.ALLOW: allow})
    else:
        message = exc.reason or error_message(status)
    return ApiError(status, error_type(status), message)
