"""``run --rate-match``: the guided encode of a file lands within the tolerance of plain ffmpeg's
bytes at the same CRF, measured here with ffmpeg and ffprobe themselves; the secant step, the
byte count, and the refusals (one line, exit 2, no secret in it)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import av
import pytest

from rt_saliency.stream.file_job import FileJob
from rt_saliency.stream.rate_match import (
    FIRST_STEP_QP_PER_OCTAVE,
    RatePass,
    coded_pixel_format,
    next_bias,
    video_bytes,
)

TIMEOUT = 300


def rts(*args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rt_saliency", *(["-q"] if quiet else []),
                           "run", *args], capture_output=True, text=True, timeout=TIMEOUT)


def ffprobe_video_bytes(ffmpeg_bin: str, path: Path) -> int:
    """The video stream's packet sizes and out-of-band headers as ffprobe lists them (the
    independent count)."""
    probe = str(Path(ffmpeg_bin).with_name("ffprobe"))

    def entries(what: str) -> list[int]:
        out = subprocess.run([probe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                              what, "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return [int(line.strip().rstrip(",")) for line in out.splitlines() if line.strip()]

    return sum(entries("stream=extradata_size")) + sum(entries("packet=size"))


def test_first_step_moves_the_bias_by_the_octave_rule() -> None:
    bias = next_bias([RatePass(0.0, 900)], reference=1000)
    assert bias == pytest.approx(FIRST_STEP_QP_PER_OCTAVE * math.log2(0.9))
    assert next_bias([RatePass(0.5, 1100)], reference=1000) > 0.5  # too many bytes: bias up


def test_secant_finds_the_bias_of_a_log_linear_response() -> None:
    # bytes halve every 3 QP of bias and equal the reference at bias -0.5
    def response(b: float) -> int:
        return round(1_000_000 * 2 ** (-(b + 0.5) / 3))

    passes = [RatePass(0.0, response(0.0)), RatePass(-1.0, response(-1.0))]
    assert next_bias(passes, reference=1_000_000) == pytest.approx(-0.5, abs=1e-4)
    # a secant far flatter than the first step's rule (a step in x264's response) is held at
    # twice its QP per octave, not followed into an overshoot
    flat = [RatePass(-0.9, 962_000), RatePass(-1.3, 978_000)]
    assert next_bias(flat, 1_000_000) == pytest.approx(
        -1.3 + 2 * FIRST_STEP_QP_PER_OCTAVE * math.log2(0.978))
    # a secant that slopes the wrong way (noise) falls back on the first step's rule
    noisy = [RatePass(0.0, 900_000), RatePass(1.0, 950_000)]
    assert next_bias(noisy, 1_000_000) == pytest.approx(
        1.0 + FIRST_STEP_QP_PER_OCTAVE * math.log2(0.95))


def test_video_bytes_counts_the_video_stream_only(tmp_path: Path, ffmpeg_bin: str) -> None:
    clip = tmp_path / "av.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1",
                    "-c:v", "libx264", "-c:a", "flac", str(clip)], check=True, timeout=60)
    counted = video_bytes(clip)
    assert counted == ffprobe_video_bytes(ffmpeg_bin, clip)
    assert 0 < counted < clip.stat().st_size


@pytest.mark.parametrize("extra, needle", [
    (["--bitrate", "500"], "--bitrate"),
    (["--qp-centre", "mean"], "--qp-centre rate"),
    (["--live"], "--live"),
    (["--preview", "-"], "--preview must be a file"),
])
def test_what_cannot_be_matched_is_refused_in_one_line(vtest_avi: Path, tmp_path: Path,
                                                       extra: list[str], needle: str) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"earlier output")
    proc = rts("-i", str(vtest_avi), "-o", str(out), "--rate-match", *extra)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"earlier output"


def test_a_stream_input_is_refused_without_its_credentials(tmp_path: Path) -> None:
    proc = rts("-i", "rtsp://bob:hunter2@127.0.0.1:9/x", "-o", str(tmp_path / "o.mp4"),
               "--rate-match")
    assert proc.returncode == 2, proc.stderr
    assert "video file" in proc.stderr and "hunter2" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_output_no_match(vtest_avi: Path) -> None:
    proc = rts("-i", str(vtest_avi), "--rate-match", "--max-frames", "2")
    assert proc.returncode == 2 and "give -o FILE" in proc.stderr


def test_the_default_encode_of_a_file_has_plain_ffmpegs_bytes(vtest_avi: Path, tmp_path: Path,
                                                              ffmpeg_bin: str) -> None:
    """No option: a CRF encode of a file is rate matched (``--rate-match auto``), under the
    default map's x264 AQ strength 0.25."""
    frames, crf = "30", "28"
    out, maps, stats = tmp_path / "out.mp4", tmp_path / "maps.ndjson", tmp_path / "stats.json"
    proc = rts("-i", str(vtest_avi), "--max-frames", frames, "-o", str(out), "--crf", crf,
               "--qp-out", str(maps), "--stats", str(stats), "--no-table", quiet=False)
    assert proc.returncode == 0, proc.stderr
    assert b"aq=1:0.25" in out.read_bytes()  # x264's options SEI
    # the outside reference, encoded and counted by the real tools
    plain = tmp_path / "plain.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-i", str(vtest_avi), "-frames:v", frames,
                    "-an", "-c:v", "libx264", "-preset", "medium", "-crf", crf, str(plain)],
                   check=True, timeout=120)
    ours, theirs = ffprobe_video_bytes(ffmpeg_bin, out), ffprobe_video_bytes(ffmpeg_bin, plain)
    assert abs(ours / theirs - 1) <= 0.02, (ours, theirs)
    report = json.loads(stats.read_text())["rate_match"]
    assert report["matched"] and report["reference_video_bytes"] == pytest.approx(theirs,
                                                                                  rel=0.01)
    assert report["passes"][-1]["video_bytes"] == video_bytes(out)
    # the first pass runs the network, the later ones replay its maps; each is timed
    passes = report["passes"]
    assert [p["replayed"] for p in passes] == [False] + [True] * (len(passes) - 1)
    assert report["reference_seconds"] > 0 and all(p["seconds"] > 0 for p in passes)
    assert f"--qp-rate-bias {report['rate_bias']:.3f}" in proc.stderr  # the line to reuse
    # the maps kept are the chosen pass's: one a frame, and not all zero
    lines = maps.read_text().splitlines()
    assert len(lines) == int(frames)
    assert any(v != 0 for row in json.loads(lines[5])["qp"] for v in row)
    # no pass is left behind beside the outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.ndjson", "out.mp4", "plain.mkv",
                                                          "stats.json"]


