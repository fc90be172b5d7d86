"""Every built-in differentiable op: one short class each, forward and backward side by side.

Conventions (see ``function.Function``): arrays come from and go to ``self.xp`` (never ``numpy``);
``backward`` returns one gradient per input, ``None`` where ``needs_input_grad`` is False, and may
return the broadcast (output) shape: the engine reduces it (``autograd.reduce_grad``).
"""

from __future__ import annotations

from typing import Any

from . import backend
from .function import Function

# ================================================================== binary (broadcasting)


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        ga = g * b if self.needs_input_grad[0] else None
        gb = g * a if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        ga = g / b
        # d(a/b)/db = -a / b^2
        gb = -ga * a / b if self.needs_input_grad[1] else None
        return (ga if self.needs_input_grad[0] else None), gb


# ================================================================== unary elementwise


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """``a ** p`` for a Python-number exponent ``p``."""

    def forward(self, a, exponent: float):
        self.save_for_backward(a)
        self.exponent = exponent
        return a**exponent

    def backward(self, g):
        (a,) = self.saved
        p = self.exponent
        if p == 0:  # x ** 0 is constant (also at x = 0, where p * x ** -1 would be NaN)
            return self.xp.zeros_like(g)
        return g * (p * a ** (p - 1)) if p != 1 else g


class Abs(Function):
    """|a|. Convention: the gradient at exactly 0 is 0."""

    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.abs(a)

    def backward(self, g):
        (a,) = self.saved
        return g * self.xp.sign(a)


class Exp(Function):
    def forward(self, a):
        out = self.xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * out


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.log(a)

    def backward(self, g):
        (a,) = self.saved
        return g / a


class Tanh(Function):
    def forward(self, a):
        out = self.xp.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * (1.0 - out * out)


