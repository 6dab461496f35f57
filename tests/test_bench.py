"""The benchmark harness on tiny settings: real model, real ONNX Runtime, real pipeline and real
child processes, sized so the whole file runs in well under a minute.  These tests check that
the results are well formed and consistent, never how fast anything is."""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from rt_saliency.bench.batching import bench_batching
from rt_saliency.bench.floor import ConvShape, floor_ratio, measure_floor
from rt_saliency.bench.model_bench import PAPER_ROW, bench_shipped
from rt_saliency.bench.multistream import bench_multistream
from rt_saliency.bench.peer import bench_peer
from rt_saliency.bench.pipeline_bench import StreamSetup, bench_realtime, pipeline_row
from rt_saliency.bench.rate_neutrality import Clip, default_encoder, neutrality, zero_crossing
from rt_saliency.bench.report import render_markdown, validate_results
from rt_saliency.bench.suite import BenchConfig, run_suite
from rt_saliency.bench.timing import PeakMemory, summarize, time_calls
from rt_saliency.errors import ConfigError, InputError
from rt_saliency.model import pretrained
from rt_saliency.qp import QPConfig

REPO = Path(__file__).resolve().parents[1]

#: a ~0.1 GMAC network: same graph structure as TP-CMRNet, narrow widths
TINY = (
    ("stage_widths", (8, 8)),
    ("stem_channels", 8),
    ("channels", 8),
    ("attention_hidden", 8),
    ("lstm_channels", 8),
    ("ae_channels", (8, 8, 8)),
    ("decoder_channels", (4,)),
)
TINY_SHAPES = (ConvShape("tiny3x3", channels=8, size=16, kernel=3, depth=2),)


def test_summarize_percentiles_in_ms() -> None:
    stats = summarize([0.001 * i for i in range(1, 101)])
    assert stats["n"] == 100
    assert stats["min_ms"] == pytest.approx(1.0)
    assert stats["max_ms"] == pytest.approx(100.0)
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"] <= stats["max_ms"]
    assert summarize([]) == {"n": 0}


def test_time_calls_counts_warmup_apart_and_checks_arguments() -> None:
    calls = []
    samples = time_calls(lambda: calls.append(1), warmup=2, iters=5)
    assert len(samples) == 5 and len(calls) == 7
    assert all(s >= 0 for s in samples)
    with pytest.raises(ConfigError):
        time_calls(lambda: None, warmup=0, iters=0)


def test_peak_memory_sees_a_large_allocation() -> None:
    import numpy as np

    with PeakMemory() as small:
        pass
    with PeakMemory() as big:
        block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
        block.sum()
        del block
    assert small.peak_mib is not None and big.peak_mib is not None
    assert big.peak_mib >= small.peak_mib + 32  # the 64 MiB block shows (allow for noise)


def test_floor_measures_torch_and_onnxruntime() -> None:
    floor = measure_floor(threads=1, warmup=1, iters=3, shapes=TINY_SHAPES, gemm_n=64)
    backends = {r["backend"] for r in floor["rows"]}
    assert backends == {"torch", "onnxruntime", "onnxruntime-int8"}
    assert any(r["shape"] == "gemm_64" for r in floor["rows"])
    for row in floor["rows"]:
        assert row["gmac_per_s"] > 0 and row["n"] >= 1
    best = max(r["gmac_per_s"] for r in floor["rows"]
               if not r["shape"].startswith("gemm") and r["backend"] != "onnxruntime-int8")
    assert floor["floor_conv_macs_per_s"] == pytest.approx(best * 1e9)
    best_int8 = max(r["gmac_per_s"] for r in floor["rows"] if r["backend"] == "onnxruntime-int8")
    assert floor["floor_conv_int8_macs_per_s"] == pytest.approx(best_int8 * 1e9)
    # 1 GMAC at 1 GMAC/s takes 1 s: a model taking 3 s is 3x the floor
    assert floor_ratio(3.0, 10**9, 1e9) == pytest.approx(3.0)


