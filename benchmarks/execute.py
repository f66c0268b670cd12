"""The execute path, every client side by side: client CPU per request, throughput, latency.

All clients live in this one process and talk to one stub server (another process, pinned to
another CPU when there are two). A repetition runs one block of N requests per client and
concurrency; repetitions interleave the clients (in a rotating order) so that drift of a noisy
machine hits all of them alike; every ratio is taken between blocks of the same repetition and
concurrency, and the medians of those paired ratios are what the targets are judged on.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

import amas_async as amas
from benchmarks.common import (
    API_KEY,
    CHAT_MESSAGES,
    CHAT_MODEL,
    EXECUTE_BODY,
    SESSION_ID,
    Stub,
    median,
    percentile,
    spread,
)

#: Connection pool size of every client that has one to size (>= the highest concurrency).
POOL = 256


class Variant:
    """One client under test: ``open`` inside the loop, ``request`` once per call, ``aclose``."""

    name = ""
    label = ""
    note = ""
    #: A client ten times slower runs a quarter of the requests per block (per-request
    #: figures are unaffected; the run stays short).
    slow = False

    async def open(self, stub: Stub) -> None:
        raise NotImplementedError

    async def request(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class RawAiohttp(Variant):
    name = "aiohttp"
    label = "raw aiohttp"
    note = "session.post(url, json=body); await resp.json()"

    async def open(self, stub: Stub) -> None:
        self.url = stub.execute_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL), headers={"x-api-key": API_KEY}
        )

    async def request(self) -> None:
        async with self.session.post(self.url, json=EXECUTE_BODY) as resp:
            if resp.status != 200:
                raise RuntimeError(f"status {resp.status}")
            await resp.json()

    async def aclose(self) -> None:
        await self.session.close()


class AiohttpTenacity(RawAiohttp):
    name = "aiohttp+tenacity"
    label = "aiohttp + tenacity"
    note = "the raw call inside tenacity's AsyncRetrying (3 attempts, exponential jitter)"

    async def open(self, stub: Stub) -> None:
        from tenacity import (
            AsyncRetrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential_jitter,
        )

        await super().open(stub)
        # One AsyncRetrying per call (its iteration state is per instance): what
        # ``@tenacity.retry`` does for a coroutine function, written out.
        self._retrying = lambda: AsyncRetrying(
            stop=stop_after_attempt(3),
            wait=wait_exponential_jitter(initial=0.5, max=8.0),
            retry=retry_if_exception_type((aiohttp.ClientConnectionError, asyncio.TimeoutError)),
            reraise=True,
        )

    async def request(self) -> None:
        async for attempt in self._retrying():
            with attempt:
                async with self.session.post(self.url, json=EXECUTE_BODY) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"status {resp.status}")
                    await resp.json()


class AmasDefault(Variant):
    name = "AsyncAmas"
    label = "AsyncAmas (retries on)"
    note = "client.runtime.execute(session_id, 'Hello'): default RetryPolicy, typed Execution"
    max_retries: int | None = None

    async def open(self, stub: Stub) -> None:
        self.client = amas.AsyncAmas(
            api_key=API_KEY,
            base_url=stub.amas_base_url,
            max_retries=self.max_retries,
            limits=amas.Limits(max_connections=POOL),
        )
        await self.client.__aenter__()

    async def request(self) -> None:
        await self.client.runtime.execute(SESSION_ID, "Hello")

    async def aclose(self) -> None:
        await self.client.aclose()


class AmasNoRetry(AmasDefault):
    name = "AsyncAmas(max_retries=0)"
    label = "AsyncAmas (max_retries=0)"
    note = "the same call with retries off (no retry middleware at all)"
    max_retries = 0


class Httpx(Variant):
    name = "httpx"
    label = "httpx"
    note = "httpx.AsyncClient().post(url, json=body); resp.json()"
    slow = True

    async def open(self, stub: Stub) -> None:
        import httpx

        self.url = stub.execute_url
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL),
            headers={"x-api-key": API_KEY},
            trust_env=False,
        )

    async def request(self) -> None:
        resp = await self.client.post(self.url, json=EXECUTE_BODY)
        resp.raise_for_status()
        resp.json()

    async def aclose(self) -> None:
        await self.client.aclose()


class OpenAI(Variant):
    name = "openai"
    label = "openai SDK"
    note = "AsyncOpenAI(max_retries=0).chat.completions.create(...) on /v1/chat/completions"
    slow = True

    async def open(self, stub: Stub) -> None:
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(max_retries=0, base_url=stub.openai_base_url, api_key="x")

    async def request(self) -> None:
        await self.client.chat.completions.create(
            model=CHAT_MODEL,
            messages=CHAT_MESSAGES,  # type: ignore[arg-type]
        )

    async def aclose(self) -> None:
        await self.client.close()


ASYNC_VARIANTS: tuple[type[Variant], ...] = (
    RawAiohttp,
    AmasDefault,
    AmasNoRetry,
    AiohttpTenacity,
    Httpx,
    OpenAI,
)

SYNC_NAME = "Amas (sync)"


# ---- one block ----------------------------------------------------------------------------


def _block_result(n: int, wall: float, cpu: float, latencies: list[float]) -> dict[str, Any]:
    return {
        "requests": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_request": cpu / n * 1e6,
        "throughput_rps": n / wall,
        "mean_latency_us": wall / n * 1e6 if n else float("nan"),
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
    }


async def run_block(call: Callable[[], Awaitable[Any]], n: int, concurrency: int) -> dict[str, Any]:
    """N calls by ``concurrency`` workers; client CPU (all threads) and wall time of the block."""
    latencies = [0.0] * n
    indices = iter(range(n))
    perf = time.perf_counter

    async def worker() -> None:
        for i in indices:
            started = perf()
            await call()
            latencies[i] = perf() - started

    gc.collect()
    cpu0, wall0 = time.process_time(), perf()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = perf() - wall0, time.process_time() - cpu0
    return _block_result(n, wall, cpu, latencies)


def run_sync_block(call: Callable[[], Any], n: int) -> dict[str, Any]:
    """N sequential blocking calls from this (the main) thread."""
    latencies = [0.0] * n
    perf = time.perf_counter
    gc.collect()
    cpu0, wall0 = time.process_time(), perf()
    for i in range(n):
        started = perf()
        call()
        latencies[i] = perf() - started
    wall, cpu = perf() - wall0, time.process_time() - cpu0
    return _block_result(n, wall, cpu, latencies)


# ---- the suite ----------------------------------------------------------------------------


def _requests_for(concurrency: int, n: int, n_c1: int, slow: bool) -> int:
    count = n_c1 if concurrency == 1 else n
    return max(count // 4, 50) if slow else count


def run_suite(
    stub: Stub,
    *,
    concurrencies: tuple[int, ...],
    repetitions: int,
    n: int,
    n_c1: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every async client at every concurrency, plus the sync shim at concurrency 1.

    Each (client, concurrency) pair has its own client instance, used at that concurrency only,
    so that its connection pool holds what that concurrency needs: httpx/httpcore (and so the
    openai SDK) scan every idle connection of the pool on each request, and a pool left with
    a hundred idle connections by a concurrency-128 block makes concurrency-1 calls about
    twice as expensive.
    """
    loop = asyncio.new_event_loop()
    instances: dict[tuple[str, int], Variant] = {
        (cls.name, c): cls() for c in concurrencies for cls in ASYNC_VARIANTS
    }
    blocks: list[dict[str, Any]] = []
    sync_client: Any = None
    sync_error: str | None = None
    opened: list[Variant] = []
    try:
        for variant in instances.values():
            loop.run_until_complete(variant.open(stub))
            opened.append(variant)
        try:
            sync_client = amas.Amas(
                api_key=API_KEY,
                base_url=stub.amas_base_url,
                limits=amas.Limits(max_connections=POOL),
            )
            sync_client.runtime.execute(SESSION_ID, "Hello")
        except Exception as exc:  # the shim may be mid-rewrite: skip it, say why
            sync_error = f"{type(exc).__name__}: {exc}"
            log(f"  sync shim skipped: {sync_error}")
            sync_client = None

        def sync_call() -> None:
            sync_client.runtime.execute(SESSION_ID, "Hello")

        # Warm-up: connections opened, lazy imports done, caches filled (not measured).
        for (_, c), variant in instances.items():
            loop.run_until_complete(run_block(variant.request, max(c * 4, 50), c))
        if sync_client is not None:
            run_sync_block(sync_call, 50)

        names = [cls.name for cls in ASYNC_VARIANTS]
        if sync_client is not None:
            names.append(SYNC_NAME)
        for rep in range(repetitions):
            started = time.perf_counter()
            for c in concurrencies:
                order = names[rep % len(names) :] + names[: rep % len(names)]
                for name in order:
                    if name == SYNC_NAME:
                        if c != 1:
                            continue
                        result = run_sync_block(sync_call, _requests_for(c, n, n_c1, False))
                    else:
                        variant = instances[(name, c)]
                        count = _requests_for(c, n, n_c1, variant.slow)
                        result = loop.run_until_complete(run_block(variant.request, count, c))
                    blocks.append({"client": name, "concurrency": c, "rep": rep, **result})
            seconds = time.perf_counter() - started
            log(f"  execute: repetition {rep + 1}/{repetitions} in {seconds:.1f} s")
    finally:
        if sync_client is not None:
            try:
                sync_client.close()
            except Exception as exc:  # pragma: no cover
                log(f"  sync shim close failed: {exc!r}")
        for variant in opened:
            loop.run_until_complete(variant.aclose())
        loop.run_until_complete(asyncio.sleep(0.1))  # let aiohttp close its transports
        loop.close()

    clients = {
        cls.name: {"label": cls.label, "how": cls.note, "slow": cls.slow} for cls in ASYNC_VARIANTS
    }
    if sync_error is None:
        clients[SYNC_NAME] = {
            "label": "Amas (sync shim)",
            "how": "amas_async.Amas(...).runtime.execute(session_id, 'Hello'), concurrency 1",
            "slow": False,
        }
    return {
        "settings": {
            "concurrencies": list(concurrencies),
            "repetitions": repetitions,
            "requests_per_block": n,
            "requests_per_block_c1": n_c1,
            "pool": POOL,
            "instance_per_concurrency": True,
        },
        "clients": clients,
        "sync_skipped": sync_error,
        "blocks": blocks,
        "summary": summarize(blocks, baseline="aiohttp"),
    }


