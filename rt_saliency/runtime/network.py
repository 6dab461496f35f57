"""TP-CMRNet as a :class:`~rt_saliency.runtime.predictor.StreamPredictor` over two runners."""

from __future__ import annotations

import cv2
import numpy as np

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.flow import FlowConfig
from rt_saliency.runtime.base import Runner
from rt_saliency.spec import ENCODER_INPUTS, ENCODER_OUTPUTS, HEAD_INPUTS, HEAD_OUTPUTS

State = tuple[np.ndarray, np.ndarray]
#: head outputs fed back as the next window's inputs
_CARRY = {"h1": "h0", "c1": "c0"}


def upsample_map(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (h, w) map resized to ``size`` (height, width), bicubic, clamped to [0, 1].

    ``cv2.INTER_CUBIC`` (a = -0.75, half-pixel centres, replicated border) is the model's
    ``F.interpolate(mode="bicubic", align_corners=False)`` (to ~1e-7), at a fraction of the cost
    of a Resize op in the head graph.  A map already of ``size`` is returned as float32 unchanged.
    """
    sal = np.asarray(saliency, np.float32)
    height, width = int(size[0]), int(size[1])
    if sal.shape == (height, width):
        return sal
    up = cv2.resize(sal, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, 0.0, 1.0, out=up)


class NetworkPredictor:
    """Encoder graph per frame, fixed-window head graph per emitted map.

    The head graph takes exactly ``lookahead + 1`` frames; a shorter window at the end of a
    stream is padded by repeating its last frame's features (the lookahead frames only shape
    frame t's map through the backward ConvLSTM, and repeating the last one is the same rule as
    holding the last frame).  Batch size is 1: the stream predicts one frame at a time.  The head
    graph's map (feature size, ``spec.HEAD_MAP_SIZE``) is up-sampled here to the input size; a
    graph exported before that change (map already at input size) is used as it is.
    """

    def __init__(
        self,
        encoder: Runner,
        head: Runner,
        lookahead: int | None = None,
        *,
        name: str | None = None,
        flow: FlowConfig | None = None,
    ) -> None:
        for runner, inputs, outputs, what in (
            (encoder, ENCODER_INPUTS, ENCODER_OUTPUTS, "encoder"),
            (head, HEAD_INPUTS, HEAD_OUTPUTS, "head"),
        ):
            if tuple(runner.input_specs) != inputs or tuple(runner.output_names) != outputs:
                raise ConfigError(
                    f"{what} graph must map {list(inputs)} -> {list(outputs)}, "
                    f"got {list(runner.input_specs)} -> {list(runner.output_names)}"
                )
        frame = encoder.input_specs["frame"].shape
        flows = encoder.input_specs["flows"].shape
        window = head.input_specs["features"].shape
        if frame[0] != 1 or window[0] != 1:
            raise ConfigError(f"graphs must have batch size 1, got {frame[0]} and {window[0]}")
        if lookahead is not None and window[1] != lookahead + 1:
            raise ConfigError(
                f"head graph window is {window[1]} frames, lookahead {lookahead} needs "
                f"{lookahead + 1}: export the head with --lookahead {lookahead}"
            )
        self.encoder = encoder
        self.head_runner = head
        self.window = int(window[1])
        self.lookahead = self.window - 1
        self.flow_maps = int(flows[1]) // 2
        self.input_size = (int(frame[2]), int(frame[3]))
        self.feature_shape = tuple(int(s) for s in window[2:])
        self.name = name or f"tpcmrnet/{encoder.backend}"
        #: the flow the network was trained with (from its graphs' metadata); None: defaults
        self.flow_config = flow
        self._h_shape = head.input_specs["h0"].shape
        self._c_shape = head.input_specs["c0"].shape
        self._device_state = callable(getattr(head, "infer_state", None))

    def initial_state(self) -> State | None:
        """Zero forward ConvLSTM state (h, c); ``None`` (zeros on the device) for a head runner
        that keeps the state on its device (``infer_state``, the TensorRT runner)."""
        if self._device_state:
            return None
        return np.zeros(self._h_shape, np.float32), np.zeros(self._c_shape, np.float32)

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        """Features (C, h, w) of one frame (3, H, W) with its stacked flows (2S, H, W)."""
        frame = np.asarray(frame)
        flows = np.asarray(flows)
        if frame.ndim != 3 or flows.ndim != 3:
            raise InputError(
                f"encode takes frame (3,H,W) and flows (2S,H,W), got {frame.shape} and {flows.shape}"
            )
        out = self.encoder.infer({"frame": frame[None], "flows": flows[None]})
        return out["features"][0]

    def head(self, window: np.ndarray, state: State | None) -> tuple[np.ndarray, State]:
        """Saliency (H, W) of the window's first frame and the forward state after it."""
        window = np.asarray(window)
        if window.ndim != 4 or tuple(window.shape[1:]) != self.feature_shape:
            raise InputError(
                f"head takes features (n, {', '.join(map(str, self.feature_shape))}), got {window.shape}"
            )
        n = window.shape[0]
        if not 1 <= n <= self.window:
            raise InputError(f"head window must hold 1..{self.window} frames, got {n}")
        if n < self.window:
            pad = np.repeat(window[-1:], self.window - n, axis=0)
            window = np.concatenate([window, pad], axis=0)
        if self._device_state:  # the state stays on the device: no host round trip per frame
            out, carried = self.head_runner.infer_state(  # type: ignore[attr-defined]
                {"features": window[None]}, state, _CARRY)
            return upsample_map(out["saliency"][0, 0], self.input_size), carried
        h, c = (np.zeros(self._h_shape, np.float32), np.zeros(self._c_shape, np.float32)) \
            if state is None else state
        out = self.head_runner.infer({"features": window[None], "h0": h, "c0": c})
        return upsample_map(out["saliency"][0, 0], self.input_size), (out["h1"], out["c1"])

    def close(self) -> None:
        """Close both runners."""
        self.encoder.close()
        self.head_runner.close()

    def __enter__(self) -> NetworkPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
