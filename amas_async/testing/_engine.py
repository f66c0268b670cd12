"""Deterministic agent engine behind the AMAS emulator (internal module).

This module has no networking in it. It holds the pure logic that
:mod:`amas_async.testing._emulator` serves over HTTP:

* parsing request bodies (JSON, or YAML when the content type says so),
* validating agent configurations (both documented forms) into a :class:`Workflow`,
* planning the deterministic path an execution takes through the workflow,
* parsing execute bodies and content parts,
* resolving ``inputs`` against the configured ``variables``,
* rendering prompt templates and producing the reply text and token counts.

Every rule is described in the module docstring of ``_emulator`` (which marks what is
documented AMAS behaviour and what is the emulator's own choice); the functions here
repeat the rule that they implement.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

START: Final = "__start__"
"""Special workflow node every run starts from (documented)."""
END: Final = "__end__"
"""Special workflow node that ends a run (documented)."""
AGENT_TYPES: Final = frozenset({"llm_agent", "react_agent", "supervisor"})
"""Agent types the emulator accepts (the three documented ones)."""
DEFAULT_RECURSION_LIMIT: Final = 25
"""Maximum number of agent steps per execution when the config sets no ``recursion_limit``."""
YAML_CONTENT_TYPES: Final = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
)
"""Content types whose bodies are parsed as YAML; anything else is parsed as JSON."""

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")


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

    def body(self) -> dict[str, Any]:
        """Return the JSON error body (``field`` is only present when the error names one)."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def invalid(message: str, field: str | None = None) -> ApiError:
    """Build a 400 ``invalid_request_error``, optionally naming the offending (dotted) field."""
    return ApiError(400, "invalid_request_error", message, field=field)


# --------------------------------------------------------------------------------------
# Bodies and JSON helpers
# --------------------------------------------------------------------------------------


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    return str(key)


def to_jsonable(value: Any) -> Any:
    """Convert parsed YAML/JSON data to plain JSON data.

    Mapping keys become strings the way ``json.dumps`` writes them (so the YAML 1.1 key
    ``yes`` that PyYAML reads as ``True`` becomes ``"true"``); tuples and sets become
    lists; dates and times become ISO strings; anything else unknown becomes ``str()``.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {_json_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def canonical_json(value: Any) -> str:
    """Serialise ``value`` as canonical JSON (sorted keys, no whitespace, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: Any) -> str:
    """Return ``"object:<sha256 hex of canonical JSON>:u:anon"``, the documented hash format."""
    digest = hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()
    return f"object:{digest}:u:anon"


