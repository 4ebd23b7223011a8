/* Cache writers and readers, FP8 group quantize/dequantize (docs/ops.md section 5 and "FP8 group
 * quantization") on the CPU. Bit-exact: every conversion goes through core/dtype.h.
 *
 * Layouts
 *  - MLA cache [num_pages, P, 656] uint8, token (page, t) at page*stride0 + t*stride1: 512 fp8
 *    values (4 groups of 128), 4 fp32 scales at bytes 512..527, 64 bf16 rope values at 528..655.
 *  - Indexer cache [num_pages, P, 132] uint8, a page's P*132 bytes contiguous: token t's 128 fp8
 *    values at page_base + 128*t, its scale at page_base + 128*P + 4*t.
 * Multi-byte cache fields are little-endian and may be unaligned, so they are assembled byte by
 * byte (independent of the host's byte order). */
#include "cpu_kernels.h"
#include "dtype.h"
#include "internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

enum { GROUP = 128, KV_ROW = 656, KV_SCALES = 512, KV_ROPE = 528, KV_LATENT = 512, KV_DIM = 576 };

/* ---- scalar helpers -------------------------------------------------------------------------- */

static inline void store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint16_t load_le16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)p[1] << 8); }

static inline void store_le_f32(uint8_t *p, float f)
{
    uint32_t u = dsa_f32_bits(f);
    for (int b = 0; b < 4; b++) p[b] = (uint8_t)(u >> (8 * b));
}

static inline float load_le_f32(const uint8_t *p)
{
    uint32_t u = 0;
    for (int b = 0; b < 4; b++) u |= (uint32_t)p[b] << (8 * b);
    return dsa_bits_f32(u);
}

/* Element c of a bf16 / fp16 / fp32 vector as fp32 (exact for all three). */
static inline float load_f32(const void *v, dsa_dtype dt, int64_t c)
{
    if (dt == DSA_FP32) return ((const float *)v)[c];
    uint16_t h = ((const uint16_t *)v)[c];
    return dt == DSA_BF16 ? dsa_bf16_to_f32(h) : dsa_fp16_to_f32(h);
}

/* Stores fp32 x into element c of an fp32 or bf16 (round to nearest even) vector. */
static inline void store_out(void *v, dsa_dtype dt, int64_t c, float x)
{
    if (dt == DSA_FP32) ((float *)v)[c] = x;
    else ((uint16_t *)v)[c] = dsa_f32_to_bf16(x);
}

/* ---- the group rule ------------------------------------------------------------------------- */

/* Quantizes GROUP values starting at element c0 of src into q; returns the group's scale.
 * amax counts finite values only (NaN and infinities would otherwise poison the group); a NaN is
 * encoded from the input itself so its sign survives whatever the division does to NaN bits. */
static float quant_group(const void *src, dsa_dtype dt, int64_t c0, uint8_t *q)
{
    float v[GROUP], amax = 0.0f;
    for (int c = 0; c < GROUP; c++) {
        v[c] = load_f32(src, dt, c0 + c);
        float m = fabsf(v[c]);
        if (m <= FLT_MAX && m > amax) amax = m;
    }
    float s = dsa_fp8_scale_for_amax(amax);
    for (int c = 0; c < GROUP; c++) q[c] = dsa_f32_to_fp8(v[c] != v[c] ? v[c] : v[c] / s);
    return s;
}

/* Writes n dequantized values q*s to elements [c0, c0 + n) of an fp32 or bf16 vector. */
static void dequant_run(const uint8_t *q, float s, int n, void *dst, dsa_dtype dt, int64_t c0)
{
    for (int c = 0; c < n; c++) store_out(dst, dt, c0 + c, dsa_fp8_to_f32(q[c]) * s);
}

/* ---- slots ------------------------------------------------------------------------------------ */

typedef struct cache_geom {
    uint8_t *base;
    int64_t pages, P, page_stride, token_stride;
} cache_geom;

static cache_geom geom_of(const dsa_tensor *cache)
{
    cache_geom g;
    g.base = (uint8_t *)(void *)cpu_ptr(cache);
    g.pages = cache->shape[0];
    g.P = cache->shape[1];
    g.page_stride = cache->strides[0];
    g.token_stride = cache->strides[1];
    return g;
}

