"""Import time: ``import amas_async`` vs importing its dependencies, vs ``import openai``.

Each measurement is a fresh interpreter timing its own import statement with perf_counter (so
interpreter start-up is excluded); cases are interleaved, repeated, and reported as medians.
One extra run per case with ``-X importtime`` attributes the time to modules.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

from benchmarks.common import ROOT, median, spread, subprocess_env

DEPENDENCIES = ("aiohttp", "attrs", "cattrs", "tenacity", "anyio", "yaml")

CASES: dict[str, str] = {
    "nothing": "pass",
    "dependencies": "import " + ", ".join(DEPENDENCIES),
    "amas_async": "import amas_async",
    "openai": "import openai",
}

_TIMER = "import time as _t\n_s = _t.perf_counter()\n{stmt}\nprint(repr(_t.perf_counter() - _s))\n"


def _time_once(stmt: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", _TIMER.format(stmt=stmt)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def importtime(stmt: str) -> dict[str, tuple[int, int]]:
    """``-X importtime`` of ``stmt``: {module: (self µs, cumulative µs)}."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", stmt],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        check=True,
    )
    modules: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        modules[name.strip()] = (int(self_us), int(cumulative_us))
    return modules


def breakdown(repeats: int = 5, top: int = 15) -> dict[str, Any]:
    """What ``import amas_async`` loads beyond its dependencies, by self time (median of runs).

    Modules are split into the package's own (``amas_async.*``) and the others it pulls in that
    importing the dependencies does not (stdlib modules, orjson, ...).
    """
    runs_amas = [importtime(CASES["amas_async"]) for _ in range(repeats)]
    runs_deps = [importtime(CASES["dependencies"]) for _ in range(repeats)]
    dep_modules = set().union(*runs_deps)
    names = set().union(*runs_amas) - dep_modules
    self_us = {name: median([run[name][0] for run in runs_amas if name in run]) for name in names}
    own = {k: v for k, v in self_us.items() if k == "amas_async" or k.startswith("amas_async.")}
    other = {k: v for k, v in self_us.items() if k not in own}

    def rows(table: dict[str, float]) -> list[dict[str, Any]]:
        ordered = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [{"module": k, "self_ms": v / 1e3} for k, v in ordered]

    return {
        "own_modules_ms": sum(own.values()) / 1e3,
        "other_new_modules_ms": sum(other.values()) / 1e3,
        "own_top": rows(own),
        "other_top": rows(other),
        "dependencies_cumulative_ms": median(
            [sum(run[m][1] for m in DEPENDENCIES if m in run) for run in runs_deps]
        )
        / 1e3,
    }


def run_suite(*, repetitions: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for stmt in CASES.values():  # compile the .pyc files; not measured
        _time_once(stmt)
    names = list(CASES)
    for rep in range(repetitions):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            times[name].append(_time_once(CASES[name]))
    log(f"  imports: {repetitions} repetitions of {len(CASES)} cases")
    deps = times["dependencies"]
    amas_times = times["amas_async"]
    ratios = [a / d for a, d in zip(amas_times, deps, strict=True)]
    return {
        "settings": {"repetitions": repetitions, "cases": CASES},
        "ms": {name: median(values) * 1e3 for name, values in times.items()},
        "ms_iqr": {name: [v * 1e3 for v in spread(values)] for name, values in times.items()},
        "amas_vs_dependencies": median(ratios),
        "amas_vs_dependencies_iqr": spread(ratios),
        "openai_vs_amas": median([o / a for o, a in zip(times["openai"], amas_times, strict=True)]),
        "samples_ms": {name: [v * 1e3 for v in values] for name, values in times.items()},
        "breakdown": breakdown(),
    }
