"""Grad mode and anomaly mode: per-thread switches that every op reads (like PyTorch's)."""

from __future__ import annotations

import threading


class _ModeState(threading.local):
    """Grad mode and anomaly mode, per thread (like PyTorch): a ``no_grad()`` block in one thread
    never stops another thread's training from recording its graph."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False


_state = _ModeState()


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``."""
    return _state.grad_enabled


class set_grad_enabled:
    """Turn graph recording on or off: at once when called, or for a ``with`` block (restored
    when the block ends), as in PyTorch. The mode is per thread."""

    def __init__(self, mode: bool) -> None:
        self.previous = _state.grad_enabled
        _state.grad_enabled = bool(mode)

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self.previous


class _GradModeBlock:
    mode = True

    def __enter__(self) -> None:
        self.previous = _state.grad_enabled
        _state.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self.previous


class no_grad(_GradModeBlock):
    """``with no_grad():`` records nothing inside the block (inference, parameter updates)."""

    mode = False


class enable_grad(_GradModeBlock):
    """``with enable_grad():`` records the graph, even within ``no_grad()`` (optimizer closures)."""

    mode = True
