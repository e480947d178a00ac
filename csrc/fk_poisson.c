/*
 * Poisson seamless cloning (Perez, Gangnet and Blake 2003), solved by geometric multigrid on the mask's bounding
 * box only.
 *
 * Unknowns are the pixels p of Omega: mask >= 128, excluding the ROI's outer 1-pixel ring (those pixels, like
 * every pixel outside Omega, are boundary and keep dst). For p in Omega, with N_p its four neighbours, g = src and
 * f* = dst, the discrete equation is
 *     4 f_p - sum_{q in N_p, q in Omega} f_q = sum_{q in N_p, q not in Omega} f*_q + sum_{q in N_p, q in Omega} v_pq
 * with v_pq = g_p - g_q (normal mode), or whichever of g_p - g_q and f*_p - f*_q has the larger magnitude (mixed
 * mode; ties take the source). Edges from Omega to the boundary carry no guidance: the guidance field lives on
 * Omega's own edges, and the seam edges only ask for continuity with dst, which keeps the step across the seam at
 * the destination's level instead of the source's. The solver works on u = f - g, for which the equation reads
 *     4 u_p - sum_{q in N_p} u_q = sum_{q in N_p} (v_pq - (g_p - g_q))   (v_pq = 0 on seam edges),
 * with u = f* - g held fixed outside Omega; in normal mode the right-hand side is non-zero only next to the seam.
 *
 * Multigrid: vertex-centred grids of odd size, coarse point i on fine point 2i; red-black Gauss-Seidel smoothing
 * (one sweep before and one after the coarse correction), full-weighting restriction of the residual (times 4
 * for the doubled spacing), bilinear prolongation; a coarse point is an unknown where its fine point is. The
 * coarse grids see the irregular boundary poorly (without help the V-cycle diverges), so each smoothing phase
 * also relaxes the band of unknowns near the boundary (within 6 points, 8 more times on level 0; within 3
 * points, 6 more times on coarser levels: local relaxation, after Brandt); the V-cycle then gains about 5x per
 * cycle. Each level's sweeps run as one wavefront over its rows (half-sweep s on row t - s), so a level is read
 * from memory once per smoothing phase; the residual's restriction rides on the first phase's wavefront and the
 * coarse correction's prolongation on the second's, so a V-cycle reads each level twice. The solve is float32 and
 * starts from the source offset by the mean of (dst - src) over the boundary.
 * V-cycles repeat until ||b - A f||_2 <= tol * max(||b||_2, 1) over all channels, b being the right-hand side
 * of the first equation (in normal mode ||b|| is exact: b is an integer at every unknown), or max_cycles have
 * run; the cycle count and that relative residual are reported back.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

#define MAX_GRIDS 16
#define PRE_SWEEPS 1
#define POST_SWEEPS 1
#define BAND_WIDTH 6   /* band: unknowns within this Chebyshev distance of the boundary, level 0 */
#define COARSE_WIDTH 3 /* and on the coarser levels */
#define COARSE_SWEEPS 40
#define BAND_SWEEPS 8 /* band sweeps per smoothing phase on level 0 */
#define COARSE_BAND 6 /* and on the coarser levels */

typedef struct {
    int h, w;      /* grid size, both odd */
    float *u;      /* h * w * c: level 0 holds u = f - g, coarser levels a correction */
    float *rhs;    /* h * w * c right-hand side, or NULL for zero */
    float *ring;   /* 4 rows of w * c floats: residual rows for the restriction, and one for norms */
    uint8_t *act;  /* h * w: 0 for a fixed (boundary) point, 1 for an unknown, 2 for an unknown in the band */
    int32_t *bptr; /* 2 * h + 1 offsets into bidx: band points of row i with even j, then with odd j */
    int32_t *bidx; /* their columns */
    float *brhs;   /* with rhs NULL: the right-hand side at the band points (c per bidx entry; 0 elsewhere) */
} grid;

/* Row i of one red-black Gauss-Seidel half-sweep over the points with (i + j) % 2 == colour (band points only
   when band_only). With a sparse right-hand side (brhs), the band points take theirs from the band list and
   the other points have none. */
static inline void sweep_row_c(const grid *g, int i, int colour, int band_only, const int c)
{
    const int64_t rs = (int64_t)g->w * c;
    const uint8_t *a = g->act + (int64_t)i * g->w;
    float *u = g->u + i * rs;
    const float *b = g->rhs != NULL ? g->rhs + i * rs : NULL;
    const int slot = 2 * i + ((colour + i) & 1);
    if (!band_only) {
        /* Points of the band are left to the list below when their rhs is sparse. */
        const uint8_t skip = g->brhs != NULL ? 2 : 3;
        for (int j = 1 + ((colour + i + 1) & 1); j < g->w - 1; j += 2) {
            if (!a[j] || a[j] == skip) continue;
            float *p = u + (int64_t)j * c;
#ifdef FK_PIXEL_VECTORS
            /* An RGB point as one vector, its fourth lane (the next point's) left out of the store. */
            if (c == 3) {
                const fk_v4f v = b != NULL ? 0.25f * (ld4(b + (int64_t)j * 3) + ld4(p - 3) + ld4(p + 3) + ld4(p - rs)
                                                      + ld4(p + rs))
                                           : 0.25f * (ld4(p - 3) + ld4(p + 3) + ld4(p - rs) + ld4(p + rs));
                st3(p, v);
                continue;
            }
#endif
            if (b != NULL) {
                const float *bp = b + (int64_t)j * c;
                for (int k = 0; k < c; k++) p[k] = 0.25f * (bp[k] + p[k - c] + p[k + c] + p[k - rs] + p[k + rs]);
            } else {
                for (int k = 0; k < c; k++) p[k] = 0.25f * (p[k - c] + p[k + c] + p[k - rs] + p[k + rs]);
            }
        }
        if (g->brhs == NULL) return;
    }
    for (int32_t t = g->bptr[slot]; t < g->bptr[slot + 1]; t++) {
        float *p = u + (int64_t)g->bidx[t] * c;
        const float *bp = b != NULL ? b + (int64_t)g->bidx[t] * c : g->brhs != NULL ? g->brhs + (int64_t)t * c : NULL;
#ifdef FK_PIXEL_VECTORS
        if (c == 3) { /* as above; brhs keeps a spare float past its last point */
            const fk_v4f v = bp != NULL ? 0.25f * (ld4(bp) + ld4(p - 3) + ld4(p + 3) + ld4(p - rs) + ld4(p + rs))
                                        : 0.25f * (ld4(p - 3) + ld4(p + 3) + ld4(p - rs) + ld4(p + rs));
            st3(p, v);
            continue;
        }
#endif
        if (bp != NULL) {
            for (int k = 0; k < c; k++) p[k] = 0.25f * (bp[k] + p[k - c] + p[k + c] + p[k - rs] + p[k + rs]);
        } else {
            for (int k = 0; k < c; k++) p[k] = 0.25f * (p[k - c] + p[k + c] + p[k - rs] + p[k + rs]);
        }
    }
}