def _minimal_results(rows: list[dict]) -> dict:
    return {"meta": {"budget_ms": 41.0, "machine": {}}, "floor": {}, "paper": {
        "params_m": 4.9, "time_s": 0.041, "hardware": "n/a"}, "rows": rows, "skipped": []}


def test_report_refuses_rows_without_an_answer() -> None:
    with pytest.raises(InputError, match="under_41ms"):
        validate_results(_minimal_results([{"section": "model", "name": "x"}]))
    with pytest.raises(InputError, match="true/false"):
        validate_results(_minimal_results([{"section": "model", "name": "x", "under_41ms": None,
                                            "under_41ms_rule": "r"}]))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One run of the whole suite on a tiny network and tiny inputs (the --quick code paths)."""
    out = tmp_path_factory.mktemp("bench")
    config = BenchConfig(
        quick=True,
        threads=1,
        floor_iters=2,
        floor_warmup=1,
        floor_shapes=TINY_SHAPES,
        floor_gemm=64,
        model_variants=("tpcmrnet", "tpcmrnet_s3"),
        model_timed=("tpcmrnet",),
        model_backends=("torch", "onnxruntime"),
        model_iters=2,
        model_warmup=1,
        pipeline_resolutions=("160x96", "200x120"),
        pipeline_flow_maps=(3,),
        pipeline_lookaheads=(0, 1),
        pipeline_frames=6,
        profiles=(StreamSetup(flow_maps=3, lookahead=0, threads=1),),
        profile_resolution="160x96",
        profile_frames=4,
        scaling_streams=(1, 2),
        scaling_resolution="160x96",
        scaling_frames=4,
        overrides=TINY,
    )
    config.scaling_setup = StreamSetup(flow_maps=3, lookahead=1)
    results = run_suite(config, out, command="pytest tiny run")
    return results, out


def test_tiny_run_writes_json_markdown_and_plots(tiny_run: tuple[dict, Path]) -> None:
    results, out = tiny_run
    assert results["skipped"] == [], results["skipped"]
    on_disk = json.loads((out / "results.json").read_text())
    validate_results(on_disk)
    for row in on_disk["rows"]:
        assert isinstance(row["under_41ms"], bool) and row["under_41ms_rule"]
    for png in ("latency_hist.png", "stages.png", "scaling.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    report = (out / "report.md").read_text()
    for heading in ("Hardware floor", "Model:", "Streaming pipeline", "Scaling"):
        assert heading in report
    assert "pytest tiny run" in report


def test_tiny_run_model_rows(tiny_run: tuple[dict, Path]) -> None:
    rows = [r for r in tiny_run[0]["rows"] if r["section"] == "model"]
    timed = {(r["name"], r["backend"]) for r in rows if r.get("backend")}
    assert timed == {("tpcmrnet", "torch"), ("tpcmrnet", "onnxruntime")}
    cost_only = [r for r in rows if r["name"] == "tpcmrnet_s3"]
    assert len(cost_only) == 1 and cost_only[0]["backend"] is None
    for row in rows:
        assert row["params"] > 0
        assert row["macs"] == row["macs_encoder"] + row["macs_head_window"]
        if row["backend"]:
            assert row["frame_p50_ms"] == pytest.approx(
                row["encoder"]["p50_ms"] + row["head"]["p50_ms"])
            assert isinstance(row["under_41ms"], bool)
            assert row["floor_ratio"] > 0


def test_tiny_run_pipeline_rows_account_for_every_frame(tiny_run: tuple[dict, Path]) -> None:
    rows = [r for r in tiny_run[0]["rows"] if r["section"] == "pipeline"]
    network = [r for r in rows if r["backend"] == "onnxruntime"]
    assert {(r["width"], r["height"], r["lookahead"]) for r in network} == {
        (160, 96, 0), (200, 120, 0), (160, 96, 1), (200, 120, 1)}
    prior = [r for r in rows if r["backend"] == "prior"]
    assert [(r["width"], r["lookahead"]) for r in prior] == [(160, 0), (200, 0)]
    assert all(r["name"].endswith("prior") and "macs" not in r for r in prior)
    for row in rows:
        assert row["frames"] == 6 and row["maps"] + row["dropped"] == 6
        assert {"resize", "flow", "encode", "head", "qp"} <= set(row["stages"])
        assert row["stages"]["encode"]["count"] == 6
        assert row["algorithmic_delay_frames"] == row["flow_maps"] + row["lookahead"] - 1
        assert row["fps"] > 0 and row["ms_per_frame"] == pytest.approx(1000 / row["fps"])
        assert row["latency"]["p50_ms"] > 0 and row["latency_samples_ms"]
        assert row["peak_mib"] > 0
        assert isinstance(row["under_41ms"], bool) and row["under_41ms_rule"]


def test_tiny_run_profile_row_keeps_its_own_threads(tiny_run: tuple[dict, Path]) -> None:
    rows = [r for r in tiny_run[0]["rows"] if r["section"] == "profile"]
    assert len(rows) == 1
    assert rows[0]["name"].startswith("fast[0] 160x96 S3 L0")
    assert rows[0]["threads"] == 1 and rows[0]["frames"] == 4
    assert rows[0]["macs"] > 0


def test_tiny_run_scaling_rows(tiny_run: tuple[dict, Path]) -> None:
    rows = sorted((r for r in tiny_run[0]["rows"] if r["section"] == "scaling"),
                  key=lambda r: r["streams"])
    assert [r["streams"] for r in rows] == [1, 2]
    for row in rows:
        assert row["frames_per_stream"] == 4
        assert row["aggregate_fps"] > 0 and row["per_stream_fps"] > 0
        # pooled paced samples: at least one map per stream
        assert row["latency"]["n"] >= row["streams"]


def test_run_script_rejects_bad_threads() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--out", "x",
                           "--threads", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--threads must be >= 1" in proc.stderr


@pytest.mark.parametrize(("fps", "p50_ms", "keeps_up", "latency_ok"), [
    (30.0, 20.0, True, True),    # 33.3 ms a frame, 20 ms latency
    (25.0, 41.0, True, True),    # 40 ms a frame; 41 ms is inside the budget
    (24.0, 20.0, False, True),   # 41.7 ms a frame: falls behind
    (60.0, 41.5, True, False),   # keeps up, but a frame takes longer than 41 ms to come out
    (0.0, None, False, False),   # nothing measured is never a pass
])
def test_pipeline_row_verdict_on_known_rows(fps: float, p50_ms: float | None, keeps_up: bool,
                                            latency_ok: bool) -> None:
    snap = {"fps": fps, "compute_latency": {} if p50_ms is None else {"p50_ms": p50_ms},
            "frames_in": 10, "maps_out": 10}
    row = pipeline_row(snap, StreamSetup(), "360p", (640, 360))
    assert row["keeps_up_41ms"] is keeps_up
    assert row["latency_p50_under_41ms"] is latency_ok
    assert row["under_41ms"] is (keeps_up and latency_ok)


def test_the_shipped_weights_are_timed_as_served() -> None:
    """Rows for the trained weights the stream serves: FP32 graphs and the shipped INT8 encoder,
    well-formed for the report."""
    rows, skipped = bench_shipped(threads=1, warmup=1, iters=2, floor_macs_per_s=1e11)
    has_openvino = importlib.util.find_spec("openvino") is not None
    # the same graph files on OpenVINO where it is installed, a skipped line where not
    assert [r["backend"] for r in rows] == (
        ["onnxruntime", "openvino", "onnxruntime-int8", "openvino-int8"] if has_openvino
        else ["onnxruntime", "onnxruntime-int8"])
    assert [s["reason"].split(":")[0] for s in skipped] == ([] if has_openvino
                                                           else ["shipped/openvino"])
    for row in rows:
        assert row["name"] == "tpcmrnet-gaze (shipped)" and row["frame_p50_ms"] > 0
        assert row["encoder"]["p50_ms"] > 0 and row["head"]["p50_ms"] > 0
        assert row["floor_ratio"] > 0 and isinstance(row["under_41ms"], bool)
    results = {"meta": {}, "floor": {}, "paper": PAPER_ROW, "rows": rows, "skipped": []}
    validate_results(results)
    assert "tpcmrnet-gaze (shipped)" in render_markdown(results, {})


class _TinyPeer(torch.nn.Module):
    """A small recurrent network shaped like a peer's graph: frame and state in, map and state
    out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.gate = torch.nn.Conv2d(16, 8, 3, padding=1)

    def forward(self, frame: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.conv(frame))
        h1 = torch.tanh(self.gate(torch.cat([x, h0], 1)))
        return torch.sigmoid(h1.mean(1, keepdim=True)), h1


