/*
 * Multi-band blending (Burt and Adelson 1983): a Laplacian-pyramid blend of a source ROI into a destination
 * through an 8-bit mask.
 *
 * With Gaussian pyramids G of the difference src - dst and M of mask / 255, the classic blend
 *     out = collapse(M_k * Lap_k(src) + (1 - M_k) * Lap_k(dst))
 * equals, by linearity, dst + collapse(M_k * Lap_k(src - dst)), so only one Laplacian pyramid is built. Level 0
 * is never stored: the first reduction reads the 8-bit images row by row, and the last pass expands level 1 row
 * by row and writes the 8-bit result, so full-resolution float images never exist.
 *
 * Kernels (the NumPy twin uses the same): reduce is the 5-tap [1 4 6 4 1] / 16 filter in each direction, sampled
 * at even positions, output size (n + 1) / 2; expand takes coarse pixel i to fine pixel 2i with weights
 * (1 6 1) / 8 and fine pixel 2i + 1 with (1 1) / 2. Both replicate edge pixels. Only the bounding box of the
 * mask grown by the support of the pyramid (3 * 2^levels pixels) is processed: outside it the blend is exactly dst.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

#define FK_MAX_LEVELS 12


/* A source of float rows for the first reduction: the difference a - b of two 8-bit images, or a / 255. */
typedef struct {
    const uint8_t *a, *b;
    int64_t astride, bstride;
    int w, c; /* pixels and channels of each row */
} u8rows;

FK_ROW_CLONES static void load_u8_row(const u8rows *s, int r, float *out)
{
    const int n = s->w * s->c;
    const uint8_t *pa = s->a + (int64_t)r * s->astride;
    if (s->b != NULL) {
        const uint8_t *pb = s->b + (int64_t)r * s->bstride;
        for (int i = 0; i < n; i++) out[i] = (float)pa[i] - (float)pb[i];
    } else {
        for (int i = 0; i < n; i++) out[i] = (float)pa[i] * (1.0f / 255.0f);
    }
}

/* Horizontal reduction of one row of w pixels (c channels) into (w + 1) / 2 pixels. */
static inline void hreduce_c(const float *in, int w, float *out, const int c)
{
    const int w2 = (w + 1) / 2;
    /* Interior outputs j with 2 <= 2j <= w - 3 need no clamping. */
    const int jlo = 1, jhi = (w - 3) / 2;
#ifdef FK_PIXEL_VECTORS
    /* Output j's fourth lane lands on output j + 1, which the next step (or the edge loop below: jhi + 1 < w2)
     * writes afterwards; input reads reach one float past the row, into its spare. */
    if (c == 3) {
        for (int j = jlo; j <= jhi; j++) {
            const float *p = in + (int64_t)(2 * j) * 3;
            st4(out + (int64_t)j * 3, (ld4(p - 6) + ld4(p + 6)) * (1.0f / 16.0f) + (ld4(p - 3) + ld4(p + 3)) *
                                      (4.0f / 16.0f) + ld4(p) * (6.0f / 16.0f));
        }
    } else
#endif
    for (int j = jlo; j <= jhi; j++) {
        const float *p = in + (int64_t)(2 * j) * c;
        float *o = out + (int64_t)j * c;
        for (int k = 0; k < c; k++)
            o[k] = (p[k - 2 * c] + p[k + 2 * c]) * (1.0f / 16.0f) + (p[k - c] + p[k + c]) * (4.0f / 16.0f)
                 + p[k] * (6.0f / 16.0f);
    }
    for (int j = 0; j < w2; j = j + 1 == jlo ? FK_MAX(jhi + 1, jlo) : j + 1) { /* the edges: j < jlo, j > jhi */
        const int x = 2 * j;
        const int xm2 = FK_MAX(x - 2, 0), xm1 = FK_MAX(x - 1, 0);
        const int xp1 = FK_MIN(x + 1, w - 1), xp2 = FK_MIN(x + 2, w - 1);
        for (int k = 0; k < c; k++)
            out[j * c + k] = (in[xm2 * c + k] + in[xp2 * c + k]) * (1.0f / 16.0f)
                           + (in[xm1 * c + k] + in[xp1 * c + k]) * (4.0f / 16.0f) + in[x * c + k] * (6.0f / 16.0f);
    }
}

