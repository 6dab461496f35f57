"""Stream statistics: per-stage timings, queue depths, drops, fps and the two latencies.

* **algorithmic delay**: frames a map must wait for by construction -- frame t needs flows up to
  t+S-1 and head features up to t+L, so its window is complete when frame t+S+L-1 has arrived:
  ``S + L - 1`` frame periods (``docs/stream.md`` explains why DESIGN.md's ``S + L`` counts one
  more).
* **end-to-end latency** (``compute_latency``): wall time from the moment a frame's window is
  complete (the source handed over frame t+S+L-1, or the stream ended) to the moment its map is
  emitted by the sinks.  It includes queueing: a file read faster than real time piles frames up
  in the rings, and this number then measures the backlog, not the pipeline.
* **service time**: the sum of one frame's own stage times (resize, flow, encode, head, qp,
  sink) -- what the frame costs with no queue in front of it.
* **service latency** (the headline): what a real-time source sees.  In a paced run (a live
  source, or a file played at its fps with ``--live``/``--realtime``) it is the end-to-end
  latency of the steady state; in an unpaced run it is the service time.  **queueing** =
  end-to-end - service time, reported apart.
* **flush latency**: the last S + L - 1 maps of a stream have windows that the *end* of the
  stream completes, all at once, so they wait for each other; they are counted in the
  end-to-end latency but reported apart from the paced service latency (they say how long the
  end of a stream takes to drain, not what a running source sees).

Samples are kept in bounded windows (the most recent :data:`SAMPLES` per series), so memory stays
flat however long the stream runs; counts and totals cover the whole run.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.atomic import write_text
from rt_saliency.stream.ring import RingBuffer

#: samples kept per series for percentiles
SAMPLES = 4096


class Series:
    """A counter plus a bounded window of timing samples (seconds)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self._samples: deque[float] = deque(maxlen=SAMPLES)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self._samples.append(seconds)

    def samples(self) -> list[float]:
        """The most recent samples (seconds), oldest first; at most :data:`SAMPLES`."""
        return list(self._samples)

    def summary(self) -> dict[str, Any]:
        """count, total seconds and mean/p50/p95/p99/max in milliseconds."""
        out: dict[str, Any] = {"count": self.count, "total_s": round(self.total, 6)}
        samples = np.fromiter(tuple(self._samples), dtype=np.float64)
        if samples.size:
            p50, p95, p99 = np.percentile(samples, [50, 95, 99]) * 1e3
            out.update(mean_ms=round(float(samples.mean() * 1e3), 3), p50_ms=round(float(p50), 3),
                       p95_ms=round(float(p95), 3), p99_ms=round(float(p99), 3),
                       max_ms=round(float(samples.max() * 1e3), 3))
        return out


