"""``tinygrad-mlp compare`` (``tinygrad_mlp.bench.compare``): ratio ranges over benchmark runs.

What they prove: ranges are the lowest and highest ratio over each group's runs, one column per
group; per-run rows count the cases faster than PyTorch and judge the targets; bad inputs are
refused with the offending path; and the README's bracketed ranges are what the committed runs
give (so those numbers come with the command that made them).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tinygrad_mlp import cli
from tinygrad_mlp.bench import compare

ROOT = Path(__file__).resolve().parent.parent
SIX = ROOT / "benchmarks" / "results" / "runs" / "2026-12-01-aligned-six"
UNALIGNED = ROOT / "benchmarks" / "results" / "runs" / "2026-12-01-openblas-six"
BLAS = ROOT / "benchmarks" / "results" / "runs" / "2026-12-01-blas"
COMPILED = ROOT / "benchmarks" / "results" / "runs" / "2026-12-01-compiled-step"
BLAS_ALIGNED = ROOT / "benchmarks" / "results" / "runs" / "2026-12-01-blas-aligned"
EPOCH = ROOT / "benchmarks" / "results" / "runs" / "2026-12-01-compiled-epoch"  # README's runs


def _run(
    times: dict[str, dict[int, float]],
    commit: str = "abc1234",
    quick: bool = False,
    iqr: float = 0.0,
    epoch: dict[str, float] | None = None,
) -> dict:
    """A minimal bench.json: one network, float32, CPU, ``impl -> {batch: median ms}``; ``iqr``
    as a share of each median; ``epoch``: ``impl -> median epoch seconds``."""
    steps = [
        {"device": "cpu", "network": "n", "dtype": "float32", "batch": batch, "impl": impl,
         "time": {"median": ms / 1e3, "iqr": iqr * ms / 1e3}}
        for impl, table in times.items() for batch, ms in table.items()
    ]  # fmt: skip
    meta = {"date": "2026-12-01T09:00:00+00:00", "tinygrad_mlp_commit": commit}
    meta["blas"] = {"build_blas": {"name": "openblas", "version": "0.3"}}
    results = {"meta": meta, "config": {"quick": quick}, "steps": steps, "torch": {"status": "ok"}}
    if epoch:
        results["epoch"] = {
            "results": [
                {"impl": i, "median_epoch_s": t, "test_accuracy": 0.8} for i, t in epoch.items()
            ]
        }
    return results


def _write(folder: Path, name: str, results: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(results), encoding="utf-8")
    return path


def _cells(report: str, heading: str, batch: int) -> list[str]:
    """The cells after device/network/dtype/batch of ``batch``'s row under ``## heading``."""
    section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "cpu" and cells[3] == str(batch):
            return cells[4:]
    raise AssertionError(f"no batch {batch} row under {heading!r}")


def test_ranges_per_group_and_per_run_rows(tmp_path):
    a1 = _run({"tinygrad": {32: 1.1, 1024: 10.0}, "numpy_reference": {32: 1.0, 1024: 10.0},
               "torch": {32: 2.0, 1024: 8.0}})  # fmt: skip
    a2 = _run({"tinygrad": {32: 1.3, 1024: 9.0}, "numpy_reference": {32: 1.0, 1024: 10.0},
               "torch": {32: 2.0, 1024: 10.0}})  # fmt: skip
    b1 = _run({"tinygrad": {32: 2.0, 1024: 10.0}, "numpy_reference": {32: 1.0, 1024: 10.0}})
    groups = [
        ("before", [str(_write(tmp_path, "a1.json", a1)), str(_write(tmp_path, "a2.json", a2))]),
        ("after", [str(_write(tmp_path / "b1", "bench.json", b1))]),
    ]
    report = compare.render(groups, "tinygrad-mlp compare ...")
    # each group's range, then "after"'s median over "before"'s (2.00 / 1.20; 1.00 / 0.95)
    assert _cells(report, "tinygrad_mlp / hand-written NumPy", 32) == ["1.10-1.30", "2.00", "1.67x"]
    assert _cells(report, "tinygrad_mlp / hand-written NumPy", 1024) == [
        "0.90-1.00",
        "1.00",
        "1.05x (ranges overlap)",
    ]
    assert _cells(report, "tinygrad_mlp / PyTorch", 1024) == ["0.90-1.25", "-", "-"]  # no torch
    assert "## tinygrad_mlp / GEMM floor" not in report  # no run has a GEMM floor
    rows = [line for line in report.splitlines() if line.startswith("| before |")]
    assert "| 1 of 2 |" in rows[0] and "| 2 of 2 |" in rows[1]  # a1 slower at 1024 (10 vs 8)
    # run a2's targets: hand-written at batch >= 128, at batch 32, PyTorch (worst ratio, judged)
    assert "a2.json | 0.90x met | 1.30x not met | 0.90x met |" in report
    assert "a1.json | 1.00x met | 1.10x met | 1.25x not met |" in report
    assert "GPU step" not in report  # a target no run measured gets no column


