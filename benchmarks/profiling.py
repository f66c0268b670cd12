"""Where the SDK's CPU, memory and import time go, and what each proposed SDK change would save.

``python -m benchmarks.profiling`` (about two minutes) writes benchmarks/results/profile.json
and prints a summary. Not part of ``python -m benchmarks``: it is the evidence behind the
recommendations in docs/benchmarks.md, to be re-run by whoever changes the SDK.

1. ``layers``: the SDK's own Python cost per ``runtime.execute`` with the network cut out (the
   transport replaced by a coroutine returning a canned answer), and its parts.
2. ``cprofile``: cProfile of AsyncAmas and of raw aiohttp at concurrency 16, per request, by
   package, and the SDK's most expensive functions.
3. ``what_if``: each proposed change emulated *in this process* (monkeypatching or a client
   option; no SDK file is edited), measured against raw aiohttp side by side as in the suite.
4. ``sync``: the round trip into a background event loop, without I/O, by mechanism.
5. ``imports``: what making ``amas_async.sync`` lazy would save, and the cattrs hook cost.
6. ``memory``: memory per in-flight request of diagnostic variants (fresh processes).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import aiohttp
import orjson

import amas_async as amas
from benchmarks import execute as ex
from benchmarks.common import (
    API_KEY,
    CLIENT_CPU,
    RESULTS_DIR,
    ROOT,
    SESSION_ID,
    can_pin,
    median,
    pin_to,
    run_worker,
    stub_server,
    subprocess_env,
)
from benchmarks.stub_server import EXECUTE_BYTES

# ---- the emulated SDK changes -------------------------------------------------------------

_UTC = timezone.utc


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is int:
        return datetime.fromtimestamp(value, tz=_UTC)
    raise _Fallback


class _Fallback(Exception):
    """The fast path met something unusual: let the cattrs converter handle the body."""


def _opt_str(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Fallback


def make_fast_parse(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse_execution`` with a hand-written fast path for the current (agent.session) shape.

    Only exact, documented types take the fast path (str ids, int timestamps, int usage); any
    other body goes through the original cattrs-based function, so errors are unchanged.
    """
    from amas_async.models import Execution, Message, Usage

    def parse(body: Any) -> Any:
        try:
            if type(body) is not dict or "messages" not in body:
                raise _Fallback
            metadata = body.get("metadata")
            if metadata is None:
                metadata = {}
            elif type(metadata) is not dict:
                raise _Fallback
            items = body["messages"]
            if type(items) is not list:
                raise _Fallback
            messages = []
            for m in items:
                if type(m) is not dict:
                    raise _Fallback
                messages.append(
                    Message(
                        id=_opt_str(m.get("id")),
                        role=_opt_str(m.get("role")),
                        content=m.get("content"),
                        created_at=_when(m.get("created_at", m.get("timestamp"))),
                        raw=m,
                    )
                )
            usage = metadata.get("usage", body.get("usage"))
            if usage is not None:
                if type(usage) is not dict or any(type(v) is not int for v in usage.values()):
                    raise _Fallback
                usage = Usage(
                    input_tokens=usage.get("input_tokens", 0),
                    output_tokens=usage.get("output_tokens", 0),
                )
            session_id = body.get("session_id")
            if session_id is None and body.get("object", "agent.session") == "agent.session":
                session_id = body.get("id")
            seconds = body.get("execution_time")
            if seconds is not None:
                if type(seconds) not in (int, float):
                    raise _Fallback
                seconds = float(seconds)
            status = _opt_str(body.get("status"))
            if body.get("success") is False and status is None:
                status = "error"
            tool_calls = body.get("tool_calls") or ()
            if type(tool_calls) is not list and tool_calls != ():
                raise _Fallback
            return Execution(
                session_id=_opt_str(session_id),
                status=status,
                messages=tuple(messages),
                usage=usage,
                metadata=metadata,
                execution_id=_opt_str(metadata.get("execution_id", body.get("execution_id"))),
                correlation_id=_opt_str(metadata.get("correlation_id", body.get("correlation_id"))),
                created_at=_when(body.get("created_at")),
                completed_at=_when(body.get("completed_at")),
                execution_time=seconds,
                tool_calls=tuple(tool_calls),
                raw=body,
            )
        except _Fallback:
            return original(body)

    return parse


