/* Conformance cases for the lightning indexer: dsa_indexer_logits (prefill) and
 * dsa_indexer_decode_logits (paged decode), checked against the fp64 oracle with the bars of
 * docs/ops.md ("Accuracy"): diff <= 5e-6 over finite entries and the -inf pattern exactly equal.
 *
 * Every case also checks what a kernel must never do: bytes of an output buffer outside its view
 * (padding between rows, bytes before and after the view) must keep their fill pattern, and input
 * bytes that no visible element uses hold NaN so that reading them shows up in the result. */
#include "conformance.h"
#include "host.h"
#include "oracle_attn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IX_D 128
#define OUT_FILL 0xEE  /* pre-fill of output buffers; the padding must still hold it afterwards */

/* ---------------------------------------------------------------------------------------------
 * Byte access to the cache images (the shared helpers are in host.c).
 * ------------------------------------------------------------------------------------------- */

static void put_f32(uint8_t *p, float f) { memcpy(p, &f, 4); }
static float get_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* Counts elements whose class (finite, +inf, -inf, NaN) differs: the -inf pattern check. */
static int64_t class_mismatches(const double *ref, const double *got, int64_t n, int64_t *first)
{
    int64_t bad = 0;
    *first = -1;
    for (int64_t i = 0; i < n; i++) {
        int cr = isnan(ref[i]) ? 3 : isinf(ref[i]) ? (ref[i] > 0 ? 1 : 2) : 0;
        int cg = isnan(got[i]) ? 3 : isinf(got[i]) ? (got[i] > 0 ? 1 : 2) : 0;
        if (cr != cg) {
            if (bad == 0)
                *first = i;
            bad++;
        }
    }
    return bad;
}

/* Reads an fp32 output view back: values (as double), padding check, and the raw image for a
 * determinism comparison. Returns 0 on a read error (reported). */
static int read_f32_view(dsa_buffer *b, const hview *v, double *vals, uint8_t *img,
                         int64_t *pad_changed, conf_result *r)
{
    uint64_t cap = hv_capacity(v);
    dsa_status st = dsa_buffer_read(b, 0, img, cap);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "reading logits");
        return 0;
    }
    for (int64_t i = 0; i < hv_numel(v); i++)
        vals[i] = get_f32(img + hv_at(v, i));
    *pad_changed = hv_pad_changed(img, cap, v, OUT_FILL);
    return 1;
}

/* The common checks of both indexer forms. */
static void check_logits(conf_result *r, const double *ref, const double *got, int64_t rows,
                         int64_t cols, int64_t pad_changed)
{
    int64_t first;
    int64_t n = rows * cols;
    int64_t bad = class_mismatches(ref, got, n, &first);
    if (bad)
        conf_fail(r, "-inf pattern: %lld mismatches, first at [%lld, %lld]: ref %g got %g",
                  (long long)bad, (long long)(first / cols), (long long)(first % cols),
                  ref[first], got[first]);
    conf_metric_add(r, "-inf pattern mismatches", (double)bad, 0);
    conf_metric_add(r, "diff(logits)", conf_diff(ref, got, (size_t)n), 5e-6);
    conf_metric_add(r, "padding bytes changed", (double)pad_changed, 0);
}

/* =============================================================================================
 * 1. Prefill: dsa_indexer_logits
 * =========================================================================================== */
enum { RANGE_CAUSAL, RANGE_EDGES, RANGE_CHUNKS };

typedef struct ix_params {
    dsa_dtype dtype; /* of q and k */
    int S, H, Skv;
    int ranges;      /* RANGE_* */
    int pad;         /* padded strides and view offsets everywhere */
    int scale;       /* k_scale given (always for fp8) */
    int rerun;       /* run twice, require identical bytes */
} ix_params;

