/* Conformance cases for the cache writers and readers and FP8 group quantization (docs/ops.md
 * section 5). The bar is bit-exact: every output buffer is read back whole and compared with the
 * expected image (the oracle's values inside the view, the prefill everywhere else), so a kernel
 * that writes a skipped slot, a padding byte or past a view fails. NaN compares by class where the
 * contract fixes only "NaN stays NaN" (fp32/bf16 values); fp8 NaN codes are exact (0x7F | sign).
 * Inputs exercise the quantizer's edges: tiny groups (amax < 1e-4), huge values, amax exactly at
 * and next to 448 * 2^e, NaN and infinities, negatives rounding to zero, ties between codes. */
#include "conformance.h"
#include "oracle_select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CO_KV_WRITE, CO_INDEX_WRITE, CO_KV_READ, CO_INDEX_READ, CO_QUANTIZE, CO_DEQUANTIZE };
enum { CV_NORMAL = 0, CV_EDGE = 1 };

typedef struct cache_params {
    int32_t op;     /* CO_* */
    int32_t dtype;  /* dsa_dtype of rows (writers), out (readers, dequantize) or x (quantize) */
    int32_t N, P, num_pages;
    int32_t token_pad, page_pad; /* cache bytes beyond 656 per token (KV only) / P*token per page */
    int32_t row_pad;             /* elements beyond each innermost row, on every tensor with rows */
    int32_t values;              /* CV_* */
    int32_t rank, dims[4];       /* quantize/dequantize: shape, dims[rank-1] = 128 * g */
    int32_t rerun;
    int32_t dup_slots;           /* writers: several rows name the same slot (make_dup_slots) */
} cache_params;

#define OUT_FILL 0xCD /* the prefill of output buffers: no fp32/bf16 NaN, no value the op writes */

/* ---- values in a dtype ---- */

static size_t dsize(int dtype) { return dtype == DSA_FP32 ? 4 : dtype == DSA_UINT8 || dtype == DSA_FP8_E4M3 ? 1 : 2; }

static uint32_t encode(int dtype, double v)
{
    if (dtype == DSA_BF16) return oracle_bf16_encode(v);
    if (dtype == DSA_FP16) return oracle_fp16_encode(v);
    return oracle_f32_encode(v);
}

static double decode(int dtype, uint32_t bits)
{
    if (dtype == DSA_BF16) return oracle_bf16_decode((uint16_t)bits);
    if (dtype == DSA_FP16) return oracle_fp16_decode((uint16_t)bits);
    return oracle_f32_decode(bits);
}

static double round_to(int dtype, double v) { return decode(dtype, encode(dtype, v)); }
/* The neighbour of a positive finite value one code up (+1) or down (-1) in the dtype. */
static double step(int dtype, double v, int dir) { return decode(dtype, encode(dtype, v) + (uint32_t)dir); }

static void store(int dtype, double v, uint8_t *dst)
{
    uint32_t b = encode(dtype, v);
    for (size_t i = 0; i < dsize(dtype); i++) dst[i] = (uint8_t)(b >> (8 * i));
}

static double rsign(conf_rng *g) { return (conf_rng_u64(g) & 1) ? -1.0 : 1.0; }

/* ---- group generators: each fills x[0..128) with values representable in the dtype ---- */

static void gen_scaled(conf_rng *g, int dtype, double *x, int lo_e, int hi_e)
{
    int e = (int)conf_rng_int(g, lo_e, hi_e);
    for (int t = 0; t < 128; t++) x[t] = round_to(dtype, ldexp(conf_rng_normal(g), e));
}

/* amax below 1e-4 (so the scale is the floor 2^-22), sometimes a group of signed zeros. */
static void gen_tiny(conf_rng *g, int dtype, double *x)
{
    if (conf_rng_u64(g) & 1) {
        for (int t = 0; t < 128; t++) x[t] = rsign(g) * 0.0;
        return;
    }
    gen_scaled(g, dtype, x, dtype == DSA_FP16 ? -22 : -30, -17);
}

static void gen_huge(conf_rng *g, int dtype, double *x)
{
    if (dtype == DSA_FP16) {
        for (int t = 0; t < 128; t++) x[t] = round_to(dtype, rsign(g) * (1000.0 + 64504.0 * conf_rng_uniform(g)));
        return;
    }
    gen_scaled(g, dtype, x, 100, 125);
    x[conf_rng_int(g, 0, 127)] = rsign(g) * decode(dtype, dtype == DSA_BF16 ? 0x7f7f : 0x7f7fffff); /* max */
}

/* amax exactly 448 * 2^e (scale 2^e), or one code above (2^(e+1)) or below (2^e). */
static void gen_boundary(conf_rng *g, int dtype, double *x)
{
    int e = (int)conf_rng_int(g, -10, dtype == DSA_FP16 ? 6 : 20);
    double base = ldexp(448.0, e), amax = base;
    int which = (int)conf_rng_int(g, 0, 2);
    if (which == 1) amax = step(dtype, base, 1);
    if (which == 2) amax = step(dtype, base, -1);
    for (int t = 0; t < 128; t++) x[t] = round_to(dtype, (2 * conf_rng_uniform(g) - 1) * 0.9 * base);
    x[conf_rng_int(g, 0, 127)] = rsign(g) * amax;
}

/* Scale 2^e fixed by one value at 448 * 2^e; the rest exact midpoints between adjacent codes
 * (ties, to be rounded to the even mantissa) or exact codes. */
static void gen_ties(conf_rng *g, int dtype, double *x)
{
    int e = (int)conf_rng_int(g, -8, 6);
    for (int t = 0; t < 128; t++) {
        int c = (int)conf_rng_int(g, 0, 0x7d);
        double a = oracle_fp8_decode((uint8_t)c), b = oracle_fp8_decode((uint8_t)(c + 1));
        double v = (t % 4 == 3) ? a : 0.5 * (a + b);
        x[t] = round_to(dtype, rsign(g) * ldexp(v, e));
    }
    x[conf_rng_int(g, 0, 127)] = rsign(g) * ldexp(448.0, e);
}

