"""Agent configurations: validated into a :class:`Workflow` with its deterministic path.

``POST /sessions/`` and :meth:`Emulator.register_agent` accept both documented forms [DOC]:
multi-agent (``name, description, save_messages, persistent_state, variables, agents[],
edges[], entry_point``) and flat single-agent (``name, agent_type, system_prompt,
llm_config, tools``; chosen when there is no ``agents`` key but an ``agent_type``). What is
validated, and the path a run takes, is spelled out in :func:`parse_config`; everything
else (llm_config, tools, knowledge bases, ...) is accepted unchecked [OURS].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import invalid

START: Final = "__start__"
"""Special workflow node every run starts from (documented)."""
END: Final = "__end__"
"""Special workflow node that ends a run (documented)."""
AGENT_TYPES: Final = frozenset({"llm_agent", "react_agent", "supervisor"})
"""Agent types the emulator accepts (the three documented ones)."""
DEFAULT_RECURSION_LIMIT: Final = 25
"""Maximum number of agent steps per execution when the config sets no ``recursion_limit``."""
DEFAULT_SAVE_MESSAGES: Final = True
"""``save_messages`` when the config does not say [OURS]."""
DEFAULT_PERSISTENT_STATE: Final = False
"""``persistent_state`` when the config does not say [OURS: the docs say session-level
variables persist only "with persistent_state: true"]."""
VARIABLE_MODES: Final = ("replace", "concat")
"""A variable's ``mode`` values [DOC]."""
DEFAULT_SEPARATOR: Final = " "
"""A ``concat`` variable's ``separator`` when not given [DOC]."""


@dataclass(frozen=True)
class AgentSpec:
    """One agent of a validated configuration."""

    name: str
    agent_type: str
    system_prompt: str
    supervised_agents: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariableSpec:
    """One entry of the config's top-level ``variables`` mapping."""

    name: str
    type: str = "str"
    required: bool = True
    require_every_execution: bool = False
    default: Any = None
    mode: str = "replace"
    separator: str = DEFAULT_SEPARATOR

    @property
    def has_default(self) -> bool:
        """Whether a (non-null) default is configured."""
        return self.default is not None


@dataclass(frozen=True)
class Workflow:
    """A validated configuration plus the precomputed, deterministic execution plan."""

    name: str
    agents: Mapping[str, AgentSpec]
    plan: tuple[str, ...]
    variables: tuple[VariableSpec, ...]
    save_messages: bool
    persistent_state: bool
    recursion_limit: int
    flat: bool


