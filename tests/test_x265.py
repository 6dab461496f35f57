"""libx265 through the C extension: the offsets change quality where they say, the interface
matches X264Encoder, refusals."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from rt_saliency.encode import X265Config, X265Encoder, open_encoder  # noqa: E402
from rt_saliency.encode.quality import decoded_luma, psnr  # noqa: E402
from rt_saliency.encode.x265 import supported_bit_depths  # noqa: E402
from rt_saliency.errors import ConfigError, InputError  # noqa: E402
from rt_saliency.yuv import ColorInfo, yuv_frame_from_av  # noqa: E402


@pytest.fixture(scope="module")
def vtest_yuv(vtest_avi: Path):
    with av.open(str(vtest_avi)) as c:
        return [yuv_frame_from_av(f) for _, f in zip(range(6), c.decode(video=0))]


def _encode(frames, offsets, **cfg) -> bytes:
    f = frames[0]
    out = bytearray()
    with X265Encoder(f.width, f.height, 10, **cfg) as enc:
        for i, fr in enumerate(frames):
            out += b"".join(p.data for p in enc.encode(fr, offsets, pts=i))
        out += b"".join(p.data for p in enc.flush())
    return bytes(out)


def test_negative_offsets_on_the_left_raise_quality_there(vtest_yuv) -> None:
    """Left half -6, right half +6: on the decoded output the left half gains PSNR and the right
    half loses it, against the flat encode at the same CRF."""
    frames = vtest_yuv
    f = frames[0]
    rows, cols = -(-f.height // 16), -(-f.width // 16)
    grid = np.full((rows, cols), 6.0, np.float32)
    grid[:, : cols // 2] = -6.0
    cfg = dict(preset="ultrafast", crf=30, threads=1)
    half = (cols // 2) * 16

    def halves(data: bytes) -> tuple[float, float]:
        dec = [y for y, _ in decoded_luma(data, format="hevc")]
        assert len(dec) == len(frames)
        left = np.mean([psnr(r.planes[0][:, :half], d[:, :half]) for r, d in zip(frames, dec)])
        right = np.mean([psnr(r.planes[0][:, half:], d[:, half:]) for r, d in zip(frames, dec)])
        return float(left), float(right)

    flat_l, flat_r = halves(_encode(frames, None, **cfg))
    map_l, map_r = halves(_encode(frames, grid, **cfg))
    print(f"flat L {flat_l:.2f} R {flat_r:.2f} dB; map L {map_l:.2f} R {map_r:.2f} dB")
    assert map_l > flat_l + 1.5, (flat_l, map_l)
    assert map_r < flat_r - 1.5, (flat_r, map_r)


def test_zero_offsets_give_the_flat_stream(vtest_yuv) -> None:
    f = vtest_yuv[0]
    zeros = np.zeros((-(-f.height // 16), -(-f.width // 16)), np.float32)
    cfg = dict(preset="ultrafast", crf=28, threads=1)
    assert _encode(vtest_yuv[:3], zeros, **cfg) == _encode(vtest_yuv[:3], None, **cfg)


def test_same_interface_as_x264(tmp_path, vtest_yuv) -> None:
    f = vtest_yuv[0]
    pts_in = [1014, 1017, 1020, 1024, 1030, 1031]
    with open_encoder("hevc", f.width, f.height, "30000/1001", pixel_format="yuv420p",
                      time_base=Fraction(1, 100), preset="ultrafast", threads=1,
                      color=ColorInfo(range="limited", matrix=1, primaries=1, transfer=1)) as enc:
        assert enc.mb_shape == (36, 48) and enc.fps == Fraction(30000, 1001)
        assert enc.params["aq_mode"] > 0 and enc.params["repeat_headers"] == 1
        assert enc.headers().startswith(b"\x00\x00\x00\x01@")  # VPS first
        packets = [p for fr, t in zip(vtest_yuv, pts_in) for p in enc.encode(fr, pts=t)]
        packets += enc.flush()
    assert sorted(p.pts for p in packets) == pts_in
    assert packets[0].keyframe and packets[0].frame_type == "IDR"
    path = tmp_path / "tags.hevc"
    path.write_bytes(b"".join(p.data for p in packets))
    info = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "default=nw=1",
                           str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "color_space=bt709" in info and "color_range=tv" in info


def test_ten_bit_and_refusals(vtest_yuv) -> None:
    assert 10 in supported_bit_depths()
    f = vtest_yuv[0]
    y, u, v = (p.astype(np.uint16) << 2 for p in f.planes)
    with X265Encoder(f.width, f.height, 10, pixel_format="yuv420p10le", preset="ultrafast",
                     threads=1) as enc:
        assert enc.params["bit_depth"] == 10
        data = b"".join(p.data for p in enc.encode((y, u, v)) + enc.flush())
        with pytest.raises(InputError):
            enc.encode(f.planes)  # uint8 planes
    dec = [(plane, depth) for plane, depth in decoded_luma(data, format="hevc")]
    assert dec[0][1] == 10 and psnr(y, dec[0][0], peak=1023) > 30
    for bad in ({"aq_mode": 0}, {"options": {"aq-mode": "0"}}, {"options": {"qg-size": "8"}},
                {"qp": 20}, {"tune": "film"}):
        with pytest.raises(ConfigError):
            X265Config(**bad)
    with pytest.raises(ConfigError):
        X265Encoder(64, 64, 25, options={"no-such-x265-option": "1"})
    with X265Encoder(64, 64, 25, tune="psnr", preset="ultrafast") as enc:  # psnr turns AQ off
        assert enc.params["aq_mode"] > 0 and enc.params["aq_strength"] > 0
