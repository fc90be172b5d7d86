"""Training utilities: ``fit`` / ``evaluate`` / ``predict`` / ``predict_proba``, the ``History``
they record, callbacks (``EarlyStopping``, ``ModelCheckpoint``), checkpoint loading, and
``compile_step`` (an MLP's training step without the autodiff graph; ``fit(..., compile=True)``
trains through it)::

    history = train.fit(model, F.cross_entropy, optim.Adam(model.parameters()), loader,
                        val_loader=val, epochs=20, callbacks=[train.EarlyStopping(patience=3)])
    history["val_accuracy"][-1], train.predict(model, X_test)[:5]
    history.plot("curves.png")
"""

from .callbacks import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    load_checkpoint,
    save_checkpoint,
)
from .compiled import CompiledStep, PendingStep, StepRefused, compile_step
from .history import History
from .inference import evaluate, predict, predict_proba
from .loop import FitState, NonFiniteLossError, fit, format_epoch_line
from .metrics import METRIC_NAMES

__all__ = [
    "METRIC_NAMES",
    "Callback",
    "CompiledStep",
    "EarlyStopping",
    "FitState",
    "History",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "PendingStep",
    "StepRefused",
    "compile_step",
    "evaluate",
    "fit",
    "format_epoch_line",
    "load_checkpoint",
    "predict",
    "predict_proba",
    "save_checkpoint",
]
