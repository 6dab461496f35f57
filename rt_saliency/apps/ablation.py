"""The paper's Table 1: one training + evaluation per ablation row, written as the same table.

Rows (paper 3.3): S = 3, 5, 7, 9, 11 with fusion, attention and BD-ConvLSTM; then S = 9 without
fusion, without attention, and with a unidirectional ConvLSTM.  Each row is a registered model
variant trained with the same options (budget included) into ``out/<variant>/`` and evaluated
on the same split; a row whose run folder already has ``evaluation.json`` is reused, so an
interrupted ablation resumes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from rt_saliency.apps.evaluate import (
    BASELINE_NAME,
    EvalOptions,
    evaluate,
    to_markdown,
    write_report,
)
from rt_saliency.train.loop import TrainConfig, train

log = logging.getLogger(__name__)

#: (row label as in the paper, registered variant)
TABLE1_ROWS: tuple[tuple[str, str], ...] = (
    ("S=3", "tpcmrnet_s3"),
    ("S=5", "tpcmrnet_s5"),
    ("S=7", "tpcmrnet_s7"),
    ("S=9 (full model)", "tpcmrnet"),
    ("S=11", "tpcmrnet_s11"),
    ("w/o feature fusion", "tpcmrnet_nofusion"),
    ("w/o attention module", "tpcmrnet_noattn"),
    ("with Conv. LSTM (unidirectional)", "tpcmrnet_unilstm"),
)


def run_ablation(
    base: TrainConfig,
    eval_roots: list[str],
    opts: EvalOptions,
    out: str | Path,
    rows: list[str] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train and evaluate each row; write ``ablation.json`` / ``ablation.md`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selected = [r for r in TABLE1_ROWS if rows is None or r[1] in rows or r[0] in rows]
    table_rows: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    for label, variant in selected:
        run_dir = out / variant
        report_path = run_dir / "evaluation.json"
        if report_path.is_file():
            report = json.loads(report_path.read_text())
            log.info("row %s: reusing %s", label, report_path)
        else:
            result = train(replace(base, model=variant, out=str(run_dir)))
            weights = result.best if result.best is not None else result.last
            report = evaluate(weights, eval_roots, opts, device=device,
                              flow_method=base.flow_method, flow_preset=base.flow_preset)
            report["train"] = {"steps": result.steps, "seconds": round(result.seconds, 1),
                               "stopped_by": result.stopped_by, "weights": str(weights)}
            write_report(report, run_dir)
        for row in report["rows"]:
            if row["method"] == BASELINE_NAME:
                if not baseline or all(b["dataset"] != row["dataset"] for b in baseline):
                    baseline.append(dict(row))
            else:
                table_rows.append({**row, "method": label, "variant": variant})
    table = {"split": opts.split, "options": report["options"] if selected else {},
             "rows": table_rows + baseline}
    path = out / "ablation.json"
    path.write_text(json.dumps(table, indent=2) + "\n")
    (out / "ablation.md").write_text(to_markdown(table, "Model ablation (paper Table 1)"))
    return table