def _tiny_peer() -> tuple[torch.nn.Module, dict[str, tuple[int, ...]], tuple[str, ...]]:
    torch.manual_seed(0)
    return _TinyPeer().eval(), {"frame": (1, 3, 64, 96), "h0": (1, 8, 16, 24)}, ("map", "h1")


def test_the_peer_is_timed_beside_the_shipped_network_in_the_same_rounds() -> None:
    rows, skipped = bench_peer(_tiny_peer, label="tiny peer", threads=1, warmup=1, iters=2,
                               rounds=2, floor_macs_per_s=1e11)
    assert skipped == []
    shipped = [n for n in pretrained.PRETRAINED if pretrained.is_available(n)]
    assert "tpcmrnet-gaze" in shipped
    assert [(r["name"], r["precision"]) for r in rows] == [
        ("tiny peer", "fp32"), ("tiny peer", "int8"),
        *[(name, p) for name in shipped for p in ("fp32", "int8")]]
    peer_macs = 8 * 3 * 9 * 16 * 24 + 8 * 16 * 9 * 16 * 24  # the two convolutions' MACs
    assert rows[0]["macs"] == rows[1]["macs"] == peer_macs
    for row in rows:
        assert len(row["round_p50_ms"]) == 2 and row["frame"]["n"] == 4
    for row in rows[2:]:
        want = [a / b for a, b in zip(row["round_p50_ms"],
                                      rows[0 if row["precision"] == "fp32" else 1]["round_p50_ms"])]
        assert row["vs_peer_rounds"] == pytest.approx(want)
        assert row["vs_peer"] > 1  # 0.9 to 4.3 GMAC against a few MMAC
        assert row["macs"] > peer_macs
    results = {"meta": {}, "floor": {}, "paper": PAPER_ROW, "rows": rows, "skipped": []}
    validate_results(results)
    assert "tiny peer (peer)" in render_markdown(results, {})


