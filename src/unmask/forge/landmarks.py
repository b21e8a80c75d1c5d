"""Dense 468-point face landmarks from MediaPipe Face Mesh (offline, bundled with mediapipe).

mediapipe==0.10.21 is the last release with ``mp.solutions`` and the bundled mesh; it needs
numpy<2 and its metadata pulls the GUI OpenCV and jax, so it is installed with
``pip install --no-deps mediapipe==0.10.21`` (the ``forge`` extra lists what it really needs).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

import numpy as np

from unmask.errors import UnmaskError

N_LANDMARKS = 468


def _mediapipe() -> Any:
    try:
        import mediapipe as mp
    except ImportError as err:
        raise UnmaskError(
            "dense landmarks need mediapipe 0.10.21, which is not installed "
            f"({err}); install it with: pip install --no-deps mediapipe==0.10.21 "
            "'protobuf>=4.25.3,<5' absl-py attrs flatbuffers 'numpy<2'"
        ) from None
    return mp


class FaceMesh:
    """468 landmarks per frame for the largest face, in pixel coordinates.

    Use ``video=True`` for consecutive frames of one clip (MediaPipe tracks between frames,
    which is faster and steadier) and ``video=False`` for unrelated images.

    >>> with FaceMesh(video=True) as mesh:  # doctest: +SKIP
    ...     points = mesh.landmarks(frames)  # (T, 468, 2); NaN rows where no face was found
    """

    def __init__(
        self, *, video: bool = True, max_faces: int = 1, min_confidence: float = 0.5
    ) -> None:
        self.video = video
        self.max_faces = max_faces
        self.min_confidence = min_confidence
        self._mesh: Any = None

    def __enter__(self) -> FaceMesh:
        mp = _mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not self.video,
            max_num_faces=self.max_faces,
            refine_landmarks=False,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=self.min_confidence,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def landmarks_one(self, rgb: np.ndarray) -> np.ndarray | None:
        """(468, 2) float32 pixel coordinates of the largest face, or None."""
        if self._mesh is None:
            raise RuntimeError(
                "FaceMesh must be used as a context manager (`with FaceMesh() as m:`)"
            )
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        faces = result.multi_face_landmarks or []
        best, best_area = None, -1.0
        for face in faces:
            pts = np.array([(p.x * w, p.y * h) for p in face.landmark], np.float32)
            span = pts.max(0) - pts.min(0)
            if span[0] * span[1] > best_area:
                best, best_area = pts, float(span[0] * span[1])
        return best

    def landmarks(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """(T, 468, 2) float32; rows of NaN for frames without a face."""
        rows = []
        for rgb in frames:
            pts = self.landmarks_one(rgb)
            rows.append(pts if pts is not None else np.full((N_LANDMARKS, 2), np.nan, np.float32))
        if not rows:
            return np.zeros((0, N_LANDMARKS, 2), np.float32)
        return np.stack(rows).astype(np.float32)
