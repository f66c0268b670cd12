"""A small router over ``MockTransport`` for the unit tests: canned answers by method and URL.

Import it as ``from mockapi import MockAPI`` (``tests/`` is on ``sys.path``)::

    api = MockAPI()
    api.get(f"{BASE}/sessions/s1/", json={"session_id": "s1"})
    async with api.client() as client:
        await client.sessions.get("s1")
    request = api.only_call()          # the amas.Request the transport received

Routes match the method and the URL with its query (the request's ``params`` merged in,
parameters compared in any order); a ``re.Pattern`` URL is searched in the full URL. A route
answers once unless ``repeat=True``. A request no route matches fails like a refused
connection (:class:`amas_async.APIConnectionError`), as aioresponses did, so a test that
expects no request notices one.
"""

from __future__ import annotations

import enum
import json as _json
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import amas_async as amas
from amas_async.testing import MockTransport

__all__ = [
    "BASE",
    "MockAPI",
    "Route",
    "forbid_network",
    "full_url",
    "headers_of",
    "query_of",
    "sent_json",
]

BASE = "https://amas.test/api/v1"


class _Unset(enum.Enum):
    UNSET = "UNSET"


_UNSET: Final = _Unset.UNSET

Answer = Callable[[amas.Request], amas.Response]


def query_of(request: amas.Request) -> list[tuple[str, str]]:
    """The request's query parameters as pairs (its ``params`` plus any query in its URL)."""
    pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    params = request.params
    if params:
        pairs.extend(params.items() if isinstance(params, Mapping) else params)
    return pairs


def full_url(request: amas.Request) -> str:
    """The URL with the request's ``params`` encoded into its query string."""
    params = request.params
    if not params:
        return request.url
    pairs: Sequence[tuple[str, str]] = (
        list(params.items()) if isinstance(params, Mapping) else params
    )
    joiner = "&" if urlsplit(request.url).query else "?"
    return request.url + joiner + urlencode(pairs)


def headers_of(request: amas.Request) -> amas.Headers:
    """The request's headers, looked up case-insensitively."""
    return amas.Headers(request.headers)


def sent_json(request: amas.Request) -> Any:
    """The request's body parsed as JSON (fails the test when there is no body)."""
    assert request.content is not None, "the request has no body"
    return _json.loads(request.content)


def _split(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    bare = parts._replace(query="", fragment="").geturl()
    return bare, sorted(parse_qsl(parts.query, keep_blank_values=True))


class Route:
    """One canned answer: what it matches, what it answers, and the requests it took."""

    def __init__(
        self, method: str, url: str | re.Pattern[str], answer: Answer, *, repeat: bool
    ) -> None:
        self.method = method.upper()
        self.url = url
        self.answer = answer
        self.repeat = repeat
        self.calls: list[amas.Request] = []

    def __repr__(self) -> str:
        return f"Route({self.method} {self.url!r})"

    def matches(self, request: amas.Request) -> bool:
        """Whether this route answers ``request``."""
        if request.method.upper() != self.method:
            return False
        if isinstance(self.url, re.Pattern):
            return self.url.search(full_url(request)) is not None
        want_url, want_query = _split(self.url)
        got_url, _ = _split(request.url)
        return got_url == want_url and sorted(query_of(request)) == want_query


class MockAPI:
    """Canned answers behind a :class:`~amas_async.testing.MockTransport`.

    ``transport`` is the mock transport; ``calls`` every request it received, in order.
    """

    def __init__(self, *, base_url: str = BASE, api_key: str = "test-key") -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.routes: list[Route] = []
        self.transport = MockTransport(self._handle)

    @property
    def calls(self) -> list[amas.Request]:
        """Every request the transport received, in order."""
        return self.transport.requests

    def only_call(self) -> amas.Request:
        """The one request received (fails the test unless there was exactly one)."""
        assert len(self.calls) == 1, self.calls
        return self.calls[0]

    def client(self, **kwargs: Any) -> amas.AsyncAmas:
        """A client on this transport (``api_key``/``base_url`` default to this API's)."""
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        return amas.AsyncAmas(transport=self.transport, **kwargs)

    def add(
        self,
        method: str,
        url: str | re.Pattern[str],
        *,
        status: int = 200,
        json: object = _UNSET,
        content: bytes | None = None,
        text: str | None = None,
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
        raises: BaseException | None = None,
        answer: Answer | None = None,
        repeat: bool = False,
    ) -> Route:
        """Answer ``method url`` with a status and a body (``json=``, ``text=`` or ``content=``).

        ``json=None`` sends the JSON ``null``; ``raises=`` makes the transport raise instead;
        ``answer=`` computes the answer from the request.
        """
        if answer is None:
            answer = _canned(status, json, content, text, headers, reason, raises)
        route = Route(method, url, answer, repeat=repeat)
        self.routes.append(route)
        return route

    def get(self, url: str | re.Pattern[str], **kwargs: Any) -> Route:
        """:meth:`add` for GET."""
        return self.add("GET", url, **kwargs)

    def post(self, url: str | re.Pattern[str], **kwargs: Any) -> Route:
        """:meth:`add` for POST."""
        return self.add("POST", url, **kwargs)

    def _handle(self, request: amas.Request) -> amas.Response:
        for route in self.routes:
            if route.matches(request):
                if not route.repeat:
                    self.routes.remove(route)
                route.calls.append(request)
                return route.answer(request)
        raise amas.APIConnectionError(
            f"no mock route for {request.method} {full_url(request)}",
            method=request.method,
            url=request.url,
            request_sent=False,
            attempts=request.attempt,
        )


def _canned(
    status: int,
    json: object,
    content: bytes | None,
    text: str | None,
    headers: Mapping[str, str] | None,
    reason: str | None,
    raises: BaseException | None,
) -> Answer:
    given = [json is not _UNSET, content is not None, text is not None]
    if sum(given) > 1:
        raise TypeError("give only one of json=, content= or text=")
    extra: dict[str, str] = {}
    body = b""
    if json is not _UNSET:
        body = _json.dumps(json).encode("utf-8")
        extra["Content-Type"] = "application/json"
    elif text is not None:
        body = text.encode("utf-8")
        extra["Content-Type"] = "text/plain; charset=utf-8"
    elif content is not None:
        body = content
    given_headers = amas.Headers(headers)
    if "content-type" in given_headers:
        extra = {}
    merged = amas.Headers([*extra.items(), *given_headers.items()])

    def answer(request: amas.Request) -> amas.Response:
        if raises is not None:
            raise raises
        return amas.Response(status, headers=merged, content=body, reason=reason)

    return answer


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to resolve a name, connect a socket or open an aiohttp session fail."""
    import aiohttp

    def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError("a test on MockTransport tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(aiohttp, "ClientSession", refuse)
