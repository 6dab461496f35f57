"""TensorRT build decisions and host-side helpers that need neither TensorRT nor a GPU."""

from __future__ import annotations

import enum

import numpy as np
import pytest
import torch

from rt_saliency.deploy.engine import build_plan
from rt_saliency.errors import BackendUnavailableError, ConfigError
from rt_saliency.runtime.tensorrt_runner import _io_dtypes, host_tensor


def test_fp32_is_strongly_typed_with_the_flag_only_on_10() -> None:
    ten, eleven = build_plan(10, "fp32"), build_plan(11, "fp32")
    assert ten.strongly_typed and ten.strongly_typed_flag and not ten.builder_fp16
    assert eleven.strongly_typed and not eleven.strongly_typed_flag  # implicit (flag deprecated)
    assert not ten.convert_onnx_fp16 and not eleven.convert_onnx_fp16


def test_fp16_paths() -> None:
    flag = build_plan(10, "fp16")  # auto on 10: the weakly typed BuilderFlag.FP16 path
    assert flag.builder_fp16 and not flag.strongly_typed and not flag.strongly_typed_flag
    onnx10 = build_plan(10, "fp16", "onnx")  # TensorRT 11's path, also valid on 10
    assert onnx10.convert_onnx_fp16 and onnx10.strongly_typed and onnx10.strongly_typed_flag
    assert not onnx10.builder_fp16
    eleven = build_plan(11, "fp16")
    assert eleven.convert_onnx_fp16 and not eleven.builder_fp16 and not eleven.strongly_typed_flag
    with pytest.raises(ConfigError, match="removed in TensorRT 11"):
        build_plan(11, "fp16", "flag")
    with pytest.raises(ConfigError):
        build_plan(10, "int4")
    with pytest.raises(ConfigError):
        build_plan(9, "fp32")


def test_host_tensor_takes_negative_strides() -> None:
    frame = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    flipped = frame[:, :, ::-1]
    with pytest.raises(ValueError):
        torch.from_numpy(flipped)
    np.testing.assert_array_equal(host_tensor(torch, flipped).numpy(), flipped)


class _DataType(enum.Enum):  # the names TensorRT's DataType enum uses
    FLOAT = 0
    HALF = 1
    BF16 = 2
    FP8 = 3
    INT64 = 4
    FP4 = 5


def test_io_dtypes_cover_bf16_and_fp8() -> None:
    assert _io_dtypes(None, torch, _DataType.FLOAT) == (np.dtype(np.float32), torch.float32)
    assert _io_dtypes(None, torch, _DataType.HALF) == (np.dtype(np.float16), torch.float16)
    assert _io_dtypes(None, torch, _DataType.BF16) == (np.dtype(np.float32), torch.bfloat16)
    assert _io_dtypes(None, torch, _DataType.FP8)[1] == torch.float8_e4m3fn
    assert _io_dtypes(None, torch, _DataType.INT64)[0] == np.dtype(np.int64)
    with pytest.raises(BackendUnavailableError):
        _io_dtypes(None, torch, _DataType.FP4)
