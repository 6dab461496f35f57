"""Outputs are atomic and report the first error: an earlier output survives a failed run,
the failed run's data is kept as NAME.partial, ENOSPC (``/dev/full``, a full tmpfs) is one
OutputError raised once."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from rt_saliency.atomic import AtomicTarget, write_text
from rt_saliency.encode import Muxer, X264Config, X264Encoder
from rt_saliency.errors import ConfigError, OutputError
from rt_saliency.preview import PreviewWriter
from rt_saliency.qp import KvazaarRoiWriter, NdjsonWriter, NpyWriter, SvtAv1RoiWriter, read_ndjson

GRID = np.full((6, 10), -2.5, np.float32)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_ndjson_replaces_the_target_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "maps.ndjson"
    out.write_text("earlier\n")
    with NdjsonWriter(out) as writer:
        writer.write(0, GRID)
        assert out.read_text() == "earlier\n"  # not visible before the close
    assert [r["frame"] for r in read_ndjson(out)] == [0]
    assert _leftovers(tmp_path) == []


def test_a_failed_run_keeps_the_earlier_file_and_the_partial(tmp_path: Path) -> None:
    out = tmp_path / "maps.ndjson"
    out.write_text("earlier\n")
    with pytest.raises(RuntimeError):
        with NdjsonWriter(out) as writer:
            writer.write(0, GRID)
            writer.write(1, GRID)
            raise RuntimeError("the stream failed")
    assert out.read_text() == "earlier\n"
    partial = tmp_path / "maps.ndjson.partial"
    assert [r["frame"] for r in read_ndjson(partial)] == [0, 1]
    assert _leftovers(tmp_path) == []


def test_an_empty_failed_output_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "maps.ndjson"
    NdjsonWriter(out).close(ok=False)
    assert list(tmp_path.iterdir()) == []


def test_dev_full_gives_one_enospc_error_and_close_is_quiet() -> None:
    writer = NdjsonWriter("/dev/full")
    with pytest.raises(OutputError) as info:
        writer.write(0, GRID)
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == "/dev/full: cannot write (No space left on device)"
    with pytest.raises(OutputError) as again:
        writer.write(1, GRID)
    assert again.value is info.value  # the first error, not a new one
    writer.close()  # already reported: no second error
    assert Path("/dev/full").is_char_device()  # written in place, never renamed over


def test_enospc_met_first_by_close_is_raised_by_close() -> None:
    writer = NdjsonWriter("/dev/full", flush_each=False)
    writer.write(0, GRID)  # buffered: the error comes at the close
    with pytest.raises(OutputError) as info:
        writer.close()
    assert info.value.errno == errno.ENOSPC


@pytest.mark.parametrize("make", [
    lambda p: KvazaarRoiWriter(p / "roi.bin"),
    lambda p: SvtAv1RoiWriter(p / "roi.txt", (90, 160)),
    lambda p: NdjsonWriter(p / "maps.ndjson"),
])
def test_full_tmpfs_keeps_the_earlier_file(small_tmpfs: Path, make) -> None:  # type: ignore[no-untyped-def]
    writer = make(small_tmpfs)
    target = Path(writer._atomic.target)
    target.write_bytes(b"earlier output\n")
    big = np.zeros((400, 400), np.float32)
    with pytest.raises(OutputError) as info:
        for frame in range(100_000):
            writer.write(frame, big)
    assert info.value.errno == errno.ENOSPC
    writer.close()
    assert target.read_bytes() == b"earlier output\n"
    assert _leftovers(small_tmpfs) == []


def test_npy_folder_is_swapped_on_success_and_kept_on_failure(tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    with NpyWriter(folder) as writer:
        writer.write(0, GRID)
        writer.write(1, GRID)
    assert sorted(p.name for p in folder.iterdir()) == ["frame_000000.npy", "frame_000001.npy"]
    with pytest.raises(RuntimeError):
        with NpyWriter(folder) as writer:
            writer.write(0, GRID * 0)
            raise RuntimeError("failed")
    assert np.array_equal(np.load(folder / "frame_000000.npy"), GRID)  # earlier run intact
    assert (tmp_path / "maps.partial" / "frame_000000.npy").is_file()
    with NpyWriter(folder) as writer:  # a new successful run replaces the whole folder
        writer.write(5, GRID)
    assert sorted(p.name for p in folder.iterdir()) == ["frame_000005.npy"]
    assert _leftovers(tmp_path) == [] and not any(".old-" in p.name for p in tmp_path.iterdir())


def test_npy_on_a_full_disk(small_tmpfs: Path) -> None:
    writer = NpyWriter(small_tmpfs / "maps")
    with pytest.raises(OutputError) as info:
        for frame in range(10_000):
            writer.write(frame, np.zeros((200, 200), np.float32))
    assert info.value.errno == errno.ENOSPC
    writer.close()
    assert not (small_tmpfs / "maps").exists()


def test_preview_on_a_full_disk_keeps_the_earlier_preview(small_tmpfs: Path,
                                                          rng: np.random.Generator) -> None:
    target = small_tmpfs / "preview.mp4"
    target.write_bytes(b"earlier preview")
    writer = PreviewWriter(target, fps=25)
    with pytest.raises(OutputError) as info:
        for _ in range(500):  # noise does not compress: fills 1 MiB quickly
            writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    assert info.value.errno == errno.ENOSPC
    writer.close()
    assert target.read_bytes() == b"earlier preview"
    assert _leftovers(small_tmpfs) == []


def test_muxer_on_a_full_disk_keeps_the_earlier_file(small_tmpfs: Path,
                                                     rng: np.random.Generator) -> None:
    target = small_tmpfs / "out.mkv"
    target.write_bytes(b"earlier encode")
    enc = X264Encoder(320, 240, 25, X264Config(preset="ultrafast", crf=5))
    mux = Muxer(target, 320, 240, 25)
    with pytest.raises(OutputError) as info:
        for i in range(500):
            mux.mux(enc.encode(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),
                               np.zeros((15, 20), np.float32), pts=i))
    assert info.value.errno == errno.ENOSPC
    mux.close()
    enc.close()
    assert target.read_bytes() == b"earlier encode"


def test_write_text_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "stats.json"
    write_text(out, json.dumps({"a": 1}))
    assert json.loads(out.read_text()) == {"a": 1}
    with pytest.raises(OutputError) as info:
        write_text("/dev/full", "x" * 100_000)
    assert info.value.errno == errno.ENOSPC


def test_targets_that_cannot_work_are_the_callers_mistake(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        AtomicTarget(tmp_path / "missing" / "x.ndjson")
    with pytest.raises(ConfigError, match="is a folder"):
        AtomicTarget(tmp_path)