/* Each kernel is compiled once per channel count, so its inner loops see a constant c. */
FK_ROW_CLONES static void hreduce(const float *in, int w, int c, float *out)
{
    FK_DISPATCH(c, hreduce_c(in, w, out, 1), hreduce_c(in, w, out, 3), hreduce_c(in, w, out, 4));
}

/* Five full input rows converted from 8-bit, keyed by input row, reused between neighbouring output rows. */
typedef struct {
    float *rows[5];
    int key[5];
    float *tmp; /* one full row: the vertical step's output */
} ring5;

static const float *ring_row_u8(ring5 *rg, const u8rows *s, int r)
{
    const int slot = r % 5;
    if (rg->key[slot] != r) {
        load_u8_row(s, r, rg->rows[slot]);
        rg->key[slot] = r;
    }
    return rg->rows[slot];
}

FK_ROW_CLONES static void vreduce(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                                  const float *restrict r3, const float *restrict r4, int64_t n, float *restrict out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = (r0[i] + r4[i]) * (1.0f / 16.0f) + (r1[i] + r3[i]) * (4.0f / 16.0f) + r2[i] * (6.0f / 16.0f);
}

/* The vertical step of the first reduction of a difference a - b straight from the 8-bit rows, in integers: 16
   times vreduce's result, which is exact in float (integers times 1/16, 4/16 and 6/16, every sum a multiple of
   1/16 below 2^8), so (float)v16 / 16 is the very float vreduce makes from the converted rows; |v16| <= 4080. */
FK_ROW_CLONES static void vreduce_diff(const uint8_t *const *a, const uint8_t *const *b, int64_t n,
                                       int16_t *restrict v16)
{
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4];
    const uint8_t *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3], *b4 = b[4];
    for (int64_t i = 0; i < n; i++) {
        const int16_t d0 = (int16_t)(a0[i] - b0[i]), d1 = (int16_t)(a1[i] - b1[i]), d2 = (int16_t)(a2[i] - b2[i]);
        const int16_t d3 = (int16_t)(a3[i] - b3[i]), d4 = (int16_t)(a4[i] - b4[i]);
        v16[i] = (int16_t)(d0 + d4 + 4 * (d1 + d3) + 6 * d2);
    }
}

FK_ROW_CLONES static void sixteenths(const int16_t *restrict v16, int64_t n, float *restrict out)
{
    for (int64_t i = 0; i < n; i++) out[i] = (float)v16[i] * (1.0f / 16.0f);
}

/* Reduces an h x w image (8-bit source when s != NULL, else the float image img) into out: the vertical step
   first, on full rows where it vectorises, so the horizontal step runs on half the rows. The difference of two
   8-bit images takes its vertical step in 16-bit integers from their rows (the same floats, see vreduce_diff). */
static void reduce_image(const u8rows *s, const float *img, int h, int w, int c, ring5 *rg, float *out)
{
    const int h2 = (h + 1) / 2;
    const int64_t n = (int64_t)w * c, n2 = (int64_t)((w + 1) / 2) * c;
    for (int k = 0; k < 5; k++) rg->key[k] = -1;
    for (int i = 0; i < h2; i++) {
        const float *rr[5];
        if (s != NULL && s->b != NULL) {
            const uint8_t *ra[5], *rb[5];
            for (int k = 0; k < 5; k++) {
                const int r = FK_CLAMP(2 * i + k - 2, 0, h - 1);
                ra[k] = s->a + (int64_t)r * s->astride;
                rb[k] = s->b + (int64_t)r * s->bstride;
            }
            int16_t *v16 = (int16_t *)rg->rows[0]; /* the float rows are not used on this path */
            vreduce_diff(ra, rb, n, v16);
            sixteenths(v16, n, rg->tmp);
        } else {
            for (int k = 0; k < 5; k++) {
                const int r = FK_CLAMP(2 * i + k - 2, 0, h - 1);
                rr[k] = s != NULL ? ring_row_u8(rg, s, r) : img + (int64_t)r * n;
            }
            vreduce(rr[0], rr[1], rr[2], rr[3], rr[4], n, rg->tmp);
        }
        hreduce(rg->tmp, w, c, out + (int64_t)i * n2);
    }
}

