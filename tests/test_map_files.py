"""Map files that real encoders accept, checked by readers written here from each encoder's
documented format (not the library's readers): SVT-AV1 ``--roi-map-file`` (Docs/Parameters.md,
"RoiMapFile and QP Offset Map file format"; at most 8 AV1 segments a frame) and Kvazaar ``--roi``
(README help text: text or binary by the ``.bin`` extension; binary = 32-bit width and height
then signed 8-bit deltas)."""

from __future__ import annotations

import io
import itertools
import struct

import numpy as np
import pytest

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.qp import QPConfig, QPMapper
from rt_saliency.qp.mapping import pool_blocks
from rt_saliency.qp.roi_files import (
    KvazaarRoiWriter,
    SvtAv1RoiWriter,
    limit_levels,
    read_kvazaar_roi,
    read_svtav1_roi,
)


def svt_doc_reader(text: str, width: int, height: int) -> dict[int, list[int]]:
    """Per the SVT-AV1 doc: each line a frame number then one offset per 64x64 block, rows in
    order; the encoder maps each distinct value of a frame to a segment and AV1 has 8."""
    blocks = ((width + 63) // 64) * ((height + 63) // 64)
    frames = {}
    for line in text.splitlines():
        numbers = [int(t) for t in line.split()]
        if not numbers:
            continue
        assert len(numbers) == 1 + blocks, f"{len(numbers) - 1} offsets for {blocks} blocks"
        assert len(set(numbers[1:])) <= 8, "Maximum number of segment supported by AV1 is 8"
        frames[numbers[0]] = numbers[1:]
    return frames


def kvazaar_doc_reader(data: bytes, binary: bool) -> list[tuple[int, int, list[int]]]:
    """Per Kvazaar's --roi help: width and height of the map then width*height delta QPs in
    raster order, repeated per frame; binary: 32-bit integers then signed 8-bit values."""
    out = []
    if binary:
        pos = 0
        while pos < len(data):
            width, height = struct.unpack("<ii", data[pos:pos + 8])
            pos += 8
            out.append((width, height, list(struct.unpack(f"{width * height}b",
                                                          data[pos:pos + width * height]))))
            pos += width * height
        return out
    numbers = [int(t) for t in data.decode("ascii").split()]
    pos = 0
    while pos < len(numbers):
        width, height = numbers[pos:pos + 2]
        out.append((width, height, numbers[pos + 2:pos + 2 + width * height]))
        pos += 2 + width * height
    return out


def test_the_svtav1_doc_example_reads() -> None:
    example = "0 12 -32 -32 -32 -32 -32 12 -32 -32 -32 -32 -32 " + " ".join(["16"] * 18)
    assert svt_doc_reader(example, 352, 288)[0][:2] == [12, -32]
    assert read_svtav1_roi(io.StringIO(example), (288, 352))[0].shape == (5, 6)


def test_svtav1_files_from_real_saliency_keep_at_most_eight_levels(tmp_path, rng) -> None:
    """A 1080p frame's smooth saliency gives ~30 distinct superblock offsets (what SVT-AV1
    refused); the file keeps 8 and the order of the offsets."""
    h, w = 1080, 1920
    yy, xx = np.mgrid[0:224, 0:224]
    mapper = QPMapper((h, w), QPConfig(strength=4.0))
    path = tmp_path / "roi.txt"
    raw_levels = []
    with SvtAv1RoiWriter(path, (h, w)) as writer:
        for i in range(3):
            sal = np.exp(-((xx - 60 - 40 * i) ** 2 + (yy - 112) ** 2) / (2 * 30.0 ** 2))
            sal += 0.05 * rng.random((224, 224))
            offsets = mapper(sal.astype(np.float32))
            raw = np.clip(np.rint(pool_blocks(offsets, (h, w), 64) * 4), -255, 255)
            raw_levels.append(len(np.unique(raw)))
            writer.write(i, offsets)
            kept = writer.superblocks(offsets).ravel()
            order = np.argsort(raw.ravel(), kind="stable")
            assert (np.diff(kept[order]) >= 0).all(), "order of offsets changed"
            assert np.abs(kept - raw.ravel()).max() <= 6
    assert max(raw_levels) > 8
    frames = svt_doc_reader(path.read_text(), w, h)
    assert sorted(frames) == [0, 1, 2]
    assert all(len(set(v)) == 8 for v in frames.values())
    assert set(read_svtav1_roi(path, (h, w))) == {0, 1, 2}


def test_limit_levels_is_the_best_ordered_split() -> None:
    values = np.array([-20, -19, -10, -3, 0, 0, 0, 4, 9, 15, 16, 30])
    got = limit_levels(values, 4)
    assert len(np.unique(got)) == 4
    assert (np.diff(got) >= 0).all()

    def err(groups: list[list[int]]) -> float:
        return sum(((np.array(g) - np.mean(g)) ** 2).sum() for g in groups)

    best = min(err([list(values[a:b]) for a, b in zip((0,) + cut, cut + (len(values),))])
               for cut in itertools.combinations(range(1, len(values)), 3))
    assert ((got - values) ** 2).sum() <= best + 0.25 * len(values)  # rounding of the means
    small = np.array([[1, 2], [2, 3]])
    np.testing.assert_array_equal(limit_levels(small), small)


@pytest.mark.parametrize("name,binary", [("roi.bin", True), ("roi.txt", False),
                                         ("roi.roi", False)])
def test_kvazaar_format_follows_the_name_as_kvazaar_does(tmp_path, name, binary) -> None:
    a = np.array([[-1.4, 2.6, 99.0], [0.0, -60.0, 3.5]], np.float32)
    b = np.zeros((1, 2), np.float32)
    path = tmp_path / name
    with KvazaarRoiWriter(path) as writer:
        assert writer.format == ("binary" if binary else "text")
        writer.write(0, a)
        writer.write(1, b)
    maps = kvazaar_doc_reader(path.read_bytes(), binary)
    assert maps == [(3, 2, [-1, 3, 51, 0, -51, 4]), (2, 1, [0, 0])]
    mine = read_kvazaar_roi(path)
    np.testing.assert_array_equal(mine[0], [[-1, 3, 51], [0, -51, 4]])


def test_kvazaar_example_file_and_refusals(tmp_path) -> None:
    example = tmp_path / "roi.txt"
    example.write_text("2 2\n5 5 0 0\n")  # Kvazaar's examples/roi.txt
    np.testing.assert_array_equal(read_kvazaar_roi(example)[0], [[5, 5], [0, 0]])
    with pytest.raises(ConfigError, match="bin"):
        KvazaarRoiWriter(tmp_path / "roi.txt", format="binary")  # Kvazaar would read text
    with pytest.raises(ConfigError):
        KvazaarRoiWriter(tmp_path / "roi.bin", format="text")
    with pytest.raises(ConfigError, match="explicit"):
        KvazaarRoiWriter(io.BytesIO())
    buf = io.StringIO()
    with KvazaarRoiWriter(buf, format="text") as writer:
        writer.write(0, np.ones((1, 1)))
    assert buf.getvalue() == "1 1\n1\n"
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\n5 5 0\n")
    with pytest.raises(InputError):
        read_kvazaar_roi(bad)
