/* Conformance cases for sparse MLA: dsa_sparse_mla_prefill (bf16 kv) and dsa_sparse_mla_decode
 * (paged 656-byte FP8 cache), checked against the fp64 oracle with the bars of docs/ops.md
 * ("Accuracy"), built the way the production suites build theirs: every kv row that no used, valid
 * index selects holds NaN (a kernel that reads one fails), invalid sentinels of every kind, padded
 * strides, duplicates, rows with no valid entry, topk_length and a sink. Outputs are pre-filled
 * with a byte pattern that the bytes outside each view must keep (a kernel never writes there). */
#include "conformance.h"
#include "host.h"
#include "oracle_attn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DV 512         /* V dims: the latent part of every kv row */
#define OUT_FILL 0xEE  /* pre-fill of output buffers; the padding must still hold it afterwards */

/* Helpers of this family only; the shared ones (host views, encoders, the bag) are in host.c. */

static void put_f32(uint8_t *p, float f) { memcpy(p, &f, 4); }

static void hv_unpack(const uint8_t *img, const hview *v, void *packed)
{
    for (int64_t i = 0; i < hv_numel(v); i++)
        memcpy((uint8_t *)packed + i * v->es, img + hv_at(v, i), v->es);
}

/* An output buffer filled with OUT_FILL, recorded in the bag. */
static dsa_buffer *bag_output(bag *g, dsa_context *ctx, const hview *v, conf_result *r,
                              const char *what)
{
    dsa_buffer *b = NULL;
    dsa_status st = g->nd < 16 ? conf_alloc_filled(ctx, hv_capacity(v), OUT_FILL, &b)
                               : DSA_ERROR_INTERNAL;
    if (st != DSA_SUCCESS) {
        case_report(r, st, what);
        return NULL;
    }
    g->dev[g->nd++] = b;
    return b;
}

/* An output read back: the raw image (for the padding check and reruns) and the element bytes. */
typedef struct outv {
    hview v;
    dsa_buffer *buf;
    uint8_t *img, *img2; /* first and second run */
    void *packed;
} outv;

static int out_read(outv *o, int second, conf_result *r)
{
    dsa_status st = dsa_buffer_read(o->buf, 0, second ? o->img2 : o->img, hv_capacity(&o->v));
    if (st != DSA_SUCCESS) {
        case_report(r, st, "reading an output");
        return 0;
    }
    if (!second)
        hv_unpack(o->img, &o->v, o->packed);
    return 1;
}

