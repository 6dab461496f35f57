"""The :class:`Source` interface every input implements, and what all sources share.

A source is a context manager with an :attr:`Source.info` (:class:`StreamInfo`) and a
:meth:`Source.frames` generator that yields :class:`Frame` objects numbered 0, 1, 2 ... with
monotonic time stamps; subclasses only fill in :meth:`Source._generate`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.stream.frames import Frame, StreamInfo
from rt_saliency.yuv import YuvFrame

log = logging.getLogger(__name__)

#: what ``Source._generate`` yields: RGB for the network, pts in seconds, the planes as decoded
Decoded = tuple[np.ndarray, "float | None", "YuvFrame | None"]

#: largest frame a raw or Y4M stream may declare (8192x8192 pixels: 8K UHD fits, with room);
#: a larger header is a mistake or an attack, and would only end in an out-of-memory error
MAX_FRAME_PIXELS = 8192 * 8192


def check_frame_size(width: int, height: int, what: str) -> None:
    """Refuse frame sizes no real stream has before any buffer is allocated for them."""
    if width < 1 or height < 1:
        raise InputError(f"{what}: frame size {width}x{height} is not positive")
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(
            f"{what}: frame size {width}x{height} ({width * height / 1e6:.0f} Mpixel, "
            f"{width * height * 3 / 2**30:.1f} GiB a frame) exceeds the "
            f"{MAX_FRAME_PIXELS / 1e6:.0f} Mpixel limit (8192x8192)")


class Source:
    """Base class: a context manager yielding decoded frames; subclasses fill in ``_generate``.

    ``pace`` releases frames at their time stamps (a recorded input played as if it were a
    camera); subclasses pass it to this constructor.
    """

    info: StreamInfo
    #: release frames at their time stamps (a file or synth clip played as if it were a camera)
    pace: bool = False

    def __init__(self, *, pace: bool = False) -> None:
        self._stop = threading.Event()
        self.pace = pace
        #: corrupt packets skipped by the decoder (the frames they held are not in the stream)
        self.decode_errors = 0
        self.frames_read = 0

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the input (idempotent)."""

    def stop(self) -> None:
        """Ask :meth:`frames` to end soon (from another thread or a signal handler)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` has been called."""
        return self._stop.is_set()

    def counters(self) -> dict[str, int]:
        """Event counters for the run's stats (kinds add their own, e.g. RTSP reconnects)."""
        return {"decode_errors": self.decode_errors}

    def frames(self) -> Iterator[Frame]:
        """Yield frames in order until the input ends or :meth:`stop` is called."""
        clock = _MonotonicPts(self.info.fps)
        origin: float | None = None
        for rgb, pts, yuv in self._generate():
            if self._stop.is_set():
                return
            stamp = clock(pts)
            if self.pace:
                if origin is None:
                    origin = time.monotonic() - stamp
                wait = origin + stamp - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
            frame = Frame(self.frames_read, stamp, rgb, time.monotonic(), yuv)
            self.frames_read += 1
            yield frame
        if self.frames_read == 0 and not self.info.live and not self._stop.is_set():
            skipped = (f" ({self.decode_errors} corrupt packets skipped: a decode error)"
                       if self.decode_errors else "")
            raise InputError(f"{self.info.name}: no video frames{skipped}")
        expected = self.info.frame_count
        if expected and self.frames_read < expected and not self._stop.is_set():
            log.warning("%s: ended after %d of the %d frames its header announces (truncated?)",
                        self.info.name, self.frames_read, expected)

    def _generate(self) -> Iterator[Decoded]:
        """Yield ``(rgb, pts, yuv)`` (``pts`` in seconds or ``None`` when unknown; ``yuv`` the
        decoded planes as they are, or ``None`` when the input has none)."""
        raise NotImplementedError


class _MonotonicPts:
    """Keeps time stamps strictly increasing (missing pts, stream restarts after a reconnect)."""

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 1.0 / 30.0
        self.offset = 0.0
        self.last: float | None = None

    def __call__(self, pts: float | None) -> float:
        if pts is None:
            value = 0.0 if self.last is None else self.last + self.period
        else:
            value = pts + self.offset
            if self.last is not None and value <= self.last:
                self.offset += self.last + self.period - value
                value = self.last + self.period
        self.last = value
        return round(value, 6)
