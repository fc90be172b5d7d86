"""tinygrad_mlp/backend.py: integer views, dtype resolution and reusable temporaries (the
namespaces and devices are tested through every op in test_ops.py, on every backend)."""

import numpy as np
import pytest

from tinygrad_mlp import backend


def test_unsigned_view_reads_negative_integers_as_large_ones_without_a_copy():
    a = np.array([-1, 0, 5], dtype=np.int8)
    u = backend.unsigned_view(a)
    assert u.dtype == np.uint8 and u.tolist() == [255, 0, 5] and np.shares_memory(u, a)
    b = np.array([3, 7], dtype=np.uint16)
    assert backend.unsigned_view(b).dtype == np.uint16
    assert backend.unsigned_view(np.zeros(2)) is None and backend.unsigned_view(a > 0) is None
    strict = backend.namespace_for("array_api_strict").asarray([1, 2])
    assert backend.unsigned_view(strict) is None
    assert backend.unsigned_view(np.array([-1], dtype=">i8")) is None  # byte-swapped: no view


@pytest.mark.parametrize("name", ["float32", "float64", "int8", "uint64", "bool"])
def test_resolve_dtype_takes_a_name_a_numpy_dtype_or_any_backend_s_dtype(name, device):
    xp = backend.namespace_for(device)
    want = getattr(xp, name)
    for form in (name, np.dtype(name), getattr(np, name), backend.resolve_dtype(name, device)):
        assert backend.resolve_dtype(form, device) == want, form
    strict = getattr(backend.namespace_for("array_api_strict"), name)  # another backend's dtype
    assert backend.resolve_dtype(strict, device) == want
    with pytest.raises(TypeError, match="unsupported dtype 'complex64'"):
        backend.resolve_dtype("complex64", device)


# ---------------------------------------------------------------------- scratch (optimizers)
def test_scratch_offers_a_big_temporary_of_the_same_shape_and_dtype_only():
    n = backend._SCRATCH_MIN_SIZE
    tmp, like = np.ones(n, np.float32), np.zeros(n, np.float32)
    assert backend.scratch(tmp, like)["out"] is tmp
    assert np.sqrt(like, **backend.scratch(tmp, like)) is tmp
    assert backend.scratch(np.ones(n - 1, np.float32), np.zeros(n - 1, np.float32)) == {}
    assert backend.scratch(np.ones(n), like) == {}  # float64 temporary, float32 results
    assert backend.scratch(tmp, np.zeros((1, n), np.float32)) == {}  # another shape
    strict = backend.namespace_for("array_api_strict")
    big = strict.ones(n, dtype=strict.float32)
    assert backend.scratch(big, big) == {}  # no out= in the array API


def test_scratch_refuses_a_column_major_temporary():
    n = backend._SCRATCH_MIN_SIZE
    like = np.zeros((n // 64, 64), np.float32)
    assert backend.scratch(np.asfortranarray(np.ones_like(like)), like) == {}