/* Scale 2^e; negatives that round to zero (-> 0x80), the tie at half the smallest subnormal
 * (-> zero, even), and just above it (-> the smallest subnormal). */
static void gen_negzero(conf_rng *g, int dtype, double *x)
{
    static const double frac[] = {-0x1p-11, -0x1p-10, -0x1.8p-10, -0x1p-20, 0x1p-11, -0x1p-30, 0x1p-10, -0.0};
    int e = (int)conf_rng_int(g, -4, 6);
    for (int t = 0; t < 128; t++) x[t] = round_to(dtype, ldexp(frac[t % 8], e));
    x[conf_rng_int(g, 0, 127)] = ldexp(448.0, e);
}

/* NaN and infinities among ordinary values (they take no part in amax), or a group of only them. */
static void gen_special(conf_rng *g, int dtype, double *x, int only)
{
    if (!only) gen_scaled(g, dtype, x, -3, 3);
    for (int t = 0; t < 128; t++) {
        if (!only && conf_rng_uniform(g) > 0.1) continue;
        int k = (int)conf_rng_int(g, 0, 2);
        x[t] = k == 0 ? copysign(NAN, rsign(g)) : k == 1 ? INFINITY : -INFINITY;
    }
}

/* One group of 128: the kind cycles with `kind` in edge mode. */
static void gen_group(conf_rng *g, int dtype, int values, int kind, double *x)
{
    if (values == CV_NORMAL) {
        gen_scaled(g, dtype, x, dtype == DSA_FP16 ? -6 : -12, dtype == DSA_FP16 ? 6 : 12);
        return;
    }
    switch (kind % 8) {
    case 0: gen_scaled(g, dtype, x, -12, 8); break;
    case 1: gen_tiny(g, dtype, x); break;
    case 2: gen_huge(g, dtype, x); break;
    case 3: gen_boundary(g, dtype, x); break;
    case 4: gen_ties(g, dtype, x); break;
    case 5: gen_negzero(g, dtype, x); break;
    case 6: gen_special(g, dtype, x, 0); break;
    default: gen_special(g, dtype, x, 1); break;
    }
}

/* The 64 rope values of a KV row: ordinary values and, in edge mode, bf16 ties from fp32, NaN,
 * infinities and fp32 values that round to bf16 infinity. */
static void gen_rope(conf_rng *g, int dtype, int values, double *x)
{
    for (int t = 0; t < 64; t++) {
        double v = ldexp(conf_rng_normal(g), (int)conf_rng_int(g, -8, 8));
        if (values == CV_EDGE) {
            switch (t % 8) {
            case 1: v = rsign(g) * (1.0 + ldexp(2 * conf_rng_int(g, 0, 63) + 1, -8)); break; /* tie */
            case 3: v = copysign(NAN, rsign(g)); break;
            case 5: v = rsign(g) * INFINITY; break;
            case 7: v = rsign(g) * 0x1.fffffep127; break; /* fp32 max: bf16 rounds it to inf */
            default: break;
            }
        }
        x[t] = round_to(dtype, v);
    }
}

/* ---- geometry ---- */

static int64_t kv_token_stride(const cache_params *p) { return 656 + p->token_pad; }
static int64_t page_stride(const cache_params *p)
{
    int64_t ts = p->op == CO_KV_WRITE || p->op == CO_KV_READ ? kv_token_stride(p) : 132;
    return p->P * ts + p->page_pad;
}
static int is_kv(const cache_params *p) { return p->op == CO_KV_WRITE || p->op == CO_KV_READ; }
static int64_t row_len(const cache_params *p) { return is_kv(p) ? 576 : 128; }
static int64_t cache_bytes(const cache_params *p) { return (int64_t)p->num_pages * page_stride(p); }

/* Byte offsets of a slot's parts in the cache: values (fp8), scale(s), rope (KV only). */
static int64_t slot_values(const cache_params *p, int64_t s)
{
    int64_t base = (s / p->P) * page_stride(p);
    return is_kv(p) ? base + (s % p->P) * kv_token_stride(p) : base + (s % p->P) * 128;
}
static int64_t slot_scale(const cache_params *p, int64_t s)
{
    int64_t base = (s / p->P) * page_stride(p);
    return is_kv(p) ? slot_values(p, s) + 512 : base + (int64_t)p->P * 128 + (s % p->P) * 4;
}

/* Slots: mostly distinct valid ones in random order; every fifth an invalid sentinel. */
static void make_slots(conf_rng *g, const cache_params *p, int32_t *slots)
{
    int64_t total = (int64_t)p->num_pages * p->P, used = 0;
    int32_t *perm = malloc((size_t)(total + 1) * 4);
    if (!perm) return;
    for (int64_t s = 0; s < total; s++) perm[s] = (int32_t)s;
    const int32_t bad[] = {-1, INT32_MIN, (int32_t)total, INT32_MAX, -2, (int32_t)total + 5};
    int64_t first_bad = conf_rng_int(g, 0, 5); /* small cases see different sentinels */
    for (int64_t r = 0; r < p->N; r++) {
        if (r % 5 == 4 || used == total) {
            slots[r] = bad[(first_bad + r / 5) % 6];
            continue;
        }
        int64_t pick = conf_rng_int(g, used, total - 1); /* partial Fisher-Yates: distinct slots */
        int32_t tmp = perm[used];
        perm[used] = perm[pick];
        perm[pick] = tmp;
        slots[r] = perm[used++];
    }
    free(perm);
}

