"""Everything FFmpeg demuxes (files, URLs, cameras, containers on stdin), decoded with PyAV.

Each decoded frame keeps its planes as decoded (a :class:`~rt_saliency.yuv.YuvFrame`: format,
colour tags, pts and time base), which an encoder takes unchanged, and an RGB copy for the
network.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from rt_saliency.errors import InputError, InputNotFoundError, SourceError
from rt_saliency.optional import import_optional
from rt_saliency.redact import redact_url
from rt_saliency.stream.frames import StreamInfo
from rt_saliency.stream.sources.base import Decoded, Source
from rt_saliency.stream.sources.convert import _read_exact
from rt_saliency.stream.sources.raw import Y4mSource
from rt_saliency.yuv import pixel_format, yuv_frame_from_av

log = logging.getLogger(__name__)


def _import_av() -> Any:
    return import_optional("av", hint="PyAV is missing: pip install av")


class BestEffortPts:
    """A decoded frame's time in seconds, as FFmpeg's ``best_effort_timestamp`` chooses it.

    A frame carries two stamps: its own pts (reordered with it by the decoder) and the dts of
    the packet that completed it.  Some files are muxed with ``pts = dts`` although they have
    B-frames: after reordering their frame pts jump back and forth, while the packet dts rise.
    So count, for each kind, how often it failed to rise, and trust pts unless it has failed
    more often than dts (or there is no dts), as FFmpeg does; ``ffmpeg -i`` then gives the same
    timeline as we do."""

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def __call__(self, frame: Any) -> float | None:
        pts, dts = frame.pts, frame.dts
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        use_pts = pts is not None and (dts is None or self.faulty_pts <= self.faulty_dts)
        stamp = pts if use_pts else dts
        if stamp is None or frame.time_base is None:
            return None
        return float(stamp * frame.time_base)


def _stream_fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    try:
        fps = float(rate) if rate else None
    except (TypeError, ZeroDivisionError):
        return None
    return fps if fps and math.isfinite(fps) and 0 < fps < 1000 else None


def _planes(frame: Any) -> Any:
    """The frame's planes as decoded, when its format is planar YUV the encoders take."""
    try:
        pixel_format(frame.format.name)
    except InputError:  # any other format (RGB, NV12 ...): no planar copy, the RGB path
        return None
    return yuv_frame_from_av(frame)


