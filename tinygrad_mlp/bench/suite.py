"""What is measured: configurations, training steps, per-op overhead, memory, epochs, PyTorch.

``run_suite(config)`` returns one JSON-ready dict; ``report`` turns it into files.
Every NumPy-based implementation of a configuration is timed in the same process, interleaved
(``harness.interleaved``); PyTorch runs in its own process (``torch_runner``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor
from . import epoch as epoch_mod
from . import harness, impls, report
from .reference import NumpyMLP, gemm_floor, init_params
from .torch_runner import run_torch

NETWORKS: dict[str, tuple[int, ...]] = {
    "784-512-128-64-10": (784, 512, 128, 64, 10),
    "784-50-10": (784, 50, 10),
    "64-64-16-10": (64, 64, 16, 10),
}
GPU_ONLY_BATCH = 8192


@dataclasses.dataclass
class Config:
    """Everything that decides what a run measures (stored in the results)."""

    quick: bool = False
    devices: tuple[str, ...] = ("cpu",)
    networks: tuple[str, ...] = tuple(NETWORKS)
    cpu_batches: tuple[int, ...] = (32, 128, 1024)
    cpu_dtypes: tuple[str, ...] = ("float32", "float64")
    gpu_batches: tuple[int, ...] = (32, 128, 1024, GPU_ONLY_BATCH)
    gpu_dtypes: tuple[str, ...] = ("float32",)
    repeats: int = 15
    warmup: int = 3
    min_sample_s: float = 0.02
    lr: float = 0.01
    seed: int = 0
    variant: str = "auto"
    memory: bool = True
    overhead: bool = True
    epoch: bool = True
    epoch_network: str = "784-512-128-64-10"
    epoch_batch: int = 128
    epoch_lr: float = 0.1
    epochs: int = 3
    epoch_subset: int | None = None
    torch: bool = True
    sklearn: bool = True
    threads: int | None = None
    clock: str = "wall"


def make_config(quick: bool = False, devices: tuple[str, ...] = ("cpu",), **overrides: Any):
    """The full configuration, or the ``--quick`` smoke-test one; ``overrides`` win."""
    base: dict[str, Any] = {"quick": quick, "devices": devices}
    if quick:
        base.update(
            cpu_batches=(32, 128),
            cpu_dtypes=("float32",),
            gpu_batches=(128, 1024),
            repeats=3,
            warmup=1,
            min_sample_s=0.002,
            epochs=1,
            epoch_subset=3000,
            torch=False,
        )
        if importlib.util.find_spec("threadpoolctl") is not None:
            # a smoke test must not hang on a busy CI machine: a 2-thread BLAS whose threads
            # wait for each other's time slices turns 0.1 ms steps into 50 ms ones
            base["threads"] = 1
    base.update(overrides)
    for name in base.get("networks", ()):
        if name not in NETWORKS:
            raise ValueError(f"unknown network {name!r}; expected one of {list(NETWORKS)}")
    return Config(**base)


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Limit the BLAS/OpenMP pools of this process to ``threads`` (None: leave them alone)."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise ImportError("--threads needs threadpoolctl: pip install threadpoolctl") from exc
    with threadpool_limits(limits=threads):
        yield


# ---------------------------------------------------------------------- training steps
def _batch(sizes: tuple[int, ...], batch: int, dtype: str, seed: int):
    rng = np.random.default_rng(seed + batch)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    return x, y


def cuda_pool_peak(fn: Callable[[], Any]) -> int:
    """GPU bytes that one call of ``fn`` adds to CuPy's default memory pool (its high-water mark).

    The pool keeps freed blocks, so after ``free_all_blocks`` its total size grows to the step's
    peak of simultaneously live arrays (rounded up to CuPy's block sizes).
    """
    cupy = importlib.import_module("cupy")  # only reached after backend loaded CuPy for "cuda"
    pool = cupy.get_default_memory_pool()
    backend.synchronize("cuda")
    pool.free_all_blocks()
    before = pool.total_bytes()
    fn()
    backend.synchronize("cuda")
    return int(pool.total_bytes() - before)


def _step_plan(cfg: Config, device: str) -> list[tuple[str, int]]:
    if device == "cuda":
        return [(d, b) for d in cfg.gpu_dtypes for b in cfg.gpu_batches]
    plan = [(d, b) for d in cfg.cpu_dtypes for b in cfg.cpu_batches]
    if "cuda" in cfg.devices and GPU_ONLY_BATCH in cfg.gpu_batches:
        plan.append(("float32", GPU_ONLY_BATCH))  # our own CPU, for the GPU speed-up target
    return plan


def bench_steps(cfg: Config, device: str, log: Callable[[str], None], records: list) -> str:
    """Step time (and peak memory) of every network x dtype x batch on ``device``, appended to
    ``records`` as each is measured (a later failure keeps them); returns the step's variant."""
    variant = ""
    sync = (lambda: backend.synchronize(device)) if device == "cuda" else None
    for net in cfg.networks:
        sizes = NETWORKS[net]
        for dtype, batch in _step_plan(cfg, device):
            params = init_params(sizes, seed=cfg.seed, dtype=dtype)
            x, y = _batch(sizes, batch, dtype, cfg.seed)
            model, opt, variant = impls.build(params, cfg.lr, device, cfg.variant)
            xt, yt = Tensor(x, dtype=dtype, device=device), Tensor(y, device=device)
            fns = {"tinygrad": impls.make_step(model, opt, xt, yt)}
            if variant == impls.NN_VARIANT:  # the compiled step, on its own copy of the model
                twin, twin_opt, _ = impls.build(params, cfg.lr, device, cfg.variant)
                fns["tinygrad_compiled"] = impls.make_compiled_step(twin, twin_opt, xt, yt)
            if device == "cpu":
                ref = NumpyMLP(params, lr=cfg.lr)
                fns["numpy_reference"] = lambda ref=ref, x=x, y=y: ref.step(x, y)
                fns["gemm_floor"] = gemm_floor(sizes, batch, dtype, cfg.seed)
            stats = harness.interleaved(
                fns,
                repeats=cfg.repeats,
                warmup=cfg.warmup,
                min_sample_s=cfg.min_sample_s,
                sync=sync,
            )
            for impl, st in stats.items():
                rec = {
                    "network": net,
                    "sizes": list(sizes),
                    "batch": batch,
                    "dtype": dtype,
                    "device": device,
                    "impl": impl,
                    "time": st.as_dict(),
                    "peak_bytes": None,
                }
                if cfg.memory and impl != "gemm_floor":
                    rec["peak_bytes"] = (
                        cuda_pool_peak(fns[impl])
                        if device == "cuda"
                        else harness.peak_memory(fns[impl])
                    )
                    if device == "cpu":  # page faults of host memory (GPU steps: unsynced)
                        rec["minor_faults_per_step"] = harness.minor_faults(fns[impl])
                records.append(rec)
            log(
                f"step {device} {net} {dtype} batch {batch}: "
                + ", ".join(f"{k} {v.median * 1e3:.3f} ms" for k, v in stats.items())
            )
    return variant


# ---------------------------------------------------------------------- per-op overhead
def bench_overhead(cfg: Config, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Time of tiny (4x4) ops through the framework against the raw NumPy call."""
    rng = np.random.default_rng(cfg.seed)
    a, b, w = (rng.standard_normal((4, 4)).astype("float32") for _ in range(3))
    bias = rng.standard_normal(4).astype("float32")
    ta, tb, tw, tbias = (Tensor(v, requires_grad=True) for v in (a, b, w, bias))
    na, nb, nw, nbias = (Tensor(v) for v in (a, b, w, bias))

    def raw_graph() -> None:
        p = a * b
        p.sum()
        g = np.ones_like(p)
        g * b, g * a  # noqa: B018  (the two input gradients)

    def tg_graph() -> None:
        ta.grad = tb.grad = None
        (ta * tb).sum().backward()

    cases: dict[str, tuple[Callable, Callable, Callable | None]] = {
        "add": (lambda: a + b, lambda: ta + tb, lambda: na + nb),
        "mul": (lambda: a * b, lambda: ta * tb, lambda: na * nb),
        "matmul": (lambda: a @ b, lambda: ta @ tb, lambda: na @ nb),
        "relu": (lambda: np.maximum(a, 0), lambda: ta.relu(), lambda: na.relu()),
        "sum": (lambda: a.sum(), lambda: ta.sum(), lambda: na.sum()),
        "linear": (
            lambda: a @ w.T + bias,
            lambda: F.linear(ta, tw, tbias),
            lambda: F.linear(na, nw, nbias),
        ),
        "graph_fwd_bwd": (raw_graph, tg_graph, None),
    }
    records = []
    for op, (raw, tg, tg_plain) in cases.items():
        fns = {"numpy": raw, "tinygrad": tg}
        if tg_plain is not None:
            fns["tinygrad_no_graph"] = tg_plain
        stats = harness.interleaved(
            fns, repeats=cfg.repeats, warmup=cfg.warmup, min_sample_s=cfg.min_sample_s
        )
        records += [{"op": op, "impl": k, "time": s.as_dict()} for k, s in stats.items()]
        log(
            f"overhead {op}: " + ", ".join(f"{k} {v.median * 1e6:.2f} us" for k, v in stats.items())
        )
    return records


# ---------------------------------------------------------------------- orchestration
def _torch_config(cfg: Config, devices: list[str]) -> dict[str, Any]:
    plans = {"cpu": {"batches": list(cfg.cpu_batches), "dtypes": list(cfg.cpu_dtypes)}}
    if "cuda" in devices:
        plans["cuda"] = {"batches": list(cfg.gpu_batches), "dtypes": list(cfg.gpu_dtypes)}
    epoch = None
    if cfg.epoch:
        epoch = {
            "sizes": list(NETWORKS[cfg.epoch_network]),
            "batch": cfg.epoch_batch,
            "lr": cfg.epoch_lr,
            "epochs": cfg.epochs,
            "subset": cfg.epoch_subset,
        }
    return {
        "devices": plans,
        "networks": {n: list(NETWORKS[n]) for n in cfg.networks},
        "repeats": cfg.repeats,
        "warmup": cfg.warmup,
        "min_sample_s": cfg.min_sample_s,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "overhead": cfg.overhead,
        "memory": cfg.memory,
        "epoch": epoch,
        "threads": cfg.threads,
        "clock": cfg.clock,
    }


def _gpu_name() -> str | None:
    try:
        cupy = importlib.import_module("cupy")
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        return None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


PROBE = ("784-512-128-64-10", 128, "float32")  # the probe: this step's GEMM floor


def _speed_probe(cfg: Config) -> Callable[[str], None]:
    """``probe(label)`` times one fixed NumPy BLAS workload (the matrix products of a
    784-512-128-64-10 step at batch 128, float32) and files it under ``label``. Called between
    the parts of a run, it shows whether the host CPU kept its speed: the parts (steps, epochs,
    PyTorch in its own process) are only comparable if it did. On a shared VM, whole minutes
    can run 1.5x slower. It says nothing of a GPU's speed."""
    net, batch, dtype = PROBE
    fn = gemm_floor(NETWORKS[net], batch, dtype, seed=cfg.seed)
    seconds: dict[str, float] = {}

    def probe(label: str) -> None:
        stats = harness.interleaved(
            {"probe": fn}, repeats=3 if cfg.quick else 7, warmup=2, min_sample_s=cfg.min_sample_s
        )
        seconds[label] = stats["probe"].median

    probe.seconds = seconds  # type: ignore[attr-defined]
    probe.workload = f"GEMM floor of {net}, batch {batch}, {dtype}"  # type: ignore[attr-defined]
    return probe


def run_suite(cfg: Config, argv: list[str] | None = None, log=_log) -> dict[str, Any]:
    """Run everything ``cfg`` asks for; the results as one JSON-ready dict.

    A part that raises (one device's steps, the overhead, the epochs, PyTorch) is recorded in
    ``results["failures"]`` with its traceback while the other parts still run, and Ctrl-C (or a
    time limit's SIGINT) stops the measuring and keeps what was measured, marked
    ``results["interrupted"]``: a long or one-off GPU run never loses its finished parts."""
    start = time.perf_counter()
    harness.set_clock(cfg.clock)
    requested = cfg.devices  # PyTorch may have CUDA even where CuPy does not
    devices = [d for d in cfg.devices if d == "cpu" or backend.is_available(d)]
    notes = {
        d: "not measured: no GPU (CuPy + CUDA device not available)"
        for d in cfg.devices
        if d not in devices
    }
    meta = harness.environment_info(argv, busy_seconds=0.2 if cfg.quick else 1.0)
    meta["blas_threads_limit"] = cfg.threads
    meta["gpu"] = _gpu_name() if "cuda" in devices else None
    results: dict[str, Any] = {
        "schema_version": 1,
        "meta": meta,
        "config": dataclasses.asdict(cfg),
        "device_notes": notes,
        "steps": [],
        "overhead": [],
        "epoch": None,
        "torch": {"status": "not run"},
        "failures": [],
        "interrupted": None,
    }
    cfg = dataclasses.replace(cfg, devices=tuple(devices))
    probe = _speed_probe(cfg)
    try:
        _measure(cfg, list(requested), results, probe, log)
    except KeyboardInterrupt:
        results["interrupted"] = "stopped by SIGINT (Ctrl-C or a time limit); partial results"
        log("interrupted: keeping the parts measured so far")
    times = probe.seconds
    results["probe"] = {
        "workload": probe.workload,
        "seconds": times,
        "spread": max(times.values()) / min(times.values()) if times else None,
    }
    results["targets"] = report.targets(results)
    results["noise"] = report.noise(results)
    results["elapsed_s"] = time.perf_counter() - start
    results["meta"]["load_average_end"] = harness.load_average()
    return results


def _measure(cfg: Config, requested: list[str], results: dict, probe, log) -> None:
    """Every part of the benchmark in turn, each one guarded (``_guarded``)."""
    _guarded(results, "speed probe", log, probe, "start")
    for device in cfg.devices:
        variant = _guarded(
            results, f"steps on {device}", log, bench_steps, cfg, device, log, results["steps"]
        )
        if variant is not None:
            results["tinygrad_variant"] = variant
    _guarded(results, "speed probe", log, probe, "after the steps")
    if cfg.overhead:
        results["overhead"] = _guarded(results, "overhead", log, bench_overhead, cfg, log) or []
    if cfg.epoch:
        results["epoch"] = _guarded(results, "epoch", log, _run_epoch, cfg, log)
        _guarded(results, "speed probe", log, probe, "after the epochs")
    torch = _guarded(results, "torch", log, _run_torch_part, cfg, requested, results, log)
    results["torch"] = torch or {"status": "failed: see failures"}
    if results["torch"].get("status") == "ok":
        _guarded(results, "speed probe", log, probe, "after PyTorch")


def _guarded(results: dict, part: str, log, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or None when it raises: the error and its traceback go to
    ``results["failures"]`` and the log, so that one part's failure keeps the others' results."""
    try:
        return fn(*args)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        results["failures"].append(
            {"part": part, "error": error, "traceback": traceback.format_exc()}
        )
        log(f"FAILED {part}: {error}\n{traceback.format_exc()}")
        return None


def _run_epoch(cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    data = epoch_mod.load_data(cfg.epoch_subset, seed=cfg.seed)
    sizes = NETWORKS[cfg.epoch_network]
    out = epoch_mod.run_epochs(
        data, sizes, cfg.epoch_batch, cfg.epoch_lr, cfg.epochs, seed=cfg.seed, sklearn=cfg.sklearn
    )
    out.update(
        data_source=data["source"],
        data_note=data["note"],
        network=cfg.epoch_network,
        batch=cfg.epoch_batch,
        lr=cfg.epoch_lr,
        epochs=cfg.epochs,
        train_samples=len(data["X_train"]),
        test_samples=len(data["X_test"]),
    )
    for r in out["results"]:
        log(f"epoch {r['impl']}: {r['median_epoch_s']:.3f} s, accuracy {r['test_accuracy']:.4f}")
    return out


def _run_torch_part(cfg: Config, devices: list[str], results: dict, log) -> dict[str, Any]:
    if not cfg.torch:
        return {"status": "skipped" + (" (--quick; pass --torch)" if cfg.quick else "")}
    log("torch: running in a subprocess ...")
    out = run_torch(_torch_config(cfg, devices))
    log(f"torch: {out['status']}")
    results["steps"] += out.pop("steps", [])
    results["overhead"] += out.pop("overhead", [])
    epoch = out.pop("epoch", None)
    if epoch and results["epoch"] is not None:
        results["epoch"]["results"].append(epoch)
    return out