/* ks/ke for row i. Edge rows cycle through every clamping situation of docs/ops.md 1. */
static void ix_range(const ix_params *p, int i, conf_rng *g, int32_t *ks, int32_t *ke)
{
    int Skv = p->Skv;
    int causal_end = Skv - p->S + i + 1; /* the chunk sits at the end of the sequence */
    if (p->ranges == RANGE_CAUSAL) {
        *ks = 0;
        *ke = causal_end;
        return;
    }
    if (p->ranges == RANGE_CHUNKS) {
        *ks = (int32_t)conf_rng_int(g, 0, Skv);
        *ke = (int32_t)conf_rng_int(g, *ks, Skv);
        return;
    }
    switch ((i + p->S) % 14) { /* start the cycle at S, so short cases cover different rows */
    case 0: *ks = 0; *ke = causal_end; break;
    case 1: *ks = Skv / 2 + 1; *ke = Skv / 3; break;               /* ks > ke: empty */
    case 2: *ks = *ke = Skv / 2; break;                             /* ks == ke: empty */
    case 3: *ks = -5; *ke = Skv + 9; break;                         /* both clamped */
    case 4: *ks = INT32_MIN; *ke = INT32_MAX; break;                /* the extremes */
    case 5: *ks = INT32_MAX; *ke = INT32_MIN; break;
    case 6: *ks = Skv; *ke = Skv + 5; break;                        /* all beyond Skv */
    case 7: *ks = -7; *ke = -1; break;                              /* all negative */
    case 8: *ks = Skv - 1; *ke = Skv; break;                        /* only the last key */
    case 9: *ks = 0; *ke = 1; break;                                /* only the first key */
    case 10: *ks = (int32_t)conf_rng_int(g, 0, Skv); *ke = (int32_t)conf_rng_int(g, *ks, Skv); break;
    case 11: *ks = Skv + 3; *ke = Skv + 10; break;                  /* ks past Skv: empty */
    case 12: *ks = Skv / 2; *ke = INT32_MAX; break;                 /* ke clamped to Skv */
    default: *ks = -3; *ke = Skv / 2 + 1; break;
    }
}

/* q/k element e (one of n in a group) of dtype dt as raw bytes plus its exact value. For fp8 the
 * caller quantizes whole groups; here only bf16/fp32. */
static void put_float_elem(dsa_dtype dt, double x, uint8_t *raw, double *val)
{
    if (dt == DSA_BF16) {
        uint16_t b = conf_double_to_bf16(x);
        memcpy(raw, &b, 2);
        *val = conf_bf16_to_double(b);
    } else {
        float f = (float)x;
        memcpy(raw, &f, 4);
        *val = f;
    }
}

/* Fills `rows` groups of 128 normals: raw elements, decoded values, and (fp8) the group scales.
 * mag_spread varies each group's magnitude by up to 2^mag_spread so the scales differ. */
static void gen_rows(dsa_dtype dt, int64_t rows, conf_rng *g, double mag_spread, uint8_t *raw,
                     double *val, double *scales)
{
    size_t es = dsa_dtype_size(dt);
    double x[IX_D];
    for (int64_t r = 0; r < rows; r++) {
        double mag = ldexp(1.0, (int)conf_rng_int(g, 0, (int64_t)mag_spread)) * 0.5;
        for (int d = 0; d < IX_D; d++)
            x[d] = conf_rng_normal(g) * mag;
        if (dt == DSA_FP8_E4M3) {
            double s = quant_group(x, IX_D, raw + r * IX_D);
            for (int d = 0; d < IX_D; d++)
                val[r * IX_D + d] = conf_fp8_to_double(raw[r * IX_D + d]);
            if (scales)
                scales[r] = s;
            continue;
        }
        for (int d = 0; d < IX_D; d++)
            put_float_elem(dt, x[d], raw + (r * IX_D + d) * es, &val[r * IX_D + d]);
        if (scales)
            scales[r] = ldexp(1.0, (int)conf_rng_int(g, -3, 3)) * (0.75 + 0.5 * conf_rng_uniform(g));
    }
}

/* A NaN of each element type, for the padding of inputs. */
static const void *nan_elem(dsa_dtype dt)
{
    static const uint8_t f8 = 0x7F;
    static const uint16_t b16 = 0x7FC0;
    static const uint32_t f32 = 0x7FC00000u;
    static const int32_t i32 = INT32_MIN; /* for int32 padding: an absurd value, not NaN */
    switch (dt) {
    case DSA_FP8_E4M3: case DSA_UINT8: return &f8;
    case DSA_BF16: return &b16;
    case DSA_INT32: return &i32;
    default: return &f32;
    }
}