def stable_sigmoid(xp: Any, a: Any) -> Any:
    """1 / (1 + e^-a) without overflow: e^-|a| never overflows (it may underflow to 0)."""
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Sigmoid(Function):
    def forward(self, a):
        out = stable_sigmoid(self.xp, a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (s,) = self.saved
        return g * ((1.0 - s) * s)  # sigma' = sigma (1 - sigma), rounded as fused.MLPStack does


class ReLU(Function):
    """max(a, 0). Convention: the gradient at exactly 0 is 0 (as in PyTorch)."""

    def forward(self, a):
        out = self.xp.maximum(a, 0.0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        return g * self.xp.astype(out > 0, g.dtype)  # 10x faster than where(out > 0, g, 0)


# ================================================================== softmax family


class Softmax(Function):
    def forward(self, a, axis: int = -1):
        xp = self.xp
        e = xp.exp(a - xp.max(a, axis=axis, keepdims=True))
        out = e / xp.sum(e, axis=axis, keepdims=True)
        self.axis = axis
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (s,) = self.saved
        # J^T g for J = diag(s) - s s^T along the axis: s * (g - sum(g * s))
        return s * (g - self.xp.sum(g * s, axis=self.axis, keepdims=True))


def log_softmax_array(xp: Any, a: Any, axis: int) -> Any:
    """a - logsumexp(a) computed with the max subtracted first (finite for logits of +-1e4)."""
    shifted = a - xp.max(a, axis=axis, keepdims=True)
    log_total = xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    if backend.is_floating(shifted.dtype):
        shifted -= log_total  # in place: our own temporary
        return shifted
    return shifted - log_total  # integer logits: the result is float


class LogSoftmax(Function):
    def forward(self, a, axis: int = -1):
        out = log_softmax_array(self.xp, a, axis)
        self.axis = axis
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        xp = self.xp
        return g - xp.exp(out) * xp.sum(g, axis=self.axis, keepdims=True)


# ================================================================== reductions


def _expand(xp: Any, g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Broadcast a reduced gradient back over the reduced axes of ``shape``."""
    if axis is not None and not keepdims:
        kept = list(shape)
        for a in axis:
            kept[a] = 1
        g = xp.reshape(g, tuple(kept))
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, a, axis=None, keepdims: bool = False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return self.xp.sum(a, axis=axis, keepdims=keepdims)

    def backward(self, g):
        return _expand(self.xp, g, self.shape, self.axis, self.keepdims)


class Mean(Function):
    def forward(self, a, axis=None, keepdims: bool = False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        dims = range(a.ndim) if axis is None else axis
        self.count = 1
        for d in dims:
            self.count *= a.shape[d]
        if self.count == 0 and 0 not in _reduced_shape(a.shape, axis):  # 0/0, not NaN
            raise ValueError(f"the mean over axis {axis} of an empty tensor is undefined")
        if not backend.is_floating(a.dtype):  # integers and bools: a float64 mean, as NumPy's
            a = self.xp.astype(a, self.xp.float64)
        return self.xp.sum(a, axis=axis, keepdims=keepdims) / self.count  # np.mean, minus 4 us

    def backward(self, g):
        return _expand(self.xp, g / self.count, self.shape, self.axis, self.keepdims)


class Max(Function):
    """Maximum over axes. Ties share the gradient equally (the mean of the subgradients)."""

    def forward(self, a, axis=None, keepdims: bool = False):
        xp = self.xp
        top = xp.max(a, axis=axis, keepdims=True)
        mask = xp.astype(a == top, a.dtype)
        self.save_for_backward(mask / xp.sum(mask, axis=axis, keepdims=True))
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return top if keepdims else xp.reshape(top, _reduced_shape(a.shape, axis))

    def backward(self, g):
        (share,) = self.saved
        return share * _expand(self.xp, g, self.shape, self.axis, self.keepdims)


def _reduced_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    if axis is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axis)


# ================================================================== shape


class Reshape(Function):
    def forward(self, a, shape: tuple[int, ...]):
        self.shape = a.shape
        try:
            return self.xp.reshape(a, shape)
        except ValueError as exc:
            raise ValueError(
                f"cannot reshape a tensor of shape {tuple(a.shape)} into {shape}"
            ) from exc

    def backward(self, g):
        return self.xp.reshape(g, self.shape)


class Transpose(Function):
    def forward(self, a, axes=None):
        axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(axes)
        if sorted(a_ % max(a.ndim, 1) for a_ in axes) != list(range(a.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of a {a.ndim}-d tensor's axes")
        self.axes = tuple(a_ % a.ndim for a_ in axes)
        return self.xp.permute_dims(a, self.axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return self.xp.permute_dims(g, tuple(inverse))


# ================================================================== matrix products


def _mT(xp: Any, a: Any) -> Any:
    return a.T if a.ndim == 2 else xp.matrix_transpose(a)


def check_matmul_shapes(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    """Raise ValueError naming both shapes when ``a @ b`` is undefined."""
    if not a_shape or not b_shape:
        raise ValueError(f"matmul needs at least 1-D operands, got {a_shape} @ {b_shape}")
    k_a = a_shape[-1]
    k_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul shape mismatch: {a_shape} @ {b_shape} (inner sizes {k_a} and {k_b} differ)"
        )


class MatMul(Function):
    """``a @ b`` for 1-D, 2-D and batched (broadcast) operands, as ``numpy.matmul``."""

    def forward(self, a, b):
        check_matmul_shapes(tuple(a.shape), tuple(b.shape))
        self.save_for_backward(a, b)
        return self.xp.matmul(a, b)

    def backward(self, g):
        a, b = self.saved
        xp, (need_a, need_b) = self.xp, self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # dot product: g is a scalar
            return (g * b if need_a else None), (g * a if need_b else None)
        if a.ndim == 1:  # (k) @ (..., k, m): treat a as a (1, k) row
            g2 = xp.expand_dims(g, axis=-2)
            ga = xp.matmul(g2, _mT(xp, b)) if need_a else None
            gb = xp.matmul(xp.reshape(a, (-1, 1)), g2) if need_b else None
            return ga, gb
        if b.ndim == 1:  # (..., n, k) @ (k): treat b as a (k, 1) column
            g2 = xp.expand_dims(g, axis=-1)
            ga = xp.matmul(g2, xp.reshape(b, (1, -1))) if need_a else None
            gb = xp.squeeze(xp.matmul(_mT(xp, a), g2), axis=-1) if need_b else None
            return ga, gb
        ga = xp.matmul(g, _mT(xp, b)) if need_a else None  # dA = G B^T
        gb = xp.matmul(_mT(xp, a), g) if need_b else None  # dB = A^T G
        return ga, gb


# ================================================================== losses


def _reduce_loss(xp: Any, values: Any, reduction: str, count: int) -> Any:
    if reduction == "none":
        return values
    total = xp.sum(values)
    return total / count if reduction == "mean" else total


def _loss_scale(reduction: str, count: int) -> float:
    return 1.0 / count if reduction == "mean" else 1.0


class MSELoss(Function):
    def forward(self, pred, target, reduction: str = "mean"):
        diff = pred - target
        self.save_for_backward(diff)
        self.reduction, self.count = reduction, diff.size
        return _reduce_loss(self.xp, diff * diff, reduction, diff.size)

    def backward(self, g):
        (diff,) = self.saved
        gp = (2.0 * _loss_scale(self.reduction, self.count)) * g * diff  # 2 (p - y) / n
        return gp, (-gp if self.needs_input_grad[1] else None)


class BCELoss(Function):
    """-(y log p + (1-y) log(1-p)); each log is clamped at -100 like PyTorch."""

    def forward(self, prob, target, reduction: str = "mean"):
        xp = self.xp
        # log clamped at -100 (PyTorch's rule); the floor inside avoids log(0) warnings
        log_p = xp.clip(xp.log(xp.maximum(prob, 1e-44)), -100.0, None)
        log_q = xp.clip(xp.log(xp.maximum(1.0 - prob, 1e-44)), -100.0, None)
        self.save_for_backward(prob, target, log_p, log_q)
        self.reduction, self.count = reduction, prob.size
        return _reduce_loss(xp, -(target * log_p + (1.0 - target) * log_q), reduction, prob.size)

    def backward(self, g):
        p, y, log_p, log_q = self.saved
        xp, scale = self.xp, _loss_scale(self.reduction, self.count)
        gp = None
        if self.needs_input_grad[0]:  # (p - y) / (p (1 - p)), denominator kept >= 1e-12
            gp = g * scale * (p - y) / xp.clip(p * (1.0 - p), 1e-12, None)
        gy = g * scale * (log_q - log_p) if self.needs_input_grad[1] else None
        return gp, gy


class BCEWithLogitsLoss(Function):
    """BCE of sigmoid(z), computed as max(z, 0) - z y + log(1 + e^-|z|) (never overflows)."""

    def forward(self, z, target, reduction: str = "mean"):
        xp = self.xp
        self.save_for_backward(z, target)
        self.reduction, self.count = reduction, z.size
        values = xp.maximum(z, 0.0) - z * target + xp.log1p(xp.exp(-xp.abs(z)))
        return _reduce_loss(xp, values, reduction, z.size)

    def backward(self, g):
        z, y = self.saved
        scale = g * _loss_scale(self.reduction, self.count)
        gz = scale * (stable_sigmoid(self.xp, z) - y) if self.needs_input_grad[0] else None
        gy = -scale * z if self.needs_input_grad[1] else None
        return gz, gy


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over rows of logits ``(N, C)``.

    ``target`` is either integer class labels ``(N,)`` (validated by ``F.cross_entropy``) or class
    probabilities ``(N, C)``. Loss per row: -sum_c t_c log_softmax(z)_c (for labels: -log_softmax(z)
    at the label). Gradient: softmax(z) * sum_c t_c - t, i.e. softmax - onehot for labels, divided
    by N for ``reduction="mean"``.
    """

    def forward(self, logits, target, reduction: str = "mean"):
        xp = self.xp
        self.reduction, self.count = reduction, logits.shape[0]
        if target.ndim == 1:
            return self._forward_labels(xp, logits, target, reduction)
        logp = log_softmax_array(xp, logits, axis=-1)
        self.save_for_backward(logp, target)
        return _reduce_loss(xp, -xp.sum(target * logp, axis=-1), reduction, self.count)

    def _forward_labels(self, xp, logits, labels, reduction):
        """Class labels: log p only at the labels, log p_y = s_y - log sum_c exp(s_c) with
        s = z - max z; keeps exp(s) and its row sums for backward (softmax = exp(s) / sum)."""
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        e = xp.exp(shifted)
        total = xp.sum(e, axis=-1, keepdims=True)
        # int64 positions: an arange in a uint8/int8 label dtype wraps past 127/255
        self.rows = xp.arange(self.count, dtype=xp.int64)
        picked = shifted[self.rows, labels] - xp.log(total[:, 0])
        self.save_for_backward(e, labels, total)
        if reduction == "mean":
            return xp.sum(picked) * (-1.0 / self.count)
        return _reduce_loss(xp, -picked, reduction, self.count)

    def backward(self, g):
        saved, t = self.saved[:2]  # exp(z - max) for labels, log-softmax for probabilities
        xp = self.xp
        if self.reduction == "none":
            g = xp.expand_dims(g, axis=-1)
        scale = g * _loss_scale(self.reduction, self.count)
        if t.ndim == 1:  # (softmax - onehot) * scale, softmax = e / total
            gz = saved * (scale / self.saved[2])
            if backend.ufuncs(gz) is not None:
                gz[self.rows, t] -= scale if scale.ndim == 0 else scale[:, 0]
            else:
                classes = xp.arange(gz.shape[1], dtype=xp.int64)
                gz -= xp.astype(xp.reshape(t, (-1, 1)) == classes, gz.dtype) * scale
            return gz, None
        logp = saved
        gz = None
        if self.needs_input_grad[0]:
            gz = scale * (xp.exp(logp) * xp.sum(t, axis=-1, keepdims=True) - t)
        gt = -scale * logp if self.needs_input_grad[1] else None
        return gz, gt
