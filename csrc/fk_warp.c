/*
 * Piecewise-affine warp of a triangle mesh.
 *
 * Every destination pixel whose centre lies inside (or on the edge of) a destination triangle receives the source
 * image bilinearly sampled at the same barycentric position in the matching source triangle. Triangles are drawn
 * in order, so where they overlap the later one wins, exactly as in the NumPy twin.
 *
 * Pixel centres sit at integer coordinates. Inside tests use the same double-precision edge function as the twin,
 * so both cover the same pixels; each row's span is found analytically, and its ends are settled with that exact
 * test unless they are provably clear of the edges (see draw_rows_impl). Sampling uses 11-bit fixed-point weights
 * (under 0.15 grey levels from exact bilinear; the RGB block kernel's 16.16 positions add under 0.08).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

#define FRAC_BITS 11
#define FK_MIN_AREA 1e-3 /* doubled triangle area, in pixels squared */
#define FRAC_ONE (1 << FRAC_BITS)

typedef struct {
    double ax, ay, bx, by, cx, cy; /* destination vertices */
    double sign;                   /* sign of the doubled area: +1 or -1 */
} tri_t;

/* The edge function of (a, b) at p, same formula and order as the twin's _edge(). */
static inline double edge_fn(double ax, double ay, double bx, double by, double px, double py)
{
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax);
}

static inline int inside(const tri_t *t, double px, double py)
{
    double e0 = edge_fn(t->bx, t->by, t->cx, t->cy, px, py) * t->sign;
    double e1 = edge_fn(t->cx, t->cy, t->ax, t->ay, px, py) * t->sign;
    double e2 = edge_fn(t->ax, t->ay, t->bx, t->by, px, py) * t->sign;
    return e0 >= 0.0 && e1 >= 0.0 && e2 >= 0.0;
}

/* Clamps a double to [lo, hi] before any conversion to int (NaN maps to lo). */
static inline double clampd(double v, double lo, double hi)
{
    if (!(v >= lo)) return lo;
    if (v > hi) return hi;
    return v;
}

/* Bilinear sample of channel c from the four neighbours, in the lerp form (3 multiplies): exactly
 * p00 (1-wx)(1-wy) + p01 wx (1-wy) + p10 (1-wx) wy + p11 wx wy with weights in 1/2048, rounded. */
#define FK_BILERP(p00, p01, p10, p11, c, wx, wy)                                                              \
    do {                                                                                                        \
        const int32_t t_ = (int32_t)(p00)[c] * FRAC_ONE + ((int32_t)(p01)[c] - (int32_t)(p00)[c]) * (wx);       \
        const int32_t b_ = (int32_t)(p10)[c] * FRAC_ONE + ((int32_t)(p11)[c] - (int32_t)(p10)[c]) * (wx);       \
        d[c] = (uint8_t)((t_ * FRAC_ONE + (b_ - t_) * (wy) + (1 << (2 * FRAC_BITS - 1))) >> (2 * FRAC_BITS));  \
    } while (0)

/* The general span: positions in double, clamped to the image on every pixel. */
#define DEFINE_SPAN_CLAMPED(NAME, CH)                                                                          \
    static void NAME(const fk_image *src, uint8_t *drow, int x0, int x1, double sx, double sy, double dsx,     \
                     double dsy)                                                                                \
    {                                                                                                           \
        const double maxx = (double)(src->width - 1), maxy = (double)(src->height - 1);                        \
        const int wm1 = src->width - 1, hm1 = src->height - 1;                                                  \
        for (int x = x0; x <= x1; x++, sx += dsx, sy += dsy) {                                                  \
            const int32_t qx = (int32_t)(clampd(sx, 0.0, maxx) * FRAC_ONE);                                     \
            const int32_t qy = (int32_t)(clampd(sy, 0.0, maxy) * FRAC_ONE);                                     \
            const int ix = qx >> FRAC_BITS, iy = qy >> FRAC_BITS;                                               \
            const int32_t wx = qx & (FRAC_ONE - 1), wy = qy & (FRAC_ONE - 1);                                   \
            const int ix1 = ix < wm1 ? ix + 1 : wm1, iy1 = iy < hm1 ? iy + 1 : hm1;                             \
            const uint8_t *r0 = src->data + (int64_t)iy * src->stride;                                          \
            const uint8_t *r1 = src->data + (int64_t)iy1 * src->stride;                                         \
            const uint8_t *p00 = r0 + ix * (CH), *p01 = r0 + ix1 * (CH);                                        \
            const uint8_t *p10 = r1 + ix * (CH), *p11 = r1 + ix1 * (CH);                                        \
            uint8_t *d = drow + x * (CH);                                                                       \
            for (int c = 0; c < (CH); c++)                                                                      \
                FK_BILERP(p00, p01, p10, p11, c, wx, wy);                                                       \
        }                                                                                                       \
    }

/* The fast span, for triangles whose source lies inside the image with a margin: positions in fixed point
 * with 32 fraction bits (no visible drift over a row), no clamping, both neighbours always inside. */
