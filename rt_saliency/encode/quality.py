"""Full-reference quality of decoded frames: PSNR, SSIM and EWPSNR on luma planes as coded.

Planes are compared as stored (code values, any depth): no range conversion, no RGB.  A clip's
PSNR is FFmpeg's ``psnr`` filter's: ``10 log10(peak^2 / mean over frames of the frame MSE)``
with ``peak = 2^depth - 1`` (:func:`sequence_psnr`, tested against the filter);
:func:`decoded_luma` reads Y planes of an encoded file without the ``gray`` conversion that
stretches limited range.

EWPSNR (Li, Qin & Itti, Image and Vision Computing 29(1), 2011): the squared error weighted by
the Gaussian-blurred fixation density of the frame, ``10 log10(255^2 / EWMSE)`` with
``EWMSE = sum_x w(x) (ref(x) - test(x))^2`` and ``sum_x w(x) = 1``.  Pure numpy/OpenCV.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.optional import import_optional
from rt_saliency.yuv import pixel_format, planes_from_av_frame

#: PSNR reported for identical frames (MSE 0), instead of infinity
PSNR_CAP_DB = 100.0


def _pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(ref), np.asarray(test)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"need two 2-D planes of the same shape, got {a.shape} and {b.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def _db(mse: float, peak: float) -> float:
    return PSNR_CAP_DB if mse <= 0 else min(PSNR_CAP_DB, 10.0 * np.log10(peak * peak / mse))


def psnr(ref: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of one plane (capped at :data:`PSNR_CAP_DB` for identical planes)."""
    a, b = _pair(ref, test)
    return _db(float(np.mean((a - b) ** 2)), peak)


def ssim(ref: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03)."""
    a, b = _pair(ref, test)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def fixation_density(fixations: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blurred fixation density (sums to 1) from a binary fixation map."""
    fix = np.asarray(fixations, dtype=np.float64)
    if fix.ndim != 2 or fix.sum() <= 0:
        raise InputError("fixations must be a 2-D map with at least one fixation")
    if sigma <= 0:
        raise InputError(f"sigma must be > 0, got {sigma}")
    dens = cv2.GaussianBlur(fix, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return dens / dens.sum()


def weights_for(density: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A density/saliency map of any size, resized to ``shape`` (H, W) and normalised to sum 1."""
    dens = np.asarray(density, dtype=np.float64)
    if dens.ndim != 2 or not np.isfinite(dens).all() or (dens < 0).any():
        raise InputError("weights must be a finite, non-negative 2-D map")
    if dens.shape != tuple(shape):
        dens = cv2.resize(dens, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        dens = np.maximum(dens, 0.0)
    total = dens.sum()
    if total <= 0:
        raise InputError("weights map is all zero")
    return dens / total


def ewpsnr(ref: np.ndarray, test: np.ndarray, weights: np.ndarray, peak: float = 255.0) -> float:
    """Eye-tracking weighted PSNR in dB; ``weights`` is any-size density (normalised here)."""
    a, b = _pair(ref, test)
    w = weights_for(weights, a.shape)
    return _db(float(np.sum(w * (a - b) ** 2)), peak)


def frame_mse(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error of two planes of code values (any integer depth)."""
    a, b = _pair(ref, test)
    return float(np.mean((a - b) ** 2))


def sequence_psnr(refs: Iterable[np.ndarray], tests: Iterable[np.ndarray],
                  bit_depth: int = 8) -> float:
    """PSNR of a clip as FFmpeg's ``psnr`` filter reports it: from the mean of the frame MSEs,
    peak ``2^bit_depth - 1`` (capped at :data:`PSNR_CAP_DB` for identical clips)."""
    mses = [frame_mse(r, t) for r, t in _zip_equal(refs, tests)]
    if not mses:
        raise InputError("no frames to compare")
    return _db(float(np.mean(mses)), float((1 << bit_depth) - 1))


def _zip_equal(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> Iterator[tuple]:
    sentinel = object()
    ia, ib = iter(a), iter(b)
    count = 0
    while True:
        x, y = next(ia, sentinel), next(ib, sentinel)
        if x is sentinel and y is sentinel:
            return
        if x is sentinel or y is sentinel:
            raise InputError(f"clips differ in length (one ends after {count} frames)")
        count += 1
        yield x, y


def decoded_luma(source: str | Path | IO | bytes, format: str | None = None
                 ) -> Iterator[tuple[np.ndarray, int]]:
    """``(Y plane, bit depth)`` of every decoded frame of a file, stream or bytes, in display
    order, as coded (uint8 or uint16 code values; no range conversion)."""
    av = import_optional("av")

    target = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        container = av.open(str(target) if isinstance(target, Path) else target, format=format)
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"cannot open {source if not isinstance(source, bytes) else 'stream'}: "
                         f"{exc}") from None
    with container:
        for frame in container.decode(video=0):
            depth = pixel_format(frame.format.name).bit_depth
            yield np.array(planes_from_av_frame(frame)[0]), depth
