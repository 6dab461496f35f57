"""Checkpoints: a dict of tensors and plain values, loaded with ``torch.load(weights_only=True)``.

Layout: ``{"format": 1, "config": TPCMRNetConfig.to_dict(), "model": state_dict, **extra}``;
``config.json`` is written beside the weights so a human (and ``rt-saliency info``) can read it.
``extra`` may hold anything ``weights_only`` accepts (optimizer state, epoch, metrics ...).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from rt_saliency.errors import ConfigError, InputNotFoundError, WeightsError
from rt_saliency.model.config import TPCMRNetConfig
from rt_saliency.model.tpcmrnet import TPCMRNet

CHECKPOINT_FORMAT = 1
_RESERVED = ("format", "config", "model")


def save_checkpoint(
    path: str | os.PathLike[str], model: TPCMRNet, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s weights and config to ``path`` (atomically), ``config.json`` beside it."""
    path = Path(path)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel / DataParallel
    extra = dict(extra or {})
    clash = [k for k in _RESERVED if k in extra]
    if clash:
        raise ConfigError(f"extra checkpoint keys clash with reserved ones: {clash}")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    config_json = path.parent / "config.json"
    config_json.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    return path



def _check_magic(path: str | Path) -> None:
    """Refuse files that are neither torch's zip format nor a pickle before unpickling them."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise WeightsError(f"{path} is not a checkpoint (empty file)")
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise WeightsError(f"{path} is not a PyTorch checkpoint (neither a zip archive nor a "
                           "pickle)")

def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load and validate a checkpoint dict (safe: ``weights_only=True``), raising WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"checkpoint not found: {path}")
    _check_magic(path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text suggests weights_only=False: never pass that advice on
        detail = [ln.strip() for ln in str(exc).splitlines() if "WeightsUnpickler" in ln]
        raise WeightsError(
            f"{path} is not a weights-only checkpoint (it holds objects that are not tensors or "
            f"plain values, refused for safety){': ' + detail[0] if detail else ''}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on a garbage file
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise WeightsError(f"{path} is not a readable checkpoint ({text})") from exc
    if not isinstance(data, dict) or "model" not in data or "config" not in data:
        raise WeightsError(f"{path} is not an rt-saliency checkpoint (no 'model'/'config' entries)")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path}: unsupported checkpoint format {data.get('format')!r}")
    return data


def load_checkpoint(
    path: str | os.PathLike[str],
    model: TPCMRNet | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[TPCMRNet, dict[str, Any]]:
    """Load weights into ``model`` (or a model built from the stored config when None).

    Returns the model and the whole checkpoint dict (for ``extra`` entries).  A file whose
    config or tensors do not fit ``model`` is a :class:`WeightsError`.
    """
    data = read_checkpoint(path, map_location)
    try:
        stored = TPCMRNetConfig.from_dict(data["config"])
    except ConfigError as exc:
        raise WeightsError(f"{path}: bad stored config: {exc}") from exc
    if model is None:
        model = TPCMRNet(stored)
    else:
        model = getattr(model, "module", model)  # DistributedDataParallel / DataParallel wrapper
        mine, theirs = model.config.to_dict(), stored.to_dict()
        mine.pop("name"), theirs.pop("name")
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        if diff:
            detail = ", ".join(f"{k}: file {theirs.get(k)!r} vs model {mine[k]!r}" for k in diff)
            raise WeightsError(f"{path} was saved from another architecture ({detail})")
    try:
        model.load_state_dict(data["model"], strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: weights do not fit the model: {exc}") from exc
    return model, data
