/* Benchmark driver (see bench.h). Inputs are random but valid: finite values of moderate
 * magnitude, indices inside their buffers, power-of-two cache scales, so that each op does its
 * full work (no skipped rows) and the FLOP counts of formulas.c hold. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "bench.h"

#include "formulas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char g_error[256];

const char *perf_error(void)
{
    return g_error;
}

static dsa_status refuse(const char *msg)
{
    snprintf(g_error, sizeof g_error, "%s", msg);
    return DSA_ERROR_INVALID_ARGUMENT;
}

double perf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- shapes ---------------------------------------------------------------------------- */

void perf_default_shape(dsa_op op, int gpu, perf_shape *s)
{
    memset(s, 0, sizeof *s);
    s->Dqk = 576;
    s->page = 64;
    s->cols = 512;
    s->k = 2048;
    s->L = 131072;
    if (!gpu) { /* sized so that one run takes well under a second on a few cores */
        s->S = 256, s->H = 64, s->Skv = 8192, s->topk = 512;
        s->B = 16, s->N = 2, s->ctx = 8192, s->rows = 65536;
    } else { /* shared/GPU.md: the shapes of the PyTorch and FlashMLA baselines */
        s->S = 4096, s->H = 128, s->Skv = 65536, s->topk = 2048;
        s->B = 128, s->N = 2, s->ctx = 16384, s->rows = 524288;
    }
    if (op == DSA_OP_INDEXER_LOGITS || op == DSA_OP_INDEXER_DECODE_LOGITS)
        s->H = 64; /* V3.2's indexer heads, on every device */
    if (op == DSA_OP_TOPK)
        s->S = gpu ? 4096 : 64;
    switch (op) {
    case DSA_OP_INDEXER_LOGITS: s->dtype = DSA_FP8_E4M3; break;
    case DSA_OP_KV_CACHE_WRITE:
    case DSA_OP_INDEX_CACHE_WRITE:
    case DSA_OP_QUANTIZE_FP8: s->dtype = DSA_BF16; break;
    default: s->dtype = DSA_FP32; break;
    }
}

const char *perf_shape_keys(dsa_op op)
{
    switch (op) {
    case DSA_OP_INDEXER_LOGITS: return "S H Skv";
    case DSA_OP_INDEXER_DECODE_LOGITS: return "B N H ctx page";
    case DSA_OP_TOPK: return "S L k";
    case DSA_OP_SPARSE_MLA_PREFILL: return "S Hq Dqk topk Skv";
    case DSA_OP_SPARSE_MLA_DECODE: return "B Sq Hq topk ctx page";
    case DSA_OP_QUANTIZE_FP8:
    case DSA_OP_DEQUANTIZE_FP8: return "rows cols";
    default: return "rows page";
    }
}

static int64_t *shape_field(perf_shape *s, const char *key)
{
    static const char *names[] = {"S", "H", "Dqk", "Skv", "topk", "B", "N",
                                  "ctx", "page", "L", "k", "rows", "cols"};
    int64_t *fields[] = {&s->S, &s->H, &s->Dqk, &s->Skv, &s->topk, &s->B, &s->N,
                         &s->ctx, &s->page, &s->L, &s->k, &s->rows, &s->cols};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], key) == 0)
            return fields[i];
    /* Friendly aliases: the names the specification uses for the same quantities. */
    if (strcmp(key, "Hq") == 0)
        return &s->H;
    if (strcmp(key, "Sq") == 0)
        return &s->N;
    return NULL;
}

int perf_shape_set(perf_shape *s, const char *key, int64_t value)
{
    int64_t *f = shape_field(s, key);
    if (!f || value < 0)
        return 0;
    *f = value;
    return 1;
}

