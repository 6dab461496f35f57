"""Write one benchmark run: ``DIR/results.json``, ``DIR/report.md`` and PNG plots.

The results document (see ``benchmarks/README.md``) has ``meta``, ``floor``, ``paper`` and
``rows``; every row carries ``section`` (model / pipeline / scaling / profile), a bool
``under_41ms`` and the rule that decided it.  Sections that could not run are listed in
``skipped`` with the reason, never silently left out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.optional import import_optional

#: sections of ``rows`` in report order
SECTIONS: tuple[str, ...] = ("model", "peer", "realtime", "pipeline", "profile", "scaling",
                              "batching", "multistream")
#: keys every row must have
ROW_KEYS: tuple[str, ...] = ("section", "name", "under_41ms", "under_41ms_rule")


def validate_results(results: dict[str, Any]) -> None:
    """Raise :class:`InputError` if ``results`` is not a well-formed results document."""
    for key in ("meta", "floor", "paper", "rows", "skipped"):
        if key not in results:
            raise InputError(f"results lack '{key}'")
    for i, row in enumerate(results["rows"]):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise InputError(f"row {i} ({row.get('name')}) lacks {missing}")
        if not isinstance(row["under_41ms"], bool):
            raise InputError(f"row {i} ({row['name']}): under_41ms must be true/false")
        if row["section"] not in SECTIONS:
            raise InputError(f"row {i}: unknown section {row['section']!r}")


def _json_default(obj: Any) -> Any:
    try:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """NaN/inf become null so the file is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "**yes**" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return out


