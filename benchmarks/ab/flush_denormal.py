"""A/B: Fashion-MNIST training with and without ``tg.set_flush_denormal(True)``, same session.

Two copies of 784-512-128-64-10 (same initial weights, same batch order) train side by side,
epoch by epoch, alternating which goes first; one with subnormal floats flushed to zero. Prints
every epoch's time and the final test accuracy of both.

    python benchmarks/ab/flush_denormal.py adam 10     # or: sgd 6 (SGD, momentum 0.9)

Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist) and x86-64 Linux.
"""

import sys
import time

import numpy as np

import tinygrad_mlp as tg
from tinygrad_mlp import data, nn, optim
from tinygrad_mlp import functional as F


def main(optimizer: str = "adam", epochs: int = 10) -> None:
    x_train, y_train, x_test, y_test = data.load_fashion_mnist()
    x_train = (x_train.reshape(len(x_train), -1) / 255).astype(np.float32)
    x_test = (x_test.reshape(len(x_test), -1) / 255).astype(np.float32)
    arms = {}
    for name in ("ieee", "flush"):
        model = nn.MLP([784, 512, 128, 64, 10], seed=0)
        if optimizer == "adam":
            opt = optim.Adam(model.parameters(), lr=1e-3)
        else:
            opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = data.DataLoader(x_train, y_train, batch_size=128, shuffle=True, seed=0)
        arms[name] = (model, opt, loader, [])
    for epoch in range(epochs):
        for name in ("ieee", "flush") if epoch % 2 == 0 else ("flush", "ieee"):
            model, opt, loader, times = arms[name]
            if not tg.set_flush_denormal(name == "flush"):
                raise SystemExit("set_flush_denormal is not supported here (x86-64 Linux only)")
            start = time.perf_counter()
            for xb, yb in loader:
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
            times.append(time.perf_counter() - start)
            tg.set_flush_denormal(False)
    for name, (model, _, _, times) in arms.items():
        with tg.no_grad():
            predicted = model(tg.Tensor(x_test)).argmax(axis=1).numpy()
        accuracy = float(np.mean(predicted == y_test))
        epochs_s = " ".join(f"{t:.2f}" for t in times)
        print(
            f"{optimizer} {name}: epochs {epochs_s} s | total {sum(times):.1f} s, "
            f"test accuracy {accuracy:.2%}"
        )


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "adam", int(sys.argv[2]) if len(sys.argv) > 2 else 10
    )
