"""QP-offset map files for other consumers: NDJSON stream, ``.npy`` per frame, Kvazaar ``--roi``
files (text or binary) and SVT-AV1 ``--roi-map-file`` text files (at most 8 levels a frame).

Each writer is a context manager with ``write(frame, offsets, ...)``; each format has a reader
used by the tests (round trips) and by anyone who wants the maps back.  docs/qp.md gives the
encoder command that consumes each file.
"""

from __future__ import annotations

import io
import json
import math
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from rt_saliency.atomic import AtomicTarget, output_error
from rt_saliency.errors import ConfigError, InputError, OutputError
from rt_saliency.qp.mapping import pool_blocks

#: decimals kept in NDJSON (x264 takes fractional offsets; 1/100 QP is far below its rounding)
NDJSON_DECIMALS = 2


def _grid(offsets: np.ndarray) -> np.ndarray:
    grid = np.asarray(offsets, dtype=np.float32)
    if grid.ndim != 2 or grid.size == 0:
        raise InputError(f"offsets must be a 2-D (rows, cols) grid, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise InputError("offsets contain NaN or infinity")
    return grid


class _FileWriter:
    """A sink that is a path, ``-`` (stdout) or an open file object.

    A path is written under a temporary name and renamed over the target by a successful
    :meth:`close` (:class:`~rt_saliency.atomic.AtomicTarget`): a failed run leaves an earlier
    file as it was.  The first write error (``ENOSPC`` ...) is raised as :class:`OutputError`;
    :meth:`close` raises only an error it is the first to meet, so the first one is what the
    caller sees.  A closed pipe stays a ``BrokenPipeError`` (the reader left: not a failure).
    """

    def __init__(self, target: str | Path | IO, binary: bool) -> None:
        self._atomic: AtomicTarget | None = None
        self._error: OutputError | None = None
        self._closed = False
        if isinstance(target, (str, Path)) and str(target) == "-":
            self.name = "stdout"
            self._fh: IO = sys.stdout.buffer if binary else sys.stdout
        elif isinstance(target, (str, Path)):
            self.name = str(target)
            self._atomic = AtomicTarget(target)
            try:
                self._fh = open(self._atomic.path, "wb" if binary else "w",
                                encoding=None if binary else "utf-8")
            except OSError as exc:
                self._atomic.discard()
                raise output_error(target, exc) from exc
        else:
            self.name = str(getattr(target, "name", "stream"))
            self._fh = target

    def _guarded(self, fn: Any, *args: Any) -> Any:
        if self._error is not None:
            raise self._error
        try:
            return fn(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._error = output_error(self.name, exc)
            raise self._error from exc

    def _write(self, data: Any) -> None:
        self._guarded(self._fh.write, data)

    def flush(self) -> None:
        self._guarded(self._fh.flush)

    def close(self, ok: bool = True) -> None:
        """Flush and finish; ``ok=False`` (the run failed) keeps an earlier file at the target
        and what was written as ``TARGET.partial``.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        first_here: OutputError | None = None
        try:
            if self._atomic is not None:
                self._fh.close()
            elif self._error is None:
                self._fh.flush()
        except BrokenPipeError:
            if self._atomic is None and self._error is None:
                raise
        except OSError as exc:
            if self._error is None:
                first_here = self._error = output_error(self.name, exc)
                first_here.__cause__ = exc
        if self._atomic is not None:
            if ok and self._error is None:
                self._atomic.commit()
            else:
                self._atomic.discard()
        if first_here is not None:
            raise first_here

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)


class NdjsonWriter(_FileWriter):
    """One JSON line a frame: the stream's record format (docs/architecture.md).

    ``{"frame": i, "pts": t, "block": 16, "cols": c, "rows": r, "qp": [[...], ...]}`` or
    ``{"frame": i, "dropped": true}``.  Lines are flushed as written so a reader of a pipe sees
    each frame at once.
    """

    def __init__(self, target: str | Path | IO, block: int = 16, flush_each: bool = True) -> None:
        super().__init__(target, binary=False)
        self.block = int(block)
        self.flush_each = flush_each

    def _emit(self, record: dict[str, Any]) -> None:
        self._write(json.dumps(record, separators=(",", ":")) + "\n")
        if self.flush_each:
            self.flush()

    def write(self, frame: int, offsets: np.ndarray, pts: int | float | None = None) -> None:
        grid = _grid(offsets)
        rows, cols = grid.shape
        qp = np.round(grid.astype(np.float64), NDJSON_DECIMALS) + 0.0  # no "-0.0"
        self._emit({"frame": int(frame), "pts": pts, "block": self.block, "cols": cols,
                    "rows": rows, "qp": qp.tolist()})

    def write_dropped(self, frame: int) -> None:
        self._emit({"frame": int(frame), "dropped": True})


def read_ndjson(source: str | Path | IO) -> Iterator[dict[str, Any]]:
    """Records of an NDJSON map stream; ``qp`` comes back as a float32 array (absent if dropped)."""
    fh = open(source, encoding="utf-8") if isinstance(source, (str, Path)) else source
    try:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number}: not JSON ({exc})") from None
            if "qp" in record:
                grid = np.asarray(record["qp"], dtype=np.float32)
                if grid.shape != (record["rows"], record["cols"]):
                    raise InputError(f"line {number}: qp is {grid.shape}, header says "
                                     f"{record['rows']}x{record['cols']}")
                record["qp"] = grid
            yield record
    finally:
        if isinstance(source, (str, Path)):
            fh.close()


class NpyWriter:
    """``DIR/frame_000000.npy``: one float32 (rows, cols) grid a frame, for numpy users.

    The frames go to a temporary folder beside ``DIR`` that replaces ``DIR`` on a successful
    :meth:`close` (an earlier ``DIR`` survives a failed run; the failed run's frames are kept in
    ``DIR.partial``).  The first write error is raised as :class:`OutputError`.
    """

    def __init__(self, directory: str | Path, pattern: str = "frame_{:06d}.npy") -> None:
        self.directory = Path(directory)
        self.pattern = pattern
        self._atomic = AtomicTarget(self.directory, directory=True)
        self._error: OutputError | None = None
        self._closed = False

    def path(self, frame: int) -> Path:
        """Where frame ``frame``'s map is once the writer is closed."""
        return self.directory / self.pattern.format(int(frame))

    def write(self, frame: int, offsets: np.ndarray, pts: int | float | None = None) -> None:
        grid = _grid(offsets)
        if self._error is not None:
            raise self._error
        buf = io.BytesIO()  # np.save's own short-write error carries no errno
        np.save(buf, grid, allow_pickle=False)
        try:
            with open(self._atomic.path / self.pattern.format(int(frame)), "wb") as fh:
                fh.write(buf.getbuffer())
        except OSError as exc:
            self._error = output_error(self.path(frame), exc)
            raise self._error from exc

    def read(self, frame: int) -> np.ndarray:
        path = self.path(frame)
        if not path.is_file():
            raise InputError(f"no map for frame {frame} at {path}")
        return np.load(path, allow_pickle=False)

    def close(self, ok: bool = True) -> None:
        """Put the folder in place (``ok``) or keep the earlier one (see the class doc)."""
        if self._closed:
            return
        self._closed = True
        if ok and self._error is None:
            self._atomic.commit()
        else:
            self._atomic.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(ok=exc_type is None)


#: Kvazaar ``--roi`` file kinds; Kvazaar itself picks binary for ``.bin`` and text otherwise
KVAZAAR_FORMATS: tuple[str, ...] = ("text", "binary")


def kvazaar_format(target: str | Path | IO, format: str | None = None) -> str:
    """``text`` or ``binary`` for a Kvazaar ROI target: given, or from the extension.

    Kvazaar reads a ``.bin`` file as binary and every other name as text, so a format that
    disagrees with the name would be misread: that is refused, as is a stream without a format.
    """
    if format is not None and format not in KVAZAAR_FORMATS:
        raise ConfigError(f"Kvazaar ROI format must be text or binary, got {format!r}")
    named = isinstance(target, (str, Path)) and str(target) != "-"
    if not named:
        if format is None:
            raise ConfigError("a Kvazaar ROI stream needs an explicit format (text or binary)")
        return format
    by_name = "binary" if Path(target).suffix.lower() == ".bin" else "text"
    if format is not None and format != by_name:
        raise ConfigError(f"Kvazaar reads {Path(target).name} as {by_name} (it decides by the "
                          f".bin extension); name the file {'*.bin' if format == 'binary' else '*.txt'} "
                          f"for {format}")
    return by_name


class KvazaarRoiWriter(_FileWriter):
    """Kvazaar ``--roi FILE``: per frame, the map's width and height (in blocks) then
    width*height delta QPs in raster order; text (whitespace-separated integers, one map a
    line pair) or binary (int32 little-endian width and height, then int8 deltas).

    ``format`` is ``"text"`` or ``"binary"``; without it the extension decides the way Kvazaar
    does (``.bin`` binary, anything else text), and a mismatch is refused
    (:func:`kvazaar_format`).  Kvazaar scales a map of any size to the picture, so the grid goes
    in as it is (use ``block=64`` grids for its 64x64 CTUs).  It loops the file at its end; write
    one map per frame.  Offsets are rounded to integers and clamped to [-51, 51].
    """

    def __init__(self, target: str | Path | IO, format: str | None = None) -> None:
        self.format = kvazaar_format(target, format)
        super().__init__(target, binary=self.format == "binary")

    def write(self, frame: int, offsets: np.ndarray, pts: int | float | None = None) -> None:
        grid = _grid(offsets)
        rows, cols = grid.shape
        values = np.clip(np.rint(grid), -51, 51).astype(np.int8)
        if self.format == "binary":
            self._write(struct.pack("<ii", cols, rows) + values.tobytes(order="C"))
        else:
            self._write(f"{cols} {rows}\n" + " ".join(map(str, values.ravel().tolist())) + "\n")


def read_kvazaar_roi(source: str | Path | bytes, format: str | None = None) -> list[np.ndarray]:
    """All maps of a Kvazaar ROI file, int8 (rows, cols) each; ``format`` as
    :func:`kvazaar_format` (bytes need it given)."""
    if isinstance(source, bytes):
        fmt = format or "binary"
        data = source
    else:
        fmt = kvazaar_format(source, format)
        data = Path(source).read_bytes()
    return _kvazaar_binary(data) if fmt == "binary" else _kvazaar_text(data)


def _kvazaar_binary(data: bytes) -> list[np.ndarray]:
    maps, pos = [], 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise InputError(f"truncated Kvazaar ROI header at byte {pos}")
        cols, rows = struct.unpack_from("<ii", data, pos)
        pos += 8
        if cols <= 0 or rows <= 0 or pos + cols * rows > len(data):
            raise InputError(f"bad Kvazaar ROI map {cols}x{rows} at byte {pos - 8}")
        maps.append(np.frombuffer(data, np.int8, cols * rows, pos).reshape(rows, cols).copy())
        pos += cols * rows
    return maps


def _kvazaar_text(data: bytes) -> list[np.ndarray]:
    try:
        tokens = [int(t) for t in data.decode("ascii").split()]
    except (UnicodeDecodeError, ValueError):
        raise InputError("a Kvazaar text ROI file holds whitespace-separated integers only") \
            from None
    maps, pos = [], 0
    while pos < len(tokens):
        if pos + 2 > len(tokens):
            raise InputError(f"truncated Kvazaar ROI header at value {pos}")
        cols, rows = tokens[pos], tokens[pos + 1]
        pos += 2
        if cols <= 0 or rows <= 0 or pos + cols * rows > len(tokens):
            raise InputError(f"bad Kvazaar ROI map {cols}x{rows} at value {pos - 2}")
        values = np.array(tokens[pos:pos + cols * rows])
        if (np.abs(values) > 127).any():
            raise InputError("Kvazaar ROI delta QPs must fit a signed byte")
        maps.append(values.astype(np.int8).reshape(rows, cols))
        pos += cols * rows
    return maps


#: AV1 codes at most 8 segments; SVT-AV1 maps each distinct ROI offset of a frame to one
SVTAV1_MAX_SEGMENTS = 8


def limit_levels(values: np.ndarray, levels: int = SVTAV1_MAX_SEGMENTS) -> np.ndarray:
    """``values`` (integers) with at most ``levels`` distinct values, order kept.

    The distinct values are split into ``levels`` contiguous runs that minimise the squared
    error (exact dynamic programme over the sorted values, weighted by their counts); each run
    becomes its rounded weighted mean.  Runs are contiguous, so ``a < b`` never turns into
    ``q(a) > q(b)``.  Values that already have few enough levels come back unchanged.
    """
    arr = np.asarray(values)
    uniq, inverse, counts = np.unique(arr.ravel(), return_inverse=True, return_counts=True)
    n = len(uniq)
    if n <= levels:
        return arr.copy()
    x = uniq.astype(np.float64)
    w = counts.astype(np.float64)
    s0 = np.concatenate([[0.0], np.cumsum(w)])
    s1 = np.concatenate([[0.0], np.cumsum(w * x)])
    s2 = np.concatenate([[0.0], np.cumsum(w * x * x)])
    i = np.arange(n + 1)[:, None]
    j = np.arange(n + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = s0[j] - s0[i]
        total = s1[j] - s1[i]
        cost = np.where(j > i, (s2[j] - s2[i]) - total * total / weight, np.inf)
    dp = np.full(n + 1, np.inf)
    dp[0] = 0.0
    cuts = np.zeros((levels + 1, n + 1), dtype=np.int64)
    for k in range(1, levels + 1):
        candidates = dp[:, None] + cost  # [start of the last run, end]
        cuts[k] = np.argmin(candidates, axis=0)
        dp = candidates[cuts[k], np.arange(n + 1)]
    mapped = np.empty(n, dtype=np.float64)
    end = n
    for k in range(levels, 0, -1):
        start = int(cuts[k, end])
        mapped[start:end] = np.rint((s1[end] - s1[start]) / (s0[end] - s0[start]))
        end = start
    return mapped[inverse].reshape(arr.shape).astype(arr.dtype)


class SvtAv1RoiWriter(_FileWriter):
    """SVT-AV1 ``--roi-map-file``: one text line a frame, ``frame_number`` then one qindex offset
    per 64x64 block, row by row (SVT-AV1's ``Docs/Parameters.md``).

    ``write`` takes an offsets grid of any block size and the frame size; it pools the grid to
    the 64x64 superblock grid (area mean, :func:`pool_blocks`), converts QP to qindex units
    (``qindex_per_qp``, default 4: SVT-AV1's own ``--qp`` to qindex rule, qindex = 4 x qp; it
    is a convention, not a perceptual equivalence with H.264 QP), rounds, clamps to
    [-255, 255] and keeps at most 8 distinct values a frame (:func:`limit_levels`): SVT-AV1
    codes each distinct value as an AV1 segment and refuses a ninth.
    """

    SUPERBLOCK = 64

    def __init__(self, target: str | Path | IO, frame_size: tuple[int, int],
                 qindex_per_qp: float = 4.0) -> None:
        if not math.isfinite(qindex_per_qp) or qindex_per_qp <= 0:
            raise ConfigError(f"qindex_per_qp must be > 0, got {qindex_per_qp}")
        super().__init__(target, binary=False)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.qindex_per_qp = float(qindex_per_qp)

    def superblocks(self, offsets: np.ndarray) -> np.ndarray:
        """The int qindex offsets (rows, cols) of the 64x64 grid this writer would emit."""
        grid = _grid(offsets)
        sb = pool_blocks(grid, self.frame_size, self.SUPERBLOCK)
        values = np.clip(np.rint(sb * self.qindex_per_qp), -255, 255).astype(np.int32)
        return limit_levels(values, SVTAV1_MAX_SEGMENTS)

    def write(self, frame: int, offsets: np.ndarray, pts: int | float | None = None) -> None:
        values = self.superblocks(offsets)
        self._write(f"{int(frame)} " + " ".join(map(str, values.ravel().tolist())) + "\n")


def read_svtav1_roi(source: str | Path | IO, frame_size: tuple[int, int]) -> dict[int, np.ndarray]:
    """frame number -> int32 (rows, cols) qindex offsets of a SVT-AV1 ROI map file, checked as
    SVT-AV1 checks it: one value per 64x64 block, at most 8 distinct values a frame, each in
    [-255, 255]."""
    rows = -(-int(frame_size[0]) // SvtAv1RoiWriter.SUPERBLOCK)
    cols = -(-int(frame_size[1]) // SvtAv1RoiWriter.SUPERBLOCK)
    text = Path(source).read_text() if isinstance(source, (str, Path)) else source.read()
    maps: dict[int, np.ndarray] = {}
    for number, line in enumerate(io.StringIO(text), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1 + rows * cols:
            raise InputError(f"line {number}: {len(fields) - 1} offsets, expected {rows * cols}")
        try:
            values = np.array(fields[1:], dtype=np.int32).reshape(rows, cols)
            frame = int(fields[0])
        except ValueError:
            raise InputError(f"line {number}: not integers") from None
        if len(np.unique(values)) > SVTAV1_MAX_SEGMENTS:
            raise InputError(f"line {number}: {len(np.unique(values))} distinct offsets; AV1 "
                             f"has at most {SVTAV1_MAX_SEGMENTS} segments")
        if (np.abs(values) > 255).any():
            raise InputError(f"line {number}: offsets outside [-255, 255]")
        maps[frame] = values
    return maps