static int out_make(outv *o, bag *g, dsa_context *ctx, conf_result *r, const char *what)
{
    uint64_t cap = hv_capacity(&o->v);
    o->img = bag_alloc(g, cap);
    o->img2 = bag_alloc(g, cap);
    o->packed = bag_alloc(g, (size_t)hv_numel(&o->v) * o->v.es);
    if (g->oom) {
        conf_fail(r, "out of host memory");
        return 0;
    }
    o->buf = bag_output(g, ctx, &o->v, r, what);
    return o->buf != NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Index generation, shared by prefill (rows of kv) and decode (cache slots).
 * ------------------------------------------------------------------------------------------- */

/* The rows that used entries may pick ("pool", about 3/5 of them) and the rows that only unused
 * entries (past topk_length) point at: the latter are never selected, hence always NaN. */
typedef struct pools {
    int32_t *pick, *nan;
    int64_t npick, nnan;
} pools;

static int make_pools(bag *b, conf_rng *g, int64_t n, pools *p)
{
    int32_t *perm = bag_alloc(b, (size_t)(n ? n : 1) * 4);
    if (!perm)
        return 0;
    for (int64_t i = 0; i < n; i++)
        perm[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = conf_rng_int(g, 0, i);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    p->npick = n > 1 ? n * 3 / 5 : n;
    p->pick = perm;
    p->nan = perm + p->npick;
    p->nnan = n - p->npick;
    return 1;
}

/* topk_length of row i: every clamping situation of docs/ops.md in turn. */
static int32_t gen_length(int64_t i, int topk, conf_rng *g)
{
    switch (i % 7) {
    case 0: return topk;
    case 1: return (int32_t)conf_rng_int(g, 0, topk);
    case 2: return 0;
    case 3: return i % 2 ? topk + 7 : INT32_MAX;
    case 4: return i % 2 ? -3 : INT32_MIN;
    case 5: return (int32_t)conf_rng_int(g, 1, topk);
    default: return topk - 1;
    }
}

/* One index row. The first `used` entries mix pool rows, duplicates of earlier picks (they count
 * twice) and invalid sentinels; an `empty` row has only sentinels there. Entries past `used` name
 * never-selected NaN rows, so a kernel that ignores topk_length reads NaN. */
static void gen_index_row(conf_rng *g, const pools *pl, int64_t n, int topk, int64_t used, int empty,
                          int32_t *idx)
{
    const int32_t sent[6] = {-1, INT32_MIN, (int32_t)n, INT32_MAX, -2, (int32_t)(n + 1)};
    for (int64_t t = 0; t < topk; t++) {
        double u = conf_rng_uniform(g);
        if (t >= used)
            idx[t] = pl->nnan && u < 0.8 ? pl->nan[conf_rng_int(g, 0, pl->nnan - 1)]
                                         : sent[conf_rng_int(g, 0, 5)];
        else if (empty || u < 0.15 || pl->npick == 0)
            idx[t] = sent[conf_rng_int(g, 0, 5)];
        else if (u < 0.25 && t > 0) {
            int32_t prev = idx[conf_rng_int(g, 0, t - 1)];
            idx[t] = prev >= 0 && prev < n ? prev : pl->pick[conf_rng_int(g, 0, pl->npick - 1)];
        } else
            idx[t] = pl->pick[conf_rng_int(g, 0, pl->npick - 1)];
    }
}

/* Marks the rows selected by the used, valid entries of `rows` index rows. */
static void mark_selected(const int32_t *idx, int64_t rows, int topk, const int32_t *len,
                          int64_t n, uint8_t *sel)
{
    for (int64_t i = 0; i < rows; i++) {
        int64_t used = len ? (len[i] < 0 ? 0 : len[i] > topk ? topk : len[i]) : topk;
        for (int64_t t = 0; t < used; t++) {
            int32_t x = idx[i * topk + t];
            if (x >= 0 && x < n)
                sel[x] = 1;
        }
    }
}

static void gen_bf16(conf_rng *g, int64_t n, double mag, uint16_t *raw, double *val)
{
    for (int64_t i = 0; i < n; i++) {
        raw[i] = conf_double_to_bf16(conf_rng_normal(g) * mag);
        val[i] = conf_bf16_to_double(raw[i]);
    }
}

/* Sinks near the typical lse, so that they change the output noticeably. */
static void gen_sink(conf_rng *g, int Hq, float *raw, double *val)
{
    for (int h = 0; h < Hq; h++) {
        raw[h] = (float)(conf_rng_uniform(g) * 10.0 - 1.0);
        val[h] = raw[h];
    }
}

static void bf16_to_doubles(const uint16_t *raw, int64_t n, double *val)
{
    for (int64_t i = 0; i < n; i++)
        val[i] = conf_bf16_to_double(raw[i]);
}

static void f32_to_doubles(const float *raw, int64_t n, double *val)
{
    for (int64_t i = 0; i < n; i++)
        val[i] = raw[i];
}

/* The metrics both forms share: out against its bar, lse (and max_logits) against theirs, the
 * inf/NaN pattern, untouched padding. lse/ml may be NULL when that output is absent. */
typedef struct bars {
    double out_abs, out_rel, out_diff, lse_abs, lse_rel;
} bars;

static void check_outputs(conf_result *r, const bars *b, int64_t nout, const double *ref_out,
                          const double *got_out, int64_t nrow, const double *ref_lse,
                          const double *got_lse, const double *ref_ml, const double *got_ml,
                          int64_t pad_changed)
{
    size_t pm = 0, pm_all = 0;
    int64_t first;
    double e = conf_elem_error(ref_out, got_out, (size_t)nout, b->out_abs, b->out_rel, &pm, &first);
    pm_all += pm;
    if (first >= 0)
        conf_fail(r, "out[%lld]: ref %.9g got %.9g", (long long)first, ref_out[first], got_out[first]);
    conf_metric_add(r, "out elem", e, 1.0);
    conf_metric_add(r, "diff(out)", conf_diff(ref_out, got_out, (size_t)nout), b->out_diff);
    if (ref_lse) {
        e = conf_elem_error(ref_lse, got_lse, (size_t)nrow, b->lse_abs, b->lse_rel, &pm, &first);
        pm_all += pm;
        if (first >= 0)
            conf_fail(r, "lse[%lld]: ref %.9g got %.9g", (long long)first, ref_lse[first], got_lse[first]);
        conf_metric_add(r, "lse elem", e, 1.0);
    }
    if (ref_ml) {
        e = conf_elem_error(ref_ml, got_ml, (size_t)nrow, b->lse_abs, b->lse_rel, &pm, &first);
        pm_all += pm;
        if (first >= 0)
            conf_fail(r, "max_logits[%lld]: ref %.9g got %.9g", (long long)first, ref_ml[first],
                      got_ml[first]);
        conf_metric_add(r, "max_logits elem", e, 1.0);
    }
    conf_metric_add(r, "inf/NaN pattern mismatches", (double)pm_all, 0);
    conf_metric_add(r, "padding bytes changed", (double)pad_changed, 0);
}

/* =============================================================================================
 * 3. Prefill: dsa_sparse_mla_prefill
 * =========================================================================================== */
typedef struct smp_params {
    int S, Hq, Dqk, Skv, topk;
    float sm_scale;
    int lens;  /* topk_length given */
    int sink;  /* attn_sink given */
    int pad;   /* padded strides and view offsets */
    int outs;  /* bit 0: max_logits given, bit 1: lse given */
    int empty; /* every fifth row has no valid entry */
    int rerun;
} smp_params;

typedef struct smp_host {
    uint16_t *q, *kv;
    int32_t *idx, *len;
    float *sink;
    double *qv, *kvv, *sinkv;
} smp_host;

static int smp_generate(const smp_params *p, conf_rng *g, bag *b, smp_host *h)
{
    int64_t S = p->S, Skv = p->Skv, nq = S * p->Hq * p->Dqk, nkv = Skv * p->Dqk;
    pools pl;
    h->q = bag_alloc(b, (size_t)nq * 2);
    h->kv = bag_alloc(b, (size_t)nkv * 2);
    h->idx = bag_alloc(b, (size_t)(S * p->topk) * 4);
    h->len = bag_alloc(b, (size_t)S * 4);
    h->sink = bag_alloc(b, (size_t)p->Hq * 4);
    h->qv = bag_alloc(b, (size_t)nq * 8);
    h->kvv = bag_alloc(b, (size_t)nkv * 8);
    h->sinkv = bag_alloc(b, (size_t)p->Hq * 8);
    uint8_t *sel = bag_alloc(b, (size_t)Skv + 1);
    if (b->oom || !make_pools(b, g, Skv, &pl))
        return 0;
    gen_bf16(g, nq, 1.0, h->q, h->qv);
    for (int64_t i = 0; i < S; i++) {
        h->len[i] = p->lens ? gen_length(i, p->topk, g) : p->topk;
        int64_t used = h->len[i] < 0 ? 0 : h->len[i] > p->topk ? p->topk : h->len[i];
        gen_index_row(g, &pl, Skv, p->topk, used, p->empty && i % 5 == 2, h->idx + i * p->topk);
    }
    mark_selected(h->idx, S, p->topk, p->lens ? h->len : NULL, Skv, sel);
    /* Selected rows hold N(0,1) values; every other row is NaN (bf16 0x7FC0). */
    for (int64_t j = 0; j < Skv; j++) {
        uint16_t *row = h->kv + j * p->Dqk;
        if (sel[j]) {
            gen_bf16(g, p->Dqk, 1.0, row, h->kvv + j * p->Dqk);
            continue;
        }
        for (int d = 0; d < p->Dqk; d++)
            row[d] = 0x7FC0;
        bf16_to_doubles(row, p->Dqk, h->kvv + j * p->Dqk);
    }
    gen_sink(g, p->Hq, h->sink, h->sinkv);
    return 1;
}

typedef struct smp_views {
    hview q, kv, idx, len, sink;
    outv out, ml, lse;
} smp_views;

static void smp_layout(const smp_params *p, smp_views *v)
{
    int pad = p->pad;
    uint64_t off = pad ? 256 : 0, ooff = pad ? 128 : 0;
    v->q = hv_make(off, 2, 3, (int64_t[]){p->S, p->Hq, p->Dqk}, (int64_t[]){pad ? 40 : 0, pad ? 8 : 0});
    v->kv = hv_make(off, 2, 3, (int64_t[]){p->Skv, 1, p->Dqk}, (int64_t[]){pad ? 24 : 0, 0});
    v->idx = hv_make(off, 4, 3, (int64_t[]){p->S, 1, p->topk}, (int64_t[]){pad ? 5 : 0, 0});
    v->len = hv_make(off, 4, 1, (int64_t[]){p->S}, NULL);
    v->sink = hv_make(off, 4, 1, (int64_t[]){p->Hq}, NULL);
    v->out.v = hv_make(ooff, 2, 3, (int64_t[]){p->S, p->Hq, DV}, (int64_t[]){pad ? 16 : 0, pad ? 8 : 0});
    v->ml.v = hv_make(ooff, 4, 2, (int64_t[]){p->S, p->Hq}, (int64_t[]){pad ? 3 : 0});
    v->lse.v = hv_make(ooff, 4, 2, (int64_t[]){p->S, p->Hq}, (int64_t[]){pad ? 3 : 0});
}

static const uint16_t NAN_BF16 = 0x7FC0;
static const uint32_t NAN_F32 = 0x7FC00000u;
static const int32_t BAD_I32 = INT32_MIN; /* padding of int32 inputs: an absurd value */

/* Uploads the inputs and makes the outputs; fills the op's argument struct. */
static int smp_setup(dsa_context *ctx, const smp_params *p, const smp_host *h, smp_views *v,
                     bag *b, conf_result *r, dsa_sparse_mla_prefill_args *a)
{
    dsa_buffer *bq = upload_view(b, ctx, &v->q, h->q, &NAN_BF16, r, "q");
    dsa_buffer *bkv = bq ? upload_view(b, ctx, &v->kv, h->kv, &NAN_BF16, r, "kv") : NULL;
    dsa_buffer *bi = bkv ? upload_view(b, ctx, &v->idx, h->idx, &BAD_I32, r, "indices") : NULL;
    dsa_buffer *bl = bi ? upload_view(b, ctx, &v->len, h->len, &BAD_I32, r, "topk_length") : NULL;
    dsa_buffer *bs = bl ? upload_view(b, ctx, &v->sink, h->sink, &NAN_F32, r, "attn_sink") : NULL;
    if (!bs || !out_make(&v->out, b, ctx, r, "out") || !out_make(&v->ml, b, ctx, r, "max_logits") ||
        !out_make(&v->lse, b, ctx, r, "lse"))
        return 0;
    memset(a, 0, sizeof *a);
    a->q = hv_tensor(bq, &v->q, DSA_BF16);
    a->kv = hv_tensor(bkv, &v->kv, DSA_BF16);
    a->indices = hv_tensor(bi, &v->idx, DSA_INT32);
    a->topk_length = p->lens ? hv_tensor(bl, &v->len, DSA_INT32) : dsa_tensor_none();
    a->attn_sink = p->sink ? hv_tensor(bs, &v->sink, DSA_FP32) : dsa_tensor_none();
    a->out = hv_tensor(v->out.buf, &v->out.v, DSA_BF16);
    a->max_logits = p->outs & 1 ? hv_tensor(v->ml.buf, &v->ml.v, DSA_FP32) : dsa_tensor_none();
    a->lse = p->outs & 2 ? hv_tensor(v->lse.buf, &v->lse.v, DSA_FP32) : dsa_tensor_none();
    a->sm_scale = p->sm_scale;
    return 1;
}

/* Padding bytes changed over all outputs (an absent output's buffer must stay untouched too). */
static int64_t pad_changed3(const outv *o[], int n)
{
    int64_t t = 0;
    for (int i = 0; i < n; i++)
        t += hv_pad_changed(o[i]->img, hv_capacity(&o[i]->v), &o[i]->v, OUT_FILL);
    return t;
}

static int64_t rerun_diff(const outv *o[], int n)
{
    int64_t t = 0;
    for (int i = 0; i < n; i++)
        t += bytes_differ(o[i]->img, o[i]->img2, hv_capacity(&o[i]->v));
    return t;
}

static void smp_run(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    smp_params p;
    memcpy(&p, c->params, sizeof p);
    conf_rng g = conf_rng_make(c->seed);
    bag b;
    memset(&b, 0, sizeof b);
    smp_host h;
    smp_views v;
    dsa_sparse_mla_prefill_args a;
    smp_layout(&p, &v);
    if (!smp_generate(&p, &g, &b, &h)) {
        conf_fail(r, "out of host memory");
        goto done;
    }
    if (!smp_setup(ctx, &p, &h, &v, &b, r, &a))
        goto done;
    int64_t nrow = (int64_t)p.S * p.Hq, nout = nrow * DV;
    double *ref = bag_alloc(&b, (size_t)(nout + 4 * nrow) * 8);
    double *got = bag_alloc(&b, (size_t)(nout + 4 * nrow) * 8);
    if (b.oom) {
        conf_fail(r, "out of host memory");
        goto done;
    }
    const outv *outs[3] = {&v.out, &v.ml, &v.lse};
    dsa_status st = dsa_sparse_mla_prefill(ctx, &a, NULL);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "dsa_sparse_mla_prefill");
        goto done;
    }
    if (!out_read(&v.out, 0, r) || !out_read(&v.ml, 0, r) || !out_read(&v.lse, 0, r))
        goto done;
    /* ref/got hold out, then max_logits, then lse. */
    oracle_sparse_mla(p.S, p.Hq, p.Dqk, DV, p.Skv, p.topk, h.qv, h.kvv, h.idx,
                      p.lens ? h.len : NULL, p.sink ? h.sinkv : NULL, p.sm_scale, ref, ref + nout,
                      ref + nout + nrow);
    bf16_to_doubles(v.out.packed, nout, got);
    f32_to_doubles(v.ml.packed, nrow, got + nout);
    f32_to_doubles(v.lse.packed, nrow, got + nout + nrow);
    bars bar = {8e-4, 3.01 / 128, 7e-6, 1e-6, 2.01 / 65536};
    check_outputs(r, &bar, nout, ref, got, nrow, p.outs & 2 ? ref + nout + nrow : NULL,
                  got + nout + nrow, p.outs & 1 ? ref + nout : NULL, got + nout,
                  pad_changed3(outs, 3));
    if (p.rerun) {
        st = dsa_sparse_mla_prefill(ctx, &a, NULL);
        if (st != DSA_SUCCESS) {
            case_report(r, st, "rerun");
            goto done;
        }
        if (!out_read(&v.out, 1, r) || !out_read(&v.ml, 1, r) || !out_read(&v.lse, 1, r))
            goto done;
        conf_metric_add(r, "rerun bit mismatches", (double)rerun_diff(outs, 3), 0);
    }
    conf_finish(r);
done:
    bag_free(&b);
}

