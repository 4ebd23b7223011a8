/* Plans for FP8 group quantization and dequantization (templates/kernels/{quantize,dequantize}_fp8.dsa). */
#include "plan.h"

static void set_in(dsa_spec *s, const void *ctx) { s->in_dtype = *(const dsa_dtype *)ctx; }
static void set_out(dsa_spec *s, const void *ctx) { s->out_dtype = *(const dsa_dtype *)ctx; }

/* Tensors whose outer dims do not nest (a padded middle dim) are not flattened: refused with a
 * reason rather than launched wrongly. */
static dsa_status rows_of(const char *op, const char *name, const dsa_tensor *t, int64_t *rows, int64_t *stride)
{
    if (!dsa_as_rows(t, rows, stride))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: %s's outer dimensions are not evenly strided; the GPU "
                        "kernels need them to form rows of one stride", op, name);
    return DSA_SUCCESS;
}

static dsa_status plan_quantize(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    const dsa_quantize_args *a = args;
    (void)ws;
    int64_t rows, xs, qs, ss, r2, r3;
    dsa_status st = rows_of("quantize_fp8", "x", &a->x, &rows, &xs);
    if (st == DSA_SUCCESS) st = rows_of("quantize_fp8", "q", &a->q, &r2, &qs);
    if (st == DSA_SUCCESS) st = rows_of("quantize_fp8", "scales", &a->scales, &r3, &ss);
    if (st != DSA_SUCCESS) return st;
    int64_t groups = a->x.shape[a->x.rank - 1] / 128;
    dsa_launch *l;
    st = dsa_plan_kernel(plan, dev, "quantize_fp8", set_in, &a->x.dtype, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(rows * groups, 1);
    dsa_launch_add_buffer(l, &a->x);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->scales);
    dsa_launch_add_i64(l, rows);
    dsa_launch_add_i64(l, groups);
    dsa_launch_add_i64(l, xs);
    dsa_launch_add_i64(l, qs);
    dsa_launch_add_i64(l, ss);
    return DSA_SUCCESS;
}

static dsa_status plan_dequantize(const dsa_device_info *dev, const void *args, const dsa_workspace *ws,
                                  dsa_plan *plan)
{
    const dsa_dequantize_args *a = args;
    (void)ws;
    int64_t rows, qs, ss, os, r2, r3;
    dsa_status st = rows_of("dequantize_fp8", "q", &a->q, &rows, &qs);
    if (st == DSA_SUCCESS) st = rows_of("dequantize_fp8", "scales", &a->scales, &r2, &ss);
    if (st == DSA_SUCCESS) st = rows_of("dequantize_fp8", "out", &a->out, &r3, &os);
    if (st != DSA_SUCCESS) return st;
    int64_t cols = a->q.shape[a->q.rank - 1];
    dsa_launch *l;
    st = dsa_plan_kernel(plan, dev, "dequantize_fp8", set_out, &a->out.dtype, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(rows * cols, l->spec.block);
    dsa_launch_add_buffer(l, &a->q);
    dsa_launch_add_buffer(l, &a->scales);
    dsa_launch_add_buffer(l, &a->out);
    dsa_launch_add_i64(l, rows);
    dsa_launch_add_i64(l, cols);
    dsa_launch_add_i64(l, qs);
    dsa_launch_add_i64(l, ss);
    dsa_launch_add_i64(l, os);
    return DSA_SUCCESS;
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_QUANTIZE_FP8, plan_quantize, NULL},
    {DSA_OP_DEQUANTIZE_FP8, plan_dequantize, NULL},
};
const dsa_plan_family dsa_plans_quant = {entries, (int)(sizeof entries / sizeof entries[0])};
