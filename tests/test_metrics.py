"""Saliency metrics: known answers on synthetic maps, and the real MIT1003 sample."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from rt_saliency import metrics
from rt_saliency.errors import InputError, UserError


def _blob(shape: tuple[int, int], centre: tuple[float, float], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


@pytest.fixture
def scene(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A GT map made of two blobs and fixations drawn from it."""
    shape = (60, 80)
    gt = _blob(shape, (20, 25), 5) + 0.6 * _blob(shape, (40, 60), 6)
    p = gt.ravel() / gt.sum()
    idx = rng.choice(gt.size, size=40, replace=False, p=p)
    fix = np.zeros(shape, dtype=np.uint8)
    fix.flat[idx] = 1
    return {"gt": gt, "fix": fix}


def test_constant_map_is_chance(scene: dict[str, np.ndarray]) -> None:
    const = np.full_like(scene["gt"], 0.3)
    assert metrics.auc_judd(const, scene["fix"]) == 0.5
    other = np.ones_like(scene["fix"])
    assert metrics.auc_shuffled(const, scene["fix"], other, n_splits=5) == pytest.approx(0.5)
    assert metrics.nss(const, scene["fix"]) == 0.0
    assert metrics.cc(const, scene["gt"]) == 0.0


def test_map_equal_to_gt_is_perfect(scene: dict[str, np.ndarray]) -> None:
    gt, fix = scene["gt"], scene["fix"]
    assert metrics.cc(gt, gt) == pytest.approx(1.0)
    assert metrics.sim(gt, gt) == pytest.approx(1.0)
    assert metrics.kld(gt, gt) == pytest.approx(0.0, abs=1e-9)
    assert metrics.auc_judd(gt, fix) > 0.85
    assert metrics.nss(gt, fix) > 1.0


def test_inverse_map_is_worse_than_chance(scene: dict[str, np.ndarray]) -> None:
    gt, fix = scene["gt"], scene["fix"]
    inv = gt.max() - gt
    assert metrics.cc(inv, gt) == pytest.approx(-1.0)
    assert metrics.auc_judd(inv, fix) < 0.2
    assert metrics.nss(inv, fix) < 0
    assert metrics.sim(inv, gt) < metrics.sim(gt, gt)
    assert metrics.kld(inv, gt) > 1.0


def test_auc_judd_hand_computed() -> None:
    # 4 pixels, fixation on the two best: perfect ranking -> AUC 1; on the two worst -> ~0
    sal = np.array([[0.9, 0.8], [0.2, 0.1]])
    best = np.array([[1, 1], [0, 0]])
    worst = np.array([[0, 0], [1, 1]])
    assert metrics.auc_judd(sal, best, jitter=False) == pytest.approx(1.0)
    # thresholds 0.2, 0.1 -> ROC points (0,0) (1,.5) (1,1): the MIT trapezoid gives 0.25
    assert metrics.auc_judd(sal, worst, jitter=False) == pytest.approx(0.25)


def test_nss_uses_sample_std() -> None:
    sal = np.array([[0.0, 1.0, 2.0, 3.0]])
    fix = np.array([[0, 0, 0, 1]])
    expected = (3.0 - 1.5) / np.std([0, 1, 2, 3], ddof=1)
    assert metrics.nss(sal, fix) == pytest.approx(expected)


def test_kld_formula_and_eps() -> None:
    gt = np.array([[1.0, 0.0], [0.0, 0.0]])
    pred = np.array([[0.5, 0.5], [0.0, 0.0]])
    # g = [1,0,0,0], p = [.5,.5,0,0] -> 1 * log(eps + 2)
    assert metrics.kld(pred, gt) == pytest.approx(np.log(2 + metrics.EPS))
    # all-zero prediction: huge but finite (p + eps in the denominator)
    assert np.isfinite(metrics.kld(np.zeros_like(gt), gt))


def test_sauc_centre_bias_is_discounted(rng: np.random.Generator) -> None:
    """A pure centre map beats AUC-Judd chance but sAUC (centre-biased negatives) near 0.5."""
    shape = (64, 64)
    centre = _blob(shape, (32, 32), 10)
    p = centre.ravel() / centre.sum()

    def draw() -> np.ndarray:
        f = np.zeros(shape, dtype=np.uint8)
        f.flat[rng.choice(centre.size, 60, replace=False, p=p)] = 1
        return f

    fix = draw()
    other = metrics.sauc_negatives([draw() for _ in range(12)], shape, n_maps=10, rng=1)
    assert metrics.auc_judd(centre, fix) > 0.75
    assert abs(metrics.auc_shuffled(centre, fix, other, rng=2) - 0.5) < 0.1


