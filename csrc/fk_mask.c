/*
 * 8-bit masks: anti-aliased polygon fill, erosion and dilation, Gaussian-like feathering, alpha compositing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fk_internal.h"

/* ------------------------------------------------------------------------------------------------------------ */
/* Polygon fill with exact area coverage.
 *
 * The signed-area accumulation of font rasterisers (as in Raph Levien's font-rs): every edge adds, to the cells of
 * the rows it crosses, the area it sweeps; a running sum along each row is then the covered fraction of each pixel.
 * Pixel (x, y) covers [x - 0.5, x + 0.5] x [y - 0.5, y + 0.5], so points are shifted by half a pixel first. Edges
 * are split where they cross x = 0 and x = width and the outer parts pressed onto those lines, which keeps every
 * write inside the row while leaving the coverage of the visible pixels exact.
 */

/* The rows [y0, y1) of the polygon's band (band coordinates) being accumulated, each holding the cells of columns
   xoff to xoff + rowlen - 1: every cell an edge can touch (see fk_fill_polygon). */
typedef struct {
    double *acc;
    int64_t rowlen;
    int xoff, width, y0, y1;
} fk_strip;

static void accumulate_line(const fk_strip *st, double x0, double y0, double x1, double y1)
{
    /* x is clamped to [0, width] (the edge split there), and within that to the strip's cells: the cells hold
       every x an edge of the polygon reaches, so the second clamp changes nothing, except where rounding of huge
       coordinates sends an interpolated x far off, which it keeps inside the buffer. */
    const double xlo = (double)st->xoff, xhi = (double)(st->xoff + st->rowlen - 2);
    double dir = 1.0;
    if (y0 == y1)
        return;
    if (y0 > y1) {
        double t;
        t = x0; x0 = x1; x1 = t;
        t = y0; y0 = y1; y1 = t;
        dir = -1.0;
    }
    const double dxdy = (x1 - x0) / (y1 - y0);
    /* Clamped in double before the conversion: an edge wholly below the image (y >= 2^31) must not overflow
     * the int and walk two billion empty rows. */
    const int ystart = (int)FK_CLAMP(floor(y0), (double)st->y0, (double)st->y1);
    const int yend = (int)FK_CLAMP(ceil(y1), (double)st->y0, (double)st->y1);
    for (int y = ystart; y < yend; y++) {
        const double ya = FK_MAX((double)y, y0), yb = FK_MIN((double)(y + 1), y1);
        const double dy = yb - ya;
        if (!(dy > 0.0))
            continue;
        double xa = x0 + (ya - y0) * dxdy, xb = x0 + (yb - y0) * dxdy;
        if (!isfinite(dxdy)) { /* a run of 2^1024 over a rise of a few ulps: the piece is flat, x0 to x1 */
            xa = x0;
            xb = x1;
        }
        xa = FK_CLAMP(xa, xlo, xhi);
        xb = FK_CLAMP(xb, xlo, xhi);
        const double d = dy * dir;
        double *row = st->acc + (int64_t)(y - st->y0) * st->rowlen;
        double lx = FK_MIN(xa, xb), rx = FK_MAX(xa, xb);
        const double lfloor = floor(lx);
        const int li = (int)lfloor - st->xoff; /* cells are stored from column xoff on */
        const int ri = (int)ceil(rx) - st->xoff;
        if (ri <= li + 1) {
            /* The piece stays in one cell: split d by where its midpoint falls. */
            const double xm = 0.5 * (xa + xb) - lfloor;
            row[li] += d - d * xm;
            row[li + 1] += d * xm;
        } else {
            const double s = 1.0 / (rx - lx);
            const double lf = lx - lfloor;
            const double a0 = 0.5 * s * (1.0 - lf) * (1.0 - lf);
            const double rf = rx - ceil(rx) + 1.0;
            const double am = 0.5 * s * rf * rf;
            row[li] += d * a0;
            if (ri == li + 2) {
                row[li + 1] += d * (1.0 - a0 - am);
            } else {
                const double a1 = s * (1.5 - lf);
                row[li + 1] += d * (a1 - a0);
                for (int xi = li + 2; xi < ri - 1; xi++)
                    row[xi] += d * s;
                const double a2 = a1 + (double)(ri - li - 3) * s;
                row[ri - 1] += d * (1.0 - a2 - am);
            }
            row[ri] += d * am;
        }
    }
}

