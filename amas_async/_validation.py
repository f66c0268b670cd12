"""Ids made safe for a URL path: checked before anything is sent, escaped when they are used."""

from __future__ import annotations

import functools
import re
from urllib.parse import quote

from .errors import InvalidRequestError

__all__ = ["path_segment"]

_FORBIDDEN_IN_ID = re.compile(r"[/?#\\]|\.\.")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def path_segment(value: object, what: str) -> str:
    r"""An id made safe for one URL path segment, or a clear error.

    Empty and non-string ids, ids with ``/ ? # \\``, ``..``, ``.`` and control characters are
    rejected; everything else is percent-escaped, so an id can never change the path.
    """
    if not isinstance(value, str):
        raise InvalidRequestError(f"{what} must be a non-empty str, not {type(value).__name__}")
    return _segment(value, what)


@functools.lru_cache(maxsize=4096)
def _segment(value: str, what: str) -> str:
    # Cached: a conversation sends the same session id again and again.
    if not value or not value.strip():
        raise InvalidRequestError(f"{what} must be a non-empty str")
    if value == "." or _FORBIDDEN_IN_ID.search(value):
        raise InvalidRequestError(f"{what} {value!r} contains '/', '?', '#', '\\' or '..'")
    if _CONTROL.search(value):
        raise InvalidRequestError(f"{what} {value!r} contains a control character")
    return quote(value, safe="-_.~:@")
