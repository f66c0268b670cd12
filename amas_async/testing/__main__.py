"""``python -m amas_async.testing``: serve the AMAS emulator (the same as ``amas emulator``).

Usage::

    python -m amas_async.testing [--port N] [--host H] [--api-key K] [--fault-rate F]
                                 [--seed S] [--latency L] [--rate-limit R] [--rate-burst B]
                                 [--session-concurrency C] [--turn-delay T]

It prints the API base URL and the API key, then serves until Ctrl-C or SIGTERM. It needs only
the testing package (not the ``amas`` command): its options come from ``_serve.SERVE_OPTIONS``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from ._emulator import Emulator
from ._serve import SERVE_OPTIONS, serve

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, serve until Ctrl-C or SIGTERM; 0 when stopped, 1 when it cannot listen."""
    parser = _parser()
    settings = vars(parser.parse_args(argv))
    try:
        emulator = Emulator(**settings)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2
    try:
        serve(emulator, announce=functools.partial(print, flush=True))
    except OSError as exc:
        where = f"{settings['host']}:{settings['port']}"
        print(f"error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
