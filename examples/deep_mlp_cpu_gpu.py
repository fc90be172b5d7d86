"""A deeper MLP, 784-512-128-64-10, timed on the CPU (NumPy) and the GPU (CuPy).

1. Speed (published: the CuPy port trained 3-4x faster than its CPU version): ReLU, softmax
   cross-entropy, Adam lr 1e-3, batch 1000, 10 epochs on MNIST (Fashion-MNIST when MNIST's files
   are absent), once on each device; reports both training times and the speed-up. Without a
   usable GPU the GPU time reads "not measured: no GPU".
2. Accuracy target: Fashion-MNIST, same network and Adam, >= 89% test accuracy within 20 epochs.
   Settings (chosen up front, not tuned on the test set): batch 128, Adam lr 1e-3 annealed to 0
   by a cosine schedule over the 20 epochs, all 60,000 training images; the number reported is
   the test accuracy after the last epoch. Runs on ``--device``.

    python examples/deep_mlp_cpu_gpu.py [--quick] [--out DIR] [--device cpu|cuda]
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    accuracy,
    history_dict,
    load_images,
    parse_args,
    pct,
    row,
    subsample,
    timer,
    write_results,
)

from tinygrad_mlp import backend, data, nn, optim, train
from tinygrad_mlp import functional as F


class DeepMLP(nn.Module):
    """784-512-128-64-10 with ReLU; returns logits (the softmax is inside the loss)."""

    def __init__(self, seed: int = 0, device: str = "cpu") -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.fc1 = nn.Linear(784, 512, init="kaiming_uniform", seed=rng, device=device)
        self.fc2 = nn.Linear(512, 128, init="kaiming_uniform", seed=rng, device=device)
        self.fc3 = nn.Linear(128, 64, init="kaiming_uniform", seed=rng, device=device)
        self.fc4 = nn.Linear(64, 10, seed=rng, device=device)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


def timed_run(device: str, X, y, X_test, y_test, epochs: int, seed: int) -> dict:
    """Train a fresh DeepMLP on ``device`` (batch 1000, Adam); wall time of ``fit`` (synced)."""
    model = DeepMLP(seed, device)
    loader = data.DataLoader(X, y, batch_size=1000, seed=seed, device=device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    with timer(device) as t:
        history = train.fit(
            model, F.cross_entropy, optimizer, loader, epochs=epochs, progress=False
        )
    test = accuracy(model, X_test, y_test)
    print(f"{device}: {t['seconds']:.1f} s for {epochs} epochs, test accuracy {pct(test)}\n")
    return {
        "train_seconds": t["seconds"],
        "seconds_per_epoch": round(t["seconds"] / epochs, 3),
        "test_accuracy": test,
        "epoch_seconds": history["epoch_time"],
    }


def speed(args) -> tuple[dict, dict]:
    """Part 1: the same training on the CPU and, when there is one, on the GPU."""
    dataset, (X, y, X_test, y_test) = load_images(args.data_dir, args.quick)
    X, X_test = data.scale_images(X), data.scale_images(X_test)
    if args.quick:
        X, y = subsample(X, y, 3000, args.seed)
    epochs = 2 if args.quick else 10
    print(f"== speed: {dataset}, {len(X)} images, batch 1000, {epochs} epochs ==")
    cpu = timed_run("cpu", X, y, X_test, y_test, epochs, args.seed)
    if backend.is_available("cuda"):
        timed_run("cuda", X[:2000], y[:2000], X_test, y_test, 1, args.seed)  # warm-up: kernels
        gpu = timed_run("cuda", X, y, X_test, y_test, epochs, args.seed)
        gpu["speedup"] = round(cpu["train_seconds"] / gpu["train_seconds"], 2)
    else:
        gpu = {"train_seconds": None, "note": "not measured: no GPU"}
        print("cuda: not measured: no GPU (CuPy or a CUDA GPU is missing)")
    return {"dataset": dataset, "images": len(X), "epochs": epochs, "batch_size": 1000}, {
        "cpu": cpu,
        "gpu": gpu,
    }


def target(args) -> dict:
    """Part 2: Fashion-MNIST, batch 128, Adam lr 1e-3 with cosine annealing, 20 epochs."""
    dataset, (X, y, X_test, y_test) = load_images(args.data_dir, args.quick, "fashion-mnist")
    X, X_test = data.scale_images(X), data.scale_images(X_test)
    epochs = 2 if args.quick else 20
    if args.quick:
        X, y = subsample(X, y, 3000, args.seed)
        X_test, y_test = subsample(X_test, y_test, 1000, args.seed)
    print(f"== target: {dataset}, {len(X)} images, batch 128, {epochs} epochs on {args.device} ==")
    model = DeepMLP(args.seed, args.device)
    loader = data.DataLoader(X, y, batch_size=128, seed=args.seed, device=args.device)
    test_loader = data.DataLoader(
        X_test, y_test, batch_size=2000, shuffle=False, device=args.device
    )
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    with timer(args.device) as t:  # the test set is evaluated every epoch only to draw curves
        history = train.fit(
            model,
            F.cross_entropy,
            optimizer,
            loader,
            val_loader=test_loader,
            epochs=epochs,
            scheduler=scheduler,
            progress=False,
        )
    history.plot(args.out / "fashion_curves.png")
    test = accuracy(model, X_test, y_test)
    print(f"test accuracy after {epochs} epochs: {pct(test)} ({t['seconds']:.1f} s)\n")
    return {
        "dataset": dataset,
        "test_accuracy": test,
        "epochs": epochs,
        "batch_size": 128,
        "lr": 1e-3,
        "schedule": "cosine annealing to 0",
        "train_seconds": t["seconds"],
        "history": history_dict(history),
    }


def main() -> None:
    args = parse_args("deep_mlp_cpu_gpu", __doc__.splitlines()[0])
    start = time.perf_counter()
    setup, times = speed(args)
    fashion = target(args)
    cpu, gpu = times["cpu"], times["gpu"]
    gpu_text = gpu.get("note") or f"{gpu['train_seconds']:.1f} s ({gpu['speedup']}x faster)"
    rows = [
        row(
            f"784-512-128-64-10, {setup['epochs']} epochs, CPU",
            "-",
            f"{cpu['train_seconds']:.1f} s ({setup['dataset']})",
        ),
        row(f"784-512-128-64-10, {setup['epochs']} epochs, GPU", "3-4x faster than CPU", gpu_text),
        row(
            f"Fashion-MNIST, Adam, {fashion['epochs']} epochs",
            ">= 89% (target)",
            pct(fashion["test_accuracy"]),
        ),
    ]
    results = {
        "speed": {**setup, **times},
        "fashion_target": fashion,
        "plots": ["fashion_curves.png"],
    }
    write_results(args, results, rows, start)


if __name__ == "__main__":
    main()
