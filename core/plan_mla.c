/* Plans for sparse MLA prefill and decode (templates/kernels/sparse_mla_{prefill,decode,combine}.dsa).
 *
 * One attention launch: a block per (query row, group of `heads` heads, split). A row's used
 * entries are split over several blocks only when the rows alone cannot fill the device (decode:
 * B * Sq is small and topk is 2048); the splits' partial (m, l, count, acc) go to the workspace
 * and a combine launch merges them in split order. The split count depends only on the device and
 * the op's shape, so the workspace rule and the plan always agree.
 *
 * Optional tensors that are absent are bound to a present tensor of the same launch (so that every
 * binding is a real buffer) and a flag tells the kernel never to touch them. */
#include "plan.h"

#include <string.h>

#define MLA_DV 512
#define MLA_MAX_SPLITS 32
#define MLA_MIN_SPLIT 256     /* used entries a split gets at least */
#define MLA_NOMINAL_HEADS 16  /* heads a block, for the split rule only */
#define MLA_STAT 4            /* floats of statistics per (row, head, split) */

enum { FLAG_LENGTH = 1, FLAG_SINK = 2, FLAG_MAX_LOGITS = 4, FLAG_LSE = 8 };

/* The op's rows and where each tensor's (b, i, h) lives; prefill is sq = 1. */
typedef struct mla_shape {
    int64_t n_rows, sq, hq, dqk, topk;
    int64_t q[3], x[2], o[3], m[2], l[3]; /* strides of q, indices, out, max_logits, lse by b, i, h */
    int flags;
    int splits;
} mla_shape;

static int mla_splits(const dsa_device_info *dev, int64_t rows, int64_t hq, int64_t topk)
{
    int64_t blocks = rows * ((hq + MLA_NOMINAL_HEADS - 1) / MLA_NOMINAL_HEADS);
    int64_t target = 2 * (int64_t)(dev && dev->compute_units ? dev->compute_units : 32);
    if (blocks <= 0 || blocks >= target) return 1;
    int64_t ns = (target + blocks - 1) / blocks, by_len = topk / MLA_MIN_SPLIT;
    if (ns > by_len) ns = by_len;
    if (ns > MLA_MAX_SPLITS) ns = MLA_MAX_SPLITS;
    return ns < 1 ? 1 : (int)ns;
}

static uint64_t stat_bytes(const mla_shape *s)
{
    uint64_t n = (uint64_t)(s->n_rows * s->hq) * (uint64_t)s->splits * MLA_STAT * 4u;
    return (n + 255u) & ~(uint64_t)255u;
}

static uint64_t split_workspace(const mla_shape *s)
{
    if (s->splits <= 1) return 0;
    return stat_bytes(s) + (uint64_t)(s->n_rows * s->hq) * (uint64_t)s->splits * MLA_DV * 4u;
}

static void prefill_shape(const dsa_device_info *dev, const dsa_sparse_mla_prefill_args *a, mla_shape *s)
{
    memset(s, 0, sizeof *s);
    s->n_rows = a->q.shape[0];
    s->sq = 1;
    s->hq = a->q.shape[1];
    s->dqk = a->q.shape[2];
    s->topk = a->indices.shape[2];
    s->q[0] = a->q.strides[0], s->q[2] = a->q.strides[1];
    s->x[0] = a->indices.strides[0];
    s->o[0] = a->out.strides[0], s->o[2] = a->out.strides[1];
    if (a->max_logits.buffer) s->m[0] = a->max_logits.strides[0], s->m[1] = a->max_logits.strides[1];
    if (a->lse.buffer) s->l[0] = a->lse.strides[0], s->l[2] = a->lse.strides[1];
    s->flags = (a->topk_length.buffer ? FLAG_LENGTH : 0) | (a->attn_sink.buffer ? FLAG_SINK : 0) |
               (a->max_logits.buffer ? FLAG_MAX_LOGITS : 0) | (a->lse.buffer ? FLAG_LSE : 0);
    s->splits = mla_splits(dev, s->n_rows, s->hq, s->topk);
}

/* lse is [B, Hq, Sq]: b, h, i strides 0, 1, 2. */
static void decode_shape(const dsa_device_info *dev, const dsa_sparse_mla_decode_args *a, mla_shape *s)
{
    memset(s, 0, sizeof *s);
    s->sq = a->q.shape[1];
    s->n_rows = a->q.shape[0] * s->sq;
    s->hq = a->q.shape[2];
    s->dqk = a->q.shape[3];
    s->topk = a->indices.shape[2];
    s->q[0] = a->q.strides[0], s->q[1] = a->q.strides[1], s->q[2] = a->q.strides[2];
    s->x[0] = a->indices.strides[0], s->x[1] = a->indices.strides[1];
    s->o[0] = a->out.strides[0], s->o[1] = a->out.strides[1], s->o[2] = a->out.strides[2];
    if (a->lse.buffer) s->l[0] = a->lse.strides[0], s->l[1] = a->lse.strides[2], s->l[2] = a->lse.strides[1];
    s->flags = (a->topk_length.buffer ? FLAG_LENGTH : 0) | (a->attn_sink.buffer ? FLAG_SINK : 0) |
               (a->lse.buffer ? FLAG_LSE : 0);
    s->splits = mla_splits(dev, s->n_rows, s->hq, s->topk);
}

