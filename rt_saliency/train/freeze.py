"""Fine-tuning part of a network: which parameters a run trains, and how the rest stays as served.

A frozen part keeps its weights *and* serves its batch-norm layers from their running statistics
(eval mode) during training, so the trained part learns against the very features the daemon will
compute, not against batch statistics of the fine-tuning data.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from rt_saliency.errors import ConfigError


def _trained(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def freeze_except(model: nn.Module, prefixes: Sequence[str]) -> list[nn.Parameter]:
    """Freeze every parameter whose dotted name is not under one of ``prefixes`` and return the
    ones left trainable; a prefix that names no parameter is a :class:`ConfigError`."""
    named = list(model.named_parameters())
    unknown = [p for p in prefixes if not any(_trained(n, [p]) for n, _ in named)]
    if unknown:
        tops = sorted({n.split(".")[0] for n, _ in named})
        raise ConfigError(f"--train-only {', '.join(unknown)} names no parameter of the model; "
                          f"its top-level parts are {', '.join(tops)}")
    trainable = []
    for name, param in named:
        param.requires_grad_(_trained(name, prefixes))
        if param.requires_grad:
            trainable.append(param)
    return trainable


def hold_frozen_norms(model: nn.Module, prefixes: Sequence[str]) -> None:
    """Put the batch-norm layers outside ``prefixes`` in eval mode (call after ``model.train()``)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not _trained(name, prefixes):
            module.eval()
