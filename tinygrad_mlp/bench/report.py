"""Turn the suite's results into files: JSON (everything), markdown (tables + targets), PNG plots.

The targets are the benchmark issue's; they are reported as measured ratios, met or not.
"""

from __future__ import annotations

import json
import os
from typing import Any

STEP_IMPLS = (  # our eager step, our compiled step, the baselines
    "tinygrad",
    "tinygrad_compiled",
    "numpy_reference",
    "gemm_floor",
    "torch",
    "torch_gemm_floor",
)
TARGETS = (
    ("step_vs_reference_b128", "step <= 1.05x hand-written NumPy (batch >= 128, CPU)", "<=", 1.05),
    ("step_vs_reference_b32", "step <= 1.15x hand-written NumPy (batch < 128, CPU)", "<=", 1.15),
    ("step_vs_torch_cpu", "step faster than PyTorch eager CPU (every batch)", "<", 1.0),
    ("step_vs_gemm_b1024", "step <= 1.15x GEMM floor (batch 1024, CPU)", "<=", 1.15),
    (
        "epoch_vs_torch_cpu",
        "Fashion-MNIST epoch <= 0.8x PyTorch CPU, accuracy within 0.5%",
        "<=",
        0.8,
    ),
    ("gpu_vs_torch_cuda_b1024", "GPU step <= 1.3x PyTorch CUDA (batch 1024)", "<=", 1.3),
    ("gpu_speedup_b8192", "GPU step >= 20x faster than our CPU step (batch 8192)", ">=", 20.0),
)


# ---------------------------------------------------------------------- lookups and targets
def step_index(results: dict[str, Any]) -> dict[tuple, float]:
    """(device, network, dtype, batch, impl) -> median seconds per step."""
    return {
        (r["device"], r["network"], r["dtype"], r["batch"], r["impl"]): r["time"]["median"]
        for r in results.get("steps", [])
    }


def _cases(index: dict[tuple, float], device: str) -> list[tuple[str, str, int]]:
    keys = {(k[1], k[2], k[3]) for k in index if k[0] == device and k[4] == "tinygrad"}
    return sorted(keys, key=lambda k: (k[0], k[1], k[2]))


def _ratio_rows(index, device, num, den, batch_ok, other_device=None) -> list[dict[str, Any]]:
    rows = []
    for net, dtype, batch in _cases(index, device):
        a = index.get((device, net, dtype, batch, num))
        b = index.get((other_device or device, net, dtype, batch, den))
        if batch_ok(batch) and a is not None and b is not None:
            rows.append({"case": f"{net} {dtype} b{batch}", "ratio": a / b})
    return rows


def _epoch_rows(results: dict[str, Any], impl: str) -> list[dict[str, Any]]:
    epoch = results.get("epoch") or {}
    by_impl = {r["impl"]: r for r in epoch.get("results", [])}
    ours, theirs = by_impl.get(impl), by_impl.get("torch")
    if not ours or not theirs:
        return []
    gap = ours["test_accuracy"] - theirs["test_accuracy"]
    return [
        {
            "case": f"{epoch.get('data_source')} {epoch.get('network')} b{epoch.get('batch')}",
            "ratio": ours["median_epoch_s"] / theirs["median_epoch_s"],
            "accuracy_gap": gap,
            "accuracy_ok": abs(gap) <= 0.005,
        }
    ]


