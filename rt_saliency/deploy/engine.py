"""Build TensorRT engines from the exported ONNX graphs, and check an engine fits this machine.

An engine runs only on the TensorRT version and GPU family that built it, so each
``NAME.plan`` gets a ``NAME.plan.json`` sidecar recording the TensorRT version, GPU name,
compute capability, precision, I/O shapes and the SHA-256 of the ONNX it came from.
:func:`check_engine_compat` (a pure function, tested without a GPU) compares a sidecar with the
running TensorRT/GPU and refuses a mismatch with :class:`EngineMismatchError` that says how to
rebuild.

Precision (:func:`build_plan`): FP32 builds the ONNX as is, as a strongly typed network
(``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` on TensorRT 10; TensorRT 11 networks are always
strongly typed and the flag is deprecated there, so it is not set).  FP16 has two paths:
``"flag"`` -- a weakly typed network with ``BuilderFlag.FP16`` (TensorRT 10 only: the flag is
deprecated since 10.12 and removed in 11) -- and ``"onnx"`` -- the ONNX converted to FP16 first
(:mod:`rt_saliency.deploy.fp16`) and built strongly typed (TensorRT 11's way, also valid on 10).
``fp16_via="auto"`` takes ``"flag"`` on 10 and ``"onnx"`` on 11.  A timing cache file is read
before and written after each build; a cache TensorRT refuses (another version or GPU) is
replaced by a fresh one, said in a warning and in the sidecar, never silently ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rt_saliency import __version__
from rt_saliency.artifacts import (
    METADATA_PREFIX,
    SIDECAR_FORMAT,
    file_sha256,
    metadata_key,
    read_metadata,
    write_sidecar,
)
from rt_saliency.deploy.fp16 import convert_to_fp16
from rt_saliency.errors import (
    BackendUnavailableError,
    ConfigError,
    EngineMismatchError,
    InputNotFoundError,
)
from rt_saliency.optional import import_optional

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")


def import_tensorrt() -> Any:
    """Import ``tensorrt`` or raise :class:`BackendUnavailableError` saying how to install it."""
    return import_optional("tensorrt", hint=(
        "TensorRT is not installed: pip install 'rt-saliency[trt]' (tensorrt, cuda-python) "
        "on a machine with an NVIDIA GPU"))


def trt_major(version: str) -> int:
    """Major version of a TensorRT version string ("10.13.0.35" -> 10)."""
    return int(version.split(".")[0])


def runtime_info() -> dict[str, Any]:
    """TensorRT version, GPU name and compute capability of this machine (device 0).

    Raises :class:`BackendUnavailableError` when TensorRT or a CUDA GPU is missing.
    """
    trt = import_tensorrt()
    torch = import_optional("torch")

    if not torch.cuda.is_available():
        raise BackendUnavailableError("no CUDA GPU visible to torch (needed for TensorRT buffers)")
    major, minor = torch.cuda.get_device_capability(0)
    return {
        "tensorrt_version": trt.__version__,
        "gpu_name": torch.cuda.get_device_name(0),
        "compute_capability": [int(major), int(minor)],
    }


def check_engine_compat(
    sidecar: Mapping[str, Any],
    runtime: Mapping[str, Any],
    *,
    engine_path: str | Path = "ENGINE.plan",
    onnx_sha256: str | None = None,
) -> list[str]:
    """Refuse an engine whose sidecar does not match the running TensorRT and GPU.

    Raises :class:`EngineMismatchError` listing every mismatch (TensorRT version, compute
    capability, ONNX hash when ``onnx_sha256`` is given) and the command that rebuilds the
    engine.  Returns warnings that do not stop loading: another GPU name with the same compute
    capability (TensorRT may run it, but its tactics were timed on the other GPU).
    """
    problems: list[str] = []
    warnings: list[str] = []
    if sidecar.get("format") != SIDECAR_FORMAT:
        problems.append(f"sidecar format {sidecar.get('format')!r}, expected {SIDECAR_FORMAT}")
    built_trt, run_trt = str(sidecar.get("tensorrt_version")), str(runtime.get("tensorrt_version"))
    if built_trt != run_trt:
        problems.append(f"built with TensorRT {built_trt}, running TensorRT {run_trt}")
    built_cc = list(sidecar.get("compute_capability") or [])
    run_cc = list(runtime.get("compute_capability") or [])
    if built_cc != run_cc:
        problems.append(
            f"built for compute capability {'.'.join(map(str, built_cc)) or '?'} "
            f"({sidecar.get('gpu_name')}), this GPU is {'.'.join(map(str, run_cc)) or '?'} "
            f"({runtime.get('gpu_name')})"
        )
    elif sidecar.get("gpu_name") != runtime.get("gpu_name"):
        warnings.append(
            f"engine was built on {sidecar.get('gpu_name')}, running on {runtime.get('gpu_name')} "
            "(same compute capability): rebuild for best speed"
        )
    if onnx_sha256 is not None and sidecar.get("onnx_sha256") != onnx_sha256:
        problems.append("the ONNX file changed since the engine was built (SHA-256 differs)")
    if problems:
        onnx_file = sidecar.get("onnx_path") or "MODEL.onnx"
        precision = sidecar.get("precision", "fp32")
        raise EngineMismatchError(
            f"engine {engine_path} does not fit this machine: " + "; ".join(problems)
            + f". Rebuild it here: rt-saliency build-engine {onnx_file} -o {engine_path} "
            f"--precision {precision}"
        )
    return warnings


@dataclass
class BuildResult:
    """What :func:`build_engine` wrote."""

    engine_path: Path
    sidecar: dict[str, Any]
    seconds: float


FP16_PATHS = ("auto", "flag", "onnx")


@dataclass(frozen=True)
class BuildPlan:
    """How one engine is built on a TensorRT major version (a pure decision, tested on CPU)."""

    #: the network is strongly typed (its tensors' types come from the ONNX)
    strongly_typed: bool
    #: set ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (TensorRT 10; implicit in 11)
    strongly_typed_flag: bool
    #: set ``BuilderFlag.FP16`` on a weakly typed network (TensorRT 10 only)
    builder_fp16: bool
    #: convert the ONNX to FP16 before parsing it
    convert_onnx_fp16: bool


def build_plan(major: int, precision: str, fp16_via: str = "auto") -> BuildPlan:
    """The build settings for ``precision`` on TensorRT ``major`` (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if fp16_via not in FP16_PATHS:
        raise ConfigError(f"fp16_via must be one of {FP16_PATHS}, got {fp16_via!r}")
    if major < 10:
        raise ConfigError(f"TensorRT {major}.x is not supported (10 or newer)")
    via = fp16_via if fp16_via != "auto" else ("flag" if major < 11 else "onnx")
    if precision == "fp16" and via == "flag":
        if major >= 11:
            raise ConfigError("BuilderFlag.FP16 was removed in TensorRT 11: use fp16_via='onnx'")
        return BuildPlan(strongly_typed=False, strongly_typed_flag=False, builder_fp16=True,
                         convert_onnx_fp16=False)
    return BuildPlan(strongly_typed=True, strongly_typed_flag=major < 11, builder_fp16=False,
                     convert_onnx_fp16=precision == "fp16")


def _parse_onnx(trt: Any, builder: Any, logger: Any, onnx_path: Path, plan: BuildPlan) -> Any:
    flags = 0
    if plan.strongly_typed_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    return network, parser


def _use_timing_cache(config: Any, path: Path | None) -> str:
    """Give the builder the timing cache at ``path``; return what happened ("fresh", "reused",
    "replaced").  TensorRT refuses a cache from another version or GPU (``set_timing_cache``
    returns False); that cache is replaced by a fresh one, with a warning."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return "reused" if data else "fresh"
    if not data:
        raise RuntimeError("TensorRT refused an empty timing cache")
    log.warning("timing cache %s was made by another TensorRT or GPU and is not used; "
                "starting a fresh one (it replaces the file after the build)", path)
    cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        raise RuntimeError("TensorRT refused an empty timing cache")
    return "replaced"


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    precision: str = "fp32",
    timing_cache: str | Path | None = None,
    workspace_mib: int = 2048,
    fp16_method: str = "auto",
    fp16_via: str = "auto",
) -> BuildResult:
    """Build ``engine_path`` (and its sidecar) from ``onnx_path`` on this machine's GPU 0.

    ``timing_cache``: a file read before and written after the build (created if absent).
    ``fp16_via``: the FP16 path (``"auto"``, ``"flag"``, ``"onnx"``; module docstring);
    ``fp16_method``: how :func:`~rt_saliency.deploy.fp16.convert_to_fp16` converts on the
    ``"onnx"`` path.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise InputNotFoundError(f"ONNX model not found: {onnx_path}")
    trt = import_tensorrt()
    info = runtime_info()
    engine_path = Path(engine_path)
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    major = trt_major(trt.__version__)
    plan = build_plan(major, precision, fp16_via)
    strongly_typed = plan.strongly_typed
    source = onnx_path
    fp16_how = None
    if plan.convert_onnx_fp16:
        source = engine_path.with_name(onnx_path.stem + ".fp16.onnx")
        fp16_how = convert_to_fp16(onnx_path, source, method=fp16_method)
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse_onnx(trt, builder, logger, source, plan)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    if plan.builder_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        fp16_how = "BuilderFlag.FP16"
    cache_path = Path(timing_cache) if timing_cache is not None else None
    cache_state = _use_timing_cache(config, cache_path)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {source} (see its log above)")
    engine_path.write_bytes(bytes(serialized))
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    seconds = time.perf_counter() - start
    inputs, outputs = [], []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        inputs.append({"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)})
    for i in range(network.num_outputs):
        t = network.get_output(i)
        outputs.append({"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)})
    meta = read_metadata(onnx_path)
    sidecar = {
        **info,
        "precision": precision,
        "fp16_method": fp16_how,
        "strongly_typed": strongly_typed,
        "fp16_via": ("flag" if plan.builder_fp16 else "onnx") if precision == "fp16" else None,
        "timing_cache": cache_state,
        "inputs": inputs,
        "outputs": outputs,
        "onnx_path": str(onnx_path),
        "onnx_sha256": file_sha256(onnx_path),
        "model_hash": meta.get(metadata_key("model_hash")),
        "graph": meta.get(metadata_key("graph")),
        "lookahead": meta.get(metadata_key("lookahead")),
        # the graph's own metadata (the flow it must be served, ...): the runtime reads the
        # engine's, as it reads the graph's
        "graph_metadata": {k: v for k, v in meta.items() if k.startswith(METADATA_PREFIX)},
        "rt_saliency_version": __version__,
        "build_seconds": round(seconds, 2),
        "workspace_mib": workspace_mib,
    }
    write_sidecar(engine_path, sidecar)
    log.info("built %s (%s, %.1f s) from %s", engine_path, precision, seconds, onnx_path)
    return BuildResult(engine_path, sidecar, seconds)

