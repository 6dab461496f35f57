"""TensorRT runner: a serialized engine run with ``execute_async_v3`` on named tensors.

Device buffers are torch CUDA tensors (one per I/O tensor, allocated once), so no pycuda or
cuda-python is needed.  Each runner has its own CUDA stream: the stream's encoder and head run in
two threads, and on one shared (legacy default) stream their work would serialise.  Recurrent
state can stay on the device (:meth:`TensorRTRunner.infer_state`): the head's ``h1``/``c1`` are
copied device-to-device into the next call's ``h0``/``c0`` instead of a host round trip per frame.
I/O dtypes map to torch directly (``trt.nptype`` has no numpy type for BF16/FP8 and raises); host
arrays of those types are float32.  The engine's sidecar (:mod:`rt_saliency.deploy.engine`) is
checked against the running TensorRT and GPU before the engine is deserialised.  Written from the
TensorRT 10/11 Python API documentation; not run on hardware in this repository (no GPU here).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.artifacts import load_sidecar
from rt_saliency.deploy.engine import check_engine_compat, import_tensorrt, runtime_info
from rt_saliency.errors import BackendUnavailableError, GraphError, InputNotFoundError
from rt_saliency.optional import import_optional
from rt_saliency.runtime.base import Runner
from rt_saliency.spec import TensorSpec

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
            torch = import_optional("torch")
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
        self._stream = torch.cuda.Stream(device=device)
        self._specs: dict[str, TensorSpec] = {}
        outputs: list[str] = []
        self._buffers: dict[str, torch.Tensor] = {}
        self._staging: dict[str, torch.Tensor] = {}
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            shape = tuple(int(s) for s in self._engine.get_tensor_shape(name))
            if any(s < 0 for s in shape):
                raise BackendUnavailableError(f"{engine_path}: tensor '{name}' has a dynamic shape {shape}")
            dtype, torch_dtype = _io_dtypes(trt, torch, self._engine.get_tensor_dtype(name))
            buffer = torch.empty(shape, dtype=torch_dtype, device=device)
            self._buffers[name] = buffer
            self._context.set_tensor_address(name, buffer.data_ptr())
            if self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self._specs[name] = TensorSpec(name, shape, dtype)
                # pinned host staging, allocated once: the upload is asynchronous on our stream
                self._staging[name] = torch.empty(shape, dtype=host_torch_dtype(torch, dtype),
                                                  pin_memory=True)
                self._context.set_input_shape(name, shape)
            else:
                outputs.append(name)
        self._outputs = tuple(outputs)

    def infer_device(self) -> None:
        """Run the engine on whatever the input buffers hold (for timing without copies), on
        this runner's stream; returns without waiting for it (see :attr:`stream`)."""
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise RuntimeError(f"TensorRT execute_async_v3 failed on {self.path}")

    @property
    def stream(self):  # type: ignore[no-untyped-def]
        """This runner's own ``torch.cuda.Stream``."""
        return self._stream

    @property
    def buffers(self) -> dict:
        """The device tensors bound to each I/O name (torch CUDA tensors)."""
        return self._buffers

    def _upload(self, inputs: Mapping[str, np.ndarray]) -> None:
        # the previous call synchronised the stream, so the staging buffers are free again
        with self._torch.cuda.stream(self._stream):
            for name, array in inputs.items():
                staging = self._staging[name]
                staging.numpy()[...] = array  # any strides, negative ones too
                self._buffers[name].copy_(staging, non_blocking=True)

    def _infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._upload(inputs)
        self.infer_device()
        with self._torch.cuda.stream(self._stream):
            results = {name: self._buffers[name].float() for name in self._outputs}
        self._stream.synchronize()
        return {name: t.cpu().numpy() for name, t in results.items()}

    def infer_state(
        self, inputs: Mapping[str, np.ndarray], state: Mapping[str, Any] | None,
        carry: Mapping[str, str],
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Run with recurrent state kept on the device.

        ``carry`` maps state outputs to the inputs they feed next time (``{"h1": "h0", ...}``);
        ``state`` is what the previous call returned (device tensors), or ``None`` for zeros.
        The other inputs come from the host; outputs not in ``carry`` go back to the host.
        """
        torch = self._torch
        host = {k: v for k, v in inputs.items() if k not in carry.values()}
        checked = self.check_inputs({**host, **{n: np.zeros(self._specs[n].shape, self._specs[n].dtype)
                                                 for n in carry.values()}})
        self._upload({k: checked[k] for k in host})
        with torch.cuda.stream(self._stream):
            for out_name, in_name in carry.items():
                if state is None:
                    self._buffers[in_name].zero_()
                else:
                    self._buffers[in_name].copy_(state[out_name], non_blocking=True)
        self.infer_device()
        with torch.cuda.stream(self._stream):
            new_state = {name: self._buffers[name].clone() for name in carry}
            results = {name: self._buffers[name].float() for name in self._outputs
                       if name not in carry}
        self._stream.synchronize()
        return {name: t.cpu().numpy() for name, t in results.items()}, new_state

    def _release(self) -> None:
        self._context = None
        self._engine = None
        self._runtime = None
        self._buffers = {}


def host_tensor(torch, array: np.ndarray):  # type: ignore[no-untyped-def]
    """A CPU torch tensor of a host array of any strides (``torch.from_numpy`` refuses negative
    strides, e.g. ``frame[:, ::-1]``)."""
    return torch.from_numpy(np.ascontiguousarray(array))


def host_torch_dtype(torch, dtype: np.dtype):  # type: ignore[no-untyped-def]
    """The torch dtype of a host numpy dtype (for the staging buffers)."""
    return torch.from_numpy(np.zeros(0, dtype)).dtype


def _io_dtypes(trt, torch, trt_dtype):  # type: ignore[no-untyped-def]
    """(host numpy dtype, device torch dtype) of a TensorRT I/O dtype.  BF16 and FP8 have no
    numpy type (``trt.nptype`` raises on them): their host arrays are float32, converted on the
    device by ``copy_``."""
    table = {
        "FLOAT": (np.float32, torch.float32),
        "HALF": (np.float16, torch.float16),
        "BF16": (np.float32, torch.bfloat16),
        "FP8": (np.float32, getattr(torch, "float8_e4m3fn", None)),
        "INT8": (np.int8, torch.int8),
        "UINT8": (np.uint8, torch.uint8),
        "INT32": (np.int32, torch.int32),
        "INT64": (np.int64, torch.int64),
        "BOOL": (np.bool_, torch.bool),
    }
    name = getattr(trt_dtype, "name", str(trt_dtype)).split(".")[-1].upper()
    host, device = table.get(name, (None, None))
    if host is None or device is None:
        raise BackendUnavailableError(f"unsupported TensorRT tensor dtype {trt_dtype}")
    return np.dtype(host), device
