"""NumPy references shared by the op tests (tests/test_ops*.py)."""

import numpy as np


def np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))
