"""Saliency recorded by one run of a file job and replayed by the next ones: the same maps to
the bit, hence the same stream, without running the network again."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from rt_saliency.encode import encoder_config
from rt_saliency.errors import InputError
from rt_saliency.stream.daemon import DaemonOptions, OutputOptions, PredictorOptions, SourceOptions
from rt_saliency.stream.file_job import FileJob
from rt_saliency.stream.pipeline import MapRecord
from rt_saliency.stream.rate_match import video_bytes
from rt_saliency.stream.replay import ReplayPredictor, SaliencyRecorder, record_bytes


def test_recorded_maps_come_back_in_order_and_no_more(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    maps = [rng.random((6, 8), dtype=np.float32) for _ in range(3)]
    recorder = SaliencyRecorder(tmp_path / "maps.f32", (6, 8))
    recorder.write_map(MapRecord(0, 0.0, (48, 64), maps[0], None))
    recorder.write_dropped(1)
    recorder.write_map(MapRecord(2, 0.1, (48, 64), maps[2], None))
    recorder.close()
    assert recorder.frames == 3 and (tmp_path / "maps.f32").stat().st_size == record_bytes(3, (6, 8))
    like = SimpleNamespace(name="net", input_size=(6, 8), flow_config=None)
    replay = ReplayPredictor(tmp_path / "maps.f32", 3, like)  # type: ignore[arg-type]
    assert replay.name == "net (replayed)" and replay.lookahead == 0
    state = replay.initial_state()
    got = []
    for _ in range(3):
        features = replay.encode(np.zeros((3, 6, 8), np.float32), np.zeros((2, 6, 8), np.float32))
        saliency, state = replay.head(features[None], state)
        got.append(saliency)
    np.testing.assert_array_equal(got[0], maps[0])
    np.testing.assert_array_equal(got[1], np.full((6, 8), 0.5, np.float32))  # dropped: uniform
    np.testing.assert_array_equal(got[2], maps[2])
    with pytest.raises(InputError, match="more frames than the 3"):
        replay.encode(np.zeros((3, 6, 8), np.float32), np.zeros((2, 6, 8), np.float32))


def test_a_replayed_run_encodes_the_same_stream_as_the_network(vtest_avi: Path,
                                                               tmp_path: Path) -> None:
    """The first run of a job records, the second replays: the same offsets to the bit (the
    network's maps), so the same video bytes from a single-threaded x264 (its frame and
    lookahead threads can vary a stream under load, docs/qp.md); the replay runs no network."""
    options = DaemonOptions(SourceOptions(str(vtest_avi)), max_frames=12,
                            predictor=PredictorOptions("auto"),
                            outputs=OutputOptions(output=str(tmp_path / "out.mkv"),
                                                  qp_out=str(tmp_path / "qp.ndjson"),
                                                  encoder=encoder_config("h264", threads=1),
                                                  copy_streams=False))
    with FileJob(options) as job:
        first = job.run("pass1", options)
        assert job.recorded == 12
        second = job.run("pass2", replace(options))
        one, two = job.paths("pass1"), job.paths("pass2")
        assert one["qp_out"].read_text() == two["qp_out"].read_text()
        assert len(one["qp_out"].read_text().splitlines()) == 12
        assert video_bytes(one["output"]) == video_bytes(two["output"])
        assert _packets(one["output"]) == _packets(two["output"])
    assert "(replayed)" in second.snapshot()["backend"] and "(replayed)" not in \
        first.snapshot()["backend"]


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def test_a_recorder_past_its_bound_deletes_its_file_and_records_no_more(tmp_path: Path) -> None:
    path = tmp_path / "maps.f32"
    recorder = SaliencyRecorder(path, (6, 8), max_bytes=record_bytes(2, (6, 8)))
    for index in range(2):
        recorder.write_map(MapRecord(index, 0.0, (48, 64), np.zeros((6, 8), np.float32), None))
    assert not recorder.overflowed and recorder.frames == 2 and path.exists()
    recorder.write_dropped(2)
    recorder.write_map(MapRecord(3, 0.0, (48, 64), np.zeros((6, 8), np.float32), None))
    recorder.close()
    assert recorder.overflowed and recorder.frames == 2 and not path.exists()


@pytest.fixture
def unknown_length_clip(tmp_path: Path, ffmpeg_bin: str) -> Path:
    """12 frames in Matroska, which stores no frame count."""
    clip = tmp_path / "clip.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x96:rate=25", "-frames:v", "12", "-c:v", "ffv1",
                    str(clip)], check=True, timeout=60)
    with av.open(str(clip)) as container:
        assert not container.streams.video[0].frames  # the case under test
    return clip


def _options(clip: Path, out: Path) -> DaemonOptions:
    return DaemonOptions(SourceOptions(str(clip)), predictor=PredictorOptions("auto"),
                         outputs=OutputOptions(output=str(out), copy_streams=False))


def test_a_file_of_unknown_length_is_recorded_too(unknown_length_clip: Path,
                                                   tmp_path: Path) -> None:
    """The job records anyway (the recorder's own bound keeps the disk it takes bounded) and
    the next pass replays."""
    options = _options(unknown_length_clip, tmp_path / "out.mkv")
    with FileJob(options) as job:
        job.run("pass1", options)
        assert job.recorded == 12
        second = job.run("pass2", options)
    assert "(replayed)" in second.snapshot()["backend"]


def test_a_recording_past_the_bound_is_not_tried_again(unknown_length_clip: Path,
                                                       tmp_path: Path) -> None:
    """A file that outgrows the bound runs the network on every pass, and only the first pass
    writes (then deletes) a recording."""
    options = _options(unknown_length_clip, tmp_path / "out.mkv")
    with FileJob(options, max_record_bytes=record_bytes(5, (224, 224))) as job:
        first = job.run("pass1", options)
        assert job.recorded is None and not list(job.work.glob("saliency.*"))
        (job.work / "saliency.f32").write_bytes(b"")  # a second recording would delete it
        second = job.run("pass2", options)
        assert (job.work / "saliency.f32").exists()
    assert "(replayed)" not in first.snapshot()["backend"]
    assert "(replayed)" not in second.snapshot()["backend"]