typedef struct ix_host {
    uint8_t *q, *k;
    float *kscale, *w;
    int32_t *ks, *ke;
    double *qv, *kv, *ksv, *wv;
} ix_host;

static int ix_generate(const ix_params *p, conf_rng *g, bag *b, ix_host *h)
{
    size_t es = dsa_dtype_size(p->dtype);
    int64_t S = p->S, H = p->H, Skv = p->Skv;
    h->q = bag_alloc(b, (size_t)(S * H * IX_D) * es);
    h->k = bag_alloc(b, (size_t)(Skv * IX_D) * es);
    h->kscale = bag_alloc(b, (size_t)Skv * 4);
    h->w = bag_alloc(b, (size_t)(S * H) * 4);
    h->ks = bag_alloc(b, (size_t)S * 4);
    h->ke = bag_alloc(b, (size_t)S * 4);
    h->qv = bag_alloc(b, (size_t)(S * H * IX_D) * 8);
    h->kv = bag_alloc(b, (size_t)(Skv * IX_D) * 8);
    h->ksv = bag_alloc(b, (size_t)Skv * 8);
    h->wv = bag_alloc(b, (size_t)(S * H) * 8);
    if (b->oom)
        return 0;
    /* q: each (i, h) row quantized on its own, its scale dropped (V3.2 folds it into weights). */
    gen_rows(p->dtype, S * H, g, 0, h->q, h->qv, NULL);
    gen_rows(p->dtype, Skv, g, 4, h->k, h->kv, h->ksv);
    for (int64_t j = 0; j < Skv; j++)
        h->kscale[j] = (float)h->ksv[j];
    /* weights ~ N(0,1) * H^-1/2 * D^-1/2, as V3.2 scales them; mixed signs make the relu matter. */
    for (int64_t i = 0; i < S * H; i++) {
        h->w[i] = (float)(conf_rng_normal(g) / sqrt((double)H * IX_D));
        h->wv[i] = h->w[i];
    }
    for (int i = 0; i < S; i++)
        ix_range(p, i, g, &h->ks[i], &h->ke[i]);
    return 1;
}

