"""The guard: with flat offsets our encoders equal plain ``ffmpeg -c:v libx264/libx265``.

Same source (a lossless y4m both read), same options, same thread count: PSNR-Y (FFmpeg's
``psnr`` filter against the source) within 0.05 dB and size within 1 %, and the encoder's own
options line (the SEI x264/x265 write into the stream) the same, so the comparison is like for
like.  Real video (OpenCV's vtest.avi) and FFmpeg's testsrc2; CRF and ABR; 8 and 10 bit.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

av = pytest.importorskip("av")

from rt_saliency.encode import encoder_config, open_encoder  # noqa: E402
from rt_saliency.yuv import ColorInfo, yuv_frame_from_av  # noqa: E402

FRAMES = 24
THREADS = 2
#: y4m chroma siting tags -> H.264/HEVC chroma_sample_loc_type, as FFmpeg's y4m reader maps them
Y4M_CHROMA_LOC = {"C420jpeg": 1, "C420mpeg2": 0, "C420paldv": 2}


def _y4m_chroma_location(path: Path) -> int | None:
    header = path.open("rb").readline().decode("ascii").split()
    return next((Y4M_CHROMA_LOC[t] for t in header if t in Y4M_CHROMA_LOC), None)


@pytest.fixture(scope="module")
def sources(tmp_path_factory, vtest_avi: Path, ffmpeg_bin: str) -> dict[str, Path]:
    """Lossless y4m clips: vtest.avi 8-bit and 10-bit, testsrc2 8-bit."""
    out = tmp_path_factory.mktemp("equivalence")
    made = {}
    for name, inputs, pix in (
        ("vtest8", ["-i", str(vtest_avi)], "yuv420p"),
        ("vtest10", ["-i", str(vtest_avi)], "yuv420p10le"),
        ("testsrc2", ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"], "yuv420p"),
    ):
        path = out / f"{name}.y4m"
        subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", *inputs, "-frames:v",
                        str(FRAMES), "-pix_fmt", pix, "-strict", "-1", str(path)], check=True,
                       timeout=120)
        made[name] = path
    return made


def _ours(src: Path, codec: str, settings: dict, out: Path) -> Path:
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        sar = stream.sample_aspect_ratio
        frames = [yuv_frame_from_av(f) for f in container.decode(stream)]
    first = frames[0]
    color = ColorInfo(range=first.color.range, chroma_location=_y4m_chroma_location(src))
    config = encoder_config(codec, threads=THREADS, **settings)
    with open_encoder(codec, first.width, first.height, rate, config, pixel_format=first.format,
                      color=color, time_base=first.time_base,
                      sample_aspect_ratio=sar) as enc, out.open("wb") as fh:
        for frame in frames:
            for packet in enc.encode(frame):
                fh.write(packet.data)
        for packet in enc.flush():
            fh.write(packet.data)
    return out


def _ffmpeg(ffmpeg_bin: str, src: Path, codec: str, args: list[str], out: Path) -> Path:
    lib, fmt = {"h264": ("libx264", "h264"), "hevc": ("libx265", "hevc")}[codec]
    subprocess.run([ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                    "-c:v", lib, "-threads", str(THREADS), *args, "-f", fmt, str(out)],
                   check=True, timeout=300, capture_output=True)
    return out


def ffmpeg_psnr_y(ffmpeg_bin: str, decoded: Path, src: Path) -> float:
    """FFmpeg's psnr filter, Y of the whole clip; frames paired by index (raw streams carry no
    timestamps)."""
    proc = subprocess.run(
        [ffmpeg_bin, "-hide_banner", "-nostats", "-i", str(decoded), "-i", str(src), "-lavfi",
         "[0:v]settb=AVTB,setpts=N[a];[1:v]settb=AVTB,setpts=N[b];[a][b]psnr", "-f", "null", "-"],
        capture_output=True, text=True, timeout=300, check=True)
    match = re.search(r"PSNR y:([0-9.]+|inf)", proc.stderr)
    assert match, proc.stderr[-800:]
    return float(match.group(1))


def _options_line(path: Path, codec: str) -> list[str]:
    """The options the encoder wrote into its SEI (x264 and x265 both do), minus x265's
    log-level (a console setting: we keep x265 quiet, ffmpeg leaves it at info)."""
    data = path.read_bytes()
    match = re.search(rb"options: ([ -~]+)", data)
    assert match, f"no {codec} options SEI in {path.name}"
    return [o for o in match.group(1).decode().split() if not o.startswith("log-level=")]


CASES = [
    # (source, codec, our settings, ffmpeg args)
    ("vtest8", "h264", {"crf": 23}, ["-preset", "medium", "-crf", "23"]),
    ("vtest8", "h264", {"bitrate": 1000, "crf": None}, ["-preset", "medium", "-b:v", "1000k"]),
    ("testsrc2", "h264", {"crf": 23}, ["-preset", "medium", "-crf", "23"]),
    ("vtest10", "h264", {"crf": 23}, ["-preset", "medium", "-crf", "23"]),
    ("vtest10", "h264", {"bitrate": 1000, "crf": None}, ["-preset", "medium", "-b:v", "1000k"]),
    ("vtest8", "hevc", {"crf": 28, "preset": "fast"}, ["-preset", "fast", "-crf", "28"]),
    ("vtest8", "hevc", {"bitrate": 1000, "crf": None, "preset": "fast"},
     ["-preset", "fast", "-b:v", "1000k"]),
    ("vtest10", "hevc", {"crf": 28, "preset": "fast"}, ["-preset", "fast", "-crf", "28"]),
]


@pytest.mark.parametrize("source,codec,settings,args", CASES,
                         ids=[f"{c[0]}-{c[1]}-{'abr' if 'bitrate' in c[2] else 'crf'}"
                              for c in CASES])
def test_flat_encode_equals_plain_ffmpeg(tmp_path, sources, ffmpeg_bin, source, codec, settings,
                                         args) -> None:
    src = sources[source]
    ext = "h264" if codec == "h264" else "hevc"
    ours = _ours(src, codec, settings, tmp_path / f"ours.{ext}")
    ref = _ffmpeg(ffmpeg_bin, src, codec, args, tmp_path / f"ffmpeg.{ext}")
    assert _options_line(ours, codec) == _options_line(ref, codec)
    size_ours, size_ref = ours.stat().st_size, ref.stat().st_size
    psnr_ours = ffmpeg_psnr_y(ffmpeg_bin, ours, src)
    psnr_ref = ffmpeg_psnr_y(ffmpeg_bin, ref, src)
    print(f"{source} {codec} {settings}: ours {psnr_ours:.3f} dB {size_ours} B, ffmpeg "
          f"{psnr_ref:.3f} dB {size_ref} B, identical={ours.read_bytes() == ref.read_bytes()}")
    assert abs(psnr_ours - psnr_ref) <= 0.05
    assert abs(size_ours / size_ref - 1) <= 0.01


RUN_CASES = [
    # (source, codec, run options, ffmpeg args): the daemon's own `run -o`, a flat map
    ("vtest8", "h264", ["--crf", "23"], ["-preset", "medium", "-crf", "23"]),
    ("vtest8", "h264", ["--bitrate", "1000"], ["-preset", "medium", "-b:v", "1000k"]),
    ("vtest10", "h264", ["--crf", "23"], ["-preset", "medium", "-crf", "23"]),
    ("vtest8", "hevc", ["--crf", "28", "--preset", "fast"], ["-preset", "fast", "-crf", "28"]),
]


@pytest.mark.parametrize("source,codec,options,args", RUN_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2][0][2:]}" for c in RUN_CASES])
def test_run_o_with_a_flat_map_equals_plain_ffmpeg(tmp_path, sources, ffmpeg_bin, source, codec,
                                                   options, args) -> None:
    """`rt-saliency run -o` (decode -> pipeline -> encoder sink -> muxer) with --qp-strength 0
    against `ffmpeg -c:v libx264|libx265` on the same file: the planes reach the codec as
    decoded (no RGB round trip), so PSNR-Y is within 0.05 dB and the size within 1 %."""
    import sys

    src = sources[source]
    ours = tmp_path / "ours.mkv"
    proc = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", str(src), "-o", str(ours),
         "--codec", codec, "--qp-strength", "0", "--backend", "prior", "--encoder-threads",
         str(THREADS), "--no-table", *options], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-800:]
    ref = _ffmpeg(ffmpeg_bin, src, codec, args, tmp_path / f"ffmpeg.{codec}")
    size_ours, size_ref = ours.stat().st_size, ref.stat().st_size
    psnr_ours = ffmpeg_psnr_y(ffmpeg_bin, ours, src)
    psnr_ref = ffmpeg_psnr_y(ffmpeg_bin, ref, src)
    print(f"run -o {source} {codec} {options}: ours {psnr_ours:.3f} dB {size_ours} B, ffmpeg "
          f"{psnr_ref:.3f} dB {size_ref} B")
    assert abs(psnr_ours - psnr_ref) <= 0.05
    # the container adds a few hundred bytes of its own to the raw stream ffmpeg wrote
    assert abs(size_ours / size_ref - 1) <= 0.01
    with av.open(str(ours)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec
        assert stream.codec_context.format.name == ("yuv420p10le" if "10" in source else "yuv420p")



def _video_packets(path: Path) -> tuple[list[float], int]:
    """The video packets' times, sorted, and their bytes, as ffprobe reads them (the audio
    that ``run -o`` copies from the source is left out)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time,size", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split(",")[:2] for line in out.split()]
    return sorted(float(t) for t, _ in rows), sum(int(n) for _, n in rows)


