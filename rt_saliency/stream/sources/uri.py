"""Which source an input spec names: :func:`open_source` (paths, URLs, devices, stdin, synth)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import BinaryIO

from rt_saliency.errors import ConfigError, InputError, InputNotFoundError
from rt_saliency.redact import redact_url, register_url
from rt_saliency.stream.sources.base import Source, check_frame_size
from rt_saliency.stream.sources.pyav import PyAVSource, UrlSource, V4L2Source, probe_stdin
from rt_saliency.stream.sources.raw import RawSource, Y4mSource
from rt_saliency.stream.sources.rtsp import RtspSource
from rt_saliency.stream.sources.synth import SynthSource


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
    realtime: bool = False,
) -> Source:
    """Open ``spec`` as a source: a path, ``rtsp://...``, ``/dev/videoN``, ``-`` or ``synth://``.

    ``live`` overrides the default policy (RTSP/V4L2/paced synth are live, files and pipes not);
    it decides whether overload drops frames, and a file or pipe forced live is read at its own
    frame rate (like ``ffmpeg -re``), so it behaves like a camera.  ``realtime`` paces a file or
    pipe the same way but keeps its lossless policy (nothing dropped): a recorded input timed as
    a live one would be.  Raises :class:`InputNotFoundError`,
    :class:`InputError`, :class:`ConfigError` (the caller's mistakes) or :class:`SourceError`.
    """
    if not spec:
        raise ConfigError("no input given")
    register_url(spec)  # its secrets are masked in every later log line and error
    # a recorded input forced live is played at its own pace, like a camera
    recorded_live = bool(live)
    paced = recorded_live or realtime
    if spec == "-":
        pipe = stdin if stdin is not None else sys.stdin.buffer
        if input_format == "rawvideo":
            if size is None:
                raise ConfigError("raw frames on stdin need --size WxH (and --pix-fmt)")
            return RawSource(pipe, size=size, pix_fmt=pix_fmt or "rgb24", fps=fps,
                             live=recorded_live)
        if input_format in ("y4m", "yuv4mpegpipe"):
            return Y4mSource(pipe, live=recorded_live)
        if input_format is None:
            return probe_stdin(pipe, live=recorded_live)
        return PyAVSource(pipe, name="stdin", input_format=input_format, live=recorded_live,
                          pace=paced)
    if spec.startswith("synth://"):
        return SynthSource(spec, live=live)
    camera_live = True if live is None else live
    if spec.startswith(("rtsp://", "rtsps://")):
        return RtspSource(spec, open_timeout=open_timeout, read_timeout=read_timeout,
                          reconnect_timeout=reconnect_timeout, live=camera_live)
    if spec.startswith("/dev/video"):
        return V4L2Source(spec, size=size, fps=fps, live=camera_live)
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", spec):
        return UrlSource(spec, name=redact_url(spec), live=camera_live, input_format=input_format,
                         timeout=(open_timeout, read_timeout))
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
    return PyAVSource(str(path), name=spec, input_format=input_format, options=options,
                      live=recorded_live, pace=paced)
