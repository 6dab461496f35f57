"""Optical flow for training *and* streaming, so the network sees the same flow at both.

Contract (``docs/architecture.md``): F^t is the flow from frame t-1 to frame t, computed on the
``FlowConfig.size`` grid (224x224 by default) from grey frames, in pixels of that grid; F^0 and
flows past the end of a stream are zero.  Frame t's network input stacks F^t .. F^{t+S-1}.

Network normalisation (:func:`flow_to_input`): ``clip(flow / FLOW_SCALE, -FLOW_CLIP, FLOW_CLIP)``
with ``FLOW_SCALE = 16`` px and ``FLOW_CLIP = 2``, i.e. motions up to +-32 px a frame on the
224 grid (a seventh of the frame) are kept exactly and larger ones saturate.  The values are
O(1) for ordinary motion, which is what the convolutions expect; the scale is fixed (not per
frame) so that magnitudes keep their meaning across frames and videos.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.imaging import resize_to_input
from rt_saliency.spec import INPUT_SIZE

#: pixels (on the flow grid) that map to 1.0 in the network input
FLOW_SCALE: float = 16.0
#: network-input values are clipped to +-FLOW_CLIP (+-32 px with FLOW_SCALE = 16)
FLOW_CLIP: float = 2.0
#: bump when the way flows are computed changes, so that caches built before are refused
FLOW_VERSION: int = 1

METHODS: tuple[str, ...] = ("dis", "farneback")
PRESETS: tuple[str, ...] = ("ultrafast", "fast", "medium")

# Farneback has no presets: ours trade iterations and window size like DIS's presets do.
_FARNEBACK = {
    "ultrafast": {"levels": 3, "winsize": 11, "iterations": 2},
    "fast": {"levels": 3, "winsize": 15, "iterations": 3},
    "medium": {"levels": 4, "winsize": 15, "iterations": 5},
}

__all__ = [
    "FLOW_CLIP",
    "FLOW_SCALE",
    "FlowConfig",
    "FlowEstimator",
    "flow_to_input",
    "input_to_flow",
    "stack_flows",
]


@dataclass(frozen=True)
class FlowConfig:
    """How flows are computed: method, speed preset and the (height, width) grid."""

    method: str = "dis"
    preset: str = "ultrafast"
    size: tuple[int, int] = INPUT_SIZE

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"flow method must be one of {METHODS}, got {self.method!r}")
        if self.preset not in PRESETS:
            raise ConfigError(f"flow preset must be one of {PRESETS}, got {self.preset!r}")
        size = tuple(int(v) for v in self.size)
        if len(size) != 2 or min(size) < 8:
            raise ConfigError(f"flow size must be (height, width) >= 8, got {self.size!r}")
        object.__setattr__(self, "size", size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings (for cache manifests and logs)."""
        d = asdict(self)
        d["size"] = list(self.size)
        d["version"] = FLOW_VERSION
        d["scale"] = FLOW_SCALE
        d["clip"] = FLOW_CLIP
        return d

    def fingerprint(self) -> str:
        """Stable short hash of everything that changes the network's flow input."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class FlowEstimator:
    """Computes F^t from two frames; one instance per thread (OpenCV objects are not shared).

    Frames are RGB uint8 ``(H, W, 3)`` (or grey ``(H, W)``) of any size; they are resized to
    ``config.size`` by :func:`~rt_saliency.imaging.resize_to_input` (the network input's rule),
    then turned grey.  ``threads`` sets OpenCV's
    *process-wide* thread count when the estimator is built (default 1: the stream runs its
    stages in parallel threads; ``None`` leaves it alone).  Results do not depend on it.
    """

    def __init__(self, config: FlowConfig | None = None, threads: int | None = 1) -> None:
        self.config = config or FlowConfig()
        if threads is not None:
            cv2.setNumThreads(int(threads))
        self._cv2 = cv2
        self._dis = None
        if self.config.method == "dis":
            preset = {
                "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            }[self.config.preset]
            self._dis = cv2.DISOpticalFlow_create(preset)

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The grey uint8 ``size`` image flow is computed on (cache it for the next pair)."""
        cv2 = self._cv2
        a = np.asarray(frame)
        if a.ndim == 3 and a.shape[2] == 3:
            pass
        elif a.ndim != 2:
            raise InputError(f"frame must be (H, W, 3) RGB or (H, W) grey, got shape {a.shape}")
        if a.size == 0:
            raise InputError("frame is empty")
        if a.dtype != np.uint8:
            if not np.issubdtype(a.dtype, np.floating):
                raise InputError(f"frame must be uint8 or float in [0, 1], got {a.dtype}")
            if not np.all(np.isfinite(a)):
                raise InputError("frame contains NaN or infinite values")
            a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        # resized first, then grey: the order training uses (data/rawflow.py resizes with the
        # same rule), and a grey conversion of the small picture costs nothing
        a = resize_to_input(np.ascontiguousarray(a), self.config.size)
        if a.ndim == 3:
            a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
        return np.ascontiguousarray(a)

    def compute_prepared(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """Flow between two outputs of :meth:`prepare`: float32 ``(H, W, 2)`` (dx, dy) pixels."""
        if prev.shape != tuple(self.config.size) or cur.shape != prev.shape:
            raise InputError(
                f"prepared frames must both be {self.config.size}, got {prev.shape}, {cur.shape}"
            )
        cv2 = self._cv2
        if self._dis is not None:
            flow = self._dis.calc(prev, cur, None)
        else:
            p = _FARNEBACK[self.config.preset]
            flow = cv2.calcOpticalFlowFarneback(
                prev, cur, None, 0.5, p["levels"], p["winsize"], p["iterations"], 5, 1.1, 0
            )
        return np.asarray(flow, dtype=np.float32)

    def compute(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """F^t from frame t-1 (``prev``) to frame t (``cur``): float32 ``(H, W, 2)`` pixels."""
        prev_arr, cur_arr = np.asarray(prev), np.asarray(cur)
        if prev_arr.shape != cur_arr.shape:
            raise InputError(f"frames differ in shape: {prev_arr.shape} vs {cur_arr.shape}")
        return self.compute_prepared(self.prepare(prev_arr), self.prepare(cur_arr))


def _check_flow(flow: np.ndarray) -> np.ndarray:
    f = np.asarray(flow)
    if f.ndim != 3 or f.shape[2] != 2:
        raise InputError(f"flow must be (H, W, 2), got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise InputError("flow contains NaN or infinite values")
    return f


def flow_to_input(flow: np.ndarray) -> np.ndarray:
    """Network-ready flow: ``(H, W, 2)`` pixels -> float32 ``(2, H, W)``, scaled and clipped."""
    f = _check_flow(flow).astype(np.float32, copy=False)
    out = np.clip(f / np.float32(FLOW_SCALE), -FLOW_CLIP, FLOW_CLIP)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def input_to_flow(inp: np.ndarray) -> np.ndarray:
    """Inverse of :func:`flow_to_input` (exact below the clip): ``(2, H, W)`` -> ``(H, W, 2)``."""
    a = np.asarray(inp)
    if a.ndim != 3 or a.shape[0] != 2:
        raise InputError(f"flow input must be (2, H, W), got shape {a.shape}")
    return np.ascontiguousarray(a.transpose(1, 2, 0).astype(np.float32) * np.float32(FLOW_SCALE))


def stack_flows(
    maps: Sequence[np.ndarray | None],
    flow_maps: int,
    size: tuple[int, int] = INPUT_SIZE,
    normalised: bool = False,
) -> np.ndarray:
    """Frame t's flow input: ``[F^t, ..., F^{t+S-1}]`` -> float32 ``(2S, H, W)``.

    ``maps`` holds pixel flows ``(H, W, 2)`` from :meth:`FlowEstimator.compute` (or, with
    ``normalised=True``, outputs of :func:`flow_to_input`).  ``None`` entries (F^0) and missing
    trailing entries (past the stream's end) become zeros; more than ``flow_maps`` is an error.
    """
    if flow_maps < 1:
        raise ConfigError(f"flow_maps must be >= 1, got {flow_maps}")
    if len(maps) > flow_maps:
        raise InputError(f"got {len(maps)} flow maps for a stack of {flow_maps}")
    h, w = size
    out = np.zeros((2 * flow_maps, h, w), dtype=np.float32)
    for i, m in enumerate(maps):
        if m is None:
            continue
        chw = np.asarray(m, dtype=np.float32) if normalised else flow_to_input(m)
        if chw.shape != (2, h, w):
            want = "(2, H, W)" if normalised else "(H, W, 2)"
            raise InputError(f"flow map {i} has shape {np.shape(m)}, expected {want} of {size}")
        out[2 * i : 2 * i + 2] = chw
    return out


def flow_config_for(
    method: str | None, preset: str | None, size: tuple[int, ...] | None = None
) -> FlowConfig:
    """The :class:`FlowConfig` for CLI options (``None`` = the defaults)."""
    kwargs: dict[str, Any] = {}
    if size is not None:
        kwargs["size"] = tuple(size)
    if method is not None:
        kwargs["method"] = method
    if preset is not None:
        kwargs["preset"] = preset
    return FlowConfig(**kwargs)