def make_fast_path_segment(original: Callable[[Any, str], str]) -> Callable[[Any, str], str]:
    """``path_segment`` with a cache: an id seen before is not re-checked character by character."""
    cache: dict[str, str] = {}

    def path_segment(value: Any, what: str) -> str:
        if type(value) is str:
            found = cache.get(value)
            if found is not None:
                return found
            result = original(value, what)
            if len(cache) < 4096:
                cache[value] = result
            return result
        return original(value, what)

    return path_segment


class Patch:
    """Set attributes for the duration of a block (the emulated SDK change)."""

    def __init__(self, changes: list[tuple[Any, str, Any]]) -> None:
        self.changes = changes
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Patch:
        for target, name, value in self.changes:
            self.saved.append((target, name, getattr(target, name)))
            setattr(target, name, value)
        return self

    def __exit__(self, *exc: object) -> None:
        for target, name, value in reversed(self.saved):
            setattr(target, name, value)
        self.saved.clear()


def fast_parse_patch() -> Patch:
    from amas_async.resources import runtime

    return Patch([(runtime, "parse_execution", make_fast_parse(runtime.parse_execution))])


def fast_path_patch() -> Patch:
    from amas_async.resources import runtime

    return Patch([(runtime, "path_segment", make_fast_path_segment(runtime.path_segment))])


