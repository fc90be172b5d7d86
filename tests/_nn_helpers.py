"""Shared by the tinygrad_mlp.nn tests."""

import numpy as np

import tinygrad_mlp as tg


def rand(*shape, seed=0, dtype="float32", device="cpu"):
    values = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return tg.Tensor(values, dtype=dtype, device=device)
