"""Shared helpers: the stub server process, statistics, limits, memory and machine facts."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
DOCS_DIR = ROOT / "docs"

#: The session id every execute call targets (the stub answers any id).
SESSION_ID = "session_abc123"
#: The execute request body: what ``runtime.execute(SESSION_ID, "Hello")`` sends.
EXECUTE_BODY = {"content": "Hello"}
#: The API key every client sends (the stub ignores it).
API_KEY = "bench-key"
#: The chat completion request of the openai SDK variant.
CHAT_MODEL = "gpt-4o-mini"
CHAT_MESSAGES = [{"role": "user", "content": "Hello"}]

#: CPU the stub server is pinned to, and CPU the measuring client is pinned to (when >= 2).
SERVER_CPU = 1
CLIENT_CPU = 0


# ---- processes ----------------------------------------------------------------------------


def subprocess_env() -> dict[str, str]:
    """The environment of every child process: the repo root importable, no stray settings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("AMAS_API_KEY", "AMAS_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    # Proxies would route loopback traffic through another process for httpx/openai.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _initial_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return set()


#: The CPUs this process could use when it started (before pinning itself).
INITIAL_CPUS = _initial_cpus()


def can_pin() -> bool:
    """True when this machine has the two CPUs the client and the server are pinned to."""
    return {SERVER_CPU, CLIENT_CPU} <= INITIAL_CPUS


def pin_to(cpu: int | None) -> None:
    """Pin this process to one CPU (no-op when None or unsupported)."""
    if cpu is None:
        return
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Stub:
    """A running stub server (a separate process) and its URLs."""

    process: subprocess.Popen[str]
    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def amas_base_url(self) -> str:
        """What ``AsyncAmas(base_url=...)`` takes: the API root."""
        return f"{self.origin}/api/v1"

    @property
    def execute_url(self) -> str:
        return f"{self.amas_base_url}/runtime/{SESSION_ID}/execute/"

    @property
    def openai_base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def upload_url(self) -> str:
        return f"{self.amas_base_url}/images/upload/"


@contextlib.contextmanager
def base_worktree(revision: str) -> Iterator[Path]:
    """``revision`` checked out in a temporary git worktree (removed on exit)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="amas-base-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), revision],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )


@contextlib.contextmanager
def stub_server(*, hold: bool = False, delay: float = 0.0, pin: bool = True) -> Iterator[Stub]:
    """Start ``benchmarks.stub_server`` in its own process on 127.0.0.1; stop it on exit."""
    args = [sys.executable, "-m", "benchmarks.stub_server", "--port", "0"]
    if hold:
        args.append("--hold")
    if delay:
        args += ["--delay", str(delay)]
    if pin and can_pin():
        args += ["--cpu", str(SERVER_CPU)]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=subprocess_env()
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the stub server did not start (said {line!r})")
        yield Stub(process, int(line.split()[1]))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()


def run_worker(module: str, *args: str, timeout: float = 600.0) -> dict[str, Any]:
    """Run ``python -m benchmarks.<module> args`` in a fresh process; return its JSON line."""
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"benchmarks.{module} {' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ---- memory -------------------------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """The current resident set size of this process."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except OSError:  # pragma: no cover - not Linux: fall back to the peak
        return peak_rss_bytes()


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where unsupported.

    Needed because the peak is not this process's own from the start: ``ru_maxrss`` and VmHWM
    carry the forking parent's size across fork and exec, so a child of a big parent would
    report the parent's peak.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """The peak resident set size of this process (VmHWM; ru_maxrss where there is no /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ---- statistics ---------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(25th, 75th) percentiles: the interquartile range, reported next to every median."""
    return percentile(values, 25), percentile(values, 75)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares ``y = slope * x + intercept``; returns (slope, intercept, r_squared)."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else float("nan")
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return slope, intercept, r2


# ---- the machine --------------------------------------------------------------------------

_PACKAGES = (
    "amas-async",
    "aiohttp",
    "attrs",
    "cattrs",
    "tenacity",
    "anyio",
    "PyYAML",
    "orjson",
    "httpx",
    "httpcore",
    "openai",
    "httpx2",
    "httpcore2",
    "h11",
    "pydantic",
    "pydantic-core",
    "matplotlib",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, OS, Python and the versions of every library measured."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    affinity = len(INITIAL_CPUS) or None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
        "load_average_at_start": load,
        "versions": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
