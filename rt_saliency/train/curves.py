"""The training curve of a run folder as a PNG: loss and batch CC per step, validation CC."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the headless backend is chosen)


def read_log(run: str | Path) -> tuple[list[dict], list[dict]]:
    """(step records, validation records) of a run folder's ``train_log.jsonl`` (or of that
    file itself)."""
    path = Path(run)
    if path.is_dir():
        path = path / "train_log.jsonl"
    steps, vals = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            (vals if "val" in record else steps).append(record)
    return steps, vals


def plot_training(run: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Write the curve of ``run`` (a run folder or its log) to ``out`` (PNG): loss (EMA) and CC
    against the step."""
    steps, vals = read_log(run)
    fig, (ax_loss, ax_cc) = plt.subplots(1, 2, figsize=(10, 3.6))
    xs = [r["step"] for r in steps]
    ax_loss.plot(xs, [r["loss"] for r in steps], lw=0.5, alpha=0.35, label="loss (batch)")
    ax_loss.plot(xs, [r["loss_ema"] for r in steps], lw=1.5, label="loss (EMA 0.9)")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (lower is better)")
    ax_loss.legend()
    ema, smooth = None, []
    for r in steps:
        ema = r["cc"] if ema is None else 0.95 * ema + 0.05 * r["cc"]
        smooth.append(ema)
    ax_cc.plot(xs, smooth, lw=1.2, label="train CC (batch, EMA 0.95)")
    if vals:
        ax_cc.plot([r["step"] for r in vals], [r["val"]["cc"] for r in vals], "o-", lw=1.5,
                   label="validation CC")
    ax_cc.set_xlabel("step")
    ax_cc.set_ylabel("CC")
    ax_cc.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(out)  # a failed plot never leaves half a PNG over an earlier one
    return out
