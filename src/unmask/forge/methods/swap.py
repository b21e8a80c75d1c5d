"""``swap``: landmark-based face swap in the style of FaceForensics++ FaceSwap.

For every target frame with a face, the source actor's face from the best-matching source
frame is warped triangle by triangle (the 898-triangle face mesh) onto the target's
landmarks, recoloured to the target's skin (Reinhard, LAB), Poisson-blended and composited
under a feathered face-oval mask. The identity inside the oval becomes the source's; the
pose, expression and face outline stay the target's.

Landmark tracks of both clips are smoothed over time (Savitzky–Golay), so the pasted face
does not jitter. The source frame for each target frame is chosen by dynamic programming:
closest normalised face shape (pose and expression), with a cost for jumping to another
part of the source clip, so the source plays on smoothly instead of flickering between
frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unmask.forge.landmarks import mesh_topology
from unmask.forge.methods._blend import PasteOptions
from unmask.forge.methods._mesh import (
    match_frames,
    mean_shape,
    mesh_maps,
    normalize_shapes,
    pairwise_rms,
    remap,
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
    name="swap",
    needs_source=True,
    description="landmark face swap: mesh warp of the source face, colour transfer, Poisson blend",
)


def choose_source_frames(
    target: np.ndarray, source: np.ndarray, *, jump: float, hold: float, max_candidates: int = 1000
) -> np.ndarray:
    """For each target face (T, 468, 2) the index of the best source face (S, 468, 2).

    Both are aligned to the target's mean shape first, so the cost compares pose and
    expression, not position and size. ``jump`` and ``hold`` are relative to the median cost.
    """
    ref = mean_shape(target)
    tgt, _ = normalize_shapes(target, ref)
    keep = np.unique(np.linspace(0, len(source) - 1, min(len(source), max_candidates)).astype(int))
    src, _ = normalize_shapes(source[keep], ref)
    cost = pairwise_rms(tgt, src)
    scale = float(np.median(cost))
    return keep[match_frames(cost, jump=jump * scale, hold=hold * scale)]


@register_method("swap")
@dataclass
class FaceSwap(PasteOptions):
    """Landmark face swap (FaceForensics++ FaceSwap style); see the module docstring.

    ``jump`` is the cost of jumping to another part of the source clip and ``hold`` the cost
    of showing a source frame twice, both relative to the median shape-match cost. The
    pasting options (``margin``, ``erode``, ``feather``, ``blend``, ``color``,
    ``smooth_window``) are described on ``PasteOptions``.

    >>> swap = FaceSwap()  # or create_method("swap")
    >>> swap.spec.needs_source
    True
    """

    jump: float = 0.5
    hold: float = 0.1
    min_source_faces: int = 1
    spec: MethodSpec = field(default=SPEC, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("jump", self.jump, 0.0, 100.0)
        check_range("hold", self.hold, 0.0, 100.0)
        check_range("min_source_faces", self.min_source_faces, 1, 10**9)

    def generate(
        self, target: Clip, source: Clip | None, *, rng: np.random.Generator, workdir: Path
    ) -> ForgeResult:
        """Swap ``source``'s face into ``target``; ``rng`` is unused (the method is deterministic)."""
        tracks = pair_tracks(
            self.spec,
            target,
            source,
            window=self.smooth_window,
            min_source_faces=self.min_source_faces,
        )
        source = tracks.source_clip
        triangles = mesh_topology().triangles
        tgt_lm, src_lm = tracks.target, tracks.source
        tgt_faces, src_faces = tracks.target_faces, tracks.source_faces
        changed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        chosen = np.empty(0, np.int64)
        if len(tgt_faces):
            picks = choose_source_frames(
                tgt_lm[tgt_faces], src_lm[src_faces], jump=self.jump, hold=self.hold
            )
            chosen = src_faces[picks]
        for t, s in zip(tgt_faces, chosen, strict=True):
            frame, pts = target.frames[t], tgt_lm[t]
            box = self.face_box(frame, pts)
            map_x, map_y, ids = mesh_maps(src_lm[s], pts, triangles, box)
            face = remap(source.frames[s], map_x, map_y)
            changed[int(t)] = self.paste(frame, face, pts, box, ids >= 0)
        params = {
            **method_params(self),
            "source_frames_used": len(np.unique(chosen)),
        }
        return finish(
            self.spec, target, changed, params, workdir=workdir, contact_sheet=self.contact_sheet
        )
