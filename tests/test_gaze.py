"""Gaze-image data (real fixations on stills): reader, map rendering, static clips, training."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rt_saliency import metrics
from rt_saliency.data.gaze import (
    GazeImage,
    density_map,
    fixation_pixels,
    is_gaze_collection,
    open_gaze_sets,
    read_gaze_images,
    scale_points,
)
from rt_saliency.data.stills import StillDataset
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.errors import ConfigError, DatasetError
from rt_saliency.model import create_model
from rt_saliency.train import TrainConfig, train
from rt_saliency.train.datasets import same_kind_batches

SETS = ("osie", "eyecrowd_nus", "nus_scene_sun500")


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize("name", SETS)
def test_reader_splits_and_counts(gaze_mini: Path, name: str) -> None:
    root = gaze_mini / name
    test_names = set((root / "test.txt").read_text().split())
    every = read_gaze_images(root, "all")
    rows = list(csv.DictReader(open(root / "fixations.csv")))
    assert sum(len(im.points) for im in every) == len(rows)
    assert {im.name for im in read_gaze_images(root, "test")} == test_names
    train_names = {im.name for im in read_gaze_images(root, "train")}
    val_names = {im.name for im in read_gaze_images(root, "val")}
    assert not (train_names | val_names) & test_names
    assert train_names | val_names | test_names == {im.name for im in every}
    first = every[0]
    assert first.observers == len({r["subject"] for r in rows if r["image"] == first.name})


def test_reader_errors(tmp_path: Path, gaze_mini: Path) -> None:
    with pytest.raises(DatasetError, match="gaze-images layout"):
        read_gaze_images(tmp_path, "train")
    with pytest.raises(ConfigError, match="split"):
        read_gaze_images(gaze_mini / "osie", "dev")
    odd = tmp_path / "unknown_set"
    (odd / "images").mkdir(parents=True)
    (odd / "fixations.csv").write_text("image,subject,x,y,duration_ms\n")
    with pytest.raises(DatasetError, match="sigma"):
        read_gaze_images(odd, "all")
    assert is_gaze_collection(gaze_mini) and not is_gaze_collection(odd / "images")
    assert len(open_gaze_sets([gaze_mini], "all")) == 15


def test_pixel_rule_and_scaling() -> None:
    pts = np.array([[2.49, 0.0], [2.5, 3.7], [-0.3, 9.6]], np.float32)
    rows, cols = fixation_pixels(pts, (10, 10))
    assert cols.tolist() == [2, 3, 0] and rows.tolist() == [0, 4, 9]
    # pixel centres aligned: the outer edge (-0.5) stays the outer edge at any scale
    moved = scale_points(np.array([[-0.5, -0.5], [9.5, 19.5]], np.float32), (20, 10), (40, 5))
    np.testing.assert_allclose(moved, [[-0.5, -0.5], [4.5, 39.5]], atol=1e-6)


def test_density_map_is_the_documented_gaussian() -> None:
    image = GazeImage("osie", "x", Path("x.jpg"), np.array([[100.0, 80.0]], np.float32), 1)
    m = density_map(image, (384, 512))
    sigma = 24.0 * 0.64
    assert m.max() == pytest.approx(1.0) and m[80, 100] == pytest.approx(1.0)
    # one sigma away the Gaussian is exp(-1/2) of its peak (to the kernel's discretisation)
    assert m[80, 100 + round(sigma)] == pytest.approx(math.exp(-0.5 * (round(sigma) / sigma) ** 2),
                                                      abs=0.01)
    nus = GazeImage("nus_scene_sun500", "y", Path("y.jpg"), np.array([[10.0, 10.0]]), 1)
    wide = density_map(nus, (256, 512))  # sigma tied to the longer side: 16 px
    assert wide[10, 26] == pytest.approx(math.exp(-0.5), abs=0.01)


def test_real_maps_agree_with_their_fixations(gaze_mini: Path) -> None:
    # the rendered GT map predicts its own fixations far better than chance (real data)
    for image in read_gaze_images(gaze_mini / "eyecrowd_nus", "all"):
        shape = (384, 512)
        m = density_map(image, shape)
        fix = np.zeros(shape, bool)
        rows, cols = fixation_pixels(image.points, shape)
        fix[rows, cols] = True
        assert metrics.auc_judd(m, fix) > 0.9 and metrics.nss(m, fix) > 2.0


def test_still_dataset_static_clips_and_flip(gaze_mini: Path) -> None:
    images = read_gaze_images(gaze_mini / "osie", "all")
    ds = StillDataset(images, flow_maps=3, input_size=(64, 96), clip_len=3, flip=0.0)
    sample = ds[0]
    assert sample["static"] is True
    assert tuple(sample["frames"].shape) == (3, 3, 64, 96)
    assert tuple(sample["flows"].shape) == (3, 6, 64, 96) and not sample["flows"].any()
    assert torch.equal(sample["frames"][0], sample["frames"][2])
    assert sample["fix"].sum() > 0 and 0.9 <= float(sample["maps"].max()) <= 1.0  # area-resized peak
    plain, flipped = ds.arrays(0), ds.arrays(0, flip=True)
    np.testing.assert_array_equal(flipped["map"], plain["map"][:, ::-1])
    np.testing.assert_array_equal(flipped["fix"], plain["fix"][:, ::-1])
    np.testing.assert_array_equal(flipped["frame"], plain["frame"][:, :, ::-1])


def test_static_forward_equals_full_forward() -> None:
    torch.manual_seed(0)
    model = create_model("tpcmrnet_s3", input_size=(64, 64)).eval()
    frame = torch.rand(2, 1, 3, 64, 64).expand(2, 4, 3, 64, 64)
    flows = torch.zeros(2, 4, 6, 64, 64)
    with torch.no_grad():
        full = model(frame, flows)
        fast = model(frame, flows, static=True)
        burnt = model(frame, flows, static=True, burn_in=5)
        state = model.carry_state(model.encode(frame[:, 0], flows[:, 0]), 5)
        by_hand = model(frame, flows, state=state)
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=0)
    torch.testing.assert_close(burnt, by_hand, atol=1e-6, rtol=0)
    assert (burnt - full).abs().max() > 1e-6  # the carried state changes the maps


def test_cell_state_stays_bounded_forever() -> None:
    torch.manual_seed(0)
    model = create_model("tpcmrnet_s3", input_size=(32, 32)).eval()
    cell = model.lstm.forward_cell
    with torch.no_grad():  # forget gate saturated open, input gate open: the worst case
        cell.gates.bias[cell.hidden : 2 * cell.hidden] = 20.0
        cell.gates.bias[: cell.hidden] = 20.0
        cell.gates.bias[3 * cell.hidden :] = 20.0
        features = torch.rand(1, *model.feature_shape)
        _, c = model.carry_state(features, 200)
    assert float(c.abs().max()) == pytest.approx(model.config.cell_clip)
    unclipped = create_model("tpcmrnet_s3", input_size=(32, 32), cell_clip=0.0).eval()
    unclipped.load_state_dict(model.state_dict())
    with torch.no_grad():
        _, c_free = unclipped.carry_state(features, 200)
    assert float(c_free.abs().max()) > 100  # what the clip prevents


def testsame_kind_batches() -> None:
    kinds = [False] * 5 + [True] * 7
    order = list(range(12))[::-1]
    out = same_kind_batches(order, kinds, 2, seed=3)
    batches = [out[i : i + 2] for i in range(0, len(out), 2)]
    assert all(len({kinds[i] for i in b}) == 1 for b in batches)
    assert len(out) == 10 and len(set(out)) == 10  # one clip and one still left over
    assert out == same_kind_batches(order, kinds, 2, seed=3)  # deterministic (resume)
    assert same_kind_batches(order, kinds, 1, seed=3) == order


def test_motion_share_repeats_clip_batches_up_to_the_share() -> None:
    kinds = [False] * 10 + [True] * 90  # 5 clip batches, 45 still batches: a 10 % share
    order = list(range(100))
    out = same_kind_batches(order, kinds, 2, seed=1, motion_share=0.5)
    batches = [out[i : i + 2] for i in range(0, len(out), 2)]
    assert all(len({kinds[i] for i in b}) == 1 for b in batches)
    clip_batches = [b for b in batches if not kinds[b[0]]]
    assert len(clip_batches) == 45 and len(batches) == 90  # half the epoch is motion now
    assert sorted(i for b in batches if kinds[b[0]] for i in b) == list(range(10, 100))
    assert {i for b in clip_batches for i in b} == set(range(10))  # only clips repeated
    assert out == same_kind_batches(order, kinds, 2, seed=1, motion_share=0.5)
    # a share the data already has changes nothing
    assert (same_kind_batches(order, kinds, 2, seed=1, motion_share=0.05)
            == same_kind_batches(order, kinds, 2, seed=1))


def test_training_mixes_stills_and_clips(gaze_mini: Path, tmp_path: Path) -> None:
    synth = tmp_path / "synth"
    generate_synthetic(synth, SynthConfig(videos=3, frames=8, width=64, height=48, seed=9,
                                          split_sizes={"train": 2, "val": 1, "test": 0}))
    cfg = TrainConfig(data=[str(gaze_mini), str(synth)], out=str(tmp_path / "run"),
                      model="tpcmrnet_s3", model_overrides={"input_size": [32, 32]}, lr=1e-3,
                      batch_size=2, clip_len=3, workers=0, seed=1, max_steps=8, val_every=8,
                      val_clips=4, log_every=1, progress=False, threads=1)
    result = train(cfg)
    assert result.steps == 8 and result.val is not None and math.isfinite(result.val["cc"])
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().split("\n")
           if x]
    assert all(math.isfinite(r["loss"]) for r in log if "loss" in r)


def test_still_evaluation_through_the_pipeline(gaze_mini: Path) -> None:
    from rt_saliency.apps.evaluate import StillEvalOptions, evaluate_stills, streaming_predict
    from rt_saliency.prior import PriorPredictor

    prior = PriorPredictor()
    flat = lambda rgb: np.ones(rgb.shape[:2], np.float32)  # noqa: E731 - no information at all
    report = evaluate_stills(
        {"prior": streaming_predict(prior, 4), "flat": flat}, [gaze_mini],
        StillEvalOptions(clip_frames=4, sauc_splits=10),
    )
    assert report["images"] == 6  # two test images of each of the three sets
    rows = {(r["dataset"], r["method"]): r for r in report["rows"]}
    assert rows[("pooled", "prior")]["images"] == 6 and rows[("osie", "prior")]["images"] == 2
    # a flat map carries no information: AUC-J 0.5 (ties broken at random) and NSS 0
    assert rows[("pooled", "flat")]["auc_j"] == pytest.approx(0.5, abs=0.03)
    assert rows[("pooled", "flat")]["nss"] == pytest.approx(0.0, abs=1e-6)
    # the centre bias beats no information on real viewing data
    assert rows[("pooled", "centre bias")]["auc_j"] > 0.7
    for r in report["rows"]:
        assert all(r[m] is not None and math.isfinite(r[m]) for m in ("cc", "nss", "kld", "sauc"))


def test_clip_batches_leave_the_running_statistics_to_the_stills() -> None:
    from rt_saliency.train.loop import _keep_running_stats

    torch.manual_seed(0)
    model = create_model("tpcmrnet_s3", input_size=(32, 32)).train()
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.flow_pathway.modules())
    before = bn.running_mean.clone()
    clip, flows = torch.rand(2, 3, 3, 32, 32), torch.rand(2, 3, 6, 32, 32)
    _keep_running_stats(model, frozen=True)
    model(clip, flows)
    torch.testing.assert_close(bn.running_mean, before)
    _keep_running_stats(model, frozen=False)
    model(clip, flows, static=True)
    assert (bn.running_mean - before).abs().max() > 1e-4
