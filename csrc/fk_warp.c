/*
 * Piecewise-affine warp of a triangle mesh.
 *
 * Every destination pixel whose centre lies inside (or on the edge of) a destination triangle receives the source
 * image bilinearly sampled at the same barycentric position in the matching source triangle. Triangles are drawn
 * in order, so where they overlap the later one wins, exactly as in the NumPy twin.
 *
 * Pixel centres sit at integer coordinates. Inside tests use the same double-precision edge function as the twin,
 * so both cover the same pixels; each row's span is found analytically and then settled with that exact test.
 * Sampling uses 11-bit fixed-point weights (under 0.15 grey levels from exact bilinear).
 */
#include <math.h>
#include <string.h>

#include "fk_internal.h"

#define FRAC_BITS 11
#define FRAC_ONE (1 << FRAC_BITS)

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

/* Narrows [*lo, *hi] to the px where sign * E_ab(px, py) >= 0 (in real arithmetic; settled by inside() later). */
static inline void clip_span(double ax, double ay, double bx, double by, double sign, double py,
                             double *lo, double *hi)
{
    double k = (by - ay) * sign;             /* d(sign * E)/dpx */
    double c = -(py - ay) * (bx - ax) * sign - ax * k; /* sign * E at px = 0 */
    if (k > 0.0) {
        double x = -c / k;
        if (x > *lo) *lo = x;
    } else if (k < 0.0) {
        double x = -c / k;
        if (x < *hi) *hi = x;
    } else if (c < 0.0) {
        *lo = 1.0;
        *hi = 0.0;
    }
}

/* Clamps a double to [lo, hi] before any conversion to int (NaN maps to lo). */
static inline double clampd(double v, double lo, double hi)
{
    if (!(v >= lo)) return lo;
    if (v > hi) return hi;
    return v;
}

#define DEFINE_SPAN(NAME, CH)                                                                              \
    static void NAME(const fk_image *src, uint8_t *drow, uint8_t *crow, int x0, int x1, double sx,          \
                     double sy, double dsx, double dsy)                                                     \
    {                                                                                                       \
        const double maxx = (double)(src->width - 1), maxy = (double)(src->height - 1);                    \
        const int wm1 = src->width - 1, hm1 = src->height - 1;                                              \
        const int64_t stride = src->stride;                                                                 \
        const uint8_t *sdata = src->data;                                                                   \
        for (int x = x0; x <= x1; x++, sx += dsx, sy += dsy) {                                              \
            int32_t qx = (int32_t)(clampd(sx, 0.0, maxx) * FRAC_ONE);                                       \
            int32_t qy = (int32_t)(clampd(sy, 0.0, maxy) * FRAC_ONE);                                       \
            int ix = qx >> FRAC_BITS, iy = qy >> FRAC_BITS;                                                 \
            uint32_t wx = (uint32_t)(qx & (FRAC_ONE - 1)), wy = (uint32_t)(qy & (FRAC_ONE - 1));            \
            int ix1 = ix < wm1 ? ix + 1 : wm1, iy1 = iy < hm1 ? iy + 1 : hm1;                               \
            const uint8_t *r0 = sdata + (int64_t)iy * stride, *r1 = sdata + (int64_t)iy1 * stride;          \
            const uint8_t *p00 = r0 + ix * (CH), *p01 = r0 + ix1 * (CH);                                    \
            const uint8_t *p10 = r1 + ix * (CH), *p11 = r1 + ix1 * (CH);                                    \
            uint8_t *d = drow + x * (CH);                                                                   \
            for (int c = 0; c < (CH); c++) {                                                                \
                uint32_t top = p00[c] * (FRAC_ONE - wx) + p01[c] * wx;                                      \
                uint32_t bot = p10[c] * (FRAC_ONE - wx) + p11[c] * wx;                                      \
                d[c] = (uint8_t)((top * (FRAC_ONE - wy) + bot * wy + (1u << (2 * FRAC_BITS - 1)))           \
                                 >> (2 * FRAC_BITS));                                                       \
            }                                                                                               \
        }                                                                                                   \
        memset(crow + x0, 255, (size_t)(x1 - x0 + 1));                                                      \
    }

DEFINE_SPAN(span1, 1)
DEFINE_SPAN(span3, 3)
DEFINE_SPAN(span4, 4)

typedef void (*span_fn)(const fk_image *, uint8_t *, uint8_t *, int, int, double, double, double, double);

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

