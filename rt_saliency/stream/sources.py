"""Video sources behind one interface: files, RTSP, V4L2 cameras, stdin (raw / Y4M), synthetic.

Every source is a context manager with an :attr:`Source.info` (:class:`StreamInfo`) and a
:meth:`Source.frames` generator that yields :class:`Frame` objects numbered 0, 1, 2 ... with
monotonic time stamps.  :func:`open_source` picks the class from the input spec.  Opening checks
the input at once, so a missing file or an unreadable stream is reported before any thread starts.
"""

from __future__ import annotations

import io
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import numpy as np

from rt_saliency.errors import ConfigError, InputError, InputNotFoundError, SourceError
from rt_saliency.redact import redact_url, register_url
from rt_saliency.stream.frames import Frame, StreamInfo

log = logging.getLogger(__name__)

#: pixel formats accepted for raw frames on stdin
RAW_PIX_FMTS: tuple[str, ...] = ("rgb24", "yuv420p")
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
    """Base class: a context manager yielding decoded frames; subclasses fill in ``_generate``."""

    info: StreamInfo
    #: release frames at their time stamps (a file or synth clip played as if it were a camera)
    pace: bool = False

    def __init__(self) -> None:
        self._stop = threading.Event()
        #: successful reconnections (RTSP)
        self.reconnects = 0
        #: reconnection attempts, successful or not (RTSP)
        self.reconnect_attempts = 0
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
        return self._stop.is_set()

    def frames(self) -> Iterator[Frame]:
        """Yield frames in order until the input ends or :meth:`stop` is called."""
        clock = _MonotonicPts(self.info.fps)
        origin: float | None = None
        for rgb, pts in self._generate():
            if self._stop.is_set():
                return
            stamp = clock(pts)
            if self.pace:
                if origin is None:
                    origin = time.monotonic() - stamp
                wait = origin + stamp - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
            frame = Frame(self.frames_read, stamp, rgb, time.monotonic())
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

    def _generate(self) -> Iterator[tuple[np.ndarray, float | None]]:
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


def _import_av() -> Any:
    import av  # heavy: imported when a source is opened

    return av


def _stream_fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    try:
        fps = float(rate) if rate else None
    except (TypeError, ZeroDivisionError):
        return None
    return fps if fps and math.isfinite(fps) and 0 < fps < 1000 else None


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
    ) -> None:
        super().__init__()
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
        self.info = StreamInfo(ctx.width, ctx.height, _stream_fps(stream), live, name, frames)

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

    def _decode(self, container: Any) -> Iterator[tuple[np.ndarray, float | None]]:
        """Decode the first video stream; a corrupt packet is skipped (and counted in
        :attr:`decode_errors`) as FFmpeg itself does, unless too many fail in a row."""
        av = _import_av()
        stream = container.streams.video[0]
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
                    yield frame.to_ndarray(format="rgb24"), frame.time
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

    def _generate(self) -> Iterator[tuple[np.ndarray, float | None]]:
        if self._container is None:
            raise SourceError(f"{self._name}: source is closed")
        yield from self._decode(self._container)


class RtspSource(PyAVSource):
    """An RTSP stream over TCP with open/read timeouts and reconnection with exponential backoff.

    A server that goes away ends PyAV's decode loop like an end of stream (or raises after the
    read timeout when it hangs); either way the source reconnects, doubling the wait from
    ``backoff_initial`` up to ``backoff_max``, and gives up with :class:`SourceError` once it has
    failed to reconnect for ``reconnect_timeout`` seconds (0: never reconnect).
    """

    info_live_hint = True

    def __init__(
        self,
        url: str,
        *,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        reconnect_timeout: float = 30.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 4.0,
    ) -> None:
        self.reconnect_timeout = reconnect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        super().__init__(
            url,
            name=redact_url(url),
            live=True,
            options={"rtsp_transport": "tcp"},
            timeout=(open_timeout, read_timeout),
        )

    def _open_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        return SourceError(f"{self._name}: cannot open RTSP stream ({text})")

    def _decode_error(self, exc: BaseException) -> Exception:
        text = redact_url(getattr(exc, "strerror", None) or str(exc))
        if isinstance(exc, (_import_av().error.ExitError, _import_av().error.TimeoutError)):
            return SourceError(f"{self._name}: stream failed (timed out: no data within "
                               f"--read-timeout {self._timeout[1]:g} s)")  # type: ignore[index]
        return SourceError(f"{self._name}: stream failed ({text})")

    def _generate(self) -> Iterator[tuple[np.ndarray, float | None]]:
        while not self._stop.is_set():
            if self._container is None:
                self._reconnect()
                if self._container is None:
                    return
            try:
                yield from self._decode(self._container)
            except SourceError as exc:
                log.warning("%s; reconnecting", exc)
            self.close()
            if self.reconnect_timeout <= 0:
                return

    def _reconnect(self) -> None:
        """Reopen the stream with exponential backoff; raise SourceError when out of time."""
        delay = self.backoff_initial
        started = time.monotonic()
        while not self._stop.is_set():
            self.reconnect_attempts += 1
            try:
                self._container = self._open()
            except (SourceError, InputError) as exc:
                waited = time.monotonic() - started
                if waited + delay > self.reconnect_timeout:
                    raise SourceError(
                        f"{self._name}: gave up reconnecting after {self.reconnect_attempts} "
                        f"attempts in {waited:.1f} s ({exc})"
                    ) from exc
                log.info("reconnect to %s failed; retrying in %.2f s", self._name, delay)
                self._stop.wait(delay)
                delay = min(delay * 2.0, self.backoff_max)
                continue
            self.reconnects += 1
            log.info("reconnected to %s (reconnect %d)", self._name, self.reconnects)
            return


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
        self, device: str, *, size: tuple[int, int] | None = None, fps: float | None = None
    ) -> None:
        if not Path(device).exists():
            raise InputNotFoundError(f"{device}: no such camera device")
        options: dict[str, str] = {}
        if size is not None:
            options["video_size"] = f"{size[0]}x{size[1]}"
        if fps is not None:
            options["framerate"] = f"{fps:g}"
        super().__init__(device, name=device, live=True, input_format="v4l2", options=options)