/* Splits an edge at x = 0 and x = width, so each piece lies on one side of both lines, and accumulates each. */
static void accumulate_edge(const fk_strip *st, double x0, double y0, double x1, double y1)
{
    double ts[4] = {0.0, 0.0, 0.0, 1.0};
    int n = 1;
    const double bounds[2] = {0.0, (double)st->width};
    if (x0 != x1) {
        for (int k = 0; k < 2; k++) {
            double t = (bounds[k] - x0) / (x1 - x0);
            if (t > 0.0 && t < 1.0)
                ts[n++] = t;
        }
    }
    if (n == 3 && ts[1] > ts[2]) {
        double t = ts[1]; ts[1] = ts[2]; ts[2] = t;
    }
    ts[n] = 1.0;
    for (int i = 0; i < n; i++) {
        double xa = x0 + (x1 - x0) * ts[i], ya = y0 + (y1 - y0) * ts[i];
        double xb = x0 + (x1 - x0) * ts[i + 1], yb = y0 + (y1 - y0) * ts[i + 1];
        if (i == n - 1) { xb = x1; yb = y1; }
        if (i == 0) { xa = x0; ya = y0; }
        accumulate_line(st, xa, ya, xb, yb);
    }
}

/* A pixel's byte from the running sum of its row: the covered fraction, times 255, rounded. */
static inline uint8_t coverage_byte(double sum)
{
    const double v = fabs(sum);
    return (uint8_t)(FK_MIN(v, 1.0) * 255.0 + 0.5);
}

/* Rows of FILL_STRIP band rows are accumulated at a time, so the accumulator stays in cache however large the
   polygon; each row's cells receive the same additions in the same order as with one buffer for the band. */
#define FILL_STRIP 32

/* The running sums of n rows of a strip (n <= 4, each row of rowlen cells from column xoff) into their mask rows,
   leaving the cells zeroed when a next strip will use them (rezero). The sums are formed in place first, the rows
   side by side (one row's sum is a chain of dependent additions, four chains keep the adder busy), then turned into
   bytes in a loop that vectorises. Pixels left of xoff have no cell and stay 0; those right of the cells take the
   row's final sum, as cells there would add nothing. */
static void sum_rows(double *acc, int64_t rowlen, uint8_t *const *out, int n, int xoff, int w, int rezero)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    const int64_t m = FK_MIN(xoff + rowlen, (int64_t)w) - xoff;
    if (n == 4) {
        double *r0 = acc, *r1 = acc + rowlen, *r2 = acc + 2 * rowlen, *r3 = acc + 3 * rowlen;
        for (int64_t q = 0; q < m; q++) {
            r0[q] = s[0] += r0[q];
            r1[q] = s[1] += r1[q];
            r2[q] = s[2] += r2[q];
            r3[q] = s[3] += r3[q];
        }
    } else {
        for (int k = 0; k < n; k++)
            for (int64_t q = 0; q < m; q++) acc[k * rowlen + q] = s[k] += acc[k * rowlen + q];
    }
    for (int k = 0; k < n; k++) {
        double *restrict r = acc + k * rowlen;
        uint8_t *restrict o = out[k] + xoff;
        for (int64_t q = 0; q < m; q++) o[q] = coverage_byte(r[q]);
        if (rezero) memset(r, 0, sizeof(double) * (size_t)rowlen);
        if (xoff + m < w) {
            const uint8_t tail = coverage_byte(s[k]);
            if (tail != 0) memset(out[k] + xoff + m, tail, (size_t)(w - xoff - m));
        }
    }
}