#define DEFINE_SPAN_FAST(NAME, CH)                                                                             \
    static void NAME(const fk_image *src, uint8_t *drow, int x0, int x1, int64_t qx, int64_t qy, int64_t dqx,  \
                     int64_t dqy)                                                                               \
    {                                                                                                           \
        const int64_t stride = src->stride;                                                                     \
        const uint8_t *sdata = src->data;                                                                       \
        uint8_t *d = drow + x0 * (CH);                                                                          \
        for (int x = x0; x <= x1; x++, qx += dqx, qy += dqy, d += (CH)) {                                       \
            const int ix = (int)(qx >> 32), iy = (int)(qy >> 32);                                               \
            const int32_t wx = (int32_t)((qx >> (32 - FRAC_BITS)) & (FRAC_ONE - 1));                            \
            const int32_t wy = (int32_t)((qy >> (32 - FRAC_BITS)) & (FRAC_ONE - 1));                            \
            const uint8_t *p00 = sdata + (int64_t)iy * stride + ix * (CH);                                      \
            const uint8_t *p10 = p00 + stride;                                                                  \
            for (int c = 0; c < (CH); c++)                                                                      \
                FK_BILERP(p00, p00 + (CH), p10, p10 + (CH), c, wx, wy);                                         \
        }                                                                                                       \
    }

DEFINE_SPAN_CLAMPED(span_clamped1, 1)
DEFINE_SPAN_CLAMPED(span_clamped3, 3)
DEFINE_SPAN_CLAMPED(span_clamped4, 4)
DEFINE_SPAN_FAST(span_fast1, 1)
DEFINE_SPAN_FAST(span_fast3, 3)
DEFINE_SPAN_FAST(span_fast4, 4)

/* The same fast span with the channels of a pixel in the four lanes of a 128-bit vector (chosen at run time
 * where the CPU has AVX2, which implies the SSE4.1 used here): the same integer arithmetic as FK_BILERP, with
 * 4-byte loads and stores. An RGB pixel's load reads one byte past it, so callers keep the right neighbour's
 * neighbour inside the row. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define FK_HAVE_AVX2 1

#define DEFINE_SPAN_VEC(NAME, CH)                                                                      \
    __attribute__((target("avx2"))) static void NAME(const fk_image *src, uint8_t *drow, int x0, int x1,       \
                                                     int64_t qx, int64_t qy, int64_t dqx, int64_t dqy)          \
    {                                                                                                           \
        const int64_t stride = src->stride;                                                                     \
        const uint8_t *sdata = src->data;                                                                       \
        const __m128i half = _mm_set1_epi32(1 << (2 * FRAC_BITS - 1));                                          \
        uint8_t *d = drow + x0 * (CH);                                                                          \
        int x = x0;                                                                                             \
        for (; x <= x1; x++, qx += dqx, qy += dqy, d += (CH)) {                                                 \
            const int ix = (int)(qx >> 32), iy = (int)(qy >> 32);                                               \
            const __m128i wx = _mm_set1_epi32((int32_t)((qx >> (32 - FRAC_BITS)) & (FRAC_ONE - 1)));            \
            const __m128i wy = _mm_set1_epi32((int32_t)((qy >> (32 - FRAC_BITS)) & (FRAC_ONE - 1)));            \
            const uint8_t *p00 = sdata + (int64_t)iy * stride + ix * (CH);                                      \
            int32_t w00, w01, w10, w11;                                                                         \
            memcpy(&w00, p00, 4);                                                                               \
            memcpy(&w01, p00 + (CH), 4);                                                                        \
            memcpy(&w10, p00 + stride, 4);                                                                      \
            memcpy(&w11, p00 + stride + (CH), 4);                                                               \
            const __m128i a = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(w00));                                        \
            const __m128i b = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(w01));                                        \
            const __m128i e = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(w10));                                        \
            const __m128i f = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(w11));                                        \
            const __m128i t = _mm_add_epi32(_mm_slli_epi32(a, FRAC_BITS), _mm_mullo_epi32(_mm_sub_epi32(b, a), wx)); \
            const __m128i u = _mm_add_epi32(_mm_slli_epi32(e, FRAC_BITS), _mm_mullo_epi32(_mm_sub_epi32(f, e), wx)); \
            const __m128i v = _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(t, FRAC_BITS), half),  \
                                                           _mm_mullo_epi32(_mm_sub_epi32(u, t), wy)),           \
                                             2 * FRAC_BITS);                                                    \
            const int32_t out = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packus_epi32(v, v), v));                 \
            if ((CH) == 4 || x < x1)                                                                            \
                memcpy(d, &out, 4); /* an RGB pixel's fourth byte is rewritten by the next pixel */             \
            else                                                                                                \
                memcpy(d, &out, 3);                                                                             \
        }                                                                                                       \
    }

DEFINE_SPAN_VEC(span_vec3, 3)
DEFINE_SPAN_VEC(span_vec4, 4)

/* The fast RGB span in blocks of 16 pixels (AVX-512 VBMI, chosen at run time). Under a face mesh the local map
 * is close to a translation, so the 16 samples of a block lie within about 17 neighbouring source pixels of one
 * or two rows. Instead of four gathers per pixel, the block loads 64 bytes of each source row once and vpermb
 * picks every channel's left and right neighbours into 16-bit pairs; vpmaddwd with (2048 - wx, wx) pairs does
 * the horizontal lerp exactly (as FK_BILERP's t_ and b_), and the vertical lerp and rounding follow in 32 bits.
 * A block whose samples straddle two source rows reads three (vpermt2b: index bit 6 picks the lower row of a
 * pair), so every block is one pass. Positions within a block are 16.16 offsets from the block's first sample
 * (at most 16 steps of truncation, under 3e-4 pixel); a block that its windows cannot hold (strong scaling or
 * shear, or near the end of the buffer) goes through the per-pixel path. */
#define FK_HAVE_VBMI 1

