/* Sparse MLA, prefill and decode (docs/ops.md sections 3 and 4), on the CPU.
 *
 * One task per query row (all heads together), so each selected kv row is decoded to fp32 once
 * per query and shared by every head, as the production decode kernel does. The valid selected
 * rows are gathered in blocks of MLA_NB; per block:
 *   scores  st[j][h] = kv[j] . q[h]          (fp32 gemm against q transposed: [Dqk][Hq])
 *   online softmax per head (running max m, running sum l), rescaling the accumulator
 *   acc[h][:] += sum_j p[j][h] * kv[j][:512]  (fp32 gemm)
 * and at the end out = acc / l (times the sink factor), lse = m + ln l. A block is processed in
 * the order its rows appear in `indices`, so results do not depend on the thread count.
 */
#include "cpu_kernels.h"
#include "dtype.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define MLA_DV 512 /* value dims: the first 512 of each kv row */
#define MLA_NB 64  /* kv rows per block: keeps the block (64 x 576 fp32) in L2 */

/* ---- where the kv rows come from -------------------------------------------------------------- */
typedef struct mla_source mla_source;
struct mla_source {
    int64_t rows; /* valid row ids (prefill: Skv; decode: num_pages * P) are [0, rows) */
    int64_t dqk;
    void (*decode)(const mla_source *s, int64_t row, float *dst); /* row -> dqk floats */
    const uint16_t *kv;                      /* prefill: bf16 rows ... */
    int64_t kv_stride;                       /* ... this many elements apart */
    const uint8_t *cache;                    /* decode: 656-byte tokens in pages */
    int64_t page_stride, token_stride, page_size; /* bytes, bytes, tokens */
    float lut[256];                          /* fp8 e4m3 byte -> fp32, exact */
};

static void decode_bf16_row(const mla_source *s, int64_t row, float *dst)
{
    const uint16_t *r = s->kv + row * s->kv_stride;
    for (int64_t d = 0; d < s->dqk; d++) dst[d] = dsa_bf16_to_f32(r[d]);
}

/* Byte-wise little-endian reads: the token stride need not keep fields aligned. */
static float read_f32_le(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return dsa_bits_f32(u);
}

/* 656-byte token: 512 fp8 in 4 groups of 128, 4 fp32 group scales, 64 bf16 rope values. */
static void decode_cache_row(const mla_source *s, int64_t slot, float *dst)
{
    const uint8_t *r = s->cache + (slot / s->page_size) * s->page_stride + (slot % s->page_size) * s->token_stride;
    for (int g = 0; g < 4; g++) {
        float scale = read_f32_le(r + 512 + 4 * g);
        const uint8_t *v = r + 128 * g;
        float *o = dst + 128 * g;
        for (int e = 0; e < 128; e++) o[e] = s->lut[v[e]] * scale; /* exact unless it underflows */
    }
    const uint8_t *rope = r + 528;
    for (int e = 0; e < 64; e++) dst[512 + e] = dsa_bf16_to_f32((uint16_t)(rope[2 * e] | rope[2 * e + 1] << 8));
}

/* ---- one query row ---------------------------------------------------------------------------- */
typedef struct mla_query {
    const uint16_t *q;     /* bf16 [Hq][dqk] */
    int64_t q_head;        /* stride between heads, elements */
    const int32_t *idx;    /* entries [0, n_used) are used */
    int64_t n_used;
    uint16_t *out;         /* bf16 [Hq][512] */
    int64_t out_head;
    float *max_logits;     /* optional, stride 1 between heads */
    float *lse;            /* optional */
    int64_t lse_head;
} mla_query;

typedef struct mla_params {
    int64_t hq, hqp, dqk; /* hqp: Hq rounded up to 8 (the gemm's column tile) */
    float sm_scale;
    const float *sink;    /* optional [Hq] */
    const mla_source *src;
} mla_params;

/* Per-thread scratch, carved out of the workspace. */
typedef struct mla_scratch {
    float *qt;     /* [dqk][hqp]: the query, transposed, zero for padding heads */
    float *kv;     /* [MLA_NB][dqk]: the block's decoded rows */
    float *st;     /* [MLA_NB][hqp]: scores, then probabilities */
    float *acc;    /* [hq][512]: unnormalized output */
    float *m;      /* [hqp] running max */
    float *bmax;   /* [hqp] block max / rescale factor */
    float *rowsum; /* [hqp] */
    double *l;     /* [hqp] running sum of exp(p - m); double so long rows lose nothing */
} mla_scratch;

