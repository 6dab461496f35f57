"""Inference backends behind one runner interface, and the streaming predictors built on them.

Names are imported lazily so that ``import rt_saliency.runtime`` stays cheap (no torch,
onnxruntime or tensorrt until a runner is opened).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Runner": "rt_saliency.runtime.base",
    "TensorSpec": "rt_saliency.runtime.base",
    "OutputDiff": "rt_saliency.runtime.base",
    "compare_outputs": "rt_saliency.runtime.base",
    "StreamPredictor": "rt_saliency.runtime.predictor",
    "NetworkPredictor": "rt_saliency.runtime.network",
    "TorchRunner": "rt_saliency.runtime.torch_runner",
    "OnnxRunner": "rt_saliency.runtime.onnx_runner",
    "TensorRTRunner": "rt_saliency.runtime.tensorrt_runner",
    "open_runner": "rt_saliency.runtime.registry",
    "open_predictor": "rt_saliency.runtime.registry",
    "BACKENDS": "rt_saliency.runtime.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rt_saliency.runtime' has no attribute {name!r}")