class PyAVSource(Source):
    """Anything FFmpeg demuxes (files, URLs, devices), decoded with PyAV as a generator."""

    def __init__(
        self,
        target: str | BinaryIO,
        *,
        name: str,
        live: bool = False,
        input_format: str | None = None,
        options: dict[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        pace: bool = False,
    ) -> None:
        super().__init__(pace=pace)
        self._target = target
        self._format = input_format
        self._options = dict(options or {})
        self._timeout = timeout
        self._name = name
        self._container: Any = None
        self._container = self._open()
        stream = self._container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            self.close()
            raise InputError(f"{name}: video stream has no frame size")
        frames = stream.frames or None
        tb = stream.time_base
        self.info = StreamInfo(ctx.width, ctx.height, _stream_fps(stream), live, name, frames,
                               Fraction(tb.numerator, tb.denominator) if tb else None)

    def _open(self) -> Any:
        """Open the container and check it has a video stream (errors name the input)."""
        av = _import_av()
        started = time.monotonic()
        try:
            container = av.open(
                self._target,
                format=self._format,
                options=self._options,
                timeout=self._timeout,
            )
        except av.error.FFmpegError as exc:
            if self._timed_out(exc, time.monotonic() - started):
                raise SourceError(
                    f"{self._name}: timed out: no answer within --open-timeout "
                    f"{self._timeout[0]:g} s (gave up after {time.monotonic() - started:.1f} s)"
                ) from exc
            raise self._classify_open_error(av, exc) from exc
        except OSError as exc:
            raise self._open_error(exc) from exc
        # PyAV asks the demuxer to invent missing packet pts (GENPTS), ffmpeg does not; the
        # invented ones do not follow packed B-frames (DivX AVI), so leave them missing and
        # let BestEffortPts take the dts, as ffmpeg -i does
        container.flags = container.flags & ~av.container.Flags.gen_pts.value
        if not container.streams.video:
            container.close()
            raise InputError(f"{self._name}: no video stream")
        stream = container.streams.video[0]
        if not self.info_live_hint:
            stream.thread_type = "AUTO"
        return container

    def _timed_out(self, exc: BaseException, elapsed: float) -> bool:
        """Was this failure PyAV's timeout (its interrupt callback, or the time it took)?"""
        if self._timeout is None:
            return False
        av = _import_av()
        return (isinstance(exc, (av.error.ExitError, av.error.TimeoutError))
                or elapsed >= 0.9 * self._timeout[0])

    def _classify_open_error(self, av: Any, exc: BaseException) -> Exception:
        """The error for a failed open that is not a timeout."""
        if isinstance(exc, av.error.FileNotFoundError):
            return InputNotFoundError(f"{self._name}: no such file or device")
        if isinstance(exc, av.error.EOFError):
            return InputError(f"{self._name}: no video frames (ends before the first one)")
        if isinstance(exc, av.error.InvalidDataError):
            return InputError(f"{self._name}: not a video FFmpeg can read ({exc.strerror})")
        return self._open_error(exc)

    #: frame threading adds frames of delay: only for sources that are not live
    info_live_hint = False

    def _open_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        return InputError(f"{self._name}: cannot open ({text})")

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            finally:
                self._container = None

    #: consecutive corrupt packets after which the input is given up as undecodable
    MAX_CONSECUTIVE_DECODE_ERRORS = 25

    def _decode(self, container: Any) -> Iterator[Decoded]:
        """Decode the first video stream; a corrupt packet is skipped (and counted in
        :attr:`decode_errors`) as FFmpeg itself does, unless too many fail in a row."""
        av = _import_av()
        stream = container.streams.video[0]
        stamps = BestEffortPts()
        consecutive = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = stream.codec_context.decode(packet)
                except av.error.InvalidDataError as exc:
                    self.decode_errors += 1
                    consecutive += 1
                    if consecutive >= self.MAX_CONSECUTIVE_DECODE_ERRORS:
                        raise self._decode_error(exc) from exc
                    if self.decode_errors == 1:
                        log.warning("%s: skipping corrupt data after %d frames (%s)", self._name,
                                    self.frames_read, exc.strerror)
                    continue
                consecutive = 0 if frames else consecutive
                for frame in frames:
                    yield frame.to_ndarray(format="rgb24"), stamps(frame), _planes(frame)
                    if self._stop.is_set():
                        return
        except av.error.FFmpegError as exc:
            raise self._decode_error(exc) from exc

    def _decode_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        if self._timeout is not None and isinstance(exc, (_import_av().error.ExitError,
                                                          _import_av().error.TimeoutError)):
            return SourceError(f"{self._name}: timed out: no data within --read-timeout "
                               f"{self._timeout[1]:g} s after {self.frames_read} frames")
        return InputError(f"{self._name}: decode error after {self.frames_read} frames ({text})")

    def _generate(self) -> Iterator[Decoded]:
        if self._container is None:
            raise SourceError(f"{self._name}: source is closed")
        yield from self._decode(self._container)


class UrlSource(PyAVSource):
    """A network URL FFmpeg opens itself (``http://``, ``tcp://``, ``srt://`` ...): a failure to
    connect is the network's, not the caller's (:class:`SourceError`, exit 1)."""

    def _open_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        return SourceError(f"{self._name}: cannot open ({text})")


class V4L2Source(PyAVSource):
    """A V4L2 camera (``/dev/videoN``) through PyAV's ``v4l2`` demuxer."""

    info_live_hint = True

    def __init__(
        self, device: str, *, size: tuple[int, int] | None = None, fps: float | None = None,
        live: bool = True,
    ) -> None:
        if not Path(device).exists():
            raise InputNotFoundError(f"{device}: no such camera device")
        options: dict[str, str] = {}
        if size is not None:
            options["video_size"] = f"{size[0]}x{size[1]}"
        if fps is not None:
            options["framerate"] = f"{fps:g}"
        super().__init__(device, name=device, live=live, input_format="v4l2", options=options)


class _Replay(io.RawIOBase):
    """A pipe whose first bytes were already read (to probe it), handed out again first."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        # read1: what the pipe has now (one raw read), not a full buffer -- a plain read would
        # wait for 8 KiB that a slow writer may never send, blocking a header's readline
        read1 = getattr(self._rest, "read1", None)
        data = read1(len(buffer)) if read1 is not None else self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def probe_stdin(pipe: BinaryIO, *, live: bool = False) -> Source:
    """Y4M by its signature, anything else (MPEG-TS, MKV, faststart MP4 ...) by FFmpeg's probe."""
    head = _read_exact(pipe, len(b"YUV4MPEG2"))
    if not head:
        raise InputError("stdin: no data (empty input)")
    replay = io.BufferedReader(_Replay(head, pipe))
    if head.startswith(b"YUV4MPEG2"):
        return Y4mSource(replay, live=live)
    mp4 = head[4:8] == b"ftyp"
    try:
        return _PipeSource(replay, mp4=mp4, live=live)
    except InputError as exc:
        if mp4:
            raise InputError(_MP4_ON_A_PIPE) from exc
        raise InputError(
            f"{exc} (for raw frames pass --input-format rawvideo --size WxH --pix-fmt "
            "rgb24|yuv420p)") from exc


_MP4_ON_A_PIPE = ("stdin: an MP4 whose index (moov) is at its end cannot be read from a pipe; "
                  "remux it with ffmpeg -movflags +faststart, or send MPEG-TS/Matroska")


class _PipeSource(PyAVSource):
    """A container on stdin found by FFmpeg's probe; says why an MP4 fails on a pipe."""

    def __init__(self, pipe: BinaryIO, *, mp4: bool, live: bool = False) -> None:
        self._mp4 = mp4
        super().__init__(pipe, name="stdin", live=live, pace=live)

    def _decode_error(self, exc: BaseException) -> Exception:
        if self._mp4 and self.frames_read == 0:
            return InputError(_MP4_ON_A_PIPE)
        return super()._decode_error(exc)
