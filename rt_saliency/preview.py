"""Side-by-side preview of what the pipeline sees and decides: frame | saliency overlay | QP map.

Used by ``rt-saliency run --preview FILE`` and by the demo.  Rendering is a pure function of the
frame, its saliency map and its QP-offset grid; :class:`PreviewWriter` streams the rendered panels
into a video file with PyAV.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from rt_saliency.atomic import AtomicTarget, output_error
from rt_saliency.errors import ConfigError, EncoderError, InputError, RtSaliencyError
from rt_saliency.optional import import_optional

#: panel height of the preview; panels keep the source aspect ratio
DEFAULT_PANEL_HEIGHT = 240

#: preview encoders in order of preference: (codec the container must take, FFmpeg encoder,
#: its options with ``{crf}`` filled in); the first one the target's container takes is used
PREVIEW_CODECS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("h264", "libx264", {"crf": "{crf}", "preset": "veryfast"}),
    ("vp9", "libvpx-vp9", {"crf": "{crf}", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    ("vp8", "libvpx", {"crf": "{crf}", "b": "2M", "deadline": "realtime", "cpu-used": "8"}),
    ("theora", "libtheora", {"q": "7"}),
    ("mpeg4", "mpeg4", {"qscale": "4"}),
)


def preview_codec(supported: set[str], available: set[str], crf: int
                  ) -> tuple[str, dict[str, str]] | None:
    """The encoder and options for a container that takes the codecs ``supported`` (an empty set:
    the container does not say, H.264 is tried), among the encoders ``available``."""
    for codec, encoder, options in PREVIEW_CODECS:
        if (codec in supported or (not supported and codec == "h264")) and encoder in available:
            return encoder, {k: v.format(crf=crf) for k, v in options.items()}
    return None


def _resize(image: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    width, height = size
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=interp)


def saliency_overlay(frame: np.ndarray, saliency: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend a JET-coloured saliency map (any size, values >= 0) over an RGB uint8 frame."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    sal = np.asarray(saliency, dtype=np.float32)
    if sal.ndim != 2:
        raise InputError(f"expected a 2-D saliency map, got shape {sal.shape}")
    height, width = frame.shape[:2]
    sal = _resize(sal, (width, height))
    span = float(sal.max() - sal.min())
    norm = (sal - sal.min()) / span if span > 0 else np.zeros_like(sal)
    heat = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    weight = (alpha * norm)[:, :, None]
    return (frame * (1.0 - weight) + heat * weight).astype(np.uint8)


def qp_heatmap(qp: np.ndarray, size: tuple[int, int], qp_range: float = 8.0) -> np.ndarray:
    """Colour a QP-offset grid: blue = negative (more bits), red = positive; one cell per block."""
    grid = np.asarray(qp, dtype=np.float32)
    if grid.ndim != 2:
        raise InputError(f"expected a 2-D QP grid, got shape {grid.shape}")
    scaled = np.clip(grid / max(qp_range, 1e-6), -1.0, 1.0)
    red = np.where(scaled > 0, scaled, 0.0)
    blue = np.where(scaled < 0, -scaled, 0.0)
    base = 1.0 - np.maximum(red, blue)
    rgb = np.stack([base + red, base, base + blue], axis=-1)
    rgb = (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    return _resize(rgb, size, nearest=True)


def render_preview(
    frame: np.ndarray,
    saliency: np.ndarray,
    qp: np.ndarray,
    qp_range: float = 8.0,
    panel_height: int = DEFAULT_PANEL_HEIGHT,
) -> np.ndarray:
    """One preview image: source frame | saliency overlay | QP heatmap, side by side (RGB uint8)."""
    height, width = frame.shape[:2]
    panel_w = max(2, int(round(width * panel_height / height)) // 2 * 2)
    size = (panel_w, panel_height)
    panels = [
        _resize(frame, size),
        _resize(saliency_overlay(frame, saliency), size),
        qp_heatmap(qp, size, qp_range),
    ]
    gap = np.full((panel_height, 4, 3), 32, dtype=np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


class PreviewWriter:
    """Write preview images to a video file (H.264 via PyAV's own encoder) as they come.

    The file is written under a temporary name and renamed into place by a successful
    :meth:`close` (an earlier preview survives a failed run).  The first failure (disk full,
    encoder error) is raised once, as :class:`OutputError` or :class:`EncoderError`.
    """

    def __init__(self, path: str | Path, fps: float = 25.0, crf: int = 26) -> None:
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self._container = None
        self._stream = None
        self._atomic: AtomicTarget | None = None
        self._error: RtSaliencyError | None = None
        self.frames = 0

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(ok=exc_type is None)

    def _failed(self, exc: BaseException) -> RtSaliencyError:
        """Remember the first failure (as one of ours) and return it."""
        if self._error is None:
            if isinstance(exc, OSError) and getattr(exc, "errno", None):
                self._error = output_error(self.path, exc)
            else:
                self._error = EncoderError(f"preview {self.path}: {exc}")
            self._error.__cause__ = exc
        return self._error

    def _open(self, width: int, height: int) -> None:
        av = import_optional("av")

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._atomic = AtomicTarget(self.path)
            # the format follows the target's extension (the temporary name keeps it)
            try:
                self._container = av.open(str(self._atomic.path), mode="w",
                                          format=None if self._atomic.path.suffix else "mp4")
            except ValueError as exc:  # FFmpeg knows no container by that extension
                self._release()
                raise ConfigError(f"--preview {self.path}: FFmpeg knows no container for "
                                  f"'{self.path.suffix}'; use .mp4, .mkv, .webm or .avi") from exc
            choice = preview_codec(set(self._container.supported_codecs),
                                   set(av.codecs_available), self.crf)
            if choice is None:
                name = self._container.format.name
                self._release()
                raise ConfigError(
                    f"--preview {self.path}: the {name} container takes none of the preview "
                    f"codecs ({', '.join(c for c, _, _ in PREVIEW_CODECS)}); use .mp4, .mkv, "
                    ".webm or .avi")
            encoder, options = choice
            rate = Fraction(self.fps).limit_denominator(1001)
            self._stream = self._container.add_stream(encoder, rate=rate)
            self._stream.width = width - width % 2
            self._stream.height = height - height % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = options
        except (av.FFmpegError, OSError) as exc:
            self._release()
            raise EncoderError(f"cannot open preview file {self.path}: {exc}") from exc

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 image; the first one fixes the video size."""
        av = import_optional("av")

        if self._error is not None:
            raise self._error
        height, width = image.shape[:2]
        if self._container is None:
            self._open(width, height)
        even = np.ascontiguousarray(image[: self._stream.height, : self._stream.width])
        frame = av.VideoFrame.from_ndarray(even, format="rgb24")
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise self._failed(exc) from exc
        self.frames += 1

    def _release(self) -> None:
        """Close the container whatever state it is in (errors already recorded)."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - a second failure of a file already failed
                pass

    def close(self, ok: bool = True) -> None:
        """Flush the encoder, close the file and rename it into place (idempotent); with
        ``ok=False`` or after a failure the earlier file stays and the new one is kept as
        ``PATH.partial``."""
        av = import_optional("av")

        if self._container is None and self._atomic is None:
            return
        first_here: RtSaliencyError | None = None
        if self._container is not None and self._error is None:
            container, self._container = self._container, None
            try:
                for packet in self._stream.encode(None):
                    container.mux(packet)
                container.close()
            except (av.FFmpegError, OSError) as exc:
                first_here = self._failed(exc)
                self._container = container
        self._release()
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            if ok and self._error is None:
                atomic.commit()
            else:
                atomic.discard()
        if first_here is not None:
            raise first_here
