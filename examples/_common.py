"""Helpers shared by the examples: the command line, loading MNIST-style images, timing, writing
``<name>.json`` and printing the "ours vs published" table.

Every example accepts ``--quick`` (a small subsample and few epochs, what CI runs), ``--out DIR``
(default ``examples/results/<name>/``), ``--device cpu|cuda`` and ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_mlp import backend, data, train

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------- command line
def parse_args(name: str, description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``--quick``, ``--out``, ``--device``, ``--seed``, ``--data-dir``; ``args.out`` is a Path
    (created) and ``args.name`` the example's name."""
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description)
    parser.add_argument("--quick", action="store_true", help="small subsample, few epochs (CI)")
    parser.add_argument("--out", type=Path, help=f"output folder (default examples/results/{name})")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")
    parser.add_argument("--data-dir", help="folder holding MNIST-format IDX files (optional)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not backend.is_available("cuda"):
        parser.error("--device cuda: no usable GPU here (CuPy or a CUDA GPU is missing)")
    args.name = name
    args.out = args.out or HERE / "results" / name
    args.out.mkdir(parents=True, exist_ok=True)
    return args


# ---------------------------------------------------------------------- data
def load_images(data_dir: str | None, quick: bool, prefer: str = "mnist") -> tuple[str, tuple]:
    """``(name, (X_train, y_train, X_test, y_test))`` with uint8 images ``(N, 784)``.

    ``prefer="mnist"`` tries MNIST first and falls back to Fashion-MNIST; ``"fashion-mnist"``
    asks for Fashion-MNIST only. With ``quick=True`` and no files at all, scikit-learn's 8x8
    digits blown up to 28x28 stand in (so CI runs everywhere); the name then says so.
    """
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise SystemExit(f"--data-dir {data_dir}: no such directory")  # a typo, not a fallback
    loaders = [("MNIST", data.load_mnist)] if prefer == "mnist" else []
    loaders.append(("Fashion-MNIST", data.load_fashion_mnist))
    errors = []
    for name, load in loaders:
        try:
            return name, load(data_dir=data_dir)
        except data.DatasetError as exc:
            errors.append(str(exc))
    if not quick:
        raise SystemExit("\n\n".join(errors))
    print("note: no MNIST / Fashion-MNIST files; --quick runs on digits upscaled to 28x28")
    return "digits upscaled to 28x28 (no MNIST files)", _upscaled_digits()


def _upscaled_digits() -> tuple:
    """scikit-learn's digits as uint8 28x28 images (nearest neighbour, 8 -> 24, 2-pixel border)."""
    X_train, y_train, X_test, y_test = data.load_digits(scale=True)

    def grow(X: np.ndarray) -> np.ndarray:
        img = np.kron(X.reshape(-1, 8, 8), np.ones((3, 3), dtype=X.dtype))
        img = np.pad(img, ((0, 0), (2, 2), (2, 2)))
        return (img.reshape(len(X), 784) * 255).round().astype(np.uint8)

    return grow(X_train), y_train, grow(X_test), y_test


def subsample(X: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> tuple:
    """``n`` random rows of ``(X, y)`` (all of them when ``n >= len(X)``)."""
    if n >= len(X):
        return X, y
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[idx], y[idx]


# ---------------------------------------------------------------------- measuring
@contextmanager
def timer(device: str = "cpu") -> Iterator[dict[str, float]]:
    """``with timer(device) as t: ...`` then ``t["seconds"]`` is the wall time (GPU synced)."""
    result: dict[str, float] = {}
    backend.synchronize(device)
    start = time.perf_counter()
    try:
        yield result
    finally:
        backend.synchronize(device)
        result["seconds"] = round(time.perf_counter() - start, 3)


def accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``X`` that ``model`` classifies as ``y`` (``train.predict``'s rule)."""
    return float(np.mean(train.predict(model, X) == y))


def machine() -> str:
    """The CPU model (``lscpu``'s "Model name"), plus the GPU's name when one is usable."""
    name = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    if backend.is_available("cuda"):
        cupy = sys.modules.get("cupy")
        if cupy is not None:
            gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"]
            name += f" + {gpu.decode() if isinstance(gpu, bytes) else gpu}"
    return name


# ---------------------------------------------------------------------- reporting
def row(experiment: str, published: str, ours: str) -> dict[str, str]:
    """One line of the comparison table."""
    return {"experiment": experiment, "published": published, "ours": ours}


def print_table(rows: list[dict[str, str]]) -> None:
    """Print the comparison rows as an aligned three-column table."""
    heads = ("experiment", "published", "ours")
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in heads]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths))
    print("\n" + line + "\n" + "-" * len(line))
    for r in rows:
        print("  ".join(r[h].ljust(w) for h, w in zip(heads, widths)))


def pct(x: float) -> str:
    """0.9453 -> '94.53%'."""
    return f"{100 * x:.2f}%"


def write_results(args: argparse.Namespace, results: dict[str, Any], rows: list, start: float):
    """Print the table and write ``<name>.json`` (settings, numbers, table, time, machine)."""
    print_table(rows)
    doc = {
        "example": args.name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "quick": bool(args.quick),
        "device": args.device,
        "seed": args.seed,
        "machine": machine(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "comparison": rows,
        **results,
    }
    path = args.out / f"{args.name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path} ({doc['wall_seconds']} s)")
    return doc


def history_dict(history: train.History) -> dict[str, list]:
    """The per-epoch numbers of a History, without the wall times (they vary run to run)."""
    return {k: v for k, v in history.to_dict().items() if k != "epoch_time"}


def plot_curves(curves: dict[str, list[float]], ylabel: str, title: str, path: Path) -> None:
    """Several per-epoch curves on one axis (e.g. the validation accuracy of three optimizers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, label=label)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
