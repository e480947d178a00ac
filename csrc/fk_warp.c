/*
 * Piecewise-affine warp of a triangle mesh.
 *
 * Every destination pixel whose centre lies inside (or on the edge of) a destination triangle receives the source
 * image bilinearly sampled at the same barycentric position in the matching source triangle. Triangles are drawn
 * in order, so where they overlap the later one wins, exactly as in the NumPy twin.
 *
 * Pixel centres sit at integer coordinates. Inside tests use the same double-precision edge function as the twin,
 * so both cover the same pixels; each row's span is found analytically, and its ends are settled with that exact
 * test unless they are provably clear of the edges (see draw_rows_impl). Sampling uses 11-bit fixed-point weights
 * (under 0.15 grey levels from exact bilinear; the RGB block kernel's 16.16 positions add under 0.08).
 *
 * This file holds the scalar algorithm; the vector kernels, chosen at run time, are in fk_warp_simd.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_warp_internal.h"

#define FK_MIN_AREA 1e-3 /* doubled triangle area, in pixels squared */

/* Bilinear sample of channel c from the four neighbours, in the lerp form (3 multiplies): exactly
 * p00 (1-wx)(1-wy) + p01 wx (1-wy) + p10 (1-wx) wy + p11 wx wy with weights in 1/2048, rounded. */
#define FK_BILERP(p00, p01, p10, p11, c, wx, wy)                                                              \
    do {                                                                                                        \
        const int32_t t_ = (int32_t)(p00)[c] * FRAC_ONE + ((int32_t)(p01)[c] - (int32_t)(p00)[c]) * (wx);       \
        const int32_t b_ = (int32_t)(p10)[c] * FRAC_ONE + ((int32_t)(p11)[c] - (int32_t)(p10)[c]) * (wx);       \
        d[c] = (uint8_t)((t_ * FRAC_ONE + (b_ - t_) * (wy) + (1 << (2 * FRAC_BITS - 1))) >> (2 * FRAC_BITS));  \
    } while (0)

/* The general span: positions in double, clamped to the image on every pixel. */
#define DEFINE_SPAN_CLAMPED(NAME, CH)                                                                          \
    static void NAME(const fk_image *src, uint8_t *drow, int x0, int x1, double sx, double sy, double dsx,     \
                     double dsy)                                                                                \
    {                                                                                                           \
        const double maxx = (double)(src->width - 1), maxy = (double)(src->height - 1);                        \
        const int wm1 = src->width - 1, hm1 = src->height - 1;                                                  \
        for (int x = x0; x <= x1; x++, sx += dsx, sy += dsy) {                                                  \
            const int32_t qx = (int32_t)(clampd(sx, 0.0, maxx) * FRAC_ONE);                                     \
            const int32_t qy = (int32_t)(clampd(sy, 0.0, maxy) * FRAC_ONE);                                     \
            const int ix = qx >> FRAC_BITS, iy = qy >> FRAC_BITS;                                               \
            const int32_t wx = qx & (FRAC_ONE - 1), wy = qy & (FRAC_ONE - 1);                                   \
            const int ix1 = ix < wm1 ? ix + 1 : wm1, iy1 = iy < hm1 ? iy + 1 : hm1;                             \
            const uint8_t *r0 = src->data + (int64_t)iy * src->stride;                                          \
            const uint8_t *r1 = src->data + (int64_t)iy1 * src->stride;                                         \
            const uint8_t *p00 = r0 + ix * (CH), *p01 = r0 + ix1 * (CH);                                        \
            const uint8_t *p10 = r1 + ix * (CH), *p11 = r1 + ix1 * (CH);                                        \
            uint8_t *d = drow + x * (CH);                                                                       \
            for (int c = 0; c < (CH); c++)                                                                      \
                FK_BILERP(p00, p01, p10, p11, c, wx, wy);                                                       \
        }                                                                                                       \
    }

/* The fast span, for triangles whose source lies inside the image with a margin: positions in fixed point
 * with 32 fraction bits (no visible drift over a row), no clamping, both neighbours always inside. */
