"""``compile_step``: an MLP's whole training step, run without building the autodiff graph.

The eager step a user writes, ::

    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

spends most of its time on small layers in Python: a graph node per op, the backward walk, a
``Tensor`` per gradient, the optimizer's loops (``benchmarks/README.md``, "Where the time goes").
``step = compile_step(model, opt)`` does the same arithmetic with less of that. ``model`` must be
an ``nn.MLP`` or ``nn.Sequential`` (not a subclass with its own ``forward``) of what ``nn.MLP``'s
fused op runs: Linear layers with biases and one hidden activation (ReLU, Tanh or Sigmoid, each
optionally followed by Dropout), nothing after the last Linear, no layer used twice. Each call
``step(x, y)``

1. checks, before it changes anything (parameters, optimizer state, dropout generators):
   - that the model's layers still form that stack (layers or parameters replaced since, a
     dtype changed, Dropout switched by ``train()`` / ``eval()``: all followed);
   - ``x``: shape ``(N, in_features)``, the parameters' dtype and device;
   - ``y``, converted as ``F.cross_entropy`` / ``F.mse_loss`` convert it: integer labels of shape
     ``(N,)`` in ``[0, classes)`` or class probabilities ``(N, classes)``; for ``loss="mse"``
     targets of the output's shape; float targets in the model's dtype (a Tensor of another
     float dtype is refused: the eager step would compute in the wider dtype);
2. runs the fused stack's forward, the loss's forward, then their backward: the same kernels as
   the eager step (``fused.MLPStack``; ``ops.CrossEntropy`` or ``ops.MSELoss``), with no gradient
   for the input batch or for frozen parameters (``requires_grad=False``); dropout masks come from
   the same generators in the same order;
3. hands each gradient straight to the optimizer's own per-parameter update (any optimizer of
   ``tinygrad_mlp.optim``): hyper-parameters, param groups (looked up again when they change),
   learning-rate schedulers and the state dict work as with ``opt.step()``.

It returns the loss (before the update) as a Tensor without a graph. The parameters, the
optimizer state and the loss are those of the eager step, bit for bit, for ``nn.MLP`` and for an
``nn.Sequential`` run layer by layer (tested on NumPy and array-api-strict, and on CuPy where a
GPU is present: ``tests/test_train_compiled.py``). One difference, by design: no parameter keeps
a ``.grad`` (as if ``opt.zero_grad()`` ran after the step), so there is no gradient to clip or
log; use the eager step for that. Under ``detect_anomaly()`` it runs the eager step, so that a
NaN still names its layer.

``step.forward_backward(x, y)`` does 1 and 2 and returns a ``PendingStep``: the loss and the
model's output, with the update (3) left to its ``apply()``. ``train.fit(..., compile=True)``
uses it to stop on a NaN loss before the update and to count its metrics from the output.
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
    """The model's layer list: an ``nn.MLP``'s or ``nn.Sequential``'s own ``forward`` runs it."""
    for cls, layers in ((MLP, lambda m: m.layers._layers), (Sequential, lambda m: m._layers)):
        if isinstance(model, cls) and type(model).forward is cls.forward:
            return layers(model)
    raise TypeError(
        f"compile_step: model must be an nn.MLP or an nn.Sequential of dense layers (not a "
        f"subclass with its own forward), got {type(model).__name__}; use the eager step for "
        "other models"
    )


