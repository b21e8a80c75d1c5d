"""Faces: detection (RetinaFace ONNX), tracking across sampled frames, aligned crops."""

from unmask.faces._align import crop_face, crop_faces, crop_transform, faces_from_crops
from unmask.faces._faces import Faces
from unmask.faces._retinaface import FrameDetections, RetinaFace, nms
from unmask.faces._stream import FaceStream
from unmask.faces._tracker import TrackedDetection, track_faces

FaceDetector = RetinaFace

__all__ = [
    "FaceDetector",
    "FaceStream",
    "Faces",
    "FrameDetections",
    "RetinaFace",
    "TrackedDetection",
    "crop_face",
    "crop_faces",
    "crop_transform",
    "faces_from_crops",
    "nms",
    "track_faces",
]
