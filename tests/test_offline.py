"""predict_clip: the daemon's pipeline over frames in memory, one map per frame."""

from __future__ import annotations

import numpy as np
import pytest

from rt_saliency.errors import InputError, PipelineError
from rt_saliency.prior import PriorPredictor
from rt_saliency.stream.offline import ArraySource, predict_clip


def _moving_square(n: int = 8, size: tuple[int, int] = (96, 128)) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    background = rng.integers(60, 120, (*size, 3), dtype=np.uint8)
    frames = []
    for t in range(n):
        frame = background.copy()
        x = 10 + 8 * t
        frame[40:60, x:x + 20] = 250
        frames.append(frame)
    return frames


def test_predict_clip_one_map_per_frame_on_the_mover() -> None:
    frames = _moving_square()
    maps = predict_clip(PriorPredictor(), frames, fps=10)
    assert len(maps) == len(frames)
    sal = maps[5]
    assert sal.shape == (224, 224) and sal.dtype == np.float32
    # the square at frame 5 spans x 50..70 of 128, y 40..60 of 96 -> scale to 224
    ys, xs = slice(int(40 * 224 / 96), int(60 * 224 / 96)), slice(int(50 * 224 / 128), int(70 * 224 / 128))
    assert sal[ys, xs].mean() > 2 * sal.mean()


def test_array_source_refuses_mixed_sizes() -> None:
    with pytest.raises(PipelineError) as info:  # found mid-stream, in the source stage
        predict_clip(PriorPredictor(), [np.zeros((32, 32, 3), np.uint8),
                                               np.zeros((32, 40, 3), np.uint8)])
    assert isinstance(info.value.__cause__, InputError)
    with pytest.raises(InputError):
        ArraySource([])
    with pytest.raises(InputError):
        ArraySource([np.zeros((8, 8), np.float32)])
