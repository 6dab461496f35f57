"""Optical flow: known translations recovered, a real video, normalisation and stacking rules."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.flow import (
    FLOW_CLIP,
    FLOW_SCALE,
    FlowConfig,
    FlowEstimator,
    flow_to_input,
    input_to_flow,
    stack_flows,
)
from rt_saliency.imaging import resize_to_input


def _texture(rng: np.random.Generator, size: int = 400) -> np.ndarray:
    tex = cv2.GaussianBlur((rng.random((size, size)) * 255).astype(np.uint8), (0, 0), 2)
    return cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)


def _shifted_pair(
    rng: np.random.Generator, dx: float, dy: float, scale: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Two RGB frames of a real texture, the second translated by (dx, dy) grid pixels."""
    n = 224 * scale
    tex = _texture(rng, n + 200)
    shift = np.float32([[1, 0, dx * scale], [0, 1, dy * scale]])
    moved = cv2.warpAffine(tex, shift, tex.shape[::-1], flags=cv2.INTER_LINEAR)
    a, b = tex[100 : 100 + n, 100 : 100 + n], moved[100 : 100 + n, 100 : 100 + n]
    return cv2.cvtColor(a, cv2.COLOR_GRAY2RGB), cv2.cvtColor(b, cv2.COLOR_GRAY2RGB)


@pytest.mark.parametrize(
    ("method", "preset"),
    [("dis", "ultrafast"), ("dis", "fast"), ("dis", "medium"), ("farneback", "fast")],
)
@pytest.mark.parametrize(("dx", "dy"), [(3.0, -2.0), (1.5, 0.5)])
def test_known_translation_recovered(
    rng: np.random.Generator, method: str, preset: str, dx: float, dy: float
) -> None:
    prev, cur = _shifted_pair(rng, dx, dy)
    flow = FlowEstimator(FlowConfig(method, preset)).compute(prev, cur)
    assert flow.shape == (224, 224, 2) and flow.dtype == np.float32
    inner = flow[40:-40, 40:-40]
    assert abs(np.median(inner[..., 0]) - dx) < 0.5
    assert abs(np.median(inner[..., 1]) - dy) < 0.5


def test_flow_is_in_pixels_of_the_grid(rng: np.random.Generator) -> None:
    """A 448x448 frame moved by 6 px is a 3 px motion on the 224 grid."""
    prev, cur = _shifted_pair(rng, 3.0, 2.0, scale=2)
    assert prev.shape == (448, 448, 3)
    flow = FlowEstimator().compute(prev, cur)
    inner = flow[40:-40, 40:-40]
    assert abs(np.median(inner[..., 0]) - 3.0) < 0.5
    assert abs(np.median(inner[..., 1]) - 2.0) < 0.5


def _two_vtest_frames(path: Path, index: int = 100) -> tuple[np.ndarray, np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        frames = []
        for _ in range(2):
            ok, bgr = cap.read()
            assert ok
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames[0], frames[1]


def test_real_video_static_camera(vtest_avi: Path) -> None:
    """vtest.avi: fixed camera, walking people -> near-zero background, some moving pixels."""
    prev, cur = _two_vtest_frames(vtest_avi)
    assert prev.shape == (576, 768, 3)
    est = FlowEstimator()
    flow = est.compute(prev, cur)
    mag = np.linalg.norm(flow, axis=2)
    assert np.isfinite(flow).all()
    assert np.median(mag) < 0.3  # the background does not move
    assert np.percentile(mag, 99) > 0.5  # the people do
    # a frame with itself has (almost) no flow
    still = est.compute(prev, prev)
    assert np.abs(still).max() < 0.05
    # deterministic: the same pair gives the same flow (caches rely on it)
    np.testing.assert_array_equal(flow, FlowEstimator().compute(prev, cur))


def test_fingerprint_is_stable_and_discriminates() -> None:
    a, b = FlowConfig(), FlowConfig("dis", "ultrafast", (224, 224))
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 16
    others = {
        FlowConfig("dis", "fast").fingerprint(),
        FlowConfig("farneback").fingerprint(),
        FlowConfig(size=(112, 112)).fingerprint(),
    }
    assert a.fingerprint() not in others and len(others) == 3
    assert a.to_dict()["size"] == [224, 224]


def test_normalisation_round_trip() -> None:
    flow = np.zeros((4, 5, 2), dtype=np.float32)
    flow[..., 0] = 8.0
    flow[..., 1] = -3.0
    flow[0, 0] = (100.0, -100.0)  # beyond the clip
    inp = flow_to_input(flow)
    assert inp.shape == (2, 4, 5) and inp.dtype == np.float32
    assert inp[0, 1, 1] == pytest.approx(8.0 / FLOW_SCALE)
    assert inp[:, 0, 0].tolist() == [FLOW_CLIP, -FLOW_CLIP]
    back = input_to_flow(inp)
    np.testing.assert_allclose(back[1:], flow[1:], rtol=1e-6)
    assert back[0, 0].tolist() == [FLOW_CLIP * FLOW_SCALE, -FLOW_CLIP * FLOW_SCALE]


def test_stack_flows_order_and_zeros() -> None:
    size = (6, 7)
    f1 = np.full((*size, 2), 1.6, dtype=np.float32)
    f2 = np.full((*size, 2), -3.2, dtype=np.float32)
    # F^0 is None, then two real flows, the rest (past the stream's end) missing
    out = stack_flows([None, f1, f2], flow_maps=5, size=size)
    assert out.shape == (10, *size) and out.dtype == np.float32
    assert not out[0:2].any() and not out[6:].any()
    np.testing.assert_allclose(out[2:4], flow_to_input(f1))
    np.testing.assert_allclose(out[4:6], flow_to_input(f2))
    pre = stack_flows([flow_to_input(f1)], flow_maps=2, size=size, normalised=True)
    np.testing.assert_allclose(pre[:2], flow_to_input(f1))
    assert not stack_flows([], 3, size=size).any()


def test_errors() -> None:
    with pytest.raises(ConfigError):
        FlowConfig(method="tvl1")
    with pytest.raises(ConfigError):
        FlowConfig(preset="slow")
    est = FlowEstimator()
    with pytest.raises(InputError, match="differ"):
        est.compute(np.zeros((10, 10, 3), np.uint8), np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(InputError, match="RGB"):
        est.compute(np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(InputError, match="2 flow maps for a stack of 1|flow maps"):
        stack_flows([None, None], flow_maps=1)
    with pytest.raises(InputError, match="expected"):
        stack_flows([np.zeros((5, 5, 2))], flow_maps=1, size=(6, 6))


def test_the_stream_prepares_a_full_frame_as_training_prepares_its_resized_frame(
        vtest_avi: Path) -> None:
    """One rule: a full-size frame is resized by the input rule, then greyed (what
    ``data/rawflow.py`` feeds the estimator), so the stream's flow input is training's."""
    with av.open(str(vtest_avi)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    est = FlowEstimator(FlowConfig())
    from_full = est.prepare(frame)
    from_input = est.prepare(resize_to_input(frame, FlowConfig().size))
    np.testing.assert_array_equal(from_full, from_input)
    # greying first (the old order) gives another picture: the test can tell them apart
    grey_first = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (224, 224),
                            interpolation=cv2.INTER_AREA)
    assert np.any(grey_first != from_full)
