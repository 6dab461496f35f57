"""Quality metrics and BD-rate with known answers; the compression report (saliency encodes
against plain ffmpeg at every AQ mode) on a synthetic clip whose saliency is known by
construction, on real video and on real gaze stills."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from rt_saliency.apps.compare.clip import read_clip
from rt_saliency.apps.compare.ladder import encode_ffmpeg, encode_ours, salient_region
from rt_saliency.cli import main
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.encode import encoder_config, under_map
from rt_saliency.encode.bdrate import bd_rate
from rt_saliency.encode.ffmpeg_cli import ffmpeg_encoder_args
from rt_saliency.encode.quality import PSNR_CAP_DB, ewpsnr, fixation_density, psnr, ssim
from rt_saliency.errors import InputError
from rt_saliency.qp import QPConfig


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
    root = tmp_path_factory.mktemp("synth")
    numbers = generate_synthetic(root, SynthConfig(videos=1, frames=24, width=256, height=192,
                                                   seed=7))
    number = next(n for ns in numbers.values() for n in ns)
    return root / "frames" / f"{number:03d}", root / "annotation" / f"{number:04d}" / "maps"


def test_compare_report_on_synthetic_clip(tmp_path, synth_clip) -> None:
    frames, maps = synth_clip
    out = tmp_path / "report"
    status = main(["compare", "-i", str(frames), "--saliency", str(maps), "--crf", "20", "26",
                   "32", "38", "--baseline-aq", "0", "1", "--preset", "veryfast", "--out",
                   str(out), "--json"])
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.md").read_text().startswith("# Saliency-guided encoding")
    assert (out / "rate_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["frames"] == 24 and report["weights"]["source"] == "ground-truth saliency maps"
    assert len(report["points"]) == 4
    for point in report["points"]:
        assert set(point["encodes"]) == {"x264 aq-mode 0", "x264 aq-mode 1",
                                         "saliency/ground-truth"}
    rates = [p["encodes"]["x264 aq-mode 1"]["bpp"] for p in report["points"]]
    assert rates == sorted(rates, reverse=True)  # higher CRF, fewer bits
    bd = report["bd_rate_percent"]["against_each"]["saliency/ground-truth"]
    for anchor in ("x264 aq-mode 0", "x264 aq-mode 1"):
        # offsets move quality to where people look: EWPSNR and the salient region gain
        # relative to plain PSNR and to the rest of the frame
        assert bd[anchor]["ewpsnr"] < bd[anchor]["psnr"]
        assert bd[anchor]["psnr_salient"] < bd[anchor]["psnr_rest"]
    strongest = report["bd_rate_percent"]["against_strongest"]["saliency/ground-truth"]
    assert strongest["ewpsnr"] == max(bd[a]["ewpsnr"] for a in bd)


def test_compare_with_predicted_saliency(tmp_path, synth_clip) -> None:
    """Without --saliency the maps come from the default predictor (the shipped network),
    through the pipeline; a second backend adds its own encode."""
    frames, _ = synth_clip
    out = tmp_path / "predicted"
    status = main(["compare", "-i", str(frames), "--crf", "22", "30", "--frames", "12",
                   "--backend", "auto", "prior", "--baseline-aq", "1", "--preset", "veryfast",
                   "--out", str(out), "--json"])
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 12
    # the shipped network on the CPU: its INT8 encoder (docs/deployment.md)
    assert report["weights"]["source"] == "predicted saliency (tpcmrnet/onnxruntime-int8)"
    assert set(report["offsets"]) == {"tpcmrnet/onnxruntime-int8", "prior"}
    for offsets in report["offsets"].values():
        assert offsets["min"] < offsets["max"]  # neither map is flat


def test_compare_bad_inputs_exit_2(tmp_path, synth_clip, gaze_mini) -> None:
    frames, maps = synth_clip
    assert main(["compare", "-i", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", "-i", str(frames), "--saliency", str(empty), "--crf", "20", "30",
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["compare", "-i", str(frames), "--saliency", str(maps), "--crf", "20",
                 "--out", str(tmp_path / "o")]) == 2  # one ladder point: no BD-rate
    assert main(["compare", "-i", str(frames), "--saliency", str(maps), "--baseline-aq", "5",
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["compare", "--gaze", str(gaze_mini), "--saliency", str(maps),
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["compare", "--gaze", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["compare", "-i", str(frames), "--out", str(tmp_path / "o"), "--backend", "nonesuch"])
    assert exc.value.code == 2


def test_ffmpeg_options_of_an_encoder_config() -> None:
    cfg = encoder_config("h264", preset="fast", crf=21, keyint=50, bframes=2, aq_strength=1.2,
                         options={"ref": "2"})
    assert ffmpeg_encoder_args(cfg, aq_mode=0) == [
        "-c:v", "libx264", "-preset", "fast", "-crf", "21", "-threads", "0", "-x264-params",
        "keyint=50:bframes=2:aq-mode=0:aq-strength=1.2:ref=2"]
    hevc = encoder_config("hevc", bitrate=800, level="4.1")
    assert ffmpeg_encoder_args(hevc) == ["-c:v", "libx265", "-preset", "medium", "-b:v", "800k",
                                         "-threads", "0", "-x265-params", "level-idc=4.1"]


@pytest.mark.parametrize("codec,default_aq", [("h264", 1), ("hevc", 2)])
def test_the_ffmpeg_baseline_at_the_default_aq_equals_our_flat_encode(vtest_avi, codec,
                                                                       default_aq) -> None:
    """The baselines are plain ffmpeg; with the library's default AQ mode (x264 1, x265 2) and
    no offsets, ours and ffmpeg's streams are the same bytes (x265: but for the log level its
    options SEI names)."""
    frames, fps, size = read_clip(vtest_avi, 6)
    cfg = encoder_config(codec, preset="veryfast", crf=26, threads=1)
    ours = encode_ours(frames, size, fps, cfg, None)
    theirs = encode_ffmpeg(frames, size, fps, cfg, aq_mode=default_aq)
    if codec == "h264":
        assert ours == theirs
    else:
        assert len(ours) == len(theirs) and sum(a != b for a, b in zip(ours, theirs)) <= 8
    assert encode_ffmpeg(frames, size, fps, cfg, aq_mode=0) != theirs  # the mode reaches x26N


def test_salient_region_known_answers() -> None:
    ramp = np.arange(100, dtype=np.float32).reshape(10, 10)
    assert salient_region(ramp).sum() == 20  # the top fifth
    sparse = np.zeros((10, 10), np.float32)
    sparse[2:4, 2:4] = 1.0  # a map that is zero almost everywhere: its non-zero part
    assert salient_region(sparse).sum() == 4
    assert not salient_region(np.ones((4, 4))).any()  # flat: no salient region


def test_compare_on_real_gaze_stills(tmp_path, gaze_mini) -> None:
    """The gaze-image comparison on the repo's real fixations: one I-frame per image, weights
    from the observers, offsets from the prior (which never saw them)."""
    out = tmp_path / "gaze"
    assert main(["compare", "--gaze", str(gaze_mini), "--split", "test", "--backend", "prior",
                 "--baseline-aq", "1", "--crf", "22", "30", "--size", "320x240",
                 "--preset", "veryfast", "--out", str(out), "--json"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "gaze-images" and report["frames"] == 6
    assert report["encoder"]["keyint"] == 1
    assert report["weights"]["source"].startswith("human fixations")
    for point in report["points"]:
        row = point["encodes"]["saliency/prior"]
        assert row["psnr_salient"] > 0 and row["psnr_rest"] > 0 and row["bpp"] > 0


def test_compare_psnr_equals_ffmpegs_psnr_filter(tmp_path, vtest_avi, ffmpeg_bin) -> None:
    """The report's luma PSNR is measured on the coded Y plane (limited range, no stretch): it
    equals FFmpeg's psnr filter between each kept encode and the source within 0.01 dB."""
    out = tmp_path / "vtest"
    assert main(["compare", "-i", str(vtest_avi), "--backend", "prior", "--crf", "24", "34",
                 "--baseline-aq", "1", "--preset", "veryfast", "--frames", "8", "--out",
                 str(out), "--json"]) == 0
    report = json.loads((out / "report.json").read_text())
    checked = 0
    for point in report["points"]:
        for name, row in point["encodes"].items():
            proc = subprocess.run(
                [ffmpeg_bin, "-hide_banner", "-nostats", "-i", row["file"], "-i", str(vtest_avi),
                 "-lavfi", "[0:v]settb=AVTB,setpts=N[a];[1:v]trim=end_frame=8,settb=AVTB,"
                 "setpts=N[b];[a][b]psnr", "-f", "null", "-"],
                capture_output=True, text=True, timeout=120, check=True)
            ffmpeg_y = float(re.search(r"PSNR y:([0-9.]+)", proc.stderr).group(1))
            assert row["psnr_pooled"] == pytest.approx(ffmpeg_y, abs=0.01), (name, point)
            checked += 1
    assert checked == 4