static uint64_t prefill_workspace(const dsa_device_info *dev, const void *args)
{
    mla_shape s;
    prefill_shape(dev, args, &s);
    return split_workspace(&s);
}

static uint64_t decode_workspace(const dsa_device_info *dev, const void *args)
{
    mla_shape s;
    decode_shape(dev, args, &s);
    return split_workspace(&s);
}

static int next_pow2(int64_t v)
{
    int p = 1;
    while (p < v && p < (1 << 20)) p *= 2;
    return p;
}

/* Prefill and decode (one algorithm): a head group stays at least 16 heads (a fragment's rows;
 * heads past hq are zeros, never written) and shrinks with the warps it needs, keeping the K slices
 * per 16 heads. Where the CUDA dialect has bf16 tensor cores (sm_80+: mma.sync m16n8k16) the spec
 * is matrix=1 with 32 heads on 256 threads (4 K slices: a 36-register q slice per thread), two
 * stages of kv tiles, and the largest tile of kv rows (64, 32 or 16) whose shared memory the
 * device has (dynamic shared memory: 64 rows take 185 KiB, within Hopper's 227 KiB; fewer
 * barriers and softmax steps per row), unless the tuning table changed the layout. */
typedef struct attention_ctx {
    const mla_shape *s;
    const dsa_device_info *dev;
    const char *kernel;
} attention_ctx;

static void adjust_attention(dsa_spec *spec, const void *ctx)
{
    const attention_ctx *p = ctx;
    const dsa_kernel_def *k = dsa_kernel_find(p->kernel);
    uint32_t need = DSA_CAP_MATRIX_UNITS | DSA_CAP_BF16;
    if (k && spec->block == k->defaults.block && spec->heads == k->defaults.heads && spec->matrix == 0 &&
        p->dev->backend == DSA_BACKEND_CUDA && (p->dev->caps & need) == need) {
        spec->matrix = 1;
        spec->heads = 32;
        spec->block = 256;
        spec->stages = 2;
        spec->dim = (int)p->s->dqk;
        int tn = dsa_plan_largest_tile_n(k, spec, p->dev, 64, 16);
        if (tn) spec->tile_n = tn;
    }
    int hp = next_pow2(p->s->hq);
    if (hp < 16) hp = 16;
    if (spec->heads >= 16 && spec->heads > hp) {
        int slices = spec->block / 32 / (spec->heads / 16);
        spec->heads = hp;
        spec->block = 32 * slices * (hp / 16);
    }
    spec->dim = (int)p->s->dqk;
}

static const dsa_tensor *or_else(const dsa_tensor *t, const dsa_tensor *fallback)
{
    return t->buffer ? t : fallback;
}

/* The two workspace regions (statistics, then accumulators), or `fallback` without splits. */
static void split_views(const mla_shape *s, const dsa_workspace *ws, const dsa_tensor *fallback,
                        dsa_tensor *stat, dsa_tensor *acc)
{
    if (s->splits <= 1 || !ws) {
        *stat = *fallback;
        *acc = *fallback;
        return;
    }
    memset(stat, 0, sizeof *stat);
    stat->buffer = ws->buffer;
    stat->offset = ws->offset;
    stat->dtype = DSA_FP32;
    *acc = *stat;
    acc->offset = ws->offset + stat_bytes(s);
}

static void add_strides(dsa_launch *l, const int64_t *v, int n)
{
    for (int k = 0; k < n; k++) dsa_launch_add_i64(l, v[k]);
}

/* Grid of the attention launch and its trailing scalars (sq .. sm_scale). */
static void attention_tail(dsa_launch *l, const mla_shape *s, float sm_scale)
{
    int64_t groups = (s->hq + l->spec.heads - 1) / l->spec.heads;
    int64_t chunk = (s->topk + s->splits - 1) / s->splits;
    l->grid[0] = dsa_grid_for(s->n_rows * groups * s->splits, 1);
    dsa_launch_add_i64(l, s->sq);
    dsa_launch_add_i64(l, s->hq);
    dsa_launch_add_i64(l, s->topk);
    dsa_launch_add_i64(l, s->flags);
    dsa_launch_add_i64(l, s->splits);
    dsa_launch_add_i64(l, chunk);
    dsa_launch_add_f32(l, sm_scale);
}

