"""The Tensor API: construction, dtypes, devices, conversions and the errors of misuse."""

import numpy as np
import pytest

import tinygrad_mlp as tg
from tinygrad_mlp import backend


def test_default_dtype_is_float32_and_arrays_keep_theirs():
    assert str(tg.Tensor(np.ones(2)).dtype) == "float64"
    assert str(tg.Tensor(np.ones(2, dtype=np.float32)).dtype) == "float32"
    assert str(tg.Tensor(np.ones(2, dtype=np.float16)).dtype) == "float32"
    assert str(tg.Tensor(tg.Tensor(np.ones(2))).dtype) == "float64"
    assert str(tg.zeros(2, dtype="float64").dtype) == "float64"
    assert str(tg.ones(2, dtype="float64").dtype) == "float64"
    assert str(tg.randn(2, dtype="float64").dtype) == "float64"
    assert str(tg.Tensor([1.0, 2.0]).dtype) == "float32"
    assert str(tg.Tensor(2.5).dtype) == "float32"
    assert str(tg.tensor([[1, 2.5]]).dtype) == "float32"
    assert str(tg.zeros(2, 3).dtype) == "float32"


@pytest.mark.parametrize("dtype", ["float64", np.float64, np.dtype("float64")])
def test_float64_on_request(dtype):
    t = tg.Tensor([1.0], dtype=dtype)
    assert str(t.dtype) == "float64"


def test_integer_data_is_kept_for_labels():
    t = tg.Tensor(np.array([0, 2, 1]))
    assert str(t.dtype) == "int64"
    assert str(tg.Tensor([1, 2, 3]).dtype) == "int64"


def test_integer_and_bool_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="int64"):
        tg.Tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(TypeError, match="bool"):
        tg.Tensor(np.array([True]), requires_grad=True)


def test_attributes_and_conversions():
    t = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.device == "cpu" and t.requires_grad and t.grad is None
    arr = t.numpy()
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
    assert tg.Tensor([[4.5]]).item() == 4.5
    with pytest.raises(ValueError, match=r"one element.*\(2, 3\)"):
        t.item()
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert "requires_grad=True" in repr(t)


def test_detach_shares_data_and_cuts_the_graph():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = (a * 2.0).detach()
    assert not b.requires_grad and b.is_leaf
    assert np.array_equal(b.numpy(), [2.0, 4.0])


def test_to_same_device_is_identity_and_strict_round_trip():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    assert a.to("cpu") is a
    s = a.to("array_api_strict")
    assert s.device == "array_api_strict" and s.requires_grad and s.is_leaf
    back = s.to("cpu")
    assert back.device == "cpu" and np.array_equal(back.numpy(), a.numpy())


def test_randn_is_seedable_and_device_independent():
    a = tg.randn(3, 4, seed=7)
    b = tg.randn((3, 4), seed=7)
    c = tg.randn(3, 4, seed=7, device="array_api_strict")
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    assert not np.array_equal(a.numpy(), tg.randn(3, 4, seed=8).numpy())


def test_zeros_ones():
    assert np.array_equal(tg.ones(2, dtype="float64").numpy(), [1.0, 1.0])
    z = tg.zeros((2, 2), requires_grad=True)
    assert z.requires_grad and z.numpy().sum() == 0


def test_unknown_device_is_named():
    with pytest.raises(backend.DeviceError, match="'tpu'"):
        tg.Tensor([1.0], device="tpu")


@pytest.mark.skipif(backend.is_available("cuda"), reason="a GPU is present")
def test_cuda_without_cupy_or_gpu_says_what_to_install():
    with pytest.raises(backend.DeviceError, match=r"pip install|no CUDA GPU"):
        tg.Tensor([1.0], device="cuda")
    with pytest.raises(backend.DeviceError, match=r"pip install|no CUDA GPU"):
        tg.Tensor([1.0]).to("cuda")


def test_mixing_devices_names_both():
    a = tg.Tensor([1.0])
    b = tg.Tensor([1.0], device="array_api_strict")
    with pytest.raises(backend.DeviceError, match=r"'cpu'.*'array_api_strict'"):
        a + b


def test_pow_needs_a_number_exponent():
    a = tg.Tensor([1.0])
    with pytest.raises(TypeError, match="exponent"):
        a ** tg.Tensor([2.0])


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        tg.Tensor(np.ones((2, 3))) @ tg.Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(3,\) @ \(2,\)"):
        tg.Tensor(np.ones(3)) @ tg.Tensor(np.ones(2))


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        tg.Tensor(np.ones((2, 3))) + tg.Tensor(np.ones(4))


def test_reshape_and_axis_errors():
    t = tg.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        t.sum(axis=2)
    with pytest.raises(ValueError, match="not a permutation"):
        t.transpose(0, 0)


def test_argmax():
    t = tg.Tensor([[1.0, 3.0, 2.0], [5.0, 0.0, 1.0]])
    assert t.argmax(axis=1).tolist() == [1, 0]


def test_numpy_subclasses_such_as_memmap_are_cpu_arrays(tmp_path):
    mm = np.memmap(tmp_path / "a.dat", dtype=np.float32, mode="w+", shape=(2, 3))
    mm[:] = 1.0
    t = tg.Tensor(mm)
    assert t.device == "cpu" and backend.device_of(mm) == "cpu"
    assert (t * 2.0).numpy().sum() == 12.0


def test_a_tensor_that_requires_grad_holds_its_own_64_byte_aligned_copy():
    from tinygrad_mlp import cpu

    for data in (np.zeros(17)[1:], cpu.aligned(np.arange(6.0).reshape(2, 3), copy=True)):
        t = tg.Tensor(data, requires_grad=True, dtype="float64")
        assert t.data.ctypes.data % cpu.ALIGNMENT == 0
        assert not np.shares_memory(t.data, data)  # even when the caller's array was aligned
        np.testing.assert_array_equal(t.data, data)
    plain = tg.Tensor(np.arange(4.0))  # no grad: NumPy's own placement, still a copy
    assert plain.data.base is None


def test_zeros_ones_and_moves_of_tensors_that_require_grad_are_aligned(monkeypatch):
    from tinygrad_mlp import cpu

    made = [tg.zeros(3, 5, requires_grad=True) for _ in range(10)]
    made += [tg.ones(7, requires_grad=True, dtype="float64") for _ in range(10)]

    def misaligned_move(array, device):  # a move that lands 8 bytes past the boundary
        out = np.empty(array.size + 1, dtype=array.dtype)[1:].reshape(array.shape)
        out[...] = backend.to_numpy(array)
        return out

    monkeypatch.setattr(backend, "to_device", misaligned_move)
    moved = [t.to("array_api_strict") for t in made[:5]]
    assert all(t.data.ctypes.data % cpu.ALIGNMENT == 0 for t in made + moved)
    assert all(t.requires_grad and t.is_leaf for t in made + moved)
    plain = tg.Tensor(np.ones(4)).to("array_api_strict")  # no grad: the move as it lands
    assert plain.data.ctypes.data % cpu.ALIGNMENT != 0