/* Row i of rhs - A u (0 off the unknowns) into out (a row of w * c floats); returns its sum of squares. */
static inline float residual_row_c(const grid *g, int i, float *out, const int c)
{
    const int64_t rs = (int64_t)g->w * c;
    float ss = 0.0f;
    memset(out, 0, sizeof(float) * (size_t)rs);
    if (i <= 0 || i >= g->h - 1) return 0.0f;
    const uint8_t *a = g->act + (int64_t)i * g->w;
    const float *u = g->u + i * rs, *b = g->rhs != NULL ? g->rhs + i * rs : NULL;
    if (g->brhs != NULL)
        for (int32_t t = g->bptr[2 * i]; t < g->bptr[2 * i + 2]; t++)
            for (int k = 0; k < c; k++) out[(int64_t)g->bidx[t] * c + k] = g->brhs[(int64_t)t * c + k];
#ifdef FK_PIXEL_VECTORS
    if (c == 3) { /* an RGB point as one vector, as in sweep_row_c; the sum in the loop's order */
        const fk_v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int j = 1; j < g->w - 1; j++) {
            if (!a[j]) continue;
            const float *p = u + (int64_t)j * 3;
            float *o = out + (int64_t)j * 3;
            const fk_v4f v = ld4(o) + (b != NULL ? ld4(b + (int64_t)j * 3) : zero)
                           - (4.0f * ld4(p) - ld4(p - 3) - ld4(p + 3) - ld4(p - rs) - ld4(p + rs));
            ss += v[0] * v[0];
            ss += v[1] * v[1];
            ss += v[2] * v[2];
            st3(o, v);
        }
        return ss;
    }
#endif
    for (int j = 1; j < g->w - 1; j++) {
        if (!a[j]) continue;
        const float *p = u + (int64_t)j * c;
        for (int k = 0; k < c; k++) {
            const float v = out[(int64_t)j * c + k] + (b != NULL ? b[(int64_t)j * c + k] : 0.0f)
                          - (4.0f * p[k] - p[k - c] - p[k + c] - p[k - rs] - p[k + rs]);
            ss += v * v;
            out[(int64_t)j * c + k] = v;
        }
    }
    return ss;
}

/* Row I of the coarse rhs = 4 * full weighting of the fine residual at the coarse unknowns (fine rows 2I - 1 ..
   2I + 1 final). The fine residual rows are made as needed in fine->ring, three slots keyed by row in key[]. */
