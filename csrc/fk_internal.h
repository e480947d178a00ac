/* Helpers shared by the C core's translation units; not part of the API. */
#ifndef FK_INTERNAL_H
#define FK_INTERNAL_H

#include <string.h>

#include "fk_api.h"

#define FK_MAX_SIDE 65536

#define FK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FK_CLAMP(v, lo, hi) ((v) < (lo) ? (lo) : ((v) > (hi) ? (hi) : (v)))

/* Checks that a view is well formed and stays inside its buffer; returns FK_OK or a negative status. */
int fk_check_view(const fk_image *im);

/* The same, and that two views have the same height and width (and channels when check_channels). */
int fk_check_same_shape(const fk_image *a, const fk_image *b, int check_channels);

/* Three rounded box blurs approximating a Gaussian of sigma (fk_box.c): src (any channels) into out, which
 * has src's width * channels bytes a row, out_stride apart; out may be src's own buffer. */
int fk_gauss3(const fk_image *src, uint8_t *out, int64_t out_stride, double sigma);

/* First index in [lo, hi) with (p[j] & bits) != 0, or -1; eight bytes at a time (mask bounding boxes). */
static inline int fk_first_set(const uint8_t *p, int lo, int hi, uint8_t bits)
{
    const uint64_t wbits = 0x0101010101010101ull * bits;
    int j = lo;
    for (; j + 8 <= hi; j += 8) {
        uint64_t v;
        memcpy(&v, p + j, 8);
        if (v & wbits) break;
    }
    for (; j < hi; j++)
        if (p[j] & bits) return j;
    return -1;
}

/* Last index in [lo, hi) with (p[j] & bits) != 0, or -1. */
static inline int fk_last_set(const uint8_t *p, int lo, int hi, uint8_t bits)
{
    const uint64_t wbits = 0x0101010101010101ull * bits;
    int j = hi;
    for (; j - 8 >= lo; j -= 8) {
        uint64_t v;
        memcpy(&v, p + j - 8, 8);
        if (v & wbits) break;
    }
    for (j = j - 1; j >= lo; j--)
        if (p[j] & bits) return j;
    return -1;
}

/* Round-to-nearest division of v (0..255*255) by 255, exact for every such v. */
static inline uint32_t fk_div255(uint32_t v)
{
    v += 128;
    return (v + (v >> 8)) >> 8;
}

#endif
