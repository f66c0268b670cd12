"""The values the SDK sends and receives: frozen attrs classes, no I/O, no client references.

Response models are lenient: every field the API may omit is optional, unknown keys are
ignored by the models and kept in ``raw``, and timestamps are ``datetime`` whether the server
sent ISO 8601 strings or Unix seconds. Conversion to and from the wire shape lives in the
private ``_serde`` module.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "AgentConfig",
    "ContentPart",
    "Edge",
    "Execution",
    "FilePart",
    "ImagePart",
    "ImageUpload",
    "Message",
    "MessagePage",
    "SessionConfig",
    "SessionStatus",
    "TextPart",
    "Usage",
]

#: The agent types the AMAS docs define.
AGENT_TYPES = ("llm_agent", "react_agent", "supervisor")
#: The special nodes every workflow may use in its edges.
START, END = "__start__", "__end__"


# ---- content parts --------------------------------------------------------------------------


@attrs.frozen
class TextPart:
    """A text part of a message: ``{"type": "text", "text": ...}``."""

    text: str = attrs.field(validator=attrs.validators.instance_of(str))


@attrs.frozen
class ImagePart:
    """An image part: ``{"type": "image_url", "image_url": {"url": ...}}``.

    ``url`` is a public ``https://`` URL, the ``url`` of an :class:`ImageUpload`, or a base64
    ``data:`` URL (see :meth:`from_path` and :meth:`from_bytes`).
    """

    url: str = attrs.field(validator=attrs.validators.instance_of(str))

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, media_type: str | None = None
    ) -> ImagePart:
        """An image part carrying ``data`` inline as a base64 ``data:`` URL.

        The media type is read from the image's signature when not given.
        """
        from ._multipart import sniff_media_type
        from .errors import InvalidContentError, InvalidRequestError

        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidContentError(f"data must be bytes, not {type(data).__name__}")
        raw = bytes(data)
        media_type = media_type or sniff_media_type(raw[:32])
        if media_type is None:
            raise InvalidRequestError(
                "cannot tell the image's media type from its content; pass media_type="
            )
        return cls(f"data:{media_type};base64,{base64.b64encode(raw).decode('ascii')}")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], media_type: str | None = None) -> ImagePart:
        """An image part carrying the file at ``path`` inline as a base64 ``data:`` URL.

        The media type comes from the file's signature, else its name. For large images prefer
        ``client.images.upload(path)``, which streams the file and returns a URL.
        """
        from ._multipart import guess_media_type
        from .errors import InputFileNotFoundError, InvalidRequestError

        name = os.fspath(path)
        if not os.path.isfile(name):
            raise InputFileNotFoundError(name)
        with open(name, "rb") as handle:
            raw = handle.read()
        media_type = media_type or guess_media_type(name, raw[:32])
        if media_type is None:
            raise InvalidRequestError(f"cannot tell the media type of {name!r}; pass media_type=")
        return cls.from_bytes(raw, media_type)


@attrs.frozen
class FilePart:
    """A file part: ``{"type": "file", "file_url": ...}``."""

    url: str = attrs.field(validator=attrs.validators.instance_of(str))


@attrs.frozen
class ImageUpload:
    """The answer of ``POST /images/upload/``: where the image now lives.

    Put it in a content list as is, or use ``ImagePart(upload.url)``.
    """

    url: str
    media_type: str | None = None
    size: int | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True, repr=False, eq=False)
    attempts: int = attrs.field(default=1, kw_only=True, eq=False)
    """How many attempts the upload took (more than 1 after retries)."""


ContentPart = TextPart | ImagePart | FilePart | ImageUpload | Mapping[str, Any]


# ---- execution results ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Usage:
    """Token usage of one execution."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@attrs.frozen(kw_only=True)
class Message:
    """One message of a conversation.

    ``content`` is a string in every documented answer; a list of parts is kept as sent.
    ``created_at`` is the message's ``created_at`` (execute) or ``timestamp`` (history).
    """

    id: str | None = None
    role: str | None = None
    content: Any = None
    created_at: datetime | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def text(self) -> str:
        """The message's text: its content if a string, else its text parts joined."""
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, Sequence):
            return "".join(
                str(p.get("text", ""))
                for p in self.content
                if isinstance(p, Mapping) and p.get("type") == "text"
            )
        return ""


