"""Sinks: where the pipeline's records go, in frame order, from the sink thread."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm import tqdm

from rt_saliency.encode import EncoderConfig, Muxer, PlanarEncoder, guess_format, open_encoder
from rt_saliency.encode.copy import StreamCopier
from rt_saliency.errors import ConfigError, InputError
from rt_saliency.preview import PreviewWriter, render_preview
from rt_saliency.qp import KvazaarRoiWriter, NdjsonWriter, NpyWriter, SvtAv1RoiWriter, grid_shape
from rt_saliency.stream.pipeline import MapRecord


class NdjsonSink:
    """``--qp-out PATH|-``: one JSON line per frame (rt_saliency.qp's NDJSON record format).

    ``{"frame": i, "pts": t, "block": 16, "cols": c, "rows": r, "qp": [[...]]}`` or
    ``{"frame": i, "dropped": true}``; the grid is ceil(H/16) x ceil(W/16) of the source frame.
    """

    def __init__(self, target: str | Path | IO, block: int = 16, flush_each: bool = True) -> None:
        self._writer = NdjsonWriter(target, block=block, flush_each=flush_each)

    def write_map(self, record: MapRecord) -> None:
        assert record.offsets is not None
        self._writer.write(record.index, record.offsets, pts=record.pts)

    def write_dropped(self, index: int) -> None:
        self._writer.write_dropped(index)

    def close(self, ok: bool = True) -> None:
        self._writer.close(ok)

    def __enter__(self) -> NdjsonSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)


class ProgressSink:
    """A progress bar on stderr (tqdm) for a run whose frame count is known: one tick a frame,
    mapped or dropped, in frame order."""

    def __init__(self, total: int, desc: str = "frames") -> None:
        self._bar = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, leave=True)

    def write_map(self, record: MapRecord) -> None:
        self._bar.update(1)

    def write_dropped(self, index: int) -> None:
        self._bar.update(1)

    def close(self, ok: bool = True) -> None:
        self._bar.close()

    def __enter__(self) -> ProgressSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)


class CollectSink:
    """Keeps every record in memory (tests, small programmatic runs); bounded by ``limit``."""

    def __init__(self, limit: int = 100_000, keep_maps: bool = True) -> None:
        self.records: list[MapRecord | int] = []
        self.limit = limit
        self.keep_maps = keep_maps

    def write_map(self, record: MapRecord) -> None:
        if len(self.records) < self.limit:
            if not self.keep_maps:  # offsets only: 200 kB less per frame
                record = MapRecord(record.index, record.pts, record.size, None, record.offsets)
            self.records.append(record)

    def write_dropped(self, index: int) -> None:
        if len(self.records) < self.limit:
            self.records.append(index)

    def close(self) -> None:
        pass


class EncoderSink:
    """``-o OUT``: encodes every kept frame with its own QP offsets (libx264 or libx265) and
    muxes it.

    Frames with decoded planes (:attr:`MapRecord.yuv`) are encoded as they are: their pixel
    format and bit depth, range, matrix, primaries and transfer go to the codec unchanged, so a
    flat map equals plain ``ffmpeg -c:v libx264``.  Other inputs (RGB, synthetic) go through the
    RGB -> I420 conversion.  Each frame keeps its time stamp in the source's ``time_base``
    (VFR and the start offset kept); dropped frames are not encoded.  The encoder opens on the
    first frame (its format is known then); the muxer opens at once, so a bad path fails first.
    The sink sees frame t when map t is ready, so frames arrive in map order.

    ``copy_from``: the input file, whose audio (and, into Matroska, subtitle) streams are copied
    into the output unchanged, interleaved with the video by time and cut where it ends.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float,
                 config: EncoderConfig | None = None, *, codec: str = "h264",
                 time_base: Fraction | None = None, copy_from: str | Path | None = None,
                 format: str | None = None) -> None:
        self._codec, self._config = codec, config
        self._size, self._fps = (int(width), int(height)), fps
        rate = Fraction(fps).limit_denominator(1001)
        self.time_base = Fraction(time_base) if time_base else Fraction(rate.denominator,
                                                                       rate.numerator)
        self._enc: PlanarEncoder | None = None
        container = format or guess_format(str(path))
        self._copier = StreamCopier(copy_from, container) if copy_from else None
        try:
            self._mux = Muxer(str(path), width, height, fps, time_base=self.time_base,
                              format=container, codec=codec,
                              copy_streams=self._copier.streams if self._copier else ())
        except BaseException:
            if self._copier is not None:
                self._copier.close()
            raise
        self._end = 0.0  # where the video written so far ends, in seconds
        self._closed = False

    def _copy_until(self, seconds: float) -> None:
        if self._copier is not None:
            for packet in self._copier.packets_until(seconds):
                self._mux.mux_copy(packet)

    def _encoder(self, record: MapRecord) -> PlanarEncoder:
        if self._enc is None:
            planes: dict[str, Any] = {}
            if record.yuv is not None:
                planes = {"pixel_format": record.yuv.format, "color": record.yuv.color}
            self._enc = open_encoder(self._codec, *self._size, self._fps, self._config,
                                     time_base=self.time_base, **planes)
        return self._enc

    def write_map(self, record: MapRecord) -> None:
        enc = self._encoder(record)
        pts = round(record.pts / self.time_base)
        if record.yuv is not None:
            if record.yuv.format.name != enc.pixel_format:
                raise InputError(f"frame {record.index} is {record.yuv.format.name}, the stream "
                                 f"started as {enc.pixel_format}: one encode holds one format")
            packets = enc.encode(record.yuv, record.offsets, pts=pts)
        else:
            assert record.rgb is not None, "EncoderSink needs Pipeline(keep_rgb=True)"
            packets = enc.encode(record.rgb, record.offsets, pts=pts, pixel_format="rgb")
        self._mux.mux(packets)
        self._end = record.pts + 1.0 / self._fps
        self._copy_until(record.pts)

    def write_dropped(self, index: int) -> None:
        """Nothing to encode: the frame was never processed."""

    def close(self, ok: bool = True) -> None:
        """Flush the encoder and finish the file (``ok``); after a failure only release it."""
        if self._closed:
            return
        self._closed = True
        try:
            if ok and self._enc is not None:
                self._mux.mux(self._enc.flush())
                self._copy_until(self._end - 1e-6)
        except BaseException:
            self._mux.close(ok=False)
            raise
        else:
            self._mux.close(ok=ok)
        finally:
            if self._enc is not None:
                self._enc.close()
            if self._copier is not None:
                self._copier.close()

    def __enter__(self) -> EncoderSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)