/* Whether slot s names a token of the cache (64-bit compare: num_pages * P may exceed int32). */
static inline int slot_valid(const cache_geom *g, int64_t s) { return s >= 0 && s < g->pages * g->P; }

static inline int64_t slot_at(const dsa_tensor *slots, int64_t r)
{
    return ((const int32_t *)(const void *)cpu_ptr(slots))[r * slots->strides[0]];
}

/* ---- writers ------------------------------------------------------------------------------------
 * Rows go to their slots in parallel. Two rows naming one slot would race (and could leave the
 * slot holding a mix of both), so before the parallel part the valid (slot, row) pairs are sorted
 * and only the last row of each slot is written: the result is that row, whatever the thread
 * count, as a sequential loop would leave it. */

typedef struct write_job {
    const dsa_cache_write_args *a;
    cache_geom g;
    const char *rows;
    int64_t row_stride;
    const uint64_t *work; /* (slot << 32 | row) of the rows to write */
} write_job;

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Fills work with the rows to write (one per distinct valid slot); returns how many. A row index
 * takes the low 32 bits: 2^32 rows of 128+ values would not fit in any host's memory. */
static int64_t writer_plan(const dsa_cache_write_args *a, const cache_geom *g, uint64_t *work)
{
    int64_t n = a->slots.shape[0], m = 0, w = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t s = slot_at(&a->slots, r);
        if (slot_valid(g, s)) work[m++] = (uint64_t)s << 32 | (uint64_t)r;
    }
    qsort(work, (size_t)m, sizeof *work, cmp_u64);
    for (int64_t t = 0; t < m; t++) /* keep the last (highest) row of each slot; w <= t */
        if (t + 1 == m || (work[t + 1] >> 32) != (work[t] >> 32)) work[w++] = work[t];
    return w;
}

static uint64_t writer_workspace(const dsa_cache_write_args *a)
{
    return ((uint64_t)a->slots.shape[0] * sizeof(uint64_t) + 63u) & ~(uint64_t)63u;
}

static void write_kv_row(const write_job *jb, int64_t r, int64_t s)
{
    const cache_geom *g = &jb->g;
    uint8_t *dst = g->base + (s / g->P) * g->page_stride + (s % g->P) * g->token_stride;
    const void *row = jb->rows + r * jb->row_stride;
    dsa_dtype dt = jb->a->rows.dtype;
    for (int grp = 0; grp < KV_LATENT / GROUP; grp++) {
        float sc = quant_group(row, dt, (int64_t)grp * GROUP, dst + grp * GROUP);
        store_le_f32(dst + KV_SCALES + 4 * grp, sc);
    }
    for (int c = 0; c < KV_DIM - KV_LATENT; c++) {
        int64_t e = KV_LATENT + c;
        uint16_t h = dt == DSA_BF16 ? ((const uint16_t *)row)[e] : dsa_f32_to_bf16(((const float *)row)[e]);
        store_le16(dst + KV_ROPE + 2 * c, h);
    }
}

static void write_index_row(const write_job *jb, int64_t r, int64_t s)
{
    const cache_geom *g = &jb->g;
    int64_t t = s % g->P;
    uint8_t *page = g->base + (s / g->P) * g->page_stride;
    const void *row = jb->rows + r * jb->row_stride;
    float sc = quant_group(row, jb->a->rows.dtype, 0, page + t * GROUP);
    store_le_f32(page + g->P * GROUP + 4 * t, sc);
}

static void kv_write_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const write_job *jb = (const write_job *)arg;
    (void)thread;
    for (int64_t i = begin; i < end; i++)
        write_kv_row(jb, (int64_t)(uint32_t)jb->work[i], (int64_t)(jb->work[i] >> 32));
}

static void index_write_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const write_job *jb = (const write_job *)arg;
    (void)thread;
    for (int64_t i = begin; i < end; i++)
        write_index_row(jb, (int64_t)(uint32_t)jb->work[i], (int64_t)(jb->work[i] >> 32));
}

