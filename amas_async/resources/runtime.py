"""``client.runtime``: execute messages in a session, read its history and status."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import attrs

from .. import _readers, _serde, batch
from .._checks import check_int
from .._throttle import Throttle
from .._validation import path_segment
from ..batch import BatchResult, Requests
from ..errors import (
    ExecutionError,
    InvalidContentError,
    InvalidRequestError,
    ResponseValidationError,
)
from ..models import (
    Content,
    Execution,
    FilePart,
    ImagePart,
    ImageUpload,
    Message,
    MessagePage,
    SessionStatus,
    TextPart,
)
from ..models.content import check_part_url
from ._base import AsyncResource


def _check_page(limit: object, offset: object) -> tuple[int, int]:
    return check_int(limit, "limit", minimum=1), check_int(offset, "offset", minimum=0)


def check_idempotency_key(idempotency_key: object) -> str | None:
    """``idempotency_key`` checked: None, or a non-empty printable ASCII str."""
    if idempotency_key is None:
        return None
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidRequestError("idempotency_key must be a non-empty str")
    if not (idempotency_key.isascii() and idempotency_key.isprintable()):
        raise InvalidRequestError("idempotency_key must be printable ASCII")
    return idempotency_key


class AsyncRuntime(AsyncResource):
    """Message execution, history and status (``/runtime/{session_id}/...``)."""

    __slots__ = ()

    async def execute_many(
        self,
        requests: Requests,
        *,
        concurrency: int = 16,
        rate_limit: float | Throttle | None = None,
        on_result: Callable[[BatchResult], Any] | None = None,
    ) -> list[BatchResult]:
        """Run many executions at once; one :class:`BatchResult` per request, in input order.

        ``requests`` is an iterable or async iterable of :class:`ExecuteRequest` (or mappings
        with its keys). Requests for the same session run one after another in input order;
        different sessions run concurrently, up to ``concurrency`` (default 16). ``rate_limit``
        is requests per second or a :class:`Throttle` (None: no rate cap); 429s lower the
        concurrency, which then recovers. One failure never stops the others: it is the
        ``error`` of its :class:`BatchResult` (an item that is not a request, too).
        ``on_result`` (plain or async) sees each result as it completes; an exception it
        raises stops the batch. A ``concurrency`` below 1 raises :class:`InvalidRequestError`.
        """
        return await batch.execute_many(
            self._batch_send(rate_limit, concurrency),
            requests,
            concurrency=concurrency,
            on_result=on_result,
        )

    async def iter_execute_many(
        self,
        requests: Requests,
        *,
        concurrency: int = 16,
        rate_limit: float | Throttle | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Like :meth:`execute_many`, yielding results as they complete; reads input lazily.

        Use it with ``async for``; results come in completion order (``BatchResult.index`` is
        the input position), and at most a few times ``concurrency`` requests are read ahead,
        so a huge input runs in bounded memory. Close it early with ``contextlib.aclosing``
        to cancel what is in flight.
        """
        stream = batch.iter_execute_many(
            self._batch_send(rate_limit, concurrency), requests, concurrency=concurrency
        )
        async with contextlib.aclosing(stream):
            async for result in stream:
                yield result

    def _batch_send(self, rate_limit: float | Throttle | None, concurrency: int) -> batch.Send:
        """How a batch sends a request: ``execute`` through the batch's throttle.

        The throttle sits under the retry layer, so every attempt passes it.
        """
        throttled = self._client._with_inner_middleware(batch.throttle_for(rate_limit, concurrency))
        runtime = AsyncRuntime(throttled)
        return lambda request: runtime.execute(
            request.session_id,
            request.content,
            inputs=request.inputs,
            correlation_id=request.correlation_id,
            idempotency_key=request.idempotency_key,
        )

    async def execute(
        self,
        session_id: str,
        content: Content,
        *,
        inputs: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Send a message to a session's agents and wait for the run to finish.

        ``content`` is a string, or a list of :class:`TextPart`, :class:`ImagePart`,
        :class:`FilePart`, :class:`ImageUpload` or wire-shape mappings (one part alone is taken
        too). ``inputs`` fills the config's variables (session-level ones on the first call,
        request-level ones on every call). ``correlation_id`` is a tracking id the server
        echoes back (``Execution.correlation_id``). ``idempotency_key`` replaces the key the
        SDK makes for the call (the same on every attempt). Only the arguments given are sent.

        Returns the :class:`Execution`, whichever of the three documented answer shapes the
        server sends; its ``text`` is the reply, and its ``session_id`` is ``session_id`` when
        the answer names no session (the legacy shape). Raises :class:`ExecutionError` when
        the run ended ``error`` or ``timeout``; content or inputs the API cannot take raise
        :class:`InvalidRequestError` or :class:`InvalidContentError` before anything is sent;
        an error answer raises its :class:`APIStatusError`. An execution is retried only
        where it cannot have run (a 429, a 503, a connection that failed before sending),
        unless the :class:`RetryPolicy` says ``retry_non_idempotent``.
        """
        path = f"/runtime/{path_segment(session_id, 'session_id')}/execute/"
        body = execute_body(content, inputs, correlation_id)
        execution = await self._client._request(
            "POST",
            path,
            content=body,
            idempotent=False,
            idempotency_key=check_idempotency_key(idempotency_key),
            parse=parse_execution,
        )
        if execution.session_id is None:  # the legacy answer shape names no session
            execution = attrs.evolve(execution, session_id=session_id)
        if execution.status in ("error", "timeout"):
            raise ExecutionError(execution)
        return execution

    async def messages(self, session_id: str, limit: int = 50, offset: int = 0) -> MessagePage:
        """One page of a session's history, oldest first (needs ``save_messages``).

        Sends ``limit`` (default 50, at least 1) and ``offset`` (default 0, at least 0; other
        values raise :class:`InvalidRequestError`). Returns a :class:`MessagePage` with
        ``total`` and ``has_more`` as the server says; its ``next_offset`` is where the next
        page starts, or None on the last page.
        """
        limit, offset = _check_page(limit, offset)
        path = f"/runtime/{path_segment(session_id, 'session_id')}/messages/"
        return await self._client._request(
            "GET",
            path,
            params={"limit": str(limit), "offset": str(offset)},
            parse=functools.partial(parse_message_page, limit=limit, offset=offset),
        )

    async def iter_messages(
        self, session_id: str, *, page_size: int = 50, offset: int = 0
    ) -> AsyncIterator[Message]:
        """Every message of a session's history from ``offset``, fetching pages lazily.

        Use it with ``async for``; each page asks for ``page_size`` messages (default 50). It
        stops after the last page (``has_more`` false, or ``total`` reached). A server that
        answers the same page again (it ignores ``offset``) raises
        :class:`ResponseValidationError` instead of looping forever.
        """
        _check_page(page_size, offset)
        previous: object = None
        while True:
            page = await self.messages(session_id, limit=page_size, offset=offset)
            ids = [m.id for m in page.messages]
            # the same page again: the same ids, or, with no ids to tell, the same messages
            seen: object = ids if any(ids) else page.raw.get("messages")
            if previous is not None and seen == previous:
                raise ResponseValidationError(
                    f"the messages answer repeated the previous page at offset {offset}: "
                    "the server ignores 'offset'",
                    body=page.raw,
                )
            previous = seen
            for message in page.messages:
                yield message
            following = page.next_offset
            if following is None or (page.total is not None and following >= page.total):
                return
            offset = following

    async def status(self, session_id: str) -> SessionStatus:
        """A session's runtime status: a :class:`SessionStatus`.

        Its ``status`` is ``active``, ``processing``, ``idle`` or ``error`` per the docs (any
        string the server sends is kept); an unknown session raises :class:`NotFoundError`.
        """
        path = f"/runtime/{path_segment(session_id, 'session_id')}/status/"
        return await self._client._request("GET", path, parse=parse_status)


# ---- the wire: the execute body sent, the answers read ------------------------------------------

_CONTENT_HELP = (
    "content must be a str, or a list of TextPart / ImagePart / FilePart / ImageUpload "
    "or mappings in the wire shape"
)
_NEEDED_KEY = {"text": "text", "image_url": "image_url", "file": "file_url"}


def _part_to_wire(part: object, index: int) -> object:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):  # its URL was checked when it was made
        return {"type": "image_url", "image_url": {"url": part.url}}
    if isinstance(part, ImageUpload):  # a URL the server gave: checked as a user's would be
        url = check_part_url(part.url, f"content[{index}] (ImageUpload)", image=True)
        return {"type": "image_url", "image_url": {"url": url}}
    if isinstance(part, FilePart):
        return {"type": "file", "file_url": part.url}
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if isinstance(part, Mapping):
        kind = part.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidRequestError(
                f"content[{index}] has no 'type' (one of text, image_url, file)"
            )
        needed = _NEEDED_KEY.get(kind)
        if needed is not None and needed not in part:
            raise InvalidRequestError(f"content[{index}] of type {kind!r} needs {needed!r}")
        if kind == "image_url":
            image = part["image_url"]
            given = image.get("url") if isinstance(image, Mapping) else image
            check_part_url(given, f"content[{index}] (image_url)", image=True)
        elif kind == "file":
            check_part_url(part["file_url"], f"content[{index}] (file)", image=False)
        return part
    raise InvalidContentError(f"{_CONTENT_HELP}; content[{index}] is a {type(part).__name__}")


def content_to_wire(content: object) -> object:
    """The wire form of execute's ``content``: a string, or a list of part objects."""
    if isinstance(content, str):
        return content
    if isinstance(content, (TextPart, ImagePart, FilePart, ImageUpload, Mapping)):
        return [_part_to_wire(content, 0)]
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        if not content:
            raise InvalidRequestError("content is an empty list; give at least one part")
        return [_part_to_wire(part, i) for i, part in enumerate(content)]
    raise InvalidContentError(f"{_CONTENT_HELP}, not {type(content).__name__}")


