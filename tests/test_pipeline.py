"""The pipeline: exact frame accounting, window/flow contracts, live drops, failures, drain."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from rt_saliency.errors import InputError, PipelineError
from rt_saliency.flow import FlowEstimator, stack_flows
from rt_saliency.qp import QPConfig, QPMapper
from rt_saliency.stream import open_source
from rt_saliency.stream.daemon import Daemon, DaemonOptions, OutputOptions, SourceOptions
from rt_saliency.stream.metrics_http import MetricsServer
from rt_saliency.stream.pipeline import MapRecord, Pipeline
from rt_saliency.stream.sinks import CollectSink, NdjsonSink


class LumaMotionPredictor:
    """A small, real StreamPredictor for tests (not a product backend): features are the
    frame's luminance and flow magnitude at 28x28; the head averages its window and blends in
    the previous map (the explicit state).  It records every call so tests can check them."""

    name = "test/luma-motion"
    input_size = (224, 224)
    flow_config = None

    def __init__(self, flow_maps: int = 3, lookahead: int = 2, delay_s: float = 0.0,
                 fail_at: int | None = None, record: bool = True) -> None:
        self.flow_maps, self.lookahead = flow_maps, lookahead
        self.record = record  # keeps every call's flows (1.2 MB a frame at S=3): short runs only
        self.delay_s, self.fail_at = delay_s, fail_at
        self.encoded: list[tuple[float, np.ndarray]] = []
        self.windows: list[list[float]] = []
        self.states: list[Any] = []

    def initial_state(self) -> Any:
        return None

    def encode(self, frame: np.ndarray, flows: np.ndarray) -> np.ndarray:
        assert frame.shape == (3, 224, 224) and frame.dtype == np.float32
        assert flows.shape == (2 * self.flow_maps, 224, 224)
        if self.delay_s:
            time.sleep(self.delay_s)
        luma = cv2.resize(frame.mean(axis=0), (28, 28), interpolation=cv2.INTER_AREA)
        motion = cv2.resize(np.hypot(flows[0], flows[1]), (28, 28), interpolation=cv2.INTER_AREA)
        if self.record:
            self.encoded.append((float(frame.mean()), flows))
        return np.stack([luma, motion]).astype(np.float32)

    def head(self, window: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        self.heads = getattr(self, "heads", 0) + 1
        if self.fail_at is not None and self.heads == self.fail_at + 1:
            raise ValueError("synthetic head failure")
        assert 1 <= window.shape[0] <= self.lookahead + 1
        if self.record:
            self.windows.append([float(w[0].mean()) for w in window])
            self.states.append(state)
        sal = window[:, 0].mean(axis=0) + window[:, 1].mean(axis=0)
        sal = cv2.GaussianBlur(sal, (5, 5), 0)
        if state is not None:
            sal = 0.5 * sal + 0.5 * state
        sal = (sal - sal.min()) / (np.ptp(sal) + 1e-6)
        return cv2.resize(sal, (224, 224), interpolation=cv2.INTER_CUBIC).clip(0, 1), sal

    def close(self) -> None:
        pass


def _clip(tmp: Path, ffmpeg_bin: str, frames: int, size: str, name: str = "clip.mkv") -> Path:
    path = tmp / name
    subprocess.run([ffmpeg_bin, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate=30", "-frames:v", str(frames), "-c:v", "ffv1",
                    str(path)], check=True, timeout=60)
    return path


def _run(spec: str, predictor: Any, **kwargs: Any) -> tuple[list[Any], Pipeline]:
    sink = CollectSink(keep_maps=False)
    with open_source(spec) as src:
        pipe = Pipeline(src, predictor, [sink], **kwargs)
        pipe.run()
    return sink.records, pipe


def test_every_frame_yields_one_record_in_order_with_source_grid(tmp_path: Path,
                                                                 ffmpeg_bin: str) -> None:
    clip = _clip(tmp_path, ffmpeg_bin, 41, "100x50")  # odd grid: ceil(50/16)=4, ceil(100/16)=7
    predictor = LumaMotionPredictor(flow_maps=3, lookahead=2)
    records, pipe = _run(str(clip), predictor)
    assert [r.index for r in records] == list(range(41))
    assert all(isinstance(r, MapRecord) and r.offsets.shape == (4, 7) for r in records)
    assert all(r.size == (50, 100) for r in records)
    assert [r.pts for r in records] == pytest.approx([i / 30 for i in range(41)], abs=1e-3)  # mkv: ms
    # the per-frame encoder ran exactly once per frame; the head once per frame
    assert len(predictor.encoded) == 41 and len(predictor.windows) == 41
    snap = pipe.stats.snapshot()
    assert snap["frames_in"] == snap["maps_out"] == 41 and snap["dropped"] == 0
    assert snap["algorithmic_delay"] == {"frames": 4, "ms": pytest.approx(4000 / 30, abs=1e-2)}
    assert snap["compute_latency"]["count"] == 41
    for stage in ("source", "resize", "flow", "encode", "head", "qp", "sink"):
        assert snap["stages"][stage]["count"] == 41, stage
    # unpaced file: the headline is the frame's own stage time; the backlog is queueing, apart
    service, queue = snap["service_latency"], snap["queueing"]
    assert service["measured_as"].startswith("unpaced") and service["count"] == 41
    stage_total = sum(snap["stages"][st]["total_s"]
                      for st in ("resize", "flow", "encode", "head", "qp", "sink"))
    assert snap["service_time"]["total_s"] == pytest.approx(stage_total, rel=1e-3, abs=1e-4)
    assert service["max_ms"] <= snap["compute_latency"]["max_ms"] + 1e-6
    assert queue["count"] == 41 - snap["flush_latency"]["count"] and queue["p50_ms"] >= 0
    assert 1 <= snap["flush_latency"]["count"] <= 4  # at most S+L-1 maps
    assert "service latency p50" in pipe.stats.table()


def test_windows_flows_and_state_follow_the_contract() -> None:
    s, lookahead, n = 3, 2, 9
    predictor = LumaMotionPredictor(flow_maps=s, lookahead=lookahead)
    records, _ = _run(f"synth://80x60?frames={n}&seed=5", predictor)
    assert len(records) == n
    # flows: frame t gets F^t .. F^{t+S-1} (F^0 zero, zeros past the end), computed on the
    # source frames exactly as the flow module does it
    with open_source(f"synth://80x60?frames={n}&seed=5") as src:
        frames = [f.rgb for f in src.frames()]
    est = FlowEstimator()
    pixel_flows = [None] + [est.compute(a, b) for a, b in zip(frames, frames[1:])]
    for t, (_, flows) in enumerate(predictor.encoded):
        expected = stack_flows(pixel_flows[t:t + s], s)
        np.testing.assert_allclose(flows, expected, atol=1e-6, err_msg=f"frame {t}")
    # head windows: frames t .. t+L, truncated at the end; features reused, not recomputed
    assert [len(w) for w in predictor.windows] == [min(lookahead + 1, n - t) for t in range(n)]
    luma = [w[0] for w in predictor.windows]  # the features of frame t, as the head saw them
    for t in range(n):
        assert predictor.windows[t] == pytest.approx(luma[t:t + lookahead + 1])
    assert len(predictor.encoded) == n
    # explicit state: None for frame 0, then whatever the previous call returned
    assert predictor.states[0] is None and all(st is not None for st in predictor.states[1:])


@pytest.mark.parametrize("n", [1, 2, 4])
def test_streams_shorter_than_the_window_flush_every_frame(n: int) -> None:
    predictor = LumaMotionPredictor(flow_maps=3, lookahead=2)
    records, _ = _run(f"synth://48x32?frames={n}", predictor)
    assert [r.index for r in records] == list(range(n))
    assert [len(w) for w in predictor.windows] == [min(3, n - t) for t in range(n)]
    assert len(predictor.encoded) == n


def test_a_failure_does_not_wait_for_a_source_blocked_on_an_idle_pipe() -> None:
    import os

    read_fd, write_fd = os.pipe()  # a writer that never writes (nor closes)
    try:
        with open(read_fd, "rb", buffering=0) as pipe_in:
            header = b"YUV4MPEG2 W16 H16 F30:1 C420jpeg\nFRAME\n" + bytes(16 * 16 * 3 // 2)
            os.write(write_fd, header)
            with open_source("-", stdin=pipe_in) as src:
                pipe = Pipeline(src, LumaMotionPredictor(fail_at=0, lookahead=0, flow_maps=1),
                                [CollectSink()], abort_grace_s=0.5)
                start = time.monotonic()
                with pytest.raises(PipelineError, match="stage 'head'"):
                    pipe.run()
                assert time.monotonic() - start < 5
                assert any(t.is_alive() for t in pipe._threads)  # the reader is still blocked
                os.close(write_fd)  # EOF: the reader wakes up and its thread ends
                write_fd = -1
                for thread in pipe._threads:
                    thread.join(5)
    finally:
        if write_fd >= 0:
            os.close(write_fd)


def test_live_overload_drops_oldest_counts_and_records_every_drop() -> None:
    # a paced 200 fps live source into a consumer that needs 15 ms a frame (~66 fps)
    predictor = LumaMotionPredictor(flow_maps=2, lookahead=1, delay_s=0.015)
    records, pipe = _run("synth://64x48?frames=120&fps=200&live=1", predictor, ring_size=2)
    assert [r.index if isinstance(r, MapRecord) else r for r in records] == list(range(120))
    dropped = [r for r in records if isinstance(r, int)]
    snap = pipe.stats.snapshot()
    assert len(dropped) > 20 and snap["dropped"] == len(dropped)
    assert snap["queues"]["resize"]["drops"] == len(dropped)
    assert snap["maps_out"] + snap["dropped"] == 120
    assert len(predictor.encoded) == 120 - len(dropped)
    # paced: the headline is what the real-time source sees, end to end
    assert snap["service_latency"]["measured_as"].startswith("paced")
    # the steady state: the maps whose windows the end of the stream closed are reported apart
    flush = snap["flush_latency"]["count"]
    assert 1 <= flush <= 2 and snap["service_latency"]["count"] == snap["maps_out"] - flush
    assert snap["compute_latency"]["count"] == snap["maps_out"]
    assert snap["service_latency"]["p50_ms"] >= 15.0  # the head alone sleeps 15 ms a frame


def test_files_never_drop_even_when_slow(tmp_path: Path, ffmpeg_bin: str) -> None:
    clip = _clip(tmp_path, ffmpeg_bin, 20, "64x48")
    predictor = LumaMotionPredictor(flow_maps=2, lookahead=1, delay_s=0.01)
    records, pipe = _run(str(clip), predictor, ring_size=1)
    assert [r.index for r in records] == list(range(20))
    assert pipe.stats.snapshot()["dropped"] == 0


def test_a_failing_stage_stops_the_pipeline_with_its_error() -> None:
    predictor = LumaMotionPredictor(fail_at=4)
    start = time.monotonic()
    with pytest.raises(PipelineError, match="stage 'head' failed: ValueError") as info:
        _run("synth://64x48?frames=0", predictor)  # endless source: must not hang
    assert isinstance(info.value.__cause__, ValueError) and info.value.stage == "head"
    assert time.monotonic() - start < 10


def test_a_failing_source_stops_the_pipeline_with_its_error() -> None:
    import io

    data = io.BytesIO(bytes(16 * 16 * 3 * 5 + 7))  # five frames and a torn sixth
    with open_source("-", input_format="rawvideo", size=(16, 16), stdin=data) as src:
        pipe = Pipeline(src, LumaMotionPredictor(), [CollectSink()])
        with pytest.raises(PipelineError, match="stage 'source'") as info:
            pipe.run()
    assert isinstance(info.value.__cause__, InputError)


def test_stop_drains_and_flushes_the_tail(tmp_path: Path) -> None:
    out = tmp_path / "maps.ndjson"
    sink = NdjsonSink(out)
    with open_source("synth://64x48?frames=0&fps=100&live=1") as src:
        pipe = Pipeline(src, LumaMotionPredictor(flow_maps=3, lookahead=2), [sink])
        threading.Timer(0.4, pipe.stop).start()
        pipe.run()
    sink.close()
    lines = out.read_text().splitlines()
    from rt_saliency.qp import read_ndjson

    recs = list(read_ndjson(out))
    assert len(lines) == pipe.stats.frames_in > 5
    assert [r["frame"] for r in recs] == list(range(len(recs)))
    assert all(r["rows"] == 3 and r["cols"] == 4 for r in recs if not r.get("dropped"))


def test_metrics_endpoint_serves_prometheus_text_on_localhost() -> None:
    predictor = LumaMotionPredictor()
    with open_source("synth://64x48?frames=10") as src:
        pipe = Pipeline(src, predictor, [])
        with MetricsServer(pipe.stats, 0) as server:
            assert server.host == "127.0.0.1"
            pipe.run()
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics",
                                        timeout=5) as resp:
                body = resp.read().decode()
                assert resp.headers["Content-Type"].startswith("text/plain")
    assert "rt_saliency_maps_total 10" in body
    assert 'rt_saliency_stage_time_ms{stage="encode",quantile="99"}' in body
    assert "rt_saliency_algorithmic_delay_frames 4" in body


@pytest.mark.slow
def test_vtest_avi_every_frame_accounted(vtest_avi: Path) -> None:
    predictor = LumaMotionPredictor(flow_maps=3, lookahead=1)
    records, pipe = _run(str(vtest_avi), predictor)
    assert [r.index for r in records] == list(range(795))
    assert records[0].offsets.shape == (36, 48)  # 576/16, 768/16


def test_the_qp_stage_hands_the_mapper_the_planes_an_encoder_codes(tmp_path: Path,
                                                                  ffmpeg_bin: str) -> None:
    """With an encoder sink (keep_rgb) and a mapper that prices an AQ change, a decoded YUV
    file's own planes reach the mapper (docs/qp.md); a synthetic RGB source's BT.601
    limited-range luma; without an encoder sink nothing."""
    seen: list[Any] = []

    def factory(size: tuple[int, int]) -> Any:
        mapper = QPMapper(size, QPConfig(aq_strength=0.25).for_codec("h264", 23.0))

        def call(saliency: np.ndarray, image: np.ndarray | None = None,
                 planes: tuple[np.ndarray, ...] | None = None, bit_depth: int = 8) -> np.ndarray:
            seen.append((None if planes is None else [p.shape for p in planes], bit_depth))
            return mapper(saliency, image, planes, bit_depth)
        call.wants_planes = mapper.wants_planes  # type: ignore[attr-defined]
        return call

    clip = tmp_path / "yuv.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=30", "-frames:v", "4", "-pix_fmt", "yuv420p",
                    "-c:v", "ffv1", str(clip)], check=True, timeout=60)
    _run(str(clip), LumaMotionPredictor(), qp_factory=factory, keep_rgb=True)
    assert seen and all(s == ([(48, 64), (24, 32), (24, 32)], 8) for s in seen)
    seen.clear()
    _run("synth://64x48?frames=4", LumaMotionPredictor(), qp_factory=factory, keep_rgb=True)
    assert seen and all(s == ([(48, 64)], 8) for s in seen)
    seen.clear()
    _run(str(clip), LumaMotionPredictor(), qp_factory=factory)
    assert seen and all(s == (None, 8) for s in seen)
    # a mapping with no AQ change to price (the codec's own AQ) does not even prepare them
    assert not QPMapper((48, 64), QPConfig(aq_strength=None).for_codec("h264", 23.0)).wants_planes


def test_rate_centring_takes_its_bit_shares_from_the_coded_luma(tmp_path: Path,
                                                                 vtest_avi: Path) -> None:
    """With an encoder sink the QP stage prices blocks by the luma the encoder codes, at the
    frame's size, as ``compare`` (and the fit of the rate constants) does: the daemon's
    offsets equal a mapper fed each frame's Y plane.  Without one (maps alone) it falls back
    on the network's input, which gives other offsets."""
    def run(output: str | None) -> list[MapRecord]:
        sink = CollectSink()
        options = DaemonOptions(SourceOptions(str(vtest_avi)), max_frames=8,
                                outputs=OutputOptions(output=output))
        with Daemon(options, predictor=LumaMotionPredictor(record=False),
                    sinks=[lambda info: sink]) as daemon:
            daemon.run()
        return [r for r in sink.records if isinstance(r, MapRecord)]

    encoded = run(str(tmp_path / "out.mkv"))
    assert len(encoded) == 8 and all(r.yuv is not None for r in encoded)
    mapper = QPMapper(encoded[0].size, QPConfig().for_codec("h264", 23.0))
    assert mapper.wants_planes  # the default prices x264's AQ strength 0.25 under the map
    for record in encoded:
        planes = tuple(record.yuv.planes)
        expected = mapper(record.saliency, planes[0].astype(np.float32) / 255.0, planes)
        np.testing.assert_allclose(record.offsets, expected, atol=1e-4)
    maps_only = run(None)
    assert max(float(np.abs(a.offsets - b.offsets).max())
               for a, b in zip(encoded[1:], maps_only[1:])) > 0.01
