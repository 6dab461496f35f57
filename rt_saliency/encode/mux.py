"""Muxing x264's Annex-B access units: MP4 / MKV / MPEG-TS with PyAV, or raw Annex-B H.264.

PyAV 18's ``add_mux_stream("h264", ...)`` takes pre-encoded packets and builds the MP4 ``avcC``
from the in-band SPS/PPS of the first packet (the encoder keeps headers in-band for this);
``add_stream`` would open PyAV's own encoder instead.  Targets are paths or binary file objects
(``sys.stdout.buffer`` for ``-o -``), so ``rt-saliency run -i cam -o - | ffmpeg -i - ...`` works
with MPEG-TS or raw H.264.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from rt_saliency.encode.x264 import Packet
from rt_saliency.atomic import AtomicTarget, output_error
from rt_saliency.errors import ConfigError, EncoderError, RtSaliencyError

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


def _broken_pipe(exc: BaseException | None) -> bool:
    """True when ``exc`` is, or was caused by, a closed pipe (PyAV chains the callback's)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


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
        self._atomic: AtomicTarget | None = None
        self._error: RtSaliencyError | None = None
        #: the reader of a pipe went away: later writes raise BrokenPipeError, close is quiet
        self._broken = False
        self._name = str(target)
        if isinstance(target, (str, Path)) and str(target) == "-":
            target = sys.stdout.buffer
            self._name = "stdout"
        if self.format == "mp4" and not isinstance(target, (str, Path)):
            raise ConfigError("MP4 needs a seekable file; write MPEG-TS or h264 to a stream")
        if isinstance(target, (str, Path)):
            # written under a temporary name, renamed into place by a successful close()
            self._atomic = AtomicTarget(target)
            target = self._atomic.path
        if self.format == "h264":
            if isinstance(target, (str, Path)):
                try:
                    self._owned = self._fh = open(target, "wb")
                except OSError as exc:
                    self._abandon()
                    raise output_error(self._name, exc) from exc
            else:
                self._fh = target
            return
        import av

        try:
            self._container = av.open(target if isinstance(target, (str, Path)) else target,
                                      mode="w", format=self.format)
            self._stream = self._container.add_mux_stream(
                "h264", rate=self.fps, width=int(width), height=int(height))
            self._stream.time_base = self.time_base
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._abandon()
            raise EncoderError(f"cannot open {self.format} muxer on {self._name}: {exc}") from exc

    def _failed(self, exc: BaseException, what: str) -> RtSaliencyError:
        """Remember the first failure as one of our errors and return it."""
        if self._error is None:
            if isinstance(exc, OSError) and getattr(exc, "errno", None):
                self._error = output_error(self._name, exc)
            else:
                self._error = EncoderError(f"{what} failed: {exc}")
            self._error.__cause__ = exc
        return self._error

    def mux(self, packets: Packet | Iterable[Packet]) -> None:
        """Write one packet or several, in decode order (as the encoder returns them)."""
        if self._error is not None:
            raise self._error
        if self._broken:
            raise BrokenPipeError(f"{self._name} closed by its reader")
        if isinstance(packets, Packet):
            packets = (packets,)
        for packet in packets:
            self.packets += 1
            self.bytes += len(packet.data)
            if self._fh is not None:
                try:
                    self._fh.write(packet.data)
                except BrokenPipeError:
                    self._broken = True
                    self._abandon()
                    raise
                except OSError as exc:
                    raise self._failed(exc, f"writing packet {self.packets}") from exc
                continue
            import av

            pkt = av.Packet(packet.data)
            pkt.pts, pkt.dts = packet.pts, packet.dts
            pkt.time_base = self.time_base
            pkt.is_keyframe = packet.keyframe
            pkt.stream = self._stream
            try:
                self._container.mux(pkt)
            except (av.FFmpegError, OSError) as exc:
                if _broken_pipe(exc):  # PyAV wraps the write callback's BrokenPipeError
                    self._broken = True
                    self._abandon()
                    raise BrokenPipeError(f"{self._name} closed by its reader") from None
                raise self._failed(exc, f"muxing packet {self.packets}") from exc

    def _abandon(self) -> None:
        """Release files without finishing them (errors here follow an earlier failure)."""
        container, self._container = self._container, None
        fh, self._fh = self._fh, None
        for closer in (getattr(container, "close", None),
                       getattr(self._owned, "close", None)):
            if closer is not None:
                try:
                    closer()
                except Exception:  # noqa: BLE001 - the file has already failed
                    pass
        del fh
        self._owned = None
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            atomic.discard()

    def close(self, ok: bool = True) -> None:
        """Finish the container (trailer/index), close files this muxer opened and rename the
        output into place.  ``ok=False`` (the run failed) or an earlier failure keep an earlier
        file at the target (the new one goes to ``TARGET.partial``).  The first failure is the
        one raised, once."""
        if self._error is not None or self._broken or not ok:
            self._abandon()
            return
        first_here: RtSaliencyError | None = None
        try:
            if self._container is not None:
                container, self._container = self._container, None
                container.close()
            if self._fh is not None:
                fh, self._fh = self._fh, None
                fh.flush()
                if self._owned is not None:
                    owned, self._owned = self._owned, None
                    owned.close()
        except BrokenPipeError:
            self._broken = True
            self._abandon()
            raise
        except Exception as exc:  # noqa: BLE001 - PyAV raises various types at close
            if _broken_pipe(exc) and self._atomic is None:
                self._broken = True
                self._abandon()
                raise BrokenPipeError(f"{self._name} closed by its reader") from None
            first_here = self._failed(exc, f"finishing the {self.format} file")
        if first_here is not None:
            self._abandon()
            raise first_here
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            atomic.commit()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)

    def __enter__(self) -> "Muxer":
        return self


