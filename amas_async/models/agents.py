"""Saved agents (``/agent/``) and what the server says when it validates a config.

The models are lenient like the others: every field the API may omit is optional, a field of
an unexpected type is read as the converter reads it (an integer id becomes its text), and
``raw`` keeps the answer as received, so a key the model lacks is never lost. Timestamps are
timezone-aware ``datetime`` whether the server sent ISO 8601 text or Unix seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .. import _readers

__all__ = ["Agent", "ConfigValidation", "FieldError"]


@_readers.lazy_timestamps
@attrs.frozen(kw_only=True)
class Agent(_readers.Record):
    """A saved agent: what ``GET``, ``POST`` and ``PATCH`` on ``/agent/`` answer.

    ``system_config`` is the agent's whole configuration as the server holds it (a mapping in
    the wire shape; its knowledge-base entries are kept as sent, whether they name the base
    by ``knowledge_base_id`` or by ``id``). Start a session from it with
    ``client.sessions.from_agent(agent.agent_key)``.
    """

    id: str
    """The agent's id (a UUID); the one field an agent answer must carry."""
    agent_key: str | None = None
    """The key derived from the name (``"Support Agent"`` -> ``support_agent``), for
    ``sessions.from_agent``."""
    name: str | None = None
    """The agent's name."""
    architecture: str | None = None
    """The agent's type, such as ``llm_agent`` or ``react_agent``."""
    entry_point: str | None = None
    """Where a run starts (``"main"`` in the docs)."""
    is_public: bool | None = None
    """Whether the agent is publicly reachable."""
    is_shared: bool | None = None
    """Whether the agent is shared within the company."""
    origin_url: str | None = None
    """The origin allowed to embed the public agent, or None."""
    owner: str | None = None
    """The owning user."""
    company: str | None = None
    """The owning company."""
    system_config: Mapping[str, Any] = attrs.field(factory=dict)
    """The agent's configuration as the server holds it (empty if the answer has none)."""
    version_number: str | None = None
    """The deployed version, such as ``"1.0.0"``."""
    config_hash: str | None = None
    """The hash of the configuration; a PATCH sets a new one."""
    created_at: datetime | None = None
    """When the agent was created."""
    updated_at: datetime | None = None
    """When it was last changed."""
    raw: Mapping[str, Any] = attrs.field(
        factory=dict, repr=False, eq=False, metadata=_readers.as_received()
    )
    """The answer as received."""


@attrs.frozen
class FieldError(_readers.Record):
    """One problem the server found in a config: which field, and what is wrong with it."""

    field: str | None = None
    """The dotted path of the field (``"llm_config.model"``); None for the config as a whole
    (an error the server did not attach to a field)."""
    message: str | None = None
    """What is wrong, in the server's words."""

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message or 'invalid'}"
        return self.message or "invalid"


@attrs.frozen
class ConfigValidation(_readers.Record):
    """The server's verdict on a config (``POST /agent/validate/``).

    Read from the documented answers (``{valid, message}`` and ``{valid: false, errors}``),
    and, when the server answers an invalid config with a 4xx, from its error body: the
    documented ``{"error": {"type", "message"}}``, ``{"detail": ...}`` or Django REST's field
    errors (``{"llm_config": {"model": ["..."]}}``, one :class:`FieldError` per message).
    Test ``valid`` explicitly: the object itself is always true.
    """

    valid: bool = False
    """True when the server accepts the config."""
    message: str | None = None
    """The server's message (``"Configuration is valid"``), when it sends one."""
    errors: Sequence[FieldError] = ()
    """What is wrong, field by field (empty when valid)."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True, repr=False, eq=False)
    """The answer as received."""

    @property
    def summary(self) -> str:
        """One line for a person: ``valid``, or the message and every field error."""
        if self.valid:
            return self.message or "valid"
        parts = [str(error) for error in self.errors]
        if self.message and self.message not in parts:
            parts.insert(0, self.message)
        return "; ".join(parts) if parts else "invalid"