static int slot_valid(const cache_params *p, int32_t s) { return s >= 0 && (int64_t)s < (int64_t)p->num_pages * p->P; }

/* Slots where several rows of the call name the same slot: three "hot" slots (the first and last
 * of the cache among them, when it has room) take most rows, in random order, so each is named
 * several times, with distinct slots and invalid sentinels in between. */
static void make_dup_slots(conf_rng *g, const cache_params *p, int32_t *slots)
{
    int64_t total = (int64_t)p->num_pages * p->P;
    int32_t hot[3] = {0, (int32_t)(total - 1), (int32_t)conf_rng_int(g, 0, total - 1)};
    const int32_t bad[] = {-1, (int32_t)total, INT32_MIN, INT32_MAX};
    for (int64_t r = 0; r < p->N; r++) {
        int64_t k = conf_rng_int(g, 0, 5);
        if (r % 7 == 6) slots[r] = bad[(r / 7) % 4];
        else if (k < 3 || r < 6) slots[r] = hot[k % 3];
        else slots[r] = (int32_t)conf_rng_int(g, 0, total - 1); /* may repeat a hot slot too */
    }
}

/* ---- the host image of a case: inputs, and for each output its initial and expected bytes ---- */

typedef struct image {
    uint8_t *init, *expect, *mask; /* mask[i]: 0 byte exact, 2/4: a bf16/fp32 element compared
                                      with NaN-class equality starts here */
    uint64_t bytes;
} image;

typedef struct cache_host {
    uint8_t *in[2];
    uint64_t in_bytes[2];
    image out[2];
    int n_out;
    int64_t xstr[4], sstr[4], ostr[4]; /* quantize/dequantize: strides of the input, the scales, the output */
} cache_host;

static int image_alloc(image *im, uint64_t bytes)
{
    im->bytes = bytes;
    im->init = malloc(bytes + 1);
    im->expect = malloc(bytes + 1);
    im->mask = calloc(bytes + 1, 1);
    return im->init && im->expect && im->mask;
}

/* An output prefilled with OUT_FILL whose elements of `dtype` compare NaN by class. */
static int image_filled(image *im, uint64_t bytes, int dtype)
{
    if (!image_alloc(im, bytes)) return 0;
    memset(im->init, OUT_FILL, bytes);
    memset(im->expect, OUT_FILL, bytes);
    if (dtype == DSA_FP32 || dtype == DSA_BF16)
        for (uint64_t i = 0; i + dsize(dtype) <= bytes; i += dsize(dtype)) im->mask[i] = (uint8_t)dsize(dtype);
    return 1;
}

static void free_host(cache_host *h)
{
    for (int i = 0; i < 2; i++) {
        free(h->in[i]);
        free(h->out[i].init);
        free(h->out[i].expect);
        free(h->out[i].mask);
    }
}

static void put_elem(int dtype, uint32_t bits, uint8_t *dst)
{
    for (size_t i = 0; i < dsize(dtype); i++) dst[i] = (uint8_t)(bits >> (8 * i));
}

/* ---- writers ---- */

/* Packs one row (double values, and for bf16 rows the rope bits as given) into the expected cache. */
static void expect_write(const cache_params *p, const double *row, const uint8_t *raw, int32_t s, image *im)
{
    if (is_kv(p)) {
        uint8_t tok[ORACLE_KV_BYTES];
        uint16_t rope[64];
        for (int t = 0; t < 64; t++) rope[t] = (uint16_t)(raw[2 * (512 + t)] | raw[2 * (512 + t) + 1] << 8);
        if (p->dtype == DSA_BF16) oracle_kv_pack_bf16rope(row, rope, tok);
        else oracle_kv_pack(row, tok);
        memcpy(im->expect + slot_values(p, s), tok, ORACLE_KV_BYTES);
        if (p->dtype == DSA_FP32) /* fp32 -> bf16 of a NaN: any NaN will do */
            for (int t = 0; t < 64; t++) im->mask[slot_values(p, s) + 528 + 2 * t] = 2;
        return;
    }
    uint8_t vals[128];
    uint32_t sb;
    oracle_index_pack(row, vals, &sb);
    memcpy(im->expect + slot_values(p, s), vals, 128);
    oracle_put_le32(im->expect + slot_scale(p, s), sb);
}

/* The expected cache after a call whose slots repeat: the rows packed by the oracle and stored in
 * row order, so that each slot ends up holding its last (highest-index) row, as docs/ops.md says
 * a sequential loop leaves it. rows holds the N rows' values (D per row), raw their input bytes. */
static void expect_write_sequential(const cache_params *p, const double *rows, const uint8_t *raw, int64_t raw_stride,
                                    const int32_t *slots, image *im)
{
    int64_t D = row_len(p);
    for (int64_t r = 0; r < p->N; r++) {
        if (!slot_valid(p, slots[r])) continue;
        uint8_t *dst = im->expect + slot_values(p, slots[r]);
        if (is_kv(p)) {
            uint8_t tok[ORACLE_KV_BYTES];
            uint16_t rope[64];
            const uint8_t *rr = raw + r * raw_stride;
            for (int t = 0; t < 64; t++) rope[t] = (uint16_t)(rr[2 * (512 + t)] | rr[2 * (512 + t) + 1] << 8);
            if (p->dtype == DSA_BF16) oracle_kv_pack_bf16rope(rows + r * D, rope, tok);
            else oracle_kv_pack(rows + r * D, tok);
            memcpy(dst, tok, ORACLE_KV_BYTES);
            if (p->dtype == DSA_FP32) /* fp32 -> bf16 of a NaN: any NaN will do, else bit-exact */
                for (int t = 0; t < 64; t++) im->mask[slot_values(p, slots[r]) + 528 + 2 * t] = 2;
        } else {
            uint8_t vals[128];
            uint32_t sb;
            oracle_index_pack(rows + r * D, vals, &sb);
            memcpy(dst, vals, 128);
            oracle_put_le32(im->expect + slot_scale(p, slots[r]), sb);
        }
    }
}

