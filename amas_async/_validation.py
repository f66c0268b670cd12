"""Local checks run before anything is sent: configs and ids that cannot be valid."""

from __future__ import annotations

import functools
import re
from urllib.parse import quote

from .errors import ConfigValidationError, InvalidRequestError
from .models import AGENT_TYPES, END, START, SessionConfig

_FORBIDDEN_IN_ID = re.compile(r"[/?#\\]|\.\.")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def path_segment(value: object, what: str) -> str:
    r"""An id made safe for one URL path segment, or a clear error.

    Empty and non-string ids, ids with ``/ ? # \\``, ``..``, ``.`` and control characters are
    rejected; everything else is percent-escaped, so an id can never change the path.
    """
    if not isinstance(value, str):
        raise InvalidRequestError(f"{what} must be a non-empty str, not {type(value).__name__}")
    return _segment(value, what)


@functools.lru_cache(maxsize=4096)
def _segment(value: str, what: str) -> str:
    # Cached: a conversation sends the same session id again and again.
    if not value or not value.strip():
        raise InvalidRequestError(f"{what} must be a non-empty str")
    if value == "." or _FORBIDDEN_IN_ID.search(value):
        raise InvalidRequestError(f"{what} {value!r} contains '/', '?', '#', '\\' or '..'")
    if _CONTROL.search(value):
        raise InvalidRequestError(f"{what} {value!r} contains a control character")
    return quote(value, safe="-_.~:@")


def validate_config(config: SessionConfig) -> None:
    """Raise :class:`ConfigValidationError` for a config that cannot be valid."""
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
        for supervised in agent.supervised_agents or ():
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
