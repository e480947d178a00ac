/*
 * Three box blurs approximating a Gaussian (Wells 1986; box sizes as in Kutskir's "Fastest Gaussian blur"),
 * shared by the mask feather and the unsharp mask. Every pass rounds to the nearest integer, so the NumPy twins
 * reproduce the result exactly; divisions use an exact 40-bit reciprocal (exact for sums below 2^20 and boxes
 * up to 4095 wide). Horizontal passes run row by row (the row stays in L1), vertical passes over whole images; a
 * mask's horizontal passes run as vertical ones over its transpose (see fk_gauss3).
 */
#include <math.h>

#include "fk_internal.h"

static inline uint8_t box_div(uint32_t sum, uint64_t recip, uint32_t half)
{
    return (uint8_t)(((uint64_t)(sum + half) * recip) >> 40);
}

/* One horizontal box pass of radius r over a row of n pixels of c channels, edges replicated. */
static inline void box_row(const uint8_t *in, uint8_t *out, int n, int c, int r)
{
    const uint32_t size = 2u * (uint32_t)r + 1u, half = size / 2u;
    const uint64_t recip = ((1ull << 40) + size - 1) / size;
    /* The first window: pixel 0 r + 1 times, pixels 1 .. min(r, n - 1), and pixel n - 1 for the rest (a radius
       beyond the row only repeats its ends), so the start costs the row's length at most, whatever r is. */
    const int inside = FK_MIN(r, n - 1);
    const uint32_t beyond = (uint32_t)(r - inside);
    for (int k = 0; k < c; k++) {
        uint32_t sum = (uint32_t)(r + 1) * in[k] + beyond * in[(n - 1) * c + k];
        for (int d = 1; d <= inside; d++) sum += in[d * c + k];
        /* Three stretches, so the long middle one needs no clamping: x - r below 0, then both ends inside, then
           x + r + 1 past the end (a short row may have no middle). */
        const int mid0 = FK_MIN(r, n), mid1 = FK_MAX(mid0, n - r - 1);
        int x = 0;
        for (; x < mid0; x++) {
            out[x * c + k] = box_div(sum, recip, half);
            sum += in[FK_MIN(x + r + 1, n - 1) * c + k];
            sum -= in[k];
        }
        for (; x < mid1; x++) {
            out[x * c + k] = box_div(sum, recip, half);
            sum += (uint32_t)in[(x + r + 1) * c + k] - (uint32_t)in[(x - r) * c + k];
        }
        for (; x < n; x++) {
            out[x * c + k] = box_div(sum, recip, half);
            sum += in[(n - 1) * c + k];
            sum -= in[FK_MAX(x - r, 0) * c + k];
        }
    }
}

/* One vertical box pass of radius r over rows of n bytes, edges replicated; colsum holds n running sums. */
FK_ROW_CLONES static void box_cols(const uint8_t *in, int64_t in_stride, uint8_t *out, int64_t out_stride, int64_t n,
                                   int h, int r, uint32_t *colsum)
{
    const uint32_t size = 2u * (uint32_t)r + 1u, half = size / 2u;
    const uint64_t recip = ((1ull << 40) + size - 1) / size;
    /* The first window as in box_row: row 0 r + 1 times, rows 1 .. min(r, h - 1), row h - 1 for the rest. */
    const int inside = FK_MIN(r, h - 1);
    const uint32_t first = (uint32_t)r + 1u, beyond = (uint32_t)(r - inside);
    const uint8_t *last = in + (int64_t)(h - 1) * in_stride;
    for (int64_t x = 0; x < n; x++) colsum[x] = first * in[x] + beyond * last[x];
    for (int k = 1; k <= inside; k++) {
        const uint8_t *row = in + (int64_t)k * in_stride;
        for (int64_t x = 0; x < n; x++) colsum[x] += row[x];
    }
    for (int y = 0; y < h; y++) {
        uint8_t *o = out + (int64_t)y * out_stride;
        for (int64_t x = 0; x < n; x++) o[x] = box_div(colsum[x], recip, half);
        const uint8_t *add = in + (int64_t)FK_MIN(y + r + 1, h - 1) * in_stride;
        const uint8_t *sub = in + (int64_t)FK_MAX(y - r, 0) * in_stride;
        for (int64_t x = 0; x < n; x++) colsum[x] += (uint32_t)add[x] - (uint32_t)sub[x];
    }
}