#define DEFINE_SPAN_FAST(NAME, CH)                                                                             \
    static void NAME(const fk_image *src, uint8_t *drow, int x0, int x1, int64_t qx, int64_t qy, int64_t dqx,  \
                     int64_t dqy)                                                                               \
    {                                                                                                           \
        const int64_t stride = src->stride;                                                                     \
        const uint8_t *sdata = src->data;                                                                       \
        uint8_t *d = drow + x0 * (CH);                                                                          \
        for (int x = x0; x <= x1; x++, qx += dqx, qy += dqy, d += (CH)) {                                       \
            const int ix = (int)(qx >> 32), iy = (int)(qy >> 32);                                               \
            const int32_t wx = (int32_t)((qx >> (32 - FRAC_BITS)) & (FRAC_ONE - 1));                            \
            const int32_t wy = (int32_t)((qy >> (32 - FRAC_BITS)) & (FRAC_ONE - 1));                            \
            const uint8_t *p00 = sdata + (int64_t)iy * stride + ix * (CH);                                      \
            const uint8_t *p10 = p00 + stride;                                                                  \
            for (int c = 0; c < (CH); c++)                                                                      \
                FK_BILERP(p00, p00 + (CH), p10, p10 + (CH), c, wx, wy);                                         \
        }                                                                                                       \
    }

DEFINE_SPAN_CLAMPED(span_clamped1, 1)
DEFINE_SPAN_CLAMPED(span_clamped3, 3)
DEFINE_SPAN_CLAMPED(span_clamped4, 4)
DEFINE_SPAN_FAST(span_fast1, 1)
DEFINE_SPAN_FAST(span_fast3, 3)
DEFINE_SPAN_FAST(span_fast4, 4)

static int check_mesh(const double *src_points, const double *dst_points, int32_t n_points,
                      const int32_t *triangles, int32_t n_triangles)
{
    if (n_points < 0 || n_triangles < 0)
        return FK_EARG;
    if (n_triangles == 0)
        return FK_OK;
    if (src_points == NULL || dst_points == NULL || triangles == NULL)
        return FK_ENULL;
    for (int64_t i = 0; i < 2 * (int64_t)n_points; i++)
        if (!isfinite(src_points[i]) || !isfinite(dst_points[i]))
            return FK_ENONFINITE;
    for (int64_t i = 0; i < 3 * (int64_t)n_triangles; i++)
        if (triangles[i] < 0 || triangles[i] >= n_points)
            return FK_EINDEX;
    return FK_OK;
}