/* Even outputs (1 6 1) / 8 and odd outputs (1 1) / 2 of the interior, as contiguous runs that vectorise. */
static void hexpand_runs(const float *restrict t, float *restrict ev, float *restrict od, int64_t n, int64_t c)
{
    for (int64_t q = 0; q < n; q++) {
        ev[q] = (t[q - c] + t[q + c]) * (1.0f / 8.0f) + t[q] * (6.0f / 8.0f);
        od[q] = (t[q] + t[q + c]) * 0.5f;
    }
}

static inline void hexpand_c(const float *tmp, int wl, int w, float *out, float *ev, float *od, const int c)
{
    /* Interior: coarse pixels 1 .. wl - 2 give fine pixels 2 .. 2 (wl - 2) + 1 (when inside w). */
#ifdef FK_PIXEL_VECTORS
    /* RGB straight into place, pixel by pixel: in order, each store's fourth lane is overwritten by the next (the
     * last's by the edge loop below, or it falls in the row's spare); reads reach one float past tmp's row. */
    if (c == 3 && wl >= 3) {
        const int jend = FK_MIN(wl - 2, (w - 2) / 2); /* the last j whose odd pixel 2j + 1 is inside w */
        for (int j = 1; j <= jend; j++) {
            const fk_v4f l = ld4(tmp + (int64_t)(j - 1) * 3), m = ld4(tmp + (int64_t)j * 3);
            const fk_v4f r = ld4(tmp + (int64_t)(j + 1) * 3);
            st4(out + (int64_t)j * 6, (l + r) * (1.0f / 8.0f) + m * (6.0f / 8.0f));
            st4(out + (int64_t)j * 6 + 3, (m + r) * 0.5f);
        }
        for (int j = FK_MAX(jend + 1, 1); j <= wl - 2; j++) {
            const float *p = tmp + (int64_t)j * 3;
            for (int k = 0; k < 3; k++) out[(int64_t)j * 6 + k] = (p[k - 3] + p[k + 3]) * (1.0f / 8.0f) + p[k] * (6.0f / 8.0f);
        }
    } else
#endif
    if (wl >= 3) {
        hexpand_runs(tmp + c, ev + c, od + c, (int64_t)(wl - 2) * c, c);
        for (int j = 1; j <= wl - 2; j++) {
            const int x = 2 * j;
            for (int k = 0; k < c; k++) out[(int64_t)x * c + k] = ev[(int64_t)j * c + k];
            if (x + 1 < w)
                for (int k = 0; k < c; k++) out[(int64_t)(x + 1) * c + k] = od[(int64_t)j * c + k];
        }
    }
    /* Edges, with clamping: x = 0, 1 and x >= 2 (wl - 1). */
    for (int x = 0; x < w; x++) {
        if (x == 2 && wl >= 3) x = 2 * (wl - 1);
        if (x >= w) break;
        const int j = x / 2;
        const float *p = tmp + (int64_t)j * c;
        if ((x & 1) == 0) {
            const float *pl = tmp + (int64_t)FK_MAX(j - 1, 0) * c, *pr = tmp + (int64_t)FK_MIN(j + 1, wl - 1) * c;
            for (int k = 0; k < c; k++) out[x * c + k] = (pl[k] + pr[k]) * (1.0f / 8.0f) + p[k] * (6.0f / 8.0f);
        } else {
            const float *pr = tmp + (int64_t)FK_MIN(j + 1, wl - 1) * c;
            for (int k = 0; k < c; k++) out[x * c + k] = (p[k] + pr[k]) * 0.5f;
        }
    }
}

/* Row y of the expansion of a coarse image of width wl to width w, given its rows i - 1, i and i + 1 (i = y / 2,
   clamped to the image): vertical step into tmp, then horizontal. */
