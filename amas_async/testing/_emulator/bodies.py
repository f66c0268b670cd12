"""Request bodies: JSON, or YAML when the content type says so; canonical JSON and hashes.

POST bodies may be JSON or YAML (``application/yaml`` [DOC]; ``application/x-yaml``,
``text/yaml`` and ``text/x-yaml`` too [OURS]); any other content type is parsed as JSON. An
empty body, invalid UTF-8, bad JSON or bad YAML is a 400 ``invalid_request_error``.

:func:`load_config` reads a config the same way from a file or text, for
:meth:`Emulator.register_agent` and ``amas emulator --agent FILE``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from .errors import invalid

YAML_CONTENT_TYPES: Final = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
)
"""Content types whose bodies are parsed as YAML; anything else is parsed as JSON."""


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
    lists; dates and times become ISO strings (YAML 1.1 reads ``2025-01-15`` as a date);
    infinite and NaN floats become strings; anything else unknown becomes ``str()``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # YAML .inf / .nan: JSON has no such numbers
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


def iso(ts: float) -> str:
    """Unix seconds as ISO 8601 in UTC with a ``Z`` and whole seconds, like the docs."""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_body(raw: bytes, content_type: str) -> Any:
    """Parse a request body: YAML for the YAML content types, JSON for everything else.

    Raises a 400 :class:`~.errors.ApiError` for an empty body, invalid UTF-8, invalid JSON
    or invalid YAML. The result is passed through :func:`to_jsonable`.
    """
    if not raw.strip():
        raise invalid("Request body is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("Request body is not valid UTF-8") from None
    try:
        data = parse_text(text, as_json=content_type.lower() not in YAML_CONTENT_TYPES)
    except TextSyntaxError as exc:
        raise invalid(f"Invalid {exc.language} body: {exc.detail}") from None
    return to_jsonable(data)


def config_file(source: str | os.PathLike[str]) -> str | None:
    """The file a config source names, or None when it is YAML or JSON text.

    Text is a string with a line break, or one that starts with ``{``.
    """
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        return None
    return os.fspath(source)


def load_config(source: str | os.PathLike[str]) -> Any:
    """A config from a YAML or JSON file (its path), or from YAML or JSON text, as JSON data.

    A string with a line break, or one that starts with ``{``, is text; anything else is a
    path. A ``.json`` file is read as JSON, any other as YAML (which JSON also is), as a
    YAML body would be. Raises :class:`OSError` when the file cannot be read and a one-line
    :class:`ValueError` naming the file (and line) when it cannot be parsed. What it holds
    is not checked here (see :func:`~.workflow.parse_config`).
    """
    file = config_file(source)
    if file is None:
        origin, text, as_json = "config text", os.fspath(source), False
    else:
        path = Path(file)
        origin, as_json = file, path.suffix.lower() == ".json"
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{origin}: not valid UTF-8") from None
    try:
        data = parse_text(text, as_json=as_json)
    except TextSyntaxError as exc:
        raise ValueError(f"{origin}: {exc}") from None
    return to_jsonable(data)


class TextSyntaxError(ValueError):
    """JSON or YAML text that does not parse: ``not valid JSON: <detail>`` on one line."""

    def __init__(self, language: str, detail: str) -> None:
        self.language = language
        self.detail = detail  # the problem and its 1-based line and column
        super().__init__(f"not valid {language}: {detail}")


def parse_text(text: str, *, as_json: bool) -> Any:
    """JSON or YAML text as data; :class:`TextSyntaxError` saying where it fails."""
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            detail = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
            raise TextSyntaxError("JSON", detail) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise TextSyntaxError("YAML", f"{problem}{where}") from None
