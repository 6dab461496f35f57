"""The training loop: paper schedule, resumable checkpoints, budgets, DDP, progress bar.

The pieces live apart: data (:mod:`rt_saliency.data`), the LR schedule (:mod:`.schedule`),
checkpoints (:mod:`.checkpointing`), process group (:mod:`.distributed`), validation
(:mod:`.validate`).  :func:`train` only wires them and runs the steps.

One step = one batch of ``batch_size`` clips (paper: one video x five consecutive frames), the
paper's loss, Adam.  An epoch visits every clip of every training video once, in an order fixed by
``seed`` and the epoch number (``DistributedSampler``), so a resumed run continues with the very
clips it would have seen.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from rt_saliency.errors import ConfigError
from rt_saliency.flow import flow_config_for
from rt_saliency.loss import saliency_loss_terms
from rt_saliency.model import create_model
from rt_saliency.model.checkpoint import load_checkpoint
from rt_saliency.model.pretrained import resolve_weights
from rt_saliency.optional import import_optional
from rt_saliency.train import distributed
from rt_saliency.train.anchor import ZeroFlowAnchor
from rt_saliency.train.checkpointing import load_training_state, save_training_state
from rt_saliency.train.datasets import same_kind_batches, sample_kinds, train_dataset, val_dataset
from rt_saliency.train.freeze import freeze_except, hold_frozen_norms
from rt_saliency.train.schedule import PAPER_LR, make_optimizer, make_scheduler
from rt_saliency.train.validate import validate

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Options of one training run (saved in the run folder and in every checkpoint)."""

    data: list[str]
    out: str
    model: str = "tpcmrnet"
    #: model config overrides (e.g. ``{"input_size": [112, 112]}`` for a small CPU run)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    lr: float = PAPER_LR
    epochs: int = 6
    decay_every: int = 2
    decay_factor: float = 0.1
    batch_size: int = 1
    clip_len: int = 5
    clip_stride: int | None = None
    workers: int = 1
    seed: int = 0
    max_steps: int | None = None
    max_minutes: float | None = None
    val_every: int = 500
    val_clips: int = 20
    checkpoint_every: int = 200
    log_every: int = 10
    amp: bool = True
    device: str = "auto"
    #: torch CPU threads during the run (None: leave torch's setting); 1 is much faster than 2
    #: on a busy CPU, where OpenMP threads spin waiting for each other
    threads: int | None = None
    resume: str | None = None
    progress: bool = True
    flow_method: str | None = None
    flow_preset: str | None = None
    #: horizontal-flip probability for still images (gaze-image roots)
    flip: float = 0.5
    #: static clips (stills) start the window from the forward state after U[0, N] frames of
    #: the same still (truncated back-propagation): the states a stream carries
    state_burn_in: int = 30
    #: least share of an epoch's batches that are motion clips when stills are in the mix
    #: (clip batches repeated; None: as the data has them)
    motion_share: float | None = None
    #: weights the run starts from (a checkpoint or a shipped set's name; weights only, the
    #: optimizer and schedule start fresh); None: random initialisation
    init: str | None = None
    #: train only the parameters under these dotted prefixes (e.g. ``["flow_pathway"]``); the
    #: rest is frozen and its batch norms serve their running statistics; None: everything
    train_only: list[str] | None = None
    #: weight of the zero-flow anchor (:mod:`.anchor`): keeps the flow pathway's response to a
    #: still's zero flow where the run started; 0 (default): no anchor
    zero_flow_anchor: float = 0.0
    #: named recipe the options came from (``rt_saliency.train.recipes``), for the record
    recipe: str | None = None

    def validate(self) -> None:
        if not self.data:
            raise ConfigError("train needs at least one --data root")
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.workers < 0:
            raise ConfigError("lr must be > 0, epochs and batch size >= 1, workers >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError("--max-steps must be >= 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError("--max-minutes must be > 0")
        if self.motion_share is not None and not 0.0 < self.motion_share < 1.0:
            raise ConfigError(f"--motion-share must be in (0, 1), got {self.motion_share}")
        if self.train_only is not None and not self.train_only:
            raise ConfigError("--train-only needs at least one parameter prefix")
        if not (self.zero_flow_anchor >= 0.0 and math.isfinite(self.zero_flow_anchor)):
            raise ConfigError(f"--zero-flow-anchor must be >= 0, got {self.zero_flow_anchor}")


@dataclass
class TrainResult:
    """What a run did: where its weights are and its last numbers."""

    run_dir: Path
    last: Path
    best: Path | None
    steps: int
    epochs_done: float
    first_loss: float | None
    last_loss: float | None
    val: dict[str, float] | None
    stopped_by: str
    seconds: float


def _collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in batch[0]:
        vals = [b[key] for b in batch]
        out[key] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out


class _Budget:
    def __init__(self, max_steps: int | None, max_minutes: float | None) -> None:
        self.max_steps = max_steps
        self.deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes

    def exhausted(self, steps: int) -> str | None:
        if self.max_steps is not None and steps >= self.max_steps:
            return "max_steps"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "max_minutes"
        return None


def train(cfg: TrainConfig) -> TrainResult:
    """Train as ``cfg`` says; write ``last.pt``, ``best.pt``, ``train_log.jsonl`` to ``out``."""
    _data = import_optional("torch.utils.data")
    DataLoader = _data.DataLoader
    DistributedSampler = _data.DistributedSampler

    cfg.validate()
    t0 = time.monotonic()
    ctx = distributed.setup(cfg.device)
    saved_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        run_dir = Path(cfg.out)
        run_dir.mkdir(parents=True, exist_ok=True)
        random.seed(cfg.seed + ctx.rank)
        torch.manual_seed(cfg.seed + ctx.rank)
        model = create_model(cfg.model, **_overrides(cfg.model_overrides))
        if cfg.init is not None:
            load_checkpoint(resolve_weights(cfg.init), model)
            log.info("starting from the weights of %s", cfg.init)
        model = model.float().to(ctx.device)
        trainable = (freeze_except(model, cfg.train_only) if cfg.train_only is not None
                     else list(model.parameters()))
        anchor = ZeroFlowAnchor(model) if cfg.zero_flow_anchor > 0 else None
        size = tuple(model.config.input_size)
        flow_cfg = flow_config_for(cfg.flow_method, cfg.flow_preset, size)
        train_set = train_dataset(cfg.data, model.config.flow_maps, size, flow_cfg, cfg.clip_len,
                                  cfg.clip_stride, cfg.flip)
        val_set = val_dataset(cfg.data, model.config.flow_maps, size, flow_cfg, cfg.clip_len)
        optimizer = make_optimizer(trainable, cfg.lr)
        scheduler = make_scheduler(optimizer, cfg.decay_every, cfg.decay_factor)
        use_amp = cfg.amp and ctx.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        progress: dict[str, Any] = {"epoch": 0, "epoch_step": 0, "step": 0, "best_cc": -math.inf}
        if cfg.resume:
            progress.update(load_training_state(cfg.resume, model, optimizer, scheduler, scaler))
            log.info("resumed %s at epoch %d step %d", cfg.resume, progress["epoch"],
                     progress["step"])
        net = distributed.wrap_model(model, ctx)
        options = _options(cfg)
        if ctx.is_main:
            (run_dir / "train_config.json").write_text(json.dumps(options, indent=2) + "\n")
        budget = _Budget(cfg.max_steps, cfg.max_minutes)
        log_file = run_dir / "train_log.jsonl" if ctx.is_main else None
        first_loss = last_loss = None
        val_result: dict[str, float] | None = None
        stopped_by = "epochs"
        kinds = sample_kinds(train_set)
        has_stills = any(kinds)
        steps_per_epoch = math.ceil(len(train_set) / (cfg.batch_size * ctx.world_size))
        last_path = run_dir / "last.pt"
        best_path: Path | None = run_dir / "best.pt" if (run_dir / "best.pt").exists() else None

        def checkpoint(path: Path) -> None:
            if ctx.is_main:
                save_training_state(path, model, optimizer, scheduler, scaler, progress, options)

        while progress["epoch"] < cfg.epochs and stopped_by == "epochs":
            epoch = progress["epoch"]
            sampler = DistributedSampler(
                train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed
            )
            sampler.set_epoch(epoch)
            order = same_kind_batches(list(sampler), kinds, cfg.batch_size, cfg.seed + epoch,
                                      cfg.motion_share)
            steps_per_epoch = len(order) // cfg.batch_size
            order = order[progress["epoch_step"] * cfg.batch_size :]
            loader = DataLoader(
                train_set,
                batch_size=cfg.batch_size,
                sampler=order,
                num_workers=cfg.workers,
                collate_fn=_collate,
                drop_last=True,
            )
            bar = _progress_bar(cfg, ctx, epoch, steps_per_epoch, progress["epoch_step"])
            ema = None
            t_last, n_last = time.monotonic(), 0
            _train_mode(net, model, cfg.train_only)
            for batch in loader:
                frames = batch["frames"].to(ctx.device, non_blocking=True)
                flows = batch["flows"].to(ctx.device, non_blocking=True)
                maps = batch["maps"].to(ctx.device, non_blocking=True)
                fix = batch["fix"].to(ctx.device, non_blocking=True)
                static = all(batch.get("static", [False]))
                burn_in = random.randint(0, cfg.state_burn_in) if static else 0
                _keep_running_stats(model, frozen=has_stills and not static)
                with torch.autocast(ctx.device.type, dtype=torch.float16, enabled=use_amp):
                    pred = net(frames, flows, static=static, burn_in=burn_in)
                terms = saliency_loss_terms(pred.float(), maps, fix)
                loss = terms["loss"]
                drift = None
                if anchor is not None:
                    drift = anchor.drift(model)
                    loss = loss + cfg.zero_flow_anchor * drift
                cc_now, nss_now = float(terms["cc"].detach()), float(terms["nss"].detach())
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"loss is {value} at step {progress['step']}")
                first_loss = value if first_loss is None else first_loss
                last_loss = value
                ema = value if ema is None else 0.9 * ema + 0.1 * value
                progress["step"] += 1
                progress["epoch_step"] += 1
                n_last += frames.shape[0] * frames.shape[1]
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{ema:.3f}", cc=f"{cc_now:.3f}")
                if log_file is not None and progress["step"] % cfg.log_every == 0:
                    now = time.monotonic()
                    _append_log(log_file, {
                        "step": progress["step"], "epoch": epoch, "loss": value, "loss_ema": ema,
                        "cc": cc_now, "nss": nss_now,
                        **({} if drift is None else {"zero_flow_drift": float(drift.detach())}),
                        "lr": optimizer.param_groups[0]["lr"],
                        "frames_per_s": n_last / max(now - t_last, 1e-9),
                        "elapsed_s": now - t0,
                    })
                    t_last, n_last = now, 0
                if val_set is not None and progress["step"] % cfg.val_every == 0:
                    val_result = _run_validation(validate, model, val_set, cfg, ctx, log_file,
                                                 progress)
                    if ctx.is_main and val_result["cc"] > progress["best_cc"]:
                        progress["best_cc"] = val_result["cc"]
                        checkpoint(run_dir / "best.pt")
                        best_path = run_dir / "best.pt"
                    _train_mode(net, model, cfg.train_only)
                if progress["step"] % cfg.checkpoint_every == 0:
                    checkpoint(last_path)
                reason = budget.exhausted(progress["step"])
                if distributed.any_rank(reason is not None, ctx) and reason is None:
                    reason = "max_minutes"  # another rank's clock ran out: stop together
                if reason is not None:
                    stopped_by = reason
                    break
            if bar is not None:
                bar.close()
            if stopped_by == "epochs":
                progress["epoch"] += 1
                progress["epoch_step"] = 0
                with warnings.catch_warnings():
                    # a run resumed exactly at an epoch's end steps the schedule before Adam
                    warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
                    scheduler.step()
        if val_set is not None and progress.get("val_step") != progress["step"]:
            val_result = _run_validation(validate, model, val_set, cfg, ctx, log_file, progress)
            if ctx.is_main and val_result["cc"] > progress["best_cc"]:
                progress["best_cc"] = val_result["cc"]
                checkpoint(run_dir / "best.pt")
                best_path = run_dir / "best.pt"
        checkpoint(last_path)
        epochs_done = progress["epoch"] + progress["epoch_step"] / max(steps_per_epoch, 1)
        result = TrainResult(
            run_dir=run_dir,
            last=last_path,
            best=best_path,
            steps=progress["step"],
            epochs_done=epochs_done,
            first_loss=first_loss,
            last_loss=last_loss,
            val=val_result,
            stopped_by=stopped_by,
            seconds=time.monotonic() - t0,
        )
        if ctx.is_main:
            summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()}
            (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return result
    finally:
        torch.set_num_threads(saved_threads)
        distributed.cleanup(ctx)


def _overrides(raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    if "input_size" in out:
        out["input_size"] = tuple(int(v) for v in out["input_size"])
    return out


def _options(cfg: TrainConfig) -> dict[str, Any]:
    opts = asdict(cfg)
    opts["data"] = [str(d) for d in cfg.data]
    return json.loads(json.dumps(opts))  # plain JSON values only (safe for weights_only)


def _train_mode(net: torch.nn.Module, model: torch.nn.Module, train_only: list[str] | None) -> None:
    net.train()
    if train_only is not None:
        hold_frozen_norms(model, train_only)


def _keep_running_stats(model: torch.nn.Module, frozen: bool, momentum: float = 0.1) -> None:
    """Whether this step's batch statistics move the batch-norm running statistics (what is
    served).  When natural stills are in the mix, synthetic clips normalise with their own batch
    statistics but leave the running ones to the stills: a mixture of both domains' statistics
    would fit neither (measured: validation CC 0.35 with mixed running statistics against 0.54
    with batch statistics, after 500 steps)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0 if frozen else momentum


def _run_validation(
    validate: Any,
    model: torch.nn.Module,
    val_set: Any,
    cfg: TrainConfig,
    ctx: distributed.DistContext,
    log_file: Path | None,
    progress: dict[str, Any],
) -> dict[str, float]:
    result = validate(model, val_set, ctx.device, max_clips=cfg.val_clips)
    progress["val_step"] = progress["step"]
    result = {k: distributed.all_reduce_mean(v, ctx) for k, v in result.items()}
    if log_file is not None:
        _append_log(log_file, {"step": progress["step"], "val": result})
    log.info("validation at step %d: %s", progress["step"],
             ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result


def _append_log(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def _progress_bar(
    cfg: TrainConfig, ctx: distributed.DistContext, epoch: int, total: int, done: int
) -> Any:
    if not (cfg.progress and ctx.is_main):
        return None

    return tqdm(total=total, initial=done, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                unit="step", dynamic_ncols=True, leave=True)
