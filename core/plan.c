/* Launch plans: dispatch per op and the helpers plan files share (plan.h). */
#include "plan.h"

#include <string.h>

static const dsa_plan_family *const families[] = {&dsa_plans_quant, &dsa_plans_cache, &dsa_plans_indexer,
                                                   &dsa_plans_topk, &dsa_plans_mla};

static const dsa_plan_entry *find_entry(dsa_op op)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (int i = 0; i < families[f]->count; i++)
            if (families[f]->entries[i].op == op) return &families[f]->entries[i];
    return NULL;
}

dsa_status dsa_plan_workspace(const dsa_device_info *dev, dsa_op op, const void *args, uint64_t *bytes)
{
    const dsa_plan_entry *e = find_entry(op);
    *bytes = e && e->workspace ? e->workspace(dev, args) : 0;
    return DSA_SUCCESS;
}

dsa_status dsa_plan_build(const dsa_device_info *dev, dsa_op op, const void *args, const dsa_workspace *ws,
                          dsa_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    const dsa_plan_entry *e = find_entry(op);
    if (!e)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: unsupported on %s: no kernel template for this op yet",
                        dsa_op_name(op), dev->name);
    return e->plan(dev, args, ws, plan);
}

dsa_status dsa_plan_kernel(dsa_plan *plan, const dsa_device_info *dev, const char *name,
                           void (*adjust)(dsa_spec *spec, const void *ctx), const void *adjust_ctx,
                           dsa_launch **out)
{
    const dsa_kernel_def *k = dsa_kernel_find(name);
    if (!k || !k->source) return dsa_fail(DSA_ERROR_INTERNAL, "plan: kernel %s is not in this build", name);
    if (plan->n >= DSA_PLAN_MAX_LAUNCHES) return dsa_fail(DSA_ERROR_INTERNAL, "plan: too many launches");
    dsa_launch *l = &plan->launch[plan->n];
    memset(l, 0, sizeof *l);
    l->kernel = k;
    l->spec = k->defaults;
    dsa_spec_use_device(&l->spec, dev); /* the device's fast paths; the tuning overlay may undo them */
    dsa_status st = dsa_tuning_apply(k, dev, &l->spec);
    if (st != DSA_SUCCESS) return st;
    if (adjust) adjust(&l->spec, adjust_ctx);
    st = dsa_spec_check(k, &l->spec, dev);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = l->grid[1] = l->grid[2] = 1;
    plan->n++;
    *out = l;
    return DSA_SUCCESS;
}

int dsa_plan_largest_tile_n(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *dev, int largest,
                            int above)
{
    dsa_spec t = *spec;
    for (t.tile_n = largest; t.tile_n > above; t.tile_n /= 2)
        if (dsa_spec_check(k, &t, dev) == DSA_SUCCESS) return t.tile_n;
    return 0;
}

void dsa_launch_add_buffer(dsa_launch *l, const dsa_tensor *t)
{
    if (l->n_buffers >= DSA_MAX_KERNEL_ARGS) return;
    l->buffers[l->n_buffers].buffer = t->buffer;
    l->buffers[l->n_buffers].byte_offset = t->offset;
    l->n_buffers++;
}

void dsa_launch_add_i64(dsa_launch *l, int64_t v)
{
    if (l->n_scalars < DSA_MAX_KERNEL_ARGS) l->scalars[l->n_scalars++].i = v;
}

void dsa_launch_add_f32(dsa_launch *l, float v)
{
    if (l->n_scalars < DSA_MAX_KERNEL_ARGS) l->scalars[l->n_scalars++].f = v;
}

uint32_t dsa_grid_for(int64_t n, int64_t per_block)
{
    /* 65535 blocks keep every dialect's first grid dimension legal; kernels stride over the rest. */
    int64_t blocks = per_block > 0 ? (n + per_block - 1) / per_block : 1;
    if (blocks < 1) blocks = 1;
    return blocks > 65535 ? 65535u : (uint32_t)blocks;
}

int dsa_as_rows(const dsa_tensor *t, int64_t *rows, int64_t *row_stride)
{
    int r = t->rank;
    int64_t n = 1;
    for (int d = 0; d < r - 1; d++) n *= t->shape[d];
    *rows = n;
    *row_stride = r >= 2 ? t->strides[r - 2] : t->shape[r - 1];
    /* Outer dims must step by whole rows: strides[d] == strides[d+1] * shape[d+1] for d < r - 2. */
    for (int d = 0; d + 2 < r; d++)
        if (t->shape[d] > 1 && t->strides[d] != t->strides[d + 1] * t->shape[d + 1]) return 0;
    return 1;
}
