/* Status messages, version, the view checks every routine shares, and per-call scratch memory. */
#include <stdlib.h>

#include "fk_internal.h"

#ifndef FK_VERSION
#error "FK_VERSION must be defined by the build (csrc/build_core.py passes the package version)"
#endif

const char *fk_version(void)
{
    return FK_VERSION;
}

const char *fk_status_message(int status)
{
    switch (status) {
    case FK_OK: return "ok";
    case FK_ENULL: return "a required pointer is NULL";
    case FK_EBOUNDS: return "a view reaches past its buffer, or a region lies outside the image";
    case FK_ESHAPE: return "image sizes disagree, or a size is not positive";
    case FK_ECHANNELS: return "unsupported or mismatched channel count";
    case FK_EARG: return "a scalar argument is out of range";
    case FK_EINDEX: return "a triangle names a point index that does not exist";
    case FK_ENONFINITE: return "a coordinate is NaN or infinite";
    case FK_ENOMEM: return "scratch memory could not be allocated";
    case FK_ETOOLARGE: return "a size is beyond what the core handles";
    default: return "unknown status";
    }
}

int fk_check_view(const fk_image *im)
{
    int64_t row_bytes;
    if (im == NULL || im->data == NULL)
        return FK_ENULL;
    if (im->height <= 0 || im->width <= 0)
        return FK_ESHAPE;
    if (im->height > FK_MAX_SIDE || im->width > FK_MAX_SIDE)
        return FK_ETOOLARGE;
    if (im->channels != 1 && im->channels != 3 && im->channels != 4)
        return FK_ECHANNELS;
    row_bytes = (int64_t)im->width * im->channels;
    if (im->stride < row_bytes)
        return FK_EBOUNDS;
    /* height, width <= 2^16 and stride is checked against size, so no product below overflows int64. A single
     * row's stride is never stepped over: a row cut from a larger image keeps that image's stride, beyond size. */
    if (im->size < 0 || (im->height > 1 && im->stride > im->size))
        return FK_EBOUNDS;
    if ((int64_t)(im->height - 1) * im->stride + row_bytes > im->size)
        return FK_EBOUNDS;
    return FK_OK;
}

int fk_check_same_shape(const fk_image *a, const fk_image *b, int check_channels)
{
    int rc = fk_check_view(a);
    if (rc != FK_OK)
        return rc;
    rc = fk_check_view(b);
    if (rc != FK_OK)
        return rc;
    if (a->height != b->height || a->width != b->width)
        return FK_ESHAPE;
    if (check_channels && a->channels != b->channels)
        return FK_ECHANNELS;
    return FK_OK;
}

int fk_check_mask(const fk_image *img, const fk_image *mask)
{
    int rc = fk_check_same_shape(img, mask, 0);
    if (rc != FK_OK)
        return rc;
    if (mask->channels != 1)
        return FK_ECHANNELS;
    return FK_OK;
}

int fk_check_paste(const fk_image *src, const fk_image *mask, const fk_image *dst, int32_t x, int32_t y)
{
    int rc = fk_check_same_shape(src, mask, 0);
    if (rc != FK_OK)
        return rc;
    if ((rc = fk_check_view(dst)) != FK_OK)
        return rc;
    if (mask->channels != 1 || src->channels != dst->channels)
        return FK_ECHANNELS;
    if (x < 0 || y < 0 || (int64_t)x + src->width > dst->width || (int64_t)y + src->height > dst->height)
        return FK_EBOUNDS;
    return FK_OK;
}

static void *scratch_keep(fk_scratch *s, void *p)
{
    if (p != NULL)
        s->block[s->n++] = p;
    return p;
}

void *fk_scratch_alloc(fk_scratch *s, size_t bytes)
{
    if (s->n >= FK_SCRATCH_BLOCKS)
        return NULL;
    return scratch_keep(s, malloc(bytes));
}

void *fk_scratch_calloc(fk_scratch *s, size_t count, size_t size)
{
    if (s->n >= FK_SCRATCH_BLOCKS)
        return NULL;
    return scratch_keep(s, calloc(count, size));
}

void fk_scratch_free(fk_scratch *s)
{
    while (s->n > 0)
        free(s->block[--s->n]);
}
