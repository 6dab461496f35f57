"""Sources: exact frame counts and time stamps on real files, stdin formats, synthetic, errors."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rt_saliency.errors import ConfigError, InputError, InputNotFoundError, SourceError
from rt_saliency.stream import open_source
from rt_saliency.stream.sources import parse_size


def _ffmpeg(ffmpeg_bin: str, *args: str) -> None:
    subprocess.run([ffmpeg_bin, "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg_bin: str) -> Path:
    path = tmp_path_factory.mktemp("src") / "testsrc.mp4"
    _ffmpeg(ffmpeg_bin, "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v", "37",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


def test_file_source_yields_every_frame_in_order(clip: Path) -> None:
    with open_source(str(clip)) as src:
        assert (src.info.width, src.info.height, src.info.live) == (96, 64, False)
        assert src.info.fps == pytest.approx(25.0)
        frames = list(src.frames())
    assert [f.index for f in frames] == list(range(37))
    assert all(f.rgb.shape == (64, 96, 3) and f.rgb.dtype == np.uint8 for f in frames)
    pts = [f.pts for f in frames]
    assert pts[0] == pytest.approx(0.0) and pts[-1] == pytest.approx(36 / 25)
    assert all(b > a for a, b in zip(pts, pts[1:]))


def test_y4m_on_stdin_matches_ffmpeg_decode(tmp_path: Path, ffmpeg_bin: str,
                                            vtest_avi: Path) -> None:
    # odd size: chroma planes are ceil(W/2) x ceil(H/2); real video (smooth enough that the
    # chroma upsampling filter, ours nearest vs swscale's, barely matters)
    y4m = tmp_path / "odd.y4m"
    _ffmpeg(ffmpeg_bin, "-i", str(vtest_avi), "-vf", "scale=101x57", "-frames:v", "5",
            "-pix_fmt", "yuv420p", str(y4m))
    with open_source("-", stdin=io.BytesIO(y4m.read_bytes())) as src:
        assert (src.info.width, src.info.height, src.info.fps) == (101, 57, 10.0)
        ours = [f.rgb for f in src.frames()]
    with open_source(str(y4m)) as src:  # FFmpeg's own converter, through PyAV
        theirs = [f.rgb for f in src.frames()]
    assert len(ours) == len(theirs) == 5
    diff = np.abs(np.stack(ours).astype(int) - np.stack(theirs).astype(int))
    assert np.median(diff) <= 1 and diff.mean() < 2.5  # measured: median 1, mean 1.5


def test_raw_rgb_on_stdin_round_trips_exactly(rng: np.random.Generator) -> None:
    frames = rng.integers(0, 256, (4, 9, 11, 3), dtype=np.uint8)
    with open_source("-", input_format="rawvideo", size=(11, 9), pix_fmt="rgb24", fps=5,
                     stdin=io.BytesIO(frames.tobytes())) as src:
        got = list(src.frames())
    assert [f.index for f in got] == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.stack([f.rgb for f in got]), frames)
    assert [f.pts for f in got] == pytest.approx([0, 0.2, 0.4, 0.6])


def test_raw_yuv420p_gray_decodes_to_gray() -> None:
    w, h = 7, 5  # odd
    y = np.full((h, w), 126, np.uint8)
    chroma = np.full(((h + 1) // 2) * ((w + 1) // 2) * 2, 128, np.uint8)
    data = (y.tobytes() + chroma.tobytes()) * 2
    with open_source("-", input_format="rawvideo", size=(w, h), pix_fmt="yuv420p",
                     stdin=io.BytesIO(data)) as src:
        got = list(src.frames())
    assert len(got) == 2
    assert np.all(np.abs(got[0].rgb.astype(int) - 128) <= 1)  # 1.164*(126-16) = 128


def test_truncated_raw_frame_is_an_input_error() -> None:
    with open_source("-", input_format="rawvideo", size=(4, 4), pix_fmt="rgb24",
                     stdin=io.BytesIO(bytes(48 + 20))) as src:
        frames = src.frames()
        next(frames)
        with pytest.raises(InputError, match="truncated raw frame 1"):
            next(frames)


def test_synthetic_source_is_deterministic_and_moves() -> None:
    spec = "synth://64x48?frames=12&seed=3"
    with open_source(spec) as a, open_source(spec) as b:
        fa, fb = list(a.frames()), list(b.frames())
    assert len(fa) == 12 and fa[0].rgb.shape == (48, 64, 3)
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(fa, fb))
    assert not np.array_equal(fa[0].rgb, fa[5].rgb)


def test_live_synthetic_source_is_paced() -> None:
    import time

    with open_source("synth://32x32?frames=10&fps=100&live=1") as src:
        assert src.info.live
        start = time.monotonic()
        assert len(list(src.frames())) == 10
        assert time.monotonic() - start >= 0.08


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "match"),
    [
        ("/nonexistent/video.mp4", {}, InputNotFoundError, "no such file"),
        ("/dev/video99", {}, InputNotFoundError, "no such camera"),
        ("synth://big", {}, ConfigError, "synth://"),
        ("-", {"input_format": "rawvideo"}, ConfigError, "--size"),
        ("", {}, ConfigError, "no input"),
    ],
)
def test_bad_specs(spec: str, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        open_source(spec, stdin=io.BytesIO(b""), **kwargs)


def test_stdin_that_is_not_y4m_says_how_to_pass_raw_frames() -> None:
    with pytest.raises(InputError, match="--input-format rawvideo"):
        open_source("-", stdin=io.BytesIO(b"\x00" * 100))


def test_random_bytes_and_directories_are_input_errors(tmp_path: Path,
                                                      rng: np.random.Generator) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError):
        open_source(str(junk))
    with pytest.raises(InputError, match="directory"):
        open_source(str(tmp_path))


def test_rtsp_down_fails_fast_without_leaking_credentials() -> None:
    from rtsp_server import free_port

    url = f"rtsp://alice:s3cret@127.0.0.1:{free_port()}/test"
    with pytest.raises(SourceError) as info:
        open_source(url, open_timeout=2, read_timeout=2)
    assert "s3cret" not in str(info.value) and "alice" not in str(info.value)
    assert "***@127.0.0.1" in str(info.value)


def test_parse_size() -> None:
    assert parse_size("1921x1081") == (1921, 1081)
    with pytest.raises(ConfigError):
        parse_size("640*360")
