"""Targets (pass/fail), the markdown tables and the chart, from a results dict."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.execute import SYNC_NAME, paired

BEGIN = "<!-- BEGIN GENERATED: python -m benchmarks --publish -->"
END = "<!-- END GENERATED -->"

#: Client order in tables and in the chart.
ORDER = (
    "aiohttp",
    "AsyncAmas",
    "AsyncAmas(max_retries=0)",
    "aiohttp+tenacity",
    "httpx",
    "openai",
    SYNC_NAME,
)

MIB = 2**20
UPLOAD_LIMIT_MIB = 16.0


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**pass**" if ok else "**FAIL**")


# ---- targets ------------------------------------------------------------------------------


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, judged on ratios measured in the same run."""
    targets: list[dict[str, Any]] = []

    def add(name: str, limit: str, measured: str, ok: bool | None, detail: str = "") -> None:
        targets.append(
            {"target": name, "limit": limit, "measured": measured, "pass": ok, "detail": detail}
        )

    ex = results.get("execute")
    if ex:
        summary = ex["summary"]
        for c, limit in (("1", 1.3), ("16", 1.0), ("128", 1.0)):
            row = summary.get("AsyncAmas", {}).get(c)
            if row is None:
                continue
            ratio = row["cpu_ratio_vs_baseline"]
            low, high = row["cpu_ratio_iqr"]
            add(
                f"execute CPU/request, AsyncAmas vs raw aiohttp, C={c}",
                f"<= {limit:.1f}x",
                f"{ratio:.2f}x (IQR {low:.2f}-{high:.2f})",
                ratio <= limit,
                f"{row['cpu_us_per_request']:.0f} us vs "
                f"{summary['aiohttp'][c]['cpu_us_per_request']:.0f} us",
            )
        for c in map(str, ex["settings"]["concurrencies"]):
            if "openai" not in summary or c not in summary.get("AsyncAmas", {}):
                continue
            ratios = paired(ex["blocks"], "openai", "AsyncAmas", int(c), "cpu_us_per_request")
            ratio = _median(ratios)
            ceiling = _median(
                paired(ex["blocks"], "openai", "aiohttp", int(c), "cpu_us_per_request")
            )
            add(
                f"CPU/request: openai SDK / AsyncAmas, C={c}",
                ">= 10x",
                f"{ratio:.1f}x",
                ratio >= 10.0,
                f"{summary['openai'][c]['cpu_us_per_request']:.0f} us vs "
                f"{summary['AsyncAmas'][c]['cpu_us_per_request']:.0f} us; openai / raw aiohttp "
                f"{ceiling:.1f}x (the ceiling for a client on aiohttp)",
            )
        shim = ex.get("sync_shim", {})
        if "overhead_us_per_call" in shim:
            value = shim["overhead_us_per_call"]
            add(
                "sync shim overhead per call over the async call (C=1)",
                "<= 50 us",
                f"{value:.0f} us",
                value <= 50.0,
                f"median paired difference of mean latency; p50 difference "
                f"{shim['p50_overhead_us']:.0f} us",
            )
        elif shim:
            add("sync shim overhead per call", "<= 50 us", "skipped", None, shim["skipped"])

    mem = results.get("memory", {}).get("summary", {}).get("rss")
    if mem:
        largest = str(max(mem["sizes"]))
        ratio = mem["amas_vs_aiohttp"][largest]
        amas_row = mem["clients"]["amas"]
        raw_row = mem["clients"]["aiohttp"]
        add(
            f"memory per in-flight request at {largest}, AsyncAmas vs raw aiohttp (RSS)",
            "<= 1.1x",
            f"{ratio:.2f}x",
            ratio <= 1.1,
            f"{amas_row['bytes_per_request'][largest] / 1024:.1f} KiB vs "
            f"{raw_row['bytes_per_request'][largest] / 1024:.1f} KiB",
        )
        linear, detail = _linearity(amas_row, mem["sizes"])
        add("memory grows linearly with requests in flight (AsyncAmas)", "linear", detail, linear)

    up = results.get("upload")
    if up:
        growth = up["summary"]["amas"]["max_peak_growth_mib"]
        size_mb = up["settings"]["bytes"] / 1e6
        add(
            f"upload of {size_mb:.0f} MB: peak RSS growth (AsyncAmas, worst run)",
            f"<= {UPLOAD_LIMIT_MIB:.0f} MiB",
            f"{growth:.1f} MiB",
            growth <= UPLOAD_LIMIT_MIB,
        )
        ratio = up["throughput_ratio"]
        add(
            "upload throughput, AsyncAmas vs raw aiohttp",
            ">= 0.9x",
            f"{ratio:.2f}x",
            ratio >= 0.9,
            f"{up['summary']['amas']['throughput_mb_s']:.0f} vs "
            f"{up['summary']['aiohttp']['throughput_mb_s']:.0f} MB/s",
        )

    imp = results.get("imports")
    if imp:
        ratio = imp["amas_vs_dependencies"]
        add(
            "import amas_async vs importing its dependencies",
            "<= 1.2x",
            f"{ratio:.2f}x",
            ratio <= 1.2,
            f"{imp['ms']['amas_async']:.0f} ms vs {imp['ms']['dependencies']:.0f} ms",
        )

    bat = results.get("batch")
    if bat and "skipped" in bat:
        add("execute_many vs semaphore + gather", "(reported)", "skipped", None, bat["skipped"])
    return targets


