"""TensorRT engines and runner on a real GPU; skipped cleanly where TensorRT or a GPU is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (pip install 'rt-saliency[trt]')")

import torch  # noqa: E402

from rt_saliency.artifacts import sidecar_path  # noqa: E402
from rt_saliency.deploy.engine import build_engine, runtime_info  # noqa: E402
from rt_saliency.deploy.graphs import random_inputs  # noqa: E402
from rt_saliency.deploy.onnx_export import export_onnx  # noqa: E402
from rt_saliency.errors import EngineMismatchError  # noqa: E402
from rt_saliency.flow import FlowConfig  # noqa: E402
from rt_saliency.model import create_model  # noqa: E402
from rt_saliency.runtime.compare import compare_outputs  # noqa: E402
from rt_saliency.runtime.onnx_runner import OnnxRunner  # noqa: E402
from rt_saliency.runtime.registry import open_predictor  # noqa: E402
from rt_saliency.runtime.tensorrt_runner import TensorRTRunner  # noqa: E402

pytestmark = pytest.mark.gpu


#: a flow that is not the stream's default, as a checkpoint trained with it would name
TRAINED_FLOW = FlowConfig(method="farneback", preset="fast")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("trt")
    result = export_onnx(create_model().eval(), root, lookahead=2, flow=TRAINED_FLOW)
    for onnx_path in (result.encoder_path, result.head_path):
        for precision in ("fp32", "fp16"):
            build_engine(onnx_path, root / f"{onnx_path.stem}.{precision}.plan", precision=precision,
                         timing_cache=root / "trt.timing.cache")
    return root


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 2e-3), ("fp16", 5e-2)])
@pytest.mark.parametrize("graph", ["encoder", "head_w3"])
def test_tensorrt_matches_onnxruntime(built: Path, graph: str, precision: str, tolerance: float) -> None:
    with OnnxRunner(built / f"{graph}.onnx") as ref, TensorRTRunner(built / f"{graph}.{precision}.plan") as runner:
        assert list(runner.input_specs) == list(ref.input_specs)
        assert runner.output_names == ref.output_names
        inputs = random_inputs(ref.input_specs, seed=1)
        want = ref.infer(inputs)
        diffs = compare_outputs(runner.infer(inputs), want)
    for name, diff in diffs.items():
        scale = max(1.0, float(np.abs(want[name]).max()))
        assert diff.max_abs / scale < tolerance, (name, diff)


def test_sidecar_records_this_machine_and_refuses_a_mismatch(built: Path) -> None:
    engine = built / "encoder.fp32.plan"
    sidecar = json.loads(sidecar_path(engine).read_text())
    info = runtime_info()
    assert sidecar["tensorrt_version"] == trt.__version__ == info["tensorrt_version"]
    assert sidecar["compute_capability"] == info["compute_capability"]
    assert [i["name"] for i in sidecar["inputs"]] == ["frame", "flows"]
    sidecar["tensorrt_version"] = "9.0.0"
    copy = built / "old.plan"
    copy.write_bytes(engine.read_bytes())
    sidecar_path(copy).write_text(json.dumps(sidecar))
    with pytest.raises(EngineMismatchError, match="build-engine"):
        TensorRTRunner(copy)


def test_an_engine_is_served_the_flow_its_graph_was_trained_with(built: Path) -> None:
    sidecar = json.loads(sidecar_path(built / "head_w3.fp32.plan").read_text())
    assert json.loads(sidecar["graph_metadata"]["rt_saliency.flow"])["method"] == "farneback"
    with open_predictor("tensorrt", engine_dir=built, lookahead=2) as predictor:
        assert predictor.flow_config == TRAINED_FLOW


def test_auto_picks_tensorrt(built: Path) -> None:
    with open_predictor("auto", engine_dir=built, flow_maps=9, lookahead=2) as predictor:
        assert predictor.name == "tpcmrnet/tensorrt"
        feats = predictor.encode(np.zeros((3, 224, 224), np.float32), np.zeros((18, 224, 224), np.float32))
        sal, _ = predictor.head(np.stack([feats] * 3), predictor.initial_state())
        assert sal.shape == (224, 224) and np.isfinite(sal).all()
