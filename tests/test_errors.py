"""Bad inputs across modules: each gets a clear error naming the offending shape, value, device or
file, never a silent wrong number.

One section per numbered item of the hardening issue. Where an item is already tested in the
module's own test file the test is referenced in a comment, not duplicated; the tests here cover
what was missing (and the fixes made for it).
"""

from __future__ import annotations

import io
import pickle
import re
import sys
import types
import warnings
import zipfile

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import backend, data, nn, optim, train
from tinygrad_mlp import functional as F
from tinygrad_mlp.io import CheckpointError


def t(shape, device="cpu", requires_grad=False, dtype="float64"):
    values = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)
    return tg.Tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


@pytest.fixture
def no_warnings():
    """NumPy warnings (e.g. 'Mean of empty slice', 'invalid value') fail the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ====================================================================== 1. shape mismatches
# Also: test_tensor.py::test_matmul_shape_mismatch_names_both_shapes,
#       test_tensor.py::test_broadcast_mismatch_names_both_shapes.


@pytest.mark.parametrize(
    "a, b, message",
    [
        ((2, 3), (4, 5), r"\(2, 3\) @ \(4, 5\)"),
        ((2, 3, 4), (5, 4, 2), r"input shapes \(2, 3, 4\) and \(5, 4, 2\)"),  # batch dims 2 vs 5
        ((3,), (2, 4), r"\(3,\) @ \(2, 4\)"),
        ((), (3,), r"at least 1-D.*\(\) @ \(3,\)"),
    ],
)
def test_matmul_mismatch_names_both_shapes_on_every_backend(device, a, b, message):
    with pytest.raises(ValueError, match=message):
        t(a, device) @ t(b, device)


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__truediv__"])
def test_broadcast_mismatch_names_both_shapes_on_every_backend(device, op):
    with pytest.raises(ValueError, match=r"input shapes \(2, 3\) and \(4,\)"):
        getattr(t((2, 3), device), op)(t((4,), device))


def test_broadcast_mismatch_with_a_numpy_operand_and_linear_width():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        t((2, 3)) + np.ones(4)
    with pytest.raises(ValueError, match=r"input of shape \(2, 3\).*weight of shape \(4, 5\)"):
        F.linear(t((2, 3)), t((4, 5)))


# ====================================================================== 2. cross_entropy labels
# Also: test_functional.py::test_cross_entropy_label_out_of_range_is_named (labels 3 and -1, on
# NumPy and array-api-strict), ..._float_labels_are_refused, ..._label_count_must_match_batch,
# ..._needs_2d_logits, ..._probability_target_of_wrong_shape, ..._2d_integer_labels_are_refused.
# CuPy: out-of-range indices wrap silently there, so F.cross_entropy checks xp.min/xp.max of the
# labels on their device (functional._check_labels, also behind F.one_hot) before
# ops.CrossEntropy indexes with them: the same array-API code path array-api-strict runs below.


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_out_of_range_label_of_any_integer_dtype_is_named(device, dtype):
    labels = tg.Tensor(np.array([0, 7, 1], dtype=dtype), device=device)
    with pytest.raises(ValueError, match=r"label 7 is outside \[0, 3\)"):
        F.cross_entropy(t((3, 3), device), labels)
    with pytest.raises(ValueError, match=r"label 7 is outside \[0, 3\)"):
        F.one_hot(labels, 3)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("classes", [3, 127, 128, 300, 2**31, 2**62])
def test_negative_label_of_any_signed_dtype_is_named(device, dtype, classes):
    """The smallest negative label of every signed dtype, at class counts around and far above
    that dtype's range, on contiguous and strided labels."""
    for bad in (-1, np.iinfo(dtype).min):
        labels = np.array([0, bad, 1, 2], dtype=dtype)
        ys = [tg.Tensor(y, device=device) for y in (labels, labels[::-1].copy())]
        if device == "cpu":  # a strided view, as internal code may wrap with Tensor._make
            ys.append(tg.Tensor._make(np.repeat(labels, 2)[::2], False, None))
        for y in ys:
            with pytest.raises(ValueError, match=rf"label {bad} is outside \[0, {classes}\)"):
                F._check_labels(y, classes)
    F._check_labels(tg.Tensor(np.array([0, 1, 2], dtype=dtype), device=device), classes)


