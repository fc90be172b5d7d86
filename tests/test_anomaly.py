"""detect_anomaly(): every forward and backward result is checked and the culprit op is named."""

import numpy as np
import pytest

import tinygrad_mlp as tg


def test_forward_nan_names_the_op():
    x = tg.Tensor([-1.0, 1.0], requires_grad=True)
    with np.errstate(invalid="ignore"), tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match=r"Log\.forward"):
            x.log()


def test_backward_inf_names_the_op():
    x = tg.Tensor([0.0, 1.0], requires_grad=True)
    y = x**0.5  # finite forward, infinite derivative at 0
    with np.errstate(divide="ignore"), tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match=r"Pow\.backward"):
            y.sum().backward()


def test_without_anomaly_mode_nan_passes_silently_and_mode_is_restored():
    x = tg.Tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        with tg.detect_anomaly():
            pass
        assert np.isnan(x.log().item())