class PreviewSink:
    """``--preview FILE``: a side-by-side video, frame | saliency overlay | QP heatmap.

    Dropped frames are skipped (they have no map); the preview keeps the source frame rate.
    """

    def __init__(self, path: str | Path, fps: float, qp_range: float = 8.0) -> None:
        self._writer = PreviewWriter(path, fps=fps)
        self._qp_range = qp_range

    def write_map(self, record: MapRecord) -> None:
        assert record.rgb is not None, "PreviewSink needs Pipeline(keep_rgb=True)"
        self._writer.write(render_preview(record.rgb, record.saliency, record.offsets,
                                          qp_range=self._qp_range))

    def write_dropped(self, index: int) -> None:
        """Nothing to show: the frame was never processed."""

    def close(self, ok: bool = True) -> None:
        self._writer.close(ok)

    def __enter__(self) -> PreviewSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)


#: ``--qp-format`` choices besides NDJSON, and what ``--qp-out`` names for each
MAP_FILE_FORMATS: dict[str, str] = {
    "npy": "a folder: frame_000000.npy, ... (float32 grids)",
    "kvazaar": "a Kvazaar --roi binary file (.bin)",
    "svtav1": "a SVT-AV1 --roi-map-file text file",
}


class MapFileSink:
    """``--qp-out PATH --qp-format npy|kvazaar|svtav1``: map files other encoders read.

    A dropped frame gets no ``.npy`` file; in the Kvazaar and SVT-AV1 files it gets an all-zero
    (neutral) map, so the n-th map still belongs to the n-th frame of the source.
    """

    def __init__(self, fmt: str, target: str | Path, frame_size: tuple[int, int],
                 block: int = 16) -> None:
        self._zeros = np.zeros(grid_shape(frame_size, block), dtype=np.float32)
        self.format = fmt
        if fmt == "npy":
            self._writer: Any = NpyWriter(target)
        elif fmt == "kvazaar":
            self._writer = KvazaarRoiWriter(target)
        elif fmt == "svtav1":
            self._writer = SvtAv1RoiWriter(target, frame_size)
        else:
            raise ConfigError(f"unknown map format {fmt!r}; choose ndjson or one of "
                              f"{', '.join(MAP_FILE_FORMATS)}")

    def write_map(self, record: MapRecord) -> None:
        assert record.offsets is not None
        self._writer.write(record.index, record.offsets, pts=record.pts)

    def write_dropped(self, index: int) -> None:
        if self.format != "npy":
            self._writer.write(index, self._zeros)

    def close(self, ok: bool = True) -> None:
        self._writer.close(ok)

    def __enter__(self) -> MapFileSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)
