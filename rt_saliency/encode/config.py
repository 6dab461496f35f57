"""The encoder settings a user knows, shared by the codecs (each codec subclasses
:class:`EncoderConfig` with its tunes, AQ modes and option rules), and frame-rate parsing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import ClassVar

from rt_saliency.errors import ConfigError
from rt_saliency.qp.mapping import QPConfig

PRESETS: tuple[str, ...] = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                            "slow", "slower", "veryslow", "placebo")


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder settings shared by the codecs.  Exactly one of ``crf`` (default 23) or
    ``bitrate`` (kbit/s, ABR; with ``pass_number`` 1/2 and ``stats`` a 2-pass encode).

    ``None`` keeps the preset's value (keyint, bframes, aq_mode, aq_strength): the defaults are
    the codec's own, so a flat-offset encode equals plain FFmpeg with the same options.
    ``threads=0`` lets the codec pick.  ``options`` are the codec's own ``key=value`` settings
    (``--x264-params`` / ``--x265-params``), applied after the named fields, in order.
    """

    codec: ClassVar[str] = ""
    #: the coded format's name (the QP side's: ``h264``, ``hevc``)
    coding: ClassVar[str] = ""
    tunes: ClassVar[tuple[str, ...]] = ()
    aq_modes: ClassVar[tuple[int, ...]] = (1, 2, 3)
    #: option names (lower case) that must be set through fields, or would drop the offsets
    forbidden_options: ClassVar[frozenset[str]] = frozenset()

    preset: str = "medium"
    tune: str | None = None
    profile: str | None = None
    level: str | None = None
    crf: float | None = 23.0
    bitrate: int | None = None
    vbv_maxrate: int | None = None
    vbv_bufsize: int | None = None
    keyint: int | None = None
    min_keyint: int | None = None
    bframes: int | None = None
    aq_mode: int | None = None
    aq_strength: float | None = None
    threads: int = 0
    pass_number: int | None = None
    stats: str | None = None
    qp: int | None = None
    odd: str = "pad"
    log_level: int = 0
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = self.codec
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown {name} preset {self.preset!r}; one of "
                              f"{', '.join(PRESETS)}")
        for tune in (self.tune or "").split(","):
            if tune and tune not in self.tunes:
                raise ConfigError(f"unknown {name} tune {tune!r}; one of {', '.join(self.tunes)}")
        if self.qp is not None:
            raise ConfigError(f"constant QP (qp=...) is refused: {name} ignores per-block QP "
                              "offsets in CQP mode; use crf or bitrate")
        if self.aq_mode is not None and self.aq_mode not in self.aq_modes:
            raise ConfigError(f"aq_mode={self.aq_mode} is refused: {name} applies QP offsets "
                              "only with adaptive quantisation on (aq_mode "
                              f"{', '.join(map(str, self.aq_modes))})")
        if self.aq_strength is not None and not (math.isfinite(self.aq_strength)
                                                 and self.aq_strength > 0):
            raise ConfigError(f"aq_strength must be > 0, got {self.aq_strength}")
        if self.bitrate is not None:
            if self.bitrate <= 0:
                raise ConfigError(f"bitrate must be > 0 kbit/s, got {self.bitrate}")
        elif self.crf is None:
            raise ConfigError("give crf or bitrate")
        elif not (0 <= self.crf <= 51):
            raise ConfigError(f"crf must be in [0, 51], got {self.crf}")
        for label in ("vbv_maxrate", "vbv_bufsize", "keyint", "min_keyint"):
            value = getattr(self, label)
            if value is not None and value < 1:
                raise ConfigError(f"{label} must be >= 1, got {value}")
        if (self.vbv_maxrate is None) != (self.vbv_bufsize is None):
            raise ConfigError("VBV needs both vbv_maxrate and vbv_bufsize (kbit/s, kbit)")
        if self.bframes is not None and not 0 <= self.bframes <= 16:
            raise ConfigError(f"bframes must be in [0, 16], got {self.bframes}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0 = auto), got {self.threads}")
        if self.pass_number is not None:
            if self.pass_number not in (1, 2):
                raise ConfigError(f"pass_number must be 1 or 2, got {self.pass_number}")
            if self.bitrate is None:
                raise ConfigError("2-pass needs a bitrate (it hits a target size; CRF is "
                                  "already one pass)")
            if not self.stats:
                raise ConfigError("2-pass needs a stats file path (stats=...)")
        if self.odd not in ("pad", "error"):
            raise ConfigError(f"odd must be 'pad' or 'error', got {self.odd!r}")
        bad = self.forbidden_options.intersection(k.lower().replace("_", "-")
                                                  for k in self.options)
        if bad:
            raise ConfigError(f"{name} option(s) {', '.join(sorted(bad))}: set them through "
                              "the encoder's own settings (crf, bitrate, aq_mode, pass ...)")

    @property
    def rate_control(self) -> str:
        return "abr" if self.bitrate is not None else "crf"


def under_map(config: EncoderConfig, qp: QPConfig) -> EncoderConfig:
    """The settings of an encode driven by a saliency map: the map's AQ strength for this codec
    (:meth:`QPConfig.aq_strength_for`) when the user set no AQ strength and the map is not flat
    (``qp.strength`` > 0); otherwise ``config`` as is, so a flat map still equals plain FFmpeg
    with the same options."""
    strength = qp.aq_strength_for(config.coding)
    if config.aq_strength is None and qp.strength > 0 and strength is not None:
        return replace(config, aq_strength=strength)
    return config


def frame_rate(fps: float | Fraction | tuple[int, int] | str) -> Fraction:
    """A positive rational frame rate from ``25``, ``29.97``, ``(30000, 1001)`` or ``"30000/1001"``."""
    try:
        if isinstance(fps, tuple):
            value = Fraction(int(fps[0]), int(fps[1]))
        elif isinstance(fps, Fraction):
            value = fps
        elif isinstance(fps, str):
            value = Fraction(fps.strip())
        else:
            if not math.isfinite(float(fps)):
                raise ConfigError(f"frame rate must be finite, got {fps}")
            value = Fraction(fps).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"frame rate {fps!r} is not a number or a ratio like 30000/1001") \
            from None
    if value <= 0:
        raise ConfigError(f"frame rate must be positive, got {fps}")
    return value
