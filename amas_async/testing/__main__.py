"""``python -m amas_async.testing``: serve the AMAS emulator (the same as ``amas emulator``).

Usage::

    python -m amas_async.testing [--port N] [--host H] [--api-key K] [--fault-rate F]
                                 [--seed S] [--latency L] [--rate-limit R] [--rate-burst B]
                                 [--session-concurrency C] [--turn-delay T]

It prints the API base URL and the API key, then serves until Ctrl-C.
"""

from __future__ import annotations

from ..cli import emulator

if __name__ == "__main__":
    emulator(prog_name="python -m amas_async.testing")
