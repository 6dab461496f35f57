"""Saliency for a whole clip held in memory, through the same pipeline the daemon runs.

Evaluation and the compression report need "the maps a predictor gives for these frames"; they
get them from :func:`predict_clip`, which streams the frames through :class:`Pipeline`, so the
flow, the windows and the recurrent state are exactly the daemon's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.stream.frames import StreamInfo
from rt_saliency.stream.pipeline import Pipeline
from rt_saliency.stream.sinks import CollectSink
from rt_saliency.stream.sources import Source
from rt_saliency.stream.sources.base import Decoded


class ArraySource(Source):
    """A source over a sequence of RGB uint8 frames (all of frame 0's size); never live.

    The sequence may be lazy (frames read from disk on indexing); each frame is read once.
    """

    def __init__(self, frames: Sequence[np.ndarray], fps: float = 25.0, name: str = "array") -> None:
        super().__init__()
        if len(frames) == 0:
            raise InputError(f"{name}: no frames")
        height, width = frames[0].shape[:2]
        self._frames = frames
        self.info = StreamInfo(width=width, height=height, fps=fps, live=False, name=name,
                               frame_count=len(frames))
        self._check(0, frames[0])

    def _check(self, index: int, frame: np.ndarray) -> None:
        expected = (self.info.height, self.info.width, 3)
        if frame.dtype != np.uint8 or frame.shape != expected:
            raise InputError(f"{self.info.name}: frame {index} is {frame.dtype} {frame.shape}, "
                             f"expected uint8 {expected} like frame 0")

    def _generate(self) -> Iterator[Decoded]:
        # frames are checked as they are read: a lazy sequence is read once
        for i in range(len(self._frames)):
            frame = self._frames[i]
            self._check(i, frame)
            yield frame, i / self.info.fps, None


def predict_clip(predictor: Any, frames: Sequence[np.ndarray], fps: float = 25.0,
                 ring_size: int = 8) -> list[np.ndarray]:
    """The predictor's saliency map (float32, its input size, in [0, 1]) for every frame."""
    sink = CollectSink(limit=len(frames))
    with ArraySource(frames, fps) as source:
        Pipeline(source, predictor, [sink], ring_size=ring_size).run()
    maps = [r.saliency for r in sink.records if not isinstance(r, int)]
    if len(maps) != len(frames):
        raise InputError(f"the pipeline returned {len(maps)} maps for {len(frames)} frames")
    return maps
