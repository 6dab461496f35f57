"""Planar YUV frames as they come out of a decoder: pixel formats, colour description, planes.

Sources hand these to the encoders unchanged (no RGB round trip, no range conversion), so a
flat-offset encode equals plain ``ffmpeg -c:v libx264``.  Codes follow ITU-T H.273 (the numbers
H.264/HEVC VUI and FFmpeg's ``AVColor*`` enums use): matrix 1 = BT.709, 5/6 = BT.601, 9 = BT.2020
NCL; transfer 16 = PQ, 18 = HLG; 2 = unspecified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from rt_saliency.errors import InputError


@dataclass(frozen=True)
class PixelFormat:
    """A planar YUV layout: chroma subsampling (log2, horizontal and vertical) and depth."""

    name: str
    chroma: str  # "420", "422" or "444"
    bit_depth: int
    full_range: bool = False  # the deprecated yuvj* formats imply full range

    @property
    def sub_w(self) -> int:
        return 0 if self.chroma == "444" else 1

    @property
    def sub_h(self) -> int:
        return 1 if self.chroma == "420" else 0

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bit_depth == 8 else np.uint16)

    @property
    def peak(self) -> int:
        return (1 << self.bit_depth) - 1

    def chroma_shape(self, height: int, width: int) -> tuple[int, int]:
        """(rows, cols) of a U/V plane for a luma plane of ``height`` x ``width`` (rounded up)."""
        return (height + self.sub_h) >> self.sub_h, (width + self.sub_w) >> self.sub_w


def _formats() -> dict[str, PixelFormat]:
    table = {}
    for chroma in ("420", "422", "444"):
        table[f"yuv{chroma}p"] = PixelFormat(f"yuv{chroma}p", chroma, 8)
        table[f"yuvj{chroma}p"] = PixelFormat(f"yuvj{chroma}p", chroma, 8, full_range=True)
        for depth in (10, 12):
            name = f"yuv{chroma}p{depth}le"
            table[name] = PixelFormat(name, chroma, depth)
    return table


#: planar YUV formats the encoders take as they are
PIXEL_FORMATS: dict[str, PixelFormat] = _formats()


def pixel_format(name: str | PixelFormat) -> PixelFormat:
    """The :class:`PixelFormat` of an FFmpeg pixel format name (``yuv420p10le`` ...)."""
    if isinstance(name, PixelFormat):
        return name
    try:
        return PIXEL_FORMATS[name]
    except KeyError:
        raise InputError(f"pixel format {name!r} is not planar YUV 8/10/12-bit; one of "
                         f"{', '.join(PIXEL_FORMATS)}") from None


@dataclass(frozen=True)
class ColorInfo:
    """Colour description carried into the encoder's VUI and the container; ``None`` = unknown.

    ``range``: ``"limited"`` (TV, 16-235 at 8 bit) or ``"full"`` (PC).  ``matrix``,
    ``primaries``, ``transfer``: H.273 codes.  ``chroma_location``: H.264/HEVC
    ``chroma_sample_loc_type`` (0 left, 1 centre, 2 top-left ...).
    """

    range: str | None = None
    matrix: int | None = None
    primaries: int | None = None
    transfer: int | None = None
    chroma_location: int | None = None

    def __post_init__(self) -> None:
        if self.range not in (None, "limited", "full"):
            raise InputError(f"colour range must be 'limited' or 'full', got {self.range!r}")
        for name in ("matrix", "primaries", "transfer", "chroma_location"):
            value = getattr(self, name)
            if value is not None and not 0 <= int(value) <= 255:
                raise InputError(f"colour {name} code {value} is outside 0..255")

    @classmethod
    def from_av_frame(cls, frame: Any) -> "ColorInfo":
        """The tags of a PyAV ``VideoFrame`` (FFmpeg's 2 = unspecified becomes ``None``)."""
        rng = {1: "limited", 2: "full"}.get(int(frame.color_range))
        if rng is None and frame.format.name.startswith("yuvj"):
            rng = "full"
        return cls(range=rng, matrix=_tag(frame.colorspace), primaries=_tag(frame.color_primaries),
                   transfer=_tag(frame.color_trc))


def _tag(value: Any) -> int | None:
    """FFmpeg colour enum -> H.273 code or None (2 = unspecified; 0 is only valid for matrix
    'GBR' and reserved otherwise, which decoders also use for 'unknown')."""
    value = int(value)
    return None if value in (0, 2) else value


@dataclass
class YuvFrame:
    """One decoded picture: its planes in their own format, colour tags and timing."""

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    format: PixelFormat
    color: ColorInfo = field(default_factory=ColorInfo)
    pts: int | None = None
    time_base: Fraction | None = None

    @property
    def height(self) -> int:
        return int(self.planes[0].shape[0])

    @property
    def width(self) -> int:
        return int(self.planes[0].shape[1])


def planes_from_av_frame(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V planes of a planar-YUV PyAV frame, as stored (no range or depth conversion).

    8-bit planes come back uint8, deeper ones native uint16; arrays are views cropped to the
    visible size (rows may be padded: the row stride is FFmpeg's line size).
    """
    fmt = pixel_format(frame.format.name)
    h, w = int(frame.height), int(frame.width)
    shapes = [(h, w)] + [fmt.chroma_shape(h, w)] * 2
    out = []
    for plane, (rows, cols) in zip(frame.planes, shapes):
        item = fmt.dtype.itemsize
        stride = int(plane.line_size)
        flat = np.frombuffer(plane, dtype=np.uint8)
        arr = flat[:rows * stride].reshape(rows, stride)[:, :cols * item]
        out.append(arr.view(fmt.dtype) if item > 1 else arr)
    return out[0], out[1], out[2]


def yuv_frame_from_av(frame: Any) -> YuvFrame:
    """A :class:`YuvFrame` of a planar-YUV PyAV frame (copied planes, tags, pts, time base)."""
    fmt = pixel_format(frame.format.name)
    y, u, v = (np.array(p) for p in planes_from_av_frame(frame))
    tb = frame.time_base
    return YuvFrame((y, u, v), fmt, ColorInfo.from_av_frame(frame), frame.pts,
                    Fraction(tb.numerator, tb.denominator) if tb is not None else None)
