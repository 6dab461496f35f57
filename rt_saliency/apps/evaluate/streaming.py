"""Evaluation of a streaming predictor over each video as the daemon runs it (the pipeline)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.apps.evaluate.protocol import EvalOptions, evaluate_videos
from rt_saliency.data.video import read_frames
from rt_saliency.stream.offline import ArraySource
from rt_saliency.stream.pipeline import Pipeline
from rt_saliency.stream.sources import open_source


class _LazyFrames(Sequence):
    """The RGB frames of a record with extracted frames, read one at a time."""

    def __init__(self, record: Any) -> None:
        self._record = record

    def __len__(self) -> int:
        return self._record.num_frames

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return read_frames(self._record, [index])[0]


class _ScoringSink:
    """A stream sink that hands each wanted frame's map to ``emit`` (from the sink thread)."""

    def __init__(self, wanted: list[int], emit: Callable[[int, np.ndarray], None]) -> None:
        self._wanted = set(wanted)
        self._emit = emit

    def write_map(self, record: Any) -> None:
        if record.index in self._wanted:
            self._emit(record.index, record.saliency)

    def write_dropped(self, index: int) -> None:
        raise RuntimeError(f"frame {index} dropped while evaluating (a file never drops)")

    def close(self) -> None:
        pass


def evaluate_predictor(
    predictor: Any,
    roots: Sequence[str | Path],
    opts: EvalOptions,
    progress: bool = False,
) -> dict[str, Any]:
    """Score a streaming predictor (e.g. the training-free prior) as the daemon runs it.

    Each video goes through :class:`rt_saliency.stream.pipeline.Pipeline` (its flow, windows and
    recurrent state), so the scores are those of ``rt-saliency run``.  ``opts.clip_len`` is not
    used: the predictor's own lookahead decides what it sees.
    """
    def predict(rec: Any, wanted: list[int], emit: Callable[[int, np.ndarray], None]) -> None:
        if rec.frames is not None:
            source = ArraySource(_LazyFrames(rec), name=f"{rec.dataset}/{rec.name}")
        else:
            source = open_source(str(rec.video))
        with source:
            Pipeline(source, predictor, [_ScoringSink(wanted, emit)],
                     max_frames=rec.num_frames).run()

    return evaluate_videos(roots, opts, str(getattr(predictor, "name", "predictor")),
                     lambda records: predict, progress)