static uint64_t align64(uint64_t x) { return (x + 63u) & ~(uint64_t)63u; }

/* Lays the scratch out from base (NULL: only measures); returns its size in bytes. */
static uint64_t mla_scratch_layout(int64_t hq, int64_t dqk, char *base, mla_scratch *s)
{
    uint64_t hqp = (uint64_t)(hq + 7) / 8 * 8, off = 0;
    float **fl[] = {&s->qt, &s->kv, &s->st, &s->acc, &s->m, &s->bmax, &s->rowsum};
    uint64_t n[] = {(uint64_t)dqk * hqp, (uint64_t)MLA_NB * (uint64_t)dqk, (uint64_t)MLA_NB * hqp,
                    (uint64_t)hq * MLA_DV, hqp, hqp, hqp};
    for (int i = 0; i < 7; i++) {
        if (base) *fl[i] = (float *)(base + off);
        off += align64(n[i] * sizeof(float));
    }
    if (base) s->l = (double *)(base + off);
    off += align64(hqp * sizeof(double));
    return off;
}

static void mla_load_query(const mla_params *p, const mla_query *q, mla_scratch *s)
{
    for (int64_t h = 0; h < p->hq; h++) {
        const uint16_t *row = q->q + h * q->q_head;
        for (int64_t d = 0; d < p->dqk; d++) s->qt[d * p->hqp + h] = dsa_bf16_to_f32(row[d]);
    }
    for (int64_t d = 0; d < p->dqk; d++) /* padding heads score 0 and are never written out */
        for (int64_t h = p->hq; h < p->hqp; h++) s->qt[d * p->hqp + h] = 0.0f;
    for (int64_t h = 0; h < p->hqp; h++) {
        s->m[h] = -INFINITY;
        s->l[h] = 0.0;
    }
    memset(s->acc, 0, (size_t)(p->hq * MLA_DV) * sizeof(float));
}

/* Scores of the block scaled by sm_scale, in place; the new running max per head in s->m and the
 * factor exp(m_old - m_new) for the old accumulator in s->bmax. A NaN score is ignored by the max
 * (as by the fp64 oracle) but still makes lse and out NaN through its exp. */
static void mla_block_max(const mla_params *p, mla_scratch *s, int nb)
{
    int64_t hqp = p->hqp;
    for (int64_t h = 0; h < hqp; h++) s->bmax[h] = s->m[h];
    for (int j = 0; j < nb; j++) {
        float *st = s->st + j * hqp;
        for (int64_t h = 0; h < hqp; h++) {
            float x = st[h] * p->sm_scale;
            st[h] = x;
            s->bmax[h] = x > s->bmax[h] ? x : s->bmax[h];
        }
    }
    for (int64_t h = 0; h < hqp; h++) {
        float old = s->m[h], now = s->bmax[h];
        s->m[h] = now;
        s->bmax[h] = old == now ? 1.0f : expf(old - now); /* old == now also covers -inf == -inf */
    }
}

/* Probabilities exp(p - m) in place, their per-head sum added to l after rescaling. */
static void mla_block_exp(const mla_params *p, mla_scratch *s, int nb)
{
    int64_t hqp = p->hqp;
    for (int64_t h = 0; h < hqp; h++) s->rowsum[h] = 0.0f;
    for (int j = 0; j < nb; j++) {
        float *st = s->st + j * hqp;
        for (int64_t h = 0; h < hqp; h++) {
            float x = st[h];
            float e = x == -INFINITY ? 0.0f : expf(x - s->m[h]); /* -inf - -inf would be NaN */
            st[h] = e;
            s->rowsum[h] += e;
        }
    }
    for (int64_t h = 0; h < hqp; h++) s->l[h] = s->l[h] * s->bmax[h] + s->rowsum[h];
}

static void mla_block(const mla_params *p, mla_scratch *s, int nb)
{
    int64_t hqp = p->hqp;
    memset(s->st, 0, (size_t)(nb * hqp) * sizeof(float));
    cpu_sgemm_acc(nb, hqp, p->dqk, s->kv, p->dqk, 1, s->qt, hqp, s->st, hqp);
    mla_block_max(p, s, nb);
    mla_block_exp(p, s, nb);
    for (int64_t h = 0; h < p->hq; h++) {
        float a = s->bmax[h];
        if (a == 1.0f) continue;
        float *acc = s->acc + h * MLA_DV;
        for (int v = 0; v < MLA_DV; v++) acc[v] *= a;
    }
    /* acc[h][:] += sum_j st[j][h] * kv[j][:512]: A(h, j) = st[j * hqp + h] */
    cpu_sgemm_acc(p->hq, MLA_DV, nb, s->st, 1, hqp, s->kv, p->dqk, s->acc, MLA_DV);
}