/* One group of 16 channel values: their (left, right) pairs picked from the row windows into 16-bit words (index
 * bit 6 picks the lower of the two rows a table holds), the horizontal lerps as dot products with (2048 - wx, wx),
 * then the vertical lerp, rounded, as bytes. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static inline __m128i
blk_group(__m512i r0, __m512i r1, __m512i r2, __m512i idx, __m512i wxp, __m512i wy)
{
    const __mmask64 lowbytes = 0x5555555555555555ULL; /* the low byte of each 16-bit word */
    const __m512i t = _mm512_madd_epi16(_mm512_maskz_permutex2var_epi8(lowbytes, r0, idx, r1), wxp);
    const __m512i b = _mm512_madd_epi16(_mm512_maskz_permutex2var_epi8(lowbytes, r1, idx, r2), wxp);
    const __m512i v = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(t, FRAC_BITS),
                                                        _mm512_set1_epi32(1 << (2 * FRAC_BITS - 1))),
                                       _mm512_mullo_epi32(_mm512_sub_epi32(b, t), wy));
    return _mm512_cvtepi32_epi8(_mm512_srli_epi32(v, 2 * FRAC_BITS));
}

/* The same for 8 pixels in 256-bit vectors (32-byte row windows): a row's last block is often that short, and a
 * 512-bit block costs the same whatever its length. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx2"))) static inline __m128i
blk_group8(__m256i r0, __m256i r1, __m256i r2, __m256i idx, __m256i wxp, __m256i wy)
{
    const __mmask32 lowbytes = 0x55555555u;
    const __m256i t = _mm256_madd_epi16(_mm256_maskz_permutex2var_epi8(lowbytes, r0, idx, r1), wxp);
    const __m256i b = _mm256_madd_epi16(_mm256_maskz_permutex2var_epi8(lowbytes, r1, idx, r2), wxp);
    const __m256i v = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(t, FRAC_BITS),
                                                        _mm256_set1_epi32(1 << (2 * FRAC_BITS - 1))),
                                       _mm256_mullo_epi32(_mm256_sub_epi32(b, t), wy));
    return _mm256_cvtepi32_epi8(_mm256_srli_epi32(v, 2 * FRAC_BITS));
}

/* A block of n <= 8 pixels whose samples lie within 9 columns (bytes 0..31 of the windows at w0) and the rows
 * the caller checked; rx, ry and the row offset as in span_blk3. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx2"), always_inline)) static inline void
blk8_rgb(uint8_t *d, int n, const uint8_t *w0, int64_t stride, int64_t third, __m256i rx, __m256i ry, int32_t lox,
         int32_t loy)
{
#define C2(c) ((c) * 0x10001)
    const __m256i pix0 = _mm256_setr_epi32(0, 0, 0, 1, 1, 1, 2, 2);
    const __m256i pix1 = _mm256_setr_epi32(2, 3, 3, 3, 4, 4, 4, 5);
    const __m256i pix2 = _mm256_setr_epi32(5, 5, 6, 6, 6, 7, 7, 7);
    const __m256i ch0 = _mm256_setr_epi32(C2(0), C2(1), C2(2), C2(0), C2(1), C2(2), C2(0), C2(1));
    const __m256i ch1 = _mm256_setr_epi32(C2(2), C2(0), C2(1), C2(2), C2(0), C2(1), C2(2), C2(0));
    const __m256i ch2 = _mm256_setr_epi32(C2(1), C2(2), C2(0), C2(1), C2(2), C2(0), C2(1), C2(2));
#undef C2
    const __m256i fmask = _mm256_set1_epi32(FRAC_ONE - 1);
    const __m256i wx = _mm256_and_si256(_mm256_srai_epi32(rx, 16 - FRAC_BITS), fmask);
    const __m256i wy = _mm256_and_si256(_mm256_srai_epi32(ry, 16 - FRAC_BITS), fmask);
    const __m256i wxp = _mm256_or_si256(_mm256_sub_epi32(_mm256_set1_epi32(FRAC_ONE), wx), _mm256_slli_epi32(wx, 16));
    const __m256i col = _mm256_sub_epi32(_mm256_srai_epi32(rx, 16), _mm256_set1_epi32(lox));
    const __m256i row = _mm256_sub_epi32(_mm256_srai_epi32(ry, 16), _mm256_set1_epi32(loy));
    const __m256i off = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_add_epi32(col, _mm256_slli_epi32(col, 1)),
                                                            _mm256_slli_epi32(row, 5)),
                                           _mm256_set1_epi32(0x10001));
    const __m256i offp = _mm256_add_epi32(off, _mm256_set1_epi32(3 << 16));
    const __m256i r0 = _mm256_loadu_si256((const __m256i *)w0);
    const __m256i r1 = _mm256_loadu_si256((const __m256i *)(w0 + stride));
    const __m256i r2 = _mm256_loadu_si256((const __m256i *)(w0 + third));
    const __m128i g0 = blk_group8(r0, r1, r2, _mm256_add_epi32(_mm256_permutevar8x32_epi32(offp, pix0), ch0),
                                  _mm256_permutevar8x32_epi32(wxp, pix0), _mm256_permutevar8x32_epi32(wy, pix0));
    const __m128i g1 = blk_group8(r0, r1, r2, _mm256_add_epi32(_mm256_permutevar8x32_epi32(offp, pix1), ch1),
                                  _mm256_permutevar8x32_epi32(wxp, pix1), _mm256_permutevar8x32_epi32(wy, pix1));
    const __m128i g2 = blk_group8(r0, r1, r2, _mm256_add_epi32(_mm256_permutevar8x32_epi32(offp, pix2), ch2),
                                  _mm256_permutevar8x32_epi32(wxp, pix2), _mm256_permutevar8x32_epi32(wy, pix2));
    const __m256i outv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi64(g0, g1)), g2, 1);
    _mm256_mask_storeu_epi8(d, (__mmask32)((1u << (3 * n)) - 1), outv);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx2"), always_inline)) static inline void
span_blk3(const fk_image *src, uint8_t *drow, int x0, int x1, int64_t qx, int64_t qy, int64_t dqx, int64_t dqy)
{
    const int64_t stride = src->stride;
    /* Blocks need steps that fit 16.16 and windows that hold 16 samples: otherwise the whole span goes per pixel. */
    if (dqx > ((int64_t)5 << 30) || dqx < -((int64_t)5 << 30) || dqy > ((int64_t)1 << 33) ||
        dqy < -((int64_t)1 << 33)) {
        span_vec3(src, drow, x0, x1, qx, qy, dqx, dqy);
        return;
    }
    const int32_t stx = (int32_t)(dqx >> 16), sty = (int32_t)(dqy >> 16);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i kx = _mm512_mullo_epi32(iota, _mm512_set1_epi32(stx));
    const __m512i ky = _mm512_mullo_epi32(iota, _mm512_set1_epi32(sty));
    /* Channel value j = 3k + c of the block (k the pixel, c the channel) in three groups of 16: the pixel each
     * takes its offset and weights from, and c replicated into both 16-bit halves (left and right neighbour). */
    const __m512i pix0 = _mm512_setr_epi32(0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5);
    const __m512i pix1 = _mm512_setr_epi32(5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10);
    const __m512i pix2 = _mm512_setr_epi32(10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 15, 15, 15);