def _rows(results: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return [r for r in results["rows"] if r["section"] == section]


def dominant_stage(row: dict[str, Any]) -> tuple[str, float, float] | None:
    """(stage, its p50 ms, its share of the summed stage p50s) of a pipeline row, or None."""
    stages = {k: v.get("p50_ms") for k, v in (row.get("stages") or {}).items()}
    stages = {k: v for k, v in stages.items() if isinstance(v, int | float)}
    total = sum(stages.values())
    if not stages or total <= 0:
        return None
    name = max(stages, key=lambda k: stages[k])
    return name, stages[name], stages[name] / total


def render_markdown(results: dict[str, Any], plots: dict[str, str]) -> str:
    """The human-readable report of a results document."""
    meta, floor, paper = results["meta"], results["floor"], results["paper"]
    lines = [
        "# rt-saliency benchmark report",
        "",
        f"Command: `{meta.get('command')}`  ",
        f"Mode: {'quick' if meta.get('quick') else 'full'}; started {meta.get('started')}; "
        f"took {_fmt(meta.get('duration_s'))} s.  ",
        f"Machine: {meta.get('machine', {}).get('cpu_model')} x{meta.get('machine', {}).get('cpu_count')}"
        f", load at start {meta.get('machine', {}).get('loadavg_at_start')}, "
        f"GPU: {meta.get('machine', {}).get('gpu')}.",
        "",
        f"Budget: {meta.get('budget_ms')} ms per frame (the paper's Table 3 time, "
        f"0.041 s per frame; the paper does not name its hardware).",
        "",
        "## Hardware floor",
        "",
    ]
    if floor.get("rows"):
        lines += _table(
            ["backend", "shape", "threads", "MMAC", "min ms", "p50 ms", "GFLOP/s (fastest)"],
            [[r["backend"], r["shape"], r["threads"], r["macs"] / 1e6, r["min_ms"], r["p50_ms"],
              r["gflop_per_s"]] for r in floor["rows"]],
        )
        lines += ["", f"Floor (best dense conv rate): "
                      f"{_fmt(floor['floor_conv_macs_per_s'] * 2 / 1e9)} GFLOP/s.", ""]
    else:
        lines += ["(not measured)", ""]

    lines += ["## Model: parameters, MACs, time per frame", ""]
    lines += [f"Paper (Table 3, quoted): {paper['params_m']} M parameters, "
              f"{paper['time_s']} s per frame, {paper['hardware']}.", ""]
    model_rows = _rows(results, "model")
    if model_rows:
        lines += _table(
            ["variant", "backend", "device", "params M", "GMAC/map (enc + head)",
             "encoder p50 ms (x floor)", "head p50 ms (x floor)", "frame p50 ms",
             "frame p99 ms", "floor ms", "x floor", "< 41 ms"],
            [[r["name"], r["backend"], r.get("device"), r.get("params", 0) / 1e6,
              f"{(r.get('macs') or 0) / 1e9:.2f} ({(r.get('macs_encoder') or 0) / 1e9:.2f}"
              f" + {(r.get('macs_head_window') or 0) / 1e9:.2f})",
              _with_ratio(r.get("encoder"), r.get("encoder_floor_ratio")),
              _with_ratio(r.get("head"), r.get("head_floor_ratio")),
              r.get("frame_p50_ms"), r.get("frame_p99_ms"),
              r.get("floor_ms"), r.get("floor_ratio"),
              r["under_41ms"] if r["backend"] else
              f"at floor only: {'yes' if r['under_41ms'] else 'no'}"] for r in model_rows],
        )
        lines += ["", "A map = the encoder once + the head over one window of L+1 frames; "
                      "x floor = measured time / (MACs / floor rate). Rows without a backend "
                      "were not timed: their answer says only whether the MACs fit in 41 ms at "
                      "the measured floor rate, not that the model does.", ""]
    lines += _peer_lines(_rows(results, "peer"))
    lines += _realtime_lines(_rows(results, "realtime"))
    for section, title in (("pipeline", "Streaming pipeline"), ("profile", "Fast profile")):
        prow = _rows(results, section)
        lines += [f"## {title}", ""]
        if not prow:
            lines += ["(no rows)", ""]
            continue
        stage_names: list[str] = []
        for r in prow:
            for s in r.get("stages") or {}:
                if s not in stage_names:
                    stage_names.append(s)
        lines += _table(
            ["row", "input", "S", "L", "frames", "fps", "ms/frame",
             *[f"{s} p50/p99" for s in stage_names],
             "paced fps (drops)", "latency p50/p95/p99 ms", "delay ms", "peak MiB", "< 41 ms"],
            [[r["name"], f"{r.get('width')}x{r.get('height')}", r.get("flow_maps"),
              r.get("lookahead"), r.get("frames"), r.get("fps"), r.get("ms_per_frame"),
              *[_pair((r.get("stages") or {}).get(s)) for s in stage_names],
              _paced(r.get("latency_paced")), _triple(r.get("latency")),
              r.get("algorithmic_delay_ms"), r.get("peak_mib"),
              r["under_41ms"]] for r in prow],
        )
        lines += ["", "Stage times are wall time per frame inside each stage's thread, so on a "
                      "saturated CPU they include waiting for a core.  fps and stages: lossless "
                      "run; latency: the paced run (end-of-stream flush left out).  Delay: "
                      "S + L - 1 frames at the nominal 30 fps.", ""]
        if section == "pipeline":
            lines += _dominance_lines(prow)
    srow = _rows(results, "scaling")
    lines += ["## Scaling with concurrent streams", ""]
    if srow:
        lines += _table(
            ["streams", "input", "aggregate fps", "per-stream fps", "ms/frame per stream",
             "latency p50/p95/p99 ms", "< 41 ms"],
            [[r["streams"], f"{r.get('width')}x{r.get('height')}", r.get("aggregate_fps"),
              r.get("per_stream_fps"), r.get("ms_per_frame"), _triple(r.get("latency")),
              r["under_41ms"]] for r in srow],
        )
        lines += [""]
    else:
        lines += ["(no rows)", ""]
    lines += _batching_lines(_rows(results, "batching"))
    lines += _multistream_lines(_rows(results, "multistream"))
    lines += ["## How `< 41 ms` is decided", ""]
    rules = sorted({r["under_41ms_rule"] for r in results["rows"]})
    lines += [f"- {rule}" for rule in rules] + [""]
    if results.get("gpu_check") is not None:
        gc = results["gpu_check"]
        lines += ["## GPU check (benchmarks/gpu_check.py)", "",
                  f"passed: {gc.get('passed')}", "", "```json",
                  json.dumps({k: gc.get(k) for k in ("parity", "timing", "passed")}, indent=1,
                             default=str)[:6000], "```", ""]
    if results["skipped"]:
        lines += ["## Skipped", ""]
        lines += [f"- {s['section']}: {s['reason']}" for s in results["skipped"]] + [""]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({path})" for name, path in plots.items()] + [""]
    return "\n".join(lines)


def _peer_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Side by side with a peer network", ""]
    if not rows:
        return lines + ["(no rows)", ""]
    lines += _table(
        ["network", "backend", "params M", "GMAC/frame", "p50 ms", "p99 ms", "x floor",
         "round p50s ms", "time vs peer (median of rounds)"],
        [[r["name"] + (" (peer)" if r.get("peer") else " (shipped)"), r["backend"],
          r.get("params", 0) / 1e6, f"{(r.get('macs') or 0) / 1e9:.2f}", r.get("frame_p50_ms"),
          r.get("frame_p99_ms"), r.get("floor_ratio"),
          " ".join(_fmt(x) for x in r.get("round_p50_ms") or []),
          "-" if r.get("peer") else f"{r['vs_peer']:.2f}x"] for r in rows],
    )
    return lines + ["", "Both networks: ONNX export, the same ONNX Runtime session options and "
                        "threads, FP32 and INT8 (static QDQ, same settings), timed in interleaved "
                        "rounds in this run. TP-CMRNet's frame = the encoder once + the head over "
                        "one window (what the stream runs per map); < 1x = faster than the peer.",
                    ""]


def _realtime_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Real time: `rt-saliency run` as served, live 30 fps source", ""]
    if not rows:
        return lines + ["(no rows)", ""]
    stage_names = [s for s in ("resize", "flow", "encode", "head", "qp", "sink")
                   if any(s in (r.get("stages") or {}) for r in rows)]
    lines += _table(
        ["row", "input", "S", "L", "frames", "dropped", "fps", "service p50/p95/p99 ms",
         *[f"{s} p50/p99" for s in stage_names], "flush maps (max ms)", "peak MiB",
         "0 drops, >= 25 fps, p99 <= 41 ms"],
        [[r["name"], f"{r['width']}x{r['height']}", r.get("flow_maps"), r.get("lookahead"),
          r.get("frames"), r.get("dropped"), r.get("fps"), _triple(r.get("service_latency")),
          *[_pair((r.get("stages") or {}).get(s)) for s in stage_names],
          f"{(r.get('flush_latency') or {}).get('count', 0)} "
          f"({_fmt((r.get('flush_latency') or {}).get('max_ms'))})", r.get("peak_mib"),
          r["under_41ms"]] for r in rows],
    )
    return lines + ["", "The daemon with its defaults (the shipped weights at the CPU's default "
                        "precision) on a synthetic camera paced at 30 fps (`synth://WxH?live=1`, "
                        "what `rt-saliency run -i ... --live` does). Service latency: window "
                        "complete to map emitted, queueing included, the end-of-stream flush "
                        "(last S+L-1 maps) left out and shown apart.", ""]


def _batching_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Batched encoder calls (several streams, one session)", ""]
    if not rows:
        return lines + ["(no rows)", ""]
    lines += _table(
        ["graph", "precision", "batch", "call p50 ms", "per frame ms", "per frame vs batch 1"],
        [[r["name"], r["precision"], r["batch"], (r.get("call") or {}).get("p50_ms"),
          r.get("per_frame_p50_ms"), f"{r['vs_batch1']:.2f}x"] for r in rows],
    )
    return lines + ["", "The shipped encoder exported at each batch size, timed in interleaved "
                        "rounds; below 1x a batch of B streams costs less per frame than B "
                        "batch-1 calls.", ""]


def _multistream_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Several streams in one process: separate sessions or one batched encoder", ""]
    if not rows:
        return lines + ["(no rows)", ""]
    lines += _table(
        ["streams", "encoder", "precision", "aggregate fps (median)", "round fps",
         "vs separate", "batched calls by size"],
        [[r["streams"], r["mode"], r["precision"], r.get("aggregate_fps"),
          " ".join(_fmt(x) for x in r.get("round_fps") or []), f"{r['vs_separate']:.2f}x",
          " ".join(f"{b}:{c}" for b, c in (r.get("batched_calls") or {}).items()) or "-"]
         for r in rows],
    )
    return lines + ["", "Each stream a full daemon pipeline on a lossless synthetic 640x360 "
                        "source, all streams at once in one process; the two arrangements "
                        "alternate round by round. Above 1x the shared batched encoder serves "
                        "more maps a second than one encoder session per stream.", ""]


def _pair(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    return f"{_fmt(stats.get('p50_ms'))}/{_fmt(stats.get('p99_ms'))}"


def _with_ratio(stats: dict[str, Any] | None, ratio: float | None) -> str:
    if not stats:
        return "-"
    return f"{_fmt(stats.get('p50_ms'))} ({_fmt(ratio)})"


def _paced(paced: dict[str, Any] | None) -> str:
    if not paced:
        return "-"
    return f"{_fmt(paced.get('fps_in'))} ({paced.get('dropped')})"


def _triple(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    return "/".join(_fmt(stats.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms"))


def _dominance_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        if r.get("height") != 720:
            continue
        dom = dominant_stage(r)
        if dom is None:
            continue
        stages = {k: v["p50_ms"] for k, v in r["stages"].items() if v.get("p50_ms") is not None}
        others = sorted((v for k, v in stages.items() if k != dom[0]), reverse=True)
        runner_up = others[0] if others else None
        times = f"{dom[1] / runner_up:.1f}x the next stage" if runner_up else "the only stage"
        out.append(f"- 720p, S={r['flow_maps']}, L={r['lookahead']}: **{dom[0]}** dominates "
                   f"with {dom[1]:.1f} ms p50 ({dom[2] * 100:.0f} % of the summed stage p50s, "
                   f"{times}).")
    return out + ([""] if out else [])


def make_plots(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Latency histogram, per-stage bars and scaling curve as PNGs; returns name -> file name."""
    matplotlib = import_optional("matplotlib")

    matplotlib.use("Agg")
    plt = import_optional("matplotlib.pyplot")

    plots: dict[str, str] = {}
    pipe = _rows(results, "pipeline") + _rows(results, "profile")
    with_samples = [r for r in pipe if r.get("latency_samples_ms")]
    if with_samples:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        everything = np.concatenate([r["latency_samples_ms"] for r in with_samples])
        edges = np.linspace(0.0, max(float(everything.max()), 45.0) * 1.02, 60)  # shared bins
        for r in with_samples:
            ax.hist(r["latency_samples_ms"], bins=edges, histtype="step", label=r["name"])
        ax.axvline(results["meta"].get("budget_ms", 41.0), color="k", ls="--", label="41 ms")
        ax.set_xlabel("end-to-end compute latency per frame (ms)")
        ax.set_ylabel("frames")
        ax.set_title("Compute latency (window complete -> map emitted)")
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(out_dir / "latency_hist.png", dpi=100)
        plt.close(fig)
        plots["latency histogram"] = "latency_hist.png"
    staged = [r for r in pipe if r.get("stages")]
    if staged:
        names: list[str] = []
        for r in staged:
            names += [s for s in r["stages"] if s not in names]
        fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(staged) * len(names) / 3), 4.5))
        width = 0.8 / len(names)
        for j, stage in enumerate(names):
            p50 = [(r["stages"].get(stage) or {}).get("p50_ms") or 0.0 for r in staged]
            p99 = [(r["stages"].get(stage) or {}).get("p99_ms") or 0.0 for r in staged]
            xs = [i + j * width for i in range(len(staged))]
            ax.bar(xs, p50, width, label=stage)
            ax.errorbar(xs, p50, yerr=[[0] * len(p50), [max(0.0, b - a) for a, b in zip(p50, p99)]],
                        fmt="none", ecolor="k", lw=0.6)
        ax.axhline(results["meta"].get("budget_ms", 41.0), color="k", ls="--", lw=0.8)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(staged))])
        ax.set_xticklabels([r["name"] for r in staged], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("ms per frame (bar p50, whisker p99)")
        ax.set_title("Per-stage time")
        ax.legend(fontsize=7)
        fig.savefig(out_dir / "stages.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        plots["per-stage bars"] = "stages.png"
    scaling = sorted(_rows(results, "scaling"), key=lambda r: r["streams"])
    if scaling:
        fig, ax1 = plt.subplots(figsize=(6, 4))
        xs = [r["streams"] for r in scaling]
        ax1.plot(xs, [r.get("aggregate_fps") or 0 for r in scaling], "o-", label="aggregate fps")
        ax1.plot(xs, [r.get("per_stream_fps") or 0 for r in scaling], "s-",
                 label="per-stream fps")
        ax1.axhline(1000.0 / results["meta"].get("budget_ms", 41.0), color="k", ls=":", lw=0.8,
                    label="24.4 fps (41 ms)")
        ax1.set_xlabel("concurrent streams")
        ax1.set_ylabel("frames per second")
        ax1.set_xticks(xs)
        ax2 = ax1.twinx()
        ax2.plot(xs, [(r.get("latency") or {}).get("p95_ms") or 0 for r in scaling], "r^--",
                 label="latency p95 (ms)")
        ax2.set_ylabel("compute latency p95 (ms)", color="r")
        h1, l1 = ax1.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax1.legend(h1 + h2, l1 + l2, fontsize=7)
        ax1.set_title("Scaling with concurrent streams")
        fig.tight_layout()
        fig.savefig(out_dir / "scaling.png", dpi=100)
        plt.close(fig)
        plots["scaling curve"] = "scaling.png"
    return plots


def write_report(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Validate ``results`` and write results.json, report.md and the plots into ``out_dir``."""
    validate_results(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(results, out)
    results = dict(results, plots=plots)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(_clean(results), indent=1, default=_json_default) + "\n")
    md_path = out / "report.md"
    md_path.write_text(render_markdown(results, plots))
    return {"json": json_path, "markdown": md_path, **{k: out / v for k, v in plots.items()}}
