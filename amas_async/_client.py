"""``AsyncAmas``: the client's lifecycle (open once, close once) and its middleware chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from ._config import ClientConfig, Limits, TimeoutTypes, make_config
from ._multipart import MultipartBody
from ._serde import decode_json
from ._transport import Handler, Middleware, Request, Transport, build_chain
from ._validation import path_segment
from .errors import AmasError, InvalidContentError, ResponseValidationError, make_status_error
from .resources import AsyncImages, AsyncRuntime, AsyncSessions, Session

T = TypeVar("T")

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_ACCEPT = {"Accept": "application/json"}


class AsyncAmas:
    """The async AMAS client.

    ``api_key`` defaults to ``AMAS_API_KEY`` (a missing key raises :class:`AmasError` here);
    ``base_url`` to ``AMAS_BASE_URL``, else ``https://api-be.atthene.com/api/v1``. ``timeout``
    is seconds or a :class:`Timeout`; ``limits`` sizes the connection pool; ``middlewares``
    are ``(request, handler)`` callables wrapped around every call, the first outermost.

    Use it as ``async with AsyncAmas() as client:`` or call :meth:`aclose`. The aiohttp session
    is created inside the running loop on first use; a closed client cannot be reopened.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = None,
        retry: None = None,
        max_retries: int | None = None,
        *,
        limits: Limits | None = None,
        default_headers: Mapping[str, str] | None = None,
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        if retry is not None or max_retries not in (None, 0):
            raise AmasError(
                "retries are not available in this version: pass retry=None and max_retries=None"
            )
        self._config: ClientConfig = make_config(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            limits=limits,
            default_headers=default_headers,
        )
        for middleware in middlewares:
            if not callable(middleware):
                raise InvalidContentError(
                    f"a middleware must be callable, got {type(middleware).__name__}"
                )
        self._middlewares: tuple[Middleware, ...] = tuple(middlewares)
        self._transport = Transport(self._config)
        self._handler: Handler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.sessions = AsyncSessions(self)
        self.runtime = AsyncRuntime(self)
        self.images = AsyncImages(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._handler else "new"
        return f"AsyncAmas(base_url={self._config.base_url!r}, {state})"

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._config.base_url

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` has run."""
        return self._closed

    def session(self, session_id: str) -> Session:
        """A handle on an existing session; no request is made."""
        path_segment(session_id, "session_id")
        return Session(self, session_id)

    # ---- lifecycle ------------------------------------------------------------------------

    def _open(self) -> Handler:
        if self._closed:
            raise AmasError("this client is closed; create a new AsyncAmas")
        loop = asyncio.get_running_loop()
        if self._handler is None:
            self._transport.open()
            self._loop = loop
            self._handler = build_chain(self._middlewares, self._transport.handle)
        elif loop is not self._loop:
            raise AmasError(
                "this client belongs to another event loop; create one client per loop "
                "(or use amas_async.Amas from synchronous code)"
            )
        return self._handler

    async def __aenter__(self) -> AsyncAmas:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent; the client cannot be used afterwards."""
        self._closed = True
        self._handler = None
        await self._transport.aclose()

    # ---- sending --------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        multipart: MultipartBody | None = None,
        idempotent: bool = True,
        parse: Callable[[Any], T],
    ) -> T:
        """Send one call through the middleware chain; ``parse`` reads the 2xx answer's JSON.

        A non-2xx answer raises the matching :class:`APIStatusError`; a 2xx whose body is not
        JSON, or that ``parse`` rejects, raises :class:`ResponseValidationError` carrying the
        status, method and URL.
        """
        handler = self._handler
        if handler is None or asyncio.get_running_loop() is not self._loop:
            handler = self._open()
        request = Request(
            method,
            self._config.base_url + path,
            headers=dict(_JSON_HEADERS if content is not None else _ACCEPT),
            params=params,
            content=content,
            multipart=multipart,
            idempotent=idempotent,
        )
        response = await handler(request)
        if not 200 <= response.status < 300:
            raise make_status_error(
                response.status,
                response.headers,
                response.content,
                method=method,
                url=response.url,
                reason=response.reason,
            )
        try:
            data = decode_json(response.content)
        except ValueError:
            text = response.text()
            shown = text.strip()[:200] or "an empty body"
            raise ResponseValidationError(
                f"expected a JSON body, got {shown!r}",
                status_code=response.status,
                body=text,
                method=method,
                url=response.url,
            ) from None
        try:
            return parse(data)
        except ResponseValidationError as exc:
            exc.status_code, exc.method, exc.url = response.status, method, response.url
            raise
