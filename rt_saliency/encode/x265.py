"""Saliency-guided HEVC: planar YUV frames plus a QP-offset grid into libx265.

:class:`X265Encoder` wraps the C extension ``rt_saliency.encode._x265`` (built by ``setup.py``
against Debian's ``libx265-dev``) behind the same interface as
:class:`~rt_saliency.encode.x264.X264Encoder`.  The offsets go in through the public API's
``x265_picture.quantOffsets``: one float per 16x16 block, added to the QP adaptive quantisation
chose (x265.h: "Adaptive quantization must be enabled to use this feature"), so ``aq_mode=0``
is refused and a preset or tune that turns AQ off gets aq-mode 1 at strength 1.  The grid is
``ceil(H/16) x ceil(W/16)``, the same as x264's macroblock grid (qg-size 8, which would change
it to 8x8 blocks, is refused).

The depth picks Debian's 8, 10 or 12-bit libx265 build (``x265_api_get``); parameters follow
FFmpeg's libx265 wrapper, so a flat-offset stream equals ``ffmpeg -c:v libx265`` with the same
options (``tests/test_encode_equivalence.py``).  x265's rate control is CFR: pts pass through to
the output untouched (VFR timing survives in the container), but rates are planned at ``fps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rt_saliency.encode.base import PlanarEncoder, vui_codes
from rt_saliency.encode.config import EncoderConfig
from rt_saliency.errors import ConfigError, EncoderError
from rt_saliency.optional import import_optional

__all__ = ["TUNES", "X265Config", "X265Encoder", "supported_bit_depths"]

TUNES: tuple[str, ...] = ("psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation")
#: x265 slice types (x265.h X265_TYPE_*) -> short names
FRAME_TYPES: dict[int, str] = {1: "IDR", 2: "I", 3: "P", 4: "Bref", 5: "B"}
_CSP = {"420": "i420", "422": "i422", "444": "i444"}


def _load_extension() -> Any:
    return import_optional(
        "rt_saliency.encode._x265", error=EncoderError,
        hint=("the libx265 extension rt_saliency.encode._x265 is not built: install libx265-dev "
              "(scripts/setup.sh) and run `pip install -e .` (or `python setup.py build_ext "
              "--inplace`)"))


def supported_bit_depths() -> tuple[int, ...]:
    """Depths the linked libx265 encodes (Debian's: 8, 10 and 12)."""
    ext = _load_extension()
    return tuple(d for d in (8, 10, 12) if ext.has_bit_depth(d))


@dataclass(frozen=True)
class X265Config(EncoderConfig):
    """x265 settings (see :class:`EncoderConfig`); ``options`` are ``x265_param_parse`` names,
    the same as ffmpeg's ``-x265-params``.  ``threads`` is x265's frame threads (what ffmpeg's
    ``-threads`` sets); the worker pool stays x265's own choice."""

    codec: ClassVar[str] = "x265"
    coding: ClassVar[str] = "hevc"
    tunes: ClassVar[tuple[str, ...]] = TUNES
    aq_modes: ClassVar[tuple[int, ...]] = (1, 2, 3, 4)
    forbidden_options: ClassVar[frozenset[str]] = frozenset({
        "qp", "crf", "bitrate", "aq-mode", "pass", "stats", "annexb", "repeat-headers",
        "input-csp", "fps", "input-depth", "input-res", "output-depth", "frame-threads",
    })

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, value in self.options.items():
            if key.lower().replace("_", "-") == "qg-size" and str(value).strip() == "8":
                raise ConfigError("x265 qg-size 8 takes offsets per 8x8 block; the grid here "
                                  "is 16x16 (use qg-size 16, 32 or 64)")

    def x265_options(self) -> list[tuple[str, str]]:
        """The ``x265_param_parse`` (name, value) list this config applies after the preset."""
        opts: list[tuple[str, str]] = []
        if self.bitrate is not None:
            opts.append(("bitrate", str(int(self.bitrate))))
        else:
            opts.append(("crf", repr(float(self.crf))))
        for name, value in (("vbv-maxrate", self.vbv_maxrate), ("vbv-bufsize", self.vbv_bufsize),
                            ("keyint", self.keyint), ("min-keyint", self.min_keyint),
                            ("bframes", self.bframes), ("aq-mode", self.aq_mode),
                            ("aq-strength", self.aq_strength), ("level-idc", self.level)):
            if value is not None:
                opts.append((name, str(value)))
        if self.threads:
            opts.append(("frame-threads", str(int(self.threads))))
        if self.pass_number is not None:
            opts += [("pass", str(self.pass_number)), ("stats", str(self.stats))]
        opts += [(str(k), str(v)) for k, v in self.options.items()]
        return opts


class X265Encoder(PlanarEncoder):
    """libx265 with per-16x16-block QP offsets: the :class:`PlanarEncoder` interface."""

    config_class = X265Config
    block = 16
    frame_types = FRAME_TYPES

    def _open(self) -> Any:
        ext = _load_extension()
        fmt, config = self.format, self.config
        if not ext.has_bit_depth(fmt.bit_depth):
            raise ConfigError(f"{fmt.name}: the linked libx265 does not encode {fmt.bit_depth}-bit "
                              f"video (it encodes {', '.join(map(str, supported_bit_depths()))}-bit)")
        if min(self.coded_width, self.coded_height) < 16:
            raise ConfigError(f"x265 needs frames of at least 16x16, got {self.width}x{self.height}")
        try:
            enc = ext.Encoder(
                self.coded_width, self.coded_height, self.fps.numerator, self.fps.denominator,
                csp=_CSP[fmt.chroma], bit_depth=fmt.bit_depth, preset=config.preset,
                tune=config.tune, profile=config.profile, options=config.x265_options(),
                log_level=int(config.log_level),
                **vui_codes(self.color, self.sample_aspect_ratio))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"x265: {exc}") from None
        except RuntimeError as exc:
            raise EncoderError(f"x265: {exc}") from exc
        if enc.params["aq_mode"] == 0 or enc.params["rc_method"] == ext.RC_CQP:
            enc.close()
            raise ConfigError("x265 opened without AQ or in CQP mode: offsets would be dropped")
        return enc
