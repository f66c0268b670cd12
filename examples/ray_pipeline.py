"""Run a JSONL file of prompts through AMAS as a Ray Data stage, under one rate limit.

    pip install 'amas-async[ray]'
    python examples/ray_pipeline.py examples/prompts.jsonl results/ --rps 20 --emulator

Each input line is {"id", "content", "inputs"?, "session"?}, as for ``amas batch``; the
results are JSON lines with the columns ``AmasExecute`` adds. The key and server come from
``AMAS_API_KEY`` / ``AMAS_BASE_URL`` on the driver (``--emulator`` serves a local emulator).
On a cluster, ``ray.init()`` joins it (``RAY_ADDRESS``); without one, it starts a local one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import ray
import ray.data
from ray.data import ActorPoolStrategy

from amas_async.ray import AmasExecute, ClusterRateLimit

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "support_agent.yaml")


def with_replies(
    ds: ray.data.Dataset,
    *,
    config: str,
    rate_limit: ClusterRateLimit | None,
    actors: int = 2,
    client: dict[str, Any] | None = None,
) -> ray.data.Dataset:
    """The dataset with each row executed: the stage, its actors and the shared rate limit."""
    return ds.map_batches(
        AmasExecute,
        fn_constructor_kwargs={
            "config": config,  # or agent_key="support_agent", or a session_id column
            "concurrency": 8,  # requests in flight per actor
            "rate_limit": rate_limit,  # one limit for all the actors together
            **(client or {}),
        },
        compute=ActorPoolStrategy(size=actors),
        batch_size=256,  # Ray Data's cost is per batch: a few hundred rows each
        batch_format="pyarrow",
        num_cpus=0.5,  # the actors mostly wait on the network: let them share cores
    )


@contextlib.contextmanager
def server(use_emulator: bool) -> Iterator[dict[str, Any]]:
    """The client settings for the stage: an emulator of our own, or the environment's."""
    if not use_emulator:
        yield {
            "base_url": os.environ.get("AMAS_BASE_URL"),
            "api_key": os.environ.get("AMAS_API_KEY"),
        }
        return
    from amas_async.testing import Emulator

    with Emulator().run_in_thread() as emulator:
        yield {"base_url": emulator.base_url, "api_key": emulator.api_key}


def main(argv: Sequence[str] | None = None) -> int:
    """Read the prompts, run them, write the results; exit status 1 if a row failed."""
    parser = argparse.ArgumentParser(description="Run a JSONL file of prompts on Ray Data.")
    parser.add_argument("input", help="JSONL file of prompts")
    parser.add_argument("output", help="directory for the JSON results")
    parser.add_argument("--config", default=CONFIG, help="config of the sessions to create")
    parser.add_argument("--rps", type=float, help="requests per second, cluster-wide")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--emulator", action="store_true", help="serve a local emulator")
    args = parser.parse_args(argv)
    if not ray.is_initialized():
        ray.init(configure_logging=False)
    # Started by the driver, the limit's actor lives as long as the run.
    limit = ClusterRateLimit(args.rps).start() if args.rps else None
    try:
        with server(args.emulator) as client:
            ds = ray.data.read_json(args.input)
            done = with_replies(
                ds, config=args.config, rate_limit=limit, actors=args.actors, client=client
            ).materialize()
            done.write_json(args.output)
            failed = sum(1 for row in done.iter_rows() if row["status"] != "ok")
    finally:
        if limit is not None:
            limit.stop()
    print(f"{done.count()} rows, {failed} failed -> {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
