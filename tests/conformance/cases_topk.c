/* Conformance cases for dsa_topk (docs/ops.md section 2): every form (absolute, relative, slot),
 * sorted and unsorted, ranges from ks/ke (with every kind of out-of-range value), from lengths and
 * whole rows; ties, signed zeros, NaN and infinities among the scores; rows shorter than k; padded
 * strides. The answer is the naive oracle of tests/oracle/oracle_select.c; the bar is exact:
 * the selected set (or, sorted, the sequence), the -1 padding, and every byte of the output buffer
 * outside the view left as it was. */
#include "conformance.h"
#include "oracle_select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TR_WHOLE = 0, TR_KSKE = 1, TR_LENGTHS = 2 };                 /* where the range comes from */
enum { TV_NORMAL = 0, TV_TIES = 1, TV_SPECIAL = 2, TV_DEGENERATE = 3 }; /* what the scores hold */

typedef struct topk_params {
    int32_t S, L, k;
    int32_t score_pad, idx_pad; /* extra elements per row of scores / indices */
    int32_t range, form, sorted, values;
    int32_t B, P, max_pages, bt_pad; /* slot form */
    int32_t rerun;                   /* run twice, compare bitwise */
} topk_params;

/* The prefill of the indices buffer: an int32 that no correct answer contains. */
#define PATTERN_BYTE 0xA5
#define PATTERN_WORD ((int32_t)0xA5A5A5A5u)
#define TAIL_WORDS 16 /* extra words after the view, to catch writes past its end */

/* ---- inputs ---- */

