"""Comparison of two runners' outputs (Polygraphy's ``Comparator``): typed results.

:func:`compare_outputs` diffs one ``infer`` result against another, per output name;
:func:`compare_maps` says how far two predictors' saliency streams are apart, frame by frame
(what the precision checks and the numerics benchmark report).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.metrics import cc


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


@dataclass(frozen=True)
class MapAgreement:
    """How far a candidate's saliency maps are from a reference's on the same frames."""

    frames: int
    max_abs: float
    mean_abs: float
    cc_min: float
    cc_mean: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def compare_maps(candidate: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> MapAgreement:
    """Per-frame absolute difference and Pearson CC of two equally long map sequences (the
    worst and the mean over frames).  :class:`InputError` when lengths or shapes differ."""
    if len(candidate) != len(reference) or not reference:
        raise InputError(f"need two equally long, non-empty map sequences, got {len(candidate)} "
                         f"and {len(reference)}")
    diffs, ccs = [], []
    for got, ref in zip(candidate, reference):
        got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
        if got.shape != ref.shape:
            raise InputError(f"maps differ in shape: {got.shape} vs {ref.shape}")
        diffs.append(np.abs(got - ref))
        ccs.append(cc(got, ref))
    return MapAgreement(frames=len(diffs), max_abs=float(max(d.max() for d in diffs)),
                        mean_abs=float(np.mean([d.mean() for d in diffs])),
                        cc_min=float(min(ccs)), cc_mean=float(np.mean(ccs)))