def test_run_rows_show_date_commit_noise_and_epoch(tmp_path):
    times = {"tinygrad": {8: 1.0}, "numpy_reference": {8: 1.0}, "torch": {8: 1.0}}
    epoch = {"tinygrad": 3.0, "tinygrad_compiled": 2.4, "numpy_reference": 2.0, "torch": 4.0}
    runs = [("calm.json", _run(times, commit="1234567890", epoch=epoch))]
    runs += [("noisy.json", _run(times, iqr=0.2)), ("quick.json", _run(times, quick=True))]
    paths = [str(_write(tmp_path, name, results)) for name, results in runs]
    report = compare.render([("g", paths)], "cmd")
    rows = {line.split(" | ")[1].rsplit("/", 1)[-1]: line for line in report.splitlines()
            if line.startswith("| g |") and "2026" in line}  # fmt: skip
    # date, commit (7 characters), BLAS, noise check, faster than PyTorch (a tie is not), the
    # widest step timing (IQRs of 0: the first of the ties), epoch
    assert (
        "| 2026-12-01T09:00 | 1234567 | openblas 0.3 | undisturbed | 0 of 1 | 0.0% (tinygrad n "
        "float32 b8) | 0.75x / 0.60x / 0.50x |" in (rows["calm.json"])
    )
    assert "| disturbed |" in rows["noisy.json"] and rows["noisy.json"].endswith("| - |")
    assert "| QUICK run |" in rows["quick.json"]


def test_undisturbed_ranges_leave_out_disturbed_and_quick_runs(tmp_path):
    calm = _write(tmp_path, "calm.json", _run({"tinygrad": {8: 1.0}, "numpy_reference": {8: 1.0}}))
    noisy = _run({"tinygrad": {8: 3.0}, "numpy_reference": {8: 1.0}}, iqr=0.2)
    quick = _run({"tinygrad": {8: 2.0}, "numpy_reference": {8: 1.0}}, quick=True)
    paths = [
        str(calm),
        str(_write(tmp_path, "n.json", noisy)),
        str(_write(tmp_path, "q.json", quick)),
    ]
    heading = "tinygrad_mlp / hand-written NumPy"
    assert _cells(compare.render([("g", paths)], "cmd"), heading, 8) == ["1.00-3.00"]
    report = compare.render([("g", paths)], "cmd", undisturbed=True)
    assert _cells(report, heading, 8) == ["1.00"]
    assert "undisturbed runs only" in report and "| disturbed |" in report  # still listed


def test_a_target_column_appears_when_any_run_measured_it(tmp_path):
    without = _run({"tinygrad": {8: 1.0}, "numpy_reference": {8: 1.0}})
    with_torch = _run({"tinygrad": {8: 1.0}, "numpy_reference": {8: 1.0}, "torch": {8: 2.0}})
    paths = [str(_write(tmp_path, "a.json", without)), str(_write(tmp_path, "b.json", with_torch))]
    report = compare.render([("g", paths)], "cmd")
    assert "a.json | 1.00x met | - |" in report and "b.json | 1.00x met | 0.50x met |" in report


