"""DataLoader and train_val_split (tinygrad_mlp/data/loader.py)."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mlp import Tensor, backend
from tinygrad_mlp.data import DataLoader, train_val_split


def make_xy(n, features=3):
    """X whose row i is (i, i + 0.5, ...) and labels y[i] = i, so every pairing can be checked."""
    X = np.arange(n, dtype=np.float64)[:, None] + 0.5 * np.arange(features)[None, :]
    return X, np.arange(n)


def epoch(loader):
    return [(xb.numpy(), yb.numpy()) for xb, yb in loader]


# ---------------------------------------------------------------------- DataLoader
@pytest.mark.parametrize("n,batch_size", [(10, 3), (10, 5), (7, 1), (5, 8), (64, 64)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_each_sample_once_per_epoch(device, n, batch_size, shuffle):
    X, y = make_xy(n)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, seed=0, device=device)
    assert len(loader) == math.ceil(n / batch_size)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = []
        for xb, yb in batches:
            assert backend.device_of(xb.data) == device and backend.device_of(yb.data) == device
            assert xb.shape[0] == yb.shape[0] <= batch_size
            np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()].astype(np.float32))
            seen.extend(yb.numpy().tolist())
        assert sorted(seen) == list(range(n))
        if not shuffle:
            assert seen == list(range(n))
        assert [b[0].shape[0] for b in batches[:-1]] == [batch_size] * (len(batches) - 1)


def test_array_api_strict_batches_are_array_api_strict_arrays():
    X, y = make_xy(9)
    loader = DataLoader(X, y, batch_size=4, device="array_api_strict", seed=1)
    assert loader.device == "array_api_strict"
    for xb, yb in loader:
        for t in (xb, yb):
            assert type(t.data).__module__.startswith("array_api_strict")
            assert t.device == "array_api_strict"
        assert backend.dtype_name(xb.dtype) == "float32"
        assert backend.dtype_name(yb.dtype) == "int64"


def test_data_is_moved_to_the_device_once(device):
    X, y = make_xy(6)
    loader = DataLoader(X, y, batch_size=2, device=device)
    assert backend.device_of(loader._X) == device and backend.device_of(loader._y) == device
    assert backend.dtype_name(loader._X.dtype) == "float32"


@pytest.mark.parametrize("n,batch_size,batches", [(10, 3, 3), (10, 5, 2), (9, 10, 0)])
def test_drop_last(n, batch_size, batches):
    X, y = make_xy(n)
    if batches == 0:
        with pytest.raises(ValueError, match=r"drop_last=True with batch_size=10 and only 9"):
            DataLoader(X, y, batch_size=batch_size, drop_last=True)
        return
    loader = DataLoader(X, y, batch_size=batch_size, drop_last=True, seed=2)
    assert len(loader) == batches
    out = epoch(loader)
    assert len(out) == batches
    assert all(len(yb) == batch_size for _, yb in out)
    labels = np.concatenate([yb for _, yb in out])
    assert len(set(labels.tolist())) == batches * batch_size  # no sample twice


def test_shuffle_is_deterministic_per_seed_and_differs_across_epochs():
    X, y = make_xy(50)
    a = DataLoader(X, y, batch_size=7, seed=123)
    b = DataLoader(X, y, batch_size=7, seed=123)
    orders_a = [np.concatenate([yb for _, yb in epoch(a)]) for _ in range(3)]
    orders_b = [np.concatenate([yb for _, yb in epoch(b)]) for _ in range(3)]
    for oa, ob in zip(orders_a, orders_b, strict=True):
        np.testing.assert_array_equal(oa, ob)
    assert not np.array_equal(orders_a[0], orders_a[1])
    assert not np.array_equal(orders_a[1], orders_a[2])
    assert not np.array_equal(orders_a[0], np.arange(50))
    other = DataLoader(X, y, batch_size=7, seed=124)
    assert not np.array_equal(np.concatenate([yb for _, yb in epoch(other)]), orders_a[0])


def test_same_seed_same_batches_on_every_device(device):
    X, y = make_xy(20)
    cpu = [yb for _, yb in epoch(DataLoader(X, y, batch_size=6, seed=5))]
    dev = [yb for _, yb in epoch(DataLoader(X, y, batch_size=6, seed=5, device=device))]
    assert [b.tolist() for b in cpu] == [b.tolist() for b in dev]


def test_dtypes(device):
    X = np.arange(12, dtype=np.uint8).reshape(6, 2)
    name = backend.dtype_name
    xb, yb = next(iter(DataLoader(X, np.arange(6, dtype=np.uint8), device=device)))
    assert (name(xb.dtype), name(yb.dtype)) == ("float32", "int64")  # labels stay integer
    xb, yb = next(iter(DataLoader(X, np.arange(6, dtype=np.int32), dtype="float64", device=device)))
    assert (name(xb.dtype), name(yb.dtype)) == ("float64", "int64")
    xb, yb = next(iter(DataLoader(X, np.linspace(0, 1, 6), device=device)))
    assert (name(xb.dtype), name(yb.dtype)) == ("float32", "float32")  # float targets follow xb
    xb, yb = next(iter(DataLoader(X, np.ones((6, 3), np.float32), dtype="float64", device=device)))
    assert (name(xb.dtype), name(yb.dtype)) == ("float64", "float64")
    assert yb.shape == (6, 3)
    xb, yb = next(iter(DataLoader(X, np.arange(6) % 2 == 0, shuffle=False, device=device)))
    assert name(yb.dtype) == "float32"
    assert yb.numpy().tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_without_targets_yields_tensors():
    X, _ = make_xy(5)
    loader = DataLoader(X, batch_size=2, shuffle=False)
    out = list(loader)
    assert all(isinstance(xb, Tensor) for xb in out)
    np.testing.assert_array_equal(np.concatenate([xb.numpy() for xb in out]), X.astype(np.float32))


def test_accepts_tensors_and_lists_and_leaves_inputs_unchanged(device):
    X, y = make_xy(8)
    X_before = X.copy()
    loader = DataLoader(Tensor(X, dtype="float64"), Tensor(y), batch_size=3, device=device, seed=0)
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()].astype(np.float32))
    np.testing.assert_array_equal(X, X_before)
    listed = DataLoader([[1.0, 2.0], [3.0, 4.0]], [0, 1], shuffle=False)
    xb, yb = next(iter(listed))
    assert xb.numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]] and yb.numpy().tolist() == [0, 1]


def test_attributes_and_repr():
    X, y = make_xy(10)
    loader = DataLoader(X, y, batch_size=4, seed=0)
    assert (loader.num_samples, loader.batch_size, loader.device) == (10, 4, "cpu")
    assert "num_samples=10" in repr(loader) and "batch_size=4" in repr(loader)


def test_length_mismatch_names_both_lengths():
    X, _ = make_xy(10)
    with pytest.raises(ValueError, match="X has 10 samples, y has 9"):
        DataLoader(X, np.arange(9))


@pytest.mark.parametrize("bad", [0, -3])
def test_batch_size_below_one(bad):
    with pytest.raises(ValueError, match=f"batch_size must be at least 1, got {bad}"):
        DataLoader(np.zeros((4, 2)), batch_size=bad)


@pytest.mark.parametrize("bad", [2.0, True, "8", None])
def test_batch_size_not_an_int(bad):
    with pytest.raises(TypeError, match=f"batch_size must be an int, got {type(bad).__name__}"):
        DataLoader(np.zeros((4, 2)), batch_size=bad)


def test_empty_and_zero_dimensional_inputs():
    with pytest.raises(ValueError, match=r"X is empty \(shape \(0, 3\)\)"):
        DataLoader(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="X must have at least one dimension"):
        DataLoader(np.float32(3.0))
    with pytest.raises(ValueError, match="y must have at least one dimension"):
        DataLoader(np.zeros((3, 2)), np.int64(1))


# ---------------------------------------------------------------------- train_val_split
@given(
    labels=st.lists(st.integers(0, 5), min_size=2, max_size=120),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_stratified_split_is_proportional(labels, fraction, seed):
    y = np.array(labels, dtype=np.int64)
    n = len(y)
    X = np.arange(n)
    X_train, X_val, y_train, y_val = train_val_split(X, y, val_fraction=fraction, seed=seed)
    # a partition of the samples, each part in the original order, labels still paired
    np.testing.assert_array_equal(np.sort(np.concatenate([X_train, X_val])), X)
    assert np.all(np.diff(X_train) > 0) and np.all(np.diff(X_val) > 0)
    np.testing.assert_array_equal(y_train, y[X_train])
    np.testing.assert_array_equal(y_val, y[X_val])
    floors = rounded_up = flexible = 0
    singles_extra = non_single_left = 0
    for cls in np.unique(y):
        count, in_val = int((y == cls).sum()), int((y_val == cls).sum())
        quota = count * Fraction(repr(fraction))
        assert math.floor(quota) <= in_val <= math.ceil(quota)  # proportional
        if count >= 2:  # present in both parts
            assert 1 <= in_val <= count - 1
        floors += math.floor(quota)
        if quota == math.floor(quota):
            continue
        if count >= 2 and math.floor(quota) == 0:
            rounded_up += 1
        elif not (count >= 2 and math.ceil(quota) == count):
            flexible += 1
            singles_extra += count == 1 and in_val == 1
            non_single_left += count >= 2 and in_val == math.floor(quota)
    # the size is round(n * fraction) as far as the classes' own rounding allows
    target = min(max(round(n * Fraction(repr(fraction))), 1), n - 1)
    assert len(X_val) == min(max(target, floors + rounded_up), floors + rounded_up + flexible)
    assert 1 <= len(X_val) <= n - 1
    assert not (singles_extra and non_single_left)  # single samples are the last to move


def test_split_is_deterministic_per_seed():
    X, y = make_xy(200)
    labels = y % 4
    a = train_val_split(X, labels, val_fraction=0.3, seed=7)
    b = train_val_split(X, labels, val_fraction=0.3, seed=7)
    c = train_val_split(X, labels, val_fraction=0.3, seed=8)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_split_concrete_proportions():
    y = np.array([0] * 100 + [1] * 10 + [2] * 2)
    X = np.arange(len(y))[:, None].repeat(2, axis=1)
    X_train, X_val, y_train, y_val = train_val_split(X, y, val_fraction=0.2, seed=0)
    # 112 * 0.2 = 22.4, but the 2-sample class needs one validation sample of its own
    assert X_train.shape == (89, 2) and X_val.shape == (23, 2)
    assert np.bincount(y_val).tolist() == [20, 2, 1]
    assert np.bincount(y_train).tolist() == [80, 8, 1]
    np.testing.assert_array_equal(y_val, y[X_val[:, 0]])
    _, _, _, y_val = train_val_split(X, y, val_fraction=0.9, seed=0)
    assert np.bincount(y_val).tolist() == [90, 9, 1]  # the 2-sample class keeps one to train


def test_unstratified_and_float_targets():
    X, _ = make_xy(50)
    y_float = np.linspace(0, 1, 50)
    X_train, X_val, y_train, y_val = train_val_split(X, y_float, val_fraction=0.25, seed=0)
    assert len(X_val) == 12 and len(X_train) == 38
    np.testing.assert_array_equal(y_val, y_float[X_val[:, 0].astype(int)])
    labels = np.array([0] * 45 + [1] * 5)
    _, _, _, y_val = train_val_split(X, labels, val_fraction=0.5, stratify=False, seed=3)
    assert len(y_val) == 25
    X_train, X_val, y_train, y_val = train_val_split(X, None, val_fraction=0.1, seed=0)
    assert (len(X_train), len(X_val), y_train, y_val) == (45, 5, None, None)


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, 1.5, -0.1])
def test_split_fraction_out_of_range(bad):
    message = f"val_fraction must be strictly between 0 and 1, got {bad}"
    with pytest.raises(ValueError, match=message):
        train_val_split(np.zeros((10, 2)), np.zeros(10, int), val_fraction=bad)


def test_split_errors():
    with pytest.raises(TypeError, match="val_fraction must be a number, got str"):
        train_val_split(np.zeros((10, 2)), np.zeros(10, int), val_fraction="0.2")
    with pytest.raises(ValueError, match="X has 10 samples, y has 11"):
        train_val_split(np.zeros((10, 2)), np.zeros(11, int))
    with pytest.raises(ValueError, match="at least 2 samples, X has 1"):
        train_val_split(np.zeros((1, 2)), np.zeros(1, int))
    with pytest.raises(ValueError, match="X is empty"):
        train_val_split(np.zeros((0, 2)), np.zeros(0, int))
