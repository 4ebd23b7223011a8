/* Lightning indexer logits, prefill and paged decode (docs/ops.md sections 1 and 1b), on the CPU.
 *
 * logits[i, j] = k_scale[j] * sum_h max(0, q[i,h,:] . k[j,:]) * weights[i,h].
 * Keys are decoded to fp32 in blocks of IDX_KB, transposed ([128][IDX_KB]) so that the scores of
 * all heads against the block are one small fp32 gemm (H x 128 times 128 x IDX_KB) whose inner
 * loops run over contiguous keys. The head sum then runs over h in order for every key, so each
 * logit is computed by one task in a fixed order: results do not depend on the thread count.
 * Prefill tasks are blocks of IDX_QB queries (a decoded key block serves all of them); decode
 * tasks are (batch, key block) pairs, so that one long sequence still spreads over all threads. */
#include "cpu_kernels.h"
#include "dtype.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define IDX_D 128 /* head dim */
#define IDX_KB 64 /* keys per block: the transposed block is 32 KiB of fp32 */
#define IDX_QB 4  /* queries per prefill task */

static uint64_t align64(uint64_t x) { return (x + 63u) & ~(uint64_t)63u; }
static int64_t round8(int64_t n) { return (n + 7) / 8 * 8; }
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- decoding to fp32 ------------------------------------------------------------------------- */
typedef struct idx_decoder {
    dsa_dtype dtype;
    float lut[256]; /* fp8 e4m3 byte -> fp32, exact */
} idx_decoder;

static void idx_decoder_init(idx_decoder *dec, dsa_dtype dtype)
{
    dec->dtype = dtype;
    for (int b = 0; b < 256; b++) dec->lut[b] = dsa_fp8_to_f32((uint8_t)b);
}

/* n values at src (element index `at`, in the decoder's dtype) to dst[0], dst[step], ... */
static void idx_decode(const idx_decoder *dec, const void *src, int64_t at, float *dst, int64_t step)
{
    if (dec->dtype == DSA_FP8_E4M3) {
        const uint8_t *s = (const uint8_t *)src + at;
        for (int d = 0; d < IDX_D; d++) dst[d * step] = dec->lut[s[d]];
    } else if (dec->dtype == DSA_BF16) {
        const uint16_t *s = (const uint16_t *)src + at;
        for (int d = 0; d < IDX_D; d++) dst[d * step] = dsa_bf16_to_f32(s[d]);
    } else {
        const float *s = (const float *)src + at;
        for (int d = 0; d < IDX_D; d++) dst[d * step] = s[d];
    }
}

/* ---- the shared block computation ------------------------------------------------------------- */
/* Per-thread scratch. */
typedef struct idx_scratch {
    float *q;     /* [nq][H][128] decoded queries */
    float *kt;    /* [128][IDX_KB] decoded keys, transposed */
    float *c;     /* [H][IDX_KB] scores */
    float *lg;    /* [IDX_KB] head-weighted sum */
    float *scale; /* [IDX_KB] key scales (decode) */
    uint8_t *seen; /* [IDX_KB] key was read: visible to the last query, page mapped (decode) */
} idx_scratch;

static uint64_t idx_scratch_layout(int64_t nq, int64_t h, char *base, idx_scratch *s)
{
    float **fl[] = {&s->q, &s->kt, &s->c, &s->lg, &s->scale};
    uint64_t n[] = {(uint64_t)(nq * h * IDX_D), IDX_D * IDX_KB, (uint64_t)h * IDX_KB, IDX_KB, IDX_KB};
    uint64_t off = 0;
    for (int i = 0; i < 5; i++) {
        if (base) *fl[i] = (float *)(base + off);
        off += align64(n[i] * sizeof(float));
    }
    if (base) s->seen = (uint8_t *)(base + off);
    return off + align64(IDX_KB);
}

/* lg[j] = sum_h max(0, q[h] . kt[:, j]) * w[h] for j < ncols (a multiple of 8). */
static void idx_block_logits(int64_t H, const float *q, const float *w, idx_scratch *s, int64_t ncols)
{
    memset(s->c, 0, (size_t)(H * IDX_KB) * sizeof(float));
    cpu_sgemm_acc(H, ncols, IDX_D, q, IDX_D, 1, s->kt, IDX_KB, s->c, IDX_KB);
    for (int64_t j = 0; j < ncols; j++) s->lg[j] = 0.0f;
    for (int64_t h = 0; h < H; h++) {
        const float *c = s->c + h * IDX_KB;
        float wh = w[h];
        for (int64_t j = 0; j < ncols; j++) s->lg[j] += (c[j] > 0.0f ? c[j] : 0.0f) * wh;
    }
}

/* Zero the columns [nb, round8(nb)) of the transposed block: the gemm computes whole tiles. */
static void idx_pad_columns(idx_scratch *s, int64_t nb)
{
    for (int d = 0; d < IDX_D; d++)
        for (int64_t j = nb; j < round8(nb); j++) s->kt[d * IDX_KB + j] = 0.0f;
}

