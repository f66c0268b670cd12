"""One-call commands: ``amas session create|from-agent|get|messages``, ``execute``, ``emulator``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from .._client import AsyncAmas
from ..testing._serve import SERVE_OPTIONS, serve
from ._support import fail, inputs_option, out, print_execution, print_session, with_client

__all__ = ["emulator", "execute", "session"]


@click.group()
def session() -> None:
    """Create and inspect sessions (also from saved agents)."""


@session.command("create")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@with_client
async def session_create(client: AsyncAmas, config: Path) -> None:
    """Create a session from a YAML or JSON config file."""
    print_session(await client.sessions.create(config))


@session.command("from-agent")
@click.argument("agent_key", required=False)
@click.option("--id", "agent_id", default=None, help="The saved agent's id, instead of its key.")
@with_client
async def session_from_agent(
    client: AsyncAmas, agent_key: str | None, agent_id: str | None
) -> None:
    """Create a session from a saved agent, by AGENT_KEY or by --id."""
    if (agent_key is None) == (agent_id is None):
        raise click.UsageError("give AGENT_KEY or --id AGENT_ID (one of them)")
    print_session(await client.sessions.from_agent(agent_key, agent_id=agent_id))


@session.command("get")
@click.argument("session_id")
@with_client
async def session_get(client: AsyncAmas, session_id: str) -> None:
    """Show a session's details."""
    print_session(await client.sessions.get(session_id))


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
    """Send TEXT (and images) to a session and print the reply."""
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
def emulator(**settings: Any) -> None:
    """Serve the local AMAS emulator until Ctrl-C or SIGTERM (or: python -m amas_async.testing)."""
    from ..testing import Emulator  # here: the server side loads only when it is used

    try:
        emu = Emulator(**settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        serve(emu, announce=out.print)
    except OSError as exc:
        fail(f"cannot listen on {settings['host']}:{settings['port']}: {exc.strerror or exc}")