int fk_warp_mesh(const fk_image *src, fk_image *dst, fk_image *coverage,
                 const double *src_points, const double *dst_points, int32_t n_points,
                 const int32_t *triangles, int32_t n_triangles)
{
    int rc;
    span_fn span;
    if ((rc = fk_check_view(src)) != FK_OK) return rc;
    if ((rc = fk_check_same_shape(dst, coverage, 0)) != FK_OK) return rc;
    if (src->channels != dst->channels || coverage->channels != 1)
        return FK_ECHANNELS;
    if ((rc = check_mesh(src_points, dst_points, n_points, triangles, n_triangles)) != FK_OK)
        return rc;
    span = src->channels == 1 ? span1 : (src->channels == 3 ? span3 : span4);

    const double maxx = (double)(dst->width - 1), maxy = (double)(dst->height - 1);
    for (int32_t t = 0; t < n_triangles; t++) {
        const int32_t ia = triangles[3 * t], ib = triangles[3 * t + 1], ic = triangles[3 * t + 2];
        tri_t tri = {dst_points[2 * ia], dst_points[2 * ia + 1], dst_points[2 * ib], dst_points[2 * ib + 1],
                     dst_points[2 * ic], dst_points[2 * ic + 1], 0.0};
        double area = edge_fn(tri.ax, tri.ay, tri.bx, tri.by, tri.cx, tri.cy);
        if (!(area != 0.0) || !isfinite(area))
            continue; /* zero-area (or overflowing) triangles cover nothing */
        tri.sign = area > 0.0 ? 1.0 : -1.0;

        /* The affine map destination -> source, from barycentric weights at (0,0), (1,0), (0,1). */
        const double sax = src_points[2 * ia], say = src_points[2 * ia + 1];
        const double sbx = src_points[2 * ib], sby = src_points[2 * ib + 1];
        const double scx = src_points[2 * ic], scy = src_points[2 * ic + 1];
        double m[2][3];
        {
            double la0 = edge_fn(tri.bx, tri.by, tri.cx, tri.cy, 0, 0) / area;
            double lb0 = edge_fn(tri.cx, tri.cy, tri.ax, tri.ay, 0, 0) / area;
            double lc0 = edge_fn(tri.ax, tri.ay, tri.bx, tri.by, 0, 0) / area;
            double dla_x = (tri.cy - tri.by) / area, dla_y = -(tri.cx - tri.bx) / area;
            double dlb_x = (tri.ay - tri.cy) / area, dlb_y = -(tri.ax - tri.cx) / area;
            double dlc_x = (tri.by - tri.ay) / area, dlc_y = -(tri.bx - tri.ax) / area;
            m[0][0] = dla_x * sax + dlb_x * sbx + dlc_x * scx;
            m[0][1] = dla_y * sax + dlb_y * sbx + dlc_y * scx;
            m[0][2] = la0 * sax + lb0 * sbx + lc0 * scx;
            m[1][0] = dla_x * say + dlb_x * sby + dlc_x * scy;
            m[1][1] = dla_y * say + dlb_y * sby + dlc_y * scy;
            m[1][2] = la0 * say + lb0 * sby + lc0 * scy;
        }

        double ymin = FK_MIN(tri.ay, FK_MIN(tri.by, tri.cy)), ymax = FK_MAX(tri.ay, FK_MAX(tri.by, tri.cy));
        double xmin = FK_MIN(tri.ax, FK_MIN(tri.bx, tri.cx)), xmax = FK_MAX(tri.ax, FK_MAX(tri.bx, tri.cx));
        if (ymax < -1.0 || xmax < -1.0 || ymin > maxy + 1.0 || xmin > maxx + 1.0)
            continue; /* wholly outside the destination */
        /* Candidates reach one pixel past the bounding box: rounding in the exact test can admit a pixel
         * whose centre is a hair outside it, and the twin (which tests every pixel) would then cover it. */
        const int y0 = (int)floor(clampd(ymin, 0.0, maxy)), y1 = (int)ceil(clampd(ymax, 0.0, maxy));
        const int bx0 = (int)floor(clampd(xmin, 0.0, maxx)), bx1 = (int)ceil(clampd(xmax, 0.0, maxx));

        for (int y = y0; y <= y1; y++) {
            const double py = (double)y;
            double lo = (double)bx0, hi = (double)bx1;
            clip_span(tri.bx, tri.by, tri.cx, tri.cy, tri.sign, py, &lo, &hi);
            clip_span(tri.cx, tri.cy, tri.ax, tri.ay, tri.sign, py, &lo, &hi);
            clip_span(tri.ax, tri.ay, tri.bx, tri.by, tri.sign, py, &lo, &hi);
            /* The analytic bounds can be a rounding away from the exact test: widen them by a pixel, then
             * settle both ends with that test (spans are convex, so the pixels between are inside). */
            int xl = (int)ceil(clampd(lo, (double)bx0, (double)bx1 + 1.0)) - 1;
            int xr = (int)floor(clampd(hi, (double)bx0 - 1.0, (double)bx1)) + 1;
            xl = FK_MAX(xl, bx0);
            xr = FK_MIN(xr, bx1);
            while (xl <= xr && !inside(&tri, xl, py)) xl++;
            while (xr >= xl && !inside(&tri, xr, py)) xr--;
            if (xl > xr)
                continue;
            double sx = m[0][0] * xl + m[0][1] * py + m[0][2];
            double sy = m[1][0] * xl + m[1][1] * py + m[1][2];
            span(src, dst->data + (int64_t)y * dst->stride, coverage->data + (int64_t)y * coverage->stride,
                 xl, xr, sx, sy, m[0][0], m[1][0]);
        }
    }
    return FK_OK;
}
