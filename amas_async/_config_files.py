"""Config sources: YAML or JSON text, or the path of a YAML or JSON file, read into a mapping.

YAML is read with YAML 1.2 booleans, so the documented ``routing: {yes: a, no: b}`` keeps its
string keys. PyYAML is imported on first use, not when the SDK is imported.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigValidationError, InputFileNotFoundError, InvalidContentError

if TYPE_CHECKING:
    import yaml

__all__ = ["load_config_source"]

# YAML or JSON text rather than a path: several lines, a flow collection, a document marker,
# or a ``key:`` at the start of a line.
_INLINE = re.compile(r"^\s*[{\[]|^---|^\s*[\w.-]+\s*:(\s|$)", re.MULTILINE)


@functools.cache
def _yaml_loader() -> type[yaml.SafeLoader]:
    """A SafeLoader with YAML 1.2 booleans: ``routing: {yes: a, no: b}`` keeps string keys."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


def _is_inline_text(source: str) -> bool:
    return "\n" in source or bool(_INLINE.match(source))


def _parse_text(text: str, origin: str, *, as_json: bool) -> Any:
    if as_json or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            if as_json:
                raise ConfigValidationError("config", f"{origin} is not valid JSON: {exc}") from exc
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        raise ConfigValidationError("config", f"{origin} is not valid YAML: {exc}") from exc


def load_config_source(source: str | os.PathLike[str]) -> Mapping[str, Any]:
    """Parse YAML (or JSON) text, or a YAML/JSON file's path, into a mapping.

    Raises :class:`InputFileNotFoundError` for a path that is not a file and
    :class:`ConfigValidationError` (field ``config``) for text that is not a mapping.
    """
    as_json = False
    if isinstance(source, str) and _is_inline_text(source):
        text, origin = source, "YAML text"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise InvalidContentError("a config path must be a str or os.PathLike[str]")
        if not os.path.isfile(path):
            raise InputFileNotFoundError(path)
        with open(path, encoding="utf-8-sig") as handle:
            text, origin = handle.read(), path
        as_json = path.lower().endswith(".json")
    else:
        raise InvalidContentError(
            "a config is a SessionConfig, a mapping, YAML text, or a path to a YAML or JSON "
            f"file, not {type(source).__name__}"
        )
    data = _parse_text(text, origin, as_json=as_json)
    if not isinstance(data, Mapping):
        raise ConfigValidationError(
            "config", f"{origin} must hold a mapping of fields, got {type(data).__name__}"
        )
    return data
