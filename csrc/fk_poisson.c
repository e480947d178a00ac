/*
 * Poisson seamless cloning (Perez, Gangnet and Blake 2003), solved by geometric multigrid on the mask's bounding
 * box only.
 *
 * Unknowns are the pixels p of Omega: mask >= 128, excluding the ROI's outer 1-pixel ring (those pixels, like
 * every pixel outside Omega, are boundary and keep dst). For p in Omega, with N_p its four neighbours, g = src and
 * f* = dst, the discrete equation is
 *     4 f_p - sum_{q in N_p, q in Omega} f_q = sum_{q in N_p, q not in Omega} f*_q + sum_{q in N_p} v_pq
 * with v_pq = g_p - g_q (normal mode), or whichever of g_p - g_q and f*_p - f*_q has the larger magnitude (mixed
 * mode; ties take the source). The solver works on u = f - g, for which the equation reads
 *     4 u_p - sum_{q in N_p} u_q = sum_{q in N_p} (v_pq - (g_p - g_q)),
 * with u = f* - g held fixed outside Omega: the right-hand side is zero in normal mode, so level 0 stores none.
 *
 * Multigrid: vertex-centred grids of odd size, coarse point i on fine point 2i; red-black Gauss-Seidel smoothing
 * (two sweeps before and after), full-weighting restriction of the residual (times 4 for the doubled spacing),
 * bilinear prolongation; a coarse point is an unknown where its fine point is. Everything is float32 and starts
 * from the source offset by the mean of (dst - src) over the boundary. V-cycles repeat until
 * ||b - A f||_2 <= tol * max(||b||_2, 1) over all channels, b being the right-hand side of the first equation, or
 * max_cycles have run; the cycle count and that relative residual are reported back.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

#define MAX_GRIDS 16
#define PRE_SWEEPS 2
#define POST_SWEEPS 2
#define COARSE_SWEEPS 40

typedef struct {
    int h, w;      /* grid size, both odd */
    float *u;      /* h * w * c: level 0 holds f - g, coarser levels a correction */
    float *rhs;    /* h * w * c, or NULL for a zero right-hand side */
    float *res;    /* h * w * c scratch for the residual (NULL on the coarsest grid) */
    uint8_t *act;  /* h * w: 1 for an unknown, 0 for a fixed (boundary) point */
} grid;

/* One red-black Gauss-Seidel half-sweep over the points with (i + j) % 2 == colour. */
static void sweep(const grid *g, int c, int colour)
{
    const int64_t rs = (int64_t)g->w * c;
    for (int i = 1; i < g->h - 1; i++) {
        const uint8_t *a = g->act + (int64_t)i * g->w;
        float *u = g->u + i * rs;
        const float *b = g->rhs != NULL ? g->rhs + i * rs : NULL;
        for (int j = 1 + ((colour + i + 1) & 1); j < g->w - 1; j += 2) {
            if (!a[j]) continue;
            float *p = u + (int64_t)j * c;
            for (int k = 0; k < c; k++) {
                float s = p[k - c] + p[k + c] + p[k - rs] + p[k + rs];
                if (b != NULL) s += b[(int64_t)j * c + k];
                p[k] = 0.25f * s;
            }
        }
    }
}

static void smooth(const grid *g, int c, int n)
{
    for (int t = 0; t < n; t++) {
        sweep(g, c, 0);
        sweep(g, c, 1);
    }
}

/* res = rhs - A u on unknowns, 0 elsewhere; returns the sum of squares of res. */
static double residual(const grid *g, int c, float *res)
{
    const int64_t rs = (int64_t)g->w * c;
    double ss = 0.0;
    for (int i = 0; i < g->h; i++) {
        const uint8_t *a = g->act + (int64_t)i * g->w;
        const float *u = g->u + i * rs;
        const float *b = g->rhs != NULL ? g->rhs + i * rs : NULL;
        float *r = res != NULL ? res + i * rs : NULL;
        float rowss = 0.0f;
        for (int j = 0; j < g->w; j++) {
            const float *p = u + (int64_t)j * c;
            for (int k = 0; k < c; k++) {
                float v = 0.0f;
                if (a[j]) {
                    v = (b != NULL ? b[(int64_t)j * c + k] : 0.0f)
                      - (4.0f * p[k] - p[k - c] - p[k + c] - p[k - rs] - p[k + rs]);
                    rowss += v * v;
                }
                if (r != NULL) r[(int64_t)j * c + k] = v;
            }
        }
        ss += (double)rowss;
    }
    return ss;
}

