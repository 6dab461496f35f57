"""Saliency -> per-block QP offsets: pooling to the encoder's block grid and the offset mapping.

Conventions (docs/architecture.md): a grid of ``ceil(H/b) x ceil(W/b)`` float32 offsets for a
source frame of ``H x W``; negative means better quality (a lower QP).  Everything here is pure
and vectorised except :class:`QPMapper`, which adds temporal smoothing across frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from rt_saliency.errors import ConfigError, InputError

MODES: tuple[str, ...] = ("log", "linear")


@dataclass(frozen=True)
class QPConfig:
    """How saliency becomes QP offsets.

    * ``mode="log"``: ``offset = -strength * log2(s / mean(s))`` -- a block twice as salient as
      the frame's mean gets ``-strength`` (x264: 6 QP steps double the quantiser step).
    * ``mode="linear"``: ``offset = -strength * (s - mean(s)) / mean(s)``.

    ``s`` is the block's pooled saliency raised to at least ``floor`` (keeps the log finite and
    caps the penalty of blocks nobody looks at).  Offsets are clamped to ``[qp_min, qp_max]``;
    ``mean_zero`` subtracts the mean before clamping (roughly bitrate-neutral; see DESIGN.md:
    not equal bits).  ``temporal_alpha`` is used by :class:`QPMapper` only: the weight of the
    previous frame's offsets in an exponential moving average (0 = no smoothing).
    """

    block: int = 16
    mode: str = "log"
    strength: float = 3.0
    qp_min: float = -8.0
    qp_max: float = 8.0
    mean_zero: bool = False
    floor: float = 0.02
    temporal_alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.block not in (8, 16, 32, 64):
            raise ConfigError(f"block must be 8, 16, 32 or 64, got {self.block}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not math.isfinite(self.strength) or self.strength < 0:
            raise ConfigError(f"strength must be a finite number >= 0, got {self.strength}")
        if not (self.qp_min <= 0 <= self.qp_max):
            raise ConfigError(f"clamp range must contain 0, got [{self.qp_min}, {self.qp_max}]")
        if not (0.0 < self.floor < 1.0):
            raise ConfigError(f"floor must be in (0, 1), got {self.floor}")
        if not (0.0 <= self.temporal_alpha < 1.0):
            raise ConfigError(f"temporal_alpha must be in [0, 1), got {self.temporal_alpha}")

    def to_dict(self) -> dict:
        return asdict(self)


def grid_shape(frame_size: tuple[int, int], block: int = 16) -> tuple[int, int]:
    """(rows, cols) = (ceil(H/b), ceil(W/b)) of the block grid for a frame of (H, W)."""
    height, width = int(frame_size[0]), int(frame_size[1])
    if height <= 0 or width <= 0:
        raise InputError(f"frame size must be positive, got {height}x{width} (HxW)")
    return -(-height // block), -(-width // block)


@lru_cache(maxsize=64)
def _area_matrix(src: int, dst_pixels: int, block: int) -> np.ndarray:
    """(cells, src) weights: the area average over source-map pixels of each block's span.

    Block ``i`` covers frame pixels ``[i*b, min((i+1)*b, N))``; in source-map coordinates that
    is the interval scaled by ``src / N``.  Each source pixel ``k`` covers ``[k, k+1)``.
    """
    cells = -(-dst_pixels // block)
    starts = np.arange(cells, dtype=np.float64) * block
    ends = np.minimum(starts + block, dst_pixels)
    scale = src / dst_pixels
    lo, hi = (starts * scale)[:, None], (ends * scale)[:, None]
    k = np.arange(src, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(k + 1, hi) - np.maximum(k, lo), 0.0, None)
    weights = overlap / overlap.sum(axis=1, keepdims=True)
    weights.setflags(write=False)
    return weights.astype(np.float32)


def pool_blocks(saliency: np.ndarray, frame_size: tuple[int, int], block: int = 16) -> np.ndarray:
    """Mean saliency per block of the source frame's grid, float32 (ceil(H/b), ceil(W/b)).

    ``saliency`` may have any resolution (e.g. the network's 224x224); it is treated as covering
    the whole frame, and each block gets the exact area average of the map over the block's
    part of the frame (edge blocks average only the pixels inside the frame).
    """
    sal = np.asarray(saliency)
    if sal.ndim == 3 and sal.shape[0] == 1:
        sal = sal[0]
    if sal.ndim != 2 or sal.size == 0:
        raise InputError(f"saliency must be a 2-D (H, W) map, got shape {sal.shape}")
    if block <= 0:
        raise ConfigError(f"block must be positive, got {block}")
    height, width = int(frame_size[0]), int(frame_size[1])
    grid_shape((height, width), block)  # validates the size
    sal = sal.astype(np.float32, copy=False)
    if not np.isfinite(sal).all():
        raise InputError("saliency contains NaN or infinity")
    rows = _area_matrix(sal.shape[0], height, block)
    cols = _area_matrix(sal.shape[1], width, block)
    return rows @ sal @ cols.T


def offsets_from_saliency(pooled: np.ndarray, config: QPConfig | None = None) -> np.ndarray:
    """QP offsets (float32, same shape as ``pooled``; negative = better) from pooled saliency.

    A uniform map gives all zeros in both modes (there is nothing to prefer).
    """
    config = config or QPConfig()
    sal = np.asarray(pooled, dtype=np.float32)
    if sal.ndim != 2 or sal.size == 0:
        raise InputError(f"pooled saliency must be a 2-D grid, got shape {sal.shape}")
    if not np.isfinite(sal).all():
        raise InputError("pooled saliency contains NaN or infinity")
    sal = np.maximum(sal, np.float32(config.floor))
    if sal.max() == sal.min():  # exactly zero, not float round-off around it
        return np.zeros(sal.shape, np.float32)
    mean = np.float32(sal.mean(dtype=np.float64))
    if config.mode == "log":
        offsets = np.log2(sal / mean) * np.float32(-config.strength)
    else:
        offsets = (sal - mean) * np.float32(-config.strength / mean)
    if config.mean_zero:
        offsets -= offsets.mean()
    np.clip(offsets, config.qp_min, config.qp_max, out=offsets)
    return offsets.astype(np.float32, copy=False)


class QPMapper:
    """Saliency map of a frame -> QP offsets, with exponential temporal smoothing.

    Stateful (the previous frame's offsets); one instance per stream.  The state resets by
    itself when the grid shape changes (a new source size).
    """

    def __init__(self, frame_size: tuple[int, int], config: QPConfig | None = None) -> None:
        self.config = config or QPConfig()
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.shape = grid_shape(self.frame_size, self.config.block)
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (e.g. after a scene cut or a reconnect)."""
        self._previous = None

    def __call__(self, saliency: np.ndarray) -> np.ndarray:
        """Offsets grid (rows, cols) float32 for one frame's saliency map of any resolution."""
        pooled = pool_blocks(saliency, self.frame_size, self.config.block)
        offsets = offsets_from_saliency(pooled, self.config)
        alpha = self.config.temporal_alpha
        if alpha > 0.0 and self._previous is not None and self._previous.shape == offsets.shape:
            offsets = alpha * self._previous + (1.0 - alpha) * offsets
            offsets = offsets.astype(np.float32, copy=False)
        self._previous = offsets
        return offsets