static void ix_run(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    ix_params p;
    memcpy(&p, c->params, sizeof p);
    conf_rng g = conf_rng_make(c->seed);
    bag b;
    memset(&b, 0, sizeof b);
    ix_host h;
    if (!ix_generate(&p, &g, &b, &h))
        goto oom;
    int64_t S = p.S, H = p.H, Skv = p.Skv;
    size_t es = dsa_dtype_size(p.dtype);
    uint64_t off = p.pad ? 256 : 0;
    int64_t pq[2] = {p.pad ? 3 * 128 / (int64_t)es : 0, p.pad ? 64 / (int64_t)es : 0};
    int64_t pk[1] = {p.pad ? 32 : 0}, pw[1] = {p.pad ? 3 : 0}, pl[1] = {p.pad ? 5 : 0};
    hview vq = hv_make(off, es, 3, (int64_t[]){S, H, IX_D}, pq);
    hview vk = hv_make(off, es, 2, (int64_t[]){Skv, IX_D}, pk);
    hview vs = hv_make(off, 4, 1, (int64_t[]){Skv}, NULL);
    hview vw = hv_make(off, 4, 2, (int64_t[]){S, H}, pw);
    hview vks = hv_make(off, 4, 1, (int64_t[]){S}, NULL);
    hview vl = hv_make(p.pad ? 128 : GUARD, 4, 2, (int64_t[]){S, Skv}, pl);

    dsa_indexer_args a;
    memset(&a, 0, sizeof a);
    dsa_buffer *bq = upload_view(&b, ctx, &vq, h.q, nan_elem(p.dtype), r, "q");
    dsa_buffer *bk = bq ? upload_view(&b, ctx, &vk, h.k, nan_elem(p.dtype), r, "k") : NULL;
    dsa_buffer *bs = bk ? upload_view(&b, ctx, &vs, h.kscale, nan_elem(DSA_FP32), r, "k_scale") : NULL;
    dsa_buffer *bw = bs ? upload_view(&b, ctx, &vw, h.w, nan_elem(DSA_FP32), r, "weights") : NULL;
    dsa_buffer *bks = bw ? upload_view(&b, ctx, &vks, h.ks, nan_elem(DSA_INT32), r, "ks") : NULL;
    dsa_buffer *bke = bks ? upload_view(&b, ctx, &vks, h.ke, nan_elem(DSA_INT32), r, "ke") : NULL;
    uint64_t lcap = hv_capacity(&vl);
    dsa_buffer *bl = NULL;
    if (!bke)
        goto done;
    dsa_status st = conf_alloc_filled(ctx, lcap, OUT_FILL, &bl);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "logits buffer");
        goto done;
    }
    b.dev[b.nd++] = bl;
    a.q = hv_tensor(bq, &vq, p.dtype);
    a.k = hv_tensor(bk, &vk, p.dtype);
    a.k_scale = p.scale ? hv_tensor(bs, &vs, DSA_FP32) : dsa_tensor_none();
    a.weights = hv_tensor(bw, &vw, DSA_FP32);
    a.ks = hv_tensor(bks, &vks, DSA_INT32);
    a.ke = hv_tensor(bke, &vks, DSA_INT32);
    a.logits = hv_tensor(bl, &vl, DSA_FP32);

    double *got = bag_alloc(&b, (size_t)(S * Skv) * 8), *ref = bag_alloc(&b, (size_t)(S * Skv) * 8);
    uint8_t *img = bag_alloc(&b, lcap), *img2 = bag_alloc(&b, lcap);
    if (b.oom)
        goto oom;
    st = dsa_indexer_logits(ctx, &a, NULL);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "dsa_indexer_logits");
        goto done;
    }
    int64_t pad_changed;
    if (!read_f32_view(bl, &vl, got, img, &pad_changed, r))
        goto done;
    oracle_indexer_logits(S, H, IX_D, Skv, h.qv, h.kv, p.scale ? h.ksv : NULL, h.wv, h.ks, h.ke, ref);
    check_logits(r, ref, got, S, Skv, pad_changed);
    if (p.rerun) {
        /* Same inputs, same device: the second run must reproduce every byte. */
        st = dsa_indexer_logits(ctx, &a, NULL);
        if (st == DSA_SUCCESS)
            st = dsa_buffer_read(bl, 0, img2, lcap);
        if (st != DSA_SUCCESS) {
            case_report(r, st, "rerun");
            goto done;
        }
        conf_metric_add(r, "rerun bit mismatches", (double)bytes_differ(img, img2, lcap), 0);
    }
    conf_finish(r);
    goto done;
oom:
    conf_fail(r, "out of host memory");
done:
    bag_free(&b);
}

/* =============================================================================================
 * 1b. Decode: dsa_indexer_decode_logits over the paged 132-byte cache
 * =========================================================================================== */
#define ENTRY 132

typedef struct ixd_params {
    int B, N, H, P, M, num_pages, max_pages;
    int32_t lens[4];   /* context_lens[b] */
    int table;         /* 0: distinct pages out of order; 1: shared pages and bad entries */
    int pad;
    int rerun;
} ixd_params;

/* Block table: a shuffled page list, or (table == 1) random pages, repeats included, with about one
 * entry in five outside [0, num_pages) in every form a kernel must survive. */
