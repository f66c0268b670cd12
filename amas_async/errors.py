"""Every exception the SDK raises.

The tree:

```text
AmasError                         base of everything the SDK raises
├── InvalidRequestError           bad input caught locally; nothing was sent (also ValueError)
│   ├── ConfigValidationError     a session config that cannot be valid (.field, .reason)
│   ├── InputFileNotFoundError    a file to read that does not exist (also FileNotFoundError)
│   └── InvalidFileError          a file that cannot be uploaded: empty, a directory, unreadable
├── InvalidContentError           content of a type the API cannot take (also TypeError)
├── APIConnectionError            could not reach the server, or the connection broke
│   └── APITimeoutError           a connect/read/total timeout expired
├── APIStatusError                the server answered with a non-2xx status
│   ├── BadRequestError           400
│   ├── AuthenticationError       401
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404
│   ├── ConflictError             409
│   ├── UnprocessableEntityError  422
│   ├── RateLimitError            429 (.retry_after)
│   └── InternalServerError       >= 500
├── ResponseValidationError       a 2xx whose body is not what the API documents
│   └── ResponseTooLargeError     an answer larger than Limits.max_response_bytes (any status)
├── ExecutionError                a 2xx whose run ended with status "error" or "timeout"
├── ProcessingError               a file or knowledge base whose processing failed (wait())
└── WaitTimeoutError              wait() gave up: still processing (also TimeoutError)
```

Error bodies are read leniently: the documented ``{"error": {"type", "message"}}``, DRF's
``{"detail": ...}``, field-error objects (``{"field": ["msg"]}``), plain text and HTML pages (a
short snippet). A malformed body never makes the SDK crash. No message ever contains the API key:
messages are built only from the method, the URL (which never carries the key) and the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AmasError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigValidationError",
    "ConflictError",
    "ExecutionError",
    "InputFileNotFoundError",
    "InternalServerError",
    "InvalidFileError",
    "InvalidContentError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProcessingError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]


class ExecutionLike(Protocol):
    """The read-only surface of :class:`~amas_async.Execution`, which :class:`ExecutionError` holds.

    Declared here so that this module, the bottom of the package, imports no model; a test
    keeps it in step with ``Execution`` (every public attribute, the same types).
    """

    @property
    def session_id(self) -> str | None:
        """The session the run belongs to."""
        ...

    @property
    def status(self) -> str | None:
        """The run's final status."""
        ...

    @property
    def messages(self) -> Sequence[Any]:
        """The messages the run produced (``amas_async.Message``)."""
        ...

    @property
    def usage(self) -> Any:
        """Token usage (``amas_async.Usage``), or None."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The execution's metadata (``error`` details among them)."""
        ...

    @property
    def execution_id(self) -> str | None:
        """The execution's id."""
        ...

    @property
    def correlation_id(self) -> str | None:
        """The correlation id sent with the request, if any."""
        ...

    @property
    def created_at(self) -> datetime | None:
        """When the run started."""
        ...

    @property
    def completed_at(self) -> datetime | None:
        """When the run ended."""
        ...

    @property
    def execution_time(self) -> float | None:
        """Seconds the run took, as the server reports it."""
        ...

    @property
    def tool_calls(self) -> Sequence[Any]:
        """Tool calls the run made."""
        ...

    @property
    def raw(self) -> Mapping[str, Any]:
        """The answer's body as received."""
        ...

    @property
    def attempts(self) -> int:
        """How many attempts the call took."""
        ...

    @property
    def text(self) -> str:
        """The reply text, if any."""
        ...

    @property
    def ok(self) -> bool:
        """False for a run that ended ``error`` or ``timeout``."""
        ...


#: The response headers that may carry a request id, most specific first.
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")
_SNIPPET = 200
#: The most characters of an answer's text an error message quotes (``.body`` keeps it all).
MAX_QUOTED = 500


