"""The engine's graph handling: accumulation, reuse, deep chains, no_grad, retain_graph."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_mlp as tg


def leaf(values, dtype="float64"):
    return tg.Tensor(np.asarray(values, dtype=float), dtype=dtype, requires_grad=True)


def test_tensor_used_twice_accumulates():
    a = leaf([1.0, 2.0])
    (a + a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])


def test_a_times_a():
    a = leaf([3.0, -1.0])
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, -2.0])


def test_diamond_graph():
    # d = (a*2) * (a+1): dd/da = 2(a+1) + 2a = 4a + 2
    a = leaf([0.5, 1.5, -2.0])
    b = a * 2.0
    c = a + 1.0
    (b * c).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 4 * a.numpy() + 2, rtol=1e-15)


def test_shared_intermediate_used_by_many():
    a = leaf([1.0, 2.0])
    h = a.exp()
    (h + h * h + h.sum()).sum().backward()
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(a.grad.numpy(), e * (1 + 2 * e + 2), rtol=1e-14)


def test_chains_skip_the_general_topological_sort_and_graphs_do_not():
    from tinygrad_mlp.autograd import _chain, _toposort_graph

    x = leaf([0.5, -1.0])
    a = x * 2.0
    b = a.exp()
    chain = b.sum()
    assert _chain(chain) == [chain, b, a] == _toposort_graph(chain)
    for graph in ((a * a).sum(), (a * b).sum(), (b + a).sum()):  # a reached twice
        assert _chain(graph) is None
        order = _toposort_graph(graph)
        assert order[0] is graph and order[-1] is a  # every user before what it uses
    graph.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * x.numpy()) + 2)


def test_gradients_accumulate_across_backward_calls():
    a = leaf([1.0, 2.0])
    (a * 3.0).sum().backward()
    first = a.grad.data
    (a * 3.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0])
    np.testing.assert_array_equal(first, [3.0, 3.0])  # out of place: the old array is untouched


def test_deep_chain_of_100000_ops_is_iterative():
    a = leaf([1.0])
    x = a
    for _ in range(100_000):
        x = x + 1.0
    x.sum().backward()
    assert a.grad.numpy().tolist() == [1.0]


def test_deep_chain_with_multiply():
    a = leaf([1.0])
    x = a
    for _ in range(2_000):
        x = x * 1.0001
    x.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0001**2000], rtol=1e-12)


def test_no_grad_records_nothing():
    a = leaf([1.0, 2.0])
    with tg.no_grad():
        b = (a * 2.0).exp()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not b.requires_grad and b.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        b.sum().backward()


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            raise ZeroDivisionError
    assert tg.is_grad_enabled()


def test_second_backward_without_retain_graph_raises():
    a = leaf([1.0, 2.0])
    loss = (a * a).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    a = leaf([1.0, 2.0])
    loss = (a * a).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 8.0])


def test_graph_and_saved_arrays_are_released_after_backward():
    a = leaf(np.ones(1000))
    h = a.exp()
    ref = weakref.ref(h)
    loss = (h * 2.0).sum()
    del h
    gc.collect()
    assert ref() is not None  # still held by the graph
    loss.backward()
    gc.collect()
    assert ref() is None  # released by backward
    assert loss._ctx.saved is None


def test_backward_on_non_scalar_without_grad_raises():
    a = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*grad="):
        (a * 2.0).backward()


def test_backward_with_a_gradient_of_the_wrong_shape_names_both_shapes():
    a = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (a * 2.0).backward(np.ones(3))


def test_backward_with_an_explicit_gradient():
    a = leaf([1.0, 2.0])
    (a * 2.0).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, -2.0])


def test_only_inputs_that_need_grad_get_one():
    x = tg.Tensor(np.ones((4, 3)))  # a data batch: no gradient wanted
    w = leaf(np.ones((3, 2)))
    (x @ w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_leaf_gradients_never_share_memory():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    c = leaf(np.ones((2, 3)))
    c.reshape(3, 2).T.sum().backward()
    assert c.grad.data.base is None


def test_float32_and_float64_promote_to_float64_and_grads_keep_their_dtype():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)  # float32
    b = tg.Tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    out = a * b
    assert str(out.dtype) == "float64"
    out.sum().backward()
    assert str(a.grad.dtype) == "float32" and str(b.grad.dtype) == "float64"


def test_python_scalars_keep_the_tensor_dtype():
    a = tg.Tensor([1.0, 2.0])
    assert str((a * 2.5 + 1).dtype) == "float32"
    assert str((1 - a).dtype) == "float32"


def test_numpy_array_on_the_left_dispatches_to_tensor():
    a = leaf([1.0, 2.0])
    out = np.array([2.0, 3.0]) * a
    assert isinstance(out, tg.Tensor)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 3.0])


def test_zero_grad_clears():
    a = leaf([1.0])
    (a * 2.0).sum().backward()
    a.zero_grad()
    assert a.grad is None
