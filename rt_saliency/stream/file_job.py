"""A job of several daemon runs over one file: two-pass encodes, rate matching.

:class:`FileJob` opens the predictor once and a temporary folder beside ``-o``; the first run
records its saliency maps and the later runs replay them (:mod:`rt_saliency.stream.replay`:
every run would predict the same maps, the predictor's recurrent state being per stream); each :meth:`FileJob.run` writes
the outputs it is given into its own subfolder; :meth:`FileJob.keep` puts one run's files in
place, atomically, and only then.  A failure or a stop leaves the outputs that existed before
as they were, and the temporary folder goes with the job.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from rt_saliency.atomic import AtomicTarget, output_error
from rt_saliency.encode import EncoderConfig
from rt_saliency.encode.mux import is_url
from rt_saliency.errors import ConfigError, StoppedError
from rt_saliency.redact import redact_url
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.stream.daemon import Daemon, DaemonOptions, open_warm_predictor
from rt_saliency.stream.frames import StreamInfo
from rt_saliency.stream.pipeline import Pipeline, Sink
from rt_saliency.stream.replay import (
    MAX_RECORD_BYTES,
    ReplayPredictor,
    SaliencyRecorder,
    record_bytes,
)
from rt_saliency.stream.stats import StreamStats

#: the daemon's file outputs, by their OutputOptions field
OUTPUT_FIELDS: tuple[tuple[str, str], ...] = (("output", "-o"), ("preview", "--preview"),
                                              ("qp_out", "--qp-out"))


def check_file_job(options: DaemonOptions, what: str) -> EncoderConfig:
    """The encode's settings, or ConfigError unless ``options`` can be run more than once: a
    local video file in, an encode, and local files out (``what`` names the option)."""
    src, out = options.source, options.outputs
    if out.output is None or out.encoder is None:
        raise ConfigError(f"{what} is about the encode: give -o FILE")
    if (is_url(src.input) or src.input == "-" or src.input_format is not None
            or not Path(src.input).is_file()):
        raise ConfigError(f"{what} reads the input more than once: it needs a video file, not "
                          f"{redact_url(str(src.input))!r}")
    if src.live or src.realtime:
        raise ConfigError(f"{what} runs as fast as it can: it cannot be --live or --realtime")
    for field, name in OUTPUT_FIELDS:
        target = getattr(out, field)
        if target is not None and (target == "-" or is_url(str(target))):
            raise ConfigError(f"{what} keeps one run's files: {name} must be a file, not a "
                              "stream")
    return out.encoder


class FileJob:
    """Runs of the daemon over one file into a temporary folder, one of them kept."""

    def __init__(self, options: DaemonOptions, *, prefix: str = ".rt-saliency-job-",
                 attach: Callable[[Pipeline], None] | None = None,
                 stopped: Callable[[], bool] = lambda: False,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self.options = options
        self.max_record_bytes = int(max_record_bytes)
        self.targets = {field: Path(getattr(options.outputs, field))
                        for field, _ in OUTPUT_FIELDS if getattr(options.outputs, field)}
        self._prefix, self._attach, self._stopped = prefix, attach, stopped
        self._stack = contextlib.ExitStack()
        self.predictor: StreamPredictor | None = None
        self.work = Path()
        #: the last run's ``Pipeline.size_change``: where the input changed size, if it did
        self.size_change: tuple[int, tuple[int, int], tuple[int, int]] | None = None
        #: frames of saliency the first run recorded for the later ones (None: none recorded)
        self.recorded: int | None = None
        #: a run's recording outgrew ``max_record_bytes``: the later runs do not try again
        self._too_long = False

    def __enter__(self) -> FileJob:
        try:
            self.predictor = open_warm_predictor(self.options.predictor)
            self._stack.callback(self.predictor.close)
            folder = self.targets["output"].resolve().parent
            self.work = Path(self._stack.enter_context(tempfile.TemporaryDirectory(
                prefix=self._prefix, dir=folder)))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.__exit__(exc_type, exc, tb)

    @staticmethod
    def label(name: str) -> str:
        """Run ``name``'s progress-bar label ("pass2" -> "pass 2")."""
        stem = name.rstrip("0123456789")
        return f"{stem} {name[len(stem):]}" if stem != name else name

    def paths(self, name: str) -> dict[str, Path]:
        """Where run ``name`` writes each output (the suffix kept: formats follow it)."""
        return {field: self.work / name / f"{field}{target.suffix}"
                for field, target in self.targets.items()}

    def run(self, name: str, options: DaemonOptions, *,
            fields: tuple[str, ...] | None = None) -> StreamStats:
        """One daemon run of ``options`` (this job's input) into run ``name``'s folder, with
        the outputs in ``fields`` (default all); StoppedError when a signal stopped it."""
        (self.work / name).mkdir()
        paths = {k: str(v) for k, v in self.paths(name).items()
                 if fields is None or k in fields}
        cleared = {field: None for field, _ in OUTPUT_FIELDS if field not in paths}
        run = replace(options, outputs=replace(options.outputs, **paths, **cleared,
                                               progress_label=self.label(name)))
        assert self.predictor is not None
        maps = self.work / "saliency.f32"
        recorders: list[SaliencyRecorder] = []

        def recorder(info: StreamInfo) -> Sink:
            frames = info.frame_count
            if self.options.max_frames is not None:
                frames = min(frames or self.options.max_frames, self.options.max_frames)
            assert self.predictor is not None
            if self._too_long or (frames and record_bytes(frames, self.predictor.input_size)
                                  > self.max_record_bytes):
                return _NoSink()  # known to be too long: do not start
            recorders.append(SaliencyRecorder(maps, self.predictor.input_size,
                                              max_bytes=self.max_record_bytes))
            return recorders[-1]

        if self.recorded is not None:
            predictor: StreamPredictor = ReplayPredictor(maps, self.recorded, self.predictor)
            sinks = ()
        else:
            predictor, sinks = self.predictor, (recorder,)
        with Daemon(run, predictor=predictor, sinks=sinks) as daemon:
            assert daemon.pipeline is not None
            if self._attach is not None:
                self._attach(daemon.pipeline)
            stats = daemon.run()
            self.size_change = daemon.pipeline.size_change
        if self._stopped():
            raise StoppedError("stopped before the job finished: the outputs were left as they "
                               "were")
        if recorders and recorders[0].overflowed:
            self._too_long = True
        elif recorders and self.size_change is None:
            self.recorded = recorders[0].frames
        return stats

    def discard(self, name: str) -> None:
        shutil.rmtree(self.work / name, ignore_errors=True)

    def keep(self, name: str) -> None:
        """Put run ``name``'s outputs at their targets, each atomically (any file system)."""
        for field, written in self.paths(name).items():
            folder = field == "qp_out" and self.options.outputs.qp_format == "npy"
            _place(written, self.targets[field], folder=folder)


class _NoSink:
    """Records nothing: the file is known to be too long to record."""

    def write_map(self, record: object) -> None:
        pass

    def write_dropped(self, index: int) -> None:
        pass

    def close(self) -> None:
        pass


def _place(written: Path, target: Path, *, folder: bool) -> None:
    slot = AtomicTarget(target, directory=folder)
    try:
        if folder:
            slot.path.rmdir()
        shutil.move(str(written), str(slot.path))
    except OSError as exc:
        slot.discard()
        raise output_error(target, exc) from exc
    slot.commit()
