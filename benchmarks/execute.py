"""The execute path, every client side by side: client CPU per request, throughput, latency.

All clients live in this one process and talk to one stub server (another process, pinned to
another CPU when there are two). A repetition runs one block of N requests per client and
concurrency; the order of the clients alternates forward and backward between repetitions
(so that a drift of a noisy machine hits every client alike, and the blocks compared by a goal
stay next to each other); every ratio is taken between blocks of the same repetition and
concurrency, and the medians of those paired ratios (with their interquartile range) are what
the goals are judged on.

Fairness rules, the same for every client: one client instance per concurrency (so that a pool
holds what that concurrency needs), a pool of ``POOL`` connections all kept alive, the same
warm-up, the same number of requests per block (only httpx, which no goal is about, runs a
quarter of them), and a full garbage collection before each block (outside the measurement;
the collections during a block are counted and reported; what was alive after the warm-up is
frozen out of the collector, so that the collection between blocks stays cheap).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import time
from collections.abc import Awaitable, Callable, Sequence
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

#: Connection pool size of every client (>= the highest concurrency), all of it kept alive.
POOL = 256

#: The two raw baselines the goals compare against.
RAW_JSON = "aiohttp"
RAW_ORJSON = "aiohttp+orjson"
#: The SDK's async client, default settings.
SDK = "AsyncAmas"
OPENAI = "openai"
SYNC_NAME = "Amas (sync)"

_JSON_CONTENT_TYPE = {"Content-Type": "application/json"}


class Variant:
    """One client under test: ``open`` inside the loop, ``request`` once per call, ``aclose``."""

    name = ""
    label = ""
    note = ""
    #: Runs a quarter of the requests per block. Only for a client that no goal is about and
    #: that is ten times slower or more (per-request figures stay comparable; the run stays
    #: short). A client a goal compares runs the same number of requests as the SDK.
    slow = False
    #: Modules the variant needs; a missing one skips the variant (with the reason reported).
    requires: tuple[str, ...] = ()

    @classmethod
    def unavailable(cls) -> str | None:
        """None when the variant can run here; otherwise why not."""
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            return f"not installed: {', '.join(missing)} (pip install -e '.[bench,fast]')"
        return None

    async def open(self, stub: Stub) -> None:
        raise NotImplementedError

    async def request(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class RawAiohttp(Variant):
    name = RAW_JSON
    label = "raw aiohttp + stdlib json"
    note = "session.post(url, json=body); await resp.json() (stdlib json both ways)"

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


class RawAiohttpOrjson(RawAiohttp):
    name = RAW_ORJSON
    label = "raw aiohttp + orjson"
    note = (
        "session.post(url, data=orjson.dumps(body), headers={'Content-Type': "
        "'application/json'}); orjson.loads(await resp.read())"
    )
    requires = ("orjson",)

    async def open(self, stub: Stub) -> None:
        import orjson

        await super().open(stub)
        self._dumps = orjson.dumps
        self._loads = orjson.loads

    async def request(self) -> None:
        body = self._dumps(EXECUTE_BODY)
        async with self.session.post(self.url, data=body, headers=_JSON_CONTENT_TYPE) as resp:
            if resp.status != 200:
                raise RuntimeError(f"status {resp.status}")
            self._loads(await resp.read())


class AiohttpTenacity(RawAiohttp):
    name = "aiohttp+tenacity"
    label = "aiohttp + tenacity"
    note = "the raw call inside tenacity's AsyncRetrying (3 attempts, exponential jitter)"
    requires = ("tenacity",)

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
    name = SDK
    label = "AsyncAmas (defaults)"
    note = "client.runtime.execute(session_id, 'Hello'): default retries, typed Execution"
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
    note = "the same call with retries off"
    max_retries = 0


class Httpx(Variant):
    name = "httpx"
    label = "httpx"
    note = "httpx.AsyncClient().post(url, json=body); resp.json() (a quarter of the requests)"
    slow = True
    requires = ("httpx",)

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
    """The openai SDK's default client, with the pool every other client gets.

    ``openai.DefaultAsyncHttpxClient`` is the http client class the SDK builds by default (its
    timeouts, redirects and transport); only the pool is sized like everyone else's: the SDK's
    default keeps 100 connections alive, fewer than the 128 of the highest concurrency, so
    each block would end by closing 28 of them and the next begin by opening them again.
    Retries stay at the SDK's default (2), as ``AsyncAmas`` keeps its own default.
    """

    name = OPENAI
    label = "openai SDK (default client)"
    note = (
        "AsyncOpenAI(base_url=..., api_key=..., http_client=DefaultAsyncHttpxClient(limits="
        "256 connections, 256 kept alive)).chat.completions.create(...); default retries and "
        "timeouts; /v1/chat/completions"
    )
    requires = ("openai",)

    async def open(self, stub: Stub) -> None:
        import openai

        limits_type = type(openai.DEFAULT_CONNECTION_LIMITS)  # httpx or httpx2, as installed
        limits = limits_type(max_connections=POOL, max_keepalive_connections=POOL)
        self.client = openai.AsyncOpenAI(
            base_url=stub.openai_base_url,
            api_key="x",
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        )

    async def request(self) -> None:
        await self.client.chat.completions.create(
            model=CHAT_MODEL,
            messages=CHAT_MESSAGES,  # type: ignore[arg-type]
        )

    async def aclose(self) -> None:
        await self.client.close()


#: Every async client, in the order a repetition runs them (reversed every other repetition):
#: the pairs a goal compares are neighbours.
ASYNC_VARIANTS: tuple[type[Variant], ...] = (
    RawAiohttpOrjson,
    RawAiohttp,
    AmasDefault,
    OpenAI,
    AmasNoRetry,
    AiohttpTenacity,
    Httpx,
)

#: The clients the goals need: what ``--quick`` runs.
GOAL_CLIENTS = (RAW_ORJSON, RAW_JSON, SDK, OPENAI)


# ---- one block ----------------------------------------------------------------------------


def _gc_counts() -> list[int]:
    return [generation["collections"] for generation in gc.get_stats()]


def _block_result(
    n: int, wall: float, cpu: float, latencies: list[float], collections: list[int]
) -> dict[str, Any]:
    return {
        "requests": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_request": cpu / n * 1e6,
        "throughput_rps": n / wall,
        "mean_latency_us": wall / n * 1e6 if n else float("nan"),
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "gc_collections": collections,
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
    gc0 = _gc_counts()
    cpu0, wall0 = time.process_time(), perf()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = perf() - wall0, time.process_time() - cpu0
    collections = [after - before for after, before in zip(_gc_counts(), gc0, strict=True)]
    return _block_result(n, wall, cpu, latencies, collections)


def run_sync_block(call: Callable[[], Any], n: int) -> dict[str, Any]:
    """N sequential blocking calls from this (the main) thread."""
    latencies = [0.0] * n
    perf = time.perf_counter
    gc.collect()
    gc0 = _gc_counts()
    cpu0, wall0 = time.process_time(), perf()
    for i in range(n):
        started = perf()
        call()
        latencies[i] = perf() - started
    wall, cpu = perf() - wall0, time.process_time() - cpu0
    collections = [after - before for after, before in zip(_gc_counts(), gc0, strict=True)]
    return _block_result(n, wall, cpu, latencies, collections)


# ---- the suite ----------------------------------------------------------------------------


def requests_for(concurrency: int, n: int, n_c1: int, slow: bool) -> int:
    """Requests per block: ``n_c1`` at concurrency 1, else ``n``; a quarter for a slow client."""
    count = n_c1 if concurrency == 1 else n
    return max(count // 4, 2 * concurrency, 50) if slow else count


def warmup_requests(concurrency: int) -> int:
    """Warm-up requests per client instance (the same for every client)."""
    return max(4 * concurrency, 200)


def _order(names: list[str], rep: int, concurrency: int) -> list[str]:
    """This repetition's order: forward on even repetitions, backward on odd ones; the sync
    shim (concurrency 1 only) right after ``AsyncAmas`` (so right before it when reversed)."""
    order = [name for name in names if name != SYNC_NAME]
    if SYNC_NAME in names and concurrency == 1 and SDK in order:
        order.insert(order.index(SDK) + 1, SYNC_NAME)
    return order if rep % 2 == 0 else order[::-1]


def run_suite(
    stub: Stub,
    *,
    concurrencies: Sequence[int],
    repetitions: int,
    n: int,
    n_c1: int,
    clients: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every async client at every concurrency, plus the sync shim at concurrency 1.

    ``clients`` limits the async clients (``--quick`` runs only those the goals need). Each
    (client, concurrency) pair has its own client instance, used at that concurrency only, so
    that its connection pool holds what that concurrency needs: httpx/httpcore (and so the
    openai SDK) scan every idle connection of the pool on each request, and a pool left with
    a hundred idle connections by a concurrency-128 block makes concurrency-1 calls about
    twice as expensive.
    """
    chosen = [cls for cls in ASYNC_VARIANTS if clients is None or cls.name in clients]
    skipped = {cls.name: why for cls in chosen if (why := cls.unavailable()) is not None}
    for name, why in skipped.items():
        log(f"  {name} skipped: {why}")
    variants = [cls for cls in chosen if cls.name not in skipped]
    loop = asyncio.new_event_loop()
    instances: dict[tuple[str, int], Variant] = {
        (cls.name, c): cls() for c in concurrencies for cls in variants
    }
    blocks: list[dict[str, Any]] = []
    sync_client: Any = None
    sync_error: str | None = None
    opened: list[Variant] = []
    try:
        for variant in instances.values():
            loop.run_until_complete(variant.open(stub))
            opened.append(variant)
        if 1 in concurrencies:
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
        else:
            sync_error = "concurrency 1 not run"

        def sync_call() -> None:
            sync_client.runtime.execute(SESSION_ID, "Hello")

        # Warm-up: connections opened, lazy imports done, caches filled (not measured).
        for (_, c), variant in instances.items():
            loop.run_until_complete(run_block(variant.request, warmup_requests(c), c))
        if sync_client is not None:
            run_sync_block(sync_call, warmup_requests(1))
        # Everything alive now (modules, clients, pools) is left out of later collections, so
        # the full collection before each block takes milliseconds instead of a tenth of a
        # second. It does not change what a block measures: no full collection runs during a
        # block either way (each block's gc_collections shows it).
        gc.collect()
        gc.freeze()

        names = [cls.name for cls in variants]
        if sync_client is not None:
            names.append(SYNC_NAME)
        for rep in range(repetitions):
            started = time.perf_counter()
            for c in concurrencies:
                for name in _order(names, rep, c):
                    if name == SYNC_NAME:
                        result = run_sync_block(sync_call, requests_for(c, n, n_c1, False))
                    else:
                        variant = instances[(name, c)]
                        count = requests_for(c, n, n_c1, variant.slow)
                        result = loop.run_until_complete(run_block(variant.request, count, c))
                    blocks.append({"client": name, "concurrency": c, "rep": rep, **result})
            seconds = time.perf_counter() - started
            log(f"  execute: repetition {rep + 1}/{repetitions} in {seconds:.1f} s")
    finally:
        gc.unfreeze()
        if sync_client is not None:
            try:
                sync_client.close()
            except Exception as exc:  # pragma: no cover
                log(f"  sync shim close failed: {exc!r}")
        for variant in opened:
            loop.run_until_complete(variant.aclose())
        loop.run_until_complete(asyncio.sleep(0.1))  # let aiohttp close its transports
        loop.close()

    described = {
        cls.name: {"label": cls.label, "how": cls.note, "slow": cls.slow} for cls in variants
    }
    if sync_error is None:
        described[SYNC_NAME] = {
            "label": "Amas (sync shim)",
            "how": "amas_async.Amas(...).runtime.execute(session_id, 'Hello'), concurrency 1, "
            "run right next to the AsyncAmas block of the same repetition",
            "slow": False,
        }
    return {
        "settings": {
            "concurrencies": list(concurrencies),
            "repetitions": repetitions,
            "requests_per_block": n,
            "requests_per_block_c1": n_c1,
            "slow_clients_run": "a quarter of the requests",
            "warmup_requests": {str(c): warmup_requests(c) for c in concurrencies},
            "pool": POOL,
            "instance_per_concurrency": True,
            "order": "forward on even repetitions, backward on odd ones",
            "gc": "gc.freeze() after the warm-up, gc.collect() before each block (not "
            "measured); the collections during a block are in its gc_collections (generation "
            "0, 1, 2)",
        },
        "clients": described,
        "skipped": skipped,
        "sync_skipped": sync_error,
        "blocks": blocks,
        "summary": summarize(blocks, baseline=RAW_JSON, also=(RAW_ORJSON,)),
    }


