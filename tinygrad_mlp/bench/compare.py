"""``tinygrad-mlp compare``: ratios over several benchmark runs, side by side.

One run is one sample: over undisturbed runs of the same code on a 2-core machine, a ratio's
highest value was typically 1.03-1.10x its lowest, at worst 1.24x. This reads the
``bench.json`` of several runs, in named groups (one NumPy build against another, a change
before and after), and writes one markdown report:

- every run: when, which commit and BLAS, whether its noise check found it disturbed, its
  targets (worst ratio, met or not), how many CPU cases were faster than PyTorch, the epoch;
- every step ratio (tinygrad_mlp / hand-written NumPy, / GEMM floor, / PyTorch, and the two
  GEMM floors), as the range over each group's runs, one column per group.

Ratios are recomputed from the step medians with the current definitions (``report``), so old
and new files compare alike. ::

    tinygrad-mlp compare openblas='runs/ob*.json' mkl=runs/mkl1,runs/mkl2 [--out compare.md]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import sys
from typing import Any

from .markdown import blas_line
from .report import noise, step_index, targets

RATIOS = (  # (title, numerator, denominator)
    ("tinygrad_mlp / hand-written NumPy", "tinygrad", "numpy_reference"),
    ("tinygrad_mlp / GEMM floor", "tinygrad", "gemm_floor"),
    ("tinygrad_mlp / PyTorch", "tinygrad", "torch"),
    ("GEMM floor / PyTorch's GEMM floor (the BLAS libraries)", "gemm_floor", "torch_gemm_floor"),
)


def load_run(path: str) -> dict[str, Any]:
    """The results in ``path``: a ``bench.json`` file, or a folder holding one."""
    file = os.path.join(path, "bench.json") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise FileNotFoundError(f"no benchmark results at {file!r}")
    try:
        with open(file, encoding="utf-8") as fh:
            results = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file!r} is not JSON: {exc}") from None
    if not isinstance(results, dict) or not {"meta", "steps"} <= results.keys():
        raise ValueError(f"{file!r} is not the bench.json of a tinygrad-mlp bench run")
    return results


def parse_group(spec: str) -> tuple[str, list[str]]:
    """``NAME=PATH[,PATH...]`` or ``PATH``: a group name and its paths (glob patterns expanded,
    sorted); a bare path names its group after its folder or file."""
    name, sep, paths = spec.partition("=")
    if not sep or "/" in name or os.sep in name:  # a path with "=" in it
        name, paths = "", spec
    found: list[str] = []
    for pattern in (p for p in paths.split(",") if p):
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        found += matches
    if not found:
        raise ValueError(f"group {spec!r} names no run")
    if not name:  # runs/ob1, runs/ob1/bench.json and runs/ob1.json -> ob1
        base = os.path.normpath(found[0])
        if os.path.basename(base) == "bench.json":
            base = os.path.dirname(base)
        name = os.path.basename(base)
        name = os.path.splitext(name)[0] if os.path.isfile(base) else name
    return name, found


def _range(values: list[float]) -> str:
    if not values:
        return "-"
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}-{high}"


def _epoch(results: dict[str, Any]) -> str:
    epoch = (results.get("epoch") or {}).get("results", [])
    runs = {r["impl"]: r["median_epoch_s"] for r in epoch}
    torch = runs.get("torch")
    if not torch:
        return "-"
    impls = ("tinygrad", "numpy_reference")
    return " / ".join(f"{runs[i] / torch:.2f}x" if i in runs else "-" for i in impls)


def _disturbed(results: dict[str, Any]) -> str:
    if results.get("config", {}).get("quick"):
        return "QUICK run (not for comparison)"
    return "disturbed" if noise(results).get("disturbed") else "undisturbed"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _run_row(run: dict[str, Any]) -> str:
    meta, results = run["results"]["meta"], run["results"]
    versus = run["targets"]["step_vs_torch_cpu"]["ratios"]
    faster = f"{sum(r['ratio'] < 1 for r in versus)} of {len(versus)}" if versus else "-"
    build = blas_line(meta.get("blas") or {}).split(";")[0].removeprefix("BLAS: NumPy built with ")
    commit = str(meta.get("tinygrad_mlp_commit") or "-")[:7]
    date = str(meta.get("date", "-"))[:16]
    return _row([run["group"], run["path"], date, commit, build, _disturbed(results), faster,
                 _epoch(results)])  # fmt: skip


def _targets_row(run: dict[str, Any], ids: list[str]) -> str:
    cells = [run["group"], run["path"]]
    for t in (run["targets"][i] for i in ids):
        mark = {True: "met", False: "not met", None: "-"}[t["met"]]
        cells.append(f"{t['worst']['ratio']:.2f}x {mark}" if t["worst"] else mark)
    return _row(cells)


def _ratio_table(runs: list[dict[str, Any]], names: list[str], num: str, den: str) -> list[str]:
    indexes = {
        name: [step_index(r["results"]) for r in runs if r["group"] == name] for name in names
    }
    cases = sorted({k[:4] for idx in indexes.values() for i in idx for k in i if k[4] == num})
    lines = [_row(["device", "network", "dtype", "batch", *names]), "|---" * (4 + len(names)) + "|"]
    measured = False
    for case in cases:
        cells = [str(c) for c in case]
        for name in names:
            pairs = [(i.get(case + (num,)), i.get(case + (den,))) for i in indexes[name]]
            ratios = [a / b for a, b in pairs if a is not None and b is not None]
            measured = measured or bool(ratios)
            cells.append(_range(ratios))
        lines.append(_row(cells))
    return lines if measured else []  # no run measured both: no table


def render(groups: list[tuple[str, list[str]]], command: str) -> str:
    """The markdown report for ``groups`` of (name, [run paths])."""
    runs = []
    for name, paths in groups:
        for path in paths:
            results = load_run(path)
            found = {t["id"]: t for t in targets(results)}
            runs.append({"group": name, "path": path, "results": results, "targets": found})
    lines = [
        "# Benchmark runs compared",
        "",
        f"Made by `{command}`. Ratios are recomputed from each run's step medians; a range is",
        "the lowest and highest value over the group's runs (lower is better: time / time).",
        "",
        "## Runs",
        "",
        "| group | run | date | commit | NumPy's BLAS | noise check | tinygrad_mlp faster than "
        "PyTorch (CPU cases) | epoch / PyTorch's (tinygrad_mlp / hand-written) |",
        "|---|---|---|---|---|---|---|---|",
        *[_run_row(run) for run in runs],
        "",
        "## Targets: the worst ratio of each run (targets no run measured left out)",
        "",
    ]
    ids = [i for i, t in runs[0]["targets"].items() if any(r["targets"][i]["worst"] for r in runs)]
    lines += [_row(["group", "run", *(runs[0]["targets"][i]["target"] for i in ids)])]
    lines += ["|---" * (2 + len(ids)) + "|", *[_targets_row(run, ids) for run in runs]]
    for title, num, den in RATIOS:
        table = _ratio_table(runs, [name for name, _ in groups], num, den)
        lines += ["", f"## {title}", "", *table] if table else []
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tinygrad-mlp compare",
        description="Compare benchmark runs: ratio ranges per group of bench.json files.",
    )
    p.add_argument(
        "groups",
        nargs="+",
        metavar="[NAME=]RUN[,RUN...]",
        help="a group of runs: bench.json files or folders holding one, glob patterns allowed "
        "(quote them)",
    )
    p.add_argument("--out", help="write the markdown report here (default: print it)")
    return p


def run(argv: list[str] | None = None) -> int:
    """Entry point of ``tinygrad-mlp compare``; exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        groups = [parse_group(g) for g in args.groups]
        names = [n for n, _ in groups]
        if len(set(names)) != len(names):
            raise ValueError(f"two groups have one name: {names}; name them with NAME=...")
        text = render(groups, shlex.join(["tinygrad-mlp", "compare", *argv]))
    except (OSError, ValueError) as exc:
        print(f"tinygrad-mlp compare: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        from ..files import atomic_writer

        with atomic_writer(args.out, "w") as fh:
            fh.write(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(run())