static int prep_write(conf_rng *g, const cache_params *p, cache_host *h)
{
    int64_t D = row_len(p), rs = D + p->row_pad, es = (int64_t)dsize(p->dtype);
    h->in_bytes[0] = (uint64_t)(p->N * rs * es);
    h->in_bytes[1] = (uint64_t)p->N * 4;
    h->in[0] = calloc(h->in_bytes[0] + 1, 1);
    h->in[1] = malloc(h->in_bytes[1] + 4);
    double *row = malloc((size_t)D * sizeof *row);
    h->n_out = 1;
    int ok = h->in[0] && h->in[1] && row && image_alloc(&h->out[0], (uint64_t)cache_bytes(p));
    if (!ok) {
        free(row);
        return 0;
    }
    for (uint64_t i = 0; i < h->out[0].bytes; i++) h->out[0].init[i] = (uint8_t)conf_rng_u64(g);
    memcpy(h->out[0].expect, h->out[0].init, h->out[0].bytes);
    int32_t *slots = (int32_t *)h->in[1];
    if (p->dup_slots) {
        double *all = malloc((size_t)(p->N * D) * sizeof *all);
        if (!all) {
            free(row);
            return 0;
        }
        make_dup_slots(g, p, slots);
        for (int64_t r = 0; r < p->N; r++) {
            for (int64_t gi = 0; gi < D / 128 && gi < 4; gi++) gen_group(g, p->dtype, p->values, (int)(r * 4 + gi), all + r * D + 128 * gi);
            if (is_kv(p)) gen_rope(g, p->dtype, p->values, all + r * D + 512);
            for (int64_t t = 0; t < D; t++) store(p->dtype, all[r * D + t], h->in[0] + (r * rs + t) * es);
        }
        expect_write_sequential(p, all, h->in[0], rs * es, slots, &h->out[0]);
        free(all);
        free(row);
        return 1;
    }
    make_slots(g, p, slots);
    for (int64_t r = 0; r < p->N; r++) {
        for (int64_t gi = 0; gi < D / 128 && gi < 4; gi++) gen_group(g, p->dtype, p->values, (int)(r * 4 + gi), row + 128 * gi);
        if (is_kv(p)) gen_rope(g, p->dtype, p->values, row + 512);
        uint8_t *raw = h->in[0] + r * rs * es;
        for (int64_t t = 0; t < D; t++) store(p->dtype, row[t], raw + t * es);
        if (slot_valid(p, slots[r])) expect_write(p, row, raw, slots[r], &h->out[0]);
    }
    free(row);
    return 1;
}

/* ---- readers ---- */

/* A cache whose every token is well formed: random fp8 bytes (NaN codes included), scales as the
 * output dtype allows (see below), random bf16 rope bits; padding random. */
static float read_scale(conf_rng *g, const cache_params *p, int64_t n)
{
    /* bf16 output: powers of two in [2^-140, 2^127], so fp8 * scale is exact in fp32 and the one
     * rounding to bf16 is unambiguous; fp32 output: any finite fp32 too (the product is rounded
     * once either way). */
    if (p->dtype == DSA_BF16 || n % 3 != 2) return (float)ldexp(1.0, (int)conf_rng_int(g, -140, 127));
    return (float)(conf_rng_normal(g) * ldexp(1.0, (int)conf_rng_int(g, -60, 60)));
}

static void make_read_cache(conf_rng *g, const cache_params *p, uint8_t *cache)
{
    int64_t bytes = cache_bytes(p), total = (int64_t)p->num_pages * p->P;
    for (int64_t i = 0; i < bytes; i++) cache[i] = (uint8_t)conf_rng_u64(g);
    for (int64_t s = 0; s < total; s++) {
        int ng = is_kv(p) ? 4 : 1;
        for (int gi = 0; gi < ng; gi++)
            oracle_put_le32(cache + slot_scale(p, s) + 4 * gi, oracle_f32_encode(read_scale(g, p, s * 4 + gi)));
    }
}

/* The expected out row of slot s (row stride rs elements). */
static void expect_read_row(const cache_params *p, const uint8_t *cache, int32_t s, uint8_t *dst)
{
    int64_t D = row_len(p), es = (int64_t)dsize(p->dtype);
    const uint8_t *v = cache + slot_values(p, s);
    for (int64_t t = 0; t < D; t++) {
        uint32_t bits;
        if (t < 512 && (is_kv(p) || t < 128)) {
            double sc = oracle_f32_decode(oracle_le32(cache + slot_scale(p, s) + 4 * (t / 128)));
            bits = p->dtype == DSA_BF16 ? oracle_dequant_bf16(v[t], sc) : oracle_dequant_f32(v[t], sc);
        } else { /* rope, as stored */
            uint16_t h = (uint16_t)(v[528 + 2 * (t - 512)] | v[529 + 2 * (t - 512)] << 8);
            bits = p->dtype == DSA_BF16 ? h : oracle_f32_encode(oracle_bf16_decode(h));
        }
        put_elem(p->dtype, bits, dst + t * es);
    }
}

static int prep_read(conf_rng *g, const cache_params *p, cache_host *h)
{
    int64_t D = row_len(p), rs = D + p->row_pad, es = (int64_t)dsize(p->dtype);
    h->in_bytes[0] = (uint64_t)cache_bytes(p);
    h->in_bytes[1] = (uint64_t)p->N * 4;
    h->in[0] = malloc(h->in_bytes[0] + 1);
    h->in[1] = malloc(h->in_bytes[1] + 4);
    h->n_out = 1;
    if (!h->in[0] || !h->in[1] || !image_filled(&h->out[0], (uint64_t)(p->N * rs * es + 64), p->dtype)) return 0;
    make_read_cache(g, p, h->in[0]);
    int32_t *slots = (int32_t *)h->in[1];
    make_slots(g, p, slots);
    for (int64_t r = 0; r < p->N; r++)
        if (slot_valid(p, slots[r])) expect_read_row(p, h->in[0], slots[r], h->out[0].expect + r * rs * es);
    return 1;
}

