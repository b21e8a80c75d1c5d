"""Dense 468-point face landmarks from MediaPipe Face Mesh (offline, bundled with mediapipe).

mediapipe==0.10.21 is the last release with ``mp.solutions`` and the bundled mesh; it needs
numpy<2 and its metadata pulls the GUI OpenCV and jax, so it is installed with
``pip install --no-deps mediapipe==0.10.21`` (the ``forge`` extra lists what it really needs).
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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

    With several faces in a frame, MediaPipe returns up to ``max_faces`` of them and the one
    with the largest landmark bounding box is kept (chosen per frame). Use ``video=True`` for consecutive frames of one clip (MediaPipe tracks between frames,
    which is faster and steadier) and ``video=False`` for unrelated images.

    >>> with FaceMesh(video=True) as mesh:  # doctest: +SKIP
    ...     points = mesh.landmarks(frames)  # (T, 468, 2); NaN rows where no face was found
    """

    def __init__(
        self, *, video: bool = True, max_faces: int = 4, min_confidence: float = 0.5
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


@dataclass(frozen=True)
class MeshTopology:
    """Fixed connectivity of the 468-point mesh, derived from MediaPipe's tessellation.

    ``triangles`` (898, 3) covers the whole face: the 852 triangles of the tessellation, then
    fills for its three holes (eyes, then the mouth opening; ``mouth_triangles`` marks the
    mouth fill). The loops are ordered point indices: ``face_oval`` (36 points) runs around
    the face, ``mouth`` (20) around the inner lips starting at a mouth corner, ``left_eye`` and
    ``right_eye`` (16 each) around the eye openings starting at an eye corner.
    """

    triangles: np.ndarray
    mouth_triangles: np.ndarray
    face_oval: np.ndarray
    mouth: np.ndarray
    left_eye: np.ndarray
    right_eye: np.ndarray


def _loop(edges: Iterable[tuple[int, int]], start: int) -> list[int]:
    """Order the points of a closed chain of edges, starting at ``start``."""
    adj: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    order, prev = [start], -1
    while True:
        nxt = [n for n in adj[order[-1]] if n != prev]
        if not nxt or nxt[0] == start:
            break
        prev = order[-1]
        order.append(nxt[0])
    if len(order) != len(adj):
        raise RuntimeError(f"mesh loop from {start} is not one closed chain ({len(order)} points)")
    return order


def _ladder(loop: list[int]) -> list[tuple[int, int, int]]:
    """Triangulate a hole whose loop starts at a corner: zig-zag between its two sides."""
    tris, i, j = [], 0, len(loop) - 1
    while j - i > 1:
        if (i + len(loop) - 1 - j) % 2 == 0:
            tris.append((loop[i], loop[i + 1], loop[j]))
            i += 1
        else:
            tris.append((loop[i], loop[j - 1], loop[j]))
            j -= 1
    return tris


@functools.cache
def mesh_topology() -> MeshTopology:
    """Triangles and ordered loops of the 468-point mesh (computed once from MediaPipe's tables).

    >>> topo = mesh_topology()  # doctest: +SKIP
    >>> topo.triangles.shape, len(topo.face_oval)  # doctest: +SKIP
    ((898, 3), 36)
    """
    fm = _mediapipe().solutions.face_mesh
    edges = {(min(a, b), max(a, b)) for a, b in fm.FACEMESH_TESSELATION}
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    cliques = sorted({tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]})
    uses = Counter(e for a, b, c in cliques for e in ((a, b), (a, c), (b, c)))
    # A 3-cycle that is not a face separates the surface: each of its edges then borders
    # three 3-cycles. Dropping those leaves the faces of the tessellation.
    faces = [
        t for t in cliques if min(uses[(t[0], t[1])], uses[(t[0], t[2])], uses[(t[1], t[2])]) < 3
    ]
    # Hole loops start at a corner so that the ladder fill joins upper and lower lids/lips.
    mouth = _loop(
        ((a, b) for a, b in fm.FACEMESH_LIPS if a in _INNER_LIPS and b in _INNER_LIPS), 78
    )
    right_eye = _loop(fm.FACEMESH_RIGHT_EYE, 33)
    left_eye = _loop(fm.FACEMESH_LEFT_EYE, 362)
    fills = _ladder(right_eye) + _ladder(left_eye)
    mouth_fill = _ladder(mouth)
    triangles = np.array(faces + fills + mouth_fill, np.int32)
    mouth_mask = np.zeros(len(triangles), bool)
    mouth_mask[len(faces) + len(fills) :] = True
    return MeshTopology(
        triangles=triangles,
        mouth_triangles=mouth_mask,
        face_oval=np.array(_loop(fm.FACEMESH_FACE_OVAL, 10), np.int32),
        mouth=np.array(mouth, np.int32),
        left_eye=np.array(left_eye, np.int32),
        right_eye=np.array(right_eye, np.int32),
    )


# The inner lip contour (the edge of the mouth opening) among MediaPipe's lip points.
_INNER_LIPS = frozenset(
    (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
)