/* =============================================================================================
 * 4. Decode: dsa_sparse_mla_decode over the paged 656-byte FP8 cache
 * =========================================================================================== */
#define DQK 576
#define TOKEN 656

typedef struct smd_params {
    int B, Sq, Hq, P, num_pages, topk;
    float sm_scale;
    int lens, sink, pad;
    int lse;   /* lse output given */
    int empty; /* some query rows with no valid entry */
    int rerun;
} smd_params;

typedef struct smd_host {
    uint16_t *q;
    uint8_t *cache;
    int32_t *idx, *len, *qlen; /* qlen: topk_length expanded per query for the oracle */
    float *sink;
    double *qv, *kvv, *sinkv;
    uint64_t tok_stride, page_stride, cache_bytes;
} smd_host;

/* One token's 656 bytes: 512 latent values quantized in 4 groups (magnitudes differ per group so
 * the scales do), 4 fp32 scales, 64 bf16 rope values; row gets the dequantized 576 values. */
static void smd_token(conf_rng *g, uint8_t *tok, double *row)
{
    double x[128];
    for (int grp = 0; grp < 4; grp++) {
        double mag = ldexp(1.0, (int)conf_rng_int(g, -3, 2));
        for (int d = 0; d < 128; d++)
            x[d] = conf_rng_normal(g) * mag;
        double s = quant_group(x, 128, tok + 128 * grp);
        put_f32(tok + 512 + 4 * grp, (float)s);
        for (int d = 0; d < 128; d++)
            row[128 * grp + d] = conf_fp8_to_double(tok[128 * grp + d]) * s;
    }
    for (int d = 0; d < 64; d++) {
        uint16_t bits = conf_double_to_bf16(conf_rng_normal(g));
        memcpy(tok + 528 + 2 * d, &bits, 2);
        row[512 + d] = conf_bf16_to_double(bits);
    }
}