static dsa_status run_writer(cpu_pool *pool, const dsa_cache_write_args *a, void *ws, cpu_task_fn fn)
{
    write_job jb;
    jb.a = a;
    jb.g = geom_of(&a->cache);
    jb.rows = cpu_ptr(&a->rows);
    jb.row_stride = a->rows.strides[0] * (int64_t)dsa_dtype_size(a->rows.dtype);
    if (a->slots.shape[0] == 0 || jb.g.P <= 0) return DSA_SUCCESS;
    uint64_t *work = (uint64_t *)ws;
    int64_t n = writer_plan(a, &jb.g, work);
    jb.work = work;
    if (n > 0) cpu_parallel_for(pool, n, 8, fn, &jb);
    return DSA_SUCCESS;
}

uint64_t cpu_kv_cache_write_workspace(int threads, const dsa_cache_write_args *a)
{
    (void)threads;
    return writer_workspace(a);
}

uint64_t cpu_index_cache_write_workspace(int threads, const dsa_cache_write_args *a)
{
    (void)threads;
    return writer_workspace(a);
}

dsa_status cpu_kv_cache_write(cpu_pool *pool, const dsa_cache_write_args *a, void *ws)
{
    return run_writer(pool, a, ws, kv_write_task);
}

dsa_status cpu_index_cache_write(cpu_pool *pool, const dsa_cache_write_args *a, void *ws)
{
    return run_writer(pool, a, ws, index_write_task);
}

/* ---- readers: each out row is written by the task of its index; invalid slots leave it ---- */

typedef struct read_job {
    const dsa_cache_read_args *a;
    cache_geom g;
    char *out;
    int64_t out_stride; /* bytes */
} read_job;

static void read_kv_row(const read_job *jb, int64_t r)
{
    int64_t s = slot_at(&jb->a->slots, r);
    if (!slot_valid(&jb->g, s)) return;
    const uint8_t *src = jb->g.base + (s / jb->g.P) * jb->g.page_stride + (s % jb->g.P) * jb->g.token_stride;
    void *dst = jb->out + r * jb->out_stride;
    dsa_dtype dt = jb->a->out.dtype;
    for (int grp = 0; grp < KV_LATENT / GROUP; grp++)
        dequant_run(src + grp * GROUP, load_le_f32(src + KV_SCALES + 4 * grp), GROUP, dst, dt,
                    (int64_t)grp * GROUP);
    for (int c = 0; c < KV_DIM - KV_LATENT; c++) {
        uint16_t h = load_le16(src + KV_ROPE + 2 * c);
        if (dt == DSA_BF16) ((uint16_t *)dst)[KV_LATENT + c] = h; /* rope as stored */
        else ((float *)dst)[KV_LATENT + c] = dsa_bf16_to_f32(h);
    }
}

static void read_index_row(const read_job *jb, int64_t r)
{
    int64_t s = slot_at(&jb->a->slots, r);
    if (!slot_valid(&jb->g, s)) return;
    int64_t t = s % jb->g.P;
    const uint8_t *page = jb->g.base + (s / jb->g.P) * jb->g.page_stride;
    float sc = load_le_f32(page + jb->g.P * GROUP + 4 * t);
    dequant_run(page + t * GROUP, sc, GROUP, jb->out + r * jb->out_stride, jb->a->out.dtype, 0);
}

static void kv_read_task(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    for (int64_t r = begin; r < end; r++) read_kv_row((const read_job *)arg, r);
}

static void index_read_task(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    for (int64_t r = begin; r < end; r++) read_index_row((const read_job *)arg, r);
}

static dsa_status run_reader(cpu_pool *pool, const dsa_cache_read_args *a, cpu_task_fn fn)
{
    read_job jb;
    jb.a = a;
    jb.g = geom_of(&a->cache);
    jb.out = cpu_ptr(&a->out);
    jb.out_stride = a->out.strides[0] * (int64_t)dsa_dtype_size(a->out.dtype);
    int64_t n = a->slots.shape[0];
    if (n > 0 && jb.g.P > 0) cpu_parallel_for(pool, n, 8, fn, &jb);
    return DSA_SUCCESS;
}

uint64_t cpu_kv_cache_read_workspace(int threads, const dsa_cache_read_args *a)
{
    (void)threads;
    (void)a;
    return 0;
}

