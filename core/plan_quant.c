/* Plans for FP8 group quantization and dequantization (templates/kernels/{quantize,dequantize}_fp8.dsa).
 * Tensors of rank 1..4 are passed as [n0, n1, n2, last] with each tensor's three outer strides. */
#include "plan.h"

static void set_in(dsa_spec *s, const void *ctx) { s->in_dtype = *(const dsa_dtype *)ctx; }
static void set_out(dsa_spec *s, const void *ctx) { s->out_dtype = *(const dsa_dtype *)ctx; }

/* The outer dims of t left-padded to three: shape and strides (a size-1 dim has stride 0). */
static void outer3(const dsa_tensor *t, int64_t n[3], int64_t s[3])
{
    int pad = 4 - t->rank;
    for (int d = 0; d < 3; d++) {
        int src = d - pad;
        n[d] = src >= 0 ? t->shape[src] : 1;
        s[d] = src >= 0 ? t->strides[src] : 0;
    }
}

static void add_outer_strides(dsa_launch *l, const dsa_tensor *t)
{
    int64_t n[3], s[3];
    outer3(t, n, s);
    for (int d = 0; d < 3; d++) dsa_launch_add_i64(l, s[d]);
}

static void add_outer_dims(dsa_launch *l, const dsa_tensor *t, int64_t *rows)
{
    int64_t n[3], s[3];
    outer3(t, n, s);
    *rows = n[0] * n[1] * n[2];
    dsa_launch_add_i64(l, *rows);
    dsa_launch_add_i64(l, n[1] ? n[1] : 1); /* the kernel divides by these; an empty tensor has rows 0 */
    dsa_launch_add_i64(l, n[2] ? n[2] : 1);
}

static dsa_status plan_quantize(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                                dsa_plan *plan)
{
    const dsa_quantize_args *a = args;
    (void)ws;
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "quantize_fp8", set_in, &a->x.dtype, &l);
    if (st != DSA_SUCCESS) return st;
    int64_t rows, groups = a->x.shape[a->x.rank - 1] / 128;
    dsa_launch_add_buffer(l, &a->x);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->scales);
    add_outer_dims(l, &a->x, &rows);
    dsa_launch_add_i64(l, groups);
    add_outer_strides(l, &a->x);
    add_outer_strides(l, &a->q);
    add_outer_strides(l, &a->scales);
    l->grid[0] = dsa_grid_for(rows * groups, 1); /* a block per group */
    return DSA_SUCCESS;
}

static dsa_status plan_dequantize(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                                  dsa_plan *plan)
{
    const dsa_dequantize_args *a = args;
    (void)ws;
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "dequantize_fp8", set_out, &a->out.dtype, &l);
    if (st != DSA_SUCCESS) return st;
    int64_t rows, cols = a->q.shape[a->q.rank - 1];
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->scales);
    dsa_launch_add_buffer(l, &a->out);
    add_outer_dims(l, &a->q, &rows);
    dsa_launch_add_i64(l, cols);
    add_outer_strides(l, &a->q);
    add_outer_strides(l, &a->scales);
    add_outer_strides(l, &a->out);
    l->grid[0] = dsa_grid_for(rows * cols, l->spec.block);
    return DSA_SUCCESS;
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_QUANTIZE_FP8, plan_quantize, NULL},
    {DSA_OP_DEQUANTIZE_FP8, plan_dequantize, NULL},
};
const dsa_plan_family dsa_plans_quant = {entries, (int)(sizeof entries / sizeof entries[0])};
