/* Plans for top-k (docs/ops.md section 2; kernels in templates/kernels/topk_*.dsa).
 *
 * Unsorted: one launch of topk_select, which writes every row's final indices and padding.
 * Sorted (kmax = min(k, L) > 1):
 *   1. topk_select writes each row's selected columns (relative to lo) to P0 and the
 *      row's lo and kk to a header at the start of the workspace ([S][2] int32);
 *   2. topk_sort sorts runs of RUN (its spec's tile_n) columns of P0 in place;
 *   3. m = ceil(log2(runs)) topk_merge passes, pass i reading P(i-1) and writing P(i).
 * P(m) is the output in its final form; the earlier P(i) alternate between the workspace's
 * [S][kmax] int32 area and the output itself (whose rows hold k >= kmax entries), chosen so
 * that no pass reads and writes the same area. */
#include "plan.h"

#include <string.h>

/* topk_flags bits, as the templates define them. */
enum { TOPK_HAS_START = 1, TOPK_HAS_END = 2, TOPK_RAW = 16, TOPK_RAW_TO_WS = 32, TOPK_FINAL = 16 };

static int64_t topk_kmax(const dsa_topk_args *a)
{
    int64_t L = a->scores.shape[1];
    return a->k < L ? a->k : L;
}

static int topk_sorted_path(const dsa_topk_args *a) { return a->sorted && topk_kmax(a) > 1; }

/* Merge passes after sorting runs of `run`: ceil(log2(ceil(kmax / run))). */
static int topk_merge_passes(int64_t kmax, int64_t run)
{
    int m = 0;
    for (int64_t covered = run; covered < kmax; covered *= 2) m++;
    return m;
}

/* The run length topk_sort will use on this device (its defaults and the tuning overlay), so that
 * the workspace rule and the plan agree. */
static int64_t topk_sort_run(const dsa_device_info *dev)
{
    const dsa_kernel_def *k = dsa_kernel_find("topk_sort");
    if (!k) return 1024;
    dsa_spec s = k->defaults;
    if (dsa_tuning_apply(k, dev, &s) != DSA_SUCCESS || s.tile_n < 1024) return 1024;
    return s.tile_n;
}

static uint64_t topk_workspace(const dsa_device_info *dev, const void *args)
{
    const dsa_topk_args *a = args;
    int64_t S = a->scores.shape[0], kmax = topk_kmax(a);
    if (S == 0 || !topk_sorted_path(a)) return 0;
    uint64_t bytes = (uint64_t)S * 8u; /* the header: lo, kk per row */
    if (topk_merge_passes(kmax, topk_sort_run(dev)) > 0) bytes += (uint64_t)S * (uint64_t)kmax * 4u;
    return bytes;
}

/* What every launch of one op shares. */
typedef struct topk_ctx {
    const dsa_topk_args *a;
    int64_t S, L, kmax;
    dsa_tensor dummy;          /* stands for absent inputs: never read by the kernels */
    dsa_tensor starts, ends, table;
    dsa_tensor hdr, area;      /* the workspace's header and [S][kmax] area */
    int64_t tb_stride, rows_per_batch;
    int64_t page, max_pages;
} topk_ctx;

static dsa_tensor topk_view(dsa_buffer *b, uint64_t offset)
{
    dsa_tensor t;
    memset(&t, 0, sizeof t);
    t.buffer = b;
    t.offset = offset;
    t.dtype = DSA_INT32;
    return t;
}

static void topk_ctx_init(topk_ctx *c, const dsa_topk_args *a, const dsa_workspace *ws)
{
    memset(c, 0, sizeof *c);
    c->a = a;
    c->S = a->scores.shape[0];
    c->L = a->scores.shape[1];
    c->kmax = topk_kmax(a);
    /* The output has a buffer whenever S > 0 (k >= 1); a kernel never touches a dummy. */
    c->dummy = a->indices;
    c->starts = dsa_tensor_present(&a->ks) && a->ks.buffer ? a->ks : c->dummy;
    c->ends = dsa_tensor_present(&a->ke) && a->ke.buffer ? a->ke : c->dummy;
    if (dsa_tensor_present(&a->lengths) && a->lengths.buffer) c->ends = a->lengths;
    c->table = c->dummy;
    c->rows_per_batch = 1;
    if (a->form == DSA_TOPK_SLOT) {
        if (a->block_table.buffer) c->table = a->block_table;
        c->tb_stride = a->block_table.strides[0];
        c->rows_per_batch = a->block_table.shape[0] > 0 ? c->S / a->block_table.shape[0] : 1;
        if (c->rows_per_batch < 1) c->rows_per_batch = 1;
        c->page = a->page_size;
        /* Pages past column L - 1 are never looked up, so the count can saturate at int32. */
        c->max_pages = a->block_table.shape[1] > INT32_MAX ? INT32_MAX : a->block_table.shape[1];
    }
    c->hdr = c->area = c->dummy;
    if (ws && ws->buffer) {
        c->hdr = topk_view(ws->buffer, ws->offset);
        c->area = topk_view(ws->buffer, ws->offset + (uint64_t)c->S * 8u);
    }
}