void perf_shape_format(dsa_op op, const perf_shape *s, char *buf, size_t n)
{
    char keys[64];
    size_t used = 0;
    snprintf(keys, sizeof keys, "%s", perf_shape_keys(op));
    buf[0] = '\0';
    for (char *save = NULL, *k = strtok_r(keys, " ", &save); k && used < n;
         k = strtok_r(NULL, " ", &save)) {
        const int64_t *f = shape_field((perf_shape *)s, k);
        used += (size_t)snprintf(buf + used, n - used, "%s%s=%lld", used ? " " : "", k,
                                 (long long)*f);
    }
    int has_dtype = op == DSA_OP_INDEXER_LOGITS || op == DSA_OP_INDEXER_DECODE_LOGITS ||
                    op >= DSA_OP_KV_CACHE_WRITE;
    if (has_dtype && used < n)
        snprintf(buf + used, n - used, " %s",
                 op == DSA_OP_INDEXER_DECODE_LOGITS ? "fp8" : dsa_dtype_name(s->dtype));
}

/* ---- random host data --------------------------------------------------------------------- */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r) /* splitmix64: fast, and good enough for benchmark inputs */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_float(rng *r) /* uniform in [-1, 1) */
{
    return (float)((double)(rng_next(r) >> 11) * 0x1.0p-52 - 1.0);
}

static uint16_t bf16_bits(float f) /* round to nearest even; inputs here are finite */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static uint8_t rng_fp8(rng *r) /* |x| in [1/16, 7.5]: exponent field 3..10, never NaN */
{
    uint64_t v = rng_next(r);
    return (uint8_t)((v & 0x80) | (((v >> 8) % 8 + 3) << 3) | ((v >> 16) & 7));
}

static int64_t rng_below(rng *r, int64_t n)
{
    return n > 0 ? (int64_t)(rng_next(r) % (uint64_t)n) : 0;
}

/* Fills n elements of `dtype` with values of magnitude about `scale`. */
static void fill_float(rng *r, void *dst, size_t n, dsa_dtype dtype, float scale)
{
    for (size_t i = 0; i < n; i++) {
        float v = rng_float(r) * scale;
        if (dtype == DSA_FP32)
            ((float *)dst)[i] = v;
        else if (dtype == DSA_BF16)
            ((uint16_t *)dst)[i] = bf16_bits(v);
        else if (dtype == DSA_FP8_E4M3 || dtype == DSA_UINT8)
            ((uint8_t *)dst)[i] = rng_fp8(r);
        else if (dtype == DSA_FP16) /* +-0.5..1: exponent 14, random mantissa */
            ((uint16_t *)dst)[i] = (uint16_t)((rng_next(r) & 0x83FF) | (14u << 10));
    }
}

/* One 656-byte MLA cache entry: fp8 latent, four 2^-4 scales, bf16 rope. */
static void fill_kv_entry(rng *r, uint8_t *e)
{
    float scale = 0.0625f;
    for (int i = 0; i < 512; i++)
        e[i] = rng_fp8(r);
    for (int g = 0; g < 4; g++)
        memcpy(e + 512 + 4 * g, &scale, 4);
    for (int i = 0; i < 64; i++) {
        uint16_t b = bf16_bits(rng_float(r));
        memcpy(e + 528 + 2 * i, &b, 2);
    }
}

/* One page of the 132-byte indexer key cache: P*128 fp8 bytes, then P fp32 scales. */
static void fill_index_page(rng *r, uint8_t *page, int64_t P)
{
    float scale = 0.0625f;
    for (int64_t i = 0; i < P * 128; i++)
        page[i] = rng_fp8(r);
    for (int64_t t = 0; t < P; t++)
        memcpy(page + P * 128 + 4 * t, &scale, 4);
}

/* ---- device buffers ------------------------------------------------------------------------ */

/* Allocates a buffer owned by pc (freed by perf_case_free), uploading host data if given or
 * zero-filling otherwise. Buffers are at least 4 bytes so that empty shapes still get one. */
static dsa_status make_buffer(dsa_context *ctx, perf_case *pc, const void *host, uint64_t bytes,
                              dsa_buffer **out)
{
    if (pc->nbufs == (int)(sizeof pc->bufs / sizeof pc->bufs[0]))
        return refuse("internal: too many buffers");
    dsa_buffer *b = NULL;
    dsa_status st = dsa_buffer_alloc(ctx, bytes < 4 ? 4 : bytes, &b);
    if (st != DSA_SUCCESS)
        return st;
    pc->bufs[pc->nbufs++] = b;
    if (host && bytes)
        st = dsa_buffer_write(b, 0, host, bytes);
    else
        st = dsa_buffer_fill(b, 0, 0, bytes < 4 ? 4 : bytes);
    *out = b;
    return st;
}

