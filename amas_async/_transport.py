"""Our transport seam: small Request/Response types, the middleware chain, the aiohttp transport.

Every layer above this module works on :class:`Request` and :class:`Response`; this is the
only module of the client that imports aiohttp, and it translates every aiohttp and asyncio
failure into :class:`~amas_async.APIConnectionError` / :class:`~amas_async.APITimeoutError`.

Middlewares have aiohttp's shape, ``middleware(request, handler) -> response``, the first in a
list being the outermost, but run in our own chain above the transport, so they run the same
under a mock transport, aioresponses and a real server.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import aiohttp
import attrs

from ._config import ClientConfig, Timeout
from ._multipart import MultipartBody
from .errors import AmasError, APIConnectionError, APITimeoutError, InvalidRequestError

__all__ = ["Handler", "Middleware", "Request", "Response", "Transport", "build_chain"]

logger = logging.getLogger("amas_async")

_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_MAX_REDIRECTS = 5


@attrs.frozen
class Request:
    """One HTTP request, as the middlewares see it.

    ``content`` is an encoded body; ``multipart`` a form rebuilt by the transport on every
    attempt. ``idempotent`` says whether sending it twice is harmless (a retry policy reads it);
    ``extensions`` carries per-request options between layers (for example an idempotency key).
    The API key is never in ``headers``: the transport adds it, and only for the base URL's host.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    params: Mapping[str, str] | None = None
    content: bytes | None = None
    multipart: MultipartBody | None = None
    timeout: Timeout | None = None
    idempotent: bool = True
    extensions: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Response:
    """A complete HTTP answer: the body is read and the connection released already."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    request: Request
    url: str
    reason: str | None = None
    elapsed: float = 0.0
    attempts: int = 1

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.content)


Handler = Callable[[Request], Awaitable[Response]]
Middleware = Callable[[Request, Handler], Awaitable[Response]]


def _bind(middleware: Middleware, handler: Handler) -> Handler:
    # A lambda returns the middleware's coroutine directly: no extra frame per layer.
    return lambda request: middleware(request, handler)


def build_chain(middlewares: Sequence[Middleware], handler: Handler) -> Handler:
    """Compose middlewares around a handler; the first middleware is the outermost."""
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


class Transport:
    """The aiohttp transport: one ``ClientSession`` created inside the running loop.

    It adds the API key and default headers, never follows a redirect to another host (and
    never sends the key there), reads each answer whole, releases the connection, and maps
    every aiohttp/asyncio failure to the SDK's connection errors.
    """

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._origin = config.origin
        self._origin_prefix = config.origin + "/"
        self._key_headers = {**config.default_headers, "x-api-key": config.api_key}
        self._plain_headers = dict(config.default_headers)
        self._timeout = self._client_timeout(config.timeout)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
        # Cached: a client made by with_options() passes the same Timeout on every call.
        return aiohttp.ClientTimeout(
            total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
        )

    @property
    def is_open(self) -> bool:
        """True once the aiohttp session exists and until it is closed."""
        return self._session is not None and not self._session.closed

    def open(self) -> None:
        """Create the aiohttp session; must run inside the event loop that will use it."""
        limits = self._config.limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            limit_per_host=limits.max_per_host,
            keepalive_timeout=limits.keepalive_timeout,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            raise_for_status=False,
            # Cookies are not part of the API; a shared jar would leak state between users.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _headers_for(self, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        same_origin = url.startswith(self._origin_prefix) or url == self._origin
        base = self._key_headers if same_origin else self._plain_headers
        if not extra:
            return dict(base)
        headers = {**base, **extra}
        if not same_origin:
            for name in [n for n in headers if n.lower() == "x-api-key"]:
                del headers[name]
        return headers

    async def handle(self, request: Request) -> Response:
        """Send one attempt of ``request`` and return its complete answer."""
        session = self._session
        if session is None:
            raise AmasError("the transport is not open")
        started = time.monotonic()
        timeout = self._timeout
        if request.timeout is not None:
            timeout = self._client_timeout(request.timeout)
        method, url, content = request.method, request.url, request.content
        for _ in range(_MAX_REDIRECTS + 1):
            headers = self._headers_for(url, request.headers)
            files: list[BinaryIO] = []
            try:
                data: Any = content
                if request.multipart is not None:
                    data = await self._form(request.multipart, files)
                async with session.request(
                    method,
                    url,
                    params=request.params,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as resp:
                    body = await resp.read()
                    status, resp_headers, reason = resp.status, resp.headers, resp.reason
            except AmasError:
                raise
            except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
                connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())
                raise APITimeoutError(
                    f"request timed out ({type(exc).__name__})",
                    method=method,
                    url=url,
                    request_sent=not isinstance(exc, connect_timeout),
                ) from exc
            except aiohttp.ClientConnectorError as exc:
                raise APIConnectionError(
                    f"could not connect: {exc.os_error or exc}",
                    method=method,
                    url=url,
                    request_sent=False,
                ) from exc
            except aiohttp.InvalidURL as exc:
                raise InvalidRequestError(f"invalid URL: {url}") from exc
            except (aiohttp.ClientError, OSError) as exc:
                if session.closed:
                    raise APIConnectionError(
                        "the client was closed while this request was in flight",
                        method=method,
                        url=url,
                        request_sent=True,
                    ) from exc
                raise APIConnectionError(
                    f"connection failed: {type(exc).__name__}: {exc}".rstrip(": "),
                    method=method,
                    url=url,
                    request_sent=True,
                ) from exc
            finally:
                for handle in files:
                    handle.close()
            if status not in _REDIRECTS:
                break
            location = resp_headers.get("Location")
            if not location:
                break
            target = urljoin(url, location)
            if not self._same_origin(target):
                break  # never follow to another host: the caller gets the 3xx as an error
            if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                method, content = "GET", None
                request = attrs.evolve(request, multipart=None, content=None)
            url = target
        elapsed = time.monotonic() - started
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %d in %.1f ms", method, url, status, elapsed * 1000)
        return Response(
            status=status,
            headers=resp_headers,
            content=body,
            request=request,
            url=url,
            reason=reason,
            elapsed=elapsed,
        )

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self._origin)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    @staticmethod
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