def execute_body(content: object, inputs: object, correlation_id: object) -> bytes:
    """The JSON body of ``POST /runtime/{id}/execute/``; only the fields given are sent."""
    body: dict[str, object] = {
        "content": content if type(content) is str else content_to_wire(content)
    }
    if inputs is not None:
        if type(inputs) is not dict and not isinstance(inputs, Mapping):
            raise InvalidContentError(f"inputs must be a mapping, not {type(inputs).__name__}")
        for key in inputs:
            if type(key) is not str and not isinstance(key, str):
                raise InvalidRequestError(f"inputs keys must be variable names (str), got {key!r}")
        # encoded at once below: a dict goes as it is, another mapping as a dict of it
        body["inputs"] = inputs if type(inputs) is dict else dict(inputs)
    if correlation_id is not None:
        if not isinstance(correlation_id, str):
            raise InvalidContentError("correlation_id must be a str")
        body["correlation_id"] = correlation_id
    try:
        return _serde.dumps(body)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"content or inputs cannot be encoded as JSON: {exc}") from exc


# Each answer is mapped onto its model's field names (the shape mappings below), then read by
# code generated from the models (amas_async._readers.reader): messages straight from the
# answer's objects, where Message's fields say which keys hold them. A value that does not fit
# raises ResponseValidationError naming the field.


