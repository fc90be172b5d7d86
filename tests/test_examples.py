"""Every classic-experiment example runs with ``--quick`` and writes a sound JSON and its plots.

Each script runs in a subprocess, exactly as a user would run it (``python examples/<name>.py
--quick --out DIR``); only the GPU timing is skipped on machines without a usable GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_mlp import backend

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def example(tmp_path):
    """``example(name, device)`` runs ``examples/<name>.py --quick --out tmp_path`` in a
    subprocess and returns (its JSON, its stdout, the output folder)."""

    def run(name: str, device: str = "cpu") -> tuple[dict, str, Path]:
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(tmp_path),
             "--device", device],
            capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"},
        )  # fmt: skip
        assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
        doc = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        return doc, proc.stdout, tmp_path

    return run


def check_common(doc: dict, name: str, stdout: str, out: Path) -> None:
    """Keys every example writes; the table is printed and every listed plot is a PNG."""
    assert doc["example"] == name and doc["quick"] is True
    assert doc["machine"] and doc["wall_seconds"] > 0
    assert doc["comparison"], "no rows in the ours-vs-published table"
    for r in doc["comparison"]:
        assert set(r) == {"experiment", "published", "ours"} and all(r.values())
        assert r["experiment"] in stdout and r["ours"] in stdout
    for plot in doc.get("plots", []):
        assert (out / plot).read_bytes()[:8] == PNG, plot


def is_accuracy(x: object) -> bool:
    return isinstance(x, float) and 0.0 <= x <= 1.0


def test_mnist_784_50_10(example):
    doc, stdout, out = example("mnist_784_50_10")
    check_common(doc, "mnist_784_50_10", stdout, out)
    assert doc["dataset"] in stdout and doc["published"]["classic_test_accuracy"] == 0.945
    for part in ("classic", "modern"):
        assert is_accuracy(doc[part]["test_accuracy"]) and is_accuracy(doc[part]["val_accuracy"])
        assert len(doc[part]["history"]["loss"]) == doc[part]["epochs"] == 5
    assert set(doc["plots"]) == {"classic_curves.png", "modern_curves.png", "misclassified.png"}
    # 10 classes: chance is 10%; the modern recipe learns something in 5 short epochs.
    assert doc["modern"]["test_accuracy"] > 0.5


def test_deep_mlp_cpu_gpu(example):
    doc, stdout, out = example("deep_mlp_cpu_gpu")
    check_common(doc, "deep_mlp_cpu_gpu", stdout, out)
    cpu, gpu = doc["speed"]["cpu"], doc["speed"]["gpu"]
    assert cpu["train_seconds"] > 0 and is_accuracy(cpu["test_accuracy"])
    if backend.is_available("cuda"):
        assert gpu["train_seconds"] > 0 and gpu["speedup"] > 0
    else:
        assert gpu == {"train_seconds": None, "note": "not measured: no GPU"}
        assert "not measured: no GPU" in stdout
    fashion = doc["fashion_target"]
    assert is_accuracy(fashion["test_accuracy"]) and fashion["epochs"] == 2
    assert fashion["batch_size"] == 128 and len(fashion["history"]["val_accuracy"]) == 2


@pytest.mark.skipif(not backend.is_available("cuda"), reason="needs CuPy and a CUDA GPU")
def test_deep_mlp_on_the_gpu(example):
    doc, stdout, out = example("deep_mlp_cpu_gpu", "cuda")
    assert doc["device"] == "cuda"
    assert doc["speed"]["gpu"]["train_seconds"] > 0
    assert is_accuracy(doc["speed"]["gpu"]["test_accuracy"])
    assert is_accuracy(doc["fashion_target"]["test_accuracy"])


def test_digits_optimizers(example):
    doc, stdout, out = example("digits_optimizers")
    check_common(doc, "digits_optimizers", stdout, out)
    assert list(doc["classic"]) == ["SGD lr 0.01", "SGD + momentum 0.9", "Adam lr 1e-3"]
    for run in doc["classic"].values():
        assert is_accuracy(run["test_accuracy"])
        assert len(run["history"]["val_accuracy"]) == doc["epochs"] == 10
    modern = doc["modern"]
    assert is_accuracy(modern["test_accuracy"]) and is_accuracy(modern["mean_test_accuracy"])
    assert modern["test_accuracy"] > 0.5 and (out / "optimizers.png").is_file()


def test_two_moons(example):
    doc, stdout, out = example("two_moons")
    check_common(doc, "two_moons", stdout, out)
    classic, modern, sweep = doc["classic"], doc["modern"], doc["width_sweep"]
    assert classic["runs"] == len(classic["accuracies"]) == 5
    assert all(is_accuracy(a) for a in classic["accuracies"] + modern["accuracies"])
    assert classic["std"] >= 0 and classic["min"] <= classic["mean"] <= classic["max"]
    recipes = [k for k in sweep if k not in ("widths", "runs_per_width")]
    assert len(recipes) == 2 and sweep["widths"] == [3, 8, 40]
    for recipe in recipes:
        means, stds = sweep[recipe]["mean_accuracy"], sweep[recipe]["std_accuracy"]
        assert len(means) == len(stds) == 3 and all(is_accuracy(a) for a in means)
    assert modern["mean"] > 0.95  # Adam on 2-64-2 separates the moons almost perfectly


def test_breast_cancer(example):
    doc, stdout, out = example("breast_cancer")
    check_common(doc, "breast_cancer", stdout, out)
    assert is_accuracy(doc["test_accuracy"]) and doc["test_accuracy"] > 0.85
    splits = doc["splits"]
    assert len(splits["accuracies"]) == len(splits["seeds"]) == 2
    assert all(is_accuracy(a) for a in splits["accuracies"]) and is_accuracy(splits["mean"])


def test_gradient_check(example):
    doc, stdout, out = example("gradient_check")
    check_common(doc, "gradient_check", stdout, out)
    correct, broken = doc["correct"], doc["broken_op"]
    assert correct["ok"] is True and broken["ok"] is False
    assert sum(layer["total"] for layer in correct["layers"]) == 1980  # [10, 40, 30, 10]
    assert all(layer["passed"] == layer["total"] for layer in correct["layers"])
    assert "layer 2 weight: 1200 of 1200 gradients numerically equal" in stdout
    # the wrong sigmoid backward corrupts the layers below it, never the output layer
    names = {layer["name"]: layer for layer in broken["layers"]}
    assert names["layer 3 weight"]["passed"] == names["layer 3 weight"]["total"]
    assert names["layer 2 weight"]["passed"] < names["layer 2 weight"]["total"]
    assert all(is_accuracy(layer["fraction_equal"]) for layer in broken["layers"])


def test_a_missing_data_dir_is_an_error_not_a_fallback(tmp_path):
    typo = tmp_path / "typo"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "mnist_784_50_10.py"), "--quick", "--out", str(tmp_path),
         "--data-dir", str(typo)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert proc.returncode == 1 and f"--data-dir {typo}: no such directory" in proc.stderr
    assert not (tmp_path / "mnist_784_50_10.json").exists()