def clip(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


class AmasError(Exception):
    """Base class of every exception raised by amas_async."""


def _attempts_note(attempts: int) -> str:
    return f" [after {attempts} attempts]" if attempts > 1 else ""


class InvalidRequestError(AmasError, ValueError):
    """Input that cannot make a valid request; raised before anything is sent."""


class ConfigValidationError(InvalidRequestError):
    """A session configuration that cannot be valid.

    ``field`` is the dotted path of the offending field (``"agents[1].agent_type"``,
    ``"entry_point"``) and ``reason`` says why. A config whose text cannot be read (not YAML,
    not JSON, not a mapping) also names its ``source`` (the file's path, or ``<config text>``)
    and, when the parser knows it, the 1-based ``line`` and ``column``: the message is then
    ``source: line L, column C: reason``, one line, as compilers write it.
    """

    def __init__(
        self,
        field: str,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.field = field
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column
        if source is None:
            super().__init__(f"invalid session config: {field}: {reason}")
            return
        where = [f"line {line}"] if line is not None else []
        if column is not None:
            where.append(f"column {column}")
        super().__init__(
            ": ".join([source, ", ".join(where), reason] if where else [source, reason])
        )


class InputFileNotFoundError(InvalidRequestError, FileNotFoundError):
    """A file the call needs (an image, a config) does not exist; nothing was sent.

    Also raised for a directory where a config file is expected (``is_directory``).
    """

    def __init__(self, path: str, *, is_directory: bool = False) -> None:
        self.path = path
        self.is_directory = is_directory
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.is_directory:
            return f"not a file: {self.path!r} is a directory"
        return f"file not found: {self.path!r}"


class InvalidFileError(InvalidRequestError):
    """A file that cannot be uploaded: empty, a directory, unreadable; nothing was sent.

    Also raised for such a file given to ``ImagePart.from_path``. ``path`` is the path given
    (None for bytes or a file object) and ``reason`` says what is wrong with it.
    """

    def __init__(self, path: str | None, reason: str) -> None:
        self.path = path
        self.reason = reason
        what = f"cannot upload {path!r}" if path is not None else "cannot upload"
        super().__init__(f"{what}: {reason}")


class InvalidContentError(AmasError, TypeError):
    """Content of a type the API cannot take; the message says what is accepted."""


class APIConnectionError(AmasError):
    """The server could not be reached, or the connection broke before a full answer.

    ``request_sent`` is False when the failure happened before any byte of the request left
    (DNS, connection refused, TLS handshake): the server cannot have acted on it. ``message``
    says what failed, ``method`` and ``url`` which request (never the API key), and
    ``attempts`` how many attempts the call took.
    """

    def __init__(
        self,
        message: str = "connection error",
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool = True,
        attempts: int = 1,
    ) -> None:
        self.message = message
        self.method = method
        self.url = url
        self.request_sent = request_sent
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{self.message}{where}{_attempts_note(self.attempts)}"


class APITimeoutError(APIConnectionError):
    """A connect, read or total timeout expired."""

    def __init__(
        self,
        message: str = "request timed out",
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool = True,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            message, method=method, url=url, request_sent=request_sent, attempts=attempts
        )


class APIStatusError(AmasError):
    """The server answered with a status outside 2xx.

    Carries everything the answer said: ``status_code``, ``message``, ``error_type`` (the
    documented ``error.type``, or None), the parsed ``body`` (JSON value, or text), the response
    ``headers`` and the ``request_id`` if a header carried one; ``method`` and ``url`` name the
    request and ``attempts`` how many attempts the call took. The subclasses below are raised
    for their status; another status outside 2xx raises this class itself.
    """

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.error_type = error_type
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.request_id = request_id
        self.method = method
        self.url = url
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"{self.status_code}"]
        if self.error_type:
            parts.append(f"[{self.error_type}]")
        parts.append(self.message)
        if self.method and self.url:
            parts.append(f"({self.method} {self.url})")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts) + _attempts_note(self.attempts)


class BadRequestError(APIStatusError):
    """400: the server rejected the request as malformed or invalid."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not access this resource."""