#: Per-block figures summarized by their median, and the key of their IQR.
_IQR_KEYS = {
    "cpu_us_per_request": "cpu_us_iqr",
    "throughput_rps": "throughput_rps_iqr",
    "p50_ms": "p50_ms_iqr",
    "p99_ms": "p99_ms_iqr",
}


def summarize(
    blocks: list[dict[str, Any]], *, baseline: str, also: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Medians and IQRs per (client, concurrency), and paired CPU ratios against ``baseline``
    (``cpu_ratio_vs_baseline``) and against each of ``also`` (``cpu_ratio_vs``)."""
    by_key: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    for block in blocks:
        by_key.setdefault((block["client"], block["concurrency"]), {})[block["rep"]] = block
    summary: dict[str, dict[str, Any]] = {}
    for (client, c), reps in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        row: dict[str, Any] = {"repetitions": len(reps), "cpu_ratio_vs": {}}
        for key, iqr_key in _IQR_KEYS.items():
            values = [b[key] for b in reps.values()]
            row[key] = median(values)
            row[iqr_key] = spread(values)
        row["mean_latency_us"] = median([b["mean_latency_us"] for b in reps.values()])
        for base_name in (baseline, *also):
            base = by_key.get((base_name, c), {})
            ratios = [
                b["cpu_us_per_request"] / base[r]["cpu_us_per_request"]
                for r, b in reps.items()
                if r in base
            ]
            if ratios:
                row["cpu_ratio_vs"][base_name] = {"median": median(ratios), "iqr": spread(ratios)}
        main = row["cpu_ratio_vs"].get(baseline, {"median": float("nan"), "iqr": (0.0, 0.0)})
        row["cpu_ratio_vs_baseline"] = main["median"]
        row["cpu_ratio_iqr"] = main["iqr"]
        base = by_key.get((baseline, c), {})
        tput = [
            b["throughput_rps"] / base[r]["throughput_rps"] for r, b in reps.items() if r in base
        ]
        row["throughput_ratio_vs_baseline"] = median(tput)
        summary.setdefault(client, {})[str(c)] = row
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
