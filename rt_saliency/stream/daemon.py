"""The one place a streaming daemon is assembled: source, predictor, flow, QP mapper, sinks, stats
and metrics server, from a typed :class:`DaemonOptions`.

``rt-saliency run``, the demo and the pipeline benchmark all build their stream here, so they
run the same thing.  Opening order is part of the contract: the input and the predictor first,
then the outputs (each written to a temporary name), the pipeline with its stats, and the
metrics server last; a start that fails leaves every earlier output untouched; everything is
closed in reverse order, outputs finished only when the run succeeded.

    with Daemon(DaemonOptions(SourceOptions("in.mp4"), outputs=OutputOptions(qp_out="q.ndjson"))) as d:
        stats = d.run()
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rt_saliency.encode import EncoderConfig, encoder_config, under_map
from rt_saliency.flow import FlowConfig, FlowEstimator
from rt_saliency.qp import QPConfig, QPMapper
from rt_saliency.runtime.predictor import StreamPredictor, warm_up
from rt_saliency.runtime.registry import open_predictor
from rt_saliency.spec import DEFAULT_LOOKAHEAD
from rt_saliency.stream.frames import StreamInfo
from rt_saliency.stream.metrics_http import MetricsServer
from rt_saliency.stream.pipeline import DEFAULT_RING_BYTES, Pipeline, Sink
from rt_saliency.stream.sinks import EncoderSink, MapFileSink, NdjsonSink, PreviewSink, ProgressSink
from rt_saliency.stream.sources import Source, open_source
from rt_saliency.stream.stats import StreamStats

log = logging.getLogger(__name__)

#: a sink the caller adds, built once the source's size and rate are known
SinkFactory = Callable[[StreamInfo], Sink]
#: the daemon's own sinks: finished by ``__exit__`` on success, an earlier file kept on failure
OwnSink = NdjsonSink | MapFileSink | EncoderSink | PreviewSink | ProgressSink


@dataclass(frozen=True)
class SourceOptions:
    """What to read and how (see :func:`rt_saliency.stream.sources.open_source`)."""

    input: str
    input_format: str | None = None
    size: tuple[int, int] | None = None
    pix_fmt: str | None = None
    fps: float | None = None
    #: None: the source's own policy (cameras live, files lossless)
    live: bool | None = None
    #: a file read at its own frame rate, nothing dropped (service latency of recorded input)
    realtime: bool = False
    open_timeout: float = 5.0
    read_timeout: float = 5.0
    reconnect_timeout: float = 30.0


@dataclass(frozen=True)
class PredictorOptions:
    """Which predictor to serve (see :func:`rt_saliency.runtime.registry.open_predictor`)."""

    backend: str = "auto"
    weights: str | Path | None = None
    engine_dir: str | Path | None = None
    flow_maps: int | None = None
    lookahead: int = DEFAULT_LOOKAHEAD
    threads: int | None = None
    prior_faces: bool = True
    #: the engines' precision (tensorrt) or "int8" for the INT8 encoder (onnxruntime); None:
    #: the backend's default (INT8 for the shipped weights on the CPU)
    precision: str | None = None


def open_warm_predictor(p: PredictorOptions) -> StreamPredictor:
    """The predictor ``p`` describes, opened and warmed up (the caller closes it)."""
    predictor = open_predictor(p.backend, weights=p.weights, engine_dir=p.engine_dir,
                               flow_maps=p.flow_maps, lookahead=p.lookahead, threads=p.threads,
                               prior_faces=p.prior_faces, precision=p.precision)
    try:
        warm_up(predictor)
    except BaseException:
        predictor.close()
        raise
    return predictor


#: map files whose grid is the first frame's for the whole file
FIXED_SIZE_MAP_FORMATS: tuple[str, ...] = ("kvazaar", "svtav1")


@dataclass(frozen=True)
class OutputOptions:
    """The daemon's own outputs; ``None`` leaves one out."""

    #: QP maps: a path or "-" (stdout) for NDJSON, a path for the other formats
    qp_out: str | Path | None = None
    qp_format: str = "ndjson"
    #: a file encoded with the offsets: its codec ("h264", "hevc") and settings (None: defaults)
    output: str | Path | None = None
    #: the container of ``output`` (None: from its extension; a URL needs one, e.g. "mpegts")
    output_format: str | None = None
    codec: str = "h264"
    #: the user's encoder settings, as plain ffmpeg would take them (None: the codec's
    #: defaults); the daemon applies the map's AQ strength (:func:`~rt_saliency.encode.under_map`)
    encoder: EncoderConfig | None = None
    #: copy the input file's audio (and, into Matroska, subtitle) streams into ``output``
    copy_streams: bool = True
    #: side-by-side preview video
    preview: str | Path | None = None
    #: a progress bar on stderr when the input's frame count is known (not for live inputs)
    progress: bool = False
    #: the bar's label (a job of several runs names each: "pass 2")
    progress_label: str = "frames"


@dataclass(frozen=True)
class DaemonOptions:
    """Everything a daemon is built from."""

    source: SourceOptions
    predictor: PredictorOptions = field(default_factory=PredictorOptions)
    outputs: OutputOptions = field(default_factory=OutputOptions)
    qp: QPConfig = field(default_factory=QPConfig)
    #: flow settings (None: the defaults, as in training)
    flow: FlowConfig | None = None
    ring_size: int = 8
    #: bytes of frames each ring may hold (None: count only)
    ring_bytes: int | None = DEFAULT_RING_BYTES
    max_frames: int | None = None
    #: hand source frames to the sinks (an added sink that encodes needs them)
    keep_rgb: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"


