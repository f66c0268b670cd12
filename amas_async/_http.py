"""The SDK's own HTTP vocabulary: headers, requests, responses, middlewares and the transport seam.

Every layer of the client works on these types; none comes from the HTTP library. A transport is
anything with ``async handle(request) -> Response`` and ``async aclose()``
(:class:`AsyncTransport`): ``AiohttpTransport`` is the default, ``amas_async.testing.MockTransport``
answers from a function, and users may write their own.

Middlewares have the usual shape, ``middleware(request, handler) -> awaitable response``, the
first of a list being the outermost. They run in our own chain above the transport, so they run
the same under a mock transport, aioresponses and a real server. A middleware may be a plain
function that returns ``handler(request)``'s awaitable: that adds no coroutine frame.
"""

from __future__ import annotations

import json as _json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from ._config import Timeout
from ._multipart import MultipartBody
from .errors import APIConnectionError

__all__ = [
    "AsyncTransport",
    "DirectSender",
    "Exchange",
    "Handler",
    "Headers",
    "Middleware",
    "Params",
    "Request",
    "Response",
    "answer",
    "build_chain",
    "origin_of",
]

HeaderTypes = Mapping[str, str] | Iterable[tuple[str, str]]
#: Query parameters: a mapping, or pairs for repeated keys (``[("tags", "a"), ("tags", "b")]``).
Params = Mapping[str, str] | Sequence[tuple[str, str]]


