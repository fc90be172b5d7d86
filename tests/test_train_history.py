"""Tests of ``tinygrad_mlp.train.History``: indexing, JSON save / load and plots."""

from __future__ import annotations

import json
import os
import sys

import pytest
from _train_helpers import blobs, loader, quiet_fit, setup

from tinygrad_mlp import train

# ---------------------------------------------------------------------- History


def test_history_indexing_and_errors():
    X, y = blobs(40)
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y), epochs=2)
    assert len(history) == 2 and history.epochs == [1, 2]
    assert "val_accuracy" in history and list(history) == history.keys()
    assert history.to_dict()["val_accuracy"] == history["val_accuracy"]
    assert history.to_dict() is not history.to_dict()
    with pytest.raises(KeyError, match="val_accuracy"):
        history["val_acc"]
    assert "History(epochs=2" in repr(history)


def test_history_json_round_trip(tmp_path):
    X, y = blobs(40)
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y), epochs=2)
    path = tmp_path / "history.json"
    history.save(path)
    assert os.listdir(tmp_path) == ["history.json"]  # the temp file was renamed over
    loaded = train.History.load(path)
    assert loaded == history and loaded.keys() == history.keys()
    assert json.loads(path.read_text())["history"]["loss"] == history["loss"]
    (tmp_path / "plain.json").write_text(json.dumps({"loss": [1.0, 0.5]}))
    assert train.History.load(tmp_path / "plain.json").epochs == [1, 2]


def test_history_save_and_load_errors(tmp_path):
    history = train.History(["loss"])
    with pytest.raises(FileNotFoundError, match="no folder"):
        history.save(tmp_path / "missing" / "h.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        train.History.load(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text(json.dumps({"history": {"loss": [1.0]}, "epochs": [1, 2]}))
    with pytest.raises(ValueError, match="'loss' has 1 values for 2 epochs"):
        train.History.load(tmp_path / "short.json")


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = blobs(40)
    model, opt = setup()
    history = quiet_fit(model, opt, loader(X, y), val_loader=loader(X, y), epochs=3)
    path = tmp_path / "curves.png"
    fig = history.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy"]
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["train", "validation"]
    plt = pytest.importorskip("matplotlib.pyplot")
    shown = history.plot()  # no path: a pyplot figure for the current backend
    assert shown in [plt.figure(n) for n in plt.get_fignums()]
    plt.close(shown)
    with pytest.raises(ValueError, match="no completed epoch"):
        train.History(["loss"]).plot(tmp_path / "empty.png")


def test_history_plot_without_matplotlib(monkeypatch, tmp_path):
    history = train.History(["loss"])
    history.record(1, {"loss": 1.0})
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib.*tinygrad_mlp\[examples\]"):
        history.plot(tmp_path / "x.png")
