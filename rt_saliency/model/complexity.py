"""Parameter and multiply-accumulate counts of TP-CMRNet, per frame.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2) on a model built
on the ``meta`` device, so no real arithmetic runs and ``rt-saliency info`` stays fast.  The
counter covers convolutions and matrix products, i.e. all the network's multiply-accumulates;
element-wise ops (activations, eq. 1/eq. 2 products, softmax) and the bicubic up-sampling are
not counted (they are a few MFLOP per frame).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from rt_saliency.model.config import TPCMRNetConfig
from rt_saliency.model.tpcmrnet import TPCMRNet
from rt_saliency.spec import DEFAULT_LOOKAHEAD


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those that require grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _macs(fn: Any, *args: Any) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops()) // 2


@dataclass(frozen=True)
class Complexity:
    """Size and cost of one variant; ``macs_per_frame`` = encoder + head for one frame."""

    params: int
    params_encoder: int
    params_head: int
    macs_encoder: int
    macs_head_per_frame: int
    lookahead: int

    @property
    def macs_per_frame(self) -> int:
        return self.macs_encoder + self.macs_head_per_frame

    @property
    def macs_stream_per_frame(self) -> int:
        """Streaming cost: the head re-runs over a window of ``lookahead + 1`` frames per frame."""
        return self.macs_encoder + (self.lookahead + 1) * self.macs_head_per_frame

    def to_dict(self) -> dict[str, int]:
        return {
            "params": self.params,
            "params_encoder": self.params_encoder,
            "params_head": self.params_head,
            "macs_per_frame": self.macs_per_frame,
            "macs_encoder": self.macs_encoder,
            "macs_head_per_frame": self.macs_head_per_frame,
            "lookahead": self.lookahead,
            "macs_stream_per_frame": self.macs_stream_per_frame,
        }


_ENCODER_PREFIXES = ("frame_pathway.", "flow_pathway.", "attention.")


def count_macs(
    config: TPCMRNetConfig | TPCMRNet, lookahead: int = DEFAULT_LOOKAHEAD
) -> Complexity:
    """Params and MACs per frame of a variant (its config or a model; weights are not used)."""
    cfg = config.config if isinstance(config, TPCMRNet) else config
    with torch.device("meta"):
        model = TPCMRNet(cfg).eval()
        h, w = cfg.input_size
        frame = torch.zeros(1, 3, h, w)
        flows = torch.zeros(1, cfg.flow_channels, h, w)
        features = torch.zeros(1, 1, *cfg.feature_shape)
    with torch.no_grad():
        macs_encoder = _macs(model.encode, frame, flows)
        macs_head = _macs(model.head, features, None)
    params_encoder = sum(
        p.numel() for n, p in model.named_parameters() if n.startswith(_ENCODER_PREFIXES)
    )
    params = count_params(model)
    return Complexity(
        params=params,
        params_encoder=params_encoder,
        params_head=params - params_encoder,
        macs_encoder=macs_encoder,
        macs_head_per_frame=macs_head,
        lookahead=lookahead,
    )


def time_per_frame(
    model: TPCMRNet, runs: int = 10, warmup: int = 2, threads: int | None = None, window: int = 1
) -> dict[str, float]:
    """Median wall time (ms) of ``encode`` for one frame and of ``head`` over ``window`` frames,
    batch 1, torch on CPU (a measurement, not a test).  ``threads`` applies only meanwhile."""
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _time_per_frame(model, runs, warmup, window)
    finally:
        torch.set_num_threads(previous_threads)


def _time_per_frame(model: TPCMRNet, runs: int, warmup: int, window: int) -> dict[str, float]:
    cfg = model.config
    h, w = cfg.input_size
    frame = torch.rand(1, 3, h, w)
    flows = torch.randn(1, cfg.flow_channels, h, w)
    model = model.eval()
    enc_ms: list[float] = []
    head_ms: list[float] = []
    cpu_ms: list[float] = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            feats = model.encode(frame, flows)
            t1 = time.perf_counter()
            model.head(feats.unsqueeze(1).expand(1, window, *feats.shape[1:]), None)
            t2 = time.perf_counter()
            c1 = time.process_time()
            if i >= warmup:
                enc_ms.append((t1 - t0) * 1e3)
                head_ms.append((t2 - t1) * 1e3)
                cpu_ms.append((c1 - c0) * 1e3)
    enc, head = statistics.median(enc_ms), statistics.median(head_ms)
    return {
        "encode_ms": round(enc, 2),
        "head_ms": round(head, 2),
        "head_window": window,
        "frame_ms": round(enc + head, 2),
        # CPU time of all threads per frame: steadier than wall time on a shared machine
        "frame_cpu_ms": round(statistics.median(cpu_ms), 2),
        "threads": torch.get_num_threads(),
        "runs": runs,
    }
