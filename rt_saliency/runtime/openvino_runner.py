"""OpenVINO runner: an ONNX graph compiled by OpenVINO's CPU plugin, behind the runner interface.

OpenVINO reads the same ``encoder.onnx`` / ``encoder.int8.onnx`` / ``head_w*.onnx`` files as
ONNX Runtime (QDQ graphs run as INT8).  It is kept because, measured in one run on this 2-core
AVX-512 VNNI machine, it ran the INT8 encoder in 0.67-0.77x ONNX Runtime's time (FP32 graphs:
0.97-1.03x, a tie; ``docs/deployment.md``).  Optional: ``pip install 'rt-saliency[openvino]'``.

Settings: ``INFERENCE_NUM_THREADS`` = ``threads`` (``None``: OpenVINO's default),
``PERFORMANCE_HINT=LATENCY`` with one stream (one request at a time, as the stream calls it),
``INFERENCE_PRECISION_HINT=f32`` so FP32 graphs are not silently run in BF16 where the CPU has
it (INT8 graphs still run in INT8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.errors import BackendUnavailableError, InputNotFoundError
from rt_saliency.optional import import_optional
from rt_saliency.runtime.base import Runner
from rt_saliency.spec import TensorSpec


def import_openvino() -> Any:
    """Import ``openvino`` or raise :class:`BackendUnavailableError` saying how to install it."""
    return import_optional("openvino", hint="OpenVINO is not installed: pip install 'rt-saliency[openvino]'")


class OpenVINORunner(Runner):
    """One ONNX file compiled for OpenVINO's CPU device."""

    backend = "openvino"

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__()
        ov = import_openvino()
        path = Path(path)
        if not path.is_file():
            raise InputNotFoundError(f"ONNX model not found: {path}")
        if device.split(":")[0] != "cpu":
            raise BackendUnavailableError(f"the OpenVINO runner runs on the CPU, not {device!r}")
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                                  "INFERENCE_PRECISION_HINT": "f32"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.path = path
        self.device = "cpu"
        core = ov.Core()
        model = core.read_model(str(path))
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._specs = {}
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.is_dynamic:
                raise BackendUnavailableError(f"{path}: input '{port.any_name}' has a dynamic "
                                              f"shape {shape}; export static shapes")
            dtype = np.dtype(port.get_element_type().to_dtype())
            self._specs[port.any_name] = TensorSpec(port.any_name, tuple(shape.to_shape()), dtype)
        self._outputs = tuple(port.any_name for port in model.outputs)

    def _infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self._request.infer(inputs)
        return {name: np.array(result[self._compiled.output(name)]) for name in self._outputs}

    def _release(self) -> None:
        self._request = None
        self._compiled = None