def _run_flat_and_plain(tmp_path: Path, ffmpeg_bin: str, src: Path, frames: int
                        ) -> tuple[Path, Path]:
    """``run -o`` with a flat map and plain ``ffmpeg -c:v libx264``, CRF 23, first frames."""
    import sys

    ours = tmp_path / "ours.mkv"
    proc = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", str(src), "-o", str(ours),
         "--qp-strength", "0", "--backend", "prior", "--encoder-threads", str(THREADS),
         "--no-table", "--crf", "23", "--max-frames", str(frames)], capture_output=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-800:]
    ref = tmp_path / "ffmpeg.mkv"
    subprocess.run([ffmpeg_bin, "-v", "error", "-i", str(src), "-frames:v", str(frames),
                    "-an", "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-threads",
                    str(THREADS), str(ref)], check=True, timeout=120)
    return ours, ref


def test_run_o_keeps_ffmpegs_timeline_on_a_file_muxed_with_pts_equal_to_dts(tmp_path,
                                                                             ffmpeg_bin) -> None:
    """Some files (box.mp4 of OpenCV's samples) have B-frames but were muxed with pts = dts, so
    the decoder hands out frames whose pts jump back and forth.  FFmpeg's best-effort time
    stamp falls back on the rising dts; so must we, or the timeline stretches (each jump back
    pushed the clock on) and the encode of the same frames cost 2.2x plain ffmpeg's bytes."""
    good = tmp_path / "bframes.mp4"
    subprocess.run([ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-frames:v", "40", "-c:v", "libx264",
                    "-preset", "veryfast", "-bf", "3", str(good)], check=True, timeout=60)
    bad = tmp_path / "pts_is_dts.mp4"
    with av.open(str(good)) as inp, av.open(str(bad), "w") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            packet.pts = packet.dts
            packet.stream = copy
            out.mux(packet)
    with av.open(str(bad)) as container:
        decoded = [f.pts for f in container.decode(video=0)]
    assert decoded != sorted(decoded)  # the flaw is really there
    # (the frames the decoder flushes at the end have no dts: ffmpeg drops one of them whose
    # pts goes back, we keep it; so both stop before them)
    ours, ref = _run_flat_and_plain(tmp_path, ffmpeg_bin, bad, 36)
    (times, size), (ref_times, ref_size) = _video_packets(ours), _video_packets(ref)
    assert times == pytest.approx(ref_times, abs=0.0015)
    assert abs(size / ref_size - 1) <= 0.01
    assert abs(ffmpeg_psnr_y(ffmpeg_bin, ours, bad) - ffmpeg_psnr_y(ffmpeg_bin, ref, bad)) <= 0.05