/* An unselected token: NaN everywhere (fp8 0x7F, NaN scales, bf16 NaN rope). */
static void smd_nan_token(uint8_t *tok, double *row)
{
    memset(tok, 0x7F, 512);
    for (int grp = 0; grp < 4; grp++)
        put_f32(tok + 512 + 4 * grp, NAN);
    for (int d = 0; d < 64; d++)
        memcpy(tok + 528 + 2 * d, &NAN_BF16, 2);
    for (int d = 0; d < DQK; d++)
        row[d] = NAN;
}

static int smd_generate(const smd_params *p, conf_rng *g, bag *b, smd_host *h)
{
    int64_t Q = (int64_t)p->B * p->Sq, nq = Q * p->Hq * DQK, slots = (int64_t)p->num_pages * p->P;
    pools pl;
    h->tok_stride = TOKEN + (p->pad ? 16 : 0);
    h->page_stride = h->tok_stride * (uint64_t)p->P + (p->pad ? 48 : 0);
    h->cache_bytes = h->page_stride * (uint64_t)p->num_pages;
    h->q = bag_alloc(b, (size_t)nq * 2);
    h->qv = bag_alloc(b, (size_t)nq * 8);
    h->cache = bag_alloc(b, h->cache_bytes);
    h->kvv = bag_alloc(b, (size_t)(slots * DQK) * 8);
    h->idx = bag_alloc(b, (size_t)(Q * p->topk) * 4);
    h->len = bag_alloc(b, (size_t)p->B * 4);
    h->qlen = bag_alloc(b, (size_t)Q * 4);
    h->sink = bag_alloc(b, (size_t)p->Hq * 4);
    h->sinkv = bag_alloc(b, (size_t)p->Hq * 8);
    uint8_t *sel = bag_alloc(b, (size_t)slots + 1);
    if (b->oom || !make_pools(b, g, slots, &pl))
        return 0;
    gen_bf16(g, nq, 1.0, h->q, h->qv);
    for (int bi = 0; bi < p->B; bi++) {
        /* B is at most 4: spread the batches over gen_length's situations by topk as well. */
        h->len[bi] = p->lens ? gen_length(bi * 3 + p->topk, p->topk, g) : p->topk;
        int64_t used = h->len[bi] < 0 ? 0 : h->len[bi] > p->topk ? p->topk : h->len[bi];
        for (int s = 0; s < p->Sq; s++) {
            int64_t qi = (int64_t)bi * p->Sq + s;
            h->qlen[qi] = h->len[bi];
            gen_index_row(g, &pl, slots, p->topk, used, p->empty && qi % 3 == 1,
                          h->idx + qi * p->topk);
        }
    }
    mark_selected(h->idx, Q, p->topk, p->lens ? h->qlen : NULL, slots, sel);
    memset(h->cache, 0x7F, h->cache_bytes); /* padding between tokens and pages */
    for (int64_t s = 0; s < slots; s++) {
        uint8_t *tok = h->cache + (uint64_t)(s / p->P) * h->page_stride +
                       (uint64_t)(s % p->P) * h->tok_stride;
        if (sel[s])
            smd_token(g, tok, h->kvv + s * DQK);
        else
            smd_nan_token(tok, h->kvv + s * DQK);
    }
    gen_sink(g, p->Hq, h->sink, h->sinkv);
    return 1;
}