static void fill_neg_inf(float *row, int64_t from, int64_t to)
{
    for (int64_t j = from; j < to; j++) row[j] = -INFINITY;
}

/* ---- prefill ---------------------------------------------------------------------------------- */
typedef struct idx_job {
    const dsa_indexer_args *a;
    idx_decoder dec;
    char *ws;
    uint64_t ws_thread;
} idx_job;

/* Decode the query rows of [i0, i1) and write -inf outside each row's range; returns the union of
 * the ranges in *ulo, *uhi (empty: *ulo >= *uhi). */
static void prefill_rows(const idx_job *job, idx_scratch *s, int64_t i0, int64_t i1, int64_t *ulo, int64_t *uhi)
{
    const dsa_indexer_args *a = job->a;
    int64_t H = a->q.shape[1], skv = a->k.shape[0];
    const int32_t *ks = (const int32_t *)cpu_ptr(&a->ks), *ke = (const int32_t *)cpu_ptr(&a->ke);
    *ulo = skv;
    *uhi = 0;
    for (int64_t i = i0; i < i1; i++) {
        int64_t lo = clamp64(ks[i], 0, skv), hi = clamp64(ke[i], 0, skv);
        float *row = (float *)cpu_ptr(&a->logits) + i * a->logits.strides[0];
        if (lo >= hi) lo = hi = skv;
        fill_neg_inf(row, 0, lo);
        fill_neg_inf(row, hi, skv);
        if (lo >= hi) continue;
        *ulo = lo < *ulo ? lo : *ulo;
        *uhi = hi > *uhi ? hi : *uhi;
        for (int64_t h = 0; h < H; h++)
            idx_decode(&job->dec, cpu_ptr(&a->q), i * a->q.strides[0] + h * a->q.strides[1],
                       s->q + ((i - i0) * H + h) * IDX_D, 1);
    }
}

/* Keys [j0, j0 + nb) of k into the transposed block. */
static void prefill_keys(const idx_job *job, idx_scratch *s, int64_t j0, int64_t nb)
{
    const dsa_indexer_args *a = job->a;
    for (int64_t j = 0; j < nb; j++)
        idx_decode(&job->dec, cpu_ptr(&a->k), (j0 + j) * a->k.strides[0], s->kt + j, IDX_KB);
    idx_pad_columns(s, nb);
}

static void prefill_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const idx_job *job = arg;
    const dsa_indexer_args *a = job->a;
    idx_scratch s;
    idx_scratch_layout(IDX_QB, a->q.shape[1], job->ws + (uint64_t)thread * job->ws_thread, &s);
    int64_t S = a->q.shape[0], H = a->q.shape[1], skv = a->k.shape[0];
    const int32_t *ks = (const int32_t *)cpu_ptr(&a->ks), *ke = (const int32_t *)cpu_ptr(&a->ke);
    const float *kscale = a->k_scale.buffer ? (const float *)cpu_ptr(&a->k_scale) : NULL;
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t i0 = blk * IDX_QB, i1 = i0 + IDX_QB < S ? i0 + IDX_QB : S, ulo, uhi;
        prefill_rows(job, &s, i0, i1, &ulo, &uhi);
        for (int64_t j0 = ulo; j0 < uhi; j0 += IDX_KB) {
            int64_t nb = uhi - j0 < IDX_KB ? uhi - j0 : IDX_KB;
            prefill_keys(job, &s, j0, nb);
            for (int64_t i = i0; i < i1; i++) {
                int64_t lo = clamp64(ks[i], 0, skv), hi = clamp64(ke[i], 0, skv);
                int64_t from = lo > j0 ? lo : j0, to = hi < j0 + nb ? hi : j0 + nb;
                if (from >= to) continue; /* also covers empty rows */
                const float *w = (const float *)cpu_ptr(&a->weights) + i * a->weights.strides[0];
                idx_block_logits(H, s.q + (i - i0) * H * IDX_D, w, &s, round8(nb));
                float *row = (float *)cpu_ptr(&a->logits) + i * a->logits.strides[0];
                for (int64_t j = from; j < to; j++) row[j] = s.lg[j - j0] * (kscale ? kscale[j] : 1.0f);
            }
        }
    }
}

uint64_t cpu_indexer_logits_workspace(int threads, const dsa_indexer_args *a)
{
    idx_scratch s;
    return idx_scratch_layout(IDX_QB, a->q.shape[1], NULL, &s) * (uint64_t)(threads > 0 ? threads : 1);
}

dsa_status cpu_indexer_logits(cpu_pool *pool, const dsa_indexer_args *a, void *ws)
{
    idx_job job;
    idx_scratch s;
    job.a = a;
    idx_decoder_init(&job.dec, a->q.dtype);
    job.ws = (char *)ws;
    job.ws_thread = idx_scratch_layout(IDX_QB, a->q.shape[1], NULL, &s);
    cpu_parallel_for(pool, (a->q.shape[0] + IDX_QB - 1) / IDX_QB, 1, prefill_task, &job);
    return DSA_SUCCESS;
}

