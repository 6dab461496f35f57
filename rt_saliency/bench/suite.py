"""The whole benchmark run: floor, model, peer, real time, pipeline, fast profile, scaling, then
the report.

:func:`run_suite` is what ``benchmarks/run.py`` calls.  A section that cannot run here (no
TensorRT, a missing module) is recorded in ``skipped`` with its reason and the run goes on; a
section that *fails* is recorded the same way with the error, so one broken piece never hides
the others' numbers (the report says so in its "Skipped" list).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rt_saliency.bench.batching import bench_batching
from rt_saliency.bench.floor import CONV_SHAPES, measure_floor
from rt_saliency.bench.model_bench import PAPER_ROW, bench_models, bench_shipped
from rt_saliency.bench.multistream import bench_multistream
from rt_saliency.bench.peer import PeerBuilder, bench_peer
from rt_saliency.bench.pipeline_bench import StreamSetup, bench_pipeline, bench_realtime
from rt_saliency.bench.report import write_report
from rt_saliency.bench.scaling import bench_scaling
from rt_saliency.bench.timing import BUDGET_MS, machine_info
from rt_saliency.model import pretrained
from rt_saliency.optional import import_optional

log = logging.getLogger(__name__)

#: the documented fast profile (see benchmarks/README.md): what meets 41 ms on a 2-core CPU
#: if anything does; candidates are tried in order and every one is reported
FAST_PROFILES: tuple[StreamSetup, ...] = (
    StreamSetup(flow_maps=3, lookahead=0, flow_preset="ultrafast", threads=2),
    StreamSetup(flow_maps=3, lookahead=0, flow_preset="ultrafast", threads=2,
                overrides=(("stage_widths", (16, 48)),)),
    # one intra-op thread per session: encode and head run in parallel stage threads, so two
    # sessions x two threads would oversubscribe two cores
    StreamSetup(flow_maps=3, lookahead=0, flow_preset="ultrafast", threads=1,
                overrides=(("stage_widths", (16, 48)),)),
    StreamSetup(variant="tpcmrnet_fast", flow_maps=3, lookahead=0, flow_preset="ultrafast",
                threads=1),
    # the registered fast variant at the stream's default lookahead
    StreamSetup(variant="tpcmrnet_fast", flow_maps=3, lookahead=2, threads=1),
)


@dataclass
class BenchConfig:
    """Sizes of one run; :func:`full_config` and :func:`quick_config` are the two presets."""

    quick: bool = False
    threads: int = 2
    floor_iters: int = 20
    floor_warmup: int = 3
    model_variants: Sequence[str] | None = None  # None: every registered variant (cost)
    model_timed: Sequence[str] = ("tpcmrnet", "tpcmrnet_s3")
    model_backends: Sequence[str] = ("torch", "onnxruntime")
    model_iters: int = 20
    model_warmup: int = 3
    #: also time the shipped trained weights as served (FP32 and the INT8 encoder)
    model_shipped: bool = True
    pipeline_resolutions: Sequence[str] = ("360p", "720p", "1080p")
    pipeline_flow_maps: Sequence[int] = (3, 9)
    pipeline_lookaheads: Sequence[int] = (0, 2)
    pipeline_frames: int = 80
    #: also run the training-free prior (`--backend prior`) at each size
    pipeline_prior: bool = True
    profiles: Sequence[StreamSetup] = FAST_PROFILES
    profile_resolution: str = "360p"
    profile_frames: int = 80
    scaling_streams: Sequence[int] = (1, 2, 4)
    scaling_resolution: str = "360p"
    scaling_frames: int = 50
    scaling_setup: StreamSetup = field(default_factory=lambda: StreamSetup(flow_maps=9,
                                                                           lookahead=2))
    #: interleaved rounds x calls per contender of the peer comparison
    peer_rounds: int = 5
    peer_iters: int = 20
    #: `rt-saliency run` as served (shipped weights, default precision), live 30 fps sources
    realtime_resolutions: Sequence[str] = ("360p", "720p", "1080p")
    realtime_frames: int = 300
    #: encoder batch sizes for the several-streams-one-session question
    batching_batches: Sequence[int] = (1, 2, 4)
    batching_rounds: int = 3
    #: streams in one process, separate sessions against one batched encoder (lossless 360p)
    multistream_streams: Sequence[int] = (1, 2, 4)
    multistream_frames: int = 150
    multistream_rounds: int = 2
    sections: Sequence[str] = ("floor", "model", "peer", "realtime", "pipeline", "profile",
                               "scaling", "batching", "multistream")
    #: model config overrides applied to every network built (tests use tiny widths)
    overrides: tuple[tuple[str, Any], ...] = ()
    #: floor shapes (None: rt_saliency.bench.floor.CONV_SHAPES) and GEMM size
    floor_shapes: Sequence[Any] | None = None
    floor_gemm: int = 1024


def full_config() -> BenchConfig:
    """About 15 minutes on 2 cores (see benchmarks/README.md for the frame counts)."""
    return BenchConfig()


def quick_config() -> BenchConfig:
    """A few minutes: small inputs, few frames, fewer combinations."""
    return BenchConfig(
        quick=True,
        floor_iters=5,
        floor_warmup=1,
        model_variants=("tpcmrnet", "tpcmrnet_s3"),
        model_timed=("tpcmrnet",),
        model_iters=5,
        model_warmup=1,
        peer_rounds=2,
        peer_iters=5,
        realtime_resolutions=("360p",),
        realtime_frames=90,
        batching_batches=(1, 2),
        batching_rounds=1,
        multistream_streams=(1, 2),
        multistream_frames=20,
        multistream_rounds=1,
        pipeline_resolutions=("360p", "720p"),
        pipeline_flow_maps=(3, 9),
        pipeline_lookaheads=(0, 2),
        pipeline_frames=16,
        profiles=FAST_PROFILES[2:3],
        profile_frames=16,
        scaling_streams=(1, 2),
        scaling_frames=12,
    )


def gpu_backends() -> list[str]:
    """Model backends to time on this machine: the GPU ones added where CUDA is present."""
    backends = ["torch", "onnxruntime"]
    try:
        torch = import_optional("torch")

        if torch.cuda.is_available():
            backends += ["torch-cuda", "onnxruntime-cuda", "tensorrt", "tensorrt-fp16"]
    except ImportError:
        pass
    return backends


def _add_rows(results: dict[str, Any], out: tuple[list[Any], list[Any]] | None) -> None:
    """A section's ``(rows, skipped)`` into the results (nothing when it could not run)."""
    if out:
        results["rows"] += out[0]
        results["skipped"] += out[1]


