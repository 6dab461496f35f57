"""``synth://WxH?frames=N``: a deterministic synthetic clip (shapes over a panning texture)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from rt_saliency.errors import ConfigError
from rt_saliency.stream.frames import StreamInfo
from rt_saliency.stream.sources.base import Decoded, Source


class SynthSource(Source):
    """``synth://WxH?frames=N&fps=F&live=1&seed=S``: shapes moving over a panning texture.

    Deterministic for a seed.  ``frames=0`` runs until stopped.  ``live=1`` paces frames at
    ``fps`` in wall-clock time, like a camera (the pipeline then drops frames under overload).
    """

    def __init__(self, spec: str, *, live: bool | None = None) -> None:
        parts = urlsplit(spec)
        match = re.fullmatch(r"(\d+)x(\d+)", parts.netloc + parts.path.rstrip("/"))
        if not match:
            raise ConfigError(f"synthetic source must look like synth://640x360?frames=100, not {spec!r}")
        width, height = int(match.group(1)), int(match.group(2))
        if not (1 <= width <= 8192 and 1 <= height <= 8192):
            raise ConfigError(f"synthetic frame size {width}x{height} out of range 1..8192")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            self._count = int(query.get("frames", "100"))
            fps = float(query.get("fps", "30"))
            self._seed = int(query.get("seed", "0"))
            query_live = query.get("live")
        except ValueError as exc:
            raise ConfigError(f"bad synthetic source parameter in {spec!r}: {exc}") from exc
        if self._count < 0 or fps <= 0:
            raise ConfigError(f"synthetic source needs frames >= 0 and fps > 0: {spec!r}")
        if live is None:
            live = query_live not in (None, "0", "false", "no")
        super().__init__(pace=live)
        self.info = StreamInfo(width, height, fps, live, spec, self._count or None)

    def _generate(self) -> Iterator[Decoded]:
        w, h, fps = self.info.width, self.info.height, float(self.info.fps or 30.0)
        rng = np.random.default_rng(self._seed)
        noise = rng.random((max(h // 8, 2), max((w + w // 2) // 8, 2), 3)).astype(np.float32)
        texture = cv2.resize(noise, (w + w // 2, h), interpolation=cv2.INTER_CUBIC)
        texture = np.clip(40 + 100 * texture, 0, 255).astype(np.uint8)
        shapes = [
            (rng.uniform(0, w), rng.uniform(0, h), rng.uniform(-4, 4) * w / 320,
             rng.uniform(-3, 3) * h / 240, max(2, int(rng.uniform(0.04, 0.1) * min(w, h))),
             tuple(int(c) for c in rng.integers(150, 256, 3)))
            for _ in range(3)
        ]
        i = 0
        while self._count == 0 or i < self._count:
            shift = (i * max(1, w // 160)) % (w // 2 + 1)
            img = np.ascontiguousarray(texture[:, shift:shift + w])
            for x0, y0, vx, vy, r, color in shapes:
                x = int(_bounce(x0 + vx * i, w))
                y = int(_bounce(y0 + vy * i, h))
                cv2.circle(img, (x, y), r, color, -1)
            yield img, i / fps, None
            i += 1


def _bounce(pos: float, size: int) -> float:
    period = 2 * max(size - 1, 1)
    pos = pos % period
    return pos if pos < size else period - pos
