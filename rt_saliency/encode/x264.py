"""Saliency-guided H.264: frames plus a per-macroblock QP-offset grid into libx264.

:class:`X264Encoder` wraps the C extension ``rt_saliency.encode._x264`` (built by ``setup.py``
against Debian's ``libx264-dev``).  It takes frames of the *source* size as RGB/BGR or YUV 4:2:0
numpy arrays, an offsets grid of ``ceil(H/16) x ceil(W/16)`` (negative = better quality) or
``None``, and a pts; it returns :class:`Packet` objects (Annex-B access units, SPS/PPS in-band
before every keyframe) ready for :mod:`rt_saliency.encode.mux` or a pipe.

Configurations that would silently drop the offsets are refused with :class:`ConfigError`:
constant QP (x264 ignores ``quant_offsets`` in CQP mode, without a warning) and ``aq_mode=0``
(the offsets ride on adaptive quantisation).  Odd frame sizes cannot be coded exactly in 4:2:0
(H.264 crops in units of 2 luma pixels), so they are padded by one replicated row/column
(``odd="pad"``, the default: the decoded picture is one pixel larger, the macroblock grid is
unchanged) or refused (``odd="error"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from rt_saliency.errors import ConfigError, EncoderError, InputError

PRESETS: tuple[str, ...] = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                            "slow", "slower", "veryslow", "placebo")
TUNES: tuple[str, ...] = ("film", "animation", "grain", "stillimage", "psnr", "ssim",
                          "fastdecode", "zerolatency")
#: x264 picture types (x264.h X264_TYPE_*) -> short names
FRAME_TYPES: dict[int, str] = {1: "IDR", 2: "I", 3: "P", 4: "Bref", 5: "B"}
#: x264 option names that could switch the offsets off behind the wrapper's back
_FORBIDDEN_OPTIONS = {"qp", "qp_constant", "cqp", "aq-mode", "aq_mode", "crf", "bitrate",
                      "annexb", "repeat-headers", "repeat_headers", "input-csp", "fps"}


def _load_extension() -> Any:
    try:
        from rt_saliency.encode import _x264
    except ImportError as exc:  # not built: say how to build it
        raise EncoderError(
            "the libx264 extension rt_saliency.encode._x264 is not built: install libx264-dev "
            "(scripts/setup.sh) and run `pip install -e .` (or `python setup.py build_ext "
            f"--inplace`) ({exc})"
        ) from exc
    return _x264


@dataclass(frozen=True)
class X264Config:
    """Encoder settings.  Exactly one of ``crf`` (default 23) or ``bitrate`` (kbit/s, ABR).

    ABR holds the rate when offsets move bits around; CRF does not (DESIGN.md: a -6/+6 split
    cost +31 % bytes at equal CRF), so compare at equal rate.  ``keyint`` frames between IDRs;
    ``bframes=None`` keeps the preset's; ``threads=0`` lets x264 pick (more delayed frames;
    ``tune="zerolatency"`` delays none).  ``options`` are extra x264 ``key=value`` settings
    (``x264_param_parse`` names), applied after the preset.
    """

    preset: str = "medium"
    tune: str | None = None
    profile: str | None = None
    crf: float | None = 23.0
    bitrate: int | None = None
    vbv_maxrate: int | None = None
    vbv_bufsize: int | None = None
    keyint: int = 250
    min_keyint: int | None = None
    bframes: int | None = None
    aq_mode: int = 1
    aq_strength: float = 1.0
    threads: int = 0
    qp: int | None = None
    odd: str = "pad"
    log_level: int = 0
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown x264 preset {self.preset!r}; one of {', '.join(PRESETS)}")
        for tune in (self.tune or "").split(","):
            if tune and tune not in TUNES:
                raise ConfigError(f"unknown x264 tune {tune!r}; one of {', '.join(TUNES)}")
        if self.qp is not None:
            raise ConfigError("constant QP (qp=...) is refused: x264 ignores per-macroblock QP "
                              "offsets in CQP mode; use crf or bitrate")
        if self.aq_mode not in (1, 2, 3):
            raise ConfigError(f"aq_mode={self.aq_mode} is refused: x264 applies QP offsets only "
                              "with adaptive quantisation on (aq_mode 1, 2 or 3)")
        if not (math.isfinite(self.aq_strength) and self.aq_strength > 0):
            raise ConfigError(f"aq_strength must be > 0, got {self.aq_strength}")
        if self.bitrate is not None:
            if self.bitrate <= 0:
                raise ConfigError(f"bitrate must be > 0 kbit/s, got {self.bitrate}")
        elif self.crf is None:
            raise ConfigError("give crf or bitrate")
        elif not (0 <= self.crf <= 51):
            raise ConfigError(f"crf must be in [0, 51], got {self.crf}")
        if self.keyint < 1:
            raise ConfigError(f"keyint must be >= 1, got {self.keyint}")
        if self.odd not in ("pad", "error"):
            raise ConfigError(f"odd must be 'pad' or 'error', got {self.odd!r}")
        bad = _FORBIDDEN_OPTIONS.intersection(k.lower() for k in self.options)
        if bad:
            raise ConfigError(f"set {sorted(bad)} through X264Config's own fields, not options")

    @property
    def rate_control(self) -> str:
        return "abr" if self.bitrate is not None else "crf"


@dataclass(frozen=True)
class Packet:
    """One encoded access unit (Annex-B), timestamps in the encoder's ``time_base``."""

    data: bytes
    pts: int
    dts: int
    keyframe: bool
    frame_type: str

    def __len__(self) -> int:
        return len(self.data)


