"""What a training run reads: the train and validation sets of its roots (video clips and gaze
stills, concatenated) and same-kind batching (a batch holds clips or stills, never both)."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any

from torch.utils.data import ConcatDataset

from rt_saliency.data.clips import ClipDataset
from rt_saliency.data.gaze import is_gaze_collection, open_gaze_sets
from rt_saliency.data.layout import dataset_name, detect_layout, open_datasets, read_dhf1k
from rt_saliency.data.stills import StillDataset

log = logging.getLogger(__name__)


def sample_kinds(dataset: Any) -> list[bool]:
    """Per sample: is it a static clip (a still)?  Batches hold one kind (stills encode once)."""
    parts = dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]
    return [isinstance(p, StillDataset) for p in parts for _ in range(len(p))]


def same_kind_batches(order: list[int], kinds: list[bool], batch_size: int, seed: int,
                      motion_share: float | None = None) -> list[int]:
    """``order`` regrouped so that every batch of ``batch_size`` holds samples of one kind; the
    batches are interleaved in a seeded order (deterministic, so a resumed run continues with the
    batches it would have seen); incomplete batches are dropped.

    ``motion_share``: the least share of an epoch's batches that are motion clips (not stills),
    reached by repeating the clip batches, each repeat drawn in another seeded order (``None``,
    or a share the data already has: as the data has them).
    """
    if batch_size == 1 or len(set(kinds)) < 2:
        return order
    rng = random.Random(seed)
    batches: list[list[int]] = []
    per_kind: dict[bool, list[list[int]]] = {}
    for kind in (False, True):
        same = [i for i in order if kinds[i] == kind]
        per_kind[kind] = [same[k : k + batch_size]
                          for k in range(0, len(same) - batch_size + 1, batch_size)]
        batches += per_kind[kind]
    clips, stills = len(per_kind[False]), len(per_kind[True])
    if motion_share is not None and clips and clips < motion_share * (clips + stills):
        want = math.ceil(motion_share / (1.0 - motion_share) * stills)
        same = [i for i in order if not kinds[i]]
        while clips < want:
            rng.shuffle(same)
            extra = [same[k : k + batch_size]
                     for k in range(0, len(same) - batch_size + 1, batch_size)]
            batches += extra[: want - clips]
            clips += len(extra[: want - clips])
    rng.shuffle(batches)
    return [i for b in batches for i in b]


def _split_roots(roots: list[str]) -> tuple[list[str], list[str]]:
    """(video roots, gaze-image roots) of ``roots``."""
    video, gaze = [], []
    for root in roots:
        (gaze if is_gaze_collection(Path(root)) else video).append(root)
    return video, gaze


def train_dataset(roots: list[str], flow_maps: int, size: tuple[int, ...], flow_cfg: Any,
                  clip_len: int, clip_stride: int | None, flip: float) -> Any:
    """Clips of every video root and static clips of every gaze-image root, concatenated."""
    video, gaze = _split_roots(roots)
    parts: list[Any] = []
    if video:
        parts.append(ClipDataset(open_datasets(video, "train"), flow_maps, size, flow_cfg,
                                 clip_len, clip_stride))
    if gaze:
        parts.append(StillDataset(open_gaze_sets(gaze, "train"), flow_maps, size, clip_len,
                                  flip))
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def val_dataset(roots: list[str], flow_maps: int, size: tuple[int, ...], flow_cfg: Any,
                clip_len: int) -> Any:
    """Validation clips: the val videos of DHF1K-layout roots and the val stills of gaze roots
    (never a test image); None if no root has any."""
    video, gaze = _split_roots(roots)
    parts: list[Any] = []
    records = []
    for root in video:
        if detect_layout(Path(root)) == "dhf1k":
            # a root without val videos has none ([]); a broken val video still raises
            found = read_dhf1k(Path(root), "val", dataset=dataset_name(Path(root)))
            if not found:
                log.info("no validation videos in %s", root)
            records.extend(found)
    if records:
        parts.append(ClipDataset(records, flow_maps, size, flow_cfg, clip_len, clip_len))
    if gaze:
        parts.append(StillDataset(open_gaze_sets(gaze, "val"), flow_maps, size, clip_len))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)