typedef struct smd_views {
    hview q, cache, idx, len, sink;
    outv out, lse;
} smd_views;

static void smd_layout(const smd_params *p, const smd_host *h, smd_views *v)
{
    int pad = p->pad;
    uint64_t off = pad ? 256 : 0, ooff = pad ? 128 : 0;
    v->q = hv_make(off, 2, 4, (int64_t[]){p->B, p->Sq, p->Hq, DQK},
                   (int64_t[]){pad ? 32 : 0, pad ? 16 : 0, pad ? 8 : 0});
    v->cache = hv_make(0, 1, 3, (int64_t[]){p->num_pages, p->P, TOKEN}, NULL);
    v->cache.strides[1] = (int64_t)h->tok_stride;
    v->cache.strides[0] = (int64_t)h->page_stride;
    v->idx = hv_make(off, 4, 3, (int64_t[]){p->B, p->Sq, p->topk}, (int64_t[]){pad ? 7 : 0, pad ? 3 : 0});
    v->len = hv_make(off, 4, 1, (int64_t[]){p->B}, NULL);
    v->sink = hv_make(off, 4, 1, (int64_t[]){p->Hq}, NULL);
    v->out.v = hv_make(ooff, 2, 4, (int64_t[]){p->B, p->Sq, p->Hq, DV},
                       (int64_t[]){pad ? 16 : 0, pad ? 8 : 0, pad ? 8 : 0});
    v->lse.v = hv_make(ooff, 4, 3, (int64_t[]){p->B, p->Hq, p->Sq}, (int64_t[]){pad ? 2 : 0, pad ? 1 : 0});
}