/* Coarse rhs = 4 * full weighting of the fine residual, at the coarse unknowns (0 elsewhere). */
static void restrict_residual(const grid *fine, const grid *coarse, int c)
{
    const int64_t frs = (int64_t)fine->w * c, crs = (int64_t)coarse->w * c;
    memset(coarse->rhs, 0, sizeof(float) * (size_t)(crs * coarse->h));
    for (int I = 1; I < coarse->h - 1; I++) {
        const uint8_t *a = coarse->act + (int64_t)I * coarse->w;
        float *out = coarse->rhs + I * crs;
        const float *r0 = fine->res + (int64_t)(2 * I - 1) * frs;
        const float *r1 = r0 + frs, *r2 = r1 + frs;
        for (int J = 1; J < coarse->w - 1; J++) {
            if (!a[J]) continue;
            const int64_t x = (int64_t)(2 * J) * c;
            for (int k = 0; k < c; k++) {
                const int64_t q = x + k;
                out[(int64_t)J * c + k] = 0.25f * (4.0f * r1[q] + 2.0f * (r0[q] + r2[q] + r1[q - c] + r1[q + c])
                                                   + r0[q - c] + r0[q + c] + r2[q - c] + r2[q + c]);
            }
        }
    }
}

/* u_fine += bilinear interpolation of u_coarse, at the fine unknowns. */
static void prolong_add(const grid *coarse, const grid *fine, int c)
{
    const int64_t frs = (int64_t)fine->w * c, crs = (int64_t)coarse->w * c;
    for (int i = 1; i < fine->h - 1; i++) {
        const uint8_t *a = fine->act + (int64_t)i * fine->w;
        float *u = fine->u + i * frs;
        const float *e0 = coarse->u + (int64_t)(i / 2) * crs;
        const float *e1 = (i & 1) ? e0 + crs : e0;
        for (int j = 1; j < fine->w - 1; j++) {
            if (!a[j]) continue;
            const int64_t x0 = (int64_t)(j / 2) * c, x1 = (j & 1) ? x0 + c : x0;
            for (int k = 0; k < c; k++)
                u[(int64_t)j * c + k] += 0.25f * (e0[x0 + k] + e0[x1 + k] + e1[x0 + k] + e1[x1 + k]);
        }
    }
}

static void vcycle(grid *g, int level, int nlevels, int c)
{
    grid *f = &g[level];
    if (level == nlevels - 1) {
        smooth(f, c, COARSE_SWEEPS);
        return;
    }
    grid *co = &g[level + 1];
    smooth(f, c, PRE_SWEEPS);
    residual(f, c, f->res);
    restrict_residual(f, co, c);
    memset(co->u, 0, sizeof(float) * (size_t)co->h * (size_t)co->w * (size_t)c);
    vcycle(g, level + 1, nlevels, c);
    prolong_add(co, f, c);
    smooth(f, c, POST_SWEEPS);
}