static int topk_flags(const topk_ctx *c, int extra)
{
    int f = (int)c->a->form << 2 | extra;
    if (dsa_tensor_present(&c->a->ks)) f |= TOPK_HAS_START | TOPK_HAS_END;
    else if (dsa_tensor_present(&c->a->lengths)) f |= TOPK_HAS_END;
    return f;
}

static void topk_add_slot_scalars(dsa_launch *l, const topk_ctx *c)
{
    dsa_launch_add_i64(l, c->tb_stride);
    dsa_launch_add_i64(l, c->rows_per_batch);
}

/* topk_select's layout beyond the portable defaults (256 threads, 2048 candidates), unless the
 * tuning table set one: the most candidates, up to 16384, that fit the device's shared memory (a
 * row's bucket then almost always fits, and the row is read twice); on CUDA 512 threads when
 * there are rows for every SM, 1024 when there are few (one block per row: more loads in flight).
 * H100, 131072 columns, k 2048: 4096 rows 3.62 ms at 256/2048, 2.81 at 512/8192, 3.32 at
 * 1024/16384; 64 rows 0.275, 0.126, 0.104 ms, and 0.098 ms at 1024/16384 with 8 columns per
 * thread in the collection (perf/README.md). */
typedef struct select_ctx {
    const topk_ctx *c;
    const dsa_device_info *dev;
} select_ctx;

static void adjust_select(dsa_spec *spec, const void *ctx)
{
    const select_ctx *p = ctx;
    const dsa_kernel_def *k = dsa_kernel_find("topk_select");
    if (!k || spec->block != k->defaults.block || spec->tile_n != k->defaults.tile_n) return;
    int largest = 16384;
    if (p->dev->backend == DSA_BACKEND_CUDA) {
        int64_t sms = p->dev->compute_units ? p->dev->compute_units : 1;
        int many_rows = p->c->S >= 2 * sms;
        spec->block = many_rows ? 512 : 1024;
        if (many_rows) largest = 8192; /* several blocks per SM do better than more candidates */
        else spec->tile_k = 8;         /* 64 rows: 0.098 ms at 8 columns a thread, 0.103 at 16 */
    }
    int tn = dsa_plan_largest_tile_n(k, spec, p->dev, largest, spec->tile_n);
    if (tn) spec->tile_n = tn;
    if (dsa_spec_check(k, spec, p->dev) != DSA_SUCCESS) { /* e.g. fewer threads per block */
        spec->block = k->defaults.block;
        spec->tile_n = k->defaults.tile_n;
        spec->tile_k = k->defaults.tile_k;
    }
}

