"""Training on a tiny synthetic set: the loss falls, the metrics rise, checkpoints resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rt_saliency.data.clips import ClipDataset
from rt_saliency.data.layout import open_dataset
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.errors import ConfigError, WeightsError
from rt_saliency.model import create_model, load_checkpoint, read_checkpoint, save_checkpoint
from rt_saliency.model.pretrained import pretrained_info
from rt_saliency.train import TrainConfig, train
from rt_saliency.train.anchor import ZeroFlowAnchor
from rt_saliency.train.recipes import get_recipe
from rt_saliency.train.schedule import make_optimizer, make_scheduler
from rt_saliency.train.validate import validate

SIZE = [32, 32]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train") / "tiny"
    generate_synthetic(root, SynthConfig(videos=3, frames=10, width=64, height=48, seed=301,
                                         split_sizes={"train": 1, "val": 1, "test": 1}))
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: much faster than two on the shared, busy CI machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _cfg(root: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=[str(root)], out=str(out), model="tpcmrnet_s3",
                model_overrides={"input_size": SIZE}, lr=3e-3, workers=0, seed=5,
                val_every=1000, val_clips=2, log_every=1, progress=False, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls_and_metrics_rise(tiny: Path, tmp_path: Path) -> None:
    torch.manual_seed(5)  # the same initial weights train() starts from (seed 5)
    initial = create_model("tpcmrnet_s3", input_size=tuple(SIZE))
    clips = ClipDataset(open_dataset(tiny, "train"), 3, tuple(SIZE), clip_len=5)
    before = validate(initial, clips, torch.device("cpu"), max_clips=2)
    result = train(_cfg(tiny, tmp_path / "run", epochs=30, max_steps=40))
    assert result.steps == 40 and result.stopped_by == "max_steps"
    model, _ = load_checkpoint(result.last)
    after = validate(model, clips, torch.device("cpu"), max_clips=2)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text()
           .splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.08, (first, last)
    assert after["loss"] < before["loss"] - 0.1, (before, after)
    assert after["cc"] > before["cc"] + 0.1, (before, after)
    assert after["nss"] > before["nss"] + 0.3, (before, after)
    # the run folder holds what the docs promise, and the checkpoint is weights-only safe
    for name in ("last.pt", "best.pt", "config.json", "train_config.json", "train_summary.json"):
        assert (tmp_path / "run" / name).is_file(), name
    data = read_checkpoint(result.last)
    assert data["config"]["flow_maps"] == 3 and data["config"]["input_size"] == SIZE
    assert data["progress"]["step"] == 40 and "optimizer" in data and "rng" in data


def test_resume_continues_where_it_stopped(tiny: Path, tmp_path: Path) -> None:
    straight = train(_cfg(tiny, tmp_path / "a", max_steps=4, checkpoint_every=100))
    train(_cfg(tiny, tmp_path / "b", max_steps=2))
    resumed = train(_cfg(tiny, tmp_path / "b", max_steps=4, resume=str(tmp_path / "b" / "last.pt")))
    assert resumed.steps == 4
    a, _ = load_checkpoint(straight.last)
    b, _ = load_checkpoint(resumed.last)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5, msg=name)
    weights_only = tmp_path / "w.pt"
    save_checkpoint(weights_only, create_model("tpcmrnet_s3", input_size=tuple(SIZE)))
    with pytest.raises(WeightsError, match="not a resumable"):
        train(_cfg(tiny, tmp_path / "c", max_steps=1, resume=str(weights_only)))


def test_a_second_phase_trains_only_the_named_part_from_given_weights(tiny: Path,
                                                                      tmp_path: Path) -> None:
    """--init + --train-only: the frozen part (weights and batch-norm statistics) leaves the
    run exactly as it came; the named part moves."""
    first = train(_cfg(tiny, tmp_path / "first", max_steps=2))
    start, _ = load_checkpoint(first.last)
    second = train(_cfg(tiny, tmp_path / "second", max_steps=3, init=str(first.last),
                        train_only=["flow_pathway"]))
    after, _ = load_checkpoint(second.last)
    before_sd, after_sd = start.state_dict(), after.state_dict()
    moved = [n for n in before_sd if not torch.equal(before_sd[n], after_sd[n])]
    assert moved and all(n.startswith("flow_pathway.") for n in moved), moved
    assert any("running_var" in n for n in before_sd)  # the frame pathway's norms were held
    with pytest.raises(ConfigError, match="names no parameter"):
        train(_cfg(tiny, tmp_path / "bad", max_steps=1, train_only=["flow_path"]))
    with pytest.raises(ConfigError, match="at least one"):
        _cfg(tiny, tmp_path / "bad", train_only=[]).validate()


def test_zero_flow_anchor_measures_drift_of_what_a_still_sees() -> None:
    torch.manual_seed(0)
    model = create_model("tpcmrnet_s3", input_size=tuple(SIZE))
    anchor = ZeroFlowAnchor(model)
    with torch.no_grad():
        assert float(anchor.drift(model)) == 0.0
    stem = model.flow_pathway.stem
    with torch.no_grad():
        stem.bias.add_(0.5)
    drift = anchor.drift(model)
    assert drift.item() > 1e-3
    model.zero_grad()
    drift.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert grads and all(n.startswith("flow_pathway.") for n in grads), grads
    with pytest.raises(ConfigError, match="zero-flow-anchor"):
        _cfg(Path("x"), Path("y"), zero_flow_anchor=-1.0).validate()


def test_anchored_flow_training_keeps_the_stills_response(tiny: Path, tmp_path: Path) -> None:
    """Training the flow pathway hard moves its zero-flow response; the anchor holds it."""
    first = train(_cfg(tiny, tmp_path / "first", max_steps=1))
    start, _ = load_checkpoint(first.last)
    anchor = ZeroFlowAnchor(start)
    drifts = {}
    for weight in (0.0, 100.0):
        run = train(_cfg(tiny, tmp_path / f"w{weight:g}", max_steps=6, lr=3e-2,
                         init=str(first.last), train_only=["flow_pathway"],
                         zero_flow_anchor=weight))
        model, _ = load_checkpoint(run.last)
        with torch.no_grad():
            drifts[weight] = float(anchor.drift(model))
    assert drifts[100.0] < 0.5 * drifts[0.0], drifts


def test_paper_schedule_and_options() -> None:
    model = torch.nn.Linear(2, 2)
    opt = make_optimizer(model.parameters())
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6])
    with pytest.raises(ConfigError):
        TrainConfig(data=[], out="x").validate()
    with pytest.raises(ConfigError):
        TrainConfig(data=["x"], out="x", max_minutes=0).validate()


def test_ablation_rows_make_table1(tiny: Path, tmp_path: Path) -> None:
    from rt_saliency.apps.ablation import run_ablation
    from rt_saliency.apps.evaluate import EvalOptions

    base = _cfg(tiny, tmp_path, max_steps=2)
    opts = EvalOptions(split="test", max_frames=2)
    table = run_ablation(base, [str(tiny)], opts, tmp_path / "abl",
                         rows=["tpcmrnet_s3", "tpcmrnet_noattn"])
    methods = [r["method"] for r in table["rows"]]
    assert methods == ["S=3", "w/o attention module", "centre bias"]
    assert [r.get("variant") for r in table["rows"][:2]] == ["tpcmrnet_s3", "tpcmrnet_noattn"]
    noattn = read_checkpoint(tmp_path / "abl" / "tpcmrnet_noattn" / "last.pt")
    assert noattn["config"]["attention"] is False and noattn["config"]["flow_maps"] == 9
    md = (tmp_path / "abl" / "ablation.md").read_text()
    assert "Model ablation (paper Table 1)" in md and "| w/o attention module |" in md
    # a second call reuses the evaluated rows instead of training again
    mtime = (tmp_path / "abl" / "tpcmrnet_s3" / "last.pt").stat().st_mtime
    run_ablation(base, [str(tiny)], opts, tmp_path / "abl", rows=["tpcmrnet_s3"])
    assert (tmp_path / "abl" / "tpcmrnet_s3" / "last.pt").stat().st_mtime == mtime


def test_train_cli_writes_the_curve(tiny: Path, tmp_path: Path, capsys) -> None:
    from rt_saliency.cli import main

    out = tmp_path / "cli-run"
    assert main(["train", "--data", str(tiny), "--model", "tpcmrnet_s3", "--input-size", "32",
                 "32", "--out", str(out), "--max-steps", "2", "--workers", "0", "--threads", "1",
                 "--no-progress", "--device", "cpu"]) == 0
    curve = out / "curve.png"
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.part"))
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 2
    # a second-phase recipe without the first phase's weights: one clear line, exit 2
    assert main(["train", "--recipe", "gaze-cpu-motion", "--data", str(tiny), "--out",
                 str(tmp_path / "phase2")]) == 2
    assert "--init" in capsys.readouterr().err
    assert not (tmp_path / "phase2").exists()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_ddp(tiny: Path, tmp_path: Path) -> None:
    """Two ranks through torchrun (Gloo on CPU): DDP trains and rank 0 alone writes the run."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "rt_saliency", "train", "--data", str(tiny), "--model", "tpcmrnet_s3",
         "--input-size", "32", "32", "--out", str(tmp_path / "ddp"), "--max-steps", "3",
         "--workers", "0", "--threads", "1", "--no-progress", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = read_checkpoint(tmp_path / "ddp" / "last.pt")
    assert data["progress"]["step"] == 3
    assert json.loads((tmp_path / "ddp" / "train_summary.json").read_text())["steps"] == 3


def test_second_phase_recipe_is_what_trained_the_shipped_weights() -> None:
    """The model card says one command trains the shipped set: the recipe's options must be the
    ones the sidecar records for that phase."""
    phase = pretrained_info("tpcmrnet-gaze")["phases"]["gaze-cpu-motion"]
    options = get_recipe("gaze-cpu-motion").options
    assert options["max_steps"] == phase["steps"]
    assert options["lr"] == pytest.approx(phase["lr"])
    assert options["zero_flow_anchor"] == pytest.approx(phase["zero_flow_anchor"])
    assert options["train_only"] == phase["trained"]
