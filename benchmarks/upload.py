"""One image upload in a fresh process: peak RSS growth and throughput.

``python -m benchmarks.upload --client amas --file big.png --origin http://127.0.0.1:PORT``
prints one JSON line. The client is opened and warmed with a small upload first (so code paths
and the default thread pool exist), then the baseline RSS is read, the big file is uploaded
``--times`` times in a row (multipart field ``image``; the median time is reported), and the
peak RSS over those uploads (VmHWM, reset at the baseline) is compared with the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from typing import Any

import aiohttp

from benchmarks.common import API_KEY, peak_rss_bytes, pin_to, reset_peak_rss, rss_bytes

CLIENTS = ("aiohttp", "amas")


async def measure(
    client: str, path: str, warm_path: str, origin: str, expected: int, times: int
) -> dict[str, Any]:
    base_url = f"{origin}/api/v1"
    url = f"{base_url}/images/upload/"
    if client == "amas":
        import amas_async as amas

        sdk = amas.AsyncAmas(api_key=API_KEY, base_url=base_url)
        await sdk.__aenter__()

        async def upload(file: str) -> int:
            result = await sdk.images.upload(file)
            return int(result.size or 0)

        async def close() -> None:
            await sdk.aclose()

    else:
        session = aiohttp.ClientSession(headers={"x-api-key": API_KEY})

        async def upload(file: str) -> int:
            with open(file, "rb") as handle:  # noqa: ASYNC230 - what users write
                form = aiohttp.FormData()
                form.add_field(
                    "image", handle, filename=os.path.basename(file), content_type="image/png"
                )
                async with session.post(url, data=form) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"status {resp.status}: {await resp.text()}")
                    data = await resp.json()
            return int(data["size"])

        async def close() -> None:
            await session.close()

    await upload(warm_path)
    gc.collect()
    peak_reset = reset_peak_rss()
    base_rss, base_peak = rss_bytes(), peak_rss_bytes()
    seconds, cpu = [], []
    for _ in range(times):
        started = time.perf_counter()
        cpu0 = time.process_time()
        size = await upload(path)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
        if size != expected:
            raise RuntimeError(f"the server received {size} bytes of {expected}")
    peak = peak_rss_bytes()
    await close()
    return {
        "client": client,
        "bytes": expected,
        "uploads": times,
        "seconds": statistics.median(seconds),
        "cpu_seconds": statistics.median(cpu),
        "throughput_mb_s": expected / statistics.median(seconds) / 1e6,
        "baseline_rss_bytes": base_rss,
        "baseline_peak_rss_bytes": base_peak,
        "peak_rss_bytes": peak,
        "peak_growth_bytes": peak - base_rss,
        "peak_reset": peak_reset,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one big image upload (one process)")
    parser.add_argument("--client", choices=CLIENTS, required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--warm-file", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--times", type=int, default=3, help="uploads of the file (median)")
    args = parser.parse_args(argv)
    pin_to(args.cpu)
    expected = os.path.getsize(args.file)
    result = asyncio.run(
        measure(args.client, args.file, args.warm_file, args.origin, expected, args.times)
    )
    print(json.dumps(result), flush=True)


def make_image(path: str, size: int) -> None:
    """A file of ``size`` bytes that starts like a PNG (the SDK sniffs the media type)."""
    block = bytes(range(256)) * 4096  # 1 MiB, incompressible enough for a stub
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        left = size - 8
        while left > 0:
            chunk = block[: min(left, len(block))]
            handle.write(chunk)
            left -= len(chunk)


if __name__ == "__main__":
    main()