def test_sauc_is_reproducible(scene: dict[str, np.ndarray]) -> None:
    other = np.zeros_like(scene["fix"])
    other[::3, ::4] = 1
    a = metrics.auc_shuffled(scene["gt"], scene["fix"], other, rng=7)
    b = metrics.auc_shuffled(scene["gt"], scene["fix"], other, rng=7)
    assert a == b
    assert a > 0.8


def test_sauc_negatives_scales_coordinates() -> None:
    small = np.zeros((10, 20), dtype=np.uint8)
    small[9, 19] = 1
    small[0, 0] = 1
    out = metrics.sauc_negatives([small], (100, 200))
    assert out.dtype == bool and out.shape == (100, 200)
    assert out[90, 190] and out[0, 0] and out.sum() == 2


def test_prediction_is_resized_to_gt(scene: dict[str, np.ndarray]) -> None:
    gt, fix = scene["gt"], scene["fix"]
    small = cv2.resize(gt, (40, 30), interpolation=cv2.INTER_AREA)
    assert metrics.cc(small, gt) > 0.98
    assert metrics.auc_judd(small, fix) == pytest.approx(metrics.auc_judd(gt, fix), abs=0.02)
    assert metrics.kld(small, gt) < 0.05


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: metrics.nss(np.ones((4, 4)), np.zeros((4, 4))), "no fixations"),
        (lambda: metrics.cc(np.ones((4, 4, 3)), np.ones((4, 4))), "2-D"),
        (lambda: metrics.cc(np.full((4, 4), np.nan), np.ones((4, 4))), "NaN"),
        (lambda: metrics.kld(-np.ones((4, 4)), np.ones((4, 4))), "non-negative"),
        (
            lambda: metrics.auc_shuffled(np.ones((4, 4)), np.eye(4), np.eye(5)),
            "differs",
        ),
        (lambda: metrics.sauc_negatives([], (4, 4)), "at least one"),
    ],
)
def test_bad_input_is_a_user_error(call, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        call()
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)


def _load(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert img is not None, path
    return img


def test_mit1003_sample(mit1003_dir: Path) -> None:
    """Real fixations: GT map > Judd model > Itti-Koch / constant, values in sane ranges."""
    fix = scipy.io.loadmat(mit1003_dir / "FIXATIONLOCS_i210.mat")["fixations"]
    gt = _load(mit1003_dir / "FIXATIONMAPS_i210.jpg")
    judd = _load(mit1003_dir / "MODELS_Judd_i210.jpg")
    itti = _load(mit1003_dir / "MODELS_ittikoch_i210.jpg")
    const = np.full(gt.shape, 128, dtype=np.uint8)
    assert fix.shape == gt.shape == (675, 1024) and fix.sum() > 100

    scores = {
        name: {
            "auc_judd": metrics.auc_judd(m, fix),
            "nss": metrics.nss(m, fix),
            "cc": metrics.cc(m, gt),
            "sim": metrics.sim(m, gt),
            "kld": metrics.kld(m, gt),
        }
        for name, m in {"gt": gt, "judd": judd, "itti": itti, "const": const}.items()
    }
    g, j, c = scores["gt"], scores["judd"], scores["const"]
    assert g["auc_judd"] > j["auc_judd"] > c["auc_judd"] == 0.5
    assert g["nss"] > j["nss"] > 0.5 and c["nss"] == 0.0
    assert g["cc"] == pytest.approx(1.0) and 0.2 < j["cc"] < 0.95
    assert g["sim"] == pytest.approx(1.0) and j["sim"] > c["sim"]
    assert g["kld"] == pytest.approx(0.0, abs=1e-9) and j["kld"] < c["kld"]
    for s in scores.values():
        assert 0.0 <= s["auc_judd"] <= 1.0 and 0.0 <= s["sim"] <= 1.0 and s["kld"] > -1e-9
    # sAUC with the image's own fixations shifted (a stand-in for other images' fixations)
    other = np.roll(fix, (100, 200), axis=(0, 1))
    assert 0.5 < metrics.auc_shuffled(judd, fix, other, n_splits=20) < 1.0
