"""Session configuration: the body of ``POST /sessions/``, its wire form and its local checks.

Both documented forms fit :class:`SessionConfig`: the multi-agent form (``agents``, ``edges``,
``entry_point``) and the flat single-agent form (``agent_type``, ``system_prompt``,
``llm_config`` at the top level). Unknown keys are kept in ``extra`` at every level and sent
back unchanged; fields left None are not sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import cattrs

from .. import _serde
from .._config_files import load_config_source
from ..errors import ConfigValidationError

__all__ = ["AGENT_TYPES", "END", "START", "AgentConfig", "Edge", "SessionConfig"]

#: The agent types the AMAS docs define.
AGENT_TYPES = ("llm_agent", "react_agent", "supervisor")
#: The special nodes every workflow may use in its edges.
START, END = "__start__", "__end__"


@attrs.frozen
class Edge:
    """A workflow edge: ``Edge(source, target)`` is ``{"from": source, "to": target}`` on the wire.

    Conditional edges have no ``target``; they carry ``condition``, ``condition_type``
    (``boolean`` or ``literal``) and ``routing`` or ``possible_outputs``.
    """

    source: str
    """The node the edge leaves: an agent's name or ``__start__`` (``from`` on the wire)."""
    target: str | None = None
    """The node it leads to: an agent's name or ``__end__`` (``to`` on the wire)."""
    condition: str | None = attrs.field(default=None, kw_only=True)
    """The prompt deciding a conditional edge."""
    condition_type: str | None = attrs.field(default=None, kw_only=True)
    """``boolean`` (with ``routing``) or ``literal`` (with ``possible_outputs``)."""
    routing: Mapping[str, str] | None = attrs.field(default=None, kw_only=True)
    """A boolean edge's targets: ``{"yes": ..., "no": ...}``."""
    possible_outputs: Sequence[str] | None = attrs.field(default=None, kw_only=True)
    """A literal edge's possible targets."""
    llm_model: str | None = attrs.field(default=None, kw_only=True)
    """The model deciding a conditional edge."""
    extra: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True)
    """Keys this SDK does not know, sent back unchanged."""

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
    """The agent's name, unique in the config; edges refer to it."""
    agent_type: str | None = None
    """``llm_agent``, ``react_agent`` or ``supervisor`` (None: the server's default)."""
    description: str | None = None
    """What the agent does."""
    system_prompt: str | None = None
    """The agent's system prompt."""
    prompt_config: Mapping[str, Any] | None = None
    """Prompt settings, such as a templated ``system_prompt``."""
    llm_config: Mapping[str, Any] | None = None
    """Model settings: ``model``, ``temperature``, ``max_tokens`` ..."""
    streaming_config: Mapping[str, Any] | None = None
    """Streaming settings."""
    knowledge_bases: Sequence[Any] | None = None
    """The knowledge bases the agent may search."""
    tools: Sequence[Any] | None = None
    """The agent's tools: names or ``{name: settings}`` mappings."""
    tool_calling: Mapping[str, Any] | None = None
    """Tool-calling settings, such as ``max_iterations``."""
    memory_config: Mapping[str, Any] | None = None
    """Memory settings."""
    supervised_agents: Sequence[str] | None = None
    """A supervisor's agents, by name."""
    return_to_supervisor: bool | None = None
    """Whether supervised agents hand back to the supervisor."""
    max_handoffs: int | None = None
    """A supervisor's limit on handoffs."""
    supervisor_prompt: str | None = None
    """A supervisor's routing prompt."""
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    """Keys this SDK does not know, sent back unchanged."""


