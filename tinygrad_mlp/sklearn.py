"""``MLPClassifier``: a tinygrad_mlp network behind scikit-learn's estimator API.

It works wherever a scikit-learn classifier does (``Pipeline``, ``GridSearchCV`` with
``n_jobs``, ``cross_val_score``, pickling), and its hyper-parameters are named as in
``sklearn.neural_network.MLPClassifier``::

    from sklearn.model_selection import GridSearchCV
    from tinygrad_mlp.sklearn import MLPClassifier

    grid = GridSearchCV(MLPClassifier(max_iter=50, random_state=0),
                        {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-3]}, n_jobs=2)
    grid.fit(X, y).best_params_

Differences from scikit-learn's class: solvers ``"sgd"``, ``"adam"``, ``"adamw"``,
``"rmsprop"`` (no ``"lbfgs"``); a constant learning rate (no ``learning_rate`` / ``power_t``);
dense input only; no multi-label targets and no ``sample_weight``; extra parameters ``loss``,
``device`` and ``dtype``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import backend, nn, optim
from . import functional as F
from .data import DataLoader
from .sklearn_checks import (
    _batch_size,
    _check_two_classes,
    _choice,
    _dtype_name,
    _encode,
    _hidden_sizes,
    _integer,
    _real,
)
from .tensor import Tensor, no_grad

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(est: Any, *args: Any, **kwargs: Any) -> Any:
        return est._validate_data(*args, **kwargs)


__all__ = ["MLPClassifier"]

ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid"}
SOLVERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross-entropy", "mse")
_PREDICT_CHUNK = 4096


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier trained with tinygrad_mlp (NumPy or CuPy).

    Parameters (scikit-learn's names and defaults where they exist):

    - ``hidden_layer_sizes``: widths of the hidden layers, e.g. ``(100,)`` or ``(50, 50)``; an
      int means one layer; ``()`` gives no hidden layer (a linear model).
    - ``activation``: hidden activation, ``"relu"``, ``"tanh"`` or ``"logistic"`` (sigmoid).
    - ``solver``: ``"sgd"`` (with ``momentum`` / ``nesterovs_momentum``), ``"adam"`` (``beta_1``,
      ``beta_2``, ``epsilon``), ``"adamw"`` (the same, decoupled weight decay) or ``"rmsprop"``
      (PyTorch's smoothing 0.99, ``epsilon``, no momentum); learning rate
      ``learning_rate_init``, kept constant.
    - ``alpha``: strength of the L2 penalty on the weights (never the biases). As in
      scikit-learn, each mini-batch of ``b`` samples adds ``0.5 * alpha * sum(W**2) / b`` to its
      loss, i.e. ``alpha * W / b`` to the gradient of every weight matrix ``W``. With
      ``solver="adamw"`` it is instead the decoupled weight decay of AdamW: after each step
      ``W <- W - learning_rate_init * alpha * W`` (weights only), and the loss carries no
      penalty term.
    - ``batch_size``: samples per mini-batch; ``"auto"`` is ``min(200, n_samples)``.
    - ``max_iter``: the most epochs (passes over the data) ``fit`` runs.
    - ``shuffle``: reshuffle the samples every epoch.
    - ``random_state``: seeds the weights, the shuffling and the validation split.
    - ``tol``, ``n_iter_no_change``: training stops when the epoch's training loss (or, with
      ``early_stopping``, the validation accuracy) has not improved by at least ``tol`` for
      more than ``n_iter_no_change`` consecutive epochs; reaching ``max_iter`` first gives a
      ``ConvergenceWarning``.
    - ``early_stopping``, ``validation_fraction``: hold out that fraction of the training data
      (stratified, at least one sample per class, when every class has 2+ samples) and stop on
      its accuracy; the weights of the best epoch are kept.
    - ``warm_start``: ``fit`` continues from the current network instead of starting afresh.
    - ``verbose``: print the loss of every epoch.
    - ``loss``: ``"cross-entropy"`` (softmax output, or one sigmoid unit for two classes) or
      ``"mse"``, the classic network: sigmoid output units trained on one-hot targets with the
      quadratic cost ``0.5 * sum_k (out_k - onehot_k)**2`` per sample, averaged over the batch.
    - ``device``: ``"cpu"`` or ``"cuda"``; ``dtype``: ``"float32"`` or ``"float64"``.

    Fitted attributes: ``classes_``, ``n_features_in_`` (``feature_names_in_`` for a DataFrame
    with string column names), ``model_`` (the ``nn.MLP``; it outputs logits for
    cross-entropy, sigmoid units for mse), ``loss_`` (last epoch's mean training loss,
    penalty included), ``loss_curve_``, ``best_loss_`` (``None`` with early stopping),
    ``validation_scores_`` and ``best_validation_score_`` (early stopping only), ``n_iter_``
    (epochs run), ``t_`` (training samples seen), ``n_layers_``, ``n_outputs_``,
    ``out_activation_``.
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        loss: str = "cross-entropy",
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.loss = loss
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ public API
    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features) and labels ``y`` (any hashable type).

        Starts from fresh weights unless ``warm_start`` is set and the estimator is fitted.
        Returns ``self``.
        """
        self._check_params()
        warm = self.warm_start and hasattr(self, "model_")
        X, y = _check_X_y(self, X, y, reset=not warm)
        if warm:
            codes = _encode(y, self.classes_, "fit with warm_start=True")
        else:
            classes, codes = np.unique(y, return_inverse=True)
            _check_two_classes(classes)
            self.classes_ = classes
            self._initialize(X.shape[1], np.random.RandomState(self._seed()))
        self._train(X, codes, epochs=self.max_iter, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``X``, ``y``, continuing from the current network.

        ``classes`` (all labels that will ever be seen) is required on the first call and must
        match ``classes_`` afterwards. Early stopping does not apply. Returns ``self``.
        """
        self._check_params()
        first = not hasattr(self, "model_")
        X, y = _check_X_y(self, X, y, reset=first)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
            _check_two_classes(self.classes_)
            self._initialize(X.shape[1], np.random.RandomState(self._seed()))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} is not the same as classes_="
                f"{self.classes_.tolist()} of the first call to partial_fit"
            )
        self._train(X, _encode(y, self.classes_, "partial_fit"), epochs=1, incremental=True)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order.

        Softmax of the logits (a sigmoid for two classes) with cross-entropy; with ``"mse"`` the
        sigmoid outputs divided by their row sum (``[1 - p, p]`` for two classes).
        """
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        return self._proba(np.asarray(X))  # a plain ndarray (not a read-only memmap)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample (values of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; arrays that come back as read-only memmaps (joblib's ``mmap_mode``, used
        to share large arguments between processes) are copied so training can go on."""
        super().__setstate__(state)
        model = self.__dict__.get("model_")
        if model is None:
            return
        for p in model.parameters():
            p.data = backend.parameter_memory(_own(p.data))
        for per_param in self._optimizer.state.values():
            for key, value in per_param.items():
                per_param[key] = _own(value)

    # ------------------------------------------------------------------ set-up
    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _initialize(self, n_features: int, rs: np.random.RandomState) -> None:
        """A fresh network, optimizer and training record for ``n_features`` inputs."""
        n_classes = len(self.classes_)
        self.n_outputs_ = 1 if n_classes == 2 else n_classes
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        mse = self.loss == "mse"
        self.out_activation_ = "logistic" if mse or n_classes == 2 else "softmax"
        self.model_ = nn.MLP(
            [n_features, *hidden, self.n_outputs_],
            activation=ACTIVATIONS[self.activation],
            output_activation="sigmoid" if mse else None,
            seed=int(rs.randint(np.iinfo(np.int32).max)),
            dtype=self.dtype,
            device=self.device,
        )
        self.n_layers_ = len(hidden) + 2
        self._optimizer = self._make_optimizer()
        self._shuffle_seed = int(rs.randint(np.iinfo(np.int32).max))
        self._split_seed = int(rs.randint(np.iinfo(np.int32).max))
        self.n_iter_, self.t_ = 0, 0
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_: list[float] = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf

    def _make_optimizer(self) -> optim.Optimizer:
        lr, betas = self.learning_rate_init, (self.beta_1, self.beta_2)
        weights = [lin.weight for lin in self.model_.linears]
        biases = [lin.bias for lin in self.model_.linears]
        if self.solver == "sgd":
            nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
            params = self.model_.parameters()
            return optim.SGD(params, lr=lr, momentum=self.momentum, nesterov=nesterov)
        if self.solver == "adam":
            return optim.Adam(self.model_.parameters(), lr=lr, betas=betas, eps=self.epsilon)
        if self.solver == "adamw":
            groups = [{"params": weights, "weight_decay": self.alpha}]
            groups.append({"params": biases, "weight_decay": 0.0})
            return optim.AdamW(groups, lr=lr, betas=betas, eps=self.epsilon)
        return optim.RMSprop(self.model_.parameters(), lr=lr, eps=self.epsilon)

    # ------------------------------------------------------------------ training
    def _train(self, X: np.ndarray, codes: np.ndarray, epochs: int, incremental: bool) -> None:
        """Up to ``epochs`` epochs; the stopping rule and its warning unless ``incremental``."""
        early = self.early_stopping and not incremental
        val = None
        if early:
            if not hasattr(self, "validation_scores_"):  # warm start with early stopping new
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            X, X_val, codes, codes_val = _validation_split(
                X, codes, self.validation_fraction, len(self.classes_), self._split_seed
            )
            val = (X_val, codes_val)
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf
        batch = _batch_size(self.batch_size, X.shape[0])
        seed = self._shuffle_seed + self.n_iter_  # a fresh order after every partial_fit call
        loader = _loader(X, self._targets(codes), batch, self.shuffle, seed, self)
        for _ in range(epochs):
            self.loss_ = self._run_epoch(loader)
            self.loss_curve_.append(self.loss_)
            self.n_iter_ += 1
            self.t_ += X.shape[0]
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if not incremental and self._should_stop(val):
                break
        else:
            if not incremental:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        if early:
            self.model_.load_state_dict(self._best_state)

    def _should_stop(self, val: tuple[np.ndarray, np.ndarray] | None) -> bool:
        """scikit-learn's rule: stop once more than ``n_iter_no_change`` consecutive epochs
        improved neither the best training loss (by ``tol``) nor, with a validation part
        ``val``, the best validation accuracy (whose weights are kept)."""
        if val is not None:
            score = float(np.mean(self._proba(val[0]).argmax(axis=1) == val[1]))
            self.validation_scores_.append(score)
            improved = score >= self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_, self._best_state = score, self.model_.state_dict()
        else:
            improved = self.loss_ <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, self.loss_)
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        stop = self._no_improvement_count > self.n_iter_no_change
        if stop and self.verbose:
            what = "Validation score" if val is not None else "Training loss"
            print(
                f"{what} did not improve more than tol={self.tol} for "
                f"{self.n_iter_no_change} consecutive epochs. Stopping."
            )
        return stop

    def _targets(self, codes: np.ndarray) -> np.ndarray:
        """What the loss compares the outputs with: class indices, or float (one-hot) rows."""
        if self.n_outputs_ == 1:
            return codes.astype(np.float64).reshape(-1, 1)
        if self.loss == "mse":
            return np.eye(self.n_outputs_)[codes]
        return codes.astype(np.int64)

    def _batch_loss(self, out: Tensor, target: Tensor) -> Tensor:
        if self.loss == "mse":
            return F.mse_loss(out, target, reduction="sum") * (0.5 / out.shape[0])
        if self.n_outputs_ == 1:
            return F.binary_cross_entropy_with_logits(out, target)
        return F.cross_entropy(out, target)

    def _run_epoch(self, loader: Any) -> float:
        """One pass over ``loader``; the mean loss per sample (with the L2 penalty term)."""
        model, opt = self.model_, self._optimizer
        l2 = 0.0 if self.solver == "adamw" else float(self.alpha)
        weights = [lin.weight for lin in model.linears]
        total, seen = 0.0, 0
        for xb, yb in loader:
            b = xb.shape[0]
            opt.zero_grad()
            loss = self._batch_loss(model(xb), yb)
            loss.backward()
            value = loss.item()
            if l2 > 0:
                value += _add_l2(weights, l2 / b)
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"the training loss became {value} in epoch {self.n_iter_ + 1}; try a "
                    f"smaller learning_rate_init (now {self.learning_rate_init}) or scale X"
                )
            opt.step()
            total += value * b
            seen += b
        return total / seen

    # ------------------------------------------------------------------ inference
    def _outputs(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs for ``X`` as a float64 host array, in chunks, without a graph."""
        chunks = []
        with no_grad():
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                xb = Tensor(X[start : start + _PREDICT_CHUNK], dtype=self.dtype, device=self.device)
                chunks.append(backend.to_numpy(self.model_(xb).data).astype(np.float64))
        return np.concatenate(chunks)

    def _proba(self, X: np.ndarray) -> np.ndarray:
        out = self._outputs(X)
        if self.n_outputs_ == 1:
            p = out[:, 0] if self.loss == "mse" else expit(out[:, 0])
            return np.stack([1.0 - p, p], axis=1)
        if self.loss == "mse":
            total = out.sum(axis=1, keepdims=True)
            uniform = np.full_like(out, 1.0 / out.shape[1])
            return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)
        return softmax(out, axis=1)

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        """ValueError naming the parameter and its value for every bad hyper-parameter."""
        _hidden_sizes(self.hidden_layer_sizes)
        _choice("activation", self.activation, tuple(ACTIVATIONS))
        _choice("solver", self.solver, SOLVERS)
        _choice("loss", self.loss, LOSSES)
        _real("alpha", self.alpha, low=0.0)
        _real("learning_rate_init", self.learning_rate_init, low=0.0, low_open=True)
        _real("tol", self.tol, low=0.0)
        _real("momentum", self.momentum, low=0.0, high=1.0)
        _real("beta_1", self.beta_1, low=0.0, high=1.0, high_open=True)
        _real("beta_2", self.beta_2, low=0.0, high=1.0, high_open=True)
        _real("epsilon", self.epsilon, low=0.0, low_open=True)
        _real("validation_fraction", self.validation_fraction, 0.0, 1.0, high_open=True)
        if self.early_stopping and self.validation_fraction == 0:
            raise ValueError("validation_fraction must be > 0 with early_stopping=True, got 0")
        _integer("max_iter", self.max_iter)
        _integer("n_iter_no_change", self.n_iter_no_change)
        if self.batch_size != "auto":
            _integer("batch_size", self.batch_size, what="an int >= 1 or 'auto'")
        for name in ("shuffle", "early_stopping", "nesterovs_momentum", "warm_start"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if isinstance(self.verbose, str) or not isinstance(self.verbose, numbers.Integral):
            raise ValueError(f"verbose must be a bool or an int, got {self.verbose!r}")
        try:
            backend.normalize_device(self.device)
        except backend.DeviceError as exc:
            raise ValueError(f"device={self.device!r} is not valid: {exc}") from None
        _dtype_name(self.dtype)
        check_random_state(self.random_state)


# ---------------------------------------------------------------------- helpers
def _check_X_y(est: Any, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's input checks; ``X`` as a float32/float64 ndarray, ``y`` as class labels."""
    X, y = _validate_data(est, X, y, reset=reset, dtype=[np.float32, np.float64])
    check_classification_targets(y)
    return np.asarray(X), np.asarray(y)  # plain ndarrays (not read-only memmaps)


def _loader(X: np.ndarray, t: np.ndarray, batch: int, shuffle: bool, seed: int, est: Any) -> Any:
    return DataLoader(
        X, t, batch_size=batch, shuffle=shuffle, seed=seed, device=est.device, dtype=est.dtype
    )


def _validation_split(
    X: np.ndarray, codes: np.ndarray, fraction: float, k: int, seed: int
) -> list[np.ndarray]:
    """``(X_train, X_val, codes_train, codes_val)``: ``ceil(fraction * n)`` samples held out,
    stratified (and at least one per class) when every class has 2+ samples and enough remain."""
    n = len(codes)
    if n < 2:
        raise ValueError(f"early_stopping needs at least 2 samples to hold some out, got {n}")
    n_val = min(max(1, math.ceil(fraction * n)), n - 1)
    if np.bincount(codes, minlength=k).min() >= 2 and n - max(n_val, k) >= k:
        return train_test_split(
            X, codes, test_size=max(n_val, k), stratify=codes, random_state=seed
        )
    return train_test_split(X, codes, test_size=n_val, random_state=seed)


def _own(a: Any) -> Any:
    """A plain, writable ndarray for a NumPy subclass (memmap) or read-only array, else ``a``."""
    if isinstance(a, np.ndarray) and (type(a) is not np.ndarray or not a.flags.writeable):
        return np.array(a)
    return a


def _add_l2(weights: list[Tensor], coef: float) -> float:
    """Add ``coef * W`` to each weight's gradient; return the penalty ``0.5 coef sum W^2``."""
    total = 0.0
    for w in weights:
        xp = w.xp
        w.grad.data += coef * w.data
        total += float(xp.sum(w.data * w.data))
    return 0.5 * coef * total
