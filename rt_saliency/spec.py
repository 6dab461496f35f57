"""Tensor contracts shared by the model, the flow module, the runtimes and the stream.

One place defines what a network input is, so training, export and streaming cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: (height, width) of the frames and flow maps the network sees
INPUT_SIZE: tuple[int, int] = (224, 224)
#: spatial size of the features the temporal head (BD-ConvLSTM) works on: 224 / 8
FEATURE_SIZE: tuple[int, int] = (28, 28)
#: hidden channels of the ConvLSTM (paper, Fig. 1: 28x28x32)
LSTM_CHANNELS: int = 32
#: default number of stacked flow maps S (paper, Table 1)
DEFAULT_FLOW_MAPS: int = 9
#: flow-map counts the ablation uses
ABLATION_FLOW_MAPS: tuple[int, ...] = (3, 5, 7, 9, 11)
#: default temporal lookahead L of the streaming head, in frames
DEFAULT_LOOKAHEAD: int = 2
#: frames per training clip (paper, 3.2: five frames of one video per batch)
TRAIN_CLIP_FRAMES: int = 5

#: (height, width) of the head graph's ``saliency`` output: the decoder's map before the bicubic
#: up-sampling; the predictor resizes it (cv2.INTER_CUBIC, clamped to [0, 1]) to INPUT_SIZE
HEAD_MAP_SIZE: tuple[int, int] = FEATURE_SIZE

# ONNX / runner tensor names.  Encoder: frame, flows -> features.
# Head: features, h0, c0 -> saliency (B, 1, *HEAD_MAP_SIZE), h1, c1.
ENCODER_INPUTS: tuple[str, ...] = ("frame", "flows")
ENCODER_OUTPUTS: tuple[str, ...] = ("features",)
HEAD_INPUTS: tuple[str, ...] = ("features", "h0", "c0")
HEAD_OUTPUTS: tuple[str, ...] = ("saliency", "h1", "c1")


@dataclass(frozen=True)
class TensorSpec:
    """Name, static shape and dtype of one graph input."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TensorSpec:
        shape = data["shape"]
        assert isinstance(shape, Sequence)
        return cls(str(data["name"]), tuple(int(s) for s in shape), np.dtype(str(data["dtype"])))
