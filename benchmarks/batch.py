"""``runtime.execute_many`` against a hand-written semaphore + gather loop, side by side.

Both run N executions at concurrency 16 through the same ``AsyncAmas`` (default retries),
each request for its own session: ``execute_many`` runs the requests of one session in order,
so distinct sessions let both reach the full concurrency. Repetitions alternate the order.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import time
from collections.abc import Callable
from typing import Any

import amas_async as amas
from benchmarks.common import API_KEY, Stub, median, spread

CONCURRENCY = 16


def availability() -> str | None:
    """None when ``runtime.execute_many`` exists; otherwise why this benchmark is skipped."""
    runtime = _runtime_class()
    if runtime is None or not callable(getattr(runtime, "execute_many", None)):
        return (
            "skipped: AsyncAmas.runtime.execute_many does not exist yet "
            "(amas_async/batch.py is being written); re-run when it lands"
        )
    return None


def _runtime_class() -> Any:
    try:
        from amas_async.resources import AsyncRuntime
    except ImportError:  # pragma: no cover
        return None
    return AsyncRuntime


def _requests(n: int) -> list[Any]:
    make = getattr(amas, "ExecuteRequest", None)
    ids = [f"session_{i:06d}" for i in range(n)]
    if make is None:  # mappings are accepted too
        return [{"session_id": sid, "content": "Hello"} for sid in ids]
    return [make(session_id=sid, content="Hello") for sid in ids]


async def _execute_many(client: amas.AsyncAmas, requests: list[Any]) -> int:
    outcome = client.runtime.execute_many(requests, concurrency=CONCURRENCY)
    if inspect.isawaitable(outcome):
        results = await outcome
    else:  # an async iterator of results
        results = [item async for item in outcome]
    failed = [r for r in results if getattr(r, "ok", True) is False]
    if failed:
        raise RuntimeError(f"{len(failed)} executions failed, first: {failed[0]!r}")
    return len(results)


async def _semaphore_gather(client: amas.AsyncAmas, requests: list[Any]) -> int:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(request: Any) -> amas.Execution:
        async with semaphore:
            return await client.runtime.execute(request.session_id, request.content)

    results = await asyncio.gather(*(one(r) for r in requests))
    return len(results)


WAYS: dict[str, Callable[[amas.AsyncAmas, list[Any]], Any]] = {
    "execute_many": _execute_many,
    "semaphore+gather": _semaphore_gather,
}


async def _suite(stub: Stub, n: int, repetitions: int) -> dict[str, list[dict[str, float]]]:
    client = amas.AsyncAmas(
        api_key=API_KEY, base_url=stub.amas_base_url, limits=amas.Limits(max_connections=64)
    )
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in WAYS}
    async with client:
        warm = _requests(200)
        for way in WAYS.values():
            await way(client, warm)
        names = list(WAYS)
        for rep in range(repetitions):
            for name in names if rep % 2 == 0 else names[::-1]:
                requests = _requests(n)
                gc.collect()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                count = await WAYS[name](client, requests)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                assert count == n
                samples[name].append(
                    {"cpu_us_per_request": cpu / n * 1e6, "throughput_rps": n / wall}
                )
    return samples


def run_suite(
    stub: Stub, *, n: int, repetitions: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    reason = availability()
    if reason is not None:
        log(f"  execute_many: {reason}")
        return {"skipped": reason}
    try:
        samples = asyncio.run(_suite(stub, n, repetitions))
    except Exception as exc:  # the batch API is being written: report, do not crash
        reason = f"skipped: execute_many failed: {type(exc).__name__}: {exc}"
        log(f"  execute_many: {reason}")
        return {"skipped": reason}
    log(f"  execute_many: {repetitions} repetitions of {n} requests")
    base = samples["semaphore+gather"]
    summary = {}
    for name, rows in samples.items():
        cpu = [r["cpu_us_per_request"] for r in rows]
        throughput = [r["throughput_rps"] for r in rows]
        cpu_ratios = [
            r["cpu_us_per_request"] / b["cpu_us_per_request"]
            for r, b in zip(rows, base, strict=True)
        ]
        throughput_ratios = [
            r["throughput_rps"] / b["throughput_rps"] for r, b in zip(rows, base, strict=True)
        ]
        summary[name] = {
            "cpu_us_per_request": median(cpu),
            "cpu_us_iqr": spread(cpu),
            "throughput_rps": median(throughput),
            "throughput_rps_iqr": spread(throughput),
            "cpu_ratio_vs_semaphore": median(cpu_ratios),
            "cpu_ratio_iqr": spread(cpu_ratios),
            "throughput_ratio_vs_semaphore": median(throughput_ratios),
            "throughput_ratio_iqr": spread(throughput_ratios),
        }
    return {
        "settings": {"requests": n, "concurrency": CONCURRENCY, "repetitions": repetitions},
        "summary": summary,
        "samples": samples,
    }
