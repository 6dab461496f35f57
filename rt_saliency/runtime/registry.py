"""Open runners and streaming predictors by backend name.

``open_predictor(backend="auto")`` is what the stream and the CLI call:

* ``"tensorrt"``: engines ``encoder.<precision>.plan`` and ``head_w{L+1}.<precision>.plan`` in
  ``engine_dir`` (built by ``rt-saliency build-engine``);
* ``"onnxruntime"``: ``encoder.onnx`` (``encoder.int8.onnx`` with ``precision="int8"``) and
  ``head_w{L+1}.onnx`` in ``engine_dir`` (written by ``rt-saliency export``), or exported on
  the fly from ``weights`` into the export cache (FP32 only);
* ``"openvino"``: the same ONNX graphs as ``"onnxruntime"`` (the shipped INT8 encoder
  included) on OpenVINO's CPU runtime, where ``openvino`` is installed (an optional extra; on
  the 2-core benchmark machine its INT8 encoder ran in 0.76x ONNX Runtime's time,
  benchmarks/results/2026-12-04-cpu-2core-full);
* ``"torch"``: the checkpoint ``weights`` run by torch;
* ``"prior"``: the training-free prior (:mod:`rt_saliency.prior`);
* ``"auto"``: TensorRT where engines exist and load, else ONNX Runtime (CUDA provider when
  present).

Without weights and without an engine folder, ``auto``, ``onnxruntime``, ``openvino`` and ``torch`` serve the
TP-CMRNet weights shipped in the package (:mod:`rt_saliency.model.pretrained`, hash-checked;
``weights`` may also name another shipped set, e.g. ``"tpcmrnet-fast-gaze"``);
only a package without them falls back (``auto`` only) to the prior, said in one log line.  On
ONNX Runtime a checkpoint is exported once into the per-user cache
(:mod:`rt_saliency.deploy.export_cache`), not at every start.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from rt_saliency.artifacts import (
    encoder_filename,
    engine_filename,
    head_filename,
    load_sidecar,
    metadata_key,
    precision_filename,
    read_metadata,
)
from rt_saliency.deploy.export_cache import cached_onnx
from rt_saliency.deploy.onnx_export import graph_flow, model_hash, trained_flow
from rt_saliency.errors import (
    BackendUnavailableError,
    ConfigError,
    EngineMismatchError,
    InputNotFoundError,
)
from rt_saliency.flow import FlowConfig
from rt_saliency.model import pretrained
from rt_saliency.model.checkpoint import load_checkpoint
from rt_saliency.optional import import_optional
from rt_saliency.prior import PriorConfig, PriorPredictor
from rt_saliency.runtime.base import Runner
from rt_saliency.runtime.network import NetworkPredictor
from rt_saliency.runtime.pair import open_runner_pair
from rt_saliency.runtime.predictor import StreamPredictor
from rt_saliency.spec import DEFAULT_LOOKAHEAD

log = logging.getLogger(__name__)

BACKENDS = ("auto", "tensorrt", "onnxruntime", "openvino", "torch", "prior")
#: what each backend serves: TensorRT engines are built per precision; ONNX Runtime runs the
#: FP32 graphs or the INT8 encoder (with the FP32 head)
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
ONNX_PRECISIONS: tuple[str, ...] = ("fp32", "int8")


def onnx_paths(engine_dir: str | Path, lookahead: int) -> tuple[Path, Path]:
    """``(encoder.onnx, head_w{L+1}.onnx)`` inside ``engine_dir``."""
    root = Path(engine_dir)
    return root / encoder_filename(), root / head_filename(lookahead)


def engine_paths(engine_dir: str | Path, lookahead: int, precision: str) -> tuple[Path, Path]:
    """``(encoder.<precision>.plan, head_w{L+1}.<precision>.plan)`` inside ``engine_dir``."""
    encoder, head = onnx_paths(engine_dir, lookahead)
    root = Path(engine_dir)
    return root / engine_filename(encoder, precision), root / engine_filename(head, precision)


def _need_files(paths: tuple[Path, Path], what: str, hint: str) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputNotFoundError(f"{what} missing: {', '.join(missing)}; {hint}")


def _network(encoder: Runner, head: Runner, lookahead: int, flow_maps: int | None,
             name: str, flow: FlowConfig | None = None) -> StreamPredictor:
    try:
        predictor = NetworkPredictor(encoder, head, lookahead, name=name, flow=flow)
        if flow_maps is not None and predictor.flow_maps != flow_maps:
            raise ConfigError(
                f"the encoder graph takes S={predictor.flow_maps} flow maps, asked for {flow_maps}"
            )
    except Exception:
        encoder.close()
        head.close()
        raise
    return predictor


def load_model(weights: str | Path) -> Any:
    """A checkpoint's model in eval mode (``torch.load(weights_only=True)`` via the model package)."""
    if not Path(weights).is_file():
        raise InputNotFoundError(f"weights not found: {weights}")
    loaded = load_checkpoint(weights)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    return model.eval()


