"""Fuzz target: video probing from bytes (``probe_video`` with the default limits).

Run: ``python fuzz/fuzz_video.py [libFuzzer flags] fuzz/corpus/video``. The input is the file's bytes.
Documented outcomes: a VideoInfo, or VideoDecodeFailedError, VideoFormatNotSupportError, VideoSizeExceedError,
VideoResolutionExceedError, VideoDurationExceedError, VideoFrameRateExceedError. Anything else is a finding, and so
is a VideoInfo over the limits it was checked against.
"""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["fusionkit"]):  # fusionkit only: NumPy, OpenCV stay fast
    from fusionkit.errors import (
        VideoDecodeFailedError,
        VideoDurationExceedError,
        VideoFormatNotSupportError,
        VideoFrameRateExceedError,
        VideoResolutionExceedError,
        VideoSizeExceedError,
    )
    from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, probe_video

TARGET = "video"
DOCUMENTED = (VideoDecodeFailedError, VideoFormatNotSupportError, VideoSizeExceedError, VideoResolutionExceedError,
              VideoDurationExceedError, VideoFrameRateExceedError)


def TestOneInput(data: bytes) -> None:
    limits = DEFAULT_VIDEO_LIMITS
    try:
        info = probe_video(data, limits=limits)
    except DOCUMENTED:
        return
    except Exception as exc:
        _harness.finding(TARGET, exc, data)
        return
    try:
        long_side, short_side = max(info.width, info.height), min(info.width, info.height)
        if long_side > limits.max_long_side or short_side > limits.max_short_side:
            raise AssertionError(f"probe_video passed a {info.width}x{info.height} video, over the limits")
        if not info.fps <= limits.max_fps:
            raise AssertionError(f"probe_video passed a video at {info.fps} fps, over the limit")
        if not info.duration_s <= limits.max_duration_s + 1.0:  # a frame's rounding; NaN fails too
            raise AssertionError(f"probe_video passed a video of {info.duration_s} s, over the limit")
    except AssertionError as exc:
        _harness.finding(TARGET, exc, data)


if __name__ == "__main__":
    _harness.run(TestOneInput)
