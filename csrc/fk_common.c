/* Status messages, version and view checks. */
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
    /* height, width <= 2^16 and stride is checked against size, so no product below overflows int64. */
    if (im->size < 0 || im->stride > im->size)
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
