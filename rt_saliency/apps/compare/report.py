"""The comparison's report: the fields every kind shares, JSON and Markdown, and the RD plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.apps.compare.ladder import CompareConfig, Sample, summarise
from rt_saliency.atomic import write_text
from rt_saliency.optional import import_optional

TITLE = "# Saliency-guided encoding against plain FFmpeg: compression report"


def common_fields(config: CompareConfig, samples: Sequence[Sample],
                  points: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's fields every kind of comparison has."""
    offsets = {}
    first = config.map_qp(config.rung(config.ladder[0]))
    grids = [s.offsets(first) for s in samples]
    for name in samples[0].maps:
        stacked = np.concatenate([np.ravel(g) for o in grids for g in o[name]])
        offsets[name] = {"mean": float(stacked.mean()), "min": float(stacked.min()),
                         "max": float(stacked.max()),
                         "mean_abs": float(np.abs(stacked).mean())}
    enc = config.encoder
    return {
        "qp_config": first.to_dict(),
        "base_share_per_rung": {f"{v:g}": config.map_qp(config.rung(v)).base_share
                                for v in config.ladder},
        "offsets": offsets,
        "encoder": {"codec": enc.codec, "preset": enc.preset, "tune": enc.tune,
                    "keyint": enc.keyint, "aq_mode": enc.aq_mode, "options": enc.options,
                    "rate_control": config.rate_key, "ladder": config.ladder,
                    "passes": config.passes,
                    "baselines": "plain ffmpeg, same settings, aq-mode "
                                 + "/".join(map(str, config.baseline_aq_modes))},
        "points": points,
        "bd_rate_percent": summarise(points, config),
        "bd_rate_note": "saliency encode vs baseline over bits per pixel; negative = fewer "
                        "bits for equal quality (piecewise-cubic Bjontegaard over the ladder)",
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    """``report.json``, ``report.md`` and ``rate_quality.png`` in ``out``."""
    write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text(out / "report.md", markdown(report))
    plot(report, out / "rate_quality.png")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f} %"


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    rk = report["encoder"]["rate_control"]
    enc = report["encoder"]
    lines = [
        TITLE, "",
        f"- input: `{report['video']}` ({report['frames']} frames, "
        f"{report['size']['width']}x{report['size']['height']})",
        f"- weights: {report['weights']['source']}; {report['weights']['note']}",
        f"- {enc['codec']} preset {enc['preset']}, keyint {enc['keyint']}, {rk} ladder "
        f"{enc['ladder']}; baselines: {enc['baselines']}",
        f"- QP mapping {json.dumps(report['qp_config'])}",
    ]
    for name, o in report["offsets"].items():
        lines.append(f"- offsets of {name}: mean {o['mean']:.2f}, range [{o['min']:.2f}, "
                     f"{o['max']:.2f}], mean |offset| {o['mean_abs']:.2f}")
    lines += ["", f"| {rk} | encode | bpp | kbit/s | PSNR | EWPSNR | PSNR salient | PSNR rest "
              "| SSIM |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in report["points"]:
        for name, m in p["encodes"].items():
            lines.append(f"| {p[rk]:g} | {name} | {m['bpp']:.4f} | {m['kbps']:.1f} | "
                         f"{m['psnr']:.2f} | {m['ewpsnr']:.2f} | {m['psnr_salient']:.2f} | "
                         f"{m['psnr_rest']:.2f} | {m['ssim']:.4f} |")
    lines += ["", "BD-rate of each saliency encode (negative = fewer bits at equal quality):", "",
              "| encode | against | PSNR | EWPSNR | PSNR salient | PSNR rest |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    bd = report["bd_rate_percent"]
    for test, rows in bd["against_each"].items():
        strongest = bd["against_strongest"].get(test, {}).get("baseline")
        for anchor, v in rows.items():
            mark = " (strongest)" if anchor == strongest else ""
            lines.append(f"| {test} | {anchor}{mark} | {_fmt(v['psnr'])} | {_fmt(v['ewpsnr'])} "
                         f"| {_fmt(v['psnr_salient'])} | {_fmt(v['psnr_rest'])} |")
    lines += ["", report["bd_rate_note"] + ".", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str | Path) -> None:
    """Rate-quality curves (PSNR, EWPSNR, PSNR in the salient region against bits per pixel)
    of every encode, PNG via matplotlib's Agg."""
    matplotlib = import_optional("matplotlib")

    matplotlib.use("Agg")
    plt = import_optional("matplotlib.pyplot")

    names = list(report["points"][0]["encodes"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric, label in zip(axes, ("psnr", "ewpsnr", "psnr_salient"),
                                 ("PSNR-Y (dB)", "EWPSNR-Y (dB)", "PSNR-Y, salient region (dB)")):
        for name in names:
            xs = [p["encodes"][name]["bpp"] for p in report["points"]]
            ys = [p["encodes"][name][metric] for p in report["points"]]
            style = "s-" if name.startswith("saliency/") else "o--"
            ax.plot(xs, ys, style, label=name, linewidth=2 if style == "s-" else 1)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{report['video']} ({report['weights']['source']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
