"""The SDK of two git revisions side by side: execute CPU vs raw aiohttp, and answer parsing.

For a change that must not make the SDK slower (a refactor), compare the working tree with an
earlier revision in one run::

    python -m benchmarks.compare_refs --base HEAD~6 --rounds 5

The base revision is checked out into a temporary ``git worktree`` (removed afterwards). Each
round starts one worker process per tree, alternating, so that drift of a noisy machine hits
both alike; a worker imports that tree's ``amas_async`` and measures, against one stub server
(its own process, pinned to the other CPU), interleaved blocks of raw aiohttp and
``AsyncAmas.runtime.execute`` at each concurrency: client CPU per request, and the paired ratio
SDK / raw aiohttp. It also times ``parse_execution`` on the documented execute answer in
process. The table gives the median over rounds and the spread (min-max).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import (
    API_KEY,
    CLIENT_CPU,
    ROOT,
    SESSION_ID,
    base_worktree,
    can_pin,
    median,
    stub_server,
)

WORKER = r"""
import asyncio, gc, json, os, sys, time
import aiohttp
import amas_async as amas

base, key, sid, cpu = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
concurrencies = [int(c) for c in sys.argv[5].split(",")]
n, blocks = int(sys.argv[6]), int(sys.argv[7])
if cpu != "-":
    os.sched_setaffinity(0, {int(cpu)})
url = f"{base}/runtime/{sid}/execute/"


def parse_us():
    import timeit
    from pathlib import Path
    try:
        from amas_async.resources.runtime import parse_execution
    except ImportError:
        from amas_async._serde import parse_execution
    import orjson
    body = orjson.loads(Path(sys.argv[8]).read_bytes())
    parse_execution(body)
    return min(timeit.repeat(lambda: parse_execution(body), number=20000, repeat=7)) / 20000 * 1e6


async def block(call, concurrency):
    todo = iter(range(n))

    async def worker():
        for _ in todo:
            await call()

    gc.collect()
    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / n * 1e6


async def main():
    raw = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256), headers={"x-api-key": key}
    )
    sdk = amas.AsyncAmas(api_key=key, base_url=base, limits=amas.Limits(max_connections=256))

    async def raw_call():
        async with raw.post(url, json={"content": "Hello"}) as resp:
            await resp.json()

    async def sdk_call():
        await sdk.runtime.execute(sid, "Hello")

    out = {}
    try:
        for c in concurrencies:
            await block(raw_call, c)
            await block(sdk_call, c)  # warm-up: connections, caches, lazy imports
            ratios, raws, sdks = [], [], []
            for i in range(blocks):
                order = [(raw_call, raws), (sdk_call, sdks)]
                for call, into in order if i % 2 == 0 else order[::-1]:
                    into.append(await block(call, c))
                ratios.append(sdks[-1] / raws[-1])
            ratios.sort()
            out[f"C={c}"] = {
                "ratio": ratios[len(ratios) // 2],
                "sdk_us": sorted(sdks)[len(sdks) // 2],
                "raw_us": sorted(raws)[len(raws) // 2],
            }
    finally:
        await raw.close()
        await sdk.aclose()
    out["parse_us"] = parse_us()
    print(json.dumps(out))


asyncio.run(main())
"""

EXAMPLE = ROOT / "tests" / "data" / "examples" / "execute-text.response.json"


def _worker(tree: Path, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    cpu = str(CLIENT_CPU) if can_pin() and not args.no_pin else "-"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            WORKER,
            base_url,
            API_KEY,
            SESSION_ID,
            cpu,
            args.concurrency,
            str(args.n),
            str(args.blocks),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the worker for {tree} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=5, help="paired blocks per round")
    parser.add_argument("--n", type=int, default=1000, help="requests per block")
    parser.add_argument("--concurrency", default="1,16,128")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)
    with base_worktree(args.base) as base_tree:
        trees = {"base": base_tree, "work": ROOT}
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        with stub_server(pin=not args.no_pin) as stub:
            for number in range(args.rounds):
                pairs = list(trees.items())
                for name, tree in pairs if number % 2 == 0 else pairs[::-1]:
                    rounds[name].append(_worker(tree, stub.amas_base_url, args))
                print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
    print(f"base = {args.base}, work = the working tree; medians over {args.rounds} rounds")
    print(f"{'measure':<28}{'base':>22}{'work':>22}")
    keys = [k for k in rounds["base"][0] if k != "parse_us"]
    for key in keys:
        for field, unit in (("ratio", "x"), ("sdk_us", " us")):
            cells = []
            for name in trees:
                values = [r[key][field] for r in rounds[name]]
                cells.append(f"{median(values):.3f}{unit} ({min(values):.2f}-{max(values):.2f})")
            label = f"{key} {'SDK/raw CPU' if field == 'ratio' else 'SDK CPU/request'}"
            print(f"{label:<28}{cells[0]:>22}{cells[1]:>22}")
    cells = []
    for name in trees:
        values = [r["parse_us"] for r in rounds[name]]
        cells.append(f"{median(values):.2f} us ({min(values):.2f}-{max(values):.2f})")
    print(f"{'parse_execution':<28}{cells[0]:>22}{cells[1]:>22}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
