"""Parity and timing of exported graphs against the torch model (what ``export --check`` prints).

Timings are wall-clock medians after warm-up on whatever else the machine is doing: compare
backends measured in the same run (the ratio), not numbers from different runs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch import nn

from rt_saliency.deploy.graphs import EncoderGraph, HeadGraph, graph_outputs, random_inputs
from rt_saliency.deploy.onnx_export import ExportResult
from rt_saliency.runtime.base import Runner, compare_outputs
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.torch_runner import TorchRunner


def _pairs(model: nn.Module, result: ExportResult, threads: int | None) -> dict[str, tuple[Runner, Runner]]:
    return {
        "encoder": (
            OnnxRunner(result.encoder_path, threads=threads),
            TorchRunner(EncoderGraph(model), result.encoder_specs, graph_outputs("encoder"), threads=threads),
        ),
        "head": (
            OnnxRunner(result.head_path, threads=threads),
            TorchRunner(HeadGraph(model), result.head_specs, graph_outputs("head"), threads=threads),
        ),
    }


def time_runner(runner: Runner, inputs: dict[str, np.ndarray], repeat: int = 10, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``runner.infer(inputs)`` after ``warmup`` calls."""
    for _ in range(warmup):
        runner.infer(inputs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        runner.infer(inputs)
        times.append(time.perf_counter() - start)
    return times


def check_export(
    model: nn.Module,
    result: ExportResult,
    *,
    seed: int = 0,
    threads: int | None = 2,
    repeat: int = 0,
    warmup: int = 2,
) -> dict[str, Any]:
    """ONNX Runtime vs torch: per-output diffs on random inputs and, with ``repeat > 0``, the
    median / p90 milliseconds per frame (one encoder call + one head window) of each backend."""
    report: dict[str, Any] = {"seed": seed, "threads": threads, "parity": {}, "timing_ms": {}}
    pairs = _pairs(model, result, threads)
    samples: dict[str, dict[str, list[float]]] = {"onnxruntime": {}, "torch": {}}
    try:
        for graph, (ort_runner, torch_runner) in pairs.items():
            inputs = random_inputs(ort_runner.input_specs, seed)
            diffs = compare_outputs(ort_runner.infer(inputs), torch_runner.infer(inputs))
            report["parity"][graph] = {name: d.to_dict() for name, d in diffs.items()}
            if repeat > 0:
                samples["onnxruntime"][graph] = time_runner(ort_runner, inputs, repeat, warmup)
                samples["torch"][graph] = time_runner(torch_runner, inputs, repeat, warmup)
    finally:
        for a, b in pairs.values():
            a.close()
            b.close()
    if repeat > 0:
        for backend, per_graph in samples.items():
            entry = {}
            for graph, times in per_graph.items():
                entry[f"{graph}_median"] = 1e3 * float(np.median(times))
                entry[f"{graph}_p90"] = 1e3 * float(np.percentile(times, 90))
            entry["frame_median"] = entry["encoder_median"] + entry["head_median"]
            report["timing_ms"][backend] = entry
        report["timing_ms"]["torch_over_onnxruntime"] = (
            report["timing_ms"]["torch"]["frame_median"] / report["timing_ms"]["onnxruntime"]["frame_median"]
        )
        report["repeat"] = repeat
    report["max_abs"] = max(d["max_abs"] for g in report["parity"].values() for d in g.values())
    return report