def _check_messages(what: str) -> Callable[[Mapping[str, Any], object], None]:
    """The check of a refused answer: 'messages' must be a list of objects."""

    def check(fields: Mapping[str, Any], body: object) -> None:
        if not all(isinstance(m, Mapping) for m in fields.get("messages", ())):
            raise _serde.invalid_answer(what, body, "'messages' must be a list of objects")

    return check


_read_execution = _readers.reader(
    Execution, "execute", omit=("attempts",), check=_check_messages("execute")
)
_read_page = _readers.reader(MessagePage, "messages", check=_check_messages("messages"))
_read_status = _readers.reader(SessionStatus, "status")
_STATUS_FIELDS = ("session_id", "status", "message_count", "last_activity", "created_at", "health")


def _messages(items: object, what: str, body: object) -> object:
    """An answer's ``messages``: a list (its items are checked as they are read), or none."""
    if isinstance(items, list):
        return items
    if items is None:
        return ()
    raise _serde.invalid_answer(what, body, "'messages' must be a list of objects")


def parse_execution(body: Any) -> Execution:
    """An :class:`Execution` from any of the three documented execute answers.

    The current ``agent.session`` shape (A) and the ``execution_result`` shape (B) differ in
    where the session id sits; usage and ids may sit in ``metadata``; the legacy shape (C)
    carries one reply in ``response``.
    """
    if type(body) is not dict and not isinstance(body, Mapping):
        raise _serde.invalid_answer("execute", body)
    get = body.get
    response = get("response")
    if response is not None and "messages" not in body and isinstance(response, Mapping):
        return _legacy_execution(body, response)
    metadata = get("metadata")
    if metadata is None:
        metadata = {}
    elif type(metadata) is not dict and not isinstance(metadata, Mapping):
        raise _serde.invalid_answer("execute", body, "'metadata' must be an object")
    session_id = get("session_id")
    if session_id is None and get("object", "agent.session") == "agent.session":
        session_id = get("id")
    status = get("status")
    if status is None and get("success") is False:
        status = "error"
    messages = get("messages")
    if type(messages) is not list:
        messages = _messages(messages, "execute", body)
    usage = metadata.get("usage", get("usage"))
    fields = {
        "session_id": session_id,
        "status": status,
        "messages": messages,
        "usage": usage if type(usage) is dict or isinstance(usage, Mapping) else None,
        "metadata": metadata,
        "execution_id": metadata.get("execution_id", get("execution_id")),
        "correlation_id": metadata.get("correlation_id", get("correlation_id")),
        "created_at": get("created_at"),
        "completed_at": get("completed_at"),
        "execution_time": get("execution_time"),
        "tool_calls": get("tool_calls") or (),
        "raw": body,
    }
    return _read_execution(fields, body)