/* ---- decode (paged 132-byte key cache) -------------------------------------------------------- */
typedef struct idx_decode_job {
    const dsa_indexer_decode_args *a;
    idx_decoder dec;
    char *ws;
    uint64_t ws_thread;
    int64_t nblk; /* key blocks per batch row */
} idx_decode_job;

static float read_f32_le(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return dsa_bits_f32(u);
}

/* Decode the keys [j0, j0 + nb) of batch b that some query can see (j <= last, page mapped);
 * the others get a zero column and seen = 0, and are never read. Returns how many were read. */
static int64_t decode_keys(const idx_decode_job *job, idx_scratch *s, int64_t b, int64_t j0, int64_t nb, int64_t last)
{
    const dsa_indexer_decode_args *a = job->a;
    int64_t P = a->k_cache.shape[1], num_pages = a->k_cache.shape[0], max_pages = a->block_table.shape[1];
    const int32_t *bt = (const int32_t *)cpu_ptr(&a->block_table) + b * a->block_table.strides[0];
    const uint8_t *cache = (const uint8_t *)cpu_ptr(&a->k_cache);
    int64_t count = 0;
    for (int64_t jj = 0; jj < nb; jj++) {
        int64_t j = j0 + jj, page = j / P < max_pages ? bt[j / P] : -1;
        if (j > last || page < 0 || page >= num_pages) {
            for (int d = 0; d < IDX_D; d++) s->kt[d * IDX_KB + jj] = 0.0f;
            s->seen[jj] = 0;
            continue;
        }
        const uint8_t *base = cache + page * a->k_cache.strides[0];
        idx_decode(&job->dec, base, (j % P) * IDX_D, s->kt + jj, IDX_KB);
        s->scale[jj] = read_f32_le(base + P * IDX_D + 4 * (j % P));
        s->seen[jj] = 1;
        count++;
    }
    idx_pad_columns(s, nb);
    return count;
}

static void decode_block(const idx_decode_job *job, idx_scratch *s, int64_t b, int64_t j0)
{
    const dsa_indexer_decode_args *a = job->a;
    int64_t N = a->q.shape[1], H = a->q.shape[2], M = a->logits.shape[1];
    int64_t nb = M - j0 < IDX_KB ? M - j0 : IDX_KB;
    int64_t ctx = ((const int32_t *)cpu_ptr(&a->context_lens))[b];
    int64_t seen = decode_keys(job, s, b, j0, nb, ctx - 1); /* the last query sits at ctx - 1 */
    for (int64_t n = 0; n < N; n++) {
        int64_t r = b * N + n, pos = ctx - N + n;
        float *row = (float *)cpu_ptr(&a->logits) + r * a->logits.strides[0] + j0;
        if (seen == 0 || pos < j0) {
            fill_neg_inf(row, 0, nb);
            continue;
        }
        for (int64_t h = 0; h < H; h++)
            idx_decode(&job->dec, cpu_ptr(&a->q), b * a->q.strides[0] + n * a->q.strides[1] + h * a->q.strides[2],
                       s->q + h * IDX_D, 1);
        const float *w = (const float *)cpu_ptr(&a->weights) + r * a->weights.strides[0];
        idx_block_logits(H, s->q, w, s, round8(nb));
        for (int64_t jj = 0; jj < nb; jj++) {
            row[jj] = j0 + jj <= pos && s->seen[jj] ? s->lg[jj] * s->scale[jj] : -INFINITY;
        }
    }
}

static void decode_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const idx_decode_job *job = arg;
    idx_scratch s;
    idx_scratch_layout(1, job->a->q.shape[2], job->ws + (uint64_t)thread * job->ws_thread, &s);
    for (int64_t t = begin; t < end; t++) decode_block(job, &s, t / job->nblk, (t % job->nblk) * IDX_KB);
}

uint64_t cpu_indexer_decode_logits_workspace(int threads, const dsa_indexer_decode_args *a)
{
    idx_scratch s;
    return idx_scratch_layout(1, a->q.shape[2], NULL, &s) * (uint64_t)(threads > 0 ? threads : 1);
}

dsa_status cpu_indexer_decode_logits(cpu_pool *pool, const dsa_indexer_decode_args *a, void *ws)
{
    idx_decode_job job;
    idx_scratch s;
    job.a = a;
    idx_decoder_init(&job.dec, DSA_FP8_E4M3);
    job.ws = (char *)ws;
    job.ws_thread = idx_scratch_layout(1, a->q.shape[2], NULL, &s);
    job.nblk = (a->logits.shape[1] + IDX_KB - 1) / IDX_KB;
    cpu_parallel_for(pool, a->q.shape[0] * job.nblk, 1, decode_task, &job);
    return DSA_SUCCESS;
}