def _check_same_model(weights: str | Path | None, exported_hash: str | None, where: Path) -> None:
    """Refuse graphs/engines exported from another model than ``weights`` (when both are given)."""
    if weights is None or exported_hash is None:
        return

    if model_hash(load_model(weights)) != exported_hash:
        raise ConfigError(
            f"{where} was exported from another model than {weights}; re-export it with "
            f"rt-saliency export --weights {weights} -o {where.parent} (or omit one of the two)"
        )


def _engine_flow(plan: Path) -> FlowConfig | None:
    """The flow an engine must be served: its graph's, recorded in the engine's sidecar."""
    return graph_flow(load_sidecar(plan).get("graph_metadata") or {})


def _open_prior(flow_maps: int | None, lookahead: int, faces: bool = True) -> StreamPredictor:
    """The training-free prior.  It looks at F^t only and needs no lookahead, so by default it
    stacks one flow map (no algorithmic delay); an explicit S only widens its window.  ``faces``
    False drops the face term (its weight 0)."""
    options: dict[str, Any] = {} if faces else {"w_face": 0.0}
    if flow_maps is not None:
        options["flow_maps"] = flow_maps
    return PriorPredictor(PriorConfig(**options))


def _onnx_device(device: str | None) -> str:
    if device is not None:
        return device
    ort = import_optional("onnxruntime")

    return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"


