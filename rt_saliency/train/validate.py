"""Periodic validation during training: loss and metrics on a fixed subset of validation clips.

Cheap on purpose (the network's grid, a bounded number of clips); the benchmark numbers come from
:func:`rt_saliency.apps.evaluate.evaluate`, which scores at the ground truth's own resolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rt_saliency import metrics
from rt_saliency.loss import saliency_loss_terms


@torch.no_grad()
def validate(
    model: torch.nn.Module, dataset: Any, device: torch.device, max_clips: int = 20
) -> dict[str, float]:
    """Mean loss, CC, NSS and SIM over up to ``max_clips`` clips spread evenly over ``dataset``."""
    was_training = model.training
    model.eval()
    n = len(dataset)
    picks = np.unique(np.linspace(0, n - 1, num=min(max_clips, n)).round().astype(int))
    losses, ccs, nsss, sims = [], [], [], []
    for i in picks:
        sample = dataset[int(i)]
        frames = sample["frames"][None].to(device)
        flows = sample["flows"][None].to(device)
        pred = model(frames, flows, static=bool(sample.get("static", False))).float()
        maps = sample["maps"][None].to(device)
        fix = sample["fix"][None].to(device)
        losses.append(float(saliency_loss_terms(pred, maps, fix)["loss"]))
        p = pred[0, :, 0].cpu().numpy()
        g = sample["maps"][:, 0].numpy()
        f = sample["fix"][:, 0].numpy()
        for t in range(p.shape[0]):
            ccs.append(metrics.cc(p[t], g[t]))
            sims.append(metrics.sim(p[t], g[t]))
            if f[t].any():
                nsss.append(metrics.nss(p[t], f[t]))
    model.train(was_training)
    return {
        "loss": float(np.mean(losses)),
        "cc": float(np.mean(ccs)),
        "nss": float(np.mean(nsss)) if nsss else 0.0,
        "sim": float(np.mean(sims)),
    }