static void ixd_table(const ixd_params *p, conf_rng *g, int32_t *bt)
{
    const int64_t np = p->num_pages;
    const int32_t bad[5] = {-1, (int32_t)np, INT32_MIN, INT32_MAX, (int32_t)np + 3};
    for (int bi = 0; bi < p->B; bi++) {
        int32_t *row = bt + (int64_t)bi * p->max_pages;
        for (int i = 0; i < p->max_pages; i++)
            row[i] = (int32_t)((i + bi * 3) % np);
        for (int i = p->max_pages - 1; i > 0; i--) { /* Fisher-Yates: pages out of order */
            int j = (int)conf_rng_int(g, 0, i);
            int32_t t = row[i];
            row[i] = row[j];
            row[j] = t;
        }
        if (p->table == 0)
            continue;
        for (int i = 0; i < p->max_pages; i++) {
            if (conf_rng_uniform(g) < 0.2)
                row[i] = bad[conf_rng_int(g, 0, 4)];
            else if (conf_rng_uniform(g) < 0.3)
                row[i] = (int32_t)conf_rng_int(g, 0, np - 1); /* shared with another entry */
        }
    }
}

/* Marks the cache slots some query can see (docs/ops.md 1b); all others become NaN. */
static void ixd_visible(const ixd_params *p, const int32_t *bt, uint8_t *vis)
{
    for (int bi = 0; bi < p->B; bi++) {
        int64_t last = (int64_t)p->lens[bi] - 1; /* the last query's position */
        for (int64_t j = 0; j < p->M && j <= last; j++) {
            int64_t pi = j / p->P;
            if (pi >= p->max_pages)
                break;
            int64_t page = bt[bi * p->max_pages + pi];
            if (page >= 0 && page < p->num_pages)
                vis[page * p->P + j % p->P] = 1;
        }
    }
}

typedef struct ixd_host {
    uint8_t *q, *cache;
    float *w;
    int32_t *bt;
    double *qv, *keys, *scales, *wv;
    uint64_t page_stride, cache_bytes;
} ixd_host;

/* The cache image: visible tokens hold quantized normals and their scale; every other token holds
 * NaN (fp8 0x7F and a NaN scale), and page padding 0x7F bytes. */
static void ixd_cache(const ixd_params *p, conf_rng *g, const uint8_t *vis, ixd_host *h)
{
    const int64_t P = p->P;
    memset(h->cache, 0x7F, h->cache_bytes);
    uint8_t codes[IX_D];
    double x[IX_D];
    for (int64_t slot = 0; slot < (int64_t)p->num_pages * P; slot++) {
        uint8_t *page = h->cache + (uint64_t)(slot / P) * h->page_stride;
        int64_t t = slot % P;
        double mag = ldexp(1.0, (int)conf_rng_int(g, -2, 3));
        for (int d = 0; d < IX_D; d++)
            x[d] = conf_rng_normal(g) * mag;
        double s = quant_group(x, IX_D, codes);
        h->scales[slot] = vis[slot] ? s : NAN;
        for (int d = 0; d < IX_D; d++)
            h->keys[slot * IX_D + d] = vis[slot] ? conf_fp8_to_double(codes[d]) : NAN;
        if (!vis[slot]) {
            put_f32(page + P * IX_D + 4 * t, NAN); /* 7F 7F 7F 7F alone is a finite fp32 */
            continue;
        }
        memcpy(page + t * IX_D, codes, IX_D);
        put_f32(page + P * IX_D + 4 * t, (float)s);
    }
}

static int ixd_generate(const ixd_params *p, conf_rng *g, bag *b, ixd_host *h)
{
    int64_t R = (int64_t)p->B * p->N, H = p->H, slots = (int64_t)p->num_pages * p->P;
    h->page_stride = (uint64_t)p->P * ENTRY + (p->pad ? 40 : 0);
    h->cache_bytes = h->page_stride * (uint64_t)p->num_pages;
    h->q = bag_alloc(b, (size_t)(R * H * IX_D));
    h->qv = bag_alloc(b, (size_t)(R * H * IX_D) * 8);
    h->w = bag_alloc(b, (size_t)(R * H) * 4);
    h->wv = bag_alloc(b, (size_t)(R * H) * 8);
    h->bt = bag_alloc(b, (size_t)(p->B * p->max_pages) * 4);
    h->cache = bag_alloc(b, h->cache_bytes);
    h->keys = bag_alloc(b, (size_t)(slots * IX_D) * 8);
    h->scales = bag_alloc(b, (size_t)slots * 8);
    uint8_t *vis = bag_alloc(b, (size_t)slots);
    if (b->oom)
        return 0;
    gen_rows(DSA_FP8_E4M3, R * H, g, 0, h->q, h->qv, NULL);
    for (int64_t i = 0; i < R * H; i++) {
        h->w[i] = (float)(conf_rng_normal(g) / sqrt((double)H * IX_D));
        h->wv[i] = h->w[i];
    }
    ixd_table(p, g, h->bt);
    ixd_visible(p, h->bt, vis);
    ixd_cache(p, g, vis, h);
    return 1;
}

