/*
 * Skin filters: an edge-preserving smoother (the guided filter of He, Sun and Tang, self-guided per channel) and an
 * unsharp mask, each mixed into the image by strength * mask / 255 (mask optional: NULL means 255 everywhere).
 *
 * Guided filter, per channel with I the channel scaled to 0-1: over the square window of radius r, truncated at
 * the image edges (means divide by the number of pixels inside), a = var / (var + eps), b = (1 - a) * mean, and
 * the output is mean(a) * I + mean(b). The window sums of I and I^2 are exact integers.
 *
 * Unsharp mask: out = I + amount * (I - blur(I)), with blur three box passes that approximate a Gaussian of
 * standard deviation radius (box sizes as fk_box_sizes_for_gauss; each pass rounds, edges replicated).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

#define FK_MAX_GUIDED_RADIUS 128

static int check_io(const fk_image *src, const fk_image *mask, const fk_image *dst, double strength)
{
    int rc = fk_check_same_shape(src, dst, 1);
    if (rc != FK_OK) return rc;
    if (mask != NULL && (rc = fk_check_mask(src, mask)) != FK_OK) return rc;
    if (!(strength >= 0.0 && strength <= 1.0)) return FK_EARG;
    return FK_OK;
}

static inline int win_count(int x, int n, int r)
{
    return FK_MIN(x + r, n - 1) - FK_MAX(x - r, 0) + 1;
}

/* Window sums along x (radius r, truncated) of a row of w pixels of c channels. The row is cut into 4 segments
   whose running sums advance together, so 4 * c independent chains overlap (and float sums drift over a quarter
   row at most). */
#define DEFINE_HWIN(NAME, T)                                                                               \
    static inline void NAME(const T *in, int w, int r, T *out, const int c)                               \
    {                                                                                                     \
        enum { S = 4 };                                                                                   \
        const int len = (w + S - 1) / S;                                                                  \
        T acc[S][4];                                                                                      \
        int x0[S], x1[S];                                                                                 \
        for (int g = 0; g < S; g++) {                                                                     \
            x0[g] = FK_MIN(g * len, w);                                                                   \
            x1[g] = FK_MIN(x0[g] + len, w);                                                               \
            for (int k = 0; k < 4; k++) acc[g][k] = 0;                                                    \
            if (x0[g] >= x1[g]) continue;                                                                 \
            for (int x = FK_MAX(x0[g] - r, 0); x <= FK_MIN(x0[g] + r, w - 1); x++)                        \
                for (int k = 0; k < c; k++) acc[g][k] += in[x * c + k];                                   \
        }                                                                                                 \
        for (int t = 0; t < len; t++)                                                                     \
            for (int g = 0; g < S; g++) {                                                                 \
                const int x = x0[g] + t;                                                                  \
                if (x >= x1[g]) continue;                                                                 \
                for (int k = 0; k < c; k++) out[x * c + k] = acc[g][k];                                   \
                if (x + r + 1 < w)                                                                        \
                    for (int k = 0; k < c; k++) acc[g][k] += in[(x + r + 1) * c + k];                     \
                if (x - r >= 0)                                                                           \
                    for (int k = 0; k < c; k++) acc[g][k] -= in[(x - r) * c + k];                         \
            }                                                                                             \
    }
DEFINE_HWIN(hwin_u32_c, uint32_t)
DEFINE_HWIN(hwin_f_c, float)

static void hwin_u32(const uint32_t *in, int w, int c, int r, uint32_t *out)
{
    FK_DISPATCH(c, hwin_u32_c(in, w, r, out, 1), hwin_u32_c(in, w, r, out, 3), hwin_u32_c(in, w, r, out, 4));
}

static void hwin_f(const float *in, int w, int c, int r, float *out)
{
    FK_DISPATCH(c, hwin_f_c(in, w, r, out, 1), hwin_f_c(in, w, r, out, 3), hwin_f_c(in, w, r, out, 4));
}

/* Column sums: cs += sign * row (and cs2 += sign * row^2), vectorised. */
FK_ROW_CLONES static void col_add_u8(uint32_t *restrict cs1, uint32_t *restrict cs2, const uint8_t *restrict row,
                                     int64_t n, int add)
{
    if (add) {
        for (int64_t q = 0; q < n; q++) {
            const uint32_t v = row[q];
            cs1[q] += v;
            cs2[q] += v * v;
        }
    } else {
        for (int64_t q = 0; q < n; q++) {
            const uint32_t v = row[q];
            cs1[q] -= v;
            cs2[q] -= v * v;
        }
    }
}

