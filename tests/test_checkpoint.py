"""Checkpoints: round trip, config.json beside the weights, refusal of unsafe or unfit files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from rt_saliency.errors import InputNotFoundError, WeightsError
from rt_saliency.model import create_model, load_checkpoint, read_checkpoint, save_checkpoint


class _Evil:
    """Unpickling this runs a command: weights_only loading must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _features(seed: int) -> torch.Tensor:
    return torch.rand(1, 2, 32, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_round_trip_same_outputs(tmp_path: Path) -> None:
    torch.manual_seed(10)
    model = create_model("tpcmrnet_s3").eval()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.head(_features(9))[0].mean().backward()  # Adam state for the head's parameters
    opt.step()
    path = save_checkpoint(tmp_path / "run" / "epoch1.pt", model,
                           extra={"epoch": 1, "optimizer": opt.state_dict(), "val_cc": 0.25})
    assert path.is_file()
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == model.config.to_dict()
    # rebuilt from the stored config alone: the S=3 variant with the same weights
    loaded, data = load_checkpoint(path)
    assert loaded.config == model.config and loaded.flow_maps == 3
    assert data["epoch"] == 1 and data["val_cc"] == 0.25
    torch.optim.Adam(loaded.parameters(), lr=1e-4).load_state_dict(data["optimizer"])
    feats = _features(11)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval().head(feats)[0], model.head(feats)[0])
    # loaded into an existing model of the same architecture
    other = create_model("tpcmrnet_s3")
    load_checkpoint(path, other)
    for (n, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), n


def test_refuses_non_weights_only_pickle(tmp_path: Path) -> None:
    model = create_model("tpcmrnet")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "config": model.config.to_dict(), "model": model.state_dict(),
                "payload": _Evil(marker)}, path)
    with pytest.raises(WeightsError, match="weights-only"):
        load_checkpoint(path)
    assert not marker.exists()


def test_refuses_missing_garbage_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        load_checkpoint(tmp_path / "absent.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError):
        load_checkpoint(garbage)
    bare = tmp_path / "bare.pt"
    torch.save(create_model("tpcmrnet").state_dict(), bare)  # a bare state dict, no config
    with pytest.raises(WeightsError, match="not an rt-saliency checkpoint"):
        read_checkpoint(bare)


def test_refuses_mismatched_architecture(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "s3.pt", create_model("tpcmrnet_s3"))
    with pytest.raises(WeightsError, match="flow_maps"):
        load_checkpoint(path, create_model("tpcmrnet"))
    # a config that says one thing and tensors that say another
    data = torch.load(path, weights_only=True)
    data["model"].pop("merge.weight")
    torch.save(data, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match="do not fit"):
        load_checkpoint(tmp_path / "broken.pt")
    data["config"]["stage_widths"] = "wide"
    torch.save(data, tmp_path / "badcfg.pt")
    with pytest.raises(WeightsError, match="bad stored config"):
        load_checkpoint(tmp_path / "badcfg.pt")
