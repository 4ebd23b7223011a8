/* Plans for the lightning indexer (templates/kernels/indexer_logits.dsa, indexer_decode_logits.dsa,
 * one algorithm: indexer_scores.dsai). Each op is one launch over a flat list of work items, a
 * group of tile_m queries (prefill: consecutive rows; decode: draft queries of one batch) x a chunk
 * of key tiles, blocks striding over them; the kernels skip the tiles no query sees. The spec's
 * heads is the op's H (one compiled variant per H and dtype).
 *
 * Layout: the portable one (templates/family_indexer.c: 4 warps, an m-tile of 16 heads a warp,
 * 32-key tiles), or, where the CUDA dialect has bf16 tensor cores (sm_80+: mma.sync m16n8k16),
 * matrix=1 with two m-tiles a warp (sharing their B loads) on 16 warps and 128-key tiles, fp8
 * converted a tile ahead (stages=3: 123 KiB of shared memory at H = 64); fp32, whose q is two
 * fragments (hi, lo), one m-tile a warp on 8 warps and 64-key tiles; decode 8 warps. On the H100
 * (S=4096 H=64 Skv=65536 causal) 512 threads x 128 keys ran at 290 TFLOPS, 256 x 64 at 200,
 * 256 x 128 at 229. tile_m is what fills the warps' m-tiles at the op's H, at most the queries a
 * decode batch has; a device with less shared memory gets smaller key tiles. A layout set by the
 * tuning table (block, tile_n or matrix changed) is kept, and so is a tile_m it set; an unset
 * tile_m is fitted to the op's H. */
#include "plan.h"

typedef struct indexer_ctx {
    const dsa_device_info *dev;
    const char *kernel;
    int heads;
    dsa_dtype dtype;
    int64_t max_queries; /* queries a group can have (decode: N), 0: no bound */
} indexer_ctx;

static void adjust_indexer(dsa_spec *s, const void *ctx)
{
    const indexer_ctx *c = ctx;
    const dsa_kernel_def *k = dsa_kernel_find(c->kernel);
    s->heads = c->heads;
    s->in_dtype = c->dtype;
    if (!k) return;
    uint32_t need = DSA_CAP_MATRIX_UNITS | DSA_CAP_BF16;
    int layout = s->block == k->defaults.block && s->tile_n == k->defaults.tile_n && s->matrix == 0;
    if (layout && c->dev->backend == DSA_BACKEND_CUDA && (c->dev->caps & need) == need) {
        s->matrix = 1;
        s->block = 512; /* 16 warps: 128 registers a thread */
        s->tile_n = 128;
        if (c->dtype == DSA_FP32) { /* hi and lo fragments of q: fewer threads, more registers */
            s->block = 256;
            s->tile_n = 64;
        } else if (c->max_queries > 0) { /* decode: few queries a batch, the warps they fill */
            s->block = 256;
        }
        if (c->dtype == DSA_FP8_E4M3) s->stages = 3; /* the next tile converted while one is used */
    }
    if (s->tile_m == k->defaults.tile_m) {
        int wm = s->matrix && c->dtype != DSA_FP32 ? 2 : 1; /* m-tiles a warp */
        int mg = (c->heads + 15) / 16, tm = s->block / 32 * wm / mg;
        if (c->max_queries > 0 && tm > c->max_queries) tm = (int)c->max_queries;
        s->tile_m = tm < 1 ? 1 : tm;
    }
    /* a device with less shared memory than the layout takes: smaller key tiles */
    while (layout && s->tile_n > 16 && k->shared_bytes && c->dev->shared_mem_per_block &&
           k->shared_bytes(s) > c->dev->shared_mem_per_block)
        s->tile_n /= 2;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Key tiles a work item covers: the whole row when the query groups alone fill the device (q is
 * loaded once per item), else chunks of at least 4 tiles, so that about 4 items per compute unit
 * exist. */
static int64_t chunk_tiles(const dsa_device_info *dev, int64_t groups, int64_t cols, int tile_n)
{
    int64_t n_kt = ceil_div(cols, tile_n);
    if (n_kt < 1) return 1;
    int64_t target = 4 * (int64_t)(dev && dev->compute_units ? dev->compute_units : 32);
    int64_t chunks = groups >= target ? 1 : ceil_div(target, groups > 0 ? groups : 1);
    int64_t most = ceil_div(n_kt, 4);
    if (chunks > most) chunks = most;
    if (chunks < 1) chunks = 1;
    return ceil_div(n_kt, chunks);
}

static dsa_status plan_logits(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    const dsa_indexer_args *a = args;
    (void)ws;
    int64_t S = a->q.shape[0], Skv = a->k.shape[0];
    indexer_ctx ic = {dev, "indexer_logits", (int)a->q.shape[1], a->q.dtype, 0};
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "indexer_logits", adjust_indexer, &ic, &l);
    if (st != DSA_SUCCESS) return st;
    int64_t groups = ceil_div(S, l->spec.tile_m);
    int64_t ct = chunk_tiles(dev, groups, Skv, l->spec.tile_n);
    l->grid[0] = dsa_grid_for(groups * ceil_div(ceil_div(Skv, l->spec.tile_n), ct), 1);
    int has_scale = dsa_tensor_present(&a->k_scale);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->k);
    /* Without k_scale the kernel reads none; weights (also f32, a valid view) fills the slot. */
    dsa_launch_add_buffer(l, has_scale ? &a->k_scale : &a->weights);
    dsa_launch_add_buffer(l, &a->weights);
    dsa_launch_add_buffer(l, &a->ks);
    dsa_launch_add_buffer(l, &a->ke);
    dsa_launch_add_buffer(l, &a->logits);
    dsa_launch_add_i64(l, S);
    dsa_launch_add_i64(l, Skv);
    dsa_launch_add_i64(l, a->q.strides[0]);
    dsa_launch_add_i64(l, a->q.strides[1]);
    dsa_launch_add_i64(l, a->k.strides[0]);
    dsa_launch_add_i64(l, a->weights.strides[0]);
    dsa_launch_add_i64(l, a->logits.strides[0]);
    dsa_launch_add_i64(l, has_scale);
    dsa_launch_add_i64(l, ct);
    return DSA_SUCCESS;
}