static void ixd_run(dsa_context *ctx, const conf_case *c, conf_result *r)
{
    ixd_params p;
    memcpy(&p, c->params, sizeof p);
    conf_rng g = conf_rng_make(c->seed);
    bag b;
    memset(&b, 0, sizeof b);
    ixd_host h;
    if (!ixd_generate(&p, &g, &b, &h))
        goto oom;
    int64_t R = (int64_t)p.B * p.N, H = p.H;
    uint64_t off = p.pad ? 512 : 0;
    int64_t pq[3] = {p.pad ? 256 : 0, p.pad ? 128 : 0, p.pad ? 16 : 0};
    int64_t pw[1] = {p.pad ? 1 : 0}, pt[1] = {p.pad ? 2 : 0}, pl[1] = {p.pad ? 3 : 0};
    hview vq = hv_make(off, 1, 4, (int64_t[]){p.B, p.N, H, IX_D}, pq);
    hview vw = hv_make(off, 4, 2, (int64_t[]){R, H}, pw);
    hview vc = hv_make(off, 4, 1, (int64_t[]){p.B}, NULL);
    hview vt = hv_make(off, 4, 2, (int64_t[]){p.B, p.max_pages}, pt);
    hview vl = hv_make(p.pad ? 128 : GUARD, 4, 2, (int64_t[]){R, p.M}, pl);
    /* The cache is one contiguous image: its "view" is [num_pages, P, 132] with the page stride. */
    hview vk = hv_make(0, 1, 3, (int64_t[]){p.num_pages, p.P, ENTRY}, NULL);
    vk.strides[0] = (int64_t)h.page_stride;

    dsa_buffer *bq = upload_view(&b, ctx, &vq, h.q, nan_elem(DSA_FP8_E4M3), r, "q");
    dsa_buffer *bw = bq ? upload_view(&b, ctx, &vw, h.w, nan_elem(DSA_FP32), r, "weights") : NULL;
    dsa_buffer *bc = bw ? upload_view(&b, ctx, &vc, p.lens, nan_elem(DSA_INT32), r, "context_lens") : NULL;
    dsa_buffer *bt = bc ? upload_view(&b, ctx, &vt, h.bt, nan_elem(DSA_INT32), r, "block_table") : NULL;
    dsa_buffer *bk = bt ? bag_upload(&b, ctx, h.cache, h.cache_bytes, r, "k_cache") : NULL;
    uint64_t lcap = hv_capacity(&vl);
    dsa_buffer *bl = NULL;
    if (!bk)
        goto done;
    dsa_status st = conf_alloc_filled(ctx, lcap, OUT_FILL, &bl);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "logits buffer");
        goto done;
    }
    b.dev[b.nd++] = bl;
    dsa_indexer_decode_args a;
    a.q = hv_tensor(bq, &vq, DSA_FP8_E4M3);
    a.k_cache = hv_tensor(bk, &vk, DSA_UINT8);
    a.weights = hv_tensor(bw, &vw, DSA_FP32);
    a.context_lens = hv_tensor(bc, &vc, DSA_INT32);
    a.block_table = hv_tensor(bt, &vt, DSA_INT32);
    a.logits = hv_tensor(bl, &vl, DSA_FP32);

    double *got = bag_alloc(&b, (size_t)(R * p.M) * 8), *ref = bag_alloc(&b, (size_t)(R * p.M) * 8);
    uint8_t *img = bag_alloc(&b, lcap), *img2 = bag_alloc(&b, lcap);
    if (b.oom)
        goto oom;
    st = dsa_indexer_decode_logits(ctx, &a, NULL);
    if (st != DSA_SUCCESS) {
        case_report(r, st, "dsa_indexer_decode_logits");
        goto done;
    }
    int64_t pad_changed;
    if (!read_f32_view(bl, &vl, got, img, &pad_changed, r))
        goto done;
    oracle_indexer_decode_logits(p.B, p.N, H, IX_D, p.M, p.P, p.num_pages, p.max_pages, h.qv,
                                 h.keys, h.scales, h.wv, p.lens, h.bt, ref);
    check_logits(r, ref, got, R, p.M, pad_changed);
    if (p.rerun) {
        st = dsa_indexer_decode_logits(ctx, &a, NULL);
        if (st == DSA_SUCCESS)
            st = dsa_buffer_read(bl, 0, img2, lcap);
        if (st != DSA_SUCCESS) {
            case_report(r, st, "rerun");
            goto done;
        }
        conf_metric_add(r, "rerun bit mismatches", (double)bytes_differ(img, img2, lcap), 0);
    }
    conf_finish(r);
    goto done;
