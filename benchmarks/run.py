#!/usr/bin/env python3
"""Run every benchmark and write DIR/results.json, DIR/report.md and PNG plots.

    python benchmarks/run.py --quick --out bench-out/quick   # a few minutes, small inputs
    python benchmarks/run.py --out bench-out/full            # the full run (~15 min on 2 cores)

The logic lives in ``rt_saliency.bench``; this script only parses options.  See
``benchmarks/README.md`` for how to read the outputs and how to run on a GPU.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence

SECTIONS = ("floor", "model", "peer", "realtime", "pipeline", "profile", "scaling", "batching",
            "multistream")
#: the peer timed beside TP-CMRNet (benchmarks/reference_net.py)
PEER_NAME = "reference (MobileNetV2 + ConvGRU, UNISAL-sized)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--quick", action="store_true", help="small inputs, few frames")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads per backend session (default 2)")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per pipeline row (default 80, quick 16)")
    parser.add_argument("--gpu", action="store_true",
                        help="GPU machine: run benchmarks/gpu_check.py first (into OUT/gpu_check.json)"
                             "; fail when there is no CUDA GPU")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import reference_net  # beside this script

    from rt_saliency.bench.suite import full_config, quick_config, run_suite
    from rt_saliency.errors import RtSaliencyError

    config = quick_config() if args.quick else full_config()
    if args.only:
        config.sections = tuple(args.only)
    if args.threads is not None:
        if args.threads < 1:
            print("run.py: error: --threads must be >= 1", file=sys.stderr)
            return 2
        config.threads = args.threads
    if args.frames is not None:
        if args.frames < 1:
            print("run.py: error: --frames must be >= 1", file=sys.stderr)
            return 2
        config.pipeline_frames = config.profile_frames = args.frames
    gpu_status = None
    if args.gpu:
        gpu_status = _gpu_check(args.out)
        if gpu_status is None:
            return 1
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    try:
        results = run_suite(config, args.out, command=command,
                            gpu_check=_load_gpu_check(args.out) if args.gpu else None,
                            peer=(PEER_NAME, reference_net.build))
    except RtSaliencyError as exc:
        print(f"run.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if gpu_status is not None:
        print(f"gpu_check exit status {gpu_status} (report: {args.out}/gpu_check.json)")
    print(f"wrote {results['meta']['files']['json']} and {results['meta']['files']['markdown']}"
          f" in {results['meta']['duration_s']} s; {len(results['rows'])} rows, "
          f"{len(results['skipped'])} skipped")
    return 0 if not gpu_status else 1


def _load_gpu_check(out: str) -> dict | None:
    import json
    from pathlib import Path

    path = Path(out) / "gpu_check.json"
    if not path.is_file():
        return {"passed": False, "error": f"{path} was not written"}
    return json.loads(path.read_text())


def _gpu_check(out: str) -> int | None:
    """Run the GPU check script beside this one; None (after a message) when there is no GPU."""
    import subprocess
    from pathlib import Path

    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        print("run.py: error: --gpu given but torch sees no CUDA GPU", file=sys.stderr)
        return None
    Path(out).mkdir(parents=True, exist_ok=True)
    script = Path(__file__).resolve().with_name("gpu_check.py")
    cmd = [sys.executable, str(script), "-o", str(Path(out) / "gpu_check.json"),
           "--workdir", str(Path(out) / "gpu_check")]
    print("running " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