def test_one_pass_where_asked_or_where_nothing_can_be_matched(vtest_avi: Path,
                                                             tmp_path: Path) -> None:
    """``--rate-match off``, a synthetic input, a flat map and ``--bitrate`` run once: no plain
    reference, no rate-match line; the bare ``--rate-match`` is ``on`` and refuses a stream."""
    for args in (["-i", str(vtest_avi), "--rate-match", "off"],
                 ["-i", "synth://160x96?frames=6"],
                 ["-i", str(vtest_avi), "--qp-strength", "0"],
                 ["-i", str(vtest_avi), "--bitrate", "300"]):
        out = tmp_path / "once.mp4"
        proc = rts(*args, "--max-frames", "6", "-o", str(out), "--no-table", "--backend",
                   "prior", quiet=False)
        assert proc.returncode == 0, proc.stderr
        assert "against plain ffmpeg" not in proc.stderr, args  # the summary line
        assert out.stat().st_size > 0
    proc = rts("-i", "synth://160x96?frames=6", "-o", str(tmp_path / "x.mp4"), "--rate-match",
               "--backend", "prior")
    assert proc.returncode == 2 and "needs a video file" in proc.stderr


def test_an_rgb_source_is_matched_against_ffmpeg_in_the_format_we_code(tmp_path: Path,
                                                                        ffmpeg_bin: str) -> None:
    """An RGB file reaches our encoder as 4:2:0; plain ffmpeg left alone would code it 4:4:4
    (more bytes), so the reference is told ``-pix_fmt yuv420p``."""
    src = tmp_path / "rgb.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-frames:v", "20", "-pix_fmt", "rgb24",
                    "-c:v", "ffv1", str(src)], check=True, timeout=60)
    assert coded_pixel_format(src) == "yuv420p"
    out, stats = tmp_path / "out.mkv", tmp_path / "stats.json"
    proc = rts("-i", str(src), "-o", str(out), "--rate-match", "--stats", str(stats),
               "--no-table")
    assert proc.returncode == 0, proc.stderr
    plain = tmp_path / "plain.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-i", str(src), "-pix_fmt", "yuv420p", "-c:v",
                    "libx264", "-preset", "medium", "-crf", "23", str(plain)], check=True,
                   timeout=120)
    report = json.loads(stats.read_text())["rate_match"]
    assert report["reference_video_bytes"] == pytest.approx(
        ffprobe_video_bytes(ffmpeg_bin, plain), rel=0.01)
    assert abs(ffprobe_video_bytes(ffmpeg_bin, out) / ffprobe_video_bytes(ffmpeg_bin, plain)
               - 1) <= 0.02


