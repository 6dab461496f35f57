"""Parity and timing of exported graphs against the torch model (what ``export --check`` prints).

Timings are wall-clock medians after warm-up on whatever else the machine is doing: compare
backends measured in the same run (the ratio), not numbers from different runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from rt_saliency.deploy.calibration import video_frame_count, video_samples
from rt_saliency.deploy.graphs import random_inputs
from rt_saliency.deploy.onnx_export import ExportResult
from rt_saliency.runtime.base import Runner
from rt_saliency.runtime.compare import MapAgreement, compare_maps, compare_outputs
from rt_saliency.runtime.network import upsample_map
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.pair import open_runner_pair
from rt_saliency.spec import INPUT_SIZE


def _pairs(model: nn.Module, result: ExportResult, threads: int | None) -> dict[str, tuple[Runner, Runner]]:
    """Per graph, the exported ONNX runner and the torch reference it must match."""
    onnx = open_runner_pair("onnxruntime", (result.encoder_path, result.head_path), threads=threads)
    ref = open_runner_pair("torch", model, lookahead=result.lookahead, threads=threads)
    return {"encoder": (onnx.encoder, ref.encoder), "head": (onnx.head, ref.head)}


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


@dataclass(frozen=True)
class PrecisionParity:
    """How far a reduced-precision encoder's stream is from the FP32 one on the same frames."""

    features_max_abs: float
    features_scale: float
    maps: MapAgreement

    @property
    def frames(self) -> int:
        return self.maps.frames

    def to_dict(self) -> dict[str, float]:
        return {"frames": self.frames, "features_max_abs": self.features_max_abs,
                "features_scale": self.features_scale,
                **{f"maps_{k}": v for k, v in self.maps.to_dict().items() if k != "frames"}}


def check_precision(
    reference: Runner, candidate: Runner, head: Runner, samples: Sequence[dict[str, np.ndarray]]
) -> PrecisionParity:
    """Stream ``samples`` (consecutive encoder inputs) through each encoder and the same head,
    as the daemon does (windows of L+1 sliding by one, state carried, map up-sampled), and
    compare features and maps of ``candidate`` against ``reference``."""
    if not samples:
        raise ValueError("check_precision needs at least one sample")
    window = head.input_specs["features"].shape[1]

    def stream(encoder: Runner) -> tuple[list[np.ndarray], list[np.ndarray]]:
        feats = [encoder.infer(s)["features"][0] for s in samples]
        h = np.zeros(head.input_specs["h0"].shape, np.float32)
        c = np.zeros(head.input_specs["c0"].shape, np.float32)
        maps = []
        for t in range(len(feats)):
            win = feats[t:t + window]
            win = win + [win[-1]] * (window - len(win))
            out = head.infer({"features": np.stack(win)[None], "h0": h, "c0": c})
            h, c = out["h1"], out["c1"]
            maps.append(upsample_map(out["saliency"][0, 0], INPUT_SIZE))
        return feats, maps

    ref_feats, ref_maps = stream(reference)
    got_feats, got_maps = stream(candidate)
    return PrecisionParity(
        features_max_abs=max(float(np.abs(a - b).max()) for a, b in zip(got_feats, ref_feats)),
        features_scale=max(float(np.abs(b).max()) for b in ref_feats),
        maps=compare_maps(got_maps, ref_maps),
    )


def int8_report(result: ExportResult, int8_path: str | Path, video: str | Path, *,
                frames: int = 16, threads: int | None = 1) -> dict[str, Any]:
    """FP32 vs INT8 encoder on ``frames`` consecutive frames from the middle of ``video``
    (streamed through the FP32 head): what ``export --precision int8 --check`` prints."""
    flow_maps = result.encoder_specs["flows"].shape[1] // 2
    start = max(video_frame_count(video) // 2 - frames // 2, 0)
    samples = video_samples(video, flow_maps, frames, start=start)
    with OnnxRunner(result.encoder_path, threads=threads) as fp32, \
            OnnxRunner(int8_path, threads=threads) as int8, \
            OnnxRunner(result.head_path, threads=threads) as head:
        parity = check_precision(fp32, int8, head, samples)
    return {"int8_vs_fp32": parity.to_dict(), "video": str(video), "start_frame": start}
