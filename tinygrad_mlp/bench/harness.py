"""Timing utilities: warm-up, calibrated inner loops, round-robin repeats, robust statistics.

Honest-timing rules this module implements:

* every callable is warmed up, then its inner-loop count is calibrated so that one sample lasts at
  least ``min_sample_s`` (timer resolution and loop overhead stay negligible);
* the implementations being compared are timed *interleaved* in one process: each repeat runs one
  sample of every implementation, in an order rotated from repeat to repeat, so that a slow phase
  of the (shared, noisy) machine hurts all of them alike;
* the statistics are the median and the spread (min, max, quartiles, IQR), never a best-of;
* GPU work is synchronised before the clock starts and before it stops (``sync``).

It also collects what a reader needs to judge the numbers: machine, CPU, thread counts, BLAS and
library versions (``environment_info``).
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .. import cpu
from ..denormal import is_flush_denormal

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_ARENA_MAX",
    "CUPY_TF32",  # TF32 matmuls in CuPy (off unless set; PyTorch's setting is in its meta)
    "NVIDIA_TF32_OVERRIDE",
)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = {"name": "wall", "fn": time.perf_counter}


def set_clock(name: str) -> None:
    """Time with the wall clock (default) or this process's CPU time (``"cpu"``).

    CPU time ignores the time other processes hold the cores, so it stays usable on a busy shared
    machine; it is only meaningful for single-threaded runs (``--threads 1``) without a GPU,
    since it adds up the CPU time of all threads and does not see GPU work.
    """
    if name not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {name!r}")
    _clock.update(name=name, fn=CLOCKS[name])


def clock() -> float:
    """The current reading of the selected clock, in seconds."""
    return _clock["fn"]()


def clock_name() -> str:
    return _clock["name"]


@dataclass
class Stats:
    """Seconds per call over ``n`` samples of ``number`` calls each."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    iqr: float
    mean: float
    n: int
    number: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(samples: list[float], number: int) -> Stats:
    """Median, extremes and quartiles of per-call times (seconds)."""
    if not samples:
        raise ValueError("summarize needs at least one sample")
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return Stats(
        median=statistics.median(ordered),
        min=ordered[0],
        max=ordered[-1],
        q1=q1,
        q3=q3,
        iqr=q3 - q1,
        mean=statistics.fmean(ordered),
        n=len(ordered),
        number=number,
    )


def _sample(fn: Callable[[], Any], number: int, sync: Callable[[], None] | None) -> float:
    """Seconds for ``number`` calls of ``fn`` (GPU work drained before and after)."""
    if sync is not None:
        sync()
    start = clock()
    for _ in range(number):
        fn()
    if sync is not None:
        sync()
    return clock() - start


def calibrate(
    fn: Callable[[], Any],
    min_sample_s: float,
    sync: Callable[[], None] | None = None,
    max_number: int = 100_000,
) -> int:
    """The smallest count in 1, 2, 5, 10, 20, 50... whose loop lasts at least ``min_sample_s``."""
    number = 1
    while True:
        for mult in (1, 2, 5):
            candidate = number * mult
            if candidate >= max_number or _sample(fn, candidate, sync) >= min_sample_s:
                return min(candidate, max_number)
        number *= 10


