/* Host-side helpers shared by the conformance case files (see host.h). */
#include "host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A view whose stride of dim d is (stride of d+1) * extent of d+1 plus pad[d] elements. */
hview hv_make(uint64_t off, size_t es, int rank, const int64_t *shape, const int64_t *pad)
{
    hview v;
    memset(&v, 0, sizeof v);
    v.off = off;
    v.rank = rank;
    v.es = es;
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        v.shape[d] = shape[d];
        v.strides[d] = s;
        s = s * shape[d] + (d > 0 && pad ? pad[d - 1] : 0);
    }
    return v;
}

int64_t hv_numel(const hview *v)
{
    int64_t n = 1;
    for (int d = 0; d < v->rank; d++)
        n *= v->shape[d];
    return n;
}

/* Byte offset of the element with row-major linear index lin. */
uint64_t hv_at(const hview *v, int64_t lin)
{
    int64_t e = 0;
    for (int d = v->rank - 1; d >= 0; d--) {
        e += (lin % v->shape[d]) * v->strides[d];
        lin /= v->shape[d];
    }
    return v->off + (uint64_t)e * v->es;
}

/* Bytes a buffer needs for the view plus a guard band after it. */
uint64_t hv_capacity(const hview *v)
{
    uint64_t end = v->off;
    if (hv_numel(v) > 0)
        end = hv_at(v, hv_numel(v) - 1) + v->es;
    return end + GUARD;
}

void hv_pack(uint8_t *img, const hview *v, const void *packed)
{
    for (int64_t i = 0; i < hv_numel(v); i++)
        memcpy(img + hv_at(v, i), (const uint8_t *)packed + i * v->es, v->es);
}

/* Bytes of img outside the view that no longer hold `fill`. */
int64_t hv_pad_changed(const uint8_t *img, uint64_t size, const hview *v, uint8_t fill)
{
    uint8_t *mask = calloc(size ? size : 1, 1);
    if (!mask)
        return -1;
    for (int64_t i = 0; i < hv_numel(v); i++)
        memset(mask + hv_at(v, i), 1, v->es);
    int64_t n = 0;
    for (uint64_t b = 0; b < size; b++)
        n += !mask[b] && img[b] != fill;
    free(mask);
    return n;
}

dsa_tensor hv_tensor(dsa_buffer *b, const hview *v, dsa_dtype dt)
{
    return dsa_tensor_make(b, v->off, dt, v->rank, v->shape, v->strides);
}

/* fp8 e4m3 (E4M3FN) bits of x: clamp to +-448, round to nearest even, sign kept for zero. */
uint8_t enc_fp8(double x)
{
    uint8_t sign = signbit(x) ? 0x80 : 0;
    if (isnan(x))
        return sign | 0x7F;
    double a = fabs(x) > 448.0 ? 448.0 : fabs(x);
    if (a == 0.0)
        return sign;
    int e;
    frexp(a, &e);
    int E = e - 1 < -6 ? -6 : e - 1;             /* subnormals share the step of E = -6 */
    double m = nearbyint(ldexp(a, 3 - E));       /* mantissa in units of 2^(E-3), RNE */
    if (m >= 16.0) {                             /* rounded up into the next binade */
        m /= 2.0;
        E++;
    }
    if (m < 8.0)                                 /* subnormal (only reachable for E = -6) */
        return sign | (uint8_t)m;
    return sign | (uint8_t)(((E + 7) << 3) | ((int)m - 8));
}

/* The smallest power of two s with amax <= 448 * s (amax at least 1e-4), exactly. */
double pow2_scale(double amax)
{
    if (!(amax >= 1e-4))
        amax = 1e-4;
    int e;
    frexp(amax / 448.0, &e);
    int k = e;
    while (ldexp(448.0, k - 1) >= amax)
        k--;
    while (ldexp(448.0, k) < amax)
        k++;
    return ldexp(1.0, k);
}

/* Quantizes n (<= 128) values as one group: codes out, returns the scale. */
double quant_group(const double *x, int n, uint8_t *codes)
{
    double amax = 0.0;
    for (int i = 0; i < n; i++)
        amax = fabs(x[i]) > amax ? fabs(x[i]) : amax;
    double s = pow2_scale(amax);
    for (int i = 0; i < n; i++)
        codes[i] = enc_fp8(x[i] / s);
    return s;
}

void *bag_alloc(bag *g, size_t bytes)
{
    void *p = g->nh < 32 ? calloc(bytes ? bytes : 1, 1) : NULL;
    if (!p) {
        g->oom = 1;
        return NULL;
    }
    g->host[g->nh++] = p;
    return p;
}

void bag_free(bag *g)
{
    for (int i = 0; i < g->nd; i++)
        dsa_buffer_free(g->dev[i]);
    for (int i = 0; i < g->nh; i++)
        free(g->host[i]);
}

/* Reports a failed library call: unsupported is its own outcome, everything else an error. */
void case_report(conf_result *r, dsa_status st, const char *what)
{
    if (st == DSA_ERROR_UNSUPPORTED)
        conf_unsupported(r, dsa_last_error());
    else
        conf_error(r, st, what);
}

/* Uploads a host image as a new device buffer recorded in the bag. */
dsa_buffer *bag_upload(bag *g, dsa_context *ctx, const void *img, uint64_t bytes,
                              conf_result *r, const char *what)
{
    dsa_buffer *b = NULL;
    dsa_status st = g->nd < 16 ? conf_upload(ctx, img, bytes, bytes, 0, &b) : DSA_ERROR_INTERNAL;
    if (st != DSA_SUCCESS) {
        case_report(r, st, what);
        return NULL;
    }
    g->dev[g->nd++] = b;
    return b;
}

/* Builds the image of a strided input: padding bytes get `fill` (a NaN pattern for the dtype, so a
 * kernel that reads padding gets NaN). Returns the device buffer. */
dsa_buffer *upload_view(bag *g, dsa_context *ctx, const hview *v, const void *packed,
                               const void *fill_elem, conf_result *r, const char *what)
{
    uint64_t cap = hv_capacity(v);
    uint8_t *img = bag_alloc(g, cap);
    if (!img)
        return NULL;
    for (uint64_t b = 0; b + v->es <= cap; b += v->es)
        memcpy(img + b, fill_elem, v->es);
    hv_pack(img, v, packed);
    return bag_upload(g, ctx, img, cap, r, what);
}

int64_t bytes_differ(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    int64_t d = 0;
    for (uint64_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}
