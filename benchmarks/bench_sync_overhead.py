"""What the sync shim costs: ``Amas`` over ``AsyncAmas``, per call, against a local stub.

    python benchmarks/bench_sync_overhead.py [--calls 200] [--reps 11]

A minimal aiohttp.web stub answering the documented execute body runs in a subprocess (so it
does not compete for this process's GIL). The same ``runtime.execute`` call is timed four ways,
in interleaved repetitions (the order alternates), each repetition ``--calls`` sequential
calls, and the medians of the per-call times are reported:

* ``async``: ``AsyncAmas``, awaited on a loop in this thread (the baseline);
* ``sync``: ``Amas``, a blocking call into the client's background loop;
* ``hop``: ``AsyncAmas`` on a plain asyncio loop in another thread, called through a bare
  ``asyncio.run_coroutine_threadsafe(...).result()`` (the floor of any sync-over-async design:
  the sync shim minus its own bookkeeping);
* ``portal``: ``AsyncAmas`` behind anyio's ``BlockingPortal.start_task_soon(...).result()``
  (what the shim's first cut did for every call).

``sync - async`` is the shim's overhead. A second set times a bare round trip (a coroutine that
does nothing) the same four ways: the overhead without any I/O.

Not a test, and not part of the benchmark suite's run: a standalone measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from anyio.from_thread import start_blocking_portal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import amas_async as amas  # noqa: E402
from benchmarks.stub_server import EXECUTE_RESPONSE  # noqa: E402 - the one stub body


def serve() -> None:
    """The stub: answer every execute with the same pre-encoded body; print the port."""
    from aiohttp import web

    body = json.dumps(EXECUTE_RESPONSE).encode()

    async def execute(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/runtime/{session_id}/execute/", execute)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"PORT {runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def per_call(calls: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) / calls


async def nothing() -> None:
    return None


def measure(calls: int, reps: int, base_url: str) -> dict[str, list[float]]:
    def new_client() -> amas.AsyncAmas:
        return amas.AsyncAmas(api_key="bench", base_url=base_url, max_retries=0)

    here = asyncio.new_event_loop()  # the baseline's loop, in this thread
    aclient = new_client()
    client = amas.Amas(api_key="bench", base_url=base_url, max_retries=0)
    other = asyncio.new_event_loop()  # the bare hop's: a plain asyncio loop in another thread
    other_thread = threading.Thread(target=other.run_forever, daemon=True)
    other_thread.start()
    hclient = new_client()
    portal_cm = start_blocking_portal()
    portal = portal_cm.__enter__()
    pclient = new_client()

    def execute_with(c: amas.AsyncAmas) -> Callable[[], Coroutine[Any, Any, Any]]:
        return lambda: c.runtime.execute("s-1", "Hello")

    def run_here(make: Callable[[], Coroutine[Any, Any, Any]], n: int) -> None:
        async def loop() -> None:
            for _ in range(n):
                await make()

        here.run_until_complete(loop())

    def run_sync(call: Callable[[], Any], n: int) -> None:
        for _ in range(n):
            call()

    def run_hop(make: Callable[[], Coroutine[Any, Any, Any]], n: int) -> None:
        for _ in range(n):
            asyncio.run_coroutine_threadsafe(make(), other).result()

    def run_portal(make: Callable[[], Coroutine[Any, Any, Any]], n: int) -> None:
        for _ in range(n):
            portal.start_task_soon(make).result()

    cases: dict[str, Callable[[int], None]] = {
        "async execute": lambda n: run_here(execute_with(aclient), n),
        "sync execute": lambda n: run_sync(lambda: client.runtime.execute("s-1", "Hello"), n),
        "hop execute": lambda n: run_hop(execute_with(hclient), n),
        "portal execute": lambda n: run_portal(execute_with(pclient), n),
        "async no-op": lambda n: run_here(nothing, n),
        "sync no-op": lambda n: run_sync(lambda: client._run(nothing), n),
        "hop no-op": lambda n: run_hop(nothing, n),
        "portal no-op": lambda n: run_portal(nothing, n),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for run in cases.values():  # warm up: connections, caches, the loop threads
            run(20)
        names = list(cases)
        for rep in range(reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                timings[name].append(per_call(calls, functools.partial(cases[name], calls)))
    finally:
        client.close()
        here.run_until_complete(aclient.aclose())
        here.close()
        asyncio.run_coroutine_threadsafe(hclient.aclose(), other).result()
        other.call_soon_threadsafe(other.stop)
        other_thread.join()
        other.close()
        portal.call(pclient.aclose)
        portal_cm.__exit__(None, None, None)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="sequential calls per repetition")
    parser.add_argument("--reps", type=int, default=11, help="interleaved repetitions")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    command = [sys.executable, __file__, "--serve"]
    stub = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert stub.stdout is not None
        line = stub.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"the stub did not start: {line!r}")
        base_url = f"http://127.0.0.1:{int(line.split()[1])}/api/v1"
        timings = measure(args.calls, args.reps, base_url)
    finally:
        stub.terminate()
        stub.wait()

    med = {name: statistics.median(values) * 1e6 for name, values in timings.items()}
    print(
        f"Python {sys.version.split()[0]}, amas-async {amas.__version__}, {os.cpu_count()} CPUs: "
        f"{args.reps} interleaved repetitions x {args.calls} sequential calls; medians"
    )
    for name, values in timings.items():
        low, high = min(values) * 1e6, max(values) * 1e6
        print(f"  {name:<15} {med[name]:8.1f} us/call   (range {low:.1f} .. {high:.1f})")
    for what in ("execute", "no-op"):
        a, s, h, p = (med[f"{way} {what}"] for way in ("async", "sync", "hop", "portal"))
        print(
            f"  {what}: over async, sync +{s - a:.1f} us/call; "
            f"bare hop +{h - a:.1f} us, portal.start_task_soon +{p - a:.1f} us"
        )


if __name__ == "__main__":
    main()