def summarize(blocks: list[dict[str, Any]], *, baseline: str) -> dict[str, dict[str, Any]]:
    """Medians per (client, concurrency) and paired ratios against ``baseline``."""
    by_key: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    for block in blocks:
        by_key.setdefault((block["client"], block["concurrency"]), {})[block["rep"]] = block
    summary: dict[str, dict[str, Any]] = {}
    for (client, c), reps in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        base = by_key.get((baseline, c), {})
        cpu = [b["cpu_us_per_request"] for b in reps.values()]
        ratios = [
            b["cpu_us_per_request"] / base[r]["cpu_us_per_request"]
            for r, b in reps.items()
            if r in base
        ]
        tput_ratios = [
            b["throughput_rps"] / base[r]["throughput_rps"] for r, b in reps.items() if r in base
        ]
        summary.setdefault(client, {})[str(c)] = {
            "cpu_us_per_request": median(cpu),
            "cpu_us_iqr": spread(cpu),
            "throughput_rps": median([b["throughput_rps"] for b in reps.values()]),
            "p50_ms": median([b["p50_ms"] for b in reps.values()]),
            "p99_ms": median([b["p99_ms"] for b in reps.values()]),
            "mean_latency_us": median([b["mean_latency_us"] for b in reps.values()]),
            "cpu_ratio_vs_baseline": median(ratios),
            "cpu_ratio_iqr": spread(ratios),
            "throughput_ratio_vs_baseline": median(tput_ratios),
            "repetitions": len(reps),
        }
    return summary


def paired(
    blocks: list[dict[str, Any]], a: str, b: str, c: int, key: str, op: str = "ratio"
) -> list[float]:
    """Per-repetition ``a/b`` (or ``a-b``) of ``key`` between two clients at concurrency c."""
    left = {x["rep"]: x[key] for x in blocks if x["client"] == a and x["concurrency"] == c}
    right = {x["rep"]: x[key] for x in blocks if x["client"] == b and x["concurrency"] == c}
    common = sorted(set(left) & set(right))
    if op == "ratio":
        return [left[r] / right[r] for r in common]
    return [left[r] - right[r] for r in common]
