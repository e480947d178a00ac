/*
 * Alpha compositing's vector kernel (see fk_composite in fk_mask.c), chosen at run time by fk_composite_simd_pick
 * where the CPU has AVX2: 16 pixels at a time, their mask bytes spread over the pixels' channels with byte shuffles,
 * then src * m + dst * (255 - m) and fk_div255's rounding in sixteen 16-bit lanes (both fit: the sum is at most
 * 255 * 255). The same integer arithmetic as the scalar loop, so the same bytes.
 *
 * A build with FK_NO_SIMD (FUSIONKIT_NO_SIMD=1) leaves it out; fk_set_simd(0) turns it off at run time (tests).
 */
#include "fk_internal.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(FK_NO_SIMD)
#include <immintrin.h>

/* The blend of 16 bytes: s and d the bytes, a the mask byte of each. */
__attribute__((target("avx2"))) static inline __m128i blend16(__m128i s, __m128i d, __m128i a)
{
    const __m256i s16 = _mm256_cvtepu8_epi16(s), d16 = _mm256_cvtepu8_epi16(d), a16 = _mm256_cvtepu8_epi16(a);
    const __m256i na16 = _mm256_sub_epi16(_mm256_set1_epi16(255), a16);
    __m256i v = _mm256_add_epi16(_mm256_mullo_epi16(s16, a16), _mm256_mullo_epi16(d16, na16));
    v = _mm256_add_epi16(v, _mm256_set1_epi16(128));
    v = _mm256_srli_epi16(_mm256_add_epi16(v, _mm256_srli_epi16(v, 8)), 8);
    const __m256i packed = _mm256_packus_epi16(v, v);  /* per 128-bit lane: its 8 bytes, twice */
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08));
}

/* One row of n pixels of ch channels (1, 3 or 4). */
__attribute__((target("avx2"))) static void composite_row_avx2(const uint8_t *s, const uint8_t *m, uint8_t *d, int n,
                                                               int ch)
{
    /* spread[ch][q]: for chunk q of a block's 16 * ch bytes, which of the block's 16 mask bytes each byte takes. */
    static const uint8_t spread3[3][16] = {
        {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5},
        {5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10},
        {10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 15, 15, 15}};
    static const uint8_t spread4[4][16] = {
        {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
        {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
        {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
        {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15}};
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m128i mv = _mm_loadu_si128((const __m128i *)(m + j));
        if (_mm_testz_si128(mv, mv)) continue;  /* the mask leaves these 16 pixels out */
        const uint8_t *sb = s + (int64_t)j * ch;
        uint8_t *db = d + (int64_t)j * ch;
        for (int q = 0; q < ch; q++) {
            __m128i a = mv;
            if (ch == 3) a = _mm_shuffle_epi8(mv, _mm_loadu_si128((const __m128i *)spread3[q]));
            else if (ch == 4) a = _mm_shuffle_epi8(mv, _mm_loadu_si128((const __m128i *)spread4[q]));
            const __m128i sv = _mm_loadu_si128((const __m128i *)(sb + 16 * q));
            const __m128i dv = _mm_loadu_si128((const __m128i *)(db + 16 * q));
            _mm_storeu_si128((__m128i *)(db + 16 * q), blend16(sv, dv, a));
        }
    }
    for (; j < n; j++) {  /* the last few pixels */
        const uint32_t a = m[j], na = 255u - a;
        for (int c = 0; c < ch; c++)
            d[j * ch + c] = (uint8_t)fk_div255(s[j * ch + c] * a + d[j * ch + c] * na);
    }
}

composite_row_fn fk_composite_simd_pick(int channels)
{
    if (fk_simd_level() >= 1 && (channels == 1 || channels == 3 || channels == 4) && __builtin_cpu_supports("avx2"))
        return composite_row_avx2;
    return NULL;
}

#else

composite_row_fn fk_composite_simd_pick(int channels)
{
    (void)channels;
    return NULL;
}

#endif
