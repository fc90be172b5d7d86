"""``tinygrad-mlp compare``: ratios over several benchmark runs, side by side.

One run is one sample: the same code's ratios move between undisturbed runs (by up to 1.24x
between four runs on one 2-core machine: ``benchmarks/results/runs/2026-12-01-blas``). This
reads the ``bench.json`` of several runs, in named groups (one NumPy build against another, a
change before and after), and writes one markdown report:

- every run: when, which commit and BLAS, whether its noise check found it disturbed, its
  targets (worst ratio, met or not), how many CPU cases were faster than PyTorch, the epoch;
- every step ratio (tinygrad_mlp / hand-written NumPy, / GEMM floor, / PyTorch; the compiled
  step's / hand-written NumPy and / PyTorch; and the two GEMM floors), as the range over each
  group's runs, one column per group; with several groups, each later group's median over the
  first's, and whether their ranges overlap.

Ratios are recomputed from the step medians with the current definitions (``report``), so old
and new files compare alike. ``--csv`` also writes every step timing of every run, one row each
(the run's noise check, median and quartiles in microseconds, and its ratios to the hand-written
step, NumPy's GEMM floor and PyTorch's step in the same run: ``csv_rows``), for a spreadsheet or
pandas. ::

    tinygrad-mlp compare openblas='runs/ob*.json' mkl=runs/mkl1,runs/mkl2 [--out compare.md]
        [--csv steps.csv]
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shlex
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from .markdown import build_blas
from .report import noise, step_index, targets

RATIOS = (  # (title, numerator, denominator)
    ("tinygrad_mlp / hand-written NumPy", "tinygrad", "numpy_reference"),
    ("tinygrad_mlp compiled step / hand-written NumPy", "tinygrad_compiled", "numpy_reference"),
    ("tinygrad_mlp / GEMM floor", "tinygrad", "gemm_floor"),
    ("tinygrad_mlp / PyTorch", "tinygrad", "torch"),
    ("tinygrad_mlp compiled step / PyTorch", "tinygrad_compiled", "torch"),
    ("GEMM floor / PyTorch's GEMM floor (the BLAS libraries)", "gemm_floor", "torch_gemm_floor"),
)


@dataclass
class Run:
    """One run's results and what is derived from them (computed once)."""

    group: str
    path: str
    results: dict[str, Any]
    targets: dict[str, dict[str, Any]] = field(init=False)
    steps: dict[tuple, float] = field(init=False)
    noise: str = field(init=False)
    epoch: str = field(init=False)

    def __post_init__(self) -> None:
        self.targets = {t["id"]: t for t in targets(self.results)}
        self.steps = step_index(self.results)
        quick = (self.results.get("config") or {}).get("quick")
        disturbed = noise(self.results)["disturbed"]
        self.noise = "QUICK run" if quick else "disturbed" if disturbed else "undisturbed"
        self.epoch = _epoch(self.results)


def load_run(path: str) -> dict[str, Any]:
    """The results in ``path``: a ``bench.json`` file, or a folder holding one (or, from
    ``bench --quick``, ``bench-quick.json``)."""
    file = path
    if os.path.isdir(path):
        names = [n for n in ("bench.json", "bench-quick.json") if os.path.isfile(f"{path}/{n}")]
        file = os.path.join(path, names[0] if names else "bench.json")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"no benchmark results at {file!r}")
    try:
        with open(file, encoding="utf-8") as fh:
            results = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file!r} is not JSON: {exc}") from None
    ok = isinstance(results, dict) and isinstance(results.get("meta"), dict)
    if not ok or not isinstance(results.get("steps"), list):
        raise ValueError(f"{file!r} is not the bench.json of a tinygrad-mlp bench run")
    return results


def parse_group(spec: str) -> tuple[str, list[str]]:
    """``NAME=PATH[,PATH...]`` or ``PATH``: a group name and its paths (glob patterns expanded,
    sorted). A bare spec is one path when it exists as given (commas and ``=`` included); its
    group is named after the file, or after the folder all its paths share."""
    name, sep, paths = spec.partition("=")
    if os.path.exists(spec) or not sep:
        name, paths = "", spec
    patterns = [spec] if os.path.exists(spec) else [p for p in paths.split(",") if p]
    found: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        found += matches
    if not found:
        raise ValueError(f"group {spec!r} names no run")
    if not name:  # runs/ob1, runs/ob1/bench.json, runs/ob1.json -> ob1; runs/r*.json -> runs
        bases = [os.path.normpath(p) for p in found]
        bases = [os.path.dirname(b) if os.path.basename(b) == "bench.json" else b for b in bases]
        base = bases[0] if len(bases) == 1 else os.path.commonpath(bases)
        name = os.path.basename(base)
        name = os.path.splitext(name)[0] if os.path.isfile(base) else name
    return name, found


