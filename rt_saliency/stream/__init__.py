"""The streaming daemon: sources, ring buffers, pipeline stages, stats and sinks.

``open_source`` opens any input (file, RTSP, V4L2, stdin, ``synth://``) as a context manager that
yields :class:`Frame` objects; :class:`Pipeline` runs decode/resize -> flow -> encoder -> head ->
QP -> sinks in threads joined by :class:`RingBuffer` s; :class:`Daemon` assembles source,
predictor, flow, QP mapping, sinks and metrics from one :class:`DaemonOptions`.  See
``docs/stream.md``.
"""

from __future__ import annotations

from rt_saliency.stream.daemon import (
           Daemon,
           DaemonOptions,
           OutputOptions,
           PredictorOptions,
           SourceOptions,
)
from rt_saliency.stream.frames import Frame, StreamInfo
from rt_saliency.stream.pipeline import MapRecord, Pipeline
from rt_saliency.stream.ring import EndOfStream, RingBuffer
from rt_saliency.stream.sources import Source, open_source
from rt_saliency.stream.stats import StreamStats

__all__ = ["Daemon", "DaemonOptions", "EndOfStream", "Frame", "MapRecord", "OutputOptions",
           "Pipeline", "PredictorOptions", "RingBuffer", "Source", "SourceOptions", "StreamInfo",
           "StreamStats", "open_source"]
