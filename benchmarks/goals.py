"""The performance goals (issue 11), judged from one run's results: one row per goal.

Every row carries the target, the median over repetitions, its interquartile range (25th-75th
percentile over the same repetitions), the number of repetitions, the value the verdict is
taken on, and the verdict. For every row but two the verdict is taken on the median shown;
the two exceptions say so in their detail and show the value they are judged on:

* the sync shim: the larger of its two medians (extra mean latency per call and extra p50
  latency per call; the row shows the larger one with its IQR, the detail shows both), so
  that the verdict can never pass on one while the detail shows the other failing;
* the upload's peak RSS growth: the worst run (a memory bound), shown in the detail.

The rows go to the JSON (``goals``), the printed summary and the markdown alike: the report
renders these rows and computes nothing of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.common import median, spread
from benchmarks.execute import OPENAI, RAW_JSON, RAW_ORJSON, SDK, SYNC_NAME, paired

#: The size the memory goal is stated at, and the upload's.
MEMORY_GOAL_N = 10_000
UPLOAD_GOAL_BYTES = 200_000_000

LABELS = {
    RAW_JSON: "raw aiohttp + stdlib json",
    RAW_ORJSON: "raw aiohttp + orjson",
    SDK: "AsyncAmas",
    OPENAI: "openai",
}


def _row(
    goal: str,
    target: str,
    limit: float,
    unit: str,
    values: Sequence[float],
    *,
    at_most: bool = True,
    judged: float | None = None,
    judged_on: str = "median",
    detail: str = "",
    reason: str = "",
) -> dict[str, Any]:
    """One goal: ``values`` are per-repetition figures (empty: not measured, ``reason`` why)."""
    if not values:
        return {
            "goal": goal,
            "target": target,
            "limit": limit,
            "unit": unit,
            "at_most": at_most,
            "median": None,
            "iqr": None,
            "repetitions": 0,
            "values": [],
            "judged": None,
            "judged_on": judged_on,
            "digits": DIGITS.get(unit, 2),
            "pass": None,
            "verdict": "not run",
            "detail": reason or "not measured in this run",
        }
    mid = median(values)
    value = mid if judged is None else judged
    ok = value <= limit if at_most else value >= limit
    digits = _digits(mid, limit, at_most, ok, unit) if judged is None else DIGITS.get(unit, 2)
    return {
        "goal": goal,
        "target": target,
        "limit": limit,
        "unit": unit,
        "at_most": at_most,
        "median": mid,
        "iqr": list(spread(values)),
        "repetitions": len(values),
        "values": list(values),
        "judged": value,
        "judged_on": judged_on,
        "digits": digits,
        "pass": ok,
        "verdict": "pass" if ok else "miss",
        "detail": detail,
    }


#: Decimals each unit is shown with (more only where needed: see ``_digits``).
DIGITS = {"x": 2, "us": 0, "MB": 1}


def _digits(value: float, limit: float, at_most: bool, ok: bool, unit: str) -> int:
    """The decimals to show ``value`` with, so that the figure shown is on the same side of
    the limit as the verdict (1.004x is shown as 1.004x beside a miss of <= 1.0x, not 1.00x)."""
    base = DIGITS.get(unit, 2)
    for digits in range(base, base + 4):
        shown = round(value, digits)
        if (shown <= limit if at_most else shown >= limit) == ok:
            return digits
    return base + 4


def fmt(value: float | None, unit: str, digits: int | None = None) -> str:
    """A figure with its unit, as the tables show it."""
    if value is None or value != value:  # None or NaN
        return "n/a"
    d = DIGITS.get(unit, 2) if digits is None else digits
    if unit == "x":
        return f"{value:.{d}f}x"
    if unit == "us":
        return f"{value:+.{d}f} us"
    if unit == "MB":
        return f"{value:.{d}f} MB"
    return f"{value:.{d}f} {unit}"


def fmt_iqr(iqr: Sequence[float] | None, unit: str, digits: int | None = None) -> str:
    if not iqr:
        return "n/a"
    return f"{fmt(iqr[0], unit, digits)} to {fmt(iqr[1], unit, digits)}"


def shown(row: dict[str, Any]) -> tuple[str, str]:
    """A goal row's median and IQR as every renderer shows them."""
    digits = row.get("digits")
    return fmt(row["median"], row["unit"], digits), fmt_iqr(row["iqr"], row["unit"], digits)


def _cpu(ex: dict[str, Any], client: str, c: int) -> str:
    row = ex["summary"].get(client, {}).get(str(c))
    if row is None:
        return f"{LABELS.get(client, client)} n/a"
    low, high = row["cpu_us_iqr"]
    return (
        f"{LABELS.get(client, client)} {row['cpu_us_per_request']:.0f} us "
        f"(IQR {low:.0f}-{high:.0f})"
    )