class StreamStats:
    """Everything the pipeline measures; thread-safe; snapshot as a dict, table or Prometheus."""

    def __init__(self, *, flow_maps: int, lookahead: int, fps: float | None, backend: str,
                 source: str, live: bool, counters: Callable[[], Mapping[str, int]] | None = None,
                 rings: Mapping[str, RingBuffer] | None = None,
                 paced: bool | None = None) -> None:
        """``counters``: the source's event counters (``Source.counters``), read at each
        snapshot; ``rings``: the pipeline's ring buffers, whose depths the snapshot reports;
        ``paced``: frames arrive at their own rate (default: when ``live``; a recorded input
        read with ``--realtime`` is paced without being live)."""
        self._lock = threading.Lock()
        self.flow_maps = flow_maps
        self.lookahead = lookahead
        self.fps = fps
        self.backend = backend
        self.source = source
        self.live = live
        self.paced = live if paced is None else paced
        self.stages: dict[str, Series] = {}
        self.rings: dict[str, RingBuffer] = dict(rings or {})
        self._counters = counters or dict
        self.latency = Series()
        self.service = Series()
        self.queueing = Series()
        #: end-to-end latency of the maps whose windows were not closed by the end of the stream
        self.steady = Series()
        #: ... and of those that were (the end-of-stream flush)
        self.flush = Series()
        self.frames_in = 0
        self.maps_out = 0
        self.dropped_out = 0
        self.started = time.monotonic()
        self.ended: float | None = None

    @property
    def algorithmic_delay_frames(self) -> int:
        return self.flow_maps + self.lookahead - 1

    def stage_time(self, stage: str, seconds: float) -> None:
        with self._lock:
            series = self.stages.get(stage)
            if series is None:
                series = self.stages[stage] = Series()
            series.add(seconds)

    def emitted(self, latency_s: float | None, service_s: float | None = None,
                flush: bool = False) -> None:
        """One record out: a map with its end-to-end latency (and service time), or a drop.
        ``flush``: the map's window was completed by the end of the stream."""
        with self._lock:
            if latency_s is None:
                self.dropped_out += 1
            else:
                self.maps_out += 1
                self.latency.add(latency_s)
                (self.flush if flush else self.steady).add(latency_s)
                if service_s is not None:
                    self.service.add(service_s)
                    if not flush:  # the flush's maps queue behind each other by construction
                        self.queueing.add(max(latency_s - service_s, 0.0))

    def _service_latency(self) -> dict[str, Any]:
        if self.paced:
            if self.steady.count:
                return {**self.steady.summary(), "measured_as":
                        "paced run: window complete to map emitted (queueing included; the "
                        "end-of-stream flush left out)"}
            return {**self.latency.summary(), "measured_as":
                    "paced run: window complete to map emitted (every map is in the "
                    "end-of-stream flush)"}
        return {**self.service.summary(), "measured_as":
                "unpaced run: sum of the frame's stage times (no queueing)"}

    def finish(self) -> None:
        self.ended = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole run so far."""
        with self._lock:
            now = self.ended if self.ended is not None else time.monotonic()
            wall = max(now - self.started, 1e-9)
            records = self.maps_out + self.dropped_out
            delay_frames = self.algorithmic_delay_frames
            counters = self._counters()
            return {
                "source": self.source,
                "live": self.live,
                "paced": self.paced,
                "backend": self.backend,
                "flow_maps": self.flow_maps,
                "lookahead": self.lookahead,
                "nominal_fps": self.fps,
                "wall_s": round(wall, 3),
                "frames_in": self.frames_in,
                "maps_out": self.maps_out,
                "dropped": self.dropped_out,
                "records_out": records,
                "fps": round(records / wall, 3),
                "maps_fps": round(self.maps_out / wall, 3),
                "algorithmic_delay": {
                    "frames": delay_frames,
                    "ms": round(1e3 * delay_frames / self.fps, 3) if self.fps else None,
                },
                "service_latency": self._service_latency(),
                "service_time": self.service.summary(),
                "queueing": self.queueing.summary(),
                "flush_latency": self.flush.summary(),
                "compute_latency": self.latency.summary(),
                "stages": {name: s.summary() for name, s in self.stages.items()},
                "queues": {
                    name: {"depth": ring.depth, "max_depth": ring.max_depth,
                           "max_held_bytes": ring.max_bytes_held, "max_bytes": ring.max_bytes,
                           "capacity": ring.capacity, "policy": ring.policy, "drops": ring.drops}
                    for name, ring in self.rings.items()
                },
                "reconnects": counters.get("reconnects", 0),
                "reconnect_attempts": counters.get("reconnect_attempts", 0),
                "decode_errors": counters.get("decode_errors", 0),
            }

    def write_json(self, path: str | Path) -> None:
        """The snapshot as JSON at ``path``, atomically (OutputError on failure, an earlier
        file kept)."""
        write_text(path, json.dumps(self.snapshot(), indent=2) + "\n")

    def table(self) -> str:
        """A human-readable summary for the end of a run."""
        snap = self.snapshot()
        lines = [
            f"source {snap['source']}  backend {snap['backend']}  S={self.flow_maps} "
            f"L={self.lookahead}  live={snap['live']}",
            f"frames in {snap['frames_in']}  maps {snap['maps_out']}  dropped {snap['dropped']}  "
            f"{snap['fps']:.2f} fps over {snap['wall_s']:.2f} s  reconnects {snap['reconnects']}",
        ]
        delay = snap["algorithmic_delay"]
        delay_ms = f" = {delay['ms']:.1f} ms" if delay["ms"] is not None else ""
        nan = float("nan")
        svc, queue, e2e = snap["service_latency"], snap["queueing"], snap["compute_latency"]
        lines.append(f"service latency p50 {svc.get('p50_ms', nan):.1f} ms  "
                     f"p99 {svc.get('p99_ms', nan):.1f} ms ({svc['measured_as']})")
        lines.append(f"algorithmic delay {delay['frames']} frames{delay_ms}; queueing "
                     f"p50 {queue.get('p50_ms', nan):.1f} ms  p99 {queue.get('p99_ms', nan):.1f} ms; "
                     f"end-to-end p50 {e2e.get('p50_ms', nan):.1f} ms  "
                     f"p99 {e2e.get('p99_ms', nan):.1f} ms")
        flush = snap["flush_latency"]
        if flush["count"]:
            lines.append(f"end-of-stream flush {flush['count']} maps, p50 "
                         f"{flush.get('p50_ms', nan):.1f} ms  max {flush.get('max_ms', nan):.1f} ms")
        lines.append(f"{'stage':<10}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
                     f"{'queue max':>11}{'drops':>7}")
        for name, summary in snap["stages"].items():
            queue = snap["queues"].get(name, {})
            lines.append(
                f"{name:<10}{summary['count']:>8}{summary.get('p50_ms', float('nan')):>10.2f}"
                f"{summary.get('p95_ms', float('nan')):>10.2f}"
                f"{summary.get('p99_ms', float('nan')):>10.2f}"
                f"{queue.get('max_depth', 0):>11}{queue.get('drops', 0):>7}")
        return "\n".join(lines)

    def prometheus(self) -> str:
        """The snapshot in Prometheus text exposition format (version 0.0.4)."""
        snap = self.snapshot()
        out: list[str] = []

        def metric(name: str, kind: str, help_text: str, rows: list[tuple[str, Any]]) -> None:
            out.append(f"# HELP rt_saliency_{name} {help_text}")
            out.append(f"# TYPE rt_saliency_{name} {kind}")
            for labels, value in rows:
                if value is None:
                    continue
                out.append(f"rt_saliency_{name}{labels} {float(value):g}")

        metric("frames_in_total", "counter", "Frames read from the source.",
               [("", snap["frames_in"])])
        metric("maps_total", "counter", "Maps emitted.", [("", snap["maps_out"])])
        metric("dropped_total", "counter", "Frames dropped under overload.",
               [("", snap["dropped"])])
        metric("reconnects_total", "counter", "Successful source reconnections.",
               [("", snap["reconnects"])])
        metric("fps", "gauge", "Records emitted per second over the run.", [("", snap["fps"])])
        metric("algorithmic_delay_frames", "gauge", "Frames a map waits for (S+L-1).",
               [("", snap["algorithmic_delay"]["frames"])])
        for key, help_text in (
            ("service_latency", "What a real-time source sees (paced: end to end; unpaced: "
                                "the frame's stage times)."),
            ("queueing", "End-to-end latency minus the frame's stage times."),
            ("compute_latency", "Window complete to map emitted (queueing included)."),
        ):
            lat = snap[key]
            metric(f"{key}_ms", "gauge", help_text,
                   [(f'{{quantile="{q}"}}', lat.get(f"p{q}_ms")) for q in ("50", "95", "99")])
        rows: list[tuple[str, Any]] = []
        counts: list[tuple[str, Any]] = []
        for name, summary in snap["stages"].items():
            counts.append((f'{{stage="{name}"}}', summary["count"]))
            for q in ("50", "95", "99"):
                rows.append((f'{{stage="{name}",quantile="{q}"}}', summary.get(f"p{q}_ms")))
        metric("stage_items_total", "counter", "Items processed per stage.", counts)
        metric("stage_time_ms", "gauge", "Per-item processing time per stage.", rows)
        metric("queue_depth", "gauge", "Items waiting in each ring buffer.",
               [(f'{{queue="{n}"}}', q["depth"]) for n, q in snap["queues"].items()])
        metric("queue_drops_total", "counter", "Items dropped by each ring buffer.",
               [(f'{{queue="{n}"}}', q["drops"]) for n, q in snap["queues"].items()])
        return "\n".join(out) + "\n"
