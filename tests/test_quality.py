"""Luma quality on planes as coded: equal to FFmpeg's psnr filter (8 and 10 bit, real clip)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from rt_saliency.encode.quality import decoded_luma, frame_mse, sequence_psnr  # noqa: E402
from rt_saliency.errors import InputError  # noqa: E402


def test_sequence_psnr_known_answers() -> None:
    ref = [np.full((4, 4), 100, np.uint8)] * 2
    one_off = [np.full((4, 4), 101, np.uint8)] * 2
    assert sequence_psnr(ref, one_off) == pytest.approx(10 * np.log10(255 ** 2))
    # the mean of the frame MSEs, not the mean of frame PSNRs: MSE 1 and 9 -> MSE 5
    mixed = [np.full((4, 4), 101, np.uint8), np.full((4, 4), 103, np.uint8)]
    assert sequence_psnr(ref, mixed) == pytest.approx(10 * np.log10(255 ** 2 / 5))
    ten = [np.full((2, 2), 400, np.uint16)]
    assert sequence_psnr(ten, [ten[0] + 2], bit_depth=10) == pytest.approx(
        10 * np.log10(1023 ** 2 / 4))
    assert frame_mse(ref[0], one_off[0]) == 1.0
    with pytest.raises(InputError):
        sequence_psnr(ref, one_off[:1])


def _filter_psnr_y(ffmpeg_bin: str, decoded: Path, src: Path) -> float:
    proc = subprocess.run(
        [ffmpeg_bin, "-hide_banner", "-nostats", "-i", str(decoded), "-i", str(src), "-lavfi",
         "[0:v]settb=AVTB,setpts=N[a];[1:v]settb=AVTB,setpts=N[b];[a][b]psnr", "-f", "null",
         "-"], capture_output=True, text=True, timeout=300, check=True)
    return float(re.search(r"PSNR y:([0-9.]+)", proc.stderr).group(1))


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_psnr_y_equals_ffmpeg_psnr_filter(tmp_path, vtest_avi, ffmpeg_bin, pix_fmt) -> None:
    src, enc = tmp_path / "src.y4m", tmp_path / "enc.mkv"
    subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-i", str(vtest_avi),
                    "-frames:v", "20", "-pix_fmt", pix_fmt, "-strict", "-1", str(src)],
                   check=True, timeout=120)
    subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-i", str(src), "-c:v",
                    "libx264", "-preset", "veryfast", "-crf", "30", str(enc)],
                   check=True, timeout=120)
    refs = list(decoded_luma(src))
    tests = list(decoded_luma(enc))
    depth = refs[0][1]
    assert depth == (10 if "10" in pix_fmt else 8) and tests[0][1] == depth
    ours = sequence_psnr([r for r, _ in refs], [t for t, _ in tests], bit_depth=depth)
    reference = _filter_psnr_y(ffmpeg_bin, enc, src)
    print(f"{pix_fmt}: ours {ours:.4f} dB, psnr filter {reference:.4f} dB")
    assert abs(ours - reference) <= 0.01, (ours, reference)
    if depth == 8:  # the old reading (gray = limited range stretched) is far off
        with av.open(str(enc)) as c:
            gray = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
        stretched = sequence_psnr([r for r, _ in refs], gray)
        assert abs(stretched - reference) > 1.0