def _missing(ex: dict[str, Any] | None, *clients: str) -> str:
    if not ex:
        return "the execute suite was not run"
    skipped = ex.get("skipped", {})
    absent = [c for c in clients if c not in ex.get("summary", {})]
    reasons = [f"{c}: {skipped[c]}" if c in skipped else f"{c}: not run" for c in absent]
    return "; ".join(reasons) or "not measured"


def _cpu_ratio(
    ex: dict[str, Any] | None, goal: str, limit: float, a: str, b: str, c: int, *, at_most: bool
) -> dict[str, Any]:
    target = f"{'<=' if at_most else '>='} {limit:.1f}x"
    if not ex:
        return _row(goal, target, limit, "x", [], at_most=at_most, reason=_missing(ex, a, b))
    ratios = paired(ex["blocks"], a, b, c, "cpu_us_per_request")
    detail = f"client CPU per request: {_cpu(ex, a, c)} vs {_cpu(ex, b, c)}"
    if a == OPENAI:
        ceiling = paired(ex["blocks"], OPENAI, RAW_JSON, c, "cpu_us_per_request")
        if ceiling:
            detail += (
                f"; openai / raw aiohttp + stdlib json {median(ceiling):.2f}x (what a client "
                "exactly as cheap as raw aiohttp would score)"
            )
    return _row(
        goal,
        target,
        limit,
        "x",
        ratios,
        at_most=at_most,
        detail=detail,
        reason=_missing(ex, a, b),
    )


def _per_rep_ratios(by_rep: dict[tuple[str, int], float]) -> list[float]:
    """amas / aiohttp for every repetition that has both, in repetition order."""
    reps = sorted({rep for (_, rep) in by_rep})
    return [
        by_rep[("amas", rep)] / by_rep[("aiohttp", rep)]
        for rep in reps
        if ("amas", rep) in by_rep and ("aiohttp", rep) in by_rep
    ]


def _memory(results: dict[str, Any]) -> dict[str, Any]:
    mem = results.get("memory")
    runs = [r for r in (mem or {}).get("runs", []) if r["mode"] == "rss"]
    sizes = sorted({r["n"] for r in runs})
    n = MEMORY_GOAL_N if MEMORY_GOAL_N in sizes else (max(sizes) if sizes else MEMORY_GOAL_N)
    goal = f"memory per in-flight execute vs raw aiohttp, {n:,} in flight"
    if n != MEMORY_GOAL_N:
        goal += f" (the goal is at {MEMORY_GOAL_N:,})"
    growth = {(r["client"], r["rep"]): r["growth_bytes"] for r in runs if r["n"] == n}
    ratios = _per_rep_ratios(growth)
    detail = ""
    if ratios:
        per = {
            client: median([growth[(client, rep)] for (who, rep) in growth if who == client])
            / n
            / 1024
            for client in ("amas", "aiohttp")
        }
        detail = (
            f"AsyncAmas {per['amas']:.1f} KiB vs raw aiohttp {per['aiohttp']:.1f} KiB per request "
            f"(RSS growth with all {n:,} in flight, over N; medians); ratio per repetition, "
            "each a fresh process per client"
        )
    reason = "the memory suite was not run" if mem is None else "no RSS runs"
    return _row(goal, "<= 1.1x", 1.1, "x", ratios, detail=detail, reason=reason)


def _sync(ex: dict[str, Any] | None) -> dict[str, Any]:
    goal = "sync shim: extra time per call over the async call"
    if not ex or ex.get("sync_skipped"):
        why = (ex or {}).get("sync_skipped") or "the execute suite was not run"
        return _row(goal, "<= +50 us", 50.0, "us", [], reason=why)
    blocks = ex["blocks"]
    mean = paired(blocks, SYNC_NAME, SDK, 1, "mean_latency_us", op="diff")
    p50 = [d * 1e3 for d in paired(blocks, SYNC_NAME, SDK, 1, "p50_ms", op="diff")]
    cpu = paired(blocks, SYNC_NAME, SDK, 1, "cpu_us_per_request", op="diff")
    if not mean:
        return _row(goal, "<= +50 us", 50.0, "us", [], reason="no paired blocks at C=1")
    larger, values = ("mean", mean) if median(mean) >= median(p50) else ("p50", p50)

    def part(name: str, series: list[float]) -> str:
        low, high = spread(series)
        return f"{name} {median(series):+.0f} us (IQR {low:+.0f} to {high:+.0f})"

    detail = (
        f"per call, sync minus async, paired per repetition: {part('mean latency', mean)}, "
        f"{part('p50 latency', p50)}, {part('client CPU', cpu)}; the row shows, and the "
        f"verdict is taken on, the larger of mean and p50 (here: {larger})"
    )
    return _row(
        goal,
        "<= +50 us",
        50.0,
        "us",
        values,
        judged_on=f"the larger of the mean and p50 medians ({larger})",
        detail=detail,
    )


