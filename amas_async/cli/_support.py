"""What every ``amas`` command shares: the consoles, one-line errors, and "run with a client".

:func:`with_client` turns ``async def command(client, **params)`` into a click callback that
takes ``--emulator``, opens a client (for ``AMAS_BASE_URL``, or for an emulator embedded in the
command), awaits the coroutine and closes both. :func:`run_with_client` does the same for a
command that prepares more before it needs the client. Both stop first, with one line, when
no API key is set and no ``--emulator`` is asked for; :func:`error_text` is how an SDK error
is shown (one line, with a hint when the likely cause is a setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from .._client import AsyncAmas
from .._config import API_KEY_ENV, BASE_URL_ENV, resolve_base_url
from ..errors import (
    AmasError,
    APIConnectionError,
    APIStatusError,
    NotFoundError,
    missing_api_version,
)
from ..models import Execution
from ..resources import Session

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: The command's output and its diagnostics (errors, progress).
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 1."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise SystemExit(1)


#: The CLI's missing-key message: what to set, and the way to try without a key.
NO_API_KEY = (
    f"no API key: set {API_KEY_ENV} (and {BASE_URL_ENV} for another server), "
    "or add --emulator to run against a local emulator"
)


def require_api_key(use_emulator: bool) -> None:
    """Exit with :data:`NO_API_KEY` (status 1) when no emulator is asked for and no key is set."""
    if not use_emulator and not os.environ.get(API_KEY_ENV, "").strip():
        fail(NO_API_KEY)


def _configured_base_url() -> str | None:
    """The base URL a client made with no arguments uses (None if it is not valid)."""
    try:
        return resolve_base_url(None)
    except AmasError:
        return None


def error_text(exc: AmasError, *, use_emulator: bool = False) -> str:
    """The one line an SDK error is shown as, with a hint where the cause is likely a setting.

    A bad base URL names ``AMAS_BASE_URL``; a 404 from a base URL with no ``/api/v1``
    suggests the URL with it; a server that cannot be reached suggests starting
    ``amas emulator`` or adding ``--emulator``. (A missing key never gets here:
    :func:`require_api_key` stops first.) Only built when a command has failed.
    """
    text = str(exc)
    if use_emulator:
        return text
    if text.startswith("base_url ") and os.environ.get(BASE_URL_ENV):
        return BASE_URL_ENV + text[len("base_url") :]  # the setting the user wrote
    base = _configured_base_url()
    if base is None:
        return text
    if (
        isinstance(exc, NotFoundError)
        and exc.url is not None
        and missing_api_version(exc.url)
        and missing_api_version(base)
    ):
        shown = APIStatusError.__str__(exc)  # without the SDK's own, vaguer, hint
        return f"{shown}: {BASE_URL_ENV} has no /api/v1: did you mean {base}/api/v1?"
    if isinstance(exc, APIConnectionError) and not exc.request_sent:
        return (
            f"{text}: is a server running at {base}? For a local one, run 'amas emulator' "
            f"and set {BASE_URL_ENV} to the URL it prints, or add --emulator"
        )
    return text


def run(coro: Coroutine[Any, Any, T], *, use_emulator: bool = False) -> T:
    """Run a command's coroutine: a typed SDK error is one line and status 1, Ctrl-C 130."""
    try:
        return asyncio.run(coro)
    except AmasError as exc:
        fail(error_text(exc, use_emulator=use_emulator))
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


@contextlib.asynccontextmanager
async def open_client(use_emulator: bool) -> AsyncIterator[AsyncAmas]:
    """A client for the configured server, or for an emulator embedded for the block."""
    if not use_emulator:
        async with AsyncAmas() as client:
            yield client
        return
    from ..testing import Emulator  # here: the server side loads only when it is used

    async with Emulator() as emu, AsyncAmas(base_url=emu.base_url, api_key=emu.api_key) as client:
        yield client


