/* Plans for the cache writers and readers (templates/kernels/cache_write.dsa, cache_read.dsa).
 * Each op is one launch, one block per row (grid-stride beyond 65535 rows). The two caches differ
 * only in where a token's bytes sit, which the plan passes as scalars:
 *   KV [pages, P, 656]:    values at page*ps + t*ts, scales at page*ps + 512 + t*ts (ts: token stride)
 *   index [pages, P, 132]: values at page*ps + t*128, scales at page*ps + 128*P + t*4
 * A writer is two launches: cache_mark finds the rows a later row of the same slot overrides
 * (one int32 per row in the workspace), then cache_write quantizes the other rows into their slots. */
#include "plan.h"

typedef struct cache_spec {
    int dim;
    dsa_dtype dtype; /* the writer's in_dtype or the reader's out_dtype */
} cache_spec;

static void set_write(dsa_spec *s, const void *ctx)
{
    const cache_spec *c = ctx;
    s->dim = c->dim;
    s->in_dtype = c->dtype;
}

static void set_read(dsa_spec *s, const void *ctx)
{
    const cache_spec *c = ctx;
    s->dim = c->dim;
    s->out_dtype = c->dtype;
}

/* The cache geometry scalars, in the templates' order after the row count and row stride:
 * n_slots, page_size, page_stride, val_stride, scale_base, scale_stride. */
static void add_geometry(dsa_launch *l, const dsa_tensor *cache, int dim)
{
    int64_t pages = cache->shape[0], P = cache->shape[1];
    int64_t ps = cache->strides[0], ts = cache->strides[1];
    dsa_launch_add_i64(l, pages * P);
    dsa_launch_add_i64(l, P);
    dsa_launch_add_i64(l, ps);
    if (dim == 576) {
        dsa_launch_add_i64(l, ts);
        dsa_launch_add_i64(l, 512);
        dsa_launch_add_i64(l, ts);
    } else {
        dsa_launch_add_i64(l, 128);
        dsa_launch_add_i64(l, 128 * P);
        dsa_launch_add_i64(l, 4);
    }
}

static uint64_t write_workspace(const dsa_device_info *dev, const void *args)
{
    const dsa_cache_write_args *a = args;
    (void)dev;
    return (uint64_t)a->rows.shape[0] * 4u;
}

/* later[r] = 1 where a later row names row r's slot (kernels/cache_mark.dsa). */
static dsa_status plan_mark(const dsa_device_info *dev, const dsa_cache_write_args *a, const dsa_tensor *later,
                            dsa_plan *plan)
{
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "cache_mark", NULL, NULL, &l);
    if (st != DSA_SUCCESS) return st;
    int64_t n = a->rows.shape[0];
    l->grid[0] = dsa_grid_for(n, l->spec.block);
    dsa_launch_add_buffer(l, &a->slots);
    dsa_launch_add_buffer(l, later);
    dsa_launch_add_i64(l, n);
    return DSA_SUCCESS;
}

static dsa_status plan_write(const dsa_device_info *dev, const dsa_cache_write_args *a, const dsa_workspace *ws,
                             int dim, dsa_plan *plan)
{
    int64_t n = a->rows.shape[0];
    if (n == 0) return DSA_SUCCESS; /* nothing to write, and no workspace to mark in */
    dsa_tensor later = dsa_tensor_none();
    later.buffer = ws->buffer;
    later.offset = ws->offset;
    later.dtype = DSA_INT32;
    dsa_status st = plan_mark(dev, a, &later, plan);
    if (st != DSA_SUCCESS) return st;
    cache_spec cs = {dim, a->rows.dtype};
    dsa_launch *l;
    st = dsa_plan_kernel(plan, dev, "cache_write", set_write, &cs, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(n, 1);
    dsa_launch_add_buffer(l, &a->rows);
    dsa_launch_add_buffer(l, &a->slots);
    dsa_launch_add_buffer(l, &later);
    dsa_launch_add_buffer(l, &a->cache);
    dsa_launch_add_i64(l, n);
    dsa_launch_add_i64(l, a->rows.strides[0]);
    add_geometry(l, &a->cache, dim);
    return DSA_SUCCESS;
}

static dsa_status plan_read(const dsa_device_info *dev, const dsa_cache_read_args *a, int dim, dsa_plan *plan)
{
    cache_spec cs = {dim, a->out.dtype};
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "cache_read", set_read, &cs, &l);
    if (st != DSA_SUCCESS) return st;
    int64_t n = a->slots.shape[0];
    l->grid[0] = dsa_grid_for(n, 1);
    dsa_launch_add_buffer(l, &a->cache);
    dsa_launch_add_buffer(l, &a->slots);
    dsa_launch_add_buffer(l, &a->out);
    dsa_launch_add_i64(l, n);
    dsa_launch_add_i64(l, a->out.strides[0]);
    add_geometry(l, &a->cache, dim);
    return DSA_SUCCESS;
}

static dsa_status plan_kv_write(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    return plan_write(dev, args, ws, 576, plan);
}

static dsa_status plan_index_write(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                                   dsa_plan *plan)
{
    return plan_write(dev, args, ws, 128, plan);
}

static dsa_status plan_kv_read(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    (void)ws;
    return plan_read(dev, args, 576, plan);
}

static dsa_status plan_index_read(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                                  dsa_plan *plan)
{
    (void)ws;
    return plan_read(dev, args, 128, plan);
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_KV_CACHE_WRITE, plan_kv_write, write_workspace},
    {DSA_OP_INDEX_CACHE_WRITE, plan_index_write, write_workspace},
    {DSA_OP_KV_CACHE_READ, plan_kv_read, NULL},
    {DSA_OP_INDEX_CACHE_READ, plan_index_read, NULL},
};
const dsa_plan_family dsa_plans_cache = {entries, (int)(sizeof entries / sizeof entries[0])};
