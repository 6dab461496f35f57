"""libx264 through the C extension: offsets reach the bitstream, refusals, odd sizes, muxing."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from rt_saliency.encode import Muxer, X264Config, X264Encoder  # noqa: E402
from rt_saliency.errors import ConfigError, InputError  # noqa: E402


@pytest.fixture(scope="module")
def vtest_frames(vtest_avi: Path) -> list[np.ndarray]:
    """The first 8 frames of the real clip, RGB 768x576."""
    with av.open(str(vtest_avi)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(8), c.decode(video=0))]


def _encode(frames, offsets, **cfg) -> bytes:
    h, w = frames[0].shape[:2]
    out = bytearray()
    with X264Encoder(w, h, 10, **cfg) as enc:
        for i, f in enumerate(frames):
            grid = offsets(i) if callable(offsets) else offsets
            out += b"".join(p.data for p in enc.encode(f, grid, pts=i))
        out += b"".join(p.data for p in enc.flush())
    return bytes(out)


def _decoded_qp(data: bytes) -> list[tuple[str, int, np.ndarray]]:
    """(picture type, frame QP, per-MB QP map) of each decoded frame, from venc_params."""
    from av.sidedata.encparams import VideoEncParams

    out = []
    with av.open(io.BytesIO(data), format="h264") as c:
        stream = c.streams.video[0]
        stream.codec_context.options = {"export_side_data": "venc_params"}
        for frame in c.decode(stream):
            params = [d for d in frame.side_data if isinstance(d, VideoEncParams)]
            assert params, "decoder exported no VIDEO_ENC_PARAMS side data"
            out.append((av.video.frame.PictureType(int(frame.pict_type)).name, params[0].qp, np.asarray(params[0].qp_map())))
    return out


def test_macroblock_qp_follows_the_map(vtest_frames) -> None:
    frames = vtest_frames[:3]
    h, w = frames[0].shape[:2]
    rows, cols = -(-h // 16), -(-w // 16)
    yy, xx = np.mgrid[0:rows, 0:cols]
    offsets = np.clip(8 * np.sin(xx / 4.0) * np.cos(yy / 5.0), -8, 8).astype(np.float32)
    cfg = dict(preset="veryfast", crf=26)
    with_map = _decoded_qp(_encode(frames, offsets, **cfg))
    without = _decoded_qp(_encode(frames, None, **cfg))
    ptype, frame_qp, qmap = with_map[0]
    assert ptype == "I" and qmap.shape == (rows, cols)
    assert frame_qp == without[0][1]  # CRF picks the same frame QP; only MBs moved
    delta = (qmap - without[0][2]).astype(np.float64)
    corr = np.corrcoef(delta.ravel(), offsets.ravel())[0, 1]
    slope = np.polyfit(offsets.ravel(), delta.ravel(), 1)[0]
    assert corr >= 0.9, f"correlation {corr:.3f}"
    assert 0.8 < slope < 1.2, f"slope {slope:.3f}: one offset unit should be one QP step"


def test_zero_map_gives_identical_bitstream(vtest_frames) -> None:
    h, w = vtest_frames[0].shape[:2]
    zeros = np.zeros((-(-h // 16), -(-w // 16)), np.float32)
    cfg = dict(preset="veryfast", crf=23)
    plain = _encode(vtest_frames, None, **cfg)
    assert _encode(vtest_frames, zeros, **cfg) == plain
    assert _encode(vtest_frames, zeros - 2.0, **cfg) != plain  # and a real map does change it


@pytest.mark.parametrize("kwargs", [{"qp": 22}, {"aq_mode": 0}, {"options": {"aq-mode": "0"}},
                                    {"options": {"qp": "20"}}, {"preset": "warp"},
                                    {"crf": None}, {"bitrate": -5}])
def test_configs_that_would_drop_offsets_are_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        X264Config(**kwargs)


def test_aq_is_on_even_for_presets_that_turn_it_off() -> None:
    for preset, tune in (("ultrafast", None), ("medium", "psnr")):
        with X264Encoder(64, 48, 25, preset=preset, tune=tune) as enc:
            assert enc.params["aq_mode"] == 1
            assert enc.params["repeat_headers"] == 1 and enc.params["annexb"] == 1
    with pytest.raises(ConfigError):
        X264Encoder(64, 48, 25, options={"no-such-x264-option": "1"})


def test_odd_size_is_padded_and_grid_matches_source(rng: np.random.Generator) -> None:
    h, w = 1081, 1921
    base = np.zeros((h, w, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    base[500:600, 900:1100] = 255
    with X264Encoder(w, h, 25, preset="ultrafast", crf=18) as enc:
        assert enc.mb_shape == (68, 121) and (enc.coded_width, enc.coded_height) == (1922, 1082)
        data = b"".join(p.data for p in enc.encode(base, np.zeros(enc.mb_shape)))
        data += b"".join(p.data for p in enc.flush())
        with pytest.raises(InputError):
            enc.encode(base, np.zeros((68, 120)))
        with pytest.raises(InputError):
            enc.encode(base, np.full(enc.mb_shape, np.nan))
        with pytest.raises(InputError):
            enc.encode(base[:-1], None)
    with av.open(io.BytesIO(data), format="h264") as c:
        frame = next(iter(c.decode(video=0)))
    assert (frame.width, frame.height) == (1922, 1082)
    decoded = frame.to_ndarray(format="rgb24")[:h, :w].astype(np.float64)
    mse = np.mean((decoded - base) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 30  # the picture is there, not shifted
    with pytest.raises(InputError):
        X264Encoder(w, h, 25, odd="error")


def test_flush_returns_every_frame_with_its_pts(vtest_frames) -> None:
    h, w = vtest_frames[0].shape[:2]
    packets = []
    with X264Encoder(w, h, 10, preset="veryfast", bframes=3, threads=2) as enc:
        for i, f in enumerate(vtest_frames):
            packets += enc.encode(f, None, pts=100 + i)
        held = enc.delayed_frames()
        packets += enc.flush()
    assert held > 0 and len(packets) == len(vtest_frames)
    assert sorted(p.pts for p in packets) == list(range(100, 100 + len(vtest_frames)))
    assert packets[0].keyframe and packets[0].frame_type == "IDR"
    assert packets[0].data.startswith(b"\x00\x00\x00\x01")  # Annex-B, SPS first
    assert all(a.dts < b.dts for a, b in zip(packets, packets[1:]))


def test_zerolatency_holds_no_frames(vtest_frames) -> None:
    """CFR rate control holds nothing; VFR (timestamps drive the rate) waits one frame for the
    next pts, as x264's lookahead does for every VFR input."""
    h, w = vtest_frames[0].shape[:2]
    with X264Encoder(w, h, 10, preset="ultrafast", tune="zerolatency", vfr=False) as enc:
        for i, f in enumerate(vtest_frames[:3]):
            assert len(enc.encode(f, np.zeros(enc.mb_shape), pts=i)) == 1
        assert enc.flush() == []
    with X264Encoder(w, h, 10, preset="ultrafast", tune="zerolatency") as enc:
        assert enc.encode(vtest_frames[0], None, pts=0) == []
        assert len(enc.encode(vtest_frames[1], None, pts=1)) == 1
        assert len(enc.flush()) == 1