static void mla_finish(const mla_params *p, const mla_query *q, const mla_scratch *s, int64_t nvalid)
{
    for (int64_t h = 0; h < p->hq; h++) {
        uint16_t *out = q->out + h * q->out_head;
        if (nvalid == 0) { /* empty row */
            memset(out, 0, MLA_DV * sizeof(uint16_t));
            if (q->max_logits) q->max_logits[h] = -INFINITY;
            if (q->lse) q->lse[h * q->lse_head] = INFINITY;
            continue;
        }
        double lse = (double)s->m[h] + log(s->l[h]);
        double f = 1.0 / s->l[h];
        if (p->sink) f /= 1.0 + exp((double)p->sink[h] - lse);
        float ff = (float)f;
        const float *acc = s->acc + h * MLA_DV;
        for (int v = 0; v < MLA_DV; v++) out[v] = dsa_f32_to_bf16(acc[v] * ff);
        if (q->max_logits) q->max_logits[h] = s->m[h];
        if (q->lse) q->lse[h * q->lse_head] = (float)lse;
    }
}

/* Attention of one query row over its valid selected rows, read in the order given. */
static void mla_attend(const mla_params *p, const mla_query *q, mla_scratch *s)
{
    const mla_source *src = p->src;
    int64_t nvalid = 0;
    int nb = 0;
    mla_load_query(p, q, s);
    for (int64_t t = 0; t < q->n_used; t++) {
        int64_t row = q->idx[t];
        if (row < 0 || row >= src->rows) continue; /* skipped, never read */
        src->decode(src, row, s->kv + (int64_t)nb * p->dqk);
        nvalid++;
        if (++nb == MLA_NB) {
            mla_block(p, s, nb);
            nb = 0;
        }
    }
    if (nb > 0) mla_block(p, s, nb);
    mla_finish(p, q, s, nvalid);
}

static int64_t clamp_len(const int32_t *len, int64_t i, int64_t topk)
{
    if (!len) return topk;
    int64_t n = len[i];
    return n < 0 ? 0 : n > topk ? topk : n;
}

/* ---- the ops ----------------------------------------------------------------------------------- */
typedef struct mla_job {
    mla_params p;
    mla_source src;
    char *ws;
    uint64_t ws_thread; /* bytes of scratch per thread */
    const void *args;
} mla_job;

static mla_scratch job_scratch(const mla_job *job, int thread)
{
    mla_scratch s;
    mla_scratch_layout(job->p.hq, job->p.dqk, job->ws + (uint64_t)thread * job->ws_thread, &s);
    return s;
}

static void job_params(mla_job *job, const dsa_tensor *q, const dsa_tensor *sink, float sm_scale,
                       void *ws)
{
    job->p.hq = q->shape[q->rank - 2];
    job->p.hqp = (job->p.hq + 7) / 8 * 8;
    job->p.dqk = q->shape[q->rank - 1];
    job->p.sm_scale = sm_scale;
    job->p.sink = sink->buffer ? (const float *)cpu_ptr(sink) : NULL;
    job->p.src = &job->src;
    job->src.dqk = job->p.dqk;
    job->ws = (char *)ws;
    job->ws_thread = mla_scratch_layout(job->p.hq, job->p.dqk, NULL, &(mla_scratch){0});
}

