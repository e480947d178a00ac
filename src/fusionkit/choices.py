"""The named choices of fusionkit's options: blend modes, expressions, output formats and detector models.

Standard library only, so the command line can list them (``fusionkit fuse --blend``, ``detect --model``) without
loading NumPy or onnxruntime. :mod:`fusionkit.domain.options` and :mod:`fusionkit.vision.detector` re-export them,
and ``fusionkit.BlendMode``, ``fusionkit.Expression`` and ``fusionkit.OutputFormat`` are these same classes.
"""

from __future__ import annotations

import enum
from typing import Literal

__all__ = ["BlendMode", "DetectorModel", "Expression", "OutputFormat"]


class BlendMode(str, enum.Enum):
    """How the fused face is laid into the template."""

    POISSON = "poisson"  #: seamless cloning (gradient domain): no seam, lighting follows the template
    MULTIBAND = "multiband"  #: Laplacian-pyramid blend: keeps the face's own tones, soft wide transition
    ALPHA = "alpha"  #: feathered alpha: fastest


class Expression(str, enum.Enum):
    """Whose expression the fused face wears."""

    TEMPLATE = "template"  #: the template's: its mouth (opening and shape, teeth) and eyelids, frame by frame in video
    USER = "user"  #: the user photo's


class OutputFormat(str, enum.Enum):
    """Encoded format of the result; ``auto`` follows the template (JPEG stays JPEG, anything else PNG)."""

    AUTO = "auto"
    JPEG = "jpeg"
    PNG = "png"


#: Which face detector runs: ``auto`` (every face from 34 px, stops early on a portrait), ``thorough`` (also small
#: faces behind a large one), or one BlazeFace model once (``short`` or ``full`` range).
DetectorModel = Literal["auto", "thorough", "short", "full"]
