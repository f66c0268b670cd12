"""One-call commands: ``amas session create|from-agent|get|messages``, ``execute``, ``emulator``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from .._client import AsyncAmas
from ..resources import Session
from ..testing._serve import AGENT_HELP, SERVE_OPTIONS, register_agent_files, serve
from ._support import (
    fail,
    inputs_option,
    json_option,
    out,
    print_execution,
    print_json,
    print_session,
    with_client,
)

__all__ = ["emulator", "execute", "session"]


def _show(session: Session, as_json: bool) -> None:
    """A session's fields, or the API's answer as it came (``--json``)."""
    if as_json:
        print_json(session.raw)
    else:
        print_session(session)


@click.group()
def session() -> None:
    """Create and inspect sessions.

    A session comes from a config file (create) or a saved agent (from-agent).
    """


@session.command("create")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@with_client
async def session_create(client: AsyncAmas, config: Path, as_json: bool) -> None:
    """Create a session from a config file.

    CONFIG is a YAML or JSON file; --json prints the API's answer as it came.
    """
    _show(await client.sessions.create(config), as_json)


@session.command("from-agent")
@click.argument("agent_key", required=False)
@click.option("--id", "agent_id", default=None, help="The saved agent's id, instead of its key.")
@json_option
@with_client
async def session_from_agent(
    client: AsyncAmas, agent_key: str | None, agent_id: str | None, as_json: bool
) -> None:
    """Create a session from a saved agent.

    Give the agent's AGENT_KEY, or its --id.
    """
    if (agent_key is None) == (agent_id is None):
        raise click.UsageError("give AGENT_KEY or --id AGENT_ID (one of them)")
    _show(await client.sessions.from_agent(agent_key, agent_id=agent_id), as_json)


@session.command("get")
@click.argument("session_id")
@json_option
@with_client
async def session_get(client: AsyncAmas, session_id: str, as_json: bool) -> None:
    """Show a session's details."""
    _show(await client.sessions.get(session_id), as_json)


@session.command("messages")
@click.argument("session_id")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0, show_default=True)
@with_client
async def session_messages(client: AsyncAmas, session_id: str, limit: int, offset: int) -> None:
    """Show a page of a session's history."""
    page = await client.runtime.messages(session_id, limit=limit, offset=offset)
    for message in page.messages:
        out.print(f"[bold]{message.role}>[/] {escape(message.text)}")
    out.print(f"[dim]{len(page.messages)} of {page.total} messages[/]")


@click.command()
@click.argument("session_id")
@click.argument("text")
@inputs_option
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An image file to upload and send with the text (repeatable).",
)
@click.option("--correlation-id", default=None, help="Tracking id echoed in the result.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@with_client
async def execute(
    client: AsyncAmas,
    session_id: str,
    text: str,
    inputs: dict[str, Any] | None,
    images: tuple[Path, ...],
    correlation_id: str | None,
    as_json: bool,
) -> None:
    """Send TEXT to a session; print the reply.

    With --image, the images are uploaded first and sent with the text.
    """
    content: Any = text
    if images:
        uploads = [await client.images.upload(path) for path in images]
        content = [text, *uploads]
    result = await client.runtime.execute(
        session_id, content, inputs=inputs, correlation_id=correlation_id
    )
    print_execution(result, as_json=as_json)


def _serve_options(func: Any) -> Any:
    """The emulator's settings as click options, from the table the testing package owns."""
    for option in reversed(SERVE_OPTIONS):  # the last decorator applied is listed first
        func = click.option(
            option.flag,
            type=option.type,
            default=option.default,
            show_default=option.default is not None,
            help=option.help,
        )(func)
    return func


@click.command(short_help="Serve the local AMAS emulator until stopped.")
@_serve_options
@click.option(
    "--agent",
    "agent_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help=AGENT_HELP,
)
def emulator(agent_files: tuple[Path, ...], **settings: Any) -> None:
    """Serve the local AMAS emulator until Ctrl-C or SIGTERM (or: python -m amas_async.testing).

    Each --agent FILE registers a saved agent keyed from its config's name ("Support Agent"
    -> support_agent), as POST /agent/ would: GET /agent/ lists it and a session can be made
    from it (amas session from-agent support_agent).
    """
    from ..testing import Emulator  # here: the server side loads only when it is used

    try:
        emu = Emulator(**settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        register_agent_files(emu, agent_files)
    except ValueError as exc:
        fail(str(exc))
    try:
        serve(emu, announce=out.print)
    except OSError as exc:
        fail(f"cannot listen on {settings['host']}:{settings['port']}: {exc.strerror or exc}")