def parse_body(raw: bytes, content_type: str) -> Any:
    """Parse a request body: YAML for the YAML content types, JSON for everything else.

    Raises a 400 :class:`ApiError` for an empty body, invalid UTF-8, invalid JSON or
    invalid YAML. The result is passed through :func:`to_jsonable`.
    """
    if not raw.strip():
        raise invalid("Request body is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("Request body is not valid UTF-8") from None
    if content_type.lower() in YAML_CONTENT_TYPES:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise invalid(f"Invalid YAML body: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise invalid(
                f"Invalid JSON body: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
    return to_jsonable(data)


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


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
    required: bool = True
    require_every_execution: bool = False
    default: Any = None

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
        required = definition.get("required", True)
        every = definition.get("require_every_execution", False)
        if not isinstance(required, bool):
            raise invalid("'required' must be a boolean", f"{field}.required")
        if not isinstance(every, bool):
            raise invalid(
                "'require_every_execution' must be a boolean", f"{field}.require_every_execution"
            )
        specs.append(
            VariableSpec(
                name=name,
                required=required,
                require_every_execution=every,
                default=definition.get("default"),
            )
        )
    return tuple(specs)


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
    (no ``agents`` but an ``agent_type``). Raises a 400 :class:`ApiError` naming the
    dotted field for: a non-object body, a missing ``name``, a missing or empty
    ``agents`` list, an agent without a name, a duplicate or reserved agent name, an
    unknown ``agent_type``, an ``entry_point`` that is not an agent, an edge from or to
    an unknown node (``__start__``/``__end__`` allowed; ``routing`` and
    ``possible_outputs`` targets are checked too), a ``supervised_agents`` entry that is
    not an agent, badly typed ``save_messages``/``persistent_state``/``recursion_limit``
    and malformed ``variables``. Other keys are accepted without checks.

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
    save_messages = _optional_bool(config, "save_messages", True)
    persistent_state = _optional_bool(config, "persistent_state", True)
    variables = _parse_variables(config)
    limit = _recursion_limit(config)

    if "agents" not in config and "agent_type" in config:
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


# --------------------------------------------------------------------------------------
# Execute requests
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecuteRequest:
    """A validated execute body."""

    content: Any
    user_input: str
    inputs: Mapping[str, Any]
    correlation_id: str | None


def describe_url(url: str) -> str:
    """Return how a media URL appears in the user input.

    Ordinary URLs appear unchanged. A base64 ``data:`` URL appears as
    ``data:<media type>;base64 (<N> bytes)`` with N the decoded size (the encoded size
    when it does not decode); other ``data:`` URLs as ``data:<media type> (<N> bytes)``.
    """
    if not url.startswith("data:"):
        return url
    header, sep, payload = url[5:].partition(",")
    if not sep:
        return url
    params = header.split(";")
    media_type = params[0] or "text/plain"
    if "base64" in params[1:]:
        try:
            size = len(base64.b64decode(payload, validate=False))
        except (binascii.Error, ValueError):
            size = len(payload)
        return f"data:{media_type};base64 ({size} bytes)"
    return f"data:{media_type} ({len(urllib.parse.unquote_to_bytes(payload))} bytes)"


def user_input_text(content: Any) -> str:
    """Flatten execute ``content`` (a string or validated parts) into the user-input text.

    A string is used as is. For parts: the text parts joined by a single space, then
    `` [image: URL]`` for each image part and `` [file: URL]`` for each file part, in the
    order they were sent (URLs as :func:`describe_url` shows them; no leading space when
    there is no text).
    """
    if isinstance(content, str):
        return content
    texts = [part["text"] for part in content if part["type"] == "text"]
    out = " ".join(texts)
    for part in content:
        if part["type"] == "image_url":
            marker = f"[image: {describe_url(part['image_url']['url'])}]"
        elif part["type"] == "file":
            marker = f"[file: {describe_url(part['file_url'])}]"
        else:
            continue
        out = f"{out} {marker}" if out else marker
    return out


def _validate_part(part: Any, i: int) -> None:
    prefix = f"content.{i}"
    if not isinstance(part, Mapping):
        raise invalid("Each content part must be an object", prefix)
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise invalid("Text parts need a string 'text'", f"{prefix}.text")
    elif kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, Mapping):
            raise invalid(
                "Image parts need an 'image_url' object with a 'url'", f"{prefix}.image_url"
            )
        url = image.get("url")
        if not isinstance(url, str) or not url:
            raise invalid("Image parts need a non-empty string 'url'", f"{prefix}.image_url.url")
    elif kind == "file":
        url = part.get("file_url")
        if not isinstance(url, str) or not url:
            raise invalid("File parts need a non-empty string 'file_url'", f"{prefix}.file_url")
    else:
        raise invalid(
            f"Unknown content part type {kind!r}; expected 'text', 'image_url' or 'file'",
            f"{prefix}.type",
        )


def parse_execute_body(body: Any) -> ExecuteRequest:
    """Validate an execute body ``{content, inputs?, correlation_id?}``.

    ``content`` must be a non-empty string or a non-empty list of parts (``text``,
    ``image_url`` with ``image_url.url``, ``file`` with ``file_url``); ``inputs`` an
    object or null; ``correlation_id`` a string or null. Other keys are ignored. Errors
    are 400 :class:`ApiError` naming the field (e.g. ``content.1.image_url.url``).
    """
    if not isinstance(body, Mapping):
        raise invalid("Request body must be a JSON object")
    content = body.get("content")
    if isinstance(content, str):
        if not content.strip():
            raise invalid("'content' must not be empty", "content")
    elif isinstance(content, list):
        if not content:
            raise invalid("'content' must not be an empty list", "content")
        for i, part in enumerate(content):
            _validate_part(part, i)
    else:
        raise invalid("'content' is required: a string or a list of content parts", "content")
    inputs = body.get("inputs")
    if inputs is None:
        inputs = {}
    elif not isinstance(inputs, Mapping):
        raise invalid("'inputs' must be an object", "inputs")
    correlation_id = body.get("correlation_id")
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise invalid("'correlation_id' must be a string", "correlation_id")
    return ExecuteRequest(
        content=content,
        user_input=user_input_text(content),
        inputs=dict(inputs),
        correlation_id=correlation_id,
    )


# --------------------------------------------------------------------------------------
# Variables, templates and turns
# --------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """Render a variable value into a prompt: strings as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_template(
    template: str,
    *,
    variables: Mapping[str, Any],
    user_input: str,
    outputs: Mapping[str, str],
) -> str:
    """Substitute ``{{ variables.NAME }}``, ``{{ user_input }}`` and ``{{ AGENT.output }}``.

    Whitespace inside the braces is optional. ``AGENT.output`` is the reply text of that
    agent earlier in the same execution. Placeholders that are unknown (or whose value is
    not available) are left exactly as written.
    """

    def substitute(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr == "user_input":
            return user_input
        if expr.startswith("variables."):
            name = expr[len("variables.") :]
            if name in variables:
                return format_value(variables[name])
        elif expr.endswith(".output"):
            agent = expr[: -len(".output")]
            if agent in outputs:
                return outputs[agent]
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, template)