static inline void restrict_row_c(const grid *fine, const grid *coarse, int I, int key[3], const int c)
{
    const int64_t frs = (int64_t)fine->w * c, crs = (int64_t)coarse->w * c;
    const uint8_t *a = coarse->act + (int64_t)I * coarse->w;
    const float *rr[3];
    for (int t = 0; t < 3; t++) {
        const int fi = 2 * I - 1 + t, slot = fi % 3;
        if (key[slot] != fi) {
            residual_row_c(fine, fi, fine->ring + slot * frs, c);
            key[slot] = fi;
        }
        rr[t] = fine->ring + slot * frs;
    }
    const float *r0 = rr[0], *r1 = rr[1], *r2 = rr[2];
    float *out = coarse->rhs + I * crs;
#ifdef FK_PIXEL_VECTORS
    if (c == 3) {
        for (int J = 1; J < coarse->w - 1; J++) {
            if (!a[J]) continue;
            const int64_t q = (int64_t)(2 * J) * 3;
            st3(out + (int64_t)J * 3,
                0.25f * (4.0f * ld4(r1 + q) + 2.0f * (ld4(r0 + q) + ld4(r2 + q) + ld4(r1 + q - 3) + ld4(r1 + q + 3))
                         + ld4(r0 + q - 3) + ld4(r0 + q + 3) + ld4(r2 + q - 3) + ld4(r2 + q + 3)));
        }
        return;
    }
#endif
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

/* Row i of u_fine += bilinear interpolation of u_coarse, at the fine unknowns. */
static inline void prolong_row_c(const grid *coarse, const grid *fine, int i, const int c)
{
    const int64_t frs = (int64_t)fine->w * c, crs = (int64_t)coarse->w * c;
    const uint8_t *a = fine->act + (int64_t)i * fine->w;
    float *u = fine->u + i * frs;
    const float *e0 = coarse->u + (int64_t)(i / 2) * crs;
    const float *e1 = (i & 1) ? e0 + crs : e0;
#ifdef FK_PIXEL_VECTORS
    /* The last coarse row's fourth lanes read one float past the coarse grid's u, still inside the levels' one
     * zeroed block (make_levels: a coarse level's rhs, or its ring rows, follows its u). */
    if (c == 3) {
        for (int j = 1; j < fine->w - 1; j++) {
            if (!a[j]) continue;
            const int64_t x0 = (int64_t)(j / 2) * 3, x1 = (j & 1) ? x0 + 3 : x0;
            float *p = u + (int64_t)j * 3;
            st3(p, ld4(p) + 0.25f * (ld4(e0 + x0) + ld4(e0 + x1) + ld4(e1 + x0) + ld4(e1 + x1)));
        }
        return;
    }
#endif
    for (int j = 1; j < fine->w - 1; j++) {
        if (!a[j]) continue;
        const int64_t x0 = (int64_t)(j / 2) * c, x1 = (j & 1) ? x0 + c : x0;
        for (int k = 0; k < c; k++)
            u[(int64_t)j * c + k] += 0.25f * (e0[x0 + k] + e0[x1 + k] + e1[x0 + k] + e1[x1 + k]);
    }
}

/* Sum of squared residuals of row i over its red points ((i + j) even). Smoothing ends with a black half-sweep,
   after which the black residuals are rounding errors, so the red ones make the norm. */
static inline float red_residual_ss_c(const grid *g, int i, const int c)
{
    const int64_t rs = (int64_t)g->w * c;
    const uint8_t *a = g->act + (int64_t)i * g->w;
    const float *u = g->u + i * rs, *b = g->rhs != NULL ? g->rhs + i * rs : NULL;
    const uint8_t skip = g->brhs != NULL ? 2 : 3; /* band points with a sparse rhs are done from the list */
    float ss = 0.0f;
    for (int j = 1 + ((i + 1) & 1); j < g->w - 1; j += 2) {
        if (!a[j] || a[j] == skip) continue;
        const float *p = u + (int64_t)j * c;
        for (int k = 0; k < c; k++) {
            const float v = (b != NULL ? b[(int64_t)j * c + k] : 0.0f)
                          - (4.0f * p[k] - p[k - c] - p[k + c] - p[k - rs] - p[k + rs]);
            ss += v * v;
        }
    }
    if (g->brhs != NULL) {
        const int slot = 2 * i + (i & 1);
        for (int32_t t = g->bptr[slot]; t < g->bptr[slot + 1]; t++) {
            const float *p = u + (int64_t)g->bidx[t] * c;
            for (int k = 0; k < c; k++) {
                const float v = g->brhs[(int64_t)t * c + k]
                              - (4.0f * p[k] - p[k - c] - p[k + c] - p[k - rs] - p[k + rs]);
                ss += v * v;
            }
        }
    }
    return ss;
}

/* Smoothing as one wavefront: nfull red-black sweeps and nband band-only sweeps (full ones first when
   full_first), half-sweep s on row t - s. With a coarse grid from, its correction is added to each row first
   (prolongation), one row ahead of the first half-sweep, which reads the rows on either side; with a coarse grid
   to, the residual is restricted into its rhs (its u zeroed) as soon as a coarse row's three fine rows are final.
   Either gives the same sums as a pass of its own over the whole level before (or after) smoothing, in one pass
   instead of two. When ss is given, it receives the squared residual norm afterwards, each row's residual taken as
   soon as its neighbours are final. */
static inline void smooth_c(const grid *g, const grid *from, const grid *to, int nfull, int nband, int full_first,
                            double *ss, const int c)
{
    const int S = 2 * (nfull + nband), last = g->h - 2;
    double acc = 0.0;
    int corrected = 0; /* rows 1 .. corrected have had from's correction */
    int key[3] = {-1, -1, -1};
    if (to != NULL) {
        const size_t n = (size_t)to->w * (size_t)c * (size_t)to->h;
        memset(to->u, 0, sizeof(float) * n);
        memset(to->rhs, 0, sizeof(float) * n);
    }
    for (int t = 1; t <= last + S + 1; t++) {
        for (; from != NULL && corrected < FK_MIN(t + 1, last); corrected++)
            prolong_row_c(from, g, corrected + 1, c);
        for (int s = 0; s < S; s++) {
            const int i = t - s;
            if (i < 1 || i > last) continue;
            const int is_band = full_first ? (s >= 2 * nfull) : (s < 2 * nband);
            sweep_row_c(g, i, s & 1, is_band, c);
        }
        const int i = t - S - 1; /* rows i - 1 .. i + 1 have had every half-sweep */
        if (ss != NULL && i >= 1 && i <= last) acc += (double)red_residual_ss_c(g, i, c);
        if (to != NULL && i >= 3 && (i & 1) && (i - 1) / 2 <= to->h - 2)
            restrict_row_c(g, to, (i - 1) / 2, key, c); /* fine rows i - 2 .. i final */
    }
    if (ss != NULL) *ss = acc;
}

/* Each kernel is compiled once per channel count, so its inner loops see a constant c. */
static void smooth(const grid *g, const grid *from, const grid *to, int c, int nfull, int nband, int full_first,
                   double *ss)
{
    FK_DISPATCH(c, smooth_c(g, from, to, nfull, nband, full_first, ss, 1),
                smooth_c(g, from, to, nfull, nband, full_first, ss, 3),
                smooth_c(g, from, to, nfull, nband, full_first, ss, 4));
}


static double residual_norm2(const grid *g, int c)
{
    double ss = 0.0;
    for (int i = 1; i < g->h - 1; i++) {
        float r = 0.0f;
        float *row = g->ring + 3 * (int64_t)g->w * c;
        FK_DISPATCH(c, r = residual_row_c(g, i, row, 1), r = residual_row_c(g, i, row, 3),
                    r = residual_row_c(g, i, row, 4));
        ss += (double)r;
    }
    return ss;
}

/* Squared residual norm over the band points only. */
static double band_residual_norm2(const grid *g, int c)
{
    const int64_t rs = (int64_t)g->w * c;
    double ss = 0.0;
    for (int i = 1; i < g->h - 1; i++) {
        for (int32_t t = g->bptr[2 * i]; t < g->bptr[2 * i + 2]; t++) {
            const float *p = g->u + i * rs + (int64_t)g->bidx[t] * c;
            for (int k = 0; k < c; k++) {
                const float b = g->brhs != NULL ? g->brhs[(int64_t)t * c + k]
                              : g->rhs != NULL ? g->rhs[i * rs + (int64_t)g->bidx[t] * c + k] : 0.0f;
                const float v = b - (4.0f * p[k] - p[k - c] - p[k + c] - p[k - rs] - p[k + rs]);
                ss += (double)v * v;
            }
        }
    }
    return ss;
}

/* One V-cycle; at level 0, ss receives the squared residual norm after it. */
static void vcycle(grid *g, int level, int nlevels, int c, double *ss)
{
    grid *f = &g[level];
    if (level == nlevels - 1) {
        smooth(f, NULL, NULL, c, COARSE_SWEEPS, 0, 1, ss);
        return;
    }
    grid *co = &g[level + 1];
    const int band = level == 0 ? BAND_SWEEPS : COARSE_BAND;
    smooth(f, NULL, co, c, PRE_SWEEPS, band, 1, NULL); /* the residual restricted as the rows are done */
    vcycle(g, level + 1, nlevels, c, NULL);
    smooth(f, co, NULL, c, POST_SWEEPS, band, 0, ss); /* the correction added first */
}

static void or_run(uint8_t *restrict out, const uint8_t *restrict in, int n)
{
    for (int j = 0; j < n; j++) out[j] |= in[j];
}

static void add_run(uint8_t *restrict out, const uint8_t *restrict in, int n, int add)
{
    if (add) {
        for (int j = 0; j < n; j++) out[j] = (uint8_t)(out[j] + in[j]);
    } else {
        for (int j = 0; j < n; j++) out[j] = (uint8_t)(out[j] - in[j]);
    }
}

/* Marks the unknowns with a fixed point within d (Chebyshev distance) as band points (act = 2):
   OR of shifted rows of "fixed" flags, across then down (byte loops that vectorise). */
static int mark_band(grid *g, int d)
{
    const int h = g->h, w = g->w;
    fk_scratch scratch = FK_SCRATCH_INIT;
    uint8_t *fixed = fk_scratch_calloc(&scratch, (size_t)(w + 2 * d), 1);
    uint8_t *near = fk_scratch_calloc(&scratch, (size_t)h * (size_t)w, 1);
    uint8_t *cnt = fk_scratch_calloc(&scratch, (size_t)w, 1);
    uint8_t *band = fk_scratch_alloc(&scratch, (size_t)w);
    int32_t *odd = fk_scratch_alloc(&scratch, sizeof(int32_t) * (size_t)w);
    g->bptr = malloc(sizeof(int32_t) * (2 * (size_t)h + 1));
    g->bidx = malloc(sizeof(int32_t) * (size_t)h * (size_t)w + sizeof(int32_t));
    if (fixed == NULL || near == NULL || cnt == NULL || band == NULL || odd == NULL || g->bptr == NULL ||
        g->bidx == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM; /* bptr and bidx are freed with the grid */
    }
    for (int i = 0; i < h; i++) {
        const uint8_t *a = g->act + (int64_t)i * w;
        uint8_t *nr = near + (int64_t)i * w;
        for (int j = 0; j < w; j++) fixed[d + j] = (uint8_t)(a[j] == 0);
        for (int t = 0; t <= 2 * d; t++) or_run(nr, fixed + t, w);
    }
    /* Down the columns: cnt counts the rows within d that have a fixed point near (at most 2d + 1 < 256). */
    for (int t = 0; t <= FK_MIN(d, h - 1); t++) add_run(cnt, near + (int64_t)t * w, w, 1);
    int32_t n = 0;
    for (int i = 0; i < h; i++) {
        uint8_t *a = g->act + (int64_t)i * w;
        int nodd = 0;
        g->bptr[2 * i] = n;
        /* band = unknown with a fixed point near; most rows have a few short runs of them, found 8 bytes at a time */
        for (int j = 0; j < w; j++) band[j] = (uint8_t)((a[j] != 0) & (cnt[j] != 0));
        for (int j = fk_first_set(band, 0, w, 1); j >= 0; j = fk_first_set(band, j + 1, w, 1)) {
            a[j] = 2;
            if (j & 1) odd[nodd++] = j;
            else g->bidx[n++] = j;
        }
        g->bptr[2 * i + 1] = n;
        for (int t = 0; t < nodd; t++) g->bidx[n++] = odd[t];
        if (i + d + 1 < h) add_run(cnt, near + (int64_t)(i + d + 1) * w, w, 1);
        if (i - d >= 0) add_run(cnt, near + (int64_t)(i - d) * w, w, 0);
    }
    g->bptr[2 * h] = n;
    fk_scratch_free(&scratch);
    return FK_OK;
}

typedef struct {
    const uint8_t *s;
    uint8_t *d;
    int64_t ss, ds;
    int gr0, gc0, gh, gw, w;
    float *solution;
} out_t;

/* f = g + u over n values, rounded and clamped into buf, vectorised. */
static void round_run(const uint8_t *restrict s, const float *restrict u, uint8_t *restrict buf, int64_t n)
{
    for (int64_t q = 0; q < n; q++) {
        float v = (float)s[q] + u[q] + 0.5f;
        v = v > 0.0f ? v : 0.0f;
        v = v < 255.0f ? v : 255.0f;
        buf[q] = (uint8_t)(int32_t)v;
    }
}

/* The next run [*start, *end) of unknowns in row a of a level, from column j on, short of column last; 0 when there
   is none. */
static inline int next_run(const uint8_t *a, int j, int last, int *start, int *end)
{
    const int lo = fk_first_set(a, j, last, 0x03); /* act is 1 or 2 at an unknown */
    if (lo < 0) return 0;
    const uint8_t *zero = memchr(a + lo, 0, (size_t)(last - lo));
    *start = lo;
    *end = zero != NULL ? (int)(zero - a) : last;
    return 1;
}

/* Only the unknowns are written: a neighbouring face fused in parallel may own the pixels around them. */
static inline void write_out_c(const grid *g0, const out_t *o, uint8_t *buf, const int c)
{
    const int64_t rs0 = (int64_t)g0->w * c;
    for (int i = 1; i < o->gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        const float *u = g0->u + i * rs0;
        const int ri = o->gr0 + i;
        const uint8_t *s = o->s + (int64_t)ri * o->ss + (int64_t)o->gc0 * c;
        uint8_t *d = o->d + (int64_t)ri * o->ds + (int64_t)o->gc0 * c;
        float *sol = o->solution != NULL ? o->solution + ((int64_t)ri * o->w + o->gc0) * c : NULL;
        round_run(s, u, buf, (int64_t)o->gw * c);
        int j0, j1;
        for (int j = 1; next_run(a, j, o->gw - 1, &j0, &j1); j = j1) {
            const int64_t q0 = (int64_t)j0 * c, q1 = (int64_t)j1 * c;
            memcpy(d + q0, buf + q0, (size_t)(q1 - q0));
            if (sol != NULL)
                for (int64_t q = q0; q < q1; q++) sol[q] = (float)s[q] + u[q];
        }
    }
}

/* u = mean over the unknowns: run by run, copied from a row of the mean (pattern holds gw * c floats). */
static inline void fill_c(const grid *g0, int gh, int gw, const float *mean, float *pattern, const int c)
{
    for (int j = 0; j < gw; j++)
        for (int k = 0; k < c; k++) pattern[(int64_t)j * c + k] = mean[k];
    for (int i = 1; i < gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        float *u = g0->u + i * (int64_t)g0->w * c;
        int j0, j1;
        for (int j = 1; next_run(a, j, gw - 1, &j0, &j1); j = j1)
            memcpy(u + (int64_t)j0 * c, pattern, sizeof(float) * (size_t)(j1 - j0) * (size_t)c);
    }
}

static void free_grids(grid *g, int n)
{
    for (int k = 0; k < n; k++) {
        free(g[k].bptr);
        free(g[k].bidx);
        free(g[k].brhs);
    }
}

typedef struct {
    const uint8_t *s, *d; /* src and dst at the grid's top-left point */
    int64_t ss, ds;       /* their row strides */
    int gh, gw;
    double bss, bsum[4];
    int64_t bcount;
} setup_t;

/* Mixed mode (mode 1; 0 would take the source's gradients alone), over the unknowns: ||b||^2, the u-form
   right-hand side and the boundary offset sums. Callers pass mode as a constant, like c, so that the choice folds
   out of the inner loop. */
static inline void setup_c(const grid *g0, setup_t *st, float *rhs, const int mode, const int c)
{
    const int64_t rs0 = (int64_t)g0->w * c;
    for (int i = 1; i < st->gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        const uint8_t *srow = st->s + (int64_t)i * st->ss, *drow = st->d + (int64_t)i * st->ds;
        const int64_t so[4] = {-st->ss, st->ss, -c, c}, dof[4] = {-st->ds, st->ds, -c, c};
        float rowss = 0.0f;
        for (int j = 1; j < st->gw - 1; j++) {
            if (!a[j]) continue;
            const uint8_t *sp = srow + (int64_t)j * c, *dp = drow + (int64_t)j * c;
            const int nb[4] = {!a[j - g0->w], !a[j + g0->w], !a[j - 1], !a[j + 1]};
            if (nb[0] | nb[1] | nb[2] | nb[3])
            for (int n = 0; n < 4; n++) {
                if (!nb[n]) continue;
                st->bcount++;
                for (int k = 0; k < c; k++) st->bsum[k] += (double)((float)dp[dof[n] + k] - (float)sp[so[n] + k]);
            }
            for (int k = 0; k < c; k++) {
                float bval = 0.0f, rval = 0.0f;
                for (int n = 0; n < 4; n++) {
                    const float gs = (float)sp[k] - (float)sp[so[n] + k];
                    float v = gs;
                    if (mode == 1) {
                        const float gd = (float)dp[k] - (float)dp[dof[n] + k];
                        if (fabsf(gd) > fabsf(gs)) v = gd;
                    }
                    if (nb[n]) v = 0.0f; /* edges to fixed points carry no guidance */
                    bval += v + (nb[n] ? (float)dp[dof[n] + k] : 0.0f);
                    rval += v - gs;
                }
                rowss += bval * bval;
                if (rhs != NULL) rhs[i * rs0 + (int64_t)j * c + k] = rval;
            }
        }
        st->bss += (double)rowss;
    }
}

/* Normal mode's b_p, the right-hand side of the equation in f, at every value of a row: over the four neighbours
   q, f*_q where q is fixed and g_p - g_q where it is not; 0 where p itself is fixed. Each pointer is at the row's
   second point; fu, fm, fd are 0xFF where the point is fixed (per value), s the source, d the destination (rows up,
   middle, down). Every b_p is an integer (|b_p| <= 1020), so its square is exact in 32 bits; the sums run over
   chunks short enough for 32 bits too, and the loop vectorises. */
#define NORM_CHUNK 2048 /* 2048 * 1020^2 < 2^31 */
/* fixed (0x00 or 0xFF) ? a : b */
static inline int16_t pick(uint8_t fixed, int16_t a, int16_t b)
{
    const int16_t m = (int16_t)(int8_t)fixed;
    return (int16_t)((a & m) | (b & ~m));
}

static int64_t norm_row(const uint8_t *restrict fu, const uint8_t *restrict fm, const uint8_t *restrict fd,
                        const uint8_t *restrict su, const uint8_t *restrict sm, const uint8_t *restrict sd,
                        const uint8_t *restrict du, const uint8_t *restrict dm, const uint8_t *restrict dd,
                        int64_t n, int64_t c)
{
    int64_t total = 0;
    for (int64_t q0 = 0; q0 < n; q0 += NORM_CHUNK) {
        const int64_t q1 = FK_MIN(n, q0 + NORM_CHUNK);
        int32_t part = 0;
        for (int64_t q = q0; q < q1; q++) { /* masks, not branches: every load is made, and the loop vectorises */
            const int16_t g = sm[q];
            const int16_t b = (int16_t)(pick(fu[q], du[q], (int16_t)(g - su[q]))
                                        + pick(fd[q], dd[q], (int16_t)(g - sd[q]))
                                        + pick(fm[q - c], dm[q - c], (int16_t)(g - sm[q - c]))
                                        + pick(fm[q + c], dm[q + c], (int16_t)(g - sm[q + c])));
            const int16_t kept = pick(fm[q], 0, b);
            part += (int32_t)kept * kept;
        }
        total += part;
    }
    return total;
}

/* Normal mode: ||b||^2, exactly (integers throughout). flags holds 3 rows of gw * c bytes. */
static inline void setup_normal_c(const grid *g0, setup_t *st, uint8_t *flags, const int c)
{
    const int gw = st->gw;
    const int64_t n = (int64_t)gw * c;
    uint8_t *fr[3] = {flags, flags + n, flags + 2 * n}; /* 0xFF where the point is fixed, per value */
    int key[3] = {-1, -1, -1};
    int64_t total = 0;
    for (int i = 1; i < st->gh - 1; i++) {
        const uint8_t *f[3];
        for (int t = 0; t < 3; t++) {
            const int r = i - 1 + t, slot = r % 3;
            if (key[slot] != r) {
                const uint8_t *a = g0->act + (int64_t)r * g0->w;
                for (int j = 0; j < gw; j++) {
                    const uint8_t v = (uint8_t)-(int32_t)(a[j] == 0);
                    for (int k = 0; k < c; k++) fr[slot][(int64_t)j * c + k] = v;
                }
                key[slot] = r;
            }
            f[t] = fr[slot];
        }
        const uint8_t *su = st->s + (int64_t)(i - 1) * st->ss, *sm = su + st->ss, *sd = sm + st->ss;
        const uint8_t *du = st->d + (int64_t)(i - 1) * st->ds, *dm = du + st->ds, *dd = dm + st->ds;
        total += norm_row(f[0] + c, f[1] + c, f[2] + c, su + c, sm + c, sd + c, du + c, dm + c, dd + c, n - 2 * c, c);
    }
    st->bss = (double)total;
}

/* One blend: the ROI, Omega's grid in it (its box plus a 1-pixel frame, in ROI coordinates, before the sides are
   rounded up to odd) and the multigrid levels. */
typedef struct {
    const fk_image *src, *mask, *dst;
    const uint8_t *sroi; /* src at the ROI's top-left (the whole of src) */
    uint8_t *droi;       /* dst at the ROI's top-left */
    int c, h, w, mode;
    int gr0, gc0, gh, gw;
    int nl;
    grid g[MAX_GRIDS];
    setup_t st;
} poisson_t;

/* The arguments, in the order of their status codes. */
static int check_args(const fk_image *src, const fk_image *mask, const fk_image *dst, int32_t x, int32_t y,
                      int32_t mode, double tol, int32_t max_cycles, const float *solution, int64_t solution_len,
                      const int32_t *cycles, const double *residual_out)
{
    int rc = fk_check_paste(src, mask, dst, x, y);
    if (rc != FK_OK) return rc;
    if (mode != 0 && mode != 1) return FK_EARG;
    if (!(tol > 0.0 && tol < 1.0) || max_cycles < 0 || max_cycles > 1000) return FK_EARG;
    if (cycles == NULL || residual_out == NULL) return FK_ENULL;
    if (solution != NULL && solution_len != (int64_t)src->height * src->width * src->channels) return FK_ESHAPE;
    return FK_OK;
}

/* dst's ROI into the solution, as floats: the result wherever nothing is solved. */
static void copy_dst(const poisson_t *p, float *solution)
{
    const int64_t n = (int64_t)p->w * p->c;
    for (int i = 0; i < p->h; i++) {
        const uint8_t *d = p->droi + (int64_t)i * p->dst->stride;
        for (int64_t q = 0; q < n; q++) solution[(int64_t)i * n + q] = (float)d[q];
    }
}

/* Omega's bounding box, inside the ROI's ring, framed by a pixel into the grid; 0 when Omega is empty. */
static int find_grid(poisson_t *p)
{
    const int h = p->h, w = p->w;
    int r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (int i = 1; i < h - 1; i++) {
        const uint8_t *m = p->mask->data + (int64_t)i * p->mask->stride;
        const int lo = fk_first_set(m, 1, w - 1, 0x80); /* m >= 128 */
        if (lo < 0) continue;
        const int hi = fk_last_set(m, lo, w - 1, 0x80);
        r0 = FK_MIN(r0, i);
        r1 = i;
        c0 = FK_MIN(c0, lo);
        c1 = FK_MAX(c1, hi);
    }
    if (r1 < 0) return 0;
    p->gr0 = r0 - 1;
    p->gc0 = c0 - 1;
    p->gh = r1 - r0 + 3;
    p->gw = c1 - c0 + 3;
    return 1;
}

/* The levels, both sides odd and about halved down to 7 points: u, rhs (all but level 0 in normal mode) and the
   ring rows in one zeroed float block, the unknown flags in one zeroed byte block. */
static int make_levels(poisson_t *p, fk_scratch *scratch)
{
    grid *g = p->g;
    const int c = p->c;
    int nl = 0;
    {
        int hh = p->gh | 1, ww = p->gw | 1;
        for (;;) {
            g[nl].h = hh;
            g[nl].w = ww;
            nl++;
            if (nl == MAX_GRIDS || hh < 7 || ww < 7) break;
            hh = ((hh + 1) / 2) | 1;
            ww = ((ww + 1) / 2) | 1;
        }
    }
    p->nl = nl;
    int64_t fl = 0, bl = 0;
    for (int k = 0; k < nl; k++) {
        const int64_t n = (int64_t)g[k].h * g[k].w;
        fl += n * c * (k == 0 && p->mode == 0 ? 1 : 2) + 4 * (int64_t)g[k].w * c;
        bl += n;
    }
    float *pf = fk_scratch_calloc(scratch, (size_t)fl, sizeof(float));
    uint8_t *pa = fk_scratch_calloc(scratch, (size_t)bl, 1);
    if (pf == NULL || pa == NULL) return FK_ENOMEM;
    for (int k = 0; k < nl; k++) {
        const int64_t n = (int64_t)g[k].h * g[k].w;
        g[k].u = pf;
        pf += n * c;
        g[k].rhs = NULL;
        if (k > 0 || p->mode == 1) {
            g[k].rhs = pf;
            pf += n * c;
        }
        g[k].ring = pf;
        pf += 4 * (int64_t)g[k].w * c;
        g[k].act = pa;
        pa += n;
        g[k].bptr = NULL;
        g[k].bidx = NULL;
        g[k].brhs = NULL;
    }
    return FK_OK;
}

/* Level 0: the unknown flags and u = dst - src on the grid; then the norm of the right-hand side and the boundary
   sums (in mixed mode the right-hand side too). */
static int set_up_level0(poisson_t *p)
{
    grid *g0 = &p->g[0];
    const int c = p->c, h = p->h, w = p->w, gh = p->gh, gw = p->gw, gr0 = p->gr0, gc0 = p->gc0;
    const int64_t rs0 = (int64_t)g0->w * c;
    for (int i = 0; i < gh; i++) {
        const int ri = gr0 + i;
        const uint8_t *m = p->mask->data + (int64_t)ri * p->mask->stride + gc0;
        const uint8_t *s = p->sroi + (int64_t)ri * p->src->stride + (int64_t)gc0 * c;
        const uint8_t *d = p->droi + (int64_t)ri * p->dst->stride + (int64_t)gc0 * c;
        uint8_t *a = g0->act + (int64_t)i * g0->w;
        float *u = g0->u + i * rs0;
        const int row_ok = ri >= 1 && ri <= h - 2;
        for (int j = 0; j < gw; j++) {
            const int rj = gc0 + j;
            a[j] = (uint8_t)(row_ok && m[j] >= 128 && rj >= 1 && rj <= w - 2);
        }
        for (int64_t q = 0; q < (int64_t)gw * c; q++) u[q] = (float)d[q] - (float)s[q];
    }
    /* The sums build up in a local, as they did before the steps were split, and go into p after. */
    setup_t st = {p->sroi + (int64_t)gr0 * p->src->stride + (int64_t)gc0 * c,
                  p->droi + (int64_t)gr0 * p->dst->stride + (int64_t)gc0 * c,
                  p->src->stride, p->dst->stride, gh, gw, 0.0, {0.0, 0.0, 0.0, 0.0}, 0};
    if (p->mode == 0) {
        uint8_t *flags = malloc(3 * (size_t)gw * (size_t)c);
        if (flags == NULL) return FK_ENOMEM;
        FK_DISPATCH(c, setup_normal_c(g0, &st, flags, 1), setup_normal_c(g0, &st, flags, 3),
                    setup_normal_c(g0, &st, flags, 4));
        free(flags);
    } else {
        FK_DISPATCH(c, setup_c(g0, &st, g0->rhs, 1, 1), setup_c(g0, &st, g0->rhs, 1, 3),
                    setup_c(g0, &st, g0->rhs, 1, 4));
    }
    p->st = st;
    return FK_OK;
}

/* Normal mode: rhs_p = sum over fixed neighbours q of (g_q - g_p), only next to the seam (level 0's band points);
   and the boundary sums. */
static int set_up_band_rhs(poisson_t *p)
{
    grid *g0 = &p->g[0];
    setup_t *st = &p->st;
    const int c = p->c;
    const int32_t nb = g0->bptr[2 * g0->h];
    g0->brhs = calloc((size_t)nb * (size_t)c + 1, sizeof(float));
    if (g0->brhs == NULL) return FK_ENOMEM;
    for (int i = 1; i < p->gh - 1; i++) {
        const uint8_t *a = g0->act + (int64_t)i * g0->w;
        const uint8_t *srow = st->s + (int64_t)i * st->ss;
        for (int32_t t = g0->bptr[2 * i]; t < g0->bptr[2 * i + 2]; t++) {
            const int j = g0->bidx[t];
            const uint8_t *sp = srow + (int64_t)j * c;
            const int64_t so[4] = {-st->ss, st->ss, -c, c};
            const int fx[4] = {!a[j - g0->w], !a[j + g0->w], !a[j - 1], !a[j + 1]};
            const int64_t uo[4] = {-(int64_t)g0->w * c, (int64_t)g0->w * c, -c, c};
            const float *up = g0->u + ((int64_t)i * g0->w + j) * c; /* still dst - src everywhere */
            for (int n = 0; n < 4; n++) {
                if (!fx[n]) continue;
                st->bcount++;
                for (int k = 0; k < c; k++) {
                    g0->brhs[(int64_t)t * c + k] += (float)sp[so[n] + k] - (float)sp[k];
                    st->bsum[k] += (double)up[uo[n] + k];
                }
            }
        }
    }
    return FK_OK;
}

/* The coarse levels: a coarse point is an unknown where its fine point is (injection), down to the first level
   with none; then every level's band, and in normal mode level 0's right-hand side. */
static int set_up_levels(poisson_t *p)
{
    grid *g = p->g;
    for (int k = 1; k < p->nl; k++) {
        int any = 0;
        const grid *f = &g[k - 1];
        for (int I = 1; I < g[k].h - 1; I++)
            for (int J = 1; J < g[k].w - 1; J++) {
                const int fi = 2 * I, fj = 2 * J;
                const uint8_t v = (fi < f->h && fj < f->w) ? (uint8_t)(f->act[(int64_t)fi * f->w + fj] != 0) : 0;
                g[k].act[(int64_t)I * g[k].w + J] = v;
                any |= v;
            }
        if (!any) {
            p->nl = k;
            break;
        }
    }
    int rc = FK_OK;
    for (int k = 0; k < p->nl && rc == FK_OK; k++) rc = mark_band(&g[k], k == 0 ? BAND_WIDTH : COARSE_WIDTH);
    if (rc == FK_OK && p->mode == 0) rc = set_up_band_rhs(p);
    return rc;
}

/* V-cycles from the source offset by the mean boundary difference, until the relative residual reaches tol or
   max_cycles have run. In normal mode the starting residual lives on the band only (everywhere else the start is a
   constant with no right-hand side). */
static void solve(poisson_t *p, double tol, int32_t max_cycles, int32_t *cycles, double *residual_out)
{
    grid *g0 = &p->g[0];
    const int c = p->c, gh = p->gh, gw = p->gw;
    {
        float mean[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int k = 0; k < c; k++) mean[k] = (float)(p->st.bsum[k] / (double)p->st.bcount);
        float *pattern = (float *)g0->ring; /* a row of gw * c floats: the ring holds four */
        FK_DISPATCH(c, fill_c(g0, gh, gw, mean, pattern, 1), fill_c(g0, gh, gw, mean, pattern, 3),
                    fill_c(g0, gh, gw, mean, pattern, 4));
    }
    const double bnorm = FK_MAX(sqrt(p->st.bss), 1.0);
    double rel = sqrt(p->mode == 0 ? band_residual_norm2(g0, c) : residual_norm2(g0, c)) / bnorm;
    int it = 0;
    while (rel > tol && it < max_cycles) {
        double ss = 0.0;
        vcycle(p->g, 0, p->nl, c, &ss);
        it++;
        rel = sqrt(ss) / bnorm;
    }
    *cycles = it;
    *residual_out = rel;
}

/* f = g + u on Omega, rounded into dst (and unrounded into the solution). */
static void write_back(const poisson_t *p, float *solution)
{
    const grid *g0 = &p->g[0];
    const int c = p->c;
    out_t ot = {p->sroi, p->droi, p->src->stride, p->dst->stride, p->gr0, p->gc0, p->gh, p->gw, p->w, solution};
    uint8_t *obuf = (uint8_t *)g0->ring; /* a row of gw * c bytes fits in the ring's rows of floats */
    FK_DISPATCH(c, write_out_c(g0, &ot, obuf, 1), write_out_c(g0, &ot, obuf, 3), write_out_c(g0, &ot, obuf, 4));
}

int fk_blend_poisson(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y,
                     int32_t mode, double tol, int32_t max_cycles, float *solution, int64_t solution_len,
                     int32_t *cycles, double *residual_out)
{
    poisson_t p = {0};
    fk_scratch scratch = FK_SCRATCH_INIT;
    int rc = check_args(src, mask, dst, x, y, mode, tol, max_cycles, solution, solution_len, cycles, residual_out);
    if (rc != FK_OK)
        goto done;
    *cycles = 0;
    *residual_out = 0.0;
    p.src = src;
    p.mask = mask;
    p.dst = dst;
    p.c = src->channels;
    p.h = src->height;
    p.w = src->width;
    p.mode = mode;
    p.sroi = src->data;
    p.droi = dst->data + (int64_t)y * dst->stride + (int64_t)x * p.c;

    if (solution != NULL)
        copy_dst(&p, solution);
    if (!find_grid(&p))
        goto done; /* no unknowns: the result is dst */
    if ((rc = make_levels(&p, &scratch)) != FK_OK || (rc = set_up_level0(&p)) != FK_OK ||
        (rc = set_up_levels(&p)) != FK_OK)
        goto done;
    solve(&p, tol, max_cycles, cycles, residual_out);
    write_back(&p, solution);
done:
    free_grids(p.g, MAX_GRIDS);
    fk_scratch_free(&scratch);
    return rc;
}
