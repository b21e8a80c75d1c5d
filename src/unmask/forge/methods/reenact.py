"""``reenact``: the driving actor's expression and mouth motion on the target, by mesh warping.

In the spirit of Face2Face, with 2D meshes instead of a 3D face model:

1. both landmark tracks are smoothed and every face is aligned (a similarity fitted on
   points that do not move with expression: eye corners, nose, forehead, temples) to its
   actor's mean face;
2. the driving actor's expression is its aligned face minus its mean face; on the target,
   the mouth, jaw, eye and brow regions take the target's mean face plus that expression
   (scaled by ``strength``), the rest of the face keeps the target's own landmarks;
3. the target frame is warped from its landmarks to the new ones (898 mesh triangles plus
   a band out to a fixed ring around the face, so the warp fades to nothing and needs no
   blending);
4. the mouth opening is filled from the target frame whose inner-lip shape is closest to
   the new one (Face2Face's mouth retrieval), or, when the target clip never opens its
   mouth that wide, from the driving frame.

The identity stays the target's; only expression and mouth motion change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from unmask.forge.landmarks import MeshTopology, mesh_topology
from unmask.forge.methods._mesh import (
    crop_box,
    match_frames,
    mean_shape,
    mesh_maps,
    normalize_shapes,
    pairwise_rms,
    remap,
    similarity,
)
from unmask.forge.methods._registry import (
    Clip,
    ForgeResult,
    MethodSpec,
    check_range,
    finish,
    method_params,
    pair_tracks,
    register_method,
)

SPEC = MethodSpec(
    name="reenact",
    needs_source=True,
    description="expression and mouth motion of a driving actor, by mesh warping (Face2Face-like)",
)

# Inner-lip area (in units of the mean face's squared RMS radius) above which a mouth counts
# as open: a closed mouth is ~0.001, a talking mouth 0.01-0.05.
MOUTH_OPEN = 0.01

# Points that hardly move with expression: eye corners, nose bridge and tip, forehead, temples.
ANCHORS = np.array(
    [33, 133, 362, 263, 6, 168, 197, 195, 5, 4, 1, 10, 151, 9, 8, 234, 454, 127, 356]
)


def expression_weights(ref: np.ndarray, topo: MeshTopology) -> np.ndarray:
    """(468,) weight in [0, 1] of how much each point follows the driving expression:
    1 around the mouth and jaw and around the eyes and brows, fading to 0 elsewhere."""
    eyes = [ref[topo.left_eye].mean(0), ref[topo.right_eye].mean(0)]
    iod = float(np.linalg.norm(eyes[0] - eyes[1]))
    mouth = ref[topo.mouth].mean(0)

    def near(center: np.ndarray, full: float, zero: float) -> np.ndarray:
        d = np.linalg.norm(ref - center, axis=1) / iod
        return np.clip((zero - d) / (zero - full), 0.0, 1.0)

    w = np.maximum.reduce([near(mouth, 0.8, 1.2), near(eyes[0], 0.3, 0.5), near(eyes[1], 0.3, 0.5)])
    w[ANCHORS] = 0.0
    return w.astype(np.float32)


def band_triangles(oval: np.ndarray, first_ring_index: int) -> np.ndarray:
    """Triangles joining the face oval to a ring of points ``first_ring_index + i`` outside it."""
    n = len(oval)
    tris = []
    for i in range(n):
        j = (i + 1) % n
        ri, rj = first_ring_index + i, first_ring_index + j
        tris += [(oval[i], oval[j], rj), (oval[i], rj, ri)]
    return np.array(tris, np.int32)


def ring_points(points: np.ndarray, oval: np.ndarray, ring: float) -> np.ndarray:
    """The face oval pushed out from the face centre by ``ring`` (a fraction)."""
    center = points[oval].mean(0)
    return (center + (points[oval] - center) * (1.0 + ring)).astype(np.float32)


def mouth_opening(shape: np.ndarray, mouth: np.ndarray) -> float:
    """Area inside the inner lips of one face (any units)."""
    return float(cv2.contourArea(shape[mouth].astype(np.float32)))


@register_method("reenact")
@dataclass
class Reenact:
    """Face2Face-like reenactment by mesh warping; see the module docstring.

    ``strength`` scales the driving expression; ``ring`` is how far out (fraction of the
    centre-to-oval distance) the warp fades to nothing; ``smooth_window`` is the landmark
    smoothing window in frames (1: off); ``mouth_jump`` is the cost (relative to the median)
    of switching the frame the mouth opening is taken from.

    >>> Reenact(strength=1.0).spec.needs_source
    True
    """

    strength: float = 1.0
    ring: float = 0.3
    smooth_window: int = 7
    mouth_jump: float = 0.5
    min_source_faces: int = 1
    contact_sheet: bool = True
    spec: MethodSpec = field(default=SPEC, init=False, repr=False)

    def __post_init__(self) -> None:
        check_range("strength", self.strength, 0.0, 5.0)
        check_range("ring", self.ring, 0.05, 2.0)
        check_range("smooth_window", self.smooth_window, 1, 99)
        check_range("mouth_jump", self.mouth_jump, 0.0, 100.0)
        check_range("min_source_faces", self.min_source_faces, 1, 10**9)

    def generate(
        self, target: Clip, source: Clip | None, *, rng: np.random.Generator, workdir: Path
    ) -> ForgeResult:
        """Drive ``target``'s face with ``source``'s expressions (``rng`` is unused)."""
        tracks = pair_tracks(
            self.spec,
            target,
            source,
            window=self.smooth_window,
            min_source_faces=self.min_source_faces,
            role="driving",
        )
        source = tracks.source_clip
        topo = mesh_topology()
        tgt_lm, drv_lm = tracks.target, tracks.source
        tgt_faces, drv_faces = tracks.target_faces, tracks.source_faces
        changed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        from_driving = 0
        if len(tgt_faces):
            new_lm, new_norm, tgt_norm, drv_pick = self._new_landmarks(
                tgt_lm, drv_lm, tgt_faces, drv_faces, topo
            )
            mouth_src = self._mouth_frames(new_norm, tgt_norm, tgt_faces, topo)
            triangles = np.concatenate(
                [topo.triangles, band_triangles(topo.face_oval, len(tgt_lm[0]))]
            )
            mesh_only = np.r_[
                ~topo.mouth_triangles, np.ones(len(triangles) - len(topo.triangles), bool)
            ]
            for k, t in enumerate(tgt_faces):
                # a closed-mouth frame cannot fill a wide-open mouth: take the driving frame's
                mouth_clip, mouth_lm, r = target, tgt_lm, mouth_src[k]
                need = mouth_opening(new_norm[k], topo.mouth)
                have = mouth_opening(tgt_norm[np.searchsorted(tgt_faces, r)], topo.mouth)
                if need > MOUTH_OPEN and have < 0.5 * need:
                    mouth_clip, mouth_lm, r = source, drv_lm, drv_pick[k]
                    from_driving += 1
                fixed = ring_points(tgt_lm[t], topo.face_oval, self.ring)  # same ring before/after
                changed[int(t)] = self._warp(
                    target.frames[t],
                    np.concatenate([tgt_lm[t], fixed]),
                    np.concatenate([new_lm[k], fixed]),
                    mouth_clip.frames[r],
                    mouth_lm[r],
                    triangles,
                    mesh_only,
                    topo,
                )
        params = {**method_params(self), "mouth_from_driving_frames": from_driving}
        return finish(
            self.spec, target, changed, params, workdir=workdir, contact_sheet=self.contact_sheet
        )

    def _new_landmarks(
        self,
        tgt_lm: np.ndarray,
        drv_lm: np.ndarray,
        tgt_faces: np.ndarray,
        drv_faces: np.ndarray,
        topo: MeshTopology,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """New target landmarks (pixels and normalised), the target's normalised faces and
        the driving frame used for each target face."""
        ref_t = mean_shape(tgt_lm[tgt_faces])
        ref_d = mean_shape(drv_lm[drv_faces])
        tgt_norm, to_ref = normalize_shapes(tgt_lm[tgt_faces], ref_t, anchors=ANCHORS)
        drv_norm, _ = normalize_shapes(drv_lm[drv_faces], ref_d, anchors=ANCHORS)
        # the driving clip plays frame by frame along the target's frames, looping; a driving
        # frame without a face lends the nearest one with a face
        wanted = tgt_faces % len(drv_lm)
        slot = np.abs(drv_faces[None, :] - wanted[:, None]).argmin(1)
        drv_pick = drv_faces[slot]
        expression = drv_norm[slot] - ref_d
        # express the driving face in the target's frame: same scale, rotation of references
        align = similarity(ref_d, ref_t)
        expression = expression @ align[:, :2].T
        w = expression_weights(ref_t, topo)[None, :, None]
        new_norm = tgt_norm + w * (ref_t + self.strength * expression - tgt_norm)
        new_lm = np.empty_like(new_norm)
        for k in range(len(tgt_faces)):
            back = cv2.invertAffineTransform(to_ref[k])
            new_lm[k] = new_norm[k] @ back[:, :2].T + back[:, 2]
        return new_lm, new_norm, tgt_norm, drv_pick

    def _mouth_frames(
        self, new_norm: np.ndarray, tgt_norm: np.ndarray, tgt_faces: np.ndarray, topo: MeshTopology
    ) -> np.ndarray:
        """For each target face, the target frame whose inner lips best match the new ones."""
        keep = np.unique(np.linspace(0, len(tgt_norm) - 1, min(len(tgt_norm), 1000)).astype(int))
        cost = pairwise_rms(new_norm[:, topo.mouth], tgt_norm[keep][:, topo.mouth])
        scale = float(np.median(cost)) or 1.0
        return tgt_faces[keep[match_frames(cost, jump=self.mouth_jump * scale, hold=0.0)]]

    def _warp(
        self,
        frame: np.ndarray,
        old: np.ndarray,
        new: np.ndarray,
        mouth_frame: np.ndarray,
        mouth_points: np.ndarray,
        triangles: np.ndarray,
        mesh_only: np.ndarray,
        topo: MeshTopology,
    ) -> tuple[np.ndarray, np.ndarray]:
        box = crop_box(np.concatenate([old, new]), frame.shape, margin=0.02)
        map_x, map_y, ids = mesh_maps(old, new, triangles[mesh_only], box)
        crop = remap(frame, map_x, map_y)
        m_x, m_y, m_ids = mesh_maps(
            mouth_points, new[: len(mouth_points)], topo.triangles[topo.mouth_triangles], box
        )
        inner = m_ids >= 0
        crop[inner] = remap(mouth_frame, m_x, m_y)[inner]
        # changed: moved by a pixel or more (mask 1; fractional below, nothing under 0.05 px)
        # or mouth refilled
        gx = np.arange(box.shape[1], dtype=np.float32)[None, :] + box.x0
        gy = np.arange(box.shape[0], dtype=np.float32)[:, None] + box.y0
        moved = np.hypot(map_x - gx, map_y - gy)
        covered = ((ids >= 0) & (moved >= 0.05)) | inner
        alpha = np.where(covered, np.minimum(moved, 1.0), 0.0).astype(np.float32)
        alpha[inner] = 1.0
        ys, xs = box.slices
        out = frame.copy()
        out[ys, xs] = np.where(covered[..., None], crop, frame[ys, xs])
        mask = np.zeros(frame.shape[:2], np.float32)
        mask[ys, xs] = alpha
        return out, mask
