/* Plans for the lightning indexer (templates/kernels/indexer_logits.dsa, indexer_decode_logits.dsa).
 * Each op is one launch over a flat list of tiles (query tile x key tile for prefill, batch x key
 * tile for decode), blocks striding over it; the kernels skip the tiles no query sees. The spec's
 * heads is the op's H (loops over heads unroll; one compiled variant per H and dtype). */
#include "plan.h"

typedef struct indexer_spec {
    int heads;
    dsa_dtype dtype;
} indexer_spec;

static void set_indexer(dsa_spec *s, const void *ctx)
{
    const indexer_spec *c = ctx;
    s->heads = c->heads;
    s->in_dtype = c->dtype;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static dsa_status plan_logits(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    const dsa_indexer_args *a = args;
    (void)ws;
    int64_t S = a->q.shape[0], Skv = a->k.shape[0];
    indexer_spec is = {(int)a->q.shape[1], a->q.dtype};
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "indexer_logits", set_indexer, &is, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(ceil_div(S, l->spec.tile_m) * ceil_div(Skv, l->spec.tile_n), 1);
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
    return DSA_SUCCESS;
}

static dsa_status plan_decode(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    const dsa_indexer_decode_args *a = args;
    (void)ws;
    int64_t B = a->q.shape[0], N = a->q.shape[1], M = a->logits.shape[1];
    indexer_spec is = {(int)a->q.shape[2], DSA_FP8_E4M3};
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "indexer_decode_logits", set_indexer, &is, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(B * ceil_div(M, l->spec.tile_n), 1);
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
    return DSA_SUCCESS;
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_INDEXER_LOGITS, plan_logits, NULL},
    {DSA_OP_INDEXER_DECODE_LOGITS, plan_decode, NULL},
};
const dsa_plan_family dsa_plans_indexer = {entries, (int)(sizeof entries / sizeof entries[0])};