def test_run_o_keeps_ffmpegs_timeline_on_packed_b_frames(tmp_path, ffmpeg_bin,
                                                         megamind_avi) -> None:
    """DivX AVI with packed B-frames (OpenCV's Megamind.avi) has no pts on most packets.  PyAV
    asks the demuxer to invent them (GENPTS), and the invented ones do not follow the packed
    frames; ffmpeg leaves them missing and takes the dts.  So do we: the same time stamps and
    the same bytes as plain ffmpeg with a flat map."""
    ours, ref = _run_flat_and_plain(tmp_path, ffmpeg_bin, megamind_avi, 30)
    (times, size), (ref_times, ref_size) = _video_packets(ours), _video_packets(ref)
    assert times == pytest.approx(ref_times, abs=0.0015)
    assert abs(size / ref_size - 1) <= 0.01


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_run_o_two_pass_with_a_flat_map_equals_plain_ffmpeg_two_pass(tmp_path, sources,
                                                                      ffmpeg_bin, codec) -> None:
    """`run --bitrate 1000 --passes 2` (flat map) against plain ffmpeg's two passes (libx264:
    `-pass 1` then `-pass 2`, its fast first pass in both; libx265: `pass=1|2:stats=`):
    PSNR-Y within 0.05 dB, video bytes (headers included) within 1 %."""
    import sys

    src = sources["vtest8"]
    ours = tmp_path / "ours.mkv"
    proc = subprocess.run(
        [sys.executable, "-m", "rt_saliency", "-q", "run", "-i", str(src), "-o", str(ours),
         "--codec", codec, "--bitrate", "1000", "--passes", "2", "--qp-strength", "0",
         "--backend", "prior", "--encoder-threads", str(THREADS), "--no-table"],
        capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-800:]
    ref, log = tmp_path / "ffmpeg.mkv", tmp_path / "passlog"
    common = ["-v", "error", "-y", "-i", str(src), "-preset", "medium", "-b:v", "1000k",
              "-threads", str(THREADS)]
    if codec == "h264":
        passes = [[*common, "-c:v", "libx264", "-passlogfile", str(log), "-pass", str(n)]
                  for n in (1, 2)]
    else:
        passes = [[*common, "-c:v", "libx265", "-x265-params",
                   f"log-level=error:pass={n}:stats={log}"] for n in (1, 2)]
    subprocess.run([ffmpeg_bin, *passes[0], "-f", "null", "-"], check=True, timeout=300)
    subprocess.run([ffmpeg_bin, *passes[1], str(ref)], check=True, timeout=300)
    size, ref_size = _stream_bytes(ours), _stream_bytes(ref)
    assert abs(size / ref_size - 1) <= 0.01
    assert abs(ffmpeg_psnr_y(ffmpeg_bin, ours, src) - ffmpeg_psnr_y(ffmpeg_bin, ref, src)) <= 0.05


def _stream_bytes(path: Path) -> int:
    """The video stream's packets and out-of-band headers (muxers differ in where headers go)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return len(stream.codec_context.extradata or b"") + sum(
            p.size for p in container.demux(stream) if p.size)
