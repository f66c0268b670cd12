"""The ``amas`` command: sessions, executions, chat, batches, agents, knowledge, a demo.

Knowledge is files, collections and knowledge bases; ``amas emulator`` serves a local API.

Every command talks to ``AMAS_BASE_URL`` with ``AMAS_API_KEY``, or, with ``--emulator``, to an
emulator embedded in the command for its lifetime. Errors print one line on stderr, no
traceback; the exit statuses are in :data:`EXIT_STATUS` (shown by ``amas --help``).

One module per concern: ``commands`` (session, execute, emulator), ``chat``, ``batch`` (the
command) and ``batchfile`` (its JSONL files and runner), ``agents``, ``knowledge`` (files,
collections, kb), ``demo``, and ``_support`` (the consoles, one-line errors, JSON and column
output, and the ``with_client`` decorator every command runs with).
"""

from __future__ import annotations

import click

from . import agents, batch, chat, commands, demo, knowledge

__all__ = ["EXIT_STATUS", "main"]

#: The exit statuses, as ``amas --help`` lists them (``\b``: click keeps the lines as written).
EXIT_STATUS = """\b
Exit status:
  0    success
  1    an API or SDK error (one line on stderr), a failed or malformed
       batch line, an invalid config from 'agents validate'
  2    a usage error: unknown command or option, missing or bad argument
  130  interrupted by Ctrl-C (re-run a batch to resume it); 'amas emulator'
       and 'amas chat' end with 0 on Ctrl-C, their usual way out
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS)
@click.version_option(package_name="amas-async", prog_name="amas")
def main() -> None:
    """Work with the Atthene AMAS REST API (AMAS_BASE_URL, AMAS_API_KEY).

    Commands that call the API also take --emulator: they then run against an emulator
    embedded in the command, with no key needed. New here? Try: amas demo
    """


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
