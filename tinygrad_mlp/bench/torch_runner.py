"""PyTorch eager, measured in its own process with its default threading.

Why a subprocess: once PyTorch's OpenMP pool has run, its spinning threads steal the cores from
the NumPy runs that follow in the same process, and ``OMP_WAIT_POLICY=PASSIVE`` (the cure) slows
PyTorch itself. So the parent (``run_torch``) never imports torch; it starts
``python -m tinygrad_mlp.bench.torch_runner``, sends the configuration as JSON on stdin and reads
the results as JSON from stdout. The child uses the same harness, the same initial weights and the
same epoch data as the NumPy side.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from . import harness
from .reference import gemm_floor, init_params


def torch_installed() -> bool:
    """True when ``import torch`` would find a package (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def run_torch(config: dict[str, Any], timeout: float = 3600.0) -> dict[str, Any]:
    """Run the PyTorch benchmarks in a child process; ``{"status": ..., ...}`` in every case."""
    if not torch_installed():
        return {"status": "not measured: torch is not installed (pip install torch)"}
    cmd = [sys.executable, "-m", "tinygrad_mlp.bench.torch_runner"]
    try:
        proc = subprocess.run(
            cmd,
            input=json.dumps(config),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": f"failed: the torch runner took more than {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        return {"status": f"failed: exit {proc.returncode}: " + " | ".join(tail)}
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        return {"status": f"failed: unreadable output ({exc}): {proc.stdout[-300:]!r}"}
    out["status"] = "ok"
    return out


# ---------------------------------------------------------------------- child side
def _model(torch: Any, sizes: list[int], dtype: str, device: str, seed: int) -> Any:
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(device=device, dtype=getattr(torch, dtype))
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, init_params(sizes, seed=seed, dtype=dtype), strict=True):
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
    return model


def _step_fn(torch: Any, model: Any, opt: Any, x: Any, y: Any) -> Any:
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def cpu_peak_bytes(torch: Any, fn: Any) -> int | None:
    """Bytes of CPU tensor memory at the peak of one call of ``fn``, as ``tracemalloc`` counts
    them on the NumPy side (``harness.peak_memory``): the running sum of the allocations during
    the call, less those of them freed during it (the frees of memory from before the call do
    not count). From the memory events of PyTorch's profiler (``profile_memory=True``), matched
    by address through its Chrome trace: its own running totals cannot be used, since it also
    reports frees of memory allocated in earlier profiled calls. Only the calling thread's
    memory is seen (a CPU training step allocates there). None where this PyTorch's profiler
    does not give those events; errors of ``fn`` itself propagate."""
    try:
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.json")
            prof.export_chrome_trace(path)
            with open(path, encoding="utf-8") as f:
                events = json.load(f)["traceEvents"]
        memory = [
            (e["ts"], e["args"].get("Ev Idx", 0), e["args"]["Addr"], e["args"]["Bytes"])
            for e in events
            if e.get("name") == "[memory]" and e["args"].get("Device Type") == 0  # the CPU
        ]
    except (AttributeError, RuntimeError, OSError, ValueError, KeyError, TypeError):
        return None
    live: dict[int, int] = {}  # address -> bytes of the blocks allocated during the call
    total = peak = 0
    for _, _, addr, change in sorted(memory):
        if change > 0:
            live[addr] = change
            total += change
            peak = max(peak, total)
        elif addr in live:
            total -= live.pop(addr)
    return peak


def _steps(torch: Any, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    import numpy as np

    records = []
    for device, plan in cfg["devices"].items():
        sync = torch.cuda.synchronize if device == "cuda" else None
        for net, sizes in cfg["networks"].items():
            for dtype in plan["dtypes"]:
                for batch in plan["batches"]:
                    rng = np.random.default_rng(cfg["seed"])
                    x = torch.from_numpy(rng.standard_normal((batch, sizes[0])).astype(dtype))
                    y = torch.from_numpy(rng.integers(0, sizes[-1], size=batch))
                    model = _model(torch, sizes, dtype, device, cfg["seed"])
                    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
                    step = _step_fn(torch, model, opt, x.to(device), y.to(device))
                    fns = {"torch": step}
                    if device == "cpu":
                        floor = gemm_floor(sizes, batch, dtype, cfg["seed"])
                        fns["torch_gemm_floor"] = _torch_products(torch, floor)
                    stats = harness.interleaved(
                        fns,
                        repeats=cfg["repeats"],
                        warmup=cfg["warmup"],
                        min_sample_s=cfg["min_sample_s"],
                        sync=sync,
                    )
                    peak = None
                    if device == "cpu" and cfg.get("memory", True):
                        peak = cpu_peak_bytes(torch, step)
                    elif device == "cuda" and cfg.get("memory", True):
                        torch.cuda.synchronize()
                        before = torch.cuda.memory_allocated()
                        torch.cuda.reset_peak_memory_stats()
                        step()
                        torch.cuda.synchronize()
                        peak = torch.cuda.max_memory_allocated() - before
                    records.append(
                        {
                            "network": net,
                            "sizes": sizes,
                            "batch": batch,
                            "dtype": dtype,
                            "device": device,
                            "impl": "torch",
                            "time": stats["torch"].as_dict(),
                            "peak_bytes": peak,
                        }
                    )
                    if "torch_gemm_floor" in stats:
                        records.append(
                            {
                                **records[-1],
                                "impl": "torch_gemm_floor",
                                "time": stats["torch_gemm_floor"].as_dict(),
                                "peak_bytes": None,
                            }
                        )
    return records


def _torch_products(torch: Any, floor: Any) -> Any:
    """A callable doing the products of the NumPy GEMM floor ``floor`` (``reference.gemm_floor``)
    with PyTorch: the same operands and memory layouts (``from_numpy`` keeps the strides), the
    results into the same arrays. PyTorch's x86 wheels multiply with MKL where NumPy's use
    OpenBLAS, so the two floors side by side show the libraries' gap in every run."""
    triples = [
        (torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out))
        for a, b, out in floor.triples
    ]

    def run() -> None:
        for a, b, out in triples:
            torch.matmul(a, b, out=out)

    return run


def _overhead(torch: Any, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    a = torch.randn(4, 4, requires_grad=True)
    b = torch.randn(4, 4, requires_grad=True)
    w = torch.randn(4, 4, requires_grad=True)
    bias = torch.randn(4, requires_grad=True)
    na, nb = a.detach(), b.detach()
    F = torch.nn.functional

    def graph() -> None:
        a.grad = b.grad = None
        (a * b).sum().backward()

    cases = {
        "add": (lambda: a + b, lambda: na + nb),
        "mul": (lambda: a * b, lambda: na * nb),
        "matmul": (lambda: a @ b, lambda: na @ nb),
        "relu": (lambda: torch.relu(a), lambda: torch.relu(na)),
        "sum": (lambda: a.sum(), lambda: na.sum()),
        "linear": (lambda: F.linear(a, w, bias), lambda: F.linear(na, w.detach(), bias.detach())),
        "graph_fwd_bwd": (graph, None),
    }
    records = []
    for op, (with_grad, without) in cases.items():
        fns = {"torch": with_grad}
        if without is not None:
            fns["torch_no_graph"] = without
        stats = harness.interleaved(
            fns, repeats=cfg["repeats"], warmup=cfg["warmup"], min_sample_s=cfg["min_sample_s"]
        )
        records += [{"op": op, "impl": k, "time": s.as_dict()} for k, s in stats.items()]
    return records


def _epoch(torch: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    from .epoch import load_data

    ecfg = cfg["epoch"]
    data = load_data(ecfg["subset"], seed=cfg["seed"])
    sizes, batch = ecfg["sizes"], ecfg["batch"]
    model = _model(torch, sizes, "float32", "cpu", cfg["seed"])
    opt = torch.optim.SGD(model.parameters(), lr=ecfg["lr"])
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    cross_entropy = torch.nn.functional.cross_entropy
    times = []
    for _ in range(ecfg["epochs"]):
        start = harness.clock()
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch):
            idx = order[i : i + batch]
            opt.zero_grad(set_to_none=True)
            loss = cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
        times.append(harness.clock() - start)
    with torch.no_grad():
        pred = model(torch.from_numpy(data["X_test"])).argmax(dim=1).numpy()
    accuracy = float((pred == data["y_test"]).mean())
    return {
        "impl": "torch",
        "device": "cpu",
        "epoch_times_s": times,
        "median_epoch_s": sorted(times)[len(times) // 2],
        "test_accuracy": accuracy,
        "batching": "torch.randperm + tensor indexing",
        "data_source": data["source"],
    }


def _blas_library(config: str) -> str:
    """The BLAS PyTorch was built with (``BLAS_INFO`` in ``torch.__config__.show()``: ``mkl``,
    ``openblas`` for the build's ``open``, ...). Most of its CPU float products go through it
    (oneDNN takes some), so the large-network comparison depends on it."""
    found = re.search(r"\bBLAS_INFO=([^,\s]*)", config)
    name = (found.group(1) if found else "") or "unknown"
    return "openblas" if name == "open" else name


def main() -> None:
    """Child entry point: JSON config on stdin, one line of JSON results on stdout."""
    import torch

    cfg = json.loads(sys.stdin.read())
    harness.set_clock(cfg.get("clock", "wall"))
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    out: dict[str, Any] = {
        "meta": {
            "torch": torch.__version__,
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "blas": _blas_library(torch.__config__.show()),
            "parallel_info": torch.__config__.parallel_info(),
            "cuda_available": torch.cuda.is_available(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            # TF32 would make CUDA float32 matmuls faster and less precise than CuPy's default
            "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        }
    }
    if "cuda" in cfg["devices"] and not torch.cuda.is_available():
        del cfg["devices"]["cuda"]
        out["meta"]["cuda_note"] = "not measured: torch.cuda.is_available() is False"
    out["steps"] = _steps(torch, cfg)
    out["overhead"] = _overhead(torch, cfg) if cfg.get("overhead") else []
    out["epoch"] = _epoch(torch, cfg) if cfg.get("epoch") else None
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
