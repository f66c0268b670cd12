"""The agent store behind ``/agent/``, ``/sessions/from-agent/`` and ``Emulator.register_agent``.

An agent is a saved configuration (``system_config``, validated like ``POST /sessions/``) with
a key derived from its name, a version and a hash. :class:`RegisteredAgent` is the public,
immutable record; :class:`AgentStore` keeps them (every change replaces the record).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from .bodies import canonical_json, iso
from .errors import ApiError, invalid, not_found
from .workflow import Workflow, parse_config

AgentLookup = Literal["agent_key", "agent_id"]
"""How ``/sessions/from-agent/`` names the saved agent: by key (query) or by id (path)."""

FIRST_VERSION: Final = "1.0.0"
"""``version_number`` of a new agent [DOC: the examples' value]."""
AGENT_OWNER: Final = "emulator_user"
"""``owner`` of every agent [OURS]."""
AGENT_COMPANY: Final = "emulator_company"
"""``company`` of every agent [OURS]."""
FLAT_ENTRY_POINT: Final = "main"
"""``entry_point`` of a flat single-agent config [DOC: the examples' value]."""
SETTINGS: Final = ("is_public", "is_shared", "origin_url")
"""Agent fields besides ``system_config`` that POST and PATCH may set [OURS]."""


@dataclass(frozen=True)
class RegisteredAgent:
    """A saved agent, as ``GET /agent/{id}/`` shows it; ``config`` is its ``system_config``.

    ``key`` is the ``agent_key`` and ``created_at``/``updated_at`` are unix seconds; the other
    fields (``id``, ``name``, ``config_hash``, ``version_number``, ``architecture``,
    ``entry_point``, ``is_public``, ``is_shared``, ``origin_url``) are the Agent object's. The
    record is immutable: a change through ``PATCH /agent/{id}/`` stores a new one.
    """

    id: str
    key: str
    name: str
    config: Mapping[str, Any]
    config_hash: str = ""
    version_number: str = FIRST_VERSION
    architecture: str = ""
    entry_point: str = ""
    is_public: bool = False
    is_shared: bool = False
    origin_url: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def agent_key(self) -> str:
        """The same as :attr:`key` (its name on the wire)."""
        return self.key


def agent_key_for(name: str) -> str:
    """The key derived from an agent's name: snake case ("Support Agent" -> support_agent)."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def agent_config_hash(config: Any) -> str:
    """The first 12 hex digits of the SHA-256 of the canonical JSON [OURS: the docs show 12]."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:12]


def next_version(version: str) -> str:
    """The version after ``version``: the last number goes up by one ("1.0.0" -> "1.0.1")."""
    parts = version.split(".")
    if parts and parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return f"{version}.1"


def deep_merge(base: Mapping[str, Any], partial: Mapping[str, Any]) -> dict[str, Any]:
    """``partial`` merged into a copy of ``base``: objects merge key by key, recursively.

    Any other value (a list, a string, null, ...) replaces the value in ``base``.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in partial.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_config(config: Any, prefix: str = "") -> Workflow:
    """Validate an agent config like ``POST /sessions/``; a 400's field gets ``prefix``."""
    try:
        return parse_config(config)
    except ApiError as exc:
        if prefix and exc.status == 400:
            field = f"{prefix}.{exc.field}" if exc.field else prefix
            raise invalid(exc.message, field) from None
        raise


def describe(config: Mapping[str, Any], workflow: Workflow) -> tuple[str, str]:
    """``(architecture, entry_point)`` shown for a config [OURS].

    The flat form: its ``agent_type`` and ``"main"`` (as the docs' examples show). The
    multi-agent form: its ``architecture`` (default ``"workflow"``) and its ``entry_point``
    (default: the first agent).
    """
    if workflow.flat:
        return str(config.get("agent_type")), FLAT_ENTRY_POINT
    architecture = config.get("architecture")
    entry = config.get("entry_point")
    return (
        architecture if isinstance(architecture, str) and architecture else "workflow",
        entry if isinstance(entry, str) else next(iter(workflow.agents)),
    )


def check_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """The agent settings in a POST/PATCH body, type-checked (400 naming the field)."""
    found: dict[str, Any] = {}
    for name in SETTINGS:
        if name not in body:
            continue
        value = body[name]
        if name == "origin_url":
            if value is not None and not isinstance(value, str):
                raise invalid("'origin_url' must be a string or null", name)
        elif not isinstance(value, bool):
            raise invalid(f"'{name}' must be a boolean", name)
        found[name] = value
    return found


def agent_body(agent: RegisteredAgent) -> dict[str, Any]:
    """The documented Agent object, in the documented key order."""
    return {
        "id": agent.id,
        "agent_key": agent.key,
        "name": agent.name,
        "architecture": agent.architecture,
        "entry_point": agent.entry_point,
        "is_public": agent.is_public,
        "is_shared": agent.is_shared,
        "origin_url": agent.origin_url,
        "owner": AGENT_OWNER,
        "company": AGENT_COMPANY,
        "system_config": copy.deepcopy(dict(agent.config)),
        "version_number": agent.version_number,
        "config_hash": agent.config_hash,
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
    }


class AgentStore:
    """The saved agents, oldest first, by id and by key; ``lock`` guards every access."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._by_id: dict[str, RegisteredAgent] = {}

    def all(self) -> list[RegisteredAgent]:
        """Every agent, oldest first."""
        with self._lock:
            return list(self._by_id.values())

    def create(
        self,
        config: dict[str, Any],
        workflow: Workflow,
        *,
        agent_key: str | None = None,
        agent_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> RegisteredAgent:
        """Save a new agent (``config`` already validated into ``workflow``).

        The key defaults to :func:`agent_key_for` of the name and the id to a new UUID. An
        agent with the same key (or id) answers 409 ``conflict_error``, unless ``replace``:
        then the old agent(s) are removed first.
        """
        now = time.time()
        architecture, entry_point = describe(config, workflow)
        agent = RegisteredAgent(
            id=agent_id or str(uuid.uuid4()),
            key=agent_key or agent_key_for(workflow.name),
            name=workflow.name,
            config=config,
            config_hash=agent_config_hash(config),
            architecture=architecture,
            entry_point=entry_point,
            created_at=now,
            updated_at=now,
            **dict(settings or {}),
        )
        with self._lock:
            clashes = [
                old for old in self._by_id.values() if old.key == agent.key or old.id == agent.id
            ]
            if clashes and not replace:
                old = clashes[0]
                raise ApiError(
                    409,
                    "conflict_error",
                    f"An agent with agent_key {old.key!r} already exists: {old.id}",
                    field="system_config.name",
                )
            for old in clashes:
                del self._by_id[old.id]
            self._by_id[agent.id] = agent
        return agent

    def get(self, agent_id: str) -> RegisteredAgent:
        """The agent with this id; a 404 ``Agent not found: <id>`` if there is none."""
        with self._lock:
            agent = self._by_id.get(agent_id)
        if agent is None:
            raise not_found(f"Agent not found: {agent_id}")
        return agent

    def find(self, by: AgentLookup, value: str) -> RegisteredAgent:
        """The agent with this key or id; a 404 ``Agent not found`` if there is none."""
        if by == "agent_id":
            return self.get(value)
        with self._lock:
            for agent in self._by_id.values():
                if agent.key == value:
                    return agent
        raise not_found(f"Agent not found: {value}")

    def update(
        self,
        agent_id: str,
        partial: Mapping[str, Any] | None,
        settings: Mapping[str, Any],
    ) -> RegisteredAgent:
        """Deep-merge ``partial`` into the agent's config and apply ``settings``.

        The merged config must validate (400 with a ``system_config.`` field otherwise, and
        nothing changes). ``updated_at`` is always set; when the config changes, so do
        ``config_hash``, ``name`` and ``architecture``/``entry_point``, and the version goes
        up by one (:func:`next_version`). The key never changes.
        """
        with self._lock:
            agent = self.get(agent_id)
            config = dict(agent.config)
            if partial is not None:
                config = deep_merge(agent.config, partial)
            workflow = check_config(config, "system_config")
            changes: dict[str, Any] = {**settings, "updated_at": time.time()}
            new_hash = agent_config_hash(config)
            if new_hash != agent.config_hash:
                architecture, entry_point = describe(config, workflow)
                changes.update(
                    config=config,
                    config_hash=new_hash,
                    name=workflow.name,
                    architecture=architecture,
                    entry_point=entry_point,
                    version_number=next_version(agent.version_number),
                )
            updated = dataclasses.replace(agent, **changes)
            self._by_id[agent_id] = updated
        return updated

    def delete(self, agent_id: str) -> None:
        """Remove the agent (404 if there is none)."""
        with self._lock:
            self.get(agent_id)
            del self._by_id[agent_id]
