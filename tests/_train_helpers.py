"""Helpers shared by the tests of ``tinygrad_mlp.train`` (tests/test_train_*.py)."""

from __future__ import annotations

import numpy as np

from tinygrad_mlp import data, nn, optim, train
from tinygrad_mlp import functional as F


def blobs(n=200, seed=0, flip=False):
    """Two well separated Gaussian blobs in 2-D with int64 labels (flip=True swaps the labels)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(scale=0.5, size=(n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    y = 1 - y if flip else y
    return X.astype(np.float32), y.astype(np.int64)


def setup(seed=0, lr=0.05, sizes=(2, 8, 2), **mlp_kw):
    model = nn.MLP(list(sizes), seed=seed, **mlp_kw)
    return model, optim.Adam(model.parameters(), lr=lr)


def loader(X, y, batch_size=32, shuffle=True, seed=0):
    return data.DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, seed=seed)


def quiet_fit(model, opt, train_loader, loss_fn=F.cross_entropy, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("verbose", False)
    return train.fit(model, loss_fn, opt, train_loader, **kw)


def same_state(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class Snapshots(train.Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def __init__(self):
        self.states = {}

    def on_train_begin(self, fit_state):
        self.model = fit_state.model

    def on_epoch_end(self, epoch, logs):
        self.states[epoch] = self.model.state_dict()