@attrs.frozen(kw_only=True)
class SessionConfig:
    """A session configuration: the body of ``POST /sessions/``.

    Both documented forms fit: the multi-agent form (``agents``, ``edges``, ``entry_point``)
    and the flat single-agent form (``agent_type``, ``system_prompt``, ``llm_config`` at the
    top level). Fields left None are not sent; unknown keys are kept in ``extra`` and sent
    back unchanged, so a config read from a file goes out as it was written.
    """

    name: str | None = None
    """The session's name (required by the API)."""
    description: str | None = None
    """What the session is for."""
    architecture: str | None = None
    """``workflow`` and the like."""
    recursion_limit: int | None = None
    """The most steps one execution may take."""
    entry_point: str | None = None
    """The agent a multi-agent workflow starts with."""
    save_messages: bool | None = None
    """Keep the history (needed by ``runtime.messages``)."""
    persistent_state: bool | None = None
    """Keep state between executions."""
    variables: Mapping[str, Any] | None = None
    """The config's variables, filled by execute's ``inputs``."""
    memory_config: Mapping[str, Any] | None = None
    """Memory settings."""
    agents: Sequence[AgentConfig] | None = None
    """The agents of the multi-agent form (None in the flat form)."""
    tools: Sequence[Any] | None = None
    """Tools shared by the agents."""
    edges: Sequence[Edge] | None = None
    """The workflow's edges."""
    agent_type: str | None = None
    """The flat form's agent type."""
    system_prompt: str | None = None
    """The flat form's system prompt."""
    prompt_config: Mapping[str, Any] | None = None
    """The flat form's prompt settings."""
    llm_config: Mapping[str, Any] | None = None
    """The flat form's model settings."""
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    """Keys this SDK does not know, sent back unchanged."""

    @property
    def is_flat(self) -> bool:
        """True for the flat single-agent form (no ``agents`` list)."""
        return self.agents is None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionConfig:
        """Read a config in the wire shape (either documented form).

        Raises :class:`ConfigValidationError` naming the first field that does not fit.
        """
        return _structure(data)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> SessionConfig:
        """Read a config from YAML text, or from a YAML (or JSON) file's path.

        A string with a line break, or one that starts like YAML or JSON (``name: ...``,
        ``{``), is text; another is a path. Text that cannot be read raises
        :class:`ConfigValidationError` with its line and column, a missing file
        :class:`InputFileNotFoundError`. The config is read, not validated: see
        :meth:`validate`.
        """
        return _structure(load_config_source(source))

    def to_dict(self) -> dict[str, Any]:
        """The wire shape (what ``sessions.create`` sends)."""
        wire: dict[str, Any] = _serde.unstructure(self)
        return wire

    def validate(self) -> SessionConfig:
        """Check what can be checked locally; raise ``ConfigValidationError`` naming the field.

        Field types (a config built in Python is held to the same types as one read from a
        file), names, agent types, the entry point and every edge's ends are checked. Returns
        the config itself, so it can be chained.
        """
        _check_types(self)
        _check_graph(self)
        return self


# ---- the wire form --------------------------------------------------------------------------

_EDGE_WIRE_NAMES = {"source": "from", "target": "to"}
_serde.register_open_class(Edge, _EDGE_WIRE_NAMES)
_serde.register_open_class(AgentConfig)
_serde.register_open_class(SessionConfig)

_EDGE_FIELD = re.compile(r"^(edges\[\d+\])\.(source|target)\b")


def _structure(data: Mapping[str, Any]) -> SessionConfig:
    """A :class:`SessionConfig` from the wire shape; a typed error naming the field otherwise."""
    if not isinstance(data, Mapping):
        raise ConfigValidationError(
            "config", f"a config must be a mapping of fields, got {type(data).__name__}"
        )
    _check_nesting(data)
    _check_lists(data)
    try:
        return _serde.structure(data, SessionConfig)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        field, message = _serde.first_problem(exc)
        field = _EDGE_FIELD.sub(lambda m: f"{m[1]}.{_EDGE_WIRE_NAMES[m[2]]}", field)
        raise ConfigValidationError("config" if field == "$" else field, message) from exc


#: The deepest a config's lists and mappings may nest (the documented ones nest 4 deep).
_MAX_NESTING = 100


