"""Would several streams in one process gain from one batched encoder call?

The shipped encoder is exported at batch 1, 2 and 4 (the same weights, static shapes) and each
graph is timed in interleaved rounds with the same ONNX Runtime options, FP32 and INT8 (static
QDQ; the calibration of these timing-only INT8 graphs is random, which changes scales, not
kernels).  A batch pays off only if the time *per frame* falls: B streams sharing one session
would then serve more frames a second than B sessions called one frame at a time.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.bench.timing import BUDGET_MS, summarize, time_calls
from rt_saliency.deploy.graphs import EncoderGraph, graph_specs, random_inputs
from rt_saliency.deploy.onnx_export import export_module
from rt_saliency.deploy.quantize import quantize_encoder
from rt_saliency.errors import ConfigError
from rt_saliency.model import pretrained
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.spec import DEFAULT_LOOKAHEAD, ENCODER_INPUTS, ENCODER_OUTPUTS

log = logging.getLogger(__name__)

RULE_BATCHING = "batching rows: encoder time per frame (call time / batch) <= 41 ms"


def bench_batching(
    *,
    batches: Sequence[int] = (1, 2, 4),
    precisions: Sequence[str] = ("fp32", "int8"),
    threads: int = 2,
    warmup: int = 2,
    iters: int = 10,
    rounds: int = 3,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows per (precision, batch): call and per-frame times, and the per-frame time relative
    to batch 1 of the same precision (``vs_batch1``, median of the rounds' ratios)."""
    if 1 not in batches or any(b < 1 for b in batches):
        raise ConfigError(f"batches must include 1 and be >= 1, got {list(batches)}")
    if not pretrained.is_available():
        return [], [{"section": "batching", "reason": "shipped weights: not in this package"}]
    model = pretrained.load_pretrained()
    graph = EncoderGraph(model).eval()
    rng = np.random.default_rng(0)
    timed: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rtsal-batch-") as tmp, contextlib.ExitStack() as stack:
        for batch in batches:
            specs, _ = graph_specs(model, DEFAULT_LOOKAHEAD, batch=batch)
            shapes = {name: specs[name].shape for name in ENCODER_INPUTS}
            fp32 = export_module(graph, shapes, ENCODER_OUTPUTS, Path(tmp) / f"encoder_b{batch}.onnx")
            paths = {"fp32": fp32}
            if "int8" in precisions:
                samples = [{n: rng.random(s, dtype=np.float32) for n, s in shapes.items()}
                           for _ in range(4)]
                paths["int8"] = quantize_encoder(
                    fp32, Path(tmp) / f"encoder_b{batch}.int8.onnx", samples,
                    calibration="random uniform inputs (timing only)").path
            inputs = random_inputs(specs, 1)
            for precision in precisions:
                runner = stack.enter_context(OnnxRunner(paths[precision], threads=threads))
                timed[(precision, batch)] = {
                    "call": lambda r=runner, x=inputs: r.infer(x), "samples": [], "rounds": []}
        for i in range(rounds):
            for entry in timed.values():
                times = time_calls(entry["call"], warmup=warmup if i == 0 else 1, iters=iters)
                entry["samples"] += times
                entry["rounds"].append(statistics.median(times) * 1e3)
            log.info("batching bench: round %d/%d done", i + 1, rounds)
    rows = []
    for (precision, batch), entry in timed.items():
        call = summarize(entry["samples"])
        per_frame = [ms / batch for ms in entry["rounds"]]
        single = timed[(precision, 1)]["rounds"]
        ratio = statistics.median(p / s for p, s in zip(per_frame, single))
        rows.append({
            "section": "batching", "name": f"encoder batch {batch} {precision}",
            "precision": precision, "batch": batch, "threads": threads, "call": call,
            "per_frame_p50_ms": call["p50_ms"] / batch, "round_per_frame_ms": per_frame,
            "vs_batch1": ratio, "under_41ms": bool(call["p50_ms"] / batch <= BUDGET_MS),
            "under_41ms_rule": RULE_BATCHING,
        })
    return rows, []
