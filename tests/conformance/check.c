/* Conformance framework helpers: case lists, random numbers, device uploads, metrics and the
 * comparison measures of docs/ops.md. Independent of the library's internals: public API only. */
#include "conformance.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- case lists ---- */

void conf_list_add(conf_list *l, const conf_case *c)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        conf_case *items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) return; /* a test machine out of memory: the case count will show it */
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = *c;
}

void conf_list_free(conf_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

void conf_all_cases(conf_list *l, int quick)
{
    conf_cases_cache(l, quick);
    conf_cases_indexer(l, quick);
    conf_cases_topk(l, quick);
    conf_cases_sparse_mla(l, quick);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void conf_run_case(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    memset(r, 0, sizeof *r);
    r->status = -1; /* "not decided yet": conf_finish or a failure sets it */
    double t0 = now_seconds();
    c->run(ctx, c, r);
    r->seconds = now_seconds() - t0;
    if (r->status == -1) conf_finish(r);
}

/* ---- random numbers: splitmix64 ---- */

uint64_t conf_rng_u64(conf_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double conf_rng_uniform(conf_rng *r) { return (double)(conf_rng_u64(r) >> 11) * 0x1p-53; }

double conf_rng_normal(conf_rng *r)
{
    double u1 = conf_rng_uniform(r), u2 = conf_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t conf_rng_int(conf_rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return span == 0 ? (int64_t)conf_rng_u64(r) : lo + (int64_t)(conf_rng_u64(r) % span);
}

/* ---- device memory ---- */

dsa_status conf_alloc_filled(dsa_context *ctx, uint64_t bytes, uint8_t fill_byte, dsa_buffer **out)
{
    dsa_status st = dsa_buffer_alloc(ctx, bytes, out);
    if (st == DSA_SUCCESS && bytes) st = dsa_buffer_fill(*out, 0, fill_byte, bytes);
    if (st != DSA_SUCCESS && *out) {
        dsa_buffer_free(*out);
        *out = NULL;
    }
    return st;
}

dsa_status conf_upload(dsa_context *ctx, const void *host, uint64_t bytes, uint64_t capacity,
                       uint8_t fill_byte, dsa_buffer **out)
{
    if (capacity < bytes) capacity = bytes;
    dsa_status st = conf_alloc_filled(ctx, capacity, fill_byte, out);
    if (st == DSA_SUCCESS && bytes) st = dsa_buffer_write(*out, 0, host, bytes);
    if (st != DSA_SUCCESS && *out) {
        dsa_buffer_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---- results ---- */

int conf_metric_add(conf_result *r, const char *name, double value, double bound)
{
    int ok = value <= bound; /* NaN never passes */
    if (r->n_metrics < (int)(sizeof r->metrics / sizeof r->metrics[0])) {
        conf_metric *m = &r->metrics[r->n_metrics++];
        snprintf(m->name, sizeof m->name, "%s", name);
        m->value = value;
        m->bound = bound;
        m->ok = ok;
    } else if (!ok) {
        conf_fail(r, "metric %s = %g exceeds %g (metric table full)", name, value, bound);
    }
    return ok;
}

static void set_message(conf_result *r, const char *fmt, va_list ap)
{
    size_t used = strlen(r->message);
    if (used && used + 3 < sizeof r->message) {
        strcat(r->message, "; ");
        used += 2;
    }
    if (used < sizeof r->message) vsnprintf(r->message + used, sizeof r->message - used, fmt, ap);
}

void conf_fail(conf_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(r, fmt, ap);
    va_end(ap);
    if (r->status != CONF_ERROR) r->status = CONF_FAIL;
}

void conf_error(conf_result *r, dsa_status st, const char *what)
{
    if (st == DSA_ERROR_UNSUPPORTED) {
        conf_unsupported(r, dsa_last_error());
        return;
    }
    snprintf(r->message, sizeof r->message, "%s: %s: %s", what, dsa_status_string(st), dsa_last_error());
    r->status = CONF_ERROR;
}

void conf_unsupported(conf_result *r, const char *why)
{
    snprintf(r->message, sizeof r->message, "unsupported: %s", why);
    r->status = CONF_UNSUPPORTED;
}

void conf_finish(conf_result *r)
{
    if (r->status == CONF_FAIL || r->status == CONF_ERROR || r->status == CONF_UNSUPPORTED) return;
    r->status = CONF_PASS;
    for (int i = 0; i < r->n_metrics; i++) {
        if (!r->metrics[i].ok) r->status = CONF_FAIL;
    }
    if (r->n_metrics == 0) conf_fail(r, "the case recorded no metric"); /* a check that checks nothing */
}

/* ---- measures ---- */

double conf_diff(const double *ref, const double *got, size_t n)
{
    double xy = 0, xx_yy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]) || !isfinite(got[i])) continue;
        xy += ref[i] * got[i];
        xx_yy += ref[i] * ref[i] + got[i] * got[i];
    }
    return xx_yy > 0 ? 1.0 - 2.0 * xy / xx_yy : 0.0;
}

static int value_class(double x) { return isnan(x) ? 3 : isinf(x) ? (x > 0 ? 1 : 2) : 0; }

double conf_elem_error(const double *ref, const double *got, size_t n, double atol, double rtol,
                       size_t *pattern_mismatches, int64_t *first_bad)
{
    double worst = 0;
    size_t mism = 0;
    if (first_bad) *first_bad = -1;
    for (size_t i = 0; i < n; i++) {
        int cr = value_class(ref[i]), cg = value_class(got[i]);
        if (cr != cg) {
            if (mism++ == 0 && first_bad) *first_bad = (int64_t)i;
            continue;
        }
        if (cr) continue; /* both the same non-finite class */
        double d = fabs(ref[i] - got[i]);
        double e_abs = d / atol, e_rel = rtol * fabs(ref[i]) > 0 ? d / (rtol * fabs(ref[i])) : INFINITY;
        double e = e_abs < e_rel ? e_abs : e_rel;
        if (e > worst) {
            worst = e;
            if (e > 1 && first_bad && *first_bad < 0) *first_bad = (int64_t)i;
        }
    }
    if (pattern_mismatches) *pattern_mismatches = mism;
    return worst;
}

/* ---- decoders (written from the format definitions, not shared with the library) ---- */

double conf_bf16_to_double(uint16_t b)
{
    int sign = b >> 15, exp = (b >> 7) & 0xff, man = b & 0x7f;
    double v;
    if (exp == 0xff) v = man ? NAN : INFINITY;
    else if (exp == 0) v = ldexp((double)man, -133); /* subnormal: man * 2^(1-127-7) */
    else v = ldexp(1.0 + man / 128.0, exp - 127);
    return sign ? -v : v;
}

double conf_fp8_to_double(uint8_t b)
{
    int sign = b >> 7, exp = (b >> 3) & 0xf, man = b & 7;
    double v;
    if (exp == 15 && man == 7) v = NAN;
    else if (exp == 0) v = ldexp((double)man, -9);
    else v = ldexp(1.0 + man / 8.0, exp - 7);
    return sign ? -v : v;
}

uint16_t conf_double_to_bf16(double x)
{
    /* Nearest bf16 by searching the two neighbours around the truncated value: slow, obviously right. */
    if (isnan(x)) return signbit(x) ? 0xFFC0 : 0x7FC0;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs(x);
    uint16_t lo = 0;
    /* largest magnitude code with value <= a (codes are monotonic in magnitude) */
    for (int bit = 14; bit >= 0; bit--) {
        uint16_t t = (uint16_t)(lo | (1u << bit));
        if (t <= 0x7F80 && conf_bf16_to_double(t) <= a) lo = t;
    }
    if (lo == 0x7F80) return sign | lo;
    uint16_t hi = (uint16_t)(lo + 1);
    double dl = a - conf_bf16_to_double(lo), dh = conf_bf16_to_double(hi) - a;
    uint16_t pick = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    return sign | pick;
}