def _require_str(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{what} is required and must be a non-empty string", field)
    return value


def _optional_bool(config: Mapping[str, Any], key: str, default: bool) -> bool:
    if key not in config or config[key] is None:
        return default
    value = config[key]
    if not isinstance(value, bool):
        raise invalid(f"'{key}' must be a boolean", key)
    return value


def _system_prompt(agent: Mapping[str, Any], prefix: str) -> str:
    prompt_config = agent.get("prompt_config")
    if prompt_config is not None:
        if not isinstance(prompt_config, Mapping):
            raise invalid("'prompt_config' must be an object", f"{prefix}prompt_config")
        nested = prompt_config.get("system_prompt")
        if nested is not None:
            if not isinstance(nested, str):
                raise invalid(
                    "'system_prompt' must be a string", f"{prefix}prompt_config.system_prompt"
                )
            return nested
    flat = agent.get("system_prompt")
    if flat is None:
        return ""
    if not isinstance(flat, str):
        raise invalid("'system_prompt' must be a string", f"{prefix}system_prompt")
    return flat


def _agent_type(value: Any, field: str) -> str:
    if not isinstance(value, str) or value not in AGENT_TYPES:
        allowed = ", ".join(sorted(AGENT_TYPES))
        raise invalid(f"Unknown agent_type {value!r}; expected one of: {allowed}", field)
    return value


def _parse_variables(config: Mapping[str, Any]) -> tuple[VariableSpec, ...]:
    raw = config.get("variables")
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise invalid("'variables' must be an object mapping names to definitions", "variables")
    specs: list[VariableSpec] = []
    for name, definition in raw.items():
        field = f"variables.{name}"
        if not isinstance(definition, Mapping):
            raise invalid(f"Variable definition for {name!r} must be an object", field)
        kind = definition.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise invalid(
                f"Variable {name!r} needs a 'type' (a BAML type such as str, int or list[str])",
                f"{field}.type",
            )
        required = definition.get("required", True)
        every = definition.get("require_every_execution", False)
        if not isinstance(required, bool):
            raise invalid("'required' must be a boolean", f"{field}.required")
        if not isinstance(every, bool):
            raise invalid(
                "'require_every_execution' must be a boolean", f"{field}.require_every_execution"
            )
        default = definition.get("default")
        if not required and default is None:
            raise invalid(
                f"Variable {name!r} is not required (required: false), so it needs a default",
                f"{field}.default",
            )
        mode = definition.get("mode", "replace")
        if mode is None:
            mode = "replace"
        if mode not in VARIABLE_MODES:
            raise invalid(
                f"'mode' must be one of: {', '.join(VARIABLE_MODES)}; got {mode!r}", f"{field}.mode"
            )
        separator = definition.get("separator", DEFAULT_SEPARATOR)
        if separator is None:
            separator = DEFAULT_SEPARATOR
        if not isinstance(separator, str):
            raise invalid("'separator' must be a string", f"{field}.separator")
        specs.append(
            VariableSpec(
                name=name,
                type=kind,
                required=required,
                require_every_execution=every,
                default=default,
                mode=mode,
                separator=separator,
            )
        )
    return tuple(specs)


def _llm_config(agent: Mapping[str, Any], prefix: str) -> None:
    llm_config = agent.get("llm_config")
    if llm_config is None:
        return
    if not isinstance(llm_config, Mapping):
        raise invalid("'llm_config' must be an object", f"{prefix}llm_config")
    model = llm_config.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise invalid(f"Invalid model specified: {model!r}", f"{prefix}llm_config.model")


def _recursion_limit(config: Mapping[str, Any]) -> int:
    value = config.get("recursion_limit")
    if value is None:
        return DEFAULT_RECURSION_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid("'recursion_limit' must be a positive integer", "recursion_limit")
    return value


def _is_conditional(edge: Mapping[str, Any]) -> bool:
    return any(k in edge for k in ("routing", "possible_outputs", "condition", "condition_type"))


def edge_target(edge: Mapping[str, Any]) -> str:
    """Return the node a (validated) edge leads to, choosing deterministically.

    Conditional edges are never evaluated: a ``routing`` edge (boolean conditions) takes
    its ``yes`` target (``"true"`` when the YAML ``yes`` key was read as a boolean), or its
    first target when there is no ``yes`` key; a ``possible_outputs`` edge (literal
    conditions) takes the first listed output; otherwise the edge's ``to``.
    """
    routing = edge.get("routing")
    if isinstance(routing, Mapping) and routing:
        for key in ("yes", "true", "Yes", "YES", "True"):
            if key in routing:
                return str(routing[key])
        return str(next(iter(routing.values())))
    outputs = edge.get("possible_outputs")
    if isinstance(outputs, list) and outputs:
        return str(outputs[0])
    return str(edge["to"])


def _choose(edges: list[Mapping[str, Any]]) -> str:
    for edge in edges:
        if not _is_conditional(edge):
            return edge_target(edge)
    return edge_target(edges[0])


def _validate_edges(raw: Any, agent_names: set[str]) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("'edges' must be a list", "edges")
    targets = agent_names | {END}
    edges: list[Mapping[str, Any]] = []
    for i, edge in enumerate(raw):
        prefix = f"edges.{i}"
        if not isinstance(edge, Mapping):
            raise invalid("Each edge must be an object", prefix)
        source = edge.get("from")
        if not isinstance(source, str) or source not in (agent_names | {START}):
            raise invalid(
                f"Edge source {source!r} is not an agent name or {START!r}", f"{prefix}.from"
            )
        has_target = False
        if "routing" in edge:
            routing = edge["routing"]
            if not isinstance(routing, Mapping) or not routing:
                raise invalid("'routing' must be a non-empty object", f"{prefix}.routing")
            for key, target in routing.items():
                if not isinstance(target, str) or target not in targets:
                    raise invalid(
                        f"Routing target {target!r} is not an agent name or {END!r}",
                        f"{prefix}.routing.{key}",
                    )
            has_target = True
        if "possible_outputs" in edge:
            outputs = edge["possible_outputs"]
            if not isinstance(outputs, list) or not outputs:
                raise invalid(
                    "'possible_outputs' must be a non-empty list", f"{prefix}.possible_outputs"
                )
            for j, target in enumerate(outputs):
                if not isinstance(target, str) or target not in targets:
                    raise invalid(
                        f"Possible output {target!r} is not an agent name or {END!r}",
                        f"{prefix}.possible_outputs.{j}",
                    )
            has_target = True
        if "to" in edge or not has_target:
            target = edge.get("to")
            if not isinstance(target, str) or target not in targets:
                raise invalid(
                    f"Edge target {target!r} is not an agent name or {END!r}", f"{prefix}.to"
                )
        edges.append(edge)
    return edges


def _plan(
    agents: Mapping[str, AgentSpec],
    edges: list[Mapping[str, Any]],
    entry: str,
    limit: int,
) -> tuple[str, ...]:
    outgoing: dict[str, list[Mapping[str, Any]]] = {}
    for edge in edges:
        outgoing.setdefault(str(edge["from"]), []).append(edge)
    node = _choose(outgoing[START]) if START in outgoing else entry
    path: list[str] = []
    while node != END and len(path) < limit:
        path.append(node)
        for sub in agents[node].supervised_agents:
            if len(path) >= limit:
                break
            path.append(sub)
        outs = outgoing.get(node)
        if not outs:
            break
        node = _choose(outs)
    return tuple(path)


def parse_config(config: Any) -> Workflow:
    """Validate an agent configuration and compute its execution plan.

    Accepts the multi-agent form (``agents`` present) and the flat single-agent form
    (no ``agents`` but an ``agent_type``). Raises a 400 :class:`~.errors.ApiError` naming the
    dotted field for: a non-object body, a missing ``name``, a missing or empty
    ``agents`` list, an agent without a name, a duplicate or reserved agent name, an
    unknown ``agent_type``, an ``llm_config`` that is not an object or whose ``model`` is
    not a non-empty string, an ``entry_point`` that is not an agent, an edge from or to
    an unknown node (``__start__``/``__end__`` allowed; ``routing`` and
    ``possible_outputs`` targets are checked too), a ``supervised_agents`` entry that is
    not an agent, badly typed ``save_messages``/``persistent_state``/``recursion_limit``
    and malformed ``variables`` (no ``type``; ``required: false`` without a ``default``;
    an unknown ``mode``; a ``separator`` that is not a string). Other keys are accepted
    without checks. ``save_messages`` defaults to true, ``persistent_state`` to false.

    The plan: start at the target of the first edge out of ``__start__`` (or at
    ``entry_point``, or the first agent, when no edge leaves ``__start__``); from each
    node take the first unconditional outgoing edge, or else the first conditional edge
    resolved by :func:`edge_target`; stop at ``__end__``, at a node without outgoing
    edges, or after ``recursion_limit`` agent steps (the run then simply ends there). A
    supervisor with ``supervised_agents`` is followed by each supervised agent once, in
    list order, before its own outgoing edges are followed.
    """
    if not isinstance(config, Mapping):
        raise invalid("Configuration must be a JSON or YAML object")
    name = _require_str(config.get("name"), "name", "'name'")
    save_messages = _optional_bool(config, "save_messages", DEFAULT_SAVE_MESSAGES)
    persistent_state = _optional_bool(config, "persistent_state", DEFAULT_PERSISTENT_STATE)
    variables = _parse_variables(config)
    limit = _recursion_limit(config)

    if "agents" not in config and "agent_type" in config:
        _llm_config(config, "")
        agent = AgentSpec(
            name=name,
            agent_type=_agent_type(config.get("agent_type"), "agent_type"),
            system_prompt=_system_prompt(config, ""),
        )
        return Workflow(
            name=name,
            agents={name: agent},
            plan=(name,),
            variables=variables,
            save_messages=save_messages,
            persistent_state=persistent_state,
            recursion_limit=limit,
            flat=True,
        )

    raw_agents = config.get("agents")
    if not isinstance(raw_agents, list) or not raw_agents:
        raise invalid(
            "At least one agent is required in 'agents' (or use the flat form with 'agent_type')",
            "agents",
        )
    agents: dict[str, AgentSpec] = {}
    supervised: dict[str, Any] = {}
    for i, raw in enumerate(raw_agents):
        prefix = f"agents.{i}."
        if not isinstance(raw, Mapping):
            raise invalid("Each agent must be an object", f"agents.{i}")
        agent_name = _require_str(raw.get("name"), f"{prefix}name", "Agent 'name'")
        if agent_name in (START, END):
            raise invalid(f"Agent name {agent_name!r} is reserved", f"{prefix}name")
        if agent_name in agents:
            raise invalid(f"Duplicate agent name {agent_name!r}", f"{prefix}name")
        agent_type = _agent_type(raw.get("agent_type"), f"{prefix}agent_type")
        _llm_config(raw, prefix)
        agents[agent_name] = AgentSpec(
            name=agent_name,
            agent_type=agent_type,
            system_prompt=_system_prompt(raw, prefix),
        )
        if raw.get("supervised_agents") is not None:
            supervised[agent_name] = (i, raw["supervised_agents"])

    names = set(agents)
    for agent_name, (i, subs) in supervised.items():
        field = f"agents.{i}.supervised_agents"
        if not isinstance(subs, list):
            raise invalid("'supervised_agents' must be a list of agent names", field)
        for j, sub in enumerate(subs):
            if not isinstance(sub, str) or sub not in names:
                raise invalid(f"Supervised agent {sub!r} is not an agent name", f"{field}.{j}")
        old = agents[agent_name]
        agents[agent_name] = AgentSpec(old.name, old.agent_type, old.system_prompt, tuple(subs))

    entry = config.get("entry_point")
    if entry is None:
        entry = next(iter(agents))
    elif not isinstance(entry, str) or entry not in names:
        raise invalid(f"entry_point {entry!r} is not the name of an agent", "entry_point")

    edges = _validate_edges(config.get("edges"), names)
    return Workflow(
        name=name,
        agents=agents,
        plan=_plan(agents, edges, entry, limit),
        variables=variables,
        save_messages=save_messages,
        persistent_state=persistent_state,
        recursion_limit=limit,
        flat=False,
    )