def run_with_client(use_emulator: bool, work: Callable[[AsyncAmas], Awaitable[T]]) -> T:
    """Await ``work(client)`` with a client from :func:`open_client`, as :func:`run` does."""
    require_api_key(use_emulator)

    async def main() -> T:
        async with open_client(use_emulator) as client:
            return await work(client)

    return run(main(), use_emulator=use_emulator)


def emulator_option(func: F) -> F:
    """The ``--emulator`` flag (``use_emulator``) of every command that talks to a server."""
    return click.option(
        "--emulator",
        "use_emulator",
        is_flag=True,
        help="Run against an emulator embedded in this command instead of AMAS_BASE_URL.",
    )(func)


def with_client(func: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """A click callback from ``async def command(client, **params)``; adds ``--emulator``."""

    @emulator_option
    @functools.wraps(func)
    def command(*, use_emulator: bool, **params: Any) -> None:
        run_with_client(use_emulator, lambda client: func(client, **params))

    return command


def _parse_inputs(
    ctx: click.Context, param: click.Parameter, pairs: tuple[str, ...]
) -> dict[str, Any] | None:
    """``key=value`` pairs; values are read as JSON when they are JSON, else kept as text."""
    if not pairs:
        return None
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", ctx=ctx, param=param)
        try:
            inputs[key] = json.loads(value)
        except ValueError:
            inputs[key] = value
    return inputs


def inputs_option(func: F) -> F:
    """``--input/-i key=value`` (repeatable), passed on as ``inputs``: a dict or None."""
    return click.option(
        "--input",
        "-i",
        "inputs",
        multiple=True,
        callback=_parse_inputs,
        help="A variable, key=value (repeatable).",
    )(func)


def json_option(func: F) -> F:
    """The ``--json`` flag (``as_json``): print the API's raw JSON answer instead."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the raw JSON answer instead."
    )(func)


def _plain(value: Any) -> Any:
    """A JSON-ready copy of an answer (its mappings as dicts)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def print_json(value: Any) -> None:
    """``value`` (an answer's ``raw``, or a list of them) as indented JSON on stdout."""
    out.print_json(json.dumps(_plain(value)))


def text(value: Any) -> str:
    """A field's value for a person: ISO times, comma-joined lists, "" for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(item) for item in value)
    return str(value)


def print_fields(item: Any, names: Iterable[str]) -> None:
    """``name: value`` lines for the fields of ``item`` that are set."""
    for name in names:
        value = text(getattr(item, name))
        if value:
            out.print(f"{name}: {escape(value)}")


def print_rows(
    rows: Iterable[Iterable[Any]], *, empty: str, header: Sequence[str] | None = None
) -> None:
    """Rows in aligned columns under ``header`` (never cut: a long value widens its column).

    ``empty`` is printed instead when there is no row.
    """
    cells = [[text(value) for value in row] for row in rows]
    if not cells:
        out.print(f"[dim]{escape(empty)}[/]")
        return
    if header is not None:
        cells.insert(0, [name.upper() for name in header])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        line = "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        out.print(escape(line))


def print_execution(result: Execution, *, as_json: bool = False) -> None:
    """The assistant's messages and the token usage, or the raw JSON answer."""
    if as_json:
        out.print_json(json.dumps(dict(result.raw)))
        return
    for message in result.messages:
        if message.role in (None, "assistant"):
            out.print(f"[bold cyan]assistant>[/] {escape(message.text)}")
    if result.usage is not None:
        usage = result.usage
        out.print(f"[dim]tokens: {usage.input_tokens} in, {usage.output_tokens} out[/]")


def print_session(session: Session) -> None:
    """A session's id, config hash and the agent fields that are set."""
    out.print(f"session_id: {session.id}")
    if session.config_hash:
        out.print(f"config_hash: {session.config_hash}")
    for name in ("agent_id", "agent_name", "agent_key", "state"):
        value = getattr(session, name)
        if value:
            out.print(f"{name}: {value}")