class RawSource(Source):
    """Raw frames (``rgb24`` or ``yuv420p``) of a known size read back to back from a pipe."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        size: tuple[int, int],
        pix_fmt: str = "rgb24",
        fps: float | None = None,
        name: str = "stdin",
    ) -> None:
        super().__init__()
        if pix_fmt not in RAW_PIX_FMTS:
            raise ConfigError(f"--pix-fmt must be one of {', '.join(RAW_PIX_FMTS)}, not {pix_fmt!r}")
        width, height = size
        check_frame_size(width, height, f"{name} (--size {width}x{height})")
        self._stream = stream
        self._pix_fmt = pix_fmt
        self._frame_bytes = _frame_bytes(width, height, pix_fmt)
        self.info = StreamInfo(width, height, fps, False, name, None)

    def _generate(self) -> Iterator[tuple[np.ndarray, float | None]]:
        w, h = self.info.width, self.info.height
        while True:
            data = _read_exact(self._stream, self._frame_bytes)
            if not data:
                return
            if len(data) < self._frame_bytes:
                raise InputError(
                    f"{self.info.name}: truncated raw frame {self.frames_read} "
                    f"({len(data)} of {self._frame_bytes} bytes for {w}x{h} {self._pix_fmt})"
                )
            yield _raw_to_rgb(data, w, h, self._pix_fmt), None


class Y4mSource(Source):
    """YUV4MPEG2 (``.y4m``) frames from a pipe: 4:2:0 (any chroma siting), 4:4:4 or mono."""

    _CHROMA = {"420": "yuv420p", "420jpeg": "yuv420p", "420paldv": "yuv420p",
               "420mpeg2": "yuv420p", "444": "yuv444p", "mono": "gray"}

    def __init__(self, stream: BinaryIO, *, name: str = "stdin") -> None:
        super().__init__()
        self._stream = stream
        header = stream.readline(1024)
        if not header.startswith(b"YUV4MPEG2"):
            raise InputError(
                f"{name}: not a Y4M stream (for raw frames pass --input-format rawvideo "
                "--size WxH --pix-fmt rgb24|yuv420p)"
            )
        fields = header.decode("ascii", "replace").split()[1:]
        width = height = 0
        fps: float | None = None
        chroma = "420"
        for item in fields:
            key, value = item[0], item[1:]
            try:
                if key == "W":
                    width = int(value)
                elif key == "H":
                    height = int(value)
                elif key == "F":
                    num, den = value.split(":")
                    fps = int(num) / int(den) if int(den) else None
                elif key == "C":
                    chroma = value
            except ValueError as exc:
                raise InputError(f"{name}: bad Y4M header field {item!r}") from exc
        if width <= 0 or height <= 0:
            raise InputError(f"{name}: Y4M header without a frame size")
        check_frame_size(width, height, f"{name} (Y4M header)")
        if chroma not in self._CHROMA:
            raise InputError(f"{name}: unsupported Y4M colour space C{chroma}")
        self._pix_fmt = self._CHROMA[chroma]
        self._frame_bytes = _frame_bytes(width, height, self._pix_fmt)
        self.info = StreamInfo(width, height, fps, False, name, None)

    def _generate(self) -> Iterator[tuple[np.ndarray, float | None]]:
        w, h = self.info.width, self.info.height
        while True:
            marker = self._stream.readline(1024)
            if not marker:
                return
            if not marker.startswith(b"FRAME"):
                raise InputError(f"{self.info.name}: bad Y4M frame marker at frame {self.frames_read}")
            data = _read_exact(self._stream, self._frame_bytes)
            if len(data) < self._frame_bytes:
                raise InputError(f"{self.info.name}: truncated Y4M frame {self.frames_read}")
            yield _raw_to_rgb(data, w, h, self._pix_fmt), None


class SynthSource(Source):
    """``synth://WxH?frames=N&fps=F&live=1&seed=S``: shapes moving over a panning texture.

    Deterministic for a seed.  ``frames=0`` runs until stopped.  ``live=1`` paces frames at
    ``fps`` in wall-clock time, like a camera (the pipeline then drops frames under overload).
    """

    def __init__(self, spec: str, *, live: bool | None = None) -> None:
        super().__init__()
        parts = urlsplit(spec)
        match = re.fullmatch(r"(\d+)x(\d+)", parts.netloc + parts.path.rstrip("/"))
        if not match:
            raise ConfigError(f"synthetic source must look like synth://640x360?frames=100, not {spec!r}")
        width, height = int(match.group(1)), int(match.group(2))
        if not (1 <= width <= 8192 and 1 <= height <= 8192):
            raise ConfigError(f"synthetic frame size {width}x{height} out of range 1..8192")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            self._count = int(query.get("frames", "100"))
            fps = float(query.get("fps", "30"))
            self._seed = int(query.get("seed", "0"))
            query_live = query.get("live")
        except ValueError as exc:
            raise ConfigError(f"bad synthetic source parameter in {spec!r}: {exc}") from exc
        if self._count < 0 or fps <= 0:
            raise ConfigError(f"synthetic source needs frames >= 0 and fps > 0: {spec!r}")
        if live is None:
            live = query_live not in (None, "0", "false", "no")
        self.info = StreamInfo(width, height, fps, live, spec, self._count or None)
        self.pace = live

    def _generate(self) -> Iterator[tuple[np.ndarray, float | None]]:
        w, h, fps = self.info.width, self.info.height, float(self.info.fps or 30.0)
        rng = np.random.default_rng(self._seed)
        import cv2

        noise = rng.random((max(h // 8, 2), max((w + w // 2) // 8, 2), 3)).astype(np.float32)
        texture = cv2.resize(noise, (w + w // 2, h), interpolation=cv2.INTER_CUBIC)
        texture = np.clip(40 + 100 * texture, 0, 255).astype(np.uint8)
        shapes = [
            (rng.uniform(0, w), rng.uniform(0, h), rng.uniform(-4, 4) * w / 320,
             rng.uniform(-3, 3) * h / 240, max(2, int(rng.uniform(0.04, 0.1) * min(w, h))),
             tuple(int(c) for c in rng.integers(150, 256, 3)))
            for _ in range(3)
        ]
        i = 0
        while self._count == 0 or i < self._count:
            shift = (i * max(1, w // 160)) % (w // 2 + 1)
            img = np.ascontiguousarray(texture[:, shift:shift + w])
            for x0, y0, vx, vy, r, color in shapes:
                x = int(_bounce(x0 + vx * i, w))
                y = int(_bounce(y0 + vy * i, h))
                cv2.circle(img, (x, y), r, color, -1)
            yield img, i / fps
            i += 1


def _bounce(pos: float, size: int) -> float:
    period = 2 * max(size - 1, 1)
    pos = pos % period
    return pos if pos < size else period - pos


def _frame_bytes(width: int, height: int, pix_fmt: str) -> int:
    if pix_fmt == "rgb24":
        return width * height * 3
    if pix_fmt == "yuv420p":
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    if pix_fmt == "yuv444p":
        return width * height * 3
    if pix_fmt == "gray":
        return width * height
    raise ConfigError(f"unsupported pixel format {pix_fmt!r}")


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _raw_to_rgb(data: bytes, width: int, height: int, pix_fmt: str) -> np.ndarray:
    """Planar YUV (BT.601, limited range) or packed RGB bytes -> uint8 (H, W, 3) RGB."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if pix_fmt == "rgb24":
        return buf.reshape(height, width, 3).copy()
    n = width * height
    y = buf[:n].reshape(height, width).astype(np.float32)
    if pix_fmt == "gray":
        u = v = np.full_like(y, 128.0)
    elif pix_fmt == "yuv444p":
        u = buf[n:2 * n].reshape(height, width).astype(np.float32)
        v = buf[2 * n:3 * n].reshape(height, width).astype(np.float32)
    else:
        cw, ch = (width + 1) // 2, (height + 1) // 2
        u = buf[n:n + cw * ch].reshape(ch, cw)
        v = buf[n + cw * ch:n + 2 * cw * ch].reshape(ch, cw)
        u = u.repeat(2, 0).repeat(2, 1)[:height, :width].astype(np.float32)
        v = v.repeat(2, 0).repeat(2, 1)[:height, :width].astype(np.float32)
    yy = 1.164 * (y - 16.0)
    u -= 128.0
    v -= 128.0
    rgb = np.stack([yy + 1.596 * v, yy - 0.392 * u - 0.813 * v, yy + 2.017 * u], axis=-1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


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


def _probe_stdin(pipe: BinaryIO) -> Source:
    """Y4M by its signature, anything else (MPEG-TS, MKV, faststart MP4 ...) by FFmpeg's probe."""
    head = _read_exact(pipe, len(b"YUV4MPEG2"))
    if not head:
        raise InputError("stdin: no data (empty input)")
    replay = io.BufferedReader(_Replay(head, pipe))
    if head.startswith(b"YUV4MPEG2"):
        return Y4mSource(replay)
    mp4 = head[4:8] == b"ftyp"
    try:
        return _PipeSource(replay, mp4=mp4)
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

    def __init__(self, pipe: BinaryIO, *, mp4: bool) -> None:
        self._mp4 = mp4
        super().__init__(pipe, name="stdin")

    def _decode_error(self, exc: BaseException) -> Exception:
        if self._mp4 and self.frames_read == 0:
            return InputError(_MP4_ON_A_PIPE)
        return super()._decode_error(exc)


def parse_size(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)``; ConfigError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ConfigError(f"size must look like WIDTHxHEIGHT (e.g. 640x360), not {text!r}")
    return int(match.group(1)), int(match.group(2))


def open_source(
    spec: str,
    *,
    input_format: str | None = None,
    size: tuple[int, int] | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    live: bool | None = None,
    open_timeout: float = 5.0,
    read_timeout: float = 5.0,
    reconnect_timeout: float = 30.0,
    stdin: BinaryIO | None = None,
) -> Source:
    """Open ``spec`` as a source: a path, ``rtsp://...``, ``/dev/videoN``, ``-`` or ``synth://``.

    ``live`` overrides the default policy (RTSP/V4L2/paced synth are live, files and pipes not);
    it decides whether overload drops frames, and a file or pipe forced live is read at its own
    frame rate (like ``ffmpeg -re``), so it behaves like a camera.  Raises :class:`InputNotFoundError`,
    :class:`InputError`, :class:`ConfigError` (the caller's mistakes) or :class:`SourceError`.
    """
    if not spec:
        raise ConfigError("no input given")
    register_url(spec)  # its secrets are masked in every later log line and error
    source: Source
    if spec == "-":
        pipe = stdin if stdin is not None else sys.stdin.buffer
        if input_format == "rawvideo":
            if size is None:
                raise ConfigError("raw frames on stdin need --size WxH (and --pix-fmt)")
            source = RawSource(pipe, size=size, pix_fmt=pix_fmt or "rgb24", fps=fps)
        elif input_format in ("y4m", "yuv4mpegpipe"):
            source = Y4mSource(pipe)
        elif input_format is None:
            source = _probe_stdin(pipe)
        else:
            source = PyAVSource(pipe, name="stdin", input_format=input_format)
    elif spec.startswith("synth://"):
        source = SynthSource(spec, live=live)
    elif spec.startswith(("rtsp://", "rtsps://")):
        source = RtspSource(
            spec,
            open_timeout=open_timeout,
            read_timeout=read_timeout,
            reconnect_timeout=reconnect_timeout,
        )
    elif spec.startswith("/dev/video"):
        source = V4L2Source(spec, size=size, fps=fps)
    elif re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", spec):
        source = UrlSource(
            spec, name=redact_url(spec), live=True, input_format=input_format,
            timeout=(open_timeout, read_timeout),
        )
    else:
        path = Path(spec)
        if not path.exists():
            raise InputNotFoundError(f"{spec}: no such file")
        if path.is_dir():
            raise InputError(f"{spec}: is a directory, not a video")
        options: dict[str, str] = {}
        if input_format == "rawvideo":
            if size is None:
                raise ConfigError("raw video files need --size WxH (and --pix-fmt)")
            check_frame_size(size[0], size[1], f"{spec} (--size {size[0]}x{size[1]})")
            options = {"video_size": f"{size[0]}x{size[1]}", "pixel_format": pix_fmt or "rgb24"}
            if fps:
                options["framerate"] = f"{fps:g}"
        source = PyAVSource(str(path), name=spec, input_format=input_format, options=options)
    if live is not None and source.info.live != live:
        info = source.info
        source.info = StreamInfo(info.width, info.height, info.fps, live, info.name, info.frame_count)
        # a recorded input treated as live is played at its own pace, like a camera
        source.pace = live and not isinstance(source, (RtspSource, V4L2Source))
    return source