def _range(values: list[float]) -> str:
    if not values:
        return "-"
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}-{high}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _epoch(results: dict[str, Any]) -> str:
    epoch = (results.get("epoch") or {}).get("results", [])
    times = {r["impl"]: r["median_epoch_s"] for r in epoch}
    if not times.get("torch"):
        return "-"
    impls = ("tinygrad", "tinygrad_compiled", "numpy_reference")
    return " / ".join(f"{times[i] / times['torch']:.2f}x" if i in times else "-" for i in impls)


def _run_row(run: Run) -> str:
    meta = run.results["meta"]
    versus = run.targets["step_vs_torch_cpu"]["ratios"]
    faster = f"{sum(r['ratio'] < 1 for r in versus)} of {len(versus)}" if versus else "-"
    blas = meta.get("blas")
    cells = [run.group, run.path, str(meta.get("date", "-"))[:16]]
    cells += [str(meta.get("tinygrad_mlp_commit") or "-")[:7]]
    cells += [build_blas(blas) if isinstance(blas, dict) else "unknown", run.noise, faster]
    return _row([*cells, _widest(run.results), run.epoch])


def _widest(results: dict[str, Any]) -> str:
    """The step timing whose repeats spread most: its IQR as a share of its median, and which."""
    spread = [
        (t["iqr"] / t["median"], f"{r['impl']} {r['network']} {r['dtype']} b{r['batch']}")
        for r in results["steps"]
        if (t := r.get("time") or {}).get("iqr") is not None and t.get("median")
    ]
    if not spread:
        return "-"
    share, what = max(spread, key=lambda s: s[0])  # ties: the first in the file
    return f"{share:.1%} ({what})"


def _verdict(target: dict[str, Any]) -> str:
    worst = target["worst"]
    if worst is None:
        return "-"
    text = f"{worst['ratio']:.2f}x {'met' if target['met'] else 'not met'}"
    if "accuracy_gap" in worst:
        text += f" (accuracy {worst['accuracy_gap'] * 100:+.2f}%)"
    return text


def _shift(first: list[float], other: list[float]) -> str:
    """``other``'s median over ``first``'s, and whether the two ranges overlap (then the shift
    is within the run-to-run spread, not a measured difference)."""
    if not first or not other:
        return "-"
    text = f"{statistics.median(other) / statistics.median(first):.2f}x"
    overlap = max(first) >= min(other) and max(other) >= min(first)
    return text + (" (ranges overlap)" if overlap else "")


def _ratio_table(runs: list[Run], names: list[str], num: str, den: str) -> list[str]:
    """One row per case with a value in some group; [] when no run measured both. With several
    groups, a column per later group: its median over the first group's."""
    rows = []
    for case in sorted({k[:4] for run in runs for k in run.steps if k[4] == num}):
        ratios: dict[str, list[float]] = {name: [] for name in names}
        for r in runs:
            a, b = r.steps.get(case + (num,)), r.steps.get(case + (den,))
            if a is not None and b is not None:
                ratios[r.group].append(a / b)
        if any(ratios.values()):
            shifts = [_shift(ratios[names[0]], ratios[name]) for name in names[1:]]
            rows.append(_row([*map(str, case), *(_range(ratios[n]) for n in names), *shifts]))
    columns = [*names, *(f"{name} / {names[0]} (medians)" for name in names[1:])]
    header = _row(["device", "network", "dtype", "batch", *columns])
    return [header, "|---" * (4 + len(columns)) + "|", *rows] if rows else []


CSV_COLUMNS = (
    "group", "run", "date", "commit", "noise_check", "device", "network", "dtype", "batch", "impl",
    "median_us", "q1_us", "q3_us", "iqr_us", "min_us", "max_us", "repeats",
    "per_hand_written", "per_gemm_floor", "per_torch",
)  # fmt: skip
_PER = (("per_hand_written", "numpy_reference"), ("per_gemm_floor", "gemm_floor"))
_PER += (("per_torch", "torch"),)


