"""Saliency metrics with the semantics of the MIT saliency benchmark code (what DHF1K uses).

Pure numpy on 2-D arrays, one function per metric, each tested on inputs with known answers.
Conventions shared by every metric (see ``docs/metrics.md``):

* the prediction ``sal`` is resized to the ground truth's size (bicubic when enlarging, area
  averaging when shrinking, like MATLAB's anti-aliased ``imresize``), then clipped to its own
  original value range so the cubic kernel's overshoot cannot create negative saliency;
* ``fix`` is a binary fixation map (any value > 0 is a fixation), ``gt`` a continuous map;
* a constant prediction carries no information: the MIT code returns NaN (0/0) for it, we return
  the chance value (AUC 0.5, NSS 0, CC 0; SIM and KL treat it as the uniform distribution);
* caller mistakes (wrong rank, shape mismatch, NaN/inf, empty fixation map, negative maps where
  a distribution is needed) raise :class:`~rt_saliency.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from rt_saliency.errors import InputError

#: MATLAB's ``eps`` (2^-52), the constant the MIT benchmark's KL code uses
EPS: float = float(np.finfo(np.float64).eps)
#: amplitude of the random jitter AUC-Judd adds to break ties (MIT code: ``rand/10000000``)
JUDD_JITTER: float = 1e-7

__all__ = [
    "EPS",
    "auc_judd",
    "auc_shuffled",
    "cc",
    "kld",
    "nss",
    "sauc_negatives",
    "sim",
]


def _as_map(arr: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2:
        raise InputError(f"{name} must be a 2-D map, got shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{name} is empty (shape {a.shape})")
    if a.dtype == bool:
        a = a.astype(np.float64)
    if not np.issubdtype(a.dtype, np.number):
        raise InputError(f"{name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} contains NaN or infinite values")
    return a


def _as_fixations(fix: np.ndarray, name: str = "fix") -> np.ndarray:
    f = _as_map(fix, name)
    if np.any(f < 0):
        raise InputError(f"{name} must be a binary fixation map (values >= 0)")
    mask = f > 0
    if not mask.any():
        raise InputError(f"{name} has no fixations; skip this map (the MIT code returns NaN)")
    return mask


def _resize_to(sal: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize ``sal`` to ``shape`` (rows, cols) and keep it inside its original value range."""
    if sal.shape == shape:
        return sal

    h, w = shape
    shrinking = h * w < sal.shape[0] * sal.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(sal, (w, h), interpolation=interp)
    return np.clip(out, sal.min(), sal.max())


