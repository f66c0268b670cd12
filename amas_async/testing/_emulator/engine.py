"""The deterministic agent: execute bodies, variables, prompt templates, replies and usage.

There is no LLM. Each agent on a workflow's path replies
``[{agent_name}] {rendered_system_prompt} | {user_input}`` and "tokens" are words; the
functions below state each rule they implement (``docs/emulator.md`` has them all).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import invalid
from .workflow import VariableSpec, Workflow

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")


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
    are 400 :class:`~.errors.ApiError` naming the field (e.g. ``content.1.image_url.url``).
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


def concat_values(old: Any, new: Any, separator: str) -> Any:
    """A ``mode: concat`` variable's next value: ``old``, the separator, ``new``.

    Two lists are joined into one list (no separator); anything else is joined as text
    (non-strings as JSON, see :func:`format_value`).
    """
    if isinstance(old, list) and isinstance(new, list):
        return [*old, *new]
    return f"{format_value(old)}{separator}{format_value(new)}"


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
    A ``mode: concat`` variable given in ``inputs`` while a value persists takes
    :func:`concat_values` of the two. ``to_persist`` holds the new values of the
    non-request-level variables given in ``inputs`` (the caller stores them only when
    ``persistent_state`` is on).
    """
    values: dict[str, Any] = {}
    to_persist: dict[str, Any] = {}
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
            value = inputs[spec.name]
            if spec.mode == "concat" and spec.name in persisted:
                value = concat_values(persisted[spec.name], value, spec.separator)
            values[spec.name] = value
            to_persist[spec.name] = value
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