def _legacy_execution(body: Mapping[str, Any], response: Mapping[str, Any]) -> Execution:
    """The legacy ``{success, message_id, response}`` shape (C), whose reply is ``response``."""
    message = {
        "id": body.get("message_id"),
        "role": "assistant",
        "content": response.get("content"),
    }
    fields = {
        "session_id": None,
        "status": "completed" if body.get("success", True) else "error",
        "messages": [message],
        "usage": None,
        "metadata": {},
        "execution_id": body.get("message_id"),
        "correlation_id": body.get("correlation_id"),
        "created_at": None,
        "completed_at": None,
        "execution_time": None,
        "tool_calls": response.get("tool_calls") or (),
        "raw": body,
    }
    execution = _read_execution(fields, body)
    # The reply was read from a mapping made here; the message as received is ``response``.
    (reply,) = execution.messages
    return attrs.evolve(execution, messages=(attrs.evolve(reply, raw=response),))


def parse_message_page(body: Any, *, limit: int, offset: int) -> MessagePage:
    """A :class:`MessagePage` from ``GET /runtime/{id}/messages/``."""
    if type(body) is not dict and not isinstance(body, Mapping):
        raise _serde.invalid_answer("messages", body)
    messages = body.get("messages")
    if type(messages) is not list:
        messages = _messages(messages, "messages", body)
    fields = {
        "messages": messages,
        "total": body.get("total"),
        "has_more": body.get("has_more", False),
        "limit": limit,
        "offset": offset,
        "raw": body,
    }
    return _read_page(fields, body)


def parse_status(body: Any) -> SessionStatus:
    """A :class:`SessionStatus` from ``GET /runtime/{id}/status/``."""
    if not isinstance(body, Mapping):
        raise _serde.invalid_answer("status", body)
    fields = {name: body.get(name) for name in _STATUS_FIELDS}
    fields["raw"] = body
    return _read_status(fields, body)
