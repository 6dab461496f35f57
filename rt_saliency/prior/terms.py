"""The prior's terms as pure functions: centre bias, motion, static (spectral residual), faces.

Each returns a float32 map in [0, 1] on the grid it is asked for, so each can be tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from rt_saliency.errors import InputError

__all__ = [
    "centre_bias",
    "face_map",
    "global_motion",
    "motion_saliency",
    "spectral_residual",
]


def centre_bias(shape: tuple[int, int], sigma: tuple[float, float] = (0.25, 0.3)) -> np.ndarray:
    """Anisotropic Gaussian peaking (1.0) at the frame's centre.

    ``sigma`` = (vertical, horizontal) standard deviations as fractions of the height and width.
    """
    h, w = shape
    if h < 1 or w < 1 or min(sigma) <= 0:
        raise InputError(f"bad centre-bias shape {shape} or sigma {sigma}")
    y = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    x = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    gy = np.exp(-(y**2) / (2 * sigma[0] ** 2))
    gx = np.exp(-(x**2) / (2 * sigma[1] ** 2))
    out = np.outer(gy, gx).astype(np.float32)
    return out / out.max()


def _design(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xx.ravel() / w, yy.ravel() / h, np.ones(h * w, np.float32)], axis=1)


def global_motion(flow: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Robust affine fit of the camera motion: the (H, W, 2) flow it predicts.

    Least squares of ``flow = [x, y, 1] @ A`` over all pixels, refitted ``iterations`` times on
    the pixels whose residual is below ``max(2 * median, 0.5 px)``, so that objects moving
    against the background (a minority of the pixels) do not bend the fit.
    """
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim != 3 or f.shape[2] != 2:
        raise InputError(f"flow must be (H, W, 2), got shape {f.shape}")
    h, w = f.shape[:2]
    design = _design(h, w)
    target = f.reshape(-1, 2)
    keep = np.ones(h * w, dtype=bool)
    coef = np.zeros((3, 2), np.float32)
    for _ in range(max(1, iterations)):
        if keep.sum() < 3:
            break
        a, b = design[keep], target[keep]
        gram = a.T @ a + np.eye(3, dtype=np.float32) * 1e-6
        coef = np.linalg.solve(gram, a.T @ b)
        resid = np.linalg.norm(target - design @ coef, axis=1)
        keep = resid <= max(2.0 * float(np.median(resid)), 0.5)
    return (design @ coef).reshape(h, w, 2).astype(np.float32)


def motion_saliency(
    flow: np.ndarray,
    shape: tuple[int, int],
    noise_px: float = 0.3,
    full_px: float = 2.0,
) -> np.ndarray:
    """Motion relative to the camera, on ``shape``: 0 below ``noise_px``, 1 from ``full_px``.

    ``flow`` is (H, W, 2) in pixels of its grid (as :meth:`FlowEstimator.compute` returns);
    it is area-averaged to ``shape`` (values stay in pixels of the flow grid), the robust
    affine camera motion (:func:`global_motion`) is removed, and the residual magnitude is
    mapped linearly between the two thresholds.
    """
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim != 3 or f.shape[2] != 2:
        raise InputError(f"flow must be (H, W, 2), got shape {f.shape}")
    h, w = shape
    if f.shape[:2] != (h, w):
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
    resid = np.linalg.norm(f - global_motion(f), axis=2)
    return np.clip((resid - noise_px) / (full_px - noise_px), 0.0, 1.0).astype(np.float32)


def spectral_residual(grey: np.ndarray, shape: tuple[int, int], size: int = 64) -> np.ndarray:
    """Static saliency by the spectral residual (Hou & Zhang, CVPR 2007), on ``shape``.

    The image is shrunk to ``size`` x ``size``; the log-amplitude spectrum minus its 3x3 local
    mean (the "residual"), with the original phase, is transformed back, squared and blurred.
    """
    g = np.asarray(grey)
    if g.ndim != 2 or g.size == 0:
        raise InputError(f"grey image must be 2-D, got shape {g.shape}")
    small = cv2.resize(g.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    if float(small.max() - small.min()) < 1e-6:
        return np.zeros(shape, np.float32)  # a flat image has no structure to stand out
    spec = np.fft.fft2(small)
    log_amp = np.log(np.abs(spec) + 1e-8).astype(np.float32)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spec)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), size / 24.0)
    h, w = shape
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    lo, hi = float(sal.min()), float(sal.max())
    if hi - lo <= 0:
        return np.zeros(shape, np.float32)
    return ((sal - lo) / (hi - lo)).astype(np.float32)


def face_map(
    shape: tuple[int, int],
    boxes: Sequence[tuple[float, float, float, float]],
    box_grid: tuple[int, int],
) -> np.ndarray:
    """Gaussian blobs on face boxes ``(x, y, w, h)`` given in pixels of ``box_grid`` (H, W).

    Each blob is centred on its box, with sigma half the box size, peak 1; overlaps take the max.
    """
    h, w = shape
    out = np.zeros(shape, np.float32)
    if not boxes:
        return out
    sy, sx = h / box_grid[0], w / box_grid[1]
    yy = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
    xx = (np.arange(w, dtype=np.float32) + 0.5)[None, :]
    for bx, by, bw, bh in boxes:
        if bw <= 0 or bh <= 0:
            raise InputError(f"face box must have a positive size, got {(bx, by, bw, bh)}")
        cx, cy = (bx + bw / 2) * sx, (by + bh / 2) * sy
        gx, gy = max(bw * sx / 2, 0.5), max(bh * sy / 2, 0.5)
        blob = np.exp(-((xx - cx) ** 2) / (2 * gx**2) - ((yy - cy) ** 2) / (2 * gy**2))
        np.maximum(out, blob, out=out)
    return out