oom:
    conf_fail(r, "out of host memory");
done:
    bag_free(&b);
}

/* =============================================================================================
 * Case lists
 * =========================================================================================== */
static const char *dtype_word(dsa_dtype t)
{
    return t == DSA_FP8_E4M3 ? "fp8" : t == DSA_BF16 ? "bf16" : "fp32";
}

static void add_ix(conf_list *l, dsa_dtype dt, int S, int H, int Skv, int ranges, int pad,
                   int scale, int rerun)
{
    static const char *range_words[] = {"causal", "edge ranges (empty, clamped, INT32 extremes)",
                                        "random chunks"};
    ix_params p = {dt, S, H, Skv, ranges, pad, dt == DSA_FP8_E4M3 ? 1 : scale, rerun};
    conf_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", dsa_op_name(DSA_OP_INDEXER_LOGITS));
    snprintf(c.dtype, sizeof c.dtype, "%s", dtype_word(dt));
    snprintf(c.shape, sizeof c.shape, "S=%d H=%d Skv=%d", S, H, Skv);
    snprintf(c.variant, sizeof c.variant, "%s%s%s%s", range_words[ranges],
             pad ? ", padded strides" : "", dt != DSA_FP8_E4M3 && !p.scale ? ", no k_scale" : "",
             rerun ? ", rerun" : "");
    c.run = ix_run;
    c.seed = 0x1D0000u + (uint64_t)l->n * 7919u + (uint64_t)S * 131u + (uint64_t)Skv;
    memcpy(c.params, &p, sizeof p);
    conf_list_add(l, &c);
}

static void add_ixd(conf_list *l, ixd_params p, const char *what)
{
    conf_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", dsa_op_name(DSA_OP_INDEXER_DECODE_LOGITS));
    snprintf(c.dtype, sizeof c.dtype, "fp8");
    snprintf(c.shape, sizeof c.shape, "B=%d N=%d H=%d P=%d M=%d pages=%d max_pages=%d", p.B, p.N,
             p.H, p.P, p.M, p.num_pages, p.max_pages);
    snprintf(c.variant, sizeof c.variant, "%s%s%s%s", what,
             p.table ? ", shared pages + bad table entries" : ", pages out of order",
             p.pad ? ", padded strides" : "", p.rerun ? ", rerun" : "");
    c.run = ixd_run;
    c.seed = 0x1DD000u + (uint64_t)l->n * 104729u + (uint64_t)p.M;
    memcpy(c.params, &p, sizeof p);
    conf_list_add(l, &c);
}

