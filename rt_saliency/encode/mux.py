"""Muxing x264's Annex-B access units: MP4 / MKV / MPEG-TS with PyAV, or raw Annex-B H.264.

PyAV 18's ``add_mux_stream("h264", ...)`` takes pre-encoded packets and builds the MP4 ``avcC``
from the in-band SPS/PPS of the first packet (the encoder keeps headers in-band for this);
``add_stream`` would open PyAV's own encoder instead.  Targets are paths or binary file objects
(``sys.stdout.buffer`` for ``-o -``), so ``rt-saliency run -i cam -o - | ffmpeg -i - ...`` works
with MPEG-TS or raw H.264.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from rt_saliency.encode.base import Packet
from rt_saliency.errors import ConfigError, EncoderError, InputError

#: container format by file extension; "h264" means raw Annex-B (no container)
FORMATS_BY_EXTENSION: dict[str, str] = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".ts": "mpegts",
    ".m2ts": "mpegts", ".h264": "h264", ".264": "h264",
}
FORMATS: tuple[str, ...] = ("mp4", "mov", "matroska", "mpegts", "h264")


def guess_format(target: str | Path | IO) -> str:
    """Container for a target: by extension; ``-`` and file objects get MPEG-TS."""
    if not isinstance(target, (str, Path)) or str(target) == "-":
        return "mpegts"
    fmt = FORMATS_BY_EXTENSION.get(Path(target).suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the container of {target!s} from its extension; use "
                          f"one of {', '.join(sorted(FORMATS_BY_EXTENSION))} or give format=")
    return fmt


class Muxer:
    """Write encoder :class:`Packet` objects to a file or a binary stream; a context manager.

    ``time_base`` is the encoder's (``X264Encoder.time_base``, 1/fps by default).  Seekable
    targets are not needed for MPEG-TS, Matroska or raw H.264; MP4 needs a real file.
    """

    def __init__(self, target: str | Path | IO, width: int, height: int,
                 fps: Fraction | float, time_base: Fraction | None = None,
                 format: str | None = None) -> None:
        self.format = format or guess_format(target)
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.time_base = time_base or Fraction(self.fps.denominator, self.fps.numerator)
        self.packets = 0
        self.bytes = 0
        self._owned: IO | None = None
        self._container: Any = None
        self._fh: IO | None = None
        if isinstance(target, (str, Path)) and str(target) == "-":
            target = sys.stdout.buffer
        if isinstance(target, (str, Path)):
            path = Path(target)
            if not path.parent.is_dir():
                raise InputError(f"output folder {path.parent} does not exist")
        if self.format == "h264":
            if isinstance(target, (str, Path)):
                self._owned = self._fh = open(target, "wb")
            else:
                self._fh = target
            return
        if self.format == "mp4" and not isinstance(target, (str, Path)):
            raise ConfigError("MP4 needs a seekable file; write MPEG-TS or h264 to a stream")
        import av

        try:
            self._container = av.open(target if isinstance(target, (str, Path)) else target,
                                      mode="w", format=self.format)
            self._stream = self._container.add_mux_stream(
                "h264", rate=self.fps, width=int(width), height=int(height))
            self._stream.time_base = self.time_base
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise EncoderError(f"cannot open {self.format} muxer on {target!s}: {exc}") from exc

    def mux(self, packets: Packet | Iterable[Packet]) -> None:
        """Write one packet or several, in decode order (as the encoder returns them)."""
        if isinstance(packets, Packet):
            packets = (packets,)
        for packet in packets:
            self.packets += 1
            self.bytes += len(packet.data)
            if self._fh is not None:
                self._fh.write(packet.data)
                continue
            import av

            pkt = av.Packet(packet.data)
            pkt.pts, pkt.dts = packet.pts, packet.dts
            pkt.time_base = self.time_base
            pkt.is_keyframe = packet.keyframe
            pkt.stream = self._stream
            try:
                self._container.mux(pkt)
            except av.FFmpegError as exc:
                raise EncoderError(f"muxing packet {self.packets} failed: {exc}") from exc

    def close(self) -> None:
        """Finish the container (trailer/index) and close files this muxer opened."""
        if self._container is not None:
            container, self._container = self._container, None
            try:
                container.close()
            except Exception as exc:  # noqa: BLE001 - PyAV raises various types at close
                raise EncoderError(f"finishing the {self.format} file failed: {exc}") from exc
        if self._fh is not None:
            self._fh.flush()
            if self._owned is not None:
                self._owned.close()
            self._fh = None

    def __enter__(self) -> "Muxer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
