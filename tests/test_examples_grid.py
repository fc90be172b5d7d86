"""``examples/grid_search.py --quick`` runs end to end and writes a sound JSON (and PNG)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "grid_search.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout, json.loads((out / "grid_search.json").read_text())


def test_quick_grid_writes_every_setting(quick_run):
    _, _, doc = quick_run
    assert doc["quick"] is True
    assert doc["setup"]["n_train"] == 600 and doc["setup"]["folds"] == 2
    settings = {(tuple(r["hidden_layer_sizes"]), r["learning_rate"]) for r in doc["results"]}
    assert settings == {((10,), 0.1), ((10,), 0.3), ((50,), 0.1), ((50,), 0.3)}
    for r in doc["results"]:
        assert 0.0 <= r["mean_cv_accuracy"] <= 1.0 and r["std_cv_accuracy"] >= 0.0
        assert r["hidden_layers"] == 1 and r["units"] == r["hidden_layer_sizes"][0]
        assert r["mean_fit_seconds"] > 0


def test_quick_grid_best_is_the_top_row_and_learns(quick_run):
    _, out, doc = quick_run
    best = doc["best"]
    assert best["mean_cv_accuracy"] == max(r["mean_cv_accuracy"] for r in doc["results"])
    # 10 classes: chance is 10%; even one epoch on 300 images per fold does far better.
    assert best["mean_cv_accuracy"] > 0.2 and best["test_accuracy"] > 0.2
    assert best["n_test"] > 0
    assert doc["dataset"] in out and "best:" in out and "published:" in out
    assert doc["published"]["mean_cv_accuracy"] == 0.944
    assert doc["wall_seconds"] >= doc["search_seconds"] > 0
    assert doc["machine"]


def test_quick_grid_draws_the_plot(quick_run):
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed")
    png = quick_run[0] / "grid_search.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
