"""``amas chat``: talk with an agent, one line at a time, on the blocking client ``Amas``.

Each line is sent to the session and its reply printed. Ctrl-C while a reply is pending cancels
that request (the sync client cancels it on its loop and raises ``KeyboardInterrupt`` once it has
wound down) and the chat goes on; Ctrl-C at the prompt, Ctrl-D or ``/exit`` leave (status 0).

Where standard input is a terminal and the standard library has ``readline`` (not on Windows),
``input()`` gets line editing and Up/Down history, kept between chats in ``~/.amas_history``
(``AMAS_HISTORY_FILE`` overrides the path; an empty value keeps no file). ``readline`` rather
than prompt_toolkit: it is one prompt, and the standard library's editing needs no dependency.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click
from rich.markup import escape

from ..errors import AmasError
from ._support import (
    emulator_option,
    err,
    error_text,
    fail,
    inputs_option,
    out,
    print_execution,
    require_api_key,
)

if TYPE_CHECKING:
    from ..sync import Amas, Session

__all__ = ["HISTORY_ENV", "HISTORY_LENGTH", "chat", "history_file"]

#: The environment variable naming the history file (empty: keep no history file).
HISTORY_ENV: Final = "AMAS_HISTORY_FILE"
#: Lines kept in the history file.
HISTORY_LENGTH: Final = 1000
PROMPT: Final = "you> "

HELP: Final = """\
[bold]/new[/]      start a new session from the same config
[bold]/history[/]  show this session's messages (from the server)
[bold]/exit[/]     leave (so do Ctrl-D, and Ctrl-C at the prompt)
[bold]/help[/]     this list
Ctrl-C while a reply is pending cancels it. Start a message with // to send a leading /."""


def history_file() -> Path | None:
    """Where the chat history is kept: ``AMAS_HISTORY_FILE``, else ``~/.amas_history``.

    None when ``AMAS_HISTORY_FILE`` is set but empty (no history file).
    """
    configured = os.environ.get(HISTORY_ENV)
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    return Path.home() / ".amas_history"


@contextlib.contextmanager
def _line_editing() -> Iterator[None]:
    """Line editing and history for ``input()`` while the chat runs, where there can be.

    Only when standard input is a terminal (``readline`` is imported here, never for piped
    input) and ``readline`` exists. The history file is read at the start and written, bounded
    to :data:`HISTORY_LENGTH` lines, at the end (made readable by its owner only, like a
    shell's); a file that cannot be read or written is skipped without a word (the chat does
    not depend on it).
    """
    if not sys.stdin.isatty():
        yield
        return
    try:
        import readline
    except ImportError:  # Windows: plain input()
        yield
        return
    path = history_file()
    if path is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                # Private, as a shell's history is: the lines are what was said to the agent.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
                readline.write_history_file(path)


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


class _Chat:
    """One chat: its session (``/new`` replaces it) and what each line does."""

    def __init__(
        self,
        client: Amas,
        new_session: Callable[[], Session] | None,
        session: Session,
        inputs: dict[str, Any] | None,
    ) -> None:
        self.client = client
        self.new_session = new_session  # None: continued by --session, no config to start from
        self.session = session
        self.inputs = inputs

    def run(self) -> None:
        """Read lines until end of input, ``/exit`` or Ctrl-C at the prompt."""
        out.print(
            f"[dim]session {escape(self.session.id)}; /help for commands, "
            "Ctrl-D or /exit to leave[/]"
        )
        while True:
            try:
                line = input(PROMPT)
            except (EOFError, KeyboardInterrupt):
                out.print()
                return
            try:
                if not self.handle(line.strip()):
                    return
            except KeyboardInterrupt:
                # The sync client has cancelled the pending request on its loop and let it
                # wind down before raising this: the session and the client are usable.
                out.print()
                err.print("[dim]cancelled[/]")
            except AmasError as exc:  # an API or connection error: shown, the chat goes on
                err.print(f"[bold red]error:[/] {escape(error_text(exc))}")

    def handle(self, line: str) -> bool:
        """Do what ``line`` asks; False to leave."""
        if not line:
            return True
        if line.startswith("//"):
            return self.send(line[1:])
        if not line.startswith("/"):
            return self.send(line)
        command = line.split(maxsplit=1)[0].lower()
        if command in ("/exit", "/quit"):
            return False
        if command == "/help":
            out.print(HELP)
        elif command == "/new":
            self.new()
        elif command == "/history":
            self.history()
        else:
            err.print(
                f"unknown command {escape(command)}: /help lists them "
                "(start a message with // to send a leading /)"
            )
        return True

    def send(self, text: str) -> bool:
        """Send ``text`` and print the reply."""
        # --input values go with every message: request-level variables need that.
        print_execution(self.session.execute(text, inputs=self.inputs))
        return True

    def new(self) -> None:
        """``/new``: a new session from the same config."""
        if self.new_session is None:
            err.print("/new needs a CONFIG: this chat continues an existing --session")
            return
        self.session = self.new_session()
        out.print(f"[dim]new session {escape(self.session.id)}[/]")

    def history(self) -> None:
        """``/history``: this session's messages, as the server keeps them."""
        count = 0
        for message in self.session.iter_messages():
            count += 1
            out.print(f"[bold]{escape(message.role or '?')}>[/] {escape(message.text)}")
        if not count:
            out.print("[dim]no messages yet[/]")


@click.command(short_help="Talk with an agent, line by line.")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--session", "session_id", default=None, help="Continue an existing session.")
@inputs_option
@emulator_option
def chat(
    config: Path | None, session_id: str | None, inputs: dict[str, Any] | None, use_emulator: bool
) -> None:
    """Talk with an agent: from a CONFIG file, or an existing --session.

    Commands: /new (a new session from CONFIG), /history, /help, /exit. Ctrl-C while a
    reply is pending cancels it; Ctrl-C at the prompt or Ctrl-D leaves. In a terminal, lines
    can be edited and Up/Down recall earlier ones (kept in ~/.amas_history, or in
    AMAS_HISTORY_FILE; empty: none).
    """
    if (config is None) == (session_id is None):
        raise click.UsageError("give a CONFIG file or --session ID (one of them)")
    require_api_key(use_emulator)
    try:
        with _client(use_emulator) as client:
            new_session: Callable[[], Session] | None = None
            if config is not None:
                new_session = functools.partial(client.sessions.create, config)
                session = new_session()
            else:
                assert session_id is not None
                session = client.session(session_id)
            with _line_editing():
                _Chat(client, new_session, session, inputs).run()
    except AmasError as exc:
        fail(error_text(exc, use_emulator=use_emulator))
    except KeyboardInterrupt:  # before the chat began (creating the session, say)
        out.print()