def _check_nesting(data: Mapping[str, Any]) -> None:
    """Refuse a config that contains itself or nests deeper than ``_MAX_NESTING``.

    A YAML alias to one of its own parents (``vars: &v {again: *v}``) makes a mapping that
    contains itself, which has no JSON form; nesting hundreds deep would exhaust the stack
    when the config is put back in its wire shape. Walked with a stack of its own.
    """
    on_path: set[int] = set()  # the lists and mappings between the top and the value
    pending: list[tuple[object, str, bool]] = [(data, "", False)]
    while pending:
        value, where, leaving = pending.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        if isinstance(value, Mapping):
            items = [(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()]
        elif isinstance(value, (list, tuple)):
            items = [(item, f"{where}[{index}]") for index, item in enumerate(value)]
        else:
            continue
        if id(value) in on_path:
            raise ConfigValidationError(
                where or "config", "contains itself (a YAML alias to one of its own parents?)"
            )
        if len(on_path) >= _MAX_NESTING:
            raise ConfigValidationError(where, f"nests deeper than {_MAX_NESTING} levels")
        on_path.add(id(value))
        pending.append((value, where, True))
        pending.extend((item, path, False) for item, path in reversed(items))


def _check_lists(data: Mapping[str, Any]) -> None:
    """The documented messages for agents and edges that are not lists of mappings."""
    agents = data.get("agents")
    if agents is not None and (not isinstance(agents, Sequence) or isinstance(agents, str)):
        raise ConfigValidationError("agents", "must be a list of agents")
    for index, agent in enumerate(agents or ()):
        if not isinstance(agent, Mapping):
            raise ConfigValidationError(f"agents[{index}]", "every agent must be a mapping")
        if "name" not in agent:
            raise ConfigValidationError(f"agents[{index}].name", "every agent needs a name")
    edges = data.get("edges")
    if edges is not None and (not isinstance(edges, Sequence) or isinstance(edges, str)):
        raise ConfigValidationError("edges", "must be a list of edges")
    for index, edge in enumerate(edges or ()):
        if not isinstance(edge, Mapping) or "from" not in edge:
            raise ConfigValidationError(f"edges[{index}].from", "every edge needs a 'from' node")


# ---- local checks ---------------------------------------------------------------------------


def _check_types(config: SessionConfig) -> None:
    """A config built in Python gets the type checks of one read from the wire."""
    try:
        wire = config.to_dict()
    except (AttributeError, TypeError, ValueError) as exc:
        raise ConfigValidationError("config", f"cannot be put in the wire shape: {exc}") from exc
    except RecursionError:
        raise ConfigValidationError(
            "config",
            "cannot be put in the wire shape: a value contains itself or nests deeper than "
            f"{_MAX_NESTING} levels",
        ) from None
    _structure(wire)


def _check_graph(config: SessionConfig) -> None:
    """Names, agent types, the entry point and the edges' ends."""
    if not isinstance(config.name, str) or not config.name.strip():
        raise ConfigValidationError("name", "a config needs a non-empty name")
    if config.agents is None:
        if config.agent_type is None:
            raise ConfigValidationError(
                "agents",
                "no agents: give a list of agents (multi-agent form) "
                "or an agent_type (flat single-agent form)",
            )
        _check_type("agent_type", config.agent_type)
        return
    if not config.agents:
        raise ConfigValidationError("agents", "the list of agents is empty")
    names: set[str] = set()
    for index, agent in enumerate(config.agents):
        where = f"agents[{index}]"
        if not isinstance(agent.name, str) or not agent.name.strip():
            raise ConfigValidationError(f"{where}.name", "every agent needs a non-empty name")
        if agent.name in names:
            raise ConfigValidationError(f"{where}.name", f"duplicate agent name {agent.name!r}")
        if agent.name in (START, END):
            raise ConfigValidationError(f"{where}.name", f"{agent.name!r} is a reserved node name")
        names.add(agent.name)
        if agent.agent_type is not None:
            _check_type(f"{where}.agent_type", agent.agent_type)
    if config.entry_point is not None and config.entry_point not in names:
        raise ConfigValidationError(
            "entry_point", f"{config.entry_point!r} is not one of the agents {sorted(names)}"
        )
    for index, agent in enumerate(config.agents):
        for position, supervised in enumerate(agent.supervised_agents or ()):
            if not isinstance(supervised, str):
                raise ConfigValidationError(
                    f"agents[{index}].supervised_agents[{position}]",
                    f"must be an agent's name (a str), got {type(supervised).__name__}",
                )
            if supervised not in names:
                raise ConfigValidationError(
                    f"agents[{index}].supervised_agents",
                    f"{supervised!r} is not one of the agents {sorted(names)}",
                )
    nodes = names | {START, END}
    for index, edge in enumerate(config.edges or ()):
        if edge.source not in nodes - {END}:
            raise ConfigValidationError(
                f"edges[{index}].from", f"{edge.source!r} is not an agent or {START!r}"
            )
        if not edge.targets:
            raise ConfigValidationError(
                f"edges[{index}].to", "an edge needs 'to', 'routing' or 'possible_outputs'"
            )
        for target in edge.targets:
            if target not in nodes - {START}:
                raise ConfigValidationError(
                    f"edges[{index}].to", f"{target!r} is not an agent or {END!r}"
                )


def _check_type(field: str, agent_type: object) -> None:
    if agent_type not in AGENT_TYPES:
        raise ConfigValidationError(
            field, f"unknown agent_type {agent_type!r}; expected one of {', '.join(AGENT_TYPES)}"
        )