def test_the_aq_strength_under_a_map_applies_only_to_a_map_and_never_over_the_users() -> None:
    cfg = encoder_config("h264", crf=23)
    lowered = QPConfig(strength=1.5, aq_strength=0.25)
    assert under_map(cfg, lowered).aq_strength == 0.25
    assert under_map(cfg, QPConfig(strength=0.0, aq_strength=0.25)) == cfg  # flat: plain x264
    # the default: x264's AQ strength 0.25 under a map (chosen on the gaze validation split),
    # x265 its own; "codec" (None) keeps the codec's
    assert under_map(cfg, QPConfig()).aq_strength == 0.25
    hevc = encoder_config("hevc", crf=23)
    assert under_map(hevc, QPConfig()) == hevc
    assert under_map(cfg, QPConfig(aq_strength=None)) == cfg
    own = encoder_config("h264", crf=23, aq_strength=0.8)
    assert under_map(own, lowered).aq_strength == 0.8


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_two_pass_abr_brings_the_rungs_to_equal_rate(tmp_path, synth_clip, codec) -> None:
    """With --passes 2 every encode of a rung lands near the same rate (measured on this
    24-frame clip: x264 within 3.5-4.2 % against 11 % apart in one pass, x265 1.9 % against
    9.1 %)."""
    frames, maps = synth_clip
    spread = {}
    for passes in ("1", "2"):
        out = tmp_path / f"p{passes}"
        assert main(["compare", "-i", str(frames), "--saliency", str(maps), "--bitrates", "150",
                     "300", "--passes", passes, "--baseline-aq", "0", "1", "--preset",
                     "veryfast", "--codec", codec, "--out", str(out), "--json"]) == 0
        report = json.loads((out / "report.json").read_text())
        assert report["encoder"]["passes"] == int(passes)
        spread[passes] = max(max(e["kbps"] for e in p["encodes"].values())
                             / min(e["kbps"] for e in p["encodes"].values()) - 1
                             for p in report["points"])
    assert spread["2"] < 0.08 and spread["2"] < spread["1"]
    assert main(["compare", "-i", str(frames), "--saliency", str(maps), "--passes", "2",
                 "--out", str(tmp_path / "crf")]) == 2  # a CRF ladder is one pass already
