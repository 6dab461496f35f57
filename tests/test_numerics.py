"""The numerics harness: a watched stream reports bounded state rows for every frame, layer
maxima come from real forward hooks, and the FP16 conversion loads in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rt_saliency.bench.numerics import LoopedFrames, activation_bound, stream_bounds
from rt_saliency.model import create_model
from rt_saliency.runtime.registry import open_predictor


def _frames(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


def test_looped_frames_repeat_a_short_clip(rng: np.random.Generator) -> None:
    frames = _frames(3, rng)
    loop = LoopedFrames(frames, 8)
    assert len(loop) == 8 and loop[7] is frames[1]
    with pytest.raises(IndexError):
        loop[8]


def test_stream_bounds_cover_every_frame(rng: np.random.Generator) -> None:
    with open_predictor("onnxruntime", lookahead=1) as predictor:  # the shipped weights
        rows = stream_bounds(predictor, LoopedFrames(_frames(4, rng), 25), every=10)
    assert [(r.first, r.last) for r in rows] == [(0, 9), (10, 19), (20, 24)]
    for r in rows:
        assert 0 < r.max_abs_h <= 1.0  # h = o * tanh(c)
        assert 0 < r.max_abs_c < 1e3 and 0 < r.max_abs_features < 1e4
        assert 0.0 <= r.saliency_min <= r.saliency_max <= 1.0


def test_activation_bound_sees_every_layer(rng: np.random.Generator) -> None:
    model = create_model("tpcmrnet_s3", input_size=(32, 32))
    stills = [rng.random((3, 32, 32), dtype=np.float32) for _ in range(2)]
    bound = activation_bound(model, stills, clip_frames=3, burn_in=2)
    assert bound.images == 2 and np.isfinite(bound.max_abs) and bound.max_abs > 0
    assert "Conv2d" in bound.per_kind and max(bound.per_kind.values()) == bound.max_abs


def test_fp16_graphs_load_and_agree(tmp_path: Path, rng: np.random.Generator) -> None:
    from rt_saliency.bench.numerics import convert_fp16, fp16_parity
    from rt_saliency.deploy.export_cache import cached_onnx
    from rt_saliency.model import pretrained

    encoder, _ = cached_onnx(pretrained.pretrained_path(), 1, tmp_path / "fp32")
    half_dir = convert_fp16(encoder.parent, tmp_path / "fp16")
    frames = _frames(6, rng)
    with open_predictor("onnxruntime", engine_dir=encoder.parent, lookahead=1) as ref, \
            open_predictor("onnxruntime", engine_dir=half_dir, lookahead=1) as half:
        parity = fp16_parity(ref, half, frames)
    assert parity.frames == 6 and parity.cc_min > 0.99 and parity.max_abs < 0.1
