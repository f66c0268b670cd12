"""Run the benchmark suite: ``python -m benchmarks`` or ``python benchmarks/run.py`` (repo root).

Suites: ``execute`` (every client, concurrency 1/16/128, plus the sync shim), ``batch``
(execute_many), ``memory`` (in-flight requests, fresh processes), ``upload`` (200 MB image),
``imports``. Results go to benchmarks/results/latest.json (and .md, and the chart); with
``--publish`` also to docs/benchmarks.json, docs/benchmarks-cpu.png and the generated part of
docs/benchmarks.md. ``--quick`` runs only what the goals need, with fewer and shorter
repetitions (67 s measured on the 2 shared cores with other work running); the full run takes
about 7 minutes. Both print the goals summary and their own elapsed time at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/run.py``: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import batch, execute, goals, imports, report
from benchmarks.common import (
    CLIENT_CPU,
    DOCS_DIR,
    RESULTS_DIR,
    can_pin,
    linear_fit,
    machine_info,
    median,
    pin_to,
    raise_nofile_limit,
    run_worker,
    spread,
    stub_server,
)
from benchmarks.memory import CLIENTS as MEMORY_CLIENTS
from benchmarks.upload import CLIENTS as UPLOAD_CLIENTS
from benchmarks.upload import make_image

SUITES = ("execute", "batch", "memory", "upload", "imports")


def log(message: str) -> None:
    print(message, flush=True)


# ---- settings -----------------------------------------------------------------------------


def settings_for(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "execute": {
                "concurrencies": (1, 16, 128),
                "repetitions": 5,
                "n": 500,
                "n_c1": 200,
                "clients": execute.GOAL_CLIENTS,
            },
            "batch": {"n": 300, "repetitions": 2},
            "memory": {"sizes": (2000,), "rss_repetitions": 2, "tracemalloc": False},
            "upload": {"bytes": 20_000_000, "repetitions": 3},
            "imports": {"repetitions": 5},
        }
    return {
        "execute": {
            "concurrencies": (1, 16, 128),
            "repetitions": 9,
            "n": 2000,
            "n_c1": 1000,
            "clients": None,
        },
        "batch": {"n": 2000, "repetitions": 6},
        "memory": {"sizes": (100, 1000, 10_000), "rss_repetitions": 3, "tracemalloc": True},
        "upload": {"bytes": 200_000_000, "repetitions": 5},
        "imports": {"repetitions": 15},
    }


# ---- suites -------------------------------------------------------------------------------


def run_execute(cfg: dict[str, Any], pin: bool) -> dict[str, Any]:
    with stub_server(pin=pin) as stub:
        return execute.run_suite(
            stub,
            concurrencies=tuple(cfg["concurrencies"]),
            repetitions=cfg["repetitions"],
            n=cfg["n"],
            n_c1=cfg["n_c1"],
            clients=cfg.get("clients"),
            log=log,
        )


def run_batch(cfg: dict[str, Any], pin: bool) -> dict[str, Any]:
    with stub_server(pin=pin) as stub:
        return batch.run_suite(stub, n=cfg["n"], repetitions=cfg["repetitions"], log=log)


def run_memory(cfg: dict[str, Any], pin: bool) -> dict[str, Any]:
    cpu = ["--cpu", str(CLIENT_CPU)] if pin and can_pin() else []
    runs: list[dict[str, Any]] = []
    plan = [
        (n, mode, rep)
        for n in cfg["sizes"]
        for mode, reps in (("rss", cfg["rss_repetitions"]), ("tracemalloc", 1))
        if mode == "rss" or cfg["tracemalloc"]
        for rep in range(reps)
    ]
    with stub_server(hold=True, delay=1.0, pin=pin) as stub:
        for n, mode, rep in plan:
            clients = MEMORY_CLIENTS if rep % 2 == 0 else MEMORY_CLIENTS[::-1]
            for client in clients:
                args = ["--client", client, "--n", str(n), "--origin", stub.origin]
                row = run_worker("memory", *args, "--mode", mode, *cpu)
                row["rep"] = rep
                runs.append(row)
                log(
                    f"  memory: {client:8s} n={n:<6d} {mode:11s} "
                    f"{row['bytes_per_request'] / 1024:6.2f} KiB/request "
                    f"(all in flight after {row['seconds_to_all_in_flight']:.1f} s)"
                )
    return {"settings": dict(cfg), "runs": runs, "summary": memory_summary(runs)}


def memory_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode: medians (and IQRs) of the growth per client and size, the fit over sizes, and
    the AsyncAmas / raw aiohttp ratio per size (median of per-repetition ratios, and IQR)."""
    summary: dict[str, Any] = {}
    for mode in ("rss", "tracemalloc"):
        rows = [r for r in runs if r["mode"] == mode]
        if not rows:
            continue
        sizes = sorted({r["n"] for r in rows})
        per: dict[str, dict[str, Any]] = {}
        for client in MEMORY_CLIENTS:
            samples = {
                n: [r["growth_bytes"] for r in rows if r["client"] == client and r["n"] == n]
                for n in sizes
            }
            growth = {n: median(samples[n]) for n in sizes}
            slope, intercept, r2 = linear_fit(list(growth), list(growth.values()))
            per[client] = {
                "bytes_per_request": {str(n): growth[n] / n for n in sizes},
                "bytes_per_request_iqr": {
                    str(n): [v / n for v in spread(samples[n])] for n in sizes
                },
                "growth_bytes": {str(n): growth[n] for n in sizes},
                "fit_bytes_per_request": slope,
                "fit_intercept_bytes": intercept,
                "fit_r2": r2,
            }
        by_rep = {(r["client"], r["n"], r["rep"]): r["growth_bytes"] for r in rows}
        ratios: dict[str, list[float]] = {}
        for n in sizes:
            reps = sorted({rep for (client, size, rep) in by_rep if size == n})
            ratios[str(n)] = [
                by_rep[("amas", n, rep)] / by_rep[("aiohttp", n, rep)]
                for rep in reps
                if ("amas", n, rep) in by_rep and ("aiohttp", n, rep) in by_rep
            ]
        summary[mode] = {
            "clients": per,
            "amas_vs_aiohttp": {n: median(values) for n, values in ratios.items()},
            "amas_vs_aiohttp_iqr": {n: list(spread(values)) for n, values in ratios.items()},
            "sizes": sizes,
        }
    return summary


