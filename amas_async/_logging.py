"""Request logging: one DEBUG line per HTTP exchange on the ``amas_async`` logger.

Costs one level check per request while DEBUG is off. Lines name the method, the URL (which
never carries the API key), the status or the failure, and the time taken; never headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from ._http import Handler, Request, Response
from .errors import AmasError

__all__ = ["log_exchange", "logger"]

logger = logging.getLogger("amas_async")


def log_exchange(request: Request, handler: Handler) -> Awaitable[Response]:
    """The logging middleware: passes the request on, logging it when DEBUG is enabled."""
    if not logger.isEnabledFor(logging.DEBUG):
        return handler(request)
    return _logged(request, handler)


async def _logged(request: Request, handler: Handler) -> Response:
    started = time.monotonic()
    try:
        response = await handler(request)
    except AmasError as exc:
        elapsed = (time.monotonic() - started) * 1000
        logger.debug("%s %s failed in %.1f ms: %s", request.method, request.url, elapsed, exc)
        raise
    elapsed = (time.monotonic() - started) * 1000
    logger.debug("%s %s -> %d in %.1f ms", request.method, request.url, response.status, elapsed)
    return response
