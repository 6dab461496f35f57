"""Video sources behind one interface: files, RTSP, V4L2 cameras, stdin (raw / Y4M), synthetic.

Every source is a context manager with an :attr:`Source.info` (:class:`StreamInfo`) and a
:meth:`Source.frames` generator that yields :class:`Frame` objects numbered 0, 1, 2 ... with
monotonic time stamps.  :func:`open_source` picks the class from the input spec.  Opening checks
the input at once, so a missing file or an unreadable stream is reported before any thread starts.

One module per kind: ``base`` (the interface), ``pyav`` (whatever FFmpeg demuxes), ``rtsp``,
``raw`` (raw and Y4M pipes), ``synth``, ``convert`` (raw pixel formats) and ``uri`` (dispatch).
"""

from rt_saliency.stream.sources.base import MAX_FRAME_PIXELS, Source, check_frame_size
from rt_saliency.stream.sources.convert import RAW_PIX_FMTS
from rt_saliency.stream.sources.pyav import PyAVSource, UrlSource, V4L2Source
from rt_saliency.stream.sources.raw import RawSource, Y4mSource
from rt_saliency.stream.sources.rtsp import RtspSource
from rt_saliency.stream.sources.synth import SynthSource
from rt_saliency.stream.sources.uri import open_source, parse_size

__all__ = [
    "MAX_FRAME_PIXELS",
    "RAW_PIX_FMTS",
    "PyAVSource",
    "RawSource",
    "RtspSource",
    "Source",
    "SynthSource",
    "UrlSource",
    "V4L2Source",
    "Y4mSource",
    "check_frame_size",
    "open_source",
    "parse_size",
]
