"""INT8 encoder: calibration inputs from real pictures, static quantization, parity, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from rt_saliency.apps.parity import check_precision
from rt_saliency.artifacts import EXPORT_MANIFEST, file_sha256, precision_filename, read_metadata
from rt_saliency.cli import main
from rt_saliency.deploy.calibration import (
    gaze_calibration_images,
    spread_video_samples,
    still_samples,
    video_samples,
)
from rt_saliency.deploy.onnx_export import export_onnx
from rt_saliency.deploy.quantize import (
    calibration_samples,
    export_int8_encoder,
    per_video_counts,
    quantize_encoder,
)
from rt_saliency.errors import ConfigError, InputError, InputNotFoundError
from rt_saliency.model import create_model, pretrained
from rt_saliency.runtime.onnx_runner import OnnxRunner
from rt_saliency.runtime.registry import open_predictor
from rt_saliency.stream.offline import predict_clip

S = 3


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    model = create_model(flow_maps=S, stage_widths=(8, 16)).eval()
    return model, export_onnx(model, tmp_path_factory.mktemp("fp32"), lookahead=1)


def test_video_samples_have_the_streams_flows(vtest_avi: Path) -> None:
    first = video_samples(vtest_avi, S, 3, start=0)
    later = video_samples(vtest_avi, S, 3, start=100)
    for sample in first + later:
        assert sample["frame"].shape == (1, 3, 224, 224) and sample["frame"].dtype == np.float32
        assert sample["flows"].shape == (1, 2 * S, 224, 224)
        assert 0.0 <= sample["frame"].min() and sample["frame"].max() <= 1.0
    # frame 0 has no F^0 (zeros), its F^1.. are real; a later frame's F^t is real too
    assert not first[0]["flows"][0, :2].any() and first[0]["flows"][0, 2:].any()
    assert later[0]["flows"][0, :2].any()
    # frame t+1's stack starts with frame t's second flow map
    np.testing.assert_array_equal(later[1]["flows"][0, :2], later[0]["flows"][0, 2:4])
    spread = spread_video_samples(vtest_avi, S, 6, run=3)
    assert len(spread) == 6 and not np.array_equal(spread[0]["frame"], spread[3]["frame"])


def test_calibration_stills_never_from_the_test_split(tmp_path: Path) -> None:
    for name, count in (("a", 6), ("b", 4)):
        images = tmp_path / name / "images"
        images.mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(images / f"{i:03d}.jpg"), np.full((20, 30, 3), 40 * i, np.uint8))
        (tmp_path / name / "test.txt").write_text("000\n002\n")
    chosen = gaze_calibration_images(tmp_path, per_set=10)
    assert sorted(p.stem for p in chosen if p.parent.parent.name == "a") == ["001", "003", "004", "005"]
    assert sorted(p.stem for p in chosen if p.parent.parent.name == "b") == ["001", "003"]
    assert len(gaze_calibration_images(tmp_path, per_set=1)) == 2
    samples = still_samples(chosen[:2], S)
    assert not samples[0]["flows"].any() and samples[1]["frame"].shape == (1, 3, 224, 224)
    with pytest.raises(InputError):
        still_samples([tmp_path / "a" / "test.txt"], S)


def test_int8_encoder_is_quantized_and_close(narrow, vtest_avi: Path, tmp_path: Path) -> None:
    model, result = narrow
    calibration = video_samples(vtest_avi, S, 6, start=10)
    out = tmp_path / precision_filename("encoder.onnx", "int8")
    assert out.name == "encoder.int8.onnx"
    quantized = quantize_encoder(result.encoder_path, out, calibration, calibration="vtest 6")
    assert quantized.samples == 6
    proto = onnx.load(str(out))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    # per-channel weights: a weight DequantizeLinear has one scale per output channel
    inits = {i.name: i for i in proto.graph.initializer}
    weights = [(inits[n.input[0]], inits[n.input[1]]) for n in proto.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in inits
               and n.input[0].endswith("weight_quantized")]
    assert weights and all(list(scale.dims) == [w.dims[0]] for w, scale in weights)
    assert any(w.data_type == onnx.TensorProto.INT8 for w, _ in weights)
    meta = read_metadata(out)
    assert meta["rt_saliency.precision"] == "int8"
    assert meta["rt_saliency.model_hash"] == read_metadata(result.encoder_path)["rt_saliency.model_hash"]
    held_out = video_samples(vtest_avi, S, 4, start=400)
    with OnnxRunner(result.encoder_path, threads=1) as fp32, OnnxRunner(out, threads=1) as int8, \
            OnnxRunner(result.head_path, threads=1) as head:
        parity = check_precision(fp32, int8, head, held_out)
    assert parity.frames == 4
    assert 0 < parity.features_max_abs < 0.1 * parity.features_scale
    assert parity.maps.cc_min > 0.9 and parity.to_dict()["maps_cc_min"] == parity.maps.cc_min
    with pytest.raises(InputError):
        quantize_encoder(result.encoder_path, tmp_path / "x.onnx", [])


def test_export_int8_writes_manifest_entry(narrow, vtest_avi: Path) -> None:
    _, result = narrow
    quantized = export_int8_encoder(result, videos=[vtest_avi], frames_per_video=4)
    manifest = json.loads((result.encoder_path.parent / EXPORT_MANIFEST).read_text())
    entry = manifest["graphs"]["encoder_int8"]
    assert entry["file"] == "encoder.int8.onnx" and entry["samples"] == 4
    assert entry["sha256"] == file_sha256(quantized.path)
    assert "vtest.avi" in entry["calibration"]


def test_calibration_counts_one_for_all_or_one_per_video(narrow, vtest_avi: Path) -> None:
    assert per_video_counts(48, 3) == [48, 48, 48]
    assert per_video_counts([48], 2) == [48, 48]
    assert per_video_counts([48, 8], 2) == [48, 8]
    assert per_video_counts(48, 0) == []
    for bad, videos in (([48, 8], 3), ([0], 1), ([4, -1], 2)):
        with pytest.raises(ConfigError):
            per_video_counts(bad, videos)
    _, result = narrow
    samples, described = calibration_samples(
        result.encoder_specs["flows"].shape[1] // 2, videos=[vtest_avi, vtest_avi],
        frames_per_video=[3, 2])
    assert len(samples) == 5 and described == "3 frames of vtest.avi, 2 frames of vtest.avi"


def test_cli_int8_needs_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["export", "--random-init", "--model", "tpcmrnet_fast", "-o", str(tmp_path),
                   "--precision", "int8"])
    assert status == 2
    assert "calibration" in capsys.readouterr().err


def test_cli_refuses_calibration_counts_that_do_not_match_the_videos(
        tmp_path: Path, vtest_avi: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for counts in (["4", "4"], ["0"]):
        flags = [x for n in counts for x in ("--calibration-frames", n)]
        status = main(["export", "--random-init", "--model", "tpcmrnet_fast", "-o", str(tmp_path),
                       "--precision", "int8", "--calibration-video", str(vtest_avi), *flags])
        err = capsys.readouterr().err
        assert status == 2 and "calibration frame counts" in err and "Traceback" not in err
    assert not (tmp_path / "encoder.int8.onnx").exists()


def test_the_int8_encoder_is_served_by_onnxruntime(narrow, vtest_avi: Path, tmp_path: Path) -> None:
    """``precision="int8"`` serves ``encoder.int8.onnx`` with the FP32 head (its name says so);
    its maps stay close to the FP32 graphs' on a real frame; bad combinations are one error."""
    _, result = narrow
    export_int8_encoder(result, videos=[vtest_avi], frames_per_video=4)
    folder = result.encoder_path.parent
    frames = [cv2.resize(cv2.imread(str(p)), (224, 224))[:, :, ::-1].copy()
              for p in [*sorted(Path(__file__).parent.glob("data/gaze-mini/osie/images/*.jpg"))][:2]]
    maps = {}
    for precision in ("fp32", "int8"):
        with open_predictor("onnxruntime", engine_dir=folder, lookahead=1, precision=precision,
                            threads=1) as predictor:
            maps[predictor.name] = predict_clip(predictor, frames * 3)[0]
    assert set(maps) == {"tpcmrnet/onnxruntime", "tpcmrnet/onnxruntime-int8"}
    fp32, int8 = maps["tpcmrnet/onnxruntime"], maps["tpcmrnet/onnxruntime-int8"]
    assert np.corrcoef(fp32.ravel(), int8.ravel())[0, 1] > 0.9
    with open_predictor("onnxruntime", precision="int8") as shipped:  # shipped beside the weights
        assert shipped.name == "tpcmrnet/onnxruntime-int8"
    with pytest.raises(ConfigError, match="engine-dir"):  # other weights: no INT8 graph of them
        open_predictor("onnxruntime", weights=pretrained.pretrained_path(), precision="int8")
    with pytest.raises(ConfigError, match="fp16"):
        open_predictor("onnxruntime", engine_dir=folder, lookahead=1, precision="fp16")
    with pytest.raises(ConfigError, match="unknown precision"):
        open_predictor("onnxruntime", engine_dir=folder, precision="int4")
    with pytest.raises(InputNotFoundError, match="INT8"):
        open_predictor("onnxruntime", engine_dir=tmp_path, precision="int8")