int fk_fill_polygon(fk_image *mask, const double *points, int32_t n_points)
{
    int rc = fk_check_view(mask);
    if (rc != FK_OK) return rc;
    if (mask->channels != 1) return FK_ECHANNELS;
    if (n_points < 0) return FK_EARG;
    if (n_points > 0 && points == NULL) return FK_ENULL;
    for (int64_t i = 0; i < 2 * (int64_t)n_points; i++)
        if (!isfinite(points[i])) return FK_ENONFINITE;

    const int w = mask->width, h = mask->height;
    for (int y = 0; y < h; y++)
        memset(mask->data + (int64_t)y * mask->stride, 0, (size_t)w);
    if (n_points < 3)
        return FK_OK;

    /* Only the rows the polygon spans need an accumulator, and only the columns it spans a cell. */
    double ymin = points[1], ymax = points[1], xmin = points[0], xmax = points[0];
    for (int32_t i = 1; i < n_points; i++) {
        ymin = FK_MIN(ymin, points[2 * i + 1]);
        ymax = FK_MAX(ymax, points[2 * i + 1]);
        xmin = FK_MIN(xmin, points[2 * i]);
        xmax = FK_MAX(xmax, points[2 * i]);
    }
    ymin += 0.5;
    ymax += 0.5;
    if (ymax <= 0.0 || ymin >= (double)h)
        return FK_OK;
    const int band0 = (int)floor(FK_MAX(ymin, 0.0));
    const int band1 = (int)FK_MIN(ceil(ymax), (double)h); /* exclusive */
    if (band1 <= band0)
        return FK_OK;
    /* An edge writes cells floor(x) to ceil(x) + 1 of its (clamped) x; the interpolated x of a row can pass an
       end point by rounding, hence a cell of margin on either side. */
    const int xoff = FK_MAX(0, (int)floor(FK_CLAMP(xmin + 0.5, 0.0, (double)w)) - 1);
    const int xend = FK_MIN(w + 2, (int)ceil(FK_CLAMP(xmax + 0.5, 0.0, (double)w)) + 3);
    const int64_t rowlen = (int64_t)(xend - xoff);
    /* Each strip walks every edge (most only to see they miss it): a polygon of many points gets taller strips,
       about one row per 8 points, so that walking stays small beside filling. */
    const int strip = (int)FK_MIN((int64_t)band1 - band0, FK_MAX((int64_t)FILL_STRIP, ((int64_t)n_points + 7) / 8));
    double *acc = calloc((size_t)(rowlen * strip), sizeof(double)); /* sum_rows leaves it zeroed */
    if (acc == NULL) return FK_ENOMEM;

    /* Row y of the band is mask row band0 + y: shift the polygon up by band0 rows. */
    const double yshift = 0.5 - (double)band0;
    for (int y0 = 0; y0 < band1 - band0; y0 += strip) {
        const int y1 = FK_MIN(y0 + strip, band1 - band0);
        const fk_strip st = {acc, rowlen, xoff, w, y0, y1};
        for (int32_t i = 0; i < n_points; i++) {
            int32_t j = (i + 1) % n_points;
            const double ya = points[2 * i + 1] + yshift, yb = points[2 * j + 1] + yshift;
            /* an edge a row clear of the strip adds nothing to it (the split points accumulate_edge makes lie
               between its ends up to a rounding, hence the row) */
            if (FK_MAX(ya, yb) <= (double)(y0 - 1) || FK_MIN(ya, yb) >= (double)(y1 + 1))
                continue;
            accumulate_edge(&st, points[2 * i] + 0.5, ya, points[2 * j] + 0.5, yb);
        }
        for (int y = y0; y < y1; y += 4) {
            const int n = FK_MIN(4, y1 - y);
            uint8_t *out[4];
            for (int k = 0; k < n; k++) out[k] = mask->data + (int64_t)(band0 + y + k) * mask->stride;
            sum_rows(acc + (int64_t)(y - y0) * rowlen, rowlen, out, n, xoff, w, y1 < band1 - band0);
        }
    }
    free(acc);
    return FK_OK;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Erosion and dilation by a square of side 2 * radius + 1 (Chebyshev radius), edges replicated.
 *
 * Both passes take the running min (max) of shifted copies of whole rows, which the compiler vectorises; at face
 * mask sizes that beats the O(1)-per-pixel van Herk scheme, whose inner loop is serial. Small radii add the 2r + 1
 * shifted rows one by one; larger ones double the window instead (windows of 1, 2, 4, ... rows, then two of the
 * largest overlapping to make 2r + 1), so a pass costs log2(r) rows per row rather than 2r. A window reaching past
 * the image on both sides covers all of it (the edges only repeat), so each pass's radius is first clamped to the
 * image's side less one: the result is the same, and the work is bounded whatever radius is asked for.
 */

#define MORPH_DOUBLING_MIN 4 /* radius from which the doubling passes are used */

static inline void minmax_into(uint8_t *acc, const uint8_t *row, int n, int is_max)
{
    if (is_max) {
        for (int x = 0; x < n; x++) acc[x] = acc[x] > row[x] ? acc[x] : row[x];
    } else {
        for (int x = 0; x < n; x++) acc[x] = acc[x] < row[x] ? acc[x] : row[x];
    }
}

static inline void minmax_of(uint8_t *restrict out, const uint8_t *a, const uint8_t *b, int64_t n, int is_max)
{
    if (is_max) {
        for (int64_t x = 0; x < n; x++) out[x] = a[x] > b[x] ? a[x] : b[x];
    } else {
        for (int64_t x = 0; x < n; x++) out[x] = a[x] < b[x] ? a[x] : b[x];
    }
}

/* out[x] = min (max) of p[x .. x + 2r] for x < n, p holding n + 2r values; a and b hold n + 2r values each. */
static void window_1d(const uint8_t *p, int n, int r, uint8_t *out, uint8_t *a, uint8_t *b, int is_max)
{
    const int64_t k = 2 * (int64_t)r + 1;
    int64_t len = (int64_t)n + 2 * r, s = 1;
    const uint8_t *cur = p;
    while (2 * s <= k) { /* cur[x] covers p[x .. x + s - 1]; make it cover twice that */
        uint8_t *next = cur == a ? b : a;
        minmax_of(next, cur, cur + s, len - s, is_max);
        len -= s;
        s *= 2;
        cur = next;
    }
    minmax_of(out, cur, cur + (k - s), n, is_max);
}

static int morph(const fk_image *src, fk_image *dst, int32_t radius, int is_max)
{
    int rc = fk_check_same_shape(src, dst, 1);
    if (rc != FK_OK) return rc;
    if (src->channels != 1) return FK_ECHANNELS;
    if (radius < 0 || radius > FK_MAX_SIDE) return FK_EARG;
    const int w = src->width, h = src->height;
    const int rx = FK_MIN(radius, w - 1), ry = FK_MIN(radius, h - 1);
    /* tmp holds the vertical pass; pad holds one row with rx replicated pixels on each side; for doubling, a and
       b hold the intermediate windows (of rows, or of one row's pixels). */
    const int64_t rows = (int64_t)h + 2 * ry, cols = (int64_t)w + 2 * rx;
    const int64_t ab = FK_MAX(ry >= MORPH_DOUBLING_MIN ? rows * w : 0, cols);
    fk_scratch scratch = FK_SCRATCH_INIT;
    uint8_t *tmp = fk_scratch_alloc(&scratch, (size_t)w * (size_t)h);
    uint8_t *pad = fk_scratch_alloc(&scratch, (size_t)cols);
    uint8_t *a = fk_scratch_alloc(&scratch, (size_t)ab);
    uint8_t *b = fk_scratch_alloc(&scratch, (size_t)ab);
    if (tmp == NULL || pad == NULL || a == NULL || b == NULL) {
        fk_scratch_free(&scratch);
        return FK_ENOMEM;
    }
    if (ry < MORPH_DOUBLING_MIN) {
        for (int y = 0; y < h; y++) {
            uint8_t *t = tmp + (int64_t)y * w;
            memcpy(t, src->data + (int64_t)y * src->stride, (size_t)w);
            const int ylo = FK_MAX(y - ry, 0), yhi = FK_MIN(y + ry, h - 1);
            for (int yy = ylo; yy <= yhi; yy++)
                if (yy != y) minmax_into(t, src->data + (int64_t)yy * src->stride, w, is_max);
        }
    } else {
        /* Padded row j is source row clamp(j - ry); a's row j first covers padded rows j and j + 1. */
        int64_t len = rows - 1, s = 2;
        const int64_t k = 2 * (int64_t)ry + 1;
        for (int64_t j = 0; j < len; j++) {
            const uint8_t *r0 = src->data + (int64_t)FK_CLAMP(j - ry, 0, h - 1) * src->stride;
            const uint8_t *r1 = src->data + (int64_t)FK_CLAMP(j + 1 - ry, 0, h - 1) * src->stride;
            minmax_of(a + j * w, r0, r1, w, is_max);
        }
        uint8_t *cur = a, *next = b;
        while (2 * s <= k) {
            minmax_of(next, cur, cur + s * w, (len - s) * w, is_max);
            len -= s;
            s *= 2;
            uint8_t *t = cur; cur = next; next = t;
        }
        minmax_of(tmp, cur, cur + (k - s) * w, (int64_t)h * w, is_max);
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *t = tmp + (int64_t)y * w;
        uint8_t *out = dst->data + (int64_t)y * dst->stride;
        memset(pad, t[0], (size_t)rx);
        memcpy(pad + rx, t, (size_t)w);
        memset(pad + rx + w, t[w - 1], (size_t)rx);
        if (rx < MORPH_DOUBLING_MIN) {
            memcpy(out, pad, (size_t)w);
            for (int dx = 1; dx <= 2 * rx; dx++)
                minmax_into(out, pad + dx, w, is_max);
        } else {
            window_1d(pad, w, rx, out, a, b, is_max);
        }
    }
    fk_scratch_free(&scratch);
    return FK_OK;
}

int fk_erode_mask(const fk_image *src, fk_image *dst, int32_t radius)
{
    return morph(src, dst, radius, 0);
}

int fk_dilate_mask(const fk_image *src, fk_image *dst, int32_t radius)
{
    return morph(src, dst, radius, 1);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Feathering: three box blurs approximate a Gaussian of the given sigma (fk_box.c). */

int fk_feather_mask(const fk_image *src, fk_image *dst, double sigma)
{
    int rc = fk_check_same_shape(src, dst, 1);
    if (rc != FK_OK) return rc;
    if (src->channels != 1) return FK_ECHANNELS;
    return fk_gauss3(src, dst->data, dst->stride, sigma);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Alpha compositing: dst[y + i, x + j] = round((src * m + dst * (255 - m)) / 255), per channel. */

int fk_composite(const fk_image *src, const fk_image *mask, fk_image *dst, int32_t x, int32_t y)
{
    int rc = fk_check_paste(src, mask, dst, x, y);
    if (rc != FK_OK) return rc;
    const int ch = src->channels, w = src->width;
    const composite_row_fn row = fk_composite_simd_pick(ch);
    for (int i = 0; i < src->height; i++) {
        const uint8_t *s = src->data + (int64_t)i * src->stride;
        const uint8_t *m = mask->data + (int64_t)i * mask->stride;
        uint8_t *d = dst->data + (int64_t)(y + i) * dst->stride + (int64_t)x * ch;
        if (row != NULL) {
            row(s, m, d, w, ch);
            continue;
        }
        for (int j = 0; j < w; j++) {
            const uint32_t a = m[j], na = 255u - a;
            if (a == 0) continue;
            if (a == 255) {  /* inside a mask: a copy (what the formula gives), without the arithmetic */
                for (int c = 0; c < ch; c++)
                    d[j * ch + c] = s[j * ch + c];
                continue;
            }
            for (int c = 0; c < ch; c++)
                d[j * ch + c] = (uint8_t)fk_div255(s[j * ch + c] * a + d[j * ch + c] * na);
        }
    }
    return FK_OK;
}
