"""Following redirects: same origin only, a few hops, the method rewritten as browsers do.

A redirect to another origin is not followed: the caller gets the 3xx answer (and so an
:class:`~amas_async.APIStatusError`), and the API key never travels there.
"""

from __future__ import annotations

from urllib.parse import urljoin

from ._http import Handler, Request, Response, origin_of

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "follow_redirects"]

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 5


async def follow_redirects(
    send: Handler, request: Request, response: Response, origin: str
) -> Response:
    """Follow ``response`` (a 3xx to ``request``) while it points into ``origin``.

    303, and 301/302 after anything but GET/HEAD, continue as a GET without a body (as
    browsers do); 307/308 repeat the method and body. At most
    :data:`MAX_REDIRECTS` hops are followed; then the last 3xx is returned.
    """
    home = origin_of(origin)
    for _ in range(MAX_REDIRECTS):
        location = response.headers.get("location")
        if response.status not in REDIRECT_STATUSES or not location:
            return response
        target = urljoin(response.url or request.url, location)
        if origin_of(target) != home:
            return response
        status = response.status
        if status == 303 or (status in (301, 302) and request.method not in ("GET", "HEAD")):
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
            request = request.replace(
                method="GET",
                url=target,
                params=None,
                content=None,
                multipart=None,
                headers=headers,
            )
        else:
            request = request.replace(url=target, params=None)
        response = await send(request)
    return response