/* A contiguous tensor over a new buffer holding `host` (or zeros). */
static dsa_status make_tensor(dsa_context *ctx, perf_case *pc, const void *host, dsa_dtype dtype,
                              int rank, const int64_t *shape, dsa_tensor *t)
{
    uint64_t bytes = dsa_dtype_size(dtype);
    for (int i = 0; i < rank; i++)
        bytes *= (uint64_t)shape[i];
    dsa_buffer *b = NULL;
    dsa_status st = make_buffer(ctx, pc, host, bytes, &b);
    if (st == DSA_SUCCESS)
        *t = dsa_tensor_make(b, 0, dtype, rank, shape, NULL);
    return st;
}

/* Host scratch: one allocation per input, freed right after upload. */
static void *host_alloc(uint64_t bytes)
{
    if (bytes > SIZE_MAX)
        return NULL;
    return malloc(bytes ? (size_t)bytes : 1);
}

/* Random floats of `dtype` uploaded as a tensor. */
static dsa_status random_tensor(dsa_context *ctx, perf_case *pc, rng *r, dsa_dtype dtype,
                                float scale, int rank, const int64_t *shape, dsa_tensor *t)
{
    uint64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (uint64_t)shape[i];
    void *h = host_alloc(n * dsa_dtype_size(dtype));
    if (!h)
        return DSA_ERROR_OUT_OF_MEMORY;
    fill_float(r, h, (size_t)n, dtype, scale);
    dsa_status st = make_tensor(ctx, pc, h, dtype, rank, shape, t);
    free(h);
    return st;
}

static dsa_status int_tensor(dsa_context *ctx, perf_case *pc, const int32_t *h, int rank,
                             const int64_t *shape, dsa_tensor *t)
{
    return make_tensor(ctx, pc, h, DSA_INT32, rank, shape, t);
}

/* ---- per-op builders ------------------------------------------------------------------------ */

#define TRY(x)                                                                                 \
    do {                                                                                       \
        dsa_status st_ = (x);                                                                  \
        if (st_ != DSA_SUCCESS) {                                                              \
            free(h);                                                                           \
            return st_;                                                                        \
        }                                                                                      \
    } while (0)

/* Causal prefill: the S queries are the last S tokens of a context of Skv keys, so query i sees
 * keys [0, Skv - S + i]. */
static dsa_status build_indexer(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    dsa_indexer_args *a = &pc->args.indexer;
    int32_t *h = malloc(sizeof(int32_t) * (size_t)(2 * s->S + 1));
    if (!h)
        return DSA_ERROR_OUT_OF_MEMORY;
    int32_t *ks = h, *ke = h + s->S;
    for (int64_t i = 0; i < s->S; i++) {
        int64_t end = s->Skv - s->S + i + 1;
        ks[i] = 0;
        ke[i] = (int32_t)(end < 0 ? 0 : end);
    }
    int64_t qs[3] = {s->S, s->H, 128}, kshape[2] = {s->Skv, 128}, sk[1] = {s->Skv};
    int64_t ws[2] = {s->S, s->H}, rows[1] = {s->S}, lg[2] = {s->S, s->Skv};
    TRY(random_tensor(ctx, pc, r, s->dtype, 1.0f, 3, qs, &a->q));
    TRY(random_tensor(ctx, pc, r, s->dtype, 1.0f, 2, kshape, &a->k));
    a->k_scale = dsa_tensor_none();
    if (s->dtype == DSA_FP8_E4M3)
        TRY(random_tensor(ctx, pc, r, DSA_FP32, 0.01f, 1, sk, &a->k_scale));
    TRY(random_tensor(ctx, pc, r, DSA_FP32, 1.0f, 2, ws, &a->weights));
    TRY(int_tensor(ctx, pc, ks, 1, rows, &a->ks));
    TRY(int_tensor(ctx, pc, ke, 1, rows, &a->ke));
    TRY(make_tensor(ctx, pc, NULL, DSA_FP32, 2, lg, &a->logits));
    pc->flops = perf_flops_indexer(s->H, 128, perf_indexer_valid_pairs(s->S, s->Skv, ks, ke));
    free(h);
    return DSA_SUCCESS;
}

