"""Import time: ``import amas_async`` vs importing exactly what it imports, vs ``import openai``.

**The baseline is found, not declared.** A fresh interpreter imports ``amas_async`` and lists
the modules that appeared in ``sys.modules`` (minus what the bare interpreter already had, and
minus ``amas_async``'s own). The baseline imports those top-level packages, plus each
submodule that importing the top-level packages alone does not load; a check in another fresh
interpreter confirms that it loads that same set of modules, and the result says so.

**Compiled bytecode.** An installed wheel has a ``.pyc`` for every module. This machine sets
``PYTHONDONTWRITEBYTECODE=1``, and a source checkout may hold stale ``.pyc`` files or none, so
an interpreter would compile sources on every start and the SDK's own modules (the ones that
change) would be timed as source. So every interpreter here runs with that variable removed
and with ``PYTHONPYCACHEPREFIX`` set to a private temporary directory; a warm-up run of every
case (twice) compiles everything they import into it before the timed runs. The number of
``.pyc`` files there after the warm-up and after the timed runs is reported: equal numbers
mean nothing was compiled while timing. Neither the source tree nor site-packages is written.

Each sample is a fresh interpreter timing its own import statement with ``perf_counter`` (so
interpreter start-up is excluded); cases are interleaved, repeated, and reported as medians and
interquartile ranges; the ratio is the median of per-repetition ratios. One extra set of runs
with ``-X importtime`` splits the SDK's own share by module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, median, spread, subprocess_env

_TIMER = "import time as _t\n_s = _t.perf_counter()\n{stmt}\nprint(repr(_t.perf_counter() - _s))\n"

# The modules `import amas_async` adds to a bare interpreter (not its own).
_DISCOVER = """
import sys
before = set(sys.modules)
import amas_async
new = set(sys.modules) - before
print(",".join(sorted(m for m in new if m.split(".")[0] != "amas_async")))
"""

# The smallest statement loading those modules: their top-level packages, then the submodules
# that those do not load by themselves; and what it loads beyond the wanted set.
_COVER = """
import sys
wanted = sys.argv[1].split(",")
before = set(sys.modules)
top = sorted({m.split(".")[0] for m in wanted})
unimportable = []
for name in top:
    try:
        __import__(name)
    except Exception:
        unimportable.append(name)
submodules = []
for name in wanted:
    if name in sys.modules:
        continue
    try:
        __import__(name)
        submodules.append(name)
    except Exception:
        unimportable.append(name)
loaded = set(sys.modules) - before
import json
print(json.dumps({
    "top_level": top,
    "submodules": submodules,
    "unimportable": unimportable,
    "not_loaded": sorted(set(wanted) - loaded),
    "beyond": sorted(loaded - set(wanted)),
}))
"""


def _statement(names: list[str]) -> str:
    return f"for _m in {tuple(names)!r}:\n    __import__(_m)"


class Interpreters:
    """Fresh interpreters that read (and write) compiled bytecode in a private cache."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.env = subprocess_env()
        self.dont_write_bytecode_was_set = bool(self.env.pop("PYTHONDONTWRITEBYTECODE", ""))
        self.env["PYTHONPYCACHEPREFIX"] = str(cache)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    def time_once(self, stmt: str) -> float:
        return float(self.run("-c", _TIMER.format(stmt=stmt)).stdout.strip().splitlines()[-1])

    def pyc_files(self) -> int:
        return sum(1 for _ in self.cache.rglob("*.pyc"))

    def importtime(self, stmt: str) -> dict[str, tuple[int, int]]:
        """``-X importtime`` of ``stmt``: {module: (self us, cumulative us)}."""
        proc = self.run("-X", "importtime", "-c", stmt)
        modules: dict[str, tuple[int, int]] = {}
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cumulative_us, name = line[len("import time:") :].split("|")
            modules[name.strip()] = (int(self_us), int(cumulative_us))
        return modules


