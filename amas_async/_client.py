"""``AsyncAmas``: the client's lifecycle (open once, close once) and its middleware chain.

A call flows one way: resource -> :meth:`AsyncAmas._request` (builds the :class:`Request`,
follows same-origin redirects, turns the answer into a result or a typed error) -> the chain
(user middlewares, retry, throttles, logging, auth) -> the transport.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import attrs

from ._auth import AuthMiddleware
from ._checks import check_int
from ._clock import clock
from ._config import (
    NOT_GIVEN,
    ClientConfig,
    Limits,
    NotGiven,
    Timeout,
    TimeoutTypes,
    make_config,
)
from ._http import (
    AsyncTransport,
    DirectSender,
    Exchange,
    Handler,
    Headers,
    Middleware,
    Params,
    Request,
    Response,
    answer,
    build_chain,
)
from ._logging import log_exchange, logger
from ._multipart import MultipartBody
from ._redirects import REDIRECT_STATUSES, follow_redirects
from ._retry import RetryMiddleware, RetryPolicy, parse_retry_after
from ._serde import loads
from ._throttle import Throttle
from ._transports import AiohttpTransport
from ._validation import path_segment
from .errors import (
    AmasError,
    APIConnectionError,
    APIStatusError,
    InvalidContentError,
    InvalidRequestError,
    ResponseValidationError,
    make_status_error,
)
from .resources import (
    AsyncAgents,
    AsyncCollections,
    AsyncFiles,
    AsyncImages,
    AsyncKnowledgeBases,
    AsyncRuntime,
    AsyncSessions,
    Session,
)
from .resources._base import ignore_body

T = TypeVar("T")

_JSON = "application/json"
_JSON_HEADERS = {"Content-Type": _JSON, "Accept": _JSON}
_ACCEPT = {"Accept": _JSON}
_DEBUG = logging.DEBUG


def resolve_policy(retry: RetryPolicy | None, max_retries: int | None) -> RetryPolicy:
    """The effective policy: ``retry`` (default :class:`RetryPolicy`), ``max_retries`` on top."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InvalidContentError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
    policy = retry if retry is not None else RetryPolicy()
    if max_retries is not None:
        policy = attrs.evolve(
            policy, max_attempts=check_int(max_retries, "max_retries", minimum=0) + 1
        )
    return policy


class _Pool:
    """What a client and the clients derived by ``with_options`` share: the transport."""

    __slots__ = ("auth", "closed", "loop", "transport")

    def __init__(self, transport: AsyncTransport, auth: AuthMiddleware) -> None:
        self.transport = transport
        self.auth = auth
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False


