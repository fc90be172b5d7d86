"""The `tinygrad-mlp` command end to end (digits ships with scikit-learn: no download)."""

import json
import shutil
import subprocess
import sys

import pytest

from tinygrad_mlp import cli


def test_train_with_no_arguments_reaches_97_percent_on_digits(tmp_path, monkeypatch, capsys):
    """The README's main job, exactly as a user runs it (output goes to ./runs/digits)."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/" in out and "test accuracy" in out
    run = tmp_path / "runs" / "digits"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.97
    history = json.loads((run / "history.json").read_text())
    assert len(history["history"]["loss"]) == metrics["epochs"]
    for name in ("curves.png", "misclassified.png", "model.npz"):
        assert (run / name).stat().st_size > 0


def test_console_script_is_installed(tmp_path):
    exe = shutil.which("tinygrad-mlp")
    if exe is None:
        pytest.skip("package not installed with its console script")
    done = subprocess.run([exe, "train", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--dataset" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--dataset", "moons", "--epochs", "2"],
        [
            "train",
            "--dataset",
            "breast-cancer",
            "--epochs",
            "2",
            "--optimizer",
            "momentum",
            "--lr",
            "0.05",
        ],
        [
            "train",
            "--layers",
            "64,32,10",
            "--loss",
            "mse",
            "--activation",
            "sigmoid",
            "--optimizer",
            "sgd",
            "--lr",
            "0.5",
            "--epochs",
            "2",
        ],
    ],
)
def test_train_variants_write_their_outputs(tmp_path, argv):
    assert cli.main(argv + ["--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["epochs"] == 2


def test_missing_dataset_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGRAD_MLP_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(tmp_path / "nowhere") in err and "download=True" in err


def test_layers_that_do_not_fit_the_dataset(tmp_path, capsys):
    code = cli.main(["train", "--layers", "10,5,10", "--out", str(tmp_path)])
    assert code == 2
    assert "64 features" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--layers", "64,32,5"], "--layers ends with 5 outputs but digits has 10 classes"),
        (["--dataset", "breast-cancer", "--loss", "cross-entropy"], "at least 2), got --layers"),
        (["--dataset", "moons", "--layers", "2,8,1", "--loss", "mse"], "at least 2), got"),
    ],
)
def test_outputs_that_do_not_fit_the_classes(tmp_path, capsys, argv, says):
    assert cli.main(["train", *argv, "--out", str(tmp_path), "--epochs", "1"]) == 2
    assert says in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before training: nothing written


def test_bad_layers_string(capsys):
    assert cli.main(["train", "--layers", "64,x,10"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_module_entry_point_help():
    done = subprocess.run(
        [sys.executable, "-m", "tinygrad_mlp.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "train" in done.stdout


def test_bench_subcommand_passes_its_options_through(tmp_path):
    exe = shutil.which("tinygrad-mlp")
    if exe is None:
        pytest.skip("package not installed with its console script")
    done = subprocess.run([exe, "bench", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--quick" in done.stdout


@pytest.fixture
def denormal_mode_restored():
    from tinygrad_mlp import denormal

    yield
    denormal.set_flush_denormal(False)  # even when a test failed with the mode on


def _train_moons_recording_the_mode(tmp_path, monkeypatch, extra):
    """Train moons for one epoch; returns (exit code, modes seen while fitting, metrics)."""
    from tinygrad_mlp import denormal

    seen = []
    real_fit = cli.fit_model

    def spy(*args, **kwargs):
        seen.append(denormal.is_flush_denormal())
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli, "fit_model", spy)
    argv = ["train", "--dataset", "moons", "--epochs", "1", "--no-progress"]
    code = cli.main(argv + ["--out", str(tmp_path)] + extra)
    return code, seen, json.loads((tmp_path / "metrics.json").read_text())


def test_flush_denormal_flag_sets_the_mode_for_training_only(
    tmp_path, monkeypatch, denormal_mode_restored
):
    from tinygrad_mlp import denormal

    if not denormal.set_flush_denormal(False) or denormal.is_flush_denormal():
        pytest.skip("set_flush_denormal is not supported on this platform")
    code, seen, metrics = _train_moons_recording_the_mode(tmp_path, monkeypatch, [])
    assert code == 0 and seen == [False] and metrics["config"]["flush_denormal"] is False
    code, seen, metrics = _train_moons_recording_the_mode(
        tmp_path, monkeypatch, ["--flush-denormal"]
    )
    assert code == 0 and seen == [True] and metrics["config"]["flush_denormal"] is True
    assert not denormal.is_flush_denormal()  # the previous mode is back


def test_flush_denormal_flag_warns_where_unsupported(tmp_path, monkeypatch, capsys):
    from tinygrad_mlp import denormal

    monkeypatch.setattr(denormal, "set_flush_denormal", lambda mode: False)
    code, seen, metrics = _train_moons_recording_the_mode(
        tmp_path, monkeypatch, ["--flush-denormal"]
    )
    assert code == 0 and len(seen) == 1 and metrics["config"]["flush_denormal"] is False
    assert "--flush-denormal is not supported here" in capsys.readouterr().err
