"""Bjontegaard delta rate: the average bitrate difference of two rate-quality curves at equal
quality, over the quality range both curves cover (VCEG-M33; JCTVC-style piecewise-cubic
interpolation by default, the original cubic polynomial fit on request).

Negative = the test curve needs fewer bits than the anchor for the same quality.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.optional import import_optional

METHODS: tuple[str, ...] = ("pchip", "cubic")


def _curve(rates: Sequence[float], quality: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1 or r.size < 2:
        raise InputError(f"{name}: need >= 2 (rate, quality) points of equal count")
    if (r <= 0).any() or not np.isfinite(r).all() or not np.isfinite(q).all():
        raise InputError(f"{name}: rates must be positive and all values finite")
    order = np.argsort(q)
    q, logr = q[order], np.log(r[order])
    if np.any(np.diff(q) <= 0):
        raise InputError(f"{name}: quality values must be distinct")
    return q, logr


def bd_rate(anchor_rates: Sequence[float], anchor_quality: Sequence[float],
            test_rates: Sequence[float], test_quality: Sequence[float],
            method: str = "pchip") -> float:
    """BD-rate in percent of ``test`` against ``anchor`` (quality in dB, e.g. PSNR/EWPSNR).

    Raises :class:`InputError` when the two curves' quality ranges do not overlap.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    qa, la = _curve(anchor_rates, anchor_quality, "anchor")
    qt, lt = _curve(test_rates, test_quality, "test")
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if hi <= lo:
        raise InputError(f"quality ranges do not overlap (anchor {qa[0]:.2f}-{qa[-1]:.2f}, "
                         f"test {qt[0]:.2f}-{qt[-1]:.2f})")
    if method == "cubic":
        def integral(q: np.ndarray, logr: np.ndarray) -> float:
            poly = np.polyint(np.polyfit(q, logr, min(3, q.size - 1)))
            return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    else:
        PchipInterpolator = import_optional("scipy.interpolate").PchipInterpolator

        def integral(q: np.ndarray, logr: np.ndarray) -> float:
            return float(PchipInterpolator(q, logr).integrate(lo, hi))

    diff = (integral(qt, lt) - integral(qa, la)) / (hi - lo)
    return float((np.exp(diff) - 1.0) * 100.0)
