"""The body of a call that carries a config: checked locally, sent as the user wrote it.

A mapping or a :class:`SessionConfig` goes as JSON. YAML text or a YAML file goes as the YAML
text itself (``Content-Type: application/yaml``), and JSON text or a ``.json`` file as its own
text: the server reads what the user wrote, not our re-encoding of it (a YAML date stays a
date, ``yes`` stays what the server's YAML reader makes of it). The local checks run on the
mapping read from the text and never reject what the server would accept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import _serde
from .._config_files import nest_yaml, read_config_source
from ..errors import ConfigValidationError, InvalidContentError
from ..models import AgentConfig, SessionConfig

ConfigTypes = SessionConfig | AgentConfig | Mapping[str, Any] | str | os.PathLike[str]
"""What a call taking a config accepts: a model, a wire-shape mapping, YAML text, or a path.

An :class:`AgentConfig` stands for the flat single-agent form."""

_YAML = "application/yaml"


class ConfigBody:
    """A checked config ready to send: ``content`` under ``content_type`` (None: JSON)."""

    __slots__ = ("config", "content", "content_type")

    def __init__(
        self, content: bytes, content_type: str | None, config: SessionConfig | None
    ) -> None:
        self.content = content
        self.content_type = content_type
        self.config = config


def config_body(config: object, *, wrap: str | None = None, check: bool = True) -> ConfigBody:
    """The body carrying ``config``, checked; under the key ``wrap`` when given.

    ``check=False`` skips the config checks (``/agent/validate/`` asks the server): only a
    source that cannot be read, or a body that is not a mapping, raises; ``config`` is None.
    """
    text = None
    if isinstance(config, SessionConfig):
        wire: Mapping[str, Any] = config.to_dict()
        parsed: SessionConfig | None = config.validate() if check else None
    elif isinstance(config, AgentConfig):
        wire = _serde.unstructure(config)
        parsed = _checked(wire, check)
    elif isinstance(config, Mapping):
        wire = config
        parsed = _checked(wire, check)
    elif isinstance(config, (str, os.PathLike)):
        source = read_config_source(config)
        wire, text = source.data, source
        parsed = _checked(wire, check)
    else:
        raise InvalidContentError(
            "config must be a SessionConfig, an AgentConfig, a mapping in the wire shape, YAML "
            f"text, or a path to a YAML or JSON file, not {type(config).__name__}"
        )
    if text is not None:
        if text.media_type == _YAML:
            yaml_text = text.text if wrap is None else nest_yaml(wrap, text.text)
            if yaml_text is not None:
                return ConfigBody(yaml_text.encode("utf-8"), _YAML, parsed)
        else:  # JSON text: sent as written
            raw = text.text.encode("utf-8")
            if wrap is not None:
                raw = b'{"' + wrap.encode() + b'":' + raw + b"}"
            return ConfigBody(raw, None, parsed)
    return ConfigBody(_json({wrap: wire} if wrap is not None else wire), None, parsed)


def _checked(wire: Mapping[str, Any], check: bool) -> SessionConfig | None:
    return SessionConfig.from_dict(wire).validate() if check else None


def _json(value: object) -> bytes:
    try:
        return _serde.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ConfigValidationError("config", f"cannot be encoded as JSON: {exc}") from exc


__all__ = ["ConfigBody", "ConfigTypes", "config_body"]
