"""``python -m rt_saliency run`` end to end, in subprocesses with timeouts: exact accounting,
odd sizes, bad inputs (one line, non-zero exit, no traceback), signals, stats, encoding."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch

from rt_saliency.cli import COMMANDS, build_parser
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.model import create_model
from rt_saliency.qp import read_ndjson

TIMEOUT = 120


def rts(*args: str, stdin: bytes | None = None, timeout: float = TIMEOUT
        ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "rt_saliency", "-q", "run", *args],
                          input=stdin, capture_output=True, timeout=timeout)


def wait_for_maps(folder: Path, name: str, size: int = 2000, timeout: float = 60) -> None:
    """Wait until maps flow: the output is written under a temporary name until the run ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.stat().st_size >= size for p in folder.glob(f".{name}.tmp-*")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no maps written to {folder / name} in {timeout} s")


def ffmpeg(ffmpeg_bin: str, *args: str) -> None:
    subprocess.run([ffmpeg_bin, "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, ffmpeg_bin: str) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    src = "testsrc=size=160x90:rate=30"
    ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", src, "-frames:v", "45", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(d / "clip.mp4"))
    ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", src, "-frames:v", "30", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(d / "faststart.mp4"))
    for name in ("clip.mp4", "faststart.mp4"):
        data = (d / name).read_bytes()
        (d / f"trunc-{name}").write_bytes(data[: len(data) // 2])
    (d / "random.mp4").write_bytes(os.urandom(20_000))
    ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", src, "-frames:v", "0", "-c:v", "ffv1",
           str(d / "zero.mkv"))
    for w, h in ((1921, 1081), (8, 8)):
        ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", f"testsrc=size={w}x{h}:rate=25", "-frames:v", "3",
               "-c:v", "ffv1", str(d / f"odd{w}x{h}.mkv"))
    return {p.name: p for p in d.iterdir()}


def test_every_frame_of_a_known_length_file_yields_one_record(media: dict[str, Path],
                                                              tmp_path: Path) -> None:
    out, stats = tmp_path / "maps.ndjson", tmp_path / "stats.json"
    proc = rts("-i", str(media["clip.mp4"]), "--qp-out", str(out), "--stats", str(stats))
    assert proc.returncode == 0, proc.stderr.decode()
    records = list(read_ndjson(out))
    assert [r["frame"] for r in records] == list(range(45))
    assert all((r["rows"], r["cols"], r["block"]) == (6, 10, 16) for r in records)
    assert all(r["qp"].shape == (6, 10) for r in records)
    assert [r["pts"] for r in records] == pytest.approx([i / 30 for i in range(45)], abs=1e-3)
    snap = json.loads(stats.read_text())
    assert snap["frames_in"] == snap["maps_out"] == 45 and snap["dropped"] == 0
    assert snap["compute_latency"]["count"] == 45
    assert set(snap["stages"]) == {"source", "resize", "flow", "encode", "head", "qp", "sink"}


@pytest.mark.parametrize(("name", "rows", "cols"), [("odd1921x1081.mkv", 68, 121),
                                                    ("odd8x8.mkv", 1, 1)])
def test_odd_sizes_work_with_the_source_grid(media: dict[str, Path], name: str, rows: int,
                                             cols: int) -> None:
    proc = rts("-i", str(media[name]), "--qp-out", "-")
    assert proc.returncode == 0, proc.stderr.decode()
    lines = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert [r["frame"] for r in lines] == [0, 1, 2]
    assert all((r["rows"], r["cols"]) == (rows, cols) for r in lines)
    assert all(len(r["qp"]) == rows and len(r["qp"][0]) == cols for r in lines)


@pytest.mark.parametrize(("name", "message"), [
    ("missing.mp4", "no such file"),
    ("random.mp4", "not a video FFmpeg can read"),
    ("trunc-clip.mp4", "not a video FFmpeg can read"),
    ("trunc-faststart.mp4", "decode error"),
    ("zero.mkv", "no video frames"),
])
def test_bad_inputs_give_one_line_and_exit_2(media: dict[str, Path], tmp_path: Path,
                                            name: str, message: str) -> None:
    path = media.get(name, tmp_path / name)
    proc = rts("-i", str(path), "--qp-out", str(tmp_path / "o.ndjson"), timeout=60)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2, err
    lines = [ln for ln in err.splitlines() if " WARNING " not in ln]  # -q keeps warnings
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("rt-saliency: error:") and message in lines[0]


@pytest.mark.parametrize(("stdin", "args", "message"), [
    (b"", [], "stdin: no data (empty input)"),
    (b"YUV4MPEG2 W16 H16 F30:1 C420jpeg\n", [], "no video frames"),
    (b"\x00" * 100, ["--input-format", "rawvideo", "--size", "8x8"], "truncated raw frame 0"),
    (b"", ["--input-format", "rawvideo", "--size", "8by8"], "WIDTHxHEIGHT"),
    (b"", ["--input-format", "rawvideo"], "--size"),
])
def test_bad_stdin_gives_one_line_and_exit_2(stdin: bytes, args: list[str], message: str) -> None:
    proc = rts("-i", "-", *args, stdin=stdin, timeout=60)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and message in err, err


def test_y4m_on_stdin_with_odd_size(ffmpeg_bin: str) -> None:
    y4m = subprocess.run([ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i",
                          "testsrc=size=33x17:rate=10", "-frames:v", "4", "-pix_fmt", "yuv420p",
                          "-f", "yuv4mpegpipe", "-"], capture_output=True, check=True).stdout
    proc = rts("-i", "-", "--qp-out", "-", stdin=y4m)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert [(r["frame"], r["rows"], r["cols"]) for r in lines] == [(i, 2, 3) for i in range(4)]


def test_rtsp_server_down_is_a_one_line_failure() -> None:
    from rtsp_server import free_port

    proc = rts("-i", f"rtsp://bob:hunter2@127.0.0.1:{free_port()}/x", "--open-timeout", "2",
               timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "hunter2" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_drains_and_flushes(tmp_path: Path, sig: int) -> None:
    out, stats = tmp_path / "maps.ndjson", tmp_path / "stats.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", "synth://96x64?frames=0&live=1",
         "--qp-out", str(out), "--stats", str(stats), "--no-table"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_maps(tmp_path, "maps.ndjson")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    records = list(read_ndjson(out))
    snap = json.loads(stats.read_text())
    assert len(records) == snap["frames_in"] > 3
    assert [r["frame"] for r in records] == list(range(len(records)))


def test_encodes_every_frame_with_its_map(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "guided.mp4"
    proc = rts("-i", str(media["clip.mp4"]), "-o", str(out), "--max-frames", "20")
    assert proc.returncode == 0, proc.stderr.decode()
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 20 and (frames[0].width, frames[0].height) == (160, 90)


def test_bad_options_exit_2(tmp_path: Path) -> None:
    proc = rts("-i", "synth://64x48?frames=2", "--qp-out", str(tmp_path / "nodir" / "x.ndjson"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr.decode()
    proc = rts("-i", "synth://64x48?frames=2", "--metrics-port", "70000")
    assert proc.returncode == 2 and "--metrics-port" in proc.stderr.decode()
    proc = rts("-i", "synth://64x48?frames=2", "--max-frames", "0")
    assert proc.returncode == 2
    proc = rts("-i", "synth://64x48?frames=2", "--stats", str(tmp_path / "nodir" / "s.json"))
    assert proc.returncode == 2 and "--stats" in proc.stderr.decode()


def test_metrics_port_serves_while_running(tmp_path: Path) -> None:
    import urllib.request

    from rtsp_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", "synth://64x48?frames=0&live=1",
         "--metrics-port", str(port), "--no-table"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "rt_saliency_maps_total" not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "rt_saliency_maps_total" in body and "rt_saliency_queue_depth" in body
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_reader_closing_stdout_early_is_not_an_error() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", "synth://64x48?frames=2000",
         "--qp-out", "-", "--no-table"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=60)
    assert first["frame"] == 0
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()


@pytest.mark.parametrize("fmt", ["npy", "kvazaar", "svtav1"])
def test_qp_formats_for_other_encoders(tmp_path, fmt: str) -> None:
    """--qp-format writes the other encoders' map files, one map per frame of the source."""
    import numpy as np

    from rt_saliency.cli import main
    from rt_saliency.qp.roi_files import read_kvazaar_roi, read_svtav1_roi

    target = tmp_path / {"npy": "maps", "kvazaar": "roi.bin", "svtav1": "roi.txt"}[fmt]
    status = main(["-q", "run", "-i", "synth://200x120?frames=9&fps=10", "--qp-out", str(target),
                   "--qp-format", fmt, "--no-table"])
    assert status == 0
    if fmt == "npy":
        grids = [np.load(p) for p in sorted(target.glob("frame_*.npy"))]
        assert len(grids) == 9 and grids[4].shape == (8, 13)  # ceil(120/16) x ceil(200/16)
        assert grids[4].min() < grids[4].max()
    elif fmt == "kvazaar":
        maps = read_kvazaar_roi(target)
        assert len(maps) == 9 and maps[4].shape == (8, 13) and maps[4].dtype == np.int8
    else:
        maps = read_svtav1_roi(target, (120, 200))
        assert sorted(maps) == list(range(9)) and maps[4].shape == (2, 4)  # 64x64 superblocks


def test_qp_format_files_refuse_stdout(capsys) -> None:
    from rt_saliency.cli import main

    assert main(["run", "-i", "synth://64x64?frames=2", "--qp-out", "-", "--qp-format", "npy"]) == 2
    assert "--qp-out PATH" in capsys.readouterr().err


def test_encoder_options_reach_x264(tmp_path) -> None:
    """-o with --keyint/--preset/--tune/--crf: the GOP length shows in the decoded stream."""
    from rt_saliency.cli import main

    out = tmp_path / "gop.mp4"
    status = main(["-q", "run", "-i", "synth://160x96?frames=12", "-o", str(out), "--crf", "30",
                   "--preset", "veryfast", "--tune", "zerolatency", "--keyint", "4", "--no-table"])
    assert status == 0
    with av.open(str(out)) as container:
        keys = [f.key_frame for f in container.decode(video=0)]
    assert len(keys) == 12
    assert [i for i, k in enumerate(keys) if k] == [0, 4, 8]
    assert main(["run", "-i", "synth://160x96?frames=2", "-o", str(out), "--preset", "bogus"]) == 2


def test_codec_hevc_and_codec_options(tmp_path) -> None:
    """--codec hevc encodes with libx265; --bframes and --codec-params reach the encoder (its
    options SEI says so); a setting that would drop the offsets is one line, exit 2."""
    out = tmp_path / "clip.mkv"
    proc = rts("-i", "synth://160x96?frames=10", "-o", str(out), "--codec", "hevc", "--crf", "30",
               "--preset", "ultrafast", "--bframes", "0", "--codec-params", "ref=1", "--no-table")
    assert proc.returncode == 0, proc.stderr.decode()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        frames = list(container.decode(stream))
    assert len(frames) == 10
    sei = out.read_bytes()
    assert b"bframes=0" in sei and b"ref=1" in sei
    bad = rts("-i", "synth://160x96?frames=2", "-o", str(tmp_path / "x.mp4"), "--aq-mode", "0")
    lines = bad.stderr.decode().strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "aq_mode=0" in lines[0]
    assert not (tmp_path / "x.mp4").exists()


def test_run_o_keeps_vfr_timing_and_the_start_offset(tmp_path, ffmpeg_bin) -> None:
    """A VFR file starting at 10 s (a 0.48 s gap after frame 9): every output frame has the
    input frame's time stamp."""
    src, out = tmp_path / "vfr.mkv", tmp_path / "out.mkv"
    ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25", "-frames:v", "20",
           "-vf", r"setpts=PTS+if(gte(N\,10)\,12/TB/25\,0)", "-fps_mode", "vfr",
           "-output_ts_offset", "10", "-c:v", "ffv1", str(src))
    proc = rts("-i", str(src), "-o", str(out), "--backend", "prior", "--preset", "ultrafast",
               "--no-table")
    assert proc.returncode == 0, proc.stderr.decode()

    def stamps(path: Path) -> list[float]:
        import av

        with av.open(str(path)) as container:
            return [round(float(f.time), 4) for f in container.decode(video=0)]

    want = stamps(src)
    assert want[0] == 10.0 and round(want[10] - want[9], 4) == 0.52
    assert stamps(out) == want


def _one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_stdout_for_both_video_and_maps_is_refused() -> None:
    proc = rts("-i", "synth://64x48?frames=2", "--backend", "prior", "-o", "-", "--qp-out", "-")
    assert proc.returncode == 2 and proc.stdout == b""
    assert "both write to stdout" in _one_line_error(proc)


@pytest.mark.parametrize("ext, codec", [(".webm", "vp9"), (".mkv", "h264"), (".avi", "h264")])
def test_preview_in_other_containers(tmp_path: Path, ext: str, codec: str) -> None:
    out = tmp_path / f"preview{ext}"
    proc = rts("-i", "synth://96x64?frames=6", "--backend", "prior", "--preview", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == codec
        assert len(list(container.decode(video=0))) == 6


@pytest.mark.parametrize("ext, message", [(".gif", "takes none of the preview codecs"),
                                          (".xyz", "knows no container")])
def test_preview_in_a_container_without_a_video_codec_is_refused(tmp_path: Path, ext: str,
                                                                 message: str) -> None:
    out = tmp_path / f"preview{ext}"
    proc = rts("-i", "synth://96x64?frames=4", "--backend", "prior", "--preview", str(out))
    assert proc.returncode == 2 and message in _one_line_error(proc)
    assert list(tmp_path.iterdir()) == []  # no file and no temporary left behind


def test_rational_fps_on_a_raw_pipe(tmp_path: Path) -> None:
    frames = bytes(range(256)) * (32 * 24 * 3 * 5 // 256)
    out = tmp_path / "o.mkv"
    proc = rts("-i", "-", "--input-format", "rawvideo", "--size", "32x24", "--fps", "30000/1001",
               "--backend", "prior", "-o", str(out), stdin=frames)
    assert proc.returncode == 0, proc.stderr.decode()
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    proc = rts("-i", "synth://64x48?frames=2", "--fps", "30/0")
    assert proc.returncode == 2 and "frame rate" in proc.stderr.decode()


@pytest.mark.parametrize("args", [["--fps", "0"], ["--crf", "abc"], ["--backend", "nope"], []])
def test_a_usage_error_is_one_line_naming_help(args: list[str]) -> None:
    """argparse's refusals read like the CLI's others: one line, exit 2, no usage dump, and
    the input URL's credentials never in it."""
    proc = rts("-i", "rtsp://bob:hunter2@127.0.0.1:9/x", *args) if args else rts()
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "--help" in err and "usage:" not in err
    assert "hunter2" not in err


def test_progress_bar_counts_the_frames(media: dict[str, Path]) -> None:
    proc = rts("-i", str(media["clip.mp4"]), "--backend", "prior", "--max-frames", "12",
               "--progress")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "12/12" in proc.stderr.decode()
    proc = rts("-i", str(media["clip.mp4"]), "--backend", "prior", "--max-frames", "12")
    assert "12/12" not in proc.stderr.decode()  # stderr is a pipe here: no bar by default


def _probe(path: Path) -> dict[str, tuple[str, float]]:
    """codec type -> (codec name, duration in seconds: the last packet's end minus the first's
    start), by demuxing the file."""
    spans: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None:
                continue
            kind = packet.stream.type
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            lo, hi = spans.get(kind, [start, end])
            spans[kind] = [min(lo, start), max(hi, end)]
            names[kind] = packet.stream.codec_context.name
    return {kind: (names[kind], hi - lo) for kind, (lo, hi) in spans.items()}


@pytest.fixture(scope="module")
def av_media(tmp_path_factory: pytest.TempPathFactory, ffmpeg_bin: str) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("av")
    ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-c:a", "aac", "-shortest", str(d / "av.mp4"))
    (d / "s.srt").write_text("1\n00:00:00,500 --> 00:00:01,500\nhello\n")
    ffmpeg(ffmpeg_bin, "-i", str(d / "av.mp4"), "-i", str(d / "s.srt"), "-map", "0", "-map", "1",
           "-c", "copy", "-c:s", "srt", str(d / "avs.mkv"))
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts"])
def test_run_o_copies_the_audio_in_sync(av_media: dict[str, Path], tmp_path: Path,
                                        ext: str) -> None:
    src = av_media["av.mp4"]
    out = tmp_path / f"out{ext}"
    proc = rts("-i", str(src), "-o", str(out), "--backend", "prior")
    assert proc.returncode == 0, proc.stderr.decode()
    got, ref = _probe(out), _probe(src)
    assert got["audio"][0] == "aac" and got["video"][0] == "h264"
    frame = 1 / 30 * 1.001  # MPEG-TS packets carry no duration: the last frame's is not counted
    for kind in ("video", "audio"):
        assert abs(got[kind][1] - ref[kind][1]) <= frame, (kind, got, ref)


def test_run_o_copies_subtitles_into_matroska_and_cuts_with_max_frames(
        av_media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    proc = rts("-i", str(av_media["avs.mkv"]), "-o", str(out), "--backend", "prior")
    assert proc.returncode == 0, proc.stderr.decode()
    assert set(_probe(out)) == {"video", "audio", "subtitle"}
    cut = tmp_path / "cut.mp4"
    proc = rts("-i", str(av_media["av.mp4"]), "-o", str(cut), "--backend", "prior",
               "--max-frames", "15")
    assert proc.returncode == 0, proc.stderr.decode()
    got = _probe(cut)
    assert abs(got["video"][1] - 0.5) < 1e-3 and abs(got["audio"][1] - 0.5) <= 1 / 30, got
    none = tmp_path / "none.mp4"
    proc = rts("-i", str(av_media["av.mp4"]), "-o", str(none), "--backend", "prior",
               "--no-copy-streams")
    assert proc.returncode == 0 and set(_probe(none)) == {"video"}


def test_help_lines_match_each_commands_own_parser() -> None:
    """``--help`` lists commands from the table without loading them; the table says what each
    command's own parser says."""
    parser = build_parser([], load_all=True)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    assert helps == {name: command.summary for name, command in COMMANDS.items()}


def test_run_with_the_prior_does_not_load_the_training_stack() -> None:
    code = ("import sys; from rt_saliency.cli import build_parser; build_parser(['run']); "
            "print(sorted(m for m in ('matplotlib', 'rt_saliency.train', 'rt_saliency.apps') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_network_trained_at_another_input_size_gets_flows_of_its_size(tmp_path: Path) -> None:
    """The stream computes flows on the grid the network takes (here 112x112), not at 224."""
    torch.manual_seed(0)
    model = create_model(flow_maps=3, stage_widths=(8, 16), input_size=(112, 112)).eval()
    export_onnx(model, tmp_path / "graphs", lookahead=1)
    out = tmp_path / "maps.ndjson"
    proc = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", "synth://160x96?frames=8",
         "--backend", "onnxruntime", "--engine-dir", str(tmp_path / "graphs"), "--lookahead",
         "1", "--qp-out", str(out), "--no-table"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(list(read_ndjson(out))) == 8


def test_realtime_reads_a_file_at_its_own_rate_and_drops_nothing(media: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    """--realtime paces a file (45 frames at 30 fps: about 1.5 s) without the live policy: every
    frame gets a map and the stats report a paced run."""
    stats = tmp_path / "stats.json"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", str(media["clip.mp4"]),
         "--backend", "prior", "--realtime", "--stats", str(stats), "--no-table"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    snap = json.loads(stats.read_text())
    assert snap["frames_in"] == snap["maps_out"] == 45 and snap["dropped"] == 0
    assert snap["paced"] is True and snap["live"] is False
    assert snap["service_latency"]["measured_as"].startswith("paced run")
    assert time.monotonic() - started > 1.4


def test_backend_openvino_where_it_is_not_installed_is_one_line() -> None:
    # the interpreter is told openvino cannot be imported (as on a machine without it)
    code = ("import sys; sys.modules['openvino'] = None; from rt_saliency.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "run", "-i", "synth://64x48?frames=2",
                           "--backend", "openvino", "--no-table"], capture_output=True,
                          timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("rt-saliency: error:")]
    assert len(lines) == 1 and "pip install 'rt-saliency[openvino]'" in lines[0], err
