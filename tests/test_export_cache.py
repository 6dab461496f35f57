"""The per-user ONNX export cache: a hit serves the same graphs without exporting, a damaged or
stale entry is exported again, and ``off`` never writes one."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from rt_saliency.deploy import export_cache
from rt_saliency.deploy.export_cache import cache_key, cache_root, cached_onnx
from rt_saliency.model import create_model, save_checkpoint

LOOKAHEAD = 1


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    model = create_model(flow_maps=2, stage_widths=(8, 16)).eval()
    return save_checkpoint(tmp_path / "ckpt" / "model.pt", model)


def _exports(caplog: pytest.LogCaptureFixture) -> int:
    return sum("exporting" in r.getMessage() for r in caplog.records
               if r.name == "rt_saliency.deploy.export_cache")


def test_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    for off in ("off", "0", "none", ""):
        monkeypatch.setenv("RT_SALIENCY_CACHE", off)
        assert cache_root() is None
    monkeypatch.delenv("RT_SALIENCY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "rt-saliency" / "onnx"


def test_second_call_is_a_hit_with_the_same_graphs(
        checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="rt_saliency")
    first = cached_onnx(checkpoint, LOOKAHEAD, tmp_path / "scratch")
    second = cached_onnx(checkpoint, LOOKAHEAD, tmp_path / "scratch")
    assert _exports(caplog) == 1
    assert first == second
    assert first[0].parent == tmp_path / "cache" / cache_key(checkpoint, LOOKAHEAD)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first[0].parent.name]  # no temp left
    for graph in first:  # both load as real ONNX Runtime sessions
        assert ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).get_inputs()


def test_damaged_entry_is_exported_again(
        checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="rt_saliency")
    encoder, _ = cached_onnx(checkpoint, LOOKAHEAD, tmp_path / "scratch")
    good = encoder.read_bytes()
    encoder.write_bytes(good[: len(good) // 2])  # a truncated file, e.g. a full disk
    again, _ = cached_onnx(checkpoint, LOOKAHEAD, tmp_path / "scratch")
    assert _exports(caplog) == 2
    assert again.read_bytes() == good


def test_changed_checkpoint_gets_a_new_entry(checkpoint: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(tmp_path / "cache"))
    first, _ = cached_onnx(checkpoint, LOOKAHEAD, tmp_path / "scratch")
    save_checkpoint(checkpoint, create_model(flow_maps=2, stage_widths=(8, 16)).eval())
    second, _ = cached_onnx(checkpoint, LOOKAHEAD, tmp_path / "scratch")
    assert first.parent != second.parent
    assert cache_key(checkpoint, LOOKAHEAD) != cache_key(checkpoint, LOOKAHEAD + 1)


def test_off_and_unwritable_roots_export_to_scratch(
        checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("RT_SALIENCY_CACHE", "off")
    encoder, _ = cached_onnx(checkpoint, LOOKAHEAD, scratch)
    assert encoder.parent == scratch
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RT_SALIENCY_CACHE", str(blocker / "cache"))
    other = tmp_path / "scratch2"
    other.mkdir()
    encoder, _ = cached_onnx(checkpoint, LOOKAHEAD, other)
    assert encoder.parent == other
    assert export_cache.cache_root() == blocker / "cache"
