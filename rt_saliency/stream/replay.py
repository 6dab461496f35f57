"""Saliency maps recorded by one run over a file and replayed by the next runs.

Recording costs ``4 * H * W`` bytes a frame on disk (200 kB at the network's 224x224), so a
recorder stops at :data:`MAX_RECORD_BYTES` (its file deleted, ``overflowed`` set): a longer file
runs the network on every pass, whether or not its length was known in advance.

A job of several runs over one file (rate matching, two passes) predicts the same maps every
time: the predictor's recurrent state is per stream.  :class:`SaliencyRecorder` is a sink that
appends each frame's map to a file (float32 as predicted, in frame order, so memory stays
bounded at any length); :class:`ReplayPredictor` is a :class:`~rt_saliency.runtime.predictor.StreamPredictor`
that hands them back in order, so the later runs encode without running the network, with the
same maps to the bit (so the same offsets and the same stream).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.flow import FlowConfig
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.stream.pipeline import MapRecord

#: the most disk a job's recorded maps may take (about 10,700 frames at 224x224: 7 minutes at
#: 25 fps)
MAX_RECORD_BYTES = 2 << 30


def record_bytes(frames: int, input_size: tuple[int, int]) -> int:
    """Disk bytes of ``frames`` recorded maps of ``input_size``."""
    return 4 * frames * int(input_size[0]) * int(input_size[1])


class SaliencyRecorder:
    """A sink writing every frame's saliency map to ``path`` (a dropped frame: a uniform map,
    which gives a flat offset grid), up to ``max_bytes``: past that it deletes the file, sets
    ``overflowed`` and records nothing more (the disk it takes stays bounded)."""

    def __init__(self, path: str | Path, input_size: tuple[int, int], *,
                 max_bytes: int = MAX_RECORD_BYTES) -> None:
        self.path = Path(path)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.max_bytes = int(max_bytes)
        self.frames = 0
        self.overflowed = False
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 (closed by close())

    def _write(self, saliency: np.ndarray) -> None:
        if self.overflowed:
            return
        if record_bytes(self.frames + 1, self.input_size) > self.max_bytes:
            self.overflowed = True
            self.close()
            self.path.unlink(missing_ok=True)
            return
        assert self._file is not None
        self._file.write(np.ascontiguousarray(saliency, dtype=np.float32).tobytes())
        self.frames += 1

    def write_map(self, record: MapRecord) -> None:
        if record.saliency is None:  # our bug: no sink drops the map before this one
            raise RuntimeError(f"frame {record.index} reached the recorder without its map")
        self._write(np.asarray(record.saliency).reshape(self.input_size))

    def write_dropped(self, index: int) -> None:
        self._write(np.full(self.input_size, 0.5, np.float32))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ReplayPredictor:
    """The maps a :class:`SaliencyRecorder` wrote, in frame order, as a stream predictor with no
    lookahead; ``like`` is the predictor that made them (its name, size and flow settings).  One
    instance per run: it counts the frames it has handed out."""

    lookahead = 0
    flow_maps = 1

    def __init__(self, path: str | Path, frames: int, like: StreamPredictor) -> None:
        self.input_size = tuple(like.input_size)
        self.flow_config: FlowConfig | None = like.flow_config
        self.name = f"{like.name} (replayed)"
        self._maps = np.memmap(path, dtype=np.float32, mode="r",
                               shape=(frames, *self.input_size)) if frames else None
        self._frames = frames
        self._next = 0

    def initial_state(self) -> Any:
        return None

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        if self._next >= self._frames or self._maps is None:
            raise InputError(f"the input has more frames than the {self._frames} the first "
                             "pass recorded: did the file change during the job?")
        index = self._next
        self._next += 1
        return np.array([index], np.int64)

    def head(self, window: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        assert self._maps is not None
        return np.asarray(self._maps[int(window[0][0])], np.float32), state

    def close(self) -> None:
        self._maps = None