def _step_rows(idx: dict[tuple, float], impl: str) -> dict[str, list[dict[str, Any]]]:
    """The step targets' ratios of one implementation of our step (eager or compiled)."""
    return {
        "step_vs_reference_b128": _ratio_rows(
            idx, "cpu", impl, "numpy_reference", lambda b: 128 <= b <= 1024
        ),
        "step_vs_reference_b32": _ratio_rows(
            idx, "cpu", impl, "numpy_reference", lambda b: b < 128
        ),
        "step_vs_torch_cpu": _ratio_rows(idx, "cpu", impl, "torch", lambda b: b <= 1024),
        "step_vs_gemm_b1024": _ratio_rows(idx, "cpu", impl, "gemm_floor", lambda b: b == 1024),
        "gpu_vs_torch_cuda_b1024": _ratio_rows(idx, "cuda", impl, "torch", lambda b: b == 1024),
        "gpu_speedup_b8192": [
            {"case": r["case"], "ratio": 1.0 / r["ratio"]}
            for r in _ratio_rows(idx, "cuda", impl, impl, lambda b: b == 8192, "cpu")
        ],
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured ratios, the worst one and whether it is met. The targets
    come twice: for the eager step (``tinygrad``), then, with ``_compiled`` added to their id,
    for the compiled step (``train.compile_step``, ``tinygrad_compiled``)."""
    idx = step_index(results)
    rows = _step_rows(idx, "tinygrad") | {"epoch_vs_torch_cpu": _epoch_rows(results, "tinygrad")}
    compiled = _step_rows(idx, "tinygrad_compiled")
    compiled["epoch_vs_torch_cpu"] = _epoch_rows(results, "tinygrad_compiled")
    out = [_entry(key, text, op, limit, rows[key], results) for key, text, op, limit in TARGETS]
    for key, text, op, limit in TARGETS:
        if key in compiled:
            out.append(
                _entry(f"{key}_compiled", f"compiled {text}", op, limit, compiled[key], results)
            )
    return out


def _entry(key: str, text: str, op: str, limit: float, measured: list, results: dict) -> dict:
    entry: dict[str, Any] = {"id": key, "target": text, "op": op, "limit": limit}
    entry["ratios"] = measured
    if not measured:
        entry.update(worst=None, met=None, status=_why_missing(key, results))
    else:
        worst = (min if op == ">=" else max)(measured, key=lambda r: r["ratio"])
        ok = all(_holds(r["ratio"], op, limit) and r.get("accuracy_ok", True) for r in measured)
        entry.update(worst=worst, met=ok, status="met" if ok else "not met")
    return entry


def engines_vs_torch(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per CPU case: (tinygrad_mlp step - its GEMM floor) / (PyTorch step - PyTorch's GEMM
    floor). The two frameworks without their matrix-product libraries (OpenBLAS and MKL): the
    element-wise work, updates and Python of each step. An estimate, since products in a loop of
    their own may run faster than inside a step; not a target of the issue. A case where a step
    was not slower than its floor has ``ratio`` None (no meaningful ratio: reported, not hidden)."""
    idx, rows = step_index(results), []
    for net, dtype, batch in _cases(idx, "cpu"):
        key = ("cpu", net, dtype, batch)
        times = [
            idx.get(key + (i,)) for i in ("tinygrad", "gemm_floor", "torch", "torch_gemm_floor")
        ]
        if None not in times:
            ok = times[2] > times[3] and times[0] > times[1]
            ratio = (times[0] - times[1]) / (times[2] - times[3]) if ok else None
            rows.append({"case": f"{net} {dtype} b{batch}", "ratio": ratio})
    return rows


def _holds(value: float, op: str, limit: float) -> bool:
    return {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]


def _why_missing(key: str, results: dict[str, Any]) -> str:
    if key.endswith("_compiled"):
        part = "epoch" if key.startswith("epoch") else "steps"
        rows = results.get(part) or ({} if part == "epoch" else [])
        rows = rows.get("results", []) if part == "epoch" else rows
        if not any(r["impl"] == "tinygrad_compiled" for r in rows):
            return f"not measured: no compiled step in this run's {part}"
    if key.startswith("gpu"):
        return results.get("device_notes", {}).get("cuda") or "not measured: no GPU run"
    if "torch" in key:
        status = str((results.get("torch") or {}).get("status"))
        return status if status.startswith("not measured") else f"not measured: torch {status}"
    return "not measured in this run"


# ---------------------------------------------------------------------- noise
NOISE_IQR = 0.10  # a step timing is noisy when its IQR is over 10% of its median
NOISE_EPOCH_SPREAD = 1.2  # epochs are noisy when an implementation's slowest is 1.2x its fastest
NOISE_PROBE_SPREAD = 1.2  # the machine changed speed when the probe's slowest is 1.2x its fastest


def noise(results: dict[str, Any]) -> dict[str, Any]:
    """The timings of a run that are too spread to trust; ``disturbed`` when there is any, or
    when the speed probe (one fixed workload timed between the parts of the run) moved.

    On a shared machine another tenant can slow some repeats, one epoch, or whole minutes; the
    median absorbs a little of that, not a disturbed stretch. Ratios from an undisturbed run are
    the ones to compare and commit."""
    steps = []
    for r in results.get("steps", []):
        t = r.get("time") or {}
        if t.get("iqr") is not None and t.get("median") and t["iqr"] > NOISE_IQR * t["median"]:
            case = f"{r['network']} {r['dtype']} b{r['batch']} {r['device']}"
            spread = t["iqr"] / t["median"]
            steps.append({"case": case, "impl": r["impl"], "iqr_over_median": spread})
    epochs = []
    for r in (results.get("epoch") or {}).get("results", []):
        times = r.get("epoch_times_s") or []
        if len(times) > 1 and min(times) > 0 and max(times) > NOISE_EPOCH_SPREAD * min(times):
            epochs.append({"impl": r["impl"], "spread": max(times) / min(times)})
    probe = (results.get("probe") or {}).get("spread")
    speed_changed = probe is not None and probe > NOISE_PROBE_SPREAD
    return {
        "iqr_limit": NOISE_IQR,
        "epoch_spread_limit": NOISE_EPOCH_SPREAD,
        "probe_spread_limit": NOISE_PROBE_SPREAD,
        "step_timings": len(results.get("steps", [])),
        "noisy_steps": sorted(steps, key=lambda s: -s["iqr_over_median"]),
        "noisy_epochs": epochs,
        "probe_spread": probe,
        "disturbed": bool(steps or epochs or speed_changed),
    }


# ---------------------------------------------------------------------- files
def write_all(results: dict[str, Any], out_dir: str, stem: str, plots: bool = True) -> list[str]:
    """Write ``{stem}.json``, ``{stem}.md`` and the PNG plots into ``out_dir``; their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"{stem}.json"), os.path.join(out_dir, f"{stem}.md")]
    with open(paths[0], "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1, default=str)
        fh.write("\n")
    from .markdown import render

    with open(paths[1], "w", encoding="utf-8") as fh:
        fh.write(render(results, stem))
    if plots:
        from .plots import plot_all

        paths += plot_all(results, out_dir, stem)
    return paths
