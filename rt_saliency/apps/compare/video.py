"""``compare`` on one clip: the video (or a frame folder) is one sample; its weights are the
given ground-truth maps (an oracle bound when they also drive the offsets) or each predictor's
own maps, and every predictor gives one saliency encode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.apps.compare.clip import predicted_maps, read_clip, read_maps
from rt_saliency.apps.compare.ladder import CompareConfig, Sample, run_ladder
from rt_saliency.apps.compare.report import common_fields, write_report
from rt_saliency.errors import ConfigError, InputNotFoundError


def compare(video: str | Path, out_dir: str | Path, saliency: str | Path | None = None,
            config: CompareConfig | None = None,
            predictors: Sequence[Any] = ()) -> dict[str, Any]:
    """Run the ladder on one clip; write ``report.json``, ``report.md``, ``rate_quality.png``
    and every encode under ``encodes/``.

    ``saliency``: a folder of per-frame maps (ground truth): they weight the quality and drive
    one ``saliency/ground-truth`` encode (oracle).  ``predictors``: StreamPredictors, each one
    ``saliency/<name>`` encode; without ground truth the first predictor's maps weight the
    quality (the report says so).
    """
    config = config or CompareConfig()
    if not Path(video).exists():
        raise InputNotFoundError(f"no such video or frame folder: {video}")
    if saliency is None and not predictors:
        raise ConfigError("no saliency given: pass a folder of per-frame maps or a predictor")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frames, fps, size = read_clip(video, config.max_frames, config.fps)
    methods: dict[str, list[np.ndarray]] = {}
    if saliency is not None:
        methods["ground-truth"] = read_maps(saliency, len(frames))
    for predictor in predictors:
        methods[getattr(predictor, "name", "predictor")] = predicted_maps(frames, fps, predictor)
    weights_from = next(iter(methods))
    sample = Sample(Path(video).name, frames, methods[weights_from], methods)
    encodes = out / "encodes"
    encodes.mkdir(exist_ok=True)
    points = run_ladder([sample], fps, config, encodes)
    oracle = saliency is not None
    report = {
        "kind": "video",
        "video": str(video),
        "frames": len(frames),
        "size": {"height": size[0], "width": size[1]},
        "fps": float(fps),
        "weights": {
            "source": "ground-truth saliency maps" if oracle else
                      f"predicted saliency ({weights_from})",
            "path": str(saliency) if oracle else None,
            "note": "the ground truth weights every encode; the ground-truth encode is an "
                    "oracle bound" if oracle else "no ground truth: quality is weighted where "
                    "the first predictor says people look (circular for that predictor)",
        },
        **common_fields(config, [sample], points),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_report(report, out)
    return report
