/*
 * fusionkit C core: the public API.
 *
 * Conventions (see shared design notes):
 *  - every routine is a pure function over image views; the caller allocates every output;
 *  - every routine returns an int status: FK_OK (0) or a negative FK_E* code, named by fk_status_message();
 *  - no globals, no callbacks, reentrant: the Python binding releases the GIL around each call;
 *  - views carry the byte size of their buffer, and every routine checks that it stays inside it.
 *
 * The block between the cdef markers is read verbatim by csrc/build_core.py as the cffi cdef, so it must stay
 * plain C declarations (no preprocessor lines, no macros).
 */
#ifndef FK_API_H
#define FK_API_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
/* An 8-bit image view: rows of width * channels bytes, rows stride bytes apart, size bytes addressable. */
typedef struct {
    uint8_t *data;
    int32_t height;
    int32_t width;
    int32_t channels;
    int64_t stride;
    int64_t size;
} fk_image;

enum {
    FK_OK = 0,
    FK_ENULL = -1,       /* a required pointer is NULL */
    FK_EBOUNDS = -2,     /* a view reaches past its buffer, or a region lies outside an image */
    FK_ESHAPE = -3,      /* image sizes disagree, or a size is not positive */
    FK_ECHANNELS = -4,   /* unsupported or mismatched channel count */
    FK_EARG = -5,        /* a scalar argument is out of range */
    FK_EINDEX = -6,      /* a triangle names a point that does not exist */
    FK_ENONFINITE = -7,  /* a coordinate is NaN or infinite */
    FK_ENOMEM = -8,      /* scratch memory could not be allocated */
    FK_ETOOLARGE = -9    /* a size is beyond what the core handles */
};

const char *fk_status_message(int status);
const char *fk_version(void);
/* Which of the run-time chosen SIMD kernels may be used, process-wide: 0 the scalar kernels only, 1 up to AVX2,
   2 (the default) all the CPU has; returns the previous level. For tests, which compare the paths. */
int fk_set_simd(int level);

int fk_warp_mesh(const fk_image *src, fk_image *dst, fk_image *coverage,
                 const double *src_points, const double *dst_points, int32_t n_points,
                 const int32_t *triangles, int32_t n_triangles);

int fk_fill_polygon(fk_image *mask, const double *points, int32_t n_points);
int fk_erode_mask(const fk_image *src, fk_image *dst, int32_t radius);
int fk_dilate_mask(const fk_image *src, fk_image *dst, int32_t radius);
int fk_box_sizes_for_gauss(double sigma, int32_t *radii);
int fk_feather_mask(const fk_image *src, fk_image *dst, double sigma);
int fk_composite(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y);
/* Multi-band (Laplacian pyramid) blend of src through mask into dst at (x, y); levels 1-12. */
int fk_blend_multiband(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y,
                       int32_t levels);
/* Poisson cloning of src through mask into dst at (x, y); mode 0 normal, 1 mixed gradients. solution, when not
   NULL, receives the unrounded result over the ROI (height * width * channels floats, solution_len of them). */
int fk_blend_poisson(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y,
                     int32_t mode, double tol, int32_t max_cycles, float *solution, int64_t solution_len,
                     int32_t *cycles, double *residual);
/* Mask-weighted CIE Lab mean[3] and std[3] of an sRGB image (bgr = 1 for BGR channel order). */
int fk_lab_stats(const fk_image *img, const fk_image *mask, int32_t bgr, double *mean, double *std);
int fk_colour_transfer(const fk_image *src, const fk_image *mask, fk_image *out, int32_t bgr,
                       const double *target_mean, const double *target_std, double strength,
                       double *src_mean, double *src_std);
/* Relighting of a 3-channel sRGB image by factors on a coarse grid (grid_h x grid_w cells of 6 floats: k_re, k_im,
   light, ceiling, skin_re, skin_im; grid_len floats in all), sampled bilinearly; neutral (8-bit, may be NULL) takes the
   chroma factor to 1 and the ceiling to neutral_ceiling; see fk_colour.c. */
int fk_relight(const fk_image *src, const float *grid, int32_t grid_h, int32_t grid_w, int64_t grid_len,
               const fk_image *neutral, float neutral_ceiling, fk_image *dst);
/* Per-channel mean[channels] and std[channels] of 8-bit pixels (1, 3 or 4 channels) with mask != 0 on every step-th
   row and column, pixels beyond spread robust spreads (MAD) from the median in any channel left out; mask may be
   NULL (every pixel); *count receives the number of pixels sampled. */
int fk_robust_stats(const fk_image *img, const fk_image *mask, int32_t step, double spread, double *mean,
                    double *std, int64_t *count);
/* mask may be NULL (255 everywhere). */
int fk_guided_filter(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t radius, double eps,
                     double strength);
int fk_unsharp_mask(const fk_image *src, const fk_image *mask, fk_image *dst, double amount, double radius,
                    double strength);
/* cdef-end */

#endif
