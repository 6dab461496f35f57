"""Raw optical flow of a recorded video: what the flow cache stores and clips read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rt_saliency.data.layout import VideoRecord
from rt_saliency.data.video import read_frames
from rt_saliency.flow import FlowEstimator
from rt_saliency.imaging import resize_to_input


def compute_raw_flows(
    record: VideoRecord,
    indices: Iterable[int],
    flow_config: Any,
    size: tuple[int, int],
    estimator: Any | None = None,
) -> np.ndarray:
    """Raw flows F^t (frame t-1 -> t, pixels of the ``size`` grid) for ``indices``: (n, H, W, 2).

    F^0 is zero, as the contract says.  Frames are read once each.
    """
    idx = list(indices)
    h, w = size
    out = np.zeros((len(idx), h, w, 2), np.float32)
    if not idx:
        return out
    need = sorted({j for t in idx if t > 0 for j in (t - 1, t)})
    frames = dict(zip(need, (resize_to_input(f, size) for f in read_frames(record, need))))
    est = estimator if estimator is not None else FlowEstimator(flow_config)
    for k, t in enumerate(idx):
        if t > 0:
            out[k] = est.compute(frames[t - 1], frames[t])
    return out
