"""Weights shipped inside the package (timm's ``pretrained=True``): where they are, their hash,
their model card, and how a training run becomes one.

A shipped set is ``rt_saliency/assets/<file>.pt`` (an ordinary checkpoint, tensors stored in
FP16 to halve the package, loaded into an FP32 model) beside ``<file>.json`` (its SHA-256, the
flow settings it was trained with, the recipe and the measured metrics), ``<file>.md`` (the
model card) and, optionally, ``<file>.encoder.int8.onnx`` (its encoder quantized to INT8 and
calibrated on real frames, what ONNX Runtime serves on the CPU by default).  Loading checks the hash, so a damaged file fails with :class:`WeightsError` instead
of serving wrong maps.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rt_saliency.artifacts import file_sha256
from rt_saliency.errors import ConfigError, WeightsError
from rt_saliency.model.checkpoint import load_checkpoint, read_checkpoint
from rt_saliency.model.tpcmrnet import TPCMRNet

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@dataclass(frozen=True)
class Pretrained:
    """One shipped set of weights."""

    name: str
    stem: str
    description: str

    @property
    def weights(self) -> Path:
        return ASSETS / f"{self.stem}.pt"

    @property
    def sidecar(self) -> Path:
        return ASSETS / f"{self.stem}.json"

    @property
    def card(self) -> Path:
        return ASSETS / f"{self.stem}.md"

    @property
    def int8_encoder(self) -> Path:
        """The calibrated INT8 encoder graph shipped beside the weights (ONNX Runtime, CPU)."""
        return ASSETS / f"{self.stem}.encoder.int8.onnx"


PRETRAINED: dict[str, Pretrained] = {
    "tpcmrnet-gaze": Pretrained(
        "tpcmrnet-gaze", "tpcmrnet_gaze",
        "TP-CMRNet (S=9) trained from scratch on real fixations (OSIE, EyeCrowd, NUS Scene "
        "stills) and synthetic moving objects: recipe gaze-cpu",
    ),
    "tpcmrnet-fast-gaze": Pretrained(
        "tpcmrnet-fast-gaze", "tpcmrnet_fast_gaze",
        "the CPU profile tpcmrnet_fast (S=3, 0.49 M parameters) trained like tpcmrnet-gaze: "
        "recipe gaze-cpu with --model tpcmrnet_fast",
    ),
}
#: what ``--backend auto`` serves when no weights are given
DEFAULT_PRETRAINED = "tpcmrnet-gaze"


def get_pretrained(name: str = DEFAULT_PRETRAINED) -> Pretrained:
    if name not in PRETRAINED:
        raise ConfigError(f"unknown pretrained weights {name!r}; known: {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def is_available(name: str = DEFAULT_PRETRAINED) -> bool:
    """Whether the package holds the weights ``name`` (and their sidecar)."""
    entry = get_pretrained(name)
    return entry.weights.is_file() and entry.sidecar.is_file()


def pretrained_info(name: str = DEFAULT_PRETRAINED) -> dict[str, Any]:
    """The sidecar of ``name``: hash, flow settings, recipe, metrics."""
    entry = get_pretrained(name)
    if not is_available(name):
        raise WeightsError(f"the package has no {name} weights ({entry.weights} missing)")
    return json.loads(entry.sidecar.read_text())


def pretrained_path(name: str = DEFAULT_PRETRAINED) -> Path:
    """The checked path of the shipped weights ``name`` (hash verified)."""
    entry = get_pretrained(name)
    info = pretrained_info(name)
    actual = file_sha256(entry.weights)
    if actual != info.get("sha256"):
        raise WeightsError(f"{entry.weights} is damaged: SHA-256 {actual[:16]}... differs from "
                           f"its sidecar's {str(info.get('sha256'))[:16]}...")
    return entry.weights


def pretrained_int8_encoder(name: str = DEFAULT_PRETRAINED) -> Path | None:
    """The checked path of the INT8 encoder graph shipped with ``name`` (hash verified), or
    ``None`` when the package has none."""
    entry = get_pretrained(name)
    info = pretrained_info(name).get("int8_encoder")
    if info is None or not entry.int8_encoder.is_file():
        return None
    actual = file_sha256(entry.int8_encoder)
    if actual != info.get("sha256"):
        raise WeightsError(f"{entry.int8_encoder} is damaged: SHA-256 {actual[:16]}... differs "
                           f"from its sidecar's {str(info.get('sha256'))[:16]}...")
    return entry.int8_encoder


def resolve_weights(weights: str | os.PathLike[str]) -> Path:
    """``weights`` as a checkpoint path: the checked file of a shipped set when it is one's name
    (``"tpcmrnet-fast-gaze"``, as timm's ``pretrained=True``), else the path given."""
    if str(weights) in PRETRAINED:
        return pretrained_path(str(weights))
    return Path(weights)


def load_pretrained(name: str = DEFAULT_PRETRAINED) -> TPCMRNet:
    """The FP32 model of the shipped weights ``name``, in eval mode."""
    model, _ = load_checkpoint(pretrained_path(name))
    return model.float().eval()


def ship_checkpoint(
    checkpoint: str | os.PathLike[str], name: str, info: dict[str, Any]
) -> Path:
    """Write a training checkpoint's weights as the shipped set ``name`` (FP16 tensors, no
    optimizer state) with its sidecar; ``info`` (recipe, metrics, data) goes into the sidecar.
    The model card is written by hand next to it."""
    entry = get_pretrained(name)
    data = read_checkpoint(checkpoint)
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in data["model"].items()}
    payload = {"format": data["format"], "config": data["config"], "model": weights}
    ASSETS.mkdir(parents=True, exist_ok=True)
    tmp = entry.weights.with_name(entry.weights.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, entry.weights)
    options = data.get("train_options") or {}
    sidecar = {
        "name": name,
        "sha256": file_sha256(entry.weights),
        "bytes": entry.weights.stat().st_size,
        "config": data["config"],
        "flow": {"method": options.get("flow_method"), "preset": options.get("flow_preset")},
        "train_step": data.get("step") or (data.get("progress") or {}).get("step"),
        **info,
    }
    entry.sidecar.write_text(json.dumps(sidecar, indent=2) + "\n")
    return entry.weights
