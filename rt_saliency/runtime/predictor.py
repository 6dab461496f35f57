"""The streaming predictor protocol: what the stream's inference stages call.

A predictor splits saliency prediction in two, as the stream needs it:

* ``encode(frame, flows)`` runs once per frame and returns that frame's features;
* ``head(window, state)`` takes the features of frames ``t .. t+n-1`` (``1 <= n <= lookahead+1``;
  ``n`` is smaller than ``lookahead+1`` only at the end of a stream) and the forward state left by
  frame ``t-1``; it returns frame ``t``'s saliency map and the forward state after frame ``t``.

TP-CMRNet implements it with two runners (encoder graph, temporal-head graph); the training-free
prior implements it directly.  Both take and return numpy arrays.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from rt_saliency.flow import FlowConfig


@runtime_checkable
class StreamPredictor(Protocol):
    """Per-frame encoder + windowed temporal head, with the recurrent state explicit."""

    #: short name for logs and stats ("tpcmrnet/onnxruntime", "prior" ...)
    name: str
    #: number S of stacked flow maps ``encode`` takes (flows F^t .. F^{t+S-1})
    flow_maps: int
    #: frames L after frame t that ``head`` looks at
    lookahead: int
    #: (height, width) of the frames and flows ``encode`` takes
    input_size: tuple[int, int]
    #: the flow settings it was trained with (``None``: the defaults at ``input_size``)
    flow_config: FlowConfig | None

    def initial_state(self) -> Any:
        """The forward state before the first frame of a stream."""

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        """Features of one frame.

        ``frame``: float32 (3, H, W) RGB in [0, 1]; ``flows``: float32 (2S, H, W), the output of
        :func:`rt_saliency.flow.stack_flows` (network-ready, already normalised).
        """

    def head(self, window: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """Saliency of the window's first frame, float32 (H, W) in [0, 1], and the next state."""

    def close(self) -> None:
        """Release backend resources."""


def warm_up(predictor: StreamPredictor, runs: int = 2) -> None:
    """Run ``runs`` windows of zeros through ``encode`` and ``head``.

    A backend's first calls allocate buffers and pick kernels (tens to hundreds of ms in ONNX
    Runtime); done before a live source opens, that cost is not paid by the first frames of the
    stream, which would otherwise queue up and be dropped.
    """
    height, width = predictor.input_size
    frame = np.zeros((3, height, width), np.float32)
    flows = np.zeros((2 * predictor.flow_maps, height, width), np.float32)
    for _ in range(runs):
        features = predictor.encode(frame, flows)
        window = np.stack([features] * (predictor.lookahead + 1))
        predictor.head(window, predictor.initial_state())