/* ---- quantize / dequantize: [..., 128g] tensors with padded strides ---- */

static int64_t n_rows(const cache_params *p)
{
    int64_t n = 1;
    for (int d = 0; d < p->rank - 1; d++) n *= p->dims[d];
    return n;
}

/* Strides for shape with the innermost row padded by pad and each outer dim by one more element. */
static int64_t make_strides(const cache_params *p, int64_t inner, int64_t pad, int64_t *str)
{
    str[p->rank - 1] = 1;
    int64_t extent = inner + pad;
    for (int d = p->rank - 2; d >= 0; d--) {
        str[d] = extent;
        extent = str[d] * p->dims[d] + (pad ? 1 : 0);
    }
    return p->rank == 1 ? inner + pad : extent; /* elements spanned, padding included */
}

/* Element offset of logical row r (rows = every index of the outer dims, row-major). */
static int64_t row_offset(const cache_params *p, const int64_t *str, int64_t r)
{
    int64_t off = 0;
    for (int d = p->rank - 2; d >= 0; d--) {
        off += (r % p->dims[d]) * str[d];
        r /= p->dims[d];
    }
    return off;
}

static int prep_quantize(conf_rng *g, const cache_params *p, cache_host *h)
{
    int64_t C = p->dims[p->rank - 1], G = C / 128, es = (int64_t)dsize(p->dtype), qstr[4];
    int64_t xn = make_strides(p, C, p->row_pad, h->xstr), qn = make_strides(p, C, p->row_pad + 3, qstr);
    int64_t sn = make_strides(p, G, p->row_pad ? 2 : 0, h->sstr);
    memcpy(h->ostr, qstr, sizeof qstr);
    h->in_bytes[0] = (uint64_t)(xn * es);
    h->in[0] = calloc(h->in_bytes[0] + 1, 1);
    h->n_out = 2;
    double *x = malloc(128 * sizeof *x);
    int ok = h->in[0] && x && image_filled(&h->out[0], (uint64_t)qn + 16, DSA_UINT8) &&
             image_filled(&h->out[1], (uint64_t)(sn * 4 + 16), DSA_UINT8);
    for (int64_t r = 0; ok && r < n_rows(p); r++) {
        for (int64_t gi = 0; gi < G; gi++) {
            gen_group(g, p->dtype, p->values, (int)(r * G + gi), x);
            uint8_t q[128];
            double s;
            oracle_quantize_group(x, 128, q, &s);
            for (int t = 0; t < 128; t++) store(p->dtype, x[t], h->in[0] + (row_offset(p, h->xstr, r) + gi * 128 + t) * es);
            memcpy(h->out[0].expect + row_offset(p, qstr, r) + gi * 128, q, 128);
            put_elem(DSA_FP32, oracle_f32_encode(s), h->out[1].expect + (row_offset(p, h->sstr, r) + gi) * 4);
        }
    }
    free(x);
    return ok;
}

/* Scales for dequantize: as for the readers (any finite fp32 only with fp32 output). */
static int prep_dequantize(conf_rng *g, const cache_params *p, cache_host *h)
{
    int64_t C = p->dims[p->rank - 1], G = C / 128, es = (int64_t)dsize(p->dtype), ostr[4];
    int64_t qn = make_strides(p, C, p->row_pad, h->xstr), sn = make_strides(p, G, p->row_pad ? 1 : 0, h->sstr);
    int64_t on = make_strides(p, C, p->row_pad + 2, ostr);
    memcpy(h->ostr, ostr, sizeof ostr);
    h->in_bytes[0] = (uint64_t)qn;
    h->in_bytes[1] = (uint64_t)sn * 4;
    h->in[0] = malloc(h->in_bytes[0] + 1);
    h->in[1] = calloc(h->in_bytes[1] + 4, 1);
    h->n_out = 1;
    if (!h->in[0] || !h->in[1] || !image_filled(&h->out[0], (uint64_t)(on * es + 16), p->dtype)) return 0;
    for (uint64_t i = 0; i < h->in_bytes[0]; i++) h->in[0][i] = (uint8_t)conf_rng_u64(g);
    for (int64_t r = 0; r < n_rows(p); r++) {
        for (int64_t gi = 0; gi < G; gi++) {
            float sc = read_scale(g, p, r * G + gi);
            oracle_put_le32(h->in[1] + (row_offset(p, h->sstr, r) + gi) * 4, oracle_f32_encode(sc));
            for (int64_t t = 0; t < 128; t++) {
                int64_t e = gi * 128 + t;
                uint8_t q = h->in[0][row_offset(p, h->xstr, r) + e];
                uint32_t bits = p->dtype == DSA_BF16 ? oracle_dequant_bf16(q, sc) : oracle_dequant_f32(q, sc);
                put_elem(p->dtype, bits, h->out[0].expect + (row_offset(p, ostr, r) + e) * es);
            }
        }
    }
    return 1;
}

/* ---- device side ---- */

typedef struct cache_bufs {
    dsa_buffer *in[2], *out[2];
} cache_bufs;

static void free_bufs(cache_bufs *b)
{
    for (int i = 0; i < 2; i++) {
        dsa_buffer_free(b->in[i]);
        dsa_buffer_free(b->out[i]);
    }
}

