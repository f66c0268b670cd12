"""Memory per in-flight request: N concurrent executions held open by the stub, in a fresh process.

``python -m benchmarks.memory --client amas --n 10000 --origin http://127.0.0.1:PORT --mode rss``
prints one JSON line. The worker opens its client (and warms it with a few calls), measures the
baseline, starts N executions at once, waits until the stub reports all N held (the stub delays
each answer 1 s, and holds it until released), measures again, then releases them and waits
for all N answers. ``--mode rss`` reads the resident set size (/proc/self/statm);
``--mode tracemalloc`` traces Python allocations instead (slower, so a separate process: the
tracer's own memory would inflate RSS). Both clients get a pool of exactly N connections.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import tracemalloc
from typing import Any

import aiohttp

from benchmarks.common import (
    API_KEY,
    EXECUTE_BODY,
    SESSION_ID,
    peak_rss_bytes,
    pin_to,
    raise_nofile_limit,
    reset_peak_rss,
    rss_bytes,
)

CLIENTS = ("aiohttp", "amas")
#: Diagnostic variants: retries off; raw aiohttp sending the SDK's headers.
DIAGNOSTIC = ("amas-noretry", "aiohttp-sdk-headers")


class Control:
    """A tiny side channel to the stub's /stats, /stats/reset and /release (same for both)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.session = aiohttp.ClientSession()

    async def post(self, path: str) -> None:
        async with self.session.post(self.origin + path) as resp:
            await resp.read()

    async def stats(self) -> dict[str, int]:
        async with self.session.get(self.origin + "/stats") as resp:
            data: dict[str, int] = await resp.json()
            return data

    async def wait_in_flight(self, n: int, *, timeout: float = 300.0) -> float:
        """Poll the stub until it holds ``n`` requests; return the seconds it took."""
        started = time.perf_counter()
        while True:
            held = (await self.stats())["in_flight"]
            waited = time.perf_counter() - started
            if held >= n:
                return waited
            if waited > timeout:
                raise RuntimeError(f"only {held} of {n} requests reached the server")
            await asyncio.sleep(0.02)


async def measure(client: str, n: int, origin: str, mode: str) -> dict[str, Any]:
    base_url = f"{origin}/api/v1"
    url = f"{base_url}/runtime/{SESSION_ID}/execute/"
    control = Control(origin)
    if client in ("amas", "amas-noretry"):
        import amas_async as amas

        sdk = amas.AsyncAmas(
            api_key=API_KEY,
            base_url=base_url,
            limits=amas.Limits(max_connections=n),
            max_retries=0 if client == "amas-noretry" else None,
        )
        await sdk.__aenter__()

        async def call() -> Any:
            return await sdk.runtime.execute(SESSION_ID, "Hello")

        async def close() -> None:
            await sdk.aclose()

    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=n), headers={"x-api-key": API_KEY}
        )
        headers: dict[str, str] | None = None
        if client == "aiohttp-sdk-headers":
            headers = {
                "User-Agent": "amas-async/bench",
                "x-api-key": API_KEY,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": "0123456789abcdef0123456789abcdef",
            }

        async def call() -> Any:
            async with session.post(url, json=EXECUTE_BODY, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}")
                return await resp.json()

        async def close() -> None:
            await session.close()

    # Warm-up: load every lazily imported module and code path once (the stub holds these too).
    await control.post("/stats/reset")
    warm = [asyncio.ensure_future(call()) for _ in range(4)]
    await control.wait_in_flight(len(warm))
    await control.post("/release")
    await asyncio.gather(*warm)
    await control.post("/stats/reset")
    del warm

    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    reset_peak_rss()
    base_rss, base_peak = rss_bytes(), peak_rss_bytes()
    base_traced = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(call()) for _ in range(n)]
    await control.wait_in_flight(n)
    all_in_flight_s = time.perf_counter() - started
    rss_in_flight = rss_bytes()
    traced_in_flight = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0
    top = _top_allocations(n) if mode == "tracemalloc" else None

    await control.post("/release")
    results = await asyncio.gather(*tasks)
    done_s = time.perf_counter() - started
    assert len(results) == n
    rss_done = rss_bytes()
    peak = peak_rss_bytes()
    if mode == "tracemalloc":
        tracemalloc.stop()
    del results, tasks
    await close()
    await control.session.close()
    await asyncio.sleep(0.05)

    growth = rss_in_flight - base_rss if mode == "rss" else traced_in_flight - base_traced
    return {
        "client": client,
        "n": n,
        "mode": mode,
        "baseline_rss_bytes": base_rss,
        "baseline_peak_rss_bytes": base_peak,
        "rss_in_flight_bytes": rss_in_flight,
        "rss_after_bytes": rss_done,
        "peak_rss_bytes": peak,
        "traced_growth_bytes": traced_in_flight - base_traced if mode == "tracemalloc" else None,
        "growth_bytes": growth,
        "bytes_per_request": growth / n,
        "seconds_to_all_in_flight": all_in_flight_s,
        "seconds_to_all_answered": done_s,
        "in_flight_at_measurement": n,
        "top_allocations": top,
    }


def _top_allocations(n: int, limit: int = 40) -> list[dict[str, Any]]:
    """Where the traced memory is, by source line: bytes per in-flight request."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),)
    )
    rows = []
    for stat in snapshot.statistics("lineno")[:limit]:
        frame = stat.traceback[0]
        rows.append(
            {
                "where": f"{_short(frame.filename)}:{frame.lineno}",
                "bytes_per_request": stat.size / n,
                "blocks_per_request": stat.count / n,
            }
        )
    return rows


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/main/", 1)[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="memory per in-flight request (one process)")
    parser.add_argument("--client", choices=CLIENTS + DIAGNOSTIC, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--origin", required=True, help="the stub's http://127.0.0.1:PORT")
    parser.add_argument("--mode", choices=("rss", "tracemalloc"), default="rss")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    pin_to(args.cpu)
    limit = raise_nofile_limit()
    if limit < args.n + 100:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: too low for {args.n} connections")
    result = asyncio.run(measure(args.client, args.n, args.origin, args.mode))
    result["nofile_limit"] = limit
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
