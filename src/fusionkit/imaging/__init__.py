"""Image decoding with limits: JPEG, PNG and WebP to RGB uint8 arrays.

Every array fusionkit takes or returns is RGB, ``(height, width, 3)`` uint8, C-contiguous, unless a name says
``bgr``. Limits (encoded bytes, width, height, pixels) are checked from the file header before anything is
decoded.
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

__all__ = [
    "DEFAULT_LIMITS",
    "ChannelOrder",
    "ImageInfo",
    "ImageLimits",
    "ImageSource",
    "decode_image",
    "load_image",
    "probe_image",
]