def run_upload(cfg: dict[str, Any], pin: bool) -> dict[str, Any]:
    cpu = ["--cpu", str(CLIENT_CPU)] if pin and can_pin() else []
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="amas-bench-") as tmp:
        big, warm = os.path.join(tmp, "big.png"), os.path.join(tmp, "warm.png")
        make_image(big, cfg["bytes"])
        make_image(warm, 1_000_000)
        with stub_server(pin=pin) as stub:
            for rep in range(cfg["repetitions"]):
                clients = UPLOAD_CLIENTS if rep % 2 == 0 else UPLOAD_CLIENTS[::-1]
                for client in clients:
                    args = ["--client", client, "--file", big, "--warm-file", warm]
                    row = run_worker("upload", *args, "--origin", stub.origin, *cpu)
                    row["rep"] = rep
                    runs.append(row)
                    log(
                        f"  upload: {client:8s} {row['throughput_mb_s']:7.0f} MB/s, "
                        f"peak RSS +{row['peak_growth_bytes'] / 2**20:.1f} MiB"
                    )
    summary: dict[str, Any] = {}
    for client in UPLOAD_CLIENTS:
        rows = [r for r in runs if r["client"] == client]
        throughput = [r["throughput_mb_s"] for r in rows]
        growth = [r["peak_growth_bytes"] / 1e6 for r in rows]
        summary[client] = {
            "throughput_mb_s": median(throughput),
            "throughput_iqr": list(spread(throughput)),
            "peak_growth_mb": median(growth),
            "peak_growth_mb_iqr": list(spread(growth)),
            "max_peak_growth_mb": max(growth),
            "cpu_seconds": median([r["cpu_seconds"] for r in rows]),
        }
    by_rep = {(r["client"], r["rep"]): r for r in runs}
    ratios = [
        by_rep[("amas", rep)]["throughput_mb_s"] / by_rep[("aiohttp", rep)]["throughput_mb_s"]
        for rep in range(cfg["repetitions"])
    ]
    return {
        "settings": dict(cfg),
        "runs": runs,
        "summary": summary,
        "throughput_ratio": median(ratios),
        "throughput_ratio_iqr": spread(ratios),
    }


