"""Config sources: YAML or JSON text, or the path of a YAML or JSON file, read into a mapping.

The mapping is for the local checks; the text is what goes to the server, as written. YAML is
read with YAML 1.2 booleans, so the documented ``routing: {yes: a, no: b}`` keeps its string
keys (the checks still take ``yes``/``no`` where a boolean is expected, as YAML 1.1 would).
PyYAML is imported on first use, not when the SDK is imported.
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

__all__ = [
    "INLINE_ORIGIN",
    "ConfigText",
    "load_config_source",
    "nest_yaml",
    "read_config_source",
]

_JSON = "application/json"
_YAML = "application/yaml"

# YAML or JSON text rather than a path: several lines, a flow collection, a document marker,
# or a ``key:`` at the start of a line.
#: How a config given as text (not a file) is named in messages.
INLINE_ORIGIN = "<config text>"

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


def _parse_text(text: str, origin: str, *, as_json: bool) -> tuple[Any, bool]:
    """The value ``text`` holds, and whether it was JSON."""
    if as_json or text.lstrip().startswith("{"):
        try:
            return json.loads(text), True
        except RecursionError:
            raise _too_deep(origin) from None
        except json.JSONDecodeError as exc:
            if as_json:
                raise ConfigValidationError(
                    "config",
                    f"not valid JSON: {exc.msg}",
                    source=origin,
                    line=exc.lineno,
                    column=exc.colno,
                ) from None
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader()), False
    except RecursionError:
        raise _too_deep(origin) from None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, origin, text) from None


def _too_deep(origin: str) -> ConfigValidationError:
    return ConfigValidationError("config", "nested too deep", source=origin)


def _yaml_error(exc: yaml.YAMLError, origin: str, text: str) -> ConfigValidationError:
    """One line for a YAML error: where (1-based line and column) and what, never the text.

    PyYAML's own message spans several lines and names ``<unicode string>``, not the file.
    """
    import yaml

    line = column = None
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be read"
        if exc.problem and exc.context:
            problem = f"{exc.problem} ({exc.context})"
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
    elif isinstance(exc, yaml.reader.ReaderError):
        character = exc.character
        shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
        problem = f"unacceptable character {shown}: {exc.reason}"
        before = text.lstrip("\ufeff")[: exc.position]
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
    else:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ConfigValidationError(
        "config", f"not valid YAML: {problem}", source=origin, line=line, column=column
    )


class ConfigText:
    """A config read from text or a file: the mapping it holds and the text as written.

    ``media_type`` is ``application/json`` for JSON text and ``application/yaml`` for YAML:
    the text goes to the server as the user wrote it, under that type.
    """

    __slots__ = ("data", "media_type", "text")

    def __init__(self, data: Mapping[str, Any], text: str, media_type: str) -> None:
        self.data = data
        self.text = text
        self.media_type = media_type


def read_config_source(source: str | os.PathLike[str]) -> ConfigText:
    """Read YAML (or JSON) text, or a YAML/JSON file's path, keeping the text as written.

    Raises :class:`InputFileNotFoundError` for a path that is not a file and
    :class:`ConfigValidationError` (field ``config``, naming the file or ``<config text>``,
    with the line and column of a syntax error) for text that is not a mapping.
    """
    as_json = False
    if isinstance(source, str) and _is_inline_text(source):
        text, origin = source, INLINE_ORIGIN
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise InvalidContentError("a config path must be a str or os.PathLike[str]")
        text, origin = _read_file(path), path
        as_json = path.lower().endswith(".json")
    else:
        raise InvalidContentError(
            "a config is a SessionConfig, a mapping, YAML text, or a path to a YAML or JSON "
            f"file, not {type(source).__name__}"
        )
    data, is_json = _parse_text(text, origin, as_json=as_json)
    if not isinstance(data, Mapping):
        what = "nothing" if data is None else f"a {type(data).__name__}"
        raise ConfigValidationError(
            "config", f"must hold a mapping of fields, got {what}", source=origin
        )
    return ConfigText(data, text.lstrip("\ufeff"), _JSON if is_json else _YAML)


def _read_file(path: str) -> str:
    """A config file's text; a directory, unreadable or non-UTF-8 file is a one-line error."""
    if os.path.isdir(path):
        raise InputFileNotFoundError(path, is_directory=True)
    if not os.path.isfile(path):
        raise InputFileNotFoundError(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise ConfigValidationError(
            "config",
            f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            source=path,
        ) from None
    except OSError as exc:
        raise ConfigValidationError(
            "config", f"cannot be read: {exc.strerror or exc}", source=path
        ) from None


def load_config_source(source: str | os.PathLike[str]) -> Mapping[str, Any]:
    """Parse YAML (or JSON) text, or a YAML/JSON file's path, into a mapping.

    Raises :class:`InputFileNotFoundError` for a path that is not a file and
    :class:`ConfigValidationError` (field ``config``) for text that is not a mapping.
    """
    return read_config_source(source).data


_DOCUMENT_MARKER = re.compile(r"^(?:---|\.\.\.)(?:\s|$)|^%", re.MULTILINE)


def nest_yaml(key: str, text: str) -> str | None:
    """YAML text holding ``{key: <the document in text>}``, the document kept as written.

    Every line is indented under ``key:``, which leaves the document's meaning unchanged.
    None when the text has directives or document markers past a leading ``---`` line
    (the caller then sends JSON instead).
    """
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        lines = lines[1:]
    if _DOCUMENT_MARKER.search("\n".join(lines)):
        return None
    body = "\n".join(f"  {line}" if line.strip() else "" for line in lines)
    return f"{key}:\n{body}\n"
