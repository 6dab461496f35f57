"""Saliency-guided H.264: planar YUV frames plus a per-macroblock QP-offset grid into libx264.

:class:`X264Encoder` wraps the C extension ``rt_saliency.encode._x264`` (built by ``setup.py``
against Debian's ``libx264-dev``).  It takes frames of the *source* size in their decoded pixel
format (yuv420p/422p/444p, 8 or 10 bit: Debian's libx264 164 holds both depths), an offsets grid
of ``ceil(H/16) x ceil(W/16)`` (negative = better quality) or ``None``, and a pts in the
encoder's time base; it returns :class:`Packet` objects (Annex-B access units, SPS/PPS in-band
before every keyframe) ready for :mod:`rt_saliency.encode.mux` or a pipe.

The parameters are built as FFmpeg's libx264 wrapper builds them (preset/tune, frame and colour
description, VFR timing from the time base, then options, then the profile), so with flat
offsets the stream equals ``ffmpeg -c:v libx264`` with the same options
(``tests/test_encode_equivalence.py``).

Configurations that would silently drop the offsets are refused with :class:`ConfigError`:
constant QP (x264 ignores ``quant_offsets`` in CQP mode, without a warning) and ``aq_mode=0``
(the offsets ride on adaptive quantisation; presets that turn AQ off get aq-mode 1).  Sizes that
do not fit the chroma subsampling are padded by one replicated row/column (``odd="pad"``, the
default: the decoded picture is one pixel larger, the macroblock grid is unchanged) or refused
(``odd="error"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rt_saliency.encode.base import Packet, PlanarEncoder, vui_codes
from rt_saliency.encode.config import PRESETS, EncoderConfig
from rt_saliency.errors import ConfigError, EncoderError
from rt_saliency.optional import import_optional

__all__ = ["PRESETS", "TUNES", "X264Config", "X264Encoder", "Packet"]

TUNES: tuple[str, ...] = ("film", "animation", "grain", "stillimage", "psnr", "ssim",
                          "fastdecode", "zerolatency")
#: x264 picture types (x264.h X264_TYPE_*) -> short names
FRAME_TYPES: dict[int, str] = {1: "IDR", 2: "I", 3: "P", 4: "Bref", 5: "B"}
_CSP = {"420": "i420", "422": "i422", "444": "i444"}


def _load_extension() -> Any:
    return import_optional(
        "rt_saliency.encode._x264", error=EncoderError,
        hint=("the libx264 extension rt_saliency.encode._x264 is not built: install libx264-dev "
              "(scripts/setup.sh) and run `pip install -e .` (or `python setup.py build_ext "
              "--inplace`)"))


def supported_bit_depths() -> tuple[int, ...]:
    """Depths the linked libx264 encodes (Debian's 164: both 8 and 10)."""
    depth = _load_extension().X264_BIT_DEPTH
    return (8, 10) if depth == 0 else (int(depth),)


@dataclass(frozen=True)
class X264Config(EncoderConfig):
    """x264 settings (see :class:`EncoderConfig`); ``options`` are ``x264_param_parse`` names,
    the same as ffmpeg's ``-x264-params``."""

    codec: ClassVar[str] = "x264"
    coding: ClassVar[str] = "h264"
    tunes: ClassVar[tuple[str, ...]] = TUNES
    aq_modes: ClassVar[tuple[int, ...]] = (1, 2, 3)
    forbidden_options: ClassVar[frozenset[str]] = frozenset({
        "qp", "qp-constant", "cqp", "crf", "bitrate", "aq-mode", "pass", "stats", "annexb",
        "repeat-headers", "input-csp", "fps", "timebase", "force-cfr", "input-depth",
        "output-csp", "bitdepth", "input-res",
    })

    def x264_options(self) -> list[tuple[str, str]]:
        """The ``x264_param_parse`` (name, value) list this config applies after the preset."""
        opts: list[tuple[str, str]] = []
        if self.bitrate is not None:
            opts.append(("bitrate", str(int(self.bitrate))))
        else:
            opts.append(("crf", repr(float(self.crf))))
        for name, value in (("vbv-maxrate", self.vbv_maxrate), ("vbv-bufsize", self.vbv_bufsize),
                            ("keyint", self.keyint), ("min-keyint", self.min_keyint),
                            ("bframes", self.bframes), ("aq-mode", self.aq_mode),
                            ("aq-strength", self.aq_strength), ("level", self.level)):
            if value is not None:
                opts.append((name, str(value)))
        if self.threads:
            opts.append(("threads", str(int(self.threads))))
        if self.pass_number is not None:
            opts += [("pass", str(self.pass_number)), ("stats", str(self.stats))]
        opts += [(str(k), str(v)) for k, v in self.options.items()]
        return opts


class X264Encoder(PlanarEncoder):
    """libx264 with per-macroblock QP offsets: the :class:`PlanarEncoder` interface."""

    config_class = X264Config
    block = 16
    frame_types = FRAME_TYPES

    def _open(self) -> Any:
        ext = _load_extension()
        fmt, config = self.format, self.config
        if fmt.bit_depth not in supported_bit_depths():
            raise ConfigError(f"{fmt.name}: the linked libx264 does not encode {fmt.bit_depth}-bit "
                              f"video (it encodes {', '.join(map(str, supported_bit_depths()))}-bit)")
        try:
            enc = ext.Encoder(
                self.coded_width, self.coded_height, self.fps.numerator, self.fps.denominator,
                csp=_CSP[fmt.chroma], bit_depth=fmt.bit_depth,
                timebase_num=self.time_base.numerator, timebase_den=self.time_base.denominator,
                vfr=self.vfr, preset=config.preset, tune=config.tune, profile=config.profile,
                options=config.x264_options(), fast_first_pass=config.pass_number == 1,
                log_level=int(config.log_level),
                **vui_codes(self.color, self.sample_aspect_ratio))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"x264: {exc}") from None
        except RuntimeError as exc:
            raise EncoderError(f"x264: {exc}") from exc
        if enc.params["aq_mode"] == 0 or enc.params["rc_method"] == ext.RC_CQP:
            enc.close()
            raise ConfigError("x264 opened without AQ or in CQP mode: offsets would be dropped")
        return enc
