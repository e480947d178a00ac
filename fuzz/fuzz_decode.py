"""Fuzz target: image decoding from bytes (``probe_image`` and ``decode_image`` with the default limits).

Run: ``python fuzz/fuzz_decode.py [libFuzzer flags] fuzz/corpus/decode``. The input is the encoded image itself.
Documented outcomes: an ImageInfo / an RGB uint8 array, or ImageDecodeFailedError, UnsupportedImageFormatError,
ImageSizeExceedError, ImageResolutionExceedError, ImageScanCountExceedError. Anything else is a finding, and so
is a result that breaks the contract (not (H, W, 3) uint8 C-contiguous, or a size other than the header's).
"""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["fusionkit"]):  # fusionkit only: NumPy, OpenCV stay fast
    import numpy as np

    from fusionkit.errors import (
        ImageDecodeFailedError,
        ImageResolutionExceedError,
        ImageScanCountExceedError,
        ImageSizeExceedError,
        UnsupportedImageFormatError,
    )
    from fusionkit.imaging.decode import DEFAULT_LIMITS, decode_image, probe_image

TARGET = "decode"
PROBE_ERRORS = (ImageDecodeFailedError, UnsupportedImageFormatError)
DECODE_ERRORS = (*PROBE_ERRORS, ImageSizeExceedError, ImageResolutionExceedError, ImageScanCountExceedError)


def TestOneInput(data: bytes) -> None:
    try:
        info = probe_image(data)
    except PROBE_ERRORS:
        info = None
    except Exception as exc:
        _harness.finding(TARGET, exc, data)
        return
    try:
        rgb = decode_image(data, limits=DEFAULT_LIMITS)
    except DECODE_ERRORS:
        return
    except Exception as exc:
        _harness.finding(TARGET, exc, data)
        return
    try:
        if info is None:
            raise AssertionError("decode_image decoded an image that probe_image refused")
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
                and rgb.flags.c_contiguous):
            raise AssertionError(f"decode_image returned {type(rgb).__name__} {getattr(rgb, 'shape', None)}, "
                                 "not a C-contiguous (H, W, 3) uint8 array")
        if {rgb.shape[0], rgb.shape[1]} != {info.width, info.height}:
            raise AssertionError(f"decoded {rgb.shape[1]}x{rgb.shape[0]} but the header says "
                                 f"{info.width}x{info.height}")
        if info.width * info.height > DEFAULT_LIMITS.max_pixels:
            raise AssertionError("decode_image decoded an image over the pixel limit")
    except AssertionError as exc:
        _harness.finding(TARGET, exc, data)


if __name__ == "__main__":
    _harness.run(TestOneInput)