/* Prepares triangle t; returns 0 when it covers nothing (zero area or wholly outside the destination). */
static int setup_triangle(setup_t *st, const fk_image *src, const fk_image *dst, const double *src_points,
                          const double *dst_points, const int32_t *tri3)
{
    const double maxx = (double)(dst->width - 1), maxy = (double)(dst->height - 1);
    const int32_t ia = tri3[0], ib = tri3[1], ic = tri3[2];
    tri_t tri = {dst_points[2 * ia], dst_points[2 * ia + 1], dst_points[2 * ib], dst_points[2 * ib + 1],
                 dst_points[2 * ic], dst_points[2 * ic + 1], 0.0};
    const double area = edge_fn(tri.ax, tri.ay, tri.bx, tri.by, tri.cx, tri.cy);
    /* Slivers under FK_MIN_AREA cover nothing: below it the barycentric weights are ill-conditioned (denormal
     * areas make them overflow), and a thousandth of a pixel's area holds no pixel centre worth sampling. */
    if (!(fabs(area) >= FK_MIN_AREA) || !isfinite(area))
        return 0; /* zero-area (or overflowing) triangles cover nothing */
    tri.sign = area > 0.0 ? 1.0 : -1.0;

    /* The affine map destination -> source, from the barycentric weights at (0,0) and their gradients. */
    const double sax = src_points[2 * ia], say = src_points[2 * ia + 1];
    const double sbx = src_points[2 * ib], sby = src_points[2 * ib + 1];
    const double scx = src_points[2 * ic], scy = src_points[2 * ic + 1];
    const double la0 = edge_fn(tri.bx, tri.by, tri.cx, tri.cy, 0, 0) / area;
    const double lb0 = edge_fn(tri.cx, tri.cy, tri.ax, tri.ay, 0, 0) / area;
    const double lc0 = edge_fn(tri.ax, tri.ay, tri.bx, tri.by, 0, 0) / area;
    const double dla_x = (tri.cy - tri.by) / area, dla_y = -(tri.cx - tri.bx) / area;
    const double dlb_x = (tri.ay - tri.cy) / area, dlb_y = -(tri.ax - tri.cx) / area;
    const double dlc_x = (tri.by - tri.ay) / area, dlc_y = -(tri.bx - tri.ax) / area;
    st->m[0][0] = dla_x * sax + dlb_x * sbx + dlc_x * scx;
    st->m[0][1] = dla_y * sax + dlb_y * sbx + dlc_y * scx;
    st->m[0][2] = la0 * sax + lb0 * sbx + lc0 * scx;
    st->m[1][0] = dla_x * say + dlb_x * sby + dlc_x * scy;
    st->m[1][1] = dla_y * say + dlb_y * sby + dlc_y * scy;
    st->m[1][2] = la0 * say + lb0 * sby + lc0 * scy;

    /* The fast path needs every sample (a convex combination of the source vertices) and its right and lower
     * neighbours inside the image; a margin absorbs rounding and the fixed-point steps. */
    const double margin = 1e-3;
    st->fast = FK_MIN(sax, FK_MIN(sbx, scx)) >= margin && FK_MAX(sax, FK_MAX(sbx, scx)) <= src->width - 1 - margin &&
               FK_MIN(say, FK_MIN(sby, scy)) >= margin && FK_MAX(say, FK_MAX(sby, scy)) <= src->height - 1 - margin &&
               fabs(st->m[0][0]) < 65536.0 && fabs(st->m[1][0]) < 65536.0;
    st->fast_vec = st->fast && FK_MAX(sax, FK_MAX(sbx, scx)) <= src->width - 2 - margin;

    const double ymin = FK_MIN(tri.ay, FK_MIN(tri.by, tri.cy)), ymax = FK_MAX(tri.ay, FK_MAX(tri.by, tri.cy));
    const double xmin = FK_MIN(tri.ax, FK_MIN(tri.bx, tri.cx)), xmax = FK_MAX(tri.ax, FK_MAX(tri.bx, tri.cx));
    if (ymax < -1.0 || xmax < -1.0 || ymin > maxy + 1.0 || xmin > maxx + 1.0)
        return 0; /* wholly outside the destination */
    /* Candidates reach one pixel past the bounding box: rounding in the exact test can admit a pixel whose
     * centre is a hair outside it, and the twin (which tests every pixel) would then cover it. */
    st->y0 = (int)floor(clampd(ymin, 0.0, maxy));
    st->y1 = (int)ceil(clampd(ymax, 0.0, maxy));
    st->bx0 = (int)floor(clampd(xmin, 0.0, maxx));
    st->bx1 = (int)ceil(clampd(xmax, 0.0, maxx));
    st->tri = tri;
    {
        const double ex[3][4] = {{tri.bx, tri.by, tri.cx, tri.cy}, {tri.cx, tri.cy, tri.ax, tri.ay},
                                 {tri.ax, tri.ay, tri.bx, tri.by}};
        double rmax = (double)FK_MAX(dst->width, dst->height) + 2.0; /* pixel centres tested reach one past */
        for (int i = 0; i < 3; i++) /* the edges' first vertices are the three vertices */
            rmax = FK_MAX(rmax, FK_MAX(fabs(ex[i][0]), fabs(ex[i][1])));
        for (int i = 0; i < 3; i++) {
            const double eax = ex[i][0], eay = ex[i][1], ebx = ex[i][2], eby = ex[i][3];
            st->k[i] = (eby - eay) * tri.sign;
            /* A (nearly) horizontal edge bounds no span: the exact test settles its rows (1/k would overflow).
             * Flattening it moves the analytic form by at most |k| * 2R, which the tolerance below takes in. */
            double flattened = 0.0;
            if (fabs(st->k[i]) < 1e-9) {
                flattened = fabs(st->k[i]) * 2.0 * rmax;
                st->k[i] = 0.0;
            }
            st->invk[i] = st->k[i] != 0.0 ? 1.0 / st->k[i] : 0.0;
            st->c1[i] = -(ebx - eax) * tri.sign;
            st->c0[i] = -st->k[i] * eax + (ebx - eax) * tri.sign * eay;
            /* Error bound. With R bounding every coordinate involved (vertices and pixel centres), the exact test
             * computes E_i within about 8u R (|dx| + |dy|) of its real value (u = 2^-53), and the analytic form
             * k px + (c0 + c1 py) within about 15u R (|dx| + |dy|); so where the analytic value is beyond
             * 1e-12 R (|dx| + |dy|) (some 400 times their sum), the exact test has the same sign. */
            st->tol[i] = 1e-12 * rmax * (fabs(ebx - eax) + fabs(eby - eay)) + flattened;
        }
    }
    return 1;
}

