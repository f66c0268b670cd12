"""The Ray Data stage against ``runtime.execute_many`` on one machine: rows/s and CPU per row.

``python -m benchmarks.ray_stage`` (repo root; needs ``amas-async[ray]``; about 80 s on 2 cores)
runs N rows (default 2,000, each with its own pre-made session id, so that only the execute
path is measured) against one stub server (``benchmarks/stub_server.py``, its own process):

* in one fresh process per repetition: ``client.runtime.execute_many(requests,
  concurrency=16)``, and ``AmasExecute(concurrency=16, run_id=...)`` called directly (no Ray)
  on one NumPy batch of all the rows, which isolates the stage's own code;
* on a local Ray cluster started by this process: ``ray.data.from_items(rows)
  .map_batches(AmasExecute, compute=ActorPoolStrategy(size=2), fn_constructor_kwargs=
  {"concurrency": 8, ...}, batch_size=B, num_cpus=0.5).take_all()``, for B = 100 and 500.

Every way has 16 requests in flight at most (2 actors x 8 for Ray); repetitions alternate the
order. Client CPU per row is, in one process, ``time.process_time()`` over the block divided
by the rows; for Ray, the CPU of the driver (this process) plus the stage's actor processes,
with the rest of the cluster (raylet, GCS, other Ray workers and daemons) listed apart. Those
processes are not children this process waits for (and the raylet does not collect its
workers' CPU when they exit), so a thread of the driver reads ``/proc/<pid>/stat`` of every
process under the driver every 50 ms (the stub excluded); the figures are differences of those
readings, and the thread's own CPU is subtracted from the driver's. Each Ray run is reported
as *steady* (from the first batch starting in an actor to the last one ending, interpolated
between readings) and *whole run* (from ``map_batches`` to ``take_all`` returning: the actor
pool's start included); the actors' exit after it, ``ray.init`` and the session's first
dataset (which starts Ray Data's own actors) are reported apart.

By default the measuring side (this process, so every Ray process, and the one-process
worker) is pinned to CPU 0 and the stub to CPU 1, as in the rest of the suite: every way gets
one core. ``--no-pin`` lets them share both. Results go to benchmarks/results/ray_stage.json
(and .md); ``--publish`` also rewrites the generated part of the Ray section of
docs/benchmarks.md (between its own markers), nothing else of that page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/ray_stage.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    API_KEY,
    CLIENT_CPU,
    DOCS_DIR,
    RESULTS_DIR,
    can_pin,
    machine_info,
    median,
    pin_to,
    raise_nofile_limit,
    run_worker,
    stub_server,
    subprocess_env,
)

ROWS = 2000
REPETITIONS = 4
ACTORS = 2
PER_ACTOR = 8
#: The batch sizes measured (each a Ray run per repetition).
BATCH_SIZES = (100, 500)
WARMUP_ROWS = 400
#: Blocks of each one-process way per repetition (alternating; the median block is kept).
BLOCKS_PER_PROCESS = 3
#: Seconds between two readings of the Ray processes' CPU.
SAMPLE_INTERVAL = 0.05
#: Seconds to wait at most for the stage's actors to exit after a run.
TEARDOWN_TIMEOUT = 15.0
#: Seconds over which the idle cluster's CPU is read.
IDLE_SECONDS = 2.0
#: Every this many readings, look for new processes under the driver (a full /proc scan).
DISCOVER_EVERY = 10

BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks.ray_stage --publish -->"
END = "<!-- END GENERATED: ray_stage -->"

#: CPU categories of a Ray run, in table order; the first two are the client's CPU.
DRIVER, ACTORS_CAT, RAYLET, GCS, OTHER_WORKERS, OTHER = (
    "driver",
    "stage actors",
    "raylet",
    "GCS",
    "other Ray workers",
    "other Ray processes",
)
CATEGORIES = (DRIVER, ACTORS_CAT, RAYLET, GCS, OTHER_WORKERS, OTHER)
CLIENT_CATEGORIES = (DRIVER, ACTORS_CAT)


def log(message: str) -> None:
    print(message, flush=True)


# ---- the CPU of a process tree, from /proc -------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()  # fields from the 3rd (state) on
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(root: int, exclude: set[int]) -> dict[int, float]:
    """CPU seconds of every process under ``root`` (not root, not ``exclude`` nor theirs)."""
    parents: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents[int(entry)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, float] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in exclude:
                out[child] = parents[child][1]
                stack.append(child)
    return out


class TreeSampler:
    """A thread reading the CPU of this process and of every process under it, every 50 ms.

    ``samples`` holds ``(monotonic time, driver CPU, {pid: CPU})``; the driver's CPU is this
    process's ``process_time()`` minus the sampler thread's own ``thread_time()``. A process
    that has exited keeps its last reading.
    """

    def __init__(self, *, exclude: set[int], interval: float = SAMPLE_INTERVAL) -> None:
        self.exclude = exclude
        self.interval = interval
        self.samples: list[tuple[float, float, dict[int, float]]] = []
        self.known: set[int] = set()
        self.alive: set[int] = set()
        self.cmdlines: dict[int, str] = {}
        self.sampler_cpu = 0.0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self, discover: bool) -> None:
        if discover:
            cpu = descendants(os.getpid(), self.exclude)
            for pid in set(cpu) - self.known:
                self.cmdlines[pid] = _cmdline(pid)
            self.known |= set(cpu)
        else:
            cpu = {}
            for pid in self.alive:
                found = _stat(pid)
                if found is not None:
                    cpu[pid] = found[1]
        self.alive = set(cpu)
        now = time.monotonic()
        self.samples.append((now, time.process_time() - time.thread_time(), cpu))

    def _run(self) -> None:
        self._sample(True)
        self._ready.set()
        count = 0
        while not self._stop.wait(self.interval):
            count += 1
            self._sample(count % DISCOVER_EVERY == 0)
        self._sample(True)  # the last reading, right after the run
        self.sampler_cpu = time.thread_time()

    def per_process(self) -> dict[int, float]:
        """CPU seconds of each process from the first reading to its last one."""
        base, last = dict(self.samples[0][2]), {}
        for _, _, cpu in self.samples:
            last.update(cpu)
        return {pid: value - base.get(pid, 0.0) for pid, value in last.items()}

    def series(self, category_of: Callable[[int], str]) -> dict[str, list[tuple[float, float]]]:
        """Per category, ``(time, CPU seconds since the first reading)`` at every reading.

        Processes present at the first reading count from their value there; processes that
        appeared later count from 0 (they started during the run).
        """
        base = dict(self.samples[0][2])
        driver0 = self.samples[0][1]
        last: dict[int, float] = {}
        out: dict[str, list[tuple[float, float]]] = {name: [] for name in CATEGORIES}
        for when, driver, cpu in self.samples:
            last.update(cpu)
            totals = dict.fromkeys(CATEGORIES, 0.0)
            totals[DRIVER] = driver - driver0
            for pid, value in last.items():
                totals[category_of(pid)] += value - base.get(pid, 0.0)
            for name in CATEGORIES:
                out[name].append((when, totals[name]))
        return out


def interpolate(series: Sequence[tuple[float, float]], when: float) -> float:
    """The cumulative value at ``when``, linear between the readings around it."""
    if when <= series[0][0]:
        return series[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(series):
        if t0 <= when <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)
    return series[-1][1]


def categorize(cmdlines: dict[int, str], stage_pids: set[int]) -> Callable[[int], str]:
    def category_of(pid: int) -> str:
        if pid in stage_pids:
            return ACTORS_CAT
        command = cmdlines.get(pid, "")
        program = os.path.basename(command.split(" ", 1)[0]) if command else ""
        if program == "raylet":
            return RAYLET
        if program == "gcs_server":
            return GCS
        if command.startswith("ray::") or "default_worker.py" in command:
            return OTHER_WORKERS
        return OTHER

    return category_of


# ---- execute_many: one process ---------------------------------------------------------------


def _requests(n: int, prefix: str) -> list[Any]:
    import amas_async as amas

    return [amas.ExecuteRequest(session_id=f"{prefix}{i:06d}", content="Hello") for i in range(n)]


def _numpy_batch(rows: int, prefix: str) -> dict[str, Any]:
    """A batch as Ray Data hands it to the stage by default: a dict of NumPy arrays."""
    import numpy as np

    return {
        "id": np.arange(rows),
        "content": np.array(["Hello"] * rows, dtype=object),
        "session_id": np.array([f"{prefix}{i:06d}" for i in range(rows)], dtype=object),
    }


async def _one_process(
    base_url: str, rows: int, concurrency: int, order: Sequence[str], blocks: int
) -> dict[str, list[dict[str, float]]]:
    """``execute_many`` and ``AmasExecute(...)(batch)`` (the stage's code without Ray, one
    batch of all rows), each warmed up, then ``blocks`` blocks of each, alternating."""
    import amas_async as amas
    from amas_async.ray import AmasExecute

    client = amas.AsyncAmas(api_key=API_KEY, base_url=base_url)
    stage = AmasExecute(
        base_url=base_url, api_key=API_KEY, concurrency=concurrency, run_id="bench-direct"
    )

    async def execute_many(prefix: str, n: int) -> int:
        requests = _requests(n, prefix)
        start()
        results = await client.runtime.execute_many(requests, concurrency=concurrency)
        return sum(1 for r in results if r.ok)

    async def direct(prefix: str, n: int) -> int:
        batch = _numpy_batch(n, prefix)
        start()
        out = await stage(batch)
        return list(out["status"]).count("ok")

    clock: list[float] = []

    def start() -> None:  # after the input is made, as for Ray (input in the object store)
        gc.collect()
        clock[:] = [time.process_time(), time.perf_counter()]

    ways = {"execute_many": execute_many, "direct": direct}
    found: dict[str, list[dict[str, float]]] = {name: [] for name in order}
    try:
        for name in order:
            await ways[name]("warm_", 200)
        for block in range(blocks):
            for name in order if block % 2 == 0 else order[::-1]:
                ok = await ways[name](f"b{block}_", rows)
                wall, cpu = time.perf_counter() - clock[1], time.process_time() - clock[0]
                if ok != rows:
                    raise RuntimeError(f"{name}: {rows - ok} of {rows} rows failed")
                found[name].append({"wall_s": wall, "cpu_s": cpu})
    finally:
        await stage.aclose()
        await client.aclose()
    return found


def worker_main(args: argparse.Namespace) -> None:
    """``--worker``: the one-process blocks in this fresh process; prints one JSON line."""
    pin_to(args.cpu)
    order = args.worker.split(",")
    found = asyncio.run(
        _one_process(args.base_url, args.rows, args.concurrency, order, args.blocks)
    )
    print(json.dumps(found), flush=True)


def run_one_process(
    base_url: str, rows: int, concurrency: int, pin: bool, order: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Both one-process ways in a fresh process; per way the medians of its blocks."""
    cpu = ["--cpu", str(CLIENT_CPU)] if pin else []
    args = ["--worker", ",".join(order), "--base-url", base_url, "--rows", str(rows)]
    args += ["--blocks", str(BLOCKS_PER_PROCESS)]
    found = run_worker("ray_stage", *args, "--concurrency", str(concurrency), *cpu)
    return {
        name: {
            "rows": rows,
            "blocks": blocks,
            "rows_per_s": median([rows / b["wall_s"] for b in blocks]),
            "cpu_us_per_row": median([b["cpu_s"] / rows * 1e6 for b in blocks]),
        }
        for name, blocks in found.items()
    }


