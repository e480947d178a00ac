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

/* That mask is a valid one-channel view of img's height and width (img checked too). */
int fk_check_mask(const fk_image *img, const fk_image *mask);

/* The checks of a paste of src through mask into dst at (x, y): src and mask of one size, mask one channel,
 * src and dst the same channels, and the region inside dst. */
int fk_check_paste(const fk_image *src, const fk_image *mask, const fk_image *dst, int32_t x, int32_t y);

/* Scratch memory of one call. Blocks from fk_scratch_alloc and fk_scratch_calloc (malloc and calloc, NULL when
 * they fail or the table is full) are all freed by one fk_scratch_free, so a routine that asks for several has a
 * single cleanup path whichever request fails. Start from FK_SCRATCH_INIT. */
#define FK_SCRATCH_BLOCKS 8
typedef struct {
    void *block[FK_SCRATCH_BLOCKS];
    int n;
} fk_scratch;
#define FK_SCRATCH_INIT {{NULL}, 0}
void *fk_scratch_alloc(fk_scratch *s, size_t bytes);
void *fk_scratch_calloc(fk_scratch *s, size_t count, size_t size);
void fk_scratch_free(fk_scratch *s);

/* Row loops of plain arithmetic that the compiler vectorises are marked FK_ROW_CLONES: on x86-64 with glibc (which
 * resolves the ifunc) each is also compiled for AVX2, and the loader picks the version for the CPU. The same
 * operations run in the same order (no fused multiply-adds, see build_core.py; no reassociated reductions without
 * -ffast-math), so every version gives the same bits, with twice the lanes of the baseline's SSE2. A build with
 * FK_NO_SIMD, another libc, or a compiler without target_clones has the baseline only. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__) && !defined(FK_NO_SIMD) && \
    (defined(__clang__) ? __clang_major__ >= 14 : __GNUC__ >= 6)
#define FK_ROW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FK_ROW_CLONES
#endif

/* Runs call1, call3 or call4 by the channel count c (1, 3, else 4), so each kernel is compiled once per channel
 * count and its inner loops see a constant. */
#define FK_DISPATCH(c, call1, call3, call4)                                                                   \
    do {                                                                                                        \
        if ((c) == 1) {                                                                                         \
            call1;                                                                                              \
        } else if ((c) == 3) {                                                                                  \
            call3;                                                                                              \
        } else {                                                                                                \
            call4;                                                                                              \
        }                                                                                                       \
    } while (0)

/* An RGB pixel's three floats moved as one 16-byte vector (GCC and clang vector extensions), for loops that step
 * over pixels apart, or write them interleaved, which are otherwise compiled to one scalar load and store per
 * float. The fourth lane is a neighbour's value, computed alongside: a kernel either overwrites it in order or
 * leaves it out of the store (st3), and reads reach one float past a pixel, so every such buffer keeps a spare
 * float after its last pixel. Each lane does the scalar formula's operations in its order, so the result is the
 * same bit for bit; the scalar build (FK_NO_SIMD) keeps the plain loops. */
#if defined(__GNUC__) && !defined(FK_NO_SIMD)
#define FK_PIXEL_VECTORS 1
typedef float fk_v4f __attribute__((vector_size(16)));

static inline fk_v4f ld4(const float *p)
{
    fk_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st4(float *p, fk_v4f v)
{
    memcpy(p, &v, sizeof v);
}

/* v's first three lanes stored: a pixel's result without touching its neighbour's value. (Putting the fourth lane
 * back as it was with a 16-byte store would be as exact, but a later 16-byte load over part of that store would
 * wait for it to leave the store buffer.) */
static inline void st3(float *p, fk_v4f v)
{
    memcpy(p, &v, 3 * sizeof(float));
}
#endif

/* Three rounded box blurs approximating a Gaussian of sigma (fk_box.c, box sizes by fk_box_sizes_for_gauss):
 * src (any channels) into out, which has src's width * channels bytes a row, out_stride apart; out may be src's
 * own buffer. */
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

/* The SIMD level fk_set_simd set (0 scalar only, 1 up to AVX2, 2 everything), read atomically. */
int fk_simd_level(void);

/* One row of alpha compositing: n pixels of ch channels of s blended into d through the mask bytes m. */
typedef void (*composite_row_fn)(const uint8_t *s, const uint8_t *m, uint8_t *d, int n, int ch);

/* The vector kernel for compositing ch-channel rows on this CPU at the current SIMD level, or NULL (scalar). */
composite_row_fn fk_composite_simd_pick(int channels);

/* One row of relighting (fk_relight, fk_colour.c) for a vector kernel: the row's pixels, its interpolated grid
   columns (six floats each) and each pixel's two columns and weight, the tables. */
typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const uint8_t *neutral; /* or NULL */
    int w;
    const float *row;
    int ncols;      /* columns in row */
    float *row_soa; /* scratch for the kernel: 6 * (ncols + 8) floats */
    const int *xa, *xb;
    const float *xt;
    const float *dec;       /* 256 sRGB codes -> linear */
    const uint8_t *to_srgb; /* enc_steps + 1 codes, and 3 bytes of room past them */
    int enc_steps;
    float neutral_ceiling;
} fk_relight_row;

/* Relights the row's first pixels; returns how many (the scalar loop does the rest). */
typedef int (*relight_row_fn)(const fk_relight_row *row);

/* The vector kernel for relighting on this CPU at the current SIMD level, or NULL (scalar). */
relight_row_fn fk_relight_simd_pick(void);

/* Round-to-nearest division of v (0..255*255) by 255, exact for every such v. */
static inline uint32_t fk_div255(uint32_t v)
{
    v += 128;
    return (v + (v >> 8)) >> 8;
}

#endif