static dsa_status plan_decode(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    const dsa_indexer_decode_args *a = args;
    (void)ws;
    int64_t B = a->q.shape[0], N = a->q.shape[1], M = a->logits.shape[1];
    indexer_ctx ic = {dev, "indexer_decode_logits", (int)a->q.shape[2], DSA_FP8_E4M3, N};
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "indexer_decode_logits", adjust_indexer, &ic, &l);
    if (st != DSA_SUCCESS) return st;
    int64_t groups = B * ceil_div(N, l->spec.tile_m);
    int64_t ct = chunk_tiles(dev, groups, M, l->spec.tile_n);
    l->grid[0] = dsa_grid_for(groups * ceil_div(ceil_div(M, l->spec.tile_n), ct), 1);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->k_cache);
    dsa_launch_add_buffer(l, &a->weights);
    dsa_launch_add_buffer(l, &a->context_lens);
    dsa_launch_add_buffer(l, &a->block_table);
    dsa_launch_add_buffer(l, &a->logits);
    dsa_launch_add_i64(l, B);
    dsa_launch_add_i64(l, N);
    dsa_launch_add_i64(l, M);
    dsa_launch_add_i64(l, a->k_cache.shape[1]);   /* P */
    dsa_launch_add_i64(l, a->k_cache.shape[0]);   /* num_pages */
    dsa_launch_add_i64(l, a->block_table.shape[1]); /* max_pages */
    dsa_launch_add_i64(l, a->k_cache.strides[0]); /* page stride, bytes */
    dsa_launch_add_i64(l, a->q.strides[0]);
    dsa_launch_add_i64(l, a->q.strides[1]);
    dsa_launch_add_i64(l, a->q.strides[2]);
    dsa_launch_add_i64(l, a->weights.strides[0]);
    dsa_launch_add_i64(l, a->block_table.strides[0]);
    dsa_launch_add_i64(l, a->logits.strides[0]);
    dsa_launch_add_i64(l, ct);
    return DSA_SUCCESS;
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_INDEXER_LOGITS, plan_logits, NULL},
    {DSA_OP_INDEXER_DECODE_LOGITS, plan_decode, NULL},
};
const dsa_plan_family dsa_plans_indexer = {entries, (int)(sizeof entries / sizeof entries[0])};
