"""functional: one_hot and the clear errors of the losses on bad input."""

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F


def logits(n=4, c=3, device="cpu"):
    return tg.Tensor(np.zeros((n, c)), requires_grad=True, device=device)


def test_one_hot():
    out = F.one_hot(np.array([2, 0, 1]), 3)
    assert out.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert str(out.dtype) == "float32"


@pytest.mark.parametrize("bad", [3, -1])
def test_cross_entropy_label_out_of_range_is_named(device, bad):
    labels = tg.Tensor(np.array([0, 1, bad, 2]), device=device)
    with pytest.raises(ValueError, match=rf"label {bad} is outside \[0, 3\)"):
        F.cross_entropy(logits(device=device), labels)


def test_cross_entropy_float_labels_are_refused():
    with pytest.raises(ValueError, match=r"probability targets must have the logits' shape"):
        F.cross_entropy(logits(), np.array([0.0, 1.0, 2.0, 1.0]))


def test_cross_entropy_label_count_must_match_batch():
    with pytest.raises(ValueError, match="got 3 labels for a batch of 4"):
        F.cross_entropy(logits(), np.array([0, 1, 2]))


def test_cross_entropy_needs_2d_logits():
    with pytest.raises(ValueError, match=r"shape \(N, C\), got shape \(3,\)"):
        F.cross_entropy(tg.Tensor(np.zeros(3)), np.array([1]))


def test_cross_entropy_probability_target_of_wrong_shape():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        F.cross_entropy(logits(), np.ones((4, 2)) / 2)


def test_cross_entropy_2d_integer_labels_are_refused():
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        F.cross_entropy(logits(), np.zeros((4, 1), dtype=np.int64))


def test_mse_loss_refuses_silent_broadcasting():
    pred = tg.Tensor(np.zeros((5, 1)), requires_grad=True)
    with pytest.raises(ValueError, match=r"pred of shape \(5, 1\) and target of shape \(5,\)"):
        F.mse_loss(pred, np.zeros(5))


def test_bce_refuses_silent_broadcasting():
    p = tg.Tensor(np.full((5, 1), 0.5))
    with pytest.raises(ValueError, match=r"\(5, 1\).*\(5,\)"):
        F.binary_cross_entropy(p, np.zeros(5))
    with pytest.raises(ValueError, match=r"\(5, 1\).*\(5,\)"):
        F.binary_cross_entropy_with_logits(p, np.zeros(5))


@pytest.mark.parametrize(
    "loss, args",
    [
        (F.mse_loss, (np.zeros((0, 2)), np.zeros((0, 2)))),
        (F.binary_cross_entropy, (np.zeros((0, 1)), np.zeros((0, 1)))),
        (F.cross_entropy, (np.zeros((0, 3)), np.zeros(0, dtype=np.int64))),
    ],
)
def test_empty_batch_is_an_error_not_nan(loss, args):
    with pytest.raises(ValueError, match="empty batch"):
        loss(tg.Tensor(args[0], requires_grad=True), args[1])


def test_unknown_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(tg.Tensor([1.0]), [1.0], reduction="avg")


def test_float64_targets_keep_precision_next_to_float64_predictions():
    pred = tg.Tensor([0.1], dtype="float64")
    loss = F.mse_loss(pred, np.array([0.1 + 1e-12]))
    assert loss.item() == pytest.approx(1e-24, rel=1e-3)


def test_target_on_another_device_is_named():
    with pytest.raises(tg.DeviceError, match="array_api_strict.*cpu"):
        F.mse_loss(tg.Tensor([1.0]), tg.Tensor([1.0], device="array_api_strict"))