class NotFoundError(APIStatusError):
    """404: no such session, agent or path.

    When the URL has no ``/api/v<N>`` part, the message says the base URL probably lacks
    ``/api/v1`` (every API path is under it): a 404 for every call is the usual symptom.
    """

    def __str__(self) -> str:
        text = super().__str__()
        if self.url is None or not missing_api_version(self.url):
            return text
        return f"{text}; the URL has no /api/v1: should the base URL end in /api/v1?"


_API_VERSION = re.compile(r"/api/v\d+(?:/|$)")


def missing_api_version(url: str) -> bool:
    """Whether a URL (a base URL, or a request's) has no ``/api/v<N>`` part in its path."""
    path = url.partition("://")[2].partition("/")[2].partition("?")[0]
    return _API_VERSION.search("/" + path) is None


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state (for example a busy session)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but semantically invalid."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the server's wait in seconds, or None."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """A 5xx answer: the server failed."""


class ResponseValidationError(AmasError):
    """A 2xx answer whose body is not what the API documents (not JSON, or the wrong shape).

    ``body`` keeps what was received (parsed JSON or text) so nothing is lost; ``message``
    says what does not fit (naming the field, such as ``$.messages[0].created_at``),
    ``status_code``, ``method`` and ``url`` where the answer came from, and ``attempts`` how
    many attempts the call took (more than 1 when retried failures came before this answer).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        status = f"{self.status_code} " if self.status_code else ""
        return f"{status}{self.message}{where}{_attempts_note(self.attempts)}"

    def at(
        self, *, status_code: int, method: str, url: str, attempts: int | None = None
    ) -> ResponseValidationError:
        """The same error, placed: a new one carrying the answer's status, method and URL.

        ``attempts`` (None: keep this error's) is how many attempts the call took.
        """
        return type(self)(
            self.message,
            status_code=status_code,
            body=self.body,
            method=method,
            url=url,
            attempts=self.attempts if attempts is None else attempts,
        )


class ResponseTooLargeError(ResponseValidationError):
    """An answer whose body is larger than ``Limits.max_response_bytes``; it was not kept.

    Raised whatever the status, as soon as the declared ``Content-Length`` or the bytes read
    so far pass the cap; the connection is closed, not reused. ``limit`` is the cap and
    ``size`` the declared length (None when the answer did not declare one). ``body`` is None.
    Not retried: the same request would get the same answer.
    """

    def __init__(
        self,
        *,
        limit: int,
        size: int | None = None,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.limit = limit
        self.size = size
        what = f"declares {size} bytes, more than" if size is not None else "is larger than"
        super().__init__(
            f"the answer {what} the client's limit of {limit} bytes; not read. "
            "Raise the limit with limits=amas_async.Limits(max_response_bytes=...)",
            status_code=status_code,
            method=method,
            url=url,
            attempts=attempts,
        )

    def at(
        self, *, status_code: int, method: str, url: str, attempts: int | None = None
    ) -> ResponseTooLargeError:
        """The same error, placed: a new one carrying the answer's status, method and URL.

        ``attempts`` (None: keep this error's) is how many attempts the call took.
        """
        return type(self)(
            limit=self.limit,
            size=self.size,
            status_code=status_code,
            method=method,
            url=url,
            attempts=self.attempts if attempts is None else attempts,
        )


class ExecutionError(AmasError):
    """An execution the server accepted (2xx) whose run ended ``error`` or ``timeout``.

    ``execution`` is the parsed :class:`~amas_async.Execution`, with whatever the run produced.
    """

    execution: ExecutionLike
    """The parsed :class:`~amas_async.Execution`."""

    def __init__(self, execution: ExecutionLike) -> None:
        self.execution = execution
        detail = ""
        error = execution.metadata.get("error") if execution.metadata else None
        if isinstance(error, Mapping) and error.get("message"):
            detail = f": {clip(str(error['message']))}"
        super().__init__(f"execution ended with status {execution.status!r}{detail}")

    @property
    def status(self) -> str | None:
        """The run's final status (``"error"`` or ``"timeout"``)."""
        return self.execution.status


class ProcessingError(AmasError):
    """A file or knowledge base whose background processing ended in failure.

    Raised by ``files.wait`` (status ``"error"``) and ``knowledge_bases.wait`` (status
    ``"failed"``). ``id`` names the object and ``status`` is its final status; ``result`` is
    the last object read (a :class:`~amas_async.File` or a
    :class:`~amas_async.KnowledgeBaseStatus`), with whatever the server said about the failure.
    """

    def __init__(self, message: str, *, id: str, status: str | None, result: Any) -> None:
        self.id = id
        self.status = status
        self.result = result
        super().__init__(message)


class WaitTimeoutError(AmasError, TimeoutError):
    """``wait()`` gave up: the object was still processing when its time ran out.

    ``id`` names the object, ``status`` is its status when the time ran out and ``result``
    the last object read; the processing itself goes on on the server, so calling ``wait``
    again picks up where this one stopped.
    """

    def __init__(self, message: str, *, id: str, status: str | None, result: Any) -> None:
        self.id = id
        self.status = status
        self.result = result
        super().__init__(message)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status outside 2xx."""
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return InternalServerError
    return APIStatusError


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _text_snippet(text: str) -> str:
    """A short, single-line, tag-free excerpt of a text or HTML body."""
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = title.group(1) if title and title.group(1).strip() else _TAG.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    return text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else "")


def _describe_body(body: Any) -> tuple[str | None, str | None]:
    """(message, error_type) from an error body of any documented or common shape."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = error.get("message") or error.get("detail")
            etype = error.get("type") or error.get("code")
            return (
                clip(str(message)) if message else None,
                clip(str(etype), 100) if etype else None,
            )
        if isinstance(error, str) and error:
            return clip(error), None
        detail = body.get("detail")
        if detail:
            return clip(detail if isinstance(detail, str) else _dumps(detail)), None
        message = body.get("message")
        if isinstance(message, str) and message:
            return clip(message), None
        fields = []
        for key, value in body.items():
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                fields.append(f"{key}: {' '.join(value)}")
            elif isinstance(value, str):
                fields.append(f"{key}: {value}")
        if fields:
            return "; ".join(fields)[:_SNIPPET], None
        return None, None
    if isinstance(body, list) and body and all(isinstance(v, str) for v in body):
        return "; ".join(body)[:_SNIPPET], None
    if isinstance(body, str) and body.strip():
        return _text_snippet(body), None
    return None, None


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value)  # parsed JSON: only its depth can make this fail
    except RecursionError:
        return "(an object too deep to show)"


def decode_error_body(content: bytes) -> Any:
    """The body of an error answer: parsed JSON when it is JSON, else text (maybe empty)."""
    text = content.decode("utf-8", errors="replace")
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than json can read
            pass
    return text


def make_status_error(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    method: str | None = None,
    url: str | None = None,
    reason: str | None = None,
    retry_after: float | None = None,
    attempts: int = 1,
) -> APIStatusError:
    """Build the typed error for a non-2xx answer. Never raises on a malformed body.

    ``retry_after`` (seconds, read from the answer's headers by the caller) goes on a
    :class:`RateLimitError`; ``attempts`` says how many attempts the call took.
    """
    body = decode_error_body(content)
    message, error_type = _describe_body(body)
    if message and message.startswith(f"{status} "):  # a page titled "502 Bad Gateway"
        message = message[len(str(status)) + 1 :].strip()
    if not message:
        message = reason or f"HTTP {status}"
    request_id = next((headers[h] for h in REQUEST_ID_HEADERS if headers.get(h)), None)
    cls = status_error_class(status)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "error_type": error_type,
        "body": body,
        "headers": headers,
        "request_id": request_id,
        "method": method,
        "url": url,
        "attempts": attempts,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)
