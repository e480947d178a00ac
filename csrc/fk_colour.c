/*
 * Colour statistics and transfer in CIE Lab (Reinhard et al. 2001), inside an 8-bit mask.
 *
 * Lab is CIE 1976 L*a*b* of sRGB under D65 (the matrix and white point OpenCV uses), L in 0-100. Statistics are
 * the mask-weighted (weight mask / 255) per-channel mean and standard deviation. The transfer maps every pixel's
 * Lab to (Lab - src_mean) * target_std / src_std + target_mean (a channel whose src_std is below 1e-6 is only
 * shifted), back to sRGB, and mixes it in by strength * mask / 255.
 *
 * Speed: the sRGB decoding is a 256-entry table, the cube root is a bit-level guess and two Newton steps (relative
 * error under 1e-5), and the sRGB encoding interpolates a table over sqrt(linear) (under 0.002 grey levels).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

#define XN 0.950456f
#define ZN 1.088754f
#define ENC_N 1024

typedef struct {
    float dec[256];          /* sRGB code -> linear */
    float enc[ENC_N + 2];    /* 255 * sRGB(t^2) at t = i / ENC_N */
} lab_tables;

static void make_tables(lab_tables *t)
{
    for (int i = 0; i < 256; i++) {
        const double v = i / 255.0;
        t->dec[i] = (float)(v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4));
    }
    for (int i = 0; i <= ENC_N + 1; i++) {
        double s = (double)i / ENC_N;
        double lin = s * s;
        if (lin > 1.0) lin = 1.0;
        t->enc[i] = (float)(255.0 * (lin <= 0.0031308 ? 12.92 * lin : 1.055 * pow(lin, 1.0 / 2.4) - 0.055));
    }
}

static inline float cbrt_fast(float x)
{
    uint32_t bits;
    float y;
    memcpy(&bits, &x, sizeof bits);
    bits = bits / 3u + 709921077u;
    memcpy(&y, &bits, sizeof y);
    y = (2.0f * y + x / (y * y)) * (1.0f / 3.0f);
    y = (2.0f * y + x / (y * y)) * (1.0f / 3.0f);
    y = (2.0f * y + x / (y * y)) * (1.0f / 3.0f);
    return y;
}

static inline float lab_f(float t)
{
    return t > 0.008856f ? cbrt_fast(t) : 7.787f * t + (16.0f / 116.0f);
}

static inline float lab_finv(float t)
{
    return t > 0.206893f ? t * t * t : (t - 16.0f / 116.0f) * (1.0f / 7.787f);
}

static inline void rgb_to_lab(const lab_tables *t, const uint8_t *p, int bgr, float *lab)
{
    const float r = t->dec[p[bgr ? 2 : 0]], g = t->dec[p[1]], b = t->dec[p[bgr ? 0 : 2]];
    const float X = (0.412453f * r + 0.357580f * g + 0.180423f * b) * (1.0f / XN);
    const float Y = 0.212671f * r + 0.715160f * g + 0.072169f * b;
    const float Z = (0.019334f * r + 0.119193f * g + 0.950227f * b) * (1.0f / ZN);
    const float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
    lab[0] = 116.0f * fy - 16.0f;
    lab[1] = 500.0f * (fx - fy);
    lab[2] = 200.0f * (fy - fz);
}

static inline float encode(const lab_tables *t, float lin)
{
    if (!(lin > 0.0f)) return 0.0f;
    if (lin >= 1.0f) return 255.0f;
    const float s = sqrtf(lin) * ENC_N;
    const int i = (int)s;
    const float fr = s - (float)i;
    return t->enc[i] + fr * (t->enc[i + 1] - t->enc[i]);
}