@attrs.frozen(kw_only=True)
class Execution:
    """The result of one execute call, from any of the three documented answer shapes.

    The current ``agent.session`` shape, the ``execution_result`` shape and the legacy
    ``{success, message_id, response}`` shape all fill the same fields. ``messages`` holds only
    the messages this execution produced; ``raw`` is the body as received.
    """

    session_id: str | None = None
    status: str | None = None
    messages: Sequence[Message] = ()
    usage: Usage | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    execution_id: str | None = None
    correlation_id: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    execution_time: float | None = None
    tool_calls: Sequence[Any] = ()
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
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
class MessagePage:
    """One page of a session's history (``GET /runtime/{id}/messages/``)."""

    messages: Sequence[Message] = ()
    total: int | None = None
    has_more: bool = False
    limit: int = 50
    offset: int = 0
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last page."""
        return self.offset + len(self.messages) if self.has_more and self.messages else None


@attrs.frozen(kw_only=True)
class SessionStatus:
    """A session's runtime status (``GET /runtime/{id}/status/``).

    ``status`` is ``active``, ``processing``, ``idle`` or ``error`` per the docs.
    """

    session_id: str | None = None
    status: str | None = None
    message_count: int | None = None
    last_activity: datetime | None = None
    created_at: datetime | None = None
    health: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


# ---- configuration --------------------------------------------------------------------------


@attrs.frozen
class Edge:
    """A workflow edge: ``Edge(source, target)`` is ``{"from": source, "to": target}`` on the wire.

    Conditional edges have no ``target``; they carry ``condition``, ``condition_type``
    (``boolean`` or ``literal``) and ``routing`` or ``possible_outputs``.
    """

    source: str
    target: str | None = None
    condition: str | None = attrs.field(default=None, kw_only=True)
    condition_type: str | None = attrs.field(default=None, kw_only=True)
    routing: Mapping[str, str] | None = attrs.field(default=None, kw_only=True)
    possible_outputs: Sequence[str] | None = attrs.field(default=None, kw_only=True)
    llm_model: str | None = attrs.field(default=None, kw_only=True)
    extra: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True)

    @property
    def targets(self) -> tuple[str, ...]:
        """Every node this edge can lead to."""
        found: list[str] = []
        if self.target is not None:
            found.append(self.target)
        if self.routing:
            found.extend(str(v) for v in self.routing.values())
        if self.possible_outputs:
            found.extend(str(v) for v in self.possible_outputs)
        return tuple(found)


@attrs.frozen(kw_only=True)
class AgentConfig:
    """One agent of a multi-agent config. Unknown keys are kept in ``extra`` and sent back."""

    name: str
    agent_type: str | None = None
    description: str | None = None
    system_prompt: str | None = None
    prompt_config: Mapping[str, Any] | None = None
    llm_config: Mapping[str, Any] | None = None
    streaming_config: Mapping[str, Any] | None = None
    knowledge_bases: Sequence[Any] | None = None
    tools: Sequence[Any] | None = None
    tool_calling: Mapping[str, Any] | None = None
    memory_config: Mapping[str, Any] | None = None
    supervised_agents: Sequence[str] | None = None
    return_to_supervisor: bool | None = None
    max_handoffs: int | None = None
    supervisor_prompt: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SessionConfig:
    """A session configuration: the body of ``POST /sessions/``.

    Both documented forms fit: the multi-agent form (``agents``, ``edges``, ``entry_point``)
    and the flat single-agent form (``agent_type``, ``system_prompt``, ``llm_config`` at the
    top level). Fields left None are not sent; unknown keys are kept in ``extra`` and sent
    back unchanged, so a config read from a file goes out as it was written.
    """

    name: str | None = None
    description: str | None = None
    architecture: str | None = None
    recursion_limit: int | None = None
    entry_point: str | None = None
    save_messages: bool | None = None
    persistent_state: bool | None = None
    variables: Mapping[str, Any] | None = None
    memory_config: Mapping[str, Any] | None = None
    agents: Sequence[AgentConfig] | None = None
    tools: Sequence[Any] | None = None
    edges: Sequence[Edge] | None = None
    # the flat single-agent form
    agent_type: str | None = None
    system_prompt: str | None = None
    prompt_config: Mapping[str, Any] | None = None
    llm_config: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def is_flat(self) -> bool:
        """True for the flat single-agent form (no ``agents`` list)."""
        return self.agents is None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionConfig:
        """Read a config in the wire shape (either documented form)."""
        from ._serde import structure_config

        return structure_config(data)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> SessionConfig:
        """Read a config from YAML text, or from a YAML (or JSON) file's path."""
        from ._serde import load_config_source

        return cls.from_dict(load_config_source(source))

    def to_dict(self) -> dict[str, Any]:
        """The wire shape (what ``sessions.create`` sends)."""
        from ._serde import unstructure_config

        return unstructure_config(self)

    def validate(self) -> SessionConfig:
        """Check what can be checked locally; raise ``ConfigValidationError`` naming the field.

        Returns the config itself, so it can be chained.
        """
        from ._validation import validate_config

        validate_config(self)
        return self