/* prefill: one task per query row i */
static void prefill_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const mla_job *job = arg;
    const dsa_sparse_mla_prefill_args *a = job->args;
    mla_scratch s = job_scratch(job, thread);
    const int32_t *len = a->topk_length.buffer ? (const int32_t *)cpu_ptr(&a->topk_length) : NULL;
    float *ml = a->max_logits.buffer ? (float *)cpu_ptr(&a->max_logits) : NULL;
    float *lse = a->lse.buffer ? (float *)cpu_ptr(&a->lse) : NULL;
    int64_t topk = a->indices.shape[2];
    for (int64_t i = begin; i < end; i++) {
        mla_query q = {
            .q = (const uint16_t *)cpu_ptr(&a->q) + i * a->q.strides[0],
            .q_head = a->q.strides[1],
            .idx = (const int32_t *)cpu_ptr(&a->indices) + i * a->indices.strides[0],
            .n_used = clamp_len(len, i, topk),
            .out = (uint16_t *)cpu_ptr(&a->out) + i * a->out.strides[0],
            .out_head = a->out.strides[1],
            .max_logits = ml ? ml + i * a->max_logits.strides[0] : NULL,
            .lse = lse ? lse + i * a->lse.strides[0] : NULL,
            .lse_head = 1,
        };
        mla_attend(&job->p, &q, &s);
    }
}

uint64_t cpu_sparse_mla_prefill_workspace(int threads, const dsa_sparse_mla_prefill_args *a)
{
    mla_scratch s;
    uint64_t per = mla_scratch_layout(a->q.shape[1], a->q.shape[2], NULL, &s);
    return per * (uint64_t)(threads > 0 ? threads : 1);
}

dsa_status cpu_sparse_mla_prefill(cpu_pool *pool, const dsa_sparse_mla_prefill_args *a, void *ws)
{
    mla_job job;
    memset(&job, 0, sizeof job);
    job_params(&job, &a->q, &a->attn_sink, a->sm_scale, ws);
    job.args = a;
    job.src.rows = a->kv.shape[0];
    job.src.decode = decode_bf16_row;
    job.src.kv = (const uint16_t *)cpu_ptr(&a->kv);
    job.src.kv_stride = a->kv.strides[0];
    cpu_parallel_for(pool, a->q.shape[0], 1, prefill_task, &job);
    return DSA_SUCCESS;
}

/* decode: one task per query (b, s) */
static void decode_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const mla_job *job = arg;
    const dsa_sparse_mla_decode_args *a = job->args;
    mla_scratch s = job_scratch(job, thread);
    const int32_t *len = a->topk_length.buffer ? (const int32_t *)cpu_ptr(&a->topk_length) : NULL;
    float *lse = a->lse.buffer ? (float *)cpu_ptr(&a->lse) : NULL;
    int64_t sq = a->q.shape[1], topk = a->indices.shape[2];
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / sq, i = r % sq;
        mla_query q = {
            .q = (const uint16_t *)cpu_ptr(&a->q) + b * a->q.strides[0] + i * a->q.strides[1],
            .q_head = a->q.strides[2],
            .idx = (const int32_t *)cpu_ptr(&a->indices) + b * a->indices.strides[0] + i * a->indices.strides[1],
            .n_used = clamp_len(len, b, topk),
            .out = (uint16_t *)cpu_ptr(&a->out) + b * a->out.strides[0] + i * a->out.strides[1],
            .out_head = a->out.strides[2],
            .max_logits = NULL,
            .lse = lse ? lse + b * a->lse.strides[0] + i * a->lse.strides[2] : NULL, /* [B, Hq, Sq] */
            .lse_head = a->lse.strides[1],
        };
        mla_attend(&job->p, &q, &s);
    }
}

uint64_t cpu_sparse_mla_decode_workspace(int threads, const dsa_sparse_mla_decode_args *a)
{
    mla_scratch s;
    uint64_t per = mla_scratch_layout(a->q.shape[2], a->q.shape[3], NULL, &s);
    return per * (uint64_t)(threads > 0 ? threads : 1);
}

dsa_status cpu_sparse_mla_decode(cpu_pool *pool, const dsa_sparse_mla_decode_args *a, void *ws)
{
    mla_job job;
    memset(&job, 0, sizeof job);
    job_params(&job, &a->q, &a->attn_sink, a->sm_scale, ws);
    job.args = a;
    job.src.rows = a->kv_cache.shape[0] * a->kv_cache.shape[1];
    job.src.decode = decode_cache_row;
    job.src.cache = (const uint8_t *)cpu_ptr(&a->kv_cache);
    job.src.page_size = a->kv_cache.shape[1];
    job.src.page_stride = a->kv_cache.strides[0];
    job.src.token_stride = a->kv_cache.strides[1];
    for (int b = 0; b < 256; b++) job.src.lut[b] = dsa_fp8_to_f32((uint8_t)b);
    cpu_parallel_for(pool, a->q.shape[0] * a->q.shape[1], 1, decode_task, &job);
    return DSA_SUCCESS;
}
