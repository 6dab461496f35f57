"""``rt-saliency build-engine``: TensorRT engines (FP32/FP16) from exported ONNX graphs."""

from __future__ import annotations

import argparse
from pathlib import Path

from rt_saliency.artifacts import engine_filename
from rt_saliency.deploy.engine import build_engine
from rt_saliency.errors import ConfigError, InputNotFoundError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-engine",
        help="build TensorRT engines from ONNX graphs (needs TensorRT and an NVIDIA GPU)",
        description="Build NAME.<precision>.plan plus a NAME.<precision>.plan.json sidecar "
        "(TensorRT version, GPU, shapes, ONNX hash) for each ONNX file.",
    )
    parser.add_argument("source", help="an ONNX file, or a folder written by 'rt-saliency export'")
    parser.add_argument("-o", "--output", default=None,
                        help="engine file (one ONNX, one precision) or folder (default: beside the ONNX)")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "fp16"), default=["fp32"],
                        help="one or more precisions (default fp32)")
    parser.add_argument("--timing-cache", default=None,
                        help="timing cache file (default: OUTPUT_FOLDER/trt.timing.cache)")
    parser.add_argument("--workspace-mib", type=int, default=2048, help="builder workspace limit")
    parser.add_argument("--fp16-method", choices=("auto", "onnxconverter-common", "builtin"), default="auto",
                        help="how TensorRT 11 gets an FP16 ONNX (auto = builtin rewrite)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if source.is_dir():
        onnx_files = sorted(p for p in source.glob("*.onnx") if not p.name.endswith(".fp16.onnx"))
        if not onnx_files:
            raise InputNotFoundError(f"no .onnx files in {source}: run rt-saliency export first")
    elif source.is_file():
        onnx_files = [source]
    else:
        raise InputNotFoundError(f"not found: {source}")
    output = Path(args.output) if args.output else None
    single_file = output is not None and output.suffix in (".plan", ".engine")
    if single_file and (len(onnx_files) > 1 or len(args.precision) > 1):
        raise ConfigError("-o names one engine file: give one ONNX file and one --precision, or a folder")
    for onnx_path in onnx_files:
        for precision in args.precision:
            if single_file:
                engine_path = output
            else:
                folder = output if output is not None else onnx_path.parent
                engine_path = folder / engine_filename(onnx_path, precision)
            cache = Path(args.timing_cache) if args.timing_cache else engine_path.parent / "trt.timing.cache"
            result = build_engine(
                onnx_path, engine_path, precision=precision, timing_cache=cache,
                workspace_mib=args.workspace_mib, fp16_method=args.fp16_method,
            )
            print(f"built {result.engine_path} ({precision}, {result.seconds:.1f} s)")
    return 0
