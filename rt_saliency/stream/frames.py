"""What a source yields: one decoded frame with its index and time stamp, and the stream's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from rt_saliency.yuv import YuvFrame


@dataclass(frozen=True)
class StreamInfo:
    """Static facts about an opened source, known before the first frame."""

    #: source frame size in pixels (the QP grid is derived from it)
    width: int
    height: int
    #: nominal frame rate (frames per second); ``None`` when the source does not say
    fps: float | None
    #: live sources (RTSP, cameras, paced synth) cannot be paused: overload drops frames
    live: bool
    #: printable name of the input, credentials redacted
    name: str
    #: number of frames when known in advance (synthetic clips, some files), else ``None``
    frame_count: int | None = None
    #: the time base of the decoded frames' own pts (``YuvFrame.pts``), when the input has one
    time_base: Fraction | None = None


@dataclass
class Frame:
    """One decoded frame: ``rgb`` is uint8 (H, W, 3); ``index`` counts from 0 with no gaps."""

    index: int
    #: presentation time in seconds (monotonic within a stream, also across RTSP reconnects)
    pts: float
    rgb: np.ndarray
    #: ``time.monotonic()`` when the source handed the frame over (for latency stats)
    captured: float = field(default=0.0)
    #: the planes as decoded (format, colour tags, pts in ``StreamInfo.time_base``), for an
    #: encoder; ``None`` for inputs that are RGB or synthetic
    yuv: YuvFrame | None = None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])