def interleaved(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 2,
    min_sample_s: float = 0.01,
    sync: Callable[[], None] | None = None,
) -> dict[str, Stats]:
    """Time every callable of ``fns`` round-robin; return per-call statistics by name.

    Each callable is called ``warmup`` times first, then calibrated (see ``calibrate``). Repeat
    ``r`` runs one sample of each callable, starting with the ``r``-th name, so that none always
    runs first (right after another one's caches and allocations) or last.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    numbers: dict[str, int] = {}
    for name in names:
        for _ in range(warmup):
            fns[name]()
        numbers[name] = calibrate(fns[name], min_sample_s, sync)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(_sample(fns[name], numbers[name], sync) / numbers[name])
    return {name: summarize(samples[name], numbers[name]) for name in names}


def peak_memory(fn: Callable[[], Any]) -> int:
    """Bytes allocated at the peak of one call of ``fn`` above what was live before it.

    Uses ``tracemalloc``, which sees NumPy's array buffers (NumPy registers them), so it measures
    host memory of NumPy-based code; it is slow, so never combine it with timing.
    """
    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return max(0, peak - before)


def minor_faults(fn: Callable[[], Any], calls: int = 5) -> float | None:
    """Minor page faults per call of ``fn`` (fresh memory being touched; None where unknown).

    Steady-state training should cause none; when it does, the C allocator is returning memory
    to the OS and taking it back every step (glibc's heap trimming), which costs real time.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


# ---------------------------------------------------------------------- environment
def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(package: str) -> str | None:
    """An installed distribution's version, without importing it (None when absent)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS: the build configuration and, via threadpoolctl, the live thread pools."""
    import numpy

    info: dict[str, Any] = {}
    try:
        config = numpy.show_config(mode="dicts")
        deps = config.get("Build Dependencies", {})
        info["build_blas"] = deps.get("blas", {})
    except Exception as exc:  # show_config's format changed between NumPy versions
        info["build_blas"] = {"error": str(exc)}
    try:
        import threadpoolctl

        info["threadpools"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def source_commit() -> str | None:
    """The git commit of the tinygrad_mlp checkout being measured, read from ``.git`` (no git
    command is run); else ``TINYGRAD_MLP_COMMIT`` from the environment (a copy of the tree
    without ``.git``, as on a lent GPU machine); None when neither is there."""
    return _git_head() or os.environ.get("TINYGRAD_MLP_COMMIT") or None


def _git_head() -> str | None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    git = os.path.join(root, ".git")
    try:
        with open(os.path.join(git, "HEAD"), encoding="utf-8") as fh:
            head = fh.read().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = os.path.join(git, ref)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                return fh.read().strip()
        with open(os.path.join(git, "packed-refs"), encoding="utf-8") as fh:
            for line in fh:
                if line.rstrip().endswith(" " + ref):
                    return line.split()[0]
    except OSError:
        return None
    return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs from /proc/stat (None where there is none). Idle
    includes iowait; the total leaves out guest time, which user time already contains."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)


def busy_fraction(seconds: float = 1.0) -> float | None:
    """The share of the machine's CPU time (all CPUs, not only those this process may use) that
    others used during ``seconds`` of sleep: other processes, and the hypervisor (steal time).

    Unlike the load average (which trails by minutes: a run started right after another one
    inherits its load), this says whether the cores are in use now. None without /proc/stat.
    """
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(1.0 - (after[0] - before[0]) / (after[1] - before[1]), 3)


def environment_info(argv: list[str] | None = None, busy_seconds: float = 1.0) -> dict[str, Any]:
    """Everything needed to judge a run: machine, CPU, versions, thread counts, date, command,
    and how busy the CPUs were over ``busy_seconds`` before it (``busy_fraction``)."""
    import numpy

    packages = (
        "numpy",
        "scipy",
        "scikit-learn",
        "torch",
        "cupy-cuda12x",
        "cupy-cuda13x",
        "threadpoolctl",
        "matplotlib",
        "tinygrad_mlp",
    )
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["tinygrad-mlp"] + list(argv or [])),
        "argv": list(sys.argv),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": load_average(),
        "busy_at_start": busy_fraction(busy_seconds),
        "blas_axpy": cpu.blas_axpy_available(),  # SciPy's axpy for large CPU updates
        "flush_denormal": is_flush_denormal(),  # subnormals as zero (set_flush_denormal)
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV_VARS},
        "numpy": numpy.__version__,
        "versions": {p: version_of(p) for p in packages},
        "tinygrad_mlp_commit": source_commit(),
        "blas": blas_info(),
        "gc_enabled_during_timing": gc.isenabled(),
        "clock": clock_name(),
    }