FK_ROW_CLONES static void expand_rows(const float *rm, const float *r0, const float *rp, int y, int wl, int c, int w,
                                      float *tmp, float *out, float *ev, float *od)
{
    const int64_t n = (int64_t)wl * c;
    if ((y & 1) == 0) {
        for (int64_t k = 0; k < n; k++) tmp[k] = (rm[k] + rp[k]) * (1.0f / 8.0f) + r0[k] * (6.0f / 8.0f);
    } else {
        for (int64_t k = 0; k < n; k++) tmp[k] = (r0[k] + rp[k]) * 0.5f;
    }
    FK_DISPATCH(c, hexpand_c(tmp, wl, w, out, ev, od, 1), hexpand_c(tmp, wl, w, out, ev, od, 3),
                hexpand_c(tmp, wl, w, out, ev, od, 4));
}

/* Row y of the expansion of the coarse image g (hl x wl) to width w. */
static void expand_row(const float *g, int hl, int wl, int c, int y, int w, float *tmp, float *out, float *ev,
                       float *od)
{
    const int64_t n = (int64_t)wl * c;
    const int i = y / 2;
    expand_rows(g + (int64_t)FK_MAX(i - 1, 0) * n, g + (int64_t)i * n, g + (int64_t)FK_MIN(i + 1, hl - 1) * n, y,
                wl, c, w, tmp, out, ev, od);
}

/* Columns [x0, x1] of row y of the expansion of g (hl x wl) to width w; out's other columns are left as they were or
   given other finite values. The same values as expand_row's: a window of g's columns reaching a coarse column past
   every needed neighbour on each side, so that the window's own edge pixels (which clamp, as at the image's edges)
   fall outside [x0, x1] unless they are the image's. */
static void expand_row_cols(const float *g, int hl, int wl, int c, int y, int w, int x0, int x1, float *tmp,
                            float *out, float *ev, float *od)
{
    const int j0 = FK_MAX(0, x0 / 2 - 1), j1 = FK_MIN(wl - 1, x1 / 2 + 2);
    const int wlw = j1 - j0 + 1, ww = FK_MIN(w - 2 * j0, 2 * wlw);
    const int64_t n = (int64_t)wl * c, off = (int64_t)j0 * c;
    const int i = y / 2;
    expand_rows(g + (int64_t)FK_MAX(i - 1, 0) * n + off, g + (int64_t)i * n + off,
                g + (int64_t)FK_MIN(i + 1, hl - 1) * n + off, y, wlw, c, ww, tmp, out + 2 * off, ev, od);
}

/* A mask row of w pixels spread over c channels: out[j * c + k] = m[j]. RGB stores a 4-lane vector per pixel, in
 * order, its fourth lane overwritten by the next (the last's in the row's spare). */
static inline void spread_c(const float *m, int w, float *out, const int c)
{
#ifdef FK_PIXEL_VECTORS
    if (c == 3) {
        for (int j = 0; j < w; j++) st4(out + (int64_t)j * 3, (fk_v4f){m[j], m[j], m[j], m[j]});
        return;
    }
#endif
    for (int j = 0; j < w; j++)
        for (int k = 0; k < c; k++) out[(int64_t)j * c + k] = m[j];
}

FK_ROW_CLONES static void spread(const float *m, int w, int c, float *out)
{
    FK_DISPATCH(c, spread_c(m, w, out, 1), spread_c(m, w, out, 3), spread_c(m, w, out, 4));
}

/* The first and last columns of a row of mask weights that are not 0; 0 when there is none. */
static int weight_span(const float *m, int n, int *lo, int *hi)
{
    int j = 0;
    while (j < n && m[j] == 0.0f) j++;
    if (j == n) return 0;
    int k = n - 1;
    while (m[k] == 0.0f) k--;
    *lo = j;
    *hi = k;
    return 1;
}

/* One row of a collapse step: r = m * (g - e1) + e2 (m per value). */
FK_ROW_CLONES static void collapse_run(const float *restrict g, const float *restrict m, const float *restrict e1,
                                       const float *restrict e2, float *restrict r, int64_t n)
{
    for (int64_t q = 0; q < n; q++) r[q] = m[q] * (g[q] - e1[q]) + e2[q];
}

/* Level 0, one row of n = w * c values: out = dst + M_0 * (src - dst - E(G_1)) + E(R_1), rounded; mexp holds
   M_0 per value. */