#define C2(c) ((c) * 0x10001)
    const __m512i ch0 = _mm512_setr_epi32(C2(0), C2(1), C2(2), C2(0), C2(1), C2(2), C2(0), C2(1), C2(2), C2(0),
                                          C2(1), C2(2), C2(0), C2(1), C2(2), C2(0));
    const __m512i ch1 = _mm512_setr_epi32(C2(1), C2(2), C2(0), C2(1), C2(2), C2(0), C2(1), C2(2), C2(0), C2(1),
                                          C2(2), C2(0), C2(1), C2(2), C2(0), C2(1));
    const __m512i ch2 = _mm512_setr_epi32(C2(2), C2(0), C2(1), C2(2), C2(0), C2(1), C2(2), C2(0), C2(1), C2(2),
                                          C2(0), C2(1), C2(2), C2(0), C2(1), C2(2));
#undef C2
    const __m512i fmask = _mm512_set1_epi32(FRAC_ONE - 1), one = _mm512_set1_epi32(FRAC_ONE);
    uint8_t *d = drow + x0 * 3;
    for (int x = x0; x <= x1; x += 16, d += 48, qx += 16 * dqx, qy += 16 * dqy) {
        const int n = FK_MIN(16, x1 - x + 1);
        const int64_t bx = qx >> 32, by = qy >> 32;
        const int32_t fx = (int32_t)((uint32_t)qx >> 16), fy = (int32_t)((uint32_t)qy >> 16);
        /* Sample k sits at (bx, by) + (rx_k, ry_k) / 65536; the first at (0, 0) whole pixels, so the extremes are
         * the first and the last. */
        const int32_t lastx = (fx + (n - 1) * stx) >> 16, lasty = (fy + (n - 1) * sty) >> 16;
        const int32_t lox = FK_MIN(0, lastx), hix = FK_MAX(0, lastx);
        const int32_t loy = FK_MIN(0, lasty), hiy = FK_MAX(0, lasty);
        const int64_t first = (by + loy) * stride + (bx + lox) * 3, last = (by + hiy + 1) * stride + (bx + lox) * 3;
        if (hix - lox > 19 || hiy - loy > 1 || first < 0 || last + 64 > src->size || bx + lox < 0 ||
            bx + hix + 1 >= src->width || by + loy < 0 || by + hiy + 1 >= src->height) {
            span_vec3(src, drow, x, x + n - 1, qx, qy, dqx, dqy);
            continue;
        }
        const __m512i rx = _mm512_add_epi32(_mm512_set1_epi32(fx), kx);
        const __m512i ry = _mm512_add_epi32(_mm512_set1_epi32(fy), ky);
        if (n <= 8 && hix - lox <= 8) {
            blk8_rgb(d, n, src->data + first, stride, (1 + hiy - loy) * stride, _mm512_castsi512_si256(rx),
                     _mm512_castsi512_si256(ry), lox, loy);
            continue;
        }
        const __m512i wx = _mm512_and_si512(_mm512_srai_epi32(rx, 16 - FRAC_BITS), fmask);
        const __m512i wy = _mm512_and_si512(_mm512_srai_epi32(ry, 16 - FRAC_BITS), fmask);
        const __m512i wxp = _mm512_or_si512(_mm512_sub_epi32(one, wx), _mm512_slli_epi32(wx, 16));
        /* Byte offset of sample k's left neighbour in the window, plus 64 where its row is the second of the
         * block (the second table), in both 16-bit halves, plus 3 in the upper one: the index pattern of one
         * channel's (left, right) pair. */
        const __m512i col = _mm512_sub_epi32(_mm512_srai_epi32(rx, 16), _mm512_set1_epi32(lox));
        const __m512i row = _mm512_sub_epi32(_mm512_srai_epi32(ry, 16), _mm512_set1_epi32(loy));
        const __m512i off = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_add_epi32(col, _mm512_slli_epi32(col, 1)),
                                                                _mm512_slli_epi32(row, 6)),
                                               _mm512_set1_epi32(0x10001));
        const __m512i offp = _mm512_add_epi32(off, _mm512_set1_epi32(3 << 16));
        const __m512i idx0 = _mm512_add_epi32(_mm512_permutexvar_epi32(pix0, offp), ch0);
        const __m512i idx1 = _mm512_add_epi32(_mm512_permutexvar_epi32(pix1, offp), ch1);
        const __m512i idx2 = _mm512_add_epi32(_mm512_permutexvar_epi32(pix2, offp), ch2);
        const __m512i wx0 = _mm512_permutexvar_epi32(pix0, wxp), wy0 = _mm512_permutexvar_epi32(pix0, wy);
        const __m512i wx1 = _mm512_permutexvar_epi32(pix1, wxp), wy1 = _mm512_permutexvar_epi32(pix1, wy);
        const __m512i wx2 = _mm512_permutexvar_epi32(pix2, wxp), wy2 = _mm512_permutexvar_epi32(pix2, wy);
        /* Rows loy, loy + 1 and (when the block straddles two) loy + 2; otherwise the third is the second again
         * and no index reaches it. */
        const uint8_t *w0 = src->data + (by + loy) * stride + (bx + lox) * 3;
        const __m512i r0 = _mm512_loadu_si512((const void *)w0);
        const __m512i r1 = _mm512_loadu_si512((const void *)(w0 + stride));
        const __m512i r2 = _mm512_loadu_si512((const void *)(w0 + (1 + hiy - loy) * stride));
        _mm_prefetch((const char *)(w0 + 2 * stride), _MM_HINT_T0);
        _mm_prefetch((const char *)(w0 + 2 * stride + 63), _MM_HINT_T0);
        const __m128i g0 = blk_group(r0, r1, r2, idx0, wx0, wy0);
        const __m128i g1 = blk_group(r0, r1, r2, idx1, wx1, wy1);
        const __m128i g2 = blk_group(r0, r1, r2, idx2, wx2, wy2);
        const __m512i outv = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(g0), g1, 1), g2, 2);
        /* The block's n pixels own the first 3n bytes. */
        _mm512_mask_storeu_epi8(d, ((__mmask64)1 << (3 * n)) - 1, outv);
    }
}
#endif

