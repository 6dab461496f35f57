"""``compare`` on real human gaze: the still images of gaze-image sets (a split, normally the
fixed test split), each encoded as an I-frame of one all-intra sequence at one size.  Quality
is weighted by each image's fixation density from the human observers (the set's own Gaussian);
the offsets come from the predictors, which never saw these fixations: not circular."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from rt_saliency.apps.compare.ladder import CompareConfig, Sample, run_ladder
from rt_saliency.apps.compare.report import common_fields, write_report
from rt_saliency.apps.evaluate.stills import streaming_predict
from rt_saliency.data.gaze import density_map, load_rgb, open_gaze_sets, scale_points
from rt_saliency.errors import ConfigError, InputError

#: every image is resized to this (rows, cols) so the set is one sequence (OSIE's 4:3)
DEFAULT_SIZE: tuple[int, int] = (480, 640)
#: a still is predicted as a static clip of this many frames (as ``evaluate`` scores stills)
CLIP_FRAMES = 10
FPS = Fraction(25)


def gaze_samples(roots: Sequence[str | Path], split: str, predictors: Sequence[Any],
                 size: tuple[int, int] = DEFAULT_SIZE,
                 limit: int | None = None, progress: bool = False) -> list[Sample]:
    """One sample per image: I420 at ``size``, the human fixation density at ``size``, and each
    predictor's map (``limit``: that many images, evenly spaced over the split)."""
    images = open_gaze_sets(roots, split)
    if limit is not None and limit < len(images):  # evenly spaced: every set keeps its share
        images = [images[i] for i in np.linspace(0, len(images) - 1, limit).round().astype(int)]
    if not images:
        raise InputError(f"no gaze images in split {split!r} of {', '.join(map(str, roots))}")
    if size[0] % 16 or size[1] % 16:
        raise ConfigError(f"the gaze comparison size must be a multiple of 16, got {size}")
    methods = {getattr(p, "name", "predictor"): streaming_predict(p, CLIP_FRAMES)
               for p in predictors}
    samples = []
    for image in tqdm(images, desc="gaze images", unit="img", disable=not progress):
        rgb = load_rgb(image)
        stored = rgb.shape[:2]
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        moved = replace(image, points=scale_points(image.points, stored, size))
        samples.append(Sample(f"{image.dataset}/{image.name}", [frame],
                              [density_map(moved, size)],
                              {name: [predict(rgb)] for name, predict in methods.items()}))
    return samples


def compare_gaze(roots: Sequence[str | Path], out_dir: str | Path,
                 config: CompareConfig | None = None, predictors: Sequence[Any] = (),
                 split: str = "test", size: tuple[int, int] = DEFAULT_SIZE,
                 limit: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Run the ladder over a gaze split (all-intra: ``keyint`` 1); write the report files."""
    config = config or CompareConfig()
    if not predictors:
        raise ConfigError("the gaze comparison needs at least one predictor (--backend)")
    config = replace(config, encoder=replace(config.encoder, keyint=1))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    samples = gaze_samples(roots, split, predictors, size, limit, progress)
    encodes = out / "encodes"
    encodes.mkdir(exist_ok=True)
    points = run_ladder(samples, FPS, config, encodes)
    sets = sorted({s.name.split("/")[0] for s in samples})
    report = {
        "kind": "gaze-images",
        "video": f"{len(samples)} {split} images of {', '.join(sets)}",
        "frames": len(samples),
        "size": {"height": size[0], "width": size[1]},
        "fps": float(FPS),
        "weights": {
            "source": "human fixations (each set's density map)",
            "path": ", ".join(map(str, roots)),
            "note": "each image is one I-frame of an all-intra sequence, resized to the size "
                    "above; offsets from the predictors, quality weighted by the observers' "
                    "fixations (not circular)",
        },
        **common_fields(config, samples, points),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_report(report, out)
    return report
