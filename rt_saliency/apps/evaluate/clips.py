"""Evaluation of a TP-CMRNet checkpoint over each video's training-length clips, as trained."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rt_saliency.apps.evaluate.protocol import (
    EvalOptions,
    Predict,
    clip_start,
    evaluate_videos,
)
from rt_saliency.data.clips import ClipDataset
from rt_saliency.flow import flow_config_for
from rt_saliency.model import load_checkpoint


def evaluate_model(
    model: Any,
    roots: Sequence[str | Path],
    opts: EvalOptions,
    flow_config: Any | None = None,
    model_name: str | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Score ``model`` (a TP-CMRNet, run over clips as trained) and the centre-bias baseline."""
    model = model.to(device).eval()
    size = tuple(model.config.input_size)

    def make_predict(records: list[Any]) -> Predict:
        dset = ClipDataset(records, model.config.flow_maps, size, flow_config, opts.clip_len)

        def predict(rec: Any, wanted: list[int], emit: Callable[[int, np.ndarray], None]) -> None:
            _predict_clips(model, dset, rec, wanted, emit, opts.clip_len, device)

        return predict

    return evaluate_videos(roots, opts, model_name or model.config.name, make_predict, progress)


def _predict_clips(model: Any, dset: Any, rec: Any, wanted: list[int],
                   emit: Callable[[int, np.ndarray], None], clip_len: int, device: str) -> None:
    """Run ``model`` over the training-length clips that hold the wanted frames."""
    preds: dict[int, np.ndarray] = {}
    length = min(clip_len, rec.num_frames)
    for t in wanted:
        if t not in preds:
            start = clip_start(t, rec.num_frames, length)
            sample = dset.clip(rec, start, length)
            with torch.no_grad():
                out = model(
                    torch.from_numpy(sample["frames"])[None].to(device),
                    torch.from_numpy(sample["flows"])[None].to(device),
                )
            maps = out[0, :, 0].float().cpu().numpy()
            for k in range(length):
                if start + k in wanted:
                    preds[start + k] = maps[k]
        emit(t, preds.pop(t))



def evaluate(
    weights: str | Path,
    roots: Sequence[str | Path],
    opts: EvalOptions,
    device: str = "cpu",
    flow_method: str | None = None,
    flow_preset: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Load a checkpoint (``weights_only``) and :func:`evaluate_model` it.

    The flow settings default to those the checkpoint was trained with (its ``train_options``),
    so evaluation sees the flow training saw.
    """
    model, data = load_checkpoint(weights, map_location=device)
    trained = data.get("train_options") or {}
    method = flow_method if flow_method is not None else trained.get("flow_method")
    preset = flow_preset if flow_preset is not None else trained.get("flow_preset")
    flow_config = flow_config_for(method, preset, tuple(model.config.input_size))
    report = evaluate_model(model, roots, opts, flow_config, device=device, progress=progress)
    report["weights"] = str(weights)
    report["flow"] = flow_config.to_dict()
    return report
