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
    if (mask != NULL) {
        if ((rc = fk_check_same_shape(src, mask, 0)) != FK_OK) return rc;
        if (mask->channels != 1) return FK_ECHANNELS;
    }
    if (!(strength >= 0.0 && strength <= 1.0)) return FK_EARG;
    return FK_OK;
}

/* Window sums of one row along x (radius r, truncated): n values per pixel of c channels. */
static void hsum_u8(const uint8_t *in, int w, int c, int r, uint32_t *s1, uint32_t *s2)
{
    for (int k = 0; k < c; k++) {
        uint32_t a = 0, b = 0;
        for (int x = 0; x <= FK_MIN(r, w - 1); x++) {
            const uint32_t v = in[x * c + k];
            a += v;
            b += v * v;
        }
        for (int x = 0; x < w; x++) {
            s1[x * c + k] = a;
            s2[x * c + k] = b;
            if (x + r + 1 < w) {
                const uint32_t v = in[(x + r + 1) * c + k];
                a += v;
                b += v * v;
            }
            if (x - r >= 0) {
                const uint32_t v = in[(x - r) * c + k];
                a -= v;
                b -= v * v;
            }
        }
    }
}

static void hsum_f(const float *in, int w, int c, int r, double *s)
{
    for (int k = 0; k < c; k++) {
        double a = 0.0;
        for (int x = 0; x <= FK_MIN(r, w - 1); x++) a += in[x * c + k];
        for (int x = 0; x < w; x++) {
            s[x * c + k] = a;
            if (x + r + 1 < w) a += in[(x + r + 1) * c + k];
            if (x - r >= 0) a -= in[(x - r) * c + k];
        }
    }
}

static inline int win_count(int x, int n, int r)
{
    return FK_MIN(x + r, n - 1) - FK_MAX(x - r, 0) + 1;
}

