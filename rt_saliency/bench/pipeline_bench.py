"""The streaming pipeline under load: per-stage times, the two latencies, fps and peak memory.

Each row runs the daemon (:class:`rt_saliency.stream.daemon.Daemon`) on a synthetic, non-live source
(``synth://WxH?frames=N``: lossless, so the pipeline runs as fast as it can and ``fps`` is its
throughput) through a :class:`~rt_saliency.runtime.network.NetworkPredictor` built from a
randomly initialised variant (timing does not depend on the weights' values).  The predictor and
flow estimator are warmed up before the timed run.

Each row runs twice: a lossless run gives the throughput (fps), per-stage times and peak memory;
a second run with the source paced like a camera at 0.7 x that throughput (at most 30 fps)
gives the compute latency (window complete -> map emitted) without the time frames spend
queued behind a source that runs ahead; the last S + L - 1 maps (the end-of-stream flush, whose
windows all complete at once) are left out of it.  ``under_41ms``: the pipeline keeps up with 41 ms per
frame (``1000 / fps <= 41``, i.e. >= 24.4 fps) *and* the paced median compute latency is
<= 41 ms.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.bench.timing import BUDGET_MS, PeakMemory, summarize, torch_threads
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.errors import ConfigError
from rt_saliency.flow import FlowConfig, FlowEstimator
from rt_saliency.model import count_macs, create_model, model_config
from rt_saliency.optional import import_optional
from rt_saliency.runtime import open_predictor, open_runner_pair
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.predictor import warm_up
from rt_saliency.stream.daemon import Daemon, DaemonOptions, SourceOptions
from rt_saliency.stream.sources import parse_size

log = logging.getLogger(__name__)

#: named input sizes (width, height)
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "360p": (640, 360),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
}

RULE_PIPELINE = ("pipeline/profile rows: lossless 1000/fps <= 41 ms (keeps up at 24.4 fps) and "
                 "paced compute latency p50 <= 41 ms")


@dataclass(frozen=True)
class StreamSetup:
    """What one pipeline run uses: model variant, S, L, backend, threads, flow preset."""

    variant: str = "tpcmrnet"
    flow_maps: int = 9
    lookahead: int = 2
    backend: str = "onnxruntime"
    #: intra-op threads of each backend session (None: the backend's default)
    threads: int | None = 2
    #: flow preset name for rt_saliency.flow.FlowConfig (None: its default)
    flow_preset: str | None = None
    #: extra model config overrides (e.g. narrower widths for a fast profile)
    overrides: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def label(self) -> str:
        extra = f" {self.flow_preset}" if self.flow_preset else ""
        return f"{self.variant} S{self.flow_maps} L{self.lookahead} {self.backend}{extra}"


def resolution(name: str) -> tuple[int, int]:
    """(width, height) of ``"720p"`` or ``"WxH"``."""
    if name in RESOLUTIONS:
        return RESOLUTIONS[name]

    return parse_size(name)


@contextlib.contextmanager
def open_bench_predictor(setup: StreamSetup, workdir: Path | None = None) -> Iterator[Any]:
    """A warmed-up predictor for ``setup``, closed on exit.

    ``onnxruntime`` / ``torch``: TP-CMRNet with random weights behind two runners from
    :func:`rt_saliency.runtime.open_runner_pair`; ``prior``: the training-free prior from
    :func:`rt_saliency.runtime.open_predictor` (what the daemon serves without weights).
    """
    with contextlib.ExitStack() as stack:
        if setup.backend == "prior":
            predictor = open_predictor("prior")
            stack.callback(predictor.close)
            warm_up(predictor)
            yield predictor
            return
        torch = import_optional("torch")

        torch.manual_seed(0)
        model = create_model(setup.variant, flow_maps=setup.flow_maps,
                             **dict(setup.overrides)).eval()
        if setup.backend == "onnxruntime":
            wd = Path(workdir) if workdir else Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="rtsal-pipe-")))
            exported = export_onnx(model, wd, lookahead=setup.lookahead)
            enc, head = open_runner_pair("onnxruntime", (exported.encoder_path, exported.head_path),
                                         threads=setup.threads)
        elif setup.backend == "torch":
            if setup.threads is not None:
                stack.enter_context(torch_threads(setup.threads))
            enc, head = open_runner_pair("torch", model, lookahead=setup.lookahead)
        else:
            raise ConfigError(f"pipeline bench backend must be onnxruntime, torch or prior, "
                              f"got {setup.backend!r}")
        predictor = stack.enter_context(
            NetworkPredictor(enc, head, setup.lookahead, name=setup.label()))
        warm_up(predictor)
        yield predictor


def make_flow(preset: str | None) -> Any:
    """The flow estimator the pipeline uses, with ``preset`` when given (None: defaults)."""
    config = FlowConfig() if preset is None else FlowConfig(preset=preset)
    return FlowEstimator(config)


def latency_samples(stats: Any) -> list[float]:
    """Compute-latency samples (ms) kept by the stream's stats (bounded window)."""
    return [float(s) * 1e3 for s in stats.latency.samples()]


