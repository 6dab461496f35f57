"""One-shot GPU check: export, build TensorRT engines, compare with ONNX Runtime, time backends.

Run by ``benchmarks/gpu_check.py`` on a machine with an NVIDIA GPU.  It never skips: without a
GPU or TensorRT it raises :class:`BackendUnavailableError` (exit status 1).  Everything it
measures goes into one JSON file.  Written from the TensorRT 10/11 Python API documentation;
see ``docs/deployment.md`` for whether it has been run on hardware.

Tolerances (max abs difference over max(1, max |reference|), reference = ONNX Runtime FP32):
FP32 engines 2e-3 (TensorRT uses TF32 for FP32 convolutions on Ampere and newer by default),
FP16 engines 5e-2.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.artifacts import engine_filename
from rt_saliency.deploy.engine import build_engine, import_tensorrt, runtime_info
from rt_saliency.deploy.graphs import EncoderGraph, HeadGraph, random_inputs
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.errors import BackendUnavailableError
from rt_saliency.model import create_model
from rt_saliency.optional import import_optional
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.registry import load_model
from rt_saliency.runtime.tensorrt_runner import TensorRTRunner

log = logging.getLogger(__name__)

TOLERANCE = {"fp32": 2e-3, "fp16": 5e-2}


def _require_gpu() -> Any:
    trt = import_tensorrt()  # raises BackendUnavailableError with the install hint
    torch = import_optional("torch")

    if not torch.cuda.is_available():
        raise BackendUnavailableError("gpu_check needs a CUDA GPU and torch with CUDA; none is visible")
    return trt


def _time_cuda(fn: Any, warmup: int, repeat: int) -> dict[str, float]:
    """Median and p99 milliseconds of ``fn()`` measured with CUDA events after ``warmup`` calls."""
    torch = import_optional("torch")

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)), "n": repeat}


def _scaled_diff(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    return {
        name: float(np.abs(got[name].astype(np.float64) - ref[name]).max() / max(1.0, float(np.abs(ref[name]).max())))
        for name in ref
    }


def run_gpu_check(
    out_json: str | Path,
    workdir: str | Path,
    *,
    weights: str | Path | None = None,
    lookahead: int = 2,
    warmup: int = 20,
    repeat: int = 200,
    budget_s: float = 450.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Build FP32/FP16 engines of the encoder and head, check them against ONNX Runtime, time
    torch (CUDA), ONNX Runtime and TensorRT, and write the JSON report to ``out_json``.

    ``budget_s`` bounds the run: timing is cut short (and the JSON says so) when it runs out.
    """
    t0 = time.perf_counter()
    trt = _require_gpu()
    ort = import_optional("onnxruntime")
    torch = import_optional("torch")

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": {**runtime_info(), "platform": platform.platform(), "torch": torch.__version__,
                    "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers()},
        "tolerance_scaled_max_abs": TOLERANCE,
        "lookahead": lookahead,
        "builds": {},
        "parity": {},
        "timing": {},
        "notes": [],
    }
    if weights is not None:
        model = load_model(weights)
    else:
        torch.manual_seed(seed)
        model = create_model().eval()
        report["notes"].append("random-init weights (no --weights given)")
    exported = export_onnx(model, workdir / "onnx", lookahead=lookahead)
    graphs = {"encoder": exported.encoder_path, "head": exported.head_path}
    cache = workdir / "trt.timing.cache"
    engines: dict[tuple[str, str], Path] = {}
    for graph, onnx_path in graphs.items():
        for precision in ("fp32", "fp16"):
            path = workdir / "engines" / engine_filename(onnx_path, precision)
            result = build_engine(onnx_path, path, precision=precision, timing_cache=cache)
            engines[(graph, precision)] = path
            report["builds"][f"{graph}.{precision}"] = {
                "seconds": round(result.seconds, 2), "bytes": path.stat().st_size,
                "fp16_method": result.sidecar.get("fp16_method"),
            }

    ort_device = "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
    ok = True
    for graph, onnx_path in graphs.items():
        with OnnxRunner(onnx_path, device="cpu") as ref_runner:
            inputs = random_inputs(ref_runner.input_specs, seed)
            ref = ref_runner.infer(inputs)
        for precision in ("fp32", "fp16"):
            with TensorRTRunner(engines[(graph, precision)]) as runner:
                diff = _scaled_diff(runner.infer(inputs), ref)
            passed = max(diff.values()) <= TOLERANCE[precision]
            ok &= passed
            report["parity"][f"{graph}.{precision}"] = {"scaled_max_abs": diff, "passed": passed}

    # timing: one frame = one encoder call + one head window
    device = torch.device("cuda", 0)
    model_gpu = model.to(device)
    for graph, onnx_path in graphs.items():
        if time.perf_counter() - t0 > budget_s:
            report["notes"].append(f"time budget {budget_s} s spent: timing of {graph} and later skipped")
            break
        module = (EncoderGraph if graph == "encoder" else HeadGraph)(model_gpu).eval()
        with OnnxRunner(onnx_path, device="cpu") as probe:
            inputs = random_inputs(probe.input_specs, seed)
        gpu_inputs = [torch.from_numpy(a).to(device) for a in inputs.values()]
        with torch.inference_mode():
            report["timing"][f"torch.{graph}"] = _time_cuda(lambda: module(*gpu_inputs), warmup, repeat)
        with OnnxRunner(onnx_path, device=ort_device) as runner:
            n = repeat if ort_device == "cuda" else max(5, repeat // 20)
            entry = _time_cuda(lambda: runner.infer(inputs), min(warmup, 5), n)
            entry["device"] = ort_device
            entry["includes_host_copies"] = True
            report["timing"][f"onnxruntime.{graph}"] = entry
        for precision in ("fp32", "fp16"):
            with TensorRTRunner(engines[(graph, precision)]) as runner:
                for name, array in inputs.items():
                    runner.buffers[name].copy_(torch.from_numpy(array))
                report["timing"][f"tensorrt_{precision}.{graph}"] = _time_cuda(runner.infer_device, warmup, repeat)
    for backend in ("torch", "onnxruntime", "tensorrt_fp32", "tensorrt_fp16"):
        enc, head = report["timing"].get(f"{backend}.encoder"), report["timing"].get(f"{backend}.head")
        if enc and head:
            report["timing"][f"{backend}.frame_median_ms"] = enc["median_ms"] + head["median_ms"]
    report["passed"] = bool(ok)
    report["tensorrt_version"] = trt.__version__
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(report, indent=2) + "\n")
    return report
