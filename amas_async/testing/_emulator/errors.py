"""The documented error body, and the JSON answers the emulator sends.

Every error answers ``{"error": {"type": ..., "message": ...}}`` [DOC]; validation errors add
``"field"``, a dotted path such as ``agents.0.agent_type`` [OURS]. Handlers and the engine raise
:class:`ApiError`; the pipeline turns it into a response with :func:`error_response`.
"""

from __future__ import annotations

import http
import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

_TYPE_BY_STATUS: Final = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error answered with the documented error body ``{"error": {type, message[, field]}}``."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.field = field
        self.headers: dict[str, str] = dict(headers or {})

    @classmethod
    def for_status(cls, status: int, *, headers: Mapping[str, str] | None = None) -> ApiError:
        """The error an injected fault answers with: type and message chosen by the status."""
        return cls(status, error_type(status), error_message(status), headers=headers)

    def body(self) -> dict[str, Any]:
        """Return the JSON error body (``field`` is only present when the error names one)."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def invalid(message: str, field: str | None = None) -> ApiError:
    """Build a 400 ``invalid_request_error``, optionally naming the offending (dotted) field."""
    return ApiError(400, "invalid_request_error", message, field=field)


def not_found(message: str) -> ApiError:
    """Build a 404 ``not_found_error``."""
    return ApiError(404, "not_found_error", message)


def error_type(status: int) -> str:
    """The error ``type`` for a status: 401/403/404/409/429 by name, 5xx ``api_error``.

    Any other status is an ``invalid_request_error``.
    """
    return _TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_message(status: int) -> str:
    """The error message for a status: the documented ones for 401 and 429, else the phrase."""
    if status == 401:
        return "Invalid or missing authentication credentials"
    if status == 429:
        return "Too many requests"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer (UTF-8, non-ASCII kept)."""
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def error_response(error: ApiError) -> web.Response:
    """The answer for an :class:`ApiError`: its status, headers and documented body."""
    return json_response(error.body(), status=error.status, headers=error.headers)
