"""Model cost: parameters and MACs per registered variant, and time per frame per backend.

A frame's model time is the encoder graph once plus the head graph once (one window of L + 1
frames slides by one frame per emitted map), exactly what the stream runs.  Each backend is
timed through the project's runners on random inputs of the graphs' real shapes, after warm-up;
on a GPU with CUDA events (synchronised), on the CPU with ``perf_counter``.  The ratio to the
floor is ``frame time / (MACs per frame / floor MAC rate)`` (see :mod:`rt_saliency.bench.floor`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rt_saliency.bench.floor import floor_ratio
from rt_saliency.bench.timing import (
    BUDGET_MS,
    summarize,
    time_calls,
    time_calls_cuda,
    torch_threads,
)
from rt_saliency.deploy.engine import build_engine
from rt_saliency.deploy.graphs import (
    graph_specs,
    random_inputs,
)
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.errors import ConfigError, InputNotFoundError
from rt_saliency.model import count_macs, create_model, list_models, pretrained
from rt_saliency.optional import import_optional
from rt_saliency.runtime.pair import open_runner_pair
from rt_saliency.runtime.registry import open_predictor
from rt_saliency.spec import DEFAULT_LOOKAHEAD

log = logging.getLogger(__name__)

#: the paper's Table 3 row for TP-CMRNet, quoted (not measured here)
PAPER_ROW: dict[str, Any] = {
    "model": "TP-CMRNet (paper, Table 3)",
    "params_m": 4.9,
    "time_s": 0.041,
    "hardware": "hardware not stated in the paper",
    "source": "Malladi et al., ICIP 2022, Table 3",
}

RULE_MODEL = ("model rows: encoder p50 + head p50 (one frame's network work) <= 41 ms, "
              "flow and I/O excluded")


def list_variants() -> list[str]:
    """Names of the model variants the model registry offers."""
    return list(list_models())


def model_cost(model: Any, lookahead: int = DEFAULT_LOOKAHEAD) -> dict[str, Any]:
    """Parameters and MACs (the model package's counter), with the encoder/head split.

    ``macs`` is the streaming cost of one emitted map: encoder once plus the head over a window
    of L + 1 frames (``Complexity.macs_stream_per_frame``), the work the runners do per frame.
    """
    c = count_macs(model, lookahead=lookahead)
    return {
        "params": int(c.params),
        "params_encoder": int(c.params_encoder),
        "params_head": int(c.params_head),
        "macs": int(c.macs_stream_per_frame),
        "macs_encoder": int(c.macs_encoder),
        "macs_head_window": int(c.macs_stream_per_frame - c.macs_encoder),
        "macs_per_frame_offline": int(c.macs_per_frame),
    }


def graph_inputs(model: Any, lookahead: int) -> tuple[dict, dict]:
    """(specs, random inputs) of the encoder graph and of the head graph of ``model``."""
    enc_specs, head_specs = graph_specs(model, lookahead)
    return (enc_specs, random_inputs(enc_specs, 1)), (head_specs, random_inputs(head_specs, 2))


def _onnx_graphs(model: Any, lookahead: int, workdir: Path) -> tuple[Path, Path]:
    result = export_onnx(model.cpu(), workdir, lookahead=lookahead)
    return result.encoder_path, result.head_path


def _tensorrt_plans(model: Any, lookahead: int, workdir: Path,
                    precision: str = "fp32") -> tuple[Path, Path]:
    """Engines through the project's engine builder (fails loudly where TensorRT is absent)."""
    encoder, head = _onnx_graphs(model, lookahead, workdir)
    cache = workdir / "timing.cache"
    build_engine(encoder, workdir / "encoder.plan", precision=precision, timing_cache=cache)
    build_engine(head, workdir / "head.plan", precision=precision, timing_cache=cache)
    return workdir / "encoder.plan", workdir / "head.plan"


def time_backend(
    model: Any,
    backend: str,
    *,
    lookahead: int = DEFAULT_LOOKAHEAD,
    device: str = "cpu",
    threads: int | None = 2,
    warmup: int = 3,
    iters: int = 20,
    max_seconds: float = 10.0,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Encoder and head time per call for one backend; dict with ``encoder``/``head`` stats."""
    (enc_specs, enc_in), (head_specs, head_in) = graph_inputs(model, lookahead)
    with tempfile.TemporaryDirectory(prefix="rtsal-bench-") as tmp:
        wd = Path(workdir or tmp)
        if backend == "torch":
            enc, head = open_runner_pair("torch", model, lookahead=lookahead, device=device)
        elif backend == "onnxruntime":
            enc, head = open_runner_pair("onnxruntime", _onnx_graphs(model, lookahead, wd),
                                         device=device, threads=threads)
        elif backend in ("tensorrt", "tensorrt-fp16"):
            precision = "fp16" if backend.endswith("fp16") else "fp32"
            enc, head = open_runner_pair("tensorrt", _tensorrt_plans(model, lookahead, wd, precision))
        else:
            raise ValueError(f"unknown backend {backend!r}")
        gpu = device.startswith("cuda") or backend.startswith("tensorrt")
        with enc, head, torch_threads(threads if backend == "torch" else None):
            out: dict[str, Any] = {}
            for name, runner, inputs in (("encoder", enc, enc_in), ("head", head, head_in)):
                call: Callable[[], Any] = lambda r=runner, x=inputs: r.infer(x)  # noqa: E731
                if gpu:
                    samples = time_calls_cuda(call, warmup=warmup, iters=iters)
                else:
                    samples = time_calls(call, warmup=warmup, iters=iters,
                                         max_seconds=max_seconds / 2)
                out[name] = summarize(samples)
                out[f"{name}_samples_ms"] = [s * 1e3 for s in samples]
    out["timer"] = "cuda events" if gpu else "perf_counter"
    return out


def _base_row(name: str, model: Any, cost: dict[str, Any], lookahead: int, threads: int,
              floor_macs_per_s: float | None) -> dict[str, Any]:
    """What every model row says about the network: size, cost and its time at the floor."""
    base = {"section": "model", "name": name, "params": cost["params"], "macs": cost["macs"],
            "flow_maps": int(model.config.flow_maps), "lookahead": lookahead, "threads": threads,
            **{k: v for k, v in cost.items() if k not in ("params", "macs")}}
    if cost["macs"] and floor_macs_per_s:
        base["floor_ms"] = cost["macs"] / floor_macs_per_s * 1e3
    return base


def _timed_row(base: dict[str, Any], cost: dict[str, Any], timings: dict[str, Any],
               floor_macs_per_s: float | None, **fields: Any) -> dict[str, Any]:
    """A model row from the encoder and head timings: a map's time (encoder + head), the 41 ms
    verdict and, with a floor rate, how far the map and each graph are from the floor."""
    frame_p50 = timings["encoder"]["p50_ms"] + timings["head"]["p50_ms"]
    row = dict(base, **fields, encoder=timings["encoder"], head=timings["head"],
               frame_p50_ms=frame_p50,
               frame_p99_ms=timings["encoder"]["p99_ms"] + timings["head"]["p99_ms"],
               under_41ms=bool(frame_p50 <= BUDGET_MS), under_41ms_rule=RULE_MODEL)
    if cost["macs"] and floor_macs_per_s:
        row["floor_ratio"] = floor_ratio(frame_p50 / 1e3, cost["macs"], floor_macs_per_s)
        # per graph: which of the two is further from what the hardware can do
        for graph, macs in (("encoder", cost["macs_encoder"]), ("head", cost["macs_head_window"])):
            if macs:
                row[f"{graph}_floor_ratio"] = floor_ratio(
                    timings[graph]["p50_ms"] / 1e3, macs, floor_macs_per_s)
    return row


def bench_models(
    *,
    variants: Sequence[str] | None = None,
    backends: Sequence[str] = ("torch", "onnxruntime"),
    timed_variants: Sequence[str] | None = None,
    lookahead: int = DEFAULT_LOOKAHEAD,
    threads: int = 2,
    warmup: int = 3,
    iters: int = 20,
    floor_macs_per_s: float | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows for every variant x backend (cost only for variants not in ``timed_variants``).

    ``overrides`` change every variant's config (tests use tiny widths).  Returns
    ``(rows, skipped)``: a backend that cannot run here is listed in ``skipped`` with
    the reason instead of failing the whole benchmark.
    """
    torch = import_optional("torch")

    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    names = list(variants) if variants is not None else list_variants()
    timed = set(names if timed_variants is None else timed_variants)
    for name in names:
        torch.manual_seed(0)
        model = create_model(name, **(overrides or {})).eval()
        cost = model_cost(model, lookahead)
        base = _base_row(name, model, cost, lookahead, threads, floor_macs_per_s)
        for backend in backends if name in timed else ():
            gpu_backend = backend.startswith("tensorrt") or backend.endswith("-cuda")
            device = "cuda" if gpu_backend else "cpu"
            real = backend.removesuffix("-cuda")
            try:
                t = time_backend(model, real, lookahead=lookahead, device=device,
                                 threads=threads, warmup=warmup, iters=iters)
            except ImportError as exc:  # includes BackendUnavailableError
                skipped.append({"section": "model", "reason": f"{name}/{backend}: {exc}"})
                log.warning("model bench: %s/%s skipped: %s", name, backend, exc)
                continue
            except Exception as exc:  # noqa: BLE001 - one backend failing keeps the others' rows
                skipped.append({"section": "model",
                                "reason": f"{name}/{backend} failed: {type(exc).__name__}: {exc}"})
                log.error("model bench: %s/%s failed: %s", name, backend, exc)
                continue
            rows.append(_timed_row(base, cost, t, floor_macs_per_s, backend=backend,
                                   device=device, timer=t["timer"]))
        if name not in {r["name"] for r in rows}:
            # cost-only row (not timed): under_41ms judged at the floor, i.e. "could it ever"
            fl = base.get("floor_ms")
            rows.append(dict(base, backend=None, under_41ms=bool(fl is not None and fl <= BUDGET_MS),
                             under_41ms_rule="cost-only rows: MACs / floor rate <= 41 ms"))
    return rows, skipped


def bench_shipped(
    *,
    precisions: Sequence[str] = ("fp32", "int8"),
    lookahead: int = DEFAULT_LOOKAHEAD,
    threads: int = 2,
    warmup: int = 3,
    iters: int = 20,
    floor_macs_per_s: float | None = None,
    openvino: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows for the shipped trained weights as the stream serves them on the CPU (ONNX Runtime;
    ``int8``: their shipped INT8 encoder with the FP32 head), timed on the same inputs, one
    precision after the other in this run.  ``openvino``: the same graph files also on
    OpenVINO's CPU runtime where it is installed (listed as skipped where not), to decide
    between the two on this machine."""
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    if not pretrained.is_available():
        return rows, [{"section": "model", "reason": "shipped weights: not in this package"}]
    model = pretrained.load_pretrained()
    cost = model_cost(model, lookahead)
    (_, enc_in), (_, head_in) = graph_inputs(model, lookahead)
    base = _base_row(f"{pretrained.DEFAULT_PRETRAINED} (shipped)", model, cost, lookahead,
                     threads, floor_macs_per_s)

    def timed(encoder: Any, head: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for graph, runner, inputs in (("encoder", encoder, enc_in), ("head", head, head_in)):
            call: Callable[[], Any] = lambda r=runner, x=inputs: r.infer(x)  # noqa: E731
            out[graph] = summarize(time_calls(call, warmup=warmup, iters=iters))
        return out

    for precision in precisions:
        try:
            predictor = open_predictor("onnxruntime", lookahead=lookahead, precision=precision,
                                       device="cpu", threads=threads)
        except (ImportError, ConfigError, InputNotFoundError) as exc:
            skipped.append({"section": "model", "reason": f"shipped/{precision}: {exc}"})
            continue
        with predictor:
            backend = predictor.name.split("/", 1)[1]
            rows.append(_timed_row(base, cost, timed(predictor.encoder, predictor.head_runner),
                                   floor_macs_per_s, backend=backend, device="cpu",
                                   timer="perf_counter"))
            if not openvino:
                continue
            try:
                pair = open_runner_pair("openvino", (predictor.encoder.path,
                                                     predictor.head_runner.path),
                                        threads=threads)
            except ImportError as exc:  # includes BackendUnavailableError
                skipped.append({"section": "model", "reason": f"shipped/openvino: {exc}"})
                openvino = False
                continue
            with pair:
                rows.append(_timed_row(base, cost, timed(pair.encoder, pair.head), floor_macs_per_s,
                                       backend=backend.replace("onnxruntime", "openvino"),
                                       device="cpu", timer="perf_counter"))
    return rows, skipped
