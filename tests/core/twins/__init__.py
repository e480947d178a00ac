"""Slow, obviously-correct NumPy twins of the C core's routines: the oracles of the differential tests.

One module per file of csrc/ (warp: fk_warp.c, mask: fk_mask.c, box: fk_box.c, blend: fk_blend.c, poisson:
fk_poisson.c, colour: fk_colour.c, filter: fk_filter.c). Each twin states the routine's contract in the plainest
code that computes it, pixel by pixel or triangle by triangle, in float64 where the C core uses fixed point, and
without the C core's shortcuts (multiband: two Laplacian pyramids rather than one of the difference; Poisson: a
direct sparse solve; colour: exact cube roots and powers; guided filter: cumulative sums).
"""