def test_realtime_rows_run_the_daemon_as_served_on_a_live_source() -> None:
    rows = bench_realtime(resolutions=("160x96",), frames=20, fps=30.0)
    (row,) = rows
    assert row["backend"] == "tpcmrnet/onnxruntime-int8" and (row["width"], row["height"]) == (160, 96)
    assert row["maps"] + row["dropped"] == row["frames"] == 20
    assert 100 < row["peak_mib"] < 4000  # the child's own peak, not this process's
    # the end-of-stream flush (last S+L-1 maps) is reported apart from the service latency
    assert row["flush_latency"]["count"] + row["service_latency"]["count"] == row["maps"]
    assert row["under_41ms"] is (row["dropped"] == 0 and row["fps"] >= 25
                                 and row["service_latency"]["p99_ms"] <= 41.0)
    results = {"meta": {}, "floor": {}, "paper": PAPER_ROW, "rows": rows, "skipped": []}
    validate_results(results)
    assert "Real time" in render_markdown(results, {})


def test_batching_rows_compare_time_per_frame_with_batch_one() -> None:
    rows, skipped = bench_batching(batches=(1, 2), precisions=("fp32",), threads=1, warmup=1,
                                   iters=2, rounds=2)
    assert skipped == [] and [(r["batch"], r["precision"]) for r in rows] == [(1, "fp32"),
                                                                              (2, "fp32")]
    one, two = rows
    assert one["vs_batch1"] == 1.0 and two["per_frame_p50_ms"] == two["call"]["p50_ms"] / 2
    assert two["vs_batch1"] == pytest.approx(statistics.median(
        a / b for a, b in zip(two["round_per_frame_ms"], one["round_per_frame_ms"])))
    with pytest.raises(ConfigError):
        bench_batching(batches=(2, 4))
    results = {"meta": {}, "floor": {}, "paper": PAPER_ROW, "rows": rows, "skipped": []}
    validate_results(results)
    assert "Batched encoder calls" in render_markdown(results, {})