def test_yuv420p_input_matches_rgb_path(vtest_frames) -> None:
    import cv2

    f = vtest_frames[0]
    h, w = f.shape[:2]
    i420 = cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420)
    with X264Encoder(w, h, 10, preset="ultrafast", tune="zerolatency", vfr=False) as a, \
            X264Encoder(w, h, 10, preset="ultrafast", tune="zerolatency", vfr=False) as b:
        pa = a.encode(f, None, pts=0)
        pb = b.encode(i420, None, pts=0, pixel_format="yuv420p")
        y, u, v = i420[:h], i420[h:h + h // 4].reshape(h // 2, w // 2), \
            i420[h + h // 4:].reshape(h // 2, w // 2)
        pc = b.encode((y, u, v), None, pts=1, keyframe=True, pixel_format="yuv420p")
    assert pa[0].data == pb[0].data
    assert pc[0].keyframe


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts", ".h264"])
def test_muxed_files_decode_with_all_frames(tmp_path, vtest_frames, suffix) -> None:
    h, w = vtest_frames[0].shape[:2]
    path = tmp_path / f"out{suffix}"
    with X264Encoder(w, h, 10, preset="ultrafast") as enc, Muxer(path, w, h, 10) as mux:
        for i, f in enumerate(vtest_frames):
            mux.mux(enc.encode(f, np.zeros(enc.mb_shape), pts=i))
        mux.mux(enc.flush())
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        stream = c.streams.video[0]
    assert len(frames) == len(vtest_frames)
    assert (stream.codec_context.width, stream.codec_context.height) == (w, h)
    if suffix in (".mp4", ".mkv"):
        assert frames[-1].time == pytest.approx((len(vtest_frames) - 1) / 10)


def test_mpegts_to_a_pipe_is_read_by_ffmpeg(vtest_frames, ffmpeg_bin) -> None:
    h, w = vtest_frames[0].shape[:2]
    buf = io.BytesIO()
    with X264Encoder(w, h, 10, preset="ultrafast") as enc, Muxer(buf, w, h, 10) as mux:
        assert mux.format == "mpegts"
        for i, f in enumerate(vtest_frames):
            mux.mux(enc.encode(f, None, pts=i))
        mux.mux(enc.flush())
    proc = subprocess.run([ffmpeg_bin, "-hide_banner", "-i", "-", "-f", "framemd5", "-"],
                          input=buf.getvalue(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    lines = [ln for ln in proc.stdout.decode().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == len(vtest_frames)
    with pytest.raises(ConfigError):
        Muxer(io.BytesIO(), w, h, 10, format="mp4")


@pytest.fixture(scope="module")
def vtest_yuv(vtest_avi: Path):
    """The first 6 frames of the real clip as decoded (yuv420p planes, no conversion)."""
    from rt_saliency.yuv import yuv_frame_from_av

    with av.open(str(vtest_avi)) as c:
        return [yuv_frame_from_av(f) for _, f in zip(range(6), c.decode(video=0))]


def _stream_info(path: Path, ffprobe: str = "ffprobe") -> dict[str, str]:
    out = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_streams",
                          "-of", "default=nw=1", str(path)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("fmt,profile", [("yuv422p", "High 4:2:2"), ("yuv444p", "High 4:4:4 Predictive"),
                                         ("yuv420p10le", "High 10"),
                                         ("yuv444p10le", "High 4:4:4 Predictive")])
def test_planar_formats_and_depths_go_in_unchanged(tmp_path, vtest_yuv, fmt, profile) -> None:
    """4:2:2, 4:4:4 and 10-bit planes are coded as they are: the decoded planes match the input
    closely (no range or matrix conversion anywhere)."""
    from rt_saliency.yuv import pixel_format, planes_from_av_frame

    pf = pixel_format(fmt)
    shift = pf.bit_depth - 8
    src = []
    for f in vtest_yuv[:3]:
        y, u, v = (p.astype(pf.dtype) << shift for p in f.planes)
        u, v = (np.repeat(np.repeat(c, 2 - pf.sub_h, axis=0), 2 - pf.sub_w, axis=1)
                for c in (u, v))
        src.append((y, np.ascontiguousarray(u), np.ascontiguousarray(v)))
    h, w = src[0][0].shape
    path = tmp_path / "out.h264"
    with X264Encoder(w, h, 10, pixel_format=fmt, preset="veryfast", crf=14) as enc, \
            path.open("wb") as fh:
        for i, planes in enumerate(src):
            fh.write(b"".join(p.data for p in enc.encode(planes, pts=i)))
        fh.write(b"".join(p.data for p in enc.flush()))
    info = _stream_info(path)
    assert info["pix_fmt"] == fmt and info["profile"] == profile
    with av.open(str(path)) as c:
        decoded = [planes_from_av_frame(f) for f in c.decode(video=0)]
    assert len(decoded) == 3
    for ref, dec in zip(src, decoded):
        for a, b in zip(ref, dec):
            err = np.abs(a.astype(np.int64) - b.astype(np.int64)).mean() / (1 << (pf.bit_depth - 8))
            assert err < 2.0, f"mean abs error {err:.2f} (8-bit units)"


def test_wrong_planes_are_refused_in_one_line(vtest_yuv) -> None:
    f = vtest_yuv[0]
    with X264Encoder(f.width, f.height, 10, pixel_format="yuv420p10le") as enc:
        with pytest.raises(InputError, match="uint16"):
            enc.encode(f.planes)  # 8-bit planes into a 10-bit encoder
        with pytest.raises(InputError, match="yuv420p10le"):
            enc.encode(f)  # a yuv420p frame
    with X264Encoder(f.width, f.height, 10) as enc:
        enc.encode(f, pts=5)
        with pytest.raises(InputError, match="increase"):
            enc.encode(f, pts=5)


def test_colour_tags_reach_the_vui(tmp_path, vtest_yuv) -> None:
    from rt_saliency.yuv import ColorInfo

    f = vtest_yuv[0]
    path = tmp_path / "tags.h264"
    color = ColorInfo(range="full", matrix=1, primaries=1, transfer=1, chroma_location=0)
    with X264Encoder(f.width, f.height, 10, color=color, preset="ultrafast",
                     sample_aspect_ratio=(16, 15)) as enc:
        assert enc.params["full_range"] == 1 and enc.params["colmatrix"] == 1
        path.write_bytes(b"".join(p.data for p in enc.encode(f) + enc.flush()))
    info = _stream_info(path)
    assert info["color_range"] == "pc" and info["color_space"] == "bt709"
    assert info["color_primaries"] == "bt709" and info["color_transfer"] == "bt709"
    assert info["chroma_location"] == "left" and info["sample_aspect_ratio"] == "16:15"


def test_vfr_timestamps_pass_through(vtest_yuv) -> None:
    """Irregular pts in a 1/1000 time base come back unchanged (VFR kept, start offset kept)."""
    from fractions import Fraction

    f = vtest_yuv[0]
    pts_in = [101400, 101433, 101500, 101520, 101600, 101700]
    with X264Encoder(f.width, f.height, 30, time_base=Fraction(1, 1000), preset="veryfast",
                     bframes=2) as enc:
        assert enc.params["vfr"] == 1 and enc.params["timebase_den"] == 1000
        packets = [p for fr, t in zip(vtest_yuv, pts_in) for p in enc.encode(fr, pts=t)]
        packets += enc.flush()
    assert sorted(p.pts for p in packets) == pts_in
    assert all(p.dts <= p.pts for p in packets)


def test_user_options_reach_x264(vtest_yuv) -> None:
    """Named settings and x264-params passthrough end up in x264's own options line."""
    f = vtest_yuv[0]
    with X264Encoder(f.width, f.height, 10, preset="fast", bframes=1, aq_mode=2,
                     aq_strength=0.7, threads=1, vbv_maxrate=800, vbv_bufsize=1600,
                     level="4.0", profile="main", options={"ref": "2", "me": "umh"}) as enc:
        data = b"".join(p.data for fr in vtest_yuv for p in enc.encode(fr)) + \
            b"".join(p.data for p in enc.flush())
    line = data[data.index(b"options: "):].split(b"\x80")[0].decode("ascii", "replace")
    for token in ("bframes=1", "aq=2:0.70", "threads=1", "vbv_maxrate=800", "vbv_bufsize=1600",
                  "ref=2", "me=umh", "cabac=1", "8x8dct=0"):  # main profile: no 8x8 transform
        assert token in line, token
    with pytest.raises(ConfigError):
        X264Config(options={"aq_mode": "0"})
    with pytest.raises(ConfigError):
        X264Config(vbv_maxrate=800)  # without a buffer size


def test_two_pass_abr_lands_nearer_its_target(tmp_path, vtest_yuv) -> None:
    f = vtest_yuv[0]
    stats = str(tmp_path / "x264.stats")
    target_kbps = 600
    seconds = len(vtest_yuv) / 10

    def run(**kw) -> int:
        with X264Encoder(f.width, f.height, 10, preset="veryfast", bitrate=target_kbps,
                         crf=None, **kw) as enc:
            size = sum(len(p) for fr in vtest_yuv for p in enc.encode(fr))
            return size + sum(len(p) for p in enc.flush())

    one = run()
    run(pass_number=1, stats=stats)
    assert Path(stats).stat().st_size > 0
    two = run(pass_number=2, stats=stats)
    err = [abs(n * 8 / seconds / 1000 / target_kbps - 1) for n in (one, two)]
    assert err[1] < err[0] and err[1] < 0.10, err
    with pytest.raises(ConfigError):
        X264Config(pass_number=2, stats=stats)  # 2-pass needs a bitrate
