"""Face detection for the prior, from what OpenCV ships: a Haar cascade or a YuNet model.

OpenCV 4.x wheels ship ``cv2.CascadeClassifier`` and the cascade XML files under
``cv2.data.haarcascades``; the OpenCV 5.0 wheel installed here ships neither (it has
``cv2.FaceDetectorYN``, which needs a YuNet ONNX file that no package here ships).  So the
detector uses, in order: a YuNet file named by the caller, the bundled frontal-face cascade,
or nothing; :attr:`FaceDetector.available` and :attr:`FaceDetector.reason` say which.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rt_saliency.errors import InputError, InputNotFoundError

CASCADE_FILE = "haarcascade_frontalface_default.xml"

Box = tuple[float, float, float, float]


class FaceDetector:
    """Finds faces in a grey uint8 image; boxes ``(x, y, w, h)`` in that image's pixels.

    Detection runs on the image shrunk to ``size`` (height, width) to keep it cheap.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        size: tuple[int, int] = (160, 160),
    ) -> None:
        self._cv2 = cv2
        self.size = (int(size[0]), int(size[1]))
        self._yunet = None
        self._cascade = None
        self.kind = "none"
        if model_path is not None:
            path = Path(model_path)
            if not path.is_file():
                raise InputNotFoundError(f"face model {path} not found")
            self._yunet = cv2.FaceDetectorYN.create(str(path), "", (self.size[1], self.size[0]))
            self.kind, self.reason = "yunet", f"YuNet model {path.name}"
            return
        data = getattr(getattr(cv2, "data", None), "haarcascades", None)
        xml = Path(data) / CASCADE_FILE if data else None
        if hasattr(cv2, "CascadeClassifier") and xml is not None and xml.is_file():
            cascade = cv2.CascadeClassifier(str(xml))
            if not cascade.empty():
                self._cascade = cascade
                self.kind, self.reason = "haar", f"OpenCV's bundled {CASCADE_FILE}"
                return
        self.reason = (
            f"OpenCV {cv2.__version__} ships no CascadeClassifier/{CASCADE_FILE} and no face "
            "model was given: face term off"
        )

    @property
    def available(self) -> bool:
        return self.kind != "none"

    def detect(self, grey: np.ndarray) -> list[Box]:
        """Face boxes in ``grey``'s pixels (empty when no detector is available)."""
        g = np.asarray(grey)
        if g.ndim != 2 or g.dtype != np.uint8:
            raise InputError(
                f"face detection takes a grey uint8 (H, W) image, got {g.shape} {g.dtype}"
            )
        if not self.available:
            return []
        cv2 = self._cv2
        h, w = self.size
        small = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA) if g.shape != (h, w) else g
        sy, sx = g.shape[0] / h, g.shape[1] / w
        if self._cascade is not None:
            found = self._cascade.detectMultiScale(small, scaleFactor=1.2, minNeighbors=4,
                                                   minSize=(20, 20))
            raw = [tuple(float(v) for v in b) for b in np.asarray(found).reshape(-1, 4)]
        else:
            _, faces = self._yunet.detect(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR))
            raw = [] if faces is None else [tuple(float(v) for v in f[:4]) for f in faces]
        return [(x * sx, y * sy, bw * sx, bh * sy) for x, y, bw, bh in raw]