def run_imports(cfg: dict[str, Any], pin: bool) -> dict[str, Any]:
    return imports.run_suite(repetitions=cfg["repetitions"], log=log)


RUNNERS = {
    "execute": run_execute,
    "batch": run_batch,
    "memory": run_memory,
    "upload": run_upload,
    "imports": run_imports,
}


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the goals' clients, fewer and shorter repetitions (about 70 s)",
    )
    parser.add_argument(
        "--only", action="append", choices=SUITES, help="run only this suite (repeatable)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS_DIR / "latest.json",
        help="where to write the JSON results (default: benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also write docs/benchmarks.json, docs/benchmarks-cpu.png and the tables of "
        "docs/benchmarks.md",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the client and the stub to two CPUs"
    )
    parser.add_argument("--no-chart", action="store_true", help="skip the matplotlib chart")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="run nothing: re-render the tables (and --publish) from an earlier results file",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
        results["goals"] = goals.evaluate(results)
        write_outputs(results, args)
        return 0
    pin = not args.no_pin and can_pin()
    suites = args.only or list(SUITES)
    cfg = settings_for(args.quick)
    raise_nofile_limit()
    if pin:
        pin_to(CLIENT_CPU)
    # Loopback only: no proxy from the environment for the clients in this process.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "meta": {
            "command": command.strip(),
            "quick": args.quick,
            "suites": suites,
            "pinned": pin,
            "settings": {name: cfg[name] for name in suites},
            "machine": machine_info(),
        }
    }
    for name in suites:
        log(f"== {name}")
        suite_started = time.perf_counter()
        results[name] = RUNNERS[name](cfg[name], pin)
        results[name]["seconds"] = time.perf_counter() - suite_started
        log(f"   ({results[name]['seconds']:.0f} s)")
    results["meta"]["duration_s"] = time.perf_counter() - started
    results["meta"]["elapsed_s"] = time.perf_counter() - started
    results["goals"] = goals.evaluate(results)
    write_outputs(results, args)
    log(
        f"elapsed: {time.perf_counter() - started:.0f} s of wall-clock time for the whole run "
        f"({'quick' if args.quick else 'full'}; suites: "
        + ", ".join(f"{n} {results[n]['seconds']:.0f} s" for n in suites)
        + ")"
    )
    return 0


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    """The JSON, the tables and the chart; with ``--publish`` also the docs copies."""
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, default=str) + "\n"
    output.write_text(text, encoding="utf-8")
    markdown = report.render_markdown(results, chart="benchmarks-cpu.png")
    output.with_suffix(".md").write_text(markdown, encoding="utf-8")
    chart_path = output.with_name("benchmarks-cpu.png")
    if not args.no_chart and "execute" in results:
        report.plot_cpu(results, chart_path)
    if args.publish:
        DOCS_DIR.mkdir(exist_ok=True)
        (DOCS_DIR / "benchmarks.json").write_text(text, encoding="utf-8")
        report.publish_markdown(DOCS_DIR / "benchmarks.md", markdown)
        if not args.no_chart and "execute" in results:
            report.plot_cpu(results, DOCS_DIR / "benchmarks-cpu.png")
    log("")
    if "execute" in results:
        log(report.render_execute_text(results["execute"]))
        log("")
    log(report.render_goals_text(results["goals"], title=report.summary_title(results)))
    log(f"\nresults: {output} (and {output.with_suffix('.md').name})")


if __name__ == "__main__":
    raise SystemExit(main())