static int smd_setup(dsa_context *ctx, const smd_params *p, const smd_host *h, smd_views *v,
                     bag *b, conf_result *r, dsa_sparse_mla_decode_args *a)
{
    dsa_buffer *bq = upload_view(b, ctx, &v->q, h->q, &NAN_BF16, r, "q");
    dsa_buffer *bc = bq ? bag_upload(b, ctx, h->cache, h->cache_bytes, r, "kv_cache") : NULL;
    dsa_buffer *bi = bc ? upload_view(b, ctx, &v->idx, h->idx, &BAD_I32, r, "indices") : NULL;
    dsa_buffer *bl = bi ? upload_view(b, ctx, &v->len, h->len, &BAD_I32, r, "topk_length") : NULL;
    dsa_buffer *bs = bl ? upload_view(b, ctx, &v->sink, h->sink, &NAN_F32, r, "attn_sink") : NULL;
    if (!bs || !out_make(&v->out, b, ctx, r, "out") || !out_make(&v->lse, b, ctx, r, "lse"))
        return 0;
    memset(a, 0, sizeof *a);
    a->q = hv_tensor(bq, &v->q, DSA_BF16);
    a->kv_cache = hv_tensor(bc, &v->cache, DSA_UINT8);
    a->indices = hv_tensor(bi, &v->idx, DSA_INT32);
    a->topk_length = p->lens ? hv_tensor(bl, &v->len, DSA_INT32) : dsa_tensor_none();
    a->attn_sink = p->sink ? hv_tensor(bs, &v->sink, DSA_FP32) : dsa_tensor_none();
    a->out = hv_tensor(v->out.buf, &v->out.v, DSA_BF16);
    a->lse = p->lse ? hv_tensor(v->lse.buf, &v->lse.v, DSA_FP32) : dsa_tensor_none();
    a->sm_scale = p->sm_scale;
    return 1;
}