FK_ROW_CLONES static void final_run(const uint8_t *restrict s, const float *restrict mexp, uint8_t *restrict d,
                                    const float *restrict e1, const float *restrict e2, float *restrict buf, int64_t n)
{
    for (int64_t q = 0; q < n; q++) {
        const float dv = (float)d[q];
        float v = dv + mexp[q] * ((float)s[q] - dv - e1[q]) + e2[q] + 0.5f;
        v = v > 0.0f ? v : 0.0f;
        v = v < 255.0f ? v : 255.0f;
        buf[q] = v;
    }
    for (int64_t q = 0; q < n; q++) d[q] = (uint8_t)(int32_t)buf[q];
}

/* Level 0 where the mask is 0: M_0 * (src - dst - E(G_1)) is a zero there, and dst + 0 is dst, so
   out = dst + E(R_1), rounded: the same float as final_run's. */
FK_ROW_CLONES static void final_flat(uint8_t *restrict d, const float *restrict e2, float *restrict buf, int64_t n)
{
    for (int64_t q = 0; q < n; q++) {
        float v = (float)d[q] + e2[q] + 0.5f;
        v = v > 0.0f ? v : 0.0f;
        v = v < 255.0f ? v : 255.0f;
        buf[q] = v;
    }
    for (int64_t q = 0; q < n; q++) d[q] = (uint8_t)(int32_t)buf[q];
}

/* Level 0's last step for one row whose mask is not 0 on columns [lo, hi] only (lo < 0: nowhere); mexp receives
   M_0 per value over those columns. */
static inline void final_row_c(const uint8_t *s, const uint8_t *m, uint8_t *d, const float *e1, const float *e2,
                               int w, int lo, int hi, float *mexp, float *buf, const int c)
{
    if (lo < 0) {
        final_flat(d, e2, buf, (int64_t)w * c);
        return;
    }
    const int64_t q0 = (int64_t)lo * c, q1 = (int64_t)(hi + 1) * c, n = (int64_t)w * c;
    if (q0 > 0) final_flat(d, e2, buf, q0);
#ifdef FK_PIXEL_VECTORS
    if (c == 3) {
        for (int j = lo; j <= hi; j++) {
            const float v = (float)m[j] * (1.0f / 255.0f);
            st4(mexp + (int64_t)(j - lo) * 3, (fk_v4f){v, v, v, v});
        }
    } else
#endif
    for (int j = lo; j <= hi; j++)
        for (int k = 0; k < c; k++) mexp[(int64_t)(j - lo) * c + k] = (float)m[j] * (1.0f / 255.0f);
    final_run(s + q0, mexp, d + q0, e1 + q0, e2 + q0, buf, q1 - q0);
    if (q1 < n) final_flat(d + q1, e2 + q1, buf, n - q1);
}

/* Level 0's last step for one row, compiled per channel count. */
FK_ROW_CLONES static void final_row(const uint8_t *s, const uint8_t *m, uint8_t *d, const float *e1, const float *e2,
                                    int w, int lo, int hi, float *mexp, float *buf, int c)
{
    FK_DISPATCH(c, final_row_c(s, m, d, e1, e2, w, lo, hi, mexp, buf, 1),
                final_row_c(s, m, d, e1, e2, w, lo, hi, mexp, buf, 3),
                final_row_c(s, m, d, e1, e2, w, lo, hi, mexp, buf, 4));
}

