"""The ``amas`` command: sessions, executions, chat, batches, agents, knowledge, a demo.

Knowledge is files, collections and knowledge bases; ``amas emulator`` serves a local API.

Every command talks to ``AMAS_BASE_URL`` with ``AMAS_API_KEY``, or, with ``--emulator``, to an
emulator embedded in the command for its lifetime. Errors print one line on stderr and exit
with status 1 (2 for usage errors); no tracebacks.

One module per concern: ``commands`` (session, execute, emulator), ``chat``, ``batch`` (the
command) and ``batchfile`` (its JSONL files and runner), ``agents``, ``knowledge`` (files,
collections, kb), ``demo``, and ``_support`` (the consoles, one-line errors, JSON and column
output, and the ``with_client`` decorator every command runs with).
"""

from __future__ import annotations

import click

from . import agents, batch, chat, commands, demo, knowledge

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amas-async", prog_name="amas")
def main() -> None:
    """Work with the Atthene AMAS REST API (AMAS_BASE_URL, AMAS_API_KEY)."""


for _command in (
    commands.emulator,
    commands.session,
    commands.execute,
    chat.chat,
    batch.batch,
    agents.agents,
    knowledge.files,
    knowledge.collections,
    knowledge.kb,
    demo.demo,
):
    main.add_command(_command)


def _entry() -> None:  # pragma: no cover - the console script
    main(prog_name="amas")
