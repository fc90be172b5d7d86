"""``MLPStack`` (tinygrad_mlp/fused.py): a stack of dense layers as one op, and nn.MLP's use of it.

The op's gradients are checked like every other op's (hand-derived formula, finite differences,
float32, inputs and upstream gradient unchanged, every backend). The formula below is written
independently of the op: it takes activation derivatives from the pre-activations, where the op
takes them from the layer outputs. nn.MLP must give the same numbers fused as unfused.
"""

import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st

import tinygrad_mlp as tg
from tinygrad_mlp import functional as F
from tinygrad_mlp import nn
from tinygrad_mlp.backend import is_floating, to_numpy
from tinygrad_mlp.fused import MLPStack, mlp_stack
from tinygrad_mlp.testing import arrays, check_gradients

ACTS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
}


def pre_activations(x, params, activation, masks=()):
    """[z_1, ..., z_k] of the stack (NumPy, float64); ``masks``: dropout masks of the hidden
    layers (none by default)."""
    act = ACTS[activation][0]
    zs, h = [], x
    for i in range(0, len(params), 2):
        zs.append(h @ params[i].T + params[i + 1])
        h = act(zs[-1])
        if i // 2 < len(masks):
            h = h * masks[i // 2]
    return zs


KEEP_SCALE = 1.25  # dropout p = 0.2: kept values are scaled by 1 / (1 - p)


@st.composite
def stack_case(draw, activation, dropout=False):
    """``(x, W1, b1, ..., Wk, bk)``, then with ``dropout`` one integer 0/1 keep array per hidden
    layer (integer arrays are not differentiated; the op turns them into masks)."""
    widths = draw(st.lists(st.integers(1, 4), min_size=3, max_size=4))
    batch = draw(st.integers(1, 4))
    x = draw(arrays((batch, widths[0])))
    params = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=False):
        params += [draw(arrays((n_out, n_in))), draw(arrays((n_out,)))]
    keeps = []
    if dropout:
        for width in widths[1:-1]:
            keeps.append(
                draw(st.lists(st.integers(0, 1), min_size=batch * width, max_size=batch * width))
            )
        keeps = [np.array(k, dtype=np.int64).reshape(batch, -1) for k in keeps]
    if activation == "relu":  # keep hidden pre-activations off ReLU's kink
        masks = [k * KEEP_SCALE for k in keeps]
        for z in pre_activations(x, params, activation, masks)[:-1]:
            assume(not np.any(np.abs(z) < 1e-3))
    return (x, *params, *keeps)