FK_ROW_CLONES static void col_add_f(float *restrict cs, const float *restrict row, int64_t n, float sign)
{
    for (int64_t q = 0; q < n; q++) cs[q] += sign * row[q];
}

/* a and b of one row from its window sums; ic holds 1 / (window size) per value. */
FK_ROW_CLONES static void guided_ab(const uint32_t *restrict s1, const uint32_t *restrict s2,
                                    const float *restrict ic, float e, float *restrict a, float *restrict b, int64_t n)
{
    for (int64_t q = 0; q < n; q++) {
        const float m1 = (float)s1[q] * ic[q], m2 = (float)s2[q] * ic[q];
        float var = m2 - m1 * m1;
        var = var > 0.0f ? var : 0.0f;
        const float av = var / (var + e);
        a[q] = av;
        b[q] = (1.0f - av) * m1;
    }
}

/* The filtered row mixed in: out = I + wt * (mean(a) I + mean(b) - I), rounded. */
FK_ROW_CLONES static void guided_out(const float *restrict sa, const float *restrict sb, const float *restrict ic,
                                     const float *restrict wt, const uint8_t *in, float *restrict buf, uint8_t *out,
                                     int64_t n)
{
    for (int64_t q = 0; q < n; q++) {
        const float iv = (float)in[q];
        const float qv = sa[q] * ic[q] * iv + sb[q] * ic[q];
        float v = iv + wt[q] * (qv - iv) + 0.5f;
        v = v > 0.0f ? v : 0.0f;
        v = v < 255.0f ? v : 255.0f;
        buf[q] = v;
    }
    for (int64_t q = 0; q < n; q++) out[q] = (uint8_t)(int32_t)buf[q];
}

int fk_guided_filter(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t radius, double eps,
                     double strength)
{
    int rc = check_io(src, mask, dst, strength);
    if (rc != FK_OK) return rc;
    if (radius < 1 || radius > FK_MAX_GUIDED_RADIUS) return FK_EARG;
    if (!(eps > 0.0 && eps <= 1.0)) return FK_EARG;
    const int h = src->height, w = src->width, c = src->channels;
    /* A window reaching past both edges covers the whole image (windows are truncated there), so a radius beyond
       the longer side less one gives the same sums, in the same order: clamping it bounds the work and memory. */
    const int r = FK_MIN(radius, FK_MAX(FK_MAX(h, w) - 1, 1));
    const int64_t n = (int64_t)w * c;
    /* The two passes run together, pass 2 r rows behind pass 1, so a and b live in a ring of 2r + 2 rows
       (cache-resident) rather than whole images; never more rows than the image has. */
    const int ring = FK_MIN(2 * r + 2, h);
    fk_scratch scratch = FK_SCRATCH_INIT;
    float *A = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)n * (size_t)ring);
    float *B = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)n * (size_t)ring);
    uint32_t *u32 = fk_scratch_alloc(&scratch, sizeof(uint32_t) * 4 * (size_t)n);
    float *f32 = fk_scratch_alloc(&scratch, sizeof(float) * 9 * (size_t)n);
    if (A == NULL || B == NULL || u32 == NULL || f32 == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM;
    }
    uint32_t *cs1 = u32, *cs2 = u32 + n, *s1 = u32 + 2 * n, *s2 = u32 + 3 * n;
    float *ca = f32, *cb = f32 + n, *sa = f32 + 2 * n, *sb = f32 + 3 * n, *icx = f32 + 4 * n, *ic = f32 + 5 * n;
    float *wt = f32 + 6 * n, *buf = f32 + 7 * n, *ic1 = f32 + 8 * n;
    const float e = (float)(eps * 255.0 * 255.0);
    for (int x = 0; x < w; x++)
        for (int k = 0; k < c; k++) icx[(int64_t)x * c + k] = 1.0f / (float)win_count(x, w, r);
    if (mask == NULL)
        for (int64_t q = 0; q < n; q++) wt[q] = (float)strength;
    memset(cs1, 0, sizeof(uint32_t) * 2 * (size_t)n);
    memset(ca, 0, sizeof(float) * 2 * (size_t)n);
    for (int y = 0; y <= FK_MIN(r, h - 1); y++) col_add_u8(cs1, cs2, src->data + (int64_t)y * src->stride, n, 1);

    for (int y = 0; y < h + r; y++) {
        if (y < h) {
            /* Pass 1, row y: window sums of I and I^2 (columns kept up to date; then along the row), a and b. */
            float *ra = A + (int64_t)(y % ring) * n, *rb = B + (int64_t)(y % ring) * n;
            const float iny = 1.0f / (float)win_count(y, h, r);
            for (int64_t q = 0; q < n; q++) ic1[q] = icx[q] * iny;
            hwin_u32(cs1, w, c, r, s1);
            hwin_u32(cs2, w, c, r, s2);
            guided_ab(s1, s2, ic1, e, ra, rb, n);
            if (y + r + 1 < h) col_add_u8(cs1, cs2, src->data + (int64_t)(y + r + 1) * src->stride, n, 1);
            if (y - r >= 0) col_add_u8(cs1, cs2, src->data + (int64_t)(y - r) * src->stride, n, 0);
            col_add_f(ca, ra, n, 1.0f);
            col_add_f(cb, rb, n, 1.0f);
        }
        const int yy = y - r;
        if (yy < 0) continue;
        /* Pass 2, row yy: the column sums of a and b now cover rows yy - r - 1 .. min(yy + r, h - 1); drop
           the first, then q = mean(a) I + mean(b), mixed in through the mask. */
        if (yy - r - 1 >= 0) {
            col_add_f(ca, A + (int64_t)((yy - r - 1) % ring) * n, n, -1.0f);
            col_add_f(cb, B + (int64_t)((yy - r - 1) % ring) * n, n, -1.0f);
        }
        const float iny = 1.0f / (float)win_count(yy, h, r);
        for (int64_t q = 0; q < n; q++) ic[q] = icx[q] * iny;
        if (mask != NULL) {
            const uint8_t *m = mask->data + (int64_t)yy * mask->stride;
            const float s255 = (float)strength * (1.0f / 255.0f);
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++) wt[(int64_t)x * c + k] = (float)m[x] * s255;
        }
        hwin_f(ca, w, c, r, sa);
        hwin_f(cb, w, c, r, sb);
        guided_out(sa, sb, ic, wt, src->data + (int64_t)yy * src->stride, buf,
                   dst->data + (int64_t)yy * dst->stride, n);
    }
    fk_scratch_free(&scratch);
    return FK_OK;
}

