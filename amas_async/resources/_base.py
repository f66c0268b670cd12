"""What every resource shares: the client seen through a protocol, queries, lists and waiting.

Resources sit below the client: they know it only as :class:`Client`, the methods they call,
so ``resources`` never imports ``_client``.

Lists. The docs show every list endpoint answering a bare JSON array; a Django REST server
paginates into ``{"count", "next", "previous", "results"}``. :func:`read_page` accepts both,
and :func:`iterate` follows ``next`` links, only on the API's own origin and under its base
path (a link elsewhere would carry the API key to another host, so it raises instead).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

from .. import _serde
from .._checks import check_number
from .._clock import clock
from .._http import Middleware, Params, origin_of
from .._multipart import MultipartBody
from ..errors import (
    InvalidRequestError,
    ProcessingError,
    ResponseValidationError,
    WaitTimeoutError,
    clip,
)

T = TypeVar("T")


class Client(Protocol):
    """The part of :class:`~amas_async.AsyncAmas` that resources use."""

    @property
    def base_url(self) -> str: ...

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
    ) -> T: ...

    def _with_inner_middleware(self, middleware: Middleware) -> Client: ...


class AsyncResource:
    """Base of the resources; holds the client."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client


def ignore_body(data: Any) -> None:
    """The ``parse`` of calls whose 2xx answer has nothing to read (``DELETE``'s 204).

    The client recognises it and does not decode the body at all: an empty body, ``null`` or
    any JSON is success, as the status says.
    """


# ---- queries ------------------------------------------------------------------------------------


def query(**values: object) -> list[tuple[str, str]] | None:
    """Query parameters from keyword arguments, in order.

    None is left out, booleans go as ``true``/``false``, a list or tuple as the key repeated
    (``tags=a&tags=b``). A value of another type raises :class:`InvalidRequestError` naming
    the parameter.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            pairs.append((name, _query_value(name, item)))
    return pairs or None


def _query_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError(f"{name} must not be empty")
        return value
    raise InvalidRequestError(
        f"{name} must be a str (or a list of them), not {type(value).__name__}"
    )


def str_list(values: object, name: str) -> list[str]:
    """A list of non-empty strings from ``values`` (a str alone is refused)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidRequestError(f"{name} must be a list of ids, not {type(values).__name__}")
    items = list(values)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidRequestError(f"{name} must hold non-empty strings, got {item!r}")
    return items


def text_arg(value: object, name: str, *, empty_ok: bool = False) -> str:
    """``value`` if it is a str (non-blank unless ``empty_ok``); else a clear error."""
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise InvalidRequestError(f"{name} must be a non-empty str, got {value!r}")
    return value


def json_body(value: object, what: str) -> bytes:
    """``value`` as a JSON request body.

    Raises :class:`InvalidRequestError` naming ``what`` when it cannot be one (NaN, a lone
    surrogate, an object JSON has no form for).
    """
    try:
        return _serde.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{what} cannot be encoded as JSON: {exc}") from exc


# ---- lists and pages ----------------------------------------------------------------------------


class Page(Generic[T]):
    """One answer of a list endpoint: its items, and the link to the next page if any."""

    __slots__ = ("items", "next")

    def __init__(self, items: list[T], next: str | None) -> None:
        self.items = items
        self.next = next


def read_page(body: Any, parse_item: Callable[[Any], T], what: str) -> Page[T]:
    """A page from a bare JSON array or a ``{results, next}`` envelope (``count`` not needed).

    Each item is read by ``parse_item``; an item that does not fit raises
    :class:`ResponseValidationError` naming its index and carrying the whole answer.
    """
    next_link: str | None = None
    if isinstance(body, list):
        raw_items: list[Any] = body
    elif isinstance(body, Mapping) and isinstance(body.get("results"), list):
        raw_items = body["results"]
        link = body.get("next")
        if link is not None and not isinstance(link, str):
            raise _serde.invalid_answer(f"{what} list", body, "'next' is not a link")
        next_link = link or None
    else:
        raise _serde.invalid_answer(
            f"{what} list",
            body,
            f"expected a JSON array or a {{results, next}} object, got {type(body).__name__}",
        )
    items: list[T] = []
    for index, item in enumerate(raw_items):
        try:
            items.append(parse_item(item))
        except ResponseValidationError as exc:
            raise ResponseValidationError(f"item [{index}]: {exc.message}", body=body) from exc
    return Page(items, next_link)