def _prediction(sal: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return _resize_to(_as_map(sal, "sal"), shape)


def _minmax(a: np.ndarray) -> np.ndarray | None:
    """Scale to [0, 1]; ``None`` for a constant map."""
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 0:
        return None
    return (a - lo) / (hi - lo)


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


def auc_judd(
    sal: np.ndarray,
    fix: np.ndarray,
    jitter: bool = True,
    rng: np.random.Generator | int | None = None,
) -> float:
    """AUC-Judd: ROC area with a threshold at the saliency of every fixated pixel.

    Positives are the fixated pixels, negatives all other pixels.  As in the MIT code, a tiny
    random jitter (``1e-7``) breaks ties first; ``rng`` (a Generator or a seed, default seed 0)
    makes it reproducible.  A constant map scores 0.5.
    """
    mask = _as_fixations(fix)
    s = _prediction(sal, mask.shape)
    if float(s.max() - s.min()) <= 0:
        return 0.5
    if jitter:
        s = s + _rng(rng).random(s.shape) * JUDD_JITTER
    s = _minmax(s)
    assert s is not None  # not constant (checked above, jitter keeps it so)
    flat = s.ravel()
    pos = flat[mask.ravel()]
    n_fix, n_pix = pos.size, flat.size
    if n_fix == n_pix:
        raise InputError("every pixel is fixated: AUC is undefined")
    thresholds = np.sort(pos)[::-1]
    sorted_all = np.sort(flat)
    above = n_pix - np.searchsorted(sorted_all, thresholds, side="left")
    i = np.arange(1, n_fix + 1)
    tp = np.concatenate(([0.0], i / n_fix, [1.0]))
    fp = np.concatenate(([0.0], (above - i) / (n_pix - n_fix), [1.0]))
    return float(np.trapezoid(tp, fp))


def auc_shuffled(
    sal: np.ndarray,
    fix: np.ndarray,
    other_fix: np.ndarray,
    n_splits: int = 100,
    rng: np.random.Generator | int | None = None,
    step: float = 0.1,
) -> float:
    """Shuffled AUC: negatives are the saliency at *other* frames' fixation locations.

    ``other_fix`` is a binary map of the same shape as ``fix``: the union of fixations of other
    frames/videos (build it with :func:`sauc_negatives`).  For each of ``n_splits`` splits,
    ``min(#fixations, #other)`` negatives are drawn without replacement; thresholds run over
    ``0:step:max`` on the min-max normalised map; the score is the mean ROC area.
    """
    mask = _as_fixations(fix)
    other = _as_fixations(other_fix, "other_fix")
    if other.shape != mask.shape:
        raise InputError(f"other_fix shape {other.shape} differs from fix shape {mask.shape}")
    if n_splits < 1:
        raise InputError(f"n_splits must be >= 1, got {n_splits}")
    if not 0 < step <= 1:
        raise InputError(f"step must be in (0, 1], got {step}")
    s = _prediction(sal, mask.shape)
    norm = _minmax(s)
    flat = np.zeros(s.size) if norm is None else norm.ravel()
    pos = flat[mask.ravel()]
    other_idx = np.flatnonzero(other.ravel())
    n_neg = min(pos.size, other_idx.size)
    gen = _rng(rng)
    # MATLAB builds 0:step:max and flips it; replicate the same grid.
    top = float(flat.max())
    grid = np.arange(0.0, top + step * 1e-9, step)[::-1]
    tp_mid = (pos[None, :] >= grid[:, None]).mean(axis=1)
    aucs = np.empty(n_splits)
    for k in range(n_splits):
        neg = flat[gen.permutation(other_idx)[:n_neg]]
        fp_mid = (neg[None, :] >= grid[:, None]).mean(axis=1)
        tp = np.concatenate(([0.0], tp_mid, [1.0]))
        fp = np.concatenate(([0.0], fp_mid, [1.0]))
        aucs[k] = np.trapezoid(tp, fp)
    return float(aucs.mean())


def nss(sal: np.ndarray, fix: np.ndarray) -> float:
    """Normalised scanpath saliency: mean of the z-scored map (sample std, N-1) at fixations."""
    mask = _as_fixations(fix)
    s = _prediction(sal, mask.shape)
    if s.size < 2:
        raise InputError("NSS needs at least two pixels")
    std = float(s.std(ddof=1))
    if float(s.max() - s.min()) <= 0 or std <= 0:
        return 0.0
    z = (s - s.mean()) / std
    return float(z[mask].mean())


def cc(sal: np.ndarray, gt: np.ndarray) -> float:
    """Pearson linear correlation between the prediction and the continuous ground truth."""
    g = _as_map(gt, "gt")
    s = _prediction(sal, g.shape)
    sc, gc = s - s.mean(), g - g.mean()
    denom = float(np.sqrt((sc * sc).sum() * (gc * gc).sum()))
    if float(np.ptp(s)) <= 0 or float(np.ptp(g)) <= 0 or denom <= 0:
        return 0.0
    return float((sc * gc).sum() / denom)


def _distribution(a: np.ndarray, name: str, minmax: bool) -> np.ndarray:
    if minmax:
        norm = _minmax(a)
        a = np.ones_like(a) if norm is None else norm
    else:
        if np.any(a < 0):
            raise InputError(f"{name} must be non-negative for KL divergence")
        if not a.any():
            return a
    return a / a.sum()


def sim(sal: np.ndarray, gt: np.ndarray) -> float:
    """Similarity (histogram intersection) after min-max and sum normalisation of both maps."""
    g = _as_map(gt, "gt")
    s = _prediction(sal, g.shape)
    return float(
        np.minimum(_distribution(s, "sal", True), _distribution(g, "gt", True)).sum()
    )


def kld(sal: np.ndarray, gt: np.ndarray) -> float:
    """KL divergence of the prediction from the ground truth: sum g log(eps + g / (p + eps)).

    Both maps are divided by their sums (an all-zero map is left as zeros, as in the MIT code);
    lower is better, 0 for a perfect prediction.
    """
    g = _as_map(gt, "gt")
    s = _prediction(sal, g.shape)
    p = _distribution(s, "sal", False)
    q = _distribution(g, "gt", False)
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def sauc_negatives(
    other_fixations: Sequence[np.ndarray],
    shape: tuple[int, int],
    n_maps: int | None = 10,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """The ``other_fix`` map for :func:`auc_shuffled`: union of other frames' fixations.

    ``other_fixations`` are binary fixation maps of *other* frames (DHF1K protocol: frames of
    other videos), of any sizes; each fixation is mapped to ``shape`` by scaling its
    coordinates.  ``n_maps`` picks that many at random (Borji et al. use 10; ``None`` = all).
    Returns a bool map of ``shape``.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"shape must be (rows, cols) >= 1, got {shape}")
    if len(other_fixations) == 0:
        raise InputError("sauc_negatives needs at least one other fixation map")
    idx = np.arange(len(other_fixations))
    if n_maps is not None:
        if n_maps < 1:
            raise InputError(f"n_maps must be >= 1, got {n_maps}")
        if n_maps < idx.size:
            idx = np.sort(_rng(rng).choice(idx, size=n_maps, replace=False))
    out = np.zeros(shape, dtype=bool)
    h, w = shape
    for i in idx:
        m = _as_map(other_fixations[i], f"other_fixations[{i}]")
        rows, cols = np.nonzero(m > 0)
        r = np.minimum((rows * h) // m.shape[0], h - 1)
        c = np.minimum((cols * w) // m.shape[1], w - 1)
        out[r, c] = True
    if not out.any():
        raise InputError("the other fixation maps hold no fixations")
    return out
