"""The first-run demo end to end on a small clip: every promised output exists and is sound."""

from __future__ import annotations

import json

import av
import numpy as np

from rt_saliency.cli import main


def test_demo_writes_every_output(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    status = main(["demo", "--out", str(out), "--frames", "16", "--size", "192x112",
                   "--bitrate", "150"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "outputs in" in printed and "EWPSNR" in printed

    report = json.loads((out / "report.json").read_text())
    assert report["stream"]["maps_out"] == 16 and report["stream"]["dropped"] == 0
    for name in ("plain", "saliency"):
        enc = report["encodes"][name]
        assert enc["kbps"] > 0 and 15 < enc["psnr_db"] < 80 and 10 < enc["ewpsnr_db"] < 80

    lines = (out / "qp.ndjson").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(16))
    assert (records[0]["rows"], records[0]["cols"]) == (7, 12)  # ceil(112/16) x ceil(192/16)
    grid = np.array(records[5]["qp"])
    assert grid.shape == (7, 12) and grid.min() < grid.max()  # the map is not flat

    for name in ("saliency.mp4", "plain.mp4", "preview.mp4"):
        with av.open(str(out / name)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 16
    assert (out / "preview.png").stat().st_size > 1000
    assert "EWPSNR" in (out / "report.md").read_text()


def test_demo_refuses_foreign_clip_folder(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    (out / "clip").mkdir(parents=True)
    (out / "clip" / "mine.txt").write_text("not the demo's")
    assert main(["demo", "--out", str(out), "--frames", "12"]) == 2
    assert "not written by the demo" in capsys.readouterr().err