static void smd_run(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    smd_params p;
    memcpy(&p, c->params, sizeof p);
    conf_rng g = conf_rng_make(c->seed);
    bag b;
    memset(&b, 0, sizeof b);
    smd_host h;
    smd_views v;
    dsa_sparse_mla_decode_args a;
    if (!smd_generate(&p, &g, &b, &h)) {
        conf_fail(r, "out of host memory");
        goto done;
    }
    smd_layout(&p, &h, &v);
    if (!smd_setup(ctx, &p, &h, &v, &b, r, &a))
        goto done;
    int64_t Q = (int64_t)p.B * p.Sq, nrow = Q * p.Hq, nout = nrow * DV;
    double *ref = bag_alloc(&b, (size_t)(nout + 2 * nrow) * 8);
    double *got = bag_alloc(&b, (size_t)(nout + 2 * nrow) * 8);
    if (b.oom) {
        conf_fail(r, "out of host memory");
        goto done;
    }
    const outv *outs[2] = {&v.out, &v.lse};
    dsa_status st = dsa_sparse_mla_decode(ctx, &a, NULL);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "dsa_sparse_mla_decode");
        goto done;
    }
    if (!out_read(&v.out, 0, r) || !out_read(&v.lse, 0, r))
        goto done;
    double *ref_ml = ref + nout, *ref_lse = ref + nout + nrow;
    oracle_sparse_mla(Q, p.Hq, DQK, DV, (int64_t)p.num_pages * p.P, p.topk, h.qv, h.kvv, h.idx,
                      p.lens ? h.qlen : NULL, p.sink ? h.sinkv : NULL, p.sm_scale, ref, ref_ml, ref_lse);
    bf16_to_doubles(v.out.packed, nout, got);
    /* lse comes back as [B, Hq, Sq]; the oracle's is [B*Sq, Hq]. */
    const float *lse = v.lse.packed;
    for (int64_t bi = 0; bi < p.B; bi++)
        for (int64_t hh = 0; hh < p.Hq; hh++)
            for (int64_t s = 0; s < p.Sq; s++)
                got[nout + (bi * p.Sq + s) * p.Hq + hh] = lse[(bi * p.Hq + hh) * p.Sq + s];
    bars bar = {1e-3, 2.01 / 128, 5e-6, 1e-6, 8.01 / 65536};
    check_outputs(r, &bar, nout, ref, got, nrow, p.lse ? ref_lse : NULL, got + nout, NULL, NULL,
                  pad_changed3(outs, 2));
    if (p.rerun) {
        st = dsa_sparse_mla_decode(ctx, &a, NULL);
        if (st != DSA_SUCCESS) {
            case_report(r, st, "rerun");
            goto done;
        }
        if (!out_read(&v.out, 1, r) || !out_read(&v.lse, 1, r))
            goto done;
        conf_metric_add(r, "rerun bit mismatches", (double)rerun_diff(outs, 2), 0);
    }
    conf_finish(r);
done:
    bag_free(&b);
}

/* =============================================================================================
 * Case lists
 * =========================================================================================== */
/* What is special about a case. Sentinels, duplicates and NaN rows are in every case. */
static void variant_words(char *dst, size_t n, int lens, int sink, int pad, int empty, int rerun,
                          const char *extra)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s%s%s%s%s%s", lens ? "topk_length, " : "", sink ? "sink, " : "",
             pad ? "padded, " : "", empty ? "empty rows, " : "", rerun ? "rerun, " : "", extra);
    snprintf(dst, n, "%.*s", (int)n - 1, tmp);
}

static void add_smp(conf_list *l, smp_params p)
{
    conf_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", dsa_op_name(DSA_OP_SPARSE_MLA_PREFILL));
    snprintf(c.dtype, sizeof c.dtype, "bf16");
    snprintf(c.shape, sizeof c.shape, "S=%d Hq=%d Dqk=%d topk=%d Skv=%d", p.S, p.Hq, p.Dqk, p.topk,
             p.Skv);
    char extra[64];
    snprintf(extra, sizeof extra, "%s%ssm_scale=%g", p.outs & 1 ? "" : "no max_logits, ",
             p.outs & 2 ? "" : "no lse, ", (double)p.sm_scale);
    variant_words(c.variant, sizeof c.variant, p.lens, p.sink, p.pad, p.empty, p.rerun, extra);
    c.run = smp_run;
    c.seed = 0x53A000u + (uint64_t)l->n * 6151u + (uint64_t)p.topk;
    memcpy(c.params, &p, sizeof p);
    conf_list_add(l, &c);
}