def stack_formula(activation):
    derivative = ACTS[activation][1]

    def formula(x, *rest):
        *rest, g = rest
        params = [a for a in rest if a.dtype.kind == "f"]
        masks = [a * KEEP_SCALE for a in rest if a.dtype.kind != "f"]
        masks = masks or [np.ones(1)] * (len(params) // 2 - 1)
        zs = pre_activations(x, params, activation, masks)
        act = ACTS[activation][0]
        inputs = [x] + [act(z) * m for z, m in zip(zs[:-1], masks, strict=True)]
        grads = [None] * (1 + len(rest))
        dz = g
        for i in range(len(zs) - 1, -1, -1):
            grads[2 * i + 1] = dz.T @ inputs[i]
            grads[2 * i + 2] = dz.sum(axis=0)
            dx = dz @ params[2 * i]
            dz = dx * masks[i - 1] * derivative(zs[i - 1]) if i > 0 else dx
        grads[0] = dz
        return tuple(grads)

    return formula


def masked_stack(activation):
    """The op under test with dropout: keep arrays (integer Tensors) become masks of x's dtype."""

    def op(x, *rest):
        params = [t for t in rest if is_floating(t.dtype)]
        masks = [
            x.xp.astype(t.data, x.dtype) * KEEP_SCALE for t in rest if not is_floating(t.dtype)
        ]
        return mlp_stack(x, params, activation, masks)

    return op


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_stack_gradients(device, activation):
    check_gradients(
        lambda x, *params: mlp_stack(x, list(params), activation),
        stack_case(activation),
        device=device,
        formula=stack_formula(activation),
    )


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_stack_gradients_with_dropout_masks(device, activation):
    check_gradients(
        masked_stack(activation),
        stack_case(activation, dropout=True),
        device=device,
        formula=stack_formula(activation),
    )


def test_mlp_stack_without_input_gradient(device):
    def formula(x, *rest):
        return (None,) + stack_formula("tanh")(x, *rest)[1:]

    check_gradients(
        lambda x, *params: mlp_stack(x, list(params), "tanh"),
        stack_case("tanh"),
        device=device,
        formula=formula,
        wrt=range(1, 7),
    )


def test_mlp_stack_names_the_layer_whose_shapes_do_not_chain():
    x = tg.zeros(2, 3)
    w1, b1, w2, b2 = tg.zeros(4, 3), tg.zeros(4), tg.zeros(5, 3), tg.zeros(5)
    with pytest.raises(ValueError, match=r"layer 2 weight of shape \(5, 3\) does not take 4"):
        mlp_stack(x, [w1, b1, w2, b2])
    with pytest.raises(ValueError, match=r"layer 1 bias of shape \(3,\) does not match"):
        mlp_stack(x, [w1, tg.zeros(3), w2, b2])
    with pytest.raises(ValueError, match=r"input must have shape \(N, features\)"):
        mlp_stack(tg.zeros(3), [w1, b1])
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_stack(x, [w1, b1], activation="gelu")


# ---------------------------------------------------------------- nn.MLP: fused equals unfused
def op_names(out):
    names, node = [], out
    while node._ctx is not None:
        names.append(type(node._ctx).__name__)
        node = node._ctx.inputs[0]
    return names[::-1]


def unfused_copy(model):
    """The same network as an nn.Sequential of the MLP's layers (which never fuses a stack)."""
    return nn.Sequential(*model.layers)


def forward_backward(model, x, y):
    for p in model.parameters():
        p.grad = None
    out = model(x)
    F.cross_entropy(out, y).backward()
    return out.numpy(), [p.grad.numpy() for p in model.parameters()]


CONFIGS = [
    dict(sizes=[7, 6, 5, 3], activation="relu"),
    dict(sizes=[7, 6, 3], activation="tanh", output_activation="log_softmax"),
    dict(sizes=[7, 6, 5, 4, 3], activation="sigmoid", output_activation="sigmoid"),
    dict(sizes=[7, 6, 5, 3], activation="relu", output_activation="relu"),
    dict(sizes=[7, 6, 5, 3], activation="relu", dropout=0.5),  # eval mode: no masks
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_fused_forward_and_gradients_equal_the_per_layer_ops(config, dtype):
    model = nn.MLP(**config, seed=1, dtype=dtype)
    model.eval()
    x = tg.randn(9, 7, seed=2, dtype=dtype)
    y = tg.Tensor(np.random.default_rng(3).integers(0, 3, 9))
    assert op_names(model(x))[0] == "MLPStack"
    assert "MLPStack" not in op_names(unfused_copy(model)(x))
    out, grads = forward_backward(model, x, y)
    out_ref, grads_ref = forward_backward(unfused_copy(model), x, y)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, out_ref, rtol=rtol, atol=rtol)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=rtol)


def test_mlp_graph_is_one_stack_op_then_the_output_activation():
    model = nn.MLP([5, 4, 3, 2], seed=0, output_activation="softmax")
    assert op_names(model(tg.randn(6, 5))) == ["MLPStack", "Softmax"]


