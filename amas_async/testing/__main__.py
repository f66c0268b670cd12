"""Serve the AMAS emulator from the command line.

Usage::

    python -m amas_async.testing [--port N] [--host H] [--api-key K] [--fault-rate F]
                                 [--seed S] [--latency L] [--rate-limit R] [--rate-burst B]
                                 [--session-concurrency C] [--turn-delay T]

It prints the API base URL and the API key, then serves until Ctrl-C. Point an SDK
client at it with ``AsyncAmas(base_url=<printed URL>, api_key=<printed key>)``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from ._emulator import DEFAULT_API_KEY, Emulator

DEFAULT_PORT = 8765
"""Port used when ``--port`` is not given (``--port 0`` picks a free one)."""


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m amas_async.testing",
        description="Serve a local, deterministic emulator of the Atthene AMAS REST API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT}; 0 = any free port)"
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="accepted x-api-key value")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="fraction of API calls that fail (0..1)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the random faults")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before every answer"
    )
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="allowed requests per second (no limit)"
    )
    parser.add_argument("--rate-burst", type=int, default=10, help="rate-limit burst size (10)")
    parser.add_argument(
        "--session-concurrency",
        type=int,
        default=1,
        help="executes allowed at once per session (1)",
    )
    parser.add_argument(
        "--turn-delay", type=float, default=0.0, help="seconds every execute spends thinking"
    )
    return parser


def make_emulator(args: argparse.Namespace) -> Emulator:
    """Build an :class:`Emulator` from parsed arguments (:class:`ValueError` if invalid)."""
    return Emulator(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        latency=args.latency,
        fault_rate=args.fault_rate,
        seed=args.seed,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        session_concurrency=args.session_concurrency,
        turn_delay=args.turn_delay,
    )


async def serve(
    emulator: Emulator, *, stop: asyncio.Event | None = None, out: TextIO | None = None
) -> None:
    """Run ``emulator``, print its base URL and key to ``out``, and wait for ``stop``.

    Without ``stop`` it serves until cancelled (Ctrl-C).
    """
    stream = out if out is not None else sys.stdout
    async with emulator:
        print(f"AMAS emulator listening on {emulator.base_url}", file=stream)
        print(f"API key: {emulator.api_key}", file=stream)
        print("Press Ctrl-C to stop.", file=stream, flush=True)
        await (stop if stop is not None else asyncio.Event()).wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until Ctrl-C and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        emulator = make_emulator(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(serve(emulator))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