static dsa_tensor t2(dsa_buffer *b, dsa_dtype dt, int64_t n0, int64_t n1, int64_t s0)
{
    int64_t shape[2] = {n0, n1}, str[2] = {s0, 1};
    return dsa_tensor_make(b, 0, dt, 2, shape, str);
}

static dsa_tensor cache_tensor(const cache_params *p, dsa_buffer *b)
{
    int64_t shape[3] = {p->num_pages, p->P, is_kv(p) ? 656 : 132};
    int64_t str[3] = {page_stride(p), is_kv(p) ? kv_token_stride(p) : 132, 1};
    return dsa_tensor_make(b, 0, DSA_UINT8, 3, shape, str);
}

static dsa_tensor nd(const cache_params *p, dsa_buffer *b, dsa_dtype dt, int64_t inner, const int64_t *str)
{
    int64_t shape[4];
    for (int d = 0; d < p->rank; d++) shape[d] = p->dims[d];
    shape[p->rank - 1] = inner;
    return dsa_tensor_make(b, 0, dt, p->rank, shape, str);
}

/* Builds the op's arguments over the case's buffers and runs it. */
static dsa_status call_op(dsa_context *ctx, const cache_params *p, const cache_host *h, const cache_bufs *b)
{
    int64_t D = row_len(p), C = p->dims[p->rank > 0 ? p->rank - 1 : 0];
    int64_t nshape[1] = {p->N};
    dsa_tensor slots = dsa_tensor_make(p->op <= CO_INDEX_READ ? b->in[1] : NULL, 0, DSA_INT32, 1, nshape, NULL);
    switch (p->op) {
    case CO_KV_WRITE:
    case CO_INDEX_WRITE: {
        dsa_cache_write_args a = {t2(b->in[0], (dsa_dtype)p->dtype, p->N, D, D + p->row_pad), slots,
                                  cache_tensor(p, b->out[0])};
        return p->op == CO_KV_WRITE ? dsa_kv_cache_write(ctx, &a, NULL) : dsa_index_cache_write(ctx, &a, NULL);
    }
    case CO_KV_READ:
    case CO_INDEX_READ: {
        dsa_cache_read_args a = {cache_tensor(p, b->in[0]), slots,
                                 t2(b->out[0], (dsa_dtype)p->dtype, p->N, D, D + p->row_pad)};
        return p->op == CO_KV_READ ? dsa_kv_cache_read(ctx, &a, NULL) : dsa_index_cache_read(ctx, &a, NULL);
    }
    case CO_QUANTIZE: {
        dsa_quantize_args a = {nd(p, b->in[0], (dsa_dtype)p->dtype, C, h->xstr),
                               nd(p, b->out[0], DSA_FP8_E4M3, C, h->ostr),
                               nd(p, b->out[1], DSA_FP32, C / 128, h->sstr)};
        return dsa_quantize_fp8(ctx, &a, NULL);
    }
    default: {
        dsa_dequantize_args a = {nd(p, b->in[0], DSA_FP8_E4M3, C, h->xstr), nd(p, b->in[1], DSA_FP32, C / 128, h->sstr),
                                 nd(p, b->out[0], (dsa_dtype)p->dtype, C, h->ostr)};
        return dsa_dequantize_fp8(ctx, &a, NULL);
    }
    }
}

static dsa_status upload_all(dsa_context *ctx, const cache_host *h, cache_bufs *b)
{
    dsa_status st = DSA_SUCCESS;
    for (int i = 0; i < 2 && !st; i++)
        if (h->in[i]) st = conf_upload(ctx, h->in[i], h->in_bytes[i], h->in_bytes[i] + 16, 0, &b->in[i]);
    for (int i = 0; i < h->n_out && !st; i++)
        st = conf_upload(ctx, h->out[i].init, h->out[i].bytes, h->out[i].bytes, 0, &b->out[i]);
    return st;
}

/* Resets the outputs to their initial image, runs the op, reads every output back whole. */
static dsa_status run_once(dsa_context *ctx, const cache_params *p, const cache_host *h, const cache_bufs *b,
                           uint8_t **got)
{
    dsa_status st = DSA_SUCCESS;
    for (int i = 0; i < h->n_out && !st; i++) st = dsa_buffer_write(b->out[i], 0, h->out[i].init, h->out[i].bytes);
    if (!st) st = call_op(ctx, p, h, b);
    for (int i = 0; i < h->n_out && !st; i++) st = dsa_buffer_read(b->out[i], 0, got[i], h->out[i].bytes);
    return st;
}

/* ---- comparison ---- */

static int is_nan_elem(const uint8_t *b, int w)
{
    if (w == 2) return isnan(oracle_bf16_decode((uint16_t)(b[0] | b[1] << 8)));
    return isnan(oracle_f32_decode(oracle_le32(b)));
}

/* Mismatching elements (or bytes, where the mask says exact) of got against the image. */
static int64_t count_mismatch(const image *im, const uint8_t *got, int64_t *first)
{
    int64_t bad = 0;
    *first = -1;
    for (uint64_t i = 0; i < im->bytes;) {
        int w = im->mask[i] && i + im->mask[i] <= im->bytes ? im->mask[i] : 1;
        int same = memcmp(im->expect + i, got + i, (size_t)w) == 0 ||
                   (w > 1 && is_nan_elem(im->expect + i, w) && is_nan_elem(got + i, w));
        if (!same && *first < 0) *first = (int64_t)i;
        bad += !same;
        i += (uint64_t)w;
    }
    return bad;
}

static void check_outputs(const cache_host *h, uint8_t **got, conf_result *r)
{
    static const char *names[2] = {"bit mismatches", "bit mismatches (scales)"};
    for (int i = 0; i < h->n_out; i++) {
        int64_t first, bad = count_mismatch(&h->out[i], got[i], &first);
        if (bad)
            conf_fail(r, "output %d: %lld mismatches, first at byte %lld: expected 0x%02x got 0x%02x", i,
                      (long long)bad, (long long)first, h->out[i].expect[first], got[i][first]);
        conf_metric_add(r, names[i], (double)bad, 0);
    }
}

