"""Raw pixel formats: frame sizes in bytes, exact reads from a pipe, and conversion to RGB."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from rt_saliency.errors import ConfigError

#: pixel formats accepted for raw frames on stdin
RAW_PIX_FMTS: tuple[str, ...] = ("rgb24", "yuv420p")


def _frame_bytes(width: int, height: int, pix_fmt: str) -> int:
    """Bytes in one ``width`` x ``height`` frame of ``pix_fmt`` (ConfigError if unknown)."""
    if pix_fmt == "rgb24":
        return width * height * 3
    if pix_fmt == "yuv420p":
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    if pix_fmt == "yuv444p":
        return width * height * 3
    if pix_fmt == "gray":
        return width * height
    raise ConfigError(f"unsupported pixel format {pix_fmt!r}")


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read ``n`` bytes, or fewer only at the end of the stream."""
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _raw_to_rgb(data: bytes, width: int, height: int, pix_fmt: str) -> np.ndarray:
    """Planar YUV (BT.601, limited range) or packed RGB bytes -> uint8 (H, W, 3) RGB."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if pix_fmt == "rgb24":
        return buf.reshape(height, width, 3).copy()
    n = width * height
    y = buf[:n].reshape(height, width).astype(np.float32)
    if pix_fmt == "gray":
        u = v = np.full_like(y, 128.0)
    elif pix_fmt == "yuv444p":
        u = buf[n:2 * n].reshape(height, width).astype(np.float32)
        v = buf[2 * n:3 * n].reshape(height, width).astype(np.float32)
    else:
        cw, ch = (width + 1) // 2, (height + 1) // 2
        u = buf[n:n + cw * ch].reshape(ch, cw)
        v = buf[n + cw * ch:n + 2 * cw * ch].reshape(ch, cw)
        u = u.repeat(2, 0).repeat(2, 1)[:height, :width].astype(np.float32)
        v = v.repeat(2, 0).repeat(2, 1)[:height, :width].astype(np.float32)
    yy = 1.164 * (y - 16.0)
    u -= 128.0
    v -= 128.0
    rgb = np.stack([yy + 1.596 * v, yy - 0.392 * u - 0.813 * v, yy + 2.017 * u], axis=-1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