# ---- the Ray stage -------------------------------------------------------------------------


def _timed_stage() -> type:
    """``AmasExecute`` plus columns saying when, where and at what CPU each batch ran."""
    import numpy as np

    from amas_async.ray import AmasExecute

    class TimedExecute(AmasExecute):
        async def __call__(self, batch: Any) -> Any:
            start, cpu0 = time.monotonic(), time.process_time()
            out = await super().__call__(batch)
            count = len(out["id"])
            out["bench_pid"] = np.full(count, os.getpid())
            out["bench_start"] = np.full(count, start)
            out["bench_end"] = np.full(count, time.monotonic())
            out["bench_cpu0"] = np.full(count, cpu0)
            out["bench_cpu1"] = np.full(count, time.process_time())
            return out

    return TimedExecute


class RayBench:
    """A local Ray cluster started by this process, and runs of the stage on it."""

    def __init__(self, *, base_url: str, actors: int, per_actor: int) -> None:
        self.base_url = base_url
        self.actors = actors
        self.per_actor = per_actor
        self.stage = _timed_stage()
        self.exclude: set[int] = set()

    def start(self) -> float:
        """``ray.init``; returns its wall-clock seconds."""
        # Ray's workers inherit this environment: the repo importable, no proxies, no keys.
        os.environ.update(subprocess_env())
        for name in ("AMAS_API_KEY", "AMAS_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            os.environ.pop(name, None)
            os.environ.pop(name.lower(), None)
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
        started = time.perf_counter()
        import ray
        import ray.data

        ray.init(
            num_cpus=4,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=False,
        )
        elapsed = time.perf_counter() - started
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        # Dispatch only once every actor of the pool is up: the steady window then has all
        # of them (the start is still in the end-to-end figure).
        context.wait_for_min_actors_s = 120
        logging.getLogger("ray").setLevel(logging.WARNING)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return elapsed

    def stop(self) -> None:
        import ray

        ray.shutdown()

    def idle(self, seconds: float) -> dict[str, float]:
        """The share of a core each category uses while the cluster has nothing to do."""
        with TreeSampler(exclude=self.exclude) as sampler:
            time.sleep(seconds)
        cmdlines = {pid: _cmdline(pid) or sampler.cmdlines[pid] for pid in sampler.known}
        series = sampler.series(categorize(cmdlines, set()))
        span = sampler.samples[-1][0] - sampler.samples[0][0]
        return {name: values[-1][1] / span for name, values in series.items()}

    def dataset(self, rows: int, prefix: str, batch_size: int) -> Any:
        """The rows in the object store, one block per batch."""
        import ray.data

        items = [
            {"id": i, "content": "Hello", "session_id": f"{prefix}{i:06d}"} for i in range(rows)
        ]
        return ray.data.from_items(items, override_num_blocks=max(1, rows // batch_size))

    def run(
        self, rows: int, run_id: str, batch_size: int, prefix: str = "session_"
    ) -> dict[str, Any]:
        """One dataset through the stage; CPU per category, end to end and steady."""
        import ray.data

        # In the object store before the clock starts, as execute_many's request list is.
        source = self.dataset(rows, prefix, batch_size)
        gc.collect()
        with TreeSampler(exclude=self.exclude) as sampler:
            wall0 = time.monotonic()
            out = source.map_batches(
                self.stage,
                fn_constructor_kwargs={
                    "base_url": self.base_url,
                    "api_key": API_KEY,
                    "concurrency": self.per_actor,
                    "run_id": run_id,
                },
                compute=ray.data.ActorPoolStrategy(size=self.actors),
                batch_size=batch_size,
                num_cpus=0.5,
            ).take_all()
            wall1 = time.monotonic()
            # What each process is now (a Ray worker renames itself once it runs something).
            cmdlines = {pid: _cmdline(pid) or sampler.cmdlines[pid] for pid in sampler.known}
            stage_pids = {int(r["bench_pid"]) for r in out}
            cpus: set[int] = set()
            for pid in stage_pids:  # what the actors may run on (pinning is inherited)
                with contextlib.suppress(OSError):
                    cpus |= os.sched_getaffinity(pid)
            # Ray Data ends the pool's actors after the run: wait for them to exit, so that
            # their teardown is measured here and does not run into the next block.
            deadline = wall1 + TEARDOWN_TIMEOUT
            while time.monotonic() < deadline and any(_stat(pid) for pid in stage_pids):
                time.sleep(SAMPLE_INTERVAL)
            wall2 = time.monotonic()
        bad = [r for r in out if r["status"] != "ok"]
        if bad or len(out) != rows:
            raise RuntimeError(f"ray: {len(bad)} of {len(out)} rows failed, first: {bad[:1]}")
        start = min(float(r["bench_start"]) for r in out)
        end = max(float(r["bench_end"]) for r in out)
        category_of = categorize(cmdlines, stage_pids)
        series = sampler.series(category_of)
        processes = [
            {"pid": pid, "category": category_of(pid), "command": cmdlines[pid][:100], "cpu_s": cpu}
            for pid, cpu in sorted(sampler.per_process().items(), key=lambda item: -item[1])
            if cpu > 0
        ]
        steady = {k: interpolate(v, end) - interpolate(v, start) for k, v in series.items()}
        total = {k: interpolate(v, wall1) for k, v in series.items()}
        teardown = {k: v[-1][1] - interpolate(v, wall1) for k, v in series.items()}
        per_actor: dict[int, tuple[float, float]] = {}
        for r in out:
            low, high = per_actor.get(int(r["bench_pid"]), (float("inf"), 0.0))
            per_actor[int(r["bench_pid"])] = (
                min(low, float(r["bench_cpu0"])),
                max(high, float(r["bench_cpu1"])),
            )
        return {
            "rows": rows,
            "batch_size": batch_size,
            "wall_s": wall1 - wall0,
            "steady_s": end - start,
            "actors_ready_s": start - wall0,
            "rows_per_s": rows / (wall1 - wall0),
            "steady_rows_per_s": rows / (end - start),
            "teardown_s": wall2 - wall1,
            "cpu_s": {"end_to_end": total, "steady": steady, "teardown": teardown},
            "actors": len(stage_pids),
            "actor_cpus": sorted(cpus),
            "actor_cpu_in_process_s": sum(high - low for low, high in per_actor.values()),
            "processes": processes,
            "readings": len(sampler.samples),
            "sampler_cpu_s": sampler.sampler_cpu,
        }


# ---- the whole benchmark -------------------------------------------------------------------


def _per_row(run: dict[str, Any], kind: str, names: Sequence[str]) -> float:
    cpu: dict[str, float] = run["cpu_s"][kind]
    return sum(cpu[name] for name in names) / int(run["rows"]) * 1e6


def _over_reps(values: Sequence[float]) -> dict[str, float]:
    return {"median": median(values), "min": min(values), "max": max(values)}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Medians and ranges (min, max) over repetitions; ratios paired per repetition."""
    many_runs, direct_runs = results["execute_many"]["runs"], results["direct"]["runs"]
    summary: dict[str, Any] = {
        "execute_many": {
            "rows_per_s": _over_reps([r["rows_per_s"] for r in many_runs]),
            "cpu_us_per_row": _over_reps([r["cpu_us_per_row"] for r in many_runs]),
        },
        "direct": {
            "rows_per_s": _over_reps([r["rows_per_s"] for r in direct_runs]),
            "cpu_us_per_row": _over_reps([r["cpu_us_per_row"] for r in direct_runs]),
            "cpu_ratio_vs_execute_many": _over_reps(
                [
                    d["cpu_us_per_row"] / m["cpu_us_per_row"]
                    for d, m in zip(direct_runs, many_runs, strict=True)
                ]
            ),
        },
        "ray": {},
    }
    overhead = [name for name in CATEGORIES if name not in CLIENT_CATEGORIES]
    every_run: list[dict[str, Any]] = []
    for size, ray_runs in results["ray"]["runs"].items():
        every_run += ray_runs
        per_size: dict[str, Any] = {}
        for kind, rate in (("steady", "steady_rows_per_s"), ("end_to_end", "rows_per_s")):
            client = [_per_row(r, kind, CLIENT_CATEGORIES) for r in ray_runs]
            per_size[kind] = {
                "rows_per_s": _over_reps([r[rate] for r in ray_runs]),
                "client_cpu_us_per_row": _over_reps(client),
                "overhead_cpu_us_per_row": _over_reps(
                    [_per_row(r, kind, overhead) for r in ray_runs]
                ),
                "total_cpu_us_per_row": _over_reps(
                    [_per_row(r, kind, CATEGORIES) for r in ray_runs]
                ),
                "by_category_us_per_row": {
                    name: _over_reps([_per_row(r, kind, [name]) for r in ray_runs])
                    for name in CATEGORIES
                },
                "client_cpu_ratio_vs_execute_many": _over_reps(
                    [c / m["cpu_us_per_row"] for c, m in zip(client, many_runs, strict=True)]
                ),
                "rows_per_s_ratio_vs_execute_many": _over_reps(
                    [r[rate] / m["rows_per_s"] for r, m in zip(ray_runs, many_runs, strict=True)]
                ),
            }
        summary["ray"][size] = per_size
    summary["ray_per_run"] = {
        "pool_start_s": _over_reps([r["actors_ready_s"] for r in every_run]),
        "cpu_outside_rows_s": _over_reps(
            [
                sum(r["cpu_s"]["end_to_end"].values()) - sum(r["cpu_s"]["steady"].values())
                for r in every_run
            ]
        ),
        "teardown_s": _over_reps([r["teardown_s"] for r in every_run]),
        "teardown_cpu_s": _over_reps([sum(r["cpu_s"]["teardown"].values()) for r in every_run]),
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    if args.from_json is not None:
        earlier: dict[str, Any] = json.loads(args.from_json.read_text(encoding="utf-8"))
        earlier["summary"] = summarize(earlier)
        write_outputs(earlier, args)
        return 0
    pin = not args.no_pin and can_pin()
    raise_nofile_limit()
    if pin:  # before ray.init: every Ray process inherits the affinity
        pin_to(CLIENT_CPU)
    command = "python -m benchmarks.ray_stage " + shlex.join(sys.argv[1:] if argv is None else argv)
    sizes: list[int] = args.batch_size or list(BATCH_SIZES)
    concurrency = args.actors * args.per_actor
    settings = {
        "rows": args.rows,
        "repetitions": args.repetitions,
        "actors": args.actors,
        "per_actor": args.per_actor,
        "execute_many_concurrency": concurrency,
        "batch_sizes": sizes,
        "warmup_rows": WARMUP_ROWS,
        "sample_interval_s": SAMPLE_INTERVAL,
        "ray_num_cpus": 4,
        "actor_num_cpus": 0.5,
    }
    results: dict[str, Any] = {
        "meta": {
            "command": command.strip(),
            "pinned": pin,
            "settings": settings,
            "machine": machine_info(),
        }
    }
    ray_runs: dict[str, list[dict[str, Any]]] = {str(size): [] for size in sizes}
    many_runs: list[dict[str, Any]] = []
    direct_runs: list[dict[str, Any]] = []
    with stub_server(pin=pin) as stub:
        bench = RayBench(base_url=stub.amas_base_url, actors=args.actors, per_actor=args.per_actor)
        bench.exclude = {stub.process.pid}
        log("== the Ray Data stage vs execute_many")
        init_s = bench.start()
        log(f"  ray.init: {init_s:.1f} s")
        try:
            first0 = time.perf_counter()
            first = bench.run(WARMUP_ROWS, "bench-warmup", sizes[0], prefix="warm_")
            first_s = time.perf_counter() - first0
            log(f"  first dataset ({WARMUP_ROWS} rows, starts Ray Data's actors): {first_s:.1f} s")
            for rep in range(args.repetitions):
                ways: list[str | int] = ["one process", *sizes]
                for way in ways if rep % 2 == 0 else ways[::-1]:
                    if isinstance(way, int):
                        row = bench.run(args.rows, f"bench-rep{rep}-{way}", way)
                        ray_runs[str(way)].append(row)
                        log(
                            f"  rep {rep} ray, batch_size {way}: {row['rows_per_s']:5.0f} rows/s "
                            f"whole run, {row['steady_rows_per_s']:5.0f} steady; client CPU "
                            f"{_per_row(row, 'steady', CLIENT_CATEGORIES):4.0f} us/row steady, "
                            f"all Ray {_per_row(row, 'steady', CATEGORIES):4.0f} us/row"
                        )
                        continue
                    one = ("execute_many", "direct") if rep % 2 == 0 else ("direct", "execute_many")
                    found = run_one_process(stub.amas_base_url, args.rows, concurrency, pin, one)
                    many_runs.append(found["execute_many"])
                    direct_runs.append(found["direct"])
                    for name in one:
                        log(
                            f"  rep {rep} {name}: {found[name]['rows_per_s']:5.0f} rows/s, "
                            f"CPU {found[name]['cpu_us_per_row']:4.0f} us/row"
                        )
            idle = bench.idle(IDLE_SECONDS)
            log(f"  idle cluster: {sum(idle.values()) * 100:.1f}% of a core")
        finally:
            bench.stop()
    results["ray"] = {
        "init_s": init_s,
        "first_dataset_s": first_s,
        "first": first,
        "idle_core_share": idle,
        "runs": ray_runs,
    }
    results["execute_many"] = {"runs": many_runs}
    results["direct"] = {"runs": direct_runs}
    results["summary"] = summarize(results)
    results["meta"]["elapsed_s"] = time.perf_counter() - started
    results["meta"]["load_average_at_end"] = os.getloadavg()
    write_outputs(results, args)
    log(f"elapsed: {time.perf_counter() - started:.0f} s of wall-clock time")
    return 0


# ---- output --------------------------------------------------------------------------------


def _cell(stat: dict[str, Any], digits: int = 0) -> str:
    return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"


def render_markdown(results: dict[str, Any]) -> str:
    meta, s = results["meta"], results["summary"]
    cfg, machine, ray = meta["settings"], meta["machine"], results["ray"]
    load = machine.get("load_average_at_start")
    load_text = " / ".join(f"{v:.2f}" for v in load) if load else "n/a"
    end_load = meta.get("load_average_at_end")
    if end_load:
        load_text += ", at the end " + " / ".join(f"{v:.2f}" for v in end_load)
    versions = machine["versions"]
    sizes = [str(size) for size in cfg["batch_sizes"]]
    pinned = (
        "the measuring side (the driver, so every Ray process, and the one-process worker) "
        "pinned to CPU 0 and the stub to CPU 1, so every way has one core"
        if meta["pinned"]
        else "nothing pinned: the client side, Ray and the stub share both cores"
    )
    reps = cfg["repetitions"]
    out = [
        f"Run of {machine['time']}: `{meta['command']}`, {meta['elapsed_s']:.0f} s of "
        "wall-clock time.",
        "",
        f"- Machine: {machine['cpu_model']}, {machine['cpu_count']} cores; load average at "
        f"start {load_text}; Python {machine['python']}, Ray {results.get('ray_version')}, "
        f"amas-async {versions.get('amas-async')}, aiohttp {versions.get('aiohttp')}",
        f"- Server: the stub (`benchmarks/stub_server.py`, its own process). {cfg['rows']} "
        "rows per run, each with its own pre-made session id (the stub answers any), content "
        f"`Hello`; {reps} repetitions, the order of the ways alternating; {pinned}",
        f"- One process (a fresh one per repetition): `runtime.execute_many(requests, "
        f"concurrency={cfg['execute_many_concurrency']})`, and `AmasExecute(concurrency="
        f"{cfg['execute_many_concurrency']}, run_id=...)` called directly on one NumPy batch "
        "of all rows, each after 200 warm-up rows",
        f"- Ray: `ray.init(num_cpus={cfg['ray_num_cpus']})`, `ray.data.from_items(rows)` (in "
        "the object store before the clock starts, one block per batch), `.map_batches("
        f"AmasExecute, compute=ActorPoolStrategy(size={cfg['actors']}), "
        f"fn_constructor_kwargs={{'concurrency': {cfg['per_actor']}, ...}}, batch_size=B, "
        f"num_cpus={cfg['actor_num_cpus']})`, `.take_all()`; Ray Data's "
        "`wait_for_min_actors_s` set, so rows start once the pool is up",
        f"- At most {cfg['execute_many_concurrency']} requests in flight either way "
        f"({cfg['actors']} actors x {cfg['per_actor']} for Ray)",
        "",
        f"Medians over {reps} repetitions, (min-max) in brackets; ratios paired per "
        "repetition. *Client CPU*: the process, for one process; the driver plus the stage's "
        "actors, for Ray. *Rest of Ray*: the raylet, the GCS and every other Ray process.",
        "",
        "| Way | Rows/s | Client CPU us/row | vs execute_many | Rest of Ray us/row |",
        "|---|---:|---:|---:|---:|",
    ]
    many, direct = s["execute_many"], s["direct"]
    out += [
        f"| `execute_many` | {_cell(many['rows_per_s'])} | {_cell(many['cpu_us_per_row'])} "
        "| 1.00x | - |",
        f"| `AmasExecute` called directly, no Ray | {_cell(direct['rows_per_s'])} | "
        f"{_cell(direct['cpu_us_per_row'])} | {_cell(direct['cpu_ratio_vs_execute_many'], 2)}x "
        "| - |",
    ]
    for size in sizes:
        for kind, label in (
            ("steady", "steady (first batch's start to last batch's end)"),
            ("end_to_end", "whole run (`map_batches` to `take_all` returning)"),
        ):
            r = s["ray"][size][kind]
            out.append(
                f"| Ray, `batch_size={size}`, {label} | {_cell(r['rows_per_s'])} | "
                f"{_cell(r['client_cpu_us_per_row'])} | "
                f"{_cell(r['client_cpu_ratio_vs_execute_many'], 2)}x | "
                f"{_cell(r['overhead_cpu_us_per_row'])} |"
            )
    head = " | ".join(f"B={size} steady | B={size} whole run" for size in sizes)
    out += [
        "",
        "Ray's CPU per row by process, us/row:",
        "",
        f"| Process | {head} |",
        "|---|" + "---:|" * (2 * len(sizes)),
    ]
    for name in CATEGORIES:
        cells = " | ".join(
            f"{_cell(s['ray'][size][kind]['by_category_us_per_row'][name])}"
            for size in sizes
            for kind in ("steady", "end_to_end")
        )
        out.append(f"| {name} | {cells} |")
    run = s["ray_per_run"]
    idle = ray["idle_core_share"]
    out += [
        "",
        "Fixed costs, not in the steady rows/s: `ray.init` "
        f"{ray['init_s']:.1f} s; the session's first dataset ({cfg['warmup_rows']} rows, which "
        f"also starts Ray Data's own actors) {ray['first_dataset_s']:.1f} s. Then every run "
        f"(any batch size): the actor pool's start {_cell(run['pool_start_s'], 1)} s from "
        f"`map_batches` to the first batch; {_cell(run['cpu_outside_rows_s'], 1)} CPU-seconds "
        "outside the steady window (the pool's start and the wind-down until `take_all` "
        f"returns); after it, the actors' exit {_cell(run['teardown_s'], 1)} s and "
        f"{_cell(run['teardown_cpu_s'], 1)} CPU-seconds. An idle cluster (after the runs, "
        f"{IDLE_SECONDS:.0f} s) used {sum(idle.values()) * 100:.1f}% of a core.",
    ]
    return "\n".join(out) + "\n"


def publish_markdown(path: Path, generated: str) -> None:
    """Replace the part of ``path`` between this benchmark's markers (they must exist)."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN!r} ... {END!r} markers: add the section first")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{generated}\n{END}{tail}", encoding="utf-8")


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    with contextlib.suppress(Exception):
        from importlib import metadata

        results.setdefault("ray_version", metadata.version("ray"))
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    markdown = render_markdown(results)
    output.with_suffix(".md").write_text(markdown, encoding="utf-8")
    if args.publish:
        publish_markdown(DOCS_DIR / "benchmarks.md", markdown)
    log("")
    log(markdown)
    log(f"results: {output} (and {output.with_suffix('.md').name})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ray_stage", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--rows", type=int, default=ROWS, help="rows per run (default 2000)")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--actors", type=int, default=ACTORS, help="Ray actors (default 2)")
    parser.add_argument(
        "--per-actor", type=int, default=PER_ACTOR, help="requests in flight per actor"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        action="append",
        help="a map_batches batch_size to measure (repeatable; default: 100 and 500)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to two CPUs")
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "ray_stage.json",
        help="the JSON results (default: benchmarks/results/ray_stage.json)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also rewrite the generated table of docs/benchmarks.md's Ray section",
    )
    parser.add_argument(
        "--from-json", type=Path, metavar="PATH", help="run nothing: re-render an earlier run"
    )
    # The execute_many side, in its own process (internal).
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--blocks", type=int, default=BLOCKS_PER_PROCESS, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
