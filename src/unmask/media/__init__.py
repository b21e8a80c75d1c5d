"""Reading and writing media: videos through PyAV, images through Pillow."""

from unmask.media._image import read_image
from unmask.media._kind import (
    IMAGE_EXTENSIONS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    MediaKind,
    is_media_path,
    media_kind,
)
from unmask.media._limits import DEFAULT_LIMITS, MediaLimits
from unmask.media._video import (
    DecodedFrame,
    FrameSampler,
    SampledFrames,
    VideoInfo,
    VideoWriter,
    iter_frames,
    probe,
    sample_frames,
)

__all__ = [
    "DEFAULT_LIMITS",
    "IMAGE_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DecodedFrame",
    "FrameSampler",
    "MediaKind",
    "MediaLimits",
    "SampledFrames",
    "VideoInfo",
    "VideoWriter",
    "is_media_path",
    "iter_frames",
    "media_kind",
    "probe",
    "read_image",
    "sample_frames",
]
