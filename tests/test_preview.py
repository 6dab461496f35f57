"""The preview renderer and writer: panels in the right place, a decodable video out."""

from __future__ import annotations

import av
import numpy as np
import pytest

from rt_saliency.errors import InputError
from rt_saliency.preview import PreviewWriter, qp_heatmap, render_preview, saliency_overlay


def test_overlay_colours_only_where_salient() -> None:
    frame = np.full((64, 96, 3), 128, dtype=np.uint8)
    sal = np.zeros((16, 24), dtype=np.float32)
    sal[4:8, 4:8] = 1.0
    out = saliency_overlay(frame, sal)
    assert out.shape == frame.shape
    assert np.array_equal(out[60, 90], frame[60, 90])  # zero saliency: untouched
    assert not np.array_equal(out[24, 24], frame[24, 24])  # salient block: tinted


def test_qp_heatmap_signs() -> None:
    qp = np.array([[-8.0, 0.0, 8.0]])
    img = qp_heatmap(qp, (30, 10))
    neg, zero, pos = img[5, 5], img[5, 15], img[5, 25]
    assert neg[2] > neg[0]  # negative offset (better quality) is blue
    assert pos[0] > pos[2]  # positive offset is red
    assert tuple(zero) == (255, 255, 255)


def test_render_preview_layout() -> None:
    frame = np.zeros((360, 640, 3), dtype=np.uint8)
    img = render_preview(frame, np.ones((224, 224)), np.zeros((23, 40)), panel_height=120)
    assert img.shape[0] == 120
    panel_w = round(640 * 120 / 360) // 2 * 2
    assert img.shape[1] == 3 * panel_w + 8


def test_overlay_rejects_bad_input() -> None:
    with pytest.raises(InputError):
        saliency_overlay(np.zeros((8, 8), dtype=np.uint8), np.zeros((8, 8)))


def test_preview_writer_roundtrip(tmp_path) -> None:
    path = tmp_path / "preview.mp4"
    rng = np.random.default_rng(0)
    with PreviewWriter(path, fps=10) as writer:
        for _ in range(5):
            writer.write(rng.integers(0, 255, (121, 201, 3), dtype=np.uint8))
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 5
    assert (frames[0].width, frames[0].height) == (200, 120)


def test_run_preview_option(tmp_path) -> None:
    from rt_saliency.cli import main

    path = tmp_path / "run-preview.mp4"
    status = main(["-q", "run", "-i", "synth://160x96?frames=12&fps=10", "--preview", str(path),
                   "--no-table"])
    assert status == 0
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 12
    assert frames[0].height == 240  # one panel row, three panels side by side
    assert frames[0].width > 3 * frames[0].height
