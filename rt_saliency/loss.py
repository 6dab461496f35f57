"""The paper's training loss: KL + 0.2 CC + 0.1 NSS + 0.1 SIM, written so that lower is better.

Exact form (per map, then averaged over the batch; see ``docs/metrics.md``)::

    loss = 1.0 * KL + 0.2 * (1 - CC) + 0.1 * (-NSS) + 0.1 * (1 - SIM)

The ``1 - x`` offsets only shift the value (a perfect CC/SIM term is 0); the gradient is that of
``KL - 0.2 CC - 0.1 NSS - 0.1 SIM``.  NSS is unbounded, so the loss can be negative.

Numerics: the metrics follow the MIT benchmark code (``rt_saliency.metrics``), but the loss runs
in float32 and must keep a finite gradient on all-zero and one-hot maps, so it uses
``eps = 1e-7`` (not MATLAB's 2.2e-16), ``sqrt(var + eps)`` for standard deviations, a floor of
``1e-4`` in SIM's min-max step (a constant map becomes uniform, not 0/0), and clamps the
prediction at 0 for KL (bicubic up-sampling after the sigmoid can undershoot).
A map without fixations contributes no NSS term; the NSS term is the mean over the maps that
have fixations (0 when none has).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rt_saliency.errors import InputError

#: numerical floor of the loss (float32-safe); the metrics use MATLAB's eps instead
LOSS_EPS: float = 1e-7
#: offset added before SIM's min-max normalisation (see ``_sim``): changes SIM by ~1e-3
SIM_FLOOR: float = 1e-4


@dataclass(frozen=True)
class LossWeights:
    """Weights of the four terms (paper, section 3.2: 1, 0.2, 0.1, 0.1)."""

    kl: float = 1.0
    cc: float = 0.2
    nss: float = 0.1
    sim: float = 0.1


PAPER_WEIGHTS = LossWeights()

__all__ = [
    "LOSS_EPS",
    "SIM_FLOOR",
    "LossWeights", "PAPER_WEIGHTS", "saliency_loss", "saliency_loss_terms"]


def _flatten(x: torch.Tensor, name: str, ref_shape: torch.Size | None) -> torch.Tensor:
    if x.dim() not in (4, 5) or x.shape[-3] != 1:
        raise InputError(f"{name} must be (B,1,H,W) or (B,T,1,H,W), got {tuple(x.shape)}")
    if ref_shape is not None and x.shape != ref_shape:
        raise InputError(f"{name} shape {tuple(x.shape)} differs from pred {tuple(ref_shape)}")
    return x.reshape(-1, x.shape[-2] * x.shape[-1])


def _kl(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    p = pred.clamp_min(0)
    p = p / (p.sum(dim=1, keepdim=True) + LOSS_EPS)
    g = gt / (gt.sum(dim=1, keepdim=True) + LOSS_EPS)
    return (g * torch.log(LOSS_EPS + g / (p + LOSS_EPS))).sum(dim=1)


def _cc(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    pc = pred - pred.mean(dim=1, keepdim=True)
    gc = gt - gt.mean(dim=1, keepdim=True)
    num = (pc * gc).sum(dim=1)
    den = torch.sqrt((pc * pc).sum(dim=1) * (gc * gc).sum(dim=1) + LOSS_EPS)
    return num / den


def _nss(pred: torch.Tensor, fix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-map NSS and a mask of the maps that have fixations."""
    n = pred.shape[1]
    mean = pred.mean(dim=1, keepdim=True)
    var = ((pred - mean) ** 2).sum(dim=1, keepdim=True) / max(n - 1, 1)
    z = (pred - mean) / torch.sqrt(var + LOSS_EPS)
    mask = (fix > 0).to(pred.dtype)
    count = mask.sum(dim=1)
    has = count > 0
    return (z * mask).sum(dim=1) / count.clamp_min(1), has


def _sim(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    def dist(x: torch.Tensor) -> torch.Tensor:
        lo = x.min(dim=1, keepdim=True).values
        hi = x.max(dim=1, keepdim=True).values
        # The floor keeps a (near-)constant map a uniform distribution with a bounded gradient
        # (plain min-max would give 0/0 and a ~1e14 gradient that poisons Adam's moments).
        x = (x - lo + SIM_FLOOR) / (hi - lo + SIM_FLOOR)
        return x / x.sum(dim=1, keepdim=True)

    return torch.minimum(dist(pred), dist(gt)).sum(dim=1)


def saliency_loss_terms(
    pred: torch.Tensor,
    gt_map: torch.Tensor,
    gt_fix: torch.Tensor,
    weights: LossWeights = PAPER_WEIGHTS,
) -> dict[str, torch.Tensor]:
    """The loss and its batch-averaged terms: keys ``loss``, ``kl``, ``cc``, ``nss``, ``sim``.

    ``pred``, ``gt_map`` and ``gt_fix`` share one shape, ``(B,1,H,W)`` or ``(B,T,1,H,W)``;
    ``gt_fix`` is binary (any value > 0 is a fixation).  ``cc``/``nss``/``sim`` are the metric
    values (higher is better), ``loss`` combines them so that lower is better.
    """
    p = _flatten(pred, "pred", None)
    g = _flatten(gt_map, "gt_map", pred.shape).to(p.dtype)
    f = _flatten(gt_fix, "gt_fix", pred.shape)
    kl = _kl(p, g).mean()
    cc = _cc(p, g).mean()
    sim = _sim(p, g).mean()
    nss_per_map, has = _nss(p, f)
    if bool(has.any()):
        nss = nss_per_map[has].mean()
    else:
        nss = p.sum() * 0.0  # keeps the graph (and a zero gradient) when no map has fixations
    loss = (
        weights.kl * kl
        + weights.cc * (1.0 - cc)
        - weights.nss * nss
        + weights.sim * (1.0 - sim)
    )
    return {"loss": loss, "kl": kl, "cc": cc, "nss": nss, "sim": sim}


def saliency_loss(
    pred: torch.Tensor,
    gt_map: torch.Tensor,
    gt_fix: torch.Tensor,
    weights: LossWeights = PAPER_WEIGHTS,
) -> torch.Tensor:
    """Scalar training loss (lower is better); see :func:`saliency_loss_terms`."""
    return saliency_loss_terms(pred, gt_map, gt_fix, weights)["loss"]
