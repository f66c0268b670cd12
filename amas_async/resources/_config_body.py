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
from .._config_files import ConfigText, nest_yaml, read_config_source
from ..errors import ConfigValidationError, InvalidContentError
from ..models import AgentConfig, SessionConfig

ConfigTypes = SessionConfig | AgentConfig | Mapping[str, Any] | str | os.PathLike[str]
"""What a call taking a config accepts: a model, a wire-shape mapping, YAML text, or a path.

An :class:`AgentConfig` stands for the flat single-agent form."""

_YAML = "application/yaml"


def config_body(
    config: object, *, wrap: str | None = None, check: bool = True
) -> tuple[bytes, str | None]:
    """The body carrying ``config`` and its content type (None: JSON), under ``wrap`` if given.

    The config is checked first; ``check=False`` skips that (``/agent/validate/`` asks the
    server), so only a source that cannot be read, or one that is not a mapping, raises.
    """
    text: ConfigText | None = None
    wire: Mapping[str, Any]
    if isinstance(config, SessionConfig):
        if check:
            config.validate()
        wire = config.to_dict()
    elif isinstance(config, AgentConfig):
        wire = _serde.unstructure(config)
    elif isinstance(config, Mapping):
        wire = config
    elif isinstance(config, (str, os.PathLike)):
        text = read_config_source(config)
        wire = text.data
    else:
        raise InvalidContentError(
            "config must be a SessionConfig, an AgentConfig, a mapping in the wire shape, YAML "
            f"text, or a path to a YAML or JSON file, not {type(config).__name__}"
        )
    if check and not isinstance(config, SessionConfig):
        SessionConfig.from_dict(wire).validate()
    if text is not None:
        if text.media_type == _YAML:
            yaml_text = text.text if wrap is None else nest_yaml(wrap, text.text)
            if yaml_text is not None:
                return yaml_text.encode("utf-8"), _YAML
        else:  # JSON text: sent as written
            raw = text.text.encode("utf-8")
            if wrap is not None:
                raw = b'{"' + wrap.encode() + b'":' + raw + b"}"
            return raw, None
    return _json({wrap: wire} if wrap is not None else wire), None


def _json(value: object) -> bytes:
    try:
        return _serde.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ConfigValidationError("config", f"cannot be encoded as JSON: {exc}") from exc


__all__ = ["ConfigTypes", "config_body"]
