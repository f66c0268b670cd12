"""The aiohttp transport: one attempt, read whole, release, failures mapped to our errors.

This is the only module of the client that imports aiohttp. It knows nothing of API keys,
redirects, retries or logging: the layers above do those. No aiohttp type crosses it: answers
come back as :class:`~amas_async.Response` with our own :class:`Headers`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, BinaryIO, NoReturn

import aiohttp

from .._config import Limits, Timeout
from .._http import DirectSender, Exchange, Headers, Params, Request, Response, answer
from .._multipart import MultipartBody
from ..errors import (
    AmasError,
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    ResponseTooLargeError,
)

__all__ = ["AiohttpTransport"]

_CONNECT_TIMEOUTS: tuple[type[BaseException], ...] = tuple(
    cls for cls in (getattr(aiohttp, "ConnectionTimeoutError", None),) if cls is not None
)


#: A direct sender's identity: its origin and its constant headers.
_DirectKey = tuple[str, tuple[tuple[str, str], ...]]


@functools.lru_cache(maxsize=64)
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # Cached: a conversation sends the same Timeout on every call.
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


class AiohttpTransport:
    """The default transport: one ``aiohttp.ClientSession``, created in the loop that uses it.

    ``limits`` sizes the connection pool and caps the size of an answer (a larger one raises
    :class:`~amas_async.ResponseTooLargeError`); ``timeout`` applies to requests that carry
    none. Redirects are never followed here (the client follows same-origin ones itself), cookies
    are not kept, and every aiohttp or asyncio failure becomes an
    :class:`~amas_async.APIConnectionError` or :class:`~amas_async.APITimeoutError` saying
    whether the request may have reached the server.
    """

    def __init__(self, *, limits: Limits | None = None, timeout: Timeout | None = None) -> None:
        self._limits = limits or Limits()
        self._max_body = self._limits.max_response_bytes
        self._timeout = timeout or Timeout()
        self._default_timeout = _client_timeout(self._timeout)
        self._session: aiohttp.ClientSession | None = None
        self._direct_sessions: dict[_DirectKey, aiohttp.ClientSession] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._session else "new"
        return f"AiohttpTransport({state})"

    @property
    def is_open(self) -> bool:
        """True once the aiohttp session exists (after the first request) and until closed."""
        return self._session is not None and not self._session.closed

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise AmasError("this transport is closed")
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            limit_per_host=limits.max_per_host,
            keepalive_timeout=limits.keepalive_timeout,
        )
        self._session = self._new_session(connector, owner=True)
        return self._session

    def _new_session(
        self,
        connector: aiohttp.BaseConnector,
        *,
        owner: bool,
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientSession:
        """A session on ``connector``; the ``owner`` closes the connector when it closes."""
        session = aiohttp.ClientSession(
            connector=connector,
            connector_owner=owner,
            headers=headers,
            timeout=self._default_timeout,
            auto_decompress=True,
            raise_for_status=False,
            # Cookies are not part of the API; a shared jar would leak state between users.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # aiohttp re-sends a GET, PUT or DELETE once, unseen, when the server closes the
        # connection without answering. Every retry is the retry policy's to make (counted,
        # reported to on_retry, never behind max_retries=0's back): a DELETE re-sent after it
        # took effect would report 404. Unset, it is the attribute aiohttp's own test client
        # sets to the same end; absent in a future aiohttp, nothing changes here.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections (idempotent)."""
        self._closed = True
        direct, self._direct_sessions = self._direct_sessions, {}
        for own in direct.values():  # they share the main session's connector: close them first
            if not own.closed:
                await own.close()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _timeout_for(self, own: Timeout | None) -> aiohttp.ClientTimeout:
        # The client passes the default Timeout object itself: no hashing for the cache.
        if own is None or own is self._timeout:
            return self._default_timeout
        return _client_timeout(own)

    def direct(self, origin: str, headers: Mapping[str, str]) -> DirectSender:
        """A sender for requests to ``origin`` only, with ``headers`` on every one of them.

        The client's lean path for the common case (no user middleware, no form): the
        constant headers are set once on an aiohttp session that shares this transport's
        connection pool, and the attempt is awaited in the caller's own coroutine. The caller
        must give it only URLs on ``origin``: the headers (the API key among them) go with
        every request. A request with a body is sent as JSON.
        """
        return _DirectSender(self, (origin, tuple(sorted(headers.items()))))

    def _direct_session(self, key: _DirectKey) -> aiohttp.ClientSession:
        session = self._direct_sessions.get(key)
        if session is not None:
            return session
        main = self._session or self._open()  # raises once the transport is closed
        connector = main.connector
        assert connector is not None
        session = self._new_session(connector, owner=False, headers=dict(key[1]))
        self._direct_sessions[key] = session
        return session

    async def handle(self, request: Request) -> Response:
        """Send one attempt of ``request`` and return its complete answer."""
        session = self._session or self._open()
        started = time.monotonic()
        files: list[BinaryIO] = []
        try:
            data: Any = request.content
            if request.multipart is not None:
                data = await _form(request.multipart, files)
            status, body, raw_headers, reason = await _exchange(
                session,
                request.method,
                request.url,
                request.params,
                data,
                request.headers,
                self._timeout_for(request.timeout),
                request.attempt,
                self._max_body,
            )
        finally:
            for handle in files:
                handle.close()
        return answer(
            status,
            Headers.from_raw(raw_headers),
            body,
            request,
            request.url,
            reason,
            time.monotonic() - started,
            request.attempt,
        )


