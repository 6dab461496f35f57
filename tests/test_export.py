"""ONNX export of TP-CMRNet's streaming graphs: structure, metadata, parity with torch, FP16, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from rt_saliency.apps.parity import check_export
from rt_saliency.artifacts import EXPORT_MANIFEST, file_sha256, read_metadata
from rt_saliency.cli import main
from rt_saliency.deploy.fp16 import convert_to_fp16
from rt_saliency.deploy.graphs import random_inputs
from rt_saliency.deploy.onnx_export import (
    LOOP_OPS,
    export_onnx,
    graph_flow,
    graph_ops,
    model_hash,
    trained_flow,
)
from rt_saliency.flow import FlowConfig
from rt_saliency.model import create_model, save_checkpoint
from rt_saliency.runtime.compare import compare_outputs
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.registry import open_predictor
from rt_saliency.spec import ENCODER_INPUTS, ENCODER_OUTPUTS, HEAD_INPUTS, HEAD_OUTPUTS
from rt_saliency.stream.daemon import Daemon, DaemonOptions, SourceOptions


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """The default model (random init, seed 0) exported once with lookahead 2."""
    torch.manual_seed(0)
    model = create_model().eval()
    out = tmp_path_factory.mktemp("export")
    return model, export_onnx(model, out, lookahead=2)


def test_files_names_and_static_shapes(exported) -> None:
    model, result = exported
    assert result.encoder_path.name == "encoder.onnx"
    assert result.head_path.name == "head_w3.onnx"
    s = model.config.flow_maps
    enc = onnx.load(str(result.encoder_path))
    head = onnx.load(str(result.head_path))
    for proto, inputs, outputs in ((enc, ENCODER_INPUTS, ENCODER_OUTPUTS), (head, HEAD_INPUTS, HEAD_OUTPUTS)):
        onnx.checker.check_model(proto, full_check=True)
        assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
        assert [i.name for i in proto.graph.input] == list(inputs)
        assert [o.name for o in proto.graph.output] == list(outputs)
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in enc.graph.input}
    assert dims == {"frame": [1, 3, 224, 224], "flows": [1, 2 * s, 224, 224]}
    head_dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in head.graph.input}
    assert head_dims["features"][:2] == [1, 3]  # window of L + 1 = 3 frames, static
    assert head_dims["h0"] == [1, 32, 28, 28]


def test_head_graph_computes_frame_t_only(exported) -> None:
    """The head graph's map is frame t's at feature size: no Resize, one forward ConvLSTM step,
    and up-sampled by the predictor it equals the full head's frame-0 map (the pre-change
    graph) to 1e-5."""
    from rt_saliency.runtime.network import upsample_map

    model, result = exported
    ops = [node.op_type for node in onnx.load(str(result.head_path)).graph.node]
    assert "Resize" not in ops
    inputs = random_inputs(result.head_specs, seed=5)
    with OnnxRunner(result.head_path, threads=2) as runner:
        out = runner.infer(inputs)
    assert out["saliency"].shape == (1, 1, 28, 28)
    with torch.no_grad():
        maps, (h1, c1) = model.head(torch.from_numpy(inputs["features"]),
                                    (torch.from_numpy(inputs["h0"]), torch.from_numpy(inputs["c0"])))
    assert np.abs(upsample_map(out["saliency"][0, 0], (224, 224)) - maps[0, 0, 0].numpy()).max() <= 1e-5
    assert np.abs(out["h1"] - h1.numpy()).max() <= 1e-5
    assert np.abs(out["c1"] - c1.numpy()).max() <= 1e-5
    # 2 directions x 3 frames would be 6 gate convolutions; frame t only needs 1 + 3
    cells = sum(1 for node in onnx.load(str(result.head_path)).graph.node
                if node.op_type == "Conv" and node.input[1].endswith("gates.weight"))
    assert cells == 4


def test_no_loop_ops_convlstm_unrolled(exported) -> None:
    _, result = exported
    for path in (result.encoder_path, result.head_path):
        assert not graph_ops(path) & LOOP_OPS, f"{path.name} has control flow"
    assert "Conv" in graph_ops(result.head_path)


def test_metadata_and_manifest(exported) -> None:
    model, result = exported
    digest = model_hash(model)
    assert result.model_hash == digest and len(digest) == 64
    for path, kind, specs in ((result.encoder_path, "encoder", result.encoder_specs),
                              (result.head_path, "head", result.head_specs)):
        meta = read_metadata(path)
        assert meta["rt_saliency.graph"] == kind
        assert meta["rt_saliency.model_hash"] == digest
        assert meta["rt_saliency.lookahead"] == "2"
        assert json.loads(meta["rt_saliency.config"]) == json.loads(json.dumps(model.config.to_dict(), default=list))
        assert [s["shape"] for s in json.loads(meta["rt_saliency.input_spec"])] == [
            list(s.shape) for s in specs.values()
        ]
    manifest = json.loads((result.encoder_path.parent / EXPORT_MANIFEST).read_text())
    assert manifest["graphs"]["head"]["sha256"] == file_sha256(result.head_path)
    assert manifest["opset"] >= 17 and manifest["model_hash"] == digest


def test_model_hash_changes_with_weights() -> None:
    torch.manual_seed(0)
    a = create_model()
    torch.manual_seed(1)
    b = create_model()
    assert model_hash(a) != model_hash(b)
    b.load_state_dict(a.state_dict())
    assert model_hash(a) == model_hash(b)


def test_onnxruntime_matches_torch_fp32(exported) -> None:
    model, result = exported
    report = check_export(model, result, seed=3, threads=2)
    for graph, outputs in (("encoder", ENCODER_OUTPUTS), ("head", HEAD_OUTPUTS)):
        assert set(report["parity"][graph]) == set(outputs)
        for name, diff in report["parity"][graph].items():
            assert diff["max_abs"] < 1e-4, (graph, name, diff)


def test_fp16_conversion_keeps_float32_io_and_stays_close(exported, tmp_path: Path) -> None:
    _, result = exported
    dst = tmp_path / "head.fp16.onnx"
    assert convert_to_fp16(result.head_path, dst, method="builtin") == "builtin"
    proto = onnx.load(str(dst))
    conv_weights = {n.input[1] for n in proto.graph.node if n.op_type == "Conv"}
    kinds = {i.data_type for i in proto.graph.initializer if i.name in conv_weights}
    assert kinds == {onnx.TensorProto.FLOAT16}
    assert {i.type.tensor_type.elem_type for i in proto.graph.input} == {onnx.TensorProto.FLOAT}
    with OnnxRunner(result.head_path) as fp32, OnnxRunner(dst) as fp16:
        x = random_inputs(fp32.input_specs, seed=1)
        diffs = compare_outputs(fp16.infer(x), fp32.infer(x))
    assert diffs["saliency"].max_abs < 2e-2
    assert diffs["saliency"].max_abs > 0  # it really ran in half precision


def test_cli_export_with_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    status = main(["export", "--random-init", "--flow-maps", "3", "--lookahead", "0", "-o", str(out), "--check"])
    assert status == 0
    assert (out / "encoder.onnx").is_file() and (out / "head_w1.onnx").is_file()
    text = capsys.readouterr().out
    report = json.loads(text[text.index("{"):])
    assert report["max_abs"] < 1e-4
    with OnnxRunner(out / "encoder.onnx") as runner:
        assert runner.input_specs["flows"].shape == (1, 6, 224, 224)


def test_cli_export_refuses_bad_options(tmp_path: Path) -> None:
    assert main(["export", "--random-init", "--opset", "13", "-o", str(tmp_path)]) == 2
    assert main(["export", "--weights", str(tmp_path / "missing.pt"), "-o", str(tmp_path)]) == 2
    assert not list(tmp_path.glob("*.onnx"))


def test_random_inputs_are_deterministic(exported) -> None:
    _, result = exported
    a = random_inputs(result.head_specs, seed=5)
    b = random_inputs(result.head_specs, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_the_flow_a_checkpoint_was_trained_with_is_the_flow_it_is_served(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training options -> the graphs' ``rt_saliency.flow`` metadata -> the predictor's
    ``flow_config`` -> the stream's flow estimator, for ONNX Runtime (exported or on the fly) and
    torch; a checkpoint that does not say keeps the defaults."""
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = create_model(flow_maps=3, stage_widths=(8, 16)).eval()
    trained = save_checkpoint(tmp_path / "trained.pt", model, extra={
        "train_options": {"flow_method": "dis", "flow_preset": "medium"}})
    plain = save_checkpoint(tmp_path / "plain.pt", model)
    assert trained_flow(trained) == FlowConfig(method="dis", preset="medium")
    assert trained_flow(plain) is None
    assert main(["export", "--weights", str(trained), "-o", str(tmp_path / "g"),
                 "--lookahead", "1"]) == 0
    meta = read_metadata(tmp_path / "g" / "encoder.onnx")
    assert graph_flow(meta) == FlowConfig(method="dis", preset="medium")
    for kwargs in ({"engine_dir": tmp_path / "g"}, {"weights": trained}):
        for backend in ("onnxruntime", "torch") if "weights" in kwargs else ("onnxruntime",):
            with open_predictor(backend, lookahead=1, **kwargs) as predictor:
                assert predictor.flow_config == FlowConfig(method="dis", preset="medium")
    with open_predictor("onnxruntime", weights=plain, lookahead=1) as predictor:
        assert predictor.flow_config is None
    with open_predictor("onnxruntime", weights=trained, lookahead=1) as predictor:
        daemon = Daemon(DaemonOptions(SourceOptions("synth://64x48?frames=4")),
                        predictor=predictor)
        with daemon:
            daemon.run()
        assert daemon.pipeline._flow.config.preset == "medium"