int fk_guided_filter(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t radius, double eps,
                     double strength)
{
    int rc = check_io(src, mask, dst, strength);
    if (rc != FK_OK) return rc;
    if (radius < 1 || radius > FK_MAX_GUIDED_RADIUS) return FK_EARG;
    if (!(eps > 0.0 && eps <= 1.0)) return FK_EARG;
    const int h = src->height, w = src->width, c = src->channels, r = radius;
    const int64_t n = (int64_t)w * c;
    /* ab: a and b for every pixel; hs, cs, hd, cd: window sums along a row and down the columns. */
    float *ab = malloc(sizeof(float) * 2 * (size_t)n * (size_t)h);
    uint32_t *hs = malloc(sizeof(uint32_t) * 2 * (size_t)n);
    uint32_t *cs = malloc(sizeof(uint32_t) * 2 * (size_t)n);
    double *hd = malloc(sizeof(double) * 2 * (size_t)n);
    double *cd = malloc(sizeof(double) * 2 * (size_t)n);
    float *inv = malloc(sizeof(float) * (size_t)w);
    if (ab == NULL || hs == NULL || cs == NULL || hd == NULL || cd == NULL || inv == NULL) {
        rc = FK_ENOMEM;
        goto done;
    }
    const float e = (float)(eps * 255.0 * 255.0);
    for (int x = 0; x < w; x++) inv[x] = 1.0f / (float)win_count(x, w, r);

    /* Pass 1: a and b from the exact window sums of I and I^2 (0-255 scale; eps scaled to match). */
    memset(cs, 0, sizeof(uint32_t) * 2 * (size_t)n);
    for (int y = 0; y <= FK_MIN(r, h - 1); y++) {
        hsum_u8(src->data + (int64_t)y * src->stride, w, c, r, hs, hs + n);
        for (int64_t q = 0; q < 2 * n; q++) cs[q] += hs[q];
    }
    for (int y = 0; y < h; y++) {
        const float iny = 1.0f / (float)win_count(y, h, r);
        float *row = ab + (int64_t)y * 2 * n; /* per pixel: c a's, then c b's */
        for (int x = 0; x < w; x++) {
            const float ic = iny * inv[x];
            for (int k = 0; k < c; k++) {
                const int64_t q = (int64_t)x * c + k;
                const float m1 = (float)cs[q] * ic, m2 = (float)cs[n + q] * ic;
                float var = m2 - m1 * m1;
                if (var < 0.0f) var = 0.0f;
                const float a = var / (var + e);
                row[(int64_t)x * 2 * c + k] = a;
                row[(int64_t)x * 2 * c + c + k] = (1.0f - a) * m1;
            }
        }
        if (y + r + 1 < h) {
            hsum_u8(src->data + (int64_t)(y + r + 1) * src->stride, w, c, r, hs, hs + n);
            for (int64_t q = 0; q < 2 * n; q++) cs[q] += hs[q];
        }
        if (y - r >= 0) {
            hsum_u8(src->data + (int64_t)(y - r) * src->stride, w, c, r, hs, hs + n);
            for (int64_t q = 0; q < 2 * n; q++) cs[q] -= hs[q];
        }
    }
    /* Pass 2: window means of a and b, then q = mean(a) * I + mean(b), mixed in through the mask. */
    memset(cd, 0, sizeof(double) * 2 * (size_t)n);
    for (int y = 0; y <= FK_MIN(r, h - 1); y++) {
        hsum_f(ab + (int64_t)y * 2 * n, w, 2 * c, r, hd);
        for (int64_t q = 0; q < 2 * n; q++) cd[q] += hd[q];
    }
    for (int y = 0; y < h; y++) {
        const float iny = 1.0f / (float)win_count(y, h, r);
        const uint8_t *in = src->data + (int64_t)y * src->stride;
        const uint8_t *m = mask != NULL ? mask->data + (int64_t)y * mask->stride : NULL;
        uint8_t *out = dst->data + (int64_t)y * dst->stride;
        for (int x = 0; x < w; x++) {
            const float ic = iny * inv[x];
            const float wt = (float)strength * (m != NULL ? (float)m[x] * (1.0f / 255.0f) : 1.0f);
            for (int k = 0; k < c; k++) {
                const int64_t q = (int64_t)x * c + k;
                /* hsum_f saw the row as w pixels of 2c channels: a's at 2c*x + k, b's at 2c*x + c + k. */
                const float ma = (float)cd[(int64_t)x * 2 * c + k] * ic;
                const float mb = (float)cd[(int64_t)x * 2 * c + c + k] * ic;
                const float iv = (float)in[q];
                const float qv = ma * iv + mb;
                float v = iv + wt * (qv - iv) + 0.5f;
                v = v > 0.0f ? v : 0.0f; /* maxss, minss: no branches */
                v = v < 255.0f ? v : 255.0f;
                out[q] = (uint8_t)v;
            }
        }
        if (y + r + 1 < h) {
            hsum_f(ab + (int64_t)(y + r + 1) * 2 * n, w, 2 * c, r, hd);
            for (int64_t q = 0; q < 2 * n; q++) cd[q] += hd[q];
        }
        if (y - r >= 0) {
            hsum_f(ab + (int64_t)(y - r) * 2 * n, w, 2 * c, r, hd);
            for (int64_t q = 0; q < 2 * n; q++) cd[q] -= hd[q];
        }
    }
done:
    free(ab);
    free(hs);
    free(cs);
    free(hd);
    free(cd);
    free(inv);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------------ */

static inline uint8_t box_div(uint32_t sum, uint64_t recip, uint32_t half)
{
    return (uint8_t)(((uint64_t)(sum + half) * recip) >> 40);
}

/* One horizontal box pass of radius r over a row of n pixels of c channels, edges replicated. */
static void box_row(const uint8_t *in, uint8_t *out, int n, int c, int r)
{
    const uint32_t size = 2u * (uint32_t)r + 1u, half = size / 2u;
    const uint64_t recip = ((1ull << 40) + size - 1) / size;
    for (int k = 0; k < c; k++) {
        uint32_t sum = 0;
        for (int d = -r; d <= r; d++) sum += in[FK_CLAMP(d, 0, n - 1) * c + k];
        for (int x = 0; x < n; x++) {
            out[x * c + k] = box_div(sum, recip, half);
            sum += in[FK_MIN(x + r + 1, n - 1) * c + k];
            sum -= in[FK_MAX(x - r, 0) * c + k];
        }
    }
}

/* One vertical box pass of radius r over rows of n bytes, edges replicated. */
static void box_cols(const uint8_t *in, int64_t in_stride, uint8_t *out, int64_t out_stride, int64_t n, int h,
                     int r, uint32_t *colsum)
{
    const uint32_t size = 2u * (uint32_t)r + 1u, half = size / 2u;
    const uint64_t recip = ((1ull << 40) + size - 1) / size;
    memset(colsum, 0, sizeof(uint32_t) * (size_t)n);
    for (int k = -r; k <= r; k++) {
        const uint8_t *row = in + (int64_t)FK_CLAMP(k, 0, h - 1) * in_stride;
        for (int64_t x = 0; x < n; x++) colsum[x] += row[x];
    }
    for (int y = 0; y < h; y++) {
        uint8_t *o = out + (int64_t)y * out_stride;
        for (int64_t x = 0; x < n; x++) o[x] = box_div(colsum[x], recip, half);
        const uint8_t *add = in + (int64_t)FK_MIN(y + r + 1, h - 1) * in_stride;
        const uint8_t *sub = in + (int64_t)FK_MAX(y - r, 0) * in_stride;
        for (int64_t x = 0; x < n; x++) colsum[x] += (uint32_t)add[x] - (uint32_t)sub[x];
    }
}

int fk_unsharp_mask(const fk_image *src, const fk_image *mask, fk_image *dst, double amount, double radius,
                    double strength)
{
    int32_t radii[3];
    int rc = check_io(src, mask, dst, strength);
    if (rc != FK_OK) return rc;
    if (!(amount >= 0.0 && amount <= 10.0)) return FK_EARG;
    if (!(radius > 0.0 && radius <= 1000.0)) return FK_EARG;
    if ((rc = fk_box_sizes_for_gauss(radius, radii)) != FK_OK) return rc;
    const int h = src->height, w = src->width, c = src->channels;
    const int64_t n = (int64_t)w * c;
    uint8_t *a = malloc((size_t)n * (size_t)h);
    uint8_t *b = malloc((size_t)n * (size_t)h);
    uint32_t *colsum = malloc(sizeof(uint32_t) * (size_t)n);
    if (a == NULL || b == NULL || colsum == NULL) {
        free(a);
        free(b);
        free(colsum);
        return FK_ENOMEM;
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *in = src->data + (int64_t)y * src->stride;
        uint8_t *ra = a + (int64_t)y * n, *rb = b + (int64_t)y * n;
        box_row(in, ra, w, c, radii[0]);
        box_row(ra, rb, w, c, radii[1]);
        box_row(rb, ra, w, c, radii[2]);
    }
    box_cols(a, n, b, n, n, h, radii[0], colsum);
    box_cols(b, n, a, n, n, h, radii[1], colsum);
    box_cols(a, n, b, n, n, h, radii[2], colsum);
    const float am = (float)amount, st = (float)strength;
    for (int y = 0; y < h; y++) {
        const uint8_t *in = src->data + (int64_t)y * src->stride;
        const uint8_t *bl = b + (int64_t)y * n;
        const uint8_t *m = mask != NULL ? mask->data + (int64_t)y * mask->stride : NULL;
        uint8_t *out = dst->data + (int64_t)y * dst->stride;
        for (int x = 0; x < w; x++) {
            const float wt = st * am * (m != NULL ? (float)m[x] * (1.0f / 255.0f) : 1.0f);
            for (int k = 0; k < c; k++) {
                const int64_t q = (int64_t)x * c + k;
                const float iv = (float)in[q];
                float v = iv + wt * (iv - (float)bl[q]) + 0.5f;
                v = v > 0.0f ? v : 0.0f; /* maxss, minss: no branches */
                v = v < 255.0f ? v : 255.0f;
                out[q] = (uint8_t)v;
            }
        }
    }
    free(a);
    free(b);
    free(colsum);
    return FK_OK;
}
