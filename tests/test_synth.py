"""The synthetic data set: layout, determinism, and fixations that follow the moving objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from rt_saliency.data.synth import SynthConfig, generate_synthetic, map_sigma
from rt_saliency.errors import ConfigError


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_layout_and_split_numbering(tmp_path: Path) -> None:
    numbers = generate_synthetic(tmp_path / "s", SynthConfig(videos=5, frames=6, width=64,
                                                             height=48, seed=101))
    assert numbers == {"train": [1, 2], "val": [601], "test": [701, 702]}
    root = tmp_path / "s"
    for n in (1, 2, 601, 701, 702):
        assert len(list((root / "frames" / f"{n:03d}").glob("*.png"))) == 6
        for sub in ("maps", "fixation"):
            files = sorted((root / "annotation" / f"{n:04d}" / sub).glob("*.png"))
            assert [f.name for f in files] == [f"{t:04d}.png" for t in range(1, 7)]
    img = cv2.imread(str(root / "frames" / "001" / "0001.png"))
    assert img.shape == (48, 64, 3)
    meta = json.loads((root / "synth.json").read_text())
    assert meta["seed"] == 101 and meta["map_sigma_px"] == pytest.approx(map_sigma(64))


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    cfg = SynthConfig(videos=3, frames=4, width=64, height=48, seed=102)
    generate_synthetic(tmp_path / "a", cfg)
    generate_synthetic(tmp_path / "b", cfg)
    generate_synthetic(tmp_path / "c", SynthConfig(videos=3, frames=4, width=64, height=48,
                                                   seed=103))
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_map_sigma_is_dhf1k_gaussian_scaled() -> None:
    # FWHM 30 px at 640 px width: sigma = 30 / (2 sqrt(2 ln 2)) = 12.74 px
    assert map_sigma(640) == pytest.approx(12.74, abs=0.01)
    assert map_sigma(320) == pytest.approx(map_sigma(640) / 2)
    assert map_sigma(32) == 1.5  # floor for tiny frames


def test_fixations_follow_motion_and_maps_come_from_them(tmp_path: Path) -> None:
    root = tmp_path / "s"
    generate_synthetic(root, SynthConfig(videos=2, frames=12, width=128, height=96, seed=104,
                                         object_fraction=1.0, split_sizes={"train": 2, "val": 0,
                                                                            "test": 0}))
    rng = np.random.default_rng(0)
    at_fix, at_random = [], []
    for n in (1, 2):
        frames = [cv2.imread(str(p)).astype(np.int16)
                  for p in sorted((root / "frames" / f"{n:03d}").glob("*.png"))]
        for t in range(1, len(frames)):
            diff = np.abs(frames[t] - frames[t - 1]).max(axis=2)
            # motion energy near each pixel (objects move several px a frame, the pan ~1 px)
            energy = cv2.blur((diff > 40).astype(np.float32), (9, 9))
            ann = root / "annotation" / f"{n:04d}"
            fix = cv2.imread(str(ann / "fixation" / f"{t + 1:04d}.png"), cv2.IMREAD_GRAYSCALE) > 0
            dense = cv2.imread(str(ann / "maps" / f"{t + 1:04d}.png"), cv2.IMREAD_GRAYSCALE)
            at_fix.extend(energy[fix])
            at_random.extend(energy[rng.integers(0, 96, 50), rng.integers(0, 128, 50)])
            # the continuous map peaks where fixations are, and is dark far from all of them
            assert dense[fix].mean() > 3 * dense.mean()
            assert dense.max() == 255
    assert np.mean(at_fix) > 3 * np.mean(at_random)


def test_bad_config_and_cli(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate_synthetic(tmp_path / "x", SynthConfig(videos=0))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("not a synthetic set")
    with pytest.raises(ConfigError, match="not empty"):
        generate_synthetic(tmp_path / "busy", SynthConfig(videos=1, frames=2, width=32, height=32))
    out = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "synth", str(tmp_path / "cli"), "--videos", "3",
         "--frames", "3", "--size", "48x32", "--seed", "105"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["test"] == 1
    bad = subprocess.run([sys.executable, "-m", "rt_saliency", "synth", str(tmp_path / "b"),
                          "--size", "48by32"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "WxH" in bad.stderr
