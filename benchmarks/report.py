"""Rendering: the goals summary (printed and markdown), the detail tables, and the chart.

Nothing here judges anything: the goal rows come from ``benchmarks.goals`` (stored in the
results JSON as ``goals``), and every table shows medians over repetitions with their
interquartile range (IQR: 25th to 75th percentile).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import median, spread
from benchmarks.execute import OPENAI, RAW_JSON, RAW_ORJSON, SDK, SYNC_NAME, paired
from benchmarks.goals import shown

BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks --publish -->"
END = "<!-- END GENERATED -->"

#: Client order in tables and in the chart.
ORDER = (
    RAW_JSON,
    RAW_ORJSON,
    SDK,
    "AsyncAmas(max_retries=0)",
    "aiohttp+tenacity",
    "httpx",
    OPENAI,
    SYNC_NAME,
)


def _f(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _iqr(pair: Any, digits: int = 2) -> str:
    if not pair:
        return "n/a"
    return f"{_f(pair[0], digits)}-{_f(pair[1], digits)}"


# ---- the goals summary --------------------------------------------------------------------


def _verdict_md(row: dict[str, Any]) -> str:
    return {"pass": "pass", "miss": "**miss**"}.get(row["verdict"], row["verdict"])


def render_goals_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Goal | Target | Median | IQR | Reps | Verdict | Detail |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        mid, iqr = shown(row)
        lines.append(
            f"| {row['goal']} | {row['target']} | {mid} | {iqr} | {row['repetitions']} "
            f"| {_verdict_md(row)} | {row['detail']} |"
        )
    return "\n".join(lines)


def render_goals_text(rows: list[dict[str, Any]], *, title: str = "") -> str:
    """The summary for a terminal: aligned columns, then each row's detail below it."""
    cells = [
        (
            row["goal"],
            row["target"],
            *shown(row),
            str(row["repetitions"]),
            row["verdict"].upper() if row["verdict"] == "miss" else row["verdict"],
        )
        for row in rows
    ]
    head = ("goal", "target", "median", "IQR", "reps", "verdict")
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    right = {2, 3, 4}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [title] if title else []
    out += [line(head), "  ".join("-" * w for w in widths)]
    for row, values in zip(rows, cells, strict=True):
        out.append(line(values))
        if row["detail"]:
            out.append(f"    {row['detail']}")
    return "\n".join(out)


def summary_title(results: dict[str, Any]) -> str:
    meta = results["meta"]
    mode = "quick run" if meta.get("quick") else "full run"
    return (
        f"Goals ({mode}): median over repetitions, IQR = 25th to 75th percentile over the same "
        "repetitions; ratios are paired per repetition"
    )


# ---- markdown -----------------------------------------------------------------------------


def render_markdown(results: dict[str, Any], *, chart: str | None = None) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    elapsed = meta.get("elapsed_s", meta.get("duration_s", 0))
    out = [
        f"Run of {machine['time']}: `{meta['command']}`, {elapsed:.0f} s of wall-clock time"
        f"{' (quick run)' if meta['quick'] else ''}.",
        "",
        f"- Machine: {machine['cpu_model']}, {machine['cpu_count']} cores "
        f"({machine['cpus_usable']} usable), {machine['platform']}; load average at start "
        f"{_load(machine)}",
        f"- Python {machine['python']} ({machine['python_implementation']}); {versions}",
        f"- Client pinned to CPU 0 and stub server to CPU 1: {'yes' if meta['pinned'] else 'no'}",
        "",
        "### Summary",
        "",
        "One row per goal. *Median* is the median over repetitions and *IQR* its interquartile "
        "range (25th to 75th percentile) over the same repetitions; every ratio is taken "
        "between blocks of the same repetition. The verdict is taken on the median shown, "
        "except where the detail names another figure (the sync shim: the larger of its mean "
        "and p50 medians; the upload's RSS growth: the worst run).",
        "",
        render_goals_markdown(results.get("goals", [])),
        "",
    ]
    if "execute" in results:
        out += _execute_tables(results["execute"], chart)
    if "batch" in results:
        out += _batch_table(results["batch"])
    if "memory" in results:
        out += _memory_tables(results["memory"])
    if "upload" in results:
        out += _upload_table(results["upload"])
    if "imports" in results:
        out += _imports_tables(results["imports"])
    return "\n".join(out).rstrip() + "\n"


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("load_average_at_start")
    return " / ".join(f"{x:.2f}" for x in load) if load else "n/a"


