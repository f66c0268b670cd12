"""``client.runtime``: execute messages in a session, read its history and status."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .. import batch
from .._serde import execute_body, parse_execution, parse_message_page, parse_status
from .._throttle import Throttle
from .._validation import path_segment
from ..batch import BatchResult, Requests
from ..errors import ExecutionError, InvalidRequestError, ResponseValidationError
from ..models import ContentPart, Execution, Message, MessagePage, SessionStatus
from ._base import AsyncResource

Content = str | ContentPart | Sequence[ContentPart]


def _check_page(limit: object, offset: object) -> tuple[int, int]:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequestError(f"limit must be a positive int, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidRequestError(f"offset must be an int >= 0, got {offset!r}")
    return limit, offset


def _key(idempotency_key: object) -> str | None:
    if idempotency_key is None:
        return None
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidRequestError("idempotency_key must be a non-empty str")
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in idempotency_key):
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
        different sessions run concurrently, up to ``concurrency``. ``rate_limit`` is requests
        per second or a :class:`Throttle`; 429s lower the concurrency, which then recovers.
        One failure never stops the others. ``on_result`` sees each result as it completes.
        """
        return await batch.execute_many(
            self._client,
            requests,
            concurrency=concurrency,
            rate_limit=rate_limit,
            on_result=on_result,
        )

    def iter_execute_many(
        self,
        requests: Requests,
        *,
        concurrency: int = 16,
        rate_limit: float | Throttle | None = None,
    ) -> AsyncIterator[BatchResult]:
        """Like :meth:`execute_many`, yielding results as they complete; reads input lazily.

        Close it early with ``contextlib.aclosing`` to cancel what is in flight.
        """
        return batch.iter_execute_many(
            self._client, requests, concurrency=concurrency, rate_limit=rate_limit
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
        :class:`FilePart`, :class:`ImageUpload` or wire-shape mappings. ``inputs`` fills the
        config's variables (session-level ones on the first call, request-level ones on every
        call). ``idempotency_key`` replaces the key the SDK makes for the call (the same on
        every attempt). Raises :class:`ExecutionError` when the run ended ``error`` or
        ``timeout``.
        """
        path = f"/runtime/{path_segment(session_id, 'session_id')}/execute/"
        body = execute_body(content, inputs, correlation_id)
        execution = await self._client._request(
            "POST",
            path,
            content=body,
            idempotent=False,
            idempotency_key=_key(idempotency_key),
            parse=parse_execution,
        )
        if execution.status in ("error", "timeout"):
            raise ExecutionError(execution)
        return execution

    async def messages(self, session_id: str, limit: int = 50, offset: int = 0) -> MessagePage:
        """One page of a session's history, oldest first (needs ``save_messages``)."""
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
        """Every message of a session's history, fetching pages lazily."""
        _check_page(page_size, offset)
        previous: list[str | None] | None = None
        while True:
            page = await self.messages(session_id, limit=page_size, offset=offset)
            ids = [m.id for m in page.messages]
            if previous is not None and ids == previous and any(ids):
                raise ResponseValidationError(
                    f"the messages answer repeated the previous page at offset {offset}: "
                    "the server ignores 'offset'",
                    body=page.raw,
                )
            previous = ids
            for message in page.messages:
                yield message
            following = page.next_offset
            if following is None or (page.total is not None and following >= page.total):
                return
            offset = following

    async def status(self, session_id: str) -> SessionStatus:
        """A session's runtime status: active, processing, idle or error."""
        path = f"/runtime/{path_segment(session_id, 'session_id')}/status/"
        return await self._client._request("GET", path, parse=parse_status)
