"""Run the soaks (tests/test_soak.py, marked slow) and print their figures.

    python3 scripts/soak_report.py --out DIR [--seconds 1800] [pytest args ...]

Each soak writes ``DIR/<name>.json`` (summary and every sample) from the test run itself, so the
figures are exactly what was asserted.  Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the JSON reports")
    parser.add_argument("--seconds", type=float, default=1800.0,
                        help="length of the live-camera soak (default 1800)")
    args, pytest_args = parser.parse_known_args(argv)
    out = Path(args.out).resolve()
    env = dict(os.environ, RT_SALIENCY_SOAK_REPORT=str(out),
               RT_SALIENCY_SOAK_S=f"{args.seconds:g}")
    status = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "slow",
                             "tests/test_soak.py", *pytest_args], cwd=REPO, env=env).returncode
    print("\n| soak | frames in | maps | dropped | RSS MB at warm-up | min | max | end "
          "| MB/hour | threads | fds |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(out.glob("*.json")):
        report = json.loads(path.read_text())
        o, s = report["outputs"], report["summary"]
        rss = s["rss_mb"]
        print(f"| {path.stem} | {o['frames_in']} | {o['maps_out']} | {o['dropped']} "
              f"| {rss['at_warmup']} | {rss['min']} | {rss['max']} | {rss['end']} "
              f"| {rss['growth_mb_per_hour']} | {s['threads']['min']}-{s['threads']['max']} "
              f"| {s['fds']['min']}-{s['fds']['max']} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
