"""Two moons: a 2-64-2 network, accuracy over 100 runs, and a sweep of the hidden width.

Classic setup (published: 94.5% mean test accuracy over 100 runs): 5,000 points of
scikit-learn's ``make_moons`` with noise 0.1, 4,000 to train / 1,000 to test (stratified),
features standardised; 2-64-2 with a ReLU hidden layer and a softmax output (cross-entropy),
plain mini-batch SGD, lr 0.01, batches of 32, 10 epochs. Run ``s`` (s = 0..99) draws its own
points, split, weights and batch order from seed ``s``; we report the mean and standard deviation
of the 100 test accuracies. Modern defaults (target >= 99%): the same 2-64-2 network trained
with Adam lr 1e-3 for 30 epochs (10 runs). The width sweep trains both recipes with hidden
widths 3..40 (3 runs each) and plots accuracy against width: the classic recipe is limited by
its optimizer (10 epochs of plain SGD), not by its width.

    python examples/two_moons.py [--quick] [--out DIR] [--device cpu|cuda]
"""

from __future__ import annotations

import time

import numpy as np
from _common import accuracy, parse_args, pct, row, timer, write_results

from tinygrad_mlp import data, nn, optim, train
from tinygrad_mlp import functional as F


class MoonsNet(nn.Module):
    """2-hidden-2 with ReLU; returns logits (softmax + cross-entropy is ``F.cross_entropy``)."""

    def __init__(self, hidden: int = 64, seed: int = 0, device: str = "cpu") -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.fc1 = nn.Linear(2, hidden, seed=rng, device=device)
        self.fc2 = nn.Linear(hidden, 2, seed=rng, device=device)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def one_run(seed: int, hidden: int = 64, modern: bool = False, device: str = "cpu") -> float:
    """Test accuracy of one run: fresh points, split and weights drawn from ``seed``."""
    X_train, y_train, X_test, y_test = data.make_moons(n_samples=5000, noise=0.1, seed=seed)
    model = MoonsNet(hidden, seed, device)
    if modern:
        optimizer, epochs = optim.Adam(model.parameters(), lr=1e-3), 30
    else:
        optimizer, epochs = optim.SGD(model.parameters(), lr=0.01), 10
    loader = data.DataLoader(X_train, y_train, batch_size=32, seed=seed, device=device)
    train.fit(
        model, F.cross_entropy, optimizer, loader, epochs=epochs, progress=False, verbose=False
    )
    return accuracy(model, X_test, y_test)


def summary(accs: list[float]) -> dict:
    return {
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "min": float(np.min(accs)),
        "max": float(np.max(accs)),
        "runs": len(accs),
        "accuracies": accs,
    }


def plot_width(widths: list[int], sweeps: dict[str, list[dict]], path) -> None:
    """Mean test accuracy (+- std over runs) against the hidden width, one line per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, stats in sweeps.items():
        means, stds = [s["mean"] for s in stats], [s["std"] for s in stats]
        ax.errorbar(widths, means, yerr=stds, marker="o", markersize=3, capsize=2, label=label)
    ax.set(xlabel="hidden units", ylabel="test accuracy", title="two moons, 2-h-2 ReLU")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args("two_moons", __doc__.splitlines()[0])
    start = time.perf_counter()
    n_runs = 5 if args.quick else 100
    seeds = [args.seed + i for i in range(n_runs)]
    with timer() as t:
        classic = summary([one_run(s, device=args.device) for s in seeds])
    print(
        f"classic 2-64-2 SGD, {n_runs} runs: {pct(classic['mean'])} +- {pct(classic['std'])} "
        f"(min {pct(classic['min'])}, {t['seconds']:.0f} s)"
    )

    widths = [3, 8, 40] if args.quick else list(range(3, 41))
    per_width = 1 if args.quick else 3
    sweeps = {}
    for label, modern in (("SGD lr 0.01, 10 epochs", False), ("Adam lr 1e-3, 30 epochs", True)):
        sweeps[label] = [
            summary([one_run(args.seed + i, w, modern, args.device) for i in range(per_width)])
            for w in widths
        ]
        print(
            f"width sweep, {label}: "
            + ", ".join(f"{w}: {pct(s['mean'])}" for w, s in zip(widths, sweeps[label]))
        )
    plot_width(widths, sweeps, args.out / "width_sweep.png")

    n_modern = 2 if args.quick else 10
    modern = summary([one_run(s, modern=True, device=args.device) for s in seeds[:n_modern]])
    print(f"modern 2-64-2 Adam, {n_modern} runs: {pct(modern['mean'])} +- {pct(modern['std'])}")

    rows = [
        row(
            f"two moons 2-64-2, SGD, {n_runs} runs",
            "94.5% mean (+- its std)",
            f"{pct(classic['mean'])} +- {pct(classic['std'])}",
        ),
        row(
            f"two moons 2-64-2, Adam, {n_modern} runs",
            ">= 99% (target)",
            f"{pct(modern['mean'])} +- {pct(modern['std'])}",
        ),
    ]
    results = {
        "classic": classic,
        "modern": modern,
        "width_sweep": {
            "widths": widths,
            "runs_per_width": per_width,
            **{
                label: {
                    "mean_accuracy": [s["mean"] for s in stats],
                    "std_accuracy": [s["std"] for s in stats],
                }
                for label, stats in sweeps.items()
            },
        },
        "plots": ["width_sweep.png"],
    }
    write_results(args, results, rows, start)


if __name__ == "__main__":
    main()