def _ratio_cell(row: dict[str, Any], baseline: str) -> str:
    ratio = row.get("cpu_ratio_vs", {}).get(baseline)
    if ratio is None:
        return "n/a"
    return f"{_f(ratio['median'])} ({_iqr(ratio['iqr'])})"


def _execute_tables(ex: dict[str, Any], chart: str | None) -> list[str]:
    s = ex["settings"]
    summary = ex["summary"]
    slow = [ex["clients"][n]["label"] for n in ORDER if ex["clients"].get(n, {}).get("slow")]
    quarter = f", a quarter of that for {', '.join(slow)}" if slow else ""
    warmup = ", ".join(f"C={c}: {w}" for c, w in s.get("warmup_requests", {}).items())
    out = [
        "### Execute path",
        "",
        f"{s['repetitions']} repetitions; each block {s['requests_per_block']} requests "
        f"({s['requests_per_block_c1']} at C=1){quarter}; the same warm-up ({warmup} "
        f"requests) and a pool of {s['pool']} connections, all kept alive, for every client; "
        "one client instance per concurrency; the client order alternates forward and "
        "backward between repetitions. Figures are medians over repetitions with the IQR in "
        "brackets; *CPU ratio* is the median of per-repetition ratios to the baseline at the "
        "same concurrency. Client CPU is `time.process_time()` of the client process (all "
        "threads); the stub is another process.",
        "",
        "| Client | How |",
        "|---|---|",
    ]
    for name in ORDER:
        if name in ex["clients"]:
            out.append(f"| {ex['clients'][name]['label']} | `{ex['clients'][name]['how']}` |")
    for name, why in ex.get("skipped", {}).items():
        out.append(f"| {name} | skipped: {why} |")
    out.append("")
    for c in map(str, s["concurrencies"]):
        out += [
            f"**Concurrency {c}**",
            "",
            "| Client | CPU us/request | CPU ratio vs raw aiohttp + json | CPU ratio vs raw "
            "aiohttp + orjson | Throughput req/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name in ORDER:
            row = summary.get(name, {}).get(c)
            if row is None:
                continue
            out.append(
                f"| {ex['clients'].get(name, {}).get('label', name)} "
                f"| {row['cpu_us_per_request']:.0f} ({_iqr(row['cpu_us_iqr'], 0)}) "
                f"| {_ratio_cell(row, RAW_JSON)} | {_ratio_cell(row, RAW_ORJSON)} "
                f"| {row['throughput_rps']:.0f} ({_iqr(row.get('throughput_rps_iqr'), 0)}) "
                f"| {row['p50_ms']:.2f} ({_iqr(row.get('p50_ms_iqr'))}) "
                f"| {row['p99_ms']:.2f} ({_iqr(row.get('p99_ms_iqr'))}) |"
            )
        out.append("")
    out += _openai_lines(ex)
    if chart:
        out += [f"![Client CPU per request by client and concurrency]({chart})", ""]
    return out


def _openai_lines(ex: dict[str, Any]) -> list[str]:
    if OPENAI not in ex["summary"]:
        return []
    cells = []
    for c in ex["settings"]["concurrencies"]:
        vs_sdk = paired(ex["blocks"], OPENAI, SDK, c, "cpu_us_per_request")
        vs_raw = paired(ex["blocks"], OPENAI, RAW_JSON, c, "cpu_us_per_request")
        if not vs_sdk:
            continue
        part = f"C={c} {_f(median(vs_sdk))}x ({_iqr(spread(vs_sdk))})"
        if vs_raw:
            part += f", openai / raw aiohttp {_f(median(vs_raw))}x"
        cells.append(part)
    return [
        "openai SDK / AsyncAmas, CPU per request, at every concurrency (the goal is stated at "
        "C=16 and C=128): " + "; ".join(cells) + ".",
        "",
    ]


def _batch_table(bat: dict[str, Any]) -> list[str]:
    out = ["### execute_many", ""]
    if "skipped" in bat:
        return [*out, bat["skipped"], ""]
    s = bat["settings"]
    out += [
        f"{s['requests']} executions (one session each) at concurrency {s['concurrency']}, "
        f"{s['repetitions']} alternating repetitions, through one `AsyncAmas` (no goal; "
        "reported). Medians with the IQR in brackets; ratios paired per repetition.",
        "",
        "| Way | CPU us/request | CPU ratio | Throughput req/s | Throughput ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in bat["summary"].items():
        out.append(
            f"| {name} | {row['cpu_us_per_request']:.0f} ({_iqr(row['cpu_us_iqr'], 0)}) "
            f"| {row['cpu_ratio_vs_semaphore']:.2f} ({_iqr(row.get('cpu_ratio_iqr'))}) "
            f"| {row['throughput_rps']:.0f} ({_iqr(row.get('throughput_rps_iqr'), 0)}) "
            f"| {row['throughput_ratio_vs_semaphore']:.2f} "
            f"({_iqr(row.get('throughput_ratio_iqr'))}) |"
        )
    return [*out, ""]


def _memory_tables(mem: dict[str, Any]) -> list[str]:
    reps = mem["settings"]["rss_repetitions"]
    out = [
        "### Memory per in-flight request",
        "",
        "Each cell is a fresh process holding N executions in flight at once (the stub delays "
        "each answer 1 s and holds it until all N have arrived); growth over the warmed-up "
        f"client's baseline, divided by N. RSS: median of {reps} repetitions per cell with the "
        "IQR in brackets; the ratio is the median of per-repetition ratios. tracemalloc: one "
        "run per cell.",
        "",
    ]
    for mode, title in (("rss", "RSS"), ("tracemalloc", "tracemalloc (Python allocations)")):
        block = mem["summary"].get(mode)
        if not block:
            continue
        sizes = block["sizes"]
        out += [
            f"**{title}**, KiB per request",
            "",
            "| Client | " + " | ".join(f"N={n}" for n in sizes) + " | fit slope | fit R^2 |",
            "|---|" + "---:|" * (len(sizes) + 2),
        ]
        for client, label in (("aiohttp", "raw aiohttp"), ("amas", "AsyncAmas")):
            row = block["clients"][client]
            cells = " | ".join(
                f"{row['bytes_per_request'][str(n)] / 1024:.2f}"
                + (
                    f" ({_iqr([v / 1024 for v in row['bytes_per_request_iqr'][str(n)]])})"
                    if row.get("bytes_per_request_iqr") and mode == "rss"
                    else ""
                )
                for n in sizes
            )
            fit = len(sizes) > 1
            out.append(
                f"| {label} | {cells} "
                f"| {_f(row['fit_bytes_per_request'] / 1024) if fit else 'n/a'} "
                f"| {_f(row['fit_r2'], 4) if fit else 'n/a'} |"
            )
        ratio_iqr = block.get("amas_vs_aiohttp_iqr", {})
        ratios = " | ".join(
            f"{block['amas_vs_aiohttp'][str(n)]:.2f}x"
            + (f" ({_iqr(ratio_iqr[str(n)])})" if str(n) in ratio_iqr and mode == "rss" else "")
            for n in sizes
        )
        out += [f"| ratio | {ratios} | | |", ""]
        if mode == "rss":
            out += [_linearity(block), ""]
    tops = [
        r
        for r in mem.get("runs", [])
        if r["mode"] == "tracemalloc" and r.get("top_allocations") and r["n"] == _largest(mem)
    ]
    if tops:
        out += _allocation_diff(tops)
    return out


def _linearity(block: dict[str, Any]) -> str:
    sizes = block["sizes"]
    row = block["clients"]["amas"]
    if len(sizes) < 2:
        return "Growth with N: one size only in this run."
    growth = row["growth_bytes"]
    big, next_big = sizes[-1], sizes[-2]
    marginal = (growth[str(big)] - growth[str(next_big)]) / (big - next_big)
    return (
        f"Growth with N (AsyncAmas, no goal): least-squares R^2 {row['fit_r2']:.4f}, "
        f"marginal {marginal / 1024:.1f} KiB per request from {next_big} to {big}."
    )


def _largest(mem: dict[str, Any]) -> int:
    return max(r["n"] for r in mem["runs"] if r["mode"] == "tracemalloc")


def _allocation_diff(rows: list[dict[str, Any]], limit: int = 14) -> list[str]:
    by_client = {
        r["client"]: {a["where"]: a["bytes_per_request"] for a in r["top_allocations"]}
        for r in rows
    }
    if set(by_client) != {"aiohttp", "amas"}:
        return []
    keys = set(by_client["aiohttp"]) | set(by_client["amas"])
    diffs = sorted(
        ((by_client["amas"].get(k, 0.0) - by_client["aiohttp"].get(k, 0.0), k) for k in keys),
        key=lambda d: -abs(d[0]),
    )[:limit]
    out = [
        f"Where AsyncAmas differs from raw aiohttp (tracemalloc, N={rows[0]['n']}, bytes per "
        "in-flight request, by allocating line; top 40 lines of each side compared; one run):",
        "",
        "| Allocated at | raw aiohttp | AsyncAmas | difference |",
        "|---|---:|---:|---:|",
    ]
    for diff, where in diffs:
        out.append(
            f"| `{where}` | {by_client['aiohttp'].get(where, 0.0):.0f} "
            f"| {by_client['amas'].get(where, 0.0):.0f} | {diff:+.0f} |"
        )
    return [*out, ""]


def _upload_table(up: dict[str, Any]) -> list[str]:
    s = up["settings"]
    out = [
        "### Image upload",
        "",
        f"{s['bytes'] / 1e6:.0f} MB file, multipart field `image`; {s['repetitions']} "
        "alternating repetitions, each a fresh process uploading the file 3 times in a row "
        "(median time); peak RSS over the uploads (VmHWM, reset first) minus the RSS before "
        "them (after a 1 MB warm-up upload). Medians over repetitions, IQR in brackets.",
        "",
        "| Client | Throughput MB/s | Peak RSS growth MB | worst run MB | Client CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for client, label in (
        ("aiohttp", "raw aiohttp (FormData + file object)"),
        ("amas", "AsyncAmas.images.upload(path)"),
    ):
        row = up["summary"][client]
        out.append(
            f"| {label} | {row['throughput_mb_s']:.0f} ({_iqr(row.get('throughput_iqr'), 0)}) "
            f"| {row['peak_growth_mb']:.1f} ({_iqr(row.get('peak_growth_mb_iqr'), 1)}) "
            f"| {row['max_peak_growth_mb']:.1f} | {row['cpu_seconds']:.2f} |"
        )
    low, high = up["throughput_ratio_iqr"]
    return [
        *out,
        "",
        f"Throughput ratio AsyncAmas / raw aiohttp: {up['throughput_ratio']:.2f} "
        f"(IQR {low:.2f}-{high:.2f}).",
        "",
    ]


def _imports_tables(imp: dict[str, Any]) -> list[str]:
    base = imp["baseline"]
    code = imp["bytecode"]
    third_party = [m for m in base["top_level"] if m not in sys.stdlib_module_names]
    stdlib = len(base["top_level"]) - len(third_party)
    cython = [m for m in third_party if m.startswith("_cython") or m == "cython_runtime"]
    third_party = [m for m in third_party if m not in cython]
    labels = {
        "nothing": "`pass` (the timer itself)",
        "its_imports": f"what `import amas_async` imports ({base['modules']} modules)",
        "amas_async": "`import amas_async`",
        "openai": "`import openai`",
    }
    out = [
        "### Import time",
        "",
        f"Fresh interpreter per sample, the import statement timed in-process (start-up "
        f"excluded); {imp['settings']['repetitions']} repetitions, alternating order; medians "
        "and IQR; the ratio is the median of per-repetition ratios.",
        "",
        f"The baseline is what `import amas_async` really adds to a bare interpreter: "
        f"{base['modules']} modules under {len(base['top_level'])} top-level names: "
        f"{', '.join(f'`{m}`' for m in third_party)}, {stdlib} of the standard library"
        + (f" and {len(cython)} of Cython's shared runtime" if cython else "")
        + (f", plus {len(base['submodules'])} submodules" if base["submodules"] else "")
        + ". It is imported by name in one statement, and a check in another interpreter found "
        + ("exactly the same set loaded." if base["exact"] else "a different set loaded: ")
        + ("" if base["exact"] else f"missing {base['not_loaded']}, beyond {base['beyond']}."),
        "",
        f"Bytecode: {code['method']} ({code['pyc_files_after_warmup']} .pyc files after the "
        f"warm-up, {code['pyc_files_after_timed_runs']} after the timed runs); "
        f"PYTHONDONTWRITEBYTECODE was "
        f"{'set' if code['dont_write_bytecode_in_environment'] else 'not set'} in the "
        "environment.",
        "",
        "| Import | ms (median) | IQR |",
        "|---|---:|---:|",
    ]
    for name, label in labels.items():
        if name in imp["ms"]:
            out.append(f"| {label} | {imp['ms'][name]:.1f} | {_iqr(imp['ms_iqr'][name], 1)} |")
    low, high = imp["amas_vs_its_imports_iqr"]
    line = (
        f"`amas_async` / its imports: {imp['amas_vs_its_imports']:.2f}x (IQR {low:.2f}-{high:.2f})"
    )
    if "openai_vs_amas" in imp:
        low, high = imp["openai_vs_amas_iqr"]
        line += (
            f"; `openai` / `amas_async`: {imp['openai_vs_amas']:.2f}x (IQR {low:.2f}-{high:.2f})"
        )
    out += ["", line + ".", ""]
    b = imp.get("breakdown")
    if b:
        out += [
            f"`-X importtime` (median of {b['runs']} runs): `import amas_async` spends "
            f"{b['own_modules_ms']:.1f} ms in its own modules (self time) and "
            f"{b['imported_modules_ms']:.1f} ms in the modules it imports.",
            "",
            "| Own module | self ms |",
            "|---|---:|",
        ]
        out += [f"| `{row['module']}` | {row['self_ms']:.2f} |" for row in b["own_top"]]
        out.append("")
    return out


# ---- the terminal's tables ----------------------------------------------------------------


def render_execute_text(ex: dict[str, Any]) -> str:
    """The execute suite's CPU figures, for a terminal: median (IQR) per client."""
    out = ["Execute path, client CPU per request: median (IQR) over repetitions"]
    for c in map(str, ex["settings"]["concurrencies"]):
        out.append(f"  C={c}")
        for name in ORDER:
            row = ex["summary"].get(name, {}).get(c)
            if row is None:
                continue
            label = ex["clients"].get(name, {}).get("label", name)
            out.append(
                f"    {label:30s} {row['cpu_us_per_request']:6.0f} us "
                f"({_iqr(row['cpu_us_iqr'], 0):>9s})   vs json {_ratio_cell(row, RAW_JSON):18s}"
                f"  vs orjson {_ratio_cell(row, RAW_ORJSON)}"
            )
    return "\n".join(out)


def publish_markdown(path: Path, generated: str) -> None:
    """Replace the generated part of docs/benchmarks.md (between the markers)."""
    block = f"{BEGIN}\n\n{generated}\n{END}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n## Results\n\n" + block + "\n", encoding="utf-8")
        return
    path.write_text("# Benchmarks\n\n## Results\n\n" + block + "\n", encoding="utf-8")


# ---- chart --------------------------------------------------------------------------------


def plot_cpu(results: dict[str, Any], path: Path) -> None:
    """Grouped bars: client CPU per request, by client, at each concurrency (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = results["execute"]
    summary = ex["summary"]
    concurrencies = [str(c) for c in ex["settings"]["concurrencies"]]
    clients = [name for name in ORDER if name in summary]
    width = 0.8 / len(clients)
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=120)
    for i, name in enumerate(clients):
        xs, ys, errs = [], [], [[], []]
        for j, c in enumerate(concurrencies):
            row = summary[name].get(c)
            if row is None:
                continue
            low, high = row["cpu_us_iqr"]
            xs.append(j + (i - (len(clients) - 1) / 2) * width)
            ys.append(row["cpu_us_per_request"])
            errs[0].append(max(row["cpu_us_per_request"] - low, 0.0))
            errs[1].append(max(high - row["cpu_us_per_request"], 0.0))
        label = ex["clients"].get(name, {}).get("label", name)
        bars = ax.bar(xs, ys, width, yerr=errs, capsize=2, label=label)
        for bar, y in zip(bars, ys, strict=True):
            ax.annotate(
                f"{y:.0f}",
                (bar.get_x() + bar.get_width() / 2, y),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_yscale("log")
    ax.set_xticks(range(len(concurrencies)))
    ax.set_xticklabels([f"concurrency {c}" for c in concurrencies])
    ax.set_ylabel("client CPU per request (us, log scale)")
    machine = results["meta"]["machine"]
    ax.set_title(
        f"Execute path: client CPU per request (median, IQR bars)\n"
        f"{machine['cpu_model']}, {machine['cpu_count']} cores, Python {machine['python']}",
        fontsize=10,
    )
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