def _section(name: str, results: dict[str, Any], fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    log.info("benchmark section '%s' ...", name)
    try:
        value = fn()
    except (ImportError, ModuleNotFoundError) as exc:
        results["skipped"].append({"section": name, "reason": f"cannot run here: {exc}"})
        log.warning("section %s skipped: %s", name, exc)
        return None
    except Exception as exc:  # noqa: BLE001 - recorded in the report, the run goes on
        results["skipped"].append({
            "section": name,
            "reason": f"failed: {type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        })
        log.error("section %s failed: %s", name, exc)
        return None
    finally:
        seconds = results["meta"]["section_seconds"]  # a section may run in parts: they add up
        seconds[name] = round(seconds.get(name, 0.0) + time.monotonic() - started, 1)
    return value


def run_suite(config: BenchConfig, out_dir: str | Path, command: str = "",
              gpu_check: dict[str, Any] | None = None,
              peer: tuple[str, PeerBuilder] | None = None) -> dict[str, Any]:
    """Run the configured sections, write the report into ``out_dir``; return the results.

    ``gpu_check``: the JSON of a ``benchmarks/gpu_check.py`` run, carried into the report.
    ``peer``: (name, builder) of the network the ``peer`` section times beside TP-CMRNet
    (:mod:`rt_saliency.bench.peer`); without one the section is listed as skipped.
    """
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "command": command,
            "quick": config.quick,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "budget_ms": BUDGET_MS,
            "machine": machine_info(),
            "config": _jsonable(asdict(config)),
            "section_seconds": {},
            "weights": "random init (timings do not depend on weight values), except the "
                       "rows named '(shipped)': the trained weights as the stream serves them",
        },
        "floor": {},
        "paper": PAPER_ROW,
        "rows": [],
        "skipped": [],
    }
    if gpu_check is not None:
        results["gpu_check"] = gpu_check
    sections = set(config.sections)
    floor_rate = None
    if "floor" in sections:
        floor = _section("floor", results, lambda: measure_floor(
            threads=config.threads, warmup=config.floor_warmup, iters=config.floor_iters,
            shapes=tuple(config.floor_shapes or CONV_SHAPES), gemm_n=config.floor_gemm))
        if floor:
            results["floor"] = floor
            floor_rate = floor["floor_conv_macs_per_s"]
    if "model" in sections:
        backends = list(config.model_backends)
        for extra in gpu_backends():
            if extra not in backends:
                backends.append(extra)
        out = _section("model", results, lambda: bench_models(
            variants=config.model_variants, backends=backends, timed_variants=config.model_timed,
            threads=config.threads, warmup=config.model_warmup, iters=config.model_iters,
            floor_macs_per_s=floor_rate,
            overrides=dict(config.overrides) or None))
        if out:
            rows, skipped = out
            results["rows"] += rows
            results["skipped"] += skipped
        if config.model_shipped and not config.overrides:
            out = _section("model", results, lambda: bench_shipped(
                threads=config.threads, warmup=config.model_warmup, iters=config.model_iters,
                floor_macs_per_s=floor_rate))
            if out:
                rows, skipped = out
                results["rows"] += rows
                results["skipped"] += skipped
    # the peer and real-time sections time the shipped weights: not with tiny test widths
    if "peer" in sections and not config.overrides:
        if peer is None:
            results["skipped"].append({"section": "peer", "reason": "no peer network given "
                                       "(benchmarks/run.py passes benchmarks/reference_net.py)"})
        else:
            name, build = peer
            out = _section("peer", results, lambda: bench_peer(
                build, label=name, threads=config.threads, warmup=config.model_warmup,
                iters=config.peer_iters, rounds=config.peer_rounds,
                floor_macs_per_s=floor_rate))
            _add_rows(results, out)
    if "realtime" in sections and not config.overrides:
        rows = _section("realtime", results, lambda: bench_realtime(
            resolutions=config.realtime_resolutions, frames=config.realtime_frames))
        results["rows"] += rows or []
        for name in (n for n in pretrained.PRETRAINED
                     if n != pretrained.DEFAULT_PRETRAINED and pretrained.is_available(n)):
            rows = _section(f"realtime[{name}]", results, lambda n=name: bench_realtime(
                resolutions=config.realtime_resolutions[:1], frames=config.realtime_frames,
                args=("--weights", n), label=n))
            results["rows"] += rows or []
    if "pipeline" in sections:
        rows = _section("pipeline", results, lambda: bench_pipeline(
            resolutions=config.pipeline_resolutions, flow_maps=config.pipeline_flow_maps,
            lookaheads=config.pipeline_lookaheads, frames=config.pipeline_frames,
            base=StreamSetup(threads=config.threads, overrides=tuple(config.overrides))))
        results["rows"] += rows or []
        if config.pipeline_prior:
            rows = _section("pipeline[prior]", results, lambda: bench_pipeline(
                resolutions=config.pipeline_resolutions, frames=config.pipeline_frames,
                base=StreamSetup(backend="prior", threads=config.threads)))
            results["rows"] += rows or []
    if "profile" in sections:
        for i, prof in enumerate(config.profiles):
            label = FAST_PROFILES.index(prof) if prof in FAST_PROFILES else i
            # a profile keeps its own thread count (part of what it specifies)
            merged = dict(prof.overrides) | dict(config.overrides)
            prof = replace(prof, overrides=tuple(merged.items()))
            rows = _section(f"profile[{i}]", results, lambda p=prof: bench_pipeline(
                resolutions=(config.profile_resolution,), flow_maps=(p.flow_maps,),
                lookaheads=(p.lookahead,), frames=config.profile_frames, base=p,
                section="profile"))
            for row in rows or []:
                row["name"] = f"fast[{label}] " + row["name"] + _overrides_label(prof)
            results["rows"] += rows or []
    if "scaling" in sections:
        rows = _section("scaling", results, lambda: bench_scaling(
            streams=config.scaling_streams, res_name=config.scaling_resolution,
            frames=config.scaling_frames,
            setup=replace(config.scaling_setup, threads=config.threads,
                          overrides=tuple(config.overrides))))
        results["rows"] += rows or []
    if "batching" in sections and not config.overrides:
        out = _section("batching", results, lambda: bench_batching(
            batches=config.batching_batches, threads=config.threads,
            rounds=config.batching_rounds))
        _add_rows(results, out)
    if "multistream" in sections and not config.overrides:
        out = _section("multistream", results, lambda: bench_multistream(
            streams=config.multistream_streams, frames=config.multistream_frames,
            rounds=config.multistream_rounds))
        _add_rows(results, out)
    results["meta"]["duration_s"] = round(time.monotonic() - t0, 1)
    results["meta"]["files"] = {k: str(v) for k, v in write_report(results, out_dir).items()}
    return results


def _overrides_label(setup: StreamSetup) -> str:
    if not setup.overrides:
        return ""
    return " (" + ", ".join(f"{k}={v}" for k, v in setup.overrides) + ")"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj
