"""The evaluator: Table-2 rows for a model and the centre-bias baseline, JSON and Markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rt_saliency import metrics
from rt_saliency.apps.evaluate import (
    BASELINE_NAME,
    METRICS,
    EvalOptions,
    centre_bias,
    evaluate,
    evaluate_model,
    to_markdown,
)
from rt_saliency.apps.evaluate.protocol import _negatives
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.errors import ConfigError
from rt_saliency.model import create_model, save_checkpoint


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval") / "evalset"
    generate_synthetic(root, SynthConfig(videos=4, frames=7, width=64, height=48, seed=401,
                                         split_sizes={"train": 1, "val": 1, "test": 2}))
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, create_model("tpcmrnet_s3", input_size=(32, 32)))
    return path


def test_centre_bias_map() -> None:
    m = centre_bias((48, 64), 0.25)
    assert m.shape == (48, 64) and m.dtype == np.float32
    assert np.unravel_index(np.argmax(m), m.shape) in {(23, 31), (23, 32), (24, 31), (24, 32)}
    np.testing.assert_allclose(m, m[::-1, ::-1], atol=1e-6)  # symmetric about the centre
    # one sigma (0.25 x 64 = 16 px) right of the centre: exp(-1/2)
    assert m[24, 32 + 16] / m[24, 32] == pytest.approx(np.exp(-0.5), rel=0.05)


def test_sauc_negatives_are_other_videos_fixations() -> None:
    others = [(np.array([[1, 2], [3, 4]]), (10, 10)), (np.array([[9, 9]]), (10, 10))]
    opts = EvalOptions(sauc_maps=10)
    neg = _negatives(others, (20, 20), opts, np.random.default_rng(0))
    assert sorted(map(tuple, np.argwhere(neg))) == [(2, 4), (6, 8), (18, 18)]


def test_evaluate_json_rows_and_markdown(small_set: Path, checkpoint: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    opts = EvalOptions(split="test", stride=2, max_frames=3)
    report = evaluate(checkpoint, [small_set], opts)
    rows = {r["method"]: r for r in report["rows"]}
    assert set(rows) == {"tpcmrnet_s3", BASELINE_NAME}
    for row in rows.values():
        assert row["dataset"] == "evalset" and row["videos"] == 2 and row["frames"] == 6
        for m in METRICS:
            assert np.isfinite(row[m]), m
        assert 0 <= row["auc_j"] <= 1 and 0 <= row["sauc"] <= 1 and 0 <= row["sim"] <= 1
    assert report["flow"]["size"] == [32, 32]
    # the baseline row is exactly the metrics of the centre map on the scored frames
    from rt_saliency.data.layout import open_dataset
    from rt_saliency.data.video import read_fixations, read_map

    per_video = []
    for rec in open_dataset(small_set, "test"):
        vals = [metrics.cc(centre_bias(rec.size), read_map(rec, t)) for t in (0, 2, 4)]
        per_video.append(np.mean(vals))
        assert read_fixations(rec, 0).any()
    assert rows[BASELINE_NAME]["cc"] == pytest.approx(np.mean(per_video), abs=1e-9)
    md = to_markdown(report)
    header = "| method | evalset AUC-J | evalset SIM | evalset s-AUC | evalset CC | evalset NSS |"
    assert header in md
    assert f"| {BASELINE_NAME} | " in md and "2 videos, 6 frames" in md


def test_evaluate_cli_json_and_files(small_set: Path, checkpoint: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "evaluate", "--weights", str(checkpoint),
         "--data", str(small_set), "--split", "val", "--max-frames", "2", "--json",
         "--out", str(tmp_path / "ev")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [r["method"] for r in report["rows"]] == ["tpcmrnet_s3", BASELINE_NAME]
    assert all(set(METRICS) <= set(r) for r in report["rows"])
    # with one val video there is no other video to draw sAUC negatives from
    assert report["rows"][0]["sauc"] is None or np.isnan(report["rows"][0]["sauc"])
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["split"] == "val"
    assert (tmp_path / "ev" / "evaluation.md").read_text().startswith("| method |")
    bad = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "evaluate", "--weights", str(tmp_path / "no.pt"),
         "--data", str(small_set)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_bad_options(small_set: Path) -> None:
    with pytest.raises(ConfigError):
        evaluate_model(create_model("tpcmrnet_s3", input_size=(32, 32)), [small_set],
                       EvalOptions(stride=0))


def test_prior_predictor_scored_through_the_stream(small_set, tmp_path) -> None:
    """evaluate_predictor runs the daemon's pipeline per video; the prior (motion-driven) beats
    the centre-bias baseline on synthetic clips whose fixations follow the moving objects."""
    import json

    from rt_saliency.cli import main

    out = tmp_path / "prior-eval"
    status = main(["evaluate", "--predictor", "prior", "--data", str(small_set), "--split",
                   "test", "--out", str(out), "--json", "--no-progress"])
    assert status == 0
    report = json.loads((out / "evaluation.json").read_text())
    rows = {r["method"]: r for r in report["rows"]}
    assert set(rows) == {"prior", "centre bias"}
    assert rows["prior"]["frames"] == rows["centre bias"]["frames"] > 0
    for metric in ("auc_j", "sim", "sauc", "cc", "nss"):
        assert np.isfinite(rows["prior"][metric])
    assert rows["prior"]["cc"] > rows["centre bias"]["cc"]


def test_evaluate_needs_weights_or_predictor(small_set, capsys) -> None:
    from rt_saliency.cli import main

    assert main(["evaluate", "--data", str(small_set)]) == 2
    assert "--predictor" in capsys.readouterr().err


def test_evaluate_gaze_stills_rows_per_backend(tmp_path: Path, capsys) -> None:
    """Gaze-image roots are scored as stills through the streaming path: one row group per
    --predictor (the shipped network and the prior) beside the centre bias, per set and pooled."""
    from rt_saliency.cli import main

    gaze_mini = Path(__file__).parent / "data" / "gaze-mini"
    out = tmp_path / "stills"
    status = main(["evaluate", "--data", str(gaze_mini), "--predictor", "auto", "--predictor",
                   "prior", "--still-frames", "4", "--lookahead", "1", "--out", str(out),
                   "--no-progress"])
    assert status == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["images"] == 6
    rows = {(r["dataset"], r["method"]): r for r in report["rows"]}
    assert {m for _, m in rows} == {"tpcmrnet/onnxruntime-int8", "prior", "centre bias"}
    assert {d for d, _ in rows} == {"osie", "eyecrowd_nus", "nus_scene_sun500", "pooled"}
    for r in report["rows"]:
        assert all(np.isfinite(r[m]) for m in ("auc_j", "sim", "cc", "nss", "kld"))
    assert report["predictors"]["tpcmrnet/onnxruntime-int8"]["lookahead"] == 1
    assert "| pooled | prior | 6 |" in (out / "evaluation.md").read_text()
    assert "| pooled | prior | 6 |" in capsys.readouterr().out


def test_evaluate_refuses_mixed_roots(small_set: Path, capsys) -> None:
    from rt_saliency.cli import main

    gaze_mini = Path(__file__).parent / "data" / "gaze-mini"
    assert main(["evaluate", "--data", str(gaze_mini), "--data", str(small_set),
                 "--predictor", "prior"]) == 2
    assert "separate runs" in capsys.readouterr().err
