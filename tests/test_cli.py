"""The `tinygrad-mlp` command end to end (digits ships with scikit-learn: no download)."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tinygrad_mlp import cli, data


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
    (tmp_path / "empty").mkdir()
    code = cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{tmp_path / 'empty'} (none of the files)" in err and "--download" in err
    code = cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere")])
    assert code == 2
    assert f"--data-dir {tmp_path / 'nowhere'}: no such directory" in capsys.readouterr().err


def test_download_flag_reaches_the_loader(tmp_path, monkeypatch):
    asked = []

    def loader(data_dir=None, download=False):
        asked.append((data_dir, download))
        raise FileNotFoundError("stop here")

    monkeypatch.setattr(data, "load_fashion_mnist", loader)
    argv = ["train", "--dataset", "fashion-mnist", "--out", str(tmp_path / "o")]
    assert cli.main([*argv, "--download"]) == 2
    assert cli.main(argv) == 2
    assert asked == [(None, True), (None, False)]
    assert not (tmp_path / "o").exists()  # no output folder for a run that never trained


def test_layers_that_do_not_fit_the_dataset(tmp_path, capsys):
    code = cli.main(["train", "--layers", "10,5,10", "--out", str(tmp_path)])
    assert code == 2
    assert "64 features" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--layers", "64,32,5"], "--layers ends with 5 outputs but digits has 10 classes"),
        (
            ["--dataset", "breast-cancer", "--loss", "cross-entropy"],
            "at least 2), got --layers 30,32,1 (the default for --dataset breast-cancer);",
        ),
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


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
        (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        (["--seed", "-5"], "--seed must be >= 0, got -5"),
        (["--layers", "64"], "--layers needs at least two sizes"),
        (["--layers", "64,0,10"], "each >= 1, got '64,0,10'"),
        (["--data-dir", "."], "--data-dir is for --dataset mnist or fashion-mnist"),
        (["--download"], "--download is for --dataset mnist or fashion-mnist; digits ships"),
        (["--dataset", "mnist", "--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such"),
    ],
)
def test_bad_options_are_named_not_replaced(tmp_path, capsys, argv, says):
    assert cli.main(["train", *argv, "--out", str(tmp_path / "o")]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["file", "inside a file"])
def test_a_bad_out_is_refused_before_training(tmp_path, monkeypatch, capsys, kind):
    (tmp_path / "afile").write_text("keep me")
    out = tmp_path / "afile" if kind == "file" else tmp_path / "afile" / "sub"
    monkeypatch.setattr(
        cli, "fit_model", lambda *a: pytest.fail("trained before --out was checked")
    )
    assert cli.main(["train", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    where = "" if kind == "file" else f": {tmp_path / 'afile'}"
    assert f"--out {out}{where} is a file, not a directory" in err
    assert (tmp_path / "afile").read_text() == "keep me"


def test_a_failed_run_leaves_no_empty_out_folders(tmp_path, monkeypatch):
    out = tmp_path / "a" / "b"

    def fails(*args):
        raise RuntimeError("training failed")

    monkeypatch.setattr(cli, "fit_model", fails)
    assert cli.main(["train", "--out", str(out)]) == 2
    assert not (tmp_path / "a").exists()  # no empty folders left by a run that wrote nothing


def test_ctrl_c_really_stops_the_command_with_130(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_mlp.cli", "train", "--epochs", "100000", "--no-progress",
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"},
    )  # fmt: skip
    try:
        assert proc.stdout.readline().startswith("epoch 1/100000")  # training is under way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted at epoch" in out and "interrupted after" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] is True and 1 <= metrics["epochs"] < 100000


def test_an_interrupted_run_says_so_and_exits_130(tmp_path, monkeypatch, capsys):
    from tinygrad_mlp import train

    class StopInEpoch2(train.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                raise KeyboardInterrupt  # as a Ctrl-C in the loop is handled

    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: real_fit(*a, **k, callbacks=[StopInEpoch2()]))
    assert cli.main(["train", "--epochs", "5", "--no-progress", "--out", str(tmp_path)]) == 130
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs"] == 2  # epoch 2 was recorded
    assert "interrupted after 2 complete epoch(s)" in capsys.readouterr().err
    assert (tmp_path / "model.npz").exists()


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
