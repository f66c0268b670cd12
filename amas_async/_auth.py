"""Request headers: the client's default headers, and the API key for the base URL's origin only.

This middleware is the innermost layer, just above the transport, so no other layer (user
middlewares, logging, retries) ever sees the key: not on the request, and not on the answer's
``request`` either, which it puts back as it was. A request to any other origin (a redirect
target, a ``next`` link) never carries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

from ._http import Handler, Request, Response, origin_of

__all__ = ["AuthMiddleware"]

_KEY_HEADER = "x-api-key"


class AuthMiddleware:
    """Adds ``default_headers`` to every request and ``x-api-key`` to those for ``origin``.

    A request's own headers win over the defaults; an ``x-api-key`` header of a request to
    another origin is removed. With ``hide_key`` (the client sets it when user middlewares sit
    above), the answer's ``request`` is put back as it was before the key was added; without
    user middlewares no code outside the SDK sees an answer before the client reads it, and
    the middleware adds no coroutine frame.
    """

    __slots__ = ("_home", "_key_headers", "_origin", "_origin_prefix", "_plain_headers", "hide_key")

    def __init__(
        self,
        api_key: str,
        origin: str,
        default_headers: Mapping[str, str],
        *,
        hide_key: bool = True,
    ) -> None:
        self._origin = origin
        self._origin_prefix = origin + "/"
        self._home = origin_of(origin)
        self._plain_headers = dict(default_headers)
        self._key_headers = {**default_headers, _KEY_HEADER: api_key}
        self.hide_key = hide_key

    def __repr__(self) -> str:
        return f"AuthMiddleware(origin={self._origin!r})"

    def origin_headers(self) -> dict[str, str]:
        """The headers every request to the base URL's origin carries (the key among them).

        For a sender bound to that origin (the client's lean path); never for any other URL.
        """
        return dict(self._key_headers)

    def for_origin(self, url: str) -> bool:
        """True when ``url`` is on the base URL's origin (the only one that gets the key)."""
        if url.startswith(self._origin_prefix) or url == self._origin:
            return True  # the common case, without parsing
        return origin_of(url) == self._home

    def __call__(self, request: Request, handler: Handler) -> Awaitable[Response]:
        same_origin = self.for_origin(request.url)
        base = self._key_headers if same_origin else self._plain_headers
        extra = request.headers
        headers = {**base, **extra} if extra else dict(base)
        if not same_origin and extra:
            for name in [n for n in headers if n.lower() == _KEY_HEADER]:
                del headers[name]
        keyed = request.replace(headers=headers)
        if self.hide_key and same_origin:
            return _without_key(handler(keyed), request)
        return handler(keyed)


async def _without_key(answer: Awaitable[Response], request: Request) -> Response:
    """The answer, its ``request`` put back to the one without the key."""
    response = await answer
    return response.replace(request=request) if response.request is not request else response