def _even(n: int) -> int:
    return n + (n & 1)


class X264Encoder:
    """libx264 with per-macroblock QP offsets; a context manager (``close`` flushes nothing).

    ``encode(frame, offsets, pts)`` returns the packets that became ready (often none at first:
    x264 holds ``delayed_frames()`` frames for lookahead/B-frames/threads); ``flush()`` returns
    the rest at the end.  Not thread-safe: call it from one thread (the GIL is released while
    x264 works, so other Python threads keep running).
    """

    def __init__(self, width: int, height: int, fps: float | Fraction | tuple[int, int] = 25,
                 config: X264Config | None = None, **overrides: Any) -> None:
        config = config or X264Config()
        if overrides:
            try:
                config = replace(config, **overrides)
            except TypeError as exc:
                raise ConfigError(f"unknown encoder option: {exc}") from None
        self.config = config
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise InputError(f"frame size must be positive, got {width}x{height}")
        if (width | height) & 1 and config.odd == "error":
            raise InputError(f"odd frame size {width}x{height}: 4:2:0 H.264 needs even sizes "
                             "(use odd='pad' to pad one replicated row/column)")
        self.width, self.height = width, height
        self.coded_width, self.coded_height = _even(max(width, 2)), _even(max(height, 2))
        self.fps = _fraction(fps)
        self.time_base = Fraction(self.fps.denominator, self.fps.numerator)
        self.mb_shape = (-(-height // 16), -(-width // 16))
        ext = _load_extension()
        try:
            self._enc = ext.Encoder(
                self.coded_width, self.coded_height, self.fps.numerator, self.fps.denominator,
                preset=config.preset, tune=config.tune, profile=config.profile,
                rc=config.rate_control, crf=float(config.crf or 23.0),
                bitrate=int(config.bitrate or 0), vbv_maxrate=int(config.vbv_maxrate or 0),
                vbv_bufsize=int(config.vbv_bufsize or 0), keyint=config.keyint,
                min_keyint=int(config.min_keyint or 0),
                bframes=-1 if config.bframes is None else int(config.bframes),
                aq_mode=config.aq_mode, aq_strength=float(config.aq_strength),
                threads=int(config.threads), log_level=int(config.log_level),
                options={str(k): str(v) for k, v in config.options.items()},
            )
        except ValueError as exc:
            raise ConfigError(f"x264: {exc}") from None
        except RuntimeError as exc:
            raise EncoderError(f"x264: {exc}") from exc
        if self._enc.params["aq_mode"] == 0 or self._enc.params["rc_method"] == ext.RC_CQP:
            self._enc.close()
            raise ConfigError("x264 opened without AQ or in CQP mode: offsets would be dropped")
        self._next_pts = 0
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_out = 0

    # -- info -------------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """What x264 actually opened with (threads, bframes, aq_mode, rc_method ...)."""
        return dict(self._enc.params)

    def headers(self) -> bytes:
        """SPS/PPS (Annex-B); they are also repeated in-band before every keyframe."""
        return self._enc.headers()

    def delayed_frames(self) -> int:
        return self._enc.delayed_frames()

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, frame: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray],
               offsets: np.ndarray | None = None, pts: int | None = None,
               pixel_format: str = "rgb", keyframe: bool = False) -> list[Packet]:
        """Encode one source-size frame; return the packets that came out (maybe none).

        ``pixel_format``: ``"rgb"``/``"bgr"`` for (H, W, 3) uint8, ``"yuv420p"`` for one
        (H*3/2, W) uint8 array (PyAV's ``to_ndarray("yuv420p")``, OpenCV's I420; even sizes) or a
        tuple of planes (Y (H, W), U and V (ceil(H/2), ceil(W/2))).  ``offsets``: float grid of
        ``mb_shape`` or ``None``; ``pts`` in ``time_base`` units (default: a frame counter).
        """
        y, u, v = self._planes(frame, pixel_format)
        grid = None if offsets is None else self._offsets(offsets)
        if pts is None:
            pts = self._next_pts
        self._next_pts = int(pts) + 1
        try:
            out = self._enc.encode(y, u, v, grid, int(pts), bool(keyframe))
        except ValueError as exc:
            raise InputError(f"x264: {exc}") from None
        except RuntimeError as exc:
            raise EncoderError(f"x264: {exc}") from exc
        self.frames_in += 1
        return [] if out is None else [self._packet(out)]

    def flush(self) -> list[Packet]:
        """Drain the frames x264 still holds; call once at the end of the stream."""
        try:
            return [self._packet(t) for t in self._enc.flush()]
        except RuntimeError as exc:
            raise EncoderError(f"x264: {exc}") from exc

    def close(self) -> None:
        self._enc.close()

    def __enter__(self) -> "X264Encoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------
    def _packet(self, out: tuple) -> Packet:
        data, pts, dts, key, ftype = out
        self.frames_out += 1
        self.bytes_out += len(data)
        return Packet(data, int(pts), int(dts), bool(key), FRAME_TYPES.get(ftype, str(ftype)))

    def _offsets(self, offsets: np.ndarray) -> np.ndarray:
        grid = np.ascontiguousarray(offsets, dtype=np.float32)
        if grid.shape != self.mb_shape:
            raise InputError(f"offsets grid is {grid.shape}, the {self.width}x{self.height} "
                             f"frame needs {self.mb_shape} (ceil(H/16), ceil(W/16))")
        if not np.isfinite(grid).all():
            raise InputError("offsets contain NaN or infinity")
        return grid

    def _planes(self, frame: Any, pixel_format: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        ch, cw = self.coded_height, self.coded_width
        if pixel_format in ("rgb", "bgr"):
            import cv2

            img = np.asarray(frame)
            if img.shape != (h, w, 3) or img.dtype != np.uint8:
                raise InputError(f"expected a uint8 ({h}, {w}, 3) {pixel_format} frame, got "
                                 f"{img.dtype} {img.shape}")
            if (ch, cw) != (h, w):
                img = np.pad(img, ((0, ch - h), (0, cw - w), (0, 0)), mode="edge")
            code = cv2.COLOR_RGB2YUV_I420 if pixel_format == "rgb" else cv2.COLOR_BGR2YUV_I420
            i420 = cv2.cvtColor(np.ascontiguousarray(img), code)
            return _split_i420(i420, ch, cw)
        if pixel_format != "yuv420p":
            raise InputError(f"pixel_format must be rgb, bgr or yuv420p, got {pixel_format!r}")
        if isinstance(frame, (tuple, list)):
            if len(frame) != 3:
                raise InputError("yuv420p planes must be a (Y, U, V) tuple")
            y, u, v = (np.asarray(p) for p in frame)
            cshape = ((h + 1) // 2, (w + 1) // 2)
            if y.shape != (h, w) or u.shape != cshape or v.shape != cshape or \
                    any(p.dtype != np.uint8 for p in (y, u, v)):
                raise InputError(f"yuv420p planes must be uint8 Y {(h, w)}, U/V {cshape}; got "
                                 f"{y.shape}, {u.shape}, {v.shape}")
            if (ch, cw) != (h, w):
                y = np.pad(y, ((0, ch - h), (0, cw - w)), mode="edge")
            return y, np.ascontiguousarray(u), np.ascontiguousarray(v)
        arr = np.asarray(frame)
        if arr.shape != (h * 3 // 2, w) or arr.dtype != np.uint8 or (h | w) & 1:
            raise InputError(f"a packed yuv420p frame must be uint8 ({h * 3 // 2}, {w}) with an "
                             f"even size; got {arr.dtype} {arr.shape} (pass a (Y, U, V) tuple "
                             "for odd sizes)")
        return _split_i420(np.ascontiguousarray(arr), h, w)


def _split_i420(i420: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = i420.reshape(-1)
    ysize, csize = h * w, (h // 2) * (w // 2)
    y = flat[:ysize].reshape(h, w)
    u = flat[ysize:ysize + csize].reshape(h // 2, w // 2)
    v = flat[ysize + csize:ysize + 2 * csize].reshape(h // 2, w // 2)
    return y, u, v


def _fraction(fps: float | Fraction | tuple[int, int]) -> Fraction:
    if isinstance(fps, tuple):
        value = Fraction(int(fps[0]), int(fps[1]))
    elif isinstance(fps, Fraction):
        value = fps
    else:
        if not math.isfinite(float(fps)):
            raise ConfigError(f"frame rate must be finite, got {fps}")
        value = Fraction(fps).limit_denominator(1001)
    if value <= 0:
        raise ConfigError(f"frame rate must be positive, got {fps}")
    return value
