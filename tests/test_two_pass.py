"""``run --bitrate K --passes 2`` (x264 and x265): with the map, the second pass lands closer to
the asked rate than one ABR pass does (bytes counted by ffprobe, headers included); only the second pass's files are kept; what
cannot be run twice is refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT = 300


def rts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rt_saliency", "-q", "run", *args],
                          capture_output=True, text=True, timeout=TIMEOUT)


def video_bytes(path: Path) -> int:
    """Packets and out-of-band headers of the video stream, as ffprobe lists them."""
    total = 0
    for what in ("stream=extradata_size", "packet=size"):
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                              "-show_entries", what, "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        total += sum(int(v.strip(",")) for v in out.split())
    return total


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, vtest_avi: Path, ffmpeg_bin: str) -> Path:
    """60 frames (6 s at 10 fps) of vtest.avi as a lossless y4m."""
    path = tmp_path_factory.mktemp("two-pass") / "vtest60.y4m"
    subprocess.run([ffmpeg_bin, "-v", "error", "-i", str(vtest_avi), "-frames:v", "60",
                    "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(path)], check=True,
                   timeout=120)
    return path


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_the_second_pass_lands_closer_to_the_rate(clip: Path, tmp_path: Path,
                                                  codec: str) -> None:
    target = 800 * 1000 / 8 * 6  # bytes of 800 kbit/s over the clip's 6 s
    misses = {}
    for passes in ("1", "2"):
        out = tmp_path / f"p{passes}.mkv"
        proc = rts("-i", str(clip), "-o", str(out), "--bitrate", "800", "--passes", passes,
                   "--codec", codec, "--qp-out", str(tmp_path / f"p{passes}.ndjson"),
                   "--no-table")
        assert proc.returncode == 0, proc.stderr
        misses[passes] = abs(video_bytes(out) / target - 1)
    assert misses["2"] <= 0.05 and misses["2"] < misses["1"], misses
    # the second pass's files only, nothing of the first pass left beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1.mkv", "p1.ndjson", "p2.mkv",
                                                          "p2.ndjson"]
    assert len((tmp_path / "p2.ndjson").read_text().splitlines()) == 60


@pytest.mark.parametrize("extra, needle", [
    ([], "give --bitrate"),
    (["--crf", "23", "--rate-match"], "choose one"),
    (["--bitrate", "500", "--realtime"], "--realtime"),
])
def test_what_cannot_run_twice_is_refused_in_one_line(clip: Path, tmp_path: Path,
                                                      extra: list[str], needle: str) -> None:
    out = tmp_path / "out.mkv"
    out.write_bytes(b"earlier output")
    proc = rts("-i", str(clip), "-o", str(out), "--passes", "2", *extra)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"earlier output"
