/* Top-k selection (docs/ops.md section 2) on the CPU.
 *
 * Method, O(L) per row and independent of k:
 *  1. Each score maps to a uint32 key whose unsigned order is the contract's total order
 *     (every NaN lowest, then -inf, numbers, +inf; -0 ranks as +0). Keys are recomputed on each
 *     pass instead of stored, so the scratch does not grow with L.
 *  2. A radix select over the key's digits (11, 11, 10 bits, most significant first) finds the
 *     key T of the k-th ranked column and how many columns with key T belong to the set.
 *  3. One ascending scan collects every column with key > T plus the lowest-indexed columns with
 *     key == T, so ties go to the lower index and the unsorted output is in ascending column order.
 *  4. With `sorted`, a stable LSD radix sort by descending key reorders the set; stability keeps
 *     equal keys in ascending column order, as the contract asks.
 * Rows are independent and split over the pool's threads; each row's output is written by the one
 * task that owns it, so the result does not depend on the thread count. */
#include "cpu_kernels.h"
#include "dtype.h"
#include "internal.h"

#include <string.h>

enum { TOPK_HIST = 2048 }; /* buckets of the widest digit (11 bits) */

/* Digits, most significant first: shift and width. */
static const int topk_shift[3] = {21, 10, 0};
static const int topk_width[3] = {11, 11, 10};

/* The key: unsigned order = rank order. Negative numbers have their bits reversed and sit below
 * the positives (whose top bit is set); NaN maps to 0, which no number reaches (~u == 0 would need
 * u == 0xffffffff, itself a NaN). */
