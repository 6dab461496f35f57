"""``rt-saliency train``: train TP-CMRNet as the paper did (Adam 1e-4, x0.1 every 2 epochs).

Multi-GPU: ``torchrun --nproc-per-node N -m rt_saliency train ...`` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rt_saliency.cli._common import add_flow_options
from rt_saliency.errors import ConfigError
from rt_saliency.train import TrainConfig, train
from rt_saliency.train.curves import plot_training
from rt_saliency.train.recipes import RECIPES, get_recipe, prepare_recipe_data


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train TP-CMRNet on one or more data set roots",
        description="One batch = one video x five consecutive frames (paper 3.2); the paper's "
        "loss; resumable checkpoints (last.pt, best.pt by validation CC) with config.json in "
        "the run folder; a progress bar with loss and speed. Use torchrun for several GPUs.",
    )
    parser.add_argument("--data", action="append", required=True, metavar="ROOT",
                        help="data set root (repeat to combine DHF1K, Hollywood-2, UCF Sports, "
                        "synthetic sets and gaze-image roots)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                        help="start from a named recipe's options (flags given win); "
                        "gaze-cpu trains the shipped weights (docs/training.md)")
    parser.add_argument("--flip", type=float, default=None,
                        help="horizontal-flip probability for still images (default 0.5)")
    parser.add_argument("--motion-share", type=float, default=None, metavar="P",
                        help="with stills in the mix, at least this share of batches are motion "
                             "clips (repeated; default: as the data has them)")
    parser.add_argument("--state-burn-in", type=int, default=None, metavar="N",
                        help="stills start from the ConvLSTM state after U[0,N] frames (default 30)")
    parser.add_argument("--model", default=None, help="registered variant (default tpcmrnet)")
    parser.add_argument("--init", default=None, metavar="WEIGHTS",
                        help="start from these weights (a checkpoint or a shipped set's name); "
                             "the optimizer and schedule start fresh")
    parser.add_argument("--train-only", action="append", default=None, metavar="PREFIX",
                        help="train only the parameters under this dotted prefix (repeatable, "
                             "e.g. flow_pathway); the rest is frozen and serves its running "
                             "batch-norm statistics")
    parser.add_argument("--zero-flow-anchor", type=float, default=None, metavar="W",
                        help="weight of a loss term that keeps the flow pathway's response to "
                             "zero flow (what a still sees) where the run started, so motion "
                             "training leaves stills alone (default 0: off)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="train at another input size (multiples of 8; default 224 224)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (paper: 1e-4)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 6)")
    parser.add_argument("--decay-every", type=int, default=None,
                        help="multiply the LR by --decay-factor every this many epochs (paper: 2)")
    parser.add_argument("--decay-factor", type=float, default=None, help="paper: 0.1")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per step (paper: 1)")
    parser.add_argument("--clip-len", type=int, default=None, help="frames per clip (paper: 5)")
    parser.add_argument("--clip-stride", type=int, default=None,
                        help="step between clip starts (default: --clip-len)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default 1)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (and checkpoint) after this much wall time")
    parser.add_argument("--val-every", type=int, default=None, help="validate every N steps")
    parser.add_argument("--val-clips", type=int, default=None, help="validation clips (default 20)")
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="save last.pt every N steps")
    parser.add_argument("--log-every", type=int, default=None, help="train_log.jsonl every N steps")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                        help="mixed precision on CUDA (never on CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    parser.add_argument("--resume", default=None, metavar="CKPT", help="resume from last.pt")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                        help="tqdm progress bar")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 is fastest on a busy machine)")
    add_flow_options(parser)
    parser.set_defaults(func=run)


#: TrainConfig fields a flag of the same name (dashes for underscores) sets when given
_FLAG_FIELDS = (
    "model", "lr", "epochs", "decay_every", "decay_factor", "batch_size", "clip_len",
    "clip_stride", "workers", "seed", "max_steps", "max_minutes", "val_every", "val_clips",
    "checkpoint_every", "log_every", "threads", "flip", "state_burn_in", "motion_share", "flow_method",
    "flow_preset", "init", "train_only", "zero_flow_anchor",
)


def run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    data = list(args.data)
    if args.recipe is not None:
        recipe = get_recipe(args.recipe)
        if recipe.needs_init and args.init is None:
            raise ConfigError(f"recipe {recipe.name} is a second phase: give the first phase's "
                              "weights with --init (a checkpoint or a shipped set's name)")
        options.update(recipe.options, recipe=recipe.name)
        data = prepare_recipe_data(recipe, data, Path(args.out))
    options.update({k: getattr(args, k) for k in _FLAG_FIELDS if getattr(args, k) is not None})
    if args.input_size is not None:
        options["model_overrides"] = {"input_size": list(args.input_size)}
    cfg = TrainConfig(data=data, out=args.out, amp=args.amp, device=args.device,
                      resume=args.resume, progress=args.progress, **options)
    result = train(cfg)
    if int(os.environ.get("RANK", "0")) == 0 and (result.run_dir / "train_log.jsonl").is_file():
        plot_training(result.run_dir, result.run_dir / "curve.png",
                      title=f"rt-saliency train ({options.get('recipe', 'custom')})")
    print(json.dumps({"run_dir": str(result.run_dir), "last": str(result.last),
                      "best": str(result.best) if result.best else None,
                      "steps": result.steps, "stopped_by": result.stopped_by,
                      "first_loss": result.first_loss, "last_loss": result.last_loss,
                      "val": result.val, "seconds": round(result.seconds, 1)}))
    return 0