/* The combine launch, after a split attention launch. */
static dsa_status plan_combine(const dsa_device_info *dev, const mla_shape *s, const dsa_tensor *stat,
                               const dsa_tensor *acc, const dsa_tensor *sink, const dsa_tensor *out,
                               const dsa_tensor *max_logits, const dsa_tensor *lse, dsa_plan *plan)
{
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "sparse_mla_combine", NULL, NULL, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(s->n_rows * s->hq, 1);
    dsa_launch_add_buffer(l, stat);
    dsa_launch_add_buffer(l, acc);
    dsa_launch_add_buffer(l, or_else(sink, stat));
    dsa_launch_add_buffer(l, out);
    dsa_launch_add_buffer(l, or_else(max_logits, out));
    dsa_launch_add_buffer(l, or_else(lse, out));
    dsa_launch_add_i64(l, s->n_rows);
    add_strides(l, s->o, 3);
    add_strides(l, s->m, 2);
    add_strides(l, s->l, 3);
    dsa_launch_add_i64(l, s->sq);
    dsa_launch_add_i64(l, s->hq);
    dsa_launch_add_i64(l, s->flags);
    dsa_launch_add_i64(l, s->splits);
    return DSA_SUCCESS;
}

static dsa_status plan_prefill(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                               dsa_plan *plan)
{
    const dsa_sparse_mla_prefill_args *a = args;
    mla_shape s;
    prefill_shape(dev, a, &s);
    if (s.n_rows == 0 || s.hq == 0) return DSA_SUCCESS;
    dsa_launch *l;
    attention_ctx ac = {&s, dev, "sparse_mla_prefill"};
    dsa_status st = dsa_plan_kernel(plan, dev, ac.kernel, adjust_attention, &ac, &l);
    if (st != DSA_SUCCESS) return st;
    dsa_tensor stat, acc;
    split_views(&s, ws, &a->out, &stat, &acc);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->kv);
    dsa_launch_add_buffer(l, &a->indices);
    dsa_launch_add_buffer(l, or_else(&a->topk_length, &a->indices));
    dsa_launch_add_buffer(l, or_else(&a->attn_sink, &a->indices));
    dsa_launch_add_buffer(l, &a->out);
    dsa_launch_add_buffer(l, or_else(&a->max_logits, &a->out));
    dsa_launch_add_buffer(l, or_else(&a->lse, &a->out));
    dsa_launch_add_buffer(l, &stat);
    dsa_launch_add_buffer(l, &acc);
    dsa_launch_add_i64(l, s.n_rows);
    dsa_launch_add_i64(l, a->kv.shape[0]);
    dsa_launch_add_i64(l, a->kv.strides[0]);
    add_strides(l, s.q, 3);
    add_strides(l, s.x, 2);
    add_strides(l, s.o, 3);
    add_strides(l, s.m, 2);
    add_strides(l, s.l, 3);
    attention_tail(l, &s, a->sm_scale);
    if (s.splits <= 1) return DSA_SUCCESS;
    return plan_combine(dev, &s, &stat, &acc, &a->attn_sink, &a->out, &a->max_logits, &a->lse, plan);
}

static dsa_status plan_decode(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                              dsa_plan *plan)
{
    const dsa_sparse_mla_decode_args *a = args;
    mla_shape s;
    decode_shape(dev, a, &s);
    if (s.n_rows == 0 || s.hq == 0) return DSA_SUCCESS;
    dsa_launch *l;
    attention_ctx ac = {&s, dev, "sparse_mla_decode"};
    dsa_status st = dsa_plan_kernel(plan, dev, ac.kernel, adjust_attention, &ac, &l);
    if (st != DSA_SUCCESS) return st;
    dsa_tensor stat, acc, none = dsa_tensor_none();
    split_views(&s, ws, &a->out, &stat, &acc);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->kv_cache);
    dsa_launch_add_buffer(l, &a->indices);
    dsa_launch_add_buffer(l, or_else(&a->topk_length, &a->indices));
    dsa_launch_add_buffer(l, or_else(&a->attn_sink, &a->indices));
    dsa_launch_add_buffer(l, &a->out);
    dsa_launch_add_buffer(l, or_else(&a->lse, &a->out));
    dsa_launch_add_buffer(l, &stat);
    dsa_launch_add_buffer(l, &acc);
    dsa_launch_add_i64(l, s.n_rows);
    dsa_launch_add_i64(l, a->kv_cache.shape[0] * a->kv_cache.shape[1]);
    dsa_launch_add_i64(l, a->kv_cache.shape[1]);
    dsa_launch_add_i64(l, a->kv_cache.strides[0]);
    dsa_launch_add_i64(l, a->kv_cache.strides[1]);
    add_strides(l, s.q, 3);
    add_strides(l, s.x, 2);
    add_strides(l, s.o, 3);
    add_strides(l, s.l, 3);
    attention_tail(l, &s, a->sm_scale);
    if (s.splits <= 1) return DSA_SUCCESS;
    return plan_combine(dev, &s, &stat, &acc, &a->attn_sink, &a->out, &none, &a->lse, plan);
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_SPARSE_MLA_PREFILL, plan_prefill, prefill_workspace},
    {DSA_OP_SPARSE_MLA_DECODE, plan_decode, decode_workspace},
};
const dsa_plan_family dsa_plans_mla = {entries, (int)(sizeof entries / sizeof entries[0])};