/* ------------------------------------------------------------------------------------------------------------ */

/* One row of the unsharp mask, n values: out = in + wt * (in - blurred), rounded. out may be in (in place): the
   first loop only reads in, the second only writes out. */
FK_ROW_CLONES static void unsharp_run(const uint8_t *in, const uint8_t *restrict bl, const float *restrict wt,
                                      float *restrict buf, uint8_t *out, int64_t n)
{
    for (int64_t q = 0; q < n; q++) {
        const float iv = (float)in[q];
        float v = iv + wt[q] * (iv - (float)bl[q]) + 0.5f;
        v = v > 0.0f ? v : 0.0f; /* maxss, minss: no branches */
        v = v < 255.0f ? v : 255.0f;
        buf[q] = v;
    }
    for (int64_t q = 0; q < n; q++) out[q] = (uint8_t)(int32_t)buf[q];
}

int fk_unsharp_mask(const fk_image *src, const fk_image *mask, fk_image *dst, double amount, double radius,
                    double strength)
{
    int rc = check_io(src, mask, dst, strength);
    if (rc != FK_OK) return rc;
    if (!(amount >= 0.0 && amount <= 10.0)) return FK_EARG;
    if (!(radius > 0.0 && radius <= 1000.0)) return FK_EARG;
    const int h = src->height, w = src->width, c = src->channels;
    const int64_t n = (int64_t)w * c;
    fk_scratch scratch = FK_SCRATCH_INIT;
    uint8_t *b = fk_scratch_alloc(&scratch, (size_t)n * (size_t)h);
    float *wt = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)n); /* each value's weight, a row at a time */
    float *buf = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)n);
    if (b == NULL || wt == NULL || buf == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM;
    }
    if ((rc = fk_gauss3(src, b, n, radius)) != FK_OK) {
        fk_scratch_free(&scratch);
        return rc;
    }
    const float am = (float)amount, st = (float)strength;
    for (int y = 0; y < h; y++) {
        const uint8_t *m = mask != NULL ? mask->data + (int64_t)y * mask->stride : NULL;
        for (int x = 0; x < w; x++) {
            const float wx = st * am * (m != NULL ? (float)m[x] * (1.0f / 255.0f) : 1.0f);
            for (int k = 0; k < c; k++) wt[(int64_t)x * c + k] = wx;
        }
        unsharp_run(src->data + (int64_t)y * src->stride, b + (int64_t)y * n, wt, buf,
                    dst->data + (int64_t)y * dst->stride, n);
    }
    fk_scratch_free(&scratch);
    return FK_OK;
}