int fk_blend_poisson(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y,
                     int32_t mode, double tol, int32_t max_cycles, float *solution, int64_t solution_len,
                     int32_t *cycles, double *residual_out)
{
    int rc = fk_check_same_shape(src, mask, 0);
    if (rc != FK_OK) return rc;
    if ((rc = fk_check_view(dst)) != FK_OK) return rc;
    if (mask->channels != 1 || src->channels != dst->channels) return FK_ECHANNELS;
    if (x < 0 || y < 0 || (int64_t)x + src->width > dst->width || (int64_t)y + src->height > dst->height)
        return FK_EBOUNDS;
    if (mode != 0 && mode != 1) return FK_EARG;
    if (!(tol > 0.0 && tol < 1.0) || max_cycles < 0 || max_cycles > 1000) return FK_EARG;
    if (cycles == NULL || residual_out == NULL) return FK_ENULL;
    const int c = src->channels, h = src->height, w = src->width;
    if (solution != NULL && solution_len != (int64_t)h * w * c) return FK_ESHAPE;
    *cycles = 0;
    *residual_out = 0.0;

    const uint8_t *sroi = src->data;
    uint8_t *droi = dst->data + (int64_t)y * dst->stride + (int64_t)x * c;

    /* Omega's bounding box, inside the ROI's ring. */
    int r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (int i = 1; i < h - 1; i++) {
        const uint8_t *m = mask->data + (int64_t)i * mask->stride;
        for (int j = 1; j < w - 1; j++) {
            if (m[j] >= 128) {
                r0 = FK_MIN(r0, i);
                r1 = i;
                c0 = FK_MIN(c0, j);
                c1 = FK_MAX(c1, j);
            }
        }
    }
    if (solution != NULL) {
        for (int i = 0; i < h; i++) {
            const uint8_t *d = droi + (int64_t)i * dst->stride;
            for (int64_t q = 0; q < (int64_t)w * c; q++) solution[(int64_t)i * w * c + q] = (float)d[q];
        }
    }
    if (r1 < 0) return FK_OK; /* no unknowns: the result is dst */

    /* The grid: Omega's box plus a 1-pixel frame, both sides rounded up to odd. */
    const int gr0 = r0 - 1, gc0 = c0 - 1, gh = r1 - r0 + 3, gw = c1 - c0 + 3;
    grid g[MAX_GRIDS];
    int nl = 0;
    {
        int hh = gh | 1, ww = gw | 1;
        for (;;) {
            g[nl].h = hh;
            g[nl].w = ww;
            nl++;
            if (nl == MAX_GRIDS || hh < 7 || ww < 7) break;
            hh = ((hh + 1) / 2) | 1;
            ww = ((ww + 1) / 2) | 1;
        }
    }
    int64_t fl = 0, bl = 0;
    for (int k = 0; k < nl; k++) {
        const int64_t n = (int64_t)g[k].h * g[k].w;
        fl += n * c * 3; /* u, rhs, res */
        bl += n;
    }
    float *fbuf = calloc((size_t)fl, sizeof(float));
    uint8_t *abuf = calloc((size_t)bl, 1);
    if (fbuf == NULL || abuf == NULL) {
        free(fbuf);
        free(abuf);
        return FK_ENOMEM;
    }
    {
        float *pf = fbuf;
        uint8_t *pa = abuf;
        for (int k = 0; k < nl; k++) {
            const int64_t n = (int64_t)g[k].h * g[k].w;
            g[k].u = pf;
            g[k].rhs = pf + n * c;
            g[k].res = pf + 2 * n * c;
            g[k].act = pa;
            pf += 3 * n * c;
            pa += n;
        }
    }
    grid *g0 = &g[0];
    const int64_t rs0 = (int64_t)g0->w * c;

    /* Level 0: unknown flags and u = dst - src on the grid. */
    for (int i = 0; i < gh; i++) {
        const uint8_t *m = mask->data + (int64_t)(gr0 + i) * mask->stride + gc0;
        const uint8_t *s = sroi + (int64_t)(gr0 + i) * src->stride + (int64_t)gc0 * c;
        const uint8_t *d = droi + (int64_t)(gr0 + i) * dst->stride + (int64_t)gc0 * c;
        uint8_t *a = g0->act + (int64_t)i * g0->w;
        float *u = g0->u + i * rs0;
        for (int j = 0; j < gw; j++) {
            const int ri = gr0 + i, rj = gc0 + j;
            a[j] = (uint8_t)(m[j] >= 128 && ri >= 1 && ri <= h - 2 && rj >= 1 && rj <= w - 2);
            for (int k = 0; k < c; k++) u[(int64_t)j * c + k] = (float)d[(int64_t)j * c + k] - (float)s[(int64_t)j * c + k];
        }
    }
    /* Right-hand sides: b (for the norm), and the u-form rhs in mixed mode. Start value: boundary mean offset. */
    double bss = 0.0, bsum[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t bcount = 0;
    static const int di[4] = {-1, 1, 0, 0}, dj[4] = {0, 0, -1, 1};
    for (int i = 1; i < gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        for (int j = 1; j < gw - 1; j++) {
            if (!a[j]) continue;
            const uint8_t *sp = sroi + (int64_t)(gr0 + i) * src->stride + (int64_t)(gc0 + j) * c;
            const uint8_t *dp = droi + (int64_t)(gr0 + i) * dst->stride + (int64_t)(gc0 + j) * c;
            for (int k = 0; k < c; k++) {
                float bval = 0.0f, rval = 0.0f;
                for (int n = 0; n < 4; n++) {
                    const int64_t so = di[n] * src->stride + (int64_t)dj[n] * c;
                    const int64_t dof = di[n] * dst->stride + (int64_t)dj[n] * c;
                    const float gs = (float)sp[k] - (float)sp[so + k];
                    float v = gs;
                    if (mode == 1) {
                        const float gd = (float)dp[k] - (float)dp[dof + k];
                        if (fabsf(gd) > fabsf(gs)) v = gd;
                    }
                    bval += v;
                    rval += v - gs;
                    if (!a[j + dj[n] + di[n] * g0->w]) {
                        bval += (float)dp[dof + k];
                        if (k == 0) bcount++;
                        bsum[k] += (double)((float)dp[dof + k] - (float)sp[so + k]);
                    }
                }
                bss += (double)bval * bval;
                g0->rhs[i * rs0 + (int64_t)j * c + k] = rval;
            }
        }
    }
    if (mode == 0) g0->rhs = NULL;
    for (int i = 1; i < gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        float *u = g0->u + i * rs0;
        for (int j = 1; j < gw - 1; j++)
            if (a[j])
                for (int k = 0; k < c; k++) u[(int64_t)j * c + k] = (float)(bsum[k] / (double)bcount);
    }
    /* Coarse unknowns by injection; stop coarsening where no unknown is left. */
    for (int k = 1; k < nl; k++) {
        int any = 0;
        for (int I = 1; I < g[k].h - 1; I++)
            for (int J = 1; J < g[k].w - 1; J++) {
                const int fi = 2 * I, fj = 2 * J;
                const uint8_t v = (fi < g[k - 1].h && fj < g[k - 1].w) ? g[k - 1].act[(int64_t)fi * g[k - 1].w + fj] : 0;
                g[k].act[(int64_t)I * g[k].w + J] = v;
                any |= v;
            }
        if (!any) {
            nl = k;
            break;
        }
    }

    const double bnorm = FK_MAX(sqrt(bss), 1.0);
    double rel = sqrt(residual(g0, c, NULL)) / bnorm;
    int cyc = 0;
    while (rel > tol && cyc < max_cycles) {
        vcycle(g, 0, nl, c);
        cyc++;
        rel = sqrt(residual(g0, c, NULL)) / bnorm;
    }
    *cycles = cyc;
    *residual_out = rel;

    /* f = g + u on Omega, rounded into dst (and unrounded into the solution). */
    for (int i = 1; i < gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        const float *u = g0->u + i * rs0;
        const int ri = gr0 + i;
        const uint8_t *s = sroi + (int64_t)ri * src->stride + (int64_t)gc0 * c;
        uint8_t *d = droi + (int64_t)ri * dst->stride + (int64_t)gc0 * c;
        float *sol = solution != NULL ? solution + ((int64_t)ri * w + gc0) * c : NULL;
        for (int j = 1; j < gw - 1; j++) {
            if (!a[j]) continue;
            for (int k = 0; k < c; k++) {
                const int64_t q = (int64_t)j * c + k;
                const float f = (float)s[q] + u[q];
                float v = f + 0.5f;
                v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
                d[q] = (uint8_t)v;
                if (sol != NULL) sol[q] = f;
            }
        }
    }
    free(fbuf);
    free(abuf);
    return FK_OK;
}
