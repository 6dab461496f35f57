"""A sweep of QP-map and AQ settings on real gaze stills: which settings to ship, chosen on a
split that is not the test split.  The baselines (plain ffmpeg at every AQ mode) are encoded
once; each variant adds its saliency encodes to the same rungs, and is scored by BD-rate against
the baselines."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from rt_saliency.apps.compare.ladder import (
    CompareConfig,
    Sample,
    baseline_name,
    bd_rates,
    run_ladder,
)
from rt_saliency.atomic import write_text
from rt_saliency.encode import EncoderConfig
from rt_saliency.qp.mapping import QPConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One candidate: the QP mapping and the saliency encode's encoder settings."""

    qp: QPConfig
    encoder: EncoderConfig


def sweep(samples: Sequence[Sample], fps: Fraction, base: CompareConfig,
          variants: Mapping[str, Variant]) -> dict[str, Any]:
    """Baselines once, then every variant's saliency encodes on the same rungs; per variant and
    method the BD-rates against every baseline."""
    points = run_ladder(samples, fps, replace(base, qp=base.qp))
    for point in points:  # the base config's own saliency encodes are not a variant
        point["encodes"] = {k: v for k, v in point["encodes"].items()
                            if not k.startswith("saliency/")}
    for name, variant in variants.items():
        config = replace(base, qp=variant.qp, encoder=variant.encoder, baseline_aq_modes=())
        for point, extra in zip(points, run_ladder(samples, fps, config)):
            point["encodes"].update({f"{name}|{k.removeprefix('saliency/')}": v
                                     for k, v in extra["encodes"].items()})
        log.info("variant %s done", name)
    baselines = [baseline_name(m, base.encoder.codec) for m in base.baseline_aq_modes]
    tests = [k for k in points[0]["encodes"] if "|" in k]
    table = {t: {b: bd_rates(points, t, b) for b in baselines} for t in tests}
    return {"points": points, "bd_rate_percent": table,
            "variants": {n: {"qp": v.qp.to_dict(), "aq_mode": v.encoder.aq_mode,
                             "aq_strength": v.encoder.aq_strength}
                         for n, v in variants.items()}}


def markdown(result: dict[str, Any], title: str) -> str:
    """BD-rates of every variant against every baseline, one table."""
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:+.1f}"

    lines = [f"# {title}", "", "| variant/method | baseline | PSNR % | EWPSNR % | salient % | "
             "rest % |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for test, rows in result["bd_rate_percent"].items():
        for anchor, v in rows.items():
            lines.append(f"| {test} | {anchor} | {fmt(v['psnr'])} | {fmt(v['ewpsnr'])} | "
                         f"{fmt(v['psnr_salient'])} | {fmt(v['psnr_rest'])} |")
    lines.append("")
    lines.append("Variants: " + json.dumps(result["variants"]))
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    write_text(out / "report.md", markdown(result, title))
