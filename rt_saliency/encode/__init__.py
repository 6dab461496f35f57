"""Saliency-guided encoding: the libx264 and libx265 extension wrappers, muxing, and
rate-quality comparison.

PyAV and matplotlib load through ``rt_saliency.optional.import_optional`` when first needed.
"""

from fractions import Fraction
from typing import Any

from rt_saliency.encode.base import Packet, PlanarEncoder
from rt_saliency.encode.config import EncoderConfig, frame_rate, under_map
from rt_saliency.encode.mux import Muxer, guess_format
from rt_saliency.encode.x264 import X264Config, X264Encoder
from rt_saliency.encode.x265 import X265Config, X265Encoder
from rt_saliency.errors import ConfigError

#: codec name (``--codec``) -> (config class, encoder class)
CODECS: dict[str, tuple[type[EncoderConfig], type[PlanarEncoder]]] = {
    "h264": (X264Config, X264Encoder),
    "hevc": (X265Config, X265Encoder),
}


def encoder_config(codec: str, **settings: Any) -> EncoderConfig:
    """The config of ``codec`` (``h264`` or ``hevc``) from shared settings."""
    try:
        config_class = CODECS[codec][0]
    except KeyError:
        raise ConfigError(f"unknown codec {codec!r}; one of {', '.join(CODECS)}") from None
    return config_class(**settings)


def open_encoder(codec: str, width: int, height: int, fps: float | Fraction | str,
                 config: EncoderConfig | None = None, **kwargs: Any) -> PlanarEncoder:
    """An encoder of ``codec`` (``h264`` or ``hevc``); kwargs as :class:`PlanarEncoder`."""
    try:
        encoder_class = CODECS[codec][1]
    except KeyError:
        raise ConfigError(f"unknown codec {codec!r}; one of {', '.join(CODECS)}") from None
    return encoder_class(width, height, fps, config, **kwargs)


__all__ = ["CODECS", "EncoderConfig", "Muxer", "Packet", "PlanarEncoder", "X264Config",
           "X264Encoder", "X265Config", "X265Encoder", "encoder_config", "frame_rate",
           "guess_format", "open_encoder", "under_map"]