def find_baseline(interpreters: Interpreters) -> dict[str, Any]:
    """What ``import amas_async`` imports, and the statement that imports just that."""
    listed = interpreters.run("-c", _DISCOVER).stdout.strip().splitlines()[-1]
    wanted = listed.split(",")
    cover = json.loads(interpreters.run("-c", _COVER, listed).stdout.splitlines()[-1])
    # A name that cannot be imported by name but is loaded anyway (Cython's shared
    # ``_cython_*`` modules, registered by the extension modules that use them) is left out.
    importable = set(cover["top_level"] + cover["submodules"]) - set(cover["unimportable"])
    names = [n for n in cover["top_level"] + cover["submodules"] if n in importable]
    return {
        "modules": len(wanted),
        "top_level": cover["top_level"],
        "submodules": cover["submodules"],
        "unimportable_but_loaded": [
            n for n in cover["unimportable"] if n not in cover["not_loaded"]
        ],
        "not_loaded": cover["not_loaded"],
        "beyond": cover["beyond"],
        "exact": not cover["not_loaded"] and not cover["beyond"],
        "statement": _statement(names),
    }


def breakdown(interpreters: Interpreters, repeats: int, top: int = 12) -> dict[str, Any]:
    """The SDK's own modules under ``-X importtime`` (median self time over ``repeats`` runs)."""
    runs = [interpreters.importtime("import amas_async") for _ in range(repeats)]
    names = set().union(*runs)
    self_us = {name: median([run[name][0] for run in runs if name in run]) for name in names}
    own = {k: v for k, v in self_us.items() if k.split(".")[0] == "amas_async"}
    other = {k: v for k, v in self_us.items() if k not in own}
    ordered = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {
        "runs": repeats,
        "own_modules_ms": sum(own.values()) / 1e3,
        "imported_modules_ms": sum(other.values()) / 1e3,
        "own_top": [{"module": k, "self_ms": v / 1e3} for k, v in ordered],
    }


def run_suite(*, repetitions: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    cache = Path(tempfile.mkdtemp(prefix="amas-bench-pyc-"))
    try:
        return _run(Interpreters(cache), repetitions, log)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _run(
    interpreters: Interpreters, repetitions: int, log: Callable[[str], None]
) -> dict[str, Any]:
    baseline = find_baseline(interpreters)
    cases = {
        "nothing": "pass",
        "its_imports": baseline["statement"],
        "amas_async": "import amas_async",
    }
    if find_spec("openai") is not None:
        cases["openai"] = "import openai"
    for _ in range(2):  # compile every module into the private cache; not measured
        for stmt in cases.values():
            interpreters.time_once(stmt)
    pyc_after_warmup = interpreters.pyc_files()
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for rep in range(repetitions):
        for name in names if rep % 2 == 0 else names[::-1]:
            times[name].append(interpreters.time_once(cases[name]))
    pyc_after_runs = interpreters.pyc_files()
    log(
        f"  imports: {repetitions} repetitions of {len(cases)} cases; the baseline imports "
        f"{baseline['modules']} modules ({len(baseline['top_level'])} top-level)"
    )
    ratios = [a / d for a, d in zip(times["amas_async"], times["its_imports"], strict=True)]
    result: dict[str, Any] = {
        "settings": {"repetitions": repetitions, "cases": cases},
        "bytecode": {
            "method": "PYTHONDONTWRITEBYTECODE removed and PYTHONPYCACHEPREFIX set to a private "
            "temporary directory for every interpreter; two warm-up runs of every case "
            "compiled what they import into it before the timed runs",
            "dont_write_bytecode_in_environment": interpreters.dont_write_bytecode_was_set,
            "pyc_files_after_warmup": pyc_after_warmup,
            "pyc_files_after_timed_runs": pyc_after_runs,
        },
        "baseline": baseline,
        "ms": {name: median(values) * 1e3 for name, values in times.items()},
        "ms_iqr": {name: [v * 1e3 for v in spread(values)] for name, values in times.items()},
        "amas_vs_its_imports": median(ratios),
        "amas_vs_its_imports_iqr": spread(ratios),
        "samples_ms": {name: [v * 1e3 for v in values] for name, values in times.items()},
        "breakdown": breakdown(interpreters, repeats=3 if repetitions <= 5 else 5),
    }
    if "openai" in times:
        openai_ratios = [o / a for o, a in zip(times["openai"], times["amas_async"], strict=True)]
        result["openai_vs_amas"] = median(openai_ratios)
        result["openai_vs_amas_iqr"] = spread(openai_ratios)
    return result
