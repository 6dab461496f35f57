"""Evaluation reports: JSON and a Table-2 style Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.apps.evaluate.protocol import METRIC_TITLES, METRICS


def to_markdown(report: dict[str, Any], title: str | None = None) -> str:
    """The report as a Table-2 style Markdown table: one row per method, columns per data set."""
    datasets = list(dict.fromkeys(r["dataset"] for r in report["rows"]))
    methods = list(dict.fromkeys(r["method"] for r in report["rows"]))
    by_key = {(r["dataset"], r["method"]): r for r in report["rows"]}
    head = ["method"] + [f"{d} {METRIC_TITLES[m]}" for d in datasets for m in METRICS]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    for method in methods:
        cells = [method]
        for d in datasets:
            row = by_key.get((d, method), {})
            cells += [_fmt(row.get(m)) for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    counts = ", ".join(
        f"{d}: {by_key[(d, methods[0])]['videos']} videos, {by_key[(d, methods[0])]['frames']} "
        f"frames" for d in datasets if (d, methods[0]) in by_key
    )
    lines += ["", f"Split `{report['split']}`; {counts}."]
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.3f}"


def write_report(report: dict[str, Any], out_dir: str | Path, stem: str = "evaluation") -> Path:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; return the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    (out / f"{stem}.md").write_text(to_markdown(report))
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))
