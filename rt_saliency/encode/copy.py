"""The input's audio and subtitle streams, copied into a saliency-guided encode unchanged.

The encode keeps every video frame's pts in the source's time base, so the source's other
streams, demuxed again from the same file and written with their own time stamps, stay in sync.
:class:`StreamCopier` reads them lazily, just ahead of the video (memory stays bounded
whatever the input's length), and ends them with the video (a ``--max-frames`` run cuts the
audio where the video ends).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from rt_saliency.errors import InputError
from rt_saliency.optional import import_optional

log = logging.getLogger(__name__)

#: stream types carried over, and the containers that take each of them
COPIED_TYPES = ("audio", "subtitle")
SUBTITLE_FORMATS = frozenset({"matroska"})


class StreamCopier:
    """Audio (and, into Matroska, subtitle) streams of ``path``; a context manager.

    ``streams`` go to :class:`~rt_saliency.encode.Muxer` as ``copy_streams``; then
    :meth:`packets_until` hands out their packets in file order up to a time (seconds) and
    :meth:`packets_until` with the video's end time the rest.
    """

    def __init__(self, path: str | Path, output_format: str) -> None:
        av = import_optional("av")
        try:
            self._container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"cannot reopen {path} to copy its audio: {exc}") from exc
        self.streams: list[Any] = []
        for stream in self._container.streams:
            if stream.type == "audio" or (stream.type == "subtitle"
                                          and output_format in SUBTITLE_FORMATS):
                self.streams.append(stream)
            elif stream.type == "subtitle":
                log.info("subtitle stream %d not copied: %s holds no %s subtitles (use .mkv)",
                         stream.index, output_format, stream.codec_context.name)
        self._packets: Iterator[Any] | None = (
            self._container.demux(*self.streams) if self.streams else None)
        self._held: Any = None
        self.copied = 0

    @staticmethod
    def _time(packet: Any) -> float | None:
        ts = packet.dts if packet.dts is not None else packet.pts
        return None if ts is None else float(ts * Fraction(packet.time_base))

    def packets_until(self, seconds: float) -> Iterator[Any]:
        """The copied streams' packets with a time stamp up to ``seconds``, in file order."""
        while self._packets is not None:
            packet = self._held if self._held is not None else next(self._packets, None)
            self._held = None
            if packet is None:
                self._packets = None
                return
            t = self._time(packet)
            if t is None:
                continue  # a demuxer's flush packet
            if t > seconds:
                self._held = packet
                return
            self.copied += 1
            yield packet

    def close(self) -> None:
        self._packets = self._held = None
        self._container.close()

    def __enter__(self) -> StreamCopier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
