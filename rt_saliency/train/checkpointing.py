"""Training checkpoints: the model's own format plus the state needed to resume.

The file is written by :func:`rt_saliency.model.save_checkpoint` (weights + model config, and
``config.json`` beside it); the ``extra`` entries add the optimizer, scheduler, AMP scaler,
epoch, step, position in the epoch, RNG states and the training options.  Everything is a tensor
or a plain value, so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from rt_saliency.errors import WeightsError
from rt_saliency.model import load_checkpoint, save_checkpoint


def rng_state() -> dict[str, Any]:
    """Python, torch CPU and CUDA RNG states as plain values / tensors."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_gauss": random.getstate()[2],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(int(x) for x in state["python"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any | None,
    progress: dict[str, Any],
    options: dict[str, Any],
) -> Path:
    """Write a resumable checkpoint (``progress``: epoch, step, epoch_step, best, ...)."""
    extra = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "progress": dict(progress),
        "rng": rng_state(),
        "train_options": dict(options),
    }
    if scaler is not None:
        extra["scaler"] = scaler.state_dict()
    return save_checkpoint(path, model, extra)


def load_training_state(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any | None,
) -> dict[str, Any]:
    """Restore everything :func:`save_training_state` wrote; return its ``progress`` dict."""
    _, data = load_checkpoint(path, model)
    for key in ("optimizer", "scheduler", "progress", "rng"):
        if key not in data:
            raise WeightsError(f"{path} holds weights only, not a resumable training state")
    optimizer.load_state_dict(data["optimizer"])
    scheduler.load_state_dict(data["scheduler"])
    if scaler is not None and "scaler" in data:
        scaler.load_state_dict(data["scaler"])
    set_rng_state(data["rng"])
    return dict(data["progress"])