/* Lab back to sRGB, 0-255 floats (unrounded), in the image's channel order. */
static inline void lab_to_rgb(const lab_tables *t, const float *lab, int bgr, float *out)
{
    const float fy = (lab[0] + 16.0f) * (1.0f / 116.0f);
    const float fx = fy + lab[1] * (1.0f / 500.0f), fz = fy - lab[2] * (1.0f / 200.0f);
    const float X = lab_finv(fx) * XN, Y = lab_finv(fy), Z = lab_finv(fz) * ZN;
    const float r = 3.240479f * X - 1.537150f * Y - 0.498535f * Z;
    const float g = -0.969256f * X + 1.875992f * Y + 0.041556f * Z;
    const float b = 0.055648f * X - 0.204043f * Y + 1.057311f * Z;
    out[bgr ? 2 : 0] = encode(t, r);
    out[1] = encode(t, g);
    out[bgr ? 0 : 2] = encode(t, b);
}

/* Steps of the table that encodes linear light to sRGB codes (under a fifth of a code apart near black). */
#define RELIGHT_ENC 16383

/* The tables: Lab's, and for relighting linear light in 1/RELIGHT_ENC steps -> sRGB code, with 3 bytes of room
 * for the vector kernel's 4-byte reads. */
typedef struct {
    lab_tables lab;
    uint8_t to_srgb[RELIGHT_ENC + 4];
} colour_tables;

/* The tables, built once per process on first use (some 75 us, which every call used to spend again: as much as
 * a small face's whole relighting). Threads that race to build them each build a copy; the first one published
 * wins and the others are freed, so no thread reads a table being written. NULL when out of memory. */
