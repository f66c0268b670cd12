"""``python -m amas_async.testing``: serve the AMAS emulator (the same as ``amas emulator``).

Usage::

    python -m amas_async.testing [--port N] [--host H] [--api-key K] [--fault-rate F]
                                 [--seed S] [--latency L] [--rate-limit R] [--rate-burst B]
                                 [--session-concurrency C] [--turn-delay T] [--agent FILE ...]

It registers the saved agents of the ``--agent`` files (keyed from their names), prints the API
base URL, the API key and the agents' keys, then serves until Ctrl-C or SIGTERM. It needs only
the testing package (not the ``amas`` command): its options come from ``_serve.SERVE_OPTIONS``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from ._emulator import Emulator
from ._serve import AGENT_HELP, SERVE_OPTIONS, register_agent_files, serve

PROG = "python -m amas_async.testing"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the local AMAS emulator until Ctrl-C or SIGTERM (also: amas emulator).",
    )
    for option in SERVE_OPTIONS:
        shown = "" if option.default is None else " (default: %(default)s)"
        parser.add_argument(
            option.flag, type=option.type, default=option.default, help=option.help + shown
        )
    parser.add_argument(
        "--agent", dest="agent_files", metavar="FILE", action="append", default=[], help=AGENT_HELP
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, serve until Ctrl-C or SIGTERM.

    0 when stopped; 1 when an agent file is bad or it cannot listen; 2 for a usage error.
    """
    parser = _parser()
    settings = vars(parser.parse_args(argv))
    agent_files = settings.pop("agent_files")
    try:
        emulator = Emulator(**settings)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2
    try:
        register_agent_files(emulator, agent_files)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        serve(emulator, announce=functools.partial(print, flush=True))
    except OSError as exc:
        where = f"{settings['host']}:{settings['port']}"
        print(f"error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
