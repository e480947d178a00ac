/*
 * The mesh warp's vector kernels (see fk_warp.c for the algorithm), chosen at run time by fk_warp_simd_pick: an
 * AVX2 span for RGB and RGBA, and for RGB on CPUs with AVX-512 VBMI a row drawer with a 16-pixel block kernel
 * inlined. The AVX2 spans do the scalar kernels' integer arithmetic, so their output is the same bit for bit; the
 * block kernel steps its positions in 16.16 within a block (see below), so it may differ by a grey level.
 *
 * A build with FK_NO_SIMD (FUSIONKIT_NO_SIMD=1) leaves them out; fk_set_simd limits them at run time (tests).
 */
#include <stdlib.h>
#include <string.h>

#include "fk_warp_internal.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(FK_NO_SIMD)
#include <immintrin.h>
#define FK_HAVE_AVX2 1
#endif

/* The fast span (fk_warp.c) with the channels of a pixel in the four lanes of a 128-bit vector (chosen at run
 * time where the CPU has AVX2, which implies the SSE4.1 used here): the same integer arithmetic as FK_BILERP, with
 * 4-byte loads and stores. An RGB pixel's load reads one byte past it, so callers keep the right neighbour's
 * neighbour inside the row. */
#ifdef FK_HAVE_AVX2

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

#ifdef FK_HAVE_VBMI
/* The same with the RGB block kernel inlined, its constants kept in registers from row to row. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx2"))) static void
draw_rows_blk3(const setup_t *st, const fk_image *src, fk_image *dst, fk_image *coverage, int ya, int yb,
               span_clamped_fn span_clamped, span_fast_fn span_fast, span_fast_fn span_vec)
{
    draw_rows_impl(st, src, dst, coverage, ya, yb, span_clamped, span_fast, span_blk3, 1, span_clear_256);
}
#endif

/* Which kernels may be used (fk_set_simd): a process-wide switch for tests, the one global of the core, read once
 * per call with an atomic load, so a change between calls is safe and never affects a call in progress. */
static int simd_level = 2;

int fk_set_simd(int level)
{
    return __atomic_exchange_n(&simd_level, FK_CLAMP(level, 0, 2), __ATOMIC_RELAXED);
}

int fk_simd_level(void)
{
    return __atomic_load_n(&simd_level, __ATOMIC_RELAXED);
}

void fk_warp_simd_pick(int channels, span_fast_fn *span_vec, draw_rows_fn *draw)
{
    const int level = __atomic_load_n(&simd_level, __ATOMIC_RELAXED);
    (void)channels;
    (void)span_vec;
    (void)draw;
    (void)level;
#ifdef FK_HAVE_AVX2
    if (level >= 1 && channels >= 3 && __builtin_cpu_supports("avx2"))
        *span_vec = channels == 3 ? span_vec3 : span_vec4;
#endif
#ifdef FK_HAVE_VBMI
    if (level >= 2 && channels == 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx2"))
        *draw = draw_rows_blk3;
#endif
}
