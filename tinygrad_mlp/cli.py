"""The ``tinygrad-mlp`` command: ``train`` an MLP on a dataset, run the ``bench``-marks, or
``compare`` benchmark runs.

``tinygrad-mlp train`` with no arguments trains a 64-128-10 ReLU network with Adam on the 8x8
digits that ship with scikit-learn (no download) and writes its results to ``runs/digits``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("digits", "moons", "breast-cancer", "mnist", "fashion-mnist")
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
LOSSES = ("cross-entropy", "mse", "bce")


@dataclass
class Defaults:
    layers: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    loss: str = "cross-entropy"


DEFAULTS = {
    "digits": Defaults("64,128,10", 40, 32, "adam", 1e-3),
    "moons": Defaults("2,64,2", 30, 32, "adam", 3e-3),
    "breast-cancer": Defaults("30,32,1", 60, 32, "adam", 1e-3, loss="bce"),
    "mnist": Defaults("784,512,128,64,10", 10, 128, "adam", 1e-3),
    "fashion-mnist": Defaults("784,512,128,64,10", 20, 128, "adam", 1e-3),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygrad-mlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an MLP and write metrics, curves and a checkpoint")
    train.add_argument("--dataset", choices=DATASETS, default="digits")
    train.add_argument("--data-dir", help="directory holding MNIST-format IDX files")
    train.add_argument(
        "--download",
        action="store_true",
        help="download mnist / fashion-mnist when no directory holds the files (checked against "
        "their SHA-256 digests)",
    )
    train.add_argument("--layers", help="comma-separated layer sizes, e.g. 64,64,16,10")
    train.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), default="relu")
    train.add_argument("--loss", choices=LOSSES)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--lr", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="output directory (default runs/<dataset>)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--flush-denormal",
        action="store_true",
        help="treat subnormal floats as zero while training (tg.set_flush_denormal; x86-64 "
        "Linux): faster where Adam moments decay through them (fashion-mnist, 10 epochs: "
        "0.84-0.89x the time)",
    )
    train.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="train with train.compile_step: the same results bit for bit without the autodiff "
        "graph, faster on small layers; the default wherever it runs the network: --loss "
        "cross-entropy and a hidden layer (--no-compile: the eager step)",
    )
    sub.add_parser(
        "bench",
        help="benchmark training steps against NumPy, GEMM, PyTorch (tinygrad-mlp bench --help)",
    )
    sub.add_parser(
        "compare",
        help="compare benchmark runs: ratio ranges per group (tinygrad-mlp compare --help)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark parses its own options
        from .bench import run

        return run(argv[1:])
    if argv[:1] == ["compare"]:
        from .bench.compare import run as compare

        return compare(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return train_command(args)
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as exc:
        print(f"tinygrad-mlp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside fit's own handling (loading, evaluating, writing)
        print("tinygrad-mlp: interrupted (each file written is complete)", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------- train
def train_command(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    X_train, y_train, X_test, y_test = load_dataset(
        config["dataset"], args.data_dir, args.seed, download=args.download
    )
    sizes = config["sizes"]
    if sizes[0] != X_train.shape[1]:
        raise ValueError(
            f"--layers starts with {sizes[0]} inputs but {config['dataset']} has "
            f"{X_train.shape[1]} features"
        )
    classes = int(max(y_train.max(), y_test.max())) + 1
    if sizes[-1] < classes and not (config["loss"] == "bce" and sizes[-1] == 1 and classes == 2):
        raise ValueError(
            f"--layers ends with {sizes[-1]} outputs but {config['dataset']} has {classes} "
            f"classes (labels 0-{classes - 1}); end --layers with {classes}"
        )
    with _output_dir(config["out"]) as out:  # before training: a bad --out wastes no run
        with _denormal_mode(config):
            started = time.perf_counter()
            model, history, loss_fn = fit_model(config, X_train, y_train, X_test, y_test, args)
            elapsed = time.perf_counter() - started
            metrics = test_metrics(model, loss_fn, X_test, y_test, config)
        metrics.update(
            train_seconds=round(elapsed, 3),
            epochs=len(history["loss"]),
            interrupted=history.interrupted,
            config=config,
        )
        print(f"test accuracy {metrics['test_accuracy']:.4f}  ({elapsed:.1f} s)")
        write_outputs(out, model, history, metrics, X_test, y_test, config)
    if history.interrupted:
        print(
            f"tinygrad-mlp: interrupted after {metrics['epochs']} complete epoch(s): the model, "
            "its test metrics and the checkpoint are from the step it stopped at (metrics.json: "
            '"interrupted": true)',
            file=sys.stderr,
        )
        return 130  # the shell's code for a run stopped by Ctrl-C
    return 0


@contextlib.contextmanager
def _output_dir(out: str) -> Iterator[Path]:
    """``--out`` as a directory, created now (a ValueError naming it when that fails); the
    folders it created are removed again if the run fails before writing into them."""
    path = Path(out)
    parent = next(p for p in (path, *path.parents) if p.exists())
    if not parent.is_dir():
        where = "" if parent == path else f": {parent}"
        raise ValueError(f"--out {out}{where} is a file, not a directory")
    made = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: the directory is not writable")
    try:
        yield path
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):  # only empty ones go
                folder.rmdir()
        raise


@contextlib.contextmanager
def _denormal_mode(config: dict[str, Any]) -> Iterator[None]:
    """Subnormals as zero while training when ``config["flush_denormal"]`` asks for it; records
    whether the mode is really on (False where unsupported, with a warning) and restores the
    previous mode afterwards."""
    from .denormal import is_flush_denormal, set_flush_denormal

    if not config["flush_denormal"]:
        yield
        return
    previous = is_flush_denormal()
    config["flush_denormal"] = set_flush_denormal(True)
    if not config["flush_denormal"]:
        print(
            "tinygrad-mlp: warning: --flush-denormal is not supported here (x86-64 Linux only); "
            "training with subnormals as usual",
            file=sys.stderr,
        )
    try:
        yield
    finally:
        set_flush_denormal(previous)


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the command line with the dataset's defaults and validate it (a ValueError naming
    the option and its value)."""
    d = DEFAULTS[args.dataset]
    layers = args.layers or d.layers
    sizes = _sizes(layers)
    pick = lambda given, default: default if given is None else given  # noqa: E731  (0 stays 0)
    config = asdict(d) | {
        "dataset": args.dataset,
        "sizes": sizes,
        "activation": args.activation,
        "loss": args.loss or d.loss,
        "optimizer": args.optimizer or d.optimizer,
        "lr": pick(args.lr, d.lr),
        "batch_size": pick(args.batch_size, d.batch_size),
        "epochs": pick(args.epochs, d.epochs),
        "device": args.device,
        "seed": args.seed,
        "out": args.out or str(Path("runs") / args.dataset),
        "flush_denormal": bool(args.flush_denormal),
        "compile": args.compile,
    }
    config.pop("layers")
    for option, key, ok, rule in (
        ("--lr", "lr", lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
        ("--batch-size", "batch_size", lambda v: v >= 1, ">= 1"),
        ("--epochs", "epochs", lambda v: v >= 1, ">= 1"),
        ("--seed", "seed", lambda v: v >= 0, ">= 0"),
    ):
        if not ok(config[key]):
            raise ValueError(f"{option} must be {rule}, got {config[key]}")
    for option, given in (("--data-dir", args.data_dir is not None), ("--download", args.download)):
        if given and args.dataset not in ("mnist", "fashion-mnist"):
            raise ValueError(
                f"{option} is for --dataset mnist or fashion-mnist; {args.dataset} ships with "
                "scikit-learn"
            )
    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        raise ValueError(f"--data-dir {args.data_dir}: no such directory")
    if args.device == "cuda":
        from .backend import namespace_for

        namespace_for("cuda")  # a DeviceError naming what is missing (CuPy, a GPU), at once
    least = 1 if config["loss"] == "bce" else 2  # bce: one unit for two classes, or one per class
    if sizes[-1] < least:
        default = "" if args.layers else f" (the default for --dataset {args.dataset})"
        raise ValueError(
            f"--loss {config['loss']} needs one output unit per class (at least {least}), got "
            f"--layers {layers}{default}; end --layers with the number of classes"
        )
    config["compile"] = _compile_choice(args, config)
    return config


def _sizes(layers: str) -> list[int]:
    """``--layers`` as a list of layer sizes; ValueError naming the string."""
    try:
        sizes = [int(s) for s in layers.split(",")]
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers, got {layers!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"--layers needs at least two sizes (inputs and outputs, e.g. 64,128,10), each >= 1, "
            f"got {layers!r}"
        )
    return sizes


def _compile_choice(args: argparse.Namespace, config: dict[str, Any]) -> bool:
    """``--compile`` / ``--no-compile``, or by default whether ``train.compile_step`` runs this
    network: cross-entropy on the logits of Linear layers with a hidden activation (the only
    other things it refuses, dropout and mixed dtypes, the command never makes)."""
    loss, sizes = config["loss"], config["sizes"]
    if args.compile is None:
        return loss == "cross-entropy" and len(sizes) >= 3
    if args.compile and loss != "cross-entropy":
        default = "" if args.loss else f" (the default for --dataset {args.dataset})"
        raise ValueError(
            "--compile needs --loss cross-entropy (the compiled step has no output activation), "
            f"got --loss {loss}{default}; train without --compile"
        )
    if args.compile and len(sizes) < 3:
        raise ValueError(
            f"--compile needs a hidden layer (--layers with at least three sizes), got --layers "
            f"{','.join(map(str, sizes))}; train without --compile"
        )
    return args.compile


def load_dataset(name: str, data_dir: str | None, seed: int, download: bool = False):
    """(X_train, y_train, X_test, y_test) as float32 features and int64 labels."""
    from . import data

    if name == "digits":
        return data.load_digits(seed=seed)
    if name == "moons":
        return data.make_moons(seed=seed)
    if name == "breast-cancer":
        return data.load_breast_cancer(seed=seed)
    loader = data.load_mnist if name == "mnist" else data.load_fashion_mnist
    X_train, y_train, X_test, y_test = loader(data_dir=data_dir, download=download)
    return data.scale_images(X_train), y_train, data.scale_images(X_test), y_test


def make_loss(config: dict[str, Any]):
    """(output activation, loss_fn(output, labels)) for the chosen loss."""
    from . import functional as F

    classes = config["sizes"][-1]
    if config["loss"] == "cross-entropy":
        return None, F.cross_entropy
    if config["loss"] == "mse":
        return "sigmoid", lambda out, y: F.mse_loss(out, F.one_hot(y, classes, dtype=out.dtype))
    if classes == 1:
        return "sigmoid", lambda out, y: F.binary_cross_entropy(out, y.reshape(-1, 1))
    return "sigmoid", lambda out, y: F.binary_cross_entropy(out, F.one_hot(y, classes))


def make_optimizer(name: str, params: Any, lr: float):
    from . import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    return {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}[name](params, lr=lr)


def fit_model(config, X_train, y_train, X_test, y_test, args):
    from . import data, nn, train

    out_act, loss_fn = make_loss(config)
    model = nn.MLP(
        config["sizes"],
        activation=config["activation"],
        output_activation=out_act,
        seed=config["seed"],
        device=config["device"],
    )
    optimizer = make_optimizer(config["optimizer"], model.parameters(), config["lr"])
    loader = data.DataLoader(
        X_train,
        y_train,
        batch_size=config["batch_size"],
        shuffle=True,
        seed=config["seed"],
        device=config["device"],
    )
    val = data.DataLoader(X_test, y_test, batch_size=1024, shuffle=False, device=config["device"])
    history = train.fit(
        model,
        loss_fn,
        optimizer,
        loader,
        val_loader=val,
        epochs=config["epochs"],
        progress=not args.no_progress,
        compile=config["compile"],
    )
    return model, history, loss_fn


def test_metrics(model, loss_fn, X_test, y_test, config) -> dict[str, Any]:
    from . import data, train

    loader = data.DataLoader(
        X_test, y_test, batch_size=1024, shuffle=False, device=config["device"]
    )
    result = train.evaluate(model, loss_fn, loader)
    return {"test_accuracy": float(result["accuracy"]), "test_loss": float(result["loss"])}


def write_outputs(out: Path, model, history, metrics, X_test, y_test, config) -> None:
    from . import io, train
    from .files import atomic_writer

    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "metrics.json", "w") as f:
        f.write(json.dumps(metrics, indent=2) + "\n")
    history.save(out / "history.json")
    io.save({"model": model.state_dict(), "config": json.dumps(config)}, out / "model.npz")
    written = ["metrics.json", "history.json", "model.npz"]
    try:
        history.plot(out / "curves.png")
        written.append("curves.png")
        if config["dataset"] in IMAGE_DATASETS:
            predicted = train.predict(model, X_test)
            plot_misclassified(X_test, y_test, predicted, out / "misclassified.png")
            written.append("misclassified.png")
    except ImportError as exc:
        print(f"(no plots: {exc})", file=sys.stderr)
    print(f"wrote {', '.join(written)} to {out}")


def plot_misclassified(X, y_true, y_pred, path: Path, limit: int = 25) -> None:
    """A grid of up to ``limit`` wrongly classified images, titled 'true -> predicted'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = np.flatnonzero(np.asarray(y_pred) != np.asarray(y_true))[:limit]
    side = int(round(np.sqrt(X.shape[1])))
    cols = 5
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        ax.imshow(X[i].reshape(side, side), cmap="gray_r")
        ax.set_title(f"{y_true[i]} -> {y_pred[i]}", fontsize=9)
    fig.suptitle(f"{len(wrong)} misclassified test images (true -> predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
