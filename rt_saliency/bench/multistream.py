"""Several streams in one process: separate encoder sessions against one batched encoder.

Both arrangements run the shipped network on ``N`` synthetic lossless streams at once, in one
process, each stream a full daemon pipeline (decode, resize, flow, encode, head, QP) in its own
threads:

* ``separate``: every stream has its own encoder and head sessions (batch 1), as N
  ``rt-saliency run`` sharing a process would;
* ``batched``: every stream has its own head session, and all share one
  :class:`~rt_saliency.runtime.batching.EncoderBatcher` over encoder graphs of batch 1, 2 and 4.

The arrangements alternate round by round in the same run; aggregate fps = all maps / (last
stream's end - first stream's start).  The encoder graphs are exported from the shipped weights at
each batch size; the INT8 ones are calibrated on random inputs (timing only: calibration changes
scales, not kernels), the same for every batch size, so both arrangements run the same kernels.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.bench.pipeline_bench import make_flow, resolution
from rt_saliency.bench.timing import BUDGET_MS
from rt_saliency.deploy.graphs import EncoderGraph, graph_specs
from rt_saliency.deploy.onnx_export import export_module, export_onnx
from rt_saliency.deploy.quantize import quantize_encoder
from rt_saliency.errors import ConfigError
from rt_saliency.model import pretrained
from rt_saliency.runtime.batching import EncoderBatcher, SharedEncoderPredictor
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.predictor import warm_up
from rt_saliency.spec import DEFAULT_LOOKAHEAD, ENCODER_INPUTS, ENCODER_OUTPUTS
from rt_saliency.stream.daemon import Daemon, DaemonOptions, SourceOptions

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("separate", "batched")
RULE_MULTISTREAM = ("multistream rows: every stream keeps a 41 ms frame budget on average "
                    "(streams x 1000 / aggregate fps <= 41 ms)")


def _export_encoders(model: Any, batches: Sequence[int], precision: str, tmp: Path) -> dict[int, Path]:
    graph = EncoderGraph(model).eval()
    rng = np.random.default_rng(0)
    calib: list[dict[str, np.ndarray]] | None = None
    paths: dict[int, Path] = {}
    for batch in batches:
        specs, _ = graph_specs(model, DEFAULT_LOOKAHEAD, batch=batch)
        shapes = {name: specs[name].shape for name in ENCODER_INPUTS}
        fp32 = export_module(graph, shapes, ENCODER_OUTPUTS, tmp / f"encoder_b{batch}.onnx")
        if precision == "fp32":
            paths[batch] = fp32
            continue
        if calib is None:
            one = {n: (1, *s[1:]) for n, s in shapes.items()}
            calib = [{n: rng.random(s, dtype=np.float32) for n, s in one.items()} for _ in range(4)]
        samples = [{n: np.repeat(v, batch, axis=0) for n, v in c.items()} for c in calib]
        paths[batch] = quantize_encoder(fp32, tmp / f"encoder_b{batch}.int8.onnx", samples,
                                        calibration="random uniform inputs (timing only)").path
    return paths


def _run_streams(predictors: list[Any], size: tuple[int, int], frames: int) -> dict[str, Any]:
    """Run one lossless synthetic stream per predictor, all at once; timing and map counts."""
    width, height = size
    results: list[dict[str, Any]] = [{} for _ in predictors]
    start = threading.Barrier(len(predictors))

    def one(i: int) -> None:
        try:
            spec = f"synth://{width}x{height}?frames={frames}&seed={i}"
            flow = make_flow(None)
            h, w = predictors[i].input_size
            blank = np.zeros((h, w, 3), np.uint8)
            flow.compute(blank, blank)
            with Daemon(DaemonOptions(SourceOptions(spec)), predictor=predictors[i],
                        flow=flow) as daemon:
                start.wait(timeout=120)
                t0 = time.monotonic()
                stats = daemon.run()
                results[i] = {"start": t0, "end": time.monotonic(),
                              "maps": stats.snapshot()["maps_out"]}
        except BaseException as exc:  # reported below, with the stream's index
            start.abort()
            results[i] = {"error": exc}

    threads = [threading.Thread(target=one, args=(i,), name=f"rtsal-ms{i}")
               for i in range(len(predictors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        if "error" in r:
            raise RuntimeError(f"stream {i} failed: {r['error']!r}") from r["error"]
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    maps = sum(r["maps"] for r in results)
    return {"maps": maps, "span_s": span, "aggregate_fps": maps / span}


def bench_multistream(
    *,
    streams: Sequence[int] = (1, 2, 4),
    res_name: str = "360p",
    frames: int = 150,
    precision: str = "int8",
    threads: int = 1,
    batched_threads: int = 2,
    max_wait_s: float = 0.005,
    rounds: int = 2,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows per (streams, mode): aggregate fps (median over rounds) and, for ``batched``, its
    ratio to ``separate`` (median of the rounds' ratios) and the batch sizes it ran."""
    if precision not in ("fp32", "int8"):
        raise ConfigError(f"precision must be fp32 or int8, got {precision!r}")
    if any(n < 1 for n in streams):
        raise ConfigError(f"stream counts must be >= 1, got {list(streams)}")
    if not pretrained.is_available():
        return [], [{"section": "multistream", "reason": "shipped weights: not in this package"}]
    model = pretrained.load_pretrained()
    size = resolution(res_name)
    sizes = [b for b in (1, 2, 4) if b <= max(streams)]
    fps: dict[tuple[int, str], list[float]] = {(n, m): [] for n in streams for m in MODES}
    calls: dict[int, dict[int, int]] = {n: dict.fromkeys(sizes, 0) for n in streams}
    with tempfile.TemporaryDirectory(prefix="rtsal-ms-") as tmp:
        encoders = _export_encoders(model, sizes, precision, Path(tmp))
        head = export_onnx(model, Path(tmp) / "graphs").head_path
        for r in range(rounds):
            for n in streams:
                for mode in MODES:
                    with contextlib.ExitStack() as stack:
                        if mode == "separate":
                            preds = [stack.enter_context(NetworkPredictor(
                                OnnxRunner(encoders[1], threads=threads),
                                OnnxRunner(head, threads=threads))) for _ in range(n)]
                        else:
                            batcher = stack.enter_context(EncoderBatcher(
                                {b: OnnxRunner(p, threads=batched_threads)
                                 for b, p in encoders.items() if b <= n}, max_wait_s=max_wait_s))
                            batcher.warm_up()
                            preds = [stack.enter_context(SharedEncoderPredictor(
                                batcher, OnnxRunner(head, threads=threads))) for _ in range(n)]
                        for p in preds:
                            warm_up(p)
                        if mode == "batched":
                            batcher.calls = dict.fromkeys(batcher.calls, 0)
                        out = _run_streams(preds, size, frames)
                        fps[(n, mode)].append(out["aggregate_fps"])
                        if mode == "batched":
                            for b, c in batcher.calls.items():
                                calls[n][b] += c
                    log.info("multistream bench round %d: %d streams %s: %.1f fps", r + 1, n,
                             mode, fps[(n, mode)][-1])
    rows = []
    for n in streams:
        for mode in MODES:
            ratio = statistics.median(b / s for b, s in zip(fps[(n, "batched")],
                                                            fps[(n, "separate")]))
            rows.append({
                "section": "multistream", "name": f"{n} stream{'s' if n > 1 else ''} {mode}",
                "streams": n, "mode": mode, "precision": precision, "resolution": res_name,
                "frames_per_stream": frames, "rounds": rounds,
                "aggregate_fps": statistics.median(fps[(n, mode)]),
                "round_fps": fps[(n, mode)],
                "vs_separate": ratio if mode == "batched" else 1.0,
                "batched_calls": calls[n] if mode == "batched" else None,
                "threads": batched_threads if mode == "batched" else threads,
                "under_41ms": bool(n * 1e3 / statistics.median(fps[(n, mode)]) <= BUDGET_MS),
                "under_41ms_rule": RULE_MULTISTREAM,
            })
    return rows, []
