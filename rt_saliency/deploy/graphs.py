"""The two streaming graphs of TP-CMRNet as plain ``nn.Module`` wrappers with named I/O.

The stream runs the network as two graphs (``docs/architecture.md``):

* encoder: ``frame (B,3,H,W), flows (B,2S,H,W) -> features (B,C,h,w)``, once per frame;
* head: ``features (B,T,C,h,w), h0, c0 -> saliency (B,1,h,w), h1, c1`` over a fixed window of
  ``T = L + 1`` frames; ``saliency`` is the map of the window's *first* frame (the only one the
  stream emits) at feature size (28x28, before the bicubic up-sampling) and ``(h1, c1)`` the
  forward ConvLSTM state after that frame.  The graph computes frame t only
  (``TPCMRNet.head_first``); the predictor up-samples the one map it emits with
  ``cv2.INTER_CUBIC`` (:func:`rt_saliency.runtime.network.upsample_map`), which equals the model's
  bicubic ``F.interpolate`` to ~1e-7 and costs far less than a Resize op inside the graph.

Both the torch runner and the ONNX exporter use these wrappers, so the two cannot drift apart.
Tensor names come from :mod:`rt_saliency.spec`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rt_saliency.spec import (
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    HEAD_INPUTS,
    HEAD_OUTPUTS,
    INPUT_SIZE,
    TensorSpec,
)


class EncoderGraph(nn.Module):
    """``model.encode`` with the graph's input order (frame, flows)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
        return self.model.encode(frame, flows)


class HeadGraph(nn.Module):
    """``model.head_first`` over a fixed window with explicit state: the first frame's map at
    feature size (no up-sampling) and the forward state after that frame."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, features: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        saliency, (h1, c1) = self.model.head_first(features, (h0, c0), upsample=False)
        return saliency, h1, c1


def _flow_maps(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    flow_maps = getattr(config, "flow_maps", None)
    if flow_maps is None:
        raise TypeError("model.config has no 'flow_maps' field")
    return int(flow_maps)


@torch.inference_mode()
def graph_specs(
    model: nn.Module, lookahead: int, batch: int = 1
) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
    """Input specs of the encoder and head graphs of ``model`` for a head window of L+1.

    The feature and state shapes are probed from the model (one encoder pass on zeros and
    ``initial_state``), so they follow whatever widths the model config chose.
    """
    if lookahead < 0:
        raise ValueError(f"lookahead must be >= 0, got {lookahead}")
    height, width = (int(v) for v in getattr(model.config, "input_size", INPUT_SIZE))
    s = _flow_maps(model)
    param = next(model.parameters())
    frame = torch.zeros(batch, 3, height, width, dtype=param.dtype, device=param.device)
    flows = torch.zeros(batch, 2 * s, height, width, dtype=param.dtype, device=param.device)
    was_training = model.training
    model.eval()
    try:
        features = model.encode(frame, flows)
        h, c = model.initial_state(batch, param.device, param.dtype)
    finally:
        model.train(was_training)
    f32 = np.dtype(np.float32)
    encoder = {
        ENCODER_INPUTS[0]: TensorSpec(ENCODER_INPUTS[0], tuple(frame.shape), f32),
        ENCODER_INPUTS[1]: TensorSpec(ENCODER_INPUTS[1], tuple(flows.shape), f32),
    }
    window = (batch, lookahead + 1, *features.shape[1:])
    head = {
        HEAD_INPUTS[0]: TensorSpec(HEAD_INPUTS[0], window, f32),
        HEAD_INPUTS[1]: TensorSpec(HEAD_INPUTS[1], tuple(h.shape), f32),
        HEAD_INPUTS[2]: TensorSpec(HEAD_INPUTS[2], tuple(c.shape), f32),
    }
    return encoder, head


def random_inputs(specs: dict[str, TensorSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for a graph: uniform [0, 1) for frames and features, N(0, 0.5) for the rest.

    Flows and ConvLSTM states are signed, so they get a symmetric distribution.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, spec in specs.items():
        if name in ("frame", "features"):
            out[name] = rng.random(spec.shape, dtype=np.float32)
        else:
            out[name] = (0.5 * rng.standard_normal(spec.shape)).astype(np.float32)
    return out


def graph_outputs(kind: str) -> tuple[str, ...]:
    """Output names of the ``"encoder"`` or ``"head"`` graph."""
    if kind == "encoder":
        return ENCODER_OUTPUTS
    if kind == "head":
        return HEAD_OUTPUTS
    raise ValueError(f"unknown graph kind {kind!r}")


def describe(specs: dict[str, TensorSpec]) -> list[dict[str, Any]]:
    """JSON-able list of specs (for metadata and sidecars)."""
    return [spec.to_dict() for spec in specs.values()]
