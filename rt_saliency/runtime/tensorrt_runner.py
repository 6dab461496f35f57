"""TensorRT runner: a serialized engine run with ``execute_async_v3`` on named tensors.

Device buffers are torch CUDA tensors (one per I/O tensor, allocated once), so no pycuda or
cuda-python is needed; the runner uses torch's current CUDA stream.  The engine's sidecar
(:mod:`rt_saliency.deploy.engine`) is checked against the running TensorRT and GPU before the
engine is deserialised.  Untested on hardware in this repository's CI (no GPU there).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rt_saliency.deploy.engine import (
    check_engine_compat,
    import_tensorrt,
    load_sidecar,
    runtime_info,
)
from rt_saliency.errors import BackendUnavailableError, GraphError, InputNotFoundError
from rt_saliency.runtime.base import Runner, TensorSpec

log = logging.getLogger(__name__)


class TensorRTRunner(Runner):
    """One TensorRT engine (static shapes) on CUDA device 0.

    ``check=False`` skips the sidecar check (TensorRT itself still refuses an engine from another
    version, less clearly).  Raises :class:`BackendUnavailableError` without TensorRT or a GPU and
    :class:`~rt_saliency.errors.EngineMismatchError` for an engine built elsewhere.
    """

    backend = "tensorrt"

    def __init__(self, engine_path: str | Path, *, check: bool = True) -> None:
        super().__init__()
        trt = import_tensorrt()
        try:
            import torch
        except ImportError as exc:  # pragma: no cover
            raise BackendUnavailableError("the TensorRT runner needs torch for CUDA buffers") from exc
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            raise InputNotFoundError(f"TensorRT engine not found: {engine_path}")
        info = runtime_info()
        if check:
            for warning in check_engine_compat(load_sidecar(engine_path), info, engine_path=engine_path):
                log.warning("%s", warning)
        self.path = engine_path
        self._torch = torch
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        data = engine_path.read_bytes()
        if not data:
            raise GraphError(f"{engine_path}: empty file, not a TensorRT engine")
        self._engine = self._runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise GraphError(f"TensorRT could not deserialise {engine_path}: corrupt, or built "
                             "by another TensorRT version (see its log)")
        self._context = self._engine.create_execution_context()
        device = torch.device("cuda", 0)
        self._specs: dict[str, TensorSpec] = {}
        outputs: list[str] = []
        self._buffers: dict[str, torch.Tensor] = {}
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            shape = tuple(int(s) for s in self._engine.get_tensor_shape(name))
            if any(s < 0 for s in shape):
                raise BackendUnavailableError(f"{engine_path}: tensor '{name}' has a dynamic shape {shape}")
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            buffer = torch.empty(shape, dtype=_torch_dtype(torch, dtype), device=device)
            self._buffers[name] = buffer
            self._context.set_tensor_address(name, buffer.data_ptr())
            if self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self._specs[name] = TensorSpec(name, shape, dtype)
                self._context.set_input_shape(name, shape)
            else:
                outputs.append(name)
        self._outputs = tuple(outputs)

    def infer_device(self) -> None:
        """Run the engine on whatever the input buffers hold (for timing without copies)."""
        stream = self._torch.cuda.current_stream()
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execute_async_v3 failed on {self.path}")

    @property
    def buffers(self) -> dict:
        """The device tensors bound to each I/O name (torch CUDA tensors)."""
        return self._buffers

    def _infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        for name, array in inputs.items():
            self._buffers[name].copy_(torch.from_numpy(array), non_blocking=False)
        self.infer_device()
        torch.cuda.current_stream().synchronize()
        return {name: self._buffers[name].float().cpu().numpy() for name in self._outputs}

    def _release(self) -> None:
        self._context = None
        self._engine = None
        self._runtime = None
        self._buffers = {}


def _torch_dtype(torch, dtype: np.dtype):  # type: ignore[no-untyped-def]
    table = {
        np.dtype(np.float32): torch.float32,
        np.dtype(np.float16): torch.float16,
        np.dtype(np.int32): torch.int32,
        np.dtype(np.int64): torch.int64,
        np.dtype(np.int8): torch.int8,
        np.dtype(np.bool_): torch.bool,
    }
    if dtype not in table:
        raise BackendUnavailableError(f"unsupported TensorRT tensor dtype {dtype}")
    return table[dtype]