async def _exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    params: Params | None,
    data: Any,
    headers: Mapping[str, str] | None,
    timeout: aiohttp.ClientTimeout,
    attempt: int,
    limit: int,
) -> Exchange:
    """One attempt on ``session``: the answer read whole, or a failure mapped to our errors."""
    try:
        response = await session.request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        )
        try:
            body = await _read(response, limit)
        finally:
            response.release()
        return response.status, body, response.raw_headers, response.reason
    except Exception as exc:
        raise _failure(exc, session.closed, method, url, attempt) from exc


def _read(response: aiohttp.ClientResponse, limit: int) -> Awaitable[bytes]:
    """The whole body of ``response``, at most ``limit`` bytes once decoded.

    An answer that declares its length, unencoded, within the limit is read in one go (the
    parser stops at that length); anything else is counted while it streams in.
    """
    length = response.content_length
    if length is not None and length <= limit and not response.headers.get("Content-Encoding"):
        return response.read()
    return _read_counted(response, limit, length)


async def _read_counted(response: aiohttp.ClientResponse, limit: int, length: int | None) -> bytes:
    if length is not None and length > limit:
        _too_large(response, limit, length)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                _too_large(response, limit, length)
            chunks.append(chunk)
    except BaseException:
        response.close()  # as aiohttp's own read() does: a half-read connection is not reused
        raise
    response.release()
    return b"".join(chunks)


def _too_large(response: aiohttp.ClientResponse, limit: int, length: int | None) -> NoReturn:
    response.close()  # the rest is never read: the connection cannot be reused
    raise ResponseTooLargeError(
        limit=limit,
        size=length if length is not None and length > limit else None,
        status_code=response.status,
        method=response.method,
        url=str(response.url.with_query(None)),
    )


def _failure(exc: Exception, closed: bool, method: str, url: str, attempt: int) -> AmasError:
    """Our error for ``exc``, raised while sending or reading; re-raises what is not a failure."""
    if isinstance(exc, AmasError):
        raise exc
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        sent = not isinstance(exc, _CONNECT_TIMEOUTS) and not _while_connecting(exc)
        return APITimeoutError(
            f"request timed out ({type(exc).__name__})"
            + ("" if sent else " before a connection was made"),
            method=method,
            url=url,
            request_sent=sent,
            attempts=attempt,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"could not connect: {exc.os_error or exc}",
            method=method,
            url=url,
            request_sent=False,
            attempts=attempt,
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidRequestError(f"invalid URL: {url}")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        message = (
            "the client was closed while this request was in flight"
            if closed
            else f"connection failed: {type(exc).__name__}: {exc}".rstrip(": ")
        )
        return APIConnectionError(
            message, method=method, url=url, request_sent=True, attempts=attempt
        )
    raise exc


def _while_connecting(exc: BaseException) -> bool:
    """Whether a total timeout cut the attempt short while it was still getting a connection.

    aiohttp's total timer cancels the attempt wherever it is and raises a plain
    ``TimeoutError``: the cancellation it chains shows where. Only a cancellation inside the
    connector (waiting for a pool slot, DNS, TCP, TLS) proves that nothing was sent; anything
    else, or a chain that says nothing, counts as maybe sent (the safe answer: such an
    execution is not retried).
    """
    cause = exc.__context__
    for _ in range(3):
        if cause is None:
            return False
        if isinstance(cause, asyncio.CancelledError):
            frame = cause.__traceback__
            while frame is not None:
                if frame.tb_frame.f_code.co_filename.endswith(_CONNECTOR_FILE):
                    return True
                frame = frame.tb_next
            return False
        cause = cause.__context__
    return False


_CONNECTOR_FILE = os.path.join("aiohttp", "connector.py")


class _DirectSender:
    """:class:`~amas_async._http.DirectSender` over an aiohttp session of its own."""

    __slots__ = ("_json_key", "_key", "_limit", "_transport")

    def __init__(self, transport: AiohttpTransport, key: _DirectKey) -> None:
        self._transport = transport
        self._key = key
        self._limit = transport._max_body
        # Requests with a (JSON) body go on a session whose constant headers say so: no
        # per-request Content-Type for aiohttp to merge. Both share the transport's pool.
        self._json_key = (key[0], (*key[1], ("Content-Type", "application/json")))

    def __repr__(self) -> str:
        return f"DirectSender(origin={self._key[0]!r})"  # never the headers: the key is there

    def send(
        self,
        method: str,
        url: str,
        params: Params | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: Timeout | None,
    ) -> Awaitable[object]:
        transport = self._transport
        session = transport._direct_session(self._key if content is None else self._json_key)
        return session.request(
            method,
            url,
            params=params,
            data=content,
            headers=headers,
            timeout=transport._timeout_for(timeout),
            allow_redirects=False,
        )

    def read(self, reply: Any) -> Awaitable[bytes]:  # reply: the aiohttp.ClientResponse
        return _read(reply, self._limit)  # closes the connection on failure

    @staticmethod
    def meta(reply: Any) -> tuple[int, Sequence[tuple[bytes, bytes]], str | None]:
        return reply.status, reply.raw_headers, reply.reason

    def failure(self, exc: Exception, method: str, url: str) -> APIConnectionError:
        error = _failure(exc, self._transport._closed, method, url, 1)
        if not isinstance(error, APIConnectionError):
            raise error from exc
        error.__cause__ = exc
        return error


async def _form(body: MultipartBody, opened: list[BinaryIO]) -> aiohttp.FormData:
    """A fresh aiohttp form for one attempt; files are opened here and closed by the caller."""
    form = aiohttp.FormData()
    for name, value in body.fields:
        form.add_field(name, value)
    for part in body.files:
        handle = await asyncio.to_thread(part.source.open)
        opened.append(handle)
        form.add_field(part.name, handle, filename=part.filename, content_type=part.media_type)
    return form
