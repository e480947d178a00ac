/*
 * The mesh warp's shared parts (fk_warp.c, fk_warp_simd.c); not part of the API.
 *
 * fk_warp.c prepares the triangles and draws their rows with the scalar span kernels; fk_warp_simd.c holds the
 * AVX2 and AVX-512 span kernels and a row drawer with the block kernel inlined. The per-triangle state and the row
 * loop (draw_rows_impl) live here, static inline, so each translation unit compiles its own copy around its own
 * kernels and no call is added per row or pixel.
 */
#ifndef FK_WARP_INTERNAL_H
#define FK_WARP_INTERNAL_H

#include <math.h>
#include <string.h>

#include "fk_internal.h"

#define FRAC_BITS 11
#define FRAC_ONE (1 << FRAC_BITS)
#define FK_FIXED_ONE 4294967296.0 /* 2^32 */

typedef struct {
    double ax, ay, bx, by, cx, cy; /* destination vertices */
    double sign;                   /* sign of the doubled area: +1 or -1 */
} tri_t;

/* The edge function of (a, b) at p, same formula and order as the twin's _edge(). */
static inline double edge_fn(double ax, double ay, double bx, double by, double px, double py)
{
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax);
}

static inline int inside(const tri_t *t, double px, double py)
{
    double e0 = edge_fn(t->bx, t->by, t->cx, t->cy, px, py) * t->sign;
    double e1 = edge_fn(t->cx, t->cy, t->ax, t->ay, px, py) * t->sign;
    double e2 = edge_fn(t->ax, t->ay, t->bx, t->by, px, py) * t->sign;
    return e0 >= 0.0 && e1 >= 0.0 && e2 >= 0.0;
}

/* Clamps a double to [lo, hi] before any conversion to int (NaN maps to lo). */
static inline double clampd(double v, double lo, double hi)
{
    if (!(v >= lo)) return lo;
    if (v > hi) return hi;
    return v;
}

typedef void (*span_clamped_fn)(const fk_image *, uint8_t *, int, int, double, double, double, double);
typedef void (*span_fast_fn)(const fk_image *, uint8_t *, int, int, int64_t, int64_t, int64_t, int64_t);

/* Per-triangle state, computed once before the banded pass. */
typedef struct {
    tri_t tri;
    double m[2][3]; /* the affine map destination -> source */
    int y0, y1, bx0, bx1;
    double k[3], invk[3], c0[3], c1[3]; /* sign * E_i(px, py) = k px + c0 + c1 py, for span bounds */
    double tol[3]; /* past this, k px + c0 + c1 py and the exact test agree on the side of edge i (setup_triangle) */
    int fast;
    int fast_vec; /* fast, and two pixels of room on the right for the vector path's 4-byte gathers */
} setup_t;

/* Sets n bytes to 255: short spans are the rule, where a libc memset call costs more than the stores. */
static inline void fill255(uint8_t *p, int n)
{
    const uint64_t ones = ~(uint64_t)0;
    if (n < 8) {
        for (int i = 0; i < n; i++) p[i] = 255;
        return;
    }
    for (int i = 0; i < n - 8; i += 8) memcpy(p + i, &ones, 8);
    memcpy(p + n - 8, &ones, 8); /* the last 8, overlapping the loop's last store */
}

/* Whether pixel x of the row with edge offsets v[] is certainly inside (every edge value beyond its tolerance),
 * so the exact test agrees without being run. */
static inline int surely_inside(const setup_t *st, const double v[3], double x)
{
    return st->k[0] * x + v[0] > st->tol[0] && st->k[1] * x + v[1] > st->tol[1] && st->k[2] * x + v[2] > st->tol[2];
}

/* Whether pixel x is certainly outside (some edge value below minus its tolerance). */
static inline int surely_outside(const setup_t *st, const double v[3], double x)
{
    return st->k[0] * x + v[0] < -st->tol[0] || st->k[1] * x + v[1] < -st->tol[1] ||
           st->k[2] * x + v[2] < -st->tol[2];
}

