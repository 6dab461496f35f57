"""Encoders' ROI map files: Kvazaar ``--roi`` (text or binary) and SVT-AV1 ``--roi-map-file``
text files (at most 8 levels a frame), each with a reader for round trips."""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path
from typing import IO

import numpy as np

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.qp.mapping import pool_blocks
from rt_saliency.qp.writers import MapFileWriter, check_grid

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


class KvazaarRoiWriter(MapFileWriter):
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
        grid = check_grid(offsets)
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


class SvtAv1RoiWriter(MapFileWriter):
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
        grid = check_grid(offsets)
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