/* Every batch entry has a full context of ctx tokens in its own pages (block_table identity). */
static dsa_status build_indexer_decode(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    dsa_indexer_decode_args *a = &pc->args.indexer_decode;
    if (s->page < 1)
        return refuse("page must be >= 1");
    int64_t mp = (s->ctx + s->page - 1) / s->page, pages = s->B * mp;
    uint64_t cache_bytes = (uint64_t)(pages * s->page * 132);
    uint8_t *h = host_alloc(cache_bytes + sizeof(int32_t) * (uint64_t)(s->B * (mp + 1)));
    if (!h)
        return DSA_ERROR_OUT_OF_MEMORY;
    int32_t *lens = (int32_t *)(void *)(h + cache_bytes), *table = lens + s->B;
    for (int64_t p = 0; p < pages; p++)
        fill_index_page(r, h + p * s->page * 132, s->page);
    for (int64_t b = 0; b < s->B; b++) {
        lens[b] = (int32_t)s->ctx;
        for (int64_t p = 0; p < mp; p++)
            table[b * mp + p] = (int32_t)(b * mp + p);
    }
    int64_t qs[4] = {s->B, s->N, s->H, 128}, cs[3] = {pages, s->page, 132};
    int64_t ws[2] = {s->B * s->N, s->H}, ls[1] = {s->B}, ts[2] = {s->B, mp};
    int64_t lg[2] = {s->B * s->N, s->ctx};
    TRY(random_tensor(ctx, pc, r, DSA_FP8_E4M3, 1.0f, 4, qs, &a->q));
    TRY(make_tensor(ctx, pc, h, DSA_UINT8, 3, cs, &a->k_cache));
    TRY(random_tensor(ctx, pc, r, DSA_FP32, 1.0f, 2, ws, &a->weights));
    TRY(int_tensor(ctx, pc, lens, 1, ls, &a->context_lens));
    TRY(int_tensor(ctx, pc, table, 2, ts, &a->block_table));
    TRY(make_tensor(ctx, pc, NULL, DSA_FP32, 2, lg, &a->logits));
    pc->flops = perf_flops_indexer(s->H, 128, perf_indexer_decode_valid_pairs(s->B, s->N, s->ctx, lens));
    free(h);
    return DSA_SUCCESS;
}

/* Whole rows of random scores, absolute unsorted indices (torch.topk's setting in GPU.md). */
static dsa_status build_topk(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    dsa_topk_args *a = &pc->args.topk;
    void *h = NULL;
    int64_t ss[2] = {s->S, s->L}, is[2] = {s->S, s->k};
    TRY(random_tensor(ctx, pc, r, DSA_FP32, 100.0f, 2, ss, &a->scores));
    TRY(make_tensor(ctx, pc, NULL, DSA_INT32, 2, is, &a->indices));
    a->ks = a->ke = a->lengths = a->block_table = dsa_tensor_none();
    a->k = s->k;
    a->form = DSA_TOPK_ABSOLUTE;
    a->page_size = 0;
    a->sorted = 0;
    pc->bytes = perf_bytes_topk(s->S * s->L, s->S, s->k);
    return DSA_SUCCESS;
}

/* Random indices into [0, count): all valid, duplicates allowed (each counts, as the op says). */
static int32_t *random_indices(rng *r, int64_t n, int64_t count)
{
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; idx && i < n; i++)
        idx[i] = (int32_t)rng_below(r, count);
    return idx;
}