def resolve_variables(
    workflow: Workflow,
    inputs: Mapping[str, Any],
    persisted: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute the variable values for one execution.

    Returns ``(values, to_persist)``. For each configured variable, in order:
    ``require_every_execution`` variables must be in ``inputs`` (400 otherwise); other
    variables take, in order of preference, the value in ``inputs``, the persisted value
    from earlier turns, or the default; a ``required`` variable with none of these is a
    400 naming ``inputs.<name>``. String defaults are rendered as templates against the
    other values. Keys of ``inputs`` that are not configured variables are ignored.
    ``to_persist`` holds the given values of the non-request-level variables (the caller
    stores them only when ``persistent_state`` is on).
    """
    values: dict[str, Any] = {}
    pending_defaults: list[VariableSpec] = []
    for spec in workflow.variables:
        if spec.require_every_execution:
            if spec.name not in inputs:
                raise invalid(
                    f"Variable {spec.name!r} must be provided in 'inputs' on every execution "
                    "(require_every_execution)",
                    f"inputs.{spec.name}",
                )
            values[spec.name] = inputs[spec.name]
        elif spec.name in inputs:
            values[spec.name] = inputs[spec.name]
        elif spec.name in persisted:
            values[spec.name] = persisted[spec.name]
        elif spec.has_default:
            pending_defaults.append(spec)
        elif spec.required:
            raise invalid(
                f"Missing required variable {spec.name!r}: provide it in 'inputs' (session-level "
                "variables are needed on the first execution, or on every execution when "
                "persistent_state is off)",
                f"inputs.{spec.name}",
            )
    for spec in pending_defaults:
        default = spec.default
        if isinstance(default, str):
            default = render_template(default, variables=values, user_input="", outputs={})
        values[spec.name] = default
    to_persist = {
        spec.name: inputs[spec.name]
        for spec in workflow.variables
        if not spec.require_every_execution and spec.name in inputs
    }
    return values, to_persist


def count_words(text: str) -> int:
    """Count whitespace-separated words (the emulator's "token" unit)."""
    return len(text.split())


@dataclass(frozen=True)
class TurnStep:
    """One agent step of an execution: the agent and the reply text it produced."""

    agent: str
    text: str


@dataclass(frozen=True)
class TurnResult:
    """The outcome of running a workflow's plan once."""

    steps: tuple[TurnStep, ...]
    input_tokens: int
    output_tokens: int


def run_turn(workflow: Workflow, user_input: str, variables: Mapping[str, Any]) -> TurnResult:
    """Run the workflow's plan for one user input; no LLM is involved.

    Each agent on the plan replies ``[{agent_name}] {rendered_system_prompt} | {user_input}``
    where the rendered prompt is its ``prompt_config.system_prompt`` (or
    ``system_prompt``, or empty) passed through :func:`render_template`.
    ``input_tokens`` = for every step, words in its rendered prompt + words in the user
    input; ``output_tokens`` = words in all reply texts (see :func:`count_words`).
    """
    outputs: dict[str, str] = {}
    steps: list[TurnStep] = []
    input_tokens = 0
    output_tokens = 0
    user_words = count_words(user_input)
    for name in workflow.plan:
        agent = workflow.agents[name]
        rendered = render_template(
            agent.system_prompt, variables=variables, user_input=user_input, outputs=outputs
        )
        text = f"[{name}] {rendered} | {user_input}"
        outputs[name] = text
        steps.append(TurnStep(agent=name, text=text))
        input_tokens += count_words(rendered) + user_words
        output_tokens += count_words(text)
    return TurnResult(tuple(steps), input_tokens, output_tokens)
