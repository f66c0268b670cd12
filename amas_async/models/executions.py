"""What the runtime answers: executions, messages, history pages and session status.

The models are lenient: every field the API may omit is optional, and ``raw`` keeps the answer
as received, so a key the model lacks is never lost. Timestamps are timezone-aware ``datetime``
whether the server sent ISO 8601 text or Unix seconds (seconds are checked when the answer is
read and converted when the field is first read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .. import _readers

__all__ = ["Execution", "Message", "MessagePage", "SessionStatus", "Usage"]


@attrs.frozen(kw_only=True)
class Usage(_readers.Record):
    """Token usage of one execution."""

    input_tokens: int = 0
    """Tokens read by the models."""
    output_tokens: int = 0
    """Tokens written by the models."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class Message(_readers.Record):
    """One message of a conversation."""

    id: str | None = None
    """The message's id."""
    role: str | None = None
    """``user``, ``assistant``, ``tool`` ..."""
    content: Any = None
    """A string in every documented answer; a list of parts is kept as sent."""
    created_at: datetime | None = attrs.field(
        default=None, metadata=_readers.wire("created_at", "timestamp")
    )
    """The message's ``created_at`` (execute) or ``timestamp`` (history)."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The message as received."""

    @property
    def text(self) -> str:
        """The message's text: its content if a string, else its text parts joined.

        A text part whose ``text`` is a number counts as its digits; one whose ``text`` is
        anything else but a string (not as documented: null, true, a list ...) adds nothing.
        """
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, Sequence):
            texts = []
            for part in self.content:
                if isinstance(part, Mapping) and part.get("type") == "text":
                    text = part.get("text")
                    if isinstance(text, str):
                        texts.append(text)
                    elif isinstance(text, (int, float)) and not isinstance(text, bool):
                        texts.append(str(text))
            return "".join(texts)
        return ""


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class Execution(_readers.Record):
    """The result of one execute call, from any of the three documented answer shapes.

    The current ``agent.session`` shape, the ``execution_result`` shape and the legacy
    ``{success, message_id, response}`` shape all fill the same fields.
    """

    session_id: str | None = None
    """The session the message was executed in."""
    status: str | None = None
    """``completed``, ``error`` or ``timeout``."""
    messages: Sequence[Message] = ()
    """Only the messages this execution produced."""
    usage: Usage | None = None
    """Token usage, when the answer reports it."""
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    """The answer's ``metadata`` object (execution id, usage, events ...)."""
    execution_id: str | None = None
    """The id of this execution."""
    correlation_id: str | None = None
    """The ``correlation_id`` sent with the request, echoed back."""
    created_at: datetime | None = None
    """When the execution started."""
    completed_at: datetime | None = None
    """When it finished."""
    execution_time: float | None = None
    """How long it ran, in seconds."""
    tool_calls: Sequence[Any] = ()
    """The tool calls the agents made, as sent."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
    """The answer as received."""
    attempts: int = attrs.field(default=1, eq=False)
    """How many attempts the call took (more than 1 after retries)."""

    @property
    def text(self) -> str:
        """The reply: the text of the last assistant message (empty if there is none)."""
        for message in reversed(self.messages):
            if message.role in (None, "assistant"):
                return message.text
        return ""

    @property
    def ok(self) -> bool:
        """False when the run ended ``error`` or ``timeout``."""
        return self.status not in ("error", "timeout")


@attrs.frozen(kw_only=True)
class MessagePage(_readers.Record):
    """One page of a session's history (``GET /runtime/{id}/messages/``)."""

    messages: Sequence[Message] = ()
    """The page's messages, oldest first."""
    total: int | None = None
    """How many messages the history holds, when the server says."""
    has_more: bool = False
    """True when later pages exist."""
    limit: int = 50
    """The page size asked for."""
    offset: int = 0
    """The offset asked for."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
    """The answer as received."""

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last page."""
        return self.offset + len(self.messages) if self.has_more and self.messages else None


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class SessionStatus(_readers.Record):
    """A session's runtime status (``GET /runtime/{id}/status/``)."""

    session_id: str | None = None
    """The session's id."""
    status: str | None = None
    """``active``, ``processing``, ``idle`` or ``error`` per the docs."""
    message_count: int | None = None
    """How many messages the session holds."""
    last_activity: datetime | None = None
    """When the session last ran."""
    created_at: datetime | None = None
    """When the session was created."""
    health: str | None = None
    """``healthy`` or a reason it is not."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
    """The answer as received."""
