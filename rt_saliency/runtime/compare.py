"""Comparison of two runners' outputs (Polygraphy's ``Comparator``): typed per-output diffs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rt_saliency.errors import InputError


@dataclass(frozen=True)
class OutputDiff:
    """How far one output of two runners is apart."""

    max_abs: float
    max_rel: float
    mean_abs: float

    def to_dict(self) -> dict[str, float]:
        return {"max_abs": self.max_abs, "max_rel": self.max_rel, "mean_abs": self.mean_abs}


def compare_outputs(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], *, rel_floor: float = 1e-6
) -> dict[str, OutputDiff]:
    """Max abs / max rel / mean abs difference per output name of two ``infer`` results.

    The relative difference divides by ``max(|b|, rel_floor)``, so ``b`` is the reference.
    Raises :class:`InputError` if the two results have different names or shapes.
    """
    if set(a) != set(b):
        raise InputError(f"outputs differ in names: {sorted(a)} vs {sorted(b)}")
    diffs: dict[str, OutputDiff] = {}
    for name in a:
        x = np.asarray(a[name], dtype=np.float64)
        y = np.asarray(b[name], dtype=np.float64)
        if x.shape != y.shape:
            raise InputError(f"output '{name}' differs in shape: {x.shape} vs {y.shape}")
        err = np.abs(x - y)
        rel = err / np.maximum(np.abs(y), rel_floor)
        diffs[name] = OutputDiff(
            max_abs=float(err.max(initial=0.0)),
            max_rel=float(rel.max(initial=0.0)),
            mean_abs=float(err.mean()) if err.size else 0.0,
        )
    return diffs
