"""Muxing the encoders' Annex-B access units (H.264 or HEVC) with the source's other streams.

PyAV 18's ``add_mux_stream(codec, ...)`` takes pre-encoded packets and builds the MP4
``avcC``/``hvcC`` from the in-band parameter sets of the first packet (the encoders keep headers
in-band for this); ``add_stream_from_template`` copies an input's audio or subtitle stream, whose
demuxed packets go in unchanged (:meth:`Muxer.mux_copy`; no re-encoding, timestamps kept).

Targets are paths, ``-`` (stdout), binary file objects or URLs (``udp://``, ``tcp://``,
``srt://``, ``rtmp://`` ...; a URL needs an explicit ``format``: ``mpegts``, or ``flv`` for
RTMP).  A file is written beside its name and moved into place when :meth:`Muxer.close`
succeeds, so a failed run never destroys an earlier output (:meth:`Muxer.abort` drops it).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from rt_saliency.atomic import output_error
from rt_saliency.encode.base import Packet
from rt_saliency.errors import ConfigError, EncoderError, InputError
from rt_saliency.optional import import_optional

#: container format by file extension; "h264"/"hevc" mean raw Annex-B (no container)
FORMATS_BY_EXTENSION: dict[str, str] = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".ts": "mpegts",
    ".m2ts": "mpegts", ".flv": "flv", ".h264": "h264", ".264": "h264", ".hevc": "hevc",
    ".h265": "hevc", ".265": "hevc",
}
FORMATS: tuple[str, ...] = ("mp4", "mov", "matroska", "mpegts", "flv", "h264", "hevc")
#: raw Annex-B formats: the codec's own elementary stream, nothing else in it
RAW_FORMATS: dict[str, str] = {"h264": "h264", "hevc": "hevc"}
CODECS: tuple[str, ...] = ("h264", "hevc")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: the process's umask, read once at import (before any thread could create a file)
_UMASK = _umask()


def is_url(target: object) -> bool:
    """Whether ``target`` names a network or protocol URL (``scheme://...``) rather than a file."""
    if not isinstance(target, str) or "://" not in target:
        return False
    scheme = target.split("://", 1)[0]
    return scheme.isascii() and scheme.replace("+", "").replace("-", "").isalnum() and \
        scheme.lower() != "file"


def guess_format(target: str | Path | IO) -> str:
    """Container for a target: by extension; ``-`` and file objects get MPEG-TS; a URL must
    name its format."""
    if is_url(target):
        raise ConfigError(f"cannot tell the container of a URL ({str(target).split('://')[0]}"
                          "://...); give the format (--format mpegts, or flv for rtmp://)")
    if not isinstance(target, (str, Path)) or str(target) == "-":
        return "mpegts"
    fmt = FORMATS_BY_EXTENSION.get(Path(target).suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the container of {target!s} from its extension; use "
                          f"one of {', '.join(sorted(FORMATS_BY_EXTENSION))} or give format=")
    return fmt


class Muxer:
    """Write encoder :class:`Packet` objects (and copied streams) to a target; a context manager.

    ``time_base`` is the encoder's (``enc.time_base``; the source's keeps VFR timing and the
    start offset).  ``codec`` is ``h264`` or ``hevc``.  ``copy_streams``: input PyAV streams
    (audio, subtitles) to carry over; feed their demuxed packets to :meth:`mux_copy`.  MP4 needs
    a real file; raw ``h264``/``hevc`` hold the video only.
    """

    def __init__(self, target: str | Path | IO, width: int, height: int,
                 fps: Fraction | float, time_base: Fraction | None = None,
                 format: str | None = None, codec: str = "h264",
                 copy_streams: Iterable[Any] = ()) -> None:
        if codec not in CODECS:
            raise ConfigError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
        self.format = format or guess_format(target)
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.format in RAW_FORMATS and RAW_FORMATS[self.format] != codec:
            raise ConfigError(f"a raw {self.format} stream cannot hold {codec} video")
        if self.format == "flv" and codec != "h264":
            raise ConfigError("FLV carries H.264 here; use mpegts or matroska for HEVC")
        copy_streams = list(copy_streams)
        if copy_streams and self.format in RAW_FORMATS:
            raise ConfigError(f"a raw {self.format} stream cannot carry audio or subtitles; "
                              "use a container (mkv, mp4, ts)")
        self.codec = codec
        self.fps = Fraction(fps).limit_denominator(1001)
        self.time_base = Fraction(time_base) if time_base is not None else \
            Fraction(self.fps.denominator, self.fps.numerator)
        self.packets = 0
        self.bytes = 0
        self._owned: IO | None = None
        self._container: Any = None
        self._fh: IO | None = None
        self._final: Path | None = None
        self._partial: Path | None = None
        self._copies: dict[int, Any] = {}
        if isinstance(target, (str, Path)) and str(target) == "-":
            target = sys.stdout.buffer
        url = is_url(target)
        self._url = str(target) if url else None
        self._write_failed = False
        if isinstance(target, (str, Path)) and not url:
            path = Path(target)
            if not path.parent.is_dir():
                raise InputError(f"output folder {path.parent} does not exist")
            if path.is_dir():
                raise InputError(f"output {path} is a folder")
            self._final = path
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                        dir=path.parent)
            os.close(fd)
            os.chmod(name, 0o666 & ~_UMASK)  # mkstemp makes it private; a finished file is not
            self._partial = Path(name)
            target = str(self._partial)
        if self.format in RAW_FORMATS:
            if isinstance(target, str) and not url:
                self._owned = self._fh = open(target, "wb")
                return
            if not url:
                self._fh = target  # type: ignore[assignment]
                return
        if self.format == "mp4" and not isinstance(target, str):
            raise ConfigError("MP4 needs a seekable file; write MPEG-TS or raw video to a stream")
        av = import_optional("av")

        try:
            self._container = av.open(target, mode="w", format=self.format)
            self._stream = self._container.add_mux_stream(
                codec, rate=self.fps, width=int(width), height=int(height))
            self._stream.time_base = self.time_base
            for stream in copy_streams:
                self._copies[stream.index] = self._container.add_stream_from_template(stream)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._discard()
            shown = target if not url else str(target).split("?")[0]
            raise EncoderError(f"cannot open {self.format} muxer on {shown}: {exc}") from exc

    def mux(self, packets: Packet | Iterable[Packet]) -> None:
        """Write one encoder packet or several, in decode order (as the encoder returns them)."""
        if isinstance(packets, Packet):
            packets = (packets,)
        for packet in packets:
            self.packets += 1
            self.bytes += len(packet.data)
            if self._fh is not None:
                self._fh.write(packet.data)
                continue
            av = import_optional("av")

            pkt = av.Packet(packet.data)
            pkt.pts, pkt.dts = packet.pts, packet.dts
            pkt.time_base = self.time_base
            pkt.is_keyframe = packet.keyframe
            pkt.stream = self._stream
            self._write(pkt)

    def mux_copy(self, packet: Any) -> None:
        """Write a demuxed packet of one of ``copy_streams`` as it is (its own time base)."""
        out = self._copies.get(packet.stream.index)
        if out is None:
            raise ConfigError(f"stream {packet.stream.index} was not given in copy_streams")
        if packet.dts is None and packet.pts is None:
            return  # the demuxer's flush packet
        packet.stream = out
        self._write(packet)

    def _write(self, pkt: Any) -> None:
        av = import_optional("av")

        try:
            self._container.mux(pkt)
        except av.ProtocolNotFoundError:
            scheme = self._url.split("://", 1)[0] if self._url else "this"
            raise ConfigError(f"the FFmpeg that PyAV links has no {scheme}:// protocol; use udp:// "
                              "or tcp:// (mpegts) or rtmp:// (flv)") from None
        except av.FFmpegError as exc:
            if isinstance(exc, OSError) and exc.errno is not None:  # the disk, not the codec
                self._write_failed = True
                raise output_error(self._target_name, exc) from exc
            raise EncoderError(f"muxing packet {self.packets} failed: {exc}") from exc

    @property
    def _target_name(self) -> str:
        """What an error names: the URL or final file (never a temporary name)."""
        return str(self._url or self._final or "output")

    def close(self, ok: bool = True) -> None:
        """Finish the container (trailer/index), close what this muxer opened, and move a file
        into place.  ``ok=False`` (the run failed) or a failed write (reported once, by
        :meth:`mux`) only cleans up: an earlier file stays where it was."""
        if self._write_failed or not ok:
            self.abort()
            return
        try:
            if self._container is not None:
                container, self._container = self._container, None
                try:
                    container.close()
                except OSError as exc:
                    raise output_error(self._target_name, exc) from exc
                except Exception as exc:  # noqa: BLE001 - PyAV raises various types at close
                    raise EncoderError(f"finishing the {self.format} output failed: {exc}") \
                        from exc
            if self._fh is not None:
                self._fh.flush()
                if self._owned is not None:
                    self._owned.close()
                self._fh = None
        except BaseException:
            self._discard()
            raise
        if self._partial is not None and self._final is not None:
            os.replace(self._partial, self._final)
            self._partial = None

    def abort(self) -> None:
        """Stop without finishing: a file output is dropped and any earlier file kept."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - the output is being thrown away
                pass
        if self._owned is not None:
            self._owned.close()
        self._fh = None
        self._discard()

    def _discard(self) -> None:
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
            self._partial = None

    def __enter__(self) -> "Muxer":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
