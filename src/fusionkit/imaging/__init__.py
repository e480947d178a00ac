"""Image decoding with limits (JPEG, PNG and WebP to RGB uint8 arrays) and encoding of results.

Every array fusionkit takes or returns is RGB, ``(height, width, 3)`` uint8, C-contiguous; an array in OpenCV's
BGR order is accepted only where a parameter says so (``array_order="bgr"``). Limits (encoded bytes, width,
height, pixels) are checked from the file header before anything is decoded.
"""

from fusionkit.imaging.decode import (
    DEFAULT_LIMITS,
    ChannelOrder,
    ImageInfo,
    ImageLimits,
    ImageSource,
    decode_image,
    load_image,
    probe_image,
)
from fusionkit.imaging.encode import DIGITAL_SOURCE_TYPE, encode_image, read_metadata
from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, VideoInfo, VideoLimits, probe_video

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_VIDEO_LIMITS",
    "DIGITAL_SOURCE_TYPE",
    "ChannelOrder",
    "ImageInfo",
    "ImageLimits",
    "ImageSource",
    "VideoInfo",
    "VideoLimits",
    "decode_image",
    "encode_image",
    "load_image",
    "probe_image",
    "probe_video",
    "read_metadata",
]