uint64_t cpu_index_cache_read_workspace(int threads, const dsa_cache_read_args *a)
{
    (void)threads;
    (void)a;
    return 0;
}

dsa_status cpu_kv_cache_read(cpu_pool *pool, const dsa_cache_read_args *a, void *ws)
{
    (void)ws;
    return run_reader(pool, a, kv_read_task);
}

dsa_status cpu_index_cache_read(cpu_pool *pool, const dsa_cache_read_args *a, void *ws)
{
    (void)ws;
    return run_reader(pool, a, index_read_task);
}

/* ---- quantize / dequantize: one work item per group of 128 ----------------------------------- */

/* Element offset of row `row` (all dimensions but the last, row-major) of a view. */
static int64_t row_offset(const dsa_tensor *t, int64_t row)
{
    int64_t off = 0;
    for (int d = t->rank - 2; d >= 0; d--) {
        off += (row % t->shape[d]) * t->strides[d];
        row /= t->shape[d];
    }
    return off;
}

typedef struct group_job {
    const dsa_tensor *vals;   /* x (quantize) or out (dequantize) */
    const dsa_tensor *q, *scales;
    char *vals_p, *q_p, *scales_p;
    int64_t groups_per_row;
} group_job;

/* Addresses of group item i: its first value, its fp8 codes, its scale. */
static void group_ptrs(const group_job *jb, int64_t i, char **v, uint8_t **q, float **s)
{
    int64_t row = i / jb->groups_per_row, grp = i % jb->groups_per_row;
    int64_t col = grp * GROUP;
    *v = jb->vals_p + (row_offset(jb->vals, row) + col) * (int64_t)dsa_dtype_size(jb->vals->dtype);
    *q = (uint8_t *)jb->q_p + row_offset(jb->q, row) + col;
    *s = (float *)(void *)jb->scales_p + row_offset(jb->scales, row) + grp;
}

static void quantize_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const group_job *jb = (const group_job *)arg;
    (void)thread;
    for (int64_t i = begin; i < end; i++) {
        char *v;
        uint8_t *q;
        float *s;
        group_ptrs(jb, i, &v, &q, &s);
        *s = quant_group(v, jb->vals->dtype, 0, q);
    }
}

static void dequantize_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const group_job *jb = (const group_job *)arg;
    (void)thread;
    for (int64_t i = begin; i < end; i++) {
        char *v;
        uint8_t *q;
        float *s;
        group_ptrs(jb, i, &v, &q, &s);
        dequant_run(q, *s, GROUP, v, jb->vals->dtype, 0);
    }
}

static void run_groups(cpu_pool *pool, group_job *jb, cpu_task_fn fn)
{
    const dsa_tensor *v = jb->vals;
    jb->groups_per_row = v->shape[v->rank - 1] / GROUP;
    int64_t items = dsa_tensor_numel(v) / GROUP;
    if (items > 0) cpu_parallel_for(pool, items, 64, fn, jb);
}

uint64_t cpu_quantize_fp8_workspace(int threads, const dsa_quantize_args *a)
{
    (void)threads;
    (void)a;
    return 0;
}

uint64_t cpu_dequantize_fp8_workspace(int threads, const dsa_dequantize_args *a)
{
    (void)threads;
    (void)a;
    return 0;
}

dsa_status cpu_quantize_fp8(cpu_pool *pool, const dsa_quantize_args *a, void *ws)
{
    (void)ws;
    group_job jb = {&a->x, &a->q, &a->scales, cpu_ptr(&a->x), cpu_ptr(&a->q), cpu_ptr(&a->scales), 0};
    run_groups(pool, &jb, quantize_task);
    return DSA_SUCCESS;
}

dsa_status cpu_dequantize_fp8(cpu_pool *pool, const dsa_dequantize_args *a, void *ws)
{
    (void)ws;
    group_job jb = {&a->out, &a->q, &a->scales, cpu_ptr(&a->out), cpu_ptr(&a->q), cpu_ptr(&a->scales), 0};
    run_groups(pool, &jb, dequantize_task);
    return DSA_SUCCESS;
}
