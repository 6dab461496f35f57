"""Saliency -> per-block QP offsets: pooling to the encoder's block grid and the offset mapping.

Conventions (docs/architecture.md): a grid of ``ceil(H/b) x ceil(W/b)`` float32 offsets for a
source frame of ``H x W``; negative means better quality (a lower QP).  Everything here is pure
and vectorised except :class:`QPMapper`, which adds temporal smoothing across frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.qp.aq import ac_energy, variance_aq_offsets

MODES: tuple[str, ...] = ("log", "linear")
#: how a frame's offsets are centred before the clamp (see :class:`QPConfig`)
CENTRES: tuple[str, ...] = ("rate", "mean", "none")
#: QP steps that double the quantiser step in H.264/HEVC, hence roughly halve a block's bits
QP_PER_OCTAVE = 6.0
#: the CRF whose constants an encode without one (ABR, 2-pass, or maps alone) takes: the
#: default CRF of ``run -o`` for both codecs
DEFAULT_CRF = 23.0


@dataclass(frozen=True)
class RateModel:
    """How the rate centring models a codec's bits: a block's bits halve every ``octave`` QP
    steps of its offset, and its share of the frame's bits is its change since the previous
    frame plus a *base share* times the mean change (:func:`block_activity`), given as
    ``(CRF, share)`` points interpolated in log(share) between them, constant outside.
    """

    octave: float
    shares: tuple[tuple[float, float], ...]
    #: the codec's own variance-AQ strength when its AQ is modelled (:mod:`rt_saliency.qp.aq`:
    #: x264's mode 1 at 1.0), so that another AQ strength under a map (``--qp-aq-strength``)
    #: is priced block by block; None: not modelled
    codec_aq_strength: float | None = None

    def base_share(self, crf: float | None = None) -> float:
        """The base share at ``crf`` (``None``: :data:`DEFAULT_CRF`)."""
        x = DEFAULT_CRF if crf is None else float(crf)
        crfs = [c for c, _ in self.shares]
        logs = [math.log(v) for _, v in self.shares]
        return float(math.exp(np.interp(x, crfs, logs)))


#: per codec (its ``--codec`` name), fitted by ``benchmarks/rate_neutrality.py`` on real clips
#: other than the one it is measured on, so that the default map costs what a flat map costs at
#: equal CRF in the median over those clips (docs/qp.md has the figures and the spread)
RATE_MODELS: dict[str, RateModel] = {
    "h264": RateModel(QP_PER_OCTAVE, ((23.0, 0.709), (28.0, 0.328), (33.0, 0.361)),
                      codec_aq_strength=1.0),
    # x265's bits answer its quantOffsets about twice as steeply (fitted: 3 QP an octave)
    "hevc": RateModel(3.0, ((23.0, 0.426), (28.0, 0.128), (33.0, 0.068))),
}
BASE_SHARE = RATE_MODELS["h264"].base_share()

#: the encoder's AQ strength under a map that is not flat, by default (``QPConfig.aq_strength``
#: ``"auto"``), per codec: x264's 0.25 with strength 1.5 was chosen on the gaze-image
#: *validation* split (``benchmarks/results/2026-12-04-qp-sweep-gaze-val/``: the setting that
#: meets EWPSNR BD-rate <= -15 % at PSNR BD-rate <= +10 % against the strongest plain x264
#: there); x265's AQ is neither modelled nor measured under a map, so it keeps its own
MAP_AQ_STRENGTHS: dict[str, float] = {"h264": 0.25}


def rate_model(codec: str) -> RateModel:
    """The rate model of ``codec`` (x264's for one not in :data:`RATE_MODELS`)."""
    return RATE_MODELS.get(codec, RATE_MODELS["h264"])


@dataclass(frozen=True)
class QPConfig:
    """How saliency becomes QP offsets.

    * ``mode="log"``: ``offset = -strength * log2(s / mean(s))`` -- a block twice as salient as
      the frame's mean gets ``-strength`` (x264: 6 QP steps double the quantiser step).
    * ``mode="linear"``: ``offset = -strength * (s - mean(s)) / mean(s)``.

    ``s`` is the block's pooled saliency raised to at least ``floor`` (keeps the log finite and
    caps the penalty of blocks nobody looks at).  ``centre`` shifts each frame's offsets, then
    they are clamped to ``[qp_min, qp_max]``:

    * ``"rate"`` (default): the shift that makes the weighted mean of ``2^(-offset/k)`` one
      after the clamp -- with a block's bits roughly halving every ``k`` QP (``rate_octave``),
      the frame aims at the bits a flat map gets at the same CRF (in the median over real
      clips; one clip can land 10-20 % away, docs/qp.md).  The weights are each block's share
      of the bits (:func:`block_activity`: what changed since the previous frame, which is
      what a P-frame pays for); without them every block counts the same.
    * ``"mean"``: mean offset zero (spends more bits than flat: the salient blocks' savings
      are worth less than the background's cost).
    * ``"none"``: the mapping as is (``offset 0`` where saliency equals the frame's mean).

    ``temporal_alpha`` is used by :class:`QPMapper` only: the weight of the
    previous frame's offsets in an exponential moving average (0 = no smoothing).

    ``base_share`` and ``rate_octave``: the rate centring's bit-share constant
    (:func:`block_activity`) and the QP steps that halve a block's bits; ``None``: the codec's
    :class:`RateModel` at the encode's CRF, resolved by :meth:`for_codec` where the encoder is
    known (the daemon, ``compare``), x264's where it is not.  ``rate_bias``: aim at the bits
    of a flat map that many QP higher (``None``: 0; a measurement knob,
    ``benchmarks/rate_neutrality.py --biases``).
    ``aq_change``: the encoder's AQ strength under the map minus the codec's own, priced block
    by block from the picture's AC energy (:mod:`rt_saliency.qp.aq`) when :class:`QPMapper` is
    given the planes the encoder codes; resolved by :meth:`for_codec` (0: nothing to price).

    ``aq_strength``: the encoder's variance-AQ strength under a map that is not flat, when the
    user sets none: a number, ``None`` (the codec's own) or ``"auto"`` (the default: the
    codec's entry in :data:`MAP_AQ_STRENGTHS`, else its own; :meth:`aq_strength_for`); for
    x264 the rate centring prices the change block by block (``aq_change``).  The defaults,
    strength 1.5 and x264's AQ strength 0.25 under the map, were chosen together on the
    gaze-image validation split (``benchmarks/qp_sweep.py``, docs/encoding.md); the test split
    was scored after.
    """

    block: int = 16
    mode: str = "log"
    strength: float = 1.5
    qp_min: float = -8.0
    qp_max: float = 8.0
    centre: str = "rate"
    floor: float = 0.02
    temporal_alpha: float = 0.0
    aq_strength: float | str | None = "auto"
    base_share: float | None = None
    rate_octave: float | None = None
    rate_bias: float | None = None
    aq_change: float | None = None

    def __post_init__(self) -> None:
        if self.block not in (8, 16, 32, 64):
            raise ConfigError(f"block must be 8, 16, 32 or 64, got {self.block}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.centre not in CENTRES:
            raise ConfigError(f"centre must be one of {CENTRES}, got {self.centre!r}")
        if not math.isfinite(self.strength) or self.strength < 0:
            raise ConfigError(f"strength must be a finite number >= 0, got {self.strength}")
        if not (self.qp_min <= 0 <= self.qp_max):
            raise ConfigError(f"clamp range must contain 0, got [{self.qp_min}, {self.qp_max}]")
        if not (0.0 < self.floor < 1.0):
            raise ConfigError(f"floor must be in (0, 1), got {self.floor}")
        if not (0.0 <= self.temporal_alpha < 1.0):
            raise ConfigError(f"temporal_alpha must be in [0, 1), got {self.temporal_alpha}")
        if self.aq_strength is not None and self.aq_strength != "auto" and not (
                isinstance(self.aq_strength, (int, float)) and math.isfinite(self.aq_strength)
                and self.aq_strength > 0):
            raise ConfigError(f"aq_strength must be > 0, None (the codec's own) or 'auto', got "
                              f"{self.aq_strength!r}")
        if self.base_share is not None and not (math.isfinite(self.base_share)
                                                and self.base_share > 0):
            raise ConfigError(f"base_share must be > 0 (or None), got {self.base_share}")
        if self.rate_octave is not None and not (math.isfinite(self.rate_octave)
                                                 and self.rate_octave > 0):
            raise ConfigError(f"rate_octave must be > 0 (or None), got {self.rate_octave}")
        if self.rate_bias is not None and not math.isfinite(self.rate_bias):
            raise ConfigError(f"rate_bias must be finite (or None), got {self.rate_bias}")
        if self.aq_change is not None and not math.isfinite(self.aq_change):
            raise ConfigError(f"aq_change must be finite (or None), got {self.aq_change}")

    def aq_strength_for(self, codec: str) -> float | None:
        """The AQ strength under a map for ``codec`` (``h264``/``hevc``): ``None`` keeps the
        codec's own."""
        if self.aq_strength == "auto":
            return MAP_AQ_STRENGTHS.get(codec)
        return None if self.aq_strength is None else float(self.aq_strength)

    def for_codec(self, codec: str, crf: float | None = None, *, aq_mode: int | None = None,
                  encoder_aq_strength: float | None = None) -> QPConfig:
        """This mapping for an encode with ``codec`` (``h264``/``hevc``) at ``crf`` (``None``:
        a rate-controlled encode): the AQ strength under the map resolved, the codec's rate
        centring constants unless set, and the AQ change to price: none when the user fixed
        the encoder's ``--aq-strength`` (the map then leaves it alone) or chose an AQ mode
        other than the modelled one (x264's 1)."""
        model = rate_model(codec)
        aq_strength = self.aq_strength_for(codec)
        modelled = (model.codec_aq_strength is not None and aq_strength is not None
                    and self.strength != 0 and aq_mode in (None, 1)
                    and encoder_aq_strength is None)
        return replace(
            self, aq_strength=aq_strength,
            base_share=model.base_share(crf) if self.base_share is None else self.base_share,
            rate_octave=model.octave if self.rate_octave is None else self.rate_octave,
            aq_change=(self.aq_change if self.aq_change is not None else
                       aq_strength - model.codec_aq_strength if modelled else 0.0))

    def to_dict(self) -> dict:
        return asdict(self)


def grid_shape(frame_size: tuple[int, int], block: int = 16) -> tuple[int, int]:
    """(rows, cols) = (ceil(H/b), ceil(W/b)) of the block grid for a frame of (H, W)."""
    height, width = int(frame_size[0]), int(frame_size[1])
    if height <= 0 or width <= 0:
        raise InputError(f"frame size must be positive, got {height}x{width} (HxW)")
    return -(-height // block), -(-width // block)


@lru_cache(maxsize=64)
def _area_matrix(src: int, dst_pixels: int, block: int) -> np.ndarray:
    """(cells, src) weights: the area average over source-map pixels of each block's span.

    Block ``i`` covers frame pixels ``[i*b, min((i+1)*b, N))``; in source-map coordinates that
    is the interval scaled by ``src / N``.  Each source pixel ``k`` covers ``[k, k+1)``.
    """
    cells = -(-dst_pixels // block)
    starts = np.arange(cells, dtype=np.float64) * block
    ends = np.minimum(starts + block, dst_pixels)
    scale = src / dst_pixels
    lo, hi = (starts * scale)[:, None], (ends * scale)[:, None]
    k = np.arange(src, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(k + 1, hi) - np.maximum(k, lo), 0.0, None)
    weights = overlap / overlap.sum(axis=1, keepdims=True)
    weights.setflags(write=False)
    return weights.astype(np.float32)


def pool_blocks(saliency: np.ndarray, frame_size: tuple[int, int], block: int = 16) -> np.ndarray:
    """Mean saliency per block of the source frame's grid, float32 (ceil(H/b), ceil(W/b)).

    ``saliency`` may have any resolution (e.g. the network's 224x224); it is treated as covering
    the whole frame, and each block gets the exact area average of the map over the block's
    part of the frame (edge blocks average only the pixels inside the frame).
    """
    sal = np.asarray(saliency)
    if sal.ndim == 3 and sal.shape[0] == 1:
        sal = sal[0]
    if sal.ndim != 2 or sal.size == 0:
        raise InputError(f"saliency must be a 2-D (H, W) map, got shape {sal.shape}")
    if block <= 0:
        raise ConfigError(f"block must be positive, got {block}")
    height, width = int(frame_size[0]), int(frame_size[1])
    grid_shape((height, width), block)  # validates the size
    sal = sal.astype(np.float32, copy=False)
    if not np.isfinite(sal).all():
        raise InputError("saliency contains NaN or infinity")
    if sal.shape == (height, width):  # a map at the frame's own size: plain block means
        return _block_means(sal, block)
    rows = _area_matrix(sal.shape[0], height, block)
    cols = _area_matrix(sal.shape[1], width, block)
    return rows @ sal @ cols.T


def _block_means(image: np.ndarray, block: int) -> np.ndarray:
    """Mean of each block of a frame-sized array (edge blocks over their pixels inside it): what
    the area matrices give for a map at the frame's size, at O(pixels) cost (a full-resolution
    1080p luma costs ~140 M multiply-adds through the matrices, ~0.5 ms this way)."""
    height, width = image.shape
    rows, cols = -(-height // block), -(-width // block)
    if (rows * block, cols * block) != (height, width):
        padded = np.zeros((rows * block, cols * block), np.float32)
        padded[:height, :width] = image
        image = padded
    # an integer factor down: OpenCV's area rule is the exact mean of each block
    means = cv2.resize(np.ascontiguousarray(image, np.float32), (cols, rows),
                       interpolation=cv2.INTER_AREA).reshape(rows, cols)
    inside = np.ones((rows, cols), np.float32)
    inside[-1, :] *= (height - (rows - 1) * block) / block
    inside[:, -1] *= (width - (cols - 1) * block) / block
    return (means / inside).astype(np.float32)


def block_activity(image: np.ndarray, previous: np.ndarray | None,
                   frame_size: tuple[int, int], block: int = 16,
                   base_share: float = BASE_SHARE) -> np.ndarray:
    """Each block's expected share of a frame's bits, a (rows, cols) float32 grid summing to 1.

    ``image`` / ``previous``: the frame and the one before as 2-D arrays at any one resolution:
    the coded luma at the frame's size where the encoder's planes are at hand (the daemon with
    an encode or preview, ``compare``: the shares the rate constants were fitted with), else
    the network's 224x224 input, channels averaged (maps alone).  The bits of an inter
    frame go where the picture changed, so the share is the mean absolute difference from the
    previous frame; the first frame (``previous`` None: an I-frame) uses the mean absolute
    gradient instead.  ``base_share`` times the mean is added to every block: change is
    only part of what a block costs (motion vectors, texture the prediction misses, the I-frame).
    """
    img = np.asarray(image, np.float32)
    if img.ndim != 2:
        raise InputError(f"image must be 2-D, got shape {img.shape}")
    if previous is not None and np.shape(previous) == img.shape:
        change = cv2.absdiff(img, np.asarray(previous, np.float32))
    else:
        change = np.zeros_like(img)
        change[:, 1:] += np.abs(np.diff(img, axis=1))
        change[1:, :] += np.abs(np.diff(img, axis=0))
    pooled = pool_blocks(change, frame_size, block).astype(np.float64)
    pooled += base_share * pooled.mean() + 1e-9
    return (pooled / pooled.sum()).astype(np.float32)


def offsets_from_saliency(pooled: np.ndarray, config: QPConfig | None = None,
                          activity: np.ndarray | None = None,
                          aq_delta: np.ndarray | None = None) -> np.ndarray:
    """QP offsets (float32, same shape as ``pooled``; negative = better) from pooled saliency.

    ``activity``: the blocks' shares of the bits (:func:`block_activity`), used by
    ``centre="rate"`` (``None``: equal shares).  ``aq_delta``: per block, the QP the encoder's
    own AQ adds under the map beyond what it adds without one (:mod:`rt_saliency.qp.aq`),
    priced by ``centre="rate"`` with the offsets.  A uniform map gives all zeros in both modes
    (there is nothing to prefer).
    """
    config = config or QPConfig()
    sal = np.asarray(pooled, dtype=np.float32)
    if sal.ndim != 2 or sal.size == 0:
        raise InputError(f"pooled saliency must be a 2-D grid, got shape {sal.shape}")
    if not np.isfinite(sal).all():
        raise InputError("pooled saliency contains NaN or infinity")
    sal = np.maximum(sal, np.float32(config.floor))
    if sal.max() == sal.min() and aq_delta is None:  # exactly zero, not round-off around it
        return np.zeros(sal.shape, np.float32)
    mean = np.float32(sal.mean(dtype=np.float64))
    if config.mode == "log":
        offsets = np.log2(sal / mean) * np.float32(-config.strength)
    else:
        offsets = (sal - mean) * np.float32(-config.strength / mean)
    if config.centre == "mean":
        offsets -= offsets.mean()
    elif config.centre == "rate":
        for name, grid in (("activity", activity), ("aq_delta", aq_delta)):
            if grid is not None and np.shape(grid) != sal.shape:
                raise InputError(f"{name} grid {np.shape(grid)} does not match {sal.shape}")
        return _rate_centred(offsets.astype(np.float64), config.qp_min, config.qp_max,
                             activity, config.rate_octave or QP_PER_OCTAVE,
                             config.rate_bias or 0.0, aq_delta)
    np.clip(offsets, config.qp_min, config.qp_max, out=offsets)
    return offsets.astype(np.float32, copy=False)


def rate_factor(offsets: np.ndarray, activity: np.ndarray | None = None,
                octave: float = QP_PER_OCTAVE) -> float:
    """The frame's bits relative to a flat map under the model that a block's bits halve every
    ``octave`` QP: the mean of ``2^(-offset/octave)``, weighted by ``activity`` when given (1.0
    = neutral)."""
    steps = np.exp2(-np.asarray(offsets, np.float64) / octave)
    return float(np.average(steps, weights=None if activity is None else
                            np.asarray(activity, np.float64)))


def _rate_centred(offsets: np.ndarray, qp_min: float, qp_max: float,
                  activity: np.ndarray | None, octave: float = QP_PER_OCTAVE,
                  bias: float = 0.0, aq_delta: np.ndarray | None = None) -> np.ndarray:
    """Offsets shifted so that, clamped, their :func:`rate_factor` is ``2^(-bias/octave)`` (1
    without a bias: a flat map's bits; the bits of a flat map ``bias`` QP higher otherwise).
    ``aq_delta`` (per block, the QP the encoder's AQ adds on top): counted with the offsets
    (a block's bits go by both), not clamped and not returned.

    The factor falls monotonically with the shift ``c``: Newton steps on ``log(factor)``,
    kept inside a bracket that shrinks with every step (a few steps to 1e-9).
    """
    weights = (np.full(offsets.shape, 1.0 / offsets.size) if activity is None
               else np.asarray(activity, np.float64) / float(np.sum(activity)))
    k = math.log(2.0) / octave
    if aq_delta is not None:
        weights = weights * np.exp(-k * np.asarray(aq_delta, np.float64))
    target = math.exp(-k * bias)
    lo, hi = qp_min - float(offsets.max()), qp_max - float(offsets.min())
    # exact when unclamped
    shift = -math.log(float(np.sum(weights * np.exp(-k * offsets))) / target) / k
    for _ in range(50):
        shift = min(max(shift, lo), hi)
        moved = offsets + shift
        terms = weights * np.exp(-k * np.clip(moved, qp_min, qp_max))
        total = float(terms.sum())
        if abs(total / target - 1.0) < 1e-9:
            break
        lo, hi = (shift, hi) if total > target else (lo, shift)
        free = float(terms[(moved > qp_min) & (moved < qp_max)].sum())
        step = math.log(total / target) * total / (k * free) if free > 0 else math.inf
        shift = shift + step if math.isfinite(step) and lo < shift + step < hi else 0.5 * (lo + hi)
    return np.clip(offsets + shift, qp_min, qp_max).astype(np.float32)


class QPMapper:
    """Saliency map of a frame -> QP offsets, with exponential temporal smoothing.

    Stateful (the previous frame's offsets); one instance per stream.  The state resets by
    itself when the grid shape changes (a new source size).
    """

    def __init__(self, frame_size: tuple[int, int], config: QPConfig | None = None) -> None:
        self.config = config or QPConfig()
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.shape = grid_shape(self.frame_size, self.config.block)
        self._previous: np.ndarray | None = None
        self._previous_image: np.ndarray | None = None

    @property
    def wants_planes(self) -> bool:
        """Whether the coded planes change the offsets (an AQ change to price): callers skip
        preparing them otherwise."""
        return bool(self.config.aq_change) and self.config.block == 16 \
            and self.config.centre == "rate"

    def reset(self) -> None:
        """Forget the previous frame (e.g. after a scene cut or a reconnect)."""
        self._previous = None
        self._previous_image = None

    def __call__(self, saliency: np.ndarray, image: np.ndarray | None = None,
                 planes: tuple[np.ndarray, ...] | None = None, bit_depth: int = 8) -> np.ndarray:
        """Offsets grid (rows, cols) float32 for one frame's saliency map of any resolution.

        ``image``: the frame itself as a 2-D array at any resolution (best the luma the encoder
        codes, at the frame's size), for the bit shares of ``centre="rate"``
        (:func:`block_activity`).
        ``planes``: the Y (and U, V) planes the encoder codes, in code values of ``bit_depth``
        bits, for pricing ``config.aq_change`` (:mod:`rt_saliency.qp.aq`; 16-pixel blocks).
        """
        pooled = pool_blocks(saliency, self.frame_size, self.config.block)
        aq_delta = None
        if planes is not None and self.wants_planes:
            chroma = (planes[1], planes[2]) if len(planes) == 3 else None
            aq_delta = variance_aq_offsets(ac_energy(planes[0], chroma, 16),
                                           self.config.aq_change, bit_depth)
            if aq_delta.shape != pooled.shape:
                raise InputError(f"planes of {planes[0].shape} do not match the frame size "
                                 f"{self.frame_size}")
        activity = None
        if image is not None and self.config.centre == "rate":
            activity = block_activity(image, self._previous_image, self.frame_size,
                                      self.config.block,
                                      self.config.base_share or BASE_SHARE)
        self._previous_image = None if image is None else np.asarray(image, np.float32)
        offsets = offsets_from_saliency(pooled, self.config, activity, aq_delta)
        alpha = self.config.temporal_alpha
        if alpha > 0.0 and self._previous is not None and self._previous.shape == offsets.shape:
            offsets = alpha * self._previous + (1.0 - alpha) * offsets
            offsets = offsets.astype(np.float32, copy=False)
        self._previous = offsets
        return offsets