static inline uint32_t topk_key(float f)
{
    uint32_t u = dsa_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0u;
    if (u == 0x80000000u) u = 0u; /* -0 ranks as +0 */
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

typedef struct topk_job {
    const float *scores;
    int64_t scores_stride; /* row stride of scores, elements */
    int32_t *out;
    int64_t out_stride;
    int64_t L, k;
    /* row ranges: ks/ke, or lengths, or neither */
    const int32_t *ks, *ke, *lengths;
    int64_t ks_stride, ke_stride, len_stride;
    int sorted;
    dsa_topk_form form;
    /* slot form */
    const int32_t *table;
    int64_t table_stride0, table_stride1, max_pages, rows_per_batch, page;
    /* per-thread scratch */
    char *ws;
    uint64_t ws_per_thread;
} topk_job;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Row i's range [lo, hi) per the contract (clamped; empty when lo >= hi). */
static void topk_range(const topk_job *jb, int64_t i, int64_t *lo, int64_t *hi)
{
    *lo = 0;
    *hi = jb->L;
    if (jb->ks) {
        *lo = clamp64(jb->ks[i * jb->ks_stride], 0, jb->L);
        *hi = clamp64(jb->ke[i * jb->ke_stride], 0, jb->L);
    } else if (jb->lengths) {
        *hi = clamp64(jb->lengths[i * jb->len_stride], 0, jb->L);
    }
    if (*hi < *lo) *hi = *lo;
}

/* Where the selection cuts: a column belongs to the set iff (key & mask) > value, or
 * (key & mask) == value and it is among the first `ties` such columns. */
typedef struct topk_cut {
    uint32_t mask, value;
    int64_t ties;
} topk_cut;

/* Radix select of the `want` highest keys of row[0, n) (1 <= want < n). Each pass narrows to the
 * bucket holding the want-th key among the keys matching the digits fixed so far; it stops early
 * when that whole bucket is taken, since the remaining digits then decide nothing. */
static topk_cut topk_select(const float *row, int64_t n, int64_t want, uint32_t *hist)
{
    topk_cut c = {0u, 0u, want};
    for (int p = 0; p < 3; p++) {
        int sh = topk_shift[p];
        uint32_t dm = (1u << topk_width[p]) - 1u;
        memset(hist, 0, (size_t)(dm + 1u) * sizeof *hist);
        for (int64_t j = 0; j < n; j++) {
            uint32_t key = topk_key(row[j]);
            if ((key & c.mask) == c.value) hist[(key >> sh) & dm]++;
        }
        /* The matching keys number at least c.ties, so this stops at a bucket >= 0. */
        uint32_t b = dm;
        while ((int64_t)hist[b] < c.ties) c.ties -= hist[b--];
        c.mask |= dm << sh;
        c.value |= b << sh;
        if ((int64_t)hist[b] == c.ties) break;
    }
    return c;
}

/* Writes the selected columns (relative to the row start) to out[0, count), ascending. */
static void topk_collect(const float *row, int64_t n, topk_cut c, int64_t count, int32_t *out)
{
    int64_t t = 0, ties = c.ties;
    for (int64_t j = 0; j < n && t < count; j++) {
        uint32_t m = topk_key(row[j]) & c.mask;
        if (m > c.value) {
            out[t++] = (int32_t)j;
        } else if (m == c.value && ties > 0) {
            out[t++] = (int32_t)j;
            ties--;
        }
    }
}

/* One stable counting pass by digit `sh/dm` of the inverted key (so larger keys come first). */
static int topk_sort_pass(const uint64_t *src, uint64_t *dst, int64_t n, int sh, uint32_t dm,
                          uint32_t *hist)
{
    memset(hist, 0, (size_t)(dm + 1u) * sizeof *hist);
    for (int64_t t = 0; t < n; t++) hist[(~(uint32_t)(src[t] >> 32) >> sh) & dm]++;
    for (uint32_t b = 0; b <= dm; b++)
        if ((int64_t)hist[b] == n) return 0; /* every entry shares this digit: nothing to move */
    uint32_t sum = 0;
    for (uint32_t b = 0; b <= dm; b++) {
        uint32_t h = hist[b];
        hist[b] = sum;
        sum += h;
    }
    for (int64_t t = 0; t < n; t++) dst[hist[(~(uint32_t)(src[t] >> 32) >> sh) & dm]++] = src[t];
    return 1;
}

/* Reorders out[0, n) (relative columns, ascending) by descending key, ties keeping ascending
 * column order. Entries are (key << 32 | column); LSD passes from the least significant digit. */
static void topk_sort(const float *row, int32_t *out, int64_t n, uint64_t *a, uint64_t *b,
                      uint32_t *hist)
{
    for (int64_t t = 0; t < n; t++) a[t] = (uint64_t)topk_key(row[out[t]]) << 32 | (uint32_t)out[t];
    for (int p = 2; p >= 0; p--) {
        if (topk_sort_pass(a, b, n, topk_shift[p], (1u << topk_width[p]) - 1u, hist)) {
            uint64_t *s = a;
            a = b;
            b = s;
        }
    }
    for (int64_t t = 0; t < n; t++) out[t] = (int32_t)(uint32_t)a[t];
}

/* The written value of column j of row i in the slot form; -1 when the table does not map it. */
static int32_t topk_slot(const topk_job *jb, int64_t i, int64_t j)
{
    int64_t P = jb->page, pg = j / P;
    if (pg >= jb->max_pages) return -1;
    int64_t b = i / jb->rows_per_batch;
    int64_t e = jb->table[b * jb->table_stride0 + pg * jb->table_stride1];
    if (e < 0) return -1;
    int64_t s = e * P + j % P; /* < 2^31 * 2^16: fits in 64 bits */
    return s > INT32_MAX ? -1 : (int32_t)s;
}

/* Turns relative columns into the requested form, in place. */
static void topk_form(const topk_job *jb, int64_t i, int64_t lo, int32_t *out, int64_t n)
{
    if (jb->form == DSA_TOPK_RELATIVE) return;
    for (int64_t t = 0; t < n; t++) {
        int64_t j = lo + out[t];
        out[t] = jb->form == DSA_TOPK_SLOT ? topk_slot(jb, i, j) : (int32_t)j;
    }
}

static void topk_row(const topk_job *jb, int64_t i, char *scratch)
{
    int64_t lo, hi;
    topk_range(jb, i, &lo, &hi);
    int64_t n = hi - lo, kk = n < jb->k ? n : jb->k;
    const float *row = jb->scores + i * jb->scores_stride + lo;
    int32_t *out = jb->out + i * jb->out_stride;
    uint32_t *hist = (uint32_t *)(void *)scratch;
    if (kk == n) {
        for (int64_t t = 0; t < n; t++) out[t] = (int32_t)t;
    } else if (kk > 0) {
        topk_collect(row, n, topk_select(row, n, kk, hist), kk, out);
    }
    if (jb->sorted && kk > 1) {
        uint64_t *a = (uint64_t *)(void *)(scratch + TOPK_HIST * sizeof(uint32_t));
        topk_sort(row, out, kk, a, a + (jb->L < jb->k ? jb->L : jb->k), hist);
    }
    topk_form(jb, i, lo, out, kk);
    for (int64_t t = kk; t < jb->k; t++) out[t] = -1;
}

static void topk_task(void *arg, int64_t begin, int64_t end, int thread)
{
    const topk_job *jb = (const topk_job *)arg;
    char *scratch = jb->ws + (uint64_t)thread * jb->ws_per_thread;
    for (int64_t i = begin; i < end; i++) topk_row(jb, i, scratch);
}

/* Per thread: the histogram, then (sorted only) two arrays of min(k, L) key/column pairs. */
static uint64_t topk_ws_per_thread(const dsa_topk_args *a)
{
    int64_t L = a->scores.shape[1], kmax = a->k < L ? a->k : L;
    uint64_t bytes = TOPK_HIST * sizeof(uint32_t);
    if (a->sorted && kmax > 0) bytes += 2u * (uint64_t)kmax * sizeof(uint64_t);
    return (bytes + 63u) & ~(uint64_t)63u;
}

uint64_t cpu_topk_workspace(int threads, const dsa_topk_args *a)
{
    return (uint64_t)(threads > 0 ? threads : 1) * topk_ws_per_thread(a);
}

static const int32_t *opt_i32(const dsa_tensor *t, int64_t *stride)
{
    if (!dsa_tensor_present(t)) return NULL;
    *stride = t->strides[0];
    return (const int32_t *)(const void *)cpu_ptr(t);
}

dsa_status cpu_topk(cpu_pool *pool, const dsa_topk_args *a, void *ws)
{
    topk_job jb;
    memset(&jb, 0, sizeof jb);
    int64_t S = a->scores.shape[0];
    jb.scores = (const float *)(const void *)cpu_ptr(&a->scores);
    jb.scores_stride = a->scores.strides[0];
    jb.out = (int32_t *)(void *)cpu_ptr(&a->indices);
    jb.out_stride = a->indices.strides[0];
    jb.L = a->scores.shape[1];
    jb.k = a->k;
    jb.sorted = a->sorted != 0;
    jb.form = a->form;
    jb.ks = opt_i32(&a->ks, &jb.ks_stride);
    jb.ke = opt_i32(&a->ke, &jb.ke_stride);
    if (!jb.ks || !jb.ke) jb.ks = jb.ke = NULL; /* a range needs both ends */
    jb.lengths = opt_i32(&a->lengths, &jb.len_stride);
    if (a->form == DSA_TOPK_SLOT) {
        jb.table = (const int32_t *)(const void *)cpu_ptr(&a->block_table);
        jb.table_stride0 = a->block_table.strides[0];
        jb.table_stride1 = a->block_table.strides[1];
        jb.max_pages = a->block_table.shape[1];
        jb.rows_per_batch = a->block_table.shape[0] > 0 ? S / a->block_table.shape[0] : 1;
        if (jb.rows_per_batch < 1) jb.rows_per_batch = 1;
        jb.page = a->page_size;
    }
    jb.ws = (char *)ws;
    jb.ws_per_thread = topk_ws_per_thread(a);
    if (S > 0) cpu_parallel_for(pool, S, 1, topk_task, &jb);
    return DSA_SUCCESS;
}