static void cases_prefill(conf_list *l, int quick)
{
    const dsa_dtype F8 = DSA_FP8_E4M3;
    add_ix(l, F8, 1, 1, 1, RANGE_CAUSAL, 0, 1, 0);
    add_ix(l, F8, 7, 64, 65, RANGE_EDGES, 1, 1, 0);
    add_ix(l, F8, 8, 64, 63, RANGE_CAUSAL, 0, 1, 1);
    add_ix(l, F8, 65, 64, 64, RANGE_CAUSAL, 1, 1, 0);  /* S > Skv: early rows clamp to empty */
    add_ix(l, F8, 24, 1, 129, RANGE_EDGES, 0, 1, 0);
    add_ix(l, F8, 13, 64, 200, RANGE_CHUNKS, 1, 1, 1);
    add_ix(l, F8, 3, 64, 0, RANGE_EDGES, 0, 1, 0);    /* Skv = 0: nothing to write */
    add_ix(l, F8, 0, 64, 5, RANGE_CAUSAL, 1, 1, 0);   /* S = 0 */
    add_ix(l, DSA_BF16, 7, 64, 65, RANGE_EDGES, 1, 1, 0);
    add_ix(l, DSA_BF16, 9, 1, 8, RANGE_CAUSAL, 1, 0, 0);
    add_ix(l, DSA_FP32, 12, 64, 65, RANGE_EDGES, 0, 0, 1);
    add_ix(l, DSA_FP32, 3, 64, 130, RANGE_CHUNKS, 1, 1, 0);
    add_ix(l, F8, 4, 128, 64, RANGE_EDGES, 1, 1, 0); /* H = 128, kept tiny for quick mode */
    add_ix(l, F8, 64, 64, 257, RANGE_EDGES, 1, 1, 0); /* every edge range, one key past 256 */
    if (quick)
        return;
    add_ix(l, F8, 64, 128, 1024, RANGE_CAUSAL, 0, 1, 1);
    add_ix(l, F8, 65, 128, 513, RANGE_EDGES, 1, 1, 0);
    add_ix(l, F8, 128, 64, 2048, RANGE_CHUNKS, 1, 1, 0);
    add_ix(l, F8, 63, 64, 4097, RANGE_CAUSAL, 0, 1, 0);
    add_ix(l, DSA_BF16, 64, 128, 777, RANGE_EDGES, 1, 1, 1);
    add_ix(l, DSA_FP32, 33, 128, 1000, RANGE_CHUNKS, 1, 0, 0);
}

static void cases_decode(conf_list *l, int quick)
{
    /* B, N, H, P, M, pages, max_pages, lens, table, pad, rerun */
    add_ixd(l, (ixd_params){1, 1, 64, 64, 64, 2, 1, {64}, 0, 0, 0}, "one full page");
    add_ixd(l, (ixd_params){2, 2, 64, 16, 48, 8, 3, {37, 1}, 0, 1, 0}, "P does not divide the lengths");
    add_ixd(l, (ixd_params){4, 4, 64, 16, 70, 9, 4, {0, 3, 37, 200}, 1, 1, 1},
            "context 0, 3, 37 and > M and > mapped");
    add_ixd(l, (ixd_params){3, 3, 1, 64, 130, 4, 3, {130, 65, INT32_MAX}, 1, 0, 0},
            "context INT32_MAX");
    add_ixd(l, (ixd_params){2, 1, 64, 1, 9, 12, 9, {9, -5}, 1, 1, 0}, "P = 1, negative context");
    add_ixd(l, (ixd_params){2, 2, 64, 64, 150, 3, 2, {150, INT32_MIN}, 0, 0, 0},
            "M past the mapped pages, context INT32_MIN");
    add_ixd(l, (ixd_params){1, 4, 128, 16, 40, 3, 3, {40}, 1, 0, 0}, "H = 128");
    if (quick)
        return;
    add_ixd(l, (ixd_params){4, 2, 64, 64, 1000, 40, 16, {1000, 999, 513, 64}, 0, 1, 1}, "long contexts");
    add_ixd(l, (ixd_params){4, 4, 128, 64, 700, 20, 11, {700, 650, 100, 2000}, 1, 1, 0},
            "H = 128, long, bad entries");
    add_ixd(l, (ixd_params){3, 3, 64, 16, 517, 40, 33, {517, 300, 1}, 1, 0, 0}, "P = 16, long");
}

void conf_cases_indexer(conf_list *l, int quick)
{
    cases_prefill(l, quick);
    cases_decode(l, quick);
}