class Daemon:
    """A stream assembled from :class:`DaemonOptions`; a context manager around one run.

    ``predictor`` / ``flow``: already open ones to use instead of those the options describe
    (the benchmark reuses a warmed predictor across runs); the daemon closes only what it opened.
    ``sinks``: factories of extra sinks, called with the source's :class:`StreamInfo` after the
    daemon's own outputs are open.
    """

    def __init__(
        self,
        options: DaemonOptions,
        *,
        predictor: StreamPredictor | None = None,
        flow: FlowEstimator | None = None,
        sinks: Sequence[SinkFactory] = (),
    ) -> None:
        self.options = options
        self._given_predictor = predictor
        self._flow = flow
        self._sink_factories = tuple(sinks)
        self._stack = contextlib.ExitStack()
        self.source: Source | None = None
        self.predictor: StreamPredictor | None = None
        self.stats: StreamStats | None = None
        self.metrics: MetricsServer | None = None
        self.pipeline: Pipeline | None = None

    def __enter__(self) -> Daemon:
        try:
            self._open()
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        return self._stack.__exit__(exc_type, exc, tb)

    def _open(self) -> None:
        opts, stack = self.options, self._stack
        src = opts.source
        # the predictor opens and warms up first: a live source opened before would queue frames
        # (and drop them) while the model loads
        predictor = self._given_predictor
        if predictor is None:
            p = opts.predictor
            predictor = open_warm_predictor(p)
            stack.callback(predictor.close)
            if p.flow_maps not in (None, predictor.flow_maps) or predictor.lookahead != p.lookahead:
                log.info("backend %s runs with S=%d flow maps and lookahead L=%d",
                         predictor.name, predictor.flow_maps, predictor.lookahead)
        source = self.source = stack.enter_context(open_source(
            src.input, input_format=src.input_format, size=src.size, pix_fmt=src.pix_fmt,
            fps=src.fps, live=src.live, open_timeout=src.open_timeout,
            read_timeout=src.read_timeout, reconnect_timeout=src.reconnect_timeout,
            realtime=src.realtime))
        info = source.info
        log.info("input %s: %dx%d, %s fps, %s", info.name, info.width, info.height,
                 f"{info.fps:g}" if info.fps else "unknown", "live" if info.live else "lossless")
        self.predictor = predictor
        # the outputs open last; each is finished on success, an earlier file kept on failure
        sinks: list[Sink] = []
        for sink in self._own_sinks(info):  # a generator: each sink is on the stack before the next opens
            stack.push(sink)
            sinks.append(sink)
        for factory in self._sink_factories:
            sink = factory(info)
            if hasattr(sink, "__exit__"):
                stack.push(sink)  # type: ignore[arg-type]
            else:
                stack.callback(sink.close)
            sinks.append(sink)
        encoder = self._encoder_settings()
        qp = opts.qp.for_codec(opts.outputs.codec, None if encoder is None else encoder.crf,
                               aq_mode=None if encoder is None else encoder.aq_mode,
                               encoder_aq_strength=None if encoder is None
                               else encoder.aq_strength)
        outputs = opts.outputs
        self.pipeline = Pipeline(
            source, predictor, sinks,
            flow=self._flow if self._flow is not None else FlowEstimator(
                opts.flow or predictor.flow_config or FlowConfig(size=predictor.input_size)),
            qp_factory=lambda frame_size: QPMapper(frame_size, qp),
            ring_size=opts.ring_size, ring_bytes=opts.ring_bytes, live=src.live, max_frames=opts.max_frames,
            keep_rgb=opts.keep_rgb or outputs.output is not None or outputs.preview is not None,
            # an encode, a preview and the grid-sized map files hold one frame size
            fixed_size=(outputs.output is not None or outputs.preview is not None
                        or (outputs.qp_out is not None
                            and outputs.qp_format in FIXED_SIZE_MAP_FORMATS)))
        self.stats = self.pipeline.stats
        if opts.metrics_port is not None:  # after the outputs: a busy port discards their temp files
            self.metrics = stack.enter_context(
                MetricsServer(self.stats, opts.metrics_port, opts.metrics_host))

    def _encoder_settings(self) -> EncoderConfig | None:
        """The user's settings of ``-o`` (the codec's defaults if none were given); None
        without ``-o``."""
        out = self.options.outputs
        if out.output is None:
            return None
        return out.encoder or encoder_config(out.codec)

    def _own_sinks(self, info: StreamInfo) -> Iterator[OwnSink]:
        """The QP-map, encode and preview sinks the options ask for, opened in that order."""
        out, qp = self.options.outputs, self.options.qp
        if out.qp_out is not None:
            if out.qp_format == "ndjson":
                yield NdjsonSink(out.qp_out, block=qp.block)
            else:
                yield MapFileSink(out.qp_format, out.qp_out, (info.height, info.width),
                                  block=qp.block)
        if out.output is not None:
            src = self.options.source
            copy_from = src.input if (out.copy_streams and src.input_format is None
                                      and Path(src.input).is_file()) else None
            yield EncoderSink(out.output, info.width, info.height, info.fps or 30.0,
                              under_map(self._encoder_settings(), self.options.qp),
                              codec=out.codec, time_base=info.time_base, copy_from=copy_from,
                              format=out.output_format)
        if out.preview is not None:
            yield PreviewSink(out.preview, info.fps or 30.0, qp_range=max(-qp.qp_min, qp.qp_max))
        if out.progress and info.frame_count and not info.live:
            total = info.frame_count
            if self.options.max_frames is not None:
                total = min(total, self.options.max_frames)
            yield ProgressSink(total, desc=out.progress_label)

    def run(self) -> StreamStats:
        """Stream to the end (or until :meth:`stop`); raises ``PipelineError`` when a stage fails."""
        if self.pipeline is None:
            raise RuntimeError("Daemon.run() outside its with-block")
        return self.pipeline.run()