def test_an_engine_folder_wins_over_the_shipped_int8_encoder(vtest_avi: Path, tmp_path: Path) -> None:
    """``--weights <shipped name> --engine-dir DIR --precision int8`` serves DIR's INT8 encoder
    (what the caller pointed at), not the one shipped beside the weights."""
    assert main(["export", "--weights", pretrained.DEFAULT_PRETRAINED, "-o", str(tmp_path),
                 "--precision", "int8", "--calibration-video", str(vtest_avi),
                 "--calibration-frames", "2"]) == 0
    frames = [cv2.resize(cv2.imread(str(p)), (224, 224))[:, :, ::-1].copy()
              for p in sorted(Path(__file__).parent.glob("data/gaze-mini/osie/images/*.jpg"))[:2]]
    maps = []
    for kwargs in ({"engine_dir": tmp_path}, {"engine_dir": tmp_path,
                                               "weights": pretrained.DEFAULT_PRETRAINED}, {}):
        with open_predictor("onnxruntime", precision="int8", threads=1,
                            **kwargs) as predictor:
            assert predictor.name == "tpcmrnet/onnxruntime-int8"
            maps.append(predict_clip(predictor, frames * 3)[0])
    folder, named, shipped = maps
    np.testing.assert_array_equal(named, folder)
    assert np.abs(shipped - folder).max() > 1e-4  # calibrated on other pictures