def csv_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per step timing of every run (``CSV_COLUMNS``): the run's noise check (as in the
    report: "undisturbed", "disturbed" or "QUICK run"), times in microseconds, and this median
    over three others of the same run and case, whatever this row's implementation: the
    hand-written NumPy step, NumPy's GEMM floor and PyTorch's step (empty where the run has
    none). So on a ``torch`` row ``per_gemm_floor`` is PyTorch's step over NumPy's floor; its own
    floor is the ``torch_gemm_floor`` row."""
    rows = []
    for run in runs:
        meta = run.results["meta"]
        head = {"group": run.group, "run": run.path, "date": str(meta.get("date") or "")}
        head["commit"] = str(meta.get("tinygrad_mlp_commit") or "")
        head["noise_check"] = run.noise
        for step in run.results["steps"]:
            case = (step["device"], step["network"], step["dtype"], step["batch"])
            row = {**head, **dict(zip(CSV_COLUMNS[5:9], case, strict=True)), "impl": step["impl"]}
            t = step["time"]
            for name in ("median", "q1", "q3", "iqr", "min", "max"):
                value = t.get(name)
                row[f"{name}_us"] = "" if value is None else f"{value * 1e6:.3f}"
            row["repeats"] = t.get("n", "")
            for column, impl in _PER:
                other = run.steps.get((*case, impl))
                row[column] = f"{t['median'] / other:.4f}" if other else ""
            rows.append(row)
    return rows


def write_csv(runs: list[Run], path: str) -> None:
    """``csv_rows(runs)`` into ``path`` (written whole or not at all)."""
    from ..files import atomic_writer

    with atomic_writer(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(runs))


def load_runs(groups: list[tuple[str, list[str]]]) -> list[Run]:
    """Every run of ``groups`` of (name, [run paths]); ValueError naming a malformed file."""
    runs = []
    for name, paths in groups:
        for path in paths:
            results = load_run(path)
            try:
                runs.append(Run(name, path, results))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"{path!r} is a malformed bench.json: {exc!r}") from None
    return runs


def render(
    groups: list[tuple[str, list[str]]],
    command: str,
    undisturbed: bool = False,
    runs: list[Run] | None = None,
) -> str:
    """The markdown report for ``groups`` of (name, [run paths]); with ``undisturbed``, the
    ranges leave out disturbed and ``--quick`` runs (the runs table still lists them). ``runs``:
    ``load_runs(groups)`` when the caller has it already."""
    runs = load_runs(groups) if runs is None else runs
    ranged = [r for r in runs if r.noise == "undisturbed"] if undisturbed else runs
    lines = [
        "# Benchmark runs compared",
        "",
        f"Made by `{command}`. Ratios are recomputed from each run's step medians; a range is",
        "the lowest and highest value over the group's runs (lower is better: time / time)"
        + (", undisturbed runs only." if undisturbed else "."),
        "",
        "## Runs",
        "",
        "| group | run | date | commit | NumPy's BLAS | noise check | tinygrad_mlp faster than "
        "PyTorch (CPU cases) | widest step timing (IQR / median) | epoch / PyTorch's "
        "(tinygrad_mlp / compiled / hand-written) |",
        "|---|---|---|---|---|---|---|---|---|",
        *[_run_row(run) for run in runs],
        "",
        "## Targets: the worst ratio of each run (targets no run measured left out)",
        "",
    ]
    ids = [i for i, t in runs[0].targets.items() if any(r.targets[i]["worst"] for r in runs)]
    lines += [_row(["group", "run", *(runs[0].targets[i]["target"] for i in ids)])]
    lines.append("|---" * (2 + len(ids)) + "|")
    lines += [_row([r.group, r.path, *(_verdict(r.targets[i]) for i in ids)]) for r in runs]
    for title, num, den in RATIOS:
        table = _ratio_table(ranged, [name for name, _ in groups], num, den)
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
    p.add_argument(
        "--undisturbed",
        action="store_true",
        help="ranges from undisturbed full runs only (the noise check of each run)",
    )
    p.add_argument("--out", help="write the markdown report here (default: print it)")
    p.add_argument("--csv", help="also write every step timing of every run here, one row each")
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
        command = shlex.join(["tinygrad-mlp", "compare", *argv])
        runs = load_runs(groups)
        text = render(groups, command, undisturbed=args.undisturbed, runs=runs)
        if args.csv:
            write_csv(runs, args.csv)
        if args.out:
            from ..files import atomic_writer

            with atomic_writer(args.out, "w") as fh:
                fh.write(text)
    except (OSError, ValueError) as exc:
        print(f"tinygrad-mlp compare: error: {exc}", file=sys.stderr)
        return 2
    if args.csv:  # beside a report on stdout, on stderr
        print(f"wrote {args.csv}", file=sys.stdout if args.out else sys.stderr)
    if args.out:
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(run())