static float random_nan(conf_rng *g)
{
    uint32_t bits = 0x7f800000u | (uint32_t)conf_rng_int(g, 1, 0x7fffff);
    if (conf_rng_u64(g) & 1) bits |= 0x80000000u;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* One of NaN, -inf, +inf, -0.0, +0.0. */
static float special_value(conf_rng *g)
{
    switch (conf_rng_int(g, 0, 4)) {
    case 0: return random_nan(g);
    case 1: return -INFINITY;
    case 2: return INFINITY;
    case 3: return -0.0f;
    default: return 0.0f;
    }
}

/* Rows made only of equal-ranking keys: all NaN, NaN and -inf, signed zeros, all +inf. */
static float degenerate_value(conf_rng *g, int64_t row)
{
    switch (row % 4) {
    case 0: return random_nan(g);
    case 1: return (conf_rng_u64(g) & 1) ? -INFINITY : random_nan(g);
    case 2: return (conf_rng_u64(g) & 1) ? -0.0f : 0.0f;
    default: return INFINITY;
    }
}

static float score_value(conf_rng *g, int values, int64_t row)
{
    switch (values) {
    case TV_TIES: { /* few distinct integers: ties everywhere, and both zeros */
        float v = (float)conf_rng_int(g, -3, 3);
        return (v == 0.0f && (conf_rng_u64(g) & 1)) ? -0.0f : v;
    }
    case TV_SPECIAL: /* density varies by row so that some rows have fewer than k numbers */
        if (conf_rng_uniform(g) < (row % 3 == 0 ? 0.6 : 0.1)) return special_value(g);
        return (float)conf_rng_normal(g);
    case TV_DEGENERATE: return degenerate_value(g, row);
    default: return (float)conf_rng_normal(g);
    }
}

/* Scores [S, L] with row stride L + pad. The padding holds +inf: a kernel that reads past a row
 * (or a range) end would rank it first and get caught. */
static float *make_scores(conf_rng *g, const topk_params *p)
{
    int64_t rs = (int64_t)p->L + p->score_pad;
    float *s = malloc((size_t)(p->S * rs + 1) * sizeof *s);
    if (!s) return NULL;
    for (int64_t i = 0; i < p->S; i++)
        for (int64_t j = 0; j < rs; j++) s[i * rs + j] = j < p->L ? score_value(g, p->values, i) : INFINITY;
    return s;
}

/* ks/ke for row i: cycles through every kind of range the contract defines, then random ones. */
static void make_kske_row(conf_rng *g, const topk_params *p, int64_t i, int32_t *ks, int32_t *ke)
{
    int32_t L = p->L, a = (int32_t)conf_rng_int(g, 0, L), b = (int32_t)conf_rng_int(g, 0, L);
    int32_t lo = a < b ? a : b, hi = a < b ? b : a;
    int32_t short_len = (int32_t)conf_rng_int(g, 1, p->k > 1 ? p->k - 1 : 1);
    switch (i % 11) {
    case 0: *ks = lo; *ke = hi; break;                                  /* ordinary */
    case 1: *ks = lo; *ke = lo + short_len > L ? L : lo + short_len; break; /* shorter than k */
    case 2: *ks = lo; *ke = lo; break;                                   /* empty: ks == ke */
    case 3: *ks = hi; *ke = lo - 1; break;                               /* ks > ke */
    case 4: *ks = (conf_rng_u64(g) & 1) ? -5 : INT32_MIN; *ke = hi; break; /* negative start */
    case 5: *ks = lo; *ke = (conf_rng_u64(g) & 1) ? L + 7 : INT32_MAX; break; /* end past L */
    case 6: *ks = INT32_MIN; *ke = INT32_MAX; break;                     /* the whole row */
    case 7: *ks = INT32_MAX; *ke = INT32_MAX; break;                     /* empty, far out */
    case 8: *ks = -10; *ke = -1; break;                                  /* empty, negative */
    case 9: *ks = L; *ke = L + 100; break;                               /* empty, past L */
    default: *ks = 0; *ke = L; break;
    }
}

static int32_t make_length(conf_rng *g, const topk_params *p, int64_t i)
{
    int32_t L = p->L;
    switch (i % 9) {
    case 0: return L;
    case 1: return L + 100;
    case 2: return INT32_MAX;
    case 3: return 0;
    case 4: return -1;
    case 5: return INT32_MIN;
    case 6: return (int32_t)conf_rng_int(g, 1, p->k > 1 ? p->k - 1 : 1); /* shorter than k */
    default: return (int32_t)conf_rng_int(g, 0, L);
    }
}

/* block_table entries: mostly distinct pages, plus every kind of unmappable entry (negative, and
 * entries whose slots pass 2^31 - 1 at the page's start or only part way through it). */
static int32_t make_bt_entry(conf_rng *g, const topk_params *p, int64_t n)
{
    int64_t P = p->P;
    switch (n % 9) {
    case 1: return (int32_t)(INT32_MAX / P);     /* the last page reaching 2^31 - 1 (P | 2^31) or
                                                    overflowing part way through (P = 7, 61) */
    case 3: return -1;
    case 5: return INT32_MIN;
    case 7: return INT32_MAX;                    /* valid only when P == 1 */
    case 8: return (int32_t)(INT32_MAX / P + 1); /* overflows from the page's start (P > 1) */
    default: return (int32_t)conf_rng_int(g, 0, 4 * (int64_t)p->max_pages + 3);
    }
}

/* ---- the device side ---- */

typedef struct topk_bufs {
    dsa_buffer *scores, *ks, *ke, *lengths, *bt, *indices;
} topk_bufs;

static void free_bufs(topk_bufs *b)
{
    dsa_buffer_free(b->scores);
    dsa_buffer_free(b->ks);
    dsa_buffer_free(b->ke);
    dsa_buffer_free(b->lengths);
    dsa_buffer_free(b->bt);
    dsa_buffer_free(b->indices);
}

/* The host side of a case: every input array and the output's geometry. */
typedef struct topk_host {
    float *scores;
    int32_t *ks, *ke, *lengths, *bt;
    int64_t idx_stride, idx_words; /* words of the indices buffer */
} topk_host;

static void free_host(topk_host *h)
{
    free(h->scores);
    free(h->ks);
    free(h->ke);
    free(h->lengths);
    free(h->bt);
}

static int make_host(conf_rng *g, const topk_params *p, topk_host *h)
{
    memset(h, 0, sizeof *h);
    int64_t S = p->S;
    h->scores = make_scores(g, p);
    h->ks = malloc((size_t)(S + 1) * 4);
    h->ke = malloc((size_t)(S + 1) * 4);
    h->lengths = malloc((size_t)(S + 1) * 4);
    int64_t bt_n = p->form == DSA_TOPK_SLOT ? (int64_t)p->B * (p->max_pages + p->bt_pad) : 1;
    h->bt = malloc((size_t)bt_n * 4);
    if (!h->scores || !h->ks || !h->ke || !h->lengths || !h->bt) return 0;
    for (int64_t i = 0; i < S; i++) {
        make_kske_row(g, p, i, &h->ks[i], &h->ke[i]);
        h->lengths[i] = make_length(g, p, i);
    }
    for (int64_t n = 0; n < bt_n; n++) h->bt[n] = make_bt_entry(g, p, n);
    h->idx_stride = (int64_t)p->k + p->idx_pad;
    h->idx_words = S * h->idx_stride + TAIL_WORDS;
    return 1;
}

static dsa_status upload_all(dsa_context *ctx, const topk_params *p, const topk_host *h, topk_bufs *b)
{
    uint64_t S = (uint64_t)p->S, sb = S * (uint64_t)(p->L + p->score_pad) * 4;
    uint64_t bt_bytes = (uint64_t)p->B * (uint64_t)(p->max_pages + p->bt_pad) * 4;
    dsa_status st = conf_upload(ctx, h->scores, sb, sb + 64, 0, &b->scores);
    if (!st) st = conf_upload(ctx, h->ks, S * 4, S * 4 + 4, 0, &b->ks);
    if (!st) st = conf_upload(ctx, h->ke, S * 4, S * 4 + 4, 0, &b->ke);
    if (!st) st = conf_upload(ctx, h->lengths, S * 4, S * 4 + 4, 0, &b->lengths);
    if (!st && p->form == DSA_TOPK_SLOT) st = conf_upload(ctx, h->bt, bt_bytes, bt_bytes, 0, &b->bt);
    if (!st) st = conf_alloc_filled(ctx, (uint64_t)h->idx_words * 4, PATTERN_BYTE, &b->indices);
    return st;
}

static dsa_topk_args make_args(const topk_params *p, const topk_host *h, const topk_bufs *b)
{
    dsa_topk_args a;
    memset(&a, 0, sizeof a);
    int64_t sshape[2] = {p->S, p->L}, sstr[2] = {(int64_t)p->L + p->score_pad, 1};
    int64_t ishape[2] = {p->S, p->k}, istr[2] = {h->idx_stride, 1};
    int64_t vshape[1] = {p->S};
    a.scores = dsa_tensor_make(b->scores, 0, DSA_FP32, 2, sshape, sstr);
    a.indices = dsa_tensor_make(b->indices, 0, DSA_INT32, 2, ishape, istr);
    a.ks = a.ke = a.lengths = a.block_table = dsa_tensor_none();
    if (p->range == TR_KSKE) {
        a.ks = dsa_tensor_make(b->ks, 0, DSA_INT32, 1, vshape, NULL);
        a.ke = dsa_tensor_make(b->ke, 0, DSA_INT32, 1, vshape, NULL);
    } else if (p->range == TR_LENGTHS) {
        a.lengths = dsa_tensor_make(b->lengths, 0, DSA_INT32, 1, vshape, NULL);
    }
    if (p->form == DSA_TOPK_SLOT) {
        int64_t bshape[2] = {p->B, p->max_pages}, bstr[2] = {(int64_t)p->max_pages + p->bt_pad, 1};
        a.block_table = dsa_tensor_make(b->bt, 0, DSA_INT32, 2, bshape, bstr);
        a.page_size = p->P;
    }
    a.k = p->k;
    a.form = (dsa_topk_form)p->form;
    a.sorted = p->sorted;
    return a;
}

/* ---- checking ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The value the op must write for column j of row i in the case's form. */
static int64_t expected_value(const topk_params *p, const topk_host *h, int64_t i, int64_t j, int64_t lo)
{
    if (p->form == DSA_TOPK_RELATIVE) return j - lo;
    if (p->form == DSA_TOPK_SLOT) {
        int64_t b = i / (p->S / p->B);
        return oracle_topk_slot(h->bt + b * (p->max_pages + p->bt_pad), p->max_pages, p->P, j);
    }
    return j;
}

/* Entries of ref[0..m) missing from got[0..m), as multisets (both arrays get sorted). */
static int64_t multiset_missing(int64_t *ref, int64_t *got, int64_t m)
{
    qsort(ref, (size_t)m, sizeof *ref, cmp_i64);
    qsort(got, (size_t)m, sizeof *got, cmp_i64);
    int64_t a = 0, b = 0, matched = 0;
    while (a < m && b < m) {
        if (ref[a] == got[b]) { matched++; a++; b++; }
        else if (ref[a] < got[b]) a++;
        else b++;
    }
    return m - matched;
}

typedef struct topk_counts {
    int64_t set, order, padding, outside;
} topk_counts;

/* Checks row i of the output against the oracle; adds to the counts and reports the first bad row. */
static int check_row(const topk_params *p, const topk_host *h, const int32_t *out, int64_t i,
                     int64_t *cols, int64_t *ref, int64_t *got, topk_counts *c, conf_result *r)
{
    int64_t lo, hi, rs = (int64_t)p->L + p->score_pad;
    const int32_t *ks = p->range == TR_KSKE ? h->ks : NULL, *ke = p->range == TR_KSKE ? h->ke : NULL;
    const int32_t *len = p->range == TR_LENGTHS ? h->lengths : NULL;
    oracle_topk_range(p->L, ks, ke, len, i, &lo, &hi);
    int64_t m = oracle_topk_row(h->scores + i * rs, lo, hi, p->k, cols);
    if (m < 0) return 0;
    const int32_t *row = out + i * h->idx_stride;
    int64_t order = 0, pad = 0;
    for (int64_t t = 0; t < m; t++) {
        ref[t] = expected_value(p, h, i, cols[t], lo);
        got[t] = row[t];
        order += p->sorted && ref[t] != got[t];
    }
    for (int64_t t = m; t < p->k; t++) pad += row[t] != -1;
    int64_t set = multiset_missing(ref, got, m);
    if ((set || order || pad) && !(c->set || c->order || c->padding))
        conf_fail(r, "row %lld (range [%lld, %lld), %lld selected): %lld missing, %lld out of order, "
                  "%lld bad padding; first entry got %d", (long long)i, (long long)lo, (long long)hi,
                  (long long)m, (long long)set, (long long)order, (long long)pad, m ? row[0] : row[p->k - 1]);
    c->set += set;
    c->order += order;
    c->padding += pad;
    return 1;
}

/* Words of the buffer outside the [S, k] view that lost the prefill pattern. */
static int64_t count_outside(const topk_params *p, const topk_host *h, const int32_t *out)
{
    int64_t bad = 0;
    for (int64_t w = 0; w < h->idx_words; w++) {
        int64_t i = w / h->idx_stride, t = w % h->idx_stride;
        int in_view = i < p->S && t < p->k;
        bad += !in_view && out[w] != PATTERN_WORD;
    }
    return bad;
}

static void check_all(const topk_params *p, const topk_host *h, const int32_t *out, conf_result *r)
{
    int64_t *cols = malloc((size_t)p->k * 8), *ref = malloc((size_t)p->k * 8), *got = malloc((size_t)p->k * 8);
    topk_counts c = {0, 0, 0, 0};
    int ok = cols && ref && got;
    for (int64_t i = 0; ok && i < p->S; i++) ok = check_row(p, h, out, i, cols, ref, got, &c, r);
    free(cols);
    free(ref);
    free(got);
    if (!ok) {
        conf_fail(r, "oracle: out of host memory");
        return;
    }
    c.outside = count_outside(p, h, out);
    if (c.outside && !c.set && !c.order && !c.padding)
        conf_fail(r, "%lld int32 words outside the indices view were written", (long long)c.outside);
    conf_metric_add(r, "set mismatches", (double)c.set, 0);
    if (p->sorted) conf_metric_add(r, "order mismatches", (double)c.order, 0);
    conf_metric_add(r, "padding mismatches", (double)c.padding, 0);
    conf_metric_add(r, "words outside view", (double)c.outside, 0);
}

/* ---- the case ---- */

static dsa_status run_once(dsa_context *ctx, const dsa_topk_args *a, dsa_buffer *ind, int32_t *out,
                           int64_t words)
{
    dsa_status st = dsa_buffer_fill(ind, 0, PATTERN_BYTE, (uint64_t)words * 4);
    if (!st) st = dsa_topk(ctx, a, NULL);
    if (!st) st = dsa_buffer_read(ind, 0, out, (uint64_t)words * 4);
    return st;
}

/* Runs the op a second time and counts words that differ from the first run. */
static void check_rerun(dsa_context *ctx, const dsa_topk_args *a, const topk_host *h, dsa_buffer *ind,
                        const int32_t *first, conf_result *r)
{
    int32_t *again = malloc((size_t)h->idx_words * 4);
    if (!again) return;
    dsa_status st = run_once(ctx, a, ind, again, h->idx_words);
    if (st) {
        conf_error(r, st, "dsa_topk (rerun)");
    } else {
        int64_t diff = 0;
        for (int64_t w = 0; w < h->idx_words; w++) diff += again[w] != first[w];
        conf_metric_add(r, "rerun bit mismatches", (double)diff, 0);
    }
    free(again);
}

static void run_topk(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    topk_params p;
    memcpy(&p, c->params, sizeof p);
    conf_rng g = conf_rng_make(c->seed);
    topk_host h;
    topk_bufs b = {0};
    int32_t *out = NULL;
    if (!make_host(&g, &p, &h) || !(out = malloc((size_t)h.idx_words * 4))) {
        conf_fail(r, "host out of memory");
        goto done;
    }
    dsa_status st = upload_all(ctx, &p, &h, &b);
    if (st) {
        conf_error(r, st, "upload");
        goto done;
    }
    dsa_topk_args a = make_args(&p, &h, &b);
    st = run_once(ctx, &a, b.indices, out, h.idx_words);
    if (st == DSA_ERROR_UNSUPPORTED) conf_unsupported(r, dsa_last_error());
    else if (st) conf_error(r, st, "dsa_topk");
    if (st) goto done;
    check_all(&p, &h, out, r);
    if (p.rerun) check_rerun(ctx, &a, &h, b.indices, out, r);
    conf_finish(r);
done:
    free(out);
    free_host(&h);
    free_bufs(&b);
}

/* ---- the list ---- */

static const char *range_name(int range)
{
    return range == TR_KSKE ? "ks/ke" : range == TR_LENGTHS ? "lengths" : "whole rows";
}

static const char *values_name(int values)
{
    static const char *names[] = {"normal", "integer ties +-0", "NaN/inf/+-0", "all-equal rows"};
    return names[values];
}

static const char *form_name(int form)
{
    return form == DSA_TOPK_RELATIVE ? "relative" : form == DSA_TOPK_SLOT ? "slot" : "absolute";
}

static void add(conf_list *l, topk_params p, uint64_t seed)
{
    conf_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", dsa_op_name(DSA_OP_TOPK));
    snprintf(c.dtype, sizeof c.dtype, "fp32");
    if (p.form == DSA_TOPK_SLOT)
        snprintf(c.shape, sizeof c.shape, "S=%d L=%d k=%d B=%d P=%d max_pages=%d", p.S, p.L, p.k, p.B,
                 p.P, p.max_pages);
    else
        snprintf(c.shape, sizeof c.shape, "S=%d L=%d k=%d", p.S, p.L, p.k);
    snprintf(c.variant, sizeof c.variant, "%s, %s, %s, %s%s%s%s", form_name(p.form),
             p.sorted ? "sorted" : "unsorted", range_name(p.range), values_name(p.values),
             p.score_pad ? ", padded scores" : "", p.idx_pad ? ", padded indices" : "",
             p.rerun ? ", rerun" : "");
    c.run = run_topk;
    c.seed = seed;
    memcpy(c.params, &p, sizeof p);
    conf_list_add(l, &c);
}

/* Shorthand: S, L, k, range, form, sorted, values. */
static topk_params tp(int S, int L, int k, int range, int form, int sorted, int values)
{
    topk_params p;
    memset(&p, 0, sizeof p);
    p.S = S;
    p.L = L;
    p.k = k;
    p.range = range;
    p.form = form;
    p.sorted = sorted;
    p.values = values;
    p.B = 1;
    p.P = 1;
    return p;
}

static topk_params slot(topk_params p, int B, int P, int max_pages, int bt_pad)
{
    p.B = B;
    p.P = P;
    p.max_pages = max_pages;
    p.bt_pad = bt_pad;
    return p;
}

static topk_params pads(topk_params p, int score_pad, int idx_pad)
{
    p.score_pad = score_pad;
    p.idx_pad = idx_pad;
    return p;
}

static void add_quick(conf_list *l)
{
    const int A = DSA_TOPK_ABSOLUTE, R = DSA_TOPK_RELATIVE, SL = DSA_TOPK_SLOT;
    add(l, tp(3, 100, 1, TR_WHOLE, A, 0, TV_NORMAL), 101);
    add(l, pads(tp(4, 1000, 7, TR_WHOLE, A, 1, TV_NORMAL), 13, 0), 102);
    add(l, pads(tp(12, 1000, 65, TR_KSKE, A, 0, TV_SPECIAL), 3, 5), 103);
    add(l, tp(12, 777, 64, TR_KSKE, A, 1, TV_SPECIAL), 104);
    add(l, pads(tp(12, 500, 100, TR_KSKE, R, 1, TV_TIES), 0, 3), 105);
    add(l, tp(11, 3000, 2048, TR_KSKE, R, 0, TV_NORMAL), 106);
    add(l, tp(9, 300, 65, TR_LENGTHS, A, 0, TV_TIES), 107);
    add(l, pads(tp(9, 4100, 2048, TR_LENGTHS, R, 1, TV_SPECIAL), 1, 1), 108);
    add(l, tp(8, 64, 1, TR_WHOLE, A, 1, TV_DEGENERATE), 109);
    add(l, tp(8, 50, 7, TR_WHOLE, A, 0, TV_DEGENERATE), 110);
    add(l, tp(8, 90, 65, TR_KSKE, R, 1, TV_DEGENERATE), 111);
    add(l, tp(3, 1, 2048, TR_WHOLE, A, 1, TV_NORMAL), 112);
    add(l, tp(0, 100, 7, TR_KSKE, A, 0, TV_NORMAL), 113);
    /* slot form: S/B = 1 and 2, page sizes that do not divide L, max_pages below and above need */
    add(l, slot(tp(4, 1000, 64, TR_WHOLE, SL, 0, TV_NORMAL), 4, 64, 13, 0), 120);
    add(l, slot(tp(12, 333, 65, TR_KSKE, SL, 1, TV_TIES), 6, 7, 40, 3), 121);
    add(l, slot(tp(9, 200, 100, TR_LENGTHS, SL, 0, TV_SPECIAL), 1, 1, 150, 0), 122);
    add(l, slot(pads(tp(2, 5000, 100, TR_WHOLE, SL, 1, TV_NORMAL), 5, 2), 2, 16, 300, 1), 123);
    add(l, slot(tp(2, 70000, 7, TR_WHOLE, SL, 1, TV_TIES), 1, 65536, 2, 0), 124);
    add(l, slot(tp(4, 2000, 2048, TR_KSKE, SL, 0, TV_NORMAL), 2, 16, 100, 0), 125);
    /* determinism */
    add(l, (topk_params){.S = 6, .L = 2500, .k = 100, .range = TR_KSKE, .form = A, .values = TV_SPECIAL,
                         .B = 1, .P = 1, .rerun = 1}, 130);
    add(l, (topk_params){.S = 4, .L = 3000, .k = 2048, .range = TR_WHOLE, .form = A, .values = TV_TIES,
                         .B = 1, .P = 1, .rerun = 1}, 131);
}

static void add_full(conf_list *l)
{
    const int A = DSA_TOPK_ABSOLUTE, R = DSA_TOPK_RELATIVE, SL = DSA_TOPK_SLOT;
    add(l, pads(tp(16, 131072, 2048, TR_KSKE, A, 0, TV_SPECIAL), 7, 3), 201);
    add(l, tp(8, 262144, 2048, TR_WHOLE, A, 1, TV_NORMAL), 202);
    add(l, tp(4, 262144, 2048, TR_WHOLE, A, 0, TV_TIES), 203);
    add(l, tp(64, 32768, 2048, TR_LENGTHS, R, 0, TV_TIES), 204);
    add(l, tp(64, 16384, 2048, TR_KSKE, R, 1, TV_SPECIAL), 205);
    add(l, slot(tp(64, 131072, 2048, TR_WHOLE, SL, 0, TV_NORMAL), 32, 64, 1800, 0), 206);
    add(l, slot(tp(16, 100000, 2048, TR_KSKE, SL, 1, TV_SPECIAL), 16, 61, 2000, 5), 207);
    add(l, tp(33, 10000, 1000, TR_KSKE, A, 1, TV_NORMAL), 208);
    add(l, (topk_params){.S = 16, .L = 131072, .k = 2048, .range = TR_KSKE, .form = A, .values = TV_SPECIAL,
                         .B = 1, .P = 1, .rerun = 1}, 209);
}

void conf_cases_topk(conf_list *l, int quick)
{
    add_quick(l);
    if (!quick) add_full(l);
}
