"""The C core's SIMD switch, for tests: limit which of the run-time chosen SIMD kernels the core may use.

Not part of the public API. The tests run the warp tests on the scalar and the SIMD kernels and compare them: the
AVX2 kernels give the scalar kernels' output bit for bit, the AVX-512 block kernel for RGB within a grey level.

The switch covers the hand-written vector kernels (warp, compositing, relighting). The plain row loops marked
FK_ROW_CLONES in the C core (multi-band, box blur, guided filter, unsharp mask) are built for AVX2 beside the
baseline and picked by the loader, not by this switch: they do the same operations in the same order, so they give
the same bytes, and ``make test-scalar`` (a build without them) runs the twin tests on the baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from fusionkit.core._loader import lib

__all__ = ["SIMD_ALL", "SIMD_AVX2", "SIMD_NONE", "scalar_only", "set_simd", "simd_level"]

#: The scalar kernels only.
SIMD_NONE = 0
#: The AVX2 kernels where the CPU has them, no AVX-512.
SIMD_AVX2 = 1
#: Every kernel the CPU has (the default).
SIMD_ALL = 2


def set_simd(level: int) -> int:
    """Set the SIMD level (SIMD_NONE, SIMD_AVX2 or SIMD_ALL); return the previous one.

    The setting is process-wide: calls from other threads see it too.
    """
    if level not in (SIMD_NONE, SIMD_AVX2, SIMD_ALL):
        raise ValueError(f"level must be SIMD_NONE, SIMD_AVX2 or SIMD_ALL (0, 1 or 2), got {level!r}")
    return lib.fk_set_simd(level)


@contextmanager
def simd_level(level: int) -> Iterator[None]:
    """Inside the block, the C core uses the kernels of ``level`` at most; the previous level comes back after."""
    previous = set_simd(level)
    try:
        yield
    finally:
        set_simd(previous)


def scalar_only() -> AbstractContextManager[None]:
    """Inside the block, the C core runs its scalar kernels only."""
    return simd_level(SIMD_NONE)
