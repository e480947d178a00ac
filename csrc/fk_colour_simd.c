/*
 * Relighting's vector kernel (see fk_relight in fk_colour.c), chosen at run time by fk_relight_simd_pick where the
 * CPU has AVX2: eight pixels at a time, in eight float lanes. The factors of each pixel are gathered from the row's
 * interpolated grid columns, the sRGB codes decoded and the results encoded through the same tables, and every
 * operation is the scalar loop's, in the same order and without fused multiply-adds (the branches become blends),
 * so the bytes are the same.
 *
 * A build with FK_NO_SIMD (FUSIONKIT_NO_SIMD=1) leaves it out; fk_set_simd(0) turns it off at run time (tests).
 */
#include "fk_internal.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(FK_NO_SIMD)
#include <immintrin.h>

/* The eight R, G and B codes of pixels p[0..7] as 32-bit lanes; reads 28 bytes (p[0..27]). */
__attribute__((target("avx2"), always_inline)) static inline void load_rgb8(const uint8_t *p, __m256i *r, __m256i *g,
                                                                            __m256i *b)
{
    const __m128i sh = _mm_setr_epi8(0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11, -1, -1, -1, -1);
    const __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), sh);        /* pixels 0-3 */
    const __m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 12)), sh); /* pixels 4-7 */
    const __m128i rg = _mm_unpacklo_epi32(lo, hi); /* R0-3 R4-7 G0-3 G4-7 */
    const __m128i bb = _mm_unpackhi_epi32(lo, hi); /* B0-3 B4-7 */
    *r = _mm256_cvtepu8_epi32(rg);
    *g = _mm256_cvtepu8_epi32(_mm_srli_si128(rg, 8));
    *b = _mm256_cvtepu8_epi32(bb);
}