def test_the_epoch_target_says_when_the_accuracy_gap_fails_it(tmp_path):
    results = _run({"tinygrad": {8: 1.0}}, epoch={"tinygrad": 1.0, "torch": 2.0})
    results["epoch"]["results"][0]["test_accuracy"] = 0.7  # 10 points below PyTorch's
    report = compare.render([("g", [str(_write(tmp_path, "r.json", results))])], "cmd")
    assert "0.50x not met (accuracy -10.00%)" in report


def test_groups_are_named_and_globs_expanded(tmp_path):
    for name in ("r2.json", "r1.json", "notes.txt"):
        _write(tmp_path / "six", name, {})
    _write(tmp_path / "ob1", "bench.json", {})
    six = tmp_path / "six"
    assert compare.parse_group(f"six={six}/r*.json") == (
        "six",
        [f"{six}/r1.json", f"{six}/r2.json"],
    )
    assert compare.parse_group(f"{six}/r*.json")[0] == "six"  # the folder its runs share
    assert compare.parse_group(f"{six}/r1.json")[0] == "r1"
    assert compare.parse_group(f"{tmp_path}/ob1")[0] == "ob1"
    assert compare.parse_group(f"{tmp_path}/ob1/bench.json")[0] == "ob1"
    for odd in ("lr=0.1", "a,b"):  # a path that exists is one path, "=" and "," included
        _write(tmp_path / odd, "bench.json", {})
        assert compare.parse_group(f"{tmp_path}/{odd}") == (odd, [f"{tmp_path}/{odd}"])
    _write(tmp_path / "q", "bench-quick.json", _run({"tinygrad": {8: 1.0}}))
    assert compare.load_run(str(tmp_path / "q"))["steps"]  # bench --quick's file in a folder


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: [str(d / "missing")], "no benchmark results at '{d}/missing'"),
        (lambda d: [f"x={d}/zz*"], "no file matches '{d}/zz*'"),
        (lambda d: ["x=,"], "group 'x=,' names no run"),
        (lambda d: [str(_write(d, "a.json", {"meta": {}}))], "'{d}/a.json' is not the bench.json"),
        (lambda d: [str(_write(d, "b.json", {"meta": [], "steps": []}))], "'{d}/b.json' is not"),
        (lambda d: [f"a={_write(d, 'x.json', _run({}))}", f"a={d}/x.json"], "two groups have one"),
        (lambda d: [str(_write(d, "c.json", _bad_step()))], "'{d}/c.json' is a malformed bench"),
        (lambda d: [str(_write(d, "e.json", _bad_epoch()))], "'{d}/e.json' is a malformed bench"),
        (lambda d: [str(_write(d, "f.json", _run({}))), "--out", str(d)], "Is a directory"),
    ],
)
def test_bad_inputs_are_refused_naming_the_path(tmp_path, capsys, make, message):
    assert compare.run(make(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-mlp compare: error: ") and message.format(d=tmp_path) in err


def _bad_step() -> dict:
    results = _run({"tinygrad": {8: 1.0}})
    del results["steps"][0]["time"]
    return results


def _bad_epoch() -> dict:
    results = _run({"tinygrad": {8: 1.0}}, epoch={"tinygrad": 1.0})
    del results["epoch"]["results"][0]["median_epoch_s"]
    return results


def test_a_file_that_is_not_json_is_named(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("not json")
    assert compare.run([str(tmp_path / "bad.json")]) == 2
    assert f"'{tmp_path}/bad.json' is not JSON" in capsys.readouterr().err


def test_the_console_command_prints_or_writes_the_report(tmp_path, capsys):
    path = _write(tmp_path, "r.json", _run({"tinygrad": {8: 2.0}, "numpy_reference": {8: 1.0}}))
    assert cli.main(["compare", f"one={path}"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Benchmark runs compared") and "| one |" in printed
    assert cli.main(["compare", f"one={path}", "--out", str(tmp_path / "c.md")]) == 0
    written = (tmp_path / "c.md").read_text(encoding="utf-8")
    assert "--out" in written.splitlines()[2]  # the command that made it, then the same report
    assert written.splitlines()[3:] == printed.splitlines()[3:]


def _readme_brackets(network: str) -> list[list[str]]:
    """The bracketed three-run ranges of ``network``'s row in README's results table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| {network} | 32 /"))
    cells = re.findall(r"\[([^\]]+)\]", row)
    return [re.findall(r"\d+\.\d+(?:-\d+\.\d+)?", b) for b in cells]  # "1.02-1.04" or "1.02"


@pytest.mark.parametrize("network", ["784-512-128-64-10", "784-50-10", "64-64-16-10"])
def test_the_readmes_three_run_ranges_are_the_committed_runs(network):
    runs = sorted(str(p) for p in EPOCH.glob("r*.json"))
    assert len(runs) == 3
    report = compare.render([("three", runs)], "cmd")
    brackets = _readme_brackets(network)
    headings = ["tinygrad_mlp / hand-written NumPy"]
    headings += ["tinygrad_mlp compiled step / hand-written NumPy", "tinygrad_mlp / PyTorch"]
    computed = []
    for heading in headings:
        section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if f"| {network} | float32 |" in line]
        computed.append([line.strip("|").split("|")[-1].strip() for line in rows])
    # README's bracketed columns, in order: hand-written NumPy, compiled step / it, PyTorch
    assert brackets == computed[: len(brackets)], f"{network}: README {brackets}, runs {computed}"


def test_the_committed_reports_are_what_the_command_makes(monkeypatch):
    monkeypatch.chdir(ROOT)  # the reports name their runs by paths from the repository root

    def runs(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(ROOT)) for p in folder.glob("r*.json"))

    for folder, groups in (
        (UNALIGNED, [("six", runs(UNALIGNED))]),
        (SIX, [("unaligned", runs(UNALIGNED)), ("aligned", runs(SIX))]),
        (COMPILED, [("before", runs(SIX)), ("after", runs(COMPILED))]),
        (EPOCH, [("before", runs(COMPILED)), ("after", runs(EPOCH))]),
        *(
            (
                folder,
                [
                    (n, sorted(str(p.relative_to(ROOT)) for p in folder.glob(f"{n}*.json")))
                    for n in ("openblas", "mkl")
                ],
            )
            for folder in (BLAS, BLAS_ALIGNED)
        ),  # fmt: skip
    ):
        committed = (folder / "compare.md").read_text(encoding="utf-8").splitlines()
        fresh = compare.render(groups, "cmd").splitlines()
        assert committed[3:] == fresh[3:], f"{folder / 'compare.md'} is stale: rerun its command"


def test_the_committed_blas_runs_compare():
    groups = [
        ("openblas", sorted(str(p) for p in BLAS.glob("openblas*.json"))),
        ("mkl", sorted(str(p) for p in BLAS.glob("mkl*.json"))),
    ]
    assert [len(paths) for _, paths in groups] == [4, 4]
    report = compare.render(groups, "cmd")
    assert report.count("| 10 of 18 |") == 4  # OpenBLAS: faster than PyTorch in 10 of 18, each
    assert "mkl-dynamic-lp64-iomp" in report


def test_csv_has_every_step_timing_with_its_ratios(tmp_path, capsys):
    a = _run(
        {"tinygrad": {32: 1.1, 1024: 12.0}, "numpy_reference": {32: 1.0, 1024: 10.0},
         "torch": {32: 2.2}, "gemm_floor": {32: 0.5}},
        iqr=0.05,
    )  # fmt: skip
    a["steps"][0]["time"].update(q1=1.05e-3, q3=1.15e-3, min=1.0e-3, max=1.4e-3, n=15)
    b = _run({"tinygrad": {32: 1.3}, "numpy_reference": {32: 1.0}}, commit="def5678", iqr=0.2)
    paths = [_write(tmp_path, "a.json", a), _write(tmp_path, "b.json", b)]
    out = tmp_path / "csv" / "steps.csv"
    assert cli.main(["compare", f"g={paths[0]},{paths[1]}", "--csv", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# Benchmark runs compared")  # the report alone on stdout
    assert f"wrote {out}" in captured.err
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(compare.CSV_COLUMNS)
    assert len(rows) == 6 + 2  # every step timing of both runs
    by = {(r["commit"], r["impl"], r["batch"]): r for r in rows}
    first = by[("abc1234", "tinygrad", "32")]
    assert first["group"] == "g" and first["run"] == str(paths[0]) and first["network"] == "n"
    assert first["noise_check"] == "undisturbed" and first["repeats"] == "15"
    got = [float(first[f"{name}_us"]) for name in ("median", "q1", "q3", "iqr", "min", "max")]
    assert got == pytest.approx([1100.0, 1050.0, 1150.0, 55.0, 1000.0, 1400.0])
    assert by[("abc1234", "tinygrad", "1024")]["q1_us"] == ""  # not in that timing
    assert float(first["per_hand_written"]) == pytest.approx(1.1)
    assert float(first["per_torch"]) == pytest.approx(0.5)
    assert float(first["per_gemm_floor"]) == pytest.approx(2.2)
    assert float(by[("abc1234", "torch", "32")]["per_gemm_floor"]) == pytest.approx(4.4)
    assert by[("abc1234", "tinygrad", "1024")]["per_gemm_floor"] == ""  # no floor at 1024
    assert by[("abc1234", "tinygrad", "1024")]["per_torch"] == ""  # no torch at 1024
    assert by[("def5678", "tinygrad", "32")]["noise_check"] == "disturbed"  # IQR 20%
    assert float(by[("abc1234", "tinygrad", "1024")]["per_hand_written"]) == pytest.approx(1.2)
    assert float(by[("def5678", "tinygrad", "32")]["per_hand_written"]) == pytest.approx(1.3)
    assert by[("abc1234", "torch", "32")]["per_torch"] == "1.0000"


def test_a_csv_that_cannot_be_written_is_named_and_nothing_is_left(tmp_path, capsys):
    path = _write(tmp_path, "r.json", _run({"tinygrad": {8: 2.0}, "numpy_reference": {8: 1.0}}))
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the file should go
    assert cli.main(["compare", str(path), "--csv", str(target)]) == 2
    assert "tinygrad-mlp compare: error:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "taken"]
    assert list(target.iterdir()) == []


def test_each_run_row_names_its_widest_step_timing(tmp_path):
    quiet = _run({"tinygrad": {32: 1.0}, "numpy_reference": {32: 1.0}}, iqr=0.02)
    noisy = _run({"tinygrad": {32: 1.0}, "numpy_reference": {32: 1.0}}, iqr=0.02)
    noisy["steps"][1]["time"]["iqr"] = 0.25e-3  # numpy_reference: 25% of its median
    groups = [
        ("g", [str(_write(tmp_path, "q.json", quiet)), str(_write(tmp_path, "n.json", noisy))])
    ]
    report = compare.render(groups, "cmd")
    lines = [line for line in report.splitlines() if line.startswith("| g |") and "2026" in line]
    rows = {line.split("|")[2].strip(): line for line in lines}  # the runs table's rows
    assert "| 2.0% (tinygrad n float32 b32) |" in rows[str(tmp_path / "q.json")]
    assert "| 25.0% (numpy_reference n float32 b32) |" in rows[str(tmp_path / "n.json")]