int fk_blend_multiband(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y,
                       int32_t levels)
{
    int rc = fk_check_paste(src, mask, dst, x, y);
    if (rc != FK_OK) return rc;
    if (levels < 1 || levels > FK_MAX_LEVELS) return FK_EARG;
    const int c = src->channels;

    /* Bounding box of the mask, grown by the pyramid's support and clipped to the ROI. */
    int r0 = src->height, r1 = -1, c0 = src->width, c1 = -1;
    for (int i = 0; i < src->height; i++) {
        const uint8_t *m = mask->data + (int64_t)i * mask->stride;
        const int lo = fk_first_set(m, 0, src->width, 0xff);
        if (lo < 0) continue;
        const int hi = fk_last_set(m, lo, src->width, 0xff);
        r0 = FK_MIN(r0, i);
        r1 = i;
        c0 = FK_MIN(c0, lo);
        c1 = FK_MAX(c1, hi);
    }
    if (r1 < 0) return FK_OK; /* empty mask: the blend is dst */
    const int margin = 3 << levels;
    r0 = FK_MAX(r0 - margin, 0);
    c0 = FK_MAX(c0 - margin, 0);
    r1 = FK_MIN(r1 + margin, src->height - 1);
    c1 = FK_MIN(c1 + margin, src->width - 1);
    const int h = r1 - r0 + 1, w = c1 - c0 + 1;

    /* Level sizes and scratch: G_k, R_k (k >= 1, c channels), M_k (k >= 1, one channel). */
    int hs[FK_MAX_LEVELS], ws[FK_MAX_LEVELS];
    hs[0] = h;
    ws[0] = w;
    int64_t total = 0, rtotal = 0, mtotal = 0;
    for (int k = 1; k < levels; k++) {
        hs[k] = (hs[k - 1] + 1) / 2;
        ws[k] = (ws[k - 1] + 1) / 2;
        total += (int64_t)hs[k] * ws[k] * c;
        if (k >= 2) rtotal += (int64_t)hs[k] * ws[k] * c;
        mtotal += (int64_t)hs[k] * ws[k];
    }
    const int64_t rowlen = (int64_t)w * c;
    const size_t nrow = (size_t)rowlen + 16;
    fk_scratch scratch = FK_SCRATCH_INIT;
    float *G = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)(total + 1));
    /* R holds levels >= 2; level 1 is made row by row */
    float *R = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)(rtotal + 1));
    float *M = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)(mtotal + 1));
    /* Zeroed: the RGB vector loops read a float past a row into its spare, into lanes they never keep. */
    float *rowbuf = fk_scratch_calloc(&scratch, nrow * 18, sizeof(float));
    if (G == NULL || R == NULL || M == NULL || rowbuf == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM;
    }
    ring5 rg;
    for (int k = 0; k < 5; k++) rg.rows[k] = rowbuf + k * nrow;
    rg.tmp = rowbuf + 5 * nrow;
    float *t0 = rowbuf + 6 * nrow, *e1 = rowbuf + 7 * nrow, *e2 = rowbuf + 8 * nrow;
    float *ev = rowbuf + 9 * nrow, *od = rowbuf + 10 * nrow;
    float *r1ring[4] = {rowbuf + 11 * nrow, rowbuf + 12 * nrow, rowbuf + 13 * nrow, rowbuf + 14 * nrow};
    float *t1 = rowbuf + 15 * nrow, *t2 = rowbuf + 16 * nrow, *mrow = rowbuf + 17 * nrow;
    int r1key[4] = {-1, -1, -1, -1};

    float *Gk[FK_MAX_LEVELS], *Rk[FK_MAX_LEVELS], *Mk[FK_MAX_LEVELS];
    {
        int64_t off = 0, roff = 0, moff = 0;
        for (int k = 1; k < levels; k++) {
            Gk[k] = G + off;
            Rk[k] = k >= 2 ? R + roff : NULL;
            Mk[k] = M + moff;
            off += (int64_t)hs[k] * ws[k] * c;
            if (k >= 2) roff += (int64_t)hs[k] * ws[k] * c;
            moff += (int64_t)hs[k] * ws[k];
        }
    }
    const uint8_t *sroi = src->data + (int64_t)r0 * src->stride + (int64_t)c0 * c;
    const uint8_t *mroi = mask->data + (int64_t)r0 * mask->stride + c0;
    uint8_t *droi = dst->data + (int64_t)(y + r0) * dst->stride + (int64_t)(x + c0) * c;

    if (levels > 1) {
        const u8rows diff = {sroi, droi, src->stride, dst->stride, w, c};
        const u8rows msk = {mroi, NULL, mask->stride, 0, w, 1};
        reduce_image(&diff, NULL, h, w, c, &rg, Gk[1]);
        reduce_image(&msk, NULL, h, w, 1, &rg, Mk[1]);
        for (int k = 2; k < levels; k++) {
            reduce_image(NULL, Gk[k - 1], hs[k - 1], ws[k - 1], c, &rg, Gk[k]);
            reduce_image(NULL, Mk[k - 1], hs[k - 1], ws[k - 1], 1, &rg, Mk[k]);
        }
        /* Collapse from the top: R_top = M_top * G_top; R_k = M_k * (G_k - E(G_k+1)) + E(R_k+1), down to
           level 2; level 1 follows row by row inside the last pass. */
        if (levels >= 3) {
            const int k = levels - 1;
            const int64_t npx = (int64_t)hs[k] * ws[k];
            for (int64_t p = 0; p < npx; p++)
                for (int ch = 0; ch < c; ch++) Rk[k][p * c + ch] = Mk[k][p] * Gk[k][p * c + ch];
        }
        for (int k = levels - 2; k >= 2; k--) {
            for (int i = 0; i < hs[k]; i++) {
                const float *g = Gk[k] + (int64_t)i * ws[k] * c;
                const float *m = Mk[k] + (int64_t)i * ws[k];
                /* E(G_k+1) is weighed by M_k: where it has no weight, e1's previous (finite) values do */
                int lo, hi;
                if (weight_span(m, ws[k], &lo, &hi))
                    expand_row_cols(Gk[k + 1], hs[k + 1], ws[k + 1], c, i, ws[k], lo, hi, t0, e1, ev, od);
                expand_row(Rk[k + 1], hs[k + 1], ws[k + 1], c, i, ws[k], t0, e2, ev, od);
                float *r = Rk[k] + (int64_t)i * ws[k] * c;
                spread(m, ws[k], c, ev);
                collapse_run(g, ev, e1, e2, r, (int64_t)ws[k] * c);
            }
        }
    }
    /* Level 0, row by row: out = dst + M_0 * (src - dst - E(G_1)) + E(R_1). */
    for (int i = 0; i < h; i++) {
        const uint8_t *s = sroi + (int64_t)i * src->stride;
        const uint8_t *m = mroi + (int64_t)i * mask->stride;
        uint8_t *d = droi + (int64_t)i * dst->stride;
        const int lo = fk_first_set(m, 0, w, 0xff), hi = lo >= 0 ? fk_last_set(m, lo, w, 0xff) : -1;
        if (levels > 1) {
            /* R_1 rows i/2 - 1 .. i/2 + 1 (clamped), made on demand into a ring of four. */
            const int ci = i / 2;
            const float *rr[3];
            for (int t = 0; t < 3; t++) {
                const int r = FK_CLAMP(ci - 1 + t, 0, hs[1] - 1), slot = r & 3;
                if (r1key[slot] != r) {
                    const int64_t n1 = (int64_t)ws[1] * c;
                    const float *g1 = Gk[1] + (int64_t)r * n1;
                    const float *m1 = Mk[1] + (int64_t)r * ws[1];
                    spread(m1, ws[1], c, mrow);
                    if (levels >= 3) {
                        /* as at level 0: E(G_2) only where M_1 has weight (t1 is finite from the start) */
                        int lo, hi;
                        if (weight_span(m1, ws[1], &lo, &hi))
                            expand_row_cols(Gk[2], hs[2], ws[2], c, r, ws[1], lo, hi, t0, t1, ev, od);
                        expand_row(Rk[2], hs[2], ws[2], c, r, ws[1], t0, t2, ev, od);
                    } else {
                        memset(t1, 0, sizeof(float) * (size_t)n1);
                        memset(t2, 0, sizeof(float) * (size_t)n1);
                    }
                    collapse_run(g1, mrow, t1, t2, r1ring[slot], n1);
                    r1key[slot] = r;
                }
                rr[t] = r1ring[slot];
            }
            /* E(G_1) is weighed by M_0: where the mask is 0 it would be multiplied by 0, and e1's previous
               (finite) values serve as well, so it is expanded over the mask's columns of the row only. */
            if (lo >= 0) expand_row_cols(Gk[1], hs[1], ws[1], c, i, w, lo, hi, t0, e1, ev, od);
            expand_rows(rr[0], rr[1], rr[2], i, ws[1], c, w, t0, e2, ev, od);
        } else {
            memset(e1, 0, sizeof(float) * (size_t)rowlen);
            memset(e2, 0, sizeof(float) * (size_t)rowlen);
        }
        final_row(s, m, d, e1, e2, w, lo, hi, ev, od, c);
    }
    fk_scratch_free(&scratch);
    return FK_OK;
}