def test_negative_byte_swapped_labels_are_named():
    """Internal code may wrap any NumPy array with ``Tensor._make``, byte order included."""
    for dtype in (">i8", ">i4", ">i2"):
        labels = tg.Tensor._make(np.array([0, -1, 1], dtype=dtype), False, None)
        with pytest.raises(ValueError, match=r"label -1 is outside \[0, 3\)"):
            F._check_labels(labels, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_narrow_label_dtypes_give_the_int64_loss_and_gradient(device, dtype):
    """300 rows and 300 classes: positions and class indices past 127/255 must not wrap."""
    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(300, 300)), rng.integers(0, 120, size=300)
    losses, grads = [], []
    for dt in (np.int64, dtype):
        logits = tg.Tensor(z, device=device, requires_grad=True)
        loss = F.cross_entropy(logits, tg.Tensor(labels.astype(dt), device=device))
        loss.backward()
        losses.append(loss.item())
        grads.append(logits.grad.numpy())
    assert losses[1] == pytest.approx(losses[0], rel=1e-12)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-15)


def test_bool_and_float_labels_are_refused():
    with pytest.raises(ValueError, match="class labels must be an integer tensor, got bool"):
        F.cross_entropy(t((3, 2)), np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"integer class labels must have shape \(3,\)"):
        F.cross_entropy(t((3, 2)), np.array([0.0, 1.0, 1.0]))


# ====================================================================== 3. silent broadcasting
# Also: test_functional.py::test_mse_loss_refuses_silent_broadcasting,
#       test_functional.py::test_bce_refuses_silent_broadcasting.