class StepRefused(ValueError):
    """A batch the compiled step refuses although the eager step takes it: ``x`` or float targets
    of another float dtype than the model's, which the eager step computes in (``fit(...,
    compile=True)`` then suggests ``compile=False``)."""


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
        if type(optimizer).step is not Optimizer.step or "step" in vars(optimizer):
            raise TypeError(
                f"compile_step: {type(optimizer).__name__} defines its own step(); the compiled "
                "step only calls per-parameter updates (_update)"
            )
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self._plan(None)  # a TypeError now for a model the step cannot run
        self._computed = 0  # steps computed so far: a PendingStep must be the latest to apply
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
        layers = _layers(self.model)
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
        """``(parameter, its group)`` for every parameter of the stack (group None: not in the
        optimizer), looked up again whenever the parameters or the groups changed."""
        held = [(id(g), *map(id, g["params"])) for g in self.optimizer.param_groups]
        if params != self._params or held != self._held:
            if len({id(p) for p in params}) != len(params):
                raise ValueError(
                    "compile_step: a parameter appears twice in the stack (a layer used twice, "
                    "tied weights); use the eager step, which adds up its gradients"
                )
            group_of = {id(p): g for g in self.optimizer.param_groups for p in g["params"]}
            self._slots = [(p, group_of.get(id(p))) for p in params]
            self._params, self._held = list(params), held
        return self._slots

    def __call__(self, x: Any, y: Any) -> Tensor:
        """One step on the batch ``(x, y)``; returns the loss before the update."""
        if _state.anomaly:
            pending = self.forward_backward(x, y)
            pending.apply()
            return pending.loss
        value, _, slots, grads = self._compute(x, y)
        self._computed += 1
        self._apply(slots, grads)
        return Tensor._make(value, False, None)

    def forward_backward(self, x: Any, y: Any) -> PendingStep:
        """The step on ``(x, y)`` up to its update: a ``PendingStep`` with the ``loss``, the
        model's ``output`` (both Tensors without a graph) and ``apply()``, the update.

        ``train.fit(..., compile=True)`` uses it to check that the loss is finite, and to count
        its metrics from the output, before the update. Until ``apply()`` the parameters and the
        optimizer state are as they were; active Dropout layers have drawn this step's masks
        (as the eager step's forward does), and under ``detect_anomaly()`` (the eager step) the
        parameters' ``.grad`` hold this step's gradients. Only the latest step of this
        ``CompiledStep`` can be applied (a RuntimeError otherwise). Apply it before changing the
        parameters: weights loaded or edited in place in between are not noticed.
        """
        if _state.anomaly:
            self._computed += 1  # first: the eager backward replaces every .grad
            loss, output = self._eager(x, y)
            update = self._eager_update
        else:
            value, logits, slots, grads = self._compute(x, y)  # a bad batch stales nothing
            self._computed += 1
            loss, output = Tensor._make(value, False, None), Tensor._make(logits, False, None)

            def update() -> None:
                self._apply(slots, grads)

        ticket = self._computed
        return PendingStep(loss, output, lambda: self._update_if_latest(ticket, update))

    def _update_if_latest(self, ticket: int, update: Any) -> None:
        if ticket != self._computed:
            raise RuntimeError(
                "this PendingStep is stale: the compiled step has computed another step since "
                "(its gradients are out of date); compute this batch again"
            )
        update()

    def _compute(self, x: Any, y: Any) -> tuple:
        """Checks, forward and backward: ``(loss array, logits array, slots, gradients)``."""
        xt = x if isinstance(x, Tensor) else Tensor(x)
        xa = xt.data
        activation, params, dropouts, _ = self._checked_plan(xa)
        ya = self._checked_target(y, xt, params[-1].data.shape[0])
        slots = self._slots_for(params)
        needs = (False, *[p.requires_grad for p in params])
        if True not in needs:
            raise RuntimeError("compile_step: no parameter of the model requires grad")
        masks = _dropout_masks(dropouts, params, xt)  # after the checks: a bad batch draws none
        stack, crit = MLPStack(), LOSSES[self.loss][0]()
        xp = stack.xp = crit.xp = backend.namespace(xa)
        stack.needs_input_grad, crit.needs_input_grad = needs, (True, False)
        logits = stack.forward(xa, *[p.data for p in params], activation=activation, masks=masks)
        value = crit.forward(logits, ya)
        grads = stack.backward(crit.backward(xp.ones((), dtype=logits.dtype))[0])
        return value, logits, slots, grads[1:]

    def _checked_plan(self, x: Any) -> tuple:
        """The stack's plan for the input array ``x``; ValueError naming its dtype and device
        when they are not the parameters' (``StepRefused`` for the dtype alone), or its shape."""
        layers = _layers(self.model)
        plan = _stack_plan(layers, x)
        if plan is None or plan[3] != len(layers):
            w = self._plan(None)[1][0]
            error = StepRefused if backend.device_of(x) == w.device else ValueError
            raise error(
                f"compile_step: x ({backend.dtype_name(x.dtype)} on {backend.device_of(x)}) does "
                f"not match the parameters ({w.dtype} on {w.device}); move or cast the batch"
            )
        shape, width = x.shape, plan[1][0].data.shape[1]
        if len(shape) != 2 or shape[1] != width or shape[0] == 0:
            raise ValueError(
                f"compile_step: x must have shape (N, {width}) with N >= 1, got {tuple(shape)}"
            )
        return plan

    def _checked_target(self, y: Any, xt: Tensor, out: int) -> Any:
        """The target array, converted as ``F.cross_entropy`` / ``F.mse_loss`` convert it (a
        DeviceError for a Tensor on another device); ValueError naming what is wrong unless it
        fits the batch ``xt`` and ``out`` outputs."""
        yt = F._like(y, xt, "target")
        ya, n, name = yt.data, xt.shape[0], backend.dtype_name(yt.dtype)
        if self.loss == "mse":
            yt = F._float_target("mse_loss", yt, xt)
            ya, name = yt.data, backend.dtype_name(yt.dtype)
            return self._same_dtype(ya, name, (n, out), xt, "mse targets")
        if name in _INTS and ya.ndim == 1 and ya.shape[0] == n and F._labels_in_range(ya, out):
            return ya  # class labels
        if backend.is_floating(ya.dtype) and tuple(ya.shape) == (n, out):
            return self._same_dtype(ya, name, (n, out), xt, "probability targets")
        if backend.is_floating(ya.dtype) and ya.ndim == 2:
            raise ValueError(
                f"cross_entropy: probability targets must have the logits' shape {(n, out)}, "
                f"got {tuple(ya.shape)}"
            )
        F._check_labels(yt, out, batch=n)  # raises, naming what is wrong
        raise ValueError(f"class labels must be an integer tensor, got {name}")

    @staticmethod
    def _same_dtype(ya: Any, name: str, shape: tuple, xt: Tensor, what: str) -> Any:
        dtype = backend.dtype_name(xt.dtype)
        if tuple(ya.shape) != shape or name != dtype:
            why = "" if name == dtype else " (cast them; the eager step would compute in float64)"
            error = StepRefused if tuple(ya.shape) == shape else ValueError
            raise error(
                f"compile_step: {what} must have shape {shape} and dtype {dtype}{why}, got "
                f"{tuple(ya.shape)} and {name}"
            )
        return ya

    def _apply(self, slots: list, grads: tuple) -> None:
        """The optimizer's per-parameter update with each new gradient (as ``opt.step()``)."""
        opt = self.optimizer
        state_of, update = opt.state, opt._update
        for (p, group), g in zip(slots, grads, strict=True):
            p.grad = None
            if g is None or group is None:
                continue
            state = state_of.get(p)
            if state is None:
                state = state_of[p] = opt._init_state(p, group)
            update(p, g, state, group)

    def _eager(self, x: Any, y: Any) -> tuple[Tensor, Tensor]:
        """The eager step's forward and backward (under ``detect_anomaly()``): loss, output."""
        self.optimizer.zero_grad()
        output = self.model(x)
        loss = LOSSES[self.loss][1](output, y)
        loss.backward()
        return loss.detach(), output.detach()

    def _eager_update(self) -> None:
        self.optimizer.step()
        for p in self.model.parameters():
            p.grad = None


class PendingStep:
    """A step whose forward and backward are done and whose update is not (``apply()``)."""

    __slots__ = ("loss", "output", "_update")

    def __init__(self, loss: Tensor, output: Tensor, update: Any) -> None:
        self.loss, self.output, self._update = loss, output, update

    def __repr__(self) -> str:
        state = "applied" if self._update is None else "not applied"
        return f"PendingStep(loss={self.loss.item():.6g}, {state})"

    def apply(self) -> None:
        """The optimizer's update with this step's gradients; a RuntimeError the second time."""
        if self._update is None:
            raise RuntimeError("this step's update was already applied")
        update, self._update = self._update, None
        update()
