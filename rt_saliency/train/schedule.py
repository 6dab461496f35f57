"""The paper's learning-rate schedule: Adam at 1e-4, multiplied by 0.1 after every two epochs."""

from __future__ import annotations

import torch

#: paper, section 3.2
PAPER_LR = 1e-4
PAPER_DECAY_EVERY_EPOCHS = 2
PAPER_DECAY_FACTOR = 0.1


def make_optimizer(params, lr: float = PAPER_LR) -> torch.optim.Adam:  # noqa: ANN001 - torch params
    """Adam with the paper's defaults (betas 0.9/0.999, no weight decay)."""
    return torch.optim.Adam(params, lr=lr)


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    every_epochs: int = PAPER_DECAY_EVERY_EPOCHS,
    factor: float = PAPER_DECAY_FACTOR,
) -> torch.optim.lr_scheduler.StepLR:
    """Step decay stepped once per *epoch* (so ``step_size`` counts epochs)."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every_epochs, gamma=factor)
