"""Instructions per request, counted by valgrind: the SDK of two revisions, deterministically.

Timings on a shared 2-core machine drift by 10-30% between runs; instruction counts do not
(the same work gives the same total). For each tree this runs, under
``valgrind --tool=callgrind``, a client process that sends K requests to a stub server (a
native process of its own), in three modes: nothing (the baseline: interpreter, imports,
warm-up), raw aiohttp, and ``AsyncAmas.runtime.execute``; and, in process, K parses of the
documented execute answer and K executes over a canned transport (the SDK's own cost). Each
figure is (mode - baseline) / K::

    python -m benchmarks.instructions --base 597ba46 -k 2000

Instructions are not time (a cache miss costs more than an add), but a change that adds work
to the hot path shows here, alone, without noise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import API_KEY, ROOT, SESSION_ID, base_worktree, stub_server

CLIENT = r"""
import asyncio, sys
import aiohttp
import amas_async as amas

base, key, sid, k, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
url = f"{base}/runtime/{sid}/execute/"


async def main():
    raw = aiohttp.ClientSession(headers={"x-api-key": key})
    sdk = amas.AsyncAmas(api_key=key, base_url=base)

    async def raw_call():
        async with raw.post(url, json={"content": "Hello"}) as resp:
            await resp.json()

    async def sdk_call():
        await sdk.runtime.execute(sid, "Hello")

    for _ in range(20):  # warm-up in every mode: connections, lazy imports, caches
        await raw_call()
        await sdk_call()
    call = {"raw": raw_call, "sdk": sdk_call}.get(mode)
    for _ in range(k if call else 0):
        await call()
    await raw.close()
    await sdk.aclose()


asyncio.run(main())
"""

IN_PROCESS = r"""
import asyncio, sys
from pathlib import Path
import orjson
import amas_async as amas

body_path, k, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BODY = Path(body_path).read_bytes()
try:
    from amas_async.resources.runtime import parse_execution
except ImportError:  # before the redesign
    from amas_async._serde import parse_execution


def canned_client():
    if hasattr(amas, "AsyncTransport"):
        canned = amas.Response(200, content=BODY, url="http://x/")

        class Canned:
            async def handle(self, request):
                return canned

            async def aclose(self):
                pass

        return amas.AsyncAmas(api_key="k", base_url="http://127.0.0.1:9/api/v1", transport=Canned())
    from amas_async._transport import Request, Response  # before the redesign

    canned = Response(
        status=200, headers={}, content=BODY, request=Request("POST", "http://x/"), url="http://x/"
    )

    async def handle(request):
        return canned

    client = amas.AsyncAmas(api_key="k", base_url="http://127.0.0.1:9/api/v1")
    client._pool.transport.handle = handle
    client._open()
    return client


async def main():
    client = canned_client()
    await client.runtime.execute("s1", "Hello")
    data = orjson.loads(BODY)
    parse_execution(data)
    if mode == "execute":
        for _ in range(k):
            await client.runtime.execute("s1", "Hello")
    elif mode == "parse":
        for _ in range(k):
            parse_execution(data)


asyncio.run(main())
"""

EXAMPLE = ROOT / "tests" / "data" / "examples" / "execute-text.response.json"


def _count(tree: Path, code: str, args: list[str]) -> int:
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out.name}",
                sys.executable,
                "-c",
                code,
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=tree,
            env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
            timeout=1800,
            check=False,
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed in {tree}:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the revision to compare with")
    parser.add_argument("-k", type=int, default=2000, help="requests (and parses) per mode")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    k = args.k
    results: dict[str, dict[str, float]] = {}
    with base_worktree(args.base) as base_tree, stub_server(pin=False) as stub:
        for name, tree in (("base", base_tree), ("work", ROOT)):
            wire = [stub.amas_base_url, API_KEY, SESSION_ID, str(k)]
            none = _count(tree, CLIENT, [*wire, "none"])
            raw = (_count(tree, CLIENT, [*wire, "raw"]) - none) / k
            sdk = (_count(tree, CLIENT, [*wire, "sdk"]) - none) / k
            local = [str(EXAMPLE), str(k)]
            idle = _count(tree, IN_PROCESS, [*local, "none"])
            own = (_count(tree, IN_PROCESS, [*local, "execute"]) - idle) / k
            parse = (_count(tree, IN_PROCESS, [*local, "parse"]) - idle) / k
            results[name] = {"raw": raw, "sdk": sdk, "own": own, "parse": parse}
            print(f"{name} done", file=sys.stderr)
    base, work = results["base"], results["work"]
    print(f"instructions per call, K={k}; base = {args.base}, work = the working tree")
    rows = [
        ("raw aiohttp execute", "raw"),
        ("SDK execute (real transport)", "sdk"),
        ("SDK execute, canned transport", "own"),
        ("parse_execution", "parse"),
    ]
    for label, key in rows:
        ratio = work[key] / base[key]
        print(f"{label:<32}{base[key]:>12,.0f}{work[key]:>12,.0f}{ratio:>8.3f}x")
    print(
        f"{'SDK / raw aiohttp':<32}{base['sdk'] / base['raw']:>12.3f}"
        f"{work['sdk'] / work['raw']:>12.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
