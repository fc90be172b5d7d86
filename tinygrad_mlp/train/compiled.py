"""``compile_step``: an MLP's whole training step, run without building the autodiff graph.

The eager step a user writes, ::

    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

spends most of its time on small layers in Python: a graph node per op, the backward walk, a
``Tensor`` per gradient, the optimizer's loops (``benchmarks/README.md``, "Where the time goes").
``step = compile_step(model, opt)`` does the same arithmetic with less of that. ``model`` must be
what ``nn.MLP``'s fused op runs: Linear layers with biases and one hidden activation (ReLU, Tanh
or Sigmoid, each optionally followed by Dropout), nothing after the last Linear (this is checked
when compiling). Each call ``step(x, y)``

1. checks the batch: ``x`` of shape ``(N, in_features)`` with the parameters' dtype and device,
   integer labels of shape ``(N,)`` in ``[0, classes)`` (``loss="mse"``: float targets of the
   output's shape); and checks that the layers still form that stack (a layer or parameter
   replaced since, a dtype changed, Dropout switched by ``train()`` / ``eval()``);
2. runs the fused stack's forward, the loss's forward, then their backward: the same kernels as
   the eager step (``fused.MLPStack``; ``ops.CrossEntropy`` or ``ops.MSELoss``), with no gradient
   for the input batch or for frozen parameters (``requires_grad=False``); dropout masks come from
   the same generators in the same order;
3. hands each gradient straight to the optimizer's own per-parameter update (any optimizer of
   ``tinygrad_mlp.optim``): hyper-parameters, param groups, learning-rate schedulers and the state
   dict work as with ``opt.step()``.

It returns the loss (before the update) as a Tensor without a graph. The parameters, the
optimizer state and the loss are those of the eager step, bit for bit
(``tests/test_train_compiled.py``). One difference, by design: no parameter keeps a ``.grad``
(as if ``opt.zero_grad()`` ran after the step), so there is no gradient to clip or log; use the
eager step for that. Under ``detect_anomaly()`` it runs the eager step, so that a NaN still names
its layer.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from .. import functional as F
from ..fused import MLPStack
from ..grad_mode import _state
from ..nn.layers import Sequential
from ..nn.mlp import MLP, _dropout_masks, _stack_plan
from ..ops import CrossEntropy, MSELoss
from ..optim.optimizer import Optimizer
from ..tensor import Tensor

_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
LOSSES = {"cross_entropy": (CrossEntropy, F.cross_entropy), "mse": (MSELoss, F.mse_loss)}


def compile_step(model: Any, optimizer: Any, loss: str = "cross_entropy") -> CompiledStep:
    """A training step ``step(x, y) -> loss`` for ``model`` and ``optimizer``; see the module."""
    return CompiledStep(model, optimizer, loss)


def _layers(model: Any) -> list:
    if isinstance(model, MLP):
        return model.layers._layers
    if isinstance(model, Sequential):
        return model._layers
    raise TypeError(
        f"compile_step: model must be an nn.MLP or an nn.Sequential of dense layers, got "
        f"{type(model).__name__}; use the eager step for other models"
    )


class CompiledStep:
    """The step ``compile_step`` returns; call it as ``step(x, y)``."""

    def __init__(self, model: Any, optimizer: Any, loss: str = "cross_entropy") -> None:
        if loss not in LOSSES:
            raise ValueError(f"compile_step: loss must be one of {list(LOSSES)}, got {loss!r}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"compile_step: optimizer must be a tinygrad_mlp.optim optimizer, got "
                f"{type(optimizer).__name__}"
            )
        if type(optimizer).step is not Optimizer.step:
            raise TypeError(
                f"compile_step: {type(optimizer).__name__} defines its own step(); the compiled "
                "step only calls per-parameter updates (_update)"
            )
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self._layer_list = _layers(model)
        first = self._plan(None)
        self.in_features = first[1][0].shape[1]
        self._params: list = []
        self._slots: list = []
        self._held: list = []

    def __repr__(self) -> str:
        return (
            f"CompiledStep({type(self.model).__name__}, {type(self.optimizer).__name__}, "
            f"loss={self.loss!r})"
        )

    def _plan(self, x: Any) -> tuple:
        """The fused stack's plan for input array ``x`` (None: the parameters' own type and
        dtype); TypeError when the layers are not one stack of dense layers."""
        layers = self._layer_list
        if x is None:
            x = next((p.data for p in self.model.parameters()), None)
        plan = _stack_plan(layers, x) if x is not None else None
        if plan is None or plan[3] != len(layers):
            raise TypeError(
                "compile_step: the model must be Linear layers with biases and one hidden "
                "activation (ReLU, Tanh or Sigmoid, optionally followed by Dropout), all of one "
                f"dtype and device, and nothing after the last Linear; got {self.model!r}"
            )
        return plan

    def _slots_for(self, params: list) -> list:
        """``(parameter, its group)`` for every trainable parameter the optimizer holds."""
        groups = self.optimizer.param_groups
        held = [len(g["params"]) for g in groups]  # add_param_group, or a group's list grown
        if params != self._params or held != self._held:
            group_of = {id(p): g for g in groups for p in g["params"]}
            self._slots = [(p, group_of.get(id(p))) for p in params]
            self._params, self._held = list(params), held
        return self._slots

    def __call__(self, x: Any, y: Any) -> Tensor:
        """One step on the batch ``(x, y)``; returns the loss before the update."""
        if _state.anomaly:
            return self._eager(x, y)
        xt = x if isinstance(x, Tensor) else Tensor(x)
        xa = xt.data
        activation, params, dropouts, _ = self._checked_plan(xa)
        ya = self._checked_target(y, xa, params[-1].data.shape[0])
        masks = _dropout_masks(dropouts, params, xt)
        stack, crit = MLPStack(), LOSSES[self.loss][0]()
        xp = stack.xp = crit.xp = backend.namespace(xa)
        stack.needs_input_grad = (False, *[p.requires_grad for p in params])
        crit.needs_input_grad = (True, False)
        logits = stack.forward(xa, *[p.data for p in params], activation=activation, masks=masks)
        value = crit.forward(logits, ya)
        grads = stack.backward(crit.backward(xp.ones((), dtype=logits.dtype))[0])
        self._apply(params, grads[1:])
        return Tensor._make(value, False, None)

    def _checked_plan(self, x: Any) -> tuple:
        """The stack's plan for the input array ``x``; ValueError naming its shape, or its dtype
        and device when they are not the parameters'."""
        shape = x.shape
        if len(shape) != 2 or shape[1] != self.in_features or shape[0] == 0:
            raise ValueError(
                f"compile_step: x must have shape (N, {self.in_features}) with N >= 1, got "
                f"{tuple(shape)}"
            )
        layers = self._layer_list
        plan = _stack_plan(layers, x)
        if plan is None or plan[3] != len(layers):
            w = self._plan(None)[1][0]
            raise ValueError(
                f"compile_step: x ({backend.dtype_name(x.dtype)} on {backend.device_of(x)}) does "
                f"not match the parameters ({w.dtype} on {w.device}); move or cast the batch"
            )
        return plan

    def _checked_target(self, y: Any, x: Any, out: int) -> Any:
        """The target array: ValueError naming what is wrong (as ``F.cross_entropy`` or
        ``F.mse_loss`` would) unless it fits the batch ``x`` and ``out`` outputs."""
        if isinstance(y, Tensor):
            ya = y.data
        else:
            ya = y if type(y) is type(x) else Tensor(y, device=backend.device_of(x)).data
        n = x.shape[0]
        if type(ya) is not type(x):
            raise ValueError(
                f"compile_step: the targets are on {backend.device_of(ya)}, the batch on "
                f"{backend.device_of(x)}"
            )
        if self.loss == "cross_entropy":
            if ya.ndim == 1 and ya.shape[0] == n and backend.dtype_name(ya.dtype) in _INTS:
                if F._labels_in_range(ya, out):
                    return ya
            F._check_labels(Tensor._make(ya, False, None), out, batch=n)  # raises
            return ya
        if ya.shape != (n, out) or ya.dtype != x.dtype:
            raise ValueError(
                f"compile_step: mse targets must have shape {(n, out)} and dtype "
                f"{backend.dtype_name(x.dtype)}, got {tuple(ya.shape)} and "
                f"{backend.dtype_name(ya.dtype)}"
            )
        return ya

    def _apply(self, params: list, grads: tuple) -> None:
        """The optimizer's per-parameter update with each new gradient (as ``opt.step()``)."""
        opt = self.optimizer
        state_of, update = opt.state, opt._update
        for (p, group), g in zip(self._slots_for(params), grads, strict=True):
            p.grad = None
            if g is None or group is None:
                continue
            state = state_of.get(p)
            if state is None:
                state = state_of[p] = opt._init_state(p, group)
            update(p, g, state, group)

    def _eager(self, x: Any, y: Any) -> Tensor:
        self.optimizer.zero_grad()
        loss = LOSSES[self.loss][1](self.model(x), y)
        loss.backward()
        self.optimizer.step()
        for p in self.model.parameters():
            p.grad = None
        return loss.detach()