class Headers(Mapping[str, str]):
    """Immutable HTTP headers whose names compare case-insensitively.

    Iteration yields the names as they were given; a name given twice keeps both values,
    joined with ``", "`` as HTTP allows. Headers read off the wire are decoded on first use, so
    an answer whose headers nobody reads costs nothing.
    """

    __slots__ = ("_raw", "_store_")

    _raw: Sequence[tuple[bytes, bytes]] | None
    _store_: dict[str, tuple[str, str]] | None

    def __init__(self, headers: HeaderTypes | None = None) -> None:
        self._raw = None
        self._store_ = _index(
            (headers.items() if isinstance(headers, Mapping) else headers) if headers else ()
        )

    @classmethod
    def from_raw(cls, raw: Sequence[tuple[bytes, bytes]]) -> Headers:
        """Headers from undecoded ``(name, value)`` byte pairs, decoded when first read."""
        headers = object.__new__(cls)
        headers._raw = raw
        headers._store_ = None
        return headers

    @property
    def _store(self) -> dict[str, tuple[str, str]]:
        store = self._store_
        if store is None:
            raw = self._raw or ()
            store = self._store_ = _index(
                (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                for name, value in raw
            )
        return store

    def __getitem__(self, name: str) -> str:
        return self._store[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._store

    def get(self, name: str, default: Any = None) -> Any:
        """The value of header ``name`` (any case), or ``default``."""
        found = self._store.get(name.lower())
        return default if found is None else found[1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        theirs = other if isinstance(other, Headers) else Headers(other)
        mine = {k: v for k, (_, v) in self._store.items()}
        return mine == {k: v for k, (_, v) in theirs._store.items()}

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _index(items: Iterable[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    store: dict[str, tuple[str, str]] = {}
    for name, value in items:
        key = name.lower()
        known = store.get(key)
        store[key] = (name, value) if known is None else (known[0], f"{known[1]}, {value}")
    return store


_EMPTY_HEADERS = Headers()


@attrs.define
class Request:
    """One HTTP request, as the middlewares and the transport see it.

    ``content`` is an encoded body; ``multipart`` an immutable form the transport rebuilds on
    every attempt (so a retried upload re-streams its file). ``timeout`` bounds one attempt.
    ``idempotent`` says whether sending it twice is harmless (the retry policy reads it);
    ``attempt`` is its attempt number (1 for the first); ``extensions`` carries per-request
    options between layers. ``headers`` never holds the API key above the innermost layer,
    which adds it only for the base URL's origin; ``repr`` never shows headers.

    Treat it as a value: every layer passes a changed copy on (:meth:`replace`, or
    ``attrs.evolve``) and never assigns to a request it was given. (It is not frozen only
    because a frozen attrs class costs twice as much to build, on every attempt.)
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, kw_only=True, repr=False)
    params: Params | None = attrs.field(default=None, kw_only=True)
    content: bytes | None = attrs.field(default=None, kw_only=True, repr=False)
    multipart: MultipartBody | None = attrs.field(default=None, kw_only=True, repr=False)
    timeout: Timeout | None = attrs.field(default=None, kw_only=True)
    idempotent: bool = attrs.field(default=True, kw_only=True)
    attempt: int = attrs.field(default=1, kw_only=True)
    extensions: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True, repr=False)

    def replace(self, **changes: Any) -> Request:
        """A copy with some attributes changed (``attrs.evolve`` does the same, slower)."""
        get = changes.pop
        clone = Request(
            get("method", self.method),
            get("url", self.url),
            headers=get("headers", self.headers),
            params=get("params", self.params),
            content=get("content", self.content),
            multipart=get("multipart", self.multipart),
            timeout=get("timeout", self.timeout),
            idempotent=get("idempotent", self.idempotent),
            attempt=get("attempt", self.attempt),
            extensions=get("extensions", self.extensions),
        )
        if changes:
            raise TypeError(f"Request has no attribute(s) {sorted(changes)}")
        return clone


@attrs.define(init=False)
class Response:
    """A complete HTTP answer: the body is read and the connection released already.

    ``status`` is the HTTP status, ``headers`` the :class:`Headers`, ``content`` the body's
    bytes, ``reason`` the status line's phrase (or None) and ``elapsed`` the seconds the
    attempt took. ``Response(200, json={...})`` encodes a JSON body and sets its content type
    (handy in a mock transport's handler); ``text=`` does the same for text; give only one of
    ``content=``, ``json=`` and ``text=`` (more raise :class:`TypeError`). A transport sets
    ``request`` and ``url``; ``attempts`` is how many attempts the call took (the retry layer
    sets it on the answer it returns). Treat it as a value, like :class:`Request`:
    :meth:`replace` makes a changed copy.
    """

    status: int
    headers: Headers = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)
    request: Request | None = attrs.field(repr=False)
    url: str
    reason: str | None
    elapsed: float
    attempts: int

    def __init__(
        self,
        status: int,
        *,
        headers: HeaderTypes | None = None,
        content: bytes = b"",
        json: Any = None,
        text: str | None = None,
        request: Request | None = None,
        url: str | None = None,
        reason: str | None = None,
        elapsed: float = 0.0,
        attempts: int = 1,
    ) -> None:
        if json is not None or text is not None:
            if content or (json is not None and text is not None):
                raise TypeError("give only one of content=, json= or text=")
            if json is not None:
                content = _json.dumps(json).encode("utf-8")
                extra = ("Content-Type", "application/json")
            else:
                assert text is not None
                content = text.encode("utf-8")
                extra = ("Content-Type", "text/plain; charset=utf-8")
            given = Headers(headers)
            headers = given if "content-type" in given else Headers([*given.items(), extra])
        if not isinstance(headers, Headers):
            headers = _EMPTY_HEADERS if not headers else Headers(headers)
        if url is None:
            url = request.url if request is not None else ""
        self.__attrs_init__(status, headers, content, request, url, reason, elapsed, attempts)

    def replace(self, **changes: Any) -> Response:
        """A copy with some attributes changed (``request``, ``attempts`` ...)."""
        get = changes.pop
        clone: Response = Response.__new__(Response)
        clone.__attrs_init__(
            get("status", self.status),
            get("headers", self.headers),
            get("content", self.content),
            get("request", self.request),
            get("url", self.url),
            get("reason", self.reason),
            get("elapsed", self.elapsed),
            get("attempts", self.attempts),
        )
        if changes:
            raise TypeError(f"Response has no attribute(s) {sorted(changes)}")
        if not isinstance(clone.headers, Headers):
            raise TypeError("Response.headers must be an amas_async.Headers")
        return clone

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return _json.loads(self.content)


def answer(
    status: int,
    headers: Headers,
    content: bytes,
    request: Request,
    url: str,
    reason: str | None,
    elapsed: float,
    attempts: int,
) -> Response:
    """A :class:`Response` from values a transport has already checked (no conversions)."""
    response: Response = Response.__new__(Response)
    response.__attrs_init__(status, headers, content, request, url, reason, elapsed, attempts)
    return response


Handler = Callable[[Request], Awaitable[Response]]
"""What a middleware calls to pass a request on: ``await handler(request)`` gives the answer.

It is the rest of the chain below the middleware (the next middleware, and at the end the
transport)."""
Middleware = Callable[[Request, Handler], Awaitable[Response]]
"""A layer around every call: ``async def middleware(request, handler) -> Response``.

It may change the request (pass ``request.replace(...)`` on), look at or replace the answer,
or raise; it calls ``handler`` to go on. Middlewares given to ``AsyncAmas(middlewares=[...])``
wrap the whole call, retries included, the first outermost; they never see the API key."""

#: One attempt's answer as a transport reads it: status, body, raw header pairs, reason.
Exchange = tuple[int, bytes, Sequence[tuple[bytes, bytes]], str | None]


class DirectSender(Protocol):
    """A transport's sender bound to one origin and its constant headers: the client's lean path.

    One attempt, awaited by the caller's own coroutine (no frame of the transport's in
    between)::

        try:
            reply = await sender.send(method, url, params, content, headers, timeout)
            body = await sender.read(reply)
        except Exception as exc:
            error = sender.failure(exc, method, url)  # or it re-raises what is not a failure
        status, raw_headers, reason = sender.meta(reply)

    ``reply`` is opaque to the caller. ``headers`` are the request's own, beyond the constant
    ones; ``content`` is a JSON body (the sender sets its content type). Only URLs on the
    bound origin may be given.
    """

    def send(
        self,
        method: str,
        url: str,
        params: Params | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: Timeout | None,
    ) -> Awaitable[object]:
        """Start the attempt; awaiting it gives the reply once its head has arrived."""
        ...

    def read(self, reply: object) -> Awaitable[bytes]:
        """The reply's whole body (the connection is released once it is read)."""
        ...

    def meta(self, reply: object) -> tuple[int, Sequence[tuple[bytes, bytes]], str | None]:
        """The reply's status, raw header pairs and reason."""
        ...

    def failure(self, exc: Exception, method: str, url: str) -> APIConnectionError:
        """The error to raise for ``exc``, raised by :meth:`send` or :meth:`read`.

        Anything that is not a failure to get an answer (an :class:`AmasError`, a bug) is
        re-raised as it is.
        """
        ...


@runtime_checkable
class AsyncTransport(Protocol):
    """What sends requests: one attempt in, one complete :class:`Response` out.

    ``handle`` sends ``request`` once (no retries, no redirects: the layers above do those),
    reads the whole answer and releases the connection; a failure to get an answer raises
    :class:`~amas_async.APIConnectionError` (or :class:`~amas_async.APITimeoutError`).
    ``aclose`` releases what the transport holds; the client calls it when it is closed.
    """

    async def handle(self, request: Request) -> Response:
        """Send one attempt of ``request`` and return its complete answer."""
        ...

    async def aclose(self) -> None:
        """Release connections and other resources (idempotent)."""
        ...


def origin_of(url: str) -> tuple[str, str]:
    """The origin of ``url``, normalised: (lower-case scheme, lower-case host[:port]).

    Default ports are dropped, so ``https://A.test:443/x`` and ``https://a.test/y`` share one.
    """
    parts = urlsplit(url)
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return scheme, netloc


def _bind(middleware: Middleware, handler: Handler) -> Handler:
    # A lambda returns the middleware's awaitable directly: no extra frame per layer.
    return lambda request: middleware(request, handler)


def build_chain(middlewares: Sequence[Middleware], handler: Handler) -> Handler:
    """Compose middlewares around a handler; the first middleware is the outermost."""
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler
