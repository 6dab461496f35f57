"""The streaming pipeline: threads joined by bounded ring buffers.

::

    source -> [capture] -> resize -> [ring] -> flow -> [ring] -> encode -> [ring] -> head
           -> [ring] -> qp -> [ring] -> sink

* ``source`` reads frames; for a live source the capture ring drops the oldest frame when the
  pipeline falls behind (each drop becomes a ``dropped`` record), otherwise it blocks.
* ``resize`` turns a frame into the network's 224x224 input and notices dropped indices.
* ``flow`` computes F^t (frame t-1 -> t, zero for the first frame) once per frame.
* ``encode`` waits until the flows F^t..F^{t+S-1} exist (or the stream ended: zeros pad the
  stack), runs the per-frame encoder once and passes the features on; features are computed
  once per frame and reused by every head window.
* ``head`` waits for the features of t..t+L (fewer at the end of the stream: a truncated window)
  and runs the temporal head with the forward state left by frame t-1.
* ``qp`` pools the saliency map on the source frame's block grid and maps it to offsets.
* ``sink`` hands each record, in frame order, to the sinks and records the compute latency.

Every input frame yields exactly one record, in order.  A stage that raises stops every thread
and :meth:`Pipeline.run` raises :class:`PipelineError` chaining the cause; :meth:`Pipeline.stop`
instead drains: the source stops and everything already read is flushed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from rt_saliency.errors import PipelineError
from rt_saliency.flow import FlowConfig, FlowEstimator, flow_to_input, stack_flows
from rt_saliency.imaging import resize_to_input
from rt_saliency.qp import QPMapper
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.stream.frames import Frame
from rt_saliency.stream.ring import EndOfStream, RingBuffer, RingStopped
from rt_saliency.stream.sources import Source
from rt_saliency.stream.stats import StreamStats
from rt_saliency.yuv import YuvFrame

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("source", "resize", "flow", "encode", "head", "qp", "sink")


class Sink(Protocol):
    """Where records go (NDJSON, an encoder ...); called from the sink thread, in frame order."""

    def write_map(self, record: MapRecord) -> None: ...

    def write_dropped(self, index: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class MapRecord:
    """One frame's result as the sinks see it."""

    index: int
    pts: float
    #: (height, width) of the source frame
    size: tuple[int, int]
    #: float32 (224, 224) saliency in [0, 1] (``None`` once a sink chose not to keep it)
    saliency: np.ndarray | None
    #: float32 (ceil(H/b), ceil(W/b)) QP offsets, negative = better
    offsets: np.ndarray | None
    #: the source frame (uint8 H x W x 3), kept only when a sink asked for it (encoders)
    rgb: np.ndarray | None = None
    #: the source frame's planes as decoded (when the input has them and a sink asked)
    yuv: YuvFrame | None = None


@dataclass
class _Dropped:
    index: int


@dataclass
class _Item:
    """A frame on its way through the stages; fields are filled as it goes."""

    index: int
    pts: float
    size: tuple[int, int]
    captured: float
    flow_prep: np.ndarray | None = None
    frame: np.ndarray | None = None
    flow: np.ndarray | None = None
    features: np.ndarray | None = None
    ready_at: float = 0.0
    #: seconds this frame spent in its own stage work (no queueing)
    service: float = 0.0
    #: its encode or head window was completed by the end of the stream (the flush)
    flush: bool = False
    saliency: np.ndarray | None = None
    offsets: np.ndarray | None = None
    rgb: np.ndarray | None = None
    yuv: YuvFrame | None = None


@dataclass(frozen=True)
class _End:
    """End of stream as the later stages see it: when the source ended, how many frames."""

    at: float
    frames: int


#: the bytes of frames one ring may hold (an 8K frame passes alone; 1080p: about 6 frames)
DEFAULT_RING_BYTES = 64 << 20


def _coded_planes(item: _Item) -> tuple[tuple[np.ndarray, ...], int] | None:
    """The planes an encoder sink will code for ``item`` and their bit depth (the decoded
    YUV planes, else BT.601 luma of the RGB frame), or None without an encoder sink; prepared
    only for a mapper that ``wants_planes``."""
    if item.yuv is not None:
        return item.yuv.planes, item.yuv.format.bit_depth
    if item.rgb is not None:  # BT.601 luma, limited range (what the encoder's conversion makes)
        grey = cv2.cvtColor(item.rgb, cv2.COLOR_RGB2GRAY)
        return (cv2.convertScaleAbs(grey, alpha=219.0 / 255.0, beta=16.0),), 8
    return None


def _wants_coded(mapper: Any) -> bool:
    """Whether ``mapper`` uses the coded planes: an AQ change to price, or the rate centring's
    bit shares (which were fitted on the coded luma, ``docs/qp.md``)."""
    config = getattr(mapper, "config", None)
    return bool(getattr(mapper, "wants_planes", False)
                or (config is not None and getattr(config, "centre", None) == "rate"))


def default_qp(size: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    """The QP mapping for a source of ``size`` (rt_saliency.qp's defaults)."""
    return QPMapper(size)


class Pipeline:
    """Runs a :class:`Source` through a :class:`StreamPredictor` into sinks, in threads.

    ``flow``: a :class:`rt_saliency.flow.FlowEstimator` (default: the predictor's
    ``flow_config``, the settings it was trained with, else the default
    :class:`~rt_saliency.flow.FlowConfig` at its input size); its ``prepare`` (grey, resized) runs
    in the resize stage on the source frame, ``compute_prepared`` in the flow stage.  ``qp_factory``
    builds the per-stream QP mapping from the source size (default :func:`default_qp`).
    ``ring_size`` bounds the capture ring and, for files, every ring (live: the rings behind the
    capture ring hold 2), ``ring_bytes`` the bytes of frames in each ring (``None``: count
    only); ``max_frames`` stops reading after that many frames.
    ``keep_rgb`` passes source frames to the sinks (for an encoder sink); ``fixed_size`` ends
    the stream before the first frame of another size (``size_change`` says where), for sinks
    that hold one size.  After a failure the
    threads get ``abort_grace_s`` to stop before :meth:`run` raises without them.
    """

    def __init__(
        self,
        source: Source,
        predictor: StreamPredictor,
        sinks: Sequence[Sink] = (),
        *,
        flow: FlowEstimator | None = None,
        qp_factory: Callable[[tuple[int, int]], Callable[..., np.ndarray]] | None = None,
        ring_size: int = 8,
        ring_bytes: int | None = DEFAULT_RING_BYTES,
        live: bool | None = None,
        max_frames: int | None = None,
        keep_rgb: bool = False,
        fixed_size: bool = False,
        abort_grace_s: float = 5.0,
    ) -> None:
        self.source = source
        self.abort_grace_s = abort_grace_s
        self.predictor = predictor
        self.sinks = list(sinks)
        self.flow_maps = int(predictor.flow_maps)
        self.lookahead = int(predictor.lookahead)
        self.input_size = tuple(predictor.input_size)
        if flow is None:  # the grid the predictor takes (a network trained at 112 gets 112)
            flow = FlowEstimator(FlowConfig(size=self.input_size))
        self._flow = flow
        self._qp_factory = qp_factory or default_qp
        self.live = source.info.live if live is None else live
        self.max_frames = max_frames
        #: stop reading at the first frame of another size (sinks that hold one size: -o)
        self.fixed_size = fixed_size
        #: (index, (w, h) before, (w, h) after) when ``fixed_size`` ended the stream early
        self.size_change: tuple[int, tuple[int, int], tuple[int, int]] | None = None
        self.keep_rgb = keep_rgb
        self._abort = threading.Event()
        # Live: only the capture ring (source -> resize) drops; the rings behind it are kept
        # short (2) so that frames cannot pile up where they would only add latency.
        policy = "drop_oldest" if self.live else "block"
        inner = min(ring_size, 2) if self.live else ring_size
        self.rings = {
            name: RingBuffer(ring_size if name == "resize" else inner,
                             policy if name == "resize" else "block", name, self._abort,
                             max_bytes=ring_bytes)
            for name in STAGES[1:]
        }
        #: everything the run measures, built with the source's counters and the rings
        self.stats = StreamStats(
            flow_maps=self.flow_maps, lookahead=self.lookahead, fps=source.info.fps,
            backend=str(predictor.name), source=source.info.name, live=self.live,
            counters=source.counters, rings=self.rings, paced=self.live or source.pace)
        self._error: tuple[str, BaseException] | None = None
        self._error_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: threads still blocked (a read from an idle pipe) when run() gave up waiting for them
        self.stuck_threads: list[str] = []

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Drain: stop reading the source; frames already read are processed and flushed."""
        self.source.stop()

    def abort(self) -> None:
        """Stop every stage now (used when a stage fails)."""
        self.source.stop()
        for ring in self.rings.values():
            ring.stop()

    def run(self) -> StreamStats:
        """Run to the end of the stream (or :meth:`stop`); raise PipelineError if a stage failed."""
        workers: dict[str, Callable[[], None]] = {
            "source": self._run_source, "resize": self._run_resize, "flow": self._run_flow,
            "encode": self._run_encode, "head": self._run_head, "qp": self._run_qp,
            "sink": self._run_sink,
        }
        self.stats.started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._guard, args=(name, fn), name=f"rts-{name}", daemon=True)
            for name, fn in workers.items()
        ]
        for thread in self._threads:
            thread.start()
        try:
            for thread in self._threads:
                while thread.is_alive():
                    thread.join(0.1)
                    if self._abort.is_set():
                        self._join_after_abort(self.abort_grace_s)
                        break
        finally:
            self.stats.finish()
        if self._error is not None:
            stage, exc = self._error
            raise PipelineError(stage, f"{type(exc).__name__}: {exc}") from exc
        return self.stats

    def _join_after_abort(self, grace_s: float = 5.0) -> None:
        """After a failure, give the threads ``grace_s`` to notice; a thread stuck in a blocking
        read (an idle stdin pipe) or in a backend call is left behind (daemon) rather than
        hanging the process."""
        deadline = time.monotonic() + grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("thread %s still busy after the pipeline stopped", thread.name)
                self.stuck_threads.append(thread.name)

    def _guard(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except RingStopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to run() and re-raised there
            with self._error_lock:
                if self._error is None:
                    self._error = (name, exc)
            log.debug("stage %s failed", name, exc_info=True)
            self.abort()

    def _timed(self, stage: str, started: float, item: Any = None) -> None:
        seconds = time.monotonic() - started
        self.stats.stage_time(stage, seconds)
        if isinstance(item, _Item):
            item.service += seconds

    # ------------------------------------------------------------------ stages
    def _run_source(self) -> None:
        out = self.rings["resize"]
        count = 0
        first: tuple[int, int] | None = None
        frames = self.source.frames()
        while self.max_frames is None or count < self.max_frames:
            started = time.monotonic()
            frame = next(frames, None)
            if frame is None:
                break
            size = (frame.width, frame.height)
            if self.fixed_size and first is not None and size != first:
                # the frames so far end the stream: every output stays whole and consistent
                self.size_change = (count, first, size)
                break
            first = first or size
            self._timed("source", started)
            count += 1
            self.stats.frames_in = count
            out.put(frame)
        frames.close()
        out.put(EndOfStream())

    def _run_resize(self) -> None:
        inp, out = self.rings["resize"], self.rings["flow"]
        height, width = self.input_size
        flow_size = (int(self._flow.config.size[0]), int(self._flow.config.size[1]))
        expected = 0
        while True:
            frame = inp.get()
            if isinstance(frame, EndOfStream):
                total = self.stats.frames_in
                for index in range(expected, total):
                    out.put(_Dropped(index))
                out.put(_End(frame.at, total))
                return
            assert isinstance(frame, Frame)
            for index in range(expected, frame.index):
                out.put(_Dropped(index))
            expected = frame.index + 1
            started = time.monotonic()
            h, w = frame.height, frame.width
            small = resize_to_input(frame.rgb, (height, width))
            # the flow resizes before it greys: at the network's size, from the input just made
            prepared = self._flow.prepare(small if flow_size == (height, width) else frame.rgb)
            tensor = np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32)
            tensor *= np.float32(1.0 / 255.0)
            item = _Item(frame.index, frame.pts, (h, w), frame.captured, flow_prep=prepared,
                         frame=tensor, rgb=frame.rgb if self.keep_rgb else None,
                         yuv=frame.yuv if self.keep_rgb else None)
            self._timed("resize", started, item)
            out.put(item)

    def _run_flow(self) -> None:
        estimator = self._flow
        inp, out = self.rings["flow"], self.rings["encode"]
        previous: np.ndarray | None = None
        while True:
            item = inp.get()
            if isinstance(item, _Item):
                started = time.monotonic()
                if previous is not None:  # F^0 stays None: zeros in the stack
                    item.flow = flow_to_input(estimator.compute_prepared(previous, item.flow_prep))
                previous = item.flow_prep
                item.flow_prep = None
                self._timed("flow", started, item)
            out.put(item)
            if isinstance(item, _End):
                return

    def _run_windowed(self, stage: str, need: int, process: Callable[[list[_Item], _End | None],
                                                                           None]) -> None:
        """Shared loop of the encode and head stages: hold items until ``need`` kept items
        (the first included) are queued or the stream ended, then process the first, in order."""
        inp, out = self.rings[stage], self.rings[STAGES[STAGES.index(stage) + 1]]
        pending: deque[Any] = deque()
        kept = 0
        end: _End | None = None
        while True:
            item = inp.get()
            if isinstance(item, _End):
                end = item
            else:
                pending.append(item)
                if isinstance(item, _Item):
                    kept += 1
            while pending:
                head = pending[0]
                if isinstance(head, _Dropped):
                    out.put(pending.popleft())
                    continue
                if kept < need and end is None:
                    break
                window = [x for x in pending if isinstance(x, _Item)][:need]
                started = time.monotonic()
                process(window, end)
                self._timed(stage, started, window[0])
                out.put(pending.popleft())
                kept -= 1
            if end is not None:
                out.put(end)
                return

    def _run_encode(self) -> None:
        s = self.flow_maps

        def process(window: list[_Item], end: _End | None) -> None:
            first = window[0]
            flows = stack_flows([x.flow for x in window], s, self.input_size, normalised=True)
            first.features = self.predictor.encode(first.frame, flows)
            # the window is complete when its last flow arrived, or when the stream ended
            first.flush = len(window) < s
            first.ready_at = end.at if first.flush else window[-1].captured  # type: ignore[union-attr]

        self._run_windowed("encode", s, process)

    def _run_head(self) -> None:
        state = self.predictor.initial_state()
        n = self.lookahead + 1

        def process(window: list[_Item], end: _End | None) -> None:
            nonlocal state
            first = window[0]
            feats = np.stack([x.features for x in window])
            saliency, state = self.predictor.head(feats, state)
            first.saliency = np.asarray(saliency, np.float32).reshape(self.input_size)
            ready = [x.ready_at for x in window]
            if len(window) < n and end is not None:
                ready.append(end.at)
                first.flush = True
            first.flush = first.flush or any(x.flush for x in window)
            first.ready_at = max(ready)

        self._run_windowed("head", n, process)

    def _run_qp(self) -> None:
        inp, out = self.rings["qp"], self.rings["sink"]
        mappers: dict[tuple[int, int], Callable[..., np.ndarray]] = {}
        while True:
            item = inp.get()
            if isinstance(item, _Item):
                started = time.monotonic()
                mapper = mappers.get(item.size)
                if mapper is None:
                    mappers.clear()
                    mapper = mappers[item.size] = self._qp_factory(item.size)
                planes = _coded_planes(item) if _wants_coded(mapper) else None
                if planes is not None:  # the bit shares from the luma the encoder codes
                    image = planes[0][0]
                else:
                    image = None if item.frame is None else item.frame.mean(axis=0)
                if planes is None or not getattr(mapper, "wants_planes", False):
                    item.offsets = np.asarray(mapper(item.saliency, image), np.float32)
                else:
                    item.offsets = np.asarray(mapper(item.saliency, image, planes[0],
                                                     planes[1]), np.float32)
                item.features = item.frame = item.flow = None
                self._timed("qp", started, item)
            out.put(item)
            if isinstance(item, _End):
                return

    def _run_sink(self) -> None:
        inp = self.rings["sink"]
        expected = 0
        while True:
            item = inp.get()
            if isinstance(item, _End):
                if expected != item.frames:
                    raise RuntimeError(f"frame accounting: {expected} records for {item.frames} frames")
                return
            if item.index != expected:
                raise RuntimeError(f"frame order: got record {item.index}, expected {expected}")
            expected += 1
            started = time.monotonic()
            if isinstance(item, _Dropped):
                for sink in self.sinks:
                    sink.write_dropped(item.index)
                self._timed("sink", started)
                self.stats.emitted(None)
                continue
            record = MapRecord(item.index, item.pts, item.size, item.saliency, item.offsets,
                               item.rgb, item.yuv)
            for sink in self.sinks:
                sink.write_map(record)
            now = time.monotonic()
            self.stats.stage_time("sink", now - started)
            self.stats.emitted(now - item.ready_at, item.service + (now - started), item.flush)
