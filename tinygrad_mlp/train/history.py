"""``History``: the per-epoch record that ``fit`` returns (dict-like, JSON round trip, plot)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..files import atomic_writer

_FORMAT = "tinygrad_mlp.History"


class History:
    """Per-epoch values recorded by ``fit``: ``loss``, each metric (``accuracy``...), ``val_loss``,
    ``val_<metric>``, ``lr`` (the learning rate used in that epoch) and ``epoch_time`` (wall
    seconds, training plus validation).

    Indexed like a dict (``history["val_accuracy"]`` is a list with one value per epoch);
    ``keys()``, ``items()``, ``in`` and iteration go over the keys, while ``len(history)`` is the
    number of epochs recorded and ``history.epochs`` their 1-based numbers. ``interrupted`` is
    True when training stopped on KeyboardInterrupt (only completed epochs are recorded).
    """

    def __init__(self, keys: Any = (), epochs: Any = (), interrupted: bool = False) -> None:
        self._data: dict[str, list[Any]] = {str(k): [] for k in keys}
        self.epochs: list[int] = [int(e) for e in epochs]
        self.interrupted = bool(interrupted)

    # ------------------------------------------------------------------ dict-like access
    def __getitem__(self, key: str) -> list[Any]:
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(f"history has no key {key!r}; keys are {list(self._data)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        """The number of epochs recorded (not the number of keys)."""
        return len(self.epochs)

    def keys(self) -> list[str]:
        """The recorded quantities, in a fixed order (loss, metrics, val_*, lr, epoch_time)."""
        return list(self._data)

    def items(self) -> list[tuple[str, list[Any]]]:
        return [(k, list(v)) for k, v in self._data.items()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def to_dict(self) -> dict[str, list[Any]]:
        """A plain ``{key: [value per epoch]}`` copy (like Keras's ``history.history``)."""
        return {k: list(v) for k, v in self._data.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return (self.to_dict(), self.epochs, self.interrupted) == (
            other.to_dict(),
            other.epochs,
            other.interrupted,
        )

    def __repr__(self) -> str:
        flag = ", interrupted=True" if self.interrupted else ""
        return f"History(epochs={len(self)}, keys={self.keys()}{flag})"

    def record(self, epoch: int, logs: dict[str, Any]) -> None:
        """Append one epoch's values (``fit`` calls this); absent keys get None."""
        for key in logs:
            if key not in self._data:
                self._data[key] = [None] * len(self.epochs)
        for key, values in self._data.items():
            values.append(logs.get(key))
        self.epochs.append(int(epoch))

    # ------------------------------------------------------------------ JSON
    def save(self, path: str | os.PathLike) -> None:
        """Write the history as JSON, atomically (temp file in the same folder, then replace)."""
        path = Path(path)
        folder = path.parent
        if not folder.is_dir():
            raise FileNotFoundError(f"cannot save the history to {str(path)!r}: no folder {folder}")
        doc = {
            "format": _FORMAT,
            "version": 1,
            "epochs": self.epochs,
            "interrupted": self.interrupted,
            "history": self.to_dict(),
        }
        with atomic_writer(path, "w") as f:
            json.dump(doc, f, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by ``save`` (or a plain JSON ``{key: [values]}``)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(path)!r} is not a JSON history file: {exc}") from exc
        if isinstance(doc, dict) and "history" in doc:
            data, epochs = doc["history"], doc.get("epochs")
            interrupted = bool(doc.get("interrupted", False))
        else:
            data, epochs, interrupted = doc, None, False
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ValueError(f"{str(path)!r} does not hold a history: expected {{key: [values]}}")
        n = len(next(iter(data.values()), []))
        epochs = list(range(1, n + 1)) if epochs is None else epochs
        for key, values in data.items():
            if len(values) != len(epochs):
                raise ValueError(
                    f"{str(path)!r}: key {key!r} has {len(values)} values for {len(epochs)} epochs"
                )
        history = cls(data.keys(), epochs, interrupted)
        for key, values in data.items():
            history._data[key] = list(values)
        return history

    # ------------------------------------------------------------------ plot
    def plot(self, path: str | os.PathLike | None = None) -> Any:
        """Loss and accuracy curves (train vs validation) in two panels; returns the Figure.

        With ``path`` the figure is drawn on matplotlib's Agg canvas (no display needed, the
        global backend is left alone) and saved there; without it the figure is made by pyplot,
        so the current backend can show it. Needs matplotlib (``pip install matplotlib``).
        """
        if not self.epochs:
            raise ValueError("nothing to plot: the history has no completed epoch")
        metric = _plot_metric(self.keys())
        panels = [("loss", "loss")] + ([(metric, metric)] if metric else [])
        fig, axes = _new_figure(len(panels), path is not None)
        for ax, (key, title) in zip(axes, panels, strict=True):
            for name, style in ((key, "-"), (f"val_{key}", "--")):
                values = self._data.get(name)
                if values and any(_is_number(v) for v in values):
                    ys = [v if _is_number(v) else math.nan for v in values]
                    label = "validation" if name.startswith("val_") else "train"
                    ax.plot(self.epochs, ys, style, marker="o", markersize=3, label=label)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(os.fspath(path), dpi=100)
        return fig


def _plot_metric(keys: list[str]) -> str | None:
    """``accuracy`` when recorded, else the first other metric, else None (loss panel only)."""
    if "accuracy" in keys:
        return "accuracy"
    skip = {"loss", "lr", "epoch_time"}
    return next((k for k in keys if k not in skip and not k.startswith("val_")), None)


def _new_figure(panels: int, offscreen: bool) -> tuple[Any, list[Any]]:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "History.plot needs matplotlib: pip install matplotlib "
            "(or pip install 'tinygrad_mlp[examples]')"
        ) from exc
    size = (5.0 * panels, 4.0)
    if offscreen:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=size)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, panels, squeeze=False)[0]
    else:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, panels, figsize=size, squeeze=False)
        axes = axes[0]
    return fig, list(axes)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