typedef void (*span_clamped_fn)(const fk_image *, uint8_t *, int, int, double, double, double, double);
typedef void (*span_fast_fn)(const fk_image *, uint8_t *, int, int, int64_t, int64_t, int64_t, int64_t);

#define FK_FIXED_ONE 4294967296.0 /* 2^32 */

static int check_mesh(const double *src_points, const double *dst_points, int32_t n_points,
                      const int32_t *triangles, int32_t n_triangles)
{
    if (n_points < 0 || n_triangles < 0)
        return FK_EARG;
    if (n_triangles == 0)
        return FK_OK;
    if (src_points == NULL || dst_points == NULL || triangles == NULL)
        return FK_ENULL;
    for (int64_t i = 0; i < 2 * (int64_t)n_points; i++)
        if (!isfinite(src_points[i]) || !isfinite(dst_points[i]))
            return FK_ENONFINITE;
    for (int64_t i = 0; i < 3 * (int64_t)n_triangles; i++)
        if (triangles[i] < 0 || triangles[i] >= n_points)
            return FK_EINDEX;
    return FK_OK;
}

/* Per-triangle state, computed once before the banded pass. */
typedef struct {
    tri_t tri;
    double m[2][3]; /* the affine map destination -> source */
    int y0, y1, bx0, bx1;
    double k[3], invk[3], c0[3], c1[3]; /* sign * E_i(px, py) = k px + c0 + c1 py, for span bounds */
    double tol[3]; /* past this, k px + c0 + c1 py and the exact test agree on the side of edge i (see below) */
    int fast;
    int fast_vec; /* fast, and two pixels of room on the right for the vector path's 4-byte gathers */
} setup_t;