def _upload(results: dict[str, Any]) -> list[dict[str, Any]]:
    up = results.get("upload")
    size = (up or {}).get("settings", {}).get("bytes", UPLOAD_GOAL_BYTES)
    what = f"upload {size / 1e6:.0f} MB"
    if size != UPLOAD_GOAL_BYTES:
        what += f" (the goal is {UPLOAD_GOAL_BYTES / 1e6:.0f} MB)"
    runs = (up or {}).get("runs", [])
    growth = [r["peak_growth_bytes"] / 1e6 for r in runs if r["client"] == "amas"]
    raw = [r["peak_growth_bytes"] / 1e6 for r in runs if r["client"] == "aiohttp"]
    reason = "the upload suite was not run"
    rss_detail = ""
    if growth:
        rss_detail = (
            f"AsyncAmas.images.upload(path): peak RSS (VmHWM) minus RSS before, per fresh "
            f"process; worst run {max(growth):.1f} MB (the verdict is taken on the worst run); "
            f"raw aiohttp median {median(raw):.1f} MB"
        )
    rss = _row(
        f"{what}: peak RSS growth",
        "<= 16 MB",
        16.0,
        "MB",
        growth,
        judged=max(growth) if growth else None,
        judged_on="the worst run",
        detail=rss_detail,
        reason=reason,
    )
    by_rep = {(r["client"], r["rep"]): r["throughput_mb_s"] for r in runs}
    ratios = _per_rep_ratios(by_rep)
    tput_detail = ""
    if up and ratios:
        summary = up["summary"]
        tput_detail = (
            f"AsyncAmas {summary['amas']['throughput_mb_s']:.0f} MB/s vs raw aiohttp (FormData + "
            f"file object) {summary['aiohttp']['throughput_mb_s']:.0f} MB/s (medians)"
        )
    tput = _row(
        f"{what}: throughput vs raw aiohttp",
        ">= 0.9x",
        0.9,
        "x",
        ratios,
        at_most=False,
        detail=tput_detail,
        reason=reason,
    )
    return [rss, tput]


def _imports(results: dict[str, Any]) -> dict[str, Any]:
    imp = results.get("imports")
    goal = "import amas_async vs what it imports (.pyc)"
    if not imp or "amas_vs_its_imports" not in imp:
        return _row(goal, "<= 1.2x", 1.2, "x", [], reason="the imports suite was not run")
    samples = imp["samples_ms"]
    ratios = [a / d for a, d in zip(samples["amas_async"], samples["its_imports"], strict=True)]
    base = imp["baseline"]
    code = imp["bytecode"]
    detail = (
        f"amas_async {imp['ms']['amas_async']:.0f} ms vs its imports {imp['ms']['its_imports']:.0f}"
        f" ms (medians): the {base['modules']} modules `import amas_async` adds to a bare "
        f"interpreter ({len(base['top_level'])} top-level; same set checked: "
        f"{'yes' if base['exact'] else 'no'}); .pyc compiled by a warm-up into a private "
        f"PYTHONPYCACHEPREFIX ({code['pyc_files_after_warmup']} files; "
        f"{code['pyc_files_after_timed_runs'] - code['pyc_files_after_warmup']} more written "
        "while timing)"
    )
    return _row(goal, "<= 1.2x", 1.2, "x", ratios, detail=detail)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal of the issue, in the issue's order, judged on this run's measurements."""
    ex = results.get("execute")
    rows = [
        _cpu_ratio(
            ex,
            f"execute CPU vs raw aiohttp + stdlib json, C={c}",
            1.0,
            SDK,
            RAW_JSON,
            c,
            at_most=True,
        )
        for c in (1, 16, 128)
    ]
    rows += [
        _cpu_ratio(
            ex,
            f"execute CPU vs raw aiohttp + orjson, C={c}",
            1.1,
            SDK,
            RAW_ORJSON,
            c,
            at_most=True,
        )
        for c in (16, 128)
    ]
    rows += [
        _cpu_ratio(
            ex,
            f"openai default client CPU / AsyncAmas CPU, C={c}",
            10.0,
            OPENAI,
            SDK,
            c,
            at_most=False,
        )
        for c in (16, 128)
    ]
    rows.append(_memory(results))
    rows.append(_sync(ex))
    rows += _upload(results)
    rows.append(_imports(results))
    return rows