static dsa_status build_prefill(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    dsa_sparse_mla_prefill_args *a = &pc->args.prefill;
    if (s->Skv < 1)
        return refuse("Skv must be >= 1");
    int32_t *h = random_indices(r, s->S * s->topk, s->Skv);
    if (!h)
        return DSA_ERROR_OUT_OF_MEMORY;
    int64_t qs[3] = {s->S, s->H, s->Dqk}, kvs[3] = {s->Skv, 1, s->Dqk};
    int64_t is[3] = {s->S, 1, s->topk}, os[3] = {s->S, s->H, 512}, ls[2] = {s->S, s->H};
    TRY(random_tensor(ctx, pc, r, DSA_BF16, 1.0f, 3, qs, &a->q));
    TRY(random_tensor(ctx, pc, r, DSA_BF16, 1.0f, 3, kvs, &a->kv));
    TRY(int_tensor(ctx, pc, h, 3, is, &a->indices));
    TRY(make_tensor(ctx, pc, NULL, DSA_BF16, 3, os, &a->out));
    TRY(make_tensor(ctx, pc, NULL, DSA_FP32, 2, ls, &a->max_logits));
    TRY(make_tensor(ctx, pc, NULL, DSA_FP32, 2, ls, &a->lse));
    a->topk_length = a->attn_sink = dsa_tensor_none();
    a->sm_scale = 0.13523f;
    pc->flops = perf_flops_sparse_mla(s->H, s->Dqk, 512, s->S * s->topk);
    free(h);
    return DSA_SUCCESS;
}

/* A cache of B*ctx tokens; each query's indices are slots of its own batch entry's tokens. */
static dsa_status build_decode(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    dsa_sparse_mla_decode_args *a = &pc->args.decode;
    if (s->page < 1 || s->ctx < 1)
        return refuse("page and ctx must be >= 1");
    int64_t mp = (s->ctx + s->page - 1) / s->page, pages = s->B * mp, per_b = mp * s->page;
    uint64_t cache_bytes = (uint64_t)(pages * s->page) * 656;
    uint8_t *h = host_alloc(cache_bytes);
    int32_t *idx = random_indices(r, s->B * s->N * s->topk, s->ctx);
    if (!h || !idx) {
        free(idx);
        free(h);
        return DSA_ERROR_OUT_OF_MEMORY;
    }
    for (int64_t t = 0; t < pages * s->page; t++)
        fill_kv_entry(r, h + t * 656);
    for (int64_t i = 0; i < s->B * s->N * s->topk; i++)
        idx[i] += (int32_t)(i / (s->N * s->topk) * per_b);
    int64_t qs[4] = {s->B, s->N, s->H, 576}, cs[3] = {pages, s->page, 656};
    int64_t is[3] = {s->B, s->N, s->topk}, os[4] = {s->B, s->N, s->H, 512};
    int64_t ls[3] = {s->B, s->H, s->N};
    dsa_status st = make_tensor(ctx, pc, h, DSA_UINT8, 3, cs, &a->kv_cache);
    free(h);
    h = (uint8_t *)idx;
    TRY(st);
    TRY(random_tensor(ctx, pc, r, DSA_BF16, 1.0f, 4, qs, &a->q));
    TRY(int_tensor(ctx, pc, idx, 3, is, &a->indices));
    TRY(make_tensor(ctx, pc, NULL, DSA_BF16, 4, os, &a->out));
    TRY(make_tensor(ctx, pc, NULL, DSA_FP32, 3, ls, &a->lse));
    a->topk_length = a->attn_sink = dsa_tensor_none();
    a->sm_scale = 0.13523f;
    pc->flops = perf_flops_sparse_mla(s->H, 576, 512, s->B * s->N * s->topk);
    pc->bytes = perf_bytes_sparse_mla_decode(s->B * s->N, s->H, s->B * s->N * s->topk);
    free(h);
    return DSA_SUCCESS;
}

/* Distinct slots in shuffled order, so writers and readers touch every entry once but not in
 * memory order (as a batch of new tokens from many sequences would). */
static int32_t *shuffled_slots(rng *r, int64_t n)
{
    int32_t *s = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; s && i < n; i++)
        s[i] = (int32_t)i;
    for (int64_t i = n - 1; s && i > 0; i--) {
        int64_t j = rng_below(r, i + 1);
        int32_t t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
    return s;
}

