"""The one rule that turns a source frame into the network's input size, shared by training,
evaluation and the stream (so the network is served the pictures it was trained on)."""

from __future__ import annotations

import cv2
import numpy as np


def resize_to_input(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W[, C]) resized to ``size`` (rows, cols): area averaging when either side
    shrinks, bilinear otherwise; returned unchanged when it already has that size."""
    h, w = int(size[0]), int(size[1])
    if image.shape[:2] == (h, w):
        return image
    shrink = image.shape[0] > h or image.shape[1] > w
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
