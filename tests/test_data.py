"""Readers (DHF1K frames or video, ACLNet layout), their errors, clips and the flow cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from rt_saliency.data.clips import ClipDataset
from rt_saliency.data.flowcache import CACHE_DIR, FlowCache, build_flow_cache
from rt_saliency.data.layout import detect_layout, open_dataset, open_datasets
from rt_saliency.data.rawflow import compute_raw_flows
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.data.video import read_fixations, read_frames, read_map
from rt_saliency.errors import ConfigError, DatasetError, InputNotFoundError
from rt_saliency.flow import FlowConfig, FlowEstimator

SIZE = (32, 32)  # network grid for these tests: small and fast


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "synth"
    generate_synthetic(root, SynthConfig(videos=4, frames=8, width=64, height=48, seed=201,
                                         split_sizes={"train": 2, "val": 1, "test": 1},
                                         write_video=True))
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_dhf1k_reader_splits_by_number(synth_root: Path) -> None:
    assert detect_layout(synth_root) == "dhf1k"
    train = open_dataset(synth_root, "train")
    assert [r.name for r in train] == ["001", "002"]
    assert [r.name for r in open_dataset(synth_root, "val")] == ["601"]
    assert [r.name for r in open_dataset(synth_root, "test")] == ["701"]
    rec = train[0]
    assert rec.num_frames == 8 and rec.size == (48, 64) and rec.frames is not None
    frames = read_frames(rec, [0, 7])
    assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    bgr = cv2.imread(str(rec.frames[7]))
    np.testing.assert_array_equal(frames[1], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert 0.99 < read_map(rec, 3).max() <= 1.0
    assert read_fixations(rec, 3).dtype == bool and read_fixations(rec, 3).any()


def test_dhf1k_reader_from_avi(synth_root: Path, tmp_path: Path) -> None:
    root = _copy(synth_root, tmp_path / "avi")
    shutil.rmtree(root / "frames")
    rec = open_dataset(root, "train")[0]
    assert rec.frames is None and rec.video is not None and rec.video.name == "001.AVI"
    frames = read_frames(rec, [2, 5])
    ref = cv2.cvtColor(cv2.imread(str(synth_root / "frames" / "001" / "0006.png")),
                       cv2.COLOR_BGR2RGB)
    assert frames[1].shape == ref.shape
    # MJPG is lossy, but the decoded frame is the right one (much closer than its neighbour)
    other = cv2.cvtColor(cv2.imread(str(synth_root / "frames" / "001" / "0003.png")),
                         cv2.COLOR_BGR2RGB)
    err = np.abs(frames[1].astype(int) - ref).mean()
    assert err < 12 and err < np.abs(frames[1].astype(int) - other).mean()
    # a video with fewer frames than maps is refused at open time
    shutil.copy(root / "annotation" / "0001" / "maps" / "0008.png",
                root / "annotation" / "0001" / "maps" / "0009.png")
    shutil.copy(root / "annotation" / "0001" / "fixation" / "0008.png",
                root / "annotation" / "0001" / "fixation" / "0009.png")
    with pytest.raises(DatasetError, match="8 frames in 001.AVI but 9 maps"):
        open_dataset(root, "train")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: (r / "frames" / "001" / "0008.png").unlink(), "7 frames but 8 maps"),
        (lambda r: (r / "annotation" / "0002" / "fixation" / "0004.png").unlink(),
         "8 maps but 7 fixation maps"),
        (lambda r: shutil.rmtree(r / "annotation" / "0001" / "fixation"), "missing"),
        (lambda r: cv2.imwrite(str(r / "annotation" / "0001" / "maps" / "0001.png"),
                               np.zeros((10, 10), np.uint8)), "fixation size"),
        (lambda r: cv2.imwrite(str(r / "frames" / "002" / "0001.png"),
                               np.zeros((10, 10, 3), np.uint8)), "frame size"),
        (lambda r: (shutil.rmtree(r / "frames" / "002"), shutil.rmtree(r / "video")),
         "neither"),
    ],
)
def test_broken_dhf1k_layouts_are_refused(
    synth_root: Path, tmp_path: Path, damage, message
) -> None:
    root = _copy(synth_root, tmp_path / "broken")
    damage(root)
    with pytest.raises(DatasetError, match=message):
        open_dataset(root, "train")


def test_frame_size_checked_on_read(synth_root: Path, tmp_path: Path) -> None:
    root = _copy(synth_root, tmp_path / "late")
    cv2.imwrite(str(root / "frames" / "001" / "0005.png"), np.zeros((20, 20, 3), np.uint8))
    rec = open_dataset(root, "train")[0]  # only the first frame is checked at open time
    with pytest.raises(DatasetError, match="differs"):
        read_frames(rec, [4])


def _aclnet_from(synth_root: Path, dst: Path) -> Path:
    for split, folder in (("train", "training"), ("test", "testing")):
        for rec in open_dataset(synth_root, split):
            base = dst / folder / f"clip_{rec.name}"
            for sub, files in (("images", rec.frames), ("maps", rec.maps),
                               ("fixation", rec.fixations)):
                (base / sub).mkdir(parents=True)
                for f in files:
                    shutil.copy(f, base / sub / f.name)
    return dst


def test_aclnet_reader_and_combined_roots(synth_root: Path, tmp_path: Path) -> None:
    ucf = _aclnet_from(synth_root, tmp_path / "ucf")
    assert detect_layout(ucf) == "aclnet"
    train = open_dataset(ucf, "train")
    assert [r.name for r in train] == ["clip_001", "clip_002"] and train[0].dataset == "ucf"
    assert [r.name for r in open_dataset(ucf, "test")] == ["clip_701"]
    with pytest.raises(ConfigError, match="no 'val' split"):
        open_dataset(ucf, "val")
    both = open_datasets([synth_root, ucf], "train")
    assert [(r.dataset, r.name) for r in both] == [
        ("synth", "001"), ("synth", "002"), ("ucf", "clip_001"), ("ucf", "clip_002")]
    (ucf / "training" / "clip_002" / "images" / "0003.png").unlink()
    with pytest.raises(DatasetError, match="clip_002: 7 frames but 8 maps"):
        open_dataset(ucf, "train")
    shutil.rmtree(ucf / "training" / "clip_001" / "maps")
    with pytest.raises(DatasetError, match="missing maps/"):
        open_dataset(ucf, "train")


def test_unknown_roots(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        open_dataset(tmp_path / "nope", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a known layout"):
        open_dataset(tmp_path / "empty", "train")
    with pytest.raises(ConfigError, match="unknown split"):
        open_dataset(tmp_path / "empty", "dev")


def test_clip_dataset_shapes_and_flow_contract(synth_root: Path) -> None:
    records = open_dataset(synth_root, "train")
    ds = ClipDataset(records, flow_maps=3, input_size=SIZE, clip_len=5, stride=3, use_cache=False)
    assert len(ds) == 2 * 2  # starts 0 and 3 in each 8-frame video
    s = ds[0]
    assert s["frames"].shape == (5, 3, *SIZE) and s["flows"].shape == (5, 6, *SIZE)
    assert s["maps"].shape == (5, 1, *SIZE) and s["fix"].shape == (5, 1, *SIZE)
    assert 0.0 <= float(s["frames"].min()) and float(s["frames"].max()) <= 1.0
    assert set(np.unique(s["fix"].numpy())) <= {0.0, 1.0} and float(s["fix"].sum()) > 0
    # frame 0's stack starts with F^0 = 0, then F^1 and F^2 (the camera pans: not zero)
    flows = s["flows"].numpy()
    assert not flows[0, :2].any() and np.abs(flows[0, 2:6]).max() > 0
    # frame t's stack (F^t..F^{t+2}) equals frame t+1's shifted by one map
    np.testing.assert_array_equal(flows[1, 2:6], flows[2, 0:4])
    # at the end of the video, flows past the last frame are zeros
    last = ds[3]  # video 002, frames 3..7
    assert not last["flows"].numpy()[4, 2:].any() and last["flows"].numpy()[4, :2].any()
    # the flows are rt_saliency.flow's: recompute F^3 of video 001 independently
    frames = read_frames(records[0], [2, 3])
    small = [cv2.resize(f, SIZE[::-1], interpolation=cv2.INTER_AREA) for f in frames]
    est = FlowEstimator(FlowConfig(size=SIZE))
    from rt_saliency.flow import flow_to_input

    np.testing.assert_allclose(flows[3, 0:2], flow_to_input(est.compute(*small)), atol=1e-6)


def test_flow_cache_used_and_refused_with_other_settings(synth_root: Path, tmp_path: Path) -> None:
    root = _copy(synth_root, tmp_path / "cached")
    records = open_dataset(root, "train")
    cfg = FlowConfig(size=SIZE)
    manifest = build_flow_cache(root, records, cfg, SIZE)
    data = json.loads(manifest.read_text())
    assert data["fingerprint"] == cfg.fingerprint() and data["videos"] == {"001": 8, "002": 8}
    arr = np.load(root / CACHE_DIR / "001.npy")
    assert arr.dtype == np.int16 and arr.shape == (8, 2, *SIZE) and not arr[0].any()
    cached = ClipDataset(records, 3, SIZE, cfg)
    fresh = ClipDataset(records, 3, SIZE, cfg, use_cache=False)
    assert cached.caches[str(root)] is not None
    # quantisation: 1/32 px steps, i.e. 1/512 in network units (FLOW_SCALE 16)
    np.testing.assert_allclose(cached[1]["flows"], fresh[1]["flows"], atol=1 / 512 + 1e-6)
    raw = compute_raw_flows(records[0], [0, 4], cfg, SIZE)
    np.testing.assert_allclose(FlowCache.open(root, cfg, SIZE).load(records[0], [0, 4]), raw,
                               atol=1 / 64 + 1e-6)
    other = FlowConfig(size=SIZE, preset="fast")
    with pytest.raises(DatasetError, match="other settings.*Rebuild"):
        ClipDataset(records, 3, SIZE, other)
    with pytest.raises(DatasetError, match="other settings"):
        build_flow_cache(root, records, other, SIZE)
    # the CLI refuses too, and --overwrite rebuilds with the new settings
    cmd = [sys.executable, "-m", "rt_saliency", "flow-cache", str(root), "--flow-preset", "fast",
           "--size", "32", "32", "--splits", "train"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "other settings" in out.stderr
    out = subprocess.run(cmd + ["--overwrite"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(manifest.read_text())["fingerprint"] == other.fingerprint()
    ClipDataset(records, 3, SIZE, other)  # accepted now