/* Prepares triangle t; returns 0 when it covers nothing (zero area or wholly outside the destination). */
static int setup_triangle(setup_t *st, const fk_image *src, const fk_image *dst, const double *src_points,
                          const double *dst_points, const int32_t *tri3)
{
    const double maxx = (double)(dst->width - 1), maxy = (double)(dst->height - 1);
    const int32_t ia = tri3[0], ib = tri3[1], ic = tri3[2];
    tri_t tri = {dst_points[2 * ia], dst_points[2 * ia + 1], dst_points[2 * ib], dst_points[2 * ib + 1],
                 dst_points[2 * ic], dst_points[2 * ic + 1], 0.0};
    const double area = edge_fn(tri.ax, tri.ay, tri.bx, tri.by, tri.cx, tri.cy);
    /* Slivers under FK_MIN_AREA cover nothing: below it the barycentric weights are ill-conditioned (denormal
     * areas make them overflow), and a thousandth of a pixel's area holds no pixel centre worth sampling. */
    if (!(fabs(area) >= FK_MIN_AREA) || !isfinite(area))
        return 0; /* zero-area (or overflowing) triangles cover nothing */
    tri.sign = area > 0.0 ? 1.0 : -1.0;

    /* The affine map destination -> source, from the barycentric weights at (0,0) and their gradients. */
    const double sax = src_points[2 * ia], say = src_points[2 * ia + 1];
    const double sbx = src_points[2 * ib], sby = src_points[2 * ib + 1];
    const double scx = src_points[2 * ic], scy = src_points[2 * ic + 1];
    const double la0 = edge_fn(tri.bx, tri.by, tri.cx, tri.cy, 0, 0) / area;
    const double lb0 = edge_fn(tri.cx, tri.cy, tri.ax, tri.ay, 0, 0) / area;
    const double lc0 = edge_fn(tri.ax, tri.ay, tri.bx, tri.by, 0, 0) / area;
    const double dla_x = (tri.cy - tri.by) / area, dla_y = -(tri.cx - tri.bx) / area;
    const double dlb_x = (tri.ay - tri.cy) / area, dlb_y = -(tri.ax - tri.cx) / area;
    const double dlc_x = (tri.by - tri.ay) / area, dlc_y = -(tri.bx - tri.ax) / area;
    st->m[0][0] = dla_x * sax + dlb_x * sbx + dlc_x * scx;
    st->m[0][1] = dla_y * sax + dlb_y * sbx + dlc_y * scx;
    st->m[0][2] = la0 * sax + lb0 * sbx + lc0 * scx;
    st->m[1][0] = dla_x * say + dlb_x * sby + dlc_x * scy;
    st->m[1][1] = dla_y * say + dlb_y * sby + dlc_y * scy;
    st->m[1][2] = la0 * say + lb0 * sby + lc0 * scy;

    /* The fast path needs every sample (a convex combination of the source vertices) and its right and lower
     * neighbours inside the image; a margin absorbs rounding and the fixed-point steps. */
    const double margin = 1e-3;
    st->fast = FK_MIN(sax, FK_MIN(sbx, scx)) >= margin && FK_MAX(sax, FK_MAX(sbx, scx)) <= src->width - 1 - margin &&
               FK_MIN(say, FK_MIN(sby, scy)) >= margin && FK_MAX(say, FK_MAX(sby, scy)) <= src->height - 1 - margin &&
               fabs(st->m[0][0]) < 65536.0 && fabs(st->m[1][0]) < 65536.0;
    st->fast_vec = st->fast && FK_MAX(sax, FK_MAX(sbx, scx)) <= src->width - 2 - margin;

    const double ymin = FK_MIN(tri.ay, FK_MIN(tri.by, tri.cy)), ymax = FK_MAX(tri.ay, FK_MAX(tri.by, tri.cy));
    const double xmin = FK_MIN(tri.ax, FK_MIN(tri.bx, tri.cx)), xmax = FK_MAX(tri.ax, FK_MAX(tri.bx, tri.cx));
    if (ymax < -1.0 || xmax < -1.0 || ymin > maxy + 1.0 || xmin > maxx + 1.0)
        return 0; /* wholly outside the destination */
    /* Candidates reach one pixel past the bounding box: rounding in the exact test can admit a pixel whose
     * centre is a hair outside it, and the twin (which tests every pixel) would then cover it. */
    st->y0 = (int)floor(clampd(ymin, 0.0, maxy));
    st->y1 = (int)ceil(clampd(ymax, 0.0, maxy));
    st->bx0 = (int)floor(clampd(xmin, 0.0, maxx));
    st->bx1 = (int)ceil(clampd(xmax, 0.0, maxx));
    st->tri = tri;
    {
        const double ex[3][4] = {{tri.bx, tri.by, tri.cx, tri.cy}, {tri.cx, tri.cy, tri.ax, tri.ay},
                                 {tri.ax, tri.ay, tri.bx, tri.by}};
        double rmax = (double)FK_MAX(dst->width, dst->height) + 2.0; /* pixel centres tested reach one past */
        for (int i = 0; i < 3; i++) /* the edges' first vertices are the three vertices */
            rmax = FK_MAX(rmax, FK_MAX(fabs(ex[i][0]), fabs(ex[i][1])));
        for (int i = 0; i < 3; i++) {
            const double eax = ex[i][0], eay = ex[i][1], ebx = ex[i][2], eby = ex[i][3];
            st->k[i] = (eby - eay) * tri.sign;
            /* A (nearly) horizontal edge bounds no span: the exact test settles its rows (1/k would overflow).
             * Flattening it moves the analytic form by at most |k| * 2R, which the tolerance below takes in. */
            double flattened = 0.0;
            if (fabs(st->k[i]) < 1e-9) {
                flattened = fabs(st->k[i]) * 2.0 * rmax;
                st->k[i] = 0.0;
            }
            st->invk[i] = st->k[i] != 0.0 ? 1.0 / st->k[i] : 0.0;
            st->c1[i] = -(ebx - eax) * tri.sign;
            st->c0[i] = -st->k[i] * eax + (ebx - eax) * tri.sign * eay;
            /* Error bound. With R bounding every coordinate involved (vertices and pixel centres), the exact test
             * computes E_i within about 8u R (|dx| + |dy|) of its real value (u = 2^-53), and the analytic form
             * k px + (c0 + c1 py) within about 15u R (|dx| + |dy|); so where the analytic value is beyond
             * 1e-12 R (|dx| + |dy|) (some 400 times their sum), the exact test has the same sign. */
            st->tol[i] = 1e-12 * rmax * (fabs(ebx - eax) + fabs(eby - eay)) + flattened;
        }
    }
    return 1;
}

/* Sets n bytes to 255: short spans are the rule, where a libc memset call costs more than the stores. */
static inline void fill255(uint8_t *p, int n)
{
    const uint64_t ones = ~(uint64_t)0;
    if (n < 8) {
        for (int i = 0; i < n; i++) p[i] = 255;
        return;
    }
    for (int i = 0; i < n - 8; i += 8) memcpy(p + i, &ones, 8);
    memcpy(p + n - 8, &ones, 8); /* the last 8, overlapping the loop's last store */
}

