"""``PriorPredictor``: the training-free saliency prior behind the stream's predictor protocol.

Per frame (``encode``), on a small work grid: a weighted sum of centre bias, motion relative to
the camera (from F^t), spectral-residual static saliency and faces, divided by the sum of the
weights of the terms in use.  ``head`` smooths it in time (an exponential moving average whose
state is the previous smoothed map), up-samples it to the input size and scales it to [0, 1].
Weights and their reasons: ``docs/prior.md``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.flow import input_to_flow
from rt_saliency.prior.faces import FaceDetector
from rt_saliency.prior.terms import centre_bias, face_map, motion_saliency, spectral_residual
from rt_saliency.spec import INPUT_SIZE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriorConfig:
    """Weights and parameters of the prior (defaults and their reasons: ``docs/prior.md``)."""

    w_centre: float = 0.3
    w_motion: float = 0.45
    w_static: float = 0.15
    w_face: float = 0.25
    #: centre-bias sigmas as fractions of (height, width)
    centre_sigma: tuple[float, float] = (0.25, 0.3)
    #: residual motion (px on the 224 grid) below which nothing moves, and at which it is full
    motion_noise_px: float = 0.3
    motion_full_px: float = 2.0
    #: EMA weight of the new frame in ``head`` (1 = no smoothing)
    ema: float = 0.5
    #: (height, width) of the grid the terms are computed on
    work_size: tuple[int, int] = (56, 56)
    #: run the face detector every N frames and reuse its boxes in between
    face_interval: int = 3
    #: optional YuNet ONNX file for ``cv2.FaceDetectorYN`` (else the bundled Haar cascade)
    face_model: str | None = None
    #: (height, width) the face detector looks at (the network input is 224x224)
    face_size: tuple[int, int] = (160, 160)
    #: number S of flow maps the stream passes (only F^t is used)
    flow_maps: int = 1

    def __post_init__(self) -> None:
        weights = (self.w_centre, self.w_motion, self.w_static, self.w_face)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(f"prior weights must be >= 0 with a positive sum, got {weights}")
        if not 0 < self.ema <= 1:
            raise ConfigError(f"ema must be in (0, 1], got {self.ema}")
        if not 0 <= self.motion_noise_px < self.motion_full_px:
            raise ConfigError("need 0 <= motion_noise_px < motion_full_px")
        if self.flow_maps < 1 or self.face_interval < 1 or min(self.work_size) < 4:
            raise ConfigError("flow_maps and face_interval must be >= 1, work_size >= 4")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PriorPredictor:
    """Training-free :class:`~rt_saliency.runtime.predictor.StreamPredictor` (name ``prior``)."""

    name = "prior"
    lookahead = 0
    #: no training: the stream's default flow settings at the input size
    flow_config = None

    def __init__(self, config: PriorConfig | None = None,
                 input_size: tuple[int, int] = INPUT_SIZE) -> None:
        self.config = config or PriorConfig()
        self.flow_maps = self.config.flow_maps
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self._centre = centre_bias(self.config.work_size, self.config.centre_sigma)
        self._faces: FaceDetector | None = None
        if self.config.w_face > 0:
            self._faces = FaceDetector(self.config.face_model, self.config.face_size)
            if not self._faces.available:
                log.info("prior: %s", self._faces.reason)
        self._frame_count = 0
        self._boxes: list[tuple[float, float, float, float]] = []

    @property
    def faces_available(self) -> bool:
        return self._faces is not None and self._faces.available

    def initial_state(self) -> Any:
        return None

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        f = np.asarray(frame)
        if f.ndim != 3 or f.shape[0] != 3 or f.shape[1:] != self.input_size:
            raise InputError(f"frame must be (3, {self.input_size[0]}, {self.input_size[1]}), "
                             f"got {f.shape}")
        grey = 0.299 * f[0] + 0.587 * f[1] + 0.114 * f[2]
        return (np.clip(grey, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def terms(self, frame: np.ndarray, flows: np.ndarray | None) -> dict[str, np.ndarray]:
        """Each term of one frame on the work grid (``flows=None``: no motion term)."""
        cfg = self.config
        grey = self._grey(frame)
        out = {"centre": self._centre}
        if cfg.w_static > 0:
            out["static"] = spectral_residual(grey, cfg.work_size)
        if cfg.w_motion > 0 and flows is not None:
            f = np.asarray(flows)
            if f.ndim != 3 or f.shape[0] != 2 * self.flow_maps or f.shape[1:] != self.input_size:
                raise InputError(f"flows must be ({2 * self.flow_maps}, {self.input_size[0]}, "
                                 f"{self.input_size[1]}), got {f.shape}")
            out["motion"] = motion_saliency(input_to_flow(f[:2]), cfg.work_size,
                                            cfg.motion_noise_px, cfg.motion_full_px)
        if self.faces_available:
            assert self._faces is not None
            if self._frame_count % cfg.face_interval == 0:
                self._boxes = self._faces.detect(grey)
            out["face"] = face_map(cfg.work_size, self._boxes, self.input_size)
        self._frame_count += 1
        return out

    def combine(self, terms: dict[str, np.ndarray]) -> np.ndarray:
        """Weighted mean of the terms present (a missing term's weight is left out)."""
        weights = {"centre": self.config.w_centre, "motion": self.config.w_motion,
                   "static": self.config.w_static, "face": self.config.w_face}
        total = sum(weights[k] for k in terms if weights[k] > 0)
        acc = np.zeros(self.config.work_size, np.float32)
        for k, v in terms.items():
            if weights[k] > 0:
                acc += np.float32(weights[k] / total) * v
        return acc

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        """The frame's combined prior on the work grid, float32 (h, w) in [0, 1]."""
        return self.combine(self.terms(frame, flows))

    def head(self, window: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """EMA over frames, up-sampled to ``input_size`` and scaled to [0, 1]."""
        w = np.asarray(window, dtype=np.float32)
        if w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[0] < 1 or w.shape[1:] != self.config.work_size:
            raise InputError(f"window must be (n, {self.config.work_size[0]}, "
                             f"{self.config.work_size[1]}), got {w.shape}")
        cur = w[0]
        a = np.float32(self.config.ema)
        smooth = cur if state is None else a * cur + (1 - a) * np.asarray(state, np.float32)
        h, wd = self.input_size
        up = cv2.resize(smooth, (wd, h), interpolation=cv2.INTER_LINEAR)
        top = float(up.max())
        out = up / top if top > 0 else up
        return np.clip(out, 0.0, 1.0).astype(np.float32), smooth

    def close(self) -> None:
        self._faces = None

    def __enter__(self) -> PriorPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