def _linearity(row: dict[str, Any], sizes: list[int]) -> tuple[bool, str]:
    """Linear: the least-squares line explains the growth (R^2 >= 0.99), and the marginal cost
    between the two largest sizes is within 20% of the bytes per request at the largest
    (a superlinear term would make the marginal cost run away)."""
    if len(sizes) < 2:
        return True, "one size only"
    growth = row["growth_bytes"]
    big, next_big = sizes[-1], sizes[-2]
    per_big = growth[str(big)] / big
    marginal = (growth[str(big)] - growth[str(next_big)]) / (big - next_big)
    r2 = row["fit_r2"]
    ok = r2 >= 0.99 and 0.8 <= marginal / per_big <= 1.2
    shown = " -> ".join(f"{row['bytes_per_request'][str(n)] / 1024:.1f}" for n in sizes)
    return ok, (
        f"R^2 {r2:.4f}; KiB/request {shown} (N = {', '.join(map(str, sizes))}); marginal "
        f"{marginal / 1024:.1f} KiB/request from {next_big} to {big}"
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def render_targets(targets: list[dict[str, Any]]) -> str:
    lines = ["| Target | Limit | Measured | Result | Detail |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(
            f"| {t['target']} | {t['limit']} | {t['measured']} | {_verdict(t['pass'])} "
            f"| {t['detail']} |"
        )
    return "\n".join(lines)


# ---- markdown -----------------------------------------------------------------------------


def render_markdown(results: dict[str, Any], *, chart: str | None = None) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    out = [
        f"Run of {machine['time']}: `{meta['command']}`, "
        f"{meta.get('duration_s', 0):.0f} s{' (quick smoke run)' if meta['quick'] else ''}.",
        "",
        f"- Machine: {machine['cpu_model']}, {machine['cpu_count']} cores "
        f"({machine['cpus_usable']} usable), {machine['platform']}; load average at start "
        f"{_load(machine)}",
        f"- Python {machine['python']} ({machine['python_implementation']}); {versions}",
        f"- Client pinned to CPU 0 and stub server to CPU 1: {'yes' if meta['pinned'] else 'no'}",
        "",
        "### Targets",
        "",
        render_targets(results.get("targets", [])),
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


def _execute_tables(ex: dict[str, Any], chart: str | None) -> list[str]:
    s = ex["settings"]
    summary = ex["summary"]
    out = [
        "### Execute path",
        "",
        f"{s['repetitions']} interleaved repetitions; each block {s['requests_per_block']} "
        f"requests ({s['requests_per_block_c1']} at C=1; a quarter of that for httpx and "
        "openai); medians over repetitions. *CPU ratio* is the median of per-repetition "
        "ratios to raw aiohttp at the same concurrency (IQR in brackets). Client CPU is "
        "`time.process_time()` of the client process (all threads); the stub is another process.",
        "",
    ]
    for c in map(str, s["concurrencies"]):
        out += [
            f"**Concurrency {c}**",
            "",
            "| Client | CPU us/request | CPU ratio vs raw aiohttp | Throughput req/s "
            "| p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in ORDER:
            row = summary.get(name, {}).get(c)
            if row is None:
                continue
            low, high = row["cpu_ratio_iqr"]
            out.append(
                f"| {ex['clients'].get(name, {}).get('label', name)} "
                f"| {row['cpu_us_per_request']:.0f} "
                f"| {row['cpu_ratio_vs_baseline']:.2f} ({low:.2f}-{high:.2f}) "
                f"| {row['throughput_rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |"
            )
        out.append("")
    if chart:
        out += [f"![Client CPU per request by client and concurrency]({chart})", ""]
    shim = ex.get("sync_shim", {})
    out += ["**Sync shim** (`amas_async.Amas`, concurrency 1)", ""]
    if "overhead_us_per_call" in shim:
        low, high = shim["overhead_us_iqr"]
        out += [
            f"Overhead per call over `AsyncAmas` (paired difference of mean latency): "
            f"{shim['overhead_us_per_call']:.0f} us (IQR {low:.0f} to {high:.0f}); of p50 latency "
            f"{shim['p50_overhead_us']:.0f} us; extra client CPU "
            f"{shim['cpu_overhead_us_per_call']:.0f} us per call.",
            "",
        ]
    else:
        out += [f"Skipped: {shim.get('skipped', 'not measured')}", ""]
    return out


def _batch_table(bat: dict[str, Any]) -> list[str]:
    out = ["### execute_many", ""]
    if "skipped" in bat:
        return [*out, bat["skipped"], ""]
    s = bat["settings"]
    out += [
        f"{s['requests']} executions (one session each) at concurrency {s['concurrency']}, "
        f"{s['repetitions']} alternating repetitions, through one `AsyncAmas`.",
        "",
        "| Way | CPU us/request | CPU ratio | Throughput req/s | Throughput ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in bat["summary"].items():
        out.append(
            f"| {name} | {row['cpu_us_per_request']:.0f} | {row['cpu_ratio_vs_semaphore']:.2f} "
            f"| {row['throughput_rps']:.0f} | {row['throughput_ratio_vs_semaphore']:.2f} |"
        )
    return [*out, ""]


def _memory_tables(mem: dict[str, Any]) -> list[str]:
    out = [
        "### Memory per in-flight request",
        "",
        "Each cell is a fresh process holding N executions in flight at once (the stub delays "
        "each answer 1 s and holds it until all N have arrived); growth over the warmed-up "
        "client's baseline, divided by N. Median of the repetitions.",
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
            cells = " | ".join(f"{row['bytes_per_request'][str(n)] / 1024:.2f}" for n in sizes)
            out.append(
                f"| {label} | {cells} | {row['fit_bytes_per_request'] / 1024:.2f} "
                f"| {row['fit_r2']:.4f} |"
            )
        ratios = " | ".join(f"{block['amas_vs_aiohttp'][str(n)]:.2f}x" for n in sizes)
        out += [f"| ratio | {ratios} | | |", ""]
    tops = [
        r
        for r in mem.get("runs", [])
        if r["mode"] == "tracemalloc" and r.get("top_allocations") and r["n"] == _largest(mem)
    ]
    if tops:
        out += _allocation_diff(tops)
    return out


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
        "in-flight request, by allocating line; top 40 lines of each side compared):",
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
        "them (after a 1 MB warm-up upload).",
        "",
        "| Client | Throughput MB/s | Peak RSS growth MiB (median / worst) | Client CPU s |",
        "|---|---:|---:|---:|",
    ]
    for client, label in (
        ("aiohttp", "raw aiohttp (FormData + file object)"),
        ("amas", "AsyncAmas.images.upload(path)"),
    ):
        row = up["summary"][client]
        out.append(
            f"| {label} | {row['throughput_mb_s']:.0f} | {row['peak_growth_mib']:.1f} / "
            f"{row['max_peak_growth_mib']:.1f} | {row['cpu_seconds']:.2f} |"
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
    labels = {
        "nothing": "`pass` (the timer itself)",
        "dependencies": "`import aiohttp, attrs, cattrs, tenacity, anyio, yaml`",
        "amas_async": "`import amas_async`",
        "openai": "`import openai`",
    }
    out = [
        "### Import time",
        "",
        f"Fresh interpreter per sample, the import statement timed in-process (start-up "
        f"excluded); {imp['settings']['repetitions']} interleaved repetitions, medians.",
        "",
        "| Import | ms (median) | IQR |",
        "|---|---:|---:|",
    ]
    for name, label in labels.items():
        low, high = imp["ms_iqr"][name]
        out.append(f"| {label} | {imp['ms'][name]:.1f} | {low:.1f}-{high:.1f} |")
    out += [
        "",
        f"`amas_async` / dependencies: {imp['amas_vs_dependencies']:.2f}x; "
        f"`openai` / `amas_async`: {imp['openai_vs_amas']:.2f}x.",
        "",
    ]
    b = imp.get("breakdown")
    if b:
        out += [
            f"`-X importtime` (median of runs): beyond what the dependencies load, "
            f"`import amas_async` spends {b['own_modules_ms']:.1f} ms in its own modules and "
            f"{b['other_new_modules_ms']:.1f} ms in other modules only it imports.",
            "",
            "| Module (own) | self ms | | Module (other, not loaded by the dependencies) "
            "| self ms |",
            "|---|---:|---|---|---:|",
        ]
        own, other = b["own_top"][:10], b["other_top"][:10]
        for i in range(max(len(own), len(other))):
            left = own[i] if i < len(own) else None
            right = other[i] if i < len(other) else None
            out.append(
                f"| {'`' + left['module'] + '`' if left else ''} "
                f"| {_fmt(left['self_ms']) if left else ''} | "
                f"| {'`' + right['module'] + '`' if right else ''} "
                f"| {_fmt(right['self_ms']) if right else ''} |"
            )
        out.append("")
    return out


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
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
