"""Binary classification with one sigmoid output and binary cross-entropy: breast cancer.

This stands in for the classic from-scratch Titanic network (7 inputs, 15 hidden units, one
sigmoid output), whose data cannot be shipped. scikit-learn's Wisconsin breast-cancer data set
(569 tumours, 30 features, malignant / benign) ships offline; 80/20 stratified split, features
standardised with the training part's mean and std.

Network: 30-15-1, ReLU hidden layer, sigmoid output, BCE loss, Adam lr 1e-3, batches of 32,
100 epochs. Target: >= 96% test accuracy (114 test tumours: one is 0.88%). Reported for the split
of ``--seed`` and as mean +- std over 10 splits (seeds 0..9: split, weights, batch order).

    python examples/breast_cancer.py [--quick] [--out DIR] [--device cpu|cuda]
"""

from __future__ import annotations

import time

import numpy as np
from _common import accuracy, history_dict, parse_args, pct, row, timer, write_results

from tinygrad_mlp import data, nn, optim, train
from tinygrad_mlp import functional as F


class CancerNet(nn.Module):
    """30-15-1: ReLU hidden layer, sigmoid output = P(benign)."""

    # Tells train.fit / train.predict that the output is a probability: class 1 above 0.5
    # (without it a single output column is taken as a logit, class 1 above 0).
    output_activation = "sigmoid"

    def __init__(self, seed: int = 0, device: str = "cpu") -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.fc1 = nn.Linear(30, 15, init="kaiming_uniform", seed=rng, device=device)
        self.fc2 = nn.Linear(15, 1, seed=rng, device=device)

    def forward(self, x):
        return F.sigmoid(self.fc2(F.relu(self.fc1(x))))


def bce(prob, labels):
    """Binary cross-entropy of probabilities (N, 1) against 0/1 labels (N,)."""
    return F.binary_cross_entropy(prob, labels.reshape(-1, 1))


def one_run(seed: int, epochs: int, device: str) -> tuple[float, train.History]:
    """Split, train and test with everything drawn from ``seed``."""
    X_train, y_train, X_test, y_test = data.load_breast_cancer(test_size=0.2, seed=seed)
    model = CancerNet(seed, device)
    loader = data.DataLoader(X_train, y_train, batch_size=32, seed=seed, device=device)
    test = data.DataLoader(X_test, y_test, batch_size=256, shuffle=False, device=device)
    history = train.fit(
        model,
        bce,
        optim.Adam(model.parameters(), lr=1e-3),
        loader,
        val_loader=test,
        epochs=epochs,
        progress=False,
        verbose=False,
    )
    return accuracy(model, X_test, y_test), history


def main() -> None:
    args = parse_args("breast_cancer", __doc__.splitlines()[0])
    start = time.perf_counter()
    epochs = 20 if args.quick else 100
    with timer(args.device) as t:
        test_acc, history = one_run(args.seed, epochs, args.device)
    print(
        f"split {args.seed}: test accuracy {pct(test_acc)} after {epochs} epochs "
        f"({t['seconds']:.1f} s)"
    )
    history.plot(args.out / "curves.png")  # the test set is evaluated every epoch for the curves
    seeds = [args.seed + i for i in range(2 if args.quick else 10)]
    accs = [one_run(s, epochs, args.device)[0] for s in seeds]
    print(
        f"{len(seeds)} splits: {pct(np.mean(accs))} +- {pct(np.std(accs))} (min {pct(min(accs))})"
    )
    rows = [
        row(
            "breast cancer 30-15-1, sigmoid + BCE, Adam",
            ">= 96% (target; stands in for Titanic 7-15-1)",
            f"{pct(test_acc)} (mean of {len(seeds)} splits: {pct(np.mean(accs))} "
            f"+- {pct(np.std(accs))})",
        )
    ]
    results = {
        "epochs": epochs,
        "test_accuracy": test_acc,
        "train_seconds": t["seconds"],
        "history": history_dict(history),
        "splits": {
            "seeds": seeds,
            "accuracies": accs,
            "mean": float(np.mean(accs)),
            "std": float(np.std(accs)),
        },
        "plots": ["curves.png"],
    }
    write_results(args, results, rows, start)


if __name__ == "__main__":
    main()
