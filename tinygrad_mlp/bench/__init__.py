"""``tinygrad-mlp bench``: how fast tinygrad_mlp trains an MLP, against honest yardsticks.

Measured (see ``benchmarks/README.md``): training-step time of three MLPs at several batch sizes
for tinygrad_mlp, a hand-written NumPy MLP (``reference``), the step's matrix products alone (the
GEMM floor) and PyTorch eager (own process); per-op overhead on tiny tensors; peak memory per
step; epoch time and accuracy on Fashion-MNIST against scikit-learn and PyTorch. Results go to
``--out`` as JSON, markdown and PNG.

Run ``python -m tinygrad_mlp.bench --help``.
"""

from __future__ import annotations

import argparse
import sys
import time

SKIPPABLE = ("torch", "sklearn", "epoch", "overhead", "memory", "plots")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tinygrad-mlp bench",
        description="Benchmark tinygrad_mlp against hand-written NumPy, the GEMM floor, "
        "PyTorch and scikit-learn.",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke test: few repeats, small sizes, no PyTorch (CI)"
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "all"),
        default="all",
        help="all = cpu plus cuda when a GPU is usable (default)",
    )
    p.add_argument(
        "--out", default="benchmarks/results", help="output folder (default: benchmarks/results)"
    )
    p.add_argument("--repeats", type=int, help="timed repeats per measurement")
    p.add_argument("--networks", help="comma-separated subset, e.g. 784-50-10,64-64-16-10")
    p.add_argument("--epochs", type=int, help="epochs of the Fashion-MNIST benchmark")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip: {SKIPPABLE}")
    p.add_argument("--torch", action="store_true", help="run PyTorch even with --quick")
    p.add_argument(
        "--threads",
        type=int,
        help="limit NumPy's BLAS (threadpoolctl) and PyTorch to N threads "
        "(default: each library's own default)",
    )
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu = process CPU time, robust on a busy machine; only with --threads 1 "
        "--device cpu (default: wall)",
    )
    p.add_argument(
        "--variant",
        choices=("auto", "nn", "engine"),
        default="auto",
        help="tinygrad step from nn.MLP + optim.SGD, or from the raw engine",
    )
    return p


def config_from_args(args: argparse.Namespace):
    """A ``suite.Config`` from parsed command-line arguments (ValueError on bad values)."""
    from .suite import make_config

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(SKIPPABLE)
    if unknown:
        raise ValueError(f"--skip got unknown part(s) {sorted(unknown)}; expected {SKIPPABLE}")
    overrides: dict = {"variant": args.variant}
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        overrides["threads"] = args.threads
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
        overrides["repeats"] = args.repeats
    if args.networks:
        overrides["networks"] = tuple(n.strip() for n in args.networks.split(","))
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    for part in ("torch", "sklearn", "epoch", "overhead", "memory"):
        if part in skip:
            overrides[part] = False
    if args.torch and "torch" not in skip:
        overrides["torch"] = True
    devices = ("cpu", "cuda") if args.device == "all" else (args.device,)
    if args.clock == "cpu":
        if args.threads != 1 or args.device != "cpu":
            raise ValueError("--clock cpu is only meaningful with --threads 1 --device cpu")
        overrides["clock"] = "cpu"
    return make_config(quick=args.quick, devices=devices, **overrides), "plots" not in skip


def run(argv: list[str] | None = None) -> int:
    """Entry point of ``tinygrad-mlp bench`` / ``python -m tinygrad_mlp.bench``; exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        cfg, plots = config_from_args(args)
    except ValueError as exc:
        print(f"tinygrad-mlp bench: error: {exc}", file=sys.stderr)
        return 2
    from .. import backend
    from . import report, suite

    if args.device == "cuda" and not backend.is_available("cuda"):
        print(
            "tinygrad-mlp bench: error: --device cuda but no usable GPU (CuPy + CUDA)",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    try:
        with suite.thread_limit(cfg.threads):
            results = suite.run_suite(cfg, argv=["bench", *argv])
    except ImportError as exc:
        print(f"tinygrad-mlp bench: error: {exc}", file=sys.stderr)
        return 2
    stem = "bench-quick" if cfg.quick else "bench"
    paths = report.write_all(results, args.out, stem, plots=plots)
    print(f"wrote {', '.join(paths)} in {time.perf_counter() - start:.1f} s")
    for t in results["targets"]:
        worst = t["worst"]
        value = f"{worst['ratio']:.2f}x ({worst['case']})" if worst else "-"
        print(f"  {t['status']:>12}: {t['target']}: {value}")
    for failure in results["failures"]:
        print(f"tinygrad-mlp bench: FAILED {failure['part']}: {failure['error']}", file=sys.stderr)
    if results["interrupted"]:
        print(f"tinygrad-mlp bench: {results['interrupted']}", file=sys.stderr)
        return 130
    return 1 if results["failures"] else 0


__all__ = ["run"]