class AsyncAmas:
    """The async AMAS client.

    Its attributes hold the API's calls: ``sessions`` (:class:`AsyncSessions`), ``runtime``
    (:class:`AsyncRuntime`), ``images`` (:class:`AsyncImages`), ``agents``
    (:class:`AsyncAgents`), ``files`` (:class:`AsyncFiles`), ``collections``
    (:class:`AsyncCollections`) and ``knowledge_bases`` (:class:`AsyncKnowledgeBases`);
    :meth:`session` makes a :class:`Session` handle for an id you already have.

    ``api_key`` defaults to ``AMAS_API_KEY`` (a missing key raises :class:`AmasError` here);
    ``base_url`` to ``AMAS_BASE_URL``, else ``https://api-be.atthene.com/api/v1``. ``timeout``
    is seconds or a :class:`Timeout` for each attempt; ``retry`` a :class:`RetryPolicy`
    (``max_retries=N`` is the shortcut: N retries after the first attempt; 0 turns retries
    off); ``limits`` sizes the connection pool; ``default_headers`` go with every request (a
    request's own headers win); ``middlewares`` are ``(request, handler)``
    callables wrapped around every call (outside the retries), the first outermost;
    ``throttle`` (a :class:`Throttle`) rate-limits every attempt of every call; ``transport``
    (an :class:`AsyncTransport`) replaces the default :class:`AiohttpTransport`, for example
    with ``amas_async.testing.MockTransport``. The client closes its transport when it is
    closed.

    A middleware that has an ``attempt_middleware`` attribute (itself a middleware, or None)
    also gets that layer placed under the retries, below the throttles and above logging and
    the API key: it sees every attempt of every call, numbered in ``request.attempt``, retries
    or not, and never the key (``amas_async.otel.TracingMiddleware`` makes its per-attempt
    spans so). Such layers keep the order of their middlewares, the first outermost.

    ``base_url`` must be ``https://``, or plain ``http://`` to this machine (``localhost``,
    ``127.0.0.0/8``, ``::1``), as the key is sent with every request: another ``http`` host
    is refused unless ``allow_insecure_http=True`` (when None, the environment variable
    ``AMAS_ALLOW_INSECURE_HTTP=1`` opts in). A URL with ``user:password@`` is refused.

    Use it as ``async with AsyncAmas() as client:`` or call :meth:`aclose`. The transport is
    used from the event loop of the first call; a closed client cannot be reopened.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        *,
        limits: Limits | None = None,
        default_headers: Mapping[str, str] | None = None,
        middlewares: Sequence[Middleware] = (),
        throttle: Throttle | None = None,
        transport: AsyncTransport | None = None,
        allow_insecure_http: bool | None = None,
    ) -> None:
        if allow_insecure_http is not None and not isinstance(allow_insecure_http, bool):
            raise InvalidContentError("allow_insecure_http must be True, False or None")
        config = make_config(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            limits=limits,
            default_headers=default_headers,
            allow_insecure_http=allow_insecure_http,
        )
        for middleware in middlewares:
            if not callable(middleware):
                raise InvalidContentError(
                    f"a middleware must be callable, got {type(middleware).__name__}"
                )
            below = getattr(middleware, "attempt_middleware", None)
            if below is not None and not callable(below):
                raise InvalidContentError(
                    f"{type(middleware).__name__}.attempt_middleware must be callable or None, "
                    f"got {type(below).__name__}"
                )
        if throttle is not None and not isinstance(throttle, Throttle):
            raise InvalidContentError(f"throttle must be a Throttle, not {type(throttle).__name__}")
        if transport is None:
            transport = AiohttpTransport(limits=config.limits, timeout=config.timeout)
        elif isinstance(transport, type) or not isinstance(transport, AsyncTransport):
            raise InvalidContentError(
                "transport must have async handle(request) and aclose() methods "
                f"(amas_async.AsyncTransport), not {type(transport).__name__}"
            )
        elif limits is not None:
            raise InvalidRequestError("limits= configures the default transport; not both")
        policy = resolve_policy(retry, max_retries)
        inner = (throttle,) if throttle is not None else ()
        # User middlewares are the same for every client sharing the pool (with_options keeps
        # them): only they could look at an answer's request, so only then is the key hidden.
        auth = AuthMiddleware(
            config.api_key, config.origin, config.default_headers, hide_key=bool(middlewares)
        )
        self._setup(config, _Pool(transport, auth), policy, tuple(middlewares), inner, None)
        self._owns_pool = True  # clients made by with_options() share it and leave it open

    def _setup(
        self,
        config: ClientConfig,
        pool: _Pool,
        policy: RetryPolicy,
        middlewares: tuple[Middleware, ...],
        inner: tuple[Middleware, ...],
        timeout: Timeout | None,
    ) -> None:
        self._config = config
        self._pool = pool
        self._owns_pool = False
        self._policy = policy
        self._user_middlewares = middlewares
        self._inner_middlewares = inner  # under the retry layer: every attempt passes them
        self._timeout = timeout  # None: the transport's default
        self._attempt_timeout = timeout or config.timeout
        chain = list(middlewares)
        retry: RetryMiddleware | None = None
        if policy.max_attempts > 1:  # no retry layer at all when retries are off
            retry = RetryMiddleware(policy, timeout or config.timeout)
            chain.append(retry)
        # Under the retry layer: throttles, the user middlewares' own attempt layers (see the
        # class docstring), logging, and auth innermost: nothing above ever sees the key (the
        # answers' requests are put back without it when user middlewares could look at them).
        per_attempt = _attempt_middlewares(middlewares)
        self._attempt_layers: tuple[Middleware, ...] = (
            *inner,
            *per_attempt,
            log_exchange,
            pool.auth,
        )
        chain.extend(self._attempt_layers)
        self._middlewares: tuple[Middleware, ...] = tuple(chain)
        self._retry = retry
        self._handler: Handler | None = None
        # The lean path (see _request): only with nothing between the call and the transport
        # but retries, throttles, logging and auth, and a transport that offers a direct sender.
        throttles = tuple(m for m in inner if isinstance(m, Throttle))
        self._throttles = throttles
        self._lean = (
            not middlewares
            and len(throttles) == len(inner)
            and not (retry is not None and retry.clips_first)
            and type(pool.transport) is AiohttpTransport
        )
        self._direct: DirectSender | None = None
        self._below_retry: Handler | None = None
        self._closed = False
        self.sessions = AsyncSessions(self)
        self.runtime = AsyncRuntime(self)
        self.images = AsyncImages(self)
        self.agents = AsyncAgents(self)
        self.files = AsyncFiles(self)
        self.collections = AsyncCollections(self)
        self.knowledge_bases = AsyncKnowledgeBases(self)

    def with_options(
        self,
        *,
        retry: RetryPolicy | NotGiven | None = NOT_GIVEN,
        max_retries: int | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> AsyncAmas:
        """A client with other retry or timeout settings, sharing this one's connection pool.

        ``retry`` (a :class:`RetryPolicy`, or None for the default one), ``max_retries`` (N
        retries after the first attempt, on top of ``retry``) and ``timeout`` (seconds, a
        :class:`Timeout`, or None for the default limits) replace this client's; what is left
        out is kept, and so are the middlewares, the throttle and the headers.
        ``client.with_options(max_retries=0).runtime.execute(...)`` changes one call. The new
        client needs no closing of its own: closing the original closes the shared pool.
        """
        policy = self._policy if isinstance(retry, NotGiven) else retry
        timeout_ = self._timeout if isinstance(timeout, NotGiven) else Timeout.of(timeout)
        return self._derive(resolve_policy(policy, max_retries), self._inner_middlewares, timeout_)

    def _with_inner_middleware(self, middleware: Middleware) -> AsyncAmas:
        """A client sharing the pool whose every attempt also passes ``middleware``."""
        inner = (*self._inner_middlewares, middleware)
        return self._derive(self._policy, inner, self._timeout)

    def _derive(
        self, policy: RetryPolicy, inner: tuple[Middleware, ...], timeout: Timeout | None
    ) -> AsyncAmas:
        clone = object.__new__(AsyncAmas)
        clone._setup(self._config, self._pool, policy, self._user_middlewares, inner, timeout)
        return clone

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else "open" if self._handler else "new"
        return f"AsyncAmas(base_url={self._config.base_url!r}, {state})"

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._config.base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force for this client."""
        return self._policy

    @property
    def timeout(self) -> Timeout:
        """The time limits of each attempt."""
        return self._timeout or self._config.timeout

    @property
    def transport(self) -> AsyncTransport:
        """The transport that sends this client's requests."""
        return self._pool.transport

    @property
    def is_closed(self) -> bool:
        """True once :meth:`aclose` has run (on this client or the one it derives from)."""
        return self._closed or self._pool.closed

    def session(self, session_id: str) -> Session:
        """A handle on an existing session; no request is made.

        Its calls (``execute``, ``messages``, ``status`` ...) go to that session; only
        ``id`` is known until :meth:`Session.refresh`. An id that is empty or could change the
        URL path (``/``, ``?``, ``#``, ``..``) raises :class:`InvalidRequestError`.
        """
        path_segment(session_id, "session_id")
        return Session(self, session_id)

    # ---- lifecycle ------------------------------------------------------------------------

    def _open(self) -> Handler:
        pool = self._pool
        if self._closed or pool.closed:
            raise AmasError("this client is closed; create a new AsyncAmas")
        loop = asyncio.get_running_loop()
        if pool.loop is None:
            pool.loop = loop
        elif loop is not pool.loop:
            raise AmasError(
                "this client belongs to another event loop; create one client per loop "
                "(or use amas_async.Amas from synchronous code)"
            )
        if self._handler is None:
            self._handler = build_chain(self._middlewares, pool.transport.handle)
            if self._lean:
                transport = pool.transport
                assert isinstance(transport, AiohttpTransport)
                headers = {**pool.auth.origin_headers(), "Accept": _JSON}
                self._direct = transport.direct(self._config.origin, headers)
                self._below_retry = build_chain(self._attempt_layers, transport.handle)
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
        """Close the transport and its connections. Idempotent; the client cannot be reused.

        On a client made by :meth:`with_options` this only retires that client; the pool
        belongs to the client it was derived from.
        """
        self._closed = True
        self._handler = self._direct = self._below_retry = None
        if self._owns_pool and not self._pool.closed:
            self._pool.closed = True
            await self._pool.transport.aclose()

    # ---- sending --------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Params | None = None,
        multipart: MultipartBody | None = None,
        content_type: str | None = None,
        idempotent: bool = True,
        idempotency_key: str | None = None,
        parse: Callable[[Any], T],
    ) -> T:
        """Send one call through the middleware chain; ``parse`` reads the 2xx answer's JSON.

        ``content`` is a JSON body unless ``content_type`` names another type (YAML configs
        go as written). Every POST carries an ``Idempotency-Key`` (``idempotency_key``, or a
        new one), the same on every attempt. A non-2xx answer raises the matching
        :class:`APIStatusError`; a 2xx whose body is not JSON, or that ``parse`` rejects,
        raises :class:`ResponseValidationError` carrying the status, method and URL. With
        ``parse=ignore_body`` any 2xx is success and its body is not read (a 204 on DELETE).
        """
        direct = self._direct
        if (
            direct is None
            or multipart is not None
            or content_type is not None
            or asyncio.get_running_loop() is not self._pool.loop
            or logger.isEnabledFor(_DEBUG)
        ):
            return await self._layered(
                method,
                path,
                content,
                params,
                multipart,
                content_type,
                idempotent,
                idempotency_key,
                parse,
            )
        # The lean path: one attempt straight to the transport's direct sender (the constant
        # headers set once on its session). Request and Response objects are built only when
        # that attempt does not succeed (for retries, redirects and errors), in _recover: this
        # frame stays small, as it is held by every call in flight.
        url = self._config.base_url + path
        key = (idempotency_key or os.urandom(16).hex()) if method == "POST" else None
        started = clock.monotonic()
        throttles = self._throttles  # held for the first attempt, as the throttle middleware does
        if throttles:
            await _acquire(throttles)
        failed: APIConnectionError | None
        try:
            try:
                reply = await direct.send(
                    method,
                    url,
                    params,
                    content,
                    None if key is None else {"Idempotency-Key": key},
                    self._attempt_timeout,
                )
                body = await direct.read(reply)
            except Exception as exc:
                failed = direct.failure(exc, method, url)  # or raises what is not a failure
            else:
                failed = None
        except BaseException:
            _release(throttles, None, None)
            raise
        if failed is not None:
            _release(throttles, None, None)
            return await self._recover(
                failed, method, url, key, params, content, idempotent, started, parse
            )
        status, raw, reason = direct.meta(reply)
        if throttles:
            _release(throttles, status, Headers.from_raw(raw) if status == 429 else None)
        if 200 <= status < 300:
            return self._read(status, body, method, url, 1, parse)
        return await self._recover(
            (status, body, raw, reason),
            method,
            url,
            key,
            params,
            content,
            idempotent,
            started,
            parse,
        )

    async def _recover(
        self,
        outcome: Exchange | APIConnectionError,
        method: str,
        url: str,
        key: str | None,
        params: Params | None,
        content: bytes | None,
        idempotent: bool,
        started: float,
        parse: Callable[[Any], T],
    ) -> T:
        """A lean call whose first attempt did not succeed: retries, redirects, errors."""
        request = self._new_request(
            method, url, key, params, content, None, None, self._attempt_timeout, idempotent
        )
        first: Response | APIConnectionError
        if isinstance(outcome, APIConnectionError):
            first = outcome
        else:
            status, body, raw, reason = outcome
            first = answer(status, Headers.from_raw(raw), body, request, url, reason, 0.0, 1)
        retry, below = self._retry, self._below_retry
        if retry is not None and below is not None:
            response = await retry.after_first(request, below, first, started)
        elif isinstance(first, APIConnectionError):
            raise first
        else:
            response = first
        return await self._answer(request, response, parse)

    async def _layered(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Params | None,
        multipart: MultipartBody | None,
        content_type: str | None,
        idempotent: bool,
        idempotency_key: str | None,
        parse: Callable[[Any], T],
    ) -> T:
        """A call through the whole middleware chain."""
        handler = self._handler
        if handler is None or asyncio.get_running_loop() is not self._pool.loop:
            handler = self._open()
        key = (idempotency_key or os.urandom(16).hex()) if method == "POST" else None
        request = self._new_request(
            method,
            self._config.base_url + path,
            key,
            params,
            content,
            multipart,
            content_type,
            self._attempt_timeout,
            idempotent,
        )
        return await self._answer(request, await handler(request), parse)

    async def _answer(self, request: Request, response: Response, parse: Callable[[Any], T]) -> T:
        """The result of a call's last answer: redirects followed, then read or raised."""
        if response.status in REDIRECT_STATUSES:
            handler = self._handler or self._open()
            response = await follow_redirects(handler, request, response, self._config.origin)
        if not 200 <= response.status < 300:
            raise _status_error(response, request.method)
        return self._read(
            response.status,
            response.content,
            request.method,
            response.url,
            response.attempts,
            parse,
        )

    @staticmethod
    def _new_request(
        method: str,
        url: str,
        key: str | None,
        params: Params | None,
        content: bytes | None,
        multipart: MultipartBody | None,
        content_type: str | None,
        timeout: Timeout,
        idempotent: bool,
    ) -> Request:
        headers = dict(_JSON_HEADERS if content is not None else _ACCEPT)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if key is not None:
            headers["Idempotency-Key"] = key
        return Request(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            multipart=multipart,
            timeout=timeout,
            idempotent=idempotent,
        )

    @staticmethod
    def _read(
        status: int, content: bytes, method: str, url: str, attempts: int, parse: Callable[[Any], T]
    ) -> T:
        """The result of a 2xx answer: its JSON body read by ``parse``."""
        if parse is ignore_body:  # success is the status; the body (often none) is not read
            return None  # type: ignore[return-value]
        try:
            data = loads(content)
        except ValueError:
            text = content.decode("utf-8", errors="replace")
            shown = text.strip()[:200] or "an empty body"
            raise ResponseValidationError(
                f"expected a JSON body, got {shown!r}",
                status_code=status,
                body=text,
                method=method,
                url=url,
                attempts=attempts,
            ) from None
        try:
            result = parse(data)
        except ResponseValidationError as exc:
            raise exc.at(
                status_code=status, method=method, url=url, attempts=attempts
            ) from exc.__cause__
        if attempts != 1 and hasattr(result, "attempts"):
            result = attrs.evolve(result, attempts=attempts)  # type: ignore[misc]
        return result


def _attempt_middlewares(middlewares: tuple[Middleware, ...]) -> tuple[Middleware, ...]:
    """The ``attempt_middleware`` layers the user middlewares bring, in their order."""
    found = (getattr(middleware, "attempt_middleware", None) for middleware in middlewares)
    return tuple(layer for layer in found if layer is not None)


async def _acquire(throttles: tuple[Throttle, ...]) -> None:
    """Take a slot of every throttle, in order; on failure give back what was taken."""
    taken = 0
    try:
        for throttle in throttles:
            if not throttle.ready():
                await throttle.acquire()
            taken += 1
    except BaseException:
        _release(throttles[:taken], None, None)
        raise


def _release(
    throttles: tuple[Throttle, ...], status: int | None, headers: Mapping[str, str] | None
) -> None:
    """Give the slots back, innermost first, telling each how the attempt ended."""
    for throttle in reversed(throttles):
        throttle.release_status(status, headers)


def _status_error(response: Response, method: str) -> APIStatusError:
    status = response.status
    return make_status_error(
        status,
        response.headers,
        response.content,
        method=method,
        url=response.url,
        reason=response.reason,
        retry_after=parse_retry_after(response.headers) if status == 429 else None,
        attempts=response.attempts,
    )
