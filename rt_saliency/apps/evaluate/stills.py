"""Scoring streaming predictors on still images with real fixations, as the daemon serves them.

Each image becomes a static clip of ``clip_frames`` frames at its stored size and goes through
:class:`rt_saliency.stream.pipeline.Pipeline` (the daemon's resize, flow, windows and carried
recurrent state); the map of frame ``clip_frames - lookahead - 1`` (the last one with a full
lookahead window, after the state has run over the frames before it) is scored at the image's
own resolution against the fixations of every observer and the map rendered by the set's rule.

Metrics (``rt_saliency.metrics``, MIT-benchmark semantics): AUC-J, SIM, s-AUC, CC, NSS, KLD.
s-AUC negatives are the fixations of ``sauc_maps`` random other images of the same set.
Rows: per set and pooled (the mean over all images of all sets), for every method and for the
centre-bias baseline (a Gaussian at the centre, sigma = 0.25 x each side).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from rt_saliency import metrics
from rt_saliency.apps.evaluate.protocol import centre_bias
from rt_saliency.data.gaze import (
    GazeImage,
    density_map,
    fixation_pixels,
    load_rgb,
    open_gaze_sets,
    scale_points,
)
from rt_saliency.errors import ConfigError
from rt_saliency.stream.offline import predict_clip

STILL_METRICS = ("auc_j", "sim", "sauc", "cc", "nss", "kld")
POOLED = "pooled"


@dataclass(frozen=True)
class StillEvalOptions:
    """How stills are scored (see the module docstring)."""

    split: str = "test"
    clip_frames: int = 10
    sauc_maps: int = 10
    sauc_splits: int = 100
    centre_sigma: float = 0.25
    seed: int = 0
    max_images: int | None = None

    def validate(self) -> None:
        if self.clip_frames < 2 or self.sauc_maps < 1 or self.sauc_splits < 1:
            raise ConfigError("clip_frames must be >= 2, sauc_maps and sauc_splits >= 1")


def _fixations(image: GazeImage, shape: tuple[int, int]) -> np.ndarray:
    fix = np.zeros(shape, bool)
    rows, cols = fixation_pixels(image.points, shape)
    fix[rows, cols] = True
    return fix


def _negatives(image: GazeImage, same_set: list[GazeImage], shape: tuple[int, int],
               n: int, rng: np.random.Generator, sizes: dict[str, tuple[int, int]]) -> np.ndarray:
    """Fixations of ``n`` other images of the set, moved onto ``shape`` by their coordinates."""
    others = [o for o in same_set if o.name != image.name]
    pick = rng.choice(len(others), size=min(n, len(others)), replace=False)
    neg = np.zeros(shape, bool)
    for i in pick:
        other = others[int(i)]
        pts = scale_points(other.points, sizes[other.key], shape)
        rows, cols = fixation_pixels(pts, shape)
        neg[rows, cols] = True
    return neg


def score_map(sal: np.ndarray, gt: np.ndarray, fix: np.ndarray, negatives: np.ndarray | None,
              rng: np.random.Generator, sauc_splits: int) -> dict[str, float]:
    """The six metrics of one predicted map (any size: the metrics resize it to ``gt``'s)."""
    out = {
        "sim": metrics.sim(sal, gt),
        "cc": metrics.cc(sal, gt),
        "kld": metrics.kld(sal, gt),
        "auc_j": metrics.auc_judd(sal, fix, rng=rng),
        "nss": metrics.nss(sal, fix),
    }
    if negatives is not None and negatives.any():
        out["sauc"] = metrics.auc_shuffled(sal, fix, negatives, sauc_splits, rng)
    return {k: float(v) for k, v in out.items()}


#: a method: ``predict(rgb uint8 (H, W, 3) at the stored size) -> saliency map``
StillPredict = Callable[[np.ndarray], np.ndarray]


def streaming_predict(predictor: Any, clip_frames: int) -> StillPredict:
    """A method that runs ``predictor`` over a static clip through the daemon's pipeline."""
    lookahead = int(getattr(predictor, "lookahead", 0))
    index = max(0, clip_frames - lookahead - 1)

    def predict(rgb: np.ndarray) -> np.ndarray:
        return predict_clip(predictor, [rgb] * clip_frames)[index]

    return predict


def evaluate_stills(
    methods: dict[str, StillPredict],
    roots: Sequence[str | Path],
    opts: StillEvalOptions | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score every method (and the centre bias) on the ``opts.split`` images of ``roots``."""
    opts = opts or StillEvalOptions()
    opts.validate()
    images = open_gaze_sets(roots, opts.split)
    if opts.max_images is not None:
        images = images[: opts.max_images]
    if not images:
        raise ConfigError(f"no {opts.split} images under {', '.join(map(str, roots))}")
    by_set: dict[str, list[GazeImage]] = {}
    for im in images:
        by_set.setdefault(im.dataset, []).append(im)
    sizes: dict[str, tuple[int, int]] = {}
    scores: dict[str, dict[str, list[dict[str, float]]]] = {}
    names = [*methods, "centre bias"]
    bar = tqdm(images, desc="stills", unit="image", disable=not progress)
    for k, image in enumerate(bar):
        rgb = load_rgb(image)
        shape = rgb.shape[:2]
        sizes[image.key] = shape
        for other in by_set[image.dataset]:
            if other.key not in sizes:
                sizes[other.key] = _stored_size(other)
        gt = density_map(image, shape)
        fix = _fixations(image, shape)
        rng = np.random.default_rng(opts.seed + k)
        negatives = _negatives(image, by_set[image.dataset], shape, opts.sauc_maps, rng, sizes)
        for name in names:
            sal = (centre_bias(shape, opts.centre_sigma) if name == "centre bias"
                   else methods[name](rgb))
            row = score_map(sal, gt, fix, negatives, np.random.default_rng(opts.seed + k),
                            opts.sauc_splits)
            scores.setdefault(name, {}).setdefault(image.dataset, []).append(row)
    rows = []
    for name in names:
        pooled: list[dict[str, float]] = []
        for dataset, per_image in scores[name].items():
            rows.append(_row(dataset, name, per_image))
            pooled.extend(per_image)
        rows.append(_row(POOLED, name, pooled))
    return {"split": opts.split, "options": asdict(opts), "images": len(images), "rows": rows}


def _row(dataset: str, method: str, per_image: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"dataset": dataset, "method": method, "images": len(per_image)}
    for m in STILL_METRICS:
        values = [s[m] for s in per_image if m in s]
        row[m] = float(np.mean(values)) if values else None
    return row


def _stored_size(image: GazeImage) -> tuple[int, int]:
    grey = cv2.imread(str(image.path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ConfigError(f"cannot read {image.path}")
    return grey.shape[:2]


def stills_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    head = "| set | method | images | " + " | ".join(m.upper() for m in STILL_METRICS) + " |"
    lines = [head, "|" + " --- |" * 3 + " ---: |" * len(STILL_METRICS)]
    for r in report["rows"]:
        vals = " | ".join("-" if r[m] is None else f"{r[m]:.3f}" for m in STILL_METRICS)
        lines.append(f"| {r['dataset']} | {r['method']} | {r['images']} | {vals} |")
    return "\n".join(lines) + "\n"