def test_mlp_with_dropout_is_one_op_but_runs_layer_by_layer_under_detect_anomaly():
    x = tg.randn(6, 5)
    model = nn.MLP([5, 4, 3, 2], seed=0, dropout=0.5)
    assert op_names(model(x)) == ["MLPStack"]  # training: the masks go into the stack
    model.eval()
    assert op_names(model(x)) == ["MLPStack"]
    model.train()
    with tg.detect_anomaly():  # an anomaly then names the layer's own op
        assert op_names(model(x)) == ["LinearReLU", "Mul", "LinearReLU", "Mul", "Linear"]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_with_active_dropout_equals_the_per_layer_ops_step_after_step(
    activation, dtype, device
):
    """Twin models (same seed, so the same weights and dropout streams): the fused one must draw
    the same masks in the same order as the layers one by one, and give the same numbers; on
    every backend (on a GPU the masks come from CuPy's generator)."""
    config = dict(sizes=[7, 12, 10, 8, 3], activation=activation, dropout=0.4, seed=5, dtype=dtype)
    fused, twin = nn.MLP(**config, device=device), nn.MLP(**config, device=device)
    per_layer = unfused_copy(twin)
    y = tg.Tensor(np.random.default_rng(3).integers(0, 3, 9), device=device)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for step in range(3):  # the generators advance alike
        x = tg.randn(9, 7, seed=step, dtype=dtype, device=device)
        assert op_names(fused(x)) == ["MLPStack"]
        assert "MLPStack" not in op_names(per_layer(x))  # (both draw one set of masks here)
        out, grads = forward_backward(fused, x, y)
        out_ref, grads_ref = forward_backward(per_layer, x, y)
        np.testing.assert_allclose(out, out_ref, rtol=rtol, atol=rtol)
        for g, g_ref in zip(grads, grads_ref, strict=True):
            np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=rtol)
    masks_drawn = [fused.layers[i].mask((2, 2), dtype, device) for i in (2, 5, 8)]
    masks_ref = [twin.layers[i].mask((2, 2), dtype, device) for i in (2, 5, 8)]
    for m, m_ref in zip(masks_drawn, masks_ref, strict=True):
        np.testing.assert_array_equal(to_numpy(m), to_numpy(m_ref))


def test_mlp_stack_names_the_hidden_layer_whose_mask_does_not_fit():
    x = tg.zeros(2, 3)
    params = [tg.zeros(4, 3), tg.zeros(4), tg.zeros(5, 4), tg.zeros(5), tg.zeros(1, 5), tg.zeros(1)]
    ok = np.ones((2, 4), dtype=np.float32)
    assert mlp_stack(x, params, masks=[ok, None]).shape == (2, 1)
    with pytest.raises(
        ValueError, match=r"hidden layer 2 has shape \(2, 4\).*expected shape \(2, 5\)"
    ):
        mlp_stack(x, params, masks=[ok, ok])
    with pytest.raises(ValueError, match=r"hidden layer 1 .* dtype float64, expected .* float32"):
        mlp_stack(x, params, masks=[ok.astype(np.float64), None])
    with pytest.raises(ValueError, match="one entry .* per hidden layer, 2 here, got 1"):
        mlp_stack(x, params, masks=[ok])
    with pytest.raises(ValueError, match="hidden layer 1 is a list, not an array"):
        mlp_stack(x, params, masks=[ok.tolist(), None])
    with pytest.raises(ValueError, match="must be a list .* got a ndarray"):
        mlp_stack(x, params, masks=ok)
    strict = tg.Tensor(ok, device="array_api_strict")
    with pytest.raises(ValueError, match="layer 1 is on device 'array_api_strict', the input on"):
        mlp_stack(x, params, masks=[strict, None])


def test_mlp_follows_each_dropout_layers_own_train_eval_mode():
    """A Dropout switched off by itself stays off inside the fused stack (and on when it alone
    is in training mode), exactly as layer by layer."""
    x, y = tg.randn(6, 5, seed=1, dtype="float64"), tg.Tensor([0, 1, 0, 1, 1, 0])
    for model_training, dropout_training in [(True, False), (False, True)]:
        model = nn.MLP([5, 8, 8, 2], seed=0, dropout=0.5, dtype="float64")
        twin = nn.MLP([5, 8, 8, 2], seed=0, dropout=0.5, dtype="float64")
        for m in (model, twin):
            m.train(model_training)
            m.layers[2].train(dropout_training)
        assert op_names(model(x)) == ["MLPStack"]
        assert "MLPStack" not in op_names(unfused_copy(twin)(x))  # both models drew masks once
        out, grads = forward_backward(model, x, y)
        out_ref, grads_ref = forward_backward(unfused_copy(twin), x, y)
        np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
        for g, g_ref in zip(grads, grads_ref, strict=True):
            np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-12)


