"""PNG plots: step time vs batch size (one panel per network), GPU speed-up over the CPU."""

from __future__ import annotations

import os
from typing import Any

from .report import step_index

STYLE = {
    ("tinygrad", "cpu"): ("tinygrad_mlp (NumPy)", "C0"),
    ("tinygrad_compiled", "cpu"): ("tinygrad_mlp compiled step (NumPy)", "C9"),
    ("numpy_reference", "cpu"): ("hand-written NumPy", "C1"),
    ("gemm_floor", "cpu"): ("GEMM floor", "C7"),
    ("torch", "cpu"): ("PyTorch CPU", "C3"),
    ("tinygrad", "cuda"): ("tinygrad_mlp (CuPy)", "C2"),
    ("tinygrad_compiled", "cuda"): ("tinygrad_mlp compiled step (CuPy)", "C8"),
    ("torch", "cuda"): ("PyTorch CUDA", "C4"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain_ticks(ax: Any, batches: list[int]) -> None:
    """Batch sizes as x ticks and plain numbers (not 10^x) on both log axes."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    some = FuncFormatter(lambda v, _: f"{v:g}" if f"{v:e}"[0] in "25" else "")
    ax.set_xticks(batches)
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(some)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.grid(True, which="both", alpha=0.3)


def plot_step_times(results: dict[str, Any], path: str) -> str | None:
    """Median step time (ms) vs batch, log-log; float32 solid, float64 dashed. None when no
    step was measured (a run interrupted or failed before its first step)."""
    nets = list(dict.fromkeys(r["network"] for r in results["steps"]))
    if not nets:
        return None
    plt = _pyplot()
    idx = step_index(results)
    fig, axes = plt.subplots(1, len(nets), figsize=(5.2 * len(nets), 4.2), squeeze=False)
    for ax, net in zip(axes[0], nets, strict=True):
        for (impl, device), (label, color) in STYLE.items():
            for dtype, ls in (("float32", "-"), ("float64", "--")):
                pts = sorted(
                    (k[3], v * 1e3)
                    for k, v in idx.items()
                    if k[:3] == (device, net, dtype) and k[4] == impl
                )
                if pts:
                    ax.plot(
                        *zip(*pts, strict=True),
                        ls,
                        marker="o",
                        ms=3,
                        color=color,
                        label=f"{label} {dtype}",
                    )
        ax.set(
            xscale="log",
            yscale="log",
            title=net,
            xlabel="batch size",
            ylabel="ms per training step",
        )
        _plain_ticks(ax, sorted({k[3] for k in idx if k[1] == net}))
    axes[0][0].legend(fontsize=7)
    cfg = results.get("config", {})
    extra = f"; {cfg.get('clock')} clock" if cfg.get("clock", "wall") != "wall" else ""
    extra += f"; {cfg['threads']} BLAS thread(s)" if cfg.get("threads") else ""
    fig.suptitle(f"Training step (forward + backward + SGD), median; lower is better{extra}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gpu_speedup(results: dict[str, Any], path: str) -> str | None:
    """GPU speed-up over the same implementation's CPU step, per network (None: no GPU data)."""
    idx = step_index(results)
    if not any(k[0] == "cuda" for k in idx):
        return None
    plt = _pyplot()
    nets = list(dict.fromkeys(k[1] for k in idx if k[0] == "cuda"))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, net in enumerate(nets):
        for impl, ls in (("tinygrad", "-"), ("torch", ":")):
            pts = sorted(
                (k[3], idx[("cpu",) + k[1:]] / v)
                for k, v in idx.items()
                if k[0] == "cuda"
                and k[1] == net
                and k[2] == "float32"
                and k[4] == impl
                and ("cpu",) + k[1:] in idx
            )
            if pts:
                ax.plot(
                    *zip(*pts, strict=True), ls, marker="o", color=f"C{i}", label=f"{impl} {net}"
                )
    ax.axhline(20, color="grey", lw=0.8)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="batch size",
        ylabel="CPU time / GPU time",
        title="GPU speed-up over CPU (float32)",
    )
    _plain_ticks(ax, sorted({k[3] for k in idx if k[0] == "cuda"}))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(results: dict[str, Any], out_dir: str, stem: str) -> list[str]:
    """Every plot that has data; the paths written."""
    steps = plot_step_times(results, os.path.join(out_dir, f"{stem}-step-time.png"))
    gpu = plot_gpu_speedup(results, os.path.join(out_dir, f"{stem}-gpu-speedup.png"))
    return [path for path in (steps, gpu) if path]