LOSSES = [F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("pred, target", [((5,), (5, 1)), ((1,), (5,)), ((4, 3), (3,))])
def test_losses_refuse_shapes_that_would_broadcast(loss, pred, target):
    p = tg.Tensor(np.full(pred, 0.5), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(str(pred)) + ".*" + re.escape(str(target))):
        loss(p, np.zeros(target))


# ====================================================================== 4. backward misuse
# Covered by test_graph.py: test_backward_on_non_scalar_without_grad_raises,
# test_backward_with_a_gradient_of_the_wrong_shape_names_both_shapes,
# test_second_backward_without_retain_graph_raises, test_no_grad_records_nothing.


def test_backward_through_a_graph_freed_by_another_root():
    a = t((2,), requires_grad=True)
    h = a * a
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        (h * 2.0).sum().backward()


# ====================================================================== 5. dtypes
# Also: test_tensor.py::test_integer_and_bool_tensors_cannot_require_grad,
#       test_graph.py::test_float32_and_float64_promote_to_float64_and_grads_keep_their_dtype.


def test_every_way_of_asking_an_integer_tensor_for_grad_is_refused():
    with pytest.raises(TypeError, match="int64"):
        tg.zeros(2, dtype="int64", requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        nn.Parameter(np.array([1, 2]))
    with pytest.raises(TypeError, match="bool"):
        tg.Tensor(np.array([True])).requires_grad_()
    with pytest.raises(TypeError, match="int64"):
        nn.Linear(2, 2, dtype="int64")


def test_mixed_precision_promotes_and_broadcast_grads_keep_their_dtype(device):
    a = t((3,), device, requires_grad=True, dtype="float32")
    b = t((2, 3), device, requires_grad=True, dtype="float64")
    out = a * b @ t((3,), device, dtype="float32")
    assert backend.dtype_name(out.dtype) == "float64"
    out.sum().backward()
    assert backend.dtype_name(a.grad.dtype) == "float32" and a.grad.shape == (3,)
    assert backend.dtype_name(b.grad.dtype) == "float64" and b.grad.shape == (2, 3)


# ====================================================================== 6. devices
# Also: test_tensor.py::test_mixing_devices_names_both, ::test_cuda_without_cupy_or_gpu_says_what_
# to_install (skipped where a GPU is present), test_functional.py::test_target_on_another_device.


@pytest.fixture
def fresh_backend(monkeypatch):
    """A backend that has loaded no device yet, so 'cuda' is looked up again."""
    monkeypatch.setattr(backend, "_modules", {})
    monkeypatch.setattr(backend, "_array_types", dict(backend._array_types))


def test_cuda_without_cupy_says_what_to_install(fresh_backend, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(tg.DeviceError, match=r"needs CuPy.*pip install 'tinygrad_mlp\[cuda12\]'"):
        tg.Tensor([1.0]).to("cuda")
    with pytest.raises(tg.DeviceError, match="pip install"):
        data.DataLoader(np.zeros((2, 2)), device="cuda")


def test_cupy_without_a_gpu_is_named(fresh_backend, monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace()))
    fake.cuda.runtime.getDeviceCount = no_driver
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(tg.DeviceError, match="no CUDA GPU is usable: cudaErrorInsufficientDriver"):
        tg.Tensor([1.0], device="cuda")
    fake.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(tg.DeviceError, match="no CUDA GPU was found"):
        nn.MLP([2, 2], device="cuda")


def test_model_and_input_on_different_devices_names_both():
    model = nn.MLP([3, 2], seed=0)
    with pytest.raises(tg.DeviceError, match=r"'array_api_strict' and 'cpu'"):
        model(t((1, 3), "array_api_strict", dtype="float32"))


@pytest.mark.skipif(backend.is_available("cuda"), reason="a GPU is present")
def test_module_to_unavailable_device_moves_nothing():
    model = nn.MLP([3, 2], seed=0)
    with pytest.raises(tg.DeviceError, match="cuda"):
        model.to("cuda")
    assert all(p.device == "cpu" for p in model.parameters())


# ====================================================================== 7. MLP input width
# Covered by test_nn_mlp.py::test_mlp_width_mismatch_names_expected_and_received.


def test_width_mismatch_on_another_backend_and_in_a_plain_linear():
    model = nn.MLP([4, 3, 2], seed=0, device="array_api_strict")
    with pytest.raises(ValueError, match=r"expects 4 input features, got 5 \(input shape \(2, 5\)"):
        model(t((2, 5), "array_api_strict", dtype="float32"))
    with pytest.raises(ValueError, match=r"input of shape \(2, 5\).*expected \(N, 4\)"):
        nn.Linear(4, 3)(t((2, 5), dtype="float32"))


# ====================================================================== 8. empty batches
# Also: test_functional.py::test_empty_batch_is_an_error_not_nan (mse, bce, cross_entropy),
# test_data.py::test_empty_and_zero_dimensional_inputs (DataLoader), test_train_loop.py::
# test_bad_fit_arguments_give_clear_errors (empty loaders), test_train_inference.py::
# test_predict_bad_inputs.


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_refuses_an_empty_batch_with_every_reduction(loss, reduction, no_warnings):
    with pytest.raises(ValueError, match="empty batch"):
        loss(t((0, 1), requires_grad=True), np.zeros((0, 1)), reduction=reduction)


def test_mean_of_integers_is_a_float_mean(device):
    labels = tg.Tensor(np.array([[1, 2], [4, 6]], dtype=np.int64), device=device)
    assert labels.mean().item() == pytest.approx(13 / 4)
    np.testing.assert_allclose(labels.mean(axis=0).numpy(), [2.5, 4.0])
    assert backend.is_floating(labels.mean(axis=1).dtype)
    assert tg.Tensor(np.array([True, False, True, True]), device=device).mean().item() == 0.75


def test_mean_of_nothing_is_an_error_not_nan(no_warnings):
    empty = t((0, 3), requires_grad=True)
    with pytest.raises(ValueError, match=r"Mean: .*axis None of an empty tensor.*\(0, 3\)"):
        empty.mean()
    with pytest.raises(ValueError, match=r"axis \(0,\) of an empty tensor"):
        empty.mean(axis=0)
    assert empty.mean(axis=1).shape == (0,)  # 3 values per (absent) row: defined, empty
    assert empty.sum().item() == 0.0
    with pytest.raises(ValueError, match=r"Max: .*\(0, 3\)"):
        empty.max()


def test_mlp_forward_on_an_empty_batch_is_an_empty_result(no_warnings):
    out = nn.MLP([3, 4, 2], seed=0)(t((0, 3), dtype="float32"))
    assert out.shape == (0, 2)


def test_fit_and_evaluate_refuse_an_empty_batch_naming_it():
    X, y = np.ones((4, 2), dtype=np.float32), np.zeros(4, dtype=np.int64)
    batches = [(tg.Tensor(X), tg.Tensor(y)), (tg.Tensor(X[:0]), tg.Tensor(y[:0]))]
    model = nn.MLP([2, 2], seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    summed = lambda o, t_: (o * 0.0).sum()  # noqa: E731 - a loss that is finite on 0 rows
    with pytest.raises(ValueError, match=r"batch 2 of epoch 1 is empty .*\(0, 2\)"):
        train.fit(model, summed, opt, batches, epochs=1, progress=False, verbose=False)
    with pytest.raises(ValueError, match=r"loader: batch 2 is empty"):
        train.evaluate(model, summed, batches)


# ====================================================================== 9. DataLoader
# Covered by test_data.py: test_length_mismatch_names_both_lengths, test_batch_size_below_one,
# test_batch_size_not_an_int; train_val_split: test_split_errors.

# ====================================================================== 10. optimizers
# Covered by test_optim_optimizer.py::test_bad_arguments_raise_value_error_naming_the_value
# (bad lr, betas, eps, momentum, weight_decay, nesterov; empty parameter lists and groups;
# tensors that need no grad; non-leaves; duplicates), ::test_non_tensor_param_is_also_a_type_error,
# ::test_wrong_gradient_shape_raises; schedulers in test_lr_scheduler.py.

# ====================================================================== 11. checkpoints
# Also: test_io.py (truncated, flipped byte, tampered array / manifest, extra member, object
# arrays without unpickling, non-checkpoint files), test_nn_module.py::
# test_shape_mismatch_names_key_and_both_shapes_and_changes_nothing.


def test_wrong_architecture_names_the_first_mismatching_key_and_both_shapes(tmp_path):
    path = tmp_path / "model.npz"
    tg.save(nn.MLP([4, 8, 3], seed=0).state_dict(), path)
    other = nn.MLP([4, 16, 3], seed=1)
    before = other.state_dict()
    with pytest.raises(ValueError, match=r"'layers\.0\.weight'.*\(8, 4\).*\(16, 4\)"):
        other.load_state_dict(tg.load(path))
    assert all(np.array_equal(before[k], v) for k, v in other.state_dict().items())
    with pytest.raises(ValueError, match=r"missing keys \['layers\.4\.weight'"):
        nn.MLP([4, 8, 8, 3]).load_state_dict(tg.load(path))


class Payload:
    """Unpickling this runs code (it flips ``ran``); a refused file must never get that far."""

    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    Payload.ran = True
    return 0


def _rewrite(src, dst, replace):
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for name in old.namelist():
            new.writestr(name, replace.get(name, old.read(name)))


def test_files_holding_python_objects_are_refused_without_running_them(tmp_path):
    good = tmp_path / "good.npz"
    tg.save({"w": np.ones(3)}, good)
    evil = pickle.dumps(Payload())
    objects = io.BytesIO()
    np.save(objects, np.array([Payload()], dtype=object), allow_pickle=True)
    files = {
        "object_savez.npz": lambda p: np.savez(p, a0=np.array([Payload()], dtype=object)),
        "object_array.npz": lambda p: _rewrite(good, p, {"a0.npy": objects.getvalue()}),
        "pickle.npz": lambda p: p.write_bytes(pickle.dumps({"w": Payload()})),
        "array_member.npz": lambda p: _rewrite(good, p, {"a0.npy": evil}),
        "manifest_member.npz": lambda p: _rewrite(good, p, {"__manifest__.npy": evil}),
    }
    for name, make in files.items():
        make(tmp_path / name)
        with pytest.raises(CheckpointError, match=name):
            tg.load(tmp_path / name)
    assert not Payload.ran
    pickle.loads(evil)  # the payload is live: the check above could have seen it run
    assert Payload.ran


# ====================================================================== 12. data sets
# Covered by test_datasets.py: test_corrupt_idx_files_name_the_file_and_problem,
# test_broken_gzip_and_missing_file, test_checksum_mismatch_removes_the_file,
# test_missing_dataset_lists_directories_and_remedies (every directory it looked in),
# test_image_and_label_counts_must_agree, test_wrong_file_contents, test_network_failure_names_url.