def install_lean_path(client: amas.AsyncAmas) -> None:
    """Emulate the proposed fast path of ``AsyncAmas._request`` on one client instance.

    The 2xx path is sent straight through one aiohttp session whose defaults carry the constant
    headers (User-Agent, x-api-key, Accept) and no sock_read timer; no Request/Response
    objects, no middleware or retry frames; the answer goes through the fast parse; and
    ``runtime.execute`` returns the request's coroutine instead of awaiting it. Anything
    else (multipart, query parameters, a non-2xx answer) takes the SDK's own path, which is
    where retries and typed errors live. An emulation for measuring only: the non-2xx fallback
    here re-sends, where the real change would hand the first outcome to the retry machinery
    (as ``RetryMiddleware._retry`` already does).
    """
    import uuid

    from amas_async.resources import runtime

    original = client._request
    config = client._config
    state: dict[str, aiohttp.ClientSession] = {}
    fast_parse = make_fast_parse(runtime.parse_execution)
    parsers = {runtime.parse_execution: fast_parse}

    async def _request(
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Any = None,
        multipart: Any = None,
        idempotent: bool = True,
        idempotency_key: str | None = None,
        parse: Callable[[Any], Any],
    ) -> Any:
        session = state.get("session")
        if session is None:
            client._open()
            session = state["session"] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=config.limits.max_connections,
                    limit_per_host=config.limits.max_per_host,
                    keepalive_timeout=config.limits.keepalive_timeout,
                ),
                headers={
                    **config.default_headers,
                    "x-api-key": config.api_key,
                    "Accept": "application/json",
                },
                timeout=aiohttp.ClientTimeout(
                    total=config.timeout.total, sock_connect=config.timeout.connect
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        if multipart is not None or params is not None:
            return await original(
                method,
                path,
                content=content,
                params=params,
                multipart=multipart,
                idempotent=idempotent,
                idempotency_key=idempotency_key,
                parse=parse,
            )
        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        if content is not None:
            headers["Content-Type"] = "application/json"
        async with session.request(
            method, config.base_url + path, data=content, headers=headers, allow_redirects=False
        ) as resp:
            status = resp.status
            body = await resp.read()
        if 200 <= status < 300:
            return parsers.get(parse, parse)(orjson.loads(body))
        return await original(  # pragma: no cover - never in the benchmark
            method,
            path,
            content=content,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            parse=parse,
        )

    async def aclose() -> None:
        session = state.pop("session", None)
        if session is not None:
            await session.close()
        await original_aclose()

    original_aclose = client.aclose
    client._request = _request  # type: ignore[method-assign]
    client.aclose = aclose  # type: ignore[method-assign]
    client.runtime = _LeanRuntime(client.runtime, _request)  # type: ignore[assignment]


class _LeanRuntime:
    """``runtime.execute`` as a plain function returning the request's coroutine (one coroutine
    frame fewer per in-flight call), the status check moved into the parse step."""

    def __init__(self, inner: Any, send: Callable[..., Any]) -> None:
        from amas_async.errors import ExecutionError
        from amas_async.resources import runtime

        self._inner = inner
        self._send = send
        self._runtime = runtime
        parse = runtime.parse_execution

        def parse_checked(data: Any) -> Any:
            execution = parse(data)
            if execution.status in ("error", "timeout"):
                raise ExecutionError(execution)
            return execution

        self._parse = parse_checked

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def execute(
        self,
        session_id: str,
        content: Any,
        *,
        inputs: Any = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        rt = self._runtime
        return self._send(
            "POST",
            f"/runtime/{rt.path_segment(session_id, 'session_id')}/execute/",
            content=rt.execute_body(content, inputs, correlation_id),
            idempotent=False,
            idempotency_key=rt._key(idempotency_key),
            parse=self._parse,
        )


# ---- 1. layers without the network --------------------------------------------------------


async def _per_call_us(fn: Callable[[], Any], n: int = 20000) -> float:
    for _ in range(min(n, 2000)):
        await fn()
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(n):
            await fn()
        best = min(best, (time.process_time() - started) / n * 1e6)
    return best


async def layers() -> dict[str, float]:
    from amas_async.resources import runtime

    canned_request = amas.Request("POST", "http://127.0.0.1/")
    canned = amas.Response(200, content=EXECUTE_BYTES, request=canned_request, url="http://x/")

    class CannedTransport:
        """Answers every request with the same execute answer: the SDK's cost alone."""

        async def handle(self, request: amas.Request) -> amas.Response:
            return canned

        async def aclose(self) -> None:
            pass

    base = "http://127.0.0.1:9/api/v1"
    client = amas.AsyncAmas(api_key=API_KEY, base_url=base, transport=CannedTransport())
    client0 = amas.AsyncAmas(
        api_key=API_KEY, base_url=base, max_retries=0, transport=CannedTransport()
    )
    body = b'{"content":"Hello"}'
    path = f"/runtime/{SESSION_ID}/execute/"
    data = orjson.loads(EXECUTE_BYTES)
    fast = make_fast_parse(runtime.parse_execution)
    assert fast(data) == runtime.parse_execution(data), "the fast parse differs"

    async def a() -> Any:
        return await client.runtime.execute(SESSION_ID, "Hello")

    async def b() -> Any:
        return await client0.runtime.execute(SESSION_ID, "Hello")

    async def c() -> Any:
        return await client._request(
            "POST", path, content=body, idempotent=False, parse=lambda d: d
        )

    async def d() -> Any:
        return runtime.parse_execution(orjson.loads(EXECUTE_BYTES))

    async def e() -> Any:
        return fast(orjson.loads(EXECUTE_BYTES))

    async def f() -> Any:
        return runtime.path_segment(SESSION_ID, "session_id")

    async def g() -> Any:
        return runtime.execute_body("Hello", None, None)

    try:
        return {
            "execute, default client (no network)": await _per_call_us(a),
            "execute, max_retries=0 (no network)": await _per_call_us(b),
            "_request chain with parse=identity": await _per_call_us(c),
            "decode + parse_execution (the SDK's)": await _per_call_us(d),
            "decode + fast parse (what-if)": await _per_call_us(e),
            "path_segment": await _per_call_us(f),
            "execute_body": await _per_call_us(g),
        }
    finally:
        await client.aclose()
        await client0.aclose()


# ---- 2. cProfile --------------------------------------------------------------------------

_GROUPS = (
    ("amas_async", "/amas_async/"),
    ("aiohttp", "/aiohttp/"),
    ("cattrs/attrs", "/cattrs/"),
    ("cattrs/attrs", "/attr/"),
    ("cattrs/attrs", "<cattrs generated"),
    ("cattrs/attrs", "<attrs generated"),
    ("asyncio", "/asyncio/"),
    ("multidict/yarl", "/multidict/"),
    ("multidict/yarl", "/yarl/"),
    ("benchmark harness", "/benchmarks/"),
)


def _group(filename: str) -> str:
    for name, marker in _GROUPS:
        if marker in filename:
            return name
    if filename == "~":
        return "builtins (C)"
    return "other Python"


async def _profile_variant(variant: ex.Variant, stub: Any, n: int) -> dict[str, Any]:
    await variant.open(stub)
    await ex.run_block(variant.request, 500, 16)
    profiler = cProfile.Profile()
    profiler.enable()
    await ex.run_block(variant.request, n, 16)
    profiler.disable()
    await variant.aclose()
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    own: list[tuple[float, str]] = []
    calls = 0
    for (filename, line, func), (_, ncalls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        group = _group(filename)
        groups[group] = groups.get(group, 0.0) + tottime
        calls += ncalls
        if group == "amas_async":
            own.append((tottime, f"{filename.split('/amas_async/')[1]}:{line}({func})"))
    own.sort(reverse=True)
    return {
        "us_per_request_by_group": {k: v / n * 1e6 for k, v in sorted(groups.items())},
        "function_calls_per_request": calls / n,
        "top_sdk_functions_us": [(name, t / n * 1e6) for t, name in own[:12]],
    }


# ---- 3. what-if on the network ------------------------------------------------------------


class AmasReadNone(ex.AmasDefault):
    name = "AsyncAmas, Timeout(read=None)"

    async def open(self, stub: Any) -> None:
        self.client = amas.AsyncAmas(
            api_key=API_KEY,
            base_url=stub.amas_base_url,
            timeout=amas.Timeout(read=None),
            limits=amas.Limits(max_connections=ex.POOL),
        )
        await self.client.__aenter__()


class AmasFastParse(ex.AmasDefault):
    """The default client; the emulated change is applied around each of its blocks."""

    name = "AsyncAmas + fast parse"
    patches = (fast_parse_patch,)


class AmasAll(AmasReadNone):
    name = "AsyncAmas + fast parse + cached path + read=None"
    patches = (fast_parse_patch, fast_path_patch)


class AmasLean(ex.AmasDefault):
    """The default client with the emulated fast path (see ``install_lean_path``)."""

    name = "AsyncAmas, emulated lean path"
    patches = (fast_path_patch,)

    async def open(self, stub: Any) -> None:
        await super().open(stub)
        install_lean_path(self.client)


class RawSockRead(ex.RawAiohttp):
    name = "raw aiohttp + sock_read=180"

    async def open(self, stub: Any) -> None:
        self.url = stub.execute_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=ex.POOL),
            headers={"x-api-key": API_KEY},
            timeout=aiohttp.ClientTimeout(total=300, sock_connect=10, sock_read=180),
        )


class RawSdkShaped(ex.RawAiohttp):
    """aiohttp called exactly as the SDK's transport calls it (5 headers per request)."""

    name = "raw aiohttp, SDK-shaped call"

    async def open(self, stub: Any) -> None:
        self.url = stub.execute_url
        self.timeout = aiohttp.ClientTimeout(total=300, sock_connect=10, sock_read=180)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=ex.POOL),
            timeout=self.timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self.headers = {
            "User-Agent": "amas-async/bench",
            "x-api-key": API_KEY,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    async def request(self) -> None:
        async with self.session.request(
            "POST",
            self.url,
            data=b'{"content":"Hello"}',
            headers={**self.headers, "Idempotency-Key": "0123456789abcdef"},
            params=None,
            timeout=self.timeout,
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
        orjson.loads(body)


class RawSdkShapedStatic(RawSdkShaped):
    """The same, with the constant headers as session defaults (only the key per request)."""

    name = "raw aiohttp, SDK-shaped, constant headers in the session"

    async def open(self, stub: Any) -> None:
        await super().open(stub)
        await self.session.close()
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=ex.POOL),
            timeout=self.timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers=self.headers,
        )

    async def request(self) -> None:
        async with self.session.request(
            "POST",
            self.url,
            data=b'{"content":"Hello"}',
            headers={"Idempotency-Key": "0123456789abcdef"},
            timeout=self.timeout,
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
        orjson.loads(body)


class RawCheapest(RawSdkShapedStatic):
    """aiohttp used as cheaply as it can be: constant headers in the session, a prebuilt
    ``yarl.URL``, no per-request timeout argument, no ``async with``: the floor for any client
    built on aiohttp's ``ClientSession``."""

    name = "raw aiohttp, cheapest use (floor for an aiohttp client)"

    async def open(self, stub: Any) -> None:
        import yarl

        await super().open(stub)
        self.url = yarl.URL(stub.execute_url, encoded=True)

    async def request(self) -> None:
        resp = await self.session.request(
            "POST",
            self.url,
            data=b'{"content":"Hello"}',
            headers={"Idempotency-Key": "0123456789abcdef"},
            allow_redirects=False,
        )
        body = await resp.read()
        resp.release()
        orjson.loads(body)


WHAT_IF: tuple[type[ex.Variant], ...] = (
    ex.RawAiohttp,
    ex.AmasDefault,
    ex.AmasNoRetry,
    AmasReadNone,
    AmasFastParse,
    AmasAll,
    AmasLean,
    RawSockRead,
    RawSdkShaped,
    RawSdkShapedStatic,
    RawCheapest,
)


async def what_if(
    stub: Any, concurrencies: tuple[int, ...], repetitions: int, n: int
) -> dict[str, Any]:
    variants = [cls() for cls in WHAT_IF]
    for v in variants:
        await v.open(stub)
    blocks: list[dict[str, Any]] = []

    async def block(v: ex.Variant, count: int, c: int) -> dict[str, Any]:
        patches = [make() for make in getattr(v, "patches", ())]
        for p in patches:
            p.__enter__()
        try:
            return await ex.run_block(v.request, count, c)
        finally:
            for p in reversed(patches):
                p.__exit__()

    for c in concurrencies:
        for v in variants:
            await block(v, 300, c)
    for rep in range(repetitions):
        for c in concurrencies:
            order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
            for v in order:
                result = await block(v, n if c > 1 else n // 2, c)
                blocks.append({"client": v.name, "concurrency": c, "rep": rep, **result})
    for v in variants:
        await v.aclose()
    summary = ex.summarize(blocks, baseline="aiohttp")
    return {
        name: {
            c: {
                "cpu_us_per_request": row["cpu_us_per_request"],
                "cpu_ratio_vs_raw_aiohttp": row["cpu_ratio_vs_baseline"],
            }
            for c, row in per_c.items()
        }
        for name, per_c in summary.items()
    }


# ---- 4. the sync round trip ---------------------------------------------------------------


def sync_round_trips(n: int = 3000) -> dict[str, float]:
    """Microseconds per call into a background event loop, for a coroutine that does nothing."""
    from anyio.from_thread import start_blocking_portal

    async def noop() -> int:
        return 1

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def rcts() -> int:
        return asyncio.run_coroutine_threadsafe(noop(), loop).result()

    results: dict[str, float] = {}
    with start_blocking_portal() as portal:
        cases: dict[str, Callable[[], Any]] = {
            "asyncio.run_coroutine_threadsafe + Future.result": rcts,
            "anyio BlockingPortal.call": lambda: portal.call(noop),
            "anyio BlockingPortal.start_task_soon().result()": lambda: portal.start_task_soon(
                noop
            ).result(),
        }
        for name, fn in cases.items():
            for _ in range(300):
                fn()
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(n):
                    fn()
                samples.append((time.perf_counter() - started) / n * 1e6)
            results[name] = median(samples)
    own_loop = asyncio.new_event_loop()
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            own_loop.run_until_complete(noop())
        samples.append((time.perf_counter() - started) / n * 1e6)
    results["loop.run_until_complete in the calling thread"] = median(samples)
    own_loop.close()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    return results


def sync_with_io(stub: Any, repetitions: int, n: int) -> dict[str, Any]:
    """Per-call overhead over awaiting ``AsyncAmas`` directly, with the real round trip to the
    stub, for: the shim as it is, a background asyncio loop reached with
    ``run_coroutine_threadsafe``, and the caller's own thread driving a private loop."""
    from benchmarks.common import percentile

    base = stub.amas_base_url

    def new_client() -> amas.AsyncAmas:
        return amas.AsyncAmas(api_key=API_KEY, base_url=base)

    shim = amas.Amas(api_key=API_KEY, base_url=base)
    background = asyncio.new_event_loop()
    thread = threading.Thread(target=background.run_forever, daemon=True)
    thread.start()
    bg_client = new_client()
    own_loop = asyncio.new_event_loop()
    own_client = new_client()
    direct_loop = asyncio.new_event_loop()
    direct_client = new_client()

    def call_shim() -> Any:
        return shim.runtime.execute(SESSION_ID, "Hello")

    def call_background() -> Any:
        coro = bg_client.runtime.execute(SESSION_ID, "Hello")
        return asyncio.run_coroutine_threadsafe(coro, background).result()

    def call_own_loop() -> Any:
        return own_loop.run_until_complete(own_client.runtime.execute(SESSION_ID, "Hello"))

    async def direct_block(count: int) -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await direct_client.runtime.execute(SESSION_ID, "Hello")
            times.append(time.perf_counter() - started)
        return times

    def sync_block(fn: Callable[[], Any], count: int) -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return times

    cases: dict[str, Callable[[int], list[float]]] = {
        "AsyncAmas awaited directly": lambda k: direct_loop.run_until_complete(direct_block(k)),
        "Amas (the shim as it is)": lambda k: sync_block(call_shim, k),
        "run_coroutine_threadsafe to a background loop": lambda k: sync_block(call_background, k),
        "caller thread drives a private loop": lambda k: sync_block(call_own_loop, k),
    }
    try:
        for run in cases.values():
            run(100)
        means: dict[str, list[float]] = {name: [] for name in cases}
        p50s: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for rep in range(repetitions):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                times = cases[name](n)
                means[name].append(sum(times) / len(times) * 1e6)
                p50s[name].append(percentile(times, 50) * 1e6)
        direct = "AsyncAmas awaited directly"
        return {
            name: {
                "mean_latency_us": median(means[name]),
                "overhead_us": median(
                    [a - b for a, b in zip(means[name], means[direct], strict=True)]
                ),
                "p50_overhead_us": median(
                    [a - b for a, b in zip(p50s[name], p50s[direct], strict=True)]
                ),
            }
            for name in cases
        }
    finally:
        shim.close()
        asyncio.run_coroutine_threadsafe(bg_client.aclose(), background).result()
        background.call_soon_threadsafe(background.stop)
        thread.join(5)
        background.close()
        own_loop.run_until_complete(own_client.aclose())
        own_loop.close()
        direct_loop.run_until_complete(direct_client.aclose())
        direct_loop.close()


# ---- 5. imports ---------------------------------------------------------------------------

_LAZY_SYNC = (
    "import sys, types, time\n"
    "m = types.ModuleType('amas_async.sync'); m.Amas = None\n"
    "{extra}"
    "s = time.perf_counter()\nimport amas_async\nprint(repr(time.perf_counter() - s))\n"
)


def _import_once(code: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def imports(repetitions: int = 11) -> dict[str, Any]:
    """Import time as is, with ``amas_async.sync`` never imported (a lazy ``Amas``), and the
    cost of the first config structured (when the converter generates its config hooks)."""
    plain = _LAZY_SYNC.format(extra="")
    lazy = _LAZY_SYNC.format(extra="sys.modules['amas_async.sync'] = m\n")
    deps = (
        "import time\ns = time.perf_counter()\n"
        "import aiohttp, attrs, cattrs, tenacity, anyio, yaml\n"
        "print(repr(time.perf_counter() - s))\n"
    )
    for code in (plain, lazy, deps):
        _import_once(code)
    samples: dict[str, list[float]] = {"as is": [], "lazy sync": [], "dependencies": []}
    for _ in range(repetitions):
        samples["as is"].append(_import_once(plain))
        samples["lazy sync"].append(_import_once(lazy))
        samples["dependencies"].append(_import_once(deps))
    ms = {k: median(v) * 1e3 for k, v in samples.items()}
    hooks = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from amas_async.models import SessionConfig\n"
            "t = time.perf_counter()\n"
            "SessionConfig.from_dict({'name': 'n', 'agents': [{'name': 'a'}],"
            " 'edges': [{'from': '__start__', 'to': 'a'}]})\n"
            "print(repr(time.perf_counter() - t))\n",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        check=False,
    )
    try:
        hooks_ms: float | None = float(hooks.stdout.strip().splitlines()[-1]) * 1e3
    except (ValueError, IndexError):
        hooks_ms = None
    return {
        "ms": ms,
        "ratio_as_is": ms["as is"] / ms["dependencies"],
        "ratio_lazy_sync": ms["lazy sync"] / ms["dependencies"],
        "cattrs_config_hooks_ms": hooks_ms,
    }


# ---- 6. memory variants -------------------------------------------------------------------


def memory_variants(n: int = 2000) -> dict[str, Any]:
    cpu = ["--cpu", str(CLIENT_CPU)] if can_pin() else []
    out: dict[str, Any] = {}
    with stub_server(hold=True, delay=1.0) as stub:
        for mode in ("rss", "tracemalloc"):
            for client in ("aiohttp", "aiohttp-sdk-headers", "amas", "amas-noretry", "amas-lean"):
                rows = [
                    run_worker(
                        "memory",
                        "--client",
                        client,
                        "--n",
                        str(n),
                        "--origin",
                        stub.origin,
                        "--mode",
                        mode,
                        *cpu,
                    )
                    for _ in range(2 if mode == "rss" else 1)
                ]
                out.setdefault(mode, {})[client] = median([r["bytes_per_request"] for r in rows])
    return out


# ---- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="profile the SDK's execute path")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    pin = can_pin()
    if pin:
        pin_to(CLIENT_CPU)
    reps, n = (2, 400) if args.quick else (7, 2000)
    out: dict[str, Any] = {}
    print("== layers (no network)", flush=True)
    out["layers_us"] = asyncio.run(layers())
    for k, v in out["layers_us"].items():
        print(f"  {v:7.2f} us  {k}")
    with stub_server(pin=pin) as stub:
        print("== cProfile at concurrency 16", flush=True)
        out["cprofile"] = {}
        for cls in (ex.RawAiohttp, ex.AmasDefault):
            prof = asyncio.run(_profile_variant(cls(), stub, n))
            out["cprofile"][cls.name] = prof
            groups = ", ".join(f"{k} {v:.0f}" for k, v in prof["us_per_request_by_group"].items())
            calls = prof["function_calls_per_request"]
            print(f"  {cls.name}: {calls:.0f} calls/request; us/request: {groups}")
        print("== what-if (paired with raw aiohttp)", flush=True)
        out["what_if"] = asyncio.run(what_if(stub, (1, 16), reps, n))
        for name, per_c in out["what_if"].items():
            cells = "  ".join(
                f"C={c}: {r['cpu_us_per_request']:6.1f} us ({r['cpu_ratio_vs_raw_aiohttp']:.2f}x)"
                for c, r in per_c.items()
            )
            print(f"  {name:62s} {cells}")
        print("== sync shim designs, with the round trip to the stub", flush=True)
        out["sync_with_io"] = sync_with_io(stub, reps, 300 if args.quick else 1000)
        for name, row in out["sync_with_io"].items():
            print(
                f"  {name:48s} mean {row['mean_latency_us']:6.0f} us, overhead "
                f"{row['overhead_us']:6.1f} us (p50 {row['p50_overhead_us']:6.1f} us)"
            )
    print("== sync round trips (no I/O)", flush=True)
    out["sync_round_trip_us"] = sync_round_trips(1000 if args.quick else 3000)
    for k, v in out["sync_round_trip_us"].items():
        print(f"  {v:7.1f} us  {k}")
    print("== imports", flush=True)
    out["imports"] = imports(3 if args.quick else 11)
    print(f"  {out['imports']}")
    print("== memory variants", flush=True)
    out["memory_bytes_per_request"] = memory_variants(500 if args.quick else 2000)
    print(f"  {out['memory_bytes_per_request']}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "profile.json"
    path.write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