static dsa_status topk_add_select(dsa_plan *plan, const dsa_device_info *dev, const topk_ctx *c, int flags)
{
    dsa_launch *l;
    select_ctx sc = {c, dev};
    dsa_status st = dsa_plan_kernel(plan, dev, "topk_select", adjust_select, &sc, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(c->S, 1);
    dsa_launch_add_buffer(l, c->L > 0 && c->a->scores.buffer ? &c->a->scores : &c->dummy);
    dsa_launch_add_buffer(l, &c->starts);
    dsa_launch_add_buffer(l, &c->ends);
    dsa_launch_add_buffer(l, &c->table);
    dsa_launch_add_buffer(l, &c->a->indices);
    dsa_launch_add_buffer(l, (flags & TOPK_RAW) ? &c->hdr : &c->dummy);
    dsa_launch_add_i64(l, c->S);
    dsa_launch_add_i64(l, c->a->scores.strides[0]);
    dsa_launch_add_i64(l, c->a->indices.strides[0]);
    topk_add_slot_scalars(l, c);
    dsa_launch_add_i64(l, c->L);
    dsa_launch_add_i64(l, c->a->k);
    dsa_launch_add_i64(l, c->kmax);
    dsa_launch_add_i64(l, topk_flags(c, flags));
    dsa_launch_add_i64(l, c->page);
    dsa_launch_add_i64(l, c->max_pages);
    return DSA_SUCCESS;
}

/* P(i) of the sorted path with m merge passes: the output for i == m and every (m - i) even,
 * the workspace area otherwise. */
static int topk_in_area(int i, int m) { return i < m && (m - i) % 2 == 1; }

static void topk_fill_sort(dsa_launch *l, const topk_ctx *c, int m)
{
    int64_t runs = (c->kmax + l->spec.tile_n - 1) / l->spec.tile_n;
    l->grid[0] = dsa_grid_for(c->S * runs, 1);
    int in_area = topk_in_area(0, m);
    dsa_launch_add_buffer(l, &c->a->scores);
    dsa_launch_add_buffer(l, &c->hdr);
    dsa_launch_add_buffer(l, in_area ? &c->area : &c->a->indices);
    dsa_launch_add_buffer(l, &c->table);
    dsa_launch_add_i64(l, c->S);
    dsa_launch_add_i64(l, c->a->scores.strides[0]);
    dsa_launch_add_i64(l, in_area ? c->kmax : c->a->indices.strides[0]);
    topk_add_slot_scalars(l, c);
    dsa_launch_add_i64(l, c->kmax);
    dsa_launch_add_i64(l, topk_flags(c, m == 0 ? TOPK_FINAL : 0));
    dsa_launch_add_i64(l, c->page);
    dsa_launch_add_i64(l, c->max_pages);
}

static dsa_status topk_add_merge(dsa_plan *plan, const dsa_device_info *dev, const topk_ctx *c, int i, int m,
                                 int64_t run)
{
    dsa_launch *l;
    dsa_status st = dsa_plan_kernel(plan, dev, "topk_merge", NULL, NULL, &l);
    if (st != DSA_SUCCESS) return st;
    l->grid[0] = dsa_grid_for(c->S * ((c->kmax + l->spec.block - 1) / l->spec.block), 1);
    int src_area = topk_in_area(i - 1, m), dst_area = topk_in_area(i, m);
    dsa_launch_add_buffer(l, &c->a->scores);
    dsa_launch_add_buffer(l, &c->hdr);
    dsa_launch_add_buffer(l, src_area ? &c->area : &c->a->indices);
    dsa_launch_add_buffer(l, dst_area ? &c->area : &c->a->indices);
    dsa_launch_add_buffer(l, &c->table);
    dsa_launch_add_i64(l, c->S);
    dsa_launch_add_i64(l, c->a->scores.strides[0]);
    dsa_launch_add_i64(l, src_area ? c->kmax : c->a->indices.strides[0]);
    dsa_launch_add_i64(l, dst_area ? c->kmax : c->a->indices.strides[0]);
    topk_add_slot_scalars(l, c);
    dsa_launch_add_i64(l, c->kmax);
    dsa_launch_add_i64(l, run << (i - 1));
    dsa_launch_add_i64(l, topk_flags(c, i == m ? TOPK_FINAL : 0));
    dsa_launch_add_i64(l, c->page);
    dsa_launch_add_i64(l, c->max_pages);
    return DSA_SUCCESS;
}

static dsa_status plan_topk(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan)
{
    const dsa_topk_args *a = args;
    topk_ctx c;
    topk_ctx_init(&c, a, ws);
    if (c.S == 0) return DSA_SUCCESS; /* nothing to write */
    if (!topk_sorted_path(a)) return topk_add_select(plan, dev, &c, 0);
    int64_t run = topk_sort_run(dev); /* as the workspace rule saw it */
    int m = topk_merge_passes(c.kmax, run);
    dsa_status st = topk_add_select(plan, dev, &c, TOPK_RAW | (topk_in_area(0, m) ? TOPK_RAW_TO_WS : 0));
    dsa_launch *sort;
    if (st == DSA_SUCCESS) st = dsa_plan_kernel(plan, dev, "topk_sort", NULL, NULL, &sort);
    if (st != DSA_SUCCESS) return st;
    if (sort->spec.tile_n != run)
        return dsa_fail(DSA_ERROR_INTERNAL, "topk: topk_sort's run length %d differs from the workspace rule's %lld",
                        sort->spec.tile_n, (long long)run);
    topk_fill_sort(sort, &c, m);
    for (int i = 1; i <= m && st == DSA_SUCCESS; i++) st = topk_add_merge(plan, dev, &c, i, m, run);
    return st;
}

static const dsa_plan_entry entries[] = {
    {DSA_OP_TOPK, plan_topk, topk_workspace},
};
const dsa_plan_family dsa_plans_topk = {entries, (int)(sizeof entries / sizeof entries[0])};
