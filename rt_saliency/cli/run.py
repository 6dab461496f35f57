"""``rt-saliency run``: the streaming daemon -- one QP-offset map per input frame.

Exit status (see ``rt_saliency/cli/__init__.py``): 0 the stream ended (or SIGINT/SIGTERM
drained it cleanly, however many times it came); 1 a run-time failure (backend, encoder, lost RTSP
stream, full disk); 2 a bad option or input (missing file, unreadable or empty video); 130 the
drain after a signal outlasted --drain-timeout (outputs are finished with the maps made so far).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from rt_saliency.atomic import write_text
from rt_saliency.cli.encoder_options import add_encoder_arguments, encoder_config_from_args
from rt_saliency.cli.qp_options import add_qp_arguments, qp_config_from_args
from rt_saliency.encode import EncoderConfig
from rt_saliency.encode.mux import FORMATS
from rt_saliency.errors import (
    ConfigError,
    DrainTimeoutError,
    InputError,
    OutputError,
    PipelineError,
    RtSaliencyError,
)
from rt_saliency.model.pretrained import DEFAULT_PRETRAINED, PRETRAINED
from rt_saliency.qp import QPConfig
from rt_saliency.runtime.registry import BACKENDS, PRECISIONS
from rt_saliency.spec import DEFAULT_FLOW_MAPS, DEFAULT_LOOKAHEAD
from rt_saliency.stream.daemon import (
    FIXED_SIZE_MAP_FORMATS,
    Daemon,
    DaemonOptions,
    OutputOptions,
    PredictorOptions,
    SourceOptions,
)
from rt_saliency.stream.pipeline import DEFAULT_RING_BYTES
from rt_saliency.stream.rate_match import PlainEncodeError, check_rate_matchable, match_rate
from rt_saliency.stream.shutdown import Shutdown
from rt_saliency.stream.sources import parse_size
from rt_saliency.stream.two_pass import encode_two_pass

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _rate(text: str) -> float:
    """A frame rate as FFmpeg writes it: ``25``, ``29.97`` or ``30000/1001``."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"must be a frame rate such as 25, 29.97 or 30000/1001, got {text!r}") from None
    if not 0 < value < 1000:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1000 fps, got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="stream a file, RTSP URL, camera or pipe and emit per-frame QP-offset maps",
        description="Predict saliency on a video stream and emit one QP-offset map per frame "
        "(NDJSON), optionally encoding a saliency-guided H.264 file. See docs/stream.md.",
    )
    src = p.add_argument_group("input")
    src.add_argument("-i", "--input", required=True,
                     help="file, rtsp://..., /dev/videoN, '-' (Y4M or raw on stdin) or "
                     "synth://WxH?frames=N&fps=F&live=0|1")
    src.add_argument("--input-format", default=None,
                     help="FFmpeg demuxer; 'rawvideo' for raw frames (needs --size, --pix-fmt)")
    src.add_argument("--size", default=None, help="WxH of raw frames (or a camera mode)")
    src.add_argument("--pix-fmt", default="rgb24", choices=("rgb24", "yuv420p"),
                     help="pixel format of raw frames (default rgb24)")
    src.add_argument("--fps", type=_rate, default=None,
                     help="frame rate of raw frames / camera: 25, 29.97 or 30000/1001")
    src.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                     help="drop the oldest frames under overload (default: on for RTSP and "
                     "cameras, off for files and pipes, which never drop)")
    src.add_argument("--realtime", action="store_true",
                     help="read a file or pipe at its own frame rate (as ffmpeg -re) but never "
                     "drop: the service latency a live source of that rate would see")
    src.add_argument("--max-frames", type=_positive_int, default=None,
                     help="stop after reading N frames")
    src.add_argument("--open-timeout", type=_seconds, default=5.0, help="RTSP open timeout (s)")
    src.add_argument("--read-timeout", type=_seconds, default=5.0, help="RTSP read timeout (s)")
    src.add_argument("--reconnect-timeout", type=_seconds, default=30.0,
                     help="give up an RTSP stream after failing to reconnect for this long "
                     "(s; 0 = never reconnect)")
    model = p.add_argument_group("model")
    model.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="inference backend; without --weights/--engine-dir the network backends "
                       "serve the TP-CMRNet weights shipped in the package (gaze-trained); "
                       "'prior' is the training-free prior")
    model.add_argument("--weights", default=None,
                       help="TP-CMRNet checkpoint (.pt), or the name of a set shipped in the "
                       f"package ({', '.join(PRETRAINED)}; default: {DEFAULT_PRETRAINED})")
    model.add_argument("--prior-faces", action=argparse.BooleanOptionalAction, default=True,
                       help="the prior's face term (--backend prior; default on)")
    model.add_argument("--threads", type=_positive_int, default=None,
                       help="intra-op threads of each ONNX Runtime / torch session (default: the "
                       "backend's; 1 suits 2-core machines, where encoder and head run in "
                       "parallel)")
    model.add_argument("--precision", choices=PRECISIONS, default=None,
                       help="tensorrt: the engines' precision (default fp32); onnxruntime: int8 "
                       "serves the INT8 encoder (of --engine-dir, or shipped with the weights: "
                       "the CPU default for them), fp32 the FP32 graphs")
    model.add_argument("--engine-dir", "--engine", dest="engine_dir", default=None,
                       help="folder with exported ONNX graphs / TensorRT engines (the encoder "
                       "and head graphs travel together, so this names their folder)")
    model.add_argument("--flow-maps", type=_positive_int, default=None,
                       help="S, stacked flow maps (default: the backend's own -- the network's "
                       f"from its weights/graphs, normally {DEFAULT_FLOW_MAPS}; 1 for the prior, "
                       "which only uses F^t)")
    model.add_argument("--lookahead", type=_non_negative_int, default=DEFAULT_LOOKAHEAD,
                       help=f"L, head lookahead in frames (default {DEFAULT_LOOKAHEAD}; "
                       "0 and a small S for low latency)")
    out = p.add_argument_group("output")
    out.add_argument("--qp-out", default=None,
                     help="QP maps to PATH ('-': stdout, NDJSON only); see --qp-format")
    out.add_argument("--qp-format", default="ndjson",
                     choices=("ndjson", "npy", "kvazaar", "svtav1"),
                     help="ndjson: one JSON line a frame (default); npy: a folder of .npy grids; "
                     "kvazaar: a --roi .bin file; svtav1: a --roi-map-file (docs/qp.md)")
    out.add_argument("-o", "--output", default=None,
                     help="saliency-guided encode of the input (.mp4/.mkv/.ts; --codec h264|hevc); "
                     "a file's CRF encode is held at plain ffmpeg's bytes (--rate-match)")
    out.add_argument("--format", dest="output_format", default=None, choices=FORMATS,
                     help="container of -o (default: from its extension); a URL needs one: "
                     "mpegts for udp:// tcp:// srt://, flv for rtmp://")
    out.add_argument("--copy-streams", action=argparse.BooleanOptionalAction, default=True,
                     help="copy the input file's audio (and, into .mkv, subtitle) streams into "
                     "-o unchanged (default on)")
    out.add_argument("--preview", default=None, metavar="FILE",
                     help="side-by-side preview video: frame | saliency overlay | QP heatmap")
    add_qp_arguments(p)
    add_encoder_arguments(p)
    match = p.add_argument_group("several passes over a file (docs/stream.md)")
    match.add_argument("--passes", type=int, choices=(1, 2), default=1,
                       help="2: two-pass ABR of a file with --bitrate (x264 or x265), as their "
                       "users run it: the rate lands on target far closer than in one pass")
    match.add_argument("--rate-match", nargs="?", choices=("auto", "on", "off"), const="on",
                       default="auto",
                       help="hold -o at the video bytes of plain ffmpeg at the same CRF and "
                       "settings: one plain encode, then guided passes whose QP bias is moved "
                       "until the bytes are within --rate-tolerance (about 2x a run's time). "
                       "auto (default): for a CRF encode of a local file into files with a map "
                       "that is not flat, else one pass; on (or the bare option): that, or an "
                       "error; off: one pass, its bytes from the rate model alone (docs/qp.md)")
    match.add_argument("--rate-tolerance", type=float, default=2.0, metavar="PERCENT",
                       help="how close to plain ffmpeg's video bytes (default 2 %%)")
    match.add_argument("--rate-passes", type=_positive_int, default=4,
                       help="at most this many guided passes; the closest is kept (default 4)")
    out.add_argument("--stats", default=None, help="write run statistics as JSON to FILE")
    out.add_argument("--metrics-port", type=int, default=None,
                     help="serve Prometheus metrics on this port (0 = any free port)")
    out.add_argument("--metrics-host", default="127.0.0.1",
                     help="address for --metrics-port (default 127.0.0.1)")
    out.add_argument("--ring-size", type=_positive_int, default=8,
                     help="capacity of each ring buffer between stages, in frames")
    out.add_argument("--ring-mb", type=_positive_int, default=DEFAULT_RING_BYTES >> 20,
                     help="and in MiB of frame data: a large frame passes alone, so memory "
                     f"stays bounded at any size (default {DEFAULT_RING_BYTES >> 20})")
    out.add_argument("--no-table", action="store_true", help="do not print the stats table")
    out.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr for inputs with a known frame count (default: "
                     "on when stderr is a terminal)")
    out.add_argument("--drain-timeout", type=_seconds, default=10.0,
                     help="after SIGINT/SIGTERM, seconds to finish the frames already read "
                     "before stopping at once (default 10; repeated signals change nothing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the input, the predictor and the sinks; stream until the end or a signal."""
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise ConfigError(f"--metrics-port must be 0..65535, got {args.metrics_port}")
    if args.qp_out is None and args.output is None and args.preview is None:
        log.info("no --qp-out or -o given: maps are computed and only the stats are reported")
    if args.qp_out == "-" and args.output == "-":
        raise ConfigError("-o - and --qp-out - would both write to stdout: send one of them to "
                          "a file (or a named pipe)")
    if args.qp_out == "-" and args.qp_format != "ndjson":
        raise ConfigError(f"--qp-format {args.qp_format} writes files: give --qp-out PATH")
    if args.stats and not Path(args.stats).resolve().parent.is_dir():
        raise ConfigError(f"--stats: folder {Path(args.stats).parent} does not exist")
    size = parse_size(args.size) if args.size else None
    qp_config = qp_config_from_args(args)

    options = daemon_options(args, size, qp_config)
    job = _choose_job(args, options)
    report: list[Any] = []  # the run's StreamStats, reported after the outputs are closed
    failed = True
    try:
        drained = job(args, options, report)
        failed = False
    except PipelineError as exc:
        cause = exc.__cause__
        if isinstance(cause, BrokenPipeError):  # `run --qp-out - | head`: reader left
            raise cause from None
        if isinstance(cause, RtSaliencyError):
            exc.exit_code = cause.exit_code  # a bad input found mid-stream is still exit 2
        raise
    finally:
        if report:
            _report(report[0], args, failed, *report[1:])
    if not drained:
        snap = report[0].snapshot()
        raise DrainTimeoutError(
            f"stopped: the drain after the signal outlasted --drain-timeout {args.drain_timeout:g} "
            f"s; the outputs hold the {snap['maps_out']} maps made of {snap['frames_in']} frames")
    return 0


Job = Callable[[argparse.Namespace, DaemonOptions, list[Any]], bool]


def _choose_job(args: argparse.Namespace, options: DaemonOptions) -> Job:
    """One pass, two passes or rate matching, as ``--passes`` and ``--rate-match`` ask: the
    default (``auto``) rate matches whatever can be (a CRF encode of a local file into files,
    a map that is not flat) and runs the rest in one pass."""
    if args.passes == 2:
        if args.rate_match == "on":
            raise ConfigError("--rate-match is for CRF, --passes 2 for a bitrate: choose one")
        return _two_pass
    if args.rate_match == "on":
        return _rate_matched
    if args.rate_match == "off" or options.outputs.output is None:
        return _stream
    try:
        check_rate_matchable(options)
    except ConfigError as exc:
        log.info("one pass, not rate matched: %s", exc)
        return _stream
    if shutil.which("ffmpeg") is None:
        log.warning("no ffmpeg command on PATH for the plain reference encode: -o is encoded in "
                    "one pass, its bytes from the rate model alone (apt-get install ffmpeg, or "
                    "--rate-match off to say so)")
        return _stream
    return _rate_matched_or_one_pass


def _rate_matched_or_one_pass(args: argparse.Namespace, options: DaemonOptions,
                              report: list[Any]) -> bool:
    """``--rate-match auto`` on a file it can match: rate matched, or in one pass where plain
    ffmpeg cannot encode the source (nothing to match; said in a warning)."""
    try:
        return _rate_matched(args, options, report)
    except PlainEncodeError as exc:
        if not isinstance(exc.__cause__, InputError):  # a bad input: the one pass reports it
            log.warning("%s: -o is encoded in one pass, not rate matched", exc)
    return _stream(args, options, report)


def daemon_options(args: argparse.Namespace, size: tuple[int, int] | None,
                   qp_config: QPConfig) -> DaemonOptions:
    """The daemon the command line describes."""
    return DaemonOptions(
        source=SourceOptions(
            args.input, input_format=args.input_format, size=size, pix_fmt=args.pix_fmt,
            fps=args.fps, live=args.live, realtime=args.realtime,
            open_timeout=args.open_timeout,
            read_timeout=args.read_timeout, reconnect_timeout=args.reconnect_timeout),
        predictor=PredictorOptions(
            args.backend, weights=args.weights, engine_dir=args.engine_dir,
            flow_maps=args.flow_maps, lookahead=args.lookahead, threads=args.threads,
            prior_faces=args.prior_faces, precision=args.precision),
        outputs=OutputOptions(
            qp_out=args.qp_out, qp_format=args.qp_format, output=args.output,
            output_format=args.output_format,
            codec=args.codec,
            encoder=_encoder_config(args) if args.output is not None else None,
            copy_streams=args.copy_streams, preview=args.preview,
            progress=sys.stderr.isatty() if args.progress is None else args.progress),
        qp=qp_config, ring_size=args.ring_size, ring_bytes=args.ring_mb << 20, max_frames=args.max_frames,
        metrics_port=args.metrics_port, metrics_host=args.metrics_host)


def _stream(args: argparse.Namespace, options: DaemonOptions, report: list[Any]) -> bool:
    """Assemble the daemon and run it (``report`` receives the stats).  False when a signal's
    drain timed out (the outputs are finished with what was done)."""
    with contextlib.ExitStack() as stack:
        # first: signals are handled (idempotently) until every output below is closed
        shutdown = stack.enter_context(Shutdown(args.drain_timeout))
        daemon = Daemon(options)
        try:
            stack.enter_context(daemon)
        finally:
            if daemon.stats is not None:
                report.append(daemon.stats)
        assert daemon.pipeline is not None
        shutdown.attach(daemon.pipeline)
        daemon.run()
        shutdown.finished()
    _check_size(daemon.pipeline.size_change)
    return not shutdown.timed_out


def _check_size(change: tuple[int, tuple[int, int], tuple[int, int]] | None) -> None:
    """InputError where the input changed size (the outputs are closed, whole, with the frames
    before it)."""
    if change is not None:
        index, (w0, h0), (w1, h1) = change
        raise InputError(f"the input changed size at frame {index} ({w0}x{h0} -> {w1}x{h1}); "
                          f"-o, --preview and {'/'.join(FIXED_SIZE_MAP_FORMATS)} map files hold one "
                          f"size, so they end with frame {index - 1} (run again per size, or "
                          "use --qp-out with NDJSON alone)")


def _two_pass(args: argparse.Namespace, options: DaemonOptions, report: list[Any]) -> bool:
    """``--passes 2``: the daemon over the file twice, the second pass's files kept."""
    with Shutdown(args.drain_timeout) as shutdown:
        stats = encode_two_pass(options, attach=shutdown.attach,
                                stopped=shutdown.requested.is_set)
        shutdown.finished()
    report.append(stats)
    return True


def _rate_matched(args: argparse.Namespace, options: DaemonOptions, report: list[Any]) -> bool:
    """``--rate-match``: the daemon run pass by pass until -o has plain ffmpeg's bytes."""
    with Shutdown(args.drain_timeout) as shutdown:
        result = match_rate(options,
                            tolerance=args.rate_tolerance / 100.0,
                            max_passes=args.rate_passes, attach=shutdown.attach,
                            stopped=shutdown.requested.is_set)
        shutdown.finished()
    if result.stats is not None:
        report.extend([result.stats, result.as_dict()])
    enc = options.outputs.encoder
    assert enc is not None
    verdict = "within" if result.matched else "NOT within"
    if not getattr(args, "quiet", False):
        print(f"rate match: {len(result.passes)} pass(es); -o has {result.kept.video_bytes:,} "
              f"video bytes, {100 * result.change:+.2f} % against plain ffmpeg {enc.codec} CRF "
              f"{enc.crf:g} ({result.reference_bytes:,}), {verdict} {args.rate_tolerance:g} %; "
              f"QP bias {result.kept.bias:+.3f} (reuse: --qp-rate-bias {result.kept.bias:.3f})",
              file=sys.stderr)
    _check_size(result.size_change)
    return True


def _report(stats: Any, args: argparse.Namespace, failed: bool,
            rate_match: dict[str, Any] | None = None) -> None:
    """Write --stats (with the rate match's passes, if any) and print the table once every
    output is closed.  After a failed run a stats file that cannot be written is only a
    warning: the run's own error is reported."""
    if args.stats:
        try:
            if rate_match is None:
                stats.write_json(args.stats)
            else:
                write_text(args.stats, json.dumps({**stats.snapshot(), "rate_match": rate_match},
                                                  indent=2) + "\n")
        except OutputError as exc:
            if not failed:
                raise
            log.warning("%s", exc)
    if not args.no_table and not getattr(args, "quiet", False):
        print(stats.table(), file=sys.stderr)


def _encoder_config(args: argparse.Namespace) -> EncoderConfig:
    if args.block != 16:
        raise ConfigError("-o needs --block 16 (one offset per 16x16 block)")
    return encoder_config_from_args(args)
