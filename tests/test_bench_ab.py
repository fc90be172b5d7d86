"""The same-session A/B scripts of ``benchmarks/ab/`` whose results the READMEs quote.

``overhead.py`` takes the framework's layers off tinygrad_mlp's step one at a time. What these
tests prove: its eight variants compute the same step (its own float64 check passes, and fails
when one variant is a step ahead), each variant enters exactly the layers its name leaves in
(counted by spies on ``F.cross_entropy``, ``nn.MLP.forward``, ``SGD.zero_grad`` and ``step``
(with every gradient handed over), ``Tensor.backward``, the stack plan and the label-range
check against the network's classes; the compiled step's ``__call__``), and ``--quick`` prints one
table row.
``cold_cache.py`` runs and prints its three conditions. ``compiled_parts.py``'s variants compute
the same step (and the check fails when one is a step ahead), and ``--quick`` prints one row.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tinygrad_mlp import Tensor
from tinygrad_mlp import functional as F
from tinygrad_mlp.nn import mlp
from tinygrad_mlp.nn.mlp import MLP
from tinygrad_mlp.optim import SGD
from tinygrad_mlp.train import CompiledStep, compiled

AB = Path(__file__).resolve().parent.parent / "benchmarks" / "ab"


def _script(name: str):
    """``benchmarks/ab/NAME.py`` as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"ab_{name}", AB / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_overhead_variants_compute_the_same_step():
    overhead = _script("overhead")
    overhead.check("64-64-16-10", 32)
    fns, firsts = overhead.steps("64-64-16-10", "float64", 8)
    assert list(fns) == list(overhead.NAMES) and len(firsts) == 8


@pytest.mark.parametrize(
    ("script", "name"),
    [
        ("overhead", "- engine"),
        ("overhead", "replay estimate"),
        ("overhead", "compiled step"),
        ("compiled_parts", "- optimizer"),
    ],
)
def test_the_check_catches_a_variant_a_step_ahead(script, name):
    module = _script(script)
    fns, firsts = module.steps("64-64-16-10", "float64", 8)
    for fn in fns.values():
        fn()
    module.same_weights(firsts)  # one step each: the same weights
    fns[name]()  # one step more: that variant's weights are ahead
    with pytest.raises(AssertionError, match=f"{name} computed another step"):
        module.same_weights(firsts)


def test_each_overhead_variant_leaves_out_its_layer(monkeypatch):
    overhead = _script("overhead")
    entered: set[str] = set()

    def spy(layer, fn):
        def wrapper(*args, **kwargs):
            entered.add(layer)
            return fn(*args, **kwargs)

        return wrapper

    fns, _ = overhead.steps("64-64-16-10", "float64", 8)  # made before the spies go in
    monkeypatch.setattr(F, "cross_entropy", spy("loss checks", F.cross_entropy))
    monkeypatch.setattr(MLP, "forward", spy("module", MLP.forward))

    def step_spy(opt, *args, **kwargs):  # the optimizer's step, with every gradient handed over
        grads = [p.grad for group in opt.param_groups for p in group["params"]]
        entered.add("optimizer" if None not in grads else "optimizer without gradients")
        return SGD_step(opt, *args, **kwargs)

    def labels_spy(y, num_classes):  # the range check, against the network's 10 classes
        entered.add("labels" if num_classes == 10 else f"labels in [0, {num_classes})")
        return labels_in_range(y, num_classes)

    SGD_step, labels_in_range = SGD.step, F._labels_in_range  # noqa: N806
    monkeypatch.setattr(SGD, "step", step_spy)
    monkeypatch.setattr(SGD, "zero_grad", spy("zero_grad", SGD.zero_grad))
    monkeypatch.setattr(Tensor, "backward", spy("engine", Tensor.backward))
    monkeypatch.setattr(mlp, "_stack_plan", spy("plan", mlp._stack_plan))
    monkeypatch.setattr(F, "_labels_in_range", labels_spy)
    monkeypatch.setattr(compiled, "_stack_plan", spy("plan", compiled._stack_plan))
    monkeypatch.setattr(CompiledStep, "__call__", spy("compiled", CompiledStep.__call__))
    everything = {"loss checks", "labels", "module", "plan", "zero_grad", "optimizer", "engine"}
    expected = {
        "hand-written": set(),
        "user step": everything,
        "- loss checks": everything - {"loss checks", "labels"},
        "- module": {"zero_grad", "optimizer", "engine"},
        "- optimizer": {"engine"},
        "- engine": set(),
        "replay estimate": {"plan", "labels", "zero_grad", "optimizer"},
        "compiled step": {"compiled", "plan", "labels"},
    }
    assert list(fns) == list(expected)
    for name, fn in fns.items():
        entered.clear()
        fn()
        assert entered == expected[name], name


def test_the_overhead_script_prints_a_row(capsys):
    overhead = _script("overhead")
    overhead.main(quick=True)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 64")]
    assert len(rows) == 1 and rows[0].count("|") == len(overhead.NAMES) + 6


def test_the_cold_cache_script_times_its_three_conditions(capsys):
    _script("cold_cache").main(calls=5)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "tiny step right after nothing",
        "tiny step right after an 8 MB copy",
        "tiny step right after a 128x784x512 float32 product",
    ]


def test_the_compiled_parts_variants_compute_the_same_step():
    parts = _script("compiled_parts")
    parts.check("64-64-16-10", 8)
    fns, firsts = parts.steps("64-64-16-10", "float64", 8)
    assert list(fns) == list(parts.NAMES) and len(firsts) == len(parts.NAMES)


def test_the_compiled_parts_script_prints_a_row(capsys):
    parts = _script("compiled_parts")
    parts.main(quick=True)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 64")]
    assert len(rows) == 1 and rows[0].count("|") == len(parts.NAMES) + 3