static const colour_tables *shared_tables(void)
{
    static colour_tables *shared = NULL;
    colour_tables *t = __atomic_load_n(&shared, __ATOMIC_ACQUIRE);
    if (t != NULL) return t;
    colour_tables *fresh = malloc(sizeof(colour_tables));
    if (fresh == NULL) return NULL;
    make_tables(&fresh->lab);
    for (int i = 0; i <= RELIGHT_ENC; i++)
        fresh->to_srgb[i] = (uint8_t)(encode(&fresh->lab, (float)i / RELIGHT_ENC) + 0.5f);
    fresh->to_srgb[RELIGHT_ENC + 1] = fresh->to_srgb[RELIGHT_ENC + 2] = fresh->to_srgb[RELIGHT_ENC + 3] = 0;
    colour_tables *expected = NULL;
    if (__atomic_compare_exchange_n(&shared, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    free(fresh); /* another thread published first: its tables are the same */
    return expected;
}

/* Mask-weighted Lab mean and standard deviation; lab_out (h * w * 3 floats) receives every pixel's Lab if given. */
static int stats(const lab_tables *t, const fk_image *img, const fk_image *mask, int bgr, double *mean,
                 double *std, float *lab_out)
{
    double sw = 0.0, s1[3] = {0.0, 0.0, 0.0}, s2[3] = {0.0, 0.0, 0.0};
    const int w = img->width;
    /* Sums of Lab - K, K the first masked pixel's Lab, so near-constant regions keep their tiny variance exact. */
    float K[3] = {0.0f, 0.0f, 0.0f};
    for (int i = 0, found = 0; i < img->height && !found; i++) {
        const uint8_t *p = img->data + (int64_t)i * img->stride;
        const uint8_t *m = mask->data + (int64_t)i * mask->stride;
        for (int j = 0; j < w; j++)
            if (m[j]) {
                rgb_to_lab(t, p + (int64_t)j * img->channels, bgr, K);
                found = 1;
                break;
            }
    }
    for (int i = 0; i < img->height; i++) {
        const uint8_t *p = img->data + (int64_t)i * img->stride;
        const uint8_t *m = mask->data + (int64_t)i * mask->stride;
        float rw = 0.0f, r1[3] = {0.0f, 0.0f, 0.0f}, r2[3] = {0.0f, 0.0f, 0.0f};
        for (int j = 0; j < w; j++) {
            float lab[3];
            if (m[j] == 0 && lab_out == NULL) continue;
            rgb_to_lab(t, p + (int64_t)j * img->channels, bgr, lab);
            if (lab_out != NULL) memcpy(lab_out + ((int64_t)i * w + j) * 3, lab, sizeof lab);
            if (m[j] == 0) continue;
            const float wt = (float)m[j] * (1.0f / 255.0f);
            rw += wt;
            for (int k = 0; k < 3; k++) {
                const float v = lab[k] - K[k];
                r1[k] += wt * v;
                r2[k] += wt * v * v;
            }
        }
        sw += rw;
        for (int k = 0; k < 3; k++) {
            s1[k] += r1[k];
            s2[k] += r2[k];
        }
    }
    if (!(sw > 0.0)) return FK_EARG;
    for (int k = 0; k < 3; k++) {
        const double mk = s1[k] / sw;
        const double var = s2[k] / sw - mk * mk;
        mean[k] = mk + K[k];
        std[k] = var > 0.0 ? sqrt(var) : 0.0;
    }
    return FK_OK;
}

static int check_pair(const fk_image *img, const fk_image *mask)
{
    int rc = fk_check_mask(img, mask);
    if (rc != FK_OK) return rc;
    if (img->channels != 3 && img->channels != 4) return FK_ECHANNELS;
    return FK_OK;
}

int fk_lab_stats(const fk_image *img, const fk_image *mask, int32_t bgr, double *mean, double *std)
{
    int rc = check_pair(img, mask);
    if (rc != FK_OK) return rc;
    if (mean == NULL || std == NULL) return FK_ENULL;
    if (bgr != 0 && bgr != 1) return FK_EARG;
    const colour_tables *t = shared_tables();
    if (t == NULL) return FK_ENOMEM;
    return stats(&t->lab, img, mask, bgr, mean, std, NULL);
}

int fk_colour_transfer(const fk_image *src, const fk_image *mask, fk_image *out, int32_t bgr,
                       const double *target_mean, const double *target_std, double strength,
                       double *src_mean, double *src_std)
{
    int rc = check_pair(src, mask);
    if (rc != FK_OK) return rc;
    if ((rc = fk_check_same_shape(src, out, 1)) != FK_OK) return rc;
    if (target_mean == NULL || target_std == NULL || src_mean == NULL || src_std == NULL) return FK_ENULL;
    if (bgr != 0 && bgr != 1) return FK_EARG;
    if (!(strength >= 0.0 && strength <= 1.0)) return FK_EARG;
    for (int k = 0; k < 3; k++)
        if (!isfinite(target_mean[k]) || !(target_std[k] >= 0.0 && target_std[k] < 1e6)
            || fabs(target_mean[k]) > 1e6)
            return FK_EARG;
    const int h = src->height, w = src->width, ch = src->channels;
    fk_scratch scratch = FK_SCRATCH_INIT;
    float *lab = fk_scratch_alloc(&scratch, sizeof(float) * 3 * (size_t)h * (size_t)w);
    const colour_tables *tables = shared_tables();
    if (lab == NULL || tables == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM;
    }
    const lab_tables *t = &tables->lab;
    rc = stats(t, src, mask, bgr, src_mean, src_std, lab);
    if (rc == FK_OK) {
        float scale[3], shift[3];
        for (int k = 0; k < 3; k++) {
            const double sc = src_std[k] > 1e-6 ? target_std[k] / src_std[k] : 1.0;
            scale[k] = (float)sc;
            shift[k] = (float)(target_mean[k] - sc * src_mean[k]);
        }
        const float s255 = (float)strength * (1.0f / 255.0f);
        for (int i = 0; i < h; i++) {
            const uint8_t *p = src->data + (int64_t)i * src->stride;
            const uint8_t *m = mask->data + (int64_t)i * mask->stride;
            uint8_t *o = out->data + (int64_t)i * out->stride;
            const float *l = lab + (int64_t)i * w * 3;
            for (int j = 0; j < w; j++) {
                const uint8_t *pp = p + (int64_t)j * ch;
                uint8_t *op = o + (int64_t)j * ch;
                const float wt = (float)m[j] * s255;
                if (wt == 0.0f) {
                    for (int k = 0; k < ch; k++) op[k] = pp[k];
                    continue;
                }
                float nl[3], rgb[3];
                for (int k = 0; k < 3; k++) nl[k] = l[j * 3 + k] * scale[k] + shift[k];
                lab_to_rgb(t, nl, bgr, rgb);
                for (int k = 0; k < 3; k++) {
                    float v = (float)pp[k] + wt * (rgb[k] - (float)pp[k]) + 0.5f;
                    v = v > 0.0f ? v : 0.0f; /* maxss, minss: no branches */
                    v = v < 255.0f ? v : 255.0f;
                    op[k] = (uint8_t)v;
                }
                if (ch == 4) op[3] = pp[3];
            }
        }
    }
    fk_scratch_free(&scratch);
    return rc;
}

/*
 * Robust per-channel statistics of 8-bit pixels (any colour space) under a mask, outliers left out.
 *
 * Pixels on every step-th row and column whose mask value is non-zero (every such pixel when mask is NULL) are
 * the sample (a boolean array's bytes serve as a mask). Each channel's median and median absolute deviation (MAD) come from a 256-bin histogram (no
 * sort; the lower median of an even count). A pixel is an outlier when, in any channel, it lies farther than
 * spread * (1.4826 * MAD + 1e-3) from the median (1.4826 * MAD estimates a normal spread); mean and standard
 * deviation are those of the other pixels, or of the whole sample when fewer than 16 remain. *count receives the
 * sample's size; with an empty sample mean and std are 0.
 */
int fk_robust_stats(const fk_image *img, const fk_image *mask, int32_t step, double spread, double *mean,
                    double *std, int64_t *count)
{
    int rc = fk_check_view(img);
    if (rc != FK_OK) return rc;
    if (mask != NULL && (rc = fk_check_mask(img, mask)) != FK_OK) return rc;
    if (mean == NULL || std == NULL || count == NULL) return FK_ENULL;
    if (img->channels < 1 || img->channels > 4) return FK_ECHANNELS;
    if (step < 1 || step > FK_MAX_SIDE || !(spread >= 0.0 && spread <= 1e6)) return FK_EARG;
    const int ch = img->channels, h = img->height, w = img->width;
    int64_t hist[4][256];
    memset(hist, 0, sizeof hist);
    int64_t n = 0;
    for (int i = 0; i < h; i += step) {
        const uint8_t *p = img->data + (int64_t)i * img->stride;
        const uint8_t *m = mask != NULL ? mask->data + (int64_t)i * mask->stride : NULL;
        for (int j = 0; j < w; j += step) {
            if (m != NULL && m[j] == 0) continue;
            for (int k = 0; k < ch; k++) hist[k][p[(int64_t)j * ch + k]]++;
            n++;
        }
    }
    *count = n;
    for (int k = 0; k < ch; k++) mean[k] = std[k] = 0.0;
    if (n == 0) return FK_OK;
    int med[4], lo[4], hi[4];
    const int64_t half = (n + 1) / 2;
    for (int k = 0; k < ch; k++) {
        int64_t c = 0;
        int v = 0;
        while (v < 255 && (c += hist[k][v]) < half) v++;
        med[k] = v;
        /* MAD: the histogram of |value - median| is hist[med + d] + hist[med - d]. */
        c = hist[k][v];
        int d = 0;
        while (c < half && d < 255) {
            d++;
            if (v + d <= 255) c += hist[k][v + d];
            if (v - d >= 0) c += hist[k][v - d];
        }
        const double limit = spread * (1.4826 * d + 1e-3);
        const int reach = limit >= 255.0 ? 255 : (int)floor(limit);
        lo[k] = v - reach;
        hi[k] = v + reach;
    }
    double s1[4] = {0}, s2[4] = {0};
    int64_t kept = 0;
    for (int i = 0; i < h; i += step) {
        const uint8_t *p = img->data + (int64_t)i * img->stride;
        const uint8_t *m = mask != NULL ? mask->data + (int64_t)i * mask->stride : NULL;
        for (int j = 0; j < w; j += step) {
            if (m != NULL && m[j] == 0) continue;
            const uint8_t *px = p + (int64_t)j * ch;
            int inside = 1;
            for (int k = 0; k < ch; k++) inside &= px[k] >= lo[k] && px[k] <= hi[k];
            if (!inside) continue;
            for (int k = 0; k < ch; k++) {
                /* Sums about the median: small numbers, no cancellation in the variance. */
                const double x = (double)(px[k] - med[k]);
                s1[k] += x;
                s2[k] += x * x;
            }
            kept++;
        }
    }
    if (kept < 16) {
        /* Too few inliers to trust: the whole sample's moments, from its histograms. */
        kept = n;
        for (int k = 0; k < ch; k++) {
            s1[k] = s2[k] = 0.0;
            for (int v = 0; v < 256; v++) {
                const double x = (double)(v - med[k]);
                s1[k] += x * (double)hist[k][v];
                s2[k] += x * x * (double)hist[k][v];
            }
        }
    }
    for (int k = 0; k < ch; k++) {
        const double mk = s1[k] / (double)kept;
        const double var = s2[k] / (double)kept - mk * mk;
        mean[k] = mk + med[k];
        std[k] = var > 0.0 ? sqrt(var) : 0.0;
    }
    return FK_OK;
}

/*
 * Relighting: the light-and-colour stage of a fusion, per pixel.
 *
 * The factors come as a coarse grid (grid_h x grid_w cells of six floats, grid_len of them in all) spread over the
 * image and sampled bilinearly at each pixel centre, as OpenCV's linear resize does (sample (y + 0.5) * grid_h / h -
 * 0.5, clamped to the grid): k_re, k_im, light, ceiling, skin_re, skin_im.
 *
 * Each sRGB pixel of src (3 channels) is decoded to linear light (R, G, B), with luminance Y (BT.709). Its chroma
 * is z = (R / Y - 1, B / Y - 1) (G follows, the luminance weights fixing it), a point of the plane where grey is 0.
 * The pixel becomes Y' = light * Y and z' = k * z, k a complex number (k_re + i k_im): a rotation and scaling of
 * chroma about grey, so grey stays grey (grey hair, a highlight's light) and colours near the skin's move as the
 * skin's does. Where neutral (an 8-bit mask, may be NULL) is n / 255, k moves towards 1 and the ceiling towards
 * neutral_ceiling by that share (eyes and teeth keep their colour and may be bright). Luminance above knee = 0.8 *
 * ceiling is rolled off towards ceiling (Y'' = knee + span * over / (over + span)); the share of light so removed is
 * a highlight's, so the chroma moves by that share towards the skin's (skin_re + i skin_im): a user photo's
 * specular highlight, dimmed to the template's light, shows the skin under it rather than a grey spot. Channels
 * are rebuilt as Y'' * (1 + z'') (G from the weights), clipped at 0, and encoded to sRGB into dst. Each grid cell
 * is made safe before it is interpolated (see sanitize_cell): a non-finite or out-of-range factor is neutral.
 */

static inline int finite_pair(float a, float b)
{
    return a > -1e3f && a < 1e3f && b > -1e3f && b < 1e3f; /* false for NaN */
}

/* A grid cell made safe before it is interpolated: k = 1 and skin = 0 where either part is non-finite or beyond
   1e3; light 1 where non-finite, 0 where negative, at most 1e3; ceiling 1 outside (0, 1]. */
static inline void sanitize_cell(const float *in, float *out)
{
    const int k_ok = finite_pair(in[0], in[1]), skin_ok = finite_pair(in[4], in[5]);
    out[0] = k_ok ? in[0] : 1.0f;
    out[1] = k_ok ? in[1] : 0.0f;
    float light = in[2];
    if (!(light == light) || light > 1e30f || light < -1e30f) light = 1.0f; /* NaN or infinite */
    light = light > 0.0f ? light : 0.0f;
    out[2] = light < 1e3f ? light : 1e3f;
    out[3] = (in[3] > 0.0f && in[3] <= 1.0f) ? in[3] : 1.0f;
    out[4] = skin_ok ? in[4] : 0.0f;
    out[5] = skin_ok ? in[5] : 0.0f;
}

/* Linear-resize sampling of one axis: the two cells and the weight of the second for output index i. */
static inline void axis_sample(int i, int n_out, int n_grid, int *a, int *b, float *t)
{
    float x = ((float)i + 0.5f) * (float)n_grid / (float)n_out - 0.5f;
    if (x < 0.0f) x = 0.0f;
    int i0 = (int)x;
    if (i0 > n_grid - 1) i0 = n_grid - 1;
    int i1 = i0 + 1 < n_grid ? i0 + 1 : n_grid - 1;
    float f = x - (float)i0;
    *a = i0;
    *b = i1;
    *t = f < 1.0f ? f : 1.0f;
}

int fk_relight(const fk_image *src, const float *grid, int32_t grid_h, int32_t grid_w, int64_t grid_len,
               const fk_image *neutral, float neutral_ceiling, fk_image *dst)
{
    int rc;
    if (src == NULL || dst == NULL || grid == NULL) return FK_ENULL;
    if ((rc = fk_check_view(src)) != FK_OK) return rc;
    if ((rc = fk_check_same_shape(src, dst, 1)) != FK_OK) return rc;
    if (neutral != NULL && (rc = fk_check_mask(src, neutral)) != FK_OK) return rc;
    if (src->channels != 3) return FK_ECHANNELS;
    if (grid_h < 1 || grid_w < 1 || grid_h > FK_MAX_SIDE || grid_w > FK_MAX_SIDE) return FK_ESHAPE;
    if (grid_len < (int64_t)grid_h * grid_w * 6) return FK_EBOUNDS;
    if (!(neutral_ceiling > 0.0f && neutral_ceiling <= 1.0f)) neutral_ceiling = 1.0f;
    const int h = src->height, w = src->width;
    fk_scratch scratch = FK_SCRATCH_INIT;
    const colour_tables *tables = shared_tables();
    int *xa = fk_scratch_alloc(&scratch, sizeof(int) * (size_t)w);
    int *xb = fk_scratch_alloc(&scratch, sizeof(int) * (size_t)w);
    float *xt = fk_scratch_alloc(&scratch, sizeof(float) * (size_t)w);
    /* The grid columns the image samples (at most 2 w of them, however wide the grid), in order: only those are
       interpolated down to each image row, so the work per row is bounded by the image's width. */
    const int ncols_max = (int)FK_MIN((int64_t)grid_w, 2 * (int64_t)w);
    int *cols = fk_scratch_alloc(&scratch, sizeof(int) * (size_t)ncols_max);
    /* those columns interpolated down to this image row; linear (in 1/RELIGHT_ENC steps) -> sRGB code */
    float *row = fk_scratch_alloc(&scratch, sizeof(float) * 6 * (size_t)ncols_max);
    float *row_soa = fk_scratch_alloc(&scratch, sizeof(float) * 6 * ((size_t)ncols_max + 8));
    if (tables == NULL || xa == NULL || xb == NULL || xt == NULL || cols == NULL || row == NULL || row_soa == NULL) {
        rc = FK_ENOMEM;
        goto done;
    }
    const lab_tables *t = &tables->lab;
    const uint8_t *to_srgb = tables->to_srgb;
    const relight_row_fn vec = fk_relight_simd_pick();
    /* xa and xb never decrease along the row, so the sampled columns are listed in one pass, and xa, xb become
       positions in that list. */
    int ncols = 0;
    for (int j = 0; j < w; j++) {
        int a, b;
        axis_sample(j, w, grid_w, &a, &b, &xt[j]);
        if (ncols == 0 || cols[ncols - 1] < a) cols[ncols++] = a;
        int ia = ncols - 1;
        while (cols[ia] > a) ia--; /* one step back at most: a is the previous a or b */
        xa[j] = ia;
        if (cols[ncols - 1] < b) cols[ncols++] = b;
        xb[j] = ncols - 1;
    }
    const float wr = 0.2126f, wg = 0.7152f, wb = 0.0722f;
    for (int i = 0; i < h; i++) {
        const uint8_t *p = src->data + (int64_t)i * src->stride;
        uint8_t *o = dst->data + (int64_t)i * dst->stride;
        const uint8_t *nm = neutral != NULL ? neutral->data + (int64_t)i * neutral->stride : NULL;
        int ya, yb;
        float yt;
        axis_sample(i, h, grid_h, &ya, &yb, &yt);
        const float *ra = grid + (int64_t)ya * grid_w * 6, *rb = grid + (int64_t)yb * grid_w * 6;
        for (int c = 0; c < ncols; c++) {
            float a[6], b[6];
            sanitize_cell(ra + (int64_t)cols[c] * 6, a);
            sanitize_cell(rb + (int64_t)cols[c] * 6, b);
            for (int k = 0; k < 6; k++) row[c * 6 + k] = a[k] + yt * (b[k] - a[k]);
        }
        int j0 = 0;
        if (vec != NULL && w >= 10) { /* the kernel's blocks need 10 pixels */
            const fk_relight_row args = {p,  o,  nm, w, row, ncols, row_soa, xa,
                                         xb, xt, t->dec, to_srgb, RELIGHT_ENC, neutral_ceiling};
            j0 = vec(&args);
            p += 3 * (int64_t)j0;
            o += 3 * (int64_t)j0;
        }
        for (int j = j0; j < w; j++, p += 3, o += 3) {
            float f[6];
            const float *c0 = row + xa[j] * 6, *c1 = row + xb[j] * 6;
            for (int k = 0; k < 6; k++) f[k] = c0[k] + xt[j] * (c1[k] - c0[k]);
            float kr = f[0], ki = f[1], light = f[2], ceiling = f[3];
            const float sr = f[4], sb = f[5];
            if (nm != NULL && nm[j]) {
                const float n = (float)nm[j] * (1.0f / 255.0f);
                kr += n * (1.0f - kr);
                ki -= n * ki;
                ceiling += n * (neutral_ceiling - ceiling);
            }
            const float r = t->dec[p[0]], g = t->dec[p[1]], b = t->dec[p[2]];
            const float y = wr * r + wg * g + wb * b;
            float v[3] = {0.0f, 0.0f, 0.0f};
            if (y > 0.0f) {
                const float inv = 1.0f / y;
                const float zr = r * inv - 1.0f, zb = b * inv - 1.0f;
                float nr = kr * zr - ki * zb, nb = ki * zr + kr * zb;
                float yo = light * y;
                const float knee = 0.8f * ceiling, span = ceiling - knee;
                if (yo > knee) {
                    const float over = yo - knee;
                    const float kept = knee + span * over / (over + span);
                    const float share = 1.0f - kept / yo;
                    nr += share * (sr - nr);
                    nb += share * (sb - nb);
                    yo = kept;
                }
                const float ng = -(wr * nr + wb * nb) / wg;
                v[0] = yo * (1.0f + nr);
                v[1] = yo * (1.0f + ng);
                v[2] = yo * (1.0f + nb);
            }
            for (int k = 0; k < 3; k++) {
                float x = v[k] * (float)RELIGHT_ENC + 0.5f;
                x = x > 0.0f ? x : 0.0f;
                x = x < (float)RELIGHT_ENC ? x : (float)RELIGHT_ENC;
                o[k] = to_srgb[(int)x];
            }
        }
    }
    rc = FK_OK;
done: /* the one way out once scratch memory is asked for */
    fk_scratch_free(&scratch);
    return rc;
}