/* Whether pixel x of the row with edge offsets v[] is certainly inside (every edge value beyond its tolerance),
 * so the exact test agrees without being run. */
static inline int surely_inside(const setup_t *st, const double v[3], double x)
{
    return st->k[0] * x + v[0] > st->tol[0] && st->k[1] * x + v[1] > st->tol[1] && st->k[2] * x + v[2] > st->tol[2];
}

/* Whether pixel x is certainly outside (some edge value below minus its tolerance). */
static inline int surely_outside(const setup_t *st, const double v[3], double x)
{
    return st->k[0] * x + v[0] < -st->tol[0] || st->k[1] * x + v[1] < -st->tol[1] ||
           st->k[2] * x + v[2] < -st->tol[2];
}

/* Whether span [xl, xr] (xl <= xr) is settled without exact tests: both end pixels surely inside, and their outer
 * neighbours surely outside or past the candidates. */
static inline int span_clear(const setup_t *st, const double v[3], int xl, int xr)
{
    return surely_inside(st, v, xl) && surely_inside(st, v, xr) &&
           (xl == st->bx0 || surely_outside(st, v, xl - 1.0)) && (xr == st->bx1 || surely_outside(st, v, xr + 1.0));
}

#ifdef FK_HAVE_VBMI
/* The same four pixels against the three edges at once, in one 256-bit vector (same products and sums). */
__attribute__((target("avx512f,avx512vl,avx2"), always_inline)) static inline int
span_clear_256(const setup_t *st, const double v[3], int xl, int xr)
{
    const __m256d x = _mm256_setr_pd(xl, xr, xl - 1.0, xr + 1.0);
    __mmask8 in = 0xf, out = 0;
    for (int i = 0; i < 3; i++) {
        const __m256d g = _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(st->k[i]), x), _mm256_set1_pd(v[i]));
        in &= _mm256_cmp_pd_mask(g, _mm256_set1_pd(st->tol[i]), _CMP_GT_OQ);
        out |= _mm256_cmp_pd_mask(g, _mm256_set1_pd(-st->tol[i]), _CMP_LT_OQ);
    }
    return (in & 3) == 3 && ((out & 4) || xl == st->bx0) && ((out & 8) || xr == st->bx1);
}
#endif

/* Draws rows [ya, yb] of a prepared triangle (inlined into the two variants below). */
__attribute__((always_inline)) static inline void
draw_rows_impl(const setup_t *st, const fk_image *src, fk_image *dst, fk_image *coverage, int ya, int yb,
               span_clamped_fn span_clamped, span_fast_fn span_fast, span_fast_fn span_vec, int round_insn,
               int (*clear)(const setup_t *, const double *, int, int))
{
    const tri_t *tri = &st->tri;
    for (int y = ya; y <= yb; y++) {
        const double py = (double)y;
        double lo = (double)st->bx0, hi = (double)st->bx1;
        double v[3];
        for (int i = 0; i < 3; i++) {
            v[i] = st->c0[i] + st->c1[i] * py;
            if (st->k[i] > 0.0)
                lo = FK_MAX(lo, -v[i] * st->invk[i]);
            else if (st->k[i] < 0.0)
                hi = FK_MIN(hi, -v[i] * st->invk[i]);
        }
        /* ceil and floor: one rounding instruction where the variant's target has it (SSE4.1 and up), else by
         * truncation (the clamped bounds fit an int), cheaper than the baseline's inlined sequence */
        const double lc = clampd(lo, (double)st->bx0, (double)st->bx1 + 1.0);
        const double hc = clampd(hi, (double)st->bx0 - 1.0, (double)st->bx1);
        int xl, xr;
        if (round_insn) {
            xl = (int)ceil(lc);
            xr = (int)floor(hc);
        } else {
            xl = (int)lc;
            xr = (int)hc;
            xl += (double)xl < lc;
            xr -= (double)xr > hc;
        }
        xl = FK_MAX(xl, st->bx0);
        xr = FK_MIN(xr, st->bx1);
        /* Nearly always both ends are clear of the edges by far more than any rounding: the end pixels are surely
         * inside and their outer neighbours surely outside (or past the candidates), and the exact test would say
         * the same. Otherwise the analytic bounds can be a rounding away from the exact test: widen them by a
         * pixel, then settle both ends with that test (spans are convex, so the pixels between are inside). */
        if (!(xl <= xr && clear(st, v, xl, xr))) {
            xl = FK_MAX(xl - 1, st->bx0);
            xr = FK_MIN(xr + 1, st->bx1);
            while (xl <= xr && !inside(tri, xl, py)) xl++;
            while (xr >= xl && !inside(tri, xr, py)) xr--;
            if (xl > xr)
                continue;
        }
        const double sx = st->m[0][0] * xl + st->m[0][1] * py + st->m[0][2];
        const double sy = st->m[1][0] * xl + st->m[1][1] * py + st->m[1][2];
        uint8_t *drow = dst->data + (int64_t)y * dst->stride;
        if (st->fast && sx >= 0.0 && sy >= 0.0 && sx < src->width - 1 && sy < src->height - 1) {
            const int64_t qx = (int64_t)(sx * FK_FIXED_ONE), qy = (int64_t)(sy * FK_FIXED_ONE);
            const int64_t dqx = (int64_t)(st->m[0][0] * FK_FIXED_ONE), dqy = (int64_t)(st->m[1][0] * FK_FIXED_ONE);
            if (st->fast_vec && span_vec != NULL)
                span_vec(src, drow, xl, xr, qx, qy, dqx, dqy); /* a direct, inlined call in draw_rows_blk3 */
            else
                span_fast(src, drow, xl, xr, qx, qy, dqx, dqy);
        } else {
            span_clamped(src, drow, xl, xr, sx, sy, st->m[0][0], st->m[1][0]);
        }
        fill255(coverage->data + (int64_t)y * coverage->stride + xl, xr - xl + 1);
    }
}

