/* Naive oracle for top-k, the scalar encodings, FP8 group quantization and the cache layouts.
 * See oracle_select.h. Every encoding here works on decoded values in double (a binary search over
 * the codes, which are monotonic in their value), never on the bit tricks the library uses, so that
 * a shared mistake is unlikely. */
#include "oracle_select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- IEEE-style formats with infinities (fp32, fp16, bf16) ---- */

typedef struct ieee_fmt {
    int ebits, mbits;
} ieee_fmt;

static const ieee_fmt FMT_F32 = {8, 23}, FMT_F16 = {5, 10}, FMT_BF16 = {8, 7};

/* Value of a non-negative code (sign bit clear). The infinity code is given the value 2^(emax+1),
 * where the next binade would start: with it, "round to nearest, ties to even" over the codes
 * yields exactly IEEE's overflow rule (at or beyond max + half an ulp -> infinity). */
static double ieee_value(ieee_fmt f, uint64_t code)
{
    int bias = (1 << (f.ebits - 1)) - 1;
    uint64_t e = code >> f.mbits, m = code & ((1ull << f.mbits) - 1);
    if (e == (1ull << f.ebits) - 1) return m ? NAN : ldexp(1.0, bias + 1);
    if (e == 0) return ldexp((double)m, 1 - bias - f.mbits);
    return ldexp(1.0 + ldexp((double)m, -f.mbits), (int)e - bias);
}

static double ieee_decode(ieee_fmt f, uint64_t bits)
{
    uint64_t sign = bits >> (f.ebits + f.mbits) & 1u;
    uint64_t mag = bits & ((1ull << (f.ebits + f.mbits)) - 1);
    uint64_t inf_code = ((1ull << f.ebits) - 1) << f.mbits;
    double v = mag == inf_code ? INFINITY : ieee_value(f, mag);
    return sign ? -v : v;
}

/* Nearest code in [0, top] to a >= 0 by binary search over the decoded values; a tie goes to the
 * code with an even mantissa, which is the even code (the mantissa is the code's low bits). */
static uint64_t nearest_code(double (*value)(ieee_fmt, uint64_t), ieee_fmt f, uint64_t top, double a)
{
    if (a >= value(f, top)) return top;
    uint64_t lo = 0, hi = top; /* invariant: value(lo) <= a < value(hi) */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (value(f, mid) <= a) lo = mid;
        else hi = mid;
    }
    double dlo = a - value(f, lo), dhi = value(f, hi) - a;
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1u) ? hi : lo;
}

static uint64_t ieee_encode(ieee_fmt f, double x)
{
    uint64_t sign = (uint64_t)(signbit(x) ? 1 : 0) << (f.ebits + f.mbits);
    uint64_t inf_code = ((1ull << f.ebits) - 1) << f.mbits;
    if (isnan(x)) return sign | inf_code | (1ull << (f.mbits - 1)); /* quiet NaN */
    if (isinf(x)) return sign | inf_code;
    return sign | nearest_code(ieee_value, f, inf_code, fabs(x));
}

double oracle_bf16_decode(uint16_t h) { return ieee_decode(FMT_BF16, h); }
uint16_t oracle_bf16_encode(double x) { return (uint16_t)ieee_encode(FMT_BF16, x); }
double oracle_fp16_decode(uint16_t h) { return ieee_decode(FMT_F16, h); }
uint16_t oracle_fp16_encode(double x) { return (uint16_t)ieee_encode(FMT_F16, x); }
double oracle_f32_decode(uint32_t u) { return ieee_decode(FMT_F32, u); }
uint32_t oracle_f32_encode(double x) { return (uint32_t)ieee_encode(FMT_F32, x); }

/* ---- fp8 e4m3 ---- */

/* Value of a non-negative e4m3 code 0x00..0x7E: exponent 0 is subnormal (m * 2^-9). */
static double fp8_value(ieee_fmt f, uint64_t code)
{
    (void)f;
    int e = (int)(code >> 3) & 15, m = (int)(code & 7);
    if (e == 0) return ldexp((double)m, -9);
    return ldexp(1.0 + m / 8.0, e - 7);
}

double oracle_fp8_decode(uint8_t b)
{
    if ((b & 0x7f) == 0x7f) return NAN;
    double v = fp8_value(FMT_F32, b & 0x7fu);
    return (b & 0x80) ? -v : v;
}

uint8_t oracle_fp8_encode(double x)
{
    uint8_t sign = signbit(x) ? 0x80 : 0;
    if (isnan(x)) return (uint8_t)(sign | 0x7f);
    double a = fabs(x);
    if (a > 448.0) a = 448.0; /* clamp first: the contract's q = e4m3(clamp(x / s, -448, 448)) */
    return (uint8_t)(sign | nearest_code(fp8_value, FMT_F32, 0x7e, a));
}

/* ---- quantization ---- */

