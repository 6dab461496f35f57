"""The training loss: finite values and gradients on degenerate maps, ordering, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rt_saliency import metrics
from rt_saliency.errors import InputError
from rt_saliency.loss import LossWeights, saliency_loss, saliency_loss_terms


def _gt(b: int = 2, h: int = 32, w: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    maps, fixes = [], []
    for i in range(b):
        cy, cx = 8 + 6 * i, 10 + 9 * i
        m = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0**2))
        f = torch.zeros(h, w)
        f[cy, cx] = 1
        f[cy + 1, cx - 2] = 1
        maps.append(m)
        fixes.append(f)
    return torch.stack(maps)[:, None], torch.stack(fixes)[:, None]


def _finite_with_grad(pred: torch.Tensor, gt: torch.Tensor, fix: torch.Tensor) -> None:
    pred = pred.clone().requires_grad_(True)
    loss = saliency_loss(pred, gt, fix)
    assert torch.isfinite(loss)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_perfect_beats_poor_and_uniform() -> None:
    gt, fix = _gt()
    perfect = saliency_loss(gt, gt, fix)
    uniform = saliency_loss(torch.full_like(gt, 0.5), gt, fix)
    poor = saliency_loss(gt.flip(-1).flip(-2), gt, fix)
    assert perfect < uniform < poor
    terms = saliency_loss_terms(gt, gt, fix)
    assert terms["kl"].item() == pytest.approx(0.0, abs=1e-4)
    assert terms["cc"].item() == pytest.approx(1.0, abs=1e-4)
    assert terms["sim"].item() == pytest.approx(1.0, abs=1e-4)
    assert terms["nss"].item() > 3


@pytest.mark.parametrize("case", ["zero_pred", "zero_gt", "one_hot", "zero_all", "negative"])
def test_degenerate_inputs_are_finite(case: str) -> None:
    gt, fix = _gt()
    one_hot = torch.zeros_like(gt)
    one_hot[:, :, 5, 7] = 1
    pred = {
        "zero_pred": torch.zeros_like(gt),
        "zero_gt": gt,
        "one_hot": one_hot,
        "zero_all": torch.zeros_like(gt),
        "negative": gt - 0.01,  # bicubic undershoot below the sigmoid's 0
    }[case]
    target = torch.zeros_like(gt) if case in ("zero_gt", "zero_all") else gt
    if case == "one_hot":
        target = one_hot
    _finite_with_grad(pred, target, fix)


def test_constant_prediction_gradient_is_bounded() -> None:
    """A fresh network outputs a near-constant map: its gradient must not explode (Adam)."""
    gt, fix = _gt()
    pred = torch.full_like(gt, 0.5, requires_grad=True)
    saliency_loss(pred, gt, fix).backward()
    assert pred.grad is not None and 0 < pred.grad.abs().max().item() < 1e4


def test_frame_without_fixations_skips_nss() -> None:
    gt, fix = _gt()
    fix_missing = fix.clone()
    fix_missing[1] = 0
    pred = gt * 0.5 + 0.1
    full = saliency_loss_terms(pred, gt, fix)
    part = saliency_loss_terms(pred, gt, fix_missing)
    only_first = saliency_loss_terms(pred[:1], gt[:1], fix[:1])
    assert part["nss"].item() == pytest.approx(only_first["nss"].item(), rel=1e-5)
    assert part["kl"].item() == pytest.approx(full["kl"].item())
    none = saliency_loss_terms(pred, gt, torch.zeros_like(fix))
    assert none["nss"].item() == 0.0 and torch.isfinite(none["loss"])
    _finite_with_grad(pred, gt, torch.zeros_like(fix))


def test_clip_shape_equals_flattened_batch() -> None:
    gt, fix = _gt(b=4)
    pred = torch.rand_like(gt, generator=torch.Generator().manual_seed(0))
    flat = saliency_loss(pred, gt, fix)
    shape = (2, 2, 1, 32, 40)
    clip = saliency_loss(pred.view(shape), gt.view(shape), fix.view(shape))
    assert clip.item() == pytest.approx(flat.item(), rel=1e-6)


def test_terms_match_numpy_metrics() -> None:
    gt, fix = _gt(b=1)
    pred = (gt + 0.3 * torch.rand_like(gt, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    t = saliency_loss_terms(pred, gt, fix)
    p, g, f = (x[0, 0].double().numpy() for x in (pred, gt, fix))
    assert t["cc"].item() == pytest.approx(metrics.cc(p, g), abs=1e-4)
    assert t["nss"].item() == pytest.approx(metrics.nss(p, f), abs=1e-3)
    assert t["sim"].item() == pytest.approx(metrics.sim(p, g), abs=2e-3)  # SIM_FLOOR
    assert t["kl"].item() == pytest.approx(metrics.kld(p, g), abs=1e-3)
    w = LossWeights()
    expected = t["kl"] + w.cc * (1 - t["cc"]) - w.nss * t["nss"] + w.sim * (1 - t["sim"])
    assert t["loss"].item() == pytest.approx(expected.item())


def test_gradient_descent_improves_prediction() -> None:
    gt, fix = _gt(b=1)
    logits = torch.zeros_like(gt, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = saliency_loss(torch.sigmoid(logits), gt, fix)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    final = saliency_loss_terms(torch.sigmoid(logits), gt, fix)
    assert final["loss"].item() < first - 0.5
    assert final["cc"].item() > 0.7
    assert np.isfinite(final["loss"].item())


def test_shape_errors() -> None:
    gt, fix = _gt()
    with pytest.raises(InputError, match="B,1,H,W"):
        saliency_loss(gt[:, 0], gt[:, 0], fix[:, 0])
    with pytest.raises(InputError, match="differs"):
        saliency_loss(gt, gt[:1], fix)
