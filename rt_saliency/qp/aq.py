"""The encoder's own adaptive quantisation, modelled: x264's variance AQ (``--aq-mode 1``).

x264 raises every macroblock's QP by ``1.0397 * strength * (log2(max(E, 1)) - 14.427 - 2 *
(bit_depth - 8))``, with ``E`` the block's AC energy (x264's ``x264_adaptive_quant_frame``;
documented in x264's ``--aq-strength`` help and the AQ author's posts).  The reference is
absolute, so running the encoder at another AQ strength under a saliency map changes a textured
block's QP (and a flat one's) by a known amount: the rate centring prices that change like the
map's own offsets (:func:`rt_saliency.qp.mapping.offsets_from_saliency`).

``E`` here is the luma 16x16 block's AC energy (sum of squares minus the squared sum over the
256 pixels) plus, when the chroma planes are given, their blocks' (8x8 for 4:2:0), with edge
blocks padded by repeating the last row and column, as x264 pads its frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from rt_saliency.errors import InputError

#: x264's scale of the user's AQ strength, and its energy reference at 8 bits
X264_STRENGTH_SCALE = 1.0397
X264_ENERGY_REFERENCE = 14.427


def _block_energy(plane: np.ndarray, bh: int, bw: int, rows: int, cols: int) -> np.ndarray:
    p = np.asarray(plane)
    if p.ndim != 2:
        raise InputError(f"a plane must be 2-D, got shape {p.shape}")
    if p.dtype not in (np.uint8, np.uint16):
        p = np.clip(np.rint(p), 0, 65535).astype(np.uint16)
    p = np.ascontiguousarray(p[: rows * bh, : cols * bw])
    pad_h, pad_w = rows * bh - p.shape[0], cols * bw - p.shape[1]
    if pad_h or pad_w:
        p = cv2.copyMakeBorder(p, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    # integral images: every block's sum and sum of squares from four corners, exact in float64
    sums, squares = cv2.integral2(p, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    s, q = sums[::bh, ::bw], squares[::bh, ::bw]
    block_sum = s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1]
    block_sq = q[1:, 1:] - q[:-1, 1:] - q[1:, :-1] + q[:-1, :-1]
    return block_sq - block_sum * block_sum / (bh * bw)


def ac_energy(luma: np.ndarray, chroma: tuple[np.ndarray, np.ndarray] | None = None,
              block: int = 16) -> np.ndarray:
    """Per ``block`` x ``block`` luma block, its AC energy (plus the co-sited chroma blocks'),
    a (ceil(H/block), ceil(W/block)) float64 grid; planes in code values (uint8/uint16)."""
    y = np.asarray(luma)
    if y.ndim != 2 or y.size == 0:
        raise InputError(f"luma must be a non-empty 2-D plane, got shape {y.shape}")
    rows, cols = -(-y.shape[0] // block), -(-y.shape[1] // block)
    energy = _block_energy(y, block, block, rows, cols)
    if chroma is not None:
        for plane in chroma:
            c = np.asarray(plane)
            sub_h = max(1, round(y.shape[0] / max(c.shape[0], 1)))
            sub_w = max(1, round(y.shape[1] / max(c.shape[1], 1)))
            energy += _block_energy(c, block // sub_h, block // sub_w, rows, cols)
    return energy


def variance_aq_offsets(energy: np.ndarray, strength: float, bit_depth: int = 8) -> np.ndarray:
    """The QP x264's variance AQ adds to each block at ``strength`` (float64 grid)."""
    reference = X264_ENERGY_REFERENCE + 2.0 * (bit_depth - 8)
    log_energy = np.log2(np.maximum(np.asarray(energy, np.float64), 1.0))
    return X264_STRENGTH_SCALE * float(strength) * (log_energy - reference)
