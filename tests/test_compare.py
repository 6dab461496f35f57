"""Quality metrics and BD-rate with known answers; the compression report on a synthetic clip
whose saliency is known by construction."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from rt_saliency.cli import main
from rt_saliency.encode.bdrate import bd_rate
from rt_saliency.encode.quality import PSNR_CAP_DB, ewpsnr, fixation_density, psnr, ssim
from rt_saliency.errors import InputError


def test_bd_rate_known_answers() -> None:
    rates, quality = [100, 200, 400, 800], [30.0, 33.0, 36.0, 39.0]
    assert bd_rate(rates, quality, rates, quality) == pytest.approx(0.0, abs=1e-9)
    cheaper = [r * 0.9 for r in rates]
    assert bd_rate(rates, quality, cheaper, quality) == pytest.approx(-10.0, abs=1e-6)
    assert bd_rate(rates, quality, cheaper, quality, method="cubic") == pytest.approx(-10.0, abs=1e-6)
    # +1 dB at 3 dB per doubling = rate x 2^(-1/3)
    better = bd_rate(rates, quality, rates, [q + 1 for q in quality])
    assert better == pytest.approx((2 ** (-1 / 3) - 1) * 100, abs=0.01)
    with pytest.raises(InputError):
        bd_rate(rates, quality, rates, [q + 20 for q in quality])
    with pytest.raises(InputError):
        bd_rate([100], [30.0], [100], [30.0])


def test_psnr_ssim_known_values() -> None:
    ref = np.full((32, 32), 100, np.uint8)
    assert psnr(ref, ref + 1) == pytest.approx(10 * np.log10(255 ** 2), abs=1e-9)
    assert psnr(ref, ref) == PSNR_CAP_DB
    textured = (np.indices((64, 64)).sum(0) * 7 % 256).astype(np.uint8)
    assert ssim(textured, textured) == pytest.approx(1.0, abs=1e-9)
    noisy = np.clip(textured + np.random.default_rng(0).normal(0, 20, textured.shape), 0, 255)
    assert ssim(textured, noisy.astype(np.uint8)) < 0.9


def test_ewpsnr_weights_errors_by_density() -> None:
    ref = np.zeros((40, 40), np.uint8)
    test = ref.copy()
    test[:, 20:] = 10  # error only on the right half
    left = np.zeros((40, 40))
    left[:, :20] = 1.0
    right = left[:, ::-1]
    assert ewpsnr(ref, test, left) == PSNR_CAP_DB  # nobody looks where the error is
    assert ewpsnr(ref, test, right) == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=1e-9)
    assert ewpsnr(ref, test, np.ones((5, 5))) == pytest.approx(psnr(ref, test), abs=1e-9)
    fix = np.zeros((40, 40))
    fix[10, 30] = 1
    dens = fixation_density(fix, 3.0)
    assert dens.sum() == pytest.approx(1.0) and dens.argmax() == 10 * 40 + 30


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory):
    """One synthetic video with known saliency (moving objects), DHF1K layout."""
    from rt_saliency.data.synth import SynthConfig, generate_synthetic

    root = tmp_path_factory.mktemp("synth")
    numbers = generate_synthetic(root, SynthConfig(videos=1, frames=24, width=256, height=192,
                                                   seed=7))
    number = next(n for ns in numbers.values() for n in ns)
    return root / "frames" / f"{number:03d}", root / "annotation" / f"{number:04d}" / "maps"


def test_compare_report_on_synthetic_clip(tmp_path, synth_clip) -> None:
    frames, maps = synth_clip
    out = tmp_path / "report"
    status = main(["compare", "-i", str(frames), "--saliency", str(maps), "--crf", "20", "26",
                   "32", "38", "--out", str(out), "--json"])
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.md").read_text().startswith("# Saliency-guided x264")
    assert (out / "rate_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["frames"] == 24 and report["weights"]["source"] == "ground-truth saliency maps"
    assert len(report["points"]) == 4
    for point in report["points"]:
        assert point["saliency"]["bytes"] != point["baseline"]["bytes"]
    rates = [p["baseline"]["kbps"] for p in report["points"]]
    assert rates == sorted(rates, reverse=True)  # higher CRF, fewer bits
    bd = report["bd_rate_percent"]
    # Offsets move quality to where people look: EWPSNR gains relative to plain PSNR.
    assert bd["ewpsnr"] is not None and bd["psnr"] is not None
    assert bd["ewpsnr"] < bd["psnr"]


def test_compare_with_predicted_saliency(tmp_path, synth_clip) -> None:
    """Without --saliency the maps come from the default predictor (the shipped network),
    through the pipeline."""
    frames, _ = synth_clip
    out = tmp_path / "predicted"
    status = main(["compare", "-i", str(frames), "--crf", "22", "30", "--frames", "12",
                   "--out", str(out), "--json"])
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 12
    assert report["weights"]["source"] == "predicted saliency (tpcmrnet/onnxruntime)"
    assert report["offsets"]["min"] < report["offsets"]["max"]  # the prior's map is not flat


def test_compare_bad_inputs_exit_2(tmp_path, synth_clip) -> None:
    frames, maps = synth_clip
    assert main(["compare", "-i", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert main(["compare", "-i", str(frames), "--out", str(tmp_path / "o"),
                 "--backend", "nonesuch"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", "-i", str(frames), "--saliency", str(empty), "--crf", "20", "30",
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["compare", "-i", str(frames), "--saliency", str(maps), "--crf", "20",
                 "--out", str(tmp_path / "o")]) == 2  # one ladder point: no BD-rate


def test_compare_psnr_equals_ffmpegs_psnr_filter(tmp_path, vtest_avi, ffmpeg_bin) -> None:
    """The report's luma PSNR is measured on the coded Y plane (limited range, no stretch): it
    equals FFmpeg's psnr filter between each kept encode and the source within 0.01 dB."""
    out = tmp_path / "vtest"
    assert main(["compare", "-i", str(vtest_avi), "--backend", "prior", "--crf", "24", "34",
                 "--frames", "8", "--out", str(out), "--json"]) == 0
    report = json.loads((out / "report.json").read_text())
    checked = 0
    for point in report["points"]:
        for name in ("baseline", "saliency"):
            row = point[name]
            proc = subprocess.run(
                [ffmpeg_bin, "-hide_banner", "-nostats", "-i", row["file"], "-i", str(vtest_avi),
                 "-lavfi", "[0:v]settb=AVTB,setpts=N[a];[1:v]trim=end_frame=8,settb=AVTB,"
                 "setpts=N[b];[a][b]psnr", "-f", "null", "-"],
                capture_output=True, text=True, timeout=120, check=True)
            ffmpeg_y = float(re.search(r"PSNR y:([0-9.]+)", proc.stderr).group(1))
            assert row["psnr_pooled"] == pytest.approx(ffmpeg_y, abs=0.01), (name, point)
            checked += 1
    assert checked == 4
