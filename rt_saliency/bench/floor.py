"""This machine's dense convolution / GEMM throughput: the floor a model's time is judged against.

A model of M multiply-accumulates cannot run faster than M / (the best MAC rate this machine
reaches on dense convolutions).  :func:`measure_floor` measures that rate once per benchmark run,
with Torch and, when it loads, ONNX Runtime, on convolution shapes like TP-CMRNet's (3x3 and 5x5
at 56x56 and 28x28) plus one square GEMM; the ratio ``model time / (MACs / floor rate)`` then says
how far a backend is from the hardware.  1.0 would be perfect; 2-4 is typical for small layers.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.bench.timing import summarize, time_calls, torch_threads
from rt_saliency.optional import import_optional

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConvShape:
    """One dense convolution (batch 1, stride 1, same padding) repeated ``depth`` times."""

    name: str
    channels: int
    size: int
    kernel: int
    depth: int = 4

    @property
    def macs(self) -> int:
        return self.depth * self.size * self.size * self.channels * self.channels * self.kernel**2


#: shapes like the model's heavy layers (see DESIGN.md: CMR blocks at 56x56 and 28x28)
CONV_SHAPES: tuple[ConvShape, ...] = (
    ConvShape("conv3x3_c64_56", channels=64, size=56, kernel=3),
    ConvShape("conv5x5_c32_56", channels=32, size=56, kernel=5),
    ConvShape("conv3x3_c128_28", channels=128, size=28, kernel=3),
)
#: square fp32 GEMM size
GEMM_N: int = 1024


def _torch_conv(shape: ConvShape, threads: int, warmup: int, iters: int) -> dict[str, Any]:
    torch = import_optional("torch")

    with torch_threads(threads), torch.inference_mode():
        layers = torch.nn.Sequential(
            *[
                torch.nn.Conv2d(shape.channels, shape.channels, shape.kernel,
                                padding=shape.kernel // 2, bias=False)
                for _ in range(shape.depth)
            ]
        ).eval()
        x = torch.randn(1, shape.channels, shape.size, shape.size)
        samples = time_calls(lambda: layers(x), warmup=warmup, iters=iters, max_seconds=3.0)
    return _row("torch", shape.name, shape.macs, samples, threads)


def _torch_gemm(n: int, threads: int, warmup: int, iters: int) -> dict[str, Any]:
    torch = import_optional("torch")

    with torch_threads(threads), torch.inference_mode():
        a, b = torch.randn(n, n), torch.randn(n, n)
        samples = time_calls(lambda: a @ b, warmup=warmup, iters=iters, max_seconds=3.0)
    return _row("torch", f"gemm_{n}", n**3, samples, threads)


def _ort_conv(shape: ConvShape, threads: int, warmup: int, iters: int) -> dict[str, Any]:
    ort = import_optional("onnxruntime")

    rng = np.random.default_rng(0)
    model = _conv_chain(shape, rng)
    sess = ort.InferenceSession(model.SerializeToString(), _ort_options(threads),
                                providers=["CPUExecutionProvider"])
    x = rng.standard_normal([1, shape.channels, shape.size, shape.size]).astype(np.float32)
    samples = time_calls(lambda: sess.run(None, {"x": x}), warmup=warmup, iters=iters,
                         max_seconds=3.0)
    return _row("onnxruntime", shape.name, shape.macs, samples, threads)


def _conv_chain(shape: ConvShape, rng: np.random.Generator) -> Any:
    """An ONNX model of ``shape.depth`` chained convolutions (float32, random weights)."""
    _onnx = import_optional("onnx")
    TensorProto = _onnx.TensorProto
    helper = _onnx.helper
    numpy_helper = _onnx.numpy_helper

    nodes, inits = [], []
    prev = "x"
    for i in range(shape.depth):
        w = rng.standard_normal(
            (shape.channels, shape.channels, shape.kernel, shape.kernel)
        ).astype(np.float32) * 0.05
        inits.append(numpy_helper.from_array(w, name=f"w{i}"))
        out = "y" if i == shape.depth - 1 else f"t{i}"
        pad = shape.kernel // 2
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [out], pads=[pad] * 4))
        prev = out
    dims = [1, shape.channels, shape.size, shape.size]
    graph = helper.make_graph(
        nodes, "floor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ort_int8_conv(shape: ConvShape, threads: int, warmup: int, iters: int) -> dict[str, Any]:
    """The same convolutions quantized as the INT8 encoder is (QDQ, per-channel, U8/S8): the
    floor an INT8 graph is judged against (VNNI's integer rate, not the float one)."""
    onnx = import_optional("onnx")
    ort = import_optional("onnxruntime")
    _quantization = import_optional("onnxruntime.quantization")
    QuantFormat = _quantization.QuantFormat
    QuantType = _quantization.QuantType
    quantize_static = _quantization.quantize_static

    rng = np.random.default_rng(0)
    dims = [1, shape.channels, shape.size, shape.size]
    batches = [{"x": rng.standard_normal(dims).astype(np.float32)} for _ in range(2)]

    class Reader:
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    with tempfile.TemporaryDirectory(prefix="rt-saliency-floor-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(_conv_chain(shape, rng), str(fp32))
        quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        sess = ort.InferenceSession(str(int8), _ort_options(threads),
                                    providers=["CPUExecutionProvider"])
    x = batches[0]["x"]
    samples = time_calls(lambda: sess.run(None, {"x": x}), warmup=warmup, iters=iters,
                         max_seconds=3.0)
    return _row("onnxruntime-int8", shape.name, shape.macs, samples, threads)


def _ort_options(threads: int) -> Any:
    ort = import_optional("onnxruntime")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


def _row(backend: str, name: str, macs: int, samples: list[float], threads: int) -> dict[str, Any]:
    stats = summarize(samples)
    # the floor is what the hardware *can* do: judge it by the fastest call, not the median
    gmacs = macs / (stats["min_ms"] / 1e3) / 1e9
    return {
        "kind": "floor",
        "backend": backend,
        "shape": name,
        "threads": threads,
        "macs": macs,
        "gmac_per_s": gmacs,
        "rate_from": "fastest call",
        "gflop_per_s": 2 * gmacs,
        **stats,
    }


def measure_floor(
    *,
    threads: int = 2,
    warmup: int = 3,
    iters: int = 20,
    shapes: tuple[ConvShape, ...] = CONV_SHAPES,
    gemm_n: int = GEMM_N,
    onnxruntime: bool = True,
    int8: bool = True,
) -> dict[str, Any]:
    """Measure dense conv (and GEMM) MAC rates; returns rows and the floor rates in MAC/s.

    ``floor_conv_macs_per_s`` is the best float conv rate (fastest call) over backends and
    shapes: the rate FP32 model times are compared with.  ``floor_conv_int8_macs_per_s`` (with
    ``int8``) is the best rate of the same convolutions quantized like the INT8 encoder: the rate
    INT8 graphs are compared with.  GEMM is reported beside them but not used (the model is convs).
    """
    rows: list[dict[str, Any]] = []
    for shape in shapes:
        rows.append(_torch_conv(shape, threads, warmup, iters))
    if gemm_n > 0:
        rows.append(_torch_gemm(gemm_n, threads, warmup, iters))
    ort_error = None
    if onnxruntime:
        try:
            for shape in shapes:
                rows.append(_ort_conv(shape, threads, warmup, iters))
        except ImportError as exc:
            ort_error = f"onnxruntime unavailable: {exc}"
            log.warning("floor: %s", ort_error)
    if onnxruntime and int8 and ort_error is None:
        for shape in shapes:
            rows.append(_ort_int8_conv(shape, threads, warmup, iters))
    int8_rows = [r for r in rows if r["backend"] == "onnxruntime-int8"]
    conv = [r for r in rows if not r["shape"].startswith("gemm") and r not in int8_rows]
    per_backend = {}
    for backend in sorted({r["backend"] for r in conv}):
        per_backend[backend] = max(r["gmac_per_s"] for r in conv if r["backend"] == backend) * 1e9
    return {
        "threads": threads,
        "rows": rows,
        "floor_conv_macs_per_s": max(per_backend.values()),
        "floor_conv_macs_per_s_by_backend": per_backend,
        "floor_conv_int8_macs_per_s": (max(r["gmac_per_s"] for r in int8_rows) * 1e9
                                       if int8_rows else None),
        "onnxruntime_error": ort_error,
        "shapes": [asdict(s) | {"macs": s.macs} for s in shapes],
    }


def floor_ratio(time_s: float, macs: int, floor_macs_per_s: float) -> float:
    """How many times slower than the floor: measured time / (MACs / floor rate)."""
    return time_s / (macs / floor_macs_per_s)
