"""Raw frames from a pipe: packed/planar frames of a given size, and YUV4MPEG2 (``.y4m``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.stream.frames import StreamInfo
from rt_saliency.stream.sources.base import Decoded, Source, check_frame_size
from rt_saliency.stream.sources.convert import RAW_PIX_FMTS, _frame_bytes, _raw_to_rgb, _read_exact


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
        live: bool = False,
    ) -> None:
        super().__init__(pace=live)
        if pix_fmt not in RAW_PIX_FMTS:
            raise ConfigError(f"--pix-fmt must be one of {', '.join(RAW_PIX_FMTS)}, not {pix_fmt!r}")
        width, height = size
        check_frame_size(width, height, f"{name} (--size {width}x{height})")
        self._stream = stream
        self._pix_fmt = pix_fmt
        self._frame_bytes = _frame_bytes(width, height, pix_fmt)
        self.info = StreamInfo(width, height, fps, live, name, None)

    def _generate(self) -> Iterator[Decoded]:
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
            yield _raw_to_rgb(data, w, h, self._pix_fmt), None, None


class Y4mSource(Source):
    """YUV4MPEG2 (``.y4m``) frames from a pipe: 4:2:0 (any chroma siting), 4:4:4 or mono."""

    _CHROMA = {"420": "yuv420p", "420jpeg": "yuv420p", "420paldv": "yuv420p",
               "420mpeg2": "yuv420p", "444": "yuv444p", "mono": "gray"}

    def __init__(self, stream: BinaryIO, *, name: str = "stdin", live: bool = False) -> None:
        super().__init__(pace=live)
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
        self.info = StreamInfo(width, height, fps, live, name, None)

    def _generate(self) -> Iterator[Decoded]:
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
            yield _raw_to_rgb(data, w, h, self._pix_fmt), None, None
