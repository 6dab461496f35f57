"""Two-pass ABR of a file (``run --bitrate K --passes 2``), as x264's and x265's users run it.

The first pass writes the codec's statistics (for x264 the frame costs and its macroblock-tree
offsets, which carry the first pass's QP map: in the second pass x264 reads its quantiser
offsets from there); the second reads them and lands on the asked rate far closer than one ABR
pass does.  Both are
daemon runs of one :class:`~rt_saliency.stream.file_job.FileJob`, with the same maps (one
predictor, per-stream state); only the second pass's files are kept, atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from rt_saliency.encode import EncoderConfig
from rt_saliency.errors import ConfigError
from rt_saliency.stream.daemon import DaemonOptions
from rt_saliency.stream.file_job import FileJob, check_file_job
from rt_saliency.stream.pipeline import Pipeline
from rt_saliency.stream.stats import StreamStats

log = logging.getLogger(__name__)


def check_two_pass(options: DaemonOptions) -> EncoderConfig:
    """The encode's settings, or ConfigError unless ``options`` describe an ABR encode of a
    local file."""
    enc = check_file_job(options, "--passes 2")
    if enc.bitrate is None:
        raise ConfigError("--passes 2 is for a bitrate: give --bitrate KBPS (a CRF encode "
                          "needs one pass; --rate-match holds it at plain ffmpeg's bytes)")
    return enc


def encode_two_pass(options: DaemonOptions, *,
                    attach: Callable[[Pipeline], None] | None = None,
                    stopped: Callable[[], bool] = lambda: False) -> StreamStats:
    """Encode ``options``' input in two passes; the second pass's stats are returned."""
    enc = check_two_pass(options)
    with FileJob(options, prefix=".rt-saliency-2pass-", attach=attach, stopped=stopped) as job:
        stats_file = str(job.work / f"{enc.codec}.stats")
        first = replace(options.outputs, encoder=replace(enc, pass_number=1, stats=stats_file),
                        copy_streams=False)
        log.info("pass 1 of 2 (statistics)")
        job.run("pass1", replace(options, outputs=first), fields=("output",))
        second = replace(options.outputs, encoder=replace(enc, pass_number=2, stats=stats_file))
        log.info("pass 2 of 2")
        stats = job.run("pass2", replace(options, outputs=second))
        job.keep("pass2")
    return stats
