"""Concurrent streams on one machine: fps and latency for 1, 2, 4 ... streams at once.

Each stream is its own process (as one ``rt-saliency run`` per stream would be), with its own
ONNX Runtime sessions loaded from graphs exported once by the parent.  The processes warm up,
meet at a barrier and then run their pipelines together, so the timed parts overlap: first a
lossless run (throughput), then, after a second barrier, a run paced at 0.7 x each stream's
throughput (latency; see :mod:`rt_saliency.bench.pipeline_bench`).  Aggregate fps = all maps of
the lossless runs / (last end - first start); per-stream fps is the mean over streams; latency
percentiles pool every stream's paced samples.  (Under a ``spawn`` start, the calling script
needs the usual ``if __name__ == "__main__":`` guard.)
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue as queue_mod
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.bench.pipeline_bench import (
    StreamSetup,
    resolution,
    run_two_phase,
)
from rt_saliency.bench.timing import BUDGET_MS
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.errors import ConfigError
from rt_saliency.model import create_model
from rt_saliency.optional import import_optional
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.pair import open_runner_pair
from rt_saliency.runtime.predictor import warm_up

log = logging.getLogger(__name__)

RULE_SCALING = ("scaling rows: every stream keeps up (1000 / slowest stream's lossless fps <= "
                "41 ms) and pooled paced compute latency p50 <= 41 ms")


def _worker(encoder: str, head: str, setup: dict[str, Any], size: tuple[int, int], frames: int,
            seed: int, barrier: Any, results: Any) -> None:
    """Child process: load the graphs, warm up, wait for the others, run one stream."""
    try:
        threads = setup.get("threads")
        with NetworkPredictor(*open_runner_pair("onnxruntime", (encoder, head), threads=threads),
                              setup["lookahead"]) as pred:
            warm_up(pred)
            marks: list[float] = []

            def sync() -> None:
                barrier.wait(timeout=600)
                marks.append(time.monotonic())

            snap = run_two_phase(pred, size, frames, flow_preset=setup.get("flow_preset"),
                                 seed=seed, sync=sync)
        # the lossless phase runs from the first mark to the second barrier
        start, end = marks[0], marks[0] + snap["wall_s"]
        results.put({"ok": True, "start": start, "end": end, "snap": snap})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        with_barrier_abort(barrier)
        results.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def with_barrier_abort(barrier: Any) -> None:
    """Break the barrier so the other workers do not wait forever for a failed one."""
    try:
        barrier.abort()
    except Exception:  # noqa: BLE001 - best effort
        pass


def run_concurrent(encoder: Path, head: Path, setup: StreamSetup, size: tuple[int, int],
                   frames: int, streams: int, timeout_s: float = 600.0) -> list[dict[str, Any]]:
    """Run ``streams`` pipelines at once in child processes; each one's timing and snapshot."""
    if streams < 1:
        raise ConfigError(f"streams must be >= 1, got {streams}")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(streams)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, name=f"rtsal-bench-stream{i}",
                    args=(str(encoder), str(head), asdict(setup) | {"overrides": ()}, size,
                          frames, i, barrier, results))
        for i in range(streams)
    ]
    for p in procs:
        p.start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{streams} concurrent streams did not finish in {timeout_s} s")
            try:
                out.append(results.get(timeout=min(remaining, 5.0)))
            except queue_mod.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise RuntimeError("a stream worker died without reporting") from None
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
    failed = [r["error"] for r in out if not r["ok"]]
    if failed:
        raise RuntimeError(f"stream worker failed: {failed[0]}")
    return out


def scaling_row(results: list[dict[str, Any]], setup: StreamSetup, res_name: str,
                size: tuple[int, int]) -> dict[str, Any]:
    """One results row for ``len(results)`` concurrent streams."""
    n = len(results)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    maps = sum(r["snap"]["maps_out"] for r in results)
    per_stream = [r["snap"]["fps"] for r in results]
    samples = [s for r in results for s in r["snap"].get("latency_samples_ms", [])]
    lat: dict[str, Any] = {}
    if samples:
        p50, p95, p99 = np.percentile(samples, [50, 95, 99])
        lat = {"n": len(samples), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}
    slowest = min(per_stream)
    ms_per_frame = 1e3 / slowest if slowest > 0 else None
    keeps_up = ms_per_frame is not None and ms_per_frame <= BUDGET_MS
    lat_ok = bool(lat) and lat["p50_ms"] <= BUDGET_MS
    return {
        "section": "scaling",
        "name": f"{n} stream{'s' if n > 1 else ''} {res_name} S{setup.flow_maps} L{setup.lookahead}",
        "streams": n,
        "resolution": res_name,
        "width": size[0],
        "height": size[1],
        "flow_maps": setup.flow_maps,
        "lookahead": setup.lookahead,
        "frames_per_stream": results[0]["snap"]["frames_in"],
        "aggregate_fps": maps / span if span > 0 else None,
        "per_stream_fps": float(np.mean(per_stream)),
        "slowest_stream_fps": slowest,
        "ms_per_frame": ms_per_frame,
        "latency": lat,
        "peak_mib_per_stream": max((r["snap"].get("peak_mib") or 0) for r in results),
        "under_41ms": bool(keeps_up and lat_ok),
        "under_41ms_rule": RULE_SCALING,
    }


def bench_scaling(
    *,
    streams: Sequence[int] = (1, 2, 4),
    res_name: str = "360p",
    frames: int = 60,
    setup: StreamSetup | None = None,
) -> list[dict[str, Any]]:
    """Rows for each stream count; the ONNX graphs are exported once and shared."""
    torch = import_optional("torch")

    setup = setup or StreamSetup()
    if setup.backend != "onnxruntime":
        raise ConfigError("the scaling bench runs ONNX Runtime streams only")
    size = resolution(res_name)
    torch.manual_seed(0)
    model = create_model(setup.variant, flow_maps=setup.flow_maps, **dict(setup.overrides)).eval()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rtsal-scale-") as tmp:
        exported = export_onnx(model, tmp, lookahead=setup.lookahead)
        for n in streams:
            log.info("scaling bench: %d concurrent streams, %s, %d frames each", n, res_name, frames)
            results = run_concurrent(exported.encoder_path, exported.head_path, setup, size,
                                     frames, n)
            rows.append(scaling_row(results, setup, res_name, size))
    return rows