def test_a_signal_during_the_passes_leaves_the_earlier_outputs(vtest_avi: Path,
                                                               tmp_path: Path) -> None:
    """SIGINT while a pass runs: that pass drains, nothing replaces -o, exit 130, and the
    temporary folder of the passes is gone."""
    import signal
    import time

    out = tmp_path / "out.mp4"
    out.write_bytes(b"earlier output")
    proc = subprocess.Popen([sys.executable, "-m", "rt_saliency", "-q", "run", "-i",
                             str(vtest_avi), "--max-frames", "300", "-o", str(out),
                             "--rate-match", "--no-table"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".rt-saliency-rate-*/pass1")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, err
    assert "left as they were" in err and "Traceback" not in err
    assert out.read_bytes() == b"earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_passes_that_run_out_keep_the_closest_and_say_so(vtest_avi: Path, tmp_path: Path) -> None:
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    proc = rts("-i", str(vtest_avi), "--max-frames", "12", "-o", str(out), "--rate-match",
               "--rate-passes", "1", "--rate-tolerance", "0.001", "--stats", str(stats),
               "--no-table", quiet=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(stats.read_text())["rate_match"]
    assert len(report["passes"]) == 1 and not report["matched"]
    assert "NOT within" in proc.stderr and "did not come within" in proc.stderr
    assert video_bytes(out) == report["passes"][0]["video_bytes"]


def test_headers_count_wherever_the_muxer_put_them(tmp_path: Path, ffmpeg_bin: str) -> None:
    """x265 through FFmpeg's Matroska muxer has its parameter sets and options SEI in the
    extradata; the same stream muxed with them in-band has the same byte count."""
    src = tmp_path / "src.y4m"
    subprocess.run([ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-frames:v", "10", "-f", "yuv4mpegpipe",
                    str(src)], check=True, timeout=60)
    mkv, raw = tmp_path / "out.mkv", tmp_path / "out.hevc"
    subprocess.run([ffmpeg_bin, "-v", "error", "-i", str(src), "-c:v", "libx265", "-x265-params",
                    "log-level=error", str(mkv)], check=True, timeout=120)
    subprocess.run([ffmpeg_bin, "-v", "error", "-i", str(mkv), "-c", "copy", "-bsf:v",
                    "hevc_mp4toannexb", "-f", "hevc", str(raw)], check=True, timeout=60)
    with av.open(str(mkv)) as container:
        assert len(container.streams.video[0].codec_context.extradata or b"") > 1000
    # the raw stream holds every header in-band, with start codes instead of lengths
    assert video_bytes(mkv) == pytest.approx(raw.stat().st_size, rel=0.01)


def test_each_pass_has_its_own_progress_label() -> None:
    assert FileJob.label("pass2") == "pass 2" and FileJob.label("reference") == "reference"