/* Bytes 0, 4, 8, ... of each 128-bit half's four lanes, packed: the low bytes of eight 32-bit lanes. */
__attribute__((target("avx2"), always_inline)) static inline __m128i low_bytes8(__m256i v)
{
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i s = _mm256_shuffle_epi8(v, pick);
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* Encodes one channel (v) as the scalar loop does: v * ENC + 0.5 clamped to [0, ENC] (NaN to 0), truncated, looked
 * up in to_srgb (read as 32-bit words: the table has 3 bytes of room past its end). */
__attribute__((target("avx2"), always_inline)) static inline __m256i encode8(__m256 v, const uint8_t *to_srgb,
                                                                            float enc)
{
    __m256 x = _mm256_add_ps(_mm256_mul_ps(v, _mm256_set1_ps(enc)), _mm256_set1_ps(0.5f));
    x = _mm256_max_ps(x, _mm256_setzero_ps()); /* x > 0 ? x : 0, NaN to 0 (max returns its second operand) */
    x = _mm256_min_ps(x, _mm256_set1_ps(enc));
    const __m256i idx = _mm256_cvttps_epi32(x);
    return _mm256_and_si256(_mm256_i32gather_epi32((const int *)to_srgb, idx, 1), _mm256_set1_epi32(0xff));
}

__attribute__((target("avx2"))) static int relight_row_avx2(const fk_relight_row *a)
{
    const float wr = 0.2126f, wg = 0.7152f, wb = 0.0722f;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256i six = _mm256_set1_epi32(6);
    const __m128i out_lo = _mm_setr_epi8(0, 8, -1, 1, 9, -1, 2, 10, -1, 3, 11, -1, 4, 12, -1, 5);
    const __m128i out_lo_b = _mm_setr_epi8(-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1);
    const __m128i out_hi = _mm_setr_epi8(13, -1, 6, 14, -1, 7, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i out_hi_b = _mm_setr_epi8(-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, -1, -1, -1, -1, -1, -1);
    /* The row's columns factor by factor (with 8 of room), so that a block whose pixels sample fewer than 8
       neighbouring columns (the rule: grids are coarse) takes them with one load and a permutation. */
    const int soa = a->ncols + 8;
    for (int k = 0; k < 6; k++) {
        float *dst = a->row_soa + (int64_t)k * soa;
        for (int c = 0; c < a->ncols; c++) dst[c] = a->row[c * 6 + k];
        for (int c = a->ncols; c < soa; c++) dst[c] = 0.0f;
    }
    int j = 0;
    /* Blocks read 28 bytes of their 24: the last two pixels of the row go to the scalar loop. */
    for (; j + 10 <= a->w; j += 8) {
        const uint8_t *p = a->src + (int64_t)j * 3;
        const __m256i xa = _mm256_loadu_si256((const __m256i *)(a->xa + j));
        const __m256i xb = _mm256_loadu_si256((const __m256i *)(a->xb + j));
        const __m256 t = _mm256_loadu_ps(a->xt + j);
        __m256 f[6];
        const int base = a->xa[j];
        if (a->xb[j + 7] - base < 8) {
            const __m256i pa = _mm256_sub_epi32(xa, _mm256_set1_epi32(base));
            const __m256i pb = _mm256_sub_epi32(xb, _mm256_set1_epi32(base));
            for (int k = 0; k < 6; k++) {
                const __m256 cols = _mm256_loadu_ps(a->row_soa + (int64_t)k * soa + base);
                const __m256 c0 = _mm256_permutevar8x32_ps(cols, pa), c1 = _mm256_permutevar8x32_ps(cols, pb);
                f[k] = _mm256_add_ps(c0, _mm256_mul_ps(t, _mm256_sub_ps(c1, c0)));
            }
        } else {
            const __m256i ia = _mm256_mullo_epi32(xa, six), ib = _mm256_mullo_epi32(xb, six);
            for (int k = 0; k < 6; k++) {
                const __m256 c0 = _mm256_i32gather_ps(a->row + k, ia, 4), c1 = _mm256_i32gather_ps(a->row + k, ib, 4);
                f[k] = _mm256_add_ps(c0, _mm256_mul_ps(t, _mm256_sub_ps(c1, c0)));
            }
        }
        __m256 kr = f[0], ki = f[1], ceiling = f[3];
        const __m256 light = f[2], sr = f[4], sb = f[5];
        if (a->neutral != NULL) {
            const __m256i nm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(a->neutral + j)));
            const __m256 set = _mm256_castsi256_ps(_mm256_cmpgt_epi32(nm, _mm256_setzero_si256()));
            const __m256 n = _mm256_mul_ps(_mm256_cvtepi32_ps(nm), _mm256_set1_ps(1.0f / 255.0f));
            kr = _mm256_blendv_ps(kr, _mm256_add_ps(kr, _mm256_mul_ps(n, _mm256_sub_ps(one, kr))), set);
            ki = _mm256_blendv_ps(ki, _mm256_sub_ps(ki, _mm256_mul_ps(n, ki)), set);
            ceiling = _mm256_blendv_ps(
                ceiling,
                _mm256_add_ps(ceiling, _mm256_mul_ps(n, _mm256_sub_ps(_mm256_set1_ps(a->neutral_ceiling), ceiling))),
                set);
        }
        __m256i cr, cg, cb;
        load_rgb8(p, &cr, &cg, &cb);
        const __m256 r = _mm256_i32gather_ps(a->dec, cr, 4), g = _mm256_i32gather_ps(a->dec, cg, 4),
                     b = _mm256_i32gather_ps(a->dec, cb, 4);
        const __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(wr), r),
                                                     _mm256_mul_ps(_mm256_set1_ps(wg), g)),
                                       _mm256_mul_ps(_mm256_set1_ps(wb), b));
        const __m256 lit = _mm256_cmp_ps(y, zero, _CMP_GT_OQ);
        const __m256 inv = _mm256_div_ps(one, y);
        const __m256 zr = _mm256_sub_ps(_mm256_mul_ps(r, inv), one), zb = _mm256_sub_ps(_mm256_mul_ps(b, inv), one);
        __m256 nr = _mm256_sub_ps(_mm256_mul_ps(kr, zr), _mm256_mul_ps(ki, zb));
        __m256 nb = _mm256_add_ps(_mm256_mul_ps(ki, zr), _mm256_mul_ps(kr, zb));
        __m256 yo = _mm256_mul_ps(light, y);
        const __m256 knee = _mm256_mul_ps(_mm256_set1_ps(0.8f), ceiling), span = _mm256_sub_ps(ceiling, knee);
        const __m256 high = _mm256_cmp_ps(yo, knee, _CMP_GT_OQ);
        if (_mm256_movemask_ps(high)) {
            const __m256 over = _mm256_sub_ps(yo, knee);
            const __m256 kept = _mm256_add_ps(knee, _mm256_div_ps(_mm256_mul_ps(span, over), _mm256_add_ps(over, span)));
            const __m256 share = _mm256_sub_ps(one, _mm256_div_ps(kept, yo));
            nr = _mm256_blendv_ps(nr, _mm256_add_ps(nr, _mm256_mul_ps(share, _mm256_sub_ps(sr, nr))), high);
            nb = _mm256_blendv_ps(nb, _mm256_add_ps(nb, _mm256_mul_ps(share, _mm256_sub_ps(sb, nb))), high);
            yo = _mm256_blendv_ps(yo, kept, high);
        }
        const __m256 sum = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(wr), nr), _mm256_mul_ps(_mm256_set1_ps(wb), nb));
        const __m256 ng = _mm256_div_ps(_mm256_xor_ps(sum, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(wg));
        const __m256 vr = _mm256_and_ps(_mm256_mul_ps(yo, _mm256_add_ps(one, nr)), lit);
        const __m256 vg = _mm256_and_ps(_mm256_mul_ps(yo, _mm256_add_ps(one, ng)), lit);
        const __m256 vb = _mm256_and_ps(_mm256_mul_ps(yo, _mm256_add_ps(one, nb)), lit);
        const float enc = (float)a->enc_steps;
        const __m128i orr = low_bytes8(encode8(vr, a->to_srgb, enc));
        const __m128i og = low_bytes8(encode8(vg, a->to_srgb, enc));
        const __m128i ob = low_bytes8(encode8(vb, a->to_srgb, enc));
        /* R0-7 G0-7 in one register, B0-7 in another: interleaved into 24 bytes */
        const __m128i rgv = _mm_unpacklo_epi64(orr, og);
        const __m128i first = _mm_or_si128(_mm_shuffle_epi8(rgv, out_lo), _mm_shuffle_epi8(ob, out_lo_b));
        const __m128i last = _mm_or_si128(_mm_shuffle_epi8(rgv, out_hi), _mm_shuffle_epi8(ob, out_hi_b));
        uint8_t *o = a->dst + (int64_t)j * 3;
        _mm_storeu_si128((__m128i *)o, first);
        _mm_storel_epi64((__m128i *)(o + 16), last);
    }
    return j;
}

relight_row_fn fk_relight_simd_pick(void)
{
    if (fk_simd_level() >= 1 && __builtin_cpu_supports("avx2"))
        return relight_row_avx2;
    return NULL;
}

#else

relight_row_fn fk_relight_simd_pick(void)
{
    return NULL;
}

#endif