static void add_smd(conf_list *l, smd_params p)
{
    conf_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", dsa_op_name(DSA_OP_SPARSE_MLA_DECODE));
    snprintf(c.dtype, sizeof c.dtype, "fp8");
    snprintf(c.shape, sizeof c.shape, "B=%d Sq=%d Hq=%d topk=%d P=%d pages=%d", p.B, p.Sq, p.Hq,
             p.topk, p.P, p.num_pages);
    char extra[64];
    snprintf(extra, sizeof extra, "%ssm_scale=%g", p.lse ? "" : "no lse, ", (double)p.sm_scale);
    variant_words(c.variant, sizeof c.variant, p.lens, p.sink, p.pad, p.empty, p.rerun, extra);
    c.run = smd_run;
    c.seed = 0x53D000u + (uint64_t)l->n * 7717u + (uint64_t)p.topk;
    memcpy(c.params, &p, sizeof p);
    conf_list_add(l, &c);
}

#define V32_SCALE 0.13523f /* DeepSeek-V3.2's sm_scale */
#define ODD_SCALE 0.0371f

static void cases_prefill(conf_list *l, int quick)
{
    /* S, Hq, Dqk, Skv, topk, sm_scale, lens, sink, pad, outs, empty, rerun */
    add_smp(l, (smp_params){1, 16, 576, 1, 1, V32_SCALE, 0, 0, 0, 3, 0, 0});
    add_smp(l, (smp_params){7, 16, 576, 300, 65, V32_SCALE, 1, 1, 1, 3, 1, 0});
    add_smp(l, (smp_params){4, 64, 512, 200, 100, ODD_SCALE, 1, 0, 1, 3, 0, 1});
    add_smp(l, (smp_params){3, 64, 576, 129, 7, V32_SCALE, 0, 1, 0, 1, 1, 0});
    add_smp(l, (smp_params){2, 128, 576, 50, 7, V32_SCALE, 1, 1, 1, 3, 0, 0});
    add_smp(l, (smp_params){5, 16, 512, 1000, 128, ODD_SCALE, 0, 0, 0, 0, 0, 0});
    add_smp(l, (smp_params){8, 16, 576, 20, 1, V32_SCALE, 1, 1, 1, 2, 1, 1});
    add_smp(l, (smp_params){6, 64, 576, 64, 64, 0.2f, 1, 0, 0, 3, 1, 0});
    add_smp(l, (smp_params){9, 64, 576, 700, 257, V32_SCALE, 1, 1, 1, 3, 1, 0});
    if (quick)
        return;
    add_smp(l, (smp_params){16, 128, 576, 8192, 2048, V32_SCALE, 1, 1, 1, 3, 1, 1});
    add_smp(l, (smp_params){16, 64, 512, 4096, 2048, ODD_SCALE, 0, 1, 0, 3, 0, 0});
    add_smp(l, (smp_params){65, 16, 576, 1500, 513, V32_SCALE, 1, 0, 1, 3, 1, 0});
    add_smp(l, (smp_params){33, 128, 576, 3000, 100, V32_SCALE, 1, 1, 0, 1, 0, 0});
}

static void cases_decode(conf_list *l, int quick)
{
    /* B, Sq, Hq, P, pages, topk, sm_scale, lens, sink, pad, lse, empty, rerun */
    add_smd(l, (smd_params){1, 1, 16, 64, 2, 7, V32_SCALE, 0, 0, 0, 1, 0, 0});
    add_smd(l, (smd_params){2, 2, 64, 16, 6, 65, V32_SCALE, 1, 1, 1, 1, 1, 1});
    add_smd(l, (smd_params){2, 1, 128, 64, 2, 5, V32_SCALE, 1, 1, 0, 1, 0, 0});
    add_smd(l, (smd_params){1, 2, 16, 16, 3, 100, ODD_SCALE, 0, 1, 1, 1, 0, 0});
    add_smd(l, (smd_params){3, 1, 64, 64, 3, 64, V32_SCALE, 1, 0, 1, 0, 1, 0});
    add_smd(l, (smd_params){2, 2, 64, 64, 10, 300, V32_SCALE, 1, 1, 1, 1, 0, 0});
    if (quick)
        return;
    add_smd(l, (smd_params){4, 2, 128, 64, 64, 2048, V32_SCALE, 1, 1, 1, 1, 1, 1});
    add_smd(l, (smd_params){2, 1, 64, 16, 200, 1000, ODD_SCALE, 1, 0, 0, 1, 0, 0});
    add_smd(l, (smd_params){4, 2, 16, 64, 40, 777, V32_SCALE, 0, 1, 1, 1, 1, 0});
}

void conf_cases_sparse_mla(conf_list *l, int quick)
{
    cases_prefill(l, quick);
    cases_decode(l, quick);
}
