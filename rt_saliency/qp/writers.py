"""QP-offset map files for other consumers: the writer base, the NDJSON stream and ``.npy`` per
frame (the encoders' ROI files are in :mod:`rt_saliency.qp.roi_files`).

Each writer is a context manager with ``write(frame, offsets, ...)``; each format has a reader
used by the tests (round trips) and by anyone who wants the maps back.  docs/qp.md gives the
encoder command that consumes each file.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from rt_saliency.atomic import AtomicTarget, output_error
from rt_saliency.errors import InputError, OutputError

#: decimals kept in NDJSON (x264 takes fractional offsets; 1/100 QP is far below its rounding)
NDJSON_DECIMALS = 2


def check_grid(offsets: np.ndarray) -> np.ndarray:
    grid = np.asarray(offsets, dtype=np.float32)
    if grid.ndim != 2 or grid.size == 0:
        raise InputError(f"offsets must be a 2-D (rows, cols) grid, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise InputError("offsets contain NaN or infinity")
    return grid


class MapFileWriter:
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


class NdjsonWriter(MapFileWriter):
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
        grid = check_grid(offsets)
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
        grid = check_grid(offsets)
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