/* Whether span [xl, xr] (xl <= xr) is settled without exact tests: both end pixels surely inside, and their outer
 * neighbours surely outside or past the candidates. */
static inline int span_clear(const setup_t *st, const double v[3], int xl, int xr)
{
    return surely_inside(st, v, xl) && surely_inside(st, v, xr) &&
           (xl == st->bx0 || surely_outside(st, v, xl - 1.0)) && (xr == st->bx1 || surely_outside(st, v, xr + 1.0));
}

/* Rows ahead of the one drawn whose memory is prefetched (prefetch_row). */
#define AHEAD 3

/* Every 64-byte line holding a byte of [p, p + n) (n >= 1), for reading, or for writing with FOR_WRITE 1: the first
 * line is the one p falls in, wherever p is aligned. */
#define PREFETCH_LINES(p, n, FOR_WRITE)                                                                     \
    do {                                                                                                    \
        const uintptr_t last_ = (uintptr_t)(p) + (uintptr_t)(n) - 1;                                        \
        for (uintptr_t a_ = (uintptr_t)(p) & ~(uintptr_t)63; a_ <= last_; a_ += 64)                          \
            __builtin_prefetch((const void *)a_, FOR_WRITE);                                                \
    } while (0)

/* Asks for the lines row y (AHEAD rows below the row being drawn, columns [xl, xr]) will read and write: the source
 * under it (the lower row of its bilinear pairs; under a face mesh, whose local maps are near translations, the
 * upper one was the lower one a row before), its destination and coverage. A large mesh's triangles each touch a
 * few new source and destination lines per row, and the hardware prefetchers do not follow a triangle's rows (one
 * image stride apart, a few lines each): a mesh over 40% of a 1080p frame is warped about 10% faster, face-sized
 * regions (in cache) as fast as before. (sx, sy) is the source position of row y's pixel xl, dx the step per
 * pixel. Prefetches never fault and change nothing, but only lines holding the buffers' bytes are asked for. */
static inline void prefetch_row(const fk_image *src, const fk_image *dst, const fk_image *coverage, int y, int xl,
                                int xr, double sx, double sy, double dx)
{
    const int c = src->channels;
    const double x0 = sx + FK_MIN(0.0, (xr - xl) * dx), x1 = sx + FK_MAX(0.0, (xr - xl) * dx) + 1.0;
    const double fy = sy + 1.0;
    if (x0 >= 0.0 && x1 < src->width && fy >= 0.0 && fy < src->height) {
        const int64_t at = (int64_t)fy * src->stride + (int64_t)x0 * c;
        const int64_t end = FK_MIN(at + ((int64_t)x1 - (int64_t)x0 + 1) * c, src->size);
        PREFETCH_LINES(src->data + at, end - at, 0);
    }
    PREFETCH_LINES(dst->data + (int64_t)y * dst->stride + (int64_t)xl * dst->channels,
                   (int64_t)(xr - xl + 1) * dst->channels, 1);
    PREFETCH_LINES(coverage->data + (int64_t)y * coverage->stride + xl, xr - xl + 1, 1);
}

/* Draws rows [ya, yb] of a prepared triangle (inlined into draw_rows, fk_warp.c, and draw_rows_blk3,
 * fk_warp_simd.c). */
