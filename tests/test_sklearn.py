"""Tests of ``tinygrad_mlp.sklearn.MLPClassifier``: scikit-learn's estimator checks, model
selection (GridSearchCV with processes, cross_val_score, Pipeline), labels, the stopping rule, the
L2 penalty, determinism and pickling."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from tinygrad_mlp import nn
from tinygrad_mlp.sklearn import MLPClassifier, _validation_split


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny matrices: one BLAS thread is faster, and much faster on a busy shared machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _quiet(est: MLPClassifier, X, y) -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


# ---------------------------------------------------------------------- scikit-learn's checks
CHECKED = [
    MLPClassifier(max_iter=20, random_state=0),
    MLPClassifier(max_iter=20, random_state=0, dtype="float64"),
    MLPClassifier(
        (16,),
        "logistic",
        solver="sgd",
        loss="mse",
        learning_rate_init=0.5,
        batch_size=16,
        max_iter=20,
        random_state=0,
        dtype="float64",
    ),
    MLPClassifier(
        (8, 8),
        "tanh",
        solver="rmsprop",
        early_stopping=True,
        max_iter=20,
        random_state=0,
        dtype="float64",
    ),
]


def _expected_failures(est: MLPClassifier) -> dict[str, str]:
    if est.dtype != "float32":
        return {}
    why = (
        "float32 matmul results move by ~1e-7 (rtol of the check: 1e-7) with the batch's rows "
        "(BLAS blocking); the float64 instances run this check"
    )
    return {"check_methods_subset_invariance": why, "check_methods_sample_order_invariance": why}


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures, xfail_strict=False)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------------- model selection
def test_grid_search_with_processes_on_digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    grid = GridSearchCV(
        MLPClassifier(max_iter=30, learning_rate_init=0.01, random_state=0),
        {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1e-2]},
        cv=3,
        n_jobs=2,
    )
    _quiet(grid, X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_params_["hidden_layer_sizes"] == (32,)
    assert grid.best_score_ > 0.88
    assert isinstance(grid.best_estimator_.model_, nn.MLP)
    assert grid.best_estimator_.score(X, y) > 0.95


def test_cross_val_score_pipeline_on_iris():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier((16,), learning_rate_init=0.01, max_iter=300, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=5)
    assert scores.shape == (5,)
    assert scores.mean() > 0.9


# ---------------------------------------------------------------------- labels and outputs
@pytest.mark.parametrize("loss", ["cross-entropy", "mse"])
def test_string_labels_multiclass(iris, loss):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = _quiet(MLPClassifier((16,), learning_rate_init=0.01, loss=loss, random_state=0), X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(proba >= 0)
    pred = clf.predict(X)
    assert set(pred) <= set(clf.classes_)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, names) > 0.9
    assert clf.n_outputs_ == 3 and clf.n_features_in_ == 4


@pytest.mark.parametrize("loss", ["cross-entropy", "mse"])
def test_binary_labels_use_one_output(iris, loss):
    X, y = iris
    keep = y > 0
    labels = np.where(y[keep] == 1, "yes", "no")
    clf = _quiet(
        MLPClassifier((8,), learning_rate_init=0.01, loss=loss, random_state=0), X[keep], labels
    )
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.n_outputs_ == 1 and clf.model_.out_features == 1
    proba = clf.predict_proba(X[keep])
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert clf.score(X[keep], labels) > 0.85


def test_one_class_is_an_error(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="at least 2 classes, got 1 class"):
        MLPClassifier().fit(X, np.zeros(len(X)))


def test_predict_before_fit_raises(iris):
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(iris[0])


def test_feature_names_from_a_dataframe(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = _quiet(MLPClassifier((4,), max_iter=5, random_state=0), frame, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]


# ---------------------------------------------------------------------- determinism, pickling
def test_same_random_state_gives_identical_fits(iris):
    X, y = iris
    est = MLPClassifier((16,), max_iter=15, random_state=3)
    a, b = _quiet(clone(est), X, y), _quiet(clone(est), X, y)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = _quiet(clone(est).set_params(random_state=4), X, y)
    assert c.loss_curve_ != a.loss_curve_


def test_pickle_round_trip_keeps_predictions_and_optimizer(iris):
    X, y = iris
    clf = _quiet(MLPClassifier((16,), max_iter=10, random_state=0), X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert copy.loss_curve_ == clf.loss_curve_
    # unpickled parameters are fresh arrays: placed on the 64-byte boundary again
    assert all(p.data.ctypes.data % 64 == 0 for p in copy.model_.parameters())
    # Adam's moments travel too: one more epoch gives exactly the same network on both.
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


# ---------------------------------------------------------------------- the training rules
def test_stops_after_n_iter_no_change_epochs_without_improvement(iris):
    X, y = iris
    clf = MLPClassifier((8,), tol=1e9, n_iter_no_change=3, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    # With an unreachable tol only epoch 1 (compared with an infinite best loss) counts as an
    # improvement; the count of epochs without one must then exceed 3: stop after 1 + 4 epochs.
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.loss_ == clf.loss_curve_[-1]
    assert clf.t_ == 5 * len(X)


def test_max_iter_reached_warns(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        clf = MLPClassifier((8,), max_iter=3, tol=0.0, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3


def test_early_stopping_keeps_the_best_epoch(iris):
    X, y = iris
    est = MLPClassifier((16,), early_stopping=True, learning_rate_init=0.05, random_state=0)
    clf = _quiet(est, X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.85
    assert clf.n_iter_ < clf.max_iter
    # The weights of the best epoch are restored: re-split the same way and score them.
    _, X_val, _, y_val = _validation_split(X, y, 0.1, 3, clf._split_seed)
    assert len(y_val) == 15 and set(y_val) == {0, 1, 2}
    assert clf.score(X_val, y_val) == clf.best_validation_score_


def _one_full_batch_step(X, y, **kw) -> MLPClassifier:
    est = MLPClassifier(
        (5,), batch_size=len(X), max_iter=1, shuffle=False, random_state=0, dtype="float64", **kw
    )
    return _quiet(est, X, y)


def test_alpha_is_the_l2_penalty_on_weights_divided_by_batch_size(iris):
    X, y = iris
    n, lr, alpha = len(X), 0.1, 0.3
    plain = _one_full_batch_step(X, y, solver="sgd", momentum=0.0, learning_rate_init=lr, alpha=0.0)
    l2 = _one_full_batch_step(X, y, solver="sgd", momentum=0.0, learning_rate_init=lr, alpha=alpha)
    # One SGD step: W1 = W0 - lr * (grad + alpha / n * W0); biases are not penalised.
    w0 = []
    for a, b in zip(plain.model_.linears, l2.model_.linears):
        w0.append((a.weight.numpy() - b.weight.numpy()) * n / (lr * alpha))
        np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    # ... and that W0 is the initial network: an SGD step with lr=1e-300 leaves the weights at
    # W0 (to float64 precision), and the same random_state gives the same initial weights.
    twin = _one_full_batch_step(X, y, solver="sgd", momentum=0.0, learning_rate_init=1e-300)
    for w, lin in zip(w0, twin.model_.linears):
        np.testing.assert_allclose(w, lin.weight.numpy(), rtol=1e-6, atol=1e-9)
    penalty = 0.5 * alpha * sum(float(np.sum(w**2)) for w in w0) / n
    assert l2.loss_ == pytest.approx(plain.loss_ + penalty, rel=1e-9)


def test_adamw_alpha_is_decoupled_weight_decay(iris):
    X, y = iris
    lr, alpha = 0.01, 0.5
    plain = _one_full_batch_step(X, y, solver="adamw", learning_rate_init=lr, alpha=0.0)
    decay = _one_full_batch_step(X, y, solver="adamw", learning_rate_init=lr, alpha=alpha)
    twin = _one_full_batch_step(X, y, solver="sgd", momentum=0.0, learning_rate_init=1e-300)
    assert decay.loss_ == plain.loss_  # no penalty term in the loss
    for a, b, w0 in zip(plain.model_.linears, decay.model_.linears, twin.model_.linears):
        diff = a.weight.numpy() - b.weight.numpy()  # = lr * alpha * W0
        np.testing.assert_allclose(diff, lr * alpha * w0.weight.numpy(), rtol=1e-6, atol=1e-12)
        np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_solver_learns(iris, solver):
    X, y = iris
    lr = 0.1 if solver == "sgd" else 0.01
    clf = _quiet(MLPClassifier((16,), solver=solver, learning_rate_init=lr, random_state=0), X, y)
    assert clf.score(X, y) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_partial_fit(iris):
    X, y = iris
    clf = MLPClassifier((16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for _ in range(30):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X, y) > 0.85
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes_"):
        clf.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="not the same as classes_"):
        clf.partial_fit(X, y, classes=[0, 1])


def test_warm_start_continues(iris):
    X, y = iris
    clf = _quiet(MLPClassifier((16,), max_iter=5, tol=0.0, warm_start=True, random_state=0), X, y)
    first = list(clf.loss_curve_)
    _quiet(clf, X, y)
    assert clf.n_iter_ == 10 and clf.loss_curve_[:5] == first


def test_verbose_prints_the_loss(iris, capsys):
    _quiet(MLPClassifier((4,), max_iter=2, verbose=True, random_state=0), *iris)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


def test_divergence_raises_floating_point_error(iris):
    X, y = iris
    clf = MLPClassifier((16,), solver="sgd", learning_rate_init=1e30, max_iter=5, random_state=0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="learning_rate_init"):
        _quiet(clf, X * 1e10, y)


# ---------------------------------------------------------------------- bad hyper-parameters
BAD = [
    ("hidden_layer_sizes", (0,)),
    ("hidden_layer_sizes", "100"),
    ("hidden_layer_sizes", (10, 2.5)),
    ("activation", "identity"),
    ("solver", "lbfgs"),
    ("loss", "hinge"),
    ("alpha", -1.0),
    ("alpha", float("nan")),
    ("batch_size", 0),
    ("batch_size", "big"),
    ("learning_rate_init", 0.0),
    ("max_iter", 0),
    ("max_iter", 2.5),
    ("tol", -0.1),
    ("n_iter_no_change", 0),
    ("momentum", 1.5),
    ("beta_1", 1.0),
    ("beta_2", -0.5),
    ("epsilon", 0.0),
    ("validation_fraction", 1.0),
    ("shuffle", "yes"),
    ("early_stopping", 1),
    ("verbose", "loud"),
    ("device", "tpu"),
    ("dtype", "int32"),
    ("dtype", "float16"),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v!r}" for n, v in BAD])
def test_bad_hyper_parameters_raise_at_fit(iris, name, value):
    clf = MLPClassifier(**{"max_iter": 1, name: value})  # the constructor never validates
    assert clf.get_params()[name] is value
    with pytest.raises(ValueError, match=name) as info:
        clf.fit(*iris)
    assert repr(value) in str(info.value)


def test_get_set_params_round_trip():
    clf = MLPClassifier(hidden_layer_sizes=(7, 3), solver="sgd")
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (7, 3) and params["loss"] == "cross-entropy"
    clf.set_params(alpha=0.5, loss="mse")
    assert clf.alpha == 0.5 and clf.loss == "mse"
    assert clone(clf).get_params() == clf.get_params()
