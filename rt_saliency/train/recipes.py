"""Named training recipes: the options that produced a shipped set of weights, in one place.

``rt-saliency train --recipe NAME --data ... --out ...`` starts from the recipe's options; any
flag given on the command line wins.  A recipe also says which synthetic motion clips it adds
(generated into the run folder when no video root is given), so one command reproduces the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rt_saliency.data.flowcache import build_flow_cache
from rt_saliency.data.gaze import is_gaze_collection
from rt_saliency.data.layout import open_dataset
from rt_saliency.data.synth import SynthConfig, generate_synthetic
from rt_saliency.errors import ConfigError
from rt_saliency.flow import FlowConfig
from rt_saliency.spec import INPUT_SIZE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """A recipe: :class:`~rt_saliency.train.loop.TrainConfig` options plus generated data."""

    name: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    #: synthetic moving-object clips for the motion pathway (None: none generated)
    synth: SynthConfig | None = None
    #: a second phase: starts from another run's weights, given with ``--init``
    needs_init: bool = False


_MOTION_CLIPS = SynthConfig(videos=30, frames=40, seed=1, split_sizes={"train": 24, "val": 2,
                                                                   "test": 4})
#: what both phases share: the batch shape, the schedule's decay, one torch thread and one
#: loader worker on 2 cores, flips and the stills' state burn-in, logging and the seed
_CPU_OPTIONS: dict[str, Any] = {
    "model": "tpcmrnet", "decay_every": 2, "decay_factor": 0.3, "batch_size": 4, "clip_len": 3,
    "clip_stride": 6, "workers": 1, "threads": 1, "checkpoint_every": 100, "log_every": 10,
    "flip": 0.5, "state_burn_in": 30, "seed": 0,
}

RECIPES: dict[str, Recipe] = {
    "gaze-cpu": Recipe(
        name="gaze-cpu",
        description=(
            "the shipped weights: the frame pathway learns from real fixations on still images "
            "(gaze-images roots: static clips, zero flow, horizontal flips, carried ConvLSTM "
            "state), the motion pathway from synthetic moving objects with static look-alikes; "
            "about 90 minutes on 2 CPU cores"
        ),
        options={**_CPU_OPTIONS, "lr": 3e-4, "epochs": 5, "max_minutes": 85.0,
                 "val_every": 250, "val_clips": 200},
        synth=_MOTION_CLIPS,
    ),
    "gaze-cpu-motion": Recipe(
        name="gaze-cpu-motion",
        description=(
            "second phase of the shipped weights: from a gaze-cpu run (--init), only the flow "
            "pathway trains, on motion clips and stills in equal shares, while the frame "
            "pathway, attention and head stay as trained and serve their running batch-norm "
            "statistics; a still's zero flow still passes the flow pathway, and a loss term "
            "(--zero-flow-anchor) holds that zero-motion response where it was, so the stills "
            "keep their maps; about 25 minutes on 2 CPU cores"
        ),
        options={**_CPU_OPTIONS, "lr": 4e-4, "epochs": 2, "max_steps": 800, "val_every": 100,
                 "val_clips": 60, "motion_share": 0.5, "train_only": ["flow_pathway"],
                 "zero_flow_anchor": 10.0},
        synth=_MOTION_CLIPS,
        needs_init=True,
    ),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a :class:`ConfigError` listing the known ones otherwise."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def prepare_recipe_data(recipe: Recipe, data: list[str], out: Path) -> list[str]:
    """``data`` plus the recipe's synthetic clips: generated (with their flow cache) under
    ``out/synth-motion`` unless a video root is given or they exist already."""
    if recipe.synth is None:
        return data
    has_video = any(not is_gaze_collection(Path(d)) for d in data)
    if has_video:
        return data
    root = out / "synth-motion"
    if not (root / "synth.json").is_file():
        log.info("recipe %s: generating synthetic motion clips in %s", recipe.name, root)
        generate_synthetic(root, recipe.synth)
    if not (root / "flow_cache" / "manifest.json").is_file():
        records = [r for split in ("train", "val") for r in open_dataset(root, split)]
        build_flow_cache(root, records, FlowConfig(size=INPUT_SIZE), INPUT_SIZE)
    return [*data, str(root)]

