/* Helpers shared by the C core's translation units; not part of the API. */
#ifndef FK_INTERNAL_H
#define FK_INTERNAL_H

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

/* Round-to-nearest division of v (0..255*255) by 255, exact for every such v. */
static inline uint32_t fk_div255(uint32_t v)
{
    v += 128;
    return (v + (v >> 8)) >> 8;
}

#endif
