"""The typed configuration of TP-CMRNet, saved beside the weights as ``config.json``.

Every width the paper leaves open lives here (with the reason in ``docs/model.md``), so a
checkpoint carries everything needed to rebuild the network it was trained with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rt_saliency.errors import ConfigError
from rt_saliency.spec import (
    ABLATION_FLOW_MAPS,
    DEFAULT_FLOW_MAPS,
    FEATURE_SIZE,
    INPUT_SIZE,
    LSTM_CHANNELS,
)

_TUPLE_FIELDS = ("input_size", "stage_widths", "stage_blocks", "ae_channels", "decoder_channels")


@dataclass(frozen=True)
class TPCMRNetConfig:
    """Hyper-parameters of one TP-CMRNet variant (paper section 2; choices in docs/model.md)."""

    #: registered variant name the config was built from
    name: str = "tpcmrnet"
    #: S, the number of stacked flow maps the optical-flow pathway takes (2S channels)
    flow_maps: int = DEFAULT_FLOW_MAPS
    #: eq. 1 fusion after every frame-pathway CMR block (off: pathways summed once, at the end)
    fusion: bool = True
    #: eq. 2 attention after every fusion
    attention: bool = True
    #: bidirectional ConvLSTM (off: forward direction only)
    bidirectional: bool = True
    #: (height, width) of frames, flows and output maps
    input_size: tuple[int, int] = INPUT_SIZE
    #: output channels of every CMR block and of the encoder (the paper's 1x1x32 reduction)
    channels: int = 32
    #: channels of the stride-2 stem (full resolution in, half resolution out)
    stem_channels: int = 16
    #: branch width of the CMR blocks of each stage (stage 0 at 1/4, stage 1 at 1/8 resolution)
    stage_widths: tuple[int, ...] = (16, 122)
    #: number of CMR blocks in each stage
    stage_blocks: tuple[int, ...] = (1, 2)
    #: hidden channels of the attention mask branch
    attention_hidden: int = 16
    #: hidden channels of each ConvLSTM direction
    lstm_channels: int = LSTM_CHANNELS
    #: channels of the auto-encoder's layers (encoder down to the bottleneck, then up)
    ae_channels: tuple[int, ...] = (24, 16, 24)
    #: channels of the decoder's conv+sigmoid layers before the final 1-channel conv+sigmoid
    decoder_channels: tuple[int, ...] = (8,)
    #: batch normalisation after every frame-pathway convolution (folded into the convolutions
    #: when exported, so it costs nothing at inference); the flow pathway is never normalised
    norm: bool = True
    #: multiplicative residuals (CMR ``x + x*y``, eq. 1 ``F_f + F_f*F_o``) with ``y`` through a
    #: tanh, so one block can at most double its input instead of growing without bound
    bounded_residuals: bool = True
    #: the forward ConvLSTM's cell state is clipped to +-cell_clip (0: no clip); the stream
    #: carries that state forever, so it must stay bounded whatever the stream's length
    cell_clip: float = 4.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values the network cannot be built with."""
        if not isinstance(self.flow_maps, int) or self.flow_maps < 1:
            raise ConfigError(f"flow_maps must be a positive integer, got {self.flow_maps!r}")
        for flag in ("fusion", "attention", "bidirectional", "norm", "bounded_residuals"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if not isinstance(self.cell_clip, (int, float)) or self.cell_clip < 0:
            raise ConfigError(f"cell_clip must be >= 0, got {self.cell_clip!r}")
        if len(self.input_size) != 2 or any(int(s) <= 0 or int(s) % 8 for s in self.input_size):
            raise ConfigError(
                f"input_size must be (height, width), both multiples of 8, got {self.input_size!r}"
            )
        if len(self.stage_widths) != 2 or len(self.stage_blocks) != 2:
            raise ConfigError(
                "stage_widths and stage_blocks need two entries (stages at 1/4 and 1/8 resolution)"
            )
        if any(b < 1 for b in self.stage_blocks):
            raise ConfigError(f"every stage needs a CMR block, got {self.stage_blocks!r}")
        positive = {
            "channels": (self.channels,),
            "stem_channels": (self.stem_channels,),
            "stage_widths": self.stage_widths,
            "attention_hidden": (self.attention_hidden,),
            "lstm_channels": (self.lstm_channels,),
            "ae_channels": self.ae_channels,
            "decoder_channels": self.decoder_channels,
        }
        for key, values in positive.items():
            if any(not isinstance(v, int) or v < 1 for v in values):
                raise ConfigError(f"{key} must be positive integers, got {values!r}")

    @property
    def flow_channels(self) -> int:
        """Channels of the stacked flow input: 2S."""
        return 2 * self.flow_maps

    @property
    def feature_size(self) -> tuple[int, int]:
        """(height, width) of the encoder's features: the input size / 8."""
        return (self.input_size[0] // 8, self.input_size[1] // 8)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame's features."""
        return (self.channels, *self.feature_size)

    def is_standard_size(self) -> bool:
        """Whether the features are the 28x28 the streaming contract fixes."""
        return self.feature_size == FEATURE_SIZE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        for key in _TUPLE_FIELDS:
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TPCMRNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"a model config must be a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        values = dict(data)
        for key in _TUPLE_FIELDS:
            if key in values:
                try:
                    values[key] = tuple(int(v) for v in values[key])
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{key} must be a list of integers: {exc}") from exc
        return cls(**values)

    def replace(self, **changes: Any) -> TPCMRNetConfig:
        """A copy with some fields changed (validated; unknown fields are a ConfigError)."""
        base = self.to_dict()
        base.update(changes)
        return TPCMRNetConfig.from_dict(base)


#: S values the paper's Table 1 ablates
ABLATION_S: tuple[int, ...] = ABLATION_FLOW_MAPS

__all__ = ["ABLATION_S", "TPCMRNetConfig"]