/* A cache of `rows` tokens (rounded up to pages), filled with valid entries. */
static dsa_status cache_tensor(dsa_context *ctx, perf_case *pc, rng *r, int kv, dsa_tensor *t)
{
    const perf_shape *s = &pc->shape;
    if (s->page < 1)
        return refuse("page must be >= 1");
    int64_t pages = (s->rows + s->page - 1) / s->page, entry = kv ? 656 : 132;
    uint8_t *h = host_alloc((uint64_t)(pages * s->page * entry));
    if (!h)
        return DSA_ERROR_OUT_OF_MEMORY;
    for (int64_t p = 0; p < pages; p++) {
        uint8_t *page = h + p * s->page * entry;
        if (!kv)
            fill_index_page(r, page, s->page);
        for (int64_t tok = 0; kv && tok < s->page; tok++)
            fill_kv_entry(r, page + tok * 656);
    }
    int64_t cs[3] = {pages, s->page, entry};
    dsa_status st = make_tensor(ctx, pc, h, DSA_UINT8, 3, cs, t);
    free(h);
    return st;
}

static dsa_status build_cache_op(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    int kv = pc->op == DSA_OP_KV_CACHE_WRITE || pc->op == DSA_OP_KV_CACHE_READ;
    int write = pc->op == DSA_OP_KV_CACHE_WRITE || pc->op == DSA_OP_INDEX_CACHE_WRITE;
    int64_t width = kv ? 576 : 128, entry = kv ? 656 : 132;
    int32_t *h = shuffled_slots(r, s->rows);
    if (!h)
        return DSA_ERROR_OUT_OF_MEMORY;
    int64_t rs[2] = {s->rows, width}, ss[1] = {s->rows};
    dsa_tensor *cache = write ? &pc->args.cache_write.cache : &pc->args.cache_read.cache;
    dsa_tensor *slots = write ? &pc->args.cache_write.slots : &pc->args.cache_read.slots;
    TRY(cache_tensor(ctx, pc, r, kv, cache));
    TRY(int_tensor(ctx, pc, h, 1, ss, slots));
    if (write)
        TRY(random_tensor(ctx, pc, r, s->dtype, 4.0f, 2, rs, &pc->args.cache_write.rows));
    else
        TRY(make_tensor(ctx, pc, NULL, s->dtype, 2, rs, &pc->args.cache_read.out));
    double eb = (double)dsa_dtype_size(s->dtype);
    pc->bytes = write ? perf_bytes_cache_write(s->rows, width, (int64_t)eb, entry)
                      : perf_bytes_cache_read(s->rows, width, (int64_t)eb, entry);
    free(h);
    return DSA_SUCCESS;
}

static dsa_status build_quant_op(dsa_context *ctx, perf_case *pc, rng *r)
{
    const perf_shape *s = &pc->shape;
    void *h = NULL;
    if (s->cols % 128 != 0 || s->cols == 0)
        return refuse("cols must be a positive multiple of 128");
    int64_t xs[2] = {s->rows, s->cols}, ss[2] = {s->rows, s->cols / 128};
    int64_t n = s->rows * s->cols, eb = (int64_t)dsa_dtype_size(s->dtype);
    if (pc->op == DSA_OP_QUANTIZE_FP8) {
        dsa_quantize_args *a = &pc->args.quantize;
        TRY(random_tensor(ctx, pc, r, s->dtype, 10.0f, 2, xs, &a->x));
        TRY(make_tensor(ctx, pc, NULL, DSA_FP8_E4M3, 2, xs, &a->q));
        TRY(make_tensor(ctx, pc, NULL, DSA_FP32, 2, ss, &a->scales));
        pc->bytes = perf_bytes_quantize(n, eb);
    } else {
        dsa_dequantize_args *a = &pc->args.dequantize;
        TRY(random_tensor(ctx, pc, r, DSA_FP8_E4M3, 1.0f, 2, xs, &a->q));
        TRY(random_tensor(ctx, pc, r, DSA_FP32, 1.0f, 2, ss, &a->scales));
        TRY(make_tensor(ctx, pc, NULL, s->dtype, 2, xs, &a->out));
        pc->bytes = perf_bytes_dequantize(n, eb);
    }
    return DSA_SUCCESS;
}

