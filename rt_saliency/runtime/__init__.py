"""Inference backends behind one runner interface, and the streaming predictors built on them.

The backends' own libraries (onnxruntime, tensorrt, openvino) are imported when a runner is
opened, so importing this package needs none of them.
"""

from __future__ import annotations

from rt_saliency.runtime.base import Runner
from rt_saliency.runtime.compare import OutputDiff, compare_outputs
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.pair import RunnerPair, open_runner, open_runner_pair
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.runtime.registry import BACKENDS, open_predictor
from rt_saliency.runtime.tensorrt_runner import TensorRTRunner
from rt_saliency.runtime.torch_runner import TorchRunner
from rt_saliency.spec import TensorSpec

__all__ = [
    "BACKENDS",
    "NetworkPredictor",
    "OnnxRunner",
    "OutputDiff",
    "RunnerPair",
    "Runner",
    "StreamPredictor",
    "TensorRTRunner",
    "TensorSpec",
    "TorchRunner",
    "compare_outputs",
    "open_predictor",
    "open_runner",
    "open_runner_pair",
]