def test_multistream_rows_run_every_stream_in_both_arrangements() -> None:
    rows, skipped = bench_multistream(streams=(1, 2), frames=12, precision="fp32", rounds=1)
    assert skipped == []
    assert [(r["streams"], r["mode"]) for r in rows] == [
        (1, "separate"), (1, "batched"), (2, "separate"), (2, "batched")]
    for row in rows:
        assert row["aggregate_fps"] > 0 and len(row["round_fps"]) == 1
    two = rows[3]
    # 2 streams x 12 frames went through the shared encoder, one or two at a time
    assert two["batched_calls"][1] + 2 * two["batched_calls"][2] == 24
    assert two["vs_separate"] == pytest.approx(two["aggregate_fps"] / rows[2]["aggregate_fps"])
    with pytest.raises(ConfigError):
        bench_multistream(precision="int4")
    results = {"meta": {}, "floor": {}, "paper": PAPER_ROW, "rows": rows, "skipped": []}
    validate_results(results)
    assert "one batched encoder" in render_markdown(results, {})


def test_the_base_share_fit_finds_where_the_median_change_crosses_zero() -> None:
    """Known answers: a crossing half-way in log(share), one at a swept share, none."""
    assert zero_crossing([1.0, 4.0], [-2.0, 2.0]) == pytest.approx(2.0)
    assert zero_crossing([0.5, 1.0, 2.0], [-1.0, 0.0, 3.0]) == 1.0
    assert zero_crossing([0.5, 1.0], [1.0, 3.0]) is None


def test_rate_neutrality_is_measured_against_plain_ffmpeg(tmp_path: Path) -> None:
    """A flat map is plain ffmpeg to the byte (0 %); the default map on a moving clip is not."""
    frames = []
    for i in range(8):
        y = np.zeros((64, 96), np.uint8)
        y[16:40, 8 + 4 * i: 32 + 4 * i] = 200  # a moving block
        frames.append(np.concatenate([y.ravel(), np.full(64 * 96 // 2, 128, np.uint8)])
                      .reshape(96, 96))
    maps = [np.zeros((28, 28), np.float32) for _ in frames]
    for m, i in zip(maps, range(8)):
        m[7:16, 2 + i: 10 + i] = 1.0
    clip = Clip("moving", frames, Fraction(25), maps)
    config = default_encoder("h264", "ultrafast")
    flat = neutrality([clip], replace(config, aq_mode=1), [30.0], QPConfig(strength=0.0))
    assert flat[0]["change_percent"] == 0.0
    assert flat[0]["plain_bytes"] == flat[0]["guided_bytes"]
    mapped = neutrality([clip], replace(config, aq_mode=1), [30.0], QPConfig())
    assert mapped[0]["guided_bytes"] != mapped[0]["plain_bytes"]
    assert mapped[0]["base_share"] == pytest.approx(QPConfig().for_codec("h264", 30.0).base_share)