static void draw_rows(const setup_t *st, const fk_image *src, fk_image *dst, fk_image *coverage, int ya, int yb,
                      span_clamped_fn span_clamped, span_fast_fn span_fast, span_fast_fn span_vec)
{
    draw_rows_impl(st, src, dst, coverage, ya, yb, span_clamped, span_fast, span_vec, 0, span_clear);
}

#ifdef FK_HAVE_VBMI
/* The same with the RGB block kernel inlined, its constants kept in registers from row to row. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx2"))) static void
draw_rows_blk3(const setup_t *st, const fk_image *src, fk_image *dst, fk_image *coverage, int ya, int yb,
               span_clamped_fn span_clamped, span_fast_fn span_fast, span_fast_fn span_vec)
{
    draw_rows_impl(st, src, dst, coverage, ya, yb, span_clamped, span_fast, span_blk3, 1, span_clear_256);
}
#endif

/* Rows per band. Triangles are drawn band by band (each band's triangles in index order, so the later triangle
 * still wins where they overlap): the band's destination and source rows stay in cache, where drawing whole
 * triangles in mesh order would fetch every row afresh for each of its triangles. */
#define BAND 16

int fk_warp_mesh(const fk_image *src, fk_image *dst, fk_image *coverage,
                 const double *src_points, const double *dst_points, int32_t n_points,
                 const int32_t *triangles, int32_t n_triangles)
{
    int rc;
    if ((rc = fk_check_view(src)) != FK_OK) return rc;
    if ((rc = fk_check_same_shape(dst, coverage, 0)) != FK_OK) return rc;
    if (src->channels != dst->channels || coverage->channels != 1)
        return FK_ECHANNELS;
    if ((rc = check_mesh(src_points, dst_points, n_points, triangles, n_triangles)) != FK_OK)
        return rc;
    if (n_triangles == 0)
        return FK_OK;
    const span_clamped_fn span_clamped =
        src->channels == 1 ? span_clamped1 : (src->channels == 3 ? span_clamped3 : span_clamped4);
    const span_fast_fn span_fast = src->channels == 1 ? span_fast1 : (src->channels == 3 ? span_fast3 : span_fast4);

    span_fast_fn span_vec = NULL;
    void (*draw)(const setup_t *, const fk_image *, fk_image *, fk_image *, int, int, span_clamped_fn, span_fast_fn,
                 span_fast_fn) = draw_rows;
#ifdef FK_HAVE_AVX2
    if (src->channels >= 3 && __builtin_cpu_supports("avx2"))
        span_vec = src->channels == 3 ? span_vec3 : span_vec4;
#endif
#ifdef FK_HAVE_VBMI
    if (src->channels == 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx2"))
        draw = draw_rows_blk3;
#endif

    const int n_bands = (dst->height + BAND - 1) / BAND;
    setup_t *setups = malloc(sizeof(setup_t) * (size_t)n_triangles);
    int32_t *live = malloc(sizeof(int32_t) * (size_t)n_triangles);
    int64_t *band_start = calloc((size_t)n_bands + 1, sizeof(int64_t));
    int32_t *band_tris = NULL;
    int64_t n_live = 0, n_entries = 0;
    if (setups == NULL || live == NULL || band_start == NULL) {
        rc = FK_ENOMEM;
        goto done;
    }
    /* Bucket the live triangles by band (counting sort, which keeps index order within each band). */
    for (int32_t t = 0; t < n_triangles; t++) {
        if (!setup_triangle(&setups[t], src, dst, src_points, dst_points, triangles + 3 * t))
            continue;
        live[n_live++] = t;
        for (int b = setups[t].y0 / BAND; b <= setups[t].y1 / BAND; b++)
            band_start[b + 1]++;
    }
    for (int b = 0; b < n_bands; b++)
        band_start[b + 1] += band_start[b];
    n_entries = band_start[n_bands];
    band_tris = malloc(sizeof(int32_t) * (size_t)FK_MAX(n_entries, 1));
    if (band_tris == NULL) {
        rc = FK_ENOMEM;
        goto done;
    }
    {
        int64_t *fill = band_start; /* advanced as the fill position, then shifted back below */
        for (int64_t i = 0; i < n_live; i++) {
            const int32_t t = live[i];
            for (int b = setups[t].y0 / BAND; b <= setups[t].y1 / BAND; b++)
                band_tris[fill[b]++] = t;
        }
        for (int b = n_bands; b > 0; b--)
            band_start[b] = band_start[b - 1];
        band_start[0] = 0;
    }
    for (int b = 0; b < n_bands; b++) {
        const int yb0 = b * BAND, yb1 = FK_MIN(yb0 + BAND, dst->height) - 1;
        for (int64_t i = band_start[b]; i < band_start[b + 1]; i++) {
            const setup_t *st = &setups[band_tris[i]];
            draw(st, src, dst, coverage, FK_MAX(st->y0, yb0), FK_MIN(st->y1, yb1), span_clamped, span_fast,
                      span_vec);
        }
    }
    rc = FK_OK;
done:
    free(setups);
    free(live);
    free(band_start);
    free(band_tris);
    return rc;
}