__attribute__((always_inline)) static inline void
draw_rows_impl(const setup_t *st, const fk_image *src, fk_image *dst, fk_image *coverage, int ya, int yb,
               span_clamped_fn span_clamped, span_fast_fn span_fast, span_fast_fn span_vec, int round_insn,
               int (*clear)(const setup_t *, const double *, int, int))
{
    const tri_t *tri = &st->tri;
    for (int y = ya; y <= yb; y++) {
        const double py = (double)y;
        double lo = (double)st->bx0, hi = (double)st->bx1;
        double v[3];
        for (int i = 0; i < 3; i++) {
            v[i] = st->c0[i] + st->c1[i] * py;
            if (st->k[i] > 0.0)
                lo = FK_MAX(lo, -v[i] * st->invk[i]);
            else if (st->k[i] < 0.0)
                hi = FK_MIN(hi, -v[i] * st->invk[i]);
        }
        /* ceil and floor: one rounding instruction where the variant's target has it (SSE4.1 and up), else by
         * truncation (the clamped bounds fit an int), cheaper than the baseline's inlined sequence */
        const double lc = clampd(lo, (double)st->bx0, (double)st->bx1 + 1.0);
        const double hc = clampd(hi, (double)st->bx0 - 1.0, (double)st->bx1);
        int xl, xr;
        if (round_insn) {
            xl = (int)ceil(lc);
            xr = (int)floor(hc);
        } else {
            xl = (int)lc;
            xr = (int)hc;
            xl += (double)xl < lc;
            xr -= (double)xr > hc;
        }
        xl = FK_MAX(xl, st->bx0);
        xr = FK_MIN(xr, st->bx1);
        /* Nearly always both ends are clear of the edges by far more than any rounding: the end pixels are surely
         * inside and their outer neighbours surely outside (or past the candidates), and the exact test would say
         * the same. Otherwise the analytic bounds can be a rounding away from the exact test: widen them by a
         * pixel, then settle both ends with that test (spans are convex, so the pixels between are inside). */
        if (!(xl <= xr && clear(st, v, xl, xr))) {
            xl = FK_MAX(xl - 1, st->bx0);
            xr = FK_MIN(xr + 1, st->bx1);
            while (xl <= xr && !inside(tri, xl, py)) xl++;
            while (xr >= xl && !inside(tri, xr, py)) xr--;
            if (xl > xr)
                continue;
        }
        const double sx = st->m[0][0] * xl + st->m[0][1] * py + st->m[0][2];
        const double sy = st->m[1][0] * xl + st->m[1][1] * py + st->m[1][2];
        uint8_t *drow = dst->data + (int64_t)y * dst->stride;
        if (y + AHEAD <= yb)
            prefetch_row(src, dst, coverage, y + AHEAD, xl, xr, sx + AHEAD * st->m[0][1], sy + AHEAD * st->m[1][1],
                         st->m[0][0]);
        if (st->fast && sx >= 0.0 && sy >= 0.0 && sx < src->width - 1 && sy < src->height - 1) {
            const int64_t qx = (int64_t)(sx * FK_FIXED_ONE), qy = (int64_t)(sy * FK_FIXED_ONE);
            const int64_t dqx = (int64_t)(st->m[0][0] * FK_FIXED_ONE), dqy = (int64_t)(st->m[1][0] * FK_FIXED_ONE);
            if (st->fast_vec && span_vec != NULL)
                span_vec(src, drow, xl, xr, qx, qy, dqx, dqy); /* a direct, inlined call in draw_rows_blk3 */
            else
                span_fast(src, drow, xl, xr, qx, qy, dqx, dqy);
        } else {
            span_clamped(src, drow, xl, xr, sx, sy, st->m[0][0], st->m[1][0]);
        }
        fill255(coverage->data + (int64_t)y * coverage->stride + xl, xr - xl + 1);
    }
}

typedef void (*draw_rows_fn)(const setup_t *, const fk_image *, fk_image *, fk_image *, int, int, span_clamped_fn,
                             span_fast_fn, span_fast_fn);

/* The SIMD choice for an image of the given channels (fk_warp_simd.c): sets *span_vec to a vector span kernel and
 * *draw to a vectorised row drawer where the CPU has them and fk_set_simd allows them; leaves them as they are
 * otherwise (and always in a build with FK_NO_SIMD). */
void fk_warp_simd_pick(int channels, span_fast_fn *span_vec, draw_rows_fn *draw);

#endif