def next_path(base_url: str, current: str, link: str) -> str:
    """The path (under ``base_url``) of a ``next`` link, resolved against the current URL.

    Raises :class:`ResponseValidationError` for a link to another origin or outside the
    API's base path: following it would send the API key there.
    """
    url = urljoin(current, link)
    if origin_of(url) != origin_of(base_url):
        raise ResponseValidationError(
            f"the list's next link {clip(repr(url), 200)} is not on the API's origin; "
            "it was not followed",
            body=link,
        )
    parts = urlsplit(url)
    base_path = urlsplit(base_url).path.rstrip("/")
    if not (parts.path == base_path or parts.path.startswith(base_path + "/")):
        raise ResponseValidationError(
            f"the list's next link {clip(repr(url), 200)} is not under the API's base URL; "
            "it was not followed",
            body=link,
        )
    path = parts.path[len(base_path) :] or "/"
    return f"{path}?{parts.query}" if parts.query else path


async def iterate(
    client: Client,
    path: str,
    params: Params | None,
    parse_item: Callable[[Any], T],
    what: str,
) -> AsyncIterator[T]:
    """Every item of a list endpoint, one page at a time, following ``next`` links."""
    parse = functools.partial(read_page, parse_item=parse_item, what=what)
    query_string = urlencode(list(params.items()) if isinstance(params, Mapping) else params or [])
    seen = {path + ("?" + query_string if query_string else "")}  # the pages read, as paths
    while True:
        page = await client._request("GET", path, params=params, parse=parse)
        for item in page.items:
            yield item
        if page.next is None:
            return
        current = client.base_url + path
        path = next_path(client.base_url, current, page.next)
        params = None  # a next link carries the whole query
        if path in seen:
            raise ResponseValidationError(
                f"the list's next link {clip(repr(page.next), 200)} points to a page already read",
                body=page.next,
            )
        seen.add(path)


async def collect(iterator: AsyncIterator[T]) -> list[T]:
    """Every item of ``iterator`` in a list."""
    return [item async for item in iterator]


# ---- waiting for background processing -----------------------------------------------------------


class _HasStatus(Protocol):
    @property
    def status(self) -> str | None: ...


S = TypeVar("S", bound=_HasStatus)


async def wait_until(
    fetch: Callable[[], Awaitable[S]],
    *,
    kind: str,
    id: str,
    ready: str,
    failed: Container[str],
    timeout: float | None,
    interval: float,
    on_poll: Callable[[S], object] | None = None,
    detail: Callable[[S], str | None] = lambda _: None,
) -> S:
    """Fetch until the status is ``ready`` (returns the result) or one of ``failed``.

    A failed status raises :class:`ProcessingError` (with ``detail(result)`` in the message
    when it says something); still going after ``timeout`` seconds (None: no limit) raises
    :class:`WaitTimeoutError`; ``kind`` and ``id`` name the object in both. ``on_poll``
    (a plain or an async function) sees every result read. Sleeps ``interval`` seconds
    between fetches, on the SDK's clock (which the test kit makes instant), never past the
    timeout; the first fetch is immediate.
    """
    check_number(interval, "poll_interval")
    if timeout is not None:
        check_number(timeout, "timeout", allow_zero=True)
    deadline = math.inf if timeout is None else clock.monotonic() + timeout
    what = f"{kind} {id}"
    while True:
        result = await fetch()
        if on_poll is not None:
            shown = on_poll(result)
            if inspect.isawaitable(shown):
                await shown
        status = result.status
        if status == ready:
            return result
        if status in failed:
            said = detail(result)
            raise ProcessingError(
                f"{what} ended with status {clip(repr(status), 100)}"
                + (f": {clip(str(said))}" if said else ""),
                id=id,
                status=status,
                result=result,
            )
        left = deadline - clock.monotonic()
        if left <= 0:
            raise WaitTimeoutError(
                f"{what} is still {clip(repr(status), 100)} after {timeout} s",
                id=id,
                status=status,
                result=result,
            )
        await clock.sleep(min(interval, left))


__all__ = [
    "AsyncResource",
    "Client",
    "Page",
    "collect",
    "ignore_body",
    "iterate",
    "json_body",
    "next_path",
    "query",
    "read_page",
    "str_list",
    "text_arg",
    "wait_until",
]
