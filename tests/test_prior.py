"""The training-free prior: each term on inputs with known answers, the predictor, real data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from rt_saliency import metrics
from rt_saliency.errors import ConfigError, InputError, InputNotFoundError
from rt_saliency.flow import FlowEstimator, flow_to_input
from rt_saliency.prior import (
    FaceDetector,
    PriorConfig,
    PriorPredictor,
    centre_bias,
    face_map,
    global_motion,
    motion_saliency,
    spectral_residual,
)
from rt_saliency.runtime.predictor import StreamPredictor


def _texture(rng: np.random.Generator, size: int, blur: float = 2.0) -> np.ndarray:
    tex = cv2.GaussianBlur((rng.random((size, size)) * 255).astype(np.uint8), (0, 0), blur)
    return cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)


def _to_chw(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32).transpose(2, 0, 1) / 255.0


def test_centre_bias_peaks_at_centre_and_is_anisotropic() -> None:
    c = centre_bias((56, 80), sigma=(0.2, 0.3))
    assert c.shape == (56, 80) and c.dtype == np.float32
    assert c.max() == pytest.approx(1.0) and c.min() > 0
    peak = np.unravel_index(np.argmax(c), c.shape)
    assert abs(peak[0] - 27.5) <= 1 and abs(peak[1] - 39.5) <= 1
    # same relative offset: the wider horizontal sigma keeps more weight
    assert c[28, 40 + 20] > c[28 + 14, 40]
    with pytest.raises(InputError):
        centre_bias((10, 10), sigma=(0.0, 0.3))


def _panning_scene(rng: np.random.Generator) -> tuple[list[np.ndarray], tuple[slice, slice]]:
    """The camera pans (background content moves by (-3, -1) px); a 48x48 square by (-4, +3)."""
    bg = _texture(rng, 320)
    obj = _texture(rng, 48, blur=1.0)
    frames = []
    for t in range(2):
        x0, y0 = 40 + 3 * t, 40 + 1 * t
        f = bg[y0 : y0 + 224, x0 : x0 + 224].copy()
        ox, oy = 120 - 4 * t, 60 + 3 * t
        f[oy : oy + 48, ox : ox + 48] = obj
        frames.append(cv2.cvtColor(f, cv2.COLOR_GRAY2RGB))
    return frames, (slice(62, 106), slice(118, 164))


def test_motion_lights_moving_square_not_panning_background(rng: np.random.Generator) -> None:
    frames, (ys, xs) = _panning_scene(rng)
    flow = FlowEstimator().compute(frames[0], frames[1])
    camera = global_motion(flow)
    assert np.median(camera[..., 0]) == pytest.approx(-3.0, abs=0.5)
    assert np.median(camera[..., 1]) == pytest.approx(-1.0, abs=0.5)
    m = motion_saliency(flow, (224, 224))
    inner = m[ys, xs][8:-8, 8:-8]
    outside = np.ones_like(m, dtype=bool)
    outside[ys.start - 16 : ys.stop + 16, xs.start - 16 : xs.stop + 16] = False
    assert inner.mean() > 0.7
    assert m[outside].mean() < 0.05
    # raw magnitude would light the background: the camera-motion removal is what matters
    assert np.linalg.norm(flow, axis=2)[outside].mean() > 2.5


def test_spectral_residual_lights_odd_one_out() -> None:
    img = np.full((224, 224), 40, np.uint8)
    for r in range(7):
        for c in range(7):
            cy, cx = 16 + 32 * r, 16 + 32 * c
            if (r, c) == (2, 5):
                img[cy - 8 : cy + 8, cx - 2 : cx + 2] = 220  # the one vertical bar
            else:
                img[cy - 2 : cy + 2, cx - 8 : cx + 8] = 220
    s = spectral_residual(img, (56, 56))
    assert s.shape == (56, 56) and s.min() >= 0 and s.max() == pytest.approx(1.0)
    peak = np.unravel_index(np.argmax(s), s.shape)
    assert abs(peak[0] - 20) <= 2 and abs(peak[1] - 44) <= 2  # the odd bar's cell (2, 5)

    def cell(r: int, c: int) -> float:
        y, x = (16 + 32 * r) // 4, (16 + 32 * c) // 4
        return float(s[y - 2 : y + 3, x - 2 : x + 3].mean())

    same_row = [cell(2, c) for c in range(7) if c != 5]
    assert cell(2, 5) > 2 * max(same_row)
    assert not spectral_residual(np.zeros((50, 50), np.uint8), (8, 8)).any()


def test_face_map_and_detector_plumbing(tmp_path: Path) -> None:
    m = face_map((56, 56), [(100.0, 40.0, 40.0, 40.0)], box_grid=(224, 224))
    peak = np.unravel_index(np.argmax(m), m.shape)
    assert m.max() > 0.95 and abs(peak[0] - 15) <= 1 and abs(peak[1] - 30) <= 1
    assert not face_map((8, 8), [], (224, 224)).any()
    det = FaceDetector()
    if not det.available:
        # The OpenCV 5 wheel here ships no cascade: say so, and find nothing rather than fail.
        assert "face term off" in det.reason
        assert det.detect(np.zeros((224, 224), np.uint8)) == []
        assert not PriorPredictor().faces_available
    else:  # an OpenCV 4.x wheel with the Haar cascade: a flat image has no face
        assert det.detect(np.full((224, 224), 128, np.uint8)) == []
    with pytest.raises(InputNotFoundError):
        FaceDetector(tmp_path / "missing-yunet.onnx")
    with pytest.raises(InputError):
        det.detect(np.zeros((10, 10, 3), np.uint8))


def test_predictor_protocol_shapes_and_smoothing(rng: np.random.Generator) -> None:
    p = PriorPredictor()
    assert isinstance(p, StreamPredictor)
    assert (p.name, p.flow_maps, p.lookahead, p.input_size) == ("prior", 1, 0, (224, 224))
    frames, (ys, xs) = _panning_scene(rng)
    flows = flow_to_input(FlowEstimator().compute(frames[0], frames[1]))
    feat = p.encode(_to_chw(frames[1]), flows)
    assert feat.shape == PriorConfig().work_size and feat.dtype == np.float32
    out, state = p.head(feat[None], p.initial_state())
    assert out.shape == (224, 224) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)
    assert out[ys, xs].mean() > 2 * out.mean() * 0.9  # the moving square stands out
    # EMA: after a map of zeros, the smoothed map is half the previous one (ema = 0.5)
    _, state2 = p.head(np.zeros_like(feat)[None], state)
    np.testing.assert_allclose(state2, 0.5 * state, rtol=1e-6)
    with pytest.raises(InputError):
        p.head(np.zeros((1, 10, 10), np.float32), None)
    with pytest.raises(InputError):
        p.encode(np.zeros((3, 100, 100), np.float32), flows)
    with pytest.raises(InputError):
        p.encode(_to_chw(frames[1]), np.zeros((4, 224, 224), np.float32))
    with pytest.raises(ConfigError):
        PriorConfig(ema=0.0)
    p.close()


def test_zero_motion_equals_motion_off(rng: np.random.Generator) -> None:
    """With nothing moving, the motion weight only rescales: the head's map is unchanged."""
    frame = _to_chw(cv2.cvtColor(_texture(rng, 224), cv2.COLOR_GRAY2RGB))
    on, off = PriorPredictor(), PriorPredictor(PriorConfig(w_motion=0.0))
    zeros = np.zeros((2, 224, 224), np.float32)
    a, _ = on.head(on.encode(frame, zeros)[None], None)
    b, _ = off.head(off.encode(frame, zeros)[None], None)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_prior_on_real_video_follows_people(vtest_avi: Path) -> None:
    cap = cv2.VideoCapture(str(vtest_avi))
    frames = []
    for _ in range(6):
        ok, bgr = cap.read()
        assert ok
        small = cv2.resize(bgr, (224, 224), interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    cap.release()
    est, p = FlowEstimator(), PriorPredictor()
    state = p.initial_state()
    for prev, cur in zip(frames, frames[1:]):
        flow = est.compute(prev, cur)
        out, state = p.head(p.encode(_to_chw(cur), flow_to_input(flow))[None], state)
    moving = np.linalg.norm(flow, axis=2) > 1.0
    assert 0.002 < moving.mean() < 0.3
    assert out[moving].mean() > out[~moving].mean() + 0.1


def test_mit1003_static_prior_beats_centre_bias(mit1003_dir: Path) -> None:
    """Motion off (a still image): the prior scores above the centre-bias map (docs/prior.md)."""
    fix = scipy.io.loadmat(mit1003_dir / "FIXATIONLOCS_i210.mat")["fixations"]
    gt = cv2.imread(str(mit1003_dir / "FIXATIONMAPS_i210.jpg"), cv2.IMREAD_GRAYSCALE)
    bgr = cv2.imread(str(mit1003_dir / "ALLSTIMULI_i210.jpg"))
    rgb = cv2.cvtColor(cv2.resize(bgr, (224, 224), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    p = PriorPredictor()
    prior, _ = p.head(p.encode(_to_chw(rgb), np.zeros((2, 224, 224), np.float32))[None], None)
    centre = centre_bias((224, 224), PriorConfig().centre_sigma)
    assert metrics.cc(prior, gt) > metrics.cc(centre, gt) + 0.05
    assert metrics.nss(prior, fix) > metrics.nss(centre, fix) + 0.2
    assert metrics.auc_judd(prior, fix) > metrics.auc_judd(centre, fix)


def test_report_helpers_measure(mit1003_dir: Path, vtest_avi: Path) -> None:
    from rt_saliency.prior.report import score_mit_sample, time_prior

    table = score_mit_sample(mit1003_dir)
    rows = [r for r in table.splitlines() if r.startswith("| centre") or r.startswith("| prior")]
    assert len(rows) == 2
    cc = [float(r.split("|")[4]) for r in rows]
    assert cc[1] > cc[0]  # prior above centre bias, as the docs say
    lines = time_prior(vtest_avi, frames=4, repeats=1)
    assert "4 of vtest.avi" in lines and float(lines.split("flow excluded): ")[1].split()[0]) > 0
