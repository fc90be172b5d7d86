"""Smoke tests of the benchmark (``tinygrad_mlp.bench``); never a timing assertion.

What they prove: the quick run works end to end and writes the documented files and keys; the
hand-written NumPy reference computes exactly tinygrad_mlp's gradients and SGD step (so it is a
fair yardstick); the harness interleaves and summarises as documented; targets are judged right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import Tensor
from tinygrad_mlp import functional as F
from tinygrad_mlp.bench import harness, impls, markdown, report, run
from tinygrad_mlp.bench.reference import NumpyMLP, gemm_floor, gemm_shapes, init_params
from tinygrad_mlp.bench.torch_runner import _blas_library, run_torch, torch_installed

SIZES = [5, 7, 4, 3]
VARIANTS = ["engine"] + (["nn"] if impls.nn_optim_available() else [])


def _batch(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, SIZES[0])), rng.integers(0, SIZES[-1], size=n)


def test_quick_run_writes_valid_json_markdown_and_plot(tmp_path):
    assert run(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-quick.json").read_text())
    for key in (
        "schema_version",
        "meta",
        "config",
        "steps",
        "overhead",
        "epoch",
        "targets",
        "torch",
        "tinygrad_variant",
        "device_notes",
        "elapsed_s",
        "noise",
        "probe",
    ):
        assert key in results, key
    probe = results["probe"]  # --quick: no PyTorch, so no probe after it
    assert list(probe["seconds"]) == ["start", "after the steps", "after the epochs"]
    assert all(t > 0 for t in probe["seconds"].values())
    assert probe["spread"] == max(probe["seconds"].values()) / min(probe["seconds"].values())
    for key in (
        "date",
        "command",
        "cpu_model",
        "cpu_count",
        "numpy",
        "versions",
        "blas",
        "thread_env",
        "python",
    ):
        assert key in results["meta"], key
    assert results["config"]["quick"] is True
    impls_seen = {r["impl"] for r in results["steps"]}
    assert {"tinygrad", "tinygrad_compiled", "numpy_reference", "gemm_floor"} <= impls_seen
    for r in results["steps"]:
        t = r["time"]
        assert t["min"] <= t["q1"] <= t["median"] <= t["q3"] <= t["max"]
        assert t["iqr"] == pytest.approx(t["q3"] - t["q1"])
        assert t["n"] == results["config"]["repeats"] and t["number"] >= 1
        if r["impl"] != "gemm_floor":
            assert r["peak_bytes"] > 0
    assert {r["op"] for r in results["overhead"]} >= {"add", "matmul", "graph_fwd_bwd"}
    epoch = {r["impl"]: r for r in results["epoch"]["results"]}
    assert {"tinygrad", "tinygrad_compiled", "numpy_reference"} <= set(epoch)
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in epoch.values())
    # the compiled step is the eager step's arithmetic: the same model, so the same accuracy
    assert epoch["tinygrad_compiled"]["test_accuracy"] == epoch["tinygrad"]["test_accuracy"]
    assert epoch["tinygrad_compiled"]["variant"] == "train.compile_step(nn.MLP + optim.SGD)"
    assert results["epoch"]["data_source"] in ("fashion-mnist", "synthetic")
    ids = [t[0] for t in report.TARGETS]  # then the targets again, for the compiled step
    assert [t["id"] for t in results["targets"]] == ids + [f"{i}_compiled" for i in ids]
    compiled = {t["id"]: t for t in results["targets"]}["step_vs_reference_b32_compiled"]
    assert compiled["target"] == "compiled step <= 1.15x hand-written NumPy (batch < 128, CPU)"
    assert compiled["ratios"] and compiled["status"] in ("met", "not met")
    md = (tmp_path / "bench-quick.md").read_text()
    assert "## Targets" in md and "64-64-16-10" in md
    assert results["noise"] == report.noise(results)
    disturbed = "- WARNING: a disturbed run: " in md
    assert disturbed == results["noise"]["disturbed"] != ("- noise: an undisturbed run" in md)
    assert (tmp_path / "bench-quick-step-time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    flushing = tg.is_flush_denormal()  # off unless something in this process turned it on
    assert results["meta"]["flush_denormal"] is flushing
    assert ("subnormals flushed" in md) is flushing
    results["meta"]["flush_denormal"] = True  # a run after tg.set_flush_denormal(True) says so
    assert "; subnormals flushed to zero" in markdown.render(results, "bench-quick")
    results["torch"] = {
        "status": "ok",
        "meta": {"torch": "2.13.0", "blas": "mkl", "num_threads": 2},
    }
    assert "torch 2.13.0, BLAS: mkl, 2 threads" in markdown.render(results, "bench-quick")


QUICK_SMALL = ["--quick", "--device", "cpu", "--networks", "64-64-16-10", "--skip", "epoch,plots"]


def test_a_failing_part_is_reported_and_the_other_parts_are_kept(tmp_path, monkeypatch, capsys):
    from tinygrad_mlp.bench import suite

    def broken(cfg, log):
        raise RuntimeError("overhead broke")

    monkeypatch.setattr(suite, "bench_overhead", broken)
    assert run([*QUICK_SMALL, "--out", str(tmp_path)]) == 1  # files written, exit status 1
    assert "FAILED overhead: RuntimeError: overhead broke" in capsys.readouterr().err
    results = json.loads((tmp_path / "bench-quick.json").read_text())
    [failure] = results["failures"]
    assert failure["part"] == "overhead" and "broken" in failure["traceback"]
    assert results["overhead"] == [] and results["interrupted"] is None
    impls = {"tinygrad", "tinygrad_compiled", "numpy_reference", "gemm_floor"}
    assert {r["impl"] for r in results["steps"]} == impls
    md = (tmp_path / "bench-quick.md").read_text()
    assert "- **FAILED** overhead: RuntimeError: overhead broke" in md


def test_steps_measured_before_a_failure_on_one_device_are_kept(monkeypatch):
    from tinygrad_mlp.bench import impls, suite

    real_build, calls = impls.build, []

    def build(params, lr, device="cpu", variant="auto"):
        calls.append(1)
        if len(calls) == 3:  # two builds per configuration: eager and compiled step
            raise RuntimeError("second configuration broke")
        return real_build(params, lr, device, variant)

    monkeypatch.setattr(impls, "build", build)
    cfg = suite.make_config(quick=True, networks=("64-64-16-10",), overhead=False, epoch=False)
    results = suite.run_suite(cfg, log=lambda line: None)
    assert [f["part"] for f in results["failures"]] == ["steps on cpu"]
    assert {r["batch"] for r in results["steps"]} == {32}  # the first of batches 32 and 128
    assert "tinygrad_variant" not in results  # the step loop did not finish
    assert "**FAILED** steps on cpu: RuntimeError" in markdown.render(results, "bench")


def test_an_interrupted_run_keeps_and_marks_its_partial_results(tmp_path, monkeypatch):
    from tinygrad_mlp.bench import suite

    def interrupt(cfg, log):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite, "bench_overhead", interrupt)  # after the steps, before the rest
    assert run([*QUICK_SMALL, "--out", str(tmp_path)]) == 130
    results = json.loads((tmp_path / "bench-quick.json").read_text())
    assert results["interrupted"].startswith("stopped by SIGINT")
    assert results["steps"] and results["torch"] == {"status": "not run"}
    assert list(results["probe"]["seconds"]) == ["start", "after the steps"]
    assert "- **INTERRUPTED**: stopped by SIGINT" in (tmp_path / "bench-quick.md").read_text()


def test_a_run_interrupted_before_its_first_step_still_writes_its_report(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "interleaved", interrupt)  # plots on: none has data
    argv = ["--quick", "--device", "cpu", "--networks", "64-64-16-10", "--out", str(tmp_path)]
    assert run(argv) == 130
    results = json.loads((tmp_path / "bench-quick.json").read_text())
    assert results["steps"] == [] and results["interrupted"]
    assert results["probe"]["seconds"] == {} and results["probe"]["spread"] is None  # it too
    assert (tmp_path / "bench-quick.md").exists()
    assert not (tmp_path / "bench-quick-step-time.png").exists()


def test_a_failing_pytorch_part_is_recorded(tmp_path, monkeypatch):
    from tinygrad_mlp.bench import suite

    def broken(cfg):
        raise OSError("no torch process")

    monkeypatch.setattr(suite, "run_torch", broken)
    assert run([*QUICK_SMALL, "--torch", "--out", str(tmp_path)]) == 1
    results = json.loads((tmp_path / "bench-quick.json").read_text())
    assert [f["part"] for f in results["failures"]] == ["torch"]
    assert results["torch"] == {"status": "failed: see failures"}
    assert "- PyTorch: failed: see failures" in (tmp_path / "bench-quick.md").read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ["--skip", "bogus"],
        ["--repeats", "0"],
        ["--networks", "1-2-3"],
        ["--clock", "cpu"],
        ["--threads", "0"],
    ],
)
def test_bad_arguments_are_refused(argv, tmp_path, capsys):
    assert run([*argv, "--out", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_gradients_equal_tinygrad(variant):
    params = init_params(SIZES, seed=3, dtype="float64")
    x, y = _batch()
    ref_loss, ref_grads = NumpyMLP(params).loss_and_grads(x, y)
    model, _, _ = impls.build(params, lr=0.1, variant=variant)
    loss = F.cross_entropy(model(Tensor(x, dtype="float64")), Tensor(y))
    loss.backward()
    assert loss.item() == pytest.approx(ref_loss, abs=1e-12)
    flat_ref = [g for layer in ref_grads for g in layer]
    grads = [p.grad.numpy() for p in model.parameters()]
    assert len(grads) == len(flat_ref)
    for got, want in zip(grads, flat_ref, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_sgd_step_equals_tinygrad_step(variant):
    params = init_params(SIZES, seed=4, dtype="float64")
    x, y = _batch(seed=2)
    ref = NumpyMLP(params, lr=0.5)
    model, opt, _ = impls.build(params, lr=0.5, variant=variant)
    step = impls.make_step(model, opt, Tensor(x, dtype="float64"), Tensor(y))
    for _ in range(3):
        ref.step(x, y)
        step()
    want = [a for w, b in zip(ref.weights, ref.biases, strict=True) for a in (w, b)]
    for p, w in zip(model.parameters(), want, strict=True):
        np.testing.assert_allclose(p.numpy(), w, rtol=0, atol=1e-10)
        assert p.data.ctypes.data % 64 == 0 and w.ctypes.data % 64 == 0  # both start aligned
    assert not np.allclose(want[0], params[0][0])  # the steps did move the weights


def test_reference_does_not_modify_its_inputs():
    params = init_params(SIZES, seed=5, dtype="float64")
    x, y = _batch()
    x0, w0 = x.copy(), params[0][0].copy()
    NumpyMLP(params).step(x, y)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(params[0][0], w0)


def test_gemm_floor_does_the_steps_matrix_products():
    assert gemm_shapes([784, 50, 10], 32) == [
        (32, 784, 50),
        (50, 32, 784),
        (32, 50, 10),
        (10, 32, 50),
        (32, 10, 50),
    ]
    floor = gemm_floor([64, 64, 16, 10], 8, dtype="float64")
    floor()
    assert floor.shapes == gemm_shapes([64, 64, 16, 10], 8)


def test_summarize_quartiles_and_spread():
    s = harness.summarize([4.0, 1.0, 3.0, 2.0, 5.0], number=7)
    assert (s.min, s.q1, s.median, s.q3, s.max) == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert s.iqr == 2.0 and s.n == 5 and s.number == 7 and s.mean == 3.0
    with pytest.raises(ValueError):
        harness.summarize([], 1)


def test_interleaved_runs_round_robin_with_rotating_order():
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    stats = harness.interleaved(fns, repeats=3, warmup=1, min_sample_s=0.0)
    # warm-up and calibration (1 call each, as min_sample_s=0), then the rotated repeats
    assert calls == list("aabbcc") + list("abc") + list("bca") + list("cab")
    assert set(stats) == set("abc") and all(s.n == 3 and s.number == 1 for s in stats.values())
    with pytest.raises(ValueError):
        harness.interleaved(fns, repeats=0)


def test_peak_memory_sees_numpy_buffers():
    assert harness.peak_memory(lambda: np.ones(1_000_000)) >= 8_000_000


def _fake_results(tg: dict[int, float], ref: dict[int, float]) -> dict:
    steps = []
    for impl, table in (("tinygrad", tg), ("numpy_reference", ref)):
        for batch, med in table.items():
            steps.append(
                {
                    "device": "cpu",
                    "network": "n",
                    "dtype": "float32",
                    "batch": batch,
                    "impl": impl,
                    "time": {"median": med},
                }
            )
    return {
        "steps": steps,
        "device_notes": {"cuda": "not measured: no GPU"},
        "torch": {"status": "skipped"},
    }


def test_the_compiled_epoch_runs_every_batch_through_compile_step(monkeypatch):
    from tinygrad_mlp import train
    from tinygrad_mlp.bench import epoch

    rng = np.random.default_rng(0)
    data = {
        "X_train": rng.standard_normal((50, 8)).astype(np.float32),
        "y_train": rng.integers(0, 3, 50),
        "X_test": rng.standard_normal((10, 8)).astype(np.float32),
        "y_test": rng.integers(0, 3, 10),
    }
    calls, real = [], train.compile_step

    def spy(model, opt, **kw):
        step = real(model, opt, **kw)
        return lambda x, y: calls.append(x.shape[0]) or step(x, y)

    monkeypatch.setattr(train, "compile_step", spy)
    runs = {}
    for compiled in (False, True):
        run_epoch, accuracy, info = epoch._tinygrad_runner(
            data, [8, 6, 3], 16, 0.1, 0, "cpu", compiled
        )
        run_epoch()
        runs[compiled] = accuracy(), info["variant"]
    assert calls == [16, 16, 16, 2]  # one compiled step per batch, in the compiled run only
    assert runs[True][0] == runs[False][0]  # the same arithmetic
    assert runs[True][1] == f"train.compile_step({runs[False][1]})"


def test_targets_are_judged_from_the_ratios():
    res = _fake_results({32: 2.0, 128: 1.0, 1024: 1.04}, {32: 1.0, 128: 1.0, 1024: 1.0})
    by_id = {t["id"]: t for t in report.targets(res)}
    assert by_id["step_vs_reference_b128"]["met"] is True
    assert by_id["step_vs_reference_b128"]["worst"]["ratio"] == pytest.approx(1.04)
    assert by_id["step_vs_reference_b32"]["met"] is False
    assert by_id["step_vs_reference_b32"]["worst"]["ratio"] == pytest.approx(2.0)
    assert by_id["gpu_speedup_b8192"]["met"] is None
    assert "no GPU" in by_id["gpu_speedup_b8192"]["status"]
    assert by_id["step_vs_torch_cpu"]["status"].startswith("not measured")
    twin = by_id["step_vs_reference_b32_compiled"]  # no compiled timings in this run
    assert twin["met"] is None
    assert twin["status"] == "not measured: no compiled step in this run's steps"


def test_compiled_step_targets_use_the_compiled_timings():
    res = _fake_results({32: 2.0, 128: 1.0}, {32: 1.0, 128: 1.0})
    eager = [dict(s) for s in res["steps"] if s["impl"] == "tinygrad"]
    for s, med in zip(eager, (1.1, 1.2), strict=True):  # batch 32, then 128
        res["steps"].append(dict(s, impl="tinygrad_compiled", time={"median": med}))
    by_id = {t["id"]: t for t in report.targets(res)}
    assert by_id["step_vs_reference_b32"]["met"] is False
    b32, b128 = by_id["step_vs_reference_b32_compiled"], by_id["step_vs_reference_b128_compiled"]
    assert b32["met"] is True and b32["worst"]["ratio"] == pytest.approx(1.1)
    assert b128["met"] is False and b128["worst"]["ratio"] == pytest.approx(1.2)
    assert b32["target"] == "compiled step <= 1.15x hand-written NumPy (batch < 128, CPU)"
    assert by_id["step_vs_torch_cpu_compiled"]["status"] == "not measured: torch skipped"


def test_the_compiled_epoch_is_judged_from_its_own_epoch_times():
    def epoch(impl, seconds, accuracy):
        return {"impl": impl, "median_epoch_s": seconds, "test_accuracy": accuracy}

    res = _fake_results({32: 1.0}, {32: 1.0})
    res["epoch"] = {"results": [epoch("tinygrad", 1.0, 0.84), epoch("torch", 1.25, 0.84)]}
    by_id = {t["id"]: t for t in report.targets(res)}
    assert by_id["epoch_vs_torch_cpu"]["met"] is True  # 0.8x
    twin = by_id["epoch_vs_torch_cpu_compiled"]
    assert twin["met"] is None
    assert twin["status"] == "not measured: no compiled step in this run's epoch"
    res["epoch"]["results"].append(epoch("tinygrad_compiled", 0.9, 0.83))
    twin = {t["id"]: t for t in report.targets(res)}["epoch_vs_torch_cpu_compiled"]
    assert twin["worst"]["ratio"] == pytest.approx(0.72)
    assert twin["met"] is False and twin["worst"]["accuracy_gap"] == pytest.approx(-0.01)
    assert (
        twin["target"] == "compiled Fashion-MNIST epoch <= 0.8x PyTorch CPU, accuracy within 0.5%"
    )


def test_noisy_timings_mark_a_run_as_disturbed():
    from tinygrad_mlp.bench.markdown import _noise_line

    res = _fake_results({32: 1.0, 128: 2.0}, {32: 1.0, 128: 2.0})
    for step, iqr in zip(res["steps"], (0.05, 0.2, 0.1, 0.0), strict=True):
        step["time"]["iqr"] = iqr  # 5% / 10% / 5% / 0% of the medians
    res["epoch"] = {"results": [{"impl": "torch", "epoch_times_s": [1.0, 1.19, 1.1]}]}
    quiet = report.noise(res)
    assert quiet["disturbed"] is False and quiet["noisy_steps"] == quiet["noisy_epochs"] == []
    assert _noise_line(res).startswith("- noise: an undisturbed run")

    res["steps"][0]["time"]["iqr"] = 0.11  # 11% of 1.0
    res["epoch"]["results"].append({"impl": "tinygrad", "epoch_times_s": [1.0, 1.3, 1.1]})
    noisy = report.noise(res)
    assert noisy["disturbed"] is True
    assert [(s["case"], s["impl"]) for s in noisy["noisy_steps"]] == [
        ("n float32 b32 cpu", "tinygrad")
    ]
    assert noisy["noisy_steps"][0]["iqr_over_median"] == pytest.approx(0.11)
    assert [e["impl"] for e in noisy["noisy_epochs"]] == ["tinygrad"]
    text = _noise_line(res)
    assert text.startswith("- WARNING: a disturbed run: 1 of 4 step timings")
    assert "n float32 b32 cpu tinygrad 11%" in text and "tinygrad 1.30x" in text


def test_a_speed_probe_that_moved_marks_a_run_as_disturbed():
    from tinygrad_mlp.bench.markdown import _noise_line

    res = _fake_results({32: 1.0}, {32: 1.0})
    res["probe"] = {"workload": "w", "seconds": {"start": 1e-3, "after the steps": 1.15e-3}}
    res["probe"]["spread"] = 1.15
    assert report.noise(res)["disturbed"] is False
    assert "start 1.000 ms, after the steps 1.150 ms, within 1.2x" in _noise_line(res)
    res["probe"]["seconds"]["after PyTorch"] = 1.5e-3
    res["probe"]["spread"] = 1.5
    assert report.noise(res)["disturbed"] is True
    assert "the machine changed speed during the run" in _noise_line(res)
    assert "(1.50x apart)" in _noise_line(res)


def test_torch_blas_library_is_read_from_the_build_settings():
    show = "PyTorch built with:\n  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, USE_MKL=ON"
    assert _blas_library(show) == "mkl"
    assert _blas_library("Build settings: BUILD_TYPE=Release, BLAS_INFO=open,") == "openblas"
    assert _blas_library("Build settings: OPENBLAS_INFO=x, BLAS_INFO=blis") == "blis"
    assert _blas_library("PyTorch built with: nothing") == "unknown"
    assert _blas_library("BLAS_INFO=, X=1") == "unknown"


def test_blas_line_names_numpys_build_and_whose_library_each_pool_is():
    numpy_pool = {"filepath": "/v/site-packages/numpy.libs/libscipy_openblas64_-32a4.so"}
    numpy_pool.update(internal_api="openblas", version="0.3.31", num_threads=2)
    numpy_pool["architecture"] = "SkylakeX"
    omp = {"filepath": "/v/lib/libiomp5.so", "internal_api": "openmp", "version": None}
    omp["num_threads"] = 2
    blas = {"build_blas": {"name": "mkl-dynamic-lp64-iomp", "version": "2026.2"}}
    blas["threadpools"] = [omp, numpy_pool]
    assert markdown.blas_line(blas) == (
        "BLAS: NumPy built with mkl-dynamic-lp64-iomp 2026.2; loaded pools: lib/libiomp5.so: "
        "openmp, 2 threads; numpy.libs/libscipy_openblas64_-32a4.so: openblas 0.3.31, 2 threads "
        "(SkylakeX)"
    )
    missing = {"build_blas": {"error": "old NumPy\nmore"}}
    missing["threadpools"] = "threadpoolctl not installed"
    assert markdown.blas_line(missing) == (
        "BLAS: NumPy built with unknown (old NumPy); loaded pools: threadpoolctl not installed"
    )
    assert markdown.blas_line({"build_blas": {}, "threadpools": []}).endswith("pools: none")


@pytest.mark.skipif(not torch_installed(), reason="PyTorch is optional")
def test_torch_runner_smoke():
    cfg = {
        "devices": {"cpu": {"batches": [8], "dtypes": ["float32"]}},
        "networks": {"64-64-16-10": [64, 64, 16, 10]},
        "repeats": 2,
        "warmup": 1,
        "min_sample_s": 0.001,
        "lr": 0.01,
        "seed": 0,
        "overhead": False,
        "epoch": None,
    }
    out = run_torch(cfg, timeout=300)
    assert out["status"] == "ok", out["status"]
    assert out["meta"]["num_threads"] >= 1
    assert out["meta"]["blas"] not in ("", "unknown")  # mkl, openblas, ...: as torch was built
    rec, floor = out["steps"]
    assert (rec["impl"], rec["device"], rec["batch"]) == ("torch", "cpu", 8)
    assert rec["time"]["median"] > 0
    assert rec["peak_bytes"] > 0  # the profiler's memory events (cpu_peak_bytes)
    # the NumPy GEMM floor's products, done by PyTorch's library, timed beside its step
    assert (floor["impl"], floor["device"], floor["batch"]) == ("torch_gemm_floor", "cpu", 8)
    assert floor["time"]["median"] > 0  # no speed claim here: that is the benchmark's job
    assert floor["peak_bytes"] is None


@pytest.mark.skipif(not torch_installed(), reason="PyTorch is optional")
def test_torch_gemm_floor_does_the_numpy_floor_s_products():
    import torch

    from tinygrad_mlp.bench.torch_runner import _torch_products

    for dtype in ("float32", "float64"):
        floor = gemm_floor([20, 12, 5], 7, dtype, seed=3)
        assert len(floor.triples) == 5
        for _, _, out in floor.triples:
            out[...] = np.nan
        _torch_products(torch, floor)()  # writes into the floor's own result arrays
        for a, b, out in floor.triples:
            np.testing.assert_allclose(out, a @ b, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.skipif(not torch_installed(), reason="PyTorch is optional")
def test_torch_cpu_peak_is_the_high_water_mark_of_the_call():
    """Each call replaces a kept 1 MiB block (as a step replaces its gradients), then makes and
    frees a 2 MiB temporary and a 0.5 MiB one: peak 3 MiB, every time. The free of the block
    kept from before the call is not seen (as with tracemalloc on the NumPy side), even when the
    previous call was profiled too."""
    import torch

    from tinygrad_mlp.bench.torch_runner import cpu_peak_bytes

    kept = [torch.empty(4 << 20, dtype=torch.uint8)]

    def call():
        kept[0] = torch.empty(1 << 20, dtype=torch.uint8)  # frees the block of the last call
        tmp = torch.empty(2 << 20, dtype=torch.uint8)
        del tmp
        tmp = torch.empty(512 << 10, dtype=torch.uint8)
        del tmp

    assert [cpu_peak_bytes(torch, call) for _ in range(3)] == [3 << 20] * 3


def test_busy_fraction_is_the_non_idle_share_of_the_cpu_time(monkeypatch):
    readings = iter([(100, 400), (160, 500)])  # (idle, total): 60 of 100 new jiffies idle
    monkeypatch.setattr(harness, "_cpu_times", lambda: next(readings))
    assert harness.busy_fraction(0.0) == pytest.approx(0.4)
    monkeypatch.setattr(harness, "_cpu_times", lambda: None)
    assert harness.busy_fraction(0.0) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_busy_fraction_sees_another_process_using_a_core():
    quiet = harness.busy_fraction(0.3)
    assert quiet is not None and 0.0 <= quiet <= 1.0
    cores = os.cpu_count() or 1
    share_of_one_core = 1.0 / cores
    load = os.getloadavg()[0]  # a second witness: a broken /proc/stat parse must not skip
    if quiet > 1.0 - share_of_one_core and load >= cores - 0.5:  # e.g. a build on every core
        pytest.skip(f"the machine is already busy ({quiet:.0%} of its CPU time, load {load:.1f})")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it start
        busy = harness.busy_fraction(0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and busy - quiet >= 0.5 * share_of_one_core


def test_the_report_warns_about_a_busy_start_and_not_about_a_trailing_load_average():
    meta = {"busy_at_start": 0.6, "load_average": [0.1, 0.1, 0.1], "cpu_count": 2}
    assert "WARNING" in " ".join(markdown._busy_lines(meta))
    meta = {"busy_at_start": 0.02, "load_average": [1.9, 1.0, 0.5], "cpu_count": 2}
    lines = markdown._busy_lines(meta)
    assert "2%" in lines[0] and "WARNING" not in " ".join(lines)
    meta = {"busy_at_start": None, "load_average": [1.9, 1.0, 0.5], "cpu_count": 2}
    assert "load 1.9" in " ".join(markdown._busy_lines(meta))


def test_source_commit_falls_back_to_the_environment_without_a_git_checkout(monkeypatch):
    """A lent GPU machine gets a copy of the tree without .git: TINYGRAD_MLP_COMMIT names it."""
    monkeypatch.setenv("TINYGRAD_MLP_COMMIT", "abc1234")
    monkeypatch.setattr(harness, "_git_head", lambda: "f" * 40)
    assert harness.source_commit() == "f" * 40  # .git, when there, wins
    monkeypatch.setattr(harness, "_git_head", lambda: None)
    assert harness.source_commit() == "abc1234"
    monkeypatch.setenv("TINYGRAD_MLP_COMMIT", "")
    assert harness.source_commit() is None


@pytest.mark.skipif(
    os.environ.get("GPU_CHECK_ALLOW_CPU") == "1", reason="inside the script's own test stage"
)
def test_the_gpu_check_script_dry_runs_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh is for a lent GPU machine, where it gets one try: here it runs
    end to end on the CPU (quick benchmark, short A/B, no pip), so its stages, time limits,
    summary and exit status are tested wherever the suite runs."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, GPU_CHECK_ALLOW_CPU="1", GPU_CHECK_QUICK="1", PYTHON=sys.executable)
    env.update(GPU_CHECK_NO_INSTALL="1", TINYGRAD_MLP_COMMIT="0123abc")
    script = os.path.join(root, "benchmarks", "gpu_check.sh")
    done = subprocess.run(
        ["bash", script, str(tmp_path / "gc"), "300"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "gc"
    lines = (out / "summary.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["tests", "bench", "labels"]
    assert all(": exit 0," in line for line in lines), lines
    assert "commit: 0123abc" in (out / "env.txt").read_text()
    assert " passed" in (out / "pytest-gpu.log").read_text()
    results = json.loads((out / "bench" / "bench-quick.json").read_text())
    assert results["meta"]["tinygrad_mlp_commit"] in ("0123abc", harness._git_head())
    assert results["failures"] == [] and results["steps"]
    assert "with the label check" in (out / "labels.log").read_text()
    bad = subprocess.run(["bash", script, str(out), "60"], capture_output=True, text=True)
    assert bad.returncode == 2 and "SECONDS >= 90" in bad.stderr


def test_step_table_shows_pytorch_s_gemm_floor_beside_ours():
    def rec(impl: str, ms: float) -> dict:
        time_ = {"median": ms / 1e3, "iqr": ms / 1e4}
        return {"device": "cpu", "network": "784-50-10", "dtype": "float32", "batch": 1024,
                "impl": impl, "time": time_, "peak_bytes": None}  # fmt: skip

    steps = [rec("tinygrad", 1.5), rec("gemm_floor", 1.2), rec("torch", 1.6)]
    more = [rec("torch_gemm_floor", 0.8), rec("tinygrad_compiled", 1.2), rec("numpy_reference", 1)]
    row = markdown._step_tables({"steps": [*steps, *more]})[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:8] == ["784-50-10", "1024", "1.500 (0.150)", "1.200 (0.120)", "1.000 (0.100)",
                         "1.200 (0.120)", "1.600 (0.160)", "0.800 (0.080)"]  # fmt: skip
    # tg/ref, compiled/ref, tg/GEMM, tg/torch, compiled/torch, GEMM/torch GEMM
    assert cells[8:14] == ["1.50", "1.20", "1.25", "0.94", "0.75", "1.50"]
    row = markdown._step_tables({"steps": steps})[-1]  # a run without them (older, or --quick)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:14] == ["-", "-", "1.200 (0.120)", "1.600 (0.160)", "-", "-", "-", "1.25",
                           "0.94", "-", "-"]  # fmt: skip


def test_engines_line_compares_the_steps_without_their_gemm_libraries():
    def rec(impl: str, ms: float, batch: int = 1024) -> dict:
        time_ = {"median": ms / 1e3, "iqr": 0.0}
        return {"device": "cpu", "network": "784-50-10", "dtype": "float32", "batch": batch,
                "impl": impl, "time": time_, "peak_bytes": None}  # fmt: skip

    steps = [rec("tinygrad", 1.5), rec("gemm_floor", 1.2), rec("torch", 1.6)]
    steps += [rec("torch_gemm_floor", 0.8), rec("tinygrad", 0.3, 32), rec("gemm_floor", 0.1, 32)]
    steps += [rec("torch", 0.5, 32), rec("torch_gemm_floor", 0.1, 32)]
    rows = report.engines_vs_torch({"steps": steps})
    assert [(r["case"], round(r["ratio"], 6)) for r in rows] == [
        ("784-50-10 float32 b32", 0.5),  # (0.3 - 0.1) / (0.5 - 0.1)
        ("784-50-10 float32 b1024", 0.375),  # (1.5 - 1.2) / (1.6 - 0.8)
    ]
    line = markdown._engines_line({"steps": steps})[-1]
    assert "= 0.38x (784-50-10 float32 b1024) to 0.50x (784-50-10 float32 b32) over 2 of 2" in line
    assert markdown._engines_line({"steps": steps[:3]}) == []  # no PyTorch floor: no line
    # a PyTorch step not slower than its floor has no ratio: reported, not dropped
    steps[2] = rec("torch", 0.7)
    rows = report.engines_vs_torch({"steps": steps})
    assert [r["ratio"] for r in rows] == [pytest.approx(0.5), None]
    line = markdown._engines_line({"steps": steps})[-1]
    assert "= 0.50x (784-50-10 float32 b32) to 0.50x (784-50-10 float32 b32) over 1 of 2" in line
    assert "not slower than its floor: 784-50-10 float32 b1024)" in line
