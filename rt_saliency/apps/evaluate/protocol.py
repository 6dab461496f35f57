"""The scoring protocol of the benchmark evaluation: the paper's Table 2 row (AUC-J, SIM, sAUC, CC, NSS) per data set.

For every data set root and split, the model is run over each video in consecutive clips of
``clip_len`` frames (the training clip: clip k covers frames kT..kT+T-1, the last clip is
shifted back to end at the last frame), and every ``stride``-th frame (at most ``max_frames`` a
video) is scored against the ground truth *at the ground truth's own resolution* (the metrics
resize the prediction, as the MIT code does).  Beside the model, a centre-bias baseline (an
anisotropic Gaussian at the frame centre with sigma = ``centre_sigma`` x width / height, the
same map for every frame) is scored on the same frames.

Protocol (DHF1K's, see ``docs/training.md``): metrics are averaged over a video's frames, then
over the videos; frames without fixations are skipped for the fixation metrics (AUC-J, sAUC,
NSS); sAUC's negatives are fixations of ``sauc_maps`` random frames of *other* videos of the
same data set, 100 splits.  Results are plain dicts, written as JSON and as a Markdown table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rt_saliency import metrics
from rt_saliency.data.layout import dataset_name, open_dataset
from rt_saliency.data.video import read_fixations, read_map
from rt_saliency.errors import ConfigError

log = logging.getLogger(__name__)

#: the paper's Table 2 columns, in its order
METRICS: tuple[str, ...] = ("auc_j", "sim", "sauc", "cc", "nss")
METRIC_TITLES = {"auc_j": "AUC-J", "sim": "SIM", "sauc": "s-AUC", "cc": "CC", "nss": "NSS"}
BASELINE_NAME = "centre bias"


@dataclass(frozen=True)
class EvalOptions:
    """How much of a split to score and how."""

    split: str = "test"
    stride: int = 1
    max_frames: int | None = None
    max_videos: int | None = None
    clip_len: int = 5
    centre_sigma: float = 0.25
    sauc_maps: int = 10
    sauc_splits: int = 100
    seed: int = 0

    def validate(self) -> None:
        if self.stride < 1 or self.clip_len < 1:
            raise ConfigError("--stride and --clip-len must be >= 1")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError("--max-frames must be >= 1")
        if self.max_videos is not None and self.max_videos < 1:
            raise ConfigError("--max-videos must be >= 1")
        if not 0 < self.centre_sigma <= 10:
            raise ConfigError("centre sigma must be in (0, 10] (fraction of the frame size)")


def centre_bias(shape: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """Centre-bias map of ``shape``: Gaussian at the centre, sigma = ``sigma`` x each dimension."""
    h, w = shape
    y = (np.arange(h) + 0.5 - h / 2) / (sigma * h)
    x = (np.arange(w) + 0.5 - w / 2) / (sigma * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)


class _Accumulator:
    """Per-video means of each metric, then the mean over videos."""

    def __init__(self) -> None:
        self.per_video: dict[str, dict[str, list[float]]] = {}

    def add(self, video: str, metric: str, value: float) -> None:
        self.per_video.setdefault(video, {}).setdefault(metric, []).append(value)

    def result(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for m in METRICS:
            means = [np.mean(v[m]) for v in self.per_video.values() if v.get(m)]
            out[m] = float(np.mean(means)) if means else float("nan")
        return out


def _frames_to_score(n: int, opts: EvalOptions) -> list[int]:
    frames = list(range(0, n, opts.stride))
    return frames[: opts.max_frames] if opts.max_frames is not None else frames


def clip_start(t: int, n: int, clip_len: int) -> int:
    return min((t // clip_len) * clip_len, max(n - clip_len, 0))


def score_frame(
    acc: _Accumulator,
    video: str,
    sal: np.ndarray,
    gt: np.ndarray,
    fix: np.ndarray,
    other: np.ndarray | None,
    rng: np.random.Generator,
    opts: EvalOptions,
) -> None:
    acc.add(video, "sim", metrics.sim(sal, gt))
    acc.add(video, "cc", metrics.cc(sal, gt))
    if fix.any():
        acc.add(video, "auc_j", metrics.auc_judd(sal, fix, rng=rng))
        acc.add(video, "nss", metrics.nss(sal, fix))
        if other is not None:
            acc.add(video, "sauc", metrics.auc_shuffled(sal, fix, other, opts.sauc_splits, rng))


#: ``predict(record, wanted, emit)`` calls ``emit(t, saliency)`` for each wanted frame, in order
Predict = Callable[[Any, list[int], Callable[[int, np.ndarray], None]], None]


def evaluate_videos(roots: Sequence[str | Path], opts: EvalOptions, method: str,
              make_predict: Callable[[list[Any]], Predict], progress: bool = False) -> dict[str, Any]:
    """Score ``method``'s maps and the centre-bias baseline on each root's split.

    ``make_predict(records)`` is called once per data set root with its videos and returns the
    function that produces the maps of one video.
    """
    opts.validate()
    rows: list[dict[str, Any]] = []
    for root in roots:
        records = open_dataset(root, opts.split)
        if opts.max_videos is not None:
            records = records[: opts.max_videos]
        # Pass 1: every scored frame's fixations as coordinates (sAUC negatives, bounded memory).
        fix_points: list[list[tuple[np.ndarray, tuple[int, int]]]] = []
        for rec in records:
            pts = []
            for t in _frames_to_score(rec.num_frames, opts):
                f = read_fixations(rec, t)
                if f.any():
                    pts.append((np.argwhere(f), f.shape))
            fix_points.append(pts)
        predict = make_predict(records)
        rng = np.random.default_rng(opts.seed)
        model_acc, base_acc = _Accumulator(), _Accumulator()
        n_frames = 0
        videos: Any = records
        if progress:
            videos = tqdm(records, desc=f"evaluate {dataset_name(Path(root))}", unit="video")
        for v, rec in enumerate(videos):
            others = [p for j, pts in enumerate(fix_points) if j != v for p in pts]
            video = f"{rec.dataset}/{rec.name}"

            def emit(t: int, sal: np.ndarray, rec: Any = rec, others: list = others,
                     video: str = video) -> None:
                nonlocal n_frames
                gt = read_map(rec, t)
                fix = read_fixations(rec, t)
                other = _negatives(others, gt.shape, opts, rng) if others else None
                score_frame(model_acc, video, sal, gt, fix, other, rng, opts)
                score_frame(base_acc, video, centre_bias(gt.shape, opts.centre_sigma), gt, fix,
                       other, rng, opts)
                n_frames += 1

            predict(rec, _frames_to_score(rec.num_frames, opts), emit)
        ds = dataset_name(Path(root))
        for name, acc in ((method, model_acc), (BASELINE_NAME, base_acc)):
            rows.append({"dataset": ds, "method": name, **acc.result(),
                         "videos": len(records), "frames": n_frames})
    return {"split": opts.split, "options": _plain(opts), "rows": rows}


def _negatives(
    others: list[tuple[np.ndarray, tuple[int, int]]],
    shape: tuple[int, int],
    opts: EvalOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """Union of the fixations of ``sauc_maps`` random frames of other videos, at ``shape``."""
    pick = rng.choice(len(others), size=min(opts.sauc_maps, len(others)), replace=False)
    maps = []
    for i in pick:
        pts, src = others[int(i)]
        m = np.zeros(src, bool)
        m[pts[:, 0], pts[:, 1]] = True
        maps.append(m)
    return metrics.sauc_negatives(maps, shape, n_maps=None)


def _plain(opts: EvalOptions) -> dict[str, Any]:
    return asdict(opts)