double oracle_fp8_scale_for_amax(double amax)
{
    if (!(amax >= 1e-4)) amax = 1e-4;
    int e = -300;
    while (ldexp(448.0, e) < amax) e++; /* 448 * 2^e is exact in double */
    return ldexp(1.0, e);
}

void oracle_quantize_group(const double *x, int64_t n, uint8_t *q, double *scale)
{
    double amax = 0.0;
    for (int64_t t = 0; t < n; t++)
        if (isfinite(x[t]) && fabs(x[t]) > amax) amax = fabs(x[t]);
    double s = oracle_fp8_scale_for_amax(amax);
    for (int64_t t = 0; t < n; t++) q[t] = oracle_fp8_encode(x[t] / s); /* exact: s = 2^e */
    *scale = s;
}

/* decode(q) has 4 significant bits, s (an fp32) 24: their product is exact in double, so the one
 * rounding below is the only one. */
uint32_t oracle_dequant_f32(uint8_t q, double s) { return oracle_f32_encode(oracle_fp8_decode(q) * s); }
uint16_t oracle_dequant_bf16(uint8_t q, double s) { return oracle_bf16_encode(oracle_fp8_decode(q) * s); }

/* ---- cache layouts ---- */

uint32_t oracle_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void oracle_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void kv_pack_latent(const double *row, uint8_t *out)
{
    for (int g = 0; g < 4; g++) {
        double s;
        oracle_quantize_group(row + 128 * g, 128, out + 128 * g, &s);
        oracle_put_le32(out + 512 + 4 * g, oracle_f32_encode(s));
    }
}

void oracle_kv_pack(const double *row, uint8_t out[ORACLE_KV_BYTES])
{
    kv_pack_latent(row, out);
    for (int t = 0; t < 64; t++) {
        uint16_t h = oracle_bf16_encode(row[512 + t]);
        out[528 + 2 * t] = (uint8_t)h;
        out[529 + 2 * t] = (uint8_t)(h >> 8);
    }
}

void oracle_kv_pack_bf16rope(const double *row, const uint16_t *rope, uint8_t out[ORACLE_KV_BYTES])
{
    kv_pack_latent(row, out);
    for (int t = 0; t < 64; t++) {
        out[528 + 2 * t] = (uint8_t)rope[t];
        out[529 + 2 * t] = (uint8_t)(rope[t] >> 8);
    }
}

void oracle_index_pack(const double *row, uint8_t vals[128], uint32_t *scale_bits)
{
    double s;
    oracle_quantize_group(row, 128, vals, &s);
    *scale_bits = oracle_f32_encode(s);
}

/* ---- top-k ---- */

/* 0 NaN, 1 -inf, 2 finite, 3 +inf: the classes of the key order, lowest first. */
static int key_class(float v)
{
    if (isnan(v)) return 0;
    if (isinf(v)) return v < 0 ? 1 : 3;
    return 2;
}

int oracle_topk_rank_cmp(float va, int64_t a, float vb, int64_t b)
{
    int ca = key_class(va), cb = key_class(vb);
    if (ca != cb) return ca > cb ? 1 : -1;
    if (ca == 2 && va != vb) return va > vb ? 1 : -1; /* -0.0 == +0.0 here, as required */
    if (a == b) return 0;
    return a < b ? 1 : -1;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

void oracle_topk_range(int64_t L, const int32_t *ks, const int32_t *ke, const int32_t *lengths,
                       int64_t i, int64_t *lo, int64_t *hi)
{
    *lo = 0;
    *hi = L;
    if (ks && ke) {
        *lo = clamp64(ks[i], 0, L);
        *hi = clamp64(ke[i], 0, L);
    } else if (lengths) {
        *hi = clamp64(lengths[i], 0, L);
    }
    if (*hi < *lo) *hi = *lo; /* lo >= hi: empty */
}

typedef struct cand {
    float v;
    int64_t j;
} cand;

/* qsort comparator: highest-ranked first. */
static int cand_desc(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return -oracle_topk_rank_cmp(a->v, a->j, b->v, b->j);
}

int64_t oracle_topk_row(const float *row, int64_t lo, int64_t hi, int64_t k, int64_t *cols)
{
    int64_t n = hi > lo ? hi - lo : 0;
    if (n == 0) return 0;
    cand *c = malloc((size_t)n * sizeof *c);
    if (!c) return -1;
    for (int64_t t = 0; t < n; t++) {
        c[t].v = row[lo + t];
        c[t].j = lo + t;
    }
    qsort(c, (size_t)n, sizeof *c, cand_desc);
    int64_t m = n < k ? n : k;
    for (int64_t t = 0; t < m; t++) cols[t] = c[t].j;
    free(c);
    return m;
}

int64_t oracle_topk_slot(const int32_t *bt, int64_t max_pages, int64_t P, int64_t j)
{
    if (j / P >= max_pages) return -1;
    int64_t e = bt[j / P];
    if (e < 0) return -1;
    int64_t slot = e * P + j % P;
    return slot > INT32_MAX ? -1 : slot;
}