static void draw_rows(const setup_t *st, const fk_image *src, fk_image *dst, fk_image *coverage, int ya, int yb,
                      span_clamped_fn span_clamped, span_fast_fn span_fast, span_fast_fn span_vec)
{
    draw_rows_impl(st, src, dst, coverage, ya, yb, span_clamped, span_fast, span_vec, 0, span_clear);
}

/* Rows per band. Triangles are drawn band by band (each band's triangles in index order, so the later triangle
 * still wins where they overlap): the band's destination and source rows stay in cache, where drawing whole
 * triangles in mesh order would fetch every row afresh for each of its triangles. */
#define BAND 16

int fk_warp_mesh(const fk_image *src, fk_image *dst, fk_image *coverage,
                 const double *src_points, const double *dst_points, int32_t n_points,
                 const int32_t *triangles, int32_t n_triangles)
{
    int rc;
    if ((rc = fk_check_view(src)) != FK_OK) return rc;
    if ((rc = fk_check_same_shape(dst, coverage, 0)) != FK_OK) return rc;
    if (src->channels != dst->channels || coverage->channels != 1)
        return FK_ECHANNELS;
    if ((rc = check_mesh(src_points, dst_points, n_points, triangles, n_triangles)) != FK_OK)
        return rc;
    if (n_triangles == 0)
        return FK_OK;
    const span_clamped_fn span_clamped =
        src->channels == 1 ? span_clamped1 : (src->channels == 3 ? span_clamped3 : span_clamped4);
    const span_fast_fn span_fast = src->channels == 1 ? span_fast1 : (src->channels == 3 ? span_fast3 : span_fast4);

    span_fast_fn span_vec = NULL;
    draw_rows_fn draw = draw_rows;
    fk_warp_simd_pick(src->channels, &span_vec, &draw);

    const int n_bands = (dst->height + BAND - 1) / BAND;
    setup_t *setups = malloc(sizeof(setup_t) * (size_t)n_triangles);
    int32_t *live = malloc(sizeof(int32_t) * (size_t)n_triangles);
    int64_t *band_start = calloc((size_t)n_bands + 1, sizeof(int64_t));
    int32_t *band_tris = NULL;
    int64_t n_live = 0, n_entries = 0;
    if (setups == NULL || live == NULL || band_start == NULL) {
        rc = FK_ENOMEM;
        goto done;
    }
    /* Bucket the live triangles by band (counting sort, which keeps index order within each band). */
    for (int32_t t = 0; t < n_triangles; t++) {
        if (!setup_triangle(&setups[t], src, dst, src_points, dst_points, triangles + 3 * t))
            continue;
        live[n_live++] = t;
        for (int b = setups[t].y0 / BAND; b <= setups[t].y1 / BAND; b++)
            band_start[b + 1]++;
    }
    for (int b = 0; b < n_bands; b++)
        band_start[b + 1] += band_start[b];
    n_entries = band_start[n_bands];
    band_tris = malloc(sizeof(int32_t) * (size_t)FK_MAX(n_entries, 1));
    if (band_tris == NULL) {
        rc = FK_ENOMEM;
        goto done;
    }
    {
        int64_t *fill = band_start; /* advanced as the fill position, then shifted back below */
        for (int64_t i = 0; i < n_live; i++) {
            const int32_t t = live[i];
            for (int b = setups[t].y0 / BAND; b <= setups[t].y1 / BAND; b++)
                band_tris[fill[b]++] = t;
        }
        for (int b = n_bands; b > 0; b--)
            band_start[b] = band_start[b - 1];
        band_start[0] = 0;
    }
    for (int b = 0; b < n_bands; b++) {
        const int yb0 = b * BAND, yb1 = FK_MIN(yb0 + BAND, dst->height) - 1;
        for (int64_t i = band_start[b]; i < band_start[b + 1]; i++) {
            const setup_t *st = &setups[band_tris[i]];
            draw(st, src, dst, coverage, FK_MAX(st->y0, yb0), FK_MIN(st->y1, yb1), span_clamped, span_fast,
                      span_vec);
        }
    }
    rc = FK_OK;
done:
    free(setups);
    free(live);
    free(band_start);
    free(band_tris);
    return rc;
}

