"""Training-free saliency prior: centre bias, motion, static saliency and faces (no weights)."""

from __future__ import annotations

from rt_saliency.prior.faces import FaceDetector
from rt_saliency.prior.predictor import PriorConfig, PriorPredictor
from rt_saliency.prior.terms import (
    centre_bias,
    face_map,
    global_motion,
    motion_saliency,
    spectral_residual,
)

__all__ = [
    "FaceDetector",
    "PriorConfig",
    "PriorPredictor",
    "centre_bias",
    "face_map",
    "global_motion",
    "motion_saliency",
    "spectral_residual",
]