def open_predictor(
    backend: str = "auto",
    weights: str | Path | None = None,
    engine_dir: str | Path | None = None,
    *,
    flow_maps: int | None = None,
    lookahead: int = DEFAULT_LOOKAHEAD,
    precision: str | None = None,
    device: str | None = None,
    threads: int | None = None,
    prior_faces: bool = True,
) -> StreamPredictor:
    """A :class:`StreamPredictor` for ``backend`` (see the module docstring for the rules).

    ``flow_maps``: S the caller expects (``None``: the network's own S, from its weights or
    graphs; the prior's default of one map).  ``device``: ``"cpu"``/``"cuda"`` for onnxruntime and torch (``None``: CUDA provider when
    onnxruntime has it, else CPU); ``threads``: intra-op threads for onnxruntime/torch;
    ``prior_faces``: the prior's face term on or off.  ``precision``: the TensorRT engines'
    (``fp32 fp16 int8``) or, for ONNX Runtime, ``int8`` for the INT8 encoder in ``engine_dir``
    (or shipped beside the weights, used only when no ``engine_dir`` is named); ``None``: INT8
    for the shipped weights on the CPU when the package has their INT8 encoder and no
    ``engine_dir`` is named (docs/deployment.md: CC within 0.005 of FP32 on the gaze test
    split), FP32 otherwise.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if lookahead < 0:
        raise ConfigError(f"lookahead must be >= 0, got {lookahead}")
    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    if engine_dir is not None and not Path(engine_dir).is_dir():
        raise InputNotFoundError(f"engine folder not found: {engine_dir}")

    if backend == "prior":
        return _open_prior(flow_maps, lookahead, prior_faces)

    shipped: str | None = None  # the name of the shipped set served, if one is
    if weights is not None and str(weights) in pretrained.PRETRAINED:
        shipped = str(weights)  # --weights NAME: a set shipped in the package, by name
    elif weights is None and engine_dir is None and pretrained.is_available():
        shipped = pretrained.DEFAULT_PRETRAINED
    if shipped is not None:
        weights = pretrained.resolve_weights(shipped)
        log.info("serving the shipped TP-CMRNet weights %s (model card %s)", shipped,
                 pretrained.get_pretrained(shipped).card.name)
    elif weights is None and engine_dir is None:
        if backend == "auto":
            log.info("no --weights, no engine folder and no shipped weights: using the "
                     "training-free saliency prior")
            return _open_prior(flow_maps, lookahead, prior_faces)
        else:
            raise ConfigError(f"backend {backend!r} needs --weights or --engine-dir: this "
                              "package was built without the shipped weights")

    if backend in ("tensorrt", "auto") and engine_dir is not None:
        plans = engine_paths(engine_dir, lookahead, precision or "fp32")
        if backend == "tensorrt":
            _need_files(plans, "TensorRT engines", f"build them: rt-saliency build-engine {engine_dir}")
            if weights is not None:
                _check_same_model(weights, load_sidecar(plans[0]).get("model_hash"), plans[0])
            return _network(*open_runner_pair("tensorrt", plans), lookahead, flow_maps,
                            "tpcmrnet/tensorrt", _engine_flow(plans[0]))
        if all(p.is_file() for p in plans):
            try:
                _check_same_model(weights, load_sidecar(plans[0]).get("model_hash"), plans[0])
            except EngineMismatchError:
                pass  # no readable sidecar: the runner refuses the engine below
            try:
                pair = open_runner_pair("tensorrt", plans)
            except (BackendUnavailableError, EngineMismatchError) as exc:
                log.warning("TensorRT engines not used (%s); falling back to ONNX Runtime", exc)
            else:
                return _network(*pair, lookahead, flow_maps, "tpcmrnet/tensorrt",
                                _engine_flow(plans[0]))
    if backend == "tensorrt":
        raise ConfigError("backend 'tensorrt' needs an engine folder (--engine-dir)")

    if backend == "torch":
        if weights is None:
            raise ConfigError("backend 'torch' needs --weights")
        if precision not in (None, "fp32"):
            raise ConfigError(f"backend 'torch' runs FP32, not {precision}")

        pair = open_runner_pair("torch", load_model(weights), lookahead=lookahead,
                                device=device or "cpu", threads=threads)
        return _network(*pair, lookahead, flow_maps, "tpcmrnet/torch", trained_flow(weights))

    # onnxruntime or openvino (the same graph files), or auto without usable engines
    runner = "openvino" if backend == "openvino" else "onnxruntime"
    if runner == "openvino" and device not in (None, "cpu"):
        raise ConfigError(f"backend 'openvino' runs on the CPU, not {device!r}")
    ort_options = {"device": "cpu" if runner == "openvino" else _onnx_device(device),
                   "threads": threads}
    # an engine folder the caller names wins over the INT8 encoder shipped with the weights
    shipped_int8 = (pretrained.pretrained_int8_encoder(shipped)
                    if shipped is not None and engine_dir is None
                    and ort_options["device"] == "cpu" and precision in (None, "int8") else None)
    if precision is None:
        precision = "int8" if shipped_int8 is not None else "fp32"
    if precision not in ONNX_PRECISIONS:
        raise ConfigError(f"{runner} serves precision {' or '.join(ONNX_PRECISIONS)}, not "
                          f"{precision!r} (fp16 is a TensorRT engine precision)")
    if precision == "int8" and shipped_int8 is not None:
        with tempfile.TemporaryDirectory(prefix="rt-saliency-onnx-") as tmp:
            _, head = cached_onnx(weights, lookahead, Path(tmp))  # type: ignore[arg-type]
            pair = open_runner_pair(runner, (shipped_int8, head), **ort_options)
            flow = graph_flow(read_metadata(head))
        return _network(*pair, lookahead, flow_maps, f"tpcmrnet/{runner}-int8", flow)
    if precision == "int8":
        if engine_dir is None:
            raise ConfigError("precision int8 needs --engine-dir with the INT8 encoder: "
                              "rt-saliency export --precision int8 -o DIR")
        graphs = onnx_paths(engine_dir, lookahead)
        graphs = (graphs[0].with_name(precision_filename(graphs[0].name, "int8")), graphs[1])
        _need_files(graphs, "INT8 ONNX graphs",
                    f"export them: rt-saliency export --precision int8 -o {engine_dir}")
        _check_same_model(weights, read_metadata(graphs[0]).get(metadata_key("model_hash")),
                          graphs[0])
        pair = open_runner_pair(runner, graphs, **ort_options)
        return _network(*pair, lookahead, flow_maps, f"tpcmrnet/{runner}-int8",
                        graph_flow(read_metadata(graphs[1])))
    if engine_dir is not None and all(p.is_file() for p in onnx_paths(engine_dir, lookahead)):
        encoder_onnx = onnx_paths(engine_dir, lookahead)[0]
        _check_same_model(weights, read_metadata(encoder_onnx).get(metadata_key("model_hash")), encoder_onnx)
        pair = open_runner_pair(runner, onnx_paths(engine_dir, lookahead), **ort_options)
        return _network(*pair, lookahead, flow_maps, f"tpcmrnet/{runner}",
                        graph_flow(read_metadata(encoder_onnx)))
    if weights is None:
        _need_files(
            onnx_paths(engine_dir or ".", lookahead),
            "ONNX graphs",
            f"export them: rt-saliency export --weights CKPT --lookahead {lookahead} -o {engine_dir}",
        )
    if not Path(weights).is_file():  # type: ignore[arg-type]
        raise InputNotFoundError(f"weights not found: {weights}")
    with tempfile.TemporaryDirectory(prefix="rt-saliency-onnx-") as tmp:
        graphs = cached_onnx(weights, lookahead, Path(tmp))  # type: ignore[arg-type]
        # sessions hold the graphs in memory, so a scratch export can go when its folder does
        pair = open_runner_pair(runner, graphs, **ort_options)
        flow = graph_flow(read_metadata(graphs[0]))
    return _network(*pair, lookahead, flow_maps, f"tpcmrnet/{runner}", flow)
