"""What the built-in encoders (x264, x265) share: packets and the frame handling around the C
extensions (planes, odd sizes, offsets grids, timestamps, VUI codes); the settings are in
:mod:`rt_saliency.encode.config`.

Each codec module subclasses :class:`EncoderConfig` (its tunes, AQ modes and option rules) and
:class:`PlanarEncoder` (how the config becomes the codec's own options); the Python interface is
the same, so ``run``/``compare`` pick a codec by name (:func:`rt_saliency.encode.open_encoder`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, ClassVar

import cv2
import numpy as np

from rt_saliency.encode.config import EncoderConfig, frame_rate
from rt_saliency.errors import ConfigError, EncoderError, InputError
from rt_saliency.yuv import ColorInfo, PixelFormat, YuvFrame
from rt_saliency.yuv import pixel_format as _pixel_format


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


class PlanarEncoder:
    """A codec extension behind one interface; a context manager (``close`` flushes nothing).

    ``encode(frame, offsets, pts)`` returns the packets that became ready (often none at first:
    the codec holds ``delayed_frames()`` frames for lookahead/B-frames/threads); ``flush()``
    returns the rest at the end.  Frames are :class:`~rt_saliency.yuv.YuvFrame` objects or
    ``(Y, U, V)`` planes in the encoder's ``pixel_format`` (uint8 for 8-bit, uint16 deeper),
    taken as they are.  ``pts`` are in ``time_base`` units (default 1/fps; pass the source's
    time base to keep VFR timing); without a pts a frame counter is used.  Not thread-safe:
    call it from one thread (the GIL is released while the codec works).
    """

    config_class: ClassVar[type[EncoderConfig]] = EncoderConfig
    #: block edge of the offsets grid (16 for x264 macroblocks and x265's default qg-size)
    block: int = 16
    frame_types: ClassVar[dict[int, str]] = {}

    def __init__(self, width: int, height: int,
                 fps: float | Fraction | tuple[int, int] | str = 25,
                 config: EncoderConfig | None = None, *,
                 pixel_format: str | PixelFormat = "yuv420p", color: ColorInfo | None = None,
                 time_base: Fraction | None = None, vfr: bool = True,
                 sample_aspect_ratio: Fraction | None = None, **overrides: Any) -> None:
        config = config or self.config_class()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} needs a {self.config_class.__name__}, got "
                              f"{type(config).__name__}")
        if overrides:
            try:
                config = replace(config, **overrides)
            except TypeError as exc:
                raise ConfigError(f"unknown encoder option: {exc}") from None
        self.config = config
        self.format = _pixel_format(pixel_format)
        self.color = color or ColorInfo(range="full" if self.format.full_range else None)
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise InputError(f"frame size must be positive, got {width}x{height}")
        fmt = self.format
        odd = (width & fmt.sub_w) | (height & fmt.sub_h)
        if odd and config.odd == "error":
            raise InputError(f"frame size {width}x{height} does not fit {fmt.name}'s chroma "
                             "subsampling (use odd='pad' to pad one replicated row/column)")
        self.width, self.height = width, height
        self.coded_width = max(width + (width & fmt.sub_w), 2)
        self.coded_height = max(height + (height & fmt.sub_h), 2)
        self.fps = frame_rate(fps)
        self.time_base = Fraction(time_base) if time_base is not None else \
            Fraction(self.fps.denominator, self.fps.numerator)
        if self.time_base <= 0:
            raise ConfigError(f"time base must be positive, got {time_base}")
        self.vfr = bool(vfr)
        self.sample_aspect_ratio = _sar(sample_aspect_ratio)
        self.mb_shape = (-(-height // self.block), -(-width // self.block))
        self._enc = self._open()
        self._next_pts = 0
        self._last_pts: int | None = None
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_out = 0

    # -- codec hooks --------------------------------------------------------------------------
    def _open(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- info ---------------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """What the codec actually opened with (threads, bframes, aq_mode, rc ...)."""
        return dict(self._enc.params)

    @property
    def pixel_format(self) -> str:
        return self.format.name

    def headers(self) -> bytes:
        """Parameter sets (Annex-B); they are also repeated in-band before every keyframe."""
        return self._enc.headers()

    def delayed_frames(self) -> int:
        return self._enc.delayed_frames()

    # -- encoding -----------------------------------------------------------------------------
    def encode(self, frame: YuvFrame | tuple[np.ndarray, np.ndarray, np.ndarray] | np.ndarray,
               offsets: np.ndarray | None = None, pts: int | None = None,
               keyframe: bool = False, pixel_format: str | None = None) -> list[Packet]:
        """Encode one source-size frame; return the packets that came out (maybe none).

        ``offsets``: float grid of ``mb_shape`` (negative = better quality) or ``None``.
        ``pts``: in ``time_base`` units; default the frame's own (a ``YuvFrame`` in this time
        base) or a counter.  ``pixel_format`` ``"rgb"``/``"bgr"`` takes an (H, W, 3) uint8
        array through OpenCV's I420 conversion (8-bit 4:2:0 only; a lossy legacy path).
        """
        y, u, v = self._planes(frame, pixel_format)
        grid = None if offsets is None else self._offsets(offsets)
        if pts is None and isinstance(frame, YuvFrame) and frame.pts is not None:
            if frame.time_base is not None and frame.time_base != self.time_base:
                pts = round(frame.pts * frame.time_base / self.time_base)
            else:
                pts = frame.pts
        if pts is None:
            pts = self._next_pts
        pts = int(pts)
        if self._last_pts is not None and pts <= self._last_pts:
            raise InputError(f"pts {pts} is not after the previous frame's {self._last_pts}; "
                             "timestamps must increase")
        self._last_pts = pts
        self._next_pts = pts + 1
        try:
            out = self._enc.encode(y, u, v, grid, pts, bool(keyframe))
        except ValueError as exc:
            raise InputError(f"{self.config.codec}: {exc}") from None
        except RuntimeError as exc:
            raise EncoderError(f"{self.config.codec}: {exc}") from exc
        self.frames_in += 1
        return [] if out is None else [self._packet(out)]

    def flush(self) -> list[Packet]:
        """Drain the frames the codec still holds; call once at the end of the stream."""
        try:
            return [self._packet(t) for t in self._enc.flush()]
        except RuntimeError as exc:
            raise EncoderError(f"{self.config.codec}: {exc}") from exc

    def close(self) -> None:
        self._enc.close()

    def __enter__(self) -> "PlanarEncoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------------
    def _packet(self, out: tuple) -> Packet:
        data, pts, dts, key, ftype = out
        self.frames_out += 1
        self.bytes_out += len(data)
        return Packet(data, int(pts), int(dts), bool(key),
                      self.frame_types.get(ftype, str(ftype)))

    def _offsets(self, offsets: np.ndarray) -> np.ndarray:
        grid = np.ascontiguousarray(offsets, dtype=np.float32)
        if grid.shape != self.mb_shape:
            raise InputError(f"offsets grid is {grid.shape}, the {self.width}x{self.height} "
                             f"frame needs {self.mb_shape} (ceil(H/{self.block}), "
                             f"ceil(W/{self.block}))")
        if not np.isfinite(grid).all():
            raise InputError("offsets contain NaN or infinity")
        return grid

    def _planes(self, frame: Any, pixel_format: str | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fmt, h, w = self.format, self.height, self.width
        if isinstance(frame, YuvFrame):
            if frame.format.name != fmt.name and \
                    (frame.format.chroma, frame.format.bit_depth) != (fmt.chroma, fmt.bit_depth):
                raise InputError(f"frame is {frame.format.name}, the encoder was opened for "
                                 f"{fmt.name}")
            frame = frame.planes
        elif pixel_format in ("rgb", "bgr") or (pixel_format is None
                                               and isinstance(frame, np.ndarray)
                                               and frame.ndim == 3):
            return self._planes_from_rgb(frame, pixel_format or "rgb")
        elif pixel_format not in (None, fmt.name):
            raise InputError(f"pixel_format {pixel_format!r}: the encoder was opened for "
                             f"{fmt.name}")
        if isinstance(frame, np.ndarray) and frame.ndim == 2 and fmt.name == "yuv420p":
            return self._planes_from_packed_i420(frame)
        if not isinstance(frame, (tuple, list)) or len(frame) != 3:
            raise InputError(f"a {fmt.name} frame must be a YuvFrame or a (Y, U, V) tuple")
        y, u, v = (np.asarray(p) for p in frame)
        cshape = fmt.chroma_shape(h, w)
        if y.shape != (h, w) or u.shape != cshape or v.shape != cshape or \
                any(p.dtype != fmt.dtype for p in (y, u, v)):
            raise InputError(f"{fmt.name} planes must be {fmt.dtype} Y {(h, w)}, U/V {cshape}; "
                             f"got {y.dtype} {y.shape}, {u.dtype} {u.shape}, {v.dtype} {v.shape}")
        if (self.coded_height, self.coded_width) != (h, w):
            y = np.pad(y, ((0, self.coded_height - h), (0, self.coded_width - w)), mode="edge")
        return _rows(y), _rows(u), _rows(v)

    def _planes_from_packed_i420(self, arr: np.ndarray
                                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        if arr.shape != (h * 3 // 2, w) or arr.dtype != np.uint8 or (h | w) & 1:
            raise InputError(f"a packed yuv420p frame must be uint8 ({h * 3 // 2}, {w}) with an "
                             f"even size; got {arr.dtype} {arr.shape} (pass a (Y, U, V) tuple "
                             "for odd sizes)")
        return _split_i420(np.ascontiguousarray(arr), h, w)

    def _planes_from_rgb(self, frame: Any, order: str
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.format.name != "yuv420p":
            raise InputError(f"RGB frames need a yuv420p encoder, this one is {self.format.name}")
        h, w, ch, cw = self.height, self.width, self.coded_height, self.coded_width
        img = np.asarray(frame)
        if img.shape != (h, w, 3) or img.dtype != np.uint8:
            raise InputError(f"expected a uint8 ({h}, {w}, 3) {order} frame, got "
                             f"{img.dtype} {img.shape}")
        if (ch, cw) != (h, w):
            img = np.pad(img, ((0, ch - h), (0, cw - w), (0, 0)), mode="edge")
        code = cv2.COLOR_RGB2YUV_I420 if order == "rgb" else cv2.COLOR_BGR2YUV_I420
        return _split_i420(cv2.cvtColor(np.ascontiguousarray(img), code), ch, cw)


def _rows(plane: np.ndarray) -> np.ndarray:
    """The plane with contiguous rows (any row stride), as the extensions take it."""
    if plane.ndim == 2 and plane.strides[1] == plane.itemsize:
        return plane
    return np.ascontiguousarray(plane)


def _split_i420(i420: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = i420.reshape(-1)
    ysize, csize = h * w, (h // 2) * (w // 2)
    y = flat[:ysize].reshape(h, w)
    u = flat[ysize:ysize + csize].reshape(h // 2, w // 2)
    v = flat[ysize + csize:ysize + 2 * csize].reshape(h // 2, w // 2)
    return y, u, v


def _sar(value: Fraction | tuple[int, int] | None) -> Fraction | None:
    if value is None:
        return None
    sar = Fraction(*value) if isinstance(value, tuple) else Fraction(value)
    if sar <= 0:
        return None  # FFmpeg's 0:1 = unknown
    return sar.limit_denominator(65535)


def vui_codes(color: ColorInfo, sar: Fraction | None = None) -> dict[str, int]:
    """Keyword arguments of the extensions' VUI fields (-1 / 0 = leave the codec's default)."""
    codes = colour_codes(color)
    codes.update(sar_num=sar.numerator if sar else 0, sar_den=sar.denominator if sar else 0)
    return codes


def colour_codes(color: ColorInfo) -> dict[str, int]:
    """The VUI fields of a :class:`ColorInfo` (-1 = leave the codec's default)."""
    return {
        "full_range": -1 if color.range is None else int(color.range == "full"),
        "colorprim": -1 if color.primaries is None else int(color.primaries),
        "transfer": -1 if color.transfer is None else int(color.transfer),
        "colmatrix": -1 if color.matrix is None else int(color.matrix),
        "chromaloc": -1 if color.chroma_location is None else int(color.chroma_location),
    }