def run_stream(
    predictor: Any,
    size: tuple[int, int],
    frames: int,
    *,
    flow_preset: str | None = None,
    fps: float = 30.0,
    live: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """One timed pipeline run on ``synth://WxH?frames=N``; the stats snapshot plus extras.

    ``live=False``: lossless, as fast as the pipeline goes (throughput).  ``live=True``: frames
    paced at ``fps`` like a camera, dropped under overload (latency without queueing).
    """
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    width, height = size
    spec = f"synth://{width}x{height}?frames={frames}&fps={fps:g}&seed={seed}"
    flow = make_flow(flow_preset)
    # warm the flow estimator (first DIS call allocates its pyramids)
    h, w = predictor.input_size
    rgb = np.zeros((h, w, 3), np.uint8)
    flow.compute(rgb, rgb)
    with Daemon(DaemonOptions(SourceOptions(spec, live=live)), predictor=predictor,
                flow=flow) as daemon, PeakMemory() as mem:
        stats = daemon.run()
    snap = stats.snapshot()
    snap["latency_samples_ms"] = latency_samples(stats)
    snap["peak_mib"] = mem.peak_mib
    snap["peak_mib_method"] = mem.method
    return snap


def pace_for(throughput_fps: float, nominal_fps: float = 30.0, margin: float = 0.7) -> float:
    """Frame rate of the paced (latency) run: ``margin`` x the measured throughput, at most
    the nominal rate, so frames do not queue and the latency is the pipeline's own."""
    return max(0.5, min(nominal_fps, margin * throughput_fps))


def run_two_phase(
    predictor: Any,
    size: tuple[int, int],
    frames: int,
    *,
    flow_preset: str | None = None,
    latency_frames: int | None = None,
    seed: int = 0,
    sync: Any = None,
) -> dict[str, Any]:
    """Throughput from a lossless run, then latency from a run paced below that throughput.

    The latency of a lossless run is mostly time spent waiting in full rings (the source runs
    ahead), so it says nothing about real time; the paced run's does.  ``sync()`` (optional)
    is called before each phase (the scaling bench lines its processes up with it).
    """
    if sync is not None:
        sync()
    snap = run_stream(predictor, size, frames, flow_preset=flow_preset, seed=seed)
    pace = pace_for(snap.get("fps") or 0.0)
    tail = predictor.flow_maps + predictor.lookahead - 1
    n = latency_frames if latency_frames is not None else max(frames // 2, tail + 9)
    if sync is not None:
        sync()
    paced = run_stream(predictor, size, n, flow_preset=flow_preset, fps=pace, live=True,
                       seed=seed + 1000)
    # the last S+L-1 windows all complete at once when the stream ends (the tail flush) and
    # then wait for each other: steady-state latency leaves them out
    samples = paced.get("latency_samples_ms", [])
    steady = samples[:-tail] if tail and len(samples) > tail else samples
    snap["lossless_latency"] = snap.get("compute_latency")
    snap["compute_latency"] = summarize([x / 1e3 for x in steady]) if steady else {}
    snap["latency_samples_ms"] = steady
    snap["paced"] = {"fps_in": pace, "frames": paced.get("frames_in"),
                     "maps": paced.get("maps_out"), "dropped": paced.get("dropped"),
                     "tail_samples_left_out": len(samples) - len(steady),
                     "latency_with_tail": paced.get("compute_latency")}
    snap["peak_mib"] = max(snap.get("peak_mib") or 0.0, paced.get("peak_mib") or 0.0) or None
    return snap


def pipeline_row(snap: dict[str, Any], setup: StreamSetup, res_name: str,
                 size: tuple[int, int], section: str = "pipeline") -> dict[str, Any]:
    """A results row from a stats snapshot."""
    fps = snap.get("fps") or 0.0
    ms_per_frame = 1e3 / fps if fps > 0 else None
    lat = snap.get("compute_latency") or {}
    lat_p50 = lat.get("p50_ms")
    keeps_up = ms_per_frame is not None and ms_per_frame <= BUDGET_MS
    lat_ok = lat_p50 is not None and lat_p50 <= BUDGET_MS
    stages = {k: v for k, v in (snap.get("stages") or {}).items() if k != "source"}
    return {
        "section": section,
        "name": f"{res_name} S{setup.flow_maps} L{setup.lookahead}"
                + (f" {setup.variant}" if setup.variant != "tpcmrnet" else "")
                + (f" {setup.flow_preset}" if setup.flow_preset else "")
                + (f" t{setup.threads}" if section == "profile" else ""),
        "threads": setup.threads,
        "setup": asdict(setup) | {"overrides": dict(setup.overrides)},
        "resolution": res_name,
        "width": size[0],
        "height": size[1],
        "flow_maps": setup.flow_maps,
        "lookahead": setup.lookahead,
        "backend": setup.backend,
        "frames": snap.get("frames_in"),
        "maps": snap.get("maps_out"),
        "dropped": snap.get("dropped"),
        "wall_s": snap.get("wall_s"),
        "fps": fps,
        "ms_per_frame": ms_per_frame,
        "stages": stages,
        "source_stage": (snap.get("stages") or {}).get("source"),
        "latency": lat,
        "latency_paced": snap.get("paced"),
        "latency_lossless_queued": snap.get("lossless_latency"),
        "latency_samples_ms": snap.get("latency_samples_ms", []),
        "algorithmic_delay_frames": (snap.get("algorithmic_delay") or {}).get("frames"),
        "algorithmic_delay_ms": (snap.get("algorithmic_delay") or {}).get("ms"),
        "nominal_fps": snap.get("nominal_fps"),
        "queues": snap.get("queues"),
        "peak_mib": snap.get("peak_mib"),
        "peak_mib_method": snap.get("peak_mib_method"),
        "keeps_up_41ms": bool(keeps_up),
        "latency_p50_under_41ms": bool(lat_ok),
        "under_41ms": bool(keeps_up and lat_ok),
        "under_41ms_rule": RULE_PIPELINE,
    }


def setup_cost(setup: StreamSetup) -> dict[str, Any]:
    """Params and streaming MACs per frame of the setup's network (model package's counter)."""
    config = model_config(setup.variant, flow_maps=setup.flow_maps, **dict(setup.overrides))
    c = count_macs(config, lookahead=setup.lookahead)
    return {"params": int(c.params), "macs": int(c.macs_stream_per_frame)}


def bench_pipeline(
    *,
    resolutions: Sequence[str] = ("360p", "720p", "1080p"),
    flow_maps: Sequence[int] = (3, 9),
    lookaheads: Sequence[int] = (0, 2),
    frames: int = 80,
    base: StreamSetup | None = None,
    section: str = "pipeline",
) -> list[dict[str, Any]]:
    """Rows for every resolution x S x L; one predictor per (S, L), reused across sizes."""
    base = base or StreamSetup()
    rows: list[dict[str, Any]] = []
    for s in flow_maps:
        for lookahead in lookaheads:
            setup = StreamSetup(**(asdict(base) | {"flow_maps": s, "lookahead": lookahead,
                                                   "overrides": base.overrides}))
            if base.backend == "prior" and (s, lookahead) != (flow_maps[0], lookaheads[0]):
                continue  # the prior has one S and L of its own: one pass is enough
            cost = setup_cost(setup) if setup.backend != "prior" else {}
            with open_bench_predictor(setup) as predictor:
                if setup.backend == "prior":
                    setup = replace(setup, variant="prior", flow_maps=int(predictor.flow_maps),
                                    lookahead=int(predictor.lookahead))
                for res_name in resolutions:
                    size = resolution(res_name)
                    log.info("pipeline bench: %s at %s, %d frames", setup.label(), res_name, frames)
                    snap = run_two_phase(predictor, size, frames, flow_preset=setup.flow_preset)
                    rows.append(pipeline_row(snap, setup, res_name, size, section) | cost)
    return rows


RULE_REALTIME = ("realtime rows: a live source paced at 30 fps, 0 drops, >= 25 fps and service "
                 "latency p99 <= 41 ms")


def bench_realtime(
    *,
    resolutions: Sequence[str] = ("360p", "720p", "1080p"),
    frames: int = 300,
    fps: float = 30.0,
    args: Sequence[str] = (),
    label: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``rt-saliency run`` with its defaults (the shipped weights, the CPU's default
    precision) on a live synthetic camera at ``fps``: what a real-time source sees (service
    latency, drops), one row per resolution; ``label`` names the rows' weights (e.g. a shipped
    set given with ``--weights NAME`` in ``args``).

    Each row is one ``rt-saliency run`` child process, as a user starts it: the benchmark's own
    process has loaded other models and backends by then, whose threads and memory would share
    the cores with the run.  ``args``: extra ``run`` options (``--backend``, ``--threads`` ...).
    """
    rows: list[dict[str, Any]] = []
    for res_name in resolutions:
        width, height = resolution(res_name)
        spec = f"synth://{width}x{height}?frames={frames}&fps={fps:g}&live=1"
        log.info("realtime bench: rt-saliency run at %s, %d frames at %g fps", res_name, frames,
                 fps)
        with tempfile.TemporaryDirectory(prefix="rtsal-rt-") as tmp:
            stats_path = Path(tmp) / "stats.json"
            command = [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", spec, "--stats",
                       str(stats_path), "--no-table", "--no-progress", *args]
            err_path = Path(tmp) / "stderr.txt"
            with err_path.open("wb") as err:
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err)
            # the child's own peak RSS: VmHWM of its address space (rusage's maxrss would
            # carry this process's RSS over from the fork), read until it exits
            peak_kib, deadline = 0, time.monotonic() + max(120.0, 10 * frames / fps)
            while proc.poll() is None:
                peak_kib = max(peak_kib, _hwm_kib(proc.pid))
                if time.monotonic() > deadline:
                    proc.kill()
                time.sleep(0.2)
            code = proc.returncode
            if code != 0 or not stats_path.is_file():
                raise RuntimeError(f"rt-saliency run at {res_name} exited {code}: "
                                   f"{err_path.read_text(errors='replace').strip()[-500:]}")
            snap = json.loads(stats_path.read_text())
        service = snap["service_latency"]
        ok = (snap["dropped"] == 0 and snap["fps"] >= 25.0
              and (service.get("p99_ms") or float("inf")) <= BUDGET_MS)
        rows.append({
            "section": "realtime",
            "name": f"{res_name} {snap['backend']}" + (f" ({label})" if label else ""),
            "command": "rt-saliency " + " ".join(command[4:]),
            "backend": snap["backend"], "resolution": res_name, "width": width,
            "height": height, "flow_maps": snap["flow_maps"], "lookahead": snap["lookahead"],
            "nominal_fps": fps, "frames": snap["frames_in"], "maps": snap["maps_out"],
            "dropped": snap["dropped"], "fps": snap["fps"], "service_latency": service,
            "flush_latency": snap["flush_latency"], "queueing": snap["queueing"],
            "stages": {k: v for k, v in snap["stages"].items() if k != "source"},
            "algorithmic_delay_ms": snap["algorithmic_delay"]["ms"],
            "peak_mib": round(peak_kib / 1024, 1) if peak_kib else None,
            "under_41ms": bool(ok), "under_41ms_rule": RULE_REALTIME,
        })
    return rows


def _hwm_kib(pid: int) -> int:
    """Peak resident set (VmHWM, KiB) of a running process; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
