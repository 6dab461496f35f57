"""Muxing: audio copied, timing kept (VFR, start offset), HEVC in containers, URLs to local
listeners, and a failed run keeps the earlier file."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from rt_saliency.encode import Muxer, open_encoder  # noqa: E402
from rt_saliency.encode.mux import guess_format, is_url  # noqa: E402
from rt_saliency.errors import ConfigError  # noqa: E402
from rt_saliency.yuv import yuv_frame_from_av  # noqa: E402


def _probe(path: Path, entries: str, select: str | None = None) -> dict:
    cmd = ["ffprobe", "-v", "error", "-of", "json", "-show_entries", entries]
    if select:
        cmd += ["-select_streams", select]
    return json.loads(subprocess.run(cmd + [str(path)], capture_output=True, text=True,
                                     check=True, timeout=60).stdout)


def _transcode(src: Path, dst: Path, codec: str = "h264", fmt: str | None = None) -> None:
    """Decode src, encode its video with our encoder (flat map), copy its audio/subtitles."""
    with av.open(str(src)) as inp:
        vs = inp.streams.video[0]
        others = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        tb = Fraction(vs.time_base.numerator, vs.time_base.denominator)
        enc = open_encoder(codec, vs.width, vs.height, vs.average_rate or 25, time_base=tb,
                           preset="ultrafast", pixel_format=vs.codec_context.pix_fmt)
        with enc, Muxer(dst, vs.width, vs.height, vs.average_rate or 25, time_base=tb,
                        codec=codec, format=fmt, copy_streams=others) as mux:
            for packet in inp.demux(vs, *others):
                if packet.stream is vs:
                    for frame in packet.decode():
                        mux.mux(enc.encode(yuv_frame_from_av(frame)))
                else:
                    mux.mux_copy(packet)
            mux.mux(enc.flush())


@pytest.fixture(scope="module")
def av_source(tmp_path_factory, ffmpeg_bin) -> Path:
    """3 s of testsrc2 at 25 fps with a sine in AAC, starting at 101.4 s (Matroska)."""
    path = tmp_path_factory.mktemp("mux") / "av.mkv"
    subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "3", "-c:v", "ffv1",
                    "-c:a", "aac", "-output_ts_offset", "101.4", str(path)],
                   check=True, timeout=120)
    return path


@pytest.mark.parametrize("suffix,codec", [(".mkv", "h264"), (".mp4", "h264"), (".ts", "h264"),
                                          (".mkv", "hevc"), (".mp4", "hevc")])
def test_audio_is_copied_and_durations_match(tmp_path, av_source, suffix, codec) -> None:
    out = tmp_path / f"out{suffix}"
    _transcode(av_source, out, codec)
    info = _probe(out, "stream=codec_type,codec_name,start_time,duration,nb_read_frames:"
                       "format=duration")
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["audio"]["codec_name"] == "aac"
    assert kinds["video"]["codec_name"] == codec
    src = _probe(av_source, "stream=codec_type,start_time")
    src_video = next(s for s in src["streams"] if s["codec_type"] == "video")
    assert float(kinds["video"]["start_time"]) == pytest.approx(
        float(src_video["start_time"]), abs=0.04)  # start offset kept (one frame)
    frames = _probe(out, "frame=pts_time", "v:0")["frames"]
    assert len(frames) == 75
    span = float(frames[-1]["pts_time"]) - float(frames[0]["pts_time"])
    assert span == pytest.approx(74 / 25, abs=0.04)


def test_vfr_pts_equal_the_input(tmp_path, ffmpeg_bin) -> None:
    src, out = tmp_path / "vfr.mkv", tmp_path / "out.mkv"
    # 40 frames with irregular gaps (VFR), in Matroska's 1 ms time base
    subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=30", "-frames:v", "40", "-vf",
                    "setpts='N*1000/30+if(mod(N,3),0,17)*1'/1000/TB", "-fps_mode", "vfr",
                    "-c:v", "ffv1", str(src)], check=True, timeout=120)
    _transcode(src, out)
    pts_in = [f["pts"] for f in _probe(src, "frame=pts", "v:0")["frames"]]
    pts_out = [f["pts"] for f in _probe(out, "frame=pts", "v:0")["frames"]]
    assert len(set(np.diff(pts_in))) > 1, "the source is not VFR"
    assert pts_out == pts_in


def _yuv_frames(n: int = 10) -> list:
    gen = np.random.default_rng(3)
    base = gen.integers(0, 255, (240, 320), dtype=np.uint8)
    return [(np.roll(base, 4 * i, axis=1), np.full((120, 160), 128, np.uint8),
             np.full((120, 160), 128, np.uint8)) for i in range(n)]


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mpegts_over_tcp_and_udp_to_local_listeners(tmp_path) -> None:
    frames = _yuv_frames()
    for kind, scheme in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")):
        port = _free_port(kind)
        server = socket.socket(socket.AF_INET, kind)
        server.bind(("127.0.0.1", port))
        server.settimeout(20)
        received = bytearray()

        def listen() -> None:
            if kind == socket.SOCK_STREAM:
                server.listen(1)
                conn, _ = server.accept()
                with conn:
                    while chunk := conn.recv(65536):
                        received.extend(chunk)
            else:
                try:
                    while True:
                        received.extend(server.recv(65536))
                        server.settimeout(1.5)
                except socket.timeout:
                    pass

        thread = threading.Thread(target=listen)
        thread.start()
        url = f"{scheme}://127.0.0.1:{port}" + ("?pkt_size=1316" if scheme == "udp" else "")
        with open_encoder("h264", 320, 240, 25, preset="ultrafast") as enc, \
                Muxer(url, 320, 240, 25, format="mpegts") as mux:
            for planes in frames:
                mux.mux(enc.encode(planes))
            mux.mux(enc.flush())
        thread.join(30)
        server.close()
        with av.open(io.BytesIO(bytes(received)), format="mpegts") as c:
            assert len(list(c.decode(video=0))) == len(frames), scheme
    with pytest.raises(ConfigError, match="format"):
        Muxer("udp://127.0.0.1:9", 320, 240, 25)
    assert is_url("srt://127.0.0.1:9000") and not is_url("out.mkv")
    assert guess_format("out.hevc") == "hevc"


def test_a_failed_run_keeps_the_earlier_file(tmp_path) -> None:
    out = tmp_path / "out.mkv"
    out.write_bytes(b"earlier output")
    with pytest.raises(RuntimeError):
        with open_encoder("h264", 320, 240, 25, preset="ultrafast") as enc, \
                Muxer(out, 320, 240, 25) as mux:
            mux.mux(enc.encode(_yuv_frames(1)[0]))
            raise RuntimeError("the source died")
    assert out.read_bytes() == b"earlier output"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mkv"]  # no partial left behind
    with open_encoder("hevc", 320, 240, 25, preset="ultrafast") as enc, \
            Muxer(tmp_path / "raw.hevc", 320, 240, 25, codec="hevc") as mux:
        for planes in _yuv_frames(3):
            mux.mux(enc.encode(planes))
        mux.mux(enc.flush())
    with av.open(str(tmp_path / "raw.hevc")) as c:
        assert len(list(c.decode(video=0))) == 3
    with pytest.raises(ConfigError):
        Muxer(tmp_path / "x.h264", 320, 240, 25, codec="hevc")


def test_a_protocol_ffmpeg_lacks_is_one_clear_error() -> None:
    """PyAV's FFmpeg has no srt:// (nor does it know nosuch://): a ConfigError naming it."""
    with open_encoder("h264", 320, 240, 25, preset="ultrafast", tune="zerolatency",
                      vfr=False) as enc:
        mux = Muxer("nosuch://127.0.0.1:9", 320, 240, 25, format="mpegts")
        with pytest.raises(ConfigError, match="nosuch://"):
            mux.mux(enc.encode(_yuv_frames(1)[0]))
        mux.abort()


def test_close_after_a_failed_run_keeps_the_earlier_file(tmp_path: Path) -> None:
    """``close(ok=False)`` (the run failed) finishes nothing: the earlier file stays as it was."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"earlier")
    with open_encoder("h264", 320, 240, 25, preset="ultrafast", tune="zerolatency",
                      vfr=False) as enc:
        mux = Muxer(out, 320, 240, 25)
        for planes in _yuv_frames(3):
            mux.mux(enc.encode(planes))
        mux.close(ok=False)
    assert out.read_bytes() == b"earlier"
    assert not list(tmp_path.glob(".out.mp4.*"))  # no temporary file left behind


def test_a_finished_file_has_the_modes_of_the_umask(tmp_path: Path) -> None:
    """The temporary file is private while written; the finished one is readable as any file
    the user makes (``0o666 & ~umask``), not ``0o600``."""
    mask = os.umask(0o022)
    os.umask(mask)
    out = tmp_path / "out.mp4"
    with open_encoder("h264", 320, 240, 25, preset="ultrafast") as enc, \
            Muxer(out, 320, 240, 25) as mux:
        mux.mux(enc.encode(_yuv_frames(1)[0]))
        mux.mux(enc.flush())
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