static void check_rerun(dsa_context *ctx, const cache_params *p, const cache_host *h, const cache_bufs *b,
                        uint8_t **first, conf_result *r)
{
    uint8_t *again[2] = {NULL, NULL};
    int ok = 1;
    for (int i = 0; i < h->n_out; i++) ok = ok && (again[i] = malloc(h->out[i].bytes + 1));
    dsa_status st = ok ? run_once(ctx, p, h, b, again) : DSA_ERROR_OUT_OF_MEMORY;
    if (st) conf_error(r, st, "rerun");
    int64_t diff = 0;
    for (int i = 0; !st && i < h->n_out; i++)
        for (uint64_t k = 0; k < h->out[i].bytes; k++) diff += first[i][k] != again[i][k];
    if (!st) conf_metric_add(r, "rerun bit mismatches", (double)diff, 0);
    free(again[0]);
    free(again[1]);
}

static int prepare(conf_rng *g, const cache_params *p, cache_host *h)
{
    switch (p->op) {
    case CO_KV_WRITE:
    case CO_INDEX_WRITE: return prep_write(g, p, h);
    case CO_KV_READ:
    case CO_INDEX_READ: return prep_read(g, p, h);
    case CO_QUANTIZE: return prep_quantize(g, p, h);
    default: return prep_dequantize(g, p, h);
    }
}

static void run_cache(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    cache_params p;
    memcpy(&p, c->params, sizeof p);
    conf_rng g = conf_rng_make(c->seed);
    cache_host h;
    cache_bufs b;
    memset(&h, 0, sizeof h);
    memset(&b, 0, sizeof b);
    uint8_t *got[2] = {NULL, NULL};
    int ok = prepare(&g, &p, &h);
    for (int i = 0; ok && i < h.n_out; i++) ok = (got[i] = malloc(h.out[i].bytes + 1)) != NULL;
    dsa_status st = ok ? upload_all(ctx, &h, &b) : DSA_ERROR_OUT_OF_MEMORY;
    if (!st) st = run_once(ctx, &p, &h, &b, got);
    if (st) {
        conf_error(r, st, c->op); /* routes DSA_ERROR_UNSUPPORTED to conf_unsupported */
    } else {
        check_outputs(&h, got, r);
        if (p.rerun) check_rerun(ctx, &p, &h, &b, got, r);
        conf_finish(r);
    }
    free(got[0]);
    free(got[1]);
    free_host(&h);
    free_bufs(&b);
}

/* ---- the list ---- */

static const dsa_op OP_OF[] = {DSA_OP_KV_CACHE_WRITE, DSA_OP_INDEX_CACHE_WRITE, DSA_OP_KV_CACHE_READ,
                               DSA_OP_INDEX_CACHE_READ, DSA_OP_QUANTIZE_FP8, DSA_OP_DEQUANTIZE_FP8};

static void describe(const cache_params *p, conf_case *c)
{
    snprintf(c->op, sizeof c->op, "%s", dsa_op_name(OP_OF[p->op]));
    snprintf(c->dtype, sizeof c->dtype, "%s", dsa_dtype_name((dsa_dtype)p->dtype));
    if (p->op <= CO_INDEX_READ) {
        snprintf(c->shape, sizeof c->shape, "N=%d P=%d num_pages=%d", p->N, p->P, p->num_pages);
    } else {
        int n = snprintf(c->shape, sizeof c->shape, "[");
        for (int d = 0; d < p->rank && n < (int)sizeof c->shape; d++)
            n += snprintf(c->shape + n, sizeof c->shape - (size_t)n, d ? ",%d" : "%d", p->dims[d]);
        if (n < (int)sizeof c->shape) snprintf(c->shape + n, sizeof c->shape - (size_t)n, "]");
    }
    snprintf(c->variant, sizeof c->variant, "%s%s%s%s%s%s%s", p->values == CV_EDGE ? "edge values" : "normal values",
             p->op <= CO_INDEX_READ ? ", invalid slots" : "", p->dup_slots ? ", repeated slots" : "", p->row_pad ? ", padded rows" : "",
             p->token_pad ? ", padded tokens" : "", p->page_pad ? ", padded pages" : "", p->rerun ? ", rerun" : "");
}

static void add(conf_list *l, cache_params p, uint64_t seed)
{
    conf_case c;
    memset(&c, 0, sizeof c);
    describe(&p, &c);
    c.run = run_cache;
    c.seed = seed;
    memcpy(c.params, &p, sizeof p);
    conf_list_add(l, &c);
}

/* Shorthands: a slot op (writers/readers) and a tensor op (quantize/dequantize). */
static cache_params cs(int op, int dtype, int N, int P, int num_pages, int token_pad, int page_pad, int row_pad,
                       int values, int rerun)
{
    cache_params p = {.op = op, .dtype = dtype, .N = N, .P = P, .num_pages = num_pages, .token_pad = token_pad,
                      .page_pad = page_pad, .row_pad = row_pad, .values = values, .rank = 1, .rerun = rerun};
    return p;
}

static cache_params qs(int op, int dtype, int rank, int d0, int d1, int d2, int d3, int row_pad, int values,
                       int rerun)
{
    cache_params p = {.op = op, .dtype = dtype, .rank = rank, .dims = {d0, d1, d2, d3}, .row_pad = row_pad,
                      .values = values, .rerun = rerun, .P = 1};
    return p;
}

