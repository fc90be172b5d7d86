"""The classic from-scratch MNIST network: 784-50-10, sigmoid everywhere, MSE, plain SGD.

Setup of the classic experiment (published: 94.5% test accuracy on MNIST):
  784 inputs (pixels scaled to [-1, 1]) -> 50 sigmoid units -> 10 sigmoid outputs,
  MSE against one-hot targets, SGD lr 0.1, mini-batches of 100, 50 epochs,
  55,000 training / 5,000 validation / 10,000 test images.
Then the same 784-50-10 shape with modern defaults: ReLU, softmax cross-entropy, Adam.

MNIST is used when its files are found (``--data-dir`` or ``TINYGRAD_MLP_DATA``), otherwise
Fashion-MNIST (a harder data set, so its numbers are lower than MNIST's); the output says which.

    python examples/mnist_784_50_10.py [--quick] [--out DIR] [--device cpu|cuda]
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

from tinygrad_mlp import data, nn, optim, train
from tinygrad_mlp import functional as F
from tinygrad_mlp.cli import plot_misclassified


class ClassicNet(nn.Module):
    """784-50-10 with a sigmoid after both layers (outputs are in (0, 1), like the targets).
    Weights: Glorot (Xavier) uniform, the usual choice for sigmoid units; biases start at 0."""

    def __init__(self, seed: int = 0, device: str = "cpu") -> None:
        super().__init__()
        rng = np.random.default_rng(seed)  # one stream for both layers
        self.fc1 = nn.Linear(784, 50, init="xavier_uniform", seed=rng, device=device)
        self.fc2 = nn.Linear(50, 10, init="xavier_uniform", seed=rng, device=device)

    def forward(self, x):
        x = F.sigmoid(self.fc1(x))
        return F.sigmoid(self.fc2(x))


class ModernNet(nn.Module):
    """The same 784-50-10 shape with ReLU and raw logits (the softmax is in the loss)."""

    def __init__(self, seed: int = 0, device: str = "cpu") -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.fc1 = nn.Linear(784, 50, init="kaiming_uniform", seed=rng, device=device)
        self.fc2 = nn.Linear(50, 10, seed=rng, device=device)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def mse_one_hot(out, labels):
    """The from-scratch MSE: 0.5 * sum over the 10 outputs of (out - one_hot)^2, averaged over
    the batch, so the output error is simply ``out - target`` (per-element mean would be 10x
    smaller and need a 10x larger learning rate)."""
    target = F.one_hot(labels, 10, dtype=out.dtype)
    return 0.5 * ((out - target) ** 2).sum(axis=1).mean()


def run(model, loss_fn, optimizer, splits, epochs, batch_size, args):
    """Train on the training split (validating every epoch), then measure the test accuracy."""
    X_train, y_train, X_val, y_val, X_test, y_test = splits
    loader = data.DataLoader(
        X_train, y_train, batch_size=batch_size, seed=args.seed, device=args.device
    )
    val = data.DataLoader(X_val, y_val, batch_size=1000, shuffle=False, device=args.device)
    with timer(args.device) as t:
        history = train.fit(
            model, loss_fn, optimizer, loader, val_loader=val, epochs=epochs, progress=False
        )
    test = accuracy(model, X_test, y_test)
    print(f"test accuracy {pct(test)}  ({t['seconds']:.1f} s)\n")
    result = {
        "test_accuracy": test,
        "val_accuracy": history["val_accuracy"][-1],
        "train_seconds": t["seconds"],
        "epochs": epochs,
        "history": history_dict(history),
    }
    return result, history


def main() -> None:
    args = parse_args("mnist_784_50_10", __doc__.splitlines()[0])
    start = time.perf_counter()
    dataset, (X_train, y_train, X_test, y_test) = load_images(args.data_dir, args.quick)
    X_train = data.scale_images(X_train, "symmetric")  # 0..255 -> [-1, 1]
    X_test = data.scale_images(X_test, "symmetric")
    n_train, n_val = (5000, 1000) if args.quick else (55000, 5000)
    n_val = min(n_val, len(X_train) // 5)  # the small stand-in data set of a --quick run
    n_train = min(n_train, len(X_train) - n_val)
    splits = (
        X_train[:n_train],
        y_train[:n_train],
        X_train[-n_val:],
        y_train[-n_val:],
        *subsample(X_test, y_test, 2000 if args.quick else len(X_test)),
    )
    epochs = 5 if args.quick else 50
    print(f"data: {dataset}, {n_train} train / {n_val} validation / {len(splits[4])} test images")

    print("== classic: 784-50-10 sigmoid, MSE on one-hot targets, SGD lr 0.1, batch 100 ==")
    model = ClassicNet(args.seed, args.device)
    classic, history = run(
        model, mse_one_hot, optim.SGD(model.parameters(), lr=0.1), splits, epochs, 100, args
    )
    history.plot(args.out / "classic_curves.png")
    predicted = train.predict(model, splits[4])
    plot_misclassified(splits[4], splits[5], predicted, args.out / "misclassified.png")

    print("== modern: 784-50-10 ReLU, softmax cross-entropy, Adam lr 1e-3, batch 100 ==")
    model = ModernNet(args.seed, args.device)
    modern, history = run(
        model, F.cross_entropy, optim.Adam(model.parameters(), lr=1e-3), splits, epochs, 100, args
    )
    history.plot(args.out / "modern_curves.png")

    where = f"{dataset}, {epochs} epochs"
    rows = [
        row(
            "784-50-10 sigmoid + MSE + SGD",
            "94.5% (MNIST)",
            f"{pct(classic['test_accuracy'])} ({where})",
        ),
        row("784-50-10 ReLU + softmax CE + Adam", "-", f"{pct(modern['test_accuracy'])} ({where})"),
    ]
    results = {
        "dataset": dataset,
        "published": {"classic_test_accuracy": 0.945, "dataset": "MNIST"},
        "classic": classic,
        "modern": modern,
        "plots": ["classic_curves.png", "modern_curves.png", "misclassified.png"],
    }
    write_results(args, results, rows, start)


if __name__ == "__main__":
    main()
