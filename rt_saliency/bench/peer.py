"""TP-CMRNet side by side with a peer network, timed in the same run.

The peer is handed in by the caller (``benchmarks/run.py`` passes the MobileNetV2-style
reference network of ``benchmarks/reference_net.py``, sized like UNISAL): a builder returning
the module in eval mode, its input shapes by name and its output names.  Both networks go
through the same path: ONNX export, the same ONNX Runtime session options and thread count,
FP32 and INT8 (static QDQ, per channel, U8/S8, the settings of the shipped INT8 encoder).
TP-CMRNet is timed as the stream serves it (the shipped weights: encoder once plus the head
over one window per map); the peer one call per frame.  The contenders are timed in interleaved
rounds so that a noisy neighbour slows all of them alike, and the ratio is the median of the
rounds' ratios.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.bench.floor import floor_ratio
from rt_saliency.bench.model_bench import RULE_MODEL, graph_inputs, model_cost
from rt_saliency.bench.timing import BUDGET_MS, summarize, time_calls
from rt_saliency.deploy.onnx_export import export_module
from rt_saliency.deploy.quantize import quantize_encoder
from rt_saliency.model import pretrained
from rt_saliency.optional import import_optional
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.registry import open_predictor
from rt_saliency.spec import DEFAULT_LOOKAHEAD

log = logging.getLogger(__name__)

#: ``() -> (module, {input name: shape}, output names)``
PeerBuilder = Callable[[], tuple[Any, dict[str, tuple[int, ...]], tuple[str, ...]]]
PRECISIONS: tuple[str, ...] = ("fp32", "int8")


@dataclass
class _Contender:
    network: str
    precision: str
    call: Callable[[], Any]
    samples: list[float]
    round_p50: list[float]


def peer_cost(module: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Parameters and multiply-accumulates of one call (PyTorch's FLOP counter, MAC = FLOP/2)."""
    torch = import_optional("torch")
    counter_mode = import_optional("torch.utils.flop_counter").FlopCounterMode
    args = [torch.zeros(shape) for shape in shapes.values()]
    with counter_mode(display=False) as counter, torch.no_grad():
        module(*args)
    return {"params": int(sum(p.numel() for p in module.parameters())),
            "macs": int(counter.get_total_flops() // 2)}


def bench_peer(
    build: PeerBuilder,
    *,
    label: str = "peer",
    lookahead: int = DEFAULT_LOOKAHEAD,
    threads: int = 2,
    warmup: int = 3,
    iters: int = 20,
    rounds: int = 5,
    calibration: int = 8,
    floor_macs_per_s: float | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows for the peer and for the shipped TP-CMRNet at FP32 and INT8, and each TP-CMRNet
    row's time relative to the peer at the same precision (``vs_peer``, < 1 = faster)."""
    skipped: list[dict[str, str]] = []
    module, shapes, outputs = build()
    cost = {"peer": peer_cost(module, shapes)}
    rng = np.random.default_rng(0)
    peer_inputs = {name: rng.random(shape, dtype=np.float32) for name, shape in shapes.items()}
    contenders: list[_Contender] = []
    with tempfile.TemporaryDirectory(prefix="rtsal-peer-") as tmp, contextlib.ExitStack() as stack:
        fp32 = export_module(module, shapes, outputs, Path(tmp) / "peer.onnx")
        # calibration values change the scales, not the kernels: random frames do for timing
        samples = [{name: rng.random(shape, dtype=np.float32) for name, shape in shapes.items()}
                   for _ in range(calibration)]
        int8 = quantize_encoder(fp32, Path(tmp) / "peer.int8.onnx", samples,
                                calibration="random uniform inputs (timing only)",
                                inputs=tuple(shapes)).path
        for precision, path in zip(PRECISIONS, (fp32, int8)):
            runner = stack.enter_context(OnnxRunner(path, threads=threads))
            contenders.append(_Contender(label, precision,
                                         lambda r=runner: r.infer(peer_inputs), [], []))
        shipped = [n for n in pretrained.PRETRAINED if pretrained.is_available(n)]
        for name in shipped:
            model = pretrained.load_pretrained(name)
            cost[name] = model_cost(model, lookahead)
            (_, enc_in), (_, head_in) = graph_inputs(model, lookahead)
            for precision in PRECISIONS:
                predictor = stack.enter_context(open_predictor(
                    "onnxruntime", weights=name, lookahead=lookahead, precision=precision,
                    device="cpu", threads=threads))

                def call(p: Any = predictor, e: Any = enc_in, h: Any = head_in) -> None:
                    p.encoder.infer(e)
                    p.head_runner.infer(h)

                contenders.append(_Contender(name, precision, call, [], []))
        if not shipped:
            skipped.append({"section": "peer", "reason": "shipped weights: not in this package"})
        for i in range(rounds):
            for c in contenders:
                times = time_calls(c.call, warmup=warmup if i == 0 else 1, iters=iters)
                c.samples += times
                c.round_p50.append(statistics.median(times) * 1e3)
            log.info("peer bench: round %d/%d done", i + 1, rounds)
    rows = []
    peer_rounds = {c.precision: c.round_p50 for c in contenders if c.network == label}
    for c in contenders:
        is_peer = c.network == label
        c_cost = cost["peer" if is_peer else c.network]
        timing = summarize(c.samples)
        row: dict[str, Any] = {
            "section": "peer", "name": c.network, "peer": is_peer, "precision": c.precision,
            "backend": "onnxruntime" + ("-int8" if c.precision == "int8" else ""),
            "threads": threads, "params": c_cost["params"], "macs": c_cost["macs"],
            "frame": timing, "frame_p50_ms": timing["p50_ms"], "frame_p99_ms": timing["p99_ms"],
            "round_p50_ms": c.round_p50, "rounds": rounds,
            "under_41ms": bool(timing["p50_ms"] <= BUDGET_MS), "under_41ms_rule": RULE_MODEL,
        }
        if floor_macs_per_s and c_cost["macs"]:
            row["floor_ratio"] = floor_ratio(timing["p50_ms"] / 1e3, c_cost["macs"],
                                             floor_macs_per_s)
        if not is_peer:
            ratios = [a / b for a, b in zip(c.round_p50, peer_rounds[c.precision])]
            row["vs_peer"] = statistics.median(ratios)
            row["vs_peer_rounds"] = ratios
        rows.append(row)
    return rows, skipped