/* Sizes multiplied below must not overflow: cap every key well inside int32. */
static int shape_ok(const perf_shape *s)
{
    const int64_t v[] = {s->S, s->H, s->Dqk, s->Skv, s->topk, s->B, s->N,
                         s->ctx, s->page, s->L, s->k, s->rows, s->cols};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] < 0 || v[i] > (1 << 30))
            return 0;
    return 1;
}

dsa_status perf_case_build(dsa_context *ctx, dsa_op op, const perf_shape *shape, uint64_t seed,
                           perf_case *pc)
{
    rng r = {seed};
    dsa_status st;
    memset(pc, 0, sizeof *pc);
    pc->op = op;
    pc->shape = *shape;
    g_error[0] = '\0';
    if (!shape_ok(shape))
        return refuse("shape values must be in [0, 2^30]");
    switch (op) {
    case DSA_OP_INDEXER_LOGITS: st = build_indexer(ctx, pc, &r); break;
    case DSA_OP_INDEXER_DECODE_LOGITS: st = build_indexer_decode(ctx, pc, &r); break;
    case DSA_OP_TOPK: st = build_topk(ctx, pc, &r); break;
    case DSA_OP_SPARSE_MLA_PREFILL: st = build_prefill(ctx, pc, &r); break;
    case DSA_OP_SPARSE_MLA_DECODE: st = build_decode(ctx, pc, &r); break;
    case DSA_OP_KV_CACHE_WRITE:
    case DSA_OP_INDEX_CACHE_WRITE:
    case DSA_OP_KV_CACHE_READ:
    case DSA_OP_INDEX_CACHE_READ: st = build_cache_op(ctx, pc, &r); break;
    case DSA_OP_QUANTIZE_FP8:
    case DSA_OP_DEQUANTIZE_FP8: st = build_quant_op(ctx, pc, &r); break;
    default: st = refuse("unknown op"); break;
    }
    if (st != DSA_SUCCESS)
        perf_case_free(pc);
    return st;
}

void perf_case_free(perf_case *pc)
{
    for (int i = pc->nbufs - 1; i >= 0; i--)
        dsa_buffer_free(pc->bufs[i]);
    pc->nbufs = 0;
}

dsa_status perf_case_run(dsa_context *ctx, perf_case *pc)
{
    dsa_status st = dsa_run(ctx, pc->op, &pc->args, NULL);
    if (st == DSA_SUCCESS)
        st = dsa_synchronize(ctx);
    return st;
}

/* ---- timing ------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void perf_summarize(double *ms, int n, perf_stats *st)
{
    memset(st, 0, sizeof *st);
    st->reps = n;
    if (n <= 0)
        return;
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    st->min_ms = ms[0];
    st->max_ms = ms[n - 1];
    st->median_ms = (n % 2) ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

dsa_status perf_time(dsa_context *ctx, perf_case *pc, int warmup, int reps, perf_stats *st)
{
    memset(st, 0, sizeof *st);
    if (reps < 1)
        reps = 1;
    /* Compilation and workspace growth happen here, outside the timed runs. */
    dsa_status s = dsa_prepare(ctx, pc->op, &pc->args);
    for (int i = 0; s == DSA_SUCCESS && i < warmup; i++)
        s = perf_case_run(ctx, pc);
    double *ms = malloc(sizeof(double) * (size_t)reps);
    if (!ms)
        return DSA_ERROR_OUT_OF_MEMORY;
    for (int i = 0; s == DSA_SUCCESS && i < reps; i++) {
        double t0 = perf_now();
        s = perf_case_run(ctx, pc);
        ms[i] = 1e3 * (perf_now() - t0);
    }
    if (s == DSA_SUCCESS) {
        perf_summarize(ms, reps, st);
        if (st->median_ms > 0) {
            st->gflops = pc->flops / (st->median_ms * 1e6);
            st->gbps = pc->bytes / (st->median_ms * 1e6);
        }
    }
    free(ms);
    return s;
}
