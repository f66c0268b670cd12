"""``MockTransport``: answer the client's requests from a function, with no network at all."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from .._http import Request, Response

__all__ = ["MockTransport"]

MockHandler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """A transport that calls ``handler(request)`` for every attempt; sync or async handler.

    ```python
    def handler(request: amas.Request) -> amas.Response:
        assert request.url.endswith("/sessions/")
        return amas.Response(201, json={"session_id": "s1", "config_hash": "h"})

    client = amas.AsyncAmas(api_key="k", transport=MockTransport(handler))
    ```

    The handler sees each request as the transport would (the API key included, after
    retries, throttles and the auth layer), may raise :class:`~amas_async.APIConnectionError`
    to simulate a network failure, and must return a :class:`~amas_async.Response` (anything
    else raises :class:`TypeError`); its answers get ``request``, ``url`` and ``attempts``
    filled in. ``handler`` is the function given (a non-callable raises :class:`TypeError`),
    ``requests`` lists every request handled, in order, and ``closed`` turns true once the
    client closes the transport.
    """

    def __init__(self, handler: MockHandler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"MockTransport({getattr(self.handler, '__name__', self.handler)!r})"

    async def handle(self, request: Request) -> Response:
        """Record ``request`` and return the handler's answer to it."""
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            raise TypeError(
                f"the mock handler must return an amas_async.Response, not {type(answer).__name__}"
            )
        if answer.request is None or answer.attempts != request.attempt:
            answer = answer.replace(
                request=answer.request or request,
                url=answer.url or request.url,
                attempts=request.attempt,
            )
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed (there is nothing to release)."""
        self.closed = True
