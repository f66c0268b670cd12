"""``amas chat``: talk with an agent, one line at a time, on the blocking client ``Amas``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from ..errors import AmasError, APIStatusError
from ._support import emulator_option, err, fail, inputs_option, out, print_execution

if TYPE_CHECKING:
    from ..sync import Amas, Session

__all__ = ["chat"]


@contextlib.contextmanager
def _client(use_emulator: bool) -> Iterator[Amas]:
    """A blocking client for the configured server, or for an emulator served meanwhile."""
    from ..sync import Amas  # here: its event-loop thread machinery only when chatting

    if not use_emulator:
        with Amas() as client:
            yield client
        return
    from ..testing import Emulator  # here: the server side loads only when it is used

    with (
        Emulator().run_in_thread() as emu,
        Amas(base_url=emu.base_url, api_key=emu.api_key) as client,
    ):
        yield client


def _talk(session: Session, inputs: dict[str, Any] | None) -> None:
    """Read lines until end of input; print each reply. An API error is shown, not fatal."""
    out.print(f"[dim]session {session.id}; Ctrl-D or Ctrl-C to leave[/]")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not line.strip():
            continue
        try:
            # --input values go with every message: request-level variables need that.
            result = session.execute(line, inputs=inputs)
        except APIStatusError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            continue
        print_execution(result)


@click.command(short_help="Talk with an agent: a CONFIG file or an existing --session.")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--session", "session_id", default=None, help="Continue an existing session.")
@inputs_option
@emulator_option
def chat(
    config: Path | None, session_id: str | None, inputs: dict[str, Any] | None, use_emulator: bool
) -> None:
    """Talk with an agent: from a CONFIG file, or an existing --session."""
    if (config is None) == (session_id is None):
        raise click.UsageError("give a CONFIG file or --session ID (one of them)")
    try:
        with _client(use_emulator) as client:
            if config is not None:
                session = client.sessions.create(config)
            else:
                assert session_id is not None
                session = client.session(session_id)
            _talk(session, inputs)
    except AmasError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        out.print()