def test_mlp_with_edited_layers_fuses_only_the_plain_stack():
    model = nn.MLP([7, 6, 5, 4, 3], seed=0, dtype="float64")
    model.layers[3] = nn.Tanh()  # relu, tanh, relu: the stack ends at the second Linear
    x, y = tg.randn(8, 7, dtype="float64"), tg.Tensor([0, 1, 2, 0, 1, 2, 0, 1])
    names = op_names(model(x))
    assert names[0] == "MLPStack" and names.count("MLPStack") == 1 and "Tanh" in names
    out, grads = forward_backward(model, x, y)
    out_ref, grads_ref = forward_backward(unfused_copy(model), x, y)
    np.testing.assert_allclose(out, out_ref, rtol=1e-6)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-7)


def test_mlp_with_a_float64_input_and_float32_weights_promotes_layer_by_layer():
    model = nn.MLP([5, 4, 3], seed=0)
    out = model(tg.randn(2, 5, dtype="float64"))
    assert "MLPStack" not in op_names(out) and out.dtype == np.float64


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_mlp_with_a_wrong_weight_shape_names_the_layer(dropout):
    model = nn.MLP([5, 4, 3, 2], seed=0, dropout=dropout)
    model.linears[1].weight = nn.Parameter(np.zeros((3, 6), dtype=np.float32))
    with pytest.raises(ValueError, match=r"layer 2 weight of shape \(3, 6\) does not take 4"):
        model(tg.randn(2, 5))
    if dropout:  # no dropout generator moved: the next masks are the first ones of the seed
        fresh = nn.MLP([5, 4, 3, 2], seed=0, dropout=dropout)
        for i in (2, 5):
            mask, first = (m.layers[i].mask((2, 4), "float32", "cpu") for m in (model, fresh))
            np.testing.assert_array_equal(mask, first)


def test_stack_saved_arrays_are_released_after_backward():
    x = tg.randn(3, 4, requires_grad=True)
    shapes = [(5, 4), (5,), (2, 5), (2,)]
    params = [tg.randn(*s, seed=i, requires_grad=True) for i, s in enumerate(shapes)]
    out = mlp_stack(x, params, "relu")
    ctx = out._ctx
    assert isinstance(ctx, MLPStack)
    out.sum().backward()
    assert ctx.saved is None and ctx.inputs is None


# ---------------------------------------------------------------- stack boundaries (from review)
def assert_fused_equals_unfused(model, x, y, rtol=1e-6):
    out, grads = forward_backward(model, x, y)
    out_ref, grads_ref = forward_backward(unfused_copy(model), x, y)
    np.testing.assert_allclose(out, out_ref, rtol=rtol, atol=rtol)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("training, p", [(False, 0.5), (True, 0.0)])
def test_an_output_activation_followed_by_inactive_dropout_is_kept(training, p):
    model = nn.MLP([3, 4, 2], output_activation="relu", seed=0, dtype="float64")
    model.layers.append(nn.Dropout(p))
    model.train(training)
    x, y = tg.randn(5, 3, seed=1, dtype="float64"), tg.Tensor([0, 1, 0, 1, 1])
    assert op_names(model(x)) == ["MLPStack", "ReLU"]
    assert model(x).numpy().min() >= 0.0
    assert_fused_equals_unfused(model, x, y, rtol=1e-12)


def test_a_later_layer_of_another_dtype_ends_the_stack_without_losing_its_activation():
    model = nn.MLP([6, 5, 4, 3], seed=0)
    last = model.linears[2]
    last.weight = nn.Parameter(last.weight.numpy().astype("float64"))
    last.bias = nn.Parameter(last.bias.numpy().astype("float64"))
    x, y = tg.randn(4, 6, seed=1), tg.Tensor([0, 1, 2, 0])
    names = op_names(model(x))
    assert names == ["MLPStack", "ReLU", "Linear"]
    assert_fused_equals_unfused(model, x, y, rtol=1e-6)


def test_mlp_takes_a_plain_array_as_before():
    model = nn.MLP([3, 4, 2], seed=0)
    out = model(np.ones((2, 3), dtype=np.float32))
    expected = model(tg.Tensor(np.ones((2, 3)), dtype="float32")).numpy()
    np.testing.assert_allclose(out.numpy(), expected)


def test_log_softmax_of_integer_logits_is_float():
    out = tg.Tensor([[1, 2, 3]]).log_softmax()
    np.testing.assert_allclose(out.numpy(), [[-2.40760596, -1.40760596, -0.40760596]], rtol=1e-6)