#if defined(__SSE2__) && !defined(FK_NO_SIMD)
#include <emmintrin.h>
#define FK_HAVE_SSE2_TRANSPOSE 1

/* A 16 x 16 block of bytes transposed in registers: four rounds of interleaving (bytes, words, dwords, qwords), after
 * which register k holds column k (SSE2, which every x86-64 CPU has). */
static inline void transpose16(const uint8_t *src, int64_t src_stride, uint8_t *dst, int64_t dst_stride)
{
    __m128i a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(src + i * src_stride));
    for (int i = 0; i < 16; i += 2) { /* rows i, i + 1: columns 0-7, then 8-15 */
        b[i] = _mm_unpacklo_epi8(a[i], a[i + 1]);
        b[i + 1] = _mm_unpackhi_epi8(a[i], a[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* rows i .. i + 3: columns 0-3, 4-7, 8-11, 12-15 */
        a[i] = _mm_unpacklo_epi16(b[i], b[i + 2]);
        a[i + 1] = _mm_unpackhi_epi16(b[i], b[i + 2]);
        a[i + 2] = _mm_unpacklo_epi16(b[i + 1], b[i + 3]);
        a[i + 3] = _mm_unpackhi_epi16(b[i + 1], b[i + 3]);
    }
    for (int i = 0; i < 16; i += 8) { /* rows i .. i + 7: two columns a register, 0-1 to 14-15 */
        for (int j = 0; j < 4; j++) {
            b[i + 2 * j] = _mm_unpacklo_epi32(a[i + j], a[i + j + 4]);
            b[i + 2 * j + 1] = _mm_unpackhi_epi32(a[i + j], a[i + j + 4]);
        }
    }
    for (int k = 0; k < 8; k++) { /* the two halves of each column */
        _mm_storeu_si128((__m128i *)(dst + (2 * k) * dst_stride), _mm_unpacklo_epi64(b[k], b[k + 8]));
        _mm_storeu_si128((__m128i *)(dst + (2 * k + 1) * dst_stride), _mm_unpackhi_epi64(b[k], b[k + 8]));
    }
}
#endif

/* The transpose of rows [ya, yb) and columns [xa, xb), byte by byte in 32 x 32 tiles (both sides stay in L1). */
static void transpose_bytes(const uint8_t *src, int64_t src_stride, uint8_t *dst, int64_t dst_stride, int ya, int yb,
                            int xa, int xb)
{
    enum { TILE = 32 };
    for (int y0 = ya; y0 < yb; y0 += TILE) {
        const int y1 = FK_MIN(y0 + TILE, yb);
        for (int x0 = xa; x0 < xb; x0 += TILE) {
            const int x1 = FK_MIN(x0 + TILE, xb);
            for (int x = x0; x < x1; x++) {
                uint8_t *d = dst + (int64_t)x * dst_stride;
                for (int y = y0; y < y1; y++) d[y] = src[(int64_t)y * src_stride + x];
            }
        }
    }
}

/* dst[x * dst_stride + y] = src[y * src_stride + x] for y < rows and x < cols: 16 x 16 blocks in registers where the
 * build has SSE2, the edges (and everything in a build without SIMD) byte by byte. */
static void transpose_u8(const uint8_t *src, int64_t src_stride, uint8_t *dst, int64_t dst_stride, int rows, int cols)
{
    int rows16 = 0, cols16 = 0;
#ifdef FK_HAVE_SSE2_TRANSPOSE
    rows16 = rows & ~15;
    cols16 = cols & ~15;
    for (int y0 = 0; y0 < rows16; y0 += 16)
        for (int x0 = 0; x0 < cols16; x0 += 16)
            transpose16(src + (int64_t)y0 * src_stride + x0, src_stride, dst + (int64_t)x0 * dst_stride + y0,
                        dst_stride);
#endif
    transpose_bytes(src, src_stride, dst, dst_stride, 0, rows16, cols16, cols); /* the right edge */
    transpose_bytes(src, src_stride, dst, dst_stride, rows16, rows, 0, cols);   /* the bottom rows */
}

/* The radii of the three boxes for sigma: widths wl and wl + 2 (odd), m of them the narrower, so that the
 * variances add up to sigma^2 as closely as whole widths allow. */
#define FK_MAX_BOX_RADIUS 2047

int fk_box_sizes_for_gauss(double sigma, int32_t *radii)
{
    if (radii == NULL) return FK_ENULL;
    if (!isfinite(sigma) || sigma < 0.0) return FK_EARG;
    const int n = 3;
    double w_ideal = sqrt(12.0 * sigma * sigma / n + 1.0);
    int wl = (int)floor(w_ideal);
    if (wl % 2 == 0) wl--;
    const int wu = wl + 2;
    double m_ideal = (12.0 * sigma * sigma - n * wl * wl - 4.0 * n * wl - 3.0 * n) / (-4.0 * wl - 4.0);
    int m = (int)floor(m_ideal + 0.5);
    for (int i = 0; i < n; i++) {
        int size = i < m ? wl : wu;
        int r = (size - 1) / 2;
        if (r > FK_MAX_BOX_RADIUS) return FK_ETOOLARGE;
        radii[i] = r;
    }
    return FK_OK;
}

int fk_gauss3(const fk_image *src, uint8_t *out, int64_t out_stride, double sigma)
{
    int32_t radii[3];
    int rc = fk_box_sizes_for_gauss(sigma, radii);
    if (rc != FK_OK) return rc;
    const int w = src->width, h = src->height, c = src->channels;
    const int64_t n = (int64_t)w * c;
    fk_scratch scratch = FK_SCRATCH_INIT;
    uint8_t *a = fk_scratch_alloc(&scratch, (size_t)n * (size_t)h);
    uint8_t *b = fk_scratch_alloc(&scratch, (size_t)n * (size_t)h);
    uint32_t *colsum = fk_scratch_alloc(&scratch, sizeof(uint32_t) * (size_t)FK_MAX(n, (int64_t)h));
    if (a == NULL || b == NULL || colsum == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM;
    }
    if (c == 1) {
        /* A mask's horizontal passes run as vertical ones over its transpose: box_cols does box_row's sums and
           divisions (the same first window, the same clamped ends), vectorised across what were rows, where a
           row's running sum is one serial chain; the two transposes cost less than the chains. */
        transpose_u8(src->data, src->stride, a, h, h, w);
        box_cols(a, h, b, h, h, w, radii[0], colsum);
        box_cols(b, h, a, h, h, w, radii[1], colsum);
        box_cols(a, h, b, h, h, w, radii[2], colsum);
        transpose_u8(b, h, a, n, w, h);
    } else {
        for (int y = 0; y < h; y++) {
            const uint8_t *in = src->data + (int64_t)y * src->stride;
            uint8_t *ra = a + (int64_t)y * n, *rb = b + (int64_t)y * n;
            box_row(in, ra, w, c, radii[0]);
            box_row(ra, rb, w, c, radii[1]);
            box_row(rb, ra, w, c, radii[2]);
        }
    }
    box_cols(a, n, b, n, n, h, radii[0], colsum);
    box_cols(b, n, a, n, n, h, radii[1], colsum);
    box_cols(a, n, out, out_stride, n, h, radii[2], colsum);
    fk_scratch_free(&scratch);
    return FK_OK;
}