static void add_quick(conf_list *l)
{
    const int F = DSA_FP32, B = DSA_BF16, H = DSA_FP16, E = CV_EDGE, NV = CV_NORMAL;
    add(l, cs(CO_KV_WRITE, F, 10, 1, 12, 0, 0, 8, E, 0), 301);
    add(l, cs(CO_KV_WRITE, B, 20, 16, 3, 16, 32, 0, E, 0), 302);
    add(l, cs(CO_KV_WRITE, F, 40, 64, 2, 0, 0, 0, NV, 1), 303);
    add(l, cs(CO_KV_WRITE, B, 9, 64, 2, 0, 8, 3, E, 0), 304);
    /* Several rows name the same slot: the highest-index row wins (docs/ops.md section 5). */
    cache_params dup = cs(CO_KV_WRITE, F, 30, 16, 2, 16, 0, 5, E, 1);
    dup.dup_slots = 1;
    add(l, dup, 305);
    dup = cs(CO_INDEX_WRITE, B, 40, 16, 2, 0, 12, 0, E, 1);
    dup.dup_slots = 1;
    add(l, dup, 315);
    add(l, cs(CO_INDEX_WRITE, F, 16, 1, 20, 0, 0, 4, E, 0), 311);
    add(l, cs(CO_INDEX_WRITE, B, 30, 16, 4, 0, 64, 0, E, 0), 312);
    add(l, cs(CO_INDEX_WRITE, F, 50, 64, 2, 0, 4, 0, NV, 1), 313);
    add(l, cs(CO_INDEX_WRITE, B, 25, 64, 3, 0, 0, 0, E, 0), 314);
    add(l, cs(CO_KV_READ, F, 12, 1, 10, 0, 0, 3, NV, 0), 321);
    add(l, cs(CO_KV_READ, B, 20, 16, 3, 8, 16, 0, NV, 0), 322);
    add(l, cs(CO_KV_READ, F, 30, 64, 2, 0, 0, 0, NV, 1), 323);
    add(l, cs(CO_KV_READ, B, 10, 64, 2, 0, 0, 2, NV, 0), 324);
    add(l, cs(CO_INDEX_READ, F, 12, 1, 16, 0, 0, 0, NV, 0), 331);
    add(l, cs(CO_INDEX_READ, B, 20, 16, 3, 0, 12, 5, NV, 0), 332);
    add(l, cs(CO_INDEX_READ, F, 30, 64, 2, 0, 0, 1, NV, 0), 333);
    add(l, cs(CO_INDEX_READ, B, 10, 64, 2, 0, 0, 0, NV, 1), 334);
    add(l, qs(CO_QUANTIZE, F, 1, 128, 0, 0, 0, 0, E, 0), 341);
    add(l, qs(CO_QUANTIZE, F, 2, 9, 384, 0, 0, 4, E, 0), 342);
    add(l, qs(CO_QUANTIZE, B, 2, 7, 512, 0, 0, 0, E, 0), 343);
    add(l, qs(CO_QUANTIZE, H, 3, 2, 3, 256, 0, 8, E, 0), 344);
    add(l, qs(CO_QUANTIZE, F, 3, 3, 5, 512, 0, 0, E, 1), 345);
    add(l, qs(CO_QUANTIZE, B, 1, 256, 0, 0, 0, 0, E, 0), 346);
    add(l, qs(CO_QUANTIZE, H, 1, 512, 0, 0, 0, 0, E, 0), 347);
    add(l, qs(CO_QUANTIZE, F, 4, 2, 2, 2, 256, 2, E, 0), 348);
    add(l, qs(CO_QUANTIZE, H, 2, 16, 128, 0, 0, 0, NV, 0), 349);
    add(l, qs(CO_DEQUANTIZE, F, 1, 128, 0, 0, 0, 0, NV, 0), 351);
    add(l, qs(CO_DEQUANTIZE, F, 2, 6, 384, 0, 0, 3, NV, 0), 352);
    add(l, qs(CO_DEQUANTIZE, B, 2, 5, 512, 0, 0, 0, NV, 0), 353);
    add(l, qs(CO_DEQUANTIZE, B, 3, 2, 3, 256, 0, 5, NV, 1), 354);
    add(l, qs(CO_DEQUANTIZE, F, 3, 2, 2, 512, 0, 0, NV, 0), 355);
}

static void add_full(conf_list *l)
{
    const int F = DSA_FP32, B = DSA_BF16, H = DSA_FP16, E = CV_EDGE;
    add(l, cs(CO_KV_WRITE, B, 2000, 64, 40, 0, 0, 0, E, 1), 401);
    add(l, cs(CO_KV_WRITE, F, 1000, 16, 70, 32, 64, 7, E, 0), 402);
    add(l, cs(CO_INDEX_WRITE, F, 4000, 64, 70, 0, 128, 0, E, 1), 403);
    add(l, cs(CO_INDEX_WRITE, B, 3000, 1, 3000, 0, 0, 9, E, 0), 404);
    add(l, cs(CO_KV_READ, B, 2000, 64, 40, 0, 0, 0, CV_NORMAL, 0), 405);
    add(l, cs(CO_INDEX_READ, F, 4000, 64, 70, 0, 64, 3, CV_NORMAL, 0), 406);
    add(l, qs(CO_QUANTIZE, B, 2, 64, 7168, 0, 0, 0, E, 1), 407);
    add(l, qs(CO_QUANTIZE, F, 3, 8, 16, 1536, 0, 16, E, 0), 408);
    add(l, qs(CO_QUANTIZE, H, 2, 128, 2048, 0, 0, 0, E, 0), 409);
    add(l, qs(CO_DEQUANTIZE, B, 2, 64, 7168, 0, 0, 0, CV_NORMAL, 0), 410);
    add(l, qs(CO_DEQUANTIZE, F, 3, 8, 16, 1536, 0, 4, CV_NORMAL, 1), 411);
}

void conf_cases_cache(conf_list *l, int quick)
{
    add_quick(l);
    if (!quick) add_full(l);
}
